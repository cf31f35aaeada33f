#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# timeout: 480
#
# Key relay under faults, on the distributed chain of four nodes
# (topologies/chain4.topo): sae-a at kme-1 asks for keys for sae-d at
# kme-4, relayed through kme-2 and kme-3, while
#
#  1. the last hop's Kx channel is cut with relays in flight: those
#     relays time out at the source, whose abort erases the keys at the
#     destination once the channel is back;
#  2. the link daemon of kme-3 is killed and started again: relays fail
#     with a clear error meanwhile, then go on;
#  3. the QKDN controllers fail: the source's killed ("no QKDN
#     controller"), an intermediate one stopped ("did not answer"); then
#     they work again;
#  4. the pool of the middle link is exhausted at kme-2: with a stale
#     route the relay fails there ("not enough key on the link to the
#     next hop"), with a fresh one at the source ("no route"); nothing
#     reaches kme-4 either way;
#  5. a link daemon forges relay frames (helpers/kx_tamper.py carries
#     every link and flips one bit): the receiving KM refuses the frame
#     (EBADMSG, relay mac_fail), takes nothing from its pool, and the
#     sender's retransmission goes through, with the keys under their
#     own IDs; a forger that keeps at it makes the source time out, the
#     abort that follows erases what reached kme-4, and nothing is
#     supplied at either end.
#
# Each case ends with both ends consistent: every key the source
# application got is supplied at kme-4 by ID, once, with the same bytes;
# kme-1 counts every relay it started as done or failed; kme-4 holds no
# relayed key beyond those (relayed keys stored = supplied + erased by an
# abort); and every link's two ends spent the same pad and MAC bytes on
# the same relay frames.

# shellcheck source=selftests/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/nodes.sh
source "$(dirname "$0")/helpers/nodes.sh"
# shellcheck source=selftests/helpers/relay.sh
source "$(dirname "$0")/helpers/relay.sh"

require python3 setpriv ss

NUM=2			# keys per request
BITS=256
N=$((NUM * BITS / 8))	# pad bytes per relay frame
TAMPER=$TOP/selftests/helpers/kx_tamper.py
CTRL_STATIC=$TOP/selftests/helpers/ctrl_static.py
# What a request may fail with while a link, a daemon or a controller is
# away: the source gave up, a KM found the next link down, a controller
# found no route.
DOWN_RE='key relay failed at kme-[1-4]: (the key relay did not complete in time|the KM link to the next hop is down|no route to kme-4 with [0-9]+ bytes of key on every hop)'

# shellcheck disable=SC2034 # filled and read through namerefs
declare -A S0 S1 S0b S1b P D Db Dx

# get OUT: one request of sae-a for sae-d at kme-1; keys in OUT, the
# error (if any) in OUT.err.
get() {
	ctl_keys 1 1001 key get master sae-a slave sae-d number $NUM size $BITS \
		>"$1" 2>"$1.err"
}

# fetch IN OUT: the keys of IN by ID at kme-4 (sae-d), into OUT, errors
# in OUT.err.
fetch() {
	ctl_fetch 4 1004 sae-a sae-d "$1" >"$2" 2>"$2.err"
}

# workers NAME COUNT: COUNT processes asking for keys at kme-1 until
# $TEST_DIR/NAME.go is removed; keys in NAME.w<i>, errors in NAME.w<i>.err.
WPIDS=()
workers() {
	local i

	: >"$TEST_DIR/$1.go"
	WPIDS=()
	for ((i = 1; i <= $2; i++)); do
		genl 1 1001 get sae-a sae-d 0 --number $NUM --sizes $BITS \
			--go "$TEST_DIR/$1.go" --sleep 0.2 \
			>"$TEST_DIR/$1.w$i" 2>"$TEST_DIR/$1.w$i.err" </dev/null &
		WPIDS+=($!)
	done
}

workers_stop() {
	rm -f "$TEST_DIR/$1.go"
	wait "${WPIDS[@]}"
	cat "$TEST_DIR/$1".w[0-9] >"$TEST_DIR/$1.keys"
	cat "$TEST_DIR/$1".w[0-9].err >"$TEST_DIR/$1.err"
}

keys_in() {
	cat "$TEST_DIR/$1".w[0-9] 2>/dev/null | wc -l
}

# keys_at_least NAME N: the workers NAME got N keys or more.
keys_at_least() {
	[ "$(keys_in "$1")" -ge "$2" ]
}

# second_fetch_refused NAME FILE: three keys of FILE, asked for again at
# kme-4, one at a time: each refused as unknown or already supplied.
second_fetch_refused() {
	local out

	shuf -n 3 "$2" >"$TEST_DIR/again"
	if out=$(refused_each 4 1004 sae-a sae-d "$TEST_DIR/again"); then
		ok "$1"
	else
		fail "$1" "$out"
	fi
}

# consistent NAME KEYS SUPPLIED: both ends consistent between the
# snapshots S0 and S1 (S1 taken after every key of KEYS was fetched into
# SUPPLIED, and the links settled).
consistent() {
	local name=$1 keys=$2 nk problems='' st dn fl rr rs ab k a b tx pad mac

	keys_pair "${name}_same_bytes_both_ends" "$keys" "$3"
	nk=$(wc -l <"$keys")
	st=${D[1 node.relays_started]:-0}
	dn=${D[1 node.relays_done]:-0}
	fl=${D[1 node.relays_failed]:-0}
	[ "$st" -eq $((dn + fl)) ] ||
		problems+=" kme-1 started $st relays, $dn done, $fl failed;"
	[ $((dn * NUM)) -eq "$nk" ] ||
		problems+=" kme-1 completed $dn relays, its application got $nk keys;"
	rr=${D[4 relayed.received]:-0}
	rs=${D[4 relayed.supplied]:-0}
	ab=${D[4 node.relays_aborted]:-0}
	[ "$rs" -eq "$nk" ] ||
		problems+=" kme-4 supplied $rs relayed keys, want $nk;"
	[ "$rr" -eq $((rs + NUM * ab)) ] ||
		problems+=" kme-4 stored $rr relayed keys: $rs supplied, $ab relays aborted, so $((rr - rs - NUM * ab)) keys wait that nobody has an ID for;"
	problems+=$(ends_in_step S1 | sed 's/^/ /; s/$/;/')
	for k in "${!TOPO_LINK_A[@]}"; do
		a=${TOPO_LINK_A[k]}
		b=${TOPO_LINK_B[k]}
		tx=$((${D[$a link.$k.relay_tx]:-0} + ${D[$b link.$k.relay_tx]:-0}))
		pad=${D[$a link.$k.relay_pad_bytes]:-0}
		mac=${D[$a link.$k.relay_mac_bytes]:-0}
		[ "$pad" -eq $((N * tx)) ] && [ "$mac" -ge $((16 * tx)) ] &&
			[ "$mac" -le $((32 * tx)) ] && continue
		problems+=" link $k: $tx relay frames took $pad pad and $mac MAC bytes;"
	done
	if [ -z "$problems" ]; then
		ok "${name}_both_ends_consistent"
	else
		fail "${name}_both_ends_consistent" "$problems"
	fi
	echo "# kme-1: $st relays started, $dn done, $fl failed; kme-4: $rr relayed keys stored, $rs supplied, $ab relays aborted"
}

# settle_snap: wait until every link's ends are in step (no relay frame
# in flight), then S1.
settle_snap() {
	wait_for 30 in_step_now || echo "# links not in step: $(in_step_now | tr '\n' ' ')"
	snap S1
	deltas S0 S1 D
}

chmod 711 "$TEST_DIR"	# the SAEs' helpers look for files in it
topo_up "$TOPO/chain4.topo" --stopped || { fail faults_topology_up; exit 1; }
links_start 128k 256k || { fail faults_topology_up "cannot start the links"; exit 1; }
if wait_for 30 route_via 1 kme-4 kme-2 && wait_for 30 metric_is 1 kme-4 -eq 3; then
	ok faults_topology_up
	echo "# route at kme-1: $(route_of 1 kme-4)"
else
	fail faults_topology_up "kme-1 has no route to kme-4"
	qkdnctl -n qkdn1 route
	exit 1
fi

lap "the chain up"

# ---- 0. a relay, through qkdnctl ----------------------------------------

snap S0
get "$TEST_DIR/base.keys"
if [ "$(wc -l <"$TEST_DIR/base.keys")" -eq $NUM ]; then
	ok faults_relay_works
else
	fail faults_relay_works "$(cat "$TEST_DIR/base.keys.err")"
	exit 1
fi
fetch "$TEST_DIR/base.keys" "$TEST_DIR/base.sup"
settle_snap
consistent faults_relay "$TEST_DIR/base.keys" "$TEST_DIR/base.sup"

lap "a relay"

# ---- 1. the last hop cut while relays are in flight ------------------

snap S0
workers cut 3
wait_for 30 keys_at_least cut 6
# Link 3's channel goes silent: the daemons do not notice for 15 s, so
# the relays of the next 10 s are sent into it and time out at kme-1.
link_blackhole 3
sleep 11
link_cut 3
if wait_for 10 kx_down_both 3; then
	ok faults_cut_channel_down
else
	fail faults_cut_channel_down "link 3 still up"
fi
link_mend 3
if wait_for 30 kx_up_both 3; then
	ok faults_cut_channel_back
else
	fail faults_cut_channel_back "link 3 did not come back"
fi
n=$(keys_in cut)
wait_for 20 keys_at_least cut $((n + 1))
workers_stop cut
tmo=$(grep -c 'did not complete in time' "$TEST_DIR/cut.err")
echo "# $(wc -l <"$TEST_DIR/cut.keys") keys relayed, $(wc -l <"$TEST_DIR/cut.err") requests failed ($tmo timed out)"
if out=$(relay_errors "$TEST_DIR/cut.err" "$DOWN_RE") && [ "$tmo" -ge 1 ]; then
	ok faults_cut_in_flight_time_out
else
	fail faults_cut_in_flight_time_out "$tmo timeouts; other errors:"
	_lib_diag "$(head -n 5 <<<"$out")"
fi
fetch "$TEST_DIR/cut.keys" "$TEST_DIR/cut.sup"
# The relays that timed out reached kme-4 when the channel came back,
# and their aborts behind them erased the keys.
aborted_all() {
	local -A N1 DN

	snap N1 2 3 4
	deltas S0 N1 DN
	[ "${DN[4 node.relays_aborted]:-0}" -ge "$tmo" ] &&
		[ "${DN[3 node.relays_aborted]:-0}" -ge "$tmo" ]
}
settle_snap
if wait_for 20 aborted_all && snap S1 && deltas S0 S1 D &&
   [ "${D[4 node.relays_aborted]:-0}" -eq "$tmo" ]; then
	ok faults_cut_abort_reaches_destination
else
	fail faults_cut_abort_reaches_destination \
		"$tmo relays timed out, kme-3 counts ${D[3 node.relays_aborted]:-0} aborts, kme-4 ${D[4 node.relays_aborted]:-0}"
fi
consistent faults_cut "$TEST_DIR/cut.keys" "$TEST_DIR/cut.sup"
second_fetch_refused faults_cut_second_fetch_refused "$TEST_DIR/cut.keys"

lap "case 1, link cut"

# ---- 2. the link daemon of an intermediate node killed ----------------

snap S0
workers linkd 2
wait_for 30 keys_at_least linkd 4
daemon_kill 3 linkd
if wait_for 10 eval '! kx_up 2 2 && ! kx_up 4 3'; then
	ok faults_linkd_killed_links_down
else
	fail faults_linkd_killed_links_down "links 2 and 3 still up at kme-2 or kme-4"
fi
sleep 2
n=$(keys_in linkd)
daemon_restart 3 linkd
if wait_for 30 eval 'kx_up_both 2 && kx_up_both 3'; then
	ok faults_linkd_restarted_links_up
else
	fail faults_linkd_restarted_links_up
fi
if wait_for 30 keys_at_least linkd $((n + 2 * NUM)); then
	ok faults_linkd_restarted_relays_resume
else
	fail faults_linkd_restarted_relays_resume "no relay completed after the restart"
fi
workers_stop linkd
echo "# $(wc -l <"$TEST_DIR/linkd.keys") keys relayed, $(wc -l <"$TEST_DIR/linkd.err") requests failed"
if out=$(relay_errors "$TEST_DIR/linkd.err" "$DOWN_RE"); then
	ok faults_linkd_clear_errors
else
	fail faults_linkd_clear_errors
	_lib_diag "$(head -n 5 <<<"$out")"
fi
fetch "$TEST_DIR/linkd.keys" "$TEST_DIR/linkd.sup"
settle_snap
consistent faults_linkd "$TEST_DIR/linkd.keys" "$TEST_DIR/linkd.sup"

lap "case 2, link daemon"

# ---- 3. the controllers ----------------------------------------------

snap S0
: >"$TEST_DIR/ctrl.keys"
daemon_kill 1 controllerd
sleep 0.5
get "$TEST_DIR/c1"
snap S1b 1 2
deltas S0 S1b Dx
if grep -q '^Error: .*no QKDN controller' "$TEST_DIR/c1.err"; then
	ok faults_ctrl_killed_clear_error
else
	fail faults_ctrl_killed_clear_error "$(cat "$TEST_DIR/c1.err")"
fi
if [ "${Dx[1 link.1.relay_tx]:-0}" -eq 0 ] &&
   [ "${Dx[1 link.1.relay_pad_bytes]:-0}" -eq 0 ] &&
   [ "${Dx[2 link.1.relay_rx]:-0}" -eq 0 ]; then
	ok faults_ctrl_killed_nothing_taken
else
	fail faults_ctrl_killed_nothing_taken \
		"link 1: ${Dx[1 link.1.relay_tx]:-0} relay frames, ${Dx[1 link.1.relay_pad_bytes]:-0} pad bytes"
fi
daemon_restart 1 controllerd
# The routes of the killed controller stay in the kernel: wait for the
# new one's.
if wait_for 30 grep -q 'route to kme-4 via kme-2' "$RESTARTED_LOG" &&
   route_via 1 kme-4 kme-2; then
	ok faults_ctrl_restarted_route_back
else
	fail faults_ctrl_restarted_route_back "$(qkdnctl -n qkdn1 route)"
fi
get "$TEST_DIR/c2"
cat "$TEST_DIR/c2" >>"$TEST_DIR/ctrl.keys"
if [ "$(wc -l <"$TEST_DIR/c2")" -eq $NUM ]; then
	ok faults_ctrl_restarted_relays_work
else
	fail faults_ctrl_restarted_relays_work "$(cat "$TEST_DIR/c2.err")"
fi

# An intermediate controller that does not answer.
snap S0b
daemon_kill 2 controllerd STOP
get "$TEST_DIR/c3"
daemon_kill 2 controllerd CONT
snap S1b
deltas S0b S1b Db
if grep -q '^Error: key relay failed at kme-2: the QKDN controller did not answer' \
	"$TEST_DIR/c3.err"; then
	ok faults_ctrl_stopped_clear_error
else
	fail faults_ctrl_stopped_clear_error "$(cat "$TEST_DIR/c3.err")"
fi
# The first hop was spent, at both its ends; nothing went further.
if [ "${Db[1 link.1.relay_pad_bytes]:-0}" -eq $N ] &&
   [ "${Db[2 link.1.relay_pad_bytes]:-0}" -eq $N ] &&
   [ "${Db[2 link.2.relay_tx]:-0}" -eq 0 ] &&
   [ "${Db[4 node.relays_ended]:-0}" -eq 0 ]; then
	ok faults_ctrl_stopped_first_hop_spent_only
else
	fail faults_ctrl_stopped_first_hop_spent_only \
		"link 1 pad +${Db[1 link.1.relay_pad_bytes]:-0}/+${Db[2 link.1.relay_pad_bytes]:-0}, link 2 frames +${Db[2 link.2.relay_tx]:-0}, kme-4 relays ended +${Db[4 node.relays_ended]:-0}"
fi
get "$TEST_DIR/c4"
cat "$TEST_DIR/c4" >>"$TEST_DIR/ctrl.keys"
if [ "$(wc -l <"$TEST_DIR/c4")" -eq $NUM ]; then
	ok faults_ctrl_continued_relays_work
else
	fail faults_ctrl_continued_relays_work "$(cat "$TEST_DIR/c4.err")"
fi
fetch "$TEST_DIR/ctrl.keys" "$TEST_DIR/ctrl.sup"
settle_snap
consistent faults_ctrl "$TEST_DIR/ctrl.keys" "$TEST_DIR/ctrl.sup"

lap "case 3, controllers"

# ---- 4. the middle link's pool exhausted at kme-2 ---------------------

snap S0
: >"$TEST_DIR/pool.keys"
# kme-2's controller goes and a fixed one answers in its place: kme-1's
# controller keeps the link state kme-2 last advertised (key on link 2)
# while kme-2's pool on link 2 is emptied.  Its relays go that way and
# fail at kme-2, in the kernel.
daemon_kill 2 controllerd
nsenter --net=/run/netns/qkdn2 python3 "$CTRL_STATIC" --log "$TEST_DIR/static.req" \
	kme-4=kme-3 >"$TEST_DIR/static.log" 2>&1 </dev/null &
spid=$!
defer _lib_stop "$spid"
wait_for 10 grep -q ready "$TEST_DIR/static.log" || echo "# ctrl_static.py did not start"
qkdsim_set 2 paused 1
wait_for 10 pool_settled 2
snap P 2
# sae-b takes it all, and sae-c fetches it at kme-3 (keys waiting there
# would fill kme-3's pool, which would then stop taking in key).
genl 2 1002 drain sae-b sae-c "${P[2 pool.2.own_bytes]}" 2>"$TEST_DIR/drain.err" |
	genl 3 1003 get-by-id sae-b sae-c >/dev/null 2>>"$TEST_DIR/drain.err"
if wait_for 10 pool_settled 2 && snap P 2 && [ "${P[2 pool.2.own_bytes]}" = 0 ]; then
	ok faults_pool_drained
else
	fail faults_pool_drained "kme-2 still has ${P[2 pool.2.own_bytes]} bytes on link 2"
	_lib_diag "$(cat "$TEST_DIR/drain.err")"
fi
snap S0b
get "$TEST_DIR/p1"
snap S1b
deltas S0b S1b Db
if grep -q '^Error: key relay failed at kme-2: not enough key on the link to the next hop' \
	"$TEST_DIR/p1.err"; then
	ok faults_pool_exhausted_clear_error
else
	fail faults_pool_exhausted_clear_error "$(cat "$TEST_DIR/p1.err")"
	_lib_diag "$(cat "$TEST_DIR/static.req")"
fi
if [ "${Db[1 link.1.relay_pad_bytes]:-0}" -eq $N ] &&
   [ "${Db[2 link.1.relay_pad_bytes]:-0}" -eq $N ] &&
   [ "${Db[2 link.2.relay_tx]:-0}" -eq 0 ] &&
   [ "${Db[3 link.2.relay_rx]:-0}" -eq 0 ] &&
   [ "${Db[4 node.relays_ended]:-0}" -eq 0 ] &&
   [ "${Db[4 relayed.received]:-0}" -eq 0 ]; then
	ok faults_pool_exhausted_nothing_at_destination
else
	fail faults_pool_exhausted_nothing_at_destination \
		"link 1 pad +${Db[1 link.1.relay_pad_bytes]:-0}/+${Db[2 link.1.relay_pad_bytes]:-0}, link 2 frames +${Db[2 link.2.relay_tx]:-0}, kme-4 relays ended +${Db[4 node.relays_ended]:-0}"
fi

# kme-2's own controller again: kme-1 learns that link 2 is empty and
# refuses at once.
_lib_stop "$spid"
daemon_restart 2 controllerd
if wait_for 30 metric_is 1 kme-4 -gt 3; then
	ok faults_pool_exhausted_route_costs_more
else
	fail faults_pool_exhausted_route_costs_more "$(qkdnctl -n qkdn1 route)"
fi
snap S0b
get "$TEST_DIR/p2"
snap S1b
deltas S0b S1b Db
if grep -q '^Error: key relay failed at kme-1: no route to kme-4 with [0-9]* bytes of key on every hop' \
	"$TEST_DIR/p2.err" && [ "${Db[1 link.1.relay_tx]:-0}" -eq 0 ]; then
	ok faults_pool_exhausted_refused_at_source
else
	fail faults_pool_exhausted_refused_at_source \
		"$(cat "$TEST_DIR/p2.err"), ${Db[1 link.1.relay_tx]:-0} frames on link 1"
fi
qkdsim_set 2 paused 0
if wait_for 30 metric_is 1 kme-4 -eq 3; then
	get "$TEST_DIR/p3"
	cat "$TEST_DIR/p3" >>"$TEST_DIR/pool.keys"
fi
if [ "$(wc -l <"$TEST_DIR/pool.keys")" -eq $NUM ]; then
	ok faults_pool_refilled_relays_work
else
	fail faults_pool_refilled_relays_work "$(cat "$TEST_DIR/p3.err" 2>/dev/null)"
fi
fetch "$TEST_DIR/pool.keys" "$TEST_DIR/pool.sup"
settle_snap
consistent faults_pool "$TEST_DIR/pool.keys" "$TEST_DIR/pool.sup"

lap "case 4, pool exhausted"

# ---- 5. a link daemon that forges relay frames ------------------------

snap S0
# The pools stand still from here: what a frame takes is exact, and the
# forging daemon carries no block synchronisation.
for k in 1 2 3; do
	qkdsim_set $k paused 1
done
for i in 1 2 3 4; do
	daemon_stop "$i" linkd
done
mkfifo "$TEST_DIR/tamper.in"
python3 "$TAMPER" 1 2 3 4 <"$TEST_DIR/tamper.in" >"$TEST_DIR/tamper.log" 2>&1 &
tpid=$!
defer _lib_stop "$tpid"
exec 7>"$TEST_DIR/tamper.in"
_lib_logs+=("$TEST_DIR/tamper.log")
if wait_for 10 grep -q '^ready' "$TEST_DIR/tamper.log" &&
   wait_for 20 eval 'kx_up_both 1 && kx_up_both 2 && kx_up_both 3' &&
   wait_for 20 route_via 1 kme-4 kme-2; then
	ok faults_tamper_carries_every_link
else
	fail faults_tamper_carries_every_link
	exit 1
fi

# tamper CMD...: a command to the forging daemon, once it took it.
tamper_oks() {
	[ "$(grep -c '^ok ' "$TEST_DIR/tamper.log")" -ge "$1" ]
}
tamper() {
	local n

	n=$(grep -c '^ok ' "$TEST_DIR/tamper.log")
	echo "$*" >&7
	wait_for 5 tamper_oks $((n + 1))
}

wait_for 10 eval 'pool_settled 1 && pool_settled 2 && pool_settled 3'
: >"$TEST_DIR/mac.keys"
get "$TEST_DIR/m0"
cat "$TEST_DIR/m0" >>"$TEST_DIR/mac.keys"

# One forged frame: the second hop's ciphertext changed once.
tamper tamper 2 1 ct
mac_logged=$(dmesg | grep -c 'link 2: key relay frame from kme-2 failed its MAC check')
snap S0b
get "$TEST_DIR/m1"
cat "$TEST_DIR/m1" >>"$TEST_DIR/mac.keys"
wait_for 10 in_step_now
snap S1b
deltas S0b S1b Db
if grep -q '^tampered link=2 ' "$TEST_DIR/tamper.log" &&
   grep -q '^refused link=2 node=kme-3 errno=EBADMSG msg=Kx relay frame failed its MAC check$' \
	"$TEST_DIR/tamper.log" &&
   [ "${Db[3 link.2.relay_mac_fail]:-0}" -eq 1 ] &&
   [ "${Db[3 link.2.frames_bad]:-0}" -eq 1 ] &&
   [ "$(dmesg | grep -c 'link 2: key relay frame from kme-2 failed its MAC check')" -gt "$mac_logged" ]; then
	ok faults_mac_forged_frame_refused
else
	fail faults_mac_forged_frame_refused \
		"kme-3 link 2: mac_fail +${Db[3 link.2.relay_mac_fail]:-0}, frames_bad +${Db[3 link.2.frames_bad]:-0}"
	_lib_diag "$(grep -v '^relay\|^done' "$TEST_DIR/tamper.log" | tail -n 5)"
fi
if [ "$(wc -l <"$TEST_DIR/m1")" -eq $NUM ]; then
	ok faults_mac_retransmission_completes
else
	fail faults_mac_retransmission_completes "$(cat "$TEST_DIR/m1.err")"
fi
# The forged frame took nothing: link 2 spent one frame's pad and MAC,
# the same at both ends and in both pools.
mac=${Db[3 link.2.relay_mac_bytes]:-0}
if [ "${Db[3 link.2.relay_rx]:-0}" -eq 1 ] &&
   [ "${Db[3 link.2.relay_pad_bytes]:-0}" -eq $N ] &&
   [ "${Db[2 link.2.relay_mac_bytes]:-0}" -eq "$mac" ] &&
   [ "${Db[3 pool.2.peer_bytes]:-0}" -eq $((-N - mac)) ] &&
   [ "${Db[2 pool.2.own_bytes]:-0}" -eq $((-N - mac)) ]; then
	ok faults_mac_refused_frame_takes_nothing
else
	fail faults_mac_refused_frame_takes_nothing \
		"kme-3 link 2: relay rx +${Db[3 link.2.relay_rx]:-0}, pad +${Db[3 link.2.relay_pad_bytes]:-0}, mac +$mac, peer bytes ${Db[3 pool.2.peer_bytes]:-0}; kme-2 own bytes ${Db[2 pool.2.own_bytes]:-0}"
fi

# A key ID changed on the first hop: refused as well (the IDs are under
# the MAC), and the keys keep their IDs.
tamper tamper 1 1 id
snap S0b
get "$TEST_DIR/m1b"
cat "$TEST_DIR/m1b" >>"$TEST_DIR/mac.keys"
wait_for 10 in_step_now
snap S1b
deltas S0b S1b Db
if [ "$(wc -l <"$TEST_DIR/m1b")" -eq $NUM ] &&
   [ "${Db[2 link.1.relay_mac_fail]:-0}" -eq 1 ] &&
   [ "${Db[2 link.1.relay_rx]:-0}" -eq 1 ] &&
   grep -q '^refused link=1 node=kme-2 errno=EBADMSG' "$TEST_DIR/tamper.log"; then
	ok faults_mac_forged_key_id_refused
else
	fail faults_mac_forged_key_id_refused \
		"kme-2 link 1: mac_fail +${Db[2 link.1.relay_mac_fail]:-0}, relay rx +${Db[2 link.1.relay_rx]:-0}; $(cat "$TEST_DIR/m1b.err")"
fi

# A forger that keeps at it, on the last hop: the source gives up, and
# nothing is supplied at either end.
tamper tamper 3 0 tag
snap S0b
get "$TEST_DIR/m2"
snap S1b
deltas S0b S1b Db
relay=$(sed -n 's/^tampered link=3 relay=\([^ ]*\) .*/\1/p' "$TEST_DIR/tamper.log" | head -n 1)
sed -n "s/^relay link=3 .* relay=$relay .* ids=//p" "$TEST_DIR/tamper.log" |
	tr ',' '\n' >"$TEST_DIR/m2.ids"
if [ ! -s "$TEST_DIR/m2" ] &&
   grep -q '^Error: key relay failed at kme-1: the key relay did not complete in time' \
	"$TEST_DIR/m2.err"; then
	ok faults_mac_persistent_source_times_out
else
	fail faults_mac_persistent_source_times_out "$(cat "$TEST_DIR/m2.err")"
fi
if [ "${Db[4 link.3.relay_mac_fail]:-0}" -ge 2 ] &&
   [ "${Db[4 link.3.relay_rx]:-0}" -eq 0 ] &&
   [ "${Db[4 pool.3.peer_bytes]:-0}" -eq 0 ] &&
   [ "${Db[4 relayed.received]:-0}" -eq 0 ]; then
	ok faults_mac_persistent_each_copy_refused
else
	fail faults_mac_persistent_each_copy_refused \
		"kme-4 link 3: mac_fail +${Db[4 link.3.relay_mac_fail]:-0}, relay rx +${Db[4 link.3.relay_rx]:-0}, peer bytes ${Db[4 pool.3.peer_bytes]:-0}, relayed keys +${Db[4 relayed.received]:-0}"
fi
# no_fetch NAME: the forged relay's keys cannot be had at kme-4.
no_fetch() {
	local out

	if [ "$(wc -l <"$TEST_DIR/m2.ids")" -eq $NUM ] &&
	   out=$(refused_each 4 1004 sae-a sae-d "$TEST_DIR/m2.ids"); then
		ok "$1"
	else
		fail "$1" "$(wc -l <"$TEST_DIR/m2.ids") key IDs seen on link 3; $out"
	fi
}
no_fetch faults_mac_persistent_nothing_supplied
# The forger stops: the frame gets through, and the source's abort
# behind it erases what it brought.
tamper clean
aborted_at_4() {
	local -A N1 DN

	snap N1 3 4
	deltas S0b N1 DN
	[ "${DN[4 node.relays_aborted]:-0}" -eq 1 ] &&
		[ "${N1[3 link.3.relay_tx]}" = "${N1[4 link.3.relay_rx]}" ]
}
if wait_for 30 aborted_at_4; then
	ok faults_mac_abort_follows
else
	fail faults_mac_abort_follows "kme-4 counts no abort, or link 3 did not deliver"
fi
no_fetch faults_mac_abort_erased_destination
fetch "$TEST_DIR/mac.keys" "$TEST_DIR/mac.sup"
settle_snap
consistent faults_mac "$TEST_DIR/mac.keys" "$TEST_DIR/mac.sup"
second_fetch_refused faults_mac_second_fetch_refused "$TEST_DIR/mac.keys"

# And at the end, every pool in step at its two ends.
if wait_for 10 eval 'pool_settled 1 && pool_settled 2 && pool_settled 3'; then
	ok faults_pools_in_step
else
	fail faults_pools_in_step
	for i in 1 2 3 4; do
		qkdnctl -n "qkdn$i" pool show | sed 's/^/# /'
	done
fi
lap "case 5, forged frames"
