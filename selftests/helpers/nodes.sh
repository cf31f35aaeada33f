# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Helpers for selftests on the standard two-node set-up (lib.sh's
# qkdn_two_nodes: kme-1 in qkdn1, kme-2 in qkdn2, link 1, sae-a uid 1001 on
# kme-1, sae-b uid 1002 on kme-2).  Source it after lib.sh.
#
#   as N UID CMD...         CMD in node N as uid UID (an SAE's application)
#   ctl_as N UID ARGS...    qkdnctl ARGS in node N as uid UID
#   link_json N             link 1 of node N, one JSON object
#   pool_json N             pool of link 1 of node N, one JSON object
#   link_up N               link 1 of node N is up (Kx channel)
#   pool_own N BYTES        node N may allocate at least BYTES
#   pools_agree             own bytes here = peer bytes there both ways,
#                           nothing pending at either end
#   kcheck NAME ARGS...     helpers/keycheck.py ARGS, one ok/not ok line
#   genl N UID ARGS...      helpers/qkdn_genl.py ARGS in node N as uid UID
#
# Variables: GENL, KEYCHECK (the helpers' paths).

GENL=$TOP/selftests/helpers/qkdn_genl.py
KEYCHECK=$TOP/selftests/helpers/keycheck.py

as() {
	local n=$1 uid=$2

	shift 2
	in_ns "$n" setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"
}

ctl_as() {
	local n=$1 uid=$2

	shift 2
	as "$n" "$uid" "$QKDNCTL" "$@"
}

genl() {
	local n=$1 uid=$2

	shift 2
	as "$n" "$uid" python3 "$GENL" "$@"
}

link_json() {
	qkdnctl -j -n "qkdn$1" link show id 1 | jq -c '.[0]'
}

pool_json() {
	qkdnctl -j -n "qkdn$1" pool show id 1 | jq -c '.[0]'
}

link_up() {
	qkdnctl -j -n "qkdn$1" link show id 1 | jq -e '.[0].up == true' >/dev/null
}

pool_own() {
	qkdnctl -j -n "qkdn$1" pool show id 1 |
		jq -e ".[0].own_bytes >= $2" >/dev/null
}

pools_agree() {
	local p1 p2

	p1=$(pool_json 1) && p2=$(pool_json 2) || return 1
	jq -e --argjson o "$p2" '.own_bytes == $o.peer_bytes and
		.peer_bytes == $o.own_bytes and .pending_bytes == 0 and
		$o.pending_bytes == 0' <<<"$p1" >/dev/null
}

kcheck() {
	local name=$1 out

	shift
	if out=$(python3 "$KEYCHECK" "$@" 2>&1); then
		ok "$name"
		_lib_diag "$(tail -n 1 <<<"$out")"
	else
		fail "$name"
		_lib_diag "$out"
	fi
}
