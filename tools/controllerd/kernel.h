/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-controllerd netlink side (Ck), on libqkdn: a command socket for
 * requests and an event socket on the "ctrl" and "events" groups.
 */
#ifndef CTRLD_KERNEL_H
#define CTRLD_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <linux/qkdn.h>

#include "cx.h"
#include "lsdb.h"
#include "nl.h"
#include "route.h"

#define CTRLD_EVENT_RCVBUF	(4 << 20)
#define CTRLD_KLINKS_MAX	256	/* links read from the kernel */

typedef void (*ctrld_kreq_cb)(void *ctx, const struct ctrld_req *r);
typedef void (*ctrld_kevent_cb)(void *ctx, uint32_t event);

/* Open both sockets (qd_nl_open()), join "ctrl" and "events". 0 or
 * -errno, with a message for the operator in err. The rest of the
 * sockets' life is qd_nl_*().
 */
int ctrld_kernel_open(struct qd_nl *k, char *err, size_t errlen);

/* This node's links, one per peer node: up if any link to it is up, and
 * the own bytes of the best such link. 0 or -errno.
 */
int ctrld_kernel_links(struct qd_nl *k, struct ctrld_link *out,
		       size_t max, size_t *n);
/* NODE_SET ctrl-mode (enum qkdn_ctrl_mode). 0 or -errno. */
int ctrld_kernel_set_mode(struct qd_nl *k, uint8_t mode);
/* QKDN_CMD_CTRL with a Ck message: an answer or a command. 0 or -errno
 * (qd_nl_errmsg() says why).
 */
int ctrld_kernel_answer(struct qd_nl *k, const struct ctrld_answer *a);
/* ROUTE_NEW; ROUTE_DEL of dst, or of every route when dst is NULL. */
int ctrld_kernel_route_set(struct qd_nl *k, const struct ctrld_route *r);
int ctrld_kernel_route_del(struct qd_nl *k, const char *dst);

/* Take what is queued on the event socket: req for each ctrl message,
 * event for each event. 0 when drained, or -errno on a failure of the
 * socket itself. An overflow (ENOBUFS) is counted and logged.
 */
int ctrld_kernel_recv(struct qd_nl *k, ctrld_kreq_cb req,
		      ctrld_kevent_cb event, void *ctx);

#endif /* CTRLD_KERNEL_H */
