// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libqkdn's socket code against the host kernel's own generic netlink
 * controller ("nlctrl"): family resolution, do and dump requests, errors
 * with extended ACK, and ENOENT for the qkdn family when no module is
 * loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/genetlink.h>

#include "libqkdn.h"
#include "tap.h"

static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(*(int *)data)++;
	return MNL_CB_OK;
}

static struct nlmsghdr *ctrl_msg(void *buf, uint8_t cmd, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = 1;
	return nlh;
}

int main(void)
{
	struct qkdn_sock *qs;
	struct nlmsghdr *nlh;
	void *buf = calloc(1, QKDN_BUF_SIZE);
	int n = 0, ret;

	tap_plan(11);

	qs = qkdn_open_genl("nlctrl");
	if (!qs) {
		tap_skip_all("no generic netlink on this host");
		free(buf);
		return 0;
	}
	tap_ok(qkdn_family_id(qs) == GENL_ID_CTRL, "nlctrl resolves to GENL_ID_CTRL");
	tap_ok(qkdn_portid(qs) != 0 && qkdn_fd(qs) >= 0, "socket bound");

	nlh = ctrl_msg(buf, CTRL_CMD_GETFAMILY, NLM_F_DUMP);
	ret = qkdn_request(qs, nlh, count_cb, &n);
	tap_ok(ret == 0 && n > 1, "dump of all families (%d)", n);

	n = 0;
	nlh = ctrl_msg(buf, CTRL_CMD_GETFAMILY, 0);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "nlctrl");
	ret = qkdn_request(qs, nlh, count_cb, &n);
	tap_ok(ret == 0 && n == 1, "do request: one reply and the ACK");

	nlh = ctrl_msg(buf, CTRL_CMD_GETFAMILY, 0);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "no-such-family");
	ret = qkdn_request(qs, nlh, NULL, NULL);
	tap_ok(ret == -ENOENT, "unknown family: -ENOENT (%d)", ret);

	/* An attribute the strict policy of GETPOLICY rejects, with extack. */
	nlh = ctrl_msg(buf, CTRL_CMD_GETPOLICY, NLM_F_DUMP);
	mnl_attr_put_u32(nlh, CTRL_ATTR_FAMILY_ID, 16);
	ret = qkdn_request(qs, nlh, NULL, NULL);
	tap_ok(ret == -EINVAL && qkdn_errmsg(qs)[0] && qkdn_erroff(qs) == 20,
	       "bad attribute: -EINVAL, \"%s\", offset %u", qkdn_errmsg(qs),
	       qkdn_erroff(qs));

	nlh = ctrl_msg(buf, CTRL_CMD_GETFAMILY, 0);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "nlctrl");
	ret = qkdn_request(qs, nlh, NULL, NULL);
	tap_ok(ret == 0 && !qkdn_errmsg(qs)[0] && !qkdn_erroff(qs),
	       "error state cleared by the next request");
	tap_ok(qkdn_mcast_join(qs, "no-such-group") == -ENOENT,
	       "unknown multicast group: -ENOENT");

	/* A dump of one message per policy, ending with NLMSG_DONE. */
	n = 0;
	nlh = ctrl_msg(buf, CTRL_CMD_GETPOLICY, NLM_F_DUMP);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "nlctrl");
	ret = qkdn_request(qs, nlh, count_cb, &n);
	tap_ok(ret == 0 && n > 1, "multi-part dump (%d messages)", n);

	fcntl(qkdn_fd(qs), F_SETFL, O_NONBLOCK);
	tap_ok(qkdn_pending(qs) == 0 && qkdn_recv(qs, count_cb, &n) == -EAGAIN,
	       "nothing queued: qkdn_recv on a non-blocking socket gives -EAGAIN");
	qkdn_close(qs);

	errno = 0;
	qs = qkdn_open();
	if (qs) {
		tap_skip("qkdn family present on this host");
		qkdn_close(qs);
	} else {
		tap_ok(errno == ENOENT, "qkdn_open without module: ENOENT");
	}
	free(buf);
	return tap_done();
}
