// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd core: Cx channels, LSA origination and flooding, the
 * answers to Ck requests, and the routes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_priv.h"
#include "libqkdn.h"
#include "log.h"
#include "net.h"

static const struct qd_chan_ops cx_ops;

/* Peers. */

_Static_assert(offsetof(struct ctrld_peer, q) == 0, "struct qd_peer first");

static struct ctrld_peer *peer_at(const struct ctrld_core *c, size_t i)
{
	return qd_peer_of(c->peers.list[i], struct ctrld_peer);
}

struct ctrld_peer *ctrld_peer_find(struct ctrld_core *c, const char *id)
{
	return qd_peer_of(qd_peer_find(&c->peers, id), struct ctrld_peer);
}

static struct ctrld_peer *peer_add(struct ctrld_core *c, const char *id,
				   bool dial)
{
	return qd_peer_of(qd_peer_add(&c->peers, id, dial), struct ctrld_peer);
}

bool ctrld_chan_up(const struct qd_chan *ch)
{
	return ch && ch->state == QD_CHAN_UP;
}

size_t ctrld_core_up(const struct ctrld_core *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->peers.n; i++)
		n += ctrld_chan_up(c->peers.list[i]->chan);
	return n;
}

/* Sending. */

int ctrld_send(struct ctrld_core *c, struct qd_chan *ch,
	       const struct ctrld_cx_msg *m)
{
	int n;

	if (!ctrld_chan_up(ch))
		return -1;
	n = ctrld_cx_encode(m, c->buf, sizeof(c->buf));
	if (n < 0) {
		qd_err("cannot encode a Cx %s message: %s",
		       ctrld_cx_type_name(m->type), ctrld_cx_strerror(n));
		return -1;
	}
	return qd_chan_send(ch, c->buf, (size_t)n, qd_now_ms());
}

static void send_lsa(struct ctrld_core *c, struct qd_chan *ch,
		     const struct ctrld_lsdb_entry *e, uint64_t now)
{
	struct ctrld_cx_msg *m = malloc(sizeof(*m));

	if (!m)
		return;
	m->type = CTRLD_CX_LSA;
	m->lsa = e->lsa;
	m->lsa.age = ctrld_lsdb_age(&c->db, e, now);
	if (m->lsa.age < c->db.max_age && !ctrld_send(c, ch, m))
		c->st.lsa_tx++;
	free(m);
}

/* Flood an LSA to every controller but the one it came from. */
static void flood(struct ctrld_core *c, const char *origin,
		  const struct qd_chan *from, uint64_t now)
{
	const struct ctrld_lsdb_entry *e = ctrld_lsdb_find(&c->db, origin);
	size_t i;

	if (!e)
		return;
	for (i = 0; i < c->peers.n; i++)
		if (ctrld_chan_up(c->peers.list[i]->chan) &&
		    c->peers.list[i]->chan != from)
			send_lsa(c, c->peers.list[i]->chan, e, now);
}

int ctrld_cx_route(struct ctrld_core *c, const char *to,
		   struct ctrld_cx_msg *m, char *why, size_t whylen)
{
	struct ctrld_peer *p = ctrld_peer_find(c, to);
	struct ctrld_path path;
	struct ctrld_graph g;

	/* Adjacent: straight there, whatever its key links; else along the
	 * best path of the link-state graph.
	 */
	if (!p || !ctrld_chan_up(p->q.chan)) {
		ctrld_graph_of(c, &g, 0, NULL);
		p = NULL;
		if (!ctrld_route_path(&g, c->node_id, to, &path, why, whylen))
			p = ctrld_peer_find(c, path.node[1]);
	}
	if (!p || !ctrld_chan_up(p->q.chan) || ctrld_send(c, p->q.chan, m)) {
		snprintf(why, whylen, "its QKDN controller is not reachable over Cx");
		return -EHOSTUNREACH;
	}
	return 0;
}

/* This node's LSA. */

static uint64_t next_seq(struct ctrld_core *c)
{
	struct timespec ts;
	uint64_t wall;

	/* Wall-clock milliseconds: a restarted controller starts above the
	 * numbers it used before, so its LSAs are not taken for old ones.
	 */
	clock_gettime(CLOCK_REALTIME, &ts);
	wall = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	c->seq = wall > c->seq ? wall : c->seq + 1;
	return c->seq;
}

static void originate(struct ctrld_core *c, uint64_t now)
{
	struct ctrld_lsa *lsa = &c->sent_self;
	enum ctrld_lsa_verdict v;
	size_t i;

	*lsa = c->self;
	lsa->seq = next_seq(c);
	lsa->age = 0;
	v = ctrld_lsdb_install(&c->db, lsa, now);
	if (v != CTRLD_LSA_NEW) {
		qd_err("cannot install this node's LSA: %s",
		       ctrld_lsa_verdict_str(v));
		return;
	}
	c->originated = true;
	c->t_originated = now;
	c->graph_dirty = true;
	c->st.lsa_originated++;
	qd_dbg("LSA of %s: seq %llu, %u links", lsa->origin,
	       (unsigned long long)lsa->seq, lsa->n_links);
	if (c->cfg->mode == CTRLD_CENTRAL)
		return;
	for (i = 0; i < c->peers.n; i++)
		if (ctrld_chan_up(c->peers.list[i]->chan))
			send_lsa(c, c->peers.list[i]->chan,
				 ctrld_lsdb_find(&c->db, lsa->origin), now);
}

static uint64_t lsa_refresh_ms(const struct ctrld_core *c)
{
	return (uint64_t)c->db.max_age * 1000 / 4;
}

static void originate_tick(struct ctrld_core *c, uint64_t now)
{
	if (!c->node_id[0] || !c->have_self)
		return;
	if (!c->originated ||
	    !ctrld_lsa_same_topology(&c->self, &c->sent_self) ||
	    (!ctrld_lsa_same_links(&c->self, &c->sent_self) &&
	     now >= c->t_originated + CTRLD_LSA_MIN_MS) ||
	    now >= c->t_originated + lsa_refresh_ms(c))
		originate(c, now);
}

/* Routes. */

void ctrld_graph_of(const struct ctrld_core *c, struct ctrld_graph *g,
		    uint64_t need, const char *avoid)
{
	g->db = &c->db;
	g->self = c->have_self ? &c->self : NULL;
	g->need = need;
	g->low_key = c->cfg->low_key;
	g->avoid = avoid;
}

/* Hand the node the differences between its routes and t. */
static void install_routes(struct ctrld_core *c, struct ctrld_rtable *t)
{
	const struct ctrld_route *old;
	struct ctrld_rtable keep = { 0 };
	char path[QKDN_ROUTE_HOPS_MAX * QKDN_ID_MAX];
	size_t i;
	int r;

	keep.r = calloc(t->n + 1, sizeof(*keep.r));
	if (!keep.r) {
		qd_err("out of memory");
		return;
	}
	for (i = 0; i < t->n; i++) {
		old = ctrld_rtable_find(&c->installed, t->r[i].dst);
		if (old && ctrld_route_equal(old, &t->r[i])) {
			keep.r[keep.n++] = t->r[i];
			continue;
		}
		r = c->ops->route_set(c->ops_ctx, &t->r[i]);
		if (r < 0) {
			qd_warn("route to %s: not installed (%s)", t->r[i].dst,
				strerror(-r));
			continue;
		}
		if (!old || old->path.n != t->r[i].path.n ||
		    old->path.metric != t->r[i].path.metric ||
		    strcmp(old->path.node[1], t->r[i].path.node[1]))
			qd_info("route to %s via %s, metric %u: %s",
				t->r[i].dst, t->r[i].path.node[1],
				t->r[i].path.metric,
				ctrld_path_str(&t->r[i].path, path, sizeof(path)));
		keep.r[keep.n++] = t->r[i];
	}
	for (i = 0; i < c->installed.n; i++) {
		const char *dst = c->installed.r[i].dst;

		if (ctrld_rtable_find(t, dst))
			continue;
		r = c->ops->route_del(c->ops_ctx, dst);
		if (r < 0 && r != -ENOENT)
			qd_warn("route to %s: not deleted (%s)", dst,
				strerror(-r));
		else
			qd_info("route to %s deleted", dst);
	}
	ctrld_rtable_free(&c->installed);
	c->installed = keep;
}

static bool rtable_equal(const struct ctrld_rtable *a,
			 const struct ctrld_rtable *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (!ctrld_route_equal(&a->r[i], &b->r[i]))
			return false;
	return true;
}

/* Central: send an agent its routes, if they changed. */
static void send_table(struct ctrld_core *c, struct ctrld_peer *p)
{
	struct ctrld_graph g;
	struct ctrld_rtable t;
	struct ctrld_cx_msg *m;
	size_t i;

	ctrld_graph_of(c, &g, 0, NULL);
	if (ctrld_route_table(&g, p->q.id, &t))
		return;
	if (!p->send_table && rtable_equal(&t, &p->sent)) {
		ctrld_rtable_free(&t);
		return;
	}
	m = malloc(sizeof(*m));
	if (!m) {
		ctrld_rtable_free(&t);
		return;
	}
	c->gen++;
	m->type = CTRLD_CX_ROUTE;
	m->route.gen = c->gen;
	for (i = 0; i < t.n; i++) {
		m->route.route = t.r[i];
		ctrld_send(c, p->q.chan, m);
	}
	m->type = CTRLD_CX_ROUTES_END;
	m->end.gen = c->gen;
	m->end.count = (uint16_t)t.n;
	if (!ctrld_send(c, p->q.chan, m)) {
		ctrld_rtable_free(&p->sent);
		p->sent = t;
		p->send_table = false;
		qd_dbg("%s: sent %zu routes", p->q.id, t.n);
	} else {
		ctrld_rtable_free(&t);
	}
	free(m);
}

static void routes_tick(struct ctrld_core *c, uint64_t now)
{
	struct ctrld_graph g;
	struct ctrld_rtable t;
	size_t i;

	if (!c->graph_dirty || !c->node_id[0] ||
	    now < c->t_routes + CTRLD_ROUTE_HOLD_MS)
		return;
	c->graph_dirty = false;
	c->t_routes = now;
	if (c->cfg->mode == CTRLD_AGENT)
		return;
	ctrld_graph_of(c, &g, 0, NULL);
	if (!ctrld_route_table(&g, c->node_id, &t)) {
		install_routes(c, &t);
		ctrld_rtable_free(&t);
	}
	if (c->cfg->mode != CTRLD_CENTRAL)
		return;
	for (i = 0; i < c->peers.n; i++)
		if (ctrld_chan_up(c->peers.list[i]->chan))
			send_table(c, peer_at(c, i));
}

/* Answers and commands. */

static void uuid_str(const uint8_t id[QKDN_RELAY_ID_LEN],
		     char out[QKDN_UUID_STR_LEN])
{
	qkdn_uuid_fmt(id, out);
}

const char *ctrld_other(const struct ctrld_core *c, const char *node)
{
	return strcmp(node, c->node_id) ? node : NULL;
}

void ctrld_log_request(const struct ctrld_req *r, const char *from)
{
	char relay[QKDN_UUID_STR_LEN];
	const char *name = qkdn_msg_name(r->msg);
	const char *f1 = from ? " from " : "", *f2 = from ? from : "";

	if (!name)
		name = "unknown message";
	uuid_str(r->relay_id, relay);
	switch (r->msg) {
	case QKDN_MSG_KEY_RELAY_RESPONSE:
		qd_info("received \"%s\"%s%s relay %s %s -> %s: %s", name, f1,
			f2, relay, r->src, r->dst,
			r->err ? strerror((int)r->err) : "completed");
		return;
	case QKDN_MSG_SESSION_CREATION_REQUEST:
		qd_info("received \"%s\"%s%s ctrl-id %u: master %s at %s, slave %s at %s",
			name, f1, f2, r->ctrl_id, r->master, r->src, r->slave,
			r->dst);
		return;
	case QKDN_MSG_SESSION_CREATION_NOTIFICATION:
		qd_info("received \"%s\"%s%s session %u: master %s at %s, slave %s at %s",
			name, f1, f2, r->session_id, r->master, r->src,
			r->slave, r->dst);
		return;
	case QKDN_MSG_SESSION_NOTIFICATION_RESPONSE:
		qd_info("received \"%s\"%s%s session %u %s -> %s: %s%s%s%s",
			name, f1, f2, r->session_id, r->src, r->dst,
			r->err ? "error " : "accepted",
			r->err ? strerror((int)r->err) : "",
			r->err && r->errmsg[0] ? ": " : "",
			r->err ? r->errmsg : "");
		return;
	}
	qd_info("received \"%s\"%s%s ctrl-id %u relay %s %s -> %s, %u bytes per hop%s%s",
		name, f1, f2, r->ctrl_id, relay, r->src, r->dst,
		r->relay_bytes, r->peer[0] ? ", from " : "", r->peer);
}

static bool names_relay(const struct ctrld_answer *a)
{
	return a->msg == QKDN_MSG_KEY_RESERVATION_REQUEST ||
	       a->msg == QKDN_MSG_KEY_ALLOCATION_REQUEST ||
	       (a->msg == QKDN_MSG_KEY_RELAY_REQUEST && !a->ctrl_id);
}

const char *ctrld_answer_ids(const struct ctrld_answer *a, char *buf,
			     size_t len)
{
	char relay[QKDN_UUID_STR_LEN];
	int n = 0;

	buf[0] = '\0';
	if (a->ctrl_id)
		n = snprintf(buf, len, " ctrl-id %u", a->ctrl_id);
	if (names_relay(a)) {
		uuid_str(a->relay_id, relay);
		snprintf(buf + n, len - (size_t)n, " relay %s", relay);
	} else if (a->msg == QKDN_MSG_SESSION_CREATION_NOTIFICATION) {
		snprintf(buf + n, len - (size_t)n, " session %u",
			 a->session_id);
	}
	return buf;
}

void ctrld_log_answer(const struct ctrld_answer *a, const char *to, int prio)
{
	char path[QKDN_ROUTE_HOPS_MAX * QKDN_ID_MAX], ids[96];
	const char *name = qkdn_msg_name(a->msg);
	const char *t1 = to ? " to " : "", *t2 = to ? to : "";

	ctrld_answer_ids(a, ids, sizeof(ids));
	if (a->err) {
		qd_log(prio, "sent \"%s\"%s%s%s: error %s: %s", name, t1, t2,
		       ids, strerror((int)a->err), a->errmsg);
		return;
	}
	ctrld_path_str(&a->path, path, sizeof(path));
	switch (a->msg) {
	case QKDN_MSG_NEXT_HOP_RESPONSE:
	case QKDN_MSG_KEY_RESERVATION_REQUEST:
		qd_log(prio, "sent \"%s\"%s%s%s: next hop %s (route %s, metric %u, %llu bytes available)",
		       name, t1, t2, ids, a->path.node[1], path, a->path.metric,
		       (unsigned long long)a->path.avail);
		break;
	case QKDN_MSG_KEY_ALLOCATION_REQUEST:
		qd_log(prio, "sent \"%s\"%s%s%s: the reserved keys are the application's",
		       name, t1, t2, ids);
		break;
	case QKDN_MSG_SESSION_CREATION_NOTIFICATION:
		qd_log(prio, "sent \"%s\"%s%s%s: master %s at %s, slave %s",
		       name, t1, t2, ids, a->master, a->src, a->slave);
		break;
	case QKDN_MSG_SESSION_CREATION_RESPONSE:
		qd_log(prio, "sent \"%s\"%s%s%s: session %u", name, t1, t2, ids,
		       a->session_id);
		break;
	default:
		qd_log(prio, "sent \"%s\"%s%s%s: route %s (metric %u, %llu bytes available)",
		       name, t1, t2, ids, path, a->path.metric,
		       (unsigned long long)a->path.avail);
	}
}

void ctrld_log_refused(const char *node, uint32_t msg, const char *ids,
		       uint32_t err, const char *why, int prio)
{
	qd_log(prio, "%s%sthe kernel refused \"%s\"%s: %s (%s)",
	       node ? node : "", node ? ": " : "", qkdn_msg_name(msg), ids, why,
	       strerror((int)err));
}

/* Give this node's kernel a; log it (after the fact: a refused retry is
 * only a debug message), and its refusal.
 */
static int apply(struct ctrld_core *c, const struct ctrld_answer *a,
		 char *why, size_t whylen)
{
	char ids[96];
	int r, prio = LOG_INFO;

	why[0] = '\0';
	r = c->ops->answer(c->ops_ctx, a, why, whylen);
	if (r < 0 && !why[0])
		snprintf(why, whylen, "%s", strerror(-r));
	if (r == -ENOENT && a->msg == QKDN_MSG_KEY_RELAY_REQUEST && !a->ctrl_id)
		prio = LOG_DEBUG;
	ctrld_log_answer(a, NULL, prio);
	if (r < 0)
		ctrld_log_refused(NULL, a->msg, ctrld_answer_ids(a, ids, sizeof(ids)),
				  (uint32_t)-r, why, prio == LOG_DEBUG ?
				  LOG_DEBUG : LOG_NOTICE);
	return r;
}

int ctrld_ck_send(struct ctrld_core *c, const char *node,
		  const struct ctrld_answer *a, bool quiet, uint32_t *seq,
		  char *why, size_t whylen)
{
	struct ctrld_cx_msg *m;
	struct ctrld_peer *p;
	int r;

	*seq = 0;
	c->st.commands++;
	if (!strcmp(node, c->node_id)) {
		r = apply(c, a, why, whylen);
		return r < 0 ? r : 0;
	}
	p = c->cfg->mode == CTRLD_CENTRAL ? ctrld_peer_find(c, node) : NULL;
	m = p && ctrld_chan_up(p->q.chan) ? malloc(sizeof(*m)) : NULL;
	if (!m) {
		snprintf(why, whylen, "not reachable: no agent of it is connected");
		return -EHOSTUNREACH;
	}
	if (!++c->cmd_seq)
		c->cmd_seq = 1;
	m->type = CTRLD_CX_COMMAND;
	m->command.seq = c->cmd_seq;
	m->command.cmd = *a;
	ctrld_log_answer(a, node, quiet ? LOG_DEBUG : LOG_INFO);
	r = ctrld_send(c, p->q.chan, m);
	free(m);
	if (r) {
		snprintf(why, whylen, "not reachable: its agent's channel failed");
		return -EHOSTUNREACH;
	}
	*seq = c->cmd_seq;
	return 1;
}

/* The answer a request expects (0: none). */
static uint32_t answer_msg(uint32_t msg)
{
	switch (msg) {
	case QKDN_MSG_NEXT_HOP_REQUEST:
		return QKDN_MSG_NEXT_HOP_RESPONSE;
	case QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION:
		return QKDN_MSG_KEY_RELAY_REQUEST;
	case QKDN_MSG_SESSION_CREATION_REQUEST:
		return QKDN_MSG_SESSION_CREATION_RESPONSE;
	}
	return 0;
}

/* Answer r, asked by node's kernel, from the graph. false if r is not a
 * relay request.
 */
static bool answer_for(struct ctrld_core *c, const char *node,
		       const struct ctrld_req *r, struct ctrld_answer *a)
{
	const char *avoid = NULL;
	struct ctrld_graph g;

	memset(a, 0, sizeof(*a));
	a->ctrl_id = r->ctrl_id;
	a->msg = answer_msg(r->msg);
	switch (r->msg) {
	case QKDN_MSG_NEXT_HOP_REQUEST:
		/* Never hand a relay back to the node it came from. */
		if (r->peer[0] && strcmp(r->peer, r->dst))
			avoid = r->peer;
		break;
	case QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION:
		break;
	default:
		return false;
	}
	ctrld_graph_of(c, &g, r->relay_bytes, avoid);
	if (ctrld_route_path(&g, node, r->dst, &a->path, a->errmsg,
			     sizeof(a->errmsg)) < 0)
		a->err = EHOSTUNREACH;
	return true;
}

/* Answer a relay request of node's kernel (this node's, or an agent's
 * through ch): I.4b when it applies, else the answer itself.
 */
static void answer_relay(struct ctrld_core *c, const char *node,
			 struct qd_chan *ch, const struct ctrld_req *r)
{
	char why[QKDN_ERRMSG_MAX];
	struct ctrld_cx_msg *m = malloc(sizeof(*m));

	if (!m)
		return;
	if (!answer_for(c, node, r, &m->ans))
		goto out;
	if (c->cfg->mode == CTRLD_CENTRAL &&
	    c->cfg->relay_scheme == CTRLD_RELAY_RESERVE &&
	    r->msg == QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION && !m->ans.err &&
	    ctrld_relay_start(c, node, r, &m->ans))
		goto out;
	c->st.answers++;
	if (!ch) {
		apply(c, &m->ans, why, sizeof(why));
		goto out;
	}
	m->type = CTRLD_CX_ANSWER;
	ctrld_log_answer(&m->ans, node, LOG_INFO);
	ctrld_send(c, ch, m);
out:
	free(m);
}

static void answer_error(struct ctrld_core *c, const struct ctrld_req *r,
			 const char *fmt, const char *arg)
{
	struct ctrld_answer a = {
		.ctrl_id = r->ctrl_id, .err = EHOSTUNREACH,
		.msg = answer_msg(r->msg),
	};
	char why[QKDN_ERRMSG_MAX];

	snprintf(a.errmsg, sizeof(a.errmsg), fmt, arg);
	c->st.answers++;
	apply(c, &a, why, sizeof(why));
}

static struct ctrld_peer *controller(struct ctrld_core *c)
{
	return c->peers.n ? peer_at(c, 0) : NULL;
}

/* Agent: a message of this node's kernel goes up to the controller. */
static void agent_up(struct ctrld_core *c, const struct ctrld_req *r,
		     uint64_t now)
{
	bool ask = answer_msg(r->msg) != 0;
	struct ctrld_peer *p = controller(c);
	struct ctrld_cx_msg *m;
	unsigned int ms;

	if (!p || !ctrld_chan_up(p->q.chan)) {
		if (ask)
			answer_error(c, r, "QKDN controller %s is not reachable",
				     c->cfg->controller.id);
		return;
	}
	if (ask && c->n_wait >= CTRLD_WAIT_MAX) {
		answer_error(c, r, "%s", "too many requests waiting for the QKDN controller");
		return;
	}
	m = malloc(sizeof(*m));
	if (!m)
		return;
	if (ctrld_cx_session_msg(r->msg)) {
		m->type = CTRLD_CX_SESSION;
		m->session.hops = 1;
		m->session.req = *r;
	} else {
		m->type = CTRLD_CX_CTRL;
		m->req = *r;
	}
	if (ctrld_send(c, p->q.chan, m)) {
		if (ask)
			answer_error(c, r, "QKDN controller %s is not reachable",
				     c->cfg->controller.id);
	} else if (ask) {
		ms = r->msg == QKDN_MSG_SESSION_CREATION_REQUEST ?
		     CTRLD_SESSION_MS + CTRLD_ANSWER_MS : CTRLD_ANSWER_MS;
		c->wait[c->n_wait++] = (struct ctrld_wait){
			.ctrl_id = r->ctrl_id, .msg = r->msg,
			.deadline = now + ms, .ms = ms,
		};
	}
	free(m);
}

/* A message of node's kernel, this node's or an agent's (ch), for a
 * controller (distributed or central).
 */
static void handle(struct ctrld_core *c, const char *node, struct qd_chan *ch,
		   const struct ctrld_req *r)
{
	switch (r->msg) {
	case QKDN_MSG_NEXT_HOP_REQUEST:
	case QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION:
		answer_relay(c, node, ch, r);
		break;
	case QKDN_MSG_KEY_RELAY_RESPONSE:
		if (c->cfg->mode == CTRLD_CENTRAL)
			ctrld_relay_response(c, node, r);
		break;
	case QKDN_MSG_SESSION_CREATION_REQUEST:
		ctrld_session_request(c, node, r);
		break;
	case QKDN_MSG_SESSION_NOTIFICATION_RESPONSE:
		ctrld_session_response(c, node, r);
		break;
	}
}

void ctrld_core_request(struct ctrld_core *c, const struct ctrld_req *r,
			uint64_t now)
{
	c->st.requests++;
	ctrld_log_request(r, NULL);
	if (c->cfg->mode == CTRLD_AGENT)
		agent_up(c, r, now);
	else
		handle(c, c->node_id, NULL, r);
}

static void wait_remove(struct ctrld_core *c, size_t i)
{
	c->wait[i] = c->wait[--c->n_wait];
}

static void wait_tick(struct ctrld_core *c, uint64_t now, bool all)
{
	size_t i = 0;

	while (i < c->n_wait) {
		if (!all && now < c->wait[i].deadline) {
			i++;
			continue;
		}
		qd_warn("ctrl-id %u: no answer from QKDN controller %s within %u ms; the kernel will time out",
			c->wait[i].ctrl_id, c->cfg->controller.id,
			c->wait[i].ms);
		wait_remove(c, i);
	}
}

/* Cx input. */

static void on_lsa(struct ctrld_core *c, struct qd_chan *ch,
		   const struct ctrld_lsa *lsa, uint64_t now)
{
	enum ctrld_lsa_verdict v;

	c->st.lsa_rx++;
	if (c->cfg->mode == CTRLD_AGENT) {
		qd_chan_close(ch, "unexpected LSA from the controller");
		return;
	}
	if (c->cfg->mode == CTRLD_CENTRAL && strcmp(lsa->origin, ch->peer_id)) {
		qd_chan_close(ch, "agent %s sent an LSA for node %s",
			      ch->peer_id, lsa->origin);
		return;
	}
	if (!strcmp(lsa->origin, c->node_id)) {
		/* Our own, from before a restart: number past it. */
		if (lsa->seq >= c->seq) {
			qd_notice("LSA of this node with seq %llu seen from %s: re-originating above it",
				  (unsigned long long)lsa->seq, ch->peer_id);
			c->seq = lsa->seq;
			if (c->have_self)
				originate(c, now);
		}
		return;
	}
	v = ctrld_lsdb_install(&c->db, lsa, now);
	switch (v) {
	case CTRLD_LSA_NEW:
		c->st.lsa_new++;
		c->graph_dirty = true;
		qd_dbg("LSA of %s from %s: seq %llu, age %u, %u links",
		       lsa->origin, ch->peer_id, (unsigned long long)lsa->seq,
		       lsa->age, lsa->n_links);
		if (c->cfg->mode == CTRLD_DISTRIBUTED)
			flood(c, lsa->origin, ch, now);
		break;
	case CTRLD_LSA_DUP:
		c->st.lsa_dup++;
		break;
	case CTRLD_LSA_OLD:
		c->st.lsa_old++;
		qd_dbg("LSA of %s from %s refused: %s", lsa->origin,
		       ch->peer_id, ctrld_lsa_verdict_str(v));
		break;
	case CTRLD_LSA_EXPIRED:
		c->st.lsa_expired++;
		qd_dbg("LSA of %s from %s refused: %s", lsa->origin,
		       ch->peer_id, ctrld_lsa_verdict_str(v));
		break;
	default:
		qd_warn("LSA of %s from %s refused: %s", lsa->origin,
			ch->peer_id, ctrld_lsa_verdict_str(v));
	}
}

/* Central: a request or notification of an agent's kernel. */
static void on_ctrl(struct ctrld_core *c, struct qd_chan *ch,
		    const struct ctrld_req *r)
{
	c->st.requests++;
	ctrld_log_request(r, ch->peer_id);
	if (ctrld_cx_session_msg(r->msg)) {
		c->st.bad_msgs++;
		qd_warn("%s: \"%s\" in a Cx ctrl message: ignored", ch->peer_id,
			qkdn_msg_name(r->msg));
		return;
	}
	handle(c, ch->peer_id, ch, r);
}

/* Central: an I.2 message of an agent's kernel; distributed: another
 * controller's.
 */
static void on_session(struct ctrld_core *c, struct qd_chan *ch,
		       const struct ctrld_cx_msg *m)
{
	const struct ctrld_req *r = &m->session.req;

	if (c->cfg->mode == CTRLD_DISTRIBUTED) {
		ctrld_session_cx(c, ch, m);
		return;
	}
	c->st.requests++;
	ctrld_log_request(r, ch->peer_id);
	/* An agent speaks for its own node only. */
	if ((r->msg == QKDN_MSG_SESSION_CREATION_REQUEST &&
	     !strcmp(r->src, ch->peer_id)) ||
	    (r->msg == QKDN_MSG_SESSION_NOTIFICATION_RESPONSE &&
	     !strcmp(r->dst, ch->peer_id))) {
		handle(c, ch->peer_id, ch, r);
		return;
	}
	c->st.bad_msgs++;
	qd_chan_close(ch, "agent %s sent \"%s\" for %s -> %s", ch->peer_id,
		      qkdn_msg_name(r->msg), r->src, r->dst);
}

/* Agent: the controller's answer. */
static void on_answer(struct ctrld_core *c, const struct ctrld_answer *a)
{
	char why[QKDN_ERRMSG_MAX];
	size_t i;

	for (i = 0; i < c->n_wait; i++)
		if (c->wait[i].ctrl_id == a->ctrl_id)
			break;
	if (i == c->n_wait) {
		qd_notice("answer for ctrl-id %u from the controller came too late: dropped",
			  a->ctrl_id);
		return;
	}
	wait_remove(c, i);
	if (!a->err && (a->path.n < 2 || strcmp(a->path.node[0], c->node_id))) {
		qd_warn("ctrl-id %u: the controller's route does not start at this node: dropped",
			a->ctrl_id);
		return;
	}
	c->st.answers++;
	apply(c, a, why, sizeof(why));
}

/* Agent: a command of the controller for this node's kernel; its result
 * goes back.
 */
static void on_command(struct ctrld_core *c, struct qd_chan *ch,
		       const struct ctrld_cx_msg *m)
{
	const struct ctrld_answer *a = &m->command.cmd;
	struct ctrld_cx_msg *res;
	size_t i;
	int r;

	if (m->command.seq <= c->cmd_seq_rx) {
		c->st.bad_msgs++;
		qd_notice("command %u from the controller replayed (last %u): dropped",
			  m->command.seq, c->cmd_seq_rx);
		return;
	}
	c->cmd_seq_rx = m->command.seq;
	/* It answers the request it names: no need to wait any more. */
	for (i = 0; a->ctrl_id && i < c->n_wait; i++) {
		if (c->wait[i].ctrl_id == a->ctrl_id) {
			wait_remove(c, i);
			break;
		}
	}
	res = calloc(1, sizeof(*res));
	if (!res)
		return;
	c->st.commands++;
	r = apply(c, a, res->result.errmsg, sizeof(res->result.errmsg));
	res->type = CTRLD_CX_RESULT;
	res->result.seq = m->command.seq;
	res->result.msg = a->msg;
	res->result.err = r < 0 ? (uint32_t)-r : 0;
	if (!r)
		res->result.errmsg[0] = '\0';
	ctrld_send(c, ch, res);
	free(res);
}

/* Central: what an agent's kernel said to a command. */
static void on_result(struct ctrld_core *c, struct qd_chan *ch,
		      const struct ctrld_cx_msg *m)
{
	uint32_t err = m->result.err;
	const char *why = m->result.errmsg;

	c->st.results++;
	if (ctrld_relay_result(c, ch->peer_id, m->result.seq, err, why) ||
	    ctrld_session_result(c, ch->peer_id, m->result.seq, err, why))
		return;
	if (err)
		ctrld_log_refused(ch->peer_id, m->result.msg, "", err, why,
				  LOG_NOTICE);
	else
		qd_dbg("%s: \"%s\" (command %u) taken", ch->peer_id,
		       qkdn_msg_name(m->result.msg), m->result.seq);
}

/* Agent: the routes of this node, one at a time, then the end. */
static void on_route(struct ctrld_core *c, struct qd_chan *ch,
		     const struct ctrld_cx_msg *m)
{
	struct ctrld_route *n;

	if (m->type == CTRLD_CX_ROUTE) {
		if (m->route.gen != c->staging_gen) {
			ctrld_rtable_free(&c->staging);
			c->staging_gen = m->route.gen;
		}
		if (strcmp(m->route.route.path.node[0], c->node_id) ||
		    strcmp(m->route.route.path.node[m->route.route.path.n - 1],
			   m->route.route.dst) ||
		    c->staging.n >= QKDN_ROUTES_MAX ||
		    (c->staging.n && strcmp(c->staging.r[c->staging.n - 1].dst,
					    m->route.route.dst) >= 0)) {
			qd_chan_close(ch, "bad route to %s from the controller",
				      m->route.route.dst);
			return;
		}
		n = realloc(c->staging.r, (c->staging.n + 1) * sizeof(*n));
		if (!n)
			return;
		c->staging.r = n;
		c->staging.r[c->staging.n++] = m->route.route;
		return;
	}
	if (m->end.gen != c->staging_gen)
		ctrld_rtable_free(&c->staging);
	if (m->end.count != c->staging.n) {
		qd_warn("routes from the controller: %u announced, %zu received: ignored",
			m->end.count, c->staging.n);
	} else {
		install_routes(c, &c->staging);
	}
	ctrld_rtable_free(&c->staging);
	c->staging_gen = 0;
}

static void on_frame(void *ctx, struct qd_chan *ch, const uint8_t *data,
		     size_t len)
{
	struct ctrld_core *c = ctx;
	struct ctrld_cx_msg *m = &c->rx;
	enum ctrld_mode mode = c->cfg->mode;
	int r;

	if (!ch->owner)
		return;
	r = ctrld_cx_decode(data, len, m);
	if (r < 0) {
		c->st.bad_msgs++;
		qd_chan_close(ch, "bad Cx message (%zu bytes): %s", len,
			      ctrld_cx_strerror(r));
		return;
	}
	switch (m->type) {
	case CTRLD_CX_LSA:
		on_lsa(c, ch, &m->lsa, qd_now_ms());
		return;
	case CTRLD_CX_CTRL:
		if (mode == CTRLD_CENTRAL) {
			on_ctrl(c, ch, &m->req);
			return;
		}
		break;
	case CTRLD_CX_ANSWER:
		if (mode == CTRLD_AGENT) {
			on_answer(c, &m->ans);
			return;
		}
		break;
	case CTRLD_CX_ROUTE:
	case CTRLD_CX_ROUTES_END:
		if (mode == CTRLD_AGENT) {
			on_route(c, ch, m);
			return;
		}
		break;
	case CTRLD_CX_SESSION:
		if (mode != CTRLD_AGENT) {
			on_session(c, ch, m);
			return;
		}
		break;
	case CTRLD_CX_COMMAND:
		if (mode == CTRLD_AGENT) {
			on_command(c, ch, m);
			return;
		}
		break;
	case CTRLD_CX_RESULT:
		if (mode == CTRLD_CENTRAL) {
			on_result(c, ch, m);
			return;
		}
		break;
	}
	c->st.bad_msgs++;
	qd_chan_close(ch, "unexpected Cx %s message in mode %s",
		      ctrld_cx_type_name(m->type), ctrld_mode_name(mode));
}

/* Channels. */

static const char *on_hello(void *ctx, struct qd_chan *ch, const char *id)
{
	struct ctrld_core *c = ctx;

	if (ch->outbound)
		return ch->owner ? NULL : "no longer wanted";
	if (!strcmp(id, c->node_id))
		return "that is this node's ID";
	if (c->cfg->mode == CTRLD_CENTRAL)
		return NULL;
	return qd_peers_hello(&c->peers, id);
}

static void on_up(void *ctx, struct qd_chan *ch)
{
	struct ctrld_core *c = ctx;
	struct ctrld_peer *p = ch->owner;
	uint64_t now = qd_now_ms();
	const struct ctrld_lsdb_entry *e;
	size_t i;

	if (!p) {
		p = ctrld_peer_find(c, ch->peer_id);
		if (!p && c->cfg->mode == CTRLD_CENTRAL)
			p = peer_add(c, ch->peer_id, false);
		if (!p) {
			qd_chan_close(ch, "no peer");
			return;
		}
	}
	qd_peer_attach(&c->peers, &p->q, ch, now);
	qd_notice("%s: Cx channel up (%s %s)", p->q.id,
		  ch->outbound ? "dialled" : "accepted from", ch->addr);
	switch (c->cfg->mode) {
	case CTRLD_DISTRIBUTED:
		/* Database exchange: everything we know. */
		for (i = 0; i < c->db.n; i++)
			send_lsa(c, ch, c->db.e[i], now);
		break;
	case CTRLD_AGENT:
		/* A new controller numbers its commands from 1. */
		c->cmd_seq_rx = 0;
		e = c->originated ? ctrld_lsdb_find(&c->db, c->node_id) : NULL;
		if (e)
			send_lsa(c, ch, e, now);
		break;
	case CTRLD_CENTRAL:
		p->send_table = true;
		c->graph_dirty = true;
		break;
	}
}

static const struct qd_chan_ops cx_ops = {
	.magic = QD_MAGIC_CX,
	.hello = on_hello,
	.up = on_up,
	.frame = on_frame,
};

/* The peer list. */

/* The routes an agent was sent go with its channel, and with it. */
static void peer_release(void *ctx, struct qd_peer *q)
{
	(void)ctx;
	ctrld_rtable_free(&qd_peer_of(q, struct ctrld_peer)->sent);
}

static void peer_detached(void *ctx, struct qd_peer *q, struct qd_chan *ch)
{
	(void)ch;
	peer_release(ctx, q);
}

static void peer_lost(void *ctx, struct qd_peer *q, uint64_t now)
{
	struct ctrld_core *c = ctx;

	(void)q;
	if (c->cfg->mode == CTRLD_AGENT)
		wait_tick(c, now, true);
}

static const struct qd_peer_conf *peer_addr(void *ctx,
					    const struct qd_peer *q)
{
	struct ctrld_core *c = ctx;

	if (c->cfg->mode == CTRLD_AGENT)
		return &c->cfg->controller;
	return qd_conf_peer_find(c->cfg->common.peers, c->cfg->common.n_peers,
				 q->id);
}

static const struct qd_peers_ops peers_ops = {
	.detach = peer_detached,
	.lost = peer_lost,
	.release = peer_release,
	.addr = peer_addr,
};

/* Free closed channels. Central: an agent is known while its channel
 * lasts.
 */
static void sweep(struct ctrld_core *c, uint64_t now)
{
	size_t i;

	qd_peers_sweep(&c->peers, now);
	if (c->cfg->mode != CTRLD_CENTRAL)
		return;
	for (i = c->peers.n; i-- > 0;)
		if (!c->peers.list[i]->chan)
			qd_peer_remove(&c->peers, i, "gone");
}

static void expired(void *ctx, const char *origin)
{
	struct ctrld_core *c = ctx;

	qd_notice("LSA of %s reached the maximum age (%u s): dropped", origin,
		  c->db.max_age);
}

void ctrld_core_tick(struct ctrld_core *c, uint64_t now)
{
	if (now >= c->next_expire) {
		if (ctrld_lsdb_expire(&c->db, now, c->node_id, expired, c))
			c->graph_dirty = true;
		c->next_expire = now + 1000;
	}
	originate_tick(c, now);
	routes_tick(c, now);
	if (c->cfg->mode == CTRLD_AGENT)
		wait_tick(c, now, false);
	ctrld_relay_tick(c, now);
	ctrld_session_tick(c, now);
	if (c->node_id[0])
		qd_peers_dial(&c->peers, c->ssl, c->node_id, now);
	qd_peers_tick(&c->peers, now);
	sweep(c, now);
}

static int poll_timeout(const struct ctrld_core *c, uint64_t now, int max_ms)
{
	uint64_t t = now + (max_ms < 0 ? CTRLD_TICK_MS : (uint64_t)max_ms);
	size_t i;

	if (t > now + CTRLD_TICK_MS)
		t = now + CTRLD_TICK_MS;
	t = qd_peers_deadline(&c->peers, t);
	/* I.4b retries come faster than the tick. */
	for (i = 0; i < c->n_relays; i++)
		if (c->relays[i]->state == CTRLD_RL_RETRY &&
		    c->relays[i]->t_next < t)
			t = c->relays[i]->t_next;
	return t <= now ? 0 : (int)(t - now);
}

int ctrld_core_poll(struct ctrld_core *c, struct pollfd *extra,
		    size_t n_extra, int max_ms)
{
	uint64_t now = qd_now_ms();
	struct pollfd *pfd;
	size_t n, i;
	int r;

	ctrld_core_tick(c, now);
	pfd = qd_peers_pollfd(&c->peers, n_extra + 1, &n);
	if (!pfd) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < n_extra; i++) {
		pfd[i] = extra[i];
		pfd[i].revents = 0;
	}
	pfd[n_extra] = (struct pollfd){ .fd = c->lfd, .events = POLLIN };
	r = poll(pfd, n, poll_timeout(c, now, max_ms));
	if (r < 0)
		return errno == EINTR ? 0 : -1;
	now = qd_now_ms();
	for (i = 0; i < n_extra; i++)
		extra[i].revents = pfd[i].revents;
	qd_peers_io(&c->peers, n_extra + 1, n, now);
	if (c->lfd >= 0 && pfd[n_extra].revents)
		qd_peers_accept(&c->peers, c->lfd, c->ssl, c->node_id, now);
	sweep(c, now);
	return r;
}

/* The node. */

void ctrld_core_set_node(struct ctrld_core *c, const char *id)
{
	if (!strcmp(id, c->node_id))
		return;
	if (c->node_id[0])
		qd_notice("node ID changed from %s to %s", c->node_id,
			  id[0] ? id : "(none)");
	qd_peers_drop_all(&c->peers, "node ID changed");
	ctrld_lsdb_free(&c->db);
	c->have_self = false;
	c->originated = false;
	ctrld_rtable_free(&c->staging);
	c->n_wait = 0;
	ctrld_relay_flush(c);
	ctrld_session_flush(c);
	snprintf(c->node_id, sizeof(c->node_id), "%s", id);
	if (id[0] && !qd_node_id_valid(id, strlen(id))) {
		qd_err("node ID '%s' cannot be used in a hello", id);
		c->node_id[0] = '\0';
	}
	/* Routes computed for the old node mean nothing now. */
	c->graph_dirty = true;
	if (!c->node_id[0]) {
		struct ctrld_rtable none = { 0 };

		install_routes(c, &none);
		return;
	}
	qd_notice("node ID %s", c->node_id);
	if (c->cfg->mode == CTRLD_AGENT)
		peer_add(c, c->cfg->controller.id, true);
}

void ctrld_core_set_links(struct ctrld_core *c, const struct ctrld_link *l,
			  size_t n, uint64_t now)
{
	struct ctrld_peer *p;
	size_t i;

	if (!c->node_id[0])
		return;
	if (n > CTRLD_LSA_LINKS_MAX) {
		qd_warn("%zu links: only the first %d are advertised", n,
			CTRLD_LSA_LINKS_MAX);
		n = CTRLD_LSA_LINKS_MAX;
	}
	memset(&c->self, 0, sizeof(c->self));
	snprintf(c->self.origin, sizeof(c->self.origin), "%s", c->node_id);
	memcpy(c->self.links, l, n * sizeof(*l));
	c->self.n_links = (uint32_t)n;
	if (!ctrld_lsa_normalize(&c->self)) {
		qd_err("this node's links are not usable (a peer twice, or a bad peer ID)");
		c->self.n_links = 0;
	}
	if (!c->have_self || !ctrld_lsa_same_links(&c->self, &c->sent_self))
		c->graph_dirty = true;
	c->have_self = true;
	originate_tick(c, now);
	if (c->cfg->mode != CTRLD_DISTRIBUTED)
		return;
	/* Adjacent controllers: the peers of this node's links. */
	for (i = 0; i < c->peers.n; i++)
		peer_at(c, i)->seen = false;
	for (i = 0; i < c->self.n_links; i++) {
		const char *id = c->self.links[i].peer;

		p = ctrld_peer_find(c, id);
		if (!p) {
			p = peer_add(c, id, strcmp(c->node_id, id) < 0);
			if (!p)
				continue;
			qd_info("%s: adjacent node, %s", id,
				p->q.dial ? "dialling it" : "waiting for it to dial");
		}
		p->seen = true;
	}
	for (i = c->peers.n; i-- > 0;) {
		if (peer_at(c, i)->seen)
			continue;
		qd_info("%s: no link to it any more", c->peers.list[i]->id);
		qd_peer_remove(&c->peers, i, "link deleted");
	}
}

/* Life. */

int ctrld_core_init(struct ctrld_core *c, const struct ctrld_config *cfg,
		    SSL_CTX *ssl, const struct ctrld_node_ops *ops, void *ctx,
		    char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->ssl = ssl;
	c->ops = ops;
	c->ops_ctx = ctx;
	c->lfd = -1;
	c->peers = (struct qd_peers){
		.size = sizeof(struct ctrld_peer),
		.ops = &peers_ops,
		.chan_ops = &cx_ops,
		.ctx = c,
		.what = "Cx channel",
		.conf_name = "the configuration",
		.backoff_min_ms = CTRLD_BACKOFF_MIN_MS,
		.backoff_max_ms = CTRLD_BACKOFF_MAX_MS,
		.max_pending = CTRLD_PENDING_MAX,
	};
	ctrld_lsdb_init(&c->db, cfg->lsa_max_age);
	if (cfg->mode == CTRLD_AGENT)
		return 0;
	c->lfd = qd_net_listen(cfg->common.listen_host, cfg->common.listen_port,
			       err, errlen);
	return c->lfd < 0 ? -1 : 0;
}

void ctrld_core_free(struct ctrld_core *c)
{
	qd_peers_drop_all(&c->peers, "shutting down");
	ctrld_relay_flush(c);
	ctrld_session_flush(c);
	sweep(c, 0);
	qd_peers_free(&c->peers);
	if (c->lfd >= 0)
		close(c->lfd);
	c->lfd = -1;
	ctrld_lsdb_free(&c->db);
	ctrld_rtable_free(&c->installed);
	ctrld_rtable_free(&c->staging);
	SSL_CTX_free(c->ssl);
	c->ssl = NULL;
}
