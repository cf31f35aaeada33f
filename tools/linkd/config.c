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
#include <string.h>

#include "config.h"

static int cfg_line(struct qd_conf *p, void *ctx, const char *kw,
		    const char *arg, bool more, const char *val)
{
	int r = qd_conf_daemon_key(p, ctx, kw, arg, more, val);

	if (r <= 0)
		return r;
	if (arg)
		return qd_conf_fail(p, "unexpected '%s' after '%s'", arg, kw);
	return qd_conf_fail(p, "unknown key '%s'", kw);
}

int linkd_config_parse(FILE *f, const char *name, const char *basedir,
		       struct qd_daemon_conf *cfg, char *err, size_t errlen)
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
	if (qd_conf_daemon_check(&p, cfg))
		goto fail;
	return 0;

fail:
	qd_conf_daemon_free(cfg);
	return -1;
}

static int parse(FILE *f, const char *name, const char *basedir, void *cfg,
		 char *err, size_t errlen)
{
	return linkd_config_parse(f, name, basedir, cfg, err, errlen);
}

int linkd_config_load(const char *path, struct qd_daemon_conf *cfg,
		      char *err, size_t errlen)
{
	return qd_conf_load(path, parse, cfg, sizeof(*cfg), err, errlen);
}
