/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn internals: the per-node state, links, key pools and Kx channel.
 */
#ifndef _QKDN_H
#define _QKDN_H

#include <linux/hashtable.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>
#include <linux/qkdn.h>

#include "qkdn_device.h"

#define QKDN_RESERVATION_WAIT_MS	2000	/* "key request with ID" waits */
#define QKDN_KX_RETX_MS			500	/* resend unacked frames */
#define QKDN_KX_RETX_MAX_MS		8000	/* ... backing off up to this */
#define QKDN_KX_UNACKED_KEYS_MAX	4096	/* reserved, not acknowledged */
#define QKDN_PEER_RANGES_MAX		1024	/* announced, not yet matched */
#define QKDN_RESERVED_KEYS_MAX		65536	/* per link, and relayed per
						 * node, awaiting an SAE
						 */
#define QKDN_POOL_CAPACITY_DEFAULT	(4U << 20)
#define QKDN_CTRL_TIMEOUT_MS		2000	/* the controller answers */
#define QKDN_RELAY_TIMEOUT_MS		10000	/* the whole relay, at its source */
#define QKDN_RELAY_RECORD_MS		60000	/* a hop remembers a relay */
#define QKDN_RELAYS_MAX			1024	/* relays a node starts, passes */
#define QKDN_HOP_RECORDS_MAX		8192	/* finished, a hop remembers */
#define QKDN_DST_RELAYS_MAX		16384	/* relays ended here, waiting */
#define QKDN_RELAYED_KEY_TTL_MS		600000	/* relayed keys wait this long */
#define QKDN_ERRNO_MAX			511	/* errnos user space may see */
#define QKDN_MAC_LEN			16	/* tag, and hash key, bytes */
#define QKDN_MAC_KEY_USES		65536	/* frames per hash key */

#define QKDN_KX_HDR_LEN			32
#define QKDN_ERRMSGS			64	/* extack texts kept */
#define QKDN_ERRMSG_LEN			(QKDN_ERRMSG_MAX + QKDN_ID_MAX + 32)

enum qkdn_mcgrp { QKDN_MCGRP_EVENTS_ID, QKDN_MCGRP_CTRL_ID };

enum qkdn_kx_type {
	QKDN_KX_ACK = 1,	/* header only, unsequenced */
	QKDN_KX_BLOCKS,		/* block numbers held by the sender */
	QKDN_KX_RESERVE,	/* keys the sender allocated */
	QKDN_KX_RELAY,		/* Kx-1 "key relay" (relay.c) */
	QKDN_KX_RELAY_DONE,	/* "key relay completion notification" */
	QKDN_KX_RELAY_ABORT,	/* the source gave the relay up */
	QKDN_KX_SUPPLY,		/* I.2 "key supply notification" */
	QKDN_KX_SUPPLY_DONE,	/* "response to key supply notification" */
	QKDN_KX_IPSEC,		/* an IPsec rekey (ipsec.c) */
	QKDN_KX_IPSEC_ANSWER,	/* ... the responder's SAs are in place */
};

struct qkdn_stats {
	u64 blocks_in;
	u64 blocks_usable;
	u64 blocks_discarded;
	u64 blocks_aborted;
	u64 blocks_dropped;
	u64 keys_reserved;
	u64 keys_received;
	u64 keys_supplied;
	u64 frames_tx;
	u64 frames_rx;
	u64 frames_retx;
	u64 frames_bad;
	u64 frames_stale;
	u64 peer_resets;
	u64 relay_tx;
	u64 relay_rx;
	u64 relay_key_bytes;
	u64 relay_pad_bytes;
	u64 relay_mac_bytes;
	u64 relay_mac_fail;
	u64 relays_started;
	u64 relays_done;
	u64 relays_failed;
	u64 relays_forwarded;
	u64 relays_ended;
	u64 relays_aborted;
};

/*
 * Wegman-Carter MAC of relay frames: a polynomial hash over GF(2^128)
 * keyed from the link's pool, reused, plus a one-time pad per frame.
 */
struct gf128mul_4k;
struct qkdn_mac {
	struct gf128mul_4k *t;		/* tables of the hash key, or NULL */
	u32 uses;			/* frames it authenticated */
};

/* A key block from the QKD module, identical at both ends of the link. */
struct qkdn_block {
	struct list_head node;
	u64 seq;
	u32 len;
	u32 off;		/* bytes taken (and erased) from the front */
	u8 *data;
};

/* Blocks in sequence order, consumed from the front. */
struct qkdn_stream {
	struct list_head blocks;
	u64 bytes;		/* bytes not yet taken */
};

/* Block numbers the peer announced that we have not matched yet. */
struct qkdn_range {
	u64 start;
	u32 count;
};

/* A key the peer reserved for one of our SAEs, awaiting "key request with
 * ID". The bytes are erased with the object.
 */
struct qkdn_key {
	struct hlist_node hnode;
	struct list_head lnode;		/* keytab->list, oldest first */
	u8 id[QKDN_KEY_ID_LEN];
	u8 relay[QKDN_RELAY_ID_LEN];	/* the relay that brought it, or 0 */
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
	u32 len;
	u8 data[];
};

/* Keys reserved here for local SAEs, awaiting "key request with ID". */
struct qkdn_keytab {
	DECLARE_HASHTABLE(h, 12);
	struct list_head list;		/* oldest first */
	u32 n;
	u64 bytes;
};

/* A Kx frame queued for the peer, kept until acknowledged. */
struct qkdn_frame {
	struct list_head node;
	u64 seq;
	u32 len;
	u32 cap;		/* bytes allocated for data */
	u8 data[];
};

struct qkdn_net;

struct qkdn_link {
	struct list_head node;		/* qn->links */
	struct qkdn_net *qn;
	u32 id;
	char peer[QKDN_ID_MAX];
	char devname[QKDN_DEVNAME_MAX];
	struct qkdn_device *dev;	/* attached QKD module, or NULL */
	bool own_even;			/* this end allocates from even blocks */
	bool up;			/* Kx channel reported up */
	bool low_signalled;
	u32 capacity;
	u32 low;

	/* Pool: all below under qn->lock. */
	struct list_head pending;	/* held here, not yet announced by peer */
	u64 pending_bytes;
	struct qkdn_range peer_ranges[QKDN_PEER_RANGES_MAX];
	unsigned int pr_head, pr_count;
	u64 last_local_seq;		/* last block taken from the device */
	u64 last_peer_seq;		/* last block the peer announced */
	struct qkdn_stream own;		/* we allocate from these */
	struct qkdn_stream theirs;/* the peer allocates from these */
	struct qkdn_keytab keys;	/* reserved by the peer for us */

	/* Kx: reliable, ordered delivery to the peer's kernel. */
	struct list_head txq;		/* unacknowledged frames, seq order */
	struct qkdn_frame *tx_next;	/* first frame not yet sent, or NULL */
	u32 unacked_keys;		/* in RESERVE frames of txq */
	u64 tx_seq;			/* last sequence number assigned */
	u64 rx_seq;			/* last in-order frame received */
	bool ack_pending;
	u32 epoch;			/* this link instance, random */
	u32 peer_epoch;			/* the peer's, 0 until known */
	unsigned long last_tx;		/* jiffies of the oldest send */
	unsigned long rto;		/* retransmission timeout */

	/* Relay MACs: tx keyed from own, rx from theirs. */
	struct qkdn_mac mac_tx;
	struct qkdn_mac mac_rx;

	struct qkdn_stats stats;
};

struct qkdn_sae {
	struct list_head node;
	char id[QKDN_ID_MAX];
	bool local;
	kuid_t uid;			/* local: who may act as this SAE, or
					 * INVALID_UID
					 */
	char *cred;			/* local: the gateway may act as this
					 * SAE for this client credential
					 */
	char node_id[QKDN_ID_MAX];	/* remote: the node serving it */
	bool kernel;			/* local: only kernel consumers act
					 * as it (IPsec); no process may
					 */
};

struct qkdn_net {
	struct net *net;
	/*
	 * Protects everything of this node below and in its links, SAEs
	 * and devices' ->link, except the device rings (ring_lock).
	 */
	struct mutex lock;
	char node_id[QKDN_ID_MAX];
	struct list_head links;
	struct list_head saes;
	struct list_head devices;
	u32 kx_portid;			/* bound link daemon, 0 if none */
	struct pid *gw_pid;		/* the key delivery gateway process */
	u32 gw_portids[QKDN_GW_SOCKS_MAX];	/* its sockets, 0: free */
	wait_queue_head_t keys_wq;	/* a reservation arrived */
	unsigned long keys_gen;
	bool dying;
	struct delayed_work tx_work;	/* retries and retransmissions */
	struct qkdn_stats gone;		/* counters of deleted links */
	struct qkdn_stats rstats;	/* relay counters of the node */

	/* Relays (relay.c) and the controller (ctrl.c). */
	u8 ctrl_mode;			/* enum qkdn_ctrl_mode */
	u32 ctrl_seq;			/* last request ID */
	DECLARE_HASHTABLE(relays, 10);
	u32 nrelays;
	u32 ndst;			/* of them, ended here */
	u32 nretired;			/* ... finished, passed on here */
	struct list_head retired;	/* those, oldest first */
	wait_queue_head_t relay_wq;	/* a relay started here finished */
	unsigned long relay_gen;	/* ... or left: counts the wake-ups */
	struct delayed_work relay_work;	/* controller and record timeouts */
	struct qkdn_keytab rkeys;	/* relayed to local SAEs */
	struct list_head routes;	/* published by the controller */
	u32 nroutes;
	char errmsgs[QKDN_ERRMSGS][QKDN_ERRMSG_LEN];
	unsigned int errmsg_next;

	/* Proactive key supply (session.c). */
	struct list_head sessions;
	u32 nsessions;
	struct list_head listeners;	/* sockets of local slave SAEs */
	struct list_head supplies;
	wait_queue_head_t session_wq;

	/* IPsec tunnels keyed from QKD (ipsec.c). */
	struct list_head ipsecs;
	u32 nipsecs;
	struct delayed_work ipsec_work;
};

struct qkdn_relay;

/* A node of a relay route. */
struct qkdn_hop {
	char id[QKDN_ID_MAX];
};

extern unsigned int qkdn_net_id;
extern struct genl_family qkdn_genl_family;
extern struct workqueue_struct *qkdn_wq;

struct qkdn_net *qkdn_net(const struct net *net);

/* netns.c: objects of a node */
bool qkdn_id_valid(const char *s);
struct qkdn_link *qkdn_link_find(struct qkdn_net *qn, u32 id);
struct qkdn_link *qkdn_link_by_peer(struct qkdn_net *qn, const char *peer);
struct qkdn_link *qkdn_link_create(struct qkdn_net *qn, u32 id,
				   const char *peer);
void qkdn_link_destroy(struct qkdn_link *link);
struct qkdn_sae *qkdn_sae_find(struct qkdn_net *qn, const char *id);
struct qkdn_sae *qkdn_sae_find_cred(struct qkdn_net *qn, const char *cred);
void qkdn_sae_destroy(struct qkdn_sae *sae);
void qkdn_stats_add(struct qkdn_stats *sum, const struct qkdn_stats *s);
int qkdn_netns_init(void);
void qkdn_netns_exit(void);

/* device.c */
struct qkdn_device *qkdn_device_find(struct qkdn_net *qn, const char *name);
void qkdn_device_attach(struct qkdn_link *link, struct qkdn_device *dev);
void qkdn_device_detach(struct qkdn_link *link);
int qkdn_device_set_running(struct qkdn_device *dev, bool on);
int qkdn_device_set_rate(struct qkdn_device *dev, u64 rate);

/* store.c: the key pool of a link */
void qkdn_store_init(struct qkdn_link *link);
void qkdn_store_flush(struct qkdn_link *link);
void qkdn_store_reset(struct qkdn_link *link);
void qkdn_store_forget_blocks(struct qkdn_link *link);
bool qkdn_store_ingest(struct qkdn_link *link, u64 seq, u8 *data, u32 len);
void qkdn_store_peer_have(struct qkdn_link *link, u64 start, u32 count);
void qkdn_store_match(struct qkdn_link *link);
u64 qkdn_store_held(const struct qkdn_link *link);
int qkdn_store_take(struct qkdn_stream *s, u8 *dst, u32 len);
void qkdn_store_position(struct qkdn_stream *s, u64 *seq, u32 *off);
void qkdn_store_peek(struct qkdn_stream *s, u8 *dst, u32 len);
void qkdn_keytab_init(struct qkdn_keytab *t);
void qkdn_keytab_flush(struct qkdn_keytab *t);
struct qkdn_key *qkdn_keytab_find(struct qkdn_keytab *t, const u8 *id);
struct qkdn_key *qkdn_keytab_match(struct qkdn_keytab *t, const u8 *id,
				   const char *slave, const u8 *relay);
void qkdn_keytab_insert(struct qkdn_keytab *t, struct qkdn_key *key);
void qkdn_keytab_free(struct qkdn_keytab *t, struct qkdn_key *key);

/* kx.c: frames between the KMs */
int qkdn_kx_send_blocks(struct qkdn_link *link, const u64 *seqs,
			unsigned int n);
int qkdn_kx_send_reserve(struct qkdn_link *link, u64 seq, u32 off,
			 u32 key_bytes, u32 count, const char *master,
			 const char *slave, const u8 *ids);
int qkdn_kx_receive(struct qkdn_link *link, const u8 *buf, u32 len,
		    struct netlink_ext_ack *extack);
void qkdn_kx_set_up(struct qkdn_link *link, bool up);
void qkdn_kx_new_epoch(struct qkdn_link *link);
void qkdn_kx_flush(struct qkdn_link *link);
void qkdn_kx_link_init(struct qkdn_link *link);
void qkdn_kx_link_cleanup(struct qkdn_link *link);
void qkdn_kx_tx_work(struct work_struct *work);
void qkdn_kx_schedule(struct qkdn_net *qn, unsigned long delay);

/* netlink.c */
extern const struct nla_policy qkdn_key_policy[QKDN_A_KEY_MAX + 1];
struct qkdn_net *qkdn_info_qn(struct genl_info *info);
bool qkdn_nl_need(struct genl_info *info, int type);
void *qkdn_put_hdr(struct sk_buff *skb, u32 portid, u32 seq, int flags,
		   u8 cmd);
struct qkdn_sae *qkdn_nl_sae(struct qkdn_net *qn, struct genl_info *info,
			     int type);
int qkdn_nl_init(void);
void qkdn_nl_exit(void);
void qkdn_nl_event(struct qkdn_net *qn, u32 event, struct qkdn_link *link,
		   const char *master, const char *slave, u32 count,
		   const u8 *ids);
int qkdn_nl_kx_deliver(struct qkdn_net *qn, struct qkdn_link *link,
		       const u8 *frame, u32 len);

/* keytype.c: the key type "qkdn" */
int qkdn_keytype_init(void);
void qkdn_keytype_exit(void);

/* mac.c */
int qkdn_mac_setkey(struct qkdn_mac *m, const u8 *key);
void qkdn_mac_clear(struct qkdn_mac *m);
void qkdn_mac_tag(const struct qkdn_mac *m, const u8 *msg, u32 len,
		  const u8 *otp, u8 *tag);

/* kx.c, for relay.c */
struct qkdn_frame *qkdn_kx_alloc(u8 type, u32 body, u32 room);
void qkdn_kx_queue(struct qkdn_link *link, struct qkdn_frame *f);
u8 *qkdn_kx_body(struct qkdn_frame *f);

/* ipsec.c: ESP tunnels keyed from QKD */
extern const struct nla_policy qkdn_ipsec_policy[QKDN_A_IPSEC_MAX + 1];
void qkdn_ipsec_net_init(struct qkdn_net *qn);
void qkdn_ipsec_net_exit(struct qkdn_net *qn);
void qkdn_ipsec_work(struct work_struct *work);
bool qkdn_ipsec_uses_sae(struct qkdn_net *qn, const char *sae);
int qkdn_ipsec_validate(u8 type, const u8 *body, u32 len,
			struct netlink_ext_ack *extack);
void qkdn_ipsec_kx_rx(struct qkdn_link *link, u8 type, const u8 *body);
int qkdn_nl_ipsec_get(struct sk_buff *skb, struct genl_info *info);
int qkdn_nl_ipsec_dump(struct sk_buff *skb, struct netlink_callback *cb);
int qkdn_nl_ipsec_new(struct sk_buff *skb, struct genl_info *info);
int qkdn_nl_ipsec_del(struct sk_buff *skb, struct genl_info *info);

/* relay.c: key relay (Q.4160 I.3, I.4a, I.5) */
void qkdn_relay_net_init(struct qkdn_net *qn);
void qkdn_relay_net_exit(struct qkdn_net *qn);
void qkdn_relay_work(struct work_struct *work);
u32 qkdn_relay_frame_keys_max(u32 key_bytes, u32 nslaves);
bool qkdn_ids_repeat(const u8 *ids, u32 n);

/* A key relay a key request starts. */
struct qkdn_relay_req {
	const char *master;
	const char *slave;
	const char *dst;		/* the slave SAEs' node */
	const struct qkdn_hop *slaves;	/* more slave SAEs there */
	u8 nslaves;
	u32 count, key_bytes;
	const u8 *ids;
	const struct qkdn_relay *keys_of;	/* multicast: relay these
						 * keys, or NULL for the
						 * first link's pad
						 */
};

struct qkdn_relay *qkdn_relay_start(struct qkdn_net *qn,
				    const struct qkdn_relay_req *req,
				    struct netlink_ext_ack *extack);
int qkdn_relay_wait_keys(struct qkdn_net *qn, struct qkdn_relay *r,
			 struct netlink_ext_ack *extack);
int qkdn_relay_wait_many(struct qkdn_net *qn, struct qkdn_relay **rs, u32 n,
			 struct netlink_ext_ack *extack);
void qkdn_relay_cancel(struct qkdn_net *qn, struct qkdn_relay *r);
bool qkdn_relay_names_slave(struct qkdn_net *qn, const u8 *relay_id,
			    const char *slave);
void qkdn_relay_key_taken(struct qkdn_net *qn, const u8 *relay_id);
void qkdn_relay_keys(struct qkdn_relay *r, u8 *first, size_t stride);
void qkdn_relay_finish(struct qkdn_net *qn, struct qkdn_relay *r);
int qkdn_relay_rx(struct qkdn_link *link, u8 type, const u8 *body, u32 len,
		  struct netlink_ext_ack *extack);
int qkdn_relay_validate(u8 type, const u8 *body, u32 len,
			struct netlink_ext_ack *extack);
struct qkdn_relay *qkdn_relay_by_ctrl(struct qkdn_net *qn, u32 ctrl_id);
int qkdn_relay_check_answer(struct qkdn_net *qn, struct qkdn_relay *r,
			    u32 want, struct qkdn_hop *route,
			    unsigned int n, struct netlink_ext_ack *extack);
int qkdn_relay_routed(struct qkdn_net *qn, struct qkdn_relay *r, u32 msg,
		      struct qkdn_hop *route, unsigned int n,
		      struct netlink_ext_ack *extack);
int qkdn_relay_reserve(struct qkdn_net *qn, struct qkdn_relay *r,
		       const char *next, struct netlink_ext_ack *extack);
int qkdn_relay_request(struct qkdn_net *qn, const u8 *id,
		       struct qkdn_hop *route, unsigned int n,
		       struct netlink_ext_ack *extack);
int qkdn_relay_allocate(struct qkdn_net *qn, const u8 *id, int err,
			const char *why, struct netlink_ext_ack *extack);
void qkdn_relay_ctrl_fail(struct qkdn_net *qn, struct qkdn_relay *r,
			  int err, const char *why);

/* ctrl.c: Ck, the controller; routes; message events */
struct qkdn_ctrl_msg {
	u32 msg;
	u32 ctrl_id;
	const u8 *relay_id;
	u32 session;
	const char *src, *dst, *master, *slave, *from;
	u32 bytes;
	int err;
	bool has_err;
};

bool qkdn_ctrl_present(struct qkdn_net *qn);
int qkdn_ctrl_send(struct qkdn_net *qn, const struct qkdn_ctrl_msg *m);
u32 qkdn_ctrl_id(struct qkdn_net *qn);
__printf(2, 3)
const char *qkdn_errmsg_keep(struct qkdn_net *qn, const char *fmt, ...);
int qkdn_ctrl_ask(struct qkdn_net *qn, u32 msg, u32 *ctrl_id,
		  const u8 *relay_id, const char *src, const char *dst,
		  u32 bytes, const char *from);
void qkdn_ctrl_notify(struct qkdn_net *qn, u32 msg, const u8 *relay_id,
		      const char *src, const char *dst, int err);
int qkdn_nl_ctrl(struct sk_buff *skb, struct genl_info *info);
int qkdn_nl_route_dump(struct sk_buff *skb, struct netlink_callback *cb);
int qkdn_nl_route_new(struct sk_buff *skb, struct genl_info *info);
int qkdn_nl_route_del(struct sk_buff *skb, struct genl_info *info);
void qkdn_routes_flush(struct qkdn_net *qn);
void qkdn_nl_msg(struct qkdn_net *qn, u32 msg, u8 dir, const char *kind,
		 const char *peer, const u8 *relay_id, const char *src,
		 const char *dst, u32 count, int err, const char *why);
extern const struct nla_policy qkdn_route_policy[QKDN_A_ROUTE_MAX + 1];
int qkdn_nl_route_nodes(struct nlattr *nest, struct qkdn_hop *route,
			struct netlink_ext_ack *extack);

/* session.c: proactive key supply (Q.4160 I.2) */
void qkdn_session_net_init(struct qkdn_net *qn);
void qkdn_session_net_exit(struct qkdn_net *qn);
void qkdn_session_release(struct qkdn_net *qn, u32 portid);
void qkdn_session_timeouts(struct qkdn_net *qn);
bool qkdn_session_busy(struct qkdn_net *qn);
int qkdn_session_ctrl(struct qkdn_net *qn, u32 msg, struct genl_info *info,
		      u32 fail, const char *why);
int qkdn_session_key_get(struct qkdn_net *qn, struct genl_info *info,
			 u32 number, u32 kb, struct sk_buff *msg);
int qkdn_supply_validate(u8 type, const u8 *body, u32 len,
			 struct netlink_ext_ack *extack);
int qkdn_supply_kx_rx(struct qkdn_link *link, u8 type, const u8 *body,
		      struct netlink_ext_ack *extack);
int qkdn_nl_session_new(struct sk_buff *skb, struct genl_info *info);
int qkdn_nl_session(struct sk_buff *skb, struct genl_info *info);
int qkdn_nl_sae_listen(struct sk_buff *skb, struct genl_info *info);
int qkdn_nl_key_supply(struct sk_buff *skb, struct genl_info *info);

/* key.c: Ak */
struct qkdn_key_slaves;

/* Who asks for keys by ID, for which SAE pair. */
struct qkdn_key_ask {
	struct genl_info *info;		/* a netlink request, or NULL */
	const char *master, *slave;	/* without info: the SAE IDs */
	const struct cred *cred;	/* ... and whose euid acts */
	bool nowait;
	struct netlink_ext_ack *extack;
};

bool qkdn_may_act_cred(const struct qkdn_sae *sae, const struct cred *cred);
int qkdn_key_take(struct qkdn_net *qn, struct qkdn_sae *master,
		  struct qkdn_sae *slave, struct qkdn_key_slaves *ks,
		  u32 number, u32 kb, const u8 *ids, u8 *first, size_t stride,
		  bool nowait, const struct nlattr *slave_attr,
		  struct netlink_ext_ack *extack);
int qkdn_key_find_ids(struct qkdn_net *qn, const struct qkdn_key_ask *ask,
		      const u8 *ids, u32 n, struct qkdn_key **keys,
		      struct qkdn_keytab **tabs);
void qkdn_key_ids_taken(struct qkdn_net *qn, struct qkdn_key **keys,
			struct qkdn_keytab **tabs, const u8 *ids, u32 n);
struct sk_buff *qkdn_key_msg_new(size_t payload);
void qkdn_key_msg_fill(struct sk_buff *msg);
size_t qkdn_key_msg_size(u32 count, u32 key_bytes);
void qkdn_key_id_gen(u8 *id);
bool qkdn_may_act_as(struct qkdn_net *qn, struct genl_info *info,
		     const struct qkdn_sae *sae);
bool qkdn_gw_sock(struct qkdn_net *qn, u32 portid);
void qkdn_gw_release(struct qkdn_net *qn, u32 portid);
int qkdn_nl_key_get(struct sk_buff *skb, struct genl_info *info);
int qkdn_nl_key_get_by_id(struct sk_buff *skb, struct genl_info *info);

#endif /* _QKDN_H */
