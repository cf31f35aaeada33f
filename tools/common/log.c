// SPDX-License-Identifier: GPL-2.0
/*
 * Daemon logging, shared by qkdn-linkd and qkdn-controllerd.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

static const char *log_ident = "qkdn";
static bool log_stderr = true;
static bool log_syslog;
static int log_max = LOG_INFO;

void qd_log_init(const char *ident, bool foreground, bool verbose)
{
	log_ident = ident;
	log_max = verbose ? LOG_DEBUG : LOG_INFO;
	log_stderr = true;
	log_syslog = !foreground;
	if (log_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

void qd_log_detach(void)
{
	if (log_syslog)
		log_stderr = false;
}

void qd_log_level(int level)
{
	log_max = level;
}

void qd_log(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > log_max)
		return;
	if (log_syslog) {
		va_start(ap, fmt);
		vsyslog(prio, fmt, ap);
		va_end(ap);
	}
	if (log_stderr) {
		va_start(ap, fmt);
		fprintf(stderr, "%s: ", log_ident);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
}

uint64_t qd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
