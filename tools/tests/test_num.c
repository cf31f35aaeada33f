// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl's numbers (decimal, k/M/G suffixes, overflow) and keyword
 * abbreviations.
 */
#include <errno.h>

#include "../qkdnctl/qkdnctl.h"
#include "tap.h"

static int num(const char *s, enum qkdnctl_num kind, uint64_t max,
	       uint64_t want)
{
	uint64_t v = 0;

	return qkdnctl_parse_num(s, kind, max, &v) == 0 && v == want;
}

static int bad(const char *s, enum qkdnctl_num kind, uint64_t max, int err)
{
	uint64_t v = 12345;

	errno = 0;
	return qkdnctl_parse_num(s, kind, max, &v) == -1 && errno == err &&
	       v == 12345;
}

int main(void)
{
	static const char *const words[] = { "show", "set", "add", "del", NULL };
	static const char *const keys[] = { "get", "get-by-id", NULL };
	const enum qkdnctl_num P = QKDNCTL_NUM_PLAIN, B = QKDNCTL_NUM_BYTES,
			       R = QKDNCTL_NUM_RATE;

	tap_plan(16);
	tap_ok(num("0", P, 10, 0) && num("10", P, 10, 10) &&
	       num("007", P, 10, 7), "plain decimal");
	tap_ok(bad("11", P, 10, ERANGE), "plain above max: ERANGE");
	tap_ok(bad("", P, 10, EINVAL) && bad("-1", P, 10, EINVAL) &&
	       bad("+1", P, 10, EINVAL) && bad(" 1", P, 10, EINVAL) &&
	       bad("1 ", P, 10, EINVAL) && bad("0x10", P, 100, EINVAL) &&
	       bad("1.5", P, 10, EINVAL), "not a number: EINVAL");
	tap_ok(bad("1k", P, 100000, EINVAL), "plain takes no suffix");
	tap_ok(num("1k", B, UINT64_MAX, 1024) && num("1K", B, UINT64_MAX, 1024) &&
	       num("2M", B, UINT64_MAX, 2u << 20) &&
	       num("1G", B, UINT64_MAX, 1u << 30), "bytes: binary suffixes");
	tap_ok(num("1k", R, UINT64_MAX, 1000) && num("3M", R, UINT64_MAX, 3000000) &&
	       num("2G", R, UINT64_MAX, 2000000000ull), "rate: decimal suffixes");
	tap_ok(bad("1x", B, UINT64_MAX, EINVAL) && bad("1kk", B, UINT64_MAX, EINVAL) &&
	       bad("1m", B, UINT64_MAX, EINVAL) && bad("k", B, UINT64_MAX, EINVAL),
	       "bad suffixes");
	tap_ok(num("1G", B, 1u << 30, 1u << 30) && bad("1025M", B, 1u << 30, ERANGE),
	       "bytes: max is inclusive");
	tap_ok(num("18446744073709551615", P, UINT64_MAX, UINT64_MAX),
	       "UINT64_MAX parses");
	tap_ok(bad("18446744073709551616", P, UINT64_MAX, ERANGE) &&
	       bad("99999999999999999999999", P, UINT64_MAX, ERANGE),
	       "digits overflow: ERANGE");
	tap_ok(bad("18014398509481984k", B, UINT64_MAX, ERANGE) &&
	       bad("18446744073709552G", R, UINT64_MAX, ERANGE) &&
	       num("18014398509481983k", B, UINT64_MAX, 18014398509481983ull * 1024),
	       "suffix multiplication overflow: ERANGE");

	tap_ok(qkdnctl_match("show", words) == 0 && qkdnctl_match("del", words) == 3,
	       "match: exact");
	tap_ok(qkdnctl_match("sh", words) == 0 && qkdnctl_match("a", words) == 2,
	       "match: unique prefix");
	tap_ok(qkdnctl_match("s", words) == -2, "match: ambiguous prefix");
	tap_ok(qkdnctl_match("x", words) == -1 && qkdnctl_match("", words) == -1 &&
	       qkdnctl_match("shows", words) == -1, "match: no match");
	tap_ok(qkdnctl_match("get", keys) == 0 && qkdnctl_match("get-", keys) == 1 &&
	       qkdnctl_match("g", keys) == -2, "match: exact word beats longer one");
	return tap_done();
}
