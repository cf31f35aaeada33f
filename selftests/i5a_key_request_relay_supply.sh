#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.5a, key request, key relay and key supply in a distributed
# QKDN, as the applications see it, with the real daemons on
# topologies/chain4.topo (kme-1 - kme-2 - kme-3 - kme-4, a qkdn-linkd and a
# qkdn-controllerd in every node): the source application's "key request"
# is answered only after the relay completed, the destination application's
# "key request with ID" gets the same bytes at once; several key sizes and
# numbers, both directions and another pair of nodes; a request that does
# not fit one relay, from the wrong uid or with bad sizes is refused and
# starts nothing; with an intermediate node's controller down, then the
# source's, the request fails with a clear error and nothing reaches the
# destination; with the controllers back, relays work again.
#
# timeout: 480

source "$(dirname "$0")/lib.sh"

require jq setpriv

H=$TOP/selftests/helpers
CONTROLLERD=${CONTROLLERD:-$TOP/tools/build/qkdn-controllerd}

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

route_has() {	# route_has N DST
	qkdnctl -j -n "qkdn$1" route |
		jq -e --arg d "$2" 'any(.[]; .dst_node_id == $d)' >/dev/null
}

# stat N NAME: node N's counter NAME.
stat() {
	qkdnctl -j -n "qkdn$1" node show | jq -r ".stats.$2"
}

MARK=()
mon_start() {
	"$QKDNCTL" -j -n "qkdn$1" monitor >"$TEST_DIR/mon-$1" 2>&1 &
	defer _lib_stop $!
	MARK[$1]=0
}

mon_mark() {
	MARK[$1]=$(wc -l <"$TEST_DIR/mon-$1")
}

# mon_msgs N: the Q.4160 messages on node N's monitor since its mark,
# "DIR NAME PEER [errno N] [keys N]" a line.
mon_msgs() {
	tail -n "+$((MARK[$1] + 1))" "$TEST_DIR/mon-$1" | jq -rR \
		'fromjson? | select(.event == "message") |
		 "\(.msg_dir) \(.msg) \(.msg_peer)" +
		 (if .errno then " errno \(.errno)" else "" end) +
		 (if .key_count then " keys \(.key_count)" else "" end)'
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

mon_mark_all() {
	local n

	sleep 0.3	# what is on its way to the monitors
	for n in 1 2 3 4; do
		mon_mark "$n"
	done
}

# genl N UID ARGS...: helpers/qkdn_genl.py in node N as UID; errors are
# printed as "error ERRNO: MESSAGE".
genl() {
	local n=$1 uid=$2

	shift 2
	as "$n" "$uid" python3 "$H/qkdn_genl.py" "$@"
}

# genl_stdin FILE N UID ARGS...: genl with FILE as its input.
genl_stdin() {
	local f=$1

	shift
	genl "$@" <"$f"
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

# ctrl_stop N: stop node N's qkdn-controllerd.
ctrl_stop() {
	local pid

	pid=$(cat "$TOPO_DIR/run/controllerd-kme-$1.pid") && _lib_stop "$pid"
}

# ctrl_restart N: a qkdn-controllerd in node N again, as qkdn-topo made it.
ctrl_restart() {
	local log="$TEST_DIR/controllerd-kme-$1.restarted.log"

	daemon_spawn "$1" "$log" "$CONTROLLERD" -f \
		-c "$TOPO_DIR/conf/controllerd-kme-$1.conf"
	_lib_logs+=("$log")
	defer _lib_stop "$SPAWN_PID"
}

# ---- the network ----------------------------------------------------------

[ -x "$CONTROLLERD" ] || skip "qkdn-controllerd not built"
topo_up "$TOPO/chain4.topo" || { fail i5a_topology_up; exit 1; }
ok i5a_topology_up
for n in 1 2 3 4; do
	mon_start "$n"
done
if wait_for 20 pool_own 1 1 16384 && wait_for 20 pool_own 2 2 16384 &&
   wait_for 20 pool_own 3 3 16384 && wait_for 20 pool_own 4 3 16384 &&
   wait_for 20 pool_own 3 2 16384 && wait_for 20 route_has 1 kme-4 &&
   wait_for 20 route_has 4 kme-1 && wait_for 20 route_has 2 kme-4; then
	ok i5a_ready
else
	fail i5a_ready "pools or routes missing"
	qkdnctl -n qkdn1 route
	exit 1
fi

# ---- the whole sequence, as the applications see it -----------------------

mon_mark_all
started=$(stat 1 relays_started)
supply i5a_key_request_relay_supply 1 1001 sae-a 4 1004 sae-d 4 256
# The source application's answer comes after the completion notification;
# the destination application's request needs no wait and no other KM.
mon_check i5a_monitor_source 1 \
	'received key request sae:sae-a keys 4' \
	'sent key relay next hop request controller' \
	'received response to key relay next hop request controller keys 4' \
	'sent key relay km:kme-2 keys 4' \
	'received key relay completion notification km:kme-4 keys 4' \
	'sent response to key request sae:sae-a keys 4'
mon_check i5a_monitor_destination 4 \
	'received key relay km:kme-3 keys 4' \
	'sent key relay completion notification km:kme-1 keys 4' \
	'received key request with ID sae:sae-d keys 4' \
	'sent response to key request sae:sae-d keys 4'

# Sizes and numbers, kme-1 -> kme-4, back, and kme-2 -> kme-4.
for sc in 64:1 72:3 1024:16 8192:6 64:128; do
	bits=${sc%:*} num=${sc#*:}
	supply "i5a_a_to_d_${num}x${bits}" 1 1001 sae-a 4 1004 sae-d "$num" "$bits"
done
for sc in 128:2 4096:8; do
	bits=${sc%:*} num=${sc#*:}
	supply "i5a_d_to_a_${num}x${bits}" 4 1004 sae-d 1 1001 sae-a "$num" "$bits"
done
supply i5a_b_to_d_5x512 2 1002 sae-b 4 1004 sae-d 5 512
# Each went as a relay from kme-1 (six of them), none failed.
now=$(stat 1 relays_started)
if [ $((now - started)) -eq 6 ] && [ "$(stat 1 relays_failed)" = 0 ]; then
	ok i5a_all_relayed
else
	fail i5a_all_relayed "relays started at kme-1: $started -> $now, failed $(stat 1 relays_failed)"
fi
# A neighbour's SAE is served over the link (I.1), not relayed.
before=$(stat 1 relays_started)
supply i5a_neighbour_direct 1 1001 sae-a 2 1002 sae-b 2 256
if [ "$(stat 1 relays_started)" = "$before" ]; then
	ok i5a_neighbour_not_relayed
else
	fail i5a_neighbour_not_relayed
fi

# ---- bad requests: refused, nothing started --------------------------------

mon_mark_all
before=$(stat 1 relays_started)
refused i5a_too_big_for_one_relay "error E2BIG: too many key bytes to relay in one request" \
	genl 1 1001 get sae-a sae-d 1 --number 7 --sizes 8192
refused i5a_wrong_uid "error EACCES: caller may not act as the master SAE" \
	genl 1 1004 get sae-a sae-d 1 --number 4
refused i5a_root_not_master "caller may not act as the master SAE" \
	qkdnctl -n qkdn1 key get master sae-a slave sae-d
refused i5a_size_not_bytes "error EINVAL: key size shall be a multiple of 8" \
	genl 1 1001 get sae-a sae-d 1 --sizes 100
refused i5a_too_many_keys "error ERANGE" \
	genl 1 1001 get sae-a sae-d 1 --number 129
refused i5a_unknown_slave "error ENOENT" \
	genl 1 1001 get sae-a sae-x 1
if [ "$(stat 1 relays_started)" = "$before" ]; then
	ok i5a_bad_requests_start_nothing
else
	fail i5a_bad_requests_start_nothing "relays started $before -> $(stat 1 relays_started)"
fi
msgs=$(for n in 2 3 4; do mon_msgs "$n"; done)
if [ -z "$msgs" ]; then
	ok i5a_bad_requests_reach_no_other_km
else
	fail i5a_bad_requests_reach_no_other_km "$msgs"
fi
# The slave SAE: an ID twice in one request.
id=$(cat /proc/sys/kernel/random/uuid)
printf '%s\n%s\n' "$id" "$id" >"$TEST_DIR/ids"
refused i5a_id_repeated "error EINVAL: key ID repeated" \
	genl_stdin "$TEST_DIR/ids" 4 1004 get-by-id sae-a sae-d

# ---- a QKDN controller down -------------------------------------------------

# kme-3's controller stops: the relay gets as far as kme-3, which cannot
# route it; kme-1's application gets that reason, kme-4 gets nothing.
ctrl_stop 3
mon_mark_all
ended=$(stat 4 relays_ended)
failed=$(stat 1 relays_failed)
refused i5a_intermediate_controller_down \
	"error EHOSTUNREACH: key relay failed at kme-3: no QKDN controller to route the key relay" \
	genl 1 1001 get sae-a sae-d 1 --number 4
mon_check i5a_monitor_source_failed 1 \
	'received key request sae:sae-a keys 4' \
	'sent key relay next hop request controller' \
	'received response to key relay next hop request controller keys 4' \
	'sent key relay km:kme-2 keys 4' \
	'received key relay completion notification km:kme-3 errno 113 keys 4' \
	'sent response to key request sae:sae-a errno 113'
mon_check i5a_monitor_kme3_failed 3 \
	'received key relay km:kme-2 keys 4' \
	'sent key relay completion notification km:kme-1 errno 113 keys 4'
if [ "$(stat 4 relays_ended)" = "$ended" ] && [ -z "$(mon_msgs 4)" ] &&
   [ "$(stat 1 relays_failed)" = $((failed + 1)) ]; then
	ok i5a_nothing_reached_destination
else
	fail i5a_nothing_reached_destination "kme-4 relays ended $ended -> $(stat 4 relays_ended); kme-1 failed $failed -> $(stat 1 relays_failed)"
fi

# kme-1's own controller stops too: no relay can start.
ctrl_stop 1
before=$(stat 1 relays_started)
refused i5a_source_controller_down \
	"error EHOSTUNREACH: no QKD link to the slave SAE's node, and no QKDN controller to relay" \
	genl 1 1001 get sae-a sae-d 1 --number 4
if [ "$(stat 1 relays_started)" = "$before" ]; then
	ok i5a_source_controller_down_starts_nothing
else
	fail i5a_source_controller_down_starts_nothing
fi

# Both back: relays work again.
ctrl_restart 3
ctrl_restart 1
# Each learns the others' link state again over Cx; the first relays may
# find no route yet.
if wait_for 20 route_has 3 kme-4 && wait_for 20 route_has 1 kme-4 &&
   wait_for 20 route_has 3 kme-1 &&
   wait_for 20 genl 1 1001 get sae-a sae-d 1; then
	supply i5a_controllers_back 1 1001 sae-a 4 1004 sae-d 2 256
else
	fail i5a_controllers_back "no routes at kme-1 or kme-3"
fi
