/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Cx: the messages between QKDN controllers (distributed mode) and between
 * agents and the central controller, each one record of a channel
 * (common/chan.h, hello magic QD_MAGIC_CX).
 *
 * A message is u8 type, then its fields in order; integers are big-endian,
 * a string is u8 n and n bytes (no NUL). A node ID string has 1..63
 * printable non-space bytes; "str0" may also be empty.
 *
 *   1 LSA       str origin, u64 seq, u16 age (s), u8 n,
 *               n x (str peer, u8 flags (bit 0: up), u64 own bytes)
 *   2 CTRL      u8 msg, u32 ctrl-id, 16 bytes relay-id, str src, str dst,
 *               u32 relay-bytes, str0 peer, u32 errno
 *   3 ANSWER    u8 msg, u32 ctrl-id, u32 errno, str0 errmsg (text),
 *               u32 metric, u64 avail, u8 n, n x str node
 *   4 ROUTE     u32 generation, str dst, u32 metric, u64 avail, u8 n,
 *               n x str node (the agent's node first)
 *   5 ROUTES_END u32 generation, u16 count
 *
 * Types 6 and up start with a u8 version (CTRLD_CX_VERSION); a receiver
 * refuses a version it does not know.
 *
 *   6 SESSION   u8 version, u8 msg, u8 hops, u32 ctrl-id, u32 session-id,
 *               str src, str dst, str0 master, str0 slave, u32 errno,
 *               str0 errmsg (text): a kernel's I.2 message, or one
 *               controller's to another's
 *   7 COMMAND   u8 version, u32 seq, then the fields of ANSWER, then
 *               16 bytes relay-id, u32 session-id, str0 src, str0 master,
 *               str0 slave: a Ck message for the agent's kernel
 *   8 RESULT    u8 version, u32 seq, u8 msg, u32 errno, str0 errmsg
 *               (text): what the agent's kernel said to COMMAND seq
 *
 * Anything else, a field that runs past the end, bytes left over, a count
 * over its limit or a bad node ID makes the message malformed: the
 * receiver closes the channel.
 */
#ifndef CTRLD_CX_H
#define CTRLD_CX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/qkdn.h>

#include "lsdb.h"
#include "route.h"

#define CTRLD_CX_MAX	QKDN_KX_FRAME_MAX	/* bytes in one message */

enum ctrld_cx_type {
	CTRLD_CX_LSA = 1,
	CTRLD_CX_CTRL,
	CTRLD_CX_ANSWER,
	CTRLD_CX_ROUTE,
	CTRLD_CX_ROUTES_END,
	CTRLD_CX_SESSION,
	CTRLD_CX_COMMAND,
	CTRLD_CX_RESULT,
};

#define CTRLD_CX_VERSION	1	/* of types 6 and up */

enum ctrld_cx_err {
	CTRLD_CX_OK,
	CTRLD_CX_ETRUNC,	/* a field runs past the end */
	CTRLD_CX_ETYPE,		/* unknown message type */
	CTRLD_CX_EID,		/* bad node ID */
	CTRLD_CX_ECOUNT,	/* too many links or nodes */
	CTRLD_CX_ETRAIL,	/* bytes after the last field */
	CTRLD_CX_EVALUE,	/* a field out of its range */
	CTRLD_CX_ETOOBIG,	/* over CTRLD_CX_MAX bytes */
	CTRLD_CX_EVERSION,	/* unknown message version */
};

/* A Ck message: what a kernel asked (or reported). */
struct ctrld_req {
	uint32_t msg;			/* enum qkdn_msg */
	uint32_t ctrl_id;
	uint8_t relay_id[QKDN_RELAY_ID_LEN];
	char src[QKDN_ID_MAX];
	char dst[QKDN_ID_MAX];
	uint32_t relay_bytes;
	char peer[QKDN_ID_MAX];		/* the previous hop, or "" */
	uint32_t err;			/* KEY_RELAY_RESPONSE: 0 completed;
					 * SESSION_NOTIFICATION_RESPONSE: 0
					 * accepted
					 */
	/* I.2 sessions */
	uint32_t session_id;
	char master[QKDN_ID_MAX];	/* SAE IDs */
	char slave[QKDN_ID_MAX];
	char errmsg[QKDN_ERRMSG_MAX];	/* why a session was refused */
};

/* A Ck message from a controller to a kernel: the answer to a request
 * (ctrl_id names it), or a command of the controller's own (I.4b, I.2).
 */
struct ctrld_answer {
	uint32_t msg;			/* ctrld_cx_cmd_msg() */
	uint32_t ctrl_id;
	uint32_t err;			/* 0, or a positive errno */
	char errmsg[QKDN_ERRMSG_MAX];
	/* NEXT_HOP_RESPONSE: node[0] is the next hop (n 1); KEY_RELAY_REQUEST:
	 * the full route; KEY_RESERVATION_REQUEST: node[1] is the next hop.
	 */
	struct ctrld_path path;
	/* KEY_RELAY_REQUEST without ctrl_id, KEY_ALLOCATION_REQUEST */
	uint8_t relay_id[QKDN_RELAY_ID_LEN];
	/* SESSION_CREATION_NOTIFICATION, SESSION_CREATION_RESPONSE */
	uint32_t session_id;
	char src[QKDN_ID_MAX];		/* the master SAE's node */
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
};

struct ctrld_cx_msg {
	uint8_t type;
	union {
		struct ctrld_lsa lsa;
		struct ctrld_req req;
		struct ctrld_answer ans;
		struct {
			uint32_t gen;
			struct ctrld_route route;
		} route;
		struct {
			uint32_t gen;
			uint16_t count;
		} end;
		struct {
			uint8_t hops;	/* hops it may still travel */
			struct ctrld_req req;
		} session;
		struct {
			uint32_t seq;
			struct ctrld_answer cmd;
		} command;
		struct {
			uint32_t seq;
			uint32_t msg;
			uint32_t err;
			char errmsg[QKDN_ERRMSG_MAX];
		} result;
	};
};

/* Encode m into out (at least CTRLD_CX_MAX bytes). Returns the length, or
 * -enum ctrld_cx_err when m cannot be sent (bad ID, too many links).
 */
int ctrld_cx_encode(const struct ctrld_cx_msg *m, uint8_t *out, size_t outlen);
/* Decode one whole message. Returns 0 or -enum ctrld_cx_err. */
int ctrld_cx_decode(const uint8_t *in, size_t len, struct ctrld_cx_msg *m);

/* Whether msg is a message a controller sends a KM (COMMAND, RESULT), or
 * one of the I.2 messages SESSION carries.
 */
bool ctrld_cx_cmd_msg(uint32_t msg);
bool ctrld_cx_session_msg(uint32_t msg);

const char *ctrld_cx_strerror(int err);
const char *ctrld_cx_type_name(uint8_t type);

#endif /* CTRLD_CX_H */
