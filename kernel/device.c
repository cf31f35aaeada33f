// SPDX-License-Identifier: GPL-2.0
/*
 * Kq and Cq: QKD module drivers and their receive rings.
 *
 * A ring slot always owns a buffer of block_size bytes. The producer
 * writes a block into the buffer of the slot at ->prod and publishes it;
 * the drain work takes the filled buffer as the block's storage and puts a
 * fresh buffer in the slot (a buffer flip, as a NIC driver refills its RX
 * ring), so key bytes are never copied on the way into the pool.
 */

#include <linux/export.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "qkdn.h"

#define QKDN_DRAIN_BATCH	32

struct qkdn_drained {
	u8 *buf;
	u64 seq;
	u32 len;
	u32 flags;
};

struct qkdn_device *qkdn_device_find(struct qkdn_net *qn, const char *name)
{
	struct qkdn_device *dev;

	lockdep_assert_held(&qn->lock);
	list_for_each_entry(dev, &qn->devices, node)
		if (!strcmp(dev->name, name))
			return dev;
	return NULL;
}

void qkdn_device_attach(struct qkdn_link *link, struct qkdn_device *dev)
{
	link->dev = dev;
	dev->link = link;
}

void qkdn_device_detach(struct qkdn_link *link)
{
	struct qkdn_device *dev = link->dev;

	if (dev->running)
		dev->ops->stop(dev);
	dev->running = false;
	dev->link = NULL;
	link->dev = NULL;
	/* Another QKD module numbers its blocks afresh. */
	qkdn_kx_new_epoch(link);
}

int qkdn_device_set_running(struct qkdn_device *dev, bool on)
{
	int err = 0;

	if (on && !dev->running)
		err = dev->ops->start(dev);
	else if (!on && dev->running)
		dev->ops->stop(dev);
	if (!err)
		dev->running = on;
	return err;
}

int qkdn_device_set_rate(struct qkdn_device *dev, u64 rate)
{
	int err = dev->ops->set_rate ? dev->ops->set_rate(dev, rate) :
				       -EOPNOTSUPP;

	if (!err)
		dev->rate = rate;
	return err;
}

/* Takes up to QKDN_DRAIN_BATCH slots off the ring, refilling them. */
static unsigned int qkdn_ring_take(struct qkdn_device *dev,
				   struct qkdn_drained *out)
{
	unsigned int n = 0;
	u8 *fresh = NULL;

	while (n < QKDN_DRAIN_BATCH) {
		struct qkdn_ring_slot *slot;
		unsigned long flags;

		if (!fresh)
			fresh = kmalloc(dev->block_size, GFP_KERNEL);
		spin_lock_irqsave(&dev->ring_lock, flags);
		if (dev->cons == dev->prod) {
			spin_unlock_irqrestore(&dev->ring_lock, flags);
			break;
		}
		slot = &dev->ring[dev->cons % QKDN_RING_SLOTS];
		out[n].seq = slot->seq;
		out[n].len = slot->len;
		out[n].flags = slot->flags;
		out[n].buf = NULL;
		if (slot->flags & QKDN_SLOT_BLOCK) {
			if (!fresh) {
				spin_unlock_irqrestore(&dev->ring_lock, flags);
				break;
			}
			out[n].buf = slot->buf;
			slot->buf = fresh;
			fresh = NULL;
		}
		slot->flags = 0;
		dev->cons++;
		spin_unlock_irqrestore(&dev->ring_lock, flags);
		n++;
	}
	kfree(fresh);
	return n;
}

static void qkdn_device_drain(struct work_struct *work)
{
	struct qkdn_device *dev = container_of(work, struct qkdn_device,
					       drain_work);
	struct qkdn_net *qn = qkdn_net(dev->net);
	struct qkdn_drained batch[QKDN_DRAIN_BATCH];
	u64 seqs[QKDN_DRAIN_BATCH];
	unsigned int n, i, k;

	while ((n = qkdn_ring_take(dev, batch))) {
		struct qkdn_link *link;

		mutex_lock(&qn->lock);
		link = qn->dying ? NULL : dev->link;
		for (i = 0, k = 0; i < n; i++) {
			if (!(batch[i].flags & QKDN_SLOT_BLOCK)) {
				if (!link)
					continue;
				link->stats.blocks_aborted++;
				qkdn_nl_event(qn, QKDN_EVENT_BLOCK_ABORT, link,
					      NULL, NULL, 1, NULL);
			} else if (!link) {
				kfree_sensitive(batch[i].buf);
			} else if (qkdn_store_ingest(link, batch[i].seq,
						     batch[i].buf,
						     batch[i].len)) {
				seqs[k++] = batch[i].seq;
			}
		}
		if (link && k) {
			qkdn_kx_send_blocks(link, seqs, k);
			qkdn_store_match(link);
		}
		mutex_unlock(&qn->lock);
	}
}

u8 *qkdn_device_rx_buf(struct qkdn_device *dev)
{
	unsigned long flags;
	u8 *buf = NULL;

	spin_lock_irqsave(&dev->ring_lock, flags);
	if (dev->prod - dev->cons < QKDN_RING_SLOTS)
		buf = dev->ring[dev->prod % QKDN_RING_SLOTS].buf;
	spin_unlock_irqrestore(&dev->ring_lock, flags);
	return buf;
}
EXPORT_SYMBOL_GPL(qkdn_device_rx_buf);

static void qkdn_ring_publish(struct qkdn_device *dev, u64 seq, u32 len,
			      u32 slot_flags)
{
	struct qkdn_ring_slot *slot;
	unsigned long flags;

	spin_lock_irqsave(&dev->ring_lock, flags);
	if (dev->prod - dev->cons >= QKDN_RING_SLOTS) {
		dev->rx_dropped++;
		spin_unlock_irqrestore(&dev->ring_lock, flags);
		return;
	}
	slot = &dev->ring[dev->prod % QKDN_RING_SLOTS];
	slot->seq = seq;
	slot->len = min(len, dev->block_size);
	slot->flags = slot_flags;
	dev->prod++;
	spin_unlock_irqrestore(&dev->ring_lock, flags);
	queue_work(qkdn_wq, &dev->drain_work);
}

/* Publishes the buffer returned by qkdn_device_rx_buf(), holding block seq. */
void qkdn_device_rx_commit(struct qkdn_device *dev, u64 seq, u32 len)
{
	qkdn_ring_publish(dev, seq, len, QKDN_SLOT_BLOCK);
}
EXPORT_SYMBOL_GPL(qkdn_device_rx_commit);

/* Block seq failed post-processing (QBER too high): no data. */
void qkdn_device_rx_abort(struct qkdn_device *dev, u64 seq)
{
	qkdn_ring_publish(dev, seq, 0, QKDN_SLOT_ABORT);
}
EXPORT_SYMBOL_GPL(qkdn_device_rx_abort);

static void qkdn_ring_free(struct qkdn_device *dev)
{
	unsigned int i;

	for (i = 0; i < QKDN_RING_SLOTS; i++) {
		kfree_sensitive(dev->ring[i].buf);
		dev->ring[i].buf = NULL;
	}
}

int qkdn_device_register(struct net *net, struct qkdn_device *dev)
{
	struct qkdn_net *qn = qkdn_net(net);
	struct qkdn_link *link;
	unsigned int i;
	int err;

	if (!dev->ops || !dev->ops->start || !dev->ops->stop ||
	    !dev->name[0] || !dev->block_size || dev->block_size % 8 ||
	    dev->block_size > QKDN_BLOCK_SIZE_MAX)
		return -EINVAL;

	memset(dev->ring, 0, sizeof(dev->ring));
	for (i = 0; i < QKDN_RING_SLOTS; i++) {
		dev->ring[i].buf = kmalloc(dev->block_size, GFP_KERNEL);
		if (!dev->ring[i].buf) {
			qkdn_ring_free(dev);
			return -ENOMEM;
		}
	}
	spin_lock_init(&dev->ring_lock);
	INIT_WORK(&dev->drain_work, qkdn_device_drain);
	dev->prod = 0;
	dev->cons = 0;
	dev->rx_dropped = 0;
	dev->running = false;
	dev->link = NULL;
	dev->net = net;

	mutex_lock(&qn->lock);
	err = -ENODEV;
	if (qn->dying)
		goto out_unlock;
	err = -EEXIST;
	if (qkdn_device_find(qn, dev->name))
		goto out_unlock;
	list_add_tail(&dev->node, &qn->devices);
	list_for_each_entry(link, &qn->links, node) {
		if (!link->dev && !strcmp(link->devname, dev->name)) {
			qkdn_device_attach(link, dev);
			break;
		}
	}
	err = 0;
out_unlock:
	mutex_unlock(&qn->lock);
	if (err)
		qkdn_ring_free(dev);
	return err;
}
EXPORT_SYMBOL_GPL(qkdn_device_register);

/* The driver stops producing before it calls this. */
void qkdn_device_unregister(struct qkdn_device *dev)
{
	struct qkdn_net *qn = qkdn_net(dev->net);

	mutex_lock(&qn->lock);
	if (dev->link)
		qkdn_device_detach(dev->link);
	list_del(&dev->node);
	mutex_unlock(&qn->lock);
	cancel_work_sync(&dev->drain_work);
	qkdn_ring_free(dev);
}
EXPORT_SYMBOL_GPL(qkdn_device_unregister);
