# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for qkdn selftests (bash).  Source it at the top of a test:
#
#	. "$(dirname "$0")/lib.sh"
#
# A test reports each behaviour it checks as one line, "ok - NAME" or
# "not ok - NAME" (selftests/run.sh numbers them), and exits 0 when all
# passed, 4 (KSFT_SKIP) when it cannot run here, anything else on failure.
# Diagnostics are lines starting with "# ".
#
#   ok NAME                     report a pass ("ok 'NAME # SKIP why'"
#                               reports a skipped behaviour)
#   fail NAME [MSG...]          report a failure (the test will exit 1)
#   check NAME CMD...           run CMD, pass if it succeeds
#   check_fails NAME CMD...     run CMD, pass if it fails
#   check_output NAME RE CMD... run CMD, pass if it succeeds and its output
#                               matches the extended regex RE
#   skip [MSG...]               skip the whole test (exit 4)
#   require CMD...              skip unless every CMD is in PATH
#   defer CMD [ARGS...]         run CMD at exit (last deferred runs first)
#   wait_for TIMEOUT CMD...     poll CMD every 0.1 s until it succeeds;
#                               fails after TIMEOUT seconds
#   in_ns N CMD...              run CMD in node N's network namespace only
#                               (keeps the mounts, so debugfs stays visible)
#   nodes_create N              netns qkdn1..qkdnN, a chain of veth pairs:
#                               node i 10.77.i.1/24 <-> node i+1 10.77.i.2/24
#   certs_make DIR NAME...      CA (DIR/ca.crt, ca.key) and per NAME
#                               DIR/NAME.crt, DIR/NAME.key (EC P-256, 1 day,
#                               CN=NAME, subjectAltName DNS:NAME)
#   cert_make_expired DIR NAME  DIR/NAME-expired.{crt,key}, from DIR's CA
#   cert_make_untrusted DIR NAME
#                               DIR/NAME-untrusted.{crt,key}, from a CA of
#                               its own (DIR/untrusted-ca.{crt,key})
#   qkdsim_new ID N             create one end of simulated QKD pair ID in
#                               node N (the first call makes end A, the
#                               second end B); deleted at exit
#   qkdsim_set ID KNOB VALUE    set a knob of pair ID (rate, seed, ...)
#   linkd_conf FILE LINE...     write a qkdn-linkd configuration, one
#                               "key = value" LINE each
#   linkd_start N CONF          start qkdn-linkd in node N (killed at exit,
#                               log in $TEST_DIR/linkd-N.log)
#   qkdn_two_nodes [--no-linkd] [--stopped]
#                               the standard two-node set-up (see below)
#   topo_up FILE [OPTION...]    build the QKDN of topology FILE with
#                               scripts/qkdn-topo (options as for its "up":
#                               --no-controller, --stopped, --timeout S),
#                               state in $TEST_DIR/topo-NAME, torn down at
#                               exit; sets the TOPO_* variables (below)
#   topo_down                   tear the last topo_up topology down now
#   topo_sae N                  "SAEID UID" of the first SAE local at node N
#
# Variables: TOP (project directory), QKDNCTL, LINKD, TEST_NAME, TEST_DIR
# (a private temporary directory, removed at exit), QKDSIM_DEBUGFS,
# LINKD_PID[N] (pid of node N's link daemon), TOPO (the topologies/
# directory), QKDN_TOPO (scripts/qkdn-topo).  After topo_up:
# TOPO_NODE[i] (node ID of node i, netns qkdn<i>), TOPO_LINK_A[k] and
# TOPO_LINK_B[k] (node numbers at the ends of link k), TOPO_SAE[s],
# TOPO_SAE_NODE[s] (node number), TOPO_SAE_UID[s], TOPO_CTRL,
# TOPO_CTRL_NODE, TOPO_DIR (Documentation/topologies.md).
# qkdnctl and qkdn-linkd are in PATH (links to this tree's build), so tests
# read like a shell session: "qkdnctl -n qkdn1 link show".

KSFT_SKIP=4

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# in_ns, wait_for, veth_pair, certs_make, qkdsim_create, conf_write,
# daemon_spawn, _lib_stop ...: shared with scripts/qkdn-topo.
# shellcheck source=scripts/qkdn-lib.sh
source "$TOP/scripts/qkdn-lib.sh"
QKDNCTL=${QKDNCTL:-$TOP/tools/build/qkdnctl}
LINKD=${LINKD:-$TOP/tools/build/qkdn-linkd}
TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/qkdn-$TEST_NAME.XXXXXX")

LINKD_PID=()	# by node number, set by linkd_start

_lib_failed=0
_lib_defer=()
_lib_logs=()

# qkdnctl and qkdn-linkd by name, also in the background ("$!" is then
# their pid) and under nsenter, setpriv, ip netns exec.
mkdir -p "$TEST_DIR/bin"
ln -s "$QKDNCTL" "$TEST_DIR/bin/qkdnctl"
ln -s "$LINKD" "$TEST_DIR/bin/qkdn-linkd"
PATH=$TEST_DIR/bin:$PATH

# --- results ---------------------------------------------------------

ok() {
	echo "ok - $1"
}

fail() {
	local name=$1

	shift
	echo "not ok - $name"
	[ $# -gt 0 ] && echo "# $*"
	_lib_failed=1
	return 0
}

# Print captured output as diagnostics.
_lib_diag() {
	# shellcheck disable=SC2001 # one prefix per line
	[ -n "$1" ] && sed 's/^/#   /' <<<"$1"
	return 0
}

check() {
	local name=$1 out rc

	shift
	out=$("$@" 2>&1) && rc=0 || rc=$?
	if [ $rc -eq 0 ]; then
		ok "$name"
	else
		fail "$name" "'$*' exited $rc"
		_lib_diag "$out"
	fi
}

check_fails() {
	local name=$1 out rc

	shift
	out=$("$@" 2>&1) && rc=0 || rc=$?
	if [ $rc -ne 0 ]; then
		ok "$name"
	else
		fail "$name" "'$*' succeeded, expected a failure"
		_lib_diag "$out"
	fi
}

check_output() {
	local name=$1 re=$2 out rc

	shift 2
	out=$("$@" 2>&1) && rc=0 || rc=$?
	if [ $rc -eq 0 ] && grep -qE -- "$re" <<<"$out"; then
		ok "$name"
	else
		fail "$name" "'$*' exited $rc; expected output matching /$re/"
		_lib_diag "$out"
	fi
}

skip() {
	echo "# SKIP ${*:-$TEST_NAME}"
	exit $KSFT_SKIP
}

require() {
	local c

	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "$c not available"
	done
}

# --- cleanup ---------------------------------------------------------

defer() {
	_lib_defer+=("$(printf '%q ' "$@")")
}

_lib_exit() {
	local rc=$? i log

	trap - EXIT
	set +e
	[ $rc -eq 0 ] && [ $_lib_failed -ne 0 ] && rc=1
	for ((i = ${#_lib_defer[@]} - 1; i >= 0; i--)); do
		eval "${_lib_defer[i]}" >/dev/null 2>&1
	done
	if [ $rc -ne 0 ] && [ $rc -ne $KSFT_SKIP ]; then
		for log in "${_lib_logs[@]}"; do
			[ -s "$log" ] || continue
			echo "# --- last lines of $(basename "$log") ---"
			tail -n 40 "$log" | sed 's/^/#   /'
		done
	fi
	rm -rf "$TEST_DIR"
	exit $rc
}

trap _lib_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- nodes -----------------------------------------------------------

nodes_create() {
	local n=$1 i j

	for ((i = 1; i <= n; i++)); do
		ip netns del "qkdn$i" 2>/dev/null
		ip netns add "qkdn$i" || return 1
		defer ip netns del "qkdn$i"
		ip -n "qkdn$i" link set lo up || return 1
	done
	for ((i = 1; i < n; i++)); do
		j=$((i + 1))
		veth_pair "qkdn$i" "to-n$j" "10.77.$i.1/24" \
			"qkdn$j" "to-n$i" "10.77.$i.2/24" || return 1
	done
}

# --- simulated QKD modules -------------------------------------------

qkdsim_new() {
	qkdsim_create "$1" "$2" || return 1
	defer qkdsim_del "$1"
}

# --- link daemon -----------------------------------------------------

# linkd_conf FILE 'listen = ...' 'peer kme-2 = ...' ...: one line each.
linkd_conf() {
	local file=$1

	shift
	conf_write "$file" "qkdn-linkd configuration for $TEST_NAME" "$@"
}

linkd_start() {
	local n=$1 conf=$2 log="$TEST_DIR/linkd-$1.log"

	[ -x "$LINKD" ] || {
		echo "# $LINKD not built"
		return 1
	}
	daemon_spawn "$n" "$log" "$LINKD" -c "$conf" -f
	_lib_logs+=("$log")
	defer _lib_stop "$SPAWN_PID"
	# shellcheck disable=SC2034 # read by the tests
	LINKD_PID[n]=$SPAWN_PID
}

# --- topologies ------------------------------------------------------

# shellcheck disable=SC2034 # read by the tests
TOPO=$TOP/topologies
QKDN_TOPO=$TOP/scripts/qkdn-topo
_lib_topo_dir=

topo_up() {
	local file=$1 dir out rc log

	shift
	dir=$TEST_DIR/topo-$(basename "$file" .topo)
	_lib_topo_dir=$dir
	defer "$QKDN_TOPO" down --dir "$dir"
	out=$("$QKDN_TOPO" up "$file" --dir "$dir" "$@" 2>&1) && rc=0 || rc=$?
	for log in "$dir"/logs/*.log; do
		[ -e "$log" ] && _lib_logs+=("$log")
	done
	if [ $rc -ne 0 ]; then
		echo "# qkdn-topo up $file failed (exit $rc)"
		_lib_diag "$out"
		return 1
	fi
	echo "# $(tail -n 1 <<<"$out")"
	# shellcheck source=/dev/null # written by qkdn-topo up
	source "$dir/topo.env"
}

topo_down() {
	[ -n "$_lib_topo_dir" ] || return 0
	"$QKDN_TOPO" down --dir "$_lib_topo_dir" >/dev/null
}

topo_sae() {
	local s

	for s in "${!TOPO_SAE_NODE[@]}"; do
		if [ "${TOPO_SAE_NODE[s]}" = "$1" ]; then
			echo "${TOPO_SAE[s]} ${TOPO_SAE_UID[s]}"
			return 0
		fi
	done
	return 1
}

# --- the standard two-node set-up -------------------------------------
#
# Node kme-1 in netns qkdn1 (10.77.1.1), kme-2 in qkdn2 (10.77.1.2).
# Simulated QKD pair 1 (device qkdsim1 on both nodes), link 1 between
# them, running.  Local SAE sae-a (uid 1001) on kme-1, sae-b (uid 1002) on
# kme-2, each known to the other node as remote.  qkdn-linkd on both nodes
# on port 7400 with certificates from $TEST_DIR/certs (CN = node ID).
#
#   --no-linkd   do not start the link daemons
#   --stopped    leave the QKD modules stopped
qkdn_two_nodes() {
	local linkd=1 running=1 a i c="$TEST_DIR/certs"

	for a in "$@"; do
		case "$a" in
		--no-linkd) linkd=0 ;;
		--stopped) running=0 ;;
		*) echo "# qkdn_two_nodes: unknown option $a"; return 1 ;;
		esac
	done

	nodes_create 2 || return 1
	qkdnctl -n qkdn1 node set id kme-1 || return 1
	qkdnctl -n qkdn2 node set id kme-2 || return 1

	qkdsim_new 1 1 || return 1
	qkdsim_new 1 2 || return 1

	qkdnctl -n qkdn1 link add id 1 peer kme-2 device qkdsim1 || return 1
	qkdnctl -n qkdn2 link add id 1 peer kme-1 device qkdsim1 || return 1

	qkdnctl -n qkdn1 sae add id sae-a uid 1001 || return 1
	qkdnctl -n qkdn1 sae add id sae-b node kme-2 || return 1
	qkdnctl -n qkdn2 sae add id sae-b uid 1002 || return 1
	qkdnctl -n qkdn2 sae add id sae-a node kme-1 || return 1

	if [ $linkd -eq 1 ]; then
		certs_make "$c" kme-1 kme-2 || return 1
		linkd_conf "$TEST_DIR/linkd-1.conf" \
			"listen = 10.77.1.1:7400" \
			"cert = $c/kme-1.crt" "key = $c/kme-1.key" "ca = $c/ca.crt" \
			"peer kme-2 = 10.77.1.2:7400"
		linkd_conf "$TEST_DIR/linkd-2.conf" \
			"listen = 10.77.1.2:7400" \
			"cert = $c/kme-2.crt" "key = $c/kme-2.key" "ca = $c/ca.crt" \
			"peer kme-1 = 10.77.1.1:7400"
		for i in 1 2; do
			linkd_start $i "$TEST_DIR/linkd-$i.conf" || return 1
		done
		for i in 1 2; do
			wait_for 10 _lib_listening $i 7400 || {
				echo "# qkdn-linkd in qkdn$i is not listening"
				return 1
			}
		done
	fi

	if [ $running -eq 1 ]; then
		qkdnctl -n qkdn1 link set id 1 running on || return 1
		qkdnctl -n qkdn2 link set id 1 running on || return 1
	fi
}
