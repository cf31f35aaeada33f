// SPDX-License-Identifier: GPL-2.0
/*
 * IPsec keyed from QKD: ESP tunnels whose SAs this module installs and
 * replaces with keys taken straight from the key store, at both ends of a
 * QKD link, coordinated over Kx. No key byte passes through user space.
 *
 * A tunnel is configured at both nodes with the same ID. The node of the
 * master SAE (a kernel SAE: no process may act as it) is the initiator;
 * the slave SAE's node, the responder. A rekey, generation g:
 *
 *  1. The initiator takes two keys for the SAE pair (I.1 "key request":
 *     reserved on the link, the reservation goes ahead on Kx), one per
 *     direction. It installs its inbound SA (responder -> initiator) and
 *     prepares, but does not install, its outbound SA.
 *  2. It sends QKDN_KX_IPSEC: tunnel, g, both SPIs and both key IDs.
 *  3. The responder takes the two keys by ID (its "key request with ID"),
 *     installs its inbound SA, then its outbound SA: it sends with g at
 *     once, which the initiator already accepts. It drops generation
 *     g - 2 and answers QKDN_KX_IPSEC_ANSWER.
 *  4. The initiator installs its outbound SA: it sends with g, which the
 *     responder accepts since step 3. It drops generation g - 2.
 *
 * So neither end ever sends with a key the other does not hold, and the
 * previous generation is accepted until the next rekey ends: packets in
 * flight across a rekey are not lost. xfrm picks the newest valid SA of a
 * template (xfrm_state_look_at()) and invalidates cached bundles on the
 * older ones, so the switch in steps 3 and 4 is one xfrm_state_add().
 *
 * A failed rekey (no key, peer down, refusal) keeps the SAs in place
 * until their hard lifetime, or deletes them at both ends, as configured;
 * the initiator retries every second. Every change is an event.
 *
 * xfrm frees an SA's key with kfree(), not kfree_sensitive(): this module
 * keeps a reference on every SA it makes and erases the key in it before
 * dropping that reference (qkdn_ipsec_sa_put()). The crypto API erases
 * the transform's key schedule itself.
 *
 * All under qn->lock.
 */

#include <linux/inet.h>
#include <linux/ktime.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/genetlink.h>
#include <net/xfrm.h>

#include "qkdn.h"

#define QKDN_IPSEC_AEAD		"rfc4106(gcm(aes))"
#define QKDN_IPSEC_ICV_BITS	128
#define QKDN_IPSEC_SALT		4		/* bytes after the AES key */
#define QKDN_IPSEC_REQID_BASE	0x51d00000	/* + tunnel ID */
#define QKDN_IPSEC_ANSWER_MS	5000		/* the responder answers */
#define QKDN_IPSEC_RETRY_MS		1000		/* after a failed rekey */
#define QKDN_IPSEC_BACKOFF_MAX		3		/* ... up to 8 s when the
							 * peer took the keys
							 * and refused
							 */
#define QKDN_IPSEC_TICK		(HZ / 10)
#define QKDN_IPSEC_REKEY_DEFAULT	60	/* seconds */
#define QKDN_IPSEC_REPLAY_WINDOW	32
#define QKDN_IPSEC_PACKETS_MAX	BIT(31)		/* rekey after, either SA */

/* Kx frame flags. */
#define QKDN_KX_IPSEC_F_DROP	0x01	/* delete the tunnel's SAs */
#define QKDN_KX_IPSEC_F_ABORT	0x02	/* erase these keys, install none */
#define QKDN_KX_IPSEC_F_ALL	(QKDN_KX_IPSEC_F_DROP | QKDN_KX_IPSEC_F_ABORT)

struct qkdn_kx_ipsec {
	__le32 id;			/* the tunnel */
	__le32 gen;
	__le32 spi_fwd;			/* initiator -> responder */
	__le32 spi_rev;			/* responder -> initiator */
	__le32 err;			/* F_DROP: why, a positive errno */
	__le32 sending;			/* the generation the initiator sends
					 * with, 0 if none
					 */
	__le16 key_bits;
	u8 flags;
	u8 reserved;
	u8 ids[2][QKDN_KEY_ID_LEN];	/* keys of spi_fwd, spi_rev */
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
} __packed;

struct qkdn_kx_ipsec_answer {
	__le32 id;
	__le32 gen;
	__le32 err;			/* positive errno, 0: SAs in place */
	u8 key_id[QKDN_KEY_ID_LEN];	/* the rekey's first key ID */
	char why[QKDN_ERRMSG_MAX];
} __packed;

/* One SA this module made, with a reference of its own. */
struct qkdn_ipsec_sa {
	struct xfrm_state *x;
	bool added;			/* in the SAD (it holds x's first ref) */
	u32 spi;
	u8 key_id[QKDN_KEY_ID_LEN];
};

struct qkdn_ipsec_gen {
	u32 gen;
	struct qkdn_ipsec_sa out, in;
};

struct qkdn_ipsec {
	struct list_head node;		/* qn->ipsecs */
	u32 id;
	u8 role;			/* enum qkdn_ipsec_role */
	u8 state;			/* enum qkdn_ipsec_state */
	u8 on_exhaust;			/* enum qkdn_ipsec_exhaust */
	u16 family;
	u8 alen;			/* address bytes: 4 or 16 */
	u8 src_len, dst_len;
	char peer[QKDN_ID_MAX];
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
	xfrm_address_t local, remote, src, dst;
	u32 key_bits;
	u32 rekey_s, hard_s;
	u64 rekey_bytes;
	u32 reqid;
	struct xfrm_policy *pol[XFRM_POLICY_MAX];	/* in, out, fwd */
	bool pol_lost;			/* deleted, and could not be put back */

	struct qkdn_ipsec_gen cur, prev;	/* in place, newest first */
	struct qkdn_ipsec_gen pend;		/* initiator: being made */
	struct qkdn_ipsec_sa late;	/* initiator: the inbound SA of a rekey
					 * given up, which the responder may
					 * still put in place
					 */
	u32 late_gen;
	bool pending;
	ktime_t pend_start;
	unsigned long pend_deadline;
	unsigned long next_rekey;	/* initiator, jiffies */
	u32 gen_next;
	u64 rekeys, failures;
	u32 refused;			/* rekeys in a row that took keys and
					 * failed: the retry backs off
					 */
	u32 rekey_usec;
	int err;			/* of the last failure */
	char why[QKDN_ERRMSG_MAX];
};

static struct netlink_range_validation qkdn_ipsec_id_range = {
	.min = 1,
	.max = 65535,
};

static struct netlink_range_validation qkdn_rekey_range = {
	.min = QKDN_IPSEC_REKEY_MIN,
	.max = QKDN_IPSEC_REKEY_MAX,
};

static struct netlink_range_validation qkdn_hard_range = {
	.min = 2 * QKDN_IPSEC_REKEY_MIN,
	.max = 2 * QKDN_IPSEC_REKEY_MAX,
};

const struct nla_policy qkdn_ipsec_policy[QKDN_A_IPSEC_MAX + 1] = {
	[QKDN_A_IPSEC_ID]	= NLA_POLICY_FULL_RANGE(NLA_U32, &qkdn_ipsec_id_range),
	[QKDN_A_IPSEC_PEER]	= { .type = NLA_NUL_STRING,
				    .len = QKDN_ID_MAX - 1 },
	[QKDN_A_IPSEC_MASTER]	= { .type = NLA_NUL_STRING,
				    .len = QKDN_ID_MAX - 1 },
	[QKDN_A_IPSEC_SLAVE]	= { .type = NLA_NUL_STRING,
				    .len = QKDN_ID_MAX - 1 },
	[QKDN_A_IPSEC_LOCAL]	= { .type = NLA_BINARY, .len = 16 },
	[QKDN_A_IPSEC_REMOTE]	= { .type = NLA_BINARY, .len = 16 },
	[QKDN_A_IPSEC_SRC]	= { .type = NLA_BINARY, .len = 16 },
	[QKDN_A_IPSEC_SRC_LEN]	= NLA_POLICY_MAX(NLA_U8, 128),
	[QKDN_A_IPSEC_DST]	= { .type = NLA_BINARY, .len = 16 },
	[QKDN_A_IPSEC_DST_LEN]	= NLA_POLICY_MAX(NLA_U8, 128),
	[QKDN_A_IPSEC_KEY_BITS]	= NLA_POLICY_RANGE(NLA_U32, 128, 256),
	[QKDN_A_IPSEC_REKEY_SECONDS] = NLA_POLICY_FULL_RANGE(NLA_U32,
							    &qkdn_rekey_range),
	[QKDN_A_IPSEC_REKEY_BYTES] = { .type = NLA_U64 },
	[QKDN_A_IPSEC_HARD_SECONDS] = NLA_POLICY_FULL_RANGE(NLA_U32,
							   &qkdn_hard_range),
	[QKDN_A_IPSEC_ON_EXHAUST] = NLA_POLICY_MAX(NLA_U8, QKDN_IPSEC_DROP),
};

static struct qkdn_ipsec *qkdn_ipsec_find(struct qkdn_net *qn, u32 id)
{
	struct qkdn_ipsec *t;

	list_for_each_entry(t, &qn->ipsecs, node)
		if (t->id == id)
			return t;
	return NULL;
}

/* ---- SAs and policies ---- */

static struct xfrm_state *qkdn_ipsec_sa_new(struct qkdn_net *qn,
					    struct qkdn_ipsec *t, bool out,
					    u32 spi, const u8 *key, u32 kb,
					    const char **why)
{
	struct xfrm_algo_desc *algo;
	struct xfrm_algo_aead *aead;
	struct xfrm_state *x;
	int err;

	algo = xfrm_aead_get_byname(QKDN_IPSEC_AEAD, QKDN_IPSEC_ICV_BITS, 1);
	if (!algo) {
		*why = "the kernel has no " QKDN_IPSEC_AEAD;
		return ERR_PTR(-EOPNOTSUPP);
	}
	x = xfrm_state_alloc(qn->net);
	if (!x)
		return ERR_PTR(-ENOMEM);
	aead = kzalloc(sizeof(*aead) + kb, GFP_KERNEL);
	if (!aead) {
		err = -ENOMEM;
		goto fail;
	}
	strscpy(aead->alg_name, algo->name, sizeof(aead->alg_name));
	aead->alg_key_len = kb * 8;
	aead->alg_icv_len = QKDN_IPSEC_ICV_BITS;
	memcpy(aead->alg_key, key, kb);
	x->aead = aead;
	x->geniv = algo->uinfo.aead.geniv;
	x->props.ealgo = algo->desc.sadb_alg_id;

	x->id.proto = IPPROTO_ESP;
	x->id.spi = htonl(spi);
	x->id.daddr = out ? t->remote : t->local;
	x->props.saddr = out ? t->local : t->remote;
	x->props.family = t->family;
	x->props.mode = XFRM_MODE_TUNNEL;
	x->props.reqid = t->reqid;
	x->props.replay_window = QKDN_IPSEC_REPLAY_WINDOW;
	x->sel.family = t->family;
	x->lft.hard_add_expires_seconds = t->hard_s;

	err = xfrm_init_state(x);
	if (err) {
		*why = "ESP with " QKDN_IPSEC_AEAD " could not be set up";
		goto fail;
	}
	xfrm_state_hold(x);		/* ours */
	return x;

fail:
	if (x->aead)
		memzero_explicit(x->aead->alg_key, kb);
	x->km.state = XFRM_STATE_DEAD;
	xfrm_state_put(x);
	return ERR_PTR(err);
}

/* Out of the SAD if it is there, key erased, our reference dropped. */
static void qkdn_ipsec_sa_put(struct qkdn_ipsec_sa *sa)
{
	struct xfrm_state *x = sa->x;

	if (!x)
		return;
	if (sa->added) {
		xfrm_state_delete(x);
	} else {
		x->km.state = XFRM_STATE_DEAD;
		__xfrm_state_put(x);	/* the SAD's, never used */
	}
	spin_lock_bh(&x->lock);
	memzero_explicit(x->aead->alg_key, x->aead->alg_key_len / 8);
	spin_unlock_bh(&x->lock);
	xfrm_state_put(x);
	memset(sa, 0, sizeof(*sa));
}

static void qkdn_ipsec_gen_put(struct qkdn_ipsec_gen *g)
{
	qkdn_ipsec_sa_put(&g->out);
	qkdn_ipsec_sa_put(&g->in);
	g->gen = 0;
}

static int qkdn_ipsec_sa_add(struct qkdn_ipsec_sa *sa)
{
	int err = xfrm_state_add(sa->x);

	if (!err)
		sa->added = true;
	return err;
}

/* The newest generation is g; g - 2 goes. */
static void qkdn_ipsec_rotate(struct qkdn_ipsec *t, struct qkdn_ipsec_gen *g)
{
	qkdn_ipsec_gen_put(&t->prev);
	t->prev = t->cur;
	t->cur = *g;
	memset(g, 0, sizeof(*g));
}

static void qkdn_ipsec_drop_all(struct qkdn_ipsec *t)
{
	qkdn_ipsec_sa_put(&t->late);
	qkdn_ipsec_gen_put(&t->pend);
	t->pending = false;
	qkdn_ipsec_gen_put(&t->cur);
	qkdn_ipsec_gen_put(&t->prev);
}

static bool qkdn_ipsec_sa_alive(const struct qkdn_ipsec_sa *sa)
{
	return sa->x && sa->x->km.state == XFRM_STATE_VALID;
}

static void qkdn_ipsec_sel(struct xfrm_selector *sel, struct qkdn_ipsec *t,
			   bool out)
{
	memset(sel, 0, sizeof(*sel));
	sel->family = t->family;
	sel->saddr = out ? t->src : t->dst;
	sel->prefixlen_s = out ? t->src_len : t->dst_len;
	sel->daddr = out ? t->dst : t->src;
	sel->prefixlen_d = out ? t->dst_len : t->src_len;
}

static void qkdn_ipsec_policies_put(struct qkdn_ipsec *t)
{
	int dir;

	for (dir = 0; dir < XFRM_POLICY_MAX; dir++) {
		if (!t->pol[dir])
			continue;
		xfrm_policy_delete(t->pol[dir], dir);
		xfrm_pol_put(t->pol[dir]);
		t->pol[dir] = NULL;
	}
}

static int qkdn_ipsec_policies_add(struct qkdn_net *qn, struct qkdn_ipsec *t,
				   struct netlink_ext_ack *extack)
{
	int dir, err;

	for (dir = 0; dir < XFRM_POLICY_MAX; dir++) {
		bool out = dir == XFRM_POLICY_OUT;
		struct xfrm_policy *xp = xfrm_policy_alloc(qn->net,
							   GFP_KERNEL);
		struct xfrm_tmpl *tp;

		if (!xp) {
			err = -ENOMEM;
			goto fail;
		}
		qkdn_ipsec_sel(&xp->selector, t, out);
		xp->lft.soft_byte_limit = XFRM_INF;
		xp->lft.hard_byte_limit = XFRM_INF;
		xp->lft.soft_packet_limit = XFRM_INF;
		xp->lft.hard_packet_limit = XFRM_INF;
		xp->action = XFRM_POLICY_ALLOW;
		xp->family = t->family;
		xp->type = XFRM_POLICY_TYPE_MAIN;
		xp->xfrm_nr = 1;
		tp = &xp->xfrm_vec[0];
		tp->id.proto = IPPROTO_ESP;
		tp->id.daddr = out ? t->remote : t->local;
		tp->saddr = out ? t->local : t->remote;
		tp->encap_family = t->family;
		tp->reqid = t->reqid;
		tp->mode = XFRM_MODE_TUNNEL;
		tp->aalgos = ~0;
		tp->ealgos = ~0;
		tp->calgos = ~0;
		tp->allalgs = 1;

		err = xfrm_policy_insert(dir, xp, 1);
		if (err) {
			xp->walk.dead = 1;
			xfrm_policy_destroy(xp);
			if (err == -EEXIST)
				NL_SET_ERR_MSG(extack,
					       "an IPsec policy with this selector exists");
			goto fail;
		}
		t->pol[dir] = xp;
	}
	return 0;

fail:
	qkdn_ipsec_policies_put(t);
	return err;
}

/* ---- events ---- */

static int qkdn_ipsec_fill(struct sk_buff *skb, struct qkdn_ipsec *t,
			   bool config)
{
	struct nlattr *nest = nla_nest_start(skb, QKDN_A_IPSEC);
	const struct qkdn_ipsec_gen *g = &t->cur;

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(skb, QKDN_A_IPSEC_ID, t->id) ||
	    nla_put_string(skb, QKDN_A_IPSEC_PEER, t->peer) ||
	    nla_put_u8(skb, QKDN_A_IPSEC_ROLE, t->role) ||
	    nla_put_u8(skb, QKDN_A_IPSEC_STATE, t->state) ||
	    nla_put_u32(skb, QKDN_A_IPSEC_GEN, g->gen) ||
	    nla_put_u64_64bit(skb, QKDN_A_IPSEC_REKEYS, t->rekeys,
			      QKDN_A_IPSEC_PAD) ||
	    nla_put_u64_64bit(skb, QKDN_A_IPSEC_FAILURES, t->failures,
			      QKDN_A_IPSEC_PAD))
		goto cancel;
	if (g->gen &&
	    (nla_put_u32(skb, QKDN_A_IPSEC_SPI_OUT, g->out.spi) ||
	     nla_put_u32(skb, QKDN_A_IPSEC_SPI_IN, g->in.spi) ||
	     nla_put(skb, QKDN_A_IPSEC_KEY_ID_OUT, QKDN_KEY_ID_LEN,
		     g->out.key_id) ||
	     nla_put(skb, QKDN_A_IPSEC_KEY_ID_IN, QKDN_KEY_ID_LEN,
		     g->in.key_id)))
		goto cancel;
	if (t->role == QKDN_IPSEC_INITIATOR && t->rekeys &&
	    nla_put_u32(skb, QKDN_A_IPSEC_REKEY_USEC, t->rekey_usec))
		goto cancel;
	if (config &&
	    (nla_put_string(skb, QKDN_A_IPSEC_MASTER, t->master) ||
	     nla_put_string(skb, QKDN_A_IPSEC_SLAVE, t->slave) ||
	     nla_put(skb, QKDN_A_IPSEC_LOCAL, t->alen, &t->local) ||
	     nla_put(skb, QKDN_A_IPSEC_REMOTE, t->alen, &t->remote) ||
	     nla_put(skb, QKDN_A_IPSEC_SRC, t->alen, &t->src) ||
	     nla_put_u8(skb, QKDN_A_IPSEC_SRC_LEN, t->src_len) ||
	     nla_put(skb, QKDN_A_IPSEC_DST, t->alen, &t->dst) ||
	     nla_put_u8(skb, QKDN_A_IPSEC_DST_LEN, t->dst_len) ||
	     nla_put_u32(skb, QKDN_A_IPSEC_KEY_BITS, t->key_bits) ||
	     nla_put_u32(skb, QKDN_A_IPSEC_REKEY_SECONDS, t->rekey_s) ||
	     nla_put_u64_64bit(skb, QKDN_A_IPSEC_REKEY_BYTES,
			       t->rekey_bytes, QKDN_A_IPSEC_PAD) ||
	     nla_put_u32(skb, QKDN_A_IPSEC_HARD_SECONDS, t->hard_s) ||
	     nla_put_u8(skb, QKDN_A_IPSEC_ON_EXHAUST, t->on_exhaust)))
		goto cancel;
	nla_nest_end(skb, nest);
	return 0;

cancel:
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}

static void qkdn_ipsec_event(struct qkdn_net *qn, struct qkdn_ipsec *t,
			     u32 event, int err, const char *why)
{
	struct sk_buff *msg;
	void *hdr;

	if (!genl_has_listeners(&qkdn_genl_family, qn->net,
				QKDN_MCGRP_EVENTS_ID))
		return;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return;
	hdr = qkdn_put_hdr(msg, 0, 0, 0, QKDN_CMD_EVENT);
	if (!hdr || nla_put_u32(msg, QKDN_A_EVENT, event) ||
	    nla_put_string(msg, QKDN_A_PEER_NODE_ID, t->peer) ||
	    qkdn_ipsec_fill(msg, t, false) ||
	    (err && nla_put_u32(msg, QKDN_A_ERRNO, -err)) ||
	    (why && why[0] && nla_put_string(msg, QKDN_A_ERRMSG, why))) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	genlmsg_multicast_netns(&qkdn_genl_family, qn->net, msg, 0,
				QKDN_MCGRP_EVENTS_ID, GFP_KERNEL);
}

/* ---- Kx ---- */

static struct qkdn_frame *qkdn_ipsec_frame(void)
{
	return qkdn_kx_alloc(QKDN_KX_IPSEC, sizeof(struct qkdn_kx_ipsec), 0);
}

/* Fills and queues f (from qkdn_ipsec_frame()), or allocates one. */
static int qkdn_ipsec_send(struct qkdn_link *link, struct qkdn_ipsec *t,
			   struct qkdn_frame *f, u32 gen, u8 flags, int err,
			   const u8 *ids, u32 spi_fwd, u32 spi_rev)
{
	struct qkdn_kx_ipsec *m;

	if (!f)
		f = qkdn_ipsec_frame();
	if (!f)
		return -ENOMEM;
	m = (void *)qkdn_kx_body(f);
	m->id = cpu_to_le32(t->id);
	m->gen = cpu_to_le32(gen);
	m->spi_fwd = cpu_to_le32(spi_fwd);
	m->spi_rev = cpu_to_le32(spi_rev);
	m->err = cpu_to_le32(-err);
	m->sending = cpu_to_le32(t->cur.gen);
	m->key_bits = cpu_to_le16(t->key_bits);
	m->flags = flags;
	if (ids)
		memcpy(m->ids, ids, sizeof(m->ids));
	strscpy(m->master, t->master, sizeof(m->master));
	strscpy(m->slave, t->slave, sizeof(m->slave));
	qkdn_kx_queue(link, f);
	return 0;
}

static void qkdn_ipsec_answer(struct qkdn_link *link, struct qkdn_frame *f,
			      const struct qkdn_kx_ipsec *rq, int err,
			      const char *why)
{
	struct qkdn_kx_ipsec_answer *m = (void *)qkdn_kx_body(f);

	m->id = rq->id;
	m->gen = rq->gen;
	m->err = cpu_to_le32(-err);
	memcpy(m->key_id, rq->ids[0], QKDN_KEY_ID_LEN);
	if (why)
		strscpy(m->why, why, sizeof(m->why));
	qkdn_kx_queue(link, f);
}

static bool qkdn_ipsec_str_ok(const char *s)
{
	return memchr(s, '\0', QKDN_ID_MAX) && qkdn_id_valid(s);
}

int qkdn_ipsec_validate(u8 type, const u8 *body, u32 len,
			struct netlink_ext_ack *extack)
{
	if (type == QKDN_KX_IPSEC) {
		const struct qkdn_kx_ipsec *m = (const void *)body;
		u32 bits;

		if (len != sizeof(*m))
			goto bad_len;
		bits = le16_to_cpu(m->key_bits);
		if (!le32_to_cpu(m->id) || (m->flags & ~QKDN_KX_IPSEC_F_ALL) ||
		    m->flags == QKDN_KX_IPSEC_F_ALL ||
		    (bits != 128 && bits != 256) || m->reserved ||
		    !qkdn_ipsec_str_ok(m->master) ||
		    !qkdn_ipsec_str_ok(m->slave)) {
			NL_SET_ERR_MSG(extack, "Kx IPsec rekey malformed");
			return -EINVAL;
		}
		if (m->flags & QKDN_KX_IPSEC_F_DROP)
			return 0;
		if (qkdn_ids_repeat(&m->ids[0][0], 2) ||
		    (!(m->flags & QKDN_KX_IPSEC_F_ABORT) &&
		     (le32_to_cpu(m->spi_fwd) < 0x100 ||
		      le32_to_cpu(m->spi_rev) < 0x100 ||
		      m->spi_fwd == m->spi_rev))) {
			NL_SET_ERR_MSG(extack, "Kx IPsec rekey keys or SPIs repeated");
			return -EINVAL;
		}
		return 0;
	}
	if (len != sizeof(struct qkdn_kx_ipsec_answer))
		goto bad_len;
	return 0;

bad_len:
	NL_SET_ERR_MSG(extack, "Kx IPsec frame length does not match its type");
	return -EINVAL;
}

/* ---- rekey, at the initiator ---- */

/* A positive errno from the peer, as a negative one the module reports. */
static int qkdn_ipsec_peer_err(__le32 v)
{
	u32 e = le32_to_cpu(v);

	return e && e <= QKDN_ERRNO_MAX ? -(int)e : -EPROTO;
}

static void qkdn_ipsec_fail(struct qkdn_net *qn, struct qkdn_ipsec *t,
			    int err, const char *why)
{
	bool had = t->cur.gen;
	bool report = t->state == QKDN_IPSEC_S_UP || t->err != err ||
		      t->role == QKDN_IPSEC_RESPONDER;
	unsigned int shift = 0;
	struct qkdn_link *link;

	/*
	 * A rekey that got as far as the peer cost two keys: when that keeps
	 * failing (a refusal, no answer), retry less often. A short pool or
	 * a link down costs nothing, and is retried every second.
	 */
	if (t->pending)
		shift = min_t(u32, t->refused++, QKDN_IPSEC_BACKOFF_MAX);

	if (t->pending && t->pend.in.added) {
		/*
		 * The rekey frame went out: the responder may yet put this
		 * generation in place and send with it. Its inbound SA stays
		 * until a later generation is confirmed.
		 */
		qkdn_ipsec_sa_put(&t->late);
		t->late = t->pend.in;
		t->late_gen = t->pend.gen;
		memset(&t->pend.in, 0, sizeof(t->pend.in));
	}
	qkdn_ipsec_gen_put(&t->pend);
	t->pending = false;
	t->failures++;
	t->err = err;
	strscpy(t->why, why ?: "", sizeof(t->why));
	t->next_rekey = jiffies + msecs_to_jiffies(QKDN_IPSEC_RETRY_MS << shift);
	if (t->on_exhaust == QKDN_IPSEC_DROP && had) {
		qkdn_ipsec_drop_all(t);
		link = qkdn_link_by_peer(qn, t->peer);
		if (t->role == QKDN_IPSEC_INITIATOR && link)
			qkdn_ipsec_send(link, t, NULL, 0, QKDN_KX_IPSEC_F_DROP,
					err, NULL, 0, 0);
	}
	t->state = t->cur.gen ? QKDN_IPSEC_S_STALE : QKDN_IPSEC_S_DOWN;
	if (report)
		qkdn_ipsec_event(qn, t, QKDN_EVENT_IPSEC_FAILED, err, t->why);
}

static u32 qkdn_ipsec_spi(struct qkdn_net *qn, struct qkdn_ipsec *t,
			  const xfrm_address_t *daddr, u32 other)
{
	struct xfrm_state *x;
	u32 spi;

	for (;;) {
		spi = get_random_u32();
		if (spi < 0x100 || spi == other)
			continue;
		x = xfrm_state_lookup(qn->net, 0, daddr, htonl(spi),
				      IPPROTO_ESP, t->family);
		if (!x)
			return spi;
		xfrm_state_put(x);
	}
}

/*
 * Takes the two keys and sends the rekey. Both frames it may send are
 * allocated first: once the keys are reserved at the peer, the peer hears
 * of them, to install them or to erase them.
 */
static void qkdn_ipsec_rekey(struct qkdn_net *qn, struct qkdn_ipsec *t)
{
	struct netlink_ext_ack extack = {};
	u32 kb = t->key_bits / 8 + QKDN_IPSEC_SALT;
	struct qkdn_frame *f = NULL, *abort = NULL;
	u8 ids[2][QKDN_KEY_ID_LEN];
	struct qkdn_sae *master, *slave;
	struct qkdn_ipsec_gen *g = &t->pend;
	const char *why = NULL;
	struct qkdn_link *link;
	struct xfrm_state *x;
	u8 *buf;
	int err;

	master = qkdn_sae_find(qn, t->master);
	slave = qkdn_sae_find(qn, t->slave);
	link = qkdn_link_by_peer(qn, t->peer);
	if (!master || !master->kernel || !slave || slave->local ||
	    strcmp(slave->node_id, t->peer)) {
		qkdn_ipsec_fail(qn, t, -ENOENT,
				"the tunnel's SAEs are no longer registered as configured");
		return;
	}
	if (!link || !link->up) {
		qkdn_ipsec_fail(qn, t, -ENOTCONN,
				"the KM link to the peer node is down");
		return;
	}
	buf = kmalloc(2 * kb, GFP_KERNEL);
	f = qkdn_ipsec_frame();
	abort = qkdn_ipsec_frame();
	if (!buf || !f || !abort) {
		err = -ENOMEM;
		goto fail;
	}

	memset(g, 0, sizeof(*g));
	g->gen = t->gen_next++;
	if (!t->gen_next)
		t->gen_next = 1;
	g->out.spi = qkdn_ipsec_spi(qn, t, &t->remote, 0);
	g->in.spi = qkdn_ipsec_spi(qn, t, &t->local, g->out.spi);
	qkdn_key_id_gen(ids[0]);
	qkdn_key_id_gen(ids[1]);
	memcpy(g->out.key_id, ids[0], QKDN_KEY_ID_LEN);
	memcpy(g->in.key_id, ids[1], QKDN_KEY_ID_LEN);
	t->pend_start = ktime_get();

	err = qkdn_key_take(qn, master, slave, NULL, 2, kb, &ids[0][0], buf,
			    kb, true, NULL, &extack);
	if (err == -EWOULDBLOCK) {
		/* Short on the link, and a controller would relay. */
		err = -ENOSPC;
		why = "not enough key in the pool (IPsec keys are not relayed)";
		goto fail;
	}
	if (err) {
		why = extack._msg;
		goto fail;
	}
	x = qkdn_ipsec_sa_new(qn, t, false, g->in.spi, buf + kb, kb, &why);
	if (!IS_ERR(x)) {
		g->in.x = x;
		x = qkdn_ipsec_sa_new(qn, t, true, g->out.spi, buf, kb, &why);
	}
	kfree_sensitive(buf);
	buf = NULL;
	err = PTR_ERR_OR_ZERO(x);
	if (!err) {
		g->out.x = x;
		err = qkdn_ipsec_sa_add(&g->in);
		if (err)
			why = "the inbound SA could not be added";
	}
	if (err) {
		/* The keys are reserved at the peer: have it erase them. */
		qkdn_ipsec_send(link, t, abort, g->gen, QKDN_KX_IPSEC_F_ABORT,
				err, &ids[0][0], 0, 0);
		abort = NULL;
		goto fail;
	}
	qkdn_ipsec_send(link, t, f, g->gen, 0, 0, &ids[0][0], g->out.spi,
			g->in.spi);
	kfree(abort);
	t->pending = true;
	t->pend_deadline = jiffies + msecs_to_jiffies(QKDN_IPSEC_ANSWER_MS);
	return;

fail:
	kfree_sensitive(buf);
	kfree(f);
	kfree(abort);
	qkdn_ipsec_fail(qn, t, err, why);
}

static void qkdn_ipsec_answered(struct qkdn_net *qn, struct qkdn_ipsec *t,
				const struct qkdn_kx_ipsec_answer *m)
{
	char why[QKDN_ERRMSG_MAX];
	int err;

	/* Not the rekey in flight: given up, or of an earlier instance. */
	if (!t->pending || le32_to_cpu(m->gen) != t->pend.gen ||
	    memcmp(m->key_id, t->pend.out.key_id, QKDN_KEY_ID_LEN))
		return;
	if (m->err) {
		err = qkdn_ipsec_peer_err(m->err);
		strscpy(why, m->why, sizeof(why));
		qkdn_ipsec_fail(qn, t, err, why);
		return;
	}
	err = qkdn_ipsec_sa_add(&t->pend.out);
	if (err) {
		qkdn_ipsec_fail(qn, t, err,
				"the outbound SA could not be added");
		return;
	}
	t->pending = false;
	t->rekey_usec = min_t(s64, ktime_us_delta(ktime_get(), t->pend_start),
			      U32_MAX);
	/* A rekey given up earlier: the responder now sends with this one. */
	qkdn_ipsec_sa_put(&t->late);
	t->refused = 0;
	qkdn_ipsec_rotate(t, &t->pend);
	t->rekeys++;
	t->err = 0;
	t->why[0] = '\0';
	t->state = QKDN_IPSEC_S_UP;
	t->next_rekey = jiffies + t->rekey_s * HZ;
	qkdn_ipsec_event(qn, t, QKDN_EVENT_IPSEC_REKEY, 0, NULL);
}

/* ---- at the responder ---- */

static struct qkdn_key *qkdn_ipsec_key(struct qkdn_link *link,
				       const struct qkdn_kx_ipsec *m, int i,
				       u32 kb)
{
	struct qkdn_key *k = qkdn_keytab_find(&link->keys, m->ids[i]);

	if (!k || k->len != kb || strcmp(k->master, m->master) ||
	    strcmp(k->slave, m->slave))
		return NULL;
	return k;
}

/*
 * The new generation g is in place: of the ones before it, keep the one
 * the initiator still sends with (the frame says which; normally the
 * current one), and drop the others.
 */
static void qkdn_ipsec_rx_rotate(struct qkdn_ipsec *t,
				 struct qkdn_ipsec_gen *g, u32 sending)
{
	struct qkdn_ipsec_gen keep = {};

	if (t->prev.gen && t->prev.gen == sending && t->cur.gen != sending) {
		keep = t->prev;
		memset(&t->prev, 0, sizeof(t->prev));
	} else {
		keep = t->cur;
		memset(&t->cur, 0, sizeof(t->cur));
	}
	qkdn_ipsec_gen_put(&t->cur);
	qkdn_ipsec_gen_put(&t->prev);
	t->prev = keep;
	t->cur = *g;
	memset(g, 0, sizeof(*g));
}

static void qkdn_ipsec_rx_rekey(struct qkdn_net *qn, struct qkdn_link *link,
				const struct qkdn_kx_ipsec *m)
{
	u32 gen = le32_to_cpu(m->gen);
	u32 kb = le16_to_cpu(m->key_bits) / 8 + QKDN_IPSEC_SALT;
	struct qkdn_ipsec *t = qkdn_ipsec_find(qn, le32_to_cpu(m->id));
	bool ours = t && t->role == QKDN_IPSEC_RESPONDER &&
		    !strcmp(t->peer, link->peer);
	bool install = !(m->flags & (QKDN_KX_IPSEC_F_ABORT |
				     QKDN_KX_IPSEC_F_DROP));
	struct qkdn_ipsec_gen g = { .gen = gen };
	struct qkdn_frame *f = NULL;
	struct qkdn_key *k[2] = {};
	const char *why = NULL;
	struct xfrm_state *x;
	int err = 0, i;

	if (m->flags & QKDN_KX_IPSEC_F_DROP) {
		/* No keys, no answer. */
		if (ours) {
			qkdn_ipsec_drop_all(t);
			qkdn_ipsec_fail(qn, t, qkdn_ipsec_peer_err(m->err),
					"the initiator dropped the SAs");
		}
		return;
	}
	k[0] = qkdn_ipsec_key(link, m, 0, kb);
	k[1] = qkdn_ipsec_key(link, m, 1, kb);
	if (install) {
		f = qkdn_kx_alloc(QKDN_KX_IPSEC_ANSWER,
				  sizeof(struct qkdn_kx_ipsec_answer), 0);
		if (!f) {
			err = -ENOMEM;
		} else if (!ours) {
			err = -ENOENT;
			why = "no IPsec tunnel with this ID and peer at the responder";
		} else if (strcmp(t->master, m->master) ||
			   strcmp(t->slave, m->slave) ||
			   t->key_bits != le16_to_cpu(m->key_bits)) {
			err = -EINVAL;
			why = "the IPsec tunnel's SAEs or key size differ at the responder";
		} else if (!k[0] || !k[1]) {
			err = -ENOENT;
			why = "the tunnel's keys are not reserved at the responder";
		}
	}
	if (install && !err) {
		g.in.spi = le32_to_cpu(m->spi_fwd);
		g.out.spi = le32_to_cpu(m->spi_rev);
		memcpy(g.in.key_id, m->ids[0], QKDN_KEY_ID_LEN);
		memcpy(g.out.key_id, m->ids[1], QKDN_KEY_ID_LEN);
		x = qkdn_ipsec_sa_new(qn, t, false, g.in.spi, k[0]->data, kb,
				      &why);
		if (!IS_ERR(x)) {
			g.in.x = x;
			x = qkdn_ipsec_sa_new(qn, t, true, g.out.spi,
					      k[1]->data, kb, &why);
		}
		err = PTR_ERR_OR_ZERO(x);
		if (!err)
			g.out.x = x;
	}
	/* Taken, whatever comes next: each key is used once. */
	for (i = 0; i < 2; i++) {
		if (!k[i])
			continue;
		qkdn_nl_event(qn, QKDN_EVENT_KEYS_SUPPLIED, link, m->master,
			      m->slave, 1, m->ids[i]);
		qkdn_keytab_free(&link->keys, k[i]);
		link->stats.keys_supplied++;
	}
	if (!install)
		return;
	if (!err) {
		err = qkdn_ipsec_sa_add(&g.in);
		if (!err)
			err = qkdn_ipsec_sa_add(&g.out);
		if (err)
			why = "the SA could not be added (SPI in use?)";
	}
	if (err) {
		qkdn_ipsec_gen_put(&g);
		if (f)
			qkdn_ipsec_answer(link, f, m, err, why);
		if (ours)
			qkdn_ipsec_fail(qn, t, err, why);
		return;
	}
	qkdn_ipsec_rx_rotate(t, &g, le32_to_cpu(m->sending));
	t->rekeys++;
	t->err = 0;
	t->why[0] = '\0';
	t->state = QKDN_IPSEC_S_UP;
	qkdn_ipsec_answer(link, f, m, 0, NULL);
	qkdn_ipsec_event(qn, t, QKDN_EVENT_IPSEC_REKEY, 0, NULL);
}

/* A validated IPsec frame from the peer on link. */
void qkdn_ipsec_kx_rx(struct qkdn_link *link, u8 type, const u8 *body)
{
	struct qkdn_net *qn = link->qn;
	struct qkdn_ipsec *t;

	if (type == QKDN_KX_IPSEC) {
		qkdn_ipsec_rx_rekey(qn, link, (const void *)body);
		return;
	}

	t = qkdn_ipsec_find(qn, le32_to_cpu(((const struct qkdn_kx_ipsec_answer *)
					     body)->id));
	if (t && t->role == QKDN_IPSEC_INITIATOR && !strcmp(t->peer, link->peer))
		qkdn_ipsec_answered(qn, t, (const void *)body);
}

/* ---- timers ---- */

static bool qkdn_ipsec_bytes_due(const struct qkdn_ipsec *t)
{
	const struct qkdn_ipsec_sa *sa[] = { &t->cur.out, &t->cur.in };
	int i;

	for (i = 0; i < 2; i++) {
		if (!sa[i]->x)
			continue;
		/* No ESN: rekey well before the 32-bit sequence wraps. */
		if (READ_ONCE(sa[i]->x->curlft.packets) >= QKDN_IPSEC_PACKETS_MAX)
			return true;
		if (t->rekey_bytes &&
		    READ_ONCE(sa[i]->x->curlft.bytes) >= t->rekey_bytes)
			return true;
	}
	return false;
}

/*
 * The tunnel's policies were deleted (ip xfrm policy flush): without them
 * the traffic would leave in the clear. Put them back, or say why not.
 */
static void qkdn_ipsec_check_policies(struct qkdn_net *qn,
				      struct qkdn_ipsec *t)
{
	struct netlink_ext_ack extack = {};
	int dir, err;

	for (dir = 0; dir < XFRM_POLICY_MAX; dir++)
		if (!t->pol[dir] || READ_ONCE(t->pol[dir]->walk.dead))
			break;
	if (dir == XFRM_POLICY_MAX)
		return;
	qkdn_ipsec_policies_put(t);
	err = qkdn_ipsec_policies_add(qn, t, &extack);
	if (!err || t->pol_lost) {
		t->pol_lost = err;
		return;
	}
	t->pol_lost = true;
	qkdn_ipsec_event(qn, t, QKDN_EVENT_IPSEC_FAILED, err,
			 extack._msg ?: "the tunnel's xfrm policies could not be put back");
}

static void qkdn_ipsec_tick(struct qkdn_net *qn, struct qkdn_ipsec *t)
{
	qkdn_ipsec_check_policies(qn, t);
	if (t->cur.gen && (!qkdn_ipsec_sa_alive(&t->cur.out) ||
			   !qkdn_ipsec_sa_alive(&t->cur.in))) {
		/* Expired (hard lifetime) or deleted by the administrator. */
		qkdn_ipsec_gen_put(&t->cur);
		qkdn_ipsec_gen_put(&t->prev);
		t->state = QKDN_IPSEC_S_DOWN;
		qkdn_ipsec_event(qn, t, QKDN_EVENT_IPSEC_EXPIRED, 0,
				 "the SAs in place reached their hard lifetime or were deleted");
		t->next_rekey = jiffies;
	}
	/* The previous generation, kept for packets in flight, expired. */
	if (t->prev.gen && (!qkdn_ipsec_sa_alive(&t->prev.out) ||
			    !qkdn_ipsec_sa_alive(&t->prev.in)))
		qkdn_ipsec_gen_put(&t->prev);
	if (t->late.x && !qkdn_ipsec_sa_alive(&t->late))
		qkdn_ipsec_sa_put(&t->late);
	if (t->role != QKDN_IPSEC_INITIATOR)
		return;
	if (t->pending) {
		if (time_after(jiffies, t->pend_deadline))
			qkdn_ipsec_fail(qn, t, -ETIMEDOUT,
					"the peer KM did not answer the rekey");
		return;
	}
	/* After a failure, the retry time holds even if bytes are due. */
	if (time_after_eq(jiffies, t->next_rekey) ||
	    (!t->err && qkdn_ipsec_bytes_due(t)))
		qkdn_ipsec_rekey(qn, t);
}

void qkdn_ipsec_work(struct work_struct *work)
{
	struct qkdn_net *qn = container_of(to_delayed_work(work),
					   struct qkdn_net, ipsec_work);
	struct qkdn_ipsec *t;

	mutex_lock(&qn->lock);
	if (!qn->dying) {
		list_for_each_entry(t, &qn->ipsecs, node)
			qkdn_ipsec_tick(qn, t);
		if (!list_empty(&qn->ipsecs))
			queue_delayed_work(qkdn_wq, &qn->ipsec_work,
					   QKDN_IPSEC_TICK);
	}
	mutex_unlock(&qn->lock);
}

/* ---- configuration ---- */

static void qkdn_ipsec_free(struct qkdn_ipsec *t)
{
	qkdn_ipsec_drop_all(t);
	qkdn_ipsec_policies_put(t);
	list_del(&t->node);
	kfree(t);
}

bool qkdn_ipsec_uses_sae(struct qkdn_net *qn, const char *sae)
{
	struct qkdn_ipsec *t;

	list_for_each_entry(t, &qn->ipsecs, node)
		if (!strcmp(t->master, sae) || !strcmp(t->slave, sae))
			return true;
	return false;
}

void qkdn_ipsec_net_init(struct qkdn_net *qn)
{
	INIT_LIST_HEAD(&qn->ipsecs);
	INIT_DELAYED_WORK(&qn->ipsec_work, qkdn_ipsec_work);
}

/* With qn->lock held, qn->dying set and the work cancelled. */
void qkdn_ipsec_net_exit(struct qkdn_net *qn)
{
	struct qkdn_ipsec *t, *tmp;

	list_for_each_entry_safe(t, tmp, &qn->ipsecs, node)
		qkdn_ipsec_free(t);
	qn->nipsecs = 0;
}

static int qkdn_ipsec_addr(struct nlattr **a, int type, struct qkdn_ipsec *t,
			   xfrm_address_t *out, struct netlink_ext_ack *extack)
{
	u32 len = nla_len(a[type]);

	if (len != 4 && len != 16) {
		NL_SET_ERR_MSG_ATTR(extack, a[type],
				    "an address is 4 (IPv4) or 16 (IPv6) bytes");
		return -EINVAL;
	}
	if (!t->alen) {
		t->alen = len;
		t->family = len == 4 ? AF_INET : AF_INET6;
	} else if (len != t->alen) {
		NL_SET_ERR_MSG_ATTR(extack, a[type],
				    "addresses of one tunnel are of one family");
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	nla_memcpy(out, a[type], len);
	return 0;
}

static int qkdn_ipsec_prefix(struct nlattr **a, int type, struct qkdn_ipsec *t,
			     u8 *out, struct netlink_ext_ack *extack)
{
	u8 len = nla_get_u8(a[type]);

	if (len > t->alen * 8) {
		NL_SET_ERR_MSG_ATTR(extack, a[type],
				    "prefix length longer than the address");
		return -EINVAL;
	}
	*out = len;
	return 0;
}

static void qkdn_ipsec_str(struct nlattr *attr, char *out)
{
	nla_strscpy(out, attr, QKDN_ID_MAX);
}

static int qkdn_ipsec_parse(struct nlattr **a, struct nlattr *nest,
			    struct qkdn_ipsec *t, struct netlink_ext_ack *extack)
{
	static const int need[] = {
		QKDN_A_IPSEC_ID, QKDN_A_IPSEC_PEER, QKDN_A_IPSEC_MASTER,
		QKDN_A_IPSEC_SLAVE, QKDN_A_IPSEC_LOCAL, QKDN_A_IPSEC_REMOTE,
		QKDN_A_IPSEC_SRC, QKDN_A_IPSEC_SRC_LEN, QKDN_A_IPSEC_DST,
		QKDN_A_IPSEC_DST_LEN,
	};
	static const int ids[] = {
		QKDN_A_IPSEC_PEER, QKDN_A_IPSEC_MASTER, QKDN_A_IPSEC_SLAVE,
	};
	char * const idv[] = { t->peer, t->master, t->slave };
	unsigned int i;
	int err;

	for (i = 0; i < ARRAY_SIZE(need); i++) {
		if (!a[need[i]]) {
			NL_SET_ERR_ATTR_MISS(extack, nest, need[i]);
			NL_SET_ERR_MSG(extack, "IPsec tunnel attribute missing");
			return -EINVAL;
		}
	}
	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		qkdn_ipsec_str(a[ids[i]], idv[i]);
		if (!qkdn_id_valid(idv[i])) {
			NL_SET_ERR_MSG_ATTR(extack, a[ids[i]],
					    "IDs are 1 to 63 of A-Z a-z 0-9 . _ - : @");
			return -EINVAL;
		}
	}
	t->id = nla_get_u32(a[QKDN_A_IPSEC_ID]);
	err = qkdn_ipsec_addr(a, QKDN_A_IPSEC_LOCAL, t, &t->local, extack) ?:
	      qkdn_ipsec_addr(a, QKDN_A_IPSEC_REMOTE, t, &t->remote, extack) ?:
	      qkdn_ipsec_addr(a, QKDN_A_IPSEC_SRC, t, &t->src, extack) ?:
	      qkdn_ipsec_addr(a, QKDN_A_IPSEC_DST, t, &t->dst, extack) ?:
	      qkdn_ipsec_prefix(a, QKDN_A_IPSEC_SRC_LEN, t, &t->src_len,
				extack) ?:
	      qkdn_ipsec_prefix(a, QKDN_A_IPSEC_DST_LEN, t, &t->dst_len, extack);
	if (err)
		return err;
	if (!memcmp(&t->local, &t->remote, t->alen) ||
	    !memchr_inv(&t->local, 0, t->alen) ||
	    !memchr_inv(&t->remote, 0, t->alen)) {
		NL_SET_ERR_MSG_ATTR(extack, a[QKDN_A_IPSEC_REMOTE],
				    "the tunnel's endpoints must be two distinct addresses");
		return -EINVAL;
	}
	t->key_bits = a[QKDN_A_IPSEC_KEY_BITS] ?
		      nla_get_u32(a[QKDN_A_IPSEC_KEY_BITS]) : 256;
	if (t->key_bits != 128 && t->key_bits != 256) {
		NL_SET_ERR_MSG_ATTR(extack, a[QKDN_A_IPSEC_KEY_BITS],
				    "AES-GCM keys are 128 or 256 bits");
		return -EINVAL;
	}
	t->rekey_s = a[QKDN_A_IPSEC_REKEY_SECONDS] ?
		     nla_get_u32(a[QKDN_A_IPSEC_REKEY_SECONDS]) :
		     QKDN_IPSEC_REKEY_DEFAULT;
	t->rekey_bytes = a[QKDN_A_IPSEC_REKEY_BYTES] ?
			 nla_get_u64(a[QKDN_A_IPSEC_REKEY_BYTES]) : 0;
	t->hard_s = a[QKDN_A_IPSEC_HARD_SECONDS] ?
		    nla_get_u32(a[QKDN_A_IPSEC_HARD_SECONDS]) :
		    min(3 * t->rekey_s, 2U * QKDN_IPSEC_REKEY_MAX);
	if (t->hard_s < 2 * t->rekey_s) {
		NL_SET_ERR_MSG_ATTR(extack, a[QKDN_A_IPSEC_HARD_SECONDS],
				    "the hard lifetime must be at least twice the rekey interval");
		return -EINVAL;
	}
	t->on_exhaust = a[QKDN_A_IPSEC_ON_EXHAUST] ?
			nla_get_u8(a[QKDN_A_IPSEC_ON_EXHAUST]) :
			QKDN_IPSEC_KEEP;
	t->reqid = QKDN_IPSEC_REQID_BASE + t->id;
	return 0;
}

/* One SAE is a kernel SAE of this node, the other is served by the peer. */
static int qkdn_ipsec_role(struct qkdn_net *qn, struct qkdn_ipsec *t,
			   struct nlattr **a, struct netlink_ext_ack *extack)
{
	struct qkdn_sae *m = qkdn_sae_find(qn, t->master);
	struct qkdn_sae *s = qkdn_sae_find(qn, t->slave);
	int err = 0;

	if (!m || !s) {
		NL_SET_ERR_MSG_ATTR(extack, a[m ? QKDN_A_IPSEC_SLAVE :
					     QKDN_A_IPSEC_MASTER],
				    "no such SAE");
		return -ENOENT;
	}
	if (m->local && m->kernel && !s->local &&
	    !strcmp(s->node_id, t->peer)) {
		t->role = QKDN_IPSEC_INITIATOR;
	} else if (s->local && s->kernel && !m->local &&
		   !strcmp(m->node_id, t->peer)) {
		t->role = QKDN_IPSEC_RESPONDER;
	} else if ((m->local && !m->kernel) || (s->local && !s->kernel)) {
		NL_SET_ERR_MSG(extack,
			       "the tunnel's SAE at this node must be a kernel SAE (sae add ... kernel)");
		err = -EACCES;
	} else {
		NL_SET_ERR_MSG(extack,
			       "one SAE must be a kernel SAE of this node and the other served by the peer node");
		err = -EINVAL;
	}
	if (err)
		return err;
	if (!qkdn_link_by_peer(qn, t->peer)) {
		NL_SET_ERR_MSG_ATTR(extack, a[QKDN_A_IPSEC_PEER],
				    "no QKD link to the peer node");
		return -ENOENT;
	}
	return 0;
}

static int qkdn_ipsec_attrs(struct genl_info *info, struct nlattr **tb)
{
	if (qkdn_nl_need(info, QKDN_A_IPSEC))
		return -EINVAL;
	return nla_parse_nested(tb, QKDN_A_IPSEC_MAX, info->attrs[QKDN_A_IPSEC],
				qkdn_ipsec_policy, info->extack);
}

int qkdn_nl_ipsec_new(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct nlattr *a[QKDN_A_IPSEC_MAX + 1];
	struct qkdn_ipsec *t;
	int err;

	err = qkdn_ipsec_attrs(info, a);
	if (err)
		return err;
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	err = qkdn_ipsec_parse(a, info->attrs[QKDN_A_IPSEC], t, info->extack);
	if (err)
		goto free;

	mutex_lock(&qn->lock);
	if (qkdn_ipsec_find(qn, t->id)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_IPSEC_ID],
				    "IPsec tunnel ID in use");
		err = -EEXIST;
	} else if (qn->nipsecs >= QKDN_IPSEC_MAX) {
		NL_SET_ERR_MSG(info->extack, "too many IPsec tunnels");
		err = -ENOSPC;
	} else {
		err = qkdn_ipsec_role(qn, t, a, info->extack);
	}
	if (!err)
		err = qkdn_ipsec_policies_add(qn, t, info->extack);
	if (!err) {
		t->state = QKDN_IPSEC_S_IDLE;
		t->gen_next = 1;
		t->next_rekey = jiffies;
		list_add_tail(&t->node, &qn->ipsecs);
		qn->nipsecs++;
		mod_delayed_work(qkdn_wq, &qn->ipsec_work, 0);
		t = NULL;
	}
	mutex_unlock(&qn->lock);
free:
	kfree(t);
	return err;
}

static struct qkdn_ipsec *qkdn_nl_ipsec(struct qkdn_net *qn,
					struct genl_info *info,
					struct nlattr **a)
{
	struct qkdn_ipsec *t;

	if (!a[QKDN_A_IPSEC_ID]) {
		NL_SET_ERR_ATTR_MISS(info->extack, info->attrs[QKDN_A_IPSEC],
				     QKDN_A_IPSEC_ID);
		NL_SET_ERR_MSG(info->extack, "IPsec tunnel ID missing");
		return ERR_PTR(-EINVAL);
	}
	t = qkdn_ipsec_find(qn, nla_get_u32(a[QKDN_A_IPSEC_ID]));
	if (!t) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_IPSEC_ID],
				    "no such IPsec tunnel");
		return ERR_PTR(-ENOENT);
	}
	return t;
}

int qkdn_nl_ipsec_del(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct nlattr *a[QKDN_A_IPSEC_MAX + 1];
	struct qkdn_ipsec *t;
	int err;

	err = qkdn_ipsec_attrs(info, a);
	if (err)
		return err;
	mutex_lock(&qn->lock);
	t = qkdn_nl_ipsec(qn, info, a);
	err = PTR_ERR_OR_ZERO(t);
	if (!err) {
		qkdn_ipsec_free(t);
		qn->nipsecs--;
	}
	mutex_unlock(&qn->lock);
	return err;
}

static int qkdn_ipsec_put(struct sk_buff *skb, struct qkdn_ipsec *t,
			  u32 portid, u32 seq, int flags)
{
	void *hdr = qkdn_put_hdr(skb, portid, seq, flags, QKDN_CMD_IPSEC_GET);

	if (!hdr)
		return -EMSGSIZE;
	if (qkdn_ipsec_fill(skb, t, true) ||
	    (t->err && nla_put_u32(skb, QKDN_A_ERRNO, -t->err)) ||
	    (t->why[0] && nla_put_string(skb, QKDN_A_ERRMSG, t->why))) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

int qkdn_nl_ipsec_get(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct nlattr *a[QKDN_A_IPSEC_MAX + 1];
	struct qkdn_ipsec *t;
	struct sk_buff *msg;
	int err;

	err = qkdn_ipsec_attrs(info, a);
	if (err)
		return err;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&qn->lock);
	t = qkdn_nl_ipsec(qn, info, a);
	err = PTR_ERR_OR_ZERO(t);
	if (!err)
		err = qkdn_ipsec_put(msg, t, info->snd_portid, info->snd_seq,
				     0);
	mutex_unlock(&qn->lock);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

int qkdn_nl_ipsec_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct qkdn_net *qn = qkdn_net(sock_net(skb->sk));
	struct qkdn_ipsec *t;
	long idx = 0;

	mutex_lock(&qn->lock);
	list_for_each_entry(t, &qn->ipsecs, node) {
		if (idx++ < cb->args[0])
			continue;
		if (qkdn_ipsec_put(skb, t, NETLINK_CB(cb->skb).portid,
				   cb->nlh->nlmsg_seq, NLM_F_MULTI)) {
			idx--;
			break;
		}
	}
	mutex_unlock(&qn->lock);
	cb->args[0] = idx;
	return skb->len;
}
