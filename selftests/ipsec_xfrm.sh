#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# IPsec keyed from QKD (kernel/ipsec.c): an ESP tunnel between the two
# nodes' namespaces, 10.99.1.0/24 (kme-1) <-> 10.99.2.0/24 (kme-2), over
# the veth between them, whose SAs the module installs and replaces from
# the key store. Kernel SAEs ipsec-a (master, kme-1) and ipsec-b (slave,
# kme-2).
#
#  1. Configuration: every refusal (missing, wrong type, out of range,
#     unknown SAE, SAE not a kernel SAE, no link, duplicates, selector in
#     use, not root) with nothing changed.
#  2. Ping and a bulk TCP transfer pass through the tunnel; the SAs on both
#     ends hold the same key for the same SPI, under the QKD key ID both
#     KMs report, one key per direction, and no process can take that key.
#  3. Rekeys every 2 s under a TCP transfer: the connection survives, the
#     data arrives intact, and no packet ever meets a missing SA or a
#     wrong key (XfrmInNoStates, XfrmInStateProtoError stay 0).
#
# ipsec_exhaust.sh covers the pool running out.
#
# timeout: 480

source "$(dirname "$0")/lib.sh"

IPSEC_PY="$TOP/selftests/helpers/ipsec.py"

qkdn_two_nodes || { fail ipsec_xfrm_setup "two-node set-up failed"; exit 1; }
# shellcheck source=selftests/helpers/ipsec.sh
source "$(dirname "$0")/helpers/ipsec.sh"
ipsec_nodes || { fail ipsec_xfrm_setup "tunnel set-up failed"; exit 1; }
ok ipsec_xfrm_setup

# ---- 1. refusals -----------------------------------------------------------

# refused NAME RC TEXT CMD...: qkdnctl fails with exit RC and TEXT on stderr,
# and neither node's tunnels nor xfrm policies changed.
refused() {
	local name=$1 want=$2 text=$3 before out rc

	shift 3
	before=$(ipsec_state_all)
	out=$("$@" 2>&1) && rc=0 || rc=$?
	if [ "$rc" -eq "$want" ] && [[ "$out" == *"$text"* ]] &&
		[ "$(ipsec_state_all)" = "$before" ]; then
		ok "$name"
	else
		fail "$name" "rc $rc: $out"
	fi
}

A1="peer kme-2 master ipsec-a slave ipsec-b local 10.77.1.1 remote 10.77.1.2"
S1="src 10.99.1.0/24 dst 10.99.2.0/24"
# shellcheck disable=SC2086
{
refused ipsec_xfrm_refuse_missing 2 "" \
	qkdnctl -n qkdn1 ipsec add id 9 $A1
refused ipsec_xfrm_refuse_id_range 2 "" \
	qkdnctl -n qkdn1 ipsec add id 65536 $A1 $S1
refused ipsec_xfrm_refuse_id_type 2 "" \
	qkdnctl -n qkdn1 ipsec add id x1 $A1 $S1
refused ipsec_xfrm_refuse_rekey_range 2 "" \
	qkdnctl -n qkdn1 ipsec add id 9 $A1 $S1 rekey 0
refused ipsec_xfrm_refuse_key_bits 2 "" \
	qkdnctl -n qkdn1 ipsec add id 9 $A1 $S1 key-bits 192
refused ipsec_xfrm_refuse_bad_addr 2 "" \
	qkdnctl -n qkdn1 ipsec add id 9 $A1 src 10.99.1.0/33 dst 10.99.2.0/24
refused ipsec_xfrm_refuse_mixed_family 2 "" \
	qkdnctl -n qkdn1 ipsec add id 9 $A1 src fd00::/64 dst 10.99.2.0/24
refused ipsec_xfrm_refuse_oversized_id 2 "" \
	qkdnctl -n qkdn1 ipsec add id 9 peer "$(printf 'k%.0s' {1..80})" \
		master ipsec-a slave ipsec-b local 10.77.1.1 remote 10.77.1.2 $S1
refused ipsec_xfrm_refuse_hard_lifetime 1 "at least twice the rekey" \
	qkdnctl -n qkdn1 ipsec add id 9 $A1 $S1 rekey 10 lifetime 15
refused ipsec_xfrm_refuse_unknown_sae 1 "no such SAE" \
	qkdnctl -n qkdn1 ipsec add id 9 peer kme-2 master nobody slave ipsec-b \
		local 10.77.1.1 remote 10.77.1.2 src 10.98.1.0/24 dst 10.98.2.0/24
refused ipsec_xfrm_refuse_app_sae 1 "must be a kernel SAE" \
	qkdnctl -n qkdn1 ipsec add id 9 peer kme-2 master sae-a slave sae-b \
		local 10.77.1.1 remote 10.77.1.2 src 10.98.1.0/24 dst 10.98.2.0/24
qkdnctl -n qkdn1 sae add id ipsec-7 node kme-7
refused ipsec_xfrm_refuse_no_link 1 "no QKD link" \
	qkdnctl -n qkdn1 ipsec add id 9 peer kme-7 master ipsec-a slave ipsec-7 \
		local 10.77.1.1 remote 10.77.1.2 src 10.98.1.0/24 dst 10.98.2.0/24
refused ipsec_xfrm_refuse_same_endpoints 1 "two distinct addresses" \
	qkdnctl -n qkdn1 ipsec add id 9 peer kme-2 master ipsec-a slave ipsec-b \
		local 10.77.1.1 remote 10.77.1.1 src 10.98.1.0/24 dst 10.98.2.0/24
refused ipsec_xfrm_refuse_duplicate_id 1 "ID in use" \
	qkdnctl -n qkdn1 ipsec add id 1 $A1 src 10.98.1.0/24 dst 10.98.2.0/24
refused ipsec_xfrm_refuse_selector_in_use 1 "selector exists" \
	qkdnctl -n qkdn1 ipsec add id 9 $A1 $S1
refused ipsec_xfrm_refuse_not_root 1 "" \
	in_ns 1 setpriv --reuid=1001 --regid=1001 --clear-groups \
		"$QKDNCTL" ipsec add id 9 $A1 src 10.98.1.0/24 dst 10.98.2.0/24
refused ipsec_xfrm_refuse_show_not_root 1 "" \
	in_ns 1 setpriv --reuid=1001 --regid=1001 --clear-groups \
		"$QKDNCTL" ipsec show
refused ipsec_xfrm_refuse_del_unknown 1 "no such IPsec tunnel" \
	qkdnctl -n qkdn1 ipsec del id 77
refused ipsec_xfrm_refuse_sae_del_in_use 1 "IPsec tunnel uses this SAE" \
	qkdnctl -n qkdn1 sae del id ipsec-a
}

# ---- 2. traffic, and the keys of the SAs -----------------------------------

echo "# $SECONDS s: traffic"

if wait_for 20 ipsec_up 1 && wait_for 5 ipsec_up 2; then
	ok ipsec_xfrm_up
else
	fail ipsec_xfrm_up "$(qkdnctl -j -n qkdn1 ipsec show; qkdnctl -j -n qkdn2 ipsec show)"
fi

check ipsec_xfrm_ping in_ns 1 ping -c 3 -W 2 -I 10.99.1.1 10.99.2.1
check ipsec_xfrm_ping_back in_ns 2 ping -c 3 -W 2 -I 10.99.2.1 10.99.1.1

# The ping went through ESP: the outbound SAs in place (this generation
# and the previous one) counted its packets.
esp_packets() {
	sas 1 | jq '[.[] | select(.src == "10.77.1.1") | .packets] | add'
}
p0=$(esp_packets)
in_ns 1 ping -c 3 -i 0.2 -W 2 -I 10.99.1.1 10.99.2.1 >/dev/null
p1=$(esp_packets)
if [ $((p1 - p0)) -ge 3 ] || [ "$p1" -ge 3 ]; then
	ok ipsec_xfrm_ping_is_esp
else
	fail ipsec_xfrm_ping_is_esp "ESP packets out: $p0 -> $p1"
fi

# Both ends: the same key for each SPI, 256-bit AES-GCM plus salt, one
# key per direction; the key IDs the two KMs report agree. A rekey every
# 2 s: take the four views again until they show one generation.
snapshot() {
	t1=$(qkdnctl -j -n qkdn1 ipsec show id 1)
	x1=$(in_ns 1 ip -s xfrm state)
	x2=$(in_ns 2 ip -s xfrm state)
	t2=$(qkdnctl -j -n qkdn2 ipsec show id 1)
	[ "$(jq '.[0].gen' <<<"$t1")" = "$(jq '.[0].gen' <<<"$t2")" ] &&
		[ "$(jq '.[0].gen' <<<"$t1")" = "$(qkdnctl -j -n qkdn1 ipsec show id 1 | jq '.[0].gen')" ]
}
for ((i = 0; i < 20; i++)); do
	snapshot && break
	sleep 0.2
done
sa1=$(python3 "$IPSEC_PY" sas <<<"$x1")
sa2=$(python3 "$IPSEC_PY" sas <<<"$x2")
spi_out=$(jq -r '.[0].spi_out' <<<"$t1")
spi_in=$(jq -r '.[0].spi_in' <<<"$t1")
keys_ok=1
for s in "$spi_out" "$spi_in"; do
	k1=$(jq -r --argjson s "$s" '[.[] | select(.spi == $s)][0] |
		"\(.aead) \(.key_bits) \(.icv_bits) \(.key)"' <<<"$sa1")
	k2=$(jq -r --argjson s "$s" '[.[] | select(.spi == $s)][0] |
		"\(.aead) \(.key_bits) \(.icv_bits) \(.key)"' <<<"$sa2")
	[[ "$k1" == "rfc4106(gcm(aes)) 288 128 "* ]] && [ "$k1" = "$k2" ] ||
		{ keys_ok=0; echo "# SPI $s: kme-1 '$k1' kme-2 '$k2'"; }
done
[ "$(jq -r --argjson s "$spi_out" '[.[] | select(.spi == $s)][0].key' <<<"$sa1")" != \
	"$(jq -r --argjson s "$spi_in" '[.[] | select(.spi == $s)][0].key' <<<"$sa1")" ] ||
	{ keys_ok=0; echo "# one key for both directions"; }
[ "$(jq -r '.[0].key_id_out' <<<"$t1")" = "$(jq -r '.[0].key_id_in' <<<"$t2")" ] &&
	[ "$(jq -r '.[0].key_id_in' <<<"$t1")" = "$(jq -r '.[0].key_id_out' <<<"$t2")" ] &&
	[ "$(jq -r '.[0].spi_out' <<<"$t1")" = "$(jq -r '.[0].spi_in' <<<"$t2")" ] ||
	{ keys_ok=0; echo "# kme-1 $t1 kme-2 $t2"; }
[ $keys_ok -eq 1 ] && ok ipsec_xfrm_keys_equal_at_both_ends ||
	fail ipsec_xfrm_keys_equal_at_both_ends

# The QKD keys of the SAs went to the kernel only: the slave SAE is a
# kernel SAE, which no process may act as, and the key is supplied once.
kid=$(jq -r '.[0].key_id_in' <<<"$t2")
refused ipsec_xfrm_key_not_for_processes 1 "" \
	qkdnctl -n qkdn2 key get-by-id master ipsec-a slave ipsec-b id "$kid"

# Bulk TCP: 8 MiB arrive intact.
bulk() {
	local port=$1 secs=$2 bytes=$3 out

	in_ns 2 python3 "$IPSEC_PY" sink 10.99.2.1 "$port" >"$TEST_DIR/sink.$port" 2>/dev/null &
	sink=$!
	wait_for 10 _lib_listening 2 "$port" || return 1
	out=$(in_ns 1 python3 "$IPSEC_PY" source 10.99.1.1 10.99.2.1 "$port" "$secs" $bytes)
	wait $sink
	echo "$out" >"$TEST_DIR/source.$port"
	[ -z "$(jq -r .error <<<"$out")" ] &&
		[ "$(jq -r .error "$TEST_DIR/sink.$port")" = "" ] &&
		[ "$(jq -r .bytes <<<"$out")" = "$(jq -r .bytes "$TEST_DIR/sink.$port")" ] &&
		[ "$(jq -r .sha256 <<<"$out")" = "$(jq -r .sha256 "$TEST_DIR/sink.$port")" ]
}
echo "# $SECONDS s: bulk transfer"
if bulk 5001 60 $((4 << 20)); then
	ok ipsec_xfrm_bulk_tcp
else
	fail ipsec_xfrm_bulk_tcp "$(cat "$TEST_DIR/source.5001" "$TEST_DIR/sink.5001" 2>&1)"
fi

# ---- 3. rekeys under load --------------------------------------------------

echo "# $SECONDS s: $(jq -r .bytes "$TEST_DIR/source.5001") bytes in $(jq -r .seconds "$TEST_DIR/source.5001") s"
stat0_1=$(xfrm_errors 1)
stat0_2=$(xfrm_errors 2)
r0=$(jq -r '.[0].rekeys' <<<"$(qkdnctl -j -n qkdn1 ipsec show id 1)")
if bulk 5002 10; then
	ok ipsec_xfrm_rekey_under_load_tcp_survives
else
	fail ipsec_xfrm_rekey_under_load_tcp_survives \
		"$(cat "$TEST_DIR/source.5002" "$TEST_DIR/sink.5002" 2>&1)"
fi
r1=$(jq -r '.[0].rekeys' <<<"$(qkdnctl -j -n qkdn1 ipsec show id 1)")
echo "# $((r1 - r0)) rekeys during the transfer, $(jq -r .bytes "$TEST_DIR/source.5002") bytes"
[ $((r1 - r0)) -ge 4 ] && ok ipsec_xfrm_rekey_under_load_rekeyed ||
	fail ipsec_xfrm_rekey_under_load_rekeyed "rekeys $r0 -> $r1"
if [ "$(xfrm_errors 1)" = "$stat0_1" ] && [ "$(xfrm_errors 2)" = "$stat0_2" ]; then
	ok ipsec_xfrm_rekey_no_mismatch_window
else
	fail ipsec_xfrm_rekey_no_mismatch_window \
		"kme-1 $stat0_1 -> $(xfrm_errors 1); kme-2 $stat0_2 -> $(xfrm_errors 2)"
fi
# Two generations at most at each end: the current, and the previous one
# for packets in flight.
n1=$(sas 1 | jq 'length')
n2=$(sas 2 | jq 'length')
[ "$n1" -le 4 ] && [ "$n2" -le 4 ] && ok ipsec_xfrm_old_sas_go ||
	fail ipsec_xfrm_old_sas_go "SAs: kme-1 $n1, kme-2 $n2"

# ---- deletion ----------------------------------------------------------------

check ipsec_xfrm_del qkdnctl -n qkdn1 ipsec del id 1
if [ -z "$(in_ns 1 ip xfrm state)" ] && [ -z "$(in_ns 1 ip xfrm policy)" ]; then
	ok ipsec_xfrm_del_removes_sas_and_policies
else
	fail ipsec_xfrm_del_removes_sas_and_policies "$(in_ns 1 ip xfrm state; in_ns 1 ip xfrm policy)"
fi
check ipsec_xfrm_del_responder qkdnctl -n qkdn2 ipsec del id 1
[ -z "$(in_ns 2 ip xfrm state)" ] && ok ipsec_xfrm_del_responder_clean ||
	fail ipsec_xfrm_del_responder_clean "$(in_ns 2 ip xfrm state)"
