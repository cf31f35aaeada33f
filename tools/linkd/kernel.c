// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-linkd netlink side. Frames are opaque here: only their sizes are
 * ever logged.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/genetlink.h>

#include "libqkdn.h"
#include "qkdn_node.h"
#include "kernel.h"
#include "log.h"

static bool kernel_busy(int e)
{
	return e == EBUSY || e == EEXIST || e == EALREADY;
}

static void kernel_errfmt(char *err, size_t errlen, const char *what,
			  int e, const char *extack)
{
	if (kernel_busy(e) && !(extack && *extack))
		snprintf(err, errlen, "%s: another link daemon is bound in this network namespace",
			 what);
	else
		qkdn_errfmt(err, errlen, what, e, extack);
}

int linkd_kernel_open(struct qd_nl *k, char *err, size_t errlen)
{
	struct nlmsghdr *nlh;
	int r;

	r = qd_nl_open(k, LINKD_EVENT_RCVBUF, err, errlen);
	if (r < 0 && kernel_busy(-r))
		kernel_errfmt(err, errlen, "netlink", -r, NULL);
	if (r < 0)
		return r;
	nlh = qkdn_msg(k->ev, k->buf, QKDN_CMD_KX_BIND, 0);
	r = qkdn_request(k->ev, nlh, NULL, NULL);
	if (r < 0)
		kernel_errfmt(err, errlen, "kx-bind", -r, qkdn_errmsg(k->ev));
	else
		r = qd_nl_nonblock(k, err, errlen);
	if (r < 0)
		qd_nl_close(k);
	return r;
}

struct links_ctx {
	struct qd_nl *k;
	linkd_link_cb cb;
	void *ctx;
};

static int links_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1] = { 0 };
	struct links_ctx *lc = data;
	char peer[QKDN_ID_MAX];

	if (qkdn_parse(nlh, tb) < 0 || !tb[QKDN_A_LINK_ID] ||
	    !tb[QKDN_A_PEER_NODE_ID] ||
	    !qkdn_attr_id(tb[QKDN_A_PEER_NODE_ID], peer)) {
		lc->k->bad_msgs++;
		return MNL_CB_OK;
	}
	lc->cb(lc->ctx, mnl_attr_get_u32(tb[QKDN_A_LINK_ID]), peer,
	       tb[QKDN_A_LINK_UP] ? mnl_attr_get_u8(tb[QKDN_A_LINK_UP]) : -1);
	return MNL_CB_OK;
}

int linkd_kernel_links(struct qd_nl *k, linkd_link_cb cb, void *ctx)
{
	struct links_ctx lc = { .k = k, .cb = cb, .ctx = ctx };
	struct nlmsghdr *nlh;

	nlh = qkdn_msg(k->cmd, k->buf, QKDN_CMD_LINK_GET, NLM_F_DUMP);
	return qkdn_request(k->cmd, nlh, links_cb, &lc);
}

int linkd_kernel_frame(struct qd_nl *k, uint32_t link_id,
		       const uint8_t *frame, size_t len)
{
	struct nlmsghdr *nlh;

	if (!len || len > QKDN_KX_FRAME_MAX)
		return -EINVAL;
	nlh = qkdn_msg(k->cmd, k->buf, QKDN_CMD_KX_FRAME, 0);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, link_id);
	mnl_attr_put(nlh, QKDN_A_KX_FRAME, len, frame);
	return qkdn_request(k->cmd, nlh, NULL, NULL);
}

int linkd_kernel_channel(struct qd_nl *k, uint32_t link_id, int up)
{
	struct nlmsghdr *nlh;

	nlh = qkdn_msg(k->cmd, k->buf, QKDN_CMD_KX_CHANNEL, 0);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, link_id);
	mnl_attr_put_u8(nlh, QKDN_A_LINK_UP, up ? 1 : 0);
	return qkdn_request(k->cmd, nlh, NULL, NULL);
}

struct recv_ctx {
	struct qd_nl *k;
	linkd_frame_cb cb;
	void *ctx;
};

static int recv_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1] = { 0 };
	const struct genlmsghdr *gh = mnl_nlmsg_get_payload(nlh);
	struct recv_ctx *rc = data;
	char peer[QKDN_ID_MAX] = "";
	size_t len;

	if (gh->cmd != QKDN_CMD_KX_FRAME)
		return MNL_CB_OK;
	if (qkdn_parse(nlh, tb) < 0 || !tb[QKDN_A_LINK_ID] ||
	    !tb[QKDN_A_KX_FRAME])
		goto bad;
	len = mnl_attr_get_payload_len(tb[QKDN_A_KX_FRAME]);
	if (!len || len > QKDN_KX_FRAME_MAX)
		goto bad;
	if (tb[QKDN_A_PEER_NODE_ID] && !qkdn_attr_id(tb[QKDN_A_PEER_NODE_ID], peer))
		peer[0] = '\0';
	rc->cb(rc->ctx, mnl_attr_get_u32(tb[QKDN_A_LINK_ID]), peer,
	       mnl_attr_get_payload(tb[QKDN_A_KX_FRAME]), len);
	return MNL_CB_OK;

bad:
	rc->k->bad_msgs++;
	qd_warn("malformed kx-frame message from the kernel (%u bytes)",
		   nlh->nlmsg_len);
	return MNL_CB_OK;
}

int linkd_kernel_recv(struct qd_nl *k, linkd_frame_cb cb, void *ctx)
{
	struct recv_ctx rc = { .k = k, .cb = cb, .ctx = ctx };

	return qd_nl_recv(k, recv_cb, &rc, "kernel frames",
			  "the kernel retransmits");
}
