#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qkdnctl against the real module, as Documentation/qkdnctl.md describes
# it: every -j output is JSON with the documented members, for every
# object (and empty arrays on a node with nothing); kernel errors exit 1
# with "Error: <extended ACK text>" on stderr; usage errors exit 2 with the
# usage on stderr and send nothing; unique prefixes work, ambiguous ones do
# not; "help" prints the usage on stdout. A multicast "key get" (two
# slave SAEs in node 2) gives both of them the master's keys, once.
# Proactive key supply (Q.4160 I.2) end to end: "session listen" as the
# slave SAE in node 2, "session new" and "key get ... session" as the
# master SAE in node 1, with helpers/ctrl_static.py --peer as the
# controller of both nodes.
#
# timeout: 600

source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/nodes.sh"

require jq python3 setpriv

SEED=0xc11

# ctl NAME ARGS...: run qkdnctl, keep stdout, stderr and the status in
# $TEST_DIR/NAME.{out,err,rc}
ctl() {
	local name=$1

	shift
	"$QKDNCTL" "$@" >"$TEST_DIR/$name.out" 2>"$TEST_DIR/$name.err"
	echo $? >"$TEST_DIR/$name.rc"
}

# ctl_uid NAME N UID ARGS...: the same, in node N as uid UID
ctl_uid() {
	local name=$1 n=$2 uid=$3

	shift 3
	ctl_as "$n" "$uid" "$@" >"$TEST_DIR/$name.out" 2>"$TEST_DIR/$name.err"
	echo $? >"$TEST_DIR/$name.rc"
}

# json NAME ARGS...: qkdnctl -j ARGS, checked later by check_json
json_cases=()
json() {
	local name=$1

	shift
	ctl "$name" -j "$@"
	json_cases+=("$name")
}

# expect_error NAME RC MESSAGE ARGS...: qkdnctl ARGS exits RC, prints
# nothing on stdout and "Error: MESSAGE" (a fixed string) first on stderr;
# with RC 2 the usage follows.
expect_error() {
	local name=$1 rc=$2 msg=$3 got first

	shift 3
	ctl "$name" "$@"
	expect_error_in "$name" "$rc" "$msg"
}

expect_error_in() {
	local name=$1 rc=$2 msg=$3 got first

	got=$(cat "$TEST_DIR/$name.rc")
	first=$(head -n 1 "$TEST_DIR/$name.err")
	if [ "$got" = "$rc" ] && [ "$first" = "Error: $msg" ] &&
	   [ ! -s "$TEST_DIR/$name.out" ] &&
	   { [ "$rc" != 2 ] || grep -q "^Usage: qkdnctl" "$TEST_DIR/$name.err"; }; then
		ok "$name"
	else
		fail "$name" "exit $got (want $rc), stderr: $first (want: Error: $msg)"
		_lib_diag "$(head -c 400 "$TEST_DIR/$name.out")"
	fi
}

# same_output NAME ARGS1... -- ARGS2...: both command lines succeed and
# print the same thing
same_output() {
	local name=$1 a=() b=()

	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		a+=("$1")
		shift
	done
	shift
	b=("$@")
	ctl "$name.a" "${a[@]}"
	ctl "$name.b" "${b[@]}"
	if [ "$(cat "$TEST_DIR/$name.a.rc")$(cat "$TEST_DIR/$name.b.rc")" = 00 ] &&
	   [ -s "$TEST_DIR/$name.a.out" ] &&
	   cmp -s "$TEST_DIR/$name.a.out" "$TEST_DIR/$name.b.out"; then
		ok "$name"
	else
		fail "$name" "'${a[*]}' and '${b[*]}' differ"
		_lib_diag "$(head -n 3 "$TEST_DIR/$name.a.out" "$TEST_DIR/$name.a.err" \
			"$TEST_DIR/$name.b.out" "$TEST_DIR/$name.b.err")"
	fi
}

qkdn_two_nodes --stopped || { fail cli_setup "two-node set-up failed"; exit 1; }
wait_for 15 link_up 1 && wait_for 15 link_up 2 || {
	fail cli_setup "Kx channel did not come up"
	exit 1
}
qkdsim_set 1 seed $SEED
qkdsim_set 1 burst 8
wait_for 20 eval 'pools_agree && pool_own 1 16384' || {
	fail cli_setup "pools not filled"
	exit 1
}
# A node with nothing configured, for the empty cases.
ip netns add qkdn3 && defer ip netns del qkdn3

"$QKDNCTL" -j -n qkdn1 monitor >"$TEST_DIR/monitor.out" 2>"$TEST_DIR/monitor.err" </dev/null &
monpid=$!
defer kill $monpid
"$QKDNCTL" -p -n qkdn2 monitor >"$TEST_DIR/monitor_p.out" 2>"$TEST_DIR/monitor_p.err" </dev/null &
defer kill $!
sleep 0.5

# ---- JSON of every object -------------------------------------------

json node -n qkdn1 node show
json node_pretty -p -n qkdn1 node show
json node_empty -n qkdn3 node show
json links -n qkdn1 link show
json link_by_id -n qkdn1 link show id 1
json links_pretty -p -n qkdn2 link
json links_empty -n qkdn3 link show
json saes -n qkdn1 sae show
json sae_by_id -n qkdn1 sae show id sae-b
json saes_empty -n qkdn3 sae show
json pools -n qkdn1 pool show
json pool_by_id -n qkdn1 pool show id 1
json pool_by_slave -n qkdn1 pool show slave sae-b
json pool_by_pair -n qkdn1 pool show slave sae-b master sae-a
json pools_empty -n qkdn3 pool show
ctl_uid keys_ids 1 1001 -j key get master sae-a slave sae-b number 2
json_cases+=(keys_ids)
ctl_uid keys_hex 1 1001 -j key get master sae-a slave sae-b number 3 size 64 format hex
json_cases+=(keys_hex)
ctl_uid keys_base64 1 1001 -p key get master sae-a slave sae-b size 256 format base64
json_cases+=(keys_base64)
ids=$(jq -r '.keys[] | "id \(.key_ID)"' "$TEST_DIR/keys_hex.out")
ctl_uid keys_by_id_hex 2 1002 -j key get-by-id master sae-a slave sae-b $ids format hex
json_cases+=(keys_by_id_hex)
ids=$(jq -r '.keys[] | "id \(.key_ID)"' "$TEST_DIR/keys_ids.out")
ctl_uid keys_by_id 2 1002 -j key get-by-id master sae-a slave sae-b $ids
json_cases+=(keys_by_id)
ids=$(jq -r '.keys[] | "id \(.key_ID)"' "$TEST_DIR/keys_base64.out")
ctl_uid keys_by_id_base64 2 1002 -j key get-by-id master sae-a slave sae-b $ids format base64
json_cases+=(keys_by_id_base64)

# Events for the monitors: a link change, SAEs, keys, an empty pool.
qkdnctl -n qkdn1 link set id 1 low 4k
qkdnctl -n qkdn1 sae add id sae-x node kme-2
qkdnctl -n qkdn1 sae del id sae-x
ctl_as 1 1001 key get master sae-a slave sae-b number 2 >/dev/null
ctl_as 1 1001 key get master sae-a slave sae-b number 128 size 8192 >/dev/null 2>&1
sleep 1
kill $monpid

# Every file parses; members as documented.
python3 - "$TEST_DIR" "$TOP/Documentation/qkdnctl.md" "${json_cases[@]}" \
	<<'EOF' >"$TEST_DIR/json.check"
import base64, json, re, sys

d = sys.argv[1]
# The counters Documentation/qkdnctl.md lists ("STATS: ..." up to the end
# of its block).
doc = open(sys.argv[2]).read()
STATS = set(re.findall(r'"(\w+)"', re.search(r"^STATS:(.*?)^```", doc, re.M | re.S).group(1)))
LINK = {"link_id", "peer_node_id", "device", "up", "running", "rate",
        "capacity", "low", "stats"}
POOL = {"link_id", "source_KME_ID", "target_KME_ID", "key_size",
        "stored_key_count", "max_key_count", "max_key_per_request",
        "max_key_size", "min_key_size", "reserved_keys", "own_bytes",
        "peer_bytes", "pending_bytes", "capacity"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def stats(s):
    assert STATS <= set(s), "stats members missing: %s" % sorted(STATS - set(s))
    assert all(type(v) is int and v >= 0 for v in s.values()), "stats values"


def node(v, nid="kme-1"):
    assert type(v) is dict, "not an object"
    if nid:
        assert v.get("node_id") == nid, "node_id %r" % v.get("node_id")
    else:
        assert "node_id" not in v, "node_id on a blank node"
    stats(v["stats"])


def links(v, n=1):
    assert type(v) is list and len(v) == n, "want an array of %d" % n
    for l in v:
        assert set(l) == LINK, "link members %s" % sorted(l)
        assert type(l["up"]) is bool and type(l["running"]) is bool
        assert l["link_id"] == 1 and l["device"] == "qkdsim1"
        stats(l["stats"])


def saes(v, n=2):
    assert type(v) is list and len(v) == n, "want an array of %d" % n
    want = [{"sae_id": "sae-a", "uid": 1001}, {"sae_id": "sae-b", "node_id": "kme-2"}]
    for s in v:
        assert s in want, "unexpected SAE %s" % s


def pools(v, extra=()):
    assert type(v) is list and len(v) == 1, "want an array of 1"
    p = v[0]
    want = POOL | set(extra)
    assert set(p) == want, "pool members: missing %s, unexpected %s" % (
        sorted(want - set(p)), sorted(set(p) - want))
    assert p["source_KME_ID"] == "kme-1" and p["target_KME_ID"] == "kme-2"
    if extra:
        assert p["master_SAE_ID"] == "sae-a" and p["slave_SAE_ID"] == "sae-b"


def keys(v, n, fmt=None, nbytes=None):
    assert type(v) is dict and set(v) == {"keys"}, "want {\"keys\": [...]}"
    assert len(v["keys"]) == n, "want %d keys" % n
    for k in v["keys"]:
        assert UUID.match(k["key_ID"]), "key_ID %r" % k["key_ID"]
        if fmt is None:
            assert set(k) == {"key_ID"}, "key bytes without format"
        elif fmt == "hex":
            assert re.fullmatch("[0-9a-f]{%d}" % (2 * nbytes), k["key"]), "hex"
        else:
            assert len(base64.b64decode(k["key"], validate=True)) == nbytes


def same(a, b):
    ka = {k["key_ID"]: k.get("key") for k in json.load(open(d + "/" + a + ".out"))["keys"]}
    kb = {k["key_ID"]: k.get("key") for k in json.load(open(d + "/" + b + ".out"))["keys"]}
    assert ka == kb, "the two ends differ"


CHECK = {
    "node": node, "node_pretty": node, "node_empty": lambda v: node(v, None),
    "links": links, "link_by_id": links, "links_pretty": links,
    "links_empty": lambda v: links(v, 0),
    "saes": saes, "sae_by_id": lambda v: saes(v, 1),
    "saes_empty": lambda v: saes(v, 0),
    "pools": pools, "pool_by_id": pools, "pool_by_slave": pools,
    "pool_by_pair": pools,
    "pools_empty": lambda v: v == [] or (_ for _ in ()).throw(AssertionError("not []")),
    "keys_ids": lambda v: keys(v, 2),
    "keys_hex": lambda v: keys(v, 3, "hex", 8),
    "keys_base64": lambda v: keys(v, 1, "base64", 32),
    "keys_by_id": lambda v: (keys(v, 2), same("keys_ids", "keys_by_id")),
    "keys_by_id_hex": lambda v: (keys(v, 3, "hex", 8), same("keys_hex", "keys_by_id_hex")),
    "keys_by_id_base64": lambda v: (keys(v, 1, "base64", 32),
                                    same("keys_base64", "keys_by_id_base64")),
}

for name in sys.argv[3:]:
    try:
        rc = open(d + "/" + name + ".rc").read().strip()
        text = open(d + "/" + name + ".out").read()
        assert rc == "0", "exit status %s: %s" % (rc, open(d + "/" + name + ".err").read().strip())
        v = json.loads(text)
        if name.endswith("pretty") or name == "keys_base64":
            assert "\n  " in text, "-p output is not indented"
        CHECK[name](v)
        print("PASS", name)
    except Exception as e:
        print("FAIL", name, "%s: %s" % (type(e).__name__, e))

# The counters are the documented ones, no more.
try:
    s = json.load(open(d + "/node.out"))["stats"]
    assert set(s) == STATS, "undocumented %s, missing %s" % (
        sorted(set(s) - STATS), sorted(STATS - set(s)))
    print("PASS", "stats_as_documented")
except Exception as e:
    print("FAIL", "stats_as_documented", "%s: %s" % (type(e).__name__, e))

# The monitors: one JSON object per line, compact even with -p.
for mon, node_events in (("monitor", True), ("monitor_p", False)):
    try:
        lines = open(d + "/" + mon + ".out").read().splitlines()
        assert lines, "no events"
        evs = [json.loads(l) for l in lines]
        assert all(type(e) is dict and "event" in e for e in evs), "no \"event\""
        names = [e["event"] for e in evs]
        if node_events:
            for want in ("keys-reserved", "pool-empty"):
                assert want in names, "no %s event in %s" % (want, names)
            r = [e for e in evs if e["event"] == "keys-reserved"][-1]
            assert r["key_count"] == 2 and len(r["key_IDs"]) == 2, "keys-reserved: %s" % r
            assert all(UUID.match(i) for i in r["key_IDs"]), "key_IDs"
            assert r["master_SAE_ID"] == "sae-a" and r["slave_SAE_ID"] == "sae-b"
            assert not any("key" in e for e in evs), "key bytes in an event"
        else:
            assert "keys-received" in names, "no keys-received event in %s" % names
        print("PASS", mon)
    except Exception as e:
        print("FAIL", mon, "%s: %s" % (type(e).__name__, e))
EOF
while read -r verdict name msg; do
	if [ "$verdict" = PASS ]; then
		ok "cli_json_$name"
	else
		fail "cli_json_$name" "$msg"
		[ -e "$TEST_DIR/$name.out" ] && _lib_diag "$(head -c 300 "$TEST_DIR/$name.out")"
	fi
done <"$TEST_DIR/json.check"

# ---- kernel errors: exit 1, the extended ACK on stderr -------------------

expect_error cli_kernel_error_no_such_link 1 "no such link" -n qkdn1 link show id 9
expect_error cli_kernel_error_json_no_such_link 1 "no such link" -j -n qkdn1 link show id 9
expect_error cli_kernel_error_sae_in_use 1 "SAE ID in use" -n qkdn1 sae add id sae-a uid 1001
expect_error cli_kernel_error_peer_is_this_node 1 "peer is this node" \
	-n qkdn1 link add id 2 peer kme-1
expect_error cli_kernel_error_bad_id 1 "ID must be 1 to 63 of A-Z a-z 0-9 . _ - : @" \
	-n qkdn3 node set id "bad id"
expect_error cli_kernel_error_node_id_first 1 "set the node ID first" \
	-n qkdn3 link add id 1 peer kme-1
ctl_uid cli_kernel_error_not_the_master 1 1002 key get master sae-a slave sae-b
expect_error_in cli_kernel_error_not_the_master 1 "caller may not act as the master SAE"
ctl cli_kernel_error_root_not_an_sae -n qkdn1 key get master sae-a slave sae-b
expect_error_in cli_kernel_error_root_not_an_sae 1 "caller may not act as the master SAE"
ctl_uid cli_kernel_error_no_privilege 1 1001 link del id 1
expect_error_in cli_kernel_error_no_privilege 1 "Operation not permitted"
ctl_uid cli_kernel_error_unknown_key 2 1002 key get-by-id master sae-a slave sae-b \
	id "$(cat /proc/sys/kernel/random/uuid)"
expect_error_in cli_kernel_error_unknown_key 1 "key ID unknown or already supplied"
ctl_uid cli_kernel_error_pool_short 1 1001 key get master sae-a slave sae-b number 128 size 8192
expect_error_in cli_kernel_error_pool_short 1 "not enough key in the pool"
expect_error cli_error_no_such_netns 1 'cannot enter netns "nosuchns": No such file or directory' \
	-n nosuchns node show
ctl cli_kernel_error_capacity_range -n qkdn1 link set id 1 capacity 100
if [ "$(cat "$TEST_DIR/cli_kernel_error_capacity_range.rc")" = 1 ] &&
   grep -q "^Error: ." "$TEST_DIR/cli_kernel_error_capacity_range.err"; then
	ok cli_kernel_error_capacity_range
else
	fail cli_kernel_error_capacity_range "$(cat "$TEST_DIR/cli_kernel_error_capacity_range".{rc,err})"
fi

# ---- usage errors: exit 2, usage on stderr, nothing sent ---------------

ctl cli_usage_nothing
if [ "$(cat "$TEST_DIR/cli_usage_nothing.rc")" = 2 ] &&
   grep -q "^Usage: qkdnctl" "$TEST_DIR/cli_usage_nothing.err" &&
   [ ! -s "$TEST_DIR/cli_usage_nothing.out" ]; then
	ok cli_usage_nothing
else
	fail cli_usage_nothing "exit $(cat "$TEST_DIR/cli_usage_nothing.rc")"
fi
expect_error cli_usage_unknown_object 2 'unknown object "bogus"' bogus
expect_error cli_usage_unknown_command 2 'unknown command "bogus"' link bogus
expect_error cli_usage_ambiguous_command 2 'ambiguous command "s"' -n qkdn1 link s id 1
expect_error cli_usage_ambiguous_get 2 'ambiguous command "g"' -n qkdn1 key g master sae-a slave sae-b
expect_error cli_usage_ambiguous_keyword 2 'ambiguous keyword "s"' \
	-n qkdn1 key get master sae-a s sae-b
expect_error cli_usage_unknown_keyword 2 'unknown keyword "colour"' -n qkdn1 link show colour red
expect_error cli_usage_missing_value 2 '"id" needs a value' -n qkdn1 link show id
expect_error cli_usage_link_id_range 2 'link id "0" out of range (1..65535)' -n qkdn1 link show id 0
expect_error cli_usage_key_size_multiple 2 "size 65 is not a multiple of 8 bits" \
	-n qkdn1 key get master sae-a slave sae-b size 65
expect_error cli_usage_key_number_range 2 'number "129" out of range (1..128)' \
	-n qkdn1 key get master sae-a slave sae-b number 129
expect_error cli_usage_key_format 2 'format is hex or base64, not "xml"' \
	-n qkdn1 key get master sae-a slave sae-b format xml
expect_error cli_usage_bad_uuid 2 'invalid key id "not-a-uuid" (a UUID, 8-4-4-4-12 hex digits)' \
	-n qkdn1 key get-by-id master sae-a slave sae-b id not-a-uuid
expect_error cli_usage_key_needs_command 2 "a command is required" -n qkdn1 key
expect_error cli_usage_monitor_arguments 2 "monitor takes no arguments" -n qkdn1 monitor now
expect_error cli_usage_unknown_option 2 "unknown option -x" -x node show
expect_error cli_usage_netns_needs_value 2 "option -n needs a NETNS" -n
expect_error cli_usage_nothing_to_set 2 "nothing to set" -n qkdn1 link set id 1
expect_error cli_usage_control_character 2 "node id contains a control character" \
	-n qkdn3 node set id $'a\tb'
# Nothing reaches the kernel: neither the link nor the SAE appears.
expect_error cli_usage_low_above_capacity 2 "low mark 2M exceeds capacity 1M" \
	-n qkdn1 link add id 7 peer kme-7 capacity 1M low 2M
expect_error cli_usage_given_twice 2 '"uid" given twice' -n qkdn1 sae add id sae-y uid 1005 uid 1006
if qkdnctl -n qkdn1 link show id 7 >/dev/null 2>&1 ||
   qkdnctl -n qkdn1 sae show id sae-y >/dev/null 2>&1; then
	fail cli_usage_error_sends_nothing "link 7 or SAE sae-y exists"
else
	ok cli_usage_error_sends_nothing
fi

# ---- abbreviations ---------------------------------------------------

same_output cli_abbrev_link_show -n qkdn1 l sh i 1 -- -n qkdn1 link show id 1
same_output cli_abbrev_default_show -n qkdn1 link -- -n qkdn1 link show
same_output cli_abbrev_node -n qkdn1 n -- -n qkdn1 node show
same_output cli_abbrev_sae -n qkdn1 sa sh id sae-a -- -n qkdn1 sae show id sae-a
same_output cli_abbrev_pool_json -j -n qkdn1 p s sl sae-b -- -j -n qkdn1 pool show slave sae-b
same_output cli_abbrev_long_options --json --netns qkdn1 sae -- -j -n qkdn1 sae show
same_output cli_abbrev_help h -- help
# "get" is exact, so not "get-by-id"; keywords and format values abbreviate.
ctl_uid cli_abbrev_key_get 1 1001 -j k get ma sae-a sl sae-b n 2 si 64 f h
if [ "$(cat "$TEST_DIR/cli_abbrev_key_get.rc")" = 0 ] &&
   jq -e '.keys | length == 2 and all(.key | test("^[0-9a-f]{16}$"))' \
	"$TEST_DIR/cli_abbrev_key_get.out" >/dev/null; then
	ok cli_abbrev_key_get
else
	fail cli_abbrev_key_get "$(cat "$TEST_DIR/cli_abbrev_key_get".{rc,err,out})"
fi
ids=$(jq -r '.keys[] | "i \(.key_ID)"' "$TEST_DIR/cli_abbrev_key_get.out")
ctl_uid cli_abbrev_key_get_by_id 2 1002 -j k get- m sae-a s sae-b $ids f b
if [ "$(cat "$TEST_DIR/cli_abbrev_key_get_by_id.rc")" = 0 ] &&
   [ "$(jq -c '[.keys[] | .key_ID]' "$TEST_DIR/cli_abbrev_key_get_by_id.out")" = \
     "$(jq -c '[.keys[] | .key_ID]' "$TEST_DIR/cli_abbrev_key_get.out")" ] &&
   jq -e 'all(.keys[]; .key | test("^[A-Za-z0-9+/]{11}=$"))' \
	"$TEST_DIR/cli_abbrev_key_get_by_id.out" >/dev/null; then
	ok cli_abbrev_key_get_by_id
else
	fail cli_abbrev_key_get_by_id "$(cat "$TEST_DIR/cli_abbrev_key_get_by_id".{rc,err,out})"
fi

# ---- multicast: the same keys for more slave SAEs -----------------------

expect_error cli_usage_key_slaves_max 2 'at most 8 "slave" values' \
	-n qkdn1 key get master sae-a slave s1 slave s2 slave s3 slave s4 \
	slave s5 slave s6 slave s7 slave s8 slave s9
expect_error cli_usage_key_slaves_session 2 \
	'a key request with "session" has one "slave"' \
	-n qkdn1 key get master sae-a slave sae-b slave sae-c session 1
expect_error cli_usage_key_by_id_slaves 2 '"slave" given twice' \
	-n qkdn2 key get-by-id master sae-a slave sae-b slave sae-c \
	id 550e8400-e29b-41d4-a716-446655440000
qkdnctl -n qkdn1 sae add id sae-c node kme-2
qkdnctl -n qkdn2 sae add id sae-c uid 1003
ctl_uid cli_kernel_error_slave_twice 1 1001 key get master sae-a slave sae-b slave sae-b
if [ "$(cat "$TEST_DIR/cli_kernel_error_slave_twice.rc")" = 1 ] &&
   [ ! -s "$TEST_DIR/cli_kernel_error_slave_twice.out" ] &&
   grep -q "^Error: ." "$TEST_DIR/cli_kernel_error_slave_twice.err"; then
	ok cli_kernel_error_slave_twice
else
	fail cli_kernel_error_slave_twice "$(cat "$TEST_DIR/cli_kernel_error_slave_twice".{rc,err})"
fi
ctl_uid cli_kernel_error_local_slave 1 1001 key get master sae-a slave sae-b slave sae-a
if [ "$(cat "$TEST_DIR/cli_kernel_error_local_slave.rc")" = 1 ] &&
   grep -q "^Error: .*served by this node" "$TEST_DIR/cli_kernel_error_local_slave.err"; then
	ok cli_kernel_error_local_slave
else
	fail cli_kernel_error_local_slave "$(cat "$TEST_DIR/cli_kernel_error_local_slave".{rc,err})"
fi
ctl_uid mc_keys 1 1001 -j key get master sae-a slave sae-b slave sae-c number 2 format hex
ids=$(jq -r '.keys[] | "id \(.key_ID)"' "$TEST_DIR/mc_keys.out" 2>/dev/null)
ctl_uid mc_by_c 2 1003 -j key get-by-id master sae-a slave sae-c $ids format hex
ctl_uid mc_by_b 2 1002 -j key get-by-id master sae-a slave sae-b $ids format hex
if [ "$(cat "$TEST_DIR/mc_keys.rc")$(cat "$TEST_DIR/mc_by_c.rc")$(cat "$TEST_DIR/mc_by_b.rc")" = 000 ] &&
   jq -e '.keys | length == 2 and all(.key | test("^[0-9a-f]{64}$"))' \
	"$TEST_DIR/mc_keys.out" >/dev/null &&
   cmp -s "$TEST_DIR/mc_keys.out" "$TEST_DIR/mc_by_c.out" &&
   cmp -s "$TEST_DIR/mc_keys.out" "$TEST_DIR/mc_by_b.out"; then
	ok cli_multicast_same_keys
else
	fail cli_multicast_same_keys "$(cat "$TEST_DIR"/mc_keys.{rc,err,out} \
		"$TEST_DIR"/mc_by_c.{rc,err,out} "$TEST_DIR"/mc_by_b.{rc,err,out})"
fi
ctl_uid cli_kernel_error_multicast_twice 2 1003 key get-by-id master sae-a slave sae-c $ids
expect_error_in cli_kernel_error_multicast_twice 1 "key ID unknown or already supplied"

# ---- help ----------------------------------------------------------------

for h in help:word -h:short_option --help:long_option; do
	name=cli_help_${h#*:}
	ctl "$name" "${h%%:*}"
	if [ "$(cat "$TEST_DIR/$name.rc")" = 0 ] && [ ! -s "$TEST_DIR/$name.err" ] &&
	   grep -q "^Usage: qkdnctl" "$TEST_DIR/$name.out" &&
	   grep -q "qkdnctl key get-by-id" "$TEST_DIR/$name.out"; then
		ok "$name"
	else
		fail "$name" "exit $(cat "$TEST_DIR/$name.rc")"
	fi
done
bad=
for o in node link sae pool key session monitor; do
	ctl "help_$o" "$o" help
	[ "$(cat "$TEST_DIR/help_$o.rc")" = 0 ] && [ ! -s "$TEST_DIR/help_$o.err" ] &&
		grep -q "^Usage: qkdnctl" "$TEST_DIR/help_$o.out" &&
		grep -q "qkdnctl $o" "$TEST_DIR/help_$o.out" &&
		! grep -v "^Usage" "$TEST_DIR/help_$o.out" | grep -v "qkdnctl $o" |
			grep -q "qkdnctl " || bad+=" $o"
done
if [ -z "$bad" ]; then
	ok cli_help_per_object
else
	fail cli_help_per_object "wrong usage for:$bad"
fi

# ---- sessions (Q.4160 I.2) ---------------------------------------------

expect_error cli_usage_session_ambiguous_object 2 'ambiguous object "s"' -n qkdn1 s
expect_error cli_usage_session_needs_command 2 "a command is required" -n qkdn1 session
expect_error cli_usage_session_new_slave 2 '"master" and "slave" are required' \
	-n qkdn1 session new master sae-a
expect_error cli_usage_session_new_keyword 2 'unknown keyword "number"' \
	-n qkdn1 session new master sae-a slave sae-b number 2
expect_error cli_usage_session_listen_sae 2 '"sae" is required' -n qkdn2 session listen accept
expect_error cli_usage_session_listen_both 2 'give either "accept" or "refuse"' \
	-n qkdn2 session listen sae sae-b accept refuse
expect_error cli_usage_session_listen_twice 2 '"refuse" given twice' \
	-n qkdn2 session listen sae sae-b refuse refuse
expect_error cli_usage_session_listen_refuse_take 2 \
	'"refuse" takes no "take", "count" or "format"' \
	-n qkdn2 session listen sae sae-b refuse take 2
expect_error cli_usage_session_listen_take_range 2 'take "0" out of range (1..128)' \
	-n qkdn2 session listen sae sae-b take 0
expect_error cli_usage_session_listen_take_word 2 \
	'take is a number (1..128), all or none, not "some"' \
	-n qkdn2 session listen sae sae-b take some
expect_error cli_usage_session_listen_count 2 'count "0" out of range (1..4294967295)' \
	-n qkdn2 session listen sae sae-b count 0
expect_error cli_usage_session_listen_format 2 'format is hex or base64, not "raw"' \
	-n qkdn2 session listen sae sae-b format raw
expect_error cli_usage_session_listen_value 2 '"count" needs a value' \
	-n qkdn2 session listen sae sae-b count
expect_error cli_usage_key_session_range 2 'session ID "0" out of range (1..4294967295)' \
	-n qkdn1 key get master sae-a slave sae-b session 0
expect_error cli_usage_key_session_number 2 'invalid session ID "one"' \
	-n qkdn1 key get master sae-a slave sae-b session one
expect_error cli_usage_key_by_id_session 2 'unknown keyword "session"' \
	-n qkdn1 key get-by-id master sae-a slave sae-b session 1
printf 'session listen sae sae-b\n' | "$QKDNCTL" -n qkdn2 -b - \
	>"$TEST_DIR/batch_listen.out" 2>"$TEST_DIR/batch_listen.err"
rc=$?
if [ $rc = 2 ] && [ ! -s "$TEST_DIR/batch_listen.out" ] &&
   [ "$(cat "$TEST_DIR/batch_listen.err")" = \
     "Error: stdin:1: session listen is not allowed in a batch" ]; then
	ok cli_usage_session_listen_batch
else
	fail cli_usage_session_listen_batch "exit $rc: $(cat "$TEST_DIR/batch_listen.err")"
fi

# Kernel errors, before any controller runs.
ctl_uid cli_kernel_error_session_no_controller 1 1001 \
	session new master sae-a slave sae-b
expect_error_in cli_kernel_error_session_no_controller 1 \
	"no QKDN controller to create the session"
ctl_uid cli_kernel_error_session_not_the_master 1 1002 \
	session new master sae-a slave sae-b
expect_error_in cli_kernel_error_session_not_the_master 1 \
	"caller may not act as the master SAE"
ctl_uid cli_kernel_error_listen_wrong_uid 2 1001 session listen sae sae-b
expect_error_in cli_kernel_error_listen_wrong_uid 1 "caller may not act as this SAE"
ctl_uid cli_kernel_error_listen_no_such_sae 2 1002 session listen sae sae-z
expect_error_in cli_kernel_error_listen_no_such_sae 1 "no such SAE"
ctl_uid cli_kernel_error_no_such_session 1 1001 key get master sae-a slave sae-b session 1
expect_error_in cli_kernel_error_no_such_session 1 "no such session"

# listen_bg NAME ARGS...: qkdnctl ARGS as sae-b's uid in node 2, in the
# background ($LISTEN_PID: qkdnctl's own pid, nsenter and setpriv exec it);
# waits for its first line.
listen_bg() {
	local name=$1

	shift
	nsenter --net=/run/netns/qkdn2 setpriv --reuid=1002 --regid=1002 \
		--clear-groups "$QKDNCTL" "$@" >"$TEST_DIR/$name.out" \
		2>"$TEST_DIR/$name.err" &
	LISTEN_PID=$!
	defer _lib_stop "$LISTEN_PID"
	wait_for 10 grep -q listen "$TEST_DIR/$name.out"
}

# gone PID: the process has exited (a zombie counts)
gone() {
	! _lib_alive "$1"
}

# wait_exit PID: rc=its exit status, or "timeout" after 10 s (not in a
# subshell: only this shell can wait for its child)
wait_exit() {
	rc=timeout
	wait_for 10 gone "$1" || return 0
	wait "$1"
	rc=$?
}

wait_for 20 pool_own 1 1024 || fail cli_session_setup "pool not filled"
nsenter --net=/run/netns/qkdn1 python3 "$TOP/selftests/helpers/ctrl_static.py" \
	--peer qkdn2 --log "$TEST_DIR/ctrl.log" >"$TEST_DIR/ctrl.out" 2>&1 &
defer _lib_stop $!
wait_for 10 grep -q ready "$TEST_DIR/ctrl.out" ||
	fail cli_session_setup "controller: $(cat "$TEST_DIR/ctrl.out")"

# The slave SAE refuses; SIGTERM ends the listener, exit 0.
if listen_bg listen_refuse session listen sae sae-b refuse &&
   [ "$(cat "$TEST_DIR/listen_refuse.out")" = "listen sae sae-b" ]; then
	ok cli_session_listen_ready
else
	fail cli_session_listen_ready "$(cat "$TEST_DIR/listen_refuse.out" "$TEST_DIR/listen_refuse.err")"
fi
ctl_uid cli_kernel_error_listen_busy 2 1002 session listen sae sae-b
expect_error_in cli_kernel_error_listen_busy 1 "another socket listens for this SAE"
ctl_uid session_refused 1 1001 session new master sae-a slave sae-b
if [ "$(cat "$TEST_DIR/session_refused.rc")" = 1 ] &&
   [ ! -s "$TEST_DIR/session_refused.out" ] &&
   grep -q "^Error: session refused: .*refused" "$TEST_DIR/session_refused.err" &&
   grep -Eq "^session [1-9][0-9]* master sae-a slave sae-b src kme-1 answer refuse$" \
	"$TEST_DIR/listen_refuse.out"; then
	ok cli_session_refused
else
	fail cli_session_refused "$(cat "$TEST_DIR/session_refused.err" "$TEST_DIR/listen_refuse.out")"
fi
kill -TERM "$LISTEN_PID"
wait_exit "$LISTEN_PID"
if [ "$rc" = 0 ] && [ ! -s "$TEST_DIR/listen_refuse.err" ]; then
	ok cli_session_listen_sigterm
else
	fail cli_session_listen_sigterm "exit $rc: $(cat "$TEST_DIR/listen_refuse.err")"
fi

# Accepted: sae-b takes 3 of every 4 keys, for 2 supplies, then exits;
# sae-a gets those keys, the same bytes under the same IDs.
listen_bg listen -j session listen sae sae-b take 3 count 2 format hex ||
	fail cli_session_listen_json "$(cat "$TEST_DIR/listen.err")"
ctl_uid session_new_text 1 1001 session new master sae-a slave sae-b
ctl_uid session_new 1 1001 -j session new master sae-a slave sae-b
sid=$(jq -r .session_ID "$TEST_DIR/session_new.out" 2>/dev/null)
if [ "$(cat "$TEST_DIR/session_new_text.rc")" = 0 ] &&
   grep -Eq "^session [1-9][0-9]* master sae-a slave sae-b$" "$TEST_DIR/session_new_text.out" &&
   [ "$(cat "$TEST_DIR/session_new.rc")" = 0 ] &&
   jq -e 'keys == ["master_SAE_ID", "session_ID", "slave_SAE_ID"] and
	.master_SAE_ID == "sae-a" and .slave_SAE_ID == "sae-b" and
	(.session_ID | type == "number" and . > 0)' "$TEST_DIR/session_new.out" >/dev/null; then
	ok cli_session_new
else
	fail cli_session_new "$(cat "$TEST_DIR/session_new_text".{rc,out,err} \
		"$TEST_DIR/session_new".{rc,out,err})"
	sid=1
fi
for i in 1 2; do
	ctl_uid "session_keys$i" 1 1001 -j key get master sae-a slave sae-b \
		session "$sid" number 4 format hex
done
wait_exit "$LISTEN_PID"
if [ "$rc" = 0 ] && [ ! -s "$TEST_DIR/listen.err" ]; then
	ok cli_session_listen_count
else
	fail cli_session_listen_count "exit $rc: $(cat "$TEST_DIR/listen.err")"
fi
python3 - "$TEST_DIR" "$sid" <<'EOF' >"$TEST_DIR/session.check"
import json, re, sys

d, sid = sys.argv[1], int(sys.argv[2])
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ev = []


def check(name, f):
    try:
        f()
        print("PASS", name)
    except Exception as e:
        print("FAIL", name, "%s: %s" % (type(e).__name__, e))


def events():
    ev.extend(json.loads(l) for l in open(d + "/listen.out").read().splitlines())
    assert ev[0] == {"event": "listen", "sae_id": "sae-b"}, "first %s" % ev[0]
    s = [e for e in ev if e["event"] == "session"]
    assert len(s) == 2, "want 2 notifications, got %s" % s
    assert s[-1] == {"event": "session", "session_ID": sid, "master_SAE_ID": "sae-a",
                     "slave_SAE_ID": "sae-b", "src_node_id": "kme-1",
                     "answer": "accept"}, "notification %s" % s[-1]
    sup = [e for e in ev if e["event"] == "supply"]
    assert len(sup) == 2, "want 2 supplies, got %d" % len(sup)
    for e in sup:
        assert set(e) == {"event", "session_ID", "key_count", "keys"}, "members %s" % e
        assert e["session_ID"] == sid and e["key_count"] == 4, "supply %s" % e
        assert len(e["keys"]) == 3, "took %d" % len(e["keys"])
        for k in e["keys"]:
            assert UUID.match(k["key_ID"]), "key_ID %r" % k["key_ID"]
            assert re.fullmatch("[0-9a-f]{64}", k["key"]), "key %r" % k["key"]


def same():
    slave = {k["key_ID"]: k["key"] for e in ev if e["event"] == "supply" for k in e["keys"]}
    master = {}
    for i in (1, 2):
        rc = open("%s/session_keys%d.rc" % (d, i)).read().strip()
        assert rc == "0", "key get %d: exit %s: %s" % (
            i, rc, open("%s/session_keys%d.err" % (d, i)).read().strip())
        keys = json.load(open("%s/session_keys%d.out" % (d, i)))["keys"]
        assert len(keys) == 3, "key get %d: %d keys" % (i, len(keys))
        master.update((k["key_ID"], k["key"]) for k in keys)
    assert len(master) == 6, "%d distinct keys" % len(master)
    assert master == slave, "the two ends differ"


check("listen_json", events)
check("same_keys_both_ends", same)
EOF
while read -r verdict name msg; do
	if [ "$verdict" = PASS ]; then
		ok "cli_session_$name"
	else
		fail "cli_session_$name" "$msg"
		_lib_diag "$(head -c 600 "$TEST_DIR/listen.out")"
	fi
done <"$TEST_DIR/session.check"

# Declined: "take none" answers with no key ID; sae-a gets nothing.
listen_bg listen_none -j session listen sae sae-b take none count 1 ||
	fail cli_session_take_none "$(cat "$TEST_DIR/listen_none.err")"
ctl_uid session_none_new 1 1001 -j session new master sae-a slave sae-b
sid=$(jq -r .session_ID "$TEST_DIR/session_none_new.out" 2>/dev/null)
ctl_uid session_none_keys 1 1001 key get master sae-a slave sae-b session "$sid" number 2
wait_exit "$LISTEN_PID"
if [ "$(cat "$TEST_DIR/session_none_keys.rc")" = 1 ] &&
   [ ! -s "$TEST_DIR/session_none_keys.out" ] &&
   [ "$(cat "$TEST_DIR/session_none_keys.err")" = \
     "Error: the slave SAE took none of the keys" ] &&
   [ "$rc" = 0 ] &&
   tail -n 1 "$TEST_DIR/listen_none.out" | jq -e --argjson s "${sid:-0}" \
	'. == {"event": "supply", "session_ID": $s, "key_count": 2, "keys": []}' >/dev/null; then
	ok cli_session_take_none
else
	fail cli_session_take_none "listener exit $rc: $(cat "$TEST_DIR/session_none_keys.err" \
		"$TEST_DIR/listen_none.out" "$TEST_DIR/listen_none.err")"
fi
