#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 900
#
# ETSI GS QKD 014 errors through qkdn-kmed, with curl: each refused request
# gets its status and a JSON {"message": ...} body, and takes no key (the
# pool's own bytes at kme-1 do not move; keys asked for by ID stay there
# for their slave). Malformed enc_keys parameters and bodies (400), key IDs
# that are malformed, unknown, or reserved for another SAE pair (400, 401),
# an SAE whose certificate is valid but not registered (401), an unknown
# slave SAE (400), other methods (405 with Allow), other paths (404), a
# POST with a query string (400), and an empty pool (503). What libevent
# refuses before the gateway's handler sees it is answered in JSON too,
# closes the connection and is logged: a method it does not know (501), an
# unknown expectation (417), a body over 16 KiB or a chunked one announcing
# more (413), a request line or headers over 8 KiB or malformed (400).

source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/kmed.sh
source "$(dirname "$0")/helpers/kmed.sh"

require curl jq python3

kmed_two_nodes --stopped || { fail etsi014_setup "two-node set-up failed"; exit 1; }
qkdsim_set 1 burst 64
wait_for 20 pools_filled 100000 || { fail etsi014_pools_filled; exit 1; }
if kmed_start 1 && kmed_start 2; then
	ok etsi014_errors_gateways_up
else
	fail etsi014_errors_gateways_up
	exit 1
fi

ENC=/api/v1/keys/sae-gb/enc_keys
DEC=/api/v1/keys/sae-ga/dec_keys
JSON=(-H 'Content-Type: application/json')
HDR=$TEST_DIR/headers

# kerr NAME STATUS RE N SAE [CURL ARGS...] PATH: answered STATUS with a
# JSON object whose "message" matches RE, and kme-1's pool lost nothing.
kerr() {
	local name=$1 st=$2 re=$3 n=$4 sae=$5 out b0 b1

	shift 5
	b0=$(own_bytes 1)
	out=$(kurl "$n" "$sae" -D "$HDR" "$@")
	b1=$(own_bytes 1)
	if [ "$(kstatus "$out")" = "$st" ] &&
		grep -qi '^Content-Type: application/json' "$HDR" &&
		kbody "$out" | jq -e --arg re "$re" \
			'type == "object" and (.message | type == "string" and test($re))' \
			>/dev/null &&
		[ -n "$b0" ] && [ "$b0" = "$b1" ]; then
		ok "$name"
	else
		fail "$name" "HTTP $(kstatus "$out") (want $st), own bytes $b0 -> $b1: $(kbody "$out")"
	fi
}

# Two keys for sae-gb, which the dec_keys errors below must leave there.
out=$(kurl 1 sae-ga "$ENC?number=2")
keep=$(kbody "$out")
k0=$(jq -r '.keys[0].key_ID' <<<"$keep")
k1=$(jq -r '.keys[1].key_ID' <<<"$keep")
if [ "$(kstatus "$out")" != 200 ] || [ -z "$k1" ] || [ "$k1" = null ]; then
	fail etsi014_errors_keys "$out"
	exit 1
fi

# --- enc_keys: parameters ---
kerr etsi014_err_size_not_multiple_of_8_get 400 '^size shall be a multiple of 8$' \
	1 sae-ga "$ENC?size=100"
kerr etsi014_err_size_not_multiple_of_8_post 400 '^size shall be a multiple of 8$' \
	1 sae-ga "${JSON[@]}" -d '{"number":1,"size":100}' "$ENC"
kerr etsi014_err_number_zero 400 '^number shall be between 1 and 128$' \
	1 sae-ga "$ENC?number=0"
kerr etsi014_err_number_zero_post 400 '^number shall be between 1 and 128$' \
	1 sae-ga "${JSON[@]}" -d '{"number":0}' "$ENC"
kerr etsi014_err_number_above_max 400 '^number shall be between 1 and 128$' \
	1 sae-ga "$ENC?number=129"
kerr etsi014_err_number_above_max_post 400 '^number shall be between 1 and 128$' \
	1 sae-ga "${JSON[@]}" -d '{"number":129}' "$ENC"
kerr etsi014_err_number_negative 400 'number shall be' \
	1 sae-ga "${JSON[@]}" -d '{"number":-1}' "$ENC"
kerr etsi014_err_size_below_min 400 '^size shall be between 64 and 8192$' \
	1 sae-ga "$ENC?size=56"
kerr etsi014_err_size_above_max 400 '^size shall be between 64 and 8192$' \
	1 sae-ga "${JSON[@]}" -d '{"size":8200}' "$ENC"
kerr etsi014_err_size_huge 400 '^size shall be between 64 and 8192$' \
	1 sae-ga "$ENC?size=99999999999999999992"
kerr etsi014_err_number_not_decimal 400 'number shall be a decimal integer' \
	1 sae-ga "$ENC?number=1e2"
kerr etsi014_err_query_repeated 400 'number is repeated' \
	1 sae-ga "$ENC?number=1&number=2"
kerr etsi014_err_query_unknown 400 'unknown query parameter' \
	1 sae-ga "$ENC?numbr=1"

# --- enc_keys: JSON bodies ---
kerr etsi014_err_malformed_json 400 '^malformed JSON$' \
	1 sae-ga "${JSON[@]}" -d '{"number":' "$ENC"
kerr etsi014_err_trailing_garbage 400 '^malformed JSON$' \
	1 sae-ga "${JSON[@]}" -d '{"number":1} x' "$ENC"
kerr etsi014_err_body_not_object 400 'shall be a JSON object' \
	1 sae-ga "${JSON[@]}" -d '[{"number":1}]' "$ENC"
kerr etsi014_err_wrong_type_number 400 '^number shall be an integer$' \
	1 sae-ga "${JSON[@]}" -d '{"number":"2"}' "$ENC"
kerr etsi014_err_wrong_type_size 400 '^size shall be an integer$' \
	1 sae-ga "${JSON[@]}" -d '{"size":256.0}' "$ENC"
kerr etsi014_err_unknown_member 400 'unknown member numbr' \
	1 sae-ga "${JSON[@]}" -d '{"numbr":1}' "$ENC"
kerr etsi014_err_duplicate_member 400 '^malformed JSON$' \
	1 sae-ga "${JSON[@]}" -d '{"number":1,"number":2}' "$ENC"
if kbody "$(kurl 1 sae-ga "${JSON[@]}" -d '{"number":1,"number":2}' "$ENC")" |
	jq -e '.details[0].message | test("duplicate")' >/dev/null; then
	ok etsi014_err_duplicate_member_details
else
	fail etsi014_err_duplicate_member_details
fi
kerr etsi014_err_extension_mandatory 400 '^not all extension_mandatory parameters are supported$' \
	1 sae-ga "${JSON[@]}" -d '{"number":1,"extension_mandatory":[{"x-vendor-ext":true}]}' "$ENC"
kerr etsi014_err_extension_mandatory_type 400 'extension_mandatory shall be an array' \
	1 sae-ga "${JSON[@]}" -d '{"extension_mandatory":{"x":1}}' "$ENC"
# Multicast (etsi014_multicast.sh): an additional slave unknown at kme-1.
kerr etsi014_err_additional_slave_unknown 400 '^no such SAE: sae-gc$' \
	1 sae-ga "${JSON[@]}" -d '{"number":1,"additional_slave_SAE_IDs":["sae-gc"]}' "$ENC"
kerr etsi014_err_additional_slaves_too_many 400 '^additional_slave_SAE_IDs shall have at most 7 entries$' \
	1 sae-ga "${JSON[@]}" -d '{"additional_slave_SAE_IDs":["a","b","c","d","e","f","g","h"]}' "$ENC"
kerr etsi014_err_post_with_query 400 'POST request takes its parameters in its body' \
	1 sae-ga "${JSON[@]}" -d '{"number":1}' "$ENC?number=1"

# --- SAEs ---
kerr etsi014_err_unknown_slave 400 'no such SAE' \
	1 sae-ga /api/v1/keys/sae-zz/enc_keys
kerr etsi014_err_unknown_slave_status 400 'no such SAE' \
	1 sae-ga /api/v1/keys/sae-zz/status
kerr etsi014_err_bad_sae_id 400 'SAE ID in the path' \
	1 sae-ga '/api/v1/keys/sae%20gb/enc_keys'
kerr etsi014_err_local_slave 400 'served by this node' \
	1 sae-ga /api/v1/keys/sae-ga/enc_keys
kerr etsi014_err_unregistered_sae_status 401 'no SAE is registered' \
	1 sae-gc /api/v1/keys/sae-gb/status
kerr etsi014_err_unregistered_sae_enc_keys 401 'no SAE is registered' \
	1 sae-gc "$ENC"
kerr etsi014_err_unregistered_sae_dec_keys 401 'no SAE is registered' \
	2 sae-gc "$DEC?key_ID=$k0"

# --- dec_keys ---
kerr etsi014_err_key_id_format 400 'is not a valid key ID' \
	2 sae-gb "$DEC?key_ID=not-a-uuid"
kerr etsi014_err_key_id_format_post 400 'is not a valid key ID' \
	2 sae-gb "${JSON[@]}" -d '{"key_IDs":[{"key_ID":"0123"}]}' "$DEC"
kerr etsi014_err_key_id_wrong_type 400 '^key_ID shall be a string$' \
	2 sae-gb "${JSON[@]}" -d '{"key_IDs":[{"key_ID":5}]}' "$DEC"
kerr etsi014_err_key_ids_wrong_type 400 'key_IDs shall be an array' \
	2 sae-gb "${JSON[@]}" -d "{\"key_IDs\":\"$k0\"}" "$DEC"
kerr etsi014_err_key_id_missing 400 '^key_ID is missing$' \
	2 sae-gb "$DEC"
kerr etsi014_err_key_id_unknown 400 'unknown or already supplied' \
	2 sae-gb "$DEC?key_ID=$(cat /proc/sys/kernel/random/uuid)"
# all or none: a known key with an unknown one is refused, and stays
kerr etsi014_err_key_ids_all_or_none 400 'unknown or already supplied' \
	2 sae-gb "${JSON[@]}" \
	-d "{\"key_IDs\":[{\"key_ID\":\"$k0\"},{\"key_ID\":\"$(cat /proc/sys/kernel/random/uuid)\"}]}" \
	"$DEC"

# A third SAE, registered at kme-2 with its credential, asks for keys
# that sae-ga took for sae-gb: the kernel refuses (401).
if qkdnctl -n qkdn2 sae add id sae-gc cred sae-gc; then
	kerr etsi014_err_other_pair_key 401 'reserved for another SAE pair' \
		2 sae-gc "$DEC?key_ID=$k0"
	kerr etsi014_err_other_pair_key_post 401 'reserved for another SAE pair' \
		2 sae-gc "${JSON[@]}" -d "{\"key_IDs\":[{\"key_ID\":\"$k1\"}]}" "$DEC"
else
	fail etsi014_err_other_pair_key "qkdnctl sae add id sae-gc cred sae-gc failed"
fi

# ... and none of these took sae-gb's keys
out=$(kurl 2 sae-gb "${JSON[@]}" \
	-d "{\"key_IDs\":[{\"key_ID\":\"$k0\"},{\"key_ID\":\"$k1\"}]}" "$DEC")
if [ "$(kstatus "$out")" = 200 ] &&
	[ "$(kbody "$out" | jq -c '.keys | sort_by(.key_ID)')" = "$(jq -c '.keys | sort_by(.key_ID)' <<<"$keep")" ]; then
	ok etsi014_err_dec_keys_took_nothing
else
	fail etsi014_err_dec_keys_took_nothing "enc $keep; dec $out"
fi

# --- methods and paths ---
kmethod() {
	local name=$1 st=$2 allow=$3 method=$4 path=$5

	kerr "$name" "$st" . 1 sae-ga -X "$method" "$path"
	if [ -n "$allow" ] && ! grep -qi "^Allow: $allow"$'\r'"\?$" "$HDR"; then
		fail "${name}_allow" "$(cat "$HDR")"
	elif [ -n "$allow" ]; then
		ok "${name}_allow"
	fi
}
kmethod etsi014_err_put_enc_keys 405 'GET, POST' PUT "$ENC"
kmethod etsi014_err_delete_enc_keys 405 'GET, POST' DELETE "$ENC"
kmethod etsi014_err_delete_dec_keys 405 'GET, POST' DELETE "$DEC"
kmethod etsi014_err_post_status 405 'GET' POST /api/v1/keys/sae-gb/status
kmethod etsi014_err_put_status 405 'GET' PUT /api/v1/keys/sae-gb/status
kmethod etsi014_err_path_unknown_op 404 '' GET /api/v1/keys/sae-gb/keys
kmethod etsi014_err_path_no_op 404 '' GET /api/v1/keys/sae-gb
kmethod etsi014_err_path_trailing_slash 404 '' GET /api/v1/keys/sae-gb/status/
kmethod etsi014_err_path_root 404 '' GET /
kmethod etsi014_err_path_v2 404 '' GET /api/v2/keys/sae-gb/status
kmethod etsi014_err_path_put_unknown 404 '' PUT /api/v1/keys/sae-gb/keys

# --- what libevent refuses itself ---
# Before a request reaches the gateway's handler, libevent refuses a
# method it does not know (501), a body over 16 KiB (413), request line
# and headers over 8 KiB or malformed (400), an expectation other than
# 100-continue (417). Each is answered in JSON all the same, closes the
# connection (what follows the refused part cannot be trusted), takes no
# key, and leaves one line in the access log.
ALOG=$TEST_DIR/access-1.log

# klogged NAME N0 RE: kme-1's access log has one line more than its N0
# first ones, and that line matches RE.
klogged() {
	local new

	new=$(tail -n +"$(($2 + 1))" "$ALOG")
	if [ -n "$new" ] && [ "$(wc -l <<<"$new")" -eq 1 ] &&
		grep -qE -- "$3" <<<"$new"; then
		ok "$1"
	else
		fail "$1" "new lines in the access log: ${new:-none}"
	fi
}

# krefused NAME STATUS RE LOG_RE [CURL ARGS...] PATH: as kerr at kme-1 as
# sae-ga (STATUS, a JSON "message" matching RE, no key taken), and the
# answer says Connection: close, and the access log has its line
# (matching LOG_RE).
krefused() {
	local name=$1 st=$2 re=$3 lre=$4 n0

	shift 4
	n0=$(wc -l <"$ALOG")
	kerr "$name" "$st" "$re" 1 sae-ga "$@"
	if grep -qi '^Connection: close'$'\r''\?$' "$HDR"; then
		ok "${name}_closes"
	else
		fail "${name}_closes" "$(cat "$HDR")"
	fi
	klogged "${name}_logged" "$n0" "$lre"
}

krefused etsi014_err_unknown_method 501 '^unknown method; the API is served with GET and POST$' \
	" sae=sae-ga \\? $ENC 501 [0-9]+ " -X FROB "$ENC"
krefused etsi014_err_unknown_method_lowercase 501 '^unknown method' \
	" sae=sae-ga \\? $ENC 501 " -X get "$ENC"
krefused etsi014_err_expectation 417 '^the only expectation supported is 100-continue$' \
	" sae=sae-ga POST $ENC 417 " "${JSON[@]}" -H 'Expect: 100-nothing' -d '{"number":1}' "$ENC"

# A body over 16 KiB: libevent reads it away (so that the client sees the
# answer), then answers 413. libevent forgets the path first: "-" in the log.
head -c 20000 /dev/zero | tr '\0' ' ' >"$TEST_DIR/big.json"
krefused etsi014_err_body_too_large 413 '^the request body shall be at most 16384 bytes$' \
	" sae=sae-ga POST - 413 [0-9]+ " "${JSON[@]}" --data-binary "@$TEST_DIR/big.json" "$ENC"
# Just under the limit: a JSON body of 16 KiB is parsed (and refused for
# its content, not its size).
{ printf '{"number":1,"x":"'; head -c 16000 /dev/zero | tr '\0' a; printf '"}'; } >"$TEST_DIR/16k.json"
kerr etsi014_err_body_at_limit 400 'unknown member x' \
	1 sae-ga "${JSON[@]}" --data-binary "@$TEST_DIR/16k.json" "$ENC"

# Headers over 8 KiB.
krefused etsi014_err_headers_too_large 400 '^the request line and headers shall be at most 8192 bytes$' \
	" sae=sae-ga GET - 400 " -H "X-Filler: $(head -c 9000 /dev/zero | tr '\0' a)" \
	/api/v1/keys/sae-gb/status

# Raw requests over TLS, for what curl does not send. raw.py FILE: FILE's
# bytes to kme-1 as sae-ga, then what comes back until the gateway closes
# the connection (at most 5 s): {"responses": [{"version", "status",
# "headers" (lower-case names), "body" (parsed JSON, or null)}],
# "closed": bool}.
cat >"$TEST_DIR/raw.py" <<'EOF'
import json
import socket
import ssl
import sys

certs, addr, path = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=certs + "/ca.crt")
ctx.load_cert_chain(certs + "/sae-ga.crt", certs + "/sae-ga.key")
s = ctx.wrap_socket(socket.create_connection((addr, 8443), timeout=10),
                    server_hostname="kme-1")
with open(path, "rb") as f:
    s.sendall(f.read())
s.settimeout(5)
data, closed, error = b"", False, None
try:
    while True:
        b = s.recv(65536)
        if not b:
            closed = True
            break
        data += b
except socket.timeout:
    pass
except OSError as e:
    closed, error = True, str(e)
responses = []
while data:
    head, sep, data = data.partition(b"\r\n\r\n")
    if not sep:
        responses.append({"garbage": head.decode("latin-1")})
        break
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", len(data)))
    body, data = data[:n], data[n:]
    try:
        body = json.loads(body)
    except ValueError:
        body = None
    responses.append({"version": version, "status": int(rest.split(" ")[0]),
                      "headers": headers, "body": body})
print(json.dumps({"responses": responses, "closed": closed, "error": error}))
EOF

# kraw NAME STATUS RE LOG_RE FILE: the request in FILE, sent raw, is
# answered with HTTP/1.1 STATUS, Content-Type: application/json, a
# "message" matching RE and Connection: close, and closed; no key is
# taken; the access log has its line (LOG_RE).
kraw() {
	local name=$1 st=$2 re=$3 lre=$4 file=$5 n0 b0 b1 out

	n0=$(wc -l <"$ALOG")
	b0=$(own_bytes 1)
	out=$(in_ns 1 python3 "$TEST_DIR/raw.py" "$KMED_CERTS" "$(kmed_addr 1)" "$file")
	b1=$(own_bytes 1)
	if jq -e --argjson st "$st" --arg re "$re" '.closed and
		(.responses | length == 1) and (.responses[0] |
		.version == "HTTP/1.1" and .status == $st and
		(.headers["content-type"] | ascii_downcase) == "application/json" and
		(.headers.connection | ascii_downcase) == "close" and
		(.body | type == "object" and
			(.message | type == "string" and test($re))))' \
		<<<"$out" >/dev/null && [ -n "$b0" ] && [ "$b0" = "$b1" ]; then
		ok "$name"
	else
		fail "$name" "own bytes $b0 -> $b1: $out"
	fi
	klogged "${name}_logged" "$n0" "$lre"
}

# A request line over 8 KiB (the request line alone: libevent keeps no
# trace of it, and the message names the limit either way).
{ printf 'GET /api/v1/keys/sae-gb/status?x='; head -c 9000 /dev/zero | tr '\0' a
  printf ' HTTP/1.1\r\nHost: kme-1\r\n\r\n'; } >"$TEST_DIR/long-line.http"
kraw etsi014_err_request_line_too_large 400 '8192 bytes' \
	" sae=sae-ga \\? - 400 " "$TEST_DIR/long-line.http"
# A malformed request line: no HTTP version (the answer has one all the
# same).
printf 'GET /api/v1/keys/sae-gb/status\r\nHost: kme-1\r\n\r\n' >"$TEST_DIR/no-version.http"
kraw etsi014_err_request_line_malformed 400 '^malformed request line or headers' \
	" sae=sae-ga \\? - 400 " "$TEST_DIR/no-version.http"
# A header line without a colon.
printf 'GET /api/v1/keys/sae-gb/status HTTP/1.1\r\nHost: kme-1\r\nno colon\r\n\r\n' \
	>"$TEST_DIR/bad-header.http"
kraw etsi014_err_header_malformed 400 '^malformed request line or headers' \
	" sae=sae-ga GET - 400 " "$TEST_DIR/bad-header.http"
# A chunked body announcing a chunk over 16 KiB: refused on its size line,
# before any of it is read.
printf 'POST %s HTTP/1.1\r\nHost: kme-1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5000\r\n' \
	"$ENC" >"$TEST_DIR/chunked.http"
kraw etsi014_err_chunked_too_large 413 '^a chunked request body shall be well-formed and at most 16384 bytes$' \
	" sae=sae-ga POST - 413 " "$TEST_DIR/chunked.http"

# On a keep-alive connection: the first request is answered, the second,
# of an unknown method, refused in JSON, and the connection closed.
printf 'GET /api/v1/keys/sae-gb/status HTTP/1.1\r\nHost: kme-1\r\n\r\nFROB %s HTTP/1.1\r\nHost: kme-1\r\n\r\n' \
	"$ENC" >"$TEST_DIR/keepalive.http"
n0=$(wc -l <"$ALOG")
out=$(in_ns 1 python3 "$TEST_DIR/raw.py" "$KMED_CERTS" "$(kmed_addr 1)" "$TEST_DIR/keepalive.http")
if jq -e '.closed and (.responses | length == 2) and
	.responses[0].status == 200 and .responses[0].body.key_size == 256 and
	.responses[1].status == 501 and
	(.responses[1].body.message | test("^unknown method")) and
	.responses[1].headers.connection == "close"' <<<"$out" >/dev/null &&
	[ "$(tail -n +"$((n0 + 1))" "$ALOG" | grep -cE " sae=sae-ga (GET /api/v1/keys/sae-gb/status 200|\\? $ENC 501) ")" -eq 2 ]; then
	ok etsi014_err_keepalive_then_refused
else
	fail etsi014_err_keepalive_then_refused "$out; $(tail -n +"$((n0 + 1))" "$ALOG")"
fi


# Still serving.
out=$(kurl 1 sae-ga /api/v1/keys/sae-gb/status)
if [ "$(kstatus "$out")" = 200 ]; then
	ok etsi014_err_still_serving
else
	fail etsi014_err_still_serving "$out"
fi

# --- an empty pool: 503, and a further request takes nothing ---
# Large requests until one is refused, then what is left, to the last
# 64-bit key.
for ((i = 0; i < 40; i++)); do
	left=$(own_bytes 1)
	if [ "$left" -ge 131072 ]; then
		req='{"number":128,"size":8192}'
	elif [ "$left" -ge 1024 ]; then
		# shellcheck disable=SC2017 # rounded down to whole bytes
		req="{\"number\":128,\"size\":$((left / 128 / 8 * 64))}"
	elif [ "$left" -ge 8 ]; then
		req="{\"number\":$((left / 8)),\"size\":64}"
	else
		break
	fi
	out=$(kurl 1 sae-ga "${JSON[@]}" -d "$req" "$ENC")
	[ "$(kstatus "$out")" = 200 ] || break
done
left=$(own_bytes 1)
echo "# pool drained in $i requests: $left bytes left"
if [ "$left" -lt 8 ]; then
	ok etsi014_err_pool_drained
else
	fail etsi014_err_pool_drained "$left bytes left; $out"
fi
kerr etsi014_err_pool_empty 503 'not enough key' \
	1 sae-ga "${JSON[@]}" -d '{"number":1,"size":64}' "$ENC"
kerr etsi014_err_pool_empty_large 503 'not enough key' \
	1 sae-ga "${JSON[@]}" -d '{"number":128,"size":8192}' "$ENC"
kerr etsi014_err_pool_empty_get 503 'not enough key' \
	1 sae-ga "$ENC?number=1&size=64"
out=$(kurl 1 sae-ga /api/v1/keys/sae-gb/status)
if [ "$(kstatus "$out")" = 200 ] &&
	kbody "$out" | jq -e '.stored_key_count == 0' >/dev/null; then
	ok etsi014_err_pool_empty_status
else
	fail etsi014_err_pool_empty_status "$out"
fi
