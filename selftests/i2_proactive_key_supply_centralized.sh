#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.2, proactive key supply, in a centralized QKDN with the
# real daemons: topologies/chain4-central.topo (the QKDN controller in
# kme-2, qkdn-controllerd agents in kme-1, kme-3 and kme-4).  A session
# from an agent's node to the controller's own node (sae-a at kme-1 to
# sae-b at kme-2) and one between two agents' nodes (sae-d at kme-4 to
# sae-c at kme-3): created once the slave application accepts, the master
# gets exactly the keys the slave took, every message of Figure I.2 on the
# monitors in order and in the controller's log; a slave SAE nobody listens
# for, and a controller that is down, refuse the session with clear errors
# and change nothing.
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

# mon_msgs N: "DIR NAME PEER [errno N] [errmsg TEXT] [keys N]" per
# Q.4160 message on node N's monitor since the mark.
mon_msgs() {
	tail -n "+$((MARK[$1] + 1))" "$TEST_DIR/mon-$1" | jq -rR \
		'fromjson? | select(.event == "message") |
		 "\(.msg_dir) \(.msg) \(.msg_peer)" +
		 (if .errno then " errno \(.errno)" else "" end) +
		 (if .errmsg then " errmsg \(.errmsg)" else "" end) +
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

# listen N UID NAME SAE [OPTION...]: helpers/sae_listen.py in node N as
# UID, output in $TEST_DIR/NAME.out, ready; its pid in BG[NAME].
declare -A BG
listen() {
	local n=$1 uid=$2 name=$3

	shift 3
	nsenter --net="/run/netns/qkdn$n" setpriv --reuid="$uid" --regid="$uid" \
		--clear-groups python3 "$H/sae_listen.py" "$@" </dev/null \
		>"$TEST_DIR/$name.out" 2>&1 &
	BG[$name]=$!
	defer _lib_stop "${BG[$name]}"
	wait_for 10 grep -q '^ready$' "$TEST_DIR/$name.out" || {
		echo "# $name did not start:"
		_lib_diag "$(cat "$TEST_DIR/$name.out")"
		return 1
	}
}

master() {	# master N UID ARGS...: qkdn_genl.py session ARGS
	local n=$1 uid=$2

	shift 2
	as "$n" "$uid" python3 "$H/qkdn_genl.py" session "$@"
}

# session NAME MN MUID MASTER SLAVE LISTENER: an accepted session with
# --get 2 --number 4, the slave taking 3 of each 4; the master gets the
# session ID and exactly the keys taken.  Sets SID.
session() {
	local name=$1 mn=$2 mu=$3 ma=$4 sl=$5 lis=$6 out mk sk

	out=$(master "$mn" "$mu" "$ma" "$sl" --get 2 --number 4 2>&1)
	SID=$(awk '$1 == "session" { print $2 }' <<<"$out")
	if [ -z "$SID" ] ||
	   ! grep -q "^session $SID $ma $sl kme-$mn$" "$TEST_DIR/$lis.out"; then
		fail "${name}_created" "$out"
		_lib_diag "$(cat "$TEST_DIR/$lis.out")"
		return
	fi
	ok "${name}_created"
	mk=$(awk 'NF == 3 && $3 == 256 { print $1, $2 }' <<<"$out" | sort)
	sk=$(awk -v s="$SID" '$1 == "key" && $2 == s { print $3, $4 }' \
		"$TEST_DIR/$lis.out" | sort)
	if [ "$(grep -c . <<<"$mk")" = 6 ] && [ "$mk" = "$sk" ]; then
		ok "${name}_keys_taken_only"
	else
		fail "${name}_keys_taken_only" "master [$mk] slave [$sk]"
	fi
}

# The messages of one accepted session, --get 2 --number 4 --take 3.
master_msgs() {	# master_msgs MASTER SLAVENODE
	local s=('received key request with session ID sae:'"$1"' keys 4'
		"sent key supply notification km:$2 keys 4"
		"received response to key supply notification km:$2 keys 3"
		'sent response to key request with session ID sae:'"$1"' keys 3')

	printf '%s\n' "received session creation request sae:$1" \
		'sent session creation request controller' \
		'received response to session creation request controller' \
		"sent response to session creation request sae:$1" \
		"${s[@]}" "${s[@]}"
}
slave_msgs() {	# slave_msgs SLAVE MASTERNODE
	local s=("received key supply notification km:$2 keys 4"
		"sent proactive key supply sae:$1 keys 4"
		"received response to proactive key supply sae:$1"
		"sent response to key supply notification km:$2 keys 3")

	printf '%s\n' 'received session creation notification controller' \
		"sent session creation notification sae:$1" \
		"received response to session creation notification sae:$1" \
		'sent response to session creation notification controller' \
		"${s[@]}" "${s[@]}"
}

# ---- the network ----------------------------------------------------------

[ -x "$TOP/tools/build/qkdn-controllerd" ] || skip "qkdn-controllerd not built"
topo_up "$TOPO/chain4-central.topo" || { fail i2c_topology_up; exit 1; }
ok i2c_topology_up
CLOG=$TOPO_DIR/logs/controllerd-kme-2.log
for n in 1 2 3 4; do
	mon_start "$n"
done
agents_up() {
	local n

	for n in 1 3 4; do
		grep -q "kme-2: Cx channel up" "$TOPO_DIR/logs/controllerd-kme-$n.log" ||
			return 1
	done
}
if wait_for 20 pool_own 1 1 8192 && wait_for 20 pool_own 4 3 8192 &&
   wait_for 20 agents_up; then
	ok i2c_ready
else
	fail i2c_ready "pools or agents missing"
	exit 1
fi

# ---- nobody listens at kme-3 -------------------------------------------------

mon_mark_all
refused i2c_slave_not_listening \
	"error ECONNREFUSED: session refused: kme-3: the slave SAE is not listening" \
	master 4 1004 sae-d sae-c
mon_check i2c_monitor_not_listening_kme4 4 \
	'received session creation request sae:sae-d' \
	'sent session creation request controller' \
	'received response to session creation request controller errno 111 errmsg kme-3: the slave SAE is not listening'
mon_check i2c_monitor_not_listening_kme3 3

# ---- an agent's node to the controller's node ------------------------------------

listen 2 1002 b sae-b --take 3 || exit 1
mon_mark_all
session i2c_kme1_to_kme2 1 1001 sae-a sae-b b
mapfile -t want < <(master_msgs sae-a kme-2)
mon_check i2c_monitor_kme1_order 1 "${want[@]}"
mapfile -t want < <(slave_msgs sae-b kme-1)
mon_check i2c_monitor_kme2_order 2 "${want[@]}"
sleep 0.3
check_output i2c_controller_got_request_from_agent \
	"received \"session creation request\" from kme-1 ctrl-id [0-9]+: master sae-a at kme-1, slave sae-b at kme-2" \
	cat "$CLOG"
check_output i2c_controller_notified_own_kernel \
	"sent \"session creation notification\" session $SID: master sae-a at kme-1, slave sae-b" \
	cat "$CLOG"
check_output i2c_controller_answered_agent \
	"sent \"response to session creation request\" to kme-1 ctrl-id [0-9]+: session $SID" \
	cat "$CLOG"

# ---- between two agents' nodes -----------------------------------------------------

listen 3 1003 c sae-c --take 3 || exit 1
mon_mark_all
session i2c_kme4_to_kme3 4 1004 sae-d sae-c c
mapfile -t want < <(master_msgs sae-d kme-3)
mon_check i2c_monitor_kme4_order 4 "${want[@]}"
mapfile -t want < <(slave_msgs sae-c kme-4)
mon_check i2c_monitor_kme3_order 3 "${want[@]}"
if [ -z "$(mon_msgs 1)$(mon_msgs 2)" ]; then
	ok i2c_other_kms_untouched
else
	fail i2c_other_kms_untouched "$(mon_msgs 1; mon_msgs 2)"
fi
sleep 0.3
check_output i2c_controller_commanded_agent \
	"sent \"session creation notification\" to kme-3 session $SID: master sae-d at kme-4, slave sae-c" \
	cat "$CLOG"

# ---- the controller down ------------------------------------------------------------

nsess=$(grep -c '^session ' "$TEST_DIR/c.out")
_lib_stop "$(cat "$TOPO_DIR/run/controllerd-kme-2.pid")"
lost() {
	grep -q "kme-2 .*Cx channel lost" "$TOPO_DIR/logs/controllerd-kme-4.log"
}
wait_for 10 lost || echo "# kme-4's agent logged no lost channel"
mon_mark_all
refused i2c_controller_down_refused \
	"error EHOSTUNREACH: session refused: QKDN controller kme-2 is not reachable" \
	master 4 1004 sae-d sae-c
mon_check i2c_monitor_controller_down_kme4 4 \
	'received session creation request sae:sae-d' \
	'sent session creation request controller' \
	'received response to session creation request controller errno 113 errmsg QKDN controller kme-2 is not reachable'
sleep 0.3
if [ -z "$(mon_msgs 3)" ] &&
   [ "$(grep -c '^session ' "$TEST_DIR/c.out")" = "$nsess" ]; then
	ok i2c_controller_down_slave_untouched
else
	fail i2c_controller_down_slave_untouched "$(mon_msgs 3)"
fi
# At the controller's own node, nobody creates sessions at all.
refused i2c_controller_node_without_controller \
	"error EHOSTUNREACH: no QKDN controller to create the session" \
	master 2 1002 sae-b sae-a
