/*
 * netpath: the route and address checks (see netpath.h). Both are asked of
 * the kernel with a throwaway UDP socket: connect() looks the route up and
 * sends nothing, bind() finds whether an address is still ours.
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

/* 0, or -errno from the kernel for what a socket of family could not do. */
static int probe_sock(const struct sockaddr_storage *ss, bool bind_it)
{
	int s, ret = 0;

	s = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if ((bind_it ? bind(s, (const struct sockaddr *)ss, sa_len(ss))
		     : connect(s, (const struct sockaddr *)ss, sa_len(ss))) < 0)
		ret = -errno;
	close(s);
	return ret;
}

int netpath_check(int fd, char *self, size_t selflen)
{
	struct sockaddr_storage me, peer;
	socklen_t ml = sizeof(me), pl = sizeof(peer), tl;
	int type, ret;

	tl = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
		return 0;
	if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0 ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl) < 0)
		return 0;
	if ((me.ss_family != AF_INET && me.ss_family != AF_INET6) || peer.ss_family != me.ss_family)
		return 0;

	ret = probe_sock(&peer, false);
	if (ret == -ENETUNREACH || ret == -EHOSTUNREACH)
		return -ENETUNREACH;
	if (ret < 0)
		return 0; /* a limit of ours (descriptors), or a rule: not the network's state */

	/* Port 0: any free one. A port still held by the connection itself would be EADDRINUSE. */
	sa_set_port(&me, 0);
	if (probe_sock(&me, true) != -EADDRNOTAVAIL)
		return 0;
	if (self && selflen && !inet_ntop(me.ss_family, sa_addr(&me), self, (socklen_t)selflen))
		self[0] = '\0';
	return -EADDRNOTAVAIL;
}
