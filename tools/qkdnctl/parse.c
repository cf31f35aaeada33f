// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl: the command line grammar. argv becomes a netlink request in a
 * buffer; every value is checked here against the ranges of the uapi header
 * (the kernel checks again and has the last word).
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <string.h>
#include <linux/genetlink.h>

#include "qkdnctl.h"

static const char *const qkdnctl_objects[] = {
	"node", "link", "sae", "pool", "key", "route", "session", "ipsec",
	"monitor", "help", NULL
};

static const enum qkdnctl_obj qkdnctl_object_ids[] = {
	QKDNCTL_OBJ_NODE, QKDNCTL_OBJ_LINK, QKDNCTL_OBJ_SAE, QKDNCTL_OBJ_POOL,
	QKDNCTL_OBJ_KEY, QKDNCTL_OBJ_ROUTE, QKDNCTL_OBJ_SESSION,
	QKDNCTL_OBJ_IPSEC, QKDNCTL_OBJ_MONITOR, QKDNCTL_OBJ_NONE,
};

static const char *const qkdnctl_usage_text[] = {
	[QKDNCTL_OBJ_NODE] =
	"       qkdnctl node show\n"
	"       qkdnctl node set [id NODEID] [ctrl-mode distributed|centralized]\n",
	[QKDNCTL_OBJ_LINK] =
	"       qkdnctl link show [id LINKID]\n"
	"       qkdnctl link add id LINKID peer NODEID [device DEV] [capacity BYTES] [low BYTES]\n"
	"       qkdnctl link set id LINKID [device DEV] [capacity BYTES] [low BYTES]\n"
	"                        [running on|off] [rate BITS_PER_S]\n"
	"       qkdnctl link del id LINKID\n",
	[QKDNCTL_OBJ_SAE] =
	"       qkdnctl sae show [id SAEID]\n"
	"       qkdnctl sae add id SAEID uid UID\n"
	"       qkdnctl sae add id SAEID cred CREDENTIAL [uid UID]\n"
	"       qkdnctl sae add id SAEID node NODEID\n"
	"       qkdnctl sae add id SAEID kernel\n"
	"       qkdnctl sae del id SAEID\n",
	[QKDNCTL_OBJ_POOL] =
	"       qkdnctl pool show [id LINKID | slave SAEID [master SAEID]]\n",
	[QKDNCTL_OBJ_KEY] =
	"       qkdnctl key get master SAEID slave SAEID [slave SAEID]...\n"
	"                       [number N] [size BITS] [session SESSIONID]\n"
	"                       [format hex|base64]\n"
	"       qkdnctl key get-by-id master SAEID slave SAEID id UUID [id UUID]...\n"
	"                             [format hex|base64]\n",
	[QKDNCTL_OBJ_ROUTE] =
	"       qkdnctl route [show]\n",
	[QKDNCTL_OBJ_SESSION] =
	"       qkdnctl session new master SAEID slave SAEID\n"
	"       qkdnctl session listen sae SAEID [accept|refuse] [take N|all|none]\n"
	"                              [count COUNT] [format hex|base64]\n",
	[QKDNCTL_OBJ_IPSEC] =
	"       qkdnctl ipsec show [id ID]\n"
	"       qkdnctl ipsec add id ID peer NODEID master SAEID slave SAEID\n"
	"                         local ADDR remote ADDR src PREFIX dst PREFIX\n"
	"                         [key-bits 128|256] [rekey SECONDS] [rekey-bytes BYTES]\n"
	"                         [lifetime SECONDS] [on-exhaust keep|drop]\n"
	"       qkdnctl ipsec del id ID\n",
	[QKDNCTL_OBJ_MONITOR] =
	"       qkdnctl monitor\n",
};

void qkdnctl_usage(FILE *f, enum qkdnctl_obj obj)
{
	unsigned int i;

	fputs("Usage: qkdnctl [-j] [-p] [-n NETNS] OBJECT {COMMAND | help}\n", f);
	if (obj != QKDNCTL_OBJ_NONE) {
		fputs(qkdnctl_usage_text[obj], f);
		return;
	}
	fputs("       qkdnctl [-j] [-p] [-n NETNS] -b FILE\n"
	      "where  OBJECT := { node | link | sae | pool | key | route | session |\n"
	      "                  ipsec | monitor }\n"
	      "       -j: JSON output, -p: pretty JSON, -n: run in netns NETNS\n"
	      "       -b: one \"OBJECT COMMAND ...\" a line from FILE (- for stdin)\n"
	      "       BYTES, BITS_PER_S: decimal, with k/M/G suffix\n"
	      "       ADDR: IPv4 or IPv6 address, PREFIX: ADDR[/LEN]\n", f);
	for (i = QKDNCTL_OBJ_NODE; i <= QKDNCTL_OBJ_MONITOR; i++)
		fputs(qkdnctl_usage_text[i], f);
}

static __attribute__((format(printf, 2, 3)))
int perr(struct qkdnctl_req *req, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req->err, sizeof(req->err), fmt, ap);
	va_end(ap);
	return -1;
}

int qkdnctl_parse_opts(int argc, char **argv, struct qkdnctl_opts *o,
		       char *err, size_t errlen)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "netns", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "batch", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 0;	/* full re-initialisation (glibc) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jpn:hb:", lopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'p':
			o->json = true;
			o->pretty = true;
			break;
		case 'n':
			o->netns = optarg;
			break;
		case 'h':
			o->help = true;
			break;
		case 'b':
			o->batch = optarg;
			break;
		default:
			if (optopt == 'n')
				snprintf(err, errlen, "option -n needs a NETNS");
			else if (optopt == 'b')
				snprintf(err, errlen, "option -b needs a FILE");
			else if (optopt)
				snprintf(err, errlen, "unknown option -%c", optopt);
			else
				snprintf(err, errlen, "unknown option %s",
					 argv[optind - 1]);
			return -1;
		}
	}
	return optind;
}

/* Keyword/value pairs of one command. */
struct kv {
	const char *const *words;	/* NULL-terminated */
	const char **val;		/* one per word */
	int repeat;			/* index of the repeatable word, or -1 */
	const char **rep;		/* its values */
	unsigned int nrep, maxrep;
	unsigned int flags;		/* bit k: words[k] takes no value; its
					 * val is the word itself */
};

static int parse_kv(int argc, char **argv, struct kv *kv,
		    struct qkdnctl_req *req)
{
	int i;

	for (i = 0; i < argc; i += 2) {
		int k = qkdnctl_match(argv[i], kv->words);

		if (k == -2)
			return perr(req, "ambiguous keyword \"%s\"", argv[i]);
		if (k < 0)
			return perr(req, "unknown keyword \"%s\"", argv[i]);
		if (k < 32 && (kv->flags & 1u << k)) {
			if (kv->val[k])
				return perr(req, "\"%s\" given twice",
					    kv->words[k]);
			kv->val[k] = kv->words[k];
			i--;
			continue;
		}
		if (i + 1 >= argc)
			return perr(req, "\"%s\" needs a value", kv->words[k]);
		if (k == kv->repeat) {
			if (kv->nrep >= kv->maxrep)
				return perr(req, "at most %u \"%s\" values",
					    kv->maxrep, kv->words[k]);
			kv->rep[kv->nrep++] = argv[i + 1];
			continue;
		}
		if (kv->val[k])
			return perr(req, "\"%s\" given twice", kv->words[k]);
		kv->val[k] = argv[i + 1];
	}
	return 0;
}

/* Node, SAE and device names: printable, 1..QKDN_ID_MAX-1 bytes. */
static int check_name(struct qkdnctl_req *req, const char *what, const char *s)
{
	const unsigned char *p;

	if (!*s || strlen(s) >= QKDN_ID_MAX)
		return perr(req, "%s must be 1 to %d bytes long", what,
			    QKDN_ID_MAX - 1);
	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return perr(req, "%s contains a control character", what);
	return 0;
}

static int get_num(struct qkdnctl_req *req, const char *what, const char *s,
		   enum qkdnctl_num kind, uint64_t min, uint64_t max,
		   uint64_t *v)
{
	int bad = qkdnctl_parse_num(s, kind, max, v) < 0 ? errno : 0;

	if (!bad && *v < min)
		bad = ERANGE;
	if (bad) {
		if (bad == EINVAL)
			return perr(req, "invalid %s \"%s\"", what, s);
		return perr(req, "%s \"%s\" out of range (%llu..%llu)", what, s,
			    (unsigned long long)min, (unsigned long long)max);
	}
	return 0;
}

static int put_link_id(struct qkdnctl_req *req, const char *s)
{
	uint64_t v;

	if (get_num(req, "link id", s, QKDNCTL_NUM_PLAIN, 1, 65535, &v))
		return -1;
	mnl_attr_put_u32(req->nlh, QKDN_A_LINK_ID, (uint32_t)v);
	return 0;
}

static int put_name(struct qkdnctl_req *req, uint16_t type, const char *what,
		    const char *s)
{
	if (check_name(req, what, s))
		return -1;
	mnl_attr_put_strz(req->nlh, type, s);
	return 0;
}

static int put_bytes(struct qkdnctl_req *req, uint16_t type, const char *what,
		     const char *s, uint64_t *v)
{
	if (get_num(req, what, s, QKDNCTL_NUM_BYTES, 0, QKDN_POOL_CAPACITY_MAX, v))
		return -1;
	mnl_attr_put_u32(req->nlh, type, (uint32_t)*v);
	return 0;
}

static int check_low(struct qkdnctl_req *req, const char *cap, const char *low,
		     uint64_t c, uint64_t l)
{
	if (cap && low && l > c)
		return perr(req, "low mark %s exceeds capacity %s", low, cap);
	return 0;
}

static const char *const no_words[] = { NULL };

static int parse_none(int argc, char **argv, struct qkdnctl_req *req)
{
	const char *val[1] = { NULL };
	struct kv kv = { no_words, val, -1, NULL, 0, 0, 0 };

	return parse_kv(argc, argv, &kv, req);
}

static int node_cmd(int argc, char **argv, int cmd, struct qkdnctl_req *req)
{
	static const char *const words[] = { "id", "ctrl-mode", NULL };
	static const char *const modes[] = { "distributed", "centralized", NULL };
	const char *val[2] = { NULL };
	struct kv kv = { words, val, -1, NULL, 0, 0, 0 };
	int mode;

	if (cmd == 0) {			/* show */
		req->cmd = QKDN_CMD_NODE_GET;
		return parse_none(argc, argv, req);
	}
	req->cmd = QKDN_CMD_NODE_SET;	/* set */
	if (parse_kv(argc, argv, &kv, req))
		return -1;
	if (!val[0] && !val[1])
		return perr(req, "\"id\" or \"ctrl-mode\" is required");
	if (val[0] && put_name(req, QKDN_A_NODE_ID, "node id", val[0]))
		return -1;
	if (val[1]) {
		mode = qkdnctl_match(val[1], modes);
		if (mode < 0)
			return perr(req, "ctrl-mode is distributed or centralized, not \"%s\"",
				    val[1]);
		mnl_attr_put_u8(req->nlh, QKDN_A_CTRL_MODE,
				mode ? QKDN_CTRL_CENTRALIZED : QKDN_CTRL_DISTRIBUTED);
	}
	return 0;
}

/* route show: the controller's routes (ROUTE_GET is a dump only). */
static int route_cmd(int argc, char **argv, int cmd, struct qkdnctl_req *req)
{
	(void)cmd;
	req->cmd = QKDN_CMD_ROUTE_GET;
	req->dump = true;
	return parse_none(argc, argv, req);
}

enum { LK_ID, LK_PEER, LK_DEVICE, LK_CAPACITY, LK_LOW, LK_RUNNING, LK_RATE };

static int link_cmd(int argc, char **argv, int cmd, struct qkdnctl_req *req)
{
	static const char *const show_words[] = { "id", NULL };
	static const char *const add_words[] = {
		"id", "peer", "device", "capacity", "low", NULL
	};
	static const char *const set_words[] = {
		"id", "", "device", "capacity", "low", "running", "rate", NULL
	};
	const char *val[7] = { NULL };
	struct kv kv = { show_words, val, -1, NULL, 0, 0, 0 };
	uint64_t cap = 0, low = 0, v;
	struct nlmsghdr *nlh = req->nlh;

	static const uint8_t cmds[] = {
		QKDN_CMD_LINK_GET, QKDN_CMD_LINK_NEW, QKDN_CMD_LINK_SET,
		QKDN_CMD_LINK_DEL,
	};

	req->cmd = cmds[cmd];
	if (cmd == 1)
		kv.words = add_words;
	else if (cmd == 2)
		kv.words = set_words;
	if (parse_kv(argc, argv, &kv, req))
		return -1;
	if (cmd == 0) {
		if (!val[LK_ID]) {
			req->dump = true;
			return 0;
		}
		return put_link_id(req, val[LK_ID]);
	}
	if (!val[LK_ID])
		return perr(req, "\"id\" is required");
	if (cmd == 1 && !val[LK_PEER])
		return perr(req, "\"peer\" is required");
	if (cmd == 2 && !val[LK_DEVICE] && !val[LK_CAPACITY] && !val[LK_LOW] &&
	    !val[LK_RUNNING] && !val[LK_RATE])
		return perr(req, "nothing to set");
	/* The u64 first: its payload is then 64-bit aligned without padding. */
	if (val[LK_RATE]) {
		if (get_num(req, "rate", val[LK_RATE], QKDNCTL_NUM_RATE, 0,
			    UINT64_MAX, &v))
			return -1;
		mnl_attr_put_u64(nlh, QKDN_A_RATE, v);	/* the kernel reads u64 unaligned */
	}
	if (put_link_id(req, val[LK_ID]))
		return -1;
	if (val[LK_PEER] && put_name(req, QKDN_A_PEER_NODE_ID, "peer node id",
				     val[LK_PEER]))
		return -1;
	if (val[LK_DEVICE] && put_name(req, QKDN_A_DEVICE, "device",
				       val[LK_DEVICE]))
		return -1;
	if (val[LK_CAPACITY] && put_bytes(req, QKDN_A_POOL_CAPACITY, "capacity",
					  val[LK_CAPACITY], &cap))
		return -1;
	if (val[LK_LOW] && put_bytes(req, QKDN_A_POOL_LOW, "low mark",
				     val[LK_LOW], &low))
		return -1;
	if (check_low(req, val[LK_CAPACITY], val[LK_LOW], cap, low))
		return -1;
	if (val[LK_RUNNING]) {
		if (!strcmp(val[LK_RUNNING], "on"))
			mnl_attr_put_u8(nlh, QKDN_A_DEVICE_RUNNING, 1);
		else if (!strcmp(val[LK_RUNNING], "off"))
			mnl_attr_put_u8(nlh, QKDN_A_DEVICE_RUNNING, 0);
		else
			return perr(req, "\"running\" is on or off, not \"%s\"",
				    val[LK_RUNNING]);
	}
	return 0;
}

static int get_uid(struct qkdnctl_req *req, const char *s, uint32_t *uid)
{
	struct passwd *pw;
	uint64_t v;

	if (*s >= '0' && *s <= '9') {
		/* (uid_t)-1 means "no uid" to the kernel: not a valid value. */
		if (get_num(req, "uid", s, QKDNCTL_NUM_PLAIN, 0, UINT32_MAX - 1, &v))
			return -1;
		*uid = (uint32_t)v;
		return 0;
	}
	pw = getpwnam(s);
	if (!pw)
		return perr(req, "unknown user \"%s\"", s);
	*uid = pw->pw_uid;
	return 0;
}

static int sae_cmd(int argc, char **argv, int cmd, struct qkdnctl_req *req)
{
	static const char *const show_words[] = { "id", NULL };
	static const char *const add_words[] = { "id", "uid", "node", "cred",
						 "kernel", NULL };
	const char *val[5] = { NULL };
	struct kv kv = { show_words, val, -1, NULL, 0, 0, 0 };
	uint32_t uid = 0;

	static const uint8_t cmds[] = {
		QKDN_CMD_SAE_GET, QKDN_CMD_SAE_NEW, QKDN_CMD_SAE_DEL,
	};

	req->cmd = cmds[cmd];
	if (cmd == 1) {
		kv.words = add_words;
		kv.flags = 1u << 4;	/* "kernel" takes no value */
	}
	if (parse_kv(argc, argv, &kv, req))
		return -1;
	if (cmd == 0 && !val[0]) {
		req->dump = true;
		return 0;
	}
	if (!val[0])
		return perr(req, "\"id\" is required");
	if (put_name(req, QKDN_A_SAE_ID, "SAE id", val[0]))
		return -1;
	if (cmd != 1)
		return 0;
	/* One kind: local (uid, cred or both), remote (node), or kernel. */
	if ((val[1] || val[3]) + !!val[2] + !!val[4] != 1)
		return perr(req, "give \"uid\" or \"cred\" (local SAE), \"node\" (remote SAE), or \"kernel\" (kernel SAE)");
	if (val[4]) {
		mnl_attr_put(req->nlh, QKDN_A_SAE_KERNEL, 0, NULL);
		return 0;
	}
	if (val[3]) {
		size_t i, n = strlen(val[3]);

		for (i = 0; i < n; i++)
			if (val[3][i] < 0x20 || val[3][i] > 0x7e)
				break;
		if (!n || i < n || n >= QKDN_CRED_MAX)
			return perr(req, "credential must be 1 to %d printable ASCII characters",
				    QKDN_CRED_MAX - 1);
		mnl_attr_put_strz(req->nlh, QKDN_A_SAE_CRED, val[3]);
	}
	if (val[1]) {
		if (get_uid(req, val[1], &uid))
			return -1;
		mnl_attr_put_u32(req->nlh, QKDN_A_SAE_UID, uid);
	}
	if (val[1] || val[3])
		return 0;
	return put_name(req, QKDN_A_SAE_NODE_ID, "node id", val[2]);
}

static int pool_cmd(int argc, char **argv, int cmd, struct qkdnctl_req *req)
{
	static const char *const words[] = { "id", "slave", "master", NULL };
	const char *val[3] = { NULL };
	struct kv kv = { words, val, -1, NULL, 0, 0, 0 };

	(void)cmd;
	req->cmd = QKDN_CMD_POOL_GET;
	if (parse_kv(argc, argv, &kv, req))
		return -1;
	if (val[0] && (val[1] || val[2]))
		return perr(req, "give either \"id\" or \"slave\" [\"master\"]");
	if (val[2] && !val[1])
		return perr(req, "\"master\" needs \"slave\"");
	if (val[0])
		return put_link_id(req, val[0]);
	if (!val[1]) {
		req->dump = true;
		return 0;
	}
	if (put_name(req, QKDN_A_SLAVE_SAE_ID, "slave SAE id", val[1]))
		return -1;
	if (val[2] && put_name(req, QKDN_A_MASTER_SAE_ID, "master SAE id", val[2]))
		return -1;
	return 0;
}

static int get_format(struct qkdnctl_req *req, const char *s)
{
	static const char *const fmts[] = { "hex", "base64", NULL };

	switch (qkdnctl_match(s, fmts)) {
	case 0:
		req->fmt = QKDNCTL_FMT_HEX;
		return 0;
	case 1:
		req->fmt = QKDNCTL_FMT_BASE64;
		return 0;
	}
	return perr(req, "format is hex or base64, not \"%s\"", s);
}

enum {
	KY_MASTER, KY_SLAVE, KY_FORMAT, KY_NUMBER, KY_SIZE, KY_SESSION,
	KY_ID = 3
};

/* A session ID: 1..2^32-1 (0 is no session). */
static int get_session(struct qkdnctl_req *req, const char *s, uint32_t *id)
{
	uint64_t v;

	if (get_num(req, "session ID", s, QKDNCTL_NUM_PLAIN, 1, UINT32_MAX, &v))
		return -1;
	*id = (uint32_t)v;
	return 0;
}

static int key_cmd(int argc, char **argv, int cmd, struct qkdnctl_req *req)
{
	static const char *const get_words[] = {
		"master", "slave", "format", "number", "size", "session", NULL
	};
	static const char *const byid_words[] = {
		"master", "slave", "format", "id", NULL
	};
	const char *val[6] = { NULL };
	const char *ids[QKDN_KEYS_PER_REQUEST];
	const char *slaves[QKDN_SLAVES_MAX];
	/* key get: "slave" repeats, the first is the slave SAE, the others
	 * the additional slaves of a multicast key request. */
	struct kv kv = { get_words, val, KY_SLAVE, slaves, 0, QKDN_SLAVES_MAX, 0 };
	uint64_t number = 1, size = QKDN_KEY_SIZE_DEFAULT;
	uint32_t session = 0;
	unsigned int i;

	if (cmd == 1) {
		kv.words = byid_words;
		kv.repeat = KY_ID;
		kv.rep = ids;
		kv.maxrep = QKDN_KEYS_PER_REQUEST;
	}
	req->cmd = cmd ? QKDN_CMD_KEY_GET_BY_ID : QKDN_CMD_KEY_GET;
	if (parse_kv(argc, argv, &kv, req))
		return -1;
	if (cmd == 0 && kv.nrep)
		val[KY_SLAVE] = slaves[0];
	if (!val[KY_MASTER] || !val[KY_SLAVE])
		return perr(req, "\"master\" and \"slave\" are required");
	if (cmd == 1 && !kv.nrep)
		return perr(req, "at least one \"id\" is required");
	if (val[KY_FORMAT] && get_format(req, val[KY_FORMAT]))
		return -1;
	if (put_name(req, QKDN_A_MASTER_SAE_ID, "master SAE id", val[KY_MASTER]) ||
	    put_name(req, QKDN_A_SLAVE_SAE_ID, "slave SAE id", val[KY_SLAVE]))
		return -1;
	if (cmd == 0) {
		if (val[KY_NUMBER] &&
		    get_num(req, "number", val[KY_NUMBER], QKDNCTL_NUM_PLAIN, 1,
			    QKDN_KEYS_PER_REQUEST, &number))
			return -1;
		if (val[KY_SIZE] &&
		    get_num(req, "size", val[KY_SIZE], QKDNCTL_NUM_PLAIN,
			    QKDN_KEY_SIZE_MIN, QKDN_KEY_SIZE_MAX, &size))
			return -1;
		if (size % 8)
			return perr(req, "size %llu is not a multiple of 8 bits",
				    (unsigned long long)size);
		if (val[KY_SESSION] && get_session(req, val[KY_SESSION], &session))
			return -1;
		if (session && kv.nrep > 1)
			return perr(req, "a key request with \"session\" has one \"slave\"");
		mnl_attr_put_u32(req->nlh, QKDN_A_KEY_NUMBER, (uint32_t)number);
		mnl_attr_put_u32(req->nlh, QKDN_A_KEY_SIZE, (uint32_t)size);
		/* I.2 "key request with session ID" */
		if (session)
			mnl_attr_put_u32(req->nlh, QKDN_A_SESSION_ID, session);
		/* The same keys for more slaves: a multicast key request. */
		for (i = 1; i < kv.nrep; i++)
			if (put_name(req, QKDN_A_ADD_SLAVE_SAE_ID, "slave SAE id",
				     slaves[i]))
				return -1;
		return 0;
	}
	for (i = 0; i < kv.nrep; i++) {
		uint8_t id[QKDN_KEY_ID_LEN];
		struct nlattr *nest;

		if (qkdn_uuid_parse(ids[i], id))
			return perr(req, "invalid key id \"%s\" (a UUID, 8-4-4-4-12 hex digits)",
				    ids[i]);
		nest = mnl_attr_nest_start(req->nlh, QKDN_A_KEY);
		mnl_attr_put(req->nlh, QKDN_A_KEY_ID, sizeof(id), id);
		mnl_attr_nest_end(req->nlh, nest);
	}
	return 0;
}

enum { LS_SAE, LS_ACCEPT, LS_REFUSE, LS_TAKE, LS_COUNT, LS_FORMAT };

/* take N|all|none: keys taken of each proactive key supply. */
static int get_take(struct qkdnctl_req *req, const char *s, int *take)
{
	static const char *const words[] = { "all", "none", NULL };
	uint64_t v;

	switch (qkdnctl_match(s, words)) {
	case 0:
		*take = QKDNCTL_TAKE_ALL;
		return 0;
	case 1:
		*take = 0;
		return 0;
	}
	if (qkdnctl_parse_num(s, QKDNCTL_NUM_PLAIN, QKDN_KEYS_PER_REQUEST, &v) < 0 &&
	    errno == EINVAL)
		return perr(req, "take is a number (1..%d), all or none, not \"%s\"",
			    QKDN_KEYS_PER_REQUEST, s);
	if (get_num(req, "take", s, QKDNCTL_NUM_PLAIN, 1, QKDN_KEYS_PER_REQUEST, &v))
		return -1;
	*take = (int)v;
	return 0;
}

/*
 * session new: the master SAE's "session creation request".
 * session listen: the slave SAE's application; SAE_LISTEN is its first
 * request, the rest (answers) is built by qkdnctl_answer().
 */
static int session_cmd(int argc, char **argv, int cmd, struct qkdnctl_req *req)
{
	static const char *const new_words[] = { "master", "slave", NULL };
	static const char *const listen_words[] = {
		"sae", "accept", "refuse", "take", "count", "format", NULL
	};
	const char *val[6] = { NULL };
	struct kv kv = {
		.words = new_words, .val = val, .repeat = -1,
	};
	struct qkdnctl_listen *l = &req->listen;
	uint64_t v;

	if (cmd == 0) {
		req->cmd = QKDN_CMD_SESSION_NEW;
		if (parse_kv(argc, argv, &kv, req))
			return -1;
		if (!val[0] || !val[1])
			return perr(req, "\"master\" and \"slave\" are required");
		if (put_name(req, QKDN_A_MASTER_SAE_ID, "master SAE id", val[0]) ||
		    put_name(req, QKDN_A_SLAVE_SAE_ID, "slave SAE id", val[1]))
			return -1;
		return 0;
	}
	req->cmd = QKDN_CMD_SAE_LISTEN;
	l->take = QKDNCTL_TAKE_ALL;
	kv.words = listen_words;
	kv.flags = 1u << LS_ACCEPT | 1u << LS_REFUSE;
	if (parse_kv(argc, argv, &kv, req))
		return -1;
	if (!val[LS_SAE])
		return perr(req, "\"sae\" is required");
	if (val[LS_ACCEPT] && val[LS_REFUSE])
		return perr(req, "give either \"accept\" or \"refuse\"");
	/* A refusing SAE gets no key supply: nothing to take or count. */
	if (val[LS_REFUSE] && (val[LS_TAKE] || val[LS_COUNT] || val[LS_FORMAT]))
		return perr(req, "\"refuse\" takes no \"take\", \"count\" or \"format\"");
	l->refuse = val[LS_REFUSE] != NULL;
	if (val[LS_TAKE] && get_take(req, val[LS_TAKE], &l->take))
		return -1;
	if (val[LS_COUNT]) {
		if (get_num(req, "count", val[LS_COUNT], QKDNCTL_NUM_PLAIN, 1,
			    UINT32_MAX, &v))
			return -1;
		l->count = (uint32_t)v;
	}
	if (val[LS_FORMAT] && get_format(req, val[LS_FORMAT]))
		return -1;
	l->sae = val[LS_SAE];
	return put_name(req, QKDN_A_SAE_ID, "SAE id", val[LS_SAE]);
}

enum {
	IP_ID, IP_PEER, IP_MASTER, IP_SLAVE, IP_LOCAL, IP_REMOTE, IP_SRC, IP_DST,
	IP_KEY_BITS, IP_REKEY, IP_REKEY_BYTES, IP_LIFETIME, IP_ON_EXHAUST,
	IP_N
};

/* An IPv4 or IPv6 address, or with plen a prefix ADDR[/LEN] (no LEN: the
 * full length). Returns the address length (4 or 16), or -1. */
static int get_addr(struct qkdnctl_req *req, const char *what, const char *s,
		    uint8_t addr[16], uint8_t *plen)
{
	char text[INET6_ADDRSTRLEN + 1];
	const char *slash = plen ? strchr(s, '/') : NULL;
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t v;
	int alen;

	if (n >= sizeof(text))
		return perr(req, "invalid %s \"%s\" (an IPv4 or IPv6 address%s)",
			    what, s, plen ? ", with /LEN" : "");
	memcpy(text, s, n);
	text[n] = '\0';
	if (inet_pton(AF_INET, text, addr) == 1)
		alen = 4;
	else if (inet_pton(AF_INET6, text, addr) == 1)
		alen = 16;
	else
		return perr(req, "invalid %s \"%s\" (an IPv4 or IPv6 address%s)",
			    what, s, plen ? ", with /LEN" : "");
	if (!plen)
		return alen;
	*plen = (uint8_t)(alen * 8);
	if (slash) {
		if (get_num(req, "prefix length", slash + 1, QKDNCTL_NUM_PLAIN, 0,
			    (uint64_t)alen * 8, &v))
			return -1;
		*plen = (uint8_t)v;
	}
	return alen;
}

static int ipsec_id(struct qkdnctl_req *req, const char *s)
{
	uint64_t v;

	if (get_num(req, "ipsec id", s, QKDNCTL_NUM_PLAIN, 1, 65535, &v))
		return -1;
	mnl_attr_put_u32(req->nlh, QKDN_A_IPSEC_ID, (uint32_t)v);
	return 0;
}

/*
 * ipsec add: an ESP tunnel keyed from QKD. Everything goes in the
 * QKDN_A_IPSEC nest; the four addresses are of one family. That the
 * lifetime is at least twice the rekey interval (whose default only the
 * kernel knows) is the kernel's to check.
 */
static int ipsec_add(const char **val, struct qkdnctl_req *req)
{
	static const char *const need[] = {
		"id", "peer", "master", "slave", "local", "remote", "src", "dst",
	};
	static const char *const exhaust[] = { "keep", "drop", NULL };
	static const uint16_t addr_types[] = {
		QKDN_A_IPSEC_LOCAL, QKDN_A_IPSEC_REMOTE, QKDN_A_IPSEC_SRC,
		QKDN_A_IPSEC_DST,
	};
	static const char *const addr_what[] = {
		"local address", "remote address", "src prefix", "dst prefix",
	};
	uint8_t addr[4][16], plen[4] = { 0 };
	uint64_t bits = 0, rekey = 0, bytes = 0, life = 0;
	struct nlmsghdr *nlh = req->nlh;
	struct nlattr *nest;
	int alen[4], i, ex = 0;

	for (i = 0; i <= IP_DST; i++)
		if (!val[i])
			return perr(req, "\"%s\" is required", need[i]);
	for (i = 0; i < 4; i++) {
		alen[i] = get_addr(req, addr_what[i], val[IP_LOCAL + i], addr[i],
				   i < 2 ? NULL : &plen[i]);
		if (alen[i] < 0)
			return -1;
		if (alen[i] != alen[0])
			return perr(req, "local, remote, src and dst must all be IPv4 or all IPv6");
	}
	if (val[IP_KEY_BITS]) {
		if (get_num(req, "key-bits", val[IP_KEY_BITS], QKDNCTL_NUM_PLAIN,
			    128, 256, &bits))
			return -1;
		if (bits != 128 && bits != 256)
			return perr(req, "key-bits is 128 or 256, not \"%s\"",
				    val[IP_KEY_BITS]);
	}
	if (val[IP_REKEY] &&
	    get_num(req, "rekey", val[IP_REKEY], QKDNCTL_NUM_PLAIN,
		    QKDN_IPSEC_REKEY_MIN, QKDN_IPSEC_REKEY_MAX, &rekey))
		return -1;
	if (val[IP_REKEY_BYTES] &&
	    get_num(req, "rekey-bytes", val[IP_REKEY_BYTES], QKDNCTL_NUM_BYTES,
		    0, UINT64_MAX, &bytes))
		return -1;
	if (val[IP_LIFETIME] &&
	    get_num(req, "lifetime", val[IP_LIFETIME], QKDNCTL_NUM_PLAIN,
		    2 * QKDN_IPSEC_REKEY_MIN, 2 * QKDN_IPSEC_REKEY_MAX, &life))
		return -1;
	if (val[IP_ON_EXHAUST]) {
		ex = qkdnctl_match(val[IP_ON_EXHAUST], exhaust);
		if (ex < 0)
			return perr(req, "on-exhaust is keep or drop, not \"%s\"",
				    val[IP_ON_EXHAUST]);
	}
	if (check_name(req, "peer node id", val[IP_PEER]) ||
	    check_name(req, "master SAE id", val[IP_MASTER]) ||
	    check_name(req, "slave SAE id", val[IP_SLAVE]))
		return -1;

	nest = mnl_attr_nest_start(nlh, QKDN_A_IPSEC);
	if (ipsec_id(req, val[IP_ID]))
		return -1;
	mnl_attr_put_strz(nlh, QKDN_A_IPSEC_PEER, val[IP_PEER]);
	mnl_attr_put_strz(nlh, QKDN_A_IPSEC_MASTER, val[IP_MASTER]);
	mnl_attr_put_strz(nlh, QKDN_A_IPSEC_SLAVE, val[IP_SLAVE]);
	for (i = 0; i < 4; i++) {
		mnl_attr_put(nlh, addr_types[i], (size_t)alen[i], addr[i]);
		if (i == 2)
			mnl_attr_put_u8(nlh, QKDN_A_IPSEC_SRC_LEN, plen[i]);
		else if (i == 3)
			mnl_attr_put_u8(nlh, QKDN_A_IPSEC_DST_LEN, plen[i]);
	}
	if (val[IP_KEY_BITS])
		mnl_attr_put_u32(nlh, QKDN_A_IPSEC_KEY_BITS, (uint32_t)bits);
	if (val[IP_REKEY])
		mnl_attr_put_u32(nlh, QKDN_A_IPSEC_REKEY_SECONDS, (uint32_t)rekey);
	/* No QKDN_A_IPSEC_PAD: the kernel reads the u64 unaligned. */
	if (val[IP_REKEY_BYTES])
		mnl_attr_put_u64(nlh, QKDN_A_IPSEC_REKEY_BYTES, bytes);
	if (val[IP_LIFETIME])
		mnl_attr_put_u32(nlh, QKDN_A_IPSEC_HARD_SECONDS, (uint32_t)life);
	if (val[IP_ON_EXHAUST])
		mnl_attr_put_u8(nlh, QKDN_A_IPSEC_ON_EXHAUST,
				ex ? QKDN_IPSEC_DROP : QKDN_IPSEC_KEEP);
	mnl_attr_nest_end(nlh, nest);
	return 0;
}

static int ipsec_cmd(int argc, char **argv, int cmd, struct qkdnctl_req *req)
{
	static const char *const id_words[] = { "id", NULL };
	static const char *const add_words[] = {
		"id", "peer", "master", "slave", "local", "remote", "src", "dst",
		"key-bits", "rekey", "rekey-bytes", "lifetime", "on-exhaust", NULL
	};
	static const uint8_t cmds[] = {
		QKDN_CMD_IPSEC_GET, QKDN_CMD_IPSEC_NEW, QKDN_CMD_IPSEC_DEL,
	};
	const char *val[IP_N] = { NULL };
	struct kv kv = { id_words, val, -1, NULL, 0, 0, 0 };
	struct nlattr *nest;

	req->cmd = cmds[cmd];
	if (cmd == 1)
		kv.words = add_words;
	if (parse_kv(argc, argv, &kv, req))
		return -1;
	if (cmd == 1)
		return ipsec_add(val, req);
	if (!val[IP_ID]) {
		if (cmd == 0) {
			req->dump = true;
			return 0;
		}
		return perr(req, "\"id\" is required");
	}
	nest = mnl_attr_nest_start(req->nlh, QKDN_A_IPSEC);
	if (ipsec_id(req, val[IP_ID]))
		return -1;
	mnl_attr_nest_end(req->nlh, nest);
	return 0;
}

struct nlmsghdr *qkdnctl_answer(void *buf, const struct qkdnctl_note *note,
				const struct qkdnctl_listen *l)
{
	struct nlmsghdr *nlh;
	unsigned int i;

	switch (note->cmd) {
	case QKDN_CMD_SESSION:
		nlh = qkdn_msg(NULL, buf, QKDN_CMD_SESSION, 0);
		mnl_attr_put_u32(nlh, QKDN_A_SESSION_ID, note->session);
		if (l->refuse)
			mnl_attr_put_u32(nlh, QKDN_A_ERRNO, QKDNCTL_REFUSE_ERRNO);
		return nlh;
	case QKDN_CMD_KEY_SUPPLY:
		nlh = qkdn_msg(NULL, buf, QKDN_CMD_KEY_SUPPLY, 0);
		mnl_attr_put_u32(nlh, QKDN_A_SESSION_ID, note->session);
		for (i = 0; i < note->nids && i < QKDN_KEYS_PER_REQUEST; i++) {
			struct nlattr *nest = mnl_attr_nest_start(nlh, QKDN_A_KEY);

			mnl_attr_put(nlh, QKDN_A_KEY_ID, QKDN_KEY_ID_LEN,
				     note->ids[i]);
			mnl_attr_nest_end(nlh, nest);
		}
		return nlh;
	}
	return NULL;
}

struct qkdnctl_object {
	const char *const *cmds;
	int (*parse)(int argc, char **argv, int cmd, struct qkdnctl_req *req);
	bool default_show;
};

static const char *const node_cmds[] = { "show", "set", NULL };
static const char *const link_cmds[] = { "show", "add", "set", "del", NULL };
static const char *const sae_cmds[] = { "show", "add", "del", NULL };
static const char *const pool_cmds[] = { "show", NULL };
static const char *const key_cmds[] = { "get", "get-by-id", NULL };
static const char *const route_cmds[] = { "show", NULL };
static const char *const session_cmds[] = { "new", "listen", NULL };
static const char *const ipsec_cmds[] = { "show", "add", "del", NULL };

static const struct qkdnctl_object qkdnctl_objs[] = {
	[QKDNCTL_OBJ_NODE] = { node_cmds, node_cmd, true },
	[QKDNCTL_OBJ_LINK] = { link_cmds, link_cmd, true },
	[QKDNCTL_OBJ_SAE] = { sae_cmds, sae_cmd, true },
	[QKDNCTL_OBJ_POOL] = { pool_cmds, pool_cmd, true },
	[QKDNCTL_OBJ_KEY] = { key_cmds, key_cmd, false },
	[QKDNCTL_OBJ_ROUTE] = { route_cmds, route_cmd, true },
	[QKDNCTL_OBJ_SESSION] = { session_cmds, session_cmd, false },
	[QKDNCTL_OBJ_IPSEC] = { ipsec_cmds, ipsec_cmd, true },
};

int qkdnctl_parse(int argc, char **argv, void *buf, struct qkdnctl_req *req)
{
	const struct qkdnctl_object *o;
	int i, c = 0;

	memset(req, 0, sizeof(*req));
	if (argc < 1)
		return perr(req, "no object given");
	i = qkdnctl_match(argv[0], qkdnctl_objects);
	if (i == -2)
		return perr(req, "ambiguous object \"%s\"", argv[0]);
	if (i < 0)
		return perr(req, "unknown object \"%s\"", argv[0]);
	req->obj = qkdnctl_object_ids[i];
	if (req->obj == QKDNCTL_OBJ_NONE) {	/* "help" */
		req->help = true;
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "help")) {
		req->help = true;
		return 0;
	}
	if (req->obj == QKDNCTL_OBJ_MONITOR) {
		if (argc > 1)
			return perr(req, "monitor takes no arguments");
		return 0;
	}
	o = &qkdnctl_objs[req->obj];
	if (argc > 1) {
		c = qkdnctl_match(argv[1], o->cmds);
		if (c == -2)
			return perr(req, "ambiguous command \"%s\"", argv[1]);
		if (c < 0)
			return perr(req, "unknown command \"%s\"", argv[1]);
	} else if (!o->default_show) {
		return perr(req, "a command is required");
	}
	req->nlh = qkdn_msg(NULL, buf, 0, 0);
	if (o->parse(argc > 1 ? argc - 2 : 0, argc > 1 ? argv + 2 : argv, c,
		     req)) {
		req->nlh = NULL;
		return -1;
	}
	((struct genlmsghdr *)mnl_nlmsg_get_payload(req->nlh))->cmd = req->cmd;
	if (req->dump)
		req->nlh->nlmsg_flags |= NLM_F_DUMP;
	return 0;
}
