// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-linkd: one poll() loop over the signalfd, the kernel's event socket,
 * the listening socket and every channel.
 *
 * Peers come from the kernel's link list, refreshed every second. For each
 * peer the node with the smaller node ID (strcmp) dials, the other accepts;
 * a channel is "up" for the kernel from the peer's valid hello until it
 * closes, and the kernel sends a link's frames only while it is up.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "net.h"
#include "service.h"
#include "tls.h"

static struct linkd_peer *peer_find(struct linkd *d, const char *id)
{
	size_t i;

	for (i = 0; i < d->n_peers; i++)
		if (!strcmp(d->peers[i]->id, id))
			return d->peers[i];
	return NULL;
}

static struct linkd_peer *peer_by_link(struct linkd *d, uint32_t link_id)
{
	size_t i;

	for (i = 0; i < d->n_peers; i++)
		if (d->peers[i]->reported == link_id ||
		    d->peers[i]->link_id == link_id)
			return d->peers[i];
	return NULL;
}

static void peer_report_up(struct linkd *d, struct linkd_peer *p)
{
	int r;

	if (!p->link_id || p->reported == p->link_id)
		return;
	r = linkd_kernel_channel(&d->kern, p->link_id, 1);
	if (r < 0) {
		qd_warn("link %u to %s: cannot report the channel up: %s (%s)",
			   p->link_id, p->id, linkd_kernel_errmsg(&d->kern),
			   strerror(-r));
		return;
	}
	p->reported = p->link_id;
	qd_notice("link %u to %s: channel up", p->link_id, p->id);
}

static void peer_report_down(struct linkd *d, struct linkd_peer *p)
{
	uint32_t link = p->reported;
	int r;

	if (!link)
		return;
	p->reported = 0;
	r = linkd_kernel_channel(&d->kern, link, 0);
	/* ENOENT: the link is gone, and its channel with it. */
	if (r < 0 && r != -ENOENT)
		qd_warn("link %u to %s: cannot report the channel down: %s (%s)",
			   link, p->id, linkd_kernel_errmsg(&d->kern),
			   strerror(-r));
	else
		qd_notice("link %u to %s: channel down", link, p->id);
}

/* The peer loses its channel (closed, or about to be replaced). */
static void peer_detach(struct linkd *d, struct linkd_peer *p, uint64_t now)
{
	struct qd_chan *ch = p->chan;

	if (!ch)
		return;
	p->chan = NULL;
	ch->owner = NULL;
	peer_report_down(d, p);
	if (ch->was_up)
		qd_info("%s: channel carried %llu frames out, %llu in, %llu keepalives in",
			   p->id, (unsigned long long)ch->st.frames_tx,
			   (unsigned long long)ch->st.frames_rx,
			   (unsigned long long)ch->st.keepalives_rx);
	if (p->dial) {
		qd_backoff(&p->backoff_ms, &p->next_dial, now,
			   LINKD_BACKOFF_MAX_MS);
	}
}

static void peer_remove(struct linkd *d, size_t i, const char *why)
{
	struct linkd_peer *p = d->peers[i];
	struct qd_chan *ch = p->chan;

	if (ch) {
		peer_detach(d, p, 0);
		qd_chan_close(ch, "%s", why);
	}
	peer_report_down(d, p);
	d->peers[i] = d->peers[--d->n_peers];
	free(p);
}

/* Free closed channels; report what they were. */
static void sweep(struct linkd *d, uint64_t now)
{
	struct qd_chan **pp = &d->chans, *ch;
	struct linkd_peer *p;

	while ((ch = *pp)) {
		if (ch->state != QD_CHAN_CLOSED) {
			pp = &ch->next;
			continue;
		}
		*pp = ch->next;
		p = ch->owner;
		if (p && p->chan == ch) {
			if (ch->was_up)
				qd_warn("%s [%s]: channel lost: %s", p->id,
					   ch->addr, ch->reason);
			else
				qd_log(p->failures ? LOG_DEBUG : LOG_NOTICE,
					  "%s [%s]: no channel: %s%s", p->id,
					  ch->addr, ch->reason,
					  p->failures ? "" : " (retrying quietly)");
			if (!ch->was_up)
				p->failures++;
			peer_detach(d, p, now);
		} else if (!ch->owner && !ch->was_up && !ch->outbound) {
			qd_notice("connection from %s%s%s refused: %s", ch->addr,
				     ch->peer_id[0] ? " claiming " : "",
				     ch->peer_id, ch->reason);
		}
		qd_chan_free(ch);
	}
}

/* Channel callbacks. */

static const char *on_hello(void *ctx, struct qd_chan *ch, const char *id)
{
	struct linkd *d = ctx;
	struct linkd_peer *p;

	if (ch->outbound)
		return ch->owner ? NULL : "link deleted";
	p = peer_find(d, id);
	if (!p) {
		snprintf(d->why, sizeof(d->why), "no link to node '%s'", id);
		return d->why;
	}
	if (p->dial) {
		snprintf(d->why, sizeof(d->why),
			 "node '%s' must wait for us to dial (its node ID is larger)",
			 id);
		return d->why;
	}
	return NULL;
}

static void on_up(void *ctx, struct qd_chan *ch)
{
	struct linkd *d = ctx;
	struct linkd_peer *p = ch->owner;
	struct qd_chan *old;

	if (!p) {
		p = peer_find(d, ch->peer_id);
		if (!p) {
			qd_chan_close(ch, "no link");
			return;
		}
		old = p->chan;
		if (old) {
			/* A restarted peer: the new connection wins. */
			qd_info("%s: new connection from %s replaces the channel",
				   p->id, ch->addr);
			peer_detach(d, p, qd_now_ms());
			qd_chan_close(old, "replaced by a new connection");
		}
		p->chan = ch;
		ch->owner = p;
	}
	p->failures = 0;
	p->backoff_ms = LINKD_BACKOFF_MIN_MS;
	peer_report_up(d, p);
}

static void on_frame(void *ctx, struct qd_chan *ch, const uint8_t *data,
		     size_t len)
{
	struct linkd *d = ctx;
	struct linkd_peer *p = ch->owner;
	uint64_t now;
	int r;

	if (!p || !p->reported) {
		if (p)
			p->dropped_in++;
		return;
	}
	r = linkd_kernel_frame(&d->kern, p->reported, data, len);
	if (!r) {
		p->to_kernel++;
		return;
	}
	p->rejected++;
	now = qd_now_ms();
	if (now < p->reject_log_at + 1000 && p->reject_log_at) {
		p->reject_quiet++;
		return;
	}
	qd_warn("link %u from %s: kernel refused a %zu-byte frame: %s (%s); %llu refused in all, %llu not logged",
		   p->reported, p->id, len, linkd_kernel_errmsg(&d->kern),
		   strerror(-r), (unsigned long long)p->rejected,
		   (unsigned long long)p->reject_quiet);
	p->reject_log_at = now;
	p->reject_quiet = 0;
}

static const struct qd_chan_ops peer_ops = {
	.hello = on_hello,
	.up = on_up,
	.frame = on_frame,
};

/* Kernel side. */

static void kernel_frame(void *ctx, uint32_t link_id, const char *peer,
			 const uint8_t *frame, size_t len)
{
	struct linkd *d = ctx;
	struct linkd_peer *p = peer_by_link(d, link_id);

	if (!p && peer[0])
		p = peer_find(d, peer);
	if (!p) {
		qd_dbg("kx frame for unknown link %u dropped (%zu bytes)",
			  link_id, len);
		return;
	}
	if (!p->chan || p->chan->state != QD_CHAN_UP ||
	    qd_chan_send(p->chan, frame, len, qd_now_ms())) {
		p->dropped_out++;
		qd_dbg("link %u to %s: channel down, %zu-byte frame dropped",
			  link_id, p->id, len);
	}
}

static void drop_all(struct linkd *d, const char *why)
{
	struct qd_chan *ch;

	while (d->n_peers)
		peer_remove(d, d->n_peers - 1, why);
	for (ch = d->chans; ch; ch = ch->next)
		qd_chan_close(ch, "%s", why);
}

static void refresh_link(void *ctx, uint32_t link_id, const char *peer,
			 int up)
{
	struct linkd *d = ctx;
	struct linkd_peer *p, **n;

	if (!strcmp(peer, d->node_id) || !qd_node_id_valid(peer, strlen(peer)))
		return;
	p = peer_find(d, peer);
	if (!p) {
		p = calloc(1, sizeof(*p));
		n = realloc(d->peers, (d->n_peers + 1) * sizeof(*n));
		if (!p || !n) {
			free(p);
			if (n)
				d->peers = n;
			qd_err("out of memory");
			return;
		}
		d->peers = n;
		d->peers[d->n_peers++] = p;
		strcpy(p->id, peer);
		p->dial = strcmp(d->node_id, peer) < 0;
		p->backoff_ms = LINKD_BACKOFF_MIN_MS;
		qd_info("link %u to %s: %s", link_id, peer,
			   p->dial ? "dialling it" : "waiting for it to dial");
	}
	if (!p->seen || link_id < p->new_link) {
		p->new_link = link_id;
		p->kernel_up = up;
	}
	p->seen = true;
	p->n_links++;
}

static void refresh(struct linkd *d)
{
	char id[QKDN_ID_MAX];
	struct linkd_peer *p;
	size_t i;
	int r;

	r = linkd_kernel_node_id(&d->kern, id);
	if (r < 0) {
		if (r != d->refresh_err)
			qd_err("cannot read the node: %s (%s)",
				  linkd_kernel_errmsg(&d->kern), strerror(-r));
		d->refresh_err = r;
		return;
	}
	if (strcmp(id, d->node_id)) {
		if (d->node_id[0])
			qd_notice("node ID changed from %s to %s", d->node_id,
				     id[0] ? id : "(none)");
		drop_all(d, "node ID changed");
		strcpy(d->node_id, id);
		if (id[0] && !qd_node_id_valid(id, strlen(id))) {
			qd_err("node ID '%s' cannot be used in a hello", id);
			d->node_id[0] = '\0';
		} else if (id[0]) {
			qd_notice("node ID %s", id);
		}
	}
	if (!d->node_id[0]) {
		if (!d->warned_no_id)
			qd_notice("node ID not set yet; waiting");
		d->warned_no_id = true;
		return;
	}
	for (i = 0; i < d->n_peers; i++) {
		d->peers[i]->seen = false;
		d->peers[i]->n_links = 0;
	}
	r = linkd_kernel_links(&d->kern, refresh_link, d);
	if (r < 0) {
		if (r != d->refresh_err)
			qd_err("cannot read the links: %s (%s)",
				  linkd_kernel_errmsg(&d->kern), strerror(-r));
		d->refresh_err = r;
		for (i = 0; i < d->n_peers; i++)
			d->peers[i]->seen = true;
		return;
	}
	d->refresh_err = 0;
	for (i = d->n_peers; i-- > 0;) {
		p = d->peers[i];
		if (!p->seen) {
			qd_info("%s: no link to it any more", p->id);
			peer_remove(d, i, "link deleted");
			continue;
		}
		if (p->n_links > 1 && !p->warned_multi)
			qd_warn("%s: %u links to it; only link %u is carried",
				   p->id, p->n_links, p->new_link);
		p->warned_multi = p->n_links > 1;
		if (p->link_id != p->new_link) {
			p->link_id = p->new_link;
			if (p->reported)
				peer_report_down(d, p);
		}
		if (p->chan && p->chan->state == QD_CHAN_UP) {
			/* The link was deleted and added again between two
			 * refreshes: the kernel's new link starts down.
			 */
			if (p->reported == p->link_id && p->kernel_up == 0)
				p->reported = 0;
			peer_report_up(d, p);
		}
	}
}

static void dial(struct linkd *d, uint64_t now)
{
	const struct qd_peer_conf *pc;
	char addr[QD_ADDR_STR], err[256];
	struct qd_chan *ch;
	struct linkd_peer *p;
	bool busy;
	size_t i;
	int fd;

	for (i = 0; i < d->n_peers; i++) {
		p = d->peers[i];
		if (!p->dial || p->chan || now < p->next_dial)
			continue;
		pc = linkd_config_peer(&d->cfg, p->id);
		if (!pc) {
			if (!p->warned_addr)
				qd_warn("%s: no 'peer %s = HOST:PORT' in %s: cannot dial it",
					   p->id, p->id, d->cfg_path);
			p->warned_addr = true;
			p->next_dial = now + LINKD_BACKOFF_MAX_MS;
			continue;
		}
		p->warned_addr = false;
		fd = qd_net_dial(pc->host, pc->port, &busy, addr,
				    sizeof(addr), err, sizeof(err));
		ch = fd < 0 ? NULL :
		     qd_chan_new(fd, d->ssl, true, busy, d->node_id, p->id,
				    addr, &peer_ops, d, now);
		if (!ch) {
			qd_log(p->failures ? LOG_DEBUG : LOG_NOTICE,
				  "%s: cannot dial: %s", p->id,
				  fd < 0 ? err : "out of memory");
			p->failures++;
			qd_backoff(&p->backoff_ms, &p->next_dial, now,
				   LINKD_BACKOFF_MAX_MS);
			continue;
		}
		qd_dbg("%s: dialling %s", p->id, addr);
		ch->owner = p;
		p->chan = ch;
		qd_chan_add(&d->chans, ch);
	}
}

static void reload(struct linkd *d)
{
	char err[512];
	SSL_CTX *ctx;

	ctx = qd_tls_ctx_new(d->cfg.cert, d->cfg.key, d->cfg.ca, err,
				sizeof(err));
	if (!ctx) {
		qd_err("reload failed, keeping the old certificates: %s", err);
		return;
	}
	/* Sessions hold their own reference to the context they began with. */
	SSL_CTX_free(d->ssl);
	d->ssl = ctx;
	qd_notice("certificates reloaded; new connections use them");
}

int linkd_start(struct linkd *d, const char *cfg_path)
{
	char err[512];
	int r;

	memset(d, 0, sizeof(*d));
	d->lfd = -1;
	d->sfd = -1;
	d->cfg_path = cfg_path;
	if (linkd_config_load(cfg_path, &d->cfg, err, sizeof(err))) {
		qd_err("bad config: %s", err);
		return LINKD_EXIT_CONFIG;
	}
	d->ssl = qd_tls_ctx_new(d->cfg.cert, d->cfg.key, d->cfg.ca, err,
				   sizeof(err));
	if (!d->ssl) {
		qd_err("bad config: %s", err);
		return LINKD_EXIT_CONFIG;
	}
	r = linkd_kernel_open(&d->kern, err, sizeof(err));
	if (r < 0) {
		qd_err("%s", err);
		return LINKD_EXIT_FAIL;
	}
	d->lfd = qd_net_listen(d->cfg.listen_host, d->cfg.listen_port, err,
				  sizeof(err));
	if (d->lfd < 0) {
		qd_err("%s", err);
		return LINKD_EXIT_FAIL;
	}
	d->sfd = qd_signalfd();
	if (d->sfd < 0) {
		qd_err("signalfd: %s", strerror(errno));
		return LINKD_EXIT_FAIL;
	}
	qd_notice("listening on %s%s%s:%s, %zu peer address%s configured",
		     strchr(d->cfg.listen_host, ':') ? "[" : "",
		     d->cfg.listen_host,
		     strchr(d->cfg.listen_host, ':') ? "]" : "",
		     d->cfg.listen_port, d->cfg.n_peers,
		     d->cfg.n_peers == 1 ? "" : "es");
	return LINKD_EXIT_OK;
}

static int poll_timeout(const struct linkd *d, uint64_t now)
{
	const struct qd_chan *ch;
	uint64_t t = d->next_refresh, c;
	size_t i;

	for (i = 0; i < d->n_peers; i++)
		if (d->peers[i]->dial && !d->peers[i]->chan &&
		    d->peers[i]->next_dial < t)
			t = d->peers[i]->next_dial;
	for (ch = d->chans; ch; ch = ch->next) {
		c = qd_chan_deadline(ch);
		if (c < t)
			t = c;
	}
	return t <= now ? 0 : (int)(t - now);
}

int linkd_run(struct linkd *d)
{
	struct pollfd *pfd = NULL, *np;
	struct qd_chan *ch, **map = NULL, **nm;
	size_t cap = 0, n, i;
	unsigned int sig;
	bool pending;
	uint64_t now;
	int r;

	while (!d->stop) {
		now = qd_now_ms();
		if (now >= d->next_refresh) {
			refresh(d);
			d->next_refresh = now + LINKD_REFRESH_MS;
		}
		dial(d, now);
		for (ch = d->chans; ch; ch = ch->next)
			qd_chan_tick(ch, now);
		sweep(d, now);

		n = 3 + qd_chan_count(d->chans);
		if (n > cap) {
			np = realloc(pfd, n * sizeof(*pfd));
			if (np)
				pfd = np;
			nm = realloc(map, n * sizeof(*map));
			if (nm)
				map = nm;
			if (!np || !nm) {
				qd_err("out of memory");
				break;
			}
			cap = n;
		}
		pfd[0] = (struct pollfd){ .fd = d->sfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = linkd_kernel_event_fd(&d->kern),
					  .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = d->lfd, .events = POLLIN };
		for (i = 3, ch = d->chans; ch; ch = ch->next, i++) {
			pfd[i] = (struct pollfd){ .fd = ch->fd,
						  .events = qd_chan_events(ch) };
			map[i] = ch;
		}
		pending = linkd_kernel_pending(&d->kern) > 0;
		r = poll(pfd, n, pending ? 0 : poll_timeout(d, now));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			qd_err("poll: %s", strerror(errno));
			break;
		}
		now = qd_now_ms();
		if (pfd[0].revents) {
			sig = qd_signals(d->sfd);
			if (sig & QD_SIG_RELOAD)
				reload(d);
			if (sig & QD_SIG_STOP)
				d->stop = true;
		}
		if (d->stop)
			break;
		if (pfd[1].revents || pending) {
			r = linkd_kernel_recv(&d->kern, kernel_frame, d);
			if (r < 0) {
				qd_err("kernel event socket: %s", strerror(-r));
				break;
			}
		}
		/* Channels first: pfd[] maps only those that existed. */
		for (i = 3; i < n; i++)
			if (pfd[i].revents)
				qd_chan_io(map[i], pfd[i].revents, now);
		if (pfd[2].revents)
			qd_chan_accept_all(&d->chans, d->lfd, d->ssl, d->node_id,
					   &peer_ops, d, LINKD_PENDING_MAX, now);
		sweep(d, now);
	}
	free(pfd);
	free(map);
	return d->stop ? LINKD_EXIT_OK : LINKD_EXIT_FAIL;
}

void linkd_stop(struct linkd *d)
{
	if (d->kern.cmd)
		drop_all(d, "shutting down");
	sweep(d, 0);
	free(d->peers);
	d->peers = NULL;
	if (d->lfd >= 0)
		close(d->lfd);
	if (d->sfd >= 0)
		close(d->sfd);
	linkd_kernel_close(&d->kern);
	SSL_CTX_free(d->ssl);
	d->ssl = NULL;
	linkd_config_free(&d->cfg);
}
