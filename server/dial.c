/*
 * dial: non-blocking outgoing TCP connects for the helper. The address
 * comes from the client; the kernel's own rules decide what is reachable,
 * with the helper's (unprivileged) rights.
 */
#include "dial.h"

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

	memset(&ss, 0, sizeof(ss));
	if (dst->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(dst->port);
		memcpy(&sin->sin_addr, dst->addr, 4);
		len = sizeof(*sin);
	} else if (dst->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(dst->port);
		memcpy(&sin6->sin6_addr, dst->addr, 16);
		len = sizeof(*sin6);
	} else {
		return -EAFNOSUPPORT;
	}
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
