/*
 * mux: the stream relay shared by client and helper. It owns each stream's
 * socket, its credit in both directions, the bytes waiting for a slow local
 * reader, and the frame buffers towards and from the pipe.
 *
 * Sockets are edge-triggered and registered once; readiness lives in flags
 * so no epoll_ctl is needed per transfer. Streams with data to send and
 * credit to send it wait on one of two round-robin lists, as in fq_codel: a
 * stream that has sent little lately is sparse and is served first, into a
 * queue of its own that goes out ahead of bulk data; the others share what
 * is left. Each turn reads at most one chunk straight into an output
 * buffer, which is what makes streams share the pipe fairly and keeps
 * copies to one per direction.
 */
#include "mux.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
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
/* Sparse streams' frames: one turn each, while out_high allows. */
#define FAST_CAP (512u << 10)
/*
 * A stream counts as sparse while what it sent lately, halved every
 * SPARSE_HALF_MS, stays under QUANTUM: an interactive session or a request
 * always, a bulk stream only for its first chunk or after a pause.
 */
#define QUANTUM	       CHUNK
#define SPARSE_HALF_MS 50
/*
 * Streams holding more than the base window at once: each holds an eighth
 * of it more at least, so the total allows far fewer in practice.
 */
#define GROWN_MAX 512
/*
 * Credit is sized by the smallest round trip seen, and one PING at start
 * may meet a busy peer (the helper's starts while its client uploads it):
 * the mux sends a few of its own in the first seconds, PROBE_FIRST_MS
 * apart and twice as far each time, for the owner's mux_pong_rtt.
 */
#define RTT_PROBES     6
#define PROBE_FIRST_MS 250
/* Credit is judged over at least this long: the coarse clock steps by a few ms. */
#define EPOCH_MIN_MS 20
/*
 * Streams the peer reset while bytes for their application still wait
 * (here or in the socket's send queue): at most this many at once, each
 * held at most HOLD_MS, looked at every CLOSING_TICK_MS.
 */
#define CLOSING_MAX	4096
#define HOLD_MS		30000
#define CLOSING_TICK_MS 200

struct stream {
	struct ev_io io;
	struct mux *m;
	uint32_t id;
	struct wire_open dst;
	uint32_t send_credit; /* bytes we may still send to the peer */
	uint32_t recv_allow;  /* bytes the peer may still send us */
	uint32_t recv_done;   /* bytes passed to the socket, not yet granted back */
	uint32_t win;	      /* the credit this stream may hold now: window or more */
	uint8_t *rx;	      /* bytes from the peer the socket has not taken yet */
	size_t rx_head, rx_tail, rx_cap;
	struct stream *next, *prev; /* ready list */
	unsigned readable : 1, writable : 1, connecting : 1, queued : 1;
	unsigned fresh : 1;	 /* queued on the sparse list */
	unsigned settle : 1;	 /* credit just changed: the next epoch does not show it yet */
	unsigned hungry : 1;	 /* its last epoch was held back by credit */
	unsigned inbulk : 1;	 /* frames of it may wait in the bulk queue */
	unsigned rd_eof : 1;	 /* local read saw EOF and EOF frame is queued */
	unsigned peer_eof : 1;	 /* EOF frame received */
	unsigned wr_shut : 1;	 /* shutdown(SHUT_WR) done */
	unsigned peer_reset : 1; /* RESET came while bytes wait for the application */
	int reset_err;		 /* that RESET's errno */
	uint32_t reset_ms;	 /* when it came (low 32 bits of the clock) */
	uint16_t ep_blocked;	 /* DATA flagged blocked this epoch */
	uint32_t recent;	 /* bytes sent lately */
	uint64_t sent, received, opened_ms; /* for the owner's log when it ends */
	/*
	 * The clock's and the bulk queue's low 32 bits (only differences are
	 * taken), to keep streams small. A stream silent while 2 GiB of bulk
	 * passed may take its next frame for queued behind bulk: it loses the
	 * sparse turn once, never its order.
	 */
	uint32_t bulk_end;  /* mux.data_in after its last bulk frame (inbulk) */
	uint32_t recent_ms; /* recent was last halved */
	uint32_t ep_start;  /* this epoch began */
	uint32_t ep_bytes;  /* DATA bytes in this epoch */
};

struct rlist {
	struct stream *head, *tail;
};

struct mux {
	struct evloop *loop;
	const struct mux_ops *ops;
	void *ctx;
	uint32_t window, peer_window;
	uint32_t credit_max; /* one stream's credit at most; == window when not adaptive */
	size_t credit_total; /* all streams' credit above window together, at most */
	size_t credit_extra; /* what they hold above window now */
	size_t n_claim;	     /* streams holding more than window, or hungry: they share the total */
	uint32_t grown[GROWN_MAX]; /* the streams holding more than window */
	size_t n_grown;
	uint32_t last_rx_id; /* the stream of the last DATA frame in */
	uint64_t mixed_ms;   /* when DATA last came in for a different stream, or one opened */
	unsigned budget_ms;
	unsigned rtt_ms;   /* the owner's estimate of the pipe's round trip */
	bool have_rtt;	   /* rtt_ms came from a PONG (mux_pong_rtt) */
	unsigned probes;   /* pings of our own sent so far, for the round trip */
	uint64_t probe_ms; /* when the next is due; 0: not planned yet */
	uint64_t (*clock)(void *arg);
	void *clock_arg;
	size_t out_high;
	size_t buffered_max; /* all streams' buffers for local readers, together */
	size_t max_streams;
	size_t rx_alloc; /* what those buffers take now */
	struct idmap streams;
	uint32_t next_id;
	struct rlist sparse, bulk; /* streams ready to send */
	/*
	 * Four output queues: bulk streams' DATA and EOF in one, sparse
	 * streams' in another, the owner's datagrams in a third, every other
	 * frame in the fourth. Control frames go out first at the next frame
	 * boundary, so credit, opens and pings never wait behind bulk data
	 * or datagrams; sparse streams' frames next. Datagrams and bulk
	 * data share what is left by bytes (dg_lead), so neither can starve
	 * the other. A stream's frames stay in order: it is sparse only
	 * while none of its frames waits in the bulk queue, and the sparse
	 * queue always empties before the next bulk frame starts.
	 */
	struct obuf {
		uint8_t *b;
		size_t head, tail;
		size_t left; /* bytes of the frame at head still to go; 0 = boundary (not ctl) */
	} data, fast, ctl, dg;
	/* Bytes ever queued in and sent from the bulk queue (stream.bulk_end). */
	uint64_t data_in, data_out;
	/* Bytes of stream data sent minus datagram bytes sent while both were waiting. */
	int64_t dg_lead;
	struct obuf *cur; /* the queue the last peek returned */
	bool pinned;
	bool overflow;	     /* a control frame did not fit: the peer stopped reading */
	bool armed;	     /* mux_set_reset_if_killed */
	struct ev_io closer; /* a timerfd while streams wait in closing[] */
	bool closing_due;    /* it fired: sweep closing[] at the next mux_fill */
	uint32_t *closing;   /* ids of streams with peer_reset */
	size_t n_closing;
	uint8_t *in;
	size_t in_len;
	struct mux_stats st;
};

static void stream_event(struct ev_io *io, uint32_t events);
static void credit_release(struct stream *s);

static uint64_t mux_now(const struct mux *m)
{
	return m->clock(m->clock_arg);
}

static uint32_t ms_since(uint64_t now, uint32_t then)
{
	return (uint32_t)now - then;
}

static bool obuf_busy(const struct obuf *o)
{
	return o->tail > o->head;
}

/* Frames of s may still wait in the bulk queue. */
static bool stream_in_bulk(const struct stream *s)
{
	return s->inbulk && (int32_t)(s->bulk_end - (uint32_t)s->m->data_out) > 0;
}

/* What a stream sent lately counts half every SPARSE_HALF_MS. */
static bool stream_sparse(struct stream *s, uint64_t now)
{
	uint32_t halves = ms_since(now, s->recent_ms) / SPARSE_HALF_MS;

	if (halves) {
		s->recent = halves >= 32 ? 0 : s->recent >> halves;
		s->recent_ms += halves * SPARSE_HALF_MS;
	}
	if (s->inbulk && !stream_in_bulk(s))
		s->inbulk = 0;
	return s->recent < QUANTUM && !s->inbulk;
}

static void ready_push(struct mux *m, struct stream *s)
{
	struct rlist *l;

	if (s->queued)
		return;
	s->fresh = stream_sparse(s, mux_now(m));
	l = s->fresh ? &m->sparse : &m->bulk;
	s->queued = 1;
	s->next = NULL;
	s->prev = l->tail;
	if (l->tail)
		l->tail->next = s;
	else
		l->head = s;
	l->tail = s;
}

static void ready_unlink(struct mux *m, struct stream *s)
{
	struct rlist *l = s->fresh ? &m->sparse : &m->bulk;

	if (!s->queued)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		l->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		l->tail = s->prev;
	s->queued = 0;
	s->next = s->prev = NULL;
}

/* A stream goes on the ready list when reading it could produce a frame. */
static void stream_check_ready(struct stream *s)
{
	if (s->readable && !s->rd_eof && !s->peer_reset && !s->connecting && s->send_credit > 0)
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
	credit_release(s);
	idmap_del(&m->streams, s->id);
	evloop_del(m->loop, &s->io);
	if (abort || m->armed) {
		/*
		 * SO_LINGER 0 turns close() into RST: the application sees a
		 * failure. Armed, a clean end disarms it: an RST now would drop
		 * what the application has not acknowledged yet.
		 */
		struct linger lg = {.l_onoff = abort, .l_linger = 0};
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
					     .ms = mux_now(m) - s->opened_ms};
		m->ops->stream_closed(m->ctx, s->id, &s->dst, &end);
	}
	free(s->rx);
	free(s);
}

/*
 * A RESET queues behind the stream's own frames that still wait: the peer
 * ends the stream at RESET and drops what of it comes after, so bytes read
 * just before a failure (a server that answers, then resets) must reach
 * the other side first, as over one TCP connection. The sparse queue
 * empties before the next bulk frame, so behind whatever waits there is
 * behind the stream's frames too. Nothing of it waiting: with the control
 * frames.
 */
static void stream_send_reset(struct stream *s, uint32_t err)
{
	struct mux *m = s->m;
	uint8_t f[WIRE_CTL_MAX], *p = NULL;
	size_t n = wire_put_u32(f, sizeof(f), WIRE_RESET, s->id, err);
	struct obuf *o = NULL;

	if (stream_in_bulk(s)) {
		o = &m->data;
		p = out_reserve(m, o, n, DATA_CAP);
	} else if (obuf_busy(&m->fast)) {
		o = &m->fast;
		p = out_reserve(m, o, n, FAST_CAP);
	}
	if (!p) {
		/* No room behind them (the queues are bounded well below that): order gives way. */
		out_ctl(m, f, n);
		return;
	}
	memcpy(p, f, n);
	o->tail += n;
	if (o == &m->data)
		m->data_in += n;
}

/* A local failure: tell the peer and reset the local socket. */
static void stream_fail(struct stream *s, int err)
{
	/* After the peer's RESET the peer has forgotten the stream: nothing to tell. */
	if (!s->peer_reset)
		stream_send_reset(s, (uint32_t)(err > 0 ? err : ECONNRESET));
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

static uint64_t clock_coarse(void *arg)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Credit sized to the path, on the receiving side. Every stream starts with
 * the base window. An epoch is a round trip plus budget_ms; at the end of
 * each, a stream whose sender was held back by credit (DATA flagged
 * WIRE_DATA_F_BLOCKED, once a round trip at least) gets twice the credit,
 * as long as its credit goes round in about a round trip: what it received
 * in the epoch, per ms, times the round trip plus half the budget, is at
 * least what it holds. Then the credit is in flight on the path, not
 * queued in front of anyone: on a long fat path it doubles every other
 * epoch up to credit_max. A stream holding more than it receives in a
 * round trip plus budget_ms is cut back towards that, by at most half per
 * epoch, never below the base window: on a short path that is all the
 * extra a bulk stream keeps, so a small request never queues far behind
 * it. While other streams are active too, the budget is a quarter and a
 * step up a quarter, not twice: a step the path cannot use queues ahead of
 * them until the next epoch.
 *
 * All streams together hold at most credit_total above the base window.
 * Each may have an equal share of it with the others that hold some or
 * want some (hungry), and gives back what is above its share at its next
 * epoch; a stream that has received nothing for two epochs gives all its
 * extra back when another needs the room.
 */
static void claim_set(struct stream *s, bool grown, bool hungry)
{
	struct mux *m = s->m;
	bool was = s->win > m->window || s->hungry, is = grown || hungry;

	s->hungry = hungry;
	if (was && !is)
		m->n_claim--;
	else if (!was && is)
		m->n_claim++;
}

static void credit_set(struct stream *s, uint32_t win)
{
	struct mux *m = s->m;
	bool was = s->win > m->window, is = win > m->window;

	if (win == s->win || (is && !was && m->n_grown == GROWN_MAX))
		return;
	claim_set(s, is, s->hungry);
	m->credit_extra -= s->win - m->window;
	m->credit_extra += win - m->window;
	if (win > s->win)
		m->st.credit_grown++;
	else
		m->st.credit_cut++;
	s->win = win;
	s->settle = 1;
	if (is && !was) {
		m->grown[m->n_grown++] = s->id;
	} else if (was && !is) {
		for (size_t i = 0; i < m->n_grown; i++)
			if (m->grown[i] == s->id) {
				m->grown[i] = m->grown[--m->n_grown];
				break;
			}
	}
}

static void credit_release(struct stream *s)
{
	credit_set(s, s->m->window);
	claim_set(s, false, false);
}

static uint64_t credit_epoch_ms(const struct mux *m)
{
	uint64_t ms = (uint64_t)m->rtt_ms + m->budget_ms;

	return ms < EPOCH_MIN_MS ? EPOCH_MIN_MS : ms;
}

/* Room above the base window for s to grow into, taken back from idle streams if need be. */
static size_t credit_room(struct stream *s, uint64_t now)
{
	struct mux *m = s->m;
	uint64_t idle = 2 * credit_epoch_ms(m);
	size_t i;

	if (m->credit_extra + s->win <= m->credit_total)
		return m->credit_total - m->credit_extra;
	/* Downwards: a release moves the last entry into the one it frees. */
	for (i = m->n_grown; i-- > 0;) {
		struct stream *g = idmap_get(&m->streams, m->grown[i]);
		if (g && g != s && ms_since(now, g->ep_start) > idle)
			credit_release(g);
	}
	return m->credit_total > m->credit_extra ? m->credit_total - m->credit_extra : 0;
}

static void credit_adjust(struct stream *s, uint64_t now, uint64_t elapsed)
{
	struct mux *m = s->m;
	bool mixed = (int32_t)ms_since(m->mixed_ms, s->ep_start) > 0;
	uint64_t budget = mixed ? m->budget_ms / 4 : m->budget_ms;
	/* The round trip is the smallest seen; an eighth more for the clock's coarseness. */
	uint64_t rtt = m->rtt_ms + m->rtt_ms / 8;
	uint64_t keep = s->ep_bytes * (rtt + budget) / elapsed;
	uint64_t lo = s->ep_bytes * (rtt + budget / 2) / elapsed;
	uint64_t want = s->win, share, room;
	/*
	 * On a long path, the credit we hold back until a quarter has gathered
	 * (stream_return_credit) is no sign of a queue: a stream slowed to a
	 * fraction of the rate takes long to gather one, so without this it
	 * could stay at the base while faster streams grew. A stream far above
	 * the base is judged as strictly as before.
	 */
	uint64_t unreturned = m->rtt_ms > m->budget_ms ? m->window / 4 : 0;
	/* Held back at least once per round trip: credit is what it waits for. */
	bool blocked = s->ep_blocked > 0 && s->ep_blocked >= elapsed / credit_epoch_ms(m);

	claim_set(s, s->win > m->window, blocked);
	share = m->window + m->credit_total / (m->n_claim ? m->n_claim : 1);
	if (share > m->credit_max)
		share = m->credit_max;
	if (blocked && s->win <= lo + unreturned && s->win < share) {
		/* With others active, a step that overshoots queues ahead of them: a smaller one.
		 */
		want = mixed ? s->win + s->win / 4 : 2 * (uint64_t)s->win;
		want = want < share ? want : share;
		room = credit_room(s, now);
		want = want < s->win + room ? want : s->win + room;
		if (want < s->win + m->window / 8)
			want = s->win;
	} else if (s->win > m->window) {
		if (keep < s->win)
			want = keep > s->win / 2 ? keep : s->win / 2;
		want = want < share ? want : share;
		/* Not a sliver above the base: the streams holding extra stay few. */
		if (want < m->window + m->window / 8)
			want = m->window;
	}
	credit_set(s, (uint32_t)want);
}

/* A DATA frame for s came in. */
static void credit_note(struct stream *s, size_t len, bool blocked)
{
	struct mux *m = s->m;
	uint64_t now;

	if (m->credit_max <= m->window)
		return;
	now = mux_now(m);
	if (s->id != m->last_rx_id) {
		m->last_rx_id = s->id;
		m->mixed_ms = now;
	}
	/* The epoch ends before this frame: it counts what came in [ep_start, now). */
	if (ms_since(now, s->ep_start) >= credit_epoch_ms(m)) {
		/* The epoch after a change still shows the old credit: it takes a round trip to
		 * act. */
		if (s->settle)
			s->settle = 0;
		else
			credit_adjust(s, now, ms_since(now, s->ep_start));
		s->ep_start = (uint32_t)now;
		s->ep_bytes = 0;
		s->ep_blocked = 0;
	}
	s->ep_bytes = len < UINT32_MAX - s->ep_bytes ? s->ep_bytes + (uint32_t)len : UINT32_MAX;
	if (blocked && s->ep_blocked < UINT16_MAX)
		s->ep_blocked++;
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
	uint32_t quarter = m->window / 4, target = s->win, grant, cut;

	if (s->peer_reset)
		return; /* the peer sends nothing more */
	s->recv_done += (uint32_t)n;
	/* Granting in quarters keeps the pipe full without a frame per write. */
	if (s->recv_done < quarter)
		return;
	grant = stream_grant(s);
	if (target > grant) {
		s->recv_done += target - grant;
	} else if (target < grant) {
		/* Shrink by keeping back credit the peer has already used up. */
		cut = grant - target < s->recv_done ? grant - target : s->recv_done;
		s->recv_done -= cut;
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

/* Bytes the application's socket has not handed over yet; 0 when unknown. */
static int stream_outq(const struct stream *s)
{
	int n = 0;

	/* SIOCOUTQ is TIOCOUTQ; the static helper's libc has no linux/sockios.h. */
	return ioctl(s->io.fd, TIOCOUTQ, &n) == 0 ? n : 0;
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
	/* The send queue too: an RST now would throw away what it still holds. */
	if (n == 0 && s->peer_reset && stream_outq(s) == 0) {
		stream_free(s, s->reset_err, false, true);
		return -1;
	}
	if (s->peer_reset)
		return 0;
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
	s->opened_ms = mux_now(m);
	s->recent_ms = s->ep_start = (uint32_t)s->opened_ms;
	s->id = id;
	s->dst = *dst;
	s->send_credit = m->peer_window;
	s->recv_allow = s->win = m->window;
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
	/*
	 * After its EOF the socket is no longer read, so a reset that comes
	 * then (the application killed while it waits for an answer) shows
	 * only here: without this the stream, and the connection beyond it,
	 * would stay until the far side sends. Before its EOF the reads find
	 * the error in turn, after the bytes that came ahead of it.
	 */
	if ((events & (EPOLLERR | EPOLLHUP)) && (s->rd_eof || s->peer_reset)) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(s->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err) {
			stream_fail(s, err);
			return;
		}
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
	m->credit_max = window;
	m->clock = clock_coarse;
	m->out_high = out_high;
	m->buffered_max = MUX_BUFFERED_MAX;
	m->max_streams = MAX_STREAMS;
	m->next_id = 1;
	m->closer.fd = -1;
	idmap_init(&m->streams);
	m->data.b = malloc(DATA_CAP);
	m->fast.b = malloc(FAST_CAP);
	m->ctl.b = malloc(CTL_CAP);
	m->dg.b = malloc(DGRAM_CAP);
	m->in = malloc(IN_CAP);
	if (!m->data.b || !m->fast.b || !m->ctl.b || !m->dg.b || !m->in) {
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
	if (m->closer.fd >= 0) {
		evloop_del(m->loop, &m->closer);
		close(m->closer.fd);
	}
	free(m->closing);
	free(m->data.b);
	free(m->fast.b);
	free(m->ctl.b);
	free(m->dg.b);
	free(m->in);
	free(m);
}

void mux_set_buffered_max(struct mux *m, size_t max)
{
	m->buffered_max = max;
}

void mux_set_reset_if_killed(struct mux *m, bool on)
{
	m->armed = on;
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

void mux_set_credit(struct mux *m, uint32_t stream_max, size_t total_max, unsigned budget_ms)
{
	m->credit_max = stream_max > m->window ? (stream_max < MAX_CREDIT ? stream_max : MAX_CREDIT)
					       : m->window;
	m->credit_total = total_max;
	m->budget_ms = budget_ms;
}

void mux_set_clock(struct mux *m, uint64_t (*now_ms)(void *arg), void *arg)
{
	m->clock = now_ms ? now_ms : clock_coarse;
	m->clock_arg = arg;
}

int mux_open_stream(struct mux *m, int fd, const struct wire_open *dst)
{
	uint8_t f[WIRE_CTL_MAX];
	struct stream *s;
	uint32_t id;
	int ret;

	if (m->streams.count >= m->max_streams)
		return -ENOSPC;
	do {
		id = m->next_id++;
	} while (id == 0 || idmap_get(&m->streams, id));
	ret = out_ctl(m, f, wire_put_open(f, sizeof(f), id, dst));
	if (ret < 0)
		return ret;
	s = stream_new(m, fd, id, dst);
	/* A new request: streams already grown are no longer alone. */
	m->last_rx_id = id;
	m->mixed_ms = mux_now(m);
	if (!s) {
		/* The OPEN is already queued: cancel it so the helper does not keep a half stream.
		 */
		send_u32(m, WIRE_RESET, id, ENOMEM);
		return -ENOMEM;
	}
	if (m->armed) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	/* An accepted socket is writable and may already hold the request: optimistic start. */
	s->writable = 1;
	s->readable = 1;
	stream_check_ready(s);
	return 0;
}

static void closing_arm(struct mux *m, bool on)
{
	struct itimerspec it = {0};

	if (on) {
		it.it_interval.tv_nsec = CLOSING_TICK_MS * 1000000L;
		it.it_value = it.it_interval;
	}
	timerfd_settime(m->closer.fd, 0, &it, NULL);
}

/*
 * The timer only marks the sweep due: it is one callback of an epoll batch
 * that may hold the very streams the sweep frees. The sweep runs from
 * mux_fill, in the owner's pump after the batch.
 */
static void closing_tick(struct ev_io *io, uint32_t events)
{
	struct mux *m = (struct mux *)((char *)io - offsetof(struct mux, closer));
	uint64_t expirations;

	(void)events;
	if (read(io->fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	m->closing_due = true;
}

/*
 * A reset stream whose bytes have all left for its application ends now,
 * with the RST; one whose application took nothing for HOLD_MS ends
 * anyway, so a reader that never reads holds no buffer for good.
 */
static void closing_sweep(struct mux *m)
{
	uint64_t now = mux_now(m);
	size_t i, kept = 0;

	m->closing_due = false;
	for (i = 0; i < m->n_closing; i++) {
		struct stream *s = idmap_get(&m->streams, m->closing[i]);

		if (!s || !s->peer_reset)
			continue;
		if ((s->rx_tail == s->rx_head && stream_outq(s) == 0) ||
		    ms_since(now, s->reset_ms) >= HOLD_MS) {
			stream_free(s, s->reset_err, false, true);
			continue;
		}
		m->closing[kept++] = m->closing[i];
	}
	m->n_closing = kept;
	if (!kept)
		closing_arm(m, false);
}

/* Watch stream id until its bytes are out: 0, or -errno when it cannot be watched. */
static int closing_add(struct mux *m, uint32_t id)
{
	if (m->n_closing >= CLOSING_MAX)
		return -ENOSPC;
	if (!m->closing) {
		m->closing = malloc(CLOSING_MAX * sizeof(*m->closing));
		if (!m->closing)
			return -ENOMEM;
	}
	if (m->closer.fd < 0) {
		int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

		if (fd < 0)
			return -errno;
		m->closer.fd = fd;
		m->closer.cb = closing_tick;
		if (evloop_add(m->loop, &m->closer, EPOLLIN) < 0) {
			close(fd);
			m->closer.fd = -1;
			return -ENOMEM;
		}
	}
	if (!m->n_closing)
		closing_arm(m, true);
	m->closing[m->n_closing++] = id;
	return 0;
}

static int handle_open(struct mux *m, const struct wire_frame *f)
{
	struct stream *s;
	int fd;

	if (!m->ops->connect || idmap_get(&m->streams, f->stream))
		return -EPROTO;
	/*
	 * Streams the peer opens: past the cap each is refused, the session
	 * goes on. ENOSPC, as mux_open_stream says: not a want of descriptors.
	 */
	if (m->streams.count >= m->max_streams)
		return send_u32(m, WIRE_RESET, f->stream, ENOSPC);
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
		credit_note(s, f->len, f->flags & WIRE_DATA_F_BLOCKED);
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
		if (!s)
			return 0;
		/*
		 * The peer ran short, not the destination: its owner tells the
		 * user. Not ENOBUFS: that is the peer's cap on what a slow
		 * reader may leave buffered, a reader's doing, told per stream.
		 */
		if (f->u.err == EMFILE || f->u.err == ENFILE || f->u.err == ENOMEM) {
			m->st.peer_short++;
			m->st.peer_short_err = (int)f->u.err;
			m->st.peer_short_ms = (int64_t)mux_now(m);
		}
		/*
		 * What the peer sent ahead of its RESET was read from the far
		 * socket before it failed: the application gets it first, then
		 * the reset, as a TCP receiver reads its queue before the error.
		 * Until then the stream is no longer read, and grants nothing.
		 */
		if (!s->connecting && (s->rx_tail > s->rx_head || stream_outq(s) > 0) &&
		    closing_add(m, s->id) == 0) {
			ready_unlink(m, s);
			s->peer_reset = 1;
			s->peer_eof = 1;
			s->reset_err = (int)(f->u.err ? f->u.err : ECONNRESET);
			s->reset_ms = (uint32_t)mux_now(m);
			return 0;
		}
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

/* One turn of s: at most a chunk from its socket into o. -1 when o has no room for it. */
static int stream_turn(struct mux *m, struct stream *s, struct obuf *o, size_t cap)
{
	uint32_t n = s->send_credit < CHUNK ? s->send_credit : CHUNK;
	uint8_t *p = out_reserve(m, o, WIRE_HDR_LEN + n, cap);
	ssize_t r;

	if (!p)
		return -1;
	ready_unlink(m, s);
	r = recv(s->io.fd, p + WIRE_HDR_LEN, n, MSG_DONTWAIT);
	if (r > 0) {
		wire_put_hdr(p, WIRE_HDR_LEN, WIRE_DATA, s->id, (uint32_t)r);
		s->send_credit -= (uint32_t)r;
		/* It filled the credit: the receiver learns that credit is what holds it back. */
		if ((uint32_t)r == n && s->send_credit == 0)
			wire_set_flags(p, WIRE_DATA_F_BLOCKED);
		o->tail += WIRE_HDR_LEN + (size_t)r;
		m->st.tx_bytes += (size_t)r;
		if (o == &m->fast) {
			m->st.sparse_bytes += (size_t)r;
		} else {
			s->bulk_end = (uint32_t)(m->data_in += WIRE_HDR_LEN + (size_t)r);
			s->inbulk = 1;
		}
		s->sent += (uint64_t)r;
		s->recent = s->recent + (uint32_t)r < QUANTUM ? s->recent + (uint32_t)r : QUANTUM;
		/* Back of the line: the next stream gets the next turn. */
		stream_check_ready(s);
	} else if (r == 0) {
		wire_put_hdr(p, WIRE_HDR_LEN, WIRE_EOF, s->id, 0);
		o->tail += WIRE_HDR_LEN;
		if (o == &m->data) {
			s->bulk_end = (uint32_t)(m->data_in += WIRE_HDR_LEN);
			s->inbulk = 1;
		}
		s->rd_eof = 1;
		stream_maybe_done(s);
	} else if (errno == EAGAIN || errno == EINTR) {
		s->readable = errno == EINTR;
		stream_check_ready(s);
	} else {
		stream_fail(s, errno);
	}
	return 0;
}

static void rtt_probe(struct mux *m)
{
	uint64_t now;

	if (m->probes >= RTT_PROBES || m->credit_max <= m->window)
		return;
	now = mux_now(m);
	if (!m->probe_ms) {
		m->probe_ms = now + PROBE_FIRST_MS;
	} else if (now >= m->probe_ms && mux_ping_now(m) == 0) {
		m->probe_ms = now + ((uint64_t)PROBE_FIRST_MS << ++m->probes);
	}
}

void mux_fill(struct mux *m)
{
	struct stream *s;

	if (m->closing_due)
		closing_sweep(m);
	rtt_probe(m);
	while ((s = m->sparse.head) && m->fast.tail - m->fast.head < m->out_high)
		if (stream_turn(m, s, &m->fast, FAST_CAP) < 0)
			break;
	while ((s = m->bulk.head) && m->data.tail - m->data.head < m->out_high)
		if (stream_turn(m, s, &m->data, DATA_CAP) < 0)
			return;
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
	if (m->fast.left)
		return &m->fast;
	if (obuf_busy(&m->ctl))
		return &m->ctl;
	if (obuf_busy(&m->fast))
		return &m->fast;
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
	    (obuf_busy(&m->ctl) ||
	     (o != &m->fast &&
	      (obuf_busy(&m->fast) || obuf_busy(o == &m->data ? &m->dg : &m->data))))) {
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
		if (o == &m->data) {
			m->dg_lead += (int64_t)n;
			m->data_out += n;
		} else if (o == &m->dg) {
			m->dg_lead -= (int64_t)n;
		}
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
	uint64_t now = mux_now(m);
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
	st->credit_extra = m->credit_extra;
}
