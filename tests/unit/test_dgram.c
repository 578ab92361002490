/*
 * test_dgram: the client's UDP and ping path (client/capture/dgram.c)
 * between a TUN and the mux. A datagram socketpair stands in for the TUN
 * (it keeps packet boundaries as a TUN does); a real mux queues the frames,
 * which the test takes apart with the wire parser. Checked: a datagram
 * becomes a UDP frame naming its destination, one flow per 4-tuple; a
 * reply comes back as an IP packet with addresses and ports swapped and
 * valid checksums; the helper's ECONNREFUSED becomes a port unreachable
 * that quotes the flow; echoes map back by id and seq, once; flows expire
 * as conntrack's do and tell the helper; a full table drops the longest
 * idle; without a session nothing is sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../client/capture/dgram.h"
#include "t.h"

static int64_t fake_now;
static int ended[4];

static void on_ended(void *arg, const struct dgram_flow *f, enum dgram_end why, int64_t now_ms)
{
	ended[why]++;
}
static int64_t clock_fake(void)
{
	return fake_now;
}

struct fix {
	struct evloop loop;
	struct mux *mux;
	struct dgram *d;
	int app; /* the kernel's side of the "TUN" */
};

static void fix_up(struct fix *x)
{
	int sv[2];

	memset(x, 0, sizeof(*x));
	CHECK_EQ_INT(evloop_init(&x->loop), 0);
	x->mux = mux_new(&x->loop, 1 << 20, 1 << 20, &(struct mux_ops){0}, NULL);
	x->d = calloc(1, sizeof(*x->d));
	CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	x->app = sv[1];
	CHECK_EQ_INT(dgram_init(x->d, &x->loop, sv[0]), 0);
	x->d->now_ms = clock_fake;
	x->d->ended = on_ended;
	memset(ended, 0, sizeof(ended));
	fake_now = 1000000;
	dgram_attach(x->d, x->mux);
}

static void fix_down(struct fix *x)
{
	dgram_close(x->d);
	free(x->d);
	close(x->app);
	mux_free(x->mux);
	evloop_close(&x->loop);
}

/* The next frame the mux queued, or type 0 when none. The frame's bytes stay valid until the next
 * call. */
static struct wire_frame next_frame(struct fix *x)
{
	static uint8_t copy[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];
	struct wire_frame f = {0};
	const uint8_t *p;
	size_t len;
	int n;

	mux_fill(x->mux);
	p = mux_out_peek(x->mux, &len);
	if (!len)
		return f;
	n = wire_parse(p, len, &f);
	CHECK(n > 0);
	if (n <= 0) {
		f.type = 0;
		return f;
	}
	memcpy(copy, p, (size_t)n);
	mux_out_consume(x->mux, (size_t)n);
	wire_parse(copy, (size_t)n, &f);
	return f;
}

static struct ippkt udp4(const char *src, uint16_t sport, const char *dst, uint16_t dport,
			 const char *data)
{
	struct ippkt p = {.version = 4,
			  .proto = IPPROTO_UDP,
			  .ttl = 64,
			  .sport = sport,
			  .dport = dport,
			  .payload = (const uint8_t *)data,
			  .payload_len = strlen(data)};

	inet_pton(AF_INET, src, p.src);
	inet_pton(AF_INET, dst, p.dst);
	return p;
}

/* Send p into the "TUN" as the kernel would route it there, and let dgram read it. */
static void kernel_sends(struct fix *x, const struct ippkt *p)
{
	uint8_t buf[2048];
	int n = p->proto == IPPROTO_UDP ? ippkt_build_udp(buf, sizeof(buf), p)
					: ippkt_build_echo(buf, sizeof(buf), p);

	CHECK(n > 0);
	CHECK_EQ_INT(write(x->app, buf, (size_t)n), n);
	evloop_run_once(&x->loop, 10);
}

/* What dgram wrote into the "TUN", parsed (into buf); -1 when nothing came. */
static int kernel_reads(struct fix *x, uint8_t *buf, size_t cap, struct ippkt *p)
{
	ssize_t n = recv(x->app, buf, cap, MSG_DONTWAIT);

	if (n <= 0)
		return -1;
	return ippkt_parse(buf, (size_t)n, p);
}

static void test_udp_round_trip(void)
{
	struct fix x;
	struct ippkt p = udp4("192.0.2.1", 40000, "198.51.100.2", 53, "question"), r;
	struct wire_frame f;
	struct wire_udp u;
	uint8_t frame[256], buf[2048];
	uint32_t flow;
	size_t n;

	fix_up(&x);
	kernel_sends(&x, &p);
	f = next_frame(&x);
	CHECK_EQ_INT(f.type, WIRE_UDP);
	CHECK_EQ_INT(wire_udp_req(&f, &u), 0);
	CHECK(u.family == AF_INET && u.port == 53 && !memcmp(u.addr, p.dst, 4));
	CHECK(u.len == 8 && !memcmp(u.data, "question", 8));
	flow = f.stream;
	/* The same 4-tuple is the same flow; another source port is another. */
	kernel_sends(&x, &p);
	f = next_frame(&x);
	CHECK_EQ_INT(f.stream, flow);
	p.sport = 40001;
	kernel_sends(&x, &p);
	f = next_frame(&x);
	CHECK(f.type == WIRE_UDP && f.stream != flow);
	/* The reply: addresses and ports swapped, checksums right (ippkt_parse checks them). */
	n = wire_put_udp_reply(frame, sizeof(frame), flow, (const uint8_t *)"answer", 6);
	CHECK(wire_parse(frame, n, &f) > 0);
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(kernel_reads(&x, buf, sizeof(buf), &r), 0);
	CHECK(r.version == 4 && r.proto == IPPROTO_UDP && r.sport == 53 && r.dport == 40000);
	CHECK(!memcmp(r.src, p.dst, 4) && !memcmp(r.dst, p.src, 4));
	CHECK(r.payload_len == 6 && !memcmp(r.payload, "answer", 6));
	/* A reply for a flow we never had writes nothing. */
	n = wire_put_udp_reply(frame, sizeof(frame), flow + (1u << 13), (const uint8_t *)"x", 1);
	CHECK(wire_parse(frame, n, &f) > 0);
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(kernel_reads(&x, buf, sizeof(buf), &r), -1);
	fix_down(&x);
}

/* The helper's ECONNREFUSED: a port unreachable from the host, quoting the flow's header. */
static void test_refused_is_port_unreachable(void)
{
	struct fix x;
	struct ippkt p = udp4("192.0.2.1", 40000, "198.51.100.2", 9, "x"), r, q;
	struct wire_frame f;
	uint8_t frame[64], buf[2048];
	size_t n;

	fix_up(&x);
	kernel_sends(&x, &p);
	f = next_frame(&x);
	n = wire_put_udp_err(frame, sizeof(frame), f.stream, ECONNREFUSED, 0);
	CHECK(wire_parse(frame, n, &f) > 0);
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(kernel_reads(&x, buf, sizeof(buf), &r), 0);
	CHECK(r.proto == IPPROTO_ICMP && r.icmp_type == IPPKT_ICMP_UNREACH && r.icmp_code == 3);
	CHECK(!memcmp(r.src, p.dst, 4) && !memcmp(r.dst, p.src, 4));
	CHECK_EQ_INT(ippkt_parse_quote(r.payload, r.payload_len, 4, &q), 0);
	CHECK(q.sport == 40000 && q.dport == 9 && !memcmp(q.src, p.src, 4) &&
	      !memcmp(q.dst, p.dst, 4));
	fix_down(&x);
}

/*
 * The helper out of descriptors or memory for a flow's socket: no error
 * for the application (the far host is fine), a datagram counted lost,
 * and the flow kept for its next datagram.
 */
static void test_helper_short_is_a_loss(void)
{
	struct fix x;
	struct ippkt p = udp4("192.0.2.1", 40000, "198.51.100.2", 53, "question"), r;
	struct dgram_stats st;
	struct wire_frame f;
	uint8_t frame[64], buf[2048];
	uint32_t flow;
	size_t n;

	fix_up(&x);
	kernel_sends(&x, &p);
	f = next_frame(&x);
	flow = f.stream;
	n = wire_put_udp_err(frame, sizeof(frame), flow, EMFILE, 0);
	CHECK(wire_parse(frame, n, &f) > 0);
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(kernel_reads(&x, buf, sizeof(buf), &r), -1);
	dgram_get_stats(x.d, &st);
	CHECK(st.dropped == 1 && st.errors == 0 && st.flows == 1);
	/* A refusal of the far host's is still told. */
	n = wire_put_udp_err(frame, sizeof(frame), flow, ECONNREFUSED, 0);
	CHECK(wire_parse(frame, n, &f) > 0);
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(kernel_reads(&x, buf, sizeof(buf), &r), 0);
	fix_down(&x);
}

static void test_echo(void)
{
	struct fix x;
	struct ippkt p = {.version = 6,
			  .proto = IPPROTO_ICMPV6,
			  .ttl = 64,
			  .icmp_type = IPPKT_ICMP6_ECHO,
			  .echo_id = 0x4242,
			  .seq = 7,
			  .payload = (const uint8_t *)"pingdata",
			  .payload_len = 8},
		     r;
	struct wire_frame f;
	struct wire_echo e;
	uint8_t frame[256], buf[2048];
	size_t n;

	inet_pton(AF_INET6, "2001:db8:1::1", p.src);
	inet_pton(AF_INET6, "2001:db8:2::2", p.dst);
	fix_up(&x);
	kernel_sends(&x, &p);
	f = next_frame(&x);
	CHECK_EQ_INT(f.type, WIRE_ECHO);
	CHECK_EQ_INT(wire_echo_req(&f, &e), 0);
	CHECK(e.family == AF_INET6 && e.seq == 7 && !memcmp(e.addr, p.dst, 16) && e.len == 8);
	/* A reply with the wrong seq is not this echo's. */
	n = wire_put_echo_reply(frame, sizeof(frame), f.stream, 8, (const uint8_t *)"pingdata", 8);
	CHECK(wire_parse(frame, n, &f) > 0);
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(kernel_reads(&x, buf, sizeof(buf), &r), -1);
	n = wire_put_echo_reply(frame, sizeof(frame), f.stream, 7, (const uint8_t *)"pingdata", 8);
	CHECK(wire_parse(frame, n, &f) > 0);
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(kernel_reads(&x, buf, sizeof(buf), &r), 0);
	CHECK(r.icmp_type == IPPKT_ICMP6_ECHO_REPLY && r.echo_id == 0x4242 && r.seq == 7);
	CHECK(!memcmp(r.src, p.dst, 16) && !memcmp(r.dst, p.src, 16) && r.payload_len == 8);
	/* Once: a duplicate reply finds nothing. */
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(kernel_reads(&x, buf, sizeof(buf), &r), -1);
	fix_down(&x);
}

/* 30 s unanswered, 180 s answered: then the helper is told to forget the flow. */
static void test_expiry(void)
{
	struct fix x;
	struct ippkt p = udp4("192.0.2.1", 40000, "198.51.100.2", 123, "t");
	struct wire_frame f;
	uint8_t frame[64];
	uint32_t quiet, talked;
	size_t n;

	fix_up(&x);
	kernel_sends(&x, &p);
	quiet = next_frame(&x).stream;
	p.sport = 40001;
	kernel_sends(&x, &p);
	talked = next_frame(&x).stream;
	n = wire_put_udp_reply(frame, sizeof(frame), talked, (const uint8_t *)"a", 1);
	wire_parse(frame, n, &f);
	dgram_frame(x.d, &f);
	fake_now += DGRAM_IDLE_MS - 1;
	dgram_expire(x.d);
	CHECK_EQ_INT(next_frame(&x).type, 0);
	fake_now += 1;
	dgram_expire(x.d);
	f = next_frame(&x);
	CHECK(f.type == WIRE_UDP_CLOSE && f.stream == quiet);
	CHECK_EQ_INT(next_frame(&x).type, 0);
	fake_now += DGRAM_ANSWERED_MS;
	dgram_expire(x.d);
	f = next_frame(&x);
	CHECK(f.type == WIRE_UDP_CLOSE && f.stream == talked);
	CHECK_EQ_INT(x.d->st.flows, 0);
	CHECK_EQ_INT(ended[DGRAM_END_IDLE], 2);
	/* The helper's CLOSE ends a flow without an answering CLOSE. */
	kernel_sends(&x, &p);
	quiet = next_frame(&x).stream;
	n = wire_put_udp_close(frame, sizeof(frame), quiet);
	wire_parse(frame, n, &f);
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(ended[DGRAM_END_REMOTE], 1);
	CHECK_EQ_INT(x.d->st.flows, 0);
	CHECK_EQ_INT(next_frame(&x).type, 0);
	fix_down(&x);
}

/* A full table makes room by dropping the flow idle longest, and says so to the helper. */
static void test_table_full(void)
{
	struct fix x;
	struct ippkt p = udp4("192.0.2.1", 1, "198.51.100.2", 123, "t");
	struct wire_frame f;
	uint32_t first = 0;
	int i;

	fix_up(&x);
	for (i = 0; i < DGRAM_FLOWS_MAX; i++) {
		p.sport = (uint16_t)(1000 + i);
		fake_now++;
		dgram_packet(x.d, (uint8_t[2048]){0}, 0); /* refused, counted, nothing else */
		{
			uint8_t buf[256];
			int n = ippkt_build_udp(buf, sizeof(buf), &p);
			dgram_packet(x.d, buf, (size_t)n);
		}
		f = next_frame(&x);
		if (i == 0)
			first = f.stream;
	}
	CHECK_EQ_INT(x.d->st.flows, DGRAM_FLOWS_MAX);
	CHECK_EQ_INT(x.d->st.not_carried, DGRAM_FLOWS_MAX);
	p.sport = 999;
	{
		uint8_t buf[256];
		int n = ippkt_build_udp(buf, sizeof(buf), &p);
		dgram_packet(x.d, buf, (size_t)n);
	}
	f = next_frame(&x);
	CHECK(f.type == WIRE_UDP_CLOSE && f.stream == first);
	f = next_frame(&x);
	CHECK(f.type == WIRE_UDP && f.stream != first);
	CHECK_EQ_INT(x.d->st.flows, DGRAM_FLOWS_MAX);
	CHECK_EQ_INT(ended[DGRAM_END_FULL], 1);
	fix_down(&x);
}

/* Without a session nothing goes anywhere: dropped and counted. */
/* The helper cannot send to port 0: the datagram stays here, no flow, and the session lives. */
static void test_port_zero_not_carried(void)
{
	struct fix x;
	struct ippkt p = udp4("192.0.2.1", 40000, "198.51.100.2", 0, "q");

	fix_up(&x);
	kernel_sends(&x, &p);
	CHECK_EQ_INT(next_frame(&x).type, 0);
	CHECK_EQ_INT(x.d->st.not_carried, 1);
	CHECK_EQ_INT(x.d->st.flows, 0);
	fix_down(&x);
}

/*
 * "Too big" from the remote is never written into the TUN: it would lower
 * the application's path MTU, and the fragments its kernel then makes are
 * not carried. Counted instead; the next error still gets through.
 */
static void test_too_big_not_relayed(void)
{
	struct fix x;
	struct ippkt p = udp4("192.0.2.1", 40000, "198.51.100.2", 9, "x"), r;
	struct wire_frame f;
	uint8_t frame[64], buf[2048];
	uint32_t flow;
	size_t n;

	fix_up(&x);
	kernel_sends(&x, &p);
	f = next_frame(&x);
	CHECK_EQ_INT(f.type, WIRE_UDP);
	flow = f.stream;
	n = wire_put_udp_err(frame, sizeof(frame), flow, EMSGSIZE, 1400);
	CHECK(wire_parse(frame, n, &f) > 0);
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(kernel_reads(&x, buf, sizeof(buf), &r), -1);
	CHECK_EQ_INT(x.d->st.too_big, 1);
	CHECK_EQ_INT(x.d->st.errors, 0);
	n = wire_put_udp_err(frame, sizeof(frame), flow, ECONNREFUSED, 0);
	CHECK(wire_parse(frame, n, &f) > 0);
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(kernel_reads(&x, buf, sizeof(buf), &r), 0);
	CHECK(r.proto == IPPROTO_ICMP && r.icmp_type == IPPKT_ICMP_UNREACH && r.icmp_code == 3);
	fix_down(&x);
}

/* The largest reply there is, over IPv6: its packet is bigger than any frame. */
static void test_largest_v6_reply(void)
{
	static uint8_t frame[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD], data[WIRE_UDP_MAX], buf[70000];
	struct fix x;
	struct ippkt p = {.version = 6,
			  .proto = IPPROTO_UDP,
			  .ttl = 64,
			  .sport = 40000,
			  .dport = 443,
			  .payload = (const uint8_t *)"q",
			  .payload_len = 1},
		     r;
	struct wire_frame f;
	size_t n;

	inet_pton(AF_INET6, "2001:db8::1", p.src);
	inet_pton(AF_INET6, "2001:db8::2", p.dst);
	fix_up(&x);
	kernel_sends(&x, &p);
	f = next_frame(&x);
	CHECK_EQ_INT(f.type, WIRE_UDP);
	memset(data, 'r', sizeof(data));
	n = wire_put_udp_reply(frame, sizeof(frame), f.stream, data, sizeof(data));
	CHECK(n > 0 && wire_parse(frame, n, &f) > 0);
	CHECK_EQ_INT(dgram_frame(x.d, &f), 0);
	CHECK_EQ_INT(kernel_reads(&x, buf, sizeof(buf), &r), 0);
	CHECK_EQ_INT(r.payload_len, WIRE_UDP_MAX);
	CHECK_EQ_INT(x.d->st.dropped, 0);
	fix_down(&x);
}

/* A TUN that fails its reads is taken out of the loop, not read again at every wakeup. */
static void test_tun_error_stops_reading(void)
{
	struct evloop l;
	struct dgram *d = calloc(1, sizeof(*d));
	int fds[2], i;

	CHECK_EQ_INT(evloop_init(&l), 0);
	CHECK_EQ_INT(pipe(fds), 0);
	/* The write end of a pipe whose reader is gone: EPOLLERR, and read fails with EBADF. */
	CHECK_EQ_INT(dgram_init(d, &l, fds[1]), 0);
	close(fds[0]);
	for (i = 0; i < 5; i++)
		evloop_run_once(&l, 10);
	CHECK_EQ_INT(d->st.tun_errors, 1);
	dgram_close(d);
	free(d);
	evloop_close(&l);
}

static void test_no_session_drops(void)
{
	struct fix x;
	struct ippkt p = udp4("192.0.2.1", 40000, "198.51.100.2", 53, "q");

	fix_up(&x);
	dgram_detach(x.d);
	kernel_sends(&x, &p);
	CHECK_EQ_INT(next_frame(&x).type, 0);
	CHECK_EQ_INT(x.d->st.dropped, 1);
	CHECK_EQ_INT(x.d->st.flows, 0);
	fix_down(&x);
}

/*
 * An answer reaches a socket that is gone: the kernel's port unreachable
 * about it comes into the TUN (the rules send it there). The flow it
 * quotes ends and the helper is told; an error about no flow of ours
 * changes nothing.
 */
static void test_local_unreachable_ends_flow(void)
{
	struct fix x;
	struct ippkt p = udp4("192.0.2.1", 40000, "198.51.100.2", 53, "question");
	struct ippkt ans = udp4("198.51.100.2", 53, "192.0.2.1", 40000, "answer");
	struct ippkt_error e = {.kind = IPPKT_ERR_PORT, .ttl = 64};
	struct dgram_stats st;
	struct wire_frame f;
	uint8_t reply[256], err[512];
	uint32_t flow;
	int n, m;

	fix_up(&x);
	kernel_sends(&x, &p);
	f = next_frame(&x);
	CHECK_EQ_INT(f.type, WIRE_UDP);
	flow = f.stream;
	n = ippkt_build_udp(reply, sizeof(reply), &ans);
	CHECK(n > 0);
	memcpy(e.src, p.src, 16);
	/* About another port first: no flow of ours, nothing happens. */
	ans.dport = 40001;
	m = ippkt_build_udp(reply, sizeof(reply), &ans);
	m = ippkt_build_error(err, sizeof(err), &e, reply, (size_t)m);
	CHECK(m > 0);
	CHECK_EQ_INT(write(x.app, err, (size_t)m), m);
	evloop_run_once(&x.loop, 10);
	f = next_frame(&x);
	CHECK_EQ_INT(f.type, 0);
	dgram_get_stats(x.d, &st);
	CHECK(st.flows == 1 && st.refused_here == 0 && st.not_carried == 1);
	/* About the flow's answer, but from another host (one we route for): not its to end. */
	ans.dport = 40000;
	n = ippkt_build_udp(reply, sizeof(reply), &ans);
	inet_pton(AF_INET, "192.0.2.77", e.src);
	m = ippkt_build_error(err, sizeof(err), &e, reply, (size_t)n);
	CHECK(m > 0);
	CHECK_EQ_INT(write(x.app, err, (size_t)m), m);
	evloop_run_once(&x.loop, 10);
	f = next_frame(&x);
	CHECK_EQ_INT(f.type, 0);
	dgram_get_stats(x.d, &st);
	CHECK(st.flows == 1 && st.refused_here == 0 && st.not_carried == 2);
	memcpy(e.src, p.src, 16);
	/* About the flow's answer: it ends, and the helper hears so. */
	ans.dport = 40000;
	n = ippkt_build_udp(reply, sizeof(reply), &ans);
	m = ippkt_build_error(err, sizeof(err), &e, reply, (size_t)n);
	CHECK(m > 0);
	CHECK_EQ_INT(write(x.app, err, (size_t)m), m);
	evloop_run_once(&x.loop, 10);
	f = next_frame(&x);
	CHECK(f.type == WIRE_UDP_CLOSE && f.stream == flow);
	dgram_get_stats(x.d, &st);
	CHECK(st.flows == 0 && st.refused_here == 1 && st.not_carried == 2);
	CHECK_EQ_INT(ended[DGRAM_END_LOCAL], 1);
	fix_down(&x);
}

int main(void)
{
	RUN(test_udp_round_trip);
	RUN(test_refused_is_port_unreachable);
	RUN(test_local_unreachable_ends_flow);
	RUN(test_helper_short_is_a_loss);
	RUN(test_echo);
	RUN(test_expiry);
	RUN(test_table_full);
	RUN(test_port_zero_not_carried);
	RUN(test_too_big_not_relayed);
	RUN(test_largest_v6_reply);
	RUN(test_tun_error_stops_reading);
	RUN(test_no_session_drops);
	T_EXIT();
}
