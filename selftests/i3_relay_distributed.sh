#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.3, key relay in a distributed QKDN, end to end with the
# real daemons: topologies/chain4.topo (kme-1 - kme-2 - kme-3 - kme-4, a
# qkdn-linkd and a qkdn-controllerd in every node).  sae-a at kme-1 asks
# for keys for sae-d at kme-4; the key goes hop by hop, every KM asking its
# own controller for the next hop.  Checks: the route kme-1 publishes; the
# same bytes under the same IDs at both ends, supplied once; every message
# of Figure I.3 on the monitor of the node that sends or receives it, in
# order, all of one relay; the relay counters of every link and node (each
# hop spends exactly the relayed key bytes as pad); the slave side's bad
# inputs (unknown ID, another SAE pair, another uid) change nothing.
#
# timeout: 480

source "$(dirname "$0")/lib.sh"

require jq setpriv

# as N UID CMD...: CMD in node N as uid UID (an SAE's application).
as() {
	local n=$1 uid=$2

	shift 2
	in_ns "$n" setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
}

# refused NAME TEXT CMD...: CMD fails and says TEXT.
refused() {
	local name=$1 text=$2 out rc

	shift 2
	out=$("$@" 2>&1) && rc=0 || rc=$?
	if [ $rc -ne 0 ] && [[ $out == *"$text"* ]]; then
		ok "$name"
	else
		fail "$name" "exit $rc, expected a failure saying \"$text\":"
		_lib_diag "$out"
	fi
}

pool_own() {	# pool_own N LINK BYTES
	qkdnctl -j -n "qkdn$1" pool show id "$2" |
		jq -e ".[0].own_bytes >= $3" >/dev/null
}

# route_to N DST VIA PATH...: node N's route table has DST via VIA, PATH.
route_to() {
	local n=$1 dst=$2 via=$3 path

	shift 3
	path=$(printf '"%s",' "$@")
	qkdnctl -j -n "qkdn$n" route | jq -e --arg d "$dst" --arg v "$via" \
		".[] | select(.dst_node_id == \$d) |
		 .next_hop == \$v and .path == [${path%,}]" >/dev/null
}

# The monitors: "qkdnctl -j monitor" of every node, from the start.
MARK=()
mon_start() {
	"$QKDNCTL" -j -n "qkdn$1" monitor >"$TEST_DIR/mon-$1" 2>&1 &
	defer _lib_stop $!
	MARK[$1]=0
}

# mon_mark N: what node N's monitor shows from now on is looked at.
mon_mark() {
	MARK[$1]=$(wc -l <"$TEST_DIR/mon-$1")
}

# mon_msgs N: the Q.4160 messages on node N's monitor since its mark, one
# "DIR NAME PEER" line each (a line being written is skipped).
mon_msgs() {
	tail -n "+$((MARK[$1] + 1))" "$TEST_DIR/mon-$1" | jq -rR \
		'fromjson? | select(.event == "message") |
		 "\(.msg_dir) \(.msg) \(.msg_peer)"'
}

# mon_json N: the same messages as JSON objects.
mon_json() {
	tail -n "+$((MARK[$1] + 1))" "$TEST_DIR/mon-$1" |
		jq -cR 'fromjson? | select(.event == "message")'
}

mon_is() {	# mon_is N EXPECTED
	[ "$(mon_msgs "$1")" = "$2" ]
}

# mon_check NAME N LINE...: node N's monitor shows exactly these messages,
# in this order (waits up to 5 s for them).
mon_check() {
	local name=$1 n=$2 want

	shift 2
	want=$(printf '%s\n' "$@")
	if wait_for 5 mon_is "$n" "$want"; then
		ok "$name"
	else
		fail "$name" "kme-$n's monitor differs; expected:"
		_lib_diag "$want"
		echo "# saw:"
		_lib_diag "$(mon_msgs "$n")"
	fi
}

# snap TAG: the relay counters of every link and node, $TEST_DIR/TAG-N.
snap() {
	local n

	for n in 1 2 3 4; do
		{
			qkdnctl -j -n "qkdn$n" link show
			qkdnctl -j -n "qkdn$n" node show
		} | jq -s -c '{links: (.[0] | map({key: (.link_id | tostring),
			value: .stats}) | from_entries), node: .[1].stats}' \
			>"$TEST_DIR/$1-$n"
	done
}

# deltas N: the counters that moved between snap before and snap after,
# "link K NAME +D" and "node NAME +D" (sorted).
deltas() {
	jq -r -n --slurpfile a "$TEST_DIR/after-$1" --slurpfile b "$TEST_DIR/before-$1" '
		($a[0]) as $x | ($b[0]) as $y |
		([$x.links | keys[] as $l | $x.links[$l] | keys[] as $f |
		  select($f | test("^relay")) |
		  select($x.links[$l][$f] != $y.links[$l][$f]) |
		  "link \($l) \($f) +\($x.links[$l][$f] - $y.links[$l][$f])"] +
		 [$x.node | keys[] as $f | select($f | test("^relays_")) |
		  select($x.node[$f] != $y.node[$f]) |
		  "node \($f) +\($x.node[$f] - $y.node[$f])"]) | sort[]'
}

# ---- the network ----------------------------------------------------------

[ -x "$TOP/tools/build/qkdn-controllerd" ] || skip "qkdn-controllerd not built"
topo_up "$TOPO/chain4.topo" || { fail i3_topology_up; exit 1; }
ok i3_topology_up

for n in 1 2 3 4; do
	mon_start "$n"
done

# Every sending end holds key; kme-1's controller knows the way to kme-4.
if wait_for 20 pool_own 1 1 4096 && wait_for 20 pool_own 2 2 4096 &&
   wait_for 20 pool_own 3 3 4096; then
	ok i3_pools_filled
else
	fail i3_pools_filled
	qkdnctl -n qkdn2 pool show
	exit 1
fi
if wait_for 20 route_to 1 kme-4 kme-2 kme-1 kme-2 kme-3 kme-4; then
	ok i3_route_kme4_via_kme2
else
	fail i3_route_kme4_via_kme2 "qkdnctl route at kme-1:"
	_lib_diag "$(qkdnctl -n qkdn1 route 2>&1)"
	exit 1
fi
check_output i3_route_text "^route kme-4 via kme-2 path kme-1 -> kme-2 -> kme-3 -> kme-4 " \
	qkdnctl -n qkdn1 route
# kme-4's controller routes back the other way.
if wait_for 10 route_to 4 kme-1 kme-3 kme-4 kme-3 kme-2 kme-1; then
	ok i3_route_back_kme1_via_kme3
else
	fail i3_route_back_kme1_via_kme3 "$(qkdnctl -n qkdn4 route 2>&1)"
fi

# ---- the relay ------------------------------------------------------------

sleep 0.5	# the monitors have joined
for n in 1 2 3 4; do
	mon_mark "$n"
done
snap before
m=$(as 1 1001 "$QKDNCTL" -j key get master sae-a slave sae-d number 4 \
	size 256 format hex 2>&1)
if jq -e '.keys | length == 4 and all(.key | length == 64)' <<<"$m" >/dev/null 2>&1; then
	ok i3_key_request_answered
else
	fail i3_key_request_answered "$m"
	tail -n 20 "$TOPO_DIR"/logs/controllerd-kme-*.log
	exit 1
fi
mkeys=$(jq -c '[.keys[] | [.key_ID, .key]] | sort' <<<"$m")
ids=$(jq -r '.keys[] | "id \(.key_ID)"' <<<"$m")

# The relay record is complete at kme-4 before kme-1 answers: its messages
# are all there now, and nothing of the relay went to the slave SAE yet.
mon_check i3_monitor_kme1_order 1 \
	'received key request sae:sae-a' \
	'sent key relay next hop request controller' \
	'received response to key relay next hop request controller' \
	'sent key relay km:kme-2' \
	'received key relay completion notification km:kme-4' \
	'sent response to key request sae:sae-a'
for n in 2 3; do
	mon_check "i3_monitor_kme${n}_order" "$n" \
		"received key relay km:kme-$((n - 1))" \
		'sent key relay next hop request controller' \
		'received response to key relay next hop request controller' \
		"sent key relay km:kme-$((n + 1))"
done
mon_check i3_monitor_kme4_relay_order 4 \
	'received key relay km:kme-3' \
	'sent key relay completion notification km:kme-1'

# One relay: the same relay ID, source and destination everywhere, the
# key count on the messages that carry keys, no error, no key bytes.
all=$(for n in 1 2 3 4; do mon_json "$n"; done)
rids=$(jq -r 'select(.relay_id) | .relay_id' <<<"$all" | sort -u)
nrel=$(jq -s '[.[] | select(.relay_id)] | length' <<<"$all")
bad=$(jq -c 'select(.relay_id) | select(.src_node_id != "kme-1" or
	.dst_node_id != "kme-4" or .errno != null or
	((.msg == "key relay" or .msg == "key relay completion notification")
	 and .key_count != 4))' <<<"$all")
if [ "$(wc -l <<<"$rids")" = 1 ] && [ -n "$rids" ] && [ "$nrel" = 14 ] &&
   [ -z "$bad" ]; then
	ok i3_monitor_one_relay
else
	fail i3_monitor_one_relay "relay IDs [$rids], $nrel relay messages (want 14), bad: $bad"
fi
if jq -e -s 'map(select(.msg == "key request" or
	.msg == "response to key request")) | length == 2 and
	all(.dst_node_id == "kme-4" and .key_count == 4)' \
	<<<"$(mon_json 1)" >/dev/null; then
	ok i3_monitor_key_request_fields
else
	fail i3_monitor_key_request_fields "$(mon_json 1)"
fi
if grep -qiE '[0-9a-f]{64}' "$TEST_DIR"/mon-*; then
	fail i3_monitor_no_key_bytes
else
	ok i3_monitor_no_key_bytes
fi

# The controllers logged the next hops they gave.
R=$rids
check_output i3_ctrl1_logged_next_hop "relay $R kme-1 -> kme-4" \
	grep -F "received \"key relay next hop request\"" "$TOPO_DIR/logs/controllerd-kme-1.log"
check_output i3_ctrl2_logged_next_hop "next hop kme-3" \
	grep -F "sent \"response to key relay next hop request\"" "$TOPO_DIR/logs/controllerd-kme-2.log"

# Counters: every link of the path carried one relay frame, and each end
# of each link spent exactly the 128 relayed key bytes as pad (on link 1
# they are the keys themselves); the MAC took 16 or 32 bytes more.
snap after
declare -A want
want[1]=$'link 1 relay_key_bytes +128\nlink 1 relay_pad_bytes +128\nlink 1 relay_tx +1\nnode relays_done +1\nnode relays_started +1'
want[2]=$'link 1 relay_pad_bytes +128\nlink 1 relay_rx +1\nlink 2 relay_key_bytes +128\nlink 2 relay_pad_bytes +128\nlink 2 relay_tx +1\nnode relays_forwarded +1'
want[3]=$'link 2 relay_pad_bytes +128\nlink 2 relay_rx +1\nlink 3 relay_key_bytes +128\nlink 3 relay_pad_bytes +128\nlink 3 relay_tx +1\nnode relays_forwarded +1'
want[4]=$'link 3 relay_pad_bytes +128\nlink 3 relay_rx +1\nnode relays_ended +1'
for n in 1 2 3 4; do
	got=$(deltas "$n" | grep -v relay_mac_bytes)
	if [ "$got" = "${want[$n]}" ]; then
		ok "i3_counters_kme$n"
	else
		fail "i3_counters_kme$n" "expected:"
		_lib_diag "${want[$n]}"
		echo "# got:"
		_lib_diag "$got"
	fi
done
macs=$(for n in 1 2 3 4; do deltas "$n" | grep relay_mac_bytes; done |
	awk '{ print $4 }' | sort -u | tr '\n' ' ')
nmac=$(for n in 1 2 3 4; do deltas "$n"; done | grep -c relay_mac_bytes)
if [ "$nmac" = 6 ] && [[ $macs =~ ^(\+16\ |\+32\ |\+16\ \+32\ )$ ]]; then
	ok i3_counters_mac_bytes
else
	fail i3_counters_mac_bytes "$nmac link ends moved, by $macs"
fi

# ---- the destination application ------------------------------------------

# Bad inputs first: each is refused at once and takes nothing.  kme-4 has
# no link to kme-1, so no reservation can be on its way: an unknown ID is
# refused without the 2 s wait of I.1 (timed around the request alone).
unknown=$(cat /proc/sys/kernel/random/uuid)
out=$(as 4 1004 python3 - "$TOP/selftests/helpers" "$unknown" 2>&1 <<-'EOF'
	import sys, time
	sys.path.insert(0, sys.argv[1])
	from qkdn_genl import Genl, NlError
	nl = Genl()
	t = time.monotonic()
	try:
	    nl.key_get_by_id("sae-a", "sae-d", [sys.argv[2]])
	    print("supplied")
	except NlError as e:
	    print("%s after %d ms" % (e, (time.monotonic() - t) * 1000))
	EOF
)
if [[ $out =~ ^ENOENT:\ key\ ID\ unknown\ or\ already\ supplied\ after\ ([0-9]+)\ ms$ ]] &&
   [ "${BASH_REMATCH[1]}" -lt 1000 ]; then
	ok i3_unknown_id_refused_at_once
else
	fail i3_unknown_id_refused_at_once "$out"
fi
# shellcheck disable=SC2086 # ids is a word list
refused i3_other_sae_pair_refused "key ID reserved for another SAE pair" \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-b slave sae-d $ids
# shellcheck disable=SC2086
refused i3_other_uid_refused "caller may not act as the slave SAE" \
	as 4 1001 "$QKDNCTL" key get-by-id master sae-a slave sae-d $ids
# shellcheck disable=SC2086
refused i3_root_refused "caller may not act as the slave SAE" \
	qkdnctl -n qkdn4 key get-by-id master sae-a slave sae-d $ids
# One good ID and one unknown: all or nothing.
# shellcheck disable=SC2046
refused i3_partly_unknown_ids_refused "key ID unknown or already supplied" \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-a slave sae-d \
	$(head -n 1 <<<"$ids") id "$unknown"

# "key request with ID" as the slave SAE: the same bytes under the same IDs.
# shellcheck disable=SC2086
s=$(as 4 1004 "$QKDNCTL" -j key get-by-id master sae-a slave sae-d $ids format hex 2>&1)
skeys=$(jq -c '[.keys[] | [.key_ID, .key]] | sort' <<<"$s" 2>/dev/null)
if [ -n "$skeys" ] && [ "$skeys" = "$mkeys" ]; then
	ok i3_same_keys_both_ends
else
	fail i3_same_keys_both_ends "kme-1: $(jq -c '[.keys[].key_ID]' <<<"$m") kme-4: $s"
fi
# shellcheck disable=SC2086
refused i3_supplied_once "key ID unknown or already supplied" \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-a slave sae-d $ids

mon_check i3_monitor_kme4_order 4 \
	'received key relay km:kme-3' \
	'sent key relay completion notification km:kme-1' \
	'received key request with ID sae:sae-d' \
	'sent response to key request sae:sae-d'
