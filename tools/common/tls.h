/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Daemon TLS: one OpenSSL context, TLS 1.3 only, mutual authentication.
 */
#ifndef QD_TLS_H
#define QD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

/* A context for both roles: our certificate chain and key, peers verified
 * against ca, a peer certificate required. NULL with a reason in err.
 */
SSL_CTX *qd_tls_ctx_new(const char *cert, const char *key, const char *ca,
			   char *err, size_t errlen);

/* SIGHUP: a new context from cert, key and ca replaces *ctx, for new
 * connections. On failure *ctx stays. Either way, logged.
 */
void qd_tls_reload(SSL_CTX **ctx, const char *cert, const char *key,
		   const char *ca);

/* A session on fd. outbound: we connect, and the server's certificate
 * must name expect_id (checked during the handshake).
 */
SSL *qd_tls_new(SSL_CTX *ctx, int fd, bool outbound, const char *expect_id);

/* Does the peer's certificate name node ID id (subjectAltName DNS, or the
 * subject CN when there is no DNS name)? Exact, no wildcards.
 */
bool qd_tls_peer_is(SSL *ssl, const char *id);

/* The reason for the last failure: OpenSSL's error queue (emptied) and, if
 * the certificate check failed, the verify result.
 */
void qd_tls_strerror(SSL *ssl, char *buf, size_t len);

#endif /* QD_TLS_H */
