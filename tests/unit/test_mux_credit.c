/*
 * Unit tests for the mux's credit sized to the path, with a simulated clock
 * and a simulated path: each round is one round trip, in which the sender
 * sends what its credit allows (or what a link rate allows), the receiver
 * delivers it, and the grants travel back. Both ends run the same code; the
 * download direction has the client receiving, the upload the helper.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mux_rig.h"

#define W (64u << 10)

static uint64_t sim_ms = 1000;

static uint64_t sim_clock(void *arg)
{
	return sim_ms;
}

static const struct mux_ops client_ops = {0};
static const struct mux_ops helper_ops = {.connect = rig_connect};

/* One stream: the writer's end, the reader's end, and what went through. */
struct flow {
	int wr, rd;
	size_t quota; /* bytes the writer offers per round; 0: as much as fits */
	bool stopped; /* the writer offers nothing more */
	size_t offered, sent, got, bad, round_got;
};

struct path {
	struct rig r;
	struct mux *snd, *rcv;
	unsigned rtt_ms;
	size_t link; /* bytes the path carries per round; 0: no limit */
};

static unsigned char pat(size_t off)
{
	return (unsigned char)(off * 13 + 5);
}

/* A big-buffered socketpair, so a round's worth waits in the writer's socket. */
static struct t_pair big_pair(void)
{
	struct t_pair p = {-1, -1};
	int sv[2], big = 4 << 20;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return p;
	/* Root may pass wmem_max; elsewhere the default size only makes rounds smaller. */
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	p.a = sv[0];
	p.b = sv[1];
	return p;
}

static void path_open(struct path *p, bool upload, unsigned rtt_ms, uint32_t max, size_t total)
{
	rig_open(&p->r, W, &client_ops, &helper_ops);
	rig_connect_err = 0;
	mux_set_clock(p->r.c, sim_clock, NULL);
	mux_set_clock(p->r.h, sim_clock, NULL);
	p->snd = upload ? p->r.c : p->r.h;
	p->rcv = upload ? p->r.h : p->r.c;
	mux_set_credit(p->rcv, max, total, 10);
	mux_set_rtt(p->rcv, rtt_ms);
	p->rtt_ms = rtt_ms;
	p->link = 0;
}

/* A stream opened by the client; the writer is the app (upload) or the far server. */
static void flow_open(struct path *p, struct flow *f, size_t quota)
{
	struct t_pair local = big_pair(), far = big_pair();
	struct wire_open o = {.family = AF_INET, .port = 80, .addr = {192, 0, 2, 1}};

	memset(f, 0, sizeof(*f));
	f->quota = quota;
	rig_next_fd = far.a;
	CHECK_EQ_INT(mux_open_stream(p->r.c, local.a, &o), 0);
	rig_pump(&p->r, 3);
	if (p->snd == p->r.c) {
		f->wr = local.b;
		f->rd = far.b;
	} else {
		f->wr = far.b;
		f->rd = local.b;
	}
}

static void flow_close(struct flow *f)
{
	close(f->wr);
	close(f->rd);
}

static void flow_top_up(struct flow *f, size_t round_start)
{
	static unsigned char buf[65536];

	for (int i = 0; i < 64 && !f->stopped; i++) {
		size_t n = sizeof(buf);
		ssize_t w;
		if (f->quota) {
			if (f->offered - round_start >= f->quota)
				return;
			if (n > f->quota - (f->offered - round_start))
				n = f->quota - (f->offered - round_start);
		}
		for (size_t k = 0; k < n; k++)
			buf[k] = pat(f->offered + k);
		w = write(f->wr, buf, n);
		if (w <= 0)
			return;
		f->offered += (size_t)w;
	}
}

static size_t flow_drain(struct flow *f)
{
	static unsigned char buf[65536];
	size_t got = 0;
	ssize_t n;

	while ((n = read(f->rd, buf, sizeof(buf))) > 0) {
		for (ssize_t k = 0; k < n; k++)
			if (buf[k] != pat(f->got + (size_t)k))
				f->bad++;
		f->got += (size_t)n;
		got += (size_t)n;
	}
	return got;
}

/* Move what from has queued into to, up to limit bytes (0: all). Returns bytes moved. */
static size_t move_queued(struct path *p, struct mux *from, struct mux *to, size_t limit)
{
	size_t moved = 0;

	for (int i = 0; i < 100000 && (!limit || moved < limit); i++) {
		size_t len, room;
		const uint8_t *q;
		uint8_t *d;

		mux_fill(from);
		q = mux_out_peek(from, &len);
		if (!len)
			break;
		d = mux_in_space(to, &room);
		if (len > room)
			len = room;
		if (limit && len > limit - moved)
			len = limit - moved;
		memcpy(d, q, len);
		mux_out_consume(from, len);
		if (mux_in_commit(to, len) < 0)
			p->r.proto_err = -1;
		moved += len;
	}
	return moved;
}

/* One round trip: data one way (as much as credit and the link allow), grants back. */
static void path_round(struct path *p, struct flow *f, int n)
{
	size_t start[8], moved = 0, step;

	for (int i = 0; i < n; i++) {
		start[i] = f[i].offered;
		f[i].round_got = 0;
	}
	for (int i = 0; i < 10000; i++) {
		for (int k = 0; k < n; k++)
			flow_top_up(&f[k], start[k]);
		evloop_run_once(&p->r.loop, 0);
		step = move_queued(p, p->snd, p->rcv, p->link ? p->link - moved : 0);
		moved += step;
		for (int k = 0; k < n; k++)
			f[k].round_got += flow_drain(&f[k]);
		if (!step || (p->link && moved >= p->link))
			break;
	}
	/* What the readers' sockets could not take is delivered as they read. */
	for (int i = 0; i < 50; i++) {
		size_t got = 0;
		evloop_run_once(&p->r.loop, 0);
		for (int k = 0; k < n; k++) {
			size_t g = flow_drain(&f[k]);
			f[k].round_got += g;
			got += g;
		}
		if (!got)
			break;
	}
	move_queued(p, p->rcv, p->snd, 0);
	sim_ms += p->rtt_ms ? p->rtt_ms : 4;
}

static size_t extra_now(struct path *p)
{
	struct mux_stats st;

	mux_get_stats(p->rcv, &st);
	return st.credit_extra;
}

/* A lone stream held back by credit on a long path doubles its credit, up to the cap. */
static void grows_when_blocked(bool upload)
{
	struct path p;
	struct flow f;
	struct mux_stats st;
	size_t first = 0, last = 0;

	path_open(&p, upload, 100, 16 * W, 64 * W);
	flow_open(&p, &f, 0);
	for (int i = 0; i < 30; i++) {
		path_round(&p, &f, 1);
		if (i == 1)
			first = f.round_got;
		last = f.round_got;
		CHECK(extra_now(&p) <= 15 * W);
	}
	mux_get_stats(p.rcv, &st);
	CHECK(st.credit_grown >= 4);
	/* Per round trip, a stream moves what its credit is: it reached the cap. */
	CHECK(first <= W);
	CHECK(last > 8 * W);
	CHECK(last <= 16 * W);
	CHECK_EQ_INT(extra_now(&p), 15 * W);
	CHECK_EQ_INT(f.bad, 0);
	CHECK_EQ_INT(p.r.proto_err, 0);
	flow_close(&f);
	rig_free(&p.r);
}

static void test_grows_when_blocked_download(void)
{
	grows_when_blocked(false);
}

static void test_grows_when_blocked_upload(void)
{
	grows_when_blocked(true);
}

/*
 * On a long path, a stream held back at the base credit whose credit goes
 * round in a little more than a round trip (the quarters we hold back
 * before granting them gather slowly at a slow stream's rate) still grows:
 * that is not a queue. One whose credit takes much longer is queueing
 * somewhere, and does not.
 */
static unsigned slow_round_grows(unsigned round_ms)
{
	struct path p;
	struct flow f;
	struct mux_stats st;

	path_open(&p, false, round_ms, 16 * W, 64 * W);
	mux_set_rtt(p.rcv, 100);
	flow_open(&p, &f, 0);
	for (int i = 0; i < 6; i++)
		path_round(&p, &f, 1);
	mux_get_stats(p.rcv, &st);
	CHECK_EQ_INT(f.bad, 0);
	CHECK_EQ_INT(p.r.proto_err, 0);
	flow_close(&f);
	rig_free(&p.r);
	return (unsigned)st.credit_grown;
}

static void test_slow_stream_at_base_grows(void)
{
	CHECK(slow_round_grows(130) >= 1);
	CHECK_EQ_INT(slow_round_grows(160), 0);
}

/*
 * A sender that never runs out of credit gets no more, however long the
 * path, though its credit goes round in a round trip: it offers a little
 * less than its credit each round trip.
 */
static void test_no_growth_when_not_blocked(void)
{
	struct path p;
	struct flow f;
	struct mux_stats st;

	path_open(&p, false, 100, 16 * W, 64 * W);
	flow_open(&p, &f, W - W / 16);
	for (int i = 0; i < 30; i++)
		path_round(&p, &f, 1);
	mux_get_stats(p.rcv, &st);
	CHECK_EQ_INT(st.credit_grown, 0);
	CHECK_EQ_INT(extra_now(&p), 0);
	CHECK(f.got >= 29 * (W - W / 16));
	CHECK_EQ_INT(f.bad, 0);
	CHECK_EQ_INT(p.r.proto_err, 0);
	flow_close(&f);
	rig_free(&p.r);
}

/*
 * The total above the base window holds; a second stream held back by
 * credit makes the first give up room until they hold about the same.
 */
static void test_second_stream_shrinks_first(void)
{
	struct path p;
	struct flow f[2];
	struct mux_stats st;

	path_open(&p, false, 100, 16 * W, 4 * W);
	flow_open(&p, &f[0], 0);
	for (int i = 0; i < 24; i++) {
		path_round(&p, f, 1);
		CHECK(extra_now(&p) <= 4 * W);
	}
	/* Alone, the first took the whole total. */
	CHECK_EQ_INT(extra_now(&p), 4 * W);
	CHECK(f[0].round_got > 4 * W);
	flow_open(&p, &f[1], 0);
	for (int i = 0; i < 40; i++) {
		path_round(&p, f, 2);
		CHECK(extra_now(&p) <= 4 * W);
	}
	mux_get_stats(p.rcv, &st);
	CHECK(st.credit_cut >= 1);
	/* Each now has the base and half the total: 3 W a round trip. */
	CHECK(f[0].round_got <= 3 * W);
	CHECK(f[1].round_got > 2 * W);
	CHECK_EQ_INT(f[0].bad + f[1].bad, 0);
	CHECK_EQ_INT(p.r.proto_err, 0);
	flow_close(&f[0]);
	flow_close(&f[1]);
	rig_free(&p.r);
}

/*
 * A short path whose link is the limit: credit beyond the rate times the
 * round trip plus the budget would only queue, so the stream keeps no more.
 */
static void test_short_path_keeps_budget(void)
{
	struct path p;
	struct flow f;
	struct mux_stats st;
	/* 4 W per 4 ms round: W per ms, so 10 ms of budget is 10 W. */
	size_t rate_per_ms = W;

	path_open(&p, false, 0, 64 * W, 256 * W);
	p.link = 4 * W;
	flow_open(&p, &f, 0);
	for (int i = 0; i < 200; i++) {
		path_round(&p, &f, 1);
		CHECK(W + extra_now(&p) <= rate_per_ms * 10);
	}
	mux_get_stats(p.rcv, &st);
	CHECK(st.credit_grown >= 1);
	CHECK_EQ_INT(f.bad, 0);
	CHECK_EQ_INT(p.r.proto_err, 0);
	flow_close(&f);
	rig_free(&p.r);
}

/* A stream the receiver hears nothing from gives its extra back to one that needs it. */
static void test_idle_stream_gives_back(void)
{
	struct path p;
	struct flow f[2];

	path_open(&p, false, 100, 16 * W, 4 * W);
	flow_open(&p, &f[0], 0);
	for (int i = 0; i < 24; i++)
		path_round(&p, f, 1);
	CHECK_EQ_INT(extra_now(&p), 4 * W);
	/* The first stops sending; once it is drained, the second starts and needs room. */
	f[0].stopped = true;
	for (int i = 0; i < 200 && f[0].got < f[0].offered; i++)
		path_round(&p, f, 1);
	CHECK_EQ_INT(f[0].got, f[0].offered);
	flow_open(&p, &f[1], 0);
	for (int i = 0; i < 30; i++) {
		path_round(&p, f, 2);
		CHECK(extra_now(&p) <= 4 * W);
	}
	CHECK(f[1].round_got > 4 * W);
	CHECK_EQ_INT(f[1].bad, 0);
	CHECK_EQ_INT(p.r.proto_err, 0);
	flow_close(&f[0]);
	flow_close(&f[1]);
	rig_free(&p.r);
}

/* Count the PINGs a mux has queued, taking everything it has queued. */
static int pings_out(struct mux *m)
{
	static uint8_t wire[1 << 16];
	struct wire_frame f;
	size_t have = 0, off = 0, len;
	const uint8_t *q;
	int n = 0, r;

	mux_fill(m);
	while ((q = mux_out_peek(m, &len)) && len && have + len <= sizeof(wire)) {
		memcpy(wire + have, q, len);
		have += len;
		mux_out_consume(m, len);
	}
	while ((r = wire_parse(wire + off, have - off, &f)) > 0) {
		n += f.type == WIRE_PING;
		off += (size_t)r;
	}
	return n;
}

/*
 * With credit sized to the path, the mux pings a few times of its own in
 * the first seconds (a round trip measured once may have met a busy peer),
 * further apart each time, then leaves it to the owner.
 */
static void test_probes_round_trip(void)
{
	struct path p;
	int n, early;

	path_open(&p, false, 0, 16 * W, 64 * W);
	CHECK_EQ_INT(pings_out(p.r.c), 0);
	CHECK_EQ_INT(pings_out(p.r.h), 0);
	sim_ms += 300;
	n = pings_out(p.r.c);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(pings_out(p.r.c), 0);
	/* The sender's side has credit off here: it leaves pings to its owner. */
	CHECK_EQ_INT(pings_out(p.r.h), 0);
	for (int i = 0; i < 20; i++) {
		sim_ms += 100;
		n += pings_out(p.r.c);
	}
	early = n;
	CHECK(early >= 3 && early <= 5);
	for (int i = 0; i < 600; i++) {
		sim_ms += 100;
		n += pings_out(p.r.c);
	}
	/* Six in all, the last some 16 s in. */
	CHECK_EQ_INT(n, 6);
	rig_free(&p.r);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_grows_when_blocked_download);
	RUN(test_grows_when_blocked_upload);
	RUN(test_slow_stream_at_base_grows);
	RUN(test_no_growth_when_not_blocked);
	RUN(test_second_stream_shrinks_first);
	RUN(test_short_path_keeps_budget);
	RUN(test_idle_stream_gives_back);
	RUN(test_probes_round_trip);
	T_EXIT();
}
