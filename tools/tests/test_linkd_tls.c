// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-linkd channels over real TLS 1.3 in one process: a CA and node
 * certificates (EC P-256) made at run time, handshake + hello + records
 * over a socketpair and over TCP on 127.0.0.1, keepalive and dead-peer
 * timers, the output bound, and the refusals: wrong identity, untrusted
 * CA, no client certificate, TLS 1.2, malformed hellos and records.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <openssl/err.h>

#include "chan.h"
#include "log.h"
#include "net.h"
#include "tls.h"
#include "tap.h"
#include "test_pki.h"

static char dir[] = "/tmp/linkd-tls-XXXXXX";

static SSL_CTX *ctx_for(const char *file)
{
	char err[512];
	SSL_CTX *ctx = pki_ctx(file, err, sizeof(err));

	if (!ctx)
		printf("# %s: %s\n", file, err);
	return ctx;
}

/* Channel plumbing. */

struct side {
	struct qd_chan *ch;
	const char *reject;		/* hello callback answer */
	char hello[QKDN_ID_MAX];
	int ups, frames;
	uint8_t *got;			/* frames received, concatenated */
	size_t got_len, got_cap;
	size_t *lens;			/* and their lengths */
};

static const char *t_hello(void *ctx, struct qd_chan *ch, const char *id)
{
	struct side *s = ctx;

	(void)ch;
	snprintf(s->hello, sizeof(s->hello), "%s", id);
	return s->reject;
}

static void t_up(void *ctx, struct qd_chan *ch)
{
	struct side *s = ctx;

	(void)ch;
	s->ups++;
}

static void t_frame(void *ctx, struct qd_chan *ch, const uint8_t *data,
		    size_t len)
{
	struct side *s = ctx;

	(void)ch;
	if (s->got_len + len > s->got_cap) {
		s->got_cap = (s->got_len + len) * 2;
		s->got = realloc(s->got, s->got_cap);
		s->lens = realloc(s->lens, s->got_cap * sizeof(size_t));
	}
	memcpy(s->got + s->got_len, data, len);
	s->got_len += len;
	s->lens[s->frames++] = len;
}

static const struct qd_chan_ops ops = {
	.hello = t_hello, .up = t_up, .frame = t_frame,
};

static void side_reset(struct side *s)
{
	qd_chan_free(s->ch);
	free(s->got);
	free(s->lens);
	memset(s, 0, sizeof(*s));
}

typedef bool (*until_fn)(struct side *a, struct side *b);

static bool both_up(struct side *a, struct side *b)
{
	return a->ch->state == QD_CHAN_UP && b->ch->state == QD_CHAN_UP;
}

static bool any_closed(struct side *a, struct side *b)
{
	return a->ch->state == QD_CHAN_CLOSED || b->ch->state == QD_CHAN_CLOSED;
}

static bool both_closed(struct side *a, struct side *b)
{
	return a->ch->state == QD_CHAN_CLOSED && b->ch->state == QD_CHAN_CLOSED;
}

static bool up_or_closed(struct side *a, struct side *b)
{
	return both_up(a, b) || any_closed(a, b);
}

static size_t want_frames;

static bool got_all(struct side *a, struct side *b)
{
	return (a->frames >= (int)want_frames && b->frames >= (int)want_frames) ||
	       any_closed(a, b);
}

static bool drained(struct side *a, struct side *b)
{
	return (!a->ch->out_len && !b->ch->out_len) || any_closed(a, b);
}

/* Run both channels until until() holds or 10 s pass. */
static bool pump(struct side *a, struct side *b, until_fn until)
{
	uint64_t end = qd_now_ms() + 10000;
	struct pollfd p[2];
	int i;

	while (!until(a, b)) {
		struct side *s[2] = { a, b };

		if (qd_now_ms() > end)
			return false;
		for (i = 0; i < 2; i++) {
			p[i].fd = s[i]->ch->fd;
			p[i].events = qd_chan_events(s[i]->ch);
			p[i].revents = 0;
		}
		if (poll(p, 2, 100) < 0 && errno != EINTR)
			return false;
		for (i = 0; i < 2; i++)
			if (p[i].revents)
				qd_chan_io(s[i]->ch, p[i].revents, qd_now_ms());
	}
	return true;
}

/* a dials b over a socketpair. */
static void pair(struct side *a, SSL_CTX *actx, const char *aid,
		 const char *expect, struct side *b, SSL_CTX *bctx,
		 const char *bid)
{
	int sv[2];
	uint64_t now = qd_now_ms();

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
	a->ch = qd_chan_new(sv[0], actx, true, false, aid, expect, "sp:a",
			       &ops, a, now);
	b->ch = qd_chan_new(sv[1], bctx, false, false, bid, NULL, "sp:b",
			       &ops, b, now);
}

static SSL_CTX *alice, *bob, *carol, *mallory, *wild;

static void test_up_and_records(void)
{
	struct side a = { 0 }, b = { 0 };
	static uint8_t big[QKDN_KX_FRAME_MAX];
	uint8_t *sent = malloc(64 * QKDN_KX_FRAME_MAX);
	size_t sent_len = 0, len, i;
	uint64_t now;
	bool ok;

	pair(&a, alice, "alice", "bob", &b, bob, "bob");
	ok = pump(&a, &b, up_or_closed);
	tap_ok(ok && both_up(&a, &b) && a.ups == 1 && b.ups == 1,
	       "tls: handshake and hellos, both channels up");
	tap_ok(!strcmp(a.hello, "bob") && !strcmp(b.hello, "alice") &&
	       !strcmp(b.ch->peer_id, "alice"),
	       "tls: each side learnt the other's node ID (SAN, and CN without SAN)");
	tap_ok(!strcmp(SSL_get_version(a.ch->ssl), "TLSv1.3") &&
	       !strcmp(SSL_get_version(b.ch->ssl), "TLSv1.3"), "tls: TLS 1.3");

	/* 64 frames of 1..8192 bytes each way. */
	now = qd_now_ms();
	for (i = 0; i < 64; i++) {
		len = i == 0 ? 1 : i == 1 ? QKDN_KX_FRAME_MAX : 1 + (i * 977) % QKDN_KX_FRAME_MAX;
		memset(big, (int)i, len);
		big[0] = (uint8_t)(len >> 8);
		memcpy(sent + sent_len, big, len);
		sent_len += len;
		qd_chan_send(a.ch, big, len, now);
		qd_chan_send(b.ch, big, len, now);
	}
	want_frames = 64;
	ok = pump(&a, &b, got_all);
	tap_ok(ok && a.frames == 64 && b.frames == 64 && a.got_len == sent_len &&
	       b.got_len == sent_len && !memcmp(a.got, sent, sent_len) &&
	       !memcmp(b.got, sent, sent_len) && b.lens[0] == 1 &&
	       b.lens[1] == QKDN_KX_FRAME_MAX,
	       "records: 64 frames of 1..%d bytes intact and in order, both ways",
	       QKDN_KX_FRAME_MAX);
	tap_ok(a.ch->st.frames_tx == 64 && b.ch->st.frames_rx == 64 &&
	       b.ch->st.bytes_rx == sent_len, "records: counted");

	tap_ok(qd_chan_send(a.ch, big, 0, now) < 0 &&
	       qd_chan_send(a.ch, big, QKDN_KX_FRAME_MAX + 1, now) < 0 &&
	       a.ch->state == QD_CHAN_UP,
	       "records: empty or oversized frame not sent, channel stays up");

	/* Keepalive after 5 s idle; nothing after less. */
	now = a.ch->t_tx;
	qd_chan_tick(a.ch, now + QD_KEEPALIVE_MS - 1);
	tap_ok(a.ch->out_len == 0, "keepalive: none before %d ms idle",
	       QD_KEEPALIVE_MS);
	qd_chan_tick(a.ch, now + QD_KEEPALIVE_MS);
	tap_ok(a.ch->out_len == QD_REC_HDR && a.ch->st.keepalives_tx == 1,
	       "keepalive: queued after %d ms idle", QD_KEEPALIVE_MS);
	b.ch->t_rx = 0;
	ok = pump(&a, &b, drained);
	usleep(20000);
	pump(&a, &b, drained);
	qd_chan_io(b.ch, POLLIN, 7);
	tap_ok(b.ch->st.keepalives_rx == 1 && b.frames == 64 && b.ch->t_rx == 7,
	       "keepalive: received, refreshes the peer's timer, not a frame");
	b.ch->t_tx = 100;
	tap_ok(qd_chan_deadline(b.ch) == 100 + QD_KEEPALIVE_MS,
	       "timers: next deadline is the keepalive when it comes first");
	b.ch->t_tx = 20000;
	tap_ok(qd_chan_deadline(b.ch) == 7 + QD_DEAD_MS,
	       "timers: next deadline is the dead-peer check when it comes first");

	/* 15 s without data: dead. */
	qd_chan_tick(b.ch, 7 + QD_DEAD_MS - 1);
	tap_ok(b.ch->state == QD_CHAN_UP, "dead peer: still up before %d ms",
	       QD_DEAD_MS);
	qd_chan_tick(b.ch, 7 + QD_DEAD_MS);
	tap_ok(b.ch->state == QD_CHAN_CLOSED &&
	       strstr(b.ch->reason, "nothing received"),
	       "dead peer: closed after %d ms of silence", QD_DEAD_MS);
	ok = pump(&a, &b, both_closed);
	tap_ok(ok && strstr(a.ch->reason, "closed by peer"),
	       "dead peer: the other side sees the close (%s)", a.ch->reason);
	side_reset(&a);
	side_reset(&b);
	free(sent);
}

static void test_backlog(void)
{
	struct side a = { 0 }, b = { 0 };
	static uint8_t f[QKDN_KX_FRAME_MAX];
	uint64_t now = qd_now_ms();
	size_t n = 0;

	pair(&a, alice, "alice", "bob", &b, bob, "bob");
	pump(&a, &b, up_or_closed);
	while (qd_chan_send(a.ch, f, sizeof(f), now) == 0 && n < 10000)
		n++;
	tap_ok(a.ch->state == QD_CHAN_CLOSED && strstr(a.ch->reason, "backlog") &&
	       n == QD_OUT_MAX / QD_REC_MAX,
	       "backlog: channel closed when its output passes %u bytes (%zu frames queued)",
	       QD_OUT_MAX, n);
	side_reset(&a);
	side_reset(&b);
}

/* a dials b and is refused: check both are closed and b says why. */
static void refused(SSL_CTX *actx, const char *aid, const char *expect,
		    SSL_CTX *bctx, const char *bid, const char *breject,
		    const char *want_a, const char *want_b, const char *name)
{
	/* The acceptor may have been up when the dialler refuses its hello. */
	bool b_up_ok = want_a && strstr(want_a, "peer says");
	struct side a = { 0 }, b = { .reject = breject };
	bool ok;

	pair(&a, actx, aid, expect, &b, bctx, bid);
	ok = pump(&a, &b, both_closed);
	if (!tap_ok(ok && !a.ups && (!b.ups || b_up_ok) &&
		    (!want_a || strstr(a.ch->reason, want_a)) &&
		    (!want_b || strstr(b.ch->reason, want_b)), "%s", name))
		printf("#   dialler: '%s', acceptor: '%s'\n", a.ch->reason,
		       b.ch->reason);
	side_reset(&a);
	side_reset(&b);
}

static SSL_CTX *ctx_raw(const char *file, int maxver)
{
	char path[128];
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());

	SSL_CTX_set_max_proto_version(ctx, maxver);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	SSL_CTX_load_verify_locations(ctx, path, NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (file) {
		snprintf(path, sizeof(path), "%s/%s.crt", dir, file);
		SSL_CTX_use_certificate_file(ctx, path, SSL_FILETYPE_PEM);
		snprintf(path, sizeof(path), "%s/%s.key", dir, file);
		SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM);
	}
	return ctx;
}

static void test_refusals(void)
{
	SSL_CTX *nocert = ctx_raw(NULL, TLS1_3_VERSION);
	SSL_CTX *tls12 = ctx_raw("alice", TLS1_2_VERSION);

	refused(carol, "alice", "bob", bob, "bob", NULL,
		"closed by peer", "certificate does not name node 'alice'",
		"identity: a hello naming another node than the client certificate is refused");
	refused(alice, "alice", "bob", carol, "carol", NULL,
		"hostname mismatch", NULL,
		"identity: a server certificate naming another node fails the handshake");
	refused(alice, "alice", "bob", bob, "bobby", NULL,
		"peer says it is node 'bobby'", NULL,
		"identity: a server hello naming another node than expected is refused");
	refused(mallory, "alice", "bob", bob, "bob", NULL,
		NULL, "certificate verify failed",
		"trust: a client certificate from an untrusted CA fails the handshake");
	refused(alice, "alice", "mallory", mallory, "alice", NULL,
		"certificate verify failed", NULL,
		"trust: a server certificate from an untrusted CA fails the handshake");
	refused(nocert, "alice", "bob", bob, "bob", NULL,
		NULL, "peer did not return a certificate",
		"mutual: a client without a certificate is refused");
	refused(tls12, "alice", "bob", bob, "bob", NULL,
		NULL, "TLS handshake",
		"version: a TLS 1.2 client is refused");
	refused(wild, "wild.alice", "bob", bob, "bob", NULL,
		NULL, "certificate does not name node 'wild.alice'",
		"identity: a wildcard certificate names no node");
	refused(alice, "alice", "bob", bob, "bob", "no link to node 'alice'",
		"closed by peer", "no link to node 'alice'",
		"owner: a hello the owner refuses (no link) closes the channel");
	SSL_CTX_free(nocert);
	SSL_CTX_free(tls12);
}

/* A raw TLS client (alice's certificate) that sends bytes of its own. */
static void raw_bytes(const void *bytes, size_t len, const char *want,
		      const char *name)
{
	/* A good hello followed by a bad record: up, then closed. */
	int ups = len > 11 ? 1 : 0;
	SSL_CTX *ctx = ctx_raw("alice", TLS1_3_VERSION);
	struct side b = { 0 };
	uint64_t end = qd_now_ms() + 10000;
	bool sent = false;
	int sv[2], r;
	SSL *ssl;

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
	b.ch = qd_chan_new(sv[1], bob, false, false, "bob", NULL, "raw",
			      &ops, &b, qd_now_ms());
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, sv[0]);
	SSL_set_connect_state(ssl);
	while (b.ch->state != QD_CHAN_CLOSED && qd_now_ms() < end) {
		struct pollfd p = { .fd = sv[1], .events = qd_chan_events(b.ch) };

		if (!sent) {
			r = SSL_write(ssl, bytes, (int)len);
			sent = r == (int)len;
		} else {
			char sink[256];

			SSL_read(ssl, sink, sizeof(sink));
		}
		ERR_clear_error();
		poll(&p, 1, 10);
		if (p.revents)
			qd_chan_io(b.ch, p.revents, qd_now_ms());
	}
	if (!tap_ok(b.ch->state == QD_CHAN_CLOSED && b.ups == ups &&
		    strstr(b.ch->reason, want), "%s", name))
		printf("#   reason: '%s'\n", b.ch->reason);
	SSL_free(ssl);
	close(sv[0]);
	SSL_CTX_free(ctx);
	side_reset(&b);
}

static void test_malformed(void)
{
	raw_bytes("QKDX\x01\x05" "alice", 11, "bad hello: bad magic",
		  "malformed: bad hello magic closes the channel");
	raw_bytes("QKDN\x02\x05" "alice", 11, "bad hello: unsupported protocol version",
		  "malformed: hello version 2 closes the channel");
	raw_bytes("QKDN\x01\x00", 6, "bad hello: bad node ID length",
		  "malformed: empty hello node ID closes the channel");
	raw_bytes("QKDN\x01\x05" "alice" "\x00\x00\x20\x01", 15,
		  "bad record: record too long",
		  "malformed: a record of 8193 bytes closes the channel");
	raw_bytes("QKDN\x01\x05" "alice" "\xff\xff\xff\xff", 15,
		  "bad record: record too long",
		  "malformed: a record of 4 GiB closes the channel, nothing allocated");
}

static void test_tcp(void)
{
	struct side a = { 0 }, b = { 0 };
	char err[256], addr[QD_ADDR_STR], port[8];
	uint64_t now = qd_now_ms();
	bool busy = false, ok;
	int lfd, fd;

	lfd = qd_net_listen("127.0.0.1", "0", err, sizeof(err));
	snprintf(port, sizeof(port), "%d", qd_net_port(lfd));
	fd = qd_net_dial("127.0.0.1", port, &busy, addr, sizeof(addr), err,
			    sizeof(err));
	a.ch = qd_chan_new(fd, alice, true, busy, "alice", "bob", addr, &ops,
			      &a, now);
	tap_ok(lfd >= 0 && fd >= 0 && a.ch, "tcp: listen and dial on 127.0.0.1:%s",
	       port);
	{
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		poll(&p, 1, 5000);
	}
	fd = qd_net_accept(lfd, addr, sizeof(addr));
	b.ch = qd_chan_new(fd, bob, false, false, "bob", NULL, addr, &ops,
			      &b, now);
	ok = pump(&a, &b, up_or_closed);
	tap_ok(ok && both_up(&a, &b), "tcp: channel up through connect and accept");
	qd_chan_send(b.ch, (const uint8_t *)"frame", 5, now);
	want_frames = 0;
	pump(&a, &b, drained);
	usleep(20000);
	qd_chan_io(a.ch, POLLIN, now);
	tap_ok(a.frames == 1 && a.got_len == 5 && !memcmp(a.got, "frame", 5),
	       "tcp: a frame crosses");
	side_reset(&a);
	side_reset(&b);

	/* Nobody listens any more: the dial fails. */
	close(lfd);
	fd = qd_net_dial("127.0.0.1", port, &busy, addr, sizeof(addr), err,
			    sizeof(err));
	if (fd >= 0) {
		a.ch = qd_chan_new(fd, alice, true, busy, "alice", "bob", addr,
				      &ops, &a, now);
		b.ch = a.ch;
		pump(&a, &a, any_closed);
		ok = strstr(a.ch->reason, "Connection refused");
		b.ch = NULL;
		side_reset(&a);
	} else {
		ok = strstr(err, "Connection refused");
	}
	tap_ok(ok, "tcp: refused connection reported");

	/* Set-up timer: a peer that never answers. */
	{
		int sv[2];

		socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
		a.ch = qd_chan_new(sv[0], alice, true, false, "alice", "bob",
				      "silent", &ops, &a, 1000);
		qd_chan_io(a.ch, POLLOUT, 1000);
		qd_chan_tick(a.ch, 1000 + QD_SETUP_MS - 1);
		ok = a.ch->state == QD_CHAN_HANDSHAKE;
		qd_chan_tick(a.ch, 1000 + QD_SETUP_MS);
		tap_ok(ok && a.ch->state == QD_CHAN_CLOSED &&
		       strstr(a.ch->reason, "no channel after"),
		       "set-up: a handshake that does not finish in %d s is dropped",
		       QD_SETUP_MS / 1000);
		close(sv[1]);
		side_reset(&a);
	}
}

static void test_ctx_errors(void)
{
	char crt[128], key[128], ca[128], err[512];
	SSL_CTX *ctx;

	snprintf(crt, sizeof(crt), "%s/alice.crt", dir);
	snprintf(key, sizeof(key), "%s/bob.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	ctx = qd_tls_ctx_new(crt, key, ca, err, sizeof(err));
	tap_ok(!ctx && strstr(err, "bob.key") && strstr(err, "mismatch"),
	       "ctx: a key that does not match the certificate: %s", err);
	ctx = qd_tls_ctx_new(crt, "/nonexistent.key", ca, err, sizeof(err));
	tap_ok(!ctx && strstr(err, "key /nonexistent.key"),
	       "ctx: a missing key file: %s", err);
	ctx = qd_tls_ctx_new(ca, ca, "/nonexistent.crt", err, sizeof(err));
	tap_ok(!ctx, "ctx: a missing file: %s", err);
}

int main(void)
{
	qd_log_init("qkdn-linkd", true, false);
	qd_log_level(LOG_CRIT);
	if (!pki_setup(dir))
		return tap_done();
	alice = ctx_for("alice");
	bob = ctx_for("bob");
	carol = ctx_for("carol");
	mallory = ctx_for("mallory");
	wild = ctx_for("wild");
	tap_ok(alice && bob && carol && mallory && wild,
	       "pki: CA and node certificates (EC P-256) made and loaded");
	if (alice && bob && carol && mallory && wild) {
		test_up_and_records();
		test_backlog();
		test_refusals();
		test_malformed();
		test_tcp();
		test_ctx_errors();
	}
	SSL_CTX_free(alice);
	SSL_CTX_free(bob);
	SSL_CTX_free(carol);
	SSL_CTX_free(mallory);
	SSL_CTX_free(wild);
	pki_teardown(dir);
	printf("1..%d\n", tap_n);
	return tap_done();
}
