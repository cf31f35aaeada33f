#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Key relay around the distributed ring of six nodes
# (topologies/ring6.topo), between opposite nodes: sae-a at kme-1 asks for
# keys for sae-d at kme-4.  There are two ways round, through kme-2 and
# kme-3 or through kme-6 and kme-5; with key on every link the controllers
# take the first (equal cost, the smaller node ID).
#
#  1. the relay goes the way "qkdnctl route" shows: kme-2 and kme-3 pass
#     it on, kme-6 and kme-5 see nothing;
#  2. link 2 (kme-2 - kme-3) cut: its QKD modules stopped and its Kx
#     channel down; the route and the relay go the other way round; the
#     link mended, the route comes back;
#  3. link 3 depleted at kme-3 (its QKD modules paused, the key kme-3 owns
#     on it drained by sae-c): again the other way round;
#  4. load: two processes per node relay at once to the opposite node
#     (kme-1 -> kme-4, kme-4 -> kme-1, kme-2 -> kme-5, ...), each key
#     fetched by ID at its destination as soon as its ID is known; no key
#     ID or key bytes twice, the same bytes at both ends, each key
#     supplied once, and the counters add up: every relay done, three
#     hops of pad each, both ends of every link in step.
#
# timeout: 420

# shellcheck source=selftests/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/nodes.sh
source "$(dirname "$0")/helpers/nodes.sh"
# shellcheck source=selftests/helpers/relay.sh
source "$(dirname "$0")/helpers/relay.sh"

require python3 setpriv ss

NUM=2			# keys per request
WORKERS=2		# per pair of nodes, in the load case
REQS=15			# requests per worker
SIZES=256,128,512	# bits, cycled through

# shellcheck disable=SC2034 # filled and read through namerefs
declare -A S0 S1 P D

# relay NAME: one request of sae-a for sae-d at kme-1 (keys in NAME), the
# keys fetched by ID at kme-4 (NAME.sup); both ends compared.
relay() {
	ctl_keys 1 1001 key get master sae-a slave sae-d number $NUM \
		>"$TEST_DIR/$1" 2>"$TEST_DIR/$1.err"
	ctl_fetch 4 1004 sae-a sae-d "$TEST_DIR/$1" \
		>"$TEST_DIR/$1.sup" 2>"$TEST_DIR/$1.sup.err"
	if [ "$(wc -l <"$TEST_DIR/$1")" -ne $NUM ]; then
		fail "$1_relayed" "$(cat "$TEST_DIR/$1.err")"
		return 1
	fi
	keys_pair "$1_same_bytes_both_ends" "$TEST_DIR/$1" "$TEST_DIR/$1.sup"
}

# went_via NAME A B: the relay of the last S0..S1 went through nodes A
# and B (passed on once by each), not through the two other intermediate
# nodes, and ended at kme-4.
went_via() {
	local name=$1 i f bad=''

	for i in 2 3 5 6; do
		f=${D[$i node.relays_forwarded]:-0}
		if [ "$i" = "$2" ] || [ "$i" = "$3" ]; then
			[ "$f" -eq 1 ] || bad+=" kme-$i passed on $f relays, want 1;"
		else
			[ "$f" -eq 0 ] || bad+=" kme-$i passed on $f relays, want 0;"
		fi
	done
	[ "${D[4 node.relays_ended]:-0}" -eq 1 ] ||
		bad+=" kme-4 ended ${D[4 node.relays_ended]:-0} relays;"
	[ "${D[1 node.relays_done]:-0}" -eq 1 ] ||
		bad+=" kme-1 completed ${D[1 node.relays_done]:-0} relays;"
	if [ -z "$bad" ]; then
		ok "$name"
	else
		fail "$name" "$bad"
	fi
}

# route_is NAME VIA: kme-1's route to kme-4 goes through VIA first.
route_is() {
	if wait_for 30 route_via 1 kme-4 "$2"; then
		ok "$1"
		echo "# kme-1's route to kme-4: $(route_of 1 kme-4)"
	else
		fail "$1" "kme-1's route to kme-4: $(route_of 1 kme-4)"
	fi
}

chmod 711 "$TEST_DIR"	# the SAEs' helpers look for files in it
topo_up "$TOPO/ring6.topo" --stopped || { fail ring_topology_up; exit 1; }
links_start 128k 256k || { fail ring_topology_up "cannot start the links"; exit 1; }
# Settled: every link with twice the controllers' low_key (4096 bytes) at
# each end, so that no link costs more than one.
if wait_for 60 links_ready 8192 &&
	wait_for 30 route_via 1 kme-4 kme-2 && wait_for 30 metric_is 1 kme-4 -eq 3; then
	ok ring_topology_up
else
	fail ring_topology_up "kme-1 has no route to kme-4"
	qkdnctl -n qkdn1 route
	exit 1
fi

lap "the ring up"

# ---- 1. the way the route shows --------------------------------------

# The route has stayed: the same path on a second look, once every
# controller has flooded the pools it just saw.
sleep 2
case $(route_of 1 kme-4) in
"kme-1 -> kme-2 -> kme-3 -> kme-4 metric 3 "*)
	ok ring_route_through_kme2_kme3 ;;
*)
	fail ring_route_through_kme2_kme3 "$(route_of 1 kme-4)"
	qkdnctl -n qkdn1 route
	printf 'pool show\n' | "$QKDNCTL" -n qkdn2 -b - | sed 's/^/# kme-2 /'
	printf 'pool show\n' | "$QKDNCTL" -n qkdn3 -b - | sed 's/^/# kme-3 /'
	;;
esac
snap S0
relay ring_direct
snap S1
deltas S0 S1 D
went_via ring_direct_relay_through_kme2_kme3 2 3

lap "case 1, the route's way"

# ---- 2. link 2 cut ---------------------------------------------------

qkdnctl -n qkdn2 link set id 2 running off &&
	qkdnctl -n qkdn3 link set id 2 running off
link_cut 2
if wait_for 10 kx_down_both 2; then
	ok ring_cut_link_down
else
	fail ring_cut_link_down "link 2 still up"
fi
route_is ring_cut_route_goes_round kme-6
snap S0
relay ring_cut
snap S1
deltas S0 S1 D
went_via ring_cut_relay_through_kme6_kme5 6 5
link_mend 2
qkdnctl -n qkdn2 link set id 2 running on &&
	qkdnctl -n qkdn3 link set id 2 running on
if wait_for 30 kx_up_both 2; then
	ok ring_mended_link_up
else
	fail ring_mended_link_up
fi
route_is ring_mended_route_back kme-2

lap "case 2, link cut"

# ---- 3. link 3 depleted at kme-3 -------------------------------------

qkdsim_set 3 paused 1
wait_for 10 pool_settled 3
snap P 3
# sae-c takes it all, and sae-d fetches it at kme-4 (keys waiting there
# would fill kme-4's pool, which would then stop taking in key).
genl 3 1003 drain sae-c sae-d "${P[3 pool.3.own_bytes]}" 2>"$TEST_DIR/drain.err" |
	genl 4 1004 get-by-id sae-c sae-d >/dev/null 2>>"$TEST_DIR/drain.err"
if wait_for 10 pool_settled 3 && snap P 3 && [ "${P[3 pool.3.own_bytes]}" = 0 ]; then
	ok ring_depleted_link_drained
else
	fail ring_depleted_link_drained "kme-3 still owns ${P[3 pool.3.own_bytes]} bytes of link 3"
	_lib_diag "$(cat "$TEST_DIR/drain.err")"
fi
route_is ring_depleted_route_goes_round kme-6
snap S0
relay ring_depleted
snap S1
deltas S0 S1 D
went_via ring_depleted_relay_through_kme6_kme5 6 5
qkdsim_set 3 paused 0
route_is ring_refilled_route_back kme-2

lap "case 3, link depleted"

# ---- 4. many relays at once ------------------------------------------

# pair P: "SRC UID MASTER DST UID SLAVE": node P and its opposite node,
# P = 1..6, so that every node is the source of one pair and the
# destination of another, and relays cross every node both ways.
pair() {
	local s=$1 d=$((($1 + 2) % 6 + 1))

	echo "$s $(topo_sae "$s" | awk '{ print $2, $1 }') $d $(topo_sae "$d" | awk '{ print $2, $1 }')"
}
PAIRS="1 2 3 4 5 6"

snap S0
pids=()
for p in $PAIRS; do
	read -r src su ms dst du sl <<<"$(pair "$p")"
	for ((w = 1; w <= WORKERS; w++)); do
		genl "$src" "$su" get "$ms" "$sl" $REQS --number $NUM --sizes $SIZES \
			--go "$TEST_DIR/go" 2>"$TEST_DIR/m$p.$w.err" </dev/null |
			tee "$TEST_DIR/m$p.$w" |
			genl "$dst" "$du" get-by-id "$ms" "$sl" --batch 8 \
				>"$TEST_DIR/s$p.$w" 2>"$TEST_DIR/s$p.$w.err" &
		pids+=($!)
	done
done
sleep 3		# every helper up and waiting
t0=$(_lib_now_ms)
: >"$TEST_DIR/go"
wait "${pids[@]}"
t1=$(_lib_now_ms)
reqs=$((WORKERS * REQS))	# per pair
keys=$((reqs * NUM))
echo "# $((6 * reqs)) relays of $NUM keys by $((6 * WORKERS)) processes, fetched at the other end: $((t1 - t0)) ms"

bad=''
for p in $PAIRS; do
	cat "$TEST_DIR/m$p".[0-9]* >"$TEST_DIR/m$p.all"
	cat "$TEST_DIR/s$p".[0-9]* >"$TEST_DIR/s$p.all"
	n=$(wc -l <"$TEST_DIR/m$p.all")
	[ "$n" -eq $keys ] || bad+=" pair $p: $n keys, want $keys;"
done
errs=$(cat "$TEST_DIR"/m[0-9].*.err "$TEST_DIR"/s[0-9].*.err)
if [ -z "$bad" ] && [ -z "$errs" ]; then
	ok ring_load_all_answered
else
	fail ring_load_all_answered "$bad"
	_lib_diag "$(head -n 10 <<<"$errs")"
fi
keys_unique ring_load_no_key_twice "$TEST_DIR"/m[1-6].all
for p in $PAIRS; do
	read -r src _ ms dst _ sl <<<"$(pair "$p")"
	keys_pair "ring_load_${ms}_${sl}_same_bytes_both_ends" \
		"$TEST_DIR/m$p.all" "$TEST_DIR/s$p.all"
done

# Each key supplied once: asked again at its destination, refused.
again=''
for p in $PAIRS; do
	read -r src _ ms dst du sl <<<"$(pair "$p")"
	shuf -n 1 "$TEST_DIR/m$p.all" >"$TEST_DIR/again$p"
	out=$(refused_each "$dst" "$du" "$ms" "$sl" "$TEST_DIR/again$p") && continue
	again+=" $ms -> $sl: $out;"
done
if [ -z "$again" ]; then
	ok ring_load_second_fetch_refused
else
	fail ring_load_second_fetch_refused "$again"
fi

# The counters.  Each node started one pair's relays, all done, and ended
# another's; it stored that pair's keys and handed out both pairs' (as
# master's KM and as slave's KM).  Every relay crosses three links
# whichever way it goes, and two nodes pass it on.
wait_for 30 in_step_now
snap S1
deltas S0 S1 D
bad=''
fwd=0
for i in 1 2 3 4 5 6; do
	got="${D[$i node.relays_started]:-0} ${D[$i node.relays_done]:-0} ${D[$i node.relays_failed]:-0} ${D[$i node.relays_ended]:-0} ${D[$i relayed.received]:-0} ${D[$i relayed.supplied]:-0}"
	want="$reqs $reqs 0 $reqs $keys $((2 * keys))"
	[ "$got" = "$want" ] ||
		bad+=" kme-$i: relays started done failed ended, relayed keys stored supplied: $got, want $want;"
	fwd=$((fwd + ${D[$i node.relays_forwarded]:-0}))
done
[ "$fwd" -eq $((2 * 6 * reqs)) ] ||
	bad+=" $fwd relays passed on, want $((2 * 6 * reqs));"
kbytes=$(cat "$TEST_DIR"/m[1-6].all | awk '{ s += $3 / 8 } END { print s }')
tx=0
pad=0
mac=0
for k in "${!TOPO_LINK_A[@]}"; do
	a=${TOPO_LINK_A[k]}
	b=${TOPO_LINK_B[k]}
	tx=$((tx + ${D[$a link.$k.relay_tx]:-0} + ${D[$b link.$k.relay_tx]:-0}))
	pad=$((pad + ${D[$a link.$k.relay_pad_bytes]:-0}))
	mac=$((mac + ${D[$a link.$k.relay_mac_bytes]:-0}))
done
[ "$tx" -eq $((3 * 6 * reqs)) ] ||
	bad+=" $tx relay frames, want $((3 * 6 * reqs));"
[ "$pad" -eq $((3 * kbytes)) ] ||
	bad+=" $pad pad bytes for $kbytes key bytes, want three times that;"
[ "$mac" -ge $((16 * tx)) ] && [ "$mac" -le $((32 * tx)) ] ||
	bad+=" $mac MAC bytes for $tx frames;"
bad+=$(ends_in_step S1 | sed 's/^/ /; s/$/;/')
if [ -z "$bad" ]; then
	ok ring_load_counters_add_up
else
	fail ring_load_counters_add_up "$bad"
fi
for i in 2 3 4 5 6 1; do
	echo "# kme-$i passed on ${D[$i node.relays_forwarded]:-0} relays"
done
lap "case 4, load"
