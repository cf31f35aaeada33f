// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "qkdn": configuration, Ak (key requests),
 * Kx frames to and from the link daemon, and events.
 *
 * Documentation/netlink/specs/qkdn.yaml describes this family.
 */

#include <linux/cred.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "qkdn.h"

static struct netlink_range_validation qkdn_link_id_range = {
	.min = 1,
	.max = 65535,
};

static struct netlink_range_validation qkdn_capacity_range = {
	.min = 4096,
	.max = QKDN_POOL_CAPACITY_MAX,
};

static struct netlink_range_validation qkdn_low_range = {
	.max = QKDN_POOL_CAPACITY_MAX,
};

static struct netlink_range_validation qkdn_rate_range = {
	.max = 1000000000000ULL,	/* 1 Tb/s */
};

const struct nla_policy qkdn_key_policy[QKDN_A_KEY_MAX + 1] = {
	[QKDN_A_KEY_ID]		= NLA_POLICY_EXACT_LEN(QKDN_KEY_ID_LEN),
	/* Requests never carry key bytes. */
	[QKDN_A_KEY_DATA]	= { .type = NLA_REJECT },
};

#define QKDN_ID_POLICY	{ .type = NLA_NUL_STRING, .len = QKDN_ID_MAX - 1 }

/* Attributes absent here are replies only; strict validation rejects them. */
static const struct nla_policy qkdn_policy[QKDN_A_MAX + 1] = {
	[QKDN_A_NODE_ID]	= QKDN_ID_POLICY,
	[QKDN_A_LINK_ID]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&qkdn_link_id_range),
	[QKDN_A_PEER_NODE_ID]	= QKDN_ID_POLICY,
	[QKDN_A_DEVICE]		= { .type = NLA_NUL_STRING,
				    .len = QKDN_DEVNAME_MAX - 1 },
	[QKDN_A_LINK_UP]	= NLA_POLICY_MAX(NLA_U8, 1),
	[QKDN_A_DEVICE_RUNNING]	= NLA_POLICY_MAX(NLA_U8, 1),
	[QKDN_A_RATE]		= NLA_POLICY_FULL_RANGE(NLA_U64,
							&qkdn_rate_range),
	[QKDN_A_POOL_CAPACITY]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&qkdn_capacity_range),
	[QKDN_A_POOL_LOW]	= NLA_POLICY_FULL_RANGE(NLA_U32, &qkdn_low_range),
	[QKDN_A_SAE_ID]		= QKDN_ID_POLICY,
	[QKDN_A_SAE_UID]	= { .type = NLA_U32 },
	[QKDN_A_SAE_NODE_ID]	= QKDN_ID_POLICY,
	[QKDN_A_SAE_CRED]	= { .type = NLA_NUL_STRING,
				    .len = QKDN_CRED_MAX - 1 },
	[QKDN_A_NOWAIT]		= { .type = NLA_FLAG },
	[QKDN_A_ADD_SLAVE_SAE_ID] = QKDN_ID_POLICY,
	[QKDN_A_MASTER_SAE_ID]	= QKDN_ID_POLICY,
	[QKDN_A_SLAVE_SAE_ID]	= QKDN_ID_POLICY,
	[QKDN_A_KEY_NUMBER]	= NLA_POLICY_RANGE(NLA_U32, 1,
						   QKDN_KEYS_PER_REQUEST),
	[QKDN_A_KEY_SIZE]	= NLA_POLICY_RANGE(NLA_U32, QKDN_KEY_SIZE_MIN,
						   QKDN_KEY_SIZE_MAX),
	[QKDN_A_KEY]		= NLA_POLICY_NESTED(qkdn_key_policy),
	[QKDN_A_KX_FRAME]	= { .type = NLA_BINARY,
				    .len = QKDN_KX_FRAME_MAX },
	[QKDN_A_MSG]		= NLA_POLICY_RANGE(NLA_U32, 1, QKDN_MSG_MAX),
	[QKDN_A_CTRL_ID]	= NLA_POLICY_MIN(NLA_U32, 1),
	[QKDN_A_DST_NODE_ID]	= QKDN_ID_POLICY,
	[QKDN_A_RELAY_ID]	= NLA_POLICY_EXACT_LEN(QKDN_RELAY_ID_LEN),
	[QKDN_A_NEXT_HOP]	= QKDN_ID_POLICY,
	[QKDN_A_ROUTE]		= NLA_POLICY_NESTED(qkdn_route_policy),
	[QKDN_A_ROUTE_METRIC]	= { .type = NLA_U32 },
	[QKDN_A_ROUTE_AVAIL]	= { .type = NLA_U64 },
	[QKDN_A_ERRNO]		= NLA_POLICY_MAX(NLA_U32, 511),	/* QKDN_ERRNO_MAX */
	[QKDN_A_ERRMSG]		= { .type = NLA_NUL_STRING,
				    .len = QKDN_ERRMSG_MAX - 1 },
	[QKDN_A_CTRL_MODE]	= NLA_POLICY_MAX(NLA_U8, QKDN_CTRL_CENTRALIZED),
	[QKDN_A_SESSION_ID]	= NLA_POLICY_MIN(NLA_U32, 1),
	[QKDN_A_SRC_NODE_ID]	= QKDN_ID_POLICY,
	[QKDN_A_SAE_KERNEL]	= { .type = NLA_FLAG },
	[QKDN_A_IPSEC]		= NLA_POLICY_NESTED(qkdn_ipsec_policy),
};

static const struct genl_multicast_group qkdn_mcgrps[] = {
	[QKDN_MCGRP_EVENTS_ID] = { .name = QKDN_MCGRP_EVENTS },
	[QKDN_MCGRP_CTRL_ID] = { .name = QKDN_MCGRP_CTRL,
				 .flags = GENL_MCAST_CAP_NET_ADMIN },
};

struct qkdn_net *qkdn_info_qn(struct genl_info *info)
{
	return qkdn_net(genl_info_net(info));
}

/* A required attribute: missing, it is named in the extack. */
bool qkdn_nl_need(struct genl_info *info, int type)
{
	if (!GENL_REQ_ATTR_CHECK(info, type))
		return false;
	NL_SET_ERR_MSG(info->extack, "required attribute missing");
	return true;
}

/* A client credential: 1 to QKDN_CRED_MAX - 1 printable ASCII bytes. */
static int qkdn_nl_cred(struct genl_info *info, char **out)
{
	struct nlattr *attr = info->attrs[QKDN_A_SAE_CRED];
	const char *s = nla_data(attr);
	size_t i, n = strnlen(s, nla_len(attr));

	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			break;
	if (!n || i < n) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "client credential must be 1 to 255 printable ASCII characters");
		return -EINVAL;
	}
	*out = kmemdup_nul(s, n, GFP_KERNEL);
	return *out ? 0 : -ENOMEM;
}

/* IDs are printable names: letters, digits and . _ - : @ */
static int qkdn_nl_id(struct genl_info *info, int type, char *out)
{
	struct nlattr *attr = info->attrs[type];
	const char *s;

	if (!attr) {
		NL_SET_ERR_ATTR_MISS(info->extack, NULL, type);
		NL_SET_ERR_MSG(info->extack, "missing ID attribute");
		return -EINVAL;
	}
	s = nla_data(attr);
	if (!qkdn_id_valid(s))
		goto bad;
	nla_strscpy(out, attr, QKDN_ID_MAX);
	return 0;
bad:
	NL_SET_ERR_MSG_ATTR(info->extack, attr,
			    "ID must be 1 to 63 of A-Z a-z 0-9 . _ - : @");
	return -EINVAL;
}

static int qkdn_put_stats(struct sk_buff *skb, const struct qkdn_stats *s)
{
	struct nlattr *nest = nla_nest_start(skb, QKDN_A_STATS);
	const u64 *v = (const u64 *)s;
	unsigned int i;

	if (!nest)
		return -EMSGSIZE;
	for (i = 0; i < sizeof(*s) / sizeof(u64); i++)
		if (nla_put_u64_64bit(skb, QKDN_A_STATS_BLOCKS_IN + i, v[i],
				      QKDN_A_STATS_PAD))
			return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

/* Replies and dumps: one message per object. */
void *qkdn_put_hdr(struct sk_buff *skb, u32 portid, u32 seq, int flags,
		   u8 cmd)
{
	return genlmsg_put(skb, portid, seq, &qkdn_genl_family, flags, cmd);
}

/* ---- node ---- */

static int qkdn_nl_node_get(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_stats sum;
	struct qkdn_link *link;
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = qkdn_put_hdr(msg, info->snd_portid, info->snd_seq, 0,
			   QKDN_CMD_NODE_GET);
	if (!hdr)
		goto nospace;
	mutex_lock(&qn->lock);
	sum = qn->gone;
	qkdn_stats_add(&sum, &qn->rstats);
	list_for_each_entry(link, &qn->links, node)
		qkdn_stats_add(&sum, &link->stats);
	if ((qn->node_id[0] && nla_put_string(msg, QKDN_A_NODE_ID, qn->node_id)) ||
	    nla_put_u8(msg, QKDN_A_CTRL_MODE, qn->ctrl_mode) ||
	    qkdn_put_stats(msg, &sum)) {
		mutex_unlock(&qn->lock);
		goto nospace;
	}
	mutex_unlock(&qn->lock);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

static int qkdn_nl_node_set(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct nlattr *mode = info->attrs[QKDN_A_CTRL_MODE];
	char id[QKDN_ID_MAX];
	int err = 0;

	/* The node ID, the controller mode, or both. */
	if (!mode || info->attrs[QKDN_A_NODE_ID]) {
		err = qkdn_nl_id(info, QKDN_A_NODE_ID, id);
		if (err)
			return err;
	}
	mutex_lock(&qn->lock);
	if (info->attrs[QKDN_A_NODE_ID] && !list_empty(&qn->links) &&
	    strcmp(id, qn->node_id)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[QKDN_A_NODE_ID],
				    "node ID cannot change while links exist");
		err = -EBUSY;
	} else {
		if (info->attrs[QKDN_A_NODE_ID])
			strscpy(qn->node_id, id, sizeof(qn->node_id));
		if (mode)
			qn->ctrl_mode = nla_get_u8(mode);
	}
	mutex_unlock(&qn->lock);
	return err;
}

/* ---- links ---- */

static int qkdn_fill_link(struct sk_buff *skb, struct qkdn_link *link,
			  u32 portid, u32 seq, int flags)
{
	void *hdr = qkdn_put_hdr(skb, portid, seq, flags, QKDN_CMD_LINK_GET);

	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, QKDN_A_LINK_ID, link->id) ||
	    nla_put_string(skb, QKDN_A_PEER_NODE_ID, link->peer) ||
	    (link->devname[0] &&
	     nla_put_string(skb, QKDN_A_DEVICE, link->devname)) ||
	    nla_put_u8(skb, QKDN_A_LINK_UP, link->up) ||
	    nla_put_u8(skb, QKDN_A_DEVICE_RUNNING,
		       link->dev && link->dev->running) ||
	    nla_put_u64_64bit(skb, QKDN_A_RATE, link->dev ? link->dev->rate : 0,
			      QKDN_A_PAD) ||
	    nla_put_u32(skb, QKDN_A_POOL_CAPACITY, link->capacity) ||
	    nla_put_u32(skb, QKDN_A_POOL_LOW, link->low) ||
	    qkdn_put_stats(skb, &link->stats)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static struct qkdn_link *qkdn_nl_link(struct qkdn_net *qn,
				      struct genl_info *info)
{
	struct qkdn_link *link;

	if (qkdn_nl_need(info, QKDN_A_LINK_ID))
		return ERR_PTR(-EINVAL);
	link = qkdn_link_find(qn, nla_get_u32(info->attrs[QKDN_A_LINK_ID]));
	if (!link) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[QKDN_A_LINK_ID],
				    "no such link");
		return ERR_PTR(-ENOENT);
	}
	return link;
}

static int qkdn_nl_link_get(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_link *link;
	struct sk_buff *msg;
	int err;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&qn->lock);
	link = qkdn_nl_link(qn, info);
	err = IS_ERR(link) ? PTR_ERR(link) :
	      qkdn_fill_link(msg, link, info->snd_portid, info->snd_seq, 0);
	mutex_unlock(&qn->lock);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

typedef int (*qkdn_fill_link_t)(struct sk_buff *skb, struct qkdn_link *link,
				u32 portid, u32 seq, int flags);

/* A dump of the node's links, one message each from fill. */
static int qkdn_nl_dump_links(struct sk_buff *skb, struct netlink_callback *cb,
			      qkdn_fill_link_t fill)
{
	struct qkdn_net *qn = qkdn_net(sock_net(skb->sk));
	struct qkdn_link *link;
	long idx = 0;

	mutex_lock(&qn->lock);
	list_for_each_entry(link, &qn->links, node) {
		if (idx++ < cb->args[0])
			continue;
		if (fill(skb, link, NETLINK_CB(cb->skb).portid,
			 cb->nlh->nlmsg_seq, NLM_F_MULTI)) {
			idx--;
			break;
		}
	}
	mutex_unlock(&qn->lock);
	cb->args[0] = idx;
	return skb->len;
}

static int qkdn_nl_link_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	return qkdn_nl_dump_links(skb, cb, qkdn_fill_link);
}

/* Checks the pool and device attributes of LINK_NEW/LINK_SET. */
static int qkdn_nl_link_opts(struct qkdn_net *qn, struct qkdn_link *link,
			     struct genl_info *info, struct qkdn_device **devp,
			     u32 *capacity, u32 *low)
{
	struct nlattr **a = info->attrs;
	struct qkdn_device *dev = link ? link->dev : NULL;

	*capacity = link ? link->capacity : QKDN_POOL_CAPACITY_DEFAULT;
	*low = link ? link->low : 0;
	if (a[QKDN_A_POOL_CAPACITY])
		*capacity = nla_get_u32(a[QKDN_A_POOL_CAPACITY]);
	if (a[QKDN_A_POOL_LOW])
		*low = nla_get_u32(a[QKDN_A_POOL_LOW]);
	if (*low > *capacity) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_POOL_LOW] ?:
				    a[QKDN_A_POOL_CAPACITY],
				    "low mark above pool capacity");
		return -EINVAL;
	}
	if (a[QKDN_A_DEVICE]) {
		dev = qkdn_device_find(qn, nla_data(a[QKDN_A_DEVICE]));
		if (dev && dev->link && dev->link != link) {
			NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_DEVICE],
					    "QKD module serves another link");
			return -EBUSY;
		}
	}
	if ((a[QKDN_A_DEVICE_RUNNING] || a[QKDN_A_RATE]) && !dev) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_DEVICE_RUNNING] ?:
				    a[QKDN_A_RATE], "no QKD module attached");
		return -ENODEV;
	}
	if (a[QKDN_A_RATE] && !dev->ops->set_rate) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_RATE],
				    "QKD module has no rate control");
		return -EOPNOTSUPP;
	}
	*devp = dev;
	return 0;
}

/*
 * Applies what qkdn_nl_link_opts() checked. What the QKD module may refuse
 * comes first, and is undone if a later part is refused, so that a failed
 * request changes nothing.
 */
static int qkdn_nl_link_apply(struct qkdn_link *link, struct genl_info *info,
			      struct qkdn_device *dev, u32 capacity, u32 low)
{
	struct nlattr **a = info->attrs;
	bool was_running = dev && dev->running;
	int err;

	if (a[QKDN_A_DEVICE_RUNNING]) {
		err = qkdn_device_set_running(dev, nla_get_u8(a[QKDN_A_DEVICE_RUNNING]));
		if (err)
			goto refused;
	}
	if (a[QKDN_A_RATE]) {
		err = qkdn_device_set_rate(dev, nla_get_u64(a[QKDN_A_RATE]));
		if (err) {
			qkdn_device_set_running(dev, was_running);
			goto refused;
		}
	}
	link->capacity = capacity;
	link->low = low;
	if (a[QKDN_A_DEVICE]) {
		nla_strscpy(link->devname, a[QKDN_A_DEVICE],
			    sizeof(link->devname));
		if (link->dev && link->dev != dev)
			qkdn_device_detach(link);
		if (dev && !link->dev)
			qkdn_device_attach(link, dev);
	}
	return 0;
refused:
	NL_SET_ERR_MSG(info->extack, "QKD module refused the request");
	return err;
}

static int qkdn_nl_link_new(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_device *dev;
	struct qkdn_link *link;
	char peer[QKDN_ID_MAX];
	u32 id, capacity, low;
	int err;

	if (qkdn_nl_need(info, QKDN_A_LINK_ID))
		return -EINVAL;
	err = qkdn_nl_id(info, QKDN_A_PEER_NODE_ID, peer);
	if (err)
		return err;
	id = nla_get_u32(info->attrs[QKDN_A_LINK_ID]);

	mutex_lock(&qn->lock);
	err = -EINVAL;
	if (!qn->node_id[0]) {
		NL_SET_ERR_MSG(info->extack, "set the node ID first");
		goto out;
	}
	if (!strcmp(peer, qn->node_id)) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[QKDN_A_PEER_NODE_ID],
				    "peer is this node");
		goto out;
	}
	err = -EEXIST;
	if (qkdn_link_find(qn, id)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[QKDN_A_LINK_ID],
				    "link ID in use");
		goto out;
	}
	if (qkdn_link_by_peer(qn, peer)) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[QKDN_A_PEER_NODE_ID],
				    "a link to this peer exists");
		goto out;
	}
	err = qkdn_nl_link_opts(qn, NULL, info, &dev, &capacity, &low);
	if (err)
		goto out;
	err = -ENOMEM;
	link = qkdn_link_create(qn, id, peer);
	if (!link)
		goto out;
	err = qkdn_nl_link_apply(link, info, dev, capacity, low);
	if (err)
		qkdn_link_destroy(link);
out:
	mutex_unlock(&qn->lock);
	return err;
}

static int qkdn_nl_link_set(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_device *dev;
	struct qkdn_link *link;
	u32 capacity, low;
	int err;

	mutex_lock(&qn->lock);
	link = qkdn_nl_link(qn, info);
	err = PTR_ERR_OR_ZERO(link);
	if (!err)
		err = qkdn_nl_link_opts(qn, link, info, &dev, &capacity, &low);
	if (!err)
		err = qkdn_nl_link_apply(link, info, dev, capacity, low);
	mutex_unlock(&qn->lock);
	return err;
}

static int qkdn_nl_link_del(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_link *link;
	int err;

	mutex_lock(&qn->lock);
	link = qkdn_nl_link(qn, info);
	err = PTR_ERR_OR_ZERO(link);
	if (!err)
		qkdn_link_destroy(link);
	mutex_unlock(&qn->lock);
	return err;
}

/* ---- SAEs ---- */

static int qkdn_fill_sae(struct sk_buff *skb, struct qkdn_sae *sae,
			 u32 portid, u32 seq, int flags)
{
	void *hdr = qkdn_put_hdr(skb, portid, seq, flags, QKDN_CMD_SAE_GET);

	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_string(skb, QKDN_A_SAE_ID, sae->id) ||
	    (uid_valid(sae->uid) &&
	     nla_put_u32(skb, QKDN_A_SAE_UID,
			 from_kuid_munged(current_user_ns(), sae->uid))) ||
	    (sae->cred && nla_put_string(skb, QKDN_A_SAE_CRED, sae->cred)) ||
	    (sae->kernel && nla_put_flag(skb, QKDN_A_SAE_KERNEL)) ||
	    (!sae->local &&
	     nla_put_string(skb, QKDN_A_SAE_NODE_ID, sae->node_id))) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

struct qkdn_sae *qkdn_nl_sae(struct qkdn_net *qn, struct genl_info *info,
			     int type)
{
	struct qkdn_sae *sae;
	char id[QKDN_ID_MAX];
	int err;

	err = qkdn_nl_id(info, type, id);
	if (err)
		return ERR_PTR(err);
	sae = qkdn_sae_find(qn, id);
	if (!sae) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[type],
				    "no such SAE");
		return ERR_PTR(-ENOENT);
	}
	return sae;
}

static int qkdn_nl_sae_get(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_sae *sae;
	struct sk_buff *msg;
	int err;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&qn->lock);
	sae = qkdn_nl_sae(qn, info, QKDN_A_SAE_ID);
	err = IS_ERR(sae) ? PTR_ERR(sae) :
	      qkdn_fill_sae(msg, sae, info->snd_portid, info->snd_seq, 0);
	mutex_unlock(&qn->lock);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

static int qkdn_nl_sae_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct qkdn_net *qn = qkdn_net(sock_net(skb->sk));
	struct qkdn_sae *sae;
	long idx = 0;

	mutex_lock(&qn->lock);
	list_for_each_entry(sae, &qn->saes, node) {
		if (idx++ < cb->args[0])
			continue;
		if (qkdn_fill_sae(skb, sae, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, NLM_F_MULTI)) {
			idx--;
			break;
		}
	}
	mutex_unlock(&qn->lock);
	cb->args[0] = idx;
	return skb->len;
}

static int qkdn_nl_sae_new(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct nlattr **a = info->attrs;
	struct qkdn_sae *sae;
	int err;

	if (a[QKDN_A_SAE_KERNEL] &&
	    (a[QKDN_A_SAE_NODE_ID] || a[QKDN_A_SAE_UID] || a[QKDN_A_SAE_CRED])) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SAE_KERNEL],
				    "a kernel SAE has no node ID, uid or client credential: no process may act as it");
		return -EINVAL;
	}
	if (!(a[QKDN_A_SAE_UID] || a[QKDN_A_SAE_CRED]) ==
	    !(a[QKDN_A_SAE_NODE_ID] || a[QKDN_A_SAE_KERNEL])) {
		NL_SET_ERR_MSG(info->extack,
			       "give a uid or a client credential (local SAE), a node ID (remote SAE), or the kernel flag (kernel SAE)");
		return -EINVAL;
	}
	sae = kzalloc(sizeof(*sae), GFP_KERNEL);
	if (!sae)
		return -ENOMEM;
	sae->uid = INVALID_UID;
	err = qkdn_nl_id(info, QKDN_A_SAE_ID, sae->id);
	if (err)
		goto free;
	if (a[QKDN_A_SAE_UID]) {
		sae->uid = make_kuid(current_user_ns(),
				     nla_get_u32(a[QKDN_A_SAE_UID]));
		if (!uid_valid(sae->uid)) {
			NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SAE_UID],
					    "uid not valid in this user namespace");
			err = -EINVAL;
			goto free;
		}
	}
	if (a[QKDN_A_SAE_CRED]) {
		err = qkdn_nl_cred(info, &sae->cred);
		if (err)
			goto free;
	}
	if (a[QKDN_A_SAE_UID] || a[QKDN_A_SAE_CRED] || a[QKDN_A_SAE_KERNEL]) {
		sae->local = true;
		sae->kernel = !!a[QKDN_A_SAE_KERNEL];
	} else {
		err = qkdn_nl_id(info, QKDN_A_SAE_NODE_ID, sae->node_id);
		if (err)
			goto free;
	}

	mutex_lock(&qn->lock);
	if (qkdn_sae_find(qn, sae->id)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SAE_ID],
				    "SAE ID in use");
		err = -EEXIST;
	} else if (sae->cred && qkdn_sae_find_cred(qn, sae->cred)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SAE_CRED],
				    "client credential in use by another SAE");
		err = -EEXIST;
	} else if (!sae->local && !strcmp(sae->node_id, qn->node_id)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SAE_NODE_ID],
				    "a remote SAE cannot be served by this node");
		err = -EINVAL;
	} else {
		list_add_tail(&sae->node, &qn->saes);
		sae = NULL;
	}
	mutex_unlock(&qn->lock);
free:
	if (sae)
		kfree(sae->cred);
	kfree(sae);
	return err;
}

static int qkdn_nl_sae_del(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_sae *sae;
	int err;

	mutex_lock(&qn->lock);
	sae = qkdn_nl_sae(qn, info, QKDN_A_SAE_ID);
	err = PTR_ERR_OR_ZERO(sae);
	if (!err && qkdn_ipsec_uses_sae(qn, sae->id)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[QKDN_A_SAE_ID],
				    "an IPsec tunnel uses this SAE");
		err = -EBUSY;
	}
	if (!err)
		qkdn_sae_destroy(sae);
	mutex_unlock(&qn->lock);
	return err;
}

/* ---- pools (ETSI GS QKD 014 "status") ---- */

static int qkdn_fill_pool(struct sk_buff *skb, struct qkdn_link *link,
			  u32 portid, u32 seq, int flags)
{
	void *hdr = qkdn_put_hdr(skb, portid, seq, flags, QKDN_CMD_POOL_GET);
	const u32 kb = QKDN_KEY_SIZE_DEFAULT / 8;

	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, QKDN_A_LINK_ID, link->id) ||
	    nla_put_string(skb, QKDN_A_NODE_ID, link->qn->node_id) ||
	    nla_put_string(skb, QKDN_A_PEER_NODE_ID, link->peer) ||
	    nla_put_u32(skb, QKDN_A_POOL_KEY_SIZE, QKDN_KEY_SIZE_DEFAULT) ||
	    nla_put_u32(skb, QKDN_A_POOL_STORED_KEY_COUNT,
			min_t(u64, link->own.bytes / kb, U32_MAX)) ||
	    nla_put_u32(skb, QKDN_A_POOL_MAX_KEY_COUNT, link->capacity / 2 / kb) ||
	    nla_put_u32(skb, QKDN_A_POOL_MAX_KEY_PER_REQUEST,
			QKDN_KEYS_PER_REQUEST) ||
	    nla_put_u32(skb, QKDN_A_POOL_MAX_KEY_SIZE, QKDN_KEY_SIZE_MAX) ||
	    nla_put_u32(skb, QKDN_A_POOL_MIN_KEY_SIZE, QKDN_KEY_SIZE_MIN) ||
	    nla_put_u64_64bit(skb, QKDN_A_POOL_OWN_BYTES, link->own.bytes,
			      QKDN_A_PAD) ||
	    nla_put_u64_64bit(skb, QKDN_A_POOL_PEER_BYTES, link->theirs.bytes,
			      QKDN_A_PAD) ||
	    nla_put_u64_64bit(skb, QKDN_A_POOL_PENDING_BYTES,
			      link->pending_bytes, QKDN_A_PAD) ||
	    nla_put_u32(skb, QKDN_A_POOL_RESERVED_KEYS, link->keys.n) ||
	    nla_put_u32(skb, QKDN_A_POOL_CAPACITY, link->capacity)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static int qkdn_nl_pool_get(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_link *link;
	struct qkdn_sae *sae;
	struct sk_buff *msg;
	int err;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&qn->lock);
	if (info->attrs[QKDN_A_SLAVE_SAE_ID]) {
		sae = qkdn_nl_sae(qn, info, QKDN_A_SLAVE_SAE_ID);
		link = ERR_CAST(sae);
		if (!IS_ERR(sae) && sae->local) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    info->attrs[QKDN_A_SLAVE_SAE_ID],
					    "slave SAE is served by this node");
			link = ERR_PTR(-EINVAL);
		} else if (!IS_ERR(sae)) {
			link = qkdn_link_by_peer(qn, sae->node_id);
			if (!link) {
				NL_SET_ERR_MSG_ATTR(info->extack,
						    info->attrs[QKDN_A_SLAVE_SAE_ID],
						    "no QKD link to the slave SAE's node");
				link = ERR_PTR(-EHOSTUNREACH);
			}
		}
	} else {
		link = qkdn_nl_link(qn, info);
	}
	err = IS_ERR(link) ? PTR_ERR(link) :
	      qkdn_fill_pool(msg, link, info->snd_portid, info->snd_seq, 0);
	mutex_unlock(&qn->lock);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
}

static int qkdn_nl_pool_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	return qkdn_nl_dump_links(skb, cb, qkdn_fill_pool);
}

/* ---- Kx: the link daemon ---- */

static void qkdn_kx_unbind(struct qkdn_net *qn)
{
	struct qkdn_link *link;

	qn->kx_portid = 0;
	list_for_each_entry(link, &qn->links, node)
		qkdn_kx_set_up(link, false);
}

static int qkdn_nl_kx_bind(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	int err = 0;

	mutex_lock(&qn->lock);
	if (qn->kx_portid && qn->kx_portid != info->snd_portid) {
		NL_SET_ERR_MSG(info->extack, "a link daemon is already bound");
		err = -EBUSY;
	} else {
		qn->kx_portid = info->snd_portid;
	}
	mutex_unlock(&qn->lock);
	return err;
}

/* Whether portid is a socket of the bound key delivery gateway. */
bool qkdn_gw_sock(struct qkdn_net *qn, u32 portid)
{
	int i;

	lockdep_assert_held(&qn->lock);
	for (i = 0; portid && qn->gw_pid && i < QKDN_GW_SOCKS_MAX; i++)
		if (qn->gw_portids[i] == portid)
			return true;
	return false;
}

/* A socket closed: if the gateway's, it leaves the role; the last ends it. */
void qkdn_gw_release(struct qkdn_net *qn, u32 portid)
{
	int i, left = 0;

	lockdep_assert_held(&qn->lock);
	for (i = 0; i < QKDN_GW_SOCKS_MAX; i++) {
		if (qn->gw_portids[i] == portid)
			qn->gw_portids[i] = 0;
		left += !!qn->gw_portids[i];
	}
	if (!left && qn->gw_pid) {
		put_pid(qn->gw_pid);
		qn->gw_pid = NULL;
	}
}

/*
 * The key delivery gateway (qkdn-kmed) claims its role for the calling
 * socket: from the sockets of one process, and only from them, key
 * requests may act as a local SAE registered with a client credential,
 * for the client whose credential they carry. A socket leaves the role
 * when it closes; the process, when its last one does.
 */
static int qkdn_nl_gw_bind(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	int i, err = 0;

	mutex_lock(&qn->lock);
	if (qn->gw_pid && qn->gw_pid != task_tgid(current)) {
		NL_SET_ERR_MSG(info->extack,
			       "another process is the bound gateway");
		err = -EBUSY;
		goto out;
	}
	if (qkdn_gw_sock(qn, info->snd_portid))
		goto out;
	for (i = 0; i < QKDN_GW_SOCKS_MAX && qn->gw_portids[i]; i++)
		;
	if (i == QKDN_GW_SOCKS_MAX) {
		NL_SET_ERR_MSG(info->extack, "the gateway has too many sockets");
		err = -ENOSPC;
		goto out;
	}
	qn->gw_portids[i] = info->snd_portid;
	if (!qn->gw_pid)
		qn->gw_pid = get_pid(task_tgid(current));
out:
	mutex_unlock(&qn->lock);
	return err;
}

static int qkdn_nl_kx_frame(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_link *link;
	struct nlattr *frame;
	int err;

	if (qkdn_nl_need(info, QKDN_A_KX_FRAME))
		return -EINVAL;
	frame = info->attrs[QKDN_A_KX_FRAME];
	mutex_lock(&qn->lock);
	link = qkdn_nl_link(qn, info);
	err = PTR_ERR_OR_ZERO(link);
	if (!err)
		err = qkdn_kx_receive(link, nla_data(frame), nla_len(frame),
				      info->extack);
	mutex_unlock(&qn->lock);
	if (err && err != -ENOMEM && !info->extack->bad_attr)
		NL_SET_BAD_ATTR(info->extack, frame);
	return err;
}

static int qkdn_nl_kx_channel(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_link *link;
	int err;

	if (qkdn_nl_need(info, QKDN_A_LINK_UP))
		return -EINVAL;
	mutex_lock(&qn->lock);
	link = qkdn_nl_link(qn, info);
	err = PTR_ERR_OR_ZERO(link);
	if (!err && !qn->kx_portid) {
		NL_SET_ERR_MSG(info->extack, "no link daemon bound");
		err = -ENOTCONN;
	}
	if (!err)
		qkdn_kx_set_up(link, nla_get_u8(info->attrs[QKDN_A_LINK_UP]));
	mutex_unlock(&qn->lock);
	return err;
}

/* Hands a frame to the bound daemon. Under qn->lock. */
int qkdn_nl_kx_deliver(struct qkdn_net *qn, struct qkdn_link *link,
		       const u8 *frame, u32 len)
{
	struct sk_buff *msg;
	void *hdr;
	int err;

	msg = genlmsg_new(nla_total_size(sizeof(u32)) +
			  nla_total_size(QKDN_ID_MAX) + nla_total_size(len),
			  GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = qkdn_put_hdr(msg, 0, 0, 0, QKDN_CMD_KX_FRAME);
	if (!hdr || nla_put_u32(msg, QKDN_A_LINK_ID, link->id) ||
	    nla_put_string(msg, QKDN_A_PEER_NODE_ID, link->peer) ||
	    nla_put(msg, QKDN_A_KX_FRAME, len, frame)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	err = genlmsg_unicast(qn->net, msg, qn->kx_portid);
	if (err == -ECONNREFUSED)
		qkdn_kx_unbind(qn);
	return err;
}

static int qkdn_nl_release(struct notifier_block *nb, unsigned long event,
			   void *ptr)
{
	struct netlink_notify *n = ptr;
	struct qkdn_net *qn;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC ||
	    !n->portid)
		return NOTIFY_DONE;
	qn = qkdn_net(n->net);
	mutex_lock(&qn->lock);
	if (qn->kx_portid == n->portid)
		qkdn_kx_unbind(qn);
	qkdn_gw_release(qn, n->portid);
	qkdn_session_release(qn, n->portid);
	mutex_unlock(&qn->lock);
	return NOTIFY_DONE;
}

static struct notifier_block qkdn_nl_notifier = {
	.notifier_call = qkdn_nl_release,
};

/* ---- events ---- */

void qkdn_nl_event(struct qkdn_net *qn, u32 event, struct qkdn_link *link,
		   const char *master, const char *slave, u32 count,
		   const u8 *ids)
{
	struct sk_buff *msg;
	u32 nids = ids ? count : 0, i;
	void *hdr;

	if (!genl_has_listeners(&qkdn_genl_family, qn->net,
				QKDN_MCGRP_EVENTS_ID))
		return;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE +
			  nids * nla_total_size(nla_total_size(QKDN_KEY_ID_LEN)),
			  GFP_KERNEL);
	if (!msg)
		return;
	hdr = qkdn_put_hdr(msg, 0, 0, 0, QKDN_CMD_EVENT);
	if (!hdr || nla_put_u32(msg, QKDN_A_EVENT, event) ||
	    (link && (nla_put_u32(msg, QKDN_A_LINK_ID, link->id) ||
		      nla_put_string(msg, QKDN_A_PEER_NODE_ID, link->peer))) ||
	    (master && nla_put_string(msg, QKDN_A_MASTER_SAE_ID, master)) ||
	    (slave && nla_put_string(msg, QKDN_A_SLAVE_SAE_ID, slave)) ||
	    (count && nla_put_u32(msg, QKDN_A_KEY_COUNT, count)))
		goto cancel;
	for (i = 0; i < nids; i++) {
		struct nlattr *nest = nla_nest_start(msg, QKDN_A_KEY);

		if (!nest || nla_put(msg, QKDN_A_KEY_ID, QKDN_KEY_ID_LEN,
				     ids + i * QKDN_KEY_ID_LEN))
			goto cancel;
		nla_nest_end(msg, nest);
	}
	genlmsg_end(msg, hdr);
	genlmsg_multicast_netns(&qkdn_genl_family, qn->net, msg, 0,
				QKDN_MCGRP_EVENTS_ID, GFP_KERNEL);
	return;
cancel:
	nlmsg_free(msg);
}

/* ---- the family ---- */

static const struct genl_small_ops qkdn_ops[] = {
	{ .cmd = QKDN_CMD_NODE_GET, .doit = qkdn_nl_node_get },
	{ .cmd = QKDN_CMD_NODE_SET, .doit = qkdn_nl_node_set,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_LINK_GET, .doit = qkdn_nl_link_get,
	  .dumpit = qkdn_nl_link_dump },
	{ .cmd = QKDN_CMD_LINK_NEW, .doit = qkdn_nl_link_new,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_LINK_DEL, .doit = qkdn_nl_link_del,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_LINK_SET, .doit = qkdn_nl_link_set,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_SAE_GET, .doit = qkdn_nl_sae_get,
	  .dumpit = qkdn_nl_sae_dump },
	{ .cmd = QKDN_CMD_SAE_NEW, .doit = qkdn_nl_sae_new,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_SAE_DEL, .doit = qkdn_nl_sae_del,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_POOL_GET, .doit = qkdn_nl_pool_get,
	  .dumpit = qkdn_nl_pool_dump },
	{ .cmd = QKDN_CMD_KEY_GET, .doit = qkdn_nl_key_get },
	{ .cmd = QKDN_CMD_KEY_GET_BY_ID, .doit = qkdn_nl_key_get_by_id },
	{ .cmd = QKDN_CMD_KX_BIND, .doit = qkdn_nl_kx_bind,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_KX_FRAME, .doit = qkdn_nl_kx_frame,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_KX_CHANNEL, .doit = qkdn_nl_kx_channel,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_CTRL, .doit = qkdn_nl_ctrl,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_ROUTE_GET, .dumpit = qkdn_nl_route_dump },
	{ .cmd = QKDN_CMD_ROUTE_NEW, .doit = qkdn_nl_route_new,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_ROUTE_DEL, .doit = qkdn_nl_route_del,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_SESSION_NEW, .doit = qkdn_nl_session_new },
	{ .cmd = QKDN_CMD_SAE_LISTEN, .doit = qkdn_nl_sae_listen },
	{ .cmd = QKDN_CMD_SESSION, .doit = qkdn_nl_session },
	{ .cmd = QKDN_CMD_KEY_SUPPLY, .doit = qkdn_nl_key_supply },
	{ .cmd = QKDN_CMD_GW_BIND, .doit = qkdn_nl_gw_bind,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_IPSEC_GET, .doit = qkdn_nl_ipsec_get,
	  .dumpit = qkdn_nl_ipsec_dump, .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_IPSEC_NEW, .doit = qkdn_nl_ipsec_new,
	  .flags = GENL_UNS_ADMIN_PERM },
	{ .cmd = QKDN_CMD_IPSEC_DEL, .doit = qkdn_nl_ipsec_del,
	  .flags = GENL_UNS_ADMIN_PERM },
};

struct genl_family qkdn_genl_family __ro_after_init = {
	.name		= QKDN_GENL_NAME,
	.version	= QKDN_GENL_VERSION,
	.maxattr	= QKDN_A_MAX,
	.policy		= qkdn_policy,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.small_ops	= qkdn_ops,
	.n_small_ops	= ARRAY_SIZE(qkdn_ops),
	.resv_start_op	= QKDN_CMD_NODE_GET,
	.mcgrps		= qkdn_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(qkdn_mcgrps),
};

int qkdn_nl_init(void)
{
	int err;

	err = netlink_register_notifier(&qkdn_nl_notifier);
	if (err)
		return err;
	err = genl_register_family(&qkdn_genl_family);
	if (err)
		netlink_unregister_notifier(&qkdn_nl_notifier);
	return err;
}

void qkdn_nl_exit(void)
{
	genl_unregister_family(&qkdn_genl_family);
	netlink_unregister_notifier(&qkdn_nl_notifier);
}
