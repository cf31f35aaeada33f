#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 480
#
# ETSI GS QKD 014 through qkdn-kmed for a slave SAE behind a node that the
# master's node has no QKD link to (Q.4160 I.5a, topologies/chain4.topo:
# kme-1 - kme-2 - kme-3 - kme-4, a controller in every node). sae-ga's
# enc_keys at kme-1's gateway is relayed to kme-4 (by a waiter thread: the
# kernel refuses to wait in the event loop); sae-gd gets the same bytes by
# ID at kme-4's gateway, once; the status of the pair names kme-4 and
# counts the route's key.

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

procedure_up etsi014_relay_topology_up "$TOPO/chain4.topo" 1
chain_ready etsi014_relay_ready 16384 "1:1 2:2 3:3 4:3 3:2" "1:kme-4 4:kme-1" ||
	exit 1

# The SAEs served through the gateways, each known at the other's node.
if certs_make "$KMED_CERTS" kme-1 kme-4 sae-ga sae-gd &&
	qkdnctl -n qkdn1 sae add id sae-ga cred sae-ga &&
	qkdnctl -n qkdn1 sae add id sae-gd node kme-4 &&
	qkdnctl -n qkdn4 sae add id sae-gd cred sae-gd &&
	qkdnctl -n qkdn4 sae add id sae-ga node kme-1; then
	ok etsi014_relay_saes
else
	fail etsi014_relay_saes
	exit 1
fi
# On the management network (10.78.0.N, qkdn-topo).
# shellcheck disable=SC2034 # read by helpers/kmed.sh
{
	KMED_ADDR[1]=10.78.0.1
	KMED_ADDR[4]=10.78.0.4
}
if kmed_start 1 && kmed_start 4; then
	ok etsi014_relay_gateways_up
else
	fail etsi014_relay_gateways_up
	exit 1
fi

out=$(kurl 1 sae-ga /api/v1/keys/sae-gd/status)
if [ "$(kstatus "$out")" = 200 ] &&
	kbody "$out" | jq -e '.source_KME_ID == "kme-1" and
		.target_KME_ID == "kme-4" and .master_SAE_ID == "sae-ga" and
		.slave_SAE_ID == "sae-gd" and .stored_key_count > 0' >/dev/null; then
	ok etsi014_relay_status
else
	fail etsi014_relay_status "$out"
fi

started=$(node_stat 1 relays_started)

# POST: four keys of 256 bits, relayed; the same bytes by ID at kme-4
out=$(kurl 1 sae-ga -H 'Content-Type: application/json' \
	-d '{"number":4,"size":256}' /api/v1/keys/sae-gd/enc_keys)
enc=$(kbody "$out")
if [ "$(kstatus "$out")" = 200 ] &&
	jq -e "$KJQ"' .keys | length == 4 and all(.[]; (.key | b64bytes) == 32)' \
		<<<"$enc" >/dev/null; then
	ok etsi014_relay_enc_keys_post
else
	fail etsi014_relay_enc_keys_post "$out"
fi
body=$(jq -c '{key_IDs: [.keys[] | {key_ID}]}' <<<"$enc")
out=$(kurl 4 sae-gd -H 'Content-Type: application/json' -d "$body" \
	/api/v1/keys/sae-ga/dec_keys)
if [ "$(kstatus "$out")" = 200 ] &&
	[ "$(kbody "$out" | jq -c '.keys | sort_by(.key_ID)')" = "$(jq -c '.keys | sort_by(.key_ID)' <<<"$enc")" ]; then
	ok etsi014_relay_dec_keys_same_bytes
else
	fail etsi014_relay_dec_keys_same_bytes "enc $enc; dec $out"
fi

# GET: one key of 1024 bits; GET at kme-4, then once only
out=$(kurl 1 sae-ga '/api/v1/keys/sae-gd/enc_keys?number=1&size=1024')
enc=$(kbody "$out")
id=$(jq -r '.keys[0].key_ID' <<<"$enc")
out=$(kurl 4 sae-gd "/api/v1/keys/sae-ga/dec_keys?key_ID=$id")
if [ "$(kstatus "$out")" = 200 ] &&
	[ "$(kbody "$out" | jq -c .keys)" = "$(jq -c .keys <<<"$enc")" ] &&
	jq -e "$KJQ"' (.keys[0].key | b64bytes) == 128' <<<"$enc" >/dev/null; then
	ok etsi014_relay_get_same_bytes
else
	fail etsi014_relay_get_same_bytes "enc $enc; dec $out"
fi
out=$(kurl 4 sae-gd "/api/v1/keys/sae-ga/dec_keys?key_ID=$id")
if [ "$(kstatus "$out")" = 400 ]; then
	ok etsi014_relay_supplied_once
else
	fail etsi014_relay_supplied_once "$out"
fi

# Both went as relays from kme-1, none failed.
now=$(node_stat 1 relays_started)
if [ $((now - started)) -eq 2 ] && [ "$(node_stat 1 relays_failed)" = 0 ]; then
	ok etsi014_relay_relayed
else
	fail etsi014_relay_relayed "relays started at kme-1: $started -> $now, failed $(node_stat 1 relays_failed)"
fi
# The access log: the relayed requests, with the time they took.
if [ "$(grep -c ' sae=sae-ga [A-Z]* /api/v1/keys/sae-gd/enc_keys[^ ]* 200 ' "$TEST_DIR/access-1.log")" -eq 2 ]; then
	ok etsi014_relay_access_log
else
	fail etsi014_relay_access_log "$(cat "$TEST_DIR/access-1.log")"
fi
