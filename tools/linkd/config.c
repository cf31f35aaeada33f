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
#include <stdlib.h>
#include <string.h>

#include "config.h"

static int cfg_line(struct qd_conf *p, void *ctx, const char *kw,
		    const char *arg, bool more, const char *val)
{
	struct linkd_config *cfg = ctx;

	if (!strcmp(kw, "peer")) {
		if (!arg || more)
			return qd_conf_fail(p, "expected 'peer NODEID = HOST:PORT'");
		return qd_conf_peer(p, kw, arg, val, &cfg->peers, &cfg->n_peers);
	}
	if (arg)
		return qd_conf_fail(p, "unexpected '%s' after '%s'", arg, kw);
	if (!strcmp(kw, "listen"))
		return qd_conf_listen(p, val, cfg->listen_host, cfg->listen_port);
	if (!strcmp(kw, "cert"))
		return qd_conf_path(p, kw, val, &cfg->cert);
	if (!strcmp(kw, "key"))
		return qd_conf_path(p, kw, val, &cfg->key);
	if (!strcmp(kw, "ca"))
		return qd_conf_path(p, kw, val, &cfg->ca);
	return qd_conf_fail(p, "unknown key '%s'", kw);
}

int linkd_config_parse(FILE *f, const char *name, const char *basedir,
		       struct linkd_config *cfg, char *err, size_t errlen)
{
	struct qd_conf p = {
		.name = name, .basedir = basedir, .err = err, .errlen = errlen,
	};

	memset(cfg, 0, sizeof(*cfg));
	if (qd_conf_read(&p, f, cfg_line, cfg))
		goto fail;
	if (!cfg->listen_port[0]) {
		qd_conf_fail(&p, "missing 'listen = ADDR:PORT'");
		goto fail;
	}
	if (!cfg->cert || !cfg->key || !cfg->ca) {
		qd_conf_fail(&p, "missing '%s = FILE'",
			     !cfg->cert ? "cert" : !cfg->key ? "key" : "ca");
		goto fail;
	}
	return 0;

fail:
	linkd_config_free(cfg);
	return -1;
}

int linkd_config_load(const char *path, struct linkd_config *cfg,
		      char *err, size_t errlen)
{
	char *dir;
	FILE *f;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if (qd_conf_open(path, &f, &dir, err, errlen))
		return -1;
	ret = linkd_config_parse(f, path, dir, cfg, err, errlen);
	free(dir);
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

const struct qd_peer_conf *linkd_config_peer(const struct linkd_config *cfg,
					     const char *id)
{
	return qd_conf_peer_find(cfg->peers, cfg->n_peers, id);
}
