// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl: a streaming JSON writer, compact or pretty.
 */
#include <inttypes.h>
#include <string.h>

#include "qkdnctl.h"

void qkdnctl_json_init(struct qkdnctl_json *jw, FILE *f, bool pretty)
{
	memset(jw, 0, sizeof(*jw));
	jw->f = f;
	jw->pretty = pretty;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;	/* overlong, out of range, or a surrogate */
	return n;
}

void qkdnctl_json_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		size_t n;

		switch (*s) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				fprintf(f, "\\u%04x", *s);
				break;
			}
			n = utf8_len(s);
			if (!n) {
				fputs("\\ufffd", f);
				break;
			}
			fwrite(s, 1, n, f);
			s += n;
			continue;
		}
		s++;
	}
	fputc('"', f);
}

static void json_indent(struct qkdnctl_json *jw)
{
	int i;

	fputc('\n', jw->f);
	for (i = 0; i < jw->depth; i++)
		fputs("    ", jw->f);
}

/* Separator, indentation and key before a value. */
static void json_member(struct qkdnctl_json *jw, const char *key)
{
	if (jw->depth > 0) {
		if (jw->nonempty[jw->depth])
			fputc(',', jw->f);
		jw->nonempty[jw->depth] = true;
		if (jw->pretty)
			json_indent(jw);
	}
	if (key) {
		qkdnctl_json_string(jw->f, key);
		fputs(jw->pretty ? ": " : ":", jw->f);
	}
}

static void json_open(struct qkdnctl_json *jw, const char *key, char c)
{
	json_member(jw, key);
	fputc(c, jw->f);
	if (jw->depth < QKDNCTL_JSON_DEPTH - 1)
		jw->depth++;
	jw->nonempty[jw->depth] = false;
	jw->close[jw->depth] = c == '{' ? '}' : ']';
}

void qkdnctl_json_obj(struct qkdnctl_json *jw, const char *key)
{
	json_open(jw, key, '{');
}

void qkdnctl_json_arr(struct qkdnctl_json *jw, const char *key)
{
	json_open(jw, key, '[');
}

/* Close the innermost object or array; it knows which by what it opened. */
void qkdnctl_json_end(struct qkdnctl_json *jw)
{
	bool nonempty = jw->nonempty[jw->depth];
	char c = jw->close[jw->depth];

	if (jw->depth > 0)
		jw->depth--;
	if (jw->pretty && nonempty)
		json_indent(jw);
	fputc(c, jw->f);
	if (!jw->depth)
		fputc('\n', jw->f);
}

void qkdnctl_json_str(struct qkdnctl_json *jw, const char *key, const char *v)
{
	json_member(jw, key);
	qkdnctl_json_string(jw->f, v);
}

void qkdnctl_json_u64(struct qkdnctl_json *jw, const char *key, uint64_t v)
{
	json_member(jw, key);
	fprintf(jw->f, "%" PRIu64, v);
}

void qkdnctl_json_bool(struct qkdnctl_json *jw, const char *key, bool v)
{
	json_member(jw, key);
	fputs(v ? "true" : "false", jw->f);
}
