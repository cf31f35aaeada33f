/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-controllerd configuration file.
 */
#ifndef CTRLD_CONFIG_H
#define CTRLD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"

enum ctrld_mode {
	CTRLD_DISTRIBUTED,	/* a controller in every node, LSAs flooded */
	CTRLD_CENTRAL,		/* the one controller of a centralized QKDN */
	CTRLD_AGENT,		/* a node of a centralized QKDN */
};

/* How the central controller answers a "key relay request notification". */
enum ctrld_relay_scheme {
	CTRLD_RELAY_ROUTE,	/* I.4a: "key relay request" with the route */
	CTRLD_RELAY_RESERVE,	/* I.4b: reservation at KM1, relay from KM2 */
};

#define CTRLD_LOW_KEY_DEFAULT		4096	/* bytes */
#define CTRLD_LSA_MAX_AGE_DEFAULT	60	/* seconds */
#define CTRLD_LSA_MAX_AGE_MIN		2
#define CTRLD_LSA_MAX_AGE_MAX		3600

struct ctrld_config {
	/* listen: not for an agent; peers: distributed only */
	struct qd_daemon_conf common;
	enum ctrld_mode mode;
	struct qd_peer_conf controller;	/* agent: the central controller */
	uint64_t low_key;		/* bytes: below, a link costs more */
	unsigned int lsa_max_age;	/* seconds */
	enum ctrld_relay_scheme relay_scheme;	/* central only */
};

/* Read FILE. On error returns -1 with a "FILE:LINE: reason" message in
 * err; cfg is then empty. Relative paths are taken from FILE's folder.
 */
int ctrld_config_load(const char *path, struct ctrld_config *cfg,
		      char *err, size_t errlen);
/* The same from an open stream; name is used in messages, basedir for
 * relative paths.
 */
int ctrld_config_parse(FILE *f, const char *name, const char *basedir,
		       struct ctrld_config *cfg, char *err, size_t errlen);
void ctrld_config_free(struct ctrld_config *cfg);

const char *ctrld_mode_name(enum ctrld_mode mode);

#endif /* CTRLD_CONFIG_H */
