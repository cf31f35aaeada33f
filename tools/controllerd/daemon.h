/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-controllerd: the event loop between the kernel and the core.
 */
#ifndef CTRLD_DAEMON_H
#define CTRLD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "core.h"
#include "kernel.h"
#include "service.h"

#define CTRLD_REFRESH_MS	200	/* node and links read this often */
#define CTRLD_EVENT_REFRESH_MS	20	/* and this soon after an event */

struct ctrld {
	const char *cfg_path;
	struct ctrld_config cfg;
	struct qd_nl kern;
	struct ctrld_core core;
	bool core_up;
	int sfd;
	uint64_t next_refresh;
	int refresh_err;	/* last refresh failure logged */
	int mode_err;		/* last ctrl-mode failure logged */
	bool mode_set;
	bool warned_no_id;
	bool stop;
	struct ctrld_link links[CTRLD_LSA_LINKS_MAX];
};

/* Read the config, load TLS, open the kernel side, listen. Returns
 * QD_EXIT_OK, or an exit code (service.h) after logging why.
 */
int ctrld_start(struct ctrld *d, const char *cfg_path);
/* Run until SIGTERM or SIGINT; returns the exit code. */
int ctrld_run(struct ctrld *d);
/* Withdraw the routes, close everything. */
void ctrld_stop(struct ctrld *d);

#endif /* CTRLD_DAEMON_H */
