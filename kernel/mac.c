// SPDX-License-Identifier: GPL-2.0
/*
 * The Wegman-Carter MAC of key relay frames.
 *
 * tag = GHASH_H(message) XOR s
 *
 * GHASH is the polynomial hash over GF(2^128) of GCM (NIST SP 800-38D):
 * the message in 16-byte blocks, the last one padded with zeros, then a
 * block holding the message length in bits, evaluated at the hash key H.
 * For messages of at most L blocks it is (L + 1) / 2^128-almost-XOR-
 * universal, so a tag that adds a one-time pad s is an information-
 * theoretically secure MAC: whatever an attacker computes, a forgery
 * succeeds with probability at most (L + 1) / 2^128. H may authenticate
 * many messages as long as each has its own s (Wegman and Carter, 1981);
 * both H and every s come from the link's QKD key pool.
 */

#include <crypto/algapi.h>
#include <crypto/gf128mul.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "qkdn.h"

void qkdn_mac_clear(struct qkdn_mac *m)
{
	/* The tables are multiples of H: as secret as H itself. */
	kfree_sensitive(m->t);
	m->t = NULL;
	m->uses = 0;
}

int qkdn_mac_setkey(struct qkdn_mac *m, const u8 *key)
{
	struct gf128mul_4k *t;
	be128 h;

	memcpy(&h, key, sizeof(h));
	t = gf128mul_init_4k_lle(&h);
	memzero_explicit(&h, sizeof(h));
	if (!t)
		return -ENOMEM;
	qkdn_mac_clear(m);
	m->t = t;
	return 0;
}

void qkdn_mac_tag(const struct qkdn_mac *m, const u8 *msg, u32 len,
		  const u8 *otp, u8 *tag)
{
	be128 y = {}, blk;
	u32 off, n;

	for (off = 0; off < len; off += n) {
		n = min_t(u32, len - off, sizeof(blk));
		memset(&blk, 0, sizeof(blk));
		memcpy(&blk, msg + off, n);
		be128_xor(&y, &y, &blk);
		gf128mul_4k_lle(&y, m->t);
	}
	blk.a = 0;
	blk.b = cpu_to_be64((u64)len * 8);
	be128_xor(&y, &y, &blk);
	gf128mul_4k_lle(&y, m->t);
	crypto_xor_cpy(tag, (u8 *)&y, otp, QKDN_MAC_LEN);
	memzero_explicit(&y, sizeof(y));
	memzero_explicit(&blk, sizeof(blk));
}
