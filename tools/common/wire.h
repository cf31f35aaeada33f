/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The wire format inside the TLS channels between nodes (Kx for qkdn-linkd,
 * Cx for qkdn-controllerd); the magic tells the two protocols apart.
 *
 * hello:  magic (4 bytes) | u8 version (1) | u8 n | n bytes of node ID
 * record: u32 big-endian length (0..QKDN_KX_FRAME_MAX) | frame bytes;
 *         length 0 is a keepalive.
 */
#ifndef QD_WIRE_H
#define QD_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/qkdn.h>

#define QD_MAGIC_KX		"QKDN"	/* qkdn-linkd: Kx frames */
#define QD_MAGIC_CX		"QKDC"	/* qkdn-controllerd: Cx messages */
#define QD_WIRE_VERSION	1
#define QD_HELLO_HDR		6
#define QD_HELLO_MAX		(QD_HELLO_HDR + QKDN_ID_MAX - 1)
#define QD_REC_HDR		4
#define QD_REC_MAX		(QD_REC_HDR + QKDN_KX_FRAME_MAX)

enum qd_wire_err {
	QD_WIRE_OK,
	QD_WIRE_EMAGIC,	/* not the expected magic */
	QD_WIRE_EVERSION,	/* unknown version */
	QD_WIRE_EIDLEN,	/* node ID length 0 or too long */
	QD_WIRE_EID,		/* node ID with a forbidden byte */
	QD_WIRE_ETOOBIG,	/* record longer than QKDN_KX_FRAME_MAX */
};

/* Write a hello with magic (4 characters) for id into out; returns its
 * length, or -1 if id is not a valid node ID or outlen too small.
 */
int qd_wire_hello_build(const char *magic, uint8_t *out, size_t outlen,
			const char *id);

/* Parse a hello with magic at the start of in. Returns the bytes it takes (> 0) with
 * the NUL-terminated node ID in id, 0 if more input is needed, or
 * -enum qd_wire_err.
 */
int qd_wire_hello_parse(const char *magic, const uint8_t *in, size_t len,
			char id[QKDN_ID_MAX]);

void qd_wire_rec_hdr(uint8_t hdr[QD_REC_HDR], uint32_t len);

/* Parse a record at the start of in. Returns the bytes it takes (> 0)
 * with *frame and *frame_len set (frame_len 0: a keepalive), 0 if more
 * input is needed, or -enum qd_wire_err.
 */
int qd_wire_rec_parse(const uint8_t *in, size_t len,
			 const uint8_t **frame, size_t *frame_len);

const char *qd_wire_strerror(int err);

#endif /* QD_WIRE_H */
