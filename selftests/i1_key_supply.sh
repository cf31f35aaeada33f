#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.1, key supply upon request, end to end across two nodes:
# the master SAE on kme-1 gets keys from its KM ("key request" ->
# "response to key request"), the slave SAE on kme-2 gets the same bytes by
# ID from its own KM ("key request with ID"), the KMs keeping each other in
# step through qkdn-linkd over TLS.

source "$(dirname "$0")/lib.sh"

SEED=0x5eed
# kme-1 sorts first: it allocates from even blocks, kme-2 from odd ones.

# as N UID ARGS...: qkdnctl in node N as uid UID (an SAE's application).
as() {
	local n=$1 uid=$2

	shift 2
	in_ns "$n" setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		"$QKDNCTL" "$@"
}

pool_own() {
	qkdnctl -j -n "qkdn$1" pool show id 1 | jq -e ".[0].own_bytes >= $2" >/dev/null
}

link_up() {
	qkdnctl -j -n "qkdn$1" link show id 1 | jq -e '.[0].up == true or .[0].state == "up"' >/dev/null
}

# keys JSON -> "id hex" lines, sorted by id
pairs() {
	jq -r '.keys[] | "\(.key_ID) \(.key)"' | sort
}

qkdn_two_nodes --stopped || { fail i1_setup "two-node set-up failed"; exit 1; }
"$QKDNCTL" -n qkdn1 monitor >"$TEST_DIR/mon1" 2>&1 &
defer kill $!
"$QKDNCTL" -n qkdn2 monitor >"$TEST_DIR/mon2" 2>&1 &
defer kill $!

if wait_for 15 link_up 1 && wait_for 15 link_up 2; then
	ok i1_link_up
else
	fail i1_link_up "Kx channel did not come up"
	qkdnctl -n qkdn1 link show
	exit 1
fi

qkdsim_set 1 seed $SEED
qkdsim_set 1 burst 96
if wait_for 15 pool_own 1 180000 && wait_for 15 pool_own 2 180000; then
	ok i1_pools_filled
else
	fail i1_pools_filled
	qkdnctl -n qkdn1 pool show; qkdnctl -n qkdn2 pool show
	qkdnctl -n qkdn1 link show; qkdnctl -n qkdn2 link show
	exit 1
fi

# The first key kme-1 hands out is the start of block 2; kme-2's of block 1.
out=$(as 1 1001 -j key get master sae-a slave sae-b size 256 format hex)
got=$(echo "$out" | jq -r '.keys[0].key')
want=$("$TOP/selftests/helpers/splitmix.py" $SEED 2 0 32)
if [ "$got" = "$want" ]; then
	ok i1_seeded_bytes_master
else
	fail i1_seeded_bytes_master "got $got want $want"
fi
id=$(echo "$out" | jq -r '.keys[0].key_ID')
got2=$(as 2 1002 -j key get-by-id master sae-a slave sae-b id "$id" format hex |
	jq -r '.keys[0].key')
[ "$got2" = "$want" ] && ok i1_seeded_bytes_slave ||
	fail i1_seeded_bytes_slave "got $got2 want $want"

out=$(as 2 1002 -j key get master sae-b slave sae-a size 128 format hex)
want=$("$TOP/selftests/helpers/splitmix.py" $SEED 1 0 16)
[ "$(echo "$out" | jq -r '.keys[0].key')" = "$want" ] &&
	ok i1_seeded_bytes_reverse || fail i1_seeded_bytes_reverse

# Several sizes and counts, both directions: identical bytes at both ends.
bad=0
for sc in 64:1 256:2 1024:16 8192:4 256:128 72:3; do
	size=${sc%:*} num=${sc#*:}
	for dir in "1 1001 sae-a 2 1002 sae-b" "2 1002 sae-b 1 1001 sae-a"; do
		set -- $dir
		m=$(as "$1" "$2" -j key get master "$3" slave "$6" number "$num" \
			size "$size" format hex) || { bad=1; echo "# get $sc $dir failed"; continue; }
		ids=$(echo "$m" | jq -r '.keys[] | "id \(.key_ID)"')
		s=$(as "$4" "$5" -j key get-by-id master "$3" slave "$6" $ids \
			format hex) || { bad=1; echo "# get-by-id $sc $dir failed"; continue; }
		n=$(echo "$m" | jq '.keys | length')
		len=$(echo "$m" | jq -r '.keys[0].key | length')
		if [ "$n" != "$num" ] || [ "$len" != $((size / 4)) ] ||
		   [ "$(echo "$m" | pairs)" != "$(echo "$s" | pairs)" ]; then
			bad=1
			echo "# mismatch for size $size number $num ($dir)"
		fi
	done
done
[ $bad -eq 0 ] && ok i1_sizes_and_counts_match || fail i1_sizes_and_counts_match

# A key ID is supplied once.
m=$(as 1 1001 -j key get master sae-a slave sae-b)
id=$(echo "$m" | jq -r '.keys[0].key_ID')
check i1_get_by_id_first as 2 1002 key get-by-id master sae-a slave sae-b id "$id"
out=$(as 2 1002 key get-by-id master sae-a slave sae-b id "$id" 2>&1)
rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "unknown or already supplied" &&
	ok i1_supplied_once || fail i1_supplied_once "rc $rc: $out"

# Keys for (sae-a, sae-b) are never given to another SAE.
qkdnctl -n qkdn2 sae add id sae-c uid 1003
qkdnctl -n qkdn1 sae add id sae-c node kme-2
m=$(as 1 1001 -j key get master sae-a slave sae-b)
id=$(echo "$m" | jq -r '.keys[0].key_ID')
out=$(as 2 1003 key get-by-id master sae-a slave sae-c id "$id" 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "another SAE pair" &&
	ok i1_other_sae_pair_refused || fail i1_other_sae_pair_refused "$out"
out=$(as 2 1003 key get-by-id master sae-a slave sae-b id "$id" 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "may not act as the slave SAE" &&
	ok i1_other_uid_refused || fail i1_other_uid_refused "$out"
out=$(qkdnctl -n qkdn2 key get-by-id master sae-a slave sae-b id "$id" 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -q "may not act as the slave SAE" &&
	ok i1_root_refused || fail i1_root_refused "$out"
check i1_entitled_slave_still_gets_it \
	as 2 1002 key get-by-id master sae-a slave sae-b id "$id"

# The procedure's messages, in order, on the monitors.
sleep 0.5
grep -q "keys-reserved" "$TEST_DIR/mon1" && ok i1_monitor_reserved ||
	fail i1_monitor_reserved "$(head -5 "$TEST_DIR/mon1")"
order=$(grep -o -m2 -E "keys-(received|supplied)" "$TEST_DIR/mon2" | tr '\n' ' ')
[ "$order" = "keys-received keys-supplied " ] && ok i1_monitor_order ||
	fail i1_monitor_order "saw: $order"
if grep -qiE "[0-9a-f]{64}" "$TEST_DIR/mon1" "$TEST_DIR/mon2"; then
	fail i1_monitor_no_key_bytes
else
	ok i1_monitor_no_key_bytes
fi
