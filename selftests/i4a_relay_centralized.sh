#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.4a, key relay in a centralized QKDN, end to end with the
# real daemons: topologies/chain4-central.topo (kme-1 - kme-2 - kme-3 -
# kme-4, the QKDN controller in kme-2, qkdn-controllerd agents in the
# others, qkdn-linkd everywhere).  sae-a at kme-1 asks for keys for sae-d
# at kme-4: KM1 sends the controller a "key relay request notification",
# the controller answers with a "key relay request" carrying the full route
# kme-1 kme-2 kme-3 kme-4, the key follows it without any other KM asking
# anyone, and KM1 reports the completion with a "response to key relay
# request".  Checks: every message of Figure I.4a on the right node and in
# order; the full route, given once, in the controller's and the agent's
# logs; the intermediate KMs and their controllers see no Ck message; the
# same bytes at both ends, once; the counters of the path; the Ck inputs of
# the procedure (a route for no request, bad routes, from no admin) are
# refused and change nothing.
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

# ck N [UID] MSG [ctrl ID] [relay UUID] [route A,B,..] [next NODE]
# [errno N]: a Ck message to node N's kernel, as a controller sends it
# (QKDN_CMD_CTRL), by root or by UID; "accepted" or "error ERRNO: TEXT"
# (EOPNOTSUPP is named ENOTSUP, its other name).
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

# ---- the network ----------------------------------------------------------

[ -x "$TOP/tools/build/qkdn-controllerd" ] || skip "qkdn-controllerd not built"
topo_up "$TOPO/chain4-central.topo" || { fail i4a_topology_up; exit 1; }
ok i4a_topology_up
CLOG=$TOPO_DIR/logs/controllerd-kme-2.log
for n in 1 2 3 4; do
	mon_start "$n"
done
if wait_for 20 pool_own 1 1 4096 && wait_for 20 pool_own 2 2 4096 &&
   wait_for 20 pool_own 3 3 4096 && wait_for 20 route_has 1 kme-4; then
	ok i4a_ready
else
	fail i4a_ready "pools or routes missing"
	qkdnctl -n qkdn1 route
	exit 1
fi
bad_mode=""
for n in 1 2 3 4; do
	mode=$(qkdnctl -j -n "qkdn$n" node show | jq -r .ctrl_mode)
	[ "$mode" = centralized ] || bad_mode+=" kme-$n:$mode"
done
if [ -z "$bad_mode" ]; then
	ok i4a_ctrl_mode_centralized
else
	fail i4a_ctrl_mode_centralized "$bad_mode"
fi

# ---- the relay ------------------------------------------------------------

mon_mark_all
c1=$(stat 1 relays_started) c2=$(stat 2 relays_forwarded)
c3=$(stat 3 relays_forwarded) c4=$(stat 4 relays_ended)
m=$(as 1 1001 "$QKDNCTL" -j key get master sae-a slave sae-d number 4 \
	size 256 format hex 2>&1)
if jq -e '.keys | length == 4 and all(.key | length == 64)' <<<"$m" >/dev/null 2>&1; then
	ok i4a_key_request_answered
else
	fail i4a_key_request_answered "$m"
	tail -n 20 "$CLOG"
	exit 1
fi
ids=$(jq -r '.keys[] | "id \(.key_ID)"' <<<"$m")

# Q.4160 I.4a: KM1 asks once, follows the route, and on the completion
# notification tells the controller ("response to key relay request").
mon_check i4a_monitor_kme1_order 1 \
	'received key request sae:sae-a keys 4' \
	'sent key relay request notification controller' \
	'received key relay request controller keys 4' \
	'sent key relay km:kme-2 keys 4' \
	'received key relay completion notification km:kme-4 keys 4' \
	'sent response to key relay request controller' \
	'sent response to key request sae:sae-a keys 4'
# The KMs on the route ask nobody.
mon_check i4a_monitor_kme2_no_controller 2 \
	'received key relay km:kme-1 keys 4' \
	'sent key relay km:kme-3 keys 4'
mon_check i4a_monitor_kme3_no_controller 3 \
	'received key relay km:kme-2 keys 4' \
	'sent key relay km:kme-4 keys 4'
mon_check i4a_monitor_kme4_relay 4 \
	'received key relay km:kme-3 keys 4' \
	'sent key relay completion notification km:kme-1 keys 4'

all=$(for n in 1 2 3 4; do mon_json "$n"; done)
R=$(jq -r 'select(.relay_id) | .relay_id' <<<"$all" | sort -u)
bad=$(jq -c 'select(.relay_id) | select(.src_node_id != "kme-1" or
	.dst_node_id != "kme-4" or .errno != null)' <<<"$all")
if [ "$(wc -l <<<"$R")" = 1 ] && [ -n "$R" ] && [ -z "$bad" ]; then
	ok i4a_monitor_one_relay
else
	fail i4a_monitor_one_relay "relay IDs [$R], bad: $bad"
fi

# The controller: one notification, from kme-1's agent; the full route in
# its answer, which kme-1's agent gave its kernel; the response.
sleep 0.5
notes=$(grep -F "relay $R " "$CLOG" | grep -F 'received "key relay request notification"')
if [ "$(grep -c . <<<"$notes")" = 1 ] &&
   [[ $notes =~ \"key\ relay\ request\ notification\"\ from\ kme-1\ ctrl-id\ ([0-9]+)\ relay ]]; then
	ok i4a_controller_notified_once_by_kme1
	cid=${BASH_REMATCH[1]}
else
	fail i4a_controller_notified_once_by_kme1 "$notes"
	cid=none
fi
check_output i4a_controller_sent_full_route \
	"sent \"key relay request\" to kme-1 ctrl-id $cid: route kme-1 kme-2 kme-3 kme-4 " \
	cat "$CLOG"
check_output i4a_agent_applied_full_route \
	"sent \"key relay request\" ctrl-id $cid: route kme-1 kme-2 kme-3 kme-4 " \
	cat "$TOPO_DIR/logs/controllerd-kme-1.log"
check_output i4a_controller_got_response \
	"received \"response to key relay request\" from kme-1 relay $R kme-1 -> kme-4: completed" \
	cat "$CLOG"
others=$(grep -F "$R" "$TOPO_DIR/logs/controllerd-kme-3.log" \
	"$TOPO_DIR/logs/controllerd-kme-4.log"; grep -F "$R" "$CLOG" |
	grep -v -e 'from kme-1 ' -e 'to kme-1 ')
if [ -z "$others" ] && ! grep -q "next hop request" "$CLOG"; then
	ok i4a_no_other_controller_asked
else
	fail i4a_no_other_controller_asked "$others"
fi

# Counters: the relay started at kme-1, passed kme-2 and kme-3, ended at
# kme-4.
if [ "$(stat 1 relays_started)" = $((c1 + 1)) ] &&
   [ "$(stat 2 relays_forwarded)" = $((c2 + 1)) ] &&
   [ "$(stat 3 relays_forwarded)" = $((c3 + 1)) ] &&
   [ "$(stat 4 relays_ended)" = $((c4 + 1)) ] &&
   [ "$(stat 1 relays_done)" = "$(stat 1 relays_started)" ]; then
	ok i4a_counters
else
	fail i4a_counters
	for n in 1 2 3 4; do qkdnctl -n "qkdn$n" node show | grep relays; done
fi

# The destination application: the same bytes, once.
# shellcheck disable=SC2086 # ids is a word list
s=$(as 4 1004 "$QKDNCTL" -j key get-by-id master sae-a slave sae-d $ids format hex 2>&1)
if [ "$(jq -c '[.keys[] | [.key_ID, .key]] | sort' <<<"$m")" = \
     "$(jq -c '[.keys[] | [.key_ID, .key]] | sort' <<<"$s" 2>/dev/null)" ]; then
	ok i4a_same_keys_both_ends
else
	fail i4a_same_keys_both_ends "$s"
fi
# shellcheck disable=SC2086
refused i4a_supplied_once "key ID unknown or already supplied" \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-a slave sae-d $ids

# ---- the Ck inputs of I.4a ---------------------------------------------------

# A "key relay request" is taken only as the answer to a waiting request,
# with a good route, from a controller (CAP_NET_ADMIN).
mon_mark_all
c1=$(stat 1 relays_started)
refused i4a_route_for_no_request "error ENOENT: no controller request with this ID is waiting" \
	ck 1 KEY_RELAY_REQUEST ctrl 4000000000 route kme-1,kme-2,kme-3,kme-4
refused i4a_route_node_twice "error EINVAL: route passes a node twice" \
	ck 1 KEY_RELAY_REQUEST ctrl 1 route kme-1,kme-2,kme-1,kme-4
refused i4a_route_one_node "error EINVAL: a route names at least two nodes" \
	ck 1 KEY_RELAY_REQUEST ctrl 1 route kme-1
refused i4a_route_too_long "error E2BIG: route too long" \
	ck 1 KEY_RELAY_REQUEST ctrl 1 route "kme-1,$(seq -s, -f 'n%g' 2 17)"
refused i4a_route_missing "error EINVAL" \
	ck 1 KEY_RELAY_REQUEST ctrl 1
refused i4a_route_not_admin "error EPERM" \
	ck 1 1001 KEY_RELAY_REQUEST ctrl 1 route kme-1,kme-2,kme-3,kme-4
refused i4a_notification_not_from_controller "error ENOTSUP: not a message a controller sends a KM" \
	ck 1 KEY_RELAY_REQUEST_NOTIFICATION ctrl 1
sleep 0.3
msgs=$(for n in 1 2 3 4; do mon_msgs "$n"; done)
if [ -z "$msgs" ] && [ "$(stat 1 relays_started)" = "$c1" ]; then
	ok i4a_bad_ck_changes_nothing
else
	fail i4a_bad_ck_changes_nothing "$msgs"
fi
# The slave side's new input: IDs of a relay for another pair, another uid.
m=$(as 1 1001 "$QKDNCTL" -j key get master sae-a slave sae-d 2>&1)
id=$(jq -r '.keys[0].key_ID' <<<"$m" 2>/dev/null)
refused i4a_other_pair_refused "key ID reserved for another SAE pair" \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-c slave sae-d id "$id"
refused i4a_other_uid_refused "caller may not act as the slave SAE" \
	as 4 1003 "$QKDNCTL" key get-by-id master sae-a slave sae-d id "$id"
check i4a_entitled_slave_still_gets_it \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-a slave sae-d id "$id"
