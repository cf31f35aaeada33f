#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmarks, inside the VM (scripts/bench.sh boots it and runs this).
# Each figure is one line "BENCH NAME VALUE OP GOAL", a ratio against a
# reference measured in the same run where there is one; everything else
# is a "# " comment. See Documentation/benchmarks.md.
#
# The standard two-node set-up (selftests/lib.sh) with the link daemons
# running and the QKD modules stopped (no key arrives but what a step puts
# there), then, in this order:
#   1. store_mem_per_key_byte: fill both pools with a known amount through
#      qkdsim's burst, compare /proc/meminfo before and after;
#   2. ingest_vs_memcpy, ingest_mbit_s: qkdsim's bench knob, several runs;
#   3. key_request_vs_genl: selftests/bench/build/keyrate as sae-a's uid,
#      its pool filled by step 1.
#
# Environment (all optional): BENCH_FILL_MIB (64, per node),
# BENCH_INGEST_BLOCKS (4096 per end and run), BENCH_INGEST_RUNS (7),
# BENCH_KEY_ROUNDS (7), BENCH_KEY_SECS (2, per run).

cd "$(dirname "$0")/.." || exit 1
# shellcheck disable=SC2034 # read by selftests/lib.sh
TEST_NAME=bench
# shellcheck source=selftests/lib.sh
source selftests/lib.sh

FILL_MIB=${BENCH_FILL_MIB:-64}
INGEST_BLOCKS=${BENCH_INGEST_BLOCKS:-4096}
INGEST_RUNS=${BENCH_INGEST_RUNS:-7}
KEY_ROUNDS=${BENCH_KEY_ROUNDS:-7}
KEY_SECS=${BENCH_KEY_SECS:-2}
# No slave SAE fetches the keys: kme-2 keeps the newest 65536 reservations
# (QKDN_RESERVED_KEYS_MAX). Reach that state before measuring, so that
# every round sees the same.
KEY_WARMUP=65536

KEYRATE=$TOP/selftests/bench/build/keyrate
SIM=$QKDSIM_DEBUGFS/qkdsim1
BLOCK=4096			# qkdsim's default block size
failed=0

note() {
	echo "# $*"
}

bench() {
	echo "BENCH $1 $2 $3 $4"
}

# calc EXPR: floating point arithmetic with awk.
calc() {
	awk "BEGIN { printf \"%.4g\", $1 }"
}

# median: of the numbers on stdin, one a line.
median() {
	sort -g | awk '{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2];
		      else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# pool N FIELD: a member of node N's pool status of link 1.
pool() {
	qkdnctl -j -n "qkdn$1" pool show id 1 | jq -r ".[0].$2"
}

# stat N FIELD: a counter of link 1 on node N.
stat() {
	qkdnctl -j -n "qkdn$1" link show id 1 | jq -r ".[0].stats.$2"
}

# held N: bytes the store of node N holds for link 1.
held() {
	qkdnctl -j -n "qkdn$1" pool show id 1 |
		jq -r '.[0] | .own_bytes + .peer_bytes + .pending_bytes'
}

# kx_quiet: wait until node 1's Kx frame counters have not moved for a
# second (everything it sent is acknowledged), at most 60 s.
kx_quiet() {
	local last='' cur since=$SECONDS start=$SECONDS

	while [ $((SECONDS - start)) -lt 60 ]; do
		cur="$(stat 1 frames_tx) $(stat 1 frames_rx)"
		if [ "$cur" != "$last" ]; then
			last=$cur
			since=$SECONDS
		elif [ $((SECONDS - since)) -ge 1 ]; then
			return 0
		fi
		sleep 0.3
	done
	return 1
}

# shellcheck disable=SC2317 # called through wait_for
link_up() {
	qkdnctl -j -n "qkdn$1" link show id 1 | jq -e '.[0].up == true' >/dev/null
}

# pools_settled BYTES: both nodes hold BYTES, none of it pending.
# shellcheck disable=SC2317 # called through wait_for
pools_settled() {
	local n

	for n in 1 2; do
		[ "$(pool "$n" pending_bytes)" -eq 0 ] &&
			[ "$(held "$n")" -ge "$1" ] || return 1
	done
}

# meminfo FIELD: its value in kB.
meminfo() {
	awk -v f="$1:" '$1 == f { print $2 }' /proc/meminfo
}

MEM_FIELDS="MemFree AnonPages Cached Buffers Slab SUnreclaim KernelStack PageTables VmallocUsed Percpu"

# mem_snapshot: the MEM_FIELDS in kB once the system is quiet: caches
# dropped, then the median of 5 readings 0.2 s apart.
mem_snapshot() {
	local i f out=

	sync
	echo 3 >/proc/sys/vm/drop_caches
	sleep 2
	for i in 1 2 3 4 5; do
		for f in $MEM_FIELDS; do
			printf '%s ' "$(meminfo "$f")"
		done
		echo
		sleep 0.2
	done >"$TEST_DIR/mem"
	for i in $(seq 1 "$(wc -w <<<"$MEM_FIELDS")"); do
		out="$out $(cut -d' ' -f"$i" "$TEST_DIR/mem" | median)"
	done
	echo "${out# }"
}

# --- set-up -------------------------------------------------------------

modprobe veth 2>/dev/null
lsmod | grep -q '^qkdn ' || { modprobe gf128mul && insmod kernel/qkdn.ko; } || exit 1
lsmod | grep -q '^qkdsim ' || insmod kernel/qkdsim.ko || exit 1
defer rmmod qkdsim qkdn
[ -x "$KEYRATE" ] || {
	echo "# $KEYRATE missing: run make -C selftests/bench"
	exit 1
}

note "VM: $(nproc) CPUs, $(($(meminfo MemTotal) / 1024)) MiB, kernel $(uname -r)," \
	"clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
qkdn_two_nodes --stopped || {
	echo "# two-node set-up failed"
	exit 1
}
if ! wait_for 20 link_up 1 || ! wait_for 20 link_up 2; then
	echo "# the Kx channel did not come up"
	exit 1
fi
[ "$(cat "$SIM/block_size")" -eq $BLOCK ] || {
	echo "# qkdsim block size is not $BLOCK"
	exit 1
}

# --- 1. store memory per key byte ---------------------------------------

fill=$((FILL_MIB << 20))
fill_blocks=$((fill / BLOCK))
for n in 1 2; do
	qkdnctl -n "qkdn$n" link set id 1 capacity $((FILL_MIB + 32))M || exit 1
done
read -r -a mem0 <<<"$(mem_snapshot)"
held0=$(($(held 1) + $(held 2)))
t0=$EPOCHREALTIME
qkdsim_set 1 burst "$fill_blocks" || failed=1
if [ $failed -eq 0 ] && wait_for 120 pools_settled "$fill"; then
	t1=$EPOCHREALTIME
	read -r -a mem1 <<<"$(mem_snapshot)"
	held1=$(($(held 1) + $(held 2)))
	bytes=$((held1 - held0))
	drops=$(($(stat 1 blocks_dropped) + $(stat 2 blocks_dropped)))
	note "store: $FILL_MIB MiB a node in $(calc "$t1 - $t0") s;" \
		"held $bytes bytes, $drops blocks dropped"
	i=0
	d=
	for f in $MEM_FIELDS; do
		d="$d $f $((mem1[i] - mem0[i]))"
		i=$((i + 1))
	done
	note "store: /proc/meminfo deltas (kB):$d"
	# Two estimates of the kernel memory the store took, in kB: the
	# pages that left the free lists but not for user space or the page
	# cache (per-CPU page lists blur it by a few MiB), and the growth
	# of the slab caches, which hold every allocation of the store. The
	# figure is the larger one.
	free=$(((mem0[0] - mem1[0]) - (mem1[1] - mem0[1]) - (mem1[2] - mem0[2]) -
		(mem1[3] - mem0[3])))
	slab=$((mem1[4] - mem0[4]))
	kern=$((free > slab ? free : slab))
	note "store: per key byte held: free pages" \
		"$(calc "$free * 1024 / $bytes"), slab $(calc "$slab * 1024 / $bytes")"
	bench store_mem_per_key_byte "$(calc "$kern * 1024 / $bytes")" "<=" 1.25
else
	note "store: the pools did not fill: $(held 1) and $(held 2) bytes held"
	failed=1
fi

# --- 2. ingestion ------------------------------------------------------

for n in 1 2; do
	qkdnctl -n "qkdn$n" link set id 1 capacity 1G || exit 1
done
in0=$(($(stat 1 blocks_in) + $(stat 2 blocks_in)))
ftx0=$(($(stat 1 frames_tx) + $(stat 2 frames_tx)))
drop0=$(($(stat 1 blocks_dropped) + $(stat 2 blocks_dropped)))
: >"$TEST_DIR/ingest"
for ((i = 1; i <= INGEST_RUNS; i++)); do
	if ! echo "$INGEST_BLOCKS" >"$SIM/bench"; then
		note "ingest: run $i failed"
		failed=1
		break
	fi
	# blocks block_size memcpy_ns ingest_ns produce_ns waits
	r=$(awk '{ v[$1] = $2 } END { print v["blocks"], v["block_size"],
		v["memcpy_ns"], v["ingest_ns"], v["produce_ns"], v["waits"] }' \
		"$SIM/bench")
	read -r nb bs mc ing prod waits <<<"$r"
	# both ends: 2 * nb blocks copied and ingested
	ratio=$(calc "$mc / $ing")
	mbit=$(calc "$nb * $bs * 8 * 1000 / $ing")
	note "ingest run $i: $nb blocks of $bs bytes into each end:" \
		"memcpy $(calc "$mc / 1e6") ms, ingest $(calc "$ing / 1e6") ms" \
		"(producer done at $(calc "$prod / 1e6") ms, ring full $waits times);" \
		"$mbit Mb/s an end, $(calc "2 * $nb * $bs * 8 * 1000 / $mc") Mb/s memcpy"
	echo "$ratio $mbit" >>"$TEST_DIR/ingest"
done
in1=$(($(stat 1 blocks_in) + $(stat 2 blocks_in)))
drop1=$(($(stat 1 blocks_dropped) + $(stat 2 blocks_dropped)))
ftx1=$(($(stat 1 frames_tx) + $(stat 2 frames_tx)))
note "ingest: the stores took in $((in1 - in0)) blocks, dropped" \
	"$((drop1 - drop0)); $(calc "($in1 - $in0) / ($ftx1 - $ftx0)") blocks" \
	"per Kx frame sent (announcements, acknowledgments)"
if [ $((drop1 - drop0)) -ne 0 ]; then
	note "ingest: blocks were dropped: the figures are not valid"
	failed=1
fi
if [ -s "$TEST_DIR/ingest" ]; then
	bench ingest_vs_memcpy "$(cut -d' ' -f1 "$TEST_DIR/ingest" | median)" ">=" 0
	bench ingest_mbit_s "$(cut -d' ' -f2 "$TEST_DIR/ingest" | median)" ">=" 1100
fi

# --- 3. key requests ----------------------------------------------------

note "keys: sae-a (uid 1001) on kme-1, own key $(pool 1 own_bytes) bytes;" \
	"$KEY_WARMUP keys of warm-up, then $KEY_ROUNDS rounds of" \
	"${KEY_SECS} s GETFAMILY + ${KEY_SECS} s KEY_GET"
tx0=$(stat 1 frames_tx)
retx0=$(stat 1 frames_retx)
res0=$(stat 1 keys_reserved)
if in_ns 1 setpriv --reuid=1001 --regid=1001 --clear-groups \
	"$KEYRATE" -m sae-a -s sae-b -l 1 -r "$KEY_ROUNDS" -t "$KEY_SECS" \
	-w "$KEY_WARMUP" >"$TEST_DIR/keyrate"; then
	grep '^#' "$TEST_DIR/keyrate"
	kv() { awk -v k="$1" '$1 == k { print $2 }' "$TEST_DIR/keyrate"; }
	res=$(($(stat 1 keys_reserved) - res0))
	note "keys: medians: GETFAMILY $(kv genl)/s, KEY_GET $(kv key)/s;" \
		"before the first EBUSY $(kv open)/s (ratio $(kv open_ratio));" \
		"EBUSY $(kv busy) times"
	note "keys: kme-2 holds $(pool 2 reserved_keys) reservations"
	note "keys: $res keys; kme-1 sent $(($(stat 1 frames_tx) - tx0)) Kx frames" \
		"($(($(stat 1 frames_retx) - retx0)) retransmissions of its queue)"
	bench key_request_vs_genl "$(kv ratio)" ">=" 0.7
else
	note "keys: keyrate failed"
	failed=1
fi

# Where the time goes: the request path alone. kme-1's link daemon is
# stopped (SIGSTOP) during a short run: each request still queues its
# reservation and hands it to the daemon's socket, but no daemon, TLS or
# peer KM runs meanwhile. Fewer than 4096 requests, so no EBUSY.
: >"$TEST_DIR/alone"
for ((i = 1; i <= 3; i++)); do
	kx_quiet || note "keys: Kx not quiet"
	kill -STOP "${LINKD_PID[1]}" || break
	in_ns 1 setpriv --reuid=1001 --regid=1001 --clear-groups \
		"$KEYRATE" -m sae-a -s sae-b -l 1 -r 1 -t 1 -n 2000 \
		>"$TEST_DIR/keyrate" || failed=1
	kill -CONT "${LINKD_PID[1]}"
	awk '$1 == "genl" { g = $2 } $1 == "key" { k = $2 }
		END { print g, k, k / g }' "$TEST_DIR/keyrate" >>"$TEST_DIR/alone"
done
if [ -s "$TEST_DIR/alone" ]; then
	note "keys with kme-1's link daemon stopped: GETFAMILY" \
		"$(cut -d' ' -f1 "$TEST_DIR/alone" | median)/s, KEY_GET" \
		"$(cut -d' ' -f2 "$TEST_DIR/alone" | median)/s, ratio" \
		"$(cut -d' ' -f3 "$TEST_DIR/alone" | median) (medians of 3)"
fi

exit $failed
