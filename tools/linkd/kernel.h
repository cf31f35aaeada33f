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

#define LINKD_EVENT_RCVBUF	(8 << 20)

struct qkdn_sock;

struct linkd_kernel {
	struct qkdn_sock *cmd;
	struct qkdn_sock *ev;
	void *buf;			/* QKDN_BUF_SIZE, for requests */
	uint64_t enobufs;		/* times the event socket overflowed */
	uint64_t bad_msgs;		/* malformed messages from the kernel */
};

/* up: the kernel's channel state of the link (QKDN_A_LINK_UP), -1 unknown */
typedef void (*linkd_link_cb)(void *ctx, uint32_t link_id, const char *peer,
			      int up);
typedef void (*linkd_frame_cb)(void *ctx, uint32_t link_id, const char *peer,
			       const uint8_t *frame, size_t len);

/* Open both sockets and bind the event socket. Returns 0 or -errno, with
 * a message for the operator in err.
 */
int linkd_kernel_open(struct linkd_kernel *k, char *err, size_t errlen);
void linkd_kernel_close(struct linkd_kernel *k);
int linkd_kernel_event_fd(const struct linkd_kernel *k);
/* Messages already read from the event socket and kept for
 * linkd_kernel_recv(): poll() does not see them.
 */
int linkd_kernel_pending(const struct linkd_kernel *k);

/* This node's ID ("" while it is not set). 0 or -errno. */
int linkd_kernel_node_id(struct linkd_kernel *k, char id[QKDN_ID_MAX]);
/* Every link: cb(link ID, peer node ID). 0 or -errno. */
int linkd_kernel_links(struct linkd_kernel *k, linkd_link_cb cb, void *ctx);
/* Hand a frame from a peer to the kernel. 0 or -errno; then
 * linkd_kernel_errmsg() holds the kernel's reason.
 */
int linkd_kernel_frame(struct linkd_kernel *k, uint32_t link_id,
		       const uint8_t *frame, size_t len);
/* Report the channel of a link up (1) or down (0). 0 or -errno. */
int linkd_kernel_channel(struct linkd_kernel *k, uint32_t link_id, int up);
const char *linkd_kernel_errmsg(const struct linkd_kernel *k);

/* Take the frames queued on the event socket: cb for each. Returns 0 when
 * drained, or -errno on a failure of the socket itself. An overflow
 * (ENOBUFS) is counted and logged, not an error.
 */
int linkd_kernel_recv(struct linkd_kernel *k, linkd_frame_cb cb, void *ctx);

#endif /* LINKD_KERNEL_H */
