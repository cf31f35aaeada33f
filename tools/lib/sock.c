// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libqkdn: the generic netlink socket of the qkdn family.
 *
 * One socket serves both requests (do, dump) and the messages the kernel
 * sends on its own (events on a multicast group, Kx frames to a bound
 * daemon). Those can arrive while a request waits for its answer; they are
 * kept in a queue and handed out by the next qkdn_recv(), so nothing the
 * kernel sent is lost because a request was in flight.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "libqkdn.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define QKDN_MAX_GROUPS		8
#define QKDN_QUEUE_MAX		(4u << 20)	/* bytes kept for qkdn_recv() */
#define QKDN_RCVBUF		(1 << 20)
#define QKDN_ENOBUFS_WAIT_MS	5000

struct qkdn_group {
	char name[GENL_NAMSIZ];
	uint32_t id;
};

struct qkdn_queued {
	struct qkdn_queued *next;
	size_t len;
	unsigned char msg[];	/* one netlink message */
};

struct qkdn_sock {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	uint32_t seq_first;	/* our requests carry seq_first..seq */
	uint16_t family;
	unsigned int ngroups;
	struct qkdn_group groups[QKDN_MAX_GROUPS];

	unsigned char *rbuf;	/* receive buffer, grown on demand */
	size_t rbuf_len;

	struct qkdn_queued *qhead, **qtail;
	size_t qbytes;
	unsigned int qcount;
	int overrun;		/* messages were lost: report -ENOBUFS once */

	uint32_t erroff;
	uint32_t miss_type;
	char errmsg[256];
};

int qkdn_setns(const char *name)
{
	char path[256];
	int fd, ret;

	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") ||
	    !strcmp(name, "..") || strlen(name) > 200) {
		errno = EINVAL;
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = setns(fd, CLONE_NEWNET);
	if (ret < 0)
		ret = -errno;
	close(fd);
	if (ret)
		errno = -ret;
	return ret;
}

static void qkdn_set_err(struct qkdn_sock *qs, const char *msg, uint32_t off)
{
	qs->erroff = off;
	qs->miss_type = 0;
	snprintf(qs->errmsg, sizeof(qs->errmsg), "%s", msg ? msg : "");
}

static void qkdn_queue_free(struct qkdn_sock *qs)
{
	struct qkdn_queued *q;

	while ((q = qs->qhead)) {
		qs->qhead = q->next;
		qkdn_memzero(q->msg, q->len);
		free(q);
	}
	qs->qtail = &qs->qhead;
	qs->qbytes = 0;
	qs->qcount = 0;
}

/* A sequence number of one of our requests (a stale answer)? */
static int qkdn_seq_ours(const struct qkdn_sock *qs, uint32_t seq)
{
	if (!seq || qs->seq == qs->seq_first - 1)
		return 0;
	return seq - qs->seq_first <= qs->seq - qs->seq_first;
}

/* Keep one message of the family for a later qkdn_recv(). */
static void qkdn_queue_msg(struct qkdn_sock *qs, const struct nlmsghdr *nlh)
{
	struct qkdn_queued *q;

	if (qs->qbytes + nlh->nlmsg_len > QKDN_QUEUE_MAX) {
		qs->overrun = 1;
		return;
	}
	q = malloc(sizeof(*q) + nlh->nlmsg_len);
	if (!q) {
		qs->overrun = 1;
		return;
	}
	q->next = NULL;
	q->len = nlh->nlmsg_len;
	memcpy(q->msg, nlh, nlh->nlmsg_len);
	*qs->qtail = q;
	qs->qtail = &q->next;
	qs->qbytes += q->len;
	qs->qcount++;
}

/*
 * Receive one datagram into qs->rbuf, growing it to fit. Returns its length,
 * or -errno.
 */
static ssize_t qkdn_recv_dgram(struct qkdn_sock *qs, int flags)
{
	int fd = mnl_socket_get_fd(qs->nl);
	struct sockaddr_nl addr;
	struct iovec iov;
	struct msghdr mh;
	ssize_t n;

	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = qs->rbuf;
		iov.iov_len = qs->rbuf_len;
		mh.msg_name = &addr;
		mh.msg_namelen = sizeof(addr);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		n = recvmsg(fd, &mh, flags | MSG_PEEK | MSG_TRUNC);
		if (n < 0)
			return -errno;
		if ((size_t)n > qs->rbuf_len) {
			size_t len = ((size_t)n + 4095) & ~(size_t)4095;
			unsigned char *nb = malloc(len);

			if (!nb)
				return -ENOMEM;
			qkdn_memzero(qs->rbuf, qs->rbuf_len);
			free(qs->rbuf);
			qs->rbuf = nb;
			qs->rbuf_len = len;
			continue;
		}
		n = recvmsg(fd, &mh, flags);
		if (n < 0)
			return -errno;
		if (mh.msg_flags & MSG_TRUNC)
			continue;	/* raced with a bigger datagram */
		if (mh.msg_namelen != sizeof(addr) || addr.nl_pid != 0)
			return 0;	/* not from the kernel: ignore */
		return n;
	}
}

static int qkdn_sock_init(struct qkdn_sock *qs)
{
	int one = 1, rcvbuf = QKDN_RCVBUF;
	int fd;

	qs->qtail = &qs->qhead;
	qs->rbuf_len = QKDN_BUF_SIZE;
	qs->rbuf = malloc(qs->rbuf_len);
	if (!qs->rbuf)
		return -ENOMEM;
	qs->nl = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (!qs->nl)
		return -errno;
	fd = mnl_socket_get_fd(qs->nl);
	/* Best effort: older kernels lack these options. */
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_bind(qs->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	qs->portid = mnl_socket_get_portid(qs->nl);
	qs->seq = (uint32_t)getpid() << 8;
	qs->seq_first = qs->seq + 1;
	return 0;
}

static int qkdn_grp_cb(const struct nlattr *attr, void *data)
{
	struct qkdn_sock *qs = data;
	struct nlattr *a;
	const char *name = NULL;
	uint32_t id = 0;
	int have_id = 0;

	mnl_attr_for_each_nested(a, attr) {
		switch (mnl_attr_get_type(a)) {
		case CTRL_ATTR_MCAST_GRP_NAME:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
				return MNL_CB_ERROR;
			name = mnl_attr_get_str(a);
			break;
		case CTRL_ATTR_MCAST_GRP_ID:
			if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
				return MNL_CB_ERROR;
			id = mnl_attr_get_u32(a);
			have_id = 1;
			break;
		}
	}
	if (name && have_id && qs->ngroups < QKDN_MAX_GROUPS &&
	    strlen(name) < GENL_NAMSIZ) {
		strcpy(qs->groups[qs->ngroups].name, name);
		qs->groups[qs->ngroups].id = id;
		qs->ngroups++;
	}
	return MNL_CB_OK;
}

static int qkdn_family_cb(const struct nlmsghdr *nlh, void *data)
{
	struct qkdn_sock *qs = data;
	struct nlattr *attr, *grp;

	mnl_attr_for_each(attr, nlh, GENL_HDRLEN) {
		switch (mnl_attr_get_type(attr)) {
		case CTRL_ATTR_FAMILY_ID:
			if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
				return MNL_CB_ERROR;
			qs->family = mnl_attr_get_u16(attr);
			break;
		case CTRL_ATTR_MCAST_GROUPS:
			mnl_attr_for_each_nested(grp, attr)
				if (qkdn_grp_cb(grp, qs) != MNL_CB_OK)
					return MNL_CB_ERROR;
			break;
		}
	}
	return MNL_CB_OK;
}

struct qkdn_sock *qkdn_open_genl(const char *family)
{
	struct qkdn_sock *qs;
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;
	void *buf;
	int ret;

	if (!family || strlen(family) >= GENL_NAMSIZ) {
		errno = EINVAL;
		return NULL;
	}
	qs = calloc(1, sizeof(*qs));
	buf = calloc(1, QKDN_BUF_SIZE);
	if (!qs || !buf) {
		free(qs);
		free(buf);
		errno = ENOMEM;
		return NULL;
	}
	ret = qkdn_sock_init(qs);
	if (ret)
		goto fail;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = CTRL_CMD_GETFAMILY;
	genl->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, family);
	qs->family = GENL_ID_CTRL;	/* replies come with the ctrl type */
	ret = qkdn_request(qs, nlh, qkdn_family_cb, qs);
	if (!ret && (qs->family == GENL_ID_CTRL && strcmp(family, "nlctrl")))
		ret = -ENOENT;
	if (ret)
		goto fail;
	free(buf);
	return qs;
fail:
	free(buf);
	qkdn_close(qs);
	errno = -ret;
	return NULL;
}

struct qkdn_sock *qkdn_open(void)
{
	return qkdn_open_genl(QKDN_GENL_NAME);
}

void qkdn_close(struct qkdn_sock *qs)
{
	int err = errno;

	if (!qs)
		return;
	if (qs->nl)
		mnl_socket_close(qs->nl);
	qkdn_queue_free(qs);
	if (qs->rbuf) {
		qkdn_memzero(qs->rbuf, qs->rbuf_len);
		free(qs->rbuf);
	}
	free(qs);
	errno = err;
}

int qkdn_fd(const struct qkdn_sock *qs)
{
	return mnl_socket_get_fd(qs->nl);
}

uint32_t qkdn_portid(const struct qkdn_sock *qs)
{
	return qs->portid;
}

uint16_t qkdn_family_id(const struct qkdn_sock *qs)
{
	return qs->family;
}

int qkdn_mcast_join(struct qkdn_sock *qs, const char *group)
{
	unsigned int i;

	for (i = 0; i < qs->ngroups; i++) {
		if (strcmp(qs->groups[i].name, group))
			continue;
		if (mnl_socket_setsockopt(qs->nl, NETLINK_ADD_MEMBERSHIP,
					  &qs->groups[i].id,
					  sizeof(qs->groups[i].id)) < 0)
			return -errno;
		return 0;
	}
	errno = ENOENT;
	return -ENOENT;
}

struct nlmsghdr *qkdn_msg(struct qkdn_sock *qs, void *buf, uint8_t cmd,
			  uint16_t flags)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;

	memset(buf, 0, MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*genl)));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = qs ? qs->family : 0;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = QKDN_GENL_VERSION;
	return nlh;
}

const char *qkdn_errmsg(const struct qkdn_sock *qs)
{
	return qs->errmsg;
}

uint32_t qkdn_erroff(const struct qkdn_sock *qs)
{
	return qs->erroff;
}

uint32_t qkdn_err_missing(const struct qkdn_sock *qs)
{
	return qs->miss_type;
}

/*
 * The extended ACK TLVs after the error code of an NLMSG_ERROR or after the
 * int of an NLMSG_DONE. Returns the error code (<= 0).
 */
static int qkdn_parse_ack(struct qkdn_sock *qs, const struct nlmsghdr *nlh)
{
	const unsigned char *p = mnl_nlmsg_get_payload(nlh);
	size_t len = mnl_nlmsg_get_payload_len(nlh);
	size_t off;
	int error;

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = (const void *)p;

		if (len < sizeof(*e))
			return -EBADMSG;
		error = e->error;
		off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
			if (e->msg.nlmsg_len < sizeof(e->msg))
				return error > 0 ? -EBADMSG : error;
			off = sizeof(e->error) +
			      MNL_ALIGN(e->msg.nlmsg_len);
		}
	} else {
		if (len < sizeof(int))
			return 0;
		memcpy(&error, p, sizeof(int));
		off = sizeof(int);
	}
	if (error > 0)
		error = -error;
	if (!error)
		return 0;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || off >= len)
		return error;

	{
		const struct nlattr *a = (const void *)(p + off);
		size_t rem = len - off;

		while (mnl_attr_ok(a, (int)rem)) {
			switch (mnl_attr_get_type(a)) {
			case NLMSGERR_ATTR_MSG:
				if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
					snprintf(qs->errmsg, sizeof(qs->errmsg),
						 "%s", mnl_attr_get_str(a));
				break;
			case NLMSGERR_ATTR_OFFS:
				if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
					qs->erroff = mnl_attr_get_u32(a);
				break;
			case NLMSGERR_ATTR_MISS_TYPE:
				if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
					qs->miss_type = mnl_attr_get_u32(a);
				break;
			}
			rem -= MNL_ALIGN(a->nla_len);
			a = (const void *)((const char *)a + MNL_ALIGN(a->nla_len));
		}
	}
	return error;
}

/* Wait for the socket to become readable; 0 on timeout. */
static int qkdn_wait(struct qkdn_sock *qs, int ms)
{
	struct pollfd pfd = { .fd = mnl_socket_get_fd(qs->nl), .events = POLLIN };
	int ret;

	do {
		ret = poll(&pfd, 1, ms);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

int qkdn_request(struct qkdn_sock *qs, struct nlmsghdr *req, mnl_cb_t cb,
		 void *data)
{
	int dump = !!(req->nlmsg_flags & NLM_F_DUMP);
	int lost = 0, ret = 0, done = 0;
	uint32_t seq;

	qkdn_set_err(qs, NULL, 0);
	seq = ++qs->seq;
	if (!seq)
		seq = ++qs->seq;	/* 0 is what notifications carry */
	req->nlmsg_seq = seq;
	req->nlmsg_pid = 0;
	if (mnl_socket_sendto(qs->nl, req, req->nlmsg_len) < 0)
		return -errno;

	while (!done) {
		const struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		if (lost) {
			/*
			 * The socket overflowed: our answer may be gone with
			 * the rest, so do not wait for it forever.
			 */
			int w = qkdn_wait(qs, QKDN_ENOBUFS_WAIT_MS);

			if (w <= 0)
				return w < 0 ? w : -ENOBUFS;
		}
		n = qkdn_recv_dgram(qs, 0);
		if (n == -EINTR)
			continue;
		if (n == -ENOBUFS) {
			lost = 1;
			qs->overrun = 1;
			continue;
		}
		if (n < 0)
			return (int)n;

		len = (int)n;
		for (nlh = (const void *)qs->rbuf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq) {
				/* Not a late answer to an earlier request. */
				if (nlh->nlmsg_type == qs->family &&
				    !qkdn_seq_ours(qs, nlh->nlmsg_seq))
					qkdn_queue_msg(qs, nlh);
				continue;
			}
			if (done)
				continue;
			switch (nlh->nlmsg_type) {
			case NLMSG_NOOP:
				continue;
			case NLMSG_OVERRUN:
				ret = -ENOBUFS;
				done = 1;
				continue;
			case NLMSG_ERROR:
				ret = qkdn_parse_ack(qs, nlh);
				done = 1;
				continue;
			case NLMSG_DONE:
				if (dump) {
					ret = qkdn_parse_ack(qs, nlh);
					done = 1;
				}
				continue;
			}
			if (nlh->nlmsg_type != qs->family || ret)
				continue;	/* after a callback error: drain */
			if (cb) {
				int r = cb(nlh, data);

				if (r == MNL_CB_ERROR)
					ret = errno > 0 ? -errno : -EINVAL;
				/* MNL_CB_STOP: ignore the rest, still drain */
			}
		}
		qkdn_memzero(qs->rbuf, (size_t)n);
	}
	return ret;
}

int qkdn_pending(const struct qkdn_sock *qs)
{
	return (int)qs->qcount;
}

int qkdn_recv(struct qkdn_sock *qs, mnl_cb_t cb, void *data)
{
	int handled = 0;

	if (qs->overrun) {
		qs->overrun = 0;
		return -ENOBUFS;
	}
	if (!qs->qhead) {
		const struct nlmsghdr *nlh;
		ssize_t n = qkdn_recv_dgram(qs, 0);
		int len;

		if (n == -ENOBUFS)
			return -ENOBUFS;
		if (n < 0)
			return (int)n;
		len = (int)n;
		for (nlh = (const void *)qs->rbuf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			if (nlh->nlmsg_type == qs->family &&
			    !qkdn_seq_ours(qs, nlh->nlmsg_seq))
				qkdn_queue_msg(qs, nlh);
		qkdn_memzero(qs->rbuf, (size_t)n);
	}
	while (qs->qhead) {
		struct qkdn_queued *q = qs->qhead;
		int r = MNL_CB_OK;

		qs->qhead = q->next;
		if (!qs->qhead)
			qs->qtail = &qs->qhead;
		qs->qbytes -= q->len;
		qs->qcount--;
		if (cb)
			r = cb((const struct nlmsghdr *)q->msg, data);
		qkdn_memzero(q->msg, q->len);
		free(q);
		handled++;
		if (r == MNL_CB_ERROR)
			return errno > 0 ? -errno : -EINVAL;
		if (r == MNL_CB_STOP)
			break;
	}
	return handled;
}
