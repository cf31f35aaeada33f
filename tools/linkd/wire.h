/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-linkd wire format inside TLS.
 *
 * hello:  "QKDN" | u8 version (1) | u8 n | n bytes of node ID
 * record: u32 big-endian length (0..QKDN_KX_FRAME_MAX) | frame bytes;
 *         length 0 is a keepalive.
 */
#ifndef LINKD_WIRE_H
#define LINKD_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/qkdn.h>

#define LINKD_WIRE_MAGIC	"QKDN"
#define LINKD_WIRE_VERSION	1
#define LINKD_HELLO_HDR		6
#define LINKD_HELLO_MAX		(LINKD_HELLO_HDR + QKDN_ID_MAX - 1)
#define LINKD_REC_HDR		4
#define LINKD_REC_MAX		(LINKD_REC_HDR + QKDN_KX_FRAME_MAX)

enum linkd_wire_err {
	LINKD_WIRE_OK,
	LINKD_WIRE_EMAGIC,	/* not "QKDN" */
	LINKD_WIRE_EVERSION,	/* unknown version */
	LINKD_WIRE_EIDLEN,	/* node ID length 0 or too long */
	LINKD_WIRE_EID,		/* node ID with a forbidden byte */
	LINKD_WIRE_ETOOBIG,	/* record longer than QKDN_KX_FRAME_MAX */
};

/* Write a hello for id into out; returns its length, or -1 if id is not a
 * valid node ID or outlen too small.
 */
int linkd_wire_hello_build(uint8_t *out, size_t outlen, const char *id);

/* Parse a hello at the start of in. Returns the bytes it takes (> 0) with
 * the NUL-terminated node ID in id, 0 if more input is needed, or
 * -enum linkd_wire_err.
 */
int linkd_wire_hello_parse(const uint8_t *in, size_t len,
			   char id[QKDN_ID_MAX]);

void linkd_wire_rec_hdr(uint8_t hdr[LINKD_REC_HDR], uint32_t len);

/* Parse a record at the start of in. Returns the bytes it takes (> 0)
 * with *frame and *frame_len set (frame_len 0: a keepalive), 0 if more
 * input is needed, or -enum linkd_wire_err.
 */
int linkd_wire_rec_parse(const uint8_t *in, size_t len,
			 const uint8_t **frame, size_t *frame_len);

const char *linkd_wire_strerror(int err);

#endif /* LINKD_WIRE_H */
