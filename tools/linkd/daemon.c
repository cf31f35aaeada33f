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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>

#include "daemon.h"
#include "log.h"
#include "net.h"
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
		linkd_warn("link %u to %s: cannot report the channel up: %s (%s)",
			   p->link_id, p->id, linkd_kernel_errmsg(&d->kern),
			   strerror(-r));
		return;
	}
	p->reported = p->link_id;
	linkd_notice("link %u to %s: channel up", p->link_id, p->id);
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
		linkd_warn("link %u to %s: cannot report the channel down: %s (%s)",
			   link, p->id, linkd_kernel_errmsg(&d->kern),
			   strerror(-r));
	else
		linkd_notice("link %u to %s: channel down", link, p->id);
}

/* The peer loses its channel (closed, or about to be replaced). */
static void peer_detach(struct linkd *d, struct linkd_peer *p, uint64_t now)
{
	struct linkd_chan *ch = p->chan;

	if (!ch)
		return;
	p->chan = NULL;
	ch->owner = NULL;
	peer_report_down(d, p);
	if (ch->was_up)
		linkd_info("%s: channel carried %llu frames out, %llu in, %llu keepalives in",
			   p->id, (unsigned long long)ch->st.frames_tx,
			   (unsigned long long)ch->st.frames_rx,
			   (unsigned long long)ch->st.keepalives_rx);
	if (p->dial) {
		p->next_dial = now + p->backoff_ms;
		p->backoff_ms *= 2;
		if (p->backoff_ms > LINKD_BACKOFF_MAX_MS)
			p->backoff_ms = LINKD_BACKOFF_MAX_MS;
	}
}

static void peer_remove(struct linkd *d, size_t i, const char *why)
{
	struct linkd_peer *p = d->peers[i];
	struct linkd_chan *ch = p->chan;

	if (ch) {
		peer_detach(d, p, 0);
		linkd_chan_close(ch, "%s", why);
	}
	peer_report_down(d, p);
	d->peers[i] = d->peers[--d->n_peers];
	free(p);
}

static void chan_add(struct linkd *d, struct linkd_chan *ch)
{
	ch->next = d->chans;
	d->chans = ch;
}

/* Free closed channels; report what they were. */
static void sweep(struct linkd *d, uint64_t now)
{
	struct linkd_chan **pp = &d->chans, *ch;
	struct linkd_peer *p;

	while ((ch = *pp)) {
		if (ch->state != LINKD_CHAN_CLOSED) {
			pp = &ch->next;
			continue;
		}
		*pp = ch->next;
		p = ch->owner;
		if (p && p->chan == ch) {
			if (ch->was_up)
				linkd_warn("%s [%s]: channel lost: %s", p->id,
					   ch->addr, ch->reason);
			else
				linkd_log(p->failures ? LOG_DEBUG : LOG_NOTICE,
					  "%s [%s]: no channel: %s%s", p->id,
					  ch->addr, ch->reason,
					  p->failures ? "" : " (retrying quietly)");
			if (!ch->was_up)
				p->failures++;
			peer_detach(d, p, now);
		} else if (!ch->owner && !ch->was_up && !ch->outbound) {
			linkd_notice("connection from %s%s%s refused: %s", ch->addr,
				     ch->peer_id[0] ? " claiming " : "",
				     ch->peer_id, ch->reason);
		}
		linkd_chan_free(ch);
	}
}

/* Channel callbacks. */

static const char *on_hello(void *ctx, struct linkd_chan *ch, const char *id)
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

static void on_up(void *ctx, struct linkd_chan *ch)
{
	struct linkd *d = ctx;
	struct linkd_peer *p = ch->owner;
	struct linkd_chan *old;

	if (!p) {
		p = peer_find(d, ch->peer_id);
		if (!p) {
			linkd_chan_close(ch, "no link");
			return;
		}
		old = p->chan;
		if (old) {
			/* A restarted peer: the new connection wins. */
			linkd_info("%s: new connection from %s replaces the channel",
				   p->id, ch->addr);
			peer_detach(d, p, linkd_now_ms());
			linkd_chan_close(old, "replaced by a new connection");
		}
		p->chan = ch;
		ch->owner = p;
	}
	p->failures = 0;
	p->backoff_ms = LINKD_BACKOFF_MIN_MS;
	peer_report_up(d, p);
}

static void on_frame(void *ctx, struct linkd_chan *ch, const uint8_t *data,
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
	now = linkd_now_ms();
	if (now < p->reject_log_at + 1000 && p->reject_log_at) {
		p->reject_quiet++;
		return;
	}
	linkd_warn("link %u from %s: kernel refused a %zu-byte frame: %s (%s); %llu refused in all, %llu not logged",
		   p->reported, p->id, len, linkd_kernel_errmsg(&d->kern),
		   strerror(-r), (unsigned long long)p->rejected,
		   (unsigned long long)p->reject_quiet);
	p->reject_log_at = now;
	p->reject_quiet = 0;
}

static const struct linkd_chan_ops peer_ops = {
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
		linkd_dbg("kx frame for unknown link %u dropped (%zu bytes)",
			  link_id, len);
		return;
	}
	if (!p->chan || p->chan->state != LINKD_CHAN_UP ||
	    linkd_chan_send(p->chan, frame, len, linkd_now_ms())) {
		p->dropped_out++;
		linkd_dbg("link %u to %s: channel down, %zu-byte frame dropped",
			  link_id, p->id, len);
	}
}

static void drop_all(struct linkd *d, const char *why)
{
	struct linkd_chan *ch;

	while (d->n_peers)
		peer_remove(d, d->n_peers - 1, why);
	for (ch = d->chans; ch; ch = ch->next)
		linkd_chan_close(ch, "%s", why);
}

static void refresh_link(void *ctx, uint32_t link_id, const char *peer,
			 int up)
{
	struct linkd *d = ctx;
	struct linkd_peer *p, **n;

	if (!strcmp(peer, d->node_id) || !linkd_node_id_valid(peer, strlen(peer)))
		return;
	p = peer_find(d, peer);
	if (!p) {
		p = calloc(1, sizeof(*p));
		n = realloc(d->peers, (d->n_peers + 1) * sizeof(*n));
		if (!p || !n) {
			free(p);
			if (n)
				d->peers = n;
			linkd_err("out of memory");
			return;
		}
		d->peers = n;
		d->peers[d->n_peers++] = p;
		strcpy(p->id, peer);
		p->dial = strcmp(d->node_id, peer) < 0;
		p->backoff_ms = LINKD_BACKOFF_MIN_MS;
		linkd_info("link %u to %s: %s", link_id, peer,
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
			linkd_err("cannot read the node: %s (%s)",
				  linkd_kernel_errmsg(&d->kern), strerror(-r));
		d->refresh_err = r;
		return;
	}
	if (strcmp(id, d->node_id)) {
		if (d->node_id[0])
			linkd_notice("node ID changed from %s to %s", d->node_id,
				     id[0] ? id : "(none)");
		drop_all(d, "node ID changed");
		strcpy(d->node_id, id);
		if (id[0] && !linkd_node_id_valid(id, strlen(id))) {
			linkd_err("node ID '%s' cannot be used in a hello", id);
			d->node_id[0] = '\0';
		} else if (id[0]) {
			linkd_notice("node ID %s", id);
		}
	}
	if (!d->node_id[0]) {
		if (!d->warned_no_id)
			linkd_notice("node ID not set yet; waiting");
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
			linkd_err("cannot read the links: %s (%s)",
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
			linkd_info("%s: no link to it any more", p->id);
			peer_remove(d, i, "link deleted");
			continue;
		}
		if (p->n_links > 1 && !p->warned_multi)
			linkd_warn("%s: %u links to it; only link %u is carried",
				   p->id, p->n_links, p->new_link);
		p->warned_multi = p->n_links > 1;
		if (p->link_id != p->new_link) {
			p->link_id = p->new_link;
			if (p->reported)
				peer_report_down(d, p);
		}
		if (p->chan && p->chan->state == LINKD_CHAN_UP) {
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
	const struct linkd_peer_conf *pc;
	char addr[LINKD_ADDR_STR], err[256];
	struct linkd_chan *ch;
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
				linkd_warn("%s: no 'peer %s = HOST:PORT' in %s: cannot dial it",
					   p->id, p->id, d->cfg_path);
			p->warned_addr = true;
			p->next_dial = now + LINKD_BACKOFF_MAX_MS;
			continue;
		}
		p->warned_addr = false;
		fd = linkd_net_dial(pc->host, pc->port, &busy, addr,
				    sizeof(addr), err, sizeof(err));
		ch = fd < 0 ? NULL :
		     linkd_chan_new(fd, d->ssl, true, busy, d->node_id, p->id,
				    addr, &peer_ops, d, now);
		if (!ch) {
			linkd_log(p->failures ? LOG_DEBUG : LOG_NOTICE,
				  "%s: cannot dial: %s", p->id,
				  fd < 0 ? err : "out of memory");
			p->failures++;
			p->next_dial = now + p->backoff_ms;
			p->backoff_ms *= 2;
			if (p->backoff_ms > LINKD_BACKOFF_MAX_MS)
				p->backoff_ms = LINKD_BACKOFF_MAX_MS;
			continue;
		}
		linkd_dbg("%s: dialling %s", p->id, addr);
		ch->owner = p;
		p->chan = ch;
		chan_add(d, ch);
	}
}

static void accept_all(struct linkd *d, uint64_t now)
{
	char addr[LINKD_ADDR_STR];
	struct linkd_chan *ch, *oldest;
	size_t pending;
	int fd;

	for (;;) {
		fd = linkd_net_accept(d->lfd, addr, sizeof(addr));
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				linkd_warn("accept: %s", strerror(errno));
			return;
		}
		if (!d->node_id[0]) {
			linkd_notice("connection from %s refused: node ID not set",
				     addr);
			close(fd);
			continue;
		}
		/* Bounded set-up: the oldest half-open connection makes room. */
		pending = 0;
		oldest = NULL;
		for (ch = d->chans; ch; ch = ch->next) {
			if (ch->owner || ch->state == LINKD_CHAN_CLOSED)
				continue;
			pending++;
			if (!oldest || ch->t_start <= oldest->t_start)
				oldest = ch;
		}
		if (pending >= LINKD_PENDING_MAX)
			linkd_chan_close(oldest, "%d connections in set-up",
					 LINKD_PENDING_MAX);
		ch = linkd_chan_new(fd, d->ssl, false, false, d->node_id, NULL,
				    addr, &peer_ops, d, now);
		if (!ch) {
			linkd_err("connection from %s: out of memory", addr);
			continue;
		}
		linkd_dbg("connection from %s", addr);
		chan_add(d, ch);
	}
}

static void reload(struct linkd *d)
{
	char err[512];
	SSL_CTX *ctx;

	ctx = linkd_tls_ctx_new(d->cfg.cert, d->cfg.key, d->cfg.ca, err,
				sizeof(err));
	if (!ctx) {
		linkd_err("reload failed, keeping the old certificates: %s", err);
		return;
	}
	/* Sessions hold their own reference to the context they began with. */
	SSL_CTX_free(d->ssl);
	d->ssl = ctx;
	linkd_notice("certificates reloaded; new connections use them");
}

static void signals(struct linkd *d)
{
	struct signalfd_siginfo si;
	ssize_t n;

	while ((n = read(d->sfd, &si, sizeof(si))) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			reload(d);
			break;
		case SIGTERM:
		case SIGINT:
			linkd_notice("signal %u: exiting", si.ssi_signo);
			d->stop = true;
			break;
		}
	}
}

int linkd_start(struct linkd *d, const char *cfg_path)
{
	char err[512];
	sigset_t set;
	int r;

	memset(d, 0, sizeof(*d));
	d->lfd = -1;
	d->sfd = -1;
	d->cfg_path = cfg_path;
	if (linkd_config_load(cfg_path, &d->cfg, err, sizeof(err))) {
		linkd_err("bad config: %s", err);
		return LINKD_EXIT_CONFIG;
	}
	d->ssl = linkd_tls_ctx_new(d->cfg.cert, d->cfg.key, d->cfg.ca, err,
				   sizeof(err));
	if (!d->ssl) {
		linkd_err("bad config: %s", err);
		return LINKD_EXIT_CONFIG;
	}
	r = linkd_kernel_open(&d->kern, err, sizeof(err));
	if (r < 0) {
		linkd_err("%s", err);
		return LINKD_EXIT_FAIL;
	}
	d->lfd = linkd_net_listen(d->cfg.listen_host, d->cfg.listen_port, err,
				  sizeof(err));
	if (d->lfd < 0) {
		linkd_err("%s", err);
		return LINKD_EXIT_FAIL;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	d->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sfd < 0) {
		linkd_err("signalfd: %s", strerror(errno));
		return LINKD_EXIT_FAIL;
	}
	linkd_notice("listening on %s%s%s:%s, %zu peer address%s configured",
		     strchr(d->cfg.listen_host, ':') ? "[" : "",
		     d->cfg.listen_host,
		     strchr(d->cfg.listen_host, ':') ? "]" : "",
		     d->cfg.listen_port, d->cfg.n_peers,
		     d->cfg.n_peers == 1 ? "" : "es");
	return LINKD_EXIT_OK;
}

static size_t n_chans(const struct linkd *d)
{
	const struct linkd_chan *ch;
	size_t n = 0;

	for (ch = d->chans; ch; ch = ch->next)
		n++;
	return n;
}

static int poll_timeout(const struct linkd *d, uint64_t now)
{
	const struct linkd_chan *ch;
	uint64_t t = d->next_refresh, c;
	size_t i;

	for (i = 0; i < d->n_peers; i++)
		if (d->peers[i]->dial && !d->peers[i]->chan &&
		    d->peers[i]->next_dial < t)
			t = d->peers[i]->next_dial;
	for (ch = d->chans; ch; ch = ch->next) {
		c = linkd_chan_deadline(ch);
		if (c < t)
			t = c;
	}
	return t <= now ? 0 : (int)(t - now);
}

int linkd_run(struct linkd *d)
{
	struct pollfd *pfd = NULL, *np;
	struct linkd_chan *ch, **map = NULL, **nm;
	size_t cap = 0, n, i;
	bool pending;
	uint64_t now;
	int r;

	while (!d->stop) {
		now = linkd_now_ms();
		if (now >= d->next_refresh) {
			refresh(d);
			d->next_refresh = now + LINKD_REFRESH_MS;
		}
		dial(d, now);
		for (ch = d->chans; ch; ch = ch->next)
			linkd_chan_tick(ch, now);
		sweep(d, now);

		n = 3 + n_chans(d);
		if (n > cap) {
			np = realloc(pfd, n * sizeof(*pfd));
			if (np)
				pfd = np;
			nm = realloc(map, n * sizeof(*map));
			if (nm)
				map = nm;
			if (!np || !nm) {
				linkd_err("out of memory");
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
						  .events = linkd_chan_events(ch) };
			map[i] = ch;
		}
		pending = linkd_kernel_pending(&d->kern) > 0;
		r = poll(pfd, n, pending ? 0 : poll_timeout(d, now));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			linkd_err("poll: %s", strerror(errno));
			break;
		}
		now = linkd_now_ms();
		if (pfd[0].revents)
			signals(d);
		if (d->stop)
			break;
		if (pfd[1].revents || pending) {
			r = linkd_kernel_recv(&d->kern, kernel_frame, d);
			if (r < 0) {
				linkd_err("kernel event socket: %s", strerror(-r));
				break;
			}
		}
		/* Channels first: pfd[] maps only those that existed. */
		for (i = 3; i < n; i++)
			if (pfd[i].revents)
				linkd_chan_io(map[i], pfd[i].revents, now);
		if (pfd[2].revents)
			accept_all(d, now);
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
