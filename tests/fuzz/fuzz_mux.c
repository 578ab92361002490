/*
 * The mux fed a byte stream as the peer would send it, on either side (the
 * first byte chooses, the second how the stream is cut into reads). OPENs
 * are refused (no sockets), session frames are taken and dropped.
 */
#include <errno.h>

#include "../../common/mux.h"
#include "fuzz.h"

static int refuse(void *ctx, const struct wire_open *dst)
{
	return -ECONNREFUSED;
}

static int take(void *ctx, const struct wire_frame *f)
{
	return f->type == WIRE_HOST || f->type == WIRE_ROUTES ? 0 : -EPROTO;
}

static const struct mux_ops client_ops = {.ctl = take};
static const struct mux_ops helper_ops = {.connect = refuse, .ctl = take};

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
		mux_set_window_max(m, 4 << 20, 0, 10);
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
		/* Whatever it answers leaves, as the pipe would take it. */
		mux_fill(m);
		while (mux_out_peek(m, &len) && len)
			mux_out_consume(m, len);
	}
	mux_free(m);
	evloop_close(&loop);
	return 0;
}
