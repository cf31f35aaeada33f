#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ETSI GS QKD 014 through qkdn-kmed with a client that is not ours: Python
# requests (Debian's python3-requests) with its certificate and the test
# CA. The master SAE sae-ga gets keys with enc_keys at kme-1 (POST and
# GET), the slave SAE sae-gb the same bytes with dec_keys at kme-2 (POST
# and GET); the status answers with the standard's fields and its count
# moves.

source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/kmed.sh
source "$(dirname "$0")/helpers/kmed.sh"

require curl jq python3
python3 -c 'import requests' 2>/dev/null || skip "python3-requests not installed"
echo "# $(python3 -c 'import requests; print("requests", requests.__version__, "from", requests.__file__)')"

kmed_two_nodes --stopped || { fail etsi014_setup "two-node set-up failed"; exit 1; }
qkdsim_set 1 burst 64
wait_for 20 pools_filled 100000 || { fail etsi014_pools_filled; exit 1; }
if kmed_start 1 && kmed_start 2; then
	ok etsi014_requests_gateways_up
else
	fail etsi014_requests_gateways_up
	exit 1
fi

out=$(kpy 1 keys 2>&1)
if ! jq -e . >/dev/null 2>&1 <<<"$out"; then
	fail etsi014_requests_client "$out"
	exit 1
fi

# status, as the standard names its fields
if jq -e '.status[0] == 200 and (.status[1] |
		.source_KME_ID == "kme-1" and .target_KME_ID == "kme-2" and
		.master_SAE_ID == "sae-ga" and .slave_SAE_ID == "sae-gb" and
		.key_size == 256 and .stored_key_count > 0 and
		.max_key_per_request == 128 and .max_key_size == 8192 and
		.min_key_size == 64 and .max_SAE_ID_count == 7)' \
	<<<"$out" >/dev/null; then
	ok etsi014_requests_status
else
	fail etsi014_requests_status "$(jq -c .status <<<"$out")"
fi

# enc_keys by POST: two keys of 128 bits, as JSON
if jq -e "$KJQ"' .enc_post[0] == 200 and
		(.enc_post[1] | startswith("application/json")) and
		(.enc_post[2].keys | length == 2 and
		 all(.[]; (.key | b64bytes) == 16 and
			  (.key_ID | test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))))' \
	<<<"$out" >/dev/null; then
	ok etsi014_requests_enc_keys_post
else
	fail etsi014_requests_enc_keys_post "$(jq -c .enc_post <<<"$out")"
fi

# enc_keys by GET (params=): one key of the default size
if jq -e "$KJQ"' .enc_get[0] == 200 and
		(.enc_get[1].keys | length == 1 and (.[0].key | b64bytes) == 32)' \
	<<<"$out" >/dev/null; then
	ok etsi014_requests_enc_keys_get
else
	fail etsi014_requests_enc_keys_get "$(jq -c .enc_get <<<"$out")"
fi

# dec_keys at the slave's node: the same IDs and bytes
if jq -e '.dec_post[0] == 200 and
		(.dec_post[1].keys | sort_by(.key_ID)) ==
		(.enc_post[2].keys | sort_by(.key_ID))' <<<"$out" >/dev/null; then
	ok etsi014_requests_dec_keys_post_same_bytes
else
	fail etsi014_requests_dec_keys_post_same_bytes "$(jq -c '[.enc_post, .dec_post]' <<<"$out")"
fi
if jq -e '.dec_get[0] == 200 and .dec_get[1].keys == .enc_get[1].keys' \
	<<<"$out" >/dev/null; then
	ok etsi014_requests_dec_keys_get_same_bytes
else
	fail etsi014_requests_dec_keys_get_same_bytes "$(jq -c '[.enc_get, .dec_get]' <<<"$out")"
fi

# 2 x 128 + 256 bits taken: the count of 256-bit keys went down
if jq -e '.status_after[0] == 200 and
		.status_after[1].stored_key_count < .status[1].stored_key_count' \
	<<<"$out" >/dev/null; then
	ok etsi014_requests_status_counts_move
else
	fail etsi014_requests_status_counts_move "$(jq -c '[.status, .status_after]' <<<"$out")"
fi

# the same client, seen by the gateways
if [ "$(grep -c ' sae=sae-ga POST /api/v1/keys/sae-gb/enc_keys 200 ' "$TEST_DIR/access-1.log")" -eq 1 ] &&
	[ "$(grep -c ' sae=sae-gb POST /api/v1/keys/sae-ga/dec_keys 200 ' "$TEST_DIR/access-2.log")" -eq 1 ]; then
	ok etsi014_requests_access_log
else
	fail etsi014_requests_access_log "$(cat "$TEST_DIR/access-1.log" "$TEST_DIR/access-2.log")"
fi
