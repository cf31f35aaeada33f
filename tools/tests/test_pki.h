/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test PKI for the daemons' tests: a CA, a rogue CA and node certificates
 * (EC P-256), made with the OpenSSL API into a temporary folder.
 */
#ifndef TEST_PKI_H
#define TEST_PKI_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tap.h"
#include "tls.h"

static const char *pki_dir;

/* Certificates. */

static EVP_PKEY *ca_key, *rogue_key;
static X509 *ca_crt, *rogue_crt;

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *val)
{
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, ctx, nid, val);
	int ok;

	if (!ex)
		return 0;
	ok = X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	return ok;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san,
		       X509 *issuer, EVP_PKEY *issuer_key)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX ctx;
	bool ca = !issuer;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, ca ? name : X509_get_subject_name(issuer));
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, ca ? x : issuer, x, NULL, NULL, 0);
	if (ca) {
		add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, &ctx, NID_basic_constraints, "CA:FALSE");
		add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
		add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth");
	}
	if (san)
		add_ext(x, &ctx, NID_subject_alt_name, san);
	X509_sign(x, ca ? key : issuer_key, EVP_sha256());
	return x;
}

static void write_pem(const char *name, X509 *crt, EVP_PKEY *key)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", pki_dir, name);
	f = fopen(path, "w");
	if (crt)
		PEM_write_X509(f, crt);
	if (key)
		PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
}

/* node NAME: NAME.crt and NAME.key, signed by the test CA (or the rogue
 * one).
 */
static void make_node(const char *file, const char *cn, const char *san,
		      bool rogue)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *crt = make_cert(key, cn, san, rogue ? rogue_crt : ca_crt,
			      rogue ? rogue_key : ca_key);
	char n[64];

	snprintf(n, sizeof(n), "%s.crt", file);
	write_pem(n, crt, NULL);
	snprintf(n, sizeof(n), "%s.key", file);
	write_pem(n, NULL, key);
	X509_free(crt);
	EVP_PKEY_free(key);
}

/* ca.crt, and NAME.crt + NAME.key for alice (SAN), bob (CN only), carol,
 * mallory (claims alice, rogue CA) and wild (*.alice) in dir.
 */
static void make_pki(const char *dir)
{
	pki_dir = dir;
	ca_key = EVP_EC_gen("P-256");
	ca_crt = make_cert(ca_key, "qkdn test CA", NULL, NULL, NULL);
	rogue_key = EVP_EC_gen("P-256");
	rogue_crt = make_cert(rogue_key, "rogue CA", NULL, NULL, NULL);
	write_pem("ca.crt", ca_crt, NULL);
	/* SAN names the node; the CN is something else. */
	make_node("alice", "alice's KM", "DNS:alice", false);
	/* No SAN: the CN names the node. */
	make_node("bob", "bob", NULL, false);
	make_node("carol", "carol", "DNS:carol", false);
	/* Claims to be alice, signed by a CA nobody trusts. */
	make_node("mallory", "alice", "DNS:alice", true);
	make_node("wild", "wild", "DNS:*.alice", false);
}

static void free_pki(void)
{
	X509_free(ca_crt);
	X509_free(rogue_crt);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(rogue_key);
}

static void remove_pki(const char *dir)
{
	static const char *const f[] = {
		"ca.crt", "alice.crt", "alice.key", "bob.crt", "bob.key",
		"carol.crt", "carol.key", "mallory.crt", "mallory.key",
		"wild.crt", "wild.key",
	};
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, f[i]);
		unlink(path);
	}
}

/* A test over TLS begins: the TAP header, SIGPIPE ignored, and the
 * temporary folder dir (a mkdtemp() template) with the PKI in it. False,
 * every test skipped, when there is no folder.
 */
static inline bool pki_setup(char *dir)
{
	signal(SIGPIPE, SIG_IGN);
	printf("TAP version 13\n");
	if (!mkdtemp(dir)) {
		tap_skip_all("no temporary folder");
		return false;
	}
	make_pki(dir);
	return true;
}

/* The PKI gone, and the folder with it (the test's own files first). */
static inline void pki_teardown(const char *dir)
{
	free_pki();
	remove_pki(dir);
	rmdir(dir);
}

/* A daemon's TLS context (qd_tls_ctx_new()) as file's certificate and
 * key, trusting the test CA. NULL with the reason in err.
 */
static inline SSL_CTX *pki_ctx(const char *file, char *err,
			       size_t errlen)
{
	char crt[128], key[128], ca[128];

	snprintf(crt, sizeof(crt), "%s/%s.crt", pki_dir, file);
	snprintf(key, sizeof(key), "%s/%s.key", pki_dir, file);
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki_dir);
	return qd_tls_ctx_new(crt, key, ca, err, errlen);
}

#endif /* TEST_PKI_H */
