// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-linkd record codec: hellos and records whole, cut at every byte,
 * with a bad magic, version or length, and records at and over the limit.
 */
#include <string.h>

#include "wire.h"
#include "tap.h"

static void test_hello(void)
{
	uint8_t buf[QD_HELLO_MAX + 8];
	char id[QKDN_ID_MAX], long_id[QKDN_ID_MAX + 1];
	int n, r, i, partial_ok = 1;

	n = qd_wire_hello_build(QD_MAGIC_KX, buf, sizeof(buf), "node-a");
	tap_ok(n == 12 && !memcmp(buf, "QKDN\x01\x06node-a", 12),
	       "hello: built as magic, version 1, length, node ID");
	r = qd_wire_hello_parse(QD_MAGIC_KX, buf, n, id);
	tap_ok(r == n && !strcmp(id, "node-a"), "hello: parsed back");

	for (i = 0; i < n; i++)
		if (qd_wire_hello_parse(QD_MAGIC_KX, buf, i, id) != 0)
			partial_ok = 0;
	tap_ok(partial_ok, "hello: every prefix asks for more input");

	memcpy(buf + n, "\0\0\0\0", 4);
	r = qd_wire_hello_parse(QD_MAGIC_KX, buf, n + 4, id);
	tap_ok(r == n, "hello: followed by a record, takes only itself");

	memset(long_id, 'x', QKDN_ID_MAX);
	long_id[QKDN_ID_MAX] = '\0';
	tap_ok(qd_wire_hello_build(QD_MAGIC_KX, buf, sizeof(buf), long_id) < 0 &&
	       qd_wire_hello_build(QD_MAGIC_KX, buf, sizeof(buf), "") < 0 &&
	       qd_wire_hello_build(QD_MAGIC_KX, buf, sizeof(buf), "a b") < 0 &&
	       qd_wire_hello_build(QD_MAGIC_KX, buf, 8, "node-a") < 0,
	       "hello: no hello for a bad node ID or a short buffer");

	tap_ok(qd_wire_hello_parse(QD_MAGIC_KX, (const uint8_t *)"X", 1, id) ==
	       -QD_WIRE_EMAGIC,
	       "hello: bad magic seen at its first byte");
	tap_ok(qd_wire_hello_parse(QD_MAGIC_KX, (const uint8_t *)"QKDX\x01\x01" "a", 7, id) ==
	       -QD_WIRE_EMAGIC, "hello: bad magic");
	tap_ok(qd_wire_hello_parse(QD_MAGIC_KX, (const uint8_t *)"QKDN\x02", 5, id) ==
	       -QD_WIRE_EVERSION, "hello: version 2 refused");
	tap_ok(qd_wire_hello_parse(QD_MAGIC_KX, (const uint8_t *)"QKDN\x00\x01" "a", 7, id) ==
	       -QD_WIRE_EVERSION, "hello: version 0 refused");
	tap_ok(qd_wire_hello_parse(QD_MAGIC_KX, (const uint8_t *)"QKDN\x01\x00", 6, id) ==
	       -QD_WIRE_EIDLEN, "hello: empty node ID refused");
	tap_ok(qd_wire_hello_parse(QD_MAGIC_KX, (const uint8_t *)"QKDN\x01\x40", 6, id) ==
	       -QD_WIRE_EIDLEN &&
	       qd_wire_hello_parse(QD_MAGIC_KX, (const uint8_t *)"QKDN\x01\xff", 6, id) ==
	       -QD_WIRE_EIDLEN,
	       "hello: node ID length over %d refused before the bytes arrive",
	       QKDN_ID_MAX - 1);
	tap_ok(qd_wire_hello_parse(QD_MAGIC_KX, (const uint8_t *)"QKDN\x01\x03" "a\0b", 9, id) ==
	       -QD_WIRE_EID &&
	       qd_wire_hello_parse(QD_MAGIC_KX, (const uint8_t *)"QKDN\x01\x03" "a b", 9, id) ==
	       -QD_WIRE_EID &&
	       qd_wire_hello_parse(QD_MAGIC_KX, (const uint8_t *)"QKDN\x01\x02" "a\n", 8, id) ==
	       -QD_WIRE_EID,
	       "hello: NUL, space or control byte in the node ID refused");
	tap_ok(!strcmp(qd_wire_strerror(-QD_WIRE_EVERSION),
		       "unsupported protocol version"), "hello: error text");
}

static void test_record(void)
{
	static uint8_t buf[QD_REC_MAX + 16];
	const uint8_t *frame = NULL;
	size_t flen = 99;
	int r, partial_ok = 1;
	size_t i;

	qd_wire_rec_hdr(buf, 3);
	memcpy(buf + 4, "abc", 3);
	tap_ok(!memcmp(buf, "\0\0\0\3abc", 7), "record: big-endian length, bytes");
	r = qd_wire_rec_parse(buf, 7, &frame, &flen);
	tap_ok(r == 7 && frame == buf + 4 && flen == 3, "record: parsed back");

	for (i = 0; i < 7; i++)
		if (qd_wire_rec_parse(buf, i, &frame, &flen) != 0)
			partial_ok = 0;
	tap_ok(partial_ok, "record: every prefix asks for more input");

	qd_wire_rec_hdr(buf, 0);
	r = qd_wire_rec_parse(buf, 4, &frame, &flen);
	tap_ok(r == 4 && flen == 0, "record: length 0 is a keepalive");

	qd_wire_rec_hdr(buf, QKDN_KX_FRAME_MAX);
	memset(buf + 4, 0x5a, QKDN_KX_FRAME_MAX);
	r = qd_wire_rec_parse(buf, QD_REC_MAX - 1, &frame, &flen);
	tap_ok(r == 0, "record: %d bytes, one missing: more input",
	       QKDN_KX_FRAME_MAX);
	r = qd_wire_rec_parse(buf, QD_REC_MAX + 10, &frame, &flen);
	tap_ok(r == QD_REC_MAX && flen == QKDN_KX_FRAME_MAX,
	       "record: %d bytes accepted", QKDN_KX_FRAME_MAX);

	qd_wire_rec_hdr(buf, QKDN_KX_FRAME_MAX + 1);
	tap_ok(qd_wire_rec_parse(buf, 4, &frame, &flen) == -QD_WIRE_ETOOBIG,
	       "record: %d bytes refused from the header alone",
	       QKDN_KX_FRAME_MAX + 1);
	qd_wire_rec_hdr(buf, 0xffffffffu);
	tap_ok(qd_wire_rec_parse(buf, 4, &frame, &flen) == -QD_WIRE_ETOOBIG,
	       "record: length 0xffffffff refused");
	qd_wire_rec_hdr(buf, 0x80000000u);
	tap_ok(qd_wire_rec_parse(buf, 4, &frame, &flen) == -QD_WIRE_ETOOBIG,
	       "record: length 0x80000000 refused");
}

int main(void)
{
	printf("TAP version 13\n");
	test_hello();
	test_record();
	printf("1..%d\n", tap_n);
	return tap_done();
}
