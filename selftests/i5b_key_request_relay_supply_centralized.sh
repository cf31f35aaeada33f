#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.5b, key request, key relay and key supply in a centralized
# QKDN, as the applications see it, with the real daemons on
# topologies/chain4-central.topo (kme-1 - kme-2 - kme-3 - kme-4, the QKDN
# controller in kme-2, agents in the other nodes): the source application's
# "key request" is answered after the relay along the controller's route
# completed and KM1 told the controller; the destination application's
# "key request with ID" gets the same bytes.  Several sizes and numbers,
# from every node that has an agent and from the controller's own node,
# both directions; bad requests start nothing; with the central
# controller down the source application gets the agent's clear error and
# no KM is touched; with it back, relays work again.
#
# timeout: 480

source "$(dirname "$0")/lib.sh"

require jq setpriv

H=$TOP/selftests/helpers
CONTROLLERD=${CONTROLLERD:-$TOP/tools/build/qkdn-controllerd}

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

genl() {	# genl N UID ARGS...: helpers/qkdn_genl.py in node N as UID
	local n=$1 uid=$2

	shift 2
	as "$n" "$uid" python3 "$H/qkdn_genl.py" "$@"
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

# supply NAME MN MUID MASTER SN SUID SLAVE NUMBER BITS: a key request at
# node MN, the key request with ID at node SN; the same keys, as asked.
supply() {
	local name=$1 mn=$2 mu=$3 ma=$4 sn=$5 su=$6 sl=$7 num=$8 bits=$9
	local m s ids

	m=$(as "$mn" "$mu" "$QKDNCTL" -j key get master "$ma" slave "$sl" \
		number "$num" size "$bits" format hex 2>&1) || {
		fail "$name" "key get: $m"
		return
	}
	ids=$(jq -r '.keys[] | "id \(.key_ID)"' <<<"$m")
	# shellcheck disable=SC2086 # ids is a word list
	s=$(as "$sn" "$su" "$QKDNCTL" -j key get-by-id master "$ma" slave "$sl" \
		$ids format hex 2>&1) || {
		fail "$name" "key get-by-id: $s"
		return
	}
	if jq -e --argjson n "$num" --argjson l $((bits / 4)) \
		'.keys | length == $n and all(.key | length == $l)' \
		<<<"$m" >/dev/null &&
	   [ "$(jq -c '[.keys[] | [.key_ID, .key]] | sort' <<<"$m")" = \
	     "$(jq -c '[.keys[] | [.key_ID, .key]] | sort' <<<"$s")" ]; then
		ok "$name"
	else
		fail "$name" "master: $m"
		_lib_diag "slave: $s"
	fi
}

# ---- the network ----------------------------------------------------------

[ -x "$CONTROLLERD" ] || skip "qkdn-controllerd not built"
topo_up "$TOPO/chain4-central.topo" || { fail i5b_topology_up; exit 1; }
ok i5b_topology_up
CLOG=$TOPO_DIR/logs/controllerd-kme-2.log
for n in 1 2 3 4; do
	mon_start "$n"
done
if wait_for 20 pool_own 1 1 16384 && wait_for 20 pool_own 2 2 16384 &&
   wait_for 20 pool_own 3 3 16384 && wait_for 20 pool_own 4 3 16384 &&
   wait_for 20 pool_own 3 2 16384 && wait_for 20 pool_own 2 1 16384 &&
   wait_for 20 route_has 1 kme-4 && wait_for 20 route_has 4 kme-1 &&
   wait_for 20 route_has 3 kme-1; then
	ok i5b_ready
else
	fail i5b_ready "pools or routes missing"
	qkdnctl -n qkdn1 route
	exit 1
fi

# ---- the whole sequence ------------------------------------------------------

mon_mark_all
supply i5b_key_request_relay_supply 1 1001 sae-a 4 1004 sae-d 4 256
mon_check i5b_monitor_source 1 \
	'received key request sae:sae-a keys 4' \
	'sent key relay request notification controller' \
	'received key relay request controller keys 4' \
	'sent key relay km:kme-2 keys 4' \
	'received key relay completion notification km:kme-4 keys 4' \
	'sent response to key relay request controller' \
	'sent response to key request sae:sae-a keys 4'
mon_check i5b_monitor_kme2 2 \
	'received key relay km:kme-1 keys 4' \
	'sent key relay km:kme-3 keys 4'
mon_check i5b_monitor_kme3 3 \
	'received key relay km:kme-2 keys 4' \
	'sent key relay km:kme-4 keys 4'
mon_check i5b_monitor_destination 4 \
	'received key relay km:kme-3 keys 4' \
	'sent key relay completion notification km:kme-1 keys 4' \
	'received key request with ID sae:sae-d keys 4' \
	'sent response to key request sae:sae-d keys 4'

# Sizes and numbers; from kme-4 and kme-3 (agents) back to kme-1; from
# kme-2, whose kernel the controller serves itself.
for sc in 64:1 1024:16 8192:6 64:128; do
	bits=${sc%:*} num=${sc#*:}
	supply "i5b_a_to_d_${num}x${bits}" 1 1001 sae-a 4 1004 sae-d "$num" "$bits"
done
supply i5b_d_to_a_3x2048 4 1004 sae-d 1 1001 sae-a 3 2048
supply i5b_c_to_a_7x128 3 1003 sae-c 1 1001 sae-a 7 128
mon_mark_all
supply i5b_b_to_d_2x256 2 1002 sae-b 4 1004 sae-d 2 256
mon_check i5b_monitor_source_at_controller_node 2 \
	'received key request sae:sae-b keys 2' \
	'sent key relay request notification controller' \
	'received key relay request controller keys 2' \
	'sent key relay km:kme-3 keys 2' \
	'received key relay completion notification km:kme-4 keys 2' \
	'sent response to key relay request controller' \
	'sent response to key request sae:sae-b keys 2'
check_output i5b_controller_own_node_route \
	'sent "key relay request" ctrl-id [0-9]+: route kme-2 kme-3 kme-4 ' cat "$CLOG"
check_output i5b_controller_agent_route \
	'sent "key relay request" to kme-4 ctrl-id [0-9]+: route kme-4 kme-3 kme-2 kme-1 ' cat "$CLOG"
if [ "$(stat 1 relays_failed)" = 0 ] && [ "$(stat 4 relays_failed)" = 0 ] &&
   [ "$(stat 1 relays_done)" = 5 ]; then
	ok i5b_no_relay_failed
else
	fail i5b_no_relay_failed
	for n in 1 2 3 4; do qkdnctl -n "qkdn$n" node show | grep relays; done
fi

# ---- bad requests --------------------------------------------------------------

mon_mark_all
c1=$(stat 1 relays_started)
refused i5b_too_big_for_one_relay "error E2BIG: too many key bytes to relay in one request" \
	genl 1 1001 get sae-a sae-d 1 --number 7 --sizes 8192
refused i5b_wrong_uid "error EACCES: caller may not act as the master SAE" \
	genl 1 1002 get sae-a sae-d 1
sleep 0.3
if [ "$(stat 1 relays_started)" = "$c1" ] &&
   ! grep -q "relay request notification" <<<"$(mon_msgs 1)" &&
   [ -z "$(mon_msgs 2)$(mon_msgs 3)$(mon_msgs 4)" ]; then
	ok i5b_bad_requests_start_nothing
else
	fail i5b_bad_requests_start_nothing "$(mon_msgs 1)"
fi

# ---- the central controller down ------------------------------------------------

# kme-1's agent answers at once that it cannot reach the controller; kme-1
# ends the request itself and tells no controller; no KM is touched.
alog() {	# alog N: the log of node N's agent
	echo "$TOPO_DIR/logs/controllerd-kme-$1.log"
}
ups() {		# ups N: how often node N's agent got its Cx channel up
	grep -c "kme-2: Cx channel up" "$(alog "$1")"
}
cx_lost() {	# cx_lost N: node N's agent saw its channel go
	grep -q "kme-2 \[.*\]: Cx channel lost" "$(alog "$1")"
}
cx_back() {	# cx_back N COUNT: node N's agent has it up again
	[ "$(ups "$1")" -gt "$2" ]
}
u1=$(ups 1) u3=$(ups 3) u4=$(ups 4)
cpid=$(cat "$TOPO_DIR/run/controllerd-kme-2.pid")
_lib_stop "$cpid"
wait_for 10 cx_lost 1 || echo "# kme-1's agent logged no lost channel"
mon_mark_all
c1=$(stat 1 relays_failed)
refused i5b_central_controller_down \
	"error EHOSTUNREACH: key relay failed at kme-1: QKDN controller kme-2 is not reachable" \
	genl 1 1001 get sae-a sae-d 1 --number 2
mon_check i5b_monitor_source_controller_down 1 \
	'received key request sae:sae-a keys 2' \
	'sent key relay request notification controller' \
	'received key relay request controller errno 113 keys 2' \
	'sent response to key request sae:sae-a errno 113'
if [ "$(stat 1 relays_failed)" = $((c1 + 1)) ] &&
   [ -z "$(mon_msgs 2)$(mon_msgs 3)$(mon_msgs 4)" ]; then
	ok i5b_controller_down_touches_no_km
else
	fail i5b_controller_down_touches_no_km "$(mon_msgs 2)$(mon_msgs 3)$(mon_msgs 4)"
fi
# At the controller's own node nobody routes at all.
refused i5b_controller_node_without_controller \
	"error EHOSTUNREACH: no QKD link to the slave SAE's node, and no QKDN controller to relay" \
	genl 2 1002 get sae-b sae-d 1

# Back: the agents dial it again, relays work.
log="$TEST_DIR/controllerd-kme-2.restarted.log"
daemon_spawn 2 "$log" "$CONTROLLERD" -f -c "$TOPO_DIR/conf/controllerd-kme-2.conf"
_lib_logs+=("$log")
defer _lib_stop "$SPAWN_PID"
# The agents dial again within 2 s, and send their link state; the first
# relays may find no route yet.
if wait_for 20 cx_back 1 "$u1" && wait_for 20 cx_back 3 "$u3" &&
   wait_for 20 cx_back 4 "$u4" &&
   wait_for 20 genl 1 1001 get sae-a sae-d 1 &&
   wait_for 20 genl 4 1004 get sae-d sae-a 1; then
	supply i5b_controller_back 1 1001 sae-a 4 1004 sae-d 2 256
	supply i5b_controller_back_reverse 4 1004 sae-d 1 1001 sae-a 2 256
else
	fail i5b_controller_back "the agents did not get their controller back"
fi
