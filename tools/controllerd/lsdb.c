// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd link-state database. Freshness is the sequence number
 * alone: an LSA replaces the one held for its origin only if its sequence
 * number is higher, so a replayed or reordered LSA changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "lsdb.h"

void ctrld_lsdb_init(struct ctrld_lsdb *db, unsigned int max_age)
{
	memset(db, 0, sizeof(*db));
	db->max_age = max_age;
}

void ctrld_lsdb_free(struct ctrld_lsdb *db)
{
	size_t i;

	for (i = 0; i < db->n; i++)
		free(db->e[i]);
	free(db->e);
	db->e = NULL;
	db->n = 0;
}

/* Index of origin, or where it would go (and *found false). */
static size_t lsdb_pos(const struct ctrld_lsdb *db, const char *origin,
		       bool *found)
{
	size_t lo = 0, hi = db->n, mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = strcmp(db->e[mid]->lsa.origin, origin);
		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const struct ctrld_lsdb_entry *ctrld_lsdb_find(const struct ctrld_lsdb *db,
					       const char *origin)
{
	bool found;
	size_t i = lsdb_pos(db, origin, &found);

	return found ? db->e[i] : NULL;
}

uint32_t ctrld_lsdb_age(const struct ctrld_lsdb *db,
			const struct ctrld_lsdb_entry *e, uint64_t now)
{
	uint64_t held = now > e->t_rx ? (now - e->t_rx) / 1000 : 0;
	uint64_t age = e->lsa.age + held;

	(void)db;
	return age > UINT32_MAX ? UINT32_MAX : (uint32_t)age;
}

enum ctrld_lsa_verdict ctrld_lsdb_install(struct ctrld_lsdb *db,
					  const struct ctrld_lsa *lsa,
					  uint64_t now)
{
	struct ctrld_lsdb_entry *e, **n;
	bool found;
	size_t i;

	if (lsa->age >= db->max_age)
		return CTRLD_LSA_EXPIRED;
	i = lsdb_pos(db, lsa->origin, &found);
	if (found) {
		e = db->e[i];
		if (lsa->seq < e->lsa.seq)
			return CTRLD_LSA_OLD;
		if (lsa->seq == e->lsa.seq)
			return CTRLD_LSA_DUP;
		e->lsa = *lsa;
		e->t_rx = now;
		return CTRLD_LSA_NEW;
	}
	if (db->n >= CTRLD_LSDB_MAX)
		return CTRLD_LSA_FULL;
	e = malloc(sizeof(*e));
	n = realloc(db->e, (db->n + 1) * sizeof(*n));
	if (!e || !n) {
		free(e);
		if (n)
			db->e = n;
		return CTRLD_LSA_NOMEM;
	}
	db->e = n;
	e->lsa = *lsa;
	e->t_rx = now;
	memmove(&db->e[i + 1], &db->e[i], (db->n - i) * sizeof(*n));
	db->e[i] = e;
	db->n++;
	return CTRLD_LSA_NEW;
}

void ctrld_lsdb_remove(struct ctrld_lsdb *db, const char *origin)
{
	bool found;
	size_t i = lsdb_pos(db, origin, &found);

	if (!found)
		return;
	free(db->e[i]);
	memmove(&db->e[i], &db->e[i + 1], (db->n - i - 1) * sizeof(db->e[0]));
	db->n--;
}

size_t ctrld_lsdb_expire(struct ctrld_lsdb *db, uint64_t now,
			 const char *keep,
			 void (*cb)(void *ctx, const char *origin), void *ctx)
{
	size_t i = 0, n = 0;

	while (i < db->n) {
		struct ctrld_lsdb_entry *e = db->e[i];

		if ((keep && !strcmp(e->lsa.origin, keep)) ||
		    ctrld_lsdb_age(db, e, now) < db->max_age) {
			i++;
			continue;
		}
		if (cb)
			cb(ctx, e->lsa.origin);
		free(e);
		memmove(&db->e[i], &db->e[i + 1],
			(db->n - i - 1) * sizeof(db->e[0]));
		db->n--;
		n++;
	}
	return n;
}

static int link_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ctrld_link *)a)->peer,
		      ((const struct ctrld_link *)b)->peer);
}

bool ctrld_lsa_normalize(struct ctrld_lsa *lsa)
{
	uint32_t i;

	if (lsa->n_links > CTRLD_LSA_LINKS_MAX)
		return false;
	qsort(lsa->links, lsa->n_links, sizeof(lsa->links[0]), link_cmp);
	for (i = 0; i < lsa->n_links; i++) {
		const char *p = lsa->links[i].peer;

		if (!qd_node_id_valid(p, strnlen(p, QKDN_ID_MAX)) ||
		    !strcmp(p, lsa->origin))
			return false;
		if (i && !strcmp(p, lsa->links[i - 1].peer))
			return false;
	}
	return true;
}

bool ctrld_lsa_same_topology(const struct ctrld_lsa *a,
			     const struct ctrld_lsa *b)
{
	uint32_t i;

	if (a->n_links != b->n_links)
		return false;
	for (i = 0; i < a->n_links; i++)
		if (strcmp(a->links[i].peer, b->links[i].peer) ||
		    a->links[i].up != b->links[i].up)
			return false;
	return true;
}

bool ctrld_lsa_same_links(const struct ctrld_lsa *a,
			  const struct ctrld_lsa *b)
{
	uint32_t i;

	if (!ctrld_lsa_same_topology(a, b))
		return false;
	for (i = 0; i < a->n_links; i++)
		if (a->links[i].own_bytes != b->links[i].own_bytes)
			return false;
	return true;
}

const char *ctrld_lsa_verdict_str(enum ctrld_lsa_verdict v)
{
	switch (v) {
	case CTRLD_LSA_NEW:
		return "new";
	case CTRLD_LSA_DUP:
		return "duplicate";
	case CTRLD_LSA_OLD:
		return "older sequence number";
	case CTRLD_LSA_EXPIRED:
		return "at the maximum age";
	case CTRLD_LSA_FULL:
		return "database full";
	case CTRLD_LSA_NOMEM:
		return "out of memory";
	}
	return "?";
}
