#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ITU-T Q.4160 I.2, proactive key supply, end to end with the real daemons
# on topologies/chain4.topo (a qkdn-linkd and a distributed
# qkdn-controllerd in every node): sae-a (uid 1001) at kme-1 is the master
# application, sae-b (uid 1002) at the adjacent kme-2 the slave, listening
# with helpers/sae_listen.py.  Checks: only the slave SAE's uid may listen
# for it, one socket at a time; a session nobody listens for, and one the
# slave refuses, are refused with clear errors; an accepted session reaches
# the master with its ID, and each "key request with session ID" returns
# exactly the keys the slave took, the same bytes under the same IDs; every
# message of Figure I.2 on the monitors of kme-1 and kme-2, in order, and
# in the controllers' logs; the master's bad requests (unknown session,
# another SAE pair, another uid) and the slave's bad answers (another
# socket, unknown session, key IDs not supplied, a key without ID) are
# refused and change nothing; a slave that stops listening ends its
# sessions; a session with a KM two hops away is created over Cx, but its
# keys cannot be supplied.
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

# reserved N LINK: the keys node N allocated on link LINK so far.
reserved() {
	qkdnctl -j -n "qkdn$1" link show id "$2" | jq -r '.[0].stats.keys_reserved'
}

# sget N UID MASTER SLAVE SESSION NUMBER: a "key request with session ID";
# "KEYID HEX" lines, or "error ERRNO: TEXT".
cat >"$TEST_DIR/sget.py" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from qkdn_genl import Genl, NlError
try:
    for kid, data in Genl().key_get(sys.argv[2], sys.argv[3],
                                     int(sys.argv[5]), 256, int(sys.argv[4])):
        print(kid, data.hex())
except NlError as e:
    print("error %s" % e)
    sys.exit(1)
EOF
sget() {
	local n=$1 uid=$2

	shift 2
	as "$n" "$uid" python3 - "$HELPERS" "$@" <"$TEST_DIR/sget.py"
}

# The slave SAE's application with bad answers first: another socket of
# its uid, an unknown session, key IDs not supplied, a key without ID; then
# it accepts and takes keys 2 and 3 of the first supply.  One line per
# answer: "NAME accepted" or "NAME error ERRNO: TEXT".
cat >"$TEST_DIR/slave.py" <<'EOF'
import errno, os, struct, sys, uuid
sys.path.insert(0, sys.argv[1])
from qkdn_genl import Genl, Q, attrs, nla, nla_strz, nla_u32, NLA_F_NESTED
sae = sys.argv[2]
queue = []

def req(g, cmd, al):
    g.seq += 1
    p = struct.pack("=BBH", cmd, 1, 0) + b"".join(al)
    g.s.send(struct.pack("=IHHII", 16 + len(p), g.fam, 0x5, g.seq, 0) + p)
    while True:
        n = g.s.recv_into(g.rbuf, len(g.rbuf))
        off = 0
        while off + 16 <= n:
            ln, mt, fl, seq, _ = struct.unpack_from("=IHHII", g.rbuf, off)
            body = bytes(g.rbuf[off + 16:off + ln])
            off += (ln + 3) & ~3
            if mt == 2 and seq == g.seq:
                err = -struct.unpack_from("=i", body, 0)[0]
                if not err:
                    return "accepted"
                toff = 4 + (16 if fl & 0x100 else
                            (struct.unpack_from("=I", body, 4)[0] + 3) & ~3)
                msg = ""
                if fl & 0x200:
                    for t, v in attrs(body, toff):
                        if t == 1:
                            msg = v.rstrip(b"\0").decode()
                return "error %s: %s" % (errno.errorcode.get(err, err), msg)
            if mt == g.fam:
                queue.append(body)

def nxt(g):
    while not queue:
        n = g.s.recv_into(g.rbuf, len(g.rbuf))
        off = 0
        while off + 16 <= n:
            ln, mt, _, _, _ = struct.unpack_from("=IHHII", g.rbuf, off)
            if mt == g.fam:
                queue.append(bytes(g.rbuf[off + 16:off + ln]))
            off += (ln + 3) & ~3
    return queue.pop(0)

def say(*a):
    print(*a, flush=True)

def sid_attr(s):
    return nla_u32(Q["QKDN_A_SESSION_ID"], s)

def key(kid):
    return nla(Q["QKDN_A_KEY"] | NLA_F_NESTED, nla(Q["QKDN_A_KEY_ID"], kid))

nl, other = Genl(), Genl()
nl.s.settimeout(30)
r = req(nl, Q["QKDN_CMD_SAE_LISTEN"], [nla_strz(Q["QKDN_A_SAE_ID"], sae)])
if r != "accepted":
    say("listen", r)
    sys.exit(1)
say("ready")
say("listen-other-socket", req(other, Q["QKDN_CMD_SAE_LISTEN"],
                               [nla_strz(Q["QKDN_A_SAE_ID"], sae)]))
body = nxt(nl)
a = dict(attrs(body, 4))
sid = struct.unpack("=I", a[Q["QKDN_A_SESSION_ID"]])[0]
bad = sid % 4000000000 + 1
say("session", sid)
say("answer-other-socket", req(other, Q["QKDN_CMD_SESSION"], [sid_attr(sid)]))
say("answer-unknown-session", req(nl, Q["QKDN_CMD_SESSION"], [sid_attr(bad)]))
say("answer", req(nl, Q["QKDN_CMD_SESSION"], [sid_attr(sid)]))
say("answer-again", req(nl, Q["QKDN_CMD_SESSION"], [sid_attr(sid)]))
body = nxt(nl)
keys = []
for t, v in attrs(body, 4):
    if t == Q["QKDN_A_KEY"]:
        k = dict(attrs(v))
        keys.append((k[Q["QKDN_A_KEY_ID"]], k[Q["QKDN_A_KEY_DATA"]]))
say("supply", len(keys))
ghost = uuid.uuid4().bytes
S = Q["QKDN_CMD_KEY_SUPPLY"]
say("take-other-socket", req(other, S, [sid_attr(sid), key(keys[0][0])]))
say("take-unknown-session", req(nl, S, [sid_attr(bad), key(keys[0][0])]))
say("take-unknown-key", req(nl, S, [sid_attr(sid), key(ghost)]))
say("take-partly-unknown", req(nl, S, [sid_attr(sid), key(keys[0][0]),
                                       key(ghost)]))
say("take-key-without-id", req(nl, S, [sid_attr(sid), nla(
    Q["QKDN_A_KEY"] | NLA_F_NESTED, b"")]))
say("take", req(nl, S, [sid_attr(sid), key(keys[1][0]), key(keys[2][0])]))
for kid, data in keys[1:3]:
    say("key", uuid.UUID(bytes=kid), data.hex())
say("take-again", req(nl, S, [sid_attr(sid), key(keys[1][0])]))
EOF

# ---- the network ----------------------------------------------------------

procedure_up i2_topology_up "$TOPO/chain4.topo" 1 2 3
C1=$TOPO_DIR/logs/controllerd-kme-1.log
C2=$TOPO_DIR/logs/controllerd-kme-2.log
cx_up() {
	grep -q "kme-2: Cx channel up" "$C1" && grep -q "kme-3: Cx channel up" "$C2"
}
if wait_for 20 pool_has 1 1 8192 && wait_for 20 cx_up; then
	ok i2_ready
else
	fail i2_ready "pool or Cx channels missing"
	exit 1
fi

# ---- refusals ------------------------------------------------------------------

# Nobody listens for sae-b: kme-2 refuses the notification at once.
mon_mark_all
refused i2_slave_not_listening \
	"error ECONNREFUSED: session refused: kme-2: the slave SAE is not listening" \
	master 1 1001 sae-a sae-b
mon_check i2_monitor_not_listening_kme1 1 \
	'received session creation request sae:sae-a' \
	'sent session creation request controller' \
	'received response to session creation request controller errno 111 errmsg kme-2: the slave SAE is not listening'
mon_check i2_monitor_not_listening_kme2 2

# Only sae-b's uid may listen for sae-b.
refused i2_listen_other_uid "EACCES" \
	as 2 1001 python3 "$HELPERS/sae_listen.py" sae-b
refused i2_listen_unknown_sae "ENOENT" \
	as 2 1002 python3 "$HELPERS/sae_listen.py" sae-x

# sae-b refuses (EACCES): the refusal reaches sae-a, no session.
listen 2 1002 refuse sae-b --refuse 13 || exit 1
mon_mark_all
refused i2_session_refused \
	"error EACCES: session refused: the slave SAE sae-b at kme-2 refused the session" \
	master 1 1001 sae-a sae-b
mon_check i2_monitor_refused_kme1 1 \
	'received session creation request sae:sae-a' \
	'sent session creation request controller' \
	'received response to session creation request controller errno 13 errmsg the slave SAE sae-b at kme-2 refused the session'
mon_check i2_monitor_refused_kme2 2 \
	'received session creation notification controller' \
	'sent session creation notification sae:sae-b' \
	'received response to session creation notification sae:sae-b errno 13' \
	'sent response to session creation notification controller errno 13'
_lib_stop "${BG[refuse]}"

# ---- an accepted session -------------------------------------------------------

listen 2 1002 slave sae-b --take 3 || exit 1
# One socket listens for sae-b at a time.
refused i2_listen_second_socket "EBUSY" \
	as 2 1002 python3 "$HELPERS/sae_listen.py" sae-b
mon_mark_all
r0=$(reserved 1 1)
session i2_session_created i2_master_gets_exactly_the_keys_taken \
	1 1001 sae-a sae-b slave || exit 1
sid=$SID
# Eight keys left kme-1's pool: the two it kept back too.
r1=$(reserved 1 1)
if [ $((r1 - r0)) = 8 ]; then
	ok i2_pool_bytes_spent
else
	fail i2_pool_bytes_spent "keys reserved on link 1: $r0 -> $r1"
fi

session_master_check i2_monitor_kme1_order 1 sae-a kme-2
session_slave_check i2_monitor_kme2_order 2 sae-b kme-1
mon_check i2_monitor_kme3_nothing 3
mon_no_key_bytes i2_monitor_no_key_bytes

# The controllers: kme-1's names the session and tells kme-2's over Cx,
# kme-2's gives its kernel the notification and returns the answer.
sleep 0.3
check_output i2_ctrl_kme1_notified_kme2 \
	"sent \"session creation notification\" to kme-2 session $sid: master sae-a at kme-1, slave sae-b" \
	cat "$C1"
check_output i2_ctrl_kme2_gave_kernel \
	"sent \"session creation notification\" session $sid: master sae-a at kme-1, slave sae-b" \
	cat "$C2"
check_output i2_ctrl_kme2_returned_answer \
	"sent \"response to session creation notification\" to kme-1 session $sid kme-1 -> kme-2: accepted" \
	cat "$C2"
check_output i2_ctrl_kme1_answered_kernel \
	"sent \"response to session creation request\" ctrl-id [0-9]+: session $sid" \
	cat "$C1"

# ---- the master's bad requests: refused, nothing taken ---------------------------

mon_mark_all
r0=$(reserved 1 1)
refused i2_unknown_session "error ENOENT: no such session" \
	sget 1 1001 sae-a sae-b $((sid % 4000000000 + 1)) 1
refused i2_session_of_another_pair "error EACCES: the session is for another SAE pair" \
	sget 1 1001 sae-a sae-c "$sid" 1
refused i2_session_wrong_uid "error EACCES: caller may not act as the master SAE" \
	sget 1 1002 sae-a sae-b "$sid" 1
refused i2_session_new_wrong_uid "error EACCES: caller may not act as the master SAE" \
	master 1 1002 sae-a sae-b
refused i2_session_new_local_slave "error ENOTSUP: slave SAE is served by this node" \
	master 2 1002 sae-b sae-b
sleep 0.3
if [ "$(reserved 1 1)" = "$r0" ] && [ -z "$(mon_msgs 2)" ] &&
   ! grep -q "key supply notification" <<<"$(mon_msgs 1)"; then
	ok i2_bad_requests_change_nothing
else
	fail i2_bad_requests_change_nothing "$(mon_msgs 1; mon_msgs 2)"
fi
# The session still works.
out=$(sget 1 1001 sae-a sae-b "$sid" 2 2>&1)
if [ "$(grep -c '^[0-9a-f-]\{36\} [0-9a-f]\{64\}$' <<<"$out")" = 2 ]; then
	ok i2_session_still_works
else
	fail i2_session_still_works "$out"
fi

# ---- the slave's bad answers ------------------------------------------------------

_lib_stop "${BG[slave]}"
SPAWN_IN=$TEST_DIR/slave.py spawn_as 2 1002 check python3 - "$HELPERS" sae-b
wait_for 10 grep -q '^ready$' "$TEST_DIR/check.out" ||
	{ fail i2_slave_check_ready "$(cat "$TEST_DIR/check.out")"; exit 1; }
out=$(master 1 1001 sae-a sae-b --get 1 --number 4 2>&1)
sleep 0.3
co=$(cat "$TEST_DIR/check.out")
answer() {	# answer NAME: what slave.py got for NAME
	sed -n "s/^$1 //p" <<<"$co"
}
expect() {	# expect TEST NAME RESULT
	if [ "$(answer "$2")" = "$3" ]; then
		ok "$1"
	else
		fail "$1" "$2: got '$(answer "$2")', want '$3'"
	fi
}
expect i2_slave_listen_second_socket listen-other-socket \
	"error EBUSY: another socket listens for this SAE"
expect i2_slave_answer_other_socket answer-other-socket \
	"error EACCES: only the socket listening for the slave SAE may answer"
expect i2_slave_answer_unknown_session answer-unknown-session \
	"error ENOENT: no session notification awaits an answer"
expect i2_slave_answer answer accepted
expect i2_slave_answer_twice answer-again \
	"error ENOENT: no session notification awaits an answer"
expect i2_slave_take_other_socket take-other-socket \
	"error EACCES: only the socket listening for the slave SAE may answer"
expect i2_slave_take_unknown_session take-unknown-session \
	"error ENOENT: no such session"
expect i2_slave_take_unknown_key take-unknown-key \
	"error ENOENT: key ID not supplied in this session"
expect i2_slave_take_partly_unknown take-partly-unknown \
	"error ENOENT: key ID not supplied in this session"
expect i2_slave_take_key_without_id take-key-without-id \
	"error EINVAL: key without key ID"
expect i2_slave_take take accepted
expect i2_slave_take_twice take-again \
	"error ENOENT: key ID not supplied in this session"
# The master got keys 2 and 3 only: the refused answers took nothing.
mkeys=$(awk 'NF == 3 && $3 == 256 { print $1, $2 }' <<<"$out" | sort)
skeys=$(awk '$1 == "key" { print $2, $3 }' <<<"$co" | sort)
if [ "$(grep -c . <<<"$mkeys")" = 2 ] && [ "$mkeys" = "$skeys" ]; then
	ok i2_bad_answers_took_nothing
else
	fail i2_bad_answers_took_nothing "master: $out"
	_lib_diag "$co"
fi

# ---- the slave stops listening: its sessions end at kme-2 ----------------------------

sid2=$(answer session)
_lib_stop "${BG[check]}"
refused i2_session_ends_with_listener \
	"error ENOENT: the slave SAE's KM could not supply the keys" \
	sget 1 1001 sae-a sae-b "$sid2" 1

# ---- a KM two hops away ------------------------------------------------------------

# The session is created over two Cx hops (kme-1 -> kme-2 -> kme-3), but
# proactive key supply needs a QKD link: nothing is taken.
listen 3 1003 far sae-c || exit 1
out=$(master 1 1001 sae-a sae-c 2>&1)
sid3=$(awk '$1 == "session" { print $2 }' <<<"$out")
if [ -n "$sid3" ] && grep -q "^session $sid3 sae-a sae-c kme-1$" "$TEST_DIR/far.out"; then
	ok i2_session_two_hops_away
else
	fail i2_session_two_hops_away "$out"
fi
r0=$(reserved 1 1)
refused i2_no_supply_without_link \
	"error EHOSTUNREACH: proactive key supply needs a QKD link to the slave SAE's KM" \
	sget 1 1001 sae-a sae-c "$sid3" 1
if [ "$(reserved 1 1)" = "$r0" ]; then
	ok i2_no_supply_without_link_takes_nothing
else
	fail i2_no_supply_without_link_takes_nothing
fi
