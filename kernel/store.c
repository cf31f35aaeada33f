// SPDX-License-Identifier: GPL-2.0
/*
 * The key pool of a link.
 *
 * Both ends of a QKD link receive the same numbered blocks from their QKD
 * modules. A block waits in ->pending until the peer has announced that it
 * holds the same block number; then it becomes usable at both ends and
 * joins one of two streams: ->own when this end allocates from it (block
 * ownership by parity, see qkdn_link_create()), ->peer otherwise. Keys are
 * carved from the front of a stream in order, so both ends of a link see
 * the same sequence of bytes in each stream, and a reservation only needs
 * to name its position and length. Every byte is erased as it is taken.
 *
 * All functions run under qn->lock.
 */

#include <linux/slab.h>
#include <linux/string.h>
#include <linux/jhash.h>

#include "qkdn.h"

void qkdn_store_init(struct qkdn_link *link)
{
	INIT_LIST_HEAD(&link->pending);
	INIT_LIST_HEAD(&link->own.blocks);
	INIT_LIST_HEAD(&link->theirs.blocks);
	qkdn_keytab_init(&link->keys);
}

static void qkdn_block_free(struct qkdn_block *b)
{
	list_del(&b->node);
	kfree_sensitive(b->data);
	kfree(b);
}

static void qkdn_stream_flush(struct qkdn_stream *s)
{
	struct qkdn_block *b, *tmp;

	list_for_each_entry_safe(b, tmp, &s->blocks, node)
		qkdn_block_free(b);
	s->bytes = 0;
}

/*
 * The peer's link is a new instance: the blocks synchronised with the old
 * one are erased (the new one never had them); pending blocks stay, the
 * new instance may hold them, and are announced to it afresh.
 */
void qkdn_store_reset(struct qkdn_link *link)
{
	struct qkdn_block *b;
	u64 seqs[16];
	unsigned int n = 0;

	qkdn_stream_flush(&link->own);
	qkdn_stream_flush(&link->theirs);
	link->pr_count = 0;
	link->last_peer_seq = 0;
	list_for_each_entry(b, &link->pending, node) {
		seqs[n++] = b->seq;
		if (n == ARRAY_SIZE(seqs)) {
			qkdn_kx_send_blocks(link, seqs, n);
			n = 0;
		}
	}
	if (n)
		qkdn_kx_send_blocks(link, seqs, n);
}

/* Erases every block: their numbering no longer means anything. */
void qkdn_store_forget_blocks(struct qkdn_link *link)
{
	struct qkdn_block *b, *tmp;

	list_for_each_entry_safe(b, tmp, &link->pending, node)
		qkdn_block_free(b);
	link->pending_bytes = 0;
	qkdn_stream_flush(&link->own);
	qkdn_stream_flush(&link->theirs);
	link->pr_count = 0;
	link->last_peer_seq = 0;
	link->last_local_seq = 0;
}

/* Erases everything the pool holds. */
void qkdn_store_flush(struct qkdn_link *link)
{
	qkdn_store_forget_blocks(link);
	qkdn_keytab_flush(&link->keys);
}

u64 qkdn_store_held(const struct qkdn_link *link)
{
	return link->pending_bytes + link->own.bytes + link->theirs.bytes +
	       link->keys.bytes;
}

/*
 * Takes ownership of data (len bytes) in every case. Returns true when the
 * block is held and must be announced to the peer.
 */
bool qkdn_store_ingest(struct qkdn_link *link, u64 seq, u8 *data, u32 len)
{
	struct qkdn_block *b;

	if (seq <= link->last_local_seq)
		goto drop;
	link->last_local_seq = seq;
	if (qkdn_store_held(link) + len > link->capacity)
		goto drop;
	b = kmalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		goto drop;
	b->seq = seq;
	b->len = len;
	b->off = 0;
	b->data = data;
	list_add_tail(&b->node, &link->pending);
	link->pending_bytes += len;
	link->stats.blocks_in++;
	return true;
drop:
	link->stats.blocks_dropped++;
	kfree_sensitive(data);
	return false;
}

static bool qkdn_block_is_own(const struct qkdn_link *link, u64 seq)
{
	return !(seq & 1) == link->own_even;
}

static void qkdn_range_skip_to(struct qkdn_link *link, u64 seq)
{
	while (link->pr_count) {
		struct qkdn_range *r = &link->peer_ranges[link->pr_head];

		if (r->start >= seq)
			return;
		if (r->start + r->count > seq) {
			r->count -= seq - r->start;
			r->start = seq;
			return;
		}
		link->pr_head = (link->pr_head + 1) % QKDN_PEER_RANGES_MAX;
		link->pr_count--;
	}
}

/* Moves blocks both ends hold into the streams; erases the others. */
void qkdn_store_match(struct qkdn_link *link)
{
	for (;;) {
		struct qkdn_block *b;
		struct qkdn_range *r;

		b = list_first_entry_or_null(&link->pending, struct qkdn_block,
					     node);
		r = link->pr_count ? &link->peer_ranges[link->pr_head] : NULL;

		if (b && r && b->seq == r->start) {
			struct qkdn_stream *s;

			s = qkdn_block_is_own(link, b->seq) ? &link->own :
							      &link->theirs;
			list_move_tail(&b->node, &s->blocks);
			s->bytes += b->len;
			link->pending_bytes -= b->len;
			link->stats.blocks_usable++;
			qkdn_range_skip_to(link, b->seq + 1);
		} else if (b && ((r && b->seq < r->start) ||
				 (!r && b->seq <= link->last_peer_seq))) {
			/* The peer announced later blocks but not this one. */
			link->pending_bytes -= b->len;
			link->stats.blocks_discarded++;
			qkdn_block_free(b);
		} else if (r && b) {
			/* The peer holds blocks we lost: skip them. */
			qkdn_range_skip_to(link, b->seq);
		} else if (r && r->start <= link->last_local_seq) {
			qkdn_range_skip_to(link, link->last_local_seq + 1);
		} else {
			return;
		}
	}
}

/* The peer holds blocks start..start+count-1. */
void qkdn_store_peer_have(struct qkdn_link *link, u64 start, u32 count)
{
	struct qkdn_range *tail;

	if (!count || start <= link->last_peer_seq)
		return;
	link->last_peer_seq = start + count - 1;
	if (link->pr_count) {
		tail = &link->peer_ranges[(link->pr_head + link->pr_count - 1) %
					  QKDN_PEER_RANGES_MAX];
		if (tail->start + tail->count == start) {
			tail->count += count;
			return;
		}
	}
	if (link->pr_count == QKDN_PEER_RANGES_MAX) {
		/* Far ahead of our QKD module: forget the oldest range; its
		 * blocks are dropped at both ends as if we had lost them.
		 */
		link->pr_head = (link->pr_head + 1) % QKDN_PEER_RANGES_MAX;
		link->pr_count--;
	}
	tail = &link->peer_ranges[(link->pr_head + link->pr_count) %
				  QKDN_PEER_RANGES_MAX];
	tail->start = start;
	tail->count = count;
	link->pr_count++;
}

/*
 * Copies len bytes from the front of s into dst (or only erases them when
 * dst is NULL) and erases them from the pool. All or nothing.
 */
int qkdn_store_take(struct qkdn_stream *s, u8 *dst, u32 len)
{
	if (s->bytes < len)
		return -ENOSPC;
	s->bytes -= len;
	while (len) {
		struct qkdn_block *b;
		u32 n;

		b = list_first_entry(&s->blocks, struct qkdn_block, node);
		n = min(len, b->len - b->off);
		if (dst) {
			memcpy(dst, b->data + b->off, n);
			dst += n;
		}
		memzero_explicit(b->data + b->off, n);
		b->off += n;
		len -= n;
		if (b->off == b->len)
			qkdn_block_free(b);
	}
	return 0;
}

/* Copies the first len bytes of s (it holds them) without taking them. */
void qkdn_store_peek(struct qkdn_stream *s, u8 *dst, u32 len)
{
	struct qkdn_block *b;

	list_for_each_entry(b, &s->blocks, node) {
		u32 n = min(len, b->len - b->off);

		memcpy(dst, b->data + b->off, n);
		dst += n;
		len -= n;
		if (!len)
			return;
	}
}

void qkdn_store_position(struct qkdn_stream *s, u64 *seq, u32 *off)
{
	struct qkdn_block *b;

	b = list_first_entry_or_null(&s->blocks, struct qkdn_block, node);
	*seq = b ? b->seq : 0;
	*off = b ? b->off : 0;
}

static u32 qkdn_key_hash(const u8 *id)
{
	return jhash(id, QKDN_KEY_ID_LEN, 0);
}

void qkdn_keytab_init(struct qkdn_keytab *t)
{
	hash_init(t->h);
	INIT_LIST_HEAD(&t->list);
	t->n = 0;
	t->bytes = 0;
}

struct qkdn_key *qkdn_keytab_find(struct qkdn_keytab *t, const u8 *id)
{
	return qkdn_keytab_match(t, id, NULL, NULL);
}

/*
 * A key by ID, for the slave SAE and from the relay named, where they
 * are not NULL: a multicast leaves a copy of each key for each slave SAE.
 */
struct qkdn_key *qkdn_keytab_match(struct qkdn_keytab *t, const u8 *id,
				   const char *slave, const u8 *relay)
{
	struct qkdn_key *key;

	hash_for_each_possible(t->h, key, hnode, qkdn_key_hash(id))
		if (!memcmp(key->id, id, QKDN_KEY_ID_LEN) &&
		    (!slave || !strcmp(key->slave, slave)) &&
		    (!relay || !memcmp(key->relay, relay, QKDN_RELAY_ID_LEN)))
			return key;
	return NULL;
}

/* Beyond QKDN_RESERVED_KEYS_MAX keys, the oldest is erased. */
void qkdn_keytab_insert(struct qkdn_keytab *t, struct qkdn_key *key)
{
	if (t->n >= QKDN_RESERVED_KEYS_MAX)
		qkdn_keytab_free(t, list_first_entry(&t->list, struct qkdn_key,
						     lnode));
	hash_add(t->h, &key->hnode, qkdn_key_hash(key->id));
	list_add_tail(&key->lnode, &t->list);
	t->n++;
	t->bytes += key->len;
}

void qkdn_keytab_free(struct qkdn_keytab *t, struct qkdn_key *key)
{
	hash_del(&key->hnode);
	list_del(&key->lnode);
	t->n--;
	t->bytes -= key->len;
	kfree_sensitive(key);
}

void qkdn_keytab_flush(struct qkdn_keytab *t)
{
	struct qkdn_key *key, *tmp;

	list_for_each_entry_safe(key, tmp, &t->list, lnode)
		qkdn_keytab_free(t, key);
}
