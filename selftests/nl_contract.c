// SPDX-License-Identifier: GPL-2.0
/*
 * The netlink contract of the generic netlink family "qkdn"
 * (uapi/linux/qkdn.h), checked from user space in fresh network namespaces.
 *
 * node.*  one QKD node: every command with bad input fails with the right
 *         errno and an extended ACK (message, offending attribute or the
 *         type of the missing one) and changes nothing -- the node, links,
 *         SAEs and pools dump to the same bytes before and after; who may
 *         do what (CAP_NET_ADMIN for configuration and Kx, the SAE's uid for
 *         keys); one node per network namespace.
 * pair.*  two nodes joined by a simulated QKD module pair (qkdsim), this
 *         program carrying the Kx frames between the kernels in place of
 *         qkdn-linkd: keys are the same at both ends and are the simulator's
 *         byte stream, each key is supplied once, an empty pool gives
 *         nothing, lost frames are retransmitted, repeated frames ignored.
 *
 * Needs root, qkdn.ko loaded, and for pair.* qkdsim.ko with debugfs.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <libmnl/libmnl.h>
#include <linux/capability.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/qkdn.h>

/* The harness does not build cleanly with -Wextra. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop

#define MSG_MAX		(32 * 1024)
#define RX_MAX		(1024 * 1024)
#define REP_DATA_MAX	(768 * 1024)
#define SNAP_MAX	(64 * 1024)
#define NO_OFFS		UINT32_MAX
#define ANY_MSG		""		/* an extack message is required */
#define NO_MSG		NULL		/* no extack message is required */
#define F_NOSTATS	1		/* compare dumps without counters */
#define POLICY_MSG	"Attribute failed policy validation"

#define QKDSIM		"/sys/kernel/debug/qkdsim"
#define BLOCK_SIZE	4096		/* qkdsim's default block, bytes */
#define KEY_MAX_BYTES	(QKDN_KEY_SIZE_MAX / 8)

#define UID_A		1001		/* sae-a, local at node 1 */
#define UID_B		1002		/* sae-b, local at node 2 (sae-l in node.*) */
#define UID_C		1003		/* sae-c, local at node 2 */

/* ---- Kx frames: the wire format between two KMs (little endian) ---- */

#define KX_VERSION	1
#define KX_TEST_EPOCH	0x5eed1	/* a peer link instance made up by the test */

enum { KX_ACK = 1, KX_BLOCKS, KX_RESERVE };

struct kx_hdr {
	uint8_t version;
	uint8_t type;
	uint16_t len;
	uint32_t src_epoch;
	uint32_t dst_epoch;
	uint32_t reserved;
	uint64_t seq;
	uint64_t ack;
} __attribute__((packed));

struct kx_range {
	uint64_t start;
	uint32_t count;
	uint32_t reserved;
} __attribute__((packed));

struct kx_reserve {
	uint64_t block_seq;
	uint32_t offset;
	uint16_t key_bytes;
	uint16_t count;
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
} __attribute__((packed));	/* followed by count key IDs */

struct kxf {
	uint32_t len;
	uint8_t b[QKDN_KX_FRAME_MAX + 64];
};

static struct kx_hdr *kx_init(struct kxf *f, uint8_t type, uint64_t seq,
			      uint64_t ack)
{
	struct kx_hdr *h = (struct kx_hdr *)f->b;

	memset(f, 0, sizeof(*f));
	h->version = KX_VERSION;
	h->type = type;
	h->src_epoch = htole32(KX_TEST_EPOCH);
	h->seq = htole64(seq);
	h->ack = htole64(ack);
	f->len = sizeof(*h);
	h->len = htole16(f->len);
	return h;
}

static void kx_set_len(struct kxf *f, uint16_t len)
{
	uint16_t le = htole16(len);

	memcpy(f->b + offsetof(struct kx_hdr, len), &le, sizeof(le));
}

/* Appends n zeroed bytes and keeps the header's length right. */
static void *kx_put(struct kxf *f, uint32_t n)
{
	void *p = f->b + f->len;

	f->len += n;
	kx_set_len(f, f->len);
	return p;
}

static void kx_count(struct kxf *f, uint32_t count)
{
	uint32_t *c = kx_put(f, 8);

	*c = htole32(count);
}

static void kx_range(struct kxf *f, uint64_t start, uint32_t count)
{
	struct kx_range *r = kx_put(f, sizeof(*r));

	r->start = htole64(start);
	r->count = htole32(count);
}

static struct kx_reserve *kx_reserve(struct kxf *f, uint64_t seq,
				     uint64_t block, uint32_t off,
				     uint16_t key_bytes, uint16_t count,
				     const char *master, const char *slave)
{
	struct kx_reserve *r;
	uint16_t i;

	kx_init(f, KX_RESERVE, seq, 0);
	r = kx_put(f, sizeof(*r));
	r->block_seq = htole64(block);
	r->offset = htole32(off);
	r->key_bytes = htole16(key_bytes);
	r->count = htole16(count);
	memcpy(r->master, master, strnlen(master, sizeof(r->master)));
	memcpy(r->slave, slave, strnlen(slave, sizeof(r->slave)));
	for (i = 0; i < count; i++) {
		uint32_t at = f->len;

		kx_put(f, QKDN_KEY_ID_LEN);
		f->b[at] = i + 1;
		f->b[at + QKDN_KEY_ID_LEN - 1] = 0x42;
	}
	return r;
}

/* ---- netlink plumbing ---- */

static uint16_t qkdn_family;

struct nlc {
	struct mnl_socket *nl;
	uint32_t seq;
	char *rx;
};

/* What came back for one request. In shared memory: children fill it. */
struct rep {
	int err;		/* 0, an errno, or -1 when nothing came back */
	int io;			/* errno of a failed send or receive */
	bool acked;
	bool has_msg, has_offs, has_miss;
	uint32_t offs, miss;
	char msg[256];
	unsigned int nmsg;
	unsigned int done;	/* requests that succeeded (run_as_n) */
	bool truncated;
	size_t len;
	unsigned char data[REP_DATA_MAX];	/* the replies, as received */
};

static struct rep *rep_new(void)
{
	void *p = mmap(NULL, sizeof(struct rep), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void rep_free(struct rep *r)
{
	if (r)
		munmap(r, sizeof(*r));
}

#define rep_for_each(nlh, r)						\
	for ((nlh) = (const struct nlmsghdr *)(r)->data;		\
	     (const unsigned char *)(nlh) < (r)->data + (r)->len;	\
	     (nlh) = (const struct nlmsghdr *)((const unsigned char *)(nlh) + \
					       NLMSG_ALIGN((nlh)->nlmsg_len)))

static const char *errname(int e)
{
	const char *s;

	if (!e)
		return "success";
	if (e < 0)
		return "no answer";
	s = strerrorname_np(e);
	return s ? s : "unknown errno";
}

static void nlc_close(struct nlc *s)
{
	if (s->nl)
		mnl_socket_close(s->nl);
	free(s->rx);
	memset(s, 0, sizeof(*s));
}

static int nlc_open(struct nlc *s)
{
	struct timeval tv = { .tv_sec = 30 };
	int one = 1, size = 8 << 20, fd, err;

	memset(s, 0, sizeof(*s));
	s->nl = mnl_socket_open(NETLINK_GENERIC);
	if (!s->nl)
		return -errno;
	fd = mnl_socket_get_fd(s->nl);
	if (mnl_socket_setsockopt(s->nl, NETLINK_EXT_ACK, &one, sizeof(one)) ||
	    mnl_socket_setsockopt(s->nl, NETLINK_CAP_ACK, &one, sizeof(one)))
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)))
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		goto fail;
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail;
	s->rx = malloc(RX_MAX);
	if (!s->rx)
		goto fail;
	s->seq = 1000;
	return 0;
fail:
	err = -errno;
	nlc_close(s);
	return err ? err : -EIO;
}

static int ext_ack_cb(const struct nlattr *a, void *data)
{
	struct rep *r = data;

	switch (mnl_attr_get_type(a)) {
	case NLMSGERR_ATTR_MSG:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0) {
			snprintf(r->msg, sizeof(r->msg), "%s",
				 mnl_attr_get_str(a));
			r->has_msg = true;
		}
		break;
	case NLMSGERR_ATTR_OFFS:
		if (mnl_attr_get_payload_len(a) == sizeof(uint32_t)) {
			r->offs = mnl_attr_get_u32(a);
			r->has_offs = true;
		}
		break;
	case NLMSGERR_ATTR_MISS_TYPE:
		if (mnl_attr_get_payload_len(a) == sizeof(uint32_t)) {
			r->miss = mnl_attr_get_u32(a);
			r->has_miss = true;
		}
		break;
	}
	return MNL_CB_OK;
}

/* NLMSG_ERROR (an ACK, or an error) or NLMSG_DONE (end of a dump). */
static void parse_end(const struct nlmsghdr *nlh, struct rep *r, bool done)
{
	size_t plen = mnl_nlmsg_get_payload_len(nlh), off;
	int err = 0;

	if (done) {
		if (plen >= sizeof(int))
			memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(int));
		off = sizeof(int);
	} else {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		if (plen < sizeof(*e)) {
			r->err = -1;
			r->acked = true;
			return;
		}
		err = e->error;
		off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	}
	r->err = -err;
	r->acked = true;
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && plen > off)
		mnl_attr_parse(nlh, off, ext_ack_cb, r);
}

static void rep_add(struct rep *r, const struct nlmsghdr *nlh)
{
	struct nlmsghdr *copy;

	r->nmsg++;
	if (r->len + NLMSG_ALIGN(nlh->nlmsg_len) > REP_DATA_MAX) {
		r->truncated = true;
		return;
	}
	copy = (struct nlmsghdr *)(r->data + r->len);
	memcpy(copy, nlh, nlh->nlmsg_len);
	copy->nlmsg_seq = 0;
	copy->nlmsg_pid = 0;
	r->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

/* Sends a request and collects everything up to its ACK or NLMSG_DONE. */
static int nlc_txrx(struct nlc *s, struct nlmsghdr *nlh, struct rep *r)
{
	uint32_t seq = ++s->seq;

	memset(r, 0, offsetof(struct rep, data));
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = 0;
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0) {
		r->io = errno;
		r->err = -1;
		return -1;
	}
	while (!r->acked) {
		ssize_t n = mnl_socket_recvfrom(s->nl, s->rx, RX_MAX);
		const struct nlmsghdr *h;
		int len;

		if (n < 0) {
			r->io = errno;
			r->err = -1;
			return -1;
		}
		len = n;
		for (h = (const struct nlmsghdr *)s->rx; mnl_nlmsg_ok(h, len);
		     h = mnl_nlmsg_next(h, &len)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR)
				parse_end(h, r, false);
			else if (h->nlmsg_type == NLMSG_DONE)
				parse_end(h, r, true);
			else if (h->nlmsg_type != NLMSG_NOOP)
				rep_add(r, h);
		}
	}
	return r->err ? -1 : 0;
}

struct msg {
	struct nlmsghdr *nlh;
	char buf[MSG_MAX] __attribute__((aligned(8)));
};

static void msg_init(struct msg *m, uint16_t type, uint8_t cmd,
		     uint8_t version, uint16_t flags)
{
	struct genlmsghdr *g;

	m->nlh = mnl_nlmsg_put_header(m->buf);
	m->nlh->nlmsg_type = type;
	m->nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	g = mnl_nlmsg_put_extra_header(m->nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
}

/* A "do" request of the family, acknowledged. */
static void req(struct msg *m, uint8_t cmd)
{
	msg_init(m, qkdn_family, cmd, QKDN_GENL_VERSION, NLM_F_ACK);
}

static void dump_req(struct msg *m, uint8_t cmd)
{
	msg_init(m, qkdn_family, cmd, QKDN_GENL_VERSION, NLM_F_DUMP);
}

/* The put helpers return the attribute's offset in the message. */
static uint32_t put(struct msg *m, uint16_t type, size_t len, const void *p)
{
	uint32_t off = m->nlh->nlmsg_len;

	mnl_attr_put(m->nlh, type, len, p);
	return off;
}

static uint32_t put_u8(struct msg *m, uint16_t type, uint8_t v)
{
	return put(m, type, sizeof(v), &v);
}

static uint32_t put_u32(struct msg *m, uint16_t type, uint32_t v)
{
	return put(m, type, sizeof(v), &v);
}

static uint32_t put_u64(struct msg *m, uint16_t type, uint64_t v)
{
	return put(m, type, sizeof(v), &v);
}

static uint32_t put_str(struct msg *m, uint16_t type, const char *s)
{
	return put(m, type, strlen(s) + 1, s);
}

/* A string without its terminating NUL. */
static uint32_t put_strn(struct msg *m, uint16_t type, const char *s)
{
	return put(m, type, strlen(s), s);
}

/* A QKDN_A_KEY nest holding one key ID. */
static uint32_t put_key_id(struct msg *m, const uint8_t *id)
{
	uint32_t off = m->nlh->nlmsg_len;
	struct nlattr *nest = mnl_attr_nest_start(m->nlh, QKDN_A_KEY);

	mnl_attr_put(m->nlh, QKDN_A_KEY_ID, QKDN_KEY_ID_LEN, id);
	mnl_attr_nest_end(m->nlh, nest);
	return off;
}

static uint32_t frame_req(struct msg *m, uint32_t link, const struct kxf *f)
{
	req(m, QKDN_CMD_KX_FRAME);
	put_u32(m, QKDN_A_LINK_ID, link);
	return put(m, QKDN_A_KX_FRAME, f->len, f->b);
}

static int family_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_get_payload_len(a) == sizeof(uint16_t))
		*(uint16_t *)data = mnl_attr_get_u16(a);
	return MNL_CB_OK;
}

static int resolve_family(struct nlc *s)
{
	struct rep *r = rep_new();
	struct msg m;
	int err;

	if (!r)
		return -ENOMEM;
	msg_init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_ACK);
	put_str(&m, CTRL_ATTR_FAMILY_NAME, QKDN_GENL_NAME);
	nlc_txrx(s, m.nlh, r);
	err = r->err;
	if (!err && r->nmsg == 1)
		mnl_attr_parse((const struct nlmsghdr *)r->data, GENL_HDRLEN,
			       family_cb, &qkdn_family);
	rep_free(r);
	if (err)
		return err < 0 ? -EIO : -err;
	return qkdn_family ? 0 : -ENOENT;
}

static const struct nlattr *attr_find(const struct nlmsghdr *nlh,
				      uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, GENL_HDRLEN)
		if (mnl_attr_get_type(a) == type)
			return a;
	return NULL;
}

static const struct nlattr *nest_find(const struct nlattr *nest,
				      uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest)
		if (mnl_attr_get_type(a) == type)
			return a;
	return NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* ---- state snapshots: node, links, SAEs and pools as dumped ---- */

struct snap {
	bool ok;
	size_t len;
	unsigned char buf[SNAP_MAX];
};

static void snap_add(struct snap *sn, const void *p, size_t n)
{
	if (sn->len + n > SNAP_MAX) {
		sn->ok = false;
		return;
	}
	memcpy(sn->buf + sn->len, p, n);
	sn->len += n;
}

static void snap_msgs(struct snap *sn, const struct rep *r, bool stats)
{
	const uint32_t mark = 0xa5a5a5a5;
	const struct nlmsghdr *nlh;

	if (r->err || r->truncated)
		sn->ok = false;
	rep_for_each(nlh, r) {
		const struct nlattr *a;

		snap_add(sn, &mark, sizeof(mark));
		snap_add(sn, mnl_nlmsg_get_payload(nlh), GENL_HDRLEN);
		mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
			if (!stats && mnl_attr_get_type(a) == QKDN_A_STATS)
				continue;
			snap_add(sn, a, MNL_ALIGN(a->nla_len));
		}
	}
	snap_add(sn, &mark, sizeof(mark));
}

static bool take_snap(struct nlc *s, struct snap *sn, bool stats)
{
	static const uint8_t dumps[] = {
		QKDN_CMD_LINK_GET, QKDN_CMD_SAE_GET, QKDN_CMD_POOL_GET,
	};
	struct rep *r = rep_new();
	struct msg m;
	unsigned int i;

	sn->ok = r != NULL;
	sn->len = 0;
	if (!r)
		return false;
	req(&m, QKDN_CMD_NODE_GET);
	nlc_txrx(s, m.nlh, r);
	snap_msgs(sn, r, stats);
	for (i = 0; i < sizeof(dumps); i++) {
		dump_req(&m, dumps[i]);
		nlc_txrx(s, m.nlh, r);
		snap_msgs(sn, r, stats);
	}
	rep_free(r);
	return sn->ok;
}

/* SIZE_MAX when equal, else the first byte that differs. */
static size_t snap_diff(const struct snap *a, const struct snap *b)
{
	size_t i, n = a->len < b->len ? a->len : b->len;

	for (i = 0; i < n; i++)
		if (a->buf[i] != b->buf[i])
			return i;
	return a->len == b->len ? SIZE_MAX : n;
}

/* ---- credentials ---- */

struct cred {
	uid_t uid;		/* 0: stay root */
	bool drop_admin;	/* give up CAP_NET_ADMIN */
	bool open_first;	/* open the socket before changing credentials */
};

static const struct cred cred_root = { .uid = 0 };
static const struct cred cred_a = { .uid = UID_A };
static const struct cred cred_b = { .uid = UID_B };
static const struct cred cred_c = { .uid = UID_C };
static const struct cred cred_nocap = { .drop_admin = true };
static const struct cred cred_a_late = { .uid = UID_A, .open_first = true };

static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	const int i = CAP_TO_INDEX(CAP_NET_ADMIN);
	const uint32_t bit = CAP_TO_MASK(CAP_NET_ADMIN);

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[i].effective &= ~bit;
	d[i].permitted &= ~bit;
	d[i].inheritable &= ~bit;
	return syscall(SYS_capset, &h, d);
}

/*
 * Sends a request `times` times, or until it fails, from a child process
 * with other credentials, in the network namespace ns (-1: the current
 * one). The last reply lands in r.
 */
static pid_t spawn_as(int ns, const struct cred *c, struct nlmsghdr *nlh,
		      struct rep *r, unsigned int times)
{
	unsigned int n;
	struct nlc s;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid)
		return pid;
	if (ns >= 0 && setns(ns, CLONE_NEWNET))
		_exit(10);
	if (c->open_first && nlc_open(&s))
		_exit(11);
	if (c->drop_admin && drop_net_admin())
		_exit(12);
	if (c->uid && (setgroups(0, NULL) ||
		       setresgid(c->uid, c->uid, c->uid) ||
		       setresuid(c->uid, c->uid, c->uid)))
		_exit(13);
	if (!c->open_first && nlc_open(&s))
		_exit(14);
	for (n = 0; n < times; n++) {
		if (nlc_txrx(&s, nlh, r))
			break;
	}
	r->done = n;
	_exit(0);
}

static void run_as_n(struct __test_metadata *_metadata, int ns,
		     const struct cred *c, struct nlmsghdr *nlh,
		     struct rep *r, unsigned int times)
{
	pid_t pid = spawn_as(ns, c, nlh, r, times);
	int st;

	ASSERT_LE(0, pid);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("child as uid %u failed (status 0x%x)", c->uid, st);
}

static void run_as(struct __test_metadata *_metadata, int ns,
		   const struct cred *c, struct nlmsghdr *nlh, struct rep *r)
{
	run_as_n(_metadata, ns, c, nlh, r, 1);
}

/* ---- expectations ---- */

static void check_err(struct __test_metadata *_metadata, const char *what,
		      const struct rep *r, int err, const char *msg,
		      uint32_t offs, uint16_t miss)
{
	EXPECT_EQ(0, r->io)
		TH_LOG("%s: netlink I/O failed: %s", what, strerror(r->io));
	EXPECT_EQ(err, r->err)
		TH_LOG("%s: got %s, expected %s (extack \"%s\")", what,
		       errname(r->err), errname(err), r->msg);
	if (msg) {
		EXPECT_TRUE(r->has_msg)
			TH_LOG("%s: no extack message", what);
		if (r->has_msg && *msg)
			EXPECT_TRUE(strstr(r->msg, msg) != NULL)
				TH_LOG("%s: extack \"%s\", expected \"%s\"",
				       what, r->msg, msg);
	}
	if (offs != NO_OFFS) {
		EXPECT_TRUE(r->has_offs)
			TH_LOG("%s: extack names no attribute (expected offset %u)",
			       what, offs);
		if (r->has_offs)
			EXPECT_EQ(offs, r->offs)
				TH_LOG("%s: extack names the attribute at %u, expected %u",
				       what, r->offs, offs);
	}
	if (miss) {
		EXPECT_TRUE(r->has_miss)
			TH_LOG("%s: extack names no missing attribute (expected %u)",
			       what, miss);
		if (r->has_miss)
			EXPECT_EQ(miss, r->miss)
				TH_LOG("%s: missing attribute %u, expected %u",
				       what, r->miss, miss);
	}
}

/*
 * The request in m must fail with err and the extack described, and change
 * nothing the dumps of s's node show. who: the credentials to send it with
 * from a child in namespace ns (NULL: root, on s itself).
 */
static void bad(struct __test_metadata *_metadata, struct nlc *s, int ns,
		const struct cred *who, struct msg *m, const char *what,
		int err, const char *msg, uint32_t offs, uint16_t miss,
		int flags)
{
	struct snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct rep *r = rep_new();
	size_t d;

	ASSERT_TRUE(a && b && r);
	ASSERT_TRUE(take_snap(s, a, !(flags & F_NOSTATS)))
		TH_LOG("%s: cannot dump the state before", what);
	if (who)
		run_as(_metadata, ns, who, m->nlh, r);
	else
		nlc_txrx(s, m->nlh, r);
	ASSERT_TRUE(take_snap(s, b, !(flags & F_NOSTATS)))
		TH_LOG("%s: cannot dump the state after", what);
	check_err(_metadata, what, r, err, msg, offs, miss);
	d = snap_diff(a, b);
	EXPECT_EQ(SIZE_MAX, d)
		TH_LOG("%s: the request changed the state (dumps differ at byte %zu)",
		       what, d);
	free(a);
	free(b);
	rep_free(r);
}

#define BAD(m, what, err, msg, offs, miss) \
	bad(_metadata, &self->s, -1, NULL, m, what, err, msg, offs, miss, 0)
#define BAD_AS(who, m, what, err, msg, offs, miss) \
	bad(_metadata, &self->s, self->ns, who, m, what, err, msg, offs, \
	    miss, 0)

/* The request must succeed. */
static void ok_req(struct __test_metadata *_metadata, struct nlc *s,
		   struct msg *m, const char *what)
{
	struct rep *r = rep_new();
	int err;

	ASSERT_TRUE(r != NULL);
	nlc_txrx(s, m->nlh, r);
	err = r->err;
	EXPECT_EQ(0, err)
		TH_LOG("%s: %s (extack \"%s\")", what, errname(err), r->msg);
	rep_free(r);
	ASSERT_EQ(0, err);
}

static void set_node(struct __test_metadata *_metadata, struct nlc *s,
		     const char *id)
{
	struct msg m;

	req(&m, QKDN_CMD_NODE_SET);
	put_str(&m, QKDN_A_NODE_ID, id);
	ok_req(_metadata, s, &m, "NODE_SET");
}

static void new_link(struct __test_metadata *_metadata, struct nlc *s,
		     uint32_t id, const char *peer, const char *dev)
{
	struct msg m;

	req(&m, QKDN_CMD_LINK_NEW);
	put_u32(&m, QKDN_A_LINK_ID, id);
	put_str(&m, QKDN_A_PEER_NODE_ID, peer);
	if (dev)
		put_str(&m, QKDN_A_DEVICE, dev);
	ok_req(_metadata, s, &m, "LINK_NEW");
}

static void new_sae(struct __test_metadata *_metadata, struct nlc *s,
		    const char *id, uint32_t uid, const char *node)
{
	struct msg m;

	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, id);
	if (node)
		put_str(&m, QKDN_A_SAE_NODE_ID, node);
	else
		put_u32(&m, QKDN_A_SAE_UID, uid);
	ok_req(_metadata, s, &m, "SAE_NEW");
}

static void kx_bind(struct __test_metadata *_metadata, struct nlc *s)
{
	struct msg m;

	req(&m, QKDN_CMD_KX_BIND);
	ok_req(_metadata, s, &m, "KX_BIND");
}

static void kx_channel(struct __test_metadata *_metadata, struct nlc *s,
		       uint32_t link, uint8_t up)
{
	struct msg m;

	req(&m, QKDN_CMD_KX_CHANNEL);
	put_u32(&m, QKDN_A_LINK_ID, link);
	put_u8(&m, QKDN_A_LINK_UP, up);
	ok_req(_metadata, s, &m, "KX_CHANNEL");
}

/* A counter of a link, UINT64_MAX if it cannot be read. */
static uint64_t link_stat(struct nlc *s, uint32_t link, uint16_t stat)
{
	struct rep *r = rep_new();
	const struct nlattr *st, *a;
	uint64_t v = UINT64_MAX;
	struct msg m;

	if (!r)
		return v;
	req(&m, QKDN_CMD_LINK_GET);
	put_u32(&m, QKDN_A_LINK_ID, link);
	if (!nlc_txrx(s, m.nlh, r) && r->nmsg == 1) {
		st = attr_find((const struct nlmsghdr *)r->data, QKDN_A_STATS);
		a = st ? nest_find(st, stat) : NULL;
		if (a && mnl_attr_get_payload_len(a) == sizeof(uint64_t))
			v = mnl_attr_get_u64(a);
	}
	rep_free(r);
	return v;
}

struct pool {
	uint64_t own, peer, pending;
	uint32_t reserved, stored, key_size, max_count, max_per_request;
	uint32_t max_size, min_size, capacity;
};

static uint64_t get_num(const struct nlmsghdr *nlh, uint16_t type)
{
	const struct nlattr *a = attr_find(nlh, type);

	if (!a)
		return UINT64_MAX;
	if (mnl_attr_get_payload_len(a) == sizeof(uint64_t))
		return mnl_attr_get_u64(a);
	if (mnl_attr_get_payload_len(a) == sizeof(uint32_t))
		return mnl_attr_get_u32(a);
	return UINT64_MAX;
}

/* POOL_GET by link ID, or by slave SAE when sae is given. */
static bool pool_get(struct nlc *s, uint32_t link, const char *sae,
		     struct pool *p)
{
	struct rep *r = rep_new();
	const struct nlmsghdr *nlh;
	struct msg m;
	bool ok = false;

	if (!r)
		return false;
	req(&m, QKDN_CMD_POOL_GET);
	if (sae)
		put_str(&m, QKDN_A_SLAVE_SAE_ID, sae);
	else
		put_u32(&m, QKDN_A_LINK_ID, link);
	if (!nlc_txrx(s, m.nlh, r) && r->nmsg == 1) {
		nlh = (const struct nlmsghdr *)r->data;
		p->own = get_num(nlh, QKDN_A_POOL_OWN_BYTES);
		p->peer = get_num(nlh, QKDN_A_POOL_PEER_BYTES);
		p->pending = get_num(nlh, QKDN_A_POOL_PENDING_BYTES);
		p->reserved = get_num(nlh, QKDN_A_POOL_RESERVED_KEYS);
		p->stored = get_num(nlh, QKDN_A_POOL_STORED_KEY_COUNT);
		p->key_size = get_num(nlh, QKDN_A_POOL_KEY_SIZE);
		p->max_count = get_num(nlh, QKDN_A_POOL_MAX_KEY_COUNT);
		p->max_per_request = get_num(nlh,
					     QKDN_A_POOL_MAX_KEY_PER_REQUEST);
		p->max_size = get_num(nlh, QKDN_A_POOL_MAX_KEY_SIZE);
		p->min_size = get_num(nlh, QKDN_A_POOL_MIN_KEY_SIZE);
		p->capacity = get_num(nlh, QKDN_A_POOL_CAPACITY);
		ok = true;
	}
	rep_free(r);
	return ok;
}

/* ---- qkdsim ---- */

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int qkdsim_knob(uint32_t pair, const char *knob, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), QKDSIM "/qkdsim%u/%s", pair, knob);
	return write_file(path, val);
}

/* One end of pair in the calling thread's network namespace. */
static int qkdsim_new(uint32_t pair)
{
	char v[16];

	snprintf(v, sizeof(v), "%u", pair);
	return write_file(QKDSIM "/new_device", v);
}

static void qkdsim_del(uint32_t pair)
{
	char v[16];

	snprintf(v, sizeof(v), "%u", pair);
	write_file(QKDSIM "/del_device", v);
}

/* A pair ID nobody uses. */
static uint32_t qkdsim_pick(void)
{
	char path[128];
	uint32_t i, id;

	for (i = 0; i < 9999; i++) {
		id = (getpid() + i) % 9999 + 1;
		snprintf(path, sizeof(path), QKDSIM "/qkdsim%u", id);
		if (access(path, F_OK))
			return id;
	}
	return 0;
}

/* qkdsim's byte generator, splitmix64 (Documentation/qkdsim.md). */
static uint64_t splitmix64(uint64_t x)
{
	uint64_t z = x + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Bytes off..off+len-1 of the stream a node allocates keys from: the
 * blocks of its parity (even: 2, 4, ...; odd: 1, 3, ...) one after another.
 */
static void model(uint64_t seed, bool even, uint64_t off, uint32_t len,
		  uint8_t *out)
{
	uint32_t i;

	for (i = 0; i < len; i++, off++) {
		uint64_t k = off / BLOCK_SIZE;
		uint64_t seq = even ? 2 * k + 2 : 2 * k + 1;
		uint32_t in = off % BLOCK_SIZE;
		uint64_t w = splitmix64(seed + (seq << 32) + in / 8);

		out[i] = w >> (8 * (in % 8));
	}
}

/* ---- keys in replies ---- */

struct keyset {
	uint32_t n;
	uint32_t len[QKDN_KEYS_PER_REQUEST];
	uint8_t id[QKDN_KEYS_PER_REQUEST][QKDN_KEY_ID_LEN];
	uint8_t data[QKDN_KEYS_PER_REQUEST][KEY_MAX_BYTES];
};

static bool keys_parse(const struct rep *r, struct keyset *k)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)r->data;
	const struct nlattr *a, *b;

	k->n = 0;
	if (r->err || r->nmsg != 1 || r->truncated)
		return false;
	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		const void *id = NULL, *data = NULL;
		uint16_t dlen = 0;

		if (mnl_attr_get_type(a) != QKDN_A_KEY)
			continue;
		if (k->n == QKDN_KEYS_PER_REQUEST)
			return false;
		mnl_attr_for_each_nested(b, a) {
			uint16_t plen = mnl_attr_get_payload_len(b);

			switch (mnl_attr_get_type(b)) {
			case QKDN_A_KEY_ID:
				if (plen != QKDN_KEY_ID_LEN)
					return false;
				id = mnl_attr_get_payload(b);
				break;
			case QKDN_A_KEY_DATA:
				if (plen > KEY_MAX_BYTES)
					return false;
				data = mnl_attr_get_payload(b);
				dlen = plen;
				break;
			}
		}
		if (!id || !data)
			return false;
		memcpy(k->id[k->n], id, QKDN_KEY_ID_LEN);
		memcpy(k->data[k->n], data, dlen);
		k->len[k->n] = dlen;
		k->n++;
	}
	return true;
}

/* ---- requests used by several tests ---- */

static const char *const cmd_names[] = {
	[QKDN_CMD_NODE_GET] = "NODE_GET",
	[QKDN_CMD_NODE_SET] = "NODE_SET",
	[QKDN_CMD_LINK_GET] = "LINK_GET",
	[QKDN_CMD_LINK_NEW] = "LINK_NEW",
	[QKDN_CMD_LINK_DEL] = "LINK_DEL",
	[QKDN_CMD_LINK_SET] = "LINK_SET",
	[QKDN_CMD_SAE_GET] = "SAE_GET",
	[QKDN_CMD_SAE_NEW] = "SAE_NEW",
	[QKDN_CMD_SAE_DEL] = "SAE_DEL",
	[QKDN_CMD_POOL_GET] = "POOL_GET",
	[QKDN_CMD_KEY_GET] = "KEY_GET",
	[QKDN_CMD_KEY_GET_BY_ID] = "KEY_GET_BY_ID",
	[QKDN_CMD_KX_BIND] = "KX_BIND",
	[QKDN_CMD_KX_FRAME] = "KX_FRAME",
	[QKDN_CMD_KX_CHANNEL] = "KX_CHANNEL",
	[QKDN_CMD_EVENT] = "EVENT",
};

static const uint8_t all_cmds[] = {
	QKDN_CMD_NODE_GET, QKDN_CMD_NODE_SET, QKDN_CMD_LINK_GET,
	QKDN_CMD_LINK_NEW, QKDN_CMD_LINK_DEL, QKDN_CMD_LINK_SET,
	QKDN_CMD_SAE_GET, QKDN_CMD_SAE_NEW, QKDN_CMD_SAE_DEL,
	QKDN_CMD_POOL_GET, QKDN_CMD_KEY_GET, QKDN_CMD_KEY_GET_BY_ID,
	QKDN_CMD_KX_BIND, QKDN_CMD_KX_FRAME, QKDN_CMD_KX_CHANNEL,
};

static const uint8_t admin_cmds[] = {
	QKDN_CMD_NODE_SET, QKDN_CMD_LINK_NEW, QKDN_CMD_LINK_DEL,
	QKDN_CMD_LINK_SET, QKDN_CMD_SAE_NEW, QKDN_CMD_SAE_DEL,
	QKDN_CMD_KX_BIND, QKDN_CMD_KX_FRAME, QKDN_CMD_KX_CHANNEL,
};

/*
 * A well-formed request for cmd in the node.* set-up, leaving out the
 * attribute of type except (0: none) so that a test can add its own.
 */
static void base(struct msg *m, uint8_t cmd, uint16_t except)
{
	static const uint8_t zero_id[QKDN_KEY_ID_LEN];
	struct kxf *f;

	req(m, cmd);
#define B(type, stmt) do { if (except != (type)) stmt; } while (0)
	switch (cmd) {
	case QKDN_CMD_NODE_SET:
		B(QKDN_A_NODE_ID, put_str(m, QKDN_A_NODE_ID, "kme-1"));
		break;
	case QKDN_CMD_LINK_GET:
	case QKDN_CMD_LINK_DEL:
	case QKDN_CMD_POOL_GET:
		B(QKDN_A_LINK_ID, put_u32(m, QKDN_A_LINK_ID, 1));
		break;
	case QKDN_CMD_LINK_NEW:
		B(QKDN_A_LINK_ID, put_u32(m, QKDN_A_LINK_ID, 9));
		B(QKDN_A_PEER_NODE_ID, put_str(m, QKDN_A_PEER_NODE_ID, "kme-9"));
		break;
	case QKDN_CMD_LINK_SET:
		B(QKDN_A_LINK_ID, put_u32(m, QKDN_A_LINK_ID, 1));
		B(QKDN_A_POOL_LOW, put_u32(m, QKDN_A_POOL_LOW, 100));
		break;
	case QKDN_CMD_SAE_GET:
	case QKDN_CMD_SAE_DEL:
		B(QKDN_A_SAE_ID, put_str(m, QKDN_A_SAE_ID, "sae-a"));
		break;
	case QKDN_CMD_SAE_NEW:
		B(QKDN_A_SAE_ID, put_str(m, QKDN_A_SAE_ID, "sae-new"));
		B(QKDN_A_SAE_UID, put_u32(m, QKDN_A_SAE_UID, 7));
		break;
	case QKDN_CMD_KEY_GET:
		B(QKDN_A_MASTER_SAE_ID, put_str(m, QKDN_A_MASTER_SAE_ID, "sae-a"));
		B(QKDN_A_SLAVE_SAE_ID, put_str(m, QKDN_A_SLAVE_SAE_ID, "sae-b"));
		break;
	case QKDN_CMD_KEY_GET_BY_ID:
		B(QKDN_A_MASTER_SAE_ID, put_str(m, QKDN_A_MASTER_SAE_ID, "sae-b"));
		B(QKDN_A_SLAVE_SAE_ID, put_str(m, QKDN_A_SLAVE_SAE_ID, "sae-l"));
		B(QKDN_A_KEY, put_key_id(m, zero_id));
		break;
	case QKDN_CMD_KX_FRAME:
		B(QKDN_A_LINK_ID, put_u32(m, QKDN_A_LINK_ID, 1));
		f = malloc(sizeof(*f));
		if (f) {
			kx_init(f, KX_ACK, 0, 0);
			B(QKDN_A_KX_FRAME, put(m, QKDN_A_KX_FRAME, f->len, f->b));
			free(f);
		}
		break;
	case QKDN_CMD_KX_CHANNEL:
		B(QKDN_A_LINK_ID, put_u32(m, QKDN_A_LINK_ID, 1));
		B(QKDN_A_LINK_UP, put_u8(m, QKDN_A_LINK_UP, 1));
		break;
	}
#undef B
}

/* ====================================================================
 * node.*: one QKD node, configured as
 *	node kme-1, link 1 to kme-2 (no QKD module),
 *	sae-a (uid 1001) and sae-l (uid 1002) local,
 *	sae-b served by kme-2, sae-far served by kme-3 (no link).
 * ==================================================================== */

FIXTURE(node) {
	int ns;
	struct nlc s;
	uint32_t pairs[2];
};

FIXTURE_SETUP(node)
{
	int err;

	self->ns = -1;
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	self->ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, self->ns);
	ASSERT_EQ(0, nlc_open(&self->s));
	err = resolve_family(&self->s);
	if (err == -ENOENT)
		SKIP(_exit(255), "the qkdn family is not registered");
	ASSERT_EQ(0, err);
	set_node(_metadata, &self->s, "kme-1");
	new_link(_metadata, &self->s, 1, "kme-2", NULL);
	new_sae(_metadata, &self->s, "sae-a", UID_A, NULL);
	new_sae(_metadata, &self->s, "sae-l", UID_B, NULL);
	new_sae(_metadata, &self->s, "sae-b", 0, "kme-2");
	new_sae(_metadata, &self->s, "sae-far", 0, "kme-3");
}

FIXTURE_TEARDOWN(node)
{
	unsigned int i;

	for (i = 0; i < 2; i++)
		if (self->pairs[i])
			qkdsim_del(self->pairs[i]);
	nlc_close(&self->s);
	if (self->ns >= 0)
		close(self->ns);
}

/* Attributes only replies carry, and types beyond the family's. */
TEST_F_TIMEOUT(node, reply_only_attributes, 120)
{
	static const uint16_t u32s[] = {
		QKDN_A_POOL_KEY_SIZE, QKDN_A_POOL_STORED_KEY_COUNT,
		QKDN_A_POOL_MAX_KEY_COUNT, QKDN_A_POOL_MAX_KEY_PER_REQUEST,
		QKDN_A_POOL_MAX_KEY_SIZE, QKDN_A_POOL_MIN_KEY_SIZE,
		QKDN_A_POOL_RESERVED_KEYS, QKDN_A_EVENT, QKDN_A_KEY_COUNT,
	};
	static const uint16_t u64s[] = {
		QKDN_A_PAD, QKDN_A_POOL_OWN_BYTES, QKDN_A_POOL_PEER_BYTES,
		QKDN_A_POOL_PENDING_BYTES,
	};
	char what[96];
	unsigned int c, i;
	struct msg m;
	uint32_t o;

	for (c = 0; c < sizeof(all_cmds); c++) {
		uint8_t cmd = all_cmds[c];
		const char *name = cmd_names[cmd];

		for (i = 0; i < sizeof(u32s) / sizeof(u32s[0]); i++) {
			base(&m, cmd, 0);
			o = put_u32(&m, u32s[i], 1);
			snprintf(what, sizeof(what), "%s with reply attribute %u",
				 name, u32s[i]);
			BAD(&m, what, EINVAL, "Unsupported attribute", o, 0);
		}
		for (i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++) {
			base(&m, cmd, 0);
			o = put_u64(&m, u64s[i], 1);
			snprintf(what, sizeof(what), "%s with reply attribute %u",
				 name, u64s[i]);
			BAD(&m, what, EINVAL, "Unsupported attribute", o, 0);
		}
		base(&m, cmd, 0);
		o = m.nlh->nlmsg_len;
		{
			struct nlattr *n = mnl_attr_nest_start(m.nlh,
							       QKDN_A_STATS);

			mnl_attr_put_u64(m.nlh, QKDN_A_STATS_KEYS_SUPPLIED, 0);
			mnl_attr_nest_end(m.nlh, n);
		}
		snprintf(what, sizeof(what), "%s with a STATS nest", name);
		BAD(&m, what, EINVAL, "Unsupported attribute", o, 0);

		base(&m, cmd, 0);
		o = put_u32(&m, QKDN_A_MAX + 1, 1);
		snprintf(what, sizeof(what), "%s with attribute type %u", name,
			 QKDN_A_MAX + 1);
		BAD(&m, what, EINVAL, "Unknown attribute type", o, 0);
	}
}

/* Commands the family does not have, dumps of do-only commands. */
TEST_F(node, unknown_commands)
{
	const uint8_t cmds[] = { QKDN_CMD_UNSPEC, QKDN_CMD_EVENT,
				 QKDN_CMD_MAX + 1, 200 };
	const uint8_t no_dump[] = {
		QKDN_CMD_NODE_GET, QKDN_CMD_NODE_SET, QKDN_CMD_KEY_GET,
		QKDN_CMD_KEY_GET_BY_ID, QKDN_CMD_KX_BIND,
	};
	char what[64];
	unsigned int i;
	struct msg m;

	for (i = 0; i < sizeof(cmds); i++) {
		req(&m, cmds[i]);
		snprintf(what, sizeof(what), "command %u", cmds[i]);
		BAD(&m, what, EOPNOTSUPP, NO_MSG, NO_OFFS, 0);
	}
	for (i = 0; i < sizeof(no_dump); i++) {
		dump_req(&m, no_dump[i]);
		snprintf(what, sizeof(what), "%s dump", cmd_names[no_dump[i]]);
		BAD(&m, what, EOPNOTSUPP, NO_MSG, NO_OFFS, 0);
	}
}

TEST_F(node, genl_header)
{
	struct genlmsghdr *g;
	struct msg m;

	base(&m, QKDN_CMD_LINK_SET, 0);
	g = mnl_nlmsg_get_payload(m.nlh);
	g->reserved = 1;
	BAD(&m, "LINK_SET with genlmsghdr.reserved 1", EINVAL, "reserved",
	    NO_OFFS, 0);
	base(&m, QKDN_CMD_LINK_GET, 0);
	m.nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 2;
	BAD(&m, "LINK_GET with half a genlmsghdr", EINVAL, NO_MSG, NO_OFFS,
	    0);
}

/* Fixed-size attributes of the wrong size, and nest flags. */
TEST_F(node, attribute_sizes)
{
	static const uint8_t id16[QKDN_KEY_ID_LEN];
	const uint8_t two[2] = { 1, 0 }, eight[8] = { 1 }, four[4] = { 1 };
	struct msg m;
	uint32_t o;

	base(&m, QKDN_CMD_LINK_GET, QKDN_A_LINK_ID);
	o = put(&m, QKDN_A_LINK_ID, sizeof(two), two);
	BAD(&m, "LINK_GET LINK_ID of 2 bytes", EINVAL,
	    "invalid attribute length", o, 0);

	base(&m, QKDN_CMD_LINK_DEL, QKDN_A_LINK_ID);
	o = put(&m, QKDN_A_LINK_ID, sizeof(eight), eight);
	BAD(&m, "LINK_DEL LINK_ID of 8 bytes", EINVAL,
	    "invalid attribute length", o, 0);

	base(&m, QKDN_CMD_LINK_NEW, QKDN_A_LINK_ID);
	o = put(&m, QKDN_A_LINK_ID, 0, NULL);
	BAD(&m, "LINK_NEW empty LINK_ID", EINVAL,
	    "invalid attribute length", o, 0);

	base(&m, QKDN_CMD_KEY_GET, 0);
	o = put(&m, QKDN_A_KEY_NUMBER, sizeof(two), two);
	BAD(&m, "KEY_GET KEY_NUMBER of 2 bytes", EINVAL,
	    "invalid attribute length", o, 0);

	base(&m, QKDN_CMD_KEY_GET, 0);
	o = put(&m, QKDN_A_KEY_SIZE, 1, two);
	BAD(&m, "KEY_GET KEY_SIZE of 1 byte", EINVAL,
	    "invalid attribute length", o, 0);

	base(&m, QKDN_CMD_SAE_NEW, QKDN_A_SAE_UID);
	o = put(&m, QKDN_A_SAE_UID, sizeof(two), two);
	BAD(&m, "SAE_NEW SAE_UID of 2 bytes", EINVAL,
	    "invalid attribute length", o, 0);

	base(&m, QKDN_CMD_SAE_NEW, QKDN_A_SAE_UID);
	o = put_str(&m, QKDN_A_SAE_UID, "1001");
	BAD(&m, "SAE_NEW SAE_UID as a string", EINVAL,
	    "invalid attribute length", o, 0);

	base(&m, QKDN_CMD_LINK_SET, 0);
	o = put(&m, QKDN_A_POOL_CAPACITY, sizeof(eight), eight);
	BAD(&m, "LINK_SET POOL_CAPACITY of 8 bytes", EINVAL,
	    "invalid attribute length", o, 0);

	base(&m, QKDN_CMD_LINK_SET, QKDN_A_POOL_LOW);
	o = put(&m, QKDN_A_POOL_LOW, sizeof(two), two);
	BAD(&m, "LINK_SET POOL_LOW of 2 bytes", EINVAL,
	    "invalid attribute length", o, 0);

	base(&m, QKDN_CMD_LINK_SET, 0);
	o = put(&m, QKDN_A_RATE, sizeof(four), four);
	BAD(&m, "LINK_SET RATE of 4 bytes", EINVAL,
	    "invalid attribute length", o, 0);

	base(&m, QKDN_CMD_LINK_SET, 0);
	o = put(&m, QKDN_A_DEVICE_RUNNING, sizeof(four), four);
	BAD(&m, "LINK_SET DEVICE_RUNNING of 4 bytes", EINVAL,
	    "invalid attribute length", o, 0);

	base(&m, QKDN_CMD_KX_CHANNEL, QKDN_A_LINK_UP);
	o = put(&m, QKDN_A_LINK_UP, sizeof(four), four);
	BAD(&m, "KX_CHANNEL LINK_UP of 4 bytes", EINVAL,
	    "invalid attribute length", o, 0);

	/* A nest without NLA_F_NESTED, a scalar with it. */
	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_KEY);
	o = put_key_id(&m, id16);
	((struct nlattr *)(m.buf + o))->nla_type &= ~NLA_F_NESTED;
	BAD(&m, "KEY_GET_BY_ID KEY without NLA_F_NESTED", EINVAL,
	    "NLA_F_NESTED", o, 0);

	base(&m, QKDN_CMD_LINK_GET, QKDN_A_LINK_ID);
	o = put_u32(&m, QKDN_A_LINK_ID, 1);
	((struct nlattr *)(m.buf + o))->nla_type |= NLA_F_NESTED;
	BAD(&m, "LINK_GET LINK_ID with NLA_F_NESTED", EINVAL,
	    "NLA_F_NESTED", o, 0);

	/* Attributes running past the end of the message. */
	base(&m, QKDN_CMD_LINK_GET, QKDN_A_LINK_ID);
	o = put_u32(&m, QKDN_A_LINK_ID, 1);
	m.nlh->nlmsg_len -= 2;
	BAD(&m, "LINK_GET with a truncated attribute", EINVAL, ANY_MSG,
	    NO_OFFS, 0);
}

/* String attributes: no NUL, too long, empty, characters out of the set. */
TEST_F(node, string_attributes)
{
	static const struct {
		uint8_t cmd;
		uint16_t type;
	} ids[] = {
		{ QKDN_CMD_NODE_SET, QKDN_A_NODE_ID },
		{ QKDN_CMD_LINK_NEW, QKDN_A_PEER_NODE_ID },
		{ QKDN_CMD_SAE_NEW, QKDN_A_SAE_ID },
		{ QKDN_CMD_SAE_GET, QKDN_A_SAE_ID },
		{ QKDN_CMD_SAE_DEL, QKDN_A_SAE_ID },
		{ QKDN_CMD_KEY_GET, QKDN_A_MASTER_SAE_ID },
		{ QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID },
		{ QKDN_CMD_KEY_GET_BY_ID, QKDN_A_MASTER_SAE_ID },
		{ QKDN_CMD_KEY_GET_BY_ID, QKDN_A_SLAVE_SAE_ID },
		{ QKDN_CMD_POOL_GET, QKDN_A_SLAVE_SAE_ID },
		{ QKDN_CMD_SAE_NEW, QKDN_A_SAE_NODE_ID },
	};
	static const char *const bad_chars[] = {
		"kme 1", "kme/1", "sae\x01", "a\xc3\xa9", "a,b", "kme%1",
	};
	char long_id[QKDN_ID_MAX + 2], long_dev[64], what[128];
	unsigned int i, j;
	struct msg m;
	uint32_t o;

	memset(long_id, 'x', QKDN_ID_MAX);	/* 64 characters */
	long_id[QKDN_ID_MAX] = '\0';

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		uint8_t cmd = ids[i].cmd;
		uint16_t t = ids[i].type;
		const char *name = cmd_names[cmd];

		/* POOL_GET by slave SAE: LINK_ID would be used otherwise. */
		if (cmd == QKDN_CMD_POOL_GET)
			req(&m, cmd);
		else if (cmd == QKDN_CMD_SAE_NEW && t == QKDN_A_SAE_NODE_ID)
			base(&m, cmd, QKDN_A_SAE_UID);
		else
			base(&m, cmd, t);
		o = put_strn(&m, t, "kme-x");
		snprintf(what, sizeof(what), "%s attribute %u without NUL",
			 name, t);
		BAD(&m, what, EINVAL, POLICY_MSG, o, 0);

		if (cmd == QKDN_CMD_POOL_GET)
			req(&m, cmd);
		else if (cmd == QKDN_CMD_SAE_NEW && t == QKDN_A_SAE_NODE_ID)
			base(&m, cmd, QKDN_A_SAE_UID);
		else
			base(&m, cmd, t);
		o = put_str(&m, t, long_id);
		snprintf(what, sizeof(what), "%s attribute %u of 64 characters",
			 name, t);
		BAD(&m, what, EINVAL, POLICY_MSG, o, 0);

		if (cmd == QKDN_CMD_POOL_GET)
			req(&m, cmd);
		else if (cmd == QKDN_CMD_SAE_NEW && t == QKDN_A_SAE_NODE_ID)
			base(&m, cmd, QKDN_A_SAE_UID);
		else
			base(&m, cmd, t);
		o = put_strn(&m, t, long_id);
		snprintf(what, sizeof(what),
			 "%s attribute %u of 64 characters without NUL", name, t);
		BAD(&m, what, EINVAL, POLICY_MSG, o, 0);

		if (cmd == QKDN_CMD_POOL_GET)
			req(&m, cmd);
		else if (cmd == QKDN_CMD_SAE_NEW && t == QKDN_A_SAE_NODE_ID)
			base(&m, cmd, QKDN_A_SAE_UID);
		else
			base(&m, cmd, t);
		o = put_str(&m, t, "");
		snprintf(what, sizeof(what), "%s attribute %u empty", name, t);
		BAD(&m, what, EINVAL, "ID must be", o, 0);

		for (j = 0; j < sizeof(bad_chars) / sizeof(bad_chars[0]); j++) {
			if (cmd == QKDN_CMD_POOL_GET)
				req(&m, cmd);
			else if (cmd == QKDN_CMD_SAE_NEW &&
				 t == QKDN_A_SAE_NODE_ID)
				base(&m, cmd, QKDN_A_SAE_UID);
			else
				base(&m, cmd, t);
			o = put_str(&m, t, bad_chars[j]);
			snprintf(what, sizeof(what), "%s attribute %u \"%s\"",
				 name, t, bad_chars[j]);
			BAD(&m, what, EINVAL, "ID must be", o, 0);
		}
	}

	/* Device names: up to 31 characters. */
	memset(long_dev, 'd', 32);
	long_dev[32] = '\0';
	base(&m, QKDN_CMD_LINK_SET, 0);
	o = put_str(&m, QKDN_A_DEVICE, long_dev);
	BAD(&m, "LINK_SET DEVICE of 32 characters", EINVAL, POLICY_MSG, o, 0);
	base(&m, QKDN_CMD_LINK_NEW, 0);
	o = put_strn(&m, QKDN_A_DEVICE, "qkdsim1");
	BAD(&m, "LINK_NEW DEVICE without NUL", EINVAL, POLICY_MSG, o, 0);
}

/* The longest IDs accepted, and the extreme link IDs. */
TEST_F(node, id_boundaries)
{
	char id63[QKDN_ID_MAX], other63[QKDN_ID_MAX], dev31[32];
	struct nlc s2;
	struct rep *r = rep_new();
	const struct nlattr *a;
	struct msg m;

	ASSERT_TRUE(r != NULL);
	memset(id63, 'n', QKDN_ID_MAX - 1);
	id63[QKDN_ID_MAX - 1] = '\0';
	memset(other63, 'p', QKDN_ID_MAX - 1);
	other63[QKDN_ID_MAX - 1] = '\0';
	memset(dev31, 'd', 31);
	dev31[31] = '\0';

	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	ASSERT_EQ(0, nlc_open(&s2));
	set_node(_metadata, &s2, id63);
	req(&m, QKDN_CMD_NODE_GET);
	ASSERT_EQ(0, nlc_txrx(&s2, m.nlh, r));
	a = attr_find((const struct nlmsghdr *)r->data, QKDN_A_NODE_ID);
	ASSERT_TRUE(a != NULL);
	EXPECT_STREQ(id63, mnl_attr_get_str(a));

	new_link(_metadata, &s2, 65535, other63, dev31);
	new_link(_metadata, &s2, 1, "kme-2", NULL);
	new_sae(_metadata, &s2, other63, 5, NULL);
	new_sae(_metadata, &s2, "sae.remote_1:x@y", 0, other63);

	req(&m, QKDN_CMD_LINK_GET);
	put_u32(&m, QKDN_A_LINK_ID, 65535);
	ASSERT_EQ(0, nlc_txrx(&s2, m.nlh, r));
	a = attr_find((const struct nlmsghdr *)r->data, QKDN_A_DEVICE);
	ASSERT_TRUE(a != NULL);
	EXPECT_STREQ(dev31, mnl_attr_get_str(a));
	a = attr_find((const struct nlmsghdr *)r->data, QKDN_A_PEER_NODE_ID);
	ASSERT_TRUE(a != NULL);
	EXPECT_STREQ(other63, mnl_attr_get_str(a));

	/* The extreme key sizes and counts pass validation (root is no SAE). */
	req(&m, QKDN_CMD_KEY_GET);
	put_str(&m, QKDN_A_MASTER_SAE_ID, other63);
	put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae.remote_1:x@y");
	put_u32(&m, QKDN_A_KEY_NUMBER, QKDN_KEYS_PER_REQUEST);
	put_u32(&m, QKDN_A_KEY_SIZE, QKDN_KEY_SIZE_MAX);
	nlc_txrx(&s2, m.nlh, r);
	EXPECT_EQ(EACCES, r->err) TH_LOG("KEY_GET 128 x 8192 bits: %s (%s)",
					 errname(r->err), r->msg);
	req(&m, QKDN_CMD_KEY_GET);
	put_str(&m, QKDN_A_MASTER_SAE_ID, other63);
	put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae.remote_1:x@y");
	put_u32(&m, QKDN_A_KEY_NUMBER, 1);
	put_u32(&m, QKDN_A_KEY_SIZE, QKDN_KEY_SIZE_MIN);
	nlc_txrx(&s2, m.nlh, r);
	EXPECT_EQ(EACCES, r->err) TH_LOG("KEY_GET 1 x 64 bits: %s (%s)",
					 errname(r->err), r->msg);
	nlc_close(&s2);
	rep_free(r);
}

TEST_F(node, integer_ranges)
{
	static const uint8_t link_cmds[] = {
		QKDN_CMD_LINK_GET, QKDN_CMD_LINK_NEW, QKDN_CMD_LINK_SET,
		QKDN_CMD_LINK_DEL, QKDN_CMD_POOL_GET, QKDN_CMD_KX_FRAME,
		QKDN_CMD_KX_CHANNEL,
	};
	static const uint32_t bad_links[] = { 0, 65536, UINT32_MAX };
	static const uint32_t bad_numbers[] = { 0, 129, UINT32_MAX };
	static const uint32_t bad_sizes[] = { 0, 63, 8193, 8200, UINT32_MAX };
	static const uint32_t bad_caps[] = {
		0, 4095, QKDN_POOL_CAPACITY_MAX + 1U, UINT32_MAX,
	};
	char what[96];
	unsigned int i, j;
	struct msg m;
	uint32_t o;

	for (i = 0; i < sizeof(link_cmds); i++) {
		for (j = 0; j < sizeof(bad_links) / sizeof(bad_links[0]); j++) {
			base(&m, link_cmds[i], QKDN_A_LINK_ID);
			o = put_u32(&m, QKDN_A_LINK_ID, bad_links[j]);
			snprintf(what, sizeof(what), "%s LINK_ID %u",
				 cmd_names[link_cmds[i]], bad_links[j]);
			BAD(&m, what, ERANGE, "out of range", o, 0);
		}
	}
	dump_req(&m, QKDN_CMD_LINK_GET);
	o = put_u32(&m, QKDN_A_LINK_ID, 0);
	BAD(&m, "LINK_GET dump with LINK_ID 0", ERANGE, "out of range", o, 0);

	for (j = 0; j < sizeof(bad_numbers) / sizeof(bad_numbers[0]); j++) {
		base(&m, QKDN_CMD_KEY_GET, 0);
		o = put_u32(&m, QKDN_A_KEY_NUMBER, bad_numbers[j]);
		snprintf(what, sizeof(what), "KEY_GET KEY_NUMBER %u",
			 bad_numbers[j]);
		BAD(&m, what, ERANGE, "out of range", o, 0);
	}
	for (j = 0; j < sizeof(bad_sizes) / sizeof(bad_sizes[0]); j++) {
		base(&m, QKDN_CMD_KEY_GET, 0);
		o = put_u32(&m, QKDN_A_KEY_SIZE, bad_sizes[j]);
		snprintf(what, sizeof(what), "KEY_GET KEY_SIZE %u",
			 bad_sizes[j]);
		BAD(&m, what, ERANGE, "out of range", o, 0);
	}
	base(&m, QKDN_CMD_KEY_GET, 0);
	o = put_u32(&m, QKDN_A_KEY_SIZE, 260);
	BAD(&m, "KEY_GET KEY_SIZE 260", EINVAL, "multiple of 8", o, 0);
	base(&m, QKDN_CMD_KEY_GET, 0);
	put_u32(&m, QKDN_A_KEY_NUMBER, 2);
	o = put_u32(&m, QKDN_A_KEY_SIZE, 65);
	BAD(&m, "KEY_GET KEY_SIZE 65", EINVAL, "multiple of 8", o, 0);

	for (j = 0; j < sizeof(bad_caps) / sizeof(bad_caps[0]); j++) {
		base(&m, QKDN_CMD_LINK_SET, QKDN_A_POOL_LOW);
		o = put_u32(&m, QKDN_A_POOL_CAPACITY, bad_caps[j]);
		snprintf(what, sizeof(what), "LINK_SET POOL_CAPACITY %u",
			 bad_caps[j]);
		BAD(&m, what, ERANGE, "out of range", o, 0);

		base(&m, QKDN_CMD_LINK_NEW, 0);
		o = put_u32(&m, QKDN_A_POOL_CAPACITY, bad_caps[j]);
		snprintf(what, sizeof(what), "LINK_NEW POOL_CAPACITY %u",
			 bad_caps[j]);
		BAD(&m, what, ERANGE, "out of range", o, 0);
	}
	base(&m, QKDN_CMD_LINK_SET, QKDN_A_POOL_LOW);
	o = put_u32(&m, QKDN_A_POOL_LOW, QKDN_POOL_CAPACITY_MAX + 1U);
	BAD(&m, "LINK_SET POOL_LOW above the maximum", ERANGE, "out of range",
	    o, 0);

	for (j = 2; j < 256; j += 253) {
		base(&m, QKDN_CMD_KX_CHANNEL, QKDN_A_LINK_UP);
		o = put_u8(&m, QKDN_A_LINK_UP, j);
		snprintf(what, sizeof(what), "KX_CHANNEL LINK_UP %u", j);
		BAD(&m, what, ERANGE, "out of range", o, 0);

		base(&m, QKDN_CMD_LINK_SET, 0);
		o = put_u8(&m, QKDN_A_DEVICE_RUNNING, j);
		snprintf(what, sizeof(what), "LINK_SET DEVICE_RUNNING %u", j);
		BAD(&m, what, ERANGE, "out of range", o, 0);
	}
	base(&m, QKDN_CMD_LINK_SET, 0);
	o = put_u64(&m, QKDN_A_RATE, 1000000000001ULL);
	BAD(&m, "LINK_SET RATE 10^12 + 1", ERANGE, "out of range", o, 0);
}

/*
 * LINK_ID is required: the extended ACK names the missing type (a message
 * is documented only for missing IDs).
 */
TEST_F(node, missing_link_id)
{
	static const uint8_t cmds[] = {
		QKDN_CMD_LINK_GET, QKDN_CMD_LINK_NEW, QKDN_CMD_LINK_SET,
		QKDN_CMD_LINK_DEL, QKDN_CMD_POOL_GET, QKDN_CMD_KX_FRAME,
		QKDN_CMD_KX_CHANNEL,
	};
	char what[64];
	unsigned int i;
	struct msg m;

	for (i = 0; i < sizeof(cmds); i++) {
		base(&m, cmds[i], QKDN_A_LINK_ID);
		snprintf(what, sizeof(what), "%s without LINK_ID",
			 cmd_names[cmds[i]]);
		BAD(&m, what, EINVAL, NO_MSG, NO_OFFS, QKDN_A_LINK_ID);
	}
}

/* Required IDs (node, peer, SAE): missing type and message. */
TEST_F(node, missing_ids)
{
	static const struct {
		uint8_t cmd;
		uint16_t type;
	} cases[] = {
		{ QKDN_CMD_NODE_SET, QKDN_A_NODE_ID },
		{ QKDN_CMD_LINK_NEW, QKDN_A_PEER_NODE_ID },
		{ QKDN_CMD_SAE_GET, QKDN_A_SAE_ID },
		{ QKDN_CMD_SAE_DEL, QKDN_A_SAE_ID },
		{ QKDN_CMD_SAE_NEW, QKDN_A_SAE_ID },
	};
	char what[64];
	unsigned int i;
	struct msg m;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		base(&m, cases[i].cmd, cases[i].type);
		snprintf(what, sizeof(what), "%s without attribute %u",
			 cmd_names[cases[i].cmd], cases[i].type);
		BAD(&m, what, EINVAL, "missing", NO_OFFS, cases[i].type);
	}

	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "sae-new");
	BAD(&m, "SAE_NEW with neither uid nor node", EINVAL, "uid", NO_OFFS,
	    0);
	base(&m, QKDN_CMD_SAE_NEW, 0);
	put_str(&m, QKDN_A_SAE_NODE_ID, "kme-2");
	BAD(&m, "SAE_NEW with uid and node", EINVAL, "uid", NO_OFFS, 0);
}

/*
 * The SAE pair of key requests, and the other required attributes: named
 * by type in the extended ACK.
 */
TEST_F(node, missing_request_attributes)
{
	static const struct {
		uint8_t cmd;
		uint16_t type;
	} cases[] = {
		{ QKDN_CMD_KEY_GET, QKDN_A_MASTER_SAE_ID },
		{ QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID },
		{ QKDN_CMD_KEY_GET_BY_ID, QKDN_A_MASTER_SAE_ID },
		{ QKDN_CMD_KEY_GET_BY_ID, QKDN_A_SLAVE_SAE_ID },
		{ QKDN_CMD_KX_FRAME, QKDN_A_KX_FRAME },
		{ QKDN_CMD_KX_CHANNEL, QKDN_A_LINK_UP },
	};
	char what[64];
	unsigned int i;
	struct msg m;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		base(&m, cases[i].cmd, cases[i].type);
		snprintf(what, sizeof(what), "%s without attribute %u",
			 cmd_names[cases[i].cmd], cases[i].type);
		BAD(&m, what, EINVAL, NO_MSG, NO_OFFS, cases[i].type);
	}
	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_KEY);
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID without key IDs", EINVAL,
	       "no key ID", NO_OFFS, 0);
}

TEST_F(node, unknown_objects)
{
	static const uint8_t link_cmds[] = {
		QKDN_CMD_LINK_GET, QKDN_CMD_LINK_SET, QKDN_CMD_LINK_DEL,
		QKDN_CMD_POOL_GET, QKDN_CMD_KX_FRAME, QKDN_CMD_KX_CHANNEL,
	};
	static const uint8_t sae_cmds[] = {
		QKDN_CMD_SAE_GET, QKDN_CMD_SAE_DEL,
	};
	char what[64];
	unsigned int i;
	struct msg m;
	uint32_t o;

	for (i = 0; i < sizeof(link_cmds); i++) {
		base(&m, link_cmds[i], QKDN_A_LINK_ID);
		o = put_u32(&m, QKDN_A_LINK_ID, 2);
		snprintf(what, sizeof(what), "%s of unknown link 2",
			 cmd_names[link_cmds[i]]);
		BAD(&m, what, ENOENT, "no such link", o, 0);
	}
	for (i = 0; i < sizeof(sae_cmds); i++) {
		base(&m, sae_cmds[i], QKDN_A_SAE_ID);
		o = put_str(&m, QKDN_A_SAE_ID, "sae-zz");
		snprintf(what, sizeof(what), "%s of unknown SAE",
			 cmd_names[sae_cmds[i]]);
		BAD(&m, what, ENOENT, "no such SAE", o, 0);
	}
	base(&m, QKDN_CMD_KEY_GET, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-zz");
	BAD_AS(&cred_a, &m, "KEY_GET unknown master", ENOENT, "no such SAE",
	       o, 0);
	base(&m, QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-zz");
	BAD_AS(&cred_a, &m, "KEY_GET unknown slave", ENOENT, "no such SAE",
	       o, 0);
	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-zz");
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID unknown master", ENOENT,
	       "no such SAE", o, 0);
	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_SLAVE_SAE_ID);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-zz");
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID unknown slave", ENOENT,
	       "no such SAE", o, 0);
	req(&m, QKDN_CMD_POOL_GET);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-zz");
	BAD(&m, "POOL_GET unknown slave SAE", ENOENT, "no such SAE", o, 0);
}

TEST_F(node, node_set_errors)
{
	struct msg m;
	uint32_t o;

	req(&m, QKDN_CMD_NODE_SET);
	o = put_str(&m, QKDN_A_NODE_ID, "kme-9");
	BAD(&m, "NODE_SET changing the ID while links exist", EBUSY,
	    "links exist", o, 0);
	set_node(_metadata, &self->s, "kme-1");
}

TEST_F(node, link_new_errors)
{
	struct msg m;
	uint32_t o;

	req(&m, QKDN_CMD_LINK_NEW);
	put_u32(&m, QKDN_A_LINK_ID, 5);
	o = put_str(&m, QKDN_A_PEER_NODE_ID, "kme-1");
	BAD(&m, "LINK_NEW to this node", EINVAL, "peer is this node", o, 0);

	req(&m, QKDN_CMD_LINK_NEW);
	o = put_u32(&m, QKDN_A_LINK_ID, 1);
	put_str(&m, QKDN_A_PEER_NODE_ID, "kme-5");
	BAD(&m, "LINK_NEW with a link ID in use", EEXIST, "in use", o, 0);

	req(&m, QKDN_CMD_LINK_NEW);
	put_u32(&m, QKDN_A_LINK_ID, 5);
	o = put_str(&m, QKDN_A_PEER_NODE_ID, "kme-2");
	BAD(&m, "LINK_NEW to a peer already linked", EEXIST, "exists", o, 0);

	req(&m, QKDN_CMD_LINK_NEW);
	put_u32(&m, QKDN_A_LINK_ID, 5);
	put_str(&m, QKDN_A_PEER_NODE_ID, "kme-5");
	put_u32(&m, QKDN_A_POOL_CAPACITY, 4096);
	o = put_u32(&m, QKDN_A_POOL_LOW, 5000);
	BAD(&m, "LINK_NEW low mark above capacity", EINVAL, "low mark", o, 0);

	req(&m, QKDN_CMD_LINK_NEW);
	put_u32(&m, QKDN_A_LINK_ID, 5);
	put_str(&m, QKDN_A_PEER_NODE_ID, "kme-5");
	o = put_u64(&m, QKDN_A_RATE, 1000);
	BAD(&m, "LINK_NEW rate without a QKD module", ENODEV, "no QKD module",
	    o, 0);

	req(&m, QKDN_CMD_LINK_NEW);
	put_u32(&m, QKDN_A_LINK_ID, 5);
	put_str(&m, QKDN_A_PEER_NODE_ID, "kme-5");
	o = put_u8(&m, QKDN_A_DEVICE_RUNNING, 1);
	BAD(&m, "LINK_NEW running without a QKD module", ENODEV,
	    "no QKD module", o, 0);
}

TEST_F(node, link_new_needs_node_id)
{
	struct nlc s2;
	struct msg m;

	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	ASSERT_EQ(0, nlc_open(&s2));
	req(&m, QKDN_CMD_LINK_NEW);
	put_u32(&m, QKDN_A_LINK_ID, 1);
	put_str(&m, QKDN_A_PEER_NODE_ID, "kme-2");
	bad(_metadata, &s2, -1, NULL, &m, "LINK_NEW before NODE_SET", EINVAL,
	    "node ID first", NO_OFFS, 0, 0);
	nlc_close(&s2);
}

TEST_F(node, link_set_errors)
{
	struct msg m;
	uint32_t o;

	req(&m, QKDN_CMD_LINK_SET);
	put_u32(&m, QKDN_A_LINK_ID, 1);
	o = put_u32(&m, QKDN_A_POOL_LOW, QKDN_POOL_CAPACITY_MAX);
	BAD(&m, "LINK_SET low mark above capacity", EINVAL, "low mark", o, 0);

	req(&m, QKDN_CMD_LINK_SET);
	put_u32(&m, QKDN_A_LINK_ID, 1);
	put_u32(&m, QKDN_A_POOL_LOW, 8192);
	ok_req(_metadata, &self->s, &m, "LINK_SET low 8192");

	req(&m, QKDN_CMD_LINK_SET);
	put_u32(&m, QKDN_A_LINK_ID, 1);
	o = put_u32(&m, QKDN_A_POOL_CAPACITY, 4096);
	BAD(&m, "LINK_SET capacity below the low mark", EINVAL, "low mark", o,
	    0);

	req(&m, QKDN_CMD_LINK_SET);
	put_u32(&m, QKDN_A_LINK_ID, 1);
	put_u32(&m, QKDN_A_POOL_CAPACITY, 65536);
	o = put_u64(&m, QKDN_A_RATE, 1000);
	BAD(&m, "LINK_SET rate without a QKD module", ENODEV, "no QKD module",
	    o, 0);

	req(&m, QKDN_CMD_LINK_SET);
	put_u32(&m, QKDN_A_LINK_ID, 1);
	o = put_u8(&m, QKDN_A_DEVICE_RUNNING, 1);
	BAD(&m, "LINK_SET running without a QKD module", ENODEV,
	    "no QKD module", o, 0);
}

TEST_F(node, sae_errors)
{
	struct msg m;
	uint32_t o;

	req(&m, QKDN_CMD_SAE_NEW);
	o = put_str(&m, QKDN_A_SAE_ID, "sae-a");
	put_u32(&m, QKDN_A_SAE_UID, 5);
	BAD(&m, "SAE_NEW with an ID in use", EEXIST, "in use", o, 0);

	req(&m, QKDN_CMD_SAE_NEW);
	o = put_str(&m, QKDN_A_SAE_ID, "sae-b");
	put_str(&m, QKDN_A_SAE_NODE_ID, "kme-7");
	BAD(&m, "SAE_NEW remote with an ID in use", EEXIST, "in use", o, 0);

	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "sae-new");
	o = put_str(&m, QKDN_A_SAE_NODE_ID, "kme-1");
	BAD(&m, "SAE_NEW remote SAE served by this node", EINVAL,
	    "cannot be served by this node", o, 0);

	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "sae-new");
	o = put_u32(&m, QKDN_A_SAE_UID, UINT32_MAX);
	BAD(&m, "SAE_NEW uid 4294967295", EINVAL, "uid not valid", o, 0);
}

TEST_F(node, pool_get_errors)
{
	struct msg m;
	uint32_t o;

	req(&m, QKDN_CMD_POOL_GET);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-a");
	BAD(&m, "POOL_GET for a local slave SAE", EINVAL,
	    "served by this node", o, 0);

	req(&m, QKDN_CMD_POOL_GET);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-far");
	BAD(&m, "POOL_GET for an SAE without a link", EHOSTUNREACH,
	    "no QKD link", o, 0);
}

TEST_F(node, key_get_errors)
{
	uint8_t id[QKDN_KEY_ID_LEN] = { 1 };
	struct msg m;
	uint32_t o;

	base(&m, QKDN_CMD_KEY_GET, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-a");
	BAD(&m, "KEY_GET as root for sae-a (uid 1001)", EACCES,
	    "may not act as the master", o, 0);

	base(&m, QKDN_CMD_KEY_GET, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-a");
	BAD_AS(&cred_b, &m, "KEY_GET as uid 1002 for sae-a", EACCES,
	       "may not act as the master", o, 0);

	base(&m, QKDN_CMD_KEY_GET, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-b");
	BAD_AS(&cred_a, &m, "KEY_GET with a remote master", EACCES,
	       "may not act as the master", o, 0);

	base(&m, QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-l");
	BAD_AS(&cred_a, &m, "KEY_GET with a local slave", EOPNOTSUPP,
	       "served by this node", o, 0);

	base(&m, QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-far");
	BAD_AS(&cred_a, &m, "KEY_GET for a slave without a link",
	       EHOSTUNREACH, "no QKD link", o, 0);

	base(&m, QKDN_CMD_KEY_GET, 0);
	BAD_AS(&cred_a, &m, "KEY_GET from an empty pool", ENOSPC,
	       "not enough key", NO_OFFS, 0);

	base(&m, QKDN_CMD_KEY_GET, 0);
	put_u32(&m, QKDN_A_KEY_NUMBER, 128);
	put_u32(&m, QKDN_A_KEY_SIZE, 8192);
	BAD_AS(&cred_a, &m, "KEY_GET 128 x 8192 bits from an empty pool",
	       ENOSPC, "not enough key", NO_OFFS, 0);

	/* Key bytes never travel in a request. */
	base(&m, QKDN_CMD_KEY_GET, 0);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_KEY);

		mnl_attr_put(m.nlh, QKDN_A_KEY_ID, sizeof(id), id);
		o = m.nlh->nlmsg_len;
		mnl_attr_put(m.nlh, QKDN_A_KEY_DATA, 32, id);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD_AS(&cred_a, &m, "KEY_GET carrying key bytes", EINVAL,
	       "Attribute failed policy validation", o, 0);
}

TEST_F_TIMEOUT(node, key_get_by_id_errors, 60)
{
	uint8_t id[QKDN_KEY_ID_LEN] = { 0x11, 0x22 };
	uint64_t t0, t;
	struct msg m;
	uint32_t o;
	unsigned int i;

	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_KEY);
	o = put(&m, QKDN_A_KEY, 0, NULL);
	((struct nlattr *)(m.buf + o))->nla_type |= NLA_F_NESTED;
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID with an empty KEY", EINVAL,
	       "key without key ID", o, 0);

	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_KEY);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_KEY);

		o = m.nlh->nlmsg_len;
		mnl_attr_put(m.nlh, QKDN_A_KEY_ID, 15, id);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID key ID of 15 bytes", ERANGE,
	       "binary attribute size out of range", o, 0);

	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_KEY);
	{
		uint8_t id17[17] = { 1 };
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_KEY);

		o = m.nlh->nlmsg_len;
		mnl_attr_put(m.nlh, QKDN_A_KEY_ID, sizeof(id17), id17);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID key ID of 17 bytes", ERANGE,
	       "binary attribute size out of range", o, 0);

	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_KEY);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_KEY);

		mnl_attr_put(m.nlh, QKDN_A_KEY_ID, sizeof(id), id);
		o = m.nlh->nlmsg_len;
		mnl_attr_put(m.nlh, QKDN_A_KEY_DATA, 32, id);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID carrying key bytes", EINVAL,
	       "Attribute failed policy validation", o, 0);

	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_KEY);
	put_key_id(&m, id);
	o = put_key_id(&m, id);
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID with a key ID twice", EINVAL,
	       "repeated", o, 0);

	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_KEY);
	for (i = 0; i <= QKDN_KEYS_PER_REQUEST; i++) {
		id[2] = i;
		o = put_key_id(&m, id);
	}
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID with 129 key IDs", E2BIG,
	       "too many", o, 0);
	id[2] = 0;

	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-a");
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID with a local master", EOPNOTSUPP,
	       "served by this node", o, 0);

	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-far");
	/* A master behind a non-adjacent KM: only relayed keys can match. */
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID for a master without a link",
	       ENOENT, "key ID unknown", NO_OFFS, 0);

	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_SLAVE_SAE_ID);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-l");
	BAD(&m, "KEY_GET_BY_ID as root for sae-l (uid 1002)", EACCES,
	    "may not act as the slave", o, 0);

	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_SLAVE_SAE_ID);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-l");
	BAD_AS(&cred_a, &m, "KEY_GET_BY_ID as uid 1001 for sae-l", EACCES,
	       "may not act as the slave", o, 0);

	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_SLAVE_SAE_ID);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-b");
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID with a remote slave", EACCES,
	       "may not act as the slave", o, 0);

	/* A key ID never reserved: wait for it, then give up. */
	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_KEY);
	put_key_id(&m, id);
	t0 = now_ms();
	BAD_AS(&cred_b, &m, "KEY_GET_BY_ID of an unknown key ID", ENOENT,
	       "unknown or already supplied", NO_OFFS, 0);
	t = now_ms() - t0;
	EXPECT_TRUE(t >= 1900 && t < 6000)
		TH_LOG("unknown key ID answered after %" PRIu64 " ms, expected about 2000",
		       t);
}

/* ---- Kx frames handed to the kernel by a link daemon ---- */

static void kx_bad(struct __test_metadata *_metadata, struct nlc *s,
		   const struct kxf *f, const char *what, int err,
		   const char *msg)
{
	uint64_t before = link_stat(s, 1, QKDN_A_STATS_FRAMES_BAD);
	struct msg m;
	uint32_t o = frame_req(&m, 1, f);

	bad(_metadata, s, -1, NULL, &m, what, err, msg, o, 0, F_NOSTATS);
	EXPECT_EQ(before + 1, link_stat(s, 1, QKDN_A_STATS_FRAMES_BAD))
		TH_LOG("%s: not counted as a bad frame", what);
}

TEST_F(node, kx_frame_policy)
{
	struct kxf *f = malloc(sizeof(*f));
	struct msg m;
	uint32_t o;

	ASSERT_TRUE(f != NULL);
	kx_init(f, KX_BLOCKS, 1, 0);
	f->len = QKDN_KX_FRAME_MAX + 1;
	o = frame_req(&m, 1, f);
	BAD(&m, "KX_FRAME of 8193 bytes", ERANGE,
	    "Attribute failed policy validation", o, 0);

	/* 8192 bytes pass the policy and reach the frame checks. */
	kx_init(f, KX_BLOCKS, 1, 0);
	f->len = QKDN_KX_FRAME_MAX;
	((struct kx_hdr *)f->b)->version = 9;
	kx_bad(_metadata, &self->s, f, "KX_FRAME of 8192 bytes, version 9",
	       EINVAL, "version");
	free(f);
}

TEST_F(node, kx_frame_header)
{
	struct kxf *f = malloc(sizeof(*f));
	struct kx_hdr *h;

	ASSERT_TRUE(f != NULL);
	memset(f, 0, sizeof(*f));
	kx_bad(_metadata, &self->s, f, "Kx frame of 0 bytes", EINVAL,
	       "shorter than its header");
	kx_init(f, KX_ACK, 0, 0);
	f->len = sizeof(*h) - 1;
	kx_bad(_metadata, &self->s, f, "Kx frame of 31 bytes", EINVAL,
	       "shorter than its header");

	h = kx_init(f, KX_ACK, 0, 0);
	h->version = 0;
	kx_bad(_metadata, &self->s, f, "Kx version 0", EINVAL, "version");
	h = kx_init(f, KX_ACK, 0, 0);
	h->version = 2;
	kx_bad(_metadata, &self->s, f, "Kx version 2", EINVAL, "version");
	h = kx_init(f, KX_ACK, 0, 0);
	h->src_epoch = 0;
	kx_bad(_metadata, &self->s, f, "Kx frame without sender epoch", EINVAL,
	       "without sender epoch");

	h = kx_init(f, KX_ACK, 0, 0);
	h->len = htole16(sizeof(*h) + 1);
	kx_bad(_metadata, &self->s, f, "Kx length longer than the frame",
	       EINVAL, "length does not match");
	kx_init(f, KX_BLOCKS, 1, 0);
	kx_count(f, 1);
	kx_range(f, 1, 1);
	kx_set_len(f, f->len - 16);
	kx_bad(_metadata, &self->s, f, "Kx length shorter than the frame",
	       EINVAL, "length does not match");

	kx_init(f, KX_ACK, 0, 1);
	kx_bad(_metadata, &self->s, f, "Kx ACK of frame 1, never sent", EINVAL,
	       "never sent");
	kx_init(f, KX_ACK, 0, UINT64_MAX);
	kx_bad(_metadata, &self->s, f, "Kx ACK of frame 2^64-1", EINVAL,
	       "never sent");

	kx_init(f, 0, 1, 0);
	kx_bad(_metadata, &self->s, f, "Kx type 0", EINVAL, "type unknown");
	kx_init(f, KX_RESERVE + 4, 1, 0);	/* after RELAY, RELAY_DONE, _ABORT */
	kx_bad(_metadata, &self->s, f, "Kx type 7", EINVAL, "type unknown");
	kx_init(f, 255, 1, 0);
	kx_bad(_metadata, &self->s, f, "Kx type 255", EINVAL, "type unknown");

	kx_init(f, KX_ACK, 0, 0);
	kx_put(f, 8);
	kx_bad(_metadata, &self->s, f, "Kx ACK with a body", EINVAL,
	       "carries data");
	kx_init(f, KX_ACK, 5, 0);
	kx_bad(_metadata, &self->s, f, "Kx ACK with a sequence number", EINVAL,
	       "carries data");

	kx_init(f, KX_BLOCKS, 0, 0);
	kx_count(f, 1);
	kx_range(f, 1, 1);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS without sequence number",
	       EINVAL, "without sequence number");
	free(f);
}

TEST_F(node, kx_frame_blocks)
{
	struct kxf *f = malloc(sizeof(*f));
	unsigned int i;

	ASSERT_TRUE(f != NULL);
	kx_init(f, KX_BLOCKS, 1, 0);
	kx_put(f, 4);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS with a 4-byte body", EINVAL,
	       "body length");
	kx_init(f, KX_BLOCKS, 1, 0);
	kx_count(f, 0);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS with no range", EINVAL,
	       "body length");
	kx_init(f, KX_BLOCKS, 1, 0);
	kx_count(f, 2);
	kx_range(f, 1, 1);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS with fewer ranges than counted",
	       EINVAL, "body length");
	kx_init(f, KX_BLOCKS, 1, 0);
	kx_count(f, 1);
	kx_range(f, 1, 1);
	kx_range(f, 3, 1);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS with more ranges than counted",
	       EINVAL, "body length");
	kx_init(f, KX_BLOCKS, 1, 0);
	kx_count(f, 510);
	for (i = 0; i < 509; i++)
		kx_range(f, 2 * i + 1, 1);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS counting 510 ranges", EINVAL,
	       "body length");

	kx_init(f, KX_BLOCKS, 1, 0);
	kx_count(f, 2);
	kx_range(f, 5, 1);
	kx_range(f, 3, 1);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS ranges out of order", EINVAL,
	       "not in order");
	kx_init(f, KX_BLOCKS, 1, 0);
	kx_count(f, 2);
	kx_range(f, 1, 5);
	kx_range(f, 3, 2);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS ranges overlapping", EINVAL,
	       "not in order");
	kx_init(f, KX_BLOCKS, 1, 0);
	kx_count(f, 2);
	kx_range(f, 4, 1);
	kx_range(f, 4, 1);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS range repeated", EINVAL,
	       "not in order");
	kx_init(f, KX_BLOCKS, 1, 0);
	kx_count(f, 1);
	kx_range(f, 0, 1);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS block 0", EINVAL,
	       "not in order");
	kx_init(f, KX_BLOCKS, 1, 0);
	kx_count(f, 1);
	kx_range(f, 7, 0);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS empty range", EINVAL,
	       "not in order");
	kx_init(f, KX_BLOCKS, 1, 0);
	kx_count(f, 1);
	kx_range(f, UINT64_MAX - 1, 3);
	kx_bad(_metadata, &self->s, f, "Kx BLOCKS range wrapping around",
	       EINVAL, "not in order");
	free(f);
}

TEST_F(node, kx_frame_reserve)
{
	char unterminated[QKDN_ID_MAX + 1];
	struct kxf *f = malloc(sizeof(*f));
	struct kx_reserve *r;

	ASSERT_TRUE(f != NULL);
	memset(unterminated, 's', QKDN_ID_MAX);
	unterminated[QKDN_ID_MAX] = '\0';

	kx_init(f, KX_RESERVE, 1, 0);
	kx_put(f, sizeof(*r) - 1);
	kx_bad(_metadata, &self->s, f, "Kx RESERVE body too short", EINVAL,
	       "body length");
	kx_reserve(f, 1, 2, 0, 32, 1, "sae-a", "sae-b");
	r = (struct kx_reserve *)(f->b + sizeof(struct kx_hdr));
	r->count = 0;
	f->len -= QKDN_KEY_ID_LEN;
	kx_set_len(f, f->len);
	kx_bad(_metadata, &self->s, f, "Kx RESERVE of no key", EINVAL,
	       "body length");
	/* At most 500 key IDs fit in a frame: a count of 501 cannot match. */
	r = kx_reserve(f, 1, 2, 0, 32, 500, "sae-a", "sae-b");
	r->count = htole16(501);
	kx_bad(_metadata, &self->s, f, "Kx RESERVE counting 501 keys", EINVAL,
	       "body length");
	kx_reserve(f, 1, 2, 0, 32, 2, "sae-a", "sae-b");
	f->len -= QKDN_KEY_ID_LEN;
	kx_set_len(f, f->len);
	kx_bad(_metadata, &self->s, f, "Kx RESERVE missing a key ID", EINVAL,
	       "body length");
	kx_reserve(f, 1, 2, 0, 32, 1, "sae-a", "sae-b");
	kx_put(f, QKDN_KEY_ID_LEN);
	kx_bad(_metadata, &self->s, f, "Kx RESERVE with an extra key ID",
	       EINVAL, "body length");

	kx_reserve(f, 1, 2, 0, 7, 1, "sae-a", "sae-b");
	kx_bad(_metadata, &self->s, f, "Kx RESERVE of 56-bit keys", EINVAL,
	       "key size");
	kx_reserve(f, 1, 2, 0, 1025, 1, "sae-a", "sae-b");
	kx_bad(_metadata, &self->s, f, "Kx RESERVE of 8200-bit keys", EINVAL,
	       "key size");
	kx_reserve(f, 1, 2, 0, 0, 1, "sae-a", "sae-b");
	kx_bad(_metadata, &self->s, f, "Kx RESERVE of 0-bit keys", EINVAL,
	       "key size");

	kx_reserve(f, 1, 2, 0, 32, 1, "", "sae-b");
	kx_bad(_metadata, &self->s, f, "Kx RESERVE with an empty master",
	       EINVAL, "SAE ID malformed");
	kx_reserve(f, 1, 2, 0, 32, 1, "sae-a", "");
	kx_bad(_metadata, &self->s, f, "Kx RESERVE with an empty slave",
	       EINVAL, "SAE ID malformed");
	kx_reserve(f, 1, 2, 0, 32, 1, unterminated, "sae-b");
	kx_bad(_metadata, &self->s, f, "Kx RESERVE master without NUL", EINVAL,
	       "SAE ID malformed");
	kx_reserve(f, 1, 2, 0, 32, 1, "sae-a", unterminated);
	kx_bad(_metadata, &self->s, f, "Kx RESERVE slave without NUL", EINVAL,
	       "SAE ID malformed");
	free(f);
}

/*
 * SAE IDs in a reservation follow the rules of SAE IDs everywhere else
 * (1 to 63 of A-Z a-z 0-9 . _ - : @); a frame breaking them is malformed,
 * whatever the state of the pool.
 */
TEST_F(node, kx_reserve_sae_charset)
{
	static const char *const ids[] = { "sae a", "sae/a", "sae\x01" };
	struct kxf *f = malloc(sizeof(*f));
	char what[64];
	unsigned int i;

	ASSERT_TRUE(f != NULL);
	/* Each a new sequence number, in case one is taken in. */
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		kx_reserve(f, 2 * i + 1, 2, 0, 32, 1, ids[i], "sae-b");
		snprintf(what, sizeof(what), "Kx RESERVE master \"%s\"", ids[i]);
		kx_bad(_metadata, &self->s, f, what, EINVAL, "SAE ID malformed");
		kx_reserve(f, 2 * i + 2, 2, 0, 32, 1, "sae-a", ids[i]);
		snprintf(what, sizeof(what), "Kx RESERVE slave \"%s\"", ids[i]);
		kx_bad(_metadata, &self->s, f, what, EINVAL, "SAE ID malformed");
	}
	free(f);
}

/* A well-formed reservation the pool cannot hold. */
TEST_F(node, kx_reserve_mismatch)
{
	struct kxf *f = malloc(sizeof(*f));

	ASSERT_TRUE(f != NULL);
	kx_reserve(f, 1, 2, 0, 32, 1, "sae-a", "sae-l");
	kx_bad(_metadata, &self->s, f, "Kx RESERVE from an empty pool", EPROTO,
	       "does not match the pool");
	free(f);
}

TEST_F(node, kx_bind_and_channel)
{
	struct nlc s2;
	struct msg m;
	uint32_t o;

	base(&m, QKDN_CMD_KX_CHANNEL, 0);
	BAD(&m, "KX_CHANNEL with no link daemon bound", ENOTCONN,
	    "no link daemon", NO_OFFS, 0);

	kx_bind(_metadata, &self->s);
	kx_bind(_metadata, &self->s);		/* again: same socket */
	ASSERT_EQ(0, nlc_open(&s2));
	req(&m, QKDN_CMD_KX_BIND);
	bad(_metadata, &s2, -1, NULL, &m, "KX_BIND while another is bound",
	    EBUSY, "already bound", NO_OFFS, 0, 0);

	base(&m, QKDN_CMD_KX_CHANNEL, QKDN_A_LINK_ID);
	o = put_u32(&m, QKDN_A_LINK_ID, 3);
	BAD(&m, "KX_CHANNEL of unknown link 3", ENOENT, "no such link", o, 0);
	kx_channel(_metadata, &self->s, 1, 1);
	kx_channel(_metadata, &self->s, 1, 0);

	/* The daemon's socket goes away: another may bind. */
	nlc_close(&self->s);
	ASSERT_EQ(0, nlc_open(&self->s));
	kx_bind(_metadata, &s2);
	kx_channel(_metadata, &s2, 1, 1);
	nlc_close(&s2);
}

/* ---- who may do what ---- */

static void admin_denied(struct __test_metadata *_metadata,
			 FIXTURE_DATA(node) *self, const struct cred *who,
			 const char *as)
{
	char what[96];
	unsigned int i;
	struct msg m;

	for (i = 0; i < sizeof(admin_cmds); i++) {
		base(&m, admin_cmds[i], 0);
		snprintf(what, sizeof(what), "%s %s", cmd_names[admin_cmds[i]],
			 as);
		BAD_AS(who, &m, what, EPERM, NO_MSG, NO_OFFS, 0);
	}
}

TEST_F(node, admin_needs_cap_net_admin)
{
	struct msg m;

	admin_denied(_metadata, self, &cred_a, "as uid 1001");
	admin_denied(_metadata, self, &cred_nocap,
		     "as root without CAP_NET_ADMIN");
	admin_denied(_metadata, self, &cred_a_late,
		     "as uid 1001 on a socket root opened");
	/* The same requests are fine for root. */
	base(&m, QKDN_CMD_LINK_SET, 0);
	ok_req(_metadata, &self->s, &m, "LINK_SET as root");
	base(&m, QKDN_CMD_KX_BIND, 0);
	ok_req(_metadata, &self->s, &m, "KX_BIND as root");
}

TEST_F(node, readers_need_no_privilege)
{
	static const uint8_t gets[] = {
		QKDN_CMD_NODE_GET, QKDN_CMD_LINK_GET, QKDN_CMD_SAE_GET,
		QKDN_CMD_POOL_GET,
	};
	struct rep *r = rep_new();
	unsigned int i;
	struct msg m;

	ASSERT_TRUE(r != NULL);
	for (i = 0; i < sizeof(gets); i++) {
		base(&m, gets[i], 0);
		run_as(_metadata, self->ns, &cred_a, m.nlh, r);
		EXPECT_EQ(0, r->err) TH_LOG("%s as uid 1001: %s (%s)",
					    cmd_names[gets[i]],
					    errname(r->err), r->msg);
		EXPECT_EQ(1U, r->nmsg);
		if (gets[i] == QKDN_CMD_NODE_GET)
			continue;
		dump_req(&m, gets[i]);
		run_as(_metadata, self->ns, &cred_nocap, m.nlh, r);
		EXPECT_EQ(0, r->err) TH_LOG("%s dump without CAP_NET_ADMIN: %s",
					    cmd_names[gets[i]],
					    errname(r->err));
		EXPECT_LE(1U, r->nmsg);
	}
	rep_free(r);
}

TEST_F(node, netns_isolation)
{
	static const uint8_t dumps[] = {
		QKDN_CMD_LINK_GET, QKDN_CMD_SAE_GET, QKDN_CMD_POOL_GET,
	};
	struct snap *before = malloc(sizeof(*before));
	struct snap *after = malloc(sizeof(*after));
	struct rep *r = rep_new();
	unsigned int i;
	struct nlc s2;
	struct msg m;

	ASSERT_TRUE(before && after && r);
	ASSERT_TRUE(take_snap(&self->s, before, true));
	kx_bind(_metadata, &self->s);

	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	ASSERT_EQ(0, nlc_open(&s2));
	req(&m, QKDN_CMD_NODE_GET);
	ASSERT_EQ(0, nlc_txrx(&s2, m.nlh, r));
	EXPECT_TRUE(attr_find((const struct nlmsghdr *)r->data,
			      QKDN_A_NODE_ID) == NULL)
		TH_LOG("a new namespace has a node ID");
	for (i = 0; i < sizeof(dumps); i++) {
		dump_req(&m, dumps[i]);
		ASSERT_EQ(0, nlc_txrx(&s2, m.nlh, r));
		EXPECT_EQ(0U, r->nmsg) TH_LOG("%s dump of a new namespace",
					      cmd_names[dumps[i]]);
	}
	base(&m, QKDN_CMD_LINK_GET, 0);
	bad(_metadata, &s2, -1, NULL, &m, "LINK_GET of the other node's link",
	    ENOENT, "no such link", NO_OFFS, 0, 0);
	base(&m, QKDN_CMD_SAE_GET, 0);
	bad(_metadata, &s2, -1, NULL, &m, "SAE_GET of the other node's SAE",
	    ENOENT, "no such SAE", NO_OFFS, 0, 0);
	base(&m, QKDN_CMD_KEY_GET, 0);
	bad(_metadata, &s2, -1, &cred_a, &m,
	    "KEY_GET naming the other node's SAEs", ENOENT, "no such SAE",
	    NO_OFFS, 0, 0);

	/* Each namespace has its own link daemon and objects. */
	kx_bind(_metadata, &s2);
	set_node(_metadata, &s2, "kme-2");
	new_link(_metadata, &s2, 1, "kme-1", NULL);
	new_sae(_metadata, &s2, "sae-a", UID_B, NULL);
	kx_channel(_metadata, &s2, 1, 1);

	ASSERT_TRUE(take_snap(&self->s, after, true));
	EXPECT_EQ(SIZE_MAX, snap_diff(before, after))
		TH_LOG("changes in one namespace show in another");
	nlc_close(&s2);
	rep_free(r);
	free(before);
	free(after);
}

/* ---- QKD modules (a lone qkdsim end in this namespace) ---- */

static uint32_t lone_qkdsim(struct __test_metadata *_metadata)
{
	uint32_t id;

	if (access(QKDSIM "/new_device", W_OK))
		SKIP(_exit(255), "qkdsim is not loaded");
	id = qkdsim_pick();
	ASSERT_NE(0U, id);
	ASSERT_EQ(0, qkdsim_new(id));
	return id;
}

TEST_F(node, device_errors)
{
	char dev[32];
	struct msg m;
	uint32_t o;

	self->pairs[0] = lone_qkdsim(_metadata);
	snprintf(dev, sizeof(dev), "qkdsim%u", self->pairs[0]);

	req(&m, QKDN_CMD_LINK_SET);
	put_u32(&m, QKDN_A_LINK_ID, 1);
	put_str(&m, QKDN_A_DEVICE, dev);
	ok_req(_metadata, &self->s, &m, "LINK_SET attaching the QKD module");

	req(&m, QKDN_CMD_LINK_NEW);
	put_u32(&m, QKDN_A_LINK_ID, 2);
	put_str(&m, QKDN_A_PEER_NODE_ID, "kme-3");
	o = put_str(&m, QKDN_A_DEVICE, dev);
	BAD(&m, "LINK_NEW with another link's QKD module", EBUSY,
	    "serves another link", o, 0);

	req(&m, QKDN_CMD_LINK_SET);
	put_u32(&m, QKDN_A_LINK_ID, 1);
	o = put_u64(&m, QKDN_A_RATE, 1000000000001ULL);
	BAD(&m, "LINK_SET RATE 10^12 + 1", ERANGE, "out of range", o, 0);
}

/*
 * A request the QKD module refuses (qkdsim: rates up to 10^10 bit/s) fails
 * as a whole: no link is created, nothing of the link changes.
 */
TEST_F(node, link_new_refused_by_module)
{
	char dev[32];
	struct msg m;

	self->pairs[0] = lone_qkdsim(_metadata);
	snprintf(dev, sizeof(dev), "qkdsim%u", self->pairs[0]);
	req(&m, QKDN_CMD_LINK_NEW);
	put_u32(&m, QKDN_A_LINK_ID, 2);
	put_str(&m, QKDN_A_PEER_NODE_ID, "kme-3");
	put_str(&m, QKDN_A_DEVICE, dev);
	put_u64(&m, QKDN_A_RATE, 20000000000ULL);
	BAD(&m, "LINK_NEW with a rate the QKD module refuses", EINVAL,
	    "refused", NO_OFFS, 0);
	base(&m, QKDN_CMD_LINK_GET, QKDN_A_LINK_ID);
	put_u32(&m, QKDN_A_LINK_ID, 2);
	BAD(&m, "LINK_GET of the link a failed LINK_NEW named", ENOENT,
	    "no such link", NO_OFFS, 0);
}

TEST_F(node, link_set_refused_by_module)
{
	char dev[32];
	struct msg m;

	self->pairs[0] = lone_qkdsim(_metadata);
	snprintf(dev, sizeof(dev), "qkdsim%u", self->pairs[0]);
	req(&m, QKDN_CMD_LINK_SET);
	put_u32(&m, QKDN_A_LINK_ID, 1);
	put_u32(&m, QKDN_A_POOL_CAPACITY, 65536);
	put_u32(&m, QKDN_A_POOL_LOW, 1024);
	put_str(&m, QKDN_A_DEVICE, dev);
	put_u64(&m, QKDN_A_RATE, 20000000000ULL);
	BAD(&m, "LINK_SET with a rate the QKD module refuses", EINVAL,
	    "refused", NO_OFFS, 0);
}

/* ====================================================================
 * pair.*: nodes kme-1 (index 0) and kme-2 (index 1), one qkdsim pair,
 * link 1 at kme-1 and link 7 at kme-2, Kx frames carried by a thread of
 * this program. SAEs:
 *	kme-1: sae-a (uid 1001); sae-b, sae-c at kme-2
 *	kme-2: sae-b (uid 1002), sae-c (uid 1003); sae-a, sae-e at kme-1
 * kme-1 < kme-2, so kme-1 allocates keys from even blocks, kme-2 from odd.
 * ==================================================================== */

#define LOG_MAX 4096

struct logged {
	int from;
	uint16_t len;
	uint8_t data[];
};

struct fwd {
	pthread_t th;
	bool started;
	struct nlc kx[2];	/* bound by node i's link daemon: its frames */
	struct nlc in[2];	/* hands frames to node i */
	uint32_t link[2];	/* the link's ID at node i */
	int stop, pause, dup;	/* atomic */
	int drop_reserve;	/* atomic: RESERVE frames of kme-1 to lose */
	pthread_mutex_t lock;
	unsigned long seen[2], passed[2], dropped[2], failed[2];
	unsigned long overruns;
	int fail_err;
	char fail_msg[256];
	uint64_t last_ms;	/* when the last frame was seen */
	unsigned int nlog;
	struct logged *log[LOG_MAX];
};

static void fwd_one(struct fwd *f, int from, const void *frame, uint16_t len,
		    struct msg *m, struct rep *r)
{
	struct logged *l = malloc(sizeof(*l) + len);
	int to = !from, times, t;

	pthread_mutex_lock(&f->lock);
	f->seen[from]++;
	f->last_ms = now_ms();
	if (l && f->nlog < LOG_MAX) {
		l->from = from;
		l->len = len;
		memcpy(l->data, frame, len);
		f->log[f->nlog++] = l;
		l = NULL;
	}
	pthread_mutex_unlock(&f->lock);
	free(l);

	if (__atomic_load_n(&f->pause, __ATOMIC_ACQUIRE) ||
	    (from == 0 && len > 1 && ((const uint8_t *)frame)[1] == KX_RESERVE &&
	     __atomic_load_n(&f->drop_reserve, __ATOMIC_ACQUIRE) > 0 &&
	     __atomic_sub_fetch(&f->drop_reserve, 1, __ATOMIC_ACQ_REL) >= 0)) {
		pthread_mutex_lock(&f->lock);
		f->dropped[from]++;
		pthread_mutex_unlock(&f->lock);
		return;
	}
	times = __atomic_load_n(&f->dup, __ATOMIC_ACQUIRE) ? 2 : 1;
	for (t = 0; t < times; t++) {
		req(m, QKDN_CMD_KX_FRAME);
		put_u32(m, QKDN_A_LINK_ID, f->link[to]);
		put(m, QKDN_A_KX_FRAME, len, frame);
		nlc_txrx(&f->in[to], m->nlh, r);
		pthread_mutex_lock(&f->lock);
		if (r->err) {
			f->failed[from]++;
			f->fail_err = r->err;
			snprintf(f->fail_msg, sizeof(f->fail_msg), "%s", r->msg);
		} else {
			f->passed[from]++;
		}
		pthread_mutex_unlock(&f->lock);
	}
}

static void *fwd_main(void *arg)
{
	struct fwd *f = arg;
	struct msg *m = malloc(sizeof(*m));
	char *buf = malloc(RX_MAX);
	struct rep *r = rep_new();

	if (!m || !buf || !r) {
		pthread_mutex_lock(&f->lock);
		f->failed[0]++;
		f->fail_err = ENOMEM;
		pthread_mutex_unlock(&f->lock);
		goto out;
	}
	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p[2];
		int i;

		for (i = 0; i < 2; i++) {
			p[i].fd = mnl_socket_get_fd(f->kx[i].nl);
			p[i].events = POLLIN;
			p[i].revents = 0;
		}
		if (poll(p, 2, 20) <= 0)
			continue;
		for (i = 0; i < 2; i++) {
			const struct nlmsghdr *nlh;
			ssize_t n;
			int len;

			if (!p[i].revents)
				continue;
			n = recv(p[i].fd, buf, RX_MAX, MSG_DONTWAIT);
			if (n < 0) {
				if (errno == ENOBUFS) {
					pthread_mutex_lock(&f->lock);
					f->overruns++;
					pthread_mutex_unlock(&f->lock);
				}
				continue;
			}
			len = n;
			for (nlh = (const struct nlmsghdr *)buf;
			     mnl_nlmsg_ok(nlh, len);
			     nlh = mnl_nlmsg_next(nlh, &len)) {
				const struct genlmsghdr *g;
				const struct nlattr *a;

				if (nlh->nlmsg_type != qkdn_family)
					continue;
				g = mnl_nlmsg_get_payload(nlh);
				if (g->cmd != QKDN_CMD_KX_FRAME)
					continue;
				a = attr_find(nlh, QKDN_A_KX_FRAME);
				if (a)
					fwd_one(f, i, mnl_attr_get_payload(a),
						mnl_attr_get_payload_len(a), m, r);
			}
		}
	}
out:
	rep_free(r);
	free(buf);
	free(m);
	return NULL;
}

static void fwd_set(int *flag, int v)
{
	__atomic_store_n(flag, v, __ATOMIC_RELEASE);
}

/* Waits until no frame has passed for quiet_ms. */
static bool fwd_quiet(struct fwd *f, uint64_t quiet_ms)
{
	uint64_t deadline = now_ms() + 20000;

	while (now_ms() < deadline) {
		uint64_t last;

		pthread_mutex_lock(&f->lock);
		last = f->last_ms;
		pthread_mutex_unlock(&f->lock);
		if (now_ms() - last >= quiet_ms)
			return true;
		usleep(20000);
	}
	return false;
}

FIXTURE(pair) {
	int ns[2];
	struct nlc c[2];
	uint32_t pair;
	uint64_t seed;
	uint64_t used[2];	/* bytes of node i's own stream handed out */
	uint32_t blocks;	/* blocks the pair produced */
	bool no_model;		/* the streams are no longer 2, 4, ... / 1, 3, ... */
	struct fwd f;
};

static const char *const node_ids[2] = { "kme-1", "kme-2" };
static const uint32_t link_ids[2] = { 1, 7 };

FIXTURE_SETUP(pair)
{
	char dev[32], v[32];
	int i, err;

	self->ns[0] = self->ns[1] = -1;
	pthread_mutex_init(&self->f.lock, NULL);
	if (access(QKDSIM "/new_device", W_OK))
		SKIP(_exit(255), "qkdsim is not loaded");
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, unshare(CLONE_NEWNET));
		self->ns[i] = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, self->ns[i]);
		ASSERT_EQ(0, nlc_open(&self->c[i]));
	}
	err = resolve_family(&self->c[0]);
	if (err == -ENOENT)
		SKIP(_exit(255), "the qkdn family is not registered");
	ASSERT_EQ(0, err);

	self->pair = qkdsim_pick();
	ASSERT_NE(0U, self->pair);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, setns(self->ns[i], CLONE_NEWNET));
		ASSERT_EQ(0, qkdsim_new(self->pair));
	}
	self->seed = 0x5eed000000000000ULL + self->pair;
	snprintf(v, sizeof(v), "%" PRIu64, self->seed);
	ASSERT_EQ(0, qkdsim_knob(self->pair, "seed", v));
	snprintf(dev, sizeof(dev), "qkdsim%u", self->pair);

	for (i = 0; i < 2; i++) {
		set_node(_metadata, &self->c[i], node_ids[i]);
		new_link(_metadata, &self->c[i], link_ids[i], node_ids[!i],
			 dev);
	}
	new_sae(_metadata, &self->c[0], "sae-a", UID_A, NULL);
	new_sae(_metadata, &self->c[0], "sae-b", 0, "kme-2");
	new_sae(_metadata, &self->c[0], "sae-c", 0, "kme-2");
	new_sae(_metadata, &self->c[1], "sae-b", UID_B, NULL);
	new_sae(_metadata, &self->c[1], "sae-c", UID_C, NULL);
	new_sae(_metadata, &self->c[1], "sae-a", 0, "kme-1");
	new_sae(_metadata, &self->c[1], "sae-e", 0, "kme-1");

	/* This program is the link daemon of both nodes. */
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, setns(self->ns[i], CLONE_NEWNET));
		ASSERT_EQ(0, nlc_open(&self->f.kx[i]));
		ASSERT_EQ(0, nlc_open(&self->f.in[i]));
		kx_bind(_metadata, &self->f.kx[i]);
		self->f.link[i] = link_ids[i];
	}
	self->f.last_ms = now_ms();
	ASSERT_EQ(0, pthread_create(&self->f.th, NULL, fwd_main, &self->f));
	self->f.started = true;
	for (i = 0; i < 2; i++)
		kx_channel(_metadata, &self->c[i], link_ids[i], 1);
}

FIXTURE_TEARDOWN(pair)
{
	unsigned int i;

	if (self->f.started) {
		fwd_set(&self->f.stop, 1);
		pthread_join(self->f.th, NULL);
	}
	if (self->pair)
		qkdsim_del(self->pair);
	for (i = 0; i < 2; i++) {
		nlc_close(&self->f.kx[i]);
		nlc_close(&self->f.in[i]);
		nlc_close(&self->c[i]);
		if (self->ns[i] >= 0)
			close(self->ns[i]);
	}
	for (i = 0; i < self->f.nlog; i++)
		free(self->f.log[i]);
}

/* The pools must show every block produced, less the keys handed out. */
static void wait_pools(struct __test_metadata *_metadata,
		       FIXTURE_DATA(pair) *self)
{
	uint64_t even = (uint64_t)(self->blocks / 2) * BLOCK_SIZE;
	uint64_t odd = (uint64_t)((self->blocks + 1) / 2) * BLOCK_SIZE;
	uint64_t deadline = now_ms() + 30000;
	struct pool p0 = { 0 }, p1 = { 0 };

	for (;;) {
		bool ok0 = pool_get(&self->c[0], link_ids[0], NULL, &p0);
		bool ok1 = pool_get(&self->c[1], link_ids[1], NULL, &p1);

		if (ok0 && ok1 &&
		    p0.own == even - self->used[0] &&
		    p1.peer == even - self->used[0] &&
		    p1.own == odd - self->used[1] &&
		    p0.peer == odd - self->used[1] &&
		    !p0.pending && !p1.pending)
			return;
		if (now_ms() > deadline)
			break;
		usleep(20000);
	}
	ASSERT_TRUE(false)
		TH_LOG("pools after %u blocks: kme-1 own %" PRIu64 " peer %" PRIu64
		       " pending %" PRIu64 ", kme-2 own %" PRIu64 " peer %" PRIu64
		       " pending %" PRIu64 "; expected own/peer %" PRIu64 "/%" PRIu64,
		       self->blocks, p0.own, p0.peer, p0.pending, p1.own,
		       p1.peer, p1.pending, even - self->used[0],
		       odd - self->used[1]);
}

static void fill(struct __test_metadata *_metadata, FIXTURE_DATA(pair) *self,
		 uint32_t blocks)
{
	char v[16];

	snprintf(v, sizeof(v), "%u", blocks);
	ASSERT_EQ(0, qkdsim_knob(self->pair, "burst", v));
	self->blocks += blocks;
	wait_pools(_metadata, self);
}

static void key_get(struct __test_metadata *_metadata,
		    FIXTURE_DATA(pair) *self, int node, uid_t uid,
		    const char *master, const char *slave, uint32_t number,
		    uint32_t bits, struct rep *r)
{
	const struct cred c = { .uid = uid };
	struct msg m;

	req(&m, QKDN_CMD_KEY_GET);
	put_str(&m, QKDN_A_MASTER_SAE_ID, master);
	put_str(&m, QKDN_A_SLAVE_SAE_ID, slave);
	if (number)
		put_u32(&m, QKDN_A_KEY_NUMBER, number);
	if (bits)
		put_u32(&m, QKDN_A_KEY_SIZE, bits);
	run_as(_metadata, self->ns[node], &c, m.nlh, r);
}

static void by_id_msg(struct msg *m, const char *master, const char *slave,
		      const struct keyset *k)
{
	uint32_t i;

	req(m, QKDN_CMD_KEY_GET_BY_ID);
	put_str(m, QKDN_A_MASTER_SAE_ID, master);
	put_str(m, QKDN_A_SLAVE_SAE_ID, slave);
	for (i = 0; i < k->n; i++)
		put_key_id(m, k->id[i]);
}

static void key_get_by_id(struct __test_metadata *_metadata,
			  FIXTURE_DATA(pair) *self, int node, uid_t uid,
			  const char *master, const char *slave,
			  const struct keyset *k, struct rep *r)
{
	const struct cred c = { .uid = uid };
	struct msg m;

	by_id_msg(&m, master, slave, k);
	run_as(_metadata, self->ns[node], &c, m.nlh, r);
}

/* Node `node` handed out k: its keys are the next bytes of its stream. */
static void expect_model(struct __test_metadata *_metadata,
			 FIXTURE_DATA(pair) *self, int node,
			 const struct keyset *k)
{
	uint8_t want[KEY_MAX_BYTES];
	uint32_t i, j;

	for (i = 0; i < k->n && !self->no_model; i++) {
		model(self->seed, node == 0, self->used[node], k->len[i], want);
		if (memcmp(want, k->data[i], k->len[i])) {
			for (j = 0; j < k->len[i] && want[j] == k->data[i][j];)
				j++;
			EXPECT_TRUE(false)
				TH_LOG("%s key %u of %u: byte %u is 0x%02x, the qkdsim stream at offset %" PRIu64 " has 0x%02x",
				       node_ids[node], i, k->n, j,
				       k->data[i][j], self->used[node] + j,
				       want[j]);
		}
		self->used[node] += k->len[i];
	}
}

static void expect_same_keys(struct __test_metadata *_metadata,
			     const struct keyset *a, const struct keyset *b)
{
	uint32_t i;

	ASSERT_EQ(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		EXPECT_EQ(0, memcmp(a->id[i], b->id[i], QKDN_KEY_ID_LEN))
			TH_LOG("key %u: IDs differ", i);
		EXPECT_EQ(a->len[i], b->len[i]);
		if (a->len[i] == b->len[i])
			EXPECT_EQ(0, memcmp(a->data[i], b->data[i], a->len[i]))
				TH_LOG("key %u: the two ends hold different bytes",
				       i);
	}
}

/*
 * "Key request" at node `from` by its local SAE, "key request with ID" at
 * the other node by the slave SAE: the same keys, the simulator's bytes.
 */
static void roundtrip(struct __test_metadata *_metadata,
		      FIXTURE_DATA(pair) *self, int from, uint32_t number,
		      uint32_t bits, struct keyset *k)
{
	const char *master = from ? "sae-b" : "sae-a";
	const char *slave = from ? "sae-a" : "sae-b";
	uid_t mu = from ? UID_B : UID_A, su = from ? UID_A : UID_B;
	uint32_t want_n = number ? number : 1;
	uint32_t want_len = (bits ? bits : QKDN_KEY_SIZE_DEFAULT) / 8;
	struct keyset *k2 = malloc(sizeof(*k2));
	struct rep *r = rep_new();
	uint32_t i, j;

	ASSERT_TRUE(k2 && r);
	key_get(_metadata, self, from, mu, master, slave, number, bits, r);
	ASSERT_EQ(0, r->err)
		TH_LOG("KEY_GET %u x %u bits at %s: %s (%s)", want_n,
		       want_len * 8, node_ids[from], errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, k)) TH_LOG("malformed KEY_GET reply");
	ASSERT_EQ(want_n, k->n);
	for (i = 0; i < k->n; i++) {
		ASSERT_EQ(want_len, k->len[i]);
		for (j = 0; j < i; j++)
			ASSERT_NE(0, memcmp(k->id[i], k->id[j],
					    QKDN_KEY_ID_LEN))
				TH_LOG("keys %u and %u have the same ID", j, i);
	}
	expect_model(_metadata, self, from, k);

	key_get_by_id(_metadata, self, !from, su, master, slave, k, r);
	ASSERT_EQ(0, r->err)
		TH_LOG("KEY_GET_BY_ID of %u keys at %s: %s (%s)", k->n,
		       node_ids[!from], errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, k2)) TH_LOG("malformed KEY_GET_BY_ID reply");
	expect_same_keys(_metadata, k, k2);
	rep_free(r);
	free(k2);
}

static void expect_fwd_clean(struct __test_metadata *_metadata,
			     FIXTURE_DATA(pair) *self)
{
	pthread_mutex_lock(&self->f.lock);
	EXPECT_EQ(0UL, self->f.failed[0] + self->f.failed[1])
		TH_LOG("a kernel refused its peer's frame: %s (%s)",
		       errname(self->f.fail_err), self->f.fail_msg);
	pthread_mutex_unlock(&self->f.lock);
}

TEST_F_TIMEOUT(pair, key_roundtrip, 120)
{
	struct keyset *k = malloc(sizeof(*k));
	struct rep *r = rep_new();
	struct pool p;
	uint64_t t0, t;

	ASSERT_TRUE(k && r);
	fill(_metadata, self, 8);
	/* Defaults: one key of QKDN_KEY_SIZE_DEFAULT bits. */
	roundtrip(_metadata, self, 0, 0, 0, k);
	roundtrip(_metadata, self, 0, 3, 512, k);
	roundtrip(_metadata, self, 1, 2, 256, k);

	/* Supplied once: gone from the store. */
	t0 = now_ms();
	key_get_by_id(_metadata, self, 0, UID_A, "sae-b", "sae-a", k, r);
	t = now_ms() - t0;
	check_err(_metadata, "second KEY_GET_BY_ID of the same keys", r,
		  ENOENT, "unknown or already supplied", NO_OFFS, 0);
	EXPECT_TRUE(t >= 1900) TH_LOG("answered after %" PRIu64 " ms", t);
	ASSERT_TRUE(pool_get(&self->c[1], link_ids[1], NULL, &p));
	EXPECT_EQ(0U, p.reserved);
	ASSERT_TRUE(pool_get(&self->c[0], link_ids[0], NULL, &p));
	EXPECT_EQ(0U, p.reserved);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	wait_pools(_metadata, self);
	EXPECT_EQ(4U, link_stat(&self->c[0], link_ids[0],
				QKDN_A_STATS_KEYS_RESERVED));
	EXPECT_EQ(2U, link_stat(&self->c[1], link_ids[1],
				QKDN_A_STATS_KEYS_RESERVED));
	EXPECT_EQ(4U, link_stat(&self->c[1], link_ids[1],
				QKDN_A_STATS_KEYS_RECEIVED));
	EXPECT_EQ(2U, link_stat(&self->c[0], link_ids[0],
				QKDN_A_STATS_KEYS_RECEIVED));
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(k);
}

TEST_F_TIMEOUT(pair, sizes_and_counts, 300)
{
	static const uint32_t sizes[] = { 64, 72, 256, 1024, 4096, 8192 };
	static const uint32_t counts[] = { 1, 3, 128 };
	struct keyset *k = malloc(sizeof(*k));
	unsigned int i, j;

	ASSERT_TRUE(k != NULL);
	fill(_metadata, self, 120);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (j = 0; j < sizeof(counts) / sizeof(counts[0]); j++)
			roundtrip(_metadata, self, 0, counts[j], sizes[i], k);
	/* The other direction, odd blocks. */
	roundtrip(_metadata, self, 1, 128, 8192, k);
	roundtrip(_metadata, self, 1, 7, 64, k);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	wait_pools(_metadata, self);
	expect_fwd_clean(_metadata, self);
	free(k);
}

TEST_F_TIMEOUT(pair, pool_empty, 120)
{
	struct keyset *k = malloc(sizeof(*k));
	uint64_t reserved;
	struct snap *a[2], *b[2];
	struct rep *r = rep_new();
	struct msg m;
	int i;

	ASSERT_TRUE(k && r);
	fill(_metadata, self, 16);	/* kme-1 owns 8 blocks: 32768 bytes */
	roundtrip(_metadata, self, 0, 128, 2048, k);
	wait_pools(_metadata, self);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));

	/* Nothing left: the smallest request fails and takes nothing. */
	for (i = 0; i < 2; i++) {
		a[i] = malloc(sizeof(struct snap));
		b[i] = malloc(sizeof(struct snap));
		ASSERT_TRUE(a[i] && b[i]);
		ASSERT_TRUE(take_snap(&self->c[i], a[i], false));
	}
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 1, 64, r);
	check_err(_metadata, "KEY_GET of 64 bits from an empty pool", r,
		  ENOSPC, "not enough key", NO_OFFS, 0);
	usleep(100000);
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(take_snap(&self->c[i], b[i], false));
		EXPECT_EQ(SIZE_MAX, snap_diff(a[i], b[i]))
			TH_LOG("a failed KEY_GET changed %s", node_ids[i]);
	}

	/* 4096 bytes left: 5 x 1024 bytes are too many, 4 fit exactly. */
	fill(_metadata, self, 2);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	for (i = 0; i < 2; i++)
		ASSERT_TRUE(take_snap(&self->c[i], a[i], false));
	reserved = link_stat(&self->c[0], link_ids[0],
			     QKDN_A_STATS_KEYS_RESERVED);
	req(&m, QKDN_CMD_KEY_GET);
	put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-a");
	put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-b");
	put_u32(&m, QKDN_A_KEY_NUMBER, 5);
	put_u32(&m, QKDN_A_KEY_SIZE, 8192);
	bad(_metadata, &self->c[0], self->ns[0], &cred_a, &m,
	    "KEY_GET of 5 x 8192 bits with 4096 bytes in the pool", ENOSPC,
	    "not enough key", NO_OFFS, 0, F_NOSTATS);
	usleep(100000);
	ASSERT_TRUE(take_snap(&self->c[1], b[1], false));
	EXPECT_EQ(SIZE_MAX, snap_diff(a[1], b[1]))
		TH_LOG("a failed KEY_GET changed the peer");
	EXPECT_EQ(reserved, link_stat(&self->c[0], link_ids[0],
				      QKDN_A_STATS_KEYS_RESERVED));
	roundtrip(_metadata, self, 0, 4, 8192, k);
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 1, 64, r);
	check_err(_metadata, "KEY_GET after the pool ran dry", r, ENOSPC,
		  "not enough key", NO_OFFS, 0);
	expect_fwd_clean(_metadata, self);
	for (i = 0; i < 2; i++) {
		free(a[i]);
		free(b[i]);
	}
	rep_free(r);
	free(k);
}

TEST_F_TIMEOUT(pair, pool_status, 60)
{
	struct pool p0, p1;

	fill(_metadata, self, 10);
	ASSERT_TRUE(pool_get(&self->c[0], 0, "sae-b", &p0));
	ASSERT_TRUE(pool_get(&self->c[1], 0, "sae-a", &p1));
	EXPECT_EQ(5U * BLOCK_SIZE, p0.own);
	EXPECT_EQ(p0.own, p1.peer);
	EXPECT_EQ(p1.own, p0.peer);
	EXPECT_EQ((uint32_t)QKDN_KEY_SIZE_DEFAULT, p0.key_size);
	EXPECT_EQ((uint32_t)(p0.own / (QKDN_KEY_SIZE_DEFAULT / 8)), p0.stored);
	EXPECT_EQ((uint32_t)QKDN_KEYS_PER_REQUEST, p0.max_per_request);
	EXPECT_EQ((uint32_t)QKDN_KEY_SIZE_MAX, p0.max_size);
	EXPECT_EQ((uint32_t)QKDN_KEY_SIZE_MIN, p0.min_size);
	EXPECT_EQ(p0.capacity / 2 / (QKDN_KEY_SIZE_DEFAULT / 8), p0.max_count);
	EXPECT_EQ(0U, p0.reserved);
}

/* Keys reserved for (sae-a, sae-b) are for that pair only. */
TEST_F_TIMEOUT(pair, wrong_sae_pair, 120)
{
	struct keyset *k = malloc(sizeof(*k)), *k2 = malloc(sizeof(*k2));
	struct rep *r = rep_new();
	uint64_t deadline;
	struct msg m;
	struct pool p;

	ASSERT_TRUE(k && k2 && r);
	fill(_metadata, self, 8);
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 2, 256, r);
	ASSERT_EQ(0, r->err);
	ASSERT_TRUE(keys_parse(r, k));
	expect_model(_metadata, self, 0, k);
	deadline = now_ms() + 10000;
	do {
		ASSERT_TRUE(pool_get(&self->c[1], link_ids[1], NULL, &p));
		if (p.reserved == 2)
			break;
		usleep(20000);
	} while (now_ms() < deadline);
	ASSERT_EQ(2U, p.reserved);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));

	by_id_msg(&m, "sae-a", "sae-c", k);
	bad(_metadata, &self->c[1], self->ns[1], &cred_c, &m,
	    "KEY_GET_BY_ID by sae-c of keys for sae-b", EACCES,
	    "another SAE pair", NO_OFFS, 0, F_NOSTATS);
	by_id_msg(&m, "sae-e", "sae-b", k);
	bad(_metadata, &self->c[1], self->ns[1], &cred_b, &m,
	    "KEY_GET_BY_ID naming master sae-e for keys of sae-a", EACCES,
	    "another SAE pair", NO_OFFS, 0, F_NOSTATS);
	by_id_msg(&m, "sae-a", "sae-b", k);
	bad(_metadata, &self->c[1], self->ns[1], &cred_a, &m,
	    "KEY_GET_BY_ID by uid 1001 as sae-b", EACCES,
	    "may not act as the slave", NO_OFFS, 0, F_NOSTATS);
	bad(_metadata, &self->c[1], self->ns[1], &cred_root, &m,
	    "KEY_GET_BY_ID by root as sae-b", EACCES,
	    "may not act as the slave", NO_OFFS, 0, F_NOSTATS);
	bad(_metadata, &self->c[1], self->ns[1], &cred_c, &m,
	    "KEY_GET_BY_ID by uid 1003 as sae-b", EACCES,
	    "may not act as the slave", NO_OFFS, 0, F_NOSTATS);

	/* Still there for the right pair, once. */
	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", k, r);
	ASSERT_EQ(0, r->err) TH_LOG("%s (%s)", errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, k2));
	expect_same_keys(_metadata, k, k2);
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(k);
	free(k2);
}

/*
 * The Kx channel loses frames: the slave's request waits, then fails; once
 * the channel is back the reservation is retransmitted and arrives once.
 */
TEST_F_TIMEOUT(pair, lost_frames_retransmitted, 120)
{
	struct keyset *k = malloc(sizeof(*k)), *k2 = malloc(sizeof(*k2));
	struct rep *r = rep_new();
	uint64_t received, t0, t;
	struct pool p;
	int i;

	ASSERT_TRUE(k && k2 && r);
	fill(_metadata, self, 8);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	received = link_stat(&self->c[1], link_ids[1],
			     QKDN_A_STATS_KEYS_RECEIVED);

	fwd_set(&self->f.pause, 1);
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 4, 256, r);
	ASSERT_EQ(0, r->err) TH_LOG("KEY_GET while Kx is down: %s (%s)",
				    errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, k));
	expect_model(_metadata, self, 0, k);

	t0 = now_ms();
	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", k, r);
	t = now_ms() - t0;
	check_err(_metadata, "KEY_GET_BY_ID before the reservation arrived",
		  r, ENOENT, "unknown or already supplied", NO_OFFS, 0);
	EXPECT_TRUE(t >= 1900 && t < 6000)
		TH_LOG("answered after %" PRIu64 " ms, expected about 2000", t);
	ASSERT_TRUE(pool_get(&self->c[1], link_ids[1], NULL, &p));
	EXPECT_EQ(0U, p.reserved);
	pthread_mutex_lock(&self->f.lock);
	EXPECT_LT(0UL, self->f.dropped[0]) TH_LOG("no frame was lost");
	pthread_mutex_unlock(&self->f.lock);

	/* The daemon reconnects: channel down, forwarding again, up. */
	for (i = 0; i < 2; i++)
		kx_channel(_metadata, &self->c[i], link_ids[i], 0);
	fwd_set(&self->f.pause, 0);
	for (i = 0; i < 2; i++)
		kx_channel(_metadata, &self->c[i], link_ids[i], 1);

	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", k, r);
	ASSERT_EQ(0, r->err) TH_LOG("KEY_GET_BY_ID after retransmission: %s (%s)",
				    errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, k2));
	expect_same_keys(_metadata, k, k2);
	ASSERT_TRUE(fwd_quiet(&self->f, 700));
	EXPECT_EQ(received + 4, link_stat(&self->c[1], link_ids[1],
					  QKDN_A_STATS_KEYS_RECEIVED))
		TH_LOG("the reservation was not received exactly once");
	ASSERT_TRUE(pool_get(&self->c[1], link_ids[1], NULL, &p));
	EXPECT_EQ(0U, p.reserved);
	wait_pools(_metadata, self);

	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", k, r);
	check_err(_metadata, "KEY_GET_BY_ID after the keys were supplied", r,
		  ENOENT, "unknown or already supplied", NO_OFFS, 0);

	/* And the link works on as before. */
	roundtrip(_metadata, self, 0, 2, 128, k);
	roundtrip(_metadata, self, 1, 2, 128, k);
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(k);
	free(k2);
}

/*
 * With the Kx channel down the master's node still answers key requests
 * and queues the reservations, up to a limit; then EBUSY, taking nothing.
 * Back up, every queued reservation reaches the peer.
 */
TEST_F_TIMEOUT(pair, unacked_reservations_limit, 300)
{
	const unsigned int most = 8192;
	struct keyset *k = malloc(sizeof(*k));
	struct rep *r = rep_new();
	uint64_t deadline;
	unsigned int queued;
	struct pool p;
	struct msg m;

	ASSERT_TRUE(k && r);
	fill(_metadata, self, 34);	/* kme-1 owns 17 blocks: 69632 bytes */
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	kx_channel(_metadata, &self->c[0], link_ids[0], 0);

	req(&m, QKDN_CMD_KEY_GET);
	put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-a");
	put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-b");
	put_u32(&m, QKDN_A_KEY_SIZE, 64);
	run_as_n(_metadata, self->ns[0], &cred_a, m.nlh, r, most);
	queued = r->done;
	self->used[0] += queued * 8ULL;
	ASSERT_LT(queued, most) TH_LOG("%u reservations queued, no limit", most);
	ASSERT_LT(0U, queued);
	check_err(_metadata, "KEY_GET with the queue of reservations full", r,
		  EBUSY, "not yet acknowledged", NO_OFFS, 0);
	TH_LOG("%u reservations queued while Kx was down", queued);
	bad(_metadata, &self->c[0], self->ns[0], &cred_a, &m,
	    "KEY_GET with the queue of reservations full", EBUSY,
	    "not yet acknowledged", NO_OFFS, 0, F_NOSTATS);

	kx_channel(_metadata, &self->c[0], link_ids[0], 1);
	deadline = now_ms() + 120000;
	do {
		ASSERT_TRUE(pool_get(&self->c[1], link_ids[1], NULL, &p));
		if (p.reserved >= queued)
			break;
		usleep(50000);
	} while (now_ms() < deadline);
	EXPECT_EQ(queued, p.reserved);
	ASSERT_TRUE(fwd_quiet(&self->f, 700));
	wait_pools(_metadata, self);
	EXPECT_EQ(queued, link_stat(&self->c[1], link_ids[1],
				    QKDN_A_STATS_KEYS_RECEIVED));
	roundtrip(_metadata, self, 0, 2, 64, k);
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(k);
}

static bool wait_reserved(struct nlc *s, uint32_t link, uint32_t n)
{
	uint64_t deadline = now_ms() + 20000;
	struct pool p;

	do {
		if (pool_get(s, link, NULL, &p) && p.reserved == n)
			return true;
		usleep(20000);
	} while (now_ms() < deadline);
	return false;
}

/* "Key request with ID": all the keys or none, in request order. */
TEST_F_TIMEOUT(pair, by_id_all_or_none, 120)
{
	struct keyset *k = malloc(sizeof(*k)), *ask = malloc(sizeof(*ask));
	struct keyset *got = malloc(sizeof(*got));
	struct rep *r = rep_new();
	uint64_t t0, t;
	uint32_t i;

	ASSERT_TRUE(k && ask && got && r);
	fill(_metadata, self, 8);
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 3, 256, r);
	ASSERT_EQ(0, r->err);
	ASSERT_TRUE(keys_parse(r, k));
	expect_model(_metadata, self, 0, k);
	ASSERT_TRUE(wait_reserved(&self->c[1], link_ids[1], 3));

	memcpy(ask, k, sizeof(*ask));
	ask->id[1][0] ^= 0xff;
	t0 = now_ms();
	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", ask, r);
	t = now_ms() - t0;
	check_err(_metadata, "KEY_GET_BY_ID of two known keys and an unknown one",
		  r, ENOENT, "unknown or already supplied", NO_OFFS, 0);
	EXPECT_TRUE(t >= 1900) TH_LOG("answered after %" PRIu64 " ms", t);
	EXPECT_TRUE(wait_reserved(&self->c[1], link_ids[1], 3))
		TH_LOG("a failed request took some of the keys");

	/* In the order asked for. */
	ask->n = 3;
	for (i = 0; i < 3; i++) {
		memcpy(ask->id[i], k->id[2 - i], QKDN_KEY_ID_LEN);
		memcpy(ask->data[i], k->data[2 - i], k->len[2 - i]);
		ask->len[i] = k->len[2 - i];
	}
	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", ask, r);
	ASSERT_EQ(0, r->err) TH_LOG("%s (%s)", errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, got));
	expect_same_keys(_metadata, ask, got);
	EXPECT_TRUE(wait_reserved(&self->c[1], link_ids[1], 0));

	/* Keys of two reservations in one request. */
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 1, 64, r);
	ASSERT_TRUE(keys_parse(r, k));
	expect_model(_metadata, self, 0, k);
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 1, 8192, r);
	ASSERT_TRUE(keys_parse(r, ask));
	expect_model(_metadata, self, 0, ask);
	memcpy(k->id[1], ask->id[0], QKDN_KEY_ID_LEN);
	memcpy(k->data[1], ask->data[0], ask->len[0]);
	k->len[1] = ask->len[0];
	k->n = 2;
	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", k, r);
	ASSERT_EQ(0, r->err) TH_LOG("%s (%s)", errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, got));
	expect_same_keys(_metadata, k, got);
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(k);
	free(ask);
	free(got);
}

/* Two slave applications ask for the same keys at once: one gets them. */
TEST_F_TIMEOUT(pair, concurrent_by_id, 120)
{
	struct keyset *k = malloc(sizeof(*k)), *got = malloc(sizeof(*got));
	struct rep *r[2] = { rep_new(), rep_new() };
	pid_t pid[2];
	struct msg m;
	int i, st, winner;

	ASSERT_TRUE(k && got && r[0] && r[1]);
	fill(_metadata, self, 8);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	fwd_set(&self->f.pause, 1);
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 2, 256, r[0]);
	ASSERT_EQ(0, r[0]->err);
	ASSERT_TRUE(keys_parse(r[0], k));
	expect_model(_metadata, self, 0, k);

	by_id_msg(&m, "sae-a", "sae-b", k);
	for (i = 0; i < 2; i++) {
		pid[i] = spawn_as(self->ns[1], &cred_b, m.nlh, r[i], 1);
		ASSERT_LE(0, pid[i]);
	}
	usleep(300000);
	for (i = 0; i < 2; i++)
		kx_channel(_metadata, &self->c[i], link_ids[i], 0);
	fwd_set(&self->f.pause, 0);
	for (i = 0; i < 2; i++)
		kx_channel(_metadata, &self->c[i], link_ids[i], 1);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(pid[i], waitpid(pid[i], &st, 0));
		ASSERT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st));
	}
	EXPECT_TRUE((r[0]->err == 0) != (r[1]->err == 0))
		TH_LOG("the two requests got %s and %s", errname(r[0]->err),
		       errname(r[1]->err));
	winner = r[0]->err ? 1 : 0;
	check_err(_metadata, "the request that lost", r[!winner], ENOENT,
		  "unknown or already supplied", NO_OFFS, 0);
	ASSERT_TRUE(keys_parse(r[winner], got));
	expect_same_keys(_metadata, k, got);
	ASSERT_TRUE(fwd_quiet(&self->f, 700));
	EXPECT_EQ(2U, link_stat(&self->c[1], link_ids[1],
				QKDN_A_STATS_KEYS_RECEIVED));
	EXPECT_EQ(2U, link_stat(&self->c[1], link_ids[1],
				QKDN_A_STATS_KEYS_SUPPLIED));
	expect_fwd_clean(_metadata, self);
	rep_free(r[0]);
	rep_free(r[1]);
	free(k);
	free(got);
}

/*
 * One reservation lost on a channel that stays up: the next one arrives
 * out of order and is ignored; the sender's timer sends both again.
 */
TEST_F_TIMEOUT(pair, lost_frame_resent_by_timer, 120)
{
	struct keyset *ka = malloc(sizeof(*ka)), *kb = malloc(sizeof(*kb));
	struct keyset *got = malloc(sizeof(*got));
	struct rep *r = rep_new();
	uint64_t retx;

	ASSERT_TRUE(ka && kb && got && r);
	fill(_metadata, self, 8);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	retx = link_stat(&self->c[0], link_ids[0], QKDN_A_STATS_FRAMES_RETX);
	fwd_set(&self->f.drop_reserve, 1);
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 1, 256, r);
	ASSERT_TRUE(keys_parse(r, ka));
	expect_model(_metadata, self, 0, ka);
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 2, 128, r);
	ASSERT_TRUE(keys_parse(r, kb));
	expect_model(_metadata, self, 0, kb);

	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", kb, r);
	ASSERT_EQ(0, r->err) TH_LOG("the later reservation: %s (%s)",
				    errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, got));
	expect_same_keys(_metadata, kb, got);
	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", ka, r);
	ASSERT_EQ(0, r->err) TH_LOG("the lost reservation: %s (%s)",
				    errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, got));
	expect_same_keys(_metadata, ka, got);
	ASSERT_TRUE(fwd_quiet(&self->f, 700));
	EXPECT_LT(retx, link_stat(&self->c[0], link_ids[0],
				  QKDN_A_STATS_FRAMES_RETX));
	EXPECT_EQ(3U, link_stat(&self->c[1], link_ids[1],
				QKDN_A_STATS_KEYS_RECEIVED));
	wait_pools(_metadata, self);
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(ka);
	free(kb);
	free(got);
}

struct pools {
	uint64_t own0, peer0, pend0, own1, peer1, pend1;
};

static bool wait_pool_values(FIXTURE_DATA(pair) *self, const struct pools *w,
			     struct pools *got)
{
	uint64_t deadline = now_ms() + 20000;
	struct pool p0, p1;

	do {
		if (pool_get(&self->c[0], link_ids[0], NULL, &p0) &&
		    pool_get(&self->c[1], link_ids[1], NULL, &p1)) {
			got->own0 = p0.own;
			got->peer0 = p0.peer;
			got->pend0 = p0.pending;
			got->own1 = p1.own;
			got->peer1 = p1.peer;
			got->pend1 = p1.pending;
			if (!memcmp(w, got, sizeof(*w)))
				return true;
		}
		usleep(20000);
	} while (now_ms() < deadline);
	return false;
}

#define POOLS_FMT "own %" PRIu64 " peer %" PRIu64 " pending %" PRIu64 \
	" / own %" PRIu64 " peer %" PRIu64 " pending %" PRIu64
#define POOLS_ARGS(p) (p).own0, (p).peer0, (p).pend0, (p).own1, (p).peer1, \
	(p).pend1

/*
 * kme-1's pool is full after 4 blocks: it drops the others, the peer
 * keeps only the blocks both hold, and both ends still agree on every key.
 */
TEST_F_TIMEOUT(pair, pool_full_drops_blocks, 120)
{
	struct keyset *k = malloc(sizeof(*k)), *got = malloc(sizeof(*got));
	uint8_t want[BLOCK_SIZE];
	struct rep *r = rep_new();
	struct pools w, p;
	struct msg m;

	ASSERT_TRUE(k && got && r);
	req(&m, QKDN_CMD_LINK_SET);
	put_u32(&m, QKDN_A_LINK_ID, link_ids[0]);
	put_u32(&m, QKDN_A_POOL_CAPACITY, 4 * BLOCK_SIZE);
	ok_req(_metadata, &self->c[0], &m, "LINK_SET capacity 4 blocks");

	ASSERT_EQ(0, qkdsim_knob(self->pair, "burst", "10"));
	w = (struct pools){ 2 * BLOCK_SIZE, 2 * BLOCK_SIZE, 0,
			    2 * BLOCK_SIZE, 2 * BLOCK_SIZE, 6 * BLOCK_SIZE };
	ASSERT_TRUE(wait_pool_values(self, &w, &p))
		TH_LOG("pools " POOLS_FMT ", expected " POOLS_FMT,
		       POOLS_ARGS(p), POOLS_ARGS(w));
	EXPECT_EQ(6U, link_stat(&self->c[0], link_ids[0],
				QKDN_A_STATS_BLOCKS_DROPPED));
	EXPECT_EQ(4U, link_stat(&self->c[0], link_ids[0],
				QKDN_A_STATS_BLOCKS_IN));

	/* Blocks 2 and 4, all kme-1 may use. */
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 8, 8192, r);
	ASSERT_EQ(0, r->err) TH_LOG("%s (%s)", errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, k));
	expect_model(_metadata, self, 0, k);
	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", k, r);
	ASSERT_EQ(0, r->err) TH_LOG("%s (%s)", errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, got));
	expect_same_keys(_metadata, k, got);

	/* Room again: blocks 11 and 12 are held; 5 to 10 are given up. */
	ASSERT_EQ(0, qkdsim_knob(self->pair, "burst", "2"));
	w = (struct pools){ BLOCK_SIZE, 3 * BLOCK_SIZE, 0,
			    3 * BLOCK_SIZE, BLOCK_SIZE, 0 };
	ASSERT_TRUE(wait_pool_values(self, &w, &p))
		TH_LOG("pools " POOLS_FMT ", expected " POOLS_FMT,
		       POOLS_ARGS(p), POOLS_ARGS(w));
	EXPECT_EQ(6U, link_stat(&self->c[1], link_ids[1],
				QKDN_A_STATS_BLOCKS_DISCARDED));
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 4, 8192, r);
	ASSERT_EQ(0, r->err) TH_LOG("%s (%s)", errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, k));
	model(self->seed, true, 5 * BLOCK_SIZE, BLOCK_SIZE, want);
	EXPECT_EQ(0, memcmp(want, k->data[0], 1024) |
		     memcmp(want + 1024, k->data[1], 1024) |
		     memcmp(want + 2048, k->data[2], 1024) |
		     memcmp(want + 3072, k->data[3], 1024))
		TH_LOG("the keys are not block 12");
	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", k, r);
	ASSERT_EQ(0, r->err) TH_LOG("%s (%s)", errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, got));
	expect_same_keys(_metadata, k, got);
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(k);
	free(got);
}

/*
 * The link is deleted and added again at one end, as after a restart of
 * that node: once its channel is up, new blocks become usable at both ends
 * and keys flow again in both directions, the same at both ends.
 */
TEST_F_TIMEOUT(pair, link_recreated_at_one_end, 120)
{
	struct keyset *k = malloc(sizeof(*k));
	uint64_t deadline;
	struct pool p0 = { 0 }, p1 = { 0 };
	char dev[32];
	struct msg m;

	ASSERT_TRUE(k != NULL);
	fill(_metadata, self, 8);
	roundtrip(_metadata, self, 0, 2, 256, k);
	roundtrip(_metadata, self, 1, 2, 256, k);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));

	req(&m, QKDN_CMD_LINK_DEL);
	put_u32(&m, QKDN_A_LINK_ID, link_ids[1]);
	ok_req(_metadata, &self->c[1], &m, "LINK_DEL at kme-2");
	snprintf(dev, sizeof(dev), "qkdsim%u", self->pair);
	new_link(_metadata, &self->c[1], link_ids[1], node_ids[0], dev);
	kx_channel(_metadata, &self->c[1], link_ids[1], 1);
	self->no_model = true;

	ASSERT_EQ(0, qkdsim_knob(self->pair, "burst", "8"));
	deadline = now_ms() + 15000;
	do {
		ASSERT_TRUE(pool_get(&self->c[0], link_ids[0], NULL, &p0));
		ASSERT_TRUE(pool_get(&self->c[1], link_ids[1], NULL, &p1));
		if (p1.own && p1.peer && p0.own == p1.peer &&
		    p0.peer == p1.own)
			break;
		usleep(50000);
	} while (now_ms() < deadline);
	pthread_mutex_lock(&self->f.lock);
	EXPECT_EQ(0UL, self->f.failed[0] + self->f.failed[1])
		TH_LOG("a kernel refused its peer's frames %lu times: %s (%s)",
		       self->f.failed[0] + self->f.failed[1],
		       errname(self->f.fail_err), self->f.fail_msg);
	pthread_mutex_unlock(&self->f.lock);
	ASSERT_TRUE(p1.own && p1.peer && p0.own == p1.peer && p0.peer == p1.own)
		TH_LOG("pools 8 blocks after: kme-1 own %" PRIu64 " peer %" PRIu64
		       " pending %" PRIu64 ", kme-2 own %" PRIu64 " peer %" PRIu64
		       " pending %" PRIu64, p0.own, p0.peer, p0.pending,
		       p1.own, p1.peer, p1.pending);
	roundtrip(_metadata, self, 0, 1, 256, k);
	roundtrip(_metadata, self, 1, 1, 256, k);
	free(k);
}

/* Every frame delivered twice: nothing happens twice. */
TEST_F_TIMEOUT(pair, duplicate_frames, 120)
{
	unsigned long seen0, seen1, passed0, passed1;
	struct keyset *k = malloc(sizeof(*k));
	struct rep *r = rep_new();
	struct pool p;

	ASSERT_TRUE(k && r);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	pthread_mutex_lock(&self->f.lock);
	seen0 = self->f.seen[0];
	seen1 = self->f.seen[1];
	passed0 = self->f.passed[0];
	passed1 = self->f.passed[1];
	pthread_mutex_unlock(&self->f.lock);
	fwd_set(&self->f.dup, 1);
	fill(_metadata, self, 12);
	roundtrip(_metadata, self, 0, 3, 256, k);
	roundtrip(_metadata, self, 1, 5, 1024, k);
	fill(_metadata, self, 6);
	roundtrip(_metadata, self, 0, 1, 8192, k);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	wait_pools(_metadata, self);

	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", k, r);
	check_err(_metadata, "KEY_GET_BY_ID of keys already supplied", r,
		  ENOENT, "unknown or already supplied", NO_OFFS, 0);
	EXPECT_EQ(4U, link_stat(&self->c[1], link_ids[1],
				QKDN_A_STATS_KEYS_RECEIVED));
	EXPECT_EQ(5U, link_stat(&self->c[0], link_ids[0],
				QKDN_A_STATS_KEYS_RECEIVED));
	ASSERT_TRUE(pool_get(&self->c[1], link_ids[1], NULL, &p));
	EXPECT_EQ(0U, p.reserved);
	pthread_mutex_lock(&self->f.lock);
	EXPECT_EQ(2 * (self->f.seen[0] - seen0), self->f.passed[0] - passed0);
	EXPECT_EQ(2 * (self->f.seen[1] - seen1), self->f.passed[1] - passed1);
	pthread_mutex_unlock(&self->f.lock);
	fwd_set(&self->f.dup, 0);
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(k);
}

/* Every frame seen so far, replayed later: accepted, ignored. */
TEST_F_TIMEOUT(pair, replayed_frames, 120)
{
	struct keyset *k = malloc(sizeof(*k)), *k2 = malloc(sizeof(*k2));
	struct snap *a[2], *b[2];
	struct rep *r = rep_new();
	uint64_t recv0, recv1;
	unsigned int n, i;
	struct msg m;
	struct kxf *f = malloc(sizeof(*f));

	ASSERT_TRUE(k && k2 && r && f);
	fill(_metadata, self, 8);
	roundtrip(_metadata, self, 0, 2, 256, k);
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 2, 256, r);
	ASSERT_EQ(0, r->err);
	ASSERT_TRUE(keys_parse(r, k));
	expect_model(_metadata, self, 0, k);
	ASSERT_TRUE(fwd_quiet(&self->f, 700));
	wait_pools(_metadata, self);
	recv0 = link_stat(&self->c[0], link_ids[0], QKDN_A_STATS_KEYS_RECEIVED);
	recv1 = link_stat(&self->c[1], link_ids[1], QKDN_A_STATS_KEYS_RECEIVED);
	for (i = 0; i < 2; i++) {
		a[i] = malloc(sizeof(struct snap));
		b[i] = malloc(sizeof(struct snap));
		ASSERT_TRUE(a[i] && b[i]);
		ASSERT_TRUE(take_snap(&self->c[i], a[i], false));
	}

	pthread_mutex_lock(&self->f.lock);
	n = self->f.nlog;
	pthread_mutex_unlock(&self->f.lock);
	ASSERT_LT(0U, n);
	for (i = 0; i < n; i++) {
		const struct logged *l = self->f.log[i];
		int to = !l->from;

		f->len = l->len;
		memcpy(f->b, l->data, l->len);
		frame_req(&m, link_ids[to], f);
		nlc_txrx(&self->c[to], m.nlh, r);
		EXPECT_EQ(0, r->err)
			TH_LOG("replayed frame %u (type %u) to %s: %s (%s)", i,
			       l->data[1], node_ids[to], errname(r->err),
			       r->msg);
	}
	ASSERT_TRUE(fwd_quiet(&self->f, 700));
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(take_snap(&self->c[i], b[i], false));
		EXPECT_EQ(SIZE_MAX, snap_diff(a[i], b[i]))
			TH_LOG("replayed frames changed %s", node_ids[i]);
	}
	EXPECT_EQ(recv0, link_stat(&self->c[0], link_ids[0],
				   QKDN_A_STATS_KEYS_RECEIVED));
	EXPECT_EQ(recv1, link_stat(&self->c[1], link_ids[1],
				   QKDN_A_STATS_KEYS_RECEIVED));

	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", k, r);
	ASSERT_EQ(0, r->err) TH_LOG("%s (%s)", errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, k2));
	expect_same_keys(_metadata, k, k2);
	roundtrip(_metadata, self, 1, 1, 256, k);
	expect_fwd_clean(_metadata, self);
	for (i = 0; i < 2; i++) {
		free(a[i]);
		free(b[i]);
	}
	free(f);
	rep_free(r);
	free(k);
	free(k2);
}

TEST_HARNESS_MAIN
