/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the benchmark helpers (keyrate.c, relaybench.c) share: the clock,
 * medians, and the keys of a KEY_GET or KEY_GET_BY_ID reply, taken the
 * way an application takes them (copied out, then erased).
 */
#ifndef QKDN_BENCH_H
#define QKDN_BENCH_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libqkdn.h"

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of v[n], which it sorts. */
static inline double bench_median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct bench_keys {
	unsigned int want;	/* keys expected: more are not counted */
	unsigned int bytes;	/* key size in bytes; 0: any */
	unsigned int keys;	/* KEY nests with an ID and bytes of that size */
	uint8_t ids[QKDN_KEYS_PER_REQUEST][QKDN_KEY_ID_LEN];
	uint8_t key[QKDN_KEY_SIZE_MAX / 8];	/* where the application puts it */
};

/* mnl callback: the keys of a reply into the struct bench_keys data. */
static inline int bench_keys_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *kb[QKDN_A_KEY_MAX + 1];
	struct bench_keys *r = data;
	struct nlattr *a;

	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		const struct nlattr *d;
		uint16_t len;

		if (mnl_attr_get_type(a) != QKDN_A_KEY)
			continue;
		if (qkdn_parse_key(a, kb) || !kb[QKDN_A_KEY_ID] ||
		    !kb[QKDN_A_KEY_DATA] || r->keys >= r->want)
			continue;
		d = kb[QKDN_A_KEY_DATA];
		len = mnl_attr_get_payload_len(d);
		if ((r->bytes && len != r->bytes) || len > sizeof(r->key))
			continue;
		memcpy(r->ids[r->keys], mnl_attr_get_payload(kb[QKDN_A_KEY_ID]),
		       QKDN_KEY_ID_LEN);
		memcpy(r->key, mnl_attr_get_payload(d), len);
		qkdn_memzero(r->key, len);
		r->keys++;
	}
	return MNL_CB_OK;
}

#endif /* QKDN_BENCH_H */
