/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-linkd: the event loop, peers and links.
 */
#ifndef LINKD_DAEMON_H
#define LINKD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "config.h"
#include "kernel.h"
#include "peer.h"
#include "service.h"

#define LINKD_REFRESH_MS	1000
#define LINKD_BACKOFF_MIN_MS	100
#define LINKD_BACKOFF_MAX_MS	2000
#define LINKD_PENDING_MAX	64	/* accepted, no hello yet */

/* An adjacent KM: a node at the other end of one of our links. We dial
 * it (q.dial) when our node ID is smaller.
 */
struct linkd_peer {
	struct qd_peer q;	/* first */
	uint32_t link_id;	/* the link used with it (the lowest ID) */
	uint32_t new_link;	/* during a refresh */
	uint32_t n_links;
	uint32_t reported;	/* link whose channel the kernel thinks up */
	int kernel_up;		/* the kernel's LINK_UP of that link, -1 unknown */
	bool seen;
	bool warned_multi;
	/* counters */
	uint64_t to_kernel, rejected, dropped_in, dropped_out;
	uint64_t reject_log_at, reject_quiet;
};

struct linkd {
	const char *cfg_path;
	struct qd_daemon_conf cfg;
	SSL_CTX *ssl;
	struct qd_nl kern;
	int lfd;
	int sfd;
	char node_id[QKDN_ID_MAX];
	struct qd_peers peers;	/* of struct linkd_peer */
	uint64_t next_refresh;
	int refresh_err;	/* last refresh failure logged */
	bool warned_no_id;
	bool stop;
};

/* Read the config, load TLS, bind to the kernel, listen. Returns
 * QD_EXIT_OK, or an exit code (service.h) after logging why.
 */
int linkd_start(struct linkd *d, const char *cfg_path);
/* Run until SIGTERM or SIGINT; returns the exit code. */
int linkd_run(struct linkd *d);
/* Report every channel down, close everything. */
void linkd_stop(struct linkd *d);

#endif /* LINKD_DAEMON_H */
