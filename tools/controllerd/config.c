// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd configuration file: "key = value" lines, '#' comments.
 *
 *	mode = distributed | central | agent
 *	listen = ADDR:PORT		numeric IPv4, or [IPv6]; not for agents
 *	cert = FILE, key = FILE, ca = FILE
 *	peer NODEID = HOST:PORT		distributed: an adjacent node we dial
 *	controller NODEID = HOST:PORT	agent: the central controller
 *	low_key = BYTES			below this, a link costs more
 *	lsa_max_age = SECONDS		a silent node's LSA is dropped then
 *	relay_scheme = route | reserve	central: I.4a or I.4b
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct cfg_state {
	struct ctrld_config *cfg;
	bool have_mode, have_low, have_age;
	unsigned int peer_line, controller_line, listen_line, scheme_line;
};

static const char *const mode_names[] = {
	[CTRLD_DISTRIBUTED] = "distributed",
	[CTRLD_CENTRAL] = "central",
	[CTRLD_AGENT] = "agent",
};

const char *ctrld_mode_name(enum ctrld_mode mode)
{
	return (unsigned int)mode < 3 ? mode_names[mode] : "?";
}

static int cfg_line(struct qd_conf *p, void *ctx, const char *kw,
		    const char *arg, bool more, const char *val)
{
	struct cfg_state *st = ctx;
	struct ctrld_config *cfg = st->cfg;
	uint64_t v;
	size_t n;
	int i, r;

	r = qd_conf_daemon_key(p, &cfg->common, kw, arg, more, val);
	if (r <= 0) {
		/* Where, for cfg_check(). */
		if (!strcmp(kw, "peer") && !st->peer_line)
			st->peer_line = p->line;
		if (!strcmp(kw, "listen"))
			st->listen_line = p->line;
		return r;
	}
	if (!strcmp(kw, "controller")) {
		struct qd_peer_conf *one = NULL;

		if (!arg || more)
			return qd_conf_fail(p, "expected 'controller NODEID = HOST:PORT'");
		if (st->controller_line)
			return qd_conf_fail(p, "duplicate 'controller' (an agent has one controller)");
		n = 0;
		if (qd_conf_peer(p, kw, arg, val, &one, &n)) {
			free(one);
			return -1;
		}
		cfg->controller = one[0];
		free(one);
		st->controller_line = p->line;
		return 0;
	}
	if (arg)
		return qd_conf_fail(p, "unexpected '%s' after '%s'", arg, kw);
	if (!strcmp(kw, "mode")) {
		if (st->have_mode)
			return qd_conf_fail(p, "duplicate 'mode'");
		for (i = 0; i < 3; i++)
			if (!strcmp(val, mode_names[i]))
				break;
		if (i == 3)
			return qd_conf_fail(p, "mode: '%s' is not distributed, central or agent",
					    val);
		cfg->mode = i;
		st->have_mode = true;
		return 0;
	}
	if (!strcmp(kw, "relay_scheme")) {
		if (st->scheme_line)
			return qd_conf_fail(p, "duplicate 'relay_scheme'");
		if (!strcmp(val, "route"))
			cfg->relay_scheme = CTRLD_RELAY_ROUTE;
		else if (!strcmp(val, "reserve"))
			cfg->relay_scheme = CTRLD_RELAY_RESERVE;
		else
			return qd_conf_fail(p, "relay_scheme: '%s' is not route or reserve",
					    val);
		st->scheme_line = p->line;
		return 0;
	}
	if (!strcmp(kw, "low_key")) {
		if (st->have_low)
			return qd_conf_fail(p, "duplicate 'low_key'");
		if (qd_conf_uint(p, kw, val, 0, QKDN_POOL_CAPACITY_MAX, &v))
			return -1;
		cfg->low_key = v;
		st->have_low = true;
		return 0;
	}
	if (!strcmp(kw, "lsa_max_age")) {
		if (st->have_age)
			return qd_conf_fail(p, "duplicate 'lsa_max_age'");
		if (qd_conf_uint(p, kw, val, CTRLD_LSA_MAX_AGE_MIN,
			       CTRLD_LSA_MAX_AGE_MAX, &v))
			return -1;
		cfg->lsa_max_age = (unsigned int)v;
		st->have_age = true;
		return 0;
	}
	return qd_conf_fail(p, "unknown key '%s'", kw);
}

/* The keys each mode needs and refuses; p->line names the culprit. */
static int cfg_check(struct qd_conf *p, struct cfg_state *st)
{
	struct ctrld_config *cfg = st->cfg;
	const char *mode = mode_names[cfg->mode];

	if (cfg->mode == CTRLD_AGENT) {
		if (!st->controller_line)
			return qd_conf_fail(p, "mode agent needs 'controller NODEID = HOST:PORT'");
		if (st->peer_line) {
			p->line = st->peer_line;
			return qd_conf_fail(p, "'peer' is for mode distributed; an agent only dials its controller");
		}
		if (st->listen_line) {
			p->line = st->listen_line;
			return qd_conf_fail(p, "'listen' is not for mode agent: an agent dials its controller");
		}
	} else {
		if (st->controller_line) {
			p->line = st->controller_line;
			return qd_conf_fail(p, "'controller' is for mode agent, not %s",
					    mode);
		}
		if (!cfg->common.listen_port[0])
			return qd_conf_fail(p, "missing 'listen = ADDR:PORT' (mode %s)",
					    mode);
		if (cfg->mode == CTRLD_CENTRAL && st->peer_line) {
			p->line = st->peer_line;
			return qd_conf_fail(p, "'peer' is for mode distributed; agents dial the central controller");
		}
	}
	if (cfg->mode != CTRLD_CENTRAL && st->scheme_line) {
		p->line = st->scheme_line;
		return qd_conf_fail(p, "'relay_scheme' is for mode central, not %s",
				    mode);
	}
	return qd_conf_daemon_check(p, &cfg->common);
}

int ctrld_config_parse(FILE *f, const char *name, const char *basedir,
		       struct ctrld_config *cfg, char *err, size_t errlen)
{
	struct qd_conf p = {
		.name = name, .basedir = basedir, .err = err, .errlen = errlen,
	};
	struct cfg_state st = { .cfg = cfg };

	memset(cfg, 0, sizeof(*cfg));
	cfg->low_key = CTRLD_LOW_KEY_DEFAULT;
	cfg->lsa_max_age = CTRLD_LSA_MAX_AGE_DEFAULT;
	if (qd_conf_read(&p, f, cfg_line, &st) || cfg_check(&p, &st)) {
		ctrld_config_free(cfg);
		return -1;
	}
	return 0;
}

static int parse(FILE *f, const char *name, const char *basedir, void *cfg,
		 char *err, size_t errlen)
{
	return ctrld_config_parse(f, name, basedir, cfg, err, errlen);
}

int ctrld_config_load(const char *path, struct ctrld_config *cfg,
		      char *err, size_t errlen)
{
	return qd_conf_load(path, parse, cfg, sizeof(*cfg), err, errlen);
}

void ctrld_config_free(struct ctrld_config *cfg)
{
	qd_conf_daemon_free(&cfg->common);
	memset(cfg, 0, sizeof(*cfg));
}
