#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ETSI GS QKD 014 through qkdn-kmed, with curl: the master SAE sae-ga at
# kme-1 gets keys with enc_keys (GET and POST), the slave SAE sae-gb gets
# the same bytes with dec_keys (GET and POST) at kme-2; a key ID is
# supplied once; the status counts move as keys are taken; the access log
# names every request and holds no key bytes.

source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/kmed.sh
source "$(dirname "$0")/helpers/kmed.sh"

require curl jq

kmed_two_nodes --stopped || { fail etsi014_setup "two-node set-up failed"; exit 1; }
qkdsim_set 1 burst 64
if wait_for 20 pools_filled 100000; then
	ok etsi014_pools_filled
else
	fail etsi014_pools_filled
	exit 1
fi
if kmed_start 1 && kmed_start 2; then
	ok etsi014_gateways_up
else
	fail etsi014_gateways_up
	exit 1
fi

# status: the pair sae-ga -> sae-gb, as the standard names its fields
out=$(kurl 1 sae-ga /api/v1/keys/sae-gb/status)
st0=$(kbody "$out")
if [ "$(kstatus "$out")" = 200 ] &&
	jq -e '.source_KME_ID == "kme-1" and .target_KME_ID == "kme-2" and
		.master_SAE_ID == "sae-ga" and .slave_SAE_ID == "sae-gb" and
		.key_size == 256 and .stored_key_count > 0 and
		.max_key_count >= .stored_key_count and
		.max_key_per_request == 128 and .max_key_size == 8192 and
		.min_key_size == 64 and .max_SAE_ID_count == 7' <<<"$st0" >/dev/null; then
	ok etsi014_status
else
	fail etsi014_status "$out"
fi

# enc_keys by GET, then the same keys by ID at the slave's node (GET)
out=$(kurl 1 sae-ga '/api/v1/keys/sae-gb/enc_keys?number=2&size=512')
enc=$(kbody "$out")
if [ "$(kstatus "$out")" = 200 ] &&
	jq -e "$KJQ"' .keys | length == 2 and all(.[]; (.key | b64bytes) == 64)' \
		<<<"$enc" >/dev/null; then
	ok etsi014_enc_keys_get
else
	fail etsi014_enc_keys_get "$out"
fi
id0=$(jq -r '.keys[0].key_ID' <<<"$enc")
id1=$(jq -r '.keys[1].key_ID' <<<"$enc")

out=$(kurl 2 sae-gb "/api/v1/keys/sae-ga/dec_keys?key_ID=$id0")
dec=$(kbody "$out")
if [ "$(kstatus "$out")" = 200 ] &&
	[ "$(jq -c '.keys' <<<"$dec")" = "$(jq -c '[.keys[0]]' <<<"$enc")" ]; then
	ok etsi014_dec_keys_get_same_bytes
else
	fail etsi014_dec_keys_get_same_bytes "enc $enc; dec $out"
fi

# dec_keys by POST for the second key
out=$(kurl 2 sae-gb -H 'Content-Type: application/json' \
	-d "{\"key_IDs\":[{\"key_ID\":\"$id1\"}]}" /api/v1/keys/sae-ga/dec_keys)
dec=$(kbody "$out")
if [ "$(kstatus "$out")" = 200 ] &&
	[ "$(jq -c '.keys' <<<"$dec")" = "$(jq -c '[.keys[1]]' <<<"$enc")" ]; then
	ok etsi014_dec_keys_post_same_bytes
else
	fail etsi014_dec_keys_post_same_bytes "enc $enc; dec $out"
fi

# once only: the first key again
out=$(kurl 2 sae-gb "/api/v1/keys/sae-ga/dec_keys?key_ID=$id0")
if [ "$(kstatus "$out")" = 400 ] && kbody "$out" | jq -e '.message | length > 0' >/dev/null; then
	ok etsi014_key_id_supplied_once
else
	fail etsi014_key_id_supplied_once "$out"
fi

# enc_keys by POST, three keys of the default size; dec_keys by POST
out=$(kurl 1 sae-ga -H 'Content-Type: application/json' -d '{"number":3}' \
	/api/v1/keys/sae-gb/enc_keys)
enc=$(kbody "$out")
if [ "$(kstatus "$out")" = 200 ] &&
	jq -e "$KJQ"' .keys | length == 3 and all(.[]; (.key | b64bytes) == 32)' \
		<<<"$enc" >/dev/null; then
	ok etsi014_enc_keys_post
else
	fail etsi014_enc_keys_post "$out"
fi
body=$(jq -c '{key_IDs: [.keys[] | {key_ID}]}' <<<"$enc")
out=$(kurl 2 sae-gb -H 'Content-Type: application/json' -d "$body" \
	/api/v1/keys/sae-ga/dec_keys)
if [ "$(kstatus "$out")" = 200 ] &&
	[ "$(kbody "$out" | jq -c '.keys | sort_by(.key_ID)')" = "$(jq -c '.keys | sort_by(.key_ID)' <<<"$enc")" ]; then
	ok etsi014_dec_keys_post_three
else
	fail etsi014_dec_keys_post_three "enc $enc; dec $out"
fi

# the status counts moved: 2 x 512 + 3 x 256 bits taken
out=$(kurl 1 sae-ga /api/v1/keys/sae-gb/status)
n0=$(jq .stored_key_count <<<"$st0")
n1=$(kbody "$out" | jq .stored_key_count)
if [ "$(kstatus "$out")" = 200 ] && [ "$n1" -le $((n0 - 7)) ]; then
	ok etsi014_status_counts_move
else
	fail etsi014_status_counts_move "stored_key_count $n0, then $n1"
fi

# the access log: every request, with the client's address; no key bytes
k=$(jq -r '.keys[0].key' <<<"$enc")
if [ "$(grep -c ' sae=sae-ga GET /api/v1/keys/sae-gb/status 200 ' "$TEST_DIR/access-1.log")" -eq 2 ] &&
	[ "$(grep -cvE '^[0-9TZ:-]+ 10\.77\.1\.1:[0-9]+ sae=' "$TEST_DIR/access-1.log")" -eq 0 ] &&
	[ "$(grep -cvE '^[0-9TZ:-]+ 10\.77\.1\.2:[0-9]+ sae=' "$TEST_DIR/access-2.log")" -eq 0 ] &&
	grep -q ' sae=sae-gb GET /api/v1/keys/sae-ga/dec_keys?key_ID=.* 400 ' "$TEST_DIR/access-2.log" &&
	! grep -qF "$k" "$TEST_DIR/access-1.log" "$TEST_DIR/access-2.log" &&
	! grep -qF "$k" "$TEST_DIR/kmed-1.log" "$TEST_DIR/kmed-2.log"; then
	ok etsi014_access_log
else
	fail etsi014_access_log "$(cat "$TEST_DIR/access-1.log" "$TEST_DIR/access-2.log")"
fi
