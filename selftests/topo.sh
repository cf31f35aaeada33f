#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# scripts/qkdn-topo, the topology builder (Documentation/topologies.md):
# topologies/chain4.topo and ring6.topo come up for real (one netns per
# node with its node ID, a veth pair and a qkdsim pair per link, the
# management network, the SAEs, a qkdn-linkd per node), every link comes
# up, and over every link a key request at one end and a key request with
# ID at the other give the same bytes, both ways; "down" leaves nothing
# behind.  With qkdn-controllerd built, a distributed and a centralized
# network start a controller (or an agent) in every node.  The shipped
# topologies are valid; bad topology files are refused with FILE:LINE and
# exit 2, and nothing is created.
#
# timeout: 600

# shellcheck source=selftests/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/nodes.sh
source "$(dirname "$0")/helpers/nodes.sh"

require setpriv openssl

# The checks read qkdnctl's text output (Documentation/qkdnctl.md) with
# shell builtins: under emulation every process counts.

# pool_own_k N K BYTES: node N may allocate at least BYTES on link K.
pool_own_k() {
	local out

	out=$(qkdnctl -n "qkdn$1" pool show id "$2") || return 1
	[[ $out =~ own_bytes\ ([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge "$3" ]
}

# verdict NAME PROBLEMS MSG: ok when PROBLEMS is empty, else fail with MSG
# and PROBLEMS.
verdict() {
	if [ -z "$2" ]; then
		ok "$1"
	else
		fail "$1" "$3$2"
	fi
}

# no_topology: no node netns, no qkdsim pair, no daemon is left.
no_topology() {
	local left

	left=$(ip netns list | awk '$1 ~ /^qkdn/ { print $1 }')
	[ -z "$left" ] || { echo "# netns left: $left"; return 1; }
	left=$(find "$QKDSIM_DEBUGFS" -maxdepth 1 -name 'qkdsim[0-9]*' 2>/dev/null)
	[ -z "$left" ] || { echo "# qkdsim pairs left: $left"; return 1; }
	left=$(pgrep -f "$TEST_DIR/topo-" || true)
	[ -z "$left" ] || { echo "# processes left: $left"; return 1; }
}

# keys_across K A B: two keys asked for by the SAE of node A (master)
# for the SAE of node B (slave), over link K, then by ID at node B: the
# same IDs, the same bytes.  Key bytes are compared, never printed.
keys_across() {
	local k=$1 a=$2 b=$3 ma mu sl su m s id hex ids=() n=0 bad=0

	read -r ma mu <<<"$(topo_sae "$a")" || return 1
	read -r sl su <<<"$(topo_sae "$b")" || return 1
	m=$(ctl_as "$a" "$mu" key get master "$ma" slave "$sl" \
		number 2 size 256 format hex) || {
		echo "# link $k: key get at ${TOPO_NODE[a]} failed"
		return 1
	}
	# "key_ID UUID HEX" a line
	while read -r _ id hex; do
		ids+=(id "$id")
		n=$((n + 1))
		[ ${#hex} -eq 64 ] || bad=1
	done <<<"$m"
	s=$(ctl_as "$b" "$su" key get-by-id master "$ma" slave "$sl" \
		"${ids[@]}" format hex) || {
		echo "# link $k: key get-by-id at ${TOPO_NODE[b]} failed"
		return 1
	}
	if [ $n -ne 2 ] || [ $bad -ne 0 ] || [ "$m" != "$s" ]; then
		echo "# link $k: the keys at ${TOPO_NODE[a]} and ${TOPO_NODE[b]} differ"
		return 1
	fi
}

# node_link_lines N: what "link show" of node N should say, as
# "link K peer P device qkdsimK state up running on" lines, sorted.
node_link_lines() {
	local n=$1 k p

	for k in "${!TOPO_LINK_A[@]}"; do
		if [ "${TOPO_LINK_A[k]}" = "$n" ]; then
			p=${TOPO_LINK_B[k]}
		elif [ "${TOPO_LINK_B[k]}" = "$n" ]; then
			p=${TOPO_LINK_A[k]}
		else
			continue
		fi
		echo "link $k peer ${TOPO_NODE[p]} device qkdsim$k state up running on"
	done | sort
}

# node_sae_lines N: what "sae show" of node N should say, sorted.
node_sae_lines() {
	local n=$1 s

	for s in "${!TOPO_SAE[@]}"; do
		if [ "${TOPO_SAE_NODE[s]}" = "$n" ]; then
			echo "sae ${TOPO_SAE[s]} uid ${TOPO_SAE_UID[s]}"
		else
			echo "sae ${TOPO_SAE[s]} node ${TOPO_NODE[${TOPO_SAE_NODE[s]}]}"
		fi
	done | sort
}

# one_topology NAME: build topologies/NAME.topo without controllers and
# check it.
one_topology() {
	local name=$1 i k a b n bad out t0

	t0=$(_lib_now_ms)
	if topo_up "$TOPO/$name.topo" --no-controller; then
		ok "${name}_up"
	else
		fail "${name}_up"
		return 1
	fi
	n=${#TOPO_NODE[@]}

	# Node IDs, one per netns, in the order of the file.
	bad=
	for ((i = 1; i <= n; i++)); do
		out=$(qkdnctl -n "qkdn$i" node show | head -n 1)
		out=${out#node }
		out=${out%% *}
		[ "$out" = "${TOPO_NODE[i]}" ] || bad+=" qkdn$i:$out"
	done
	verdict "${name}_node_ids" "$bad" "wrong node ID:"

	# Every node has its links and no other, each to the right peer
	# and device, up (Kx channel) and running (QKD module).
	bad=
	for ((i = 1; i <= n; i++)); do
		out=$(qkdnctl -n "qkdn$i" link show | grep '^link' |
			sed -E 's/ rate [0-9]+$//' | sort)
		[ "$out" = "$(node_link_lines "$i")" ] || {
			bad+=" ${TOPO_NODE[i]}"
			_lib_diag "$out"
		}
	done
	verdict "${name}_links_up" "$bad" "links not as built at"

	# Each SAE local at its node, remote (served by its node) elsewhere.
	bad=
	for ((i = 1; i <= n; i++)); do
		out=$(qkdnctl -n "qkdn$i" sae show | sort)
		[ "$out" = "$(node_sae_lines "$i")" ] || bad+=" ${TOPO_NODE[i]}"
	done
	verdict "${name}_saes" "$bad" "wrong SAEs at"

	# The management network joins every node to every other: from
	# node 1, a TCP connection to each node's link daemon (listening on
	# every address) over it.
	bad=
	for ((i = 2; i <= n; i++)); do
		in_ns 1 timeout 5 bash -c ": </dev/tcp/10.78.0.$i/7400" 2>/dev/null ||
			bad+=" 10.78.0.$i"
	done
	verdict "${name}_mgmt_network" "$bad" "unreachable from qkdn1:"

	# Keys over every link, both ways.
	for k in "${!TOPO_LINK_A[@]}"; do
		a=${TOPO_LINK_A[k]} b=${TOPO_LINK_B[k]}
		if ! wait_for 30 eval "pool_own_k $a $k 64 && pool_own_k $b $k 64"; then
			fail "${name}_link${k}_keys_match" "no key in the pools of link $k"
			continue
		fi
		if keys_across "$k" "$a" "$b" && keys_across "$k" "$b" "$a"; then
			ok "${name}_link${k}_keys_match"
		else
			fail "${name}_link${k}_keys_match"
		fi
	done

	topo_down
	check "${name}_down_leaves_nothing" no_topology
	echo "# $name: $(( ($(_lib_now_ms) - t0) / 1000 )) s"
}

# ---- the topologies -----------------------------------------------------

one_topology chain4
one_topology ring6

# ---- with QKDN controllers -----------------------------------------------

# controllers_run: a qkdn-controllerd runs in every node of the topology.
controllers_run() {
	local i pid bad=

	for ((i = 1; i <= ${#TOPO_NODE[@]}; i++)); do
		pid=$(cat "$TOPO_DIR/run/controllerd-${TOPO_NODE[i]}.pid" 2>/dev/null) &&
			_lib_alive "$pid" || bad+=" ${TOPO_NODE[i]}"
	done
	echo "$bad"
}

# with_controllers NAME LINE...: the topology of LINES, controllers
# included: they start (and listen, but agents) and stay up.
with_controllers() {
	local name=$1 f=$TEST_DIR/$1.topo

	shift
	printf '%s\n' "$@" >"$f"
	if [ ! -x "$TOP/tools/build/qkdn-controllerd" ]; then
		ok "${name}_controllers_up # SKIP qkdn-controllerd not built"
		return
	fi
	if ! topo_up "$f" --stopped; then
		fail "${name}_controllers_up" "qkdn-topo up failed"
		return
	fi
	sleep 1
	verdict "${name}_controllers_up" "$(controllers_run)" "no controller at"
	topo_down
}

with_controllers distributed2 'controller distributed' \
	'node kme-1' 'node kme-2' 'link kme-1 kme-2'
with_controllers centralized3 'controller centralized kme-2' \
	'node kme-1' 'node kme-2' 'node kme-3' 'link kme-1 kme-2' 'link kme-2 kme-3'

# The topologies shipped are all valid.
bad=
for f in "$TOPO"/*.topo; do
	"$QKDN_TOPO" check "$f" >/dev/null 2>&1 || bad+=" $(basename "$f")"
done
verdict topo_files_valid "$bad" "refused:"

# ---- what is refused ----------------------------------------------------

# refused NAME 'FILE:LINE: MESSAGE' LINES...: a topology of LINES is refused,
# with exit 2, that message, and nothing is built.
refused() {
	local name=$1 msg=$2 f out rc

	shift 2
	f=$TEST_DIR/$name.topo
	printf '%s\n' "$@" >"$f"
	msg=${msg/FILE/$f}
	out=$("$QKDN_TOPO" up "$f" --dir "$TEST_DIR/bad" 2>&1) && rc=0 || rc=$?
	if [ $rc -eq 2 ] && grep -qxF -- "$msg" <<<"$out" && no_topology >/dev/null; then
		ok "topo_refuses_$name"
	else
		fail "topo_refuses_$name" "exit $rc (want 2), want the line: $msg"
		_lib_diag "$out"
		"$QKDN_TOPO" down --dir "$TEST_DIR/bad" >/dev/null 2>&1
	fi
}

refused unknown_keyword "FILE:2: unknown keyword 'nod' (node, link, sae or controller)" \
	'node a' 'nod b'
refused node_twice "FILE:3: node a given twice (first on line 1)" \
	'node a' '# a comment' 'node a'
refused link_unknown_node "FILE:3: link to unknown node c" \
	'node a' 'node b' 'link a c'
refused self_link "FILE:2: link from a to itself" \
	'node a' 'link a a rate 1M'
refused link_twice "FILE:4: a link between b and a exists already (line 3)" \
	'node a' 'node b' 'link a b' 'link b a'
refused sae_unknown_node "FILE:3: SAE s1 on unknown node x" \
	'node a' 'node b' 'sae s1 x uid 1001'
refused sae_twice "FILE:4: SAE s1 given twice (first on line 3)" \
	'node a' 'node b' 'sae s1 a uid 1001' 'sae s1 b uid 1002'
refused rate "FILE:3: bad rate '12x': bits/s, 0 to 10G, decimal with an optional k, M or G" \
	'node a' 'node b' 'link a b rate 12x'
refused rate_too_high "FILE:3: bad rate '11G': bits/s, 0 to 10G, decimal with an optional k, M or G" \
	'node a' 'node b' 'link a b rate 11G'
refused controller_node "FILE:1: controller in unknown node z" \
	'controller centralized z' 'node a'
refused no_node "FILE: no node" '# nothing'

# A controller the topology asks for but that is not built: a clear
# failure (exit 1), nothing built.
out=$(CONTROLLERD=$TEST_DIR/no-controllerd "$QKDN_TOPO" up "$TOPO/chain4.topo" \
	--dir "$TEST_DIR/noctl" 2>&1) && rc=0 || rc=$?
if [ "$rc" -eq 1 ] && grep -q "asks for a distributed controller but .* is not built" <<<"$out" &&
   no_topology >/dev/null; then
	ok topo_refuses_missing_controllerd
else
	fail topo_refuses_missing_controllerd "exit $rc (want 1)"
	_lib_diag "$out"
	"$QKDN_TOPO" down --dir "$TEST_DIR/noctl" >/dev/null 2>&1
fi
