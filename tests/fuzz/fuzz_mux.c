/*
 * The mux fed a byte stream as the peer would send it, on either side (the
 * first byte chooses, the second how the stream is cut into reads). Streams
 * are real, on socketpairs (never a network socket): the helper side's
 * connects get one end, and the client side has streams 1 and 3 open (ids
 * from 1, in steps of 2) before the peer's bytes come. The far ends take
 * what arrives and say a little back.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/mux.h"
#include "fuzz.h"

#define FAR_MAX 16

static int far[FAR_MAX], n_far;

/* One end for the mux, non-blocking; the other kept here. */
static int pair(void)
{
	int sp[2];

	if (n_far == FAR_MAX || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) < 0)
		return -ECONNREFUSED;
	far[n_far++] = sp[1];
	(void)!write(sp[1], "hello", 5);
	return sp[0];
}

static int dial(void *ctx, const struct wire_open *dst)
{
	return pair();
}

static int take(void *ctx, const struct wire_frame *f)
{
	return f->type == WIRE_HOST || f->type == WIRE_ROUTES ? 0 : -EPROTO;
}

static const struct mux_ops client_ops = {.ctl = take};
static const struct mux_ops helper_ops = {.connect = dial, .ctl = take};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evloop loop;
	struct mux *m;
	size_t off = 2, chunk;

	if (size < 2 || evloop_init(&loop) < 0)
		return 0;
	m = mux_new(&loop, 1 << 20, 64 << 10, data[0] & 1 ? &helper_ops : &client_ops, NULL);
	if (!m) {
		evloop_close(&loop);
		return 0;
	}
	mux_set_peer_window(m, 1 << 20);
	if (data[0] & 2)
		mux_set_credit(m, 4 << 20, 8 << 20, 10);
	n_far = 0;
	if (!(data[0] & 1)) {
		struct wire_open dst = {.family = 2, .port = 80, .addr = {198, 51, 100, 2}};

		for (int i = 0; i < 2; i++) {
			int fd = pair();
			if (fd >= 0 && mux_open_stream(m, fd, &dst) < 0)
				close(fd);
		}
	}
	chunk = (size_t)data[1] * 7 + 1;
	while (off < size) {
		size_t room, n = size - off < chunk ? size - off : chunk, len;
		uint8_t *p = mux_in_space(m, &room);

		if (n > room)
			n = room;
		memcpy(p, data + off, n);
		off += n;
		if (mux_in_commit(m, n) < 0)
			break;
		/* Whatever it answers leaves, as the pipe would take it; sockets get their turn. */
		evloop_run_once(&loop, 0);
		mux_fill(m);
		while (mux_out_peek(m, &len) && len)
			mux_out_consume(m, len);
	}
	mux_free(m);
	for (int i = 0; i < n_far; i++)
		close(far[i]);
	evloop_close(&loop);
	return 0;
}
