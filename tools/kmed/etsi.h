/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ETSI GS QKD 014 V1.1.1 for qkdn-kmed: the paths, the query strings and
 * JSON bodies of requests, and the JSON of responses. No I/O and no
 * kernel here: the HTTP side (http.c) hands in what arrived and sends what
 * comes out; the key side (keys.c) fills the structures in between.
 *
 * Every parser either fills its request and returns 0, or fills the error
 * (HTTP status, "message" as the standard words it, optional "details")
 * and returns -1, having kept nothing. JSON is built and parsed with
 * Jansson; allocations of Jansson are erased when freed (etsi_init()),
 * since key bytes pass through them in base64.
 */
#ifndef KMED_ETSI_H
#define KMED_ETSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/qkdn.h>

/* additional_slave_SAE_IDs: the slave of the path and up to 7 more */
#define ETSI_SLAVES_MAX		(QKDN_SLAVES_MAX - 1)
#define ETSI_MSG_MAX		256
#define ETSI_BODY_MAX		16384	/* request bodies, bytes */

enum etsi_op {
	ETSI_STATUS,		/* GET  /api/v1/keys/{slave_SAE_ID}/status */
	ETSI_ENC_KEYS,		/* GET, POST .../{slave_SAE_ID}/enc_keys */
	ETSI_DEC_KEYS,		/* GET, POST .../{master_SAE_ID}/dec_keys */
};

struct etsi_path {
	enum etsi_op op;
	char sae[QKDN_ID_MAX];	/* the SAE ID in the path */
};

struct etsi_error {
	int status;		/* 400, 401, 404, 405, 413, 417, 501, 503 */
	char message[ETSI_MSG_MAX];
	char detail[ETSI_MSG_MAX];	/* "" or one entry of "details" */
};

/* enc_keys: "number", "size", "additional_slave_SAE_IDs". */
struct etsi_enc_req {
	uint32_t number;	/* 1 when absent */
	uint32_t size;		/* bits; 0 when absent: the status key_size */
	unsigned int n_slaves;
	char slaves[ETSI_SLAVES_MAX][QKDN_ID_MAX];
};

/* dec_keys: the key IDs, 1 to QKDN_KEYS_PER_REQUEST of them. */
struct etsi_dec_req {
	unsigned int n;
	uint8_t ids[QKDN_KEYS_PER_REQUEST][QKDN_KEY_ID_LEN];
};

/* One key of a response. */
struct etsi_key {
	uint8_t id[QKDN_KEY_ID_LEN];
	const uint8_t *data;
	size_t len;		/* bytes */
};

/* The "Status" object. */
struct etsi_status {
	const char *source_kme;
	const char *target_kme;
	const char *master_sae;
	const char *slave_sae;
	uint32_t key_size;
	uint32_t stored_key_count;
	uint32_t max_key_count;
	uint32_t max_key_per_request;
	uint32_t max_key_size;
	uint32_t min_key_size;
	uint32_t max_sae_id_count;
};

/* Limits the parsers enforce (from the status the node would give). */
struct etsi_limits {
	uint32_t max_key_per_request;
	uint32_t max_key_size;		/* bits */
	uint32_t min_key_size;		/* bits */
	uint32_t max_sae_id_count;	/* additional slaves; 0: none.
					 * ETSI_SLAVES_MAX bounds it.
					 */
};

/* Once, before any other call: Jansson's allocator erases on free. */
void etsi_init(void);

/* path: the request path without query. 404 unknown path; 400 bad ID. */
int etsi_path_parse(const char *path, struct etsi_path *p,
		    struct etsi_error *e);

/* GET enc_keys: query "number=N&size=S" (either, both, none; NULL or ""
 * for none). 400 for an unknown parameter, a repeated one, a bad number.
 */
int etsi_enc_query(const char *query, const struct etsi_limits *lim,
		   struct etsi_enc_req *r, struct etsi_error *e);
/* POST enc_keys: the JSON "Key request" object. 400 for malformed JSON,
 * wrong types, unknown mandatory extensions ("extension_mandatory"), out
 * of range values; optional extensions are ignored.
 * "additional_slave_SAE_IDs" is an array of valid SAE IDs (strings), none
 * repeated, at most lim->max_sae_id_count (and ETSI_SLAVES_MAX) of them;
 * an empty array is no additional slave.
 */
int etsi_enc_body(const char *body, size_t len, const struct etsi_limits *lim,
		  struct etsi_enc_req *r, struct etsi_error *e);
/*
 * After the path and the body: an additional slave that is the path's
 * slave itself is refused (400), as the kernel would (EINVAL), but with
 * its name. 0, or -1 with e set.
 */
int etsi_enc_slaves_check(const struct etsi_enc_req *r, const char *slave,
			  struct etsi_error *e);
/* GET dec_keys: query "key_ID=UUID" (exactly one). */
int etsi_dec_query(const char *query, struct etsi_dec_req *r,
		   struct etsi_error *e);
/* POST dec_keys: the JSON "Key IDs" object {"key_IDs":[{"key_ID":..}]}. */
int etsi_dec_body(const char *body, size_t len, struct etsi_dec_req *r,
		  struct etsi_error *e);

/*
 * Responses: a NUL-terminated JSON text in *out (its length in *len), to
 * be released with etsi_free() (which erases it); 0, or -ENOMEM.
 */
int etsi_keys_json(const struct etsi_key *keys, unsigned int n, char **out,
		   size_t *len);
int etsi_status_json(const struct etsi_status *s, char **out, size_t *len);
int etsi_error_json(const struct etsi_error *e, char **out, size_t *len);
void etsi_free(char *json);

/*
 * A request that libevent refuses before the gateway sees it (http.c
 * answers it in JSON all the same): libevent's status, and what is known
 * of the cause.
 */
struct etsi_refusal {
	int status;		/* 400, 413, 417, 501; another: generic */
	bool headers_over;	/* 400: request line and headers seen to be
				 * over max_headers (else malformed, or a
				 * request line over it that left no trace)
				 */
	bool chunked;		/* 413: a chunked body (over, or malformed) */
	size_t max_headers;	/* bytes */
	size_t max_body;	/* bytes */
};

/* The error for refusal r, with r->status: e set, -1. */
int etsi_refusal_error(const struct etsi_refusal *r, struct etsi_error *e);

/* Sets e; returns -1 (for "return etsi_fail(e, 400, ...)"). */
int etsi_fail(struct etsi_error *e, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* KMED_ETSI_H */
