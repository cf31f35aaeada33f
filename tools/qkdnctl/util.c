// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl: numbers with suffixes, keyword abbreviations, batch lines.
 */
#include <errno.h>
#include <string.h>

#include "qkdnctl.h"

int qkdnctl_parse_num(const char *s, enum qkdnctl_num kind, uint64_t max,
		      uint64_t *out)
{
	uint64_t v = 0, mul = 1;

	if (!s || *s < '0' || *s > '9') {
		errno = EINVAL;
		return -1;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (v > (UINT64_MAX - d) / 10) {
			errno = ERANGE;
			return -1;
		}
		v = v * 10 + d;
	}
	if (*s) {
		uint64_t base = kind == QKDNCTL_NUM_BYTES ? 1024 : 1000;

		if (kind == QKDNCTL_NUM_PLAIN || s[1]) {
			errno = EINVAL;
			return -1;
		}
		switch (*s) {
		case 'k':
		case 'K':
			mul = base;
			break;
		case 'M':
			mul = base * base;
			break;
		case 'G':
			mul = base * base * base;
			break;
		default:
			errno = EINVAL;
			return -1;
		}
	}
	if (v > UINT64_MAX / mul || v * mul > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v * mul;
	return 0;
}

int qkdnctl_match(const char *word, const char *const *list)
{
	size_t len = strlen(word);
	int i, found = -1;

	if (!len)
		return -1;
	for (i = 0; list[i]; i++)
		if (!strcmp(word, list[i]))
			return i;
	for (i = 0; list[i]; i++) {
		if (strncmp(word, list[i], len))
			continue;
		if (found >= 0)
			return -2;
		found = i;
	}
	return found;
}

int qkdnctl_split(char *line, char **argv, int max)
{
	int argc = 0;
	char *p = line;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p || *p == '#')
			break;
		if (argc >= max - 1)
			return -1;
		argv[argc++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		if (*p)
			*p++ = '\0';
	}
	argv[argc] = NULL;
	return argc;
}
