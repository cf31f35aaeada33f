// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libqkdn's attribute checks: every attribute type of the uapi is accepted
 * with the right length and refused otherwise; u64 padding; names.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libqkdn.h"
#include "tap.h"

static char buf[16384] __attribute__((aligned(8)));
static const struct nlattr *tb[QKDN_A_MAX + 1];

static struct nlmsghdr *msg(void)
{
	return qkdn_msg(NULL, buf, QKDN_CMD_EVENT, 0);
}

static int parse_one(uint16_t type, const void *data, size_t len)
{
	struct nlmsghdr *nlh = msg();

	mnl_attr_put(nlh, type, len, data);
	return qkdn_parse(nlh, tb);
}

int main(void)
{
	const struct nlattr *kb[QKDN_A_KEY_MAX + 1], *sb[QKDN_A_STATS_MAX + 1];
	char big[QKDN_KX_FRAME_MAX + 8];
	uint8_t id[QKDN_KEY_ID_LEN] = { 1 };
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	uint32_t u32 = 7;
	uint64_t u64 = 9;
	int ok;

	tap_plan(22);
	memset(big, 'a', sizeof(big));

	nlh = msg();
	mnl_attr_put_strz(nlh, QKDN_A_NODE_ID, "KM-A");
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 3);
	mnl_attr_put_u8(nlh, QKDN_A_LINK_UP, 1);
	qkdn_attr_put_u64(nlh, QKDN_A_RATE, 1000);
	mnl_attr_put_u32(nlh, 200, 1);	/* from a newer kernel */
	tap_ok(qkdn_parse(nlh, tb) == 0 && !strcmp(mnl_attr_get_str(tb[QKDN_A_NODE_ID]), "KM-A") &&
	       mnl_attr_get_u32(tb[QKDN_A_LINK_ID]) == 3 &&
	       mnl_attr_get_u8(tb[QKDN_A_LINK_UP]) == 1 &&
	       mnl_attr_get_u64(tb[QKDN_A_RATE]) == 1000 && !tb[QKDN_A_SAE_ID],
	       "valid message parses; unknown attribute ignored");
	tap_ok(((uintptr_t)mnl_attr_get_payload(tb[QKDN_A_RATE])) % 8 == 0,
	       "u64 payload aligned after QKDN_A_PAD");

	nlh = msg();
	qkdn_attr_put_u64(nlh, QKDN_A_RATE, 1);
	tap_ok(mnl_attr_get_type(mnl_nlmsg_get_payload_offset(nlh, GENL_HDRLEN)) ==
	       QKDN_A_RATE, "no padding when already aligned");
	nlh = msg();
	mnl_attr_put_strz(nlh, QKDN_A_DEVICE, "abcdef");	/* 12 bytes */
	qkdn_attr_put_u64(nlh, QKDN_A_RATE, 1);
	tap_ok(nlh->nlmsg_len == MNL_NLMSG_HDRLEN + GENL_HDRLEN + 12 + 4 + 12,
	       "one QKDN_A_PAD when misaligned");

	tap_ok(parse_one(QKDN_A_NODE_ID, "abc", 3) == -EINVAL,
	       "string without NUL rejected");
	tap_ok(parse_one(QKDN_A_SAE_ID, "", 0) == -EINVAL, "empty payload string rejected");
	tap_ok(parse_one(QKDN_A_SAE_ID, "a\0b", 4) == -EINVAL,
	       "string with embedded NUL rejected");
	big[QKDN_ID_MAX - 1] = '\0';
	ok = parse_one(QKDN_A_DEVICE, big, QKDN_ID_MAX) == 0;
	big[QKDN_ID_MAX - 1] = 'a';
	big[QKDN_ID_MAX] = '\0';
	tap_ok(ok && parse_one(QKDN_A_DEVICE, big, QKDN_ID_MAX + 1) == -EINVAL,
	       "string of QKDN_ID_MAX accepted, one more rejected");
	big[QKDN_ID_MAX] = 'a';

	tap_ok(parse_one(QKDN_A_LINK_ID, &u64, 8) == -EINVAL &&
	       parse_one(QKDN_A_LINK_ID, &u32, 2) == -EINVAL &&
	       parse_one(QKDN_A_LINK_ID, &u32, 4) == 0, "u32 length checked");
	tap_ok(parse_one(QKDN_A_POOL_OWN_BYTES, &u32, 4) == -EINVAL &&
	       parse_one(QKDN_A_POOL_OWN_BYTES, &u64, 8) == 0, "u64 length checked");
	tap_ok(parse_one(QKDN_A_DEVICE_RUNNING, &u32, 4) == -EINVAL &&
	       parse_one(QKDN_A_DEVICE_RUNNING, &u32, 1) == 0, "u8 length checked");
	tap_ok(parse_one(QKDN_A_KX_FRAME, big, QKDN_KX_FRAME_MAX) == 0 &&
	       parse_one(QKDN_A_KX_FRAME, big, QKDN_KX_FRAME_MAX + 1) == -EINVAL &&
	       parse_one(QKDN_A_KX_FRAME, big, 0) == -EINVAL,
	       "Kx frame length 1..QKDN_KX_FRAME_MAX");
	tap_ok(parse_one(QKDN_A_STATS, &u32, 2) == -EINVAL, "truncated nest rejected");

	nlh = msg();
	nest = mnl_attr_nest_start(nlh, QKDN_A_KEY);
	mnl_attr_put(nlh, QKDN_A_KEY_ID, sizeof(id), id);
	mnl_attr_put(nlh, QKDN_A_KEY_DATA, 32, big);
	mnl_attr_nest_end(nlh, nest);
	tap_ok(qkdn_parse(nlh, tb) == 0 && qkdn_parse_key(tb[QKDN_A_KEY], kb) == 0 &&
	       kb[QKDN_A_KEY_ID] && mnl_attr_get_payload_len(kb[QKDN_A_KEY_DATA]) == 32,
	       "key nest parses");

	nlh = msg();
	nest = mnl_attr_nest_start(nlh, QKDN_A_KEY);
	mnl_attr_put(nlh, QKDN_A_KEY_ID, sizeof(id) - 1, id);
	mnl_attr_nest_end(nlh, nest);
	tap_ok(qkdn_parse(nlh, tb) == 0 && qkdn_parse_key(tb[QKDN_A_KEY], kb) == -EINVAL,
	       "key ID of 15 bytes rejected");

	nlh = msg();
	nest = mnl_attr_nest_start(nlh, QKDN_A_KEY);
	mnl_attr_put(nlh, QKDN_A_KEY_DATA, QKDN_KEY_SIZE_MAX / 8 + 1, big);
	mnl_attr_nest_end(nlh, nest);
	tap_ok(qkdn_parse(nlh, tb) == 0 && qkdn_parse_key(tb[QKDN_A_KEY], kb) == -EINVAL,
	       "key data above QKDN_KEY_SIZE_MAX rejected");

	nlh = msg();
	nest = mnl_attr_nest_start(nlh, QKDN_A_STATS);
	mnl_attr_put(nlh, QKDN_A_STATS_PAD, 0, NULL);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_BLOCKS_IN, 5);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_FRAMES_BAD, 6);
	mnl_attr_nest_end(nlh, nest);
	tap_ok(qkdn_parse(nlh, tb) == 0 && qkdn_parse_stats(tb[QKDN_A_STATS], sb) == 0 &&
	       mnl_attr_get_u64(sb[QKDN_A_STATS_BLOCKS_IN]) == 5 &&
	       mnl_attr_get_u64(sb[QKDN_A_STATS_FRAMES_BAD]) == 6 &&
	       !sb[QKDN_A_STATS_KEYS_RESERVED], "stats nest parses");

	nlh = msg();
	nest = mnl_attr_nest_start(nlh, QKDN_A_STATS);
	mnl_attr_put_u32(nlh, QKDN_A_STATS_BLOCKS_IN, 5);
	mnl_attr_nest_end(nlh, nest);
	tap_ok(qkdn_parse(nlh, tb) == 0 && qkdn_parse_stats(tb[QKDN_A_STATS], sb) == -EINVAL,
	       "stats counter of 4 bytes rejected");

	nlh = msg();
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 2;
	tap_ok(qkdn_parse(nlh, tb) == -EINVAL, "message shorter than the genl header");

	tap_ok(!strcmp(qkdn_cmd_name(QKDN_CMD_KEY_GET), "key-get") &&
	       !strcmp(qkdn_cmd_name(QKDN_CMD_KEY_GET_BY_ID), "key-get-by-id") &&
	       !qkdn_cmd_name(QKDN_CMD_UNSPEC) && !qkdn_cmd_name(QKDN_CMD_MAX + 1),
	       "command names");
	tap_ok(!strcmp(qkdn_event_name(QKDN_EVENT_KEYS_RESERVED), "keys-reserved") &&
	       !strcmp(qkdn_event_name(QKDN_EVENT_BLOCK_ABORT), "block-abort") &&
	       !qkdn_event_name(0) && !qkdn_event_name(QKDN_EVENT_MAX + 1),
	       "event names");
	ok = 1;
	for (u32 = 1; u32 <= QKDN_CMD_MAX; u32++)
		ok &= qkdn_cmd_name((uint8_t)u32) != NULL;
	for (u32 = 1; u32 <= QKDN_EVENT_MAX; u32++)
		ok &= qkdn_event_name(u32) != NULL;
	for (u32 = QKDN_A_PAD + 1; u32 <= QKDN_A_MAX; u32++)
		ok &= qkdn_attr_name((uint16_t)u32) != NULL;
	tap_ok(ok, "every command, event and attribute has a name");
	return tap_done();
}
