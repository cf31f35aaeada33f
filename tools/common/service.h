/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every qkdn daemon does the same way: its command line (-c FILE, -f,
 * -v, -h), going to the background, and its signals (SIGHUP reloads,
 * SIGTERM and SIGINT stop, SIGPIPE is ignored) read from a signalfd.
 */
#ifndef QD_SERVICE_H
#define QD_SERVICE_H

#include <stdbool.h>
#include <openssl/ssl.h>

#include "conf.h"

#define QD_EXIT_OK	0
#define QD_EXIT_FAIL	1	/* a runtime failure */
#define QD_EXIT_CONFIG	2	/* a bad command line or configuration */

struct qd_daemon {
	const char *ident;		/* "qkdn-linkd" */
	const char *default_config;
	const char *help;		/* lines after "Usage: IDENT ..." */
	/* start returns QD_EXIT_OK or an exit code after logging why; stop
	 * runs after start whatever it returned.
	 */
	int (*start)(void *d, const char *cfg_path);
	int (*run)(void *d);
	void (*stop)(void *d);
};

/* Parse the command line, start, go to the background unless -f, run,
 * stop. Returns the exit code.
 */
int qd_daemon_main(const struct qd_daemon *dm, void *d, int argc,
		   char **argv);

/* The TLS context for c's cert, key and ca, or NULL after logging "bad
 * config: REASON".
 */
SSL_CTX *qd_daemon_tls(const struct qd_daemon_conf *c);

/* Block SIGHUP, SIGTERM and SIGINT, ignore SIGPIPE; a signalfd for the
 * first three, or -1 after logging why.
 */
int qd_signalfd(void);
/* Handle what is pending on sfd: SIGHUP makes a new *ssl from c's files
 * for new connections (qd_tls_reload()). True when SIGTERM or SIGINT asks
 * to stop (logged).
 */
bool qd_signals(int sfd, SSL_CTX **ssl, const struct qd_daemon_conf *c);

#endif /* QD_SERVICE_H */
