// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd: key relay with key reservation (Q.4160 I.4b), driven
 * by the central controller when relay_scheme is reserve.
 *
 *   KM1 -> controller  "key relay request notification" (ctrl-id, relay)
 *   controller -> KM1  "key reservation request" (ctrl-id, next hop KM2);
 *                      the command's success is the "response to key
 *                      reservation request"
 *   controller -> KM2  "key relay request" (relay-id, the full route);
 *                      ENOENT means the reserved keys are still on their
 *                      way over Kx: retried every CTRLD_RETRY_MS for up
 *                      to CTRLD_RETRY_FOR_MS
 *   KM2 -> controller  "response to key relay request" (relay-id, errno),
 *                      due within CTRLD_RELAY_RESPONSE_MS
 *   controller -> KM1  "key allocation request" (relay-id, and errno and
 *                      errmsg if the relay failed); the command's success
 *                      is the "response to key allocation request"
 *
 * Each relay has at most one command in flight; an agent's result is
 * matched by its sequence number, and one not back within
 * CTRLD_RESULT_MS counts as ETIMEDOUT.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_priv.h"
#include "libqkdn.h"
#include "log.h"

static const char *km1(const struct ctrld_relay *rl)
{
	return rl->path.node[0];
}

static const char *km2(const struct ctrld_relay *rl)
{
	return rl->path.node[1];
}

/* Whose result the relay awaits. */
static const char *cmd_node(const struct ctrld_relay *rl)
{
	return rl->state == CTRLD_RL_REQUESTING ? km2(rl) : km1(rl);
}

static const char *relay_str(const struct ctrld_relay *rl,
			     char out[QKDN_UUID_STR_LEN])
{
	qkdn_uuid_fmt(rl->id, out);
	return out;
}

static struct ctrld_relay *relay_find(struct ctrld_core *c,
				      const uint8_t id[QKDN_RELAY_ID_LEN])
{
	size_t i;

	for (i = 0; i < c->n_relays; i++)
		if (!memcmp(c->relays[i]->id, id, QKDN_RELAY_ID_LEN))
			return c->relays[i];
	return NULL;
}

static void relay_free(struct ctrld_core *c, struct ctrld_relay *rl)
{
	size_t i;

	for (i = 0; i < c->n_relays; i++) {
		if (c->relays[i] == rl) {
			c->relays[i] = c->relays[--c->n_relays];
			break;
		}
	}
	free(rl);
}

void ctrld_relay_flush(struct ctrld_core *c)
{
	while (c->n_relays)
		relay_free(c, c->relays[0]);
}

static void relay_cmd(const struct ctrld_relay *rl, uint32_t msg,
		      struct ctrld_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->msg = msg;
	memcpy(a->relay_id, rl->id, QKDN_RELAY_ID_LEN);
	a->path = rl->path;
}

static void relay_result(struct ctrld_core *c, struct ctrld_relay *rl,
			 uint32_t err, const char *why, uint64_t now);

/* Send one of the relay's commands; its result comes now (this node's
 * kernel, or a failure) or with the agent's RESULT.
 */
static void relay_send(struct ctrld_core *c, struct ctrld_relay *rl,
		       const struct ctrld_answer *a, bool quiet, uint64_t now)
{
	char why[QKDN_ERRMSG_MAX];
	int r;

	r = ctrld_ck_send(c, cmd_node(rl), a, quiet, &rl->seq, why,
			  sizeof(why));
	if (r == 1) {
		rl->t_result = now + CTRLD_RESULT_MS;
		return;
	}
	relay_result(c, rl, r < 0 ? (uint32_t)-r : 0, r < 0 ? why : "", now);
}

static void request(struct ctrld_core *c, struct ctrld_relay *rl,
		    uint64_t now)
{
	struct ctrld_answer a;

	relay_cmd(rl, QKDN_MSG_KEY_RELAY_REQUEST, &a);
	rl->state = CTRLD_RL_REQUESTING;
	relay_send(c, rl, &a, rl->tries++ > 0, now);
}

static void allocate(struct ctrld_core *c, struct ctrld_relay *rl,
		     uint64_t now, uint32_t err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void allocate(struct ctrld_core *c, struct ctrld_relay *rl,
		     uint64_t now, uint32_t err, const char *fmt, ...)
{
	struct ctrld_answer a;
	va_list ap;

	relay_cmd(rl, QKDN_MSG_KEY_ALLOCATION_REQUEST, &a);
	a.err = err;
	if (err) {
		va_start(ap, fmt);
		vsnprintf(a.errmsg, sizeof(a.errmsg), fmt, ap);
		va_end(ap);
	}
	rl->err = err;
	rl->state = CTRLD_RL_ALLOCATING;
	relay_send(c, rl, &a, false, now);
}

/* The reservation failed: KM1's request still waits; it fails now. */
static void refuse(struct ctrld_core *c, struct ctrld_relay *rl,
		   uint32_t err, const char *why)
{
	struct ctrld_answer a;
	char buf[QKDN_ERRMSG_MAX];
	uint32_t seq;

	relay_cmd(rl, QKDN_MSG_KEY_RELAY_REQUEST, &a);
	a.ctrl_id = rl->ctrl_id;
	a.err = err;
	a.path.n = 0;
	snprintf(a.errmsg, sizeof(a.errmsg), "key reservation failed at %s: %s",
		 km1(rl), why);
	ctrld_ck_send(c, km1(rl), &a, false, &seq, buf, sizeof(buf));
}

/* A response to one of the relay's commands: KM1's or KM2's kernel took
 * it (err 0) or refused it.
 */
static void relay_result(struct ctrld_core *c, struct ctrld_relay *rl,
			 uint32_t err, const char *why, uint64_t now)
{
	const char *from = ctrld_other(c, km1(rl));
	const char *f1 = from ? " from " : "", *f2 = from ? from : "";
	char id[QKDN_UUID_STR_LEN];

	rl->seq = 0;
	relay_str(rl, id);
	switch (rl->state) {
	case CTRLD_RL_RESERVING:
		if (err) {
			qd_info("received \"%s\"%s%s relay %s: error %s: %s",
				qkdn_msg_name(QKDN_MSG_KEY_RESERVATION_RESPONSE),
				f1, f2, id, strerror((int)err), why);
			refuse(c, rl, err, why);
			c->st.relays_failed++;
			relay_free(c, rl);
			return;
		}
		qd_info("received \"%s\"%s%s relay %s: keys reserved on the link to %s",
			qkdn_msg_name(QKDN_MSG_KEY_RESERVATION_RESPONSE), f1, f2,
			id, km2(rl));
		rl->t_first = now;
		request(c, rl, now);
		return;
	case CTRLD_RL_REQUESTING:
		if (!err) {
			rl->state = CTRLD_RL_RELAYING;
			rl->t_next = now + CTRLD_RELAY_RESPONSE_MS;
			qd_dbg("relay %s: %s relays the reserved keys on", id,
			       km2(rl));
			return;
		}
		if (err == ENOENT && now < rl->t_first + CTRLD_RETRY_FOR_MS) {
			if (rl->tries == 1)
				qd_info("relay %s: %s holds no key reservation yet; retrying every %d ms for up to %d ms",
					id, km2(rl), CTRLD_RETRY_MS,
					CTRLD_RETRY_FOR_MS);
			rl->state = CTRLD_RL_RETRY;
			rl->t_next = now + CTRLD_RETRY_MS;
			return;
		}
		if (err == ENOENT)
			allocate(c, rl, now, ETIMEDOUT,
				 "the key reservation did not reach %s within %d ms",
				 km2(rl), CTRLD_RETRY_FOR_MS);
		else
			allocate(c, rl, now, err, "key relay request to %s failed: %s",
				 km2(rl), why);
		return;
	case CTRLD_RL_ALLOCATING:
		if (err)
			qd_info("received \"%s\"%s%s relay %s: error %s: %s",
				qkdn_msg_name(QKDN_MSG_KEY_ALLOCATION_RESPONSE),
				f1, f2, id, strerror((int)err), why);
		else
			qd_info("received \"%s\"%s%s relay %s: %s",
				qkdn_msg_name(QKDN_MSG_KEY_ALLOCATION_RESPONSE),
				f1, f2, id, rl->err ?
				"the relay failed, the keys are erased" :
				"the keys are the application's");
		if (err || rl->err)
			c->st.relays_failed++;
		else
			c->st.relays_done++;
		relay_free(c, rl);
		return;
	case CTRLD_RL_RETRY:
	case CTRLD_RL_RELAYING:
		return;
	}
}

bool ctrld_relay_start(struct ctrld_core *c, const char *node,
		       const struct ctrld_req *r, const struct ctrld_answer *a)
{
	char id[QKDN_UUID_STR_LEN];
	struct ctrld_relay *rl;
	struct ctrld_answer cmd;

	if (a->path.n < 3)
		return false;
	qkdn_uuid_fmt(r->relay_id, id);
	if (relay_find(c, r->relay_id)) {
		qd_notice("relay %s: in progress already; \"%s\" from %s dropped",
			  id, qkdn_msg_name(r->msg), node);
		return true;
	}
	rl = c->n_relays < CTRLD_RELAYS_MAX ? calloc(1, sizeof(*rl)) : NULL;
	if (!rl) {
		qd_warn("relay %s: %zu relays with key reservation in progress; this one is routed (I.4a)",
			id, c->n_relays);
		return false;
	}
	memcpy(rl->id, r->relay_id, QKDN_RELAY_ID_LEN);
	rl->ctrl_id = r->ctrl_id;
	rl->path = a->path;
	rl->state = CTRLD_RL_RESERVING;
	c->relays[c->n_relays++] = rl;
	relay_cmd(rl, QKDN_MSG_KEY_RESERVATION_REQUEST, &cmd);
	cmd.ctrl_id = rl->ctrl_id;
	relay_send(c, rl, &cmd, false, qd_now_ms());
	return true;
}

bool ctrld_relay_response(struct ctrld_core *c, const char *node,
			  const struct ctrld_req *r)
{
	struct ctrld_relay *rl = relay_find(c, r->relay_id);

	if (!rl || strcmp(node, km2(rl)) ||
	    (rl->state != CTRLD_RL_REQUESTING && rl->state != CTRLD_RL_RETRY &&
	     rl->state != CTRLD_RL_RELAYING))
		return false;
	/* A result of KM2 still on its way means nothing now. */
	rl->seq = 0;
	if (r->err)
		allocate(c, rl, qd_now_ms(), r->err,
			 "key relay from %s to %s failed: %s", km2(rl), r->dst,
			 strerror((int)r->err));
	else
		allocate(c, rl, qd_now_ms(), 0, "%s", "");
	return true;
}

bool ctrld_relay_result(struct ctrld_core *c, const char *node, uint32_t seq,
			uint32_t err, const char *why)
{
	size_t i;

	for (i = 0; i < c->n_relays; i++) {
		struct ctrld_relay *rl = c->relays[i];

		if (rl->seq == seq && !strcmp(cmd_node(rl), node)) {
			relay_result(c, rl, err, why, qd_now_ms());
			return true;
		}
	}
	return false;
}

void ctrld_relay_tick(struct ctrld_core *c, uint64_t now)
{
	char why[QKDN_ERRMSG_MAX];
	struct ctrld_relay *rl;
	size_t i;

	/* Downwards: a relay that ends is replaced by one seen already. */
	for (i = c->n_relays; i-- > 0;) {
		rl = c->relays[i];
		if (rl->seq && now >= rl->t_result) {
			snprintf(why, sizeof(why), "no result from %s within %d ms",
				 cmd_node(rl), CTRLD_RESULT_MS);
			relay_result(c, rl, ETIMEDOUT, why, now);
		} else if (rl->state == CTRLD_RL_RETRY && now >= rl->t_next) {
			request(c, rl, now);
		} else if (rl->state == CTRLD_RL_RELAYING && now >= rl->t_next) {
			allocate(c, rl, now, ETIMEDOUT,
				 "no response to key relay request from %s within %d ms",
				 km2(rl), CTRLD_RELAY_RESPONSE_MS);
		}
	}
}
