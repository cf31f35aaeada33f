#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The netlink contract of the qkdn family: bad input to every command,
# who may do what, network namespaces, and the key path between two nodes
# with this test carrying the Kx frames.  Runs selftests/build/nl_contract
# (kselftest harness; build it on the host first with "make -C selftests")
# and prints each of its results as "ok - NAME" / "not ok - NAME".
#
# timeout: 600

. "$(dirname "$0")/lib.sh"

BIN=$TOP/selftests/build/nl_contract

[ -x "$BIN" ] || skip "$BIN is not built (make -C selftests)"
[ "$(id -u)" -eq 0 ] || skip "needs root"
[ -d /sys/module/qkdn ] || skip "qkdn.ko is not loaded"

# The harness numbers its results and names a skipped test only in the
# line that starts it: keep that name for "ok N # SKIP reason".
current=
rc=1
while IFS= read -r line; do
	case "$line" in
	"__rc__ "*)
		rc=${line#__rc__ }
		;;
	"#  RUN "*)
		current=${line#\#  RUN }
		current=${current#"${current%%[! ]*}"}
		current=${current% ...}
		echo "$line"
		;;
	"ok "[0-9]*" # SKIP"*)
		echo "ok - $current # SKIP${line#*# SKIP}"
		;;
	"ok "[0-9]*)
		name=${line#ok }
		echo "ok - ${name#* }"
		;;
	"not ok "[0-9]*)
		name=${line#not ok }
		echo "not ok - ${name#* }"
		;;
	"#"*)
		echo "$line"
		;;
	*)
		echo "# $line"
		;;
	esac
done < <("$BIN" 2>&1; echo "__rc__ $?")

# 0 when every test passed or was skipped.
[ "$rc" -eq 0 ] || echo "# nl_contract exited with status $rc"
exit "$rc"
