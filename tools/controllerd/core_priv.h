/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-controllerd core, inside: what core.c shares with the procedures
 * it drives, I.4b key reservation (reserve.c) and I.2 session creation
 * (session.c). Not for the daemon or the tests.
 */
#ifndef CTRLD_CORE_PRIV_H
#define CTRLD_CORE_PRIV_H

#include "core.h"

bool ctrld_chan_up(const struct qd_chan *ch);
struct ctrld_peer *ctrld_peer_find(struct ctrld_core *c, const char *id);
/* Encode m and queue it on ch. 0, or -1 if ch is not up or failed. */
int ctrld_send(struct ctrld_core *c, struct qd_chan *ch,
	       const struct ctrld_cx_msg *m);
void ctrld_graph_of(const struct ctrld_core *c, struct ctrld_graph *g,
		    uint64_t need, const char *avoid);

/* NULL for this node, else node: the "from"/"to" of a log line. */
const char *ctrld_other(const struct ctrld_core *c, const char *node);

/* Log lines, by the messages' Q.4160 names (from/to NULL: this node's
 * kernel).
 */
void ctrld_log_request(const struct ctrld_req *r, const char *from);
void ctrld_log_answer(const struct ctrld_answer *a, const char *to, int prio);
/* node's kernel refused msg (node NULL: this node's). */
void ctrld_log_refused(const char *node, uint32_t msg, const char *ids,
		       uint32_t err, const char *why, int prio);
/* " ctrl-id N", " relay UUID", " session N": what a names. */
const char *ctrld_answer_ids(const struct ctrld_answer *a, char *buf,
			     size_t len);

/*
 * Give node's kernel the Ck message a: this node's through ops, an
 * agent's (central) through a COMMAND. Returns 0 when this node's kernel
 * took it, 1 when the agent's result is awaited (RESULT *seq, handed to
 * ctrld_relay_result() and ctrld_session_result()), or -errno with the
 * reason in why when it failed at once. quiet: the "sent" line is a
 * debug message (retries).
 */
int ctrld_ck_send(struct ctrld_core *c, const char *node,
		  const struct ctrld_answer *a, bool quiet, uint32_t *seq,
		  char *why, size_t whylen);

/* Distributed: send the SESSION message m towards node to, over Cx, hop
 * by hop. 0, or -EHOSTUNREACH with the reason in why.
 */
int ctrld_cx_route(struct ctrld_core *c, const char *to,
		   struct ctrld_cx_msg *m, char *why, size_t whylen);

/* reserve.c: I.4b, central with relay_scheme reserve. */

/* KM1's "key relay request notification" r, with its route in a: start
 * the reservation. false when the route has fewer than 3 nodes (I.4a
 * then) or no relay can be taken on.
 */
bool ctrld_relay_start(struct ctrld_core *c, const char *km1,
		       const struct ctrld_req *r, const struct ctrld_answer *a);
/* A "response to key relay request" from node's kernel; true if it was
 * KM2's of a relay in progress.
 */
bool ctrld_relay_response(struct ctrld_core *c, const char *node,
			  const struct ctrld_req *r);
/* An agent's RESULT; true if a relay awaited it. */
bool ctrld_relay_result(struct ctrld_core *c, const char *node,
			uint32_t seq, uint32_t err, const char *why);
void ctrld_relay_tick(struct ctrld_core *c, uint64_t now);
void ctrld_relay_flush(struct ctrld_core *c);

/* session.c: I.2. */

/* A kernel's "session creation request" (node: whose) or "response to
 * session creation notification".
 */
void ctrld_session_request(struct ctrld_core *c, const char *node,
			   const struct ctrld_req *r);
void ctrld_session_response(struct ctrld_core *c, const char *node,
			    const struct ctrld_req *r);
/* A SESSION message from another controller or an agent. */
void ctrld_session_cx(struct ctrld_core *c, struct qd_chan *ch,
		      const struct ctrld_cx_msg *m);
/* An agent's RESULT; true if a session awaited it. */
bool ctrld_session_result(struct ctrld_core *c, const char *node,
			  uint32_t seq, uint32_t err, const char *why);
void ctrld_session_tick(struct ctrld_core *c, uint64_t now);
void ctrld_session_flush(struct ctrld_core *c);

#endif /* CTRLD_CORE_PRIV_H */
