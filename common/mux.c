/*
 * mux: the stream relay shared by client and helper. It owns each stream's
 * socket, its credit in both directions, the bytes waiting for a slow local
 * reader, and the frame buffers towards and from the pipe.
 *
 * Sockets are edge-triggered and registered once; readiness lives in flags
 * so no epoll_ctl is needed per transfer. Streams with data to send and
 * credit to send it wait on one round-robin list; each turn reads at most one
 * chunk straight into the output buffer, which is what makes streams share
 * the pipe fairly and keeps copies to one per direction.
 */
#include "mux.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "idmap.h"

#define DATA_CAP    (2u << 20)
#define CTL_CAP	    (2u << 20)
#define CTL_RESERVE (1u << 20) /* of CTL_CAP, never taken by the owner's frames */
/*
 * Datagrams (UDP, ECHO) wait in a queue of their own: small, since a
 * datagram that waits long is worth less than one dropped, and bounded so a
 * UDP flood costs UDP, not DNS or the session's control frames.
 */
#define DGRAM_CAP   (128u << 10)
#define IN_CAP	    (256u << 10)
#define CHUNK	    (32u << 10)
#define RX_MIN	    (64u << 10)
#define MAX_STREAMS 200000u
#define MAX_CREDIT  (1u << 30)
#define RATE_MS	    50 /* the interval a lone stream's rate is measured over */

struct stream {
	struct ev_io io;
	struct mux *m;
	uint32_t id;
	struct wire_open dst;
	uint32_t send_credit; /* bytes we may still send to the peer */
	uint32_t recv_allow;  /* bytes the peer may still send us */
	uint32_t recv_done;   /* bytes passed to the socket, not yet granted back */
	uint8_t *rx;	      /* bytes from the peer the socket has not taken yet */
	size_t rx_head, rx_tail, rx_cap;
	struct stream *next, *prev; /* ready list */
	unsigned readable : 1, writable : 1, connecting : 1, queued : 1;
	unsigned rd_eof : 1;		    /* local read saw EOF and EOF frame is queued */
	unsigned peer_eof : 1;		    /* EOF frame received */
	unsigned wr_shut : 1;		    /* shutdown(SHUT_WR) done */
	uint64_t sent, received, opened_ms; /* for the owner's log when it ends */
};

struct mux {
	struct evloop *loop;
	const struct mux_ops *ops;
	void *ctx;
	uint32_t window, peer_window;
	uint32_t window_max; /* a lone stream's window; == window when not adaptive */
	unsigned alone_ms;
	uint32_t last_rx_id;  /* the stream of the last DATA frame in */
	uint64_t mixed_ms;    /* when DATA last came in for a different stream, or one opened */
	struct stream *grown; /* the one stream holding more than window, if any */
	unsigned budget_ms;
	unsigned rtt_ms;	 /* the owner's estimate of the pipe's round trip */
	bool have_rtt;		 /* rtt_ms came from a PONG (mux_pong_rtt) */
	uint64_t rate_start_ms;	 /* the current rate interval began */
	uint64_t rate_bytes;	 /* DATA bytes in during it */
	uint64_t rate_prev_bpms; /* bytes per ms over the last whole interval */
	size_t out_high;
	size_t buffered_max; /* all streams' buffers for local readers, together */
	size_t max_streams;
	size_t rx_alloc; /* what those buffers take now */
	struct idmap streams;
	uint32_t next_id;
	struct stream *ready_head, *ready_tail;
	/*
	 * Three output queues: DATA and EOF (which must stay in order per
	 * stream) in one, the owner's datagrams in another, every other
	 * frame in the third. Control frames go out first at the next frame
	 * boundary, so credit, opens and pings never wait behind bulk data
	 * or datagrams. Datagrams and stream data share what is left by
	 * bytes (dg_lead), so neither can starve the other.
	 */
	struct obuf {
		uint8_t *b;
		size_t head, tail;
		size_t left; /* bytes of the frame at head still to go; 0 = boundary (data, dg) */
	} data, ctl, dg;
	/* Bytes of stream data sent minus datagram bytes sent while both were waiting. */
	int64_t dg_lead;
	struct obuf *cur; /* the queue the last peek returned */
	bool pinned;
	bool overflow; /* a control frame did not fit: the peer stopped reading */
	uint8_t *in;
	size_t in_len;
	struct mux_stats st;
};

static void stream_event(struct ev_io *io, uint32_t events);
static uint64_t now_ms(void);

static void ready_push(struct mux *m, struct stream *s)
{
	if (s->queued)
		return;
	s->queued = 1;
	s->next = NULL;
	s->prev = m->ready_tail;
	if (m->ready_tail)
		m->ready_tail->next = s;
	else
		m->ready_head = s;
	m->ready_tail = s;
}

static void ready_unlink(struct mux *m, struct stream *s)
{
	if (!s->queued)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		m->ready_head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		m->ready_tail = s->prev;
	s->queued = 0;
	s->next = s->prev = NULL;
}

/* A stream goes on the ready list when reading it could produce a frame. */
static void stream_check_ready(struct stream *s)
{
	if (s->readable && !s->rd_eof && !s->connecting && s->send_credit > 0)
		ready_push(s->m, s);
}

static uint8_t *out_reserve(struct mux *m, struct obuf *o, size_t n, size_t cap)
{
	/* Bytes of a write the transport is retrying must stay where they are. */
	bool fixed = m->pinned && m->cur == o;

	if (o->tail + n > cap && !fixed && o->head > 0) {
		memmove(o->b, o->b + o->head, o->tail - o->head);
		o->tail -= o->head;
		o->head = 0;
	}
	if (o->tail + n > cap)
		return NULL;
	return o->b + o->tail;
}

static int out_ctl_try(struct mux *m, const uint8_t *frame, size_t n)
{
	uint8_t *p = out_reserve(m, &m->ctl, n, CTL_CAP);

	if (!p)
		return -ENOBUFS;
	memcpy(p, frame, n);
	m->ctl.tail += n;
	return 0;
}

/* Running out of room for control frames means the peer stopped reading. */
static int out_ctl(struct mux *m, const uint8_t *frame, size_t n)
{
	int ret = out_ctl_try(m, frame, n);

	/* A lost WINDOW, RESET or OPEN would wedge a stream for good: end the session instead. */
	if (ret < 0)
		m->overflow = true;
	return ret;
}

static size_t frame_len(const struct obuf *o)
{
	const uint8_t *h = o->b + o->head;

	return WIRE_HDR_LEN +
	       ((size_t)h[8] << 24 | (size_t)h[9] << 16 | (size_t)h[10] << 8 | (size_t)h[11]);
}

static int send_u32(struct mux *m, uint8_t type, uint32_t id, uint32_t v)
{
	uint8_t f[WIRE_CTL_MAX];

	return out_ctl(m, f, wire_put_u32(f, sizeof(f), type, id, v));
}

static void stream_free(struct stream *s, int reason, bool local, bool abort)
{
	struct mux *m = s->m;

	ready_unlink(m, s);
	if (m->grown == s)
		m->grown = NULL;
	idmap_del(&m->streams, s->id);
	evloop_del(m->loop, &s->io);
	if (abort) {
		/* SO_LINGER 0 turns close() into RST: the application sees a failure. */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(s->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(s->io.fd);
	m->st.buffered -= s->rx_tail - s->rx_head;
	m->rx_alloc -= s->rx_cap;
	if (m->ops->stream_closed) {
		struct mux_stream_end end = {.reason = reason,
					     .local = local,
					     .sent = s->sent,
					     .received = s->received,
					     .ms = now_ms() - s->opened_ms};
		m->ops->stream_closed(m->ctx, s->id, &s->dst, &end);
	}
	free(s->rx);
	free(s);
}

/* A local failure: tell the peer and reset the local socket. */
static void stream_fail(struct stream *s, int err)
{
	send_u32(s->m, WIRE_RESET, s->id, (uint32_t)(err > 0 ? err : ECONNRESET));
	stream_free(s, err, true, true);
}

/* Returns 1 when both directions are finished and s was freed. */
static int stream_maybe_done(struct stream *s)
{
	if (!(s->rd_eof && s->peer_eof && s->wr_shut))
		return 0;
	stream_free(s, 0, true, false);
	return 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * A stream that has had the pipe to itself for alone_ms, and whose reader
 * takes what we deliver, may hold what it is receiving per round trip plus
 * budget_ms (between window and window_max). Credit beyond one round trip
 * of data only queues, so on any path the bytes it can put ahead of
 * someone else's reply stay near budget_ms, while a long or fast pipe
 * still fills. Once another stream's data shows up it is cut back to the
 * base window. Only one stream at a time may hold more than the base
 * window, so the extra memory is window_max - window per mux at most.
 */
static uint32_t stream_credit_target(const struct stream *s)
{
	const struct mux *m = s->m;
	uint64_t now, elapsed, want;

	if (m->window_max <= m->window || !s->writable || s->rx_tail != s->rx_head ||
	    m->last_rx_id != s->id)
		return m->window;
	now = now_ms();
	elapsed = now - m->mixed_ms;
	if (elapsed < m->alone_ms || elapsed == 0)
		return m->window;
	if (m->grown && m->grown != s)
		return m->window;
	want = m->rate_prev_bpms;
	if (now > m->rate_start_ms && now - m->rate_start_ms >= RATE_MS / 2) {
		uint64_t cur = m->rate_bytes / (now - m->rate_start_ms);
		want = cur > want ? cur : want;
	}
	want *= (uint64_t)m->budget_ms + m->rtt_ms;
	return want <= m->window       ? m->window
	       : want >= m->window_max ? m->window_max
				       : (uint32_t)want;
}

/*
 * The stream's current window: what the peer may still send, plus what it
 * sent that is buffered here or delivered but not yet granted back.
 */
static uint32_t stream_grant(const struct stream *s)
{
	return s->recv_allow + (uint32_t)(s->rx_tail - s->rx_head) + s->recv_done;
}

static void stream_return_credit(struct stream *s, size_t n)
{
	struct mux *m = s->m;
	uint32_t quarter = m->window / 4, target, grant, cut;

	s->recv_done += (uint32_t)n;
	/* Granting in quarters keeps the pipe full without a frame per write. */
	if (s->recv_done < quarter)
		return;
	target = stream_credit_target(s);
	grant = stream_grant(s);
	if (target > grant) {
		s->recv_done += target - grant;
		m->grown = s;
		m->st.credit_grown++;
	} else if (target < grant) {
		/* Shrink by keeping back credit the peer has already used up. */
		cut = grant - target < s->recv_done ? grant - target : s->recv_done;
		s->recv_done -= cut;
		m->st.credit_cut++;
		if (grant - cut <= m->window && m->grown == s)
			m->grown = NULL;
		if (s->recv_done < quarter)
			return;
	}
	if (send_u32(m, WIRE_WINDOW, s->id, s->recv_done) == 0) {
		s->recv_allow += s->recv_done;
		s->recv_done = 0;
	}
}

/* Returns 1 when s was freed. */
static int stream_shut_wr(struct stream *s)
{
	if (s->wr_shut)
		return 0;
	shutdown(s->io.fd, SHUT_WR);
	s->wr_shut = 1;
	return stream_maybe_done(s);
}

/* Returns -1 when the stream was freed. */
static int stream_flush_rx(struct stream *s)
{
	size_t n = s->rx_tail - s->rx_head;
	ssize_t w;

	while (n > 0 && s->writable) {
		w = send(s->io.fd, s->rx + s->rx_head, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			s->writable = 0;
			break;
		}
		if (w < 0) {
			stream_fail(s, errno);
			return -1;
		}
		s->rx_head += (size_t)w;
		n -= (size_t)w;
		s->m->st.buffered -= (size_t)w;
		if (n > 0)
			s->writable = 0; /* a short write means the socket buffer is full */
		stream_return_credit(s, (size_t)w);
	}
	if (n == 0 && s->rx) {
		s->m->rx_alloc -= s->rx_cap;
		free(s->rx);
		s->rx = NULL;
		s->rx_head = s->rx_tail = s->rx_cap = 0;
	}
	if (n == 0 && s->peer_eof && stream_shut_wr(s))
		return -1;
	return 0;
}

static int rx_append(struct stream *s, const uint8_t *p, size_t n)
{
	size_t used = s->rx_tail - s->rx_head;

	if (s->rx_tail + n > s->rx_cap) {
		if (s->rx_head > 0) {
			memmove(s->rx, s->rx + s->rx_head, used);
			s->rx_tail = used;
			s->rx_head = 0;
		}
		if (used + n > s->rx_cap) {
			size_t cap = s->rx_cap ? s->rx_cap : RX_MIN;
			uint8_t *nb;
			while (cap < used + n)
				cap *= 2;
			/*
			 * Each stream's window bounds what it holds; this bounds the
			 * memory of them all together, whatever the peer and many slow
			 * local readers do.
			 */
			if (s->m->rx_alloc - s->rx_cap + cap > s->m->buffered_max) {
				s->m->st.over_budget++;
				return -ENOBUFS;
			}
			nb = realloc(s->rx, cap);
			if (!nb)
				return -ENOMEM;
			s->m->rx_alloc += cap - s->rx_cap;
			s->rx = nb;
			s->rx_cap = cap;
		}
	}
	memcpy(s->rx + s->rx_tail, p, n);
	s->rx_tail += n;
	s->m->st.buffered += n;
	return 0;
}

static void stream_deliver(struct stream *s, const uint8_t *p, size_t n)
{
	ssize_t w;
	int ret;

	if (!s->connecting && s->writable && s->rx_tail == s->rx_head) {
		do
			w = send(s->io.fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN) {
			stream_fail(s, errno);
			return;
		}
		if (w < 0)
			w = 0;
		if ((size_t)w < n)
			s->writable = 0;
		p += w;
		n -= (size_t)w;
	} else {
		w = 0;
	}
	/* Buffer the rest before granting, so the stream's window adds up at every grant. */
	if (n > 0) {
		ret = rx_append(s, p, n);
		if (ret < 0) {
			stream_fail(s, -ret);
			return;
		}
	}
	if (w > 0)
		stream_return_credit(s, (size_t)w);
}

static struct stream *stream_new(struct mux *m, int fd, uint32_t id, const struct wire_open *dst)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->io.fd = fd;
	s->io.cb = stream_event;
	s->m = m;
	s->opened_ms = now_ms();
	s->id = id;
	s->dst = *dst;
	s->send_credit = m->peer_window;
	s->recv_allow = m->window;
	if (idmap_put(&m->streams, id, s) < 0)
		goto fail;
	/* Registered once, edge-triggered: readiness is tracked in flags from here on. */
	if (evloop_add(m->loop, &s->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
		idmap_del(&m->streams, id);
		goto fail;
	}
	return s;
fail:
	free(s);
	return NULL;
}

static void stream_connected(struct stream *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		stream_fail(s, err);
		return;
	}
	s->connecting = 0;
	s->writable = 1;
	if (stream_flush_rx(s) < 0)
		return;
	stream_check_ready(s);
}

static void stream_event(struct ev_io *io, uint32_t events)
{
	struct stream *s = (struct stream *)io;

	if (s->connecting) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			s->readable = 1;
			stream_connected(s);
		}
		return;
	}
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
		s->writable = 1;
		if (stream_flush_rx(s) < 0)
			return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
		s->readable = 1;
		stream_check_ready(s);
	}
}

struct mux *mux_new(struct evloop *loop, uint32_t window, size_t out_high,
		    const struct mux_ops *ops, void *ctx)
{
	struct mux *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->loop = loop;
	m->ops = ops;
	m->ctx = ctx;
	m->window = window;
	m->window_max = window;
	m->out_high = out_high;
	m->buffered_max = MUX_BUFFERED_MAX;
	m->max_streams = MAX_STREAMS;
	m->next_id = 1;
	idmap_init(&m->streams);
	m->data.b = malloc(DATA_CAP);
	m->ctl.b = malloc(CTL_CAP);
	m->dg.b = malloc(DGRAM_CAP);
	m->in = malloc(IN_CAP);
	if (!m->data.b || !m->ctl.b || !m->dg.b || !m->in) {
		mux_free(m);
		return NULL;
	}
	return m;
}

void mux_free(struct mux *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->streams.cap; i++) {
		struct stream *s = m->streams.slots[i].val;
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		if (!m->streams.slots[i].id)
			continue;
		evloop_del(m->loop, &s->io);
		/* Cut off mid-stream: an RST, so no peer mistakes it for a complete reply. */
		setsockopt(s->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(s->io.fd);
		free(s->rx);
		free(s);
	}
	idmap_free(&m->streams);
	free(m->data.b);
	free(m->ctl.b);
	free(m->dg.b);
	free(m->in);
	free(m);
}

void mux_set_buffered_max(struct mux *m, size_t max)
{
	m->buffered_max = max;
}

void mux_set_max_streams(struct mux *m, size_t max)
{
	m->max_streams = max < MAX_STREAMS ? max : MAX_STREAMS;
}

void mux_set_peer_window(struct mux *m, uint32_t window)
{
	m->peer_window = window < MAX_CREDIT ? window : MAX_CREDIT;
}

void mux_set_rtt(struct mux *m, unsigned rtt_ms)
{
	m->rtt_ms = rtt_ms;
}

int mux_pong_rtt(struct mux *m, const uint8_t opaque[8])
{
	int rtt = mux_rtt_ms(opaque);

	if (rtt < 0)
		return -1;
	if (rtt > MUX_RTT_MAX_MS)
		rtt = MUX_RTT_MAX_MS;
	/* The smallest is the path without our own queue in it. */
	if (m->have_rtt && (unsigned)rtt >= m->rtt_ms)
		return -1;
	m->have_rtt = true;
	mux_set_rtt(m, (unsigned)rtt);
	return rtt;
}

void mux_set_window_max(struct mux *m, uint32_t max, unsigned alone_ms, unsigned budget_ms)
{
	m->window_max = max > m->window ? (max < MAX_CREDIT ? max : MAX_CREDIT) : m->window;
	m->alone_ms = alone_ms;
	m->budget_ms = budget_ms;
}

/*
 * Any sign of a second stream restarts the wait (and the rate) before a
 * lone stream may grow. The rate is the last whole RATE_MS interval's, so
 * a stream that was idle for a while does not look slow for ever.
 */
static void mux_note_rx(struct mux *m, uint32_t id, size_t len)
{
	uint64_t now;

	if (m->window_max <= m->window)
		return;
	now = now_ms();
	if (id != m->last_rx_id) {
		m->last_rx_id = id;
		m->mixed_ms = now;
		m->rate_start_ms = now;
		m->rate_bytes = 0;
		m->rate_prev_bpms = 0;
	} else if (now - m->rate_start_ms >= RATE_MS) {
		m->rate_prev_bpms = m->rate_bytes / (now - m->rate_start_ms);
		m->rate_start_ms = now;
		m->rate_bytes = 0;
	}
	m->rate_bytes += len;
}

int mux_open_stream(struct mux *m, int fd, const struct wire_open *dst)
{
	uint8_t f[WIRE_CTL_MAX];
	struct stream *s;
	uint32_t id;
	int ret;

	if (m->streams.count >= m->max_streams)
		return -EMFILE;
	do {
		id = m->next_id++;
	} while (id == 0 || idmap_get(&m->streams, id));
	ret = out_ctl(m, f, wire_put_open(f, sizeof(f), id, dst));
	if (ret < 0)
		return ret;
	s = stream_new(m, fd, id, dst);
	mux_note_rx(m, id, 0);
	if (!s) {
		/* The OPEN is already queued: cancel it so the helper does not keep a half stream.
		 */
		send_u32(m, WIRE_RESET, id, ENOMEM);
		return -ENOMEM;
	}
	/* An accepted socket is writable and may already hold the request: optimistic start. */
	s->writable = 1;
	s->readable = 1;
	stream_check_ready(s);
	return 0;
}

static int handle_open(struct mux *m, const struct wire_frame *f)
{
	struct stream *s;
	int fd;

	if (!m->ops->connect || idmap_get(&m->streams, f->stream))
		return -EPROTO;
	/* Streams the peer opens: past the cap each is refused, the session goes on. */
	if (m->streams.count >= m->max_streams)
		return send_u32(m, WIRE_RESET, f->stream, EMFILE);
	fd = m->ops->connect(m->ctx, &f->u.open);
	if (fd < 0)
		return send_u32(m, WIRE_RESET, f->stream, (uint32_t)-fd);
	s = stream_new(m, fd, f->stream, &f->u.open);
	if (!s) {
		close(fd);
		return send_u32(m, WIRE_RESET, f->stream, ENOMEM);
	}
	s->connecting = 1;
	return 0;
}

static int handle_frame(struct mux *m, const struct wire_frame *f)
{
	struct stream *s = f->stream ? idmap_get(&m->streams, f->stream) : NULL;

	switch (f->type) {
	case WIRE_OPEN:
		return handle_open(m, f);
	case WIRE_DATA:
		/* Frames for a stream we already reset are in flight; they are not an error. */
		if (!s)
			return 0;
		if (s->peer_eof || f->len > s->recv_allow)
			return -EPROTO;
		s->recv_allow -= f->len;
		s->received += f->len;
		m->st.rx_bytes += f->len;
		mux_note_rx(m, s->id, f->len);
		stream_deliver(s, f->payload, f->len);
		return 0;
	case WIRE_EOF:
		if (!s)
			return 0;
		if (s->peer_eof)
			return -EPROTO;
		s->peer_eof = 1;
		if (!s->connecting && s->rx_tail == s->rx_head)
			stream_shut_wr(s);
		return 0;
	case WIRE_RESET:
		if (s)
			stream_free(s, (int)(f->u.err ? f->u.err : ECONNRESET), false, true);
		return 0;
	case WIRE_WINDOW:
		if (!s)
			return 0;
		if (f->u.window > MAX_CREDIT || s->send_credit > MAX_CREDIT - f->u.window)
			return -EPROTO;
		s->send_credit += f->u.window;
		stream_check_ready(s);
		return 0;
	case WIRE_PING: {
		uint8_t pong[WIRE_CTL_MAX];
		return out_ctl(m, pong, wire_put_ping(pong, sizeof(pong), WIRE_PONG, f->payload));
	}
	case WIRE_PONG:
		if (m->ops->pong)
			m->ops->pong(m->ctx, f->payload);
		return 0;
	default:
		return m->ops->ctl ? m->ops->ctl(m->ctx, f) : -EPROTO;
	}
}

uint8_t *mux_in_space(struct mux *m, size_t *len)
{
	*len = IN_CAP - m->in_len;
	return m->in + m->in_len;
}

int mux_in_commit(struct mux *m, size_t n)
{
	struct wire_frame f;
	size_t off = 0;
	int r, ret = 0;

	m->in_len += n;
	while (off < m->in_len) {
		r = wire_parse(m->in + off, m->in_len - off, &f);
		if (r < 0) {
			ret = r;
			break;
		}
		if (r == 0)
			break;
		ret = handle_frame(m, &f);
		if (ret < 0)
			break;
		off += (size_t)r;
	}
	memmove(m->in, m->in + off, m->in_len - off);
	m->in_len -= off;
	return ret < 0 ? ret : m->overflow ? -ENOBUFS : 0;
}

void mux_fill(struct mux *m)
{
	struct stream *s;
	uint8_t *p;
	size_t n;
	ssize_t r;

	while ((s = m->ready_head) && m->data.tail - m->data.head < m->out_high) {
		n = s->send_credit < CHUNK ? s->send_credit : CHUNK;
		p = out_reserve(m, &m->data, WIRE_HDR_LEN + n, DATA_CAP);
		if (!p)
			return;
		ready_unlink(m, s);
		r = recv(s->io.fd, p + WIRE_HDR_LEN, n, MSG_DONTWAIT);
		if (r > 0) {
			wire_put_hdr(p, WIRE_HDR_LEN, WIRE_DATA, s->id, (uint32_t)r);
			m->data.tail += WIRE_HDR_LEN + (size_t)r;
			m->st.tx_bytes += (size_t)r;
			s->sent += (uint64_t)r;
			s->send_credit -= (uint32_t)r;
			/* Back of the line: the next stream gets the next turn. */
			stream_check_ready(s);
		} else if (r == 0) {
			wire_put_hdr(p, WIRE_HDR_LEN, WIRE_EOF, s->id, 0);
			m->data.tail += WIRE_HDR_LEN;
			s->rd_eof = 1;
			stream_maybe_done(s);
		} else if (errno == EAGAIN || errno == EINTR) {
			s->readable = errno == EINTR;
			stream_check_ready(s);
		} else {
			stream_fail(s, errno);
		}
	}
}

static bool obuf_busy(const struct obuf *o)
{
	return o->tail > o->head;
}

/* Which queue goes next, at the boundaries of the frames under way. */
static struct obuf *out_pick(struct mux *m)
{
	bool data = obuf_busy(&m->data), dg = obuf_busy(&m->dg);

	/* A frame begins and ends on the pipe in one piece. */
	if (m->data.left)
		return &m->data;
	if (m->dg.left)
		return &m->dg;
	if (obuf_busy(&m->ctl))
		return &m->ctl;
	if (!data || !dg) {
		/* Only one wants the pipe: nobody earns a lead to spend later. */
		m->dg_lead = 0;
		return dg ? &m->dg : &m->data;
	}
	return m->dg_lead >= 0 ? &m->dg : &m->data;
}

const uint8_t *mux_out_peek(struct mux *m, size_t *len)
{
	struct obuf *o;

	if (!m->pinned || !m->cur)
		m->cur = out_pick(m);
	o = m->cur;
	*len = o->tail - o->head;
	if (o != &m->ctl && *len &&
	    (obuf_busy(&m->ctl) || obuf_busy(o == &m->data ? &m->dg : &m->data))) {
		/* Another queue waits: finish only the frame under way, then choose again. */
		size_t left = o->left ? o->left : frame_len(o);
		if (*len > left)
			*len = left;
	}
	return o->b + o->head;
}

void mux_out_consume(struct mux *m, size_t n)
{
	struct obuf *o = m->cur;

	if (!o)
		return;
	if (o != &m->ctl) {
		size_t left = n;
		if (o == &m->data)
			m->dg_lead += (int64_t)n;
		else
			m->dg_lead -= (int64_t)n;
		while (left > 0) {
			size_t take;
			if (o->left == 0)
				o->left = frame_len(o);
			take = left < o->left ? left : o->left;
			o->left -= take;
			o->head += take;
			left -= take;
		}
	} else {
		o->head += n;
	}
	if (o->head == o->tail && !m->pinned)
		o->head = o->tail = 0;
}

void mux_out_pin(struct mux *m, bool pinned)
{
	m->pinned = pinned;
}

int mux_ping(struct mux *m, const uint8_t opaque[8])
{
	uint8_t f[WIRE_CTL_MAX];

	return out_ctl(m, f, wire_put_ping(f, sizeof(f), WIRE_PING, opaque));
}

/* Pings are rare: they take the precise clock, a round trip can be well under the coarse one's
 * step. */
int mux_ping_now(struct mux *m)
{
	uint64_t ms = (uint64_t)clock_ms();
	uint8_t opaque[8];

	memcpy(opaque, &ms, sizeof(opaque));
	return mux_ping(m, opaque);
}

int mux_rtt_ms(const uint8_t opaque[8])
{
	uint64_t sent, ms = (uint64_t)clock_ms();

	memcpy(&sent, opaque, sizeof(sent));
	if (sent > ms || ms - sent > 60000)
		return -EINVAL;
	return (int)(ms - sent);
}

int mux_send_ctl(struct mux *m, const uint8_t *frame, size_t len)
{
	/*
	 * The owner's frames (DNS, names, routes) may be dropped; it decides.
	 * They may not fill the reserve, which is what keeps WINDOW, RESET,
	 * OPEN and PONG from ever failing because of them: a flood of DNS
	 * must cost DNS, not the session.
	 */
	/* While a write of it is pinned the queue cannot be compacted: its tail is what counts. */
	size_t used = m->pinned && m->cur == &m->ctl ? m->ctl.tail : m->ctl.tail - m->ctl.head;

	if (used + len > CTL_CAP - CTL_RESERVE)
		return -ENOBUFS;
	return out_ctl_try(m, frame, len);
}

int mux_send_dgram(struct mux *m, const uint8_t *frame, size_t len)
{
	size_t used = m->pinned && m->cur == &m->dg ? m->dg.tail : m->dg.tail - m->dg.head;
	uint8_t *p;

	/* The queue is cut at frame boundaries: the header must say the length given. */
	if (len < WIRE_HDR_LEN ||
	    len - WIRE_HDR_LEN != ((size_t)frame[8] << 24 | (size_t)frame[9] << 16 |
				   (size_t)frame[10] << 8 | (size_t)frame[11]))
		return -EINVAL;
	if (used + len > DGRAM_CAP)
		return -ENOBUFS;
	p = out_reserve(m, &m->dg, len, DGRAM_CAP);
	if (!p)
		return -ENOBUFS;
	memcpy(p, frame, len);
	m->dg.tail += len;
	return 0;
}

size_t mux_each_stream(const struct mux *m,
		       void (*cb)(void *arg, uint32_t id, const struct wire_open *dst,
				  const struct mux_stream_end *sofar),
		       void *arg)
{
	uint64_t now = now_ms();
	size_t i, n = 0;

	for (i = 0; i < m->streams.cap; i++) {
		const struct stream *s = m->streams.slots[i].val;
		struct mux_stream_end e;

		if (!m->streams.slots[i].id || !s)
			continue;
		e = (struct mux_stream_end){
		    .sent = s->sent, .received = s->received, .ms = now - s->opened_ms};
		cb(arg, s->id, &s->dst, &e);
		n++;
	}
	return n;
}

void mux_get_stats(const struct mux *m, struct mux_stats *st)
{
	*st = m->st;
	st->streams = m->streams.count;
}
