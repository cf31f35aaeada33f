/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Daemon logging: stderr in the foreground, syslog otherwise. Every line
 * starts with the program's name (ident).
 */
#ifndef QD_LOG_H
#define QD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* foreground: log to stderr; otherwise syslog (and stderr until
 * qd_log_detach()). verbose: also LOG_DEBUG messages.
 */
void qd_log_init(const char *ident, bool foreground, bool verbose);
void qd_log_detach(void);
/* Messages above this level are dropped (tests use LOG_CRIT to stay quiet). */
void qd_log_level(int level);

void qd_log(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define qd_err(...)		qd_log(LOG_ERR, __VA_ARGS__)
#define qd_warn(...)		qd_log(LOG_WARNING, __VA_ARGS__)
#define qd_notice(...)	qd_log(LOG_NOTICE, __VA_ARGS__)
#define qd_info(...)		qd_log(LOG_INFO, __VA_ARGS__)
#define qd_dbg(...)		qd_log(LOG_DEBUG, __VA_ARGS__)

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t qd_now_ms(void);

#endif /* QD_LOG_H */
