// SPDX-License-Identifier: GPL-2.0
/*
 * Cx codec: every message type round trip; every truncation, trailing
 * bytes, unknown types and versions, bad node IDs, counts over their
 * limits, fields a message needs, oversized messages; and a replayed LSA
 * that decodes fine but changes nothing (replayed commands, results and
 * session messages are the cores' business: test_ctrld_core).
 */
#include <string.h>

#include "../controllerd/cx.h"
#include "tap.h"

static uint8_t buf[CTRLD_CX_MAX + 16];
static struct ctrld_cx_msg in, out;

static struct ctrld_lsa *lsa_msg(void)
{
	memset(&in, 0, sizeof(in));
	in.type = CTRLD_CX_LSA;
	strcpy(in.lsa.origin, "kme-1");
	in.lsa.seq = 0x0102030405060708ULL;
	in.lsa.age = 7;
	in.lsa.n_links = 2;
	strcpy(in.lsa.links[0].peer, "kme-2");
	in.lsa.links[0].up = true;
	in.lsa.links[0].own_bytes = 123456789012ULL;
	strcpy(in.lsa.links[1].peer, "kme-3");
	return &in.lsa;
}

/* Encode in, check every prefix is "truncated" and one more byte
 * "trailing", decode into out. Returns the length or -1.
 */
static int round_trip(const char *what)
{
	bool trunc = true;
	int n, i, r;

	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	if (!tap_ok(n > 0, "%s: encoded (%d bytes)", what, n))
		return -1;
	for (i = 0; i < n && trunc; i++)
		trunc = ctrld_cx_decode(buf, i, &out) == -CTRLD_CX_ETRUNC;
	tap_ok(trunc, "%s: every truncation is refused as truncated", what);
	buf[n] = 0;
	tap_ok(ctrld_cx_decode(buf, n + 1, &out) == -CTRLD_CX_ETRAIL,
	       "%s: a byte too many is refused", what);
	r = ctrld_cx_decode(buf, n, &out);
	tap_ok(r == 0 && out.type == in.type, "%s: decoded", what);
	return n;
}

static void test_lsa(void)
{
	int n;

	lsa_msg();
	n = round_trip("lsa");
	tap_ok(n == 1 + 6 + 8 + 2 + 1 + 2 * (6 + 1 + 8) &&
	       !memcmp(&in.lsa, &out.lsa, sizeof(in.lsa)),
	       "lsa: every field back, %d bytes", n);
	tap_ok(buf[0] == CTRLD_CX_LSA && buf[1] == 5 && !memcmp(buf + 2, "kme-1", 5) &&
	       buf[7] == 1 && buf[14] == 8 && buf[15] == 0 && buf[16] == 7 &&
	       buf[17] == 2, "lsa: type, origin, big-endian seq and age, count");

	/* Links out of order on the wire come back sorted; a repeated peer
	 * or a link to the origin itself is refused.
	 */
	lsa_msg();
	strcpy(in.lsa.links[0].peer, "kme-3");
	strcpy(in.lsa.links[1].peer, "kme-2");
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	tap_ok(!ctrld_cx_decode(buf, n, &out) && !strcmp(out.lsa.links[0].peer, "kme-2"),
	       "lsa: links sorted by peer");
	strcpy(in.lsa.links[1].peer, "kme-3");
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EVALUE, "lsa: a peer twice is refused");
	strcpy(in.lsa.links[1].peer, "kme-1");
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EVALUE,
	       "lsa: a link to its own origin is refused");

	lsa_msg();
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	buf[1 + 6 + 8 + 2 + 1 + 6] = 2;	/* flags of the first link */
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EVALUE, "lsa: unknown link flags refused");
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	buf[17] = CTRLD_LSA_LINKS_MAX + 1;
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_ECOUNT,
	       "lsa: more than %d links refused before reading them", CTRLD_LSA_LINKS_MAX);
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	buf[1] = 0;
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EID, "lsa: empty origin refused");
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	buf[1] = QKDN_ID_MAX;
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EID, "lsa: origin of %d bytes refused",
	       QKDN_ID_MAX);
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	buf[4] = ' ';
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EID, "lsa: a space in a node ID refused");
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	buf[4] = 0;
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EID, "lsa: a NUL in a node ID refused");

	lsa_msg();
	in.lsa.n_links = CTRLD_LSA_LINKS_MAX + 1;
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_ECOUNT,
	       "lsa: not encoded with too many links");
	lsa_msg();
	strcpy(in.lsa.links[1].peer, "bad id");
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_EID,
	       "lsa: not encoded with a bad peer ID");
}

static void test_biggest(void)
{
	uint32_t i;
	int n;

	lsa_msg();
	memset(in.lsa.origin, 'o', QKDN_ID_MAX - 1);
	in.lsa.n_links = CTRLD_LSA_LINKS_MAX;
	for (i = 0; i < in.lsa.n_links; i++) {
		memset(in.lsa.links[i].peer, 'p', QKDN_ID_MAX - 1);
		in.lsa.links[i].peer[0] = (char)('A' + i / 26);
		in.lsa.links[i].peer[1] = (char)('a' + i % 26);
	}
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	tap_ok(n > 0 && n <= CTRLD_CX_MAX && !ctrld_cx_decode(buf, n, &out),
	       "lsa: the largest LSA (%d links, 63-byte IDs) fits one record: %d bytes",
	       CTRLD_LSA_LINKS_MAX, n);
	tap_ok(ctrld_cx_decode(buf, CTRLD_CX_MAX + 1, &out) == -CTRLD_CX_ETOOBIG,
	       "oversized: a message over %d bytes refused", CTRLD_CX_MAX);
	tap_ok(ctrld_cx_encode(&in, buf, 100) == -CTRLD_CX_ETOOBIG,
	       "oversized: not encoded into a short buffer");
}

static void test_ctrl(void)
{
	int n;

	memset(&in, 0, sizeof(in));
	in.type = CTRLD_CX_CTRL;
	in.req.msg = QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION;
	in.req.ctrl_id = 0xdeadbeef;
	memset(in.req.relay_id, 0xab, sizeof(in.req.relay_id));
	strcpy(in.req.src, "kme-2");
	strcpy(in.req.dst, "kme-4");
	in.req.relay_bytes = 48;
	round_trip("ctrl");
	tap_ok(!memcmp(&in.req, &out.req, sizeof(in.req)), "ctrl: every field back, no peer");
	strcpy(in.req.peer, "kme-1");
	in.req.err = 110;
	n = round_trip("ctrl with peer");
	tap_ok(!memcmp(&in.req, &out.req, sizeof(in.req)), "ctrl: peer and errno back");
	buf[1] = QKDN_MSG_MAX + 1;
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EVALUE, "ctrl: unknown Q.4160 message refused");
	buf[1] = 0;
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EVALUE, "ctrl: message 0 refused");
}

static void test_answer(void)
{
	int n;

	memset(&in, 0, sizeof(in));
	in.type = CTRLD_CX_ANSWER;
	in.ans.msg = QKDN_MSG_KEY_RELAY_REQUEST;
	in.ans.ctrl_id = 5;
	in.ans.path.n = 3;
	strcpy(in.ans.path.node[0], "a");
	strcpy(in.ans.path.node[1], "b");
	strcpy(in.ans.path.node[2], "c");
	in.ans.path.metric = 2;
	in.ans.path.avail = 5000;
	round_trip("answer");
	tap_ok(out.ans.path.n == 3 && !strcmp(out.ans.path.node[2], "c") &&
	       out.ans.ctrl_id == 5 && out.ans.path.metric == 2 &&
	       out.ans.path.avail == 5000, "answer: route, metric and avail back");
	memset(&in.ans.path, 0, sizeof(in.ans.path));
	in.ans.err = 113;
	strcpy(in.ans.errmsg, "no route to c with 48 bytes of key on every hop");
	n = round_trip("answer with error");
	tap_ok(out.ans.err == 113 && !strcmp(out.ans.errmsg, in.ans.errmsg),
	       "answer: errno and message back");
	buf[11] = '\n';
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EVALUE,
	       "answer: a control character in the message refused");
	memset(in.ans.errmsg, 'x', sizeof(in.ans.errmsg));
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_EVALUE,
	       "answer: an unterminated message is not encoded");
	memset(&in.ans, 0, sizeof(in.ans));
	in.ans.msg = QKDN_MSG_NEXT_HOP_RESPONSE;
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	buf[n - 1] = QKDN_ROUTE_HOPS_MAX + 1;
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_ECOUNT,
	       "answer: a route over %d nodes refused", QKDN_ROUTE_HOPS_MAX);
}

static void test_routes(void)
{
	int n;

	memset(&in, 0, sizeof(in));
	in.type = CTRLD_CX_ROUTE;
	in.route.gen = 3;
	strcpy(in.route.route.dst, "c");
	in.route.route.path.n = 2;
	in.route.route.path.metric = 17;
	in.route.route.path.avail = 1ULL << 40;
	strcpy(in.route.route.path.node[0], "b");
	strcpy(in.route.route.path.node[1], "c");
	round_trip("route");
	tap_ok(ctrld_route_equal(&in.route.route, &out.route.route) && out.route.gen == 3,
	       "route: every field back");
	in.route.route.path.n = 1;
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EVALUE, "route: a one-node path refused");
	memset(&in, 0, sizeof(in));
	in.type = CTRLD_CX_ROUTES_END;
	in.end.gen = 3;
	in.end.count = 300;
	round_trip("routes-end");
	tap_ok(out.end.gen == 3 && out.end.count == 300, "routes-end: back");
}

static void session_msg(uint32_t msg)
{
	memset(&in, 0, sizeof(in));
	in.type = CTRLD_CX_SESSION;
	in.session.hops = QKDN_ROUTE_HOPS_MAX;
	in.session.req.msg = msg;
	in.session.req.ctrl_id = 9;
	in.session.req.session_id = 0x89abcdef;
	strcpy(in.session.req.src, "kme-1");
	strcpy(in.session.req.dst, "kme-4");
	strcpy(in.session.req.master, "sae-a");
	strcpy(in.session.req.slave, "sae-b");
}

/* Encoded in, with byte off set to v, decodes to err. */
static bool patched(size_t off, uint8_t v, int err)
{
	int n = ctrld_cx_encode(&in, buf, sizeof(buf));

	if (n <= (int)off)
		return false;
	buf[off] = v;
	return ctrld_cx_decode(buf, (size_t)n, &out) == err;
}

static void test_session(void)
{
	int n;

	session_msg(QKDN_MSG_SESSION_CREATION_NOTIFICATION);
	n = round_trip("session");
	tap_ok(n == 1 + 1 + 1 + 1 + 4 + 4 + 6 + 6 + 6 + 6 + 4 + 1 &&
	       !memcmp(&in.session.req, &out.session.req, sizeof(in.session.req)) &&
	       out.session.hops == QKDN_ROUTE_HOPS_MAX,
	       "session: every field back, %d bytes", n);
	tap_ok(buf[1] == CTRLD_CX_VERSION && buf[2] == QKDN_MSG_SESSION_CREATION_NOTIFICATION &&
	       buf[8] == 0x89 && buf[11] == 0xef, "session: version, msg, big-endian session ID");
	session_msg(QKDN_MSG_SESSION_NOTIFICATION_RESPONSE);
	in.session.req.err = 111;
	strcpy(in.session.req.errmsg, "kme-4: the slave SAE is not listening");
	memset(in.session.req.master, 0, sizeof(in.session.req.master));
	round_trip("session response");
	tap_ok(out.session.req.err == 111 && !strcmp(out.session.req.errmsg, in.session.req.errmsg) &&
	       !out.session.req.master[0], "session response: errno and reason back, no SAE IDs");
	session_msg(QKDN_MSG_SESSION_CREATION_REQUEST);
	round_trip("session request");

	session_msg(QKDN_MSG_SESSION_CREATION_NOTIFICATION);
	tap_ok(patched(1, 2, -CTRLD_CX_EVERSION), "session: version 2 refused");
	tap_ok(patched(1, 0, -CTRLD_CX_EVERSION), "session: version 0 refused");
	tap_ok(patched(2, QKDN_MSG_KEY_RELAY_REQUEST, -CTRLD_CX_EVALUE),
	       "session: a message that is not I.2 refused");
	tap_ok(patched(3, 0, -CTRLD_CX_EVALUE), "session: 0 hops refused");
	tap_ok(patched(3, QKDN_ROUTE_HOPS_MAX + 1, -CTRLD_CX_EVALUE),
	       "session: more than %d hops refused", QKDN_ROUTE_HOPS_MAX);
	in.session.req.session_id = 0;
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_EVALUE,
	       "session: a notification without session ID is not encoded");
	session_msg(QKDN_MSG_SESSION_CREATION_NOTIFICATION);
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	memset(buf + 8, 0, 4);
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EVALUE,
	       "session: a notification with session ID 0 refused");
	session_msg(QKDN_MSG_SESSION_CREATION_REQUEST);
	in.session.req.ctrl_id = 0;
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_EVALUE,
	       "session: a request without ctrl-id is not encoded");
	session_msg(QKDN_MSG_SESSION_CREATION_REQUEST);
	in.session.req.master[0] = '\0';
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_EVALUE,
	       "session: a request without master SAE is not encoded");
	/* Decoded, the same: slave "b" and master "" instead of "sae-b". */
	session_msg(QKDN_MSG_SESSION_CREATION_REQUEST);
	strcpy(in.session.req.master, "sae");
	strcpy(in.session.req.slave, "b");
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	buf[n - 11] = 0;	/* master: length 0, its 3 bytes become... */
	buf[n - 10] = 1;	/* ... slave length 1, "a", and 'e' is left */
	tap_ok(ctrld_cx_decode(buf, n, &out) != 0,
	       "session: a request without master SAE refused");
	session_msg(QKDN_MSG_SESSION_CREATION_REQUEST);
	strcpy(in.session.req.slave, "no space");
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_EID,
	       "session: a bad SAE ID is not encoded");
	session_msg(QKDN_MSG_SESSION_CREATION_NOTIFICATION);
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	buf[14] = '\t';	/* in the source node's ID */
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EID,
	       "session: a control character in a node ID refused");
	session_msg(QKDN_MSG_SESSION_NOTIFICATION_RESPONSE);
	in.session.req.err = 1;
	strcpy(in.session.req.errmsg, "x");
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	buf[n - 1] = 0x7f;
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EVALUE,
	       "session: a control character in the reason refused");
	memset(in.session.req.errmsg, 'x', sizeof(in.session.req.errmsg));
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_EVALUE,
	       "session: an unterminated reason is not encoded");
}

static void command_msg(uint32_t msg)
{
	memset(&in, 0, sizeof(in));
	in.type = CTRLD_CX_COMMAND;
	in.command.seq = 77;
	in.command.cmd.msg = msg;
	in.command.cmd.ctrl_id = 5;
	memset(in.command.cmd.relay_id, 0x5a, QKDN_RELAY_ID_LEN);
	in.command.cmd.path.n = 3;
	strcpy(in.command.cmd.path.node[0], "kme-1");
	strcpy(in.command.cmd.path.node[1], "kme-2");
	strcpy(in.command.cmd.path.node[2], "kme-3");
	in.command.cmd.path.metric = 2;
	in.command.cmd.path.avail = 960;
}

static void test_command(void)
{
	int n;

	command_msg(QKDN_MSG_KEY_RESERVATION_REQUEST);
	n = round_trip("command");
	tap_ok(!memcmp(&in.command, &out.command, sizeof(in.command)),
	       "command: every field back (%d bytes)", n);
	tap_ok(buf[1] == CTRLD_CX_VERSION && buf[5] == 77 &&
	       buf[6] == QKDN_MSG_KEY_RESERVATION_REQUEST,
	       "command: version, seq, then the fields of an answer");
	command_msg(QKDN_MSG_SESSION_CREATION_NOTIFICATION);
	memset(&in.command.cmd.path, 0, sizeof(in.command.cmd.path));
	in.command.cmd.session_id = 0xfffffffe;
	strcpy(in.command.cmd.src, "kme-1");
	strcpy(in.command.cmd.master, "sae-a");
	strcpy(in.command.cmd.slave, "sae-b");
	round_trip("command (session)");
	tap_ok(!memcmp(&in.command, &out.command, sizeof(in.command)),
	       "command: session ID, source and SAE IDs back");
	command_msg(QKDN_MSG_KEY_ALLOCATION_REQUEST);
	in.command.cmd.err = 110;
	strcpy(in.command.cmd.errmsg, "no response to key relay request from kme-2 within 5000 ms");
	round_trip("command (allocation with error)");
	tap_ok(out.command.cmd.err == 110 && !strcmp(out.command.cmd.errmsg, in.command.cmd.errmsg),
	       "command: errno and reason back");

	command_msg(QKDN_MSG_KEY_RESERVATION_REQUEST);
	tap_ok(patched(1, 9, -CTRLD_CX_EVERSION), "command: unknown version refused");
	tap_ok(patched(6, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, -CTRLD_CX_EVALUE),
	       "command: a message a controller does not send a KM refused");
	tap_ok(patched(6, QKDN_MSG_MAX + 1, -CTRLD_CX_EVALUE), "command: unknown message refused");
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	memset(buf + 2, 0, 4);
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EVALUE, "command: seq 0 refused");
	in.command.seq = 0;
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_EVALUE, "command: seq 0 not encoded");
	command_msg(QKDN_MSG_NEXT_HOP_REQUEST);
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_EVALUE,
	       "command: a kernel's request is not encoded as one");
	command_msg(QKDN_MSG_KEY_RELAY_REQUEST);
	in.command.cmd.path.n = QKDN_ROUTE_HOPS_MAX + 1;
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_ECOUNT,
	       "command: a route over %d nodes not encoded", QKDN_ROUTE_HOPS_MAX);

	memset(&in, 0, sizeof(in));
	in.type = CTRLD_CX_RESULT;
	in.result.seq = 77;
	in.result.msg = QKDN_MSG_KEY_RELAY_REQUEST;
	in.result.err = 2;
	strcpy(in.result.errmsg, "no key reservation for this relay here");
	n = round_trip("result");
	tap_ok(n == 1 + 1 + 4 + 1 + 4 + 1 + (int)strlen(in.result.errmsg) &&
	       !memcmp(&in.result, &out.result, sizeof(in.result)),
	       "result: every field back, %d bytes", n);
	tap_ok(patched(1, 2, -CTRLD_CX_EVERSION), "result: unknown version refused");
	tap_ok(patched(6, QKDN_MSG_KEY_RELAY_RESPONSE, -CTRLD_CX_EVALUE),
	       "result: of a message no command carries refused");
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	memset(buf + 2, 0, 4);
	tap_ok(ctrld_cx_decode(buf, n, &out) == -CTRLD_CX_EVALUE, "result: seq 0 refused");
	buf[0] = CTRLD_CX_RESULT;
	tap_ok(ctrld_cx_decode(buf, 1, &out) == -CTRLD_CX_ETRUNC,
	       "result: the type alone is truncated");
}

static void test_other(void)
{
	tap_ok(ctrld_cx_decode(buf, 0, &out) == -CTRLD_CX_ETRUNC, "empty message refused");
	buf[0] = 0;
	tap_ok(ctrld_cx_decode(buf, 1, &out) == -CTRLD_CX_ETYPE, "type 0 refused");
	buf[0] = 99;
	tap_ok(ctrld_cx_decode(buf, 1, &out) == -CTRLD_CX_ETYPE, "unknown type refused");
	memset(&in, 0, sizeof(in));
	in.type = 42;
	tap_ok(ctrld_cx_encode(&in, buf, sizeof(buf)) == -CTRLD_CX_ETYPE, "unknown type not encoded");
	tap_ok(!strcmp(ctrld_cx_strerror(-CTRLD_CX_ETRAIL), "trailing bytes") &&
	       !strcmp(ctrld_cx_strerror(-CTRLD_CX_EVERSION), "unknown message version"),
	       "errors have names");
	tap_ok(!strcmp(ctrld_cx_type_name(CTRLD_CX_SESSION), "session") &&
	       !strcmp(ctrld_cx_type_name(CTRLD_CX_COMMAND), "command") &&
	       !strcmp(ctrld_cx_type_name(CTRLD_CX_RESULT), "result"), "types have names");
}

/* A replayed LSA is well-formed: the database is what refuses it. */
static void test_replay(void)
{
	struct ctrld_lsdb db;
	int n;

	ctrld_lsdb_init(&db, 60);
	lsa_msg();
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	ctrld_cx_decode(buf, n, &out);
	tap_ok(ctrld_lsdb_install(&db, &out.lsa, 0) == CTRLD_LSA_NEW, "replay: first copy installed");
	in.lsa.seq++;
	in.lsa.links[0].up = false;
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	ctrld_cx_decode(buf, n, &out);
	tap_ok(ctrld_lsdb_install(&db, &out.lsa, 0) == CTRLD_LSA_NEW, "replay: newer one installed");
	lsa_msg();
	n = ctrld_cx_encode(&in, buf, sizeof(buf));
	ctrld_cx_decode(buf, n, &out);
	tap_ok(ctrld_lsdb_install(&db, &out.lsa, 0) == CTRLD_LSA_OLD &&
	       !ctrld_lsdb_find(&db, "kme-1")->lsa.links[0].up,
	       "replay: the first copy again is refused (old sequence number), state unchanged");
	ctrld_lsdb_free(&db);
}

int main(void)
{
	printf("TAP version 13\n");
	test_lsa();
	test_biggest();
	test_ctrl();
	test_answer();
	test_routes();
	test_session();
	test_command();
	test_other();
	test_replay();
	printf("1..%d\n", tap_n);
	return tap_done();
}
