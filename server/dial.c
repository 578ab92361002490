/*
 * dial: non-blocking outgoing TCP connects for the helper. The address
 * comes from the client; the kernel's own rules decide what is reachable,
 * with the helper's (unprivileged) rights.
 */
#include "dial.h"

#include "../common/sockaddr.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int dial_addr(const struct sockaddr_storage *ss)
{
	socklen_t len = ss->ss_family == AF_INET    ? sizeof(struct sockaddr_in)
			: ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						    : 0;
	int fd, one = 1;

	if (!len)
		return -EAFNOSUPPORT;
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The relay already batches; Nagle would only add a round trip to small replies. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)ss, len) < 0 && errno != EINPROGRESS) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int dial_start(const struct wire_open *dst)
{
	struct sockaddr_storage ss;

	if (!sa_make(&ss, dst->family, dst->addr, dst->port))
		return -EAFNOSUPPORT;
	return dial_addr(&ss);
}
