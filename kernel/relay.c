// SPDX-License-Identifier: GPL-2.0
/*
 * Key relay: keys for SAEs whose KMs share no QKD link (ITU-T Q.4160 I.3,
 * I.4a, I.4b, I.5a, I.5b).
 *
 * The source KM takes the keys from its own stream of the first hop's link
 * (so the first hop's KM already holds them: the first "key relay" frame
 * carries only their IDs). Every further hop sends them one-time-pad
 * encrypted with key of its own link, so each hop spends as many pool bytes
 * as it relays. Every "key relay" frame is authenticated with a Wegman-
 * Carter MAC (mac.c) whose one-time part also comes from the link's pool.
 * Key bytes never leave the kernel: the link daemons carry ciphertext.
 *
 * Where each hop goes is the controller's answer: "key relay next hop
 * request" at every hop (distributed QKDN), or a full route in answer to
 * "key relay request notification" at the source (centralized QKDN), which
 * the frame then carries.
 *
 * The destination KM stores the keys for its SAE and sends "key relay
 * completion notification" back along the path; the source KM gives the
 * keys to its application only when that arrives. A relay that fails on
 * the way is reported back the same way and nothing is stored; a source
 * that gives up (timeout, signal) sends an abort along the path, which
 * erases the keys at the destination if they got there. Either way both
 * ends end up with the keys, or neither does.
 *
 * All under qn->lock.
 */

#include <crypto/algapi.h>
#include <linux/jhash.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uuid.h>

#include "qkdn.h"

enum qkdn_relay_role {
	QKDN_RELAY_SRC,		/* started here for a local master SAE */
	QKDN_RELAY_HOP,		/* passing through */
	QKDN_RELAY_DST,		/* ended here, for a local slave SAE */
};

enum qkdn_relay_state {
	QKDN_RS_ROUTE,		/* asking the controller */
	QKDN_RS_RESERVED,	/* I.4b: reserved on the first link, held */
	QKDN_RS_SENT,		/* sent on, awaiting completion */
	QKDN_RS_DONE,		/* completed (at the destination) */
	QKDN_RS_FAILED,
};

#define QKDN_RELAY_F_NEWKEY	0x01	/* a new MAC hash key comes first */
#define QKDN_RELAY_F_RESERVE	0x02	/* I.4b: hold the keys for the
					 * controller's "key relay request"
					 */
#define QKDN_RELAY_F_GIVEN	0x04	/* the first hop carries ciphertext
					 * too: the keys are another relay's
					 * (multicast)
					 */

/*
 * Kx "key relay": fixed part; then route, more slaves, key IDs,
 * ciphertext, tag.
 */
struct qkdn_kx_relay {
	u8 relay_id[QKDN_RELAY_ID_LEN];
	char src[QKDN_ID_MAX];
	char dst[QKDN_ID_MAX];
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
	__le64 pad_seq;		/* this hop's pool bytes start here, in the */
	__le32 pad_off;		/* sender's own stream */
	__le16 key_bytes;
	__le16 count;
	u8 hop;			/* 1: the keys are the first link's pad */
	u8 flags;
	u8 nroute;		/* 0, or the full route's length */
	u8 nslaves;		/* more slave SAEs at dst (multicast) */
	u8 reserved[4];
} __packed;

struct qkdn_kx_relay_done {
	u8 relay_id[QKDN_RELAY_ID_LEN];
	__le32 err;		/* 0: stored at the destination */
	char where[QKDN_ID_MAX];	/* the KM that reports */
	char why[QKDN_ERRMSG_MAX];
} __packed;

struct qkdn_kx_relay_abort {
	u8 relay_id[QKDN_RELAY_ID_LEN];
} __packed;

struct qkdn_relay {
	struct hlist_node hnode;
	struct list_head retired;	/* finished hop: on qn->retired */
	u8 id[QKDN_RELAY_ID_LEN];
	u8 role;
	u8 state;
	u8 hop;			/* of the next frame this node sends */
	u8 nroute;
	bool reserve;		/* I.4b: the first hop only reserves */
	bool report;		/* I.4b: the controller started it here */
	bool is_retired;	/* finished hop, kept for a late abort */
	bool given;		/* source: keys given, not the first pad */
	u8 nslaves;		/* more slave SAEs at the destination */
	u32 prev_link, next_link;	/* link IDs, 0 for none */
	u32 count, key_bytes;
	u32 ctrl_id, ctrl_msg;	/* the controller request, if one waits */
	unsigned long ctrl_deadline;
	unsigned long expires;
	int err;
	char src[QKDN_ID_MAX];
	char dst[QKDN_ID_MAX];
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
	char from[QKDN_ID_MAX];		/* the previous node */
	char to[QKDN_ID_MAX];		/* the next node */
	u32 left;			/* destination: keys not taken yet */
	char where[QKDN_ID_MAX];	/* the node that reported the end */
	char why[QKDN_ERRMSG_MAX];
	struct qkdn_hop *route;
	struct qkdn_hop *slaves;	/* nslaves more slave SAEs */
	u8 *keys;			/* count * key_bytes, erased on free */
	u8 *ids;			/* count * QKDN_KEY_ID_LEN */
};

/* The i-th slave SAE of a relay: 0 is the slave, then the more. */
static const char *qkdn_relay_slave(const struct qkdn_relay *r, u32 i)
{
	return i ? r->slaves[i - 1].id : r->slave;
}

struct qkdn_relay_layout {
	u32 route, slaves, ids, ct, tag, len;
};

static void qkdn_relay_layout(u32 nroute, u32 nslaves, u32 count, u32 kb,
			      bool ct, struct qkdn_relay_layout *l)
{
	l->route = sizeof(struct qkdn_kx_relay);
	l->slaves = l->route + nroute * QKDN_ID_MAX;
	l->ids = l->slaves + nslaves * QKDN_ID_MAX;
	l->ct = l->ids + count * QKDN_KEY_ID_LEN;
	l->tag = l->ct + (ct ? count * kb : 0);
	l->len = l->tag + QKDN_MAC_LEN;
}

/*
 * Keys of key_bytes that fit one relay frame with nslaves more slaves,
 * whatever its route.
 */
u32 qkdn_relay_frame_keys_max(u32 key_bytes, u32 nslaves)
{
	u32 room = QKDN_KX_FRAME_MAX - QKDN_KX_HDR_LEN -
		   sizeof(struct qkdn_kx_relay) -
		   (QKDN_ROUTE_HOPS_MAX + nslaves) * QKDN_ID_MAX - QKDN_MAC_LEN;

	return room / (QKDN_KEY_ID_LEN + key_bytes);
}

/* Pool bytes one hop takes at most: pad, tag pad and a new hash key. */
static u32 qkdn_relay_hop_bytes(const struct qkdn_relay *r)
{
	return r->count * r->key_bytes + 2 * QKDN_MAC_LEN;
}

void qkdn_relay_net_init(struct qkdn_net *qn)
{
	hash_init(qn->relays);
	INIT_LIST_HEAD(&qn->retired);
	init_waitqueue_head(&qn->relay_wq);
	INIT_DELAYED_WORK(&qn->relay_work, qkdn_relay_work);
	qkdn_keytab_init(&qn->rkeys);
	INIT_LIST_HEAD(&qn->routes);
}

static u32 qkdn_relay_hash(const u8 *id)
{
	return jhash(id, QKDN_RELAY_ID_LEN, 0);
}

static struct qkdn_relay *qkdn_relay_find(struct qkdn_net *qn, const u8 *id)
{
	struct qkdn_relay *r;

	hash_for_each_possible(qn->relays, r, hnode, qkdn_relay_hash(id))
		if (!memcmp(r->id, id, QKDN_RELAY_ID_LEN))
			return r;
	return NULL;
}

struct qkdn_relay *qkdn_relay_by_ctrl(struct qkdn_net *qn, u32 ctrl_id)
{
	struct qkdn_relay *r;
	unsigned int bkt;

	hash_for_each(qn->relays, bkt, r, hnode)
		if (r->ctrl_id == ctrl_id)
			return r;
	return NULL;
}

static void qkdn_relay_arm(struct qkdn_net *qn)
{
	if (!qn->dying && !delayed_work_pending(&qn->relay_work))
		mod_delayed_work(qkdn_wq, &qn->relay_work, HZ / 5);
}

static void qkdn_relay_erase_keys(struct qkdn_relay *r)
{
	kfree_sensitive(r->keys);
	r->keys = NULL;
}

static void qkdn_relay_free(struct qkdn_net *qn, struct qkdn_relay *r)
{
	hash_del(&r->hnode);
	qn->nrelays--;
	if (r->role == QKDN_RELAY_DST)
		qn->ndst--;
	if (r->is_retired) {
		list_del(&r->retired);
		qn->nretired--;
	}
	qkdn_relay_erase_keys(r);
	kfree(r->ids);
	kfree(r->route);
	kfree(r->slaves);
	kfree(r);
}

static struct qkdn_relay *qkdn_relay_new(struct qkdn_net *qn, const u8 *id,
					 u8 role, u32 count, u32 kb)
{
	struct qkdn_relay *r;

	/*
	 * Records of relays ended here wait for their SAE, and those of
	 * relays passed on and finished only for a late abort: counted apart.
	 */
	if (role == QKDN_RELAY_DST ? qn->ndst >= QKDN_DST_RELAYS_MAX :
	    qn->nrelays - qn->ndst - qn->nretired >= QKDN_RELAYS_MAX)
		return ERR_PTR(-EBUSY);
	if (qn->nretired >= QKDN_HOP_RECORDS_MAX)
		qkdn_relay_free(qn, list_first_entry(&qn->retired,
						     struct qkdn_relay,
						     retired));
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return ERR_PTR(-ENOMEM);
	r->keys = kzalloc(count * kb, GFP_KERNEL);
	r->ids = kmalloc_array(count, QKDN_KEY_ID_LEN, GFP_KERNEL);
	if (!r->keys || !r->ids) {
		kfree(r->keys);
		kfree(r->ids);
		kfree(r);
		return ERR_PTR(-ENOMEM);
	}
	memcpy(r->id, id, QKDN_RELAY_ID_LEN);
	r->role = role;
	r->count = count;
	r->key_bytes = kb;
	r->expires = jiffies + msecs_to_jiffies(QKDN_RELAY_RECORD_MS);
	hash_add(qn->relays, &r->hnode, qkdn_relay_hash(id));
	qn->nrelays++;
	if (role == QKDN_RELAY_DST)
		qn->ndst++;
	qkdn_relay_arm(qn);
	return r;
}

/*
 * A relay passed on here has finished: its record stays only to pass on
 * an abort that the source sent before it saw the end, for
 * QKDN_RELAY_RECORD_MS.  Such records do not count against
 * QKDN_RELAYS_MAX; past QKDN_HOP_RECORDS_MAX, a new relay takes the place
 * of the oldest (there, not here: callers may be walking the table).
 */
static void qkdn_relay_retire(struct qkdn_net *qn, struct qkdn_relay *r)
{
	if (r->role != QKDN_RELAY_HOP || r->is_retired)
		return;
	qkdn_relay_erase_keys(r);
	kfree(r->ids);
	r->ids = NULL;
	kfree(r->route);
	r->route = NULL;
	r->nroute = 0;
	kfree(r->slaves);
	r->slaves = NULL;
	r->nslaves = 0;
	r->expires = jiffies + msecs_to_jiffies(QKDN_RELAY_RECORD_MS);
	r->is_retired = true;
	list_add_tail(&r->retired, &qn->retired);
	qn->nretired++;
}

void qkdn_relay_net_exit(struct qkdn_net *qn)
{
	struct hlist_node *tmp;
	struct qkdn_relay *r;
	unsigned int bkt;

	hash_for_each_safe(qn->relays, bkt, tmp, r, hnode)
		qkdn_relay_free(qn, r);
	qkdn_keytab_flush(&qn->rkeys);
	qkdn_routes_flush(qn);
}

static const char *qkdn_relay_errmsg(struct qkdn_net *qn, const char *where,
				     const char *why)
{
	return qkdn_errmsg_keep(qn, "key relay failed at %s: %s", where, why);
}

static void qkdn_relay_msg(struct qkdn_net *qn, const struct qkdn_relay *r,
			   u32 msg, u8 dir, const char *kind,
			   const char *peer, int err)
{
	qkdn_nl_msg(qn, msg, dir, kind, peer, r->id, r->src, r->dst, r->count,
		    err, err ? r->why : NULL);
}

/* Erases the keys of a relay that ended here that no SAE took. */
static void qkdn_relay_drop_keys(struct qkdn_net *qn, struct qkdn_relay *r)
{
	u32 i;

	for (i = 0; i < r->count && r->left; i++) {
		const u8 *id = r->ids + i * QKDN_KEY_ID_LEN;
		struct qkdn_key *k;

		/* One copy for each slave SAE of the relay. */
		while (r->left &&
		       (k = qkdn_keytab_match(&qn->rkeys, id, NULL, r->id))) {
			qkdn_keytab_free(&qn->rkeys, k);
			r->left--;
		}
	}
	r->left = 0;
}

/* The slave SAE took a relayed key: its record goes with the last one. */
void qkdn_relay_key_taken(struct qkdn_net *qn, const u8 *relay_id)
{
	struct qkdn_relay *r = qkdn_relay_find(qn, relay_id);

	if (r && r->role == QKDN_RELAY_DST && r->left && !--r->left)
		qkdn_relay_free(qn, r);
}

/* The link a relay record names, if it still goes to the same node. */
static struct qkdn_link *qkdn_relay_link(struct qkdn_net *qn, u32 link_id,
					 const char *peer)
{
	struct qkdn_link *link = qkdn_link_find(qn, link_id);

	return link && !strcmp(link->peer, peer) ? link : NULL;
}

static void qkdn_relay_send_done(struct qkdn_net *qn, u32 link_id,
				 const char *peer, const u8 *id, int err,
				 const char *where, const char *why)
{
	struct qkdn_link *link = qkdn_relay_link(qn, link_id, peer);
	struct qkdn_kx_relay_done *d;
	struct qkdn_frame *f;

	if (!link)
		return;
	f = qkdn_kx_alloc(QKDN_KX_RELAY_DONE, sizeof(*d), 0);
	if (!f)
		return;		/* the source times out and aborts */
	d = (struct qkdn_kx_relay_done *)qkdn_kx_body(f);
	memcpy(d->relay_id, id, QKDN_RELAY_ID_LEN);
	d->err = cpu_to_le32(err);
	strscpy(d->where, where, sizeof(d->where));
	strscpy(d->why, why, sizeof(d->why));
	qkdn_kx_queue(link, f);
}

static void qkdn_relay_send_abort(struct qkdn_net *qn, u32 link_id,
				  const char *peer, const u8 *id)
{
	struct qkdn_link *link = qkdn_relay_link(qn, link_id, peer);
	struct qkdn_kx_relay_abort *a;
	struct qkdn_frame *f;

	if (!link)
		return;
	f = qkdn_kx_alloc(QKDN_KX_RELAY_ABORT, sizeof(*a), 0);
	if (!f)
		return;
	a = (struct qkdn_kx_relay_abort *)qkdn_kx_body(f);
	memcpy(a->relay_id, id, QKDN_RELAY_ID_LEN);
	qkdn_kx_queue(link, f);
}

/* The end of a relay started here: wake the application's request. */
static void qkdn_relay_src_end(struct qkdn_net *qn, struct qkdn_relay *r,
			       int err, const char *where, const char *why)
{
	r->err = err;
	r->state = err ? QKDN_RS_FAILED : QKDN_RS_DONE;
	strscpy(r->where, where, sizeof(r->where));
	strscpy(r->why, why, sizeof(r->why));
	if (err) {
		qkdn_relay_erase_keys(r);
		qn->rstats.relays_failed++;
	} else {
		qn->rstats.relays_done++;
	}
	/* I.4a: KM1 tells the controller that gave the route how it ended. */
	if (r->nroute && !r->reserve)
		qkdn_ctrl_notify(qn, QKDN_MSG_KEY_RELAY_RESPONSE, r->id, r->src,
				 r->dst, err);
	qn->relay_gen++;
	wake_up_all(&qn->relay_wq);
}

/* The relay cannot go on from this node. */
static void qkdn_relay_fail(struct qkdn_net *qn, struct qkdn_relay *r,
			    int err, const char *why)
{
	r->ctrl_id = 0;
	if (r->role == QKDN_RELAY_SRC) {
		qkdn_relay_src_end(qn, r, err, qn->node_id, why);
		return;
	}
	r->state = QKDN_RS_FAILED;
	r->err = err;
	strscpy(r->why, why, sizeof(r->why));
	qkdn_relay_erase_keys(r);
	if (r->report) {
		qkdn_ctrl_notify(qn, QKDN_MSG_KEY_RELAY_RESPONSE, r->id, r->src,
				 r->dst, err);
	} else {
		qkdn_relay_send_done(qn, r->prev_link, r->from, r->id, err,
				     qn->node_id, why);
		qkdn_relay_msg(qn, r, QKDN_MSG_KEY_RELAY_COMPLETION,
			       QKDN_MSG_DIR_SENT, "km", r->src, err);
	}
	qkdn_relay_retire(qn, r);
}

static int qkdn_relay_ask(struct qkdn_net *qn, struct qkdn_relay *r, u32 msg)
{
	int err;

	err = qkdn_ctrl_ask(qn, msg, &r->ctrl_id, r->id, r->src, r->dst,
			    qkdn_relay_hop_bytes(r),
			    r->role == QKDN_RELAY_SRC ? NULL : r->from);
	if (err)
		return err;
	r->ctrl_msg = msg;
	r->ctrl_deadline = jiffies + msecs_to_jiffies(QKDN_CTRL_TIMEOUT_MS);
	r->state = QKDN_RS_ROUTE;
	qkdn_relay_arm(qn);
	return 0;
}

/* Sends the relay's "key relay" frame to the next KM over link. */
static void qkdn_relay_forward(struct qkdn_net *qn, struct qkdn_relay *r,
			       struct qkdn_link *link)
{
	u32 kb = r->key_bytes, n = r->count * kb, mac_bytes = QKDN_MAC_LEN;
	bool newkey = !link->mac_tx.t || link->mac_tx.uses >= QKDN_MAC_KEY_USES;
	struct qkdn_relay_layout l;
	struct qkdn_kx_relay *b;
	u8 hkey[QKDN_MAC_LEN], s[QKDN_MAC_LEN];
	struct qkdn_frame *f;
	u8 *body;
	bool ct;
	u64 seq;
	u32 off;

	if (r->hop >= QKDN_ROUTE_HOPS_MAX) {
		qkdn_relay_fail(qn, r, ELOOP, "too many hops on the relay path");
		return;
	}
	if (!link->up) {
		qkdn_relay_fail(qn, r, EHOSTUNREACH,
				"the KM link to the next hop is down");
		return;
	}
	if (newkey)
		mac_bytes += QKDN_MAC_LEN;
	if (link->own.bytes < n + mac_bytes) {
		qkdn_relay_fail(qn, r, ENOSPC,
				"not enough key on the link to the next hop");
		return;
	}
	ct = r->hop > 1 || r->given;
	qkdn_relay_layout(r->nroute, r->nslaves, r->count, kb, ct, &l);
	f = qkdn_kx_alloc(QKDN_KX_RELAY, l.len, 0);
	if (!f) {
		qkdn_relay_fail(qn, r, ENOMEM, "out of memory");
		return;
	}
	if (newkey) {
		qkdn_store_peek(&link->own, hkey, QKDN_MAC_LEN);
		if (qkdn_mac_setkey(&link->mac_tx, hkey)) {
			memzero_explicit(hkey, sizeof(hkey));
			kfree(f);
			qkdn_relay_fail(qn, r, ENOMEM, "out of memory");
			return;
		}
		memzero_explicit(hkey, sizeof(hkey));
	}

	body = qkdn_kx_body(f);
	b = (struct qkdn_kx_relay *)body;
	memcpy(b->relay_id, r->id, QKDN_RELAY_ID_LEN);
	strscpy(b->src, r->src, sizeof(b->src));
	strscpy(b->dst, r->dst, sizeof(b->dst));
	strscpy(b->master, r->master, sizeof(b->master));
	strscpy(b->slave, r->slave, sizeof(b->slave));
	qkdn_store_position(&link->own, &seq, &off);
	b->pad_seq = cpu_to_le64(seq);
	b->pad_off = cpu_to_le32(off);
	b->key_bytes = cpu_to_le16(kb);
	b->count = cpu_to_le16(r->count);
	b->hop = r->hop;
	b->flags = (newkey ? QKDN_RELAY_F_NEWKEY : 0) |
		   (r->reserve ? QKDN_RELAY_F_RESERVE : 0) |
		   (r->hop == 1 && r->given ? QKDN_RELAY_F_GIVEN : 0);
	b->nroute = r->nroute;
	b->nslaves = r->nslaves;
	if (r->nroute)
		memcpy(body + l.route, r->route, r->nroute * QKDN_ID_MAX);
	if (r->nslaves)
		memcpy(body + l.slaves, r->slaves, r->nslaves * QKDN_ID_MAX);
	memcpy(body + l.ids, r->ids, r->count * QKDN_KEY_ID_LEN);

	/* The pool, in this order: [hash key] tag pad, key pad. */
	if (newkey)
		qkdn_store_take(&link->own, NULL, QKDN_MAC_LEN);
	qkdn_store_take(&link->own, s, QKDN_MAC_LEN);
	if (!ct) {
		/* The first link's key is the relayed key. */
		qkdn_store_take(&link->own, r->keys, n);
	} else {
		qkdn_store_take(&link->own, body + l.ct, n);
		crypto_xor(body + l.ct, r->keys, n);
	}
	qkdn_mac_tag(&link->mac_tx, body, l.tag, s, body + l.tag);
	memzero_explicit(s, sizeof(s));
	link->mac_tx.uses++;

	link->stats.relay_tx++;
	link->stats.relay_key_bytes += n;
	link->stats.relay_pad_bytes += n;
	link->stats.relay_mac_bytes += mac_bytes;
	qkdn_kx_queue(link, f);

	r->next_link = link->id;
	strscpy(r->to, link->peer, sizeof(r->to));
	r->state = r->reserve ? QKDN_RS_RESERVED : QKDN_RS_SENT;
	if (r->role != QKDN_RELAY_SRC)
		r->expires = jiffies + msecs_to_jiffies(QKDN_RELAY_RECORD_MS);
	if (!r->reserve)
		qkdn_relay_msg(qn, r, QKDN_MSG_KEY_RELAY, QKDN_MSG_DIR_SENT,
			       "km", link->peer, 0);
	if (r->role == QKDN_RELAY_HOP) {
		/* Passed on: this node forgets the keys at once. */
		qkdn_relay_erase_keys(r);
		qn->rstats.relays_forwarded++;
	} else if (r->role == QKDN_RELAY_SRC) {
		/* The keys are known now: a multicast waits for them. */
		qn->relay_gen++;
		wake_up_all(&qn->relay_wq);
	}
}

/* Where the relay goes from here, once known. */
static void qkdn_relay_next(struct qkdn_net *qn, struct qkdn_relay *r,
			    const char *next)
{
	struct qkdn_link *link = qkdn_link_by_peer(qn, next);

	if (!link) {
		qkdn_relay_fail(qn, r, EHOSTUNREACH,
				"no KM link to the next hop of the route");
		return;
	}
	qkdn_relay_forward(qn, r, link);
}

/*
 * Q.4160 I.3/I.4a/I.5: a key request for an SAE behind another KM, and
 * each slave node of a multicast request. The relay goes straight over a
 * link to the destination that holds enough key; otherwise the controller
 * routes it.
 */
struct qkdn_relay *qkdn_relay_start(struct qkdn_net *qn,
				    const struct qkdn_relay_req *req,
				    struct netlink_ext_ack *extack)
{
	struct qkdn_link *link;
	struct qkdn_relay *r;
	uuid_t id;
	u32 msg;
	int err;

	if (req->count > qkdn_relay_frame_keys_max(req->key_bytes,
						   req->nslaves)) {
		NL_SET_ERR_MSG(extack,
			       "too many key bytes to relay in one request");
		return ERR_PTR(-E2BIG);
	}
	uuid_gen(&id);
	r = qkdn_relay_new(qn, id.b, QKDN_RELAY_SRC, req->count,
			   req->key_bytes);
	if (IS_ERR(r)) {
		if (PTR_ERR(r) == -EBUSY)
			NL_SET_ERR_MSG(extack, "too many key relays in progress");
		return r;
	}
	if (req->nslaves) {
		r->slaves = kmemdup(req->slaves,
				    req->nslaves * sizeof(*req->slaves),
				    GFP_KERNEL);
		if (!r->slaves) {
			qkdn_relay_free(qn, r);
			return ERR_PTR(-ENOMEM);
		}
		r->nslaves = req->nslaves;
	}
	if (req->keys_of) {
		/* Encrypted on the first hop too, as on every other. */
		memcpy(r->keys, req->keys_of->keys, req->count * req->key_bytes);
		r->given = true;
	}
	strscpy(r->src, qn->node_id, sizeof(r->src));
	strscpy(r->dst, req->dst, sizeof(r->dst));
	strscpy(r->master, req->master, sizeof(r->master));
	strscpy(r->slave, req->slave, sizeof(r->slave));
	memcpy(r->ids, req->ids, req->count * QKDN_KEY_ID_LEN);
	r->hop = 1;
	r->expires = jiffies + msecs_to_jiffies(QKDN_RELAY_TIMEOUT_MS);

	link = qkdn_link_by_peer(qn, req->dst);
	if (link && link->up && link->own.bytes >= qkdn_relay_hop_bytes(r)) {
		qn->rstats.relays_started++;
		qkdn_relay_forward(qn, r, link);
		return r;
	}
	msg = qn->ctrl_mode == QKDN_CTRL_CENTRALIZED ?
	      QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION :
	      QKDN_MSG_NEXT_HOP_REQUEST;
	err = qkdn_relay_ask(qn, r, msg);
	if (err) {
		qkdn_relay_free(qn, r);
		NL_SET_ERR_MSG(extack, "no QKDN controller to route the key relay");
		/* Nobody listens on "ctrl" in this node: the caller decides. */
		return ERR_PTR(err == -EHOSTUNREACH ? -ENOTCONN : err);
	}
	qn->rstats.relays_started++;
	return r;
}

/*
 * Waits, with qn->lock held, until the n relays started here are all in
 * state (or later), or one has failed: a multicast stops at its first
 * failure. Returns that failure, with its message in extack.
 */
static int qkdn_relay_wait_all(struct qkdn_net *qn, struct qkdn_relay **rs,
			       u32 n, u8 state, struct netlink_ext_ack *extack)
{
	struct qkdn_relay *failed = NULL, *next;
	unsigned long gen;
	long left;
	u32 i;

	for (;;) {
		next = NULL;
		for (i = 0; i < n && !failed; i++) {
			if (rs[i]->state == QKDN_RS_FAILED)
				failed = rs[i];
			else if (rs[i]->state < state &&
				 (!next || time_before(rs[i]->expires,
						       next->expires)))
				next = rs[i];
		}
		if (failed || !next)
			break;
		left = (long)(next->expires - jiffies);
		if (left <= 0 || qn->dying) {
			qkdn_relay_src_end(qn, next, ETIMEDOUT, qn->node_id,
					   "the key relay did not complete in time");
			continue;
		}
		gen = qn->relay_gen;
		mutex_unlock(&qn->lock);
		left = wait_event_interruptible_timeout(qn->relay_wq,
							READ_ONCE(qn->relay_gen) != gen ||
							READ_ONCE(qn->dying),
							left);
		mutex_lock(&qn->lock);
		if (left < 0 && next->state < state &&
		    next->state != QKDN_RS_FAILED)
			qkdn_relay_src_end(qn, next, EINTR, qn->node_id,
					   "interrupted");
	}
	if (!failed)
		return 0;
	/* NL_SET_ERR_MSG() takes literals only; the ring keeps this one. */
	if (extack)
		extack->_msg = qkdn_relay_errmsg(qn, failed->where, failed->why);
	return -failed->err;
}

/* Waits for the n relays of a request to end, or one to fail. */
int qkdn_relay_wait_many(struct qkdn_net *qn, struct qkdn_relay **rs, u32 n,
			 struct netlink_ext_ack *extack)
{
	return qkdn_relay_wait_all(qn, rs, n, QKDN_RS_DONE, extack);
}

/*
 * Waits until the relay started here holds its keys: it has left, or
 * (I.4b) is reserved on its first link.
 */
int qkdn_relay_wait_keys(struct qkdn_net *qn, struct qkdn_relay *r,
			 struct netlink_ext_ack *extack)
{
	return qkdn_relay_wait_all(qn, &r, 1, QKDN_RS_RESERVED, extack);
}

/*
 * Another relay of the same multicast failed: this one is given up, and
 * counts as failed, not done.
 */
void qkdn_relay_cancel(struct qkdn_net *qn, struct qkdn_relay *r)
{
	if (r->state == QKDN_RS_FAILED)
		return;
	if (r->state == QKDN_RS_DONE)
		qn->rstats.relays_done--;
	qkdn_relay_src_end(qn, r, ECANCELED, qn->node_id,
			   "the key relay to another slave SAE failed");
}

/* Whether the relay that ended here named slave among its slave SAEs. */
bool qkdn_relay_names_slave(struct qkdn_net *qn, const u8 *relay_id,
			    const char *slave)
{
	struct qkdn_relay *r = qkdn_relay_find(qn, relay_id);
	u32 i;

	if (!r || r->role != QKDN_RELAY_DST)
		return false;
	for (i = 0; i <= r->nslaves; i++)
		if (!strcmp(qkdn_relay_slave(r, i), slave))
			return true;
	return false;
}

void qkdn_relay_keys(struct qkdn_relay *r, u8 *first, size_t stride)
{
	u32 i;

	for (i = 0; i < r->count; i++)
		memcpy(first + i * stride, r->keys + i * r->key_bytes,
		       r->key_bytes);
}

/* The request that started the relay is done with it. */
void qkdn_relay_finish(struct qkdn_net *qn, struct qkdn_relay *r)
{
	/* Given up while on its way: the path and the destination forget it. */
	if (r->state == QKDN_RS_FAILED && r->next_link &&
	    (r->err == ETIMEDOUT || r->err == EINTR || r->err == ECANCELED ||
	     r->reserve))
		qkdn_relay_send_abort(qn, r->next_link, r->to, r->id);
	qkdn_relay_free(qn, r);
}

/* An answer of the controller fits the request it names. */
int qkdn_relay_check_answer(struct qkdn_net *qn, struct qkdn_relay *r,
			    u32 want, struct qkdn_hop *route,
			    unsigned int n, struct netlink_ext_ack *extack)
{
	if (!r || r->ctrl_msg != want) {
		NL_SET_ERR_MSG(extack,
			       "no controller request with this ID is waiting");
		return -ENOENT;
	}
	if (n > 1 && strcmp(route[0].id, qn->node_id)) {
		NL_SET_ERR_MSG(extack, "the route does not start at this node");
		return -EINVAL;
	}
	if (n > 1 && strcmp(route[n - 1].id, r->dst)) {
		NL_SET_ERR_MSG(extack,
			       "the route does not end at the relay's destination");
		return -EINVAL;
	}
	return 0;
}

/* The controller answered with the next hop (n == 1) or the route. */
int qkdn_relay_routed(struct qkdn_net *qn, struct qkdn_relay *r, u32 msg,
		      struct qkdn_hop *route, unsigned int n,
		      struct netlink_ext_ack *extack)
{
	const char *next = n == 1 ? route[0].id : route[1].id;

	if (!qkdn_link_by_peer(qn, next)) {
		NL_SET_ERR_MSG(extack, "this node has no KM link to the next hop");
		return -EHOSTUNREACH;
	}
	if (n > 1) {
		r->route = kmemdup(route, n * QKDN_ID_MAX, GFP_KERNEL);
		if (!r->route)
			return -ENOMEM;
		r->nroute = n;
	}
	r->ctrl_id = 0;
	qkdn_relay_msg(qn, r, msg, QKDN_MSG_DIR_RECEIVED, "controller", NULL,
		       0);
	qkdn_relay_next(qn, r, next);
	return 0;
}

/*
 * I.4b 1: the controller answers KM1's "key relay request notification"
 * with a "key reservation request": keys are reserved on the link to the
 * next node, which holds them until the controller's "key relay request".
 */
int qkdn_relay_reserve(struct qkdn_net *qn, struct qkdn_relay *r,
		       const char *next, struct netlink_ext_ack *extack)
{
	if (!qkdn_link_by_peer(qn, next)) {
		NL_SET_ERR_MSG(extack, "this node has no KM link to the next hop");
		return -EHOSTUNREACH;
	}
	if (!strcmp(next, r->dst)) {
		NL_SET_ERR_MSG(extack,
			       "a key reservation needs a route through another node");
		return -EINVAL;
	}
	r->ctrl_id = 0;
	r->reserve = true;
	qkdn_relay_msg(qn, r, QKDN_MSG_KEY_RESERVATION_REQUEST,
		       QKDN_MSG_DIR_RECEIVED, "controller", NULL, 0);
	qkdn_relay_next(qn, r, next);
	if (r->state != QKDN_RS_RESERVED) {
		if (extack)
			extack->_msg = qkdn_relay_errmsg(qn, r->where, r->why);
		return -r->err;
	}
	qkdn_relay_msg(qn, r, QKDN_MSG_KEY_RESERVATION_RESPONSE,
		       QKDN_MSG_DIR_SENT, "controller", NULL, 0);
	return 0;
}

/* I.4b 2: "key relay request" to the KM that holds a reservation. */
int qkdn_relay_request(struct qkdn_net *qn, const u8 *id,
		       struct qkdn_hop *route, unsigned int n,
		       struct netlink_ext_ack *extack)
{
	struct qkdn_relay *r = qkdn_relay_find(qn, id);

	if (!r || r->role != QKDN_RELAY_HOP || r->state != QKDN_RS_RESERVED) {
		NL_SET_ERR_MSG(extack, "no key reservation for this relay here");
		return -ENOENT;
	}
	if (n < 3 || strcmp(route[0].id, r->src) ||
	    strcmp(route[1].id, qn->node_id) || strcmp(route[n - 1].id, r->dst)) {
		NL_SET_ERR_MSG(extack,
			       "the route must run from the relay's source through this node to its destination");
		return -EINVAL;
	}
	if (!qkdn_link_by_peer(qn, route[2].id)) {
		NL_SET_ERR_MSG(extack, "this node has no KM link to the next hop");
		return -EHOSTUNREACH;
	}
	r->route = kmemdup(route, n * sizeof(*route), GFP_KERNEL);
	if (!r->route)
		return -ENOMEM;
	r->nroute = n;
	r->hop = 2;
	r->report = true;
	qkdn_relay_msg(qn, r, QKDN_MSG_KEY_RELAY_REQUEST, QKDN_MSG_DIR_RECEIVED,
		       "controller", NULL, 0);
	qkdn_relay_next(qn, r, route[2].id);
	return 0;
}

/* I.4b 4: "key allocation request": the reserved keys are KM1's to use. */
int qkdn_relay_allocate(struct qkdn_net *qn, const u8 *id, int err,
			const char *why, struct netlink_ext_ack *extack)
{
	struct qkdn_relay *r = qkdn_relay_find(qn, id);

	if (!r || r->role != QKDN_RELAY_SRC || r->state != QKDN_RS_RESERVED) {
		NL_SET_ERR_MSG(extack, "no key reservation for this relay here");
		return -ENOENT;
	}
	qkdn_relay_msg(qn, r, QKDN_MSG_KEY_ALLOCATION_REQUEST,
		       QKDN_MSG_DIR_RECEIVED, "controller", NULL, err);
	/* On failure, qkdn_relay_finish() aborts along the path. */
	qkdn_relay_src_end(qn, r, err, err ? "the QKDN controller" : r->dst,
			   why);
	qkdn_relay_msg(qn, r, QKDN_MSG_KEY_ALLOCATION_RESPONSE,
		       QKDN_MSG_DIR_SENT, "controller", NULL, err);
	return 0;
}

void qkdn_relay_ctrl_fail(struct qkdn_net *qn, struct qkdn_relay *r,
			  int err, const char *why)
{
	r->ctrl_id = 0;
	strscpy(r->why, why, sizeof(r->why));
	qkdn_relay_msg(qn, r, r->ctrl_msg == QKDN_MSG_NEXT_HOP_REQUEST ?
		       QKDN_MSG_NEXT_HOP_RESPONSE : QKDN_MSG_KEY_RELAY_REQUEST,
		       QKDN_MSG_DIR_RECEIVED, "controller", NULL, err);
	qkdn_relay_fail(qn, r, err, why);
}

/* Controller answers overdue; records of finished relays. */
void qkdn_relay_work(struct work_struct *work)
{
	struct qkdn_net *qn = container_of(to_delayed_work(work),
					   struct qkdn_net, relay_work);
	struct hlist_node *tmp;
	struct qkdn_relay *r;
	unsigned int bkt;

	mutex_lock(&qn->lock);
	hash_for_each_safe(qn->relays, bkt, tmp, r, hnode) {
		if (r->ctrl_id && time_after(jiffies, r->ctrl_deadline))
			qkdn_relay_fail(qn, r, ETIMEDOUT,
					"the QKDN controller did not answer");
		if (r->role != QKDN_RELAY_SRC && time_after(jiffies, r->expires)) {
			if (r->role == QKDN_RELAY_DST)
				qkdn_relay_drop_keys(qn, r);
			qkdn_relay_free(qn, r);
		}
	}
	qkdn_session_timeouts(qn);
	if ((qn->nrelays || qkdn_session_busy(qn)) && !qn->dying)
		mod_delayed_work(qkdn_wq, &qn->relay_work, HZ / 5);
	mutex_unlock(&qn->lock);
}

/* ---- frames from the previous or next KM ---- */

/* Whether any of n key IDs appears twice. */
bool qkdn_ids_repeat(const u8 *ids, u32 n)
{
	u32 i, j;

	for (i = 1; i < n; i++)
		for (j = 0; j < i; j++)
			if (!memcmp(ids + i * QKDN_KEY_ID_LEN,
				    ids + j * QKDN_KEY_ID_LEN, QKDN_KEY_ID_LEN))
				return true;
	return false;
}

static bool qkdn_relay_str_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) && qkdn_id_valid(s);
}

int qkdn_relay_validate(u8 type, const u8 *body, u32 len,
			struct netlink_ext_ack *extack)
{
	const struct qkdn_kx_relay *b = (const void *)body;
	struct qkdn_relay_layout l;
	u32 kb, count, i;

	switch (type) {
	case QKDN_KX_RELAY:
		break;
	case QKDN_KX_RELAY_DONE: {
		const struct qkdn_kx_relay_done *d = (const void *)body;

		if (len != sizeof(*d))
			goto bad_len;
		if (!qkdn_relay_str_ok(d->where, sizeof(d->where)) ||
		    !memchr(d->why, '\0', sizeof(d->why)) ||
		    le32_to_cpu(d->err) > QKDN_ERRNO_MAX) {
			NL_SET_ERR_MSG(extack, "Kx relay completion malformed");
			return -EINVAL;
		}
		return 0;
	}
	case QKDN_KX_RELAY_ABORT:
		if (len != sizeof(struct qkdn_kx_relay_abort))
			goto bad_len;
		return 0;
	default:
		return -EINVAL;
	}

	if (len < sizeof(*b))
		goto bad_len;
	kb = le16_to_cpu(b->key_bytes);
	count = le16_to_cpu(b->count);
	if (kb < QKDN_KEY_SIZE_MIN / 8 || kb > QKDN_KEY_SIZE_MAX / 8 ||
	    !count || count > QKDN_KEYS_PER_REQUEST) {
		NL_SET_ERR_MSG(extack, "Kx relay key size or count out of range");
		return -EINVAL;
	}
	if (!b->hop || b->hop >= QKDN_ROUTE_HOPS_MAX ||
	    b->nroute == 1 || b->nroute > QKDN_ROUTE_HOPS_MAX ||
	    (b->nroute && b->hop >= b->nroute) ||
	    (b->flags & ~(QKDN_RELAY_F_NEWKEY | QKDN_RELAY_F_RESERVE |
			  QKDN_RELAY_F_GIVEN)) ||
	    ((b->flags & QKDN_RELAY_F_RESERVE) && (b->hop != 1 || b->nroute)) ||
	    ((b->flags & QKDN_RELAY_F_GIVEN) && b->hop != 1)) {
		NL_SET_ERR_MSG(extack, "Kx relay hop, route or flags malformed");
		return -EINVAL;
	}
	if (b->nslaves >= QKDN_SLAVES_MAX) {
		NL_SET_ERR_MSG(extack, "Kx relay names too many slave SAEs");
		return -EINVAL;
	}
	if (!qkdn_relay_str_ok(b->src, QKDN_ID_MAX) ||
	    !qkdn_relay_str_ok(b->dst, QKDN_ID_MAX) ||
	    !qkdn_relay_str_ok(b->master, QKDN_ID_MAX) ||
	    !qkdn_relay_str_ok(b->slave, QKDN_ID_MAX)) {
		NL_SET_ERR_MSG(extack, "Kx relay node or SAE ID malformed");
		return -EINVAL;
	}
	qkdn_relay_layout(b->nroute, b->nslaves, count, kb,
			  b->hop > 1 || (b->flags & QKDN_RELAY_F_GIVEN), &l);
	if (len != l.len)
		goto bad_len;
	for (i = 0; i < b->nroute; i++) {
		const char *node = (const char *)body + l.route +
				   i * QKDN_ID_MAX;

		if (!qkdn_relay_str_ok(node, QKDN_ID_MAX)) {
			NL_SET_ERR_MSG(extack, "Kx relay route malformed");
			return -EINVAL;
		}
	}
	for (i = 0; i < b->nslaves; i++) {
		const char *sae = (const char *)body + l.slaves +
				  i * QKDN_ID_MAX;
		u32 j;

		if (!qkdn_relay_str_ok(sae, QKDN_ID_MAX) ||
		    !strcmp(sae, b->slave)) {
			NL_SET_ERR_MSG(extack, "Kx relay slave SAEs malformed");
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (!strcmp(sae, (const char *)body + l.slaves +
					 j * QKDN_ID_MAX)) {
				NL_SET_ERR_MSG(extack,
					       "Kx relay names a slave SAE twice");
				return -EINVAL;
			}
		}
	}
	if (qkdn_ids_repeat(body + l.ids, count)) {
		NL_SET_ERR_MSG(extack, "Kx relay names a key ID twice");
		return -EINVAL;
	}
	if (b->nroute &&
	    (strcmp((const char *)body + l.route, b->src) ||
	     strcmp((const char *)body + l.route +
		    (b->nroute - 1) * QKDN_ID_MAX, b->dst))) {
		NL_SET_ERR_MSG(extack, "Kx relay route does not join its ends");
		return -EINVAL;
	}
	return 0;

bad_len:
	NL_SET_ERR_MSG(extack, "Kx relay frame length does not match its content");
	return -EINVAL;
}

/*
 * The destination: the keys wait for the slave SAEs' key requests, one
 * copy for each slave SAE (multicast), each supplied once.
 */
static void qkdn_relay_deliver(struct qkdn_net *qn, struct qkdn_relay *r)
{
	u32 nsaes = 1 + r->nslaves, n = r->count * nsaes;
	struct qkdn_key **keys;
	u32 i;

	for (i = 0; i < nsaes; i++) {
		struct qkdn_sae *slave;

		slave = qkdn_sae_find(qn, qkdn_relay_slave(r, i));
		if (!slave || !slave->local) {
			qkdn_relay_fail(qn, r, EHOSTUNREACH,
					"the slave SAE is not served here");
			return;
		}
	}
	if (qn->rkeys.n + n > QKDN_RESERVED_KEYS_MAX) {
		qkdn_relay_fail(qn, r, ENOSPC,
				"too many relayed keys wait for their SAEs here");
		return;
	}
	for (i = 0; i < r->count; i++) {
		if (qkdn_keytab_find(&qn->rkeys, r->ids + i * QKDN_KEY_ID_LEN)) {
			qkdn_relay_fail(qn, r, EEXIST, "key ID already in use");
			return;
		}
	}
	keys = kcalloc(n, sizeof(*keys), GFP_KERNEL);
	if (!keys)
		goto nomem;
	for (i = 0; i < n; i++) {
		keys[i] = kzalloc(struct_size(keys[i], data, r->key_bytes),
				  GFP_KERNEL);
		if (!keys[i])
			goto nomem_free;
	}
	for (i = 0; i < n; i++) {
		struct qkdn_key *k = keys[i];
		u32 key = i % r->count;

		memcpy(k->id, r->ids + key * QKDN_KEY_ID_LEN, QKDN_KEY_ID_LEN);
		memcpy(k->relay, r->id, QKDN_RELAY_ID_LEN);
		strscpy(k->master, r->master, sizeof(k->master));
		strscpy(k->slave, qkdn_relay_slave(r, i / r->count),
			sizeof(k->slave));
		k->len = r->key_bytes;
		memcpy(k->data, r->keys + key * r->key_bytes, r->key_bytes);
		qkdn_keytab_insert(&qn->rkeys, k);
	}
	kfree(keys);
	qkdn_relay_erase_keys(r);
	r->state = QKDN_RS_DONE;
	r->left = n;
	r->expires = jiffies + msecs_to_jiffies(QKDN_RELAYED_KEY_TTL_MS);
	qn->rstats.relays_ended++;
	qn->rstats.keys_received += n;
	qkdn_relay_send_done(qn, r->prev_link, r->from, r->id, 0, qn->node_id,
			     "");
	qkdn_relay_msg(qn, r, QKDN_MSG_KEY_RELAY_COMPLETION, QKDN_MSG_DIR_SENT,
		       "km", r->src, 0);
	qn->keys_gen++;
	wake_up_all(&qn->keys_wq);
	return;

nomem_free:
	while (i--)
		kfree(keys[i]);
	kfree(keys);
nomem:
	qkdn_relay_fail(qn, r, ENOMEM, "out of memory");
}

static int qkdn_relay_rx_relay(struct qkdn_link *link,
			       const struct qkdn_kx_relay *b, u32 len,
			       struct netlink_ext_ack *extack)
{
	u32 kb = le16_to_cpu(b->key_bytes), count = le16_to_cpu(b->count);
	bool newkey = b->flags & QKDN_RELAY_F_NEWKEY;
	const u8 *body = (const u8 *)b;
	struct qkdn_net *qn = link->qn;
	u32 n = count * kb, need = n + QKDN_MAC_LEN;
	struct qkdn_mac mac = {};
	u8 tag[QKDN_MAC_LEN];
	struct qkdn_relay_layout l;
	struct qkdn_relay *r;
	u8 *keys, *buf, *pad;
	const char *why;
	bool mac_ok, ct;
	u64 seq;
	u32 off;
	int err;

	ct = b->hop > 1 || (b->flags & QKDN_RELAY_F_GIVEN);
	qkdn_relay_layout(b->nroute, b->nslaves, count, kb, ct, &l);
	if (newkey)
		need += QKDN_MAC_LEN;
	qkdn_store_position(&link->theirs, &seq, &off);
	if (seq != le64_to_cpu(b->pad_seq) || off != le32_to_cpu(b->pad_off) ||
	    link->theirs.bytes < need) {
		NL_SET_ERR_MSG(extack, "Kx relay does not match the pool");
		return -EPROTO;
	}
	/*
	 * The MAC is checked before a byte is taken: a frame that fails it
	 * (changed on its way) leaves the pool and the MAC key as they were
	 * and is not acknowledged, so the sender's copy comes again.
	 */
	keys = kzalloc(n, GFP_KERNEL);
	buf = kmalloc(need, GFP_KERNEL);
	if (!keys || !buf) {
		kfree(keys);
		kfree(buf);
		return -ENOMEM;
	}
	qkdn_store_peek(&link->theirs, buf, need);
	pad = buf + need - n;
	if (newkey) {
		err = qkdn_mac_setkey(&mac, buf);
		if (err)
			goto drop;
	}
	mac_ok = false;
	if (newkey || link->mac_rx.t) {
		qkdn_mac_tag(newkey ? &mac : &link->mac_rx, body, l.tag,
			     pad - QKDN_MAC_LEN, tag);
		mac_ok = !crypto_memneq(tag, body + l.tag, QKDN_MAC_LEN);
	}
	memzero_explicit(tag, sizeof(tag));
	if (!mac_ok) {
		link->stats.relay_mac_fail++;
		pr_warn_ratelimited("link %u: key relay frame from %s failed its MAC check\n",
				    link->id, link->peer);
		NL_SET_ERR_MSG(extack, "Kx relay frame failed its MAC check");
		err = -EBADMSG;
		goto drop;
	}
	qkdn_store_take(&link->theirs, NULL, need);
	if (newkey) {
		qkdn_mac_clear(&link->mac_rx);
		link->mac_rx = mac;
	}
	link->mac_rx.uses++;
	memcpy(keys, pad, n);
	kfree_sensitive(buf);
	link->stats.relay_rx++;
	link->stats.relay_pad_bytes += n;
	link->stats.relay_mac_bytes += need - n;
	if (ct)
		crypto_xor(keys, body + l.ct, n);

	why = NULL;
	if (qkdn_relay_find(qn, b->relay_id)) {
		err = ELOOP;
		why = "the key relay passed this KM twice";
	} else if (b->nroute &&
		   (strcmp((const char *)body + l.route +
			   b->hop * QKDN_ID_MAX, qn->node_id) ||
		    strcmp((const char *)body + l.route +
			   (b->hop - 1) * QKDN_ID_MAX, link->peer))) {
		err = EINVAL;
		why = "the key relay route does not pass here";
	} else if (!strcmp(b->src, qn->node_id)) {
		err = ELOOP;
		why = "the key relay came back to its source";
	} else if (b->hop == 1 && strcmp(b->src, link->peer)) {
		err = EINVAL;
		why = "the first hop of a key relay comes from its source";
	}
	if (why) {
		kfree_sensitive(keys);
		qkdn_relay_send_done(qn, link->id, link->peer, b->relay_id,
				     err, qn->node_id, why);
		qkdn_nl_msg(qn, QKDN_MSG_KEY_RELAY_COMPLETION, QKDN_MSG_DIR_SENT,
			    "km", b->src, b->relay_id, b->src, b->dst, count,
			    err, why);
		return 0;
	}

	r = qkdn_relay_new(qn, b->relay_id, strcmp(b->dst, qn->node_id) ?
			   QKDN_RELAY_HOP : QKDN_RELAY_DST, count, kb);
	if (IS_ERR(r)) {
		kfree_sensitive(keys);
		why = PTR_ERR(r) == -EBUSY ? "too many key relays in progress" :
					     "out of memory";
		qkdn_relay_send_done(qn, link->id, link->peer, b->relay_id,
				     -PTR_ERR(r), qn->node_id, why);
		return 0;
	}
	kfree_sensitive(r->keys);
	r->keys = keys;
	r->prev_link = link->id;
	r->hop = b->hop + 1;
	strscpy(r->src, b->src, sizeof(r->src));
	strscpy(r->dst, b->dst, sizeof(r->dst));
	strscpy(r->master, b->master, sizeof(r->master));
	strscpy(r->slave, b->slave, sizeof(r->slave));
	strscpy(r->from, link->peer, sizeof(r->from));
	memcpy(r->ids, body + l.ids, count * QKDN_KEY_ID_LEN);
	if (b->nslaves) {
		r->slaves = kmemdup(body + l.slaves, b->nslaves * QKDN_ID_MAX,
				    GFP_KERNEL);
		if (!r->slaves) {
			qkdn_relay_fail(qn, r, ENOMEM, "out of memory");
			return 0;
		}
		r->nslaves = b->nslaves;
	}
	if (!(b->flags & QKDN_RELAY_F_RESERVE))
		qkdn_relay_msg(qn, r, QKDN_MSG_KEY_RELAY, QKDN_MSG_DIR_RECEIVED,
			       "km", link->peer, 0);

	if (r->role == QKDN_RELAY_DST) {
		qkdn_relay_deliver(qn, r);
		return 0;
	}
	if (b->flags & QKDN_RELAY_F_RESERVE) {
		/* I.4b: the controller sends the route ("key relay request"). */
		r->state = QKDN_RS_RESERVED;
		return 0;
	}
	if (b->nroute) {
		r->route = kmemdup(body + l.route, b->nroute * QKDN_ID_MAX,
				   GFP_KERNEL);
		if (!r->route) {
			qkdn_relay_fail(qn, r, ENOMEM, "out of memory");
			return 0;
		}
		r->nroute = b->nroute;
		qkdn_relay_next(qn, r, r->route[r->hop].id);
		return 0;
	}
	if (qkdn_relay_ask(qn, r, QKDN_MSG_NEXT_HOP_REQUEST))
		qkdn_relay_fail(qn, r, EHOSTUNREACH,
				"no QKDN controller to route the key relay");
	return 0;

drop:
	qkdn_mac_clear(&mac);
	kfree_sensitive(buf);
	kfree_sensitive(keys);
	return err;
}

static void qkdn_relay_rx_done(struct qkdn_link *link,
			       const struct qkdn_kx_relay_done *d)
{
	struct qkdn_net *qn = link->qn;
	struct qkdn_relay *r = qkdn_relay_find(qn, d->relay_id);
	int err = le32_to_cpu(d->err);

	if (!r || r->next_link != link->id ||
	    (r->state != QKDN_RS_SENT &&
	     !(r->state == QKDN_RS_RESERVED && err)))
		return;		/* given up already, or not ours */
	if (r->role == QKDN_RELAY_SRC) {
		strscpy(r->why, d->why, sizeof(r->why));
		qkdn_relay_msg(qn, r, QKDN_MSG_KEY_RELAY_COMPLETION,
			       QKDN_MSG_DIR_RECEIVED, "km", d->where, err);
		qkdn_relay_src_end(qn, r, err, d->where, d->why);
		return;
	}
	r->state = err ? QKDN_RS_FAILED : QKDN_RS_DONE;
	if (r->report) {
		/* I.4b: this KM started the relay for the controller. */
		qkdn_relay_msg(qn, r, QKDN_MSG_KEY_RELAY_COMPLETION,
			       QKDN_MSG_DIR_RECEIVED, "km", d->where, err);
		qkdn_ctrl_notify(qn, QKDN_MSG_KEY_RELAY_RESPONSE, r->id, r->src,
				 r->dst, err);
	} else {
		/* Back towards the source, as it came. */
		qkdn_relay_send_done(qn, r->prev_link, r->from, r->id, err,
				     d->where, d->why);
	}
	qkdn_relay_retire(qn, r);
}

static void qkdn_relay_rx_abort(struct qkdn_link *link,
				const struct qkdn_kx_relay_abort *a)
{
	struct qkdn_net *qn = link->qn;
	struct qkdn_relay *r = qkdn_relay_find(qn, a->relay_id);

	if (!r || r->prev_link != link->id || r->role == QKDN_RELAY_SRC)
		return;
	qn->rstats.relays_aborted++;
	if (r->role == QKDN_RELAY_DST) {
		/* Keys the slave SAE has not taken yet are erased. */
		qkdn_relay_drop_keys(qn, r);
	} else if (r->next_link &&
		   (r->state == QKDN_RS_SENT || r->state == QKDN_RS_DONE)) {
		qkdn_relay_send_abort(qn, r->next_link, r->to, r->id);
		if (r->report && r->state == QKDN_RS_SENT)
			qkdn_ctrl_notify(qn, QKDN_MSG_KEY_RELAY_RESPONSE, r->id,
					 r->src, r->dst, ECANCELED);
	}
	r->ctrl_id = 0;
	r->state = QKDN_RS_FAILED;
	qkdn_relay_erase_keys(r);
	qkdn_relay_retire(qn, r);
}

int qkdn_relay_rx(struct qkdn_link *link, u8 type, const u8 *body, u32 len,
		  struct netlink_ext_ack *extack)
{
	switch (type) {
	case QKDN_KX_RELAY:
		return qkdn_relay_rx_relay(link, (const void *)body, len,
					   extack);
	case QKDN_KX_RELAY_DONE:
		qkdn_relay_rx_done(link, (const void *)body);
		return 0;
	case QKDN_KX_RELAY_ABORT:
		qkdn_relay_rx_abort(link, (const void *)body);
		return 0;
	}
	return -EINVAL;
}
