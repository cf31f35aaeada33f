// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-kmed's ETSI GS QKD 014 layer: paths, GET queries and POST bodies,
 * accepted and refused (status and message), a refused request keeping
 * nothing; multicast (additional_slave_SAE_IDs) and the kernel's refusals
 * of it as HTTP status and message (kerror.c); the JSON of keys, status
 * and errors, parsed back; the messages for what libevent refuses itself;
 * and Jansson allocating through the erasing allocator.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "../kmed/etsi.h"
#include "../kmed/kmed.h"
#include "libqkdn.h"
#include "tap.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define POISON		0xee	/* what a refusal must leave in place */

static const struct etsi_limits lim = {
	.max_key_per_request = 128,
	.max_key_size = 8192,
	.min_key_size = 64,
	.max_sae_id_count = 2,
};

static const char uuid1[] = "00112233-4455-6677-8899-aabbccddeeff";
static const char uuid2[] = "f0e1d2c3-b4a5-9687-7869-5a4b3c2d1e0f";
static const uint8_t id1[QKDN_KEY_ID_LEN] = {
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
};

static struct etsi_error err;
static struct etsi_path path;
static struct etsi_enc_req enc;
static struct etsi_dec_req dec;

static bool untouched(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != POISON)
			return false;
	return true;
}

static void reset(void *p, size_t len)
{
	memset(p, POISON, len);
	memset(&err, 0, sizeof(err));
}

static int path_parse(const char *s)
{
	reset(&path, sizeof(path));
	return etsi_path_parse(s, &path, &err);
}

static int encq_lim(const char *q, const struct etsi_limits *l)
{
	reset(&enc, sizeof(enc));
	return etsi_enc_query(q, l, &enc, &err);
}

static int encq(const char *q)
{
	return encq_lim(q, &lim);
}

static int encb_lim(const char *b, const struct etsi_limits *l)
{
	reset(&enc, sizeof(enc));
	return etsi_enc_body(b, b ? strlen(b) : 0, l, &enc, &err);
}

static int encb(const char *b)
{
	return encb_lim(b, &lim);
}

static int decq(const char *q)
{
	reset(&dec, sizeof(dec));
	return etsi_dec_query(q, &dec, &err);
}

static int decb(const char *b)
{
	reset(&dec, sizeof(dec));
	return etsi_dec_body(b, b ? strlen(b) : 0, &dec, &err);
}

/* Refused with status, message msg (unless NULL), and nothing kept. */
static bool refused(int rc, int status, const char *msg, const void *req,
		    size_t len)
{
	if (rc != -1 || err.status != status || !untouched(req, len))
		return false;
	if (msg && strcmp(err.message, msg)) {
		printf("# message: %s\n", err.message);
		return false;
	}
	return true;
}

#define path_refused(rc, st)	refused(rc, st, NULL, &path, sizeof(path))
#define enc_refused(rc, msg)	refused(rc, 400, msg, &enc, sizeof(enc))
#define dec_refused(rc, msg)	refused(rc, 400, msg, &dec, sizeof(dec))

static bool enc_is(uint32_t number, uint32_t size, unsigned int n_slaves)
{
	return enc.number == number && enc.size == size &&
	       enc.n_slaves == n_slaves;
}

static void test_path(void)
{
	static const char *const not_found[] = {
		"", "/", "/api/v1/keys", "/api/v1/keys/", "/api/v1/keys/sae-b",
		"/api/v1/keys/sae-b/", "/api/v1/keys/sae-b/status/",
		"/api/v1/keys/sae-b/foo", "/api/v1/keys/sae-b/enc_keys/",
		"/api/v1/keys/sae-b/Status", "/api/v1/keys/sae-b/enc_keys?number=1",
		"/api/v2/keys/sae-b/status", "/API/v1/keys/sae-b/status",
		"api/v1/keys/sae-b/status", "//api/v1/keys/sae-b/status",
		"/api/v1/keys/a/b/status", "/api/v1/key/sae-b/status",
	};
	static const char *const bad_id[] = {
		"/api/v1/keys//status", "/api/v1/keys/sae%2Db/status",
		"/api/v1/keys/sae b/enc_keys", "/api/v1/keys/s\xc3\xa9/dec_keys",
		"/api/v1/keys/sae#1/status", "/api/v1/keys/sae+1/status",
	};
	char p[128], id[QKDN_ID_MAX + 1];
	size_t i;

	tap_ok(path_parse("/api/v1/keys/sae-b/status") == 0 &&
	       path.op == ETSI_STATUS && !strcmp(path.sae, "sae-b"),
	       "path: status");
	tap_ok(path_parse("/api/v1/keys/sae-b/enc_keys") == 0 &&
	       path.op == ETSI_ENC_KEYS && !strcmp(path.sae, "sae-b"),
	       "path: enc_keys");
	tap_ok(path_parse("/api/v1/keys/sae-a/dec_keys") == 0 &&
	       path.op == ETSI_DEC_KEYS && !strcmp(path.sae, "sae-a"),
	       "path: dec_keys");
	tap_ok(path_parse("/api/v1/keys/AZaz09._-:x@y/status") == 0 &&
	       !strcmp(path.sae, "AZaz09._-:x@y"),
	       "path: every character an ID may have");

	memset(id, 'a', QKDN_ID_MAX - 1);
	id[QKDN_ID_MAX - 1] = '\0';
	snprintf(p, sizeof(p), "/api/v1/keys/%s/enc_keys", id);
	tap_ok(path_parse(p) == 0 && !strcmp(path.sae, id),
	       "path: ID of 63 characters");
	memset(id, 'a', QKDN_ID_MAX);
	id[QKDN_ID_MAX] = '\0';
	snprintf(p, sizeof(p), "/api/v1/keys/%s/enc_keys", id);
	tap_ok(path_refused(path_parse(p), 400),
	       "path: ID of 64 characters is 400");

	for (i = 0; i < ARRAY_SIZE(not_found); i++)
		tap_ok(path_refused(path_parse(not_found[i]), 404),
		       "path: '%s' is 404", not_found[i]);
	tap_ok(path_refused(path_parse(NULL), 404), "path: NULL is 404");
	for (i = 0; i < ARRAY_SIZE(bad_id); i++)
		tap_ok(path_refused(path_parse(bad_id[i]), 400),
		       "path: bad ID %zu is 400", i);
	path_parse("/nope");
	tap_ok(!strcmp(err.message, "unknown path") && !err.detail[0],
	       "path: 404 message");
}

static void test_enc_query(void)
{
	static const char *const bad[] = {
		"number", "number=", "=5", "number=abc", "number=-1",
		"number=+1", "number= 1", "number=1 ", "number=0x10",
		"number=1.0", "number=1e2", "number=%31", "number=1&",
		"&number=1", "number=1&&size=64", "&", "Number=1", "foo=1",
		"number=1&foo", "key_ID=1", "size=", "size=-64", "size=64=",
		"number=1;size=64",
	};
	struct etsi_limits l = lim;
	size_t i;

	tap_ok(encq(NULL) == 0 && enc_is(1, 0, 0), "enc query: NULL, defaults");
	tap_ok(encq("") == 0 && enc_is(1, 0, 0), "enc query: empty, defaults");
	tap_ok(encq("number=5") == 0 && enc_is(5, 0, 0),
	       "enc query: number only, size 0");
	tap_ok(encq("size=256") == 0 && enc_is(1, 256, 0),
	       "enc query: size only, number 1");
	tap_ok(encq("number=128&size=8192") == 0 && enc_is(128, 8192, 0),
	       "enc query: both, at their maxima");
	tap_ok(encq("size=64&number=1") == 0 && enc_is(1, 64, 0),
	       "enc query: either order, at their minima");
	tap_ok(encq("number=007") == 0 && enc_is(7, 0, 0),
	       "enc query: leading zeros are decimal");

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		tap_ok(enc_refused(encq(bad[i]), NULL),
		       "enc query: '%s' is 400", bad[i]);

	tap_ok(enc_refused(encq("number=4294967296"),
			   "number shall be between 1 and 128"),
	       "enc query: number 2^32 overflows");
	tap_ok(enc_refused(encq("number=99999999999999999999999"), NULL),
	       "enc query: number far beyond 64 bits");
	tap_ok(enc_refused(encq("size=4294967296"),
			   "size shall be between 64 and 8192"),
	       "enc query: size 2^32 overflows");
	tap_ok(enc_refused(encq("number=1&number=1"), "number is repeated"),
	       "enc query: number repeated");
	tap_ok(enc_refused(encq("size=64&number=2&size=64"),
			   "size is repeated"), "enc query: size repeated");
	tap_ok(enc_refused(encq("size=12"), "size shall be a multiple of 8"),
	       "enc query: size not a multiple of 8");
	tap_ok(enc_refused(encq("number=0"),
			   "number shall be between 1 and 128"),
	       "enc query: number 0");
	tap_ok(enc_refused(encq("number=129"),
			   "number shall be between 1 and 128"),
	       "enc query: number above max_key_per_request");
	tap_ok(enc_refused(encq("size=0"), "size shall be between 64 and 8192"),
	       "enc query: size 0");
	tap_ok(enc_refused(encq("size=56"), NULL) &&
	       enc_refused(encq("size=8200"), NULL),
	       "enc query: size below min_key_size, above max_key_size");
	tap_ok(enc_refused(encq("foo=1"), "unknown query parameter foo"),
	       "enc query: unknown parameter named");
	tap_ok(enc_refused(encq("number=x"), "number shall be a decimal integer"),
	       "enc query: not decimal, message");

	l.min_key_size = 0;
	l.max_key_size = 1020;
	tap_ok(encq_lim("size=8", &l) == 0 && enc_is(1, 8, 0) &&
	       enc_refused(encq_lim("size=0", &l),
			   "size shall be between 8 and 1016"),
	       "enc query: size range rounded to multiples of 8, never 0");
}

static void test_enc_body(void)
{
	static const struct {
		const char *body, *why;
	} bad[] = {
		{ "{\"number\":\"1\"}", "number as a string" },
		{ "{\"number\":1.0}", "number as a float" },
		{ "{\"number\":1e2}", "number in exponent form" },
		{ "{\"number\":-1}", "number negative" },
		{ "{\"number\":null}", "number null" },
		{ "{\"number\":true}", "number boolean" },
		{ "{\"number\":[1]}", "number an array" },
		{ "{\"number\":{}}", "number an object" },
		{ "{\"number\":0}", "number 0" },
		{ "{\"number\":129}", "number above max_key_per_request" },
		{ "{\"number\":4294967296}", "number 2^32" },
		{ "{\"number\":4294967297}", "number 2^32 + 1" },
		{ "{\"number\":-4294967295}", "number -(2^32 - 1)" },
		{ "{\"number\":99999999999999999999}", "number beyond 64 bits" },
		{ "{\"size\":\"256\"}", "size as a string" },
		{ "{\"size\":256.0}", "size as a float" },
		{ "{\"size\":-8}", "size negative" },
		{ "{\"size\":0}", "size 0" },
		{ "{\"size\":56}", "size below min_key_size" },
		{ "{\"size\":8200}", "size above max_key_size" },
		{ "{\"size\":4294967296}", "size 2^32" },
		{ "{\"size\":null}", "size null" },
		{ "{\"additional_slave_SAE_IDs\":\"sae-c\"}", "slaves a string" },
		{ "{\"additional_slave_SAE_IDs\":{}}", "slaves an object" },
		{ "{\"additional_slave_SAE_IDs\":[1]}", "slave a number" },
		{ "{\"additional_slave_SAE_IDs\":[null]}", "slave null" },
		{ "{\"additional_slave_SAE_IDs\":[\"a b\"]}", "slave with a space" },
		{ "{\"additional_slave_SAE_IDs\":[\"\"]}", "slave empty" },
		{ "{\"additional_slave_SAE_IDs\":[\"a%40b\"]}", "slave with %" },
		{ "{\"additional_slave_SAE_IDs\":[\"x\",\"x\"]}", "slave repeated" },
		{ "{\"additional_slave_SAE_IDs\":[\"a\",\"b\",\"c\"]}",
		  "slaves above max_SAE_ID_count" },
		{ "{\"extension_mandatory\":{}}", "extension_mandatory an object" },
		{ "{\"extension_mandatory\":[1]}", "extension_mandatory of numbers" },
		{ "{\"extension_mandatory\":null}", "extension_mandatory null" },
		{ "{\"extension_optional\":{}}", "extension_optional an object" },
		{ "{\"extension_optional\":[\"x\"]}",
		  "extension_optional of strings" },
		{ "", "empty body" },
		{ " ", "blank body" },
		{ "{", "unterminated object" },
		{ "{\"number\":1", "unterminated member" },
		{ "{\"number\":1,}", "trailing comma" },
		{ "{'number':1}", "single quotes" },
		{ "{number:1}", "bare key" },
		{ "{\"number\":1}x", "trailing garbage" },
		{ "{\"number\":1}{}", "two objects" },
		{ "{\"number\":1,\"number\":1}", "duplicate key" },
		{ "{\"extension_optional\":[{\"a\":1,\"a\":2}]}",
		  "nested duplicate key" },
		{ "[]", "an array" },
		{ "\"number\"", "a string" },
		{ "1", "a number" },
		{ "null", "null" },
		{ "{\"foo\":1}", "unknown member" },
		{ "{\"Number\":1}", "member names are case sensitive" },
		{ "{\"number\\u0000\":1}", "member name with NUL" },
		{ "{\"\xff\":1}", "invalid UTF-8" },
		{ "{\"number\":1}\xef\xbb\xbf", "trailing BOM" },
	};
	struct etsi_limits l = lim;
	char *big, id[QKDN_ID_MAX + 40];
	size_t i;
	int rc;

	tap_ok(encb("{\"number\":2,\"size\":512,"
		    "\"additional_slave_SAE_IDs\":[\"sae-c\",\"sae-d\"],"
		    "\"extension_mandatory\":[],"
		    "\"extension_optional\":[{\"x\":1}]}") == 0 &&
	       enc_is(2, 512, 2) && !strcmp(enc.slaves[0], "sae-c") &&
	       !strcmp(enc.slaves[1], "sae-d"),
	       "enc body: every member");
	tap_ok(encb("{}") == 0 && enc_is(1, 0, 0), "enc body: {} defaults");
	tap_ok(encb(" \n{ \"number\" : 3 }\r\n\t") == 0 && enc_is(3, 0, 0),
	       "enc body: white space");
	tap_ok(encb("{\"size\":64}") == 0 && enc_is(1, 64, 0) &&
	       encb("{\"size\":8192,\"number\":128}") == 0 &&
	       enc_is(128, 8192, 0), "enc body: limits reached");
	tap_ok(encb("{\"extension_optional\":[{\"abc_route_type\":\"direct\","
		    "\"x\":{\"y\":[1]}},{}]}") == 0 && enc_is(1, 0, 0),
	       "enc body: extension_optional ignored");
	tap_ok(encb("{\"extension_mandatory\":[{}]}") == 0 && enc_is(1, 0, 0),
	       "enc body: extension_mandatory with empty objects");
	rc = etsi_enc_body("{\"number\":4}junk", 12, &lim, &enc, &err);
	tap_ok(rc == 0 && enc_is(4, 0, 0), "enc body: only len bytes read");

	memset(id, 'a', QKDN_ID_MAX - 1);
	id[QKDN_ID_MAX - 1] = '\0';
	snprintf(id + QKDN_ID_MAX - 1, 40, "\"]}");
	big = malloc(ETSI_BODY_MAX + 2);
	snprintf(big, ETSI_BODY_MAX, "{\"additional_slave_SAE_IDs\":[\"%s",
		 id);
	tap_ok(encb(big) == 0 && enc_is(1, 0, 1) &&
	       strlen(enc.slaves[0]) == QKDN_ID_MAX - 1,
	       "enc body: slave ID of 63 characters");
	snprintf(big, ETSI_BODY_MAX, "{\"additional_slave_SAE_IDs\":[\"a%s",
		 id);
	tap_ok(enc_refused(encb(big), NULL), "enc body: slave ID of 64 refused");

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		tap_ok(enc_refused(encb(bad[i].body), NULL),
		       "enc body: %s is 400", bad[i].why);

	tap_ok(enc_refused(encb(NULL), NULL), "enc body: NULL is 400");
	rc = etsi_enc_body("{\"number\":1}\0{}", 15, &lim, &enc, &err);
	tap_ok(rc == -1 && err.status == 400, "enc body: NUL byte inside");
	tap_ok(enc_refused(encb("{\"number\":1"), "malformed JSON") &&
	       !strncmp(err.detail, "line 1 column", 13),
	       "enc body: malformed JSON, where in detail");
	tap_ok(enc_refused(encb("{\"size\":12}"),
			   "size shall be a multiple of 8"),
	       "enc body: size not a multiple of 8, message");
	tap_ok(enc_refused(encb("{\"number\":200}"),
			   "number shall be between 1 and 128"),
	       "enc body: number out of range, message");
	tap_ok(enc_refused(encb("{\"number\":\"2\"}"),
			   "number shall be an integer"),
	       "enc body: number wrong type, message");
	tap_ok(enc_refused(encb("{\"number\":1,\"foo\":[]}"),
			   "unknown member foo in the key request"),
	       "enc body: unknown member, message");

	tap_ok(enc_refused(encb("{\"extension_mandatory\":"
				"[{\"abc_route_type\":\"direct\"}]}"),
			   "not all extension_mandatory parameters are "
			   "supported") &&
	       !strcmp(err.detail, "abc_route_type"),
	       "enc body: unsupported mandatory extension named in detail");
	tap_ok(enc_refused(encb("{\"extension_mandatory\":[{},"
				"{\"b\":1,\"c\":2}],\"number\":2}"), NULL) &&
	       !strcmp(err.detail, "b"),
	       "enc body: the first unsupported extension is named");

	tap_ok(enc_refused(encb("{\"additional_slave_SAE_IDs\":"
				"[\"a\",\"b\",\"c\"]}"),
			   "additional_slave_SAE_IDs shall have at most 2 "
			   "entries"),
	       "enc body: too many slaves, message");
	tap_ok(enc_refused(encb("{\"additional_slave_SAE_IDs\":[\"x\",\"x\"]}"),
			   "SAE ID x is repeated in additional_slave_SAE_IDs"),
	       "enc body: slave repeated, message");
	l.max_sae_id_count = 0;
	tap_ok(enc_refused(encb_lim("{\"additional_slave_SAE_IDs\":[\"a\"]}",
				    &l),
			   "additional_slave_SAE_IDs is not supported"),
	       "enc body: slaves not supported");
	tap_ok(encb_lim("{\"additional_slave_SAE_IDs\":[]}", &l) == 0 &&
	       enc_is(1, 0, 0), "enc body: no slaves when not supported");
	l.max_sae_id_count = 1000;
	tap_ok(encb_lim("{\"additional_slave_SAE_IDs\":[\"a\",\"b\",\"c\",\"d\","
			"\"e\",\"f\",\"g\"]}", &l) == 0 &&
	       enc_is(1, 0, ETSI_SLAVES_MAX) && !strcmp(enc.slaves[6], "g"),
	       "enc body: ETSI_SLAVES_MAX slaves");
	tap_ok(enc_refused(encb_lim("{\"additional_slave_SAE_IDs\":[\"a\",\"b\","
				    "\"c\",\"d\",\"e\",\"f\",\"g\",\"h\"]}",
				    &l),
			   "additional_slave_SAE_IDs shall have at most 7 "
			   "entries"),
	       "enc body: ETSI_SLAVES_MAX bounds a larger max_SAE_ID_count");

	memset(big, ' ', ETSI_BODY_MAX + 1);
	memcpy(big, "{}", 2);
	big[ETSI_BODY_MAX + 1] = '\0';
	rc = etsi_enc_body(big, ETSI_BODY_MAX, &lim, &enc, &err);
	tap_ok(rc == 0 && enc_is(1, 0, 0), "enc body: ETSI_BODY_MAX bytes");
	tap_ok(enc_refused(encb(big), NULL), "enc body: one byte more is 400");
	free(big);
}

_Static_assert(ETSI_SLAVES_MAX == QKDN_SLAVES_MAX - 1,
	       "additional slaves: the kernel's QKDN_SLAVES_MAX - 1");

/* The gateway's limits (kmed_limits()): 7 additional slaves. */
static const struct etsi_limits glim = {
	.max_key_per_request = QKDN_KEYS_PER_REQUEST,
	.max_key_size = QKDN_KEY_SIZE_MAX,
	.min_key_size = QKDN_KEY_SIZE_MIN,
	.max_sae_id_count = QKDN_SLAVES_MAX - 1,
};

static int encm(const char *b)
{
	return encb_lim(b, &glim);
}

/* additional_slave_SAE_IDs, as the gateway takes them. */
static void test_multicast_body(void)
{
	static const struct {
		const char *body, *msg, *why;
	} bad[] = {
		{ "{\"additional_slave_SAE_IDs\":[\"s1\",\"s2\",\"s3\",\"s4\","
		  "\"s5\",\"s6\",\"s7\",\"s8\"]}",
		  "additional_slave_SAE_IDs shall have at most 7 entries",
		  "8 slaves" },
		{ "{\"additional_slave_SAE_IDs\":[\"s1\",\"s2\",\"s3\",\"s4\","
		  "\"s5\",\"s6\",\"s7\",\"s8\",\"s9\",\"s10\",\"s11\",\"s12\","
		  "\"s13\",\"s14\",\"s15\",\"s16\",\"s17\"]}",
		  "additional_slave_SAE_IDs shall have at most 7 entries",
		  "17 slaves" },
		{ "{\"additional_slave_SAE_IDs\":[\"a\",\"b\",\"a\"]}",
		  "SAE ID a is repeated in additional_slave_SAE_IDs",
		  "repeated, not next to each other" },
		{ "{\"additional_slave_SAE_IDs\":[\"s1\",\"s2\",\"s3\",\"s4\","
		  "\"s5\",\"s6\",\"s6\"]}",
		  "SAE ID s6 is repeated in additional_slave_SAE_IDs",
		  "7 slaves, the last repeated" },
		{ "{\"additional_slave_SAE_IDs\":\"sae-c\"}",
		  "additional_slave_SAE_IDs shall be an array of strings",
		  "a string" },
		{ "{\"additional_slave_SAE_IDs\":null}",
		  "additional_slave_SAE_IDs shall be an array of strings",
		  "null" },
		{ "{\"additional_slave_SAE_IDs\":{\"sae-c\":1}}",
		  "additional_slave_SAE_IDs shall be an array of strings",
		  "an object" },
		{ "{\"additional_slave_SAE_IDs\":[\"sae-c\",2]}",
		  "additional_slave_SAE_IDs shall be an array of strings",
		  "a string, then a number" },
		{ "{\"additional_slave_SAE_IDs\":[[\"sae-c\"]]}",
		  "additional_slave_SAE_IDs shall be an array of strings",
		  "an array in the array" },
		{ "{\"additional_slave_SAE_IDs\":[{\"SAE_ID\":\"sae-c\"}]}",
		  "additional_slave_SAE_IDs shall be an array of strings",
		  "an object in the array" },
		{ "{\"additional_slave_SAE_IDs\":[true]}",
		  "additional_slave_SAE_IDs shall be an array of strings",
		  "a boolean in the array" },
		{ "{\"additional_slave_SAE_IDs\":[\"\"]}",
		  " in additional_slave_SAE_IDs is not a valid SAE ID (1 to 63 "
		  "of A-Z a-z 0-9 . _ - : @)", "an empty string" },
		{ "{\"additional_slave_SAE_IDs\":[\"sae-c\",\"sa/e\"]}",
		  "sa/e in additional_slave_SAE_IDs is not a valid SAE ID (1 to "
		  "63 of A-Z a-z 0-9 . _ - : @)", "a slash" },
		{ "{\"additional_slave_SAE_IDs\":[\"sae\\u0000c\"]}",
		  "malformed JSON", "a NUL inside (Jansson refuses it)" },
		{ "{\"additional_slave_SAE_IDs\":[\"s\\u00e9\"]}", NULL,
		  "beyond ASCII" },
		{ "{\"additional_slave_SAE_IDs\":[\"sae-c \"]}", NULL,
		  "a trailing space" },
	};
	char body[1024], id[QKDN_ID_MAX + 8];
	size_t i;
	int n;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		tap_ok(enc_refused(encm(bad[i].body), bad[i].msg),
		       "multicast body: %s is 400, nothing kept", bad[i].why);

	tap_ok(encm("{\"number\":3,\"size\":512,\"additional_slave_SAE_IDs\":"
		    "[\"s1\",\"s2\",\"s3\",\"s4\",\"s5\",\"s6\",\"s7\"]}") == 0 &&
	       enc_is(3, 512, 7) && !strcmp(enc.slaves[0], "s1") &&
	       !strcmp(enc.slaves[3], "s4") && !strcmp(enc.slaves[6], "s7"),
	       "multicast body: 7 slaves, in their order, with number and size");
	tap_ok(encm("{\"additional_slave_SAE_IDs\":[\"sae-c\"]}") == 0 &&
	       enc_is(1, 0, 1) && !strcmp(enc.slaves[0], "sae-c"),
	       "multicast body: one slave, defaults");
	tap_ok(encm("{\"additional_slave_SAE_IDs\":[]}") == 0 &&
	       enc_is(1, 0, 0), "multicast body: [] is no additional slave");
	tap_ok(encm("{\"additional_slave_SAE_IDs\":[\"sae-c\",\"SAE-C\"]}") ==
	       0 && enc_is(1, 0, 2),
	       "multicast body: IDs are case sensitive, not repeated");
	tap_ok(encm("{\"additional_slave_SAE_IDs\":[\"a.b_c-d:e@f\","
		    "\"0\"]}") == 0 && enc_is(1, 0, 2) &&
	       !strcmp(enc.slaves[0], "a.b_c-d:e@f"),
	       "multicast body: every character an ID may have");
	tap_ok(encm("{\"number\":128,\"size\":8192,"
		    "\"additional_slave_SAE_IDs\":[\"b\",\"c\"]}") == 0 &&
	       enc_is(128, 8192, 2),
	       "multicast body: the largest request (the kernel judges it)");

	/* 300 characters: refused, the message cut and marked. */
	n = snprintf(body, sizeof(body), "{\"additional_slave_SAE_IDs\":[\"");
	memset(body + n, 'x', 300);
	snprintf(body + n + 300, sizeof(body) - n - 300, "\"]}");
	tap_ok(enc_refused(encm(body), NULL) &&
	       strstr(err.message, "...") && strlen(err.message) < 140,
	       "multicast body: a long ID is cut short in the message");

	/* Refusals of the first member seen keep nothing of a later one. */
	tap_ok(enc_refused(encm("{\"number\":0,\"additional_slave_SAE_IDs\":"
				"[\"sae-c\"]}"),
			   "number shall be between 1 and 128"),
	       "multicast body: a bad number refuses the slaves too");

	/* The path's slave among the additional ones. */
	memset(&enc, 0, sizeof(enc));
	enc.n_slaves = 3;
	snprintf(enc.slaves[0], QKDN_ID_MAX, "sae-c");
	snprintf(enc.slaves[1], QKDN_ID_MAX, "sae-b");
	snprintf(enc.slaves[2], QKDN_ID_MAX, "sae-d");
	memset(&err, 0, sizeof(err));
	tap_ok(etsi_enc_slaves_check(&enc, "sae-b", &err) == -1 &&
	       err.status == 400 &&
	       !strcmp(err.message, "SAE ID sae-b is the slave SAE of the path "
		       "and in additional_slave_SAE_IDs"),
	       "multicast check: the path's slave again is 400");
	memset(&err, 0, sizeof(err));
	tap_ok(etsi_enc_slaves_check(&enc, "sae-e", &err) == 0 &&
	       err.status == 0, "multicast check: other slaves pass");
	tap_ok(etsi_enc_slaves_check(&enc, "SAE-B", &err) == 0,
	       "multicast check: case sensitive");
	enc.n_slaves = 0;
	tap_ok(etsi_enc_slaves_check(&enc, "sae-c", &err) == 0,
	       "multicast check: no additional slaves, nothing to check");

	/* A GET has no way to name them. */
	tap_ok(enc_refused(encq_lim("additional_slave_SAE_IDs=sae-c", &glim),
			   "unknown query parameter additional_slave_SAE_IDs"),
	       "multicast query: not a query parameter");

	/* Each ID of 63 characters: the largest request the array holds. */
	memset(id, 'z', QKDN_ID_MAX - 2);
	id[QKDN_ID_MAX - 2] = '\0';
	n = snprintf(body, sizeof(body), "{\"additional_slave_SAE_IDs\":[");
	for (i = 0; i < ETSI_SLAVES_MAX; i++)
		n += snprintf(body + n, sizeof(body) - n, "%s\"%zu%s\"",
			      i ? "," : "", i, id);
	snprintf(body + n, sizeof(body) - n, "]}");
	tap_ok(encm(body) == 0 && enc_is(1, 0, ETSI_SLAVES_MAX) &&
	       strlen(enc.slaves[6]) == QKDN_ID_MAX - 1 &&
	       enc.slaves[6][0] == '6',
	       "multicast body: 7 IDs of 63 characters");
}

/* The kernel's refusals: status, message, the slave at fault. */
static void test_kernel_errors(void)
{
	static const struct {
		int err, status;
	} map[] = {
		{ EACCES, 401 }, { EPERM, 401 },
		{ ENOENT, 400 }, { EINVAL, 400 }, { EOPNOTSUPP, 400 },
		{ E2BIG, 400 }, { ERANGE, 400 },
		{ ENOSPC, 503 }, { EHOSTUNREACH, 503 }, { ETIMEDOUT, 503 },
		{ ENOTCONN, 503 }, { EBUSY, 503 }, { ENOMEM, 503 },
		{ ECONNRESET, 503 }, { EMSGSIZE, 503 }, { EPROTO, 503 },
	};
	struct kmed_saes s = { .n = 0 };
	struct etsi_error e;
	char why[300];
	size_t i;
	bool good = true;

	for (i = 0; i < ARRAY_SIZE(map); i++)
		if (kmed_errno_status(-map[i].err) != map[i].status ||
		    kmed_errno_status(map[i].err) != map[i].status) {
			printf("# errno %d: %d\n", map[i].err,
			       kmed_errno_status(-map[i].err));
			good = false;
		}
	tap_ok(good, "kernel errors: 401 EACCES; 400 ENOENT EINVAL EOPNOTSUPP "
	       "E2BIG; 503 ENOSPC EHOSTUNREACH ETIMEDOUT ENOTCONN ...");

	tap_ok(!strcmp(kmed_errno_text(-ENOENT, "no such SAE"),
		       "no such SAE"),
	       "kernel errors: the extack message is the text");
	tap_ok(!strcmp(kmed_errno_text(-E2BIG, ""),
		       "too many keys or slave SAEs for one request") &&
	       !strcmp(kmed_errno_text(-ENOSPC, NULL), "not enough key") &&
	       !strcmp(kmed_errno_text(-ETIMEDOUT, ""),
		       "the key relay timed out") &&
	       !strcmp(kmed_errno_text(-EIO, ""), strerror(EIO)),
	       "kernel errors: our words without an extack message");

	/* A request for sae-b, with sae-c and sae-d: offsets 40, 52, 64. */
	kmed_saes_put(&s, 40, "sae-b");
	kmed_saes_put(&s, 52, "sae-c");
	kmed_saes_put(&s, 64, "sae-d");
	tap_ok(kmed_kernel_error(-ENOENT, "no such SAE", 52, &s, &e) == -1 &&
	       e.status == 400 &&
	       !strcmp(e.message, "no such SAE: sae-c") &&
	       !e.detail[0],
	       "kernel errors: the additional slave at fault is named");
	tap_ok(kmed_kernel_error(-EOPNOTSUPP, "additional slave SAE is served "
				 "by this node", 64, &s, &e) == -1 &&
	       e.status == 400 &&
	       !strcmp(e.message, "additional slave SAE is served by this "
		       "node: sae-d"),
	       "kernel errors: a local additional slave is 400, named");
	tap_ok(kmed_kernel_error(-ENOENT, "no such SAE", 40, &s, &e) == -1 &&
	       !strcmp(e.message, "no such SAE: sae-b"),
	       "kernel errors: the path's slave, named in a multicast");
	tap_ok(kmed_kernel_error(-EINVAL, "slave SAE named twice", 0, &s,
				 &e) == -1 && e.status == 400 &&
	       !strcmp(e.message, "slave SAE named twice"),
	       "kernel errors: no offset, the kernel's words alone");
	tap_ok(kmed_kernel_error(-EHOSTUNREACH, "no route", 44, &s, &e) ==
	       -1 && e.status == 503 && !strcmp(e.message, "no route"),
	       "kernel errors: an offset of no SAE, the kernel's words alone");
	tap_ok(kmed_kernel_error(-ENOSPC, "", 0, &s, &e) == -1 &&
	       e.status == 503 && !strcmp(e.message, "not enough key"),
	       "kernel errors: a relay without key is 503");
	tap_ok(kmed_kernel_error(-E2BIG, "too many keys for one relay frame",
				 0, &s, &e) == -1 && e.status == 400,
	       "kernel errors: too many keys for a relay frame is 400");
	tap_ok(kmed_kernel_error(-EACCES, "key reserved for another SAE pair",
				 0, &s, &e) == -1 && e.status == 401,
	       "kernel errors: EACCES is 401");
	tap_ok(kmed_kernel_error(-ENOENT, "no such SAE", 40, NULL, &e) == -1 &&
	       !strcmp(e.message, "no such SAE"),
	       "kernel errors: no SAEs given, the kernel's words alone");
	s.n = 1;
	tap_ok(kmed_kernel_error(-ENOENT, "no such SAE", 40, &s, &e) == -1 &&
	       !strcmp(e.message, "no such SAE"),
	       "kernel errors: one slave (no multicast), as before");

	/* Full: 1 + 7 SAEs, then no more. */
	s.n = 0;
	for (i = 0; i < 10; i++)
		kmed_saes_put(&s, 100 + 12 * i, i ? "sae-x" : "sae-b");
	tap_ok(s.n == 1 + ETSI_SLAVES_MAX &&
	       s.a[ETSI_SLAVES_MAX].off == 100 + 12 * ETSI_SLAVES_MAX,
	       "kernel errors: the path's slave and 7 more, no more kept");

	memset(why, 'w', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	tap_ok(kmed_kernel_error(-ENOENT, why, 112, &s, &e) == -1 &&
	       strlen(e.message) == ETSI_MSG_MAX - 1 &&
	       !strncmp(e.message, "wwww", 4),
	       "kernel errors: a long message is cut to fit");
}

static void test_dec_query(void)
{
	static const char *const bad[] = {
		"", "key_ID", "key_ID=", "key_ID=xyz",
		"key_ID=00112233445566778899aabbccddeeff",
		"key_ID=0011223-34455-6677-8899-aabbccddeeff",
		"key_ID=00112233-4455-6677-8899-aabbccddeefg",
		"key_ID=00112233-4455-6677-8899-aabbccddeeff0",
		"key_ID=00112233-4455-6677-8899-aabbccddeef",
		"key_ID=00112233%2D4455-6677-8899-aabbccddeef",
		"key_ID={00112233-4455-6677-8899-aabbccddeef}",
		"key_ID=00112233-4455-6677-8899-aabbccddeeff&",
		"key_id=00112233-4455-6677-8899-aabbccddeeff",
		"key_IDs=00112233-4455-6677-8899-aabbccddeeff",
		"number=1",
	};
	char q[128];
	size_t i;

	snprintf(q, sizeof(q), "key_ID=%s", uuid1);
	tap_ok(decq(q) == 0 && dec.n == 1 && !memcmp(dec.ids[0], id1, 16),
	       "dec query: one key ID");
	tap_ok(decq("key_ID=00112233-4455-6677-8899-AABBCCDDEEFF") == 0 &&
	       dec.n == 1 && !memcmp(dec.ids[0], id1, 16),
	       "dec query: upper case hex");
	tap_ok(dec_refused(decq(NULL), "key_ID is missing"),
	       "dec query: none is 400");
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		tap_ok(dec_refused(decq(bad[i]), NULL),
		       "dec query: '%s' is 400", bad[i]);
	tap_ok(dec_refused(decq("key_ID=xyz"), "xyz is not a valid key ID"),
	       "dec query: bad key ID, message");
	snprintf(q, sizeof(q), "key_ID=%s&key_ID=%s", uuid1, uuid1);
	tap_ok(dec_refused(decq(q), "key_ID is repeated"),
	       "dec query: same key ID twice");
	snprintf(q, sizeof(q), "key_ID=%s&key_ID=%s", uuid1, uuid2);
	tap_ok(dec_refused(decq(q), "key_ID is repeated"),
	       "dec query: two key IDs");
}

/* {"key_IDs":[{"key_ID":...}, ... n of them]}, key IDs 0..n-1 in the
 * last byte, plus a repeat of the first when dup. */
static char *dec_list(unsigned int n, bool dup)
{
	size_t size = 32 + (n + 1) * 64;
	char *s = malloc(size), u[QKDN_UUID_STR_LEN];
	uint8_t id[QKDN_KEY_ID_LEN] = { 0 };
	size_t o = 0;
	unsigned int i;

	o += snprintf(s + o, size - o, "{\"key_IDs\":[");
	for (i = 0; i < n + dup; i++) {
		id[14] = (uint8_t)((i % n) >> 8);
		id[15] = (uint8_t)(i % n);
		qkdn_uuid_fmt(id, u);
		o += snprintf(s + o, size - o, "%s{\"key_ID\":\"%s\"}",
			      i ? "," : "", u);
	}
	snprintf(s + o, size - o, "]}");
	return s;
}

static void test_dec_body(void)
{
	static const struct {
		const char *body, *why;
	} bad[] = {
		{ "{}", "key_IDs missing" },
		{ "{\"key_IDs\":[]}", "key_IDs empty" },
		{ "{\"key_IDs\":{}}", "key_IDs an object" },
		{ "{\"key_IDs\":null}", "key_IDs null" },
		{ "{\"key_IDs\":[1]}", "an entry a number" },
		{ "{\"key_IDs\":[\"00112233-4455-6677-8899-aabbccddeeff\"]}",
		  "an entry a bare string" },
		{ "{\"key_IDs\":[{}]}", "key_ID missing" },
		{ "{\"key_IDs\":[{\"key_ID\":1}]}", "key_ID a number" },
		{ "{\"key_IDs\":[{\"key_ID\":null}]}", "key_ID null" },
		{ "{\"key_IDs\":[{\"key_ID\":\"\"}]}", "key_ID empty" },
		{ "{\"key_IDs\":[{\"key_ID\":"
		  "\"00112233-4455-6677-8899-aabbccddeeff \"}]}",
		  "key_ID with a space" },
		{ "{\"key_IDs\":[{\"key_ID\":"
		  "\"00112233-4455-6677-8899-aabbccddeeff\",\"x\":1}]}",
		  "unknown member of an entry" },
		{ "{\"key_IDs\":[{\"key_ID\":"
		  "\"00112233-4455-6677-8899-aabbccddeeff\","
		  "\"key_ID_extension\":1}]}", "key_ID_extension a number" },
		{ "{\"key_IDs\":[{\"key_ID\":"
		  "\"00112233-4455-6677-8899-aabbccddeeff\"}],"
		  "\"key_IDs_extension\":[]}", "key_IDs_extension an array" },
		{ "{\"key_IDs\":[{\"key_ID\":"
		  "\"00112233-4455-6677-8899-aabbccddeeff\"}],\"x\":1}",
		  "unknown member" },
		{ "{\"key_IDs\":[{\"key_ID\":"
		  "\"00112233-4455-6677-8899-aabbccddeeff\","
		  "\"key_ID\":\"f0e1d2c3-b4a5-9687-7869-5a4b3c2d1e0f\"}]}",
		  "duplicate key_ID member" },
		{ "{\"key_IDs\":[{\"key_ID\":"
		  "\"00112233-4455-6677-8899-aabbccddeeff\"},"
		  "{\"key_ID\":\"00112233-4455-6677-8899-AABBCCDDEEFF\"}]}",
		  "same key ID in upper case" },
		{ "{\"key_IDs\":[", "malformed" },
		{ "[{\"key_ID\":\"00112233-4455-6677-8899-aabbccddeeff\"}]",
		  "an array" },
		{ "", "empty" },
	};
	char body[512], *s;
	size_t i;

	snprintf(body, sizeof(body),
		 "{\"key_IDs\":[{\"key_ID\":\"%s\",\"key_ID_extension\":{\"a\":1}},"
		 "{\"key_ID\":\"%s\"}],\"key_IDs_extension\":{\"b\":[]}}",
		 uuid1, uuid2);
	tap_ok(decb(body) == 0 && dec.n == 2 &&
	       !memcmp(dec.ids[0], id1, 16) && dec.ids[1][0] == 0xf0 &&
	       dec.ids[1][15] == 0x0f, "dec body: two key IDs, extensions");

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		tap_ok(dec_refused(decb(bad[i].body), NULL),
		       "dec body: %s is 400", bad[i].why);
	tap_ok(dec_refused(decb("{\"key_IDs\":[{\"key_ID\":\"abc\"}]}"),
			   "abc is not a valid key ID"),
	       "dec body: bad key ID, message");
	tap_ok(dec_refused(decb("{}"), "key_IDs is missing"),
	       "dec body: key_IDs missing, message");
	tap_ok(dec_refused(decb("{\"key_IDs\":[]}"),
			   "key_IDs shall have 1 to 128 entries"),
	       "dec body: empty list, message");

	s = dec_list(QKDN_KEYS_PER_REQUEST, false);
	tap_ok(decb(s) == 0 && dec.n == QKDN_KEYS_PER_REQUEST &&
	       dec.ids[127][15] == 127, "dec body: 128 key IDs");
	free(s);
	s = dec_list(QKDN_KEYS_PER_REQUEST + 1, false);
	tap_ok(dec_refused(decb(s), "key_IDs shall have 1 to 128 entries"),
	       "dec body: 129 key IDs is 400");
	free(s);
	s = dec_list(3, true);
	tap_ok(dec_refused(decb(s), "key ID 00000000-0000-0000-0000-000000000000"
				    " is repeated"),
	       "dec body: a key ID repeated");
	free(s);
}

/* Parse JSON text back; len must be its length. */
static json_t *load(const char *s, size_t len)
{
	json_error_t je;

	if (strlen(s) != len)
		return NULL;
	return json_loads(s, JSON_REJECT_DUPLICATES, &je);
}

static void test_keys_json(void)
{
	static const uint8_t three[] = { 0, 1, 2 };
	uint8_t data[3][1024], out[1024];
	struct etsi_key keys[3];
	json_t *root, *arr, *k;
	char *s = NULL, u[QKDN_UUID_STR_LEN];
	bool good = true;
	size_t len, i;
	int n;

	memcpy(keys[0].id, id1, 16);
	keys[0].data = three;
	keys[0].len = sizeof(three);
	tap_ok(etsi_keys_json(keys, 1, &s, &len) == 0 &&
	       !strcmp(s, "{\"keys\":[{\"key_ID\":\"00112233-4455-6677-8899-"
			  "aabbccddeeff\",\"key\":\"AAEC\"}]}") &&
	       len == strlen(s), "keys json: one key, exact text");
	etsi_free(s);
	s = NULL;

	tap_ok(etsi_keys_json(NULL, 0, &s, &len) == 0 &&
	       !strcmp(s, "{\"keys\":[]}") && len == 11,
	       "keys json: no key");
	etsi_free(s);
	s = NULL;

	for (i = 0; i < 3; i++) {
		size_t j;

		for (j = 0; j < sizeof(data[i]); j++)
			data[i][j] = (uint8_t)(j * 7 + i * 31 + (j >> 3));
		memset(keys[i].id, 0, 16);
		keys[i].id[0] = (uint8_t)(0xa0 + i);
		keys[i].data = data[i];
		keys[i].len = i == 0 ? 32 : i == 1 ? 1 : 1024;
	}
	root = etsi_keys_json(keys, 3, &s, &len) ? NULL : load(s, len);
	arr = json_object_get(root, "keys");
	tap_ok(root && json_object_size(root) == 1 && json_is_array(arr) &&
	       json_array_size(arr) == 3, "keys json: three keys parse back");
	for (i = 0; i < 3 && arr; i++) {
		k = json_array_get(arr, i);
		qkdn_uuid_fmt(keys[i].id, u);
		n = qkdn_b64_decode(json_string_value(json_object_get(k, "key"))
				    ?: "!", out, sizeof(out));
		if (json_object_size(k) != 2 ||
		    strcmp(json_string_value(json_object_get(k, "key_ID")) ?:
			   "", u) || n != (int)keys[i].len ||
		    memcmp(out, keys[i].data, keys[i].len))
			good = false;
	}
	tap_ok(arr && good, "keys json: key_ID and base64 of each key");
	json_decref(root);
	etsi_free(s);
	qkdn_memzero(out, sizeof(out));
}

static void test_status_json(void)
{
	static const char *const order[] = {
		"source_KME_ID", "target_KME_ID", "master_SAE_ID",
		"slave_SAE_ID", "key_size", "stored_key_count", "max_key_count",
		"max_key_per_request", "max_key_size", "min_key_size",
		"max_SAE_ID_count",
	};
	struct etsi_status st = {
		.source_kme = "kme-a", .target_kme = "kme-b",
		.master_sae = "sae-a", .slave_sae = "sae-b",
		.key_size = 256, .stored_key_count = 25000,
		.max_key_count = 100000, .max_key_per_request = 128,
		.max_key_size = 1024, .min_key_size = 64,
		.max_sae_id_count = 0,
	};
	json_t *root;
	void *it;
	char *s = NULL;
	size_t len, i = 0;
	bool good = true;

	tap_ok(etsi_status_json(&st, &s, &len) == 0 &&
	       !strcmp(s, "{\"source_KME_ID\":\"kme-a\",\"target_KME_ID\":"
			  "\"kme-b\",\"master_SAE_ID\":\"sae-a\","
			  "\"slave_SAE_ID\":\"sae-b\",\"key_size\":256,"
			  "\"stored_key_count\":25000,\"max_key_count\":100000,"
			  "\"max_key_per_request\":128,\"max_key_size\":1024,"
			  "\"min_key_size\":64,\"max_SAE_ID_count\":0}") &&
	       len == strlen(s), "status json: exact text");
	root = load(s, len);
	for (it = json_object_iter(root); it;
	     it = json_object_iter_next(root, it), i++)
		if (i >= ARRAY_SIZE(order) ||
		    strcmp(json_object_iter_key(it), order[i]))
			good = false;
	tap_ok(root && good && i == ARRAY_SIZE(order),
	       "status json: members in the standard's order");
	tap_ok(json_integer_value(json_object_get(root, "stored_key_count")) ==
	       25000 && !strcmp(json_string_value(json_object_get(root,
			"slave_SAE_ID")), "sae-b"),
	       "status json: values parse back");
	json_decref(root);
	etsi_free(s);
	s = NULL;

	st.stored_key_count = UINT32_MAX;
	st.target_kme = NULL;
	root = etsi_status_json(&st, &s, &len) ? NULL : load(s, len);
	tap_ok(root && json_integer_value(json_object_get(root,
			"stored_key_count")) == UINT32_MAX &&
	       !strcmp(json_string_value(json_object_get(root,
			"target_KME_ID")), ""),
	       "status json: UINT32_MAX, NULL ID as \"\"");
	json_decref(root);
	etsi_free(s);
	s = NULL;

	st.max_sae_id_count = QKDN_SLAVES_MAX - 1;
	root = etsi_status_json(&st, &s, &len) ? NULL : load(s, len);
	tap_ok(root && json_integer_value(json_object_get(root,
			"max_SAE_ID_count")) == 7,
	       "status json: max_SAE_ID_count 7 (multicast)");
	json_decref(root);
	etsi_free(s);
}

static void test_error_json(void)
{
	struct etsi_error e = { 0 };
	json_t *root, *d;
	char *s = NULL, name[400];
	size_t len, i;

	etsi_fail(&e, 404, "unknown path");
	tap_ok(e.status == 404 && etsi_error_json(&e, &s, &len) == 0 &&
	       !strcmp(s, "{\"message\":\"unknown path\"}") &&
	       len == strlen(s), "error json: message only");
	etsi_free(s);
	s = NULL;

	snprintf(e.detail, sizeof(e.detail), "abc_route_type");
	tap_ok(etsi_error_json(&e, &s, &len) == 0 &&
	       !strcmp(s, "{\"message\":\"unknown path\",\"details\":"
			  "[{\"message\":\"abc_route_type\"}]}"),
	       "error json: message and details");
	etsi_free(s);
	s = NULL;

	tap_ok(etsi_fail(&e, 400, "a \"quoted\" \\ %s\n", "x") == -1 &&
	       !e.detail[0], "etsi_fail: returns -1, clears detail");
	root = etsi_error_json(&e, &s, &len) ? NULL : load(s, len);
	tap_ok(root && json_object_size(root) == 1 &&
	       !strcmp(json_string_value(json_object_get(root, "message")),
		       "a \"quoted\" \\ x\n"), "error json: escapes parse back");
	json_decref(root);
	etsi_free(s);
	s = NULL;

	snprintf(e.message, sizeof(e.message), "bad \xff byte");
	tap_ok(etsi_error_json(&e, &s, &len) == 0 &&
	       !strcmp(s, "{\"message\":\"bad ? byte\"}"),
	       "error json: not UTF-8 made ASCII");
	etsi_free(s);
	s = NULL;

	/* 150 two-byte characters: cut whole by the 255 bytes of detail. */
	strcpy(name, "{\"extension_mandatory\":[{\"");
	for (i = 0; i < 150; i++)
		strcat(name, "\xc3\xa9");
	strcat(name, "\":1}]}");
	encb(name);
	root = etsi_error_json(&err, &s, &len) ? NULL : load(s, len);
	d = json_array_get(json_object_get(root, "details"), 0);
	tap_ok(err.status == 400 && strlen(err.detail) == 254 &&
	       !strcmp(json_string_value(json_object_get(d, "message")),
		       err.detail), "error json: long detail cut between characters");
	json_decref(root);
	etsi_free(s);
}

/* libevent's refusals, which http.c answers in JSON. */
static void test_refusals(void)
{
	static const struct {
		int status;
		bool headers_over, chunked;
		const char *message;
	} t[] = {
		{ 400, true, false,
		  "the request line and headers shall be at most 8192 bytes" },
		{ 400, false, false,
		  "malformed request line or headers, or more than 8192 bytes of them" },
		{ 413, false, false,
		  "the request body shall be at most 16384 bytes" },
		{ 413, false, true,
		  "a chunked request body shall be well-formed and at most 16384 bytes" },
		{ 417, false, false,
		  "the only expectation supported is 100-continue" },
		{ 501, false, false,
		  "unknown method; the API is served with GET and POST" },
		{ 500, false, false,
		  "the request cannot be served (HTTP 500)" },
	};
	struct etsi_refusal r = {
		.max_headers = KMED_HEADERS_MAX,
		.max_body = ETSI_BODY_MAX,
	};
	struct etsi_error e;
	json_t *root;
	char *s = NULL;
	size_t i, len;

	for (i = 0; i < ARRAY_SIZE(t); i++) {
		r.status = t[i].status;
		r.headers_over = t[i].headers_over;
		r.chunked = t[i].chunked;
		memset(&e, POISON, sizeof(e));
		tap_ok(etsi_refusal_error(&r, &e) == -1 &&
		       e.status == t[i].status &&
		       !strcmp(e.message, t[i].message) && !e.detail[0],
		       "refusal %d%s%s: %s", t[i].status,
		       t[i].headers_over ? " (headers over)" : "",
		       t[i].chunked ? " (chunked)" : "", e.message);
	}
	/* The answer's body: {"message": ...} and nothing else. */
	r.status = 413;
	r.chunked = false;
	etsi_refusal_error(&r, &e);
	root = etsi_error_json(&e, &s, &len) ? NULL : load(s, len);
	tap_ok(root && json_object_size(root) == 1 &&
	       !strcmp(json_string_value(json_object_get(root, "message")),
		       "the request body shall be at most 16384 bytes"),
	       "refusal json: message only");
	json_decref(root);
	etsi_free(s);
}

static void test_alloc(void)
{
	json_malloc_t m = NULL;
	json_free_t f = NULL;
	unsigned char *p;
	json_t *j;
	size_t size;

	json_get_alloc_funcs(&m, &f);
	tap_ok(m && f && m != malloc && f != free,
	       "alloc: Jansson does not use malloc/free");
	p = m ? m(24) : NULL;
	if (p)
		memcpy(&size, p - _Alignof(max_align_t), sizeof(size));
	tap_ok(p && size == 24 && ((uintptr_t)p % _Alignof(max_align_t)) == 0,
	       "alloc: aligned block, its size in the header before it");
	if (p) {
		memset(p, 0x5a, 24);
		f(p);
	}
	etsi_init();
	j = json_string("secret");
	tap_ok(j && !strcmp(json_string_value(j), "secret"),
	       "alloc: json_string through the erasing allocator");
	json_decref(j);
	etsi_free(NULL);
}

int main(void)
{
	etsi_init();
	tap_plan(276);
	test_path();
	test_enc_query();
	test_enc_body();
	test_multicast_body();
	test_kernel_errors();
	test_dec_query();
	test_dec_body();
	test_keys_json();
	test_status_json();
	test_error_json();
	test_refusals();
	test_alloc();
	return tap_done();
}
