# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# An ESP tunnel keyed from QKD between the nodes of qkdn_two_nodes:
# 10.99.1.1 (kme-1, on lo) <-> 10.99.2.1 (kme-2), tunnel endpoints the veth
# addresses 10.77.1.1 and 10.77.1.2. Kernel SAEs ipsec-a (master, at kme-1)
# and ipsec-b (slave, at kme-2). Sourced by the ipsec_* selftests after
# lib.sh.

IPSEC_REKEY=${IPSEC_REKEY:-2}

# ipsec_nodes [ARGS...]: the SAEs, the inner addresses and routes, and
# tunnel 1 at both nodes (ARGS added to both "ipsec add" commands).
ipsec_nodes() {
	qkdnctl -n qkdn1 sae add id ipsec-a kernel || return 1
	qkdnctl -n qkdn1 sae add id ipsec-b node kme-2 || return 1
	qkdnctl -n qkdn2 sae add id ipsec-b kernel || return 1
	qkdnctl -n qkdn2 sae add id ipsec-a node kme-1 || return 1
	in_ns 1 ip addr add 10.99.1.1/32 dev lo || return 1
	in_ns 2 ip addr add 10.99.2.1/32 dev lo || return 1
	in_ns 1 ip route add 10.99.2.0/24 via 10.77.1.2 src 10.99.1.1 || return 1
	in_ns 2 ip route add 10.99.1.0/24 via 10.77.1.1 src 10.99.2.1 || return 1
	ipsec_add "$@"
}

ipsec_add() {
	qkdnctl -n qkdn1 ipsec add id 1 peer kme-2 master ipsec-a \
		slave ipsec-b local 10.77.1.1 remote 10.77.1.2 \
		src 10.99.1.0/24 dst 10.99.2.0/24 rekey "$IPSEC_REKEY" "$@" ||
		return 1
	qkdnctl -n qkdn2 ipsec add id 1 peer kme-1 master ipsec-a \
		slave ipsec-b local 10.77.1.2 remote 10.77.1.1 \
		src 10.99.2.0/24 dst 10.99.1.0/24 rekey "$IPSEC_REKEY" "$@"
}

# ipsec_field N FIELD: of tunnel 1 at node N.
ipsec_field() {
	qkdnctl -j -n "qkdn$1" ipsec show id 1 | jq -r ".[0].$2"
}

ipsec_up() {
	[ "$(ipsec_field "$1" state)" = up ]
}

ipsec_state_is() {
	[ "$(ipsec_field "$1" state)" = "$2" ]
}

# sas N: node N's SAs, as JSON (helpers/ipsec.py).
sas() {
	in_ns "$1" ip -s xfrm state | python3 "$TOP/selftests/helpers/ipsec.py" sas
}

# The counters of packets that met no SA or failed their ICV.
xfrm_errors() {
	in_ns "$1" awk '/XfrmInNoStates|XfrmInStateProtoError|XfrmOutNoStates|XfrmInStateInvalid/ { printf "%s=%s ", $1, $2 }' /proc/net/xfrm_stat
}

# What a refused configuration must leave as it was.
ipsec_state_all() {
	local n

	for n in 1 2; do
		qkdnctl -j -n "qkdn$n" ipsec show | jq -c '[.[] | {id, master, slave, src, dst}]'
		in_ns "$n" ip xfrm policy | grep -c '^src'
	done
}
