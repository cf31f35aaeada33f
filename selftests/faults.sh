#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Faults the key managers must survive, on two nodes with real link
# daemons, and what must hold afterwards:
#
#  1. a link daemon killed (SIGKILL) and restarted while keys are being
#     requested at both ends: every reserved key reaches the other end and
#     is supplied there exactly once, with the same bytes (Kx
#     retransmission); a slave asking meanwhile gets a clear error;
#  2. qkdsim "abort" and "drop_end": both ends skip the same blocks, their
#     pools agree and the seeded bytes still match;
#  3. an empty or short pool: ENOSPC with a clear message, nothing taken;
#  4. the master's node (network namespace) deleted while the slave waits
#     for a reservation: no hang, no splat; the node created again, the
#     slave's node untouched: both ends agree again; links deleted and
#     added again (at once, or after a pause): they come back up and agree;
#     the slave's node deleted while requests wait in it: no hang; fresh
#     nodes work afterwards;
#  5. rmmod of qkdsim and qkdn with keys held, daemons bound, a monitor
#     listening and a request in flight: refused while in use, clean when
#     it succeeds (the runner checks the kernel log).
#
# timeout: 480

source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/nodes.sh"

require jq python3 setpriv

SEED=0xfa175eed
BS=4096

# Whatever happens to the modules here, leave them loaded for the runner.
reload_modules() {
	[ -d /sys/module/qkdn ] || { modprobe gf128mul; modprobe xfrm_algo; insmod "$TOP/kernel/qkdn.ko"; }
	[ -d /sys/module/qkdsim ] || insmod "$TOP/kernel/qkdsim.ko"
}
defer reload_modules

# start_nodes BLOCKS: the standard set-up, seeded, BLOCKS blocks in both
# pools, the Kx channel up.
start_nodes() {
	qkdn_two_nodes --stopped || return 1
	wait_for 15 link_up 1 && wait_for 15 link_up 2 || return 1
	qkdsim_set 1 seed $SEED
	qkdsim_set 1 burst "$1"
	wait_for 20 pool_own 1 $(($1 / 2 * BS)) &&
		wait_for 20 pool_own 2 $(($1 / 2 * BS)) && wait_for 10 pools_agree
}

stat_of() {
	link_json "$1" | jq ".stats.$2"
}

pool_of() {
	pool_json "$1" | jq ".$2"
}

reserved_are() {
	[ "$(pool_of 1 reserved_keys)" = "$1" ] && [ "$(pool_of 2 reserved_keys)" = "$2" ]
}

# random_ids N: N key IDs nobody reserved
random_ids() {
	local i

	for ((i = 0; i < $1; i++)); do
		cat /proc/sys/kernel/random/uuid
	done
}

# alive PID: the process exists and is not a zombie
alive() {
	[ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# kill_ns N: kill every process in node N
kill_ns() {
	local pids

	pids=$(ip netns pids "qkdn$1" 2>/dev/null)
	[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
	return 0
}

chmod 711 "$TEST_DIR"	# the SAEs' workers look for files in it
start_nodes 40 || { fail faults_setup "two-node set-up failed"; exit 1; }

# ---- 1. link daemons killed and restarted mid-traffic -----------------

: >"$TEST_DIR/run"
genl 1 1001 get sae-a sae-b 0 --go "$TEST_DIR/run" --sleep 0.02 \
	>"$TEST_DIR/a.m1" 2>"$TEST_DIR/a.m1.err" </dev/null &
pa1=$!
genl 2 1002 get sae-b sae-a 0 --go "$TEST_DIR/run" --sleep 0.02 \
	>"$TEST_DIR/a.m2" 2>"$TEST_DIR/a.m2.err" </dev/null &
pa2=$!
sleep 2

# The dialling side's daemon dies; blocks keep coming.
kill -KILL "${LINKD_PID[1]}"
wait "${LINKD_PID[1]}" 2>/dev/null
qkdsim_set 1 burst 4				# blocks 41..44
if wait_for 5 eval '! link_up 1'; then
	ok faults_linkd_killed_link_down
else
	fail faults_linkd_killed_link_down "link 1 of kme-1 still up"
fi
# A key reserved now cannot reach kme-2 yet: its slave gets a clear error
# after the wait, and the key stays reserved for later.
genl 1 1001 get sae-a sae-b 1 >"$TEST_DIR/a.probe" </dev/null
out=$(genl 2 1002 get-by-id sae-a sae-b <"$TEST_DIR/a.probe" 2>&1 >/dev/null)
rc=$?
if [ $rc -eq 1 ] && grep -q "ENOENT: key ID unknown or already supplied" <<<"$out"; then
	ok faults_slave_clear_error_while_channel_down
else
	fail faults_slave_clear_error_while_channel_down "rc $rc: $out"
fi
linkd_start 1 "$TEST_DIR/linkd-1.conf"
if wait_for 15 link_up 1 && wait_for 15 link_up 2; then
	ok faults_linkd_restarted_link_up
else
	fail faults_linkd_restarted_link_up
fi
sleep 1

# Now the accepting side's daemon.
kill -KILL "${LINKD_PID[2]}"
wait "${LINKD_PID[2]}" 2>/dev/null
qkdsim_set 1 burst 4				# blocks 45..48
sleep 1
linkd_start 2 "$TEST_DIR/linkd-2.conf"
if wait_for 15 link_up 1 && wait_for 15 link_up 2; then
	ok faults_linkd_restarted_link_up_accepting_side
else
	fail faults_linkd_restarted_link_up_accepting_side
fi
sleep 1
rm -f "$TEST_DIR/run"
wait $pa1 $pa2
cat "$TEST_DIR/a.probe" "$TEST_DIR/a.m1" >"$TEST_DIR/a.m1.all"
n1=$(wc -l <"$TEST_DIR/a.m1.all")
n2=$(wc -l <"$TEST_DIR/a.m2")
echo "# keys requested during the daemons' restarts: $n1 on kme-1, $n2 on kme-2"
if [ ! -s "$TEST_DIR/a.m1.err" ] && [ ! -s "$TEST_DIR/a.m2.err" ] &&
   [ "$n1" -gt 20 ] && [ "$n2" -gt 20 ]; then
	ok faults_masters_served_while_daemons_down
else
	fail faults_masters_served_while_daemons_down "$n1 and $n2 keys"
	_lib_diag "$(head -n 5 "$TEST_DIR/a.m1.err" "$TEST_DIR/a.m2.err")"
fi

if wait_for 15 reserved_are "$n2" "$n1"; then
	ok faults_restart_every_reservation_arrives
else
	fail faults_restart_every_reservation_arrives \
		"reserved keys $(pool_of 1 reserved_keys) and $(pool_of 2 reserved_keys), want $n2 and $n1"
fi
genl 2 1002 get-by-id sae-a sae-b <"$TEST_DIR/a.m1.all" >"$TEST_DIR/a.s2" 2>&1 &
p=$!
genl 1 1001 get-by-id sae-b sae-a <"$TEST_DIR/a.m2" >"$TEST_DIR/a.s1" 2>&1
wait $p
kcheck faults_restart_kme2_supplies_each_once pairs "$TEST_DIR/a.m1.all" "$TEST_DIR/a.s2"
kcheck faults_restart_kme1_supplies_each_once pairs "$TEST_DIR/a.m2" "$TEST_DIR/a.s1"
kcheck faults_restart_no_key_twice unique "$TEST_DIR/a.m1.all" "$TEST_DIR/a.m2"
kcheck faults_restart_kme1_keys_tile_stream tile $SEED 2:48:2 "$TEST_DIR/a.m1.all"
kcheck faults_restart_kme2_keys_tile_stream tile $SEED 1:48:2 "$TEST_DIR/a.m2"
shuf -n 32 "$TEST_DIR/a.m1.all" >"$TEST_DIR/a.again"
out=$(genl 2 1002 get-by-id sae-a sae-b <"$TEST_DIR/a.again" 2>&1)
if [ $? -eq 1 ] && grep -q "^error ENOENT" <<<"$out" && ! grep -qv "^error" <<<"$out"; then
	ok faults_restart_second_fetch_refused
else
	fail faults_restart_second_fetch_refused "$(head -c 300 <<<"$out")"
fi
bad=
for n in 1 2; do
	l=$(link_json $n)
	echo "# kme-$n frames: $(jq -c '.stats | {frames_tx, frames_rx, frames_retx, frames_bad}' <<<"$l")"
	[ "$(jq .stats.frames_bad <<<"$l")" = 0 ] || bad+=" kme-$n frames_bad $(jq .stats.frames_bad <<<"$l");"
done
if [ -z "$bad" ] && wait_for 5 pools_agree; then
	ok faults_restart_pools_agree
else
	fail faults_restart_pools_agree "$bad $(pool_json 1) $(pool_json 2)"
fi

# ---- 2. aborted and one-sided blocks ---------------------------------

D=$QKDSIM_DEBUGFS/qkdsim1
qkdsim_set 1 abort 1
qkdsim_set 1 drop_end a
qkdsim_set 1 burst 2		# 49 aborted at both ends, 50 reaches kme-2 only
qkdsim_set 1 drop_end b
qkdsim_set 1 burst 1		# 51 reaches kme-1 only
qkdsim_set 1 burst 4		# 52..55 both
sim=$(tr '\n' ' ' <"$D/stats")
counts_ok() {
	[ "$(stat_of 1 blocks_aborted) $(stat_of 2 blocks_aborted)" = "1 1" ] &&
	[ "$(stat_of 1 blocks_discarded) $(stat_of 2 blocks_discarded)" = "1 1" ]
}
if wait_for 10 counts_ok; then
	ok faults_abort_drop_counted_at_both_ends
else
	fail faults_abort_drop_counted_at_both_ends "qkdsim: $sim"
	link_json 1; link_json 2
fi
if wait_for 10 pools_agree; then
	ok faults_abort_drop_pools_agree
else
	fail faults_abort_drop_pools_agree "$(pool_json 1) $(pool_json 2)"
fi

# ---- 3. short and empty pools -----------------------------------------

"$QKDNCTL" -n qkdn1 monitor >"$TEST_DIR/mon1" 2>&1 </dev/null &
mon1=$!
defer kill $mon1
sleep 0.5
own1=$(pool_of 1 own_bytes)
own2=$(pool_of 2 own_bytes)
res1=$(stat_of 1 keys_reserved)
rcv2=$(stat_of 2 keys_received)
echo "# own bytes before the short request: kme-1 $own1, kme-2 $own2"
out=$(ctl_as 1 1001 key get master sae-a slave sae-b number 128 size 8192 2>&1)
rc=$?
if [ "$own1" -lt $((128 * 1024)) ] && [ $rc -eq 1 ] &&
   [ "$out" = "Error: not enough key in the pool" ]; then
	ok faults_short_pool_enospc
else
	fail faults_short_pool_enospc "own $own1, rc $rc: $out"
fi
sleep 1
if [ "$(pool_of 1 own_bytes)" = "$own1" ] && [ "$(stat_of 1 keys_reserved)" = "$res1" ] &&
   [ "$(stat_of 2 keys_received)" = "$rcv2" ] && reserved_are 0 0; then
	ok faults_short_pool_nothing_taken
else
	fail faults_short_pool_nothing_taken "$(pool_json 1) $(link_json 2)"
fi

# Take exactly what is left, at both ends: each end's keys then cover its
# whole stream, the skipped blocks left out (kme-1: even blocks but 50,
# kme-2: odd blocks but 49 and 51).
genl 1 1001 drain sae-a sae-b "$own1" >"$TEST_DIR/b.m1" 2>"$TEST_DIR/b.m1.err" </dev/null
genl 2 1002 drain sae-b sae-a "$own2" >"$TEST_DIR/b.m2" 2>"$TEST_DIR/b.m2.err" </dev/null
if [ "$(pool_of 1 own_bytes) $(pool_of 2 own_bytes)" = "0 0" ]; then
	ok faults_pools_drained
else
	fail faults_pools_drained "$(pool_json 1) $(pool_json 2)"
	_lib_diag "$(cat "$TEST_DIR/b.m1.err" "$TEST_DIR/b.m2.err")"
fi
out=$(ctl_as 1 1001 key get master sae-a slave sae-b size 64 2>&1)
rc=$?
if [ $rc -eq 1 ] && [ "$out" = "Error: not enough key in the pool" ]; then
	ok faults_empty_pool_enospc
else
	fail faults_empty_pool_enospc "rc $rc: $out"
fi
if wait_for 3 grep -q "^pool-empty link 1" "$TEST_DIR/mon1"; then
	ok faults_empty_pool_event
else
	fail faults_empty_pool_event "$(tail -n 3 "$TEST_DIR/mon1")"
fi
wait_for 10 reserved_are "$(wc -l <"$TEST_DIR/b.m2")" "$(wc -l <"$TEST_DIR/b.m1")"
genl 2 1002 get-by-id sae-a sae-b <"$TEST_DIR/b.m1" >"$TEST_DIR/b.s2" 2>&1
genl 1 1001 get-by-id sae-b sae-a <"$TEST_DIR/b.m2" >"$TEST_DIR/b.s1" 2>&1
kcheck faults_abort_drop_kme2_same_bytes pairs "$TEST_DIR/b.m1" "$TEST_DIR/b.s2"
kcheck faults_abort_drop_kme1_same_bytes pairs "$TEST_DIR/b.m2" "$TEST_DIR/b.s1"
kcheck faults_abort_drop_kme1_keys_tile_stream tile $SEED 2:48:2,52,54 \
	"$TEST_DIR/a.m1.all" "$TEST_DIR/b.m1" --whole
kcheck faults_abort_drop_kme2_keys_tile_stream tile $SEED 1:47:2,53,55 \
	"$TEST_DIR/a.m2" "$TEST_DIR/b.m2" --whole

# ---- 4. nodes deleted while requests are in flight ---------------------

qkdsim_set 1 burst 4				# blocks 56..59
wait_for 10 pool_own 1 $((2 * BS)) && wait_for 10 pools_agree ||
	echo "# blocks 56..59 not usable: $(pool_json 1)"
kill -KILL "${LINKD_PID[1]}"
wait "${LINKD_PID[1]}" 2>/dev/null
# This reservation stays at kme-1, which is about to go away.
genl 1 1001 get sae-a sae-b 1 >"$TEST_DIR/e.probe" </dev/null
: >"$TEST_DIR/run"
genl 1 1001 get sae-a sae-b 0 --go "$TEST_DIR/run" --sleep 0.05 \
	>/dev/null 2>&1 </dev/null &
# Slave requests in a row, 2 s each, so that some are waiting when the
# master's node goes: for the key whose reservation will never come, and
# for IDs nobody reserved.
for i in 1 2 3 4; do cat "$TEST_DIR/e.probe"; done |
	genl 2 1002 get-by-id sae-a sae-b --batch 1 >"$TEST_DIR/e.s2" 2>&1 &
pe1=$!
random_ids 3 | genl 2 1002 get-by-id sae-a sae-b --batch 1 >"$TEST_DIR/e.loop" 2>&1 &
pe2=$!
sleep 2
kill_ns 1
wait $mon1 2>/dev/null
ip netns del qkdn1
t0=$(_lib_now_ms)
wait $pe1
rc1=$?
t1=$(_lib_now_ms)
wait $pe2
rc2=$?
t2=$(_lib_now_ms)
echo "# the slave's requests returned $((t1 - t0)) and $((t2 - t0)) ms after the deletion"
if [ $rc1 -eq 1 ] && [ "$(grep -c "ENOENT: key ID unknown" "$TEST_DIR/e.s2")" = 4 ] &&
   [ $rc2 -eq 1 ] && [ "$(grep -c "ENOENT: key ID unknown" "$TEST_DIR/e.loop")" = 3 ] &&
   [ $((t2 - t0)) -lt 20000 ]; then
	ok faults_master_node_deleted_slave_requests_return
else
	fail faults_master_node_deleted_slave_requests_return "rc $rc1 $rc2"
	_lib_diag "$(cat "$TEST_DIR/e.s2" "$TEST_DIR/e.loop")"
fi
if wait_for 10 eval "[ ! -e $QKDSIM_DEBUGFS/qkdsim1 ]"; then
	ok faults_master_node_deleted_qkdsim_pair_gone
else
	fail faults_master_node_deleted_qkdsim_pair_gone
fi
if l=$(link_json 2) && jq -e '.running == false' <<<"$l" >/dev/null &&
   qkdnctl -n qkdn2 pool show id 1 >/dev/null; then
	ok faults_master_node_deleted_peer_link_survives
else
	fail faults_master_node_deleted_peer_link_survives "$l"
fi
# kme-1 comes back: a new node with the same ID, a new QKD module pair
# (pair 1 again, so kme-2's link attaches its new end by itself), and
# nothing done on kme-2.  Both ends must agree again, or at least not hand
# out keys the other end cannot supply.
recreate_node1() {
	ip netns add qkdn1 &&
	ip -n qkdn1 link set lo up &&
	ip link add to-n2 netns qkdn1 type veth peer name to-n1 netns qkdn2 &&
	ip -n qkdn1 addr add 10.77.1.1/24 dev to-n2 &&
	ip -n qkdn2 addr add 10.77.1.2/24 dev to-n1 &&
	ip -n qkdn1 link set to-n2 up && ip -n qkdn2 link set to-n1 up &&
	qkdnctl -n qkdn1 node set id kme-1 &&
	qkdsim_new 1 1 && qkdsim_new 1 2 &&
	qkdnctl -n qkdn1 link add id 1 peer kme-2 device qkdsim1 &&
	qkdnctl -n qkdn1 sae add id sae-a uid 1001 &&
	qkdnctl -n qkdn1 sae add id sae-b node kme-2 &&
	linkd_start 1 "$TEST_DIR/linkd-1.conf"
}

# blocks_of PARITY FIRST LAST: the block numbers of that parity, a list
blocks_of() {
	seq "$2" "$3" | awk -v p="$1" '$1 % 2 == p' | paste -sd, -
}

# keys_both_ways TAG: a key each way, fetched at the other end
keys_both_ways() {
	genl 1 1001 get sae-a sae-b 2 --sizes 512 >"$TEST_DIR/$1.m1" 2>&1 </dev/null
	genl 2 1002 get sae-b sae-a 2 --sizes 512 >"$TEST_DIR/$1.m2" 2>&1 </dev/null
	local p

	genl 2 1002 get-by-id sae-a sae-b <"$TEST_DIR/$1.m1" >"$TEST_DIR/$1.s2" 2>&1 &
	p=$!
	genl 1 1001 get-by-id sae-b sae-a <"$TEST_DIR/$1.m2" >"$TEST_DIR/$1.s1" 2>&1
	wait $p
}

if recreate_node1 && wait_for 15 link_up 1 && wait_for 15 link_up 2; then
	ok faults_master_node_recreated_link_up
else
	fail faults_master_node_recreated_link_up
fi
qkdsim_set 1 seed $SEED
qkdsim_set 1 burst 8
if wait_for 10 eval 'pools_agree && pool_own 1 16384 && pool_own 2 16384'; then
	ok faults_master_node_recreated_pools_agree
else
	fail faults_master_node_recreated_pools_agree "kme-1 $(pool_json 1)"
	_lib_diag "kme-2 $(pool_json 2)"
	_lib_diag "kme-1 $(link_json 1 | jq -c .stats)"
	_lib_diag "kme-2 $(link_json 2 | jq -c .stats)"
fi
keys_both_ways r
kcheck faults_master_node_recreated_keys_agree pairs "$TEST_DIR/r.m1" "$TEST_DIR/r.s2"
kcheck faults_master_node_recreated_keys_agree_reverse pairs "$TEST_DIR/r.m2" "$TEST_DIR/r.s1"

# What an administrator can do: delete and add the link again at both
# ends (relink [PAUSE]: with PAUSE seconds between).
relink() {
	qkdnctl -n qkdn1 link del id 1 && qkdnctl -n qkdn2 link del id 1 &&
	sleep "${1:-0}" &&
	qkdnctl -n qkdn1 link add id 1 peer kme-2 device qkdsim1 &&
	qkdnctl -n qkdn2 link add id 1 peer kme-1 device qkdsim1
}
s0=$(cat "$QKDSIM_DEBUGFS/qkdsim1/seq")
# Replaced at once: deleted and added again by two requests back to back.
in_ns 1 python3 "$GENL" relink 1 kme-2 qkdsim1 &&
	in_ns 2 python3 "$GENL" relink 1 kme-1 qkdsim1 ||
	fail faults_link_replaced "link del/add failed"
if wait_for 5 link_up 1 && wait_for 5 link_up 2; then
	ok faults_link_replaced_at_once_comes_up
else
	fail faults_link_replaced_at_once_comes_up \
		"a link deleted and added again at once stays down (up: kme-1 $(link_json 1 | jq .up), kme-2 $(link_json 2 | jq .up))"
fi
# qkdn-linkd reads the links every second: give it time to see the link
# gone before adding it again.
relink 2.5 || fail faults_links_readded "link del/add failed"
wait_for 15 link_up 1 && wait_for 15 link_up 2 ||
	echo "# links re-added after a pause: still down"
qkdsim_set 1 burst 8
if wait_for 10 eval 'pools_agree && pool_own 1 16384 && pool_own 2 16384'; then
	ok faults_links_readded_pools_agree
else
	fail faults_links_readded_pools_agree "$(pool_json 1) $(pool_json 2)"
fi
keys_both_ways n
kcheck faults_links_readded_keys_agree pairs "$TEST_DIR/n.m1" "$TEST_DIR/n.s2"
kcheck faults_links_readded_keys_agree_reverse pairs "$TEST_DIR/n.m2" "$TEST_DIR/n.s1"
kcheck faults_links_readded_seeded_bytes tile $SEED "$(blocks_of 0 $((s0 + 1)) $((s0 + 8)))" \
	"$TEST_DIR/n.m1"

# Now the slave's node, while its requests wait in it.
random_ids 3 | genl 2 1002 get-by-id sae-a sae-b --batch 1 >"$TEST_DIR/e.loop2" 2>&1 &
pe3=$!
sleep 2
kill -KILL "${LINKD_PID[2]}"
wait "${LINKD_PID[2]}" 2>/dev/null
ip netns del qkdn2
t0=$(_lib_now_ms)
wait $pe3
t1=$(_lib_now_ms)
echo "# the requests in the deleted node returned $((t1 - t0)) ms after the deletion"
if [ $((t1 - t0)) -lt 20000 ] && [ "$(grep -c "ENOENT: key ID unknown" "$TEST_DIR/e.loop2")" = 3 ]; then
	ok faults_slave_node_deleted_requests_return
else
	fail faults_slave_node_deleted_requests_return "after $((t1 - t0)) ms"
	_lib_diag "$(cat "$TEST_DIR/e.loop2")"
fi

# Afterwards: new nodes, keys both ways, same bytes at both ends.
sleep 1
if start_nodes 8; then
	ok faults_fresh_nodes_after_deletion
else
	fail faults_fresh_nodes_after_deletion
	exit 1
fi
genl 1 1001 get sae-a sae-b 4 --sizes 1024 >"$TEST_DIR/f.m1" </dev/null
genl 2 1002 get sae-b sae-a 4 --sizes 1024 >"$TEST_DIR/f.m2" </dev/null
genl 2 1002 get-by-id sae-a sae-b <"$TEST_DIR/f.m1" >"$TEST_DIR/f.s2" 2>&1
genl 1 1001 get-by-id sae-b sae-a <"$TEST_DIR/f.m2" >"$TEST_DIR/f.s1" 2>&1
kcheck faults_fresh_nodes_agree pairs "$TEST_DIR/f.m1" "$TEST_DIR/f.s2"
kcheck faults_fresh_nodes_agree_reverse pairs "$TEST_DIR/f.m2" "$TEST_DIR/f.s1"
kcheck faults_fresh_nodes_seeded_bytes tile $SEED 2 "$TEST_DIR/f.m1"

# ---- 5. module unload with keys held ----------------------------------

genl 1 1001 get sae-a sae-b 2 >"$TEST_DIR/d.m1" </dev/null
wait_for 5 reserved_are 0 2
"$QKDNCTL" -n qkdn2 monitor >"$TEST_DIR/mon2" 2>&1 </dev/null &
monpid=$!
defer kill $monpid
own1=$(pool_of 1 own_bytes)
out=$(rmmod qkdn 2>&1)
rc=$?
if [ $rc -ne 0 ] && [ -d /sys/module/qkdn ]; then
	ok faults_rmmod_qkdn_refused_while_qkdsim_uses_it
else
	fail faults_rmmod_qkdn_refused_while_qkdsim_uses_it "rc $rc: $out"
	reload_modules
	exit 1
fi
out=$(rmmod qkdsim 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
	echo "# rmmod qkdsim while links use its devices: refused ($out)"
	[ -d /sys/module/qkdsim ] && ok faults_rmmod_qkdsim_in_use_refused_or_clean ||
		fail faults_rmmod_qkdsim_in_use_refused_or_clean "refused, yet gone"
else
	echo "# rmmod qkdsim while links use its devices: done"
	if jq -e '.running == false' <<<"$(link_json 1)" >/dev/null; then
		ok faults_rmmod_qkdsim_in_use_refused_or_clean
	else
		fail faults_rmmod_qkdsim_in_use_refused_or_clean "$(link_json 1)"
	fi
fi
head -n 1 "$TEST_DIR/d.m1" >"$TEST_DIR/d.m1.first"
genl 2 1002 get-by-id sae-a sae-b <"$TEST_DIR/d.m1.first" >"$TEST_DIR/d.s2" 2>&1
# Unloading the QKD module driver ends its block numbering: both ends drop
# the blocks they synchronised (a new link epoch) and agree again; keys
# already reserved stay fetchable.
pools_agree() {
	[ "$(pool_of 1 own_bytes)" = "$(pool_of 2 peer_bytes)" ] &&
	[ "$(pool_of 1 peer_bytes)" = "$(pool_of 2 own_bytes)" ]
}
if wait_for 10 pools_agree &&
   python3 "$KEYCHECK" pairs "$TEST_DIR/d.m1.first" "$TEST_DIR/d.s2" >/dev/null; then
	ok faults_rmmod_refused_state_intact
else
	fail faults_rmmod_refused_state_intact "$(pool_json 1)"
	_lib_diag "$(cat "$TEST_DIR/d.s2")"
fi
own1=$(pool_of 1 own_bytes)

# Detach the QKD modules; qkdsim can go. Then qkdn, with keys in both
# pools, a key reserved and not fetched, both daemons bound, a monitor
# listening and a "key request with ID" waiting for a reservation.
qkdnctl -n qkdn1 link set id 1 device none
qkdnctl -n qkdn2 link set id 1 device none
if [ -d /sys/module/qkdsim ]; then
	check faults_rmmod_qkdsim_after_detach rmmod qkdsim
fi
random_ids 3 | genl 2 1002 get-by-id sae-a sae-b --batch 1 >"$TEST_DIR/d.wait" 2>&1 &
pw=$!
sleep 2
t0=$(_lib_now_ms)
out=$(timeout 60 rmmod qkdn 2>&1)
rc=$?
t1=$(_lib_now_ms)
echo "# rmmod qkdn with keys held: status $rc after $((t1 - t0)) ms${out:+: $out}"
wait $pw
if [ $rc -eq 0 ] && [ ! -d /sys/module/qkdn ]; then
	ok faults_rmmod_qkdn_keys_held_refused_or_clean
elif [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ -d /sys/module/qkdn ] &&
     [ "$(pool_of 1 own_bytes)" = "$own1" ]; then
	ok faults_rmmod_qkdn_keys_held_refused_or_clean
else
	fail faults_rmmod_qkdn_keys_held_refused_or_clean "rc $rc: $out"
fi
for n in 1 2; do
	if alive "${LINKD_PID[n]}"; then
		echo "# qkdn-linkd of kme-$n still running; its last lines:"
	else
		echo "# qkdn-linkd of kme-$n exited; its last lines:"
	fi
	tail -n 3 "$TEST_DIR/linkd-$n.log" | sed 's/^/#   /'
done
if reload_modules && qkdnctl -n qkdn1 node show >/dev/null; then
	ok faults_modules_reload
else
	fail faults_modules_reload
fi
