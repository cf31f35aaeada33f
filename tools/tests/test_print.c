// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl's output: replies and events built by hand, printed as text and
 * as JSON, compared with the documented shapes.
 */
#include <errno.h>
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

static void test_relay_stats(void)
{
	struct nlmsghdr *nlh = msg(QKDN_CMD_NODE_GET);
	struct nlattr *n;

	mnl_attr_put_strz(nlh, QKDN_A_NODE_ID, "KM-A");
	mnl_attr_put_u8(nlh, QKDN_A_CTRL_MODE, QKDN_CTRL_CENTRALIZED);
	n = mnl_attr_nest_start(nlh, QKDN_A_STATS);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_PEER_RESETS, 1);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAY_TX, 3);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAY_RX, 2);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAY_KEY_BYTES, 96);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAY_PAD_BYTES, 96);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAY_MAC_BYTES, 48);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAY_MAC_FAIL, 0);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAYS_STARTED, 2);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAYS_DONE, 1);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAYS_FAILED, 1);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAYS_FORWARDED, 4);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAYS_ENDED, 5);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAYS_ABORTED, 0);
	mnl_attr_nest_end(nlh, n);

	start(QKDNCTL_OBJ_NODE, false, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("node KM-A ctrl-mode centralized\n\tpeer resets 1\n"
		   "\trelay tx 3 rx 2 key_bytes 96 pad_bytes 96 mac_bytes 48 mac_fail 0\n"
		   "\trelays started 2 done 1 failed 1 forwarded 4 ended 5 aborted 0\n"),
	       "node: ctrl-mode and relay counters, text");
	start(QKDNCTL_OBJ_NODE, true, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("{\"node_id\":\"KM-A\",\"ctrl_mode\":\"centralized\",\"stats\":{"
		   "\"peer_resets\":1,\"relay_tx\":3,\"relay_rx\":2,"
		   "\"relay_key_bytes\":96,\"relay_pad_bytes\":96,"
		   "\"relay_mac_bytes\":48,\"relay_mac_fail\":0,"
		   "\"relays_started\":2,\"relays_done\":1,\"relays_failed\":1,"
		   "\"relays_forwarded\":4,\"relays_ended\":5,\"relays_aborted\":0}}\n"),
	       "node: ctrl-mode and relay counters, JSON");

	nlh = msg(QKDN_CMD_NODE_GET);
	mnl_attr_put_strz(nlh, QKDN_A_NODE_ID, "KM-B");
	mnl_attr_put_u8(nlh, QKDN_A_CTRL_MODE, 7);
	start(QKDNCTL_OBJ_NODE, false, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("node KM-B ctrl-mode mode-7\n"), "node: unknown ctrl-mode");

	nlh = msg(QKDN_CMD_LINK_GET);
	mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, 2);
	mnl_attr_put_strz(nlh, QKDN_A_PEER_NODE_ID, "C");
	n = mnl_attr_nest_start(nlh, QKDN_A_STATS);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_FRAMES_TX, 4);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAY_TX, 1);
	mnl_attr_put_u64(nlh, QKDN_A_STATS_RELAY_PAD_BYTES, 32);
	mnl_attr_nest_end(nlh, n);
	start(QKDNCTL_OBJ_LINK, false, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("link 2 peer C\n\tframes tx 4\n\trelay tx 1 pad_bytes 32\n"),
	       "link: relay counters, text");
}

static struct nlmsghdr *route_msg(const char *dst, const char *const *path,
				  unsigned int n)
{
	struct nlmsghdr *nlh = msg(QKDN_CMD_ROUTE_GET);
	struct nlattr *nest;
	unsigned int i;

	mnl_attr_put_strz(nlh, QKDN_A_DST_NODE_ID, dst);
	if (n > 1)
		mnl_attr_put_strz(nlh, QKDN_A_NEXT_HOP, path[1]);
	if (n) {
		nest = mnl_attr_nest_start(nlh, QKDN_A_ROUTE);
		for (i = 0; i < n; i++)
			mnl_attr_put_strz(nlh, QKDN_A_ROUTE_NODE, path[i]);
		mnl_attr_nest_end(nlh, nest);
	}
	mnl_attr_put_u32(nlh, QKDN_A_ROUTE_METRIC, n ? n - 1 : 0);
	qkdn_attr_put_u64(nlh, QKDN_A_ROUTE_AVAIL, 65536);
	return nlh;
}

static void test_routes(void)
{
	static const char *const p4[] = { "kme-1", "kme-2", "kme-3", "kme-4" };
	static const char *const p2[] = { "kme-1", "kme-2" };
	struct nlmsghdr *nlh;

	start(QKDNCTL_OBJ_ROUTE, false, 0);
	tap_ok(qkdnctl_print_msg(route_msg("kme-4", p4, 4), &out) == MNL_CB_OK &&
	       qkdnctl_print_msg(route_msg("kme-2", p2, 2), &out) == MNL_CB_OK &&
	       got("route kme-4 via kme-2 path kme-1 -> kme-2 -> kme-3 -> kme-4 "
		   "metric 3 avail_bytes 65536\n"
		   "route kme-2 via kme-2 path kme-1 -> kme-2 metric 1 avail_bytes 65536\n"),
	       "route: text, one line per destination");
	start(QKDNCTL_OBJ_ROUTE, true, 0);
	qkdnctl_print_msg(route_msg("kme-4", p4, 4), &out);
	qkdnctl_print_msg(route_msg("kme-2", p2, 2), &out);
	qkdnctl_print_end(&out);
	tap_ok(got("[{\"dst_node_id\":\"kme-4\",\"next_hop\":\"kme-2\","
		   "\"path\":[\"kme-1\",\"kme-2\",\"kme-3\",\"kme-4\"],"
		   "\"metric\":3,\"avail_bytes\":65536},"
		   "{\"dst_node_id\":\"kme-2\",\"next_hop\":\"kme-2\","
		   "\"path\":[\"kme-1\",\"kme-2\"],\"metric\":1,"
		   "\"avail_bytes\":65536}]\n"), "route: JSON array");
	start(QKDNCTL_OBJ_ROUTE, false, 0);
	qkdnctl_print_msg(route_msg("kme-9", NULL, 0), &out);
	tap_ok(got("route kme-9 metric 0 avail_bytes 65536\n"),
	       "route: without next hop and path");
	start(QKDNCTL_OBJ_ROUTE, true, 0);
	qkdnctl_print_begin(&out);
	qkdnctl_print_end(&out);
	tap_ok(got("[]\n"), "route: no route, JSON []");

	nlh = msg(QKDN_CMD_ROUTE_GET);
	mnl_attr_put_strz(nlh, QKDN_A_DST_NODE_ID, "kme-4");
	{
		struct nlattr *nest = mnl_attr_nest_start(nlh, QKDN_A_ROUTE);
		unsigned int i;

		for (i = 0; i <= QKDN_ROUTE_HOPS_MAX; i++)
			mnl_attr_put_strz(nlh, QKDN_A_ROUTE_NODE, "kme-x");
		mnl_attr_nest_end(nlh, nest);
	}
	start(QKDNCTL_OBJ_ROUTE, false, 0);
	tap_ok(qkdnctl_print_msg(nlh, &out) == MNL_CB_ERROR && got(""),
	       "route: a path longer than QKDN_ROUTE_HOPS_MAX is an error");
}

static struct nlmsghdr *message_msg(uint32_t m, uint8_t dir, const char *peer)
{
	static const uint8_t rid[QKDN_RELAY_ID_LEN] = {
		0x1b, 0x4e, 0x28, 0xba, 0x2f, 0xa1, 0x41, 0xd2,
		0x88, 0x3f, 0x0e, 0x6a, 0xbc, 0x12, 0x34, 0x56,
	};
	struct nlmsghdr *nlh = msg(QKDN_CMD_EVENT);

	mnl_attr_put_u32(nlh, QKDN_A_EVENT, QKDN_EVENT_MESSAGE);
	mnl_attr_put_u32(nlh, QKDN_A_MSG, m);
	mnl_attr_put_u8(nlh, QKDN_A_MSG_DIR, dir);
	mnl_attr_put_strz(nlh, QKDN_A_MSG_PEER, peer);
	mnl_attr_put(nlh, QKDN_A_RELAY_ID, sizeof(rid), rid);
	mnl_attr_put_strz(nlh, QKDN_A_SRC_NODE_ID, "kme-1");
	mnl_attr_put_strz(nlh, QKDN_A_DST_NODE_ID, "kme-4");
	return nlh;
}

static void test_messages(void)
{
	struct nlmsghdr *nlh;

	start(QKDNCTL_OBJ_MONITOR, false, 0);
	qkdnctl_print_event(message_msg(QKDN_MSG_NEXT_HOP_REQUEST,
					QKDN_MSG_DIR_SENT, "controller"), &out);
	nlh = message_msg(QKDN_MSG_KEY_RELAY_COMPLETION, QKDN_MSG_DIR_RECEIVED,
			  "km:kme-4");
	mnl_attr_put_u32(nlh, QKDN_A_KEY_COUNT, 1);
	mnl_attr_put_u32(nlh, QKDN_A_ERRNO, 0);
	qkdnctl_print_event(nlh, &out);
	tap_ok(got("message sent \"key relay next hop request\" to controller "
		   "relay 1b4e28ba-2fa1-41d2-883f-0e6abc123456 src kme-1 dst kme-4\n"
		   "message received \"key relay completion notification\" from km:kme-4 "
		   "relay 1b4e28ba-2fa1-41d2-883f-0e6abc123456 src kme-1 dst kme-4 keys 1\n"),
	       "message: text by Q.4160 name, errno 0 not shown");

	nlh = message_msg(QKDN_MSG_NEXT_HOP_RESPONSE, QKDN_MSG_DIR_RECEIVED,
			  "controller");
	mnl_attr_put_strz(nlh, QKDN_A_NEXT_HOP, "kme-2");
	mnl_attr_put_u32(nlh, QKDN_A_ERRNO, 113);
	mnl_attr_put_strz(nlh, QKDN_A_ERRMSG, "no \"route\"\n");
	start(QKDNCTL_OBJ_MONITOR, false, 0);
	qkdnctl_print_event(nlh, &out);
	tap_ok(got("message received \"response to key relay next hop request\" "
		   "from controller relay 1b4e28ba-2fa1-41d2-883f-0e6abc123456 "
		   "src kme-1 dst kme-4 next_hop kme-2 errno 113 errmsg \"no ?route??\"\n"),
	       "message: next hop, errno and a sanitised errmsg");
	start(QKDNCTL_OBJ_MONITOR, true, 0);
	qkdnctl_print_event(nlh, &out);
	tap_ok(got("{\"event\":\"message\",\"msg\":\"response to key relay next hop request\","
		   "\"msg_dir\":\"received\",\"msg_peer\":\"controller\","
		   "\"relay_id\":\"1b4e28ba-2fa1-41d2-883f-0e6abc123456\","
		   "\"src_node_id\":\"kme-1\",\"dst_node_id\":\"kme-4\","
		   "\"next_hop\":\"kme-2\",\"errno\":113,"
		   "\"errmsg\":\"no \\\"route\\\"\\n\"}\n"),
	       "message: JSON");

	nlh = msg(QKDN_CMD_EVENT);
	mnl_attr_put_u32(nlh, QKDN_A_EVENT, QKDN_EVENT_MESSAGE);
	mnl_attr_put_u32(nlh, QKDN_A_MSG, 999);
	mnl_attr_put_u8(nlh, QKDN_A_MSG_DIR, 5);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_COUNT, 1);
	put_key(nlh, 7, "secret");
	start(QKDNCTL_OBJ_MONITOR, false, 0);
	qkdnctl_print_event(nlh, &out);
	tap_ok(got("message dir-5 \"msg-999\" keys 1 "
		   "550e8400-0000-0000-0000-000000000007\n"),
	       "message: unknown message and direction, key IDs but never bytes");
}

static struct qkdnctl_listen lopt;
static struct qkdnctl_note note;

/* As start(), for session listen with the answers of lopt. */
static void start_listen(bool json, enum qkdnctl_fmt fmt)
{
	start(QKDNCTL_OBJ_SESSION, json, fmt);
	out.listen = &lopt;
	out.note = &note;
	memset(&note, 0xa5, sizeof(note));
}

static struct nlmsghdr *notification(void)
{
	struct nlmsghdr *nlh = msg(QKDN_CMD_SESSION);

	mnl_attr_put_u32(nlh, QKDN_A_SESSION_ID, 3735928559u);
	mnl_attr_put_strz(nlh, QKDN_A_MASTER_SAE_ID, "sae-a");
	mnl_attr_put_strz(nlh, QKDN_A_SLAVE_SAE_ID, "sae-b");
	mnl_attr_put_strz(nlh, QKDN_A_SRC_NODE_ID, "kme-1");
	return nlh;
}

static struct nlmsghdr *supply(unsigned int n)
{
	static const char *const data[] = { "foobar", "fo", "key3" };
	struct nlmsghdr *nlh = msg(QKDN_CMD_KEY_SUPPLY);
	unsigned int i;

	mnl_attr_put_u32(nlh, QKDN_A_SESSION_ID, 7);
	for (i = 0; i < n; i++)
		put_key(nlh, (uint8_t)(i + 1), data[i % 3]);
	return nlh;
}

static int note_ids(unsigned int n)
{
	unsigned int i;

	if (note.nids != n)
		return 0;
	for (i = 0; i < n; i++)
		if (note.ids[i][0] != 0x55 || note.ids[i][15] != i + 1)
			return 0;
	return 1;
}

static void test_session(void)
{
	struct nlmsghdr *nlh = msg(QKDN_CMD_SESSION_NEW);

	/* session new: the reply to "session creation request" */
	mnl_attr_put_u32(nlh, QKDN_A_SESSION_ID, 123456);
	mnl_attr_put_strz(nlh, QKDN_A_MASTER_SAE_ID, "sae-a");
	mnl_attr_put_strz(nlh, QKDN_A_SLAVE_SAE_ID, "sae-b");
	start(QKDNCTL_OBJ_SESSION, false, 0);
	tap_ok(qkdnctl_print_msg(nlh, &out) == MNL_CB_OK &&
	       got("session 123456 master sae-a slave sae-b\n"),
	       "session new: text");
	start(QKDNCTL_OBJ_SESSION, true, 0);
	qkdnctl_print_begin(&out);
	qkdnctl_print_msg(nlh, &out);
	qkdnctl_print_end(&out);
	tap_ok(got("{\"session_ID\":123456,\"master_SAE_ID\":\"sae-a\","
		   "\"slave_SAE_ID\":\"sae-b\"}\n"), "session new: JSON object");
	nlh = msg(QKDN_CMD_SESSION_NEW);
	mnl_attr_put_strz(nlh, QKDN_A_MASTER_SAE_ID, "sae-a");
	start(QKDNCTL_OBJ_SESSION, false, 0);
	tap_ok(qkdnctl_print_msg(nlh, &out) == MNL_CB_ERROR && got(""),
	       "session new: a reply without SESSION_ID is an error");

	/* session listen */
	start(QKDNCTL_OBJ_SESSION, false, 0);
	qkdnctl_print_listening(&out, "sae-b");
	tap_ok(got("listen sae sae-b\n"), "listen: first line, text");
	start(QKDNCTL_OBJ_SESSION, true, 0);
	qkdnctl_print_listening(&out, "sae-b");
	tap_ok(got("{\"event\":\"listen\",\"sae_id\":\"sae-b\"}\n"),
	       "listen: first line, JSON");

	lopt.refuse = false;
	lopt.take = QKDNCTL_TAKE_ALL;
	start_listen(false, 0);
	tap_ok(qkdnctl_print_listen(notification(), &out) == MNL_CB_STOP &&
	       note.cmd == QKDN_CMD_SESSION && note.session == 3735928559u &&
	       note.nids == 0 &&
	       got("session 3735928559 master sae-a slave sae-b src kme-1 answer accept\n"),
	       "listen: session creation notification, accepted, text");
	lopt.refuse = true;
	start_listen(true, 0);
	tap_ok(qkdnctl_print_listen(notification(), &out) == MNL_CB_STOP &&
	       note.cmd == QKDN_CMD_SESSION &&
	       got("{\"event\":\"session\",\"session_ID\":3735928559,"
		   "\"master_SAE_ID\":\"sae-a\",\"slave_SAE_ID\":\"sae-b\","
		   "\"src_node_id\":\"kme-1\",\"answer\":\"refuse\"}\n"),
	       "listen: session creation notification, refused, JSON");

	lopt.refuse = false;
	lopt.take = 2;
	start_listen(false, QKDNCTL_FMT_HEX);
	tap_ok(qkdnctl_print_listen(supply(3), &out) == MNL_CB_STOP &&
	       note.cmd == QKDN_CMD_KEY_SUPPLY && note.session == 7 &&
	       note_ids(2) &&
	       got("supply session 7 keys 3 taken 2\n"
		   "\tkey_ID 550e8400-0000-0000-0000-000000000001 666f6f626172\n"
		   "\tkey_ID 550e8400-0000-0000-0000-000000000002 666f\n"),
	       "listen: proactive key supply, take 2 of 3, hex, text");
	lopt.take = QKDNCTL_TAKE_ALL;
	start_listen(true, QKDNCTL_FMT_BASE64);
	tap_ok(qkdnctl_print_listen(supply(2), &out) == MNL_CB_STOP &&
	       note_ids(2) &&
	       got("{\"event\":\"supply\",\"session_ID\":7,\"key_count\":2,"
		   "\"keys\":[{\"key_ID\":\"550e8400-0000-0000-0000-000000000001\","
		   "\"key\":\"Zm9vYmFy\"},{\"key_ID\":"
		   "\"550e8400-0000-0000-0000-000000000002\",\"key\":\"Zm8=\"}]}\n"),
	       "listen: proactive key supply, take all, base64, JSON");
	lopt.take = 5;
	start_listen(false, QKDNCTL_FMT_NONE);
	tap_ok(qkdnctl_print_listen(supply(1), &out) == MNL_CB_STOP &&
	       note_ids(1) &&
	       got("supply session 7 keys 1 taken 1\n"
		   "\tkey_ID 550e8400-0000-0000-0000-000000000001\n"),
	       "listen: take more than offered, IDs only by default");
	lopt.take = 0;
	start_listen(true, QKDNCTL_FMT_HEX);
	tap_ok(qkdnctl_print_listen(supply(3), &out) == MNL_CB_STOP &&
	       note.cmd == QKDN_CMD_KEY_SUPPLY && note.nids == 0 &&
	       got("{\"event\":\"supply\",\"session_ID\":7,\"key_count\":3,"
		   "\"keys\":[]}\n"), "listen: take none, JSON");

	/* Malformed or foreign messages print nothing, answer nothing. */
	lopt.take = QKDNCTL_TAKE_ALL;
	start_listen(false, QKDNCTL_FMT_HEX);
	nlh = msg(QKDN_CMD_KEY_SUPPLY);
	put_key(nlh, 1, "foobar");
	tap_ok(qkdnctl_print_listen(nlh, &out) == MNL_CB_ERROR &&
	       note.cmd == 0 && got(""), "listen: supply without SESSION_ID");
	start_listen(false, QKDNCTL_FMT_NONE);
	nlh = supply(2);
	put_key(nlh, 3, NULL);
	tap_ok(qkdnctl_print_listen(nlh, &out) == MNL_CB_ERROR &&
	       note.cmd == 0 && got(""),
	       "listen: supply with a key without bytes, nothing printed");
	start_listen(false, QKDNCTL_FMT_NONE);
	tap_ok(qkdnctl_print_listen(supply(0), &out) == MNL_CB_ERROR &&
	       note.cmd == 0 && got(""), "listen: supply without keys");
	start_listen(false, QKDNCTL_FMT_NONE);
	nlh = supply(0);
	{
		unsigned int i;

		for (i = 0; i <= QKDN_KEYS_PER_REQUEST; i++)
			put_key(nlh, 1, "k");
	}
	tap_ok(qkdnctl_print_listen(nlh, &out) == MNL_CB_ERROR &&
	       note.cmd == 0 && got(""),
	       "listen: more than QKDN_KEYS_PER_REQUEST keys");
	start_listen(false, QKDNCTL_FMT_NONE);
	nlh = msg(QKDN_CMD_EVENT);
	mnl_attr_put_u32(nlh, QKDN_A_EVENT, QKDN_EVENT_LINK_UP);
	tap_ok(qkdnctl_print_listen(nlh, &out) == MNL_CB_OK && note.cmd == 0 &&
	       got(""), "listen: other messages are not for the listener");
}

/* A tunnel as the kernel puts it: the SAs' state; with config its
 * configuration too (IPSEC_GET), without it as in events. */
static void put_ipsec(struct nlmsghdr *nlh, bool config, bool v6)
{
	uint8_t out_id[QKDN_KEY_ID_LEN] = { 0x55, 0x0e, 0x84, 0x00 };
	uint8_t in_id[QKDN_KEY_ID_LEN] = { 0x55, 0x0e, 0x84, 0x00 };
	uint8_t a[4][16] = {
		{ 192, 168, 1, 1 }, { 192, 168, 1, 2 }, { 10, 0, 1, 0 },
		{ 10, 0, 2, 0 },
	};
	struct nlattr *n = mnl_attr_nest_start(nlh, QKDN_A_IPSEC);
	size_t alen = v6 ? 16 : 4;

	out_id[15] = 1;
	in_id[15] = 2;
	if (v6) {
		memset(a, 0, sizeof(a));
		a[0][0] = a[1][0] = 0x20;
		a[0][1] = a[1][1] = 0x01;
		a[0][15] = 1;
		a[1][15] = 2;
		a[2][0] = a[3][0] = 0xfd;
		a[3][1] = 1;
	}
	mnl_attr_put_u32(nlh, QKDN_A_IPSEC_ID, 1);
	mnl_attr_put_strz(nlh, QKDN_A_IPSEC_PEER, "kme-2");
	mnl_attr_put_u8(nlh, QKDN_A_IPSEC_ROLE, QKDN_IPSEC_INITIATOR);
	mnl_attr_put_u8(nlh, QKDN_A_IPSEC_STATE, QKDN_IPSEC_S_UP);
	mnl_attr_put_u32(nlh, QKDN_A_IPSEC_GEN, 3);
	qkdn_attr_put_u64(nlh, QKDN_A_IPSEC_REKEYS, 3);
	qkdn_attr_put_u64(nlh, QKDN_A_IPSEC_FAILURES, 0);
	mnl_attr_put_u32(nlh, QKDN_A_IPSEC_SPI_OUT, 0x1234abcd);
	mnl_attr_put_u32(nlh, QKDN_A_IPSEC_SPI_IN, 0xc0000001);
	mnl_attr_put(nlh, QKDN_A_IPSEC_KEY_ID_OUT, sizeof(out_id), out_id);
	mnl_attr_put(nlh, QKDN_A_IPSEC_KEY_ID_IN, sizeof(in_id), in_id);
	mnl_attr_put_u32(nlh, QKDN_A_IPSEC_REKEY_USEC, 1234);
	if (config) {
		mnl_attr_put_strz(nlh, QKDN_A_IPSEC_MASTER, "ipsec-a");
		mnl_attr_put_strz(nlh, QKDN_A_IPSEC_SLAVE, "ipsec-b");
		mnl_attr_put(nlh, QKDN_A_IPSEC_LOCAL, alen, a[0]);
		mnl_attr_put(nlh, QKDN_A_IPSEC_REMOTE, alen, a[1]);
		mnl_attr_put(nlh, QKDN_A_IPSEC_SRC, alen, a[2]);
		mnl_attr_put_u8(nlh, QKDN_A_IPSEC_SRC_LEN, v6 ? 64 : 24);
		mnl_attr_put(nlh, QKDN_A_IPSEC_DST, alen, a[3]);
		mnl_attr_put_u8(nlh, QKDN_A_IPSEC_DST_LEN, v6 ? 64 : 24);
		mnl_attr_put_u32(nlh, QKDN_A_IPSEC_KEY_BITS, 256);
		mnl_attr_put_u32(nlh, QKDN_A_IPSEC_REKEY_SECONDS, 5);
		qkdn_attr_put_u64(nlh, QKDN_A_IPSEC_REKEY_BYTES, 0);
		mnl_attr_put_u32(nlh, QKDN_A_IPSEC_HARD_SECONDS, 15);
		mnl_attr_put_u8(nlh, QKDN_A_IPSEC_ON_EXHAUST, QKDN_IPSEC_KEEP);
	}
	mnl_attr_nest_end(nlh, n);
}

static struct nlmsghdr *ipsec_event(uint32_t ev, uint32_t err, const char *why)
{
	struct nlmsghdr *nlh = msg(QKDN_CMD_EVENT);

	mnl_attr_put_u32(nlh, QKDN_A_EVENT, ev);
	mnl_attr_put_strz(nlh, QKDN_A_PEER_NODE_ID, "kme-2");
	put_ipsec(nlh, false, false);
	if (err)
		mnl_attr_put_u32(nlh, QKDN_A_ERRNO, err);
	if (why)
		mnl_attr_put_strz(nlh, QKDN_A_ERRMSG, why);
	return nlh;
}

#define IPSEC_SA_TEXT \
	"ipsec 1 peer kme-2 initiator up gen 3 spi-out 0x1234abcd " \
	"spi-in 0xc0000001 key-out 550e8400-0000-0000-0000-000000000001 " \
	"key-in 550e8400-0000-0000-0000-000000000002 rekeys 3 failures 0 " \
	"rekey-usec 1234"
#define IPSEC_SA_JSON \
	"\"id\":1,\"peer\":\"kme-2\",\"role\":\"initiator\",\"state\":\"up\"," \
	"\"gen\":3,\"spi_out\":305441741,\"spi_in\":3221225473," \
	"\"key_id_out\":\"550e8400-0000-0000-0000-000000000001\"," \
	"\"key_id_in\":\"550e8400-0000-0000-0000-000000000002\"," \
	"\"rekeys\":3,\"failures\":0,\"rekey_usec\":1234"

static void test_ipsec(void)
{
	struct nlmsghdr *nlh;
	struct nlattr *n;

	/* sae show: a kernel SAE */
	nlh = msg(QKDN_CMD_SAE_GET);
	mnl_attr_put_strz(nlh, QKDN_A_SAE_ID, "ipsec-a");
	mnl_attr_put(nlh, QKDN_A_SAE_KERNEL, 0, NULL);
	start(QKDNCTL_OBJ_SAE, false, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("sae ipsec-a kernel\n"), "sae: kernel SAE, text");
	start(QKDNCTL_OBJ_SAE, true, 0);
	qkdnctl_print_msg(nlh, &out);
	qkdnctl_print_end(&out);
	tap_ok(got("[{\"sae_id\":\"ipsec-a\",\"kernel\":true}]\n"),
	       "sae: kernel SAE, JSON");

	/* ipsec show */
	nlh = msg(QKDN_CMD_IPSEC_GET);
	put_ipsec(nlh, true, false);
	start(QKDNCTL_OBJ_IPSEC, false, 0);
	tap_ok(qkdnctl_print_msg(nlh, &out) == MNL_CB_OK &&
	       got(IPSEC_SA_TEXT "\n"
		   "\tmaster ipsec-a slave ipsec-b local 192.168.1.1 remote 192.168.1.2 "
		   "src 10.0.1.0/24 dst 10.0.2.0/24\n"
		   "\tkey-bits 256 rekey 5 rekey-bytes 0 lifetime 15 on-exhaust keep\n"),
	       "ipsec show: text paragraph");
	start(QKDNCTL_OBJ_IPSEC, true, 0);
	qkdnctl_print_msg(nlh, &out);
	qkdnctl_print_end(&out);
	tap_ok(got("[{" IPSEC_SA_JSON ",\"master\":\"ipsec-a\","
		   "\"slave\":\"ipsec-b\",\"local\":\"192.168.1.1\","
		   "\"remote\":\"192.168.1.2\",\"src\":\"10.0.1.0/24\","
		   "\"dst\":\"10.0.2.0/24\",\"key_bits\":256,\"rekey\":5,"
		   "\"rekey_bytes\":0,\"lifetime\":15,\"on_exhaust\":\"keep\"}]\n"),
	       "ipsec show: JSON array");
	start(QKDNCTL_OBJ_IPSEC, true, 0);
	qkdnctl_print_begin(&out);
	qkdnctl_print_end(&out);
	tap_ok(got("[]\n"), "ipsec show: no tunnel, JSON []");

	/* A responder that failed, IPv6, before its first SAs. */
	nlh = msg(QKDN_CMD_IPSEC_GET);
	n = mnl_attr_nest_start(nlh, QKDN_A_IPSEC);
	mnl_attr_put_u32(nlh, QKDN_A_IPSEC_ID, 65535);
	mnl_attr_put_strz(nlh, QKDN_A_IPSEC_PEER, "kme-1");
	mnl_attr_put_u8(nlh, QKDN_A_IPSEC_ROLE, QKDN_IPSEC_RESPONDER);
	mnl_attr_put_u8(nlh, QKDN_A_IPSEC_STATE, QKDN_IPSEC_S_DOWN);
	mnl_attr_put_u32(nlh, QKDN_A_IPSEC_GEN, 0);
	qkdn_attr_put_u64(nlh, QKDN_A_IPSEC_REKEYS, 0);
	qkdn_attr_put_u64(nlh, QKDN_A_IPSEC_FAILURES, 2);
	mnl_attr_put_u8(nlh, QKDN_A_IPSEC_ON_EXHAUST, QKDN_IPSEC_DROP);
	mnl_attr_nest_end(nlh, n);
	mnl_attr_put_u32(nlh, QKDN_A_ERRNO, ENOKEY);
	mnl_attr_put_strz(nlh, QKDN_A_ERRMSG, "no key\tleft");
	start(QKDNCTL_OBJ_IPSEC, false, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("ipsec 65535 peer kme-1 responder down gen 0 rekeys 0 failures 2\n"
		   "\ton-exhaust drop\n\terror ENOKEY: no key?left\n"),
	       "ipsec show: no SA yet, drop, last error, text");
	start(QKDNCTL_OBJ_IPSEC, true, 0);
	qkdnctl_print_msg(nlh, &out);
	qkdnctl_print_end(&out);
	tap_ok(got("[{\"id\":65535,\"peer\":\"kme-1\",\"role\":\"responder\","
		   "\"state\":\"down\",\"gen\":0,\"rekeys\":0,\"failures\":2,"
		   "\"on_exhaust\":\"drop\",\"errno\":126,"
		   "\"error\":\"no key\\tleft\"}]\n"),
	       "ipsec show: no SA yet, drop, last error, JSON");

	nlh = msg(QKDN_CMD_IPSEC_GET);
	put_ipsec(nlh, true, true);
	start(QKDNCTL_OBJ_IPSEC, false, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got(IPSEC_SA_TEXT "\n"
		   "\tmaster ipsec-a slave ipsec-b local 2001::1 remote 2001::2 "
		   "src fd00::/64 dst fd01::/64\n"
		   "\tkey-bits 256 rekey 5 rekey-bytes 0 lifetime 15 on-exhaust keep\n"),
	       "ipsec show: IPv6");

	nlh = msg(QKDN_CMD_IPSEC_GET);
	n = mnl_attr_nest_start(nlh, QKDN_A_IPSEC);
	mnl_attr_put_u32(nlh, QKDN_A_IPSEC_ID, 9);
	mnl_attr_put_u8(nlh, QKDN_A_IPSEC_ROLE, 5);
	mnl_attr_put_u8(nlh, QKDN_A_IPSEC_STATE, 9);
	mnl_attr_nest_end(nlh, n);
	mnl_attr_put_u32(nlh, QKDN_A_ERRNO, 4000);
	start(QKDNCTL_OBJ_IPSEC, false, 0);
	qkdnctl_print_msg(nlh, &out);
	tap_ok(got("ipsec 9 role-5 state-9\n\terror errno-4000\n"),
	       "ipsec show: unknown role, state and errno");

	nlh = msg(QKDN_CMD_IPSEC_GET);
	n = mnl_attr_nest_start(nlh, QKDN_A_IPSEC);
	mnl_attr_put_u32(nlh, QKDN_A_IPSEC_ID, 1);
	mnl_attr_put(nlh, QKDN_A_IPSEC_LOCAL, 4, "\x01\x01\x01\x01");
	mnl_attr_put(nlh, QKDN_A_IPSEC_REMOTE, 16, "0123456789abcdef");
	mnl_attr_nest_end(nlh, n);
	start(QKDNCTL_OBJ_IPSEC, false, 0);
	tap_ok(qkdnctl_print_msg(nlh, &out) == MNL_CB_ERROR && got(""),
	       "ipsec show: addresses of two families are an error");
	nlh = msg(QKDN_CMD_IPSEC_GET);
	n = mnl_attr_nest_start(nlh, QKDN_A_IPSEC);
	mnl_attr_put_u32(nlh, QKDN_A_IPSEC_ID, 1);
	mnl_attr_put(nlh, QKDN_A_IPSEC_SRC, 4, "\x0a\0\0\0");
	mnl_attr_put_u8(nlh, QKDN_A_IPSEC_SRC_LEN, 33);
	mnl_attr_nest_end(nlh, n);
	start(QKDNCTL_OBJ_IPSEC, false, 0);
	tap_ok(qkdnctl_print_msg(nlh, &out) == MNL_CB_ERROR && got(""),
	       "ipsec show: IPv4 prefix length 33 is an error");
	nlh = msg(QKDN_CMD_IPSEC_GET);
	mnl_attr_put_u32(nlh, QKDN_A_ERRNO, 1);
	start(QKDNCTL_OBJ_IPSEC, false, 0);
	tap_ok(qkdnctl_print_msg(nlh, &out) == MNL_CB_ERROR && got(""),
	       "ipsec show: a reply without the IPSEC nest is an error");

	/* monitor: the three events */
	start(QKDNCTL_OBJ_MONITOR, false, 0);
	qkdnctl_print_event(ipsec_event(QKDN_EVENT_IPSEC_REKEY, 0, NULL), &out);
	qkdnctl_print_event(ipsec_event(QKDN_EVENT_IPSEC_FAILED, ENOKEY,
					"no key for the rekey"), &out);
	qkdnctl_print_event(ipsec_event(QKDN_EVENT_IPSEC_EXPIRED, 0, NULL), &out);
	tap_ok(got("ipsec-rekey " IPSEC_SA_TEXT "\n"
		   "ipsec-failed " IPSEC_SA_TEXT " error ENOKEY: no key for the rekey\n"
		   "ipsec-expired " IPSEC_SA_TEXT "\n"),
	       "ipsec events: text, one line each, the peer once");
	start(QKDNCTL_OBJ_MONITOR, true, 0);
	qkdnctl_print_event(ipsec_event(QKDN_EVENT_IPSEC_REKEY, 0, NULL), &out);
	qkdnctl_print_event(ipsec_event(QKDN_EVENT_IPSEC_FAILED, ENOKEY,
					"no key for the rekey"), &out);
	qkdnctl_print_event(ipsec_event(QKDN_EVENT_IPSEC_EXPIRED, 0, NULL), &out);
	tap_ok(got("{\"event\":\"ipsec-rekey\"," IPSEC_SA_JSON "}\n"
		   "{\"event\":\"ipsec-failed\"," IPSEC_SA_JSON ",\"errno\":126,"
		   "\"error\":\"no key for the rekey\"}\n"
		   "{\"event\":\"ipsec-expired\"," IPSEC_SA_JSON "}\n"),
	       "ipsec events: JSON, one object per line");
	nlh = ipsec_event(QKDN_EVENT_IPSEC_FAILED, 0, NULL);
	n = mnl_attr_nest_start(nlh, QKDN_A_IPSEC);	/* a second, bad one */
	mnl_attr_put_u8(nlh, QKDN_A_IPSEC_ID, 1);
	mnl_attr_nest_end(nlh, n);
	start(QKDNCTL_OBJ_MONITOR, false, 0);
	tap_ok(qkdnctl_print_event(nlh, &out) == MNL_CB_OK && got(""),
	       "ipsec events: a malformed tunnel is skipped");
}

int main(void)
{
	tap_plan(6 + 4 + 5 + 3 + 4 + 5 + 4 + 16 + 15);
	test_node_link();
	test_sae_pool();
	test_keys();
	test_events();
	test_relay_stats();
	test_routes();
	test_messages();
	test_session();
	test_ipsec();
	return tap_done();
}
