/*
 * mux: carries many TCP byte streams over one ordered byte pipe (the SSH
 * channel on the client, stdin/stdout in the helper). It owns the streams,
 * their sockets, per-stream credit, and the frame buffers in both
 * directions. The owner moves bytes between those buffers and the pipe.
 *
 * Flow control: a receiver grants each stream `window` bytes of credit (or
 * more, see mux_set_credit) and returns credit (WINDOW frames) only as bytes
 * leave for the local socket, so a stream never holds more than its credit
 * in buffered data, and a slow reader stalls only its own stream.
 */
#ifndef SLUICE_MUX_H
#define SLUICE_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evloop.h"
#include "wire.h"

struct mux;

/* How a stream ended, for the owner's log. */
struct mux_stream_end {
	int reason;	   /* 0 for a clean close, else a positive errno */
	bool local;	   /* our side (its local socket) ended it, not the peer */
	uint64_t sent;	   /* payload bytes sent to the peer */
	uint64_t received; /* payload bytes received from the peer */
	uint64_t ms;	   /* how long it lived */
};

struct mux_ops {
	/*
	 * Helper side: start a connection for a peer's OPEN. Return a
	 * non-blocking socket whose connect may still be in progress, or a
	 * negative errno that is sent back as RESET.
	 */
	int (*connect)(void *ctx, const struct wire_open *dst);
	/* A stream ended. */
	void (*stream_closed)(void *ctx, uint32_t id, const struct wire_open *dst,
			      const struct mux_stream_end *end);
	/* PONG arrived. */
	void (*pong)(void *ctx, const uint8_t opaque[8]);
	/*
	 * A session frame that is not about streams (ROUTES, HOST, DNS_*,
	 * RESOLVER). Return 0, or -EPROTO when this side does not take it.
	 * NULL: every such frame is a protocol error.
	 */
	int (*ctl)(void *ctx, const struct wire_frame *f);
};

struct mux_stats {
	size_t streams;
	size_t buffered;      /* bytes held for local sockets */
	uint64_t over_budget; /* streams reset: all buffers together would pass the cap */
	uint64_t rx_bytes, tx_bytes;
	uint64_t credit_grown, credit_cut; /* streams' credit changes (mux_set_credit) */
	size_t credit_extra;		   /* credit held above the base window, all streams */
	uint64_t sparse_bytes;		   /* stream bytes sent ahead of bulk streams' */
	uint64_t peer_short;   /* streams the peer reset for want of descriptors or memory */
	int peer_short_err;    /* the errno of the last of those, */
	int64_t peer_short_ms; /* and when it came (the mux's clock) */
};

struct mux *mux_new(struct evloop *loop, uint32_t window, size_t out_high,
		    const struct mux_ops *ops, void *ctx);
/* The default cap on the buffers held for slow local readers, all streams together. */
#define MUX_BUFFERED_MAX (256u << 20)
/* Change that cap (tests). */
void mux_set_buffered_max(struct mux *m, size_t max);
/*
 * For an owner that may die without mux_free (a lane's worker, killed):
 * every stream opened from now on resets its socket if closed by the
 * kernel, not with a FIN a reader could take for a complete reply; a clean
 * end still closes cleanly.
 */
void mux_set_reset_if_killed(struct mux *m, bool on);
/* Lower the cap on open streams (200,000 by default), for tests. */
void mux_set_max_streams(struct mux *m, size_t max);

/* Resets every stream socket (RST: the peer sees the stream cut off). */
void mux_free(struct mux *m);

/* The peer's HELLO arrived: from now on streams get its window as send credit. */
void mux_set_peer_window(struct mux *m, uint32_t window);

/*
 * Receiver side: credit sized to the path. Once a round trip plus budget_ms,
 * a stream whose sender was held back by credit (it says so in its DATA)
 * while its credit went round in about a round trip (mux_set_rtt) gets
 * twice as much (a quarter more while other streams are active), up to
 * stream_max: on a long path the credit is in flight, not queued. A stream
 * holding more than it receives in a round trip plus budget_ms (a quarter
 * of that while others are active) is cut back, never below window: on a
 * short path a bulk stream queues no more than that ahead of a small
 * request. All streams together hold at most total_max above window, each
 * at most its share. Off (every stream at window) until called; once on,
 * the mux also sends a few PINGs of its own in the first seconds, for the
 * owner's mux_pong_rtt.
 */
void mux_set_credit(struct mux *m, uint32_t stream_max, size_t total_max, unsigned budget_ms);
/* The pipe's round trip as the owner measured it: what credit is sized by. */
void mux_set_rtt(struct mux *m, unsigned rtt_ms);
/*
 * The clock the mux reads (ms, monotonic) for credit, the scheduler and the
 * streams' ages; NULL: CLOCK_MONOTONIC_COARSE. For tests. Pings keep the
 * precise clock.
 */
void mux_set_clock(struct mux *m, uint64_t (*now_ms)(void *arg), void *arg);

/*
 * Client side: adopt an accepted socket as a new stream towards dst.
 * Returns 0 or -errno: -ENOSPC when the mux holds as many streams as it
 * may (not -EMFILE, which the caller would take for its descriptors).
 */
int mux_open_stream(struct mux *m, int fd, const struct wire_open *dst);

/*
 * Input: the owner reads the pipe into mux_in_space and reports it with
 * mux_in_commit, which handles every whole frame. HELLO is not for the mux:
 * the owner exchanges it before the first commit. Returns 0, -EPROTO when
 * the peer broke the protocol, or -ENOBUFS when the peer stopped reading so
 * long that control frames no longer fit (either way the session must end).
 */
uint8_t *mux_in_space(struct mux *m, size_t *len);
int mux_in_commit(struct mux *m, size_t n);

/*
 * Output: mux_fill moves data from readable streams into the output buffers,
 * until out_high bytes are queued: sparse streams first (those that sent
 * less than a chunk lately; their frames go out ahead of bulk data), then
 * bulk streams round-robin, a chunk a turn. The owner writes from
 * mux_out_peek and reports with mux_out_consume. While a write is pending
 * (the transport said EAGAIN), the owner sets pinned so queued bytes stay put.
 */
void mux_fill(struct mux *m);
const uint8_t *mux_out_peek(struct mux *m, size_t *len);
void mux_out_consume(struct mux *m, size_t n);
void mux_out_pin(struct mux *m, bool pinned);

/* Queue a PING. Returns 0 or -ENOBUFS. */
int mux_ping(struct mux *m, const uint8_t opaque[8]);
/* Queue a PING carrying the time now, for mux_rtt_ms. Returns 0 or -ENOBUFS. */
int mux_ping_now(struct mux *m);
/*
 * The round trip of a PING from mux_ping_now, given its echoed PONG: ms, or
 * -EINVAL when the bytes cannot be ours (the peer only echoes them, but it
 * is not trusted).
 */
int mux_rtt_ms(const uint8_t opaque[8]);
/*
 * A PONG to one of our mux_ping_now: the smallest round trip seen (capped
 * at MUX_RTT_MAX_MS, since the peer's echo is not trusted) becomes the one
 * mux_set_rtt uses. Returns that round trip when this PONG lowered it, -1
 * otherwise.
 */
int mux_pong_rtt(struct mux *m, const uint8_t opaque[8]);
#define MUX_RTT_MAX_MS 1000
/* How often each end pings the other (the round trip sizes streams' credit). */
#define MUX_PING_SEC 10

/*
 * Queue a whole session frame of the owner's, behind what is queued.
 * Returns 0, or -ENOBUFS when it would eat into the room kept for the
 * mux's own control frames (the owner drops it and counts).
 */
int mux_send_ctl(struct mux *m, const uint8_t *frame, size_t len);

/*
 * Queue a datagram frame (UDP, ECHO) of the owner's. Datagrams have a small
 * queue of their own (128 KiB) and share the pipe with stream data by
 * bytes, behind control frames. Returns 0, -ENOBUFS when the queue is full
 * (the owner drops it and counts), or -EINVAL when len is not the frame's.
 */
int mux_send_dgram(struct mux *m, const uint8_t *frame, size_t len);

void mux_get_stats(const struct mux *m, struct mux_stats *st);

/* Call cb for each open stream with its counters so far (reason 0). Returns how many. */
size_t mux_each_stream(const struct mux *m,
		       void (*cb)(void *arg, uint32_t id, const struct wire_open *dst,
				  const struct mux_stream_end *sofar),
		       void *arg);

#endif
