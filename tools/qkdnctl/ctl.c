// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl: send the parsed request, print the answer, map errors to the
 * exit status (0 success, 1 refused or failed, 2 usage).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "qkdnctl.h"

/* stdout's buffer is ours so that key text can be erased after printing. */
static char qkdnctl_stdout_buf[1 << 16];

/* where: "" or "FILE:LINE: " in batch mode. */
static int kernel_error(struct qkdn_sock *qs, int err, const char *where)
{
	const char *msg = qkdn_errmsg(qs);

	fflush(stdout);
	fprintf(stderr, "Error: %s%s\n", where, msg && *msg ? msg : strerror(-err));
	return QKDNCTL_EXIT_ERROR;
}

static bool qkdnctl_cmd_shows(uint8_t cmd)
{
	switch (cmd) {
	case QKDN_CMD_NODE_GET:
	case QKDN_CMD_LINK_GET:
	case QKDN_CMD_SAE_GET:
	case QKDN_CMD_POOL_GET:
	case QKDN_CMD_KEY_GET:
	case QKDN_CMD_KEY_GET_BY_ID:
	case QKDN_CMD_ROUTE_GET:
	case QKDN_CMD_SESSION_NEW:
	case QKDN_CMD_IPSEC_GET:
		return true;
	}
	return false;
}

static int run_monitor(struct qkdn_sock *qs, struct qkdnctl_out *out)
{
	int ret = qkdn_mcast_join(qs, QKDN_MCGRP_EVENTS);

	if (ret < 0) {
		fprintf(stderr, "Error: cannot join the \"%s\" group: %s\n",
			QKDN_MCGRP_EVENTS, strerror(-ret));
		return QKDNCTL_EXIT_ERROR;
	}
	for (;;) {
		ret = qkdn_recv(qs, qkdnctl_print_event, out);
		if (ret == -ENOBUFS) {
			fprintf(stderr, "Warning: events lost (receive buffer overflow)\n");
			continue;
		}
		if (ret == -EINTR || ret >= 0)
			continue;
		fprintf(stderr, "Error: %s\n", strerror(-ret));
		return QKDNCTL_EXIT_ERROR;
	}
}

static volatile sig_atomic_t qkdnctl_stop;

static void qkdnctl_on_signal(int sig)
{
	(void)sig;
	qkdnctl_stop = 1;
}

/* Write out what the listener printed, then erase stdout's buffer: it
 * held key text. Nonzero if the output failed (main() reports it). */
static int listen_flush(void)
{
	int ret = fflush(stdout) || ferror(stdout);

	if (!ret)
		qkdn_memzero(qkdnctl_stdout_buf, sizeof(qkdnctl_stdout_buf));
	return ret;
}

/*
 * session listen: the slave SAE's application. SAE_LISTEN, then every
 * "session creation notification" and "proactive key supply" is printed
 * and answered, until count supplies or SIGINT/SIGTERM. The signals are
 * blocked except while waiting in ppoll(), so that one cannot slip in
 * between the check and the wait, nor cut an answer short.
 */
static int run_listen(struct qkdn_sock *qs, struct qkdnctl_out *out,
		      struct qkdnctl_req *req, const char *where)
{
	const struct qkdnctl_listen *l = &req->listen;
	struct timespec zero = { 0, 0 };
	struct qkdnctl_note note;
	struct sigaction sa;
	sigset_t stop, wait_mask;
	struct nlmsghdr *nlh;
	uint32_t supplies = 0;
	void *abuf;
	int ret, rc = QKDNCTL_EXIT_OK;

	abuf = malloc(QKDN_BUF_SIZE);
	if (!abuf) {
		fprintf(stderr, "Error: %s\n", strerror(ENOMEM));
		return QKDNCTL_EXIT_ERROR;
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = qkdnctl_on_signal;	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	req->nlh->nlmsg_type = qkdn_family_id(qs);
	ret = qkdn_request(qs, req->nlh, NULL, NULL);
	if (ret) {
		rc = kernel_error(qs, ret, where);
		goto out;
	}
	qkdnctl_print_listening(out, l->sae);
	if (listen_flush()) {
		rc = QKDNCTL_EXIT_ERROR;
		goto out;
	}
	out->listen = l;
	out->note = &note;
	for (;;) {
		struct pollfd pfd = { .fd = qkdn_fd(qs), .events = POLLIN };

		/* Messages may be queued already (qkdn_pending()): then
		 * only let a pending signal in. */
		ret = ppoll(&pfd, 1, qkdn_pending(qs) ? &zero : NULL, &wait_mask);
		if (qkdnctl_stop)
			break;
		if (ret < 0 && errno != EINTR) {
			fprintf(stderr, "Error: %s\n", strerror(errno));
			rc = QKDNCTL_EXIT_ERROR;
			break;
		}
		if (ret <= 0 && !qkdn_pending(qs))
			continue;
		note.cmd = 0;
		ret = qkdn_recv(qs, qkdnctl_print_listen, out);
		if (listen_flush()) {
			rc = QKDNCTL_EXIT_ERROR;	/* keys not delivered: no answer */
			break;
		}
		if (ret == -ENOBUFS) {
			fprintf(stderr, "Warning: messages lost (receive buffer overflow)\n");
			continue;
		}
		if (ret == -EBADMSG) {
			fprintf(stderr, "Warning: malformed message ignored\n");
			continue;
		}
		if (ret < 0) {
			fprintf(stderr, "Error: %s\n", strerror(-ret));
			rc = QKDNCTL_EXIT_ERROR;
			break;
		}
		nlh = qkdnctl_answer(abuf, &note, l);
		if (!nlh)
			continue;
		nlh->nlmsg_type = qkdn_family_id(qs);
		ret = qkdn_request(qs, nlh, NULL, NULL);
		if (ret) {
			rc = kernel_error(qs, ret, where);
			break;
		}
		if (note.cmd == QKDN_CMD_KEY_SUPPLY && l->count &&
		    ++supplies >= l->count)
			break;
	}
out:
	free(abuf);
	return rc;
}

/* Enter the netns and open the socket; NULL after printing why. */
static struct qkdn_sock *open_sock(const struct qkdnctl_opts *o)
{
	struct qkdn_sock *qs;
	int ret;

	if (o->netns) {
		ret = qkdn_setns(o->netns);
		if (ret < 0) {
			fprintf(stderr, "Error: cannot enter netns \"%s\": %s\n",
				o->netns, strerror(-ret));
			return NULL;
		}
	}
	qs = qkdn_open();
	if (!qs) {
		if (errno == ENOENT)
			fprintf(stderr, "Error: qkdn module not loaded\n");
		else
			fprintf(stderr, "Error: cannot open netlink socket: %s\n",
				strerror(errno));
	}
	return qs;
}

/* One parsed request on an open socket. */
static int run_req(struct qkdn_sock *qs, const struct qkdnctl_opts *o,
		   struct qkdnctl_req *req, const char *where)
{
	struct qkdnctl_json jw;
	struct qkdnctl_out out = {
		.f = stdout, .fmt = req->fmt, .obj = req->obj,
	};
	int ret;

	if (o->json) {
		/* monitor, session listen: one compact object per line,
		 * whatever -p says */
		qkdnctl_json_init(&jw, stdout,
				  o->pretty && req->obj != QKDNCTL_OBJ_MONITOR &&
				  req->cmd != QKDN_CMD_SAE_LISTEN);
		out.jw = &jw;
	}
	if (req->obj == QKDNCTL_OBJ_MONITOR)
		return run_monitor(qs, &out);
	if (req->cmd == QKDN_CMD_SAE_LISTEN)
		return run_listen(qs, &out, req, where);

	req->nlh->nlmsg_type = qkdn_family_id(qs);
	ret = qkdn_request(qs, req->nlh, qkdnctl_print_msg, &out);
	if (ret) {
		qkdnctl_print_end(&out);
		return kernel_error(qs, ret, where);
	}
	if (qkdnctl_cmd_shows(req->cmd))
		qkdnctl_print_begin(&out);
	qkdnctl_print_end(&out);
	return QKDNCTL_EXIT_OK;
}

static int run(const struct qkdnctl_opts *o, struct qkdnctl_req *req)
{
	struct qkdn_sock *qs = open_sock(o);
	int ret;

	if (!qs)
		return QKDNCTL_EXIT_ERROR;
	ret = run_req(qs, o, req, "");
	qkdn_close(qs);
	return ret;
}

/*
 * -b FILE: every line is "OBJECT COMMAND ARGS..." on one socket, in one
 * netns; blank lines and comments are skipped. The first line that fails
 * ends the batch with that line's exit status; errors name FILE:LINE.
 */
static int run_batch(const struct qkdnctl_opts *o, void *buf)
{
	char line[4096], where[64 + 32], *argv[QKDN_KEYS_PER_REQUEST * 2 + 16];
	const char *name = strcmp(o->batch, "-") ? o->batch : "stdin";
	struct qkdnctl_req req;
	struct qkdn_sock *qs;
	unsigned int lineno = 0;
	int argc, ret = QKDNCTL_EXIT_OK;
	FILE *f;

	f = strcmp(o->batch, "-") ? fopen(o->batch, "r") : stdin;
	if (!f) {
		fprintf(stderr, "Error: cannot open %s: %s\n", o->batch,
			strerror(errno));
		return QKDNCTL_EXIT_ERROR;
	}
	qs = open_sock(o);
	if (!qs) {
		if (f != stdin)
			fclose(f);
		return QKDNCTL_EXIT_ERROR;
	}
	while (ret == QKDNCTL_EXIT_OK && fgets(line, sizeof(line), f)) {
		lineno++;
		snprintf(where, sizeof(where), "%.64s:%u: ", name, lineno);
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "Error: %sline too long\n", where);
			ret = QKDNCTL_EXIT_USAGE;
			break;
		}
		argc = qkdnctl_split(line, argv, (int)(sizeof(argv) / sizeof(argv[0])));
		if (argc < 0) {
			fprintf(stderr, "Error: %stoo many words\n", where);
			ret = QKDNCTL_EXIT_USAGE;
			break;
		}
		if (!argc)
			continue;
		memset(buf, 0, QKDN_BUF_SIZE);
		if (qkdnctl_parse(argc, argv, buf, &req)) {
			fprintf(stderr, "Error: %s%s\n", where, req.err);
			ret = QKDNCTL_EXIT_USAGE;
		} else if (req.help) {
			qkdnctl_usage(stdout, req.obj);
		} else if (req.obj == QKDNCTL_OBJ_MONITOR ||
			   req.cmd == QKDN_CMD_SAE_LISTEN) {
			fprintf(stderr, "Error: %s%s is not allowed in a batch\n",
				where, req.obj == QKDNCTL_OBJ_MONITOR ?
				"monitor" : "session listen");
			ret = QKDNCTL_EXIT_USAGE;
		} else {
			ret = run_req(qs, o, &req, where);
		}
	}
	if (ret == QKDNCTL_EXIT_OK && ferror(f)) {
		fprintf(stderr, "Error: reading %s: %s\n", name, strerror(errno));
		ret = QKDNCTL_EXIT_ERROR;
	}
	qkdn_close(qs);
	if (f != stdin)
		fclose(f);
	return ret;
}

int qkdnctl_main(int argc, char **argv)
{
	struct qkdnctl_opts o;
	struct qkdnctl_req req;
	char err[128];
	void *buf;
	int idx, ret;

	setvbuf(stdout, qkdnctl_stdout_buf, _IOFBF, sizeof(qkdnctl_stdout_buf));
	idx = qkdnctl_parse_opts(argc, argv, &o, err, sizeof(err));
	if (idx < 0) {
		fprintf(stderr, "Error: %s\n", err);
		qkdnctl_usage(stderr, QKDNCTL_OBJ_NONE);
		return QKDNCTL_EXIT_USAGE;
	}
	if (o.help) {
		qkdnctl_usage(stdout, QKDNCTL_OBJ_NONE);
		return QKDNCTL_EXIT_OK;
	}
	if (o.batch && idx < argc) {
		fprintf(stderr, "Error: -b takes its commands from the file, not \"%s\"\n",
			argv[idx]);
		qkdnctl_usage(stderr, QKDNCTL_OBJ_NONE);
		return QKDNCTL_EXIT_USAGE;
	}
	if (!o.batch && idx >= argc) {
		qkdnctl_usage(stderr, QKDNCTL_OBJ_NONE);
		return QKDNCTL_EXIT_USAGE;
	}
	buf = calloc(1, QKDN_BUF_SIZE);
	if (!buf) {
		fprintf(stderr, "Error: %s\n", strerror(ENOMEM));
		return QKDNCTL_EXIT_ERROR;
	}
	if (o.batch) {
		ret = run_batch(&o, buf);
	} else if (qkdnctl_parse(argc - idx, argv + idx, buf, &req)) {
		fprintf(stderr, "Error: %s\n", req.err);
		qkdnctl_usage(stderr, req.obj);
		ret = QKDNCTL_EXIT_USAGE;
	} else if (req.help) {
		qkdnctl_usage(stdout, req.obj);
		ret = QKDNCTL_EXIT_OK;
	} else {
		ret = run(&o, &req);
	}
	free(buf);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "Error: writing output: %s\n", strerror(errno));
		ret = QKDNCTL_EXIT_ERROR;
	}
	qkdn_memzero(qkdnctl_stdout_buf, sizeof(qkdnctl_stdout_buf));
	return ret;
}
