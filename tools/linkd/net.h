/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn-linkd sockets: listen, dial, accept; all non-blocking.
 */
#ifndef LINKD_NET_H
#define LINKD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define LINKD_ADDR_STR	64

/* Listen on a numeric host and port. Returns the fd, or -1 with a reason. */
int linkd_net_listen(const char *host, const char *port, char *err,
		     size_t errlen);
/* Start a TCP connect to host:port (resolved now). Returns the fd with
 * *in_progress set, or -1 with a reason.
 */
int linkd_net_dial(const char *host, const char *port, bool *in_progress,
		   char *addr, size_t addrlen, char *err, size_t errlen);
/* Accept one connection: fd, -1 with errno EAGAIN when none is waiting. */
int linkd_net_accept(int lfd, char *addr, size_t addrlen);
/* The local port an fd is bound to (tests). */
int linkd_net_port(int fd);

void linkd_net_addr_str(const struct sockaddr *sa, char *buf, size_t len);

#endif /* LINKD_NET_H */
