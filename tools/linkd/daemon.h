/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-linkd: the event loop, peers and links.
 */
#ifndef LINKD_DAEMON_H
#define LINKD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "chan.h"
#include "config.h"
#include "kernel.h"

#define LINKD_REFRESH_MS	1000
#define LINKD_BACKOFF_MIN_MS	100
#define LINKD_BACKOFF_MAX_MS	2000
#define LINKD_PENDING_MAX	64	/* accepted, no hello yet */

/* Exit codes. */
#define LINKD_EXIT_OK		0
#define LINKD_EXIT_FAIL		1
#define LINKD_EXIT_CONFIG	2

/* An adjacent KM: a node at the other end of one of our links. */
struct linkd_peer {
	char id[QKDN_ID_MAX];
	uint32_t link_id;	/* the link used with it (the lowest ID) */
	uint32_t new_link;	/* during a refresh */
	uint32_t n_links;
	uint32_t reported;	/* link whose channel the kernel thinks up */
	int kernel_up;		/* the kernel's LINK_UP of that link, -1 unknown */
	bool dial;		/* our node ID is smaller: we connect */
	bool seen;
	bool warned_addr, warned_multi;
	struct qd_chan *chan;	/* the channel in use, or NULL */
	unsigned int backoff_ms;
	unsigned int failures;	/* dial attempts failed in a row */
	uint64_t next_dial;
	/* counters */
	uint64_t to_kernel, rejected, dropped_in, dropped_out;
	uint64_t reject_log_at, reject_quiet;
};

struct linkd {
	const char *cfg_path;
	struct linkd_config cfg;
	SSL_CTX *ssl;
	struct linkd_kernel kern;
	int lfd;
	int sfd;
	char node_id[QKDN_ID_MAX];
	struct linkd_peer **peers;
	size_t n_peers;
	struct qd_chan *chans;	/* every channel, owned or pending */
	uint64_t next_refresh;
	int refresh_err;	/* last refresh failure logged */
	bool warned_no_id;
	bool stop;
	char why[160];		/* reason returned by the hello callback */
};

/* Read the config, load TLS, bind to the kernel, listen. Returns
 * LINKD_EXIT_OK, or an exit code after logging why.
 */
int linkd_start(struct linkd *d, const char *cfg_path);
/* Run until SIGTERM or SIGINT; returns the exit code. */
int linkd_run(struct linkd *d);
/* Report every channel down, close everything. */
void linkd_stop(struct linkd *d);

#endif /* LINKD_DAEMON_H */
