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
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "net.h"
#include "service.h"

_Static_assert(offsetof(struct linkd_peer, q) == 0, "struct qd_peer first");

static struct linkd_peer *peer_at(struct linkd *d, size_t i)
{
	return qd_peer_of(d->peers.list[i], struct linkd_peer);
}

static struct linkd_peer *peer_find(struct linkd *d, const char *id)
{
	return qd_peer_of(qd_peer_find(&d->peers, id), struct linkd_peer);
}

static struct linkd_peer *peer_by_link(struct linkd *d, uint32_t link_id)
{
	struct linkd_peer *p;
	size_t i;

	for (i = 0; i < d->peers.n; i++) {
		p = peer_at(d, i);
		if (p->reported == link_id || p->link_id == link_id)
			return p;
	}
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
			   p->link_id, p->q.id, qd_nl_errmsg(&d->kern),
			   strerror(-r));
		return;
	}
	p->reported = p->link_id;
	qd_notice("link %u to %s: channel up", p->link_id, p->q.id);
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
			   link, p->q.id, qd_nl_errmsg(&d->kern),
			   strerror(-r));
	else
		qd_notice("link %u to %s: channel down", link, p->q.id);
}

/* Peer list callbacks. */

static void peer_detached(void *ctx, struct qd_peer *q, struct qd_chan *ch)
{
	struct linkd_peer *p = qd_peer_of(q, struct linkd_peer);

	peer_report_down(ctx, p);
	if (ch->was_up)
		qd_info("%s: channel carried %llu frames out, %llu in, %llu keepalives in",
			   q->id, (unsigned long long)ch->st.frames_tx,
			   (unsigned long long)ch->st.frames_rx,
			   (unsigned long long)ch->st.keepalives_rx);
}

static void peer_release(void *ctx, struct qd_peer *q)
{
	peer_report_down(ctx, qd_peer_of(q, struct linkd_peer));
}

static const struct qd_peer_conf *peer_addr(void *ctx,
					    const struct qd_peer *q)
{
	struct linkd *d = ctx;

	return qd_conf_peer_find(d->cfg.peers, d->cfg.n_peers, q->id);
}

static const struct qd_peers_ops peers_ops = {
	.detach = peer_detached,
	.release = peer_release,
	.addr = peer_addr,
};

/* Channel callbacks. */

static const char *on_hello(void *ctx, struct qd_chan *ch, const char *id)
{
	struct linkd *d = ctx;

	if (ch->outbound)
		return ch->owner ? NULL : "link deleted";
	return qd_peers_hello(&d->peers, id);
}

static void on_up(void *ctx, struct qd_chan *ch)
{
	struct linkd *d = ctx;
	struct linkd_peer *p = ch->owner;

	if (!p)
		p = peer_find(d, ch->peer_id);
	if (!p) {
		qd_chan_close(ch, "no link");
		return;
	}
	qd_peer_attach(&d->peers, &p->q, ch, qd_now_ms());
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
		   p->reported, p->q.id, len, qd_nl_errmsg(&d->kern),
		   strerror(-r), (unsigned long long)p->rejected,
		   (unsigned long long)p->reject_quiet);
	p->reject_log_at = now;
	p->reject_quiet = 0;
}

static const struct qd_chan_ops kx_ops = {
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
	if (!p->q.chan || p->q.chan->state != QD_CHAN_UP ||
	    qd_chan_send(p->q.chan, frame, len, qd_now_ms())) {
		p->dropped_out++;
		qd_dbg("link %u to %s: channel down, %zu-byte frame dropped",
			  link_id, p->q.id, len);
	}
}

static void refresh_link(void *ctx, uint32_t link_id, const char *peer,
			 int up)
{
	struct linkd *d = ctx;
	struct linkd_peer *p;

	if (!strcmp(peer, d->node_id) || !qd_node_id_valid(peer, strlen(peer)))
		return;
	p = peer_find(d, peer);
	if (!p) {
		p = qd_peer_of(qd_peer_add(&d->peers, peer,
					   strcmp(d->node_id, peer) < 0),
			       struct linkd_peer);
		if (!p)
			return;
		qd_info("link %u to %s: %s", link_id, peer,
			   p->q.dial ? "dialling it" : "waiting for it to dial");
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

	r = qd_nl_node_id(&d->kern, id);
	if (r < 0) {
		if (r != d->refresh_err)
			qd_err("cannot read the node: %s (%s)",
				  qd_nl_errmsg(&d->kern), strerror(-r));
		d->refresh_err = r;
		return;
	}
	if (strcmp(id, d->node_id)) {
		if (d->node_id[0])
			qd_notice("node ID changed from %s to %s", d->node_id,
				     id[0] ? id : "(none)");
		qd_peers_drop_all(&d->peers, "node ID changed");
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
	for (i = 0; i < d->peers.n; i++) {
		peer_at(d, i)->seen = false;
		peer_at(d, i)->n_links = 0;
	}
	r = linkd_kernel_links(&d->kern, refresh_link, d);
	if (r < 0) {
		if (r != d->refresh_err)
			qd_err("cannot read the links: %s (%s)",
				  qd_nl_errmsg(&d->kern), strerror(-r));
		d->refresh_err = r;
		for (i = 0; i < d->peers.n; i++)
			peer_at(d, i)->seen = true;
		return;
	}
	d->refresh_err = 0;
	for (i = d->peers.n; i-- > 0;) {
		p = peer_at(d, i);
		if (!p->seen) {
			qd_info("%s: no link to it any more", p->q.id);
			qd_peer_remove(&d->peers, i, "link deleted");
			continue;
		}
		if (p->n_links > 1 && !p->warned_multi)
			qd_warn("%s: %u links to it; only link %u is carried",
				   p->q.id, p->n_links, p->new_link);
		p->warned_multi = p->n_links > 1;
		if (p->link_id != p->new_link) {
			p->link_id = p->new_link;
			if (p->reported)
				peer_report_down(d, p);
		}
		if (p->q.chan && p->q.chan->state == QD_CHAN_UP) {
			/* The link was deleted and added again between two
			 * refreshes: the kernel's new link starts down.
			 */
			if (p->reported == p->link_id && p->kernel_up == 0)
				p->reported = 0;
			peer_report_up(d, p);
		}
	}
}

int linkd_start(struct linkd *d, const char *cfg_path)
{
	char err[512], addr[QD_ADDR_JOIN_MAX];
	int r;

	memset(d, 0, sizeof(*d));
	d->lfd = -1;
	d->sfd = -1;
	d->cfg_path = cfg_path;
	d->peers = (struct qd_peers){
		.size = sizeof(struct linkd_peer),
		.ops = &peers_ops,
		.chan_ops = &kx_ops,
		.ctx = d,
		.what = "channel",
		.conf_name = cfg_path,
		.backoff_min_ms = LINKD_BACKOFF_MIN_MS,
		.backoff_max_ms = LINKD_BACKOFF_MAX_MS,
		.max_pending = LINKD_PENDING_MAX,
	};
	if (linkd_config_load(cfg_path, &d->cfg, err, sizeof(err))) {
		qd_err("bad config: %s", err);
		return QD_EXIT_CONFIG;
	}
	d->ssl = qd_daemon_tls(&d->cfg);
	if (!d->ssl)
		return QD_EXIT_CONFIG;
	r = linkd_kernel_open(&d->kern, err, sizeof(err));
	if (r < 0) {
		qd_err("%s", err);
		return QD_EXIT_FAIL;
	}
	d->lfd = qd_net_listen(d->cfg.listen_host, d->cfg.listen_port, err,
				  sizeof(err));
	if (d->lfd < 0) {
		qd_err("%s", err);
		return QD_EXIT_FAIL;
	}
	d->sfd = qd_signalfd();
	if (d->sfd < 0)
		return QD_EXIT_FAIL;
	qd_notice("listening on %s, %zu peer address%s configured",
		  qd_addr_join(d->cfg.listen_host, d->cfg.listen_port, addr,
			       sizeof(addr)),
		  d->cfg.n_peers, d->cfg.n_peers == 1 ? "" : "es");
	return QD_EXIT_OK;
}

static int poll_timeout(const struct linkd *d, uint64_t now)
{
	uint64_t t = qd_peers_deadline(&d->peers, d->next_refresh);

	return t <= now ? 0 : (int)(t - now);
}

int linkd_run(struct linkd *d)
{
	struct pollfd *pfd;
	bool pending;
	uint64_t now;
	size_t n;
	int r;

	while (!d->stop) {
		now = qd_now_ms();
		if (now >= d->next_refresh) {
			refresh(d);
			d->next_refresh = now + LINKD_REFRESH_MS;
		}
		qd_peers_dial(&d->peers, d->ssl, d->node_id, now);
		qd_peers_tick(&d->peers, now);
		qd_peers_sweep(&d->peers, now);

		pfd = qd_peers_pollfd(&d->peers, 3, &n);
		if (!pfd) {
			qd_err("out of memory");
			break;
		}
		pfd[0] = (struct pollfd){ .fd = d->sfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = qd_nl_event_fd(&d->kern),
					  .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = d->lfd, .events = POLLIN };
		pending = qd_nl_pending(&d->kern) > 0;
		r = poll(pfd, n, pending ? 0 : poll_timeout(d, now));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			qd_err("poll: %s", strerror(errno));
			break;
		}
		now = qd_now_ms();
		if (pfd[0].revents && qd_signals(d->sfd, &d->ssl, &d->cfg))
			d->stop = true;
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
		qd_peers_io(&d->peers, 3, n, now);
		if (pfd[2].revents)
			qd_peers_accept(&d->peers, d->lfd, d->ssl, d->node_id,
					now);
		qd_peers_sweep(&d->peers, now);
	}
	return d->stop ? QD_EXIT_OK : QD_EXIT_FAIL;
}

void linkd_stop(struct linkd *d)
{
	if (d->kern.cmd)
		qd_peers_drop_all(&d->peers, "shutting down");
	qd_peers_sweep(&d->peers, 0);
	qd_peers_free(&d->peers);
	if (d->lfd >= 0)
		close(d->lfd);
	if (d->sfd >= 0)
		close(d->sfd);
	qd_nl_close(&d->kern);
	SSL_CTX_free(d->ssl);
	d->ssl = NULL;
	qd_conf_daemon_free(&d->cfg);
}
