/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-linkd channel: one TLS connection to a peer KM, non-blocking.
 *
 * connecting -> handshake -> hello -> up -> closed. Both sides send a hello
 * once the handshake is done; the channel is up when the peer's hello named
 * the identity in its certificate and the owner accepted it. Then frames
 * travel as length-prefixed records; keepalives keep an idle channel alive
 * and a silent one is closed.
 */
#ifndef LINKD_CHANNEL_H
#define LINKD_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "wire.h"

#define LINKD_KEEPALIVE_MS	5000
#define LINKD_DEAD_MS		15000
#define LINKD_SETUP_MS		15000	/* connect + handshake + hello */
#define LINKD_OUT_MAX		(4U << 20)

enum linkd_chan_state {
	LINKD_CHAN_CONNECTING,
	LINKD_CHAN_HANDSHAKE,
	LINKD_CHAN_HELLO,
	LINKD_CHAN_UP,
	LINKD_CHAN_CLOSED,
};

struct linkd_chan;

struct linkd_chan_ops {
	/* The peer's hello named id (its certificate names it too). Return
	 * NULL to accept, or the reason to refuse.
	 */
	const char *(*hello)(void *ctx, struct linkd_chan *ch, const char *id);
	void (*up)(void *ctx, struct linkd_chan *ch);
	/* One frame from the peer (1..QKDN_KX_FRAME_MAX bytes). */
	void (*frame)(void *ctx, struct linkd_chan *ch, const uint8_t *data,
		      size_t len);
};

struct linkd_chan_stats {
	uint64_t frames_rx, frames_tx, bytes_rx, bytes_tx;
	uint64_t keepalives_rx, keepalives_tx;
};

struct linkd_chan {
	int fd;
	SSL *ssl;
	enum linkd_chan_state state;
	bool outbound;
	bool want_write;		/* OpenSSL asked for POLLOUT */
	bool ssl_fatal;			/* no close_notify */
	bool was_up;			/* reached LINKD_CHAN_UP */
	char own_id[QKDN_ID_MAX];
	char peer_id[QKDN_ID_MAX];	/* expected (outbound) or announced */
	char addr[64];			/* remote address, for messages */
	char reason[160];		/* why it closed */
	char label[QKDN_ID_MAX + 80];	/* linkd_chan_name() */
	const struct linkd_chan_ops *ops;
	void *ctx;
	uint64_t t_start, t_rx, t_tx;
	struct linkd_chan_stats st;

	/* output: records waiting for SSL_write, out[off .. off + len) */
	uint8_t *out;
	size_t out_off, out_len, out_cap;

	/* input: at most one partial record, plus room for a read */
	size_t in_len;
	uint8_t in[2 * LINKD_REC_MAX];

	/* free for the owner */
	void *owner;
	struct linkd_chan *next;
};

/* A channel on fd (which it owns from now on, also on failure).
 * outbound: we dialled, and connecting says the TCP connect is still in
 * progress; peer_id is then the node we expect. NULL on failure.
 */
struct linkd_chan *linkd_chan_new(int fd, SSL_CTX *ctx, bool outbound,
				  bool connecting, const char *own_id,
				  const char *peer_id, const char *addr,
				  const struct linkd_chan_ops *ops, void *opctx,
				  uint64_t now);
void linkd_chan_free(struct linkd_chan *ch);

/* poll() events the channel waits for (0 once closed). */
short linkd_chan_events(const struct linkd_chan *ch);
/* Handle poll() results. Returns 0, or -1 if the channel is now closed. */
int linkd_chan_io(struct linkd_chan *ch, short revents, uint64_t now);
/* Queue a frame (1..QKDN_KX_FRAME_MAX bytes) and try to send it. Returns
 * 0, or -1 if the channel is not up or is now closed (output overflow,
 * write error).
 */
int linkd_chan_send(struct linkd_chan *ch, const uint8_t *data, size_t len,
		    uint64_t now);
/* Timers: keepalive, dead peer, set-up timeout. -1 if now closed. */
int linkd_chan_tick(struct linkd_chan *ch, uint64_t now);
/* When linkd_chan_tick() next has something to do. */
uint64_t linkd_chan_deadline(const struct linkd_chan *ch);

void linkd_chan_close(struct linkd_chan *ch, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "NODE [ADDR]", or "[ADDR]" before the hello, for messages. */
const char *linkd_chan_name(struct linkd_chan *ch);

#endif /* LINKD_CHANNEL_H */
