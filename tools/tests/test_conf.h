/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the daemons' configuration tests share: a file's text as the
 * stream a parser reads, and the checks of a refused file.
 */
#ifndef TEST_CONF_H
#define TEST_CONF_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "tap.h"

static char err[512];	/* the parser's message */

/* text as a file to read (fmemopen); NULL if it cannot be. */
static inline FILE *conf_text(const char *text)
{
	return fmemopen((void *)text, strlen(text), "r");
}

/* The parser returned r for a file it should refuse: -1, a message with
 * want, and nothing of the file kept in c.
 */
static inline void conf_refused(int r, const struct qd_daemon_conf *c,
			 const char *want, const char *name)
{
	if (!tap_ok(r == -1 && strstr(err, want) && !c->peers && !c->cert,
		    "%s", name))
		printf("#   got %d '%s', want '%s'\n", r, err, want);
}

/* bad(text, want, name) refuses a line longer than QD_LINE_MAX in the
 * file named file.
 */
static inline void conf_long_line(void (*bad)(const char *, const char *,
				       const char *),
			   const char *file)
{
	char *text = malloc(QD_LINE_MAX + 64), want[64];

	strcpy(text, "cert = ");
	memset(text + 7, 'a', QD_LINE_MAX);
	strcpy(text + 7 + QD_LINE_MAX, "\n");
	snprintf(want, sizeof(want), "%s:1: line longer than", file);
	bad(text, want, "line too long");
	free(text);
}

#endif /* TEST_CONF_H */
