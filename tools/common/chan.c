// SPDX-License-Identifier: GPL-2.0
/*
 * Channels between nodes: non-blocking TLS, hello exchange, records.
 *
 * Every operation that OpenSSL may not finish (WANT_READ / WANT_WRITE) is
 * retried on the next poll() wake-up, reads and writes both: a read may
 * need the socket writable and a write may need it readable. Output waits
 * in a per-channel buffer bounded by QD_OUT_MAX; input is parsed from a
 * fixed buffer that always has room for one whole record.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <openssl/err.h>

#include "chan.h"
#include "log.h"
#include "net.h"
#include "tls.h"

struct qd_chan *qd_chan_new(int fd, SSL_CTX *ctx, bool outbound,
				  bool connecting, const char *own_id,
				  const char *peer_id, const char *addr,
				  const struct qd_chan_ops *ops, void *opctx,
				  uint64_t now)
{
	struct qd_chan *ch = calloc(1, sizeof(*ch));

	if (!ch) {
		close(fd);
		return NULL;
	}
	ch->fd = fd;
	ch->outbound = outbound;
	ch->state = connecting ? QD_CHAN_CONNECTING : QD_CHAN_HANDSHAKE;
	ch->want_write = outbound;
	snprintf(ch->own_id, sizeof(ch->own_id), "%s", own_id);
	if (outbound)
		snprintf(ch->peer_id, sizeof(ch->peer_id), "%s", peer_id);
	snprintf(ch->addr, sizeof(ch->addr), "%s", addr ? addr : "?");
	ch->ops = ops;
	ch->ctx = opctx;
	ch->t_start = now;
	ch->t_rx = now;
	ch->t_tx = now;
	ERR_clear_error();
	ch->ssl = qd_tls_new(ctx, fd, outbound, peer_id);
	if (!ch->ssl) {
		ERR_clear_error();
		close(fd);
		free(ch);
		return NULL;
	}
	return ch;
}

void qd_chan_free(struct qd_chan *ch)
{
	if (!ch)
		return;
	SSL_free(ch->ssl);
	if (ch->fd >= 0)
		close(ch->fd);
	free(ch->out);
	free(ch);
}

const char *qd_chan_name(struct qd_chan *ch)
{
	if (ch->peer_id[0])
		snprintf(ch->label, sizeof(ch->label), "%s [%s]", ch->peer_id,
			 ch->addr);
	else
		snprintf(ch->label, sizeof(ch->label), "[%s]", ch->addr);
	return ch->label;
}

void qd_chan_close(struct qd_chan *ch, const char *fmt, ...)
{
	enum qd_chan_state was = ch->state;
	va_list ap;

	if (was == QD_CHAN_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(ch->reason, sizeof(ch->reason), fmt, ap);
	va_end(ap);
	ch->state = QD_CHAN_CLOSED;
	/* A polite close_notify, best effort, unless TLS itself failed. */
	if (!ch->ssl_fatal && SSL_is_init_finished(ch->ssl)) {
		ERR_clear_error();
		SSL_shutdown(ch->ssl);
	}
	ERR_clear_error();
	close(ch->fd);
	ch->fd = -1;
	/* The owner reports it, knowing whether the failure is news. */
	qd_dbg("%s: %s closed: %s", qd_chan_name(ch),
		  was == QD_CHAN_UP ? "channel" : "connection", ch->reason);
}

static const char *chan_magic(const struct qd_chan *ch)
{
	return ch->ops && ch->ops->magic ? ch->ops->magic : QD_MAGIC_KX;
}

static void chan_tls_fail(struct qd_chan *ch, const char *what, int ret,
			  int err)
{
	char why[320];

	ch->ssl_fatal = true;
	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		if (ret == 0 || errno == 0)
			snprintf(why, sizeof(why), "connection closed by peer");
		else
			snprintf(why, sizeof(why), "%s", strerror(errno));
	} else {
		qd_tls_strerror(ch->ssl, why, sizeof(why));
	}
	qd_chan_close(ch, "%s: %s", what, why);
}

static int out_append(struct qd_chan *ch, const void *a, size_t alen,
		      const void *b, size_t blen)
{
	size_t need = alen + blen, cap;
	uint8_t *n;

	if (ch->out_len + need > QD_OUT_MAX)
		return -1;
	if (ch->out_off + ch->out_len + need > ch->out_cap) {
		if (ch->out_off) {
			memmove(ch->out, ch->out + ch->out_off, ch->out_len);
			ch->out_off = 0;
		}
		if (ch->out_len + need > ch->out_cap) {
			cap = ch->out_cap ? ch->out_cap : 4 * QD_REC_MAX;
			while (cap < ch->out_len + need)
				cap *= 2;
			n = realloc(ch->out, cap);
			if (!n)
				return -1;
			ch->out = n;
			ch->out_cap = cap;
		}
	}
	memcpy(ch->out + ch->out_off + ch->out_len, a, alen);
	if (blen)
		memcpy(ch->out + ch->out_off + ch->out_len + alen, b, blen);
	ch->out_len += need;
	return 0;
}

static int chan_flush(struct qd_chan *ch)
{
	int n, err;

	while (ch->out_len) {
		ERR_clear_error();
		n = SSL_write(ch->ssl, ch->out + ch->out_off,
			      ch->out_len > INT_MAX ? INT_MAX : (int)ch->out_len);
		if (n > 0) {
			ch->out_off += n;
			ch->out_len -= n;
			continue;
		}
		err = SSL_get_error(ch->ssl, n);
		if (err == SSL_ERROR_WANT_WRITE) {
			ch->want_write = true;
			return 0;
		}
		if (err == SSL_ERROR_WANT_READ)
			return 0;
		chan_tls_fail(ch, "write", n, err);
		return -1;
	}
	ch->out_off = 0;
	return 0;
}

static int chan_hello(struct qd_chan *ch, const char *id)
{
	const char *why;

	if (ch->outbound && strcmp(id, ch->peer_id)) {
		qd_chan_close(ch, "peer says it is node '%s'", id);
		return -1;
	}
	if (!qd_tls_peer_is(ch->ssl, id)) {
		qd_chan_close(ch, "certificate does not name node '%s'", id);
		return -1;
	}
	if (!ch->outbound)
		snprintf(ch->peer_id, sizeof(ch->peer_id), "%s", id);
	why = ch->ops && ch->ops->hello ? ch->ops->hello(ch->ctx, ch, id) : NULL;
	if (why) {
		qd_chan_close(ch, "%s", why);
		return -1;
	}
	ch->state = QD_CHAN_UP;
	ch->was_up = true;
	qd_dbg("%s: channel up (%s)", qd_chan_name(ch),
		  ch->outbound ? "dialled" : "accepted");
	if (ch->ops && ch->ops->up)
		ch->ops->up(ch->ctx, ch);
	return ch->state == QD_CHAN_CLOSED ? -1 : 0;
}

/* Take whole hellos and records from the input buffer. */
static int chan_parse(struct qd_chan *ch)
{
	char id[QKDN_ID_MAX];
	const uint8_t *frame;
	size_t pos = 0, flen;
	int r;

	while (pos < ch->in_len && ch->state != QD_CHAN_CLOSED) {
		if (ch->state == QD_CHAN_HELLO) {
			r = qd_wire_hello_parse(chan_magic(ch), ch->in + pos,
						ch->in_len - pos, id);
			if (r == 0)
				break;
			if (r < 0) {
				qd_chan_close(ch, "bad hello: %s",
						 qd_wire_strerror(r));
				return -1;
			}
			pos += r;
			if (chan_hello(ch, id))
				return -1;
			continue;
		}
		r = qd_wire_rec_parse(ch->in + pos, ch->in_len - pos,
					 &frame, &flen);
		if (r == 0)
			break;
		if (r < 0) {
			qd_chan_close(ch, "bad record: %s",
					 qd_wire_strerror(r));
			return -1;
		}
		pos += r;
		if (!flen) {
			ch->st.keepalives_rx++;
			continue;
		}
		ch->st.frames_rx++;
		ch->st.bytes_rx += flen;
		if (ch->ops && ch->ops->frame)
			ch->ops->frame(ch->ctx, ch, frame, flen);
	}
	if (ch->state == QD_CHAN_CLOSED)
		return -1;
	memmove(ch->in, ch->in + pos, ch->in_len - pos);
	ch->in_len -= pos;
	return 0;
}

static int chan_read(struct qd_chan *ch, uint64_t now)
{
	int n, err;

	for (;;) {
		/* chan_parse() leaves less than one record: room for more. */
		ERR_clear_error();
		n = SSL_read(ch->ssl, ch->in + ch->in_len,
			     (int)(sizeof(ch->in) - ch->in_len));
		if (n > 0) {
			ch->in_len += n;
			ch->t_rx = now;
			if (chan_parse(ch))
				return -1;
			continue;
		}
		err = SSL_get_error(ch->ssl, n);
		switch (err) {
		case SSL_ERROR_WANT_READ:
			return 0;
		case SSL_ERROR_WANT_WRITE:
			ch->want_write = true;
			return 0;
		case SSL_ERROR_ZERO_RETURN:
			qd_chan_close(ch, "closed by peer");
			return -1;
		default:
			chan_tls_fail(ch, "read", n, err);
			return -1;
		}
	}
}

static int chan_handshake(struct qd_chan *ch)
{
	uint8_t hello[QD_HELLO_MAX];
	int n, err;

	ERR_clear_error();
	n = SSL_do_handshake(ch->ssl);
	if (n == 1) {
		qd_dbg("%s: TLS handshake done, %s %s", qd_chan_name(ch),
			  SSL_get_version(ch->ssl), SSL_get_cipher(ch->ssl));
		n = qd_wire_hello_build(chan_magic(ch), hello, sizeof(hello),
					ch->own_id);
		if (n < 0 || out_append(ch, hello, n, NULL, 0)) {
			qd_chan_close(ch, "cannot build hello");
			return -1;
		}
		ch->state = QD_CHAN_HELLO;
		return 0;
	}
	err = SSL_get_error(ch->ssl, n);
	if (err == SSL_ERROR_WANT_READ)
		return 1;
	if (err == SSL_ERROR_WANT_WRITE) {
		ch->want_write = true;
		return 1;
	}
	chan_tls_fail(ch, "TLS handshake", n, err);
	return -1;
}

short qd_chan_events(const struct qd_chan *ch)
{
	switch (ch->state) {
	case QD_CHAN_CONNECTING:
		return POLLOUT;
	case QD_CHAN_CLOSED:
		return 0;
	default:
		return POLLIN | (ch->want_write || ch->out_len ? POLLOUT : 0);
	}
}

int qd_chan_io(struct qd_chan *ch, short revents, uint64_t now)
{
	socklen_t sl = sizeof(int);
	int soerr = 0, r;

	if (ch->state == QD_CHAN_CLOSED)
		return -1;
	if (revents & POLLNVAL) {
		qd_chan_close(ch, "bad socket");
		return -1;
	}
	if (ch->state == QD_CHAN_CONNECTING) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return 0;
		if (getsockopt(ch->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr) {
			qd_chan_close(ch, "connect: %s", strerror(soerr));
			return -1;
		}
		ch->state = QD_CHAN_HANDSHAKE;
	}
	ch->want_write = false;
	if (ch->state == QD_CHAN_HANDSHAKE) {
		r = chan_handshake(ch);
		if (r)
			return r < 0 ? -1 : 0;
	}
	if (chan_read(ch, now) || chan_flush(ch))
		return -1;
	return 0;
}

int qd_chan_send(struct qd_chan *ch, const uint8_t *data, size_t len,
		    uint64_t now)
{
	uint8_t hdr[QD_REC_HDR];

	if (ch->state != QD_CHAN_UP || !len || len > QKDN_KX_FRAME_MAX)
		return -1;
	qd_wire_rec_hdr(hdr, (uint32_t)len);
	if (out_append(ch, hdr, sizeof(hdr), data, len)) {
		qd_chan_close(ch, "output backlog over %u bytes", QD_OUT_MAX);
		return -1;
	}
	ch->t_tx = now;
	ch->st.frames_tx++;
	ch->st.bytes_tx += len;
	return 0;
}

int qd_chan_tick(struct qd_chan *ch, uint64_t now)
{
	static const uint8_t keepalive[QD_REC_HDR];

	switch (ch->state) {
	case QD_CHAN_CLOSED:
		return -1;
	case QD_CHAN_UP:
		if (now >= ch->t_rx + QD_DEAD_MS) {
			qd_chan_close(ch, "nothing received for %d s",
					 QD_DEAD_MS / 1000);
			return -1;
		}
		if (now >= ch->t_tx + QD_KEEPALIVE_MS) {
			if (out_append(ch, keepalive, sizeof(keepalive), NULL, 0)) {
				qd_chan_close(ch, "output backlog over %u bytes",
						 QD_OUT_MAX);
				return -1;
			}
			ch->t_tx = now;
			ch->st.keepalives_tx++;
		}
		return 0;
	default:
		if (now >= ch->t_start + QD_SETUP_MS) {
			qd_chan_close(ch, "no channel after %d s",
					 QD_SETUP_MS / 1000);
			return -1;
		}
		return 0;
	}
}

uint64_t qd_chan_deadline(const struct qd_chan *ch)
{
	uint64_t a, b;

	switch (ch->state) {
	case QD_CHAN_CLOSED:
		return UINT64_MAX;
	case QD_CHAN_UP:
		a = ch->t_rx + QD_DEAD_MS;
		b = ch->t_tx + QD_KEEPALIVE_MS;
		return a < b ? a : b;
	default:
		return ch->t_start + QD_SETUP_MS;
	}
}

void qd_chan_add(struct qd_chan **list, struct qd_chan *ch)
{
	ch->next = *list;
	*list = ch;
}

size_t qd_chan_count(const struct qd_chan *list)
{
	size_t n = 0;

	for (; list; list = list->next)
		n++;
	return n;
}

void qd_chan_accept_all(struct qd_chan **list, int lfd, SSL_CTX *ssl,
			const char *own_id, const struct qd_chan_ops *ops,
			void *ctx, size_t max_pending, uint64_t now)
{
	char addr[QD_ADDR_STR];
	struct qd_chan *ch, *oldest;
	size_t pending;
	int fd;

	for (;;) {
		fd = qd_net_accept(lfd, addr, sizeof(addr));
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				qd_warn("accept: %s", strerror(errno));
			return;
		}
		if (!own_id[0]) {
			qd_notice("connection from %s refused: node ID not set",
				  addr);
			close(fd);
			continue;
		}
		/* Bounded set-up: the oldest half-open connection makes room. */
		pending = 0;
		oldest = NULL;
		for (ch = *list; ch; ch = ch->next) {
			if (ch->owner || ch->state == QD_CHAN_CLOSED)
				continue;
			pending++;
			if (!oldest || ch->t_start <= oldest->t_start)
				oldest = ch;
		}
		if (pending >= max_pending)
			qd_chan_close(oldest, "%zu connections in set-up",
				      max_pending);
		ch = qd_chan_new(fd, ssl, false, false, own_id, NULL, addr, ops,
				 ctx, now);
		if (!ch) {
			qd_err("connection from %s: out of memory", addr);
			continue;
		}
		qd_dbg("connection from %s", addr);
		qd_chan_add(list, ch);
	}
}
