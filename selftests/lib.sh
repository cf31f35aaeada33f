# SPDX-License-Identifier: GPL-2.0
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
#
# Variables: TOP (project directory), QKDNCTL, LINKD, TEST_NAME, TEST_DIR
# (a private temporary directory, removed at exit), QKDSIM_DEBUGFS,
# LINKD_PID[N] (pid of node N's link daemon).
# qkdnctl and qkdn-linkd are in PATH (links to this tree's build), so tests
# read like a shell session: "qkdnctl -n qkdn1 link show".

KSFT_SKIP=4

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QKDNCTL=${QKDNCTL:-$TOP/tools/build/qkdnctl}
LINKD=${LINKD:-$TOP/tools/build/qkdn-linkd}
QKDSIM_DEBUGFS=/sys/kernel/debug/qkdsim
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

# --- waiting ---------------------------------------------------------

# Milliseconds since the epoch.
_lib_now_ms() {
	local t=${EPOCHREALTIME/[.,]/}

	echo $((t / 1000))
}

wait_for() {
	local deadline

	deadline=$(($(_lib_now_ms) + $(awk -v t="$1" 'BEGIN { printf "%d", t * 1000 }')))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(_lib_now_ms)" -ge $deadline ] && return 1
		sleep 0.1
	done
	return 0
}

# --- nodes -----------------------------------------------------------

in_ns() {
	local n=$1

	shift
	nsenter --net="/run/netns/qkdn$n" "$@"
}

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
		ip link add "to-n$j" netns "qkdn$i" type veth \
			peer name "to-n$i" netns "qkdn$j" || return 1
		ip -n "qkdn$i" addr add "10.77.$i.1/24" dev "to-n$j" &&
		ip -n "qkdn$j" addr add "10.77.$i.2/24" dev "to-n$i" &&
		ip -n "qkdn$i" link set "to-n$j" up &&
		ip -n "qkdn$j" link set "to-n$i" up || return 1
	done
}

# --- certificates ----------------------------------------------------

# _lib_ca DIR BASE: a self-signed CA, DIR/BASE.crt + DIR/BASE.key.
_lib_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/$2.key" -out "$1/$2.crt" -days 1 \
		-subj "/CN=qkdn test $2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null &&
		chmod 600 "$1/$2.key"
}

# _lib_leaf DIR CA NAME OUT [STARTDATE ENDDATE]: key + certificate for NAME
# signed by DIR/CA, written to DIR/OUT.key + DIR/OUT.crt.  With dates
# (YYYYMMDDHHMMSSZ) the certificate gets that validity period.
_lib_leaf() {
	local dir=$1 ca=$2 name=$3 out=$4 ext tmp

	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/$out.key" -out "$dir/$out.csr" \
		-subj "/CN=$name" 2>/dev/null || return 1
	chmod 600 "$dir/$out.key"
	ext="$dir/$out.ext"
	cat >"$ext" <<-EOF
		basicConstraints = critical,CA:FALSE
		keyUsage = critical,digitalSignature
		extendedKeyUsage = serverAuth,clientAuth
		subjectAltName = DNS:$name
	EOF
	if [ $# -eq 4 ]; then
		openssl x509 -req -in "$dir/$out.csr" -days 1 \
			-CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" \
			-CAserial "$dir/$ca.srl" -CAcreateserial \
			-extfile "$ext" -out "$dir/$out.crt" 2>/dev/null || return 1
	else
		# "openssl x509" cannot back-date; "openssl ca" can.
		tmp=$(mktemp -d "$dir/ca.XXXXXX")
		: >"$tmp/index.txt"
		cat >"$tmp/ca.cnf" <<-EOF
			[ca]
			default_ca = test_ca
			[test_ca]
			database = $tmp/index.txt
			new_certs_dir = $tmp
			serial = $tmp/serial
			default_md = sha256
			policy = any
			copy_extensions = none
			[any]
			commonName = supplied
		EOF
		openssl rand -hex 8 >"$tmp/serial"
		openssl ca -batch -notext -config "$tmp/ca.cnf" \
			-cert "$dir/$ca.crt" -keyfile "$dir/$ca.key" \
			-startdate "$5" -enddate "$6" -extfile "$ext" \
			-in "$dir/$out.csr" -out "$dir/$out.crt" 2>/dev/null
		local rc=$?
		rm -rf "$tmp"
		[ $rc -eq 0 ] || return 1
	fi
	rm -f "$dir/$out.csr" "$ext"
}

certs_make() {
	local dir=$1 name

	shift
	mkdir -p "$dir"
	[ -s "$dir/ca.crt" ] || _lib_ca "$dir" ca || return 1
	for name in "$@"; do
		_lib_leaf "$dir" ca "$name" "$name" || return 1
	done
}

cert_make_expired() {
	local dir=$1 name=$2

	[ -s "$dir/ca.crt" ] || certs_make "$dir" || return 1
	_lib_leaf "$dir" ca "$name" "$name-expired" \
		20200101000000Z 20200102000000Z
}

cert_make_untrusted() {
	local dir=$1 name=$2

	mkdir -p "$dir"
	[ -s "$dir/untrusted-ca.crt" ] || _lib_ca "$dir" untrusted-ca || return 1
	_lib_leaf "$dir" untrusted-ca "$name" "$name-untrusted"
}

# --- simulated QKD modules -------------------------------------------

qkdsim_new() {
	local id=$1 n=$2

	[ -w "$QKDSIM_DEBUGFS/new_device" ] || {
		echo "# qkdsim is not loaded ($QKDSIM_DEBUGFS missing)"
		return 1
	}
	in_ns "$n" sh -c "echo $id > $QKDSIM_DEBUGFS/new_device" || return 1
	defer qkdsim_del "$id"
}

qkdsim_del() {
	echo "$1" >"$QKDSIM_DEBUGFS/del_device"
}

qkdsim_set() {
	echo "$3" >"$QKDSIM_DEBUGFS/qkdsim$1/$2"
}

# --- link daemon -----------------------------------------------------

# linkd_conf FILE 'listen = ...' 'peer kme-2 = ...' ...: one line each.
linkd_conf() {
	local file=$1

	shift
	{
		echo "# qkdn-linkd configuration for $TEST_NAME"
		printf '%s\n' "$@"
	} >"$file"
}

linkd_start() {
	local n=$1 conf=$2 log="$TEST_DIR/linkd-$1.log" pid

	[ -x "$LINKD" ] || {
		echo "# $LINKD not built"
		return 1
	}
	ip netns exec "qkdn$n" "$LINKD" -c "$conf" -f >"$log" 2>&1 &
	pid=$!
	_lib_logs+=("$log")
	defer _lib_stop "$pid"
	# shellcheck disable=SC2034 # read by the tests
	LINKD_PID[n]=$pid
}

# _lib_alive PID: the process exists and is not a zombie.
_lib_alive() {
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat:0:1}" != Z ]
}

# Stop a process: TERM, then KILL after 2 s.
_lib_stop() {
	local pid=$1 sig i

	for sig in TERM KILL; do
		kill -$sig "$pid" 2>/dev/null || break
		for ((i = 0; i < 20; i++)); do
			_lib_alive "$pid" || break 2
			sleep 0.1
		done
	done
	if _lib_alive "$pid"; then
		echo "# process $pid does not die"
	else
		wait "$pid" 2>/dev/null
	fi
	return 0
}

# _lib_listening N PORT: something listens on TCP PORT in node N.
_lib_listening() {
	ip netns exec "qkdn$1" ss -Hltn "sport = :$2" | grep -q .
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
