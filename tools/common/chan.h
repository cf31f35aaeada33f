/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A channel: one TLS connection to a peer node, non-blocking (Kx for
 * qkdn-linkd, Cx for qkdn-controllerd).
 *
 * connecting -> handshake -> hello -> up -> closed. Both sides send a hello
 * once the handshake is done; the channel is up when the peer's hello named
 * the identity in its certificate and the owner accepted it. Then frames
 * travel as length-prefixed records; keepalives keep an idle channel alive
 * and a silent one is closed.
 */
#ifndef QD_CHAN_H
#define QD_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "wire.h"

#define QD_KEEPALIVE_MS	5000
#define QD_DEAD_MS		15000
#define QD_SETUP_MS		15000	/* connect + handshake + hello */
#define QD_OUT_MAX		(4U << 20)

enum qd_chan_state {
	QD_CHAN_CONNECTING,
	QD_CHAN_HANDSHAKE,
	QD_CHAN_HELLO,
	QD_CHAN_UP,
	QD_CHAN_CLOSED,
};

struct qd_chan;

struct qd_chan_ops {
	/* The hello's magic: QD_MAGIC_KX (the default, when NULL) or
	 * QD_MAGIC_CX.
	 */
	const char *magic;
	/* The peer's hello named id (its certificate names it too). Return
	 * NULL to accept, or the reason to refuse.
	 */
	const char *(*hello)(void *ctx, struct qd_chan *ch, const char *id);
	void (*up)(void *ctx, struct qd_chan *ch);
	/* One frame from the peer (1..QKDN_KX_FRAME_MAX bytes). */
	void (*frame)(void *ctx, struct qd_chan *ch, const uint8_t *data,
		      size_t len);
};

struct qd_chan_stats {
	uint64_t frames_rx, frames_tx, bytes_rx, bytes_tx;
	uint64_t keepalives_rx, keepalives_tx;
};

struct qd_chan {
	int fd;
	SSL *ssl;
	enum qd_chan_state state;
	bool outbound;
	bool want_write;		/* OpenSSL asked for POLLOUT */
	bool ssl_fatal;			/* no close_notify */
	bool was_up;			/* reached QD_CHAN_UP */
	char own_id[QKDN_ID_MAX];
	char peer_id[QKDN_ID_MAX];	/* expected (outbound) or announced */
	char addr[64];			/* remote address, for messages */
	char reason[160];		/* why it closed */
	char label[QKDN_ID_MAX + 80];	/* qd_chan_name() */
	const struct qd_chan_ops *ops;
	void *ctx;
	uint64_t t_start, t_rx, t_tx;
	struct qd_chan_stats st;

	/* output: records waiting for SSL_write, out[off .. off + len) */
	uint8_t *out;
	size_t out_off, out_len, out_cap;

	/* input: at most one partial record, plus room for a read */
	size_t in_len;
	uint8_t in[2 * QD_REC_MAX];

	/* free for the owner */
	void *owner;
	struct qd_chan *next;
};

/* A channel on fd (which it owns from now on, also on failure).
 * outbound: we dialled, and connecting says the TCP connect is still in
 * progress; peer_id is then the node we expect. NULL on failure.
 */
struct qd_chan *qd_chan_new(int fd, SSL_CTX *ctx, bool outbound,
				  bool connecting, const char *own_id,
				  const char *peer_id, const char *addr,
				  const struct qd_chan_ops *ops, void *opctx,
				  uint64_t now);
void qd_chan_free(struct qd_chan *ch);

/* poll() events the channel waits for (0 once closed). */
short qd_chan_events(const struct qd_chan *ch);
/* Handle poll() results. Returns 0, or -1 if the channel is now closed. */
int qd_chan_io(struct qd_chan *ch, short revents, uint64_t now);
/* Queue a frame (1..QKDN_KX_FRAME_MAX bytes) and try to send it. Returns
 * 0, or -1 if the channel is not up or is now closed (output overflow,
 * write error).
 */
int qd_chan_send(struct qd_chan *ch, const uint8_t *data, size_t len,
		    uint64_t now);
/* Timers: keepalive, dead peer, set-up timeout. -1 if now closed. */
int qd_chan_tick(struct qd_chan *ch, uint64_t now);
/* When qd_chan_tick() next has something to do. */
uint64_t qd_chan_deadline(const struct qd_chan *ch);

void qd_chan_close(struct qd_chan *ch, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "NODE [ADDR]", or "[ADDR]" before the hello, for messages. */
const char *qd_chan_name(struct qd_chan *ch);

/* A daemon's channels, a list through ->next. */
void qd_chan_add(struct qd_chan **list, struct qd_chan *ch);
size_t qd_chan_count(const struct qd_chan *list);
/* Accept every connection waiting on lfd as an inbound channel. Those
 * without an owner yet are "in set-up": when max_pending are, the oldest
 * is closed to make room. Connections are refused while own_id is "".
 */
void qd_chan_accept_all(struct qd_chan **list, int lfd, SSL_CTX *ssl,
			const char *own_id, const struct qd_chan_ops *ops,
			void *ctx, size_t max_pending, uint64_t now);

#endif /* QD_CHAN_H */
