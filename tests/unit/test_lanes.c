/*
 * Unit tests for client/link/lanes.c: how many lanes the measured round trips
 * ask for, which lane a new stream goes to (real muxes, streams on
 * socketpairs), the counters of all lanes together, and how many logins
 * lanes_tick runs at a time (real workers, against a loopback listener).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../client/link/lanes.h"
#include "../../common/evloop.h"
#include "../../common/log.h"
#include "../../common/mux.h"
#include "t.h"

static struct opts opts;
static struct sshconf cfg = {.hostname = "remote.test"};
static struct session_args args = {.o = &opts, .cfg = &cfg};

/* The clock and the CPU stall that lanes_mark and lanes_rtt read: the test's own. */
static int64_t fake_now = 1000000;
static uint64_t fake_stall;
static int fake_stall_ret;

static int64_t fake_clock(void)
{
	return fake_now;
}

static int fake_stall_read(uint64_t *us)
{
	if (fake_stall_ret < 0)
		return fake_stall_ret;
	*us = fake_stall;
	return 0;
}

/* lanes_mark, as if made ago_ms ago. */
static void mark_back(struct session *s, int64_t ago_ms)
{
	int64_t now = fake_now;

	fake_now -= ago_ms;
	lanes_mark(s);
	fake_now = now;
}

/* A ping of lanes_tick's (its mark), answered rtt_ms later. */
static void tick_rtt(struct session *s, int rtt_ms)
{
	mark_back(s, rtt_ms);
	lanes_rtt(s, rtt_ms);
}

/* As session_open leaves it: its mark older than any round trip here. */
static void session_fresh(struct session *s)
{
	memset(s, 0, sizeof(*s));
	s->a = &args;
	s->n_lanes = 1;
	s->rtt_min = -1;
	fake_stall = 0;
	fake_stall_ret = 0;
	mark_back(s, 10000);
}

/*
 * The smallest of the first LANES_RTT_SAMPLES round trips decides, once: the
 * further lanes for bulk, lane 0 besides; on a LAN lane 0 alone.
 */
static void test_rtt_decides(void)
{
	static const struct {
		int rtt[LANES_RTT_SAMPLES];
		unsigned lanes;
	} cases[] = {
	    {{1, 1, 1}, 1},    {{19, 19, 19}, 1}, {{20, 25, 30}, 6}, {{90, 5, 60}, 1},
	    {{22, 21, 50}, 6}, {{27, 30, 99}, 7}, {{45, 41, 50}, 8}, {{100, 150, 1000}, 8},
	};
	struct session s;
	size_t i, k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		session_fresh(&s);
		for (k = 0; k < LANES_RTT_SAMPLES; k++) {
			CHECK(!s.lanes_decided);
			tick_rtt(&s, cases[i].rtt[k]);
		}
		CHECK(s.lanes_decided);
		if (cases[i].lanes > 1) {
			CHECK_EQ_INT(s.n_lanes, cases[i].lanes + 1);
			CHECK(s.split == SPLIT_ON);
		} else {
			/* A LAN: one lane, until someone types (test_pick_split). */
			CHECK_EQ_INT(s.n_lanes, 1);
			CHECK(s.split == SPLIT_ON_TYPING);
		}
	}

	/* Not ours (a PONG we cannot read) counts for nothing. */
	session_fresh(&s);
	lanes_rtt(&s, -EINVAL);
	tick_rtt(&s, 70);
	lanes_rtt(&s, -1);
	tick_rtt(&s, 70);
	CHECK(!s.lanes_decided);
	tick_rtt(&s, 70);
	CHECK(s.lanes_decided);
	CHECK_EQ_INT(s.n_lanes, 9);
	CHECK(s.n_lanes <= SESSION_LANES_MAX);

	/* Decided (by --lanes, or already): later round trips change nothing, and add no lane. */
	lanes_rtt(&s, 1);
	CHECK_EQ_INT(s.n_lanes, 9);
	session_fresh(&s);
	s.lanes_decided = true;
	s.n_lanes = 2;
	for (k = 0; k < 5; k++)
		lanes_rtt(&s, 500);
	CHECK_EQ_INT(s.n_lanes, 2);
	CHECK(s.split == SPLIT_NONE);
}

/*
 * A round trip long enough for lanes, measured while the CPUs were kept
 * busy (the stall since its ping more than 1/LANES_STALL_SHARE of it), is
 * set aside; a short one counts all the same, and after LANES_STALLED_MAX
 * set aside the long ones count too. A long one is judged only from the
 * mark its own ping made.
 */
static void test_rtt_stalled(void)
{
	struct session s;
	unsigned k;

	session_fresh(&s);
	/* 40 ms of stall while a ping of 150 ms was out: more than a quarter. */
	for (k = 0; k < 3; k++) {
		mark_back(&s, 150);
		fake_stall += 40000;
		lanes_rtt(&s, 150);
	}
	CHECK_EQ_INT(s.rtt_samples, 0);
	CHECK_EQ_INT(s.rtt_stalled, 3);
	CHECK(!s.lanes_decided);
	/* Load never makes a round trip shorter: a short one counts as it is. */
	mark_back(&s, LANES_LAN_MS - 1);
	fake_stall += 40000;
	lanes_rtt(&s, LANES_LAN_MS - 1);
	CHECK_EQ_INT(s.rtt_samples, 1);
	/* A quarter is not too much. */
	mark_back(&s, 160);
	fake_stall += 40000;
	lanes_rtt(&s, 160);
	CHECK_EQ_INT(s.rtt_samples, 2);
	CHECK_EQ_INT(s.rtt_stalled, 3);
	for (k = 3; k < LANES_STALLED_MAX; k++) {
		mark_back(&s, 150);
		fake_stall += 40000;
		lanes_rtt(&s, 150);
	}
	CHECK_EQ_INT(s.rtt_samples, 2);
	CHECK_EQ_INT(s.rtt_stalled, LANES_STALLED_MAX);
	/* Then whatever the CPUs did. */
	mark_back(&s, 150);
	fake_stall += 150000;
	lanes_rtt(&s, 150);
	CHECK(s.lanes_decided);
	CHECK_EQ_INT(s.n_lanes, 1);

	/* No figure at the ping, or none at the answer (no PSI here): it counts as it is. */
	session_fresh(&s);
	fake_stall_ret = -ENOENT;
	mark_back(&s, 150);
	fake_stall_ret = 0;
	fake_stall += 150000;
	lanes_rtt(&s, 150);
	CHECK_EQ_INT(s.rtt_samples, 1);
	mark_back(&s, 150);
	fake_stall_ret = -EOPNOTSUPP;
	lanes_rtt(&s, 150);
	CHECK_EQ_INT(s.rtt_samples, 2);
	CHECK_EQ_INT(s.rtt_stalled, 0);

	/*
	 * A long one judged from a mark made before its ping (the mux's own
	 * pings): neither counted nor set aside; a short one counts from it.
	 */
	session_fresh(&s);
	mark_back(&s, 500);
	lanes_rtt(&s, 150);
	CHECK_EQ_INT(s.rtt_samples, 0);
	CHECK_EQ_INT(s.rtt_stalled, 0);
	lanes_rtt(&s, 5);
	CHECK_EQ_INT(s.rtt_samples, 1);
	mark_back(&s, 150 + LANES_MARK_SLACK_MS);
	lanes_rtt(&s, 150);
	CHECK_EQ_INT(s.rtt_samples, 2);
}

/* The rule alone: one on a LAN, one more per step above, never more than there are lanes. */
static void test_for_rtt(void)
{
	int ms;

	CHECK_EQ_INT(lanes_for_rtt(0), 1);
	CHECK_EQ_INT(lanes_for_rtt(LANES_LAN_MS - 1), 1);
	CHECK(lanes_for_rtt(LANES_LAN_MS) > 1);
	CHECK_EQ_INT(lanes_for_rtt(24), 7);
	CHECK_EQ_INT(lanes_for_rtt(30), 8);
	CHECK_EQ_INT(lanes_for_rtt(100), 8);
	CHECK_EQ_INT(lanes_for_rtt(100000), LANES_AUTO_MAX);
	/* Never fewer for a longer path. */
	for (ms = 1; ms < 1000; ms++)
		CHECK(lanes_for_rtt(ms) >= lanes_for_rtt(ms - 1));
}

static const struct mux_ops no_ops;

/* A stream to port on a socketpair, opened on the lane lanes_pick names; the other end is kept. */
static struct mux *open_to(struct session *s, uint16_t port, uint16_t flags, int *keep)
{
	struct wire_open dst = {.family = AF_INET, .port = port, .flags = flags};
	unsigned i = lanes_pick(s, &dst);
	struct mux *m = i ? s->lane[i].mux : s->mux;
	int sp[2];

	if (!m || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) < 0)
		return NULL;
	*keep = sp[1];
	if (mux_open_stream(m, sp[0], &dst) < 0) {
		close(sp[0]);
		return NULL;
	}
	return m;
}

static struct mux *open_one(struct session *s, uint16_t flags, int *keep)
{
	return open_to(s, 80, flags, keep);
}

static size_t streams_of(const struct mux *m)
{
	struct mux_stats st;

	mux_get_stats(m, &st);
	return st.streams;
}

/* Lane 0 and two further lanes on real muxes, none of the further ones up. */
static void three_lanes(struct evloop *loop, struct session *s, struct mux *m[3])
{
	int i;

	CHECK_EQ_INT(evloop_init(loop), 0);
	session_fresh(s);
	for (i = 0; i < 3; i++) {
		m[i] = mux_new(loop, 1 << 20, 256 << 10, &no_ops, NULL);
		CHECK(m[i] != NULL);
		mux_set_peer_window(m[i], 1 << 20);
	}
	s->mux = m[0];
	s->n_lanes = 3;
	s->lane[1].mux = m[1];
	s->lane[2].mux = m[2];
}

static void three_lanes_free(struct evloop *loop, struct mux *m[3], const int *keep, int n_keep)
{
	int i;

	for (i = 0; i < 3; i++)
		mux_free(m[i]);
	for (i = 0; i < n_keep; i++)
		close(keep[i]);
	evloop_close(loop);
}

/* The fewest streams wins; DNS stays on lane 0; only lanes that are up. */
static void test_pick(void)
{
	struct evloop loop;
	struct session s;
	struct mux_stats sum;
	struct mux *m[3];
	int keep[16], n_keep = 0;

	three_lanes(&loop, &s, m);

	/* Lane 1 and 2 not up yet: everything on lane 0. */
	CHECK_EQ_INT(lanes_up(&s), 1);
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[0]);
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[0]);
	s.lane[1].up = s.lane[2].up = true;
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[1]);
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[2]);
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[1]);
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[2]);
	CHECK_EQ_INT(streams_of(m[0]), 2);
	CHECK_EQ_INT(streams_of(m[1]), 2);
	CHECK_EQ_INT(streams_of(m[2]), 2);
	/* A tie goes to the lane given a stream longest ago; DNS to lane 0 whatever it carries. */
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[0]);
	CHECK(open_one(&s, WIRE_OPEN_F_DNS, &keep[n_keep++]) == m[0]);
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[1]);
	/* A lane that is down takes nothing. */
	s.lane[2].up = false;
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[1]);
	s.lane[2].up = true;
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[2]);

	/* Every lane that is up, and what lanes that dropped carried. */
	s.rx_gone = 1000;
	s.tx_gone = 10;
	s.over_budget_gone = 2;
	lanes_stats(&s, &sum);
	CHECK_EQ_INT(sum.streams, 11);
	CHECK_EQ_INT(sum.rx_bytes, 1000);
	CHECK_EQ_INT(sum.tx_bytes, 10);
	CHECK_EQ_INT(sum.over_budget, 2);
	CHECK_EQ_INT(lanes_up(&s), 3);
	s.lane[1].up = false;
	CHECK_EQ_INT(lanes_up(&s), 2);
	lanes_stats(&s, &sum);
	CHECK_EQ_INT(sum.streams, 7);

	/* No session: nowhere to go. */
	s.mux = NULL;
	CHECK(open_one(&s, 0, &keep[n_keep]) == NULL);

	three_lanes_free(&loop, m, keep, n_keep);
}

/*
 * Between lanes with as many streams, the one given a stream longest ago,
 * not the lowest: a burst's last stream goes beside the quiet connection
 * opened before it, not beside a stream of the burst.
 */
static void test_pick_tie(void)
{
	struct evloop loop;
	struct session s;
	struct mux *m[3];
	int keep[8], n_keep = 0;
	uint64_t picks;

	three_lanes(&loop, &s, m);
	s.split = SPLIT_ON;
	/* The quiet one first, on lane 2 while lane 1 is not up. */
	s.lane[2].up = true;
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[2]);
	s.lane[1].up = true;
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[1]);
	/* One each: lane 2 waited longer, though lane 1 is lower. */
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[2]);
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[1]);
	CHECK_EQ_INT(streams_of(m[1]), 2);
	CHECK_EQ_INT(streams_of(m[2]), 2);
	CHECK_EQ_INT(streams_of(m[0]), 0);
	/* Interactive and DNS streams stay on lane 0 and leave the turns of the others alone. */
	picks = s.picks;
	CHECK(open_to(&s, 22, 0, &keep[n_keep++]) == m[0]);
	CHECK(open_one(&s, WIRE_OPEN_F_DNS, &keep[n_keep++]) == m[0]);
	CHECK_EQ_INT(s.picks, picks);
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[2]);
	three_lanes_free(&loop, m, keep, n_keep);
}

/* Move n more bytes from a stream's socket out of m, all of them and no more. */
static bool move_more(struct evloop *loop, struct mux *m, int keep, size_t n)
{
	static uint8_t buf[16 << 10];
	struct mux_stats st;
	uint64_t want;
	size_t sent = 0, len;
	int i;

	mux_get_stats(m, &st);
	want = st.tx_bytes + n;
	for (i = 0; i < 200 && st.tx_bytes < want; i++) {
		if (sent < n) {
			ssize_t w =
			    write(keep, buf, n - sent < sizeof(buf) ? n - sent : sizeof(buf));
			if (w > 0)
				sent += (size_t)w;
		}
		evloop_run_once(loop, 5);
		mux_fill(m);
		mux_out_peek(m, &len);
		mux_out_consume(m, len);
		mux_get_stats(m, &st);
	}
	return st.tx_bytes == want;
}

/* Move n bytes from a stream's socket into m's output (and out of it), as the pump would. */
static uint64_t move_bytes(struct evloop *loop, struct mux *m, int keep, size_t n)
{
	struct mux_stats st;

	move_more(loop, m, keep, n);
	mux_get_stats(m, &st);
	return st.tx_bytes;
}

/*
 * Between lanes with as many streams, one that was quiet in the last second
 * before the one given a stream longest ago: a new stream goes beside a
 * quiet connection, not beside a download.
 */
static void test_pick_busy(void)
{
	struct evloop loop;
	struct session s;
	struct mux *m[3];
	int keep[8], n_keep = 0, dl;

	three_lanes(&loop, &s, m);
	s.split = SPLIT_ON;
	s.lane[1].up = s.lane[2].up = true;
	/* A download on lane 1, then a quiet connection on lane 2. */
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[1]);
	dl = keep[n_keep - 1];
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[2]);
	lanes_note_load(&s);
	CHECK(move_bytes(&loop, m[1], dl, 1 << 20) >= LANES_BUSY_BYTES);
	lanes_note_load(&s);
	CHECK(s.load[1].busy);
	CHECK(!s.load[2].busy);
	/* One each: lane 1 waited longer, but it is busy. */
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[2]);
	/* Behind by a stream, lane 1 takes the next whatever it moves. */
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[1]);
	/* A second without its bytes: quiet again, and the longest wait decides. */
	lanes_note_load(&s);
	CHECK(!s.load[1].busy);
	CHECK(open_one(&s, 0, &keep[n_keep++]) == m[2]);
	/* A lane that is down is never busy, and its count starts again from nothing. */
	s.lane[1].up = false;
	lanes_note_load(&s);
	CHECK(!s.load[1].busy);
	CHECK_EQ_INT(s.load[1].bytes, 0);
	three_lanes_free(&loop, m, keep, n_keep);
}

/* As session_fresh, lane 0 a real mux with one stream; its socket's other end in *keep. */
static struct mux *busy_fresh(struct evloop *loop, struct session *s, int *keep)
{
	struct mux *m;

	session_fresh(s);
	m = mux_new(loop, 1 << 20, 256 << 10, &no_ops, NULL);
	CHECK(m != NULL);
	mux_set_peer_window(m, 1 << 20);
	s->mux = m;
	CHECK(open_one(s, 0, keep) == m);
	return m;
}

/* A round trip taken while a transfer filled the pipe says nothing of the path. */
static void test_rtt_quiet(void)
{
	struct evloop loop;
	struct session s;
	struct mux *m;
	int keep = -1;
	unsigned k;

	CHECK_EQ_INT(evloop_init(&loop), 0);
	m = busy_fresh(&loop, &s, &keep);

	/* Quiet: counts. */
	tick_rtt(&s, 150);
	CHECK_EQ_INT(s.rtt_samples, 1);
	/* Busy since the last ping's mark: neither a slow one nor a fast one counts. */
	CHECK(move_bytes(&loop, m, keep, LANES_QUIET_BYTES * 4) >= LANES_QUIET_BYTES * 4);
	lanes_rtt(&s, 150);
	lanes_rtt(&s, 5);
	CHECK_EQ_INT(s.rtt_samples, 1);
	CHECK(!s.lanes_decided);
	/*
	 * A mark since: a round trip whose ping left after it counts; one whose
	 * ping left before it is judged from the mark before, and the bytes
	 * since that one say it was not quiet.
	 */
	mark_back(&s, 10);
	lanes_rtt(&s, 15);
	CHECK_EQ_INT(s.rtt_samples, 1);
	lanes_rtt(&s, 5);
	CHECK_EQ_INT(s.rtt_samples, 2);
	/* A ping older than every mark the ring still holds: not counted. */
	for (k = 0; k < SESSION_RTT_MARKS; k++)
		mark_back(&s, 10);
	lanes_rtt(&s, 15);
	CHECK_EQ_INT(s.rtt_samples, 2);
	CHECK(!s.lanes_decided);
	/* Quiet since its mark: it counts, and the smallest decides. */
	tick_rtt(&s, 150);
	CHECK(s.lanes_decided);
	CHECK_EQ_INT(s.n_lanes, 1);
	CHECK(s.split == SPLIT_ON_TYPING);

	mux_free(m);
	close(keep);
	evloop_close(&loop);
}

/* n round trips of rtt_ms, each of lanes_tick's pings, behind bulk on lane 0. */
static void busy_rtts(struct evloop *loop, struct session *s, struct mux *m, int keep, int rtt_ms,
		      unsigned n)
{
	unsigned k;

	for (k = 0; k < n; k++) {
		mark_back(s, rtt_ms);
		CHECK(move_more(loop, m, keep, LANES_QUIET_BYTES + 4096));
		lanes_rtt(s, rtt_ms);
	}
}

/*
 * A transfer that never pauses: the path decides all the same, after
 * LANES_BUSY_SAMPLES round trips in all, on the smallest of them, quiet or
 * busy. A long one set aside for the CPUs does not count, busy or not.
 */
static void test_rtt_busy(void)
{
	static const struct {
		int quiet[2], n_quiet;
		int busy[LANES_BUSY_SAMPLES];
		unsigned lanes;
	} cases[] = {
	    {{0}, 0, {150, 160, 140, 155, 150, 170}, 8},
	    {{0}, 0, {31, 60, 45, 90, 33, 40}, 8},
	    {{0}, 0, {8, 30, 12, 25, 40, 9}, 1},
	    {{0}, 0, {35, 60, 45, 19, 33, 40}, 1},
	    {{150, 140}, 2, {160, 155, 170, 150}, 8},
	    /* The quiet ones are the smallest: they decide. */
	    {{5, 9}, 2, {160, 155, 170, 150}, 1},
	};
	struct evloop loop;
	struct session s;
	struct mux *m;
	int keep = -1, k;
	size_t i;

	CHECK_EQ_INT(evloop_init(&loop), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n_busy = LANES_BUSY_SAMPLES - cases[i].n_quiet;

		m = busy_fresh(&loop, &s, &keep);
		for (k = 0; k < cases[i].n_quiet; k++)
			tick_rtt(&s, cases[i].quiet[k]);
		CHECK_EQ_INT(s.rtt_samples, cases[i].n_quiet);
		for (k = 0; k < n_busy; k++) {
			CHECK(!s.lanes_decided);
			busy_rtts(&loop, &s, m, keep, cases[i].busy[k], 1);
		}
		CHECK_EQ_INT(s.rtt_busy_samples, n_busy);
		CHECK(s.lanes_decided);
		if (cases[i].lanes > 1) {
			CHECK_EQ_INT(s.n_lanes, cases[i].lanes + 1);
			CHECK(s.split == SPLIT_ON);
		} else {
			CHECK_EQ_INT(s.n_lanes, 1);
			CHECK(s.split == SPLIT_ON_TYPING);
		}
		mux_free(m);
		close(keep);
	}

	/* Busy and stalled: set aside, not counted; then one short of the count decides nothing. */
	m = busy_fresh(&loop, &s, &keep);
	for (k = 0; k < LANES_BUSY_SAMPLES + 1; k++) {
		mark_back(&s, 150);
		fake_stall += 100000;
		CHECK(move_more(&loop, m, keep, LANES_QUIET_BYTES + 4096));
		lanes_rtt(&s, 150);
	}
	CHECK_EQ_INT(s.rtt_busy_samples, 0);
	CHECK_EQ_INT(s.rtt_stalled, LANES_BUSY_SAMPLES + 1);
	busy_rtts(&loop, &s, m, keep, 150, LANES_BUSY_SAMPLES - 1);
	CHECK_EQ_INT(s.rtt_busy_samples, LANES_BUSY_SAMPLES - 1);
	CHECK(!s.lanes_decided);
	/*
	 * Decided on busy ones: a quiet one short enough for a LAN takes it
	 * back (a slow LAN's queue made the path look long); busy ones and
	 * quiet long ones do not, and LANES_RTT_SAMPLES quiet long ones end
	 * the doubt.
	 */
	CHECK(move_more(&loop, m, keep, LANES_QUIET_BYTES + 4096));
	mark_back(&s, 90);
	CHECK(move_more(&loop, m, keep, LANES_QUIET_BYTES + 4096));
	lanes_rtt(&s, 90);
	CHECK(s.lanes_decided && s.decided_busy);
	CHECK_EQ_INT(s.n_lanes, 9);
	mark_back(&s, 5);
	CHECK(move_more(&loop, m, keep, LANES_QUIET_BYTES + 4096));
	lanes_rtt(&s, 5);
	CHECK_EQ_INT(s.n_lanes, 9);
	/* Lane 0 quiet, but a further lane busy (in the same slow queue): no. */
	fake_now += 1000;
	s.load[3].busy = true;
	tick_rtt(&s, 5);
	CHECK(s.decided_busy);
	CHECK_EQ_INT(s.n_lanes, 9);
	s.load[3].busy = false;
	/* (a second later: each mark its own time) */
	fake_now += 1000;
	tick_rtt(&s, 5);
	CHECK(!s.decided_busy);
	CHECK_EQ_INT(s.n_lanes, 1);
	CHECK(s.split == SPLIT_ON_TYPING);
	fake_now += 1000;
	tick_rtt(&s, 150);
	CHECK_EQ_INT(s.n_lanes, 1);
	mux_free(m);
	close(keep);

	/* Confirmed long: quiet ones change nothing after. */
	m = busy_fresh(&loop, &s, &keep);
	busy_rtts(&loop, &s, m, keep, 100, LANES_BUSY_SAMPLES);
	CHECK(s.lanes_decided && s.decided_busy);
	for (k = 0; k < LANES_RTT_SAMPLES; k++) {
		CHECK(s.decided_busy);
		fake_now += 1000;
		tick_rtt(&s, 100);
	}
	CHECK(!s.decided_busy);
	fake_now += 1000;
	tick_rtt(&s, 5);
	CHECK_EQ_INT(s.n_lanes, 9);
	mux_free(m);
	close(keep);

	/*
	 * Cut by a lane that failed for good (lane 1 needed a prompt), with a
	 * session typed on: taken back, the cut stays, and nothing splits.
	 */
	m = busy_fresh(&loop, &s, &keep);
	s.typed = true;
	busy_rtts(&loop, &s, m, keep, 100, LANES_BUSY_SAMPLES);
	CHECK(s.decided_busy && s.split == SPLIT_ON);
	s.n_lanes = 1;
	fake_now += 1000;
	tick_rtt(&s, 5);
	CHECK(!s.decided_busy);
	CHECK_EQ_INT(s.n_lanes, 1);
	CHECK(!lanes_split(&s));
	mux_free(m);
	close(keep);
	evloop_close(&loop);
}

/*
 * Split (the path decided): lane 0 keeps the streams to where people type,
 * and the further lanes that are up take every other; with none up yet,
 * lane 0 takes all. --lanes: lane 0 is one lane like the others.
 */
static void test_pick_split(void)
{
	static const uint16_t typed[] = {22, 23, 3389, 5900, 5909};
	static const uint16_t bulk[] = {21, 24, 80, 443, 2222, 3388, 3390, 5899, 5910, 8080};
	struct evloop loop;
	struct session s;
	struct mux *m[3];
	int keep[32], n_keep = 0;
	size_t k;

	for (k = 0; k < sizeof(typed) / sizeof(typed[0]); k++)
		CHECK(lanes_interactive_port(&opts, typed[k]));
	for (k = 0; k < sizeof(bulk) / sizeof(bulk[0]); k++)
		CHECK(!lanes_interactive_port(&opts, bulk[k]));

	three_lanes(&loop, &s, m);
	s.split = SPLIT_ON;
	CHECK(lanes_split(&s));

	/* No further lane up yet: everything on lane 0. */
	CHECK(open_to(&s, 80, 0, &keep[n_keep++]) == m[0]);
	CHECK(open_to(&s, 22, 0, &keep[n_keep++]) == m[0]);
	s.lane[1].up = s.lane[2].up = true;
	/* Up: bulk over them however many lane 0 carries, and never lane 0 however few. */
	CHECK(open_to(&s, 80, 0, &keep[n_keep++]) == m[1]);
	CHECK(open_to(&s, 443, 0, &keep[n_keep++]) == m[2]);
	CHECK(open_to(&s, 8080, 0, &keep[n_keep++]) == m[1]);
	for (k = 0; k < 3; k++)
		CHECK(open_to(&s, 22, 0, &keep[n_keep++]) == m[0]);
	CHECK(open_to(&s, 5901, 0, &keep[n_keep++]) == m[0]);
	CHECK(open_to(&s, 3389, 0, &keep[n_keep++]) == m[0]);
	CHECK_EQ_INT(streams_of(m[0]), 7);
	CHECK(open_to(&s, 80, 0, &keep[n_keep++]) == m[2]);
	/* DNS stays on lane 0, on any port. */
	CHECK(open_to(&s, 53, WIRE_OPEN_F_DNS, &keep[n_keep++]) == m[0]);
	/* One further lane down: the other takes the bulk. */
	s.lane[2].up = false;
	CHECK(open_to(&s, 80, 0, &keep[n_keep++]) == m[1]);
	s.lane[2].up = true;
	/*
	 * A fatal failure cut the lanes to lane 0 (n_lanes 1): no split, and
	 * the lanes still up above it are going (lanes_shed): lane 0. Its
	 * share of the caps grows only as they close: one of three each.
	 */
	CHECK_EQ_INT(session_shares(&s), 3);
	s.n_lanes = 1;
	CHECK(!lanes_split(&s));
	CHECK_EQ_INT(session_shares(&s), 3);
	s.lane[2].up = false;
	CHECK_EQ_INT(session_shares(&s), 2);
	s.lane[1].up = false;
	CHECK_EQ_INT(session_shares(&s), 1);
	s.lane[1].up = s.lane[2].up = true;
	CHECK(open_to(&s, 443, 0, &keep[n_keep++]) == m[0]);
	/* --lanes 3: no split; ssh goes where the fewest are. */
	s.n_lanes = 3;
	s.split = SPLIT_NONE;
	CHECK(open_to(&s, 22, 0, &keep[n_keep++]) != m[0]);

	/* A LAN: lane 0 alone until the first interactive session, which asks for lane 1, once. */
	s.n_lanes = 1;
	s.split = SPLIT_ON_TYPING;
	s.lane[1].up = s.lane[2].up = false;
	CHECK(open_to(&s, 80, 0, &keep[n_keep++]) == m[0]);
	CHECK_EQ_INT(s.n_lanes, 1);
	CHECK(open_to(&s, 22, 0, &keep[n_keep++]) == m[0]);
	CHECK_EQ_INT(s.n_lanes, 2);
	CHECK(lanes_split(&s) && s.split == SPLIT_ON);
	CHECK(open_to(&s, 80, 0, &keep[n_keep++]) == m[0]); /* lane 1 not up yet */
	s.lane[1].up = true;
	CHECK(open_to(&s, 80, 0, &keep[n_keep++]) == m[1]);
	CHECK(open_to(&s, 22, 0, &keep[n_keep++]) == m[0]);
	/* An interactive session before the path decided: a LAN gets lane 1 at once. */
	session_fresh(&s);
	s.mux = m[0];
	CHECK(open_to(&s, 22, 0, &keep[n_keep++]) == m[0]);
	for (k = 0; k < LANES_RTT_SAMPLES; k++)
		lanes_rtt(&s, 1);
	CHECK(s.lanes_decided && lanes_split(&s) && s.split == SPLIT_ON);
	CHECK_EQ_INT(s.n_lanes, 2);
	/* Lane 1 failed for good (n_lanes back to 1): a later session asks for nothing. */
	s.lane[1].up = false;
	s.n_lanes = 1;
	CHECK(open_to(&s, 22, 0, &keep[n_keep++]) == m[0]);
	CHECK_EQ_INT(s.n_lanes, 1);

	three_lanes_free(&loop, m, keep, n_keep);
}

/* A stream to port through lanes_open itself; the socketpair's other end is kept. */
static int open_via(struct session *s, uint16_t port, int *keep)
{
	struct wire_open dst = {.family = AF_INET, .port = port};
	int sp[2], ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) < 0)
		return -errno;
	*keep = sp[1];
	ret = lanes_open(s, sp[0], &dst);
	if (ret < 0)
		close(sp[0]);
	return ret;
}

/*
 * A lane that cannot take a stream passes it to the next-best further
 * lane; lane 0, kept for typing, takes it only when no further lane will.
 */
static void test_open_refused(void)
{
	struct evloop loop;
	struct session s;
	struct mux *m[3];
	int keep[16], n_keep = 0;

	three_lanes(&loop, &s, m);
	s.split = SPLIT_ON;
	s.lane[1].up = s.lane[2].up = true;

	/*
	 * Lane 1 would be next (fewest, never given one) but is full: lane 2
	 * takes it, and the turn is lane 2's alone.
	 */
	mux_set_max_streams(m[1], 0);
	CHECK_EQ_INT(open_via(&s, 80, &keep[n_keep++]), 0);
	CHECK_EQ_INT(streams_of(m[2]), 1);
	CHECK_EQ_INT(streams_of(m[0]), 0);
	CHECK_EQ_INT(streams_of(m[1]), 0);
	CHECK_EQ_INT(s.load[1].picked, 0);
	CHECK_EQ_INT(s.load[2].picked, s.picks);
	CHECK_EQ_INT(s.picks, 1);
	/* Both full: lane 0 rather than nobody. */
	mux_set_max_streams(m[2], 1);
	CHECK_EQ_INT(open_via(&s, 80, &keep[n_keep++]), 0);
	CHECK_EQ_INT(streams_of(m[0]), 1);
	CHECK_EQ_INT(streams_of(m[2]), 1);
	/* Lane 0 full as well: the caller keeps the connection. */
	mux_set_max_streams(m[0], 1);
	CHECK_EQ_INT(open_via(&s, 80, &keep[n_keep++]), -ENOSPC);
	/* Room again on lane 1: it takes the next. */
	mux_set_max_streams(m[1], 8);
	CHECK_EQ_INT(open_via(&s, 80, &keep[n_keep++]), 0);
	CHECK_EQ_INT(streams_of(m[1]), 1);
	/* A typing session lane 0 cannot take is refused, not sent to a bulk lane. */
	CHECK_EQ_INT(open_via(&s, 22, &keep[n_keep++]), -ENOSPC);
	CHECK_EQ_INT(streams_of(m[1]), 1);
	CHECK_EQ_INT(streams_of(m[2]), 1);

	/* Not split (--lanes): lane 0 is one lane like the others, and when full passed over too.
	 */
	s.split = SPLIT_NONE;
	CHECK(!lanes_split(&s));
	mux_set_max_streams(m[1], 1);
	mux_set_max_streams(m[2], 8);
	/* One stream each, lane 2 given one longest ago: it takes the next. */
	CHECK_EQ_INT(open_via(&s, 80, &keep[n_keep++]), 0);
	CHECK_EQ_INT(streams_of(m[2]), 2);
	/* Now lane 0 is the best (fewest, waited longest), but full; lane 1 next, full too. */
	CHECK_EQ_INT(open_via(&s, 80, &keep[n_keep++]), 0);
	CHECK_EQ_INT(streams_of(m[2]), 3);
	CHECK_EQ_INT(streams_of(m[0]), 1);
	CHECK_EQ_INT(streams_of(m[1]), 1);

	three_lanes_free(&loop, m, keep, n_keep);
}

/*
 * A refused session is given up at once; a drop before the banner after a
 * few tries; else never, a proxy that lets nothing through included.
 */
static void test_give_up(void)
{
	unsigned n;

	CHECK(lanes_give_up(LANE_LIMIT_SESSIONS, 1));
	for (n = 1; n < LANES_LIMIT_TRIES; n++)
		CHECK(!lanes_give_up(LANE_LIMIT_STARTUPS, n));
	CHECK(lanes_give_up(LANE_LIMIT_STARTUPS, LANES_LIMIT_TRIES));
	CHECK(lanes_give_up(LANE_LIMIT_STARTUPS, LANES_LIMIT_TRIES + 1));
	for (n = 0; n < 100; n++)
		CHECK(!lanes_give_up(LANE_LIMIT_PROXY, n));
	for (n = 0; n < 100; n++)
		CHECK(!lanes_give_up(LANE_LIMIT_NONE, n));
}

/*
 * The line on a limit waits for the lanes still trying against one, and
 * comes once.
 */
static void test_limit_told_once(void)
{
	struct session s;

	session_fresh(&s);
	s.n_lanes = 4;
	lanes_pump(&s);
	CHECK(!s.limit_said); /* nothing was refused */
	s.limit_hit = LANE_LIMIT_STARTUPS;
	s.lane[1].refusals = LANES_LIMIT_TRIES;
	s.lane[1].refused = true;
	s.lane[2].refusals = 1; /* waits for its next try */
	lanes_pump(&s);
	CHECK(!s.limit_said);
	s.lane[2].refusals = LANES_LIMIT_TRIES;
	s.lane[2].refused = true;
	lanes_pump(&s);
	CHECK(s.limit_said);
	s.limit_said = false;
	s.limit_hit = LANE_LIMIT_NONE;
	lanes_pump(&s);
	CHECK(!s.limit_said); /* without a limit hit there is nothing to say */
}

/* Three muxes as three_lanes has them, on a LAN that decided: lane 0 alone, until someone types. */
static void lan_lanes(struct evloop *loop, struct session *s, struct mux *m[3])
{
	three_lanes(loop, s, m);
	s->n_lanes = 1;
	s->lanes_decided = true;
	s->split = SPLIT_ON_TYPING;
}

/* --interactive-ports: the list given, not the default, decides where a stream goes. */
static void test_pick_ports(void)
{
	struct opts_ports keep_ports[OPTS_MAX_PORTS];
	size_t keep_n = opts.n_interactive;
	struct evloop loop;
	struct session s;
	struct mux *m[3];
	int keep[8], n_keep = 0;
	int k;

	memcpy(keep_ports, opts.interactive, sizeof(keep_ports));
	CHECK_EQ_INT(opts_parse_ports("2222,8000-8001", opts.interactive, OPTS_MAX_PORTS,
				      &opts.n_interactive),
		     0);
	CHECK(lanes_interactive_port(&opts, 2222));
	CHECK(lanes_interactive_port(&opts, 8001));
	CHECK(!lanes_interactive_port(&opts, 22));
	CHECK(!lanes_interactive_port(&opts, 8002));

	/* A LAN: port 22 is now like any other, 2222 opens lane 1 and stays on lane 0. */
	lan_lanes(&loop, &s, m);
	CHECK(open_to(&s, 22, 0, &keep[n_keep++]) == m[0]);
	CHECK(s.split == SPLIT_ON_TYPING && s.n_lanes == 1);
	CHECK(open_to(&s, 2222, 0, &keep[n_keep++]) == m[0]);
	CHECK(lanes_split(&s) && s.n_lanes == 2);
	s.lane[1].up = true;
	CHECK(open_to(&s, 22, 0, &keep[n_keep++]) == m[1]);
	CHECK(open_to(&s, 8000, 0, &keep[n_keep++]) == m[0]);

	three_lanes_free(&loop, m, keep, n_keep);
	n_keep = 0;

	/* none: nothing is interactive, so nothing opens lane 1 on a LAN... */
	CHECK_EQ_INT(
	    opts_parse_ports("none", opts.interactive, OPTS_MAX_PORTS, &opts.n_interactive), 0);
	CHECK_EQ_INT((int)opts.n_interactive, 0);
	CHECK(!lanes_interactive_port(&opts, 22));
	lan_lanes(&loop, &s, m);
	CHECK(open_to(&s, 22, 0, &keep[n_keep++]) == m[0]);
	CHECK(s.split == SPLIT_ON_TYPING && s.n_lanes == 1);
	three_lanes_free(&loop, m, keep, n_keep);
	n_keep = 0;
	/* ...and on a long path lane 0 takes streams with the path's lanes: no lane stands idle. */
	three_lanes(&loop, &s, m);
	s.n_lanes = 1;
	for (k = 0; k < LANES_RTT_SAMPLES; k++)
		tick_rtt(&s, 30);
	CHECK(s.lanes_decided && !lanes_split(&s));
	CHECK_EQ_INT(s.n_lanes, 1 + lanes_for_rtt(30));
	s.lane[1].up = s.lane[2].up = true;
	CHECK(open_to(&s, 80, 0, &keep[n_keep++]) == m[0]);
	CHECK(open_to(&s, 80, 0, &keep[n_keep++]) == m[1]);
	CHECK(open_to(&s, 22, 0, &keep[n_keep++]) == m[2]);
	three_lanes_free(&loop, m, keep, n_keep);
	memcpy(opts.interactive, keep_ports, sizeof(keep_ports));
	opts.n_interactive = keep_n;
}

/* Lanes 1 to 8 that lanes_tick is now logging in, in their workers. */
static unsigned lanes_opening(const struct session *s)
{
	unsigned i, n = 0;

	for (i = 1; i < SESSION_LANES_MAX; i++)
		n += s->lane[i].opening;
	return n;
}

/*
 * At most LANES_OPENING_MAX further lanes log in at a time, each in a
 * real worker. Nothing here reads the workers' answers (no lanes_pump),
 * so a lane stays opening until it is closed; the loopback listener that
 * never accepts only keeps the workers' logins harmless meanwhile.
 */
static void test_opening_cap(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sshconf mute = {.hostname = "127.0.0.1"};
	struct session_args a = args;
	socklen_t slen = sizeof(sin);
	struct transport tr;
	struct evloop loop;
	struct session s;
	unsigned i;
	int lfd;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0);
	CHECK(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CHECK(listen(lfd, 16) == 0);
	CHECK(getsockname(lfd, (struct sockaddr *)&sin, &slen) == 0);
	mute.port = ntohs(sin.sin_port);
	a.cfg = &mute;
	CHECK_EQ_INT(evloop_init(&loop), 0);
	memset(&tr, 0, sizeof(tr));
	session_fresh(&s);
	s.a = &a;
	for (i = 0; i < SESSION_LANES_MAX; i++)
		s.lane[i] = (struct lane){.s = &s, .idx = i};
	s.tr = &tr;
	s.up = true;
	s.lanes_decided = true;
	s.n_lanes = 1 + LANES_AUTO_MAX;
	CHECK(LANES_AUTO_MAX > LANES_OPENING_MAX);

	lanes_tick(&s, &loop);
	CHECK_EQ_INT(lanes_opening(&s), LANES_OPENING_MAX);
	for (i = 1; i <= LANES_OPENING_MAX; i++)
		CHECK(s.lane[i].opening);
	/* Still in their logins: the next tick starts no more. */
	lanes_tick(&s, &loop);
	CHECK_EQ_INT(lanes_opening(&s), LANES_OPENING_MAX);
	CHECK(!s.lane[LANES_OPENING_MAX + 1].opening);
	/* One ends (refused for good here, so it is not tried again): the next lane due takes its
	 * place. */
	session_lane_close(&s, 1);
	s.lane[1].refused = true;
	lanes_tick(&s, &loop);
	CHECK_EQ_INT(lanes_opening(&s), LANES_OPENING_MAX);
	CHECK(!s.lane[1].opening);
	CHECK(s.lane[LANES_OPENING_MAX + 1].opening);
	CHECK(!s.lane[LANES_OPENING_MAX + 2].opening);

	for (i = 1; i < SESSION_LANES_MAX; i++)
		session_lane_close(&s, i);
	CHECK_EQ_INT(lanes_opening(&s), 0);
	evloop_close(&loop);
	close(lfd);
}

int main(void)
{
	log_init("test_lanes", LOG_WARN);
	lanes_set_probes(fake_clock, fake_stall_read);
	/* What opts_parse starts from: the default interactive ports. */
	if (opts_parse_ports(OPTS_INTERACTIVE_DEFAULT, opts.interactive, OPTS_MAX_PORTS,
			     &opts.n_interactive) < 0)
		return 1;
	RUN(test_rtt_decides);
	RUN(test_for_rtt);
	RUN(test_rtt_quiet);
	RUN(test_rtt_stalled);
	RUN(test_rtt_busy);
	RUN(test_pick);
	RUN(test_pick_split);
	RUN(test_pick_tie);
	RUN(test_pick_busy);
	RUN(test_pick_ports);
	RUN(test_open_refused);
	RUN(test_give_up);
	RUN(test_limit_told_once);
	RUN(test_opening_cap);
	T_EXIT();
}
