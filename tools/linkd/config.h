/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-linkd configuration file: the keys every daemon has
 * (struct qd_daemon_conf), and no others.
 */
#ifndef LINKD_CONFIG_H
#define LINKD_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "conf.h"

/* Read FILE. On error returns -1 with a "FILE:LINE: reason" message in
 * err; cfg is then empty. Relative paths are taken from FILE's folder.
 * qd_conf_daemon_free() frees cfg.
 */
int linkd_config_load(const char *path, struct qd_daemon_conf *cfg,
		      char *err, size_t errlen);
/* The same from an open stream; name is used in messages, basedir for
 * relative paths.
 */
int linkd_config_parse(FILE *f, const char *name, const char *basedir,
		       struct qd_daemon_conf *cfg, char *err, size_t errlen);

#endif /* LINKD_CONFIG_H */
