/*
 * Unit tests for the mux's scheduler, with a simulated clock: a stream that
 * sent little lately (sparse) goes out ahead of bulk data already queued,
 * bulk streams share by bytes, and no stream's bytes are reordered. Both
 * ends run the same code: uploads leave the client's mux, downloads the
 * helper's.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mux_rig.h"

static uint64_t sim_ms = 1000;

static uint64_t sim_clock(void *arg)
{
	return sim_ms;
}

static const struct mux_ops client_ops = {0};
static const struct mux_ops helper_ops = {.connect = rig_connect};

struct ends {
	struct rig r;
	struct mux *snd;
};

/* A stream: where its sender's data is written, and where it comes out. */
struct st {
	int wr, rd;
	uint32_t id;
	size_t wrote, read, bad;
};

static unsigned char pat(uint32_t id, size_t off)
{
	return (unsigned char)(off * 7 + id * 31);
}

static void ends_open(struct ends *e, bool upload)
{
	rig_open(&e->r, 4u << 20, &client_ops, &helper_ops);
	rig_connect_err = 0;
	mux_set_clock(e->r.c, sim_clock, NULL);
	mux_set_clock(e->r.h, sim_clock, NULL);
	e->snd = upload ? e->r.c : e->r.h;
}

static void st_open(struct ends *e, struct st *s, uint32_t id)
{
	struct t_pair local = t_tcp_pair(), far = t_tcp_pair();
	struct wire_open o = {.family = AF_INET, .port = 80, .addr = {192, 0, 2, 1}};
	int big = 4 << 20;

	memset(s, 0, sizeof(*s));
	s->id = id;
	rig_next_fd = far.a;
	CHECK_EQ_INT(mux_open_stream(e->r.c, local.a, &o), 0);
	rig_pump(&e->r, 3);
	s->wr = e->snd == e->r.c ? local.b : far.b;
	s->rd = e->snd == e->r.c ? far.b : local.b;
	setsockopt(s->wr, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
}

static void st_write(struct st *s, size_t n)
{
	static unsigned char buf[65536];

	while (n > 0) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);
		ssize_t w;
		for (size_t i = 0; i < k; i++)
			buf[i] = pat(s->id, s->wrote + i);
		w = write(s->wr, buf, k);
		if (w <= 0)
			break;
		s->wrote += (size_t)w;
		n -= (size_t)w;
	}
}

static void st_read(struct st *s)
{
	static unsigned char buf[65536];
	ssize_t n;

	while ((n = read(s->rd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pat(s->id, s->read + (size_t)i))
				s->bad++;
		s->read += (size_t)n;
	}
}

/*
 * Take up to max bytes of the sender's output, whole frames, as the
 * transport would, and deliver them to the other end. ids[] gets the stream
 * of each DATA frame in order; returns how many.
 */
static int take_frames(struct ends *e, size_t max, uint32_t *ids, int max_ids)
{
	static uint8_t wire[4 << 20];
	struct mux *to = e->snd == e->r.c ? e->r.h : e->r.c;
	struct wire_frame f;
	size_t have = 0, off = 0, len, room;
	const uint8_t *p;
	uint8_t *q;
	int n = 0, r;

	evloop_run_once(&e->r.loop, 0);
	mux_fill(e->snd);
	while (have < max) {
		p = mux_out_peek(e->snd, &len);
		if (!len)
			break;
		if (len > sizeof(wire) - have)
			len = sizeof(wire) - have;
		memcpy(wire + have, p, len);
		mux_out_consume(e->snd, len);
		have += len;
	}
	while ((r = wire_parse(wire + off, have - off, &f)) > 0) {
		if (f.type == WIRE_DATA && n < max_ids)
			ids[n++] = f.stream;
		off += (size_t)r;
	}
	CHECK_EQ_INT(off, have);
	/* Deliver them, so credit comes back and the bytes can be checked. */
	for (off = 0; off < have; off += len) {
		q = mux_in_space(to, &room);
		len = have - off < room ? have - off : room;
		memcpy(q, wire + off, len);
		if (mux_in_commit(to, len) < 0)
			e->r.proto_err = -1;
	}
	return n;
}

/* Let everything in flight arrive, and read it. */
static void settle_all(struct ends *e, struct st *s, int n)
{
	uint32_t ids[1024];

	for (int i = 0; i < 200; i++) {
		size_t before = 0, after = 0;
		for (int k = 0; k < n; k++)
			before += s[k].read;
		take_frames(e, SIZE_MAX, ids, 1024);
		rig_pump(&e->r, 1);
		for (int k = 0; k < n; k++) {
			st_read(&s[k]);
			after += s[k].read;
		}
		if (after == before && i > 2)
			break;
	}
}

static void sparse_goes_first(bool upload)
{
	struct ends e;
	struct st s[3];
	struct mux_stats st;
	uint32_t ids[1024];
	int n, first_b = -1, bulk_before = 0, bulk_after = 0, a = 0, c = 0;

	ends_open(&e, upload);
	st_open(&e, &s[0], 1);
	st_open(&e, &s[2], 2);
	st_open(&e, &s[1], 3);
	/* Two bulk streams well past their first chunk, with frames queued. */
	st_write(&s[0], 1 << 20);
	st_write(&s[2], 1 << 20);
	for (int i = 0; i < 4; i++)
		take_frames(&e, 64 << 10, ids, 1024);
	mux_fill(e.snd);
	/* Now the sparse stream has a small request. */
	st_write(&s[1], 300);
	n = take_frames(&e, SIZE_MAX, ids, 1024);
	for (int i = 0; i < n; i++) {
		if (ids[i] == 3 && first_b < 0)
			first_b = i;
		else if (ids[i] != 3 && first_b < 0)
			bulk_before++;
		else if (ids[i] != 3)
			bulk_after++;
	}
	/* At most the frame that was under way, then the sparse one, then the bulk queued before.
	 */
	CHECK(first_b >= 0);
	CHECK(bulk_before <= 1);
	CHECK(bulk_after >= 1);
	/* The two bulk streams take turns, a chunk each. */
	for (int round = 0; round < 20; round++) {
		n = take_frames(&e, SIZE_MAX, ids, 1024);
		for (int i = 0; i < n; i++) {
			a += ids[i] == 1;
			c += ids[i] == 2;
		}
	}
	CHECK(a > 8 && c > 8);
	CHECK(a - c <= 1 && c - a <= 1);
	mux_get_stats(e.snd, &st);
	CHECK(st.sparse_bytes >= 300);
	settle_all(&e, s, 3);
	for (int k = 0; k < 3; k++) {
		CHECK_EQ_INT(s[k].read, s[k].wrote);
		CHECK_EQ_INT(s[k].bad, 0);
	}
	CHECK_EQ_INT(e.r.proto_err, 0);
	for (int k = 0; k < 3; k++)
		close(s[k].wr), close(s[k].rd);
	rig_free(&e.r);
}

static void test_sparse_first_upload(void)
{
	sparse_goes_first(true);
}

static void test_sparse_first_download(void)
{
	sparse_goes_first(false);
}

/*
 * A bulk stream that pauses long enough to count as sparse again while its
 * frames still wait in the bulk queue stays behind them: its bytes arrive
 * in order. After its queue has drained, it gets the sparse turn again.
 */
static void test_no_reorder_after_pause(void)
{
	struct ends e;
	struct st s;
	struct mux_stats st0, st1;
	uint32_t ids[1024];

	ends_open(&e, false);
	st_open(&e, &s, 1);
	/* A sparse chunk, then bulk frames queued until its socket runs dry; only the first goes.
	 */
	st_write(&s, 80 << 10);
	take_frames(&e, 1, ids, 1024);
	mux_get_stats(e.snd, &st0);
	CHECK(st0.sparse_bytes > 0);
	sim_ms += 1000;
	st_write(&s, 4 << 10);
	take_frames(&e, SIZE_MAX, ids, 1024);
	mux_get_stats(e.snd, &st1);
	CHECK_EQ_INT(st1.sparse_bytes, st0.sparse_bytes);
	settle_all(&e, &s, 1);
	CHECK_EQ_INT(s.read, s.wrote);
	CHECK_EQ_INT(s.bad, 0);
	/* Drained and quiet: sparse again. */
	sim_ms += 1000;
	st_write(&s, 100);
	take_frames(&e, SIZE_MAX, ids, 1024);
	mux_get_stats(e.snd, &st1);
	CHECK(st1.sparse_bytes >= st0.sparse_bytes + 100);
	settle_all(&e, &s, 1);
	CHECK_EQ_INT(s.read, s.wrote);
	CHECK_EQ_INT(s.bad, 0);
	CHECK_EQ_INT(e.r.proto_err, 0);
	close(s.wr), close(s.rd);
	rig_free(&e.r);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_sparse_first_upload);
	RUN(test_sparse_first_download);
	RUN(test_no_reorder_after_pause);
	T_EXIT();
}
