// SPDX-License-Identifier: GPL-2.0
/*
 * HTTPS for qkdn-kmed: libevent's evhttp over bufferevent_openssl, one
 * event loop per thread, each with its own SO_REUSEPORT listener and its
 * own gateway socket to the kernel.
 *
 * A key request is first asked without waiting (QKDN_A_NOWAIT): the
 * common case, keys from a link's pool, is answered in the loop. A request
 * that would wait (a relay, a reservation still on its way, and every
 * multicast request: its keys always go by relay) goes to a waiter
 * thread, which asks again and waits; the answer comes back to the
 * loop with event_base_once(). A connection that closes meanwhile leaves
 * its job orphaned: the keys it got are erased, never sent.
 *
 * Connections per loop are capped: the loop stops accepting at the cap,
 * and takes new ones again as others close. One timeout covers the TLS
 * handshake, a slow request and an idle keep-alive connection: a
 * connection has that long, from its accept or from its last answer, to
 * deliver a whole request (a deadline of our own, since libevent's timeout
 * is per read and a client sending a byte now and then would never meet
 * it). libevent's timeout stays, for answers the client does not read.
 *
 * What evhttp refuses itself (request line and headers it cannot parse or
 * over KMED_HEADERS_MAX, a body over ETSI_BODY_MAX, an unknown method, an
 * unknown expectation) is answered in JSON and logged all the same: see
 * evhttp_send_error() below.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>	/* major, minor, headers_size, chunked */
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "kmed.h"
#include "libqkdn.h"
#include "log.h"

struct kmed_loop {
	struct kmed *d;
	pthread_t thread;
	bool started;
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *listener;
	struct kmed_nl nl;
	unsigned int conns;
	bool paused;			/* at the cap: not accepting */
	bool closing;			/* its listener is gone */
};

struct kmed_job;

/* One TLS connection: SSL ex_data, freed with its SSL. */
struct kmed_conn {
	struct kmed_loop *loop;
	struct bufferevent *bev;
	struct event *deadline;		/* for the next whole request */
	struct kmed_job *job;		/* at a waiter, or NULL */
	bool closecb_set;
	bool known;			/* credential read, SAE found */
	char cred[QKDN_CRED_MAX];
	struct kmed_client client;
	char peer[64];			/* the client's address, for the log */
};

/* A request handed to a waiter. */
struct kmed_job {
	struct kmed_job *next;
	struct kmed_job *all_prev, *all_next;	/* kmed_waiters.all */
	struct kmed_loop *loop;
	struct kmed_conn *conn;		/* NULL once it closed */
	struct evhttp_request *req;
	bool req_ours;			/* libevent let go of req: free it */
	const char *allow;		/* the methods of the path, for a 405 */
	struct kmed_client client;
	char cred[QKDN_CRED_MAX];
	struct etsi_path path;
	struct etsi_enc_req enc;
	struct etsi_dec_req dec;
	struct timespec t0;
	/* The outcome. */
	struct kmed_keys keys;
	struct etsi_error err;
	int ret;
};

struct kmed_waiters {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct kmed_job *head, **tail;
	/*
	 * Every job from its queueing to its answer in the loop, so that
	 * those a stop leaves behind (queued, or with an answer the loop will
	 * never run) are erased and freed.
	 */
	struct kmed_job *all;
	bool stop;
	unsigned int n;
	struct {
		pthread_t thread;
		bool started;
		struct kmed_nl nl;
	} w[KMED_THREADS_MAX];
};

static int conn_idx = -1;
/* The daemon, for libevent's refusals on a connection without a record. */
static struct kmed *kmed_self;

/* ---- answers and the access log ---- */

static double since_ms(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void access_log(struct kmed *d, struct evhttp_request *req,
		       const struct kmed_conn *c, int status, size_t bytes,
		       const struct timespec *t0)
{
	static const char *const methods[] = { "GET", "POST", "HEAD", "PUT",
		"DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH" };
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *m = "?";
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	unsigned int i;

	if (!d->access)
		return;
	for (i = 0; i < sizeof(methods) / sizeof(*methods); i++)
		if ((unsigned int)cmd == 1U << i)
			m = methods[i];
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* Never key bytes: the path and its query hold SAE and key IDs. */
	pthread_mutex_lock(&d->access_lock);
	fprintf(d->access, "%s %s sae=%s %s %.200s %d %zu %.3fms\n", when,
		c && c->peer[0] ? c->peer : "-",
		c && c->known ? c->client.sae : "-", m, uri ? uri : "-",
		status, bytes, since_ms(t0));
	fflush(d->access);
	pthread_mutex_unlock(&d->access_lock);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 417: return "Expectation Failed";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	}
	return NULL;			/* libevent's phrase */
}

static void json_free_cb(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	etsi_free((char *)data);
}

/* When even the message cannot be built. */
static const char oom_json[] = "{\"message\":\"out of memory\"}";

/*
 * Sends e and closes the connection after it, as evhttp_send_error()
 * does: for what libevent refuses itself (the rest of the input cannot be
 * trusted: a body left unread, a request line that did not parse), and
 * when memory runs out. The message is copied: it holds no key bytes.
 */
static void refuse(struct kmed *d, struct evhttp_request *req,
		   const struct kmed_conn *c, const struct etsi_error *e,
		   const struct timespec *t0)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	char *json = NULL;
	size_t len = 0;

	evhttp_clear_headers(h);
	evbuffer_drain(out, evbuffer_get_length(out));
	if (etsi_error_json(e, &json, &len) || evbuffer_add(out, json, len)) {
		evbuffer_drain(out, evbuffer_get_length(out));
		len = evbuffer_add(out, oom_json, sizeof(oom_json) - 1) ? 0 :
		      sizeof(oom_json) - 1;
	}
	etsi_free(json);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Connection", "close");
	/* A request line that did not parse left no HTTP version. */
	if (req->major != 1) {
		req->major = 1;
		req->minor = 1;
	}
	if (d)
		access_log(d, req, c, e->status, len, t0);
	evhttp_send_reply(req, e->status, reason(e->status), NULL);
}

static void refuse_oom(struct kmed *d, struct evhttp_request *req,
		       const struct kmed_conn *c, const struct timespec *t0)
{
	struct etsi_error e;

	etsi_fail(&e, 503, "out of memory");
	refuse(d, req, c, &e, t0);
}

/*
 * Sends json (taken: erased and freed once sent) with status; a 405 names
 * the methods allowed. The line of the access log comes first: once sent,
 * a request whose client has gone is freed at once.
 */
static void reply(struct kmed_loop *l, struct evhttp_request *req,
		  struct kmed_conn *c, int status, const char *allow,
		  char *json, size_t len, const struct timespec *t0)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();

	evhttp_add_header(h, "Content-Type", "application/json");
	if (status == 405)
		evhttp_add_header(h, "Allow", allow ? allow : "GET, POST");
	if (!out || evbuffer_add_reference(out, json, len, json_free_cb,
					   NULL)) {
		etsi_free(json);
		refuse_oom(l->d, req, c, t0);
	} else {
		access_log(l->d, req, c, status, len, t0);
		/* The body stays in json, erased when the buffer lets go. */
		evhttp_send_reply(req, status, reason(status), out);
	}
	if (out)
		evbuffer_free(out);
}

static void reply_error(struct kmed_loop *l, struct evhttp_request *req,
			struct kmed_conn *c, const struct etsi_error *e,
			const char *allow, const struct timespec *t0)
{
	size_t len;
	char *json;

	if (etsi_error_json(e, &json, &len)) {
		refuse_oom(l->d, req, c, t0);
		return;
	}
	reply(l, req, c, e->status, allow, json, len, t0);
}

static void reply_keys(struct kmed_loop *l, struct evhttp_request *req,
		       struct kmed_conn *c, struct kmed_keys *k,
		       const struct timespec *t0)
{
	struct etsi_error e;
	size_t len;
	char *json;
	int err;

	err = etsi_keys_json(k->keys, k->n, &json, &len);
	kmed_keys_release(k);
	if (err) {
		etsi_fail(&e, 503, "out of memory");
		reply_error(l, req, c, &e, NULL, t0);
		return;
	}
	reply(l, req, c, 200, NULL, json, len, t0);
}

/* ---- waiters ---- */

static void job_free(struct kmed_job *j)
{
	kmed_keys_release(&j->keys);
	free(j);
}

/* Off the list of jobs under way (the loop's side), then freed. */
static void job_end(struct kmed_waiters *ws, struct kmed_job *j)
{
	pthread_mutex_lock(&ws->lock);
	if (j->all_prev)
		j->all_prev->all_next = j->all_next;
	else
		ws->all = j->all_next;
	if (j->all_next)
		j->all_next->all_prev = j->all_prev;
	pthread_mutex_unlock(&ws->lock);
	job_free(j);
}

/* In the loop: a waiter's answer. */
static void job_done(evutil_socket_t fd, short what, void *arg)
{
	struct kmed_job *j = arg;
	struct kmed_waiters *ws = j->loop->d->waiters;

	(void)fd;
	(void)what;
	if (!j->conn) {		/* the client left: nothing to send */
		if (j->req_ours)
			evhttp_request_free(j->req);
		job_end(ws, j);
		return;
	}
	j->conn->job = NULL;
	if (j->ret)
		reply_error(j->loop, j->req, j->conn, &j->err, j->allow,
			    &j->t0);
	else
		reply_keys(j->loop, j->req, j->conn, &j->keys, &j->t0);
	job_end(ws, j);
}

static void *waiter_main(void *arg)
{
	struct kmed *d = ((void **)arg)[0];
	struct kmed_nl *nl = ((void **)arg)[1];
	struct kmed_waiters *ws = d->waiters;
	struct kmed_job *j;

	free(arg);
	for (;;) {
		pthread_mutex_lock(&ws->lock);
		while (!ws->head && !ws->stop)
			pthread_cond_wait(&ws->cond, &ws->lock);
		if (ws->stop) {
			pthread_mutex_unlock(&ws->lock);
			return NULL;
		}
		j = ws->head;
		ws->head = j->next;
		if (!ws->head)
			ws->tail = &ws->head;
		pthread_mutex_unlock(&ws->lock);

		j->client.cred = j->cred;
		if (j->path.op == ETSI_ENC_KEYS)
			j->ret = kmed_enc_keys(nl, &j->client, j->path.sae,
					       &j->enc, false, &j->keys,
					       &j->err);
		else
			j->ret = kmed_dec_keys(nl, &j->client, j->path.sae,
					       &j->dec, false, &j->keys,
					       &j->err);
		if (j->ret == -EWOULDBLOCK) {
			etsi_fail(&j->err, 503, "the key manager is busy");
			j->ret = -1;
		}
		/* Left on the list if this fails: erased at the stop. */
		if (event_base_once(j->loop->base, -1, EV_TIMEOUT, job_done, j,
				    NULL))
			qd_err("cannot hand an answer back to its loop");
	}
}

static void job_queue(struct kmed *d, struct kmed_job *j)
{
	struct kmed_waiters *ws = d->waiters;

	pthread_mutex_lock(&ws->lock);
	j->next = NULL;
	*ws->tail = j;
	ws->tail = &j->next;
	j->all_prev = NULL;
	j->all_next = ws->all;
	if (ws->all)
		ws->all->all_prev = j;
	ws->all = j;
	pthread_cond_signal(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
}

/* ---- requests ---- */

/* A connection has timeout seconds from now to deliver a whole request. */
static void deadline_arm(struct kmed_conn *c)
{
	struct timeval tv = { .tv_sec = c->loop->d->cfg.timeout };

	if (c->deadline)
		evtimer_add(c->deadline, &tv);
}

/*
 * Past it: the socket is shut down, which libevent reads as the client
 * closing (in the handshake as in a request), and frees the connection.
 * Armed only while libevent reads from the client.
 */
static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct kmed_conn *c = arg;
	evutil_socket_t s = bufferevent_getfd(c->bev);

	(void)fd;
	(void)what;
	if (s >= 0)
		shutdown(s, SHUT_RDWR);
}

/* An answer is out: the next request's deadline starts. */
static void request_done(struct evhttp_request *req, void *arg)
{
	(void)req;
	deadline_arm(arg);
}

static void conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct kmed_conn *c = arg;
	struct kmed_job *j = c->job;

	(void)evcon;
	if (j) {
		/*
		 * Its answer will have no one. libevent frees the request
		 * with the connection unless it let go of it first; then it
		 * is ours to free.
		 */
		j->req_ours = !evhttp_request_get_connection(j->req);
		j->conn = NULL;
		c->job = NULL;
	}
}

/* The connection record of a request's TLS session, or NULL. */
static struct kmed_conn *request_conn(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ?
		evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	struct kmed_conn *c = ssl ? SSL_get_ex_data(ssl, conn_idx) : NULL;
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (!c)
		return NULL;
	if (!c->closecb_set) {
		evhttp_connection_set_closecb(evcon, conn_closed, c);
		c->closecb_set = true;
	}
	if (!c->peer[0]) {
		evhttp_connection_get_peer(evcon, &addr, &port);
		if (addr)
			snprintf(c->peer, sizeof(c->peer),
				 strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr,
				 port);
	}
	return c;
}

/* The credential of the client's certificate, and its SAE: 0 or -1. */
static int request_client(struct kmed_loop *l, struct kmed_conn *c,
			  struct etsi_error *e)
{
	SSL *ssl;

	if (!c)
		return etsi_fail(e, 401, "no TLS client certificate");
	if (c->known)
		return 0;
	ssl = bufferevent_openssl_get_ssl(c->bev);
	if (kmed_tls_identity(ssl, l->d->cfg.identity, c->cred,
			      sizeof(c->cred)) < 0)
		return etsi_fail(e, 401, "the client certificate names no SAE in the configured form");
	c->client.cred = c->cred;
	if (kmed_client_find(&l->nl, &c->client, e))
		return -1;
	c->known = true;
	return 0;
}

/* The body of a POST, at most ETSI_BODY_MAX bytes (evhttp enforces). */
static const char *request_body(struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);

	*len = evbuffer_get_length(in);
	return *len ? (const char *)evbuffer_pullup(in, -1) : "";
}

/*
 * The path first (404 for one that is not the API's), then the method
 * (405, with the path's methods in j->allow), then the parameters.
 */
static int request_parse(struct evhttp_request *req, struct kmed_job *j,
			 struct etsi_error *e)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	struct etsi_limits lim;
	const char *body;
	size_t len;

	if (etsi_path_parse(uri ? evhttp_uri_get_path(uri) : NULL, &j->path,
			    e))
		return -1;
	if (j->path.op == ETSI_STATUS) {
		j->allow = "GET";
		if (cmd != EVHTTP_REQ_GET)
			return etsi_fail(e, 405, "status is read with GET");
		return 0;
	}
	j->allow = "GET, POST";
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_POST)
		return etsi_fail(e, 405, "only GET and POST are served");
	if (cmd == EVHTTP_REQ_POST && query && query[0])
		return etsi_fail(e, 400, "a POST request takes its parameters in its body");
	kmed_limits(&lim);
	body = request_body(req, &len);
	if (j->path.op == ETSI_ENC_KEYS) {
		if (cmd == EVHTTP_REQ_GET)
			return etsi_enc_query(query, &lim, &j->enc, e);
		/* Multicast: the more slaves, none the path's slave again. */
		return etsi_enc_body(body, len, &lim, &j->enc, e) ||
		       etsi_enc_slaves_check(&j->enc, j->path.sae, e) ? -1 : 0;
	}
	return cmd == EVHTTP_REQ_GET ? etsi_dec_query(query, &j->dec, e) :
	       etsi_dec_body(body, len, &j->dec, e);
}

static void request_cb(struct evhttp_request *req, void *arg)
{
	struct kmed_loop *l = arg;
	struct kmed_conn *c = request_conn(req);
	struct kmed_job *j;
	struct etsi_error e;
	size_t len;
	char *json;

	if (c) {
		/* No deadline while the request is ours, until its answer. */
		if (c->deadline)
			evtimer_del(c->deadline);
		evhttp_request_set_on_complete_cb(req, request_done, c);
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		struct timespec t0;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		refuse_oom(l->d, req, c, &t0);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &j->t0);
	if (request_client(l, c, &e) || request_parse(req, j, &e))
		goto fail;
	if (j->path.op == ETSI_STATUS) {
		if (kmed_status(&l->nl, &c->client, j->path.sae, &json, &len,
				&e))
			goto fail;
		reply(l, req, c, 200, NULL, json, len, &j->t0);
		free(j);
		return;
	}
	/* Keys: at once if the kernel has them, else at a waiter. */
	j->ret = j->path.op == ETSI_ENC_KEYS ?
		 kmed_enc_keys(&l->nl, &c->client, j->path.sae, &j->enc, true,
			       &j->keys, &e) :
		 kmed_dec_keys(&l->nl, &c->client, j->path.sae, &j->dec, true,
			       &j->keys, &e);
	if (j->ret == -EWOULDBLOCK) {
		j->loop = l;
		j->conn = c;
		j->req = req;
		j->client = c->client;
		memcpy(j->cred, c->cred, sizeof(j->cred));
		c->job = j;
		job_queue(l->d, j);
		return;
	}
	if (j->ret)
		goto fail;
	reply_keys(l, req, c, &j->keys, &j->t0);
	free(j);
	return;
fail:
	reply_error(l, req, c, &e, j->allow, &j->t0);
	job_free(j);
}

/* ---- libevent's own refusals ---- */

/*
 * Whether a 400 of libevent's came of the request line and headers being
 * over KMED_HEADERS_MAX: a line over it alone (headers_size counts the
 * lines read so far), or an unfinished one that made them so. A request
 * line over it that came whole leaves no trace: that one gets the message
 * for a malformed request, which names the limit too.
 */
static bool headers_over(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ?
		evhttp_connection_get_bufferevent(evcon) : NULL;
	struct evbuffer *in = bev ? bufferevent_get_input(bev) : NULL;
	struct evbuffer_ptr eol;

	if (req->headers_size > KMED_HEADERS_MAX)
		return true;
	if (!in)
		return false;
	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_CRLF);
	return eol.pos < 0 &&
	       req->headers_size + evbuffer_get_length(in) > KMED_HEADERS_MAX;
}

/*
 * libevent's evhttp answers some requests itself, before request_cb()
 * sees them, with evhttp_send_error(): a request line or headers it cannot
 * parse, or over KMED_HEADERS_MAX (400); a body over ETSI_BODY_MAX (413,
 * once read away: EVHTTP_SERVER_LINGERING_CLOSE), or a malformed chunked
 * one (413 too); an expectation other than 100-continue (417); a method it
 * does not know (501). Its answer is an HTML page, and the gateway never
 * hears of it. libevent 2.1 has no hook for this (evhttp_set_errorcb() and
 * evhttp_set_newreqcb() came with 2.2), but its shared library calls
 * evhttp_send_error() through its PLT, as any exported function, so this
 * definition in the executable is the one those calls reach (ELF symbol
 * interposition; the gateway's own calls come here too). It answers as
 * libevent would, once, where libevent would, with the same status and
 * Connection: close, and the limits stay libevent's: only the body (JSON)
 * and the line in the access log are new. Were libevent ever linked so
 * that it calls its own copy directly (statically, -Bsymbolic), its HTML
 * would come back; etsi014_errors.sh checks for JSON.
 */
void evhttp_send_error(struct evhttp_request *req, int status,
		       const char *why)
{
	struct kmed_conn *c = request_conn(req);
	struct etsi_refusal r = {
		.status = status,
		.max_headers = KMED_HEADERS_MAX,
		.max_body = ETSI_BODY_MAX,
	};
	struct etsi_error e, ignored;
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (status < 400 || status > 599)	/* never from libevent 2.1 */
		r.status = status = 400;
	if (why) {
		etsi_fail(&e, status, "%s", why);
	} else {
		r.headers_over = status == 400 && headers_over(req);
		r.chunked = req->chunked;
		etsi_refusal_error(&r, &e);
	}
	/* Only for the log's sae=: the refusal stands whoever asked. */
	if (c)
		request_client(c->loop, c, &ignored);
	refuse(c ? c->loop->d : kmed_self, req, c, &e, &t0);
}

/* ---- connections ---- */

static void conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
		      long argl, void *argp)
{
	struct kmed_conn *c = ptr;
	struct kmed_loop *l;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (!c)
		return;
	l = c->loop;
	if (c->job)
		c->job->conn = NULL;
	if (c->deadline)
		event_free(c->deadline);
	if (--l->conns < l->d->cfg.max_conns && l->paused && !l->closing) {
		evconnlistener_enable(l->listener);
		l->paused = false;
	}
	free(c);
}

/* evhttp's new connection: a TLS session on the current context. */
static struct bufferevent *conn_new(struct event_base *base, void *arg)
{
	struct kmed_loop *l = arg;
	struct bufferevent *bev;
	struct kmed_conn *c;
	SSL_CTX *ctx;
	SSL *ssl;

	c = calloc(1, sizeof(*c));
	pthread_mutex_lock(&l->d->tls_lock);
	ctx = l->d->tls;
	ssl = SSL_new(ctx);
	pthread_mutex_unlock(&l->d->tls_lock);
	/*
	 * libevent would serve the connection in the clear if we returned
	 * NULL. Without an SSL there is no choice: every request on it is
	 * refused (request_client()). A session without a connection
	 * record is refused the same way.
	 */
	if (!ssl) {
		qd_err("cannot create a TLS session");
		free(c);
		return NULL;
	}
	if (c && !SSL_set_ex_data(ssl, conn_idx, c)) {
		free(c);
		c = NULL;
	}
	if (c) {
		c->loop = l;
		c->deadline = evtimer_new(base, deadline_cb, c);
		if (++l->conns >= l->d->cfg.max_conns && !l->paused) {
			evconnlistener_disable(l->listener);
			l->paused = true;
		}
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
					     BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);		/* and c with it */
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	if (c) {
		/* The handshake and the first request. */
		c->bev = bev;
		deadline_arm(c);
	}
	return bev;
}

/* ---- loops ---- */

static void *loop_main(void *arg)
{
	struct kmed_loop *l = arg;

	event_base_dispatch(l->base);
	return NULL;
}

static int loop_listen(struct kmed *d)
{
	const struct kmed_config *c = &d->cfg;
	struct addrinfo hints = {
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *ai;
	int fd, one = 1, err;

	err = getaddrinfo(c->common.listen_host[0] ? c->common.listen_host :
			  NULL, c->common.listen_port, &hints, &ai);
	if (err) {
		qd_err("listen %s:%s: %s", c->common.listen_host,
		       c->common.listen_port, gai_strerror(err));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    /* Accepted sockets inherit it: each answer would wait an ACK. */
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 1024)) {
		qd_err("listen %s:%s: %s", c->common.listen_host,
		       c->common.listen_port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int loop_init(struct kmed *d, struct kmed_loop *l)
{
	int fd, err;

	l->d = d;
	err = kmed_nl_open(&l->nl);
	if (err)
		return -1;
	l->base = event_base_new();
	l->http = l->base ? evhttp_new(l->base) : NULL;
	if (!l->http)
		return -1;
	fd = loop_listen(d);
	if (fd < 0)
		return -1;
	l->listener = evconnlistener_new(l->base, NULL, NULL,
					 LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!l->listener) {
		close(fd);
		return -1;
	}
	if (!evhttp_bind_listener(l->http, l->listener)) {
		evconnlistener_free(l->listener);
		l->listener = NULL;
		return -1;
	}
	evhttp_set_bevcb(l->http, conn_new, l);
	evhttp_set_gencb(l->http, request_cb, l);
	/*
	 * Every method libevent knows reaches request_cb, which answers 405
	 * in JSON; one it does not know is its 501 (evhttp_send_error()).
	 */
	evhttp_set_allowed_methods(l->http, 0x1ff);
	evhttp_set_max_body_size(l->http, ETSI_BODY_MAX);
	evhttp_set_max_headers_size(l->http, KMED_HEADERS_MAX);
	evhttp_set_timeout(l->http, d->cfg.timeout);
	/* An oversized body is read away, so that the client sees the 413. */
	evhttp_set_flags(l->http, EVHTTP_SERVER_LINGERING_CLOSE);
	return 0;
}

static void loop_free(struct kmed_loop *l)
{
	l->closing = true;
	if (l->http)
		evhttp_free(l->http);	/* and its listener */
	else if (l->listener)
		evconnlistener_free(l->listener);
	if (l->base)
		event_base_free(l->base);
	kmed_nl_close(&l->nl);
}

/* ---- the daemon's side ---- */

static int waiters_start(struct kmed *d)
{
	struct kmed_waiters *ws;
	unsigned int i;

	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return -1;
	d->waiters = ws;
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->cond, NULL);
	ws->tail = &ws->head;
	for (i = 0; i < d->cfg.waiters; i++) {
		if (kmed_nl_open(&ws->w[i].nl))
			return -1;
		ws->n++;
	}
	return 0;
}

static int waiters_run(struct kmed *d)
{
	struct kmed_waiters *ws = d->waiters;
	unsigned int i;
	void **arg;

	for (i = 0; i < ws->n; i++) {
		arg = malloc(2 * sizeof(*arg));
		if (!arg)
			return -1;
		arg[0] = d;
		arg[1] = &ws->w[i].nl;
		if (pthread_create(&ws->w[i].thread, NULL, waiter_main, arg)) {
			free(arg);
			return -1;
		}
		ws->w[i].started = true;
	}
	return 0;
}

static void waiters_stop(struct kmed *d)
{
	struct kmed_waiters *ws = d->waiters;
	struct kmed_job *j;
	unsigned int i;

	if (!ws)
		return;
	pthread_mutex_lock(&ws->lock);
	ws->stop = true;
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
	for (i = 0; i < ws->n; i++) {
		if (ws->w[i].started)
			pthread_join(ws->w[i].thread, NULL);
		kmed_nl_close(&ws->w[i].nl);
	}
	/* Queued, or answered to a loop that is gone: erased, not sent. */
	while ((j = ws->all)) {
		ws->all = j->all_next;
		if (j->conn)
			j->conn->job = NULL;
		else if (j->req_ours)
			evhttp_request_free(j->req);
		job_free(j);
	}
	pthread_mutex_destroy(&ws->lock);
	pthread_cond_destroy(&ws->cond);
	free(ws);
	d->waiters = NULL;
}

static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		qd_err("user %s: no such user", user);
		return -1;
	}
	if (setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		qd_err("cannot become %s: %s", user, strerror(errno));
		return -1;
	}
	return 0;
}

int kmed_http_start(struct kmed *d)
{
	char err[512];
	unsigned int i;
	long n;

	kmed_self = d;
	if (conn_idx < 0)
		conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free);
	if (conn_idx < 0 || evthread_use_pthreads()) {
		qd_err("cannot set up OpenSSL and libevent for threads");
		return -1;
	}
	d->tls = kmed_tls_ctx(&d->cfg, err, sizeof(err));
	if (!d->tls) {
		qd_err("bad config: %s", err);
		return -1;
	}
	n = sysconf(_SC_NPROCESSORS_ONLN);
	d->nloops = d->cfg.threads ? d->cfg.threads :
		    n < 1 ? 1 : n > KMED_THREADS_MAX ? KMED_THREADS_MAX : n;
	d->loops = calloc(d->nloops, sizeof(*d->loops));
	if (!d->loops)
		return -1;
	/* Every socket first (the gateway role needs CAP_NET_ADMIN)... */
	for (i = 0; i < d->nloops; i++)
		if (loop_init(d, &d->loops[i]))
			return -1;
	if (waiters_start(d))
		return -1;
	/* ... then no more root. */
	if (d->cfg.user[0] && drop_privileges(d->cfg.user))
		return -1;
	return 0;
}

/* The threads, once the daemon has left its parent. */
int kmed_http_run(struct kmed *d)
{
	unsigned int i;

	if (waiters_run(d))
		return -1;
	for (i = 0; i < d->nloops; i++) {
		if (pthread_create(&d->loops[i].thread, NULL, loop_main,
				   &d->loops[i]))
			return -1;
		d->loops[i].started = true;
	}
	return 0;
}

void kmed_http_stop(struct kmed *d)
{
	unsigned int i;

	for (i = 0; d->loops && i < d->nloops; i++)
		if (d->loops[i].started)
			event_base_loopbreak(d->loops[i].base);
	for (i = 0; d->loops && i < d->nloops; i++)
		if (d->loops[i].started)
			pthread_join(d->loops[i].thread, NULL);
	/* Waiters first: their answers go to the loops' bases. */
	waiters_stop(d);
	for (i = 0; d->loops && i < d->nloops; i++)
		loop_free(&d->loops[i]);
	kmed_self = NULL;
	free(d->loops);
	d->loops = NULL;
	SSL_CTX_free(d->tls);
	d->tls = NULL;
}

void kmed_http_reload(struct kmed *d)
{
	char err[512];
	SSL_CTX *fresh, *old;

	fresh = kmed_tls_ctx(&d->cfg, err, sizeof(err));
	if (!fresh) {
		qd_err("reload: %s; the current certificates stay", err);
		return;
	}
	pthread_mutex_lock(&d->tls_lock);
	old = d->tls;
	d->tls = fresh;
	pthread_mutex_unlock(&d->tls_lock);
	/* Open connections hold their own reference. */
	SSL_CTX_free(old);
	qd_notice("reloaded %s, %s and %s for new connections",
		  d->cfg.common.cert, d->cfg.common.key, d->cfg.common.ca);
}
