// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-kmed configuration file: "key = value" lines, '#' comments.
 *
 *	listen = ADDR:PORT	numeric IPv4, or [IPv6]; HTTPS
 *	cert = FILE		the gateway's certificate chain (PEM)
 *	key = FILE		its private key (PEM)
 *	ca = FILE		CA certificate(s) that sign the SAEs' (PEM)
 *	identity = cn | subject | san-dns | san-uri | san-email
 *				the client credential (default cn)
 *	threads = N		event loops, 1..64 (default: one per CPU)
 *	waiters = N		threads for requests that wait for a relay,
 *				1..64 (default 4)
 *	max_connections = N	per event loop, 1..65536 (default 1024)
 *	timeout = SECONDS	TLS handshake, idle keep-alive, a slow
 *				request, 1..3600 (default 10)
 *	access_log = FILE | -	one line a request ("-": stderr; default
 *				none)
 *	user = NAME		run as this user once the sockets are open
 */
#include <string.h>
#include <stdlib.h>

#include "kmed.h"

static const char *const identities[] = {
	[KMED_ID_CN] = "cn",
	[KMED_ID_SUBJECT] = "subject",
	[KMED_ID_SAN_DNS] = "san-dns",
	[KMED_ID_SAN_URI] = "san-uri",
	[KMED_ID_SAN_EMAIL] = "san-email",
};

struct cfg_seen {
	struct kmed_config *cfg;
	bool identity, threads, waiters, conns, timeout, user;
};

static int once(struct qd_conf *p, bool *seen, const char *kw)
{
	if (*seen)
		return qd_conf_fail(p, "duplicate '%s'", kw);
	*seen = true;
	return 0;
}

static int uint_key(struct qd_conf *p, bool *seen, const char *kw,
		    const char *val, uint64_t min, uint64_t max,
		    unsigned int *out)
{
	uint64_t v;

	if (once(p, seen, kw) || qd_conf_uint(p, kw, val, min, max, &v))
		return -1;
	*out = v;
	return 0;
}

static int cfg_line(struct qd_conf *p, void *ctx, const char *kw,
		    const char *arg, bool more, const char *val)
{
	struct cfg_seen *st = ctx;
	struct kmed_config *c = st->cfg;
	size_t i;
	int r;

	if (!strcmp(kw, "peer"))
		return qd_conf_fail(p, "unknown key '%s'", kw);
	r = qd_conf_daemon_key(p, &c->common, kw, arg, more, val);
	if (r <= 0)
		return r;
	if (arg)
		return qd_conf_fail(p, "unexpected '%s' after '%s'", arg, kw);
	if (!strcmp(kw, "identity")) {
		if (once(p, &st->identity, kw))
			return -1;
		for (i = 0; i < sizeof(identities) / sizeof(*identities); i++)
			if (!strcmp(val, identities[i])) {
				c->identity = i;
				return 0;
			}
		return qd_conf_fail(p, "identity: '%s' is none of cn, subject, san-dns, san-uri, san-email",
				    val);
	}
	if (!strcmp(kw, "threads"))
		return uint_key(p, &st->threads, kw, val, 1, KMED_THREADS_MAX,
				&c->threads);
	if (!strcmp(kw, "waiters"))
		return uint_key(p, &st->waiters, kw, val, 1, KMED_THREADS_MAX,
				&c->waiters);
	if (!strcmp(kw, "max_connections"))
		return uint_key(p, &st->conns, kw, val, 1, 65536,
				&c->max_conns);
	if (!strcmp(kw, "timeout"))
		return uint_key(p, &st->timeout, kw, val, 1, 3600,
				&c->timeout);
	if (!strcmp(kw, "access_log")) {
		if (!strcmp(val, "-")) {
			if (c->access_log)
				return qd_conf_fail(p, "duplicate '%s'", kw);
			c->access_log = strdup("-");
			return c->access_log ? 0 :
			       qd_conf_fail(p, "out of memory");
		}
		return qd_conf_path(p, kw, val, &c->access_log);
	}
	if (!strcmp(kw, "user")) {
		if (once(p, &st->user, kw))
			return -1;
		if (!val[0] || strlen(val) >= sizeof(c->user))
			return qd_conf_fail(p, "user: '%s' is not a user name",
					    val);
		strcpy(c->user, val);
		return 0;
	}
	return qd_conf_fail(p, "unknown key '%s'", kw);
}

int kmed_config_parse(FILE *f, const char *name, const char *basedir,
		      void *cfg, char *err, size_t errlen)
{
	struct kmed_config *c = cfg;
	struct cfg_seen st = { .cfg = c };
	struct qd_conf p = {
		.name = name, .basedir = basedir, .err = err, .errlen = errlen,
	};

	memset(c, 0, sizeof(*c));
	c->identity = KMED_ID_CN;
	c->waiters = 4;
	c->max_conns = KMED_CONNS_DEFAULT;
	c->timeout = KMED_TIMEOUT_DEFAULT;
	if (qd_conf_read(&p, f, cfg_line, &st))
		goto fail;
	if (!c->common.listen_port[0]) {
		qd_conf_fail(&p, "missing 'listen = ADDR:PORT'");
		goto fail;
	}
	if (qd_conf_daemon_check(&p, &c->common))
		goto fail;
	return 0;

fail:
	kmed_config_free(c);
	return -1;
}

void kmed_config_free(struct kmed_config *c)
{
	qd_conf_daemon_free(&c->common);
	free(c->access_log);
	c->access_log = NULL;
}
