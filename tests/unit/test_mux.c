/*
 * Unit tests for the stream mux: a client mux and a helper mux wired back to
 * back in one process, with real loopback TCP sockets as the streams.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mux_rig.h"

#define WINDOW (256u << 10)

static const struct mux_ops client_ops = {0};
static const struct mux_ops helper_ops = {.connect = rig_connect};

static void rig_init(struct rig *r)
{
	rig_open(r, WINDOW, &client_ops, &helper_ops);
	rig_connect_err = 0;
}

static uint64_t fake_now;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static struct wire_open dst4(void)
{
	struct wire_open o = {.family = AF_INET, .port = 80, .addr = {192, 0, 2, 1}};
	return o;
}

/* Open a stream: returns the local app's end and the remote app's end. */
static void open_stream(struct rig *r, int *app, int *remote)
{
	struct t_pair local = t_tcp_pair(), far = t_tcp_pair();
	struct wire_open o = dst4();

	rig_next_fd = far.a;
	CHECK_EQ_INT(mux_open_stream(r->c, local.a, &o), 0);
	/* Deliver the OPEN now, while rig_next_fd still belongs to this stream. */
	rig_pump(r, 3);
	*app = local.b;
	*remote = far.b;
}

static ssize_t read_all(struct rig *r, int fd, char *buf, size_t max, int *eof)
{
	size_t got = 0;

	*eof = 0;
	for (int i = 0; i < 2000 && got < max && !*eof; i++) {
		ssize_t n = read(fd, buf + got, max - got);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0)
			*eof = 1;
		else if (errno != EAGAIN)
			return -errno;
		else
			rig_pump(r, 1);
	}
	return (ssize_t)got;
}

static void test_half_close_both_ways(void)
{
	struct rig r;
	char buf[64];
	int app, remote, eof;

	rig_init(&r);
	open_stream(&r, &app, &remote);
	CHECK_EQ_INT(write(app, "request", 7), 7);
	shutdown(app, SHUT_WR);
	CHECK_EQ_INT(read_all(&r, remote, buf, sizeof(buf), &eof), 7);
	CHECK(eof);
	CHECK(memcmp(buf, "request", 7) == 0);
	/* The remote answers after seeing EOF: the other direction must still be open. */
	CHECK_EQ_INT(write(remote, "response", 8), 8);
	close(remote);
	CHECK_EQ_INT(read_all(&r, app, buf, sizeof(buf), &eof), 8);
	CHECK(eof);
	CHECK(memcmp(buf, "response", 8) == 0);
	rig_pump(&r, 20);
	{
		struct mux_stats st;
		mux_get_stats(r.c, &st);
		CHECK_EQ_INT(st.streams, 0);
		mux_get_stats(r.h, &st);
		CHECK_EQ_INT(st.streams, 0);
	}
	CHECK_EQ_INT(r.proto_err, 0);
	close(app);
	rig_free(&r);
}

static void test_refused_is_reset(void)
{
	struct mux_stats st;
	struct rig r;
	struct t_pair local = t_tcp_pair();
	struct wire_open o = dst4();
	char buf[16];
	ssize_t n = 0;

	rig_init(&r);
	rig_connect_err = ECONNREFUSED;
	CHECK_EQ_INT(mux_open_stream(r.c, local.a, &o), 0);
	for (int i = 0; i < 200; i++) {
		rig_pump(&r, 1);
		n = read(local.b, buf, sizeof(buf));
		if (n >= 0 || errno != EAGAIN)
			break;
	}
	/* A reset, not an empty success: the application must see the failure. */
	CHECK(n < 0 && errno == ECONNRESET);
	close(local.b);
	/* The destination refused: not the helper's own shortage. */
	mux_get_stats(r.c, &st);
	CHECK_EQ_INT(st.peer_short, 0);
	/* The helper out of descriptors: counted, with its errno, for the user. */
	rig_connect_err = EMFILE;
	local = t_tcp_pair();
	CHECK_EQ_INT(mux_open_stream(r.c, local.a, &o), 0);
	rig_pump(&r, 10);
	mux_get_stats(r.c, &st);
	CHECK_EQ_INT(st.peer_short, 1);
	CHECK_EQ_INT(st.peer_short_err, EMFILE);
	rig_connect_err = 0;
	close(local.b);
	rig_free(&r);
}

static void test_slow_reader_bounded_and_others_flow(void)
{
	struct rig r;
	struct mux_stats st;
	static char big[1 << 20];
	char buf[64];
	int app1, remote1, app2, remote2, eof;
	size_t sent = 0;

	rig_init(&r);
	open_stream(&r, &app1, &remote1);
	open_stream(&r, &app2, &remote2);
	memset(big, 'x', sizeof(big));
	/* Stream 1's remote never reads: the app keeps writing as long as it can. */
	for (int i = 0; i < 400; i++) {
		ssize_t n = write(app1, big, sizeof(big));
		if (n > 0)
			sent += (size_t)n;
		rig_pump(&r, 1);
	}
	mux_get_stats(r.h, &st);
	CHECK(sent > 2 * WINDOW);
	CHECK(st.buffered <= WINDOW);
	/* Stream 2 is not held up by stream 1. */
	CHECK_EQ_INT(write(app2, "ping", 4), 4);
	shutdown(app2, SHUT_WR);
	CHECK_EQ_INT(read_all(&r, remote2, buf, sizeof(buf), &eof), 4);
	CHECK(eof);
	CHECK_EQ_INT(r.proto_err, 0);
	close(app1), close(remote1), close(app2), close(remote2);
	rig_free(&r);
}

static void test_bulk_intact(void)
{
	struct rig r;
	int app, remote, eof = 0;
	size_t total = 8u << 20, sent = 0, got = 0, bad = 0;
	static unsigned char out[65536], in[65536];

	rig_init(&r);
	open_stream(&r, &app, &remote);
	for (int i = 0; i < 200000 && (got < total || !eof); i++) {
		if (sent < total) {
			size_t n = total - sent < sizeof(out) ? total - sent : sizeof(out);
			for (size_t k = 0; k < n; k++)
				out[k] = (unsigned char)((sent + k) * 31 + 7);
			ssize_t w = write(app, out, n);
			if (w > 0)
				sent += (size_t)w;
			if (sent == total)
				shutdown(app, SHUT_WR);
		}
		rig_pump(&r, 1);
		ssize_t n = read(remote, in, sizeof(in));
		if (n > 0) {
			for (ssize_t k = 0; k < n; k++)
				if (in[k] != (unsigned char)((got + (size_t)k) * 31 + 7))
					bad++;
			got += (size_t)n;
		} else if (n == 0) {
			eof = 1;
		}
	}
	CHECK_EQ_INT(got, total);
	CHECK_EQ_INT(bad, 0);
	CHECK(eof);
	CHECK_EQ_INT(r.proto_err, 0);
	close(app), close(remote);
	rig_free(&r);
}

static void test_peer_breaking_rules(void)
{
	struct rig r;
	uint8_t f[WIRE_HDR_LEN + 16], *q;
	struct wire_open o = dst4();
	size_t room, n;

	/* A helper may never open streams towards the client. */
	rig_init(&r);
	n = wire_put_open(f, sizeof(f), 9, &o);
	q = mux_in_space(r.c, &room);
	memcpy(q, f, n);
	CHECK_EQ_INT(mux_in_commit(r.c, n), -EPROTO);
	rig_free(&r);

	/* Data beyond the credit we granted is refused, so memory stays bounded. */
	rig_init(&r);
	{
		int app, remote;
		static uint8_t big[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];
		int ret = 0, over = 0;
		struct mux_stats st;
		open_stream(&r, &app, &remote);
		/* The app never reads: once its socket is full, only our credit bounds memory. */
		for (unsigned i = 0; i < 1000 && ret == 0; i++) {
			n = wire_put_hdr(big, sizeof(big), WIRE_DATA, 1, WIRE_MAX_PAYLOAD) +
			    WIRE_MAX_PAYLOAD;
			q = mux_in_space(r.c, &room);
			memcpy(q, big, n);
			ret = mux_in_commit(r.c, n);
			mux_get_stats(r.c, &st);
			if (st.buffered > WINDOW)
				over = 1;
		}
		CHECK_EQ_INT(ret, -EPROTO);
		CHECK_EQ_INT(over, 0);
		close(app), close(remote);
	}
	rig_free(&r);
}

/* Control frames overtake queued data at the next frame boundary, never inside a frame. */
static void test_control_frames_go_first(void)
{
	struct rig r;
	struct t_pair local = t_tcp_pair();
	struct wire_open o = dst4();
	static uint8_t wire[1 << 20], big[200000];
	uint8_t opaque[8] = {9};
	const uint8_t *p, *p2;
	size_t len, len2, have = 0, off = 0;
	struct wire_frame f;
	int types[64], nt = 0, ret;

	rig_init(&r);
	CHECK_EQ_INT(mux_open_stream(r.c, local.a, &o), 0);
	memset(big, 'b', sizeof(big));
	CHECK_EQ_INT(write(local.b, big, sizeof(big)), (long long)sizeof(big));
	mux_fill(r.c);
	/* The OPEN (control) leaves first, whole. */
	p = mux_out_peek(r.c, &len);
	memcpy(wire + have, p, len), have += len;
	mux_out_consume(r.c, len);
	/* Part of the first data frame goes; then a ping is queued. */
	p = mux_out_peek(r.c, &len);
	CHECK(len > 100);
	memcpy(wire + have, p, 100), have += 100;
	mux_out_consume(r.c, 100);
	CHECK_EQ_INT(mux_ping(r.c, opaque), 0);
	/* While a write is being retried, the same bytes come back. */
	p = mux_out_peek(r.c, &len);
	mux_out_pin(r.c, true);
	CHECK_EQ_INT(mux_ping(r.c, opaque), 0);
	p2 = mux_out_peek(r.c, &len2);
	CHECK(p == p2 && len2 >= len);
	mux_out_pin(r.c, false);
	/* Drain everything the way a transport would, in small writes. */
	for (int i = 0; i < 10000; i++) {
		size_t n;
		p = mux_out_peek(r.c, &len);
		if (!len)
			break;
		n = len < 7000 ? len : 7000;
		memcpy(wire + have, p, n), have += n;
		mux_out_consume(r.c, n);
	}
	while ((ret = wire_parse(wire + off, have - off, &f)) > 0 && nt < 64) {
		types[nt++] = f.type;
		off += (size_t)ret;
	}
	CHECK_EQ_INT(ret, 0);
	CHECK_EQ_INT(off, have);
	CHECK(nt >= 5);
	CHECK_EQ_INT(types[0], WIRE_OPEN);
	CHECK_EQ_INT(types[1], WIRE_DATA);
	/* Both pings right after the frame that was under way, ahead of the rest of the data. */
	CHECK_EQ_INT(types[2], WIRE_PING);
	CHECK_EQ_INT(types[3], WIRE_PING);
	CHECK_EQ_INT(types[4], WIRE_DATA);
	close(local.b);
	rig_free(&r);
}

/*
 * A bulk stream and a datagram source that both always want the pipe: each
 * gets a fair part of it, control frames still go first, and the datagram
 * queue holds no more than its cap.
 */
static void test_datagrams_share_with_streams(void)
{
	struct rig r;
	struct t_pair local = t_tcp_pair();
	struct wire_open o = dst4();
	static uint8_t wire[4 << 20], bulk[64 << 10], payload[1200], dg[2048];
	uint8_t opaque[8] = {7}, ctl[WIRE_CTL_MAX];
	struct wire_udp u = {.family = AF_INET, .port = 443, .addr = {192, 0, 2, 9}};
	size_t have = 0, off = 0, dlen, len, queued = 0, stream_b = 0, dg_b = 0, n_ping = 0;
	size_t ping_at[64], next_ping = 0;
	struct wire_frame f;
	const uint8_t *p;
	int i, ret;

	rig_open(&r, 8u << 20, &client_ops, &helper_ops);
	u.data = payload;
	u.len = sizeof(payload);
	dlen = wire_put_udp_req(dg, sizeof(dg), 5, &u);
	CHECK(dlen > sizeof(payload));
	/* The cap holds, and a full datagram queue leaves the owner's control frames their room. */
	while (mux_send_dgram(r.c, dg, dlen) == 0)
		queued += dlen;
	CHECK(queued <= (128u << 10) && queued + dlen > (128u << 10));
	CHECK_EQ_INT(mux_send_dgram(r.c, dg, dlen), -ENOBUFS);
	CHECK_EQ_INT(mux_send_ctl(r.c, ctl, wire_put_ping(ctl, sizeof(ctl), WIRE_PING, opaque)), 0);
	CHECK_EQ_INT(mux_send_dgram(r.c, dg, dlen - 1), -EINVAL);
	ping_at[n_ping++] = 0;

	CHECK_EQ_INT(mux_open_stream(r.c, local.a, &o), 0);
	memset(bulk, 'b', sizeof(bulk));
	for (i = 0; i < 128; i++) {
		size_t n;
		/* Both sources keep their queue topped up, as a bulk upload and iperf -u would. */
		(void)send(local.b, bulk, sizeof(bulk), MSG_DONTWAIT);
		while (mux_send_dgram(r.c, dg, dlen) == 0)
			;
		if (i % 8 == 4 && n_ping < 64) {
			CHECK_EQ_INT(mux_ping(r.c, opaque), 0);
			ping_at[n_ping++] = have;
		}
		/* The stream's socket may have run dry once: its readiness comes as an event. */
		evloop_run_once(&r.loop, 0);
		mux_fill(r.c);
		/* A transport taking 16 KiB per round, in as many writes as the mux hands it. */
		for (size_t room = 16u << 10; room > 0; room -= n) {
			p = mux_out_peek(r.c, &len);
			n = len < room ? len : room;
			if (!n)
				break;
			CHECK(have + n <= sizeof(wire));
			memcpy(wire + have, p, n);
			have += n;
			mux_out_consume(r.c, n);
		}
	}
	/* Whole frames only: the last one may be cut off, where the drain stopped. */
	while ((ret = wire_parse(wire + off, have - off, &f)) > 0) {
		/* The first frame to begin at or after a ping was queued is that ping. */
		if (next_ping < n_ping && off >= ping_at[next_ping]) {
			CHECK_EQ_INT(f.type, WIRE_PING);
			next_ping++;
		}
		if (f.type == WIRE_DATA)
			stream_b += (size_t)ret;
		else if (f.type == WIRE_UDP)
			dg_b += (size_t)ret;
		off += (size_t)ret;
	}
	CHECK_EQ_INT(ret, 0);
	CHECK_EQ_INT(next_ping, n_ping);
	CHECK(stream_b + dg_b > (1u << 20));
	CHECK(stream_b * 3 >= stream_b + dg_b);
	CHECK(dg_b * 3 >= stream_b + dg_b);
	close(local.b);
	rig_free(&r);
}

/* A peer that never reads: once control frames stop fitting, the session ends, loudly. */
static void test_control_overflow_ends_session(void)
{
	struct rig r;
	uint8_t opaque[8] = {0}, frame[WIRE_CTL_MAX];
	int i, ret = 0;

	rig_init(&r);
	/* Frames the owner may drop do not end the session, and stop short of the reserve. */
	for (i = 0; i < 200000 && ret == 0; i++)
		ret = mux_send_ctl(r.c, frame,
				   wire_put_ping(frame, sizeof(frame), WIRE_PING, opaque));
	CHECK_EQ_INT(ret, -ENOBUFS);
	CHECK_EQ_INT(mux_in_commit(r.c, 0), 0);
	CHECK_EQ_INT(mux_ping(r.c, opaque), 0);
	/* One the mux itself needs (here a PING of its own) that no longer fits does. */
	for (i = 0, ret = 0; i < 200000 && ret == 0; i++)
		ret = mux_ping(r.c, opaque);
	CHECK_EQ_INT(ret, -ENOBUFS);
	CHECK_EQ_INT(mux_in_commit(r.c, 0), -ENOBUFS);
	rig_free(&r);
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/*
 * Slow readers on every stream: each stream's buffer stays within its
 * window, and all of them together within the mux's cap; the stream that
 * would pass it is reset, and the session and new streams carry on.
 */
static void test_total_buffer_cap(void)
{
	struct rig r;
	struct mux_stats st;
	static char big[64 << 10];
	int app[4], remote[4], a2, r2, eof, i, k, reset = 0;
	char buf[8];
	size_t peak = 0;

	rig_init(&r);
	mux_set_buffered_max(r.h, 512u << 10);
	memset(big, 'y', sizeof(big));
	for (i = 0; i < 4; i++)
		CHECK_EQ_INT(rig_open_small(&r, &app[i], &remote[i]), 0);
	for (k = 0; k < 64; k++) {
		for (i = 0; i < 4; i++)
			if (write(app[i], big, sizeof(big)) < 0 && errno != EAGAIN)
				reset++;
		rig_pump(&r, 2);
		mux_get_stats(r.h, &st);
		if (st.buffered > peak)
			peak = st.buffered;
	}
	mux_get_stats(r.h, &st);
	CHECK(peak <= (512u << 10));
	CHECK(peak > WINDOW); /* the cap, not one window, was what held */
	CHECK(st.over_budget >= 1);
	CHECK(reset >= 1);
	CHECK_EQ_INT(r.proto_err, 0);
	/* The helper's cap on slow readers' buffers is a reader's doing, not a shortage. */
	mux_get_stats(r.c, &st);
	CHECK_EQ_INT(st.peer_short, 0);
	CHECK_EQ_INT(rig_open_small(&r, &a2, &r2), 0);
	CHECK_EQ_INT(write(a2, "ok", 2), 2);
	CHECK_EQ_INT(read_all(&r, r2, buf, 2, &eof), 2);
	for (i = 0; i < 4; i++)
		close(app[i]), close(remote[i]);
	close(a2), close(r2);
	rig_free(&r);
}

/* Past the cap on streams, each OPEN from the peer is refused with a reset; the session goes on. */
static void test_stream_cap(void)
{
	struct mux_stats st;
	struct rig r;
	int app[10], remote[10], i, refused = 0, eof;
	char buf[8];

	rig_init(&r);
	mux_set_max_streams(r.h, 8);
	for (i = 0; i < 10; i++)
		CHECK_EQ_INT(rig_open_small(&r, &app[i], &remote[i]), 0);
	rig_pump(&r, 20);
	for (i = 0; i < 10; i++) {
		ssize_t n = read(app[i], buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			refused++;
	}
	CHECK_EQ_INT(refused, 2);
	CHECK_EQ_INT(r.proto_err, 0);
	/* The helper's cap is not a shortage of its own. */
	mux_get_stats(r.c, &st);
	CHECK_EQ_INT(st.peer_short, 0);
	/* The first eight carry data. */
	CHECK_EQ_INT(write(app[0], "hi", 2), 2);
	CHECK_EQ_INT(read_all(&r, remote[0], buf, 2, &eof), 2);
	for (i = 0; i < 10; i++)
		close(app[i]), close(remote[i]);
	rig_free(&r);
}

/*
 * 10,000 streams whose far readers take nothing: the helper side's memory
 * stays under the cap (here 16 MiB) plus a little per stream. The two muxes
 * run in two processes joined by a socketpair, as over SSH, and the far
 * readers in a third, so that no process needs more than one descriptor
 * per stream.
 */
#define MANY	   10000
#define MANY_CAP   (16u << 20)
#define MANY_CHUNK (32u << 10)

static int sink_port;

/* The far end: accepts every connection with a tiny receive buffer, reads nothing. */
static pid_t sink_start(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM, 0), small = 4096, n = 0;
	pid_t pid;

	setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	bind(l, (struct sockaddr *)&sin, sizeof(sin));
	listen(l, 4096);
	getsockname(l, (struct sockaddr *)&sin, &len);
	sink_port = ntohs(sin.sin_port);
	pid = fork();
	if (pid == 0) {
		alarm(120);
		while (n < MANY)
			if (accept(l, NULL, NULL) >= 0)
				n++;
		pause();
		_exit(0);
	}
	close(l);
	return pid;
}

static int sink_connect(void *ctx, const struct wire_open *dst)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons((uint16_t)sink_port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), small = 4096;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -ECONNREFUSED;
	}
	return fd;
}

/* Move bytes between a mux and the wire once; 1 when something moved. */
static int wire_step(struct mux *m, int wire, int *err)
{
	size_t len;
	const uint8_t *p;
	uint8_t *q;
	ssize_t n;
	int moved = 0;

	mux_fill(m);
	p = mux_out_peek(m, &len);
	if (len && (n = write(wire, p, len)) > 0) {
		mux_out_consume(m, (size_t)n);
		moved = 1;
	}
	q = mux_in_space(m, &len);
	if (len && (n = read(wire, q, len)) > 0) {
		if (mux_in_commit(m, (size_t)n) < 0)
			*err = 1;
		moved = 1;
	}
	return moved;
}

static void test_10k_slow_streams_bounded(void)
{
	static const struct mux_ops sink_ops = {.connect = sink_connect};
	int wire[2], report[2], err = 0, i, idle;
	long rss[4] = {0, 0, 0, 0};
	pid_t sink, helper;
	struct evloop loop;
	struct mux *c;

	signal(SIGALRM, SIG_DFL);
	sink = sink_start();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, wire) < 0 || pipe(report) < 0) {
		CHECK(0);
		return;
	}
	helper = fork();
	if (helper == 0) {
		/* The helper's side: buffers for readers that take nothing. */
		struct mux_stats st;
		struct mux *h;
		long out[4];

		alarm(120);
		close(wire[0]);
		evloop_init(&loop);
		h = mux_new(&loop, WINDOW, 64 << 10, &sink_ops, NULL);
		mux_set_peer_window(h, WINDOW);
		mux_set_buffered_max(h, MANY_CAP);
		out[0] = rss_kib();
		for (idle = 0; idle < 100;) {
			int moved = wire_step(h, wire[1], &err);
			evloop_run_once(&loop, moved ? 0 : 10);
			idle = moved ? 0 : idle + 1;
		}
		mux_get_stats(h, &st);
		out[1] = rss_kib();
		out[2] = err ? -1 : (long)st.buffered;
		out[3] = (long)st.over_budget;
		write(report[1], out, sizeof(out));
		_exit(0);
	}
	close(wire[1]);
	evloop_init(&loop);
	c = mux_new(&loop, WINDOW, 64 << 10, &client_ops, NULL);
	mux_set_peer_window(c, WINDOW);
	for (i = 0; i < MANY && !err; i++) {
		static char chunk[MANY_CHUNK];
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
			break;
		/* The application writes its bytes and is gone; the stream lives on. */
		write(sv[1], chunk, sizeof(chunk));
		close(sv[1]);
		if (mux_open_stream(c, sv[0], &(struct wire_open){.family = AF_INET, .port = 9}) <
		    0)
			break;
		wire_step(c, wire[0], &err);
		evloop_run_once(&loop, 0);
	}
	for (idle = 0; idle < 100;) {
		int moved = wire_step(c, wire[0], &err);
		evloop_run_once(&loop, moved ? 0 : 10);
		idle = moved ? 0 : idle + 1;
	}
	if (read(report[0], rss, sizeof(rss)) != (ssize_t)sizeof(rss))
		rss[2] = -2;
	printf("# %d streams; the helper side holds %ld bytes, reset %ld streams at the cap; its "
	       "RSS %ld -> %ld KiB\n",
	       i, rss[2], rss[3], rss[0], rss[1]);
	CHECK_EQ_INT(i, MANY);
	CHECK_EQ_INT(err, 0);
	CHECK(rss[3] > 0); /* the readers really were slow: the cap was reached */
	CHECK(rss[2] > 0 && rss[2] <= (long)MANY_CAP);
	/* The cap, plus a few KiB of bookkeeping per stream. */
	CHECK(rss[1] - rss[0] < (long)(MANY_CAP >> 10) + MANY * 4 + (16 << 10));
	mux_free(c);
	evloop_close(&loop);
	close(wire[0]);
	kill(sink, SIGKILL);
	kill(helper, SIGKILL);
	waitpid(sink, NULL, 0);
	waitpid(helper, NULL, 0);
}

/* Unsent and unacknowledged bytes of fd: 0 once the peer's kernel has them all. */
static int outq(int fd)
{
	int n = -1;

	return ioctl(fd, SIOCOUTQ, &n) < 0 ? -1 : n;
}

/*
 * A server answers, then resets (it closed with a request unread). The
 * answer came ahead of the reset, so the application gets all of it and
 * then the reset, as over one TCP connection: the RESET must not overtake
 * the stream's DATA still queued in the helper.
 */
static void test_reply_before_reset_delivered(void)
{
	static char want[48 << 10], got[64 << 10];
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct rig r;
	size_t put = 0, have = 0;
	int app, remote, err = 0, i;
	ssize_t n;

	rig_init(&r);
	open_stream(&r, &app, &remote);
	for (size_t k = 0; k < sizeof(want); k++)
		want[k] = (char)(k * 7 + 3);
	/* All of it in the helper's socket before the reset, none read yet. */
	for (i = 0; i < 200 && put < sizeof(want); i++) {
		n = write(remote, want + put, sizeof(want) - put);
		if (n > 0)
			put += (size_t)n;
		else
			usleep(1000);
	}
	CHECK_EQ_INT(put, sizeof(want));
	for (i = 0; i < 200 && outq(remote) != 0; i++)
		usleep(1000);
	CHECK_EQ_INT(outq(remote), 0);
	setsockopt(remote, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(remote);
	for (i = 0; i < 2000 && !err; i++) {
		n = read(app, got + have, sizeof(got) - have);
		if (n > 0)
			have += (size_t)n;
		else if (n == 0)
			err = -1; /* a clean end: wrong, it was reset */
		else if (errno != EAGAIN)
			err = errno;
		else
			rig_pump(&r, 1);
	}
	CHECK_EQ_INT(have, sizeof(want));
	CHECK(memcmp(got, want, sizeof(want)) == 0);
	CHECK_EQ_INT(err, ECONNRESET);
	CHECK_EQ_INT(r.proto_err, 0);
	close(app);
	rig_free(&r);
}

/* The remote writes all of buf, pumping, until its socket has sent it all. Bytes written. */
static size_t put_all(struct rig *r, int remote, const char *buf, size_t len)
{
	size_t put = 0;

	for (int i = 0; i < 4000 && (put < len || outq(remote) != 0); i++) {
		ssize_t n = write(remote, buf + put, len - put);

		if (n > 0)
			put += (size_t)n;
		rig_pump(r, 1);
	}
	return put;
}

/* Close fd with an RST. */
static void reset_fd(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/*
 * Read app at most chunk at a time, pumping, until it ends: bytes read, and
 * in *err the errno that ended it (-1 for a clean end, 0 if it did not).
 */
static size_t read_to_end(struct rig *r, int app, char *got, size_t cap, size_t chunk, int *err)
{
	size_t have = 0;

	*err = 0;
	for (int i = 0; i < 20000 && !*err; i++) {
		size_t want = cap - have < chunk ? cap - have : chunk;
		ssize_t n = read(app, got + have, want);

		if (n > 0)
			have += (size_t)n;
		else if (n == 0)
			*err = -1;
		else if (errno != EAGAIN)
			*err = errno;
		rig_pump(r, 1);
	}
	return have;
}

/*
 * The same with a slow reader: the answer is still in the client's mux,
 * waiting for the application's socket, when the RESET comes. It must
 * reach the application whole, and only then the reset.
 */
static void test_reset_waits_for_slow_reader(void)
{
	static char want[192 << 10], got[256 << 10];
	struct mux_stats st = {0};
	struct rig r;
	size_t have;
	int app, remote, err, small = 4096, i;

	rig_init(&r);
	/* Little room in the application's socket: most of the answer waits in the mux. */
	{
		struct t_pair local = t_tcp_pair(), far = t_tcp_pair();
		struct wire_open o = dst4();

		setsockopt(local.a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		setsockopt(local.b, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		rig_next_fd = far.a;
		CHECK_EQ_INT(mux_open_stream(r.c, local.a, &o), 0);
		rig_pump(&r, 3);
		app = local.b;
		remote = far.b;
	}
	for (size_t k = 0; k < sizeof(want); k++)
		want[k] = (char)(k * 13 + 5);
	CHECK_EQ_INT(put_all(&r, remote, want, sizeof(want)), sizeof(want));
	for (i = 0; i < 200; i++) {
		rig_pump(&r, 1);
		mux_get_stats(r.c, &st);
		if (st.buffered > sizeof(want) / 2)
			break;
	}
	CHECK(st.buffered > sizeof(want) / 2);
	reset_fd(remote);
	rig_pump(&r, 20);
	mux_get_stats(r.h, &st);
	CHECK_EQ_INT(st.streams, 0);
	have = read_to_end(&r, app, got, sizeof(got), sizeof(got), &err);
	CHECK_EQ_INT(have, sizeof(want));
	CHECK(have == sizeof(want) && memcmp(got, want, sizeof(want)) == 0);
	CHECK_EQ_INT(err, ECONNRESET);
	mux_get_stats(r.c, &st);
	CHECK_EQ_INT(st.streams, 0);
	CHECK_EQ_INT(st.buffered, 0);
	CHECK_EQ_INT(r.proto_err, 0);
	close(app);
	rig_free(&r);
}

/*
 * As above with the sockets' own sizes and an application that reads a
 * little at a time: when the RESET comes, much of the answer is in the
 * send queue of sluice's socket to the application, which an RST at that
 * moment would throw away. It must arrive whole all the same.
 */
static void test_reset_keeps_socket_queue(void)
{
	static char want[768 << 10], got[1 << 20];
	struct mux_stats st = {0};
	struct rig r;
	size_t have;
	int app, remote, err;

	rig_init(&r);
	open_stream(&r, &app, &remote);
	for (size_t k = 0; k < sizeof(want); k++)
		want[k] = (char)(k * 31 + 7);
	CHECK_EQ_INT(put_all(&r, remote, want, sizeof(want)), sizeof(want));
	CHECK_EQ_INT(outq(remote), 0);
	reset_fd(remote);
	rig_pump(&r, 20);
	mux_get_stats(r.h, &st);
	CHECK_EQ_INT(st.streams, 0);
	have = read_to_end(&r, app, got, sizeof(got), 4096, &err);
	CHECK_EQ_INT(have, sizeof(want));
	CHECK(have == sizeof(want) && memcmp(got, want, sizeof(want)) == 0);
	CHECK_EQ_INT(err, ECONNRESET);
	mux_get_stats(r.c, &st);
	CHECK_EQ_INT(st.streams, 0);
	CHECK_EQ_INT(r.proto_err, 0);
	close(app);
	rig_free(&r);
}

/*
 * A reset stream whose application never reads holds its buffer a while,
 * not for good.
 */
static void test_reset_hold_is_bounded(void)
{
	static char buf[192 << 10];
	struct mux_stats st = {0};
	struct rig r;
	int app, remote, i;

	rig_init(&r);
	mux_set_clock(r.c, fake_clock, NULL);
	fake_now = 1000;
	open_stream(&r, &app, &remote);
	memset(buf, 'h', sizeof(buf));
	CHECK_EQ_INT(put_all(&r, remote, buf, sizeof(buf)), sizeof(buf));
	reset_fd(remote);
	rig_pump(&r, 20);
	mux_get_stats(r.c, &st);
	CHECK_EQ_INT(st.streams, 1); /* held: its application has not read */
	fake_now += 31000;
	for (i = 0; i < 200 && st.streams; i++) {
		rig_pump(&r, 1);
		usleep(2000);
		mux_get_stats(r.c, &st);
	}
	CHECK_EQ_INT(st.streams, 0);
	CHECK_EQ_INT(st.buffered, 0);
	close(app);
	rig_free(&r);
}

/*
 * The application sends its request and EOF, then is killed (its socket
 * resets) while the far side has nothing to say yet: the stream ends at
 * once at both ends, and the far side is reset, rather than both waiting
 * on the far side's next byte.
 */
static void test_local_reset_after_eof_ends_stream(void)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct mux_stats st;
	struct rig r;
	char buf[16];
	int app, remote, eof, err = 0, i;

	rig_init(&r);
	open_stream(&r, &app, &remote);
	CHECK_EQ_INT(write(app, "x", 1), 1);
	shutdown(app, SHUT_WR);
	CHECK_EQ_INT(read_all(&r, remote, buf, sizeof(buf), &eof), 1);
	CHECK(eof);
	setsockopt(app, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(app);
	/* It read the EOF already, so its reads say 0: the reset shows as the socket's error. */
	for (i = 0; i < 200 && !err; i++) {
		socklen_t len = sizeof(err);

		rig_pump(&r, 1);
		if (getsockopt(remote, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
	}
	CHECK(err == EPIPE || err == ECONNRESET);
	mux_get_stats(r.c, &st);
	CHECK_EQ_INT(st.streams, 0);
	mux_get_stats(r.h, &st);
	CHECK_EQ_INT(st.streams, 0);
	CHECK_EQ_INT(r.proto_err, 0);
	close(remote);
	rig_free(&r);
}

int main(void)
{
	/* Writing to a stream the mux reset must fail, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	RUN(test_half_close_both_ways);
	RUN(test_refused_is_reset);
	RUN(test_reply_before_reset_delivered);
	RUN(test_reset_waits_for_slow_reader);
	RUN(test_reset_keeps_socket_queue);
	RUN(test_reset_hold_is_bounded);
	RUN(test_local_reset_after_eof_ends_stream);
	RUN(test_slow_reader_bounded_and_others_flow);
	RUN(test_bulk_intact);
	RUN(test_peer_breaking_rules);
	RUN(test_control_frames_go_first);
	RUN(test_datagrams_share_with_streams);
	RUN(test_control_overflow_ends_session);
	RUN(test_total_buffer_cap);
	RUN(test_stream_cap);
	RUN(test_10k_slow_streams_bounded);
	T_EXIT();
}
