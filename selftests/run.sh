#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the qkdn selftests.  Meant for the VM:
#
#	scripts/vm.sh run selftests/run.sh
#	scripts/vm.sh run 'selftests/run.sh "i1_*"'
#
# Loads kernel/qkdn.ko and kernel/qkdsim.ko, runs every selftests/*.sh
# (but run.sh and lib.sh) whose name matches one of the globs in $1 or
# $TESTS (default: all), each under a timeout, and unloads the modules.
# Output is TAP 13, the plan last: each "ok - NAME" / "not ok - NAME" line
# a test prints is one test ("SCRIPT: NAME"); a test printing none counts
# as one by its exit status (0 pass, 4 skip, else fail).  Everything else
# it prints becomes a "# " comment.  The last line: "N passed, N failed".
#
# Environment: TESTS (globs), TEST_TIMEOUT (seconds per script, 300; a
# script may ask for more with a line "# timeout: N" near its top).
set -u

cd "$(dirname "$0")/.." || exit 1

TESTS=${1:-${TESTS:-*}}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
KSFT_SKIP=4
BAD_RE='BUG:|WARNING:|Oops|general protection|UBSAN|KASAN|kmemleak|refcount_t|list_add corruption|INFO: task .* blocked'

n=0
passed=0
failed=0
skipped=0

# result ok|notok NAME [DIRECTIVE]
result() {
	local what=$1 name=$2 dir=${3:-}

	n=$((n + 1))
	if [ "$what" = ok ]; then
		echo "ok $n - $name${dir:+ $dir}"
		case "$dir" in
		"# SKIP"* | "# skip"*) skipped=$((skipped + 1)) ;;
		*) passed=$((passed + 1)) ;;
		esac
	else
		echo "not ok $n - $name${dir:+ $dir}"
		failed=$((failed + 1))
	fi
}

finish() {
	echo "1..$n"
	if [ $skipped -gt 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ $failed -eq 0 ]
	exit
}

selected() {
	local name=$1 g globs

	IFS=', ' read -r -a globs <<<"$TESTS"
	for g in "${globs[@]}"; do
		# shellcheck disable=SC2053
		[[ $name == $g || $name.sh == $g || selftests/$name.sh == $g ]] && return 0
	done
	return 1
}

# Remove what a killed test may have left: processes in and the network
# namespaces of the nodes.
reset_env() {
	local ns pids

	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		echo "# removing leftover netns $ns"
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
		ip netns del "$ns"
	done
}

# kill_leftovers PGID: kill what a test left running in its process group.
kill_leftovers() {
	local pids

	[ -n "$1" ] || return 0
	pids=$(pgrep -g "$1" | paste -sd, -)
	[ -n "$pids" ] || return 0
	echo "# killing processes the test left running:"
	ps -o pid=,stat=,args= -p "$pids" | sed 's/^/#   /'
	kill -KILL -- "-$1" 2>/dev/null
}

# run_one FILE: run a test script and turn its output into TAP lines.
run_one() {
	local file=$1 name t rc subs=0 subfail=0 skipmsg='' line what sub dir
	local log_before tmo

	name=$(basename "$file" .sh)
	tmo=$(sed -n '1,30s/^# timeout: *\([0-9]\+\).*/\1/p' "$file" | head -n 1)
	t=${tmo:-$TEST_TIMEOUT}
	echo "# $name (timeout ${t}s)"
	log_before=$(dmesg | wc -l)

	# timeout makes itself a process group leader: the test and all it
	# started, unless they left the group, are in group $tpid.
	exec 4< <(
		timeout -k 10 "$t" bash "$file" </dev/null 2>&1 &
		tpid=$!
		wait $tpid
		echo "__rc__ $? $tpid"
	)
	rc=1
	tpid=
	while IFS= read -r line <&4; do
		case "$line" in
		"__rc__ "*)
			# Stop here: what is left may hold the pipe open.
			read -r rc tpid <<<"${line#__rc__ }"
			break
			;;
		esac
		if [[ $line =~ ^(not\ )?ok(\ [0-9]+)?\ -\ (.*)$ ]]; then
			what=ok
			[ -n "${BASH_REMATCH[1]}" ] && what=notok
			sub=${BASH_REMATCH[3]}
			dir=
			if [[ $sub =~ ^(.*[^ ])\ +(#\ .*)$ ]]; then
				sub=${BASH_REMATCH[1]}
				dir=${BASH_REMATCH[2]}
			fi
			subs=$((subs + 1))
			[ $what = notok ] && subfail=$((subfail + 1))
			result $what "$name: $sub" "$dir"
		elif [[ $line == "# SKIP"* ]]; then
			skipmsg=${line#\# SKIP}
			echo "$line"
		elif [[ $line == "#"* ]]; then
			echo "$line"
		else
			echo "# $line"
		fi
	done
	exec 4<&-
	kill_leftovers "$tpid"

	case $rc in
	0)
		[ $subs -eq 0 ] && result ok "$name"
		;;
	"$KSFT_SKIP")
		result ok "$name" "# SKIP${skipmsg:- }"
		;;
	124 | 137)
		result notok "$name" "# timed out after ${t}s"
		;;
	*)
		[ $subfail -eq 0 ] && result notok "$name" "# exit status $rc"
		;;
	esac

	# Kernel messages that appeared while this test ran.
	local new
	new=$(dmesg | tail -n +$((log_before + 1)) | grep -aE "$BAD_RE")
	if [ -n "$new" ]; then
		sed 's/^/#   kernel: /' <<<"$new"
		result notok "$name: kernel log clean"
	fi
	reset_env
}

echo "TAP version 13"

# Modules the tests use, then ours.
modprobe -q veth
load_ok=1
for m in kernel/qkdn.ko kernel/qkdsim.ko; do
	if [ ! -e "$m" ]; then
		echo "# $m is not built"
		load_ok=0
		break
	fi
	vermagic=$(modinfo -F vermagic "$m" 2>/dev/null)
	if [ "${vermagic%% *}" != "$(uname -r)" ]; then
		echo "# $m is built for ${vermagic%% *}, this is $(uname -r)"
		echo "# (run the selftests with: scripts/vm.sh run selftests/run.sh)"
		load_ok=0
		break
	fi
	for d in $(modinfo -F depends "$m" 2>/dev/null | tr ',' ' '); do
		[ "$d" = qkdn ] || modprobe -q "$d"
	done
	if ! out=$(insmod "$m" 2>&1); then
		echo "# insmod $m: $out"
		load_ok=0
		break
	fi
done
if [ $load_ok -eq 1 ]; then
	result ok module_load
else
	result notok module_load
	echo "Bail out! the modules cannot be loaded"
	finish
fi

for f in selftests/*.sh; do
	case "$f" in
	selftests/run.sh | selftests/lib.sh) continue ;;
	esac
	selected "$(basename "$f" .sh)" || continue
	run_one "$f"
done

reset_env
if out=$(rmmod qkdsim qkdn 2>&1); then
	result ok module_unload
else
	sed 's/^/# /' <<<"$out"
	result notok module_unload
fi
finish
