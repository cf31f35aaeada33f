# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for the end-to-end procedure selftests (ITU-T Q.4160 I.2 to I.5)
# on a QKDN built by lib.sh's topo_up with the real daemons, node i in
# netns qkdn<i> with node ID TOPO_NODE[i] (topologies/chain4*.topo: kme-1 -
# kme-2 - kme-3 - kme-4, sae-a to sae-d uid 1001 to 1004, one a node).
# Source it after lib.sh and helpers/nodes.sh.
#
#   procedure_up NAME FILE [N...]
#                           the QKDN of topology FILE up (skip the test
#                           without qkdn-controllerd; fail NAME and exit if
#                           it does not come up, else ok NAME), a monitor
#                           on nodes N (default: every node)
#   pool_has N K BYTES      node N may allocate at least BYTES on link K
#   route_has N DST         node N has a route to node DST
#   chain_ready NAME BYTES POOLS ROUTES
#                           ok NAME once (20 s each) pool_has N K BYTES for
#                           every "N:K" of the list POOLS and route_has N
#                           DST for every "N:DST" of ROUTES; else fail NAME
#                           with kme-1's routes and return 1
#   node_stat N NAME        node N's counter NAME (relays_started, ...)
#   ctrl_stop N             stop node N's qkdn-controllerd (as qkdn-topo
#                           started it)
#   refused NAME TEXT CMD...  CMD fails and says TEXT: one ok/not ok line
#
#   mon_start N             "qkdnctl -j monitor" of node N, from now on,
#                           into $TEST_DIR/mon-N (stopped at exit)
#   mon_mark N              what node N's monitor shows from now on is
#                           looked at
#   mon_mark_all            mon_mark every monitor, once what is on its way
#                           to them is there (0.3 s)
#   mon_msgs N              the Q.4160 messages on node N's monitor since
#                           its mark, "DIR NAME PEER" a line, then the
#                           fields MON_FIELDS names that the message has:
#                           " errno N", " errmsg TEXT", " keys N" (a line
#                           being written is skipped)
#   mon_json N              the same messages as JSON objects
#   mon_is N EXPECTED       mon_msgs N is EXPECTED (lines)
#   mon_check NAME N LINE...  node N's monitor shows exactly these
#                           messages, in this order (waits up to 5 s for
#                           them): one ok/not ok line
#   mon_no_key_bytes NAME   no monitor showed anything like key bytes
#   mon_one_relay NAME SRC DST [COUNT [JQ]]
#                           the relay messages on every monitor since its
#                           mark are of one relay, from SRC to DST, with no
#                           error (and COUNT of them, none for which the
#                           jq condition JQ holds): one ok/not ok line; the
#                           relay ID in R
#
#   key_request NAME N UID MASTER SLAVE NUMBER BITS [LOG...]
#                           a "key request" for NUMBER keys of BITS bits as
#                           MASTER (uid UID) at node N: ok NAME if answered
#                           with them; else fail NAME, the last lines of
#                           each LOG, return 1.  The answer (qkdnctl -j) in
#                           KEYS, its key IDs as "id ID" words in IDS
#   slave_keys PREFIX N UID MASTER SLAVE
#                           the keys of the last key_request asked for by
#                           ID at node N as SLAVE (uid UID): the same bytes
#                           under the same IDs (PREFIX_same_keys_both_ends),
#                           and not a second time (PREFIX_supplied_once)
#   supply NAME MN MUID MASTER SN SUID SLAVE NUMBER BITS
#                           a key request at node MN, the key request with
#                           ID at node SN: the same keys, as asked, one
#                           ok/not ok line
#   ck N [UID] MSG [ctrl ID] [relay UUID] [route A,B,..] [next NODE]
#      [errno N]            a Ck message to node N's kernel, as a
#                           controller sends it (QKDN_CMD_CTRL), by root or
#                           by UID; prints "accepted" or "error ERRNO:
#                           TEXT" (EOPNOTSUPP is named ENOTSUP, its other
#                           name)
#
#   counters_snap TAG       the relay counters of every link and node,
#                           $TEST_DIR/TAG-N
#   counters_moved N        the relay counters of node N that moved between
#                           counters_snap before and counters_snap after,
#                           "link K NAME +D" and "node NAME +D" (sorted)
#   chain_relay_counters PREFIX
#                           one check a node, PREFIX_counters_kmeN: what
#                           moved, MAC bytes left out, is one relay of 128
#                           key bytes from kme-1 to kme-4 along the chain
#                           (the keys themselves the pad of link 1, 128
#                           bytes of pad spent at both ends of each later
#                           link)
#
#   spawn_as N UID NAME CMD...  CMD in node N as UID in the background, its
#                           input from $SPAWN_IN (if set), its output in
#                           $TEST_DIR/NAME.out, its pid in BG[NAME]
#   listen N UID NAME SAE [OPTION...]
#                           helpers/sae_listen.py SAE [OPTION...] by
#                           spawn_as, ready (else return 1)
#   master N UID ARGS...    helpers/qkdn_genl.py session ARGS in node N as
#                           UID (the master SAE's application)
#   session CREATED TAKEN MN MUID MASTER SLAVE LISTENER
#                           a session from MASTER at node MN (uid MUID) to
#                           SLAVE, whose listen LISTENER takes 3 of each 4
#                           keys, with --get 2 --number 4: it is created
#                           (CREATED; else return 1), and the master gets
#                           exactly the keys taken (TAKEN).  Sets SID
#   session_master_check NAME N MASTER SLAVENODE
#   session_slave_check NAME N SLAVE MASTERNODE
#                           mon_check NAME N: the master's (the slave's)
#                           messages of one such session
#
# Variables: HELPERS (selftests/helpers), CONTROLLERD, MON_FIELDS (the
# optional fields of mon_msgs: "errno keys" unless the test says
# otherwise), MARK[N] (node N's monitor's mark), BG, R, KEYS, IDS, SID.

HELPERS=$TOP/selftests/helpers
CONTROLLERD=${CONTROLLERD:-$TOP/tools/build/qkdn-controllerd}
MON_FIELDS="errno keys"
MARK=()
declare -gA BG

# ---- the network ------------------------------------------------------------

procedure_up() {
	local name=$1 file=$2 n

	shift 2
	[ -x "$CONTROLLERD" ] || skip "qkdn-controllerd not built"
	topo_up "$file" || {
		fail "$name"
		exit 1
	}
	ok "$name"
	[ $# -gt 0 ] || set -- "${!TOPO_NODE[@]}"
	for n in "$@"; do
		mon_start "$n"
	done
}

pool_has() {
	qkdnctl -j -n "qkdn$1" pool show id "$2" |
		jq -e ".[0].own_bytes >= $3" >/dev/null
}

route_has() {
	qkdnctl -j -n "qkdn$1" route |
		jq -e --arg d "$2" 'any(.[]; .dst_node_id == $d)' >/dev/null
}

_proc_ready() {
	local bytes=$1 p pools routes

	read -r -a pools <<<"$2"
	read -r -a routes <<<"$3"
	for p in "${pools[@]}"; do
		wait_for 20 pool_has "${p%%:*}" "${p#*:}" "$bytes" || return 1
	done
	for p in "${routes[@]}"; do
		wait_for 20 route_has "${p%%:*}" "${p#*:}" || return 1
	done
}

chain_ready() {
	local name=$1

	shift
	if _proc_ready "$@"; then
		ok "$name"
		return 0
	fi
	fail "$name" "pools or routes missing"
	qkdnctl -n qkdn1 route
	return 1
}

node_stat() {
	qkdnctl -j -n "qkdn$1" node show | jq -r ".stats.$2"
}

ctrl_stop() {
	local pid

	pid=$(cat "$TOPO_DIR/run/controllerd-${TOPO_NODE[$1]}.pid") &&
		_lib_stop "$pid"
}

refused() {
	local name=$1 text=$2 out rc

	shift 2
	out=$("$@" 2>&1) && rc=0 || rc=$?
	if [ $rc -ne 0 ] && [[ $out == *"$text"* ]]; then
		ok "$name"
	else
		fail "$name" "exit $rc, expected a failure saying \"$text\":"
		_lib_diag "$out"
	fi
}

# ---- the monitors -----------------------------------------------------------

mon_start() {
	"$QKDNCTL" -j -n "qkdn$1" monitor >"$TEST_DIR/mon-$1" 2>&1 &
	defer _lib_stop $!
	MARK[$1]=0
}

mon_mark() {
	MARK[$1]=$(wc -l <"$TEST_DIR/mon-$1")
}

mon_mark_all() {
	local n

	sleep 0.3
	for n in "${!MARK[@]}"; do
		mon_mark "$n"
	done
}

mon_msgs() {
	tail -n "+$((MARK[$1] + 1))" "$TEST_DIR/mon-$1" |
		jq -rR --arg f " $MON_FIELDS " '
		def opt(k; v):
			if ($f | contains(" \(k) ")) and v then " \(k) \(v)" else "" end;
		fromjson? | select(.event == "message") |
		"\(.msg_dir) \(.msg) \(.msg_peer)" + opt("errno"; .errno) +
		opt("errmsg"; .errmsg) + opt("keys"; .key_count)'
}

mon_json() {
	tail -n "+$((MARK[$1] + 1))" "$TEST_DIR/mon-$1" |
		jq -cR 'fromjson? | select(.event == "message")'
}

mon_is() {
	[ "$(mon_msgs "$1")" = "$2" ]
}

mon_check() {
	local name=$1 n=$2 want

	shift 2
	want=$(printf '%s\n' "$@")
	if wait_for 5 mon_is "$n" "$want"; then
		ok "$name"
	else
		fail "$name" "${TOPO_NODE[n]}'s monitor differs; expected:"
		_lib_diag "$want"
		echo "# saw:"
		_lib_diag "$(mon_msgs "$n")"
	fi
}

mon_no_key_bytes() {
	if grep -qiE '[0-9a-f]{64}' "$TEST_DIR"/mon-*; then
		fail "$1"
	else
		ok "$1"
	fi
}

mon_one_relay() {
	local name=$1 src=$2 dst=$3 count=${4:-} more=${5:-false}
	local all n nrel bad

	all=$(for n in "${!MARK[@]}"; do mon_json "$n"; done)
	# shellcheck disable=SC2034 # read by the tests
	R=$(jq -r 'select(.relay_id) | .relay_id' <<<"$all" | sort -u)
	nrel=$(jq -s '[.[] | select(.relay_id)] | length' <<<"$all")
	bad=$(jq -c --arg s "$src" --arg d "$dst" "select(.relay_id) |
		select(.src_node_id != \$s or .dst_node_id != \$d or
		       .errno != null or ($more))" <<<"$all")
	if [ "$(wc -l <<<"$R")" = 1 ] && [ -n "$R" ] && [ -z "$bad" ] &&
	   { [ -z "$count" ] || [ "$nrel" = "$count" ]; }; then
		ok "$name"
	else
		fail "$name" "relay IDs [$R], $nrel relay messages${count:+ (want $count)}, bad: $bad"
	fi
}

# ---- keys -------------------------------------------------------------------

# _proc_keys_are JSON NUMBER BITS: JSON (qkdnctl -j) has NUMBER keys of
# BITS bits.
_proc_keys_are() {
	jq -e --argjson n "$2" --argjson l $(($3 / 4)) \
		'.keys | length == $n and all(.key | length == $l)' \
		<<<"$1" >/dev/null 2>&1
}

# _proc_keys JSON: its keys, [ID, bytes] sorted by ID, on one line.
_proc_keys() {
	jq -c '[.keys[] | [.key_ID, .key]] | sort' <<<"$1"
}

key_request() {
	local name=$1 n=$2 uid=$3 ma=$4 sl=$5 num=$6 bits=$7

	shift 7
	KEYS=$(as "$n" "$uid" "$QKDNCTL" -j key get master "$ma" slave "$sl" \
		number "$num" size "$bits" format hex 2>&1)
	if ! _proc_keys_are "$KEYS" "$num" "$bits"; then
		fail "$name" "$KEYS"
		[ $# -eq 0 ] || tail -n 20 "$@"
		return 1
	fi
	ok "$name"
	IDS=$(jq -r '.keys[] | "id \(.key_ID)"' <<<"$KEYS")
}

slave_keys() {
	local p=$1 n=$2 uid=$3 ma=$4 sl=$5 s sk

	# shellcheck disable=SC2086 # IDS is a word list
	s=$(as "$n" "$uid" "$QKDNCTL" -j key get-by-id master "$ma" slave "$sl" \
		$IDS format hex 2>&1)
	sk=$(_proc_keys "$s" 2>/dev/null)
	if [ -n "$sk" ] && [ "$sk" = "$(_proc_keys "$KEYS")" ]; then
		ok "${p}_same_keys_both_ends"
	else
		fail "${p}_same_keys_both_ends" \
			"master: $(jq -c '[.keys[].key_ID]' <<<"$KEYS"), slave: $s"
	fi
	# shellcheck disable=SC2086
	refused "${p}_supplied_once" "key ID unknown or already supplied" \
		as "$n" "$uid" "$QKDNCTL" key get-by-id master "$ma" slave "$sl" $IDS
}

supply() {
	local name=$1 mn=$2 mu=$3 ma=$4 sn=$5 su=$6 sl=$7 num=$8 bits=$9
	local m s ids

	m=$(as "$mn" "$mu" "$QKDNCTL" -j key get master "$ma" slave "$sl" \
		number "$num" size "$bits" format hex 2>&1) || {
		fail "$name" "key get: $m"
		return
	}
	ids=$(jq -r '.keys[] | "id \(.key_ID)"' <<<"$m")
	# shellcheck disable=SC2086 # ids is a word list
	s=$(as "$sn" "$su" "$QKDNCTL" -j key get-by-id master "$ma" slave "$sl" \
		$ids format hex 2>&1) || {
		fail "$name" "key get-by-id: $s"
		return
	}
	if _proc_keys_are "$m" "$num" "$bits" &&
	   [ "$(_proc_keys "$m")" = "$(_proc_keys "$s")" ]; then
		ok "$name"
	else
		fail "$name" "master: $m"
		_lib_diag "slave: $s"
	fi
}

ck() {
	local n=$1 run

	shift
	run=(in_ns "$n")
	if [[ $1 =~ ^[0-9]+$ ]]; then
		run=(as "$n" "$1")
		shift
	fi
	"${run[@]}" python3 - "$HELPERS" "$@" <<-'EOF'
	import sys, uuid
	sys.path.insert(0, sys.argv[1])
	from qkdn_genl import Genl, NlError, Q, nla, nla_strz, nla_u32, NLA_F_NESTED
	args = sys.argv[2:]
	attrs = [nla_u32(Q["QKDN_A_MSG"], Q["QKDN_MSG_" + args[0]])]
	for k, v in zip(args[1::2], args[2::2]):
	    if k == "ctrl":
	        attrs.append(nla_u32(Q["QKDN_A_CTRL_ID"], int(v)))
	    elif k == "relay":
	        attrs.append(nla(Q["QKDN_A_RELAY_ID"], uuid.UUID(v).bytes))
	    elif k == "route":
	        attrs.append(nla(Q["QKDN_A_ROUTE"] | NLA_F_NESTED, b"".join(
	            nla_strz(Q["QKDN_A_ROUTE_NODE"], n) for n in v.split(","))))
	    elif k == "next":
	        attrs.append(nla_strz(Q["QKDN_A_NEXT_HOP"], v))
	    elif k == "errno":
	        attrs.append(nla_u32(Q["QKDN_A_ERRNO"], int(v)))
	try:
	    Genl().request(Q["QKDN_CMD_CTRL"], attrs)
	    print("accepted")
	except NlError as e:
	    print("error %s" % e)
	    sys.exit(1)
	EOF
}

# ---- relay counters ---------------------------------------------------------

counters_snap() {
	local n

	for n in "${!TOPO_NODE[@]}"; do
		{
			qkdnctl -j -n "qkdn$n" link show
			qkdnctl -j -n "qkdn$n" node show
		} | jq -s -c '{links: (.[0] | map({key: (.link_id | tostring),
			value: .stats}) | from_entries), node: .[1].stats}' \
			>"$TEST_DIR/$1-$n"
	done
}

counters_moved() {
	jq -r -n --slurpfile a "$TEST_DIR/after-$1" --slurpfile b "$TEST_DIR/before-$1" '
		($a[0]) as $x | ($b[0]) as $y |
		([$x.links | keys[] as $l | $x.links[$l] | keys[] as $f |
		  select($f | test("^relay")) |
		  select($x.links[$l][$f] != $y.links[$l][$f]) |
		  "link \($l) \($f) +\($x.links[$l][$f] - $y.links[$l][$f])"] +
		 [$x.node | keys[] as $f | select($f | test("^relays_")) |
		  select($x.node[$f] != $y.node[$f]) |
		  "node \($f) +\($x.node[$f] - $y.node[$f])"]) | sort[]'
}

chain_relay_counters() {
	local p=$1 n got
	local -A want=(
		[1]=$'link 1 relay_key_bytes +128\nlink 1 relay_pad_bytes +128\nlink 1 relay_tx +1\nnode relays_done +1\nnode relays_started +1'
		[2]=$'link 1 relay_pad_bytes +128\nlink 1 relay_rx +1\nlink 2 relay_key_bytes +128\nlink 2 relay_pad_bytes +128\nlink 2 relay_tx +1\nnode relays_forwarded +1'
		[3]=$'link 2 relay_pad_bytes +128\nlink 2 relay_rx +1\nlink 3 relay_key_bytes +128\nlink 3 relay_pad_bytes +128\nlink 3 relay_tx +1\nnode relays_forwarded +1'
		[4]=$'link 3 relay_pad_bytes +128\nlink 3 relay_rx +1\nnode relays_ended +1'
	)

	for n in 1 2 3 4; do
		got=$(counters_moved "$n" | grep -v relay_mac_bytes)
		if [ "$got" = "${want[$n]}" ]; then
			ok "${p}_counters_kme$n"
		else
			fail "${p}_counters_kme$n" "expected:"
			_lib_diag "${want[$n]}"
			echo "# got:"
			_lib_diag "$got"
		fi
	done
}

# ---- sessions (I.2) ---------------------------------------------------------

spawn_as() {
	local n=$1 uid=$2 name=$3

	shift 3
	# Not through "as": $! must be the process itself, not a subshell.
	nsenter --net="/run/netns/qkdn$n" setpriv --reuid="$uid" --regid="$uid" \
		--clear-groups "$@" <"${SPAWN_IN:-/dev/null}" \
		>"$TEST_DIR/$name.out" 2>&1 &
	BG[$name]=$!
	defer _lib_stop "${BG[$name]}"
}

listen() {
	local n=$1 uid=$2 name=$3

	shift 3
	spawn_as "$n" "$uid" "$name" python3 "$HELPERS/sae_listen.py" "$@"
	wait_for 10 grep -q '^ready$' "$TEST_DIR/$name.out" || {
		echo "# $name did not start:"
		_lib_diag "$(cat "$TEST_DIR/$name.out")"
		return 1
	}
}

master() {
	local n=$1 uid=$2

	shift 2
	genl "$n" "$uid" session "$@"
}

session() {
	local created=$1 taken=$2 mn=$3 mu=$4 ma=$5 sl=$6 lis=$7 out mk sk

	out=$(master "$mn" "$mu" "$ma" "$sl" --get 2 --number 4 2>&1)
	SID=$(awk '$1 == "session" { print $2 }' <<<"$out")
	if [ -z "$SID" ] ||
	   ! grep -q "^session $SID $ma $sl ${TOPO_NODE[mn]}$" "$TEST_DIR/$lis.out"; then
		fail "$created" "$out"
		_lib_diag "$(cat "$TEST_DIR/$lis.out")"
		return 1
	fi
	ok "$created"
	mk=$(awk 'NF == 3 && $3 == 256 { print $1, $2 }' <<<"$out" | sort)
	sk=$(awk -v s="$SID" '$1 == "key" && $2 == s { print $3, $4 }' \
		"$TEST_DIR/$lis.out" | sort)
	if [ "$(grep -c . <<<"$mk")" = 6 ] && [ "$mk" = "$sk" ]; then
		ok "$taken"
	else
		fail "$taken" "master [$mk] slave [$sk]"
	fi
}

# The messages of one accepted session, --get 2 --number 4, 3 taken of
# each 4: two key requests with the session ID.
session_master_check() {
	local name=$1 n=$2 ma=$3 sn=$4
	local s=("received key request with session ID sae:$ma keys 4"
		"sent key supply notification km:$sn keys 4"
		"received response to key supply notification km:$sn keys 3"
		"sent response to key request with session ID sae:$ma keys 3")

	mon_check "$name" "$n" \
		"received session creation request sae:$ma" \
		'sent session creation request controller' \
		'received response to session creation request controller' \
		"sent response to session creation request sae:$ma" \
		"${s[@]}" "${s[@]}"
}

session_slave_check() {
	local name=$1 n=$2 sl=$3 mn=$4
	local s=("received key supply notification km:$mn keys 4"
		"sent proactive key supply sae:$sl keys 4"
		"received response to proactive key supply sae:$sl"
		"sent response to key supply notification km:$mn keys 3")

	mon_check "$name" "$n" \
		'received session creation notification controller' \
		"sent session creation notification sae:$sl" \
		"received response to session creation notification sae:$sl" \
		'sent response to session creation notification controller' \
		"${s[@]}" "${s[@]}"
}
