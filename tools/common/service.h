/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every qkdn daemon does the same way: its command line (-c FILE, -f,
 * -v, -h), going to the background, and its signals (SIGHUP reloads,
 * SIGTERM and SIGINT stop, SIGPIPE is ignored) read from a signalfd.
 */
#ifndef QD_SERVICE_H
#define QD_SERVICE_H

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

#define QD_SIG_RELOAD	1
#define QD_SIG_STOP	2

/* Block SIGHUP, SIGTERM and SIGINT, ignore SIGPIPE; a signalfd for the
 * first three, or -1 with errno.
 */
int qd_signalfd(void);
/* Read what is pending on sfd: QD_SIG_RELOAD and/or QD_SIG_STOP (logged). */
unsigned int qd_signals(int sfd);

#endif /* QD_SERVICE_H */
