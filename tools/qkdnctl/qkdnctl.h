/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * qkdnctl: the command line of a qkdn node. The parser turns argv into a
 * netlink request without touching a socket, so that it can be tested on
 * any host; qkdnctl_main() sends it and prints the answer.
 */
#ifndef QKDNCTL_H
#define QKDNCTL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "libqkdn.h"

enum qkdnctl_exit {
	QKDNCTL_EXIT_OK = 0,
	QKDNCTL_EXIT_ERROR = 1,	/* the kernel or the system said no */
	QKDNCTL_EXIT_USAGE = 2,	/* the command line is wrong */
};

/* Numbers: plain decimal, or with k/M/G suffixes. */
enum qkdnctl_num {
	QKDNCTL_NUM_PLAIN,	/* no suffix */
	QKDNCTL_NUM_BYTES,	/* k, M, G = 2^10, 2^20, 2^30 */
	QKDNCTL_NUM_RATE,	/* k, M, G = 10^3, 10^6, 10^9 */
};

/* Returns 0, or -1 with errno EINVAL (not a number) or ERANGE (> max). */
int qkdnctl_parse_num(const char *s, enum qkdnctl_num kind, uint64_t max,
		      uint64_t *out);

/* Match word against a NULL-terminated list: an exact match, else a unique
 * prefix. Returns the index, -1 if nothing matches, -2 if ambiguous. */
int qkdnctl_match(const char *word, const char *const *list);

/* A minimal streaming JSON writer. */
#define QKDNCTL_JSON_DEPTH 16
struct qkdnctl_json {
	FILE *f;
	bool pretty;
	int depth;
	bool nonempty[QKDNCTL_JSON_DEPTH];
	char close[QKDNCTL_JSON_DEPTH];
};

void qkdnctl_json_init(struct qkdnctl_json *jw, FILE *f, bool pretty);
/* Write s as a JSON string (quotes included); control characters and
 * invalid UTF-8 are escaped so that the output is always valid JSON. */
void qkdnctl_json_string(FILE *f, const char *s);
/* key is NULL inside arrays and at the top level. */
void qkdnctl_json_obj(struct qkdnctl_json *jw, const char *key);
void qkdnctl_json_arr(struct qkdnctl_json *jw, const char *key);
void qkdnctl_json_end(struct qkdnctl_json *jw);
void qkdnctl_json_str(struct qkdnctl_json *jw, const char *key, const char *v);
void qkdnctl_json_u64(struct qkdnctl_json *jw, const char *key, uint64_t v);
void qkdnctl_json_bool(struct qkdnctl_json *jw, const char *key, bool v);

enum qkdnctl_obj {
	QKDNCTL_OBJ_NONE,
	QKDNCTL_OBJ_NODE,
	QKDNCTL_OBJ_LINK,
	QKDNCTL_OBJ_SAE,
	QKDNCTL_OBJ_POOL,
	QKDNCTL_OBJ_KEY,
	QKDNCTL_OBJ_ROUTE,
	QKDNCTL_OBJ_SESSION,
	QKDNCTL_OBJ_IPSEC,
	QKDNCTL_OBJ_MONITOR,
};

enum qkdnctl_fmt {
	QKDNCTL_FMT_NONE,	/* key IDs only */
	QKDNCTL_FMT_HEX,
	QKDNCTL_FMT_BASE64,
};

struct qkdnctl_opts {
	bool json;
	bool pretty;
	bool help;
	const char *netns;
	const char *batch;	/* -b FILE: commands from FILE ("-": stdin) */
};

/* Split a batch line in place into at most max - 1 words (argv is then
 * NULL-terminated). A word starting with '#' starts a comment. Returns the
 * number of words, or -1 if there are too many. */
int qkdnctl_split(char *line, char **argv, int max);

/* Global options; returns the index of the object word, or -1 (usage error,
 * message in err). */
int qkdnctl_parse_opts(int argc, char **argv, struct qkdnctl_opts *o,
		       char *err, size_t errlen);

/* session listen: how the slave SAE's application answers the KM. */
#define QKDNCTL_TAKE_ALL	(-1)
struct qkdnctl_listen {
	const char *sae;	/* the SAE ID (in argv) */
	bool refuse;		/* refuse every session (ECONNREFUSED) */
	int take;		/* keys taken of each supply: 0..N, or
				 * QKDNCTL_TAKE_ALL */
	uint32_t count;		/* exit after this many supplies; 0: never */
};

/* Why the listener refuses a session. */
#define QKDNCTL_REFUSE_ERRNO	ECONNREFUSED

struct qkdnctl_req {
	enum qkdnctl_obj obj;
	uint8_t cmd;		/* QKDN_CMD_*, 0 for monitor */
	bool help;		/* "help" asked: print usage of obj, exit 0 */
	bool dump;
	enum qkdnctl_fmt fmt;
	struct qkdnctl_listen listen;	/* QKDN_CMD_SAE_LISTEN */
	struct nlmsghdr *nlh;	/* in the caller's buffer; NULL for monitor */
	char err[256];
};

/* Parse "OBJECT COMMAND ARGS..." (argv[0] is the object) into a request
 * built in buf (QKDN_BUF_SIZE bytes), message type 0. Returns 0, or -1 with
 * req->err set (a usage error). */
int qkdnctl_parse(int argc, char **argv, void *buf, struct qkdnctl_req *req);

/* Usage text: of one object, or of everything for QKDNCTL_OBJ_NONE. */
void qkdnctl_usage(FILE *f, enum qkdnctl_obj obj);

/* What the listening SAE received and has to answer (no key bytes). */
struct qkdnctl_note {
	uint8_t cmd;		/* QKDN_CMD_SESSION or QKDN_CMD_KEY_SUPPLY;
				 * 0: nothing to answer */
	uint32_t session;
	unsigned int nids;	/* the key IDs taken */
	uint8_t ids[QKDN_KEYS_PER_REQUEST][QKDN_KEY_ID_LEN];
};

/* The answer of the listening SAE to note, built in buf (QKDN_BUF_SIZE
 * bytes, message type 0): "response to session creation notification"
 * (QKDN_CMD_SESSION, with ERRNO to refuse) or "response to proactive key
 * supply" (QKDN_CMD_KEY_SUPPLY with the key IDs taken; none declines).
 * NULL when there is nothing to answer. */
struct nlmsghdr *qkdnctl_answer(void *buf, const struct qkdnctl_note *note,
				const struct qkdnctl_listen *l);

/* Printing of replies and events. */
struct qkdnctl_out {
	FILE *f;
	struct qkdnctl_json *jw;	/* NULL: text */
	enum qkdnctl_fmt fmt;
	enum qkdnctl_obj obj;
	bool started;		/* the JSON wrapper is open */
	unsigned int count;	/* objects printed */
	const struct qkdnctl_listen *listen;	/* session listen only */
	struct qkdnctl_note *note;		/* session listen only */
};

int qkdnctl_print_msg(const struct nlmsghdr *nlh, void *data);
void qkdnctl_print_begin(struct qkdnctl_out *out);
void qkdnctl_print_end(struct qkdnctl_out *out);
/* One event (monitor): one line of text or one JSON object per line. */
int qkdnctl_print_event(const struct nlmsghdr *nlh, void *data);

/* session listen: the first line, once the KM takes the SAE's messages. */
void qkdnctl_print_listening(struct qkdnctl_out *out, const char *sae);
/* session listen: a message to the listening socket (out->listen and
 * out->note set). A "session creation notification" is printed with the
 * answer out->listen gives; a "proactive key supply" with the keys taken
 * (bytes as out->fmt asks). out->note says what to answer. Returns
 * MNL_CB_STOP after a message to answer, MNL_CB_OK for one that is not
 * for the listener (note->cmd 0), MNL_CB_ERROR with errno EBADMSG for a
 * malformed one (nothing printed). */
int qkdnctl_print_listen(const struct nlmsghdr *nlh, void *data);

int qkdnctl_main(int argc, char **argv);

#endif /* QKDNCTL_H */
