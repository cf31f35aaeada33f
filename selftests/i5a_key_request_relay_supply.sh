#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.5a, key request, key relay and key supply in a distributed
# QKDN, as the applications see it, with the real daemons on
# topologies/chain4.topo (kme-1 - kme-2 - kme-3 - kme-4, a qkdn-linkd and a
# qkdn-controllerd in every node): the source application's "key request"
# is answered only after the relay completed, the destination application's
# "key request with ID" gets the same bytes at once; several key sizes and
# numbers, both directions and another pair of nodes; a request that does
# not fit one relay, from the wrong uid or with bad sizes is refused and
# starts nothing; with an intermediate node's controller down, then the
# source's, the request fails with a clear error and nothing reaches the
# destination; with the controllers back, relays work again.
#
# timeout: 480

# shellcheck source=selftests/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/nodes.sh
source "$(dirname "$0")/helpers/nodes.sh"
# shellcheck source=selftests/helpers/relay.sh
source "$(dirname "$0")/helpers/relay.sh"
# shellcheck source=selftests/helpers/procedure.sh
source "$(dirname "$0")/helpers/procedure.sh"

require jq setpriv

# genl_stdin FILE N UID ARGS...: genl with FILE as its input.
genl_stdin() {
	local f=$1

	shift
	genl "$@" <"$f"
}

# ---- the network ----------------------------------------------------------

procedure_up i5a_topology_up "$TOPO/chain4.topo"
chain_ready i5a_ready 16384 "1:1 2:2 3:3 4:3 3:2" "1:kme-4 4:kme-1 2:kme-4" ||
	exit 1

# ---- the whole sequence, as the applications see it -----------------------

mon_mark_all
started=$(node_stat 1 relays_started)
supply i5a_key_request_relay_supply 1 1001 sae-a 4 1004 sae-d 4 256
# The source application's answer comes after the completion notification;
# the destination application's request needs no wait and no other KM.
mon_check i5a_monitor_source 1 \
	'received key request sae:sae-a keys 4' \
	'sent key relay next hop request controller' \
	'received response to key relay next hop request controller keys 4' \
	'sent key relay km:kme-2 keys 4' \
	'received key relay completion notification km:kme-4 keys 4' \
	'sent response to key request sae:sae-a keys 4'
mon_check i5a_monitor_destination 4 \
	'received key relay km:kme-3 keys 4' \
	'sent key relay completion notification km:kme-1 keys 4' \
	'received key request with ID sae:sae-d keys 4' \
	'sent response to key request sae:sae-d keys 4'

# Sizes and numbers, kme-1 -> kme-4, back, and kme-2 -> kme-4.
for sc in 64:1 72:3 1024:16 8192:6 64:128; do
	bits=${sc%:*} num=${sc#*:}
	supply "i5a_a_to_d_${num}x${bits}" 1 1001 sae-a 4 1004 sae-d "$num" "$bits"
done
for sc in 128:2 4096:8; do
	bits=${sc%:*} num=${sc#*:}
	supply "i5a_d_to_a_${num}x${bits}" 4 1004 sae-d 1 1001 sae-a "$num" "$bits"
done
supply i5a_b_to_d_5x512 2 1002 sae-b 4 1004 sae-d 5 512
# Each went as a relay from kme-1 (six of them), none failed.
now=$(node_stat 1 relays_started)
if [ $((now - started)) -eq 6 ] && [ "$(node_stat 1 relays_failed)" = 0 ]; then
	ok i5a_all_relayed
else
	fail i5a_all_relayed "relays started at kme-1: $started -> $now, failed $(node_stat 1 relays_failed)"
fi
# A neighbour's SAE is served over the link (I.1), not relayed.
before=$(node_stat 1 relays_started)
supply i5a_neighbour_direct 1 1001 sae-a 2 1002 sae-b 2 256
if [ "$(node_stat 1 relays_started)" = "$before" ]; then
	ok i5a_neighbour_not_relayed
else
	fail i5a_neighbour_not_relayed
fi

# ---- bad requests: refused, nothing started --------------------------------

mon_mark_all
before=$(node_stat 1 relays_started)
refused i5a_too_big_for_one_relay "error E2BIG: too many key bytes to relay in one request" \
	genl 1 1001 get sae-a sae-d 1 --number 7 --sizes 8192
refused i5a_wrong_uid "error EACCES: caller may not act as the master SAE" \
	genl 1 1004 get sae-a sae-d 1 --number 4
refused i5a_root_not_master "caller may not act as the master SAE" \
	qkdnctl -n qkdn1 key get master sae-a slave sae-d
refused i5a_size_not_bytes "error EINVAL: key size shall be a multiple of 8" \
	genl 1 1001 get sae-a sae-d 1 --sizes 100
refused i5a_too_many_keys "error ERANGE" \
	genl 1 1001 get sae-a sae-d 1 --number 129
refused i5a_unknown_slave "error ENOENT" \
	genl 1 1001 get sae-a sae-x 1
if [ "$(node_stat 1 relays_started)" = "$before" ]; then
	ok i5a_bad_requests_start_nothing
else
	fail i5a_bad_requests_start_nothing "relays started $before -> $(node_stat 1 relays_started)"
fi
msgs=$(for n in 2 3 4; do mon_msgs "$n"; done)
if [ -z "$msgs" ]; then
	ok i5a_bad_requests_reach_no_other_km
else
	fail i5a_bad_requests_reach_no_other_km "$msgs"
fi
# The slave SAE: an ID twice in one request.
id=$(cat /proc/sys/kernel/random/uuid)
printf '%s\n%s\n' "$id" "$id" >"$TEST_DIR/ids"
refused i5a_id_repeated "error EINVAL: key ID repeated" \
	genl_stdin "$TEST_DIR/ids" 4 1004 get-by-id sae-a sae-d

# ---- a QKDN controller down -------------------------------------------------

# kme-3's controller stops: the relay gets as far as kme-3, which cannot
# route it; kme-1's application gets that reason, kme-4 gets nothing.
ctrl_stop 3
mon_mark_all
ended=$(node_stat 4 relays_ended)
failed=$(node_stat 1 relays_failed)
refused i5a_intermediate_controller_down \
	"error EHOSTUNREACH: key relay failed at kme-3: no QKDN controller to route the key relay" \
	genl 1 1001 get sae-a sae-d 1 --number 4
mon_check i5a_monitor_source_failed 1 \
	'received key request sae:sae-a keys 4' \
	'sent key relay next hop request controller' \
	'received response to key relay next hop request controller keys 4' \
	'sent key relay km:kme-2 keys 4' \
	'received key relay completion notification km:kme-3 errno 113 keys 4' \
	'sent response to key request sae:sae-a errno 113'
mon_check i5a_monitor_kme3_failed 3 \
	'received key relay km:kme-2 keys 4' \
	'sent key relay completion notification km:kme-1 errno 113 keys 4'
if [ "$(node_stat 4 relays_ended)" = "$ended" ] && [ -z "$(mon_msgs 4)" ] &&
   [ "$(node_stat 1 relays_failed)" = $((failed + 1)) ]; then
	ok i5a_nothing_reached_destination
else
	fail i5a_nothing_reached_destination "kme-4 relays ended $ended -> $(node_stat 4 relays_ended); kme-1 failed $failed -> $(node_stat 1 relays_failed)"
fi

# kme-1's own controller stops too: no relay can start.
ctrl_stop 1
before=$(node_stat 1 relays_started)
refused i5a_source_controller_down \
	"error EHOSTUNREACH: no QKD link to the slave SAE's node, and no QKDN controller to relay" \
	genl 1 1001 get sae-a sae-d 1 --number 4
if [ "$(node_stat 1 relays_started)" = "$before" ]; then
	ok i5a_source_controller_down_starts_nothing
else
	fail i5a_source_controller_down_starts_nothing
fi

# Both back: relays work again.
daemon_restart 3 controllerd
daemon_restart 1 controllerd
# Each learns the others' link state again over Cx; the first relays may
# find no route yet.
if wait_for 20 route_has 3 kme-4 && wait_for 20 route_has 1 kme-4 &&
   wait_for 20 route_has 3 kme-1 &&
   wait_for 20 genl 1 1001 get sae-a sae-d 1; then
	supply i5a_controllers_back 1 1001 sae-a 4 1004 sae-d 2 256
else
	fail i5a_controllers_back "no routes at kme-1 or kme-3"
fi
