/*
 * tunnel: the client's end of the pipe: the transport (whichever backend),
 * pumped between its descriptors and the mux. Also relays the helper's
 * stderr into our log and notices a session that has stopped moving.
 */
#ifndef SLUICE_TUNNEL_H
#define SLUICE_TUNNEL_H

#include <stdbool.h>
#include <time.h>

#include "../../common/evloop.h"
#include "../../common/mux.h"
#include "transport.h"

struct tunnel {
	struct transport *tr;
	struct evloop *loop;
	struct mux *mux;
	struct ev_io io, err_io; /* the transport's descriptors (err_io.fd -1 if none) */
	uint32_t watched;	 /* epoll events currently registered for io */
	bool pending;		 /* the last write returned EAGAIN: repeat it exactly */
	size_t pending_len;
	bool more;	  /* the pump stopped early; run it again without sleeping */
	char errbuf[512]; /* partial stderr line from the helper */
	size_t errlen;
	char lastline[512]; /* its last whole non-empty line: the reason when it exits */
	struct timespec last_rx, last_ping;
	struct timespec last_tx; /* the last write that moved bytes, or when output was empty */
	int ping_sec;		 /* how often we ping the helper */
	int dead_sec;		 /* silence (or nothing accepted) for this long: the peer is dead */
	struct timespec probe;	 /* tunnel_probe: an answer is due by probe + TUNNEL_PROBE_SEC */
	int64_t probe_ms;	 /* the same instant, as clock_ms() */
	struct timespec excused; /* tunnel_excuse: silence counts from here at the earliest */
	bool probing;
	bool net_back; /* probing since the network came back: due by back_until */
	struct timespec back_until;
	bool net_down;		     /* no route to the server: silence is not judged meanwhile */
	struct timespec net_down_at; /* the path first lost: kept until the server answers */
	int net_down_sec;	     /* since then (it may have come and gone), once back */
	bool addr_gone;		     /* the connection's own address is gone from this machine */
	struct timespec addr_gone_at;
	int failed;    /* 0, or -errno once the session is unusable */
	char why[256]; /* one line for the user when failed */
};

/* The transport must be past HELLO. Watches its descriptors in loop. */
int tunnel_init(struct tunnel *t, struct transport *tr, struct evloop *loop, struct mux *mux);
/* Move bytes both ways until nothing moves (or a round limit). Sets t->failed on error. */
void tunnel_pump(struct tunnel *t);
enum tunnel_net {
	TUNNEL_NET_SAME,
	TUNNEL_NET_DOWN, /* no route to the server: waiting up to TUNNEL_NET_WAIT_SEC */
	TUNNEL_NET_BACK, /* the route is back after net_down_sec: asking the server */
};

/*
 * Called about once a second: keepalive and dead-peer detection. When the
 * server has gone quiet, the network is looked at first (netpath.h): the
 * transport's TCP socket when it is ours, else the route to the server's
 * addresses it knows (-e's; none through a proxy), a guess that the server
 * heard since overrules. With no route to the server, silence is not
 * judged, for up to TUNNEL_NET_WAIT_SEC from the first loss (a route that
 * comes and goes before the server answers is one wait): a connection
 * outlives a network that comes back, and the session with it. Once the
 * route is back, the server is asked at once and given TUNNEL_PROBE_SEC
 * plus the time since it was last heard (at most TCP's longest
 * retransmission timeout), since TCP's retries backed off about that long;
 * the wait goes on while that allowance runs, but never past a bound from
 * the first loss. With a route but the connection's own address gone for
 * TUNNEL_GONE_SEC (not judged meanwhile, and asked the same way if it
 * comes back), the connection is dead: the session fails then. Returns
 * what changed in the network, for the caller's log.
 */
enum tunnel_net tunnel_tick(struct tunnel *t);
/*
 * Ping every interval s and call the peer dead after interval * count s of
 * silence (ssh's ServerAliveInterval and ServerAliveCountMax); 0 keeps the
 * defaults, 10 s and 3.
 */
void tunnel_set_alive(struct tunnel *t, int interval, int count);
/*
 * Something may have broken the path (the machine slept): ping now, and
 * expect an answer soon. What answers it is a PONG to a ping sent since
 * (tunnel_pong), or bytes still arriving half TUNNEL_PROBE_SEC later: what
 * waited in this machine's buffers meanwhile is read at once, so it proves
 * nothing, while a slow path's backlog may hold the PONG back for long.
 */
void tunnel_probe(struct tunnel *t);
/* The mux's PONG callback passes its opaque here: it may answer a probe. */
void tunnel_pong(struct tunnel *t, const uint8_t opaque[8]);
/*
 * This process did not run for a while (stopped, a ^Z, a paused VM): what
 * it did not read meanwhile is not the server's silence. Silence counts
 * from now, and an answer is asked for at once, as after a sleep.
 */
void tunnel_excuse(struct tunnel *t);
/* Stop watching the transport's descriptors (the caller closes the transport). */
void tunnel_close(struct tunnel *t);

#define TUNNEL_PROBE_SEC    10
#define TUNNEL_NET_WAIT_SEC 60
/* An IPv6 address re-added with its link is not ours until its duplicate check ends. */
#define TUNNEL_GONE_SEC 3
/*
 * Whether a turn of the event loop that came late_ms after the one before
 * (a turn waits a second at most) means this process was away long enough
 * for tunnel_excuse: TUNNEL_PAUSED_MS, or half the silence that calls the
 * server dead when that is shorter, but never TUNNEL_PAUSED_MIN_MS or
 * less: an idle turn's own wait is no pause, or a dead server would be
 * excused for ever.
 */
bool tunnel_paused(const struct tunnel *t, int64_t late_ms);
#define TUNNEL_PAUSED_MS     5000
#define TUNNEL_PAUSED_MIN_MS 2000
/* How long the event loop may sleep. */
int tunnel_timeout_ms(const struct tunnel *t);

#endif
