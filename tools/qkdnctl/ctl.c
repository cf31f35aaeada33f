// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * qkdnctl: send the parsed request, print the answer, map errors to the
 * exit status (0 success, 1 refused or failed, 2 usage).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qkdnctl.h"

/* stdout's buffer is ours so that key text can be erased after printing. */
static char qkdnctl_stdout_buf[1 << 16];

static int kernel_error(struct qkdn_sock *qs, int err)
{
	const char *msg = qkdn_errmsg(qs);

	fflush(stdout);
	fprintf(stderr, "Error: %s\n", msg && *msg ? msg : strerror(-err));
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

static int run(const struct qkdnctl_opts *o, struct qkdnctl_req *req)
{
	struct qkdnctl_json jw;
	struct qkdnctl_out out = {
		.f = stdout, .fmt = req->fmt, .obj = req->obj,
	};
	struct qkdn_sock *qs;
	int ret;

	if (o->netns) {
		ret = qkdn_setns(o->netns);
		if (ret < 0) {
			fprintf(stderr, "Error: cannot enter netns \"%s\": %s\n",
				o->netns, strerror(-ret));
			return QKDNCTL_EXIT_ERROR;
		}
	}
	qs = qkdn_open();
	if (!qs) {
		if (errno == ENOENT)
			fprintf(stderr, "Error: qkdn module not loaded\n");
		else
			fprintf(stderr, "Error: cannot open netlink socket: %s\n",
				strerror(errno));
		return QKDNCTL_EXIT_ERROR;
	}
	if (o->json) {
		/* monitor: one compact object per line, whatever -p says */
		qkdnctl_json_init(&jw, stdout,
				  o->pretty && req->obj != QKDNCTL_OBJ_MONITOR);
		out.jw = &jw;
	}
	if (req->obj == QKDNCTL_OBJ_MONITOR) {
		ret = run_monitor(qs, &out);
		qkdn_close(qs);
		return ret;
	}

	req->nlh->nlmsg_type = qkdn_family_id(qs);
	ret = qkdn_request(qs, req->nlh, qkdnctl_print_msg, &out);
	if (ret) {
		qkdnctl_print_end(&out);
		ret = kernel_error(qs, ret);
	} else {
		if (qkdnctl_cmd_shows(req->cmd))
			qkdnctl_print_begin(&out);
		qkdnctl_print_end(&out);
	}
	qkdn_close(qs);
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
	if (idx >= argc) {
		qkdnctl_usage(stderr, QKDNCTL_OBJ_NONE);
		return QKDNCTL_EXIT_USAGE;
	}
	buf = calloc(1, QKDN_BUF_SIZE);
	if (!buf) {
		fprintf(stderr, "Error: %s\n", strerror(ENOMEM));
		return QKDNCTL_EXIT_ERROR;
	}
	if (qkdnctl_parse(argc - idx, argv + idx, buf, &req)) {
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
