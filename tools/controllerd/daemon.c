// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd: one poll() loop over the signalfd, the kernel's event
 * socket and the core's sockets. The node's ID and links are read every
 * CTRLD_REFRESH_MS, and soon after any event of the node.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "libqkdn.h"
#include "log.h"
#include "service.h"

/* The core's requests to the node. */

static int node_answer(void *ctx, const struct ctrld_answer *a, char *why,
		       size_t whylen)
{
	struct ctrld *d = ctx;
	int r = ctrld_kernel_answer(&d->kern, a);

	if (r < 0)
		snprintf(why, whylen, "%s", *qd_nl_errmsg(&d->kern) ?
			 qd_nl_errmsg(&d->kern) : strerror(-r));
	return r;
}

static int node_route_set(void *ctx, const struct ctrld_route *rt)
{
	struct ctrld *d = ctx;
	int r = ctrld_kernel_route_set(&d->kern, rt);

	if (r < 0 && *qd_nl_errmsg(&d->kern))
		qd_dbg("route-new %s: %s", rt->dst, qd_nl_errmsg(&d->kern));
	return r;
}

static int node_route_del(void *ctx, const char *dst)
{
	struct ctrld *d = ctx;

	return ctrld_kernel_route_del(&d->kern, dst);
}

static const struct ctrld_node_ops node_ops = {
	.answer = node_answer,
	.route_set = node_route_set,
	.route_del = node_route_del,
};

/* The kernel's messages. */

static void kernel_req(void *ctx, const struct ctrld_req *r)
{
	struct ctrld *d = ctx;

	ctrld_core_request(&d->core, r, qd_now_ms());
}

static void kernel_event(void *ctx, uint32_t event)
{
	struct ctrld *d = ctx;
	uint64_t soon = qd_now_ms() + CTRLD_EVENT_REFRESH_MS;

	if (event == QKDN_EVENT_MESSAGE)
		return;
	if (soon < d->next_refresh)
		d->next_refresh = soon;
}

static void set_mode(struct ctrld *d)
{
	uint8_t mode = d->cfg.mode == CTRLD_DISTRIBUTED ?
		       QKDN_CTRL_DISTRIBUTED : QKDN_CTRL_CENTRALIZED;
	int r = ctrld_kernel_set_mode(&d->kern, mode);

	if (r < 0) {
		if (r != d->mode_err)
			qd_err("cannot set the node's ctrl-mode: %s (%s); retrying",
			       qd_nl_errmsg(&d->kern), strerror(-r));
		d->mode_err = r;
		return;
	}
	d->mode_set = true;
	qd_notice("ctrl-mode %s", mode == QKDN_CTRL_DISTRIBUTED ?
		  "distributed" : "centralized");
}

static void refresh(struct ctrld *d, uint64_t now)
{
	char id[QKDN_ID_MAX];
	size_t n;
	int r;

	if (!d->mode_set)
		set_mode(d);
	r = qd_nl_node_id(&d->kern, id);
	if (r < 0)
		goto fail;
	ctrld_core_set_node(&d->core, id);
	if (!id[0]) {
		if (!d->warned_no_id)
			qd_notice("node ID not set yet; waiting");
		d->warned_no_id = true;
		return;
	}
	r = ctrld_kernel_links(&d->kern, d->links, CTRLD_LSA_LINKS_MAX, &n);
	if (r < 0)
		goto fail;
	d->refresh_err = 0;
	ctrld_core_set_links(&d->core, d->links, n, now);
	return;

fail:
	if (r != d->refresh_err)
		qd_err("cannot read the node: %s (%s)",
		       qd_nl_errmsg(&d->kern), strerror(-r));
	d->refresh_err = r;
}

int ctrld_start(struct ctrld *d, const char *cfg_path)
{
	char err[512], addr[QD_ADDR_JOIN_MAX];
	SSL_CTX *ssl;
	int r;

	memset(d, 0, sizeof(*d));
	d->sfd = -1;
	d->cfg_path = cfg_path;
	if (ctrld_config_load(cfg_path, &d->cfg, err, sizeof(err))) {
		qd_err("bad config: %s", err);
		return QD_EXIT_CONFIG;
	}
	ssl = qd_daemon_tls(&d->cfg.common);
	if (!ssl)
		return QD_EXIT_CONFIG;
	r = ctrld_kernel_open(&d->kern, err, sizeof(err));
	if (r < 0) {
		SSL_CTX_free(ssl);
		qd_err("%s", err);
		return QD_EXIT_FAIL;
	}
	/* The core owns ssl from here, also on failure. */
	r = ctrld_core_init(&d->core, &d->cfg, ssl, &node_ops, d, err,
			    sizeof(err));
	d->core_up = true;
	if (r < 0) {
		qd_err("%s", err);
		return QD_EXIT_FAIL;
	}
	d->sfd = qd_signalfd();
	if (d->sfd < 0)
		return QD_EXIT_FAIL;
	/* Routes left by an earlier run describe an old graph. */
	r = ctrld_kernel_route_del(&d->kern, NULL);
	if (r < 0 && r != -ENOENT)
		qd_warn("cannot flush the route table: %s (%s)",
			qd_nl_errmsg(&d->kern), strerror(-r));
	if (d->cfg.mode == CTRLD_AGENT)
		qd_notice("mode agent, controller %s at %s:%s",
			  d->cfg.controller.id, d->cfg.controller.host,
			  d->cfg.controller.port);
	else
		qd_notice("mode %s, listening on %s, low_key %llu bytes",
			  ctrld_mode_name(d->cfg.mode),
			  qd_addr_join(d->cfg.common.listen_host,
				       d->cfg.common.listen_port, addr,
				       sizeof(addr)),
			  (unsigned long long)d->cfg.low_key);
	return QD_EXIT_OK;
}

int ctrld_run(struct ctrld *d)
{
	struct pollfd pfd[2];
	bool pending;
	uint64_t now;
	int r;

	while (!d->stop) {
		now = qd_now_ms();
		if (now >= d->next_refresh) {
			d->next_refresh = now + CTRLD_REFRESH_MS;
			refresh(d, now);
		}
		pfd[0] = (struct pollfd){ .fd = d->sfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = qd_nl_event_fd(&d->kern),
					  .events = POLLIN };
		pending = qd_nl_pending(&d->kern) > 0;
		now = qd_now_ms();
		r = ctrld_core_poll(&d->core, pfd, 2, pending ? 0 :
				    d->next_refresh > now ?
				    (int)(d->next_refresh - now) : 0);
		if (r < 0) {
			qd_err("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents &&
		    qd_signals(d->sfd, &d->core.ssl, &d->cfg.common))
			d->stop = true;
		if (d->stop)
			break;
		if (pfd[1].revents || pending) {
			r = ctrld_kernel_recv(&d->kern, kernel_req, kernel_event,
					      d);
			if (r < 0) {
				qd_err("kernel event socket: %s", strerror(-r));
				break;
			}
		}
	}
	return d->stop ? QD_EXIT_OK : QD_EXIT_FAIL;
}

void ctrld_stop(struct ctrld *d)
{
	int r;

	if (d->core_up) {
		ctrld_core_free(&d->core);
		d->core_up = false;
	}
	if (d->kern.cmd) {
		/* Nobody keeps them up to date any more. */
		r = ctrld_kernel_route_del(&d->kern, NULL);
		if (r < 0 && r != -ENOENT)
			qd_dbg("route flush at exit: %s", strerror(-r));
	}
	if (d->sfd >= 0)
		close(d->sfd);
	d->sfd = -1;
	qd_nl_close(&d->kern);
	ctrld_config_free(&d->cfg);
}
