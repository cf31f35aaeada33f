// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl: replies and events as text (one object per line or paragraph,
 * "keyword value" pairs) or JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/genetlink.h>

#include "qkdnctl.h"

struct stat_field {
	uint16_t type;
	const char *group;	/* text: the line it goes on */
	const char *name;	/* text: keyword within the line */
	const char *json;
};

static const struct stat_field stat_fields[] = {
	{ QKDN_A_STATS_BLOCKS_IN, "blocks", "in", "blocks_in" },
	{ QKDN_A_STATS_BLOCKS_USABLE, "blocks", "usable", "blocks_usable" },
	{ QKDN_A_STATS_BLOCKS_DISCARDED, "blocks", "discarded", "blocks_discarded" },
	{ QKDN_A_STATS_BLOCKS_ABORTED, "blocks", "aborted", "blocks_aborted" },
	{ QKDN_A_STATS_BLOCKS_DROPPED, "blocks", "dropped", "blocks_dropped" },
	{ QKDN_A_STATS_KEYS_RESERVED, "keys", "reserved", "keys_reserved" },
	{ QKDN_A_STATS_KEYS_RECEIVED, "keys", "received", "keys_received" },
	{ QKDN_A_STATS_KEYS_SUPPLIED, "keys", "supplied", "keys_supplied" },
	{ QKDN_A_STATS_FRAMES_TX, "frames", "tx", "frames_tx" },
	{ QKDN_A_STATS_FRAMES_RX, "frames", "rx", "frames_rx" },
	{ QKDN_A_STATS_FRAMES_RETX, "frames", "retx", "frames_retx" },
	{ QKDN_A_STATS_FRAMES_BAD, "frames", "bad", "frames_bad" },
	{ QKDN_A_STATS_FRAMES_STALE, "frames", "stale", "frames_stale" },
	{ QKDN_A_STATS_PEER_RESETS, "peer", "resets", "peer_resets" },
	/* key relay: frames and pool bytes (links and node) */
	{ QKDN_A_STATS_RELAY_TX, "relay", "tx", "relay_tx" },
	{ QKDN_A_STATS_RELAY_RX, "relay", "rx", "relay_rx" },
	{ QKDN_A_STATS_RELAY_KEY_BYTES, "relay", "key_bytes", "relay_key_bytes" },
	{ QKDN_A_STATS_RELAY_PAD_BYTES, "relay", "pad_bytes", "relay_pad_bytes" },
	{ QKDN_A_STATS_RELAY_MAC_BYTES, "relay", "mac_bytes", "relay_mac_bytes" },
	{ QKDN_A_STATS_RELAY_MAC_FAIL, "relay", "mac_fail", "relay_mac_fail" },
	/* key relays by outcome (node) */
	{ QKDN_A_STATS_RELAYS_STARTED, "relays", "started", "relays_started" },
	{ QKDN_A_STATS_RELAYS_DONE, "relays", "done", "relays_done" },
	{ QKDN_A_STATS_RELAYS_FAILED, "relays", "failed", "relays_failed" },
	{ QKDN_A_STATS_RELAYS_FORWARDED, "relays", "forwarded", "relays_forwarded" },
	{ QKDN_A_STATS_RELAYS_ENDED, "relays", "ended", "relays_ended" },
	{ QKDN_A_STATS_RELAYS_ABORTED, "relays", "aborted", "relays_aborted" },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Attributes by kind, for the field tables below. */
enum fkind { F_STR, F_U8, F_U32, F_U64 };

struct field {
	uint16_t type;
	enum fkind kind;
	const char *text;	/* keyword in text output */
	const char *json;	/* member name in JSON */
};

static uint64_t field_u64(const struct nlattr *a, enum fkind kind)
{
	switch (kind) {
	case F_U8:
		return mnl_attr_get_u8(a);
	case F_U32:
		return mnl_attr_get_u32(a);
	case F_U64:
		return mnl_attr_get_u64(a);
	default:
		return 0;
	}
}

/* Text: " keyword value" for each present field; u8 fields are on/off. */
static void text_fields_sep(FILE *f, const struct nlattr **tb,
			    const struct field *fl, size_t n, bool space)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct nlattr *a = tb[fl[i].type];

		if (!a)
			continue;
		if (space)
			fputc(' ', f);
		space = true;
		if (fl[i].kind == F_STR)
			fprintf(f, "%s %s", fl[i].text, mnl_attr_get_str(a));
		else if (fl[i].kind == F_U8)
			fprintf(f, "%s %s", fl[i].text,
				mnl_attr_get_u8(a) ? "on" : "off");
		else
			fprintf(f, "%s %" PRIu64, fl[i].text,
				field_u64(a, fl[i].kind));
	}
}

static void text_fields(FILE *f, const struct nlattr **tb,
			const struct field *fl, size_t n)
{
	text_fields_sep(f, tb, fl, n, true);
}

static void json_fields(struct qkdnctl_json *jw, const struct nlattr **tb,
			const struct field *fl, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct nlattr *a = tb[fl[i].type];

		if (!a)
			continue;
		if (fl[i].kind == F_STR)
			qkdnctl_json_str(jw, fl[i].json, mnl_attr_get_str(a));
		else if (fl[i].kind == F_U8)
			qkdnctl_json_bool(jw, fl[i].json, mnl_attr_get_u8(a));
		else
			qkdnctl_json_u64(jw, fl[i].json, field_u64(a, fl[i].kind));
	}
}

static int print_stats(struct qkdnctl_out *out, const struct nlattr *nest)
{
	const struct nlattr *tb[QKDN_A_STATS_MAX + 1];
	const char *group = NULL;
	size_t i;

	if (!nest)
		return 0;
	if (qkdn_parse_stats(nest, tb))
		return -1;
	if (out->jw)
		qkdnctl_json_obj(out->jw, "stats");
	for (i = 0; i < ARRAY_SIZE(stat_fields); i++) {
		const struct stat_field *s = &stat_fields[i];
		uint64_t v;

		if (!tb[s->type])
			continue;
		v = mnl_attr_get_u64(tb[s->type]);
		if (out->jw) {
			qkdnctl_json_u64(out->jw, s->json, v);
			continue;
		}
		if (!group || strcmp(group, s->group)) {
			fprintf(out->f, "%s\t%s", group ? "\n" : "", s->group);
			group = s->group;
		}
		fprintf(out->f, " %s %" PRIu64, s->name, v);
	}
	if (out->jw)
		qkdnctl_json_end(out->jw);
	else if (group)
		fputc('\n', out->f);
	return 0;
}

void qkdnctl_print_begin(struct qkdnctl_out *out)
{
	if (!out->jw || out->started)
		return;
	out->started = true;
	switch (out->obj) {
	case QKDNCTL_OBJ_LINK:
	case QKDNCTL_OBJ_SAE:
	case QKDNCTL_OBJ_POOL:
	case QKDNCTL_OBJ_ROUTE:
	case QKDNCTL_OBJ_IPSEC:
		qkdnctl_json_arr(out->jw, NULL);
		break;
	case QKDNCTL_OBJ_KEY:
		qkdnctl_json_obj(out->jw, NULL);
		qkdnctl_json_arr(out->jw, "keys");
		break;
	default:
		out->started = false;	/* nothing to wrap */
		break;
	}
}

void qkdnctl_print_end(struct qkdnctl_out *out)
{
	if (!out->jw || !out->started)
		return;
	qkdnctl_json_end(out->jw);
	if (out->obj == QKDNCTL_OBJ_KEY)
		qkdnctl_json_end(out->jw);
	out->started = false;
}

static const struct field node_fields[] = {
	{ QKDN_A_NODE_ID, F_STR, "node", "node_id" },
};

/* enum qkdn_ctrl_mode by name; "mode-N" (in buf) for one not known. */
static const char *ctrl_mode_name(uint8_t mode, char *buf, size_t len)
{
	switch (mode) {
	case QKDN_CTRL_DISTRIBUTED:
		return "distributed";
	case QKDN_CTRL_CENTRALIZED:
		return "centralized";
	}
	snprintf(buf, len, "mode-%u", mode);
	return buf;
}

static int print_node(struct qkdnctl_out *out, const struct nlattr **tb)
{
	const char *mode = NULL;
	char mbuf[16];

	if (tb[QKDN_A_CTRL_MODE])
		mode = ctrl_mode_name(mnl_attr_get_u8(tb[QKDN_A_CTRL_MODE]),
				      mbuf, sizeof(mbuf));
	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		json_fields(out->jw, tb, node_fields, ARRAY_SIZE(node_fields));
		if (mode)
			qkdnctl_json_str(out->jw, "ctrl_mode", mode);
	} else {
		fprintf(out->f, "node %s", tb[QKDN_A_NODE_ID] ?
			mnl_attr_get_str(tb[QKDN_A_NODE_ID]) : "(none)");
		if (mode)
			fprintf(out->f, " ctrl-mode %s", mode);
		fputc('\n', out->f);
	}
	if (print_stats(out, tb[QKDN_A_STATS]))
		return -1;
	if (out->jw)
		qkdnctl_json_end(out->jw);
	return 0;
}

static const struct field link_fields[] = {
	{ QKDN_A_LINK_ID, F_U32, "link", "link_id" },
	{ QKDN_A_PEER_NODE_ID, F_STR, "peer", "peer_node_id" },
	{ QKDN_A_DEVICE, F_STR, "device", "device" },
	{ QKDN_A_LINK_UP, F_U8, "up", "up" },
	{ QKDN_A_DEVICE_RUNNING, F_U8, "running", "running" },
	{ QKDN_A_RATE, F_U64, "rate", "rate" },
	{ QKDN_A_POOL_CAPACITY, F_U32, "capacity", "capacity" },
	{ QKDN_A_POOL_LOW, F_U32, "low", "low" },
};

static int print_link(struct qkdnctl_out *out, const struct nlattr **tb)
{
	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		json_fields(out->jw, tb, link_fields, ARRAY_SIZE(link_fields));
	} else {
		/* link 1 peer B device qkdsim0 state up running on rate N */
		fputs("link", out->f);
		if (tb[QKDN_A_LINK_ID])
			fprintf(out->f, " %u", mnl_attr_get_u32(tb[QKDN_A_LINK_ID]));
		text_fields(out->f, tb, link_fields + 1, 2);
		if (tb[QKDN_A_LINK_UP])
			fprintf(out->f, " state %s",
				mnl_attr_get_u8(tb[QKDN_A_LINK_UP]) ? "up" : "down");
		text_fields(out->f, tb, link_fields + 4, 2);
		fputc('\n', out->f);
		if (tb[QKDN_A_POOL_CAPACITY] || tb[QKDN_A_POOL_LOW]) {
			fputs("\tpool", out->f);
			text_fields(out->f, tb, link_fields + 6, 2);
			fputc('\n', out->f);
		}
	}
	if (print_stats(out, tb[QKDN_A_STATS]))
		return -1;
	if (out->jw)
		qkdnctl_json_end(out->jw);
	return 0;
}

static const struct field sae_fields[] = {
	{ QKDN_A_SAE_ID, F_STR, "sae", "sae_id" },
	{ QKDN_A_SAE_UID, F_U32, "uid", "uid" },
	{ QKDN_A_SAE_CRED, F_STR, "cred", "cred" },
	{ QKDN_A_SAE_NODE_ID, F_STR, "node", "node_id" },
};

/* A kernel SAE (QKDN_A_SAE_KERNEL): "kernel" (text), "kernel": true. */
static int print_sae(struct qkdnctl_out *out, const struct nlattr **tb)
{
	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		json_fields(out->jw, tb, sae_fields, ARRAY_SIZE(sae_fields));
		if (tb[QKDN_A_SAE_KERNEL])
			qkdnctl_json_bool(out->jw, "kernel", true);
		qkdnctl_json_end(out->jw);
		return 0;
	}
	fputs("sae", out->f);
	if (tb[QKDN_A_SAE_ID])
		fprintf(out->f, " %s", mnl_attr_get_str(tb[QKDN_A_SAE_ID]));
	text_fields(out->f, tb, sae_fields + 1, ARRAY_SIZE(sae_fields) - 1);
	if (tb[QKDN_A_SAE_KERNEL])
		fputs(" kernel", out->f);
	fputc('\n', out->f);
	return 0;
}

/* ETSI GS QKD 014 "Status" names where it has one. */
static const struct field pool_fields[] = {
	{ QKDN_A_LINK_ID, F_U32, "link", "link_id" },
	{ QKDN_A_NODE_ID, F_STR, "source", "source_KME_ID" },
	{ QKDN_A_PEER_NODE_ID, F_STR, "target", "target_KME_ID" },
	{ QKDN_A_MASTER_SAE_ID, F_STR, "master", "master_SAE_ID" },
	{ QKDN_A_SLAVE_SAE_ID, F_STR, "slave", "slave_SAE_ID" },
	/* second line */
	{ QKDN_A_POOL_KEY_SIZE, F_U32, "key_size", "key_size" },
	{ QKDN_A_POOL_STORED_KEY_COUNT, F_U32, "stored_key_count", "stored_key_count" },
	{ QKDN_A_POOL_MAX_KEY_COUNT, F_U32, "max_key_count", "max_key_count" },
	{ QKDN_A_POOL_MAX_KEY_PER_REQUEST, F_U32, "max_key_per_request",
	  "max_key_per_request" },
	/* third line */
	{ QKDN_A_POOL_MAX_KEY_SIZE, F_U32, "max_key_size", "max_key_size" },
	{ QKDN_A_POOL_MIN_KEY_SIZE, F_U32, "min_key_size", "min_key_size" },
	{ QKDN_A_POOL_RESERVED_KEYS, F_U32, "reserved_keys", "reserved_keys" },
	/* fourth line */
	{ QKDN_A_POOL_OWN_BYTES, F_U64, "own_bytes", "own_bytes" },
	{ QKDN_A_POOL_PEER_BYTES, F_U64, "peer_bytes", "peer_bytes" },
	{ QKDN_A_POOL_PENDING_BYTES, F_U64, "pending_bytes", "pending_bytes" },
	{ QKDN_A_POOL_CAPACITY, F_U32, "capacity", "capacity" },
};

static bool any_field(const struct nlattr **tb, const struct field *fl, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (tb[fl[i].type])
			return true;
	return false;
}

static int print_pool(struct qkdnctl_out *out, const struct nlattr **tb)
{
	static const size_t lines[] = { 0, 5, 9, 12, ARRAY_SIZE(pool_fields) };
	size_t i;

	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		json_fields(out->jw, tb, pool_fields, ARRAY_SIZE(pool_fields));
		qkdnctl_json_end(out->jw);
		return 0;
	}
	fputs("pool", out->f);
	text_fields(out->f, tb, pool_fields, lines[1]);
	fputc('\n', out->f);
	for (i = 1; i + 1 < ARRAY_SIZE(lines); i++) {
		const struct field *fl = pool_fields + lines[i];
		size_t n = lines[i + 1] - lines[i];

		if (!any_field(tb, fl, n))
			continue;
		fputc('\t', out->f);
		text_fields_sep(out->f, tb, fl, n, false);
		fputc('\n', out->f);
	}
	return 0;
}

/*
 * route dst D via N path A -> B -> D metric M avail_bytes B: the path has
 * blanks, so scripts read -j.
 */
static int print_route(struct qkdnctl_out *out, const struct nlattr **tb)
{
	const char *nodes[QKDN_ROUTE_HOPS_MAX];
	int i, n = 0;

	if (tb[QKDN_A_ROUTE]) {
		n = qkdn_parse_route(tb[QKDN_A_ROUTE], nodes, QKDN_ROUTE_HOPS_MAX);
		if (n < 0)
			return -1;
	}
	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		if (tb[QKDN_A_DST_NODE_ID])
			qkdnctl_json_str(out->jw, "dst_node_id",
					 mnl_attr_get_str(tb[QKDN_A_DST_NODE_ID]));
		if (tb[QKDN_A_NEXT_HOP])
			qkdnctl_json_str(out->jw, "next_hop",
					 mnl_attr_get_str(tb[QKDN_A_NEXT_HOP]));
		if (tb[QKDN_A_ROUTE]) {
			qkdnctl_json_arr(out->jw, "path");
			for (i = 0; i < n; i++)
				qkdnctl_json_str(out->jw, NULL, nodes[i]);
			qkdnctl_json_end(out->jw);
		}
		if (tb[QKDN_A_ROUTE_METRIC])
			qkdnctl_json_u64(out->jw, "metric",
					 mnl_attr_get_u32(tb[QKDN_A_ROUTE_METRIC]));
		if (tb[QKDN_A_ROUTE_AVAIL])
			qkdnctl_json_u64(out->jw, "avail_bytes",
					 mnl_attr_get_u64(tb[QKDN_A_ROUTE_AVAIL]));
		qkdnctl_json_end(out->jw);
		return 0;
	}
	fputs("route", out->f);
	if (tb[QKDN_A_DST_NODE_ID])
		fprintf(out->f, " %s", mnl_attr_get_str(tb[QKDN_A_DST_NODE_ID]));
	if (tb[QKDN_A_NEXT_HOP])
		fprintf(out->f, " via %s", mnl_attr_get_str(tb[QKDN_A_NEXT_HOP]));
	if (n > 0) {
		fputs(" path", out->f);
		for (i = 0; i < n; i++)
			fprintf(out->f, "%s%s", i ? " -> " : " ", nodes[i]);
	}
	if (tb[QKDN_A_ROUTE_METRIC])
		fprintf(out->f, " metric %u", mnl_attr_get_u32(tb[QKDN_A_ROUTE_METRIC]));
	if (tb[QKDN_A_ROUTE_AVAIL])
		fprintf(out->f, " avail_bytes %" PRIu64,
			mnl_attr_get_u64(tb[QKDN_A_ROUTE_AVAIL]));
	fputc('\n', out->f);
	return 0;
}

/* Key bytes as text: hex of 8192 bits is the longest. */
#define KEY_TEXT_MAX	(2 * QKDN_KEY_SIZE_MAX / 8 + 1)

/* One key: a JSON object, or a text line after indent. */
static int print_key(struct qkdnctl_out *out, const struct nlattr *nest,
		     const char *indent)
{
	const struct nlattr *kb[QKDN_A_KEY_MAX + 1];
	char uuid[QKDN_UUID_STR_LEN];
	char text[KEY_TEXT_MAX];
	const uint8_t *data;
	size_t len;
	int ret = 0;

	if (qkdn_parse_key(nest, kb) || !kb[QKDN_A_KEY_ID]) {
		errno = EBADMSG;
		return -1;
	}
	qkdn_uuid_fmt(mnl_attr_get_payload(kb[QKDN_A_KEY_ID]), uuid);
	text[0] = '\0';
	if (out->fmt != QKDNCTL_FMT_NONE) {
		if (!kb[QKDN_A_KEY_DATA]) {
			errno = EBADMSG;
			return -1;
		}
		data = mnl_attr_get_payload(kb[QKDN_A_KEY_DATA]);
		len = mnl_attr_get_payload_len(kb[QKDN_A_KEY_DATA]);
		if (out->fmt == QKDNCTL_FMT_HEX)
			ret = qkdn_hex_encode(data, len, text, sizeof(text));
		else
			ret = qkdn_b64_encode(data, len, text, sizeof(text));
	}
	if (ret >= 0) {
		if (out->jw) {
			qkdnctl_json_obj(out->jw, NULL);
			qkdnctl_json_str(out->jw, "key_ID", uuid);
			if (out->fmt != QKDNCTL_FMT_NONE)
				qkdnctl_json_str(out->jw, "key", text);
			qkdnctl_json_end(out->jw);
		} else if (out->fmt != QKDNCTL_FMT_NONE) {
			fprintf(out->f, "%skey_ID %s %s\n", indent, uuid, text);
		} else {
			fprintf(out->f, "%skey_ID %s\n", indent, uuid);
		}
	} else {
		errno = EBADMSG;
	}
	qkdn_memzero(text, sizeof(text));
	return ret < 0 ? -1 : 0;
}

static int print_keys(struct qkdnctl_out *out, const struct nlmsghdr *nlh)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		if (mnl_attr_get_type(a) != QKDN_A_KEY)
			continue;
		if (print_key(out, a, ""))
			return -1;
		out->count++;
	}
	return 0;
}

/* A session: the reply to "session creation request", and the
 * "session creation notification" (which names the source KM too). */
static const struct field session_fields[] = {
	{ QKDN_A_SESSION_ID, F_U32, "session", "session_ID" },
	{ QKDN_A_MASTER_SAE_ID, F_STR, "master", "master_SAE_ID" },
	{ QKDN_A_SLAVE_SAE_ID, F_STR, "slave", "slave_SAE_ID" },
	{ QKDN_A_SRC_NODE_ID, F_STR, "src", "src_node_id" },
};

static int print_session(struct qkdnctl_out *out, const struct nlattr **tb)
{
	if (!tb[QKDN_A_SESSION_ID])
		return -1;
	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		json_fields(out->jw, tb, session_fields, ARRAY_SIZE(session_fields));
		qkdnctl_json_end(out->jw);
		return 0;
	}
	text_fields_sep(out->f, tb, session_fields, ARRAY_SIZE(session_fields),
			false);
	fputc('\n', out->f);
	return 0;
}

/* ---- IPsec tunnels: ipsec show and the ipsec-* events ---- */

/* An enum value by name, or "WHAT-N" (in buf) for one not known. */
static const char *enum_name(const char *const *names, size_t n, unsigned int v,
			     const char *what, char *buf, size_t len)
{
	if (v < n)
		return names[v];
	snprintf(buf, len, "%s-%u", what, v);
	return buf;
}

/* A tunnel's attributes, with the values that are not plain numbers
 * already as text, so that a malformed one prints nothing. */
struct ipsec_view {
	const struct nlattr *tb[QKDN_A_IPSEC_MAX + 1];
	const char *role, *state, *exhaust;
	char rbuf[16], sbuf[16], ebuf[16];
	char key_out[QKDN_UUID_STR_LEN], key_in[QKDN_UUID_STR_LEN];
	char local[INET6_ADDRSTRLEN], remote[INET6_ADDRSTRLEN];
	char src[INET6_ADDRSTRLEN + 4], dst[INET6_ADDRSTRLEN + 4];
	uint32_t err;		/* QKDN_A_ERRNO, 0 if none */
	const char *errmsg;	/* QKDN_A_ERRMSG, or NULL */
};

/* Address attribute type as text into buf ("" if absent), with the prefix
 * length of plen ("/24") when there is one. */
static void ipsec_addr(const struct ipsec_view *v, uint16_t type, uint16_t plen,
		       char *buf, size_t len)
{
	const struct nlattr *a = v->tb[type];
	char text[INET6_ADDRSTRLEN];
	size_t n;

	buf[0] = '\0';
	if (!a)
		return;
	n = mnl_attr_get_payload_len(a);	/* 4 or 16: qkdn_parse_ipsec() */
	inet_ntop(n == 4 ? AF_INET : AF_INET6, mnl_attr_get_payload(a), text,
		  sizeof(text));
	if (plen && v->tb[plen])
		snprintf(buf, len, "%s/%u", text, mnl_attr_get_u8(v->tb[plen]));
	else
		snprintf(buf, len, "%s", text);
}

static int ipsec_view(struct ipsec_view *v, const struct nlattr *nest,
		      const struct nlattr **tb)
{
	static const char *const roles[] = { "initiator", "responder" };
	static const char *const states[] = { "idle", "up", "stale", "down" };
	static const char *const exhausts[] = { "keep", "drop" };
	const struct nlattr **ib = v->tb;

	if (!nest || qkdn_parse_ipsec(nest, ib) || !ib[QKDN_A_IPSEC_ID])
		return -1;
	v->role = ib[QKDN_A_IPSEC_ROLE] ?
		  enum_name(roles, ARRAY_SIZE(roles),
			    mnl_attr_get_u8(ib[QKDN_A_IPSEC_ROLE]), "role",
			    v->rbuf, sizeof(v->rbuf)) : NULL;
	v->state = ib[QKDN_A_IPSEC_STATE] ?
		   enum_name(states, ARRAY_SIZE(states),
			     mnl_attr_get_u8(ib[QKDN_A_IPSEC_STATE]), "state",
			     v->sbuf, sizeof(v->sbuf)) : NULL;
	v->exhaust = ib[QKDN_A_IPSEC_ON_EXHAUST] ?
		     enum_name(exhausts, ARRAY_SIZE(exhausts),
			       mnl_attr_get_u8(ib[QKDN_A_IPSEC_ON_EXHAUST]),
			       "exhaust", v->ebuf, sizeof(v->ebuf)) : NULL;
	v->key_out[0] = v->key_in[0] = '\0';
	if (ib[QKDN_A_IPSEC_KEY_ID_OUT])
		qkdn_uuid_fmt(mnl_attr_get_payload(ib[QKDN_A_IPSEC_KEY_ID_OUT]),
			      v->key_out);
	if (ib[QKDN_A_IPSEC_KEY_ID_IN])
		qkdn_uuid_fmt(mnl_attr_get_payload(ib[QKDN_A_IPSEC_KEY_ID_IN]),
			      v->key_in);
	ipsec_addr(v, QKDN_A_IPSEC_LOCAL, 0, v->local, sizeof(v->local));
	ipsec_addr(v, QKDN_A_IPSEC_REMOTE, 0, v->remote, sizeof(v->remote));
	ipsec_addr(v, QKDN_A_IPSEC_SRC, QKDN_A_IPSEC_SRC_LEN, v->src,
		   sizeof(v->src));
	ipsec_addr(v, QKDN_A_IPSEC_DST, QKDN_A_IPSEC_DST_LEN, v->dst,
		   sizeof(v->dst));
	v->err = tb[QKDN_A_ERRNO] ? mnl_attr_get_u32(tb[QKDN_A_ERRNO]) : 0;
	v->errmsg = tb[QKDN_A_ERRMSG] ? mnl_attr_get_str(tb[QKDN_A_ERRMSG]) : NULL;
	return 0;
}

/* The state of the SAs, in print order; ROLE and STATE come before. */
static const struct field ipsec_sa_fields[] = {
	{ QKDN_A_IPSEC_GEN, F_U32, "gen", "gen" },
	{ QKDN_A_IPSEC_SPI_OUT, F_U32, "spi-out", "spi_out" },
	{ QKDN_A_IPSEC_SPI_IN, F_U32, "spi-in", "spi_in" },
	{ QKDN_A_IPSEC_KEY_ID_OUT, F_STR, "key-out", "key_id_out" },
	{ QKDN_A_IPSEC_KEY_ID_IN, F_STR, "key-in", "key_id_in" },
	{ QKDN_A_IPSEC_REKEYS, F_U64, "rekeys", "rekeys" },
	{ QKDN_A_IPSEC_FAILURES, F_U64, "failures", "failures" },
	{ QKDN_A_IPSEC_REKEY_USEC, F_U32, "rekey-usec", "rekey_usec" },
};

/* The configuration (ipsec show only), in print order. */
static const struct field ipsec_conf_fields[] = {
	{ QKDN_A_IPSEC_MASTER, F_STR, "master", "master" },
	{ QKDN_A_IPSEC_SLAVE, F_STR, "slave", "slave" },
	{ QKDN_A_IPSEC_LOCAL, F_STR, "local", "local" },
	{ QKDN_A_IPSEC_REMOTE, F_STR, "remote", "remote" },
	{ QKDN_A_IPSEC_SRC, F_STR, "src", "src" },
	{ QKDN_A_IPSEC_DST, F_STR, "dst", "dst" },
	/* second line */
	{ QKDN_A_IPSEC_KEY_BITS, F_U32, "key-bits", "key_bits" },
	{ QKDN_A_IPSEC_REKEY_SECONDS, F_U32, "rekey", "rekey" },
	{ QKDN_A_IPSEC_REKEY_BYTES, F_U64, "rekey-bytes", "rekey_bytes" },
	{ QKDN_A_IPSEC_HARD_SECONDS, F_U32, "lifetime", "lifetime" },
	{ QKDN_A_IPSEC_ON_EXHAUST, F_STR, "on-exhaust", "on_exhaust" },
};

#define IPSEC_CONF_LINE2 6

/* The text of a field of the view: what is not a plain string or number
 * in the nest. NULL for a number. */
static const char *ipsec_text(const struct ipsec_view *v, uint16_t type)
{
	switch (type) {
	case QKDN_A_IPSEC_KEY_ID_OUT:
		return v->key_out;
	case QKDN_A_IPSEC_KEY_ID_IN:
		return v->key_in;
	case QKDN_A_IPSEC_LOCAL:
		return v->local;
	case QKDN_A_IPSEC_REMOTE:
		return v->remote;
	case QKDN_A_IPSEC_SRC:
		return v->src;
	case QKDN_A_IPSEC_DST:
		return v->dst;
	case QKDN_A_IPSEC_ON_EXHAUST:
		return v->exhaust;
	}
	return NULL;
}

static void ipsec_json_fields(struct qkdnctl_json *jw,
			      const struct ipsec_view *v,
			      const struct field *fl, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct nlattr *a = v->tb[fl[i].type];
		const char *text = ipsec_text(v, fl[i].type);

		if (!a)
			continue;
		if (fl[i].kind == F_STR)
			qkdnctl_json_str(jw, fl[i].json,
					 text ? text : mnl_attr_get_str(a));
		else
			qkdnctl_json_u64(jw, fl[i].json, field_u64(a, fl[i].kind));
	}
}

/* Text: " keyword value"; SPIs in hex, as ip xfrm shows them. */
static void ipsec_text_fields(FILE *f, const struct ipsec_view *v,
			      const struct field *fl, size_t n, bool space)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct nlattr *a = v->tb[fl[i].type];
		const char *text = ipsec_text(v, fl[i].type);

		if (!a)
			continue;
		fprintf(f, "%s%s ", space ? " " : "", fl[i].text);
		space = true;
		if (fl[i].kind == F_STR)
			fputs(text ? text : mnl_attr_get_str(a), f);
		else if (fl[i].type == QKDN_A_IPSEC_SPI_OUT ||
			 fl[i].type == QKDN_A_IPSEC_SPI_IN)
			fprintf(f, "0x%08x", mnl_attr_get_u32(a));
		else
			fprintf(f, "%" PRIu64, field_u64(a, fl[i].kind));
	}
}

/* A string from the kernel in text output, control characters as '?'. */
static void text_plain(FILE *f, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

/* The last failure: "error ENOKEY: why" (text, after sep), "errno" and
 * "error" (JSON). */
static void ipsec_error(struct qkdnctl_out *out, const struct ipsec_view *v,
			const char *sep)
{
	const char *name = v->err ? strerrorname_np((int)v->err) : NULL;

	if (out->jw) {
		if (v->err)
			qkdnctl_json_u64(out->jw, "errno", v->err);
		if (v->errmsg)
			qkdnctl_json_str(out->jw, "error", v->errmsg);
		return;
	}
	if (!v->err && !v->errmsg)
		return;
	fprintf(out->f, "%serror", sep);
	if (name)
		fprintf(out->f, " %s", name);
	else if (v->err)
		fprintf(out->f, " errno-%u", v->err);
	if (v->errmsg) {
		fputs(v->err ? ": " : " ", out->f);
		text_plain(out->f, v->errmsg);
	}
}

/* JSON: the members of a tunnel; text: "ipsec ID peer P ROLE STATE ..."
 * without the newline. */
static void ipsec_head(struct qkdnctl_out *out, const struct ipsec_view *v)
{
	const struct nlattr **ib = (const struct nlattr **)v->tb;
	const char *peer = ib[QKDN_A_IPSEC_PEER] ?
			   mnl_attr_get_str(ib[QKDN_A_IPSEC_PEER]) : NULL;

	if (out->jw) {
		qkdnctl_json_u64(out->jw, "id", mnl_attr_get_u32(ib[QKDN_A_IPSEC_ID]));
		if (peer)
			qkdnctl_json_str(out->jw, "peer", peer);
		if (v->role)
			qkdnctl_json_str(out->jw, "role", v->role);
		if (v->state)
			qkdnctl_json_str(out->jw, "state", v->state);
		ipsec_json_fields(out->jw, v, ipsec_sa_fields,
				  ARRAY_SIZE(ipsec_sa_fields));
		return;
	}
	fprintf(out->f, "ipsec %u", mnl_attr_get_u32(ib[QKDN_A_IPSEC_ID]));
	if (peer)
		fprintf(out->f, " peer %s", peer);
	if (v->role)
		fprintf(out->f, " %s", v->role);
	if (v->state)
		fprintf(out->f, " %s", v->state);
	ipsec_text_fields(out->f, v, ipsec_sa_fields,
			  ARRAY_SIZE(ipsec_sa_fields), true);
}

/*
 * ipsec show: a paragraph per tunnel,
 *   ipsec 1 peer kme-2 initiator up gen 3 spi-out 0x... key-out UUID ...
 *	master A slave B local L remote R src S/24 dst D/24
 *	key-bits 256 rekey 5 rekey-bytes 0 lifetime 15 on-exhaust keep
 *	error ENOKEY: why
 * or a JSON object.
 */
static int print_ipsec(struct qkdnctl_out *out, const struct nlattr **tb)
{
	struct ipsec_view v;
	size_t n = ARRAY_SIZE(ipsec_conf_fields);

	if (ipsec_view(&v, tb[QKDN_A_IPSEC], tb))
		return -1;
	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		ipsec_head(out, &v);
		ipsec_json_fields(out->jw, &v, ipsec_conf_fields, n);
		ipsec_error(out, &v, "");
		qkdnctl_json_end(out->jw);
		return 0;
	}
	ipsec_head(out, &v);
	fputc('\n', out->f);
	if (any_field(v.tb, ipsec_conf_fields, IPSEC_CONF_LINE2)) {
		fputc('\t', out->f);
		ipsec_text_fields(out->f, &v, ipsec_conf_fields,
				  IPSEC_CONF_LINE2, false);
		fputc('\n', out->f);
	}
	if (any_field(v.tb, ipsec_conf_fields + IPSEC_CONF_LINE2,
		      n - IPSEC_CONF_LINE2)) {
		fputc('\t', out->f);
		ipsec_text_fields(out->f, &v, ipsec_conf_fields + IPSEC_CONF_LINE2,
				  n - IPSEC_CONF_LINE2, false);
		fputc('\n', out->f);
	}
	if (v.err || v.errmsg) {
		ipsec_error(out, &v, "\t");
		fputc('\n', out->f);
	}
	return 0;
}

int qkdnctl_print_msg(const struct nlmsghdr *nlh, void *data)
{
	struct qkdnctl_out *out = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	int ret;

	if (qkdn_parse(nlh, tb)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	qkdnctl_print_begin(out);
	switch (out->obj) {
	case QKDNCTL_OBJ_NODE:
		ret = print_node(out, tb);
		break;
	case QKDNCTL_OBJ_LINK:
		ret = print_link(out, tb);
		break;
	case QKDNCTL_OBJ_SAE:
		ret = print_sae(out, tb);
		break;
	case QKDNCTL_OBJ_POOL:
		ret = print_pool(out, tb);
		break;
	case QKDNCTL_OBJ_ROUTE:
		ret = print_route(out, tb);
		break;
	case QKDNCTL_OBJ_SESSION:
		ret = print_session(out, tb);
		break;
	case QKDNCTL_OBJ_IPSEC:
		ret = print_ipsec(out, tb);
		break;
	case QKDNCTL_OBJ_KEY:
		return print_keys(out, nlh) ? MNL_CB_ERROR : MNL_CB_OK;
	default:
		return MNL_CB_OK;
	}
	if (ret) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	out->count++;
	return MNL_CB_OK;
}

/* Everything an event or notification may carry, in print order. */
static const struct field event_fields[] = {
	{ QKDN_A_LINK_ID, F_U32, "link", "link_id" },
	{ QKDN_A_PEER_NODE_ID, F_STR, "peer", "peer_node_id" },
	{ QKDN_A_NODE_ID, F_STR, "node", "node_id" },
	{ QKDN_A_DEVICE, F_STR, "device", "device" },
	{ QKDN_A_LINK_UP, F_U8, "up", "up" },
	{ QKDN_A_DEVICE_RUNNING, F_U8, "running", "running" },
	{ QKDN_A_RATE, F_U64, "rate", "rate" },
	{ QKDN_A_POOL_CAPACITY, F_U32, "capacity", "capacity" },
	{ QKDN_A_POOL_LOW, F_U32, "low", "low" },
	{ QKDN_A_POOL_OWN_BYTES, F_U64, "own_bytes", "own_bytes" },
	{ QKDN_A_POOL_PEER_BYTES, F_U64, "peer_bytes", "peer_bytes" },
	{ QKDN_A_POOL_PENDING_BYTES, F_U64, "pending_bytes", "pending_bytes" },
	{ QKDN_A_SAE_ID, F_STR, "sae", "sae_id" },
	{ QKDN_A_SAE_UID, F_U32, "uid", "uid" },
	{ QKDN_A_SAE_NODE_ID, F_STR, "sae_node", "sae_node_id" },
	{ QKDN_A_MASTER_SAE_ID, F_STR, "master", "master_SAE_ID" },
	{ QKDN_A_SLAVE_SAE_ID, F_STR, "slave", "slave_SAE_ID" },
	{ QKDN_A_KEY_SIZE, F_U32, "size", "key_size" },
};

/* What a Q.4160 message (QKDN_EVENT_MESSAGE) says of its relay. */
static const struct field relay_fields[] = {
	{ QKDN_A_SRC_NODE_ID, F_STR, "src", "src_node_id" },
	{ QKDN_A_DST_NODE_ID, F_STR, "dst", "dst_node_id" },
	{ QKDN_A_NEXT_HOP, F_STR, "next_hop", "next_hop" },
};

/* A string from the kernel or a controller, for text output: in double
 * quotes, with control characters, quotes and backslashes as '?'. */
static void text_quoted(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\' ?
		      '?' : *p, f);
	fputc('"', f);
}

/* The message part of an event: its Q.4160 name, direction, other party,
 * relay ID and ends (text: sent "NAME" to PEER relay UUID src S dst D). */
static void print_message(struct qkdnctl_out *out, const struct nlattr **tb)
{
	const char *name = NULL, *dir = NULL, *peer = NULL;
	char nbuf[24], dbuf[16], uuid[QKDN_UUID_STR_LEN];
	bool relay = false;

	if (tb[QKDN_A_MSG]) {
		uint32_t m = mnl_attr_get_u32(tb[QKDN_A_MSG]);

		name = qkdn_msg_name(m);
		if (!name) {
			snprintf(nbuf, sizeof(nbuf), "msg-%u", m);
			name = nbuf;
		}
	}
	if (tb[QKDN_A_MSG_DIR]) {
		uint8_t d = mnl_attr_get_u8(tb[QKDN_A_MSG_DIR]);

		if (d == QKDN_MSG_DIR_SENT) {
			dir = "sent";
		} else if (d == QKDN_MSG_DIR_RECEIVED) {
			dir = "received";
		} else {
			snprintf(dbuf, sizeof(dbuf), "dir-%u", d);
			dir = dbuf;
		}
	}
	if (tb[QKDN_A_MSG_PEER])
		peer = mnl_attr_get_str(tb[QKDN_A_MSG_PEER]);
	if (tb[QKDN_A_RELAY_ID] &&
	    mnl_attr_get_payload_len(tb[QKDN_A_RELAY_ID]) == QKDN_RELAY_ID_LEN) {
		qkdn_uuid_fmt(mnl_attr_get_payload(tb[QKDN_A_RELAY_ID]), uuid);
		relay = true;
	}

	if (out->jw) {
		if (name)
			qkdnctl_json_str(out->jw, "msg", name);
		if (dir)
			qkdnctl_json_str(out->jw, "msg_dir", dir);
		if (peer)
			qkdnctl_json_str(out->jw, "msg_peer", peer);
		if (relay)
			qkdnctl_json_str(out->jw, "relay_id", uuid);
		json_fields(out->jw, tb, relay_fields, ARRAY_SIZE(relay_fields));
		return;
	}
	if (dir)
		fprintf(out->f, " %s", dir);
	if (name) {
		fputc(' ', out->f);
		text_quoted(out->f, name);
	}
	if (peer)
		fprintf(out->f, "%s%s", !dir ? " peer " :
			strcmp(dir, "sent") ? " from " : " to ", peer);
	if (relay)
		fprintf(out->f, " relay %s", uuid);
	text_fields(out->f, tb, relay_fields, ARRAY_SIZE(relay_fields));
}

/* ERRNO when not 0, and ERRMSG. */
static void print_error(struct qkdnctl_out *out, const struct nlattr **tb)
{
	uint32_t e = tb[QKDN_A_ERRNO] ? mnl_attr_get_u32(tb[QKDN_A_ERRNO]) : 0;
	const char *msg = tb[QKDN_A_ERRMSG] ? mnl_attr_get_str(tb[QKDN_A_ERRMSG]) : NULL;

	if (out->jw) {
		if (e)
			qkdnctl_json_u64(out->jw, "errno", e);
		if (msg)
			qkdnctl_json_str(out->jw, "errmsg", msg);
		return;
	}
	if (e)
		fprintf(out->f, " errno %u", e);
	if (msg) {
		fputs(" errmsg ", out->f);
		text_quoted(out->f, msg);
	}
}

/*
 * ipsec-rekey, ipsec-failed, ipsec-expired: the tunnel (its SAs, not its
 * configuration) on one line, the last failure at its end:
 *   ipsec-failed ipsec 1 peer kme-2 initiator stale gen 3 ... error ENOKEY: why
 * The event's PEER_NODE_ID is the tunnel's peer: printed once. A malformed
 * tunnel is skipped, like any malformed event.
 */
static int print_ipsec_event(struct qkdnctl_out *out, const char *name,
			     const struct nlattr **tb)
{
	struct ipsec_view v;

	if (ipsec_view(&v, tb[QKDN_A_IPSEC], tb))
		return MNL_CB_OK;
	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		qkdnctl_json_str(out->jw, "event", name);
		ipsec_head(out, &v);
		ipsec_error(out, &v, "");
		qkdnctl_json_end(out->jw);
	} else {
		fputs(name, out->f);
		fputc(' ', out->f);
		ipsec_head(out, &v);
		ipsec_error(out, &v, " ");
		fputc('\n', out->f);
	}
	fflush(out->f);
	out->count++;
	return MNL_CB_OK;
}

int qkdnctl_print_event(const struct nlmsghdr *nlh, void *data)
{
	struct qkdnctl_out *out = data;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const struct genlmsghdr *genl = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	char name[32];
	const char *n;
	unsigned int nids = 0;

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + GENL_HDRLEN || qkdn_parse(nlh, tb))
		return MNL_CB_OK;	/* not ours to judge: skip it */
	if (genl->cmd == QKDN_CMD_EVENT && tb[QKDN_A_EVENT]) {
		uint32_t ev = mnl_attr_get_u32(tb[QKDN_A_EVENT]);

		n = qkdn_event_name(ev);
		if (!n) {
			snprintf(name, sizeof(name), "event-%u", ev);
			n = name;
		}
	} else {
		n = qkdn_cmd_name(genl->cmd);
		if (!n) {
			snprintf(name, sizeof(name), "cmd-%u", genl->cmd);
			n = name;
		}
	}
	if (tb[QKDN_A_IPSEC])
		return print_ipsec_event(out, n, tb);
	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		const struct nlattr *kb[QKDN_A_KEY_MAX + 1];

		if (mnl_attr_get_type(a) == QKDN_A_KEY &&
		    !qkdn_parse_key(a, kb) && kb[QKDN_A_KEY_ID])
			nids++;
	}

	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		qkdnctl_json_str(out->jw, "event", n);
		print_message(out, tb);
		json_fields(out->jw, tb, event_fields, ARRAY_SIZE(event_fields));
		print_error(out, tb);
		if (tb[QKDN_A_KEY_COUNT])
			qkdnctl_json_u64(out->jw, "key_count",
					 mnl_attr_get_u32(tb[QKDN_A_KEY_COUNT]));
		if (nids)
			qkdnctl_json_arr(out->jw, "key_IDs");
	} else {
		fputs(n, out->f);
		print_message(out, tb);
		text_fields(out->f, tb, event_fields, ARRAY_SIZE(event_fields));
		print_error(out, tb);
		if (tb[QKDN_A_KEY_COUNT])
			fprintf(out->f, " keys %u",
				mnl_attr_get_u32(tb[QKDN_A_KEY_COUNT]));
		else if (nids)
			fprintf(out->f, " keys %u", nids);
	}
	/* Only the IDs: an event never shows key bytes. */
	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		const struct nlattr *kb[QKDN_A_KEY_MAX + 1];
		char uuid[QKDN_UUID_STR_LEN];

		if (mnl_attr_get_type(a) != QKDN_A_KEY ||
		    qkdn_parse_key(a, kb) || !kb[QKDN_A_KEY_ID])
			continue;
		qkdn_uuid_fmt(mnl_attr_get_payload(kb[QKDN_A_KEY_ID]), uuid);
		if (out->jw)
			qkdnctl_json_str(out->jw, NULL, uuid);
		else
			fprintf(out->f, " %s", uuid);
	}
	if (out->jw) {
		if (nids)
			qkdnctl_json_end(out->jw);
		qkdnctl_json_end(out->jw);
	} else {
		fputc('\n', out->f);
	}
	fflush(out->f);
	out->count++;
	return MNL_CB_OK;
}

/* ---- session listen: the slave SAE's application ---- */

void qkdnctl_print_listening(struct qkdnctl_out *out, const char *sae)
{
	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		qkdnctl_json_str(out->jw, "event", "listen");
		qkdnctl_json_str(out->jw, "sae_id", sae);
		qkdnctl_json_end(out->jw);
	} else {
		fprintf(out->f, "listen sae %s\n", sae);
	}
}

/* "session creation notification": the session and the answer to it. */
static int listen_session(struct qkdnctl_out *out, const struct nlattr **tb)
{
	const char *answer = out->listen->refuse ? "refuse" : "accept";

	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		qkdnctl_json_str(out->jw, "event", "session");
		json_fields(out->jw, tb, session_fields, ARRAY_SIZE(session_fields));
		qkdnctl_json_str(out->jw, "answer", answer);
		qkdnctl_json_end(out->jw);
	} else {
		text_fields_sep(out->f, tb, session_fields,
				ARRAY_SIZE(session_fields), false);
		fprintf(out->f, " answer %s\n", answer);
	}
	out->note->cmd = QKDN_CMD_SESSION;
	return 0;
}

/*
 * "proactive key supply": the keys offered are checked first, so that a
 * malformed message prints nothing; then the ones taken (the first
 * out->listen->take) are printed and their IDs kept for the answer.
 */
static int listen_supply(struct qkdnctl_out *out, const struct nlmsghdr *nlh)
{
	struct qkdnctl_note *note = out->note;
	const struct nlattr *a, *kb[QKDN_A_KEY_MAX + 1];
	unsigned int n = 0, taken, i = 0;

	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		if (mnl_attr_get_type(a) != QKDN_A_KEY)
			continue;
		if (n == QKDN_KEYS_PER_REQUEST || qkdn_parse_key(a, kb) ||
		    !kb[QKDN_A_KEY_ID] || !kb[QKDN_A_KEY_DATA])
			return -1;
		n++;
	}
	if (!n)
		return -1;
	taken = out->listen->take == QKDNCTL_TAKE_ALL ||
		(unsigned int)out->listen->take > n ? n :
		(unsigned int)out->listen->take;

	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		qkdnctl_json_str(out->jw, "event", "supply");
		qkdnctl_json_u64(out->jw, "session_ID", note->session);
		qkdnctl_json_u64(out->jw, "key_count", n);
		qkdnctl_json_arr(out->jw, "keys");
	} else {
		fprintf(out->f, "supply session %u keys %u taken %u\n",
			note->session, n, taken);
	}
	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		if (i == taken)
			break;
		if (mnl_attr_get_type(a) != QKDN_A_KEY)
			continue;
		if (print_key(out, a, "\t"))
			return -1;
		qkdn_parse_key(a, kb);
		memcpy(note->ids[i++], mnl_attr_get_payload(kb[QKDN_A_KEY_ID]),
		       QKDN_KEY_ID_LEN);
	}
	if (out->jw) {
		qkdnctl_json_end(out->jw);
		qkdnctl_json_end(out->jw);
	}
	note->nids = taken;
	note->cmd = QKDN_CMD_KEY_SUPPLY;
	return 0;
}

int qkdnctl_print_listen(const struct nlmsghdr *nlh, void *data)
{
	struct qkdnctl_out *out = data;
	struct qkdnctl_note *note = out->note;
	const struct nlattr *tb[QKDN_A_MAX + 1];
	const struct genlmsghdr *genl = mnl_nlmsg_get_payload(nlh);
	int ret;

	note->cmd = 0;
	note->session = 0;
	note->nids = 0;
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + GENL_HDRLEN)
		goto bad;
	if (genl->cmd != QKDN_CMD_SESSION && genl->cmd != QKDN_CMD_KEY_SUPPLY)
		return MNL_CB_OK;	/* not for the listener */
	if (qkdn_parse(nlh, tb) || !tb[QKDN_A_SESSION_ID] ||
	    !mnl_attr_get_u32(tb[QKDN_A_SESSION_ID]))
		goto bad;
	note->session = mnl_attr_get_u32(tb[QKDN_A_SESSION_ID]);
	if (genl->cmd == QKDN_CMD_SESSION)
		ret = listen_session(out, tb);
	else
		ret = listen_supply(out, nlh);
	if (ret)
		goto bad;
	fflush(out->f);
	out->count++;
	return MNL_CB_STOP;
bad:
	note->cmd = 0;
	errno = EBADMSG;
	return MNL_CB_ERROR;
}
