// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libqkdn helpers for the daemons.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qkdn_node.h"

bool qkdn_attr_id(const struct nlattr *a, char out[QKDN_ID_MAX])
{
	const char *p = mnl_attr_get_payload(a);
	size_t n = strnlen(p, mnl_attr_get_payload_len(a));

	if (n == 0 || n >= QKDN_ID_MAX)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static int node_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1] = { 0 };
	char *id = data;

	if (qkdn_parse(nlh, tb) < 0 || !tb[QKDN_A_NODE_ID] ||
	    !qkdn_attr_id(tb[QKDN_A_NODE_ID], id))
		id[0] = '\0';
	return MNL_CB_OK;
}

int qkdn_node_id(struct qkdn_sock *qs, void *buf, char id[QKDN_ID_MAX])
{
	struct nlmsghdr *nlh;

	id[0] = '\0';
	nlh = qkdn_msg(qs, buf, QKDN_CMD_NODE_GET, 0);
	return qkdn_request(qs, nlh, node_cb, id);
}

void qkdn_errfmt(char *out, size_t outlen, const char *what, int e,
		 const char *extack)
{
	const char *hint = NULL;

	if (e == ENOENT)
		hint = "generic netlink family \"" QKDN_GENL_NAME
		       "\" not found: is qkdn.ko loaded?";
	else if (e == EPERM || e == EACCES)
		hint = "permission denied: CAP_NET_ADMIN is needed";
	if (extack && *extack)
		snprintf(out, outlen, "%s: %s (%s)", what, extack, strerror(e));
	else if (hint)
		snprintf(out, outlen, "%s: %s", what, hint);
	else
		snprintf(out, outlen, "%s: %s", what, strerror(e));
}
