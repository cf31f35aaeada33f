/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-linkd logging: stderr in the foreground, syslog otherwise.
 */
#ifndef LINKD_LOG_H
#define LINKD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* foreground: log to stderr; otherwise syslog (and stderr until
 * linkd_log_detach()). verbose: also LOG_DEBUG messages.
 */
void linkd_log_init(bool foreground, bool verbose);
void linkd_log_detach(void);
/* Messages above this level are dropped (tests use LOG_CRIT to stay quiet). */
void linkd_log_level(int level);

void linkd_log(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define linkd_err(...)		linkd_log(LOG_ERR, __VA_ARGS__)
#define linkd_warn(...)		linkd_log(LOG_WARNING, __VA_ARGS__)
#define linkd_notice(...)	linkd_log(LOG_NOTICE, __VA_ARGS__)
#define linkd_info(...)		linkd_log(LOG_INFO, __VA_ARGS__)
#define linkd_dbg(...)		linkd_log(LOG_DEBUG, __VA_ARGS__)

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t linkd_now_ms(void);

#endif /* LINKD_LOG_H */
