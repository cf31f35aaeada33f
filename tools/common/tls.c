// SPDX-License-Identifier: GPL-2.0
/*
 * Daemon TLS set-up.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls.h"

static void tls_errstr(char *buf, size_t len)
{
	unsigned long e, last = 0;

	while ((e = ERR_get_error()))
		last = e;
	if (last)
		ERR_error_string_n(last, buf, len);
	else
		snprintf(buf, len, "unknown error");
}

SSL_CTX *qd_tls_ctx_new(const char *cert, const char *key, const char *ca,
			   char *err, size_t errlen)
{
	char why[256];
	struct stat st;
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_method());
	if (!ctx) {
		tls_errstr(why, sizeof(why));
		snprintf(err, errlen, "TLS context: %s", why);
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		tls_errstr(why, sizeof(why));
		snprintf(err, errlen, "TLS 1.3: %s", why);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_errstr(why, sizeof(why));
		snprintf(err, errlen, "cert %s: %s", cert, why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tls_errstr(why, sizeof(why));
		snprintf(err, errlen, "key %s: %s", key, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "key %s does not match cert %s", key, cert);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		tls_errstr(why, sizeof(why));
		snprintf(err, errlen, "ca %s: %s", ca, why);
		goto fail;
	}
	if (!stat(key, &st) && (st.st_mode & (S_IRWXG | S_IRWXO)))
		qd_warn("key %s is accessible to group or others", key);

	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   NULL);
	/* Every connection is a full handshake: no tickets, no resumption. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void qd_tls_reload(SSL_CTX **ctx, const char *cert, const char *key,
		   const char *ca)
{
	char err[512];
	SSL_CTX *n;

	n = qd_tls_ctx_new(cert, key, ca, err, sizeof(err));
	if (!n) {
		qd_err("reload failed, keeping the old certificates: %s", err);
		return;
	}
	/* Sessions hold their own reference to the context they began with. */
	SSL_CTX_free(*ctx);
	*ctx = n;
	qd_notice("certificates reloaded; new connections use them");
}

SSL *qd_tls_new(SSL_CTX *ctx, int fd, bool outbound, const char *expect_id)
{
	SSL *ssl = SSL_new(ctx);

	if (!ssl)
		return NULL;
	if (!SSL_set_fd(ssl, fd))
		goto fail;
	if (outbound) {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_WILDCARDS |
				  X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (!SSL_set1_host(ssl, expect_id))
			goto fail;
		SSL_set_connect_state(ssl);
	} else {
		SSL_set_accept_state(ssl);
	}
	return ssl;

fail:
	SSL_free(ssl);
	return NULL;
}

bool qd_tls_peer_is(SSL *ssl, const char *id)
{
	X509 *crt = SSL_get0_peer_certificate(ssl);

	if (!crt || SSL_get_verify_result(ssl) != X509_V_OK)
		return false;
	return X509_check_host(crt, id, strlen(id),
			       X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1;
}

void qd_tls_strerror(SSL *ssl, char *buf, size_t len)
{
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	char why[256];

	tls_errstr(why, sizeof(why));
	if (v != X509_V_OK)
		snprintf(buf, len, "%s (%s)", why, X509_verify_cert_error_string(v));
	else
		snprintf(buf, len, "%s", why);
}
