// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libqkdn: key IDs as UUID text, hex and base64 (RFC 4648) codecs, and the
 * erasure of key bytes.
 */
#include <string.h>

#include "libqkdn.h"

static const char qkdn_hexdig[] = "0123456789abcdef";

static int qkdn_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 8-4-4-4-12: the dash positions of the canonical form. */
static int qkdn_uuid_dash(size_t i)
{
	return i == 8 || i == 13 || i == 18 || i == 23;
}

void qkdn_uuid_fmt(const uint8_t id[QKDN_KEY_ID_LEN], char out[QKDN_UUID_STR_LEN])
{
	size_t i, o = 0;

	for (i = 0; i < QKDN_KEY_ID_LEN; i++) {
		if (qkdn_uuid_dash(o))
			out[o++] = '-';
		out[o++] = qkdn_hexdig[id[i] >> 4];
		out[o++] = qkdn_hexdig[id[i] & 15];
	}
	out[o] = '\0';
}

int qkdn_uuid_parse(const char *s, uint8_t id[QKDN_KEY_ID_LEN])
{
	uint8_t tmp[QKDN_KEY_ID_LEN];
	size_t i, n = 0;

	if (!s || strlen(s) != QKDN_UUID_STR_LEN - 1)
		return -1;
	for (i = 0; i < QKDN_UUID_STR_LEN - 1; i++) {
		int hi, lo;

		if (qkdn_uuid_dash(i)) {
			if (s[i] != '-')
				return -1;
			continue;
		}
		hi = qkdn_hexval(s[i]);
		lo = qkdn_hexval(s[++i]);
		if (hi < 0 || lo < 0)
			return -1;
		tmp[n++] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(id, tmp, sizeof(tmp));
	return 0;
}

int qkdn_hex_encode(const uint8_t *in, size_t len, char *out, size_t outlen)
{
	size_t i;

	if (!outlen || len > (outlen - 1) / 2)
		return -1;
	for (i = 0; i < len; i++) {
		out[2 * i] = qkdn_hexdig[in[i] >> 4];
		out[2 * i + 1] = qkdn_hexdig[in[i] & 15];
	}
	out[2 * len] = '\0';
	return (int)(2 * len);
}

int qkdn_hex_decode(const char *in, uint8_t *out, size_t outlen)
{
	size_t len = strlen(in), i;

	if (len % 2 || len / 2 > outlen || len / 2 > 0x7fffffff)
		return -1;
	for (i = 0; i < len / 2; i++) {
		int hi = qkdn_hexval(in[2 * i]);
		int lo = qkdn_hexval(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (int)(len / 2);
}

static const char qkdn_b64dig[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int qkdn_b64_encode(const uint8_t *in, size_t len, char *out, size_t outlen)
{
	size_t need, i, o = 0;

	if (len > (SIZE_MAX / 4) * 3 - 3)
		return -1;
	need = (len + 2) / 3 * 4;
	if (need >= outlen || need > 0x7fffffff)
		return -1;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		out[o++] = qkdn_b64dig[v >> 18];
		out[o++] = qkdn_b64dig[(v >> 12) & 63];
		out[o++] = qkdn_b64dig[(v >> 6) & 63];
		out[o++] = qkdn_b64dig[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = qkdn_b64dig[v >> 18];
		out[o++] = qkdn_b64dig[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = qkdn_b64dig[v >> 18];
		out[o++] = qkdn_b64dig[(v >> 12) & 63];
		out[o++] = qkdn_b64dig[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return (int)o;
}

static int qkdn_b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict RFC 4648 section 4: padding required, no whitespace, and the
 * unused bits of the last group must be zero (one text per byte string).
 */
int qkdn_b64_decode(const char *in, uint8_t *out, size_t outlen)
{
	size_t len = strlen(in), i, o = 0;

	if (len % 4 || len / 4 * 3 > 0x7fffffff)
		return -1;
	for (i = 0; i < len; i += 4) {
		int a = qkdn_b64val(in[i]), b = qkdn_b64val(in[i + 1]);
		int c = qkdn_b64val(in[i + 2]), d = qkdn_b64val(in[i + 3]);
		int last = i + 4 == len;
		uint32_t v;

		if (a < 0 || b < 0)
			return -1;
		if (last && in[i + 2] == '=' && in[i + 3] == '=') {
			if (b & 15 || o + 1 > outlen)
				return -1;
			out[o++] = (uint8_t)(a << 2 | b >> 4);
			break;
		}
		if (c < 0)
			return -1;
		if (last && in[i + 3] == '=') {
			if (c & 3 || o + 2 > outlen)
				return -1;
			v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
			out[o++] = (uint8_t)(v >> 16);
			out[o++] = (uint8_t)(v >> 8);
			break;
		}
		if (d < 0 || o + 3 > outlen)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	return (int)o;
}

void qkdn_memzero(void *p, size_t len)
{
	if (p && len)
		explicit_bzero(p, len);
}
