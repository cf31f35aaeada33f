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
 * The slave SAEs of a key request, by the node that serves them: the
 * slave's first, then those of QKDN_A_ADD_SLAVE_SAE_ID (multicast). Names
 * are copied: the relays drop qn->lock.
 */
struct qkdn_key_slaves {
	char master[QKDN_ID_MAX];
	u32 n;
	struct qkdn_key_group {
		char node[QKDN_ID_MAX];
		char slave[QKDN_ID_MAX];
		struct qkdn_hop more[QKDN_SLAVES_MAX - 1];
		u8 nmore;
	} g[QKDN_SLAVES_MAX];
	struct qkdn_relay *r[QKDN_SLAVES_MAX];	/* one for each group */
};

static void qkdn_key_group_add(struct qkdn_key_slaves *ks,
			       const struct qkdn_sae *slave)
{
	struct qkdn_key_group *g;
	u32 i;

	for (i = 0; i < ks->n; i++) {
		g = &ks->g[i];
		if (!strcmp(g->node, slave->node_id)) {
			strscpy(g->more[g->nmore++].id, slave->id,
				QKDN_ID_MAX);
			return;
		}
	}
	g = &ks->g[ks->n++];
	strscpy(g->node, slave->node_id, sizeof(g->node));
	strscpy(g->slave, slave->id, sizeof(g->slave));
}

/* Whether the request already names the slave SAE id. */
static bool qkdn_key_names(const struct qkdn_key_slaves *ks, const char *id)
{
	u32 i, j;

	for (i = 0; i < ks->n; i++) {
		if (!strcmp(ks->g[i].slave, id))
			return true;
		for (j = 0; j < ks->g[i].nmore; j++)
			if (!strcmp(ks->g[i].more[j].id, id))
				return true;
	}
	return false;
}

/* Adds the slave SAEs of QKDN_A_ADD_SLAVE_SAE_ID, checking each. */
static int qkdn_key_more_slaves(struct qkdn_net *qn, struct genl_info *info,
				struct qkdn_key_slaves *ks)
{
	struct nlattr *attr;
	u32 n = 0;
	int rem;

	nlmsg_for_each_attr(attr, info->nlhdr, GENL_HDRLEN, rem) {
		struct qkdn_sae *sae;

		if (nla_type(attr) != QKDN_A_ADD_SLAVE_SAE_ID)
			continue;
		if (++n >= QKDN_SLAVES_MAX) {
			NL_SET_ERR_MSG_ATTR(info->extack, attr,
					    "too many additional slave SAEs");
			return -E2BIG;
		}
		sae = qkdn_sae_find(qn, nla_data(attr));
		if (!sae) {
			NL_SET_ERR_MSG_ATTR(info->extack, attr, "no such SAE");
			return -ENOENT;
		}
		if (sae->local) {
			NL_SET_ERR_MSG_ATTR(info->extack, attr,
					    "additional slave SAE is served by this node");
			return -EOPNOTSUPP;
		}
		if (qkdn_key_names(ks, sae->id)) {
			NL_SET_ERR_MSG_ATTR(info->extack, attr,
					    "slave SAE named twice");
			return -EINVAL;
		}
		qkdn_key_group_add(ks, sae);
	}
	return 0;
}

/* Whether a process with cred may act as the local SAE sae. */
bool qkdn_may_act_cred(const struct qkdn_sae *sae, const struct cred *cred)
{
	return sae->local && uid_valid(sae->uid) && uid_eq(cred->euid, sae->uid);
}

/*
 * Q.4160 I.5a/I.5b: the slave SAE sits behind a KM this node shares no
 * (usable) link with; and every multicast request. The keys are relayed
 * to each slave node: to the first as the first link's pad, to the others
 * encrypted from the first hop on. The application gets them once every
 * destination KM confirms it holds them; if one fails, the others erase
 * them. Drops and retakes qn->lock.
 */
static int qkdn_key_get_relayed(struct qkdn_net *qn,
				struct qkdn_key_slaves *ks, u32 number,
				u32 kb, const u8 *ids, u8 *first,
				size_t stride, struct netlink_ext_ack *extack)
{
	struct qkdn_relay_req req = {
		.master = ks->master,
		.count = number,
		.key_bytes = kb,
		.ids = ids,
	};
	u32 i, started = 0;
	int err = 0;

	for (i = 0; i < ks->n && !err; i++) {
		struct qkdn_key_group *g = &ks->g[i];
		struct qkdn_relay *r;

		req.slave = g->slave;
		req.dst = g->node;
		req.slaves = g->more;
		req.nslaves = g->nmore;
		req.keys_of = i ? ks->r[0] : NULL;
		r = qkdn_relay_start(qn, &req, extack);
		if (IS_ERR(r)) {
			err = PTR_ERR(r);
			break;
		}
		ks->r[started++] = r;
		/* The first relay's keys are every other's. */
		if (!i && ks->n > 1)
			err = qkdn_relay_wait_keys(qn, r, extack);
	}
	if (!err)
		err = qkdn_relay_wait_many(qn, ks->r, started, extack);
	if (err) {
		for (i = 0; i < started; i++)
			qkdn_relay_cancel(qn, ks->r[i]);
	} else {
		qkdn_relay_keys(ks->r[0], first, stride);
		qn->rstats.keys_reserved += number;
		qn->rstats.keys_supplied += number;
		qkdn_nl_event(qn, QKDN_EVENT_KEYS_RESERVED, NULL, ks->master,
			      ks->g[0].slave, number, ids);
	}
	if (started)
		qkdn_nl_msg(qn, QKDN_MSG_KEY_REQUEST_RESPONSE,
			    QKDN_MSG_DIR_SENT, "sae", ks->master, NULL, NULL,
			    ks->g[0].node, err ? 0 : number, -err, NULL);
	for (i = 0; i < started; i++)
		qkdn_relay_finish(qn, ks->r[i]);
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

/* I.1: keys reserved on the link to the slave SAE's node. */
static int qkdn_key_reserve(struct qkdn_net *qn, struct qkdn_link *link,
			    const struct qkdn_sae *master,
			    const struct qkdn_sae *slave, u32 number, u32 kb,
			    const u8 *ids, u8 *first, size_t stride,
			    const struct nlattr *slave_attr,
			    struct netlink_ext_ack *extack)
{
	u64 seq;
	u32 off, i;
	int err;

	if (!link) {
		NL_SET_ERR_MSG_ATTR(extack, slave_attr,
				    "no QKD link to the slave SAE's node, and no QKDN controller to relay");
		return -EHOSTUNREACH;
	}
	if (link->unacked_keys + number > QKDN_KX_UNACKED_KEYS_MAX) {
		NL_SET_ERR_MSG(extack,
			       "too many reservations not yet acknowledged by the peer KM");
		return -EBUSY;
	}
	if (link->own.bytes < (u64)number * kb) {
		NL_SET_ERR_MSG(extack, "not enough key in the pool");
		qkdn_nl_event(qn, QKDN_EVENT_POOL_EMPTY, link, master->id,
			      slave->id, number, NULL);
		return -ENOSPC;
	}

	qkdn_store_position(&link->own, &seq, &off);
	err = qkdn_kx_send_reserve(link, seq, off, kb, number, master->id,
				   slave->id, ids);
	if (err)
		return err;
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
	return 0;
}

/*
 * Q.4160 I.1 "key request" once the SAEs are known and the caller may act
 * as the master: number keys of kb bytes with the IDs ids, written to
 * first, first + stride, ... Reserved on the link to the slave's node
 * without a round trip (the reservation follows on Kx), or relayed when
 * there is no link with enough key (I.5a, I.5b); ks names the slave SAEs
 * of a multicast, or is NULL. With qn->lock held; a relay drops and
 * retakes it: master and slave must not be used afterwards.
 */
int qkdn_key_take(struct qkdn_net *qn, struct qkdn_sae *master,
		  struct qkdn_sae *slave, struct qkdn_key_slaves *ks,
		  u32 number, u32 kb, const u8 *ids, u8 *first, size_t stride,
		  bool nowait, const struct nlattr *slave_attr,
		  struct netlink_ext_ack *extack)
{
	struct qkdn_key_slaves *one = NULL;
	struct qkdn_link *link;
	bool relay;
	int err;

	link = qkdn_link_by_peer(qn, slave->node_id);
	/*
	 * No link, or too little key on it: relay, if a controller routes.
	 * A multicast is relayed to each slave node, over its link if it has
	 * one with enough key.
	 */
	relay = ks || ((!link || link->own.bytes < (u64)number * kb) &&
		       qkdn_ctrl_present(qn));
	qkdn_nl_msg(qn, QKDN_MSG_KEY_REQUEST, QKDN_MSG_DIR_RECEIVED, "sae",
		    master->id, NULL, NULL, slave->node_id, number, 0, NULL);
	if (relay && nowait) {
		NL_SET_ERR_MSG(extack, "the request would wait for a key relay");
		return -EWOULDBLOCK;
	}
	if (relay && !ks) {
		one = kzalloc(sizeof(*one), GFP_KERNEL);
		if (!one)
			return -ENOMEM;
		strscpy(one->master, master->id, sizeof(one->master));
		qkdn_key_group_add(one, slave);
	}
	if (relay) {
		err = qkdn_key_get_relayed(qn, ks ?: one, number, kb, ids,
					   first, stride, extack);
		kfree(one);
		if (err == -ENOTCONN && ks)
			err = -EHOSTUNREACH;
		if (err != -ENOTCONN)
			return err;
		/* No controller listens in this node after all. */
	}
	return qkdn_key_reserve(qn, link, master, slave, number, kb, ids, first,
				stride, slave_attr, extack);
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
	u32 number = 1, bits = QKDN_KEY_SIZE_DEFAULT, kb, i;
	struct qkdn_key_slaves *ks = NULL;
	size_t stride;
	struct sk_buff *msg = NULL;
	bool multicast = a[QKDN_A_ADD_SLAVE_SAE_ID];
	u8 ids_small[8 * QKDN_KEY_ID_LEN];
	u8 *first = NULL, *ids = ids_small;
	void *hdr;
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
	if (a[QKDN_A_SESSION_ID] && multicast) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_ADD_SLAVE_SAE_ID],
				    "a session's keys have one slave SAE");
		return -EINVAL;
	}
	if (a[QKDN_A_SESSION_ID])
		return qkdn_key_get_session(qn, info, number, kb);

	msg = qkdn_key_msg_new(qkdn_key_msg_size(number, kb));
	if (number * QKDN_KEY_ID_LEN > sizeof(ids_small))
		ids = kmalloc_array(number, QKDN_KEY_ID_LEN, GFP_KERNEL);
	if (multicast)
		ks = kzalloc(sizeof(*ks), GFP_KERNEL);
	if (!msg || !ids || (multicast && !ks)) {
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
	if (multicast) {
		strscpy(ks->master, master->id, sizeof(ks->master));
		qkdn_key_group_add(ks, slave);
		err = qkdn_key_more_slaves(qn, info, ks);
		if (err)
			goto out_unlock;
	}

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
	err = qkdn_key_take(qn, master, slave, ks, number, kb, ids, first,
			    stride, a[QKDN_A_NOWAIT], a[QKDN_A_SLAVE_SAE_ID],
			    info->extack);
	if (err)
		goto out_unlock;
	mutex_unlock(&qn->lock);

	genlmsg_end(msg, hdr);
	qkdn_key_msg_fill(msg);
	if (ids != ids_small)
		kfree(ids);
	kfree(ks);
	return genlmsg_reply(msg, info);

out_unlock:
	mutex_unlock(&qn->lock);
out_free:
	nlmsg_free(msg);
	if (ids != ids_small)
		kfree(ids);
	kfree(ks);
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

/* A netlink request's attribute, for an extack message; NULL otherwise. */
static const struct nlattr *qkdn_key_ask_attr(const struct qkdn_key_ask *ask,
					      int type)
{
	return ask->info ? ask->info->attrs[type] : NULL;
}

static struct qkdn_sae *qkdn_key_ask_sae(struct qkdn_net *qn,
					 const struct qkdn_key_ask *ask,
					 bool slave)
{
	struct qkdn_sae *sae;

	if (ask->info)
		return qkdn_nl_sae(qn, ask->info, slave ? QKDN_A_SLAVE_SAE_ID :
							 QKDN_A_MASTER_SAE_ID);
	sae = qkdn_sae_find(qn, slave ? ask->slave : ask->master);
	if (!sae) {
		NL_SET_ERR_MSG(ask->extack, "no such SAE");
		return ERR_PTR(-ENOENT);
	}
	return sae;
}

static bool qkdn_key_ask_may(struct qkdn_net *qn,
			     const struct qkdn_key_ask *ask,
			     const struct qkdn_sae *sae)
{
	return ask->info ? qkdn_may_act_as(qn, ask->info, sae) :
			   qkdn_may_act_cred(sae, ask->cred);
}

/*
 * Looks up all keys of a "key request with ID". Returns 0 when every key
 * is here for this SAE pair, -EAGAIN when some have not arrived yet.
 */
static int qkdn_key_lookup(struct qkdn_net *qn, const struct qkdn_key_ask *ask,
			   const u8 *ids, u32 n, struct qkdn_key **keys,
			   struct qkdn_keytab **tabs)
{
	struct netlink_ext_ack *extack = ask->extack;
	struct qkdn_sae *master, *slave;
	struct qkdn_link *link;
	u32 i;

	slave = qkdn_key_ask_sae(qn, ask, true);
	if (IS_ERR(slave))
		return PTR_ERR(slave);
	master = qkdn_key_ask_sae(qn, ask, false);
	if (IS_ERR(master))
		return PTR_ERR(master);
	if (!qkdn_key_ask_may(qn, ask, slave)) {
		NL_SET_ERR_MSG_ATTR(extack,
				    qkdn_key_ask_attr(ask, QKDN_A_SLAVE_SAE_ID),
				    "caller may not act as the slave SAE");
		return -EACCES;
	}
	if (master->local) {
		NL_SET_ERR_MSG_ATTR(extack,
				    qkdn_key_ask_attr(ask, QKDN_A_MASTER_SAE_ID),
				    "master SAE is served by this node");
		return -EOPNOTSUPP;
	}
	/* Reserved over the link to the master's KM, or relayed here. */
	link = qkdn_link_by_peer(qn, master->node_id);
	for (i = 0; i < n; i++) {
		const u8 *id = ids + i * QKDN_KEY_ID_LEN;

		tabs[i] = &qn->rkeys;
		/* A multicast left a copy for each of its slave SAEs. */
		keys[i] = qkdn_keytab_match(&qn->rkeys, id, slave->id, NULL);
		if (!keys[i]) {
			keys[i] = qkdn_keytab_find(&qn->rkeys, id);
			if (keys[i] && !strcmp(keys[i]->master, master->id) &&
			    qkdn_relay_names_slave(qn, keys[i]->relay,
						   slave->id)) {
				/* Its own copy is gone: the others' wait. */
				NL_SET_ERR_MSG(extack,
					       "key ID unknown or already supplied");
				return -ENOENT;
			}
		}
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
			NL_SET_ERR_MSG(extack,
				       "key ID reserved for another SAE pair");
			return -EACCES;
		}
	}
	return 0;
}

/*
 * Q.4160 I.1 "key request with ID": finds the n keys, waiting up to
 * QKDN_RESERVATION_WAIT_MS for reservations still on their way. With
 * qn->lock held (dropped while waiting); on success the keys stay in
 * their tables until qkdn_key_ids_taken().
 */
int qkdn_key_find_ids(struct qkdn_net *qn, const struct qkdn_key_ask *ask,
		      const u8 *ids, u32 n, struct qkdn_key **keys,
		      struct qkdn_keytab **tabs)
{
	long left = msecs_to_jiffies(QKDN_RESERVATION_WAIT_MS);
	int err;

	while ((err = qkdn_key_lookup(qn, ask, ids, n, keys, tabs)) ==
	       -EAGAIN && left > 0 && !qn->dying) {
		unsigned long gen = qn->keys_gen;

		if (ask->nowait) {
			NL_SET_ERR_MSG(ask->extack,
				       "the request would wait for keys on their way");
			return -EWOULDBLOCK;
		}
		mutex_unlock(&qn->lock);
		left = wait_event_interruptible_timeout(qn->keys_wq,
							READ_ONCE(qn->keys_gen) != gen ||
							READ_ONCE(qn->dying),
							left);
		mutex_lock(&qn->lock);
		if (left < 0)
			return -EINTR;
	}
	if (err == -EAGAIN || err == -ENODATA) {
		NL_SET_ERR_MSG(ask->extack,
			       "key ID unknown or already supplied");
		err = -ENOENT;
	}
	return err;
}

/* The keys found are supplied: each leaves the store, erased. */
void qkdn_key_ids_taken(struct qkdn_net *qn, struct qkdn_key **keys,
			struct qkdn_keytab **tabs, const u8 *ids, u32 n)
{
	struct qkdn_link *link;
	u32 i;

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
}

/* Q.4160 I.1 "key request with ID" from the slave SAE. */
int qkdn_nl_key_get_by_id(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_key_ask ask = {
		.info = info,
		.nowait = info->attrs[QKDN_A_NOWAIT],
		.extack = info->extack,
	};
	struct qkdn_keytab **tabs = NULL;
	struct qkdn_key **keys = NULL;
	struct sk_buff *msg = NULL;
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
	err = qkdn_key_find_ids(qn, &ask, ids, n, keys, tabs);
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
	qkdn_key_ids_taken(qn, keys, tabs, ids, n);
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
