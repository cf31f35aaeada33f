// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd configuration parser: good files in each mode, and every
 * error with its file:line; then the daemon itself refusing a bad file
 * with exit status 2 before it touches the kernel.
 */
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "../controllerd/config.h"
#include "tap.h"
#include "test_conf.h"

static int parse(const char *text, struct ctrld_config *cfg)
{
	FILE *f = conf_text(text);
	int r;

	if (!f)
		return -2;
	r = ctrld_config_parse(f, "c.conf", "/etc/qkdn", cfg, err, sizeof(err));
	fclose(f);
	return r;
}

static void bad(const char *text, const char *want, const char *name)
{
	struct ctrld_config cfg;

	conf_refused(parse(text, &cfg), &cfg.common, want, name);
}

#define TLS "cert = a.crt\nkey = a.key\nca = ca.crt\n"
#define DIST "mode = distributed\nlisten = 0.0.0.0:7500\n" TLS

static void test_good(void)
{
	struct ctrld_config cfg;
	int r;

	r = parse("# kme-1\n" DIST
		  "peer kme-2 = 10.0.0.2:7500\npeer kme-3 = [fd00::3]:7500\n"
		  "low_key = 1024   # bytes\nlsa_max_age = 30\n", &cfg);
	if (!tap_ok(r == 0, "distributed: parsed"))
		printf("#   %s\n", err);
	tap_ok(cfg.mode == CTRLD_DISTRIBUTED && cfg.common.n_peers == 2 &&
	       !strcmp(cfg.common.peers[1].host, "fd00::3") &&
	       cfg.low_key == 1024 && cfg.lsa_max_age == 30 &&
	       !strcmp(cfg.common.cert, "/etc/qkdn/a.crt"),
	       "distributed: peers, low_key, lsa_max_age, relative paths");
	ctrld_config_free(&cfg);

	r = parse("listen = [::]:7500\n" TLS, &cfg);
	tap_ok(r == 0 && cfg.mode == CTRLD_DISTRIBUTED &&
	       cfg.low_key == CTRLD_LOW_KEY_DEFAULT &&
	       cfg.lsa_max_age == CTRLD_LSA_MAX_AGE_DEFAULT,
	       "defaults: mode distributed, low_key %d, lsa_max_age %d",
	       CTRLD_LOW_KEY_DEFAULT, CTRLD_LSA_MAX_AGE_DEFAULT);
	ctrld_config_free(&cfg);

	r = parse("mode = central\nlisten = 10.0.0.1:7600\n" TLS, &cfg);
	tap_ok(r == 0 && cfg.mode == CTRLD_CENTRAL &&
	       cfg.relay_scheme == CTRLD_RELAY_ROUTE,
	       "central: parsed, relay_scheme route by default");
	ctrld_config_free(&cfg);

	r = parse("mode = central\nlisten = 10.0.0.1:7600\n" TLS
		  "relay_scheme = reserve\n", &cfg);
	tap_ok(r == 0 && cfg.relay_scheme == CTRLD_RELAY_RESERVE,
	       "central: relay_scheme reserve");
	ctrld_config_free(&cfg);
	r = parse("mode = central\nlisten = 10.0.0.1:7600\n" TLS
		  "relay_scheme = route\n", &cfg);
	tap_ok(r == 0 && cfg.relay_scheme == CTRLD_RELAY_ROUTE,
	       "central: relay_scheme route");
	ctrld_config_free(&cfg);

	r = parse("mode = agent\ncontroller kme-1 = ctl.example:7600\n" TLS, &cfg);
	tap_ok(r == 0 && cfg.mode == CTRLD_AGENT &&
	       !strcmp(cfg.controller.id, "kme-1") &&
	       !strcmp(cfg.controller.host, "ctl.example") &&
	       !strcmp(cfg.controller.port, "7600") && !cfg.common.listen_port[0],
	       "agent: controller by host name, no listen");
	ctrld_config_free(&cfg);

	r = parse(DIST "low_key = 0\n", &cfg);
	tap_ok(r == 0 && cfg.low_key == 0, "low_key 0: no penalty");
	ctrld_config_free(&cfg);
}

static void test_bad(void)
{
	bad("mode = mesh\n", "c.conf:1: mode: 'mesh' is not distributed, central or agent",
	    "unknown mode");
	bad(DIST "mode = central\n", "c.conf:6: duplicate 'mode'", "duplicate mode");
	bad(TLS, "c.conf: missing 'listen = ADDR:PORT' (mode distributed)",
	    "distributed without listen");
	bad("mode = central\n" TLS, "missing 'listen = ADDR:PORT' (mode central)",
	    "central without listen");
	bad("mode = distributed\nlisten = 1.2.3.4:1\nkey = k\nca = c\n",
	    "missing 'cert = FILE'", "missing cert");
	bad("mode = distributed\nlisten = 1.2.3.4:1\ncert = k\nca = c\n",
	    "missing 'key = FILE'", "missing key");
	bad("mode = distributed\nlisten = 1.2.3.4:1\ncert = k\nkey = c\n",
	    "missing 'ca = FILE'", "missing ca");
	bad("mode = agent\n" TLS, "mode agent needs 'controller NODEID = HOST:PORT'",
	    "agent without controller");
	bad("mode = agent\ncontroller a = 1.2.3.4:1\ncontroller b = 1.2.3.4:2\n" TLS,
	    "c.conf:3: duplicate 'controller'", "agent with two controllers");
	bad("mode = agent\ncontroller a = 1.2.3.4:1\npeer b = 1.2.3.4:2\n" TLS,
	    "c.conf:3: 'peer' is for mode distributed", "agent with a peer");
	bad("mode = agent\nlisten = 1.2.3.4:1\ncontroller a = 1.2.3.4:1\n" TLS,
	    "c.conf:2: 'listen' is not for mode agent", "agent with listen");
	bad("mode = central\nlisten = 1.2.3.4:1\npeer b = 1.2.3.4:2\n" TLS,
	    "c.conf:3: 'peer' is for mode distributed; agents dial",
	    "central with a peer");
	bad(DIST "controller a = 1.2.3.4:1\n", "c.conf:6: 'controller' is for mode agent, not distributed",
	    "distributed with a controller");
	bad("mode = agent\ncontroller = 1.2.3.4:1\n", "expected 'controller NODEID = HOST:PORT'",
	    "controller without node ID");
	bad("mode = agent\ncontroller a b = 1.2.3.4:1\n", "expected 'controller NODEID",
	    "controller with two node IDs");
	bad("mode = agent\ncontroller a = 1.2.3.4\n", "c.conf:2: controller a: bad address '1.2.3.4': expected HOST:PORT",
	    "controller without port");
	bad("mode = agent\ncontroller a = bad_host!:1\n", "controller a: bad host",
	    "controller bad host");
	bad(DIST "peer a = 1.2.3.4:1\npeer a = 1.2.3.5:1\n", "c.conf:7: duplicate peer 'a'",
	    "duplicate peer");
	bad(DIST "peer = 1.2.3.4:1\n", "expected 'peer NODEID = HOST:PORT'", "peer without node ID");
	bad(DIST "peer a b = 1.2.3.4:1\n", "expected 'peer NODEID", "peer with two node IDs");
	bad(DIST "peer a = [::1]:99999\n", "port out of range", "peer port out of range");
	bad(DIST "peer aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1.2.3.4:1\n",
	    "peer: bad node ID", "peer node ID too long");
	bad("listen = localhost:7500\n", "c.conf:1: listen: 'localhost' is not a numeric",
	    "listen by name refused");
	bad(DIST "listen = 1.2.3.4:5\n", "c.conf:6: duplicate 'listen'", "duplicate listen");
	bad(DIST "cert = b.crt\n", "duplicate 'cert'", "duplicate cert");
	bad(DIST "low_key = 12k\n", "c.conf:6: low_key: '12k' is not a number",
	    "low_key with a suffix");
	bad(DIST "low_key = -1\n", "low_key: '-1' is not a number", "negative low_key");
	bad(DIST "low_key = 99999999999999999999999\n", "low_key: 99999999999999999999999 out of range",
	    "low_key overflow");
	bad(DIST "low_key = 1073741825\n", "out of range 0..1073741824",
	    "low_key over the pool capacity limit");
	bad(DIST "low_key = 1\nlow_key = 2\n", "c.conf:7: duplicate 'low_key'", "duplicate low_key");
	bad(DIST "lsa_max_age = 1\n", "lsa_max_age: 1 out of range 2..3600", "lsa_max_age too small");
	bad(DIST "lsa_max_age = 3601\n", "out of range 2..3600", "lsa_max_age too large");
	bad(DIST "lsa_max_age = 5\nlsa_max_age = 6\n", "duplicate 'lsa_max_age'",
	    "duplicate lsa_max_age");
	bad("mode = central\nlisten = 10.0.0.1:7600\n" TLS "relay_scheme = hop\n",
	    "c.conf:6: relay_scheme: 'hop' is not route or reserve",
	    "relay_scheme: unknown scheme");
	bad("mode = central\nlisten = 10.0.0.1:7600\n" TLS
	    "relay_scheme = route\nrelay_scheme = reserve\n",
	    "c.conf:7: duplicate 'relay_scheme'", "duplicate relay_scheme");
	bad(DIST "relay_scheme = reserve\n",
	    "c.conf:6: 'relay_scheme' is for mode central, not distributed",
	    "relay_scheme outside central");
	bad("mode = agent\ncontroller kme-1 = 10.0.0.1:7600\nrelay_scheme = route\n" TLS,
	    "c.conf:3: 'relay_scheme' is for mode central, not agent",
	    "relay_scheme in an agent");
	bad(DIST "port = 1\n", "c.conf:6: unknown key 'port'", "unknown key");
	bad(DIST "mode x = central\n", "unexpected 'x' after 'mode'", "extra word after key");
	bad(DIST "listen\n", "expected 'key = value'", "line without '='");
	bad(DIST "low_key =\n", "'low_key' has no value", "key without value");
	bad(DIST "= 1\n", "missing key", "value without key");
}

/* The daemon, next to the tests' folder: build-san/qkdn-controllerd. */
static void test_daemon(void)
{
	char exe[PATH_MAX], bin[PATH_MAX + 32], dir[] = "/tmp/ctrld-cfg-XXXXXX";
	char conf[64], out[64], line[512] = "";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *f;
	pid_t pid;
	int st = -1;

	if (n < 0 || !mkdtemp(dir)) {
		tap_skip("no daemon binary or no temporary folder");
		return;
	}
	exe[n] = '\0';
	snprintf(bin, sizeof(bin), "%s/qkdn-controllerd", dirname(dirname(exe)));
	if (access(bin, X_OK)) {
		tap_skip("qkdn-controllerd not built");
		rmdir(dir);
		return;
	}
	snprintf(conf, sizeof(conf), "%s/c.conf", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	f = fopen(conf, "w");
	fputs("mode = agent\ncontroller kme-1 = 10.0.0.1\n", f);
	fclose(f);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (!freopen(out, "w", stderr))
			_exit(99);
		execl(bin, bin, "-f", "-c", conf, (char *)NULL);
		_exit(98);
	}
	waitpid(pid, &st, 0);
	f = fopen(out, "r");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	if (!tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 2 &&
		    strstr(line, "qkdn-controllerd: bad config: ") &&
		    strstr(line, "c.conf:2: controller kme-1: bad address"),
		    "daemon: a bad config exits 2 with file:line:reason"))
		printf("#   status %#x, '%s'\n", st, line);
	unlink(conf);
	unlink(out);
	rmdir(dir);
}

int main(void)
{
	printf("TAP version 13\n");
	test_good();
	test_bad();
	conf_long_line(bad, "c.conf");
	test_daemon();
	printf("1..%d\n", tap_n);
	return tap_done();
}
