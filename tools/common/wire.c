// SPDX-License-Identifier: GPL-2.0
/*
 * Hello and record codec of the node-to-node channels. Input is never
 * trusted: every length is checked against a fixed bound before it is
 * used, and nothing is allocated here.
 */
#include <string.h>

#include "conf.h"
#include "wire.h"

int qd_wire_hello_build(const char *magic, uint8_t *out, size_t outlen,
			const char *id)
{
	size_t n = strnlen(id, QKDN_ID_MAX);

	if (!qd_node_id_valid(id, n) || outlen < QD_HELLO_HDR + n)
		return -1;
	memcpy(out, magic, 4);
	out[4] = QD_WIRE_VERSION;
	out[5] = (uint8_t)n;
	memcpy(out + QD_HELLO_HDR, id, n);
	return (int)(QD_HELLO_HDR + n);
}

int qd_wire_hello_parse(const char *magic, const uint8_t *in, size_t len,
			char id[QKDN_ID_MAX])
{
	size_t n;

	/* Reject a wrong magic as soon as its first byte is seen. */
	if (memcmp(in, magic, len < 4 ? len : 4))
		return -QD_WIRE_EMAGIC;
	if (len < 5)
		return 0;
	if (in[4] != QD_WIRE_VERSION)
		return -QD_WIRE_EVERSION;
	if (len < QD_HELLO_HDR)
		return 0;
	n = in[5];
	if (n == 0 || n >= QKDN_ID_MAX)
		return -QD_WIRE_EIDLEN;
	if (len < QD_HELLO_HDR + n)
		return 0;
	if (!qd_node_id_valid((const char *)in + QD_HELLO_HDR, n))
		return -QD_WIRE_EID;
	memcpy(id, in + QD_HELLO_HDR, n);
	id[n] = '\0';
	return (int)(QD_HELLO_HDR + n);
}

void qd_wire_rec_hdr(uint8_t hdr[QD_REC_HDR], uint32_t len)
{
	hdr[0] = len >> 24;
	hdr[1] = len >> 16;
	hdr[2] = len >> 8;
	hdr[3] = len;
}

int qd_wire_rec_parse(const uint8_t *in, size_t len,
			 const uint8_t **frame, size_t *frame_len)
{
	uint32_t n;

	if (len < QD_REC_HDR)
		return 0;
	n = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 |
	    (uint32_t)in[2] << 8 | in[3];
	if (n > QKDN_KX_FRAME_MAX)
		return -QD_WIRE_ETOOBIG;
	if (len < QD_REC_HDR + (size_t)n)
		return 0;
	*frame = in + QD_REC_HDR;
	*frame_len = n;
	return (int)(QD_REC_HDR + n);
}

const char *qd_wire_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case QD_WIRE_OK:
		return "no error";
	case QD_WIRE_EMAGIC:
		return "bad magic";
	case QD_WIRE_EVERSION:
		return "unsupported protocol version";
	case QD_WIRE_EIDLEN:
		return "bad node ID length";
	case QD_WIRE_EID:
		return "bad node ID";
	case QD_WIRE_ETOOBIG:
		return "record too long";
	}
	return "unknown error";
}
