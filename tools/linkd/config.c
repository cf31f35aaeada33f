// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-linkd configuration file: "key = value" lines, '#' comments.
 *
 *	listen = ADDR:PORT		numeric IPv4, or [IPv6]
 *	cert = FILE			this node's certificate chain (PEM)
 *	key = FILE			its private key (PEM)
 *	ca = FILE			CA certificate(s) that sign peers (PEM)
 *	peer NODEID = HOST:PORT		one per adjacent KM this node dials
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

#include "config.h"

struct cfg_parser {
	const char *name;
	const char *basedir;
	unsigned int line;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int cfg_fail(struct cfg_parser *p, const char *fmt, ...)
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

bool linkd_node_id_valid(const char *id, size_t len)
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

	if (len == 0 || len >= LINKD_HOST_MAX - 1 || h[0] == '-' || h[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = h[i];

		if (!isalnum(c) && c != '-' && c != '.')
			return false;
	}
	return true;
}

int linkd_addr_split(const char *s, char *host, size_t hostlen,
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

static int cfg_path(struct cfg_parser *p, const char *key, const char *val,
		    char **out)
{
	if (*out)
		return cfg_fail(p, "duplicate '%s'", key);
	if (val[0] == '/' || !p->basedir)
		*out = strdup(val);
	else if (asprintf(out, "%s/%s", p->basedir, val) < 0)
		*out = NULL;
	if (!*out)
		return cfg_fail(p, "out of memory");
	return 0;
}

static int cfg_listen(struct cfg_parser *p, struct linkd_config *cfg,
		      const char *val)
{
	const char *why;

	if (cfg->listen_port[0])
		return cfg_fail(p, "duplicate 'listen'");
	if (linkd_addr_split(val, cfg->listen_host, sizeof(cfg->listen_host),
			     cfg->listen_port, sizeof(cfg->listen_port), &why))
		return cfg_fail(p, "listen: bad address '%s': %s", val, why);
	if (!addr_numeric(cfg->listen_host, cfg->listen_port))
		return cfg_fail(p, "listen: '%s' is not a numeric IPv4 or IPv6 address",
				cfg->listen_host);
	return 0;
}

static int cfg_peer(struct cfg_parser *p, struct linkd_config *cfg,
		    const char *id, const char *val)
{
	struct linkd_peer_conf pc = { 0 }, *n;
	const char *why;

	if (!linkd_node_id_valid(id, strlen(id)))
		return cfg_fail(p, "peer: bad node ID '%s' (1..%d printable characters, no spaces)",
				id, QKDN_ID_MAX - 1);
	if (linkd_config_peer(cfg, id))
		return cfg_fail(p, "duplicate peer '%s'", id);
	if (linkd_addr_split(val, pc.host, sizeof(pc.host), pc.port,
			     sizeof(pc.port), &why))
		return cfg_fail(p, "peer %s: bad address '%s': %s", id, val, why);
	if (!addr_numeric(pc.host, pc.port) && !addr_v6_scoped(pc.host) &&
	    !host_name_valid(pc.host))
		return cfg_fail(p, "peer %s: bad host '%s'", id, pc.host);
	strcpy(pc.id, id);
	n = realloc(cfg->peers, (cfg->n_peers + 1) * sizeof(*n));
	if (!n)
		return cfg_fail(p, "out of memory");
	cfg->peers = n;
	cfg->peers[cfg->n_peers++] = pc;
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

static int cfg_line(struct cfg_parser *p, struct linkd_config *cfg, char *s)
{
	char *eq, *lhs, *val, *kw, *arg, *extra;

	strip_comment(s);
	s = trim(s);
	if (!*s)
		return 0;
	eq = strchr(s, '=');
	if (!eq)
		return cfg_fail(p, "expected 'key = value'");
	*eq = '\0';
	lhs = trim(s);
	val = trim(eq + 1);
	kw = strtok_r(lhs, " \t", &extra);
	arg = kw ? strtok_r(NULL, " \t", &extra) : NULL;
	if (!kw)
		return cfg_fail(p, "missing key before '='");
	if (!*val)
		return cfg_fail(p, "'%s' has no value", kw);
	if (!strcmp(kw, "peer")) {
		if (!arg)
			return cfg_fail(p, "expected 'peer NODEID = HOST:PORT'");
		if (strtok_r(NULL, " \t", &extra))
			return cfg_fail(p, "expected 'peer NODEID = HOST:PORT'");
		return cfg_peer(p, cfg, arg, val);
	}
	if (arg)
		return cfg_fail(p, "unexpected '%s' after '%s'", arg, kw);
	if (!strcmp(kw, "listen"))
		return cfg_listen(p, cfg, val);
	if (!strcmp(kw, "cert"))
		return cfg_path(p, kw, val, &cfg->cert);
	if (!strcmp(kw, "key"))
		return cfg_path(p, kw, val, &cfg->key);
	if (!strcmp(kw, "ca"))
		return cfg_path(p, kw, val, &cfg->ca);
	return cfg_fail(p, "unknown key '%s'", kw);
}

int linkd_config_parse(FILE *f, const char *name, const char *basedir,
		       struct linkd_config *cfg, char *err, size_t errlen)
{
	struct cfg_parser p = {
		.name = name, .basedir = basedir, .err = err, .errlen = errlen,
	};
	char buf[LINKD_LINE_MAX + 2];
	size_t len;

	memset(cfg, 0, sizeof(*cfg));
	if (errlen)
		err[0] = '\0';
	while (fgets(buf, sizeof(buf), f)) {
		p.line++;
		len = strlen(buf);
		if (len && buf[len - 1] == '\n')
			buf[--len] = '\0';
		else if (!feof(f))
			goto fail_long;
		if (len > LINKD_LINE_MAX)
			goto fail_long;
		if (cfg_line(&p, cfg, buf))
			goto fail;
	}
	if (ferror(f)) {
		cfg_fail(&p, "read error");
		goto fail;
	}
	p.line = 0;
	if (!cfg->listen_port[0]) {
		cfg_fail(&p, "missing 'listen = ADDR:PORT'");
		goto fail;
	}
	if (!cfg->cert || !cfg->key || !cfg->ca) {
		cfg_fail(&p, "missing '%s = FILE'",
			 !cfg->cert ? "cert" : !cfg->key ? "key" : "ca");
		goto fail;
	}
	return 0;

fail_long:
	cfg_fail(&p, "line longer than %d characters", LINKD_LINE_MAX);
fail:
	linkd_config_free(cfg);
	return -1;
}

int linkd_config_load(const char *path, struct linkd_config *cfg,
		      char *err, size_t errlen)
{
	char *copy, *dir = NULL;
	FILE *f;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	copy = strdup(path);
	if (copy)
		dir = realpath(dirname(copy), NULL);
	if (!dir) {
		snprintf(err, errlen, "%s: cannot resolve its folder", path);
		free(copy);
		fclose(f);
		return -1;
	}
	ret = linkd_config_parse(f, path, dir, cfg, err, errlen);
	free(dir);
	free(copy);
	fclose(f);
	return ret;
}

void linkd_config_free(struct linkd_config *cfg)
{
	free(cfg->cert);
	free(cfg->key);
	free(cfg->ca);
	free(cfg->peers);
	memset(cfg, 0, sizeof(*cfg));
}

const struct linkd_peer_conf *linkd_config_peer(const struct linkd_config *cfg,
						const char *id)
{
	size_t i;

	for (i = 0; i < cfg->n_peers; i++)
		if (!strcmp(cfg->peers[i].id, id))
			return &cfg->peers[i];
	return NULL;
}
