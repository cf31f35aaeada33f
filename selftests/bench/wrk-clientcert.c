// SPDX-License-Identifier: GPL-2.0
/*
 * Mutual TLS for wrk, by LD_PRELOAD: wrk makes one client SSL_CTX and
 * offers no way to give it a certificate (neither options nor its Lua
 * API). Debian's wrk links libssl dynamically, so this wraps
 * SSL_CTX_new(): the real one, then the certificate and key named by
 * WRK_CERT and WRK_KEY. Nothing sits between wrk and the server.
 *
 *	WRK_CERT=sae.crt WRK_KEY=sae.key LD_PRELOAD=build/wrk-clientcert.so \
 *		wrk -t2 -c32 -d10s --latency https://...
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/ssl.h>

SSL_CTX *SSL_CTX_new(const SSL_METHOD *method)
{
	static SSL_CTX *(*real_new)(const SSL_METHOD *);
	const char *cert = getenv("WRK_CERT"), *key = getenv("WRK_KEY");
	SSL_CTX *ctx;

	if (!real_new)
		*(void **)&real_new = dlsym(RTLD_NEXT, "SSL_CTX_new");
	if (!real_new)
		abort();
	ctx = real_new(method);
	if (!ctx || !cert)
		return ctx;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key ? key : cert,
					SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "wrk-clientcert: cannot load %s and %s\n", cert,
			key ? key : cert);
		exit(1);
	}
	return ctx;
}
