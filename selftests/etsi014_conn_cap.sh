#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qkdn-kmed's connection cap (max_connections = 4, threads = 1): with four
# keep-alive connections open, a fifth client is not refused but waits in
# the kernel's backlog, and is served as soon as one of the four closes.

source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/kmed.sh
source "$(dirname "$0")/helpers/kmed.sh"

require curl jq python3
python3 -c 'import requests' 2>/dev/null || skip "python3-requests not installed"

kmed_two_nodes --stopped || { fail etsi014_setup "two-node set-up failed"; exit 1; }
if kmed_start 1 "threads = 1" "max_connections = 4" "timeout = 60"; then
	ok etsi014_cap_gateway_up
else
	fail etsi014_cap_gateway_up
	exit 1
fi

out=$(kpy 1 cap 4 2>&1)
echo "# $out"
if ! jq -e . >/dev/null 2>&1 <<<"$out"; then
	fail etsi014_cap_client "$out"
	exit 1
fi

if jq -e '.held | length == 4 and all(.[]; . == "HTTP/1.1 200 OK")' \
	<<<"$out" >/dev/null; then
	ok etsi014_cap_four_served
else
	fail etsi014_cap_four_served "$(jq -c .held <<<"$out")"
fi
# the fifth: neither answered nor refused while the four are open
if jq -e '.answered_while_full == false' <<<"$out" >/dev/null; then
	ok etsi014_cap_fifth_waits
else
	fail etsi014_cap_fifth_waits "$(jq -c . <<<"$out")"
fi
# ... then served once one closed
if jq -e '.answered_after_close and .fifth_status == 200 and
		.fifth_at >= .closed_one_at' <<<"$out" >/dev/null; then
	ok etsi014_cap_fifth_served_after_close
else
	fail etsi014_cap_fifth_served_after_close "$(jq -c . <<<"$out")"
fi

# all closed: the cap no longer holds anyone up
out=$(kurl 1 sae-ga /api/v1/keys/sae-gb/status)
if [ "$(kstatus "$out")" = 200 ]; then
	ok etsi014_cap_still_serving
else
	fail etsi014_cap_still_serving "$out"
fi
