// SPDX-License-Identifier: GPL-2.0
/*
 * The command line and signals of the qkdn daemons.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>

#include "service.h"
#include "log.h"
#include "tls.h"

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

SSL_CTX *qd_daemon_tls(const struct qd_daemon_conf *c)
{
	char err[512];
	SSL_CTX *ssl;

	ssl = qd_tls_ctx_new(c->cert, c->key, c->ca, err, sizeof(err));
	if (!ssl)
		qd_err("bad config: %s", err);
	return ssl;
}

int qd_signalfd(void)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		qd_err("signalfd: %s", strerror(errno));
	return fd;
}

bool qd_signals(int sfd, SSL_CTX **ssl, const struct qd_daemon_conf *c)
{
	struct signalfd_siginfo si;
	bool reload = false, stop = false;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			reload = true;
			break;
		case SIGTERM:
		case SIGINT:
			qd_notice("signal %u: exiting", si.ssi_signo);
			stop = true;
			break;
		}
	}
	if (reload)
		qd_tls_reload(ssl, c->cert, c->key, c->ca);
	return stop;
}
