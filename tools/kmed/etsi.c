// SPDX-License-Identifier: GPL-2.0
/*
 * ETSI GS QKD 014 V1.1.1 for qkdn-kmed: paths, query strings and JSON
 * bodies of requests, JSON of responses. Input is never trusted: every
 * length and number is checked before it is used or narrowed, what is
 * echoed in a message is cut short and made printable, and a parser that
 * refuses a request leaves its output untouched.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "libqkdn.h"
#include "etsi.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Jansson's allocator. Every block starts with a header that holds the
 * size asked for, so that free can erase the whole block: key bytes pass
 * through Jansson in base64 (the strings, and the buffers of json_dumps()).
 * The header is as large as the strictest alignment, so what follows it
 * is aligned as malloc()'s blocks are.
 */
#define ETSI_HDR	_Alignof(max_align_t)

_Static_assert(ETSI_HDR >= sizeof(size_t), "allocation header too small");

static void *etsi_jmalloc(size_t size)
{
	unsigned char *p;

	if (size > SIZE_MAX - ETSI_HDR)
		return NULL;
	p = malloc(ETSI_HDR + size);
	if (!p)
		return NULL;
	memcpy(p, &size, sizeof(size));
	return p + ETSI_HDR;
}

static void etsi_jfree(void *ptr)
{
	unsigned char *p = ptr;
	size_t size;

	if (!p)
		return;
	p -= ETSI_HDR;
	memcpy(&size, p, sizeof(size));
	qkdn_memzero(p, ETSI_HDR + size);
	free(p);
}

/*
 * Before Jansson allocates anything: a block allocated with malloc() and
 * freed here would be read with a header it does not have.
 */
void etsi_init(void)
{
	json_set_alloc_funcs(etsi_jmalloc, etsi_jfree);
}

void etsi_free(char *json)
{
	etsi_jfree(json);
}

/* Errors */

/* Drop an incomplete UTF-8 sequence that truncation left at the end. */
static void utf8_trim(char *s)
{
	size_t len = strlen(s), i = len, need;
	unsigned char c;

	while (i > 0 && len - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return;
	c = (unsigned char)s[i - 1];
	if (c < 0xc0)
		return;
	need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	if (len - (i - 1) < need)
		s[i - 1] = '\0';
}

int etsi_fail(struct etsi_error *e, int status, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	utf8_trim(e->message);
	e->detail[0] = '\0';
	return -1;
}

int etsi_refusal_error(const struct etsi_refusal *r, struct etsi_error *e)
{
	switch (r->status) {
	case 400:
		if (r->headers_over)
			return etsi_fail(e, 400, "the request line and headers shall be at most %zu bytes",
					 r->max_headers);
		return etsi_fail(e, 400, "malformed request line or headers, or more than %zu bytes of them",
				 r->max_headers);
	case 413:
		if (r->chunked)
			return etsi_fail(e, 413, "a chunked request body shall be well-formed and at most %zu bytes",
					 r->max_body);
		return etsi_fail(e, 413, "the request body shall be at most %zu bytes",
				 r->max_body);
	case 417:
		return etsi_fail(e, 417, "the only expectation supported is 100-continue");
	case 501:
		return etsi_fail(e, 501, "unknown method; the API is served with GET and POST");
	}
	return etsi_fail(e, r->status, "the request cannot be served (HTTP %d)",
			 r->status);
}

static __attribute__((format(printf, 2, 3)))
void etsi_detail(struct etsi_error *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
	utf8_trim(e->detail);
}

/*
 * Untrusted text for a message, into buf[size]: at most size - 4 bytes,
 * then "..."; anything but printable ASCII as '?'.
 */
static const char *shown_n(const char *s, size_t len, char *buf, size_t size)
{
	size_t i;

	for (i = 0; i < len && i < size - 4; i++)
		buf[i] = s[i] >= ' ' && s[i] < 0x7f ? s[i] : '?';
	if (i < len)
		memcpy(buf + i, "...", 4);
	else
		buf[i] = '\0';
	return buf;
}

/* Names and IDs echoed: 40 bytes at most. */
#define SHOWN_SIZE	44
#define shown(s, len, buf)	shown_n(s, len, buf, sizeof(buf))

/* Paths */

/* SAE IDs, as the kernel takes them: 1 to 63 of A-Z a-z 0-9 . _ - : @ */
static bool id_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= QKDN_ID_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && (!c || !strchr("._-:@", c)))
			return false;
	}
	return true;
}

#define ETSI_PREFIX	"/api/v1/keys/"

static const struct {
	const char *name;
	enum etsi_op op;
} etsi_ops[] = {
	{ "status",	ETSI_STATUS },
	{ "enc_keys",	ETSI_ENC_KEYS },
	{ "dec_keys",	ETSI_DEC_KEYS },
};

int etsi_path_parse(const char *path, struct etsi_path *p,
		    struct etsi_error *e)
{
	const size_t plen = strlen(ETSI_PREFIX);
	const char *id, *slash;
	size_t i, n;

	if (!path || strncmp(path, ETSI_PREFIX, plen))
		return etsi_fail(e, 404, "unknown path");
	id = path + plen;
	slash = strchr(id, '/');
	if (!slash)
		return etsi_fail(e, 404, "unknown path");
	for (i = 0; i < ARRAY_SIZE(etsi_ops); i++)
		if (!strcmp(slash + 1, etsi_ops[i].name))
			break;
	if (i == ARRAY_SIZE(etsi_ops))
		return etsi_fail(e, 404, "unknown path");
	n = slash - id;
	if (!id_valid(id, n))
		return etsi_fail(e, 400, "the SAE ID in the path shall be 1 to %d "
				 "of A-Z a-z 0-9 . _ - : @", QKDN_ID_MAX - 1);
	p->op = etsi_ops[i].op;
	memcpy(p->sae, id, n);
	p->sae[n] = '\0';
	return 0;
}

/* Ranges: a number below 0 or above UINT32_MAX fails them all. */

static int number_check(int64_t v, const struct etsi_limits *lim,
			uint32_t *out, struct etsi_error *e)
{
	if (v < 1 || v > lim->max_key_per_request)
		return etsi_fail(e, 400, "number shall be between 1 and %u",
				 lim->max_key_per_request);
	*out = (uint32_t)v;
	return 0;
}

/* An explicit size of 0 is refused too: 0 in the request means absent. */
static int size_check(int64_t v, const struct etsi_limits *lim,
		      uint32_t *out, struct etsi_error *e)
{
	int64_t lo = lim->min_key_size ? lim->min_key_size : 1;
	int64_t hi = lim->max_key_size / 8 * 8;

	lo = (lo + 7) / 8 * 8;
	if (v % 8)
		return etsi_fail(e, 400, "size shall be a multiple of 8");
	if (v < lo || v > hi)
		return etsi_fail(e, 400, "size shall be between %lld and %lld",
				 (long long)lo, (long long)hi);
	*out = (uint32_t)v;
	return 0;
}

/* Query strings */

struct qparam {
	const char *name, *val;
	size_t nlen, vlen;
};

/* The next "name=value" of *q: 1, 0 at the end, or -1 with e set. */
static int query_next(const char **q, struct qparam *qp, struct etsi_error *e)
{
	const char *s = *q, *end, *eq;

	if (!*s)
		return 0;
	end = strchrnul(s, '&');
	if (end == s || (*end && !end[1]))
		return etsi_fail(e, 400, "empty query parameter");
	eq = memchr(s, '=', end - s);
	if (!eq || eq + 1 == end)
		return etsi_fail(e, 400, "query parameter without a value");
	qp->name = s;
	qp->nlen = eq - s;
	qp->val = eq + 1;
	qp->vlen = end - eq - 1;
	*q = *end ? end + 1 : end;
	return 1;
}

static bool param_is(const struct qparam *qp, const char *name)
{
	return qp->nlen == strlen(name) && !memcmp(qp->name, name, qp->nlen);
}

static int param_unknown(const struct qparam *qp, struct etsi_error *e)
{
	char buf[SHOWN_SIZE];

	return etsi_fail(e, 400, "unknown query parameter %s",
			 shown(qp->name, qp->nlen, buf));
}

/*
 * A decimal value: digits only, no sign, no spaces. Above UINT32_MAX it
 * stays UINT32_MAX + 1, which every range refuses. -1 if not decimal.
 */
static int64_t decimal_parse(const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v <= UINT32_MAX)
			v = v * 10 + (s[i] - '0');
	}
	return v > UINT32_MAX ? (int64_t)UINT32_MAX + 1 : (int64_t)v;
}

/* The value of "number" or "size", seen at most once. */
static int query_dec(const struct qparam *qp, const char *name, bool *seen,
		     int64_t *v, struct etsi_error *e)
{
	if (*seen)
		return etsi_fail(e, 400, "%s is repeated", name);
	*seen = true;
	*v = decimal_parse(qp->val, qp->vlen);
	if (*v < 0)
		return etsi_fail(e, 400, "%s shall be a decimal integer", name);
	return 0;
}

int etsi_enc_query(const char *query, const struct etsi_limits *lim,
		   struct etsi_enc_req *r, struct etsi_error *e)
{
	struct etsi_enc_req req = { .number = 1 };
	bool number = false, size = false;
	struct qparam qp = { 0 };
	int64_t v;
	int rc;

	if (!query)
		query = "";
	while ((rc = query_next(&query, &qp, e)) > 0) {
		if (param_is(&qp, "number")) {
			if (query_dec(&qp, "number", &number, &v, e) ||
			    number_check(v, lim, &req.number, e))
				return -1;
		} else if (param_is(&qp, "size")) {
			if (query_dec(&qp, "size", &size, &v, e) ||
			    size_check(v, lim, &req.size, e))
				return -1;
		} else {
			return param_unknown(&qp, e);
		}
	}
	if (rc < 0)
		return -1;
	*r = req;
	return 0;
}

/* Key IDs: one more for req, or -1 if it is not a UUID or is repeated. */
static int key_id_add(struct etsi_dec_req *req, const char *s,
		      struct etsi_error *e)
{
	uint8_t id[QKDN_KEY_ID_LEN];
	char buf[SHOWN_SIZE];
	unsigned int i;

	if (qkdn_uuid_parse(s, id))
		return etsi_fail(e, 400, "%s is not a valid key ID",
				 shown(s, strlen(s), buf));
	for (i = 0; i < req->n; i++)
		if (!memcmp(req->ids[i], id, sizeof(id)))
			return etsi_fail(e, 400, "key ID %s is repeated",
					 shown(s, strlen(s), buf));
	memcpy(req->ids[req->n++], id, sizeof(id));
	return 0;
}

int etsi_dec_query(const char *query, struct etsi_dec_req *r,
		   struct etsi_error *e)
{
	struct etsi_dec_req req = { .n = 0 };
	char s[QKDN_UUID_STR_LEN], buf[SHOWN_SIZE];
	struct qparam qp = { 0 };
	int rc;

	if (!query)
		query = "";
	while ((rc = query_next(&query, &qp, e)) > 0) {
		if (!param_is(&qp, "key_ID"))
			return param_unknown(&qp, e);
		if (req.n)
			return etsi_fail(e, 400, "key_ID is repeated");
		if (qp.vlen != QKDN_UUID_STR_LEN - 1)
			return etsi_fail(e, 400, "%s is not a valid key ID",
					 shown(qp.val, qp.vlen, buf));
		memcpy(s, qp.val, qp.vlen);
		s[qp.vlen] = '\0';
		if (key_id_add(&req, s, e))
			return -1;
	}
	if (rc < 0)
		return -1;
	if (!req.n)
		return etsi_fail(e, 400, "key_ID is missing");
	*r = req;
	return 0;
}

/* JSON bodies */

/* The body as a JSON object, or NULL with e set. */
static json_t *body_load(const char *body, size_t len, struct etsi_error *e)
{
	char buf[JSON_ERROR_TEXT_LENGTH + 4];
	json_error_t err;
	json_t *root;

	if (len > ETSI_BODY_MAX) {
		etsi_fail(e, 400, "the request body exceeds %d bytes",
			  ETSI_BODY_MAX);
		return NULL;
	}
	root = json_loadb(body ? body : "", body ? len : 0,
			  JSON_REJECT_DUPLICATES, &err);
	if (!root && json_error_code(&err) == json_error_out_of_memory) {
		etsi_fail(e, 503, "out of memory");
		return NULL;
	}
	if (!root) {
		etsi_fail(e, 400, "malformed JSON");
		/* Jansson's words, which may quote the input. */
		etsi_detail(e, "line %d column %d: %s", err.line, err.column,
			    shown(err.text, strnlen(err.text, sizeof(err.text)),
				  buf));
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		etsi_fail(e, 400, "the request body shall be a JSON object");
		return NULL;
	}
	return root;
}

/* Refuse a member of obj not in names (NULL-terminated). */
static int members_check(json_t *obj, const char *const *names,
			 const char *what, struct etsi_error *e)
{
	char buf[SHOWN_SIZE];
	const char *key;
	void *it;
	size_t i;

	for (it = json_object_iter(obj); it;
	     it = json_object_iter_next(obj, it)) {
		key = json_object_iter_key(it);
		for (i = 0; names[i]; i++)
			if (!strcmp(key, names[i]))
				break;
		if (!names[i])
			return etsi_fail(e, 400, "unknown member %s in %s",
					 shown(key, strlen(key), buf), what);
	}
	return 0;
}

/* An integer member, any value (the ranges check it before narrowing). */
static int json_int(json_t *v, const char *name, int64_t *out,
		    struct etsi_error *e)
{
	if (!json_is_integer(v))
		return etsi_fail(e, 400, "%s shall be an integer", name);
	*out = json_integer_value(v);
	return 0;
}

/* "extension_mandatory", "extension_optional": arrays of objects. */
static int ext_check(json_t *a, const char *name, struct etsi_error *e)
{
	size_t i;

	if (!json_is_array(a))
		goto bad;
	for (i = 0; i < json_array_size(a); i++)
		if (!json_is_object(json_array_get(a, i)))
			goto bad;
	return 0;
bad:
	return etsi_fail(e, 400, "%s shall be an array of objects", name);
}

/* No mandatory extension is supported: the first one named is refused. */
static int ext_mandatory(json_t *a, struct etsi_error *e)
{
	void *it;
	size_t i;

	if (ext_check(a, "extension_mandatory", e))
		return -1;
	for (i = 0; i < json_array_size(a); i++) {
		it = json_object_iter(json_array_get(a, i));
		if (!it)
			continue;
		etsi_fail(e, 400,
			  "not all extension_mandatory parameters are supported");
		etsi_detail(e, "%s", json_object_iter_key(it));
		return -1;
	}
	return 0;
}

/*
 * "additional_slave_SAE_IDs": an array of SAE IDs, each a string the
 * kernel takes as an ID, none repeated, at most max_sae_id_count.
 */
static int slaves_parse(json_t *a, const struct etsi_limits *lim,
			struct etsi_enc_req *req, struct etsi_error *e)
{
	size_t n = json_array_size(a), max = lim->max_sae_id_count, i, j;
	char buf[SHOWN_SIZE];
	const char *s;
	size_t len;

	if (!json_is_array(a))
		return etsi_fail(e, 400, "additional_slave_SAE_IDs shall be "
				 "an array of strings");
	if (n && !max)
		return etsi_fail(e, 400,
				 "additional_slave_SAE_IDs is not supported");
	if (max > ETSI_SLAVES_MAX)
		max = ETSI_SLAVES_MAX;
	if (n > max)
		return etsi_fail(e, 400, "additional_slave_SAE_IDs shall have "
				 "at most %zu entries", max);
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(a, i);

		if (!json_is_string(v))
			return etsi_fail(e, 400, "additional_slave_SAE_IDs "
					 "shall be an array of strings");
		s = json_string_value(v);
		len = json_string_length(v);
		if (!id_valid(s, len))
			return etsi_fail(e, 400, "%s in additional_slave_SAE_IDs "
					 "is not a valid SAE ID (1 to %d of "
					 "A-Z a-z 0-9 . _ - : @)",
					 shown(s, len, buf), QKDN_ID_MAX - 1);
		/* Valid IDs: printable, at most 63, echoed whole. */
		for (j = 0; j < i; j++)
			if (!strcmp(req->slaves[j], s))
				return etsi_fail(e, 400, "SAE ID %s is repeated "
						 "in additional_slave_SAE_IDs",
						 s);
		memcpy(req->slaves[i], s, len + 1);
	}
	req->n_slaves = n;
	return 0;
}

int etsi_enc_slaves_check(const struct etsi_enc_req *r, const char *slave,
			  struct etsi_error *e)
{
	unsigned int i;

	for (i = 0; i < r->n_slaves && i < ETSI_SLAVES_MAX; i++)
		if (!strcmp(r->slaves[i], slave))
			return etsi_fail(e, 400, "SAE ID %s is the slave SAE of "
					 "the path and in "
					 "additional_slave_SAE_IDs", slave);
	return 0;
}

static const char *const enc_members[] = {
	"number", "size", "additional_slave_SAE_IDs", "extension_mandatory",
	"extension_optional", NULL
};

static int enc_parse(json_t *root, const struct etsi_limits *lim,
		     struct etsi_enc_req *req, struct etsi_error *e)
{
	json_t *v;
	int64_t n = 0;

	if (members_check(root, enc_members, "the key request", e))
		return -1;
	v = json_object_get(root, "extension_mandatory");
	if (v && ext_mandatory(v, e))
		return -1;
	v = json_object_get(root, "extension_optional");
	if (v && ext_check(v, "extension_optional", e))
		return -1;
	v = json_object_get(root, "number");
	if (v && (json_int(v, "number", &n, e) ||
		  number_check(n, lim, &req->number, e)))
		return -1;
	v = json_object_get(root, "size");
	if (v && (json_int(v, "size", &n, e) ||
		  size_check(n, lim, &req->size, e)))
		return -1;
	v = json_object_get(root, "additional_slave_SAE_IDs");
	if (v && slaves_parse(v, lim, req, e))
		return -1;
	return 0;
}

int etsi_enc_body(const char *body, size_t len, const struct etsi_limits *lim,
		  struct etsi_enc_req *r, struct etsi_error *e)
{
	struct etsi_enc_req req = { .number = 1 };
	json_t *root = body_load(body, len, e);
	int rc;

	if (!root)
		return -1;
	rc = enc_parse(root, lim, &req, e);
	json_decref(root);
	if (!rc)
		*r = req;
	return rc;
}

static const char *const dec_members[] = {
	"key_IDs", "key_IDs_extension", NULL
};
static const char *const dec_id_members[] = {
	"key_ID", "key_ID_extension", NULL
};

/* One {"key_ID": "UUID", "key_ID_extension": {...}} of "key_IDs". */
static int dec_one(json_t *o, struct etsi_dec_req *req, struct etsi_error *e)
{
	json_t *v;

	if (!json_is_object(o))
		return etsi_fail(e, 400, "key_IDs shall be an array of objects");
	if (members_check(o, dec_id_members, "key_IDs", e))
		return -1;
	v = json_object_get(o, "key_ID_extension");
	if (v && !json_is_object(v))
		return etsi_fail(e, 400, "key_ID_extension shall be an object");
	v = json_object_get(o, "key_ID");
	if (!v)
		return etsi_fail(e, 400, "key_ID is missing");
	if (!json_is_string(v))
		return etsi_fail(e, 400, "key_ID shall be a string");
	return key_id_add(req, json_string_value(v), e);
}

static int dec_parse(json_t *root, struct etsi_dec_req *req,
		     struct etsi_error *e)
{
	json_t *ids, *v;
	size_t i, n;

	if (members_check(root, dec_members, "the key IDs", e))
		return -1;
	v = json_object_get(root, "key_IDs_extension");
	if (v && !json_is_object(v))
		return etsi_fail(e, 400, "key_IDs_extension shall be an object");
	ids = json_object_get(root, "key_IDs");
	if (!ids)
		return etsi_fail(e, 400, "key_IDs is missing");
	if (!json_is_array(ids))
		return etsi_fail(e, 400, "key_IDs shall be an array of objects");
	n = json_array_size(ids);
	if (n < 1 || n > QKDN_KEYS_PER_REQUEST)
		return etsi_fail(e, 400, "key_IDs shall have 1 to %d entries",
				 QKDN_KEYS_PER_REQUEST);
	for (i = 0; i < n; i++)
		if (dec_one(json_array_get(ids, i), req, e))
			return -1;
	return 0;
}

int etsi_dec_body(const char *body, size_t len, struct etsi_dec_req *r,
		  struct etsi_error *e)
{
	struct etsi_dec_req req = { .n = 0 };
	json_t *root = body_load(body, len, e);
	int rc;

	if (!root)
		return -1;
	rc = dec_parse(root, &req, e);
	json_decref(root);
	if (!rc)
		*r = req;
	return rc;
}

/* Responses */

/* Dump root (compact) into *out and release it; 0 or -ENOMEM. */
static int dump(json_t *root, char **out, size_t *len)
{
	char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;

	json_decref(root);
	if (!s)
		return -ENOMEM;
	*out = s;
	if (len)
		*len = strlen(s);
	return 0;
}

/* {"key_ID": "UUID", "key": "base64"}, the base64 written in b64. */
static json_t *key_json(const struct etsi_key *k, char *b64, size_t size)
{
	char id[QKDN_UUID_STR_LEN];
	json_t *o = json_object();
	int n;

	qkdn_uuid_fmt(k->id, id);
	n = qkdn_b64_encode(k->data, k->len, b64, size);
	if (!o || n < 0 || json_object_set_new(o, "key_ID", json_string(id)) ||
	    json_object_set_new(o, "key", json_stringn_nocheck(b64, n))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Larger keys are not encoded (1 MiB; QKDN_KEY_SIZE_MAX is 1 KiB). */
#define ETSI_KEY_BYTES_MAX	(1u << 20)

int etsi_keys_json(const struct etsi_key *keys, unsigned int n, char **out,
		   size_t *len)
{
	json_t *root = json_object(), *arr = json_array(), *o;
	size_t max = 0, size;
	unsigned int i;
	char *b64;

	for (i = 0; i < n; i++)
		if (keys[i].len > max)
			max = keys[i].len;
	size = (max + 2) / 3 * 4 + 1;
	b64 = max <= ETSI_KEY_BYTES_MAX ? malloc(size) : NULL;
	if (!root || !b64 || json_object_set(root, "keys", arr))
		goto fail;
	for (i = 0; i < n; i++) {
		o = key_json(&keys[i], b64, size);
		if (!o || json_array_append_new(arr, o))
			goto fail;
	}
	qkdn_memzero(b64, size);
	free(b64);
	json_decref(arr);
	return dump(root, out, len);
fail:
	if (b64)
		qkdn_memzero(b64, size);
	free(b64);
	json_decref(arr);
	json_decref(root);
	return -ENOMEM;
}

static int put_str(json_t *o, const char *key, const char *v)
{
	return json_object_set_new(o, key, json_string(v ? v : ""));
}

static int put_u32(json_t *o, const char *key, uint32_t v)
{
	return json_object_set_new(o, key, json_integer(v));
}

/* The members in the order of the standard; a NULL ID is "". */
int etsi_status_json(const struct etsi_status *s, char **out, size_t *len)
{
	json_t *o = json_object();

	if (!o ||
	    put_str(o, "source_KME_ID", s->source_kme) ||
	    put_str(o, "target_KME_ID", s->target_kme) ||
	    put_str(o, "master_SAE_ID", s->master_sae) ||
	    put_str(o, "slave_SAE_ID", s->slave_sae) ||
	    put_u32(o, "key_size", s->key_size) ||
	    put_u32(o, "stored_key_count", s->stored_key_count) ||
	    put_u32(o, "max_key_count", s->max_key_count) ||
	    put_u32(o, "max_key_per_request", s->max_key_per_request) ||
	    put_u32(o, "max_key_size", s->max_key_size) ||
	    put_u32(o, "min_key_size", s->min_key_size) ||
	    put_u32(o, "max_SAE_ID_count", s->max_sae_id_count)) {
		json_decref(o);
		return -ENOMEM;
	}
	return dump(o, out, len);
}

/* A string of e; if it is not UTF-8, bytes beyond ASCII become '?'. */
static json_t *text(const char *s)
{
	size_t n = strnlen(s, ETSI_MSG_MAX), i;
	char buf[ETSI_MSG_MAX];
	json_t *j = json_stringn(s, n);

	if (j)
		return j;
	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	return json_stringn(buf, n);
}

/*
 * The "Error" object of the standard: {"message": e->message}, and when
 * e->detail is not empty one entry of "details", an object of our own
 * making: {"message": ..., "details": [{"message": e->detail}]}.
 */
int etsi_error_json(const struct etsi_error *e, char **out, size_t *len)
{
	json_t *o = json_object(), *d = NULL, *arr = NULL;

	if (!o || json_object_set_new(o, "message", text(e->message)))
		goto fail;
	if (e->detail[0]) {
		d = json_object();
		arr = json_array();
		if (!d || !arr ||
		    json_object_set_new(d, "message", text(e->detail)) ||
		    json_array_append(arr, d) ||
		    json_object_set(o, "details", arr))
			goto fail;
		json_decref(d);
		json_decref(arr);
	}
	return dump(o, out, len);
fail:
	json_decref(d);
	json_decref(arr);
	json_decref(o);
	return -ENOMEM;
}
