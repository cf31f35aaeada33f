#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The in-kernel consumer API (kernel/qkdn_consumer.h) through its test
# module qkdn_ctest: a kernel consumer as master SAE gets keys that the
# slave SAE's application gets by ID at the other node, the same bytes
# (compared by SHA-256: the module never shows key bytes); a kernel
# consumer as slave SAE gets the master's keys by ID, once; the wrong SAE,
# bad arguments and an empty pool are refused with nothing taken; qkdn
# cannot be unloaded while a consumer is loaded, and the consumer's keys
# go with it.
#
# timeout: 240

source "$(dirname "$0")/lib.sh"

CTL=/sys/kernel/debug/qkdn_ctest/ctl

# as N UID ARGS...: qkdnctl in node N as uid UID (an SAE's application).
as() {
	local n=$1 uid=$2

	shift 2
	in_ns "$n" setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		"$QKDNCTL" "$@"
}

# ctest N CMD...: a command to the test module from node N; prints its
# answer ("ok N" and "ID SHA256" lines, or "err ERRNO REASON").
ctest() {
	local n=$1

	shift
	in_ns "$n" sh -c "echo '$*' > $CTL && cat $CTL"
}

pool_own() {
	qkdnctl -j -n "qkdn$1" pool show id 1 | jq -r '.[0].own_bytes'
}

pool_enough() {
	[ "$(pool_own "$1")" -ge "$2" ]
}

# Key counters that a refused request must leave as they were.
pool_state() {
	echo "$(qkdnctl -j -n "qkdn$1" pool show id 1 | jq -c '.[0].reserved_keys')" \
		"$(qkdnctl -j -n "qkdn$1" link show id 1 |
			jq -c '.[0].stats | [.keys_reserved, .keys_supplied]')"
}

# The SHA-256 of the bytes a hex string on stdin stands for.
sha_hex() {
	python3 -c 'import hashlib, sys
print(hashlib.sha256(bytes.fromhex(sys.stdin.read().strip())).hexdigest())'
}

# expect_err NAME ERRNO TEXT N CMD...: the module's answer is that error,
# and node N's pool counters did not move.
expect_err() {
	local name=$1 errno=$2 text=$3 n=$4 before out

	shift 4
	before=$(pool_state "$n")
	out=$(ctest "$n" "$@")
	if [[ "$out" == "err $errno "*"$text"* ]] &&
		[ "$(pool_state "$n")" = "$before" ]; then
		ok "$name"
	else
		fail "$name" "$out (pool $before -> $(pool_state "$n"))"
	fi
}

qkdn_two_nodes || { fail consumer_setup "two-node set-up failed"; exit 1; }
wait_for 20 pool_enough 1 8192 && wait_for 20 pool_enough 2 8192 ||
	{ fail consumer_setup "pools did not fill"; exit 1; }
[ -d /sys/module/qkdn_ctest ] || insmod "$TOP/kernel/qkdn_ctest.ko" ||
	{ fail consumer_setup "insmod qkdn_ctest"; exit 1; }
defer rmmod qkdn_ctest
ok consumer_setup

# A kernel consumer as the master SAE (uid 1001 is sae-a's) at kme-1.
out=$(ctest 1 get 1001 sae-a sae-b 2 256)
if [[ "$out" == "ok 2"* ]]; then
	ok consumer_get_keys
else
	fail consumer_get_keys "$out"
fi
ids=$(echo "$out" | awk 'NR > 1 { print $1 }')
sums=$(echo "$out" | awk 'NR > 1 { print $2 }')
args=$(for i in $ids; do echo -n "id $i "; done)

# The slave SAE's application gets the same keys by ID at kme-2.
# shellcheck disable=SC2086
got=$(as 2 1002 -j key get-by-id master sae-a slave sae-b $args format hex)
mine=$(echo "$got" | jq -r '.keys[].key' | while read -r k; do
	echo "$k" | sha_hex; done)
if [ -n "$sums" ] && [ "$mine" = "$sums" ]; then
	ok consumer_master_keys_reach_slave
else
	fail consumer_master_keys_reach_slave "module $sums, slave $mine"
fi

# The other way: the application is the master, the consumer the slave.
out=$(as 2 1002 -j key get master sae-b slave sae-a number 3 size 512 format hex)
ids=$(echo "$out" | jq -r '.keys[].key_ID' | tr '\n' ' ')
want=$(echo "$out" | jq -r '.keys[].key' | while read -r k; do
	echo "$k" | sha_hex; done)
# shellcheck disable=SC2086
got=$(ctest 1 byid 1001 sae-b sae-a $ids)
if [[ "$got" == "ok 3"* ]] &&
	[ "$(echo "$got" | awk 'NR > 1 { print $2 }')" = "$want" ]; then
	ok consumer_get_keys_by_id
else
	fail consumer_get_keys_by_id "got $got want $want"
fi
# shellcheck disable=SC2086
expect_err consumer_by_id_once 2 "unknown or already supplied" 1 \
	byid 1001 sae-b sae-a $ids
first=${ids%% *}

# The wrong SAE, bad arguments: refused, nothing taken.
expect_err consumer_wrong_master_uid 13 "may not act as the master SAE" 1 \
	get 1002 sae-a sae-b 1 256
expect_err consumer_master_not_local 13 "may not act as the master SAE" 1 \
	get 1001 sae-b sae-a 1 256
expect_err consumer_slave_local 95 "served by this node" 1 \
	get 1001 sae-a sae-a 1 256
expect_err consumer_unknown_sae 2 "no such SAE" 1 get 1001 sae-a sae-z 1 256
expect_err consumer_bad_id 22 "ID must be" 1 get 1001 'sae/a' sae-b 1 256
expect_err consumer_zero_keys 22 "out of range" 1 get 1001 sae-a sae-b 0 256
expect_err consumer_too_many_keys 22 "out of range" 1 \
	get 1001 sae-a sae-b 129 256
expect_err consumer_size_not_multiple 22 "multiple of 8" 1 \
	get 1001 sae-a sae-b 1 260
expect_err consumer_size_too_big 22 "multiple of 8" 1 \
	get 1001 sae-a sae-b 1 8200
expect_err consumer_wrong_slave_uid 13 "may not act as the slave SAE" 2 \
	byid 1001 sae-a sae-b "$first"
# An unknown ID might still be on its way: ENOENT after the wait, and
# EWOULDBLOCK at once with nowait.
expect_err consumer_unknown_id 2 "unknown or already supplied" 2 \
	byid 1002 sae-a sae-b 00000000-0000-4000-8000-000000000000
expect_err consumer_unknown_id_nowait 11 "would wait" 2 \
	byid 1002 sae-a sae-b 00000000-0000-4000-8000-000000000000 nowait
expect_err consumer_repeated_id 22 "repeated" 1 \
	byid 1001 sae-b sae-a "$first" "$first"

# An empty pool: ENOSPC and the pool as it was. The pool is capped at
# 8 KiB, then drained by requests of 128 KiB.
qkdnctl -n qkdn1 link set id 1 capacity 8192 ||
	fail consumer_pool_capacity "link set"
for _ in $(seq 64); do
	out=$(ctest 1 get 1001 sae-a sae-b 128 8192)
	ctest 1 put >/dev/null
	[[ "$out" == err* ]] && break
done
expect_err consumer_pool_empty 28 "not enough key" 1 \
	get 1001 sae-a sae-b 128 8192

# Unloading qkdn while a consumer holds keys is refused; the consumer's
# own unload releases (and erases) them.
if rmmod qkdn 2>/dev/null; then
	fail consumer_rmmod_qkdn_refused "qkdn unloaded under its consumer"
	exit 1
fi
ok consumer_rmmod_qkdn_refused
if rmmod qkdn_ctest && [ ! -d /sys/module/qkdn_ctest ]; then
	ok consumer_rmmod_consumer_holding_keys
else
	fail consumer_rmmod_consumer_holding_keys
fi
insmod "$TOP/kernel/qkdn_ctest.ko" && out=$(ctest 1 put) && [ "$out" = "ok 0" ] &&
	ok consumer_reload || fail consumer_reload "$out"
