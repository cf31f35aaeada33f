#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: the benchmarks of Documentation/benchmarks.md. Runs on the
# host: builds the benchmark helpers, boots the VM (scripts/vm.sh) and
# runs scripts/bench-vm.sh inside it. Every figure is printed as one line
#
#	BENCH <name> <value> <op> <goal>
#
# then a summary of how many met their goal. Timings share the host's CPUs
# with whatever else runs there: the host's load average is printed before
# and after, and a busy host makes every figure worse.
#
# Exit status: 0 when the benchmarks ran (goals met or not), non-zero when
# one of them could not run. The whole output is kept in .cache/bench.log.
# BENCH_* variables (see scripts/bench-vm.sh) are passed to the VM.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
LOG=.cache/bench.log
mkdir -p .cache

make -s -C selftests/bench || exit 1

VM_ENV="${VM_ENV:-} $(compgen -e | grep '^BENCH_' | tr '\n' ' ')"
export VM_ENV
VM_TIMEOUT=${VM_TIMEOUT:-900}
export VM_TIMEOUT

echo "# host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" |
	tee "$LOG"
scripts/vm.sh run scripts/bench-vm.sh 2>&1 | tee -a "$LOG"
rc=${PIPESTATUS[0]}
echo "# host load average after: $(cut -d' ' -f1-3 /proc/loadavg)" |
	tee -a "$LOG"

awk '$1 == "BENCH" {
	n++
	v = $3; g = $5
	if (($4 == ">=" && v >= g) || ($4 == "<=" && v <= g) ||
	    ($4 == ">" && v > g) || ($4 == "<" && v < g))
		met++
	else
		missed = missed " " $2
}
END {
	printf "bench: %d figures, %d met their goal", n, met
	if (missed != "")
		printf "; missed:%s", missed
	printf "\n"
}' "$LOG"
exit "$rc"
