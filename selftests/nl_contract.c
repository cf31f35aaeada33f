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
 *         keys); one node per network namespace. Ck: this program is
 *         the node's QKDN controller, reads the requests the kernel
 *         multicasts on "ctrl" for a key request to an SAE behind a KM
 *         with no link, and answers them well and badly; the route table;
 *         malformed key relay frames. Proactive key supply (I.2): session
 *         creation requests refused, answered, refused by the controller,
 *         timed out; the slave SAE's listening socket, the controller's
 *         session creation notifications and the SAE's answers, the
 *         response the controller then hears, the 4 s the SAE has;
 *         key requests with a session ID that cannot be served; malformed
 *         key supply frames. Multicast key requests (ADD_SLAVE_SAE_ID)
 *         that cannot be served, and relay frames naming more slaves.
 * pair.*  two nodes joined by a simulated QKD module pair (qkdsim), this
 *         program carrying the Kx frames between the kernels in place of
 *         qkdn-linkd: keys are the same at both ends and are the simulator's
 *         byte stream, each key is supplied once, an empty pool gives
 *         nothing, lost frames are retransmitted, repeated frames ignored.
 *         The Q.4160 messages each KM reports on "events" for an I.1 and
 *         an I.2 exchange between them. A multicast key request for two
 *         SAEs of kme-2: one relay, the same keys for both, each once;
 *         refused with nothing taken; all or nothing (the relay already
 *         delivered is aborted when another fails).
 * relay.* one node on a key relay path, this program playing its link
 *         daemon, its controller and the KM at the other end of its link:
 *         it builds "key relay" frames from the known QKD stream, with
 *         their Wegman-Carter MAC (GHASH, checked against GCM test
 *         vectors), and sees the keys reach the slave SAE, a frame changed
 *         on its way refused without taking anything, a replayed relay
 *         answered with ELOOP; it checks the frames the node sends as
 *         the source and as a hop the same way. Key reservation (I.4b)
 *         with the node as KM1 and as KM2 (a second link, to kme-3). As
 *         the peer KM it sends "key supply notifications" (I.2) and sees
 *         the listening SAE get exactly the stream's bytes and kme-1 hear
 *         exactly the key IDs the SAE took; as the source KM the node's
 *         own notification is checked field by field. Multicast: the node
 *         as the source of the relays of one key request to kme-1 and,
 *         routed, to kme-9 (the same keys, encrypted from the first hop),
 *         undone when one fails; as the destination of a relay naming
 *         more slave SAEs.
 *
 * Needs root, qkdn.ko loaded, and for pair.* and relay.* qkdsim.ko with
 * debugfs.
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
#define SNAP_MAX	(256 * 1024)
#define NO_OFFS		UINT32_MAX
#define ANY_MSG		""		/* an extack message is required */
#define NO_MSG		NULL		/* no extack message is required */
#define F_NOSTATS	1		/* compare dumps without counters */
#define F_ROUTES	2		/* compare the route tables too */
#define POLICY_MSG	"Attribute failed policy validation"

#define QKDSIM		"/sys/kernel/debug/qkdsim"
#define BLOCK_SIZE	4096		/* qkdsim's default block, bytes */
#define KEY_MAX_BYTES	(QKDN_KEY_SIZE_MAX / 8)

#define UID_A		1001		/* sae-a, local at node 1 */
#define UID_B		1002		/* sae-b, local at node 2 (sae-l in node.*) */
#define UID_C		1003		/* sae-c, local at node 2 */
#define UID_D		1004		/* sae-d, local at node 2 (multicast) */

/* ---- Kx frames: the wire format between two KMs (little endian) ---- */

#define KX_VERSION	1
#define KX_TEST_EPOCH	0x5eed1	/* a peer link instance made up by the test */

enum {
	KX_ACK = 1, KX_BLOCKS, KX_RESERVE, KX_RELAY, KX_RELAY_DONE,
	KX_RELAY_ABORT, KX_SUPPLY, KX_SUPPLY_DONE, KX_IPSEC, KX_IPSEC_ANSWER,
};

#define KX_IPSEC_LEN		188	/* body of an IPSEC frame */
#define KX_IPSEC_ANSWER_LEN	156

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

/* Drops the last n bytes, the header's length following. */
static void kx_trim(struct kxf *f, uint32_t n)
{
	f->len -= n;
	kx_set_len(f, f->len);
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

/*
 * "Key relay" (kernel/relay.c): the fixed part, then nroute node IDs,
 * nslaves more slave SAE IDs (multicast), count key IDs, the ciphertext
 * (past the first hop, or on it with RELAY_F_GIVEN: the keys XOR the pad)
 * and the tag.
 */
#define RELAY_F_NEWKEY	0x01	/* a new MAC hash key comes first */
#define RELAY_F_RESERVE	0x02	/* hold the keys (first hop, no route) */
#define RELAY_F_GIVEN	0x04	/* ciphertext on the first hop too: the
				 * keys are another relay's (multicast)
				 */
#define MAC_LEN		16

struct kx_relay {
	uint8_t relay_id[QKDN_RELAY_ID_LEN];
	char src[QKDN_ID_MAX];
	char dst[QKDN_ID_MAX];
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
	uint64_t pad_seq;
	uint32_t pad_off;
	uint16_t key_bytes;
	uint16_t count;
	uint8_t hop;
	uint8_t flags;
	uint8_t nroute;
	uint8_t nslaves;
	uint8_t reserved[4];
} __attribute__((packed));

struct kx_relay_done {
	uint8_t relay_id[QKDN_RELAY_ID_LEN];
	uint32_t err;
	char where[QKDN_ID_MAX];
	char why[QKDN_ERRMSG_MAX];
} __attribute__((packed));

struct relay_layout {
	uint32_t route, slaves, ids, ct, tag, len;	/* offsets in the body */
};

static void relay_layout(uint32_t nroute, uint32_t nslaves, uint32_t count,
			 uint32_t kb, bool ct, struct relay_layout *l)
{
	l->route = sizeof(struct kx_relay);
	l->slaves = l->route + nroute * QKDN_ID_MAX;
	l->ids = l->slaves + nslaves * QKDN_ID_MAX;
	l->ct = l->ids + count * QKDN_KEY_ID_LEN;
	l->tag = l->ct + (ct ? count * kb : 0);
	l->len = l->tag + MAC_LEN;
}

/* What a relay frame says; strings are copied up to 64 bytes, unchecked. */
struct relay_desc {
	uint8_t id[QKDN_RELAY_ID_LEN];
	const char *src, *dst, *master, *slave;
	uint64_t pad_seq;
	uint32_t pad_off;
	uint16_t key_bytes, count;
	uint8_t hop, flags, nroute, nslaves;
	const char *route[QKDN_ROUTE_HOPS_MAX];	/* NULL: left zeroed */
	const char *slaves[QKDN_SLAVES_MAX];	/* NULL: left zeroed */
	const uint8_t *ids;	/* count key IDs; NULL: made up */
};

/* Whether the frame of d carries ciphertext (else the pad is the key). */
static bool relay_ct(const struct relay_desc *d)
{
	return d->hop > 1 || (d->flags & RELAY_F_GIVEN);
}

static void kx_str(char *dst, const char *s)
{
	memcpy(dst, s, strnlen(s, QKDN_ID_MAX));
}

/* A well-formed relay frame of d, ciphertext and tag zeroed. */
static uint8_t *kx_relay(struct kxf *f, uint64_t seq, uint64_t ack,
			 const struct relay_desc *d, struct relay_layout *l)
{
	struct kx_relay *b;
	uint8_t *body;
	uint32_t i;

	kx_init(f, KX_RELAY, seq, ack);
	relay_layout(d->nroute, d->nslaves, d->count, d->key_bytes,
		     relay_ct(d), l);
	body = kx_put(f, l->len);
	b = (struct kx_relay *)body;
	memcpy(b->relay_id, d->id, sizeof(b->relay_id));
	kx_str(b->src, d->src);
	kx_str(b->dst, d->dst);
	kx_str(b->master, d->master);
	kx_str(b->slave, d->slave);
	b->pad_seq = htole64(d->pad_seq);
	b->pad_off = htole32(d->pad_off);
	b->key_bytes = htole16(d->key_bytes);
	b->count = htole16(d->count);
	b->hop = d->hop;
	b->flags = d->flags;
	b->nroute = d->nroute;
	b->nslaves = d->nslaves;
	for (i = 0; i < d->nroute && i < QKDN_ROUTE_HOPS_MAX; i++)
		if (d->route[i])
			kx_str((char *)body + l->route + i * QKDN_ID_MAX,
			       d->route[i]);
	for (i = 0; i < d->nslaves && i < QKDN_SLAVES_MAX; i++)
		if (d->slaves[i])
			kx_str((char *)body + l->slaves + i * QKDN_ID_MAX,
			       d->slaves[i]);
	for (i = 0; i < d->count; i++) {
		uint8_t *id = body + l->ids + i * QKDN_KEY_ID_LEN;

		if (d->ids) {
			memcpy(id, d->ids + i * QKDN_KEY_ID_LEN,
			       QKDN_KEY_ID_LEN);
		} else {
			id[0] = i + 1;
			id[QKDN_KEY_ID_LEN - 1] = 0x42;
		}
	}
	return body;
}

static struct kx_relay_done *kx_relay_done(struct kxf *f, uint64_t seq,
					   const uint8_t *id, uint32_t err,
					   const char *where, const char *why)
{
	struct kx_relay_done *d;

	kx_init(f, KX_RELAY_DONE, seq, 0);
	d = kx_put(f, sizeof(*d));
	memcpy(d->relay_id, id, sizeof(d->relay_id));
	d->err = htole32(err);
	kx_str(d->where, where);
	memcpy(d->why, why, strnlen(why, sizeof(d->why)));
	return d;
}

/* n distinct key IDs: tag, i + 1, ..., 0x7e. */
static void make_ids(uint8_t *ids, unsigned int n, uint8_t tag)
{
	unsigned int i;

	memset(ids, 0, n * QKDN_KEY_ID_LEN);
	for (i = 0; i < n; i++) {
		ids[i * QKDN_KEY_ID_LEN] = tag;
		ids[i * QKDN_KEY_ID_LEN + 1] = i + 1;
		ids[i * QKDN_KEY_ID_LEN + QKDN_KEY_ID_LEN - 1] = 0x7e;
	}
}

/* A 16-byte relay or supply ID that spells name, zero-padded. */
static void name_id(uint8_t *id, const char *name)
{
	memset(id, 0, QKDN_RELAY_ID_LEN);
	memcpy(id, name, strnlen(name, QKDN_RELAY_ID_LEN));
}

/*
 * "Key supply notification" and "response to key supply notification"
 * (kernel/session.c, Q.4160 I.2), each followed by count key IDs.
 */
struct kx_supply {
	uint8_t supply_id[QKDN_RELAY_ID_LEN];
	uint32_t session;
	uint32_t reserved;
	uint64_t block_seq;	/* where the keys start in the sender's */
	uint32_t offset;	/* own stream */
	uint16_t key_bytes;
	uint16_t count;
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
} __attribute__((packed));

struct kx_supply_done {
	uint8_t supply_id[QKDN_RELAY_ID_LEN];
	uint32_t session;
	uint32_t err;
	uint16_t count;
	uint16_t reserved;
} __attribute__((packed));

/* Appends count key IDs: ids, or made up (i + 1, ..., 0x42) when NULL. */
static void kx_ids(struct kxf *f, const uint8_t *ids, uint32_t count)
{
	uint32_t i;

	for (i = 0; i < count; i++) {
		uint32_t at = f->len;

		kx_put(f, QKDN_KEY_ID_LEN);
		if (ids) {
			memcpy(&f->b[at], ids + i * QKDN_KEY_ID_LEN,
			       QKDN_KEY_ID_LEN);
		} else {
			f->b[at] = i + 1;
			f->b[at + QKDN_KEY_ID_LEN - 1] = 0x42;
		}
	}
}

static struct kx_supply *kx_supply(struct kxf *f, uint64_t seq, uint64_t ack,
				   const char *name, uint32_t session,
				   uint64_t block, uint32_t off,
				   uint16_t key_bytes, uint16_t count,
				   const char *master, const char *slave,
				   const uint8_t *ids)
{
	struct kx_supply *b;

	kx_init(f, KX_SUPPLY, seq, ack);
	b = kx_put(f, sizeof(*b));
	name_id(b->supply_id, name);
	b->session = htole32(session);
	b->block_seq = htole64(block);
	b->offset = htole32(off);
	b->key_bytes = htole16(key_bytes);
	b->count = htole16(count);
	kx_str(b->master, master);
	kx_str(b->slave, slave);
	kx_ids(f, ids, count);
	return b;
}

static struct kx_supply_done *kx_supply_done(struct kxf *f, uint64_t seq,
					     uint64_t ack, const uint8_t *id,
					     uint32_t session, uint32_t err,
					     uint16_t count,
					     const uint8_t *ids)
{
	struct kx_supply_done *d;

	kx_init(f, KX_SUPPLY_DONE, seq, ack);
	d = kx_put(f, sizeof(*d));
	memcpy(d->supply_id, id, QKDN_RELAY_ID_LEN);
	d->session = htole32(session);
	d->err = htole32(err);
	d->count = htole16(count);
	kx_ids(f, ids, count);
	return d;
}

/* ---- GHASH (NIST SP 800-38D, 6.3 and 6.4) ---- */

struct gf128 {
	uint64_t hi, lo;	/* bits 0..63, 64..127; bit 0 the leftmost */
};

static struct gf128 gf128_load(const uint8_t *b)
{
	struct gf128 x = { 0, 0 };
	int i;

	for (i = 0; i < 8; i++) {
		x.hi = x.hi << 8 | b[i];
		x.lo = x.lo << 8 | b[8 + i];
	}
	return x;
}

static void gf128_store(struct gf128 x, uint8_t *b)
{
	int i;

	for (i = 7; i >= 0; i--) {
		b[i] = x.hi;
		b[8 + i] = x.lo;
		x.hi >>= 8;
		x.lo >>= 8;
	}
}

/* X . Y in GF(2^128) as GCM defines it (Algorithm 1). */
static struct gf128 gf128_mul(struct gf128 x, struct gf128 y)
{
	struct gf128 z = { 0, 0 }, v = y;
	int i;

	for (i = 0; i < 128; i++) {
		uint64_t xi = i < 64 ? x.hi >> (63 - i) : x.lo >> (127 - i);
		uint64_t lsb = v.lo & 1;

		if (xi & 1) {
			z.hi ^= v.hi;
			z.lo ^= v.lo;
		}
		v.lo = v.lo >> 1 | v.hi << 63;
		v.hi >>= 1;
		/* R = 11100001 || 0^120 */
		if (lsb)
			v.hi ^= 0xe100000000000000ULL;
	}
	return z;
}

static struct gf128 ghash_blocks(struct gf128 y, struct gf128 hk,
				 const uint8_t *p, size_t len)
{
	uint8_t blk[16];
	struct gf128 x;
	size_t off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < sizeof(blk) ? len - off : sizeof(blk);
		memset(blk, 0, sizeof(blk));
		memcpy(blk, p + off, n);
		x = gf128_load(blk);
		y.hi ^= x.hi;
		y.lo ^= x.lo;
		y = gf128_mul(y, hk);
	}
	return y;
}

/*
 * GHASH_H(A, C) of GCM: A, then C, each padded with zeros to whole
 * blocks, then the block [len(A)]_64 || [len(C)]_64 (bits).
 */
static void ghash_ac(const uint8_t *h, const uint8_t *a, size_t alen,
		     const uint8_t *c, size_t clen, uint8_t *out)
{
	struct gf128 hk = gf128_load(h), y = { 0, 0 };

	y = ghash_blocks(y, hk, a, alen);
	y = ghash_blocks(y, hk, c, clen);
	y.hi ^= (uint64_t)alen * 8;
	y.lo ^= (uint64_t)clen * 8;
	y = gf128_mul(y, hk);
	gf128_store(y, out);
}

/* The hash of the relay MAC (kernel/mac.c): GHASH with msg as C, no A. */
static void ghash(const uint8_t *h, const uint8_t *msg, size_t len,
		  uint8_t *out)
{
	ghash_ac(h, NULL, 0, msg, len, out);
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

/* s gets n characters c and a NUL. */
static void fill_str(char *s, char c, size_t n)
{
	memset(s, c, n);
	s[n] = '\0';
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

/*
 * What the kernel sends unasked (multicasts, messages to an application or
 * a link daemon) goes to a callback for each message of the family with
 * the command looked for. It returns true when the wait is over; the rest
 * of the same read still goes to it.
 */
typedef bool nl_msg_fn(const struct nlmsghdr *nlh, void *arg);

/* The messages in buf (n bytes) of the family, of cmd (0: any), to fn. */
static bool nl_walk(const void *buf, ssize_t n, uint8_t cmd, nl_msg_fn *fn,
		    void *arg)
{
	const struct nlmsghdr *nlh = buf;
	bool done = false;
	int len = n;

	for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
		const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);

		if (nlh->nlmsg_type != qkdn_family || (cmd && g->cmd != cmd))
			continue;
		if (fn(nlh, arg))
			done = true;
	}
	return done;
}

/*
 * Reads s and walks what comes (nl_walk()) until fn is done, for up to ms;
 * quiet: until nothing came for ms. True if fn was done.
 */
static bool nl_recv(struct nlc *s, int ms, bool quiet, uint8_t cmd,
		    nl_msg_fn *fn, void *arg)
{
	int fd = mnl_socket_get_fd(s->nl);
	uint64_t deadline = now_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = now_ms();
		ssize_t n;

		if (now >= deadline)
			return false;
		if (poll(&p, 1, deadline - now) <= 0)
			continue;
		if (quiet)
			deadline = now_ms() + ms;
		n = recv(fd, s->rx, RX_MAX, MSG_DONTWAIT);
		if (n > 0 && nl_walk(s->rx, n, cmd, fn, arg))
			return true;
	}
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

/* flags: F_NOSTATS, F_ROUTES. */
static bool take_snap(struct nlc *s, struct snap *sn, int flags)
{
	static const uint8_t dumps[] = {
		QKDN_CMD_LINK_GET, QKDN_CMD_SAE_GET, QKDN_CMD_POOL_GET,
		QKDN_CMD_ROUTE_GET,
	};
	bool stats = !(flags & F_NOSTATS);
	unsigned int i, n = sizeof(dumps) - !(flags & F_ROUTES);
	struct rep *r = rep_new();
	struct msg m;

	sn->ok = r != NULL;
	sn->len = 0;
	if (!r)
		return false;
	req(&m, QKDN_CMD_NODE_GET);
	nlc_txrx(s, m.nlh, r);
	snap_msgs(sn, r, stats);
	for (i = 0; i < n; i++) {
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
static const struct cred cred_d = { .uid = UID_D };
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

/*
 * This thread acts with effective uid and gid uid (0: root again). The raw
 * system calls change the calling thread only, where glibc's change every
 * thread of the process (the Kx carrier of pair.* must stay root).
 * Capabilities follow: none while the uid is not 0, all of them back after.
 */
static int act_as(uid_t uid)
{
	if (uid) {
		if (syscall(SYS_setresgid, -1L, (long)uid, -1L))
			return -1;
		return syscall(SYS_setresuid, -1L, (long)uid, -1L);
	}
	if (syscall(SYS_setresuid, -1L, 0L, -1L))
		return -1;
	return syscall(SYS_setresgid, -1L, 0L, -1L);
}

/* An application's socket, opened as uid, in this thread's namespace. */
static int sae_open(struct nlc *s, uid_t uid)
{
	int err;

	if (act_as(uid))
		return -errno;
	err = nlc_open(s);
	if (act_as(0) && !err)
		err = -errno;
	return err;
}

/* A request on the application's socket s, sent as uid. */
static void sae_txrx(struct __test_metadata *_metadata, struct nlc *s,
		     uid_t uid, struct nlmsghdr *nlh, struct rep *r)
{
	ASSERT_EQ(0, act_as(uid));
	nlc_txrx(s, nlh, r);
	ASSERT_EQ(0, act_as(0));
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

/* The dumps of s's node (flags as take_snap()) before what is done. */
static struct snap *state_before(struct __test_metadata *_metadata,
				 struct nlc *s, int flags, const char *what)
{
	struct snap *a = malloc(sizeof(*a));

	ASSERT_TRUE(a != NULL);
	ASSERT_TRUE(take_snap(s, a, flags))
		TH_LOG("%s: cannot dump the state before", what);
	return a;
}

/* After it: they must be the same as before. Frees before. */
static void expect_state(struct __test_metadata *_metadata, struct nlc *s,
			 struct snap *before, int flags, const char *what)
{
	struct snap *b = malloc(sizeof(*b));
	size_t d;

	ASSERT_TRUE(b != NULL);
	ASSERT_TRUE(take_snap(s, b, flags))
		TH_LOG("%s: cannot dump the state after", what);
	d = snap_diff(before, b);
	EXPECT_EQ(SIZE_MAX, d)
		TH_LOG("%s: the state changed (dumps differ at byte %zu)",
		       what, d);
	free(before);
	free(b);
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
	struct rep *r = rep_new();
	struct snap *a;

	ASSERT_TRUE(r != NULL);
	a = state_before(_metadata, s, flags, what);
	if (who)
		run_as(_metadata, ns, who, m->nlh, r);
	else
		nlc_txrx(s, m->nlh, r);
	expect_state(_metadata, s, a, flags, what);
	check_err(_metadata, what, r, err, msg, offs, miss);
	rep_free(r);
}

#define BAD(m, what, err, msg, offs, miss) \
	bad(_metadata, &self->s, -1, NULL, m, what, err, msg, offs, miss, 0)
#define BAD_AS(who, m, what, err, msg, offs, miss) \
	bad(_metadata, &self->s, self->ns, who, m, what, err, msg, offs, \
	    miss, 0)
/* The same, and the route table must not change either. */
#define BAD_R(m, what, err, msg, offs, miss) \
	bad(_metadata, &self->s, -1, NULL, m, what, err, msg, offs, miss, \
	    F_ROUTES)
#define BAD_AS_R(who, m, what, err, msg, offs, miss) \
	bad(_metadata, &self->s, self->ns, who, m, what, err, msg, offs, \
	    miss, F_ROUTES)

/* r, the answer to what, must be a success. Frees r. */
static void ok_rep(struct __test_metadata *_metadata, struct rep *r,
		   const char *what)
{
	int err = r->err;

	EXPECT_EQ(0, err)
		TH_LOG("%s: %s (extack \"%s\")", what, errname(err), r->msg);
	rep_free(r);
	ASSERT_EQ(0, err);
}

/* The request must succeed. */
static void ok_req(struct __test_metadata *_metadata, struct nlc *s,
		   struct msg *m, const char *what)
{
	struct rep *r = rep_new();

	ASSERT_TRUE(r != NULL);
	nlc_txrx(s, m->nlh, r);
	ok_rep(_metadata, r, what);
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

/* A counter in the STATS of the one reply to m, UINT64_MAX if none. */
static uint64_t reply_stat(struct nlc *s, struct msg *m, uint16_t stat)
{
	struct rep *r = rep_new();
	const struct nlattr *st, *a;
	uint64_t v = UINT64_MAX;

	if (!r)
		return v;
	if (!nlc_txrx(s, m->nlh, r) && r->nmsg == 1) {
		st = attr_find((const struct nlmsghdr *)r->data, QKDN_A_STATS);
		a = st ? nest_find(st, stat) : NULL;
		if (a && mnl_attr_get_payload_len(a) == sizeof(uint64_t))
			v = mnl_attr_get_u64(a);
	}
	rep_free(r);
	return v;
}

/* A counter of a link, UINT64_MAX if it cannot be read. */
static uint64_t link_stat(struct nlc *s, uint32_t link, uint16_t stat)
{
	struct msg m;

	req(&m, QKDN_CMD_LINK_GET);
	put_u32(&m, QKDN_A_LINK_ID, link);
	return reply_stat(s, &m, stat);
}

/* A counter of the node, UINT64_MAX if it cannot be read. */
static uint64_t node_stat(struct nlc *s, uint16_t stat)
{
	struct msg m;

	req(&m, QKDN_CMD_NODE_GET);
	return reply_stat(s, &m, stat);
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

#define DEV_LEN	32

static void qkdsim_dev(char *dev, uint32_t pair)
{
	snprintf(dev, DEV_LEN, "qkdsim%u", pair);
}

static void need_qkdsim(struct __test_metadata *_metadata)
{
	if (access(QKDSIM "/new_device", W_OK))
		SKIP(_exit(255), "qkdsim is not loaded");
}

/*
 * A qkdsim pair with an end in ns[0] and one in ns[1], where the thread
 * ends: *pair gets its ID (at once, for the teardown), *seed base plus
 * that ID, which seeds the pair's stream, dev its device name.
 */
static void qkdsim_pair(struct __test_metadata *_metadata, const int *ns,
			uint32_t *pair, uint64_t base, uint64_t *seed,
			char *dev)
{
	char v[32];
	int i;

	*pair = qkdsim_pick();
	ASSERT_NE(0U, *pair);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, setns(ns[i], CLONE_NEWNET));
		ASSERT_EQ(0, qkdsim_new(*pair));
	}
	*seed = base + *pair;
	snprintf(v, sizeof(v), "%" PRIu64, *seed);
	ASSERT_EQ(0, qkdsim_knob(*pair, "seed", v));
	qkdsim_dev(dev, *pair);
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

/* r, the reply to what, holds exactly n keys of kb bytes: ids, keys. */
static void expect_keys(struct __test_metadata *_metadata,
			const struct rep *r, const uint8_t *ids,
			const uint8_t *keys, uint32_t n, uint32_t kb,
			const char *what)
{
	struct keyset *k = malloc(sizeof(*k));
	uint32_t i;

	ASSERT_TRUE(k != NULL);
	ASSERT_EQ(0, r->err) TH_LOG("%s: %s (%s)", what, errname(r->err),
				    r->msg);
	ASSERT_TRUE(keys_parse(r, k)) TH_LOG("%s: malformed reply", what);
	ASSERT_EQ(n, k->n);
	for (i = 0; i < n; i++) {
		EXPECT_EQ(0, memcmp(k->id[i], ids + i * QKDN_KEY_ID_LEN,
				    QKDN_KEY_ID_LEN))
			TH_LOG("%s: key %u has another ID", what, i);
		EXPECT_EQ(kb, k->len[i]);
		EXPECT_EQ(0, memcmp(k->data[i], keys + i * kb, kb))
			TH_LOG("%s: key %u is not the key sent", what, i);
	}
	free(k);
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
	[QKDN_CMD_CTRL] = "CTRL",
	[QKDN_CMD_ROUTE_GET] = "ROUTE_GET",
	[QKDN_CMD_ROUTE_NEW] = "ROUTE_NEW",
	[QKDN_CMD_ROUTE_DEL] = "ROUTE_DEL",
	[QKDN_CMD_SESSION_NEW] = "SESSION_NEW",
	[QKDN_CMD_SAE_LISTEN] = "SAE_LISTEN",
	[QKDN_CMD_SESSION] = "SESSION",
	[QKDN_CMD_KEY_SUPPLY] = "KEY_SUPPLY",
	[QKDN_CMD_GW_BIND] = "GW_BIND",
	[QKDN_CMD_IPSEC_GET] = "IPSEC_GET",
	[QKDN_CMD_IPSEC_NEW] = "IPSEC_NEW",
	[QKDN_CMD_IPSEC_DEL] = "IPSEC_DEL",
};

/* The commands that have a "do" handler. */
static const uint8_t all_cmds[] = {
	QKDN_CMD_NODE_GET, QKDN_CMD_NODE_SET, QKDN_CMD_LINK_GET,
	QKDN_CMD_LINK_NEW, QKDN_CMD_LINK_DEL, QKDN_CMD_LINK_SET,
	QKDN_CMD_SAE_GET, QKDN_CMD_SAE_NEW, QKDN_CMD_SAE_DEL,
	QKDN_CMD_POOL_GET, QKDN_CMD_KEY_GET, QKDN_CMD_KEY_GET_BY_ID,
	QKDN_CMD_KX_BIND, QKDN_CMD_KX_FRAME, QKDN_CMD_KX_CHANNEL,
	QKDN_CMD_CTRL, QKDN_CMD_ROUTE_NEW, QKDN_CMD_ROUTE_DEL,
	QKDN_CMD_SESSION_NEW, QKDN_CMD_SAE_LISTEN, QKDN_CMD_SESSION,
	QKDN_CMD_KEY_SUPPLY, QKDN_CMD_GW_BIND, QKDN_CMD_IPSEC_GET,
	QKDN_CMD_IPSEC_NEW, QKDN_CMD_IPSEC_DEL,
};

static const uint8_t admin_cmds[] = {
	QKDN_CMD_NODE_SET, QKDN_CMD_LINK_NEW, QKDN_CMD_LINK_DEL,
	QKDN_CMD_LINK_SET, QKDN_CMD_SAE_NEW, QKDN_CMD_SAE_DEL,
	QKDN_CMD_KX_BIND, QKDN_CMD_KX_FRAME, QKDN_CMD_KX_CHANNEL,
	QKDN_CMD_CTRL, QKDN_CMD_ROUTE_NEW, QKDN_CMD_ROUTE_DEL,
	QKDN_CMD_GW_BIND, QKDN_CMD_IPSEC_GET, QKDN_CMD_IPSEC_NEW,
	QKDN_CMD_IPSEC_DEL,
};

/*
 * A "key request" of master for slave: number keys of bits (0: the
 * defaults), with the session ID session (0: none).
 */
static void key_get_msg(struct msg *m, const char *master, const char *slave,
			uint32_t session, uint32_t number, uint32_t bits)
{
	req(m, QKDN_CMD_KEY_GET);
	put_str(m, QKDN_A_MASTER_SAE_ID, master);
	put_str(m, QKDN_A_SLAVE_SAE_ID, slave);
	if (session)
		put_u32(m, QKDN_A_SESSION_ID, session);
	if (number)
		put_u32(m, QKDN_A_KEY_NUMBER, number);
	if (bits)
		put_u32(m, QKDN_A_KEY_SIZE, bits);
}

/*
 * A multicast "key request": key_get_msg() and an ADD_SLAVE_SAE_ID for each
 * of the n more slaves; offs[i] (if given) gets the offset of the i-th.
 */
static void mc_msg(struct msg *m, const char *master, const char *slave,
		   const char *const *more, unsigned int n, uint32_t number,
		   uint32_t bits, uint32_t *offs)
{
	unsigned int i;

	key_get_msg(m, master, slave, 0, number, bits);
	for (i = 0; i < n; i++) {
		uint32_t o = put_str(m, QKDN_A_ADD_SLAVE_SAE_ID, more[i]);

		if (offs)
			offs[i] = o;
	}
}

#define CTRL_ID_NONE	4242	/* a controller request ID nothing waits for */
#define SESSION_NONE	4243	/* a session ID nothing knows */
#define ERRNO_MAX	511	/* errnos a controller or a KM may report
				 * (Documentation/netlink/specs/qkdn.yaml)
				 */

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
	case QKDN_CMD_CTRL:
		B(QKDN_A_MSG, put_u32(m, QKDN_A_MSG,
				      QKDN_MSG_NEXT_HOP_RESPONSE));
		B(QKDN_A_CTRL_ID, put_u32(m, QKDN_A_CTRL_ID, CTRL_ID_NONE));
		B(QKDN_A_NEXT_HOP, put_str(m, QKDN_A_NEXT_HOP, "kme-2"));
		break;
	case QKDN_CMD_ROUTE_NEW:
		B(QKDN_A_DST_NODE_ID, put_str(m, QKDN_A_DST_NODE_ID, "kme-3"));
		B(QKDN_A_NEXT_HOP, put_str(m, QKDN_A_NEXT_HOP, "kme-2"));
		break;
	case QKDN_CMD_ROUTE_DEL:
		B(QKDN_A_DST_NODE_ID, put_str(m, QKDN_A_DST_NODE_ID, "kme-3"));
		break;
	case QKDN_CMD_SESSION_NEW:
		B(QKDN_A_MASTER_SAE_ID, put_str(m, QKDN_A_MASTER_SAE_ID, "sae-a"));
		B(QKDN_A_SLAVE_SAE_ID, put_str(m, QKDN_A_SLAVE_SAE_ID, "sae-b"));
		break;
	case QKDN_CMD_SAE_LISTEN:
		B(QKDN_A_SAE_ID, put_str(m, QKDN_A_SAE_ID, "sae-l"));
		break;
	case QKDN_CMD_SESSION:
	case QKDN_CMD_KEY_SUPPLY:
		B(QKDN_A_SESSION_ID, put_u32(m, QKDN_A_SESSION_ID, SESSION_NONE));
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

/* The calling thread in a new network namespace; returns a handle on it. */
static int new_netns(struct __test_metadata *_metadata)
{
	int fd;

	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	return fd;
}

/* Learns the family's ID on s; skips the test if there is none. */
static void need_family(struct __test_metadata *_metadata, struct nlc *s)
{
	int err = resolve_family(s);

	if (err == -ENOENT)
		SKIP(_exit(255), "the qkdn family is not registered");
	ASSERT_EQ(0, err);
}

FIXTURE(node) {
	int ns;
	struct nlc s;
	uint32_t pairs[2];
};

FIXTURE_SETUP(node)
{
	self->ns = -1;
	self->ns = new_netns(_metadata);
	ASSERT_EQ(0, nlc_open(&self->s));
	need_family(_metadata, &self->s);
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

		for (i = 0; i < ARRAY_SIZE(u32s); i++) {
			base(&m, cmd, 0);
			o = put_u32(&m, u32s[i], 1);
			snprintf(what, sizeof(what), "%s with reply attribute %u",
				 name, u32s[i]);
			BAD(&m, what, EINVAL, "Unsupported attribute", o, 0);
		}
		for (i = 0; i < ARRAY_SIZE(u64s); i++) {
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
		QKDN_CMD_KEY_GET_BY_ID, QKDN_CMD_KX_BIND, QKDN_CMD_CTRL,
		QKDN_CMD_ROUTE_NEW, QKDN_CMD_ROUTE_DEL, QKDN_CMD_SESSION_NEW,
		QKDN_CMD_SAE_LISTEN, QKDN_CMD_SESSION, QKDN_CMD_KEY_SUPPLY,
		QKDN_CMD_GW_BIND,
	};
	char what[64];
	unsigned int i;
	struct msg m;

	for (i = 0; i < sizeof(cmds); i++) {
		req(&m, cmds[i]);
		snprintf(what, sizeof(what), "command %u", cmds[i]);
		BAD(&m, what, EOPNOTSUPP, NO_MSG, NO_OFFS, 0);
	}
	/* ROUTE_GET is a dump only. */
	req(&m, QKDN_CMD_ROUTE_GET);
	put_str(&m, QKDN_A_DST_NODE_ID, "kme-3");
	BAD(&m, "ROUTE_GET do", EOPNOTSUPP, NO_MSG, NO_OFFS, 0);
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
	/* base() of cmd but for except, and type of len bytes 1, 0, ... */
	static const struct {
		uint8_t cmd;
		uint16_t except, type, len;
		const char *what;
	} sizes[] = {
		{ QKDN_CMD_LINK_GET, QKDN_A_LINK_ID, QKDN_A_LINK_ID, 2,
		  "LINK_GET LINK_ID of 2 bytes" },
		{ QKDN_CMD_LINK_DEL, QKDN_A_LINK_ID, QKDN_A_LINK_ID, 8,
		  "LINK_DEL LINK_ID of 8 bytes" },
		{ QKDN_CMD_LINK_NEW, QKDN_A_LINK_ID, QKDN_A_LINK_ID, 0,
		  "LINK_NEW empty LINK_ID" },
		{ QKDN_CMD_KEY_GET, 0, QKDN_A_KEY_NUMBER, 2,
		  "KEY_GET KEY_NUMBER of 2 bytes" },
		{ QKDN_CMD_KEY_GET, 0, QKDN_A_KEY_SIZE, 1,
		  "KEY_GET KEY_SIZE of 1 byte" },
		{ QKDN_CMD_SAE_NEW, QKDN_A_SAE_UID, QKDN_A_SAE_UID, 2,
		  "SAE_NEW SAE_UID of 2 bytes" },
		{ QKDN_CMD_LINK_SET, 0, QKDN_A_POOL_CAPACITY, 8,
		  "LINK_SET POOL_CAPACITY of 8 bytes" },
		{ QKDN_CMD_LINK_SET, QKDN_A_POOL_LOW, QKDN_A_POOL_LOW, 2,
		  "LINK_SET POOL_LOW of 2 bytes" },
		{ QKDN_CMD_LINK_SET, 0, QKDN_A_RATE, 4,
		  "LINK_SET RATE of 4 bytes" },
		{ QKDN_CMD_LINK_SET, 0, QKDN_A_DEVICE_RUNNING, 4,
		  "LINK_SET DEVICE_RUNNING of 4 bytes" },
		{ QKDN_CMD_KX_CHANNEL, QKDN_A_LINK_UP, QKDN_A_LINK_UP, 4,
		  "KX_CHANNEL LINK_UP of 4 bytes" },
	};
	static const uint8_t id16[QKDN_KEY_ID_LEN], one[8] = { 1 };
	unsigned int i;
	struct msg m;
	uint32_t o;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		base(&m, sizes[i].cmd, sizes[i].except);
		o = put(&m, sizes[i].type, sizes[i].len, one);
		BAD(&m, sizes[i].what, EINVAL, "invalid attribute length", o,
		    0);
	}
	base(&m, QKDN_CMD_SAE_NEW, QKDN_A_SAE_UID);
	o = put_str(&m, QKDN_A_SAE_UID, "1001");
	BAD(&m, "SAE_NEW SAE_UID as a string", EINVAL,
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

/* A command and an attribute of it. */
struct cmd_attr {
	uint8_t cmd;
	uint16_t type;
};

/* The commands that take a LINK_ID. */
static const uint8_t link_cmds[] = {
	QKDN_CMD_LINK_GET, QKDN_CMD_LINK_NEW, QKDN_CMD_LINK_SET,
	QKDN_CMD_LINK_DEL, QKDN_CMD_POOL_GET, QKDN_CMD_KX_FRAME,
	QKDN_CMD_KX_CHANNEL,
};

/* base() of cmd for an ID attribute of type t to come. */
static void id_base(struct msg *m, uint8_t cmd, uint16_t t)
{
	/* POOL_GET by slave SAE: LINK_ID would be used otherwise. */
	if (cmd == QKDN_CMD_POOL_GET)
		req(m, cmd);
	else if (cmd == QKDN_CMD_SAE_NEW && t == QKDN_A_SAE_NODE_ID)
		base(m, cmd, QKDN_A_SAE_UID);
	else
		base(m, cmd, t);
}

/* String attributes: no NUL, too long, empty, characters out of the set. */
TEST_F(node, string_attributes)
{
	static const struct cmd_attr ids[] = {
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
		{ QKDN_CMD_SESSION_NEW, QKDN_A_MASTER_SAE_ID },
		{ QKDN_CMD_SESSION_NEW, QKDN_A_SLAVE_SAE_ID },
		{ QKDN_CMD_SAE_LISTEN, QKDN_A_SAE_ID },
	};
	static const char *const bad_chars[] = {
		"kme 1", "kme/1", "sae\x01", "a\xc3\xa9", "a,b", "kme%1",
	};
	char long_id[QKDN_ID_MAX + 2], long_dev[64], what[128];
	unsigned int i, j;
	struct msg m;
	uint32_t o;

	fill_str(long_id, 'x', QKDN_ID_MAX);	/* 64 characters */

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		uint8_t cmd = ids[i].cmd;
		uint16_t t = ids[i].type;
		const char *name = cmd_names[cmd];

		id_base(&m, cmd, t);
		o = put_strn(&m, t, "kme-x");
		snprintf(what, sizeof(what), "%s attribute %u without NUL",
			 name, t);
		BAD(&m, what, EINVAL, POLICY_MSG, o, 0);

		id_base(&m, cmd, t);
		o = put_str(&m, t, long_id);
		snprintf(what, sizeof(what), "%s attribute %u of 64 characters",
			 name, t);
		BAD(&m, what, EINVAL, POLICY_MSG, o, 0);

		id_base(&m, cmd, t);
		o = put_strn(&m, t, long_id);
		snprintf(what, sizeof(what),
			 "%s attribute %u of 64 characters without NUL", name, t);
		BAD(&m, what, EINVAL, POLICY_MSG, o, 0);

		id_base(&m, cmd, t);
		o = put_str(&m, t, "");
		snprintf(what, sizeof(what), "%s attribute %u empty", name, t);
		BAD(&m, what, EINVAL, "ID must be", o, 0);

		for (j = 0; j < ARRAY_SIZE(bad_chars); j++) {
			id_base(&m, cmd, t);
			o = put_str(&m, t, bad_chars[j]);
			snprintf(what, sizeof(what), "%s attribute %u \"%s\"",
				 name, t, bad_chars[j]);
			BAD(&m, what, EINVAL, "ID must be", o, 0);
		}
	}

	/* Device names: up to 31 characters. */
	fill_str(long_dev, 'd', 32);
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
	fill_str(id63, 'n', QKDN_ID_MAX - 1);
	fill_str(other63, 'p', QKDN_ID_MAX - 1);
	fill_str(dev31, 'd', 31);

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
	key_get_msg(&m, other63, "sae.remote_1:x@y", 0, QKDN_KEYS_PER_REQUEST,
		    QKDN_KEY_SIZE_MAX);
	nlc_txrx(&s2, m.nlh, r);
	EXPECT_EQ(EACCES, r->err) TH_LOG("KEY_GET 128 x 8192 bits: %s (%s)",
					 errname(r->err), r->msg);
	key_get_msg(&m, other63, "sae.remote_1:x@y", 0, 1, QKDN_KEY_SIZE_MIN);
	nlc_txrx(&s2, m.nlh, r);
	EXPECT_EQ(EACCES, r->err) TH_LOG("KEY_GET 1 x 64 bits: %s (%s)",
					 errname(r->err), r->msg);
	nlc_close(&s2);
	rep_free(r);
}

TEST_F(node, integer_ranges)
{
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
		for (j = 0; j < ARRAY_SIZE(bad_links); j++) {
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

	for (j = 0; j < ARRAY_SIZE(bad_numbers); j++) {
		base(&m, QKDN_CMD_KEY_GET, 0);
		o = put_u32(&m, QKDN_A_KEY_NUMBER, bad_numbers[j]);
		snprintf(what, sizeof(what), "KEY_GET KEY_NUMBER %u",
			 bad_numbers[j]);
		BAD(&m, what, ERANGE, "out of range", o, 0);
	}
	for (j = 0; j < ARRAY_SIZE(bad_sizes); j++) {
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

	for (j = 0; j < ARRAY_SIZE(bad_caps); j++) {
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
	char what[64];
	unsigned int i;
	struct msg m;

	for (i = 0; i < sizeof(link_cmds); i++) {
		base(&m, link_cmds[i], QKDN_A_LINK_ID);
		snprintf(what, sizeof(what), "%s without LINK_ID",
			 cmd_names[link_cmds[i]]);
		BAD(&m, what, EINVAL, NO_MSG, NO_OFFS, QKDN_A_LINK_ID);
	}
}

/* base() of each case without its attribute: refused, naming it. */
static void missing_attrs(struct __test_metadata *_metadata,
			  FIXTURE_DATA(node) *self, const struct cmd_attr *c,
			  unsigned int n, const char *msg)
{
	char what[64];
	unsigned int i;
	struct msg m;

	for (i = 0; i < n; i++) {
		base(&m, c[i].cmd, c[i].type);
		snprintf(what, sizeof(what), "%s without attribute %u",
			 cmd_names[c[i].cmd], c[i].type);
		BAD(&m, what, EINVAL, msg, NO_OFFS, c[i].type);
	}
}

/* Required IDs (node, peer, SAE): missing type and message. */
TEST_F(node, missing_ids)
{
	static const struct cmd_attr cases[] = {
		{ QKDN_CMD_NODE_SET, QKDN_A_NODE_ID },
		{ QKDN_CMD_LINK_NEW, QKDN_A_PEER_NODE_ID },
		{ QKDN_CMD_SAE_GET, QKDN_A_SAE_ID },
		{ QKDN_CMD_SAE_DEL, QKDN_A_SAE_ID },
		{ QKDN_CMD_SAE_NEW, QKDN_A_SAE_ID },
	};
	struct msg m;

	missing_attrs(_metadata, self, cases, ARRAY_SIZE(cases), "missing");
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
	static const struct cmd_attr cases[] = {
		{ QKDN_CMD_KEY_GET, QKDN_A_MASTER_SAE_ID },
		{ QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID },
		{ QKDN_CMD_KEY_GET_BY_ID, QKDN_A_MASTER_SAE_ID },
		{ QKDN_CMD_KEY_GET_BY_ID, QKDN_A_SLAVE_SAE_ID },
		{ QKDN_CMD_KX_FRAME, QKDN_A_KX_FRAME },
		{ QKDN_CMD_KX_CHANNEL, QKDN_A_LINK_UP },
		{ QKDN_CMD_CTRL, QKDN_A_MSG },
		{ QKDN_CMD_CTRL, QKDN_A_CTRL_ID },
		{ QKDN_CMD_CTRL, QKDN_A_NEXT_HOP },
		{ QKDN_CMD_ROUTE_NEW, QKDN_A_DST_NODE_ID },
		{ QKDN_CMD_ROUTE_NEW, QKDN_A_NEXT_HOP },
		{ QKDN_CMD_SESSION_NEW, QKDN_A_MASTER_SAE_ID },
		{ QKDN_CMD_SESSION_NEW, QKDN_A_SLAVE_SAE_ID },
		{ QKDN_CMD_SAE_LISTEN, QKDN_A_SAE_ID },
		{ QKDN_CMD_SESSION, QKDN_A_SESSION_ID },
		{ QKDN_CMD_KEY_SUPPLY, QKDN_A_SESSION_ID },
	};
	struct msg m;

	missing_attrs(_metadata, self, cases, ARRAY_SIZE(cases), NO_MSG);
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

/* An SAE served through the key delivery gateway: its credential. */
static void new_gw_sae(struct __test_metadata *_metadata, struct nlc *s,
		       const char *id, const char *cred)
{
	struct msg m;

	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, id);
	put_str(&m, QKDN_A_SAE_CRED, cred);
	ok_req(_metadata, s, &m, "SAE_NEW with a credential");
}

static void gw_bind(struct __test_metadata *_metadata, struct nlc *s)
{
	struct msg m;

	req(&m, QKDN_CMD_GW_BIND);
	ok_req(_metadata, s, &m, "GW_BIND");
}

/* SAE_NEW with a client credential: bad ones refused, nothing changed. */
TEST_F(node, sae_cred_errors)
{
	char big[QKDN_CRED_MAX + 1];
	struct rep *r = rep_new();
	const struct nlattr *a;
	struct msg m;
	uint32_t o;

	ASSERT_TRUE(r != NULL);
	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "gw-x");
	o = put_u32(&m, QKDN_A_SAE_CRED, 0x41414141);
	BAD(&m, "SAE_NEW credential of a u32, no NUL", EINVAL, POLICY_MSG, o,
	    0);

	memset(big, 'c', QKDN_CRED_MAX);
	big[QKDN_CRED_MAX] = 0;
	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "gw-x");
	o = put_str(&m, QKDN_A_SAE_CRED, big);
	BAD(&m, "SAE_NEW credential of 256 characters", EINVAL, NO_MSG, o, 0);

	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "gw-x");
	o = put_str(&m, QKDN_A_SAE_CRED, "");
	BAD(&m, "SAE_NEW empty credential", EINVAL, "printable ASCII", o, 0);

	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "gw-x");
	o = put_str(&m, QKDN_A_SAE_CRED, "CN=a\nO=b");
	BAD(&m, "SAE_NEW credential with a newline", EINVAL,
	    "printable ASCII", o, 0);

	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "gw-x");
	put_str(&m, QKDN_A_SAE_CRED, "CN=gw-x");
	put_str(&m, QKDN_A_SAE_NODE_ID, "kme-2");
	BAD(&m, "SAE_NEW credential and node", EINVAL,
	    "give a uid or a client credential", NO_OFFS, 0);

	/* A kernel SAE: no uid, credential or node; the flag carries no data. */
	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "kern-x");
	o = put(&m, QKDN_A_SAE_KERNEL, 0, NULL);
	put_u32(&m, QKDN_A_SAE_UID, 1001);
	BAD(&m, "SAE_NEW kernel SAE with a uid", EINVAL,
	    "no process may act as it", o, 0);
	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "kern-x");
	o = put(&m, QKDN_A_SAE_KERNEL, 0, NULL);
	put_str(&m, QKDN_A_SAE_CRED, "CN=kern-x");
	BAD(&m, "SAE_NEW kernel SAE with a credential", EINVAL,
	    "no process may act as it", o, 0);
	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "kern-x");
	o = put(&m, QKDN_A_SAE_KERNEL, 0, NULL);
	put_str(&m, QKDN_A_SAE_NODE_ID, "kme-2");
	BAD(&m, "SAE_NEW kernel SAE with a node", EINVAL,
	    "no process may act as it", o, 0);
	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "kern-x");
	o = put_u32(&m, QKDN_A_SAE_KERNEL, 1);
	BAD(&m, "SAE_NEW kernel flag with data", ERANGE, POLICY_MSG, o, 0);

	/* 255 characters are fine, and shown as given; a second use is not. */
	big[QKDN_CRED_MAX - 1] = 0;
	new_gw_sae(_metadata, &self->s, "gw-x", big);
	req(&m, QKDN_CMD_SAE_GET);
	put_str(&m, QKDN_A_SAE_ID, "gw-x");
	ASSERT_EQ(0, nlc_txrx(&self->s, m.nlh, r));
	ASSERT_EQ(1U, r->nmsg);
	a = attr_find((const struct nlmsghdr *)r->data, QKDN_A_SAE_CRED);
	ASSERT_TRUE(a != NULL);
	EXPECT_STREQ(big, mnl_attr_get_str(a));
	EXPECT_TRUE(attr_find((const struct nlmsghdr *)r->data,
			      QKDN_A_SAE_UID) == NULL);
	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "gw-y");
	o = put_str(&m, QKDN_A_SAE_CRED, big);
	BAD(&m, "SAE_NEW credential in use", EEXIST, "credential in use", o,
	    0);
	rep_free(r);
}

/*
 * The gateway role: only the bound gateway's sockets may act for an SAE
 * with a credential, only with that credential, never for an SAE
 * without one; one gateway process; its role ends with its sockets.
 */
TEST_F(node, gateway_role)
{
	struct nlc g, g2;
	struct msg m;
	uint32_t o;

	new_gw_sae(_metadata, &self->s, "gw-a", "CN=gw-a,O=Bank");
	new_gw_sae(_metadata, &self->s, "gw-c", "CN=gw-c,O=Bank");

	/* Not bound yet: nobody acts as gw-a, credential or not. */
	key_get_msg(&m, "gw-a", "sae-b", 0, 0, 0);
	o = put_str(&m, QKDN_A_SAE_CRED, "CN=gw-a,O=Bank");
	BAD(&m, "KEY_GET for gw-a with its credential, no gateway bound",
	    EACCES, "may not act as the master", NO_OFFS, 0);
	(void)o;

	ASSERT_EQ(0, nlc_open(&g));
	gw_bind(_metadata, &g);
	gw_bind(_metadata, &g);		/* again: a no-op */

	/* From the gateway: the wrong credential, or none. */
	key_get_msg(&m, "gw-a", "sae-b", 0, 0, 0);
	put_str(&m, QKDN_A_SAE_CRED, "CN=gw-c,O=Bank");
	bad(_metadata, &g, -1, NULL, &m,
	    "KEY_GET for gw-a with gw-c's credential", EACCES,
	    "may not act as the master", NO_OFFS, 0, 0);
	key_get_msg(&m, "gw-a", "sae-b", 0, 0, 0);
	bad(_metadata, &g, -1, NULL, &m, "KEY_GET for gw-a without credential",
	    EACCES, "may not act as the master", NO_OFFS, 0, 0);
	key_get_msg(&m, "gw-a", "sae-b", 0, 0, 0);
	put_str(&m, QKDN_A_SAE_CRED, "CN=gw-a,O=Ban");
	bad(_metadata, &g, -1, NULL, &m,
	    "KEY_GET for gw-a with a prefix of its credential", EACCES,
	    "may not act as the master", NO_OFFS, 0, 0);
	/* Never for an SAE of a uid, whatever credential. */
	key_get_msg(&m, "sae-a", "sae-b", 0, 0, 0);
	put_str(&m, QKDN_A_SAE_CRED, "CN=gw-a,O=Bank");
	bad(_metadata, &g, -1, NULL, &m, "KEY_GET from the gateway for sae-a",
	    EACCES, "may not act as the master", NO_OFFS, 0, 0);
	/* Another socket, even root's, is not the gateway. */
	key_get_msg(&m, "gw-a", "sae-b", 0, 0, 0);
	put_str(&m, QKDN_A_SAE_CRED, "CN=gw-a,O=Bank");
	BAD(&m, "KEY_GET for gw-a from root's other socket", EACCES,
	    "may not act as the master", NO_OFFS, 0);
	BAD_AS(&cred_a, &m, "KEY_GET for gw-a as uid 1001", EACCES,
	       "may not act as the master", NO_OFFS, 0);

	/* The right credential passes the check: the pool is empty. */
	key_get_msg(&m, "gw-a", "sae-b", 0, 0, 0);
	put_str(&m, QKDN_A_SAE_CRED, "CN=gw-a,O=Bank");
	bad(_metadata, &g, -1, NULL, &m, "KEY_GET for gw-a from the gateway",
	    ENOSPC, "not enough key", NO_OFFS, 0, 0);
	/* As the slave too: the key IDs are unknown, and nothing waits. */
	base(&m, QKDN_CMD_KEY_GET_BY_ID, QKDN_A_SLAVE_SAE_ID);
	put_str(&m, QKDN_A_SLAVE_SAE_ID, "gw-c");
	put_str(&m, QKDN_A_SAE_CRED, "CN=gw-c,O=Bank");
	put(&m, QKDN_A_NOWAIT, 0, NULL);
	bad(_metadata, &g, -1, NULL, &m, "KEY_GET_BY_ID for gw-c, nowait",
	    EWOULDBLOCK, "would wait for keys on their way", NO_OFFS, 0, 0);

	/* A second socket of the same process joins the role. */
	ASSERT_EQ(0, nlc_open(&g2));
	gw_bind(_metadata, &g2);
	key_get_msg(&m, "gw-a", "sae-b", 0, 0, 0);
	put_str(&m, QKDN_A_SAE_CRED, "CN=gw-a,O=Bank");
	bad(_metadata, &g2, -1, NULL, &m, "KEY_GET for gw-a, second socket",
	    ENOSPC, "not enough key", NO_OFFS, 0, 0);
	/* Another process does not. */
	req(&m, QKDN_CMD_GW_BIND);
	BAD_AS(&cred_root, &m, "GW_BIND from another process", EBUSY,
	       "another process", NO_OFFS, 0);

	/* The first socket closed, the second keeps the role... */
	nlc_close(&g);
	key_get_msg(&m, "gw-a", "sae-b", 0, 0, 0);
	put_str(&m, QKDN_A_SAE_CRED, "CN=gw-a,O=Bank");
	bad(_metadata, &g2, -1, NULL, &m, "KEY_GET for gw-a, first closed",
	    ENOSPC, "not enough key", NO_OFFS, 0, 0);
	req(&m, QKDN_CMD_GW_BIND);
	BAD_AS(&cred_root, &m, "GW_BIND from another process, one left",
	       EBUSY, "another process", NO_OFFS, 0);
	/* ... and with the last, another process may bind. */
	nlc_close(&g2);
	req(&m, QKDN_CMD_GW_BIND);
	{
		struct rep *r = rep_new();

		ASSERT_TRUE(r != NULL);
		run_as(_metadata, self->ns, &cred_root, m.nlh, r);
		EXPECT_EQ(0, r->err) TH_LOG("GW_BIND after the gateway closed: %s",
					    r->msg);
		rep_free(r);
	}
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

/* The frame f on link is refused (bad()) and counted as a bad frame. */
static void frame_bad(struct __test_metadata *_metadata, struct nlc *s,
		      uint32_t link, const struct kxf *f, const char *what,
		      int err, const char *msg)
{
	uint64_t before = link_stat(s, link, QKDN_A_STATS_FRAMES_BAD);
	struct msg m;
	uint32_t o = frame_req(&m, link, f);

	bad(_metadata, s, -1, NULL, &m, what, err, msg, o, 0, F_NOSTATS);
	EXPECT_EQ(before + 1, link_stat(s, link, QKDN_A_STATS_FRAMES_BAD))
		TH_LOG("%s: not counted as a bad frame", what);
}

/* frame_bad() on link 1 of node.* */
static void kx_bad(struct __test_metadata *_metadata, struct nlc *s,
		   const struct kxf *f, const char *what, int err,
		   const char *msg)
{
	frame_bad(_metadata, s, 1, f, what, err, msg);
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
	kx_init(f, KX_IPSEC_ANSWER + 1, 1, 0);
	kx_bad(_metadata, &self->s, f, "Kx type 11", EINVAL, "type unknown");

	/* IPsec rekeys (kernel/ipsec.c): checked before anything changes. */
	kx_init(f, KX_IPSEC, 1, 0);
	kx_put(f, KX_IPSEC_LEN - 1);
	kx_bad(_metadata, &self->s, f, "Kx IPsec rekey one byte short", EINVAL,
	       "length does not match");
	kx_init(f, KX_IPSEC_ANSWER, 1, 0);
	kx_put(f, KX_IPSEC_ANSWER_LEN + 1);
	kx_bad(_metadata, &self->s, f, "Kx IPsec answer one byte long", EINVAL,
	       "length does not match");
	kx_init(f, KX_IPSEC, 1, 0);
	kx_put(f, KX_IPSEC_LEN);
	kx_bad(_metadata, &self->s, f, "Kx IPsec rekey of tunnel 0", EINVAL,
	       "rekey malformed");
	{
		uint8_t *b;
		uint32_t one = htole32(1), spi1 = htole32(0x1000),
			 spi2 = htole32(0x2000);
		uint16_t bits = htole16(256);

		kx_init(f, KX_IPSEC, 1, 0);
		b = kx_put(f, KX_IPSEC_LEN);
		memcpy(b, &one, 4);
		memcpy(b + 8, &spi1, 4);
		memcpy(b + 12, &spi2, 4);
		memcpy(b + 24, &bits, 2);
		strcpy((char *)b + 60, "sae-a");
		strcpy((char *)b + 124, "sae-b");
		kx_bad(_metadata, &self->s, f, "Kx IPsec rekey, one key ID twice",
		       EINVAL, "repeated");
		b[28] = 1;
		b[26] = 3;	/* drop and abort */
		kx_bad(_metadata, &self->s, f, "Kx IPsec rekey, drop and abort",
		       EINVAL, "rekey malformed");
		b[26] = 0;
		memcpy(b + 12, &spi1, 4);
		kx_bad(_metadata, &self->s, f, "Kx IPsec rekey, one SPI twice",
		       EINVAL, "repeated");
		memcpy(b + 12, &spi2, 4);
		memcpy(b + 24, &one, 2);
		kx_bad(_metadata, &self->s, f, "Kx IPsec rekey, 1-bit keys",
		       EINVAL, "rekey malformed");
	}
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
	/* Ranges (first block, count) that are not in order. */
	static const struct {
		uint32_t n;
		uint64_t r[2][2];
		const char *what;
	} order[] = {
		{ 2, { { 5, 1 }, { 3, 1 } }, "Kx BLOCKS ranges out of order" },
		{ 2, { { 1, 5 }, { 3, 2 } }, "Kx BLOCKS ranges overlapping" },
		{ 2, { { 4, 1 }, { 4, 1 } }, "Kx BLOCKS range repeated" },
		{ 1, { { 0, 1 } }, "Kx BLOCKS block 0" },
		{ 1, { { 7, 0 } }, "Kx BLOCKS empty range" },
		{ 1, { { UINT64_MAX - 1, 3 } },
		  "Kx BLOCKS range wrapping around" },
	};
	struct kxf *f = malloc(sizeof(*f));
	unsigned int i, j;

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

	for (i = 0; i < ARRAY_SIZE(order); i++) {
		kx_init(f, KX_BLOCKS, 1, 0);
		kx_count(f, order[i].n);
		for (j = 0; j < order[i].n; j++)
			kx_range(f, order[i].r[j][0], order[i].r[j][1]);
		kx_bad(_metadata, &self->s, f, order[i].what, EINVAL,
		       "not in order");
	}
	free(f);
}

TEST_F(node, kx_frame_reserve)
{
	char unterminated[QKDN_ID_MAX + 1];
	struct kxf *f = malloc(sizeof(*f));
	struct kx_reserve *r;

	ASSERT_TRUE(f != NULL);
	fill_str(unterminated, 's', QKDN_ID_MAX);

	kx_init(f, KX_RESERVE, 1, 0);
	kx_put(f, sizeof(*r) - 1);
	kx_bad(_metadata, &self->s, f, "Kx RESERVE body too short", EINVAL,
	       "body length");
	kx_reserve(f, 1, 2, 0, 32, 1, "sae-a", "sae-b");
	r = (struct kx_reserve *)(f->b + sizeof(struct kx_hdr));
	r->count = 0;
	kx_trim(f, QKDN_KEY_ID_LEN);
	kx_bad(_metadata, &self->s, f, "Kx RESERVE of no key", EINVAL,
	       "body length");
	/* At most 500 key IDs fit in a frame: a count of 501 cannot match. */
	r = kx_reserve(f, 1, 2, 0, 32, 500, "sae-a", "sae-b");
	r->count = htole16(501);
	kx_bad(_metadata, &self->s, f, "Kx RESERVE counting 501 keys", EINVAL,
	       "body length");
	kx_reserve(f, 1, 2, 0, 32, 2, "sae-a", "sae-b");
	kx_trim(f, QKDN_KEY_ID_LEN);
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
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
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
	const char *what = "the node, as another namespace's changes";
	struct rep *r = rep_new();
	struct snap *before;
	unsigned int i;
	struct nlc s2;
	struct msg m;

	ASSERT_TRUE(r != NULL);
	before = state_before(_metadata, &self->s, 0, what);
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

	expect_state(_metadata, &self->s, before, 0, what);
	nlc_close(&s2);
	rep_free(r);
}

/* ---- QKD modules (a lone qkdsim end in this namespace) ---- */

/* Returns its ID; dev gets its device name. */
static uint32_t lone_qkdsim(struct __test_metadata *_metadata, char *dev)
{
	uint32_t id;

	need_qkdsim(_metadata);
	id = qkdsim_pick();
	ASSERT_NE(0U, id);
	ASSERT_EQ(0, qkdsim_new(id));
	qkdsim_dev(dev, id);
	return id;
}

TEST_F(node, device_errors)
{
	char dev[DEV_LEN];
	struct msg m;
	uint32_t o;

	self->pairs[0] = lone_qkdsim(_metadata, dev);

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
	char dev[DEV_LEN];
	struct msg m;

	self->pairs[0] = lone_qkdsim(_metadata, dev);
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
	char dev[DEV_LEN];
	struct msg m;

	self->pairs[0] = lone_qkdsim(_metadata, dev);
	req(&m, QKDN_CMD_LINK_SET);
	put_u32(&m, QKDN_A_LINK_ID, 1);
	put_u32(&m, QKDN_A_POOL_CAPACITY, 65536);
	put_u32(&m, QKDN_A_POOL_LOW, 1024);
	put_str(&m, QKDN_A_DEVICE, dev);
	put_u64(&m, QKDN_A_RATE, 20000000000ULL);
	BAD(&m, "LINK_SET with a rate the QKD module refuses", EINVAL,
	    "refused", NO_OFFS, 0);
}

/* ---- Ck: this program as the node's QKDN controller ---- */

struct mcgrp_ctx {
	const char *name;
	uint32_t id;
};

static int mcgrp_cb(const struct nlattr *a, void *data)
{
	struct mcgrp_ctx *c = data;
	const struct nlattr *g, *b;

	if (mnl_attr_get_type(a) != CTRL_ATTR_MCAST_GROUPS)
		return MNL_CB_OK;
	mnl_attr_for_each_nested(g, a) {
		const char *name = NULL;
		uint32_t id = 0;

		mnl_attr_for_each_nested(b, g) {
			uint16_t t = mnl_attr_get_type(b);

			if (t == CTRL_ATTR_MCAST_GRP_NAME &&
			    mnl_attr_validate(b, MNL_TYPE_NUL_STRING) >= 0)
				name = mnl_attr_get_str(b);
			else if (t == CTRL_ATTR_MCAST_GRP_ID &&
				 mnl_attr_get_payload_len(b) == sizeof(id))
				id = mnl_attr_get_u32(b);
		}
		if (name && !strcmp(name, c->name))
			c->id = id;
	}
	return MNL_CB_OK;
}

/* The ID of the family's multicast group called name; 0 if none. */
static uint32_t mcast_group(struct nlc *s, const char *name)
{
	struct mcgrp_ctx c = { .name = name };
	struct rep *r = rep_new();
	struct msg m;

	if (!r)
		return 0;
	msg_init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_ACK);
	put_str(&m, CTRL_ATTR_FAMILY_NAME, QKDN_GENL_NAME);
	if (!nlc_txrx(s, m.nlh, r) && r->nmsg == 1)
		mnl_attr_parse((const struct nlmsghdr *)r->data, GENL_HDRLEN,
			       mcgrp_cb, &c);
	rep_free(r);
	return c.id;
}

/* Opens s and joins it to the group called name of the namespace's node. */
static int group_listen(struct nlc *s, const char *name)
{
	int err = nlc_open(s);
	uint32_t grp;

	if (err)
		return err;
	grp = mcast_group(s, name);
	if (!grp)
		err = -ENOENT;
	else if (mnl_socket_setsockopt(s->nl, NETLINK_ADD_MEMBERSHIP, &grp,
				       sizeof(grp)))
		err = -errno;
	if (err)
		nlc_close(s);
	return err;
}

/* The node's QKDN controller hears it on "ctrl". */
static int ctrl_listen(struct nlc *s)
{
	return group_listen(s, QKDN_MCGRP_CTRL);
}

/* A message of the kernel to its controller. */
struct ctrl_req {
	uint32_t msg, ctrl_id, bytes, err, session;
	bool has_ctrl_id, has_bytes, has_peer, has_err, has_session;
	int relay_id_len;
	uint8_t relay_id[QKDN_RELAY_ID_LEN];
	char src[QKDN_ID_MAX], dst[QKDN_ID_MAX], peer[QKDN_ID_MAX];
	char master[QKDN_ID_MAX], slave[QKDN_ID_MAX];
};

static void copy_str(char *dst, size_t size, const struct nlattr *a)
{
	size_t n = mnl_attr_get_payload_len(a);

	if (n >= size)
		n = size - 1;
	memcpy(dst, mnl_attr_get_payload(a), n);
	dst[n] = '\0';
}

static int ctrl_req_cb(const struct nlattr *a, void *data)
{
	bool u32 = mnl_attr_get_payload_len(a) == sizeof(uint32_t);
	struct ctrl_req *q = data;

	switch (mnl_attr_get_type(a)) {
	case QKDN_A_MSG:
		if (u32)
			q->msg = mnl_attr_get_u32(a);
		break;
	case QKDN_A_CTRL_ID:
		q->has_ctrl_id = u32;
		if (u32)
			q->ctrl_id = mnl_attr_get_u32(a);
		break;
	case QKDN_A_RELAY_BYTES:
		q->has_bytes = u32;
		if (u32)
			q->bytes = mnl_attr_get_u32(a);
		break;
	case QKDN_A_ERRNO:
		q->has_err = u32;
		if (u32)
			q->err = mnl_attr_get_u32(a);
		break;
	case QKDN_A_RELAY_ID:
		q->relay_id_len = mnl_attr_get_payload_len(a);
		if (q->relay_id_len == QKDN_RELAY_ID_LEN)
			memcpy(q->relay_id, mnl_attr_get_payload(a),
			       QKDN_RELAY_ID_LEN);
		break;
	case QKDN_A_SRC_NODE_ID:
		copy_str(q->src, sizeof(q->src), a);
		break;
	case QKDN_A_DST_NODE_ID:
		copy_str(q->dst, sizeof(q->dst), a);
		break;
	case QKDN_A_PEER_NODE_ID:
		q->has_peer = true;
		copy_str(q->peer, sizeof(q->peer), a);
		break;
	case QKDN_A_SESSION_ID:
		q->has_session = u32;
		if (u32)
			q->session = mnl_attr_get_u32(a);
		break;
	case QKDN_A_MASTER_SAE_ID:
		copy_str(q->master, sizeof(q->master), a);
		break;
	case QKDN_A_SLAVE_SAE_ID:
		copy_str(q->slave, sizeof(q->slave), a);
		break;
	}
	return MNL_CB_OK;
}

struct ctrl_read {
	struct ctrl_req *q;
	bool got;
};

/* The first message of a read only. */
static bool ctrl_read_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct ctrl_read *c = arg;

	if (!c->got) {
		memset(c->q, 0, sizeof(*c->q));
		mnl_attr_parse(nlh, GENL_HDRLEN, ctrl_req_cb, c->q);
		c->got = true;
	}
	return true;
}

/* Waits up to ms for the kernel's next message on "ctrl". */
static bool ctrl_read(struct nlc *s, int ms, struct ctrl_req *q)
{
	struct ctrl_read c = { .q = q };

	return nl_recv(s, ms, false, QKDN_CMD_CTRL, ctrl_read_cb, &c);
}

/* The kernel's next message on "ctrl" that is msg, within ms. */
static bool ctrl_read_msg(struct nlc *s, int ms, uint32_t msg,
			  struct ctrl_req *q)
{
	uint64_t deadline = now_ms() + ms;

	for (;;) {
		uint64_t now = now_ms();

		if (now >= deadline || !ctrl_read(s, deadline - now, q))
			return false;
		if (q->msg == msg)
			return true;
	}
}

/* An answer of the controller; returns the offset of its CTRL_ID. */
static uint32_t ctrl_ans(struct msg *m, uint32_t msg, uint32_t ctrl_id)
{
	req(m, QKDN_CMD_CTRL);
	put_u32(m, QKDN_A_MSG, msg);
	return put_u32(m, QKDN_A_CTRL_ID, ctrl_id);
}

/* A ROUTE nest of n nodes; offs[i] (if given) is where node i starts. */
static uint32_t put_route(struct msg *m, const char *const *nodes,
			  unsigned int n, uint32_t *offs)
{
	uint32_t off = m->nlh->nlmsg_len;
	struct nlattr *nest = mnl_attr_nest_start(m->nlh, QKDN_A_ROUTE);
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (offs)
			offs[i] = m->nlh->nlmsg_len;
		mnl_attr_put_strz(m->nlh, QKDN_A_ROUTE_NODE, nodes[i]);
	}
	mnl_attr_nest_end(m->nlh, nest);
	return off;
}

/* n route nodes "kme-1", "h-2", ... "h-<n-1>", last: "kme-3" or `last`. */
struct long_route {
	char name[QKDN_ROUTE_HOPS_MAX + 1][16];
	const char *node[QKDN_ROUTE_HOPS_MAX + 1];
};

static void long_route(struct long_route *lr, unsigned int n,
		       const char *last)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		snprintf(lr->name[i], sizeof(lr->name[i]), "h-%u", i + 1);
		lr->node[i] = lr->name[i];
	}
	lr->node[0] = "kme-1";
	lr->node[n - 1] = last;
}

/* The controller mode in a NODE_GET reply, -1 if it has none. */
static int ctrl_mode_of(const struct rep *r)
{
	const struct nlattr *a;

	if (r->err || r->nmsg != 1)
		return -1;
	a = attr_find((const struct nlmsghdr *)r->data, QKDN_A_CTRL_MODE);
	if (!a || mnl_attr_get_payload_len(a) != sizeof(uint8_t))
		return -1;
	return mnl_attr_get_u8(a);
}

static int get_ctrl_mode(struct nlc *s)
{
	struct rep *r = rep_new();
	struct msg m;
	int mode = -1;

	if (!r)
		return -1;
	req(&m, QKDN_CMD_NODE_GET);
	if (!nlc_txrx(s, m.nlh, r))
		mode = ctrl_mode_of(r);
	rep_free(r);
	return mode;
}

static void set_ctrl_mode(struct __test_metadata *_metadata, struct nlc *s,
			  uint8_t mode)
{
	struct msg m;

	req(&m, QKDN_CMD_NODE_SET);
	put_u8(&m, QKDN_A_CTRL_MODE, mode);
	ok_req(_metadata, s, &m, "NODE_SET ctrl-mode");
}

/*
 * sae-a (uid 1001) asks for keys for sae-far, whose KM (kme-3) this node
 * has no link to: a key relay. From a child, which waits for the relay to
 * end; r gets the answer.
 */
static pid_t far_key_get(FIXTURE_DATA(node) *self, uint32_t number,
			 uint32_t bits, struct rep *r)
{
	struct msg m;

	key_get_msg(&m, "sae-a", "sae-far", 0, number, bits);
	return spawn_as(self->ns, &cred_a, m.nlh, r, 1);
}

static void wait_child(struct __test_metadata *_metadata, pid_t pid)
{
	int st;

	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("child failed (status 0x%x)", st);
}

/* The child pid's request failed (r: its answer) with err and msg. */
static void child_err(struct __test_metadata *_metadata, pid_t pid,
		      const struct rep *r, const char *what, int err,
		      const char *msg)
{
	wait_child(_metadata, pid);
	check_err(_metadata, what, r, err, msg, NO_OFFS, 0);
}

/* The request the kernel multicast for far_key_get(). */
static void expect_ctrl_req(struct __test_metadata *_metadata,
			    const struct ctrl_req *q, uint32_t msg,
			    uint32_t bytes)
{
	static const uint8_t zero[QKDN_RELAY_ID_LEN];

	EXPECT_EQ(msg, q->msg);
	EXPECT_TRUE(q->has_ctrl_id && q->ctrl_id != 0)
		TH_LOG("controller request without a CTRL_ID");
	EXPECT_EQ(QKDN_RELAY_ID_LEN, q->relay_id_len);
	EXPECT_NE(0, memcmp(q->relay_id, zero, sizeof(zero)));
	EXPECT_STREQ("kme-1", q->src);
	EXPECT_STREQ("kme-3", q->dst);
	EXPECT_TRUE(q->has_bytes);
	EXPECT_EQ(bytes, q->bytes);
	EXPECT_FALSE(q->has_peer) TH_LOG("the source names a previous node");
	EXPECT_FALSE(q->has_err);
}

/* The request of the child pid makes the kernel ask the controller c: q. */
static void ctrl_asked(struct __test_metadata *_metadata, pid_t pid,
		       struct nlc *c, struct ctrl_req *q)
{
	ASSERT_LE(0, pid);
	ASSERT_TRUE(ctrl_read(c, 10000, q)) TH_LOG("no request multicast");
}

/* The controller names next the next hop of its request ctrl_id. */
static void next_hop(struct __test_metadata *_metadata, struct nlc *s,
		     uint32_t ctrl_id, const char *next)
{
	char what[64];
	struct msg m;

	ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, ctrl_id);
	put_str(&m, QKDN_A_NEXT_HOP, next);
	snprintf(what, sizeof(what), "CTRL next hop %s", next);
	ok_req(_metadata, s, &m, what);
}

/*
 * The controller refuses its request ctrl_id in an answer msg: errno err,
 * and the words why if given.
 */
static void ctrl_refuse(struct __test_metadata *_metadata, struct nlc *s,
			uint32_t msg, uint32_t ctrl_id, uint32_t err,
			const char *why)
{
	char what[64];
	struct msg m;

	ctrl_ans(&m, msg, ctrl_id);
	put_u32(&m, QKDN_A_ERRNO, err);
	if (why)
		put_str(&m, QKDN_A_ERRMSG, why);
	snprintf(what, sizeof(what), "CTRL message %u, errno %u", msg, err);
	ok_req(_metadata, s, &m, what);
}

/* Pool bytes one hop of a relay of count keys of kb bytes takes at most. */
#define RELAY_BYTES(count, kb)	((count) * (kb) + 2U * MAC_LEN)

TEST_F(node, ctrl_mode)
{
	const uint8_t four[4] = { 1 };
	struct rep *r = rep_new();
	struct nlc s2;
	struct msg m;
	uint32_t o;

	ASSERT_TRUE(r != NULL);
	EXPECT_EQ(QKDN_CTRL_DISTRIBUTED, get_ctrl_mode(&self->s));
	set_ctrl_mode(_metadata, &self->s, QKDN_CTRL_CENTRALIZED);
	EXPECT_EQ(QKDN_CTRL_CENTRALIZED, get_ctrl_mode(&self->s));
	set_ctrl_mode(_metadata, &self->s, QKDN_CTRL_DISTRIBUTED);
	EXPECT_EQ(QKDN_CTRL_DISTRIBUTED, get_ctrl_mode(&self->s));
	set_ctrl_mode(_metadata, &self->s, QKDN_CTRL_CENTRALIZED);

	req(&m, QKDN_CMD_NODE_SET);
	o = put_u8(&m, QKDN_A_CTRL_MODE, 2);
	BAD(&m, "NODE_SET ctrl-mode 2", ERANGE, "out of range", o, 0);
	req(&m, QKDN_CMD_NODE_SET);
	o = put_u8(&m, QKDN_A_CTRL_MODE, 255);
	BAD(&m, "NODE_SET ctrl-mode 255", ERANGE, "out of range", o, 0);
	req(&m, QKDN_CMD_NODE_SET);
	o = put(&m, QKDN_A_CTRL_MODE, sizeof(four), four);
	BAD(&m, "NODE_SET ctrl-mode of 4 bytes", EINVAL,
	    "invalid attribute length", o, 0);
	/* With a node ID that cannot be set, the mode does not change. */
	req(&m, QKDN_CMD_NODE_SET);
	put_u8(&m, QKDN_A_CTRL_MODE, QKDN_CTRL_DISTRIBUTED);
	o = put_str(&m, QKDN_A_NODE_ID, "kme-9");
	BAD(&m, "NODE_SET ctrl-mode with a new node ID while links exist",
	    EBUSY, "links exist", o, 0);
	req(&m, QKDN_CMD_NODE_SET);
	put_u8(&m, QKDN_A_CTRL_MODE, QKDN_CTRL_DISTRIBUTED);
	o = put_str(&m, QKDN_A_NODE_ID, "kme 9");
	BAD(&m, "NODE_SET ctrl-mode with a malformed node ID", EINVAL,
	    "ID must be", o, 0);
	req(&m, QKDN_CMD_NODE_SET);
	put_u8(&m, QKDN_A_CTRL_MODE, QKDN_CTRL_DISTRIBUTED);
	BAD_AS(&cred_a, &m, "NODE_SET ctrl-mode as uid 1001", EPERM, NO_MSG,
	       NO_OFFS, 0);
	BAD_AS(&cred_nocap, &m, "NODE_SET ctrl-mode without CAP_NET_ADMIN",
	       EPERM, NO_MSG, NO_OFFS, 0);
	EXPECT_EQ(QKDN_CTRL_CENTRALIZED, get_ctrl_mode(&self->s));

	/* Both at once; anyone reads it. */
	req(&m, QKDN_CMD_NODE_SET);
	put_str(&m, QKDN_A_NODE_ID, "kme-1");
	put_u8(&m, QKDN_A_CTRL_MODE, QKDN_CTRL_DISTRIBUTED);
	ok_req(_metadata, &self->s, &m, "NODE_SET node ID and ctrl-mode");
	req(&m, QKDN_CMD_NODE_GET);
	run_as(_metadata, self->ns, &cred_a, m.nlh, r);
	EXPECT_EQ(QKDN_CTRL_DISTRIBUTED, ctrl_mode_of(r));

	/* A node without an ID yet: the mode alone. */
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	ASSERT_EQ(0, nlc_open(&s2));
	EXPECT_EQ(QKDN_CTRL_DISTRIBUTED, get_ctrl_mode(&s2));
	set_ctrl_mode(_metadata, &s2, QKDN_CTRL_CENTRALIZED);
	EXPECT_EQ(QKDN_CTRL_CENTRALIZED, get_ctrl_mode(&s2));
	req(&m, QKDN_CMD_NODE_GET);
	ASSERT_EQ(0, nlc_txrx(&s2, m.nlh, r));
	EXPECT_TRUE(attr_find((const struct nlmsghdr *)r->data,
			      QKDN_A_NODE_ID) == NULL);
	nlc_close(&s2);
	rep_free(r);
}

static int join_as(const struct cred *c, uint32_t grp)
{
	pid_t pid;
	int st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		int fd = -1;

		if (c->open_first)
			fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
		if (c->drop_admin && drop_net_admin())
			_exit(250);
		if (c->uid && (setgroups(0, NULL) ||
			       setresgid(c->uid, c->uid, c->uid) ||
			       setresuid(c->uid, c->uid, c->uid)))
			_exit(251);
		if (!c->open_first)
			fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
		if (fd < 0)
			_exit(252);
		if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp,
			       sizeof(grp)))
			_exit(errno && errno < 250 ? errno : 249);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Only CAP_NET_ADMIN may hear the kernel's requests to the controller. */
TEST_F(node, ctrl_group_needs_cap_net_admin)
{
	uint32_t ctrl = mcast_group(&self->s, QKDN_MCGRP_CTRL);
	uint32_t events = mcast_group(&self->s, QKDN_MCGRP_EVENTS);
	struct msg m;
	uint32_t o;

	ASSERT_NE(0U, ctrl);
	ASSERT_NE(0U, events);
	EXPECT_EQ(EPERM, join_as(&cred_a, ctrl));
	EXPECT_EQ(EPERM, join_as(&cred_nocap, ctrl));
	EXPECT_EQ(EPERM, join_as(&cred_a_late, ctrl));
	EXPECT_EQ(0, join_as(&cred_root, ctrl));
	EXPECT_EQ(0, join_as(&cred_a, events));

	/* Those refused are no controller. */
	base(&m, QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-far");
	BAD_AS(&cred_a, &m, "KEY_GET to sae-far after refused joins",
	       EHOSTUNREACH, "no QKDN controller", o, 0);
}

/* Nobody on "ctrl": a relay is not even tried. */
TEST_F(node, ctrl_no_controller)
{
	uint64_t started = node_stat(&self->s, QKDN_A_STATS_RELAYS_STARTED);
	uint64_t t0, t;
	struct nlc c;
	struct msg m;
	uint32_t o;

	base(&m, QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-far");
	t0 = now_ms();
	BAD_AS(&cred_a, &m, "KEY_GET to sae-far with no controller",
	       EHOSTUNREACH, "no QKDN controller", o, 0);
	t = now_ms() - t0;
	EXPECT_TRUE(t < 1500) TH_LOG("answered after %" PRIu64 " ms", t);

	/* A controller that came and went. */
	ASSERT_EQ(0, ctrl_listen(&c));
	nlc_close(&c);
	t0 = now_ms();
	BAD_AS(&cred_a, &m, "KEY_GET to sae-far after the controller left",
	       EHOSTUNREACH, "no QKDN controller", o, 0);
	t = now_ms() - t0;
	EXPECT_TRUE(t < 1500) TH_LOG("answered after %" PRIu64 " ms", t);
	EXPECT_EQ(started, node_stat(&self->s, QKDN_A_STATS_RELAYS_STARTED));
}

/* Answers that fail the policy or name no request: no real request. */
TEST_F(node, ctrl_answer_errors)
{
	static const uint32_t bad_msgs[] = { 0, QKDN_MSG_MAX + 1, UINT32_MAX };
	static const char *const bad_ids[] = { "", "kme 2", "kme/2", "k\x01" };
	const uint8_t two[2] = { 5, 0 }, eight[8] = { 5 };
	char errmsg[QKDN_ERRMSG_MAX + 1], long_id[QKDN_ID_MAX + 1];
	const char *route[2] = { "kme-1", "kme-3" };
	char what[96];
	unsigned int i;
	struct msg m;
	uint32_t o;

	for (i = 0; i < ARRAY_SIZE(bad_msgs); i++) {
		base(&m, QKDN_CMD_CTRL, QKDN_A_MSG);
		o = put_u32(&m, QKDN_A_MSG, bad_msgs[i]);
		snprintf(what, sizeof(what), "CTRL MSG %u", bad_msgs[i]);
		BAD(&m, what, ERANGE, "out of range", o, 0);
	}
	base(&m, QKDN_CMD_CTRL, QKDN_A_MSG);
	o = put(&m, QKDN_A_MSG, sizeof(two), two);
	BAD(&m, "CTRL MSG of 2 bytes", EINVAL, "invalid attribute length", o,
	    0);
	base(&m, QKDN_CMD_CTRL, QKDN_A_MSG);
	o = put(&m, QKDN_A_MSG, sizeof(eight), eight);
	BAD(&m, "CTRL MSG of 8 bytes", EINVAL, "invalid attribute length", o,
	    0);
	base(&m, QKDN_CMD_CTRL, QKDN_A_MSG);
	o = put_str(&m, QKDN_A_MSG, "5");
	BAD(&m, "CTRL MSG as a string", EINVAL, "invalid attribute length", o,
	    0);
	base(&m, QKDN_CMD_CTRL, QKDN_A_CTRL_ID);
	o = put_u32(&m, QKDN_A_CTRL_ID, 0);
	BAD(&m, "CTRL CTRL_ID 0", ERANGE, "out of range", o, 0);
	base(&m, QKDN_CMD_CTRL, QKDN_A_CTRL_ID);
	o = put(&m, QKDN_A_CTRL_ID, sizeof(eight), eight);
	BAD(&m, "CTRL CTRL_ID of 8 bytes", EINVAL, "invalid attribute length",
	    o, 0);

	base(&m, QKDN_CMD_CTRL, 0);
	o = put_u32(&m, QKDN_A_ERRNO, ERRNO_MAX + 1);
	BAD(&m, "CTRL ERRNO 512", ERANGE, "out of range", o, 0);
	base(&m, QKDN_CMD_CTRL, 0);
	o = put_u32(&m, QKDN_A_ERRNO, 4096);
	BAD(&m, "CTRL ERRNO 4096", ERANGE, "out of range", o, 0);
	base(&m, QKDN_CMD_CTRL, 0);
	o = put_u32(&m, QKDN_A_ERRNO, UINT32_MAX);
	BAD(&m, "CTRL ERRNO 2^32-1", ERANGE, "out of range", o, 0);
	base(&m, QKDN_CMD_CTRL, 0);
	o = put(&m, QKDN_A_ERRNO, sizeof(two), two);
	BAD(&m, "CTRL ERRNO of 2 bytes", EINVAL, "invalid attribute length",
	    o, 0);
	fill_str(errmsg, 'e', QKDN_ERRMSG_MAX);
	base(&m, QKDN_CMD_CTRL, 0);
	put_u32(&m, QKDN_A_ERRNO, EHOSTUNREACH);
	o = put_str(&m, QKDN_A_ERRMSG, errmsg);
	BAD(&m, "CTRL ERRMSG of 128 characters", EINVAL, POLICY_MSG, o, 0);
	base(&m, QKDN_CMD_CTRL, 0);
	put_u32(&m, QKDN_A_ERRNO, EHOSTUNREACH);
	o = put_strn(&m, QKDN_A_ERRMSG, "no route");
	BAD(&m, "CTRL ERRMSG without NUL", EINVAL, POLICY_MSG, o, 0);
	base(&m, QKDN_CMD_CTRL, 0);
	put_u32(&m, QKDN_A_ERRNO, EHOSTUNREACH);
	o = put(&m, QKDN_A_ERRMSG, 0, NULL);
	BAD(&m, "CTRL ERRMSG empty", EINVAL, POLICY_MSG, o, 0);

	/* The next hop is a node ID. */
	for (i = 0; i < ARRAY_SIZE(bad_ids); i++) {
		base(&m, QKDN_CMD_CTRL, QKDN_A_NEXT_HOP);
		o = put_str(&m, QKDN_A_NEXT_HOP, bad_ids[i]);
		snprintf(what, sizeof(what), "CTRL NEXT_HOP \"%s\"",
			 bad_ids[i]);
		BAD(&m, what, EINVAL, "next hop node ID malformed", o, 0);
	}
	fill_str(long_id, 'x', QKDN_ID_MAX);
	base(&m, QKDN_CMD_CTRL, QKDN_A_NEXT_HOP);
	o = put_str(&m, QKDN_A_NEXT_HOP, long_id);
	BAD(&m, "CTRL NEXT_HOP of 64 characters", EINVAL, POLICY_MSG, o, 0);
	base(&m, QKDN_CMD_CTRL, QKDN_A_NEXT_HOP);
	o = put_strn(&m, QKDN_A_NEXT_HOP, "kme-2");
	BAD(&m, "CTRL NEXT_HOP without NUL", EINVAL, POLICY_MSG, o, 0);
	/* ERRNO 0 is no error: the next hop is still needed. */
	base(&m, QKDN_CMD_CTRL, QKDN_A_NEXT_HOP);
	put_u32(&m, QKDN_A_ERRNO, 0);
	BAD(&m, "CTRL with ERRNO 0 and no NEXT_HOP", EINVAL, NO_MSG, NO_OFFS,
	    QKDN_A_NEXT_HOP);
	ctrl_ans(&m, QKDN_MSG_KEY_RELAY_REQUEST, CTRL_ID_NONE);
	put_str(&m, QKDN_A_NEXT_HOP, "kme-2");
	BAD(&m, "CTRL KEY_RELAY_REQUEST without ROUTE", EINVAL, NO_MSG,
	    NO_OFFS, QKDN_A_ROUTE);

	/* What only the kernel's ctrl messages carry. */
	base(&m, QKDN_CMD_CTRL, 0);
	o = put_u32(&m, QKDN_A_RELAY_BYTES, 96);
	BAD(&m, "CTRL with RELAY_BYTES", EINVAL, "Unsupported attribute", o,
	    0);
	base(&m, QKDN_CMD_CTRL, 0);
	o = put_u8(&m, QKDN_A_MSG_DIR, QKDN_MSG_DIR_SENT);
	BAD(&m, "CTRL with MSG_DIR", EINVAL, "Unsupported attribute", o, 0);
	base(&m, QKDN_CMD_CTRL, 0);
	o = put_str(&m, QKDN_A_MSG_PEER, "controller");
	BAD(&m, "CTRL with MSG_PEER", EINVAL, "Unsupported attribute", o, 0);

	/* Messages that do not go from a controller to a KM. */
	for (i = 1; i <= QKDN_MSG_MAX; i++) {
		if (i == QKDN_MSG_NEXT_HOP_RESPONSE ||
		    i == QKDN_MSG_KEY_RELAY_REQUEST ||
		    i == QKDN_MSG_KEY_RESERVATION_REQUEST ||
		    i == QKDN_MSG_KEY_ALLOCATION_REQUEST ||
		    i == QKDN_MSG_SESSION_CREATION_NOTIFICATION ||
		    i == QKDN_MSG_SESSION_CREATION_RESPONSE)
			continue;
		base(&m, QKDN_CMD_CTRL, QKDN_A_MSG);
		o = put_u32(&m, QKDN_A_MSG, i);
		snprintf(what, sizeof(what), "CTRL with message %u", i);
		BAD(&m, what, EOPNOTSUPP,
		    "not a message a controller sends a KM", o, 0);
	}

	/* Well-formed answers to requests that do not exist. */
	base(&m, QKDN_CMD_CTRL, QKDN_A_CTRL_ID);
	o = put_u32(&m, QKDN_A_CTRL_ID, CTRL_ID_NONE);
	BAD(&m, "CTRL next hop for no request", ENOENT,
	    "no controller request with this ID is waiting", o, 0);
	base(&m, QKDN_CMD_CTRL, QKDN_A_CTRL_ID);
	o = put_u32(&m, QKDN_A_CTRL_ID, UINT32_MAX);
	BAD(&m, "CTRL next hop for request 2^32-1", ENOENT,
	    "no controller request", o, 0);
	o = ctrl_ans(&m, QKDN_MSG_KEY_RELAY_REQUEST, CTRL_ID_NONE);
	put_route(&m, route, 2, NULL);
	BAD(&m, "CTRL route for no request", ENOENT, "no controller request",
	    o, 0);
	errmsg[QKDN_ERRMSG_MAX - 1] = '\0';
	o = ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, CTRL_ID_NONE);
	put_u32(&m, QKDN_A_ERRNO, ERRNO_MAX);
	put_str(&m, QKDN_A_ERRMSG, errmsg);
	BAD(&m, "CTRL error 511 with 127 characters for no request", ENOENT,
	    "no controller request", o, 0);

	/* Only CAP_NET_ADMIN answers. */
	base(&m, QKDN_CMD_CTRL, 0);
	BAD_AS(&cred_a, &m, "CTRL as uid 1001", EPERM, NO_MSG, NO_OFFS, 0);
	BAD_AS(&cred_nocap, &m, "CTRL without CAP_NET_ADMIN", EPERM, NO_MSG,
	       NO_OFFS, 0);
	BAD_AS(&cred_a_late, &m, "CTRL as uid 1001 on a socket root opened",
	       EPERM, NO_MSG, NO_OFFS, 0);
}

/* A request of cmd with a ROUTE nest to come; the rest well-formed. */
static void route_base(struct msg *m, uint8_t cmd)
{
	if (cmd == QKDN_CMD_CTRL)
		ctrl_ans(m, QKDN_MSG_KEY_RELAY_REQUEST, CTRL_ID_NONE);
	else
		base(m, cmd, 0);
}

/* Malformed route nests, in a controller answer or a published route. */
static void route_nest_errors(struct __test_metadata *_metadata,
			      FIXTURE_DATA(node) *self, uint8_t cmd)
{
	static const char *const twice[] = {
		"kme-1", "kme-2", "kme-1", "kme-3",
	};
	static const char *const empty[] = { "kme-1", "", "kme-3" };
	static const char *const space[] = { "kme-1", "kme 2", "kme-3" };
	static const char *const one[] = { "kme-1" };
	const char *name = cmd_names[cmd];
	uint32_t offs[QKDN_ROUTE_HOPS_MAX + 1], o;
	char long_id[QKDN_ID_MAX + 1], what[96];
	struct long_route lr;
	struct nlattr *nest;
	struct msg m;

	route_base(&m, cmd);
	o = put(&m, QKDN_A_ROUTE | NLA_F_NESTED, 0, NULL);
	snprintf(what, sizeof(what), "%s with an empty ROUTE", name);
	BAD_R(&m, what, EINVAL, "a route names at least two nodes", o, 0);
	route_base(&m, cmd);
	o = put_route(&m, one, 1, NULL);
	snprintf(what, sizeof(what), "%s with a route of one node", name);
	BAD_R(&m, what, EINVAL, "a route names at least two nodes", o, 0);
	long_route(&lr, QKDN_ROUTE_HOPS_MAX + 1, "kme-3");
	route_base(&m, cmd);
	put_route(&m, lr.node, QKDN_ROUTE_HOPS_MAX + 1, offs);
	snprintf(what, sizeof(what), "%s with a route of 17 nodes", name);
	BAD_R(&m, what, E2BIG, "route too long", offs[QKDN_ROUTE_HOPS_MAX],
	      0);
	route_base(&m, cmd);
	put_route(&m, twice, 4, offs);
	snprintf(what, sizeof(what), "%s with a route passing kme-1 twice",
		 name);
	BAD_R(&m, what, EINVAL, "route passes a node twice", offs[2], 0);
	route_base(&m, cmd);
	put_route(&m, empty, 3, offs);
	snprintf(what, sizeof(what), "%s with an empty route node", name);
	BAD_R(&m, what, EINVAL, "route node ID malformed", offs[1], 0);
	route_base(&m, cmd);
	put_route(&m, space, 3, offs);
	snprintf(what, sizeof(what), "%s with route node \"kme 2\"", name);
	BAD_R(&m, what, EINVAL, "route node ID malformed", offs[1], 0);

	/* The nest's own policy. */
	route_base(&m, cmd);
	nest = mnl_attr_nest_start(m.nlh, QKDN_A_ROUTE);
	mnl_attr_put_strz(m.nlh, QKDN_A_ROUTE_NODE, "kme-1");
	o = put_strn(&m, QKDN_A_ROUTE_NODE, "kme-2");
	mnl_attr_put_strz(m.nlh, QKDN_A_ROUTE_NODE, "kme-3");
	mnl_attr_nest_end(m.nlh, nest);
	snprintf(what, sizeof(what), "%s with a route node without NUL", name);
	BAD_R(&m, what, EINVAL, POLICY_MSG, o, 0);
	fill_str(long_id, 'x', QKDN_ID_MAX);
	route_base(&m, cmd);
	nest = mnl_attr_nest_start(m.nlh, QKDN_A_ROUTE);
	mnl_attr_put_strz(m.nlh, QKDN_A_ROUTE_NODE, "kme-1");
	o = put_str(&m, QKDN_A_ROUTE_NODE, long_id);
	mnl_attr_nest_end(m.nlh, nest);
	snprintf(what, sizeof(what), "%s with a route node of 64 characters",
		 name);
	BAD_R(&m, what, EINVAL, POLICY_MSG, o, 0);
	route_base(&m, cmd);
	nest = mnl_attr_nest_start(m.nlh, QKDN_A_ROUTE);
	mnl_attr_put_strz(m.nlh, QKDN_A_ROUTE_NODE, "kme-1");
	o = put_str(&m, QKDN_A_ROUTE_MAX + 1, "kme-2");
	mnl_attr_put_strz(m.nlh, QKDN_A_ROUTE_NODE, "kme-3");
	mnl_attr_nest_end(m.nlh, nest);
	snprintf(what, sizeof(what), "%s with attribute %u in ROUTE", name,
		 QKDN_A_ROUTE_MAX + 1);
	BAD_R(&m, what, EINVAL, "Unknown attribute type", o, 0);
	route_base(&m, cmd);
	o = put_route(&m, twice + 2, 2, NULL);
	((struct nlattr *)(m.buf + o))->nla_type &= ~NLA_F_NESTED;
	snprintf(what, sizeof(what), "%s with ROUTE without NLA_F_NESTED",
		 name);
	BAD_R(&m, what, EINVAL, "NLA_F_NESTED", o, 0);
	route_base(&m, cmd);
	o = put_str(&m, QKDN_A_ROUTE, "kme-1");
	snprintf(what, sizeof(what), "%s with ROUTE as a string", name);
	BAD_R(&m, what, EINVAL, "NLA_F_NESTED", o, 0);
}

TEST_F(node, ctrl_route_errors)
{
	struct long_route lr;
	struct msg m;
	uint32_t o;

	route_nest_errors(_metadata, self, QKDN_CMD_CTRL);
	/* 16 nodes are a route: it names no waiting request. */
	long_route(&lr, QKDN_ROUTE_HOPS_MAX, "kme-3");
	o = ctrl_ans(&m, QKDN_MSG_KEY_RELAY_REQUEST, CTRL_ID_NONE);
	put_route(&m, lr.node, QKDN_ROUTE_HOPS_MAX, NULL);
	BAD(&m, "CTRL route of 16 nodes for no request", ENOENT,
	    "no controller request", o, 0);
}

/*
 * "Key relay next hop request" (distributed QKDN): what the kernel asks,
 * answers it refuses while the request waits, the answer it takes once.
 */
TEST_F_TIMEOUT(node, ctrl_next_hop, 60)
{
	static const char *const route[] = { "kme-1", "kme-3" };
	const char *what = "the node, after a failed relay";
	uint64_t started, failed;
	struct rep *r = rep_new();
	struct ctrl_req q;
	struct snap *a;
	struct nlc c;
	struct msg m;
	uint32_t o;
	pid_t pid;

	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(0, ctrl_listen(&c));
	a = state_before(_metadata, &self->s, F_NOSTATS, what);
	started = node_stat(&self->s, QKDN_A_STATS_RELAYS_STARTED);
	failed = node_stat(&self->s, QKDN_A_STATS_RELAYS_FAILED);

	pid = far_key_get(self, 2, 256, r);
	ctrl_asked(_metadata, pid, &c, &q);
	expect_ctrl_req(_metadata, &q, QKDN_MSG_NEXT_HOP_REQUEST,
			RELAY_BYTES(2, 32));

	ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id);
	put_str(&m, QKDN_A_NEXT_HOP, "kme-3");
	BAD(&m, "next hop kme-3, no link to it", EHOSTUNREACH,
	    "no KM link to the next hop", NO_OFFS, 0);
	ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id);
	put_str(&m, QKDN_A_NEXT_HOP, "kme-1");
	BAD(&m, "next hop this node", EHOSTUNREACH,
	    "no KM link to the next hop", NO_OFFS, 0);
	ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id);
	o = put_str(&m, QKDN_A_NEXT_HOP, "kme:2/");
	BAD(&m, "next hop \"kme:2/\"", EINVAL, "next hop node ID malformed",
	    o, 0);
	o = ctrl_ans(&m, QKDN_MSG_KEY_RELAY_REQUEST, q.ctrl_id);
	put_route(&m, route, 2, NULL);
	BAD(&m, "a route for a next hop request", ENOENT,
	    "no controller request", o, 0);
	o = ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id + 1);
	put_str(&m, QKDN_A_NEXT_HOP, "kme-2");
	BAD(&m, "next hop for the request after", ENOENT,
	    "no controller request", o, 0);

	/* Still waiting: the right answer, once. */
	next_hop(_metadata, &self->s, q.ctrl_id, "kme-2");
	o = ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id);
	put_str(&m, QKDN_A_NEXT_HOP, "kme-2");
	BAD(&m, "the same answer again", ENOENT,
	    "no controller request with this ID is waiting", o, 0);

	/* Link 1 to kme-2 is down: the relay ends there. */
	child_err(_metadata, pid, r, "KEY_GET relayed over a link that is down",
		  EHOSTUNREACH,
		  "key relay failed at kme-1: the KM link to the next hop is down");
	expect_state(_metadata, &self->s, a, F_NOSTATS, what);
	EXPECT_EQ(started + 1,
		  node_stat(&self->s, QKDN_A_STATS_RELAYS_STARTED));
	EXPECT_EQ(failed + 1, node_stat(&self->s, QKDN_A_STATS_RELAYS_FAILED));
	EXPECT_FALSE(ctrl_read(&c, 100, &q)) TH_LOG("a second request (msg %u)",
						    q.msg);
	nlc_close(&c);
	rep_free(r);
}

/* "Key relay request notification" (centralized QKDN): full routes. */
TEST_F_TIMEOUT(node, ctrl_key_relay_request, 60)
{
	static const char *const not_here[] = { "kme-2", "kme-3" };
	static const char *const not_there[] = { "kme-1", "kme-2" };
	static const char *const no_link[] = { "kme-1", "kme-3" };
	struct rep *r = rep_new();
	struct long_route lr;
	struct ctrl_req q;
	struct nlc c;
	struct msg m;
	uint32_t o;
	pid_t pid;

	ASSERT_TRUE(r != NULL);
	set_ctrl_mode(_metadata, &self->s, QKDN_CTRL_CENTRALIZED);
	ASSERT_EQ(0, ctrl_listen(&c));
	pid = far_key_get(self, 1, 64, r);
	ctrl_asked(_metadata, pid, &c, &q);
	expect_ctrl_req(_metadata, &q,
			QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION,
			RELAY_BYTES(1, 8));

	ctrl_ans(&m, QKDN_MSG_KEY_RELAY_REQUEST, q.ctrl_id);
	put_route(&m, not_here, 2, NULL);
	BAD(&m, "a route not starting at this node", EINVAL,
	    "the route does not start at this node", NO_OFFS, 0);
	ctrl_ans(&m, QKDN_MSG_KEY_RELAY_REQUEST, q.ctrl_id);
	put_route(&m, not_there, 2, NULL);
	BAD(&m, "a route not ending at the destination", EINVAL,
	    "the route does not end at the relay's destination", NO_OFFS, 0);
	ctrl_ans(&m, QKDN_MSG_KEY_RELAY_REQUEST, q.ctrl_id);
	put_route(&m, no_link, 2, NULL);
	BAD(&m, "a route whose first hop has no link", EHOSTUNREACH,
	    "no KM link to the next hop", NO_OFFS, 0);
	o = ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id);
	put_str(&m, QKDN_A_NEXT_HOP, "kme-2");
	BAD(&m, "a next hop for a route request", ENOENT,
	    "no controller request", o, 0);

	/* The longest route there is. */
	long_route(&lr, QKDN_ROUTE_HOPS_MAX, "kme-3");
	lr.node[1] = "kme-2";
	ctrl_ans(&m, QKDN_MSG_KEY_RELAY_REQUEST, q.ctrl_id);
	put_route(&m, lr.node, QKDN_ROUTE_HOPS_MAX, NULL);
	ok_req(_metadata, &self->s, &m, "CTRL route of 16 nodes");
	o = ctrl_ans(&m, QKDN_MSG_KEY_RELAY_REQUEST, q.ctrl_id);
	put_route(&m, lr.node, QKDN_ROUTE_HOPS_MAX, NULL);
	BAD(&m, "the same route again", ENOENT, "no controller request", o,
	    0);

	child_err(_metadata, pid, r, "KEY_GET routed over a link that is down",
		  EHOSTUNREACH,
		  "key relay failed at kme-1: the KM link to the next hop is down");
	nlc_close(&c);
	rep_free(r);
}

/* The controller knows no route: its errno and words reach the SAE. */
TEST_F_TIMEOUT(node, ctrl_errno_answer, 60)
{
	char errmsg[QKDN_ERRMSG_MAX], want[256];
	struct rep *r = rep_new();
	struct ctrl_req q;
	struct nlc c;
	struct msg m;
	uint32_t o;
	pid_t pid;

	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(0, ctrl_listen(&c));

	/* Too much to relay in one frame: refused before asking. */
	base(&m, QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID);
	put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-far");
	put_u32(&m, QKDN_A_KEY_NUMBER, 7);
	put_u32(&m, QKDN_A_KEY_SIZE, 8192);
	BAD_AS(&cred_a, &m, "KEY_GET of 7 x 8192 bits to relay", E2BIG,
	       "too many key bytes to relay", NO_OFFS, 0);
	EXPECT_FALSE(ctrl_read(&c, 100, &q))
		TH_LOG("the controller was asked (msg %u)", q.msg);

	pid = far_key_get(self, 6, 8192, r);
	ctrl_asked(_metadata, pid, &c, &q);
	expect_ctrl_req(_metadata, &q, QKDN_MSG_NEXT_HOP_REQUEST,
			RELAY_BYTES(6, 1024));
	ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id);
	o = put_u32(&m, QKDN_A_ERRNO, ERRNO_MAX + 1);
	BAD(&m, "CTRL ERRNO 512", ERANGE, "out of range", o, 0);
	ctrl_refuse(_metadata, &self->s, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id,
		    ENETUNREACH, "kme-3 is cut off");
	o = ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id);
	put_u32(&m, QKDN_A_ERRNO, ENETUNREACH);
	BAD(&m, "the same error again", ENOENT, "no controller request", o, 0);
	child_err(_metadata, pid, r, "KEY_GET the controller has no route for",
		  ENETUNREACH, "key relay failed at kme-1: kme-3 is cut off");

	/* Without words; then the longest words. */
	pid = far_key_get(self, 1, 256, r);
	ctrl_asked(_metadata, pid, &c, &q);
	ctrl_refuse(_metadata, &self->s, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id,
		    ECONNREFUSED, NULL);
	child_err(_metadata, pid, r, "KEY_GET refused without a reason",
		  ECONNREFUSED,
		  "key relay failed at kme-1: no route to the destination KM");

	fill_str(errmsg, 'w', sizeof(errmsg) - 1);
	snprintf(want, sizeof(want), "key relay failed at kme-1: %s", errmsg);
	pid = far_key_get(self, 1, 256, r);
	ctrl_asked(_metadata, pid, &c, &q);
	ctrl_refuse(_metadata, &self->s, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id,
		    ERRNO_MAX, errmsg);
	child_err(_metadata, pid, r, "KEY_GET refused with the longest reason",
		  ERRNO_MAX, want);
	EXPECT_STREQ(want, r->msg);
	nlc_close(&c);
	rep_free(r);
}

/* A controller that listens but never answers. */
TEST_F_TIMEOUT(node, ctrl_timeout, 60)
{
	const char *what = "the node, after a relay timed out";
	struct rep *r = rep_new();
	struct ctrl_req q;
	uint64_t t0, t;
	struct snap *a;
	struct nlc c;
	struct msg m;
	uint32_t o;
	pid_t pid;

	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(0, ctrl_listen(&c));
	a = state_before(_metadata, &self->s, F_NOSTATS, what);
	t0 = now_ms();
	pid = far_key_get(self, 1, 256, r);
	ctrl_asked(_metadata, pid, &c, &q);
	wait_child(_metadata, pid);
	t = now_ms() - t0;
	check_err(_metadata, "KEY_GET with a silent controller", r, ETIMEDOUT,
		  "key relay failed at kme-1: the QKDN controller did not answer",
		  NO_OFFS, 0);
	EXPECT_TRUE(t >= 1900 && t < 8000)
		TH_LOG("answered after %" PRIu64 " ms, expected about 2000", t);

	/* Too late. */
	o = ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id);
	put_str(&m, QKDN_A_NEXT_HOP, "kme-2");
	BAD(&m, "an answer after the timeout", ENOENT,
	    "no controller request", o, 0);
	expect_state(_metadata, &self->s, a, F_NOSTATS, what);
	nlc_close(&c);
	rep_free(r);
}

/*
 * A node's controller hears and answers that node only; the controller of
 * another node (network namespace) is none for this one.
 */
TEST_F_TIMEOUT(node, ctrl_netns, 60)
{
	struct rep *r = rep_new();
	struct ctrl_req q, q2;
	struct nlc ca, cb, sb;
	struct msg m;
	uint32_t o;
	pid_t pid;

	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(0, unshare(CLONE_NEWNET));
	ASSERT_EQ(0, ctrl_listen(&cb));
	ASSERT_EQ(0, nlc_open(&sb));
	ASSERT_EQ(0, setns(self->ns, CLONE_NEWNET));

	/* Link 1 holds no key: no relay is tried, as with no controller. */
	base(&m, QKDN_CMD_KEY_GET, 0);
	BAD_AS(&cred_a, &m,
	       "KEY_GET over an empty link, a controller in another namespace",
	       ENOSPC, "not enough key in the pool", NO_OFFS, 0);
	base(&m, QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID);
	put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-far");
	bad(_metadata, &self->s, self->ns, &cred_a, &m,
	    "KEY_GET to sae-far, a controller in another namespace",
	    EHOSTUNREACH, "no QKDN controller", NO_OFFS, 0, F_NOSTATS);

	ASSERT_EQ(0, ctrl_listen(&ca));
	pid = far_key_get(self, 1, 256, r);
	ctrl_asked(_metadata, pid, &ca, &q);
	EXPECT_FALSE(ctrl_read(&cb, 200, &q2))
		TH_LOG("another namespace's controller heard the request");
	o = ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id);
	put_str(&m, QKDN_A_NEXT_HOP, "kme-2");
	bad(_metadata, &sb, -1, NULL, &m, "an answer from another namespace",
	    ENOENT, "no controller request", o, 0, 0);
	ctrl_refuse(_metadata, &self->s, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id,
		    EHOSTUNREACH, NULL);
	child_err(_metadata, pid, r,
		  "KEY_GET answered by this node's controller", EHOSTUNREACH,
		  "no route to the destination KM");
	nlc_close(&ca);
	nlc_close(&cb);
	nlc_close(&sb);
	rep_free(r);
}

/* ---- the route table the controller publishes ---- */

struct route {
	char next[QKDN_ID_MAX];
	uint64_t metric, avail;	/* UINT64_MAX: absent */
	int nhops;		/* -1: no ROUTE nest */
	char hops[QKDN_ROUTE_HOPS_MAX + 1][QKDN_ID_MAX];
};

static int route_dump(struct nlc *s, struct rep *r)
{
	struct msg m;

	dump_req(&m, QKDN_CMD_ROUTE_GET);
	return nlc_txrx(s, m.nlh, r);
}

/* The route to dst in a ROUTE_GET dump. */
static bool route_find(const struct rep *r, const char *dst, struct route *rt)
{
	const struct nlmsghdr *nlh;

	rep_for_each(nlh, r) {
		const struct nlattr *a = attr_find(nlh, QKDN_A_DST_NODE_ID), *b;
		char id[QKDN_ID_MAX];

		if (!a)
			continue;
		copy_str(id, sizeof(id), a);
		if (strcmp(id, dst))
			continue;
		memset(rt, 0, sizeof(*rt));
		a = attr_find(nlh, QKDN_A_NEXT_HOP);
		if (a)
			copy_str(rt->next, sizeof(rt->next), a);
		rt->metric = get_num(nlh, QKDN_A_ROUTE_METRIC);
		rt->avail = get_num(nlh, QKDN_A_ROUTE_AVAIL);
		rt->nhops = -1;
		a = attr_find(nlh, QKDN_A_ROUTE);
		if (!a)
			return true;
		rt->nhops = 0;
		mnl_attr_for_each_nested(b, a) {
			if (mnl_attr_get_type(b) != QKDN_A_ROUTE_NODE ||
			    rt->nhops > QKDN_ROUTE_HOPS_MAX)
				continue;
			copy_str(rt->hops[rt->nhops], QKDN_ID_MAX, b);
			rt->nhops++;
		}
		return true;
	}
	return false;
}

static void route_new(struct __test_metadata *_metadata, struct nlc *s,
		      const char *dst, const char *next, int64_t metric,
		      int64_t avail, const char *const *hops, unsigned int n)
{
	struct msg m;

	req(&m, QKDN_CMD_ROUTE_NEW);
	put_str(&m, QKDN_A_DST_NODE_ID, dst);
	put_str(&m, QKDN_A_NEXT_HOP, next);
	if (metric >= 0)
		put_u32(&m, QKDN_A_ROUTE_METRIC, metric);
	if (avail >= 0)
		put_u64(&m, QKDN_A_ROUTE_AVAIL, avail);
	if (n)
		put_route(&m, hops, n, NULL);
	ok_req(_metadata, s, &m, "ROUTE_NEW");
}

static void route_del(struct __test_metadata *_metadata, struct nlc *s,
		      const char *dst)
{
	struct msg m;

	req(&m, QKDN_CMD_ROUTE_DEL);
	if (dst)
		put_str(&m, QKDN_A_DST_NODE_ID, dst);
	ok_req(_metadata, s, &m, "ROUTE_DEL");
}

/*
 * Routes to n-<first> .. n-<first+count-1> via kme-2, many requests to a
 * send. Returns how many were refused, or -1.
 */
static int route_fill(struct nlc *s, unsigned int first, unsigned int count)
{
	int fd = mnl_socket_get_fd(s->nl), bad = 0;
	char *buf = malloc(MSG_MAX);
	unsigned int done = 0;

	if (!buf)
		return -1;
	while (done < count) {
		unsigned int batch = count - done < 64 ? count - done : 64;
		uint32_t seq0 = s->seq + 1, acks = 0, k;
		size_t len = 0;

		for (k = 0; k < batch; k++) {
			struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + len);
			struct genlmsghdr *g;
			char dst[16];

			nlh->nlmsg_type = qkdn_family;
			nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
			nlh->nlmsg_seq = ++s->seq;
			g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
			g->cmd = QKDN_CMD_ROUTE_NEW;
			g->version = QKDN_GENL_VERSION;
			snprintf(dst, sizeof(dst), "n-%u", first + done + k);
			mnl_attr_put_strz(nlh, QKDN_A_DST_NODE_ID, dst);
			mnl_attr_put_strz(nlh, QKDN_A_NEXT_HOP, "kme-2");
			mnl_attr_put_u32(nlh, QKDN_A_ROUTE_METRIC, k);
			len += NLMSG_ALIGN(nlh->nlmsg_len);
		}
		if (send(fd, buf, len, 0) != (ssize_t)len)
			goto fail;
		while (acks < batch) {
			ssize_t n = recv(fd, s->rx, RX_MAX, 0);
			const struct nlmsghdr *h;
			int rem;

			if (n <= 0)
				goto fail;
			rem = n;
			for (h = (const struct nlmsghdr *)s->rx;
			     mnl_nlmsg_ok(h, rem);
			     h = mnl_nlmsg_next(h, &rem)) {
				const struct nlmsgerr *e;

				if (h->nlmsg_type != NLMSG_ERROR ||
				    h->nlmsg_seq - seq0 >= batch)
					continue;
				e = mnl_nlmsg_get_payload(h);
				acks++;
				if (e->error)
					bad++;
			}
		}
		done += batch;
	}
	free(buf);
	return bad;
fail:
	free(buf);
	return -1;
}

/* The gateway binds at most QKDN_GW_SOCKS_MAX sockets. */
TEST_F(node, gateway_socket_limit)
{
	struct nlc g[QKDN_GW_SOCKS_MAX + 1];
	unsigned int i;
	struct msg m;

	for (i = 0; i < QKDN_GW_SOCKS_MAX; i++) {
		ASSERT_EQ(0, nlc_open(&g[i]));
		gw_bind(_metadata, &g[i]);
	}
	ASSERT_EQ(0, nlc_open(&g[i]));
	req(&m, QKDN_CMD_GW_BIND);
	bad(_metadata, &g[i], -1, NULL, &m, "GW_BIND of a 65th socket", ENOSPC,
	    "too many sockets", NO_OFFS, 0, 0);
	/* One closed, its place is free. */
	nlc_close(&g[0]);
	gw_bind(_metadata, &g[i]);
	for (i = 1; i <= QKDN_GW_SOCKS_MAX; i++)
		nlc_close(&g[i]);
}

/* A key request that would wait for a relay fails at once with nowait. */
TEST_F(node, nowait_relay)
{
	struct nlc c;
	struct msg m;

	ASSERT_EQ(0, ctrl_listen(&c));
	key_get_msg(&m, "sae-a", "sae-far", 0, 0, 0);
	put(&m, QKDN_A_NOWAIT, 0, NULL);
	BAD_AS(&cred_a, &m, "KEY_GET for sae-far, nowait, a controller listens",
	       EWOULDBLOCK, "would wait for a key relay", NO_OFFS, 0);
	key_get_msg(&m, "sae-a", "sae-far", 0, 0, 0);
	put_u32(&m, QKDN_A_NOWAIT, 1);
	BAD_AS(&cred_a, &m, "KEY_GET with a nowait of 4 bytes", ERANGE,
	       POLICY_MSG, NO_OFFS, 0);
	nlc_close(&c);
}

/*
 * Multicast key requests (ADD_SLAVE_SAE_ID) that cannot be served: each
 * fails with its errno and extack, and takes nothing from any pool.
 */
TEST_F(node, multicast_errors)
{
	static const char *const unknown[] = { "sae-nobody" };
	static const char *const local[] = { "sae-l" };
	static const char *const again[] = { "sae-b" };
	static const char *const twice[] = { "sae-far", "sae-far" };
	static const char *const far_unknown[] = { "sae-far", "sae-nobody" };
	static const char *const far[] = { "sae-far" };
	static const uint64_t no_nul = 0x4141414141414141ULL;
	char names[QKDN_SLAVES_MAX][16], long_id[QKDN_ID_MAX + 1], what[96];
	const char *many[QKDN_SLAVES_MAX];
	uint32_t offs[QKDN_SLAVES_MAX], o;
	struct ctrl_req q;
	struct nlc c;
	struct msg m;
	unsigned int i;

	/* Remote SAEs behind kme-3 .. kme-10, nodes without a link. */
	for (i = 0; i < QKDN_SLAVES_MAX; i++) {
		char node[16];

		snprintf(names[i], sizeof(names[i]), "sae-m%u", i + 1);
		snprintf(node, sizeof(node), "kme-%u", i + 3);
		new_sae(_metadata, &self->s, names[i], 0, node);
		many[i] = names[i];
	}

	mc_msg(&m, "sae-a", "sae-b", unknown, 1, 0, 0, offs);
	BAD_AS(&cred_a, &m, "KEY_GET with an unknown additional slave",
	       ENOENT, "no such SAE", offs[0], 0);
	mc_msg(&m, "sae-a", "sae-b", far_unknown, 2, 0, 0, offs);
	BAD_AS(&cred_a, &m, "KEY_GET with a known, then an unknown additional slave",
	       ENOENT, "no such SAE", offs[1], 0);
	mc_msg(&m, "sae-a", "sae-b", local, 1, 0, 0, offs);
	BAD_AS(&cred_a, &m, "KEY_GET with a local additional slave",
	       EOPNOTSUPP, "served by this node", offs[0], 0);
	mc_msg(&m, "sae-a", "sae-b", again, 1, 0, 0, offs);
	BAD_AS(&cred_a, &m, "KEY_GET naming the slave again", EINVAL,
	       "named twice", offs[0], 0);
	mc_msg(&m, "sae-a", "sae-b", twice, 2, 0, 0, offs);
	BAD_AS(&cred_a, &m, "KEY_GET naming an additional slave twice", EINVAL,
	       "named twice", offs[1], 0);
	mc_msg(&m, "sae-a", "sae-b", many, QKDN_SLAVES_MAX, 0, 0, offs);
	BAD_AS(&cred_a, &m, "KEY_GET with 8 additional slaves", E2BIG,
	       "too many additional slave SAEs", offs[QKDN_SLAVES_MAX - 1], 0);

	/* Not the master SAE's uid: as for any key request. */
	mc_msg(&m, "sae-a", "sae-b", far, 1, 0, 0, NULL);
	BAD(&m, "multicast KEY_GET as root for sae-a", EACCES,
	    "may not act as the master", NO_OFFS, 0);
	BAD_AS(&cred_b, &m, "multicast KEY_GET as uid 1002 for sae-a", EACCES,
	       "may not act as the master", NO_OFFS, 0);

	/* Not with a session: its keys go to one slave SAE. */
	key_get_msg(&m, "sae-a", "sae-b", SESSION_NONE, 0, 0);
	put_str(&m, QKDN_A_ADD_SLAVE_SAE_ID, "sae-far");
	BAD_AS(&cred_a, &m, "multicast KEY_GET with a session ID", EINVAL,
	       "one slave SAE", NO_OFFS, 0);

	/* The policy: NUL-terminated strings of at most 63 characters. */
	fill_str(long_id, 'x', QKDN_ID_MAX);
	key_get_msg(&m, "sae-a", "sae-b", 0, 0, 0);
	o = put_strn(&m, QKDN_A_ADD_SLAVE_SAE_ID, "sae-far");
	BAD_AS(&cred_a, &m, "ADD_SLAVE_SAE_ID without NUL", EINVAL, POLICY_MSG,
	       o, 0);
	key_get_msg(&m, "sae-a", "sae-b", 0, 0, 0);
	o = put_u64(&m, QKDN_A_ADD_SLAVE_SAE_ID, no_nul);
	BAD_AS(&cred_a, &m, "ADD_SLAVE_SAE_ID as a u64", EINVAL, POLICY_MSG,
	       o, 0);
	key_get_msg(&m, "sae-a", "sae-b", 0, 0, 0);
	put_str(&m, QKDN_A_ADD_SLAVE_SAE_ID, "sae-far");
	o = put_str(&m, QKDN_A_ADD_SLAVE_SAE_ID, long_id);
	BAD_AS(&cred_a, &m, "ADD_SLAVE_SAE_ID of 64 characters", EINVAL,
	       POLICY_MSG, o, 0);
	key_get_msg(&m, "sae-a", "sae-b", 0, 0, 0);
	o = put_strn(&m, QKDN_A_ADD_SLAVE_SAE_ID, long_id);
	BAD_AS(&cred_a, &m, "ADD_SLAVE_SAE_ID of 64 characters without NUL",
	       EINVAL, POLICY_MSG, o, 0);

	/* Valid, but no key to send straight and no controller to route. */
	mc_msg(&m, "sae-a", "sae-b", far, 1, 0, 0, NULL);
	bad(_metadata, &self->s, self->ns, &cred_a, &m,
	    "multicast KEY_GET with no controller", EHOSTUNREACH,
	    "no QKDN controller", NO_OFFS, 0, F_NOSTATS);
	mc_msg(&m, "sae-a", "sae-b", many, QKDN_SLAVES_MAX - 1, 0, 0, NULL);
	bad(_metadata, &self->s, self->ns, &cred_a, &m,
	    "KEY_GET with 7 additional slaves, no controller", EHOSTUNREACH,
	    "no QKDN controller", NO_OFFS, 0, F_NOSTATS);
	/* Too many key bytes for one relay frame. */
	mc_msg(&m, "sae-a", "sae-b", far, 1, 7, QKDN_KEY_SIZE_MAX, NULL);
	bad(_metadata, &self->s, self->ns, &cred_a, &m,
	    "multicast KEY_GET of 7 x 8192 bits", E2BIG, "too many key bytes",
	    NO_OFFS, 0, F_NOSTATS);

	/* A multicast always waits for its relays: nowait refuses at once,
	 * with or without a controller, asking it nothing.
	 */
	for (i = 0; i < 2; i++) {
		if (i)
			ASSERT_EQ(0, ctrl_listen(&c));
		mc_msg(&m, "sae-a", "sae-b", far, 1, 0, 0, NULL);
		put(&m, QKDN_A_NOWAIT, 0, NULL);
		snprintf(what, sizeof(what), "multicast KEY_GET, nowait, %s",
			 i ? "a controller listens" : "no controller");
		BAD_AS(&cred_a, &m, what, EWOULDBLOCK,
		       "would wait for a key relay", NO_OFFS, 0);
	}
	EXPECT_FALSE(ctrl_read(&c, 200, &q))
		TH_LOG("the controller was asked (msg %u)", q.msg);
	nlc_close(&c);
}

TEST_F(node, route_errors)
{
	static const char *const bad_ids[] = { "", "kme 3", "kme,3", "k\x01" };
	const uint8_t two[2] = { 5, 0 }, four[4] = { 5 }, eight[8] = { 5 };
	char long_id[QKDN_ID_MAX + 1], what[96];
	unsigned int i;
	struct msg m;
	uint32_t o;

	fill_str(long_id, 'x', QKDN_ID_MAX);
	/* A table that must not change. */
	route_new(_metadata, &self->s, "kme-3", "kme-2", 5, 4096, NULL, 0);

	base(&m, QKDN_CMD_ROUTE_NEW, 0);
	BAD_AS_R(&cred_a, &m, "ROUTE_NEW as uid 1001", EPERM, NO_MSG, NO_OFFS,
		 0);
	req(&m, QKDN_CMD_ROUTE_DEL);
	BAD_AS_R(&cred_a, &m, "ROUTE_DEL of all as uid 1001", EPERM, NO_MSG,
		 NO_OFFS, 0);
	BAD_AS_R(&cred_nocap, &m, "ROUTE_DEL of all without CAP_NET_ADMIN",
		 EPERM, NO_MSG, NO_OFFS, 0);

	for (i = 0; i < ARRAY_SIZE(bad_ids); i++) {
		base(&m, QKDN_CMD_ROUTE_NEW, QKDN_A_DST_NODE_ID);
		o = put_str(&m, QKDN_A_DST_NODE_ID, bad_ids[i]);
		snprintf(what, sizeof(what), "ROUTE_NEW DST \"%s\"",
			 bad_ids[i]);
		BAD_R(&m, what, EINVAL, "destination node ID malformed", o, 0);
		base(&m, QKDN_CMD_ROUTE_NEW, QKDN_A_NEXT_HOP);
		o = put_str(&m, QKDN_A_NEXT_HOP, bad_ids[i]);
		snprintf(what, sizeof(what), "ROUTE_NEW NEXT_HOP \"%s\"",
			 bad_ids[i]);
		BAD_R(&m, what, EINVAL, "next hop node ID malformed", o, 0);
		base(&m, QKDN_CMD_ROUTE_DEL, QKDN_A_DST_NODE_ID);
		o = put_str(&m, QKDN_A_DST_NODE_ID, bad_ids[i]);
		snprintf(what, sizeof(what), "ROUTE_DEL DST \"%s\"",
			 bad_ids[i]);
		BAD_R(&m, what, EINVAL, "destination node ID malformed", o, 0);
	}
	base(&m, QKDN_CMD_ROUTE_NEW, QKDN_A_DST_NODE_ID);
	o = put_strn(&m, QKDN_A_DST_NODE_ID, "kme-3");
	BAD_R(&m, "ROUTE_NEW DST without NUL", EINVAL, POLICY_MSG, o, 0);
	base(&m, QKDN_CMD_ROUTE_NEW, QKDN_A_DST_NODE_ID);
	o = put_str(&m, QKDN_A_DST_NODE_ID, long_id);
	BAD_R(&m, "ROUTE_NEW DST of 64 characters", EINVAL, POLICY_MSG, o, 0);
	base(&m, QKDN_CMD_ROUTE_NEW, QKDN_A_NEXT_HOP);
	o = put_str(&m, QKDN_A_NEXT_HOP, long_id);
	BAD_R(&m, "ROUTE_NEW NEXT_HOP of 64 characters", EINVAL, POLICY_MSG,
	      o, 0);
	base(&m, QKDN_CMD_ROUTE_DEL, QKDN_A_DST_NODE_ID);
	o = put_strn(&m, QKDN_A_DST_NODE_ID, "kme-3");
	BAD_R(&m, "ROUTE_DEL DST without NUL", EINVAL, POLICY_MSG, o, 0);

	base(&m, QKDN_CMD_ROUTE_NEW, 0);
	o = put(&m, QKDN_A_ROUTE_METRIC, sizeof(two), two);
	BAD_R(&m, "ROUTE_NEW METRIC of 2 bytes", EINVAL,
	      "invalid attribute length", o, 0);
	base(&m, QKDN_CMD_ROUTE_NEW, 0);
	o = put(&m, QKDN_A_ROUTE_METRIC, sizeof(eight), eight);
	BAD_R(&m, "ROUTE_NEW METRIC of 8 bytes", EINVAL,
	      "invalid attribute length", o, 0);
	base(&m, QKDN_CMD_ROUTE_NEW, 0);
	o = put(&m, QKDN_A_ROUTE_AVAIL, sizeof(four), four);
	BAD_R(&m, "ROUTE_NEW AVAIL of 4 bytes", EINVAL,
	      "invalid attribute length", o, 0);
	route_nest_errors(_metadata, self, QKDN_CMD_ROUTE_NEW);

	base(&m, QKDN_CMD_ROUTE_DEL, QKDN_A_DST_NODE_ID);
	o = put_str(&m, QKDN_A_DST_NODE_ID, "kme-9");
	BAD_R(&m, "ROUTE_DEL of a node without a route", ENOENT,
	      "no route to this node", o, 0);
}

TEST_F(node, route_table)
{
	static const char *const path[] = { "kme-1", "kme-2", "kme-3" };
	struct rep *r = rep_new();
	struct long_route lr;
	struct route rt;
	struct msg m;
	uint32_t o;
	int i;

	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(0, route_dump(&self->s, r));
	EXPECT_EQ(0U, r->nmsg);

	route_new(_metadata, &self->s, "kme-3", "kme-2", 5, 4096, path, 3);
	route_new(_metadata, &self->s, "kme-4", "kme-2", -1, -1, NULL, 0);
	/* Anyone reads it. */
	dump_req(&m, QKDN_CMD_ROUTE_GET);
	run_as(_metadata, self->ns, &cred_a, m.nlh, r);
	ASSERT_EQ(0, r->err) TH_LOG("ROUTE_GET as uid 1001: %s",
				    errname(r->err));
	EXPECT_EQ(2U, r->nmsg);
	ASSERT_TRUE(route_find(r, "kme-3", &rt));
	EXPECT_STREQ("kme-2", rt.next);
	EXPECT_EQ(5U, rt.metric);
	EXPECT_EQ(4096U, rt.avail);
	ASSERT_EQ(3, rt.nhops);
	for (i = 0; i < 3; i++)
		EXPECT_STREQ(path[i], rt.hops[i]);
	ASSERT_TRUE(route_find(r, "kme-4", &rt));
	EXPECT_STREQ("kme-2", rt.next);
	EXPECT_EQ(0U, rt.metric);
	EXPECT_EQ(0U, rt.avail);
	EXPECT_EQ(-1, rt.nhops);

	/* A route replaces the one to the same node, whole. */
	long_route(&lr, QKDN_ROUTE_HOPS_MAX, "kme-3");
	route_new(_metadata, &self->s, "kme-3", "h-2", 7, UINT32_MAX + 1LL,
		  lr.node, QKDN_ROUTE_HOPS_MAX);
	ASSERT_EQ(0, route_dump(&self->s, r));
	EXPECT_EQ(2U, r->nmsg);
	ASSERT_TRUE(route_find(r, "kme-3", &rt));
	EXPECT_STREQ("h-2", rt.next);
	EXPECT_EQ(7U, rt.metric);
	EXPECT_EQ(UINT32_MAX + 1ULL, rt.avail);
	ASSERT_EQ(QKDN_ROUTE_HOPS_MAX, rt.nhops);
	for (i = 0; i < QKDN_ROUTE_HOPS_MAX; i++)
		EXPECT_STREQ(lr.node[i], rt.hops[i]);
	route_new(_metadata, &self->s, "kme-3", "kme-2", -1, -1, NULL, 0);
	ASSERT_EQ(0, route_dump(&self->s, r));
	EXPECT_EQ(2U, r->nmsg);
	ASSERT_TRUE(route_find(r, "kme-3", &rt));
	EXPECT_STREQ("kme-2", rt.next);
	EXPECT_EQ(0U, rt.metric);
	EXPECT_EQ(0U, rt.avail);
	EXPECT_EQ(-1, rt.nhops);

	/* One route, then all. */
	route_del(_metadata, &self->s, "kme-4");
	req(&m, QKDN_CMD_ROUTE_DEL);
	o = put_str(&m, QKDN_A_DST_NODE_ID, "kme-4");
	BAD_R(&m, "ROUTE_DEL of a route deleted", ENOENT,
	      "no route to this node", o, 0);
	ASSERT_EQ(0, route_dump(&self->s, r));
	EXPECT_EQ(1U, r->nmsg);
	EXPECT_FALSE(route_find(r, "kme-4", &rt));
	EXPECT_TRUE(route_find(r, "kme-3", &rt));
	route_new(_metadata, &self->s, "kme-5", "kme-2", 1, 1, NULL, 0);
	route_del(_metadata, &self->s, NULL);
	ASSERT_EQ(0, route_dump(&self->s, r));
	EXPECT_EQ(0U, r->nmsg);
	route_del(_metadata, &self->s, NULL);
	rep_free(r);
}

TEST_F_TIMEOUT(node, route_table_full, 120)
{
	struct rep *r = rep_new();
	struct route rt;
	struct msg m;

	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(0, route_fill(&self->s, 0, QKDN_ROUTES_MAX));
	ASSERT_EQ(0, route_dump(&self->s, r));
	EXPECT_FALSE(r->truncated);
	EXPECT_EQ((unsigned int)QKDN_ROUTES_MAX, r->nmsg);
	ASSERT_TRUE(route_find(r, "n-1023", &rt));
	EXPECT_STREQ("kme-2", rt.next);

	req(&m, QKDN_CMD_ROUTE_NEW);
	put_str(&m, QKDN_A_DST_NODE_ID, "n-1024");
	put_str(&m, QKDN_A_NEXT_HOP, "kme-2");
	BAD_R(&m, "ROUTE_NEW with 1024 routes in the table", ENOSPC,
	      "route table full", NO_OFFS, 0);
	/* Replacing is not adding. */
	route_new(_metadata, &self->s, "n-5", "kme-7", 1, -1, NULL, 0);
	route_del(_metadata, &self->s, "n-6");
	route_new(_metadata, &self->s, "n-1024", "kme-2", -1, -1, NULL, 0);
	req(&m, QKDN_CMD_ROUTE_NEW);
	put_str(&m, QKDN_A_DST_NODE_ID, "n-1025");
	put_str(&m, QKDN_A_NEXT_HOP, "kme-2");
	BAD_R(&m, "ROUTE_NEW with 1024 routes again", ENOSPC,
	      "route table full", NO_OFFS, 0);
	ASSERT_EQ(0, route_dump(&self->s, r));
	EXPECT_EQ((unsigned int)QKDN_ROUTES_MAX, r->nmsg);
	ASSERT_TRUE(route_find(r, "n-5", &rt));
	EXPECT_STREQ("kme-7", rt.next);
	EXPECT_FALSE(route_find(r, "n-6", &rt));
	EXPECT_TRUE(route_find(r, "n-1024", &rt));

	route_del(_metadata, &self->s, NULL);
	ASSERT_EQ(0, route_dump(&self->s, r));
	EXPECT_EQ(0U, r->nmsg);
	EXPECT_EQ(0, route_fill(&self->s, 2000, 3));
	rep_free(r);
}

/* ---- key relay frames from the link daemon ---- */

static void relay_base(struct relay_desc *d)
{
	memset(d, 0, sizeof(*d));
	memset(d->id, 0xa1, sizeof(d->id));
	d->src = "kme-0";
	d->dst = "kme-3";
	d->master = "sae-x";
	d->slave = "sae-y";
	d->pad_seq = 2;
	d->key_bytes = 32;
	d->count = 1;
	d->hop = 2;
	d->flags = RELAY_F_NEWKEY;
}

#define RELAY_LEN_MSG	"Kx relay frame length does not match its content"

TEST_F(node, kx_relay_frame)
{
	static const char *const route[] = { "kme-0", "kme-2", "kme-3" };
	struct kxf *f = malloc(sizeof(*f));
	char unterminated[QKDN_ID_MAX + 1];
	struct relay_layout l;
	struct relay_desc d;
	struct kx_relay *b;

	ASSERT_TRUE(f != NULL);
	fill_str(unterminated, 'u', QKDN_ID_MAX);

	/* Lengths. */
	kx_init(f, KX_RELAY, 1, 0);
	kx_bad(_metadata, &self->s, f, "Kx RELAY without a body", EINVAL,
	       RELAY_LEN_MSG);
	kx_init(f, KX_RELAY, 1, 0);
	kx_put(f, sizeof(struct kx_relay) - 1);
	kx_bad(_metadata, &self->s, f, "Kx RELAY shorter than its fixed part",
	       EINVAL, RELAY_LEN_MSG);
	relay_base(&d);
	kx_relay(f, 1, 0, &d, &l);
	kx_trim(f, MAC_LEN);
	kx_bad(_metadata, &self->s, f, "Kx RELAY without its tag", EINVAL,
	       RELAY_LEN_MSG);
	kx_relay(f, 1, 0, &d, &l);
	kx_put(f, 1);
	kx_bad(_metadata, &self->s, f, "Kx RELAY a byte too long", EINVAL,
	       RELAY_LEN_MSG);
	d.count = 2;
	kx_relay(f, 1, 0, &d, &l);
	kx_trim(f, QKDN_KEY_ID_LEN + d.key_bytes);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of one key counting two",
	       EINVAL, RELAY_LEN_MSG);
	relay_base(&d);
	d.key_bytes = 40;
	kx_relay(f, 1, 0, &d, &l);
	kx_trim(f, 8);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of 32 bytes saying 40",
	       EINVAL, RELAY_LEN_MSG);
	relay_base(&d);
	d.hop = 1;
	kx_relay(f, 1, 0, &d, &l);
	kx_put(f, d.key_bytes);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of hop 1 with ciphertext",
	       EINVAL, RELAY_LEN_MSG);
	b = (struct kx_relay *)kx_relay(f, 1, 0, &d, &l);
	b->hop = 2;
	kx_bad(_metadata, &self->s, f, "Kx RELAY of hop 2 without ciphertext",
	       EINVAL, RELAY_LEN_MSG);
	relay_base(&d);
	d.nroute = 3;
	memcpy(d.route, route, sizeof(route));
	kx_relay(f, 1, 0, &d, &l);
	kx_trim(f, QKDN_ID_MAX);
	kx_bad(_metadata, &self->s, f, "Kx RELAY with 2 route nodes of 3",
	       EINVAL, RELAY_LEN_MSG);

	/* Counts and sizes. */
	relay_base(&d);
	d.count = 0;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of no key", EINVAL,
	       "key size or count out of range");
	d.count = QKDN_KEYS_PER_REQUEST + 1;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of 129 keys", EINVAL,
	       "key size or count out of range");
	relay_base(&d);
	d.key_bytes = QKDN_KEY_SIZE_MIN / 8 - 1;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of 56-bit keys", EINVAL,
	       "key size or count out of range");
	d.key_bytes = QKDN_KEY_SIZE_MAX / 8 + 1;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of 8200-bit keys", EINVAL,
	       "key size or count out of range");
	d.key_bytes = 0;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of 0-bit keys", EINVAL,
	       "key size or count out of range");

	/* Hop, route length, flags. */
	relay_base(&d);
	d.hop = 0;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of hop 0", EINVAL,
	       "hop, route or flags malformed");
	d.hop = QKDN_ROUTE_HOPS_MAX;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of hop 16", EINVAL,
	       "hop, route or flags malformed");
	d.hop = 255;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of hop 255", EINVAL,
	       "hop, route or flags malformed");
	relay_base(&d);
	d.nroute = 1;
	d.hop = 1;
	d.route[0] = "kme-0";
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY with a route of one node",
	       EINVAL, "hop, route or flags malformed");
	relay_base(&d);
	d.nroute = QKDN_ROUTE_HOPS_MAX + 1;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY with a route of 17 nodes",
	       EINVAL, "hop, route or flags malformed");
	relay_base(&d);
	d.nroute = 3;
	memcpy(d.route, route, sizeof(route));
	d.hop = 3;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY of hop 3 on a route of 3",
	       EINVAL, "hop, route or flags malformed");
	relay_base(&d);
	d.flags = 0x04;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY with flag 0x04", EINVAL,
	       "hop, route or flags malformed");
	d.flags = 0x81;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY with flags 0x81", EINVAL,
	       "hop, route or flags malformed");
	d.flags = RELAY_F_RESERVE;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY to hold past the first hop",
	       EINVAL, "hop, route or flags malformed");
	d.hop = 1;
	d.nroute = 3;
	memcpy(d.route, route, sizeof(route));
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY to hold with a route", EINVAL,
	       "hop, route or flags malformed");

	/* Node and SAE IDs. */
	relay_base(&d);
	d.src = "";
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY with an empty source",
	       EINVAL, "node or SAE ID malformed");
	relay_base(&d);
	d.dst = unterminated;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY destination without NUL",
	       EINVAL, "node or SAE ID malformed");
	relay_base(&d);
	d.master = "sae x";
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY master \"sae x\"", EINVAL,
	       "node or SAE ID malformed");
	relay_base(&d);
	d.slave = "";
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY with an empty slave", EINVAL,
	       "node or SAE ID malformed");
	relay_base(&d);
	d.slave = unterminated;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY slave without NUL", EINVAL,
	       "node or SAE ID malformed");

	/* The route. */
	relay_base(&d);
	d.nroute = 3;
	memcpy(d.route, route, sizeof(route));
	d.route[1] = "";
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY with an empty route node",
	       EINVAL, "Kx relay route malformed");
	d.route[1] = "kme/2";
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY route node \"kme/2\"", EINVAL,
	       "Kx relay route malformed");
	d.route[1] = unterminated;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY route node without NUL",
	       EINVAL, "Kx relay route malformed");
	memcpy(d.route, route, sizeof(route));
	d.route[0] = "kme-9";
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY route not from its source",
	       EINVAL, "route does not join its ends");
	memcpy(d.route, route, sizeof(route));
	d.route[2] = "kme-9";
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f,
	       "Kx RELAY route not to its destination", EINVAL,
	       "route does not join its ends");
	free(f);
}

/* Relay frames naming more slave SAEs (multicast), and RELAY_F_GIVEN. */
TEST_F(node, kx_relay_frame_slaves)
{
	struct kxf *f = malloc(sizeof(*f));
	char unterminated[QKDN_ID_MAX + 1], names[QKDN_SLAVES_MAX][16];
	struct relay_layout l;
	struct relay_desc d;
	unsigned int i;

	ASSERT_TRUE(f != NULL);
	fill_str(unterminated, 'u', QKDN_ID_MAX);

	relay_base(&d);
	d.nslaves = QKDN_SLAVES_MAX;
	for (i = 0; i < QKDN_SLAVES_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "sae-m%u", i);
		d.slaves[i] = names[i];
	}
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY naming 8 more slaves", EINVAL,
	       "too many slave SAEs");
	d.nslaves = 2;
	kx_relay(f, 1, 0, &d, &l);
	kx_trim(f, QKDN_ID_MAX);
	kx_bad(_metadata, &self->s, f, "Kx RELAY with 1 more slave of 2",
	       EINVAL, RELAY_LEN_MSG);
	d.slaves[1] = "sae-y";
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY naming its slave as another",
	       EINVAL, "slave SAE");
	d.slaves[1] = names[0];
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY naming a slave twice", EINVAL,
	       "slave SAE");
	d.slaves[1] = "";
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY with an empty slave", EINVAL,
	       "slave SAEs malformed");
	d.slaves[1] = "sae y";
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY more slave \"sae y\"", EINVAL,
	       "slave SAEs malformed");
	d.slaves[1] = unterminated;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY more slave without NUL",
	       EINVAL, "slave SAEs malformed");

	/* RELAY_F_GIVEN: ciphertext on the first hop, and only there. */
	relay_base(&d);
	d.hop = 1;
	d.flags = RELAY_F_GIVEN;
	kx_relay(f, 1, 0, &d, &l);
	kx_trim(f, d.key_bytes);
	kx_bad(_metadata, &self->s, f, "Kx RELAY given, without ciphertext",
	       EINVAL, RELAY_LEN_MSG);
	relay_base(&d);
	d.flags = RELAY_F_GIVEN;
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY given past the first hop",
	       EINVAL, "hop, route or flags malformed");
	free(f);
}

TEST_F(node, kx_relay_done_and_abort)
{
	static const uint8_t id[QKDN_RELAY_ID_LEN] = { 0xa1, 0xa2 };
	struct kxf *f = malloc(sizeof(*f));
	char unterminated[QKDN_ID_MAX + 1], why[QKDN_ERRMSG_MAX];
	struct kx_relay_done *d;
	struct msg m;

	ASSERT_TRUE(f != NULL);
	fill_str(unterminated, 'u', QKDN_ID_MAX);

	kx_init(f, KX_RELAY_DONE, 1, 0);
	kx_bad(_metadata, &self->s, f, "Kx RELAY_DONE without a body", EINVAL,
	       RELAY_LEN_MSG);
	kx_relay_done(f, 1, id, 0, "kme-2", "");
	kx_trim(f, 1);
	kx_bad(_metadata, &self->s, f, "Kx RELAY_DONE a byte short", EINVAL,
	       RELAY_LEN_MSG);
	kx_relay_done(f, 1, id, 0, "kme-2", "");
	kx_put(f, 1);
	kx_bad(_metadata, &self->s, f, "Kx RELAY_DONE a byte too long", EINVAL,
	       RELAY_LEN_MSG);

	kx_relay_done(f, 1, id, 0, "", "");
	kx_bad(_metadata, &self->s, f, "Kx RELAY_DONE from nowhere", EINVAL,
	       "Kx relay completion malformed");
	kx_relay_done(f, 1, id, 0, "kme 2", "");
	kx_bad(_metadata, &self->s, f, "Kx RELAY_DONE from \"kme 2\"", EINVAL,
	       "Kx relay completion malformed");
	kx_relay_done(f, 1, id, 0, unterminated, "");
	kx_bad(_metadata, &self->s, f, "Kx RELAY_DONE where without NUL",
	       EINVAL, "Kx relay completion malformed");
	d = kx_relay_done(f, 1, id, EHOSTUNREACH, "kme-2", "");
	memset(d->why, 'w', sizeof(d->why));
	kx_bad(_metadata, &self->s, f, "Kx RELAY_DONE why without NUL", EINVAL,
	       "Kx relay completion malformed");
	kx_relay_done(f, 1, id, ERRNO_MAX + 1, "kme-2", "why");
	kx_bad(_metadata, &self->s, f, "Kx RELAY_DONE error 512", EINVAL,
	       "Kx relay completion malformed");
	kx_relay_done(f, 1, id, 4096, "kme-2", "why");
	kx_bad(_metadata, &self->s, f, "Kx RELAY_DONE error 4096", EINVAL,
	       "Kx relay completion malformed");
	kx_relay_done(f, 1, id, UINT32_MAX, "kme-2", "why");
	kx_bad(_metadata, &self->s, f, "Kx RELAY_DONE error 2^32-1", EINVAL,
	       "Kx relay completion malformed");

	kx_init(f, KX_RELAY_ABORT, 1, 0);
	kx_bad(_metadata, &self->s, f, "Kx RELAY_ABORT without a body", EINVAL,
	       RELAY_LEN_MSG);
	kx_init(f, KX_RELAY_ABORT, 1, 0);
	kx_put(f, QKDN_RELAY_ID_LEN - 1);
	kx_bad(_metadata, &self->s, f, "Kx RELAY_ABORT of 15 bytes", EINVAL,
	       RELAY_LEN_MSG);
	kx_init(f, KX_RELAY_ABORT, 1, 0);
	kx_put(f, QKDN_RELAY_ID_LEN + 1);
	kx_bad(_metadata, &self->s, f, "Kx RELAY_ABORT of 17 bytes", EINVAL,
	       RELAY_LEN_MSG);
	kx_init(f, KX_RELAY_ABORT, 0, 0);
	memcpy(kx_put(f, QKDN_RELAY_ID_LEN), id, QKDN_RELAY_ID_LEN);
	kx_bad(_metadata, &self->s, f, "Kx RELAY_ABORT without sequence number",
	       EINVAL, "without sequence number");

	/* Well-formed, for relays this node never saw: taken, ignored. */
	fill_str(why, 'w', sizeof(why) - 1);
	kx_relay_done(f, 1, id, ERRNO_MAX, "kme-2", why);
	frame_req(&m, 1, f);
	bad(_metadata, &self->s, -1, NULL, &m, "Kx RELAY_DONE of no relay", 0,
	    NO_MSG, NO_OFFS, 0, F_NOSTATS);
	kx_init(f, KX_RELAY_ABORT, 2, 0);
	memcpy(kx_put(f, QKDN_RELAY_ID_LEN), id, QKDN_RELAY_ID_LEN);
	frame_req(&m, 1, f);
	bad(_metadata, &self->s, -1, NULL, &m, "Kx RELAY_ABORT of no relay", 0,
	    NO_MSG, NO_OFFS, 0, F_NOSTATS);
	EXPECT_EQ(0U, link_stat(&self->s, 1, QKDN_A_STATS_RELAY_RX));
	free(f);
}

/* A well-formed relay frame the pool does not match. */
TEST_F(node, kx_relay_mismatch)
{
	struct kxf *f = malloc(sizeof(*f));
	struct relay_layout l;
	struct relay_desc d;

	ASSERT_TRUE(f != NULL);
	relay_base(&d);
	kx_relay(f, 1, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY from an empty pool", EPROTO,
	       "Kx relay does not match the pool");
	/* The position of an empty pool, but no key in it. */
	d.pad_seq = 0;
	kx_relay(f, 2, 0, &d, &l);
	kx_bad(_metadata, &self->s, f, "Kx RELAY at the empty pool's position",
	       EPROTO, "Kx relay does not match the pool");
	EXPECT_EQ(0U, link_stat(&self->s, 1, QKDN_A_STATS_RELAY_RX));
	EXPECT_EQ(0U, node_stat(&self->s, QKDN_A_STATS_RELAYS_ENDED) +
		      node_stat(&self->s, QKDN_A_STATS_RELAYS_FORWARDED));
	free(f);
}

/* ---- I.2: sessions of proactive key supply ---- */

static void sae_ok(struct __test_metadata *_metadata, struct nlc *s,
		   uid_t uid, struct msg *m, const char *what)
{
	struct rep *r = rep_new();

	ASSERT_TRUE(r != NULL);
	sae_txrx(_metadata, s, uid, m->nlh, r);
	ok_rep(_metadata, r, what);
}

/* The socket s of uid takes the notifications and keys of sae. */
static void sae_listen(struct __test_metadata *_metadata, struct nlc *s,
		       uid_t uid, const char *sae)
{
	struct msg m;

	req(&m, QKDN_CMD_SAE_LISTEN);
	put_str(&m, QKDN_A_SAE_ID, sae);
	sae_ok(_metadata, s, uid, &m, "SAE_LISTEN");
}

/* The same on a socket of uid it opens first. */
static void sae_listener(struct __test_metadata *_metadata, struct nlc *s,
			 uid_t uid, const char *sae)
{
	ASSERT_EQ(0, sae_open(s, uid));
	sae_listen(_metadata, s, uid, sae);
}

/*
 * bad() for a request sent on the socket via, as uid (0: root): it fails
 * as described and the dumps of s's node do not change.
 */
static void bad_via(struct __test_metadata *_metadata, struct nlc *s,
		    struct nlc *via, uid_t uid, struct msg *m,
		    const char *what, int err, const char *msg, uint32_t offs,
		    uint16_t miss, int flags)
{
	struct rep *r = rep_new();
	struct snap *a;

	ASSERT_TRUE(r != NULL);
	a = state_before(_metadata, s, flags, what);
	sae_txrx(_metadata, via, uid, m->nlh, r);
	expect_state(_metadata, s, a, flags, what);
	check_err(_metadata, what, r, err, msg, offs, miss);
	rep_free(r);
}

/*
 * The next message the kernel unicasts to the application's socket s
 * (cmd, or any of the family when 0) within ms, into r.
 */
static bool sae_read_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct rep *r = arg;

	if (!r->nmsg)
		rep_add(r, nlh);
	return true;
}

static bool sae_read(struct nlc *s, int ms, uint8_t cmd, struct rep *r)
{
	memset(r, 0, offsetof(struct rep, data));
	return nl_recv(s, ms, false, cmd, sae_read_cb, r);
}

/* A string attribute of nlh, NULL if absent or not a string. */
static const char *attr_str(const struct nlmsghdr *nlh, uint16_t type)
{
	const struct nlattr *a = attr_find(nlh, type);

	if (!a || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return NULL;
	return mnl_attr_get_str(a);
}

static void expect_str(struct __test_metadata *_metadata,
		       const struct nlmsghdr *nlh, uint16_t type,
		       const char *want, const char *what)
{
	const char *got = attr_str(nlh, type);

	EXPECT_TRUE(got && !strcmp(got, want))
		TH_LOG("%s: attribute %u is \"%s\", expected \"%s\"", what, type,
		       got ? got : "(none)", want);
}

/* The socket l of the slave SAE gets a "proactive key supply": these keys. */
static void expect_supplied(struct __test_metadata *_metadata,
			    struct nlc *l, uint32_t session,
			    const uint8_t *ids, const uint8_t *keys,
			    uint32_t n, uint32_t kb)
{
	struct rep *r = rep_new();

	ASSERT_TRUE(r != NULL);
	ASSERT_TRUE(sae_read(l, 2000, QKDN_CMD_KEY_SUPPLY, r))
		TH_LOG("the SAE got no keys");
	ASSERT_EQ(1U, r->nmsg);
	EXPECT_EQ(session, get_num((const struct nlmsghdr *)r->data,
				   QKDN_A_SESSION_ID));
	expect_keys(_metadata, r, ids, keys, n, kb, "proactive key supply");
	rep_free(r);
}

/*
 * "Response to session creation notification" of the SAE: ERRNO err (0
 * accepts), or none when err < 0. Returns the offset of SESSION_ID.
 */
static uint32_t session_answer_msg(struct msg *m, uint32_t id, int err)
{
	uint32_t o;

	req(m, QKDN_CMD_SESSION);
	o = put_u32(m, QKDN_A_SESSION_ID, id);
	if (err >= 0)
		put_u32(m, QKDN_A_ERRNO, err);
	return o;
}

/*
 * "Response to proactive key supply": the n key IDs ids; offs[i] (if
 * given) gets where the i-th KEY nest starts. Returns the offset of
 * SESSION_ID.
 */
static uint32_t supply_answer_msg(struct msg *m, uint32_t session,
				  const uint8_t *ids, unsigned int n,
				  uint32_t *offs)
{
	unsigned int i;
	uint32_t so;

	req(m, QKDN_CMD_KEY_SUPPLY);
	so = put_u32(m, QKDN_A_SESSION_ID, session);
	for (i = 0; i < n; i++) {
		uint32_t o = put_key_id(m, ids + i * QKDN_KEY_ID_LEN);

		if (offs)
			offs[i] = o;
	}
	return so;
}

/*
 * "Session creation notification" of the controller: session id of
 * master at src with slave here, all but the attribute of type except.
 */
static void note_msg(struct msg *m, uint16_t except, uint32_t id,
		     const char *src, const char *master, const char *slave)
{
	req(m, QKDN_CMD_CTRL);
	put_u32(m, QKDN_A_MSG, QKDN_MSG_SESSION_CREATION_NOTIFICATION);
	if (except != QKDN_A_SESSION_ID)
		put_u32(m, QKDN_A_SESSION_ID, id);
	if (except != QKDN_A_SRC_NODE_ID)
		put_str(m, QKDN_A_SRC_NODE_ID, src);
	if (except != QKDN_A_MASTER_SAE_ID)
		put_str(m, QKDN_A_MASTER_SAE_ID, master);
	if (except != QKDN_A_SLAVE_SAE_ID)
		put_str(m, QKDN_A_SLAVE_SAE_ID, slave);
}

/* Whom a session creation notification is about. */
struct note {
	const char *src, *master, *slave;
};

/* node.*: of sae-b at kme-2 with sae-l; pair.*, relay.*: of sae-a, sae-b. */
static const struct note note_l = { "kme-2", "sae-b", "sae-l" };
static const struct note note_b = { "kme-1", "sae-a", "sae-b" };

/*
 * The controller's "session creation notification" of session id (n) at
 * the node of s: the application's socket l hears exactly it.
 */
static void notify(struct __test_metadata *_metadata, struct nlc *s,
		   struct nlc *l, uint32_t id, const struct note *n,
		   const char *what)
{
	const struct nlmsghdr *nlh;
	struct rep *r = rep_new();
	struct msg m;

	ASSERT_TRUE(r != NULL);
	note_msg(&m, 0, id, n->src, n->master, n->slave);
	ok_req(_metadata, s, &m, what);
	ASSERT_TRUE(sae_read(l, 2000, QKDN_CMD_SESSION, r))
		TH_LOG("%s: the SAE heard of no session", what);
	nlh = (const struct nlmsghdr *)r->data;
	ASSERT_EQ(1U, r->nmsg);
	EXPECT_EQ(id, get_num(nlh, QKDN_A_SESSION_ID));
	expect_str(_metadata, nlh, QKDN_A_MASTER_SAE_ID, n->master, what);
	expect_str(_metadata, nlh, QKDN_A_SLAVE_SAE_ID, n->slave, what);
	expect_str(_metadata, nlh, QKDN_A_SRC_NODE_ID, n->src, what);
	EXPECT_TRUE(attr_find(nlh, QKDN_A_KEY) == NULL);
	rep_free(r);
}

/* "Session creation request" of master for slave, from a child. */
static pid_t session_new_as(int ns, const struct cred *c, const char *master,
			    const char *slave, struct rep *r)
{
	struct msg m;

	req(&m, QKDN_CMD_SESSION_NEW);
	put_str(&m, QKDN_A_MASTER_SAE_ID, master);
	put_str(&m, QKDN_A_SLAVE_SAE_ID, slave);
	return spawn_as(ns, c, m.nlh, r, 1);
}

/* "Key request with session ID" of master for slave, from a child. */
static pid_t session_key_get(int ns, const struct cred *c,
			     const char *master, const char *slave,
			     uint32_t session, uint32_t number, uint32_t bits,
			     struct rep *r)
{
	struct msg m;

	key_get_msg(&m, master, slave, session, number, bits);
	return spawn_as(ns, c, m.nlh, r, 1);
}

/* The "response to session creation request" the master SAE got. */
static void expect_session(struct __test_metadata *_metadata,
			   const struct rep *r, uint32_t id,
			   const char *master, const char *slave)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)r->data;

	ASSERT_EQ(0, r->err) TH_LOG("SESSION_NEW: %s (%s)", errname(r->err),
				    r->msg);
	ASSERT_EQ(1U, r->nmsg);
	EXPECT_EQ(id, get_num(nlh, QKDN_A_SESSION_ID));
	expect_str(_metadata, nlh, QKDN_A_MASTER_SAE_ID, master,
		   "response to session creation request");
	expect_str(_metadata, nlh, QKDN_A_SLAVE_SAE_ID, slave,
		   "response to session creation request");
}

/* The kernel's "session creation request" to its controller. */
static void expect_session_req(struct __test_metadata *_metadata,
			       const struct ctrl_req *q, const char *src,
			       const char *dst, const char *master,
			       const char *slave)
{
	EXPECT_EQ((uint32_t)QKDN_MSG_SESSION_CREATION_REQUEST, q->msg);
	EXPECT_TRUE(q->has_ctrl_id && q->ctrl_id != 0)
		TH_LOG("session creation request without a CTRL_ID");
	EXPECT_STREQ(src, q->src);
	EXPECT_STREQ(dst, q->dst);
	EXPECT_STREQ(master, q->master);
	EXPECT_STREQ(slave, q->slave);
	EXPECT_FALSE(q->has_session);
	EXPECT_FALSE(q->has_err);
	EXPECT_FALSE(q->has_bytes);
	EXPECT_EQ(0, q->relay_id_len);
}

/* The kernel's "response to session creation notification". */
static void expect_session_resp(struct __test_metadata *_metadata,
				const struct ctrl_req *q, uint32_t id,
				const char *src, const char *dst,
				const char *master, const char *slave,
				uint32_t err)
{
	EXPECT_EQ((uint32_t)QKDN_MSG_SESSION_NOTIFICATION_RESPONSE, q->msg);
	EXPECT_FALSE(q->has_ctrl_id);
	EXPECT_TRUE(q->has_session && q->session == id)
		TH_LOG("response for session %u, expected %u", q->session, id);
	EXPECT_STREQ(src, q->src);
	EXPECT_STREQ(dst, q->dst);
	EXPECT_STREQ(master, q->master);
	EXPECT_STREQ(slave, q->slave);
	EXPECT_TRUE(q->has_err) TH_LOG("response without ERRNO");
	EXPECT_EQ(err, q->err)
		TH_LOG("response with errno %u, expected %u", q->err, err);
}

/* The controller names the session of its request ctrl_id. */
static void session_created(struct __test_metadata *_metadata,
			    struct nlc *s, uint32_t ctrl_id, uint32_t id)
{
	struct msg m;

	ctrl_ans(&m, QKDN_MSG_SESSION_CREATION_RESPONSE, ctrl_id);
	put_u32(&m, QKDN_A_SESSION_ID, id);
	ok_req(_metadata, s, &m, "CTRL session creation response");
}

/*
 * "Session creation request" refused before the controller is asked:
 * missing, malformed and unknown SAEs, a caller that is not the master
 * SAE, a slave SAE this node serves, nobody on "ctrl"; session IDs are
 * never 0.
 */
TEST_F(node, session_new_errors)
{
	static const uint8_t cmds[] = { QKDN_CMD_SESSION, QKDN_CMD_KEY_SUPPLY };
	const uint8_t two[2] = { 1, 0 };
	char what[96];
	uint64_t t0, t;
	unsigned int i;
	struct msg m;
	uint32_t o;

	base(&m, QKDN_CMD_SESSION_NEW, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae a");
	BAD_AS(&cred_a, &m, "SESSION_NEW master \"sae a\"", EINVAL,
	       "ID must be", o, 0);
	base(&m, QKDN_CMD_SESSION_NEW, QKDN_A_SLAVE_SAE_ID);
	o = put_strn(&m, QKDN_A_SLAVE_SAE_ID, "sae-b");
	BAD_AS(&cred_a, &m, "SESSION_NEW slave without NUL", EINVAL,
	       POLICY_MSG, o, 0);
	base(&m, QKDN_CMD_SESSION_NEW, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-zz");
	BAD_AS(&cred_a, &m, "SESSION_NEW unknown master", ENOENT,
	       "no such SAE", o, 0);
	base(&m, QKDN_CMD_SESSION_NEW, QKDN_A_SLAVE_SAE_ID);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-zz");
	BAD_AS(&cred_a, &m, "SESSION_NEW unknown slave", ENOENT,
	       "no such SAE", o, 0);

	/* Only the master SAE's uid asks, for a slave SAE elsewhere. */
	base(&m, QKDN_CMD_SESSION_NEW, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-a");
	BAD(&m, "SESSION_NEW as root for sae-a (uid 1001)", EACCES,
	    "caller may not act as the master SAE", o, 0);
	BAD_AS(&cred_b, &m, "SESSION_NEW as uid 1002 for sae-a", EACCES,
	       "caller may not act as the master SAE", o, 0);
	base(&m, QKDN_CMD_SESSION_NEW, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-b");
	BAD_AS(&cred_a, &m, "SESSION_NEW with a remote master", EACCES,
	       "caller may not act as the master SAE", o, 0);
	base(&m, QKDN_CMD_SESSION_NEW, QKDN_A_SLAVE_SAE_ID);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-l");
	BAD_AS(&cred_a, &m, "SESSION_NEW with a local slave", EOPNOTSUPP,
	       "slave SAE is served by this node", o, 0);

	/* Nobody on "ctrl": refused at once. */
	base(&m, QKDN_CMD_SESSION_NEW, 0);
	t0 = now_ms();
	BAD_AS(&cred_a, &m, "SESSION_NEW with no controller", EHOSTUNREACH,
	       "no QKDN controller to create the session", NO_OFFS, 0);
	t = now_ms() - t0;
	EXPECT_TRUE(t < 1500) TH_LOG("answered after %" PRIu64 " ms", t);
	base(&m, QKDN_CMD_SESSION_NEW, QKDN_A_SLAVE_SAE_ID);
	put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-far");
	BAD_AS(&cred_a, &m, "SESSION_NEW to sae-far with no controller",
	       EHOSTUNREACH, "no QKDN controller to create the session",
	       NO_OFFS, 0);

	/* Session IDs: u32, never 0. */
	for (i = 0; i < sizeof(cmds); i++) {
		base(&m, cmds[i], QKDN_A_SESSION_ID);
		o = put_u32(&m, QKDN_A_SESSION_ID, 0);
		snprintf(what, sizeof(what), "%s SESSION_ID 0",
			 cmd_names[cmds[i]]);
		BAD_AS(&cred_b, &m, what, ERANGE, "out of range", o, 0);
		base(&m, cmds[i], QKDN_A_SESSION_ID);
		o = put(&m, QKDN_A_SESSION_ID, sizeof(two), two);
		snprintf(what, sizeof(what), "%s SESSION_ID of 2 bytes",
			 cmd_names[cmds[i]]);
		BAD_AS(&cred_b, &m, what, EINVAL, "invalid attribute length", o,
		       0);
	}
	base(&m, QKDN_CMD_KEY_GET, 0);
	o = put_u32(&m, QKDN_A_SESSION_ID, 0);
	BAD_AS(&cred_a, &m, "KEY_GET SESSION_ID 0", ERANGE, "out of range", o,
	       0);
	base(&m, QKDN_CMD_SESSION_NEW, 0);
	o = put_u32(&m, QKDN_A_SESSION_ID, 0);
	BAD_AS(&cred_a, &m, "SESSION_NEW SESSION_ID 0", ERANGE, "out of range",
	       o, 0);
	ctrl_ans(&m, QKDN_MSG_SESSION_CREATION_RESPONSE, CTRL_ID_NONE);
	o = put_u32(&m, QKDN_A_SESSION_ID, 0);
	BAD(&m, "CTRL session creation response, SESSION_ID 0", ERANGE,
	    "out of range", o, 0);
	note_msg(&m, QKDN_A_SESSION_ID, 0, "kme-2", "sae-b", "sae-l");
	o = put_u32(&m, QKDN_A_SESSION_ID, 0);
	BAD(&m, "CTRL session creation notification, SESSION_ID 0", ERANGE,
	    "out of range", o, 0);
}

/*
 * The controller's "response to session creation request": answers the
 * kernel refuses while the request waits, the session it takes once, a
 * session ID in use, refusals with and without words. Then "key request
 * with session ID" refused: unknown session, another SAE pair, no link,
 * no key (nothing taken).
 */
TEST_F_TIMEOUT(node, session_new, 60)
{
	const uint32_t ida = 0x5e550001, idf = 0x5e550002;
	char errmsg[QKDN_ERRMSG_MAX], want[256];
	struct rep *r = rep_new();
	struct ctrl_req q;
	struct nlc c;
	struct msg m;
	uint32_t o;
	pid_t pid;

	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(0, ctrl_listen(&c));
	pid = session_new_as(self->ns, &cred_a, "sae-a", "sae-b", r);
	ctrl_asked(_metadata, pid, &c, &q);
	expect_session_req(_metadata, &q, "kme-1", "kme-2", "sae-a", "sae-b");

	req(&m, QKDN_CMD_CTRL);
	put_u32(&m, QKDN_A_MSG, QKDN_MSG_SESSION_CREATION_RESPONSE);
	put_u32(&m, QKDN_A_SESSION_ID, ida);
	BAD(&m, "session creation response without CTRL_ID", EINVAL, NO_MSG,
	    NO_OFFS, QKDN_A_CTRL_ID);
	ctrl_ans(&m, QKDN_MSG_SESSION_CREATION_RESPONSE, q.ctrl_id);
	BAD(&m, "session creation response with neither session nor errno",
	    EINVAL, NO_MSG, NO_OFFS, QKDN_A_SESSION_ID);
	ctrl_ans(&m, QKDN_MSG_SESSION_CREATION_RESPONSE, q.ctrl_id);
	put_u32(&m, QKDN_A_ERRNO, 0);
	BAD(&m, "session creation response with ERRNO 0 and no session",
	    EINVAL, NO_MSG, NO_OFFS, QKDN_A_SESSION_ID);
	o = ctrl_ans(&m, QKDN_MSG_SESSION_CREATION_RESPONSE, q.ctrl_id + 1);
	put_u32(&m, QKDN_A_SESSION_ID, ida);
	BAD(&m, "session creation response for the request after", ENOENT,
	    "no controller request with this ID is waiting", o, 0);
	o = ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id);
	put_str(&m, QKDN_A_NEXT_HOP, "kme-2");
	BAD(&m, "a next hop for a session creation request", ENOENT,
	    "no controller request with this ID is waiting", o, 0);
	EXPECT_EQ(0, waitpid(pid, NULL, WNOHANG))
		TH_LOG("SESSION_NEW ended before its response");

	/* The right answer, once. */
	session_created(_metadata, &self->s, q.ctrl_id, ida);
	o = ctrl_ans(&m, QKDN_MSG_SESSION_CREATION_RESPONSE, q.ctrl_id);
	put_u32(&m, QKDN_A_SESSION_ID, ida);
	BAD(&m, "the same response again", ENOENT,
	    "no controller request with this ID is waiting", o, 0);
	wait_child(_metadata, pid);
	expect_session(_metadata, r, ida, "sae-a", "sae-b");

	/* A session ID in use: refused, the request still waits. */
	pid = session_new_as(self->ns, &cred_a, "sae-a", "sae-b", r);
	ctrl_asked(_metadata, pid, &c, &q);
	expect_session_req(_metadata, &q, "kme-1", "kme-2", "sae-a", "sae-b");
	ctrl_ans(&m, QKDN_MSG_SESSION_CREATION_RESPONSE, q.ctrl_id);
	o = put_u32(&m, QKDN_A_SESSION_ID, ida);
	BAD(&m, "a session ID in use", EEXIST, "session ID already in use here",
	    o, 0);
	/* Refused by the controller: its errno and words reach sae-a. */
	ctrl_refuse(_metadata, &self->s, QKDN_MSG_SESSION_CREATION_RESPONSE,
		    q.ctrl_id, ECONNREFUSED,
		    "kme-2: the slave SAE is not listening");
	o = ctrl_ans(&m, QKDN_MSG_SESSION_CREATION_RESPONSE, q.ctrl_id);
	put_u32(&m, QKDN_A_SESSION_ID, ida + 7);
	BAD(&m, "a session for a refused request", ENOENT,
	    "no controller request with this ID is waiting", o, 0);
	child_err(_metadata, pid, r, "SESSION_NEW refused by the controller",
		  ECONNREFUSED,
		  "session refused: kme-2: the slave SAE is not listening");
	EXPECT_STREQ("session refused: kme-2: the slave SAE is not listening",
		     r->msg);

	/* Without words; with the longest. */
	pid = session_new_as(self->ns, &cred_a, "sae-a", "sae-b", r);
	ctrl_asked(_metadata, pid, &c, &q);
	ctrl_refuse(_metadata, &self->s, QKDN_MSG_SESSION_CREATION_RESPONSE,
		    q.ctrl_id, ETIMEDOUT, NULL);
	child_err(_metadata, pid, r, "SESSION_NEW refused without words",
		  ETIMEDOUT, "session refused: the session was refused");

	fill_str(errmsg, 'w', sizeof(errmsg) - 1);
	snprintf(want, sizeof(want), "session refused: %s", errmsg);
	pid = session_new_as(self->ns, &cred_a, "sae-a", "sae-b", r);
	ctrl_asked(_metadata, pid, &c, &q);
	ctrl_refuse(_metadata, &self->s, QKDN_MSG_SESSION_CREATION_RESPONSE,
		    q.ctrl_id, ERRNO_MAX, errmsg);
	child_err(_metadata, pid, r,
		  "SESSION_NEW refused with the longest words", ERRNO_MAX,
		  want);

	/* A session with sae-far, whose KM this node has no link to. */
	pid = session_new_as(self->ns, &cred_a, "sae-a", "sae-far", r);
	ctrl_asked(_metadata, pid, &c, &q);
	expect_session_req(_metadata, &q, "kme-1", "kme-3", "sae-a",
			   "sae-far");
	session_created(_metadata, &self->s, q.ctrl_id, idf);
	wait_child(_metadata, pid);
	expect_session(_metadata, r, idf, "sae-a", "sae-far");
	EXPECT_FALSE(ctrl_read(&c, 100, &q))
		TH_LOG("another message to the controller (msg %u)", q.msg);

	/* Key requests with a session ID that cannot be served. */
	base(&m, QKDN_CMD_KEY_GET, 0);
	o = put_u32(&m, QKDN_A_SESSION_ID, SESSION_NONE);
	BAD_AS(&cred_a, &m, "KEY_GET with an unknown session", ENOENT,
	       "no such session", o, 0);
	base(&m, QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID);
	put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-far");
	o = put_u32(&m, QKDN_A_SESSION_ID, ida);
	BAD_AS(&cred_a, &m, "KEY_GET with the session of another slave",
	       EACCES, "the session is for another SAE pair", o, 0);
	req(&m, QKDN_CMD_KEY_GET);
	put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-l");
	put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-b");
	o = put_u32(&m, QKDN_A_SESSION_ID, ida);
	BAD_AS(&cred_b, &m, "KEY_GET by sae-l with sae-a's session", EACCES,
	       "the session is for another SAE pair", o, 0);
	base(&m, QKDN_CMD_KEY_GET, QKDN_A_MASTER_SAE_ID);
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-a");
	put_u32(&m, QKDN_A_SESSION_ID, ida);
	BAD_AS(&cred_b, &m, "KEY_GET with sae-a's session as uid 1002", EACCES,
	       "caller may not act as the master SAE", o, 0);
	base(&m, QKDN_CMD_KEY_GET, QKDN_A_SLAVE_SAE_ID);
	put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-far");
	put_u32(&m, QKDN_A_SESSION_ID, idf);
	BAD_AS(&cred_a, &m, "KEY_GET with a session to a KM without a link",
	       EHOSTUNREACH,
	       "proactive key supply needs a QKD link to the slave SAE's KM",
	       NO_OFFS, 0);
	base(&m, QKDN_CMD_KEY_GET, 0);
	put_u32(&m, QKDN_A_SESSION_ID, ida);
	BAD_AS(&cred_a, &m, "KEY_GET with a session from an empty pool",
	       ENOSPC, "not enough key in the pool", NO_OFFS, 0);
	base(&m, QKDN_CMD_KEY_GET, 0);
	put_u32(&m, QKDN_A_SESSION_ID, ida);
	put_u32(&m, QKDN_A_KEY_NUMBER, QKDN_KEYS_PER_REQUEST);
	put_u32(&m, QKDN_A_KEY_SIZE, QKDN_KEY_SIZE_MAX);
	BAD_AS(&cred_a, &m, "KEY_GET of 128 x 8192 bits with a session",
	       ENOSPC, "not enough key in the pool", NO_OFFS, 0);
	EXPECT_FALSE(ctrl_read(&c, 100, &q))
		TH_LOG("a key request with a session asked the controller (msg %u)",
		       q.msg);
	nlc_close(&c);
	rep_free(r);
}

/*
 * A silent controller: the master SAE's request ends after 10 s. Meanwhile
 * a notification the slave SAE leaves unanswered is refused for it after
 * 4 s.
 */
TEST_F_TIMEOUT(node, session_timeouts, 60)
{
	struct rep *r = rep_new();
	struct ctrl_req q, qn;
	uint64_t t0, t1, t;
	struct nlc c, l;
	struct msg m;
	uint32_t o;
	pid_t pid;

	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(0, ctrl_listen(&c));
	sae_listener(_metadata, &l, UID_B, "sae-l");

	t0 = now_ms();
	pid = session_new_as(self->ns, &cred_a, "sae-a", "sae-b", r);
	ASSERT_LE(0, pid);
	ASSERT_TRUE(ctrl_read_msg(&c, 10000, QKDN_MSG_SESSION_CREATION_REQUEST,
				  &q));
	t1 = now_ms();
	notify(_metadata, &self->s, &l, 0x7101, &note_l,
	       "CTRL session creation notification");

	ASSERT_TRUE(ctrl_read_msg(&c, 8000,
				  QKDN_MSG_SESSION_NOTIFICATION_RESPONSE, &qn))
		TH_LOG("no response for the unanswered notification");
	t = now_ms() - t1;
	expect_session_resp(_metadata, &qn, 0x7101, "kme-2", "kme-1", "sae-b",
			    "sae-l", ETIMEDOUT);
	EXPECT_TRUE(t >= 3900 && t < 7000)
		TH_LOG("refused after %" PRIu64 " ms, expected about 4000", t);
	o = session_answer_msg(&m, 0x7101, 0);
	bad_via(_metadata, &self->s, &l, UID_B, &m, "an answer after 4 s",
		ENOENT, "no session notification awaits an answer", o, 0, 0);
	/* Forgotten: the controller may use the ID again. */
	notify(_metadata, &self->s, &l, 0x7101, &note_l,
	       "CTRL the timed-out session ID again");

	wait_child(_metadata, pid);
	t = now_ms() - t0;
	check_err(_metadata, "SESSION_NEW with a silent controller", r,
		  ETIMEDOUT, "the session was not created in time", NO_OFFS, 0);
	EXPECT_TRUE(t >= 9900 && t < 16000)
		TH_LOG("answered after %" PRIu64 " ms, expected about 10000", t);
	o = ctrl_ans(&m, QKDN_MSG_SESSION_CREATION_RESPONSE, q.ctrl_id);
	put_u32(&m, QKDN_A_SESSION_ID, 5);
	BAD(&m, "a session creation response after the timeout", ENOENT,
	    "no controller request with this ID is waiting", o, 0);
	nlc_close(&l);
	nlc_close(&c);
	rep_free(r);
}

/* One socket listens for an SAE, of its uid, until it closes. */
TEST_F(node, sae_listen)
{
	struct rep *r = rep_new();
	struct nlc l;
	struct msg m;
	uint32_t o;

	ASSERT_TRUE(r != NULL);
	base(&m, QKDN_CMD_SAE_LISTEN, QKDN_A_SAE_ID);
	o = put_str(&m, QKDN_A_SAE_ID, "sae-zz");
	BAD_AS(&cred_b, &m, "SAE_LISTEN for an unknown SAE", ENOENT,
	       "no such SAE", o, 0);
	base(&m, QKDN_CMD_SAE_LISTEN, QKDN_A_SAE_ID);
	o = put_str(&m, QKDN_A_SAE_ID, "sae-l");
	BAD(&m, "SAE_LISTEN as root for sae-l (uid 1002)", EACCES,
	    "caller may not act as this SAE", o, 0);
	BAD_AS(&cred_a, &m, "SAE_LISTEN as uid 1001 for sae-l", EACCES,
	       "caller may not act as this SAE", o, 0);
	BAD_AS(&cred_nocap, &m, "SAE_LISTEN as root without CAP_NET_ADMIN",
	       EACCES, "caller may not act as this SAE", o, 0);
	base(&m, QKDN_CMD_SAE_LISTEN, QKDN_A_SAE_ID);
	o = put_str(&m, QKDN_A_SAE_ID, "sae-b");
	BAD_AS(&cred_b, &m, "SAE_LISTEN for a remote SAE", EACCES,
	       "caller may not act as this SAE", o, 0);

	sae_listener(_metadata, &l, UID_B, "sae-l");
	sae_listen(_metadata, &l, UID_B, "sae-l");	/* again: same socket */
	base(&m, QKDN_CMD_SAE_LISTEN, QKDN_A_SAE_ID);
	o = put_str(&m, QKDN_A_SAE_ID, "sae-l");
	BAD_AS(&cred_b, &m, "SAE_LISTEN while another socket listens", EBUSY,
	       "another socket listens for this SAE", o, 0);
	bad_via(_metadata, &self->s, &l, 0, &m,
		"SAE_LISTEN on the listening socket, as root", EACCES,
		"caller may not act as this SAE", o, 0, 0);

	/* It hears the notifications for sae-l. */
	notify(_metadata, &self->s, &l, 0x7201, &note_l,
	       "CTRL session creation notification");

	/* Closed: nobody listens for sae-l; another socket may. */
	nlc_close(&l);
	note_msg(&m, QKDN_A_SLAVE_SAE_ID, 0x7202, "kme-2", "sae-b", NULL);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-l");
	BAD(&m, "notification after the listening socket closed",
	    ECONNREFUSED, "the slave SAE is not listening", o, 0);
	base(&m, QKDN_CMD_SAE_LISTEN, 0);
	run_as(_metadata, self->ns, &cred_b, m.nlh, r);
	EXPECT_EQ(0, r->err) TH_LOG("SAE_LISTEN once the socket closed: %s (%s)",
				    errname(r->err), r->msg);
	/* That socket closed in turn when its process ended. */
	note_msg(&m, QKDN_A_SLAVE_SAE_ID, 0x7202, "kme-2", "sae-b", NULL);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-l");
	BAD(&m, "notification after the second socket closed", ECONNREFUSED,
	    "the slave SAE is not listening", o, 0);

	/* The session of the closed socket is gone with it. */
	sae_listener(_metadata, &l, UID_B, "sae-l");
	notify(_metadata, &self->s, &l, 0x7201, &note_l,
	       "CTRL the ID of a closed socket's session");
	nlc_close(&l);
	rep_free(r);
}

/*
 * The controller's "session creation notification" and the listening
 * SAE's answer: what the kernel refuses (and the SAE never hears), the
 * notification it passes on once, answers from others, the response to
 * the controller with the SAE's errno, the end of the socket.
 */
TEST_F_TIMEOUT(node, session_notification, 60)
{
	static const uint16_t need[] = {
		QKDN_A_SESSION_ID, QKDN_A_SRC_NODE_ID, QKDN_A_MASTER_SAE_ID,
		QKDN_A_SLAVE_SAE_ID,
	};
	char long_id[QKDN_ID_MAX + 1], what[96];
	struct rep *r = rep_new();
	struct ctrl_req q;
	struct nlc c, l;
	unsigned int i;
	struct msg m;
	uint32_t o;

	ASSERT_TRUE(r != NULL);
	fill_str(long_id, 'x', QKDN_ID_MAX);
	ASSERT_EQ(0, ctrl_listen(&c));
	note_msg(&m, QKDN_A_SLAVE_SAE_ID, 0x7301, "kme-2", "sae-b", NULL);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-l");
	BAD(&m, "notification, nobody listening", ECONNREFUSED,
	    "the slave SAE is not listening", o, 0);

	sae_listener(_metadata, &l, UID_B, "sae-l");
	for (i = 0; i < ARRAY_SIZE(need); i++) {
		note_msg(&m, need[i], 0x7301, "kme-2", "sae-b", "sae-l");
		snprintf(what, sizeof(what), "notification without attribute %u",
			 need[i]);
		BAD(&m, what, EINVAL, NO_MSG, NO_OFFS, need[i]);
	}
	note_msg(&m, QKDN_A_SRC_NODE_ID, 0x7301, NULL, "sae-b", "sae-l");
	put_str(&m, QKDN_A_SRC_NODE_ID, "kme 2");
	BAD(&m, "notification from \"kme 2\"", EINVAL,
	    "node or SAE ID malformed", NO_OFFS, 0);
	note_msg(&m, QKDN_A_SRC_NODE_ID, 0x7301, NULL, "sae-b", "sae-l");
	put_str(&m, QKDN_A_SRC_NODE_ID, "");
	BAD(&m, "notification from \"\"", EINVAL, "node or SAE ID malformed",
	    NO_OFFS, 0);
	note_msg(&m, QKDN_A_SRC_NODE_ID, 0x7301, NULL, "sae-b", "sae-l");
	o = put_strn(&m, QKDN_A_SRC_NODE_ID, "kme-2");
	BAD(&m, "notification, source without NUL", EINVAL, POLICY_MSG, o, 0);
	note_msg(&m, QKDN_A_MASTER_SAE_ID, 0x7301, "kme-2", NULL, "sae-l");
	put_str(&m, QKDN_A_MASTER_SAE_ID, "sae/b");
	BAD(&m, "notification, master \"sae/b\"", EINVAL,
	    "node or SAE ID malformed", NO_OFFS, 0);
	note_msg(&m, QKDN_A_MASTER_SAE_ID, 0x7301, "kme-2", NULL, "sae-l");
	o = put_str(&m, QKDN_A_MASTER_SAE_ID, long_id);
	BAD(&m, "notification, master of 64 characters", EINVAL, POLICY_MSG,
	    o, 0);
	note_msg(&m, QKDN_A_SLAVE_SAE_ID, 0x7301, "kme-2", "sae-b", NULL);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae l");
	BAD(&m, "notification, slave \"sae l\"", EINVAL, "ID must be", o, 0);
	note_msg(&m, QKDN_A_SLAVE_SAE_ID, 0x7301, "kme-2", "sae-b", NULL);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-zz");
	BAD(&m, "notification for an unknown slave", ENOENT, "no such SAE", o,
	    0);
	note_msg(&m, QKDN_A_SLAVE_SAE_ID, 0x7301, "kme-2", "sae-b", NULL);
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-b");
	BAD(&m, "notification for a slave served elsewhere", EOPNOTSUPP,
	    "slave SAE is not served by this node", o, 0);
	note_msg(&m, 0, 0x7301, "kme-2", "sae-b", "sae-l");
	o = put_u32(&m, QKDN_A_ERRNO, ECONNREFUSED);
	BAD(&m, "notification with ERRNO", EINVAL,
	    "only an answer may carry an error", o, 0);
	EXPECT_FALSE(sae_read(&l, 100, 0, r))
		TH_LOG("the SAE heard of a refused notification");

	/* A good one: sae-l hears it, once. */
	notify(_metadata, &self->s, &l, 0x7301, &note_l,
	       "CTRL session creation notification");
	note_msg(&m, QKDN_A_SESSION_ID, 0, "kme-2", "sae-b", "sae-l");
	o = put_u32(&m, QKDN_A_SESSION_ID, 0x7301);
	BAD(&m, "notification with a session ID in use", EEXIST,
	    "session ID already in use here", o, 0);
	EXPECT_FALSE(sae_read(&l, 100, 0, r))
		TH_LOG("the SAE heard of a duplicate notification");

	/* Answers that do not count. */
	session_answer_msg(&m, 0x7301, 0);
	bad(_metadata, &self->s, self->ns, &cred_b, &m,
	    "answer from another socket of uid 1002", EACCES,
	    "only the socket listening for the slave SAE may answer", NO_OFFS,
	    0, 0);
	bad_via(_metadata, &self->s, &l, 0, &m,
		"answer from the listening socket as root", EACCES,
		"only the socket listening for the slave SAE may answer",
		NO_OFFS, 0, 0);
	bad_via(_metadata, &self->s, &l, UID_A, &m,
		"answer from the listening socket as uid 1001", EACCES,
		"only the socket listening for the slave SAE may answer",
		NO_OFFS, 0, 0);
	o = session_answer_msg(&m, 0x7302, 0);
	bad_via(_metadata, &self->s, &l, UID_B, &m, "answer for no session",
		ENOENT, "no session notification awaits an answer", o, 0, 0);
	req(&m, QKDN_CMD_SESSION);
	put_u32(&m, QKDN_A_ERRNO, 0);
	bad_via(_metadata, &self->s, &l, UID_B, &m, "answer without SESSION_ID",
		EINVAL, NO_MSG, NO_OFFS, QKDN_A_SESSION_ID, 0);
	req(&m, QKDN_CMD_SESSION);
	put_u32(&m, QKDN_A_SESSION_ID, 0x7301);
	o = put_u32(&m, QKDN_A_ERRNO, ERRNO_MAX + 1);
	bad_via(_metadata, &self->s, &l, UID_B, &m, "answer with ERRNO 512",
		ERANGE, "out of range", o, 0, 0);
	EXPECT_FALSE(ctrl_read(&c, 100, &q))
		TH_LOG("the controller heard a refused answer (msg %u)", q.msg);

	/* Accepted: the controller hears it; a second answer is refused. */
	session_answer_msg(&m, 0x7301, -1);
	sae_ok(_metadata, &l, UID_B, &m, "SESSION accepting");
	ASSERT_TRUE(ctrl_read(&c, 2000, &q)) TH_LOG("no response to the controller");
	expect_session_resp(_metadata, &q, 0x7301, "kme-2", "kme-1", "sae-b",
			    "sae-l", 0);
	o = session_answer_msg(&m, 0x7301, EPERM);
	bad_via(_metadata, &self->s, &l, UID_B, &m, "a second answer", ENOENT,
		"no session notification awaits an answer", o, 0, 0);
	note_msg(&m, QKDN_A_SESSION_ID, 0, "kme-2", "sae-b", "sae-l");
	o = put_u32(&m, QKDN_A_SESSION_ID, 0x7301);
	BAD(&m, "notification for the accepted session", EEXIST,
	    "session ID already in use here", o, 0);

	/* Refused with the SAE's errno: the session is forgotten. */
	notify(_metadata, &self->s, &l, 0x7302, &note_l,
	       "CTRL session creation notification");
	session_answer_msg(&m, 0x7302, EPERM);
	sae_ok(_metadata, &l, UID_B, &m, "SESSION refusing");
	ASSERT_TRUE(ctrl_read(&c, 2000, &q));
	expect_session_resp(_metadata, &q, 0x7302, "kme-2", "kme-1", "sae-b",
			    "sae-l", EPERM);
	notify(_metadata, &self->s, &l, 0x7302, &note_l,
	       "CTRL the refused session's ID again");

	/*
	 * The socket closes: its unanswered notification is refused with
	 * ECONNREFUSED, its accepted session ends.
	 */
	nlc_close(&l);
	ASSERT_TRUE(ctrl_read(&c, 2000, &q));
	expect_session_resp(_metadata, &q, 0x7302, "kme-2", "kme-1", "sae-b",
			    "sae-l", ECONNREFUSED);
	EXPECT_FALSE(ctrl_read(&c, 100, &q))
		TH_LOG("a second response as the socket closed (session %u)",
		       q.session);
	sae_listener(_metadata, &l, UID_B, "sae-l");
	notify(_metadata, &self->s, &l, 0x7301, &note_l,
	       "CTRL the ID of an ended session");
	nlc_close(&l);
	nlc_close(&c);
	rep_free(r);
}

#define SUPPLY_LEN_MSG	"Kx key supply frame length does not match its content"

/* Malformed "key supply notification" and response frames. */
TEST_F(node, kx_frame_supply)
{
	uint8_t ids[(QKDN_KEYS_PER_REQUEST + 1) * QKDN_KEY_ID_LEN];
	const char *what = "the node, after responses to no supply";
	char unterminated[QKDN_ID_MAX + 1];
	/* Notifications of one key with a field out of the rules. */
	const struct {
		uint32_t session;
		uint16_t kb;
		const char *master, *slave, *what;
	} malformed[] = {
		{ 7, 7, "sae-b", "sae-l", "Kx SUPPLY of 56-bit keys" },
		{ 7, 1025, "sae-b", "sae-l", "Kx SUPPLY of 8200-bit keys" },
		{ 7, 0, "sae-b", "sae-l", "Kx SUPPLY of 0-bit keys" },
		{ 0, 32, "sae-b", "sae-l", "Kx SUPPLY for session 0" },
		{ 7, 32, "", "sae-l", "Kx SUPPLY with an empty master" },
		{ 7, 32, "sae-b", "", "Kx SUPPLY with an empty slave" },
		{ 7, 32, unterminated, "sae-l",
		  "Kx SUPPLY master without NUL" },
		{ 7, 32, "sae-b", unterminated, "Kx SUPPLY slave without NUL" },
		{ 7, 32, "sae b", "sae-l", "Kx SUPPLY master \"sae b\"" },
		{ 7, 32, "sae-b", "sae/l", "Kx SUPPLY slave \"sae/l\"" },
	};
	struct kxf *f = malloc(sizeof(*f));
	uint8_t id[QKDN_RELAY_ID_LEN];
	struct rep *r = rep_new();
	struct kx_supply *s;
	struct kx_supply_done *d;
	uint64_t bad_frames;
	struct snap *a;
	unsigned int i;
	struct msg m;

	ASSERT_TRUE(f && r);
	fill_str(unterminated, 's', QKDN_ID_MAX);
	make_ids(ids, QKDN_KEYS_PER_REQUEST + 1, 0x5a);
	name_id(id, "supply-x");

	kx_init(f, KX_SUPPLY, 1, 0);
	kx_put(f, sizeof(*s) - 1);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY body too short", EINVAL,
	       SUPPLY_LEN_MSG);
	s = kx_supply(f, 1, 0, "supply-x", 7, 2, 0, 32, 1, "sae-b", "sae-l",
		      ids);
	s->count = 0;
	kx_trim(f, QKDN_KEY_ID_LEN);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY of no key", EINVAL,
	       SUPPLY_LEN_MSG);
	kx_supply(f, 1, 0, "supply-x", 7, 2, 0, 32,
		  QKDN_KEYS_PER_REQUEST + 1, "sae-b", "sae-l", ids);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY of 129 keys", EINVAL,
	       SUPPLY_LEN_MSG);
	kx_supply(f, 1, 0, "supply-x", 7, 2, 0, 32, 2, "sae-b", "sae-l", ids);
	kx_trim(f, QKDN_KEY_ID_LEN);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY missing a key ID", EINVAL,
	       SUPPLY_LEN_MSG);
	kx_supply(f, 1, 0, "supply-x", 7, 2, 0, 32, 1, "sae-b", "sae-l", ids);
	kx_put(f, QKDN_KEY_ID_LEN);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY with an extra key ID", EINVAL,
	       SUPPLY_LEN_MSG);

	for (i = 0; i < ARRAY_SIZE(malformed); i++) {
		kx_supply(f, 1, 0, "supply-x", malformed[i].session, 2, 0,
			  malformed[i].kb, 1, malformed[i].master,
			  malformed[i].slave, ids);
		kx_bad(_metadata, &self->s, f, malformed[i].what, EINVAL,
		       "Kx key supply notification malformed");
	}
	memcpy(ids + 2 * QKDN_KEY_ID_LEN, ids, QKDN_KEY_ID_LEN);
	kx_supply(f, 1, 0, "supply-x", 7, 2, 0, 32, 3, "sae-b", "sae-l", ids);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY naming a key ID twice",
	       EINVAL, "Kx key supply notification malformed");
	make_ids(ids, QKDN_KEYS_PER_REQUEST + 1, 0x5a);

	kx_init(f, KX_SUPPLY_DONE, 1, 0);
	kx_put(f, sizeof(*d) - 1);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY_DONE body too short", EINVAL,
	       SUPPLY_LEN_MSG);
	kx_supply_done(f, 1, 0, id, 7, 0, QKDN_KEYS_PER_REQUEST + 1, ids);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY_DONE of 129 keys", EINVAL,
	       SUPPLY_LEN_MSG);
	kx_supply_done(f, 1, 0, id, 7, 0, 2, ids);
	kx_trim(f, QKDN_KEY_ID_LEN);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY_DONE missing a key ID",
	       EINVAL, SUPPLY_LEN_MSG);
	kx_supply_done(f, 1, 0, id, 7, 0, 0, ids);
	kx_put(f, QKDN_KEY_ID_LEN);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY_DONE with an extra key ID",
	       EINVAL, SUPPLY_LEN_MSG);
	kx_supply_done(f, 1, 0, id, 7, ERRNO_MAX + 1, 0, ids);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY_DONE with errno 512", EINVAL,
	       "Kx key supply response malformed");
	kx_supply_done(f, 1, 0, id, 7, UINT32_MAX, 1, ids);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY_DONE with errno 2^32-1",
	       EINVAL, "Kx key supply response malformed");
	kx_supply(f, 0, 0, "supply-x", 7, 2, 0, 32, 1, "sae-b", "sae-l", ids);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY without sequence number",
	       EINVAL, "without sequence number");

	/* Well-formed responses to no supply of this node: taken, ignored. */
	bad_frames = link_stat(&self->s, 1, QKDN_A_STATS_FRAMES_BAD);
	a = state_before(_metadata, &self->s, F_NOSTATS, what);
	kx_supply_done(f, 1, 0, id, 7, 0, 0, NULL);
	frame_req(&m, 1, f);
	nlc_txrx(&self->s, m.nlh, r);
	EXPECT_EQ(0, r->err) TH_LOG("SUPPLY_DONE of no supply: %s (%s)",
				    errname(r->err), r->msg);
	kx_supply_done(f, 2, 0, id, 7, ERRNO_MAX, QKDN_KEYS_PER_REQUEST, ids);
	frame_req(&m, 1, f);
	nlc_txrx(&self->s, m.nlh, r);
	EXPECT_EQ(0, r->err) TH_LOG("SUPPLY_DONE of 128 keys of no supply: %s (%s)",
				    errname(r->err), r->msg);
	expect_state(_metadata, &self->s, a, F_NOSTATS, what);
	EXPECT_EQ(bad_frames, link_stat(&self->s, 1, QKDN_A_STATS_FRAMES_BAD));
	rep_free(r);
	free(f);
}

/* A well-formed key supply notification the pool cannot hold. */
TEST_F(node, kx_supply_mismatch)
{
	struct kxf *f = malloc(sizeof(*f));

	ASSERT_TRUE(f != NULL);
	kx_supply(f, 1, 0, "supply-1", 7, 2, 0, 32, 1, "sae-b", "sae-l", NULL);
	kx_bad(_metadata, &self->s, f, "Kx SUPPLY from an empty pool", EPROTO,
	       "Kx key supply does not match the pool");
	free(f);
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

/* Node i's link daemon got a frame to send: fwd_one() it. */
struct fwd_read {
	struct fwd *f;
	int from;
	struct msg *m;
	struct rep *r;
};

static bool fwd_read_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *a = attr_find(nlh, QKDN_A_KX_FRAME);
	struct fwd_read *c = arg;

	if (a)
		fwd_one(c->f, c->from, mnl_attr_get_payload(a),
			mnl_attr_get_payload_len(a), c->m, c->r);
	return false;
}

static void *fwd_main(void *arg)
{
	struct fwd *f = arg;
	struct msg *m = malloc(sizeof(*m));
	char *buf = malloc(RX_MAX);
	struct rep *r = rep_new();
	struct fwd_read c = { .f = f, .m = m, .r = r };

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
			ssize_t n;

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
			c.from = i;
			nl_walk(buf, n, QKDN_CMD_KX_FRAME, fwd_read_cb, &c);
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
	char dev[DEV_LEN];
	int i;

	self->ns[0] = self->ns[1] = -1;
	pthread_mutex_init(&self->f.lock, NULL);
	need_qkdsim(_metadata);
	for (i = 0; i < 2; i++) {
		self->ns[i] = new_netns(_metadata);
		ASSERT_EQ(0, nlc_open(&self->c[i]));
	}
	need_family(_metadata, &self->c[0]);

	qkdsim_pair(_metadata, self->ns, &self->pair, 0x5eed000000000000ULL,
		    &self->seed, dev);

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

	key_get_msg(&m, master, slave, 0, number, bits);
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
 * "Key request" of the local SAE at node `from` for number keys of bits
 * (0: the defaults): k gets them, distinct, the next bytes of the node's
 * stream.
 */
static void get_keys(struct __test_metadata *_metadata,
		     FIXTURE_DATA(pair) *self, int from, uint32_t number,
		     uint32_t bits, struct keyset *k, struct rep *r)
{
	const char *master = from ? "sae-b" : "sae-a";
	const char *slave = from ? "sae-a" : "sae-b";
	uint32_t want_n = number ? number : 1;
	uint32_t want_len = (bits ? bits : QKDN_KEY_SIZE_DEFAULT) / 8;
	uint32_t i, j;

	key_get(_metadata, self, from, from ? UID_B : UID_A, master, slave,
		number, bits, r);
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
}

/*
 * "Key request with ID" at the other node by the slave SAE of keys its
 * master at `from` got: exactly the keys k.
 */
static void expect_by_id(struct __test_metadata *_metadata,
			 FIXTURE_DATA(pair) *self, int from,
			 const struct keyset *k, struct rep *r)
{
	const char *master = from ? "sae-b" : "sae-a";
	const char *slave = from ? "sae-a" : "sae-b";
	struct keyset *got = malloc(sizeof(*got));

	ASSERT_TRUE(got != NULL);
	key_get_by_id(_metadata, self, !from, from ? UID_A : UID_B, master,
		      slave, k, r);
	ASSERT_EQ(0, r->err)
		TH_LOG("KEY_GET_BY_ID of %u keys at %s: %s (%s)", k->n,
		       node_ids[!from], errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, got)) TH_LOG("malformed KEY_GET_BY_ID reply");
	expect_same_keys(_metadata, k, got);
	free(got);
}

/*
 * "Key request" at node `from` by its local SAE, "key request with ID" at
 * the other node by the slave SAE: the same keys, the simulator's bytes.
 */
static void roundtrip(struct __test_metadata *_metadata,
		      FIXTURE_DATA(pair) *self, int from, uint32_t number,
		      uint32_t bits, struct keyset *k)
{
	struct rep *r = rep_new();

	ASSERT_TRUE(r != NULL);
	get_keys(_metadata, self, from, number, bits, k, r);
	expect_by_id(_metadata, self, from, k, r);
	rep_free(r);
}

static void expect_fwd_clean(struct __test_metadata *_metadata,
			     FIXTURE_DATA(pair) *self)
{
	pthread_mutex_lock(&self->f.lock);
	EXPECT_EQ(0UL, self->f.failed[0] + self->f.failed[1])
		TH_LOG("a kernel refused its peer's frames %lu times: %s (%s)",
		       self->f.failed[0] + self->f.failed[1],
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
	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		for (j = 0; j < ARRAY_SIZE(counts); j++)
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
	struct snap *a[2];
	struct rep *r = rep_new();
	struct msg m;
	int i;

	ASSERT_TRUE(k && r);
	fill(_metadata, self, 16);	/* kme-1 owns 8 blocks: 32768 bytes */
	roundtrip(_metadata, self, 0, 128, 2048, k);
	wait_pools(_metadata, self);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));

	/* Nothing left: the smallest request fails and takes nothing. */
	for (i = 0; i < 2; i++)
		a[i] = state_before(_metadata, &self->c[i], F_NOSTATS,
				    node_ids[i]);
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 1, 64, r);
	check_err(_metadata, "KEY_GET of 64 bits from an empty pool", r,
		  ENOSPC, "not enough key", NO_OFFS, 0);
	usleep(100000);
	for (i = 0; i < 2; i++)
		expect_state(_metadata, &self->c[i], a[i], F_NOSTATS,
			     node_ids[i]);

	/* 4096 bytes left: 5 x 1024 bytes are too many, 4 fit exactly. */
	fill(_metadata, self, 2);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	a[1] = state_before(_metadata, &self->c[1], F_NOSTATS, "the peer");
	reserved = link_stat(&self->c[0], link_ids[0],
			     QKDN_A_STATS_KEYS_RESERVED);
	key_get_msg(&m, "sae-a", "sae-b", 0, 5, 8192);
	bad(_metadata, &self->c[0], self->ns[0], &cred_a, &m,
	    "KEY_GET of 5 x 8192 bits with 4096 bytes in the pool", ENOSPC,
	    "not enough key", NO_OFFS, 0, F_NOSTATS);
	usleep(100000);
	expect_state(_metadata, &self->c[1], a[1], F_NOSTATS, "the peer");
	EXPECT_EQ(reserved, link_stat(&self->c[0], link_ids[0],
				      QKDN_A_STATS_KEYS_RESERVED));
	roundtrip(_metadata, self, 0, 4, 8192, k);
	key_get(_metadata, self, 0, UID_A, "sae-a", "sae-b", 1, 64, r);
	check_err(_metadata, "KEY_GET after the pool ran dry", r, ENOSPC,
		  "not enough key", NO_OFFS, 0);
	expect_fwd_clean(_metadata, self);
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
	struct keyset *k = malloc(sizeof(*k));
	struct rep *r = rep_new();
	uint64_t deadline;
	struct msg m;
	struct pool p;

	ASSERT_TRUE(k && r);
	fill(_metadata, self, 8);
	get_keys(_metadata, self, 0, 2, 256, k, r);
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
	expect_by_id(_metadata, self, 0, k, r);
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(k);
}

/*
 * The Kx channel loses frames: the slave's request waits, then fails; once
 * the channel is back the reservation is retransmitted and arrives once.
 */
TEST_F_TIMEOUT(pair, lost_frames_retransmitted, 120)
{
	struct keyset *k = malloc(sizeof(*k));
	struct rep *r = rep_new();
	uint64_t received, t0, t;
	struct pool p;
	int i;

	ASSERT_TRUE(k && r);
	fill(_metadata, self, 8);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	received = link_stat(&self->c[1], link_ids[1],
			     QKDN_A_STATS_KEYS_RECEIVED);

	fwd_set(&self->f.pause, 1);
	get_keys(_metadata, self, 0, 4, 256, k, r);

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

	expect_by_id(_metadata, self, 0, k, r);
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

	key_get_msg(&m, "sae-a", "sae-b", 0, 0, 64);
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
	struct rep *r = rep_new();
	uint64_t t0, t;
	uint32_t i;

	ASSERT_TRUE(k && ask && r);
	fill(_metadata, self, 8);
	get_keys(_metadata, self, 0, 3, 256, k, r);
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
	expect_by_id(_metadata, self, 0, ask, r);
	EXPECT_TRUE(wait_reserved(&self->c[1], link_ids[1], 0));

	/* Keys of two reservations in one request. */
	get_keys(_metadata, self, 0, 1, 64, k, r);
	get_keys(_metadata, self, 0, 1, 8192, ask, r);
	memcpy(k->id[1], ask->id[0], QKDN_KEY_ID_LEN);
	memcpy(k->data[1], ask->data[0], ask->len[0]);
	k->len[1] = ask->len[0];
	k->n = 2;
	expect_by_id(_metadata, self, 0, k, r);
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(k);
	free(ask);
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
	get_keys(_metadata, self, 0, 2, 256, k, r[0]);

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
	struct rep *r = rep_new();
	uint64_t retx;

	ASSERT_TRUE(ka && kb && r);
	fill(_metadata, self, 8);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	retx = link_stat(&self->c[0], link_ids[0], QKDN_A_STATS_FRAMES_RETX);
	fwd_set(&self->f.drop_reserve, 1);
	get_keys(_metadata, self, 0, 1, 256, ka, r);
	get_keys(_metadata, self, 0, 2, 128, kb, r);

	expect_by_id(_metadata, self, 0, kb, r);
	expect_by_id(_metadata, self, 0, ka, r);
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
	struct keyset *k = malloc(sizeof(*k));
	uint8_t want[BLOCK_SIZE];
	struct rep *r = rep_new();
	struct pools w, p;
	struct msg m;

	ASSERT_TRUE(k && r);
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
	get_keys(_metadata, self, 0, 8, 8192, k, r);
	expect_by_id(_metadata, self, 0, k, r);

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
	expect_by_id(_metadata, self, 0, k, r);
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(k);
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
	char dev[DEV_LEN];
	struct msg m;

	ASSERT_TRUE(k != NULL);
	fill(_metadata, self, 8);
	roundtrip(_metadata, self, 0, 2, 256, k);
	roundtrip(_metadata, self, 1, 2, 256, k);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));

	req(&m, QKDN_CMD_LINK_DEL);
	put_u32(&m, QKDN_A_LINK_ID, link_ids[1]);
	ok_req(_metadata, &self->c[1], &m, "LINK_DEL at kme-2");
	qkdsim_dev(dev, self->pair);
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
	expect_fwd_clean(_metadata, self);
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
	struct keyset *k = malloc(sizeof(*k));
	struct snap *a[2];
	struct rep *r = rep_new();
	uint64_t recv0, recv1;
	unsigned int n, i;
	struct msg m;
	struct kxf *f = malloc(sizeof(*f));

	ASSERT_TRUE(k && r && f);
	fill(_metadata, self, 8);
	roundtrip(_metadata, self, 0, 2, 256, k);
	get_keys(_metadata, self, 0, 2, 256, k, r);
	ASSERT_TRUE(fwd_quiet(&self->f, 700));
	wait_pools(_metadata, self);
	recv0 = link_stat(&self->c[0], link_ids[0], QKDN_A_STATS_KEYS_RECEIVED);
	recv1 = link_stat(&self->c[1], link_ids[1], QKDN_A_STATS_KEYS_RECEIVED);
	for (i = 0; i < 2; i++)
		a[i] = state_before(_metadata, &self->c[i], F_NOSTATS,
				    node_ids[i]);

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
	for (i = 0; i < 2; i++)
		expect_state(_metadata, &self->c[i], a[i], F_NOSTATS,
			     node_ids[i]);
	EXPECT_EQ(recv0, link_stat(&self->c[0], link_ids[0],
				   QKDN_A_STATS_KEYS_RECEIVED));
	EXPECT_EQ(recv1, link_stat(&self->c[1], link_ids[1],
				   QKDN_A_STATS_KEYS_RECEIVED));

	expect_by_id(_metadata, self, 0, k, r);
	roundtrip(_metadata, self, 1, 1, 256, k);
	expect_fwd_clean(_metadata, self);
	free(f);
	rep_free(r);
	free(k);
}

/* ====================================================================
 * The hash of the relay MAC against published GCM test vectors.
 * ==================================================================== */

/* ---- Q.4160 messages on the "events" group ---- */

/* A QKDN_EVENT_MESSAGE event. */
struct msg_ev {
	uint32_t msg, count, err;
	int dir;			/* -1: none */
	bool has_src, has_dst, has_count, has_err, has_errmsg, has_relay;
	char peer[96], src[QKDN_ID_MAX], dst[QKDN_ID_MAX];
};

static int msg_ev_cb(const struct nlattr *a, void *data)
{
	bool u32 = mnl_attr_get_payload_len(a) == sizeof(uint32_t);
	struct msg_ev *e = data;

	switch (mnl_attr_get_type(a)) {
	case QKDN_A_MSG:
		if (u32)
			e->msg = mnl_attr_get_u32(a);
		break;
	case QKDN_A_MSG_DIR:
		if (mnl_attr_get_payload_len(a) == sizeof(uint8_t))
			e->dir = mnl_attr_get_u8(a);
		break;
	case QKDN_A_MSG_PEER:
		copy_str(e->peer, sizeof(e->peer), a);
		break;
	case QKDN_A_SRC_NODE_ID:
		e->has_src = true;
		copy_str(e->src, sizeof(e->src), a);
		break;
	case QKDN_A_DST_NODE_ID:
		e->has_dst = true;
		copy_str(e->dst, sizeof(e->dst), a);
		break;
	case QKDN_A_KEY_COUNT:
		e->has_count = u32;
		if (u32)
			e->count = mnl_attr_get_u32(a);
		break;
	case QKDN_A_ERRNO:
		e->has_err = true;
		if (u32)
			e->err = mnl_attr_get_u32(a);
		break;
	case QKDN_A_ERRMSG:
		e->has_errmsg = true;
		break;
	case QKDN_A_RELAY_ID:
		e->has_relay = true;
		break;
	}
	return MNL_CB_OK;
}

struct msg_events {
	struct msg_ev *ev;
	unsigned int n, max;
};

static bool msg_events_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct msg_events *c = arg;

	if (get_num(nlh, QKDN_A_EVENT) != QKDN_EVENT_MESSAGE)
		return false;
	if (c->n < c->max) {
		struct msg_ev *e = &c->ev[c->n];

		memset(e, 0, sizeof(*e));
		e->dir = -1;
		mnl_attr_parse(nlh, GENL_HDRLEN, msg_ev_cb, e);
	}
	c->n++;
	return false;
}

/*
 * The QKDN_EVENT_MESSAGE events that came on s until none came for
 * quiet_ms: the first max in ev, the number of all returned.
 */
static unsigned int msg_events(struct nlc *s, int quiet_ms, struct msg_ev *ev,
			       unsigned int max)
{
	struct msg_events c = { .ev = ev, .max = max };

	nl_recv(s, quiet_ms, true, QKDN_CMD_EVENT, msg_events_cb, &c);
	return c.n;
}

/* An event expected: src, dst NULL and count 0 must be absent. */
struct ev_want {
	uint32_t msg;
	uint8_t dir;
	const char *peer, *src, *dst;
	uint32_t count;
};

/* The events of node are exactly w, in order, none with an error. */
static void expect_events(struct __test_metadata *_metadata,
			  const char *node, const struct msg_ev *ev,
			  unsigned int n, const struct ev_want *w,
			  unsigned int nw)
{
	unsigned int i;

	EXPECT_EQ(nw, n) TH_LOG("%s: %u message events, expected %u", node, n,
				nw);
	for (i = 0; i < n && i < nw; i++) {
		const struct msg_ev *e = &ev[i];
		bool ok = e->msg == w[i].msg && e->dir == w[i].dir &&
			  !strcmp(e->peer, w[i].peer) &&
			  e->has_src == !!w[i].src &&
			  (!w[i].src || !strcmp(e->src, w[i].src)) &&
			  e->has_dst == !!w[i].dst &&
			  (!w[i].dst || !strcmp(e->dst, w[i].dst)) &&
			  e->has_count == !!w[i].count &&
			  e->count == w[i].count && !e->has_err &&
			  !e->has_errmsg && !e->has_relay;

		EXPECT_TRUE(ok)
			TH_LOG("%s event %u: %u/%d %s src %s dst %s keys %u%s%s%s, expected %u/%u %s src %s dst %s keys %u",
			       node, i, e->msg, e->dir, e->peer,
			       e->has_src ? e->src : "-",
			       e->has_dst ? e->dst : "-", e->count,
			       e->has_err ? " errno" : "",
			       e->has_errmsg ? " errmsg" : "",
			       e->has_relay ? " relay-id" : "", w[i].msg,
			       w[i].dir, w[i].peer, w[i].src ? w[i].src : "-",
			       w[i].dst ? w[i].dst : "-", w[i].count);
	}
}

#define RCVD	QKDN_MSG_DIR_RECEIVED
#define SENT	QKDN_MSG_DIR_SENT

/*
 * The Q.4160 messages each KM reports on "events", in order, for an I.1
 * exchange and an I.2 exchange between the two nodes; this program is
 * the QKDN controller of both and sae-b's application at kme-2. In I.2,
 * sae-a gets exactly the keys sae-b took, from kme-1's stream.
 */
TEST_F_TIMEOUT(pair, message_events, 120)
{
	static const struct ev_want i1[2][2] = {
		{
			{ QKDN_MSG_KEY_REQUEST, RCVD, "sae:sae-a", NULL,
			  "kme-2", 2 },
			{ QKDN_MSG_KEY_REQUEST_RESPONSE, SENT, "sae:sae-a",
			  NULL, "kme-2", 2 },
		}, {
			{ QKDN_MSG_KEY_REQUEST_WITH_ID, RCVD, "sae:sae-b",
			  NULL, NULL, 2 },
			{ QKDN_MSG_KEY_REQUEST_RESPONSE, SENT, "sae:sae-b",
			  NULL, NULL, 2 },
		},
	};
	static const struct ev_want i2[2][8] = {
		{
			{ QKDN_MSG_SESSION_CREATION_REQUEST, RCVD,
			  "sae:sae-a", NULL, "kme-2", 0 },
			{ QKDN_MSG_SESSION_CREATION_REQUEST, SENT,
			  "controller", "kme-1", "kme-2", 0 },
			{ QKDN_MSG_SESSION_CREATION_RESPONSE, RCVD,
			  "controller", NULL, "kme-2", 0 },
			{ QKDN_MSG_SESSION_CREATION_RESPONSE, SENT,
			  "sae:sae-a", NULL, "kme-2", 0 },
			{ QKDN_MSG_KEY_REQUEST_WITH_SESSION_ID, RCVD,
			  "sae:sae-a", NULL, "kme-2", 4 },
			{ QKDN_MSG_KEY_SUPPLY_NOTIFICATION, SENT, "km:kme-2",
			  NULL, "kme-2", 4 },
			{ QKDN_MSG_KEY_SUPPLY_NOTIFICATION_RESPONSE, RCVD,
			  "km:kme-2", NULL, "kme-2", 3 },
			{ QKDN_MSG_SESSION_KEY_RESPONSE, SENT, "sae:sae-a",
			  NULL, "kme-2", 3 },
		}, {
			{ QKDN_MSG_SESSION_CREATION_NOTIFICATION, RCVD,
			  "controller", "kme-1", NULL, 0 },
			{ QKDN_MSG_SESSION_CREATION_NOTIFICATION, SENT,
			  "sae:sae-b", "kme-1", NULL, 0 },
			{ QKDN_MSG_SESSION_NOTIFICATION_RESPONSE, RCVD,
			  "sae:sae-b", "kme-1", NULL, 0 },
			{ QKDN_MSG_SESSION_NOTIFICATION_RESPONSE, SENT,
			  "controller", "kme-1", "kme-2", 0 },
			{ QKDN_MSG_KEY_SUPPLY_NOTIFICATION, RCVD, "km:kme-1",
			  "kme-1", NULL, 4 },
			{ QKDN_MSG_PROACTIVE_KEY_SUPPLY, SENT, "sae:sae-b",
			  "kme-1", NULL, 4 },
			{ QKDN_MSG_PROACTIVE_KEY_SUPPLY_RESPONSE, RCVD,
			  "sae:sae-b", "kme-1", NULL, 0 },
			{ QKDN_MSG_KEY_SUPPLY_NOTIFICATION_RESPONSE, SENT,
			  "km:kme-1", "kme-1", NULL, 3 },
		},
	};
	const uint32_t sid = 0x5e5503;
	struct msg_ev *ev = calloc(64, sizeof(*ev));
	struct keyset *k = malloc(sizeof(*k)), *kb = malloc(sizeof(*kb));
	struct rep *r = rep_new(), *lr = rep_new();
	uint8_t took[3 * QKDN_KEY_ID_LEN], want[32];
	struct nlc evs[2], ctl[2], l;
	struct ctrl_req q, q2;
	unsigned int i, j, n;
	struct msg m;
	pid_t pid;

	ASSERT_TRUE(ev && k && kb && r && lr);
	fill(_metadata, self, 2);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, setns(self->ns[i], CLONE_NEWNET));
		ASSERT_EQ(0, group_listen(&evs[i], QKDN_MCGRP_EVENTS));
		ASSERT_EQ(0, ctrl_listen(&ctl[i]));
	}
	sae_listener(_metadata, &l, UID_B, "sae-b");	/* at kme-2 */

	/* I.1: sae-a's key request at kme-1, sae-b's by ID at kme-2. */
	roundtrip(_metadata, self, 0, 2, 256, k);
	for (i = 0; i < 2; i++) {
		n = msg_events(&evs[i], 300, ev, 64);
		expect_events(_metadata, node_ids[i], ev, n, i1[i], 2);
	}

	/* I.2: the session. */
	pid = session_new_as(self->ns[0], &cred_a, "sae-a", "sae-b", r);
	ctrl_asked(_metadata, pid, &ctl[0], &q);
	expect_session_req(_metadata, &q, "kme-1", "kme-2", "sae-a", "sae-b");
	notify(_metadata, &self->c[1], &l, sid, &note_b,
	       "CTRL session creation notification at kme-2");
	session_answer_msg(&m, sid, 0);
	sae_ok(_metadata, &l, UID_B, &m, "SESSION accepting");
	ASSERT_TRUE(ctrl_read(&ctl[1], 2000, &q2));
	expect_session_resp(_metadata, &q2, sid, "kme-1", "kme-2", "sae-a",
			    "sae-b", 0);
	session_created(_metadata, &self->c[0], q.ctrl_id, sid);
	wait_child(_metadata, pid);
	expect_session(_metadata, r, sid, "sae-a", "sae-b");

	/* Four keys offered to sae-b, which takes 1, 2 and 4. */
	pid = session_key_get(self->ns[0], &cred_a, "sae-a", "sae-b", sid, 4,
			      256, r);
	ASSERT_LE(0, pid);
	ASSERT_TRUE(sae_read(&l, 10000, QKDN_CMD_KEY_SUPPLY, lr))
		TH_LOG("sae-b got no keys");
	EXPECT_EQ(sid, get_num((const struct nlmsghdr *)lr->data,
			       QKDN_A_SESSION_ID));
	ASSERT_TRUE(keys_parse(lr, kb));
	ASSERT_EQ(4U, kb->n);
	for (i = 0, j = 0; i < 4; i++) {
		model(self->seed, true, self->used[0] + i * 32, 32, want);
		EXPECT_EQ(32U, kb->len[i]);
		EXPECT_EQ(0, memcmp(want, kb->data[i], 32))
			TH_LOG("key %u is not kme-1's stream", i);
		if (i != 2)
			memcpy(took + QKDN_KEY_ID_LEN * j++, kb->id[i],
			       QKDN_KEY_ID_LEN);
	}
	self->used[0] += 4 * 32;
	supply_answer_msg(&m, sid, took, 3, NULL);
	sae_ok(_metadata, &l, UID_B, &m, "KEY_SUPPLY taking 3 of 4 keys");
	wait_child(_metadata, pid);
	ASSERT_EQ(0, r->err) TH_LOG("KEY_GET with the session: %s (%s)",
				    errname(r->err), r->msg);
	EXPECT_EQ(sid, get_num((const struct nlmsghdr *)r->data,
			       QKDN_A_SESSION_ID));
	ASSERT_TRUE(keys_parse(r, k));
	ASSERT_EQ(3U, k->n);
	for (i = 0, j = 0; i < 4; i++) {
		if (i == 2)
			continue;
		EXPECT_EQ(0, memcmp(k->id[j], kb->id[i], QKDN_KEY_ID_LEN))
			TH_LOG("sae-a's key %u is not sae-b's key %u", j, i);
		EXPECT_EQ(32U, k->len[j]);
		EXPECT_EQ(0, memcmp(k->data[j], kb->data[i], 32))
			TH_LOG("sae-a and sae-b hold different bytes for key %u",
			       i);
		j++;
	}
	for (i = 0; i < 2; i++) {
		n = msg_events(&evs[i], 300, ev, 64);
		expect_events(_metadata, node_ids[i], ev, n, i2[i], 8);
	}
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	wait_pools(_metadata, self);
	expect_fwd_clean(_metadata, self);
	nlc_close(&l);
	for (i = 0; i < 2; i++) {
		nlc_close(&evs[i]);
		nlc_close(&ctl[i]);
	}
	rep_free(lr);
	rep_free(r);
	free(kb);
	free(k);
	free(ev);
}

#undef RCVD
#undef SENT

/* ---- multicast key requests between the pair ---- */

/*
 * The body of the first frame of type that node `from` sent, logged at or
 * after *pos (the carrier's log), into out (at most max bytes); *pos moves
 * past it. Returns its length, or -1 if there is none.
 */
static int logged_frame(FIXTURE_DATA(pair) *self, int from, uint8_t type,
			unsigned int *pos, uint8_t *out, size_t max)
{
	int len = -1;

	pthread_mutex_lock(&self->f.lock);
	for (; *pos < self->f.nlog; (*pos)++) {
		const struct logged *l = self->f.log[*pos];

		if (l->from != from || l->len <= sizeof(struct kx_hdr) ||
		    l->data[1] != type)
			continue;
		len = l->len - sizeof(struct kx_hdr);
		if ((size_t)len > max)
			len = max;
		memcpy(out, l->data + sizeof(struct kx_hdr), len);
		(*pos)++;
		break;
	}
	pthread_mutex_unlock(&self->f.lock);
	return len;
}

/* What a "key relay" frame says, as logged. */
struct logged_relay {
	uint8_t id[QKDN_RELAY_ID_LEN];
	char dst[QKDN_ID_MAX], slave[QKDN_ID_MAX];
	uint32_t count, key_bytes, hop, flags, nslaves;
	char slaves[QKDN_SLAVES_MAX][QKDN_ID_MAX];
	struct keyset ids;	/* the key IDs only */
};

static void copy_id(char *dst, const char *src)
{
	size_t n = strnlen(src, QKDN_ID_MAX - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The next "key relay" frame of kme-1 logged from *pos on. */
static bool logged_relay(FIXTURE_DATA(pair) *self, unsigned int *pos,
			 struct logged_relay *lr)
{
	uint8_t *body = malloc(QKDN_KX_FRAME_MAX);
	const struct kx_relay *b = (const void *)body;
	struct relay_layout l;
	bool ok = false;
	uint32_t i;
	int len;

	if (!body)
		return false;
	memset(lr, 0, sizeof(*lr));
	len = logged_frame(self, 0, KX_RELAY, pos, body, QKDN_KX_FRAME_MAX);
	if (len < (int)sizeof(*b))
		goto out;
	lr->count = le16toh(b->count);
	lr->key_bytes = le16toh(b->key_bytes);
	lr->hop = b->hop;
	lr->flags = b->flags;
	lr->nslaves = b->nslaves;
	relay_layout(b->nroute, b->nslaves, lr->count, lr->key_bytes,
		     b->hop > 1 || (b->flags & RELAY_F_GIVEN), &l);
	if (l.len != (uint32_t)len || lr->count > QKDN_KEYS_PER_REQUEST ||
	    lr->nslaves > QKDN_SLAVES_MAX)
		goto out;
	memcpy(lr->id, b->relay_id, sizeof(lr->id));
	copy_id(lr->dst, b->dst);
	copy_id(lr->slave, b->slave);
	for (i = 0; i < lr->nslaves; i++)
		copy_id(lr->slaves[i],
			(const char *)body + l.slaves + i * QKDN_ID_MAX);
	lr->ids.n = lr->count;
	for (i = 0; i < lr->count; i++)
		memcpy(lr->ids.id[i], body + l.ids + i * QKDN_KEY_ID_LEN,
		       QKDN_KEY_ID_LEN);
	ok = true;
out:
	free(body);
	return ok;
}

/* Where the carrier's log ends now. */
static unsigned int log_pos(FIXTURE_DATA(pair) *self)
{
	unsigned int n;

	pthread_mutex_lock(&self->f.lock);
	n = self->f.nlog;
	pthread_mutex_unlock(&self->f.lock);
	return n;
}

/* Whether kme-1 sent a RELAY_ABORT for relay id, logged from pos on. */
static bool logged_abort(FIXTURE_DATA(pair) *self, unsigned int pos,
			 const uint8_t *id)
{
	uint8_t body[QKDN_RELAY_ID_LEN];

	while (logged_frame(self, 0, KX_RELAY_ABORT, &pos, body,
			    sizeof(body)) == (int)sizeof(body))
		if (!memcmp(body, id, sizeof(body)))
			return true;
	return false;
}

/* Waits up to ms for a node counter to reach v. */
static bool wait_node_stat(struct nlc *s, uint16_t stat, uint64_t v, int ms)
{
	uint64_t deadline = now_ms() + ms;

	do {
		if (node_stat(s, stat) == v)
			return true;
		usleep(20000);
	} while (now_ms() < deadline);
	return false;
}

/* kme-1's pool bytes for itself on link 1. */
static uint64_t pair_own(FIXTURE_DATA(pair) *self)
{
	struct pool p;

	return pool_get(&self->c[0], link_ids[0], NULL, &p) ? p.own : UINT64_MAX;
}

/*
 * A relay of kme-1 over link 1 took `take` bytes of its stream: the MAC's
 * (a tag pad, and a hash key first on the link's first frame), then the
 * keys' pad. The keys of k must be that pad.
 */
static void expect_relay_pad(struct __test_metadata *_metadata,
			     FIXTURE_DATA(pair) *self, uint64_t take,
			     const struct keyset *k)
{
	uint64_t n = 0, mac;
	uint8_t want[KEY_MAX_BYTES];
	uint32_t i;

	for (i = 0; i < k->n; i++)
		n += k->len[i];
	mac = take - n;
	EXPECT_TRUE(take > n && (mac == 2 * MAC_LEN || mac == MAC_LEN))
		TH_LOG("the relay took %" PRIu64 " bytes for %" PRIu64
		       " key bytes", take, n);
	for (i = 0, n = 0; i < k->n && !self->no_model; i++) {
		model(self->seed, true, self->used[0] + mac + n, k->len[i],
		      want);
		EXPECT_EQ(0, memcmp(want, k->data[i], k->len[i]))
			TH_LOG("key %u is not kme-1's stream after the MAC's bytes",
			       i);
		n += k->len[i];
	}
	self->used[0] += take;
}

/*
 * One key request for sae-b and sae-c, both at kme-2: one relay straight
 * over the link, no controller needed; the same keys for both slaves and
 * the master, each slave taking them once; a third SAE at kme-2 may not.
 */
TEST_F_TIMEOUT(pair, multicast_same_node, 120)
{
	static const char *const more[] = { "sae-c" };
	struct keyset *k = malloc(sizeof(*k)), *got = malloc(sizeof(*got));
	struct logged_relay *lr = malloc(sizeof(*lr));
	struct rep *r = rep_new();
	unsigned int pos;
	uint64_t own;
	struct pool p;
	struct msg m;
	uint32_t i, j;

	ASSERT_TRUE(k && got && lr && r);
	fill(_metadata, self, 8);
	new_sae(_metadata, &self->c[1], "sae-d", UID_D, NULL);
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	own = pair_own(self);
	pos = log_pos(self);

	mc_msg(&m, "sae-a", "sae-b", more, 1, 3, 256, NULL);
	run_as(_metadata, self->ns[0], &cred_a, m.nlh, r);
	ASSERT_EQ(0, r->err) TH_LOG("multicast KEY_GET: %s (%s)",
				    errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, k)) TH_LOG("malformed KEY_GET reply");
	ASSERT_EQ(3U, k->n);
	for (i = 0; i < k->n; i++) {
		EXPECT_EQ(32U, k->len[i]);
		for (j = 0; j < i; j++)
			EXPECT_NE(0, memcmp(k->id[i], k->id[j],
					    QKDN_KEY_ID_LEN));
	}
	expect_relay_pad(_metadata, self, own - pair_own(self), k);

	/* One relay frame for the node, naming both slaves. */
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	ASSERT_TRUE(logged_relay(self, &pos, lr))
		TH_LOG("kme-1 sent no key relay frame");
	EXPECT_STREQ("kme-2", lr->dst);
	EXPECT_STREQ("sae-b", lr->slave);
	EXPECT_EQ(1U, lr->nslaves);
	EXPECT_STREQ("sae-c", lr->slaves[0]);
	EXPECT_EQ(1U, lr->hop);
	EXPECT_EQ(0U, lr->flags & RELAY_F_GIVEN);
	ASSERT_EQ(3U, lr->count);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, memcmp(lr->ids.id[i], k->id[i], QKDN_KEY_ID_LEN))
			TH_LOG("the frame's key ID %u is not the master's", i);
	EXPECT_FALSE(logged_relay(self, &pos, lr))
		TH_LOG("a second relay frame, to %s for %s", lr->dst,
		       lr->slave);
	EXPECT_EQ(1U, link_stat(&self->c[0], link_ids[0],
				QKDN_A_STATS_RELAY_TX));
	EXPECT_EQ(1U, link_stat(&self->c[1], link_ids[1],
				QKDN_A_STATS_RELAY_RX));
	EXPECT_EQ(1U, node_stat(&self->c[0], QKDN_A_STATS_RELAYS_DONE));
	EXPECT_EQ(1U, node_stat(&self->c[1], QKDN_A_STATS_RELAYS_ENDED));
	/* Relayed keys: not the link's reservations. */
	ASSERT_TRUE(pool_get(&self->c[1], link_ids[1], NULL, &p));
	EXPECT_EQ(0U, p.reserved);

	/* sae-d was not named: refused, and the keys stay. */
	by_id_msg(&m, "sae-a", "sae-d", k);
	bad(_metadata, &self->c[1], self->ns[1], &cred_d, &m,
	    "KEY_GET_BY_ID by sae-d, not named in the multicast", EACCES,
	    "another SAE pair", NO_OFFS, 0, F_NOSTATS);
	/* A slave naming another master. */
	by_id_msg(&m, "sae-e", "sae-c", k);
	bad(_metadata, &self->c[1], self->ns[1], &cred_c, &m,
	    "KEY_GET_BY_ID by sae-c naming master sae-e", EACCES,
	    "another SAE pair", NO_OFFS, 0, F_NOSTATS);

	/* Each named slave, once: sae-c first, then sae-b. */
	key_get_by_id(_metadata, self, 1, UID_C, "sae-a", "sae-c", k, r);
	ASSERT_EQ(0, r->err) TH_LOG("KEY_GET_BY_ID by sae-c: %s (%s)",
				    errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, got));
	expect_same_keys(_metadata, k, got);
	key_get_by_id(_metadata, self, 1, UID_C, "sae-a", "sae-c", k, r);
	check_err(_metadata, "second KEY_GET_BY_ID by sae-c", r, ENOENT,
		  "unknown or already supplied", NO_OFFS, 0);
	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", k, r);
	ASSERT_EQ(0, r->err) TH_LOG("KEY_GET_BY_ID by sae-b: %s (%s)",
				    errname(r->err), r->msg);
	ASSERT_TRUE(keys_parse(r, got));
	expect_same_keys(_metadata, k, got);
	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", k, r);
	check_err(_metadata, "second KEY_GET_BY_ID by sae-b", r, ENOENT,
		  "unknown or already supplied", NO_OFFS, 0);

	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	wait_pools(_metadata, self);
	/* The link still serves plain key requests, from where it stands. */
	roundtrip(_metadata, self, 0, 2, 256, k);
	expect_fwd_clean(_metadata, self);
	rep_free(r);
	free(lr);
	free(got);
	free(k);
}

/*
 * A multicast that cannot be served: nowait, no controller with too little
 * key to go straight, a controller naming a next hop without enough key.
 * Nothing changes at either node.
 */
TEST_F_TIMEOUT(pair, multicast_refused, 120)
{
	static const char *const more[] = { "sae-c" };
	struct rep *r = rep_new();
	struct ctrl_req q;
	struct snap *a[2];
	uint64_t failed;
	struct nlc c;
	struct msg m;
	pid_t pid;
	int i;

	ASSERT_TRUE(r != NULL);
	fill(_metadata, self, 2);	/* kme-1 owns one block: 4096 bytes */
	ASSERT_TRUE(fwd_quiet(&self->f, 300));

	for (i = 0; i < 2; i++)
		a[i] = state_before(_metadata, &self->c[i], F_NOSTATS,
				    node_ids[i]);
	mc_msg(&m, "sae-a", "sae-b", more, 1, 1, 256, NULL);
	put(&m, QKDN_A_NOWAIT, 0, NULL);
	run_as(_metadata, self->ns[0], &cred_a, m.nlh, r);
	check_err(_metadata, "multicast KEY_GET, nowait, key enough", r,
		  EWOULDBLOCK, "would wait for a key relay", NO_OFFS, 0);
	/* 6 x 1024 bytes: too much for the link; nobody to route. */
	mc_msg(&m, "sae-a", "sae-b", more, 1, 6, QKDN_KEY_SIZE_MAX, NULL);
	run_as(_metadata, self->ns[0], &cred_a, m.nlh, r);
	check_err(_metadata, "multicast KEY_GET beyond the link, no controller",
		  r, EHOSTUNREACH, "no QKDN controller", NO_OFFS, 0);
	usleep(100000);
	for (i = 0; i < 2; i++)
		expect_state(_metadata, &self->c[i], a[i], F_NOSTATS,
			     node_ids[i]);

	/* The controller names kme-2: the link has too little key. */
	ASSERT_EQ(0, setns(self->ns[0], CLONE_NEWNET));
	ASSERT_EQ(0, ctrl_listen(&c));
	for (i = 0; i < 2; i++)
		a[i] = state_before(_metadata, &self->c[i], F_NOSTATS,
				    node_ids[i]);
	failed = node_stat(&self->c[0], QKDN_A_STATS_RELAYS_FAILED);
	pid = spawn_as(self->ns[0], &cred_a, m.nlh, r, 1);
	ctrl_asked(_metadata, pid, &c, &q);
	EXPECT_EQ((uint32_t)QKDN_MSG_NEXT_HOP_REQUEST, q.msg);
	EXPECT_STREQ("kme-1", q.src);
	EXPECT_STREQ("kme-2", q.dst);
	EXPECT_EQ(RELAY_BYTES(6, 1024), q.bytes);
	next_hop(_metadata, &self->c[0], q.ctrl_id, "kme-2");
	child_err(_metadata, pid, r, "multicast KEY_GET over a link without key",
		  ENOSPC,
		  "key relay failed at kme-1: not enough key on the link to the next hop");
	usleep(100000);
	for (i = 0; i < 2; i++)
		expect_state(_metadata, &self->c[i], a[i], F_NOSTATS,
			     node_ids[i]);
	EXPECT_EQ(failed + 1, node_stat(&self->c[0],
					QKDN_A_STATS_RELAYS_FAILED));
	EXPECT_FALSE(ctrl_read(&c, 200, &q)) TH_LOG("a second request (msg %u)",
						    q.msg);
	expect_fwd_clean(_metadata, self);
	nlc_close(&c);
	rep_free(r);
}

/*
 * All or nothing: the relay to sae-b's node arrives, the one to sae-far's
 * (kme-3) finds no route. The request fails with the second's error, and
 * kme-2 is told to forget the keys of the first.
 */
TEST_F_TIMEOUT(pair, multicast_abort, 120)
{
	static const char *const more[] = { "sae-far" };
	struct logged_relay *lr = malloc(sizeof(*lr));
	struct rep *r = rep_new();
	struct ctrl_req q;
	unsigned int pos;
	uint64_t own, take;
	struct nlc c;
	struct msg m;
	pid_t pid;

	ASSERT_TRUE(lr && r);
	fill(_metadata, self, 8);
	new_sae(_metadata, &self->c[0], "sae-far", 0, "kme-3");
	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	ASSERT_EQ(0, setns(self->ns[0], CLONE_NEWNET));
	ASSERT_EQ(0, ctrl_listen(&c));
	own = pair_own(self);
	pos = log_pos(self);

	mc_msg(&m, "sae-a", "sae-b", more, 1, 2, 256, NULL);
	pid = spawn_as(self->ns[0], &cred_a, m.nlh, r, 1);
	ctrl_asked(_metadata, pid, &c, &q);
	EXPECT_EQ((uint32_t)QKDN_MSG_NEXT_HOP_REQUEST, q.msg);
	EXPECT_STREQ("kme-1", q.src);
	EXPECT_STREQ("kme-3", q.dst);
	EXPECT_EQ(RELAY_BYTES(2, 32), q.bytes);
	/* The keys reached kme-2 meanwhile. */
	EXPECT_TRUE(wait_node_stat(&self->c[1], QKDN_A_STATS_RELAYS_ENDED, 1,
				   5000))
		TH_LOG("the relay to kme-2 did not end there");
	ctrl_refuse(_metadata, &self->c[0], QKDN_MSG_NEXT_HOP_RESPONSE,
		    q.ctrl_id, EHOSTUNREACH, "kme-3 is not in this QKDN");
	child_err(_metadata, pid, r, "multicast KEY_GET, kme-3 unreachable",
		  EHOSTUNREACH, "key relay failed at kme-1: kme-3 is not in this QKDN");

	ASSERT_TRUE(fwd_quiet(&self->f, 300));
	ASSERT_TRUE(logged_relay(self, &pos, lr))
		TH_LOG("kme-1 sent no key relay frame");
	EXPECT_STREQ("kme-2", lr->dst);
	EXPECT_STREQ("sae-b", lr->slave);
	EXPECT_EQ(0U, lr->nslaves);
	EXPECT_TRUE(logged_abort(self, pos, lr->id))
		TH_LOG("kme-1 did not abort the relay to kme-2");
	key_get_by_id(_metadata, self, 1, UID_B, "sae-a", "sae-b", &lr->ids, r);
	check_err(_metadata, "KEY_GET_BY_ID of the aborted multicast's keys",
		  r, ENOENT, "unknown or already supplied", NO_OFFS, 0);
	/* The pad and MAC of the first relay are spent. */
	take = own - pair_own(self);
	EXPECT_TRUE(take == 2 * 32 + 2 * MAC_LEN || take == 2 * 32 + MAC_LEN)
		TH_LOG("the relay took %" PRIu64 " bytes", take);
	self->used[0] += take;
	wait_pools(_metadata, self);
	EXPECT_FALSE(ctrl_read(&c, 200, &q)) TH_LOG("a second request (msg %u)",
						    q.msg);
	expect_fwd_clean(_metadata, self);
	nlc_close(&c);
	rep_free(r);
	free(lr);
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sscanf(s + 2 * i, "%2hhx", &out[i]);
}

/*
 * McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)", the
 * AES-128 test cases 2, 3 and 4 (also in NIST's GCM validation): H, the
 * additional data A, the ciphertext C and GHASH(H, A, C). The relay MAC is
 * GHASH with no A; case 4 has an A and blocks cut short.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
TEST(ghash_gcm_vectors)
{
	static const struct {
		const char *h, *a, *c, *ghash;
	} v[] = {
		{ "66e94bd4ef8a2c3b884cfa59ca342b2e", "",
		  "0388dace60b6a392f328c2b971b2fe78",
		  "f38cbb1ad69223dcc3457ae5b6b0f885" },
		{ "b83b533708bf535d0aa6e52980d53b78", "",
		  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e23"
		  "29aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac97"
		  "3d58e091473f5985",
		  "7f1b32b81b820d02614f8895ac1d4eac" },
		{ "b83b533708bf535d0aa6e52980d53b78",
		  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e23"
		  "29aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac97"
		  "3d58e091",
		  "698e57f70e6ecc7fd9463b7260a9ae5f" },
	};
	uint8_t h[16], a[64], c[64], want[16], got[16], one[16] = { 0x80 };
	struct gf128 x;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(v); i++) {
		size_t alen = strlen(v[i].a) / 2, clen = strlen(v[i].c) / 2;

		unhex(v[i].h, h, sizeof(h));
		unhex(v[i].a, a, alen);
		unhex(v[i].c, c, clen);
		unhex(v[i].ghash, want, sizeof(want));
		ghash_ac(h, a, alen, c, clen, got);
		EXPECT_EQ(0, memcmp(want, got, sizeof(got)))
			TH_LOG("GHASH of GCM test case %u is wrong", i + 2);
		if (!alen) {
			ghash(h, c, clen, got);
			EXPECT_EQ(0, memcmp(want, got, sizeof(got)));
		}
	}
	/* Test case 2: X1 = C1 . H; and 1 (the leftmost bit) is neutral. */
	unhex(v[0].h, h, sizeof(h));
	unhex(v[0].c, c, sizeof(h));
	unhex("5e2ec746917062882c85b0685353deb7", want, sizeof(want));
	x = gf128_mul(gf128_load(c), gf128_load(h));
	gf128_store(x, got);
	EXPECT_EQ(0, memcmp(want, got, sizeof(got)));
	gf128_store(gf128_mul(gf128_load(h), gf128_load(one)), got);
	EXPECT_EQ(0, memcmp(h, got, sizeof(got)));
}
#pragma GCC diagnostic pop

/* ====================================================================
 * relay.*: node kme-2, link 7 to kme-1 with one end of a qkdsim pair;
 * the other end is in a namespace without a node. This program is the
 * link daemon of kme-2 and plays kme-1: it announces the blocks kme-1
 * holds and builds the frames kme-1 would send, the pads and MAC keys
 * taken from kme-1's stream (its even blocks: "kme-1" < "kme-2"), which
 * kme-2 holds as the peer's. The tests of I.4b at KM2 add link 8 to kme-3,
 * on a pair of its own (relay_link2()).
 *	kme-2: sae-b (uid 1002); sae-a at kme-1, sae-z at kme-0, sae-y at
 *	kme-9
 * ==================================================================== */

#define RELAY_LINK	7
#define RELAY_BLOCKS	4

FIXTURE(relay) {
	int ns[2];		/* the lone QKD module, kme-2 */
	struct nlc s;		/* requests to kme-2 */
	struct nlc kx;		/* kme-2's link daemon */
	uint32_t pair;
	uint64_t seed;
	uint64_t tx_seq;	/* kme-1's last sequenced frame */
	uint64_t rx_seq;	/* kme-2's last sequenced frame seen */
	uint64_t used;		/* bytes of kme-1's stream taken */
	uint8_t h[MAC_LEN];	/* kme-2's hash key for kme-1's frames */
	uint64_t own_used;	/* bytes of kme-2's own stream taken */
	uint8_t h_tx[MAC_LEN];	/* the hash key of kme-2's frames */
	/* Link 8 to kme-3, where a test makes it (relay_link2()). */
	uint32_t pair2;
	uint64_t seed2;
	uint64_t tx2_seq;	/* kme-3's last sequenced frame */
	uint64_t rx2_seq;	/* kme-2's last sequenced frame on link 8 */
	uint64_t used2;		/* bytes of kme-2's own stream of link 8 */
	uint8_t h2_tx[MAC_LEN];	/* the hash key of its frames there */
};

#define HOP_LINK	8	/* kme-2's link to kme-3 (relay_link2()) */

/* Hands kme-2 a frame of kme-1; r gets the answer. */
static int peer_frame(FIXTURE_DATA(relay) *self, const struct kxf *f,
		      struct rep *r)
{
	struct msg m;

	frame_req(&m, RELAY_LINK, f);
	nlc_txrx(&self->s, m.nlh, r);
	return r->err;
}

/* What link_wait() looks for, and the frames it has seen. */
struct link_wait {
	uint32_t link;
	uint8_t type;
	const uint8_t *id;
	struct kxf *out;
	bool found;
	uint64_t seen[2];	/* the last sequence number on links 7, 8 */
};

static bool link_wait_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *a = attr_find(nlh, QKDN_A_KX_FRAME);
	uint64_t lid = get_num(nlh, QKDN_A_LINK_ID);
	struct link_wait *w = arg;
	const uint8_t *fr;
	struct kx_hdr h;
	uint16_t flen;
	int i;

	if (!a || mnl_attr_get_payload_len(a) < sizeof(h) ||
	    (lid != RELAY_LINK && lid != HOP_LINK))
		return false;
	i = lid == HOP_LINK;
	fr = mnl_attr_get_payload(a);
	flen = mnl_attr_get_payload_len(a);
	memcpy(&h, fr, sizeof(h));
	if (le64toh(h.seq) > w->seen[i])
		w->seen[i] = le64toh(h.seq);
	if (!w->found && lid == w->link && h.type == w->type &&
	    flen >= sizeof(h) + QKDN_RELAY_ID_LEN &&
	    flen <= sizeof(w->out->b) &&
	    (!w->id || !memcmp(fr + sizeof(h), w->id, QKDN_RELAY_ID_LEN))) {
		w->out->len = flen;
		memcpy(w->out->b, fr, flen);
		w->found = true;
	}
	return w->found;
}

/*
 * Reads kme-2's frames on every link for up to ms and acknowledges them;
 * true once one on link of type about id came (relay and supply frames
 * start with their ID; NULL: any), copied to out.
 */
static bool link_wait(FIXTURE_DATA(relay) *self, uint32_t link, uint8_t type,
		      const uint8_t *id, struct kxf *out, int ms)
{
	struct link_wait w = {
		.link = link, .type = type, .id = id, .out = out,
		.seen = { self->rx_seq, self->rx2_seq },
	};
	uint64_t *last[2] = { &self->rx_seq, &self->rx2_seq };
	const uint32_t links[2] = { RELAY_LINK, HOP_LINK };
	struct kxf *f = malloc(sizeof(*f));
	struct rep *r = rep_new();
	struct msg m;
	int i;

	nl_recv(&self->kx, ms, false, QKDN_CMD_KX_FRAME, link_wait_cb, &w);
	for (i = 0; i < 2; i++) {
		if (!f || !r || w.seen[i] <= *last[i])
			continue;
		*last[i] = w.seen[i];
		kx_init(f, KX_ACK, 0, w.seen[i]);
		frame_req(&m, links[i], f);
		nlc_txrx(&self->s, m.nlh, r);
	}
	free(f);
	rep_free(r);
	return w.found;
}

/* The same on link 7, to kme-1. */
static bool peer_wait(FIXTURE_DATA(relay) *self, uint8_t type,
		      const uint8_t *id, struct kxf *out, int ms)
{
	return link_wait(self, RELAY_LINK, type, id, out, ms);
}

/* A RELAY_DONE of kme-2 about relay id, within ms. */
static bool relay_done_wait(FIXTURE_DATA(relay) *self, const uint8_t *id,
			    struct kx_relay_done *d, int ms)
{
	struct kxf *f = malloc(sizeof(*f));
	bool ok;

	if (!f)
		return false;
	ok = peer_wait(self, KX_RELAY_DONE, id, f, ms) &&
	     f->len == sizeof(struct kx_hdr) + sizeof(*d);
	if (ok)
		memcpy(d, f->b + sizeof(struct kx_hdr), sizeof(*d));
	free(f);
	return ok;
}

/* Where the pool of kme-2 stands in kme-1's stream (blocks 2, 4, ...). */
static void relay_pos(uint64_t used, uint64_t *seq, uint32_t *off)
{
	*seq = 2 * (used / BLOCK_SIZE) + 2;
	*off = used % BLOCK_SIZE;
}

/*
 * A "key relay" frame of kme-1 (Kx sequence number seq), from where its
 * stream stands: [hash key if NEWKEY] tag pad, key pad. keys: what is
 * relayed past the first hop; on the first, the pad is the key and keys
 * gets it. Returns the stream bytes the frame takes; h gets the hash key
 * it is tagged with, l the layout.
 */
static uint32_t relay_seal(FIXTURE_DATA(relay) *self, struct kxf *f,
			   uint64_t seq, struct relay_desc *d, uint8_t *keys,
			   uint8_t *h, struct relay_layout *l)
{
	uint32_t n = d->count * d->key_bytes, take = 0, i;
	uint8_t s[MAC_LEN], tag[MAC_LEN], *pad = malloc(n + 1), *body;

	relay_pos(self->used, &d->pad_seq, &d->pad_off);
	if (d->flags & RELAY_F_NEWKEY) {
		model(self->seed, true, self->used, MAC_LEN, h);
		take += MAC_LEN;
	} else {
		memcpy(h, self->h, MAC_LEN);
	}
	model(self->seed, true, self->used + take, MAC_LEN, s);
	take += MAC_LEN;
	if (pad)
		model(self->seed, true, self->used + take, n, pad);
	take += n;
	body = kx_relay(f, seq, self->rx_seq, d, l);
	for (i = 0; pad && i < n; i++) {
		if (relay_ct(d))
			body[l->ct + i] = keys[i] ^ pad[i];
		else
			keys[i] = pad[i];
	}
	ghash(h, body, l->tag, tag);
	for (i = 0; i < MAC_LEN; i++)
		body[l->tag + i] = tag[i] ^ s[i];
	free(pad);
	return take;
}

/* A relay of count keys of kb bytes from src (hop 2 unless from kme-1). */
static void relay_init(struct relay_desc *d, const char *name,
		       const char *src, const char *master, uint16_t count,
		       uint16_t kb, const uint8_t *ids)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->id, name, strnlen(name, sizeof(d->id)));
	d->src = src;
	d->dst = "kme-2";
	d->master = master;
	d->slave = "sae-b";
	d->count = count;
	d->key_bytes = kb;
	d->hop = strcmp(src, "kme-1") ? 2 : 1;
	d->ids = ids;
}

/*
 * kme-1 sends relay d (keys as for relay_seal()), and kme-2 takes the
 * frame: the stream bytes it takes are spent, its hash key is the one in
 * use. Returns those bytes.
 */
static uint32_t relay_send(struct __test_metadata *_metadata,
			  FIXTURE_DATA(relay) *self, struct kxf *f,
			  struct relay_desc *d, uint8_t *keys)
{
	struct rep *r = rep_new();
	struct relay_layout l;
	uint8_t h[MAC_LEN];
	uint32_t take;

	ASSERT_TRUE(r != NULL);
	take = relay_seal(self, f, ++self->tx_seq, d, keys, h, &l);
	ASSERT_EQ(0, peer_frame(self, f, r))
		TH_LOG("KX_FRAME with relay %.16s: %s (%s)",
		       (const char *)d->id, errname(r->err), r->msg);
	self->used += take;
	memcpy(self->h, h, MAC_LEN);
	rep_free(r);
	return take;
}

/* "Key request with ID" at kme-2 of slave (as who) for the keys ids. */
static void relay_by_id_as(struct __test_metadata *_metadata,
			   FIXTURE_DATA(relay) *self, const char *master,
			   const char *slave, const struct cred *who,
			   const uint8_t *ids, uint32_t n, struct rep *r)
{
	struct keyset *k = malloc(sizeof(*k));
	struct msg m;

	ASSERT_TRUE(k != NULL);
	k->n = n;
	memcpy(k->id, ids, n * QKDN_KEY_ID_LEN);
	by_id_msg(&m, master, slave, k);
	free(k);
	run_as(_metadata, self->ns[1], who, m.nlh, r);
}

/* slave gets exactly keys (n of kb bytes) by their IDs, once. */
static void expect_relayed_to(struct __test_metadata *_metadata,
			      FIXTURE_DATA(relay) *self, const char *master,
			      const char *slave, const struct cred *who,
			      const uint8_t *ids, uint32_t n, uint32_t kb,
			      const uint8_t *keys)
{
	struct rep *r = rep_new();
	char what[96];

	ASSERT_TRUE(r != NULL);
	relay_by_id_as(_metadata, self, master, slave, who, ids, n, r);
	snprintf(what, sizeof(what), "KEY_GET_BY_ID of relayed keys by %s",
		 slave);
	expect_keys(_metadata, r, ids, keys, n, kb, what);
	relay_by_id_as(_metadata, self, master, slave, who, ids, n, r);
	snprintf(what, sizeof(what), "second KEY_GET_BY_ID of relayed keys by %s",
		 slave);
	check_err(_metadata, what, r, ENOENT, "unknown or already supplied",
		  NO_OFFS, 0);
	rep_free(r);
}

/* kme-1 gives relay id up. */
static void peer_abort(struct __test_metadata *_metadata,
		       FIXTURE_DATA(relay) *self, const uint8_t *id)
{
	struct kxf *f = malloc(sizeof(*f));
	struct rep *r = rep_new();

	ASSERT_TRUE(f && r);
	kx_init(f, KX_RELAY_ABORT, ++self->tx_seq, self->rx_seq);
	memcpy(kx_put(f, QKDN_RELAY_ID_LEN), id, QKDN_RELAY_ID_LEN);
	ASSERT_EQ(0, peer_frame(self, f, r))
		TH_LOG("RELAY_ABORT of kme-1: %s (%s)", errname(r->err),
		       r->msg);
	rep_free(r);
	free(f);
}

/*
 * kme-2's RELAY_DONE about relay id, within 5 s: errno err, where and why
 * as given (NULL: any).
 */
static void expect_done(struct __test_metadata *_metadata,
			FIXTURE_DATA(relay) *self, const uint8_t *id,
			uint32_t err, const char *where, const char *why)
{
	struct kx_relay_done d;

	ASSERT_TRUE(relay_done_wait(self, id, &d, 5000))
		TH_LOG("no completion notification came back");
	EXPECT_EQ(err, le32toh(d.err))
		TH_LOG("relay ended with errno %u (%s), expected %u",
		       le32toh(d.err), d.why, err);
	if (where)
		EXPECT_STREQ(where, d.where);
	if (why)
		EXPECT_STREQ(why, d.why);
}

/* "Key request with ID" of sae-b at kme-2 for the keys ids of master. */
static void relay_by_id(struct __test_metadata *_metadata,
			FIXTURE_DATA(relay) *self, const char *master,
			const uint8_t *ids, uint32_t n, struct rep *r)
{
	struct keyset *k = malloc(sizeof(*k));
	struct msg m;

	ASSERT_TRUE(k != NULL);
	k->n = n;
	memcpy(k->id, ids, n * QKDN_KEY_ID_LEN);
	by_id_msg(&m, master, "sae-b", k);
	free(k);
	run_as(_metadata, self->ns[1], &cred_b, m.nlh, r);
}

/* The slave SAE gets exactly keys (n of kb bytes) by their IDs, once. */
static void expect_relayed(struct __test_metadata *_metadata,
			   FIXTURE_DATA(relay) *self, const char *master,
			   const uint8_t *ids, uint32_t n, uint32_t kb,
			   const uint8_t *keys)
{
	struct rep *r = rep_new();

	ASSERT_TRUE(r != NULL);
	relay_by_id(_metadata, self, master, ids, n, r);
	expect_keys(_metadata, r, ids, keys, n, kb,
		    "KEY_GET_BY_ID of relayed keys");
	relay_by_id(_metadata, self, master, ids, n, r);
	check_err(_metadata, "KEY_GET_BY_ID of relayed keys supplied", r,
		  ENOENT, "unknown or already supplied", NO_OFFS, 0);
	rep_free(r);
}

/* No key of ids reached the slave SAE. */
static void expect_not_relayed(struct __test_metadata *_metadata,
			       FIXTURE_DATA(relay) *self, const uint8_t *ids,
			       uint32_t n, const char *what)
{
	struct rep *r = rep_new();

	ASSERT_TRUE(r != NULL);
	relay_by_id(_metadata, self, "sae-z", ids, n, r);
	check_err(_metadata, what, r, ENOENT, "unknown or already supplied",
		  NO_OFFS, 0);
	rep_free(r);
}

/*
 * Blocks first .. first + n - 1 of the QKD module pair of link (7, or 8:
 * relay_link2()), announced by the peer (kme-1, kme-3) as held: kme-2's
 * pool of the link, with nothing taken yet, holds half of blocks 1 ..
 * first + n - 1 each way.
 */
static void link_blocks(struct __test_metadata *_metadata,
			FIXTURE_DATA(relay) *self, uint32_t link,
			uint64_t first, uint32_t n)
{
	uint64_t deadline, want = (first - 1 + n) / 2 * BLOCK_SIZE;
	bool hop = link == HOP_LINK;
	struct kxf *f = malloc(sizeof(*f));
	struct rep *r = rep_new();
	struct pool p = { 0 };
	struct msg m;
	char v[32];

	ASSERT_TRUE(f && r);
	snprintf(v, sizeof(v), "%u", n);
	ASSERT_EQ(0, qkdsim_knob(hop ? self->pair2 : self->pair, "burst", v));
	kx_init(f, KX_BLOCKS, hop ? ++self->tx2_seq : ++self->tx_seq, 0);
	kx_count(f, 1);
	kx_range(f, first, n);
	frame_req(&m, link, f);
	nlc_txrx(&self->s, m.nlh, r);
	ASSERT_EQ(0, r->err) TH_LOG("BLOCKS on link %u: %s (%s)", link,
				    errname(r->err), r->msg);
	free(f);
	rep_free(r);
	deadline = now_ms() + 20000;
	do {
		if (pool_get(&self->s, link, NULL, &p) &&
		    p.own == want && p.peer == want)
			break;
		usleep(20000);
	} while (now_ms() < deadline);
	ASSERT_EQ(want, p.peer)
		TH_LOG("kme-2's pool of link %u: own %" PRIu64 " peer %" PRIu64
		       " pending %" PRIu64, link, p.own, p.peer, p.pending);
	ASSERT_EQ(want, p.own);
}

FIXTURE_SETUP(relay)
{
	char dev[DEV_LEN];

	self->ns[0] = self->ns[1] = -1;
	need_qkdsim(_metadata);
	self->ns[0] = new_netns(_metadata);
	self->ns[1] = new_netns(_metadata);
	ASSERT_EQ(0, nlc_open(&self->s));
	need_family(_metadata, &self->s);
	qkdsim_pair(_metadata, self->ns, &self->pair, 0x5eed100000000000ULL,
		    &self->seed, dev);

	set_node(_metadata, &self->s, "kme-2");
	new_link(_metadata, &self->s, RELAY_LINK, "kme-1", dev);
	new_sae(_metadata, &self->s, "sae-b", UID_B, NULL);
	new_sae(_metadata, &self->s, "sae-a", 0, "kme-1");
	new_sae(_metadata, &self->s, "sae-z", 0, "kme-0");
	new_sae(_metadata, &self->s, "sae-y", 0, "kme-9");
	ASSERT_EQ(0, nlc_open(&self->kx));
	kx_bind(_metadata, &self->kx);
	kx_channel(_metadata, &self->s, RELAY_LINK, 1);

	link_blocks(_metadata, self, RELAY_LINK, 1, RELAY_BLOCKS);
}

FIXTURE_TEARDOWN(relay)
{
	nlc_close(&self->kx);
	nlc_close(&self->s);
	if (self->pair)
		qkdsim_del(self->pair);
	if (self->pair2)
		qkdsim_del(self->pair2);
	if (self->ns[0] >= 0)
		close(self->ns[0]);
	if (self->ns[1] >= 0)
		close(self->ns[1]);
}

static uint64_t peer_bytes(FIXTURE_DATA(relay) *self)
{
	struct pool p;

	return pool_get(&self->s, RELAY_LINK, NULL, &p) ? p.peer : UINT64_MAX;
}

/*
 * Keys relayed to this node's SAE by the KM before the last hop: the SAE
 * gets exactly them, the previous KM the completion, each hop's pad and
 * MAC come out of the pool.
 */
TEST_F_TIMEOUT(relay, delivered, 60)
{
	uint8_t keys[2 * 32], first[3 * 8], ids[3 * QKDN_KEY_ID_LEN];
	struct kxf *f = malloc(sizeof(*f)), *again = malloc(sizeof(*again));
	struct rep *r = rep_new();
	struct relay_desc d;
	uint64_t peer, own;
	struct pool p;
	uint32_t take, i;

	ASSERT_TRUE(f && again && r);
	ASSERT_TRUE(pool_get(&self->s, RELAY_LINK, NULL, &p));
	own = p.own;
	for (i = 0; i < sizeof(keys); i++)
		keys[i] = 0x5a ^ (i * 29);
	make_ids(ids, 2, 0xa1);
	relay_init(&d, "relay-1", "kme-0", "sae-z", 2, 32, ids);
	d.flags = RELAY_F_NEWKEY;
	peer = peer_bytes(self);
	take = relay_send(_metadata, self, f, &d, keys);
	expect_done(_metadata, self, d.id, 0, "kme-2", "");
	EXPECT_EQ(peer - take, peer_bytes(self));
	EXPECT_EQ(2U * 32 + 2 * MAC_LEN, take);
	expect_relayed(_metadata, self, "sae-z", ids, 2, 32, keys);
	EXPECT_EQ(1U, link_stat(&self->s, RELAY_LINK, QKDN_A_STATS_RELAY_RX));
	EXPECT_EQ(64U, link_stat(&self->s, RELAY_LINK,
				 QKDN_A_STATS_RELAY_PAD_BYTES));
	EXPECT_EQ(2U * MAC_LEN, link_stat(&self->s, RELAY_LINK,
					  QKDN_A_STATS_RELAY_MAC_BYTES));
	EXPECT_EQ(0U, link_stat(&self->s, RELAY_LINK,
				QKDN_A_STATS_RELAY_MAC_FAIL));
	EXPECT_EQ(1U, node_stat(&self->s, QKDN_A_STATS_RELAYS_ENDED));

	/* The same Kx frame again: seen already, nothing happens. */
	memcpy(again, f, sizeof(*f));
	peer = peer_bytes(self);
	EXPECT_EQ(0, peer_frame(self, again, r));
	EXPECT_EQ(peer, peer_bytes(self));
	EXPECT_EQ(1U, link_stat(&self->s, RELAY_LINK, QKDN_A_STATS_RELAY_RX));

	/* From kme-1 itself, hop 1: the pad is the key; same hash key. */
	make_ids(ids, 3, 0xa2);
	relay_init(&d, "relay-2", "kme-1", "sae-a", 3, 8, ids);
	take = relay_send(_metadata, self, f, &d, first);
	expect_done(_metadata, self, d.id, 0, NULL, NULL);
	expect_relayed(_metadata, self, "sae-a", ids, 3, 8, first);
	EXPECT_EQ(peer - take, peer_bytes(self));
	EXPECT_EQ(2U, node_stat(&self->s, QKDN_A_STATS_RELAYS_ENDED));
	/* kme-2's own stream is not touched by what it receives. */
	ASSERT_TRUE(pool_get(&self->s, RELAY_LINK, NULL, &p));
	EXPECT_EQ(own, p.own);
	rep_free(r);
	free(f);
	free(again);
}

/* frame_bad() on link 7, a frame of kme-1. */
static void relay_bad(struct __test_metadata *_metadata,
		      FIXTURE_DATA(relay) *self, const struct kxf *f,
		      const char *what, int err, const char *msg)
{
	frame_bad(_metadata, &self->s, RELAY_LINK, f, what, err, msg);
}

/*
 * Frames changed on their way fail the MAC: refused with EBADMSG and
 * counted, but not taken -- the pool, the MAC hash key and the Kx sequence
 * stay as they were, so that the sender's copy, sent again, still fits.
 * Nothing reaches the SAE, no completion goes back.
 */
TEST_F_TIMEOUT(relay, mac_failure, 60)
{
	static const struct {
		const char *name;
		uint8_t flags;
		int change;	/* 1: ciphertext, 2: tag, 3: a key ID */
	} cases[] = {
		{ "Kx RELAY tagged without a hash key", 0, 0 },
		{ "Kx RELAY with a ciphertext bit flipped", RELAY_F_NEWKEY, 1 },
		{ "Kx RELAY with a tag bit flipped", RELAY_F_NEWKEY, 2 },
		{ "Kx RELAY with a key ID changed", RELAY_F_NEWKEY, 3 },
		{ "Kx RELAY, hash key in place, tag bit flipped", 0, 2 },
	};
	uint8_t keys[2 * 32], ids[2 * QKDN_KEY_ID_LEN], h[MAC_LEN];
	struct kxf *f = malloc(sizeof(*f));
	struct kx_relay_done done;
	struct relay_layout l;
	struct relay_desc d;
	uint32_t i;
	uint8_t *body;

	ASSERT_TRUE(f != NULL);
	for (i = 0; i < sizeof(keys); i++)
		keys[i] = i;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char name[16];

		if (i == 4) {
			/* An honest frame first: now kme-2 holds a hash key. */
			make_ids(ids, 2, 0xbe);
			relay_init(&d, "honest-1", "kme-0", "sae-z", 2, 32,
				   ids);
			d.flags = RELAY_F_NEWKEY;
			relay_send(_metadata, self, f, &d, keys);
			expect_done(_metadata, self, d.id, 0, NULL, NULL);
			expect_relayed(_metadata, self, "sae-z", ids, 2, 32,
				       keys);
		}
		snprintf(name, sizeof(name), "forged-%u", i);
		make_ids(ids, 2, 0xb0 + i);
		relay_init(&d, name, "kme-0", "sae-z", 2, 32, ids);
		d.flags = cases[i].flags;
		relay_seal(self, f, self->tx_seq + 1, &d, keys, h, &l);
		body = f->b + sizeof(struct kx_hdr);
		if (cases[i].change == 1)
			body[l.ct + 17] ^= 0x08;
		else if (cases[i].change == 2)
			body[l.tag + 15] ^= 0x01;
		else if (cases[i].change == 3)
			body[l.ids + QKDN_KEY_ID_LEN + 3] ^= 0x40;
		relay_bad(_metadata, self, f, cases[i].name, EBADMSG,
			  "Kx relay frame failed its MAC check");
		EXPECT_EQ(i + 1, link_stat(&self->s, RELAY_LINK,
					   QKDN_A_STATS_RELAY_MAC_FAIL));
		EXPECT_FALSE(relay_done_wait(self, d.id, &done, 100))
			TH_LOG("%s: a completion went back", cases[i].name);
		expect_not_relayed(_metadata, self, ids, 2, cases[i].name);
	}
	EXPECT_EQ(1U, link_stat(&self->s, RELAY_LINK, QKDN_A_STATS_RELAY_RX));
	EXPECT_EQ(1U, node_stat(&self->s, QKDN_A_STATS_RELAYS_ENDED));

	/* The sender's copy of the last one, unchanged: taken. */
	relay_send(_metadata, self, f, &d, keys);
	expect_done(_metadata, self, d.id, 0, NULL, NULL);
	expect_relayed(_metadata, self, "sae-z", ids, 2, 32, keys);
	EXPECT_EQ(5U, link_stat(&self->s, RELAY_LINK,
				QKDN_A_STATS_RELAY_MAC_FAIL));
	free(f);
}

/*
 * Authentic frames this node refuses after the MAC: a relay ID it has
 * seen, one that started here, a route that does not pass here, an SAE
 * it does not serve, a key ID in use. Then the source's abort erases what
 * arrived.
 */
TEST_F_TIMEOUT(relay, refused, 60)
{
	static const char *const detour[] = { "kme-0", "kme-5", "kme-2" };
	uint8_t keys[32], ids[QKDN_KEY_ID_LEN], ids2[QKDN_KEY_ID_LEN];
	struct kxf *f = malloc(sizeof(*f));
	struct kx_relay_done done;
	struct relay_desc d;
	uint8_t first_id[QKDN_RELAY_ID_LEN];
	uint32_t i;
	static const struct {
		const char *name;
		int err;
		const char *why;
	} cases[] = {
		{ "a relay ID seen before", ELOOP,
		  "the key relay passed this KM twice" },
		{ "a relay that started here", ELOOP,
		  "the key relay came back to its source" },
		{ "a route not passing kme-1", EINVAL,
		  "the key relay route does not pass here" },
		{ "a slave SAE not served here", EHOSTUNREACH,
		  "the slave SAE is not served here" },
		{ "a key ID already in use", EEXIST, "key ID already in use" },
	};

	ASSERT_TRUE(f != NULL);
	memset(keys, 0x33, sizeof(keys));
	make_ids(ids, 1, 0xc0);
	relay_init(&d, "relay-c", "kme-0", "sae-z", 1, 32, ids);
	d.flags = RELAY_F_NEWKEY;
	memcpy(first_id, d.id, sizeof(first_id));
	relay_send(_metadata, self, f, &d, keys);
	ASSERT_TRUE(relay_done_wait(self, d.id, &done, 5000));
	ASSERT_EQ(0U, le32toh(done.err)) TH_LOG("relay failed: %s", done.why);

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char name[16];

		snprintf(name, sizeof(name), "refused-%u", i);
		make_ids(ids2, 1, 0xc1 + i);
		relay_init(&d, name, "kme-0", "sae-z", 1, 32, ids2);
		switch (i) {
		case 0:
			memcpy(d.id, first_id, sizeof(d.id));
			break;
		case 1:
			d.src = "kme-2";
			d.dst = "kme-4";
			break;
		case 2:
			d.nroute = 3;
			memcpy(d.route, detour, sizeof(detour));
			break;
		case 3:
			d.slave = "sae-a";
			break;
		case 4:
			d.ids = ids;
			break;
		}
		relay_send(_metadata, self, f, &d, keys);
		ASSERT_TRUE(relay_done_wait(self, d.id, &done, 5000))
			TH_LOG("%s: no completion notification", cases[i].name);
		EXPECT_EQ((uint32_t)cases[i].err, le32toh(done.err))
			TH_LOG("%s: completion error %u (%s)", cases[i].name,
			       le32toh(done.err), done.why);
		EXPECT_STREQ(cases[i].why, done.why);
		EXPECT_STREQ("kme-2", done.where);
		if (i != 4)
			expect_not_relayed(_metadata, self, ids2, 1,
					   cases[i].name);
	}
	EXPECT_EQ(0U, link_stat(&self->s, RELAY_LINK,
				QKDN_A_STATS_RELAY_MAC_FAIL));
	EXPECT_EQ(1U, node_stat(&self->s, QKDN_A_STATS_RELAYS_ENDED));

	/* The source gave up: the keys that arrived are erased. */
	peer_abort(_metadata, self, first_id);
	EXPECT_EQ(1U, node_stat(&self->s, QKDN_A_STATS_RELAYS_ABORTED));
	expect_not_relayed(_metadata, self, ids, 1,
			   "KEY_GET_BY_ID of keys whose relay was aborted");
	free(f);
}

/*
 * A key ID is supplied once (Documentation/key-pools.md, guarantee 4),
 * also when a relay frame names it twice.
 */
TEST_F_TIMEOUT(relay, repeated_key_id, 60)
{
	uint8_t keys[2 * 32], ids[2 * QKDN_KEY_ID_LEN], h[MAC_LEN];
	struct kxf *f = malloc(sizeof(*f));
	struct rep *r = rep_new();
	struct relay_layout l;
	struct relay_desc d;
	unsigned int i, supplied = 0;

	ASSERT_TRUE(f && r);
	for (i = 0; i < sizeof(keys); i++)
		keys[i] = 0x70 + i;
	make_ids(ids, 1, 0xf0);
	memcpy(ids + QKDN_KEY_ID_LEN, ids, QKDN_KEY_ID_LEN);
	relay_init(&d, "twice", "kme-0", "sae-z", 2, 32, ids);
	d.flags = RELAY_F_NEWKEY;
	relay_seal(self, f, ++self->tx_seq, &d, keys, h, &l);
	/* Refused whole, before anything is taken: never acknowledged. */
	ASSERT_NE(0, peer_frame(self, f, r));
	check_err(_metadata, "relay frame naming a key ID twice", r, EINVAL,
		  "names a key ID twice", NO_OFFS, 0);
	self->tx_seq--;
	for (i = 0; i < 2; i++) {
		relay_by_id(_metadata, self, "sae-z", ids, 1, r);
		if (!r->err)
			supplied++;
		else
			check_err(_metadata,
				  "KEY_GET_BY_ID of a repeated key ID", r,
				  ENOENT, "unknown or already supplied",
				  NO_OFFS, 0);
	}
	EXPECT_GE(1U, supplied)
		TH_LOG("key ID supplied %u times", supplied);
	rep_free(r);
	free(f);
}

/* A frame whose pads are not where the pool stands takes nothing. */
TEST_F_TIMEOUT(relay, pool_mismatch, 60)
{
	uint8_t keys[128 * 128], ids[128 * QKDN_KEY_ID_LEN], h[MAC_LEN];
	struct kxf *f = malloc(sizeof(*f));
	struct kx_relay_done done;
	struct relay_layout l;
	struct relay_desc d;
	struct kx_relay *b;

	ASSERT_TRUE(f != NULL);
	memset(keys, 0x44, sizeof(keys));
	make_ids(ids, 2, 0xd0);
	relay_init(&d, "mismatch", "kme-0", "sae-z", 2, 32, ids);
	d.flags = RELAY_F_NEWKEY;

	relay_seal(self, f, ++self->tx_seq, &d, keys, h, &l);
	b = (struct kx_relay *)(f->b + sizeof(struct kx_hdr));
	b->pad_off = htole32(1);
	relay_bad(_metadata, self, f, "Kx RELAY a byte past the pool", EPROTO,
		  "Kx relay does not match the pool");
	relay_seal(self, f, ++self->tx_seq, &d, keys, h, &l);
	b->pad_seq = htole64(1);	/* kme-2's own */
	relay_bad(_metadata, self, f, "Kx RELAY in kme-2's own stream", EPROTO,
		  "Kx relay does not match the pool");
	relay_seal(self, f, ++self->tx_seq, &d, keys, h, &l);
	b->pad_seq = htole64(4);
	relay_bad(_metadata, self, f, "Kx RELAY a block ahead", EPROTO,
		  "Kx relay does not match the pool");
	/* At the right place, but more than the pool holds. */
	make_ids(ids, 128, 0xd1);
	relay_init(&d, "too-much", "kme-1", "sae-a", 128, 128, ids);
	relay_seal(self, f, ++self->tx_seq, &d, keys, h, &l);
	relay_bad(_metadata, self, f, "Kx RELAY of 16 KiB from 8 KiB", EPROTO,
		  "Kx relay does not match the pool");
	EXPECT_FALSE(relay_done_wait(self, d.id, &done, 300));
	EXPECT_EQ(0U, link_stat(&self->s, RELAY_LINK, QKDN_A_STATS_RELAY_RX));

	/* Nothing was taken: the right frame still fits. */
	make_ids(ids, 2, 0xd2);
	relay_init(&d, "matching", "kme-0", "sae-z", 2, 32, ids);
	d.flags = RELAY_F_NEWKEY;
	relay_send(_metadata, self, f, &d, keys);
	expect_done(_metadata, self, d.id, 0, NULL, NULL);
	expect_relayed(_metadata, self, "sae-z", ids, 2, 32, keys);
	free(f);
}

/* ---- kme-2 as the source and as a hop of relays ---- */

/* sae-b asks kme-2 for keys for sae-y, behind kme-9: from a child. */
static pid_t src_key_get(FIXTURE_DATA(relay) *self, uint32_t number,
			 uint32_t bits, struct rep *r)
{
	struct msg m;

	key_get_msg(&m, "sae-b", "sae-y", 0, number, bits);
	return spawn_as(self->ns[1], &cred_b, m.nlh, r, 1);
}

/* What those relays are, as kme-2 sends them to kme-1. */
static const struct relay_desc src_relay = {
	.src = "kme-2", .dst = "kme-9", .master = "sae-b", .slave = "sae-y",
	.hop = 1,
};

static uint64_t own_bytes(FIXTURE_DATA(relay) *self)
{
	struct pool p;

	return pool_get(&self->s, RELAY_LINK, NULL, &p) ? p.own : UINT64_MAX;
}

/* kme-2's own stream of one of its links, as its frames take it. */
struct tx_stream {
	uint32_t link;
	uint64_t seed;
	bool even;		/* kme-2 allocates from the even blocks */
	uint64_t *used;		/* bytes taken */
	uint8_t *h;		/* the MAC hash key in use */
	uint8_t *id_out;	/* if given: gets the frame's relay ID */
};

/*
 * The "key relay" frame kme-2 sent on ts->link for relay id: its fields
 * as in want, its pads the next bytes of the stream, its tag right. On
 * the first hop keys gets the keys (the pad); past it the ciphertext must
 * hide keys. ids gets the key IDs.
 */
static void expect_link_frame(struct __test_metadata *_metadata,
			      FIXTURE_DATA(relay) *self,
			      const struct tx_stream *ts, const uint8_t *id,
			      const struct relay_desc *want, uint8_t *keys,
			      uint8_t *ids)
{
	uint32_t n = want->count * want->key_bytes, take = 0, i;
	struct kxf *f = malloc(sizeof(*f));
	uint8_t s[MAC_LEN], tag[MAC_LEN], *pad = malloc(n);
	const struct kx_relay *b;
	struct relay_layout l;
	const uint8_t *body;
	uint64_t used = *ts->used;

	ASSERT_TRUE(f && pad);
	ASSERT_TRUE(link_wait(self, ts->link, KX_RELAY, id, f, 5000))
		TH_LOG("kme-2 sent no key relay frame on link %u", ts->link);
	body = f->b + sizeof(struct kx_hdr);
	b = (const struct kx_relay *)body;
	if (ts->id_out)
		memcpy(ts->id_out, b->relay_id, QKDN_RELAY_ID_LEN);
	relay_layout(want->nroute, want->nslaves, want->count,
		     want->key_bytes, relay_ct(want), &l);
	ASSERT_EQ(l.len, f->len - sizeof(struct kx_hdr));
	EXPECT_STREQ(want->src, b->src);
	EXPECT_STREQ(want->dst, b->dst);
	EXPECT_STREQ(want->master, b->master);
	EXPECT_STREQ(want->slave, b->slave);
	EXPECT_EQ(want->key_bytes, le16toh(b->key_bytes));
	EXPECT_EQ(want->count, le16toh(b->count));
	EXPECT_EQ(want->hop, b->hop);
	EXPECT_EQ(want->flags, b->flags);
	EXPECT_EQ(want->nroute, b->nroute);
	for (i = 0; i < want->nroute; i++)
		EXPECT_STREQ(want->route[i],
			     (const char *)body + l.route + i * QKDN_ID_MAX);
	EXPECT_EQ(want->nslaves, b->nslaves);
	for (i = 0; i < want->nslaves; i++)
		EXPECT_STREQ(want->slaves[i],
			     (const char *)body + l.slaves + i * QKDN_ID_MAX);
	EXPECT_EQ(2 * (used / BLOCK_SIZE) + (ts->even ? 2 : 1),
		  le64toh(b->pad_seq));
	EXPECT_EQ(used % BLOCK_SIZE, le32toh(b->pad_off));

	if (want->flags & RELAY_F_NEWKEY) {
		model(ts->seed, ts->even, used, MAC_LEN, ts->h);
		take += MAC_LEN;
	}
	model(ts->seed, ts->even, used + take, MAC_LEN, s);
	take += MAC_LEN;
	model(ts->seed, ts->even, used + take, n, pad);
	take += n;
	*ts->used += take;
	ghash(ts->h, body, l.tag, tag);
	for (i = 0; i < MAC_LEN; i++)
		tag[i] ^= s[i];
	EXPECT_EQ(0, memcmp(tag, body + l.tag, MAC_LEN))
		TH_LOG("the tag of kme-2's frame is not GHASH XOR the pad");
	if (!relay_ct(want)) {
		memcpy(keys, pad, n);
	} else {
		for (i = 0; i < n; i++)
			pad[i] ^= body[l.ct + i];
		EXPECT_EQ(0, memcmp(pad, keys, n))
			TH_LOG("the ciphertext is not the keys XOR the pad");
	}
	memcpy(ids, body + l.ids, want->count * QKDN_KEY_ID_LEN);
	free(pad);
	free(f);
}

/* The same on link 7, from kme-2's stream of it (odd blocks). */
static void expect_tx_frame(struct __test_metadata *_metadata,
			    FIXTURE_DATA(relay) *self, const uint8_t *id,
			    const struct relay_desc *want, uint8_t *keys,
			    uint8_t *ids)
{
	const struct tx_stream ts = {
		.link = RELAY_LINK, .seed = self->seed, .even = false,
		.used = &self->own_used, .h = self->h_tx,
	};

	expect_link_frame(_metadata, self, &ts, id, want, keys, ids);
}

/* kme-1 tells kme-2 how relay id ended. */
static void peer_done(struct __test_metadata *_metadata,
		      FIXTURE_DATA(relay) *self, const uint8_t *id, int err,
		      const char *where, const char *why)
{
	struct kxf *f = malloc(sizeof(*f));
	struct rep *r = rep_new();

	ASSERT_TRUE(f && r);
	kx_relay_done(f, ++self->tx_seq, id, err, where, why);
	EXPECT_EQ(0, peer_frame(self, f, r))
		TH_LOG("RELAY_DONE of kme-1: %s (%s)", errname(r->err), r->msg);
	rep_free(r);
	free(f);
}

/*
 * kme-2 starts relays to sae-y: the frame it sends kme-1 (fields, pads
 * from its stream, tag), the keys its application gets once kme-1 reports
 * completion, an error reported from further away, a full route.
 */
TEST_F_TIMEOUT(relay, source, 60)
{
	static const char *const route[] = { "kme-2", "kme-1", "kme-9" };
	uint8_t keys[2 * 32], ids[2 * QKDN_KEY_ID_LEN];
	struct rep *r = rep_new();
	struct relay_desc want = src_relay;
	struct ctrl_req q;
	uint64_t own;
	struct nlc c;
	struct msg m;
	pid_t pid;

	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(0, ctrl_listen(&c));
	own = own_bytes(self);

	/* Distributed: the controller names kme-1. */
	pid = src_key_get(self, 2, 256, r);
	ctrl_asked(_metadata, pid, &c, &q);
	EXPECT_EQ((uint32_t)QKDN_MSG_NEXT_HOP_REQUEST, q.msg);
	EXPECT_STREQ("kme-2", q.src);
	EXPECT_STREQ("kme-9", q.dst);
	EXPECT_EQ(RELAY_BYTES(2, 32), q.bytes);
	next_hop(_metadata, &self->s, q.ctrl_id, "kme-1");
	want.count = 2;
	want.key_bytes = 32;
	want.flags = RELAY_F_NEWKEY;
	expect_tx_frame(_metadata, self, q.relay_id, &want, keys, ids);
	EXPECT_EQ(own - RELAY_BYTES(2, 32), own_bytes(self));
	peer_done(_metadata, self, q.relay_id, 0, "kme-9", "");
	wait_child(_metadata, pid);
	expect_keys(_metadata, r, ids, keys, 2, 32, "KEY_GET relayed");
	EXPECT_EQ(1U, link_stat(&self->s, RELAY_LINK, QKDN_A_STATS_RELAY_TX));
	EXPECT_EQ(64U, link_stat(&self->s, RELAY_LINK,
				 QKDN_A_STATS_RELAY_PAD_BYTES));
	EXPECT_EQ(2U * MAC_LEN, link_stat(&self->s, RELAY_LINK,
					  QKDN_A_STATS_RELAY_MAC_BYTES));
	EXPECT_EQ(1U, node_stat(&self->s, QKDN_A_STATS_RELAYS_DONE));

	/* Failed further on: the application hears where and why. */
	pid = src_key_get(self, 1, 64, r);
	ctrl_asked(_metadata, pid, &c, &q);
	next_hop(_metadata, &self->s, q.ctrl_id, "kme-1");
	want.count = 1;
	want.key_bytes = 8;
	want.flags = 0;
	expect_tx_frame(_metadata, self, q.relay_id, &want, keys, ids);
	peer_done(_metadata, self, q.relay_id, ENOSPC, "kme-5",
		  "not enough key on the link to the next hop");
	child_err(_metadata, pid, r, "KEY_GET relayed, failed at kme-5", ENOSPC,
		  "key relay failed at kme-5: not enough key on the link to the next hop");
	EXPECT_EQ(1U, node_stat(&self->s, QKDN_A_STATS_RELAYS_FAILED));

	/* Centralized: the route goes with the frame; the controller hears
	 * how it ended.
	 */
	set_ctrl_mode(_metadata, &self->s, QKDN_CTRL_CENTRALIZED);
	pid = src_key_get(self, 2, 256, r);
	ctrl_asked(_metadata, pid, &c, &q);
	EXPECT_EQ((uint32_t)QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, q.msg);
	ctrl_ans(&m, QKDN_MSG_KEY_RELAY_REQUEST, q.ctrl_id);
	put_route(&m, route, 3, NULL);
	ok_req(_metadata, &self->s, &m, "CTRL route kme-2 kme-1 kme-9");
	want.count = 2;
	want.key_bytes = 32;
	want.nroute = 3;
	memcpy(want.route, route, sizeof(route));
	expect_tx_frame(_metadata, self, q.relay_id, &want, keys, ids);
	peer_done(_metadata, self, q.relay_id, 0, "kme-9", "");
	wait_child(_metadata, pid);
	expect_keys(_metadata, r, ids, keys, 2, 32, "KEY_GET relayed");
	ASSERT_TRUE(ctrl_read(&c, 5000, &q))
		TH_LOG("no response to the controller");
	EXPECT_EQ((uint32_t)QKDN_MSG_KEY_RELAY_RESPONSE, q.msg);
	EXPECT_FALSE(q.has_ctrl_id);
	EXPECT_TRUE(q.has_err && q.err == 0);
	EXPECT_EQ(own - self->own_used, own_bytes(self));
	EXPECT_EQ(2U, node_stat(&self->s, QKDN_A_STATS_RELAYS_DONE));
	nlc_close(&c);
	rep_free(r);
}

/* A relay that fails before its first hop takes nothing from the pool. */
TEST_F_TIMEOUT(relay, source_nothing_spent, 60)
{
	uint64_t own = own_bytes(self), t0, t;
	struct rep *r = rep_new();
	struct ctrl_req q;
	struct nlc c;
	struct msg m;
	uint32_t o;
	pid_t pid;

	ASSERT_TRUE(r != NULL);
	req(&m, QKDN_CMD_KEY_GET);
	put_str(&m, QKDN_A_MASTER_SAE_ID, "sae-b");
	o = put_str(&m, QKDN_A_SLAVE_SAE_ID, "sae-y");
	bad(_metadata, &self->s, self->ns[1], &cred_b, &m,
	    "KEY_GET to sae-y with no controller", EHOSTUNREACH,
	    "no QKDN controller", o, 0, F_NOSTATS);

	ASSERT_EQ(0, ctrl_listen(&c));
	pid = src_key_get(self, 4, 512, r);
	ctrl_asked(_metadata, pid, &c, &q);
	ctrl_refuse(_metadata, &self->s, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id,
		    EHOSTUNREACH, "kme-9 is not in this QKDN");
	child_err(_metadata, pid, r, "KEY_GET the controller has no route for",
		  EHOSTUNREACH,
		  "key relay failed at kme-2: kme-9 is not in this QKDN");
	EXPECT_EQ(own, own_bytes(self));

	t0 = now_ms();
	pid = src_key_get(self, 4, 512, r);
	ctrl_asked(_metadata, pid, &c, &q);
	wait_child(_metadata, pid);
	t = now_ms() - t0;
	check_err(_metadata, "KEY_GET with a silent controller", r, ETIMEDOUT,
		  "controller did not answer", NO_OFFS, 0);
	EXPECT_TRUE(t >= 1900 && t < 8000)
		TH_LOG("answered after %" PRIu64 " ms, expected about 2000", t);
	EXPECT_EQ(own, own_bytes(self));
	EXPECT_EQ(0U, link_stat(&self->s, RELAY_LINK, QKDN_A_STATS_RELAY_TX));
	EXPECT_EQ(2U, node_stat(&self->s, QKDN_A_STATS_RELAYS_FAILED));
	nlc_close(&c);
	rep_free(r);
}

/* ---- multicast key requests at kme-2 ---- */

/* The frame kme-2 sent on link 7 (expect_tx_frame()); id gets its ID. */
static void expect_tx_frame_id(struct __test_metadata *_metadata,
			       FIXTURE_DATA(relay) *self,
			       const struct relay_desc *want, uint8_t *keys,
			       uint8_t *ids, uint8_t *id)
{
	const struct tx_stream ts = {
		.link = RELAY_LINK, .seed = self->seed, .even = false,
		.used = &self->own_used, .h = self->h_tx, .id_out = id,
	};

	expect_link_frame(_metadata, self, &ts, NULL, want, keys, ids);
}

/* The child pid has not answered yet. */
static void expect_waiting(struct __test_metadata *_metadata, pid_t pid,
			   const char *what)
{
	int st;

	usleep(300000);
	EXPECT_EQ(0, waitpid(pid, &st, WNOHANG))
		TH_LOG("%s: answered before every relay completed", what);
}

/*
 * sae-b at kme-2 asks for keys for sae-a (kme-1, the neighbour) and sae-y
 * (kme-9, behind kme-1): one relay straight to kme-1, its pad the keys,
 * without the controller; one the controller routes, carrying the same
 * keys encrypted from the first hop (RELAY_F_GIVEN). The master has the
 * keys once both completed.
 */
TEST_F_TIMEOUT(relay, multicast_source, 60)
{
	static const char *const more[] = { "sae-y" };
	uint8_t keys[2 * 32], ids[2 * QKDN_KEY_ID_LEN];
	uint8_t ids2[2 * QKDN_KEY_ID_LEN], id1[QKDN_RELAY_ID_LEN];
	struct relay_desc want = src_relay;
	struct rep *r = rep_new();
	struct ctrl_req q;
	uint64_t own;
	struct nlc c;
	struct msg m;
	pid_t pid;

	ASSERT_TRUE(r != NULL);
	ASSERT_EQ(0, ctrl_listen(&c));
	own = own_bytes(self);

	mc_msg(&m, "sae-b", "sae-a", more, 1, 2, 256, NULL);
	pid = spawn_as(self->ns[1], &cred_b, m.nlh, r, 1);
	ASSERT_LE(0, pid);
	want.dst = "kme-1";
	want.slave = "sae-a";
	want.count = 2;
	want.key_bytes = 32;
	want.flags = RELAY_F_NEWKEY;
	expect_tx_frame_id(_metadata, self, &want, keys, ids, id1);

	ctrl_asked(_metadata, pid, &c, &q);
	EXPECT_EQ((uint32_t)QKDN_MSG_NEXT_HOP_REQUEST, q.msg);
	EXPECT_STREQ("kme-2", q.src);
	EXPECT_STREQ("kme-9", q.dst);
	EXPECT_EQ(RELAY_BYTES(2, 32), q.bytes);
	EXPECT_NE(0, memcmp(q.relay_id, id1, sizeof(id1)));
	next_hop(_metadata, &self->s, q.ctrl_id, "kme-1");
	want.dst = "kme-9";
	want.slave = "sae-y";
	want.flags = RELAY_F_GIVEN;
	expect_tx_frame(_metadata, self, q.relay_id, &want, keys, ids2);
	EXPECT_EQ(0, memcmp(ids, ids2, sizeof(ids)))
		TH_LOG("the two relays carry different key IDs");

	peer_done(_metadata, self, id1, 0, "kme-1", "");
	expect_waiting(_metadata, pid, "multicast KEY_GET, one relay done");
	peer_done(_metadata, self, q.relay_id, 0, "kme-9", "");
	wait_child(_metadata, pid);
	expect_keys(_metadata, r, ids, keys, 2, 32, "multicast KEY_GET");
	EXPECT_EQ(own - self->own_used, own_bytes(self));
	EXPECT_EQ(2U, link_stat(&self->s, RELAY_LINK, QKDN_A_STATS_RELAY_TX));
	EXPECT_EQ(2U * 64, link_stat(&self->s, RELAY_LINK,
				     QKDN_A_STATS_RELAY_KEY_BYTES));
	EXPECT_EQ(2U, node_stat(&self->s, QKDN_A_STATS_RELAYS_DONE));
	EXPECT_FALSE(ctrl_read(&c, 200, &q)) TH_LOG("a second request (msg %u)",
						    q.msg);
	nlc_close(&c);
	rep_free(r);
}

/*
 * All or nothing at the source: a relay failing further on, refused by the
 * controller, or failing first fails the request with its error; a relay
 * of the same request already sent is aborted.
 */
TEST_F_TIMEOUT(relay, multicast_source_abort, 60)
{
	static const char *const more[] = { "sae-y" };
	uint8_t keys[8], ids[QKDN_KEY_ID_LEN], ids2[QKDN_KEY_ID_LEN];
	uint8_t id1[QKDN_RELAY_ID_LEN];
	struct kxf *f = malloc(sizeof(*f));
	struct relay_desc want = src_relay;
	struct rep *r = rep_new();
	struct ctrl_req q;
	uint64_t own;
	struct nlc c;
	struct msg m;
	uint32_t o;
	pid_t pid;

	ASSERT_TRUE(f && r);
	ASSERT_EQ(0, ctrl_listen(&c));
	own = own_bytes(self);
	mc_msg(&m, "sae-b", "sae-a", more, 1, 1, 64, NULL);
	want.count = 1;
	want.key_bytes = 8;

	/* The relay to kme-9 fails at kme-5; the one to kme-1 is undone. */
	pid = spawn_as(self->ns[1], &cred_b, m.nlh, r, 1);
	ASSERT_LE(0, pid);
	want.dst = "kme-1";
	want.slave = "sae-a";
	want.flags = RELAY_F_NEWKEY;
	expect_tx_frame_id(_metadata, self, &want, keys, ids, id1);
	ctrl_asked(_metadata, pid, &c, &q);
	next_hop(_metadata, &self->s, q.ctrl_id, "kme-1");
	want.dst = "kme-9";
	want.slave = "sae-y";
	want.flags = RELAY_F_GIVEN;
	expect_tx_frame(_metadata, self, q.relay_id, &want, keys, ids2);
	peer_done(_metadata, self, id1, 0, "kme-1", "");
	peer_done(_metadata, self, q.relay_id, ENOSPC, "kme-5",
		  "not enough key on the link to the next hop");
	child_err(_metadata, pid, r, "multicast KEY_GET, failed at kme-5",
		  ENOSPC,
		  "key relay failed at kme-5: not enough key on the link to the next hop");
	EXPECT_TRUE(peer_wait(self, KX_RELAY_ABORT, id1, f, 5000))
		TH_LOG("kme-1 was not told to forget the keys for sae-a");

	/* The controller has no route to kme-9. */
	pid = spawn_as(self->ns[1], &cred_b, m.nlh, r, 1);
	ASSERT_LE(0, pid);
	want.dst = "kme-1";
	want.slave = "sae-a";
	want.flags = 0;
	expect_tx_frame_id(_metadata, self, &want, keys, ids, id1);
	ctrl_asked(_metadata, pid, &c, &q);
	ctrl_refuse(_metadata, &self->s, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id,
		    EHOSTUNREACH, "kme-9 is not in this QKDN");
	child_err(_metadata, pid, r, "multicast KEY_GET, no route to kme-9",
		  EHOSTUNREACH,
		  "key relay failed at kme-2: kme-9 is not in this QKDN");
	EXPECT_TRUE(peer_wait(self, KX_RELAY_ABORT, id1, f, 5000))
		TH_LOG("kme-1 was not told to forget the keys for sae-a");

	/* The relay to kme-1 fails while the other waits for its route. */
	pid = spawn_as(self->ns[1], &cred_b, m.nlh, r, 1);
	ASSERT_LE(0, pid);
	expect_tx_frame_id(_metadata, self, &want, keys, ids, id1);
	ctrl_asked(_metadata, pid, &c, &q);
	peer_done(_metadata, self, id1, EHOSTUNREACH, "kme-1",
		  "the slave SAE is not served here");
	child_err(_metadata, pid, r, "multicast KEY_GET, failed at kme-1",
		  EHOSTUNREACH,
		  "key relay failed at kme-1: the slave SAE is not served here");
	o = ctrl_ans(&m, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id);
	put_str(&m, QKDN_A_NEXT_HOP, "kme-1");
	BAD(&m, "the route of a relay given up", ENOENT,
	    "no controller request", o, 0);
	EXPECT_FALSE(peer_wait(self, KX_RELAY, NULL, f, 300))
		TH_LOG("a key relay frame after the request failed");

	EXPECT_EQ(own - self->own_used, own_bytes(self));
	nlc_close(&c);
	rep_free(r);
	free(f);
}

/*
 * kme-2 the destination of a relay naming more slave SAEs: each named
 * slave gets the keys once, another local SAE may not; the keys of the
 * first hop may be another relay's (RELAY_F_GIVEN); an abort of the
 * source erases every slave's copy; a slave not served here fails it.
 */
TEST_F_TIMEOUT(relay, multicast_delivered, 60)
{
	uint8_t keys[2 * 32], ids[2 * QKDN_KEY_ID_LEN];
	struct kxf *f = malloc(sizeof(*f));
	struct keyset *k = malloc(sizeof(*k));
	struct rep *r = rep_new();
	struct relay_desc d;
	struct msg m;
	struct pool p;
	uint32_t i;

	ASSERT_TRUE(f && k && r);
	new_sae(_metadata, &self->s, "sae-c", UID_C, NULL);
	new_sae(_metadata, &self->s, "sae-d", UID_D, NULL);

	make_ids(ids, 2, 0xb1);
	relay_init(&d, "mc-1", "kme-1", "sae-a", 2, 32, ids);
	d.flags = RELAY_F_NEWKEY;
	d.nslaves = 1;
	d.slaves[0] = "sae-c";
	relay_send(_metadata, self, f, &d, keys);
	expect_done(_metadata, self, d.id, 0, "kme-2", "");
	ASSERT_TRUE(pool_get(&self->s, RELAY_LINK, NULL, &p));
	EXPECT_EQ(0U, p.reserved);
	EXPECT_EQ(1U, node_stat(&self->s, QKDN_A_STATS_RELAYS_ENDED));
	k->n = 2;
	memcpy(k->id, ids, sizeof(ids));
	by_id_msg(&m, "sae-a", "sae-d", k);
	bad(_metadata, &self->s, self->ns[1], &cred_d, &m,
	    "KEY_GET_BY_ID by sae-d, not named", EACCES, "another SAE pair",
	    NO_OFFS, 0, F_NOSTATS);
	expect_relayed_to(_metadata, self, "sae-a", "sae-c", &cred_c, ids, 2,
			  32, keys);
	expect_relayed_to(_metadata, self, "sae-a", "sae-b", &cred_b, ids, 2,
			  32, keys);

	/* Ciphertext on the first hop: the keys are not the pad. */
	for (i = 0; i < 32; i++)
		keys[i] = 0x3c ^ (i * 7);
	make_ids(ids, 1, 0xb2);
	relay_init(&d, "mc-2", "kme-1", "sae-a", 1, 32, ids);
	d.flags = RELAY_F_GIVEN;
	d.nslaves = 1;
	d.slaves[0] = "sae-c";
	relay_send(_metadata, self, f, &d, keys);
	expect_done(_metadata, self, d.id, 0, "kme-2", "");
	expect_relayed_to(_metadata, self, "sae-a", "sae-b", &cred_b, ids, 1,
			  32, keys);
	expect_relayed_to(_metadata, self, "sae-a", "sae-c", &cred_c, ids, 1,
			  32, keys);

	/* The source gives up: no slave gets them. */
	make_ids(ids, 1, 0xb3);
	relay_init(&d, "mc-3", "kme-1", "sae-a", 1, 32, ids);
	d.nslaves = 1;
	d.slaves[0] = "sae-c";
	relay_send(_metadata, self, f, &d, keys);
	expect_done(_metadata, self, d.id, 0, "kme-2", "");
	peer_abort(_metadata, self, d.id);
	relay_by_id_as(_metadata, self, "sae-a", "sae-b", &cred_b, ids, 1, r);
	check_err(_metadata, "KEY_GET_BY_ID by sae-b after the abort", r,
		  ENOENT, "unknown or already supplied", NO_OFFS, 0);
	relay_by_id_as(_metadata, self, "sae-a", "sae-c", &cred_c, ids, 1, r);
	check_err(_metadata, "KEY_GET_BY_ID by sae-c after the abort", r,
		  ENOENT, "unknown or already supplied", NO_OFFS, 0);

	/* A slave SAE served elsewhere: the relay fails, nothing is kept. */
	make_ids(ids, 1, 0xb4);
	relay_init(&d, "mc-4", "kme-1", "sae-a", 1, 32, ids);
	d.nslaves = 1;
	d.slaves[0] = "sae-y";
	relay_send(_metadata, self, f, &d, keys);
	expect_done(_metadata, self, d.id, EHOSTUNREACH, "kme-2", NULL);
	relay_by_id_as(_metadata, self, "sae-a", "sae-b", &cred_b, ids, 1, r);
	check_err(_metadata, "KEY_GET_BY_ID of a failed multicast relay", r,
		  ENOENT, "unknown or already supplied", NO_OFFS, 0);
	EXPECT_EQ(3U, node_stat(&self->s, QKDN_A_STATS_RELAYS_ENDED));
	rep_free(r);
	free(k);
	free(f);
}

/*
 * A relay passing through kme-2 on its way to kme-9: kme-2 asks its
 * controller, naming kme-1 as where it came from, and reports to kme-1
 * what went wrong. Sent on (back over the only link with key), the keys
 * leave under kme-2's own pad.
 */
TEST_F_TIMEOUT(relay, hop, 60)
{
	uint8_t keys[2 * 32], ids[2 * QKDN_KEY_ID_LEN], got_ids[2 * 16];
	struct kxf *f = malloc(sizeof(*f));
	struct kx_relay_done done;
	struct relay_desc d, want;
	struct ctrl_req q;
	uint64_t t0, t, own;
	uint32_t i;
	struct nlc c;

	ASSERT_TRUE(f != NULL);
	for (i = 0; i < sizeof(keys); i++)
		keys[i] = 0xe0 ^ i;
	make_ids(ids, 2, 0xe0);

	/* No controller: back to kme-1 at once. */
	relay_init(&d, "hop-1", "kme-0", "sae-z", 2, 32, ids);
	d.dst = "kme-9";
	d.flags = RELAY_F_NEWKEY;
	relay_send(_metadata, self, f, &d, keys);
	expect_done(_metadata, self, d.id, EHOSTUNREACH, "kme-2",
		    "no QKDN controller to route the key relay");

	/* The controller has no route: its words go back. */
	ASSERT_EQ(0, ctrl_listen(&c));
	relay_init(&d, "hop-2", "kme-0", "sae-z", 2, 32, ids);
	d.dst = "kme-9";
	relay_send(_metadata, self, f, &d, keys);
	ASSERT_TRUE(ctrl_read(&c, 10000, &q));
	EXPECT_EQ((uint32_t)QKDN_MSG_NEXT_HOP_REQUEST, q.msg);
	EXPECT_EQ(0, memcmp(q.relay_id, d.id, QKDN_RELAY_ID_LEN));
	EXPECT_STREQ("kme-0", q.src);
	EXPECT_STREQ("kme-9", q.dst);
	EXPECT_TRUE(q.has_peer);
	EXPECT_STREQ("kme-1", q.peer);
	EXPECT_EQ(RELAY_BYTES(2, 32), q.bytes);
	ctrl_refuse(_metadata, &self->s, QKDN_MSG_NEXT_HOP_RESPONSE, q.ctrl_id,
		    ENETUNREACH, "kme-9 is cut off");
	expect_done(_metadata, self, d.id, ENETUNREACH, "kme-2",
		    "kme-9 is cut off");

	/* Sent on: the same keys under kme-2's pad; the end comes back. */
	relay_init(&d, "hop-3", "kme-0", "sae-z", 2, 32, ids);
	d.dst = "kme-9";
	relay_send(_metadata, self, f, &d, keys);
	ASSERT_TRUE(ctrl_read(&c, 10000, &q));
	next_hop(_metadata, &self->s, q.ctrl_id, "kme-1");
	want = (struct relay_desc){
		.src = "kme-0", .dst = "kme-9", .master = "sae-z",
		.slave = "sae-b", .count = 2, .key_bytes = 32, .hop = 3,
		.flags = RELAY_F_NEWKEY,
	};
	expect_tx_frame(_metadata, self, d.id, &want, keys, got_ids);
	EXPECT_EQ(0, memcmp(ids, got_ids, sizeof(got_ids)));
	peer_done(_metadata, self, d.id, 0, "kme-9", "");
	expect_done(_metadata, self, d.id, 0, "kme-9", NULL);
	EXPECT_EQ(1U, node_stat(&self->s, QKDN_A_STATS_RELAYS_FORWARDED));

	/* Past hop 15 there is no 16th link. */
	relay_init(&d, "hop-15", "kme-0", "sae-z", 2, 32, ids);
	d.dst = "kme-9";
	d.hop = QKDN_ROUTE_HOPS_MAX - 1;
	own = own_bytes(self);
	relay_send(_metadata, self, f, &d, keys);
	ASSERT_TRUE(ctrl_read(&c, 10000, &q));
	next_hop(_metadata, &self->s, q.ctrl_id, "kme-1");
	expect_done(_metadata, self, d.id, ELOOP, NULL,
		    "too many hops on the relay path");
	EXPECT_EQ(own, own_bytes(self));

	/* The controller says nothing. */
	relay_init(&d, "hop-4", "kme-0", "sae-z", 2, 32, ids);
	d.dst = "kme-9";
	t0 = now_ms();
	relay_send(_metadata, self, f, &d, keys);
	ASSERT_TRUE(ctrl_read(&c, 10000, &q));
	ASSERT_TRUE(relay_done_wait(self, d.id, &done, 8000));
	t = now_ms() - t0;
	EXPECT_EQ((uint32_t)ETIMEDOUT, le32toh(done.err));
	EXPECT_STREQ("the QKDN controller did not answer", done.why);
	EXPECT_TRUE(t >= 1900) TH_LOG("timed out after %" PRIu64 " ms", t);
	nlc_close(&c);
	free(f);
}

/*
 * Relays that passed kme-2 and ended leave records there only for a late
 * abort: they do not count against the relays in progress
 * (QKDN_RELAYS_MAX, 1024), so a hop is not limited to 1024 relays a
 * minute. More than 1024 relays pass and end, then the next one is still
 * taken on.
 */
#define HOP_RECORDS_RUN	1100

TEST_F_TIMEOUT(relay, hop_records_finished, 120)
{
	uint8_t keys[32], ids[QKDN_KEY_ID_LEN];
	struct kxf *f = malloc(sizeof(*f));
	struct kx_relay_done done;
	struct relay_desc d;
	char name[16];
	uint32_t i, busy = 0, other = 0;

	ASSERT_TRUE(f != NULL);
	/* 48 pool bytes a relay: 28 more blocks, 14 of them kme-1's. */
	link_blocks(_metadata, self, RELAY_LINK, RELAY_BLOCKS + 1, 28);
	memset(keys, 0, sizeof(keys));
	for (i = 0; i < HOP_RECORDS_RUN; i++) {
		snprintf(name, sizeof(name), "rec-%u", i);
		make_ids(ids, 1, (uint8_t)i);
		ids[1] = i >> 8;
		relay_init(&d, name, "kme-0", "sae-z", 1, 32, ids);
		d.dst = "kme-9";
		if (!i)
			d.flags = RELAY_F_NEWKEY;
		relay_send(_metadata, self, f, &d, keys);
		/* No controller: it ends at once, back to kme-1. */
		ASSERT_TRUE(relay_done_wait(self, d.id, &done, 5000))
			TH_LOG("relay %u: no completion", i);
		if (le32toh(done.err) == EBUSY)
			busy++;
		else if (le32toh(done.err) != EHOSTUNREACH)
			other++;
	}
	EXPECT_EQ(0U, busy) TH_LOG("%u relays refused as too many", busy);
	EXPECT_EQ(0U, other);
	free(f);
}

/* ---- kme-2 as a KM of proactive key supply (I.2) ---- */

#define BAD_NS(m, what, err, msg, offs, miss) \
	bad(_metadata, &self->s, -1, NULL, m, what, err, msg, offs, miss, \
	    F_NOSTATS)

/*
 * The controller tells kme-2 of session id of sae-a (at kme-1) with sae-b;
 * the application on l accepts it; c, if given, hears the response.
 */
static void relay_session(struct __test_metadata *_metadata,
			  FIXTURE_DATA(relay) *self, struct nlc *l,
			  struct nlc *c, uint32_t id)
{
	struct ctrl_req q;
	struct msg m;

	notify(_metadata, &self->s, l, id, &note_b,
	       "CTRL session creation notification");
	session_answer_msg(&m, id, 0);
	sae_ok(_metadata, l, UID_B, &m, "SESSION accepting");
	if (c) {
		ASSERT_TRUE(ctrl_read_msg(c, 2000,
					  QKDN_MSG_SESSION_NOTIFICATION_RESPONSE,
					  &q));
		expect_session_resp(_metadata, &q, id, "kme-1", "kme-2",
				    "sae-a", "sae-b", 0);
	}
}

/*
 * kme-1's "key supply notification" name (the next Kx sequence number):
 * count keys of kb bytes for master and sae-b from where kme-1's stream
 * stands; keys (if given) gets their bytes.
 */
static struct kx_supply *peer_supply(FIXTURE_DATA(relay) *self,
				     struct kxf *f, const char *name,
				     uint32_t session, uint16_t kb,
				     uint16_t count, const char *master,
				     const uint8_t *ids, uint8_t *keys)
{
	uint64_t block;
	uint32_t off;

	relay_pos(self->used, &block, &off);
	if (keys)
		model(self->seed, true, self->used, count * kb, keys);
	return kx_supply(f, ++self->tx_seq, self->rx_seq, name, session,
			 block, off, kb, count, master, "sae-b", ids);
}

/* The same, sent: kme-2 takes it, its stream bytes are spent. */
static void send_supply(struct __test_metadata *_metadata,
			FIXTURE_DATA(relay) *self, const char *name,
			uint32_t session, uint16_t kb, uint16_t count,
			const char *master, const uint8_t *ids, uint8_t *keys)
{
	struct kxf *f = malloc(sizeof(*f));
	struct rep *r = rep_new();

	ASSERT_TRUE(f && r);
	peer_supply(self, f, name, session, kb, count, master, ids, keys);
	ASSERT_EQ(0, peer_frame(self, f, r))
		TH_LOG("KX_FRAME with supply %s: %s (%s)", name,
		       errname(r->err), r->msg);
	self->used += (uint64_t)kb * count;
	rep_free(r);
	free(f);
}

/*
 * kme-2's "response to key supply notification" name, within ms: errno
 * err and exactly the n key IDs want.
 */
static void expect_supply_done(struct __test_metadata *_metadata,
			       FIXTURE_DATA(relay) *self, const char *name,
			       uint32_t session, uint32_t err,
			       const uint8_t *want, uint32_t n, int ms)
{
	struct kxf *f = malloc(sizeof(*f));
	const struct kx_supply_done *d;
	uint8_t id[QKDN_RELAY_ID_LEN];
	uint32_t count;

	ASSERT_TRUE(f != NULL);
	name_id(id, name);
	ASSERT_TRUE(peer_wait(self, KX_SUPPLY_DONE, id, f, ms))
		TH_LOG("no response to key supply notification %s", name);
	d = (const struct kx_supply_done *)(f->b + sizeof(struct kx_hdr));
	count = le16toh(d->count);
	EXPECT_EQ(session, le32toh(d->session));
	EXPECT_EQ(err, le32toh(d->err))
		TH_LOG("%s: errno %u, expected %u", name, le32toh(d->err), err);
	EXPECT_EQ(n, count) TH_LOG("%s: %u key IDs, expected %u", name, count,
				   n);
	EXPECT_EQ(0, d->reserved);
	ASSERT_EQ(sizeof(struct kx_hdr) + sizeof(*d) +
		  count * QKDN_KEY_ID_LEN, f->len);
	if (n && n == count)
		EXPECT_EQ(0, memcmp(f->b + sizeof(struct kx_hdr) + sizeof(*d),
				    want, n * QKDN_KEY_ID_LEN))
			TH_LOG("%s: not the key IDs sae-b took", name);
	free(f);
}

/*
 * kme-1's "key supply notification" for a session sae-b accepted: sae-b
 * gets exactly the next bytes of kme-1's stream under the IDs kme-1 gave,
 * and kme-1 gets back exactly the IDs sae-b took. Answers naming an ID not
 * supplied, or from anyone but sae-b's socket, count for nothing; an empty
 * answer declines. A supply for no accepted session is refused back; one
 * not where the pool stands is refused and takes nothing.
 */
TEST_F_TIMEOUT(relay, supply, 60)
{
	const uint32_t sid = 0x5e5501;
	uint8_t ids[4 * QKDN_KEY_ID_LEN], ids2[2 * QKDN_KEY_ID_LEN];
	uint8_t big[QKDN_KEYS_PER_REQUEST * QKDN_KEY_ID_LEN];
	uint8_t took[2 * QKDN_KEY_ID_LEN], mixed[2 * QKDN_KEY_ID_LEN];
	uint8_t keys[4 * 32], keys2[2 * 32], bogus[QKDN_KEY_ID_LEN];
	uint8_t id[QKDN_RELAY_ID_LEN];
	struct kxf *f = malloc(sizeof(*f)), *g = malloc(sizeof(*g));
	struct rep *lr = rep_new();
	struct kx_supply *b;
	uint32_t offs[2], o;
	struct nlc l, c;
	struct nlattr *n;
	uint64_t peer;
	struct msg m;

	ASSERT_TRUE(f && g && lr);
	ASSERT_EQ(0, ctrl_listen(&c));
	sae_listener(_metadata, &l, UID_B, "sae-b");
	relay_session(_metadata, self, &l, &c, sid);

	/* Four keys: the next bytes of kme-1's stream. */
	make_ids(ids, 4, 0x51);
	peer = peer_bytes(self);
	send_supply(_metadata, self, "supply-1", sid, 32, 4, "sae-a", ids,
		    keys);
	EXPECT_EQ(peer - sizeof(keys), peer_bytes(self));
	expect_supplied(_metadata, &l, sid, ids, keys, 4, 32);
	/* sae-b takes keys 2 and 4: kme-1 hears exactly those. */
	memcpy(took, ids + QKDN_KEY_ID_LEN, QKDN_KEY_ID_LEN);
	memcpy(took + QKDN_KEY_ID_LEN, ids + 3 * QKDN_KEY_ID_LEN,
	       QKDN_KEY_ID_LEN);
	supply_answer_msg(&m, sid, took, 2, NULL);
	sae_ok(_metadata, &l, UID_B, &m, "KEY_SUPPLY taking 2 of 4 keys");
	expect_supply_done(_metadata, self, "supply-1", sid, 0, took, 2, 2000);
	/* Answered: nothing of that supply is left. */
	supply_answer_msg(&m, sid, ids, 1, offs);
	bad_via(_metadata, &self->s, &l, UID_B, &m,
		"KEY_SUPPLY for a supply answered", ENOENT,
		"key ID not supplied in this session", offs[0], 0, F_NOSTATS);
	supply_answer_msg(&m, sid, NULL, 0, NULL);
	bad_via(_metadata, &self->s, &l, UID_B, &m,
		"empty KEY_SUPPLY with no supply waiting", ENOENT,
		"no key supply awaits an answer", NO_OFFS, 0, F_NOSTATS);

	/* Answers that count for nothing. */
	make_ids(ids2, 2, 0x52);
	send_supply(_metadata, self, "supply-2", sid, 32, 2, "sae-a", ids2,
		    keys2);
	expect_supplied(_metadata, &l, sid, ids2, keys2, 2, 32);
	memcpy(mixed, ids2, QKDN_KEY_ID_LEN);
	memcpy(mixed + QKDN_KEY_ID_LEN, ids, QKDN_KEY_ID_LEN);
	supply_answer_msg(&m, sid, mixed, 2, offs);
	bad_via(_metadata, &self->s, &l, UID_B, &m,
		"KEY_SUPPLY naming a key of an earlier supply", ENOENT,
		"key ID not supplied in this session", offs[1], 0, F_NOSTATS);
	make_ids(bogus, 1, 0x5f);
	supply_answer_msg(&m, sid, bogus, 1, offs);
	bad_via(_metadata, &self->s, &l, UID_B, &m,
		"KEY_SUPPLY naming a key never supplied", ENOENT,
		"key ID not supplied in this session", offs[0], 0, F_NOSTATS);
	supply_answer_msg(&m, sid, ids2, 1, NULL);
	bad(_metadata, &self->s, self->ns[1], &cred_b, &m,
	    "KEY_SUPPLY from another socket of uid 1002", EACCES,
	    "only the socket listening for the slave SAE may answer", NO_OFFS,
	    0, F_NOSTATS);
	bad_via(_metadata, &self->s, &l, 0, &m,
		"KEY_SUPPLY from the listening socket as root", EACCES,
		"only the socket listening for the slave SAE may answer",
		NO_OFFS, 0, F_NOSTATS);
	o = supply_answer_msg(&m, SESSION_NONE, ids2, 1, NULL);
	bad_via(_metadata, &self->s, &l, UID_B, &m,
		"KEY_SUPPLY for an unknown session", ENOENT, "no such session",
		o, 0, F_NOSTATS);
	req(&m, QKDN_CMD_KEY_SUPPLY);
	put_key_id(&m, ids2);
	bad_via(_metadata, &self->s, &l, UID_B, &m,
		"KEY_SUPPLY without SESSION_ID", EINVAL, NO_MSG, NO_OFFS,
		QKDN_A_SESSION_ID, F_NOSTATS);
	supply_answer_msg(&m, sid, NULL, 0, NULL);
	n = mnl_attr_nest_start(m.nlh, QKDN_A_KEY);
	mnl_attr_put(m.nlh, QKDN_A_KEY_ID, QKDN_KEY_ID_LEN, ids2);
	o = m.nlh->nlmsg_len;
	mnl_attr_put(m.nlh, QKDN_A_KEY_DATA, 32, keys2);
	mnl_attr_nest_end(m.nlh, n);
	bad_via(_metadata, &self->s, &l, UID_B, &m,
		"KEY_SUPPLY carrying key bytes", EINVAL, POLICY_MSG, o, 0,
		F_NOSTATS);
	name_id(id, "supply-2");
	EXPECT_FALSE(peer_wait(self, KX_SUPPLY_DONE, id, g, 100))
		TH_LOG("a refused answer went to kme-1");
	/* The answer that counts: only the key it names. */
	supply_answer_msg(&m, sid, ids2 + QKDN_KEY_ID_LEN, 1, NULL);
	sae_ok(_metadata, &l, UID_B, &m, "KEY_SUPPLY taking 1 of 2 keys");
	expect_supply_done(_metadata, self, "supply-2", sid, 0,
			   ids2 + QKDN_KEY_ID_LEN, 1, 2000);

	/* An empty answer declines the supply. */
	send_supply(_metadata, self, "supply-3", sid, 8, 1, "sae-a", NULL,
		    NULL);
	ASSERT_TRUE(sae_read(&l, 2000, QKDN_CMD_KEY_SUPPLY, lr));
	supply_answer_msg(&m, sid, NULL, 0, NULL);
	sae_ok(_metadata, &l, UID_B, &m, "KEY_SUPPLY taking none");
	expect_supply_done(_metadata, self, "supply-3", sid, 0, NULL, 0, 2000);

	/*
	 * For a session sae-b does not have, or of another master: refused
	 * back to kme-1, the pool bytes spent at both ends.
	 */
	peer = peer_bytes(self);
	send_supply(_metadata, self, "supply-4", SESSION_NONE, 32, 2, "sae-a",
		    NULL, NULL);
	expect_supply_done(_metadata, self, "supply-4", SESSION_NONE, ENOENT,
			   NULL, 0, 2000);
	send_supply(_metadata, self, "supply-5", sid, 32, 1, "sae-z", NULL,
		    NULL);
	expect_supply_done(_metadata, self, "supply-5", sid, ENOENT, NULL, 0,
			   2000);
	EXPECT_EQ(peer - 96, peer_bytes(self));
	EXPECT_FALSE(sae_read(&l, 100, 0, lr))
		TH_LOG("sae-b got keys of another session");

	/* Not where kme-2's copy of kme-1's stream stands: nothing taken. */
	peer = peer_bytes(self);
	b = peer_supply(self, f, "supply-6", sid, 32, 2, "sae-a", NULL, NULL);
	b->offset = htole32(le32toh(b->offset) + 1);
	relay_bad(_metadata, self, f, "Kx SUPPLY a byte past the pool", EPROTO,
		  "Kx key supply does not match the pool");
	b = peer_supply(self, f, "supply-6", sid, 32, 2, "sae-a", NULL, NULL);
	b->block_seq = htole64(1);	/* kme-2's own */
	relay_bad(_metadata, self, f, "Kx SUPPLY in kme-2's own stream", EPROTO,
		  "Kx key supply does not match the pool");
	b = peer_supply(self, f, "supply-6", sid, 32, 2, "sae-a", NULL, NULL);
	b->block_seq = htole64(le64toh(b->block_seq) + 2);
	relay_bad(_metadata, self, f, "Kx SUPPLY a block ahead", EPROTO,
		  "Kx key supply does not match the pool");
	make_ids(big, QKDN_KEYS_PER_REQUEST, 0x56);
	peer_supply(self, f, "supply-6", sid, 128, QKDN_KEYS_PER_REQUEST,
		    "sae-a", big, NULL);
	relay_bad(_metadata, self, f, "Kx SUPPLY of 16 KiB from less than 8 KiB",
		  EPROTO, "Kx key supply does not match the pool");
	EXPECT_EQ(peer, peer_bytes(self));
	EXPECT_FALSE(sae_read(&l, 100, 0, lr))
		TH_LOG("sae-b got keys of a refused supply");
	name_id(id, "supply-6");
	EXPECT_FALSE(peer_wait(self, KX_SUPPLY_DONE, id, g, 100))
		TH_LOG("a refused supply was answered");

	/* The right one still fits. */
	make_ids(ids2, 2, 0x57);
	send_supply(_metadata, self, "supply-7", sid, 32, 2, "sae-a", ids2,
		    keys2);
	expect_supplied(_metadata, &l, sid, ids2, keys2, 2, 32);
	supply_answer_msg(&m, sid, ids2, 2, NULL);
	sae_ok(_metadata, &l, UID_B, &m, "KEY_SUPPLY taking both keys");
	expect_supply_done(_metadata, self, "supply-7", sid, 0, ids2, 2, 2000);
	EXPECT_EQ(4U, link_stat(&self->s, RELAY_LINK,
				QKDN_A_STATS_FRAMES_BAD));
	nlc_close(&l);
	nlc_close(&c);
	rep_free(lr);
	free(g);
	free(f);
}

/*
 * An answer refused for a key nest without a key ID counts for nothing:
 * the IDs it named before that nest are not taken.
 */
TEST_F_TIMEOUT(relay, supply_answer_refused, 60)
{
	const uint32_t sid = 0x5e5504;
	uint8_t ids[2 * QKDN_KEY_ID_LEN], keys[2 * 32];
	struct nlc l;
	struct msg m;
	uint32_t o;

	sae_listener(_metadata, &l, UID_B, "sae-b");
	relay_session(_metadata, self, &l, NULL, sid);
	make_ids(ids, 2, 0x61);
	send_supply(_metadata, self, "supply-1", sid, 32, 2, "sae-a", ids,
		    keys);
	expect_supplied(_metadata, &l, sid, ids, keys, 2, 32);

	supply_answer_msg(&m, sid, ids, 1, NULL);
	o = put(&m, QKDN_A_KEY, 0, NULL);
	((struct nlattr *)(m.buf + o))->nla_type |= NLA_F_NESTED;
	bad_via(_metadata, &self->s, &l, UID_B, &m,
		"KEY_SUPPLY with a key ID, then a key without one", EINVAL,
		"key without key ID", o, 0, F_NOSTATS);
	supply_answer_msg(&m, sid, ids + QKDN_KEY_ID_LEN, 1, NULL);
	sae_ok(_metadata, &l, UID_B, &m, "KEY_SUPPLY taking the second key");
	expect_supply_done(_metadata, self, "supply-1", sid, 0,
			   ids + QKDN_KEY_ID_LEN, 1, 2000);
	nlc_close(&l);
}

/*
 * sae-b leaves a supply unanswered: after 4 s kme-1 hears ETIMEDOUT with
 * no key, and it is too late to take one. The session goes on.
 */
TEST_F_TIMEOUT(relay, supply_timeout, 60)
{
	const uint32_t sid = 0x5e5505;
	uint8_t ids[2 * QKDN_KEY_ID_LEN], keys[2 * 32];
	struct rep *lr = rep_new();
	uint64_t t0, t;
	uint32_t offs[1];
	struct nlc l;
	struct msg m;

	ASSERT_TRUE(lr != NULL);
	sae_listener(_metadata, &l, UID_B, "sae-b");
	relay_session(_metadata, self, &l, NULL, sid);
	make_ids(ids, 2, 0x71);
	t0 = now_ms();
	send_supply(_metadata, self, "supply-1", sid, 32, 2, "sae-a", ids,
		    keys);
	ASSERT_TRUE(sae_read(&l, 2000, QKDN_CMD_KEY_SUPPLY, lr));
	expect_supply_done(_metadata, self, "supply-1", sid, ETIMEDOUT, NULL,
			   0, 8000);
	t = now_ms() - t0;
	EXPECT_TRUE(t >= 3900 && t < 7000)
		TH_LOG("answered after %" PRIu64 " ms, expected about 4000", t);
	supply_answer_msg(&m, sid, ids, 1, offs);
	bad_via(_metadata, &self->s, &l, UID_B, &m, "KEY_SUPPLY after 4 s",
		ENOENT, "key ID not supplied in this session", offs[0], 0,
		F_NOSTATS);

	make_ids(ids, 2, 0x72);
	send_supply(_metadata, self, "supply-2", sid, 32, 2, "sae-a", ids,
		    keys);
	expect_supplied(_metadata, &l, sid, ids, keys, 2, 32);
	supply_answer_msg(&m, sid, ids, 1, NULL);
	sae_ok(_metadata, &l, UID_B, &m, "KEY_SUPPLY after a timed-out one");
	expect_supply_done(_metadata, self, "supply-2", sid, 0, ids, 1, 2000);
	nlc_close(&l);
	rep_free(lr);
}

/*
 * The listening socket closes while a supply waits for its answer: the
 * sessions it accepted end with it, so a later supply for one of them is
 * refused back to kme-1, and the next socket listening for sae-b hears
 * nothing of it.
 */
TEST_F_TIMEOUT(relay, supply_listener_closed, 60)
{
	const uint32_t sid = 0x5e5506;
	uint8_t ids[2 * QKDN_KEY_ID_LEN], keys[2 * 32];
	struct rep *lr = rep_new();
	struct nlc l;

	ASSERT_TRUE(lr != NULL);
	sae_listener(_metadata, &l, UID_B, "sae-b");
	relay_session(_metadata, self, &l, NULL, sid);
	make_ids(ids, 2, 0x81);
	send_supply(_metadata, self, "supply-1", sid, 32, 2, "sae-a", ids,
		    keys);
	ASSERT_TRUE(sae_read(&l, 2000, QKDN_CMD_KEY_SUPPLY, lr));
	nlc_close(&l);

	sae_listener(_metadata, &l, UID_B, "sae-b");
	make_ids(ids, 2, 0x82);
	send_supply(_metadata, self, "supply-2", sid, 32, 2, "sae-a", ids,
		    keys);
	EXPECT_FALSE(sae_read(&l, 300, 0, lr))
		TH_LOG("a new socket got keys of a session it never accepted");
	expect_supply_done(_metadata, self, "supply-2", sid, ENOENT, NULL, 0,
			   2000);
	nlc_close(&l);
	rep_free(lr);
}

/*
 * The "key supply notification" kme-2 sent (in f): for session, count keys
 * of kb bytes from where its own stream of link 7 stands, sae-b to sae-a,
 * distinct key IDs and no key bytes. id and ids get the supply ID and the
 * key IDs.
 */
static void expect_supply_frame(struct __test_metadata *_metadata,
				FIXTURE_DATA(relay) *self,
				const struct kxf *f, uint32_t session,
				uint16_t kb, uint16_t count, uint8_t *id,
				uint8_t *ids)
{
	static const uint8_t zero[QKDN_KEY_ID_LEN];
	const struct kx_supply *b =
		(const struct kx_supply *)(f->b + sizeof(struct kx_hdr));
	char master[QKDN_ID_MAX] = "sae-b", slave[QKDN_ID_MAX] = "sae-a";
	uint32_t i, j;

	ASSERT_EQ(sizeof(struct kx_hdr) + sizeof(*b) + count * QKDN_KEY_ID_LEN,
		  f->len);
	memcpy(id, b->supply_id, QKDN_RELAY_ID_LEN);
	memcpy(ids, f->b + sizeof(struct kx_hdr) + sizeof(*b),
	       count * QKDN_KEY_ID_LEN);
	EXPECT_NE(0, memcmp(id, zero, QKDN_RELAY_ID_LEN));
	EXPECT_EQ(session, le32toh(b->session));
	EXPECT_EQ(0U, le32toh(b->reserved));
	EXPECT_EQ(2 * (self->own_used / BLOCK_SIZE) + 1, le64toh(b->block_seq));
	EXPECT_EQ(self->own_used % BLOCK_SIZE, le32toh(b->offset));
	EXPECT_EQ(kb, le16toh(b->key_bytes));
	EXPECT_EQ(count, le16toh(b->count));
	EXPECT_EQ(0, memcmp(b->master, master, sizeof(master)))
		TH_LOG("master SAE field \"%.64s\"", b->master);
	EXPECT_EQ(0, memcmp(b->slave, slave, sizeof(slave)))
		TH_LOG("slave SAE field \"%.64s\"", b->slave);
	for (i = 0; i < count; i++) {
		EXPECT_NE(0, memcmp(ids + i * QKDN_KEY_ID_LEN, zero,
				    QKDN_KEY_ID_LEN));
		for (j = 0; j < i; j++)
			EXPECT_NE(0, memcmp(ids + i * QKDN_KEY_ID_LEN,
					    ids + j * QKDN_KEY_ID_LEN,
					    QKDN_KEY_ID_LEN))
				TH_LOG("key IDs %u and %u are the same", j, i);
	}
}

/*
 * kme-2 as the source KM: the session sae-b asks for, then its "key
 * request with session ID": the "key supply notification" kme-2 sends
 * kme-1, and the keys sae-b gets -- those kme-1's response lists and only
 * those, the bytes of kme-2's stream; kme-1's errno when it took none.
 */
TEST_F_TIMEOUT(relay, session_source, 60)
{
	static const struct {
		uint32_t err, count;
		int want;
		const char *msg;
	} fails[] = {
		{ ECONNREFUSED, 0, ECONNREFUSED,
		  "the slave SAE's KM could not supply the keys" },
		{ ETIMEDOUT, 0, ETIMEDOUT,
		  "no response to the key supply notification in time" },
		{ 0, 0, ENODATA, "the slave SAE took none of the keys" },
		{ 0, 1, ENODATA, "the slave SAE took none of the keys" },
	};
	const uint32_t sid = 0x5e5502;
	uint8_t keys[4 * 32], ids[4 * QKDN_KEY_ID_LEN];
	uint8_t took[4 * QKDN_KEY_ID_LEN], other[QKDN_RELAY_ID_LEN];
	uint8_t sup[QKDN_RELAY_ID_LEN];
	struct kxf *f = malloc(sizeof(*f)), *g = malloc(sizeof(*g));
	struct rep *r = rep_new(), *r2 = rep_new();
	struct keyset *k = malloc(sizeof(*k));
	struct ctrl_req q;
	unsigned int i;
	uint64_t own;
	struct nlc c;
	pid_t pid;

	ASSERT_TRUE(f && g && r && r2 && k);
	ASSERT_EQ(0, ctrl_listen(&c));
	pid = session_new_as(self->ns[1], &cred_b, "sae-b", "sae-a", r);
	ctrl_asked(_metadata, pid, &c, &q);
	expect_session_req(_metadata, &q, "kme-2", "kme-1", "sae-b", "sae-a");
	session_created(_metadata, &self->s, q.ctrl_id, sid);
	wait_child(_metadata, pid);
	expect_session(_metadata, r, sid, "sae-b", "sae-a");

	own = own_bytes(self);
	pid = session_key_get(self->ns[1], &cred_b, "sae-b", "sae-a", sid, 4,
			      256, r);
	ASSERT_LE(0, pid);
	ASSERT_TRUE(peer_wait(self, KX_SUPPLY, NULL, f, 5000))
		TH_LOG("kme-2 sent no key supply notification");
	expect_supply_frame(_metadata, self, f, sid, 32, 4, sup, ids);
	EXPECT_EQ(own - sizeof(keys), own_bytes(self));
	model(self->seed, false, self->own_used, sizeof(keys), keys);
	self->own_used += sizeof(keys);
	/* A response to another supply changes nothing. */
	name_id(other, "not-this-one");
	kx_supply_done(g, ++self->tx_seq, self->rx_seq, other, sid, 0, 1, ids);
	EXPECT_EQ(0, peer_frame(self, g, r2))
		TH_LOG("%s (%s)", errname(r2->err), r2->msg);
	usleep(100000);
	EXPECT_EQ(0, waitpid(pid, NULL, WNOHANG))
		TH_LOG("the key request ended on another supply's response");
	/* sae-a took keys 1, 2 and 4; kme-1 also names one never offered. */
	memcpy(took, ids, 2 * QKDN_KEY_ID_LEN);
	memcpy(took + 2 * QKDN_KEY_ID_LEN, ids + 3 * QKDN_KEY_ID_LEN,
	       QKDN_KEY_ID_LEN);
	make_ids(took + 3 * QKDN_KEY_ID_LEN, 1, 0x99);
	kx_supply_done(g, ++self->tx_seq, self->rx_seq, sup, sid, 0, 4, took);
	EXPECT_EQ(0, peer_frame(self, g, r2))
		TH_LOG("%s (%s)", errname(r2->err), r2->msg);
	wait_child(_metadata, pid);
	ASSERT_EQ(0, r->err) TH_LOG("KEY_GET with a session: %s (%s)",
				    errname(r->err), r->msg);
	EXPECT_EQ(sid, get_num((const struct nlmsghdr *)r->data,
			       QKDN_A_SESSION_ID));
	ASSERT_TRUE(keys_parse(r, k));
	ASSERT_EQ(3U, k->n);
	for (i = 0; i < 3; i++) {
		unsigned int j = i < 2 ? i : 3;

		EXPECT_EQ(0, memcmp(k->id[i], ids + j * QKDN_KEY_ID_LEN,
				    QKDN_KEY_ID_LEN))
			TH_LOG("key %u is not key %u of the supply", i, j);
		EXPECT_EQ(32U, k->len[i]);
		EXPECT_EQ(0, memcmp(k->data[i], keys + j * 32, 32))
			TH_LOG("key %u is not kme-2's stream", i);
	}
	EXPECT_EQ(3U, link_stat(&self->s, RELAY_LINK,
				QKDN_A_STATS_KEYS_SUPPLIED));

	/* kme-1 took none: its errno, no key; the pool bytes are spent. */
	for (i = 0; i < ARRAY_SIZE(fails); i++) {
		pid = session_key_get(self->ns[1], &cred_b, "sae-b", "sae-a",
				      sid, 1, 64, r);
		ASSERT_LE(0, pid);
		ASSERT_TRUE(peer_wait(self, KX_SUPPLY, NULL, f, 5000));
		expect_supply_frame(_metadata, self, f, sid, 8, 1, sup, ids);
		self->own_used += 8;
		kx_supply_done(g, ++self->tx_seq, self->rx_seq, sup, sid,
			       fails[i].err, fails[i].count, took);
		EXPECT_EQ(0, peer_frame(self, g, r2));
		child_err(_metadata, pid, r, fails[i].msg, fails[i].want,
			  fails[i].msg);
	}
	EXPECT_EQ(own - self->own_used, own_bytes(self));
	EXPECT_EQ(3U, link_stat(&self->s, RELAY_LINK,
				QKDN_A_STATS_KEYS_SUPPLIED));
	nlc_close(&c);
	free(k);
	rep_free(r2);
	rep_free(r);
	free(g);
	free(f);
}

/* ---- I.4b: key relay with key reservation, kme-2 as KM1 and as KM2 ---- */

/* "Key reservation request" answering notification ctrl_id. */
static uint32_t reserve_msg(struct msg *m, uint32_t ctrl_id, const char *next)
{
	uint32_t o = ctrl_ans(m, QKDN_MSG_KEY_RESERVATION_REQUEST, ctrl_id);

	if (next)
		put_str(m, QKDN_A_NEXT_HOP, next);
	return o;
}

/*
 * "Key allocation request" for relay id, with ERRNO err and ERRMSG why
 * when err is not 0. Returns the offset of RELAY_ID.
 */
static uint32_t alloc_msg(struct msg *m, const uint8_t *id, uint32_t err,
			  const char *why)
{
	uint32_t o;

	req(m, QKDN_CMD_CTRL);
	put_u32(m, QKDN_A_MSG, QKDN_MSG_KEY_ALLOCATION_REQUEST);
	o = put(m, QKDN_A_RELAY_ID, QKDN_RELAY_ID_LEN, id);
	if (err)
		put_u32(m, QKDN_A_ERRNO, err);
	if (why)
		put_str(m, QKDN_A_ERRMSG, why);
	return o;
}

/* "Key relay request" for relay id along route (none when n is 0). */
static uint32_t relay_req_msg(struct msg *m, const uint8_t *id,
			      const char *const *route, unsigned int n)
{
	uint32_t o;

	req(m, QKDN_CMD_CTRL);
	put_u32(m, QKDN_A_MSG, QKDN_MSG_KEY_RELAY_REQUEST);
	o = put(m, QKDN_A_RELAY_ID, QKDN_RELAY_ID_LEN, id);
	if (n)
		put_route(m, route, n, NULL);
	return o;
}

/*
 * kme-2 as KM1: sae-b's key request to sae-y (kme-9) in a centralized
 * QKDN; the controller answers with a "key reservation request": what the
 * kernel refuses, the reservation frame it sends kme-1, the allocation
 * that gives the application its keys, the one that fails it (and aborts
 * the reservation), a reservation that cannot leave.
 */
TEST_F_TIMEOUT(relay, reservation_source, 60)
{
	static const char *const route[] = { "kme-2", "kme-1", "kme-9" };
	const char *why = "no response to key relay request from kme-1 within 5000 ms";
	uint8_t keys[2 * 32], ids[2 * QKDN_KEY_ID_LEN];
	uint8_t none[QKDN_RELAY_ID_LEN];
	struct kxf *f = malloc(sizeof(*f));
	struct rep *r = rep_new(), *r2 = rep_new();
	struct relay_desc want = src_relay;
	struct ctrl_req q, q2;
	char msg[256];
	uint64_t own;
	struct nlc c;
	struct msg m;
	uint32_t o;
	pid_t pid;

	ASSERT_TRUE(f && r && r2);
	set_ctrl_mode(_metadata, &self->s, QKDN_CTRL_CENTRALIZED);
	/* A link to the destination, with no key: the request is relayed. */
	new_link(_metadata, &self->s, 9, "kme-9", NULL);
	ASSERT_EQ(0, ctrl_listen(&c));
	own = own_bytes(self);
	name_id(none, "no-such-relay");

	pid = src_key_get(self, 2, 256, r);
	ctrl_asked(_metadata, pid, &c, &q);
	EXPECT_EQ((uint32_t)QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, q.msg);
	EXPECT_STREQ("kme-2", q.src);
	EXPECT_STREQ("kme-9", q.dst);

	/* Refused: nothing is reserved, the request still waits. */
	reserve_msg(&m, q.ctrl_id, NULL);
	BAD_NS(&m, "reservation without NEXT_HOP", EINVAL, NO_MSG, NO_OFFS,
	       QKDN_A_NEXT_HOP);
	reserve_msg(&m, q.ctrl_id, NULL);
	o = put_str(&m, QKDN_A_NEXT_HOP, "kme 1");
	BAD_NS(&m, "reservation on the link to \"kme 1\"", EINVAL,
	       "next hop node ID malformed", o, 0);
	reserve_msg(&m, q.ctrl_id, "kme-5");
	BAD_NS(&m, "reservation on a link that does not exist", EHOSTUNREACH,
	       "this node has no KM link to the next hop", NO_OFFS, 0);
	reserve_msg(&m, q.ctrl_id, "kme-9");
	BAD_NS(&m, "reservation on the link to the destination", EINVAL,
	       "a key reservation needs a route through another node",
	       NO_OFFS, 0);
	o = reserve_msg(&m, q.ctrl_id + 1, "kme-1");
	BAD_NS(&m, "reservation for the request after", ENOENT,
	       "no controller request with this ID is waiting", o, 0);
	o = alloc_msg(&m, q.relay_id, 0, NULL);
	BAD_NS(&m, "allocation before the reservation", ENOENT,
	       "no key reservation for this relay here", o, 0);
	EXPECT_FALSE(peer_wait(self, KX_RELAY, q.relay_id, f, 100))
		TH_LOG("a refused reservation sent a frame");
	EXPECT_EQ(own, own_bytes(self));
	EXPECT_EQ(0, waitpid(pid, NULL, WNOHANG));

	/*
	 * Reserved on the link to kme-1: a relay frame flagged as a
	 * reservation, no route, the keys being the first link's pad.
	 */
	reserve_msg(&m, q.ctrl_id, "kme-1");
	ok_req(_metadata, &self->s, &m, "CTRL key reservation request");
	want.count = 2;
	want.key_bytes = 32;
	want.flags = RELAY_F_NEWKEY | RELAY_F_RESERVE;
	expect_tx_frame(_metadata, self, q.relay_id, &want, keys, ids);
	EXPECT_EQ(own - RELAY_BYTES(2, 32), own_bytes(self));
	o = reserve_msg(&m, q.ctrl_id, "kme-1");
	BAD_NS(&m, "the same reservation again", ENOENT,
	       "no controller request with this ID is waiting", o, 0);
	o = relay_req_msg(&m, q.relay_id, route, 3);
	BAD_NS(&m, "key relay request at the KM that reserved", ENOENT,
	       "no key reservation for this relay here", o, 0);
	EXPECT_FALSE(ctrl_read(&c, 100, &q2))
		TH_LOG("a message to the controller (msg %u)", q2.msg);
	/* KM1 gives the keys on the controller's word, not on a completion. */
	peer_done(_metadata, self, q.relay_id, 0, "kme-9", "");
	usleep(100000);
	EXPECT_EQ(0, waitpid(pid, NULL, WNOHANG))
		TH_LOG("the key request ended before the allocation");

	/* Allocated: the application gets the reserved keys. */
	req(&m, QKDN_CMD_CTRL);
	put_u32(&m, QKDN_A_MSG, QKDN_MSG_KEY_ALLOCATION_REQUEST);
	BAD_NS(&m, "allocation without RELAY_ID", EINVAL, NO_MSG, NO_OFFS,
	       QKDN_A_RELAY_ID);
	o = alloc_msg(&m, none, 0, NULL);
	BAD_NS(&m, "allocation of an unknown relay", ENOENT,
	       "no key reservation for this relay here", o, 0);
	alloc_msg(&m, q.relay_id, 0, NULL);
	ok_req(_metadata, &self->s, &m, "CTRL key allocation request");
	wait_child(_metadata, pid);
	expect_keys(_metadata, r, ids, keys, 2, 32, "KEY_GET relayed");
	o = alloc_msg(&m, q.relay_id, 0, NULL);
	BAD_NS(&m, "the same allocation again", ENOENT,
	       "no key reservation for this relay here", o, 0);
	EXPECT_FALSE(ctrl_read(&c, 100, &q2))
		TH_LOG("KM1 reported its own relay (msg %u)", q2.msg);
	EXPECT_FALSE(peer_wait(self, KX_RELAY_ABORT, q.relay_id, f, 100))
		TH_LOG("an allocated reservation was aborted");
	EXPECT_EQ(1U, node_stat(&self->s, QKDN_A_STATS_RELAYS_DONE));

	/* Allocation with the controller's errno: KM1 aborts what it reserved. */
	pid = src_key_get(self, 1, 64, r);
	ctrl_asked(_metadata, pid, &c, &q);
	reserve_msg(&m, q.ctrl_id, "kme-1");
	ok_req(_metadata, &self->s, &m, "CTRL key reservation request");
	want.count = 1;
	want.key_bytes = 8;
	want.flags = RELAY_F_RESERVE;
	expect_tx_frame(_metadata, self, q.relay_id, &want, keys, ids);
	alloc_msg(&m, q.relay_id, ETIMEDOUT, why);
	ok_req(_metadata, &self->s, &m, "CTRL key allocation request, ETIMEDOUT");
	wait_child(_metadata, pid);
	snprintf(msg, sizeof(msg), "key relay failed at the QKDN controller: %s",
		 why);
	check_err(_metadata, "KEY_GET whose allocation failed", r, ETIMEDOUT,
		  msg, NO_OFFS, 0);
	ASSERT_TRUE(peer_wait(self, KX_RELAY_ABORT, q.relay_id, f, 5000))
		TH_LOG("KM1 did not abort the reservation");
	EXPECT_EQ(sizeof(struct kx_hdr) + QKDN_RELAY_ID_LEN, f->len);
	o = alloc_msg(&m, q.relay_id, 0, NULL);
	BAD_NS(&m, "allocation after the failed one", ENOENT,
	       "no key reservation for this relay here", o, 0);

	/* KM2 refuses the reservation: KM1's request fails at once. */
	pid = src_key_get(self, 1, 64, r);
	ctrl_asked(_metadata, pid, &c, &q);
	reserve_msg(&m, q.ctrl_id, "kme-1");
	ok_req(_metadata, &self->s, &m, "CTRL key reservation request");
	expect_tx_frame(_metadata, self, q.relay_id, &want, keys, ids);
	peer_done(_metadata, self, q.relay_id, EBUSY, "kme-1",
		  "too many key relays in progress");
	child_err(_metadata, pid, r, "KEY_GET whose reservation KM2 refused",
		  EBUSY,
		  "key relay failed at kme-1: too many key relays in progress");
	o = alloc_msg(&m, q.relay_id, 0, NULL);
	BAD_NS(&m, "allocation of a reservation KM2 refused", ENOENT,
	       "no key reservation for this relay here", o, 0);

	/* The link to kme-1 is down: the reservation cannot leave. */
	pid = src_key_get(self, 1, 64, r);
	ctrl_asked(_metadata, pid, &c, &q);
	kx_channel(_metadata, &self->s, RELAY_LINK, 0);
	reserve_msg(&m, q.ctrl_id, "kme-1");
	nlc_txrx(&self->s, m.nlh, r2);
	check_err(_metadata, "reservation over a link that is down", r2,
		  EHOSTUNREACH,
		  "key relay failed at kme-2: the KM link to the next hop is down",
		  NO_OFFS, 0);
	child_err(_metadata, pid, r,
		  "KEY_GET whose reservation could not leave", EHOSTUNREACH,
		  "key relay failed at kme-2: the KM link to the next hop is down");
	kx_channel(_metadata, &self->s, RELAY_LINK, 1);
	EXPECT_EQ(own - self->own_used, own_bytes(self));
	EXPECT_EQ(3U, node_stat(&self->s, QKDN_A_STATS_RELAYS_FAILED));
	nlc_close(&c);
	rep_free(r2);
	rep_free(r);
	free(f);
}

/*
 * Link 8 to kme-3, on a pair of its own whose other end is in the first
 * namespace, both ends holding RELAY_BLOCKS blocks; "kme-2" < "kme-3", so
 * kme-2 allocates from the even ones. This program is kme-3's link daemon
 * too.
 */
static void relay_link2(struct __test_metadata *_metadata,
			FIXTURE_DATA(relay) *self)
{
	char dev[DEV_LEN];

	qkdsim_pair(_metadata, self->ns, &self->pair2, 0x5eed200000000000ULL,
		    &self->seed2, dev);
	new_link(_metadata, &self->s, HOP_LINK, "kme-3", dev);
	kx_channel(_metadata, &self->s, HOP_LINK, 1);
	link_blocks(_metadata, self, HOP_LINK, 1, RELAY_BLOCKS);
}

static uint64_t link2_own(FIXTURE_DATA(relay) *self)
{
	struct pool p;

	return pool_get(&self->s, HOP_LINK, NULL, &p) ? p.own : UINT64_MAX;
}

/* kme-3 tells kme-2, on link 8, how relay id ended. */
static void kme3_done(struct __test_metadata *_metadata,
		      FIXTURE_DATA(relay) *self, const uint8_t *id, int err,
		      const char *where, const char *why)
{
	struct kxf *f = malloc(sizeof(*f));
	struct rep *r = rep_new();
	struct msg m;

	ASSERT_TRUE(f && r);
	kx_relay_done(f, ++self->tx2_seq, id, err, where, why);
	frame_req(&m, HOP_LINK, f);
	nlc_txrx(&self->s, m.nlh, r);
	EXPECT_EQ(0, r->err) TH_LOG("RELAY_DONE of kme-3: %s (%s)",
				    errname(r->err), r->msg);
	rep_free(r);
	free(f);
}

/*
 * kme-1 reserves two keys of ids at kme-2 for relay name to sae-c at kme-3
 * (relay_send()), d gets the relay.
 */
static uint32_t resv_send(struct __test_metadata *_metadata,
			  FIXTURE_DATA(relay) *self, struct kxf *f,
			  struct relay_desc *d, const char *name,
			  const uint8_t *ids, uint8_t *keys, uint8_t flags)
{
	relay_init(d, name, "kme-1", "sae-a", 2, 32, ids);
	d->dst = "kme-3";
	d->slave = "sae-c";
	d->flags = flags;
	return relay_send(_metadata, self, f, d, keys);
}

/* KM2's "response to key relay request" for relay id. */
static void expect_relay_resp(struct __test_metadata *_metadata,
			      const struct ctrl_req *q, const uint8_t *id,
			      uint32_t err)
{
	EXPECT_EQ((uint32_t)QKDN_MSG_KEY_RELAY_RESPONSE, q->msg);
	EXPECT_FALSE(q->has_ctrl_id);
	EXPECT_EQ(QKDN_RELAY_ID_LEN, q->relay_id_len);
	EXPECT_EQ(0, memcmp(q->relay_id, id, QKDN_RELAY_ID_LEN));
	EXPECT_STREQ("kme-1", q->src);
	EXPECT_STREQ("kme-3", q->dst);
	EXPECT_TRUE(q->has_err) TH_LOG("response without ERRNO");
	EXPECT_EQ(err, q->err);
}

/*
 * kme-2 as KM2: kme-1 reserves keys on link 7 for a relay to kme-3; the
 * controller's "key relay request" by relay ID: what the kernel refuses,
 * the relay it sends on link 8 under its own pad, the "response to key
 * relay request" when kme-3's completion comes back (not passed on to
 * kme-1), with kme-3's errno; a reservation kme-1 gives up is gone.
 */
TEST_F_TIMEOUT(relay, reservation_hop, 60)
{
	static const char *const route[] = { "kme-1", "kme-2", "kme-3" };
	static const char *const two[] = { "kme-1", "kme-2" };
	static const char *const not_src[] = { "kme-0", "kme-2", "kme-3" };
	static const char *const not_here[] = { "kme-1", "kme-4", "kme-3" };
	static const char *const not_dst[] = { "kme-1", "kme-2", "kme-4" };
	static const char *const no_link[] = {
		"kme-1", "kme-2", "kme-5", "kme-3",
	};
	static const char *const twice[] = { "kme-1", "kme-2", "kme-1" };
	static const struct {
		const char *const *route;
		unsigned int n;
		const char *what;
	} routes[] = {
		{ two, 2, "a route of two nodes" },
		{ not_src, 3, "a route not from the relay's source" },
		{ not_here, 3, "a route whose second node is not this one" },
		{ not_dst, 3, "a route not to the relay's destination" },
	};
	struct tx_stream ts = {
		.link = HOP_LINK, .even = true, .used = &self->used2,
		.h = self->h2_tx,
	};
	uint8_t keys[2 * 32], ids[2 * QKDN_KEY_ID_LEN];
	uint8_t got[2 * QKDN_KEY_ID_LEN], none[QKDN_RELAY_ID_LEN];
	struct kxf *f = malloc(sizeof(*f)), *g = malloc(sizeof(*g));
	struct relay_desc d, want;
	uint64_t peer, own2;
	struct ctrl_req q;
	uint32_t take, o;
	unsigned int i;
	struct nlc c;
	struct msg m;

	ASSERT_TRUE(f && g);
	relay_link2(_metadata, self);
	ts.seed = self->seed2;
	set_ctrl_mode(_metadata, &self->s, QKDN_CTRL_CENTRALIZED);
	ASSERT_EQ(0, ctrl_listen(&c));
	name_id(none, "no-such-relay");

	/* kme-1 reserves two keys: kme-2 holds them and tells nobody. */
	make_ids(ids, 2, 0x4b);
	peer = peer_bytes(self);
	take = resv_send(_metadata, self, f, &d, "resv-1", ids, keys,
			 RELAY_F_NEWKEY | RELAY_F_RESERVE);
	EXPECT_EQ(peer - take, peer_bytes(self));
	EXPECT_FALSE(peer_wait(self, KX_RELAY_DONE, d.id, g, 200))
		TH_LOG("a completion went back for a reservation");
	EXPECT_FALSE(ctrl_read(&c, 100, &q))
		TH_LOG("the controller heard of the reservation (msg %u)",
		       q.msg);
	own2 = link2_own(self);

	/* Key relay requests refused: the reservation stays. */
	o = relay_req_msg(&m, none, route, 3);
	BAD_NS(&m, "key relay request for an unknown relay", ENOENT,
	       "no key reservation for this relay here", o, 0);
	for (i = 0; i < ARRAY_SIZE(routes); i++) {
		relay_req_msg(&m, d.id, routes[i].route, routes[i].n);
		BAD_NS(&m, routes[i].what, EINVAL,
		       "the route must run from the relay's source through this node to its destination",
		       NO_OFFS, 0);
	}
	relay_req_msg(&m, d.id, twice, 3);
	BAD_NS(&m, "a route passing kme-1 twice", EINVAL,
	       "route passes a node twice", NO_OFFS, 0);
	relay_req_msg(&m, d.id, no_link, 4);
	BAD_NS(&m, "a route on to a node without a link", EHOSTUNREACH,
	       "this node has no KM link to the next hop", NO_OFFS, 0);
	relay_req_msg(&m, d.id, NULL, 0);
	BAD_NS(&m, "key relay request without ROUTE", EINVAL, NO_MSG, NO_OFFS,
	       QKDN_A_ROUTE);
	relay_req_msg(&m, d.id, route, 3);
	o = put_u32(&m, QKDN_A_ERRNO, EIO);
	BAD_NS(&m, "key relay request with ERRNO", EINVAL,
	       "only an answer may carry an error", o, 0);
	o = alloc_msg(&m, d.id, 0, NULL);
	BAD_NS(&m, "allocation at the KM that holds the reservation", ENOENT,
	       "no key reservation for this relay here", o, 0);
	EXPECT_FALSE(link_wait(self, HOP_LINK, KX_RELAY, d.id, g, 100))
		TH_LOG("a refused request sent the relay on");
	EXPECT_EQ(own2, link2_own(self));

	/* Relayed on to kme-3 under kme-2's own pad of link 8. */
	relay_req_msg(&m, d.id, route, 3);
	ok_req(_metadata, &self->s, &m, "CTRL key relay request");
	want = (struct relay_desc){
		.src = "kme-1", .dst = "kme-3", .master = "sae-a",
		.slave = "sae-c", .count = 2, .key_bytes = 32, .hop = 2,
		.flags = RELAY_F_NEWKEY, .nroute = 3,
	};
	memcpy(want.route, route, sizeof(route));
	expect_link_frame(_metadata, self, &ts, d.id, &want, keys, got);
	EXPECT_EQ(0, memcmp(ids, got, sizeof(ids)));
	EXPECT_EQ(own2 - self->used2, link2_own(self));
	o = relay_req_msg(&m, d.id, route, 3);
	BAD_NS(&m, "the same key relay request again", ENOENT,
	       "no key reservation for this relay here", o, 0);
	EXPECT_FALSE(ctrl_read(&c, 100, &q))
		TH_LOG("a message to the controller before the completion (msg %u)",
		       q.msg);
	EXPECT_EQ(1U, node_stat(&self->s, QKDN_A_STATS_RELAYS_FORWARDED));

	/* kme-3 completes: kme-2 tells the controller, not kme-1. */
	kme3_done(_metadata, self, d.id, 0, "kme-3", "");
	ASSERT_TRUE(ctrl_read(&c, 5000, &q))
		TH_LOG("no response to key relay request");
	expect_relay_resp(_metadata, &q, d.id, 0);
	EXPECT_FALSE(peer_wait(self, KX_RELAY_DONE, d.id, g, 200))
		TH_LOG("the completion went on to kme-1");

	/* Another one fails further on: the controller hears the errno. */
	make_ids(ids, 2, 0x4c);
	resv_send(_metadata, self, f, &d, "resv-2", ids, keys, RELAY_F_RESERVE);
	relay_req_msg(&m, d.id, route, 3);
	ok_req(_metadata, &self->s, &m, "CTRL key relay request");
	want.flags = 0;
	expect_link_frame(_metadata, self, &ts, d.id, &want, keys, got);
	kme3_done(_metadata, self, d.id, ENOSPC, "kme-4",
		  "not enough key on the link to the next hop");
	ASSERT_TRUE(ctrl_read(&c, 5000, &q));
	expect_relay_resp(_metadata, &q, d.id, ENOSPC);

	/* The link to kme-3 is down: the relay cannot leave kme-2. */
	resv_send(_metadata, self, f, &d, "resv-3", ids, keys, RELAY_F_RESERVE);
	kx_channel(_metadata, &self->s, HOP_LINK, 0);
	own2 = link2_own(self);
	relay_req_msg(&m, d.id, route, 3);
	ok_req(_metadata, &self->s, &m, "CTRL key relay request, link 8 down");
	ASSERT_TRUE(ctrl_read(&c, 5000, &q));
	expect_relay_resp(_metadata, &q, d.id, EHOSTUNREACH);
	EXPECT_EQ(own2, link2_own(self));
	kx_channel(_metadata, &self->s, HOP_LINK, 1);

	/*
	 * kme-1 gives up while kme-2 waits for the completion: the abort goes
	 * on to kme-3, the controller hears ECANCELED.
	 */
	resv_send(_metadata, self, f, &d, "resv-4", ids, keys, RELAY_F_RESERVE);
	relay_req_msg(&m, d.id, route, 3);
	ok_req(_metadata, &self->s, &m, "CTRL key relay request");
	expect_link_frame(_metadata, self, &ts, d.id, &want, keys, got);
	peer_abort(_metadata, self, d.id);
	ASSERT_TRUE(ctrl_read(&c, 5000, &q));
	expect_relay_resp(_metadata, &q, d.id, ECANCELED);
	EXPECT_TRUE(link_wait(self, HOP_LINK, KX_RELAY_ABORT, d.id, g, 5000))
		TH_LOG("the abort did not go on to kme-3");

	/* kme-1 gives a reservation up before the relay request: erased. */
	resv_send(_metadata, self, f, &d, "resv-5", ids, keys, RELAY_F_RESERVE);
	peer_abort(_metadata, self, d.id);
	EXPECT_EQ(2U, node_stat(&self->s, QKDN_A_STATS_RELAYS_ABORTED));
	o = relay_req_msg(&m, d.id, route, 3);
	BAD_NS(&m, "key relay request for an aborted reservation", ENOENT,
	       "no key reservation for this relay here", o, 0);
	EXPECT_FALSE(ctrl_read(&c, 100, &q))
		TH_LOG("a message to the controller (msg %u)", q.msg);
	nlc_close(&c);
	free(g);
	free(f);
}

/* ---- IPsec tunnels: every refusal of IPSEC_NEW, nothing configured ---- */

/*
 * An IPSEC_NEW of tunnel 7, kernel SAE sae-k (master, here) to sae-b (at
 * kme-2), every required attribute but skip; off[type] gets the offsets.
 */
static void ipsec_msg(struct msg *m, const char *master, int skip,
		      uint32_t *off, size_t local_len, uint8_t src_len)
{
	static const uint8_t a1[5] = { 10, 77, 1, 1 }, a2[4] = { 10, 77, 1, 2 };
	static const uint8_t n1[4] = { 10, 99, 1, 0 }, n2[4] = { 10, 99, 2, 0 };
	struct nlattr *nest;

	req(m, QKDN_CMD_IPSEC_NEW);
	nest = mnl_attr_nest_start(m->nlh, QKDN_A_IPSEC);
#define IPSEC_PUT(type, call) \
	do { if ((type) != skip) off[type] = (call); } while (0)
	IPSEC_PUT(QKDN_A_IPSEC_ID, put_u32(m, QKDN_A_IPSEC_ID, 7));
	IPSEC_PUT(QKDN_A_IPSEC_PEER, put_str(m, QKDN_A_IPSEC_PEER, "kme-2"));
	IPSEC_PUT(QKDN_A_IPSEC_MASTER,
		  put_str(m, QKDN_A_IPSEC_MASTER, master));
	IPSEC_PUT(QKDN_A_IPSEC_SLAVE, put_str(m, QKDN_A_IPSEC_SLAVE, "sae-b"));
	IPSEC_PUT(QKDN_A_IPSEC_LOCAL, put(m, QKDN_A_IPSEC_LOCAL, local_len, a1));
	IPSEC_PUT(QKDN_A_IPSEC_REMOTE, put(m, QKDN_A_IPSEC_REMOTE, 4, a2));
	IPSEC_PUT(QKDN_A_IPSEC_SRC, put(m, QKDN_A_IPSEC_SRC, 4, n1));
	IPSEC_PUT(QKDN_A_IPSEC_SRC_LEN,
		  put_u8(m, QKDN_A_IPSEC_SRC_LEN, src_len));
	IPSEC_PUT(QKDN_A_IPSEC_DST, put(m, QKDN_A_IPSEC_DST, 4, n2));
	IPSEC_PUT(QKDN_A_IPSEC_DST_LEN, put_u8(m, QKDN_A_IPSEC_DST_LEN, 24));
#undef IPSEC_PUT
	mnl_attr_nest_end(m->nlh, nest);
}

TEST_F(node, ipsec_errors)
{
	static const char *const names[] = {
		[QKDN_A_IPSEC_ID] = "ID", [QKDN_A_IPSEC_PEER] = "PEER",
		[QKDN_A_IPSEC_MASTER] = "MASTER", [QKDN_A_IPSEC_SLAVE] = "SLAVE",
		[QKDN_A_IPSEC_LOCAL] = "LOCAL", [QKDN_A_IPSEC_REMOTE] = "REMOTE",
		[QKDN_A_IPSEC_SRC] = "SRC", [QKDN_A_IPSEC_SRC_LEN] = "SRC_LEN",
		[QKDN_A_IPSEC_DST] = "DST", [QKDN_A_IPSEC_DST_LEN] = "DST_LEN",
	};
	uint32_t off[QKDN_A_IPSEC_MAX + 1], o;
	uint8_t addr[17] = { 10, 77, 1, 3 };
	char what[96];
	struct msg m;
	int t;

	req(&m, QKDN_CMD_SAE_NEW);
	put_str(&m, QKDN_A_SAE_ID, "sae-k");
	put(&m, QKDN_A_SAE_KERNEL, 0, NULL);
	ok_req(_metadata, &self->s, &m, "SAE_NEW kernel SAE");

	req(&m, QKDN_CMD_IPSEC_NEW);
	BAD(&m, "IPSEC_NEW without its nest", EINVAL,
	    "required attribute missing", NO_OFFS, 0);
	for (t = QKDN_A_IPSEC_ID; t <= QKDN_A_IPSEC_DST_LEN; t++) {
		ipsec_msg(&m, "sae-k", t, off, 4, 24);
		snprintf(what, sizeof(what), "IPSEC_NEW without IPSEC_%s",
			 names[t]);
		BAD(&m, what, EINVAL, "attribute missing", NO_OFFS, 0);
	}

	/* Wrong type, out of range, oversized. */
	req(&m, QKDN_CMD_IPSEC_NEW);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_IPSEC);

		o = put_str(&m, QKDN_A_IPSEC_ID, "7");
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD(&m, "IPSEC_NEW ID as a string", EINVAL, "invalid attribute length",
	    o, 0);
	req(&m, QKDN_CMD_IPSEC_NEW);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_IPSEC);

		o = put_u32(&m, QKDN_A_IPSEC_ID, 0);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD(&m, "IPSEC_NEW ID 0", ERANGE, "integer out of range", o, 0);
	req(&m, QKDN_CMD_IPSEC_NEW);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_IPSEC);

		o = put_u32(&m, QKDN_A_IPSEC_ID, 65536);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD(&m, "IPSEC_NEW ID 65536", ERANGE, "integer out of range", o, 0);
	req(&m, QKDN_CMD_IPSEC_NEW);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_IPSEC);

		o = put(&m, QKDN_A_IPSEC_LOCAL, 17, addr);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD(&m, "IPSEC_NEW LOCAL of 17 bytes", ERANGE, POLICY_MSG, o, 0);
	req(&m, QKDN_CMD_IPSEC_NEW);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_IPSEC);

		o = put_u32(&m, QKDN_A_IPSEC_REKEY_SECONDS, 0);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD(&m, "IPSEC_NEW rekey 0 s", ERANGE, "integer out of range", o, 0);
	req(&m, QKDN_CMD_IPSEC_NEW);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_IPSEC);

		o = put_u32(&m, QKDN_A_IPSEC_KEY_BITS, 512);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD(&m, "IPSEC_NEW 512-bit keys", ERANGE, "integer out of range", o, 0);
	req(&m, QKDN_CMD_IPSEC_NEW);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_IPSEC);

		o = put_u8(&m, QKDN_A_IPSEC_ON_EXHAUST, 2);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD(&m, "IPSEC_NEW on-exhaust 2", ERANGE, "integer out of range", o, 0);
	req(&m, QKDN_CMD_IPSEC_NEW);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_IPSEC);

		o = put_u32(&m, QKDN_A_IPSEC_ROLE, 0);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD(&m, "IPSEC_NEW with the reply attribute ROLE", EINVAL, ANY_MSG,
	    NO_OFFS, 0);

	/* Well formed, and refused by the node. */
	ipsec_msg(&m, "nobody", -1, off, 4, 24);
	BAD(&m, "IPSEC_NEW unknown master", ENOENT, "no such SAE",
	    off[QKDN_A_IPSEC_MASTER], 0);
	ipsec_msg(&m, "sae-a", -1, off, 4, 24);
	BAD(&m, "IPSEC_NEW application SAE", EACCES, "must be a kernel SAE",
	    NO_OFFS, 0);
	ipsec_msg(&m, "sae-k", -1, off, 5, 24);
	BAD(&m, "IPSEC_NEW LOCAL of 5 bytes", EINVAL, "4 (IPv4) or 16 (IPv6)",
	    off[QKDN_A_IPSEC_LOCAL], 0);
	ipsec_msg(&m, "sae-k", -1, off, 4, 33);
	BAD(&m, "IPSEC_NEW SRC_LEN 33 for IPv4", EINVAL,
	    "longer than the address", off[QKDN_A_IPSEC_SRC_LEN], 0);
	ipsec_msg(&m, "sae-k", -1, off, 4, 24);
	BAD_AS(&cred_a, &m, "IPSEC_NEW as uid 1001", EPERM, NO_MSG, NO_OFFS, 0);

	req(&m, QKDN_CMD_IPSEC_DEL);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_IPSEC);

		o = put_u32(&m, QKDN_A_IPSEC_ID, 7);
		mnl_attr_nest_end(m.nlh, n);
	}
	BAD(&m, "IPSEC_DEL of no tunnel", ENOENT, "no such IPsec tunnel", o, 0);
	req(&m, QKDN_CMD_IPSEC_GET);
	{
		struct nlattr *n = mnl_attr_nest_start(m.nlh, QKDN_A_IPSEC);

		mnl_attr_nest_end(m.nlh, n);
	}
	BAD(&m, "IPSEC_GET without ID", EINVAL, "ID missing", NO_OFFS, 0);
}

TEST_HARNESS_MAIN
