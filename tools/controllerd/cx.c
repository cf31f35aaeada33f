// SPDX-License-Identifier: GPL-2.0
/*
 * Cx codec. Input is never trusted: every read is bounds-checked against
 * the message, every count against its limit before anything is copied,
 * and the decoded message is a fixed-size structure.
 */
#include <string.h>

#include "conf.h"
#include "cx.h"

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	int err;
};

static void w_bytes(struct wbuf *w, const void *b, size_t n)
{
	if (w->err)
		return;
	if (w->len + n > w->cap) {
		w->err = CTRLD_CX_ETOOBIG;
		return;
	}
	memcpy(w->p + w->len, b, n);
	w->len += n;
}

static void w_uint(struct wbuf *w, uint64_t v, unsigned int bytes)
{
	uint8_t b[8];
	unsigned int i;

	for (i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	w_bytes(w, b, bytes);
}

/* id: a node ID; empty allowed only when may_be_empty. */
static void w_id(struct wbuf *w, const char *id, bool may_be_empty)
{
	size_t n = strnlen(id, QKDN_ID_MAX);

	if (!(may_be_empty && !n) && !qd_node_id_valid(id, n)) {
		if (!w->err)
			w->err = CTRLD_CX_EID;
		return;
	}
	w_uint(w, n, 1);
	w_bytes(w, id, n);
}

static void w_path(struct wbuf *w, const struct ctrld_path *p)
{
	unsigned int i;

	if (p->n > QKDN_ROUTE_HOPS_MAX) {
		w->err = CTRLD_CX_ECOUNT;
		return;
	}
	w_uint(w, p->n, 1);
	for (i = 0; i < p->n; i++)
		w_id(w, p->node[i], false);
}

static void w_text(struct wbuf *w, const char *s)
{
	size_t n = strnlen(s, QKDN_ERRMSG_MAX);

	if (n >= QKDN_ERRMSG_MAX) {
		w->err = CTRLD_CX_EVALUE;
		return;
	}
	w_uint(w, n, 1);
	w_bytes(w, s, n);
}

bool ctrld_cx_cmd_msg(uint32_t msg)
{
	switch (msg) {
	case QKDN_MSG_NEXT_HOP_RESPONSE:
	case QKDN_MSG_KEY_RELAY_REQUEST:
	case QKDN_MSG_KEY_RESERVATION_REQUEST:
	case QKDN_MSG_KEY_ALLOCATION_REQUEST:
	case QKDN_MSG_SESSION_CREATION_NOTIFICATION:
	case QKDN_MSG_SESSION_CREATION_RESPONSE:
		return true;
	}
	return false;
}

bool ctrld_cx_session_msg(uint32_t msg)
{
	return msg == QKDN_MSG_SESSION_CREATION_REQUEST ||
	       msg == QKDN_MSG_SESSION_CREATION_NOTIFICATION ||
	       msg == QKDN_MSG_SESSION_NOTIFICATION_RESPONSE;
}

/* The fields each I.2 message needs (both ends check them). */
static bool session_ok(uint8_t hops, const struct ctrld_req *r)
{
	if (!ctrld_cx_session_msg(r->msg) || !hops ||
	    hops > QKDN_ROUTE_HOPS_MAX)
		return false;
	if (r->msg == QKDN_MSG_SESSION_CREATION_REQUEST)
		return r->ctrl_id && r->master[0] && r->slave[0];
	if (r->msg == QKDN_MSG_SESSION_CREATION_NOTIFICATION)
		return r->session_id && r->master[0] && r->slave[0];
	return r->session_id;
}

/* ANSWER, and the part of COMMAND that is one. */
static void w_answer(struct wbuf *w, const struct ctrld_answer *a)
{
	if (a->msg > 0xff) {
		w->err = CTRLD_CX_EVALUE;
		return;
	}
	w_uint(w, a->msg, 1);
	w_uint(w, a->ctrl_id, 4);
	w_uint(w, a->err, 4);
	w_text(w, a->errmsg);
	w_uint(w, a->path.metric, 4);
	w_uint(w, a->path.avail, 8);
	w_path(w, &a->path);
}

int ctrld_cx_encode(const struct ctrld_cx_msg *m, uint8_t *out, size_t outlen)
{
	struct wbuf w = { .p = out, .cap = outlen < CTRLD_CX_MAX ? outlen :
					  CTRLD_CX_MAX };
	uint32_t i;

	w_uint(&w, m->type, 1);
	switch (m->type) {
	case CTRLD_CX_LSA:
		if (m->lsa.n_links > CTRLD_LSA_LINKS_MAX || m->lsa.age > 0xffff)
			return -CTRLD_CX_ECOUNT;
		w_id(&w, m->lsa.origin, false);
		w_uint(&w, m->lsa.seq, 8);
		w_uint(&w, m->lsa.age, 2);
		w_uint(&w, m->lsa.n_links, 1);
		for (i = 0; i < m->lsa.n_links; i++) {
			w_id(&w, m->lsa.links[i].peer, false);
			w_uint(&w, m->lsa.links[i].up ? 1 : 0, 1);
			w_uint(&w, m->lsa.links[i].own_bytes, 8);
		}
		break;
	case CTRLD_CX_CTRL:
		if (m->req.msg > 0xff)
			return -CTRLD_CX_EVALUE;
		w_uint(&w, m->req.msg, 1);
		w_uint(&w, m->req.ctrl_id, 4);
		w_bytes(&w, m->req.relay_id, QKDN_RELAY_ID_LEN);
		w_id(&w, m->req.src, false);
		w_id(&w, m->req.dst, false);
		w_uint(&w, m->req.relay_bytes, 4);
		w_id(&w, m->req.peer, true);
		w_uint(&w, m->req.err, 4);
		break;
	case CTRLD_CX_ANSWER:
		w_answer(&w, &m->ans);
		break;
	case CTRLD_CX_ROUTE:
		w_uint(&w, m->route.gen, 4);
		w_id(&w, m->route.route.dst, false);
		w_uint(&w, m->route.route.path.metric, 4);
		w_uint(&w, m->route.route.path.avail, 8);
		w_path(&w, &m->route.route.path);
		break;
	case CTRLD_CX_ROUTES_END:
		w_uint(&w, m->end.gen, 4);
		w_uint(&w, m->end.count, 2);
		break;
	case CTRLD_CX_SESSION:
		if (!session_ok(m->session.hops, &m->session.req))
			return -CTRLD_CX_EVALUE;
		w_uint(&w, CTRLD_CX_VERSION, 1);
		w_uint(&w, m->session.req.msg, 1);
		w_uint(&w, m->session.hops, 1);
		w_uint(&w, m->session.req.ctrl_id, 4);
		w_uint(&w, m->session.req.session_id, 4);
		w_id(&w, m->session.req.src, false);
		w_id(&w, m->session.req.dst, false);
		w_id(&w, m->session.req.master, true);
		w_id(&w, m->session.req.slave, true);
		w_uint(&w, m->session.req.err, 4);
		w_text(&w, m->session.req.errmsg);
		break;
	case CTRLD_CX_COMMAND:
		if (!m->command.seq || !ctrld_cx_cmd_msg(m->command.cmd.msg))
			return -CTRLD_CX_EVALUE;
		w_uint(&w, CTRLD_CX_VERSION, 1);
		w_uint(&w, m->command.seq, 4);
		w_answer(&w, &m->command.cmd);
		w_bytes(&w, m->command.cmd.relay_id, QKDN_RELAY_ID_LEN);
		w_uint(&w, m->command.cmd.session_id, 4);
		w_id(&w, m->command.cmd.src, true);
		w_id(&w, m->command.cmd.master, true);
		w_id(&w, m->command.cmd.slave, true);
		break;
	case CTRLD_CX_RESULT:
		if (!m->result.seq || !ctrld_cx_cmd_msg(m->result.msg))
			return -CTRLD_CX_EVALUE;
		w_uint(&w, CTRLD_CX_VERSION, 1);
		w_uint(&w, m->result.seq, 4);
		w_uint(&w, m->result.msg, 1);
		w_uint(&w, m->result.err, 4);
		w_text(&w, m->result.errmsg);
		break;
	default:
		return -CTRLD_CX_ETYPE;
	}
	return w.err ? -w.err : (int)w.len;
}

static const uint8_t *r_bytes(struct rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->err || r->len - r->off < n) {
		if (!r->err)
			r->err = CTRLD_CX_ETRUNC;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t r_uint(struct rbuf *r, unsigned int bytes)
{
	const uint8_t *p = r_bytes(r, bytes);
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; p && i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

static void r_id(struct rbuf *r, char out[QKDN_ID_MAX], bool may_be_empty)
{
	size_t n = (size_t)r_uint(r, 1);
	const uint8_t *p;

	out[0] = '\0';
	if (r->err)
		return;
	if (n >= QKDN_ID_MAX || (!n && !may_be_empty)) {
		r->err = CTRLD_CX_EID;
		return;
	}
	p = r_bytes(r, n);
	if (!p)
		return;
	if (n && !qd_node_id_valid((const char *)p, n)) {
		r->err = CTRLD_CX_EID;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

static void r_text(struct rbuf *r, char out[QKDN_ERRMSG_MAX])
{
	size_t n = (size_t)r_uint(r, 1), i;
	const uint8_t *p;

	out[0] = '\0';
	if (r->err)
		return;
	if (n >= QKDN_ERRMSG_MAX) {
		r->err = CTRLD_CX_EVALUE;
		return;
	}
	p = r_bytes(r, n);
	if (!p)
		return;
	for (i = 0; i < n; i++) {
		if (p[i] < ' ' || p[i] >= 0x7f) {
			r->err = CTRLD_CX_EVALUE;
			return;
		}
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

static void r_path(struct rbuf *r, struct ctrld_path *p)
{
	unsigned int i, n = (unsigned int)r_uint(r, 1);

	if (r->err)
		return;
	if (n > QKDN_ROUTE_HOPS_MAX) {
		r->err = CTRLD_CX_ECOUNT;
		return;
	}
	p->n = n;
	for (i = 0; i < n; i++)
		r_id(r, p->node[i], false);
}

/* A Q.4160 message number: 1..QKDN_MSG_MAX. */
static uint32_t r_msg(struct rbuf *r)
{
	uint32_t msg = (uint32_t)r_uint(r, 1);

	if (!r->err && (msg == QKDN_MSG_UNSPEC || msg > QKDN_MSG_MAX))
		r->err = CTRLD_CX_EVALUE;
	return msg;
}

static void r_answer(struct rbuf *r, struct ctrld_answer *a)
{
	a->msg = r_msg(r);
	a->ctrl_id = (uint32_t)r_uint(r, 4);
	a->err = (uint32_t)r_uint(r, 4);
	r_text(r, a->errmsg);
	a->path.metric = (uint32_t)r_uint(r, 4);
	a->path.avail = r_uint(r, 8);
	r_path(r, &a->path);
}

/* The version byte of types 6 and up. */
static void r_version(struct rbuf *r)
{
	uint8_t v = (uint8_t)r_uint(r, 1);

	if (!r->err && v != CTRLD_CX_VERSION)
		r->err = CTRLD_CX_EVERSION;
}

/* A sequence number of COMMAND or RESULT, never 0. */
static uint32_t r_seq(struct rbuf *r)
{
	uint32_t seq = (uint32_t)r_uint(r, 4);

	if (!r->err && !seq)
		r->err = CTRLD_CX_EVALUE;
	return seq;
}

static void r_relay_id(struct rbuf *r, uint8_t id[QKDN_RELAY_ID_LEN])
{
	const uint8_t *b = r_bytes(r, QKDN_RELAY_ID_LEN);

	if (b)
		memcpy(id, b, QKDN_RELAY_ID_LEN);
}

int ctrld_cx_decode(const uint8_t *in, size_t len, struct ctrld_cx_msg *m)
{
	struct rbuf r = { .p = in, .len = len };
	uint32_t i;

	memset(m, 0, sizeof(*m));
	if (len > CTRLD_CX_MAX)
		return -CTRLD_CX_ETOOBIG;
	m->type = (uint8_t)r_uint(&r, 1);
	if (r.err)
		return -r.err;
	switch (m->type) {
	case CTRLD_CX_LSA:
		r_id(&r, m->lsa.origin, false);
		m->lsa.seq = r_uint(&r, 8);
		m->lsa.age = (uint32_t)r_uint(&r, 2);
		m->lsa.n_links = (uint32_t)r_uint(&r, 1);
		if (!r.err && m->lsa.n_links > CTRLD_LSA_LINKS_MAX)
			r.err = CTRLD_CX_ECOUNT;
		for (i = 0; !r.err && i < m->lsa.n_links; i++) {
			uint8_t fl;

			r_id(&r, m->lsa.links[i].peer, false);
			fl = (uint8_t)r_uint(&r, 1);
			if (!r.err && fl > 1)
				r.err = CTRLD_CX_EVALUE;
			m->lsa.links[i].up = fl & 1;
			m->lsa.links[i].own_bytes = r_uint(&r, 8);
		}
		if (!r.err && !ctrld_lsa_normalize(&m->lsa))
			r.err = CTRLD_CX_EVALUE;
		break;
	case CTRLD_CX_CTRL:
		m->req.msg = r_msg(&r);
		m->req.ctrl_id = (uint32_t)r_uint(&r, 4);
		r_relay_id(&r, m->req.relay_id);
		r_id(&r, m->req.src, false);
		r_id(&r, m->req.dst, false);
		m->req.relay_bytes = (uint32_t)r_uint(&r, 4);
		r_id(&r, m->req.peer, true);
		m->req.err = (uint32_t)r_uint(&r, 4);
		break;
	case CTRLD_CX_ANSWER:
		r_answer(&r, &m->ans);
		break;
	case CTRLD_CX_ROUTE:
		m->route.gen = (uint32_t)r_uint(&r, 4);
		r_id(&r, m->route.route.dst, false);
		m->route.route.path.metric = (uint32_t)r_uint(&r, 4);
		m->route.route.path.avail = r_uint(&r, 8);
		r_path(&r, &m->route.route.path);
		if (!r.err && m->route.route.path.n < 2)
			r.err = CTRLD_CX_EVALUE;
		break;
	case CTRLD_CX_ROUTES_END:
		m->end.gen = (uint32_t)r_uint(&r, 4);
		m->end.count = (uint16_t)r_uint(&r, 2);
		break;
	case CTRLD_CX_SESSION:
		r_version(&r);
		m->session.req.msg = r_msg(&r);
		m->session.hops = (uint8_t)r_uint(&r, 1);
		m->session.req.ctrl_id = (uint32_t)r_uint(&r, 4);
		m->session.req.session_id = (uint32_t)r_uint(&r, 4);
		r_id(&r, m->session.req.src, false);
		r_id(&r, m->session.req.dst, false);
		r_id(&r, m->session.req.master, true);
		r_id(&r, m->session.req.slave, true);
		m->session.req.err = (uint32_t)r_uint(&r, 4);
		r_text(&r, m->session.req.errmsg);
		if (!r.err && !session_ok(m->session.hops, &m->session.req))
			r.err = CTRLD_CX_EVALUE;
		break;
	case CTRLD_CX_COMMAND:
		r_version(&r);
		m->command.seq = r_seq(&r);
		r_answer(&r, &m->command.cmd);
		if (!r.err && !ctrld_cx_cmd_msg(m->command.cmd.msg))
			r.err = CTRLD_CX_EVALUE;
		r_relay_id(&r, m->command.cmd.relay_id);
		m->command.cmd.session_id = (uint32_t)r_uint(&r, 4);
		r_id(&r, m->command.cmd.src, true);
		r_id(&r, m->command.cmd.master, true);
		r_id(&r, m->command.cmd.slave, true);
		break;
	case CTRLD_CX_RESULT:
		r_version(&r);
		m->result.seq = r_seq(&r);
		m->result.msg = r_msg(&r);
		if (!r.err && !ctrld_cx_cmd_msg(m->result.msg))
			r.err = CTRLD_CX_EVALUE;
		m->result.err = (uint32_t)r_uint(&r, 4);
		r_text(&r, m->result.errmsg);
		break;
	default:
		r.err = CTRLD_CX_ETYPE;
	}
	if (!r.err && r.off != len)
		r.err = CTRLD_CX_ETRAIL;
	return r.err ? -r.err : 0;
}

const char *ctrld_cx_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case CTRLD_CX_OK:
		return "no error";
	case CTRLD_CX_ETRUNC:
		return "truncated";
	case CTRLD_CX_ETYPE:
		return "unknown message type";
	case CTRLD_CX_EID:
		return "bad node ID";
	case CTRLD_CX_ECOUNT:
		return "too many entries";
	case CTRLD_CX_ETRAIL:
		return "trailing bytes";
	case CTRLD_CX_EVALUE:
		return "bad value";
	case CTRLD_CX_ETOOBIG:
		return "message too long";
	case CTRLD_CX_EVERSION:
		return "unknown message version";
	}
	return "unknown error";
}

const char *ctrld_cx_type_name(uint8_t type)
{
	switch (type) {
	case CTRLD_CX_LSA:
		return "lsa";
	case CTRLD_CX_CTRL:
		return "ctrl";
	case CTRLD_CX_ANSWER:
		return "answer";
	case CTRLD_CX_ROUTE:
		return "route";
	case CTRLD_CX_ROUTES_END:
		return "routes-end";
	case CTRLD_CX_SESSION:
		return "session";
	case CTRLD_CX_COMMAND:
		return "command";
	case CTRLD_CX_RESULT:
		return "result";
	}
	return "?";
}
