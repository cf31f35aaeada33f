#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.4b, key relay in a centralized QKDN with key reservation,
# end to end with the real daemons: the chain kme-1 - kme-2 - kme-3 - kme-4
# with the QKDN controller in kme-3 set to key reservation (topology
# "controller centralized kme-3 scheme reserve": relay_scheme = reserve),
# agents in kme-1, kme-2 and kme-4.  For sae-a (kme-1) to sae-d (kme-4):
# the controller has KM1 (kme-1) reserve the keys on the link to KM2
# (kme-2), has KM2 relay them along the full route, gets KM2's "response to
# key relay request" once KM3 (kme-4) holds them, and only then allocates
# them to KM1's application.  Checks: every message of Figure I.4b on the
# right node and in order, in the controller's log too; the same bytes at
# both ends, once; the counters of the path; the Ck inputs of I.4b (a
# reservation for no request, a relay request or an allocation for no
# reservation, replays of both after the relay, an error where only an
# answer may carry one, no admin) are refused and change nothing; KM2
# unreachable for the controller fails the request cleanly.
#
# timeout: 480

# shellcheck source=selftests/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/nodes.sh
source "$(dirname "$0")/helpers/nodes.sh"
# shellcheck source=selftests/helpers/procedure.sh
source "$(dirname "$0")/helpers/procedure.sh"

require jq setpriv

# in_order FILE RE...: FILE has a line matching each RE, in this order.
in_order() {
	local file=$1 re at=0 n

	shift
	for re in "$@"; do
		n=$(tail -n "+$((at + 1))" "$file" | grep -n -m 1 -F -- "$re" |
			cut -d: -f1)
		[ -n "$n" ] || { echo "# not found after line $at: $re"; return 1; }
		at=$((at + n))
	done
}

# ---- the network ----------------------------------------------------------

sed -e 's/^controller .*/controller centralized kme-3 scheme reserve/' \
	"$TOPO/chain4-central.topo" >"$TEST_DIR/chain4-reserve.topo"
procedure_up i4b_topology_up "$TEST_DIR/chain4-reserve.topo"
CLOG=$TOPO_DIR/logs/controllerd-kme-3.log
check_output i4b_controller_configured_for_reservation '^relay_scheme = reserve$' \
	cat "$TOPO_DIR/conf/controllerd-kme-3.conf"
chain_ready i4b_ready 4096 "1:1 2:2 3:3" "1:kme-4 2:kme-4" || exit 1

# ---- the relay with key reservation ------------------------------------------

mon_mark_all
counters_snap before
key_request i4b_key_request_answered 1 1001 sae-a sae-d 4 256 "$CLOG" || exit 1

# KM1: reserves on the controller's word, and gives its application the
# keys only on the allocation; it relays nothing itself.
mon_check i4b_monitor_km1_order 1 \
	'received key request sae:sae-a keys 4' \
	'sent key relay request notification controller' \
	'received key reservation request controller keys 4' \
	'sent response to key reservation request controller keys 4' \
	'received key allocation request controller keys 4' \
	'sent response to key allocation request controller keys 4' \
	'sent response to key request sae:sae-a keys 4'
# KM2: holds the reservation silently, relays on the controller's "key
# relay request", takes the completion and reports it.
mon_check i4b_monitor_km2_order 2 \
	'received key relay request controller keys 4' \
	'sent key relay km:kme-3 keys 4' \
	'received key relay completion notification km:kme-4 keys 4' \
	'sent response to key relay request controller'
mon_check i4b_monitor_kme3_order 3 \
	'received key relay km:kme-2 keys 4' \
	'sent key relay km:kme-4 keys 4'
mon_check i4b_monitor_km3_order 4 \
	'received key relay km:kme-3 keys 4' \
	'sent key relay completion notification km:kme-1 keys 4'

mon_one_relay i4b_monitor_one_relay kme-1 kme-4

# The controller's side of Figure I.4b, in order.
sleep 0.3
re="received \"key relay request notification\" from kme-1 ctrl-id ([0-9]+) relay $R kme-1 -> kme-4, "
if [[ $(cat "$CLOG") =~ $re ]]; then
	cid=${BASH_REMATCH[1]}
else
	cid=none
fi
if in_order "$CLOG" \
	"received \"key relay request notification\" from kme-1 ctrl-id $cid relay $R kme-1 -> kme-4, " \
	"sent \"key reservation request\" to kme-1 ctrl-id $cid relay $R: next hop kme-2 (route kme-1 kme-2 kme-3 kme-4," \
	"received \"response to key reservation request\" from kme-1 relay $R: keys reserved on the link to kme-2" \
	"sent \"key relay request\" to kme-2 relay $R: route kme-1 kme-2 kme-3 kme-4 " \
	"received \"response to key relay request\" from kme-2 relay $R kme-1 -> kme-4: completed" \
	"sent \"key allocation request\" to kme-1 relay $R: the reserved keys are the application's" \
	"received \"response to key allocation request\" from kme-1 relay $R: the keys are the application's"; then
	ok i4b_controller_log_order
else
	fail i4b_controller_log_order
	grep -F -e "$R" -e "ctrl-id $cid" "$CLOG" | sed 's/^/#   /'
fi

# Counters: KM1 took the keys from link 1 (no pad on the first link: they
# are the keys), every later hop spent 128 bytes of pad; one relay started
# and done at kme-1, passed by kme-2 and kme-3, ended at kme-4.
counters_snap after
chain_relay_counters i4b

# ---- the Ck inputs of I.4b: refused, nothing changes ---------------------------

mon_mark_all
counters_snap before
other=$(cat /proc/sys/kernel/random/uuid)
refused i4b_reservation_for_no_request "error ENOENT: no controller request with this ID is waiting" \
	ck 1 KEY_RESERVATION_REQUEST ctrl 4000000000 next kme-2
refused i4b_relay_request_no_reservation "error ENOENT: no key reservation for this relay here" \
	ck 2 KEY_RELAY_REQUEST relay "$other" route kme-1,kme-2,kme-3,kme-4
refused i4b_allocation_no_reservation "error ENOENT: no key reservation for this relay here" \
	ck 1 KEY_ALLOCATION_REQUEST relay "$other"
# Replays of the relay that completed.
refused i4b_relay_request_replayed "error ENOENT: no key reservation for this relay here" \
	ck 2 KEY_RELAY_REQUEST relay "$R" route kme-1,kme-2,kme-3,kme-4
refused i4b_allocation_replayed "error ENOENT: no key reservation for this relay here" \
	ck 1 KEY_ALLOCATION_REQUEST relay "$R"
refused i4b_failed_allocation_replayed "error ENOENT: no key reservation for this relay here" \
	ck 1 KEY_ALLOCATION_REQUEST relay "$R" errno 110
refused i4b_relay_request_with_error "error EINVAL: only an answer may carry an error" \
	ck 2 KEY_RELAY_REQUEST relay "$R" errno 110
refused i4b_allocation_no_relay_id "error EINVAL" \
	ck 2 KEY_ALLOCATION_REQUEST
refused i4b_allocation_not_admin "error EPERM" \
	ck 1 1001 KEY_ALLOCATION_REQUEST relay "$R"
sleep 0.3
counters_snap after
msgs=$(for n in 1 2 3 4; do mon_msgs "$n"; done)
moved=$(for n in 1 2 3 4; do counters_moved "$n"; done | grep -v relay_mac_bytes)
if [ -z "$msgs" ] && [ -z "$moved" ]; then
	ok i4b_bad_ck_changes_nothing
else
	fail i4b_bad_ck_changes_nothing "messages: $msgs; counters: $moved"
fi

# The destination application: the same bytes, once; not for another pair
# or uid.
# shellcheck disable=SC2086 # IDS is a word list
refused i4b_other_pair_refused "key ID reserved for another SAE pair" \
	as 4 1004 "$QKDNCTL" key get-by-id master sae-c slave sae-d $IDS
# shellcheck disable=SC2086
refused i4b_other_uid_refused "caller may not act as the slave SAE" \
	as 4 1001 "$QKDNCTL" key get-by-id master sae-a slave sae-d $IDS
slave_keys i4b 4 1004 sae-a sae-d

# ---- KM2 out of the controller's reach ---------------------------------------

# kme-2's agent stops: KM1 still reserves on the link to kme-2, but the
# controller cannot have KM2 relay; it allocates with the error, KM1 fails
# its application's request and aborts, and KM2 erases the reservation.
# Nothing reaches kme-4.
mon_mark_all
ended=$(node_stat 4 relays_ended)
aborted=$(node_stat 2 relays_aborted)
ctrl_stop 2
wait_for 10 grep -q "kme-2 .*Cx channel lost" "$CLOG"
refused i4b_km2_unreachable_fails_cleanly \
	"error EHOSTUNREACH: key relay failed at the QKDN controller: key relay request to kme-2 failed: not reachable: no agent of it is connected" \
	genl 1 1001 get sae-a sae-d 1 --number 2
mon_check i4b_monitor_km1_failed_allocation 1 \
	'received key request sae:sae-a keys 2' \
	'sent key relay request notification controller' \
	'received key reservation request controller keys 2' \
	'sent response to key reservation request controller keys 2' \
	'received key allocation request controller errno 113 keys 2' \
	'sent response to key allocation request controller errno 113 keys 2' \
	'sent response to key request sae:sae-a errno 113'
aborted_more() {
	[ "$(node_stat 2 relays_aborted)" = $((aborted + 1)) ]
}
if wait_for 5 aborted_more; then
	ok i4b_km2_reservation_aborted
else
	fail i4b_km2_reservation_aborted "kme-2 relays aborted $aborted -> $(node_stat 2 relays_aborted)"
fi
if [ "$(node_stat 4 relays_ended)" = "$ended" ] && [ -z "$(mon_msgs 4)$(mon_msgs 3)" ]; then
	ok i4b_km2_unreachable_nothing_beyond
else
	fail i4b_km2_unreachable_nothing_beyond "$(mon_msgs 3; mon_msgs 4)"
fi
