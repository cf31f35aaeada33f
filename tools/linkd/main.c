// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-linkd: carries the Kx frames of a node's KM links to the peer KMs
 * over mutually authenticated TLS 1.3.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define LINKD_DEFAULT_CONFIG	"/etc/qkdn/linkd.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: qkdn-linkd [-f] [-v] [-c FILE]\n"
		"Carry the Kx frames of this node's KM links to the peer KMs over\n"
		"TLS 1.3 with mutual certificate authentication.\n"
		"\n"
		"  -c FILE  configuration file (default " LINKD_DEFAULT_CONFIG ")\n"
		"  -f       stay in the foreground and log to stderr\n"
		"  -v       verbose: also debug messages\n"
		"  -h       this help\n"
		"\n"
		"Signals: SIGHUP reloads cert, key and ca for new connections;\n"
		"SIGTERM and SIGINT report every channel down and exit.\n"
		"Exit status: 0 on a clean stop, 1 on a runtime failure (no qkdn\n"
		"module, socket errors), 2 on a bad command line or config.\n");
}

int main(int argc, char **argv)
{
	const char *cfg = LINKD_DEFAULT_CONFIG;
	bool foreground = false, verbose = false;
	struct linkd d;
	int c, ret;

	while ((c = getopt(argc, argv, "c:fvh")) != -1) {
		switch (c) {
		case 'c':
			cfg = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return LINKD_EXIT_OK;
		default:
			usage(stderr);
			return LINKD_EXIT_CONFIG;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "qkdn-linkd: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return LINKD_EXIT_CONFIG;
	}
	linkd_log_init(foreground, verbose);
	ret = linkd_start(&d, cfg);
	if (ret == LINKD_EXIT_OK && !foreground) {
		if (daemon(0, 0) < 0) {
			linkd_err("daemon: %m");
			ret = LINKD_EXIT_FAIL;
		}
		linkd_log_detach();
	}
	if (ret == LINKD_EXIT_OK)
		ret = linkd_run(&d);
	linkd_stop(&d);
	return ret;
}
