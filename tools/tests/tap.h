/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A minimal TAP producer for the unit tests: "ok N - name" and
 * "not ok N - name" lines, a plan, and an exit status that says whether
 * every test passed.
 */
#ifndef QKDN_TAP_H
#define QKDN_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_n, tap_failed;

static inline void tap_plan(int n)
{
	printf("TAP version 13\n1..%d\n", n);
	fflush(stdout);
}

static inline __attribute__((format(printf, 2, 3)))
int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		tap_failed++;
	return cond;
}

static inline void tap_skip(const char *why)
{
	printf("ok %d - # SKIP %s\n", ++tap_n, why);
	fflush(stdout);
}

static inline void tap_skip_all(const char *why)
{
	printf("# SKIP %s\n", why);
	fflush(stdout);
	tap_n = -1;
}

static inline int tap_done(void)
{
	if (tap_n < 0)
		return 0;
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_n);
	return tap_failed ? 1 : 0;
}

#endif /* QKDN_TAP_H */
