/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * libqkdn helpers for the daemons: node IDs in messages, this node's ID,
 * and an operator's explanation of a failure to reach the family.
 */
#ifndef QKDN_NODE_H
#define QKDN_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include "libqkdn.h"

/* Copy a string attribute that must hold a node ID (1..QKDN_ID_MAX-1
 * bytes); false if it does not.
 */
bool qkdn_attr_id(const struct nlattr *a, char out[QKDN_ID_MAX]);

/* This node's ID ("" while it is not set), by NODE_GET with buf
 * (QKDN_BUF_SIZE bytes). 0 or -errno.
 */
int qkdn_node_id(struct qkdn_sock *qs, void *buf, char id[QKDN_ID_MAX]);

/* "WHAT: EXTACK (strerror)" when the kernel gave a message, else "WHAT:
 * HINT" for the errors an operator can fix (family missing, no
 * CAP_NET_ADMIN), else "WHAT: strerror". e is a positive errno.
 */
void qkdn_errfmt(char *out, size_t outlen, const char *what, int e,
		 const char *extack);

#endif /* QKDN_NODE_H */
