/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-controllerd link-state database: one link-state advertisement
 * (LSA) per node, as its controller (or agent) last announced it. An LSA
 * lists the node's links as directed edges: the peer, whether the link is
 * up, and how many bytes of key the node may send with on it.
 */
#ifndef CTRLD_LSDB_H
#define CTRLD_LSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/qkdn.h>

#define CTRLD_LSA_LINKS_MAX	64	/* links in one LSA */
#define CTRLD_LSDB_MAX		QKDN_ROUTES_MAX	/* nodes in the database */

struct ctrld_link {
	char peer[QKDN_ID_MAX];
	bool up;
	uint64_t own_bytes;	/* key the origin may send with to peer */
};

struct ctrld_lsa {
	char origin[QKDN_ID_MAX];
	uint64_t seq;		/* higher is newer */
	uint32_t age;		/* seconds since the origin made it */
	uint32_t n_links;
	struct ctrld_link links[CTRLD_LSA_LINKS_MAX];	/* sorted by peer */
};

struct ctrld_lsdb_entry {
	struct ctrld_lsa lsa;
	uint64_t t_rx;		/* ms, when installed (age counts from it) */
};

struct ctrld_lsdb {
	struct ctrld_lsdb_entry **e;	/* sorted by origin */
	size_t n;
	unsigned int max_age;		/* seconds */
};

enum ctrld_lsa_verdict {
	CTRLD_LSA_NEW,		/* installed: newer than what we had */
	CTRLD_LSA_DUP,		/* the one we have (flooding echo) */
	CTRLD_LSA_OLD,		/* older sequence number: refused */
	CTRLD_LSA_EXPIRED,	/* at or over the maximum age: refused */
	CTRLD_LSA_FULL,		/* a new node, and the database is full */
	CTRLD_LSA_NOMEM,
};

void ctrld_lsdb_init(struct ctrld_lsdb *db, unsigned int max_age);
void ctrld_lsdb_free(struct ctrld_lsdb *db);

/* Install lsa if it is newer than the one held for its origin. */
enum ctrld_lsa_verdict ctrld_lsdb_install(struct ctrld_lsdb *db,
					  const struct ctrld_lsa *lsa,
					  uint64_t now);
const struct ctrld_lsdb_entry *ctrld_lsdb_find(const struct ctrld_lsdb *db,
					       const char *origin);
/* The LSA's age now, in seconds. */
uint32_t ctrld_lsdb_age(const struct ctrld_lsdb *db,
			const struct ctrld_lsdb_entry *e, uint64_t now);
/* Drop the LSAs that reached the maximum age, except keep's; cb (may be
 * NULL) hears each origin dropped. Returns how many.
 */
size_t ctrld_lsdb_expire(struct ctrld_lsdb *db, uint64_t now,
			 const char *keep,
			 void (*cb)(void *ctx, const char *origin), void *ctx);
/* Remove origin's LSA, if any. */
void ctrld_lsdb_remove(struct ctrld_lsdb *db, const char *origin);

/* Sort an LSA's links by peer; false if a peer repeats or is invalid. */
bool ctrld_lsa_normalize(struct ctrld_lsa *lsa);
/* Same links, up states and bytes? */
bool ctrld_lsa_same_links(const struct ctrld_lsa *a,
			  const struct ctrld_lsa *b);
/* Same links and up states (bytes aside)? */
bool ctrld_lsa_same_topology(const struct ctrld_lsa *a,
			     const struct ctrld_lsa *b);

const char *ctrld_lsa_verdict_str(enum ctrld_lsa_verdict v);

#endif /* CTRLD_LSDB_H */
