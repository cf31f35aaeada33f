// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * libqkdn: attribute validation and names of the qkdn family.
 */
#include <errno.h>
#include <string.h>
#include <linux/genetlink.h>

#include "libqkdn.h"

enum qkdn_atype {
	AT_NONE,	/* unknown or padding: ignored */
	AT_STRING,	/* NUL-terminated, < max, or QKDN_ID_MAX if 0 */
	AT_U8,
	AT_U32,
	AT_U64,
	AT_NEST,
	AT_BINARY,
	AT_TEXT,	/* NUL-terminated, < QKDN_ERRMSG_MAX */
};

struct qkdn_apol {
	enum qkdn_atype type;
	uint16_t min, max;	/* payload bounds for AT_BINARY, AT_STRING */
	const char *name;
};

static const struct qkdn_apol qkdn_pol[QKDN_A_MAX + 1] = {
	[QKDN_A_NODE_ID]	= { AT_STRING, 0, 0, "node-id" },
	[QKDN_A_LINK_ID]	= { AT_U32, 0, 0, "link-id" },
	[QKDN_A_PEER_NODE_ID]	= { AT_STRING, 0, 0, "peer-node-id" },
	[QKDN_A_DEVICE]		= { AT_STRING, 0, 0, "device" },
	[QKDN_A_LINK_UP]	= { AT_U8, 0, 0, "link-up" },
	[QKDN_A_DEVICE_RUNNING]	= { AT_U8, 0, 0, "device-running" },
	[QKDN_A_RATE]		= { AT_U64, 0, 0, "rate" },
	[QKDN_A_POOL_CAPACITY]	= { AT_U32, 0, 0, "pool-capacity" },
	[QKDN_A_POOL_LOW]	= { AT_U32, 0, 0, "pool-low" },
	[QKDN_A_SAE_ID]		= { AT_STRING, 0, 0, "sae-id" },
	[QKDN_A_SAE_UID]	= { AT_U32, 0, 0, "sae-uid" },
	[QKDN_A_SAE_NODE_ID]	= { AT_STRING, 0, 0, "sae-node-id" },
	[QKDN_A_MASTER_SAE_ID]	= { AT_STRING, 0, 0, "master-sae-id" },
	[QKDN_A_SLAVE_SAE_ID]	= { AT_STRING, 0, 0, "slave-sae-id" },
	[QKDN_A_KEY_NUMBER]	= { AT_U32, 0, 0, "key-number" },
	[QKDN_A_KEY_SIZE]	= { AT_U32, 0, 0, "key-size" },
	[QKDN_A_KEY]		= { AT_NEST, 0, 0, "key" },
	[QKDN_A_POOL_KEY_SIZE]	= { AT_U32, 0, 0, "pool-key-size" },
	[QKDN_A_POOL_STORED_KEY_COUNT]	= { AT_U32, 0, 0, "pool-stored-key-count" },
	[QKDN_A_POOL_MAX_KEY_COUNT]	= { AT_U32, 0, 0, "pool-max-key-count" },
	[QKDN_A_POOL_MAX_KEY_PER_REQUEST] = { AT_U32, 0, 0, "pool-max-key-per-request" },
	[QKDN_A_POOL_MAX_KEY_SIZE]	= { AT_U32, 0, 0, "pool-max-key-size" },
	[QKDN_A_POOL_MIN_KEY_SIZE]	= { AT_U32, 0, 0, "pool-min-key-size" },
	[QKDN_A_POOL_OWN_BYTES]	= { AT_U64, 0, 0, "pool-own-bytes" },
	[QKDN_A_POOL_PEER_BYTES]	= { AT_U64, 0, 0, "pool-peer-bytes" },
	[QKDN_A_POOL_PENDING_BYTES]	= { AT_U64, 0, 0, "pool-pending-bytes" },
	[QKDN_A_POOL_RESERVED_KEYS]	= { AT_U32, 0, 0, "pool-reserved-keys" },
	[QKDN_A_STATS]		= { AT_NEST, 0, 0, "stats" },
	[QKDN_A_KX_FRAME]	= { AT_BINARY, 1, QKDN_KX_FRAME_MAX, "kx-frame" },
	[QKDN_A_EVENT]		= { AT_U32, 0, 0, "event" },
	[QKDN_A_KEY_COUNT]	= { AT_U32, 0, 0, "key-count" },
	[QKDN_A_MSG]		= { AT_U32, 0, 0, "msg" },
	[QKDN_A_MSG_DIR]	= { AT_U8, 0, 0, "msg-dir" },
	[QKDN_A_MSG_PEER]	= { AT_STRING, 0, 0, "msg-peer" },
	[QKDN_A_CTRL_ID]	= { AT_U32, 0, 0, "ctrl-id" },
	[QKDN_A_SRC_NODE_ID]	= { AT_STRING, 0, 0, "src-node-id" },
	[QKDN_A_DST_NODE_ID]	= { AT_STRING, 0, 0, "dst-node-id" },
	[QKDN_A_RELAY_ID]	= { AT_BINARY, QKDN_RELAY_ID_LEN, QKDN_RELAY_ID_LEN, "relay-id" },
	[QKDN_A_RELAY_BYTES]	= { AT_U32, 0, 0, "relay-bytes" },
	[QKDN_A_NEXT_HOP]	= { AT_STRING, 0, 0, "next-hop" },
	[QKDN_A_ROUTE]		= { AT_NEST, 0, 0, "route" },
	[QKDN_A_ROUTE_METRIC]	= { AT_U32, 0, 0, "route-metric" },
	[QKDN_A_ROUTE_AVAIL]	= { AT_U64, 0, 0, "route-avail" },
	[QKDN_A_ERRNO]		= { AT_U32, 0, 0, "errno" },
	[QKDN_A_ERRMSG]		= { AT_TEXT, 0, 0, "errmsg" },
	[QKDN_A_CTRL_MODE]	= { AT_U8, 0, 0, "ctrl-mode" },
	[QKDN_A_SESSION_ID]	= { AT_U32, 0, 0, "session-id" },
	[QKDN_A_SAE_CRED]	= { AT_STRING, 0, QKDN_CRED_MAX, "sae-cred" },
	[QKDN_A_NOWAIT]		= { AT_BINARY, 0, 0, "nowait" },
	[QKDN_A_ADD_SLAVE_SAE_ID] = { AT_STRING, 0, 0, "add-slave-sae-id" },
	[QKDN_A_SAE_KERNEL]	= { AT_BINARY, 0, 0, "sae-kernel" },
	[QKDN_A_IPSEC]		= { AT_NEST, 0, 0, "ipsec" },
};

static const struct qkdn_apol qkdn_key_pol[QKDN_A_KEY_MAX + 1] = {
	[QKDN_A_KEY_ID]		= { AT_BINARY, QKDN_KEY_ID_LEN, QKDN_KEY_ID_LEN, "key-id" },
	[QKDN_A_KEY_DATA]	= { AT_BINARY, 1, QKDN_KEY_SIZE_MAX / 8, "key-data" },
};

/* Addresses are 4 (IPv4) or 16 (IPv6) bytes: qkdn_parse_ipsec() checks
 * which; key IDs are QKDN_KEY_ID_LEN. */
static const struct qkdn_apol qkdn_ipsec_pol[QKDN_A_IPSEC_MAX + 1] = {
	[QKDN_A_IPSEC_ID]	= { AT_U32, 0, 0, "ipsec-id" },
	[QKDN_A_IPSEC_PEER]	= { AT_STRING, 0, 0, "ipsec-peer" },
	[QKDN_A_IPSEC_MASTER]	= { AT_STRING, 0, 0, "ipsec-master" },
	[QKDN_A_IPSEC_SLAVE]	= { AT_STRING, 0, 0, "ipsec-slave" },
	[QKDN_A_IPSEC_LOCAL]	= { AT_BINARY, 4, 16, "ipsec-local" },
	[QKDN_A_IPSEC_REMOTE]	= { AT_BINARY, 4, 16, "ipsec-remote" },
	[QKDN_A_IPSEC_SRC]	= { AT_BINARY, 4, 16, "ipsec-src" },
	[QKDN_A_IPSEC_SRC_LEN]	= { AT_U8, 0, 0, "ipsec-src-len" },
	[QKDN_A_IPSEC_DST]	= { AT_BINARY, 4, 16, "ipsec-dst" },
	[QKDN_A_IPSEC_DST_LEN]	= { AT_U8, 0, 0, "ipsec-dst-len" },
	[QKDN_A_IPSEC_KEY_BITS]	= { AT_U32, 0, 0, "ipsec-key-bits" },
	[QKDN_A_IPSEC_REKEY_SECONDS] = { AT_U32, 0, 0, "ipsec-rekey-seconds" },
	[QKDN_A_IPSEC_REKEY_BYTES] = { AT_U64, 0, 0, "ipsec-rekey-bytes" },
	[QKDN_A_IPSEC_HARD_SECONDS] = { AT_U32, 0, 0, "ipsec-hard-seconds" },
	[QKDN_A_IPSEC_ON_EXHAUST] = { AT_U8, 0, 0, "ipsec-on-exhaust" },
	[QKDN_A_IPSEC_ROLE]	= { AT_U8, 0, 0, "ipsec-role" },
	[QKDN_A_IPSEC_STATE]	= { AT_U8, 0, 0, "ipsec-state" },
	[QKDN_A_IPSEC_GEN]	= { AT_U32, 0, 0, "ipsec-gen" },
	[QKDN_A_IPSEC_SPI_OUT]	= { AT_U32, 0, 0, "ipsec-spi-out" },
	[QKDN_A_IPSEC_SPI_IN]	= { AT_U32, 0, 0, "ipsec-spi-in" },
	[QKDN_A_IPSEC_KEY_ID_OUT] = { AT_BINARY, QKDN_KEY_ID_LEN, QKDN_KEY_ID_LEN,
				      "ipsec-key-id-out" },
	[QKDN_A_IPSEC_KEY_ID_IN] = { AT_BINARY, QKDN_KEY_ID_LEN, QKDN_KEY_ID_LEN,
				     "ipsec-key-id-in" },
	[QKDN_A_IPSEC_REKEYS]	= { AT_U64, 0, 0, "ipsec-rekeys" },
	[QKDN_A_IPSEC_FAILURES]	= { AT_U64, 0, 0, "ipsec-failures" },
	[QKDN_A_IPSEC_REKEY_USEC] = { AT_U32, 0, 0, "ipsec-rekey-usec" },
};

static int qkdn_check(const struct nlattr *a, const struct qkdn_apol *p)
{
	uint16_t len = mnl_attr_get_payload_len(a);

	switch (p->type) {
	case AT_NONE:
		return 0;
	case AT_STRING:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0 ||
		    len > (p->max ? p->max : QKDN_ID_MAX) ||
		    strlen(mnl_attr_get_str(a)) != (size_t)len - 1)
			return -1;
		return 0;
	case AT_U8:
		return len == sizeof(uint8_t) ? 0 : -1;
	case AT_U32:
		return len == sizeof(uint32_t) ? 0 : -1;
	case AT_U64:
		return len == sizeof(uint64_t) ? 0 : -1;
	case AT_NEST:
		return mnl_attr_validate(a, MNL_TYPE_NESTED) < 0 ? -1 : 0;
	case AT_BINARY:
		return len < p->min || len > p->max ? -1 : 0;
	case AT_TEXT:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0 ||
		    len > QKDN_ERRMSG_MAX ||
		    strlen(mnl_attr_get_str(a)) != (size_t)len - 1)
			return -1;
		return 0;
	}
	return -1;
}

struct qkdn_parse_ctx {
	const struct nlattr **tb;
	const struct qkdn_apol *pol;
	unsigned int max;
};

static int qkdn_attr_cb(const struct nlattr *a, void *data)
{
	struct qkdn_parse_ctx *c = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type > c->max || c->pol[type].type == AT_NONE)
		return MNL_CB_OK;	/* newer kernel, or padding */
	if (qkdn_check(a, &c->pol[type]) < 0) {
		errno = EINVAL;
		return MNL_CB_ERROR;
	}
	c->tb[type] = a;
	return MNL_CB_OK;
}

int qkdn_parse(const struct nlmsghdr *nlh, const struct nlattr **tb)
{
	struct qkdn_parse_ctx c = { tb, qkdn_pol, QKDN_A_MAX };

	memset(tb, 0, sizeof(*tb) * (QKDN_A_MAX + 1));
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + GENL_HDRLEN)
		return -EINVAL;
	if (mnl_attr_parse(nlh, GENL_HDRLEN, qkdn_attr_cb, &c) != MNL_CB_OK)
		return -EINVAL;
	return 0;
}

int qkdn_parse_key(const struct nlattr *nest, const struct nlattr **tb)
{
	struct qkdn_parse_ctx c = { tb, qkdn_key_pol, QKDN_A_KEY_MAX };

	memset(tb, 0, sizeof(*tb) * (QKDN_A_KEY_MAX + 1));
	if (mnl_attr_parse_nested(nest, qkdn_attr_cb, &c) != MNL_CB_OK)
		return -EINVAL;
	return 0;
}

int qkdn_parse_ipsec(const struct nlattr *nest, const struct nlattr **tb)
{
	static const uint16_t addrs[] = {
		QKDN_A_IPSEC_LOCAL, QKDN_A_IPSEC_REMOTE, QKDN_A_IPSEC_SRC,
		QKDN_A_IPSEC_DST,
	};
	struct qkdn_parse_ctx c = { tb, qkdn_ipsec_pol, QKDN_A_IPSEC_MAX };
	uint16_t alen = 0;
	unsigned int i;

	memset(tb, 0, sizeof(*tb) * (QKDN_A_IPSEC_MAX + 1));
	if (mnl_attr_parse_nested(nest, qkdn_attr_cb, &c) != MNL_CB_OK)
		return -EINVAL;
	/* One family for all four, and prefixes no longer than it. */
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		uint16_t len;

		if (!tb[addrs[i]])
			continue;
		len = mnl_attr_get_payload_len(tb[addrs[i]]);
		if ((len != 4 && len != 16) || (alen && len != alen))
			return -EINVAL;
		alen = len;
	}
	if ((tb[QKDN_A_IPSEC_SRC_LEN] &&
	     mnl_attr_get_u8(tb[QKDN_A_IPSEC_SRC_LEN]) > (alen ? alen : 16) * 8) ||
	    (tb[QKDN_A_IPSEC_DST_LEN] &&
	     mnl_attr_get_u8(tb[QKDN_A_IPSEC_DST_LEN]) > (alen ? alen : 16) * 8))
		return -EINVAL;
	return 0;
}

static int qkdn_stats_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type > QKDN_A_STATS_MAX || type == QKDN_A_STATS_PAD ||
	    type == QKDN_A_STATS_UNSPEC)
		return MNL_CB_OK;
	if (mnl_attr_get_payload_len(a) != sizeof(uint64_t)) {
		errno = EINVAL;
		return MNL_CB_ERROR;
	}
	tb[type] = a;
	return MNL_CB_OK;
}

int qkdn_parse_stats(const struct nlattr *nest, const struct nlattr **tb)
{
	memset(tb, 0, sizeof(*tb) * (QKDN_A_STATS_MAX + 1));
	if (mnl_attr_parse_nested(nest, qkdn_stats_cb, tb) != MNL_CB_OK)
		return -EINVAL;
	return 0;
}

void qkdn_attr_put_u64(struct nlmsghdr *nlh, uint16_t type, uint64_t v)
{
	uintptr_t data = (uintptr_t)mnl_nlmsg_get_payload_tail(nlh) +
			 MNL_ATTR_HDRLEN;

	/* Align the payload to 8 bytes, as nla_put_u64_64bit() does. */
	if (data % 8)
		mnl_attr_put(nlh, QKDN_A_PAD, 0, NULL);
	mnl_attr_put_u64(nlh, type, v);
}

static const char *const qkdn_cmd_names[QKDN_CMD_MAX + 1] = {
	[QKDN_CMD_NODE_GET]	= "node-get",
	[QKDN_CMD_NODE_SET]	= "node-set",
	[QKDN_CMD_LINK_GET]	= "link-get",
	[QKDN_CMD_LINK_NEW]	= "link-new",
	[QKDN_CMD_LINK_DEL]	= "link-del",
	[QKDN_CMD_LINK_SET]	= "link-set",
	[QKDN_CMD_SAE_GET]	= "sae-get",
	[QKDN_CMD_SAE_NEW]	= "sae-new",
	[QKDN_CMD_SAE_DEL]	= "sae-del",
	[QKDN_CMD_POOL_GET]	= "pool-get",
	[QKDN_CMD_KEY_GET]	= "key-get",
	[QKDN_CMD_KEY_GET_BY_ID] = "key-get-by-id",
	[QKDN_CMD_KX_BIND]	= "kx-bind",
	[QKDN_CMD_KX_FRAME]	= "kx-frame",
	[QKDN_CMD_KX_CHANNEL]	= "kx-channel",
	[QKDN_CMD_EVENT]	= "event",
	[QKDN_CMD_CTRL]		= "ctrl",
	[QKDN_CMD_ROUTE_GET]	= "route-get",
	[QKDN_CMD_ROUTE_NEW]	= "route-new",
	[QKDN_CMD_ROUTE_DEL]	= "route-del",
	[QKDN_CMD_SESSION_NEW]	= "session-new",
	[QKDN_CMD_SAE_LISTEN]	= "sae-listen",
	[QKDN_CMD_SESSION]	= "session",
	[QKDN_CMD_KEY_SUPPLY]	= "key-supply",
	[QKDN_CMD_GW_BIND]	= "gw-bind",
	[QKDN_CMD_IPSEC_GET]	= "ipsec-get",
	[QKDN_CMD_IPSEC_NEW]	= "ipsec-new",
	[QKDN_CMD_IPSEC_DEL]	= "ipsec-del",
};

static const char *const qkdn_event_names[QKDN_EVENT_MAX + 1] = {
	[QKDN_EVENT_LINK_UP]		= "link-up",
	[QKDN_EVENT_LINK_DOWN]		= "link-down",
	[QKDN_EVENT_POOL_LOW]		= "pool-low",
	[QKDN_EVENT_POOL_EMPTY]		= "pool-empty",
	[QKDN_EVENT_KEYS_RESERVED]	= "keys-reserved",
	[QKDN_EVENT_KEYS_RECEIVED]	= "keys-received",
	[QKDN_EVENT_KEYS_SUPPLIED]	= "keys-supplied",
	[QKDN_EVENT_BLOCK_ABORT]	= "block-abort",
	[QKDN_EVENT_MESSAGE]		= "message",
	[QKDN_EVENT_IPSEC_REKEY]	= "ipsec-rekey",
	[QKDN_EVENT_IPSEC_FAILED]	= "ipsec-failed",
	[QKDN_EVENT_IPSEC_EXPIRED]	= "ipsec-expired",
};

/* The names the messages have in ITU-T Q.4160 Appendix I. */
static const char *const qkdn_msg_names[QKDN_MSG_MAX + 1] = {
	[QKDN_MSG_KEY_REQUEST]		= "key request",
	[QKDN_MSG_KEY_REQUEST_RESPONSE]	= "response to key request",
	[QKDN_MSG_KEY_REQUEST_WITH_ID]	= "key request with ID",
	[QKDN_MSG_NEXT_HOP_REQUEST]	= "key relay next hop request",
	[QKDN_MSG_NEXT_HOP_RESPONSE]	= "response to key relay next hop request",
	[QKDN_MSG_KEY_RELAY]		= "key relay",
	[QKDN_MSG_KEY_RELAY_COMPLETION]	= "key relay completion notification",
	[QKDN_MSG_KEY_RELAY_REQUEST_NOTIFICATION] = "key relay request notification",
	[QKDN_MSG_KEY_RELAY_REQUEST]	= "key relay request",
	[QKDN_MSG_KEY_RELAY_RESPONSE]	= "response to key relay request",
	[QKDN_MSG_KEY_RESERVATION_REQUEST] = "key reservation request",
	[QKDN_MSG_KEY_RESERVATION_RESPONSE] = "response to key reservation request",
	[QKDN_MSG_KEY_ALLOCATION_REQUEST] = "key allocation request",
	[QKDN_MSG_KEY_ALLOCATION_RESPONSE] = "response to key allocation request",
	[QKDN_MSG_SESSION_CREATION_REQUEST] = "session creation request",
	[QKDN_MSG_SESSION_CREATION_NOTIFICATION] = "session creation notification",
	[QKDN_MSG_SESSION_NOTIFICATION_RESPONSE] = "response to session creation notification",
	[QKDN_MSG_SESSION_CREATION_RESPONSE] = "response to session creation request",
	[QKDN_MSG_KEY_REQUEST_WITH_SESSION_ID] = "key request with session ID",
	[QKDN_MSG_KEY_SUPPLY_NOTIFICATION] = "key supply notification",
	[QKDN_MSG_PROACTIVE_KEY_SUPPLY]	= "proactive key supply",
	[QKDN_MSG_PROACTIVE_KEY_SUPPLY_RESPONSE] = "response to proactive key supply",
	[QKDN_MSG_KEY_SUPPLY_NOTIFICATION_RESPONSE] = "response to key supply notification",
	[QKDN_MSG_SESSION_KEY_RESPONSE]	= "response to key request with session ID",
};

const char *qkdn_msg_name(uint32_t msg)
{
	return msg <= QKDN_MSG_MAX ? qkdn_msg_names[msg] : NULL;
}

static const struct qkdn_apol qkdn_route_pol[QKDN_A_ROUTE_MAX + 1] = {
	[QKDN_A_ROUTE_NODE]	= { AT_STRING, 0, 0, "route-node" },
};

int qkdn_parse_route(const struct nlattr *nest, const char **nodes,
		     unsigned int max)
{
	const struct nlattr *a;
	unsigned int n = 0;

	mnl_attr_for_each_nested(a, nest) {
		uint16_t type = mnl_attr_get_type(a);

		if (type != QKDN_A_ROUTE_NODE)
			continue;
		if (qkdn_check(a, &qkdn_route_pol[type]) < 0 || n == max)
			return -EINVAL;
		nodes[n++] = mnl_attr_get_str(a);
	}
	return (int)n;
}

const char *qkdn_cmd_name(uint8_t cmd)
{
	return cmd <= QKDN_CMD_MAX ? qkdn_cmd_names[cmd] : NULL;
}

const char *qkdn_event_name(uint32_t event)
{
	return event <= QKDN_EVENT_MAX ? qkdn_event_names[event] : NULL;
}

const char *qkdn_attr_name(uint16_t type)
{
	return type <= QKDN_A_MAX ? qkdn_pol[type].name : NULL;
}
