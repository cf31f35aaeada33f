#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Key relay in the kernel across a chain of three nodes, steered by a
# controller with fixed answers (helpers/ctrl_static.py) so that each case
# is exact: the key reaches an SAE with no QKD link to the source, the
# same bytes at both ends; each hop spends the pad and the MAC from its
# pool; the kernel's Ck errors (no controller, a controller that does not
# answer, one that has no route, one that answers with a bad route).
#
# timeout: 300

source "$(dirname "$0")/lib.sh"

CTRL="$TOP/selftests/helpers/ctrl_static.py"

as() {
	local n=$1 uid=$2

	shift 2
	in_ns "$n" setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		"$QKDNCTL" "$@"
}

link_up() {
	qkdnctl -j -n "qkdn$1" link show id "$2" | jq -e '.[0].up == true' >/dev/null
}

pool_own() {
	qkdnctl -j -n "qkdn$1" pool show id "$2" | jq -e ".[0].own_bytes >= $3" >/dev/null
}

# ctrl_start N ARGS...: a fixed-answer controller in node N.
ctrl_start() {
	local n=$1 log="$TEST_DIR/ctrl-$1.log"

	shift
	nsenter --net="/run/netns/qkdn$n" python3 "$CTRL" \
		--log "$TEST_DIR/ctrl-$n.req" "$@" >"$log" 2>&1 &
	CTRL_PID[n]=$!
	defer _lib_stop "${CTRL_PID[n]}"
	wait_for 10 grep -q ready "$log" || { cat "$log"; return 1; }
}

ctrl_stop() {
	_lib_stop "${CTRL_PID[$1]}"
}

stat_of() {	# stat_of NODE LINK NAME
	qkdnctl -j -n "qkdn$1" link show id "$2" | jq -r ".[0].stats.$3"
}

c="$TEST_DIR/certs"
nodes_create 3 || { fail relay_setup "nodes"; exit 1; }
for i in 1 2 3; do
	qkdnctl -n "qkdn$i" node set id "kme-$i" || exit 1
done
qkdsim_new 1 1 && qkdsim_new 1 2 && qkdsim_new 2 2 && qkdsim_new 2 3 || exit 1
qkdnctl -n qkdn1 link add id 1 peer kme-2 device qkdsim1 &&
qkdnctl -n qkdn2 link add id 1 peer kme-1 device qkdsim1 &&
qkdnctl -n qkdn2 link add id 2 peer kme-3 device qkdsim2 &&
qkdnctl -n qkdn3 link add id 2 peer kme-2 device qkdsim2 || exit 1
qkdnctl -n qkdn1 sae add id sae-a uid 1001 &&
qkdnctl -n qkdn1 sae add id sae-c node kme-3 &&
qkdnctl -n qkdn3 sae add id sae-c uid 1003 &&
qkdnctl -n qkdn3 sae add id sae-a node kme-1 &&
qkdnctl -n qkdn2 sae add id sae-c node kme-3 || exit 1

certs_make "$c" kme-1 kme-2 kme-3 || exit 1
linkd_conf "$TEST_DIR/l1.conf" "listen = 10.77.1.1:7400" \
	"cert = $c/kme-1.crt" "key = $c/kme-1.key" "ca = $c/ca.crt" \
	"peer kme-2 = 10.77.1.2:7400"
linkd_conf "$TEST_DIR/l2.conf" "listen = 0.0.0.0:7400" \
	"cert = $c/kme-2.crt" "key = $c/kme-2.key" "ca = $c/ca.crt" \
	"peer kme-3 = 10.77.2.2:7400"
linkd_conf "$TEST_DIR/l3.conf" "listen = 10.77.2.2:7400" \
	"cert = $c/kme-3.crt" "key = $c/kme-3.key" "ca = $c/ca.crt"
for i in 1 2 3; do
	linkd_start $i "$TEST_DIR/l$i.conf" || exit 1
done
qkdnctl -n qkdn1 link set id 1 running on && qkdnctl -n qkdn2 link set id 1 running on &&
qkdnctl -n qkdn2 link set id 2 running on && qkdnctl -n qkdn3 link set id 2 running on || exit 1
qkdsim_set 1 burst 32
qkdsim_set 2 burst 32
if wait_for 20 link_up 1 1 && wait_for 20 link_up 2 2 &&
   wait_for 20 pool_own 1 1 20000 && wait_for 20 pool_own 2 2 20000; then
	ok relay_chain_up
else
	fail relay_chain_up
	qkdnctl -n qkdn2 link show
	exit 1
fi

# No controller: a clear error, nothing taken.
own1=$(qkdnctl -j -n qkdn1 pool show id 1 | jq .[0].own_bytes)
check_fails relay_no_controller \
	as 1 1001 key get master sae-a slave sae-c
out=$(as 1 1001 key get master sae-a slave sae-c 2>&1)
case "$out" in
*"no QKDN controller"*) ok relay_no_controller_message ;;
*) fail relay_no_controller_message "$out" ;;
esac

# A controller that never answers: the request times out, nothing taken.
ctrl_start 1 --silent || exit 1
out=$(as 1 1001 key get master sae-a slave sae-c 2>&1)
case "$out" in
*"controller did not answer"*) ok relay_controller_timeout ;;
*) fail relay_controller_timeout "$out" ;;
esac
own1b=$(qkdnctl -j -n qkdn1 pool show id 1 | jq .[0].own_bytes)
[ "$own1b" -ge "$own1" ] && ok relay_timeout_takes_nothing ||
	fail relay_timeout_takes_nothing "$own1 -> $own1b"
ctrl_stop 1

# A controller with no route: its message reaches the application.
ctrl_start 1 --error "113:no route to kme-3 in this test" || exit 1
out=$(as 1 1001 key get master sae-a slave sae-c 2>&1)
case "$out" in
*"no route to kme-3 in this test"*) ok relay_controller_no_route ;;
*) fail relay_controller_no_route "$out" ;;
esac
ctrl_stop 1

# The relay: kme-1 -> kme-2 -> kme-3, the next hop asked at each hop.
ctrl_start 1 kme-3=kme-2 || exit 1
ctrl_start 2 kme-3=kme-3 || exit 1
"$QKDNCTL" -n qkdn1 monitor >"$TEST_DIR/mon1" 2>&1 &
defer kill $!
"$QKDNCTL" -n qkdn3 monitor >"$TEST_DIR/mon3" 2>&1 &
defer kill $!
sleep 0.5
tx0=$(stat_of 2 2 relay_pad_bytes)
out=$(as 1 1001 -j key get master sae-a slave sae-c number 4 size 256 format hex)
if [ -n "$out" ] && echo "$out" | jq -e '.keys | length == 4' >/dev/null; then
	ok relay_key_get
else
	fail relay_key_get "$out"
	cat "$TEST_DIR"/ctrl-*.req
	exit 1
fi
ids=$(echo "$out" | jq -r '.keys[].key_ID' | sed 's/^/id /' | tr '\n' ' ')
# shellcheck disable=SC2086 # ids is a word list
got=$(as 3 1003 -j key get-by-id master sae-a slave sae-c $ids format hex)
if [ "$(echo "$out" | jq -c '[.keys[] | [.key_ID, .key]] | sort')" = \
     "$(echo "$got" | jq -c '[.keys[] | [.key_ID, .key]] | sort')" ]; then
	ok relay_same_bytes_both_ends
else
	fail relay_same_bytes_both_ends "$out / $got"
fi
# shellcheck disable=SC2086
check_fails relay_key_once as 3 1003 key get-by-id master sae-a slave sae-c $ids

tx1=$(stat_of 2 2 relay_pad_bytes)
mac=$(stat_of 2 2 relay_mac_bytes)
if [ $((tx1 - tx0)) -eq 128 ] && [ "$mac" -ge 16 ] && [ "$mac" -le 32 ]; then
	ok relay_hop_spends_pad_and_mac
else
	fail relay_hop_spends_pad_and_mac "pad $tx0 -> $tx1, mac $mac"
fi
cat "$TEST_DIR/mon1" "$TEST_DIR/mon3"
