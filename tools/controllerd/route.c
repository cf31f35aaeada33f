// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd routing: Dijkstra over the nodes of the database and
 * the peers its LSAs name, indexed in node ID order. O(N^2) in the number
 * of nodes: a QKDN has tens or hundreds of them, and this runs only when a
 * request comes in or the graph changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

#define NONE	((size_t)-1)
#define INF	UINT64_MAX

struct dij {
	const char **name;	/* sorted, unique */
	size_t n;
	uint64_t *dist;
	uint64_t *avail;
	size_t *pred;
	bool *done;
};

uint32_t ctrld_link_cost(uint64_t own_bytes, uint64_t low_key)
{
	uint64_t short_by;

	if (!low_key || own_bytes >= low_key)
		return 1;
	short_by = low_key - own_bytes;
	return 1 + (uint32_t)((CTRLD_PENALTY * short_by + low_key - 1) / low_key);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static size_t dij_index(const struct dij *d, const char *id)
{
	const char **p = bsearch(&id, d->name, d->n, sizeof(*d->name),
				 name_cmp);

	return p ? (size_t)(p - d->name) : NONE;
}

static const struct ctrld_lsa *graph_lsa(const struct ctrld_graph *g,
					 const char *id)
{
	const struct ctrld_lsdb_entry *e;

	if (g->self && !strcmp(g->self->origin, id))
		return g->self;
	e = ctrld_lsdb_find(g->db, id);
	return e ? &e->lsa : NULL;
}

static void dij_free(struct dij *d)
{
	free(d->name);
	free(d->dist);
	free(d->avail);
	free(d->pred);
	free(d->done);
}

/* Collect the node IDs: src, every origin, every peer an LSA names. */
static int dij_nodes(struct dij *d, const struct ctrld_graph *g,
		     const char *src)
{
	const struct ctrld_lsdb *db = g->db;
	size_t cap = 1, i, j, k;
	const char **name;

	for (i = 0; i < db->n; i++)
		cap += 1 + db->e[i]->lsa.n_links;
	if (g->self)
		cap += 1 + g->self->n_links;
	name = calloc(cap, sizeof(*name));
	if (!name)
		return -ENOMEM;
	k = 0;
	name[k++] = src;
	for (i = 0; i < db->n; i++) {
		const struct ctrld_lsa *l = &db->e[i]->lsa;

		name[k++] = l->origin;
		for (j = 0; j < l->n_links; j++)
			name[k++] = l->links[j].peer;
	}
	if (g->self) {
		name[k++] = g->self->origin;
		for (j = 0; j < g->self->n_links; j++)
			name[k++] = g->self->links[j].peer;
	}
	qsort(name, k, sizeof(*name), name_cmp);
	for (i = 0, j = 0; i < k; i++)
		if (!j || strcmp(name[j - 1], name[i]))
			name[j++] = name[i];
	d->name = name;
	d->n = j;
	return 0;
}

static int dijkstra(struct dij *d, const struct ctrld_graph *g,
		    const char *src)
{
	size_t i, u, v, s, av;
	uint32_t j;

	memset(d, 0, sizeof(*d));
	if (dij_nodes(d, g, src))
		return -ENOMEM;
	d->dist = malloc(d->n * sizeof(*d->dist));
	d->avail = malloc(d->n * sizeof(*d->avail));
	d->pred = malloc(d->n * sizeof(*d->pred));
	d->done = calloc(d->n, sizeof(*d->done));
	if (!d->dist || !d->avail || !d->pred || !d->done) {
		dij_free(d);
		return -ENOMEM;
	}
	for (i = 0; i < d->n; i++) {
		d->dist[i] = INF;
		d->avail[i] = INF;
		d->pred[i] = NONE;
	}
	s = dij_index(d, src);
	d->dist[s] = 0;
	av = g->avoid ? dij_index(d, g->avoid) : NONE;
	for (;;) {
		const struct ctrld_lsa *l;

		u = NONE;
		for (i = 0; i < d->n; i++)
			if (!d->done[i] && d->dist[i] != INF &&
			    (u == NONE || d->dist[i] < d->dist[u]))
				u = i;
		if (u == NONE)
			break;
		d->done[u] = true;
		/* The avoided node may end a path, never carry one. */
		if (u == av && u != s)
			continue;
		l = graph_lsa(g, d->name[u]);
		for (j = 0; l && j < l->n_links; j++) {
			const struct ctrld_link *k = &l->links[j];
			uint64_t nd, na;

			if (!k->up || k->own_bytes < g->need)
				continue;
			v = dij_index(d, k->peer);
			if (v == NONE || v == s || d->done[v])
				continue;
			nd = d->dist[u] + ctrld_link_cost(k->own_bytes, g->low_key);
			na = k->own_bytes < d->avail[u] ? k->own_bytes : d->avail[u];
			if (nd < d->dist[v] ||
			    (nd == d->dist[v] && u < d->pred[v])) {
				d->dist[v] = nd;
				d->pred[v] = u;
				d->avail[v] = na;
			}
		}
	}
	return 0;
}

/* The path to v; -E2BIG when it has too many nodes. */
static int dij_path(const struct dij *d, size_t v, struct ctrld_path *p)
{
	size_t w, n = 0;

	for (w = v; w != NONE; w = d->pred[w])
		n++;
	if (n > QKDN_ROUTE_HOPS_MAX) {
		p->n = (unsigned int)n;
		return -E2BIG;
	}
	p->n = (unsigned int)n;
	for (w = v; w != NONE; w = d->pred[w])
		snprintf(p->node[--n], QKDN_ID_MAX, "%s", d->name[w]);
	p->metric = d->dist[v] > UINT32_MAX ? UINT32_MAX : (uint32_t)d->dist[v];
	p->avail = d->avail[v];
	return 0;
}

int ctrld_route_path(const struct ctrld_graph *g, const char *src,
		     const char *dst, struct ctrld_path *out, char *why,
		     size_t whylen)
{
	struct dij d;
	size_t v;
	int r;

	memset(out, 0, sizeof(*out));
	if (!strcmp(src, dst)) {
		snprintf(why, whylen, "%s is this node", dst);
		return -EHOSTUNREACH;
	}
	if (dijkstra(&d, g, src)) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	v = dij_index(&d, dst);
	if (v == NONE || d.dist[v] == INF) {
		if (g->need)
			snprintf(why, whylen,
				 "no route to %s with %llu bytes of key on every hop",
				 dst, (unsigned long long)g->need);
		else
			snprintf(why, whylen, "no route to %s", dst);
		dij_free(&d);
		return -EHOSTUNREACH;
	}
	r = dij_path(&d, v, out);
	if (r) {
		snprintf(why, whylen, "the route to %s has %u nodes, more than %d",
			 dst, out->n, QKDN_ROUTE_HOPS_MAX);
		memset(out, 0, sizeof(*out));
		r = -EHOSTUNREACH;
	}
	dij_free(&d);
	return r;
}

int ctrld_route_table(const struct ctrld_graph *g, const char *src,
		      struct ctrld_rtable *out)
{
	struct dij d;
	size_t v;

	memset(out, 0, sizeof(*out));
	if (dijkstra(&d, g, src))
		return -ENOMEM;
	out->r = calloc(d.n ? d.n : 1, sizeof(*out->r));
	if (!out->r) {
		dij_free(&d);
		return -ENOMEM;
	}
	/* d.name is sorted: so is the table. */
	for (v = 0; v < d.n && out->n < QKDN_ROUTES_MAX; v++) {
		struct ctrld_route *r = &out->r[out->n];

		if (d.dist[v] == INF || d.pred[v] == NONE)
			continue;
		if (dij_path(&d, v, &r->path)) {
			memset(r, 0, sizeof(*r));
			continue;
		}
		snprintf(r->dst, sizeof(r->dst), "%s", d.name[v]);
		out->n++;
	}
	dij_free(&d);
	return 0;
}

void ctrld_rtable_free(struct ctrld_rtable *t)
{
	free(t->r);
	t->r = NULL;
	t->n = 0;
}

const struct ctrld_route *ctrld_rtable_find(const struct ctrld_rtable *t,
					    const char *dst)
{
	size_t lo = 0, hi = t->n, mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = strcmp(t->r[mid].dst, dst);
		if (!c)
			return &t->r[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool ctrld_route_equal(const struct ctrld_route *a,
		       const struct ctrld_route *b)
{
	unsigned int i;

	if (strcmp(a->dst, b->dst) || a->path.n != b->path.n ||
	    a->path.metric != b->path.metric || a->path.avail != b->path.avail)
		return false;
	for (i = 0; i < a->path.n; i++)
		if (strcmp(a->path.node[i], b->path.node[i]))
			return false;
	return true;
}

const char *ctrld_path_str(const struct ctrld_path *p, char *buf, size_t len)
{
	size_t off = 0;
	unsigned int i;
	int n;

	if (len)
		buf[0] = '\0';
	for (i = 0; i < p->n && off < len; i++) {
		n = snprintf(buf + off, len - off, "%s%s", i ? " " : "",
			     p->node[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	return buf;
}
