#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qkdn-kmed reloads its certificate on SIGHUP: with a re-issued kme-1
# certificate in place, a keep-alive connection opened before (Python
# requests session) goes on working on the same connection, and new
# connections get the new certificate (its serial, seen by openssl
# s_client). A bad certificate file on SIGHUP is logged and the current
# certificate stays.

source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/kmed.sh
source "$(dirname "$0")/helpers/kmed.sh"

require curl jq openssl python3
python3 -c 'import requests' 2>/dev/null || skip "python3-requests not installed"

kmed_two_nodes --stopped || { fail etsi014_setup "two-node set-up failed"; exit 1; }
# The gateway's own copy of its certificate and key, to be replaced by a
# re-issued one: the same name, a new key and serial.
if ! cp "$KMED_CERTS/kme-1.crt" "$KMED_CERTS/gw.crt" ||
	! cp "$KMED_CERTS/kme-1.key" "$KMED_CERTS/gw.key" ||
	! kmed_reissue kme-1 kme-1-new; then
	fail etsi014_reload_certs
	exit 1
fi

if kmed_start 1 "cert = $KMED_CERTS/gw.crt" "key = $KMED_CERTS/gw.key" \
	"timeout = 60"; then
	ok etsi014_reload_gateway_up
else
	fail etsi014_reload_gateway_up
	exit 1
fi
old=$(cert_serial "$KMED_CERTS/gw.crt")
new=$(cert_serial "$KMED_CERTS/kme-1-new.crt")
s0=$(kmed_serial 1)
echo "# serials: old $old, re-issued $new, presented $s0"
if [ -n "$old" ] && [ "$old" != "$new" ] && [ "$s0" = "$old" ]; then
	ok etsi014_reload_old_serial
else
	fail etsi014_reload_old_serial "old $old, new $new, presented $s0"
fi

# A keep-alive session, open across the reload.
flag=$TEST_DIR/go
kpy 1 session "$flag" >"$TEST_DIR/session.out" 2>&1 &
spid=$!
defer kill "$spid"
wait_for 30 grep -q '^ready' "$TEST_DIR/session.out"

cp "$KMED_CERTS/kme-1-new.crt" "$KMED_CERTS/gw.crt" &&
	cp "$KMED_CERTS/kme-1-new.key" "$KMED_CERTS/gw.key"
kill -HUP "${KMED_PID[1]}"
if kmed_logged 1 'reloaded .*gw\.crt'; then
	ok etsi014_reload_logged
else
	fail etsi014_reload_logged "$(cat "$TEST_DIR/kmed-1.log")"
fi

touch "$flag"
wait "$spid"
out=$(cat "$TEST_DIR/session.out")
mapfile -t peers < <(grep ' sae=sae-ga GET /api/v1/keys/sae-gb/status 200 ' \
	"$TEST_DIR/access-1.log" | awk '{ print $2 }')
echo "# session: $(tr '\n' ' ' <<<"$out"); clients ${peers[*]}"
if grep -q '^ready 200$' <<<"$out" && grep -q '^after 200$' <<<"$out" &&
	[ "${#peers[@]}" -eq 2 ] && [ "${peers[0]}" = "${peers[1]}" ]; then
	ok etsi014_reload_open_connection_goes_on
else
	fail etsi014_reload_open_connection_goes_on "$out; ${peers[*]}"
fi

s1=$(kmed_serial 1)
if [ "$s1" = "$new" ]; then
	ok etsi014_reload_new_serial
else
	fail etsi014_reload_new_serial "presented $s1, want $new"
fi
out=$(kurl 1 sae-ga '/api/v1/keys/sae-gb/status')
if [ "$(kstatus "$out")" = 200 ]; then
	ok etsi014_reload_new_connections_served
else
	fail etsi014_reload_new_connections_served "$out"
fi

# A bad certificate file: logged, and the current certificate stays.
echo "not a certificate" >"$KMED_CERTS/gw.crt"
kill -HUP "${KMED_PID[1]}"
if kmed_logged 1 'reload: .*gw\.crt.*the current certificates stay'; then
	ok etsi014_reload_bad_cert_logged
else
	fail etsi014_reload_bad_cert_logged "$(cat "$TEST_DIR/kmed-1.log")"
fi
s2=$(kmed_serial 1)
out=$(kurl 1 sae-ga '/api/v1/keys/sae-gb/status')
if [ "$s2" = "$new" ] && [ "$(kstatus "$out")" = 200 ] &&
	_lib_alive "${KMED_PID[1]}"; then
	ok etsi014_reload_bad_cert_keeps_current
else
	fail etsi014_reload_bad_cert_keeps_current "presented $s2; $out"
fi
