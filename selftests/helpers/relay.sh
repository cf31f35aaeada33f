# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the key relay selftests on a QKDN built by lib.sh's topo_up
# (node i in netns qkdn<i>, link k between nodes TOPO_LINK_A[k] and
# TOPO_LINK_B[k] over the veth pair to-n<b> / to-n<a>, addresses
# 10.77.k.0/24).  Source it after lib.sh and helpers/nodes.sh.
#
#   snap ARRAY [N...]       counters and pools of nodes N (default: every
#                           node), read with qkdnctl, into the associative
#                           array ARRAY, "N NAME" -> value.  NAME is
#                           node.STAT (STAT as in qkdnctl's JSON:
#                           relays_started, relay_pad_bytes, ...),
#                           link.K.STAT, link.K.up (0 or 1),
#                           pool.K.FIELD (own_bytes, peer_bytes,
#                           pending_bytes, reserved_keys, ...),
#                           relayed.received and relayed.supplied (relayed
#                           keys stored here for local slave SAEs, and
#                           relayed keys handed out here: the node's
#                           counts less its links')
#   deltas A B D            D["N NAME"]: B's value of "N NAME" less A's,
#                           for every number in B (no subshell: under
#                           emulation every fork counts)
#   links_start CAP RATE    every link's pool capacity CAP and QKD modules
#                           at RATE bits/s, started (after topo_up
#                           --stopped): small pools are quick to drain,
#                           and a low rate spares the emulated CPU
#   kx_up N K               link K of node N is up (its Kx channel)
#   kx_up_both K            link K is up at both ends
#   kx_down_both K          link K is down at both ends
#   link_blackhole K        link K's veth pair down: nothing gets through,
#                           and the link daemons notice only after 15 s
#                           of silence
#   link_cut K              the same, and the link daemons' TCP
#                           connections of link K aborted: both see the
#                           channel down at once, and it stays down
#   link_mend K             the veth pair up again
#   route_via N DST HOP     node N's route to DST starts with HOP
#                           (qkdnctl route)
#   route_of N DST          print it, "kme-1 -> ... metric M"
#   route_metric N DST      print its metric
#   metric_is N DST OP M    its metric OP M (OP: -eq, -gt, ...)
#   links_ready MIN         every link up at both ends with at least MIN
#                           bytes of its own at each (a network that has
#                           settled: no link costs more for lack of key)
#   pool_settled K          both ends of link K agree: own bytes here are
#                           the peer bytes there, both ways (a block may
#                           stay pending at one end when the other end's
#                           full pool dropped it)
#   ends_in_step ARRAY      for every link, both ends of ARRAY's snapshot
#                           counted the same relay frames (tx at one, rx
#                           at the other), pad bytes and MAC bytes; prints
#                           what differs
#   in_step_now             ends_in_step on a fresh snapshot
#   daemon_kill N NAME [SIG]  signal (KILL) qkdn-topo's daemon NAME
#                           (linkd, controllerd) of node N
#   daemon_stop N NAME      stop it (TERM) and wait until it is gone
#   daemon_restart N NAME   start it again with its configuration; its
#                           log is $RESTARTED_LOG
#   lap WHAT                "# WHAT: S s", the time since the last lap
#   relay_errors FILE RE    every line of FILE is a helper's "error ..."
#                           whose message matches RE; prints the others
#   ctl_keys N UID ARGS...  qkdnctl ARGS (a key command) in node N as uid
#                           UID, with "format hex": its keys as "KEYID HEX
#                           BITS" lines (helpers/qkdn_genl.py's form) on
#                           stdout, its error on stderr, its status.  A
#                           qkdnctl run is far cheaper than a Python one
#                           under emulation.
#   ctl_fetch N UID MASTER SLAVE FILE
#                           the keys of FILE (first word: the key ID) by
#                           ID at node N, 128 a request; as ctl_keys
#   refused_each N UID MASTER SLAVE FILE
#                           each key of FILE asked for by ID alone at node
#                           N is refused as unknown or already supplied;
#                           prints what else happened
#   keys_pair NAME MASTER SLAVE
#                           one ok/not ok line: every key in the file
#                           MASTER (helpers/qkdn_genl.py's "KEYID HEX
#                           BITS" lines) is in SLAVE once, with the same
#                           bytes, and SLAVE has no other key
#   keys_unique NAME FILE...  one ok/not ok line: no key ID and no key
#                           bytes twice in the FILEs
#   Both name keys by their IDs only, never print key bytes.
#
# Variables: CONTROLLERD.

CONTROLLERD=${CONTROLLERD:-$TOP/tools/build/qkdn-controllerd}

snap() {
	local -n _snap=$1
	local n ctx i k w links nodes

	shift
	nodes=("$@")
	[ ${#nodes[@]} -gt 0 ] || nodes=("${!TOPO_NODE[@]}")
	_snap=()
	for n in "${nodes[@]}"; do
		ctx=node
		links=()
		while read -r -a w; do
			case "${w[0]}" in
			node)
				ctx=node
				continue
				;;
			link)
				ctx=link.${w[1]}
				links+=("${w[1]}")
				for ((i = 2; i + 1 < ${#w[@]}; i += 2)); do
					[ "${w[i]}" = state ] || continue
					_snap["$n $ctx.up"]=0
					[ "${w[i + 1]}" = up ] && _snap["$n $ctx.up"]=1
				done
				continue
				;;
			pool)
				# "pool link K ..." heads a pool; a link's own
				# "pool capacity ..." line is left out.
				[ "${w[1]}" = link ] && ctx=pool.${w[2]}
				continue
				;;
			blocks | keys | frames | peer | relay | relays)
				for ((i = 1; i + 1 < ${#w[@]}; i += 2)); do
					_snap["$n $ctx.${w[0]}_${w[i]}"]=${w[i + 1]}
				done
				;;
			*)
				[[ $ctx == pool.* ]] || continue
				for ((i = 0; i + 1 < ${#w[@]}; i += 2)); do
					_snap["$n $ctx.${w[i]}"]=${w[i + 1]}
				done
				;;
			esac
		done < <(printf 'node show\nlink show\npool show\n' |
			"$QKDNCTL" -n "qkdn$n" -b -)
		# Relayed keys: the node's counts less its links'.
		_snap["$n relayed.received"]=${_snap["$n node.keys_received"]:-0}
		_snap["$n relayed.supplied"]=${_snap["$n node.keys_supplied"]:-0}
		for k in "${links[@]}"; do
			_snap["$n relayed.received"]=$((_snap["$n relayed.received"] - ${_snap["$n link.$k.keys_received"]:-0}))
			_snap["$n relayed.supplied"]=$((_snap["$n relayed.supplied"] - ${_snap["$n link.$k.keys_supplied"]:-0}))
		done
	done
}

deltas() {
	local -n _da=$1 _db=$2 _dd=$3
	local k

	_dd=()
	for k in "${!_db[@]}"; do
		[[ ${_db[$k]} =~ ^[0-9]+$ ]] || continue
		# shellcheck disable=SC2004 # the keys have blanks
		_dd[$k]=$((${_db[$k]} - ${_da[$k]:-0}))
	done
}

links_start() {
	local n k

	for n in "${!TOPO_NODE[@]}"; do
		for k in "${!TOPO_LINK_A[@]}"; do
			[ "${TOPO_LINK_A[k]}" = "$n" ] || [ "${TOPO_LINK_B[k]}" = "$n" ] ||
				continue
			echo "link set id $k capacity $1 rate $2 running on"
		done | "$QKDNCTL" -n "qkdn$n" -b - || return 1
	done
}

kx_up() {
	qkdnctl -n "qkdn$1" link show id "$2" | grep -q ' state up '
}

kx_up_both() {
	kx_up "${TOPO_LINK_A[$1]}" "$1" && kx_up "${TOPO_LINK_B[$1]}" "$1"
}

kx_down_both() {
	! kx_up "${TOPO_LINK_A[$1]}" "$1" && ! kx_up "${TOPO_LINK_B[$1]}" "$1"
}

link_blackhole() {
	ip -n "qkdn${TOPO_LINK_A[$1]}" link set "to-n${TOPO_LINK_B[$1]}" down
}

link_cut() {
	local k=$1

	# ss -K needs the TCP socket diagnostics, which do not always load
	# on demand.
	modprobe -q tcp_diag
	link_blackhole "$k" || return 1
	in_ns "${TOPO_LINK_A[k]}" ss -K -tnH src "10.77.$k.0/24" >/dev/null &&
		in_ns "${TOPO_LINK_B[k]}" ss -K -tnH src "10.77.$k.0/24" >/dev/null
}

link_mend() {
	ip -n "qkdn${TOPO_LINK_A[$1]}" link set "to-n${TOPO_LINK_B[$1]}" up
}

links_ready() {
	local -A P
	local k n

	snap P
	for k in "${!TOPO_LINK_A[@]}"; do
		for n in "${TOPO_LINK_A[k]}" "${TOPO_LINK_B[k]}"; do
			[ "${P[$n link.$k.up]:-0}" = 1 ] &&
				[ "${P[$n pool.$k.own_bytes]:-0}" -ge "$1" ] || return 1
		done
	done
}

route_via() {
	qkdnctl -n "qkdn$1" route | grep -q "^route $2 via $3 "
}

route_of() {
	qkdnctl -n "qkdn$1" route | sed -n "s/^route $2 via [^ ]* path \(.*\)/\1/p"
}

route_metric() {
	qkdnctl -n "qkdn$1" route |
		sed -n "s/^route $2 via .* metric \([0-9]*\).*/\1/p"
}

metric_is() {
	test "$(route_metric "$1" "$2")" "$3" "$4"
}

pool_settled() {
	local -A P
	local a=${TOPO_LINK_A[$1]} b=${TOPO_LINK_B[$1]} k=$1

	snap P "$a" "$b"
	[ -n "${P[$a pool.$k.own_bytes]}" ] &&
		[ "${P[$a pool.$k.own_bytes]}" = "${P[$b pool.$k.peer_bytes]}" ] &&
		[ "${P[$a pool.$k.peer_bytes]}" = "${P[$b pool.$k.own_bytes]}" ]
}

ends_in_step() {
	local -n _s=$1
	local k a b x y what bad=0

	for k in "${!TOPO_LINK_A[@]}"; do
		a=${TOPO_LINK_A[k]}
		b=${TOPO_LINK_B[k]}
		for what in "relay_tx relay_rx" "relay_rx relay_tx" \
			    "relay_pad_bytes relay_pad_bytes" \
			    "relay_mac_bytes relay_mac_bytes"; do
			read -r x y <<<"$what"
			[ "${_s[$a link.$k.$x]}" = "${_s[$b link.$k.$y]}" ] && continue
			echo "link $k: ${TOPO_NODE[a]} $x ${_s[$a link.$k.$x]}, ${TOPO_NODE[b]} $y ${_s[$b link.$k.$y]}"
			bad=1
		done
	done
	return $bad
}

in_step_now() {
	# shellcheck disable=SC2034 # filled and read through namerefs
	local -A NOW

	snap NOW
	ends_in_step NOW
}

daemon_kill() {
	local pid

	pid=$(cat "$TOPO_DIR/run/$2-${TOPO_NODE[$1]}.pid") || return 1
	kill -"${3:-KILL}" "$pid"
}

daemon_stop() {
	local pid

	pid=$(cat "$TOPO_DIR/run/$2-${TOPO_NODE[$1]}.pid") || return 1
	kill -TERM "$pid" 2>/dev/null
	wait_for 5 eval "! _lib_alive $pid"
}

daemon_restart() {
	local n=$1 name=$2 id=${TOPO_NODE[$1]} bin log

	case "$name" in
	linkd) bin=$LINKD ;;
	controllerd) bin=$CONTROLLERD ;;
	*) return 1 ;;
	esac
	log=$TEST_DIR/$name-$id.restarted.log
	# shellcheck disable=SC2034 # read by the tests
	RESTARTED_LOG=$log
	daemon_spawn "$n" "$log" "$bin" -c "$TOPO_DIR/conf/$name-$id.conf" -f
	_lib_logs+=("$log")
	defer _lib_stop "$SPAWN_PID"
	echo "$SPAWN_PID" >"$TOPO_DIR/run/$name-$id.pid"
}

relay_errors() {
	grep -vE "^error [A-Z0-9]+: ($2)" "$1"
	! grep -qvE "^error [A-Z0-9]+: ($2)" "$1"
}

ctl_keys() {
	local out rc id hex

	out=$(ctl_as "$@" format hex) && rc=0 || rc=$?
	while read -r _ id hex; do
		[ -n "$hex" ] && echo "$id $hex $((${#hex} * 4))"
	done <<<"$out"
	return $rc
}

ctl_fetch() {
	local n=$1 uid=$2 m=$3 s=$4 id rc=0 args=()

	while read -r id _; do
		args+=(id "$id")
		[ ${#args[@]} -lt 256 ] && continue
		ctl_keys "$n" "$uid" key get-by-id master "$m" slave "$s" "${args[@]}" || rc=1
		args=()
	done <"$5"
	if [ ${#args[@]} -gt 0 ]; then
		ctl_keys "$n" "$uid" key get-by-id master "$m" slave "$s" "${args[@]}" || rc=1
	fi
	return $rc
}

refused_each() {
	local id out bad=0

	while read -r id _; do
		if out=$(ctl_as "$1" "$2" key get-by-id master "$3" slave "$4" id "$id" 2>&1); then
			echo "key $id supplied again"
			bad=1
		elif [ "$out" != "Error: key ID unknown or already supplied" ]; then
			echo "key $id: $out"
			bad=1
		fi
	done <"$5"
	return $bad
}

keys_pair() {
	local name=$1 m=$2 s=$3 out

	out=$(LC_ALL=C join -a 1 -a 2 -e - -o 0,1.2,2.2 \
		<(awk '{ print $1, $2 }' "$m" | LC_ALL=C sort) \
		<(awk '{ print $1, $2 }' "$s" | LC_ALL=C sort) |
		awk '$2 == "-" { print "key " $1 " supplied at the slave end only"; next }
		     $3 == "-" { print "key " $1 " not supplied at the slave end"; next }
		     $2 != $3 { print "key " $1 " differs at the two ends" }'
	      awk '{ print $1 }' "$s" | LC_ALL=C sort | uniq -d |
		sed 's/.*/key & supplied twice/')
	if [ -z "$out" ]; then
		ok "$name"
		echo "# $(wc -l <"$m") keys, the same bytes at both ends"
	else
		fail "$name" "$(wc -l <"$m") master keys, $(wc -l <"$s") slave keys"
		_lib_diag "$(head -n 10 <<<"$out")"
	fi
}

keys_unique() {
	local name=$1 out

	shift
	out=$(awk '$1 in id { print "key ID " $1 " twice" }
		   $2 in key { print "keys " key[$2] " and " $1 " have the same bytes" }
		   { id[$1] = 1; key[$2] = $1 }' "$@")
	if [ -z "$out" ]; then
		ok "$name"
		echo "# $(cat "$@" | wc -l) keys, no ID and no bytes twice"
	else
		fail "$name"
		_lib_diag "$(head -n 10 <<<"$out")"
	fi
}

_relay_lap=$(_lib_now_ms)
lap() {
	local now

	now=$(_lib_now_ms)
	echo "# $1: $(((now - _relay_lap) / 1000)).$(((now - _relay_lap) % 1000 / 100)) s"
	_relay_lap=$now
}
