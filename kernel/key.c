// SPDX-License-Identifier: GPL-2.0
/*
 * Ak: key requests of the applications (SAEs), ITU-T Q.4160 I.1.
 */

#include <linux/cred.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/uuid.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include "qkdn.h"

/*
 * A reply carrying key bytes erases itself when it is freed, wherever that
 * happens (after the caller read it, or on any error path): the skb's data
 * is tagged with a ubuf_info whose callback runs when the data is released.
 */
static void qkdn_erase_cb(struct sk_buff *skb, struct ubuf_info *uarg,
			  bool success)
{
	memzero_explicit(skb->head, skb_end_offset(skb));
	if (refcount_dec_and_test(&uarg->refcnt))
		kfree(uarg);
}

struct sk_buff *qkdn_key_msg_new(size_t payload)
{
	struct ubuf_info *uarg;
	struct sk_buff *msg;
	bool have_ref = true;

	msg = genlmsg_new(payload, GFP_KERNEL);
	if (!msg)
		return NULL;
	uarg = kzalloc(sizeof(*uarg), GFP_KERNEL);
	if (!uarg) {
		nlmsg_free(msg);
		return NULL;
	}
	uarg->callback = qkdn_erase_cb;
	refcount_set(&uarg->refcnt, 1);
	uarg->flags = SKBFL_ZEROCOPY_ENABLE | SKBFL_DONT_ORPHAN;
	skb_zcopy_set(msg, uarg, &have_ref);
	return msg;
}

/*
 * netlink_unicast() reallocates a reply with much unused room, which would
 * free the old data without the erase callback: fill the room with padding.
 */
void qkdn_key_msg_fill(struct sk_buff *msg)
{
	int room = skb_tailroom(msg);
	struct nlattr *pad;

	if (room * 2 < msg->truesize || room < nla_total_size(0))
		return;
	pad = nla_reserve(msg, QKDN_A_PAD, (room - NLA_HDRLEN) & ~(NLA_ALIGNTO - 1));
	if (pad)
		memset(nla_data(pad), 0, nla_len(pad));
}

size_t qkdn_key_msg_size(u32 count, u32 key_bytes)
{
	return count * (nla_total_size(0) + nla_total_size(QKDN_KEY_ID_LEN) +
			nla_total_size(key_bytes));
}

void qkdn_key_id_gen(u8 *id)
{
	uuid_t u;

	uuid_gen(&u);		/* version 4, random */
	memcpy(id, u.b, QKDN_KEY_ID_LEN);
}

/*
 * Whether the requester may act as the local SAE sae: a process of its
 * uid, or the bound key delivery gateway for a client whose credential
 * (QKDN_A_SAE_CRED) is the one the SAE was registered with.
 */
bool qkdn_may_act_as(struct qkdn_net *qn, struct genl_info *info,
		     const struct qkdn_sae *sae)
{
	struct nlattr *cred = info->attrs[QKDN_A_SAE_CRED];

	if (!sae->local)
		return false;
	if (uid_valid(sae->uid) && uid_eq(current_euid(), sae->uid))
		return true;
	return sae->cred && cred && qkdn_gw_sock(qn, info->snd_portid) &&
	       !nla_strcmp(cred, sae->cred);
}

/*
 * Q.4160 I.5a/I.5b: the slave SAE sits behind a KM this node shares no
 * (usable) link with. The keys are relayed there; the application gets
 * them once the destination KM confirms it holds them. Drops and retakes
 * qn->lock: master and slave must not be used afterwards.
 */
static int qkdn_key_get_relayed(struct qkdn_net *qn,
				const struct qkdn_sae *master,
				const struct qkdn_sae *slave, u32 number,
				u32 kb, const u8 *ids, u8 *first,
				size_t stride, struct netlink_ext_ack *extack)
{
	struct qkdn_relay *r;
	char mid[QKDN_ID_MAX], sid[QKDN_ID_MAX], dst[QKDN_ID_MAX];
	int err;

	strscpy(mid, master->id, sizeof(mid));
	strscpy(sid, slave->id, sizeof(sid));
	strscpy(dst, slave->node_id, sizeof(dst));
	r = qkdn_relay_start(qn, master, slave, number, kb, ids, extack);
	if (IS_ERR(r))
		return PTR_ERR(r);	/* -ENOTCONN: nobody to ask */
	err = qkdn_relay_wait(qn, r, extack);
	if (!err) {
		qkdn_relay_keys(r, first, stride);
		qn->rstats.keys_reserved += number;
		qn->rstats.keys_supplied += number;
		qkdn_nl_event(qn, QKDN_EVENT_KEYS_RESERVED, NULL, mid, sid,
			      number, ids);
	}
	qkdn_nl_msg(qn, QKDN_MSG_KEY_REQUEST_RESPONSE, QKDN_MSG_DIR_SENT, "sae",
		    mid, NULL, NULL, dst, err ? 0 : number, -err, NULL);
	qkdn_relay_finish(qn, r);
	return err;
}

/* I.2 "key request with session ID": see session.c. */
static int qkdn_key_get_session(struct qkdn_net *qn, struct genl_info *info,
				u32 number, u32 kb)
{
	struct sk_buff *msg;
	struct qkdn_sae *master;
	int err;

	msg = qkdn_key_msg_new(nla_total_size(sizeof(u32)) +
			       qkdn_key_msg_size(number, kb));
	if (!msg)
		return -ENOMEM;
	mutex_lock(&qn->lock);
	master = qkdn_nl_sae(qn, info, QKDN_A_MASTER_SAE_ID);
	err = PTR_ERR_OR_ZERO(master);
	if (!err && !qkdn_may_act_as(qn, info, master)) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[QKDN_A_MASTER_SAE_ID],
				    "caller may not act as the master SAE");
		err = -EACCES;
	}
	if (!err)
		err = qkdn_session_key_get(qn, info, number, kb, msg);
	mutex_unlock(&qn->lock);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	qkdn_key_msg_fill(msg);
	return genlmsg_reply(msg, info);
}

/* Q.4160 I.1 "key request" from the master SAE -> "response to key
 * request": keys allocated from blocks this end owns, with no round trip
 * to the peer; the reservation follows on the Kx channel.
 */
int qkdn_nl_key_get(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct nlattr **a = info->attrs;
	struct qkdn_sae *master, *slave;
	u32 number = 1, bits = QKDN_KEY_SIZE_DEFAULT, kb, i, off;
	struct qkdn_link *link;
	size_t stride;
	struct sk_buff *msg = NULL;
	bool relay;
	u8 ids_small[8 * QKDN_KEY_ID_LEN];
	u8 *first = NULL, *ids = ids_small;
	void *hdr;
	u64 seq;
	int err;

	if (qkdn_nl_need(info, QKDN_A_MASTER_SAE_ID) ||
	    qkdn_nl_need(info, QKDN_A_SLAVE_SAE_ID))
		return -EINVAL;
	if (a[QKDN_A_KEY_NUMBER])
		number = nla_get_u32(a[QKDN_A_KEY_NUMBER]);
	if (a[QKDN_A_KEY_SIZE])
		bits = nla_get_u32(a[QKDN_A_KEY_SIZE]);
	if (bits % 8) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_KEY_SIZE],
				    "key size shall be a multiple of 8");
		return -EINVAL;
	}
	kb = bits / 8;
	stride = qkdn_key_msg_size(1, kb);
	if (a[QKDN_A_SESSION_ID])
		return qkdn_key_get_session(qn, info, number, kb);

	msg = qkdn_key_msg_new(qkdn_key_msg_size(number, kb));
	if (number * QKDN_KEY_ID_LEN > sizeof(ids_small))
		ids = kmalloc_array(number, QKDN_KEY_ID_LEN, GFP_KERNEL);
	if (!msg || !ids) {
		err = -ENOMEM;
		goto out_free;
	}

	mutex_lock(&qn->lock);
	master = qkdn_nl_sae(qn, info, QKDN_A_MASTER_SAE_ID);
	err = PTR_ERR_OR_ZERO(master);
	if (err)
		goto out_unlock;
	slave = qkdn_nl_sae(qn, info, QKDN_A_SLAVE_SAE_ID);
	err = PTR_ERR_OR_ZERO(slave);
	if (err)
		goto out_unlock;
	err = -EACCES;
	if (!qkdn_may_act_as(qn, info, master)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_MASTER_SAE_ID],
				    "caller may not act as the master SAE");
		goto out_unlock;
	}
	err = -EOPNOTSUPP;
	if (slave->local) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SLAVE_SAE_ID],
				    "slave SAE is served by this node");
		goto out_unlock;
	}
	qkdn_nl_msg(qn, QKDN_MSG_KEY_REQUEST, QKDN_MSG_DIR_RECEIVED, "sae",
		    master->id, NULL, NULL, slave->node_id, number, 0, NULL);
	link = qkdn_link_by_peer(qn, slave->node_id);
	/* No link, or too little key on it: relay, if a controller routes. */
	relay = (!link || link->own.bytes < (u64)number * kb) &&
		qkdn_ctrl_present(qn);

	/* Build the whole reply before taking any key. */
	err = -EMSGSIZE;
	hdr = qkdn_put_hdr(msg, info->snd_portid, info->snd_seq, 0,
			   QKDN_CMD_KEY_GET);
	if (!hdr)
		goto out_unlock;
	for (i = 0; i < number; i++) {
		struct nlattr *nest = nla_nest_start(msg, QKDN_A_KEY);
		struct nlattr *d;

		qkdn_key_id_gen(ids + i * QKDN_KEY_ID_LEN);
		if (!nest || nla_put(msg, QKDN_A_KEY_ID, QKDN_KEY_ID_LEN,
				     ids + i * QKDN_KEY_ID_LEN))
			goto out_unlock;
		d = nla_reserve(msg, QKDN_A_KEY_DATA, kb);
		if (!d)
			goto out_unlock;
		/* Keys are laid out every stride bytes from the first. */
		if (!i)
			first = nla_data(d);
		if (WARN_ON_ONCE((u8 *)nla_data(d) != first + i * stride))
			goto out_unlock;
		nla_nest_end(msg, nest);
	}

	err = -EWOULDBLOCK;
	if (relay && info->attrs[QKDN_A_NOWAIT]) {
		NL_SET_ERR_MSG(info->extack,
			       "the request would wait for a key relay");
		goto out_unlock;
	}
	if (relay) {
		err = qkdn_key_get_relayed(qn, master, slave, number, kb, ids,
					   first, stride, info->extack);
		if (err != -ENOTCONN) {
			if (err)
				goto out_unlock;
			goto reply;
		}
		/* No controller listens in this node after all. */
	}
	err = -EHOSTUNREACH;
	if (!link) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SLAVE_SAE_ID],
				    "no QKD link to the slave SAE's node, and no QKDN controller to relay");
		goto out_unlock;
	}
	err = -EBUSY;
	if (link->unacked_keys + number > QKDN_KX_UNACKED_KEYS_MAX) {
		NL_SET_ERR_MSG(info->extack,
			       "too many reservations not yet acknowledged by the peer KM");
		goto out_unlock;
	}
	err = -ENOSPC;
	if (link->own.bytes < (u64)number * kb) {
		NL_SET_ERR_MSG(info->extack, "not enough key in the pool");
		qkdn_nl_event(qn, QKDN_EVENT_POOL_EMPTY, link, master->id,
			      slave->id, number, NULL);
		goto out_unlock;
	}

	qkdn_store_position(&link->own, &seq, &off);
	err = qkdn_kx_send_reserve(link, seq, off, kb, number, master->id,
				   slave->id, ids);
	if (err)
		goto out_unlock;
	for (i = 0; i < number; i++)
		qkdn_store_take(&link->own, first + i * stride, kb);
	link->stats.keys_reserved += number;
	link->stats.keys_supplied += number;
	qkdn_nl_event(qn, QKDN_EVENT_KEYS_RESERVED, link, master->id,
		      slave->id, number, ids);
	if (link->own.bytes < link->low && !link->low_signalled) {
		link->low_signalled = true;
		qkdn_nl_event(qn, QKDN_EVENT_POOL_LOW, link, NULL, NULL, 0,
			      NULL);
	} else if (link->own.bytes >= link->low) {
		link->low_signalled = false;
	}
	qkdn_nl_msg(qn, QKDN_MSG_KEY_REQUEST_RESPONSE, QKDN_MSG_DIR_SENT, "sae",
		    master->id, NULL, NULL, slave->node_id, number, 0, NULL);
reply:
	mutex_unlock(&qn->lock);

	genlmsg_end(msg, hdr);
	qkdn_key_msg_fill(msg);
	if (ids != ids_small)
		kfree(ids);
	return genlmsg_reply(msg, info);

out_unlock:
	mutex_unlock(&qn->lock);
out_free:
	nlmsg_free(msg);
	if (ids != ids_small)
		kfree(ids);
	return err;
}

/* Collects the KEY_ID of every QKDN_A_KEY nest. */
static int qkdn_nl_key_ids(struct genl_info *info, u8 *ids, u32 *n)
{
	struct nlattr *tb[QKDN_A_KEY_MAX + 1];
	struct nlattr *attr;
	int rem, err;
	u32 i;

	*n = 0;
	nlmsg_for_each_attr(attr, info->nlhdr, GENL_HDRLEN, rem) {
		if (nla_type(attr) != QKDN_A_KEY)
			continue;
		if (*n == QKDN_KEYS_PER_REQUEST) {
			NL_SET_ERR_MSG_ATTR(info->extack, attr,
					    "too many key IDs in one request");
			return -E2BIG;
		}
		err = nla_parse_nested(tb, QKDN_A_KEY_MAX, attr,
				       qkdn_key_policy, info->extack);
		if (err)
			return err;
		if (!tb[QKDN_A_KEY_ID]) {
			NL_SET_ERR_MSG_ATTR(info->extack, attr,
					    "key without key ID");
			return -EINVAL;
		}
		memcpy(ids + *n * QKDN_KEY_ID_LEN, nla_data(tb[QKDN_A_KEY_ID]),
		       QKDN_KEY_ID_LEN);
		for (i = 0; i < *n; i++) {
			if (!memcmp(ids + i * QKDN_KEY_ID_LEN,
				    ids + *n * QKDN_KEY_ID_LEN,
				    QKDN_KEY_ID_LEN)) {
				NL_SET_ERR_MSG_ATTR(info->extack, attr,
						    "key ID repeated");
				return -EINVAL;
			}
		}
		(*n)++;
	}
	if (!*n) {
		NL_SET_ERR_MSG(info->extack, "no key ID given");
		return -EINVAL;
	}
	return 0;
}

/*
 * Looks up all keys of a "key request with ID". Returns 0 when every key
 * is here for this SAE pair, -EAGAIN when some have not arrived yet.
 */
static int qkdn_key_lookup(struct qkdn_net *qn, struct genl_info *info,
			   const u8 *ids, u32 n, struct qkdn_key **keys,
			   struct qkdn_keytab **tabs)
{
	struct nlattr **a = info->attrs;
	struct qkdn_sae *master, *slave;
	struct qkdn_link *link;
	u32 i;

	slave = qkdn_nl_sae(qn, info, QKDN_A_SLAVE_SAE_ID);
	if (IS_ERR(slave))
		return PTR_ERR(slave);
	master = qkdn_nl_sae(qn, info, QKDN_A_MASTER_SAE_ID);
	if (IS_ERR(master))
		return PTR_ERR(master);
	if (!qkdn_may_act_as(qn, info, slave)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SLAVE_SAE_ID],
				    "caller may not act as the slave SAE");
		return -EACCES;
	}
	if (master->local) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_MASTER_SAE_ID],
				    "master SAE is served by this node");
		return -EOPNOTSUPP;
	}
	/* Reserved over the link to the master's KM, or relayed here. */
	link = qkdn_link_by_peer(qn, master->node_id);
	for (i = 0; i < n; i++) {
		const u8 *id = ids + i * QKDN_KEY_ID_LEN;

		tabs[i] = &qn->rkeys;
		keys[i] = qkdn_keytab_find(&qn->rkeys, id);
		if (!keys[i] && link) {
			tabs[i] = &link->keys;
			keys[i] = qkdn_keytab_find(&link->keys, id);
		}
		if (!keys[i])
			/* A reservation may still be on its way; a relayed
			 * key is here before its master has its ID.
			 */
			return link ? -EAGAIN : -ENODATA;
		if (strcmp(keys[i]->master, master->id) ||
		    strcmp(keys[i]->slave, slave->id)) {
			NL_SET_ERR_MSG(info->extack,
				       "key ID reserved for another SAE pair");
			return -EACCES;
		}
	}
	return 0;
}

/* Q.4160 I.1 "key request with ID" from the slave SAE. */
int qkdn_nl_key_get_by_id(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	long left = msecs_to_jiffies(QKDN_RESERVATION_WAIT_MS);
	struct qkdn_keytab **tabs = NULL;
	struct qkdn_key **keys = NULL;
	struct sk_buff *msg = NULL;
	struct qkdn_link *link;
	u8 *ids = NULL;
	size_t size;
	void *hdr;
	u32 n, i;
	int err;

	if (qkdn_nl_need(info, QKDN_A_MASTER_SAE_ID) ||
	    qkdn_nl_need(info, QKDN_A_SLAVE_SAE_ID))
		return -EINVAL;
	ids = kmalloc_array(QKDN_KEYS_PER_REQUEST, QKDN_KEY_ID_LEN, GFP_KERNEL);
	keys = kcalloc(QKDN_KEYS_PER_REQUEST, sizeof(*keys), GFP_KERNEL);
	tabs = kcalloc(QKDN_KEYS_PER_REQUEST, sizeof(*tabs), GFP_KERNEL);
	err = -ENOMEM;
	if (!ids || !keys || !tabs)
		goto out_free;
	err = qkdn_nl_key_ids(info, ids, &n);
	if (err)
		goto out_free;

	mutex_lock(&qn->lock);
	/* The reservation may still be on its way from the master's KM. */
	while ((err = qkdn_key_lookup(qn, info, ids, n, keys, tabs)) ==
	       -EAGAIN && left > 0 && !qn->dying) {
		if (info->attrs[QKDN_A_NOWAIT]) {
			NL_SET_ERR_MSG(info->extack,
				       "the request would wait for keys on their way");
			err = -EWOULDBLOCK;
			goto out_unlock;
		}
		unsigned long gen = qn->keys_gen;

		mutex_unlock(&qn->lock);
		left = wait_event_interruptible_timeout(qn->keys_wq,
							READ_ONCE(qn->keys_gen) != gen ||
							READ_ONCE(qn->dying),
							left);
		mutex_lock(&qn->lock);
		if (left < 0) {
			err = -EINTR;
			goto out_unlock;
		}
	}
	if (err == -EAGAIN || err == -ENODATA) {
		NL_SET_ERR_MSG(info->extack,
			       "key ID unknown or already supplied");
		err = -ENOENT;
	}
	if (err)
		goto out_unlock;

	for (i = 0, size = 0; i < n; i++)
		size += qkdn_key_msg_size(1, keys[i]->len);
	err = -ENOMEM;
	msg = qkdn_key_msg_new(size);
	if (!msg)
		goto out_unlock;
	err = -EMSGSIZE;
	hdr = qkdn_put_hdr(msg, info->snd_portid, info->snd_seq, 0,
			   QKDN_CMD_KEY_GET_BY_ID);
	if (!hdr)
		goto out_unlock;
	for (i = 0; i < n; i++) {
		struct nlattr *nest = nla_nest_start(msg, QKDN_A_KEY);

		if (!nest ||
		    nla_put(msg, QKDN_A_KEY_ID, QKDN_KEY_ID_LEN, keys[i]->id) ||
		    nla_put(msg, QKDN_A_KEY_DATA, keys[i]->len, keys[i]->data))
			goto out_unlock;
		nla_nest_end(msg, nest);
	}
	/* Supplied: each key leaves the store, erased. */
	link = qkdn_link_by_peer(qn, qkdn_sae_find(qn, keys[0]->master)->node_id);
	qkdn_nl_msg(qn, QKDN_MSG_KEY_REQUEST_WITH_ID, QKDN_MSG_DIR_RECEIVED,
		    "sae", keys[0]->slave, NULL, NULL, NULL, n, 0, NULL);
	qkdn_nl_event(qn, QKDN_EVENT_KEYS_SUPPLIED, link, keys[0]->master,
		      keys[0]->slave, n, ids);
	qkdn_nl_msg(qn, QKDN_MSG_KEY_REQUEST_RESPONSE, QKDN_MSG_DIR_SENT, "sae",
		    keys[0]->slave, NULL, NULL, NULL, n, 0, NULL);
	for (i = 0; i < n; i++) {
		if (tabs[i] == &qn->rkeys)
			qkdn_relay_key_taken(qn, keys[i]->relay);
		qkdn_keytab_free(tabs[i], keys[i]);
	}
	if (link)
		link->stats.keys_supplied += n;
	else
		qn->rstats.keys_supplied += n;
	mutex_unlock(&qn->lock);

	genlmsg_end(msg, hdr);
	qkdn_key_msg_fill(msg);
	kfree(tabs);
	kfree(keys);
	kfree(ids);
	return genlmsg_reply(msg, info);

out_unlock:
	mutex_unlock(&qn->lock);
out_free:
	nlmsg_free(msg);
	kfree(tabs);
	kfree(keys);
	kfree(ids);
	return err;
}
