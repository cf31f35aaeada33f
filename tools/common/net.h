/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Daemon sockets: listen, dial, accept; all non-blocking.
 */
#ifndef QD_NET_H
#define QD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define QD_ADDR_STR	64

/* Listen on a numeric host and port. Returns the fd, or -1 with a reason. */
int qd_net_listen(const char *host, const char *port, char *err,
		     size_t errlen);
/* Start a TCP connect to host:port (resolved now). Returns the fd with
 * *in_progress set, or -1 with a reason.
 */
int qd_net_dial(const char *host, const char *port, bool *in_progress,
		   char *addr, size_t addrlen, char *err, size_t errlen);
/* Accept one connection: fd, -1 with errno EAGAIN when none is waiting. */
int qd_net_accept(int lfd, char *addr, size_t addrlen);
/* The local port an fd is bound to (tests). */
int qd_net_port(int fd);

void qd_net_addr_str(const struct sockaddr *sa, char *buf, size_t len);

#endif /* QD_NET_H */
