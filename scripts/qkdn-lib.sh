# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Shell functions shared by selftests/lib.sh and scripts/qkdn-topo: nodes
# (network namespaces), veth pairs, certificates, simulated QKD modules,
# daemons.  Sourcing it defines functions and a few variables, nothing
# else: no traps, no files, no cleanup.  Callers that want cleanup at exit
# (the selftests) wrap these functions.
#
#   in_ns N CMD...              run CMD in node N's network namespace only
#                               (keeps the mounts, so debugfs stays visible)
#   wait_for TIMEOUT CMD...     poll CMD every 0.1 s until it succeeds;
#                               fails after TIMEOUT seconds
#   veth_pair NS1 IF1 ADDR1 NS2 IF2 ADDR2
#                               a veth pair between two namespaces, each end
#                               with its address (CIDR) and up
#   certs_make DIR NAME...      CA (DIR/ca.crt, ca.key) and per NAME
#                               DIR/NAME.crt, DIR/NAME.key (EC P-256, 1 day,
#                               CN=NAME, subjectAltName DNS:NAME)
#   cert_make_expired DIR NAME  DIR/NAME-expired.{crt,key}, from DIR's CA
#   cert_make_untrusted DIR NAME
#                               DIR/NAME-untrusted.{crt,key}, from a CA of
#                               its own (DIR/untrusted-ca.{crt,key})
#   qkdsim_create ID N          one end of simulated QKD pair ID in node N
#   qkdsim_del ID               delete pair ID (both ends)
#   qkdsim_set ID KNOB VALUE    set a knob of pair ID (rate, seed, ...)
#   conf_write FILE TITLE LINE...
#                               a daemon configuration: "# TITLE", then one
#                               "key = value" LINE each
#   daemon_spawn N LOG CMD...   start CMD in node N in the background, its
#                               output in LOG; its pid in $SPAWN_PID
#   _lib_stop PID               TERM, then KILL after 2 s; reaps it
#   _lib_alive PID              the process exists and is not a zombie
#   _lib_listening N PORT       something listens on TCP PORT in node N
#   _lib_now_ms                 milliseconds since the epoch
#
# Node N is the network namespace qkdnN (/run/netns/qkdnN).

QKDSIM_DEBUGFS=${QKDSIM_DEBUGFS:-/sys/kernel/debug/qkdsim}

# --- waiting ---------------------------------------------------------

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

veth_pair() {
	local ns1=$1 if1=$2 a1=$3 ns2=$4 if2=$5 a2=$6

	ip link add "$if1" netns "$ns1" type veth peer name "$if2" netns "$ns2" &&
		ip -n "$ns1" addr add "$a1" dev "$if1" &&
		ip -n "$ns2" addr add "$a2" dev "$if2" &&
		ip -n "$ns1" link set "$if1" up &&
		ip -n "$ns2" link set "$if2" up
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

qkdsim_create() {
	local id=$1 n=$2

	[ -w "$QKDSIM_DEBUGFS/new_device" ] || {
		echo "# qkdsim is not loaded ($QKDSIM_DEBUGFS missing)"
		return 1
	}
	in_ns "$n" sh -c "echo $id > $QKDSIM_DEBUGFS/new_device"
}

qkdsim_del() {
	echo "$1" >"$QKDSIM_DEBUGFS/del_device"
}

qkdsim_set() {
	echo "$3" >"$QKDSIM_DEBUGFS/qkdsim$1/$2"
}

# --- daemons ---------------------------------------------------------

conf_write() {
	local file=$1 title=$2

	shift 2
	{
		echo "# $title"
		printf '%s\n' "$@"
	} >"$file"
}

# The daemon is a child of the calling shell (so "wait" reaps it) and in
# its process group.
daemon_spawn() {
	local n=$1 log=$2

	shift 2
	ip netns exec "qkdn$n" "$@" </dev/null >"$log" 2>&1 &
	# shellcheck disable=SC2034 # read by the callers
	SPAWN_PID=$!
}

_lib_alive() {
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat:0:1}" != Z ]
}

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

_lib_listening() {
	ip netns exec "qkdn$1" ss -Hltn "sport = :$2" | grep -q .
}
