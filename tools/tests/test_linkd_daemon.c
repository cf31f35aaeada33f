// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn-linkd daemons end to end, with the netlink side replaced by a fake
 * kernel (this file defines the linkd_kernel_* functions and the qd_nl_*
 * ones the daemon calls, so neither kernel.o nor nl.o is linked): two daemons, alice and bob, run in child processes on
 * 127.0.0.1; each fake kernel reads its node ID and links from files and
 * talks to the test over a socketpair. The test checks channel reports,
 * frames both ways, a refused frame, SIGHUP, a peer restart, a connection
 * that replaces another, an unknown node, link removal and renumbering,
 * and a clean SIGTERM (which also runs LeakSanitizer in the children).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <openssl/err.h>

#include "../linkd/daemon.h"
#include "../linkd/kernel.h"
#include "log.h"
#include "tap.h"
#include "test_pki.h"
#include "test_util.h"

static char dir[] = "/tmp/linkd-daemon-XXXXXX";

/* The fake kernel, in a daemon's process. */

enum { FK_KFRAME = 'K', FK_CHANNEL = 'C', FK_FRAME = 'F', FK_REFUSED = 'R' };
#define FK_HDR	6	/* type, up, u32 link (host order) */

static const char *fk_node;
static int fk_fd = -1;
static char fk_err[64];
static char fk_sock;

static void fk_send(uint8_t type, uint32_t link, int up, const void *data,
		    size_t len)
{
	static uint8_t m[FK_HDR + QKDN_KX_FRAME_MAX];

	m[0] = type;
	m[1] = (uint8_t)up;
	memcpy(m + 2, &link, 4);
	if (len)
		memcpy(m + FK_HDR, data, len);
	while (send(fk_fd, m, FK_HDR + len, 0) < 0 && errno == EINTR)
		;
}

int linkd_kernel_open(struct qd_nl *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	if (fk_fd < 0) {
		snprintf(err, errlen, "no kernel");
		return -ENOENT;
	}
	k->cmd = (struct qkdn_sock *)&fk_sock;
	k->ev = (struct qkdn_sock *)&fk_sock;
	return 0;
}

void qd_nl_close(struct qd_nl *k)
{
	k->cmd = NULL;
	k->ev = NULL;
}

int qd_nl_event_fd(const struct qd_nl *k)
{
	(void)k;
	return fk_fd;
}

int qd_nl_pending(const struct qd_nl *k)
{
	(void)k;
	return 0;
}

const char *qd_nl_errmsg(const struct qd_nl *k)
{
	(void)k;
	return fk_err;
}

static FILE *fk_open(const char *ext)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s.%s", dir, fk_node, ext);
	return fopen(path, "r");
}

int qd_nl_node_id(struct qd_nl *k, char id[QKDN_ID_MAX])
{
	FILE *f = fk_open("node");

	(void)k;
	id[0] = '\0';
	if (!f)
		return -EIO;
	if (fscanf(f, "%63s", id) != 1)
		id[0] = '\0';
	fclose(f);
	return 0;
}

int linkd_kernel_links(struct qd_nl *k, linkd_link_cb cb, void *ctx)
{
	FILE *f = fk_open("links");
	char peer[QKDN_ID_MAX];
	unsigned int id;

	(void)k;
	if (!f)
		return -EIO;
	while (fscanf(f, "%u %63s", &id, peer) == 2)
		cb(ctx, id, peer, -1);
	fclose(f);
	return 0;
}

int linkd_kernel_frame(struct qd_nl *k, uint32_t link_id,
		       const uint8_t *frame, size_t len)
{
	(void)k;
	if (frame[0] == 0xee) {
		snprintf(fk_err, sizeof(fk_err), "frame refused by the test");
		fk_send(FK_REFUSED, link_id, 0, NULL, 0);
		return -EINVAL;
	}
	fk_send(FK_FRAME, link_id, 0, frame, len);
	return 0;
}

int linkd_kernel_channel(struct qd_nl *k, uint32_t link_id, int up)
{
	(void)k;
	fk_send(FK_CHANNEL, link_id, up, NULL, 0);
	return 0;
}

int linkd_kernel_recv(struct qd_nl *k, linkd_frame_cb cb, void *ctx)
{
	static uint8_t m[FK_HDR + QKDN_KX_FRAME_MAX + 1];
	uint32_t link;
	ssize_t n;

	(void)k;
	for (;;) {
		n = recv(fk_fd, m, sizeof(m), MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		if (n == 0)
			return -EPIPE;
		if (n <= FK_HDR || m[0] != FK_KFRAME)
			continue;
		memcpy(&link, m + 2, 4);
		cb(ctx, link, "", m + FK_HDR, n - FK_HDR);
	}
}

/* The test's side. */

struct node {
	const char *name;
	int port;
	pid_t pid;
	int fd;
};

static struct node alice = { .name = "alice" }, bob = { .name = "bob" };

static void put_file(const char *name, const char *ext, const char *text)
{
	char path[128], tmp[140];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	fputs(text, f);
	fclose(f);
	rename(tmp, path);
}

static void start(struct node *n)
{
	char cfg[128], log[128];
	struct linkd d;
	int sv[2], lfd, r;

	socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
	fflush(stdout);
	fflush(stderr);
	n->pid = fork();
	if (n->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		fk_fd = sv[1];
		fk_node = n->name;
		snprintf(log, sizeof(log), "%s/%s.log", dir, n->name);
		lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(lfd, 2);
		close(lfd);
		qd_log_init("qkdn-linkd", true, true);
		snprintf(cfg, sizeof(cfg), "%s/%s.conf", dir, n->name);
		r = linkd_start(&d, cfg);
		if (r == QD_EXIT_OK)
			r = linkd_run(&d);
		linkd_stop(&d);
		exit(r);
	}
	close(sv[1]);
	n->fd = sv[0];
}

static int stop(struct node *n, int sig)
{
	int status = -1;

	kill(n->pid, sig);
	waitpid(n->pid, &status, 0);
	close(n->fd);
	n->fd = -1;
	n->pid = 0;
	return status;
}

/* Wait up to ms for a message of the given type, link and state (and
 * frame bytes); anything else on the way is shown, then ignored.
 */
static bool expect(struct node *n, uint8_t type, uint32_t link, int up,
		   const void *data, size_t len, int ms)
{
	static uint8_t m[FK_HDR + QKDN_KX_FRAME_MAX];
	uint64_t end = qd_now_ms() + ms;
	struct pollfd p = { .fd = n->fd, .events = POLLIN };
	uint32_t l;
	ssize_t r;

	while (qd_now_ms() < end) {
		if (poll(&p, 1, (int)(end - qd_now_ms())) <= 0)
			continue;
		r = recv(n->fd, m, sizeof(m), 0);
		if (r < FK_HDR)
			return false;
		memcpy(&l, m + 2, 4);
		if (m[0] == type && l == link &&
		    (type != FK_CHANNEL || m[1] == up) &&
		    (!data || ((size_t)r == FK_HDR + len &&
			       !memcmp(m + FK_HDR, data, len))))
			return true;
		printf("#   %s: passing over '%c' link %u up %u (%zd bytes)\n",
		       n->name, m[0], l, m[1], r - FK_HDR);
	}
	return false;
}

static bool quiet(struct node *n, int ms)
{
	struct pollfd p = { .fd = n->fd, .events = POLLIN };

	return poll(&p, 1, ms) == 0;
}

static bool up(struct node *n, uint32_t link, int ms)
{
	return expect(n, FK_CHANNEL, link, 1, NULL, 0, ms);
}

static bool down(struct node *n, uint32_t link, int ms)
{
	return expect(n, FK_CHANNEL, link, 0, NULL, 0, ms);
}

static void kframe(struct node *n, uint32_t link, const void *data, size_t len)
{
	static uint8_t m[FK_HDR + QKDN_KX_FRAME_MAX];

	m[0] = FK_KFRAME;
	memcpy(m + 2, &link, 4);
	memcpy(m + FK_HDR, data, len);
	send(n->fd, m, FK_HDR + len, 0);
}

static void show_logs(void)
{
	static const char *const names[] = { "alice", "bob" };
	char path[128];
	int i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s.log", dir, names[i]);
		file_show(path, names[i]);
	}
}

static bool log_has(const char *name, const char *what)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s.log", dir, name);
	return file_has(path, what);
}

/* A raw TLS client dialling bob as file's certificate, hello as id. */
static SSL *raw_dial(SSL_CTX **pctx, const char *file, const char *id,
		     int *pfd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint8_t hello[64];
	char path[128];
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());
	SSL *ssl;
	int fd, n;

	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	SSL_CTX_load_verify_locations(ctx, path, NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	snprintf(path, sizeof(path), "%s/%s.crt", dir, file);
	SSL_CTX_use_certificate_file(ctx, path, SSL_FILETYPE_PEM);
	snprintf(path, sizeof(path), "%s/%s.key", dir, file);
	SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(bob.port);
	connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set1_host(ssl, "bob");
	n = qd_wire_hello_build(QD_MAGIC_KX, hello, sizeof(hello), id);
	if (SSL_connect(ssl) != 1 || SSL_write(ssl, hello, n) != n)
		ERR_clear_error();
	*pctx = ctx;
	*pfd = fd;
	return ssl;
}

/* Has the daemon closed the raw connection (after, maybe, its hello)? */
static bool raw_closed(SSL *ssl, int fd)
{
	struct timeval tv = { .tv_sec = 5 };
	char buf[256];
	int n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	do
		n = SSL_read(ssl, buf, sizeof(buf));
	while (n > 0);
	ERR_clear_error();
	return SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ || errno != EAGAIN;
}

static void raw_free(SSL *ssl, SSL_CTX *ctx, int fd)
{
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

static void write_configs(void)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "# alice dials bob: its node ID is smaller\n"
		 "listen = 127.0.0.1:%d\ncert = alice.crt\nkey = alice.key\n"
		 "ca = ca.crt\npeer bob = 127.0.0.1:%d\n", alice.port, bob.port);
	put_file("alice", "conf", text);
	snprintf(text, sizeof(text),
		 "listen = 127.0.0.1:%d\ncert = bob.crt\nkey = bob.key\n"
		 "ca = ca.crt\n", bob.port);
	put_file("bob", "conf", text);
	put_file("alice", "node", "alice\n");
	put_file("bob", "node", "bob\n");
	put_file("alice", "links", "7 bob\n");
	put_file("bob", "links", "9 alice\n");
}

static void test_daemons(void)
{
	static uint8_t f[QKDN_KX_FRAME_MAX];
	int idle[LINKD_PENDING_MAX + 6];
	SSL_CTX *rctx;
	SSL *rssl;
	int i, rfd, st;
	bool ok;

	start(&bob);
	start(&alice);
	ok = up(&alice, 7, 8000);
	tap_ok(ok && up(&bob, 9, 3000),
	       "daemons: alice dials bob; both report their link's channel up");

	kframe(&alice, 7, "kx-frame-1", 10);
	tap_ok(expect(&bob, FK_FRAME, 9, 0, "kx-frame-1", 10, 3000),
	       "frames: alice's kernel frame reaches bob's kernel on bob's link");
	memset(f, 0x42, sizeof(f));
	kframe(&bob, 9, f, sizeof(f));
	tap_ok(expect(&alice, FK_FRAME, 7, 0, f, sizeof(f), 3000),
	       "frames: a %d-byte frame from bob reaches alice",
	       QKDN_KX_FRAME_MAX);

	for (i = 0; i < 200; i++) {
		memset(f, i, sizeof(f));
		kframe(&alice, 7, f, sizeof(f) - i);
	}
	for (ok = true, i = 0; ok && i < 200; i++) {
		memset(f, i, sizeof(f));
		ok = expect(&bob, FK_FRAME, 9, 0, f, sizeof(f) - i, 5000);
	}
	tap_ok(ok, "frames: a burst of 200 large frames arrives whole and in order");

	f[0] = 0xee;
	kframe(&alice, 7, f, 100);
	kframe(&alice, 7, "after", 5);
	ok = expect(&bob, FK_REFUSED, 9, 0, NULL, 0, 3000);
	tap_ok(ok && expect(&bob, FK_FRAME, 9, 0, "after", 5, 3000) &&
	       quiet(&alice, 200),
	       "frames: a frame the kernel refuses is dropped, the channel stays up");
	tap_ok(log_has("bob", "kernel refused a 100-byte frame: frame refused by the test"),
	       "frames: the refusal is logged with the kernel's message");

	kill(bob.pid, SIGHUP);
	ok = quiet(&bob, 500) && quiet(&alice, 10);
	kframe(&alice, 7, "post-hup", 8);
	tap_ok(ok && expect(&bob, FK_FRAME, 9, 0, "post-hup", 8, 3000) &&
	       log_has("bob", "certificates reloaded"),
	       "SIGHUP: certificates reloaded, the channel stays up");

	stop(&bob, SIGKILL);
	tap_ok(down(&alice, 7, 3000), "restart: alice reports down when bob dies");
	kframe(&alice, 7, "lost", 4);
	start(&bob);
	ok = up(&alice, 7, 5000);
	tap_ok(ok && up(&bob, 9, 3000),
	       "restart: alice redials the restarted bob, both up again");

	rssl = raw_dial(&rctx, "alice", "alice", &rfd);
	ok = down(&bob, 9, 3000);
	tap_ok(ok && up(&bob, 9, 3000),
	       "replace: a new connection from alice replaces the channel (down, up)");
	ok = down(&alice, 7, 3000);
	tap_ok(ok && up(&alice, 7, 5000) && raw_closed(rssl, rfd),
	       "replace: the replaced daemon redials and wins back the channel");
	raw_free(rssl, rctx, rfd);
	down(&bob, 9, 3000);
	up(&bob, 9, 3000);

	rssl = raw_dial(&rctx, "carol", "carol", &rfd);
	tap_ok(raw_closed(rssl, rfd) && quiet(&bob, 300),
	       "unknown: a node bob has no link to is refused, nothing reported");
	raw_free(rssl, rctx, rfd);
	tap_ok(log_has("bob", "claiming carol refused: no link to node 'carol'"),
	       "unknown: the refusal is logged");

	rssl = raw_dial(&rctx, "carol", "alice", &rfd);
	tap_ok(raw_closed(rssl, rfd) && quiet(&bob, 300) &&
	       log_has("bob", "certificate does not name node 'alice'"),
	       "identity: carol's certificate with alice's hello is refused and logged");
	raw_free(rssl, rctx, rfd);

	/* Idle connections that never start TLS do not lock peers out. */
	for (i = 0; i < LINKD_PENDING_MAX + 6; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET };

		idle[i] = socket(AF_INET, SOCK_STREAM, 0);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons(bob.port);
		connect(idle[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	usleep(300000);
	rssl = raw_dial(&rctx, "alice", "alice", &rfd);
	ok = down(&bob, 9, 3000) && up(&bob, 9, 3000);
	tap_ok(ok && log_has("bob", "connections in set-up"),
	       "set-up: %d idle connections, the oldest make room, alice still gets in",
	       LINKD_PENDING_MAX + 6);
	for (i = 0; i < LINKD_PENDING_MAX + 6; i++)
		close(idle[i]);
	ok = down(&alice, 7, 3000) && up(&alice, 7, 5000);
	tap_ok(ok && down(&bob, 9, 3000) && up(&bob, 9, 3000),
	       "set-up: the daemons get their channel back");
	raw_free(rssl, rctx, rfd);

	put_file("alice", "links", "");
	ok = down(&alice, 7, 3000);
	tap_ok(ok && down(&bob, 9, 3000),
	       "links: deleting alice's link closes the channel on both sides");
	put_file("alice", "links", "7 bob\n");
	ok = up(&alice, 7, 5000);
	tap_ok(ok && up(&bob, 9, 3000), "links: adding it back brings the channel up");

	put_file("bob", "links", "10 alice\n");
	ok = down(&bob, 9, 3000);
	tap_ok(ok && up(&bob, 10, 3000),
	       "links: a renumbered link is reported down under its old ID, up under the new");
	kframe(&bob, 10, "renumbered", 10);
	tap_ok(expect(&alice, FK_FRAME, 7, 0, "renumbered", 10, 3000),
	       "links: frames flow on the new link ID");

	kill(bob.pid, SIGTERM);
	ok = down(&bob, 10, 3000);
	st = stop(&bob, SIGTERM);
	tap_ok(ok && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "SIGTERM: bob reports its channel down and exits 0 (status %#x)", st);
	ok = down(&alice, 7, 3000);
	st = stop(&alice, SIGTERM);
	tap_ok(ok && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "SIGTERM: alice saw the channel go down and exits 0 (status %#x)", st);
}

static void test_bad_config(void)
{
	int st;

	put_file("alice", "conf", "listen = 127.0.0.1\n");
	start(&alice);
	waitpid(alice.pid, &st, 0);
	close(alice.fd);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == QD_EXIT_CONFIG &&
	       log_has("alice", "bad config:") && log_has("alice", "expected HOST:PORT"),
	       "config: a bad config exits 2 with the reason");
	put_file("alice", "conf", "listen = 127.0.0.1:1\ncert = nope.crt\nkey = alice.key\nca = ca.crt\n");
	start(&alice);
	waitpid(alice.pid, &st, 0);
	close(alice.fd);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == QD_EXIT_CONFIG &&
	       log_has("alice", "nope.crt"),
	       "config: a missing certificate exits 2 naming the file");
}

static void cleanup(void)
{
	static const char *const ext[] = { "conf", "node", "links", "log" };
	char path[128];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/alice.%s", dir, ext[i]);
		unlink(path);
		snprintf(path, sizeof(path), "%s/bob.%s", dir, ext[i]);
		unlink(path);
	}
}

int main(void)
{
	qd_log_init("qkdn-linkd", true, false);
	qd_log_level(LOG_CRIT);
	if (!pki_setup(dir))
		return tap_done();
	alice.port = free_port();
	do
		bob.port = free_port();
	while (bob.port == alice.port);
	write_configs();
	test_daemons();
	if (tap_failed || getenv("LINKD_TEST_LOGS"))
		show_logs();
	test_bad_config();
	if (alice.pid)
		stop(&alice, SIGKILL);
	if (bob.pid)
		stop(&bob, SIGKILL);
	cleanup();
	pki_teardown(dir);
	printf("1..%d\n", tap_n);
	return tap_done();
}
