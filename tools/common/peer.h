/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A daemon's peers: the nodes it keeps one channel with (Kx for
 * qkdn-linkd, Cx for qkdn-controllerd), and every channel it has, owned by
 * a peer or still in set-up.
 *
 * One side of a peer dials, redialling with backoff after a failure; the
 * other waits. An inbound channel becomes a waiting peer's once its hello
 * names it, and replaces the one it had (a restarted peer). The daemon's
 * own peer structure begins with struct qd_peer: the list allocates and
 * frees it, and calls the daemon back when a peer loses its channel or
 * goes.
 */
#ifndef QD_PEER_H
#define QD_PEER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "chan.h"
#include "conf.h"

struct qd_peer {
	char id[QKDN_ID_MAX];
	bool dial;		/* we connect */
	bool warned_addr;
	struct qd_chan *chan;	/* the channel in use, or NULL */
	unsigned int backoff_ms;
	unsigned int failures;	/* dial attempts failed in a row */
	uint64_t next_dial;
};

/* The daemon's peer structure (type) around p; it begins with p. */
#define qd_peer_of(p, type)	((type *)(p))

struct qd_peers_ops {
	/* p lost its channel ch: closed, replaced, or p is going. May be
	 * NULL.
	 */
	void (*detach)(void *ctx, struct qd_peer *p, struct qd_chan *ch);
	/* After detach, when the channel closed by itself. May be NULL. */
	void (*lost)(void *ctx, struct qd_peer *p, uint64_t now);
	/* p is about to be freed. May be NULL. */
	void (*release)(void *ctx, struct qd_peer *p);
	/* Where a peer we dial listens, or NULL when the configuration does
	 * not say.
	 */
	const struct qd_peer_conf *(*addr)(void *ctx, const struct qd_peer *p);
};

struct qd_peers {
	/* The daemon's, set before use. */
	size_t size;			/* of its peer structure */
	const struct qd_peers_ops *ops;
	const struct qd_chan_ops *chan_ops;
	void *ctx;			/* for both */
	const char *what;		/* "channel", "Cx channel": messages */
	const char *conf_name;		/* where 'peer' lines are: messages */
	unsigned int backoff_min_ms, backoff_max_ms;
	size_t max_pending;		/* accepted, no hello yet */

	struct qd_peer **list;
	size_t n;
	struct qd_chan *chans;		/* every channel, owned or in set-up */
	char why[160];			/* qd_peers_hello()'s reason */
	struct pollfd *pfd;		/* qd_peers_pollfd() */
	struct qd_chan **map;
	size_t cap;
};

struct qd_peer *qd_peer_find(const struct qd_peers *ps, const char *id);
/* A new peer (zeroed but for id, dial and backoff), or NULL after logging
 * "out of memory".
 */
struct qd_peer *qd_peer_add(struct qd_peers *ps, const char *id, bool dial);
/* Close the channel of the i-th peer with why, and free it. */
void qd_peer_remove(struct qd_peers *ps, size_t i, const char *why);
/* ch, up, is p's channel from now on (another one p had is closed); p's
 * dial failures and backoff start again.
 */
void qd_peer_attach(struct qd_peers *ps, struct qd_peer *p,
		    struct qd_chan *ch, uint64_t now);

/* The hello of an inbound channel named id: NULL if id is a peer that
 * waits for us, or the reason to refuse it.
 */
const char *qd_peers_hello(struct qd_peers *ps, const char *id);
/* Remove every peer, close every channel, with why. */
void qd_peers_drop_all(struct qd_peers *ps, const char *why);
/* Free what the list holds (after qd_peers_drop_all() and a sweep). */
void qd_peers_free(struct qd_peers *ps);

/* Dial the peers we dial that have no channel and whose time has come. */
void qd_peers_dial(struct qd_peers *ps, SSL_CTX *ssl, const char *own_id,
		   uint64_t now);
/* Accept every connection waiting on lfd (qd_chan_accept_all()). */
void qd_peers_accept(struct qd_peers *ps, int lfd, SSL_CTX *ssl,
		     const char *own_id, uint64_t now);
/* The channels' timers (qd_chan_tick()). */
void qd_peers_tick(struct qd_peers *ps, uint64_t now);
/* Free closed channels, saying what they were; their peers redial. */
void qd_peers_sweep(struct qd_peers *ps, uint64_t now);
/* The earliest of t, the next dial and the channels' deadlines. */
uint64_t qd_peers_deadline(const struct qd_peers *ps, uint64_t t);

/* A poll() array: first entries for the daemon, then one per channel.
 * Returns it with *n entries, or NULL when out of memory.
 */
struct pollfd *qd_peers_pollfd(struct qd_peers *ps, size_t first, size_t *n);
/* Handle the channels' poll() results, entries first .. n - 1. */
void qd_peers_io(struct qd_peers *ps, size_t first, size_t n, uint64_t now);

#endif /* QD_PEER_H */
