// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-linkd configuration parser: a good file, missing keys, bad
 * addresses, duplicates, unknown keys, comments, relative paths.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../linkd/config.h"
#include "tap.h"
#include "test_conf.h"

static int parse(const char *text, struct qd_daemon_conf *cfg)
{
	FILE *f = conf_text(text);
	int r;

	if (!f)
		return -2;
	r = linkd_config_parse(f, "t.conf", "/etc/qkdn", cfg, err, sizeof(err));
	fclose(f);
	return r;
}

/* Expect a failure whose message contains want. */
static void bad(const char *text, const char *want, const char *name)
{
	struct qd_daemon_conf cfg;

	conf_refused(parse(text, &cfg), &cfg, want, name);
}

static const struct qd_peer_conf *peer(const struct qd_daemon_conf *cfg,
				       const char *id)
{
	return qd_conf_peer_find(cfg->peers, cfg->n_peers, id);
}

#define BASE "listen = 0.0.0.0:4433\ncert = a.crt\nkey = a.key\nca = ca.crt\n"

static void test_good(void)
{
	struct qd_daemon_conf cfg;
	const struct qd_peer_conf *p;
	int r;

	r = parse("# qkdn-linkd\n"
		  "  listen = [::1]:4433   # comment\n"
		  "cert=/etc/ssl/node a.pem\n"
		  "key = keys/a.key\n"
		  "\n"
		  "\tca = ca#1.pem\n"
		  "peer node-b = 10.0.0.2:4433\n"
		  "peer node-c = [fe80::1%veth0]:4433\n"
		  "peer node-d = km-d.example:443\n", &cfg);
	if (!tap_ok(r == 0, "good: parsed"))
		printf("#   %s\n", err);
	tap_ok(!strcmp(cfg.listen_host, "::1") && !strcmp(cfg.listen_port, "4433"),
	       "good: IPv6 listen address in brackets");
	tap_ok(cfg.cert && !strcmp(cfg.cert, "/etc/ssl/node a.pem") &&
	       cfg.key && !strcmp(cfg.key, "/etc/qkdn/keys/a.key") &&
	       cfg.ca && !strcmp(cfg.ca, "/etc/qkdn/ca#1.pem"),
	       "good: absolute path kept, relative paths from the config folder, '#' inside a value kept");
	p = peer(&cfg, "node-b");
	tap_ok(cfg.n_peers == 3 && p && !strcmp(p->host, "10.0.0.2") &&
	       !strcmp(p->port, "4433"), "good: IPv4 peer");
	p = peer(&cfg, "node-c");
	tap_ok(p && !strcmp(p->host, "fe80::1%veth0"), "good: IPv6 peer with scope");
	p = peer(&cfg, "node-d");
	tap_ok(p && !strcmp(p->host, "km-d.example") && !strcmp(p->port, "443"),
	       "good: peer by host name");
	tap_ok(!peer(&cfg, "node-e"), "good: unknown peer not found");
	qd_conf_daemon_free(&cfg);

	r = parse(BASE, &cfg);
	tap_ok(r == 0 && cfg.n_peers == 0, "good: no peers (a node that only accepts)");
	qd_conf_daemon_free(&cfg);
}

static void test_bad(void)
{
	bad("cert = a\nkey = b\nca = c\n", "t.conf: missing 'listen", "missing listen");
	bad("listen = 1.2.3.4:1\nkey = b\nca = c\n", "missing 'cert", "missing cert");
	bad("listen = 1.2.3.4:1\ncert = a\nca = c\n", "missing 'key", "missing key");
	bad("listen = 1.2.3.4:1\ncert = a\nkey = b\n", "missing 'ca", "missing ca");
	bad("", "missing 'listen", "empty file");
	bad(BASE "cert = b.crt\n", "t.conf:5: duplicate 'cert'", "duplicate cert");
	bad(BASE "listen = 1.2.3.4:5\n", "t.conf:5: duplicate 'listen'", "duplicate listen");
	bad(BASE "peer b = 1.2.3.4:5\npeer c = 1.2.3.5:5\npeer b = 1.2.3.6:5\n",
	    "t.conf:7: duplicate peer 'b'", "duplicate peer");
	bad("listen = 1.2.3.4\n" BASE, "t.conf:1: listen: bad address '1.2.3.4': expected HOST:PORT",
	    "listen without port");
	bad("listen = 1.2.3.4:0\n", "port out of range", "listen port 0");
	bad("listen = 1.2.3.4:65536\n", "port out of range", "listen port 65536");
	bad("listen = 1.2.3.4:44x\n", "bad port", "listen port not a number");
	bad("listen = 1.2.3.4:\n", "bad port", "listen empty port");
	bad("listen = :4433\n", "empty host", "listen empty host");
	bad("listen = 1.2.3.256:4433\n", "not a numeric", "listen bad IPv4");
	bad("listen = localhost:4433\n", "not a numeric", "listen host name refused");
	bad("listen = ::1:4433\n", "must be written [ADDR]:PORT", "listen IPv6 without brackets");
	bad("listen = [::1]4433\n", "expected ':PORT' after ']'", "listen IPv6 without colon");
	bad("listen = [::1:4433\n", "missing ']'", "listen IPv6 unclosed bracket");
	bad("listen = [1.2.3.4]:4433\n", "brackets are for IPv6", "listen IPv4 in brackets");
	bad(BASE "peer b = 1.2.3.4\n", "peer b: bad address", "peer without port");
	bad(BASE "peer b = bad_host!:4433\n", "peer b: bad host", "peer bad host name");
	bad(BASE "peer = 1.2.3.4:1\n", "expected 'peer NODEID = HOST:PORT'", "peer without node ID");
	bad(BASE "peer a b = 1.2.3.4:1\n", "expected 'peer NODEID", "peer with two node IDs");
	bad(BASE "peer aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1.2.3.4:1\n",
	    "bad node ID", "peer node ID too long");
	bad(BASE "port = 4433\n", "t.conf:5: unknown key 'port'", "unknown key");
	bad(BASE "listen\n", "expected 'key = value'", "line without '='");
	bad(BASE "ca =\n", "'ca' has no value", "key without value");
	bad(BASE "= x\n", "missing key", "value without key");
	bad(BASE "cert x = y\n", "unexpected 'x' after 'cert'", "extra word after key");
}

static void test_load(void)
{
	char dir[] = "/tmp/linkd-cfg-XXXXXX", path[64], want[128];
	struct qd_daemon_conf cfg;
	FILE *f;
	int r;

	if (!mkdtemp(dir)) {
		tap_ok(0, "load: temporary folder");
		return;
	}
	snprintf(path, sizeof(path), "%s/linkd.conf", dir);
	f = fopen(path, "w");
	fputs(BASE, f);
	fclose(f);
	r = linkd_config_load(path, &cfg, err, sizeof(err));
	snprintf(want, sizeof(want), "%s/a.crt", dir);
	tap_ok(r == 0 && !strcmp(cfg.cert, want), "load: relative paths from the file's folder");
	qd_conf_daemon_free(&cfg);
	unlink(path);
	r = linkd_config_load(path, &cfg, err, sizeof(err));
	tap_ok(r == -1 && strstr(err, "No such file"), "load: missing file: %s", err);
	rmdir(dir);
}

int main(void)
{
	printf("TAP version 13\n");
	test_good();
	test_bad();
	conf_long_line(bad, "t.conf");
	test_load();
	printf("1..%d\n", tap_n);
	return tap_done();
}
