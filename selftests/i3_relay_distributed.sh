#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.3, key relay in a distributed QKDN, end to end with the
# real daemons: topologies/chain4.topo (kme-1 - kme-2 - kme-3 - kme-4, a
# qkdn-linkd and a qkdn-controllerd in every node).  sae-a at kme-1 asks
# for keys for sae-d at kme-4; the key goes hop by hop, every KM asking its
# own controller for the next hop.  Checks: the route kme-1 publishes; the
# same bytes under the same IDs at both ends, supplied once; every message
# of Figure I.3 on the monitor of the node that sends or receives it, in
# order, all of one relay; the relay counters of every link and node (each
# hop spends exactly the relayed key bytes as pad); the slave side's bad
# inputs (unknown ID, another SAE pair, another uid) change nothing.
#
# timeout: 480

# shellcheck source=selftests/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/nodes.sh
source "$(dirname "$0")/helpers/nodes.sh"
# shellcheck source=selftests/helpers/procedure.sh
source "$(dirname "$0")/helpers/procedure.sh"

require jq setpriv

# The monitors show "DIR NAME PEER" alone.
MON_FIELDS=

# route_to N DST VIA PATH...: node N's route table has DST via VIA, PATH.
route_to() {
	local n=$1 dst=$2 via=$3 path

	shift 3
	path=$(printf '"%s",' "$@")
	qkdnctl -j -n "qkdn$n" route | jq -e --arg d "$dst" --arg v "$via" \
		".[] | select(.dst_node_id == \$d) |
		 .next_hop == \$v and .path == [${path%,}]" >/dev/null
}

# ---- the network ----------------------------------------------------------

procedure_up i3_topology_up "$TOPO/chain4.topo"

# Every sending end holds key; kme-1's controller knows the way to kme-4.
if wait_for 20 pool_has 1 1 4096 && wait_for 20 pool_has 2 2 4096 &&
   wait_for 20 pool_has 3 3 4096; then
	ok i3_pools_filled
else
	fail i3_pools_filled
	qkdnctl -n qkdn2 pool show
	exit 1
fi
if wait_for 20 route_to 1 kme-4 kme-2 kme-1 kme-2 kme-3 kme-4; then
	ok i3_route_kme4_via_kme2
else
	fail i3_route_kme4_via_kme2 "qkdnctl route at kme-1:"
	_lib_diag "$(qkdnctl -n qkdn1 route 2>&1)"
	exit 1
fi
check_output i3_route_text "^route kme-4 via kme-2 path kme-1 -> kme-2 -> kme-3 -> kme-4 " \
	qkdnctl -n qkdn1 route
# kme-4's controller routes back the other way.
if wait_for 10 route_to 4 kme-1 kme-3 kme-4 kme-3 kme-2 kme-1; then
	ok i3_route_back_kme1_via_kme3
else
	fail i3_route_back_kme1_via_kme3 "$(qkdnctl -n qkdn4 route 2>&1)"
fi

# ---- the relay ------------------------------------------------------------

sleep 0.2	# the monitors have joined (with mon_mark_all's 0.3 s)
mon_mark_all
counters_snap before
key_request i3_key_request_answered 1 1001 sae-a sae-d 4 256 \
	"$TOPO_DIR"/logs/controllerd-kme-*.log || exit 1

# The relay record is complete at kme-4 before kme-1 answers: its messages
# are all there now, and nothing of the relay went to the slave SAE yet.
mon_check i3_monitor_kme1_order 1 \
	'received key request sae:sae-a' \
	'sent key relay next hop request controller' \
	'received response to key relay next hop request controller' \
	'sent key relay km:kme-2' \
	'received key relay completion notification km:kme-4' \
	'sent response to key request sae:sae-a'
for n in 2 3; do
	mon_check "i3_monitor_kme${n}_order" "$n" \
		"received key relay km:kme-$((n - 1))" \
		'sent key relay next hop request controller' \
		'received response to key relay next hop request controller' \
		"sent key relay km:kme-$((n + 1))"
done
mon_check i3_monitor_kme4_relay_order 4 \
	'received key relay km:kme-3' \
	'sent key relay completion notification km:kme-1'

# One relay: the same relay ID, source and destination everywhere, the
# key count on the messages that carry keys, no error, no key bytes.
mon_one_relay i3_monitor_one_relay kme-1 kme-4 14 \
	'(.msg == "key relay" or .msg == "key relay completion notification")
	 and .key_count != 4'
if jq -e -s 'map(select(.msg == "key request" or
	.msg == "response to key request")) | length == 2 and
	all(.dst_node_id == "kme-4" and .key_count == 4)' \
	<<<"$(mon_json 1)" >/dev/null; then
	ok i3_monitor_key_request_fields
else
	fail i3_monitor_key_request_fields "$(mon_json 1)"
fi
mon_no_key_bytes i3_monitor_no_key_bytes

# The controllers logged the next hops they gave.
check_output i3_ctrl1_logged_next_hop "relay $R kme-1 -> kme-4" \
	grep -F "received \"key relay next hop request\"" "$TOPO_DIR/logs/controllerd-kme-1.log"
check_output i3_ctrl2_logged_next_hop "next hop kme-3" \
	grep -F "sent \"response to key relay next hop request\"" "$TOPO_DIR/logs/controllerd-kme-2.log"

# Counters: every link of the path carried one relay frame, and each end
# of each link spent exactly the 128 relayed key bytes as pad (on link 1
# they are the keys themselves); the MAC took 16 or 32 bytes more.
counters_snap after
chain_relay_counters i3
macs=$(for n in 1 2 3 4; do counters_moved "$n" | grep relay_mac_bytes; done |
	awk '{ print $4 }' | sort -u | tr '\n' ' ')
nmac=$(for n in 1 2 3 4; do counters_moved "$n"; done | grep -c relay_mac_bytes)
if [ "$nmac" = 6 ] && [[ $macs =~ ^(\+16\ |\+32\ |\+16\ \+32\ )$ ]]; then
	ok i3_counters_mac_bytes
else
	fail i3_counters_mac_bytes "$nmac link ends moved, by $macs"
fi

# ---- the destination application ------------------------------------------

# Bad inputs first: each is refused at once and takes nothing.  kme-4 has
# no link to kme-1, so no reservation can be on its way: an unknown ID is
# refused without the 2 s wait of I.1 (timed around the request alone).
unknown=$(cat /proc/sys/kernel/random/uuid)
out=$(as 4 1004 python3 - "$HELPERS" "$unknown" 2>&1 <<-'EOF'
	import sys, time
	sys.path.insert(0, sys.argv[1])
	from qkdn_genl import Genl, NlError
	nl = Genl()
	t = time.monotonic()
	try:
	    nl.key_get_by_id("sae-a", "sae-d", [sys.argv[2]])
	    print("supplied")
	except NlError as e:
	    print("%s after %d ms" % (e, (time.monotonic() - t) * 1000))
	EOF
)
if [[ $out =~ ^ENOENT:\ key\ ID\ unknown\ or\ already\ supplied\ after\ ([0-9]+)\ ms$ ]] &&
   [ "${BASH_REMATCH[1]}" -lt 1000 ]; then
	ok i3_unknown_id_refused_at_once
else
	fail i3_unknown_id_refused_at_once "$out"
fi
# shellcheck disable=SC2086 # IDS is a word list
refused i3_other_sae_pair_refused "key ID reserved for another SAE pair" \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-b slave sae-d $IDS
# shellcheck disable=SC2086
refused i3_other_uid_refused "caller may not act as the slave SAE" \
	as 4 1001 "$QKDNCTL" key get-by-id master sae-a slave sae-d $IDS
# shellcheck disable=SC2086
refused i3_root_refused "caller may not act as the slave SAE" \
	qkdnctl -n qkdn4 key get-by-id master sae-a slave sae-d $IDS
# One good ID and one unknown: all or nothing.
# shellcheck disable=SC2046
refused i3_partly_unknown_ids_refused "key ID unknown or already supplied" \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-a slave sae-d \
	$(head -n 1 <<<"$IDS") id "$unknown"

# "key request with ID" as the slave SAE: the same bytes under the same
# IDs, once.
slave_keys i3 4 1004 sae-a sae-d

mon_check i3_monitor_kme4_order 4 \
	'received key relay km:kme-3' \
	'sent key relay completion notification km:kme-1' \
	'received key request with ID sae:sae-d' \
	'sent response to key request sae:sae-d'
