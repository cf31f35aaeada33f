// SPDX-License-Identifier: GPL-2.0
/*
 * Ck: the KM and its QKDN controller (Documentation/ck.md).
 *
 * The kernel multicasts its requests ("key relay next hop request", "key
 * relay request notification") on the "ctrl" group, which only
 * CAP_NET_ADMIN may join; the controller answers with QKDN_CMD_CTRL naming
 * the request by its ID, as net/handshake asks tlshd. The controller also
 * publishes its routes here so that operators can read them.
 *
 * Every Q.4160 message a KM sends or receives is reported on the "events"
 * group by its name (qkdn_nl_msg()).
 */

#include <linux/slab.h>
#include <linux/string.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "qkdn.h"

struct qkdn_route {
	struct list_head node;
	char dst[QKDN_ID_MAX];
	char next[QKDN_ID_MAX];
	u32 metric;
	u64 avail;
	u32 nhops;
	struct qkdn_hop hops[];
};

bool qkdn_ctrl_present(struct qkdn_net *qn)
{
	return genl_has_listeners(&qkdn_genl_family, qn->net,
				  QKDN_MCGRP_CTRL_ID);
}

/* A ctrl message to the controller: every field that is set. */
int qkdn_ctrl_send(struct qkdn_net *qn, const struct qkdn_ctrl_msg *m)
{
	struct sk_buff *skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	void *hdr;
	int err;

	if (!skb)
		return -ENOMEM;
	hdr = qkdn_put_hdr(skb, 0, 0, 0, QKDN_CMD_CTRL);
	if (!hdr || nla_put_u32(skb, QKDN_A_MSG, m->msg) ||
	    (m->ctrl_id && nla_put_u32(skb, QKDN_A_CTRL_ID, m->ctrl_id)) ||
	    (m->relay_id &&
	     nla_put(skb, QKDN_A_RELAY_ID, QKDN_RELAY_ID_LEN, m->relay_id)) ||
	    (m->session && nla_put_u32(skb, QKDN_A_SESSION_ID, m->session)) ||
	    (m->src && nla_put_string(skb, QKDN_A_SRC_NODE_ID, m->src)) ||
	    (m->dst && nla_put_string(skb, QKDN_A_DST_NODE_ID, m->dst)) ||
	    (m->master && nla_put_string(skb, QKDN_A_MASTER_SAE_ID, m->master)) ||
	    (m->slave && nla_put_string(skb, QKDN_A_SLAVE_SAE_ID, m->slave)) ||
	    (m->bytes && nla_put_u32(skb, QKDN_A_RELAY_BYTES, m->bytes)) ||
	    (m->from && nla_put_string(skb, QKDN_A_PEER_NODE_ID, m->from)) ||
	    (m->has_err && nla_put_u32(skb, QKDN_A_ERRNO, m->err))) {
		nlmsg_free(skb);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	err = genlmsg_multicast_netns(&qkdn_genl_family, qn->net, skb, 0,
				      QKDN_MCGRP_CTRL_ID, GFP_KERNEL);
	if (err)
		return err == -ESRCH ? -EHOSTUNREACH : err;
	qkdn_nl_msg(qn, m->msg, QKDN_MSG_DIR_SENT, "controller", NULL,
		    m->relay_id, m->src, m->dst, 0, m->err, NULL);
	return 0;
}

/*
 * extack messages must outlive the handler until the kernel builds the
 * error reply (NL_SET_ERR_MSG() takes literals only): texts made up at run
 * time are kept in a ring.
 */
const char *qkdn_errmsg_keep(struct qkdn_net *qn, const char *fmt, ...)
{
	char *buf = qn->errmsgs[qn->errmsg_next++ % QKDN_ERRMSGS];
	va_list args;

	va_start(args, fmt);
	vsnprintf(buf, QKDN_ERRMSG_LEN, fmt, args);
	va_end(args);
	return buf;
}

/* A new request ID, never 0. */
u32 qkdn_ctrl_id(struct qkdn_net *qn)
{
	if (!++qn->ctrl_seq)
		++qn->ctrl_seq;
	return qn->ctrl_seq;
}

/* A relay's request to the controller; *ctrl_id names its answer. */
int qkdn_ctrl_ask(struct qkdn_net *qn, u32 msg, u32 *ctrl_id,
		  const u8 *relay_id, const char *src, const char *dst,
		  u32 bytes, const char *from)
{
	struct qkdn_ctrl_msg m = {
		.msg = msg, .relay_id = relay_id, .src = src, .dst = dst,
		.bytes = bytes, .from = from,
	};
	int err;

	if (!qkdn_ctrl_present(qn))
		return -EHOSTUNREACH;
	m.ctrl_id = qkdn_ctrl_id(qn);
	err = qkdn_ctrl_send(qn, &m);
	if (!err)
		*ctrl_id = m.ctrl_id;
	return err;
}

/* A relay's message to the controller that expects no answer. */
void qkdn_ctrl_notify(struct qkdn_net *qn, u32 msg, const u8 *relay_id,
		      const char *src, const char *dst, int err)
{
	struct qkdn_ctrl_msg m = {
		.msg = msg, .relay_id = relay_id, .src = src, .dst = dst,
		.err = err, .has_err = true,
	};

	qkdn_ctrl_send(qn, &m);
}

const struct nla_policy qkdn_route_policy[QKDN_A_ROUTE_MAX + 1] = {
	[QKDN_A_ROUTE_NODE]	= { .type = NLA_NUL_STRING,
				    .len = QKDN_ID_MAX - 1 },
};

/* The node IDs of a route nest, checked: at least 2, no node twice. */
int qkdn_nl_route_nodes(struct nlattr *nest, struct qkdn_hop *route,
			struct netlink_ext_ack *extack)
{
	struct nlattr *a;
	int rem, n = 0, i;

	nla_for_each_nested(a, nest, rem) {
		if (nla_type(a) != QKDN_A_ROUTE_NODE)
			continue;
		if (n == QKDN_ROUTE_HOPS_MAX) {
			NL_SET_ERR_MSG_ATTR(extack, a, "route too long");
			return -E2BIG;
		}
		if (!qkdn_id_valid(nla_data(a))) {
			NL_SET_ERR_MSG_ATTR(extack, a, "route node ID malformed");
			return -EINVAL;
		}
		nla_strscpy(route[n].id, a, QKDN_ID_MAX);
		for (i = 0; i < n; i++) {
			if (!strcmp(route[i].id, route[n].id)) {
				NL_SET_ERR_MSG_ATTR(extack, a,
						    "route passes a node twice");
				return -EINVAL;
			}
		}
		n++;
	}
	if (n < 2) {
		NL_SET_ERR_MSG_ATTR(extack, nest,
				    "a route names at least two nodes");
		return -EINVAL;
	}
	return n;
}

/* The next hop or the route of an answer, into route[]; 0 if absent. */
static int qkdn_ctrl_hops(struct genl_info *info, u32 msg,
			  struct qkdn_hop *route)
{
	struct nlattr **a = info->attrs;

	if (msg == QKDN_MSG_KEY_RELAY_REQUEST) {
		if (qkdn_nl_need(info, QKDN_A_ROUTE))
			return -EINVAL;
		return qkdn_nl_route_nodes(a[QKDN_A_ROUTE], route, info->extack);
	}
	if (qkdn_nl_need(info, QKDN_A_NEXT_HOP))
		return -EINVAL;
	if (!qkdn_id_valid(nla_data(a[QKDN_A_NEXT_HOP]))) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_NEXT_HOP],
				    "next hop node ID malformed");
		return -EINVAL;
	}
	nla_strscpy(route[0].id, a[QKDN_A_NEXT_HOP], QKDN_ID_MAX);
	return 1;
}

/*
 * Messages of the controller: answers to the kernel's requests (they name
 * its ctrl-id) and, in a centralized QKDN with key reservation (I.4b),
 * "key relay request" and "key allocation request" naming a relay.
 */
int qkdn_nl_ctrl(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	char why[QKDN_ERRMSG_MAX] = "no route to the destination KM";
	struct nlattr **a = info->attrs;
	struct qkdn_hop *route = NULL;
	struct qkdn_relay *r;
	u32 msg, want = 0, fail = 0;
	int n = 0, err;

	if (qkdn_nl_need(info, QKDN_A_MSG))
		return -EINVAL;
	msg = nla_get_u32(a[QKDN_A_MSG]);
	switch (msg) {
	case QKDN_MSG_NEXT_HOP_RESPONSE:
		want = QKDN_MSG_NEXT_HOP_REQUEST;
		break;
	case QKDN_MSG_KEY_RELAY_REQUEST:
		if (a[QKDN_A_CTRL_ID] || !a[QKDN_A_RELAY_ID])
			want = QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION;
		break;
	case QKDN_MSG_KEY_RESERVATION_REQUEST:
		want = QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION;
		break;
	case QKDN_MSG_KEY_ALLOCATION_REQUEST:
		break;
	case QKDN_MSG_SESSION_CREATION_RESPONSE:
	case QKDN_MSG_SESSION_CREATION_NOTIFICATION:
		if (msg == QKDN_MSG_SESSION_CREATION_RESPONSE &&
		    qkdn_nl_need(info, QKDN_A_CTRL_ID))
			return -EINVAL;
		fail = a[QKDN_A_ERRNO] ? nla_get_u32(a[QKDN_A_ERRNO]) : 0;
		if (fail && msg != QKDN_MSG_SESSION_CREATION_RESPONSE) {
			NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_ERRNO],
					    "only an answer may carry an error");
			return -EINVAL;
		}
		if (a[QKDN_A_ERRMSG])
			nla_strscpy(why, a[QKDN_A_ERRMSG], sizeof(why));
		else if (fail)
			strscpy(why, "the session was refused", sizeof(why));
		else
			why[0] = '\0';
		mutex_lock(&qn->lock);
		err = qkdn_session_ctrl(qn, msg, info, fail, why);
		mutex_unlock(&qn->lock);
		return err;
	default:
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_MSG],
				    "not a message a controller sends a KM");
		return -EOPNOTSUPP;
	}
	if ((want && qkdn_nl_need(info, QKDN_A_CTRL_ID)) ||
	    (!want && qkdn_nl_need(info, QKDN_A_RELAY_ID)))
		return -EINVAL;
	if (a[QKDN_A_ERRNO])
		fail = nla_get_u32(a[QKDN_A_ERRNO]);
	if (fail && !want && msg != QKDN_MSG_KEY_ALLOCATION_REQUEST) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_ERRNO],
				    "only an answer may carry an error");
		return -EINVAL;
	}
	if (a[QKDN_A_ERRMSG])
		nla_strscpy(why, a[QKDN_A_ERRMSG], sizeof(why));

	route = kcalloc(QKDN_ROUTE_HOPS_MAX, sizeof(*route), GFP_KERNEL);
	if (!route)
		return -ENOMEM;
	if (!fail && msg != QKDN_MSG_KEY_ALLOCATION_REQUEST) {
		n = qkdn_ctrl_hops(info, msg, route);
		err = n;
		if (n < 0)
			goto out;
	}

	mutex_lock(&qn->lock);
	if (msg == QKDN_MSG_KEY_ALLOCATION_REQUEST) {
		err = qkdn_relay_allocate(qn, nla_data(a[QKDN_A_RELAY_ID]), fail,
					  fail ? why : "", info->extack);
	} else if (!want) {
		err = qkdn_relay_request(qn, nla_data(a[QKDN_A_RELAY_ID]), route,
					 n, info->extack);
	} else {
		r = qkdn_relay_by_ctrl(qn, nla_get_u32(a[QKDN_A_CTRL_ID]));
		err = qkdn_relay_check_answer(qn, r, want, route, n,
					      info->extack);
		if (err == -ENOENT && !info->extack->bad_attr)
			NL_SET_BAD_ATTR(info->extack, a[QKDN_A_CTRL_ID]);
		if (!err && fail)
			qkdn_relay_ctrl_fail(qn, r, fail, why);
		else if (!err && msg == QKDN_MSG_KEY_RESERVATION_REQUEST)
			err = qkdn_relay_reserve(qn, r, route[0].id,
						 info->extack);
		else if (!err)
			err = qkdn_relay_routed(qn, r, msg, route, n,
						info->extack);
	}
	mutex_unlock(&qn->lock);
	if (err == -ENOENT && !want && !info->extack->bad_attr)
		NL_SET_BAD_ATTR(info->extack, a[QKDN_A_RELAY_ID]);
out:
	kfree(route);
	return err;
}

/* ---- routes the controller publishes ---- */

static struct qkdn_route *qkdn_route_find(struct qkdn_net *qn,
					  const char *dst)
{
	struct qkdn_route *rt;

	list_for_each_entry(rt, &qn->routes, node)
		if (!strcmp(rt->dst, dst))
			return rt;
	return NULL;
}

static void qkdn_route_free(struct qkdn_net *qn, struct qkdn_route *rt)
{
	list_del(&rt->node);
	qn->nroutes--;
	kfree(rt);
}

void qkdn_routes_flush(struct qkdn_net *qn)
{
	struct qkdn_route *rt, *tmp;

	list_for_each_entry_safe(rt, tmp, &qn->routes, node)
		qkdn_route_free(qn, rt);
}

static int qkdn_fill_route(struct sk_buff *skb, const struct qkdn_route *rt,
			   u32 portid, u32 seq, int flags)
{
	void *hdr = qkdn_put_hdr(skb, portid, seq, flags, QKDN_CMD_ROUTE_GET);
	struct nlattr *nest;
	u32 i;

	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_string(skb, QKDN_A_DST_NODE_ID, rt->dst) ||
	    nla_put_string(skb, QKDN_A_NEXT_HOP, rt->next) ||
	    nla_put_u32(skb, QKDN_A_ROUTE_METRIC, rt->metric) ||
	    nla_put_u64_64bit(skb, QKDN_A_ROUTE_AVAIL, rt->avail, QKDN_A_PAD))
		goto cancel;
	if (rt->nhops) {
		nest = nla_nest_start(skb, QKDN_A_ROUTE);
		if (!nest)
			goto cancel;
		for (i = 0; i < rt->nhops; i++)
			if (nla_put_string(skb, QKDN_A_ROUTE_NODE, rt->hops[i].id))
				goto cancel;
		nla_nest_end(skb, nest);
	}
	genlmsg_end(skb, hdr);
	return 0;
cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

int qkdn_nl_route_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct qkdn_net *qn = qkdn_net(sock_net(skb->sk));
	struct qkdn_route *rt;
	long idx = 0, start = cb->args[0];

	mutex_lock(&qn->lock);
	list_for_each_entry(rt, &qn->routes, node) {
		if (idx++ < start)
			continue;
		if (qkdn_fill_route(skb, rt, NETLINK_CB(cb->skb).portid,
				    cb->nlh->nlmsg_seq, NLM_F_MULTI)) {
			idx--;
			break;
		}
	}
	mutex_unlock(&qn->lock);
	cb->args[0] = idx;
	return skb->len;
}

static int qkdn_nl_dst(struct genl_info *info, char *dst)
{
	struct nlattr *attr = info->attrs[QKDN_A_DST_NODE_ID];

	if (!qkdn_id_valid(nla_data(attr))) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "destination node ID malformed");
		return -EINVAL;
	}
	nla_strscpy(dst, attr, QKDN_ID_MAX);
	return 0;
}

int qkdn_nl_route_new(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct nlattr **a = info->attrs;
	struct qkdn_hop *hops = NULL;
	struct qkdn_route *rt, *old;
	char dst[QKDN_ID_MAX];
	int n = 0, err;

	if (qkdn_nl_need(info, QKDN_A_DST_NODE_ID) ||
	    qkdn_nl_need(info, QKDN_A_NEXT_HOP))
		return -EINVAL;
	err = qkdn_nl_dst(info, dst);
	if (err)
		return err;
	if (!qkdn_id_valid(nla_data(a[QKDN_A_NEXT_HOP]))) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_NEXT_HOP],
				    "next hop node ID malformed");
		return -EINVAL;
	}
	if (a[QKDN_A_ROUTE]) {
		hops = kcalloc(QKDN_ROUTE_HOPS_MAX, sizeof(struct qkdn_hop), GFP_KERNEL);
		if (!hops)
			return -ENOMEM;
		n = qkdn_nl_route_nodes(a[QKDN_A_ROUTE], hops, info->extack);
		if (n < 0) {
			kfree(hops);
			return n;
		}
	}
	rt = kzalloc(struct_size(rt, hops, n), GFP_KERNEL);
	if (!rt) {
		kfree(hops);
		return -ENOMEM;
	}
	strscpy(rt->dst, dst, sizeof(rt->dst));
	nla_strscpy(rt->next, a[QKDN_A_NEXT_HOP], sizeof(rt->next));
	if (a[QKDN_A_ROUTE_METRIC])
		rt->metric = nla_get_u32(a[QKDN_A_ROUTE_METRIC]);
	if (a[QKDN_A_ROUTE_AVAIL])
		rt->avail = nla_get_u64(a[QKDN_A_ROUTE_AVAIL]);
	rt->nhops = n;
	if (n)
		memcpy(rt->hops, hops, n * QKDN_ID_MAX);
	kfree(hops);

	mutex_lock(&qn->lock);
	err = 0;
	old = qkdn_route_find(qn, dst);
	if (!old && qn->nroutes >= QKDN_ROUTES_MAX) {
		NL_SET_ERR_MSG(info->extack, "route table full");
		err = -ENOSPC;
		kfree(rt);
	} else {
		if (old)
			qkdn_route_free(qn, old);
		list_add_tail(&rt->node, &qn->routes);
		qn->nroutes++;
	}
	mutex_unlock(&qn->lock);
	return err;
}

int qkdn_nl_route_del(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct qkdn_route *rt;
	char dst[QKDN_ID_MAX];
	int err = 0;

	if (info->attrs[QKDN_A_DST_NODE_ID]) {
		err = qkdn_nl_dst(info, dst);
		if (err)
			return err;
	}
	mutex_lock(&qn->lock);
	if (!info->attrs[QKDN_A_DST_NODE_ID]) {
		qkdn_routes_flush(qn);
	} else {
		rt = qkdn_route_find(qn, dst);
		if (rt) {
			qkdn_route_free(qn, rt);
		} else {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    info->attrs[QKDN_A_DST_NODE_ID],
					    "no route to this node");
			err = -ENOENT;
		}
	}
	mutex_unlock(&qn->lock);
	return err;
}

/* ---- Q.4160 messages on the monitor ---- */

void qkdn_nl_msg(struct qkdn_net *qn, u32 msg, u8 dir, const char *kind,
		 const char *peer, const u8 *relay_id, const char *src,
		 const char *dst, u32 count, int err, const char *why)
{
	char who[QKDN_ID_MAX + 16];
	struct sk_buff *skb;
	void *hdr;

	if (!genl_has_listeners(&qkdn_genl_family, qn->net,
				QKDN_MCGRP_EVENTS_ID))
		return;
	if (peer)
		snprintf(who, sizeof(who), "%s:%s", kind, peer);
	else
		strscpy(who, kind, sizeof(who));
	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!skb)
		return;
	hdr = qkdn_put_hdr(skb, 0, 0, 0, QKDN_CMD_EVENT);
	if (!hdr || nla_put_u32(skb, QKDN_A_EVENT, QKDN_EVENT_MESSAGE) ||
	    nla_put_u32(skb, QKDN_A_MSG, msg) ||
	    nla_put_u8(skb, QKDN_A_MSG_DIR, dir) ||
	    nla_put_string(skb, QKDN_A_MSG_PEER, who) ||
	    (relay_id &&
	     nla_put(skb, QKDN_A_RELAY_ID, QKDN_RELAY_ID_LEN, relay_id)) ||
	    (src && nla_put_string(skb, QKDN_A_SRC_NODE_ID, src)) ||
	    (dst && nla_put_string(skb, QKDN_A_DST_NODE_ID, dst)) ||
	    (count && nla_put_u32(skb, QKDN_A_KEY_COUNT, count)) ||
	    (err && nla_put_u32(skb, QKDN_A_ERRNO, err)) ||
	    (why && why[0] && nla_put_string(skb, QKDN_A_ERRMSG, why))) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&qkdn_genl_family, qn->net, skb, 0,
				QKDN_MCGRP_EVENTS_ID, GFP_KERNEL);
}
