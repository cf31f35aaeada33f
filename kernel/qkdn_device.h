/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Kq/Cq side of qkdn: how a QKD module driver hands key blocks to the
 * key manager.
 *
 * A driver registers a struct qkdn_device in the network namespace of its
 * node. qkdn gives it a receive ring of QKDN_RING_SLOTS descriptors, each
 * owning a buffer of block_size bytes (the DMA buffers of a real device).
 * The producer fills the buffer returned by qkdn_device_rx_buf() and
 * publishes it with qkdn_device_rx_commit(); the key store drains the ring
 * from a work item, taking the buffer and leaving a fresh one in the slot.
 * qkdn_device_rx_buf() returning NULL means the ring is full: the driver
 * may wait for room or drop the block (and count it).
 * Blocks carry a sequence number that both ends of the QKD link agree on;
 * sequence numbers increase, and gaps are allowed.
 *
 * Context: qkdn_device_rx_buf(), _rx_commit() and _rx_abort() may be called
 * from any context, including hard interrupt; they never sleep. A driver
 * has a single producer per device (or serialises its producers itself).
 * register/unregister sleep.
 */
#ifndef _QKDN_DEVICE_H
#define _QKDN_DEVICE_H

#include <linux/types.h>
#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#define QKDN_RING_SLOTS		64
#define QKDN_BLOCK_SIZE_MAX	4096
#define QKDN_DEVNAME_MAX	32

struct net;
struct qkdn_device;
struct qkdn_link;

/* Cq: control of the QKD module, called in process context. */
struct qkdn_device_ops {
	int (*start)(struct qkdn_device *dev);
	void (*stop)(struct qkdn_device *dev);
	int (*set_rate)(struct qkdn_device *dev, u64 bits_per_sec);
};

struct qkdn_ring_slot {
	u8 *buf;		/* owned by the slot, block_size bytes */
	u64 seq;
	u32 len;
	u32 flags;		/* QKDN_SLOT_* */
};

#define QKDN_SLOT_BLOCK		BIT(0)	/* buf holds a key block */
#define QKDN_SLOT_ABORT		BIT(1)	/* block seq was aborted, no data */

struct qkdn_device {
	/* Set by the driver before registering. */
	char name[QKDN_DEVNAME_MAX];
	const struct qkdn_device_ops *ops;
	struct module *owner;
	u32 block_size;			/* bytes, <= QKDN_BLOCK_SIZE_MAX */

	/* Private to qkdn. */
	struct net *net;
	struct list_head node;		/* in the netns' device list */
	struct qkdn_link *link;		/* set under the netns lock */
	bool running;
	u64 rate;

	spinlock_t ring_lock;		/* protects ring, prod, cons */
	struct qkdn_ring_slot ring[QKDN_RING_SLOTS];
	unsigned int prod, cons;	/* free-running indices */
	u64 rx_dropped;			/* published into a full ring */
	struct work_struct drain_work;
};

int qkdn_device_register(struct net *net, struct qkdn_device *dev);
void qkdn_device_unregister(struct qkdn_device *dev);

/* Producer side (any context). */
u8 *qkdn_device_rx_buf(struct qkdn_device *dev);
void qkdn_device_rx_commit(struct qkdn_device *dev, u64 seq, u32 len);
void qkdn_device_rx_abort(struct qkdn_device *dev, u64 seq);

#endif /* _QKDN_DEVICE_H */
