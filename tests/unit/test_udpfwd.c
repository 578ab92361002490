/*
 * Unit tests for udpfwd: real UDP and ICMP sockets on loopback, a real
 * evloop, the frames it sends captured, and its clock in the test's hand.
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../../common/clock.h"
#include "../../common/evloop.h"
#include "../../common/wire.h"
#include "../../server/udpfwd.h"
#include "t.h"

#define CAPS 24

static uint8_t caps[CAPS][WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];
static size_t n_caps;
static int refuse_send; /* the mux is full */
static int64_t fake_now = 1000000;

static int64_t fake_clock(void)
{
	return fake_now;
}

static int capture(void *ctx, const uint8_t *frame, size_t len)
{
	if (refuse_send)
		return -ENOBUFS;
	if (n_caps < CAPS && len <= sizeof(caps[0]))
		memcpy(caps[n_caps++], frame, len);
	return 0;
}

static void caps_reset(void)
{
	n_caps = 0;
	refuse_send = 0;
}

/* The captured frame i, parsed; the test fails on one the parser refuses. */
static struct wire_frame cap_frame(size_t i)
{
	struct wire_frame f;

	memset(&f, 0, sizeof(f));
	CHECK(wire_parse(caps[i], sizeof(caps[i]), &f) > 0);
	return f;
}

/* Run the loop until n frames are captured or ms pass. */
static void run_until(struct evloop *l, size_t n, int ms)
{
	int64_t end = clock_ms() + ms;

	while (n_caps < n && clock_ms() < end)
		evloop_run_once(l, 20);
}

/* A UDP echo server in the same loop. */
struct echo_srv {
	struct ev_io io;
	uint16_t port;
};

static struct sockaddr_storage srv_peer; /* whom the server answered last */

static void on_srv(struct ev_io *io, uint32_t events)
{
	static uint8_t b[65536];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	ssize_t n = recvfrom(io->fd, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);

	if (n >= 0) {
		srv_peer = ss;
		sendto(io->fd, b, (size_t)n, 0, (struct sockaddr *)&ss, sl);
	}
}

/* A bound UDP socket on loopback: port in *port. */
static int udp_bound(int family, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), big = 1 << 20;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&ss,
		 family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) <
		0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static int srv_start(struct evloop *l, struct echo_srv *s, int family)
{
	s->io.fd = udp_bound(family, &s->port);
	s->io.cb = on_srv;
	return s->io.fd < 0 ? -1 : evloop_add(l, &s->io, EPOLLIN);
}

static void srv_stop(struct evloop *l, struct echo_srv *s)
{
	evloop_del(l, &s->io);
	close(s->io.fd);
}

/* Feed udpfwd one client UDP frame. */
static int send_udp(struct udpfwd *u, uint32_t flow, int family, const char *addr, uint16_t port,
		    const uint8_t *data, size_t len)
{
	static uint8_t b[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];
	struct wire_udp req = {.family = family, .port = port, .data = data, .len = len};
	struct wire_frame f;
	size_t n;

	inet_pton(family, addr, req.addr);
	n = wire_put_udp_req(b, sizeof(b), flow, &req);
	if (!n || wire_parse(b, n, &f) != (int)n)
		return -999;
	return udpfwd_frame(u, &f);
}

static int send_echo(struct udpfwd *u, uint32_t id, int family, const char *addr, uint16_t seq,
		     const uint8_t *data, size_t len)
{
	static uint8_t b[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];
	struct wire_echo req = {.family = family, .seq = seq, .data = data, .len = len};
	struct wire_frame f;
	size_t n;

	inet_pton(family, addr, req.addr);
	n = wire_put_echo_req(b, sizeof(b), id, &req);
	if (!n || wire_parse(b, n, &f) != (int)n)
		return -999;
	return udpfwd_frame(u, &f);
}

static void check_reply(size_t i, uint32_t flow, const uint8_t *data, size_t len)
{
	struct wire_frame f = cap_frame(i);
	const uint8_t *d = NULL;
	size_t dl = 0;

	CHECK_EQ_INT(f.type, WIRE_UDP);
	CHECK_EQ_INT(f.stream, flow);
	CHECK_EQ_INT(wire_udp_reply(&f, &d, &dl), 0);
	CHECK_EQ_INT(dl, len);
	CHECK(dl == len && (len == 0 || memcmp(d, data, len) == 0));
}

static void test_roundtrip(void)
{
	static const size_t sizes[] = {0, 1, 1400, WIRE_UDP_MAX};
	static uint8_t data[WIRE_UDP_MAX + 3];
	struct echo_srv s4, s6;
	struct evloop l;
	struct udpfwd *u;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 31 + 7);
	CHECK_EQ_INT(evloop_init(&l), 0);
	CHECK_EQ_INT(srv_start(&l, &s4, AF_INET), 0);
	CHECK_EQ_INT(srv_start(&l, &s6, AF_INET6), 0);
	u = udpfwd_new(&l, capture, NULL);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		caps_reset();
		CHECK_EQ_INT(send_udp(u, 5, AF_INET, "127.0.0.1", s4.port, data, sizes[i]), 0);
		run_until(&l, 1, 2000);
		CHECK_EQ_INT(n_caps, 1);
		if (n_caps == 1)
			check_reply(0, 5, data, sizes[i]);
		caps_reset();
		CHECK_EQ_INT(send_udp(u, 6, AF_INET6, "::1", s6.port, data + 3, sizes[i]), 0);
		run_until(&l, 1, 2000);
		CHECK_EQ_INT(n_caps, 1);
		if (n_caps == 1)
			check_reply(0, 6, data + 3, sizes[i]);
	}
	{
		struct udpfwd_stats st;
		udpfwd_get_stats(u, &st);
		CHECK_EQ_INT(st.flows, 2); /* one flow each, reused */
	}
	/* A full pipe to the client loses the reply, counted; the flow goes on. */
	caps_reset();
	refuse_send = 1;
	CHECK_EQ_INT(send_udp(u, 5, AF_INET, "127.0.0.1", s4.port, data, 10), 0);
	for (i = 0; i < 20; i++)
		evloop_run_once(&l, 10);
	{
		struct udpfwd_stats st;
		udpfwd_get_stats(u, &st);
		CHECK_EQ_INT(st.out_dropped, 1);
	}
	udpfwd_free(u);
	srv_stop(&l, &s4);
	srv_stop(&l, &s6);
	evloop_close(&l);
}

static void test_refused_port(void)
{
	struct evloop l;
	struct udpfwd *u;
	uint16_t port4, port6;
	int fd4 = udp_bound(AF_INET, &port4), fd6 = udp_bound(AF_INET6, &port6);
	struct wire_frame f;

	/* Ports that were just free, and now nobody listens on. */
	close(fd4);
	close(fd6);
	CHECK_EQ_INT(evloop_init(&l), 0);
	u = udpfwd_new(&l, capture, NULL);
	caps_reset();
	CHECK_EQ_INT(send_udp(u, 9, AF_INET, "127.0.0.1", port4, (const uint8_t *)"x", 1), 0);
	run_until(&l, 1, 2000);
	CHECK_EQ_INT(n_caps, 1);
	f = cap_frame(0);
	CHECK_EQ_INT(f.type, WIRE_UDP_ERR);
	CHECK_EQ_INT(f.stream, 9);
	CHECK_EQ_INT(f.u.udp_err.err, ECONNREFUSED);
	CHECK_EQ_INT(f.u.udp_err.mtu, 0);
	caps_reset();
	CHECK_EQ_INT(send_udp(u, 10, AF_INET6, "::1", port6, (const uint8_t *)"x", 1), 0);
	run_until(&l, 1, 2000);
	CHECK_EQ_INT(n_caps, 1);
	f = cap_frame(0);
	CHECK(f.type == WIRE_UDP_ERR && f.stream == 10 && f.u.udp_err.err == ECONNREFUSED);
	/* Once: the error is not reported again by the next read. */
	caps_reset();
	run_until(&l, 1, 100);
	CHECK_EQ_INT(n_caps, 0);
	udpfwd_free(u);
	evloop_close(&l);
}

/* How many captured frames are UDP_CLOSE for flow. */
static int closes_for(uint32_t flow)
{
	size_t i;
	int n = 0;

	for (i = 0; i < n_caps; i++) {
		struct wire_frame f = cap_frame(i);
		n += f.type == WIRE_UDP_CLOSE && f.stream == flow;
	}
	return n;
}

static void test_idle_expiry(void)
{
	struct echo_srv s4;
	struct evloop l;
	struct udpfwd *u;
	struct udpfwd_stats st;
	uint16_t sink_port;
	int sink = udp_bound(AF_INET, &sink_port); /* takes datagrams, never answers */

	CHECK_EQ_INT(evloop_init(&l), 0);
	CHECK_EQ_INT(srv_start(&l, &s4, AF_INET), 0);
	u = udpfwd_new(&l, capture, NULL);
	udpfwd_set_clock(u, fake_clock);
	caps_reset();
	CHECK_EQ_INT(send_udp(u, 1, AF_INET, "127.0.0.1", sink_port, (const uint8_t *)"a", 1), 0);
	CHECK_EQ_INT(send_udp(u, 2, AF_INET, "127.0.0.1", s4.port, (const uint8_t *)"b", 1), 0);
	run_until(&l, 1, 2000);
	CHECK_EQ_INT(n_caps, 1); /* flow 2's answer */
	caps_reset();
	fake_now += UDPFWD_IDLE_MS - 1;
	udpfwd_tick(u);
	CHECK_EQ_INT(n_caps, 0);
	fake_now += 1;
	udpfwd_tick(u);
	CHECK_EQ_INT(closes_for(1), 1); /* never answered: 30 s */
	CHECK_EQ_INT(closes_for(2), 0);
	CHECK_EQ_INT(n_caps, 1);
	caps_reset();
	fake_now += UDPFWD_ANSWERED_MS - UDPFWD_IDLE_MS - 1;
	udpfwd_tick(u);
	CHECK_EQ_INT(n_caps, 0);
	udpfwd_get_stats(u, &st);
	CHECK_EQ_INT(st.flows, 1);
	fake_now += 1;
	udpfwd_tick(u);
	CHECK_EQ_INT(closes_for(2), 1); /* answered: 180 s */
	udpfwd_get_stats(u, &st);
	CHECK_EQ_INT(st.flows, 0);
	/* A flow the client closes goes silently. */
	caps_reset();
	CHECK_EQ_INT(send_udp(u, 3, AF_INET, "127.0.0.1", sink_port, (const uint8_t *)"c", 1), 0);
	{
		uint8_t b[WIRE_HDR_LEN];
		struct wire_frame f;
		wire_put_udp_close(b, sizeof(b), 3);
		CHECK(wire_parse(b, sizeof(b), &f) == WIRE_HDR_LEN);
		CHECK_EQ_INT(udpfwd_frame(u, &f), 0);
	}
	udpfwd_get_stats(u, &st);
	CHECK_EQ_INT(st.flows, 0);
	CHECK_EQ_INT(n_caps, 0);
	udpfwd_free(u);
	srv_stop(&l, &s4);
	close(sink);
	evloop_close(&l);
}

static void test_flow_cap(void)
{
	struct evloop l;
	struct udpfwd *u;
	struct udpfwd_stats st;
	uint16_t port, other;
	int sink = udp_bound(AF_INET, &port), sink2 = udp_bound(AF_INET, &other);
	const uint8_t *x = (const uint8_t *)"x";

	CHECK_EQ_INT(evloop_init(&l), 0);
	u = udpfwd_new(&l, capture, NULL);
	udpfwd_set_clock(u, fake_clock);
	udpfwd_set_flows_max(u, 3);
	caps_reset();
	CHECK_EQ_INT(send_udp(u, 1, AF_INET, "127.0.0.1", port, x, 1), 0);
	fake_now += 1000;
	CHECK_EQ_INT(send_udp(u, 2, AF_INET, "127.0.0.1", port, x, 1), 0);
	fake_now += 1000;
	CHECK_EQ_INT(send_udp(u, 3, AF_INET, "127.0.0.1", port, x, 1), 0);
	fake_now += 1000;
	CHECK_EQ_INT(send_udp(u, 1, AF_INET, "127.0.0.1", port, x, 1), 0); /* 2 is now the oldest */
	CHECK_EQ_INT(n_caps, 0);
	CHECK_EQ_INT(send_udp(u, 4, AF_INET, "127.0.0.1", port, x, 1), 0);
	CHECK_EQ_INT(n_caps, 1);
	CHECK_EQ_INT(closes_for(2), 1);
	udpfwd_get_stats(u, &st);
	CHECK_EQ_INT(st.flows, 3);
	CHECK_EQ_INT(st.evicted, 1);
	/* Another destination under a known id replaces that flow, without a frame. */
	caps_reset();
	CHECK_EQ_INT(send_udp(u, 4, AF_INET, "127.0.0.1", other, x, 1), 0);
	CHECK_EQ_INT(n_caps, 0);
	udpfwd_get_stats(u, &st);
	CHECK_EQ_INT(st.flows, 3);
	CHECK_EQ_INT(st.evicted, 1);
	{
		uint8_t b[8];
		CHECK_EQ_INT(recv(sink2, b, sizeof(b), MSG_DONTWAIT), 1);
	}
	udpfwd_free(u);
	/* A quarter of the descriptors at most: the rest stay for streams and DNS. */
	{
		struct rlimit old, low;
		uint32_t id;
		CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &old), 0);
		low = old;
		low.rlim_cur = 64;
		CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
		u = udpfwd_new(&l, capture, NULL);
		for (id = 10; id < 27; id++)
			CHECK_EQ_INT(send_udp(u, id, AF_INET, "127.0.0.1", port, x, 1), 0);
		udpfwd_get_stats(u, &st);
		CHECK_EQ_INT(st.flows, 16);
		CHECK_EQ_INT(st.evicted, 1);
		udpfwd_free(u);
		CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &old), 0);
	}
	close(sink);
	close(sink2);
	evloop_close(&l);
}

static void test_refused_dst(void)
{
	static const struct {
		int family;
		const char *addr;
	} bad[] = {{AF_INET, "224.0.0.1"},	     {AF_INET, "255.255.255.255"},
		   {AF_INET, "239.255.255.250"},     {AF_INET6, "ff02::1"},
		   {AF_INET6, "::ffff:224.0.0.251"}, {AF_INET6, "::ffff:255.255.255.255"}};
	struct evloop l;
	struct udpfwd *u;
	struct udpfwd_stats st;
	struct wire_frame f;
	size_t i;

	CHECK_EQ_INT(evloop_init(&l), 0);
	u = udpfwd_new(&l, capture, NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		caps_reset();
		CHECK_EQ_INT(
		    send_udp(u, 7, bad[i].family, bad[i].addr, 5353, (const uint8_t *)"q", 1), 0);
		CHECK_EQ_INT(n_caps, 1);
		f = cap_frame(0);
		CHECK(f.type == WIRE_UDP_ERR && f.stream == 7 && f.u.udp_err.err == EACCES);
		caps_reset();
		CHECK_EQ_INT(
		    send_echo(u, 8, bad[i].family, bad[i].addr, 3, (const uint8_t *)"q", 1), 0);
		CHECK_EQ_INT(n_caps, 1);
		f = cap_frame(0);
		CHECK(f.type == WIRE_ECHO_ERR && f.stream == 8 && f.u.echo_err.seq == 3 &&
		      f.u.echo_err.err == EACCES);
	}
	udpfwd_get_stats(u, &st);
	CHECK_EQ_INT(st.flows, 0);
	CHECK_EQ_INT(st.refused, 2 * sizeof(bad) / sizeof(bad[0]));
	/* A request to port 0 is that flow's error (EINVAL), not the session's. */
	{
		uint8_t b[WIRE_HDR_LEN + 8] = {0};
		caps_reset();
		wire_put_hdr(b, sizeof(b), WIRE_UDP, 7, 8);
		b[WIRE_HDR_LEN] = 4; /* port 0 */
		b[WIRE_HDR_LEN + 4] = 192;
		CHECK(wire_parse(b, sizeof(b), &f) > 0);
		CHECK_EQ_INT(udpfwd_frame(u, &f), 0);
		CHECK_EQ_INT(n_caps, 1);
		f = cap_frame(0);
		CHECK(f.type == WIRE_UDP_ERR && f.stream == 7 && f.u.udp_err.err == EINVAL);
		/* A malformed one (no such family) still is the peer's protocol error. */
		wire_put_hdr(b, sizeof(b), WIRE_UDP, 7, 8);
		b[WIRE_HDR_LEN] = 5;
		b[WIRE_HDR_LEN + 3] = 53;
		CHECK(wire_parse(b, sizeof(b), &f) > 0);
		CHECK_EQ_INT(udpfwd_frame(u, &f), -EPROTO);
	}
	udpfwd_free(u);
	evloop_close(&l);
}

/*
 * An ICMPv6 packet too big (MTU 1280) from ::1 about a datagram from the
 * flow's socket (from) to the server (to), as a router on a narrower link
 * sends it; by a raw socket, so in a namespace of our own.
 */
static int send_too_big6(const struct sockaddr_in6 *from, const struct sockaddr_in6 *to)
{
	struct sockaddr_in6 dst = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	uint8_t p[8 + 40 + 8] = {2, 0, 0, 0, 0, 0, 1280 >> 8, 1280 & 0xff};
	uint8_t *ip = p + 8;
	int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	ssize_t n;

	if (fd < 0)
		return -1;
	/* The quoted datagram's headers: version 6, payload 1400, UDP, hop limit 64. */
	ip[0] = 0x60;
	ip[4] = 1400 >> 8;
	ip[5] = 1400 & 0xff;
	ip[6] = IPPROTO_UDP;
	ip[7] = 64;
	memcpy(ip + 8, &from->sin6_addr, 16);
	memcpy(ip + 24, &to->sin6_addr, 16);
	memcpy(ip + 40, &from->sin6_port, 2);
	memcpy(ip + 42, &to->sin6_port, 2);
	ip[44] = 1400 >> 8;
	ip[45] = 1400 & 0xff;
	/* The kernel fills in an ICMPv6 raw socket's checksum. */
	n = sendto(fd, p, sizeof(p), 0, (struct sockaddr *)&dst, sizeof(dst));
	close(fd);
	return n == (ssize_t)sizeof(p) ? 0 : -1;
}

static int lo_up(void);

static void too_big_body(void)
{
	static uint8_t data[WIRE_UDP_MAX];
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct udpfwd_stats st;
	struct echo_srv s6;
	struct evloop l;
	struct udpfwd *u;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	CHECK_EQ_INT(evloop_init(&l), 0);
	CHECK_EQ_INT(srv_start(&l, &s6, AF_INET6), 0);
	u = udpfwd_new(&l, capture, NULL);
	caps_reset();
	CHECK_EQ_INT(send_udp(u, 5, AF_INET6, "::1", s6.port, data, 1400), 0);
	run_until(&l, 1, 2000);
	CHECK_EQ_INT(n_caps, 1);
	/*
	 * The path narrows: the report reaches the flow's socket, and the
	 * client's next datagrams come before the helper reads it (the loop
	 * does not run in between). They are sent all the same, fragmented
	 * to the new MTU, and nothing is counted or told to the client.
	 */
	to.sin6_port = htons(s6.port);
	CHECK_EQ_INT(send_too_big6((struct sockaddr_in6 *)&srv_peer, &to), 0);
	usleep(100 * 1000);
	caps_reset();
	CHECK_EQ_INT(send_udp(u, 5, AF_INET6, "::1", s6.port, data + 1, 100), 0);
	CHECK_EQ_INT(send_udp(u, 5, AF_INET6, "::1", s6.port, data + 2, WIRE_UDP_MAX - 2), 0);
	run_until(&l, 2, 2000);
	for (i = 0; i < 10; i++)
		evloop_run_once(&l, 10); /* and any frame about the report */
	CHECK_EQ_INT(n_caps, 2);
	if (n_caps == 2) {
		check_reply(0, 5, data + 1, 100);
		check_reply(1, 5, data + 2, WIRE_UDP_MAX - 2);
	}
	udpfwd_get_stats(u, &st);
	CHECK_EQ_INT(st.in_dropped, 0);
	CHECK_EQ_INT(st.flows, 1);
	udpfwd_free(u);
	srv_stop(&l, &s6);
	evloop_close(&l);
}

/*
 * EMSGSIZE: with IP_RECVERR an ICMPv6 packet too big about an earlier
 * datagram is also left pending on the socket, and the next send returns
 * it instead of sending. That datagram fits (the socket fragments): it
 * must go out, not be counted as too big.
 */
static void test_too_big_report(void)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(77);
		if (lo_up() < 0)
			_exit(78);
		too_big_body();
		fflush(stdout);
		_exit(t_failed_here ? 1 : 0);
	}
	CHECK(pid > 0);
	CHECK_EQ_INT(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		printf("# test_too_big_report: skipped: no network namespace of our own "
		       "for the raw socket\n");
		return;
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* An ECHO reply frame i for id, seq and data. */
static void check_echo_reply(size_t i, uint32_t id, uint16_t seq, const uint8_t *data, size_t len)
{
	struct wire_frame f = cap_frame(i);
	struct wire_echo e;

	CHECK_EQ_INT(f.type, WIRE_ECHO);
	CHECK_EQ_INT(f.stream, id);
	CHECK_EQ_INT(wire_echo_reply(&f, &e), 0);
	CHECK_EQ_INT(e.seq, seq);
	CHECK_EQ_INT(e.len, len);
	CHECK(e.len == len && memcmp(e.data, data, len) == 0);
}

/* The ICMP-socket part, in its own network namespace where pings are allowed. */
static void echo_socket_body(void)
{
	static uint8_t big[1400];
	const uint8_t *d = (const uint8_t *)"ping data 0123456789";
	struct evloop l;
	struct udpfwd *u;
	struct udpfwd_stats st;
	struct wire_frame f;
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	CHECK_EQ_INT(evloop_init(&l), 0);
	u = udpfwd_new(&l, capture, NULL);
	caps_reset();
	CHECK_EQ_INT(send_echo(u, 77, AF_INET, "127.0.0.1", 0x1234, d, 20), 0);
	CHECK_EQ_INT(udpfwd_echo_way(u), UDPFWD_ECHO_SOCKET);
	run_until(&l, 1, 2000);
	CHECK_EQ_INT(n_caps, 1);
	if (n_caps == 1)
		check_echo_reply(0, 77, 0x1234, d, 20);
	/* Two echoes with the same client seq under different ids each find their own. */
	caps_reset();
	CHECK_EQ_INT(send_echo(u, 78, AF_INET6, "::1", 5, big, sizeof(big)), 0);
	CHECK_EQ_INT(send_echo(u, 79, AF_INET6, "::1", 5, d, 0), 0);
	run_until(&l, 2, 2000);
	CHECK_EQ_INT(n_caps, 2);
	for (i = 0; i < n_caps; i++) {
		f = cap_frame(i);
		if (f.stream == 78)
			check_echo_reply(i, 78, 5, big, sizeof(big));
		else
			check_echo_reply(i, 79, 5, d, 0);
	}
	udpfwd_get_stats(u, &st);
	CHECK_EQ_INT(st.echoes, 0);
	/* No route in this namespace: the send fails, and the client hears why. */
	caps_reset();
	CHECK_EQ_INT(send_echo(u, 80, AF_INET, "192.0.2.1", 9, d, 4), 0);
	run_until(&l, 1, 500);
	CHECK_EQ_INT(n_caps, 1);
	f = cap_frame(0);
	CHECK(f.type == WIRE_ECHO_ERR && f.stream == 80 && f.u.echo_err.seq == 9 &&
	      f.u.echo_err.err == ENETUNREACH);
	udpfwd_free(u);
	evloop_close(&l);
}

static uint16_t t_sum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i < n; i += 2)
		sum += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * An ICMP error about one echo is left pending on the shared ICMP socket
 * until the helper reads its error queue; the next echo's send must not
 * fail with it. Needs a raw socket: in the namespace of the test's own.
 */
static void echo_pending_body(void)
{
	const uint8_t *d = (const uint8_t *)"pend";
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t b[256], err[8 + 20 + 8] = {3, 1}; /* host unreachable */
	struct timeval tv = {.tv_sec = 2};
	struct evloop l;
	struct udpfwd *u;
	int raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP), seen_reply = 0,
	    seen_err = 0, found = 0;
	size_t i;
	uint16_t c;

	CHECK(raw >= 0);
	if (raw < 0)
		return;
	setsockopt(raw, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	CHECK_EQ_INT(evloop_init(&l), 0);
	u = udpfwd_new(&l, capture, NULL);
	caps_reset();
	CHECK_EQ_INT(send_echo(u, 90, AF_INET, "127.0.0.1", 1, d, 4), 0);
	/* The helper's request as it went out: its identifier and sequence are quoted. */
	for (i = 0; i < 8 && !found; i++) {
		ssize_t n = recv(raw, b, sizeof(b), 0);
		size_t hl = n > 0 ? (size_t)(b[0] & 15) * 4 : 0;

		if (n < 0)
			break;
		if ((size_t)n >= hl + 8 && b[hl] == 8) {
			memcpy(err + 8, b, 20);
			memcpy(err + 28, b + hl, 8);
			found = 1;
		}
	}
	CHECK(found);
	c = t_sum(err, sizeof(err));
	err[2] = (uint8_t)(c >> 8);
	err[3] = (uint8_t)c;
	CHECK_EQ_INT(sendto(raw, err, sizeof(err), 0, (struct sockaddr *)&lo, sizeof(lo)),
		     (ssize_t)sizeof(err));
	usleep(100 * 1000);
	/* Before the loop reads the error: this echo goes out and is answered. */
	CHECK_EQ_INT(send_echo(u, 91, AF_INET, "127.0.0.1", 2, d, 4), 0);
	run_until(&l, 2, 2000);
	for (i = 0; i < n_caps; i++) {
		struct wire_frame f = cap_frame(i);

		if (f.type == WIRE_ECHO && f.stream == 91)
			seen_reply++;
		else if (f.type == WIRE_ECHO_ERR && f.stream == 91)
			CHECK(!"the next echo got the earlier one's error");
		else if (f.type == WIRE_ECHO_ERR && f.stream == 90 &&
			 f.u.echo_err.err == EHOSTUNREACH)
			seen_err++;
	}
	CHECK_EQ_INT(seen_reply, 1);
	CHECK_EQ_INT(seen_err, 1); /* the error is the first echo's, told once */
	udpfwd_free(u);
	evloop_close(&l);
	close(raw);
}

static int lo_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = -1;

	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ret = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

static void test_echo_socket(void)
{
	int st, fd, len;
	char range[64];
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* A namespace of our own: its ping_group_range is ours to set, nobody else's. */
		if (unshare(CLONE_NEWNET) < 0)
			_exit(77);
		len =
		    snprintf(range, sizeof(range), "%u %u", (unsigned)getgid(), (unsigned)getgid());
		fd = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, range, (size_t)len) != len || lo_up() < 0)
			_exit(78);
		close(fd);
		echo_socket_body();
		echo_pending_body();
		fflush(stdout);
		_exit(t_failed_here ? 1 : 0);
	}
	CHECK(pid > 0);
	CHECK_EQ_INT(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && (WEXITSTATUS(st) == 77 || WEXITSTATUS(st) == 78)) {
		/* Unprivileged: only where the host already allows ping sockets. */
		printf("# test_echo_socket: no network namespace of our own; "
		       "pinging in this one if ping_group_range allows\n");
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
		if (fd < 0) {
			printf("# test_echo_socket: skipped: ICMP sockets not allowed (%s)\n",
			       strerror(errno));
			return;
		}
		close(fd);
		echo_socket_body();
		return;
	}
	/* The child said what failed; this marks the test failed here too. */
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A stand-in for ping: answers as ping does for some addresses, not for others. */
static const char fake_ping[] =
    "#!/bin/sh\n"
    "for a; do last=$a; done\n"
    "echo \"$*\" >> \"$0.args\"\n"
    "echo \"LC_ALL=$LC_ALL HOME=${HOME-unset}\" >> \"$0.env\"\n"
    "echo \"PING $last 56 data bytes\"\n"
    "case $last in\n"
    "127.0.0.1|::1) sleep 0.1\n"
    "  echo \"64 bytes from $last: icmp_seq=1 ttl=64 time=0.05 ms\" ;;\n"
    "127.0.0.3) echo '64 bytes from 10.9.9.9: icmp_seq=1 ttl=64' ;;\n"
    "127.0.0.4) echo '64 bytes from 127.0.0.4:5: icmp_seq=1 ttl=64' ;;\n"
    "*) echo \"From $last icmp_seq=1 Destination Host Unreachable\"\n"
    "   exit 1 ;;\n"
    "esac\n";

static void test_echo_command(void)
{
	char dir[] = "/tmp/sluice-udpfwd-XXXXXX", path[128], args[160], env[160], line[4096];
	const uint8_t *d = (const uint8_t *)"abcdefghijklmnop";
	struct udpfwd_stats st;
	struct evloop l;
	struct udpfwd *u;
	FILE *fp;
	size_t i;
	int fd, seen[12] = {0};

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ping", dir);
	snprintf(args, sizeof(args), "%s/ping.args", dir);
	snprintf(env, sizeof(env), "%s/ping.env", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0700);
	CHECK(fd >= 0 && write(fd, fake_ping, strlen(fake_ping)) == (ssize_t)strlen(fake_ping));
	close(fd);
	CHECK_EQ_INT(evloop_init(&l), 0);
	u = udpfwd_new(&l, capture, NULL);
	udpfwd_force_command(u, path);
	caps_reset();
	CHECK_EQ_INT(send_echo(u, 50, AF_INET, "127.0.0.1", 0x4242, d, 16), 0);
	CHECK_EQ_INT(udpfwd_echo_way(u), UDPFWD_ECHO_COMMAND);
	run_until(&l, 1, 3000);
	CHECK_EQ_INT(n_caps, 1);
	if (n_caps == 1)
		check_echo_reply(0, 50, 0x4242, d, 16);
	/* Unreachable, and a reply from another host (or one the address only begins): none. */
	caps_reset();
	CHECK_EQ_INT(send_echo(u, 51, AF_INET, "127.0.0.2", 1, d, 16), 0);
	CHECK_EQ_INT(send_echo(u, 52, AF_INET, "127.0.0.3", 2, d, 16), 0);
	CHECK_EQ_INT(send_echo(u, 53, AF_INET, "127.0.0.4", 3, d, 16), 0);
	for (i = 0; i < 100; i++) {
		udpfwd_get_stats(u, &st);
		if (!st.echoes)
			break;
		evloop_run_once(&l, 20);
	}
	CHECK_EQ_INT(st.echoes, 0);
	CHECK_EQ_INT(n_caps, 0);
	/* More than run at once: the rest wait their turn, and all are answered. */
	caps_reset();
	for (i = 0; i < 12; i++)
		CHECK_EQ_INT(send_echo(u, 100 + (uint32_t)i, i & 1 ? AF_INET6 : AF_INET,
				       i & 1 ? "::1" : "127.0.0.1", (uint16_t)i, d, i),
			     0);
	udpfwd_get_stats(u, &st);
	CHECK_EQ_INT(st.echoes, 12);
	run_until(&l, 12, 5000);
	CHECK_EQ_INT(n_caps, 12);
	for (i = 0; i < n_caps; i++) {
		struct wire_frame f = cap_frame(i);
		if (f.stream >= 100 && f.stream < 112) {
			seen[f.stream - 100]++;
			check_echo_reply(i, f.stream, (uint16_t)(f.stream - 100), d,
					 f.stream - 100);
		}
	}
	for (i = 0; i < 12; i++)
		CHECK_EQ_INT(seen[i], 1);
	udpfwd_free(u);
	evloop_close(&l);
	/* What ping was asked, exactly. */
	fp = fopen(args, "r");
	CHECK(fp != NULL);
	if (fp) {
		CHECK(fgets(line, sizeof(line), fp) != NULL);
		CHECK_STR(line, "-n -c 1 -W 5 -s 16 127.0.0.1\n");
		i = 0;
		while (fgets(line, sizeof(line), fp))
			i += strcmp(line, "-6 -n -c 1 -W 5 -s 1 ::1\n") == 0;
		CHECK_EQ_INT(i, 1);
		fclose(fp);
	}
	/* Run in the C locale, with none of our environment. */
	fp = fopen(env, "r");
	CHECK(fp != NULL);
	if (fp) {
		CHECK(fgets(line, sizeof(line), fp) != NULL);
		CHECK_STR(line, "LC_ALL=C HOME=unset\n");
		fclose(fp);
	}
	unlink(env);
	unlink(args);
	unlink(path);
	rmdir(dir);
}

/* An old ping refuses -6 (exit status 2): where ping6 exists, it is the one asked. */
static const char old_ping[] = "#!/bin/sh\n"
			       "[ \"$1\" = -6 ] && exit 2\n"
			       "for a; do last=$a; done\n"
			       "echo \"64 bytes from $last: icmp_seq=1 ttl=64 time=0.05 ms\"\n";

static void test_echo_command_ping6(void)
{
	char dir[] = "/tmp/sluice-udpfwd-XXXXXX", path[128], path6[128], *old_path;
	const uint8_t *d = (const uint8_t *)"abcdefgh";
	struct evloop l;
	struct udpfwd *u;
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ping", dir);
	snprintf(path6, sizeof(path6), "%s/ping6", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0700);
	CHECK(fd >= 0 && write(fd, old_ping, strlen(old_ping)) == (ssize_t)strlen(old_ping));
	close(fd);
	CHECK_EQ_INT(symlink(path, path6), 0);
	old_path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	setenv("PATH", dir, 1);
	CHECK_EQ_INT(evloop_init(&l), 0);
	u = udpfwd_new(&l, capture, NULL);
	udpfwd_force_command(u, NULL);
	caps_reset();
	CHECK_EQ_INT(send_echo(u, 60, AF_INET6, "::1", 7, d, 8), 0);
	run_until(&l, 1, 3000);
	CHECK_EQ_INT(n_caps, 1);
	if (n_caps == 1)
		check_echo_reply(0, 60, 7, d, 8);
	udpfwd_free(u);
	evloop_close(&l);
	if (old_path)
		setenv("PATH", old_path, 1);
	free(old_path);
	unlink(path6);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	RUN(test_roundtrip);
	RUN(test_refused_port);
	RUN(test_idle_expiry);
	RUN(test_flow_cap);
	RUN(test_refused_dst);
	RUN(test_too_big_report);
	RUN(test_echo_socket);
	RUN(test_echo_command);
	RUN(test_echo_command_ping6);
	T_EXIT();
}
