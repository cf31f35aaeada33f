// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl: replies and events as text (one object per line or paragraph,
 * "keyword value" pairs) or JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
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

static int print_node(struct qkdnctl_out *out, const struct nlattr **tb)
{
	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		json_fields(out->jw, tb, node_fields, ARRAY_SIZE(node_fields));
	} else {
		fprintf(out->f, "node %s\n", tb[QKDN_A_NODE_ID] ?
			mnl_attr_get_str(tb[QKDN_A_NODE_ID]) : "(none)");
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
	{ QKDN_A_SAE_NODE_ID, F_STR, "node", "node_id" },
};

static int print_sae(struct qkdnctl_out *out, const struct nlattr **tb)
{
	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		json_fields(out->jw, tb, sae_fields, ARRAY_SIZE(sae_fields));
		qkdnctl_json_end(out->jw);
		return 0;
	}
	fputs("sae", out->f);
	if (tb[QKDN_A_SAE_ID])
		fprintf(out->f, " %s", mnl_attr_get_str(tb[QKDN_A_SAE_ID]));
	text_fields(out->f, tb, sae_fields + 1, 2);
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

/* Key bytes as text: hex of 8192 bits is the longest. */
#define KEY_TEXT_MAX	(2 * QKDN_KEY_SIZE_MAX / 8 + 1)

static int print_key(struct qkdnctl_out *out, const struct nlattr *nest)
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
			fprintf(out->f, "key_ID %s %s\n", uuid, text);
		} else {
			fprintf(out->f, "key_ID %s\n", uuid);
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
		if (print_key(out, a))
			return -1;
		out->count++;
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
	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		const struct nlattr *kb[QKDN_A_KEY_MAX + 1];

		if (mnl_attr_get_type(a) == QKDN_A_KEY &&
		    !qkdn_parse_key(a, kb) && kb[QKDN_A_KEY_ID])
			nids++;
	}

	if (out->jw) {
		qkdnctl_json_obj(out->jw, NULL);
		qkdnctl_json_str(out->jw, "event", n);
		json_fields(out->jw, tb, event_fields, ARRAY_SIZE(event_fields));
		if (tb[QKDN_A_KEY_COUNT])
			qkdnctl_json_u64(out->jw, "key_count",
					 mnl_attr_get_u32(tb[QKDN_A_KEY_COUNT]));
		if (nids)
			qkdnctl_json_arr(out->jw, "key_IDs");
	} else {
		fputs(n, out->f);
		text_fields(out->f, tb, event_fields, ARRAY_SIZE(event_fields));
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
