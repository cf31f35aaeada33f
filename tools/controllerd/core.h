/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-controllerd core: everything but the kernel. It holds the Cx
 * channels, the link-state database and the routes, answers requests and
 * publishes routes through ctrld_node_ops. The daemon (daemon.c) feeds it
 * the node's ID, links and Ck requests from the kernel and gives its
 * answers and routes to the kernel; the unit tests drive it directly.
 *
 * distributed: one channel per adjacent node (the smaller node ID dials);
 *	LSAs are flooded; requests are answered from the local graph.
 * central: agents dial in; each sends its node's LSA and its kernel's
 *	requests; the core answers them and sends each agent its routes.
 * agent: one channel to the central controller; the node's LSA and
 *	requests go up, answers, commands and routes come down, and the
 *	results of the commands go up.
 *
 * Beyond answers, a controller drives two procedures of its own: key
 * relay with key reservation (I.4b, central with relay_scheme reserve;
 * reserve.c) and session creation for proactive key supply (I.2, every
 * mode; session.c).
 */
#ifndef CTRLD_CORE_H
#define CTRLD_CORE_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "config.h"
#include "cx.h"
#include "lsdb.h"
#include "peer.h"
#include "route.h"

#define CTRLD_BACKOFF_MIN_MS	100
#define CTRLD_BACKOFF_MAX_MS	2000
#define CTRLD_PENDING_MAX	64	/* accepted, no hello yet */
#define CTRLD_LSA_MIN_MS	1000	/* own LSA, when only bytes changed */
#define CTRLD_ROUTE_HOLD_MS	500	/* routes recomputed at most this often */
#define CTRLD_ANSWER_MS		1000	/* agent: wait for the controller */
#define CTRLD_WAIT_MAX		256	/* agent: requests waiting */
#define CTRLD_TICK_MS		200	/* longest sleep of the loop */
#define CTRLD_RESULT_MS		1000	/* central: an agent's command result */
#define CTRLD_RELAYS_MAX	256	/* I.4b relays in progress */
#define CTRLD_RETRY_MS		50	/* I.4b: "key relay request" retried */
#define CTRLD_RETRY_FOR_MS	2000	/* ... this long while KM2 says ENOENT */
#define CTRLD_RELAY_RESPONSE_MS	5000	/* I.4b: wait for KM2's response */
#define CTRLD_SESSIONS_MAX	256	/* I.2 session creations in progress */
#define CTRLD_SESSION_MS	5000	/* I.2: a session creation times out */
#define CTRLD_SESSION_RECENT	256	/* I.2: session IDs remembered */

/* What the core asks of its node (the kernel, in the daemon). */
struct ctrld_node_ops {
	/* Give the node's kernel a Ck message (QKDN_CMD_CTRL): an answer or
	 * a command. 0, or -errno with the kernel's reason (extack) in why.
	 */
	int (*answer)(void *ctx, const struct ctrld_answer *a, char *why,
		      size_t whylen);
	/* Add or replace the route to r->dst; delete the route to dst.
	 * 0 or -errno.
	 */
	int (*route_set)(void *ctx, const struct ctrld_route *r);
	int (*route_del)(void *ctx, const char *dst);
};

/* The node at the other end of a Cx channel: an adjacent controller, an
 * agent (central) or the central controller (agent).
 */
struct ctrld_peer {
	struct qd_peer q;	/* first */
	bool seen;		/* still adjacent (distributed) */
	/* central: the routes this agent was last sent */
	struct ctrld_rtable sent;
	bool send_table;	/* send them even if unchanged */
};

struct ctrld_wait {
	uint32_t ctrl_id;
	uint32_t msg;
	uint64_t deadline;
	unsigned int ms;
};

/* I.4b: a key relay with key reservation, in the central controller. */
enum ctrld_relay_state {
	CTRLD_RL_RESERVING,	/* "key reservation request" sent to KM1 */
	CTRLD_RL_REQUESTING,	/* "key relay request" sent to KM2 */
	CTRLD_RL_RETRY,		/* KM2 holds no reservation yet */
	CTRLD_RL_RELAYING,	/* waiting for KM2's response */
	CTRLD_RL_ALLOCATING,	/* "key allocation request" sent to KM1 */
};

struct ctrld_relay {
	uint8_t id[QKDN_RELAY_ID_LEN];
	uint32_t ctrl_id;		/* of KM1's notification */
	struct ctrld_path path;		/* KM1, KM2, ..., destination */
	enum ctrld_relay_state state;
	uint32_t seq;			/* an agent's result awaited, or 0 */
	uint64_t t_result;		/* ... until then */
	uint64_t t_first;		/* first "key relay request" */
	uint64_t t_next;		/* retry, or KM2's response due */
	unsigned int tries;
	uint32_t err;			/* what the allocation carries */
};

/* I.2: a session being created, in the source's controller (the central
 * one when centralized).
 */
struct ctrld_session {
	uint32_t id;
	uint32_t ctrl_id;		/* of the source's request */
	char src[QKDN_ID_MAX];
	char dst[QKDN_ID_MAX];
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
	uint32_t seq;			/* central: the notification's result */
	uint64_t deadline;
};

/* I.2: a notification this node's kernel was given (replays dropped). */
struct ctrld_notified {
	uint32_t id;
	char src[QKDN_ID_MAX];
};

struct ctrld_stats {
	uint64_t lsa_rx, lsa_new, lsa_dup, lsa_old, lsa_expired, lsa_tx;
	uint64_t lsa_originated, requests, answers, bad_msgs;
	uint64_t commands, results, relays_done, relays_failed;
	uint64_t sessions_created, sessions_failed;
};

struct ctrld_core {
	const struct ctrld_config *cfg;
	SSL_CTX *ssl;
	int lfd;
	char node_id[QKDN_ID_MAX];
	const struct ctrld_node_ops *ops;
	void *ops_ctx;

	struct ctrld_lsdb db;
	struct ctrld_lsa self;		/* this node's links, latest */
	bool have_self;
	struct ctrld_lsa sent_self;	/* as last originated */
	bool originated;
	uint64_t seq;
	uint64_t t_originated;
	uint64_t next_expire;

	bool graph_dirty;
	uint64_t t_routes;
	struct ctrld_rtable installed;	/* given to ops->route_set */
	struct ctrld_rtable staging;	/* agent: a table coming in */
	uint32_t staging_gen;
	uint32_t gen;			/* central: tables sent */

	struct qd_peers peers;		/* of struct ctrld_peer */
	struct ctrld_wait wait[CTRLD_WAIT_MAX];
	size_t n_wait;
	uint32_t cmd_seq;		/* central: last COMMAND sent */
	uint32_t cmd_seq_rx;		/* agent: last COMMAND taken */

	struct ctrld_relay *relays[CTRLD_RELAYS_MAX];
	size_t n_relays;
	struct ctrld_session *sessions[CTRLD_SESSIONS_MAX];
	size_t n_sessions;
	uint32_t recent[CTRLD_SESSION_RECENT];	/* session IDs given out */
	size_t n_recent;
	struct ctrld_notified notified[CTRLD_SESSION_RECENT];
	size_t n_notified;

	struct ctrld_stats st;
	struct ctrld_cx_msg rx;		/* the message being handled */
	uint8_t buf[CTRLD_CX_MAX];
};

/* Start: listen (not for an agent). 0, or -1 with the reason in err. */
int ctrld_core_init(struct ctrld_core *c, const struct ctrld_config *cfg,
		    SSL_CTX *ssl, const struct ctrld_node_ops *ops, void *ctx,
		    char *err, size_t errlen);
/* Close every channel, free everything (routes stay where they are). */
void ctrld_core_free(struct ctrld_core *c);

/* This node's ID ("" while unknown). A change drops every channel, the
 * database and the routes.
 */
void ctrld_core_set_node(struct ctrld_core *c, const char *id);
/* This node's links (any order; at most CTRLD_LSA_LINKS_MAX). */
void ctrld_core_set_links(struct ctrld_core *c, const struct ctrld_link *l,
			  size_t n, uint64_t now);
/* A Ck message from this node's kernel. */
void ctrld_core_request(struct ctrld_core *c, const struct ctrld_req *r,
			uint64_t now);

/* Run the timers, wait up to max_ms for the core's sockets and extra[]
 * (their revents are filled in), handle the core's. Returns poll()'s
 * result, 0 after EINTR, or -1 with errno.
 */
int ctrld_core_poll(struct ctrld_core *c, struct pollfd *extra,
		    size_t n_extra, int max_ms);
/* Timers only (ctrld_core_poll() calls it). */
void ctrld_core_tick(struct ctrld_core *c, uint64_t now);

/* Channels up (tests, status). */
size_t ctrld_core_up(const struct ctrld_core *c);

#endif /* CTRLD_CORE_H */
