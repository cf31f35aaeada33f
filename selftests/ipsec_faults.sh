#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# IPsec keyed from QKD (kernel/ipsec.c) when things go wrong:
#
#  1. The link daemon of the initiator's node stops for 8 s while a ping
#     runs through the tunnel, and starts again: rekeys fail meanwhile
#     (reported), the SAs in place carry the ping, no packet meets a
#     missing SA at either end, and the tunnel is up again after.
#  2. The administrator flushes the initiator's SAs: reported, and the
#     initiator rekeys at once; and its policies: put back.
#  3. A tunnel configured only at the initiator, and one configured with a
#     different key size at the responder: each rekey is refused by the
#     responder with its reason, the tunnel stays down, and the keys the
#     initiator reserved are erased at the responder, not left waiting;
#     the retries back off.
#
# timeout: 300

source "$(dirname "$0")/lib.sh"

qkdn_two_nodes || { fail ipsec_faults_setup "two-node set-up failed"; exit 1; }
# shellcheck source=selftests/helpers/ipsec.sh
source "$(dirname "$0")/helpers/ipsec.sh"
ipsec_nodes lifetime 60 || { fail ipsec_faults_setup "tunnel set-up failed"; exit 1; }
"$QKDNCTL" -j -n qkdn1 monitor >"$TEST_DIR/mon1" 2>&1 </dev/null &
defer kill $!
wait_for 20 ipsec_up 1 && wait_for 5 ipsec_up 2 ||
	{ fail ipsec_faults_setup "tunnel not up"; exit 1; }
ok ipsec_faults_setup

# field_gt N FIELD VALUE: tunnel 1's FIELD at node N is above VALUE.
field_gt() {
	[ "$(ipsec_field "$1" "$2")" -gt "$3" ]
}

no_states() {
	in_ns "$1" awk '/XfrmInNoStates|XfrmInStateProtoError/ { printf "%s=%s ", $1, $2 }' \
		/proc/net/xfrm_stat
}

# ---- 1. the Kx channel goes away and comes back ----------------------------

e1=$(no_states 1)
e2=$(no_states 2)
r0=$(ipsec_field 1 rekeys)
in_ns 1 ping -q -c 80 -i 0.25 -W 1 -I 10.99.1.1 10.99.2.1 >"$TEST_DIR/ping" 2>&1 &
pingpid=$!
sleep 2
_lib_stop "${LINKD_PID[1]}"
sleep 8
f=$(ipsec_field 1 failures)
linkd_start 1 "$TEST_DIR/linkd-1.conf" || fail ipsec_faults_linkd_restart
wait $pingpid
echo "# $(grep -E 'packets|rtt' "$TEST_DIR/ping")"
[ "$f" -gt 0 ] && ok ipsec_faults_kx_down_rekeys_fail ||
	fail ipsec_faults_kx_down_rekeys_fail "failures $f"
grep -q ' 0% packet loss' "$TEST_DIR/ping" && ok ipsec_faults_kx_down_traffic_flows ||
	fail ipsec_faults_kx_down_traffic_flows "$(cat "$TEST_DIR/ping")"
if wait_for 20 ipsec_up 1 && wait_for 5 ipsec_up 2 &&
	wait_for 10 field_gt 1 rekeys $((r0 + 1)); then
	ok ipsec_faults_kx_back_rekeys_again
else
	fail ipsec_faults_kx_back_rekeys_again "$(qkdnctl -j -n qkdn1 ipsec show)"
fi
check ipsec_faults_kx_back_traffic in_ns 1 ping -c 2 -W 2 -I 10.99.1.1 10.99.2.1
if [ "$(no_states 1)" = "$e1" ] && [ "$(no_states 2)" = "$e2" ]; then
	ok ipsec_faults_kx_down_no_mismatch
else
	fail ipsec_faults_kx_down_no_mismatch \
		"kme-1 $e1 -> $(no_states 1); kme-2 $e2 -> $(no_states 2)"
fi

# ---- 2. the administrator flushes the SAs ----------------------------------

g0=$(ipsec_field 1 gen)
in_ns 1 ip xfrm state flush
if wait_for 5 grep -q ipsec-expired "$TEST_DIR/mon1" &&
	wait_for 5 field_gt 1 gen "$g0" && wait_for 5 ipsec_up 1; then
	ok ipsec_faults_flush_reported_and_rekeyed
else
	fail ipsec_faults_flush_reported_and_rekeyed \
		"gen $g0 -> $(ipsec_field 1 gen); $(grep ipsec "$TEST_DIR/mon1" | tail -2)"
fi
check ipsec_faults_flush_traffic_again in_ns 1 ping -c 2 -W 2 -I 10.99.1.1 10.99.2.1

# The policies flushed: without them traffic would leave in the clear.
# The module puts them back.
policies() {
	in_ns 1 ip xfrm policy | grep -c '^src'
}

policies_back() {
	[ "$(policies)" -eq 3 ]
}

in_ns 1 ip xfrm policy flush
if wait_for 5 policies_back; then
	ok ipsec_faults_policy_flush_put_back
else
	fail ipsec_faults_policy_flush_put_back "$(in_ns 1 ip xfrm policy)"
fi
check ipsec_faults_policy_flush_traffic in_ns 1 ping -c 2 -W 2 -I 10.99.1.1 10.99.2.1

# ---- 3. the responder refuses ----------------------------------------------

reserved2() {
	qkdnctl -j -n qkdn2 pool show id 1 | jq '.[0].reserved_keys'
}

field2() {
	qkdnctl -j -n qkdn1 ipsec show id 2 | jq -r ".[0].$1"
}

field2_ge() {
	[ "$(field2 "$1")" -ge "$2" ]
}

field2_is() {
	[ "$(field2 "$1")" = "$2" ]
}

reserved2_none() {
	[ "$(reserved2)" -eq 0 ]
}

refused_by_responder() {
	local name=$1 text=$2

	if wait_for 25 field2_ge failures 2 &&
		[[ "$(field2 error)" == *"$text"* ]] &&
		[ "$(field2 state)" = down ] && [ "$(field2 gen)" = 0 ]; then
		ok "$name"
	else
		fail "$name" "$(qkdnctl -j -n qkdn1 ipsec show id 2)"
	fi
	# The responder erased the keys of each refused rekey.
	if wait_for 5 reserved2_none; then
		ok "${name}_keys_erased"
	else
		fail "${name}_keys_erased" "kme-2 holds $(reserved2) reserved keys"
	fi
}

qkdnctl -n qkdn1 ipsec add id 2 peer kme-2 master ipsec-a slave ipsec-b \
	local 10.77.1.1 remote 10.77.1.2 src 10.97.1.0/24 dst 10.97.2.0/24 \
	rekey 1 || fail ipsec_faults_one_sided_setup
refused_by_responder ipsec_faults_one_sided "no IPsec tunnel with this ID"

qkdnctl -n qkdn2 ipsec add id 2 peer kme-1 master ipsec-a slave ipsec-b \
	local 10.77.1.2 remote 10.77.1.1 src 10.97.2.0/24 dst 10.97.1.0/24 \
	rekey 1 key-bits 128 || fail ipsec_faults_mismatch_setup
f0=$(field2 failures)
wait_for 25 field2_ge failures $((f0 + 2))
refused_by_responder ipsec_faults_key_size_mismatch "differ at the responder"

# Configured alike, tunnel 2 comes up.
qkdnctl -n qkdn2 ipsec del id 2
qkdnctl -n qkdn2 ipsec add id 2 peer kme-1 master ipsec-a slave ipsec-b \
	local 10.77.1.2 remote 10.77.1.1 src 10.97.2.0/24 dst 10.97.1.0/24 \
	rekey 1 || fail ipsec_faults_fixed_setup
wait_for 20 field2_is state up && ok ipsec_faults_fixed_comes_up ||
	fail ipsec_faults_fixed_comes_up "$(qkdnctl -j -n qkdn1 ipsec show id 2)"
