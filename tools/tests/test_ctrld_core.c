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
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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
#include "test_linkd_pki.h"

static char dir[] = "/tmp/ctrld-core-XXXXXX";
static char logpath[64];

struct tnode {
	const char *name;
	int port;
	bool live;
	struct ctrld_config cfg;
	struct ctrld_core core;
	struct ctrld_answer ans[8];
	int n_ans;
	int n_set, n_del;
};

static struct tnode alice = { .name = "alice" }, bob = { .name = "bob" },
		    carol = { .name = "carol" }, alice2 = { .name = "alice" };
static struct tnode *const nodes[] = { &alice, &bob, &carol, &alice2 };
static struct qd_chan *raw;	/* test clients, not cores */

/* What the core gives its node. */

static void t_answer(void *ctx, const struct ctrld_answer *a)
{
	struct tnode *n = ctx;

	n->ans[n->n_ans++ % 8] = *a;
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
	return n->n_ans ? &n->ans[(n->n_ans - 1) % 8] : NULL;
}

/* Running the cores. */

static void spin_once(void)
{
	struct pollfd p;
	struct qd_chan *ch;
	size_t i;

	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		if (nodes[i]->live)
			ctrld_core_poll(&nodes[i]->core, NULL, 0, 0);
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
	ssl = qd_tls_ctx_new(n->cfg.cert, n->cfg.key, n->cfg.ca, err, sizeof(err));
	if (!ssl || ctrld_core_init(&n->core, &n->cfg, ssl, &ops, n, err,
				    sizeof(err))) {
		printf("# %s: %s\n", n->name, err);
		return false;
	}
	n->live = true;
	n->n_ans = 0;
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
	char line[1024];
	bool found = false;
	FILE *f = fopen(logpath, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what);
	fclose(f);
	return found;
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
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
	char crt[128], key[128], ca[128], p[8], addr[QD_ADDR_STR], err[256];
	struct qd_chan *ch;
	SSL_CTX *ctx;
	bool busy;
	int fd;

	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, file);
	snprintf(key, sizeof(key), "%s/%s.key", dir, file);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(p, sizeof(p), "%d", port);
	ctx = qd_tls_ctx_new(crt, key, ca, err, sizeof(err));
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

static void cleanup(void)
{
	remove_pki(dir);
	unlink(logpath);
	rmdir(dir);
}

int main(void)
{
	int fd;

	signal(SIGPIPE, SIG_IGN);
	printf("TAP version 13\n");
	if (!mkdtemp(dir)) {
		tap_skip_all("no temporary folder");
		return tap_done();
	}
	make_pki(dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	qd_log_init("qkdn-controllerd", true, true);
	test_distributed();
	test_central();
	if (tap_failed || getenv("CTRLD_TEST_LOGS")) {
		char line[1024];
		FILE *f = fopen(logpath, "r");

		while (f && fgets(line, sizeof(line), f))
			printf("# | %s", line);
		if (f)
			fclose(f);
	}
	free_pki();
	cleanup();
	printf("1..%d\n", tap_n);
	return tap_done();
}
