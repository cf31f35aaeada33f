// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl's output: replies and events built by hand, printed as text and
 * as JSON, compared with the documented shapes.
 */
#include <stdlib.h>
#include <string.h>

#include "../qkdnctl/qkdnctl.h"
#include "tap.h"

static char buf[16384] __attribute__((aligned(8)));

static struct nlmsghdr *msg(uint8_t cmd)
{
	return qkdn_msg(NULL, buf, cmd, 0);
}

static char *out_buf;
static size_t out_len;
static struct qkdnctl_json jw;
static struct qkdnctl_out out;

static void start(enum qkdnctl_obj obj, bool json, enum qkdnctl_fmt fmt)
{
	FILE *f = open_memstream(&out_buf, &out_len);

	memset(&out, 0, sizeof(out));
	out.f = f;
	out.obj = obj;
	out.fmt = fmt;
	if (json) {
		qkdnctl_json_init(&jw, f, false);
		out.jw = &jw;
	}
}

/* Close the stream and compare; prints what came out on mismatch. */
static int got(const char *want)
{
	int ok;

	fclose(out.f);
	ok = !strcmp(out_buf, want);
	if (!ok)
		printf("# got:  %s# want: %s", out_buf, want);
	free(out_buf);
	out_buf = NULL;
	return ok;
}

static void put_stats(struct nlmsghdr *nlh)
{
	struct nlattr *n = mnl_attr_nest_start(nlh, QKDN_A_STATS);

	mnl_attr_put_u64(nlh, QKDN_A_STATS_BLOCKS_IN, 10);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_BLOCKS_USABLE, 8);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_KEYS_SUPPLIED, 2);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_FRAMES_TX, 4);
	mnl_attr_nest_end(nlh, n);
}

static struct nlmsghdr *link_msg(void)
{
	struct nlmsghdr *nlh = msg(QKDN_CMD_LINK_GET);

	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 1);
	mnl_attr_put_strz(nlh, QKDN_A_PEER_NODE_ID, "B");
	mnl_attr_put_strz(nlh, QKDN_A_DEVICE, "qkdsim0");
	mnl_attr_put_u8(nlh, QKDN_A_LINK_UP, 1);
	mnl_attr_put_u8(nlh, QKDN_A_DEVICE_RUNNING, 0);
	qkdn_attr_put_u64(nlh, QKDN_A_RATE, 1000000);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_CAPACITY, 1048576);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_LOW, 65536);
	put_stats(nlh);
	return nlh;
}

static void put_key(struct nlmsghdr *nlh, uint8_t last, const char *data)
{
	uint8_t id[QKDN_KEY_ID_LEN] = { 0x55, 0x0e, 0x84, 0x00 };
	struct nlattr *n = mnl_attr_nest_start(nlh, QKDN_A_KEY);

	id[15] = last;
	mnl_attr_put(nlh, QKDN_A_KEY_ID, sizeof(id), id);
	if (data)
		mnl_attr_put(nlh, QKDN_A_KEY_DATA, strlen(data), data);
	mnl_attr_nest_end(nlh, n);
}

static void test_node_link(void)
{
	struct nlmsghdr *nlh = msg(QKDN_CMD_NODE_GET);

	mnl_attr_put_strz(nlh, QKDN_A_NODE_ID, "KM-A");
	put_stats(nlh);
	start(QKDNCTL_OBJ_NODE, false, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("node KM-A\n\tblocks in 10 usable 8\n\tkeys supplied 2\n"
		   "\tframes tx 4\n"), "node: text");
	start(QKDNCTL_OBJ_NODE, true, 0);
	qkdnctl_print_msg(nlh, &out);
	qkdnctl_print_end(&out);
	tap_ok(got("{\"node_id\":\"KM-A\",\"stats\":{\"blocks_in\":10,"
		   "\"blocks_usable\":8,\"keys_supplied\":2,\"frames_tx\":4}}\n"),
	       "node: JSON object");

	nlh = link_msg();
	start(QKDNCTL_OBJ_LINK, false, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("link 1 peer B device qkdsim0 state up running off rate 1000000\n"
		   "\tpool capacity 1048576 low 65536\n"
		   "\tblocks in 10 usable 8\n\tkeys supplied 2\n\tframes tx 4\n"),
	       "link: text paragraph");
	start(QKDNCTL_OBJ_LINK, true, 0);
	qkdnctl_print_msg(nlh, &out);
	qkdnctl_print_msg(nlh, &out);
	qkdnctl_print_end(&out);
	tap_ok(got("[{\"link_id\":1,\"peer_node_id\":\"B\",\"device\":\"qkdsim0\","
		   "\"up\":true,\"running\":false,\"rate\":1000000,"
		   "\"capacity\":1048576,\"low\":65536,\"stats\":{\"blocks_in\":10,"
		   "\"blocks_usable\":8,\"keys_supplied\":2,\"frames_tx\":4}},"
		   "{\"link_id\":1,\"peer_node_id\":\"B\",\"device\":\"qkdsim0\","
		   "\"up\":true,\"running\":false,\"rate\":1000000,"
		   "\"capacity\":1048576,\"low\":65536,\"stats\":{\"blocks_in\":10,"
		   "\"blocks_usable\":8,\"keys_supplied\":2,\"frames_tx\":4}}]\n"),
	       "link: JSON array of two");
	start(QKDNCTL_OBJ_LINK, true, 0);
	qkdnctl_print_begin(&out);
	qkdnctl_print_end(&out);
	tap_ok(got("[]\n"), "link: empty dump is []");

	nlh = msg(QKDN_CMD_LINK_GET);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 2);
	mnl_attr_put_strz(nlh, QKDN_A_PEER_NODE_ID, "C");
	start(QKDNCTL_OBJ_LINK, false, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("link 2 peer C\n"), "link: only what is present");
}

static void test_sae_pool(void)
{
	struct nlmsghdr *nlh = msg(QKDN_CMD_SAE_GET);

	mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, "app1");
	mnl_attr_put_u32(nlh, QKDN_A_SAE_UID, 1000);
	start(QKDNCTL_OBJ_SAE, false, 0);
	qkdnctl_print_msg(nlh, &out);
	nlh = msg(QKDN_CMD_SAE_GET);
	mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, "far");
	mnl_attr_put_strz(nlh, QKDN_A_SAE_NODE_ID, "KM-C");
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("sae app1 uid 1000\nsae far node KM-C\n"), "sae: text lines");
	start(QKDNCTL_OBJ_SAE, true, 0);
	qkdnctl_print_msg(nlh, &out);
	qkdnctl_print_end(&out);
	tap_ok(got("[{\"sae_id\":\"far\",\"node_id\":\"KM-C\"}]\n"), "sae: JSON");

	nlh = msg(QKDN_CMD_POOL_GET);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 1);
	mnl_attr_put_strz(nlh, QKDN_A_NODE_ID, "A");
	mnl_attr_put_strz(nlh, QKDN_A_PEER_NODE_ID, "B");
	mnl_attr_put_u32(nlh, QKDN_A_POOL_KEY_SIZE, 256);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_STORED_KEY_COUNT, 12);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_MAX_KEY_COUNT, 4096);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_MAX_KEY_PER_REQUEST, 128);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_MAX_KEY_SIZE, 8192);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_MIN_KEY_SIZE, 64);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_RESERVED_KEYS, 0);
	qkdn_attr_put_u64(nlh, QKDN_A_POOL_OWN_BYTES, 384);
	qkdn_attr_put_u64(nlh, QKDN_A_POOL_PEER_BYTES, 320);
	qkdn_attr_put_u64(nlh, QKDN_A_POOL_PENDING_BYTES, 0);
	mnl_attr_put_u32(nlh, QKDN_A_POOL_CAPACITY, 1048576);
	start(QKDNCTL_OBJ_POOL, false, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("pool link 1 source A target B\n"
		   "\tkey_size 256 stored_key_count 12 max_key_count 4096 max_key_per_request 128\n"
		   "\tmax_key_size 8192 min_key_size 64 reserved_keys 0\n"
		   "\town_bytes 384 peer_bytes 320 pending_bytes 0 capacity 1048576\n"),
	       "pool: text");
	start(QKDNCTL_OBJ_POOL, true, 0);
	qkdnctl_print_msg(nlh, &out);
	qkdnctl_print_end(&out);
	tap_ok(got("[{\"link_id\":1,\"source_KME_ID\":\"A\",\"target_KME_ID\":\"B\","
		   "\"key_size\":256,\"stored_key_count\":12,\"max_key_count\":4096,"
		   "\"max_key_per_request\":128,\"max_key_size\":8192,"
		   "\"min_key_size\":64,\"reserved_keys\":0,\"own_bytes\":384,"
		   "\"peer_bytes\":320,\"pending_bytes\":0,\"capacity\":1048576}]\n"),
	       "pool: JSON with ETSI GS QKD 014 names");
}

static void test_keys(void)
{
	struct nlmsghdr *nlh = msg(QKDN_CMD_KEY_GET);

	put_key(nlh, 1, "foobar");
	put_key(nlh, 2, "fo");
	start(QKDNCTL_OBJ_KEY, false, QKDNCTL_FMT_NONE);
	tap_ok(qkdnctl_print_msg(nlh, &out) == MNL_CB_OK &&
	       got("key_ID 550e8400-0000-0000-0000-000000000001\n"
		   "key_ID 550e8400-0000-0000-0000-000000000002\n"),
	       "keys: IDs only by default");
	start(QKDNCTL_OBJ_KEY, false, QKDNCTL_FMT_HEX);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("key_ID 550e8400-0000-0000-0000-000000000001 666f6f626172\n"
		   "key_ID 550e8400-0000-0000-0000-000000000002 666f\n"),
	       "keys: hex in the second column");
	start(QKDNCTL_OBJ_KEY, true, QKDNCTL_FMT_BASE64);
	qkdnctl_print_msg(nlh, &out);
	qkdnctl_print_end(&out);
	tap_ok(got("{\"keys\":[{\"key_ID\":\"550e8400-0000-0000-0000-000000000001\","
		   "\"key\":\"Zm9vYmFy\"},{\"key_ID\":"
		   "\"550e8400-0000-0000-0000-000000000002\",\"key\":\"Zm8=\"}]}\n"),
	       "keys: JSON with base64");
	start(QKDNCTL_OBJ_KEY, true, QKDNCTL_FMT_NONE);
	qkdnctl_print_msg(nlh, &out);
	qkdnctl_print_end(&out);
	tap_ok(got("{\"keys\":[{\"key_ID\":\"550e8400-0000-0000-0000-000000000001\"},"
		   "{\"key_ID\":\"550e8400-0000-0000-0000-000000000002\"}]}\n"),
	       "keys: JSON without key bytes by default");

	nlh = msg(QKDN_CMD_KEY_GET);
	put_key(nlh, 3, NULL);
	start(QKDNCTL_OBJ_KEY, false, QKDNCTL_FMT_HEX);
	tap_ok(qkdnctl_print_msg(nlh, &out) == MNL_CB_ERROR && got(""),
	       "keys: asked for bytes, reply without KEY_DATA is an error");
}

static void test_events(void)
{
	struct nlmsghdr *nlh = msg(QKDN_CMD_EVENT);

	mnl_attr_put_u32(nlh, QKDN_A_EVENT, QKDN_EVENT_KEYS_RESERVED);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 1);
	mnl_attr_put_strz(nlh, QKDN_A_MASTER_SAE_ID, "a1");
	mnl_attr_put_strz(nlh, QKDN_A_SLAVE_SAE_ID, "b1");
	mnl_attr_put_u32(nlh, QKDN_A_KEY_COUNT, 2);
	put_key(nlh, 1, NULL);
	put_key(nlh, 2, "secret");	/* never printed, even if present */
	start(QKDNCTL_OBJ_MONITOR, false, 0);
	qkdnctl_print_event(nlh, &out);
	tap_ok(got("keys-reserved link 1 master a1 slave b1 keys 2 "
		   "550e8400-0000-0000-0000-000000000001 "
		   "550e8400-0000-0000-0000-000000000002\n"), "event: text line");
	start(QKDNCTL_OBJ_MONITOR, true, 0);
	qkdnctl_print_event(nlh, &out);
	qkdnctl_print_event(nlh, &out);
	tap_ok(got("{\"event\":\"keys-reserved\",\"link_id\":1,\"master_SAE_ID\":\"a1\","
		   "\"slave_SAE_ID\":\"b1\",\"key_count\":2,\"key_IDs\":["
		   "\"550e8400-0000-0000-0000-000000000001\","
		   "\"550e8400-0000-0000-0000-000000000002\"]}\n"
		   "{\"event\":\"keys-reserved\",\"link_id\":1,\"master_SAE_ID\":\"a1\","
		   "\"slave_SAE_ID\":\"b1\",\"key_count\":2,\"key_IDs\":["
		   "\"550e8400-0000-0000-0000-000000000001\","
		   "\"550e8400-0000-0000-0000-000000000002\"]}\n"),
	       "event: one JSON object per line");

	nlh = msg(QKDN_CMD_EVENT);
	mnl_attr_put_u32(nlh, QKDN_A_EVENT, QKDN_EVENT_LINK_DOWN);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 4);
	mnl_attr_put_strz(nlh, QKDN_A_PEER_NODE_ID, "B");
	start(QKDNCTL_OBJ_MONITOR, false, 0);
	qkdnctl_print_event(nlh, &out);
	nlh = msg(QKDN_CMD_EVENT);
	mnl_attr_put_u32(nlh, QKDN_A_EVENT, 99);
	qkdnctl_print_event(nlh, &out);
	nlh = msg(QKDN_CMD_LINK_NEW);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 5);
	qkdnctl_print_event(nlh, &out);
	tap_ok(got("link-down link 4 peer B\nevent-99\nlink-new link 5\n"),
	       "event: unknown event number, other notifications");
}

int main(void)
{
	tap_plan(6 + 4 + 5 + 3);
	test_node_link();
	test_sae_pool();
	test_keys();
	test_events();
	return tap_done();
}
