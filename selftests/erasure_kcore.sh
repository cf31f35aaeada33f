#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Key bytes are erased: once a key has been supplied at both ends of a link
# (master "key request", slave "key request with ID"), and once a link is
# deleted, its bytes are nowhere in RAM, kernel or freed pages alike.
#
# qkdsim runs with a fixed seed, so the test knows every block's bytes
# without ever seeing a key: the keys are fetched with qkdnctl without
# "format", so their bytes only pass through the kernel's netlink replies
# and qkdnctl's buffers. helpers/kcore_scan.c then reads every RAM segment
# of /proc/kcore and looks for the seeded bytes; it computes them itself and
# never holds them in clear, so it cannot find itself. Positive controls
# (bytes still in a pool, a key reserved and not fetched yet) must be found,
# so the test cannot pass by scanning nothing.
#
# timeout: 300

source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/nodes.sh"

require jq setpriv cc

SEED=0x5eedcafe
KEY_BITS=512
KB=$((KEY_BITS / 8))
SCAN=$TEST_DIR/kcore_scan

# "key_ID UUID" lines -> "id UUID id UUID ..."
id_args() {
	awk '$1 == "key_ID" { printf "id %s ", $2 }'
}

# scan OUT NEEDLES...: one pass over RAM, results in $TEST_DIR/OUT
scan() {
	local out=$TEST_DIR/$1

	shift
	"$SCAN" $SEED "$@" >"$out" 2>&1 || {
		echo "# kcore_scan failed:"
		_lib_diag "$(cat "$out")"
		return 1
	}
	grep -v '^#' "$out" | sed 's/^/#   /'
	grep '^#' "$out"
	return 0
}

# field OUT NAME WHAT: the number after WHAT (hits, full) on NAME's line
field() {
	awk -v n="$2" -v w="$3" '$1 == n { for (i = 2; i < NF; i++) if ($i == w) print $(i + 1) }' \
		"$TEST_DIR/$1"
}

# expect_gone OUT TESTNAME NAME...: no NAME was found, not even in part
expect_gone() {
	local out=$1 name=$2 n h bad=

	shift 2
	for n in "$@"; do
		h=$(field "$out" "$n" hits)
		[ "$h" = 0 ] || bad+=" $n: ${h:-no result} hits;"
	done
	if [ -z "$bad" ]; then
		ok "$name"
	else
		fail "$name" "key bytes still in RAM:$bad"
	fi
}

# expect_found OUT TESTNAME NAME MIN [WHAT]: NAME found at least MIN times,
# whole (WHAT full, the default) or in part (WHAT hits)
expect_found() {
	local f what=${5:-full}

	f=$(field "$1" "$3" "$what")
	if [ "${f:-0}" -ge "$4" ]; then
		ok "$2"
	else
		fail "$2" "$3: $what ${f:-0}, expected at least $4"
	fi
}

if ! cc -O2 -o "$SCAN" "$TOP/selftests/helpers/kcore_scan.c" 2>"$TEST_DIR/cc.log"; then
	fail erasure_scanner_built "$(cat "$TEST_DIR/cc.log")"
	exit 1
fi
[ -r /proc/kcore ] || skip "no /proc/kcore"

qkdn_two_nodes --stopped || { fail erasure_setup "two-node set-up failed"; exit 1; }
wait_for 15 link_up 1 && wait_for 15 link_up 2 || {
	fail erasure_setup "Kx channel did not come up"
	exit 1
}
# Blocks 1..8: kme-1 (sorts first) allocates from 2, 4, 6, 8, kme-2 from
# 1, 3, 5, 7; both ends hold all eight.
qkdsim_set 1 seed $SEED
qkdsim_set 1 burst 8
wait_for 20 eval 'pools_agree && pool_own 1 16384 && pool_own 2 16384' || {
	fail erasure_setup "pools not filled: $(pool_json 1) $(pool_json 2)"
	exit 1
}

# Control: a process that held key-like bytes (block 1000, never produced)
# and exited leaves them in freed pages, which the scan must see. It runs
# first, so that the processes that handle keys are the last to exit.
python3 -c 'import sys; sys.path.insert(0, sys.argv[1])
from splitmix import block
open("/dev/null", "wb").write(block(int(sys.argv[2], 0), 1000))' \
	"$TOP/selftests/helpers" $SEED

# Four keys each way, supplied at both ends: kme-1's are the first 4 * 64
# bytes of block 2, kme-2's those of block 1. Then one more key each way,
# reserved and not fetched: the next 64 bytes of those blocks.
m1=$(ctl_as 1 1001 key get master sae-a slave sae-b number 4 size $KEY_BITS)
m2=$(ctl_as 2 1002 key get master sae-b slave sae-a number 4 size $KEY_BITS)
r1=$(ctl_as 1 1001 key get master sae-a slave sae-b size $KEY_BITS)
r2=$(ctl_as 2 1002 key get master sae-b slave sae-a size $KEY_BITS)
wait_for 5 eval '[ "$(pool_json 1 | jq .reserved_keys)" = 5 ] &&
	[ "$(pool_json 2 | jq .reserved_keys)" = 5 ]' ||
	echo "# the reservations did not all arrive"
s2=$(ctl_as 2 1002 key get-by-id master sae-a slave sae-b $(id_args <<<"$m1"))
s1=$(ctl_as 1 1001 key get-by-id master sae-b slave sae-a $(id_args <<<"$m2"))
all="$m1"$'\n'"$m2"$'\n'"$s1"$'\n'"$s2"$'\n'"$r1"$'\n'"$r2"
if [ "$(grep -c '^key_ID [0-9a-f-]\{36\}$' <<<"$all")" = 18 ] &&
   [ "$(wc -l <<<"$all")" = 18 ]; then
	ok erasure_keys_supplied_unprinted
else
	fail erasure_keys_supplied_unprinted "expected 18 key_ID lines and nothing else"
	_lib_diag "$all"
	exit 1
fi

supplied=()
for i in 0 1 2 3; do
	supplied+=("m12_$i:2:$((i * KB)):$KB" "m21_$i:1:$((i * KB)):$KB")
done
names=()
for s in "${supplied[@]}"; do
	names+=("${s%%:*}")
done
controls=("resv12:2:$((4 * KB)):$KB" "resv21:1:$((4 * KB)):$KB"
	  "pool8:8:1024:$KB" "pool7:7:2048:$KB" "freed:1000:0:$KB")

t0=$(_lib_now_ms)
scan scan1 "${supplied[@]}" "${controls[@]}" || exit 1
echo "# scan took $(($(_lib_now_ms) - t0)) ms"
scanned=$(awk '$1 == "scanned" { print $2 }' "$TEST_DIR/scan1")
memtotal=$(awk '$1 == "MemTotal:" { print $2 * 1024 }' /proc/meminfo)
if [ "${scanned:-0}" -ge "$memtotal" ]; then
	ok erasure_scan_covers_ram
else
	fail erasure_scan_covers_ram "scanned ${scanned:-0} bytes, MemTotal is $memtotal"
fi
# Blocks 7 and 8 are in the pools of both ends; the unfetched keys are in
# the slave ends' reservation records.
expect_found scan1 erasure_control_pool_bytes_found pool8 2
expect_found scan1 erasure_control_pool_bytes_found_reverse pool7 2
expect_found scan1 erasure_control_reserved_key_found resv12 1
expect_found scan1 erasure_control_reserved_key_found_reverse resv21 1
expect_found scan1 erasure_control_freed_user_memory_found freed 1 hits
expect_gone scan1 erasure_supplied_keys_gone "${names[@]}"

# Deleting the link erases the pool and the reservations at both ends.
qkdnctl -n qkdn1 link del id 1 && qkdnctl -n qkdn2 link del id 1 ||
	fail erasure_link_del "link del failed"
scan scan2 "${supplied[@]}" "${controls[@]}" || exit 1
expect_gone scan2 erasure_link_del_pool_gone pool8 pool7
expect_gone scan2 erasure_link_del_reserved_keys_gone resv12 resv21
expect_gone scan2 erasure_supplied_keys_still_gone "${names[@]}"
