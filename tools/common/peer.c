// SPDX-License-Identifier: GPL-2.0
/*
 * A daemon's peers and channels, shared by qkdn-linkd and
 * qkdn-controllerd: who dials, redialling with backoff, an inbound channel
 * taking over from an older one, and what a closed channel was.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "net.h"
#include "peer.h"

/* The next attempt at now + *ms, then *ms doubles up to max. */
static void backoff(unsigned int *ms, uint64_t *next, uint64_t now,
		    unsigned int max)
{
	*next = now + *ms;
	*ms *= 2;
	if (*ms > max)
		*ms = max;
}

struct qd_peer *qd_peer_find(const struct qd_peers *ps, const char *id)
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		if (!strcmp(ps->list[i]->id, id))
			return ps->list[i];
	return NULL;
}

struct qd_peer *qd_peer_add(struct qd_peers *ps, const char *id, bool dial)
{
	struct qd_peer *p = calloc(1, ps->size), **n;

	n = realloc(ps->list, (ps->n + 1) * sizeof(*n));
	if (!p || !n) {
		free(p);
		if (n)
			ps->list = n;
		qd_err("out of memory");
		return NULL;
	}
	ps->list = n;
	ps->list[ps->n++] = p;
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->dial = dial;
	p->backoff_ms = ps->backoff_min_ms;
	return p;
}

/* The peer loses its channel (closed, or about to be replaced). */
static void peer_detach(struct qd_peers *ps, struct qd_peer *p, uint64_t now)
{
	struct qd_chan *ch = p->chan;

	if (!ch)
		return;
	p->chan = NULL;
	ch->owner = NULL;
	if (ps->ops->detach)
		ps->ops->detach(ps->ctx, p, ch);
	if (p->dial)
		backoff(&p->backoff_ms, &p->next_dial, now, ps->backoff_max_ms);
}

void qd_peer_remove(struct qd_peers *ps, size_t i, const char *why)
{
	struct qd_peer *p = ps->list[i];
	struct qd_chan *ch = p->chan;

	if (ch) {
		peer_detach(ps, p, 0);
		qd_chan_close(ch, "%s", why);
	}
	if (ps->ops->release)
		ps->ops->release(ps->ctx, p);
	ps->list[i] = ps->list[--ps->n];
	free(p);
}

void qd_peer_attach(struct qd_peers *ps, struct qd_peer *p,
		    struct qd_chan *ch, uint64_t now)
{
	struct qd_chan *old = p->chan;

	if (old != ch) {
		if (old) {
			/* A restarted peer: the new connection wins. */
			qd_info("%s: new connection from %s replaces the channel",
				p->id, ch->addr);
			peer_detach(ps, p, now);
			qd_chan_close(old, "replaced by a new connection");
		}
		p->chan = ch;
		ch->owner = p;
	}
	p->failures = 0;
	p->backoff_ms = ps->backoff_min_ms;
}

const char *qd_peers_hello(struct qd_peers *ps, const char *id)
{
	struct qd_peer *p = qd_peer_find(ps, id);

	if (!p) {
		snprintf(ps->why, sizeof(ps->why), "no link to node '%s'", id);
		return ps->why;
	}
	if (p->dial) {
		snprintf(ps->why, sizeof(ps->why),
			 "node '%s' must wait for us to dial (its node ID is larger)",
			 id);
		return ps->why;
	}
	return NULL;
}

void qd_peers_drop_all(struct qd_peers *ps, const char *why)
{
	struct qd_chan *ch;

	while (ps->n)
		qd_peer_remove(ps, ps->n - 1, why);
	for (ch = ps->chans; ch; ch = ch->next)
		qd_chan_close(ch, "%s", why);
}

void qd_peers_free(struct qd_peers *ps)
{
	free(ps->list);
	free(ps->pfd);
	free(ps->map);
	ps->list = NULL;
	ps->pfd = NULL;
	ps->map = NULL;
	ps->cap = 0;
}

void qd_peers_dial(struct qd_peers *ps, SSL_CTX *ssl, const char *own_id,
		   uint64_t now)
{
	const struct qd_peer_conf *pc;
	char addr[QD_ADDR_STR], err[256];
	struct qd_chan *ch;
	struct qd_peer *p;
	bool busy;
	size_t i;
	int fd;

	for (i = 0; i < ps->n; i++) {
		p = ps->list[i];
		if (!p->dial || p->chan || now < p->next_dial)
			continue;
		pc = ps->ops->addr(ps->ctx, p);
		if (!pc) {
			if (!p->warned_addr)
				qd_warn("%s: no 'peer %s = HOST:PORT' in %s: cannot dial it",
					p->id, p->id, ps->conf_name);
			p->warned_addr = true;
			p->next_dial = now + ps->backoff_max_ms;
			continue;
		}
		p->warned_addr = false;
		fd = qd_net_dial(pc->host, pc->port, &busy, addr, sizeof(addr),
				 err, sizeof(err));
		ch = fd < 0 ? NULL :
		     qd_chan_new(fd, ssl, true, busy, own_id, p->id, addr,
				 ps->chan_ops, ps->ctx, now);
		if (!ch) {
			qd_log(p->failures ? LOG_DEBUG : LOG_NOTICE,
			       "%s: cannot dial: %s", p->id,
			       fd < 0 ? err : "out of memory");
			p->failures++;
			backoff(&p->backoff_ms, &p->next_dial, now,
				ps->backoff_max_ms);
			continue;
		}
		qd_dbg("%s: dialling %s", p->id, addr);
		ch->owner = p;
		p->chan = ch;
		qd_chan_add(&ps->chans, ch);
	}
}

void qd_peers_accept(struct qd_peers *ps, int lfd, SSL_CTX *ssl,
		     const char *own_id, uint64_t now)
{
	qd_chan_accept_all(&ps->chans, lfd, ssl, own_id, ps->chan_ops, ps->ctx,
			   ps->max_pending, now);
}

void qd_peers_tick(struct qd_peers *ps, uint64_t now)
{
	struct qd_chan *ch;

	for (ch = ps->chans; ch; ch = ch->next)
		qd_chan_tick(ch, now);
}

void qd_peers_sweep(struct qd_peers *ps, uint64_t now)
{
	struct qd_chan **pp = &ps->chans, *ch;
	struct qd_peer *p;

	while ((ch = *pp)) {
		if (ch->state != QD_CHAN_CLOSED) {
			pp = &ch->next;
			continue;
		}
		*pp = ch->next;
		p = ch->owner;
		if (p && p->chan == ch) {
			if (ch->was_up)
				qd_warn("%s [%s]: %s lost: %s", p->id, ch->addr,
					ps->what, ch->reason);
			else
				qd_log(p->failures ? LOG_DEBUG : LOG_NOTICE,
				       "%s [%s]: no %s: %s%s", p->id, ch->addr,
				       ps->what, ch->reason,
				       p->failures ? "" : " (retrying quietly)");
			if (!ch->was_up)
				p->failures++;
			peer_detach(ps, p, now);
			if (ps->ops->lost)
				ps->ops->lost(ps->ctx, p, now);
		} else if (!ch->owner && !ch->was_up && !ch->outbound) {
			qd_notice("connection from %s%s%s refused: %s", ch->addr,
				  ch->peer_id[0] ? " claiming " : "",
				  ch->peer_id, ch->reason);
		}
		qd_chan_free(ch);
	}
}

uint64_t qd_peers_deadline(const struct qd_peers *ps, uint64_t t)
{
	const struct qd_chan *ch;
	const struct qd_peer *p;
	size_t i;

	for (i = 0; i < ps->n; i++) {
		p = ps->list[i];
		if (p->dial && !p->chan && p->next_dial < t)
			t = p->next_dial;
	}
	for (ch = ps->chans; ch; ch = ch->next)
		if (qd_chan_deadline(ch) < t)
			t = qd_chan_deadline(ch);
	return t;
}

struct pollfd *qd_peers_pollfd(struct qd_peers *ps, size_t first, size_t *n)
{
	struct pollfd *np;
	struct qd_chan **nm, *ch;
	size_t i;

	*n = first + qd_chan_count(ps->chans);
	if (*n > ps->cap) {
		np = realloc(ps->pfd, *n * sizeof(*np));
		if (np)
			ps->pfd = np;
		nm = realloc(ps->map, *n * sizeof(*nm));
		if (nm)
			ps->map = nm;
		if (!np || !nm)
			return NULL;
		ps->cap = *n;
	}
	for (i = first, ch = ps->chans; ch; ch = ch->next, i++) {
		ps->pfd[i] = (struct pollfd){ .fd = ch->fd,
					      .events = qd_chan_events(ch) };
		ps->map[i] = ch;
	}
	return ps->pfd;
}

void qd_peers_io(struct qd_peers *ps, size_t first, size_t n, uint64_t now)
{
	size_t i;

	for (i = first; i < n; i++)
		if (ps->pfd[i].revents)
			qd_chan_io(ps->map[i], ps->pfd[i].revents, now);
}
