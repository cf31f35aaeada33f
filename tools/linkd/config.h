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

#include "conf.h"

struct linkd_config {
	char listen_host[QD_HOST_MAX];	/* numeric */
	char listen_port[QD_PORT_MAX];
	char *cert;		/* absolute paths */
	char *key;
	char *ca;
	struct qd_peer_conf *peers;
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

const struct qd_peer_conf *linkd_config_peer(const struct linkd_config *cfg,
					     const char *id);

#endif /* LINKD_CONFIG_H */
