// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd: session creation for proactive key supply (Q.4160
 * I.2).
 *
 * The source KM's "session creation request" reaches the source's
 * controller: this node's in a distributed QKDN, the central one in a
 * centralized QKDN. It picks a session ID and has the destination KM's
 * kernel given the "session creation notification": directly (this node),
 * through an agent (COMMAND), or through the destination's controller
 * (Cx SESSION, hop by hop). If that fails the refusal comes back at once;
 * otherwise the destination KM's "response to session creation
 * notification" comes back when the slave SAE answered. Either ends the
 * session creation with a "response to session creation request" to the
 * source KM; so does CTRLD_SESSION_MS without a response (ETIMEDOUT).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>

#include "core_priv.h"
#include "libqkdn.h"
#include "log.h"

static struct ctrld_session *session_find(struct ctrld_core *c, uint32_t id)
{
	size_t i;

	for (i = 0; i < c->n_sessions; i++)
		if (c->sessions[i]->id == id)
			return c->sessions[i];
	return NULL;
}

static void session_free(struct ctrld_core *c, struct ctrld_session *s)
{
	size_t i;

	for (i = 0; i < c->n_sessions; i++) {
		if (c->sessions[i] == s) {
			c->sessions[i] = c->sessions[--c->n_sessions];
			break;
		}
	}
	free(s);
}

void ctrld_session_flush(struct ctrld_core *c)
{
	while (c->n_sessions)
		session_free(c, c->sessions[0]);
}

/* A random non-zero ID, neither in use nor given out lately; 0 if none. */
static uint32_t session_id(struct ctrld_core *c)
{
	uint32_t id;
	size_t i;
	int tries;

	for (tries = 0; tries < 16; tries++) {
		if (RAND_bytes((unsigned char *)&id, sizeof(id)) != 1)
			return 0;
		for (i = 0; id && i < c->n_recent; i++)
			if (c->recent[i] == id)
				id = 0;
		if (id && !session_find(c, id))
			break;
		id = 0;
	}
	if (id)
		c->recent[c->n_recent++ % CTRLD_SESSION_RECENT] = id;
	if (c->n_recent >= 2 * CTRLD_SESSION_RECENT)
		c->n_recent -= CTRLD_SESSION_RECENT;
	return id;
}

/* The "response to session creation request" to the source KM. */
static void respond(struct ctrld_core *c, const struct ctrld_session *s,
		    uint32_t id, uint32_t err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void respond(struct ctrld_core *c, const struct ctrld_session *s,
		    uint32_t id, uint32_t err, const char *fmt, ...)
{
	struct ctrld_answer a = {
		.msg = QKDN_MSG_SESSION_CREATION_RESPONSE,
		.ctrl_id = s->ctrl_id, .err = err,
	};
	char why[QKDN_ERRMSG_MAX];
	uint32_t seq;
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(a.errmsg, sizeof(a.errmsg), fmt, ap);
		va_end(ap);
		c->st.sessions_failed++;
	} else {
		a.session_id = id;
		c->st.sessions_created++;
	}
	if (ctrld_ck_send(c, s->src, &a, false, &seq, why, sizeof(why)) < 0 &&
	    ctrld_other(c, s->src))
		qd_notice("ctrl-id %u: the response cannot reach %s: %s",
			  s->ctrl_id, s->src, why);
}

/* The notification was refused, at once. */
static void refused(struct ctrld_core *c, struct ctrld_session *s,
		    uint32_t err, const char *why)
{
	qd_info("session %u: the \"%s\" failed at %s: %s (%s)", s->id,
		qkdn_msg_name(QKDN_MSG_SESSION_CREATION_NOTIFICATION), s->dst,
		why, strerror((int)err));
	respond(c, s, 0, err, "%s: %s", s->dst, why);
	session_free(c, s);
}

static void req_of(const struct ctrld_session *s, struct ctrld_req *r)
{
	memset(r, 0, sizeof(*r));
	r->msg = QKDN_MSG_SESSION_CREATION_NOTIFICATION;
	r->session_id = s->id;
	snprintf(r->src, sizeof(r->src), "%s", s->src);
	snprintf(r->dst, sizeof(r->dst), "%s", s->dst);
	snprintf(r->master, sizeof(r->master), "%s", s->master);
	snprintf(r->slave, sizeof(r->slave), "%s", s->slave);
}

static void notification_of(const struct ctrld_req *r, struct ctrld_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->msg = QKDN_MSG_SESSION_CREATION_NOTIFICATION;
	a->session_id = r->session_id;
	snprintf(a->src, sizeof(a->src), "%s", r->src);
	snprintf(a->master, sizeof(a->master), "%s", r->master);
	snprintf(a->slave, sizeof(a->slave), "%s", r->slave);
}

/* Distributed: a SESSION message towards node to. */
static int session_route(struct ctrld_core *c, const char *to,
			 const struct ctrld_req *r, uint8_t hops, char *why,
			 size_t whylen)
{
	struct ctrld_cx_msg *m = malloc(sizeof(*m));
	int ret;

	if (!m) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	m->type = CTRLD_CX_SESSION;
	m->session.hops = hops;
	m->session.req = *r;
	ret = ctrld_cx_route(c, to, m, why, whylen);
	free(m);
	return ret;
}

/* The "session creation notification" to the destination KM. */
static void notify(struct ctrld_core *c, struct ctrld_session *s)
{
	char why[QKDN_ERRMSG_MAX];
	struct ctrld_answer a;
	struct ctrld_req r;
	int ret;

	req_of(s, &r);
	notification_of(&r, &a);
	if (c->cfg->mode == CTRLD_DISTRIBUTED && ctrld_other(c, s->dst)) {
		ctrld_log_answer(&a, s->dst, LOG_INFO);
		ret = session_route(c, s->dst, &r, QKDN_ROUTE_HOPS_MAX, why,
				    sizeof(why));
	} else {
		ret = ctrld_ck_send(c, s->dst, &a, false, &s->seq, why,
				    sizeof(why));
	}
	if (ret < 0)
		refused(c, s, (uint32_t)-ret, why);
}

void ctrld_session_request(struct ctrld_core *c, const char *node,
			   const struct ctrld_req *r)
{
	struct ctrld_session *s, one = { .ctrl_id = r->ctrl_id };

	snprintf(one.src, sizeof(one.src), "%s", node);
	if (c->n_sessions >= CTRLD_SESSIONS_MAX) {
		respond(c, &one, 0, EAGAIN, "%zu session creations in progress",
			c->n_sessions);
		return;
	}
	one.id = session_id(c);
	s = one.id ? malloc(sizeof(*s)) : NULL;
	if (!s) {
		respond(c, &one, 0, ENOMEM, "no session ID available");
		return;
	}
	*s = one;
	snprintf(s->dst, sizeof(s->dst), "%s", r->dst);
	snprintf(s->master, sizeof(s->master), "%s", r->master);
	snprintf(s->slave, sizeof(s->slave), "%s", r->slave);
	s->deadline = qd_now_ms() + CTRLD_SESSION_MS;
	c->sessions[c->n_sessions++] = s;
	notify(c, s);
}

/* Distributed: the response to the source's controller. */
static void send_response(struct ctrld_core *c, const struct ctrld_req *r)
{
	char why[QKDN_ERRMSG_MAX];

	qd_info("sent \"%s\" to %s session %u %s -> %s: %s%s%s%s",
		qkdn_msg_name(r->msg), r->src, r->session_id, r->src, r->dst,
		r->err ? "error " : "accepted",
		r->err ? strerror((int)r->err) : "",
		r->err && r->errmsg[0] ? ": " : "", r->err ? r->errmsg : "");
	if (session_route(c, r->src, r, QKDN_ROUTE_HOPS_MAX, why,
			  sizeof(why)) < 0)
		qd_notice("session %u: the response cannot reach %s: %s",
			  r->session_id, r->src, why);
}

void ctrld_session_response(struct ctrld_core *c, const char *node,
			    const struct ctrld_req *r)
{
	struct ctrld_session *s;

	if (c->cfg->mode == CTRLD_DISTRIBUTED && ctrld_other(c, r->src)) {
		/* This node's KM answered for a session made elsewhere. */
		send_response(c, r);
		return;
	}
	s = session_find(c, r->session_id);
	if (!s || strcmp(s->dst, node)) {
		qd_notice("session %u: no session creation waits for a response from %s: ignored",
			  r->session_id, node);
		return;
	}
	if (!r->err)
		respond(c, s, s->id, 0, "%s", "");
	else if (r->errmsg[0])
		respond(c, s, 0, r->err, "%s", r->errmsg);
	else
		respond(c, s, 0, r->err, "the slave SAE %s at %s refused the session",
			s->slave, s->dst);
	session_free(c, s);
}

bool ctrld_session_result(struct ctrld_core *c, const char *node,
			  uint32_t seq, uint32_t err, const char *why)
{
	size_t i;

	for (i = 0; i < c->n_sessions; i++) {
		struct ctrld_session *s = c->sessions[i];

		if (s->seq != seq || strcmp(s->dst, node))
			continue;
		s->seq = 0;
		if (err)
			refused(c, s, err, why);
		return true;
	}
	return false;
}

/* Distributed: a notification for this node's KM. A refusal goes back at
 * once; otherwise its response does, when the slave SAE gave it.
 */
static void deliver(struct ctrld_core *c, const struct ctrld_req *r)
{
	struct ctrld_req back = *r;
	struct ctrld_answer a;
	char why[QKDN_ERRMSG_MAX];
	uint32_t seq;
	size_t i, n;
	int ret;

	n = c->n_notified < CTRLD_SESSION_RECENT ? c->n_notified :
	    CTRLD_SESSION_RECENT;
	for (i = 0; i < n; i++) {
		if (c->notified[i].id == r->session_id &&
		    !strcmp(c->notified[i].src, r->src)) {
			qd_notice("session %u from %s: notification replayed: dropped",
				  r->session_id, r->src);
			return;
		}
	}
	i = c->n_notified++ % CTRLD_SESSION_RECENT;
	if (c->n_notified >= 2 * CTRLD_SESSION_RECENT)
		c->n_notified -= CTRLD_SESSION_RECENT;
	c->notified[i].id = r->session_id;
	snprintf(c->notified[i].src, sizeof(c->notified[i].src), "%s", r->src);

	notification_of(r, &a);
	ret = ctrld_ck_send(c, c->node_id, &a, false, &seq, why, sizeof(why));
	if (ret >= 0)
		return;
	back.msg = QKDN_MSG_SESSION_NOTIFICATION_RESPONSE;
	back.err = (uint32_t)-ret;
	snprintf(back.errmsg, sizeof(back.errmsg), "%s: %.62s", c->node_id, why);
	send_response(c, &back);
}

void ctrld_session_cx(struct ctrld_core *c, struct qd_chan *ch,
		      const struct ctrld_cx_msg *m)
{
	const struct ctrld_req *r = &m->session.req;
	bool notif = r->msg == QKDN_MSG_SESSION_CREATION_NOTIFICATION;
	const char *to = notif ? r->dst : r->src;
	const char *origin = notif ? r->src : r->dst;
	struct ctrld_req back;
	char why[QKDN_ERRMSG_MAX];

	if (r->msg == QKDN_MSG_SESSION_CREATION_REQUEST) {
		c->st.bad_msgs++;
		qd_chan_close(ch, "a \"%s\" is for a node's own controller",
			      qkdn_msg_name(r->msg));
		return;
	}
	if (!ctrld_other(c, to)) {
		c->st.requests++;
		ctrld_log_request(r, origin);
		if (notif)
			deliver(c, r);
		else
			ctrld_session_response(c, origin, r);
		return;
	}
	/* Not for this node: on towards it. */
	if (m->session.hops > 1 &&
	    !session_route(c, to, r, m->session.hops - 1, why, sizeof(why))) {
		qd_dbg("session %u: \"%s\" from %s passed on towards %s",
		       r->session_id, qkdn_msg_name(r->msg), ch->peer_id, to);
		return;
	}
	if (m->session.hops <= 1)
		snprintf(why, sizeof(why), "more than %d hops away",
			 QKDN_ROUTE_HOPS_MAX);
	qd_notice("session %u: \"%s\" cannot go on to %s: %s", r->session_id,
		  qkdn_msg_name(r->msg), to, why);
	if (!notif)
		return;
	back = *r;
	back.msg = QKDN_MSG_SESSION_NOTIFICATION_RESPONSE;
	back.err = EHOSTUNREACH;
	snprintf(back.errmsg, sizeof(back.errmsg), "%s: %.62s", to, why);
	send_response(c, &back);
}

void ctrld_session_tick(struct ctrld_core *c, uint64_t now)
{
	struct ctrld_session *s;
	size_t i;

	for (i = c->n_sessions; i-- > 0;) {
		s = c->sessions[i];
		if (now < s->deadline)
			continue;
		qd_notice("session %u: no response to the \"%s\" from %s within %d ms",
			  s->id,
			  qkdn_msg_name(QKDN_MSG_SESSION_CREATION_NOTIFICATION),
			  s->dst, CTRLD_SESSION_MS);
		respond(c, s, 0, ETIMEDOUT,
			"no response to the session creation notification from %s within %d ms",
			s->dst, CTRLD_SESSION_MS);
		session_free(c, s);
	}
}
