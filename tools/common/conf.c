// SPDX-License-Identifier: GPL-2.0
/*
 * Daemon configuration files: lines, comments, addresses, node IDs, paths.
 */
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "conf.h"

int qd_conf_fail(struct qd_conf *p, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!p->errlen)
		return -1;
	if (p->line)
		n = snprintf(p->err, p->errlen, "%s:%u: ", p->name, p->line);
	else
		n = snprintf(p->err, p->errlen, "%s: ", p->name);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

bool qd_node_id_valid(const char *id, size_t len)
{
	size_t i;

	if (len == 0 || len >= QKDN_ID_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = id[i];

		if (c <= ' ' || c >= 0x7f)
			return false;
	}
	return true;
}

static bool host_name_valid(const char *h)
{
	size_t len = strlen(h), i;

	if (len == 0 || len >= QD_HOST_MAX - 1 || h[0] == '-' || h[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = h[i];

		if (!isalnum(c) && c != '-' && c != '.')
			return false;
	}
	return true;
}

int qd_addr_split(const char *s, char *host, size_t hostlen,
		     char *port, size_t portlen, const char **why)
{
	const char *h, *colon, *end;
	size_t hl, pl, i;
	unsigned long pn;

	if (s[0] == '[') {
		h = s + 1;
		end = strchr(h, ']');
		if (!end) {
			*why = "missing ']'";
			return -1;
		}
		if (end[1] != ':') {
			*why = "expected ':PORT' after ']'";
			return -1;
		}
		hl = end - h;
		colon = end + 1;
		if (!memchr(h, ':', hl)) {
			*why = "brackets are for IPv6 addresses";
			return -1;
		}
	} else {
		h = s;
		colon = strrchr(s, ':');
		if (!colon) {
			*why = "expected HOST:PORT";
			return -1;
		}
		hl = colon - h;
		if (memchr(h, ':', hl)) {
			*why = "an IPv6 address must be written [ADDR]:PORT";
			return -1;
		}
	}
	if (hl == 0) {
		*why = "empty host";
		return -1;
	}
	if (hl >= hostlen) {
		*why = "host too long";
		return -1;
	}
	pl = strlen(colon + 1);
	if (pl == 0 || pl >= portlen) {
		*why = "bad port";
		return -1;
	}
	for (i = 0; i < pl; i++) {
		if (!isdigit((unsigned char)colon[1 + i])) {
			*why = "bad port";
			return -1;
		}
	}
	pn = strtoul(colon + 1, NULL, 10);
	if (pn < 1 || pn > 65535) {
		*why = "port out of range 1..65535";
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portlen, "%lu", pn);
	return 0;
}

const char *qd_addr_join(const char *host, const char *port, char *buf,
			 size_t len)
{
	bool v6 = strchr(host, ':');

	snprintf(buf, len, "%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
		 port);
	return buf;
}

static bool addr_numeric(const char *host, const char *port)
{
	struct addrinfo hints = {
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *ai;

	if (getaddrinfo(host, port, &hints, &ai))
		return false;
	freeaddrinfo(ai);
	return true;
}

/* An IPv6 address with a zone ("fe80::1%eth0"): the zone is looked up
 * when dialling, in the namespace the daemon runs in.
 */
static bool addr_v6_scoped(const char *host)
{
	char a[INET6_ADDRSTRLEN];
	const char *pct = strchr(host, '%');
	struct in6_addr in6;

	if (!pct || pct == host || (size_t)(pct - host) >= sizeof(a) || !pct[1])
		return false;
	memcpy(a, host, pct - host);
	a[pct - host] = '\0';
	return inet_pton(AF_INET6, a, &in6) == 1;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int qd_conf_path(struct qd_conf *p, const char *key, const char *val,
		    char **out)
{
	if (*out)
		return qd_conf_fail(p, "duplicate '%s'", key);
	if (val[0] == '/' || !p->basedir)
		*out = strdup(val);
	else if (asprintf(out, "%s/%s", p->basedir, val) < 0)
		*out = NULL;
	if (!*out)
		return qd_conf_fail(p, "out of memory");
	return 0;
}

/* Strip a comment: '#' at the start or after white space. */
static void strip_comment(char *s)
{
	char *c;

	for (c = s; *c; c++) {
		if (*c == '#' && (c == s || isspace((unsigned char)c[-1]))) {
			*c = '\0';
			return;
		}
	}
}

int qd_conf_listen(struct qd_conf *p, const char *val, char *host, char *port)
{
	const char *why;

	if (port[0])
		return qd_conf_fail(p, "duplicate 'listen'");
	if (qd_addr_split(val, host, QD_HOST_MAX, port, QD_PORT_MAX, &why)) {
		port[0] = '\0';
		return qd_conf_fail(p, "listen: bad address '%s': %s", val, why);
	}
	if (!addr_numeric(host, port)) {
		port[0] = '\0';
		return qd_conf_fail(p, "listen: '%s' is not a numeric IPv4 or IPv6 address",
				    host);
	}
	return 0;
}

const struct qd_peer_conf *qd_conf_peer_find(const struct qd_peer_conf *list,
					     size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(list[i].id, id))
			return &list[i];
	return NULL;
}

int qd_conf_peer(struct qd_conf *p, const char *kw, const char *id,
		 const char *val, struct qd_peer_conf **list, size_t *n)
{
	struct qd_peer_conf pc = { 0 }, *nl;
	const char *why;

	if (!qd_node_id_valid(id, strlen(id)))
		return qd_conf_fail(p, "%s: bad node ID '%s' (1..%d printable characters, no spaces)",
				    kw, id, QKDN_ID_MAX - 1);
	if (qd_conf_peer_find(*list, *n, id))
		return qd_conf_fail(p, "duplicate %s '%s'", kw, id);
	if (qd_addr_split(val, pc.host, sizeof(pc.host), pc.port,
			  sizeof(pc.port), &why))
		return qd_conf_fail(p, "%s %s: bad address '%s': %s", kw, id,
				    val, why);
	if (!addr_numeric(pc.host, pc.port) && !addr_v6_scoped(pc.host) &&
	    !host_name_valid(pc.host))
		return qd_conf_fail(p, "%s %s: bad host '%s'", kw, id, pc.host);
	strcpy(pc.id, id);
	nl = realloc(*list, (*n + 1) * sizeof(*nl));
	if (!nl)
		return qd_conf_fail(p, "out of memory");
	*list = nl;
	nl[(*n)++] = pc;
	return 0;
}

int qd_conf_daemon_key(struct qd_conf *p, struct qd_daemon_conf *c,
		       const char *kw, const char *arg, bool more,
		       const char *val)
{
	if (!strcmp(kw, "peer")) {
		if (!arg || more)
			return qd_conf_fail(p, "expected 'peer NODEID = HOST:PORT'");
		return qd_conf_peer(p, kw, arg, val, &c->peers, &c->n_peers);
	}
	if (strcmp(kw, "listen") && strcmp(kw, "cert") && strcmp(kw, "key") &&
	    strcmp(kw, "ca"))
		return 1;
	if (arg)
		return qd_conf_fail(p, "unexpected '%s' after '%s'", arg, kw);
	if (!strcmp(kw, "listen"))
		return qd_conf_listen(p, val, c->listen_host, c->listen_port);
	if (!strcmp(kw, "cert"))
		return qd_conf_path(p, kw, val, &c->cert);
	if (!strcmp(kw, "key"))
		return qd_conf_path(p, kw, val, &c->key);
	return qd_conf_path(p, kw, val, &c->ca);
}

int qd_conf_daemon_check(struct qd_conf *p, const struct qd_daemon_conf *c)
{
	if (!c->cert || !c->key || !c->ca)
		return qd_conf_fail(p, "missing '%s = FILE'",
				    !c->cert ? "cert" : !c->key ? "key" : "ca");
	return 0;
}

void qd_conf_daemon_free(struct qd_daemon_conf *c)
{
	free(c->cert);
	free(c->key);
	free(c->ca);
	free(c->peers);
	memset(c, 0, sizeof(*c));
}

static int conf_line(struct qd_conf *p, char *s, qd_conf_line_fn fn,
		     void *ctx)
{
	char *eq, *lhs, *val, *kw, *arg, *extra;

	strip_comment(s);
	s = trim(s);
	if (!*s)
		return 0;
	eq = strchr(s, '=');
	if (!eq)
		return qd_conf_fail(p, "expected 'key = value'");
	*eq = '\0';
	lhs = trim(s);
	val = trim(eq + 1);
	kw = strtok_r(lhs, " \t", &extra);
	arg = kw ? strtok_r(NULL, " \t", &extra) : NULL;
	if (!kw)
		return qd_conf_fail(p, "missing key before '='");
	if (!*val)
		return qd_conf_fail(p, "'%s' has no value", kw);
	return fn(p, ctx, kw, arg, arg && strtok_r(NULL, " \t", &extra), val);
}

int qd_conf_read(struct qd_conf *p, FILE *f, qd_conf_line_fn fn, void *ctx)
{
	char buf[QD_LINE_MAX + 2];
	size_t len;

	if (p->errlen)
		p->err[0] = '\0';
	p->line = 0;
	while (fgets(buf, sizeof(buf), f)) {
		p->line++;
		len = strlen(buf);
		if (len && buf[len - 1] == '\n')
			buf[--len] = '\0';
		else if (!feof(f))
			return qd_conf_fail(p, "line longer than %d characters",
					    QD_LINE_MAX);
		if (len > QD_LINE_MAX)
			return qd_conf_fail(p, "line longer than %d characters",
					    QD_LINE_MAX);
		if (conf_line(p, buf, fn, ctx))
			return -1;
	}
	if (ferror(f))
		return qd_conf_fail(p, "read error");
	p->line = 0;
	return 0;
}

/* Open path for reading; *dir is its folder (absolute, to free). Returns
 * 0, or -1 with "PATH: reason" in err.
 */
static int conf_open(const char *path, FILE **f, char **dir, char *err,
		     size_t errlen)
{
	char *copy;

	*dir = NULL;
	*f = fopen(path, "re");
	if (!*f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	copy = strdup(path);
	if (copy)
		*dir = realpath(dirname(copy), NULL);
	free(copy);
	if (!*dir) {
		snprintf(err, errlen, "%s: cannot resolve its folder", path);
		fclose(*f);
		*f = NULL;
		return -1;
	}
	return 0;
}

int qd_conf_load(const char *path, qd_conf_parse_fn parse, void *cfg,
		 size_t size, char *err, size_t errlen)
{
	char *dir;
	FILE *f;
	int ret;

	memset(cfg, 0, size);
	if (conf_open(path, &f, &dir, err, errlen))
		return -1;
	ret = parse(f, path, dir, cfg, err, errlen);
	free(dir);
	fclose(f);
	return ret;
}

/* A decimal number, no sign, no suffix, within [min, max]. */
int qd_conf_uint(struct qd_conf *p, const char *kw, const char *val,
		 uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;
	size_t i;

	for (i = 0; val[i]; i++)
		if (!isdigit((unsigned char)val[i]))
			break;
	if (!i || val[i])
		return qd_conf_fail(p, "%s: '%s' is not a number", kw, val);
	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno || v < min || v > max)
		return qd_conf_fail(p, "%s: %s out of range %llu..%llu", kw, val,
				    (unsigned long long)min,
				    (unsigned long long)max);
	*out = v;
	return 0;
}
