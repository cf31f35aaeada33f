// SPDX-License-Identifier: GPL-2.0
/*
 * One QKD node per network namespace: its links and SAEs.
 */

#include <linux/ctype.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "qkdn.h"

unsigned int qkdn_net_id __read_mostly;

struct qkdn_net *qkdn_net(const struct net *net)
{
	return net_generic(net, qkdn_net_id);
}

/* Node and SAE IDs: 1 to 63 of A-Z a-z 0-9 . _ - : @ */
bool qkdn_id_valid(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (n == QKDN_ID_MAX - 1 ||
		    (!isalnum(*s) && !strchr("._-:@", *s)))
			return false;
	return n;
}

struct qkdn_link *qkdn_link_find(struct qkdn_net *qn, u32 id)
{
	struct qkdn_link *link;

	lockdep_assert_held(&qn->lock);
	list_for_each_entry(link, &qn->links, node)
		if (link->id == id)
			return link;
	return NULL;
}

struct qkdn_link *qkdn_link_by_peer(struct qkdn_net *qn, const char *peer)
{
	struct qkdn_link *link;

	lockdep_assert_held(&qn->lock);
	list_for_each_entry(link, &qn->links, node)
		if (!strcmp(link->peer, peer))
			return link;
	return NULL;
}

struct qkdn_link *qkdn_link_create(struct qkdn_net *qn, u32 id,
				   const char *peer)
{
	struct qkdn_link *link;

	lockdep_assert_held(&qn->lock);
	link = kvzalloc(sizeof(*link), GFP_KERNEL);
	if (!link)
		return NULL;
	link->qn = qn;
	link->id = id;
	strscpy(link->peer, peer, sizeof(link->peer));
	/*
	 * Block ownership: the end with the smaller node ID allocates keys
	 * from even-numbered blocks, the other from odd ones. Both ends
	 * derive the same split from the two IDs, with no negotiation.
	 */
	link->own_even = strcmp(qn->node_id, peer) < 0;
	link->capacity = QKDN_POOL_CAPACITY_DEFAULT;
	qkdn_store_init(link);
	qkdn_kx_link_init(link);
	list_add_tail(&link->node, &qn->links);
	return link;
}

/* Erases every key byte the link holds. */
void qkdn_link_destroy(struct qkdn_link *link)
{
	struct qkdn_net *qn = link->qn;

	lockdep_assert_held(&qn->lock);
	list_del(&link->node);
	if (link->dev)
		qkdn_device_detach(link);
	qkdn_kx_link_cleanup(link);
	qkdn_store_flush(link);
	qkdn_stats_add(&qn->gone, &link->stats);
	kvfree(link);
}

struct qkdn_sae *qkdn_sae_find(struct qkdn_net *qn, const char *id)
{
	struct qkdn_sae *sae;

	lockdep_assert_held(&qn->lock);
	list_for_each_entry(sae, &qn->saes, node)
		if (!strcmp(sae->id, id))
			return sae;
	return NULL;
}

struct qkdn_sae *qkdn_sae_find_cred(struct qkdn_net *qn, const char *cred)
{
	struct qkdn_sae *sae;

	lockdep_assert_held(&qn->lock);
	list_for_each_entry(sae, &qn->saes, node)
		if (sae->cred && !strcmp(sae->cred, cred))
			return sae;
	return NULL;
}

void qkdn_sae_destroy(struct qkdn_sae *sae)
{
	list_del(&sae->node);
	kfree(sae->cred);
	kfree(sae);
}

void qkdn_stats_add(struct qkdn_stats *sum, const struct qkdn_stats *s)
{
	u64 *d = (u64 *)sum;
	const u64 *v = (const u64 *)s;
	unsigned int i;

	for (i = 0; i < sizeof(*s) / sizeof(u64); i++)
		d[i] += v[i];
}

static int __net_init qkdn_net_init(struct net *net)
{
	struct qkdn_net *qn = qkdn_net(net);

	qn->net = net;
	mutex_init(&qn->lock);
	INIT_LIST_HEAD(&qn->links);
	INIT_LIST_HEAD(&qn->saes);
	INIT_LIST_HEAD(&qn->devices);
	init_waitqueue_head(&qn->keys_wq);
	INIT_DELAYED_WORK(&qn->tx_work, qkdn_kx_tx_work);
	qkdn_relay_net_init(qn);
	qkdn_session_net_init(qn);
	qkdn_ipsec_net_init(qn);
	return 0;
}

static void __net_exit qkdn_net_exit(struct net *net)
{
	struct qkdn_net *qn = qkdn_net(net);
	struct qkdn_link *link, *ltmp;
	struct qkdn_sae *sae, *stmp;
	struct qkdn_device *dev;

	mutex_lock(&qn->lock);
	qn->dying = true;
	qn->kx_portid = 0;
	memset(qn->gw_portids, 0, sizeof(qn->gw_portids));
	qkdn_gw_release(qn, 0);
	mutex_unlock(&qn->lock);
	cancel_delayed_work_sync(&qn->tx_work);
	cancel_delayed_work_sync(&qn->relay_work);
	cancel_delayed_work_sync(&qn->ipsec_work);

	mutex_lock(&qn->lock);
	/* Drivers unregister their devices before this runs; any left are
	 * only detached, their owner frees them.
	 */
	list_for_each_entry(dev, &qn->devices, node)
		WARN_ONCE(1, "device %s outlives its namespace\n", dev->name);
	qkdn_ipsec_net_exit(qn);
	list_for_each_entry_safe(link, ltmp, &qn->links, node)
		qkdn_link_destroy(link);
	list_for_each_entry_safe(sae, stmp, &qn->saes, node)
		qkdn_sae_destroy(sae);
	qkdn_relay_net_exit(qn);
	qkdn_session_net_exit(qn);
	mutex_unlock(&qn->lock);
	wake_up_all(&qn->keys_wq);
	wake_up_all(&qn->relay_wq);
	wake_up_all(&qn->session_wq);
}

static struct pernet_operations qkdn_net_ops = {
	.init = qkdn_net_init,
	.exit = qkdn_net_exit,
	.id = &qkdn_net_id,
	.size = sizeof(struct qkdn_net),
};

int qkdn_netns_init(void)
{
	return register_pernet_subsys(&qkdn_net_ops);
}

void qkdn_netns_exit(void)
{
	unregister_pernet_subsys(&qkdn_net_ops);
}
