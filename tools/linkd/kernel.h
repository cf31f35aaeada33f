/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-linkd netlink side, on libqkdn: a "command" socket for requests and
 * an "event" socket bound with QKDN_CMD_KX_BIND that receives the frames
 * the kernel wants carried to peers.
 */
#ifndef LINKD_KERNEL_H
#define LINKD_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <linux/qkdn.h>

#include "nl.h"

#define LINKD_EVENT_RCVBUF	(8 << 20)

/* up: the kernel's channel state of the link (QKDN_A_LINK_UP), -1 unknown */
typedef void (*linkd_link_cb)(void *ctx, uint32_t link_id, const char *peer,
			      int up);
typedef void (*linkd_frame_cb)(void *ctx, uint32_t link_id, const char *peer,
			       const uint8_t *frame, size_t len);

/* Open both sockets (qd_nl_open()) and bind the event socket. Returns 0
 * or -errno, with a message for the operator in err. The rest of the
 * sockets' life is qd_nl_*().
 */
int linkd_kernel_open(struct qd_nl *k, char *err, size_t errlen);

/* Every link: cb(link ID, peer node ID). 0 or -errno. */
int linkd_kernel_links(struct qd_nl *k, linkd_link_cb cb, void *ctx);
/* Hand a frame from a peer to the kernel. 0 or -errno; then
 * qd_nl_errmsg() holds the kernel's reason.
 */
int linkd_kernel_frame(struct qd_nl *k, uint32_t link_id,
		       const uint8_t *frame, size_t len);
/* Report the channel of a link up (1) or down (0). 0 or -errno. */
int linkd_kernel_channel(struct qd_nl *k, uint32_t link_id, int up);

/* Take the frames queued on the event socket: cb for each. Returns 0 when
 * drained, or -errno on a failure of the socket itself. An overflow
 * (ENOBUFS) is counted and logged, not an error.
 */
int linkd_kernel_recv(struct qd_nl *k, linkd_frame_cb cb, void *ctx);

#endif /* LINKD_KERNEL_H */
