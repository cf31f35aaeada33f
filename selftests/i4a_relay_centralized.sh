#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.4a, key relay in a centralized QKDN, end to end with the
# real daemons: topologies/chain4-central.topo (kme-1 - kme-2 - kme-3 -
# kme-4, the QKDN controller in kme-2, qkdn-controllerd agents in the
# others, qkdn-linkd everywhere).  sae-a at kme-1 asks for keys for sae-d
# at kme-4: KM1 sends the controller a "key relay request notification",
# the controller answers with a "key relay request" carrying the full route
# kme-1 kme-2 kme-3 kme-4, the key follows it without any other KM asking
# anyone, and KM1 reports the completion with a "response to key relay
# request".  Checks: every message of Figure I.4a on the right node and in
# order; the full route, given once, in the controller's and the agent's
# logs; the intermediate KMs and their controllers see no Ck message; the
# same bytes at both ends, once; the counters of the path; the Ck inputs of
# the procedure (a route for no request, bad routes, from no admin) are
# refused and change nothing.
#
# timeout: 480

# shellcheck source=selftests/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/nodes.sh
source "$(dirname "$0")/helpers/nodes.sh"
# shellcheck source=selftests/helpers/procedure.sh
source "$(dirname "$0")/helpers/procedure.sh"

require jq setpriv

# ---- the network ----------------------------------------------------------

procedure_up i4a_topology_up "$TOPO/chain4-central.topo"
CLOG=$TOPO_DIR/logs/controllerd-kme-2.log
chain_ready i4a_ready 4096 "1:1 2:2 3:3" "1:kme-4" || exit 1
bad_mode=""
for n in 1 2 3 4; do
	mode=$(qkdnctl -j -n "qkdn$n" node show | jq -r .ctrl_mode)
	[ "$mode" = centralized ] || bad_mode+=" kme-$n:$mode"
done
if [ -z "$bad_mode" ]; then
	ok i4a_ctrl_mode_centralized
else
	fail i4a_ctrl_mode_centralized "$bad_mode"
fi

# ---- the relay ------------------------------------------------------------

mon_mark_all
c1=$(node_stat 1 relays_started) c2=$(node_stat 2 relays_forwarded)
c3=$(node_stat 3 relays_forwarded) c4=$(node_stat 4 relays_ended)
key_request i4a_key_request_answered 1 1001 sae-a sae-d 4 256 "$CLOG" || exit 1

# Q.4160 I.4a: KM1 asks once, follows the route, and on the completion
# notification tells the controller ("response to key relay request").
mon_check i4a_monitor_kme1_order 1 \
	'received key request sae:sae-a keys 4' \
	'sent key relay request notification controller' \
	'received key relay request controller keys 4' \
	'sent key relay km:kme-2 keys 4' \
	'received key relay completion notification km:kme-4 keys 4' \
	'sent response to key relay request controller' \
	'sent response to key request sae:sae-a keys 4'
# The KMs on the route ask nobody.
mon_check i4a_monitor_kme2_no_controller 2 \
	'received key relay km:kme-1 keys 4' \
	'sent key relay km:kme-3 keys 4'
mon_check i4a_monitor_kme3_no_controller 3 \
	'received key relay km:kme-2 keys 4' \
	'sent key relay km:kme-4 keys 4'
mon_check i4a_monitor_kme4_relay 4 \
	'received key relay km:kme-3 keys 4' \
	'sent key relay completion notification km:kme-1 keys 4'

mon_one_relay i4a_monitor_one_relay kme-1 kme-4

# The controller: one notification, from kme-1's agent; the full route in
# its answer, which kme-1's agent gave its kernel; the response.
sleep 0.5
notes=$(grep -F "relay $R " "$CLOG" | grep -F 'received "key relay request notification"')
if [ "$(grep -c . <<<"$notes")" = 1 ] &&
   [[ $notes =~ \"key\ relay\ request\ notification\"\ from\ kme-1\ ctrl-id\ ([0-9]+)\ relay ]]; then
	ok i4a_controller_notified_once_by_kme1
	cid=${BASH_REMATCH[1]}
else
	fail i4a_controller_notified_once_by_kme1 "$notes"
	cid=none
fi
check_output i4a_controller_sent_full_route \
	"sent \"key relay request\" to kme-1 ctrl-id $cid: route kme-1 kme-2 kme-3 kme-4 " \
	cat "$CLOG"
check_output i4a_agent_applied_full_route \
	"sent \"key relay request\" ctrl-id $cid: route kme-1 kme-2 kme-3 kme-4 " \
	cat "$TOPO_DIR/logs/controllerd-kme-1.log"
check_output i4a_controller_got_response \
	"received \"response to key relay request\" from kme-1 relay $R kme-1 -> kme-4: completed" \
	cat "$CLOG"
others=$(grep -F "$R" "$TOPO_DIR/logs/controllerd-kme-3.log" \
	"$TOPO_DIR/logs/controllerd-kme-4.log"; grep -F "$R" "$CLOG" |
	grep -v -e 'from kme-1 ' -e 'to kme-1 ')
if [ -z "$others" ] && ! grep -q "next hop request" "$CLOG"; then
	ok i4a_no_other_controller_asked
else
	fail i4a_no_other_controller_asked "$others"
fi

# Counters: the relay started at kme-1, passed kme-2 and kme-3, ended at
# kme-4.
if [ "$(node_stat 1 relays_started)" = $((c1 + 1)) ] &&
   [ "$(node_stat 2 relays_forwarded)" = $((c2 + 1)) ] &&
   [ "$(node_stat 3 relays_forwarded)" = $((c3 + 1)) ] &&
   [ "$(node_stat 4 relays_ended)" = $((c4 + 1)) ] &&
   [ "$(node_stat 1 relays_done)" = "$(node_stat 1 relays_started)" ]; then
	ok i4a_counters
else
	fail i4a_counters
	for n in 1 2 3 4; do qkdnctl -n "qkdn$n" node show | grep relays; done
fi

# The destination application: the same bytes, once.
slave_keys i4a 4 1004 sae-a sae-d

# ---- the Ck inputs of I.4a ---------------------------------------------------

# A "key relay request" is taken only as the answer to a waiting request,
# with a good route, from a controller (CAP_NET_ADMIN).
mon_mark_all
c1=$(node_stat 1 relays_started)
refused i4a_route_for_no_request "error ENOENT: no controller request with this ID is waiting" \
	ck 1 KEY_RELAY_REQUEST ctrl 4000000000 route kme-1,kme-2,kme-3,kme-4
refused i4a_route_node_twice "error EINVAL: route passes a node twice" \
	ck 1 KEY_RELAY_REQUEST ctrl 1 route kme-1,kme-2,kme-1,kme-4
refused i4a_route_one_node "error EINVAL: a route names at least two nodes" \
	ck 1 KEY_RELAY_REQUEST ctrl 1 route kme-1
refused i4a_route_too_long "error E2BIG: route too long" \
	ck 1 KEY_RELAY_REQUEST ctrl 1 route "kme-1,$(seq -s, -f 'n%g' 2 17)"
refused i4a_route_missing "error EINVAL" \
	ck 1 KEY_RELAY_REQUEST ctrl 1
refused i4a_route_not_admin "error EPERM" \
	ck 1 1001 KEY_RELAY_REQUEST ctrl 1 route kme-1,kme-2,kme-3,kme-4
refused i4a_notification_not_from_controller "error ENOTSUP: not a message a controller sends a KM" \
	ck 1 KEY_RELAY_REQUEST_NOTIFICATION ctrl 1
sleep 0.3
msgs=$(for n in 1 2 3 4; do mon_msgs "$n"; done)
if [ -z "$msgs" ] && [ "$(node_stat 1 relays_started)" = "$c1" ]; then
	ok i4a_bad_ck_changes_nothing
else
	fail i4a_bad_ck_changes_nothing "$msgs"
fi
# The slave side's new input: IDs of a relay for another pair, another uid.
m=$(as 1 1001 "$QKDNCTL" -j key get master sae-a slave sae-d 2>&1)
id=$(jq -r '.keys[0].key_ID' <<<"$m" 2>/dev/null)
refused i4a_other_pair_refused "key ID reserved for another SAE pair" \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-c slave sae-d id "$id"
refused i4a_other_uid_refused "caller may not act as the slave SAE" \
	as 4 1003 "$QKDNCTL" key get-by-id master sae-a slave sae-d id "$id"
check i4a_entitled_slave_still_gets_it \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-a slave sae-d id "$id"
