#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The TLS of qkdn-kmed, with curl: a client without a certificate, with an
# expired one, or with one from a CA the gateway does not trust is refused
# in the handshake (no HTTP answer at all, nothing in the access log);
# TLS 1.2 and TLS 1.3 both serve keys; a client that checks the gateway's
# name against its certificate gets through only under the gateway's name.

source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/kmed.sh
source "$(dirname "$0")/helpers/kmed.sh"

require curl jq openssl

kmed_two_nodes --stopped || { fail etsi014_setup "two-node set-up failed"; exit 1; }
qkdsim_set 1 burst 16
wait_for 20 pools_filled 10000 || { fail etsi014_pools_filled; exit 1; }
if ! cert_make_expired "$KMED_CERTS" sae-ga ||
	! cert_make_untrusted "$KMED_CERTS" sae-ga; then
	fail etsi014_tls_certs
	exit 1
fi
if kmed_start 1; then
	ok etsi014_tls_gateway_up
else
	fail etsi014_tls_gateway_up
	exit 1
fi

STATUS=https://kme-1:8443/api/v1/keys/sae-gb/status

# krefused NAME [CURL ARGS...]: curl fails in the TLS handshake, with no
# HTTP status.
krefused() {
	local name=$1 out rc

	shift
	out=$(in_ns 1 curl -sS --max-time 20 --cacert "$KMED_CERTS/ca.crt" \
		--resolve kme-1:8443:10.77.1.1 -w 'HTTP %{http_code}' "$@" \
		"$STATUS" 2>&1) && rc=0 || rc=$?
	echo "# $name: curl exit $rc: $(tr '\n' ' ' <<<"$out")"
	if [ "$rc" -ne 0 ] && grep -q 'HTTP 000' <<<"$out" &&
		! grep -q '"source_KME_ID"' <<<"$out"; then
		ok "$name"
	else
		fail "$name" "curl exit $rc: $out"
	fi
}

lines0=$(wc -l <"$TEST_DIR/access-1.log")
krefused etsi014_tls_no_client_cert
krefused etsi014_tls_expired_cert --cert "$KMED_CERTS/sae-ga-expired.crt" \
	--key "$KMED_CERTS/sae-ga-expired.key"
krefused etsi014_tls_untrusted_ca --cert "$KMED_CERTS/sae-ga-untrusted.crt" \
	--key "$KMED_CERTS/sae-ga-untrusted.key"
# In TLS 1.2 the client sees the refusal in the handshake itself (in 1.3
# only once it reads, as curl above): openssl s_client fails with an alert.
out=$(in_ns 1 openssl s_client -connect 10.77.1.1:8443 -servername kme-1 \
	-CAfile "$KMED_CERTS/ca.crt" -tls1_2 </dev/null 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] && grep -q 'alert handshake failure' <<<"$out"; then
	ok etsi014_tls12_no_client_cert_alert
else
	fail etsi014_tls12_no_client_cert_alert "exit $rc: $out"
fi
if [ "$(wc -l <"$TEST_DIR/access-1.log")" -eq "$lines0" ]; then
	ok etsi014_tls_refused_not_logged
else
	fail etsi014_tls_refused_not_logged "$(cat "$TEST_DIR/access-1.log")"
fi

# ktls NAME VERSION [CURL ARGS...]: keys over that TLS version
ktls() {
	local name=$1 v=$2 out err

	shift 2
	err=$TEST_DIR/curl.err
	out=$(kurl 1 sae-ga -v "$@" '/api/v1/keys/sae-gb/enc_keys?number=1' 2>"$err")
	if [ "$(kstatus "$out")" = 200 ] &&
		grep -q "SSL connection using $v" "$err" &&
		kbody "$out" | jq -e '.keys | length == 1' >/dev/null; then
		ok "$name"
	else
		fail "$name" "$out; $(grep 'SSL connection' "$err")"
	fi
}
ktls etsi014_tls12_keys TLSv1.2 --tlsv1.2 --tls-max 1.2
ktls etsi014_tls13_keys TLSv1.3 --tlsv1.3

# the gateway's certificate names it: under another name, curl refuses
out=$(in_ns 1 curl -sS --max-time 20 --cacert "$KMED_CERTS/ca.crt" \
	--cert "$KMED_CERTS/sae-ga.crt" --key "$KMED_CERTS/sae-ga.key" \
	--resolve kme-9:8443:10.77.1.1 -w 'HTTP %{http_code}' \
	https://kme-9:8443/api/v1/keys/sae-gb/status 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] && grep -q 'HTTP 000' <<<"$out"; then
	ok etsi014_tls_server_name_checked
else
	fail etsi014_tls_server_name_checked "$out"
fi

# and a good client still gets through
out=$(kurl 1 sae-ga /api/v1/keys/sae-gb/status)
if [ "$(kstatus "$out")" = 200 ]; then
	ok etsi014_tls_still_serving
else
	fail etsi014_tls_still_serving "$out"
fi
