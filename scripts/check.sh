#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Every test of the project, as "make check" runs it after building:
#   1. host unit tests of the tools under ASan/UBSan (make -C tools check)
#   2. checkpatch --strict, and a W=1 build of the module without warnings
#   3. the selftests in the VM (scripts/vm.sh run selftests/run.sh), after
#      building the test programs (make -C selftests)
# Each part's TAP lines are collected; a part that fails without saying
# which test failed counts as one failed test.  The last line printed is
# "N passed, N failed"; the exit status is 0 only if nothing failed.
# Full log: .cache/check.log.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
TOP=$PWD
KVER=${KVER:-$(scripts/kver.sh)}
KDIR=${KDIR:-/lib/modules/$KVER/build}
LOG=.cache/check.log
mkdir -p .cache
: >"$LOG"

say() {
	echo "$*" | tee -a "$LOG"
}

# part NAME CMD...: run CMD, stream and log its output, and add a failed
# test if it exits non-zero without reporting a failed test itself.
part() {
	local name=$1 start out rc
	shift
	say "# ==== $name: $* ===="
	start=$(wc -l <"$LOG")
	"$@" 2>&1 | tee -a "$LOG"
	rc=${PIPESTATUS[0]}
	out=$(tail -n +$((start + 1)) "$LOG")
	if [ "$rc" -ne 0 ] && ! grep -q '^not ok' <<<"$out"; then
		say "not ok - $name # exit status $rc"
	fi
	return "$rc"
}

# quiet_test NAME CMD...: one TAP line for CMD; its output as comments.
quiet_test() {
	local name=$1 rc
	shift
	say "# ==== $name: $* ===="
	"$@" 2>&1 | sed 's/^/# /' | tee -a "$LOG"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 0 ]; then
		say "ok - $name"
	else
		say "not ok - $name"
	fi
}

# The module built from a copy of the sources with W=1: no warning.
module_w1() {
	local tmp rc out
	tmp=$(mktemp -d /tmp/qkdn-w1.XXXXXX)
	tar -cf - --exclude='*.o' --exclude='*.ko' --exclude='*.mod' \
		--exclude='*.mod.c' --exclude='.*.cmd' --exclude=modules.order \
		--exclude=Module.symvers Kbuild kernel uapi | tar -xf - -C "$tmp"
	out=$(make -C "$KDIR" M="$tmp" W=1 modules 2>&1)
	rc=$?
	rm -rf "$tmp"
	grep -E '(warning|error|WARNING|ERROR):' <<<"$out"
	if [ $rc -ne 0 ]; then
		echo "module build failed (exit $rc)"
		return 1
	fi
	if grep -qE '(warning|error|WARNING|ERROR):' <<<"$out"; then
		return 1
	fi
	echo "module builds with W=1 without warnings"
}

# The selftests in the VM, and whether it ran and left a clean kernel log.
vm_tests() {
	local start rc out
	say "# ==== selftests: scripts/vm.sh run selftests/run.sh ===="
	start=$(wc -l <"$LOG")
	# The whole suite in one boot; the CI allows 90 minutes in all.
	VM_TIMEOUT=${VM_TIMEOUT:-4200} scripts/vm.sh run selftests/run.sh 2>&1 |
		tee -a "$LOG"
	rc=${PIPESTATUS[0]}
	out=$(tail -n +$((start + 1)) "$LOG")
	if grep -q '^vm.sh: the kernel log .* shows problems' <<<"$out"; then
		say "not ok - vm: kernel log clean"
	elif [ "$rc" -eq 2 ] || [ "$rc" -eq 3 ]; then
		say "not ok - vm: ran to the end # exit status $rc"
	else
		say "ok - vm: kernel log clean"
		if [ "$rc" -ne 0 ] && ! grep -q '^not ok' <<<"$out"; then
			say "not ok - selftests # exit status $rc"
		fi
	fi
}

part "unit tests" make -C tools check
quiet_test checkpatch scripts/checkpatch.sh
quiet_test module_w1 module_w1
# Test programs the VM runs are built here, on the host.
if [ -e selftests/Makefile ]; then
	quiet_test selftests_build make -C selftests
fi
vm_tests

# Count: "ok" lines are passes unless marked # SKIP; TAP's "# TODO"
# failures are expected ones and count as neither.
passed=$(grep -cE '^ok\b' "$LOG")
skipped=$(grep -ciE '^ok\b.*# skip' "$LOG")
failed=$(grep -E '^not ok\b' "$LOG" | grep -cviE '# todo')
passed=$((passed - skipped))
say "# full log: $TOP/$LOG"
if [ "$skipped" -gt 0 ]; then
	say "$passed passed, $failed failed, $skipped skipped"
else
	say "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
