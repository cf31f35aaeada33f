#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The key type "qkdn" (kernel/keytype.c, Documentation/keyring.md): keyctl
# as sae-a's uid at kme-1 gets a new key, which sae-b's application gets by
# ID at kme-2 (the same bytes), and a key by ID the other way; only the
# SAE's uid reads the bytes, root included; revocation erases them (found
# in RAM before, not after, through /proc/kcore as erasure_kcore.sh does)
# and expiry makes them unreadable; bad descriptions, the wrong uid, an
# unknown SAE and a second request of an ID are refused with nothing
# taken; keys of one network namespace are not found from another; and a
# kernel service gets keys through request_key() (qkdn_ctest's "keyring").
#
# Each keyctl command runs in a session keyring of its own. A key is
# opened to every uid at the keyring level (setperm 0x3f3f3f3f), so that
# only the key type decides who reads its bytes, and linked into its
# owner's user keyring (@u) to outlive the session.
#
# timeout: 400

source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/nodes.sh"

require jq setpriv keyctl cc od

SEED=0x5eedcafe
SCAN=$TEST_DIR/kcore_scan
CTL=/sys/kernel/debug/qkdn_ctest/ctl
DA="master=sae-a slave=sae-b"

# kr N UID SCRIPT [ARGS...]: sh -c SCRIPT as uid UID in node N, in a new
# session keyring; ARGS are its $1...
kr() {
	local n=$1 uid=$2 script=$3

	shift 3
	as "$n" "$uid" keyctl session - sh -c "$script" sh "$@"
}

# kr_new N UID DESC: a "qkdn" key by request_key(), open to all at the
# keyring level and linked into @u; prints its serial (errors on stderr).
kr_new() {
	kr "$1" "$2" 'k=$(keyctl request2 qkdn "$1" "" @s) &&
		keyctl setperm "$k" 0x3f3f3f3f && keyctl link "$k" @u &&
		echo "$k"' "$3" 2>"$TEST_DIR/kr.err"
}

# kr_err: what the last kr_new printed on stderr, the session line aside.
kr_err() {
	grep -v '^Joined session keyring' "$TEST_DIR/kr.err"
}

# kr_hex N UID SERIAL: the key's bytes as read by uid UID in node N, hex.
kr_hex() {
	as "$1" "$2" keyctl pipe "$3" | od -An -v -tx1 | tr -d ' \n'
}

# kid SERIAL: the key ID the key shows in /proc/keys.
kid() {
	awk -v s="$(printf %08x "$1")" '$1 == s' /proc/keys |
		grep -o 'key [0-9a-f-]\{36\}' | cut -d' ' -f2
}

# Key counters that a refused request must leave as they were.
pool_state() {
	echo "$(pool_json "$1" | jq -c '.reserved_keys')" \
		"$(link_json "$1" | jq -c '.stats | [.keys_reserved, .keys_supplied]')"
}

# expect_refused NAME TEXT N UID DESC: kr_new fails with TEXT (strerror)
# in node N, and the node's counters did not move.
expect_refused() {
	local name=$1 text=$2 n=$3 uid=$4 desc=$5 before out

	before=$(pool_state "$n")
	if out=$(kr_new "$n" "$uid" "$desc"); then
		fail "$name" "'$desc' gave key $out"
	elif ! kr_err | grep -q "$text"; then
		fail "$name" "'$desc': $(kr_err), expected $text"
	elif [ "$(pool_state "$n")" != "$before" ]; then
		fail "$name" "pool $before -> $(pool_state "$n")"
	else
		ok "$name"
	fi
}

# ctest N CMD...: a command to qkdn_ctest from node N, and its answer.
ctest() {
	local n=$1

	shift
	in_ns "$n" sh -c "echo '$*' > $CTL && cat $CTL"
}

sha_hex() {
	python3 -c 'import hashlib, sys
print(hashlib.sha256(bytes.fromhex(sys.stdin.read().strip())).hexdigest())'
}

# scan OUT NEEDLES...: one pass of kcore_scan over RAM, into $TEST_DIR/OUT
scan() {
	local out=$TEST_DIR/$1

	shift
	"$SCAN" $SEED "$@" >"$out" 2>&1 || {
		echo "# kcore_scan failed:"
		_lib_diag "$(cat "$out")"
		return 1
	}
	grep -v '^#' "$out" | sed 's/^/#   /'
}

# field OUT NAME WHAT: the number after WHAT (hits, full) on NAME's line
field() {
	awk -v n="$2" -v w="$3" '$1 == n { for (i = 2; i < NF; i++) if ($i == w) print $(i + 1) }' \
		"$TEST_DIR/$1"
}

cc -O2 -o "$SCAN" "$TOP/selftests/helpers/kcore_scan.c" ||
	{ fail keyring_setup "kcore_scan does not build"; exit 1; }
[ -r /proc/kcore ] || skip "no /proc/kcore"
[ -r /proc/keys ] ||
	skip "no /proc/keys"

# Seeded pools, as in erasure_kcore.sh: kme-1 allocates from blocks 2, 4,
# 6, 8, so its first key is the first bytes of block 2.
qkdn_two_nodes --stopped || { fail keyring_setup "two-node set-up failed"; exit 1; }
wait_for 15 link_up 1 && wait_for 15 link_up 2 ||
	{ fail keyring_setup "Kx channel did not come up"; exit 1; }
qkdsim_set 1 seed $SEED
qkdsim_set 1 burst 8
wait_for 20 eval 'pools_agree && pool_own 1 16384 && pool_own 2 16384' ||
	{ fail keyring_setup "pools not filled"; exit 1; }
ok keyring_setup

# --- revocation erases ----------------------------------------------------

# A 512-bit key at kme-1 and the same key by ID at kme-2, never read: the
# bytes are in the two payloads only.
k1=$(kr_new 1 1001 "$DA bits=512")
id1=$(kid "$k1")
k2=$(kr_new 2 1002 "id=$id1 $DA")
if [ -n "$k1" ] && [ -n "$id1" ] && [ -n "$k2" ] &&
	[ "$(kid "$k2")" = "$id1" ]; then
	ok keyring_new_key_and_by_id
else
	fail keyring_new_key_and_by_id "k1 '$k1' id '$id1' k2 '$k2': $(kr_err)"
fi
needle="kr12:2:0:64"
scan scan1 "$needle" || exit 1
full=$(field scan1 kr12 full)
if [ "${full:-0}" -ge 2 ]; then
	ok keyring_control_payloads_found
else
	fail keyring_control_payloads_found "found ${full:-0} times, expected 2"
fi
keyctl revoke "$k1" && keyctl revoke "$k2" || fail keyring_revoke "keyctl revoke"
out=$(as 1 1001 keyctl pipe "$k1" 2>&1 >/dev/null)
if [[ "$out" == *"Key has been revoked"* ]]; then
	ok keyring_revoked_unreadable
else
	fail keyring_revoked_unreadable "$out"
fi
sleep 1	# the payloads are freed after an RCU grace period
scan scan2 "$needle" || exit 1
hits=$(field scan2 kr12 hits)
if [ "${hits:-x}" = 0 ]; then
	ok keyring_revoke_erases
else
	fail keyring_revoke_erases "key bytes still in RAM: ${hits:-no result} hits"
fi

# --- who reads --------------------------------------------------------------

k=$(kr_new 1 1001 "$DA")
mine=$(kr_hex 1 1001 "$k")
id=$(kid "$k")
theirs=$(ctl_as 2 1002 -j key get-by-id master sae-a slave sae-b id "$id" \
	format hex | jq -r '.keys[0].key')
if [ ${#mine} = 64 ] && [ "$mine" = "$theirs" ]; then
	ok keyring_master_reads_slave_gets_same
else
	fail keyring_master_reads_slave_gets_same "id '$id' master '$mine' slave '$theirs'"
fi
out=$(as 1 1002 keyctl pipe "$k" 2>&1 >/dev/null)
if [[ "$out" == *"Permission denied"* ]]; then
	ok keyring_other_uid_eacces
else
	fail keyring_other_uid_eacces "$out"
fi
out=$(in_ns 1 keyctl pipe "$k" 2>&1 >/dev/null)
if [[ "$out" == *"Permission denied"* ]]; then
	ok keyring_root_eacces
else
	fail keyring_root_eacces "$out"
fi
line=$(awk -v s="$(printf %08x "$k")" '$1 == s' /proc/keys)
if [[ "$line" == *"qkdn"*"$DA: key $id 256 bits" ]] && [[ "$line" != *"$mine"* ]]; then
	ok keyring_describe
else
	fail keyring_describe "$line"
fi
keyctl timeout "$k" 1
sleep 2
out=$(as 1 1001 keyctl pipe "$k" 2>&1 >/dev/null)
if [[ "$out" == *"expired"* ]] || [[ "$out" == *"not available"* ]]; then
	ok keyring_expired_unreadable
else
	fail keyring_expired_unreadable "$out"
fi

# A key by ID: sae-b's application is the master at kme-2, sae-a gets the
# key with keyctl at kme-1, once.
got=$(ctl_as 2 1002 -j key get master sae-b slave sae-a format hex)
bid=$(jq -r '.keys[0].key_ID' <<<"$got")
bkey=$(jq -r '.keys[0].key' <<<"$got")
DB="id=$bid master=sae-b slave=sae-a"
k=$(kr_new 1 1001 "$DB")
if [ -n "$k" ] && [ "$(kr_hex 1 1001 "$k")" = "$bkey" ]; then
	ok keyring_by_id_same_bytes
else
	fail keyring_by_id_same_bytes "key '$k': $(kr_err)"
fi
out=$(as 1 1002 keyctl pipe "$k" 2>&1 >/dev/null)
[[ "$out" == *"Permission denied"* ]] && ok keyring_by_id_master_uid_eacces ||
	fail keyring_by_id_master_uid_eacces "$out"
expect_refused keyring_by_id_once "No such file or directory" 1 1001 "$DB"

# request_key() finds a key already in the caller's keyrings; add_key()
# always takes a new one.
out=$(kr 1 1001 'a=$(keyctl request2 qkdn "$1" "" @s) &&
	b=$(keyctl request2 qkdn "$1" "" @s) &&
	c=$(keyctl add qkdn "$1" "" @s) && d=$(keyctl add qkdn "$1" "" @s) &&
	echo "$a $b $c $d"' "$DA" 2>/dev/null)
read -r a b c d <<<"$out"
if [ -n "$d" ] && [ "$a" = "$b" ] && [ "$c" != "$a" ] && [ "$d" != "$c" ]; then
	ok keyring_request_finds_add_takes_new
else
	fail keyring_request_finds_add_takes_new "'$out'"
fi
out=$(kr 1 1001 'keyctl add qkdn "$1" data @s' "$DA" 2>&1)
[[ "$out" == *"Invalid argument"* ]] && ok keyring_add_payload_refused ||
	fail keyring_add_payload_refused "$out"

# --- refusals: nothing taken ------------------------------------------------

long=sae-$(printf 'x%.0s' $(seq 64))
expect_refused keyring_desc_empty "Invalid argument" 1 1001 ""
expect_refused keyring_desc_no_slave "Invalid argument" 1 1001 "master=sae-a"
expect_refused keyring_desc_unknown_word "Invalid argument" 1 1001 "$DA colour=blue"
expect_refused keyring_desc_word_without_value "Invalid argument" 1 1001 "$DA bits"
expect_refused keyring_desc_double_space "Invalid argument" 1 1001 "master=sae-a  slave=sae-b"
expect_refused keyring_desc_duplicate "Invalid argument" 1 1001 "$DA master=sae-a"
expect_refused keyring_desc_bits_not_number "Invalid argument" 1 1001 "$DA bits=25x"
expect_refused keyring_desc_bits_signed "Invalid argument" 1 1001 "$DA bits=+256"
expect_refused keyring_desc_bits_not_multiple "Invalid argument" 1 1001 "$DA bits=260"
expect_refused keyring_desc_bits_too_big "Invalid argument" 1 1001 "$DA bits=16384"
expect_refused keyring_desc_bad_uuid "Invalid argument" 1 1001 \
	"id=3d0f8a52-6f2b-4c4e-9a55-1f0c2b7d9e1 master=sae-b slave=sae-a"
expect_refused keyring_desc_id_and_bits "Invalid argument" 1 1001 "$DB bits=256"
expect_refused keyring_desc_oversized_sae "Invalid argument" 1 1001 "master=$long slave=sae-b"
expect_refused keyring_desc_bad_sae "Invalid argument" 1 1001 "master=sae/a slave=sae-b"
expect_refused keyring_wrong_uid "Permission denied" 1 1002 "$DA"
expect_refused keyring_unknown_sae "No such file or directory" 1 1001 "master=sae-a slave=sae-z"
expect_refused keyring_unknown_id "No such file or directory" 2 1002 \
	"id=00000000-0000-4000-8000-000000000000 $DA"
# A refusal is not remembered: the right uid gets the key at once.
if k=$(kr_new 1 1001 "$DA bits=128") && [ -n "$(kid "$k")" ]; then
	ok keyring_refusal_not_cached
else
	fail keyring_refusal_not_cached "$(kr_err)"
fi

# --- network namespaces -----------------------------------------------------

# The key just taken at kme-1 is in uid 1001's user keyring, which every
# namespace shares, but only kme-1's namespace finds it.
out=$(as 1 1001 keyctl search @u qkdn "$DA bits=128" 2>&1)
[ "$out" = "$k" ] && ok keyring_netns_found_at_home ||
	fail keyring_netns_found_at_home "$out"
out=$(as 2 1001 keyctl search @u qkdn "$DA bits=128" 2>&1)
[[ "$out" == *"Required key not available"* ]] && ok keyring_netns_not_found_elsewhere ||
	fail keyring_netns_not_found_elsewhere "$out"
# The initial namespace has no node: no such SAE.
out=$(setpriv --reuid=1001 --regid=1001 --clear-groups keyctl session - \
	keyctl request2 qkdn "$DA" "" @s 2>&1)
[[ "$out" == *"No such file or directory"* ]] && ok keyring_netns_without_node ||
	fail keyring_netns_without_node "$out"

# --- request_key() in the kernel --------------------------------------------

[ -d /sys/module/qkdn_ctest ] || insmod "$TOP/kernel/qkdn_ctest.ko" ||
	{ fail keyring_kernel_setup "insmod qkdn_ctest"; exit 1; }
defer rmmod qkdn_ctest
out=$(ctest 1 keyring 1001 master=sae-a slave=sae-b bits=384)
id=$(awk 'NR == 2 { print $1 }' <<<"$out")
sum=$(awk 'NR == 2 { print $2 }' <<<"$out")
mine=$(ctl_as 2 1002 -j key get-by-id master sae-a slave sae-b id "$id" \
	format hex | jq -r '.keys[0].key' | sha_hex)
if [[ "$out" == "ok 1"* ]] && [ "$mine" = "$sum" ]; then
	ok keyring_kernel_request_key
else
	fail keyring_kernel_request_key "module '$out', slave '$mine'"
fi
out2=$(ctest 1 keyring 1001 master=sae-a slave=sae-b bits=384)
[ "$out2" = "$out" ] && ok keyring_kernel_request_key_finds_held ||
	fail keyring_kernel_request_key_finds_held "$out2"
got=$(ctl_as 2 1002 -j key get master sae-b slave sae-a format hex)
bid=$(jq -r '.keys[0].key_ID' <<<"$got")
want=$(jq -r '.keys[0].key' <<<"$got" | sha_hex)
out=$(ctest 1 keyring 1001 id="$bid" master=sae-b slave=sae-a)
if [ "$out" = "ok 1"$'\n'"$bid $want" ]; then
	ok keyring_kernel_request_key_by_id
else
	fail keyring_kernel_request_key_by_id "'$out', want $bid $want"
fi
before=$(pool_state 1)
out=$(ctest 1 keyring 1002 master=sae-a slave=sae-b bits=512)
[[ "$out" == "err 13 "* ]] && [ "$(pool_state 1)" = "$before" ] &&
	ok keyring_kernel_wrong_uid || fail keyring_kernel_wrong_uid "$out"
out=$(ctest 1 keyring 1001 master=sae-a slave=sae-b bits=7)
[[ "$out" == "err 22 "* ]] && ok keyring_kernel_bad_desc ||
	fail keyring_kernel_bad_desc "$out"
