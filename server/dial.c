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

int dial_start(const struct wire_open *dst)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	len = sa_make(&ss, dst->family, dst->addr, dst->port);
	if (!len)
		return -EAFNOSUPPORT;
	fd = socket(dst->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The relay already batches; Nagle would only add a round trip to small replies. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}
