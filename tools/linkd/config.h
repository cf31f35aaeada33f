/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-linkd configuration file.
 */
#ifndef LINKD_CONFIG_H
#define LINKD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/qkdn.h>

#define LINKD_HOST_MAX	256	/* with NUL */
#define LINKD_PORT_MAX	6	/* "65535" with NUL */
#define LINKD_LINE_MAX	1024

struct linkd_peer_conf {
	char id[QKDN_ID_MAX];		/* the peer's node ID */
	char host[LINKD_HOST_MAX];	/* name or numeric address */
	char port[LINKD_PORT_MAX];
};

struct linkd_config {
	char listen_host[LINKD_HOST_MAX];	/* numeric */
	char listen_port[LINKD_PORT_MAX];
	char *cert;		/* absolute paths */
	char *key;
	char *ca;
	struct linkd_peer_conf *peers;
	size_t n_peers;
};

/* Read FILE. On error returns -1 with a "FILE:LINE: reason" message in
 * err; cfg is then empty. Relative paths are taken from FILE's folder.
 */
int linkd_config_load(const char *path, struct linkd_config *cfg,
		      char *err, size_t errlen);
/* The same from an open stream; name is used in messages, basedir for
 * relative paths.
 */
int linkd_config_parse(FILE *f, const char *name, const char *basedir,
		       struct linkd_config *cfg, char *err, size_t errlen);
void linkd_config_free(struct linkd_config *cfg);

const struct linkd_peer_conf *linkd_config_peer(const struct linkd_config *cfg,
						const char *id);

/* "HOST:PORT" or "[V6]:PORT" -> host, port. Returns 0 or -1 with a reason. */
int linkd_addr_split(const char *s, char *host, size_t hostlen,
		     char *port, size_t portlen, const char **why);

/* A node ID: 1..QKDN_ID_MAX-1 printable non-space ASCII characters. */
bool linkd_node_id_valid(const char *id, size_t len);

#endif /* LINKD_CONFIG_H */
