// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl's JSON writer: string escaping (quotes, backslash, control
 * characters, invalid UTF-8) and structure, compact and pretty.
 */
#include <stdlib.h>
#include <string.h>

#include "../qkdnctl/qkdnctl.h"
#include "tap.h"

static char *esc(const char *s)
{
	static char out[256];
	FILE *f = fmemopen(out, sizeof(out), "w");

	qkdnctl_json_string(f, s);
	fclose(f);
	return out;
}

int main(void)
{
	struct qkdnctl_json jw;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	tap_plan(12);
	tap_ok(!strcmp(esc("abc"), "\"abc\""), "plain string");
	tap_ok(!strcmp(esc(""), "\"\""), "empty string");
	tap_ok(!strcmp(esc("a\"b\\c/"), "\"a\\\"b\\\\c/\""), "quote and backslash");
	tap_ok(!strcmp(esc("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\""), "short escapes");
	tap_ok(!strcmp(esc("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\""),
	       "other control characters as \\u00XX");
	tap_ok(!strcmp(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"),
		       "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\""),
	       "valid UTF-8 passes through");
	tap_ok(!strcmp(esc("a\xff" "b\xc3"), "\"a\\ufffdb\\ufffd\""),
	       "invalid bytes and truncated sequence replaced");
	tap_ok(!strcmp(esc("\xc0\xaf\xed\xa0\x80"),
		       "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\""),
	       "overlong and surrogate encodings replaced");

	f = open_memstream(&buf, &len);
	qkdnctl_json_init(&jw, f, false);
	qkdnctl_json_obj(&jw, NULL);
	qkdnctl_json_str(&jw, "a", "x");
	qkdnctl_json_u64(&jw, "n", UINT64_MAX);
	qkdnctl_json_bool(&jw, "t", true);
	qkdnctl_json_arr(&jw, "l");
	qkdnctl_json_u64(&jw, NULL, 1);
	qkdnctl_json_obj(&jw, NULL);
	qkdnctl_json_end(&jw);
	qkdnctl_json_end(&jw);
	qkdnctl_json_arr(&jw, "e");
	qkdnctl_json_end(&jw);
	qkdnctl_json_end(&jw);
	fclose(f);
	tap_ok(!strcmp(buf, "{\"a\":\"x\",\"n\":18446744073709551615,\"t\":true,"
			    "\"l\":[1,{}],\"e\":[]}\n"), "compact structure");
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	qkdnctl_json_init(&jw, f, true);
	qkdnctl_json_arr(&jw, NULL);
	qkdnctl_json_obj(&jw, NULL);
	qkdnctl_json_u64(&jw, "link_id", 1);
	qkdnctl_json_obj(&jw, "stats");
	qkdnctl_json_end(&jw);
	qkdnctl_json_end(&jw);
	qkdnctl_json_end(&jw);
	fclose(f);
	tap_ok(!strcmp(buf, "[\n    {\n        \"link_id\": 1,\n        \"stats\": {}\n    }\n]\n"),
	       "pretty structure");
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	qkdnctl_json_init(&jw, f, false);
	qkdnctl_json_arr(&jw, NULL);
	qkdnctl_json_end(&jw);
	qkdnctl_json_obj(&jw, NULL);
	qkdnctl_json_str(&jw, "k\"ey", "v\n");
	qkdnctl_json_end(&jw);
	fclose(f);
	tap_ok(!strcmp(buf, "[]\n{\"k\\\"ey\":\"v\\n\"}\n"),
	       "top-level values each end a line; keys are escaped");
	free(buf);

	buf = NULL;
	f = open_memstream(&buf, &len);
	qkdnctl_json_init(&jw, f, true);
	qkdnctl_json_arr(&jw, NULL);
	qkdnctl_json_end(&jw);
	fclose(f);
	tap_ok(!strcmp(buf, "[]\n"), "pretty empty array");
	free(buf);
	return tap_done();
}
