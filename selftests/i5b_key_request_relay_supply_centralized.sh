#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.5b, key request, key relay and key supply in a centralized
# QKDN, as the applications see it, with the real daemons on
# topologies/chain4-central.topo (kme-1 - kme-2 - kme-3 - kme-4, the QKDN
# controller in kme-2, agents in the other nodes): the source application's
# "key request" is answered after the relay along the controller's route
# completed and KM1 told the controller; the destination application's
# "key request with ID" gets the same bytes.  Several sizes and numbers,
# from every node that has an agent and from the controller's own node,
# both directions; bad requests start nothing; with the central
# controller down the source application gets the agent's clear error and
# no KM is touched; with it back, relays work again.
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

# ---- the network ----------------------------------------------------------

procedure_up i5b_topology_up "$TOPO/chain4-central.topo"
CLOG=$TOPO_DIR/logs/controllerd-kme-2.log
chain_ready i5b_ready 16384 "1:1 2:2 3:3 4:3 3:2 2:1" "1:kme-4 4:kme-1 3:kme-1" ||
	exit 1

# ---- the whole sequence ------------------------------------------------------

mon_mark_all
supply i5b_key_request_relay_supply 1 1001 sae-a 4 1004 sae-d 4 256
mon_check i5b_monitor_source 1 \
	'received key request sae:sae-a keys 4' \
	'sent key relay request notification controller' \
	'received key relay request controller keys 4' \
	'sent key relay km:kme-2 keys 4' \
	'received key relay completion notification km:kme-4 keys 4' \
	'sent response to key relay request controller' \
	'sent response to key request sae:sae-a keys 4'
mon_check i5b_monitor_kme2 2 \
	'received key relay km:kme-1 keys 4' \
	'sent key relay km:kme-3 keys 4'
mon_check i5b_monitor_kme3 3 \
	'received key relay km:kme-2 keys 4' \
	'sent key relay km:kme-4 keys 4'
mon_check i5b_monitor_destination 4 \
	'received key relay km:kme-3 keys 4' \
	'sent key relay completion notification km:kme-1 keys 4' \
	'received key request with ID sae:sae-d keys 4' \
	'sent response to key request sae:sae-d keys 4'

# Sizes and numbers; from kme-4 and kme-3 (agents) back to kme-1; from
# kme-2, whose kernel the controller serves itself.
for sc in 64:1 1024:16 8192:6 64:128; do
	bits=${sc%:*} num=${sc#*:}
	supply "i5b_a_to_d_${num}x${bits}" 1 1001 sae-a 4 1004 sae-d "$num" "$bits"
done
supply i5b_d_to_a_3x2048 4 1004 sae-d 1 1001 sae-a 3 2048
supply i5b_c_to_a_7x128 3 1003 sae-c 1 1001 sae-a 7 128
mon_mark_all
supply i5b_b_to_d_2x256 2 1002 sae-b 4 1004 sae-d 2 256
mon_check i5b_monitor_source_at_controller_node 2 \
	'received key request sae:sae-b keys 2' \
	'sent key relay request notification controller' \
	'received key relay request controller keys 2' \
	'sent key relay km:kme-3 keys 2' \
	'received key relay completion notification km:kme-4 keys 2' \
	'sent response to key relay request controller' \
	'sent response to key request sae:sae-b keys 2'
check_output i5b_controller_own_node_route \
	'sent "key relay request" ctrl-id [0-9]+: route kme-2 kme-3 kme-4 ' cat "$CLOG"
check_output i5b_controller_agent_route \
	'sent "key relay request" to kme-4 ctrl-id [0-9]+: route kme-4 kme-3 kme-2 kme-1 ' cat "$CLOG"
if [ "$(node_stat 1 relays_failed)" = 0 ] && [ "$(node_stat 4 relays_failed)" = 0 ] &&
   [ "$(node_stat 1 relays_done)" = 5 ]; then
	ok i5b_no_relay_failed
else
	fail i5b_no_relay_failed
	for n in 1 2 3 4; do qkdnctl -n "qkdn$n" node show | grep relays; done
fi

# ---- bad requests --------------------------------------------------------------

mon_mark_all
c1=$(node_stat 1 relays_started)
refused i5b_too_big_for_one_relay "error E2BIG: too many key bytes to relay in one request" \
	genl 1 1001 get sae-a sae-d 1 --number 7 --sizes 8192
refused i5b_wrong_uid "error EACCES: caller may not act as the master SAE" \
	genl 1 1002 get sae-a sae-d 1
sleep 0.3
if [ "$(node_stat 1 relays_started)" = "$c1" ] &&
   ! grep -q "relay request notification" <<<"$(mon_msgs 1)" &&
   [ -z "$(mon_msgs 2)$(mon_msgs 3)$(mon_msgs 4)" ]; then
	ok i5b_bad_requests_start_nothing
else
	fail i5b_bad_requests_start_nothing "$(mon_msgs 1)"
fi

# ---- the central controller down ------------------------------------------------

# kme-1's agent answers at once that it cannot reach the controller; kme-1
# ends the request itself and tells no controller; no KM is touched.
alog() {	# alog N: the log of node N's agent
	echo "$TOPO_DIR/logs/controllerd-kme-$1.log"
}
ups() {		# ups N: how often node N's agent got its Cx channel up
	grep -c "kme-2: Cx channel up" "$(alog "$1")"
}
cx_lost() {	# cx_lost N: node N's agent saw its channel go
	grep -q "kme-2 \[.*\]: Cx channel lost" "$(alog "$1")"
}
cx_back() {	# cx_back N COUNT: node N's agent has it up again
	[ "$(ups "$1")" -gt "$2" ]
}
u1=$(ups 1) u3=$(ups 3) u4=$(ups 4)
ctrl_stop 2
wait_for 10 cx_lost 1 || echo "# kme-1's agent logged no lost channel"
mon_mark_all
c1=$(node_stat 1 relays_failed)
refused i5b_central_controller_down \
	"error EHOSTUNREACH: key relay failed at kme-1: QKDN controller kme-2 is not reachable" \
	genl 1 1001 get sae-a sae-d 1 --number 2
mon_check i5b_monitor_source_controller_down 1 \
	'received key request sae:sae-a keys 2' \
	'sent key relay request notification controller' \
	'received key relay request controller errno 113 keys 2' \
	'sent response to key request sae:sae-a errno 113'
if [ "$(node_stat 1 relays_failed)" = $((c1 + 1)) ] &&
   [ -z "$(mon_msgs 2)$(mon_msgs 3)$(mon_msgs 4)" ]; then
	ok i5b_controller_down_touches_no_km
else
	fail i5b_controller_down_touches_no_km "$(mon_msgs 2)$(mon_msgs 3)$(mon_msgs 4)"
fi
# At the controller's own node nobody routes at all.
refused i5b_controller_node_without_controller \
	"error EHOSTUNREACH: no QKD link to the slave SAE's node, and no QKDN controller to relay" \
	genl 2 1002 get sae-b sae-d 1

# Back: the agents dial it again, relays work.
daemon_restart 2 controllerd
# The agents dial again within 2 s, and send their link state; the first
# relays may find no route yet.
if wait_for 20 cx_back 1 "$u1" && wait_for 20 cx_back 3 "$u3" &&
   wait_for 20 cx_back 4 "$u4" &&
   wait_for 20 genl 1 1001 get sae-a sae-d 1 &&
   wait_for 20 genl 4 1004 get sae-d sae-a 1; then
	supply i5b_controller_back 1 1001 sae-a 4 1004 sae-d 2 256
	supply i5b_controller_back_reverse 4 1004 sae-d 1 1001 sae-a 2 256
else
	fail i5b_controller_back "the agents did not get their controller back"
fi
