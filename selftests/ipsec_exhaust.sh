#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# IPsec keyed from QKD when the key pool runs out (kernel/ipsec.c): the
# QKD modules stop and an application drains kme-1's pool.
#
#  - on-exhaust keep: the failed rekey is reported on the monitor; the SAs
#    in place carry traffic until their hard lifetime, then the tunnel
#    drops traffic (reported too); when keys return, new SAs, traffic again.
#  - on-exhaust drop: at the first failed rekey both nodes delete the SAs;
#    when keys return, new SAs, traffic again.
#
# timeout: 300

source "$(dirname "$0")/lib.sh"

qkdn_two_nodes || { fail ipsec_exhaust_setup "two-node set-up failed"; exit 1; }
# shellcheck source=selftests/helpers/ipsec.sh
source "$(dirname "$0")/helpers/ipsec.sh"
ipsec_nodes lifetime 6 || { fail ipsec_exhaust_setup "tunnel set-up failed"; exit 1; }
for n in 1 2; do
	"$QKDNCTL" -j -n "qkdn$n" monitor >"$TEST_DIR/mon$n" 2>&1 </dev/null &
	defer kill $!
done
wait_for 20 ipsec_up 1 && wait_for 5 ipsec_up 2 ||
	{ fail ipsec_exhaust_setup "tunnel not up"; exit 1; }
ok ipsec_exhaust_setup

ping_ok() {
	in_ns 1 ping -c 2 -i 0.3 -W 1 -I 10.99.1.1 10.99.2.1
}

ping_fails() {
	! in_ns 1 ping -c 2 -i 0.3 -W 1 -I 10.99.1.1 10.99.2.1
}

qkd() {
	qkdnctl -n qkdn1 link set id 1 running "$1" &&
		qkdnctl -n qkdn2 link set id 1 running "$1"
}

own_bytes() {
	qkdnctl -j -n qkdn1 pool show id 1 | jq '.[0].own_bytes'
}

# Takes all of kme-1's key as the application sae-a, until not even 8
# bytes are left (the tunnel's own rekeys may take some meanwhile).
drain() {
	local i own

	for ((i = 0; i < 10; i++)); do
		own=$(own_bytes)
		[ "$own" -lt 8 ] && break
		in_ns 1 setpriv --reuid=1001 --regid=1001 --clear-groups \
			python3 "$TOP/selftests/helpers/qkdn_genl.py" drain \
			sae-a sae-b $((own - own % 8)) >/dev/null 2>&1
	done
	echo "# kme-1 own bytes after draining: $(own_bytes)"
}

# ---- keep ------------------------------------------------------------------

check ipsec_exhaust_keep_traffic_before ping_ok
qkd off
drain
if wait_for 10 ipsec_state_is 1 stale; then
	ok ipsec_exhaust_keep_stale
else
	fail ipsec_exhaust_keep_stale "$(qkdnctl -j -n qkdn1 ipsec show)"
fi
check ipsec_exhaust_keep_traffic_flows ping_ok
if grep -q 'ipsec-failed' "$TEST_DIR/mon1" &&
	grep 'ipsec-failed' "$TEST_DIR/mon1" | grep -q 'not enough key'; then
	ok ipsec_exhaust_keep_reported
else
	fail ipsec_exhaust_keep_reported "$(grep ipsec "$TEST_DIR/mon1" | tail -3)"
fi
if wait_for 15 ipsec_state_is 1 down && wait_for 5 ipsec_state_is 2 down; then
	ok ipsec_exhaust_keep_hard_lifetime
else
	fail ipsec_exhaust_keep_hard_lifetime \
		"$(qkdnctl -j -n qkdn1 ipsec show; qkdnctl -j -n qkdn2 ipsec show)"
fi
check ipsec_exhaust_keep_then_drops ping_fails
grep -q 'ipsec-expired' "$TEST_DIR/mon1" && ok ipsec_exhaust_keep_expiry_reported ||
	fail ipsec_exhaust_keep_expiry_reported "$(grep ipsec "$TEST_DIR/mon1" | tail -3)"

qkd on
if wait_for 30 ipsec_up 1 && wait_for 5 ipsec_up 2; then
	ok ipsec_exhaust_keep_recovers
else
	fail ipsec_exhaust_keep_recovers "$(qkdnctl -j -n qkdn1 ipsec show)"
fi
check ipsec_exhaust_keep_traffic_again ping_ok

# ---- drop ------------------------------------------------------------------

qkdnctl -n qkdn1 ipsec del id 1 && qkdnctl -n qkdn2 ipsec del id 1 &&
	ipsec_add lifetime 6 on-exhaust drop ||
	{ fail ipsec_exhaust_drop_setup "re-adding the tunnel failed"; exit 1; }
wait_for 20 ipsec_up 1 && wait_for 5 ipsec_up 2 && ping_ok >/dev/null &&
	ok ipsec_exhaust_drop_setup || fail ipsec_exhaust_drop_setup
: >"$TEST_DIR/mon2"
qkd off
drain
if wait_for 10 ipsec_state_is 1 down && wait_for 5 ipsec_state_is 2 down; then
	ok ipsec_exhaust_drop_down_at_both
else
	fail ipsec_exhaust_drop_down_at_both \
		"$(qkdnctl -j -n qkdn1 ipsec show; qkdnctl -j -n qkdn2 ipsec show)"
fi
if [ -z "$(in_ns 1 ip xfrm state)" ] && [ -z "$(in_ns 2 ip xfrm state)" ]; then
	ok ipsec_exhaust_drop_no_sa_left
else
	fail ipsec_exhaust_drop_no_sa_left "$(in_ns 1 ip xfrm state; in_ns 2 ip xfrm state)"
fi
check ipsec_exhaust_drop_drops ping_fails
grep -q 'ipsec-failed' "$TEST_DIR/mon2" && ok ipsec_exhaust_drop_reported_at_responder ||
	fail ipsec_exhaust_drop_reported_at_responder "$(tail -3 "$TEST_DIR/mon2")"

qkd on
if wait_for 30 ipsec_up 1 && wait_for 5 ipsec_up 2; then
	ok ipsec_exhaust_drop_recovers
else
	fail ipsec_exhaust_drop_recovers "$(qkdnctl -j -n qkdn1 ipsec show)"
fi
check ipsec_exhaust_drop_traffic_again ping_ok
