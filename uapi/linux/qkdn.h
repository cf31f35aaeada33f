/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/*
 * qkdn: key management for quantum key distribution networks (ITU-T Q.4160).
 *
 * The generic netlink family "qkdn". Documentation/netlink/specs/qkdn.yaml
 * is the source of truth for this contract; a selftest checks that this
 * header and the kernel's policies agree with it.
 */
#ifndef _UAPI_LINUX_QKDN_H
#define _UAPI_LINUX_QKDN_H

#define QKDN_GENL_NAME		"qkdn"
#define QKDN_GENL_VERSION	1
#define QKDN_MCGRP_EVENTS	"events"
#define QKDN_MCGRP_CTRL		"ctrl"	/* Ck: requests to the controller */

#define QKDN_ID_MAX		64	/* node, SAE and device names, with NUL */
#define QKDN_CRED_MAX		256	/* an SAE's client credential, with NUL */
#define QKDN_GW_SOCKS_MAX	64	/* sockets of the gateway process */
#define QKDN_KEY_ID_LEN		16	/* a UUID, binary */
#define QKDN_KEY_SIZE_MIN	64	/* bits */
#define QKDN_KEY_SIZE_MAX	8192	/* bits */
#define QKDN_KEY_SIZE_DEFAULT	256	/* bits, used for pool status */
#define QKDN_KEYS_PER_REQUEST	128
#define QKDN_KX_FRAME_MAX	8192	/* bytes */
#define QKDN_POOL_CAPACITY_MAX	1073741824	/* bytes */
#define QKDN_RELAY_ID_LEN	16	/* a UUID, binary */
#define QKDN_ROUTE_HOPS_MAX	16	/* nodes on a relay route, ends included */
#define QKDN_ROUTES_MAX		1024	/* routes a node's table holds */
#define QKDN_ERRMSG_MAX		128	/* controller's explanation, with NUL */
#define QKDN_SLAVES_MAX		8	/* slave SAEs one key request serves:
					 * the slave and up to 7 more
					 */
#define QKDN_IPSEC_MAX		256	/* IPsec tunnels a node keys */
#define QKDN_IPSEC_REKEY_MIN	1	/* seconds */
#define QKDN_IPSEC_REKEY_MAX	86400	/* seconds */

enum qkdn_cmd {
	QKDN_CMD_UNSPEC,
	QKDN_CMD_NODE_GET,	/* node ID and counters */
	QKDN_CMD_NODE_SET,	/* admin: set the node's KM ID */
	QKDN_CMD_LINK_GET,	/* do and dump */
	QKDN_CMD_LINK_NEW,	/* admin: a key association with a peer node */
	QKDN_CMD_LINK_DEL,	/* admin */
	QKDN_CMD_LINK_SET,	/* admin: capacity, low mark, device, Cq */
	QKDN_CMD_SAE_GET,	/* do and dump */
	QKDN_CMD_SAE_NEW,	/* admin: local SAE (uid) or remote SAE (node) */
	QKDN_CMD_SAE_DEL,	/* admin */
	QKDN_CMD_POOL_GET,	/* do and dump: ETSI GS QKD 014 status fields */
	QKDN_CMD_KEY_GET,	/* I.1 "key request" -> "response to key request" */
	QKDN_CMD_KEY_GET_BY_ID,	/* I.1 "key request with ID" -> response */
	QKDN_CMD_KX_BIND,	/* admin: the link daemon claims Kx frames */
	QKDN_CMD_KX_FRAME,	/* admin: a Kx frame, in either direction */
	QKDN_CMD_KX_CHANNEL,	/* admin: the daemon reports a channel up/down */
	QKDN_CMD_EVENT,		/* notification on the "events" group */
	QKDN_CMD_CTRL,		/* Ck: kernel -> controller on the "ctrl"
				 * group; controller -> kernel as a command
				 * (admin). QKDN_A_MSG names the message.
				 */
	QKDN_CMD_ROUTE_GET,	/* dump: the controller's relay routes */
	QKDN_CMD_ROUTE_NEW,	/* admin: add or replace the route to a node */
	QKDN_CMD_ROUTE_DEL,	/* admin: one route, or all without DST */
	QKDN_CMD_SESSION_NEW,	/* I.2 "session creation request" from the
				 * master SAE -> "response to session
				 * creation request"
				 */
	QKDN_CMD_SAE_LISTEN,	/* the slave SAE's socket takes its session
				 * notifications and proactive key supplies
				 */
	QKDN_CMD_SESSION,	/* kernel -> listening SAE: "session creation
				 * notification"; SAE -> kernel: "response to
				 * session creation notification"
				 */
	QKDN_CMD_KEY_SUPPLY,	/* kernel -> listening SAE: "proactive key
				 * supply"; SAE -> kernel: "response to
				 * proactive key supply" (key IDs)
				 */
	QKDN_CMD_GW_BIND,	/* admin: the key delivery gateway claims the
				 * gateway role for a socket of its process
				 */

	QKDN_CMD_IPSEC_GET,	/* admin, do and dump: IPsec tunnels keyed from
				 * QKD, and the state of their SAs
				 */
	QKDN_CMD_IPSEC_NEW,	/* admin: key an ESP tunnel with a peer node */
	QKDN_CMD_IPSEC_DEL,	/* admin: its policies and SAs go */

	__QKDN_CMD_MAX,
	QKDN_CMD_MAX = __QKDN_CMD_MAX - 1
};

enum qkdn_attr {
	QKDN_A_UNSPEC,
	QKDN_A_PAD,
	QKDN_A_NODE_ID,		/* string: this node's KM ID */
	QKDN_A_LINK_ID,		/* u32, 1..65535 */
	QKDN_A_PEER_NODE_ID,	/* string: KM ID at the other end of a link */
	QKDN_A_DEVICE,		/* string: QKD module (qkdn_device) name */
	QKDN_A_LINK_UP,		/* u8: Kx channel state */
	QKDN_A_DEVICE_RUNNING,	/* u8: Cq start (1) / stop (0) */
	QKDN_A_RATE,		/* u64: secure key rate, bits/s (Cq) */
	QKDN_A_POOL_CAPACITY,	/* u32: bytes of key the pool may hold */
	QKDN_A_POOL_LOW,	/* u32: low-water mark, bytes */
	QKDN_A_SAE_ID,		/* string */
	QKDN_A_SAE_UID,		/* u32: uid that may act as a local SAE */
	QKDN_A_SAE_NODE_ID,	/* string: node serving a remote SAE */
	QKDN_A_MASTER_SAE_ID,	/* string */
	QKDN_A_SLAVE_SAE_ID,	/* string */
	QKDN_A_KEY_NUMBER,	/* u32: keys requested, 1..QKDN_KEYS_PER_REQUEST */
	QKDN_A_KEY_SIZE,	/* u32: bits, multiple of 8 */
	QKDN_A_KEY,		/* nest (qkdn_key_attr), multi-attr */
	QKDN_A_POOL_KEY_SIZE,	/* u32: key_size of the status response */
	QKDN_A_POOL_STORED_KEY_COUNT,	/* u32 */
	QKDN_A_POOL_MAX_KEY_COUNT,	/* u32 */
	QKDN_A_POOL_MAX_KEY_PER_REQUEST, /* u32 */
	QKDN_A_POOL_MAX_KEY_SIZE,	/* u32: bits */
	QKDN_A_POOL_MIN_KEY_SIZE,	/* u32: bits */
	QKDN_A_POOL_OWN_BYTES,	/* u64: bytes this end may allocate */
	QKDN_A_POOL_PEER_BYTES,	/* u64: bytes the peer end may allocate */
	QKDN_A_POOL_PENDING_BYTES,	/* u64: held, not yet confirmed by peer */
	QKDN_A_POOL_RESERVED_KEYS,	/* u32: reserved here, awaiting the SAE */
	QKDN_A_STATS,		/* nest (qkdn_stats_attr) */
	QKDN_A_KX_FRAME,	/* binary: a frame between KMs (no key bytes
				 * in clear)
				 */
	QKDN_A_EVENT,		/* u32: enum qkdn_event */
	QKDN_A_KEY_COUNT,	/* u32: keys concerned by an event */
	QKDN_A_MSG,		/* u32: enum qkdn_msg, a Q.4160 message */
	QKDN_A_MSG_DIR,		/* u8: enum qkdn_msg_dir */
	QKDN_A_MSG_PEER,	/* string: the other party of a message */
	QKDN_A_CTRL_ID,		/* u32: matches a controller answer to the
				 * kernel's request, never 0
				 */
	QKDN_A_SRC_NODE_ID,	/* string: KM where a relay starts */
	QKDN_A_DST_NODE_ID,	/* string: KM where a relay ends */
	QKDN_A_RELAY_ID,	/* binary, QKDN_RELAY_ID_LEN */
	QKDN_A_RELAY_BYTES,	/* u32: pool bytes one hop of a relay takes */
	QKDN_A_NEXT_HOP,	/* string: node ID of the next KM */
	QKDN_A_ROUTE,		/* nest (qkdn_route_attr): nodes in order */
	QKDN_A_ROUTE_METRIC,	/* u32: cost of a route */
	QKDN_A_ROUTE_AVAIL,	/* u64: bytes of key on the route's
				 * scarcest hop
				 */
	QKDN_A_ERRNO,		/* u32: a positive errno; 0 is success */
	QKDN_A_ERRMSG,		/* string: why, for the requester */
	QKDN_A_CTRL_MODE,	/* u8: enum qkdn_ctrl_mode */
	QKDN_A_SESSION_ID,	/* u32: a proactive key supply session, never 0 */
	QKDN_A_SAE_CRED,	/* string: the client credential (from its TLS
				 * certificate) for which the gateway may act
				 * as a local SAE; in a key request from the
				 * gateway, that of the client it serves
				 */
	QKDN_A_NOWAIT,		/* flag: a key request that would wait (for a
				 * relay, or for a reservation on its way)
				 * fails at once with EWOULDBLOCK, having
				 * changed nothing
				 */
	QKDN_A_ADD_SLAVE_SAE_ID,	/* string, multi-attr: in a key request,
					 * another slave SAE that gets the
					 * same keys (multicast), at most
					 * QKDN_SLAVES_MAX - 1
					 */
	QKDN_A_SAE_KERNEL,	/* flag: a local SAE that only kernel
				 * consumers (IPsec) act as; no process may
				 */
	QKDN_A_IPSEC,		/* nest (qkdn_ipsec_attr) */

	__QKDN_A_MAX,
	QKDN_A_MAX = __QKDN_A_MAX - 1
};

enum qkdn_key_attr {
	QKDN_A_KEY_UNSPEC,
	QKDN_A_KEY_ID,		/* binary, QKDN_KEY_ID_LEN */
	QKDN_A_KEY_DATA,	/* binary: the key bytes */

	__QKDN_A_KEY_MAX,
	QKDN_A_KEY_MAX = __QKDN_A_KEY_MAX - 1
};

enum qkdn_stats_attr {
	QKDN_A_STATS_UNSPEC,
	QKDN_A_STATS_PAD,
	QKDN_A_STATS_BLOCKS_IN,		/* u64: blocks taken from the device */
	QKDN_A_STATS_BLOCKS_USABLE,	/* u64: confirmed by both ends */
	QKDN_A_STATS_BLOCKS_DISCARDED,	/* u64: not held by the peer */
	QKDN_A_STATS_BLOCKS_ABORTED,	/* u64: aborted by the QKD module */
	QKDN_A_STATS_BLOCKS_DROPPED,	/* u64: pool full */
	QKDN_A_STATS_KEYS_RESERVED,	/* u64: allocated here (master side) */
	QKDN_A_STATS_KEYS_RECEIVED,	/* u64: reservations from the peer */
	QKDN_A_STATS_KEYS_SUPPLIED,	/* u64: handed to an SAE */
	QKDN_A_STATS_FRAMES_TX,		/* u64 */
	QKDN_A_STATS_FRAMES_RX,		/* u64 */
	QKDN_A_STATS_FRAMES_RETX,	/* u64 */
	QKDN_A_STATS_FRAMES_BAD,	/* u64 */
	QKDN_A_STATS_FRAMES_STALE,	/* u64: meant for an earlier link */
	QKDN_A_STATS_PEER_RESETS,	/* u64: the peer's link restarted */
	QKDN_A_STATS_RELAY_TX,		/* u64: key relay frames sent */
	QKDN_A_STATS_RELAY_RX,		/* u64: key relay frames received */
	QKDN_A_STATS_RELAY_KEY_BYTES,	/* u64: key bytes relayed, all hops */
	QKDN_A_STATS_RELAY_PAD_BYTES,	/* u64: pool bytes used as pad */
	QKDN_A_STATS_RELAY_MAC_BYTES,	/* u64: pool bytes used by the MAC */
	QKDN_A_STATS_RELAY_MAC_FAIL,	/* u64: relay frames failing the MAC */
	QKDN_A_STATS_RELAYS_STARTED,	/* u64: node: relays started here */
	QKDN_A_STATS_RELAYS_DONE,	/* u64: node: completed, started here */
	QKDN_A_STATS_RELAYS_FAILED,	/* u64: node: failed, started here */
	QKDN_A_STATS_RELAYS_FORWARDED,	/* u64: node: passed on */
	QKDN_A_STATS_RELAYS_ENDED,	/* u64: node: ended here (destination) */
	QKDN_A_STATS_RELAYS_ABORTED,	/* u64: node: aborted by the source */

	__QKDN_A_STATS_MAX,
	QKDN_A_STATS_MAX = __QKDN_A_STATS_MAX - 1
};

enum qkdn_event {
	QKDN_EVENT_UNSPEC,
	QKDN_EVENT_LINK_UP,		/* Kx channel up */
	QKDN_EVENT_LINK_DOWN,		/* Kx channel down */
	QKDN_EVENT_POOL_LOW,		/* own bytes fell below the low mark */
	QKDN_EVENT_POOL_EMPTY,		/* a request found too little key */
	QKDN_EVENT_KEYS_RESERVED,	/* "response to key request" sent */
	QKDN_EVENT_KEYS_RECEIVED,	/* peer's reservation arrived */
	QKDN_EVENT_KEYS_SUPPLIED,	/* "key request with ID" answered */
	QKDN_EVENT_BLOCK_ABORT,		/* the QKD module aborted a block */
	QKDN_EVENT_MESSAGE,		/* a Q.4160 message (QKDN_A_MSG) */
	QKDN_EVENT_IPSEC_REKEY,		/* an IPsec tunnel's new SAs are in
					 * place (QKDN_A_IPSEC)
					 */
	QKDN_EVENT_IPSEC_FAILED,	/* a rekey failed: the SAs in place
					 * are kept or dropped, as configured
					 * (QKDN_A_IPSEC, with ERRNO, ERRMSG)
					 */
	QKDN_EVENT_IPSEC_EXPIRED,	/* a tunnel's last SAs reached their
					 * hard limit: it drops traffic
					 * (QKDN_A_IPSEC)
					 */

	__QKDN_EVENT_MAX,
	QKDN_EVENT_MAX = __QKDN_EVENT_MAX - 1
};

enum qkdn_ipsec_attr {
	QKDN_A_IPSEC_UNSPEC,
	QKDN_A_IPSEC_PAD,
	QKDN_A_IPSEC_ID,	/* u32, 1..65535: the same at both nodes */
	QKDN_A_IPSEC_PEER,	/* string: the peer node's KM ID (a link) */
	QKDN_A_IPSEC_MASTER,	/* string: master SAE (at the initiator) */
	QKDN_A_IPSEC_SLAVE,	/* string: slave SAE (at the responder) */
	QKDN_A_IPSEC_LOCAL,	/* binary, 4 or 16 bytes: tunnel endpoint */
	QKDN_A_IPSEC_REMOTE,	/* binary, 4 or 16 bytes: the peer's */
	QKDN_A_IPSEC_SRC,	/* binary, 4 or 16 bytes: selector, from */
	QKDN_A_IPSEC_SRC_LEN,	/* u8: its prefix length */
	QKDN_A_IPSEC_DST,	/* binary, 4 or 16 bytes: selector, to */
	QKDN_A_IPSEC_DST_LEN,	/* u8: its prefix length */
	QKDN_A_IPSEC_KEY_BITS,	/* u32: AES-GCM key, 128 or 256 (default) */
	QKDN_A_IPSEC_REKEY_SECONDS,	/* u32: rekey interval */
	QKDN_A_IPSEC_REKEY_BYTES,	/* u64: ... or after these bytes, 0:
					 * no byte limit
					 */
	QKDN_A_IPSEC_HARD_SECONDS,	/* u32: an SA's hard lifetime, at least
					 * twice the rekey interval
					 */
	QKDN_A_IPSEC_ON_EXHAUST,	/* u8: enum qkdn_ipsec_exhaust */
	QKDN_A_IPSEC_ROLE,	/* u8: enum qkdn_ipsec_role */
	QKDN_A_IPSEC_STATE,	/* u8: enum qkdn_ipsec_state (get, events) */
	QKDN_A_IPSEC_GEN,	/* u32: SA generation in use, 0 before one */
	QKDN_A_IPSEC_SPI_OUT,	/* u32: the SA this node sends with */
	QKDN_A_IPSEC_SPI_IN,	/* u32: the SA this node receives with */
	QKDN_A_IPSEC_KEY_ID_OUT,	/* binary: QKD key of SPI_OUT */
	QKDN_A_IPSEC_KEY_ID_IN,		/* binary: QKD key of SPI_IN */
	QKDN_A_IPSEC_REKEYS,	/* u64: generations put in place */
	QKDN_A_IPSEC_FAILURES,	/* u64: rekeys that failed */
	QKDN_A_IPSEC_REKEY_USEC,	/* u32: the last rekey took this long,
					 * from taking the keys to both SAs
					 * in place (initiator)
					 */

	__QKDN_A_IPSEC_MAX,
	QKDN_A_IPSEC_MAX = __QKDN_A_IPSEC_MAX - 1
};

/* When no key is left for a rekey. */
enum qkdn_ipsec_exhaust {
	QKDN_IPSEC_KEEP,	/* keep the SAs in place until their hard
				 * lifetime
				 */
	QKDN_IPSEC_DROP,	/* delete them: the tunnel drops traffic */
};

enum qkdn_ipsec_role {
	QKDN_IPSEC_INITIATOR,	/* the master SAE's node: takes the keys */
	QKDN_IPSEC_RESPONDER,	/* the slave SAE's node */
};

enum qkdn_ipsec_state {
	QKDN_IPSEC_S_IDLE,	/* no SA yet */
	QKDN_IPSEC_S_UP,	/* SAs in place, from QKD keys */
	QKDN_IPSEC_S_STALE,	/* a rekey failed; the last SAs are kept */
	QKDN_IPSEC_S_DOWN,	/* no SA: dropped, expired, or never made */
};

enum qkdn_route_attr {
	QKDN_A_ROUTE_UNSPEC,
	QKDN_A_ROUTE_NODE,	/* string, multi-attr: a node ID */

	__QKDN_A_ROUTE_MAX,
	QKDN_A_ROUTE_MAX = __QKDN_A_ROUTE_MAX - 1
};

/* The signalling messages of ITU-T Q.4160 Appendix I, by their names. */
enum qkdn_msg {
	QKDN_MSG_UNSPEC,
	QKDN_MSG_KEY_REQUEST,			/* "key request" */
	QKDN_MSG_KEY_REQUEST_RESPONSE,		/* "response to key request" */
	QKDN_MSG_KEY_REQUEST_WITH_ID,		/* "key request with ID" */
	QKDN_MSG_NEXT_HOP_REQUEST,		/* "key relay next hop request" */
	QKDN_MSG_NEXT_HOP_RESPONSE,		/* "response to key relay next
						 * hop request"
						 */
	QKDN_MSG_KEY_RELAY,			/* "key relay" */
	QKDN_MSG_KEY_RELAY_COMPLETION,		/* "key relay completion
						 * notification"
						 */
	QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION, /* "key relay request
						  * notification"
						  */
	QKDN_MSG_KEY_RELAY_REQUEST,		/* "key relay request" */
	QKDN_MSG_KEY_RELAY_RESPONSE,		/* "response to key relay
						 * request"
						 */
	QKDN_MSG_KEY_RESERVATION_REQUEST,	/* "key reservation request" */
	QKDN_MSG_KEY_RESERVATION_RESPONSE,	/* "response to key reservation
						 * request"
						 */
	QKDN_MSG_KEY_ALLOCATION_REQUEST,	/* "key allocation request" */
	QKDN_MSG_KEY_ALLOCATION_RESPONSE,	/* "response to key allocation
						 * request"
						 */
	QKDN_MSG_SESSION_CREATION_REQUEST,	/* "session creation request" */
	QKDN_MSG_SESSION_CREATION_NOTIFICATION,	/* "session creation
						 * notification"
						 */
	QKDN_MSG_SESSION_NOTIFICATION_RESPONSE,	/* "response to session
						 * creation notification"
						 */
	QKDN_MSG_SESSION_CREATION_RESPONSE,	/* "response to session creation
						 * request"
						 */
	QKDN_MSG_KEY_REQUEST_WITH_SESSION_ID,	/* "key request with session
						 * ID"
						 */
	QKDN_MSG_KEY_SUPPLY_NOTIFICATION,	/* "key supply notification" */
	QKDN_MSG_PROACTIVE_KEY_SUPPLY,		/* "proactive key supply" */
	QKDN_MSG_PROACTIVE_KEY_SUPPLY_RESPONSE,	/* "response to proactive key
						 * supply"
						 */
	QKDN_MSG_KEY_SUPPLY_NOTIFICATION_RESPONSE, /* "response to key supply
						    * notification"
						    */
	QKDN_MSG_SESSION_KEY_RESPONSE,		/* "response to key request
						 * with session ID"
						 */

	__QKDN_MSG_MAX,
	QKDN_MSG_MAX = __QKDN_MSG_MAX - 1
};

enum qkdn_msg_dir {
	QKDN_MSG_DIR_RECEIVED,
	QKDN_MSG_DIR_SENT,
};

enum qkdn_ctrl_mode {
	QKDN_CTRL_DISTRIBUTED,	/* a controller in this node: next hops */
	QKDN_CTRL_CENTRALIZED,	/* one controller for the QKDN: full routes */
};

#endif /* _UAPI_LINUX_QKDN_H */
