#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proactive key supply (Q.4160 I.2) in the kernel, between two nodes, with
# a controller of fixed answers for both (helpers/ctrl_static.py --peer)
# and the slave SAE's application (helpers/sae_listen.py): the session is
# created only when the slave SAE accepts; keys reach the master SAE only
# after the slave SAE took them, the same bytes, and only those it took;
# refusals and silence fail cleanly.
#
# timeout: 240

source "$(dirname "$0")/lib.sh"

H="$TOP/selftests/helpers"

# bg_as N UID LOG CMD...: CMD in node N as UID in the background.
bg_as() {
	local n=$1 uid=$2 log=$3

	shift 3
	nsenter --net="/run/netns/qkdn$n" setpriv --reuid="$uid" \
		--regid="$uid" --clear-groups "$@" >"$log" 2>&1 &
	BG_PID=$!
	defer _lib_stop "$BG_PID"
}

as_py() {
	local n=$1 uid=$2

	shift 2
	in_ns "$n" setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		python3 "$H/qkdn_genl.py" "$@"
}

pool_own() {
	qkdnctl -j -n "qkdn$1" pool show id 1 | jq -e ".[0].own_bytes >= $2" >/dev/null
}

qkdn_two_nodes || { fail session_setup "two-node set-up failed"; exit 1; }
qkdsim_set 1 burst 32
wait_for 20 pool_own 1 8000 || { fail session_setup "pool"; exit 1; }

# No controller: a clear error.
out=$(as_py 1 1001 session sae-a sae-b 2>&1)
case "$out" in
*"no QKDN controller"*) ok session_no_controller ;;
*) fail session_no_controller "$out" ;;
esac

nsenter --net=/run/netns/qkdn1 python3 "$H/ctrl_static.py" --peer qkdn2 \
	--log "$TEST_DIR/ctrl.log" >"$TEST_DIR/ctrl.out" 2>&1 &
defer _lib_stop $!
wait_for 10 grep -q ready "$TEST_DIR/ctrl.out" || { cat "$TEST_DIR/ctrl.out"; exit 1; }

# Nobody listens for sae-b: the session is refused.
out=$(as_py 1 1001 session sae-a sae-b 2>&1)
case "$out" in
*"not listening"*) ok session_slave_not_listening ;;
*) fail session_slave_not_listening "$out" ;;
esac

# Only sae-b's uid may listen for it.
out=$(in_ns 2 setpriv --reuid=1001 --regid=1001 --clear-groups \
	python3 "$H/sae_listen.py" sae-b 2>&1)
case "$out" in
*EACCES*) ok session_listen_wrong_uid ;;
*) fail session_listen_wrong_uid "$out" ;;
esac

# The slave SAE refuses.
bg_as 2 1002 "$TEST_DIR/refuse.out" python3 "$H/sae_listen.py" sae-b --refuse 1
wait_for 10 grep -q ready "$TEST_DIR/refuse.out" || { cat "$TEST_DIR/refuse.out"; exit 1; }
out=$(as_py 1 1001 session sae-a sae-b 2>&1)
case "$out" in
*"refused"*) ok session_refused ;;
*) fail session_refused "$out" ;;
esac
_lib_stop "$BG_PID"

# Accepted; the slave takes 3 of every 4 keys supplied.
bg_as 2 1002 "$TEST_DIR/slave.out" python3 "$H/sae_listen.py" sae-b --take 3
wait_for 10 grep -q ready "$TEST_DIR/slave.out" || { cat "$TEST_DIR/slave.out"; exit 1; }
"$QKDNCTL" -n qkdn1 monitor >"$TEST_DIR/mon1" 2>&1 &
defer kill $!
"$QKDNCTL" -n qkdn2 monitor >"$TEST_DIR/mon2" 2>&1 &
defer kill $!
sleep 0.5
out=$(as_py 1 1001 session sae-a sae-b --get 2 --number 4 2>&1)
sid=$(echo "$out" | awk '/^session/ {print $2}')
if [ -n "$sid" ] && grep -q "^session $sid sae-a sae-b kme-1" "$TEST_DIR/slave.out"; then
	ok session_created
else
	fail session_created "$out"
	cat "$TEST_DIR/slave.out" "$TEST_DIR/ctrl.log"
	exit 1
fi
master=$(echo "$out" | awk 'NF == 3 && $3 == 256 {print $1, $2}' | sort)
slave=$(awk -v s="$sid" '$1 == "key" && $2 == s {print $3, $4}' "$TEST_DIR/slave.out" | sort)
n=$(echo "$master" | grep -c .)
if [ "$n" -eq 6 ] && [ "$master" = "$slave" ]; then
	ok session_same_keys_taken_only
else
	fail session_same_keys_taken_only "master [$master] slave [$slave]"
fi
sleep 0.5
cat "$TEST_DIR/mon1" "$TEST_DIR/mon2"
