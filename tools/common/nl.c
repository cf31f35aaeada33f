// SPDX-License-Identifier: GPL-2.0
/*
 * The daemons' netlink sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "libqkdn.h"
#include "qkdn_node.h"
#include "log.h"
#include "nl.h"

int qd_nl_open(struct qd_nl *k, int rcvbuf, char *err, size_t errlen)
{
	int fd, r;

	memset(k, 0, sizeof(*k));
	k->buf = malloc(QKDN_BUF_SIZE);
	if (!k->buf) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	k->cmd = qkdn_open();
	k->ev = k->cmd ? qkdn_open() : NULL;
	if (!k->cmd || !k->ev) {
		r = -errno;
		qkdn_errfmt(err, errlen, "netlink", -r, NULL);
		qd_nl_close(k);
		return r;
	}
	fd = qkdn_fd(k->ev);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	return 0;
}

int qd_nl_nonblock(struct qd_nl *k, char *err, size_t errlen)
{
	int fd = qkdn_fd(k->ev), fl, r;

	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		r = -errno;
		snprintf(err, errlen, "netlink: %s", strerror(-r));
		return r;
	}
	return 0;
}

void qd_nl_close(struct qd_nl *k)
{
	qkdn_close(k->ev);
	qkdn_close(k->cmd);
	free(k->buf);
	k->ev = NULL;
	k->cmd = NULL;
	k->buf = NULL;
}

int qd_nl_event_fd(const struct qd_nl *k)
{
	return qkdn_fd(k->ev);
}

int qd_nl_pending(const struct qd_nl *k)
{
	return qkdn_pending(k->ev);
}

const char *qd_nl_errmsg(const struct qd_nl *k)
{
	const char *m = qkdn_errmsg(k->cmd);

	return m ? m : "";
}

int qd_nl_node_id(struct qd_nl *k, char id[QKDN_ID_MAX])
{
	return qkdn_node_id(k->cmd, k->buf, id);
}

int qd_nl_recv(struct qd_nl *k, mnl_cb_t cb, void *data, const char *lost,
	       const char *then)
{
	int i, r;

	/* Bounded, so that channels get their turn; poll() calls again. */
	for (i = 0; i < 256; i++) {
		r = qkdn_recv(k->ev, cb, data);
		if (r == -EINTR)
			continue;
		if (r == -ENOBUFS) {
			k->enobufs++;
			qd_warn("%s lost: event socket overflowed (%llu times); %s",
				lost, (unsigned long long)k->enobufs, then);
			continue;
		}
		if (r == -EAGAIN || r == -EWOULDBLOCK || r == 0)
			return 0;
		if (r < 0)
			return r;
	}
	return 0;
}
