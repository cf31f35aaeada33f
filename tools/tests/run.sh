#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Run every unit test binary in a directory (default: build-san/tests) and
# pass its TAP output through. Exits non-zero if any test printed "not ok",
# exited non-zero, or died.
#
#   tests/run.sh [DIR]

dir=${1:-build-san/tests}
failed=0
total=0

if [ ! -d "$dir" ]; then
	echo "run.sh: no directory $dir" >&2
	exit 2
fi

for t in "$dir"/test_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	total=$((total + 1))
	name=${t##*/}
	echo "# $name"
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	if [ $rc -ne 0 ] || printf '%s\n' "$out" | grep -q '^not ok '; then
		echo "# FAIL $name (exit $rc)"
		failed=$((failed + 1))
	fi
done

if [ $total -eq 0 ]; then
	echo "run.sh: no tests in $dir" >&2
	exit 2
fi
echo "# $((total - failed)) of $total test programs passed"
[ $failed -eq 0 ]
