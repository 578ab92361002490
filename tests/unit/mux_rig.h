/*
 * mux_rig.h: two muxes wired back to back in one process (the client's and
 * the helper's), for the unit tests of the mux and of its faults. Bytes
 * are moved between them by hand; streams are real sockets.
 */
#ifndef SLUICE_MUX_RIG_H
#define SLUICE_MUX_RIG_H

#include <errno.h>
#include <string.h>

#include "../../common/mux.h"
#include "t.h"

struct rig {
	struct evloop loop;
	struct mux *c, *h;
	int proto_err;
};

/* Move queued output of one mux into the other, as much as fits. 1 when something moved. */
static inline int rig_move(struct mux *from, struct mux *to, int *err)
{
	size_t len, room;
	const uint8_t *p;
	uint8_t *q;
	int ret;

	mux_fill(from);
	p = mux_out_peek(from, &len);
	if (!len)
		return 0;
	q = mux_in_space(to, &room);
	if (len > room)
		len = room;
	memcpy(q, p, len);
	mux_out_consume(from, len);
	ret = mux_in_commit(to, len);
	if (ret < 0)
		*err = ret;
	return 1;
}

static inline void rig_pump(struct rig *r, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		int moved =
		    rig_move(r->c, r->h, &r->proto_err) | rig_move(r->h, r->c, &r->proto_err);
		evloop_run_once(&r->loop, moved ? 0 : 2);
	}
}

/* Both muxes with this per-stream window; h_ops must answer OPENs. */
static inline void rig_open(struct rig *r, uint32_t window, const struct mux_ops *c_ops,
			    const struct mux_ops *h_ops)
{
	memset(r, 0, sizeof(*r));
	evloop_init(&r->loop);
	r->c = mux_new(&r->loop, window, 64 << 10, c_ops, NULL);
	r->h = mux_new(&r->loop, window, 64 << 10, h_ops, NULL);
	mux_set_peer_window(r->c, window);
	mux_set_peer_window(r->h, window);
}

static inline void rig_free(struct rig *r)
{
	mux_free(r->c);
	mux_free(r->h);
	evloop_close(&r->loop);
}

/* A connected AF_UNIX pair with small buffers (a reader that takes little), non-blocking. */
static inline struct t_pair rig_small_pair(void)
{
	struct t_pair p = {-1, -1};
	int sv[2], small = 4096;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return p;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	p.a = sv[0];
	p.b = sv[1];
	return p;
}

/*
 * The helper side's connect op for a rig: it gets rig_next_fd (once), or
 * fails with rig_connect_err when that is set.
 */
static int rig_next_fd = -1;
static int rig_connect_err;

static inline int rig_connect(void *ctx, const struct wire_open *dst)
{
	int fd = rig_next_fd;

	if (rig_connect_err)
		return -rig_connect_err;
	rig_next_fd = -1;
	return fd >= 0 ? fd : -ECONNREFUSED;
}

/*
 * Open a stream from the client side over rig_small_pair()s (readers that
 * take little): the app's end in *app, the far server's in *far. 0 when
 * opened. The OPEN is delivered at once, while rig_next_fd is this stream's.
 */
static inline int rig_open_small(struct rig *r, int *app, int *far)
{
	struct t_pair local = rig_small_pair(), remote = rig_small_pair();
	struct wire_open o = {.family = AF_INET, .port = 80, .addr = {192, 0, 2, 1}};

	if (local.a < 0 || remote.a < 0)
		return -1;
	rig_next_fd = remote.a;
	if (mux_open_stream(r->c, local.a, &o) < 0)
		return -1;
	rig_pump(r, 3);
	*app = local.b;
	*far = remote.b;
	return 0;
}

#endif
