// SPDX-License-Identifier: GPL-2.0
/*
 * Kx: frames between the KMs at the two ends of a link.
 *
 * The kernel builds every frame; the link daemon carries them over TLS and
 * hands the peer's frames back, never looking inside. Frames carry no key
 * bytes in clear: Kx-2 metadata (which blocks an end holds, which keys it
 * reserved or supplied: key ID, position in the stream, SAE pair; how a
 * relay ended) and Kx-1 key relay frames, whose keys are one-time-pad
 * ciphertext (relay.c).
 *
 * Delivery is reliable and ordered whatever happens to the daemon or the
 * channel: each sequenced frame stays queued until the peer's kernel
 * acknowledges it (cumulative acknowledgment in every frame header); when
 * the channel comes up again, or nothing was acknowledged for a while,
 * everything unacknowledged is sent again, and the receiver ignores what it
 * has already processed (go-back-N).
 *
 * Each link instance has a random epoch. A frame names its sender's epoch
 * and the receiver's epoch as the sender knows it, so that frames meant for
 * an earlier instance of a link (the peer deleted and re-created it, or its
 * node restarted) are ignored, and an end that sees a new epoch from its
 * peer starts the Kx session and the block synchronisation afresh.
 */

#include <linux/random.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "qkdn.h"

#define QKDN_KX_VERSION		1

struct qkdn_kx_hdr {
	u8 version;
	u8 type;
	__le16 len;		/* whole frame */
	__le32 src_epoch;	/* the sender's link instance */
	__le32 dst_epoch;	/* the receiver's, as the sender knows it, or 0 */
	__le32 reserved;
	__le64 seq;		/* 0 for unsequenced frames */
	__le64 ack;		/* last in-order frame received */
} __packed;

struct qkdn_kx_range {
	__le64 start;
	__le32 count;
	__le32 reserved;
} __packed;

struct qkdn_kx_blocks {
	__le32 count;
	__le32 reserved;
	struct qkdn_kx_range r[];
} __packed;

struct qkdn_kx_reserve {
	__le64 block_seq;	/* where the keys start in the stream */
	__le32 offset;
	__le16 key_bytes;
	__le16 count;
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
	u8 ids[][QKDN_KEY_ID_LEN];
} __packed;

#define QKDN_KX_BLOCKS_MAX \
	((QKDN_KX_FRAME_MAX - sizeof(struct qkdn_kx_hdr) - \
	  sizeof(struct qkdn_kx_blocks)) / sizeof(struct qkdn_kx_range))
#define QKDN_KX_RESERVE_KEYS_MAX \
	((QKDN_KX_FRAME_MAX - sizeof(struct qkdn_kx_hdr) - \
	  sizeof(struct qkdn_kx_reserve)) / QKDN_KEY_ID_LEN)

/* Room left in a new frame for later blocks or keys to join it. */
#define QKDN_KX_BLOCKS_ROOM	32
#define QKDN_KX_RESERVE_ROOM	128

void qkdn_kx_link_init(struct qkdn_link *link)
{
	BUILD_BUG_ON(sizeof(struct qkdn_kx_hdr) != QKDN_KX_HDR_LEN);
	INIT_LIST_HEAD(&link->txq);
	link->epoch = get_random_u32() | 1;
	link->rto = msecs_to_jiffies(QKDN_KX_RETX_MS);
}

void qkdn_kx_link_cleanup(struct qkdn_link *link)
{
	struct qkdn_frame *f, *tmp;

	list_for_each_entry_safe(f, tmp, &link->txq, node) {
		list_del(&f->node);
		kfree(f);
	}
	link->tx_next = NULL;
	link->unacked_keys = 0;
	/* Relay MAC keys came from the streams, which start afresh too. */
	qkdn_mac_clear(&link->mac_tx);
	qkdn_mac_clear(&link->mac_rx);
}

/* Runs the transmit work within delay jiffies; never postpones it. */
void qkdn_kx_schedule(struct qkdn_net *qn, unsigned long delay)
{
	if (qn->dying)
		return;
	/* Queued with no timer armed: it runs now; its expires is stale. */
	if (delayed_work_pending(&qn->tx_work) &&
	    (!timer_pending(&qn->tx_work.timer) ||
	     time_before_eq(qn->tx_work.timer.expires, jiffies + delay)))
		return;
	mod_delayed_work(qkdn_wq, &qn->tx_work, delay);
}

struct qkdn_frame *qkdn_kx_alloc(u8 type, u32 body, u32 room)
{
	struct qkdn_kx_hdr *hdr;
	struct qkdn_frame *f;
	u32 len = sizeof(*hdr) + body;

	room = min_t(u32, room, QKDN_KX_FRAME_MAX - len);
	f = kzalloc(sizeof(*f) + len + room, GFP_KERNEL);
	if (!f)
		return NULL;
	f->len = len;
	f->cap = len + room;
	hdr = (struct qkdn_kx_hdr *)f->data;
	hdr->version = QKDN_KX_VERSION;
	hdr->type = type;
	hdr->len = cpu_to_le16(len);
	return f;
}

/*
 * Queues a frame; the transmit work sends it. Frames queued while the
 * work is pending, or while the channel is down, coalesce into the last
 * unsent frame (see qkdn_kx_unsent_tail()), so that a burst of requests
 * costs the daemon one frame, not one per request.
 */
void qkdn_kx_queue(struct qkdn_link *link, struct qkdn_frame *f)
{
	struct qkdn_kx_hdr *hdr = (struct qkdn_kx_hdr *)f->data;

	f->seq = ++link->tx_seq;
	hdr->seq = cpu_to_le64(f->seq);
	if (list_empty(&link->txq))
		link->last_tx = jiffies;
	list_add_tail(&f->node, &link->txq);
	if (!link->tx_next)
		link->tx_next = f;
	if (!link->up)
		return;
	/*
	 * Send at once when nothing is in flight, or when nothing can join
	 * this frame (relay and supply frames: each hop of a relay waits for
	 * it); otherwise give later block announcements and reservations a
	 * tick to join it (the peer acknowledges within one).
	 */
	qkdn_kx_schedule(link->qn,
			 (hdr->type != QKDN_KX_BLOCKS &&
			  hdr->type != QKDN_KX_RESERVE) ||
			 list_first_entry(&link->txq, struct qkdn_frame,
					  node) == link->tx_next ? 0 : 1);
}

u8 *qkdn_kx_body(struct qkdn_frame *f)
{
	return f->data + sizeof(struct qkdn_kx_hdr);
}

/* The last queued frame if it is of this type and not sent yet. */
static struct qkdn_frame *qkdn_kx_unsent_tail(struct qkdn_link *link, u8 type)
{
	struct qkdn_frame *f;

	if (!link->tx_next)
		return NULL;
	f = list_last_entry(&link->txq, struct qkdn_frame, node);
	return ((struct qkdn_kx_hdr *)f->data)->type == type ? f : NULL;
}

/* Keys reserved by a frame (0 unless RESERVE). */
static u32 qkdn_kx_frame_keys(const struct qkdn_frame *f)
{
	const struct qkdn_kx_hdr *hdr = (const void *)f->data;
	const struct qkdn_kx_reserve *r = (const void *)(hdr + 1);

	return hdr->type == QKDN_KX_RESERVE ? le16_to_cpu(r->count) : 0;
}

static void qkdn_kx_set_len(struct qkdn_frame *f, u32 len)
{
	f->len = len;
	((struct qkdn_kx_hdr *)f->data)->len = cpu_to_le16(len);
}

/* Sends what is queued, if the daemon is there and the channel is up. */
void qkdn_kx_flush(struct qkdn_link *link)
{
	struct qkdn_net *qn = link->qn;
	int err;

	lockdep_assert_held(&qn->lock);
	if (!qn->kx_portid || !link->up || qn->dying)
		return;

	while (link->tx_next) {
		struct qkdn_frame *f = link->tx_next;
		struct qkdn_kx_hdr *hdr = (struct qkdn_kx_hdr *)f->data;

		hdr->src_epoch = cpu_to_le32(link->epoch);
		hdr->dst_epoch = cpu_to_le32(link->peer_epoch);
		hdr->ack = cpu_to_le64(link->rx_seq);
		err = qkdn_nl_kx_deliver(qn, link, f->data, f->len);
		if (err)
			goto fail;
		if (f == list_first_entry(&link->txq, struct qkdn_frame, node))
			link->last_tx = jiffies;
		link->stats.frames_tx++;
		link->ack_pending = false;
		link->tx_next = list_is_last(&f->node, &link->txq) ? NULL :
				list_next_entry(f, node);
	}
	if (link->ack_pending) {
		struct qkdn_kx_hdr ack = {
			.version = QKDN_KX_VERSION,
			.type = QKDN_KX_ACK,
			.len = cpu_to_le16(sizeof(ack)),
			.src_epoch = cpu_to_le32(link->epoch),
			.dst_epoch = cpu_to_le32(link->peer_epoch),
			.ack = cpu_to_le64(link->rx_seq),
		};

		err = qkdn_nl_kx_deliver(qn, link, (u8 *)&ack, sizeof(ack));
		if (err)
			goto fail;
		link->stats.frames_tx++;
		link->ack_pending = false;
	}
	if (!list_empty(&link->txq))
		qkdn_kx_schedule(qn, link->rto);
	return;
fail:
	/* The daemon's socket is full, or it is gone (then unbound). */
	qkdn_kx_schedule(qn, msecs_to_jiffies(10));
}

void qkdn_kx_tx_work(struct work_struct *work)
{
	struct qkdn_net *qn = container_of(to_delayed_work(work),
					   struct qkdn_net, tx_work);
	struct qkdn_link *link;

	mutex_lock(&qn->lock);
	list_for_each_entry(link, &qn->links, node) {
		struct qkdn_frame *head;

		head = list_first_entry_or_null(&link->txq, struct qkdn_frame,
						node);
		if (head && head != link->tx_next && link->up &&
		    time_after(jiffies, link->last_tx + link->rto)) {
			/* Nothing acknowledged for a while: go back, and wait
			 * twice as long next time (up to QKDN_KX_RETX_MAX_MS).
			 */
			link->tx_next = head;
			link->last_tx = jiffies;
			link->rto = min(link->rto * 2,
					msecs_to_jiffies(QKDN_KX_RETX_MAX_MS));
			link->stats.frames_retx++;
		}
		qkdn_kx_flush(link);
	}
	mutex_unlock(&qn->lock);
}

void qkdn_kx_set_up(struct qkdn_link *link, bool up)
{
	if (link->up == up)
		return;
	link->up = up;
	qkdn_nl_event(link->qn, up ? QKDN_EVENT_LINK_UP : QKDN_EVENT_LINK_DOWN,
		      link, NULL, NULL, 0, NULL);
	if (!up)
		return;
	/* A new channel: resend all the peer has not acknowledged. */
	link->tx_next = list_first_entry_or_null(&link->txq,
						 struct qkdn_frame, node);
	link->ack_pending = true;
	qkdn_kx_flush(link);
}

/* Adds block seq to a BLOCKS frame; false when the frame is full. */
static bool qkdn_kx_blocks_add(struct qkdn_frame *f, u64 seq)
{
	struct qkdn_kx_blocks *body;
	struct qkdn_kx_range *r;
	u32 nr;

	body = (struct qkdn_kx_blocks *)(f->data + sizeof(struct qkdn_kx_hdr));
	nr = le32_to_cpu(body->count);
	r = nr ? &body->r[nr - 1] : NULL;
	if (r && le64_to_cpu(r->start) + le32_to_cpu(r->count) == seq) {
		le32_add_cpu(&r->count, 1);
		return true;
	}
	if (f->len + sizeof(*r) > f->cap)
		return false;
	r = &body->r[nr];
	r->start = cpu_to_le64(seq);
	r->count = cpu_to_le32(1);
	body->count = cpu_to_le32(nr + 1);
	qkdn_kx_set_len(f, f->len + sizeof(*r));
	return true;
}

/* Kx-2 block sync: announce blocks this end now holds. */
int qkdn_kx_send_blocks(struct qkdn_link *link, const u64 *seqs,
			unsigned int n)
{
	struct qkdn_frame *f = qkdn_kx_unsent_tail(link, QKDN_KX_BLOCKS);
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (f && qkdn_kx_blocks_add(f, seqs[i]))
			continue;
		f = qkdn_kx_alloc(QKDN_KX_BLOCKS, sizeof(struct qkdn_kx_blocks),
				  QKDN_KX_BLOCKS_ROOM *
				  sizeof(struct qkdn_kx_range));
		if (!f)
			return -ENOMEM;
		qkdn_kx_queue(link, f);
		qkdn_kx_blocks_add(f, seqs[i]);
	}
	return 0;
}

/* Appends keys to an unsent reservation of the same SAE pair and size. */
static bool qkdn_kx_reserve_merge(struct qkdn_link *link, u32 key_bytes,
				  u32 count, const char *master,
				  const char *slave, const u8 *ids)
{
	struct qkdn_frame *f = qkdn_kx_unsent_tail(link, QKDN_KX_RESERVE);
	struct qkdn_kx_reserve *body;
	u32 n;

	if (!f)
		return false;
	body = (struct qkdn_kx_reserve *)(f->data + sizeof(struct qkdn_kx_hdr));
	n = le16_to_cpu(body->count);
	if (le16_to_cpu(body->key_bytes) != key_bytes ||
	    strcmp(body->master, master) || strcmp(body->slave, slave) ||
	    n + count > QKDN_KX_RESERVE_KEYS_MAX ||
	    f->len + count * QKDN_KEY_ID_LEN > f->cap)
		return false;
	memcpy(body->ids[n], ids, count * QKDN_KEY_ID_LEN);
	body->count = cpu_to_le16(n + count);
	qkdn_kx_set_len(f, f->len + count * QKDN_KEY_ID_LEN);
	return true;
}

/*
 * Kx-2 key reservation: count keys of key_bytes starting at (seq, off) in
 * this end's stream, for the SAE pair. Consecutive reservations are
 * contiguous in the stream, so they can share a frame.
 */
int qkdn_kx_send_reserve(struct qkdn_link *link, u64 seq, u32 off,
			 u32 key_bytes, u32 count, const char *master,
			 const char *slave, const u8 *ids)
{
	struct qkdn_kx_reserve *body;
	struct qkdn_frame *f;

	if (qkdn_kx_reserve_merge(link, key_bytes, count, master, slave, ids)) {
		link->unacked_keys += count;
		return 0;
	}
	f = qkdn_kx_alloc(QKDN_KX_RESERVE,
			  sizeof(*body) + count * QKDN_KEY_ID_LEN,
			  QKDN_KX_RESERVE_ROOM * QKDN_KEY_ID_LEN);
	if (!f)
		return -ENOMEM;
	body = (struct qkdn_kx_reserve *)(f->data + sizeof(struct qkdn_kx_hdr));
	body->block_seq = cpu_to_le64(seq);
	body->offset = cpu_to_le32(off);
	body->key_bytes = cpu_to_le16(key_bytes);
	body->count = cpu_to_le16(count);
	strscpy(body->master, master, sizeof(body->master));
	strscpy(body->slave, slave, sizeof(body->slave));
	memcpy(body->ids, ids, count * QKDN_KEY_ID_LEN);
	qkdn_kx_queue(link, f);
	link->unacked_keys += count;
	return 0;
}

static bool qkdn_kx_str_ok(const char *s)
{
	return memchr(s, '\0', QKDN_ID_MAX) && qkdn_id_valid(s);
}

/* Checks a frame completely before anything is changed. */
static int qkdn_kx_validate(struct qkdn_link *link, const u8 *buf, u32 len,
			    struct netlink_ext_ack *extack)
{
	const struct qkdn_kx_hdr *hdr = (const void *)buf;
	u32 body_len;

	if (len < sizeof(*hdr)) {
		NL_SET_ERR_MSG(extack, "Kx frame shorter than its header");
		return -EINVAL;
	}
	body_len = len - sizeof(*hdr);
	if (hdr->version != QKDN_KX_VERSION) {
		NL_SET_ERR_MSG(extack, "Kx frame version not supported");
		return -EINVAL;
	}
	if (le16_to_cpu(hdr->len) != len) {
		NL_SET_ERR_MSG(extack, "Kx frame length does not match its header");
		return -EINVAL;
	}
	if (!hdr->src_epoch) {
		NL_SET_ERR_MSG(extack, "Kx frame without sender epoch");
		return -EINVAL;
	}

	switch (hdr->type) {
	case QKDN_KX_ACK:
		if (body_len || hdr->seq) {
			NL_SET_ERR_MSG(extack, "Kx acknowledgment carries data");
			return -EINVAL;
		}
		return 0;
	case QKDN_KX_BLOCKS: {
		const struct qkdn_kx_blocks *b = (const void *)(hdr + 1);
		u64 last = 0;
		u32 i, n;

		if (body_len < sizeof(*b))
			goto short_body;
		n = le32_to_cpu(b->count);
		if (!n || n > QKDN_KX_BLOCKS_MAX ||
		    body_len != sizeof(*b) + n * sizeof(b->r[0]))
			goto short_body;
		for (i = 0; i < n; i++) {
			u64 start = le64_to_cpu(b->r[i].start);
			u32 count = le32_to_cpu(b->r[i].count);

			if (!start || !count || start <= last ||
			    start + count < start) {
				NL_SET_ERR_MSG(extack, "Kx block ranges not in order");
				return -EINVAL;
			}
			last = start + count - 1;
		}
		break;
	}
	case QKDN_KX_RESERVE: {
		const struct qkdn_kx_reserve *r = (const void *)(hdr + 1);
		u32 n, kb;

		if (body_len < sizeof(*r))
			goto short_body;
		n = le16_to_cpu(r->count);
		kb = le16_to_cpu(r->key_bytes);
		if (!n || n > QKDN_KX_RESERVE_KEYS_MAX ||
		    body_len != sizeof(*r) + n * QKDN_KEY_ID_LEN)
			goto short_body;
		if (kb < QKDN_KEY_SIZE_MIN / 8 || kb > QKDN_KEY_SIZE_MAX / 8) {
			NL_SET_ERR_MSG(extack, "Kx reservation key size out of range");
			return -EINVAL;
		}
		if (!qkdn_kx_str_ok(r->master) || !qkdn_kx_str_ok(r->slave)) {
			NL_SET_ERR_MSG(extack, "Kx reservation SAE ID malformed");
			return -EINVAL;
		}
		break;
	}
	case QKDN_KX_RELAY:
	case QKDN_KX_RELAY_DONE:
	case QKDN_KX_RELAY_ABORT: {
		int err = qkdn_relay_validate(hdr->type, (const u8 *)(hdr + 1),
					      body_len, extack);

		if (err)
			return err;
		break;
	}
	case QKDN_KX_SUPPLY:
	case QKDN_KX_SUPPLY_DONE: {
		int err = qkdn_supply_validate(hdr->type, (const u8 *)(hdr + 1),
					       body_len, extack);

		if (err)
			return err;
		break;
	}
	case QKDN_KX_IPSEC:
	case QKDN_KX_IPSEC_ANSWER: {
		int err = qkdn_ipsec_validate(hdr->type, (const u8 *)(hdr + 1),
					      body_len, extack);

		if (err)
			return err;
		break;
	}
	default:
		NL_SET_ERR_MSG(extack, "Kx frame type unknown");
		return -EINVAL;
	}
	if (!hdr->seq) {
		NL_SET_ERR_MSG(extack, "Kx frame without sequence number");
		return -EINVAL;
	}
	return 0;

short_body:
	NL_SET_ERR_MSG(extack, "Kx frame body length does not match its content");
	return -EINVAL;
}

/*
 * The peer's link is a new instance: what was queued for the old one, and
 * the blocks synchronised with it, mean nothing to the new one. Keys the
 * old instance reserved for our SAEs stay: their master has them.
 */
static void qkdn_kx_reset(struct qkdn_link *link)
{
	pr_info("link %u: peer %s restarted, resynchronising\n", link->id,
		link->peer);
	qkdn_kx_link_cleanup(link);
	link->tx_seq = 0;
	link->rx_seq = 0;
	link->ack_pending = true;
	qkdn_store_reset(link);
	link->stats.peer_resets++;
}

/*
 * This end's block numbering starts again (its QKD module went away): a
 * new instance of the link, which the peer learns from the next frame.
 */
void qkdn_kx_new_epoch(struct qkdn_link *link)
{
	qkdn_kx_link_cleanup(link);
	link->tx_seq = 0;
	link->rx_seq = 0;
	link->epoch = get_random_u32() | 1;
	link->peer_epoch = 0;
	link->ack_pending = true;
	qkdn_store_forget_blocks(link);
	if (link->up)
		qkdn_kx_schedule(link->qn, 0);
}

static void qkdn_kx_acked(struct qkdn_link *link, u64 ack)
{
	struct qkdn_frame *f, *tmp;
	bool progress = false;

	list_for_each_entry_safe(f, tmp, &link->txq, node) {
		if (f->seq > ack)
			break;
		if (f == link->tx_next)
			link->tx_next = list_is_last(&f->node, &link->txq) ?
					NULL : list_next_entry(f, node);
		link->unacked_keys -= qkdn_kx_frame_keys(f);
		list_del(&f->node);
		kfree(f);
		progress = true;
	}
	if (progress) {
		link->last_tx = jiffies;
		link->rto = msecs_to_jiffies(QKDN_KX_RETX_MS);
	}
}

static void qkdn_kx_rx_blocks(struct qkdn_link *link,
			      const struct qkdn_kx_blocks *b)
{
	u32 i;

	for (i = 0; i < le32_to_cpu(b->count); i++)
		qkdn_store_peer_have(link, le64_to_cpu(b->r[i].start),
				     le32_to_cpu(b->r[i].count));
	qkdn_store_match(link);
}

static int qkdn_kx_rx_reserve(struct qkdn_link *link,
			      const struct qkdn_kx_reserve *r,
			      struct netlink_ext_ack *extack)
{
	u32 n = le16_to_cpu(r->count), kb = le16_to_cpu(r->key_bytes);
	struct qkdn_net *qn = link->qn;
	struct qkdn_key **keys;
	u64 seq;
	u32 off, i;
	int err;

	qkdn_store_position(&link->theirs, &seq, &off);
	if (seq != le64_to_cpu(r->block_seq) || off != le32_to_cpu(r->offset) ||
	    link->theirs.bytes < (u64)n * kb) {
		NL_SET_ERR_MSG(extack, "Kx reservation does not match the pool");
		pr_warn_ratelimited("link %u: reservation at %llu+%u does not match pool at %llu+%u\n",
				    link->id, le64_to_cpu(r->block_seq),
				    le32_to_cpu(r->offset), seq, off);
		return -EPROTO;
	}
	keys = kcalloc(n, sizeof(*keys), GFP_KERNEL);
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		keys[i] = kzalloc(struct_size(keys[i], data, kb), GFP_KERNEL);
		if (!keys[i]) {
			err = -ENOMEM;
			goto free;
		}
	}
	for (i = 0; i < n; i++) {
		struct qkdn_key *k = keys[i];

		memcpy(k->id, r->ids[i], QKDN_KEY_ID_LEN);
		strscpy(k->master, r->master, sizeof(k->master));
		strscpy(k->slave, r->slave, sizeof(k->slave));
		k->len = kb;
		qkdn_store_take(&link->theirs, k->data, kb);
		if (qkdn_keytab_find(&link->keys, k->id)) {
			/* A repeated key ID: the first holder keeps it. */
			kfree_sensitive(k);
			continue;
		}
		qkdn_keytab_insert(&link->keys, k);
	}
	kfree(keys);
	link->stats.keys_received += n;
	qkdn_nl_event(qn, QKDN_EVENT_KEYS_RECEIVED, link, r->master, r->slave,
		      n, &r->ids[0][0]);
	qn->keys_gen++;
	wake_up_all(&qn->keys_wq);
	return 0;
free:
	while (i--)
		kfree(keys[i]);
	kfree(keys);
	return err;
}

int qkdn_kx_receive(struct qkdn_link *link, const u8 *buf, u32 len,
		    struct netlink_ext_ack *extack)
{
	const struct qkdn_kx_hdr *hdr = (const void *)buf;
	u32 src, dst;
	u64 seq;
	int err;

	err = qkdn_kx_validate(link, buf, len, extack);
	if (err) {
		link->stats.frames_bad++;
		return err;
	}
	dst = le32_to_cpu(hdr->dst_epoch);
	src = le32_to_cpu(hdr->src_epoch);
	if (dst && dst != link->epoch) {
		/* Meant for an earlier instance of this link. */
		link->stats.frames_stale++;
		return 0;
	}
	if (src != link->peer_epoch) {
		if (link->peer_epoch)
			qkdn_kx_reset(link);
		link->peer_epoch = src;
	}
	if (le64_to_cpu(hdr->ack) > link->tx_seq) {
		NL_SET_ERR_MSG(extack, "Kx frame acknowledges a frame never sent");
		link->stats.frames_bad++;
		return -EINVAL;
	}
	link->stats.frames_rx++;
	qkdn_kx_acked(link, le64_to_cpu(hdr->ack));

	seq = le64_to_cpu(hdr->seq);
	if (hdr->type == QKDN_KX_ACK)
		return 0;
	if (seq != link->rx_seq + 1) {
		/* Already seen (re-acknowledge), or a gap: the sender goes
		 * back to the first frame we have not acknowledged.
		 */
		link->ack_pending = true;
		qkdn_kx_schedule(link->qn, 1);
		return 0;
	}

	err = 0;
	switch (hdr->type) {
	case QKDN_KX_BLOCKS:
		qkdn_kx_rx_blocks(link, (const void *)(hdr + 1));
		break;
	case QKDN_KX_RESERVE:
		err = qkdn_kx_rx_reserve(link, (const void *)(hdr + 1), extack);
		if (err == -ENOMEM)
			return err;	/* not consumed: the sender resends */
		if (err)
			link->stats.frames_bad++;
		break;
	case QKDN_KX_SUPPLY:
	case QKDN_KX_SUPPLY_DONE:
		err = qkdn_supply_kx_rx(link, hdr->type, (const u8 *)(hdr + 1),
					extack);
		if (err == -ENOMEM)
			return err;
		if (err)
			link->stats.frames_bad++;
		break;
	case QKDN_KX_IPSEC:
	case QKDN_KX_IPSEC_ANSWER:
		qkdn_ipsec_kx_rx(link, hdr->type, (const u8 *)(hdr + 1));
		break;
	default:
		err = qkdn_relay_rx(link, hdr->type, (const u8 *)(hdr + 1),
				    len - sizeof(*hdr), extack);
		/* Not taken: the sender resends (a changed frame, its
		 * original).
		 */
		if (err == -EBADMSG)
			link->stats.frames_bad++;
		if (err == -ENOMEM || err == -EBADMSG)
			return err;
		if (err)
			link->stats.frames_bad++;
		break;
	}
	link->rx_seq = seq;
	link->ack_pending = true;
	qkdn_kx_schedule(link->qn, msecs_to_jiffies(2));
	return err;
}
