// SPDX-License-Identifier: GPL-2.0
/*
 * The gateway's TLS: a server context that takes TLS 1.2 and 1.3 and
 * refuses, in the handshake, a client without a certificate the CA signed;
 * and the client's credential, read from its verified certificate.
 */
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "kmed.h"

static int tls_fail(char *err, size_t len, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(err, len, "%s%s%s", what, buf[0] ? ": " : "", buf);
	return -1;
}

SSL_CTX *kmed_tls_ctx(const struct kmed_config *c, char *err, size_t len)
{
	static const unsigned char sid_ctx[] = "qkdn-kmed";
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx;

	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		tls_fail(err, len, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_COMPRESSION);
	/* TLS 1.2: forward secrecy and AEAD only; 1.3 keeps its defaults. */
	if (!SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20")) {
		tls_fail(err, len, "cipher list");
		goto fail;
	}
	/* Idle keep-alive connections give their buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->common.cert) != 1) {
		tls_fail(err, len, c->common.cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->common.key,
					SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_fail(err, len, c->common.key);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, c->common.ca, NULL) != 1) {
		tls_fail(err, len, c->common.ca);
		goto fail;
	}
	names = SSL_load_client_CA_file(c->common.ca);
	if (!names) {
		tls_fail(err, len, c->common.ca);
		goto fail;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
			   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	/* Resumption with client certificates needs a session ID context. */
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Printable ASCII only, no NUL inside: what the kernel takes. */
static int copy_printable(const unsigned char *s, int n, char *out,
			  size_t len)
{
	int i;

	if (n <= 0 || (size_t)n >= len)
		return -1;
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return -1;
	memcpy(out, s, n);
	out[n] = 0;
	return n;
}

static int identity_cn(X509 *peer, char *out, size_t len)
{
	X509_NAME *subj = X509_get_subject_name(peer);
	int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	ASN1_STRING *v;

	if (i < 0)
		return -1;
	v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
	return copy_printable(ASN1_STRING_get0_data(v), ASN1_STRING_length(v),
			      out, len);
}

static int identity_subject(X509 *peer, char *out, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int r = -1;

	if (!b)
		return -1;
	if (X509_NAME_print_ex(b, X509_get_subject_name(peer), 0,
			       XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(b, &p);
		if (n > 0 && n < (long)len)
			r = copy_printable((unsigned char *)p, n, out, len);
	}
	BIO_free(b);
	return r;
}

static int identity_san(X509 *peer, int type, char *out, size_t len)
{
	GENERAL_NAMES *names;
	int i, r = -1;

	names = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
	if (!names)
		return -1;
	for (i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type != type)
			continue;
		/* dNSName, uniformResourceIdentifier, rfc822Name: IA5. */
		r = copy_printable(ASN1_STRING_get0_data(g->d.ia5),
				   ASN1_STRING_length(g->d.ia5), out, len);
		break;
	}
	GENERAL_NAMES_free(names);
	return r;
}

int kmed_tls_identity(SSL *ssl, enum kmed_identity kind, char *out,
		      size_t len)
{
	X509 *peer;

	if (!ssl || SSL_get_verify_result(ssl) != X509_V_OK)
		return -1;
	peer = SSL_get0_peer_certificate(ssl);
	if (!peer)
		return -1;
	switch (kind) {
	case KMED_ID_CN:
		return identity_cn(peer, out, len);
	case KMED_ID_SUBJECT:
		return identity_subject(peer, out, len);
	case KMED_ID_SAN_DNS:
		return identity_san(peer, GEN_DNS, out, len);
	case KMED_ID_SAN_URI:
		return identity_san(peer, GEN_URI, out, len);
	case KMED_ID_SAN_EMAIL:
		return identity_san(peer, GEN_EMAIL, out, len);
	}
	return -1;
}
