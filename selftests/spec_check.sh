#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The netlink contract agrees with itself: selftests/spec_check.py checks
# Documentation/netlink/specs/qkdn.yaml against uapi/linux/qkdn.h and the
# kernel's policy, ops table and messages in kernel/netlink.c (one TAP line
# per group of checks).  Then the checker is checked: on copies with one
# deliberate disagreement each, it must fail.  A mutation whose pattern is
# no longer in the source is skipped, not failed.
#
# Needs python3 and python3-yaml, no module: it runs on the host too
# (bash selftests/spec_check.sh).  Exit 0 when everything passed.

cd "$(dirname "$0")/.." || exit 1

KSFT_SKIP=4
SPEC=Documentation/netlink/specs/qkdn.yaml
HEADER=uapi/linux/qkdn.h
KERNEL=kernel/netlink.c
IPSEC=kernel/ipsec.c

if ! command -v python3 >/dev/null; then
	echo "# SKIP python3 is not installed"
	exit $KSFT_SKIP
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
	echo "# SKIP python3-yaml is not installed"
	exit $KSFT_SKIP
fi

n=0
failed=0

# The other kernel files with handlers, messages or policies of the family
# (ipsec.c: the nested policy of the ipsec attribute and its ranges).
MORE="kernel/key.c kernel/ctrl.c kernel/relay.c kernel/session.c kernel/ipsec.c"

# kargs DIR: --kernel arguments for the kernel files in DIR.
kargs() {
	local f

	echo "--kernel $1/$(basename "$KERNEL")"
	for f in $MORE; do
		echo "--kernel $1/$(basename "$f")"
	done
}

# shellcheck disable=SC2046 # word splitting is meant
out=$(python3 selftests/spec_check.py --spec "$SPEC" --header "$HEADER" \
	$(kargs "$(dirname "$KERNEL")"))
rc=$?
while IFS= read -r line; do
	case "$line" in
	"1.."*) ;;
	"ok "*) n=$((n + 1)); echo "$line" ;;
	"not ok "*) n=$((n + 1)); failed=$((failed + 1)); echo "$line" ;;
	*) echo "$line" ;;
	esac
done <<<"$out"
if [ $rc -ne 0 ] && [ $failed -eq 0 ]; then
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok - spec_check.py exited with status $rc"
fi

TMP=$(mktemp -d /tmp/qkdn-spec.XXXXXX) || exit 1
trap 'rm -rf "$TMP"' EXIT

# mutant NAME FILE SED-SCRIPT: copy the three inputs (and the kernel's
# local headers), apply SED-SCRIPT to FILE's copy, and expect the checker
# to fail on them.
mutant() {
	local name=$1 file=$2 script=$3 d

	n=$((n + 1))
	d=$TMP/$n
	mkdir -p "$d/kernel" "$d/uapi/linux" "$d/spec"
	# shellcheck disable=SC2086 # MORE is a list
	cp kernel/*.h "$KERNEL" $MORE "$d/kernel/"
	cp "$HEADER" "$d/uapi/linux/"
	cp "$SPEC" "$d/spec/"
	case $file in
	spec) file=$d/spec/$(basename "$SPEC") ;;
	header) file=$d/uapi/linux/$(basename "$HEADER") ;;
	kernel) file=$d/kernel/$(basename "$KERNEL") ;;
	ipsec) file=$d/kernel/$(basename "$IPSEC") ;;
	esac
	sed -i -e "$script" "$file"
	if cmp -s "$file" "$TMP/orig-$(basename "$file")"; then
		echo "ok - checker fails on $name # SKIP the pattern is gone"
		return
	fi
	# shellcheck disable=SC2046 # word splitting is meant
	python3 selftests/spec_check.py --spec "$d/spec/$(basename "$SPEC")" \
		--header "$d/uapi/linux/$(basename "$HEADER")" \
		$(kargs "$d/kernel") >"$d/out" 2>&1
	rc=$?
	if [ $rc -eq 1 ] && grep -q '^not ok' "$d/out"; then
		echo "ok - checker fails on $name"
		grep '^not ok' "$d/out" | sed 's/^/#   /'
	else
		failed=$((failed + 1))
		echo "not ok - checker fails on $name: exit status $rc"
		sed 's/^/#   /' "$d/out"
	fi
}

for f in "$SPEC" "$HEADER" "$KERNEL" "$IPSEC"; do
	cp "$f" "$TMP/orig-$(basename "$f")"
done

mutant "an attribute removed from the header enum" header \
	'/^[[:space:]]*QKDN_A_PAD,/d'
mutant "a header constant changed" header \
	's/^\(#define[[:space:]]\+QKDN_KEY_ID_LEN[[:space:]]\+\)16/\132/'
mutant "the multicast group renamed in the header" header \
	's/^\(#define[[:space:]]\+QKDN_MCGRP_EVENTS[[:space:]]\+\)"events"/\1"event"/'
mutant "a string length changed in the kernel policy" kernel \
	's/\.len = QKDN_ID_MAX - 1/.len = QKDN_ID_MAX/'
mutant "a range struct changed in the kernel" kernel \
	's/\.min = 4096,/.min = 8192,/'
mutant "an integer maximum changed in the kernel policy" kernel \
	'0,/NLA_POLICY_MAX(NLA_U8, 1)/s//NLA_POLICY_MAX(NLA_U8, 2)/'
mutant "an admin flag changed in the ops table" kernel \
	'0,/GENL_UNS_ADMIN_PERM/s//GENL_ADMIN_PERM/'
mutant "a reply attribute changed in the kernel" kernel \
	's/nla_put_string(skb, QKDN_A_SAE_NODE_ID/nla_put_string(skb, QKDN_A_NODE_ID/'
mutant "a request attribute the spec does not list" kernel \
	's/nla_get_u8(info->attrs\[QKDN_A_LINK_UP\])/nla_get_u8(info->attrs[QKDN_A_LINK_UP]) \&\& !info->attrs[QKDN_A_RATE]/'
mutant "a check changed in the spec" spec \
	's/^\(\s*max-len:\) 8192$/\1 4096/'
mutant "an output-only attribute made an input in the spec" spec \
	's/Output only. Usable bytes this end may allocate./Usable bytes this end may allocate./'
mutant "a permission flag dropped from the spec" spec \
	'0,/flags: \[ uns-admin-perm \]/s///'
mutant "a range changed in a nested policy" ipsec \
	's/NLA_POLICY_RANGE(NLA_U32, 128, 256)/NLA_POLICY_RANGE(NLA_U32, 128, 512)/'
mutant "a range struct of a nested policy changed" ipsec \
	's/\.max = 2 \* QKDN_IPSEC_REKEY_MAX,/.max = QKDN_IPSEC_REKEY_MAX,/'
mutant "a nested attribute the kernel puts made output only in the spec" spec \
	's/doc: Prefix length of dst, at most 32/doc: Output only. Prefix length of dst, at most 32/'

echo "1..$n"
[ $failed -eq 0 ]
