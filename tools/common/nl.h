/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A daemon's netlink side, on libqkdn: a command socket for requests and
 * a non-blocking event socket, on which each daemon binds or joins what it
 * needs (QKDN_CMD_KX_BIND for qkdn-linkd, the "ctrl" and "events" groups
 * for qkdn-controllerd).
 */
#ifndef QD_NL_H
#define QD_NL_H

#include <stddef.h>
#include <stdint.h>
#include <libmnl/libmnl.h>
#include <linux/qkdn.h>

struct qkdn_sock;

struct qd_nl {
	struct qkdn_sock *cmd;
	struct qkdn_sock *ev;
	void *buf;			/* QKDN_BUF_SIZE, for requests */
	uint64_t enobufs;		/* times the event socket overflowed */
	uint64_t bad_msgs;		/* malformed messages from the kernel */
};

/* Open both sockets, the event socket with a receive buffer of rcvbuf
 * bytes. 0, or -errno with a message for the operator in err (and k
 * closed).
 */
int qd_nl_open(struct qd_nl *k, int rcvbuf, char *err, size_t errlen);
/* Make the event socket non-blocking, once bound. 0, or -errno with a
 * message in err.
 */
int qd_nl_nonblock(struct qd_nl *k, char *err, size_t errlen);
void qd_nl_close(struct qd_nl *k);

int qd_nl_event_fd(const struct qd_nl *k);
/* Messages already read from the event socket and kept for qd_nl_recv():
 * poll() does not see them.
 */
int qd_nl_pending(const struct qd_nl *k);
/* The kernel's reason for the last failed request, or "". */
const char *qd_nl_errmsg(const struct qd_nl *k);
/* This node's ID ("" while it is not set). 0 or -errno. */
int qd_nl_node_id(struct qd_nl *k, char id[QKDN_ID_MAX]);

/* Take what is queued on the event socket: cb for each message. Returns 0
 * when drained, or -errno on a failure of the socket itself. An overflow
 * (ENOBUFS) is counted and logged as "LOST lost: event socket overflowed
 * (N times); THEN", not an error.
 */
int qd_nl_recv(struct qd_nl *k, mnl_cb_t cb, void *data, const char *lost,
	       const char *then);

#endif /* QD_NL_H */
