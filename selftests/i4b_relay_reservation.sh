#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.4b, key relay in a centralized QKDN with key reservation,
# end to end with the real daemons: the chain kme-1 - kme-2 - kme-3 - kme-4
# with the QKDN controller in kme-3 set to key reservation (topology
# "controller centralized kme-3 scheme reserve": relay_scheme = reserve),
# agents in kme-1, kme-2 and kme-4.  For sae-a (kme-1) to sae-d (kme-4):
# the controller has KM1 (kme-1) reserve the keys on the link to KM2
# (kme-2), has KM2 relay them along the full route, gets KM2's "response to
# key relay request" once KM3 (kme-4) holds them, and only then allocates
# them to KM1's application.  Checks: every message of Figure I.4b on the
# right node and in order, in the controller's log too; the same bytes at
# both ends, once; the counters of the path; the Ck inputs of I.4b (a
# reservation for no request, a relay request or an allocation for no
# reservation, replays of both after the relay, an error where only an
# answer may carry one, no admin) are refused and change nothing; KM2
# unreachable for the controller fails the request cleanly.
#
# timeout: 480

source "$(dirname "$0")/lib.sh"

require jq setpriv

H=$TOP/selftests/helpers

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

route_has() {	# route_has N DST
	qkdnctl -j -n "qkdn$1" route |
		jq -e --arg d "$2" 'any(.[]; .dst_node_id == $d)' >/dev/null
}

stat() {	# stat N NAME: node N's counter NAME
	qkdnctl -j -n "qkdn$1" node show | jq -r ".stats.$2"
}

MARK=()
mon_start() {
	"$QKDNCTL" -j -n "qkdn$1" monitor >"$TEST_DIR/mon-$1" 2>&1 &
	defer _lib_stop $!
	MARK[$1]=0
}

mon_mark_all() {
	local n

	sleep 0.3
	for n in 1 2 3 4; do
		MARK[n]=$(wc -l <"$TEST_DIR/mon-$n")
	done
}

# mon_msgs N: "DIR NAME PEER [errno N] [keys N]" per Q.4160 message on
# node N's monitor since the mark.
mon_msgs() {
	tail -n "+$((MARK[$1] + 1))" "$TEST_DIR/mon-$1" | jq -rR \
		'fromjson? | select(.event == "message") |
		 "\(.msg_dir) \(.msg) \(.msg_peer)" +
		 (if .errno then " errno \(.errno)" else "" end) +
		 (if .key_count then " keys \(.key_count)" else "" end)'
}

mon_json() {
	tail -n "+$((MARK[$1] + 1))" "$TEST_DIR/mon-$1" |
		jq -cR 'fromjson? | select(.event == "message")'
}

mon_is() {
	[ "$(mon_msgs "$1")" = "$2" ]
}

mon_check() {	# mon_check NAME N LINE...: exactly these, in order
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

# deltas N: the relay counters that moved between snap before and snap
# after, "link K NAME +D" and "node NAME +D" (sorted), MAC bytes left out.
deltas() {
	jq -r -n --slurpfile a "$TEST_DIR/after-$1" --slurpfile b "$TEST_DIR/before-$1" '
		($a[0]) as $x | ($b[0]) as $y |
		([$x.links | keys[] as $l | $x.links[$l] | keys[] as $f |
		  select($f | test("^relay_(tx|rx|key_bytes|pad_bytes|mac_fail)$")) |
		  select($x.links[$l][$f] != $y.links[$l][$f]) |
		  "link \($l) \($f) +\($x.links[$l][$f] - $y.links[$l][$f])"] +
		 [$x.node | keys[] as $f | select($f | test("^relays_")) |
		  select($x.node[$f] != $y.node[$f]) |
		  "node \($f) +\($x.node[$f] - $y.node[$f])"]) | sort[]'
}

# ck N [UID] MSG [ctrl ID] [relay UUID] [route A,B,..] [next NODE]
# [errno N]: a Ck message to node N's kernel, as a controller sends it
# (QKDN_CMD_CTRL), by root or by UID; "accepted" or "error ERRNO: TEXT".
cat >"$TEST_DIR/ck.py" <<'EOF'
import sys, uuid
sys.path.insert(0, sys.argv[1])
from qkdn_genl import Genl, NlError, Q, nla, nla_strz, nla_u32, NLA_F_NESTED
args = sys.argv[2:]
attrs = [nla_u32(Q["QKDN_A_MSG"], Q["QKDN_MSG_" + args[0]])]
for k, v in zip(args[1::2], args[2::2]):
    if k == "ctrl":
        attrs.append(nla_u32(Q["QKDN_A_CTRL_ID"], int(v)))
    elif k == "relay":
        attrs.append(nla(Q["QKDN_A_RELAY_ID"], uuid.UUID(v).bytes))
    elif k == "route":
        attrs.append(nla(Q["QKDN_A_ROUTE"] | NLA_F_NESTED, b"".join(
            nla_strz(Q["QKDN_A_ROUTE_NODE"], n) for n in v.split(","))))
    elif k == "next":
        attrs.append(nla_strz(Q["QKDN_A_NEXT_HOP"], v))
    elif k == "errno":
        attrs.append(nla_u32(Q["QKDN_A_ERRNO"], int(v)))
try:
    Genl().request(Q["QKDN_CMD_CTRL"], attrs)
    print("accepted")
except NlError as e:
    print("error %s" % e)
    sys.exit(1)
EOF
ck() {
	local n=$1

	shift
	if [[ $1 =~ ^[0-9]+$ ]]; then
		local uid=$1

		shift
		as "$n" "$uid" python3 - "$H" "$@" <"$TEST_DIR/ck.py"
	else
		in_ns "$n" python3 - "$H" "$@" <"$TEST_DIR/ck.py"
	fi
}

# in_order FILE RE...: FILE has a line matching each RE, in this order.
in_order() {
	local file=$1 re at=0 n

	shift
	for re in "$@"; do
		n=$(tail -n "+$((at + 1))" "$file" | grep -n -m 1 -F -- "$re" |
			cut -d: -f1)
		[ -n "$n" ] || { echo "# not found after line $at: $re"; return 1; }
		at=$((at + n))
	done
}

# ---- the network ----------------------------------------------------------

[ -x "$TOP/tools/build/qkdn-controllerd" ] || skip "qkdn-controllerd not built"
sed -e 's/^controller .*/controller centralized kme-3 scheme reserve/' \
	"$TOPO/chain4-central.topo" >"$TEST_DIR/chain4-reserve.topo"
topo_up "$TEST_DIR/chain4-reserve.topo" || { fail i4b_topology_up; exit 1; }
ok i4b_topology_up
CLOG=$TOPO_DIR/logs/controllerd-kme-3.log
check_output i4b_controller_configured_for_reservation '^relay_scheme = reserve$' \
	cat "$TOPO_DIR/conf/controllerd-kme-3.conf"
for n in 1 2 3 4; do
	mon_start "$n"
done
if wait_for 20 pool_own 1 1 4096 && wait_for 20 pool_own 2 2 4096 &&
   wait_for 20 pool_own 3 3 4096 && wait_for 20 route_has 1 kme-4 &&
   wait_for 20 route_has 2 kme-4; then
	ok i4b_ready
else
	fail i4b_ready "pools or routes missing"
	qkdnctl -n qkdn1 route
	exit 1
fi

# ---- the relay with key reservation ------------------------------------------

mon_mark_all
snap before
m=$(as 1 1001 "$QKDNCTL" -j key get master sae-a slave sae-d number 4 \
	size 256 format hex 2>&1)
if jq -e '.keys | length == 4 and all(.key | length == 64)' <<<"$m" >/dev/null 2>&1; then
	ok i4b_key_request_answered
else
	fail i4b_key_request_answered "$m"
	tail -n 20 "$CLOG"
	exit 1
fi
ids=$(jq -r '.keys[] | "id \(.key_ID)"' <<<"$m")

# KM1: reserves on the controller's word, and gives its application the
# keys only on the allocation; it relays nothing itself.
mon_check i4b_monitor_km1_order 1 \
	'received key request sae:sae-a keys 4' \
	'sent key relay request notification controller' \
	'received key reservation request controller keys 4' \
	'sent response to key reservation request controller keys 4' \
	'received key allocation request controller keys 4' \
	'sent response to key allocation request controller keys 4' \
	'sent response to key request sae:sae-a keys 4'
# KM2: holds the reservation silently, relays on the controller's "key
# relay request", takes the completion and reports it.
mon_check i4b_monitor_km2_order 2 \
	'received key relay request controller keys 4' \
	'sent key relay km:kme-3 keys 4' \
	'received key relay completion notification km:kme-4 keys 4' \
	'sent response to key relay request controller'
mon_check i4b_monitor_kme3_order 3 \
	'received key relay km:kme-2 keys 4' \
	'sent key relay km:kme-4 keys 4'
mon_check i4b_monitor_km3_order 4 \
	'received key relay km:kme-3 keys 4' \
	'sent key relay completion notification km:kme-1 keys 4'

all=$(for n in 1 2 3 4; do mon_json "$n"; done)
R=$(jq -r 'select(.relay_id) | .relay_id' <<<"$all" | sort -u)
bad=$(jq -c 'select(.relay_id) | select(.src_node_id != "kme-1" or
	.dst_node_id != "kme-4" or .errno != null)' <<<"$all")
if [ "$(wc -l <<<"$R")" = 1 ] && [ -n "$R" ] && [ -z "$bad" ]; then
	ok i4b_monitor_one_relay
else
	fail i4b_monitor_one_relay "relay IDs [$R], bad: $bad"
fi

# The controller's side of Figure I.4b, in order.
sleep 0.3
re="received \"key relay request notification\" from kme-1 ctrl-id ([0-9]+) relay $R kme-1 -> kme-4, "
if [[ $(cat "$CLOG") =~ $re ]]; then
	cid=${BASH_REMATCH[1]}
else
	cid=none
fi
if in_order "$CLOG" \
	"received \"key relay request notification\" from kme-1 ctrl-id $cid relay $R kme-1 -> kme-4, " \
	"sent \"key reservation request\" to kme-1 ctrl-id $cid relay $R: next hop kme-2 (route kme-1 kme-2 kme-3 kme-4," \
	"received \"response to key reservation request\" from kme-1 relay $R: keys reserved on the link to kme-2" \
	"sent \"key relay request\" to kme-2 relay $R: route kme-1 kme-2 kme-3 kme-4 " \
	"received \"response to key relay request\" from kme-2 relay $R kme-1 -> kme-4: completed" \
	"sent \"key allocation request\" to kme-1 relay $R: the reserved keys are the application's" \
	"received \"response to key allocation request\" from kme-1 relay $R: the keys are the application's"; then
	ok i4b_controller_log_order
else
	fail i4b_controller_log_order
	grep -F -e "$R" -e "ctrl-id $cid" "$CLOG" | sed 's/^/#   /'
fi

# Counters: KM1 took the keys from link 1 (no pad on the first link: they
# are the keys), every later hop spent 128 bytes of pad; one relay started
# and done at kme-1, passed by kme-2 and kme-3, ended at kme-4.
snap after
declare -A want
want[1]=$'link 1 relay_key_bytes +128\nlink 1 relay_pad_bytes +128\nlink 1 relay_tx +1\nnode relays_done +1\nnode relays_started +1'
want[2]=$'link 1 relay_pad_bytes +128\nlink 1 relay_rx +1\nlink 2 relay_key_bytes +128\nlink 2 relay_pad_bytes +128\nlink 2 relay_tx +1\nnode relays_forwarded +1'
want[3]=$'link 2 relay_pad_bytes +128\nlink 2 relay_rx +1\nlink 3 relay_key_bytes +128\nlink 3 relay_pad_bytes +128\nlink 3 relay_tx +1\nnode relays_forwarded +1'
want[4]=$'link 3 relay_pad_bytes +128\nlink 3 relay_rx +1\nnode relays_ended +1'
for n in 1 2 3 4; do
	got=$(deltas "$n")
	if [ "$got" = "${want[$n]}" ]; then
		ok "i4b_counters_kme$n"
	else
		fail "i4b_counters_kme$n" "expected:"
		_lib_diag "${want[$n]}"
		echo "# got:"
		_lib_diag "$got"
	fi
done

# ---- the Ck inputs of I.4b: refused, nothing changes ---------------------------

mon_mark_all
snap before
other=$(cat /proc/sys/kernel/random/uuid)
refused i4b_reservation_for_no_request "error ENOENT: no controller request with this ID is waiting" \
	ck 1 KEY_RESERVATION_REQUEST ctrl 4000000000 next kme-2
refused i4b_relay_request_no_reservation "error ENOENT: no key reservation for this relay here" \
	ck 2 KEY_RELAY_REQUEST relay "$other" route kme-1,kme-2,kme-3,kme-4
refused i4b_allocation_no_reservation "error ENOENT: no key reservation for this relay here" \
	ck 1 KEY_ALLOCATION_REQUEST relay "$other"
# Replays of the relay that completed.
refused i4b_relay_request_replayed "error ENOENT: no key reservation for this relay here" \
	ck 2 KEY_RELAY_REQUEST relay "$R" route kme-1,kme-2,kme-3,kme-4
refused i4b_allocation_replayed "error ENOENT: no key reservation for this relay here" \
	ck 1 KEY_ALLOCATION_REQUEST relay "$R"
refused i4b_failed_allocation_replayed "error ENOENT: no key reservation for this relay here" \
	ck 1 KEY_ALLOCATION_REQUEST relay "$R" errno 110
refused i4b_relay_request_with_error "error EINVAL: only an answer may carry an error" \
	ck 2 KEY_RELAY_REQUEST relay "$R" errno 110
refused i4b_allocation_no_relay_id "error EINVAL" \
	ck 2 KEY_ALLOCATION_REQUEST
refused i4b_allocation_not_admin "error EPERM" \
	ck 1 1001 KEY_ALLOCATION_REQUEST relay "$R"
sleep 0.3
snap after
msgs=$(for n in 1 2 3 4; do mon_msgs "$n"; done)
moved=$(for n in 1 2 3 4; do deltas "$n"; done)
if [ -z "$msgs" ] && [ -z "$moved" ]; then
	ok i4b_bad_ck_changes_nothing
else
	fail i4b_bad_ck_changes_nothing "messages: $msgs; counters: $moved"
fi

# The destination application: the same bytes, once; not for another pair
# or uid.
# shellcheck disable=SC2086 # ids is a word list
refused i4b_other_pair_refused "key ID reserved for another SAE pair" \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-c slave sae-d $ids
# shellcheck disable=SC2086
refused i4b_other_uid_refused "caller may not act as the slave SAE" \
	as 4 1001 "$QKDNCTL" key get-by-id master sae-a slave sae-d $ids
# shellcheck disable=SC2086
s=$(as 4 1004 "$QKDNCTL" -j key get-by-id master sae-a slave sae-d $ids format hex 2>&1)
if [ "$(jq -c '[.keys[] | [.key_ID, .key]] | sort' <<<"$m")" = \
     "$(jq -c '[.keys[] | [.key_ID, .key]] | sort' <<<"$s" 2>/dev/null)" ]; then
	ok i4b_same_keys_both_ends
else
	fail i4b_same_keys_both_ends "$s"
fi
# shellcheck disable=SC2086
refused i4b_supplied_once "key ID unknown or already supplied" \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-a slave sae-d $ids

# ---- KM2 out of the controller's reach ---------------------------------------

# kme-2's agent stops: KM1 still reserves on the link to kme-2, but the
# controller cannot have KM2 relay; it allocates with the error, KM1 fails
# its application's request and aborts, and KM2 erases the reservation.
# Nothing reaches kme-4.
mon_mark_all
ended=$(stat 4 relays_ended)
aborted=$(stat 2 relays_aborted)
_lib_stop "$(cat "$TOPO_DIR/run/controllerd-kme-2.pid")"
wait_for 10 grep -q "kme-2 .*Cx channel lost" "$CLOG"
refused i4b_km2_unreachable_fails_cleanly \
	"error EHOSTUNREACH: key relay failed at the QKDN controller: key relay request to kme-2 failed: not reachable: no agent of it is connected" \
	as 1 1001 python3 "$H/qkdn_genl.py" get sae-a sae-d 1 --number 2
mon_check i4b_monitor_km1_failed_allocation 1 \
	'received key request sae:sae-a keys 2' \
	'sent key relay request notification controller' \
	'received key reservation request controller keys 2' \
	'sent response to key reservation request controller keys 2' \
	'received key allocation request controller errno 113 keys 2' \
	'sent response to key allocation request controller errno 113 keys 2' \
	'sent response to key request sae:sae-a errno 113'
aborted_more() {
	[ "$(stat 2 relays_aborted)" = $((aborted + 1)) ]
}
if wait_for 5 aborted_more; then
	ok i4b_km2_reservation_aborted
else
	fail i4b_km2_reservation_aborted "kme-2 relays aborted $aborted -> $(stat 2 relays_aborted)"
fi
if [ "$(stat 4 relays_ended)" = "$ended" ] && [ -z "$(mon_msgs 4)$(mon_msgs 3)" ]; then
	ok i4b_km2_unreachable_nothing_beyond
else
	fail i4b_km2_unreachable_nothing_beyond "$(mon_msgs 3; mon_msgs 4)"
fi
