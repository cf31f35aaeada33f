// SPDX-License-Identifier: GPL-2.0
/*
 * The command line and signals of the qkdn daemons.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/signalfd.h>

#include "service.h"
#include "log.h"

static void usage(const struct qd_daemon *dm, FILE *f)
{
	fprintf(f, "Usage: %s [-f] [-v] [-c FILE]\n%s\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -f       stay in the foreground and log to stderr\n"
		"  -v       verbose: also debug messages\n"
		"  -h       this help\n"
		"\n"
		"Exit status: 0 on a clean stop, 1 on a runtime failure (no qkdn\n"
		"module, socket errors), 2 on a bad command line or config.\n",
		dm->ident, dm->help, dm->default_config);
}

int qd_daemon_main(const struct qd_daemon *dm, void *d, int argc,
		   char **argv)
{
	const char *cfg = dm->default_config;
	bool foreground = false, verbose = false;
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
			usage(dm, stdout);
			return QD_EXIT_OK;
		default:
			usage(dm, stderr);
			return QD_EXIT_CONFIG;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", dm->ident,
			argv[optind]);
		usage(dm, stderr);
		return QD_EXIT_CONFIG;
	}
	qd_log_init(dm->ident, foreground, verbose);
	ret = dm->start(d, cfg);
	if (ret == QD_EXIT_OK && !foreground) {
		if (daemon(0, 0) < 0) {
			qd_err("daemon: %m");
			ret = QD_EXIT_FAIL;
		}
		qd_log_detach();
	}
	if (ret == QD_EXIT_OK)
		ret = dm->run(d);
	dm->stop(d);
	return ret;
}

int qd_signalfd(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

unsigned int qd_signals(int sfd)
{
	struct signalfd_siginfo si;
	unsigned int got = 0;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			got |= QD_SIG_RELOAD;
			break;
		case SIGTERM:
		case SIGINT:
			qd_notice("signal %u: exiting", si.ssi_signo);
			got |= QD_SIG_STOP;
			break;
		}
	}
	return got;
}
