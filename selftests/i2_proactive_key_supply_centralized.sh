#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.2, proactive key supply, in a centralized QKDN with the
# real daemons: topologies/chain4-central.topo (the QKDN controller in
# kme-2, qkdn-controllerd agents in kme-1, kme-3 and kme-4).  A session
# from an agent's node to the controller's own node (sae-a at kme-1 to
# sae-b at kme-2) and one between two agents' nodes (sae-d at kme-4 to
# sae-c at kme-3): created once the slave application accepts, the master
# gets exactly the keys the slave took, every message of Figure I.2 on the
# monitors in order and in the controller's log; a slave SAE nobody listens
# for, and a controller that is down, refuse the session with clear errors
# and change nothing.
#
# timeout: 480

# shellcheck source=selftests/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=selftests/helpers/nodes.sh
source "$(dirname "$0")/helpers/nodes.sh"
# shellcheck source=selftests/helpers/procedure.sh
source "$(dirname "$0")/helpers/procedure.sh"

require jq setpriv

# The messages show their error messages too.
MON_FIELDS="errno errmsg keys"

# ---- the network ----------------------------------------------------------

procedure_up i2c_topology_up "$TOPO/chain4-central.topo"
CLOG=$TOPO_DIR/logs/controllerd-kme-2.log
agents_up() {
	local n

	for n in 1 3 4; do
		grep -q "kme-2: Cx channel up" "$TOPO_DIR/logs/controllerd-kme-$n.log" ||
			return 1
	done
}
if wait_for 20 pool_has 1 1 8192 && wait_for 20 pool_has 4 3 8192 &&
   wait_for 20 agents_up; then
	ok i2c_ready
else
	fail i2c_ready "pools or agents missing"
	exit 1
fi

# ---- nobody listens at kme-3 -------------------------------------------------

mon_mark_all
refused i2c_slave_not_listening \
	"error ECONNREFUSED: session refused: kme-3: the slave SAE is not listening" \
	master 4 1004 sae-d sae-c
mon_check i2c_monitor_not_listening_kme4 4 \
	'received session creation request sae:sae-d' \
	'sent session creation request controller' \
	'received response to session creation request controller errno 111 errmsg kme-3: the slave SAE is not listening'
mon_check i2c_monitor_not_listening_kme3 3

# ---- an agent's node to the controller's node ------------------------------------

listen 2 1002 b sae-b --take 3 || exit 1
mon_mark_all
session i2c_kme1_to_kme2_created i2c_kme1_to_kme2_keys_taken_only \
	1 1001 sae-a sae-b b
session_master_check i2c_monitor_kme1_order 1 sae-a kme-2
session_slave_check i2c_monitor_kme2_order 2 sae-b kme-1
sleep 0.3
check_output i2c_controller_got_request_from_agent \
	"received \"session creation request\" from kme-1 ctrl-id [0-9]+: master sae-a at kme-1, slave sae-b at kme-2" \
	cat "$CLOG"
check_output i2c_controller_notified_own_kernel \
	"sent \"session creation notification\" session $SID: master sae-a at kme-1, slave sae-b" \
	cat "$CLOG"
check_output i2c_controller_answered_agent \
	"sent \"response to session creation request\" to kme-1 ctrl-id [0-9]+: session $SID" \
	cat "$CLOG"

# ---- between two agents' nodes -----------------------------------------------------

listen 3 1003 c sae-c --take 3 || exit 1
mon_mark_all
session i2c_kme4_to_kme3_created i2c_kme4_to_kme3_keys_taken_only \
	4 1004 sae-d sae-c c
session_master_check i2c_monitor_kme4_order 4 sae-d kme-3
session_slave_check i2c_monitor_kme3_order 3 sae-c kme-4
if [ -z "$(mon_msgs 1)$(mon_msgs 2)" ]; then
	ok i2c_other_kms_untouched
else
	fail i2c_other_kms_untouched "$(mon_msgs 1; mon_msgs 2)"
fi
sleep 0.3
check_output i2c_controller_commanded_agent \
	"sent \"session creation notification\" to kme-3 session $SID: master sae-d at kme-4, slave sae-c" \
	cat "$CLOG"

# ---- the controller down ------------------------------------------------------------

nsess=$(grep -c '^session ' "$TEST_DIR/c.out")
ctrl_stop 2
lost() {
	grep -q "kme-2 .*Cx channel lost" "$TOPO_DIR/logs/controllerd-kme-4.log"
}
wait_for 10 lost || echo "# kme-4's agent logged no lost channel"
mon_mark_all
refused i2c_controller_down_refused \
	"error EHOSTUNREACH: session refused: QKDN controller kme-2 is not reachable" \
	master 4 1004 sae-d sae-c
mon_check i2c_monitor_controller_down_kme4 4 \
	'received session creation request sae:sae-d' \
	'sent session creation request controller' \
	'received response to session creation request controller errno 113 errmsg QKDN controller kme-2 is not reachable'
sleep 0.3
if [ -z "$(mon_msgs 3)" ] &&
   [ "$(grep -c '^session ' "$TEST_DIR/c.out")" = "$nsess" ]; then
	ok i2c_controller_down_slave_untouched
else
	fail i2c_controller_down_slave_untouched "$(mon_msgs 3)"
fi
# At the controller's own node, nobody creates sessions at all.
refused i2c_controller_node_without_controller \
	"error EHOSTUNREACH: no QKDN controller to create the session" \
	master 2 1002 sae-b sae-a
