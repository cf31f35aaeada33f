// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd netlink side. Only a thin translation between Ck
 * messages and the core's structures; no decisions are made here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/genetlink.h>

#include "libqkdn.h"
#include "qkdn_node.h"
#include "kernel.h"
#include "log.h"

int ctrld_kernel_open(struct qd_nl *k, char *err, size_t errlen)
{
	static const char *const groups[] = { QKDN_MCGRP_CTRL, QKDN_MCGRP_EVENTS };
	char what[64];
	size_t i;
	int r;

	r = qd_nl_open(k, CTRLD_EVENT_RCVBUF, err, errlen);
	if (r < 0)
		return r;
	for (i = 0; i < 2; i++) {
		r = qkdn_mcast_join(k->ev, groups[i]);
		if (r == -ENOENT) {
			snprintf(err, errlen, "netlink: the qkdn family has no \"%s\" group: is qkdn.ko too old?",
				 groups[i]);
			goto fail;
		}
		if (r < 0) {
			snprintf(what, sizeof(what), "join \"%s\"", groups[i]);
			qkdn_errfmt(err, errlen, what, -r, NULL);
			goto fail;
		}
	}
	r = qd_nl_nonblock(k, err, errlen);
	if (!r)
		return 0;

fail:
	qd_nl_close(k);
	return r;
}

/* Links as the kernel lists them, before they are merged per peer. */
struct klink {
	uint32_t id;
	char peer[QKDN_ID_MAX];
	bool up;
	uint64_t own;
};

struct klinks {
	struct qd_nl *k;
	struct klink l[CTRLD_KLINKS_MAX];
	size_t n;
};

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1] = { 0 };
	struct klinks *kl = data;
	struct klink *l;

	if (kl->n >= CTRLD_KLINKS_MAX)
		return MNL_CB_OK;
	l = &kl->l[kl->n];
	memset(l, 0, sizeof(*l));
	if (qkdn_parse(nlh, tb) < 0 || !tb[QKDN_A_LINK_ID] ||
	    !tb[QKDN_A_PEER_NODE_ID] ||
	    !qkdn_attr_id(tb[QKDN_A_PEER_NODE_ID], l->peer)) {
		kl->k->bad_msgs++;
		return MNL_CB_OK;
	}
	l->id = mnl_attr_get_u32(tb[QKDN_A_LINK_ID]);
	l->up = tb[QKDN_A_LINK_UP] && mnl_attr_get_u8(tb[QKDN_A_LINK_UP]);
	kl->n++;
	return MNL_CB_OK;
}

static int pool_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1] = { 0 };
	struct klinks *kl = data;
	uint32_t id;
	size_t i;

	if (qkdn_parse(nlh, tb) < 0 || !tb[QKDN_A_LINK_ID] ||
	    !tb[QKDN_A_POOL_OWN_BYTES]) {
		kl->k->bad_msgs++;
		return MNL_CB_OK;
	}
	id = mnl_attr_get_u32(tb[QKDN_A_LINK_ID]);
	for (i = 0; i < kl->n; i++)
		if (kl->l[i].id == id)
			kl->l[i].own = mnl_attr_get_u64(tb[QKDN_A_POOL_OWN_BYTES]);
	return MNL_CB_OK;
}

int ctrld_kernel_links(struct qd_nl *k, struct ctrld_link *out,
		       size_t max, size_t *n)
{
	struct klinks *kl = calloc(1, sizeof(*kl));
	struct nlmsghdr *nlh;
	size_t i, j;
	int r;

	*n = 0;
	if (!kl)
		return -ENOMEM;
	kl->k = k;
	nlh = qkdn_msg(k->cmd, k->buf, QKDN_CMD_LINK_GET, NLM_F_DUMP);
	r = qkdn_request(k->cmd, nlh, link_cb, kl);
	if (!r) {
		nlh = qkdn_msg(k->cmd, k->buf, QKDN_CMD_POOL_GET, NLM_F_DUMP);
		r = qkdn_request(k->cmd, nlh, pool_cb, kl);
	}
	for (i = 0; !r && i < kl->n; i++) {
		const struct klink *l = &kl->l[i];

		for (j = 0; j < *n; j++)
			if (!strcmp(out[j].peer, l->peer))
				break;
		if (j == *n) {
			if (*n >= max)
				continue;
			memset(&out[j], 0, sizeof(out[j]));
			snprintf(out[j].peer, sizeof(out[j].peer), "%s", l->peer);
			(*n)++;
		} else if (out[j].up && !l->up) {
			continue;	/* an up link beats a down one */
		} else if (out[j].up == l->up && out[j].own_bytes >= l->own) {
			continue;
		}
		out[j].up = l->up;
		out[j].own_bytes = l->own;
	}
	free(kl);
	return r;
}

int ctrld_kernel_set_mode(struct qd_nl *k, uint8_t mode)
{
	struct nlmsghdr *nlh;

	nlh = qkdn_msg(k->cmd, k->buf, QKDN_CMD_NODE_SET, 0);
	mnl_attr_put_u8(nlh, QKDN_A_CTRL_MODE, mode);
	return qkdn_request(k->cmd, nlh, NULL, NULL);
}

static void put_route(struct nlmsghdr *nlh, const struct ctrld_path *p)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, QKDN_A_ROUTE);
	unsigned int i;

	for (i = 0; i < p->n; i++)
		mnl_attr_put_strz(nlh, QKDN_A_ROUTE_NODE, p->node[i]);
	mnl_attr_nest_end(nlh, nest);
}

int ctrld_kernel_answer(struct qd_nl *k, const struct ctrld_answer *a)
{
	struct nlmsghdr *nlh;

	nlh = qkdn_msg(k->cmd, k->buf, QKDN_CMD_CTRL, 0);
	mnl_attr_put_u32(nlh, QKDN_A_MSG, a->msg);
	if (a->ctrl_id)
		mnl_attr_put_u32(nlh, QKDN_A_CTRL_ID, a->ctrl_id);
	if (a->msg == QKDN_MSG_KEY_ALLOCATION_REQUEST ||
	    (a->msg == QKDN_MSG_KEY_RELAY_REQUEST && !a->ctrl_id))
		mnl_attr_put(nlh, QKDN_A_RELAY_ID, QKDN_RELAY_ID_LEN,
			     a->relay_id);
	if (a->err) {
		mnl_attr_put_u32(nlh, QKDN_A_ERRNO, a->err);
		if (a->errmsg[0])
			mnl_attr_put_strz(nlh, QKDN_A_ERRMSG, a->errmsg);
		return qkdn_request(k->cmd, nlh, NULL, NULL);
	}
	switch (a->msg) {
	case QKDN_MSG_NEXT_HOP_RESPONSE:
	case QKDN_MSG_KEY_RESERVATION_REQUEST:
		mnl_attr_put_strz(nlh, QKDN_A_NEXT_HOP, a->path.node[1]);
		break;
	case QKDN_MSG_KEY_RELAY_REQUEST:
		put_route(nlh, &a->path);
		break;
	case QKDN_MSG_SESSION_CREATION_NOTIFICATION:
		mnl_attr_put_strz(nlh, QKDN_A_SRC_NODE_ID, a->src);
		mnl_attr_put_strz(nlh, QKDN_A_MASTER_SAE_ID, a->master);
		mnl_attr_put_strz(nlh, QKDN_A_SLAVE_SAE_ID, a->slave);
		/* fall through */
	case QKDN_MSG_SESSION_CREATION_RESPONSE:
		mnl_attr_put_u32(nlh, QKDN_A_SESSION_ID, a->session_id);
		break;
	}
	return qkdn_request(k->cmd, nlh, NULL, NULL);
}

int ctrld_kernel_route_set(struct qd_nl *k, const struct ctrld_route *r)
{
	struct nlmsghdr *nlh;

	nlh = qkdn_msg(k->cmd, k->buf, QKDN_CMD_ROUTE_NEW, 0);
	mnl_attr_put_strz(nlh, QKDN_A_DST_NODE_ID, r->dst);
	mnl_attr_put_strz(nlh, QKDN_A_NEXT_HOP, r->path.node[1]);
	put_route(nlh, &r->path);
	mnl_attr_put_u32(nlh, QKDN_A_ROUTE_METRIC, r->path.metric);
	/* Requests carry no QKDN_A_PAD: strict validation rejects it. */
	mnl_attr_put_u64(nlh, QKDN_A_ROUTE_AVAIL, r->path.avail);
	return qkdn_request(k->cmd, nlh, NULL, NULL);
}

int ctrld_kernel_route_del(struct qd_nl *k, const char *dst)
{
	struct nlmsghdr *nlh;

	nlh = qkdn_msg(k->cmd, k->buf, QKDN_CMD_ROUTE_DEL, 0);
	if (dst)
		mnl_attr_put_strz(nlh, QKDN_A_DST_NODE_ID, dst);
	return qkdn_request(k->cmd, nlh, NULL, NULL);
}

struct recv_ctx {
	struct qd_nl *k;
	ctrld_kreq_cb req;
	ctrld_kevent_cb event;
	void *ctx;
};

/* The kernel's text, printable only (it travels over Cx). */
static void text_copy(char out[QKDN_ERRMSG_MAX], const char *in)
{
	size_t i;

	for (i = 0; in[i] && i < QKDN_ERRMSG_MAX - 1; i++)
		out[i] = in[i] >= ' ' && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

static bool opt_id(const struct nlattr *a, char out[QKDN_ID_MAX])
{
	out[0] = '\0';
	return !a || qkdn_attr_id(a, out);
}

static int recv_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1] = { 0 };
	const struct genlmsghdr *gh = mnl_nlmsg_get_payload(nlh);
	struct recv_ctx *rc = data;
	struct ctrld_req r = { 0 };

	if (gh->cmd != QKDN_CMD_CTRL && gh->cmd != QKDN_CMD_EVENT)
		return MNL_CB_OK;
	if (qkdn_parse(nlh, tb) < 0)
		goto bad;
	if (gh->cmd == QKDN_CMD_EVENT) {
		if (tb[QKDN_A_EVENT])
			rc->event(rc->ctx, mnl_attr_get_u32(tb[QKDN_A_EVENT]));
		return MNL_CB_OK;
	}
	if (!tb[QKDN_A_MSG] || !tb[QKDN_A_SRC_NODE_ID] || !tb[QKDN_A_DST_NODE_ID])
		goto bad;
	r.msg = mnl_attr_get_u32(tb[QKDN_A_MSG]);
	if (tb[QKDN_A_CTRL_ID])
		r.ctrl_id = mnl_attr_get_u32(tb[QKDN_A_CTRL_ID]);
	if (tb[QKDN_A_RELAY_ID])
		memcpy(r.relay_id, mnl_attr_get_payload(tb[QKDN_A_RELAY_ID]),
		       QKDN_RELAY_ID_LEN);
	if (tb[QKDN_A_RELAY_BYTES])
		r.relay_bytes = mnl_attr_get_u32(tb[QKDN_A_RELAY_BYTES]);
	if (tb[QKDN_A_ERRNO])
		r.err = mnl_attr_get_u32(tb[QKDN_A_ERRNO]);
	if (tb[QKDN_A_SESSION_ID])
		r.session_id = mnl_attr_get_u32(tb[QKDN_A_SESSION_ID]);
	if (tb[QKDN_A_ERRMSG])
		text_copy(r.errmsg, mnl_attr_get_str(tb[QKDN_A_ERRMSG]));
	if (!qkdn_attr_id(tb[QKDN_A_SRC_NODE_ID], r.src) ||
	    !qkdn_attr_id(tb[QKDN_A_DST_NODE_ID], r.dst) ||
	    !opt_id(tb[QKDN_A_PEER_NODE_ID], r.peer) ||
	    !opt_id(tb[QKDN_A_MASTER_SAE_ID], r.master) ||
	    !opt_id(tb[QKDN_A_SLAVE_SAE_ID], r.slave))
		goto bad;
	/* Requests need an ID to be answered by, sessions theirs. */
	switch (r.msg) {
	case QKDN_MSG_KEY_RELAY_RESPONSE:
		break;
	case QKDN_MSG_SESSION_NOTIFICATION_RESPONSE:
		if (!r.session_id)
			goto bad;
		break;
	case QKDN_MSG_SESSION_CREATION_REQUEST:
		if (!r.ctrl_id || !r.master[0] || !r.slave[0])
			goto bad;
		break;
	default:
		if (!r.ctrl_id)
			goto bad;
	}
	rc->req(rc->ctx, &r);
	return MNL_CB_OK;

bad:
	rc->k->bad_msgs++;
	qd_warn("malformed %s message from the kernel (%u bytes)",
		qkdn_cmd_name(gh->cmd) ? qkdn_cmd_name(gh->cmd) : "?",
		nlh->nlmsg_len);
	return MNL_CB_OK;
}

int ctrld_kernel_recv(struct qd_nl *k, ctrld_kreq_cb req,
		      ctrld_kevent_cb event, void *ctx)
{
	struct recv_ctx rc = { .k = k, .req = req, .event = event, .ctx = ctx };

	return qd_nl_recv(k, recv_cb, &rc, "kernel messages",
			  "lost requests time out in the kernel");
}
