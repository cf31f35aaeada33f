/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Daemon configuration files: "key = value" lines, '#' comments, errors as
 * "FILE:LINE: reason". The daemons' parsers (linkd/config.c,
 * controllerd/config.c) give meaning to the keys; this file reads lines,
 * splits them and checks the values they share: paths, listen addresses,
 * node IDs and "NODEID = HOST:PORT" lines. The keys every daemon has are
 * parsed here too (struct qd_daemon_conf).
 */
#ifndef QD_CONF_H
#define QD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/qkdn.h>

#define QD_HOST_MAX	256	/* with NUL */
#define QD_PORT_MAX	6	/* "65535" with NUL */
#define QD_LINE_MAX	1024

/* Where another node's daemon listens. */
struct qd_peer_conf {
	char id[QKDN_ID_MAX];		/* its node ID */
	char host[QD_HOST_MAX];		/* name or numeric address */
	char port[QD_PORT_MAX];
};

/* What every daemon's file says, the same way in each. */
struct qd_daemon_conf {
	char listen_host[QD_HOST_MAX];	/* numeric; "" when not listening */
	char listen_port[QD_PORT_MAX];
	char *cert;			/* absolute paths */
	char *key;
	char *ca;
	struct qd_peer_conf *peers;	/* nodes this one dials */
	size_t n_peers;
};

/* A parser's position, for messages. */
struct qd_conf {
	const char *name;	/* the file, as given */
	const char *basedir;	/* for relative paths, or NULL */
	unsigned int line;	/* 0: about the whole file */
	char *err;
	size_t errlen;
};

/* One line "KW [ARG] = VALUE": arg is NULL when absent, more says that
 * further words followed ARG. Returns 0, or -1 after qd_conf_fail().
 */
typedef int (*qd_conf_line_fn)(struct qd_conf *p, void *ctx, const char *kw,
			       const char *arg, bool more, const char *val);

/* Read every line of f and call fn for each that is not blank. Returns 0
 * (with p->line reset to 0, so that the caller's checks of the whole file
 * name no line) or -1 with the message in p->err.
 */
int qd_conf_read(struct qd_conf *p, FILE *f, qd_conf_line_fn fn, void *ctx);

/* A daemon's parser: f, named name in messages, with relative paths taken
 * from basedir, into cfg. 0, or -1 with the message in err.
 */
typedef int (*qd_conf_parse_fn)(FILE *f, const char *name,
				const char *basedir, void *cfg, char *err,
				size_t errlen);

/* Parse the file path with parse, relative paths from its folder. cfg
 * (size bytes) is zeroed first. 0, or -1 with "PATH: reason" or parse's
 * message in err.
 */
int qd_conf_load(const char *path, qd_conf_parse_fn parse, void *cfg,
		 size_t size, char *err, size_t errlen);

/* Write "FILE:LINE: " and the message into p->err. Returns -1. */
int qd_conf_fail(struct qd_conf *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "key = FILE": *out is set once (else "duplicate"), relative to basedir. */
int qd_conf_path(struct qd_conf *p, const char *key, const char *val,
		 char **out);

/* "listen = ADDR:PORT", numeric; host[QD_HOST_MAX], port[QD_PORT_MAX]
 * already set ("duplicate") when port[0].
 */
int qd_conf_listen(struct qd_conf *p, const char *val, char *host,
		   char *port);

/* "KW NODEID = HOST:PORT": checked and appended to *list (n entries); a
 * node ID already in the list is refused.
 */
int qd_conf_peer(struct qd_conf *p, const char *kw, const char *id,
		 const char *val, struct qd_peer_conf **list, size_t *n);
const struct qd_peer_conf *qd_conf_peer_find(const struct qd_peer_conf *list,
					     size_t n, const char *id);

/* The keys of struct qd_daemon_conf: "listen = ADDR:PORT", "cert = FILE",
 * "key = FILE", "ca = FILE" and "peer NODEID = HOST:PORT". Returns 0, -1
 * after qd_conf_fail(), or 1 when kw is none of them.
 */
int qd_conf_daemon_key(struct qd_conf *p, struct qd_daemon_conf *c,
		       const char *kw, const char *arg, bool more,
		       const char *val);
/* After reading: "missing 'cert = FILE'" (key, ca) or 0. */
int qd_conf_daemon_check(struct qd_conf *p, const struct qd_daemon_conf *c);
void qd_conf_daemon_free(struct qd_daemon_conf *c);

/* "HOST:PORT" or "[V6]:PORT" -> host, port. Returns 0 or -1 with a reason. */
int qd_addr_split(const char *s, char *host, size_t hostlen,
		  char *port, size_t portlen, const char **why);
/* host, port -> "HOST:PORT" or "[V6]:PORT" in buf (QD_ADDR_JOIN_MAX
 * will do); returns buf.
 */
#define QD_ADDR_JOIN_MAX	(QD_HOST_MAX + QD_PORT_MAX + 2)
const char *qd_addr_join(const char *host, const char *port, char *buf,
			 size_t len);

/* "KW = N": a decimal number, no sign, no suffix, within [min, max]. */
int qd_conf_uint(struct qd_conf *p, const char *kw, const char *val,
		 uint64_t min, uint64_t max, uint64_t *out);

/* A node ID: 1..QKDN_ID_MAX-1 printable non-space ASCII characters. */
bool qd_node_id_valid(const char *id, size_t len);

#endif /* QD_CONF_H */
