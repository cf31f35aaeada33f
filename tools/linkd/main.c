// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-linkd: carries the Kx frames of a node's KM links to the peer KMs
 * over mutually authenticated TLS 1.3.
 */
#include "daemon.h"
#include "service.h"

static int start(void *d, const char *cfg)
{
	return linkd_start(d, cfg);
}

static int run(void *d)
{
	return linkd_run(d);
}

static void stop(void *d)
{
	linkd_stop(d);
}

static const struct qd_daemon linkd_main = {
	.ident = "qkdn-linkd",
	.default_config = "/etc/qkdn/linkd.conf",
	.help = "Carry the Kx frames of this node's KM links to the peer KMs over\n"
		"TLS 1.3 with mutual certificate authentication.\n"
		"\n"
		"Signals: SIGHUP reloads cert, key and ca for new connections;\n"
		"SIGTERM and SIGINT report every channel down and exit.\n",
	.start = start,
	.run = run,
	.stop = stop,
};

int main(int argc, char **argv)
{
	struct linkd d;

	return qd_daemon_main(&linkd_main, &d, argc, argv);
}
