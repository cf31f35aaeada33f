// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Key IDs as UUID text, hex and base64 (RFC 4648 section 10 vectors),
 * with malformed input and too small output buffers.
 */
#include <string.h>

#include "libqkdn.h"
#include "tap.h"

static const struct {
	const char *in, *b64, *hex;
} vec[] = {
	{ "", "", "" },
	{ "f", "Zg==", "66" },
	{ "fo", "Zm8=", "666f" },
	{ "foo", "Zm9v", "666f6f" },
	{ "foob", "Zm9vYg==", "666f6f62" },
	{ "fooba", "Zm9vYmE=", "666f6f6261" },
	{ "foobar", "Zm9vYmFy", "666f6f626172" },
};

static void test_uuid(void)
{
	static const uint8_t id[QKDN_KEY_ID_LEN] = {
		0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4,
		0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00,
	};
	static const char *const bad[] = {
		"",
		"550e8400-e29b-41d4-a716-44665544000",		/* short */
		"550e8400-e29b-41d4-a716-4466554400000",	/* long */
		"550e8400e29b-41d4-a716-4466554400000",		/* dash moved */
		"550e8400-e29b-41d4-a716-44665544000g",		/* not hex */
		"550e8400-e29b-41d4-a716_446655440000",		/* wrong separator */
		"{50e8400-e29b-41d4-a716-44665544000}",
		"550e8400-e29b-41d4-a716-4466 5440000",
		" 550e8400-e29b-41d4-a716-446655440000",
		"550e840-0e29b-41d4-a716-446655440000",
	};
	uint8_t out[QKDN_KEY_ID_LEN], keep[QKDN_KEY_ID_LEN];
	char s[QKDN_UUID_STR_LEN];
	unsigned int i;
	int all = 1;

	qkdn_uuid_fmt(id, s);
	tap_ok(!strcmp(s, "550e8400-e29b-41d4-a716-446655440000"),
	       "uuid: format canonical lower case");
	tap_ok(qkdn_uuid_parse(s, out) == 0 && !memcmp(out, id, sizeof(id)),
	       "uuid: parse back");
	tap_ok(qkdn_uuid_parse("550E8400-E29B-41D4-A716-446655440000", out) == 0 &&
	       !memcmp(out, id, sizeof(id)), "uuid: upper case accepted");
	memset(out, 0xa5, sizeof(out));
	memcpy(keep, out, sizeof(out));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (qkdn_uuid_parse(bad[i], out) != -1) {
			all = 0;
			printf("# accepted \"%s\"\n", bad[i]);
		}
	tap_ok(all && !memcmp(out, keep, sizeof(out)),
	       "uuid: malformed rejected, output untouched");
	tap_ok(qkdn_uuid_parse(NULL, out) == -1, "uuid: NULL rejected");
	memset(out, 0, sizeof(out));
	qkdn_uuid_fmt(out, s);
	tap_ok(!strcmp(s, "00000000-0000-0000-0000-000000000000") &&
	       strlen(s) == QKDN_UUID_STR_LEN - 1, "uuid: nil");
}

static void test_b64(void)
{
	char out[64];
	uint8_t bin[64];
	unsigned int i;
	int enc = 1, dec = 1;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t n = strlen(vec[i].in);
		int r = qkdn_b64_encode((const uint8_t *)vec[i].in, n, out,
					sizeof(out));

		if (r != (int)strlen(vec[i].b64) || strcmp(out, vec[i].b64))
			enc = 0;
		r = qkdn_b64_decode(vec[i].b64, bin, sizeof(bin));
		if (r != (int)n || memcmp(bin, vec[i].in, n))
			dec = 0;
	}
	tap_ok(enc, "base64: RFC 4648 vectors encode");
	tap_ok(dec, "base64: RFC 4648 vectors decode");

	/* "foobar" needs 8 chars + NUL */
	tap_ok(qkdn_b64_encode((const uint8_t *)"foobar", 6, out, 8) == -1,
	       "base64: encode overflow by one (no room for NUL)");
	tap_ok(qkdn_b64_encode((const uint8_t *)"foobar", 6, out, 9) == 8,
	       "base64: encode exact fit");
	tap_ok(qkdn_b64_encode((const uint8_t *)"", 0, out, 0) == -1,
	       "base64: zero-size output rejected");
	tap_ok(qkdn_b64_decode("Zm9vYmFy", bin, 5) == -1 &&
	       qkdn_b64_decode("Zm9vYmFy", bin, 6) == 6,
	       "base64: decode overflow and exact fit");
	tap_ok(qkdn_b64_decode("Zm8=", bin, 1) == -1 &&
	       qkdn_b64_decode("Zg==", bin, 0) == -1,
	       "base64: decode overflow in the padded group");
	tap_ok(qkdn_b64_decode("Zm9", bin, sizeof(bin)) == -1 &&
	       qkdn_b64_decode("Zm9vY", bin, sizeof(bin)) == -1,
	       "base64: length not a multiple of 4");
	tap_ok(qkdn_b64_decode("Zm9v\n", bin, sizeof(bin)) == -1 &&
	       qkdn_b64_decode("Zm*v", bin, sizeof(bin)) == -1 &&
	       qkdn_b64_decode("Zm-_", bin, sizeof(bin)) == -1,
	       "base64: characters outside the alphabet");
	tap_ok(qkdn_b64_decode("Zg==Zg==", bin, sizeof(bin)) == -1 &&
	       qkdn_b64_decode("Z===", bin, sizeof(bin)) == -1 &&
	       qkdn_b64_decode("====", bin, sizeof(bin)) == -1 &&
	       qkdn_b64_decode("Zm=v", bin, sizeof(bin)) == -1,
	       "base64: misplaced padding");
	tap_ok(qkdn_b64_decode("Zh==", bin, sizeof(bin)) == -1 &&
	       qkdn_b64_decode("Zm9=", bin, sizeof(bin)) == -1,
	       "base64: non-zero unused bits rejected");
	tap_ok(qkdn_b64_decode("+/+/", bin, sizeof(bin)) == 3 &&
	       bin[0] == 0xfb && bin[1] == 0xff && bin[2] == 0xbf,
	       "base64: + and / decode");
}

static void test_hex(void)
{
	char out[64];
	uint8_t bin[64];
	unsigned int i;
	int enc = 1, dec = 1;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t n = strlen(vec[i].in);
		int r = qkdn_hex_encode((const uint8_t *)vec[i].in, n, out,
					sizeof(out));

		if (r != (int)(2 * n) || strcmp(out, vec[i].hex))
			enc = 0;
		r = qkdn_hex_decode(vec[i].hex, bin, sizeof(bin));
		if (r != (int)n || memcmp(bin, vec[i].in, n))
			dec = 0;
	}
	tap_ok(enc, "hex: RFC 4648 vectors encode (lower case)");
	tap_ok(dec, "hex: RFC 4648 vectors decode");
	tap_ok(qkdn_hex_encode((const uint8_t *)"foo", 3, out, 6) == -1 &&
	       qkdn_hex_encode((const uint8_t *)"foo", 3, out, 7) == 6,
	       "hex: encode overflow and exact fit");
	tap_ok(qkdn_hex_decode("666F6f", bin, sizeof(bin)) == 3 &&
	       !memcmp(bin, "foo", 3), "hex: mixed case decodes");
	tap_ok(qkdn_hex_decode("666", bin, sizeof(bin)) == -1 &&
	       qkdn_hex_decode("6g", bin, sizeof(bin)) == -1 &&
	       qkdn_hex_decode("666f6f", bin, 2) == -1,
	       "hex: odd length, bad digit, overflow rejected");
}

static void test_memzero(void)
{
	uint8_t k[32];
	unsigned int i;
	int zero = 1;

	memset(k, 0x5a, sizeof(k));
	qkdn_memzero(k, sizeof(k));
	for (i = 0; i < sizeof(k); i++)
		zero &= k[i] == 0;
	qkdn_memzero(NULL, 0);
	tap_ok(zero, "memzero: erases");
}

int main(void)
{
	tap_plan(6 + 12 + 5 + 1);
	test_uuid();
	test_b64();
	test_hex();
	test_memzero();
	return tap_done();
}
