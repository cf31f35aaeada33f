// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-controllerd: the QKDN controller of a node (ITU-T Q.4160 Ck and
 * Cx): routes key relays for the node's KM, in a distributed QKDN, as the
 * central controller of a centralized one, or as an agent of it.
 */
#include "daemon.h"
#include "service.h"

static int start(void *d, const char *cfg)
{
	return ctrld_start(d, cfg);
}

static int run(void *d)
{
	return ctrld_run(d);
}

static void stop(void *d)
{
	ctrld_stop(d);
}

static const struct qd_daemon ctrld_main = {
	.ident = "qkdn-controllerd",
	.default_config = "/etc/qkdn/controllerd.conf",
	.help = "The QKDN controller of this node: answers the KM's key relay\n"
		"requests and publishes relay routes, exchanging link state with\n"
		"other controllers over TLS 1.3 with mutual authentication.\n"
		"\n"
		"Signals: SIGHUP reloads cert, key and ca for new connections;\n"
		"SIGTERM and SIGINT withdraw the routes and exit.\n",
	.start = start,
	.run = run,
	.stop = stop,
};

int main(int argc, char **argv)
{
	struct ctrld d;

	return qd_daemon_main(&ctrld_main, &d, argc, argv);
}
