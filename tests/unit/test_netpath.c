/*
 * Unit tests for client/link/netpath.c and the tunnel's use of it
 * (client/link/tunnel.c), in a network namespace of its own (needs root):
 * real TCP connections between addresses on its loopback, the kernel's
 * answers once one end's address is taken away, and what the tunnel over
 * such a connection does meanwhile: its far end never answers, so only
 * the network's state keeps it from calling the server dead.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <time.h>

#include "../../client/link/netpath.h"
#include "../../client/link/transport.h"
#include "../../client/link/tunnel.h"
#include "../../common/clock.h"
#include "../../common/mux.h"
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

	/* Not a TCP socket over IP (a proxy's pipe, -e's socket pair): another process's. */
	CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	CHECK_EQ_INT(netpath_check(sp[0], NULL, 0), -ENOTSOCK);
	close(sp[0]);
	close(sp[1]);
	CHECK_EQ_INT(netpath_check(-1, NULL, 0), -ENOTSOCK);
}

/* -e's: the server's addresses alone, any one routed enough. */
static void test_routes(void)
{
	struct sockaddr_storage peers[3] = {0};
	struct sockaddr_in *a = (struct sockaddr_in *)&peers[1],
			   *b = (struct sockaddr_in *)&peers[2];

	a->sin_family = b->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &a->sin_addr);
	inet_pton(AF_INET, "192.0.2.8", &b->sin_addr);
	a->sin_port = b->sin_port = htons(22);
	/* None known (a proxy's): nothing to say. */
	CHECK_EQ_INT(netpath_route(peers, 1), 0);
	CHECK_EQ_INT(netpath_route(peers, 0), 0);
	CHECK_EQ_INT(netpath_route(peers, 3), -ENETUNREACH);
	CHECK_EQ_INT(addr_set(RTM_NEWADDR, "192.0.2.8"), 0);
	CHECK_EQ_INT(netpath_route(peers, 3), 0);
	CHECK_EQ_INT(netpath_route(peers, 2), -ENETUNREACH);
	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.8"), 0);
	CHECK_EQ_INT(netpath_route(peers, 3), -ENETUNREACH);
}

/* --- the tunnel over such a connection ------------------------------------ */

struct tcpt {
	struct transport t;
	int fd;
};

static ssize_t t_io(ssize_t n)
{
	return n >= 0 ? n : errno == EAGAIN ? -EAGAIN : -errno;
}

static ssize_t t_read(struct transport *t, void *buf, size_t len)
{
	return t_io(recv(((struct tcpt *)t)->fd, buf, len, MSG_DONTWAIT));
}

static ssize_t t_read_stderr(struct transport *t, void *buf, size_t len)
{
	return -EAGAIN;
}

static ssize_t t_write(struct transport *t, const void *buf, size_t len)
{
	return t_io(send(((struct tcpt *)t)->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL));
}

static void t_wait_on(struct transport *t, int fd[2], uint32_t *events)
{
	fd[0] = ((struct tcpt *)t)->fd;
	fd[1] = -1;
	*events = EPOLLIN;
}

static bool t_buffered(struct transport *t)
{
	return false;
}

static const char *t_why(struct transport *t)
{
	return "test transport failed";
}

static int t_exit_status(struct transport *t)
{
	return -1;
}

static const struct transport_ops tcp_ops = {
    .read = t_read,
    .read_stderr = t_read_stderr,
    .write = t_write,
    .wait_on = t_wait_on,
    .buffered = t_buffered,
    .why = t_why,
    .exit_status = t_exit_status,
};

static const struct mux_ops no_ops = {0};

struct trig {
	struct evloop loop;
	struct tcpt tr;
	struct mux *mux;
	struct tunnel tun;
	int far;
	bool looping;  /* loop is open */
	unsigned news; /* 1 << each tunnel_net seen */
};

/* A tunnel from 192.0.2.1 to 192.0.2.2 whose far end reads nothing and answers nothing. */
static int trig_init(struct trig *r, int interval, int count)
{
	memset(r, 0, sizeof(*r));
	r->far = r->tr.fd = -1;
	if (addr_set(RTM_NEWADDR, "192.0.2.1") < 0 || addr_set(RTM_NEWADDR, "192.0.2.2") < 0 ||
	    evloop_init(&r->loop) < 0)
		return -1;
	r->looping = true;
	r->tr.fd = tcp_pair("192.0.2.1", "192.0.2.2", &r->far);
	if (r->tr.fd < 0 || r->far < 0)
		return -1;
	fcntl(r->tr.fd, F_SETFL, O_NONBLOCK);
	r->tr.t.ops = &tcp_ops;
	r->tr.t.name = "test";
	r->mux = mux_new(&r->loop, 256 << 10, 64 << 10, &no_ops, NULL);
	if (!r->mux || tunnel_init(&r->tun, &r->tr.t, &r->loop, r->mux) < 0)
		return -1;
	tunnel_set_alive(&r->tun, interval, count);
	return 0;
}

static void trig_free(struct trig *r)
{
	tunnel_close(&r->tun);
	if (r->mux)
		mux_free(r->mux);
	if (r->looping)
		evloop_close(&r->loop);
	if (r->tr.fd >= 0)
		close(r->tr.fd);
	if (r->far >= 0)
		close(r->far);
	addr_set(RTM_DELADDR, "192.0.2.1");
	addr_set(RTM_DELADDR, "192.0.2.2");
}

/* trig_init, or a failed check and nothing left behind. */
static bool trig_open(struct trig *r, int interval, int count)
{
	if (trig_init(r, interval, count) == 0)
		return true;
	CHECK(!"the rig: an address, a connection, a mux");
	trig_free(r);
	return false;
}

/* Pump and tick every 100 ms for ms, or until the tunnel fails. */
static void trig_run(struct trig *r, int ms)
{
	int64_t end = clock_ms() + ms;

	while (!r->tun.failed && clock_ms() < end) {
		tunnel_pump(&r->tun);
		r->news |= 1u << tunnel_tick(&r->tun);
		evloop_run_once(&r->loop, 100);
	}
}

/* Awake, our address taken while the server stays routed: dead, once the grace is over. */
static void test_tunnel_address_gone(void)
{
	struct trig r;
	int64_t t0;

	if (!trig_open(&r, 1, 3))
		return;
	trig_run(&r, 300);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.1"), 0);
	t0 = clock_ms();
	trig_run(&r, 10000);
	CHECK_EQ_INT(r.tun.failed, -EADDRNOTAVAIL);
	CHECK(strstr(r.tun.why, "no longer has 192.0.2.1") != NULL);
	/* Not before the grace: an address re-added with its link is back within it. */
	CHECK(clock_ms() - t0 >= TUNNEL_GONE_SEC * 1000);
	trig_free(&r);
}

/*
 * Our address away for a moment while the server is quiet: not judged
 * meanwhile, and asked at once when it is back, as after an outage (a
 * blip must not put the verdict off by a whole keepalive limit again and
 * again), but not told as one. Away again before the server answers, the
 * wait counts from the first loss, and ends once both it and the open
 * probe's allowance are over.
 */
static void test_tunnel_address_blip(void)
{
	struct trig r;
	struct timespec first;

	if (!trig_open(&r, 1, 10))
		return;
	trig_run(&r, 3500);
	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.1"), 0);
	trig_run(&r, 1000);
	CHECK(r.tun.addr_gone);
	first = r.tun.net_down_at;
	CHECK_EQ_INT(addr_set(RTM_NEWADDR, "192.0.2.1"), 0);
	trig_run(&r, 300);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK(!r.tun.addr_gone);
	CHECK(r.tun.probing && r.tun.net_back);
	CHECK(!(r.news & (1u << TUNNEL_NET_BACK)));

	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.1"), 0);
	trig_run(&r, 300);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK(r.tun.addr_gone);
	CHECK(r.tun.net_down_at.tv_sec == first.tv_sec &&
	      r.tun.net_down_at.tv_nsec == first.tv_nsec);
	/* The first loss 61 s ago: the probe still open holds it... */
	r.tun.net_down_at.tv_sec -= TUNNEL_NET_WAIT_SEC + 1;
	trig_run(&r, 300);
	CHECK_EQ_INT(r.tun.failed, 0);
	/* ...until its own allowance is over. */
	r.tun.back_until.tv_sec -= 200;
	trig_run(&r, 300);
	CHECK_EQ_INT(r.tun.failed, -EADDRNOTAVAIL);
	CHECK(strstr(r.tun.why, "no usable route to the SSH server") != NULL);
	trig_free(&r);
}

/*
 * No route to the server, for longer than the keepalives allow (dead
 * after 1 s): waited for. Back, the server gets the probe's time plus the
 * silence TCP backed off for; gone again before it answers, the wait
 * counts from the first loss, and a second return never shortens the
 * allowance, but cannot stretch it past a bound from the first loss.
 */
static void test_tunnel_route_down(void)
{
	struct trig r;
	struct timespec first, now, due;

	if (!trig_open(&r, 1, 1))
		return;
	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.2"), 0);
	trig_run(&r, 2500);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK(r.tun.net_down);
	CHECK(r.news & (1u << TUNNEL_NET_DOWN));
	first = r.tun.net_down_at;

	CHECK_EQ_INT(addr_set(RTM_NEWADDR, "192.0.2.2"), 0);
	trig_run(&r, 300);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK(r.news & (1u << TUNNEL_NET_BACK));
	CHECK(r.tun.probing && r.tun.net_back);
	clock_gettime(CLOCK_MONOTONIC, &now);
	CHECK(r.tun.back_until.tv_sec - now.tv_sec >= TUNNEL_PROBE_SEC + 1);
	due = r.tun.back_until;

	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.2"), 0);
	trig_run(&r, 300);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK(r.tun.net_down);
	CHECK(r.tun.net_down_at.tv_sec == first.tv_sec &&
	      r.tun.net_down_at.tv_nsec == first.tv_nsec);
	CHECK_EQ_INT(addr_set(RTM_NEWADDR, "192.0.2.2"), 0);
	trig_run(&r, 300);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK(r.tun.back_until.tv_sec >= due.tv_sec);

	/* Lost long ago, however it came and went: the allowance ends at the bound. */
	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.2"), 0);
	trig_run(&r, 300);
	r.tun.net_down_at.tv_sec -= 1000;
	CHECK_EQ_INT(addr_set(RTM_NEWADDR, "192.0.2.2"), 0);
	trig_run(&r, 500);
	CHECK_EQ_INT(r.tun.failed, -ETIMEDOUT);
	CHECK(strstr(r.tun.why, "since the route came back") != NULL);
	trig_free(&r);
}

/*
 * -e's: the connection is another process's (a socket pair here), so the
 * route to the server's address is all there is to ask. None: waited for;
 * back: asked. And the guess loses to the server heard since the loss.
 */
static void test_tunnel_not_ours(void)
{
	struct sockaddr_in *peer;
	struct trig r;
	int sp[2];

	memset(&r, 0, sizeof(r));
	r.far = r.tr.fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) < 0 ||
	    evloop_init(&r.loop) < 0) {
		CHECK(!"a socket pair and a loop");
		return;
	}
	r.looping = true;
	r.tr.fd = sp[0];
	r.far = sp[1];
	r.tr.t.ops = &tcp_ops;
	r.tr.t.name = "test";
	peer = (struct sockaddr_in *)&r.tr.t.peer[0];
	peer->sin_family = AF_INET;
	peer->sin_port = htons(22);
	inet_pton(AF_INET, "192.0.2.2", &peer->sin_addr);
	r.tr.t.n_peer = 1;
	r.mux = mux_new(&r.loop, 256 << 10, 64 << 10, &no_ops, NULL);
	if (!r.mux || tunnel_init(&r.tun, &r.tr.t, &r.loop, r.mux) < 0) {
		CHECK(!"a mux and a tunnel");
		trig_free(&r);
		return;
	}
	tunnel_set_alive(&r.tun, 1, 1);

	trig_run(&r, 2500);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK(r.tun.net_down);
	CHECK(r.news & (1u << TUNNEL_NET_DOWN));
	CHECK_EQ_INT(addr_set(RTM_NEWADDR, "192.0.2.2"), 0);
	trig_run(&r, 300);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK(!r.tun.net_down);
	CHECK(r.news & (1u << TUNNEL_NET_BACK));
	CHECK(r.tun.probing && r.tun.net_back);

	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.2"), 0);
	trig_run(&r, 300);
	CHECK(r.tun.net_down);
	/* Heard meanwhile, by whatever way the command reaches it: the route was there. */
	clock_gettime(CLOCK_MONOTONIC, &r.tun.last_rx);
	trig_run(&r, 300);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK(!r.tun.net_down);
	trig_free(&r);
}

/*
 * Woken long ago into a network still down; the route comes back while
 * our address is still away (an IPv6 address in its duplicate check): not
 * judged by the wake-up's old probe meanwhile, and checked afresh once
 * the address is back.
 */
static void test_tunnel_wake_address_late(void)
{
	struct trig r;

	if (!trig_open(&r, 1, 3))
		return;
	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.2"), 0);
	tunnel_probe(&r.tun);
	trig_run(&r, 300);
	CHECK(r.tun.net_down);
	/* The wake-up was 30 s ago, and the server was last heard before it. */
	r.tun.probe.tv_sec -= 30;
	r.tun.last_rx.tv_sec -= 30;

	CHECK_EQ_INT(addr_set(RTM_DELADDR, "192.0.2.1"), 0);
	CHECK_EQ_INT(addr_set(RTM_NEWADDR, "192.0.2.2"), 0);
	trig_run(&r, 1500);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK(r.tun.addr_gone);

	CHECK_EQ_INT(addr_set(RTM_NEWADDR, "192.0.2.1"), 0);
	trig_run(&r, 300);
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK(r.news & (1u << TUNNEL_NET_BACK));
	CHECK(r.tun.probing && r.tun.net_back);
	trig_free(&r);
}

int main(void)
{
	if (unshare(CLONE_NEWNET) < 0 || lo_up() < 0) {
		printf("FAIL setup: a network namespace of its own (needs root): %s\n",
		       strerror(errno));
		return 1;
	}
	RUN(test_paths);
	RUN(test_routes);
	RUN(test_tunnel_address_gone);
	RUN(test_tunnel_address_blip);
	RUN(test_tunnel_route_down);
	RUN(test_tunnel_not_ours);
	RUN(test_tunnel_wake_address_late);
	T_EXIT();
}
