// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd cores talking Cx over real TLS 1.3 on 127.0.0.1, with
 * certificates made for the test. Three cores (alice, bob, carol) run in
 * this process, each with its own configuration, TLS context and listening
 * socket; the test calls the core API the daemon calls with what it reads
 * from the kernel (node ID, links, requests) and reads back what the core
 * gives the kernel (answers, routes). The netlink side is not involved.
 *
 * Distributed: a chain alice - bob - carol. Channels, LSAs flooded two
 * hops, routes, next hops, a link going down and up, identities refused
 * (wrong certificate for the hello, untrusted CA, a dialled node that is
 * not who it should be), a restart, and a silent node's LSA ageing out.
 * Centralized: alice central, bob and carol agents: link state up, routes
 * down, a key relay request answered through the controller, and an agent
 * whose controller is gone.
 * Key relay with key reservation (I.4b): the whole sequence with KM1 an
 * agent or the controller's own node, KM2 without its reservation yet
 * (retried), KM2 never holding it, KM2 silent, a refused reservation, a
 * failed relay, a two-node route (I.4a), replayed commands.
 * Sessions (I.2), distributed over two hops and centralized through
 * agents: created, refused by the destination's kernel, declined by the
 * slave SAE, timed out, unreachable destinations, replays.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../controllerd/core.h"
#include "log.h"
#include "net.h"
#include "tls.h"
#include "tap.h"
#include "test_pki.h"
#include "test_util.h"

static char dir[] = "/tmp/ctrld-core-XXXXXX";
static char logpath[64];

#define NANS	64

struct tnode {
	const char *name;
	int port;
	bool live;
	struct ctrld_config cfg;
	struct ctrld_core core;
	struct ctrld_answer ans[NANS];
	int n_ans;
	int n_set, n_del;
	/* the kernel refuses the next refuse_n messages refuse_msg */
	uint32_t refuse_msg;
	int refuse_n, refuse_err;
	const char *refuse_why;
};

static struct tnode alice = { .name = "alice" }, bob = { .name = "bob" },
		    carol = { .name = "carol" }, alice2 = { .name = "alice" };
static struct tnode *const nodes[] = { &alice, &bob, &carol, &alice2 };
static struct qd_chan *raw;	/* test clients, not cores */
/* A stand-in for a central controller: its listening socket, TLS context,
 * channel and what it received.
 */
static int fake_lfd = -1;
static SSL_CTX *fake_ssl;
static struct qd_chan *fake;
static int fake_results;
static struct ctrld_cx_msg fake_rx;

/* What the core gives its node. */

static int t_answer(void *ctx, const struct ctrld_answer *a, char *why,
		    size_t whylen)
{
	struct tnode *n = ctx;

	n->ans[n->n_ans++ % NANS] = *a;
	if (n->refuse_n && a->msg == n->refuse_msg) {
		n->refuse_n--;
		snprintf(why, whylen, "%s", n->refuse_why);
		return -n->refuse_err;
	}
	return 0;
}

static int t_route_set(void *ctx, const struct ctrld_route *r)
{
	(void)r;
	((struct tnode *)ctx)->n_set++;
	return 0;
}

static int t_route_del(void *ctx, const char *dst)
{
	(void)dst;
	((struct tnode *)ctx)->n_del++;
	return 0;
}

static const struct ctrld_node_ops ops = {
	.answer = t_answer,
	.route_set = t_route_set,
	.route_del = t_route_del,
};

static const struct ctrld_answer *last_answer(struct tnode *n)
{
	return n->n_ans ? &n->ans[(n->n_ans - 1) % NANS] : NULL;
}

/* The latest message msg the node's kernel was given since the from-th. */
static const struct ctrld_answer *got(struct tnode *n, uint32_t msg, int from)
{
	int i;

	for (i = n->n_ans - 1; i >= from && i >= n->n_ans - NANS; i--)
		if (n->ans[i % NANS].msg == msg)
			return &n->ans[i % NANS];
	return NULL;
}

static int count(struct tnode *n, uint32_t msg, int from)
{
	int i, k = 0;

	for (i = n->n_ans - 1; i >= from && i >= n->n_ans - NANS; i--)
		k += n->ans[i % NANS].msg == msg;
	return k;
}

static void refuse(struct tnode *n, uint32_t msg, int times, int err,
		   const char *why)
{
	n->refuse_msg = msg;
	n->refuse_n = times;
	n->refuse_err = err;
	n->refuse_why = why;
}

/* The stand-in controller. */

static const char *fake_hello(void *ctx, struct qd_chan *ch, const char *id)
{
	(void)ctx;
	(void)ch;
	(void)id;
	return NULL;
}

static void fake_on_up(void *ctx, struct qd_chan *ch)
{
	(void)ctx;
	ch->owner = ch;
	fake = ch;
}

static void fake_frame(void *ctx, struct qd_chan *ch, const uint8_t *data,
		       size_t len)
{
	(void)ctx;
	(void)ch;
	if (!ctrld_cx_decode(data, len, &fake_rx) && fake_rx.type == CTRLD_CX_RESULT)
		fake_results++;
}

static const struct qd_chan_ops fake_ops_s = {
	.magic = QD_MAGIC_CX, .hello = fake_hello, .up = fake_on_up,
	.frame = fake_frame,
};
static const struct qd_chan_ops *const fake_ops = &fake_ops_s;

/* Running the cores. */

static void spin_once(void)
{
	struct pollfd p;
	struct qd_chan *ch;
	size_t i;

	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		if (nodes[i]->live)
			ctrld_core_poll(&nodes[i]->core, NULL, 0, 0);
	if (fake_lfd >= 0)
		qd_chan_accept_all(&raw, fake_lfd, fake_ssl, "alice", fake_ops,
				   NULL, 4, qd_now_ms());
	for (ch = raw; ch; ch = ch->next) {
		p = (struct pollfd){ .fd = ch->fd, .events = qd_chan_events(ch) };
		if (ch->state != QD_CHAN_CLOSED && poll(&p, 1, 0) > 0)
			qd_chan_io(ch, p.revents, qd_now_ms());
	}
	usleep(1000);
}

#define UNTIL(cond, ms) ({						\
	uint64_t _end = qd_now_ms() + (ms);				\
	bool _ok;							\
	while (!(_ok = (cond)) && qd_now_ms() < _end)			\
		spin_once();						\
	_ok; })

static bool start(struct tnode *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool start(struct tnode *n, const char *fmt, ...)
{
	char text[1024], err[512];
	va_list ap;
	SSL_CTX *ssl;
	FILE *f;
	int r;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	f = fmemopen(text, strlen(text), "r");
	r = ctrld_config_parse(f, n->name, dir, &n->cfg, err, sizeof(err));
	fclose(f);
	if (r) {
		printf("# %s: %s\n", n->name, err);
		return false;
	}
	ssl = qd_tls_ctx_new(n->cfg.common.cert, n->cfg.common.key,
			     n->cfg.common.ca, err, sizeof(err));
	if (!ssl || ctrld_core_init(&n->core, &n->cfg, ssl, &ops, n, err,
				    sizeof(err))) {
		printf("# %s: %s\n", n->name, err);
		return false;
	}
	n->live = true;
	n->n_ans = 0;
	n->refuse_n = 0;
	ctrld_core_set_node(&n->core, n->name);
	return true;
}

static void stop(struct tnode *n)
{
	if (!n->live)
		return;
	ctrld_core_free(&n->core);
	ctrld_config_free(&n->cfg);
	n->live = false;
}

/* "peer:up:bytes ..." */
static void links(struct tnode *n, const char *spec)
{
	struct ctrld_link l[8];
	char buf[256], *tok, *save;
	size_t k = 0;
	unsigned int up;
	unsigned long long bytes;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, " ", &save); tok && k < 8;
	     tok = strtok_r(NULL, " ", &save)) {
		char *c1 = strchr(tok, ':');

		memset(&l[k], 0, sizeof(l[k]));
		*c1 = '\0';
		sscanf(c1 + 1, "%u:%llu", &up, &bytes);
		snprintf(l[k].peer, sizeof(l[k].peer), "%s", tok);
		l[k].up = up;
		l[k].own_bytes = bytes;
		k++;
	}
	ctrld_core_set_links(&n->core, l, k, qd_now_ms());
}

static bool has_lsa(struct tnode *n, const char *origin)
{
	return ctrld_lsdb_find(&n->core.db, origin) != NULL;
}

static bool route_is(struct tnode *n, const char *dst, const char *want)
{
	const struct ctrld_route *r = ctrld_rtable_find(&n->core.installed, dst);
	char buf[512];

	if (!want)
		return !r;
	return r && !strcmp(ctrld_path_str(&r->path, buf, sizeof(buf)), want);
}

static bool log_has(const char *what)
{
	return file_has(logpath, what);
}

static void ports(void)
{
	alice.port = free_port();
	do
		bob.port = free_port();
	while (bob.port == alice.port);
	do
		carol.port = free_port();
	while (carol.port == alice.port || carol.port == bob.port);
}

static void request(struct tnode *n, uint32_t msg, uint32_t id,
		    const char *dst, uint32_t bytes, const char *peer)
{
	struct ctrld_req r = { .msg = msg, .ctrl_id = id, .relay_bytes = bytes };

	memset(r.relay_id, id, sizeof(r.relay_id));
	snprintf(r.src, sizeof(r.src), "%s", n->name);
	snprintf(r.dst, sizeof(r.dst), "%s", dst);
	snprintf(r.peer, sizeof(r.peer), "%s", peer ? peer : "");
	ctrld_core_request(&n->core, &r, qd_now_ms());
}

/* A test client: file's certificate, hello as id, dialling port. */
static const struct qd_chan_ops raw_ops = { .magic = QD_MAGIC_CX };

static struct qd_chan *raw_dial(const char *file, const char *id,
				const char *expect, int port)
{
	char p[8], addr[QD_ADDR_STR], err[256];
	struct qd_chan *ch;
	SSL_CTX *ctx;
	bool busy;
	int fd;

	snprintf(p, sizeof(p), "%d", port);
	ctx = pki_ctx(file, err, sizeof(err));
	fd = qd_net_dial("127.0.0.1", p, &busy, addr, sizeof(addr), err,
			 sizeof(err));
	ch = qd_chan_new(fd, ctx, true, busy, id, expect, addr, &raw_ops, NULL,
			 qd_now_ms());
	SSL_CTX_free(ctx);
	qd_chan_add(&raw, ch);
	return ch;
}

static void raw_free(void)
{
	struct qd_chan *ch;

	while ((ch = raw)) {
		raw = ch->next;
		qd_chan_free(ch);
	}
}

#define TLSCONF(n) "cert = " n ".crt\nkey = " n ".key\nca = ca.crt\n"

static void test_distributed(void)
{
	const struct ctrld_answer *a;
	struct qd_chan *ch;
	uint64_t seq;
	bool ok;

	ports();
	ok = start(&alice, "mode = distributed\nlisten = 127.0.0.1:%d\n" TLSCONF("alice")
		   "peer bob = 127.0.0.1:%d\nlow_key = 1000\nlsa_max_age = 3\n",
		   alice.port, bob.port);
	ok = ok && start(&bob, "listen = 127.0.0.1:%d\n" TLSCONF("bob")
			 "peer carol = 127.0.0.1:%d\nlow_key = 1000\nlsa_max_age = 3\n",
			 bob.port, carol.port);
	ok = ok && start(&carol, "listen = 127.0.0.1:%d\n" TLSCONF("carol")
			 "low_key = 1000\nlsa_max_age = 3\n", carol.port);
	if (!tap_ok(ok, "distributed: three cores started"))
		return;
	links(&alice, "bob:1:5000");
	links(&bob, "alice:1:5000 carol:1:5000");
	links(&carol, "bob:1:5000");

	ok = UNTIL(ctrld_core_up(&alice.core) == 1 && ctrld_core_up(&bob.core) == 2 &&
		   ctrld_core_up(&carol.core) == 1, 10000);
	tap_ok(ok, "channels: alice dials bob, bob dials carol, all up over TLS");
	ok = UNTIL(has_lsa(&alice, "carol") && has_lsa(&carol, "alice") &&
		   has_lsa(&bob, "alice") && has_lsa(&bob, "carol"), 5000);
	tap_ok(ok, "flooding: every core has every node's LSA, two hops away too");
	ok = UNTIL(route_is(&alice, "carol", "alice bob carol") &&
		   route_is(&alice, "bob", "alice bob") &&
		   route_is(&carol, "alice", "carol bob alice") &&
		   route_is(&bob, "carol", "bob carol"), 5000);
	tap_ok(ok && alice.n_set >= 2, "routes: every core publishes its routes (alice: %d set)",
	       alice.n_set);

	request(&alice, QKDN_MSG_NEXT_HOP_REQUEST, 7, "carol", 48, NULL);
	a = last_answer(&alice);
	tap_ok(a && a->msg == QKDN_MSG_NEXT_HOP_RESPONSE && a->ctrl_id == 7 &&
	       !a->err && !strcmp(a->path.node[1], "bob"),
	       "next hop: alice to carol goes to bob");
	tap_ok(log_has("received \"key relay next hop request\" ctrl-id 7 relay 07070707-") &&
	       log_has("sent \"response to key relay next hop request\" ctrl-id 7: next hop bob (route alice bob carol, metric 2, 5000 bytes available)"),
	       "next hop: both messages logged by their Q.4160 names");
	request(&bob, QKDN_MSG_NEXT_HOP_REQUEST, 8, "carol", 48, "alice");
	a = last_answer(&bob);
	tap_ok(a && !a->err && !strcmp(a->path.node[1], "carol"),
	       "next hop: bob passes alice's relay on to carol");
	request(&bob, QKDN_MSG_NEXT_HOP_REQUEST, 9, "alice", 48, "carol");
	a = last_answer(&bob);
	tap_ok(a && !a->err && !strcmp(a->path.node[1], "alice"),
	       "next hop: and carol's to alice");
	request(&alice, QKDN_MSG_NEXT_HOP_REQUEST, 10, "carol", 6000, NULL);
	a = last_answer(&alice);
	tap_ok(a && a->ctrl_id == 10 && a->err == EHOSTUNREACH &&
	       !strcmp(a->errmsg, "no route to carol with 6000 bytes of key on every hop"),
	       "no route: EHOSTUNREACH, '%s'", a ? a->errmsg : "");
	request(&alice, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, 11, "carol", 48, NULL);
	a = last_answer(&alice);
	tap_ok(a && a->msg == QKDN_MSG_KEY_RELAY_REQUEST && a->path.n == 3 &&
	       !strcmp(a->path.node[2], "carol"),
	       "full route: a key relay request notification gets the whole route");

	links(&bob, "alice:1:5000 carol:0:5000");
	ok = UNTIL(route_is(&alice, "carol", NULL), 5000);
	tap_ok(ok && alice.n_del >= 1, "link down: bob's link to carol goes down, alice withdraws the route");
	request(&alice, QKDN_MSG_NEXT_HOP_REQUEST, 12, "carol", 1, NULL);
	a = last_answer(&alice);
	tap_ok(a && a->err == EHOSTUNREACH, "link down: no next hop to carol");
	links(&bob, "alice:1:5000 carol:1:300");
	ok = UNTIL(route_is(&alice, "carol", "alice bob carol"), 5000);
	tap_ok(ok && ctrld_rtable_find(&alice.core.installed, "carol")->path.avail == 300,
	       "link up: the route is back, with the scarcest hop's 300 bytes");

	/* Identities. */
	ch = raw_dial("carol", "alice", "bob", bob.port);
	ok = UNTIL(ch->state == QD_CHAN_CLOSED, 5000);
	tap_ok(ok && UNTIL(log_has("refused: certificate does not name node 'alice'"), 2000),
	       "identity: carol's certificate with alice's hello is refused and logged");
	ch = raw_dial("mallory", "alice", "bob", bob.port);
	ok = UNTIL(ch->state == QD_CHAN_CLOSED, 5000);
	tap_ok(ok && !ch->was_up && UNTIL(log_has("refused: TLS handshake"), 2000),
	       "identity: a certificate from another CA fails the handshake");
	ch = raw_dial("carol", "carol", "alice", alice.port);
	ok = UNTIL(ch->state == QD_CHAN_CLOSED, 5000);
	tap_ok(ok && UNTIL(log_has("claiming carol refused: no link to node 'carol'"), 2000),
	       "identity: a node with no link to alice is refused");
	tap_ok(ctrld_core_up(&alice.core) == 1 && ctrld_core_up(&bob.core) == 2,
	       "identity: the real channels stayed up");
	alice2.port = free_port();
	ok = start(&alice2, "listen = 127.0.0.1:%d\n" TLSCONF("alice")
		   "peer bob = 127.0.0.1:%d\n", alice2.port, carol.port);
	links(&alice2, "bob:1:5000");
	ok = ok && UNTIL(log_has("bob [127.0.0.1:") && log_has("no Cx channel: TLS handshake"), 5000);
	tap_ok(ok && ctrld_core_up(&alice2.core) == 0,
	       "identity: a core dialling bob's address that carol answers refuses carol");
	stop(&alice2);

	/* A restart: numbers from the wall clock, above the old ones. */
	seq = ctrld_lsdb_find(&alice.core.db, "bob")->lsa.seq;
	stop(&bob);
	ok = start(&bob, "listen = 127.0.0.1:%d\n" TLSCONF("bob")
		   "peer carol = 127.0.0.1:%d\nlow_key = 1000\nlsa_max_age = 3\n",
		   bob.port, carol.port);
	links(&bob, "alice:1:5000 carol:1:5000");
	ok = ok && UNTIL(ctrld_core_up(&bob.core) == 2 &&
			 ctrld_lsdb_find(&alice.core.db, "bob")->lsa.seq > seq &&
			 route_is(&alice, "carol", "alice bob carol") &&
			 ctrld_rtable_find(&alice.core.installed, "carol")->path.avail == 5000,
			 8000);
	tap_ok(ok, "restart: bob comes back, its new LSAs are taken as newer");

	/* carol's controller goes silent: its LSA ages out. */
	stop(&carol);
	ok = UNTIL(!has_lsa(&alice, "carol") && !has_lsa(&bob, "carol"), 8000);
	tap_ok(ok && log_has("LSA of carol reached the maximum age (3 s): dropped"),
	       "ageing: a vanished controller's LSA is dropped at the maximum age");
	tap_ok(has_lsa(&alice, "bob") && has_lsa(&bob, "alice") &&
	       route_is(&alice, "bob", "alice bob"),
	       "ageing: the live nodes keep refreshing theirs");
	stop(&alice);
	stop(&bob);
	raw_free();
}

static void test_central(void)
{
	const struct ctrld_answer *a;
	bool ok;

	ports();
	ok = start(&alice, "mode = central\nlisten = 127.0.0.1:%d\n" TLSCONF("alice")
		   "low_key = 1000\n", alice.port);
	ok = ok && start(&bob, "mode = agent\ncontroller alice = 127.0.0.1:%d\n"
			 TLSCONF("bob"), alice.port);
	ok = ok && start(&carol, "mode = agent\ncontroller alice = 127.0.0.1:%d\n"
			 TLSCONF("carol"), alice.port);
	if (!tap_ok(ok, "central: a controller and two agents started"))
		return;
	links(&alice, "bob:1:5000");
	links(&bob, "alice:1:5000 carol:1:5000");
	links(&carol, "bob:1:5000");
	ok = UNTIL(ctrld_core_up(&alice.core) == 2 && ctrld_core_up(&bob.core) == 1 &&
		   ctrld_core_up(&carol.core) == 1, 10000);
	tap_ok(ok, "central: both agents dial the controller");
	ok = UNTIL(has_lsa(&alice, "bob") && has_lsa(&alice, "carol"), 5000);
	tap_ok(ok && !has_lsa(&carol, "bob"),
	       "central: the controller has every node's link state; agents only their own");
	ok = UNTIL(route_is(&carol, "alice", "carol bob alice") &&
		   route_is(&bob, "carol", "bob carol") &&
		   route_is(&alice, "carol", "alice bob carol"), 5000);
	tap_ok(ok, "central: the controller's routes reach every agent and its own node");

	request(&carol, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, 21, "alice", 48, NULL);
	ok = UNTIL(carol.n_ans == 1, 3000);
	a = last_answer(&carol);
	tap_ok(ok && a->msg == QKDN_MSG_KEY_RELAY_REQUEST && a->ctrl_id == 21 &&
	       !a->err && a->path.n == 3 && !strcmp(a->path.node[0], "carol") &&
	       !strcmp(a->path.node[1], "bob") && !strcmp(a->path.node[2], "alice"),
	       "central: carol's key relay request notification gets its full route");
	tap_ok(log_has("sent \"key relay request\" ctrl-id 21: route carol bob alice (metric 2, 5000 bytes available)") &&
	       log_has("received \"key relay request notification\" from carol ctrl-id 21") &&
	       log_has("sent \"key relay request\" to carol ctrl-id 21: route carol bob alice"),
	       "central: the controller logs both by their Q.4160 names");
	request(&carol, QKDN_MSG_KEY_RELAY_RESPONSE, 0, "alice", 0, NULL);
	ok = UNTIL(log_has("received \"response to key relay request\" from carol relay 00000000-0000-0000-0000-000000000000 carol -> alice: completed"), 3000);
	tap_ok(ok, "central: the response to key relay request reaches the controller's log");
	request(&carol, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, 22, "alice", 6000, NULL);
	ok = UNTIL(carol.n_ans == 2, 3000);
	a = last_answer(&carol);
	tap_ok(ok && a->err == EHOSTUNREACH &&
	       !strcmp(a->errmsg, "no route to alice with 6000 bytes of key on every hop"),
	       "central: no route comes back as EHOSTUNREACH with the reason");
	request(&alice, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, 23, "carol", 48, NULL);
	a = last_answer(&alice);
	tap_ok(a && !a->err && a->path.n == 3, "central: the controller's own node is answered too");

	links(&bob, "alice:1:5000 carol:0:5000");
	ok = UNTIL(route_is(&carol, "alice", "carol bob alice") &&
		   route_is(&bob, "carol", NULL) && route_is(&alice, "carol", NULL), 5000);
	tap_ok(ok, "central: a link down withdraws the routes that used it, at the agents too");

	stop(&alice);
	ok = UNTIL(ctrld_core_up(&carol.core) == 0, 5000);
	request(&carol, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, 24, "alice", 48, NULL);
	a = last_answer(&carol);
	tap_ok(ok && a && a->ctrl_id == 24 && a->err == EHOSTUNREACH &&
	       !strcmp(a->errmsg, "QKDN controller alice is not reachable"),
	       "agent: without its controller, a request fails at once");
	stop(&bob);
	stop(&carol);
}

/* Kernel messages that expect no answer, and I.2 requests. */

static void relay_response(struct tnode *n, uint8_t relay, const char *src,
			   const char *dst, uint32_t err)
{
	struct ctrld_req r = { .msg = QKDN_MSG_KEY_RELAY_RESPONSE, .err = err };

	memset(r.relay_id, relay, sizeof(r.relay_id));
	snprintf(r.src, sizeof(r.src), "%s", src);
	snprintf(r.dst, sizeof(r.dst), "%s", dst);
	ctrld_core_request(&n->core, &r, qd_now_ms());
}

static void session_request(struct tnode *n, uint32_t id, const char *dst,
			    const char *master, const char *slave)
{
	struct ctrld_req r = { .msg = QKDN_MSG_SESSION_CREATION_REQUEST,
			       .ctrl_id = id };

	snprintf(r.src, sizeof(r.src), "%s", n->name);
	snprintf(r.dst, sizeof(r.dst), "%s", dst);
	snprintf(r.master, sizeof(r.master), "%s", master);
	snprintf(r.slave, sizeof(r.slave), "%s", slave);
	ctrld_core_request(&n->core, &r, qd_now_ms());
}

static void session_response(struct tnode *n, uint32_t sid, const char *src,
			     uint32_t err)
{
	struct ctrld_req r = { .msg = QKDN_MSG_SESSION_NOTIFICATION_RESPONSE,
			       .session_id = sid, .err = err };

	snprintf(r.src, sizeof(r.src), "%s", src);
	snprintf(r.dst, sizeof(r.dst), "%s", n->name);
	ctrld_core_request(&n->core, &r, qd_now_ms());
}

/* The latest msg with relay ID relay (each byte) since the from-th. */
static const struct ctrld_answer *got_relay(struct tnode *n, uint32_t msg,
					    uint8_t relay, int from)
{
	int i;

	for (i = n->n_ans - 1; i >= from && i >= n->n_ans - NANS; i--)
		if (n->ans[i % NANS].msg == msg &&
		    n->ans[i % NANS].relay_id[0] == relay)
			return &n->ans[i % NANS];
	return NULL;
}

static bool path_is(const struct ctrld_path *p, const char *want)
{
	char buf[512];

	return !strcmp(ctrld_path_str(p, buf, sizeof(buf)), want);
}

static bool logf_has(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static bool logf_has(const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return log_has(what);
}

#define CENTRAL_UP(extra)						\
	(ports(),							\
	 start(&alice, "mode = central\nlisten = 127.0.0.1:%d\n"	\
	       TLSCONF("alice") extra, alice.port) &&			\
	 start(&bob, "mode = agent\ncontroller alice = 127.0.0.1:%d\n"	\
	       TLSCONF("bob"), alice.port) &&				\
	 start(&carol, "mode = agent\ncontroller alice = 127.0.0.1:%d\n" \
	       TLSCONF("carol"), alice.port))

#define R31 "1f1f1f1f-1f1f-1f1f-1f1f-1f1f1f1f1f1f"

static void test_reserve(void)
{
	const struct ctrld_answer *a;
	uint64_t t0;
	int from, from_b;
	uint32_t sid;
	bool ok;

	if (!tap_ok(CENTRAL_UP("relay_scheme = reserve\n"),
		    "I.4b: a controller with relay_scheme reserve and two agents started"))
		return;
	links(&alice, "bob:1:5000");
	links(&bob, "alice:1:5000 carol:1:5000");
	links(&carol, "bob:1:5000");
	ok = UNTIL(ctrld_core_up(&alice.core) == 2 && ctrld_core_up(&bob.core) == 1 &&
		   ctrld_core_up(&carol.core) == 1 && has_lsa(&alice, "bob") &&
		   has_lsa(&alice, "carol"), 10000);
	tap_ok(ok, "I.4b: agents up, link state in");

	/* KM1 carol, KM2 bob, whose reservation is three tries late. */
	refuse(&bob, QKDN_MSG_KEY_RELAY_REQUEST, 3, ENOENT,
	       "no key reservation for this relay here");
	request(&carol, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, 31, "alice", 48, NULL);
	ok = UNTIL(count(&bob, QKDN_MSG_KEY_RELAY_REQUEST, 0) == 4, 3000);
	a = got(&carol, QKDN_MSG_KEY_RESERVATION_REQUEST, 0);
	tap_ok(a && a->ctrl_id == 31 && !strcmp(a->path.node[1], "bob") &&
	       path_is(&a->path, "carol bob alice"),
	       "I.4b: KM1 carol is given a key reservation request for ctrl-id 31, next hop bob");
	a = got(&bob, QKDN_MSG_KEY_RELAY_REQUEST, 0);
	tap_ok(ok && a && !a->ctrl_id && a->relay_id[0] == 31 &&
	       path_is(&a->path, "carol bob alice"),
	       "I.4b: KM2 bob is given the key relay request (relay ID, full route), retried after 3 ENOENT");
	tap_ok(!got(&carol, QKDN_MSG_KEY_ALLOCATION_REQUEST, 0) &&
	       !got(&carol, QKDN_MSG_KEY_RELAY_REQUEST, 0),
	       "I.4b: nothing allocated before KM2's response, no route to KM1");
	relay_response(&bob, 31, "carol", "alice", 0);
	ok = UNTIL(got(&carol, QKDN_MSG_KEY_ALLOCATION_REQUEST, 0), 3000);
	a = got(&carol, QKDN_MSG_KEY_ALLOCATION_REQUEST, 0);
	tap_ok(ok && a->relay_id[0] == 31 && !a->ctrl_id && !a->err,
	       "I.4b: KM2's response to key relay request: KM1 gets the key allocation request");
	ok = UNTIL(log_has("received \"response to key allocation request\" from carol relay " R31 ": the keys are the application's"), 3000);
	tap_ok(ok && log_has("received \"key relay request notification\" from carol ctrl-id 31 relay " R31) &&
	       log_has("sent \"key reservation request\" to carol ctrl-id 31 relay " R31 ": next hop bob (route carol bob alice, metric 2, 5000 bytes available)") &&
	       log_has("received \"response to key reservation request\" from carol relay " R31 ": keys reserved on the link to bob") &&
	       log_has("relay " R31 ": bob holds no key reservation yet; retrying every 50 ms for up to 2000 ms") &&
	       log_has("sent \"key relay request\" to bob relay " R31 ": route carol bob alice") &&
	       log_has("received \"response to key relay request\" from bob relay " R31 " carol -> alice: completed") &&
	       log_has("sent \"key allocation request\" to carol relay " R31 ": the reserved keys are the application's"),
	       "I.4b: the controller logs every message by its Q.4160 name");
	tap_ok(log_has("sent \"key reservation request\" ctrl-id 31 relay " R31 ": next hop bob") &&
	       log_has("sent \"key relay request\" relay " R31 ": route carol bob alice") &&
	       log_has("the kernel refused \"key relay request\" relay " R31 ": no key reservation for this relay here (No such file or directory)") &&
	       log_has("sent \"key allocation request\" relay " R31 ": the reserved keys"),
	       "I.4b: the agents log the commands they give their kernels");

	/* KM1 the controller's own node; the relay fails beyond KM2. */
	from = alice.n_ans;
	from_b = bob.n_ans;
	request(&alice, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, 32, "carol", 48, NULL);
	a = got(&alice, QKDN_MSG_KEY_RESERVATION_REQUEST, from);
	tap_ok(a && a->ctrl_id == 32 && !strcmp(a->path.node[1], "bob"),
	       "I.4b: the controller's own kernel is KM1");
	ok = UNTIL(got_relay(&bob, QKDN_MSG_KEY_RELAY_REQUEST, 32, from_b), 3000);
	relay_response(&bob, 32, "alice", "carol", ETIMEDOUT);
	ok = ok && UNTIL(got(&alice, QKDN_MSG_KEY_ALLOCATION_REQUEST, from), 3000);
	a = got(&alice, QKDN_MSG_KEY_ALLOCATION_REQUEST, from);
	tap_ok(ok && a->relay_id[0] == 32 && a->err == ETIMEDOUT &&
	       !strcmp(a->errmsg, "key relay from bob to carol failed: Connection timed out"),
	       "I.4b: a failed relay: the allocation carries its errno and '%s'",
	       a ? a->errmsg : "");

	/* Two nodes: I.4a. */
	from_b = bob.n_ans;
	request(&bob, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, 33, "alice", 48, NULL);
	ok = UNTIL(got(&bob, QKDN_MSG_KEY_RELAY_REQUEST, from_b), 3000);
	a = got(&bob, QKDN_MSG_KEY_RELAY_REQUEST, from_b);
	tap_ok(ok && a->ctrl_id == 33 && path_is(&a->path, "bob alice") &&
	       !got(&bob, QKDN_MSG_KEY_RESERVATION_REQUEST, from_b),
	       "I.4b: a route of two nodes is answered with the route (I.4a)");

	/* KM1 refuses the reservation: its request fails at once. */
	refuse(&carol, QKDN_MSG_KEY_RESERVATION_REQUEST, 1, EHOSTUNREACH,
	       "this node has no KM link to the next hop");
	from = carol.n_ans;
	request(&carol, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, 34, "alice", 48, NULL);
	ok = UNTIL(got(&carol, QKDN_MSG_KEY_RELAY_REQUEST, from), 3000);
	a = got(&carol, QKDN_MSG_KEY_RELAY_REQUEST, from);
	tap_ok(ok && a->ctrl_id == 34 && a->err == EHOSTUNREACH &&
	       !strcmp(a->errmsg, "key reservation failed at carol: this node has no KM link to the next hop") &&
	       !got_relay(&bob, QKDN_MSG_KEY_RELAY_REQUEST, 34, 0),
	       "I.4b: a refused reservation fails KM1's request: '%s'", a ? a->errmsg : "");

	/* KM2 never holds the reservation; meanwhile a session creation
	 * that bob's SAE never answers runs out too.
	 */
	refuse(&bob, QKDN_MSG_KEY_RELAY_REQUEST, 1000, ENOENT,
	       "no key reservation for this relay here");
	from = carol.n_ans;
	from_b = bob.n_ans;
	t0 = qd_now_ms();
	session_request(&carol, 55, "bob", "sae-c", "sae-b");
	request(&carol, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, 35, "alice", 48, NULL);
	ok = UNTIL(got(&carol, QKDN_MSG_KEY_ALLOCATION_REQUEST, from), 4000);
	a = got(&carol, QKDN_MSG_KEY_ALLOCATION_REQUEST, from);
	tap_ok(ok && a->relay_id[0] == 35 && a->err == ETIMEDOUT &&
	       !strcmp(a->errmsg, "the key reservation did not reach bob within 2000 ms") &&
	       qd_now_ms() - t0 >= 2000 &&
	       count(&bob, QKDN_MSG_KEY_RELAY_REQUEST, from_b) >= 15,
	       "I.4b: ENOENT for 2 s: the allocation fails with ETIMEDOUT (%d tries)",
	       count(&bob, QKDN_MSG_KEY_RELAY_REQUEST, from_b));
	refuse(&bob, 0, 0, 0, NULL);

	/* KM2 never answers. */
	from = carol.n_ans;
	request(&carol, QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, 36, "alice", 48, NULL);
	ok = UNTIL(got_relay(&carol, QKDN_MSG_KEY_ALLOCATION_REQUEST, 36, from), 7000);
	a = got_relay(&carol, QKDN_MSG_KEY_ALLOCATION_REQUEST, 36, from);
	tap_ok(ok && a->err == ETIMEDOUT &&
	       !strcmp(a->errmsg, "no response to key relay request from bob within 5000 ms"),
	       "I.4b: KM2 silent for 5 s: '%s'", a ? a->errmsg : "");
	a = got(&carol, QKDN_MSG_SESSION_CREATION_RESPONSE, 0);
	tap_ok(a && a->ctrl_id == 55 && a->err == ETIMEDOUT &&
	       !strcmp(a->errmsg, "no response to the session creation notification from bob within 5000 ms"),
	       "I.2 central: a session creation times out after 5 s: '%s'", a ? a->errmsg : "");

	/* A response for a relay that is over changes nothing. */
	from = carol.n_ans;
	relay_response(&bob, 36, "carol", "alice", 0);
	UNTIL(false, 200);
	tap_ok(!got(&carol, QKDN_MSG_KEY_ALLOCATION_REQUEST, from),
	       "I.4b: a replayed response to key relay request allocates nothing");

	/* I.2 through agents: carol's SAE and bob's. */
	from = carol.n_ans;
	from_b = bob.n_ans;
	session_request(&carol, 51, "bob", "sae-c", "sae-b");
	ok = UNTIL(got(&bob, QKDN_MSG_SESSION_CREATION_NOTIFICATION, from_b), 3000);
	a = got(&bob, QKDN_MSG_SESSION_CREATION_NOTIFICATION, from_b);
	sid = a ? a->session_id : 0;
	tap_ok(ok && sid && !strcmp(a->src, "carol") && !strcmp(a->master, "sae-c") &&
	       !strcmp(a->slave, "sae-b"),
	       "I.2 central: bob's kernel is given the session creation notification, session %u", sid);
	tap_ok(!got(&carol, QKDN_MSG_SESSION_CREATION_RESPONSE, from),
	       "I.2 central: no response before the slave SAE answered");
	session_response(&bob, sid, "carol", 0);
	ok = UNTIL(got(&carol, QKDN_MSG_SESSION_CREATION_RESPONSE, from), 3000);
	a = got(&carol, QKDN_MSG_SESSION_CREATION_RESPONSE, from);
	tap_ok(ok && a->ctrl_id == 51 && a->session_id == sid && !a->err,
	       "I.2 central: carol's kernel gets the response with the session ID");
	tap_ok(log_has("received \"session creation request\" from carol ctrl-id 51: master sae-c at carol, slave sae-b at bob") &&
	       logf_has("sent \"session creation notification\" to bob session %u: master sae-c at carol, slave sae-b", sid) &&
	       logf_has("received \"response to session creation notification\" from bob session %u carol -> bob: accepted", sid) &&
	       logf_has("sent \"response to session creation request\" to carol ctrl-id 51: session %u", sid),
	       "I.2 central: every message logged by its Q.4160 name");

	refuse(&bob, QKDN_MSG_SESSION_CREATION_NOTIFICATION, 1, ECONNREFUSED,
	       "the slave SAE is not listening");
	from = carol.n_ans;
	session_request(&carol, 52, "bob", "sae-c", "sae-x");
	ok = UNTIL(got(&carol, QKDN_MSG_SESSION_CREATION_RESPONSE, from), 3000);
	a = got(&carol, QKDN_MSG_SESSION_CREATION_RESPONSE, from);
	tap_ok(ok && a->ctrl_id == 52 && a->err == ECONNREFUSED && !a->session_id &&
	       !strcmp(a->errmsg, "bob: the slave SAE is not listening"),
	       "I.2 central: refused by the destination's kernel: '%s'", a ? a->errmsg : "");

	from = alice.n_ans;
	session_request(&alice, 53, "carol", "sae-a", "sae-c");
	ok = UNTIL(got(&carol, QKDN_MSG_SESSION_CREATION_NOTIFICATION, 0), 3000);
	a = got(&carol, QKDN_MSG_SESSION_CREATION_NOTIFICATION, 0);
	sid = a ? a->session_id : 0;
	session_response(&carol, sid, "alice", EACCES);
	ok = ok && UNTIL(got(&alice, QKDN_MSG_SESSION_CREATION_RESPONSE, from), 3000);
	a = got(&alice, QKDN_MSG_SESSION_CREATION_RESPONSE, from);
	tap_ok(ok && a->ctrl_id == 53 && a->err == EACCES &&
	       !strcmp(a->errmsg, "the slave SAE sae-c at carol refused the session"),
	       "I.2 central: the controller's own node; declined by the slave SAE: '%s'",
	       a ? a->errmsg : "");
	session_response(&carol, sid, "alice", 0);
	ok = UNTIL(logf_has("session %u: no session creation waits for a response from carol: ignored", sid), 3000);
	tap_ok(ok && count(&alice, QKDN_MSG_SESSION_CREATION_RESPONSE, from) == 1,
	       "I.2 central: a replayed response is ignored");

	from = carol.n_ans;
	session_request(&carol, 54, "dave", "sae-c", "sae-d");
	ok = UNTIL(got(&carol, QKDN_MSG_SESSION_CREATION_RESPONSE, from), 3000);
	a = got(&carol, QKDN_MSG_SESSION_CREATION_RESPONSE, from);
	tap_ok(ok && a->err == EHOSTUNREACH &&
	       !strcmp(a->errmsg, "dave: not reachable: no agent of it is connected"),
	       "I.2 central: a destination without agent: '%s'", a ? a->errmsg : "");
	stop(&alice);
	stop(&bob);
	stop(&carol);
}

static void test_session_distributed(void)
{
	const struct ctrld_answer *a;
	int from, from_c;
	uint32_t sid;
	bool ok;

	ports();
	ok = start(&alice, "listen = 127.0.0.1:%d\n" TLSCONF("alice")
		   "peer bob = 127.0.0.1:%d\n", alice.port, bob.port);
	ok = ok && start(&bob, "listen = 127.0.0.1:%d\n" TLSCONF("bob")
			 "peer carol = 127.0.0.1:%d\n", bob.port, carol.port);
	ok = ok && start(&carol, "listen = 127.0.0.1:%d\n" TLSCONF("carol"),
			 carol.port);
	if (!tap_ok(ok, "I.2 distributed: three cores started"))
		return;
	links(&alice, "bob:1:5000");
	links(&bob, "alice:1:5000 carol:1:5000");
	links(&carol, "bob:1:5000");
	ok = UNTIL(ctrld_core_up(&bob.core) == 2 && has_lsa(&alice, "carol") &&
		   has_lsa(&carol, "alice"), 10000);
	tap_ok(ok, "I.2 distributed: channels up, LSAs flooded");

	/* Two hops: through bob's controller. */
	session_request(&alice, 61, "carol", "sae-a", "sae-c");
	ok = UNTIL(got(&carol, QKDN_MSG_SESSION_CREATION_NOTIFICATION, 0), 3000);
	a = got(&carol, QKDN_MSG_SESSION_CREATION_NOTIFICATION, 0);
	sid = a ? a->session_id : 0;
	tap_ok(ok && sid && !strcmp(a->src, "alice") && !strcmp(a->master, "sae-a") &&
	       !strcmp(a->slave, "sae-c"),
	       "I.2 distributed: the notification crosses bob to carol's kernel");
	tap_ok(!bob.n_ans, "I.2 distributed: bob's kernel is not involved");
	session_response(&carol, sid, "alice", 0);
	ok = UNTIL(got(&alice, QKDN_MSG_SESSION_CREATION_RESPONSE, 0), 3000);
	a = got(&alice, QKDN_MSG_SESSION_CREATION_RESPONSE, 0);
	tap_ok(ok && a->ctrl_id == 61 && a->session_id == sid && !a->err,
	       "I.2 distributed: the response comes back the same way");
	tap_ok(log_has("received \"session creation request\" ctrl-id 61: master sae-a at alice, slave sae-c at carol") &&
	       logf_has("sent \"session creation notification\" to carol session %u: master sae-a at alice, slave sae-c", sid) &&
	       logf_has("received \"session creation notification\" from alice session %u: master sae-a at alice, slave sae-c at carol", sid) &&
	       logf_has("sent \"session creation notification\" session %u: master sae-a at alice, slave sae-c", sid) &&
	       logf_has("sent \"response to session creation notification\" to alice session %u alice -> carol: accepted", sid) &&
	       logf_has("received \"response to session creation notification\" from carol session %u alice -> carol: accepted", sid) &&
	       logf_has("sent \"response to session creation request\" ctrl-id 61: session %u", sid),
	       "I.2 distributed: every message logged by its Q.4160 name");

	/* Refused by carol's kernel: back at once. */
	refuse(&carol, QKDN_MSG_SESSION_CREATION_NOTIFICATION, 1, ECONNREFUSED,
	       "the slave SAE is not listening");
	from = alice.n_ans;
	session_request(&alice, 62, "carol", "sae-a", "sae-x");
	ok = UNTIL(got(&alice, QKDN_MSG_SESSION_CREATION_RESPONSE, from), 3000);
	a = got(&alice, QKDN_MSG_SESSION_CREATION_RESPONSE, from);
	tap_ok(ok && a->ctrl_id == 62 && a->err == ECONNREFUSED &&
	       !strcmp(a->errmsg, "carol: the slave SAE is not listening"),
	       "I.2 distributed: refused by the destination's kernel: '%s'", a ? a->errmsg : "");

	/* Adjacent, declined by the slave SAE. */
	from_c = carol.n_ans;
	session_request(&bob, 63, "carol", "sae-b", "sae-c");
	ok = UNTIL(got(&carol, QKDN_MSG_SESSION_CREATION_NOTIFICATION, from_c), 3000);
	a = got(&carol, QKDN_MSG_SESSION_CREATION_NOTIFICATION, from_c);
	sid = a ? a->session_id : 0;
	session_response(&carol, sid, "bob", EACCES);
	ok = ok && UNTIL(got(&bob, QKDN_MSG_SESSION_CREATION_RESPONSE, 0), 3000);
	a = got(&bob, QKDN_MSG_SESSION_CREATION_RESPONSE, 0);
	tap_ok(ok && a->ctrl_id == 63 && a->err == EACCES &&
	       !strcmp(a->errmsg, "the slave SAE sae-c at carol refused the session"),
	       "I.2 distributed: an adjacent node; declined by the slave SAE");
	session_response(&carol, sid, "bob", 0);
	ok = UNTIL(logf_has("session %u: no session creation waits for a response from carol: ignored", sid), 3000);
	tap_ok(ok && count(&bob, QKDN_MSG_SESSION_CREATION_RESPONSE, 0) == 1,
	       "I.2 distributed: a replayed response is ignored");

	/* This node itself. */
	from = alice.n_ans;
	session_request(&alice, 64, "alice", "sae-a", "sae-a2");
	a = got(&alice, QKDN_MSG_SESSION_CREATION_NOTIFICATION, from);
	sid = a ? a->session_id : 0;
	session_response(&alice, sid, "alice", 0);
	a = got(&alice, QKDN_MSG_SESSION_CREATION_RESPONSE, from);
	tap_ok(sid && a && a->ctrl_id == 64 && a->session_id == sid,
	       "I.2 distributed: both SAEs at this node");

	/* Nowhere to go. */
	from = alice.n_ans;
	session_request(&alice, 65, "dave", "sae-a", "sae-d");
	a = got(&alice, QKDN_MSG_SESSION_CREATION_RESPONSE, from);
	tap_ok(a && a->ctrl_id == 65 && a->err == EHOSTUNREACH &&
	       !strcmp(a->errmsg, "dave: its QKDN controller is not reachable over Cx"),
	       "I.2 distributed: an unknown destination fails at once: '%s'", a ? a->errmsg : "");

	/* carol's controller gone: the request times out. */
	stop(&carol);
	from = alice.n_ans;
	session_request(&alice, 66, "carol", "sae-a", "sae-c");
	ok = UNTIL(got(&alice, QKDN_MSG_SESSION_CREATION_RESPONSE, from), 7000);
	a = got(&alice, QKDN_MSG_SESSION_CREATION_RESPONSE, from);
	tap_ok(ok && a->ctrl_id == 66 &&
	       (a->err == ETIMEDOUT || a->err == EHOSTUNREACH),
	       "I.2 distributed: a destination whose controller is gone: %s",
	       a ? a->errmsg : "");
	stop(&alice);
	stop(&bob);
}

static void fake_command(uint32_t seq)
{
	struct ctrld_cx_msg m = { .type = CTRLD_CX_COMMAND };
	uint8_t b[CTRLD_CX_MAX];
	int n;

	m.command.seq = seq;
	m.command.cmd.msg = QKDN_MSG_KEY_ALLOCATION_REQUEST;
	memset(m.command.cmd.relay_id, 0x44, QKDN_RELAY_ID_LEN);
	n = ctrld_cx_encode(&m, b, sizeof(b));
	qd_chan_send(fake, b, (size_t)n, qd_now_ms());
}

/* An agent under a controller that sends the same command twice. */
static void test_agent_replay(void)
{
	char p[8], err[256];
	bool ok;

	ports();
	snprintf(p, sizeof(p), "%d", alice.port);
	fake_ssl = pki_ctx("alice", err, sizeof(err));
	fake_lfd = qd_net_listen("127.0.0.1", p, err, sizeof(err));
	ok = fake_ssl && fake_lfd >= 0 &&
	     start(&bob, "mode = agent\ncontroller alice = 127.0.0.1:%d\n"
		   TLSCONF("bob"), alice.port);
	links(&bob, "alice:1:5000");
	ok = ok && UNTIL(fake && ctrld_core_up(&bob.core) == 1, 5000);
	if (!tap_ok(ok, "agent: up under a stand-in controller"))
		goto out;
	fake_command(5);
	fake_command(5);
	fake_command(4);
	fake_command(6);
	ok = UNTIL(fake_results == 2, 3000);
	UNTIL(false, 100);
	tap_ok(ok && fake_results == 2 &&
	       count(&bob, QKDN_MSG_KEY_ALLOCATION_REQUEST, 0) == 2 &&
	       fake_rx.result.seq == 6 && !fake_rx.result.err &&
	       fake_rx.result.msg == QKDN_MSG_KEY_ALLOCATION_REQUEST,
	       "agent: commands 5 and 6 reach the kernel once each and get a result; the replayed 5 and the old 4 are dropped");
	tap_ok(log_has("command 5 from the controller replayed (last 5): dropped") &&
	       log_has("command 4 from the controller replayed (last 5): dropped"),
	       "agent: replays logged");
	refuse(&bob, QKDN_MSG_KEY_ALLOCATION_REQUEST, 1, ENOENT,
	       "no key reservation for this relay here");
	fake_command(7);
	ok = UNTIL(fake_results == 3, 3000);
	tap_ok(ok && fake_rx.result.seq == 7 && fake_rx.result.err == ENOENT &&
	       !strcmp(fake_rx.result.errmsg, "no key reservation for this relay here"),
	       "agent: a refused command's errno and extack go back in its result");
out:
	stop(&bob);
	raw_free();
	fake = NULL;
	close(fake_lfd);
	fake_lfd = -1;
	SSL_CTX_free(fake_ssl);
}

int main(void)
{
	int fd;

	if (!pki_setup(dir))
		return tap_done();
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	qd_log_init("qkdn-controllerd", true, true);
	test_distributed();
	test_central();
	test_reserve();
	test_session_distributed();
	test_agent_replay();
	if (tap_failed || getenv("CTRLD_TEST_LOGS"))
		file_show(logpath, "");
	unlink(logpath);
	pki_teardown(dir);
	printf("1..%d\n", tap_n);
	return tap_done();
}
