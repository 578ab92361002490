/*
 * Unit tests for client/link/netpath.c, in a network namespace of its own
 * (needs root): real TCP connections between addresses on its loopback,
 * and the kernel's answers once one end's address is taken away.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <time.h>

#include "../../client/link/netpath.h"
#include "t.h"

/* RTM_NEWADDR or RTM_DELADDR of a.b.c.d/32 on lo, acknowledged. 0 or -errno. */
static int addr_set(uint16_t type, const char *ip)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	struct in_addr a;
	int ret = -EIO;

	if (inet_pton(AF_INET, ip, &a) != 1)
		return -EINVAL;
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto out;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (type == RTM_NEWADDR ? NLM_F_CREATE : 0);
	nlh->nlmsg_seq = 1;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = 32;
	ifa->ifa_index = if_nametoindex("lo");
	mnl_attr_put(nlh, IFA_LOCAL, 4, &a);
	mnl_attr_put(nlh, IFA_ADDRESS, 4, &a);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		goto out;
	ret = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (ret > 0)
		ret = mnl_cb_run(buf, (size_t)ret, 1, mnl_socket_get_portid(nl), NULL, NULL) < 0
			  ? -errno
			  : 0;
	else
		ret = -EIO;
out:
	mnl_socket_close(nl);
	return ret;
}

static int lo_up(void)
{
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (s < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		ret = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (ret == 0 && ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		ret = -errno;
	close(s);
	return ret;
}

/* A TCP connection from `from` to `to` (both on lo); *srv gets the accepted end. */
static int tcp_pair(const char *from, const char *to, int *srv)
{
	struct sockaddr_in a = {.sin_family = AF_INET}, b = {.sin_family = AF_INET};
	socklen_t bl = sizeof(b);
	int l, c = -1;

	inet_pton(AF_INET, to, &b.sin_addr);
	inet_pton(AF_INET, from, &a.sin_addr);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&b, sizeof(b)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&b, &bl) < 0)
		goto out;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || bind(c, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    connect(c, (struct sockaddr *)&b, sizeof(b)) < 0) {
		if (c >= 0)
			close(c);
		c = -1;
		goto out;
	}
	*srv = accept(l, NULL, NULL);
out:
	if (l >= 0)
		close(l);
	return c;
}

static void test_paths(void)
{
	char self[64] = "x";
	int c, s = -1, sp[2];

	CHECK_EQ_INT(addr_set(RTM_NEWADDR, "192.0.2.1"), 0);
	CHECK_EQ_INT(addr_set(RTM_NEWADDR, "192.0.2.2"), 0);
	c = tcp_pair("192.0.2.1", "192.0.2.2", &s);
	CHECK(c >= 0 && s >= 0);
	CHECK_EQ_INT(netpath_check(c, self, sizeof(self)), 0);

	/* Our address gone, the peer's still routed: the connection cannot go on. */
	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.1"), 0);
	CHECK_EQ_INT(netpath_check(c, self, sizeof(self)), -EADDRNOTAVAIL);
	CHECK_STR(self, "192.0.2.1");
	/* From the other end, there is no route back to it at all. */
	CHECK_EQ_INT(netpath_check(s, NULL, 0), -ENETUNREACH);

	/* Back again: usable, as after a network that returned with the same lease. */
	CHECK_EQ_INT(addr_set(RTM_NEWADDR, "192.0.2.1"), 0);
	CHECK_EQ_INT(netpath_check(c, self, sizeof(self)), 0);
	CHECK_EQ_INT(netpath_check(s, NULL, 0), 0);

	/* The peer unreachable: no route, whatever our own address does. */
	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.2"), 0);
	CHECK_EQ_INT(netpath_check(c, NULL, 0), -ENETUNREACH);
	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.1"), 0);
	CHECK_EQ_INT(netpath_check(c, NULL, 0), -ENETUNREACH);
	close(c);
	close(s);

	/* Not a TCP socket over IP (a proxy's pipe, -e's socket pair): nothing to say. */
	CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	CHECK_EQ_INT(netpath_check(sp[0], NULL, 0), 0);
	close(sp[0]);
	close(sp[1]);
	CHECK_EQ_INT(netpath_check(-1, NULL, 0), 0);
}

int main(void)
{
	if (unshare(CLONE_NEWNET) < 0 || lo_up() < 0) {
		printf("FAIL setup: a network namespace of its own (needs root): %s\n",
		       strerror(errno));
		return 1;
	}
	RUN(test_paths);
	T_EXIT();
}
