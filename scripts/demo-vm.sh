#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo, inside the VM. Part 1: two nodes (network namespaces joined by
# veth), a simulated QKD link filling both key stores, an application on
# node 1 asking its KM for keys, an application on node 2 getting the same
# keys by ID from its own KM (I.1). Part 2: four nodes in a chain built by
# scripts/qkdn-topo from topologies/chain4.topo, a QKDN controller in each
# (distributed), a key relayed from kme-1 to kme-4 for an application
# whose node has no QKD link to the source's (I.5a). Between them, the
# same two nodes serve keys over HTTPS as ETSI GS QKD 014 defines it,
# through qkdn-kmed, to applications known by their TLS client
# certificates. Part 3: an ESP tunnel between kme-1 and kme-2 whose SAs
# the kernel keys from their QKD link and replaces every 2 s, with ping and
# a TCP transfer through it. Key bytes are never shown: only their SHA-256
# digests.

cd "$(dirname "$0")/.." || exit 1
TEST_NAME=demo
source selftests/lib.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
	local n=$1
	shift
	printf '[kme-%s]# %s\n' "$n" "$*"
	in_ns "$n" "$@" | sed 's/^/    /'
	return "${PIPESTATUS[0]}"
}
# app N UID ARGS...: run qkdnctl in node N as the application's uid.
app() {
	local n=$1 uid=$2
	shift 2
	in_ns "$n" setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		"$QKDNCTL" "$@"
}

# digests: "key_ID <uuid> <hex>" lines -> "key_ID <uuid> sha256 <digest>"
digests() {
	local id hex
	while read -r _ id hex; do
		printf '    key_ID %s  sha256 %s\n' "$id" \
			"$(printf '%s' "$hex" | xxd -r -p | sha256sum | cut -c1-64)"
	done
}

modprobe veth 2>/dev/null
# qkdn.ko's dependencies (modinfo), then the module.
for d in $(modinfo -F depends kernel/qkdn.ko | tr ',' ' '); do
	modprobe "$d" || exit 1
done
lsmod | grep -q '^qkdn ' || insmod kernel/qkdn.ko || exit 1
lsmod | grep -q '^qkdsim ' || insmod kernel/qkdsim.ko || exit 1
defer rmmod qkdsim qkdn
PATH=$TOP/tools/build:$PATH
Q=qkdnctl

step "Two QKD nodes: kme-1 and kme-2, each a network namespace, joined by veth"
nodes_create 2 || exit 1
run 1 ip -brief addr show to-n2
run 1 "$Q" node set id kme-1
run 2 "$Q" node set id kme-2

step "A simulated QKD module pair feeds both nodes the same key blocks"
qkdsim_new 1 1 && qkdsim_new 1 2 || exit 1
echo "    qkdsim1 in kme-1 and kme-2 (pair 1), rate 4 Mb/s of secure key"
qkdsim_set 1 rate 4000000

step "The QKD link and the applications (SAEs) each node serves"
run 1 "$Q" link add id 1 peer kme-2 device qkdsim1
run 2 "$Q" link add id 1 peer kme-1 device qkdsim1
run 1 "$Q" sae add id sae-a uid 1001
run 1 "$Q" sae add id sae-b node kme-2
run 2 "$Q" sae add id sae-b uid 1002
run 2 "$Q" sae add id sae-a node kme-1
run 1 "$Q" sae show

step "The link daemons: TLS 1.3 with mutual certificate authentication"
c=$TEST_DIR/certs
certs_make "$c" kme-1 kme-2 >/dev/null || exit 1
linkd_conf "$TEST_DIR/l1.conf" "listen = 10.77.1.1:7400" "cert = $c/kme-1.crt" \
	"key = $c/kme-1.key" "ca = $c/ca.crt" "peer kme-2 = 10.77.1.2:7400"
linkd_conf "$TEST_DIR/l2.conf" "listen = 10.77.1.2:7400" "cert = $c/kme-2.crt" \
	"key = $c/kme-2.key" "ca = $c/ca.crt" "peer kme-1 = 10.77.1.1:7400"
sed 's/^/    /' "$TEST_DIR/l1.conf"
linkd_start 1 "$TEST_DIR/l1.conf" && linkd_start 2 "$TEST_DIR/l2.conf" || exit 1
up() { "$Q" -j -n "qkdn$1" link show id 1 | grep -q '"up":true'; }
wait_for 15 up 1 && wait_for 15 up 2 || { echo "channel did not come up"; exit 1; }
run 1 "$Q" link show

step "Start the QKD modules (Cq) and watch the pools fill"
run 1 "$Q" link set id 1 running on
run 2 "$Q" link set id 1 running on
for i in 1 2 3; do
	sleep 1
	run 1 "$Q" pool show id 1 | grep -E 'pool|stored'
done
run 2 "$Q" pool show id 1

step "I.1 (1)-(2): the application on kme-1 (uid 1001, sae-a) asks its KM for 2 keys of 256 bits for sae-b"
echo "[kme-1]\$ qkdnctl key get master sae-a slave sae-b number 2 size 256"
out=$(app 1 1001 key get master sae-a slave sae-b number 2 size 256 format hex) || exit 1
ids=$(echo "$out" | awk '{ print "id", $2 }' | tr '\n' ' ')
echo "$out" | awk '{ print "    key_ID", $2 }'
echo "    digests of the keys sae-a received:"
echo "$out" | digests | tee "$TEST_DIR/d1"

step "I.1 (3): sae-a tells sae-b the key IDs (Ax, between the applications)"
step "I.1 (4)-(5): the application on kme-2 (uid 1002, sae-b) asks its own KM for those keys by ID"
echo "[kme-2]\$ qkdnctl key get-by-id master sae-a slave sae-b $ids"
out=$(app 2 1002 key get-by-id master sae-a slave sae-b $ids format hex) || exit 1
echo "    digests of the keys sae-b received:"
echo "$out" | digests | tee "$TEST_DIR/d2"
if cmp -s "$TEST_DIR/d1" "$TEST_DIR/d2"; then
	echo "    => both applications hold the same keys"
else
	echo "    => MISMATCH"; exit 1
fi

step "Each key is supplied once, and only to its SAE"
echo "[kme-2]\$ qkdnctl key get-by-id master sae-a slave sae-b $ids   # again"
app 2 1002 key get-by-id master sae-a slave sae-b $ids 2>&1 | sed 's/^/    /'
echo "[kme-2]# qkdnctl key get-by-id ...   # as root, not sae-b's uid"
in_ns 2 "$Q" key get-by-id master sae-a slave sae-b $ids 2>&1 | sed 's/^/    /'

step "Counters on both ends"
run 1 "$Q" link show
run 2 "$Q" link show

# --- ETSI GS QKD 014 over HTTPS ----------------------------------------

step "ETSI GS QKD 014: a key delivery gateway (qkdn-kmed) on each node, HTTPS with client certificates"
certs_make "$c" sae-x sae-y >/dev/null || exit 1
run 1 "$Q" sae add id sae-x cred sae-x
run 1 "$Q" sae add id sae-y node kme-2
run 2 "$Q" sae add id sae-y cred sae-y
run 2 "$Q" sae add id sae-x node kme-1
for n in 1 2; do
	printf '%s\n' "listen = 10.77.1.$n:8443" "cert = $c/kme-$n.crt" \
		"key = $c/kme-$n.key" "ca = $c/ca.crt" "threads = 1" \
		>"$TEST_DIR/kmed-$n.conf"
	daemon_spawn "$n" "$TEST_DIR/kmed-$n.log" qkdn-kmed \
		-c "$TEST_DIR/kmed-$n.conf" -f
	KMED_PID[n]=$SPAWN_PID
	defer _lib_stop "$SPAWN_PID"
done
wait_for 10 _lib_listening 1 8443 && wait_for 10 _lib_listening 2 8443 ||
	{ echo "the gateways did not start"; exit 1; }
sed 's/^/    /' "$TEST_DIR/kmed-1.conf"
echo "    sae-x and sae-y present certificates whose CN is their credential"

# etsi N SAE PATH [CURL ARGS...]: curl at node N's gateway as SAE.
etsi() {
	local n=$1 sae=$2 path=$3

	shift 3
	in_ns "$n" curl -sS --cacert "$c/ca.crt" --cert "$c/$sae.crt" \
		--key "$c/$sae.key" --resolve "kme-$n:8443:10.77.1.$n" "$@" \
		"https://kme-$n:8443$path"
}
# kdigests: a key container -> "key_ID <uuid>  sha256 <digest>" lines
kdigests() {
	jq -r '.keys[] | "\(.key_ID) \(.key)"' | while read -r id k; do
		printf '    key_ID %s  sha256 %s\n' "$id" \
			"$(printf '%s' "$k" | base64 -d | sha256sum | cut -c1-64)"
	done
}

echo "[sae-x]\$ curl --cert sae-x.crt https://kme-1:8443/api/v1/keys/sae-y/status"
etsi 1 sae-x /api/v1/keys/sae-y/status | jq . | sed 's/^/    /'
echo "[sae-x]\$ curl --cert sae-x.crt 'https://kme-1:8443/api/v1/keys/sae-y/enc_keys?number=2&size=256'"
enc=$(etsi 1 sae-x '/api/v1/keys/sae-y/enc_keys?number=2&size=256') || exit 1
echo "    digests of the keys sae-x received:"
kdigests <<<"$enc" | tee "$TEST_DIR/e1"
req=$(jq -c '{key_IDs: [.keys[] | {key_ID}]}' <<<"$enc")
echo "[sae-y]\$ curl --cert sae-y.crt -d '$req' https://kme-2:8443/api/v1/keys/sae-x/dec_keys"
etsi 2 sae-y /api/v1/keys/sae-x/dec_keys -H 'Content-Type: application/json' \
	-d "$req" | kdigests | tee "$TEST_DIR/e2"
if cmp -s "$TEST_DIR/e1" "$TEST_DIR/e2"; then
	echo "    => both applications hold the same keys"
else
	echo "    => MISMATCH"; exit 1
fi
echo "[sae-y]\$ curl ... dec_keys   # the same IDs again"
etsi 2 sae-y /api/v1/keys/sae-x/dec_keys -H 'Content-Type: application/json' \
	-d "$req" -w '  (HTTP %{http_code})\n' | sed 's/^/    /'
echo "[sae-y]\$ curl ... enc_keys with size=100"
etsi 2 sae-y '/api/v1/keys/sae-x/enc_keys?size=100' -w '  (HTTP %{http_code})\n' |
	sed 's/^/    /'

# --- part 2: key relay across four nodes ---------------------------------

# The two nodes go (their link daemons, the QKD pair, the namespaces).
for n in 1 2; do
	_lib_stop "${KMED_PID[n]}"
	_lib_stop "${LINKD_PID[n]}"
done
qkdsim_del 1
ip netns del qkdn1
ip netns del qkdn2

step "Part 2: four QKD nodes in a chain, a QKDN controller in each (distributed QKDN)"
echo "    topologies/chain4.topo:"
grep -v '^#' topologies/chain4.topo | sed -e '/^$/d' -e 's/^/      /'
echo "[host]# scripts/qkdn-topo up topologies/chain4.topo"
topo_up "$TOPO/chain4.topo" >"$TEST_DIR/up" || { cat "$TEST_DIR/up"; exit 1; }
sed 's/^# /    /' "$TEST_DIR/up"
echo "    each node: its KM (network namespace qkdn<i>), qkdn-linkd, qkdn-controllerd"

step "sae-d's node kme-4 has no QKD link to kme-1: only to kme-3"
run 4 "$Q" link show | grep -E '^ *link'
run 1 "$Q" sae show id sae-d

step "The controllers exchange their links' state (Cx) and publish routes into each KM"
run 1 "$Q" route

step "Both KMs' monitors listen for the Q.4160 messages"
for n in 1 4; do
	in_ns "$n" "$Q" monitor >"$TEST_DIR/mon$n" 2>&1 &
	MON[n]=$!
	defer _lib_stop "${MON[n]}"
	echo "[kme-$n]# qkdnctl monitor &"
done
sleep 1

step "I.5a: the application on kme-1 (sae-a) asks its KM for 2 keys of 256 bits for sae-d"
echo "[kme-1]\$ qkdnctl key get master sae-a slave sae-d number 2 size 256"
out=$(app 1 1001 key get master sae-a slave sae-d number 2 size 256 format hex) ||
	exit 1
ids=$(echo "$out" | awk '{ print "id", $2 }' | tr '\n' ' ')
echo "$out" | awk '{ print "    key_ID", $2 }'
echo "    digests of the keys sae-a received:"
echo "$out" | digests | tee "$TEST_DIR/r1"

step "sae-a tells sae-d the key IDs; sae-d asks kme-4 for them"
echo "[kme-4]\$ qkdnctl key get-by-id master sae-a slave sae-d $ids"
# shellcheck disable=SC2086 # one "id UUID" pair a key
out=$(app 4 1004 key get-by-id master sae-a slave sae-d $ids format hex) || exit 1
echo "    digests of the keys sae-d received:"
echo "$out" | digests | tee "$TEST_DIR/r4"
if cmp -s "$TEST_DIR/r1" "$TEST_DIR/r4"; then
	echo "    => both applications hold the same keys, four nodes apart"
else
	echo "    => MISMATCH"; exit 1
fi

sleep 0.5
for n in 1 4; do
	_lib_stop "${MON[n]}"
done
step "What kme-1's monitor showed"
grep -E '^(message|keys-)' "$TEST_DIR/mon1" | sed 's/^/    /'
step "What kme-4's monitor showed"
grep -E '^(message|keys-)' "$TEST_DIR/mon4" | sed 's/^/    /'

step "Relay counters: each hop took pad and MAC key from its own link's pool"
for n in 1 2 3 4; do
	echo "[kme-$n]# qkdnctl link show   (relay lines)"
	in_ns "$n" "$Q" link show | awk '/^link/ { l = $1 " " $2 " to " $4 }
		/^\trelay / { print "    " l ": " substr($0, 2) }'
	in_ns "$n" "$Q" node show |
		awk '/^node/ { n = $1 " " $2 } /^\trelays / { print "    " n ": " substr($0, 2) }'
done
step "Part 3: an ESP tunnel between kme-1 and kme-2, keyed from their QKD link by the kernel"
echo "    10.99.1.1 (kme-1) <-> 10.99.2.1 (kme-2), outer addresses 10.77.1.1 and 10.77.1.2;"
echo "    kernel SAEs ipsec-a and ipsec-b: no process may act as them. A rekey every 2 s."
IPSEC=(ipsec add id 1 master ipsec-a slave ipsec-b rekey 2)
run 1 "$Q" sae add id ipsec-a kernel || exit 1
run 1 "$Q" sae add id ipsec-b node kme-2 || exit 1
run 2 "$Q" sae add id ipsec-b kernel || exit 1
run 2 "$Q" sae add id ipsec-a node kme-1 || exit 1
in_ns 1 ip addr add 10.99.1.1/32 dev lo && in_ns 2 ip addr add 10.99.2.1/32 dev lo &&
	in_ns 1 ip route add 10.99.2.0/24 via 10.77.1.2 src 10.99.1.1 &&
	in_ns 2 ip route add 10.99.1.0/24 via 10.77.1.1 src 10.99.2.1 || exit 1
echo "    the responder (kme-2, the slave SAE's node) first: the initiator rekeys at once"
run 2 "$Q" "${IPSEC[@]}" peer kme-1 local 10.77.1.2 remote 10.77.1.1 \
	src 10.99.2.0/24 dst 10.99.1.0/24 || exit 1
run 1 "$Q" "${IPSEC[@]}" peer kme-2 local 10.77.1.1 remote 10.77.1.2 \
	src 10.99.1.0/24 dst 10.99.2.0/24 || exit 1
ipsec_up() {
	[ "$(in_ns "$1" "$Q" -j ipsec show id 1 | jq -r '.[0].state')" = up ]
}
wait_for 20 ipsec_up 1 && wait_for 5 ipsec_up 2 || { echo "    tunnel not up"; exit 1; }
run 1 "$Q" ipsec show
run 2 "$Q" ipsec show

step "Both ends hold the same key for each SPI (root reads it with ip xfrm state; digests shown)"
for n in 1 2; do
	echo "[kme-$n]# ip xfrm state   (SPI, algorithm, sha256 of the key)"
	in_ns "$n" ip xfrm state | awk '/proto esp spi/ { spi = $4 }
		/aead/ { print spi, $2, $3 }' | while read -r spi alg key; do
		printf '    spi %s %s sha256 %s\n' "$spi" "$alg" \
			"$(printf '%s' "${key#0x}" | xxd -r -p | sha256sum | cut -c1-16)"
	done
done

step "Traffic through the tunnel: ping, then 6 s of TCP while the keys change"
run 1 ping -c 3 -I 10.99.1.1 10.99.2.1 || exit 1
r0=$(in_ns 1 "$Q" -j ipsec show id 1 | jq '.[0].rekeys')
in_ns 2 python3 selftests/helpers/ipsec.py sink 10.99.2.1 5001 >"$TEST_DIR/sink" 2>/dev/null &
sink=$!
wait_for 10 _lib_listening 2 5001 || exit 1
echo "[kme-1]# (a TCP transfer from 10.99.1.1 to 10.99.2.1:5001 for 6 s)"
src=$(in_ns 1 python3 selftests/helpers/ipsec.py source 10.99.1.1 10.99.2.1 5001 6)
wait $sink
r1=$(in_ns 1 "$Q" -j ipsec show id 1 | jq '.[0].rekeys')
echo "    sent $(jq .bytes <<<"$src") bytes in $(jq '.seconds * 10 | floor / 10' <<<"$src") s, received $(jq .bytes "$TEST_DIR/sink") bytes"
if [ "$(jq -r .sha256 <<<"$src")" = "$(jq -r .sha256 "$TEST_DIR/sink")" ] &&
	[ -z "$(jq -r .error <<<"$src")" ]; then
	echo "    => the data arrived intact across $((r1 - r0)) rekeys; one TCP connection throughout"
else
	echo "    => TRANSFER FAILED: $src"; exit 1
fi
run 1 "$Q" ipsec show

echo
echo "demo complete"
