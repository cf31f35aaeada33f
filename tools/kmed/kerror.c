// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's refusals of key requests as ETSI GS QKD 014 answers them:
 * the HTTP status of each errno, the kernel's words (its extack message)
 * or ours when it gave none, and, for a multicast request, the slave SAE
 * the kernel's extack points at. No socket here: keys.c hands in what the
 * kernel said (qkdn_errmsg(), qkdn_erroff()).
 */
#include <errno.h>
#include <string.h>

#include "kmed.h"

/*
 * 401 what the SAE may not have; 400 what the request got wrong (an
 * unknown or local SAE, one named twice, too many slaves, too many keys
 * for one relay frame, a bad size); 503 what the key manager cannot serve
 * now (no key, no link and no route, a relay that failed or timed out, no
 * controller, busy, out of memory).
 */
int kmed_errno_status(int err)
{
	switch (err < 0 ? -err : err) {
	case EACCES:
	case EPERM:
		return 401;
	case EINVAL:
	case ENOENT:
	case EOPNOTSUPP:
	case ERANGE:
	case E2BIG:
		return 400;
	default:
		return 503;
	}
}

const char *kmed_errno_text(int err, const char *why)
{
	if (why && why[0])
		return why;
	switch (err < 0 ? -err : err) {
	case E2BIG:
		return "too many keys or slave SAEs for one request";
	case ENOSPC:
		return "not enough key";
	case EHOSTUNREACH:
		return "no QKD link and no route to the slave SAE's KME";
	case ETIMEDOUT:
		return "the key relay timed out";
	case ENOTCONN:
		return "no QKDN controller to route the key relay";
	}
	return strerror(err < 0 ? -err : err);
}

void kmed_saes_put(struct kmed_saes *s, uint32_t off, const char *id)
{
	if (s->n >= sizeof(s->a) / sizeof(s->a[0]))
		return;
	s->a[s->n].off = off;
	s->a[s->n++].id = id;
}

int kmed_kernel_error(int err, const char *why, uint32_t off,
		      const struct kmed_saes *s, struct etsi_error *e)
{
	int status = kmed_errno_status(err);
	const char *text = kmed_errno_text(err, why);
	unsigned int i;

	/* Only a multicast request names the slave: one slave is the path's. */
	for (i = 0; s && s->n > 1 && off && i < s->n; i++)
		if (s->a[i].off == off)
			return etsi_fail(e, status, "%s: %s", text,
					 s->a[i].id);
	return etsi_fail(e, status, "%s", text);
}
