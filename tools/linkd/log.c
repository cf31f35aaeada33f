// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-linkd logging.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

static bool log_stderr = true;
static bool log_syslog;
static int log_max = LOG_INFO;

void linkd_log_init(bool foreground, bool verbose)
{
	log_max = verbose ? LOG_DEBUG : LOG_INFO;
	log_stderr = true;
	log_syslog = !foreground;
	if (log_syslog)
		openlog("qkdn-linkd", LOG_PID, LOG_DAEMON);
}

void linkd_log_detach(void)
{
	if (log_syslog)
		log_stderr = false;
}

void linkd_log_level(int level)
{
	log_max = level;
}

void linkd_log(int prio, const char *fmt, ...)
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
		fputs("qkdn-linkd: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
}

uint64_t linkd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
