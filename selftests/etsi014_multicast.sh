#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
#
# ETSI GS QKD 014 multicast through qkdn-kmed: one key request of a master
# SAE for several slave SAEs (additional_slave_SAE_IDs), on
# topologies/chain4.topo (kme-1 - kme-2 - kme-3 - kme-4, a controller in
# every node), a gateway in every node. sae-ga at kme-1 asks for keys for
# sae-gb and, in the same request, for sae-gb2 (at kme-2 as well), sae-gd
# (at kme-4, reached by relay) and more. Each slave gets the same bytes by
# ID at its own node's gateway, once; sae-gc, at kme-2 but not named, is
# refused (401). The keys go by one key relay per slave node. Refused
# requests (too many slaves, repeated, unknown or local slaves, wrong
# types, too many key bytes for a relay frame) are 400 and take nothing; a
# multicast that fails on the way (a slave whose node no route reaches)
# is 503 and leaves no key behind.

source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/nodes.sh
source "$(dirname "$0")/helpers/nodes.sh"
# shellcheck source=selftests/helpers/relay.sh
source "$(dirname "$0")/helpers/relay.sh"
# shellcheck source=selftests/helpers/procedure.sh
source "$(dirname "$0")/helpers/procedure.sh"
# shellcheck source=selftests/helpers/kmed.sh
source "$(dirname "$0")/helpers/kmed.sh"

require curl jq

procedure_up etsi014_multicast_topology_up "$TOPO/chain4.topo" 1 2
chain_ready etsi014_multicast_ready 16384 "1:1 2:1 2:2 3:2 3:3 4:3" \
	"1:kme-3 1:kme-4 3:kme-1 4:kme-1" || exit 1

# The SAEs served through the gateways, by node; each is known at kme-1
# (the master's node) as remote, and sae-ga at each slave node.
declare -A AT=(
	[sae-gb]=2 [sae-gb2]=2 [sae-gb3]=2 [sae-gc]=2
	[sae-g3]=3 [sae-g3b]=3
	[sae-gd]=4 [sae-gd2]=4 [sae-gd3]=4
)
saes_add() {
	local s n

	certs_make "$KMED_CERTS" kme-1 kme-2 kme-3 kme-4 sae-ga "${!AT[@]}" ||
		return 1
	qkdnctl -n qkdn1 sae add id sae-ga cred sae-ga || return 1
	for s in "${!AT[@]}"; do
		n=${AT[$s]}
		qkdnctl -n qkdn1 sae add id "$s" node "kme-$n" &&
			qkdnctl -n "qkdn$n" sae add id "$s" cred "$s" || return 1
	done
	for n in 2 3 4; do
		qkdnctl -n "qkdn$n" sae add id sae-ga node kme-1 || return 1
	done
	# Behind a node that does not exist: no route will ever reach it.
	qkdnctl -n qkdn1 sae add id sae-gz node kme-9
}
if saes_add; then
	ok etsi014_multicast_saes
else
	fail etsi014_multicast_saes
	exit 1
fi
# On the management network (10.78.0.N, qkdn-topo).
# shellcheck disable=SC2034 # read by helpers/kmed.sh
{
	KMED_ADDR[1]=10.78.0.1
	KMED_ADDR[2]=10.78.0.2
	KMED_ADDR[3]=10.78.0.3
	KMED_ADDR[4]=10.78.0.4
}
if kmed_start 1 && kmed_start 2 && kmed_start 3 && kmed_start 4; then
	ok etsi014_multicast_gateways_up
else
	fail etsi014_multicast_gateways_up
	exit 1
fi

ENC=/api/v1/keys/sae-gb/enc_keys
DEC=/api/v1/keys/sae-ga/dec_keys
JSON=(-H 'Content-Type: application/json')
HDR=$TEST_DIR/headers

# What any key request changes, at every node: keys reserved and supplied,
# relays started, passed on and ended, relay pad spent, keys reserved on
# each link for their slave. Refused requests leave it as it was.
taken() {
	local n

	for n in 1 2 3 4; do
		printf 'node %s ' "$n"
		qkdnctl -j -n "qkdn$n" node show | jq -c '.stats |
			[.keys_reserved, .keys_supplied, .relays_started,
			 .relays_forwarded, .relays_ended, .relay_pad_bytes]'
		printf 'pools %s ' "$n"
		qkdnctl -j -n "qkdn$n" pool show | jq -c '[.[] | .reserved_keys]'
	done
}

# merr NAME STATUS RE [CURL ARGS...] PATH: kme-1's gateway answers sae-ga
# STATUS with a JSON object whose "message" matches RE, and no node's
# counts moved.
merr() {
	local name=$1 st=$2 re=$3 out t0 t1

	shift 3
	t0=$(taken)
	out=$(kurl 1 sae-ga -D "$HDR" "$@")
	t1=$(taken)
	if [ "$(kstatus "$out")" = "$st" ] &&
		grep -qi '^Content-Type: application/json' "$HDR" &&
		kbody "$out" | jq -e --arg re "$re" \
			'type == "object" and (.message | type == "string" and test($re))' \
			>/dev/null &&
		[ -n "$t0" ] && [ "$t0" = "$t1" ]; then
		ok "$name"
	else
		fail "$name" "HTTP $(kstatus "$out") (want $st): $(kbody "$out")"
		[ "$t0" = "$t1" ] || _lib_diag "counts moved: $t0 -> $t1"
	fi
}

# multicast BODY: POST enc_keys at kme-1 as sae-ga for sae-gb; the answer
# in OUT, its body in ENCK, the key IDs as {"key_IDs":[...]} in IDS.
multicast() {
	OUT=$(kurl 1 sae-ga "${JSON[@]}" -d "$1" "$ENC")
	ENCK=$(kbody "$OUT")
	IDS=$(jq -c '{key_IDs: [.keys[] | {key_ID}]}' <<<"$ENCK" 2>/dev/null)
}

# same_keys NAME SAE: SAE gets the keys of the last multicast (IDS) at its
# node, the same bytes under the same IDs as the master's.
same_keys() {
	local name=$1 sae=$2 out

	out=$(kurl "${AT[$sae]}" "$sae" "${JSON[@]}" -d "$IDS" "$DEC")
	if [ "$(kstatus "$out")" = 200 ] &&
		[ "$(kbody "$out" | jq -c '.keys | sort_by(.key_ID)')" = "$(jq -c '.keys | sort_by(.key_ID)' <<<"$ENCK")" ]; then
		ok "$name"
	else
		fail "$name" "enc $ENCK; dec at kme-${AT[$sae]}: $out"
	fi
}

# once NAME SAE: the keys of the last multicast are not SAE's a second time.
once() {
	local out

	out=$(kurl "${AT[$2]}" "$2" "${JSON[@]}" -d "$IDS" "$DEC")
	if [ "$(kstatus "$out")" = 400 ] &&
		kbody "$out" | jq -e '.message | test("unknown or already supplied")' >/dev/null; then
		ok "$1"
	else
		fail "$1" "$out"
	fi
}

# ---- the status: up to 7 additional slaves ----
out=$(kurl 1 sae-ga /api/v1/keys/sae-gb/status)
if [ "$(kstatus "$out")" = 200 ] &&
	kbody "$out" | jq -e '.max_SAE_ID_count == 7 and
		.source_KME_ID == "kme-1" and .target_KME_ID == "kme-2"' >/dev/null; then
	ok etsi014_multicast_status_max_sae_id_count
else
	fail etsi014_multicast_status_max_sae_id_count "$out"
fi

# ---- a multicast: sae-gb and sae-gb2 at kme-2, sae-gd at kme-4 ----
started=$(node_stat 1 relays_started)
multicast '{"number":4,"size":256,"additional_slave_SAE_IDs":["sae-gb2","sae-gd"]}'
if [ "$(kstatus "$OUT")" = 200 ] &&
	jq -e "$KJQ"' .keys | length == 4 and all(.[]; (.key | b64bytes) == 32)' \
		<<<"$ENCK" >/dev/null; then
	ok etsi014_multicast_enc_keys
else
	fail etsi014_multicast_enc_keys "$OUT"
fi
now=$(node_stat 1 relays_started)
if [ $((now - started)) -eq 2 ]; then
	ok etsi014_multicast_one_relay_per_slave_node
else
	fail etsi014_multicast_one_relay_per_slave_node "relays started at kme-1: $started -> $now (want 2: kme-2, kme-4)"
fi

# sae-gc, at kme-2 too but not named: the keys are not its (before the
# slaves take them, so that they are there to be refused).
id0=$(jq -r '.keys[0].key_ID' <<<"$ENCK")
out=$(kurl 2 sae-gc "$DEC?key_ID=$id0")
if [ "$(kstatus "$out")" = 401 ] && kbody "$out" | jq -e '.message | length > 0' >/dev/null; then
	ok etsi014_multicast_other_sae_refused
else
	fail etsi014_multicast_other_sae_refused "$out"
fi
out=$(kurl 2 sae-gc "${JSON[@]}" -d "$IDS" "$DEC")
if [ "$(kstatus "$out")" = 401 ]; then
	ok etsi014_multicast_other_sae_refused_post
else
	fail etsi014_multicast_other_sae_refused_post "$out"
fi

same_keys etsi014_multicast_slave_same_bytes sae-gb
same_keys etsi014_multicast_second_slave_same_node_same_bytes sae-gb2
same_keys etsi014_multicast_relayed_slave_same_bytes sae-gd
once etsi014_multicast_slave_once sae-gb
once etsi014_multicast_second_slave_once sae-gb2
once etsi014_multicast_relayed_slave_once sae-gd
out=$(kurl 4 sae-gd "$DEC?key_ID=$id0")
if [ "$(kstatus "$out")" = 400 ]; then
	ok etsi014_multicast_relayed_slave_once_get
else
	fail etsi014_multicast_relayed_slave_once_get "$out"
fi

# ---- two slaves at the master's neighbour: one relay, over the link ----
started=$(node_stat 1 relays_started)
multicast '{"number":2,"size":512,"additional_slave_SAE_IDs":["sae-gb2"]}'
now=$(node_stat 1 relays_started)
if [ "$(kstatus "$OUT")" = 200 ] && [ $((now - started)) -eq 1 ] &&
	jq -e "$KJQ"' .keys | length == 2 and all(.[]; (.key | b64bytes) == 64)' \
		<<<"$ENCK" >/dev/null; then
	ok etsi014_multicast_same_node
else
	fail etsi014_multicast_same_node "relays started at kme-1: $started -> $now; $OUT"
fi
# One by GET, in either order; then the whole again is refused.
id0=$(jq -r '.keys[0].key_ID' <<<"$ENCK")
id1=$(jq -r '.keys[1].key_ID' <<<"$ENCK")
g0=$(kurl 2 sae-gb2 "$DEC?key_ID=$id1")
g1=$(kurl 2 sae-gb "$DEC?key_ID=$id0")
if [ "$(kstatus "$g0")" = 200 ] && [ "$(kstatus "$g1")" = 200 ] &&
	[ "$(kbody "$g0" | jq -c '.keys[0]')" = "$(jq -c '.keys[1]' <<<"$ENCK")" ] &&
	[ "$(kbody "$g1" | jq -c '.keys[0]')" = "$(jq -c '.keys[0]' <<<"$ENCK")" ]; then
	ok etsi014_multicast_same_node_get
else
	fail etsi014_multicast_same_node_get "enc $ENCK; $g0; $g1"
fi
out=$(kurl 2 sae-gb2 "$DEC?key_ID=$id1")
if [ "$(kstatus "$out")" = 400 ]; then
	ok etsi014_multicast_same_node_get_once
else
	fail etsi014_multicast_same_node_get_once "$out"
fi
# Each slave still has the key the other took.
out=$(kurl 2 sae-gb "$DEC?key_ID=$id1")
o2=$(kurl 2 sae-gb2 "$DEC?key_ID=$id0")
if [ "$(kstatus "$out")" = 200 ] && [ "$(kstatus "$o2")" = 200 ]; then
	ok etsi014_multicast_same_node_own_copies
else
	fail etsi014_multicast_same_node_own_copies "$out; $o2"
fi

# ---- the most: the slave and 7 more, at three nodes ----
started=$(node_stat 1 relays_started)
multicast '{"number":2,"additional_slave_SAE_IDs":["sae-gb2","sae-gb3","sae-g3","sae-g3b","sae-gd","sae-gd2","sae-gd3"]}'
now=$(node_stat 1 relays_started)
if [ "$(kstatus "$OUT")" = 200 ] && [ $((now - started)) -eq 3 ] &&
	jq -e '.keys | length == 2' <<<"$ENCK" >/dev/null; then
	ok etsi014_multicast_seven_more
else
	fail etsi014_multicast_seven_more "relays started at kme-1: $started -> $now (want 3); $OUT"
fi
bad=
for s in sae-gb sae-gb2 sae-gb3 sae-g3 sae-g3b sae-gd sae-gd2 sae-gd3; do
	out=$(kurl "${AT[$s]}" "$s" "${JSON[@]}" -d "$IDS" "$DEC")
	[ "$(kstatus "$out")" = 200 ] &&
		[ "$(kbody "$out" | jq -c '.keys | sort_by(.key_ID)')" = "$(jq -c '.keys | sort_by(.key_ID)' <<<"$ENCK")" ] ||
		bad+=" $s: $out"
done
if [ -z "$bad" ]; then
	ok etsi014_multicast_seven_more_same_bytes
else
	fail etsi014_multicast_seven_more_same_bytes "$bad"
fi
bad=
for s in sae-gb sae-g3b sae-gd3; do
	out=$(kurl "${AT[$s]}" "$s" "${JSON[@]}" -d "$IDS" "$DEC")
	[ "$(kstatus "$out")" = 400 ] || bad+=" $s: $out"
done
if [ -z "$bad" ]; then
	ok etsi014_multicast_seven_more_once
else
	fail etsi014_multicast_seven_more_once "$bad"
fi

# ---- refused, taking nothing ----
merr etsi014_multicast_err_eight_more 400 '^additional_slave_SAE_IDs shall have at most 7 entries$' \
	"${JSON[@]}" -d '{"additional_slave_SAE_IDs":["sae-gb2","sae-gb3","sae-gc","sae-g3","sae-g3b","sae-gd","sae-gd2","sae-gd3"]}' "$ENC"
merr etsi014_multicast_err_repeated 400 'sae-gd is repeated' \
	"${JSON[@]}" -d '{"additional_slave_SAE_IDs":["sae-gd","sae-gb2","sae-gd"]}' "$ENC"
merr etsi014_multicast_err_path_slave_again 400 'sae-gb is the slave SAE of the path' \
	"${JSON[@]}" -d '{"additional_slave_SAE_IDs":["sae-gb"]}' "$ENC"
merr etsi014_multicast_err_unknown 400 'no such SAE' \
	"${JSON[@]}" -d '{"additional_slave_SAE_IDs":["sae-zz"]}' "$ENC"
merr etsi014_multicast_err_unknown_named 400 'sae-zz' \
	"${JSON[@]}" -d '{"number":2,"additional_slave_SAE_IDs":["sae-gd","sae-zz"]}' "$ENC"
merr etsi014_multicast_err_local 400 'served by this node' \
	"${JSON[@]}" -d '{"additional_slave_SAE_IDs":["sae-gd","sae-ga"]}' "$ENC"
merr etsi014_multicast_err_not_array 400 '^additional_slave_SAE_IDs shall be an array of strings$' \
	"${JSON[@]}" -d '{"additional_slave_SAE_IDs":"sae-gd"}' "$ENC"
merr etsi014_multicast_err_not_string 400 '^additional_slave_SAE_IDs shall be an array of strings$' \
	"${JSON[@]}" -d '{"additional_slave_SAE_IDs":["sae-gd",7]}' "$ENC"
merr etsi014_multicast_err_object 400 '^additional_slave_SAE_IDs shall be an array of strings$' \
	"${JSON[@]}" -d '{"additional_slave_SAE_IDs":[{"SAE_ID":"sae-gd"}]}' "$ENC"
merr etsi014_multicast_err_empty_id 400 'is not a valid SAE ID' \
	"${JSON[@]}" -d '{"additional_slave_SAE_IDs":[""]}' "$ENC"
merr etsi014_multicast_err_bad_id 400 'is not a valid SAE ID' \
	"${JSON[@]}" -d '{"additional_slave_SAE_IDs":["sae gd"]}' "$ENC"
merr etsi014_multicast_err_get_query 400 'unknown query parameter additional_slave_SAE_IDs' \
	"$ENC?additional_slave_SAE_IDs=sae-gd"
# 8 keys of 1 KiB are more than one relay frame carries (E2BIG).
merr etsi014_multicast_err_relay_frame 400 'too many' \
	"${JSON[@]}" -d '{"number":8,"size":8192,"additional_slave_SAE_IDs":["sae-gd"]}' "$ENC"
# Another SAE's keys are not the master's to multicast: an unregistered
# client certificate.
out=$(kurl 1 sae-gc "${JSON[@]}" -d '{"additional_slave_SAE_IDs":["sae-gd"]}' "$ENC")
if [ "$(kstatus "$out")" = 401 ]; then
	ok etsi014_multicast_err_unregistered_master
else
	fail etsi014_multicast_err_unregistered_master "$out"
fi

# ---- a multicast that fails on the way: 503, no key left behind ----
# sae-gz's node is not in the network: its relay fails, so the relay to
# kme-2 (for sae-gb) and kme-4 (for sae-gd) is undone.
# shellcheck disable=SC2034 # filled and read through namerefs
declare -A S0 S1 D
snap S0 1 2 4
t0=$(date +%s)
out=$(kurl 1 sae-ga "${JSON[@]}" -d '{"number":2,"additional_slave_SAE_IDs":["sae-gd","sae-gz"]}' "$ENC")
echo "# the failed multicast took $(($(date +%s) - t0)) s: $(kbody "$out" | tr -d '\n')"
snap S1 1 2 4
deltas S0 S1 D
if [ "$(kstatus "$out")" = 503 ] &&
	kbody "$out" | jq -e '(.message | length > 0) and (has("keys") | not)' >/dev/null; then
	ok etsi014_multicast_fail_unreachable
else
	fail etsi014_multicast_fail_unreachable "$out"
fi
# Whatever a relay delivered at kme-2 or kme-4 was aborted by kme-1; kme-1
# counts its relays failed, and no key was handed out anywhere.
echo "# kme-1 relays started +${D[1 node.relays_started]} done +${D[1 node.relays_done]} failed +${D[1 node.relays_failed]};" \
	"kme-2 ended +${D[2 node.relays_ended]} aborted +${D[2 node.relays_aborted]};" \
	"kme-4 ended +${D[4 node.relays_ended]} aborted +${D[4 node.relays_aborted]}"
if [ "${D[1 node.relays_failed]:-0}" -ge 1 ] &&
	[ "${D[1 node.keys_supplied]:-0}" = 0 ] &&
	[ "${D[2 node.keys_supplied]:-0}" = 0 ] &&
	[ "${D[4 node.keys_supplied]:-0}" = 0 ] &&
	[ "${D[2 node.relays_aborted]:-0}" -ge "${D[2 node.relays_ended]:-0}" ] &&
	[ "${D[4 node.relays_aborted]:-0}" -ge "${D[4 node.relays_ended]:-0}" ]; then
	ok etsi014_multicast_fail_left_nothing
else
	fail etsi014_multicast_fail_left_nothing
fi
# The path's slave alone behind the missing node: the same.
out=$(kurl 1 sae-ga "${JSON[@]}" -d '{"additional_slave_SAE_IDs":["sae-gz"]}' "$ENC")
if [ "$(kstatus "$out")" = 503 ]; then
	ok etsi014_multicast_fail_unreachable_only
else
	fail etsi014_multicast_fail_unreachable_only "$out"
fi

# ... and the gateway still serves multicast.
multicast '{"number":1,"additional_slave_SAE_IDs":["sae-gd"]}'
if [ "$(kstatus "$OUT")" = 200 ]; then
	ok etsi014_multicast_after_failure
	same_keys etsi014_multicast_after_failure_slave sae-gb
	same_keys etsi014_multicast_after_failure_relayed_slave sae-gd
else
	fail etsi014_multicast_after_failure "$OUT"
fi

# The access log: each multicast request, answered 200 or 503 (by a
# waiter: a multicast always waits for its relays), never key bytes.
n=$(grep -c ' sae=sae-ga POST /api/v1/keys/sae-gb/enc_keys 200 ' "$TEST_DIR/access-1.log")
if [ "$n" -eq 4 ] &&
	[ "$(grep -c ' sae=sae-ga POST /api/v1/keys/sae-gb/enc_keys 503 ' "$TEST_DIR/access-1.log")" -eq 2 ]; then
	ok etsi014_multicast_access_log
else
	fail etsi014_multicast_access_log "$(cat "$TEST_DIR/access-1.log")"
fi
mon_no_key_bytes etsi014_multicast_monitor_no_key_bytes
