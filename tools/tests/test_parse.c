// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl's command line: each command becomes the netlink request the
 * uapi describes (command, dump flag, attributes); bad input is a usage
 * error with a message, and builds nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "../qkdnctl/qkdnctl.h"
#include "tap.h"

static void *buf;
static struct qkdnctl_req req;
static const struct nlattr *tb[QKDN_A_MAX + 1];

/* Parse a NULL-terminated argument list; 0 and tb filled on success. */
static int parse(const char *first, ...)
{
	char *argv[64];
	va_list ap;
	int argc = 0;
	const char *a;

	va_start(ap, first);
	for (a = first; a && argc < 63; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	memset(buf, 0xee, QKDN_BUF_SIZE);
	if (qkdnctl_parse(argc, argv, buf, &req))
		return -1;
	if (req.nlh && qkdn_parse(req.nlh, tb))
		return -2;
	return 0;
}

static uint8_t cmd(void)
{
	const struct genlmsghdr *g = mnl_nlmsg_get_payload(req.nlh);

	return g->cmd;
}

static int has_str(uint16_t type, const char *v)
{
	return tb[type] && !strcmp(mnl_attr_get_str(tb[type]), v);
}

static int has_u32(uint16_t type, uint32_t v)
{
	return tb[type] && mnl_attr_get_u32(tb[type]) == v;
}

static int nattrs(void)
{
	const struct nlattr *a;
	int n = 0;

	mnl_attr_for_each(a, req.nlh, GENL_HDRLEN)
		if (mnl_attr_get_type(a) != QKDN_A_PAD)
			n++;
	return n;
}

static int dump(void)
{
	return !!(req.nlh->nlmsg_flags & NLM_F_DUMP);
}

static int usage_err(const char *want)
{
	if (!req.err[0] || req.nlh)
		return 0;
	if (want && !strstr(req.err, want)) {
		printf("# got \"%s\"\n", req.err);
		return 0;
	}
	return 1;
}

#define BAD(want, ...) (parse(__VA_ARGS__, NULL) == -1 && usage_err(want))

static void test_opts(void)
{
	struct qkdnctl_opts o;
	char err[128];
	char *a1[] = { "qkdnctl", "-j", "-n", "ns1", "link", "show", NULL };
	char *a2[] = { "qkdnctl", "-jp", "-nns2", "node", NULL };
	char *a3[] = { "qkdnctl", "--json", "--netns", "x", "--pretty", "sae", NULL };
	char *a4[] = { "qkdnctl", "-x", "link", NULL };
	char *a5[] = { "qkdnctl", "-n", NULL };
	char *a6[] = { "qkdnctl", "link", "-j", NULL };
	char *a7[] = { "qkdnctl", "-p", "node", NULL };

	tap_ok(qkdnctl_parse_opts(6, a1, &o, err, sizeof(err)) == 4 && o.json &&
	       !o.pretty && o.netns && !strcmp(o.netns, "ns1"),
	       "options: -j -n NETNS");
	tap_ok(qkdnctl_parse_opts(4, a2, &o, err, sizeof(err)) == 3 && o.json &&
	       o.pretty && !strcmp(o.netns, "ns2"), "options: -jp -nNETNS");
	tap_ok(qkdnctl_parse_opts(6, a3, &o, err, sizeof(err)) == 5 && o.json &&
	       o.pretty && !strcmp(o.netns, "x"), "options: long forms");
	tap_ok(qkdnctl_parse_opts(3, a4, &o, err, sizeof(err)) == -1 &&
	       strstr(err, "-x"), "options: unknown option");
	tap_ok(qkdnctl_parse_opts(2, a5, &o, err, sizeof(err)) == -1 &&
	       strstr(err, "NETNS"), "options: -n without NETNS");
	tap_ok(qkdnctl_parse_opts(3, a6, &o, err, sizeof(err)) == 1 && !o.json,
	       "options: stop at the object");
	tap_ok(qkdnctl_parse_opts(3, a7, &o, err, sizeof(err)) == 2 && o.json &&
	       o.pretty, "options: -p implies -j");
}

static void test_node(void)
{
	tap_ok(parse("node", "show", NULL) == 0 && cmd() == QKDN_CMD_NODE_GET &&
	       !dump() && !nattrs(), "node show: NODE_GET, no attributes");
	tap_ok(parse("n", NULL) == 0 && cmd() == QKDN_CMD_NODE_GET,
	       "node: show by default, object abbreviated");
	tap_ok(parse("node", "set", "id", "KM-A", NULL) == 0 &&
	       cmd() == QKDN_CMD_NODE_SET && has_str(QKDN_A_NODE_ID, "KM-A") &&
	       nattrs() == 1, "node set id: NODE_SET with NODE_ID");
	tap_ok(req.nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK),
	       "requests ask for an ACK");
	tap_ok(BAD("required", "node", "set"), "node set without id");
	tap_ok(BAD("needs a value", "node", "set", "id"), "keyword without value");
	tap_ok(BAD("1 to 63", "node", "set", "id", ""), "empty node id");
	tap_ok(BAD("1 to 63", "node", "set", "id",
		   "0123456789012345678901234567890123456789012345678901234567890123"),
	       "node id of 64 bytes");
	tap_ok(parse("node", "set", "id",
		     "012345678901234567890123456789012345678901234567890123456789012",
		     NULL) == 0, "node id of 63 bytes");
	tap_ok(BAD("control", "node", "set", "id", "a\nb"), "control character in id");
	tap_ok(BAD("twice", "node", "set", "id", "a", "id", "b"), "keyword twice");
	tap_ok(BAD("unknown keyword", "node", "show", "id", "a"),
	       "node show takes nothing");
	tap_ok(BAD("unknown command", "node", "frob"), "unknown command");
	tap_ok(BAD("unknown object", "nodes"), "unknown object");
	tap_ok(parse("node", "help", NULL) == 0 && req.help &&
	       req.obj == QKDNCTL_OBJ_NODE && !req.nlh, "node help");
	tap_ok(parse("help", NULL) == 0 && req.help && req.obj == QKDNCTL_OBJ_NONE,
	       "help");
}

static void test_link(void)
{
	tap_ok(parse("link", "show", NULL) == 0 && cmd() == QKDN_CMD_LINK_GET &&
	       dump() && !nattrs(), "link show: LINK_GET dump");
	tap_ok(parse("l", "sh", "id", "7", NULL) == 0 &&
	       cmd() == QKDN_CMD_LINK_GET && !dump() && has_u32(QKDN_A_LINK_ID, 7) &&
	       nattrs() == 1, "link show id: LINK_GET do with LINK_ID");
	tap_ok(BAD("ambiguous command", "link", "s"), "ambiguous command");
	tap_ok(parse("link", "add", "id", "1", "peer", "B", "device", "qkdsim0",
		     "capacity", "1M", "low", "64k", NULL) == 0 &&
	       cmd() == QKDN_CMD_LINK_NEW && has_u32(QKDN_A_LINK_ID, 1) &&
	       has_str(QKDN_A_PEER_NODE_ID, "B") &&
	       has_str(QKDN_A_DEVICE, "qkdsim0") &&
	       has_u32(QKDN_A_POOL_CAPACITY, 1 << 20) &&
	       has_u32(QKDN_A_POOL_LOW, 64 << 10) && nattrs() == 5,
	       "link add: LINK_NEW with all attributes");
	tap_ok(parse("link", "a", "i", "65535", "p", "B", NULL) == 0 &&
	       has_u32(QKDN_A_LINK_ID, 65535) && nattrs() == 2,
	       "link add: minimal, keywords abbreviated");
	tap_ok(BAD("peer", "link", "add", "id", "1"), "link add without peer");
	tap_ok(BAD("id", "link", "add", "peer", "B"), "link add without id");
	tap_ok(BAD("out of range", "link", "add", "id", "0", "peer", "B"), "link id 0");
	tap_ok(BAD("out of range", "link", "add", "id", "65536", "peer", "B"),
	       "link id 65536");
	tap_ok(BAD("invalid link id", "link", "del", "id", "one"), "link id not a number");
	tap_ok(BAD("invalid link id", "link", "del", "id", "1k"), "link id with suffix");
	tap_ok(BAD("out of range", "link", "add", "id", "1", "peer", "B",
		   "capacity", "2G"), "capacity above QKDN_POOL_CAPACITY_MAX");
	tap_ok(parse("link", "add", "id", "1", "peer", "B", "capacity", "1G", NULL) == 0 &&
	       has_u32(QKDN_A_POOL_CAPACITY, QKDN_POOL_CAPACITY_MAX),
	       "capacity of exactly QKDN_POOL_CAPACITY_MAX");
	tap_ok(BAD("exceeds", "link", "add", "id", "1", "peer", "B", "capacity",
		   "1k", "low", "2k"), "low above capacity");
	tap_ok(parse("link", "set", "id", "3", "running", "on", "rate", "10M",
		     "capacity", "4096", NULL) == 0 &&
	       cmd() == QKDN_CMD_LINK_SET && has_u32(QKDN_A_LINK_ID, 3) &&
	       tb[QKDN_A_DEVICE_RUNNING] &&
	       mnl_attr_get_u8(tb[QKDN_A_DEVICE_RUNNING]) == 1 &&
	       tb[QKDN_A_RATE] && mnl_attr_get_u64(tb[QKDN_A_RATE]) == 10000000 &&
	       has_u32(QKDN_A_POOL_CAPACITY, 4096) && nattrs() == 4,
	       "link set: LINK_SET, running, rate with decimal suffix");
	tap_ok(((uintptr_t)mnl_attr_get_payload(tb[QKDN_A_RATE]) -
		(uintptr_t)req.nlh) % 8 == 0, "link set: rate payload 64-bit aligned");
	tap_ok(parse("link", "set", "id", "3", "running", "off", NULL) == 0 &&
	       mnl_attr_get_u8(tb[QKDN_A_DEVICE_RUNNING]) == 0, "running off");
	tap_ok(BAD("on or off", "link", "set", "id", "3", "running", "yes"),
	       "running yes");
	tap_ok(BAD("ambiguous keyword", "link", "set", "id", "3", "r", "on"),
	       "ambiguous keyword (running, rate)");
	tap_ok(BAD("nothing to set", "link", "set", "id", "3"), "link set without change");
	tap_ok(BAD("unknown keyword", "link", "set", "id", "3", "peer", "C"),
	       "link set cannot change the peer");
	tap_ok(BAD("out of range", "link", "set", "id", "3", "rate",
		   "18446744073709551616"), "rate overflow");
	tap_ok(parse("link", "del", "id", "9", NULL) == 0 &&
	       cmd() == QKDN_CMD_LINK_DEL && has_u32(QKDN_A_LINK_ID, 9) &&
	       nattrs() == 1, "link del: LINK_DEL");
	tap_ok(BAD("required", "link", "del"), "link del without id");
	tap_ok(BAD("needs a value", "link", "add", "id", "9", "peer"),
	       "dangling keyword");
}

static void test_sae(void)
{
	tap_ok(parse("sae", NULL) == 0 && cmd() == QKDN_CMD_SAE_GET && dump(),
	       "sae: SAE_GET dump");
	tap_ok(parse("sae", "show", "id", "app1", NULL) == 0 && !dump() &&
	       has_str(QKDN_A_SAE_ID, "app1"), "sae show id: do");
	tap_ok(parse("sae", "add", "id", "app1", "uid", "1000", NULL) == 0 &&
	       cmd() == QKDN_CMD_SAE_NEW && has_str(QKDN_A_SAE_ID, "app1") &&
	       has_u32(QKDN_A_SAE_UID, 1000) && nattrs() == 2,
	       "sae add uid: local SAE");
	tap_ok(parse("sae", "add", "id", "app1", "uid", "root", NULL) == 0 &&
	       has_u32(QKDN_A_SAE_UID, 0), "sae add uid by user name");
	tap_ok(parse("sae", "add", "id", "far", "node", "KM-C", NULL) == 0 &&
	       has_str(QKDN_A_SAE_NODE_ID, "KM-C") && !tb[QKDN_A_SAE_UID] &&
	       nattrs() == 2, "sae add node: remote SAE");
	tap_ok(BAD("\"uid\" or \"cred\"", "sae", "add", "id", "x", "uid", "1",
		   "node", "B"), "sae add with uid and node");
	tap_ok(BAD("\"uid\" or \"cred\"", "sae", "add", "id", "x"),
	       "sae add with neither");
	tap_ok(parse("sae", "add", "id", "g1", "cred", "CN=sae g1,O=Bank", NULL) == 0 &&
	       cmd() == QKDN_CMD_SAE_NEW && has_str(QKDN_A_SAE_CRED, "CN=sae g1,O=Bank") &&
	       nattrs() == 2, "sae add cred: local SAE served by the gateway");
	tap_ok(parse("sae", "add", "id", "g1", "cred", "g1", "uid", "1000", NULL) == 0 &&
	       has_str(QKDN_A_SAE_CRED, "g1") && has_u32(QKDN_A_SAE_UID, 1000) &&
	       nattrs() == 3, "sae add cred and uid");
	tap_ok(BAD("\"uid\" or \"cred\"", "sae", "add", "id", "x", "cred", "c",
		   "node", "B"), "sae add with cred and node");
	tap_ok(BAD("printable ASCII", "sae", "add", "id", "x", "cred", ""),
	       "sae add with an empty credential");
	tap_ok(BAD("printable ASCII", "sae", "add", "id", "x", "cred", "a\tb"),
	       "sae add with a control character in the credential");
	{
		char big[QKDN_CRED_MAX + 1];

		memset(big, 'c', QKDN_CRED_MAX);
		big[QKDN_CRED_MAX] = 0;
		tap_ok(BAD("printable ASCII", "sae", "add", "id", "x", "cred", big),
		       "sae add with a credential of 256 characters");
		big[QKDN_CRED_MAX - 1] = 0;
		tap_ok(parse("sae", "add", "id", "x", "cred", big, NULL) == 0,
		       "sae add with a credential of 255 characters");
	}
	tap_ok(BAD("out of range", "sae", "add", "id", "x", "uid", "4294967295"),
	       "uid -1 rejected");
	tap_ok(BAD("unknown user", "sae", "add", "id", "x", "uid", "no-such-user-x"),
	       "unknown user name");
	tap_ok(parse("sae", "del", "id", "x", NULL) == 0 && cmd() == QKDN_CMD_SAE_DEL &&
	       has_str(QKDN_A_SAE_ID, "x") && nattrs() == 1, "sae del");
}

static void test_pool(void)
{
	tap_ok(parse("pool", "show", NULL) == 0 && cmd() == QKDN_CMD_POOL_GET &&
	       dump(), "pool show: dump");
	tap_ok(parse("p", "show", "id", "2", NULL) == 0 && !dump() &&
	       has_u32(QKDN_A_LINK_ID, 2) && nattrs() == 1, "pool show id");
	tap_ok(parse("pool", "show", "slave", "b1", "master", "a1", NULL) == 0 &&
	       !dump() && has_str(QKDN_A_SLAVE_SAE_ID, "b1") &&
	       has_str(QKDN_A_MASTER_SAE_ID, "a1") && nattrs() == 2,
	       "pool show slave master");
	tap_ok(BAD("either", "pool", "show", "id", "2", "slave", "b"),
	       "pool show id and slave");
	tap_ok(BAD("needs", "pool", "show", "master", "a"), "master without slave");
}

static void test_key(void)
{
	static const uint8_t id1[QKDN_KEY_ID_LEN] = {
		0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4,
		0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00,
	};
	const struct nlattr *a, *kb[QKDN_A_KEY_MAX + 1];
	char *argv[8 + 2 * QKDN_KEYS_PER_REQUEST + 2];
	int n = 0, ok = 1, i;

	tap_ok(parse("key", "get", "master", "A", "slave", "B", NULL) == 0 &&
	       cmd() == QKDN_CMD_KEY_GET && !dump() &&
	       has_str(QKDN_A_MASTER_SAE_ID, "A") && has_str(QKDN_A_SLAVE_SAE_ID, "B") &&
	       has_u32(QKDN_A_KEY_NUMBER, 1) &&
	       has_u32(QKDN_A_KEY_SIZE, QKDN_KEY_SIZE_DEFAULT) &&
	       req.fmt == QKDNCTL_FMT_NONE, "key get: defaults number 1, size 256");
	tap_ok(parse("k", "get", "m", "A", "sl", "B", "n", "128", "si", "8192",
		     "f", "b", NULL) == 0 && has_u32(QKDN_A_KEY_NUMBER, 128) &&
	       has_u32(QKDN_A_KEY_SIZE, 8192) && req.fmt == QKDNCTL_FMT_BASE64,
	       "key get: maxima, base64");
	tap_ok(parse("key", "get", "master", "A", "slave", "B", "format", "hex",
		     "size", "64", NULL) == 0 && req.fmt == QKDNCTL_FMT_HEX &&
	       has_u32(QKDN_A_KEY_SIZE, 64), "key get: hex, minimum size");
	tap_ok(BAD("out of range", "key", "get", "master", "A", "slave", "B",
		   "number", "129"), "number 129");
	tap_ok(BAD("out of range", "key", "get", "master", "A", "slave", "B",
		   "number", "0"), "number 0");
	tap_ok(BAD("out of range", "key", "get", "master", "A", "slave", "B",
		   "size", "56"), "size 56");
	tap_ok(BAD("multiple of 8", "key", "get", "master", "A", "slave", "B",
		   "size", "100"), "size not a multiple of 8");
	tap_ok(BAD("format", "key", "get", "master", "A", "slave", "B",
		   "format", "raw"), "unknown format");
	tap_ok(BAD("ambiguous keyword", "key", "get", "master", "A", "s", "B"),
	       "ambiguous keyword (slave, size)");
	tap_ok(BAD("required", "key", "get", "master", "A"), "slave missing");
	tap_ok(BAD("command is required", "key"), "key needs a command");
	tap_ok(BAD("unknown keyword", "key", "get", "master", "A", "slave", "B",
		   "id", "550e8400-e29b-41d4-a716-446655440000"), "key get takes no id");

	tap_ok(parse("key", "get-by-id", "master", "A", "slave", "B", "id",
		     "550e8400-e29b-41d4-a716-446655440000", "id",
		     "00000000-0000-0000-0000-000000000001", NULL) == 0 &&
	       cmd() == QKDN_CMD_KEY_GET_BY_ID, "key get-by-id: KEY_GET_BY_ID");
	mnl_attr_for_each(a, req.nlh, GENL_HDRLEN) {
		if (mnl_attr_get_type(a) != QKDN_A_KEY)
			continue;
		if (qkdn_parse_key(a, kb) || !kb[QKDN_A_KEY_ID] || kb[QKDN_A_KEY_DATA])
			ok = 0;
		else if (n == 0 && memcmp(mnl_attr_get_payload(kb[QKDN_A_KEY_ID]),
					  id1, sizeof(id1)))
			ok = 0;
		else if (n == 1 &&
			 ((const uint8_t *)mnl_attr_get_payload(kb[QKDN_A_KEY_ID]))[15] != 1)
			ok = 0;
		n++;
	}
	tap_ok(ok && n == 2, "key get-by-id: one KEY nest with KEY_ID per id, in order");
	tap_ok(!tb[QKDN_A_KEY_NUMBER] && !tb[QKDN_A_KEY_SIZE],
	       "key get-by-id: no number or size");
	tap_ok(BAD("invalid key id", "key", "get-by-id", "master", "A", "slave", "B",
		   "id", "550e8400-e29b-41d4-a716-44665544000"), "short UUID");
	tap_ok(BAD("at least one", "key", "get-by-id", "master", "A", "slave", "B"),
	       "get-by-id without id");

	argv[n = 0] = "key";
	argv[++n] = "get-by-id";
	argv[++n] = "master";
	argv[++n] = "A";
	argv[++n] = "slave";
	argv[++n] = "B";
	for (i = 0; i <= QKDN_KEYS_PER_REQUEST; i++) {
		argv[++n] = "id";
		argv[++n] = "550e8400-e29b-41d4-a716-446655440000";
	}
	argv[++n] = NULL;
	tap_ok(qkdnctl_parse(n - 2, argv, buf, &req) == 0,
	       "get-by-id with QKDN_KEYS_PER_REQUEST ids");
	tap_ok(qkdnctl_parse(n, argv, buf, &req) == -1 && usage_err("at most"),
	       "get-by-id with one id too many");
}

/* The ADD_SLAVE_SAE_ID attributes of the request, in order, joined by
 * spaces into out; returns how many. */
static int add_slaves(char *out, size_t len)
{
	const struct nlattr *a;
	size_t used = 0;
	int n = 0;

	out[0] = '\0';
	mnl_attr_for_each(a, req.nlh, GENL_HDRLEN) {
		if (mnl_attr_get_type(a) != QKDN_A_ADD_SLAVE_SAE_ID)
			continue;
		used += snprintf(out + used, len - used, "%s%s", n ? " " : "",
				 mnl_attr_get_str(a));
		if (used >= len)
			return -1;
		n++;
	}
	return n;
}

/* key get with more than one "slave": a multicast key request. */
static void test_multicast(void)
{
	static const char *const names[] = {
		"B", "C", "D", "E", "F", "G", "H", "I", "J",
	};
	char *argv[8 + 2 * (QKDN_SLAVES_MAX + 1)], got[128];
	char id64[QKDN_ID_MAX + 1];
	int n, i;

	tap_ok(parse("key", "get", "master", "A", "slave", "B", NULL) == 0 &&
	       !tb[QKDN_A_ADD_SLAVE_SAE_ID] && nattrs() == 4,
	       "multicast: one slave, no ADD_SLAVE_SAE_ID");
	tap_ok(parse("key", "get", "master", "A", "slave", "B", "slave", "C",
		     "slave", "D", "number", "2", NULL) == 0 &&
	       cmd() == QKDN_CMD_KEY_GET && has_str(QKDN_A_SLAVE_SAE_ID, "B") &&
	       add_slaves(got, sizeof(got)) == 2 && !strcmp(got, "C D") &&
	       has_u32(QKDN_A_KEY_NUMBER, 2) && nattrs() == 6,
	       "multicast: the first slave is SLAVE_SAE_ID, the others ADD_SLAVE_SAE_ID in order");
	tap_ok(parse("k", "get", "sl", "B", "ma", "A", "si", "64", "sl", "C", NULL) == 0 &&
	       has_str(QKDN_A_SLAVE_SAE_ID, "B") && has_str(QKDN_A_MASTER_SAE_ID, "A") &&
	       add_slaves(got, sizeof(got)) == 1 && !strcmp(got, "C") &&
	       has_u32(QKDN_A_KEY_SIZE, 64),
	       "multicast: abbreviated, slaves between other keywords");
	tap_ok(parse("key", "get", "master", "A", "slave", "B", "slave", "B", NULL) == 0 &&
	       add_slaves(got, sizeof(got)) == 1 && !strcmp(got, "B"),
	       "multicast: a slave named twice is the kernel's to refuse");

	argv[n = 0] = "key";
	argv[++n] = "get";
	argv[++n] = "master";
	argv[++n] = "A";
	for (i = 0; i <= QKDN_SLAVES_MAX; i++) {
		argv[++n] = "slave";
		argv[++n] = (char *)names[i];
	}
	argv[++n] = NULL;
	memset(buf, 0xee, QKDN_BUF_SIZE);
	tap_ok(qkdnctl_parse(n - 2, argv, buf, &req) == 0 &&
	       !qkdn_parse(req.nlh, tb) && has_str(QKDN_A_SLAVE_SAE_ID, "B") &&
	       add_slaves(got, sizeof(got)) == QKDN_SLAVES_MAX - 1 &&
	       !strcmp(got, "C D E F G H I"),
	       "multicast: QKDN_SLAVES_MAX slaves, 7 ADD_SLAVE_SAE_ID");
	tap_ok(qkdnctl_parse(n, argv, buf, &req) == -1 &&
	       usage_err("at most 8 \"slave\" values"),
	       "multicast: one slave too many is a usage error, nothing built");

	tap_ok(BAD("a key request with \"session\" has one \"slave\"", "key",
		   "get", "master", "A", "slave", "B", "slave", "C", "session", "1"),
	       "multicast: not with a session");
	memset(id64, 'x', QKDN_ID_MAX);
	id64[QKDN_ID_MAX] = '\0';
	tap_ok(BAD("slave SAE id must be 1 to 63 bytes long", "key", "get",
		   "master", "A", "slave", "B", "slave", id64),
	       "multicast: an additional slave ID too long");
	tap_ok(BAD("slave SAE id must be 1 to 63 bytes long", "key", "get",
		   "master", "A", "slave", "B", "slave", ""),
	       "multicast: an empty additional slave ID");
	tap_ok(BAD("\"slave\" needs a value", "key", "get", "master", "A",
		   "slave", "B", "slave"), "multicast: slave without a value");
	tap_ok(BAD("\"slave\" given twice", "key", "get-by-id", "master", "A",
		   "slave", "B", "slave", "C", "id",
		   "550e8400-e29b-41d4-a716-446655440000"),
	       "multicast: get-by-id names one slave");
	tap_ok(BAD("\"slave\" given twice", "pool", "show", "slave", "B",
		   "slave", "C"), "multicast: pool show names one slave");
	tap_ok(BAD("required", "key", "get", "master", "A", "number", "2"),
	       "multicast: no slave at all");
}

static void test_monitor(void)
{
	tap_ok(parse("monitor", NULL) == 0 && req.obj == QKDNCTL_OBJ_MONITOR &&
	       !req.nlh, "monitor");
	tap_ok(parse("m", NULL) == 0 && req.obj == QKDNCTL_OBJ_MONITOR,
	       "monitor abbreviated");
	tap_ok(BAD("no arguments", "monitor", "all"), "monitor with arguments");
}

static void test_route_ctrl(void)
{
	tap_ok(parse("route", "show", NULL) == 0 && cmd() == QKDN_CMD_ROUTE_GET &&
	       dump() && !nattrs(), "route show: ROUTE_GET dump, no attributes");
	tap_ok(parse("r", NULL) == 0 && cmd() == QKDN_CMD_ROUTE_GET && dump(),
	       "route: show by default, object abbreviated");
	tap_ok(BAD("unknown keyword", "route", "show", "dst", "kme-4"),
	       "route show takes no keyword");
	tap_ok(BAD("unknown command", "route", "add"), "route add is no command");
	tap_ok(parse("node", "set", "ctrl-mode", "centralized", NULL) == 0 &&
	       cmd() == QKDN_CMD_NODE_SET && nattrs() == 1 &&
	       tb[QKDN_A_CTRL_MODE] &&
	       mnl_attr_get_u8(tb[QKDN_A_CTRL_MODE]) == QKDN_CTRL_CENTRALIZED,
	       "node set ctrl-mode centralized: NODE_SET with CTRL_MODE 1");
	tap_ok(parse("n", "se", "c", "d", NULL) == 0 && tb[QKDN_A_CTRL_MODE] &&
	       mnl_attr_get_u8(tb[QKDN_A_CTRL_MODE]) == QKDN_CTRL_DISTRIBUTED,
	       "node set ctrl-mode distributed, abbreviated");
	tap_ok(parse("node", "set", "id", "KM-A", "ctrl-mode", "distributed",
		     NULL) == 0 && nattrs() == 2 && has_str(QKDN_A_NODE_ID, "KM-A") &&
	       tb[QKDN_A_CTRL_MODE], "node set id and ctrl-mode together");
	tap_ok(BAD("ctrl-mode is distributed or centralized, not \"star\"",
		   "node", "set", "ctrl-mode", "star"), "bad ctrl-mode");
	tap_ok(BAD("\"id\" or \"ctrl-mode\" is required", "node", "set"),
	       "node set with nothing to set");
}

/* The KEY nests of a message: how many, and whether each holds exactly a
 * KEY_ID, the n-th (0-based) ending in byte n + 1. */
static int key_id_nests(const struct nlmsghdr *nlh, int *n)
{
	const struct nlattr *a, *kb[QKDN_A_KEY_MAX + 1];
	int ok = 1;

	*n = 0;
	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		const uint8_t *id;

		if (mnl_attr_get_type(a) != QKDN_A_KEY)
			continue;
		if (qkdn_parse_key(a, kb) || !kb[QKDN_A_KEY_ID] ||
		    kb[QKDN_A_KEY_DATA]) {
			ok = 0;
		} else {
			id = mnl_attr_get_payload(kb[QKDN_A_KEY_ID]);
			if (id[15] != *n + 1)
				ok = 0;
		}
		(*n)++;
	}
	return ok;
}

static void test_session(void)
{
	struct qkdnctl_listen l = { .take = QKDNCTL_TAKE_ALL };
	struct qkdnctl_note note;
	struct nlmsghdr *nlh;
	int n;

	/* session new: "session creation request" */
	tap_ok(parse("session", "new", "master", "A", "slave", "B", NULL) == 0 &&
	       req.obj == QKDNCTL_OBJ_SESSION && cmd() == QKDN_CMD_SESSION_NEW &&
	       !dump() && has_str(QKDN_A_MASTER_SAE_ID, "A") &&
	       has_str(QKDN_A_SLAVE_SAE_ID, "B") && nattrs() == 2,
	       "session new: SESSION_NEW with MASTER_SAE_ID, SLAVE_SAE_ID");
	tap_ok(parse("se", "n", "m", "A", "s", "B", NULL) == 0 &&
	       cmd() == QKDN_CMD_SESSION_NEW && has_str(QKDN_A_SLAVE_SAE_ID, "B"),
	       "session new: abbreviated");
	tap_ok(BAD("\"master\" and \"slave\" are required", "session", "new",
		   "master", "A"), "session new without slave");
	tap_ok(BAD("control character", "session", "new", "master", "A",
		   "slave", "B\x7f"), "session new: SAE id checked");
	tap_ok(BAD("unknown keyword", "session", "new", "master", "A", "slave",
		   "B", "number", "2"), "session new takes no number");
	tap_ok(BAD("a command is required", "session"), "session needs a command");
	tap_ok(BAD("unknown command \"show\"", "session", "show"),
	       "session has no show");
	tap_ok(BAD("ambiguous object \"s\"", "s"), "s: sae or session");
	tap_ok(parse("sa", NULL) == 0 && cmd() == QKDN_CMD_SAE_GET,
	       "sa: sae");

	/* session listen: SAE_LISTEN and how to answer */
	tap_ok(parse("session", "listen", "sae", "B", NULL) == 0 &&
	       cmd() == QKDN_CMD_SAE_LISTEN && has_str(QKDN_A_SAE_ID, "B") &&
	       nattrs() == 1 && req.listen.sae && !strcmp(req.listen.sae, "B") &&
	       !req.listen.refuse &&
	       req.listen.take == QKDNCTL_TAKE_ALL && req.listen.count == 0 &&
	       req.fmt == QKDNCTL_FMT_NONE,
	       "session listen: SAE_LISTEN with SAE_ID; accept, take all, no count");
	tap_ok(parse("session", "listen", "sae", "B", "accept", "take", "3",
		     "count", "2", "format", "hex", NULL) == 0 &&
	       !req.listen.refuse && req.listen.take == 3 &&
	       req.listen.count == 2 && req.fmt == QKDNCTL_FMT_HEX && nattrs() == 1,
	       "session listen: accept, take, count, format");
	tap_ok(parse("se", "l", "t", "n", "s", "B", "c", "4294967295", "f", "b",
		     NULL) == 0 && req.listen.take == 0 &&
	       req.listen.count == UINT32_MAX && req.fmt == QKDNCTL_FMT_BASE64 &&
	       has_str(QKDN_A_SAE_ID, "B"),
	       "session listen: abbreviated, take none, largest count");
	tap_ok(parse("session", "listen", "refuse", "sae", "B", NULL) == 0 &&
	       req.listen.refuse, "session listen: refuse");
	tap_ok(parse("session", "listen", "sae", "B", "take", "128", "take",
		     "all", NULL) == -1 && usage_err("given twice") &&
	       parse("session", "listen", "sae", "B", "take", "all", NULL) == 0 &&
	       req.listen.take == QKDNCTL_TAKE_ALL &&
	       parse("session", "listen", "sae", "B", "take", "128", NULL) == 0 &&
	       req.listen.take == 128, "session listen: take all, take 128");
	tap_ok(BAD("\"sae\" is required", "session", "listen", "accept"),
	       "session listen without sae");
	tap_ok(BAD("give either \"accept\" or \"refuse\"", "session", "listen",
		   "sae", "B", "accept", "refuse"), "accept and refuse");
	tap_ok(BAD("\"accept\" given twice", "session", "listen", "sae", "B",
		   "accept", "a"), "accept twice");
	tap_ok(BAD("unknown keyword \"yes\"", "session", "listen", "sae", "B",
		   "accept", "yes"), "accept takes no value");
	tap_ok(BAD("\"refuse\" takes no", "session", "listen", "sae", "B",
		   "refuse", "count", "1"), "refuse with count");
	tap_ok(BAD("take \"0\" out of range (1..128)", "session", "listen",
		   "sae", "B", "take", "0"), "take 0");
	tap_ok(BAD("take \"129\" out of range (1..128)", "session", "listen",
		   "sae", "B", "take", "129"), "take 129");
	tap_ok(BAD("take is a number (1..128), all or none, not \"some\"",
		   "session", "listen", "sae", "B", "take", "some"), "take some");
	tap_ok(BAD("count \"0\" out of range", "session", "listen", "sae", "B",
		   "count", "0"), "count 0");
	tap_ok(BAD("out of range", "session", "listen", "sae", "B", "count",
		   "4294967296"), "count above 2^32-1");
	tap_ok(BAD("format is hex or base64", "session", "listen", "sae", "B",
		   "format", "raw"), "listen: unknown format");
	tap_ok(BAD("\"take\" needs a value", "session", "listen", "sae", "B",
		   "take"), "take without value");

	/* key get with session ID: "key request with session ID" */
	tap_ok(parse("key", "get", "master", "A", "slave", "B", "session",
		     "3735928559", "number", "4", NULL) == 0 &&
	       cmd() == QKDN_CMD_KEY_GET && has_u32(QKDN_A_SESSION_ID, 3735928559u) &&
	       has_u32(QKDN_A_KEY_NUMBER, 4) && nattrs() == 5,
	       "key get session: KEY_GET with SESSION_ID");
	tap_ok(parse("k", "get", "ma", "A", "sl", "B", "se", "1", "si", "64", NULL) == 0 &&
	       has_u32(QKDN_A_SESSION_ID, 1) && has_u32(QKDN_A_KEY_SIZE, 64),
	       "key get session: abbreviated next to size and slave");
	tap_ok(BAD("session ID \"0\" out of range (1..4294967295)", "key", "get",
		   "master", "A", "slave", "B", "session", "0"), "session 0");
	tap_ok(BAD("invalid session ID \"s1\"", "key", "get", "master", "A",
		   "slave", "B", "session", "s1"), "session not a number");
	tap_ok(BAD("unknown keyword \"session\"", "key", "get-by-id", "master",
		   "A", "slave", "B", "session", "1", "id",
		   "550e8400-e29b-41d4-a716-446655440000"), "get-by-id takes no session");

	/* The answers of the listening SAE */
	memset(&note, 0, sizeof(note));
	tap_ok(!qkdnctl_answer(buf, &note, &l), "answer: nothing to answer");
	note.cmd = QKDN_CMD_SESSION;
	note.session = 77;
	nlh = qkdnctl_answer(buf, &note, &l);
	req.nlh = nlh;
	tap_ok(nlh && !qkdn_parse(nlh, tb) && cmd() == QKDN_CMD_SESSION &&
	       has_u32(QKDN_A_SESSION_ID, 77) && !tb[QKDN_A_ERRNO] && nattrs() == 1 &&
	       nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK),
	       "answer: accept is SESSION with SESSION_ID and no ERRNO");
	l.refuse = true;
	nlh = qkdnctl_answer(buf, &note, &l);
	req.nlh = nlh;
	tap_ok(nlh && !qkdn_parse(nlh, tb) && has_u32(QKDN_A_SESSION_ID, 77) &&
	       has_u32(QKDN_A_ERRNO, ECONNREFUSED) && nattrs() == 2,
	       "answer: refuse is SESSION with ERRNO ECONNREFUSED");
	note.cmd = QKDN_CMD_KEY_SUPPLY;
	note.nids = 3;
	note.ids[0][15] = 1;
	note.ids[1][15] = 2;
	note.ids[2][15] = 3;
	nlh = qkdnctl_answer(buf, &note, &l);
	req.nlh = nlh;
	tap_ok(nlh && !qkdn_parse(nlh, tb) && cmd() == QKDN_CMD_KEY_SUPPLY &&
	       has_u32(QKDN_A_SESSION_ID, 77) && key_id_nests(nlh, &n) && n == 3 &&
	       nattrs() == 4, "answer: key supply names the IDs taken, in order");
	note.nids = 0;
	nlh = qkdnctl_answer(buf, &note, &l);
	req.nlh = nlh;
	tap_ok(nlh && !qkdn_parse(nlh, tb) && has_u32(QKDN_A_SESSION_ID, 77) &&
	       nattrs() == 1, "answer: declining names no key ID");
	req.nlh = NULL;
}

static const struct nlattr *ib[QKDN_A_IPSEC_MAX + 1];

/* The QKDN_A_IPSEC nest of the request into ib: 1 if it is the only
 * top-level attribute and parses. */
static int ipsec_nest(void)
{
	return nattrs() == 1 && tb[QKDN_A_IPSEC] &&
	       !qkdn_parse_ipsec(tb[QKDN_A_IPSEC], ib);
}

static int nest_attrs(void)
{
	const struct nlattr *a;
	int n = 0;

	mnl_attr_for_each_nested(a, tb[QKDN_A_IPSEC])
		n++;
	return n;
}

static int ib_u8(uint16_t type, uint8_t v)
{
	return ib[type] && mnl_attr_get_u8(ib[type]) == v;
}

static int ib_u32(uint16_t type, uint32_t v)
{
	return ib[type] && mnl_attr_get_u32(ib[type]) == v;
}

static int ib_str(uint16_t type, const char *v)
{
	return ib[type] && !strcmp(mnl_attr_get_str(ib[type]), v);
}

static int ib_addr(uint16_t type, const char *v)
{
	uint8_t a[16];
	int af = strchr(v, ':') ? AF_INET6 : AF_INET;
	size_t len = af == AF_INET ? 4 : 16;

	return ib[type] && inet_pton(af, v, a) == 1 &&
	       mnl_attr_get_payload_len(ib[type]) == len &&
	       !memcmp(mnl_attr_get_payload(ib[type]), a, len);
}

/* ipsec add with the required words and those given after them. */
#define IPSEC_ADD(...) \
	parse("ipsec", "add", "id", "1", "peer", "kme-2", "master", "ipsec-a", \
	      "slave", "ipsec-b", "local", "192.168.1.1", "remote", \
	      "192.168.1.2", "src", "10.0.1.0/24", "dst", "10.0.2.0/24", \
	      __VA_ARGS__)
#define IPSEC_BAD(want, ...) (IPSEC_ADD(__VA_ARGS__, NULL) == -1 && usage_err(want))

static void test_ipsec(void)
{
	/* sae add ... kernel: a local SAE only kernel consumers act as */
	tap_ok(parse("sae", "add", "id", "ipsec-a", "kernel", NULL) == 0 &&
	       cmd() == QKDN_CMD_SAE_NEW && has_str(QKDN_A_SAE_ID, "ipsec-a") &&
	       tb[QKDN_A_SAE_KERNEL] &&
	       mnl_attr_get_payload_len(tb[QKDN_A_SAE_KERNEL]) == 0 &&
	       nattrs() == 2, "sae add kernel: SAE_NEW with the SAE_KERNEL flag");
	tap_ok(parse("sae", "a", "k", "i", "x", NULL) == 0 &&
	       tb[QKDN_A_SAE_KERNEL] && has_str(QKDN_A_SAE_ID, "x"),
	       "sae add kernel: abbreviated, before id");
	tap_ok(BAD("\"kernel\" (kernel SAE)", "sae", "add", "id", "x", "kernel",
		   "uid", "1"), "sae add kernel with uid");
	tap_ok(BAD("\"kernel\" (kernel SAE)", "sae", "add", "id", "x", "kernel",
		   "node", "B"), "sae add kernel with node");
	tap_ok(BAD("\"kernel\" (kernel SAE)", "sae", "add", "id", "x", "kernel",
		   "cred", "c"), "sae add kernel with cred");
	tap_ok(BAD("\"kernel\" given twice", "sae", "add", "id", "x", "kernel",
		   "kernel"), "sae add kernel twice");
	tap_ok(BAD("unknown keyword \"kernel\"", "sae", "show", "kernel"),
	       "sae show takes no kernel");

	/* ipsec show, del */
	tap_ok(parse("ipsec", "show", NULL) == 0 && cmd() == QKDN_CMD_IPSEC_GET &&
	       dump() && !nattrs() && req.obj == QKDNCTL_OBJ_IPSEC,
	       "ipsec show: IPSEC_GET dump, no attributes");
	tap_ok(parse("i", NULL) == 0 && cmd() == QKDN_CMD_IPSEC_GET && dump(),
	       "ipsec: show by default, object abbreviated");
	tap_ok(parse("ipsec", "show", "id", "65535", NULL) == 0 && !dump() &&
	       cmd() == QKDN_CMD_IPSEC_GET && ipsec_nest() && nest_attrs() == 1 &&
	       ib_u32(QKDN_A_IPSEC_ID, 65535),
	       "ipsec show id: IPSEC_GET do, IPSEC nest with ID");
	tap_ok(parse("ipsec", "del", "id", "7", NULL) == 0 && !dump() &&
	       cmd() == QKDN_CMD_IPSEC_DEL && ipsec_nest() && nest_attrs() == 1 &&
	       ib_u32(QKDN_A_IPSEC_ID, 7), "ipsec del: IPSEC_DEL, IPSEC nest with ID");
	tap_ok(BAD("\"id\" is required", "ipsec", "del"), "ipsec del without id");
	tap_ok(BAD("ipsec id \"0\" out of range (1..65535)", "ipsec", "del",
		   "id", "0"), "ipsec id 0");
	tap_ok(BAD("ipsec id \"65536\" out of range (1..65535)", "ipsec", "show",
		   "id", "65536"), "ipsec id 65536");
	tap_ok(BAD("invalid ipsec id \"x\"", "ipsec", "del", "id", "x"),
	       "ipsec id not a number");
	tap_ok(BAD("unknown keyword \"peer\"", "ipsec", "del", "id", "1", "peer",
		   "B"), "ipsec del takes only id");
	tap_ok(BAD("unknown command \"set\"", "ipsec", "set"), "ipsec set is no command");

	/* ipsec add */
	tap_ok(IPSEC_ADD(NULL) == 0 && cmd() == QKDN_CMD_IPSEC_NEW && !dump() &&
	       ipsec_nest() && nest_attrs() == 10 &&
	       ib_u32(QKDN_A_IPSEC_ID, 1) && ib_str(QKDN_A_IPSEC_PEER, "kme-2") &&
	       ib_str(QKDN_A_IPSEC_MASTER, "ipsec-a") &&
	       ib_str(QKDN_A_IPSEC_SLAVE, "ipsec-b") &&
	       ib_addr(QKDN_A_IPSEC_LOCAL, "192.168.1.1") &&
	       ib_addr(QKDN_A_IPSEC_REMOTE, "192.168.1.2") &&
	       ib_addr(QKDN_A_IPSEC_SRC, "10.0.1.0") &&
	       ib_u8(QKDN_A_IPSEC_SRC_LEN, 24) &&
	       ib_addr(QKDN_A_IPSEC_DST, "10.0.2.0") &&
	       ib_u8(QKDN_A_IPSEC_DST_LEN, 24),
	       "ipsec add: IPSEC_NEW, required attributes in the IPSEC nest");
	tap_ok(!ib[QKDN_A_IPSEC_KEY_BITS] && !ib[QKDN_A_IPSEC_REKEY_SECONDS] &&
	       !ib[QKDN_A_IPSEC_REKEY_BYTES] && !ib[QKDN_A_IPSEC_HARD_SECONDS] &&
	       !ib[QKDN_A_IPSEC_ON_EXHAUST] && !ib[QKDN_A_IPSEC_PAD],
	       "ipsec add: the kernel's defaults for what is not given, no PAD");
	tap_ok(IPSEC_ADD("key-bits", "128", "rekey", "5", "rekey-bytes", "64M",
			 "lifetime", "15", "on-exhaust", "drop", NULL) == 0 &&
	       ipsec_nest() && nest_attrs() == 15 &&
	       ib_u32(QKDN_A_IPSEC_KEY_BITS, 128) &&
	       ib_u32(QKDN_A_IPSEC_REKEY_SECONDS, 5) &&
	       ib[QKDN_A_IPSEC_REKEY_BYTES] &&
	       mnl_attr_get_u64(ib[QKDN_A_IPSEC_REKEY_BYTES]) == 64ull << 20 &&
	       ib_u32(QKDN_A_IPSEC_HARD_SECONDS, 15) &&
	       ib_u8(QKDN_A_IPSEC_ON_EXHAUST, QKDN_IPSEC_DROP),
	       "ipsec add: key-bits, rekey, rekey-bytes (M), lifetime, on-exhaust drop");
	tap_ok(IPSEC_ADD("on", "k", "key-bits", "256", "rekey", "86400",
			 "rekey-bytes", "0", "lifetime", "172800", NULL) == 0 &&
	       ipsec_nest() && ib_u8(QKDN_A_IPSEC_ON_EXHAUST, QKDN_IPSEC_KEEP) &&
	       ib_u32(QKDN_A_IPSEC_KEY_BITS, 256) &&
	       ib_u32(QKDN_A_IPSEC_REKEY_SECONDS, 86400) &&
	       mnl_attr_get_u64(ib[QKDN_A_IPSEC_REKEY_BYTES]) == 0 &&
	       ib_u32(QKDN_A_IPSEC_HARD_SECONDS, 172800),
	       "ipsec add: on-exhaust keep abbreviated, maxima, rekey-bytes 0");
	tap_ok(IPSEC_ADD("rekey", "1", "lifetime", "2", "rekey-bytes", "3G", NULL) == 0 &&
	       ipsec_nest() && ib_u32(QKDN_A_IPSEC_REKEY_SECONDS, 1) &&
	       ib_u32(QKDN_A_IPSEC_HARD_SECONDS, 2) &&
	       mnl_attr_get_u64(ib[QKDN_A_IPSEC_REKEY_BYTES]) == 3ull << 30,
	       "ipsec add: minima, rekey-bytes above 2^32");
	tap_ok(parse("ipsec", "add", "id", "2", "peer", "kme-1", "master", "a",
		     "slave", "b", "local", "2001:db8::2", "remote", "2001:db8::1",
		     "src", "fd00:2::/64", "dst", "fd00:1::1", NULL) == 0 &&
	       ipsec_nest() && ib_addr(QKDN_A_IPSEC_LOCAL, "2001:db8::2") &&
	       ib_addr(QKDN_A_IPSEC_REMOTE, "2001:db8::1") &&
	       ib_addr(QKDN_A_IPSEC_SRC, "fd00:2::") &&
	       ib_u8(QKDN_A_IPSEC_SRC_LEN, 64) &&
	       ib_addr(QKDN_A_IPSEC_DST, "fd00:1::1") &&
	       ib_u8(QKDN_A_IPSEC_DST_LEN, 128),
	       "ipsec add: IPv6, a prefix without /LEN is a host");
	tap_ok(parse("ipsec", "add", "id", "3", "peer", "B", "master", "a",
		     "slave", "b", "local", "1.1.1.1", "remote", "2.2.2.2",
		     "src", "0.0.0.0/0", "dst", "10.0.0.1", NULL) == 0 &&
	       ipsec_nest() && ib_u8(QKDN_A_IPSEC_SRC_LEN, 0) &&
	       ib_u8(QKDN_A_IPSEC_DST_LEN, 32), "ipsec add: /0 and an IPv4 host");
	tap_ok(parse("i", "a", "i", "4", "p", "B", "m", "a", "sl", "b", "lo",
		     "1.1.1.1", "rem", "2.2.2.2", "sr", "10.0.0.0/8", "d",
		     "11.0.0.0/8", "k", "128", "li", "10", "rekey", "5", NULL) == 0 &&
	       ipsec_nest() && ib_u32(QKDN_A_IPSEC_KEY_BITS, 128) &&
	       ib_u32(QKDN_A_IPSEC_HARD_SECONDS, 10) &&
	       ib_u32(QKDN_A_IPSEC_REKEY_SECONDS, 5),
	       "ipsec add: words abbreviated, rekey exact beside rekey-bytes");

	tap_ok(BAD("\"id\" is required", "ipsec", "add", "peer", "B"),
	       "ipsec add without id");
	tap_ok(BAD("\"dst\" is required", "ipsec", "add", "id", "1", "peer",
		   "kme-2", "master", "a", "slave", "b", "local", "1.1.1.1",
		   "remote", "2.2.2.2", "src", "10.0.0.0/8"), "ipsec add without dst");
	tap_ok(BAD("\"master\" is required", "ipsec", "add", "id", "1", "peer",
		   "kme-2", "slave", "b", "local", "1.1.1.1", "remote", "2.2.2.2",
		   "src", "10.0.0.0/8", "dst", "11.0.0.0/8"),
	       "ipsec add without master");
	tap_ok(IPSEC_BAD("\"rekey\" given twice", "rekey", "5", "rekey", "6"),
	       "ipsec add: rekey twice");
	tap_ok(IPSEC_BAD("\"local\" given twice", "local", "1.1.1.1"),
	       "ipsec add: local twice");
	tap_ok(IPSEC_BAD("ambiguous keyword \"re\"", "re", "5"),
	       "ipsec add: ambiguous keyword (remote, rekey, rekey-bytes)");
	tap_ok(IPSEC_BAD("\"lifetime\" needs a value", "lifetime"),
	       "ipsec add: dangling keyword");
	tap_ok(BAD("ipsec id \"0\" out of range", "ipsec", "add", "id", "0",
		   "peer", "B", "master", "a", "slave", "b", "local", "1.1.1.1",
		   "remote", "2.2.2.2", "src", "10.0.0.0/8", "dst", "11.0.0.0/8"),
	       "ipsec add: id 0");
	tap_ok(IPSEC_BAD("rekey \"0\" out of range (1..86400)", "rekey", "0"),
	       "ipsec add: rekey 0");
	tap_ok(IPSEC_BAD("rekey \"86401\" out of range (1..86400)", "rekey",
			 "86401"), "ipsec add: rekey 86401");
	tap_ok(IPSEC_BAD("invalid rekey \"5s\"", "rekey", "5s"),
	       "ipsec add: rekey with a unit");
	tap_ok(IPSEC_BAD("lifetime \"1\" out of range (2..172800)", "lifetime",
			 "1"), "ipsec add: lifetime 1");
	tap_ok(IPSEC_BAD("lifetime \"172801\" out of range (2..172800)",
			 "lifetime", "172801"), "ipsec add: lifetime 172801");
	tap_ok(IPSEC_ADD("rekey", "10", "lifetime", "15", NULL) == 0 &&
	       ipsec_nest() && ib_u32(QKDN_A_IPSEC_HARD_SECONDS, 15),
	       "ipsec add: lifetime under twice rekey is the kernel's to refuse");
	tap_ok(IPSEC_BAD("key-bits is 128 or 256, not \"192\"", "key-bits",
			 "192"), "ipsec add: key-bits 192");
	tap_ok(IPSEC_BAD("key-bits \"512\" out of range (128..256)", "key-bits",
			 "512"), "ipsec add: key-bits 512");
	tap_ok(IPSEC_BAD("invalid rekey-bytes \"1T\"", "rekey-bytes", "1T"),
	       "ipsec add: rekey-bytes with an unknown suffix");
	tap_ok(IPSEC_BAD("rekey-bytes \"18446744073709551616\" out of range",
			 "rekey-bytes", "18446744073709551616"),
	       "ipsec add: rekey-bytes above 2^64-1");
	tap_ok(IPSEC_BAD("on-exhaust is keep or drop, not \"wait\"",
			 "on-exhaust", "wait"), "ipsec add: on-exhaust wait");
	tap_ok(BAD("invalid local address \"192.168.1\"", "ipsec", "add", "id",
		   "1", "peer", "B", "master", "a", "slave", "b", "local",
		   "192.168.1", "remote", "2.2.2.2", "src", "10.0.0.0/8", "dst",
		   "11.0.0.0/8"), "ipsec add: bad local address");
	tap_ok(BAD("invalid remote address \"2.2.2.2/32\"", "ipsec", "add", "id",
		   "1", "peer", "B", "master", "a", "slave", "b", "local",
		   "1.1.1.1", "remote", "2.2.2.2/32", "src", "10.0.0.0/8", "dst",
		   "11.0.0.0/8"), "ipsec add: an endpoint is no prefix");
	tap_ok(BAD("invalid src prefix \"host/8\"", "ipsec", "add", "id", "1",
		   "peer", "B", "master", "a", "slave", "b", "local", "1.1.1.1",
		   "remote", "2.2.2.2", "src", "host/8", "dst", "11.0.0.0/8"),
	       "ipsec add: a name is no address");
	tap_ok(BAD("prefix length \"33\" out of range (0..32)", "ipsec", "add",
		   "id", "1", "peer", "B", "master", "a", "slave", "b", "local",
		   "1.1.1.1", "remote", "2.2.2.2", "src", "10.0.0.0/33", "dst",
		   "11.0.0.0/8"), "ipsec add: IPv4 prefix length 33");
	tap_ok(BAD("prefix length \"129\" out of range (0..128)", "ipsec", "add",
		   "id", "1", "peer", "B", "master", "a", "slave", "b", "local",
		   "::1", "remote", "::2", "src", "::/0", "dst", "fd00::/129"),
	       "ipsec add: IPv6 prefix length 129");
	tap_ok(BAD("invalid prefix length \"\"", "ipsec", "add", "id", "1",
		   "peer", "B", "master", "a", "slave", "b", "local", "1.1.1.1",
		   "remote", "2.2.2.2", "src", "10.0.0.0/", "dst", "11.0.0.0/8"),
	       "ipsec add: empty prefix length");
	tap_ok(BAD("must all be IPv4 or all IPv6", "ipsec", "add", "id", "1", "peer", "B",
		   "master", "a", "slave", "b", "local", "1.1.1.1", "remote",
		   "2.2.2.2", "src", "10.0.0.0/8", "dst", "fd00::/8"),
	       "ipsec add: selectors of two families");
	tap_ok(BAD("must all be IPv4 or all IPv6", "ipsec", "add", "id", "1", "peer", "B",
		   "master", "a", "slave", "b", "local", "::1", "remote",
		   "2.2.2.2", "src", "10.0.0.0/8", "dst", "11.0.0.0/8"),
	       "ipsec add: endpoints of two families");
	tap_ok(BAD("master SAE id must be 1 to 63", "ipsec", "add", "id", "1",
		   "peer", "B", "master", "", "slave", "b", "local", "1.1.1.1",
		   "remote", "2.2.2.2", "src", "10.0.0.0/8", "dst", "11.0.0.0/8"),
	       "ipsec add: empty master");
	tap_ok(BAD("peer node id contains a control character", "ipsec", "add",
		   "id", "1", "peer", "B\n", "master", "a", "slave", "b", "local",
		   "1.1.1.1", "remote", "2.2.2.2", "src", "10.0.0.0/8", "dst",
		   "11.0.0.0/8"), "ipsec add: control character in peer");
	tap_ok(parse("ipsec", "help", NULL) == 0 && req.help &&
	       req.obj == QKDNCTL_OBJ_IPSEC && !req.nlh, "ipsec help");
}

static int split(const char *text, char **argv, int max)
{
	static char line[256];

	snprintf(line, sizeof(line), "%s", text);
	return qkdnctl_split(line, argv, max);
}

static void test_batch(void)
{
	struct qkdnctl_opts o;
	char err[128], *w[8];
	char *a1[] = { "qkdnctl", "-j", "-n", "ns1", "-b", "cmds", NULL };
	char *a2[] = { "qkdnctl", "--batch", "-", NULL };
	char *a3[] = { "qkdnctl", "-b", NULL };

	tap_ok(qkdnctl_parse_opts(6, a1, &o, err, sizeof(err)) == 6 && o.json &&
	       !strcmp(o.netns, "ns1") && o.batch && !strcmp(o.batch, "cmds"),
	       "batch: -b FILE with other options, no object");
	tap_ok(qkdnctl_parse_opts(3, a2, &o, err, sizeof(err)) == 3 &&
	       o.batch && !strcmp(o.batch, "-"), "batch: --batch -");
	tap_ok(qkdnctl_parse_opts(2, a3, &o, err, sizeof(err)) == -1 &&
	       strstr(err, "-b needs a FILE"), "batch: -b without FILE");

	tap_ok(split("link add id 1  peer\tkme-2\n", w, 8) == 6 &&
	       !strcmp(w[0], "link") && !strcmp(w[3], "1") &&
	       !strcmp(w[5], "kme-2") && !w[6],
	       "batch line: blanks and tabs separate words, newline dropped");
	tap_ok(split("  \t\r\n", w, 8) == 0 && !w[0], "batch line: blank");
	tap_ok(split("# node set id x", w, 8) == 0, "batch line: a comment");
	tap_ok(split("node show # the node", w, 8) == 2 && !w[2],
	       "batch line: a comment after the command");
	tap_ok(split("sae add id a#b uid 1", w, 8) == 6 && !strcmp(w[3], "a#b"),
	       "batch line: # inside a word is not a comment");
	tap_ok(split("1 2 3 4 5 6 7", w, 8) == 7 &&
	       split("1 2 3 4 5 6 7 8", w, 8) == -1,
	       "batch line: at most max - 1 words");
}

int main(void)
{
	buf = malloc(QKDN_BUF_SIZE);
	tap_plan(7 + 16 + 25 + 17 + 5 + 19 + 13 + 3 + 9 + 9 + 36 + 55);
	test_opts();
	test_node();
	test_link();
	test_sae();
	test_pool();
	test_key();
	test_multicast();
	test_monitor();
	test_batch();
	test_route_ctrl();
	test_session();
	test_ipsec();
	free(buf);
	return tap_done();
}
