/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-controllerd routing: shortest paths over the directed graph of the
 * link-state database.
 *
 * An edge u->v exists when u's LSA lists a link to v that is up and on
 * which u holds at least the bytes of key a relay hop needs. Its cost is 1,
 * plus a penalty when u's bytes on it are below the low_key mark:
 * ceil(CTRLD_PENALTY * (low_key - bytes) / low_key), up to CTRLD_PENALTY
 * for an empty link. Among paths of equal cost, every node's predecessor
 * is the candidate with the smallest node ID (strcmp), so that the answer
 * depends only on the graph, never on the order LSAs arrived in.
 */
#ifndef CTRLD_ROUTE_H
#define CTRLD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lsdb.h"

#define CTRLD_PENALTY	16

struct ctrld_path {
	unsigned int n;		/* nodes, the source first, dst last */
	char node[QKDN_ROUTE_HOPS_MAX][QKDN_ID_MAX];
	uint32_t metric;
	uint64_t avail;		/* bytes of key on the scarcest hop */
};

struct ctrld_route {
	char dst[QKDN_ID_MAX];
	struct ctrld_path path;	/* path.node[1]: the next hop */
};

struct ctrld_rtable {
	struct ctrld_route *r;	/* sorted by dst */
	size_t n;
};

struct ctrld_graph {
	const struct ctrld_lsdb *db;
	/* When set, the links of self->origin are taken from it, not from
	 * the database: a node's own links as its kernel last told.
	 */
	const struct ctrld_lsa *self;
	uint64_t need;		/* bytes an edge needs */
	uint64_t low_key;	/* penalty mark, bytes (0: none) */
	const char *avoid;	/* a node paths must not pass through, or NULL */
};

uint32_t ctrld_link_cost(uint64_t own_bytes, uint64_t low_key);

/* The best path from src to dst. Returns 0, or -EHOSTUNREACH with the
 * reason in why: no path, or one longer than QKDN_ROUTE_HOPS_MAX nodes.
 */
int ctrld_route_path(const struct ctrld_graph *g, const char *src,
		     const char *dst, struct ctrld_path *out, char *why,
		     size_t whylen);

/* The best path from src to every node it reaches (not src itself). 0 or
 * -ENOMEM.
 */
int ctrld_route_table(const struct ctrld_graph *g, const char *src,
		      struct ctrld_rtable *out);
void ctrld_rtable_free(struct ctrld_rtable *t);
const struct ctrld_route *ctrld_rtable_find(const struct ctrld_rtable *t,
					    const char *dst);
bool ctrld_route_equal(const struct ctrld_route *a,
		       const struct ctrld_route *b);

/* "a b c" into buf, for messages. */
const char *ctrld_path_str(const struct ctrld_path *p, char *buf,
			   size_t len);

#endif /* CTRLD_ROUTE_H */
