/*
 * netpath: the route and address checks (see netpath.h). Both are asked of
 * the kernel with a throwaway UDP socket: connect() looks the route up and
 * sends nothing, bind() finds whether an address is still ours. With
 * net.ipv4.ip_nonlocal_bind (or its IPv6 twin) set, any bind succeeds, and
 * a gone address is not seen: the keepalives find that session dead.
 */
#include "netpath.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/sockaddr.h"

/*
 * Whether a packet from `from` (any address when NULL) could leave for
 * `to`: 0 when the kernel has a route, -ENETUNREACH when it has none,
 * -EADDRNOTAVAIL when `from` is no longer this machine's, 1 when it cannot
 * tell (out of descriptors, a rule that forbids): not the network's state.
 */
static int path_try(const struct sockaddr_storage *from, const struct sockaddr_storage *to)
{
	int s, ret = 0;

	s = socket(to->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return 1;
	if (from && bind(s, (const struct sockaddr *)from, sa_len(from)) < 0)
		ret = errno == EADDRNOTAVAIL ? -EADDRNOTAVAIL : 1;
	else if (connect(s, (const struct sockaddr *)to, sa_len(to)) < 0)
		ret = errno == ENETUNREACH || errno == EHOSTUNREACH ? -ENETUNREACH : 1;
	close(s);
	return ret;
}

int netpath_check(int fd, char *self, size_t selflen)
{
	struct sockaddr_storage me, peer;
	socklen_t ml = sizeof(me), pl = sizeof(peer), tl;
	int type, ret;

	tl = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM ||
	    getsockname(fd, (struct sockaddr *)&me, &ml) < 0 ||
	    (me.ss_family != AF_INET && me.ss_family != AF_INET6))
		return -ENOTSOCK;
	/* Ours, but no longer connected: the next read says why. */
	if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 || peer.ss_family != me.ss_family)
		return 0;

	/*
	 * From the connection's own address, since a host may route by
	 * source. Port 0: the connection itself holds its port.
	 */
	sa_set_port(&me, 0);
	ret = path_try(&me, &peer);
	if (ret != -EADDRNOTAVAIL)
		return ret == -ENETUNREACH ? -ENETUNREACH : 0;
	/* Ours is gone. With no route at all, the network is down, and may bring it back. */
	if (path_try(NULL, &peer) == -ENETUNREACH)
		return -ENETUNREACH;
	if (self && selflen && !inet_ntop(me.ss_family, sa_addr(&me), self, (socklen_t)selflen))
		self[0] = '\0';
	return -EADDRNOTAVAIL;
}

int netpath_route(const struct sockaddr_storage *peers, size_t n)
{
	bool known = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!sa_addr(&peers[i]))
			continue;
		known = true;
		if (path_try(NULL, &peers[i]) != -ENETUNREACH)
			return 0;
	}
	return known ? -ENETUNREACH : 0;
}
