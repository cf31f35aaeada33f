/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-kmed: the node's key delivery gateway, ETSI GS QKD 014 over HTTPS
 * with mutual TLS. Each application (SAE) is known by its TLS client
 * certificate; the gateway asks the kernel for keys on its behalf with
 * the credential read from that certificate, and the kernel hands keys
 * only to the SAE registered with that credential (qkdnctl sae add ...
 * cred ...).
 *
 *	main.c		command line, start and stop
 *	config.c	the configuration file
 *	tls.c		the server's TLS context, reload, client credentials
 *	keys.c		the kernel side: key requests, status, SAE lookup
 *	kerror.c	the kernel's refusals as HTTP status and message
 *	http.c		event loops, requests, answers, the access log
 *	etsi.c		ETSI GS QKD 014 paths and JSON (etsi.h)
 */
#ifndef KMED_H
#define KMED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <openssl/ssl.h>
#include <linux/qkdn.h>

#include "conf.h"
#include "etsi.h"

#define KMED_THREADS_MAX	64	/* event loops, and waiters */
#define KMED_CONNS_DEFAULT	1024	/* per event loop */
#define KMED_TIMEOUT_DEFAULT	10	/* seconds: handshake, idle, slow */
#define KMED_HEADERS_MAX	8192	/* request line and headers, bytes */

/* Which part of the client certificate is its credential. */
enum kmed_identity {
	KMED_ID_CN,		/* the subject's commonName (default) */
	KMED_ID_SUBJECT,	/* the whole subject, RFC 2253 */
	KMED_ID_SAN_DNS,	/* the first subjectAltName of each type */
	KMED_ID_SAN_URI,
	KMED_ID_SAN_EMAIL,
};

struct kmed_config {
	struct qd_daemon_conf common;	/* listen, cert, key, ca */
	enum kmed_identity identity;
	unsigned int threads;		/* event loops; 0: one per CPU */
	unsigned int waiters;		/* threads for requests that wait */
	unsigned int max_conns;		/* per event loop */
	unsigned int timeout;		/* seconds */
	char *access_log;		/* NULL: none; "-": stderr */
	char user[64];			/* "": stay root */
};

int kmed_config_parse(FILE *f, const char *name, const char *basedir,
		      void *cfg, char *err, size_t errlen);
void kmed_config_free(struct kmed_config *c);

/* ---- tls.c ---- */

SSL_CTX *kmed_tls_ctx(const struct kmed_config *c, char *err, size_t len);
/* The client's credential of the configured kind, NUL-terminated, or -1. */
int kmed_tls_identity(SSL *ssl, enum kmed_identity kind, char *out,
		      size_t len);

/* ---- keys.c ---- */

struct qkdn_sock;

/* A gateway socket (GW_BIND) and the buffer its requests are built in. */
struct kmed_nl {
	struct qkdn_sock *qs;
	void *buf;
};

/* What a key request needs to know of its client. */
struct kmed_client {
	const char *cred;		/* its credential */
	char sae[QKDN_ID_MAX];		/* the SAE registered with it */
};

/* A key request's outcome: keys, or an error for the HTTP answer. */
struct kmed_keys {
	unsigned int n;
	struct etsi_key keys[QKDN_KEYS_PER_REQUEST];
	uint8_t *data;			/* n * key bytes, erased on release */
	size_t data_len;
};

int kmed_nl_open(struct kmed_nl *nl);
void kmed_nl_close(struct kmed_nl *nl);
/* The SAE registered with credential cred in c->sae: 0, or -1 with e set
 * (401 when no SAE has it).
 */
int kmed_client_find(struct kmed_nl *nl, struct kmed_client *c,
		     struct etsi_error *e);
/*
 * enc_keys and dec_keys: 0 with the keys in k, -EWOULDBLOCK when nowait
 * and the kernel would wait, or -1 with e set. Failed requests take
 * nothing.
 */
int kmed_enc_keys(struct kmed_nl *nl, const struct kmed_client *c,
		  const char *slave, const struct etsi_enc_req *r,
		  bool nowait, struct kmed_keys *k, struct etsi_error *e);
int kmed_dec_keys(struct kmed_nl *nl, const struct kmed_client *c,
		  const char *master, const struct etsi_dec_req *r,
		  bool nowait, struct kmed_keys *k, struct etsi_error *e);
void kmed_keys_release(struct kmed_keys *k);
/* status: the JSON text in *out (etsi_free()), or -1 with e set. */
int kmed_status(struct kmed_nl *nl, const struct kmed_client *c,
		const char *slave, char **out, size_t *len,
		struct etsi_error *e);
/* The limits enc_keys requests are checked against. */
void kmed_limits(struct etsi_limits *lim);

/* ---- kerror.c ---- */

/*
 * The slave SAE IDs of a key request (the path's, then the additional
 * ones) and the offset of each one's attribute from the start of the
 * request, which the kernel's extack may point at (qkdn_erroff()).
 */
struct kmed_saes {
	unsigned int n;
	struct {
		uint32_t off;
		const char *id;		/* not copied */
	} a[1 + ETSI_SLAVES_MAX];
};

/* The HTTP status of a kernel errno (either sign): 400, 401 or 503. */
int kmed_errno_status(int err);
/* The kernel's extack message why, or ours for err when it is empty. */
const char *kmed_errno_text(int err, const char *why);
/* One more SAE ID at offset off; ignored when s is full. */
void kmed_saes_put(struct kmed_saes *s, uint32_t off, const char *id);
/*
 * The kernel refused a key request with err, why, the offset off of the
 * attribute at fault (0: none): e set, -1. For a multicast request (s
 * holds more than one SAE), the message names the slave at offset off:
 * "no such SAE: sae-x".
 */
int kmed_kernel_error(int err, const char *why, uint32_t off,
		      const struct kmed_saes *s, struct etsi_error *e);

/* ---- http.c ---- */

struct kmed;

/* Sockets, the gateway role, the TLS context; then the user of the
 * configuration. kmed_http_run() starts the threads.
 */
int kmed_http_start(struct kmed *d);
int kmed_http_run(struct kmed *d);
void kmed_http_stop(struct kmed *d);
/* SIGHUP: a fresh TLS context for new connections. */
void kmed_http_reload(struct kmed *d);

/* ---- the daemon ---- */

struct kmed_loop;
struct kmed_waiters;

struct kmed {
	struct kmed_config cfg;
	pthread_mutex_t tls_lock;
	SSL_CTX *tls;			/* for new connections */
	FILE *access;			/* the access log, or NULL */
	pthread_mutex_t access_lock;
	unsigned int nloops;
	struct kmed_loop *loops;
	struct kmed_waiters *waiters;
	int listen_fd;			/* the first loop's, for the port */
	int sfd;			/* signals */
};

#endif /* KMED_H */
