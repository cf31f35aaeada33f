#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Slow clients of qkdn-kmed (timeout = 3, one event loop): 20 connections
# that never finish a request (idle TCP, a TLS ClientHello a byte at a
# time, idle after the handshake, an HTTP request a byte at a time) do not
# hold up others: while all are open, a request with curl (and one with
# Python requests) is answered at once. The gateway closes each of them once its timeout has passed, those
# that keep sending a byte now and then too; a keep-alive connection idle
# for longer is closed as well.

source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/kmed.sh
source "$(dirname "$0")/helpers/kmed.sh"

require curl jq python3
python3 -c 'import requests' 2>/dev/null || skip "python3-requests not installed"

TIMEOUT=3

kmed_two_nodes --stopped || { fail etsi014_setup "two-node set-up failed"; exit 1; }
if kmed_start 1 "threads = 1" "timeout = $TIMEOUT"; then
	ok etsi014_slow_gateway_up
else
	fail etsi014_slow_gateway_up
	exit 1
fi

# How long a normal request takes here, for comparison.
t0=$(_lib_now_ms)
out=$(kurl 1 sae-ga /api/v1/keys/sae-gb/status)
base_ms=$(($(_lib_now_ms) - t0))
echo "# a request alone: ${base_ms} ms with curl"
[ "$(kstatus "$out")" = 200 ] || fail etsi014_slow_baseline "$out"

flag=$TEST_DIR/flag
kpy 1 hold 20 $((TIMEOUT * 4)) "$flag" >"$TEST_DIR/hold.out" 2>&1 &
hpid=$!
defer kill "$hpid"
wait_for 20 grep -q '^open$' "$TEST_DIR/hold.out"
# curl, while all are open
t0=$(_lib_now_ms)
out=$(kurl 1 sae-ga /api/v1/keys/sae-gb/status)
curl_ms=$(($(_lib_now_ms) - t0))
touch "$flag"
wait "$hpid"
echo "# curl while 20 are held: ${curl_ms} ms"
res=$(tail -n 1 "$TEST_DIR/hold.out")
echo "# $res"
if ! jq -e . >/dev/null 2>&1 <<<"$res"; then
	fail etsi014_slow_client "$(cat "$TEST_DIR/hold.out")"
	exit 1
fi

if jq -e '.opened == 20 and (.errors | length) == 0' <<<"$res" >/dev/null; then
	ok etsi014_slow_20_open
else
	fail etsi014_slow_20_open "$(jq -c '[.opened, .errors, .open_seconds]' <<<"$res")"
fi

# the curl request, answered while all 20 were still open
if [ "$(kstatus "$out")" = 200 ] && [ "$curl_ms" -lt $((TIMEOUT * 1000)) ] &&
	jq -e '.still_open_at_flag == 20' <<<"$res" >/dev/null; then
	ok etsi014_slow_others_served
else
	fail etsi014_slow_others_served "curl: $curl_ms ms, $out; $(jq -c '[.still_open_at_flag]' <<<"$res")"
fi
# ... and one of Python requests as well
if jq -e '.normal_status == 200' <<<"$res" >/dev/null; then
	ok etsi014_slow_others_served_requests
else
	fail etsi014_slow_others_served_requests "$(jq -c '[.normal_status, .normal_ms]' <<<"$res")"
fi

# each closed by the gateway after its timeout, not before, not much after
for kind in tcp-idle tcp-drip tls-idle tls-drip; do
	if jq -e --arg k "$kind" --argjson t "$TIMEOUT" \
		'.closed_after[$k] | length == 5 and
		 all(.[]; . != null and . >= $t - 0.5 and . < $t + 4)' \
		<<<"$res" >/dev/null; then
		ok "etsi014_slow_closed_${kind//-/_}"
	else
		fail "etsi014_slow_closed_${kind//-/_}" "$(jq -c --arg k "$kind" '.closed_after[$k]' <<<"$res")"
	fi
done
# the drips were still sending: a timeout per read would never have fired
if jq -e '.drip_bytes | all(.[]; all(.[]; . >= 4))' <<<"$res" >/dev/null; then
	ok etsi014_slow_drips_kept_sending
else
	fail etsi014_slow_drips_kept_sending "$(jq -c .drip_bytes <<<"$res")"
fi

# a keep-alive connection idle past the timeout: closed by the gateway
out=$(in_ns 1 python3 - "$KMED_CERTS" "$TIMEOUT" <<'EOF'
import os, select, socket, ssl, sys, time
d, t = sys.argv[1], float(sys.argv[2])
ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.crt"))
ctx.load_cert_chain(os.path.join(d, "sae-ga.crt"), os.path.join(d, "sae-ga.key"))
s = ctx.wrap_socket(socket.create_connection(("10.77.1.1", 8443)),
                    server_hostname="kme-1")
s.sendall(b"GET /api/v1/keys/sae-gb/status HTTP/1.1\r\nHost: kme-1\r\n\r\n")
buf = b""
while b"max_SAE_ID_count" not in buf:
    buf += s.recv(4096)
t0 = time.monotonic()
s.settimeout(t * 4)
try:
    while s.recv(4096):
        pass
    print("closed %.2f" % (time.monotonic() - t0))
except (socket.timeout, TimeoutError):
    print("open")
except (OSError, ssl.SSLError) as e:
    print("closed %.2f %s" % (time.monotonic() - t0, e))
EOF
)
read -r what secs _ <<<"$out"
if [ "$what" = closed ] &&
	awk -v s="$secs" -v t="$TIMEOUT" 'BEGIN { exit !(s >= t - 0.5 && s < t + 4) }'; then
	ok etsi014_slow_keepalive_idle_closed
else
	fail etsi014_slow_keepalive_idle_closed "$out"
fi

# and the gateway serves on
out=$(kurl 1 sae-ga /api/v1/keys/sae-gb/status)
if [ "$(kstatus "$out")" = 200 ]; then
	ok etsi014_slow_still_serving
else
	fail etsi014_slow_still_serving "$out"
fi
