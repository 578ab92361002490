/*
 * bindset: bind a set of addresses on one port (see bindset.h).
 */
#include "bindset.h"

#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

#include "sockaddr.h"

static int bind_one(int type, int backlog, struct sockaddr_storage *ss)
{
	int fd, one = 1, ret;
	socklen_t len =
	    ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);

	fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, backlog) < 0) ||
	    getsockname(fd, (struct sockaddr *)ss, &len) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static int try_port(int type, int backlog, const struct sockaddr_storage *addrs, size_t n, int *fds,
		    uint16_t *port, size_t *bad)
{
	uint16_t p = *port;
	size_t i, k;

	for (i = 0; i < n; i++) {
		struct sockaddr_storage ss = addrs[i];

		sa_set_port(&ss, p);
		fds[i] = bind_one(type, backlog, &ss);
		if (fds[i] < 0) {
			int ret = fds[i];
			*bad = i;
			for (k = 0; k < i; k++)
				close(fds[k]);
			return ret;
		}
		/* The kernel chose: every other socket takes the same port. */
		if (p == 0)
			p = sa_port(&ss);
	}
	*port = p;
	return 0;
}

int bindset_open(int type, int backlog, const struct sockaddr_storage *addrs, size_t n, int *fds,
		 uint16_t *port, size_t *bad)
{
	uint16_t want;
	int tries, ret = -EINVAL;

	*bad = 0;
	if (n == 0 || n > BINDSET_MAX)
		return -EINVAL;
	want = sa_port(&addrs[0]);
	for (tries = 0; tries < (want ? 1 : BINDSET_TRIES); tries++) {
		*port = want;
		ret = try_port(type, backlog, addrs, n, fds, port, bad);
		/* A port free on the first address may be taken on another: pick again. */
		if (ret != -EADDRINUSE || want)
			break;
	}
	return ret;
}
