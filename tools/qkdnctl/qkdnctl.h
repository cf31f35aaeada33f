/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * qkdnctl: the command line of a qkdn node. The parser turns argv into a
 * netlink request without touching a socket, so that it can be tested on
 * any host; qkdnctl_main() sends it and prints the answer.
 */
#ifndef QKDNCTL_H
#define QKDNCTL_H

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

struct qkdnctl_req {
	enum qkdnctl_obj obj;
	uint8_t cmd;		/* QKDN_CMD_*, 0 for monitor */
	bool help;		/* "help" asked: print usage of obj, exit 0 */
	bool dump;
	enum qkdnctl_fmt fmt;
	struct nlmsghdr *nlh;	/* in the caller's buffer; NULL for monitor */
	char err[256];
};

/* Parse "OBJECT COMMAND ARGS..." (argv[0] is the object) into a request
 * built in buf (QKDN_BUF_SIZE bytes), message type 0. Returns 0, or -1 with
 * req->err set (a usage error). */
int qkdnctl_parse(int argc, char **argv, void *buf, struct qkdnctl_req *req);

/* Usage text: of one object, or of everything for QKDNCTL_OBJ_NONE. */
void qkdnctl_usage(FILE *f, enum qkdnctl_obj obj);

/* Printing of replies and events. */
struct qkdnctl_out {
	FILE *f;
	struct qkdnctl_json *jw;	/* NULL: text */
	enum qkdnctl_fmt fmt;
	enum qkdnctl_obj obj;
	bool started;		/* the JSON wrapper is open */
	unsigned int count;	/* objects printed */
};

int qkdnctl_print_msg(const struct nlmsghdr *nlh, void *data);
void qkdnctl_print_begin(struct qkdnctl_out *out);
void qkdnctl_print_end(struct qkdnctl_out *out);
/* One event (monitor): one line of text or one JSON object per line. */
int qkdnctl_print_event(const struct nlmsghdr *nlh, void *data);

int qkdnctl_main(int argc, char **argv);

#endif /* QKDNCTL_H */
