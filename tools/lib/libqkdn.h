/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * libqkdn: the one netlink client of the "qkdn" generic netlink family,
 * on libmnl. Every tool links it; uapi/linux/qkdn.h is its contract.
 */
#ifndef LIBQKDN_H
#define LIBQKDN_H

#include <stddef.h>
#include <stdint.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/qkdn.h>

struct qkdn_sock;

/* Join the network namespace /var/run/netns/NAME (iproute2's "ip -n"). */
int qkdn_setns(const char *name);

/* Open a generic netlink socket and resolve the qkdn family and its
 * multicast groups. Returns NULL with errno set (ENOENT: module not loaded). */
struct qkdn_sock *qkdn_open(void);
void qkdn_close(struct qkdn_sock *qs);
int qkdn_fd(const struct qkdn_sock *qs);
uint32_t qkdn_portid(const struct qkdn_sock *qs);
int qkdn_mcast_join(struct qkdn_sock *qs, const char *group);

/* Start a request in buf (at least QKDN_BUF_SIZE bytes): nlmsghdr + genl
 * header for cmd; flags are added to NLM_F_REQUEST | NLM_F_ACK. */
#define QKDN_BUF_SIZE	(MNL_SOCKET_BUFFER_SIZE > 32768 ? MNL_SOCKET_BUFFER_SIZE : 32768)
struct nlmsghdr *qkdn_msg(struct qkdn_sock *qs, void *buf, uint8_t cmd,
			  uint16_t flags);

/* Send req, call cb for every reply message (do or dump) until the ACK or
 * NLMSG_DONE. Returns 0, or -errno; then qkdn_errmsg() holds the kernel's
 * extack message verbatim (or "" when it gave none) and qkdn_erroff() the
 * offset of the bad attribute (0 if none). cb may be NULL. */
int qkdn_request(struct qkdn_sock *qs, struct nlmsghdr *req, mnl_cb_t cb,
		 void *data);
const char *qkdn_errmsg(const struct qkdn_sock *qs);
uint32_t qkdn_erroff(const struct qkdn_sock *qs);

/* Receive whatever is queued (events, frames) and call cb for each message
 * of the family. Blocks unless the socket is non-blocking. Returns the
 * number of messages handled, or -errno. */
int qkdn_recv(struct qkdn_sock *qs, mnl_cb_t cb, void *data);

/* Parse the attributes of a qkdn message into tb[QKDN_A_MAX + 1], checking
 * each known attribute's type and length. Returns 0 or -EINVAL. */
int qkdn_parse(const struct nlmsghdr *nlh, const struct nlattr **tb);
/* The same for a QKDN_A_KEY nest (tb[QKDN_A_KEY_MAX + 1]) and a
 * QKDN_A_STATS nest (tb[QKDN_A_STATS_MAX + 1]). */
int qkdn_parse_key(const struct nlattr *nest, const struct nlattr **tb);
int qkdn_parse_stats(const struct nlattr *nest, const struct nlattr **tb);
/* The same for a QKDN_A_IPSEC nest (tb[QKDN_A_IPSEC_MAX + 1]); its
 * addresses are also checked to be 4 or 16 bytes, all of one family, and
 * its prefix lengths no longer than their addresses. */
int qkdn_parse_ipsec(const struct nlattr *nest, const struct nlattr **tb);

/* Names for commands and events ("key-get", "keys-reserved"), or NULL. */
const char *qkdn_cmd_name(uint8_t cmd);
const char *qkdn_event_name(uint32_t event);

/* The Q.4160 Appendix I name of a message ("key relay next hop request"),
 * or NULL. */
const char *qkdn_msg_name(uint32_t msg);

/* The node IDs of a QKDN_A_ROUTE nest, in order, into nodes[max] (pointers
 * into the message). Returns how many, or -EINVAL if one is malformed or
 * there are more than max. */
int qkdn_parse_route(const struct nlattr *nest, const char **nodes,
		     unsigned int max);

/* Key IDs: 16 bytes <-> canonical UUID text (36 chars + NUL). */
#define QKDN_UUID_STR_LEN 37
void qkdn_uuid_fmt(const uint8_t id[QKDN_KEY_ID_LEN], char out[QKDN_UUID_STR_LEN]);
int qkdn_uuid_parse(const char *s, uint8_t id[QKDN_KEY_ID_LEN]);

/* Encoders into out (NUL-terminated); return the length written or -1 if
 * outlen is too small. Base64 is RFC 4648 with padding. */
int qkdn_hex_encode(const uint8_t *in, size_t len, char *out, size_t outlen);
int qkdn_b64_encode(const uint8_t *in, size_t len, char *out, size_t outlen);
/* Decoders: return bytes written, or -1 on malformed input or overflow. */
int qkdn_b64_decode(const char *in, uint8_t *out, size_t outlen);

/* Overwrite memory that held key bytes; not optimised away. */
void qkdn_memzero(void *p, size_t len);

/*
 * Messages of the family that arrive while qkdn_request() waits for its
 * answer (events, Kx frames) are kept, not dropped: the next qkdn_recv()
 * hands them out first, without blocking. poll() on qkdn_fd() does not see
 * them, so an event loop calls qkdn_recv() while qkdn_pending() is non-zero.
 * qkdn_recv() returns -ENOBUFS once when messages were lost (socket
 * overflow), -EAGAIN on a non-blocking socket with nothing queued, and
 * -EINTR when a signal interrupted it. A callback returning MNL_CB_STOP
 * leaves the remaining messages queued; MNL_CB_ERROR makes it return
 * -errno.
 */
int qkdn_pending(const struct qkdn_sock *qs);

/* Open a socket for another generic netlink family (tests use "nlctrl"). */
struct qkdn_sock *qkdn_open_genl(const char *family);
uint16_t qkdn_family_id(const struct qkdn_sock *qs);

/* After a failed request: the type of a missing required attribute the
 * kernel named (NLMSGERR_ATTR_MISS_TYPE), or 0. */
uint32_t qkdn_err_missing(const struct qkdn_sock *qs);

/* qkdn_msg() accepts qs == NULL (message type 0) to build a message
 * off-line, e.g. to check it in a unit test. */

/* Put a u64 attribute, preceded by QKDN_A_PAD when needed so that its
 * payload is 64-bit aligned (the kernel's nla_put_u64_64bit()). For
 * messages shaped like the kernel's (tests); requests to the kernel carry
 * no QKDN_A_PAD, which its strict policy rejects: use mnl_attr_put_u64(). */
void qkdn_attr_put_u64(struct nlmsghdr *nlh, uint16_t type, uint64_t v);

/* Attribute names ("link-id"), or NULL. */
const char *qkdn_attr_name(uint16_t type);

/* Hex decoder (either case): bytes written, or -1 on malformed input or
 * overflow. After -1 from any decoder out holds garbage: erase it. */
int qkdn_hex_decode(const char *in, uint8_t *out, size_t outlen);

#endif /* LIBQKDN_H */
