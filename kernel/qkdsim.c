// SPDX-License-Identifier: GPL-2.0
/*
 * qkdsim: a simulated QKD module pair.
 *
 * A pair has two ends, each a struct qkdn_device registered in the network
 * namespace of one QKD node. While both ends are started over Cq, the pair
 * produces numbered key blocks at a configured secure key rate and hands the
 * same (sequence number, bytes) to both ends through their receive rings,
 * the way the two QKD modules of a real link deliver post-processed key.
 * debugfs knobs create and delete pairs and inject the faults a key manager
 * must survive: aborted blocks, one-sided losses, bursts that overrun the
 * ring; one more times the ingestion of blocks (Documentation/benchmarks.md).
 * See Documentation/qkdsim.md.
 *
 * Lifetime: a pair is deleted by del_device, by module unload, or when a
 * network namespace holding one of its ends goes away. qkdsim registers its
 * pernet_operations as a device, so its exit hook runs before the exit hooks
 * of qkdn for a dying namespace; the driver owns its devices and unregisters
 * them itself, while qkdn's state for that namespace still exists.
 *
 * Lock order: qkdsim_lock, then pair->prod_lock, then pair->lock. The Cq
 * callbacks run under qkdn's own lock and take only pair->lock, which is
 * never held while calling into qkdn; prod_lock may be held across
 * qkdn_device_register() and the producer calls, never taken by a callback.
 */

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/nsproxy.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <asm/unaligned.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>

#include "qkdn_device.h"

#define QKDSIM_ID_MAX		9999
#define QKDSIM_RATE_DEFAULT	1000000ULL		/* bits/s */
#define QKDSIM_RATE_MAX		10000000000ULL		/* bits/s */
#define QKDSIM_BLOCK_MIN	64			/* bytes */
#define QKDSIM_BURST_MAX	100000			/* blocks */
#define QKDSIM_TICK_MS		10
#define QKDSIM_BURST_WAIT_MS	1000
#define QKDSIM_BENCH_MAX	16384			/* blocks */

enum {
	QKDSIM_A,
	QKDSIM_B,
	QKDSIM_ENDS,
	QKDSIM_NO_END = QKDSIM_ENDS,
};

struct qkdsim_pair;

struct qkdsim_end {
	struct qkdn_device dev;
	struct qkdsim_pair *pair;
	/*
	 * The namespace the end was created in. Not a reference: the pernet
	 * exit hook deletes the pair before the namespace is freed.
	 */
	struct net *net;
	bool started;		/* Cq start; under pair->lock */

	/* Counters, under pair->prod_lock. */
	u64 delivered;		/* blocks committed to the ring */
	u64 ring_full;		/* blocks lost because the ring was full */
	u64 lost;		/* blocks withheld by the drop_end knob */
};

struct qkdsim_pair {
	struct list_head list;		/* in qkdsim_pairs, under qkdsim_lock */
	u32 id;
	struct dentry *ddir;

	/*
	 * end[] and block_size are written with both prod_lock and lock held,
	 * so that holding either is enough to read them. An end, once set,
	 * stays until the pair is freed.
	 */
	struct qkdsim_end *end[QKDSIM_ENDS];
	u32 block_size;			/* bytes per block */

	/*
	 * Serialises the producers (the rate work item and bursts) and the
	 * knobs they read; protects seq, seed, abort_next, drop_next,
	 * produced, aborted, burst_last and the ends' counters.
	 */
	struct mutex prod_lock;
	u64 seq;			/* last sequence number produced */
	u64 seed;			/* 0: random bytes */
	u64 produced;			/* sequence numbers consumed */
	u64 aborted;
	u64 burst_last;			/* blocks produced by the last burst */
	struct qkdsim_bench {		/* results of the last bench */
		u32 blocks;
		u32 block_size;
		u64 memcpy_ns;
		u64 ingest_ns;
		u64 produce_ns;		/* until the last block was committed */
		u64 waits;		/* times the producer found a ring full */
	} bench;
	bool abort_next;
	int drop_next;			/* QKDSIM_A, QKDSIM_B or QKDSIM_NO_END */

	/*
	 * Protects the generation state: rate, paused, dying, ticking,
	 * last_ns, credit_bits, credit_frac and the ends' started flags.
	 */
	spinlock_t lock;
	u64 rate;			/* bits/s */
	bool paused;
	bool dying;			/* being deleted: no new work, bursts stop */
	bool ticking;			/* gen_work is queued or running */
	u64 last_ns;			/* when credit was last accrued */
	u64 credit_bits;		/* key bits owed, less than one block */
	u64 credit_frac;		/* fraction of a bit, in bit*ns/s units */
	struct delayed_work gen_work;
};

static struct dentry *qkdsim_root;

/* Protects qkdsim_pairs; held while pairs and their ends are created or deleted. */
static DEFINE_MUTEX(qkdsim_lock);
static LIST_HEAD(qkdsim_pairs);

static const char qkdsim_end_name[QKDSIM_ENDS] = { 'a', 'b' };

/* The byte generator: splitmix64, see Documentation/qkdsim.md. */
static u64 qkdsim_splitmix64(u64 x)
{
	u64 z = x + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Fill @p with the @len bytes of block @seq. Called with prod_lock held. */
static void qkdsim_fill(const struct qkdsim_pair *pair, u8 *p, u32 len, u64 seq)
{
	u64 x = pair->seed + (seq << 32);
	u32 j;

	if (!pair->seed) {
		get_random_bytes(p, len);
		return;
	}
	for (j = 0; j < len / 8; j++)
		put_unaligned_le64(qkdsim_splitmix64(x + j), p + 8 * j);
}

/*
 * Produce the next block. Called with prod_lock held; never sleeps.
 *
 * With @wait false a full ring loses the block at that end (counted in
 * ring_full) and the other end still gets it. With @wait true nothing is
 * produced unless every end that should get the block has ring space, and
 * -EAGAIN tells the caller to wait and retry. With @pattern (at least
 * block_size bytes) the block's bytes are a copy of it instead of being
 * generated.
 */
static int qkdsim_produce(struct qkdsim_pair *pair, bool wait,
			  const u8 *pattern)
{
	u8 *buf[QKDSIM_ENDS] = {};
	int lost = pair->drop_next;
	u32 len = pair->block_size;
	const u8 *src = pattern;
	u64 seq;
	int e;

	if (pair->abort_next) {
		pair->abort_next = false;
		seq = ++pair->seq;
		pair->produced++;
		pair->aborted++;
		for (e = 0; e < QKDSIM_ENDS; e++)
			qkdn_device_rx_abort(&pair->end[e]->dev, seq);
		return 0;
	}

	for (e = 0; e < QKDSIM_ENDS; e++) {
		if (e == lost)
			continue;
		buf[e] = qkdn_device_rx_buf(&pair->end[e]->dev);
		if (!buf[e] && wait)
			return -EAGAIN;
	}

	seq = ++pair->seq;
	pair->produced++;
	pair->drop_next = QKDSIM_NO_END;

	/* Generate straight into the first ring buffer, copy to the other. */
	for (e = 0; e < QKDSIM_ENDS; e++) {
		if (e == lost) {
			pair->end[e]->lost++;
			continue;
		}
		if (!buf[e]) {
			pair->end[e]->ring_full++;
			continue;
		}
		if (src)
			memcpy(buf[e], src, len);
		else
			qkdsim_fill(pair, buf[e], len, seq);
		src = buf[e];
	}
	for (e = 0; e < QKDSIM_ENDS; e++) {
		if (!buf[e])
			continue;
		qkdn_device_rx_commit(&pair->end[e]->dev, seq, len);
		pair->end[e]->delivered++;
	}
	return 0;
}

/* Generation state, all called with pair->lock held. */

static bool qkdsim_generating(const struct qkdsim_pair *pair)
{
	const struct qkdsim_end *a = pair->end[QKDSIM_A];
	const struct qkdsim_end *b = pair->end[QKDSIM_B];

	return a && b && a->started && b->started && !pair->paused &&
	       pair->rate && !pair->dying;
}

/* Add the key produced at the current rate since last_ns to the credit. */
static void qkdsim_accrue(struct qkdsim_pair *pair)
{
	u64 now = ktime_get_ns();
	u64 elapsed = min_t(u64, now - pair->last_ns, NSEC_PER_SEC);
	/* rate <= 10^10 and elapsed <= 10^9: fits in 64 bits */
	u64 acc = pair->rate * elapsed + pair->credit_frac;

	pair->last_ns = now;
	pair->credit_bits += div64_u64_rem(acc, NSEC_PER_SEC, &pair->credit_frac);
}

static unsigned long qkdsim_tick(void)
{
	return msecs_to_jiffies(QKDSIM_TICK_MS);
}

/*
 * Bracket every change of what qkdsim_generating() depends on:
 *	was = qkdsim_change_begin(pair); <change>; qkdsim_change_end(pair, was);
 */
static bool qkdsim_change_begin(struct qkdsim_pair *pair)
{
	bool was = qkdsim_generating(pair);

	if (was)
		qkdsim_accrue(pair);
	return was;
}

static void qkdsim_change_end(struct qkdsim_pair *pair, bool was)
{
	if (!qkdsim_generating(pair))
		return;
	if (!was)
		pair->last_ns = ktime_get_ns();
	if (!pair->ticking) {
		pair->ticking = true;
		queue_delayed_work(system_unbound_wq, &pair->gen_work,
				   qkdsim_tick());
	}
}

static void qkdsim_gen_work(struct work_struct *work)
{
	struct qkdsim_pair *pair = container_of(to_delayed_work(work),
						struct qkdsim_pair, gen_work);
	u64 blocks = 0;
	u64 bits;

	spin_lock(&pair->lock);
	if (qkdsim_generating(pair)) {
		qkdsim_accrue(pair);
		bits = (u64)pair->block_size * 8;
		blocks = div64_u64(pair->credit_bits, bits);
		pair->credit_bits -= blocks * bits;
	}
	spin_unlock(&pair->lock);

	if (blocks) {
		mutex_lock(&pair->prod_lock);
		while (blocks--) {
			qkdsim_produce(pair, false, NULL);
			if (!(blocks % 64))
				cond_resched();
		}
		mutex_unlock(&pair->prod_lock);
	}

	spin_lock(&pair->lock);
	if (qkdsim_generating(pair))
		queue_delayed_work(system_unbound_wq, &pair->gen_work,
				   qkdsim_tick());
	else
		pair->ticking = false;
	spin_unlock(&pair->lock);
}

/* Cq, called by qkdn in process context under its own lock. */

static struct qkdsim_end *qkdsim_to_end(struct qkdn_device *dev)
{
	return container_of(dev, struct qkdsim_end, dev);
}

static void qkdsim_set_started(struct qkdn_device *dev, bool started)
{
	struct qkdsim_end *end = qkdsim_to_end(dev);
	struct qkdsim_pair *pair = end->pair;
	bool was;

	spin_lock(&pair->lock);
	was = qkdsim_change_begin(pair);
	end->started = started;
	qkdsim_change_end(pair, was);
	spin_unlock(&pair->lock);
}

static int qkdsim_start(struct qkdn_device *dev)
{
	qkdsim_set_started(dev, true);
	return 0;
}

static void qkdsim_stop(struct qkdn_device *dev)
{
	qkdsim_set_started(dev, false);
}

static int qkdsim_pair_set_rate(struct qkdsim_pair *pair, u64 rate)
{
	bool was;

	if (rate > QKDSIM_RATE_MAX)
		return -EINVAL;
	spin_lock(&pair->lock);
	was = qkdsim_change_begin(pair);
	pair->rate = rate;
	qkdsim_change_end(pair, was);
	spin_unlock(&pair->lock);
	return 0;
}

static int qkdsim_set_rate(struct qkdn_device *dev, u64 bits_per_sec)
{
	return qkdsim_pair_set_rate(qkdsim_to_end(dev)->pair, bits_per_sec);
}

static const struct qkdn_device_ops qkdsim_ops = {
	.start		= qkdsim_start,
	.stop		= qkdsim_stop,
	.set_rate	= qkdsim_set_rate,
};

/* Per-pair knobs. */

static int qkdsim_rate_get(void *data, u64 *val)
{
	struct qkdsim_pair *pair = data;

	spin_lock(&pair->lock);
	*val = pair->rate;
	spin_unlock(&pair->lock);
	return 0;
}

static int qkdsim_rate_set(void *data, u64 val)
{
	return qkdsim_pair_set_rate(data, val);
}

DEFINE_DEBUGFS_ATTRIBUTE(qkdsim_rate_fops, qkdsim_rate_get, qkdsim_rate_set,
			 "%llu\n");

static int qkdsim_block_size_get(void *data, u64 *val)
{
	struct qkdsim_pair *pair = data;

	spin_lock(&pair->lock);
	*val = pair->block_size;
	spin_unlock(&pair->lock);
	return 0;
}

/*
 * Only while no end is started. An end's ring buffers were sized when it
 * was registered, so the block size cannot grow beyond that.
 */
static int qkdsim_block_size_set(void *data, u64 val)
{
	struct qkdsim_pair *pair = data;
	int ret = 0;
	int e;

	if (val < QKDSIM_BLOCK_MIN || val > QKDN_BLOCK_SIZE_MAX || val % 8)
		return -EINVAL;

	mutex_lock(&pair->prod_lock);
	spin_lock(&pair->lock);
	for (e = 0; e < QKDSIM_ENDS; e++) {
		struct qkdsim_end *end = pair->end[e];

		if (!end)
			continue;
		if (end->started)
			ret = -EBUSY;
		else if (val > end->dev.block_size && !ret)
			ret = -EINVAL;
	}
	if (!ret)
		pair->block_size = val;
	spin_unlock(&pair->lock);
	mutex_unlock(&pair->prod_lock);
	return ret;
}

DEFINE_DEBUGFS_ATTRIBUTE(qkdsim_block_size_fops, qkdsim_block_size_get,
			 qkdsim_block_size_set, "%llu\n");

static int qkdsim_seed_get(void *data, u64 *val)
{
	struct qkdsim_pair *pair = data;

	mutex_lock(&pair->prod_lock);
	*val = pair->seed;
	mutex_unlock(&pair->prod_lock);
	return 0;
}

static int qkdsim_seed_set(void *data, u64 val)
{
	struct qkdsim_pair *pair = data;

	mutex_lock(&pair->prod_lock);
	pair->seed = val;
	mutex_unlock(&pair->prod_lock);
	return 0;
}

DEFINE_DEBUGFS_ATTRIBUTE(qkdsim_seed_fops, qkdsim_seed_get, qkdsim_seed_set,
			 "%llu\n");

static int qkdsim_paused_get(void *data, u64 *val)
{
	struct qkdsim_pair *pair = data;

	spin_lock(&pair->lock);
	*val = pair->paused;
	spin_unlock(&pair->lock);
	return 0;
}

static int qkdsim_paused_set(void *data, u64 val)
{
	struct qkdsim_pair *pair = data;
	bool was;

	if (val > 1)
		return -EINVAL;
	spin_lock(&pair->lock);
	was = qkdsim_change_begin(pair);
	pair->paused = val;
	qkdsim_change_end(pair, was);
	spin_unlock(&pair->lock);
	return 0;
}

DEFINE_DEBUGFS_ATTRIBUTE(qkdsim_paused_fops, qkdsim_paused_get,
			 qkdsim_paused_set, "%llu\n");

static int qkdsim_abort_get(void *data, u64 *val)
{
	struct qkdsim_pair *pair = data;

	mutex_lock(&pair->prod_lock);
	*val = pair->abort_next;
	mutex_unlock(&pair->prod_lock);
	return 0;
}

/* 1 arms an abort of the next block, 0 disarms it. */
static int qkdsim_abort_set(void *data, u64 val)
{
	struct qkdsim_pair *pair = data;

	if (val > 1)
		return -EINVAL;
	mutex_lock(&pair->prod_lock);
	pair->abort_next = val;
	mutex_unlock(&pair->prod_lock);
	return 0;
}

DEFINE_DEBUGFS_ATTRIBUTE(qkdsim_abort_fops, qkdsim_abort_get,
			 qkdsim_abort_set, "%llu\n");

static int qkdsim_seq_get(void *data, u64 *val)
{
	struct qkdsim_pair *pair = data;

	mutex_lock(&pair->prod_lock);
	*val = pair->seq;
	mutex_unlock(&pair->prod_lock);
	return 0;
}

DEFINE_DEBUGFS_ATTRIBUTE(qkdsim_seq_fops, qkdsim_seq_get, NULL, "%llu\n");

static ssize_t qkdsim_drop_end_read(struct file *file, char __user *ubuf,
				    size_t count, loff_t *ppos)
{
	struct qkdsim_pair *pair = file->private_data;
	const char *s;
	int drop;

	mutex_lock(&pair->prod_lock);
	drop = pair->drop_next;
	mutex_unlock(&pair->prod_lock);

	if (drop == QKDSIM_A)
		s = "a\n";
	else if (drop == QKDSIM_B)
		s = "b\n";
	else
		s = "none\n";
	return simple_read_from_buffer(ubuf, count, ppos, s, strlen(s));
}

/* "a" or "b": the next block reaches only the other end; "none" disarms. */
static ssize_t qkdsim_drop_end_write(struct file *file,
				     const char __user *ubuf, size_t count,
				     loff_t *ppos)
{
	struct qkdsim_pair *pair = file->private_data;
	char kbuf[8];
	char *s;
	int drop;

	if (*ppos || count >= sizeof(kbuf))
		return -EINVAL;
	if (copy_from_user(kbuf, ubuf, count))
		return -EFAULT;
	kbuf[count] = '\0';
	s = strim(kbuf);

	if (!strcmp(s, "a"))
		drop = QKDSIM_A;
	else if (!strcmp(s, "b"))
		drop = QKDSIM_B;
	else if (!strcmp(s, "none"))
		drop = QKDSIM_NO_END;
	else
		return -EINVAL;

	mutex_lock(&pair->prod_lock);
	pair->drop_next = drop;
	mutex_unlock(&pair->prod_lock);
	return count;
}

static const struct file_operations qkdsim_drop_end_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= qkdsim_drop_end_read,
	.write	= qkdsim_drop_end_write,
	.llseek	= default_llseek,
};

static bool qkdsim_dying(struct qkdsim_pair *pair)
{
	bool dying;

	spin_lock(&pair->lock);
	dying = pair->dying;
	spin_unlock(&pair->lock);
	return dying;
}

static ssize_t qkdsim_burst_read(struct file *file, char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct qkdsim_pair *pair = file->private_data;
	char kbuf[24];
	int len;

	mutex_lock(&pair->prod_lock);
	len = scnprintf(kbuf, sizeof(kbuf), "%llu\n", pair->burst_last);
	mutex_unlock(&pair->prod_lock);
	return simple_read_from_buffer(ubuf, count, ppos, kbuf, len);
}

/*
 * Produce N blocks now, whatever the rate and the Cq state, waiting for
 * ring space as needed; give up after QKDSIM_BURST_WAIT_MS without progress.
 */
static ssize_t qkdsim_burst_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	struct qkdsim_pair *pair = file->private_data;
	unsigned long deadline;
	u32 done = 0;
	u32 n;
	int err;

	err = kstrtou32_from_user(ubuf, count, 10, &n);
	if (err)
		return err;
	if (n < 1 || n > QKDSIM_BURST_MAX)
		return -EINVAL;

	mutex_lock(&pair->prod_lock);
	if (!pair->end[QKDSIM_B]) {
		mutex_unlock(&pair->prod_lock);
		return -ENODEV;
	}
	pair->burst_last = 0;
	mutex_unlock(&pair->prod_lock);

	deadline = jiffies + msecs_to_jiffies(QKDSIM_BURST_WAIT_MS);
	while (done < n) {
		if (qkdsim_dying(pair))
			return -ENODEV;
		if (fatal_signal_pending(current))
			return -EINTR;

		mutex_lock(&pair->prod_lock);
		err = qkdsim_produce(pair, true, NULL);
		if (!err)
			pair->burst_last = ++done;
		mutex_unlock(&pair->prod_lock);

		if (!err) {
			deadline = jiffies +
				   msecs_to_jiffies(QKDSIM_BURST_WAIT_MS);
			if (!(done % 64))
				cond_resched();
			continue;
		}
		if (time_after(jiffies, deadline))
			return -ETIMEDOUT;
		usleep_range(200, 500);
	}
	return count;
}

static const struct file_operations qkdsim_burst_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= qkdsim_burst_read,
	.write	= qkdsim_burst_write,
	.llseek	= default_llseek,
};

/*
 * bench: how fast blocks get from the QKD module into the key stores,
 * against the bare copy of the same bytes. Write N: N blocks of block_size
 * bytes for each end. One block is generated beforehand, so that making
 * key bytes is not measured; then
 *
 *   memcpy_ns   2N memcpy() of that block into a buffer of 2N blocks: the
 *               "DMA" of N blocks into both ends, and nothing else;
 *   ingest_ns   N blocks produced through the rings of both ends (each a
 *               copy of that block, as a burst, waiting for ring space)
 *               until both stores have taken in the last one.
 *
 * The blocks are real: they consume sequence numbers and enter the pools
 * (all with the same bytes). Reading gives the figures of the last run.
 */
static ssize_t qkdsim_bench_read(struct file *file, char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct qkdsim_pair *pair = file->private_data;
	struct qkdsim_bench b;
	char kbuf[192];
	int len;

	mutex_lock(&pair->prod_lock);
	b = pair->bench;
	mutex_unlock(&pair->prod_lock);
	len = scnprintf(kbuf, sizeof(kbuf),
			"blocks %u\nblock_size %u\nmemcpy_ns %llu\ningest_ns %llu\nproduce_ns %llu\nwaits %llu\n",
			b.blocks, b.block_size, b.memcpy_ns, b.ingest_ns,
			b.produce_ns, b.waits);
	return simple_read_from_buffer(ubuf, count, ppos, kbuf, len);
}

/* The reference: copy @n blocks of @len bytes from @src, nothing more. */
static int qkdsim_bench_memcpy(const u8 *src, u32 len, u32 n, u64 *ns)
{
	u8 *dst;
	u64 t0;
	u32 i;

	dst = vmalloc(array_size(n, len));
	if (!dst)
		return -ENOMEM;
	t0 = ktime_get_ns();
	for (i = 0; i < n; i++) {
		memcpy(dst + (size_t)i * len, src, len);
		if (!(i % 64))
			cond_resched();
	}
	*ns = ktime_get_ns() - t0;
	vfree(dst);
	return 0;
}

/*
 * Waits until the store of @dev has taken in everything in its ring. The
 * ring indices are qkdn's; only a benchmark peeks at them.
 */
static int qkdsim_bench_drain(struct qkdn_device *dev)
{
	unsigned long flags;
	bool empty;

	/*
	 * The drain work runs until the ring is empty, unless it could not
	 * allocate a fresh buffer for a slot; let it finish.
	 */
	flush_work(&dev->drain_work);
	spin_lock_irqsave(&dev->ring_lock, flags);
	empty = dev->cons == dev->prod;
	spin_unlock_irqrestore(&dev->ring_lock, flags);
	return empty ? 0 : -ENOMEM;
}

/* N blocks through both rings into both stores, as a burst does. */
static int qkdsim_bench_ingest(struct qkdsim_pair *pair, const u8 *src,
			       u32 n, struct qkdsim_bench *b)
{
	unsigned long deadline;
	u32 done = 0;
	u64 t0;
	int err, e;

	deadline = jiffies + msecs_to_jiffies(QKDSIM_BURST_WAIT_MS);
	t0 = ktime_get_ns();
	while (done < n) {
		if (qkdsim_dying(pair))
			return -ENODEV;
		if (fatal_signal_pending(current))
			return -EINTR;

		mutex_lock(&pair->prod_lock);
		err = qkdsim_produce(pair, true, src);
		mutex_unlock(&pair->prod_lock);

		if (!err) {
			deadline = jiffies +
				   msecs_to_jiffies(QKDSIM_BURST_WAIT_MS);
			if (!(++done % 64))
				cond_resched();
			continue;
		}
		if (time_after(jiffies, deadline))
			return -ETIMEDOUT;
		b->waits++;
		usleep_range(20, 50);
	}
	b->produce_ns = ktime_get_ns() - t0;
	for (e = 0; e < QKDSIM_ENDS; e++) {
		err = qkdsim_bench_drain(&pair->end[e]->dev);
		if (err)
			return err;
	}
	b->ingest_ns = ktime_get_ns() - t0;
	return 0;
}

static ssize_t qkdsim_bench_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	struct qkdsim_pair *pair = file->private_data;
	struct qkdsim_bench b = {};
	u8 *src;
	u32 n;
	int err;

	err = kstrtou32_from_user(ubuf, count, 10, &n);
	if (err)
		return err;
	if (n < 1 || n > QKDSIM_BENCH_MAX)
		return -EINVAL;

	mutex_lock(&pair->prod_lock);
	if (!pair->end[QKDSIM_B]) {
		mutex_unlock(&pair->prod_lock);
		return -ENODEV;
	}
	b.blocks = n;
	b.block_size = pair->block_size;
	mutex_unlock(&pair->prod_lock);

	/* Large enough whatever block_size becomes meanwhile. */
	src = kmalloc(QKDN_BLOCK_SIZE_MAX, GFP_KERNEL);
	if (!src)
		return -ENOMEM;
	get_random_bytes(src, QKDN_BLOCK_SIZE_MAX);

	err = qkdsim_bench_memcpy(src, b.block_size, 2 * n, &b.memcpy_ns);
	if (!err)
		err = qkdsim_bench_ingest(pair, src, n, &b);
	kfree_sensitive(src);
	if (err)
		return err;

	mutex_lock(&pair->prod_lock);
	pair->bench = b;
	mutex_unlock(&pair->prod_lock);
	return count;
}

static const struct file_operations qkdsim_bench_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= qkdsim_bench_read,
	.write	= qkdsim_bench_write,
	.llseek	= default_llseek,
};

static int qkdsim_stats_show(struct seq_file *m, void *v)
{
	struct qkdsim_pair *pair = m->private;
	int e;

	mutex_lock(&pair->prod_lock);
	seq_printf(m, "produced %llu\n", pair->produced);
	seq_printf(m, "aborted %llu\n", pair->aborted);
	for (e = 0; e < QKDSIM_ENDS; e++) {
		struct qkdsim_end *end = pair->end[e];
		char c = qkdsim_end_name[e];

		seq_printf(m, "delivered_%c %llu\n", c, end ? end->delivered : 0);
		seq_printf(m, "dropped_%c %llu\n", c, end ? end->ring_full : 0);
		seq_printf(m, "lost_%c %llu\n", c, end ? end->lost : 0);
	}
	mutex_unlock(&pair->prod_lock);
	return 0;
}

DEFINE_SHOW_ATTRIBUTE(qkdsim_stats);

static int qkdsim_state_show(struct seq_file *m, void *v)
{
	struct qkdsim_pair *pair = m->private;
	int e;

	spin_lock(&pair->lock);
	for (e = 0; e < QKDSIM_ENDS; e++) {
		struct qkdsim_end *end = pair->end[e];

		if (end)
			seq_printf(m, "%c netns %u started %d ring %u\n",
				   qkdsim_end_name[e], end->net->ns.inum,
				   end->started, end->dev.block_size);
		else
			seq_printf(m, "%c none\n", qkdsim_end_name[e]);
	}
	seq_printf(m, "generating %d\n", qkdsim_generating(pair));
	spin_unlock(&pair->lock);
	return 0;
}

DEFINE_SHOW_ATTRIBUTE(qkdsim_state);

static void qkdsim_pair_debugfs(struct qkdsim_pair *pair)
{
	char name[16];
	struct dentry *d;

	snprintf(name, sizeof(name), "qkdsim%u", pair->id);
	d = debugfs_create_dir(name, qkdsim_root);
	pair->ddir = d;

	debugfs_create_file_unsafe("rate", 0600, d, pair, &qkdsim_rate_fops);
	debugfs_create_file_unsafe("block_size", 0600, d, pair,
				   &qkdsim_block_size_fops);
	debugfs_create_file_unsafe("seed", 0600, d, pair, &qkdsim_seed_fops);
	debugfs_create_file_unsafe("paused", 0600, d, pair,
				   &qkdsim_paused_fops);
	debugfs_create_file_unsafe("abort", 0600, d, pair, &qkdsim_abort_fops);
	debugfs_create_file_unsafe("seq", 0400, d, pair, &qkdsim_seq_fops);
	debugfs_create_file("drop_end", 0600, d, pair, &qkdsim_drop_end_fops);
	debugfs_create_file("burst", 0600, d, pair, &qkdsim_burst_fops);
	debugfs_create_file("bench", 0600, d, pair, &qkdsim_bench_fops);
	debugfs_create_file("stats", 0400, d, pair, &qkdsim_stats_fops);
	debugfs_create_file("state", 0400, d, pair, &qkdsim_state_fops);
}

/* Pairs and ends, created and deleted under qkdsim_lock. */

static struct qkdsim_pair *qkdsim_pair_find(u32 id)
{
	struct qkdsim_pair *pair;

	lockdep_assert_held(&qkdsim_lock);
	list_for_each_entry(pair, &qkdsim_pairs, list)
		if (pair->id == id)
			return pair;
	return NULL;
}

static struct qkdsim_end *qkdsim_end_alloc(struct qkdsim_pair *pair,
					   struct net *net)
{
	struct qkdsim_end *end;

	end = kzalloc(sizeof(*end), GFP_KERNEL);
	if (!end)
		return NULL;
	end->pair = pair;
	end->net = net;
	snprintf(end->dev.name, sizeof(end->dev.name), "qkdsim%u", pair->id);
	end->dev.ops = &qkdsim_ops;
	end->dev.owner = THIS_MODULE;
	end->dev.block_size = pair->block_size;
	return end;
}

static int qkdsim_pair_new(u32 id, struct net *net)
{
	struct qkdsim_pair *pair;
	struct qkdsim_end *end;
	int err;

	pair = kzalloc(sizeof(*pair), GFP_KERNEL);
	if (!pair)
		return -ENOMEM;
	pair->id = id;
	pair->block_size = QKDN_BLOCK_SIZE_MAX;
	pair->rate = QKDSIM_RATE_DEFAULT;
	pair->drop_next = QKDSIM_NO_END;
	mutex_init(&pair->prod_lock);
	spin_lock_init(&pair->lock);
	INIT_DELAYED_WORK(&pair->gen_work, qkdsim_gen_work);

	end = qkdsim_end_alloc(pair, net);
	if (!end) {
		err = -ENOMEM;
		goto err_pair;
	}
	/* Not yet visible: no producer, knob or pernet exit can see it. */
	err = qkdn_device_register(net, &end->dev);
	if (err)
		goto err_end;
	pair->end[QKDSIM_A] = end;

	qkdsim_pair_debugfs(pair);
	list_add_tail(&pair->list, &qkdsim_pairs);
	return 0;

err_end:
	kfree(end);
err_pair:
	mutex_destroy(&pair->prod_lock);
	kfree(pair);
	return err;
}

static int qkdsim_pair_add_b(struct qkdsim_pair *pair, struct net *net)
{
	struct qkdsim_end *end;
	bool was;
	int err;

	/* prod_lock keeps block_size fixed until end B is visible. */
	mutex_lock(&pair->prod_lock);
	end = qkdsim_end_alloc(pair, net);
	if (!end) {
		err = -ENOMEM;
		goto out;
	}
	err = qkdn_device_register(net, &end->dev);
	if (err) {
		kfree(end);
		goto out;
	}
	spin_lock(&pair->lock);
	was = qkdsim_change_begin(pair);
	pair->end[QKDSIM_B] = end;
	qkdsim_change_end(pair, was);
	spin_unlock(&pair->lock);
out:
	mutex_unlock(&pair->prod_lock);
	return err;
}

static void qkdsim_pair_del(struct qkdsim_pair *pair)
{
	int e;

	lockdep_assert_held(&qkdsim_lock);
	list_del(&pair->list);

	spin_lock(&pair->lock);
	pair->dying = true;
	spin_unlock(&pair->lock);

	/* Waits for running knob handlers; a burst sees dying and returns. */
	debugfs_remove_recursive(pair->ddir);
	cancel_delayed_work_sync(&pair->gen_work);

	/* No producer is left; qkdn may still call stop while unregistering. */
	for (e = QKDSIM_ENDS - 1; e >= 0; e--) {
		if (!pair->end[e])
			continue;
		qkdn_device_unregister(&pair->end[e]->dev);
		kfree(pair->end[e]);
	}
	mutex_destroy(&pair->prod_lock);
	kfree(pair);
}

static int qkdsim_parse_id(const char __user *ubuf, size_t count, u32 *id)
{
	int err;

	err = kstrtou32_from_user(ubuf, count, 10, id);
	if (err)
		return err;
	if (*id < 1 || *id > QKDSIM_ID_MAX)
		return -EINVAL;
	return 0;
}

static ssize_t qkdsim_new_device_write(struct file *file,
				       const char __user *ubuf, size_t count,
				       loff_t *ppos)
{
	struct net *net = current->nsproxy->net_ns;
	struct qkdsim_pair *pair;
	u32 id;
	int err;

	err = qkdsim_parse_id(ubuf, count, &id);
	if (err)
		return err;

	mutex_lock(&qkdsim_lock);
	pair = qkdsim_pair_find(id);
	if (!pair)
		err = qkdsim_pair_new(id, net);
	else if (pair->end[QKDSIM_B])
		err = -EEXIST;
	else if (net_eq(pair->end[QKDSIM_A]->net, net))
		err = -EINVAL;
	else
		err = qkdsim_pair_add_b(pair, net);
	mutex_unlock(&qkdsim_lock);

	return err ? err : count;
}

static const struct file_operations qkdsim_new_device_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= qkdsim_new_device_write,
	.llseek	= noop_llseek,
};

static ssize_t qkdsim_del_device_write(struct file *file,
				       const char __user *ubuf, size_t count,
				       loff_t *ppos)
{
	struct qkdsim_pair *pair;
	u32 id;
	int err;

	err = qkdsim_parse_id(ubuf, count, &id);
	if (err)
		return err;

	mutex_lock(&qkdsim_lock);
	pair = qkdsim_pair_find(id);
	if (pair)
		qkdsim_pair_del(pair);
	else
		err = -ENOENT;
	mutex_unlock(&qkdsim_lock);

	return err ? err : count;
}

static const struct file_operations qkdsim_del_device_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= qkdsim_del_device_write,
	.llseek	= noop_llseek,
};

/* A namespace is going away: delete every pair with an end in it. */
static void __net_exit qkdsim_net_exit(struct net *net)
{
	struct qkdsim_pair *pair, *tmp;
	int e;

	mutex_lock(&qkdsim_lock);
	list_for_each_entry_safe(pair, tmp, &qkdsim_pairs, list) {
		for (e = 0; e < QKDSIM_ENDS; e++) {
			if (pair->end[e] && net_eq(pair->end[e]->net, net)) {
				qkdsim_pair_del(pair);
				break;
			}
		}
	}
	mutex_unlock(&qkdsim_lock);
}

static struct pernet_operations qkdsim_net_ops = {
	.exit = qkdsim_net_exit,
};

static int __init qkdsim_init(void)
{
	int err;

	qkdsim_root = debugfs_create_dir("qkdsim", NULL);
	if (IS_ERR(qkdsim_root))
		return PTR_ERR(qkdsim_root);

	/* A device, so that its exit runs before qkdn's for a dying netns. */
	err = register_pernet_device(&qkdsim_net_ops);
	if (err) {
		debugfs_remove_recursive(qkdsim_root);
		return err;
	}

	debugfs_create_file("new_device", 0200, qkdsim_root, NULL,
			    &qkdsim_new_device_fops);
	debugfs_create_file("del_device", 0200, qkdsim_root, NULL,
			    &qkdsim_del_device_fops);
	return 0;
}

static void __exit qkdsim_exit(void)
{
	struct qkdsim_pair *pair, *tmp;

	/* Runs the exit hook for every namespace: deletes every pair. */
	unregister_pernet_device(&qkdsim_net_ops);

	mutex_lock(&qkdsim_lock);
	list_for_each_entry_safe(pair, tmp, &qkdsim_pairs, list)
		qkdsim_pair_del(pair);
	mutex_unlock(&qkdsim_lock);

	debugfs_remove_recursive(qkdsim_root);
}

module_init(qkdsim_init);
module_exit(qkdsim_exit);

MODULE_DESCRIPTION("qkdsim: simulated QKD module pair for qkdn");
MODULE_LICENSE("GPL");
