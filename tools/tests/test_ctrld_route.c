// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd routing and link-state database: chain, ring and star
 * graphs; depleted and down links; no route; the relay's previous hop;
 * the hop limit; ties broken the same way whatever the order LSAs came in;
 * and the database refusing old, replayed and expired LSAs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../controllerd/lsdb.h"
#include "../controllerd/route.h"
#include "tap.h"

static struct ctrld_lsdb db;
static char why[160];

/* Add an edge a->b (and, with both, b->a) to the LSAs in db. */
static void edge(const char *a, const char *b, bool up, uint64_t bytes)
{
	const struct ctrld_lsdb_entry *e = ctrld_lsdb_find(&db, a);
	struct ctrld_lsa l = { 0 };
	struct ctrld_link *k;
	uint32_t i;

	if (e)
		l = e->lsa;
	snprintf(l.origin, sizeof(l.origin), "%s", a);
	for (i = 0; i < l.n_links; i++)
		if (!strcmp(l.links[i].peer, b))
			break;
	k = &l.links[i];
	if (i == l.n_links)
		l.n_links++;
	snprintf(k->peer, sizeof(k->peer), "%s", b);
	k->up = up;
	k->own_bytes = bytes;
	ctrld_lsa_normalize(&l);
	l.seq++;
	ctrld_lsdb_install(&db, &l, 0);
}

static void both(const char *a, const char *b, uint64_t bytes)
{
	edge(a, b, true, bytes);
	edge(b, a, true, bytes);
}

static void reset(void)
{
	ctrld_lsdb_free(&db);
	ctrld_lsdb_init(&db, 60);
}

/* The path from src to dst needing need bytes, as "a b c", or the error. */
static const char *path(const char *src, const char *dst, uint64_t need,
			uint64_t low, const char *avoid, uint32_t *metric)
{
	static char buf[QKDN_ROUTE_HOPS_MAX * QKDN_ID_MAX];
	struct ctrld_graph g = {
		.db = &db, .need = need, .low_key = low, .avoid = avoid,
	};
	struct ctrld_path p;

	if (ctrld_route_path(&g, src, dst, &p, why, sizeof(why)) < 0)
		return "-";
	if (metric)
		*metric = p.metric;
	return ctrld_path_str(&p, buf, sizeof(buf));
}

static bool is(const char *got, const char *want, const char *name)
{
	if (!tap_ok(!strcmp(got, want), "%s", name))
		printf("#   got '%s' (%s), want '%s'\n", got, why, want);
	return !strcmp(got, want);
}

static void test_cost(void)
{
	tap_ok(ctrld_link_cost(5000, 4096) == 1 && ctrld_link_cost(4096, 4096) == 1 &&
	       ctrld_link_cost(0, 4096) == 1 + CTRLD_PENALTY &&
	       ctrld_link_cost(2048, 4096) == 1 + CTRLD_PENALTY / 2 &&
	       ctrld_link_cost(4095, 4096) == 2 && ctrld_link_cost(0, 0) == 1,
	       "cost: 1 at or above low_key, up to 1 + %d for an empty link",
	       CTRLD_PENALTY);
}

static void test_chain(void)
{
	uint32_t m = 0;

	reset();
	both("kme-1", "kme-2", 1000);
	both("kme-2", "kme-3", 1000);
	both("kme-3", "kme-4", 1000);
	is(path("kme-1", "kme-4", 48, 0, NULL, &m), "kme-1 kme-2 kme-3 kme-4",
	   "chain: kme-1 to kme-4 through every node");
	tap_ok(m == 3, "chain: metric 3 (%u)", m);
	is(path("kme-4", "kme-1", 48, 0, NULL, NULL), "kme-4 kme-3 kme-2 kme-1",
	   "chain: and back");
	is(path("kme-1", "kme-4", 1001, 0, NULL, NULL), "-",
	   "chain: too little key on every hop: no route");
	tap_ok(!strcmp(why, "no route to kme-4 with 1001 bytes of key on every hop"),
	       "chain: the reason names the destination and the bytes: %s", why);
	edge("kme-2", "kme-3", true, 10);
	is(path("kme-1", "kme-4", 48, 0, NULL, NULL), "-",
	   "chain: one hop short of key breaks the chain");
	is(path("kme-4", "kme-1", 48, 0, NULL, NULL), "kme-4 kme-3 kme-2 kme-1",
	   "chain: edges are directed: the other way still works");
	is(path("kme-1", "kme-1", 1, 0, NULL, NULL), "-", "chain: no route to itself");
	is(path("kme-1", "kme-9", 1, 0, NULL, NULL), "-", "chain: unknown node");
	tap_ok(!strcmp(why, "no route to kme-9 with 1 bytes of key on every hop"),
	       "chain: unknown node's reason");
}

static void test_ring(void)
{
	uint32_t m = 0;

	/* a - b - c - d - e - f - a */
	reset();
	both("a", "b", 9000);
	both("b", "c", 9000);
	both("c", "d", 9000);
	both("d", "e", 9000);
	both("e", "f", 9000);
	both("f", "a", 9000);
	is(path("a", "c", 1, 4096, NULL, &m), "a b c", "ring: the short way round");
	is(path("a", "e", 1, 4096, NULL, NULL), "a f e", "ring: the other short way");
	is(path("a", "d", 1, 4096, NULL, NULL), "a b c d",
	   "ring: a tie (3 hops either way): the smaller predecessor, c before e");
	/* Deplete b->c: below low_key it costs more, so go round. */
	edge("b", "c", true, 100);
	is(path("a", "c", 1, 4096, NULL, &m), "a f e d c",
	   "ring: a depleted link is avoided when a longer path has key");
	tap_ok(m == 4, "ring: detour metric 4 (%u)", m);
	is(path("a", "c", 1, 0, NULL, NULL), "a b c",
	   "ring: with low_key 0 the depleted link is only as good as any");
	edge("b", "c", false, 9000);
	is(path("a", "c", 1, 4096, NULL, NULL), "a f e d c",
	   "ring: a link that is down is not used");
	is(path("b", "c", 1, 4096, NULL, NULL), "b a f e d c",
	   "ring: not even by its own end");
	is(path("b", "d", 1, 4096, "a", NULL), "-",
	   "ring: the relay's previous hop is never passed through");
	is(path("b", "a", 1, 4096, "a", NULL), "b a",
	   "ring: but it may be the destination");
}

static void test_star(void)
{
	uint32_t m = 0;

	reset();
	both("hub", "s1", 5000);
	both("hub", "s2", 5000);
	both("hub", "s3", 5000);
	is(path("s1", "s3", 32, 4096, NULL, &m), "s1 hub s3", "star: spoke to spoke via the hub");
	tap_ok(m == 2, "star: metric 2");
	edge("hub", "s3", false, 5000);
	is(path("s1", "s3", 32, 4096, NULL, NULL), "-", "star: the hub's link down: no route");
	is(path("s3", "s1", 32, 4096, NULL, NULL), "s3 hub s1",
	   "star: s3 can still send (its end is up)");
}

/* Same graph, LSAs in two orders: the same answers. */
static void test_ties(void)
{
	static const char *const e[][2] = {
		{ "n1", "n2" }, { "n1", "n3" }, { "n2", "n4" }, { "n3", "n4" },
		{ "n4", "n5" }, { "n2", "n5" }, { "n3", "n5" },
	};
	struct ctrld_rtable t1, t2;
	struct ctrld_graph g = { .db = &db, .low_key = 0 };
	int i, n = sizeof(e) / sizeof(e[0]);
	bool same = true;
	size_t k;

	reset();
	for (i = 0; i < n; i++)
		both(e[i][0], e[i][1], 100);
	ctrld_route_table(&g, "n1", &t1);
	reset();
	for (i = n - 1; i >= 0; i--)
		both(e[i][1], e[i][0], 100);
	ctrld_route_table(&g, "n1", &t2);
	same = t1.n == t2.n && t1.n == 4;
	for (k = 0; same && k < t1.n; k++)
		same = ctrld_route_equal(&t1.r[k], &t2.r[k]);
	tap_ok(same, "ties: the table does not depend on the order of the LSAs");
	tap_ok(t1.n == 4 && !strcmp(t1.r[2].dst, "n4") &&
	       !strcmp(t1.r[2].path.node[1], "n2") &&
	       !strcmp(t1.r[3].path.node[1], "n2"),
	       "ties: equal-cost paths go through the smaller node ID (n2, not n3)");
	tap_ok(ctrld_rtable_find(&t1, "n5") && !ctrld_rtable_find(&t1, "n1") &&
	       ctrld_rtable_find(&t1, "n5")->path.avail == 100,
	       "table: sorted, no route to itself, avail is the scarcest hop");
	ctrld_rtable_free(&t1);
	ctrld_rtable_free(&t2);
}

static void test_hops(void)
{
	char a[8], b[8];
	int i;

	reset();
	for (i = 0; i < QKDN_ROUTE_HOPS_MAX + 1; i++) {
		snprintf(a, sizeof(a), "h%02d", i);
		snprintf(b, sizeof(b), "h%02d", i + 1);
		both(a, b, 100);
	}
	tap_ok(!strncmp(path("h00", "h15", 1, 0, NULL, NULL), "h00 h01 h02", 11),
	       "hops: a route of 16 nodes is fine");
	is(path("h00", "h16", 1, 0, NULL, NULL), "-", "hops: 17 nodes is too many");
	tap_ok(strstr(why, "more than 16") != NULL, "hops: reason: %s", why);
}

static void test_lsdb(void)
{
	struct ctrld_lsa l = { .origin = "x", .seq = 10, .n_links = 1 };
	const struct ctrld_lsdb_entry *e;
	char gone[16] = "";

	reset();
	strcpy(l.links[0].peer, "y");
	tap_ok(ctrld_lsdb_install(&db, &l, 1000) == CTRLD_LSA_NEW, "lsdb: first LSA installed");
	tap_ok(ctrld_lsdb_install(&db, &l, 1000) == CTRLD_LSA_DUP, "lsdb: the same again is a duplicate");
	l.seq = 9;
	l.links[0].up = true;
	tap_ok(ctrld_lsdb_install(&db, &l, 1000) == CTRLD_LSA_OLD &&
	       !ctrld_lsdb_find(&db, "x")->lsa.links[0].up,
	       "lsdb: an older sequence number is refused and changes nothing");
	l.seq = 11;
	l.age = 60;
	tap_ok(ctrld_lsdb_install(&db, &l, 1000) == CTRLD_LSA_EXPIRED,
	       "lsdb: an LSA at the maximum age is refused");
	l.age = 50;
	tap_ok(ctrld_lsdb_install(&db, &l, 1000) == CTRLD_LSA_NEW,
	       "lsdb: a newer one replaces it");
	e = ctrld_lsdb_find(&db, "x");
	tap_ok(ctrld_lsdb_age(&db, e, 6999) == 55, "lsdb: age grows while held");
	tap_ok(ctrld_lsdb_expire(&db, 10999, NULL, NULL, NULL) == 0 &&
	       ctrld_lsdb_expire(&db, 11000, "x", NULL, NULL) == 0,
	       "lsdb: not expired before its time, nor when it is this node's");
	tap_ok(ctrld_lsdb_expire(&db, 11000, "y", (void (*)(void *, const char *))
				 (void *)strcpy, gone) == 1 &&
	       !strcmp(gone, "x") && !ctrld_lsdb_find(&db, "x"),
	       "lsdb: expired at the maximum age, and named");
	l.n_links = 2;
	strcpy(l.links[1].peer, "y");
	tap_ok(!ctrld_lsa_normalize(&l), "lsa: a peer twice is refused");
	strcpy(l.links[1].peer, "x");
	tap_ok(!ctrld_lsa_normalize(&l), "lsa: a link to itself is refused");
}

int main(void)
{
	printf("TAP version 13\n");
	test_cost();
	test_chain();
	test_ring();
	test_star();
	test_ties();
	test_hops();
	test_lsdb();
	reset();
	ctrld_lsdb_free(&db);
	printf("1..%d\n", tap_n);
	return tap_done();
}
