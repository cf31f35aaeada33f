// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-kmed: the node's key delivery gateway, ETSI GS QKD 014 V1.1.1 over
 * HTTPS with mutual TLS, on the kernel's key store.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>

#include "kmed.h"
#include "log.h"
#include "service.h"

static int start(void *arg, const char *cfg_path)
{
	struct kmed *d = arg;
	char err[512], addr[QD_ADDR_JOIN_MAX];

	memset(d, 0, sizeof(*d));
	d->sfd = -1;
	pthread_mutex_init(&d->tls_lock, NULL);
	pthread_mutex_init(&d->access_lock, NULL);
	if (qd_conf_load(cfg_path, kmed_config_parse, &d->cfg, sizeof(d->cfg),
			 err, sizeof(err))) {
		qd_err("bad config: %s", err);
		return QD_EXIT_CONFIG;
	}
	etsi_init();
	if (d->cfg.access_log) {
		d->access = strcmp(d->cfg.access_log, "-") ?
			    fopen(d->cfg.access_log, "ae") : stderr;
		if (!d->access) {
			qd_err("access_log %s: %s", d->cfg.access_log,
			       strerror(errno));
			return QD_EXIT_CONFIG;
		}
	}
	d->sfd = qd_signalfd();
	if (d->sfd < 0)
		return QD_EXIT_FAIL;
	if (kmed_http_start(d))
		return QD_EXIT_FAIL;
	qd_notice("serving ETSI GS QKD 014 on https://%s, %u event loops, %u waiters",
		  qd_addr_join(d->cfg.common.listen_host,
			       d->cfg.common.listen_port, addr, sizeof(addr)),
		  d->nloops, d->cfg.waiters);
	return QD_EXIT_OK;
}

static int run(void *arg)
{
	struct kmed *d = arg;
	struct signalfd_siginfo si;
	struct pollfd p = { .fd = d->sfd, .events = POLLIN };

	if (kmed_http_run(d))
		return QD_EXIT_FAIL;
	for (;;) {
		if (poll(&p, 1, -1) < 0 && errno != EINTR) {
			qd_err("poll: %s", strerror(errno));
			return QD_EXIT_FAIL;
		}
		while (read(d->sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				kmed_http_reload(d);
				continue;
			}
			qd_notice("signal %u: exiting", si.ssi_signo);
			return QD_EXIT_OK;
		}
	}
}

static void stop(void *arg)
{
	struct kmed *d = arg;

	kmed_http_stop(d);
	if (d->access && d->access != stderr)
		fclose(d->access);
	d->access = NULL;
	if (d->sfd >= 0)
		close(d->sfd);
	kmed_config_free(&d->cfg);
}

static const struct qd_daemon kmed_main = {
	.ident = "qkdn-kmed",
	.default_config = "/etc/qkdn/kmed.conf",
	.help = "Deliver this node's keys to applications over HTTPS, as ETSI GS\n"
		"QKD 014 V1.1.1 defines it: each application (SAE) presents a TLS\n"
		"client certificate, and gets only the keys the kernel gives the\n"
		"SAE registered with that certificate's credential.\n"
		"\n"
		"Signals: SIGHUP reloads cert, key and ca for new connections,\n"
		"open ones go on; SIGTERM and SIGINT exit.\n",
	.start = start,
	.run = run,
	.stop = stop,
};

int main(int argc, char **argv)
{
	static struct kmed d;

	return qd_daemon_main(&kmed_main, &d, argc, argv);
}
