/*
 * session: one SSH session and the helper at its end: the transport
 * (libssh2 or -e), the bootstrap, the mux and the tunnel pump; and its
 * further lanes, each the same again to the same server. Made at start
 * and made again after every drop of lane 0; what outlives a session (the
 * listeners, the rules, -N/-H/--dns state) belongs to the caller.
 */
#ifndef SLUICE_SESSION_H
#define SLUICE_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "../../common/evloop.h"
#include "../../common/mux.h"
#include "../opts.h"
#include "laneown.h"
#include "laneworker.h"
#include "progress.h"
#include "../ssh/sshconf.h"
#include "transport.h"
#include "tunnel.h"

struct session_args {
	const struct opts *o;
	const struct sshconf *cfg; /* ssh -G's answer for o->remote_host */
	const struct progress *pg;
	const struct mux_ops *ops; /* for the mux, with ctx */
	void *ctx;
	uint32_t want; /* feature bits to ask the helper for */
};

struct direct;
struct session;

/*
 * Lane 0 and the further lanes together, at most: --lanes's, or lane 0 and
 * as many further lanes for bulk when the path decides (lanes.h).
 */
#define SESSION_LANES_MAX 9
_Static_assert(SESSION_LANES_MAX == OPTS_MAX_LANES + 1, "--lanes must fit the lanes");

/*
 * A further lane: an SSH session of its own to the same server, with a
 * helper and a mux of its own, that carries a share of the TCP streams
 * (client/link/lanes.c decides which, and when it opens). Its login runs
 * in a worker process (laneworker.h), which then runs the lane whole, its
 * streams too (own, laneown.h). With -e, ssh's own descriptors are handed
 * over instead, and the lane runs here: tr, mux and tun.
 */
struct lane {
	struct session *s;
	unsigned idx;
	bool owned; /* its worker runs it (own); else tr, mux and tun here */
	struct laneown own;
	struct transport *tr;
	struct mux *mux;
	struct tunnel tun;
	char detail[160]; /* its transport's, for the log */
	bool up;
	bool opening; /* its worker logs in: w and wio are live */
	struct laneworker w;
	struct ev_io wio; /* the worker's socket, watched for its answer */
	struct evloop *loop;
	int64_t open_since;    /* clock_ms when its worker started */
	unsigned fails;	       /* opens failed (or quick drops) in a row, for the backoff */
	int64_t next_try;      /* clock_ms before which it is not opened again */
	unsigned drops;	       /* times it dropped in this session */
	int64_t since_ms;      /* when it last opened */
	bool fatal;	       /* the last open failed for a reason no retry will fix */
	bool login_refused;    /* it worked, then its login was refused: on refused_next's clock */
	enum lane_limit limit; /* the last open ran into this limit of the server's */
	unsigned refusals;     /* opens refused by a limit in a row, before it ever opened */
	bool refused;	       /* given up for the server's limit: not opened again this session */
};

/* How lane 0 shares the streams with the further lanes (lanes.h). Zeroed: SPLIT_NONE. */
enum lane_split {
	SPLIT_NONE = 0,	 /* lane 0 takes any stream, as the further lanes do (or is alone) */
	SPLIT_ON_TYPING, /* a LAN: the first interactive session opens lane 1, then SPLIT_ON */
	SPLIT_ON, /* lane 0 keeps the interactive sessions, the further lanes take the rest */
};

/*
 * What lane 0 had moved, and how long the machine's tasks had waited for a
 * CPU (cpustall.h), when a ping for the path's decision went out: a round
 * trip is judged by what happened between its ping and its answer.
 */
struct rtt_mark {
	int64_t ms;
	uint64_t bytes;
	uint64_t stall_us;
	bool stall_known;
};
#define SESSION_RTT_MARKS 4

struct session {
	struct transport *tr;
	struct mux *mux;
	struct tunnel tun;
	struct direct *direct; /* --direct: connections go to the command's ControlMaster */
	char ctl_dir[112];     /* --direct: a private directory for its socket, and that socket */
	char ctl_path[128];
	bool up;
	bool fatal; /* the last session_open failed for a reason no retry will fix */
	const struct session_args *a; /* what it was opened with: the lanes open with it too */
	/*
	 * Lane 0 is tr, mux and tun above: -N, -H, DNS, UDP and ping stay on
	 * it, and when it drops the whole session does. lane[0] is unused.
	 */
	struct lane lane[SESSION_LANES_MAX];
	unsigned n_lanes;	   /* lanes wanted, lane 0 included (1 until the path decides) */
	bool lanes_decided;	   /* n_lanes is final for this session */
	enum lane_split split;	   /* how lane 0 shares the streams with the further lanes */
	bool typed;		   /* an interactive session opened before the path decided */
	unsigned rtt_samples;	   /* round trips measured on lane 0 so far, on a quiet pipe */
	int rtt_min;		   /* the smallest of them, ms (-1: none yet) */
	unsigned rtt_busy_samples; /* and on a busy one, */
	int rtt_busy_min;	   /* the smallest of those (lanes_rtt) */
	bool decided_busy;	   /* decided on those: a quiet round trip may still undo it */
	unsigned rtt_confirmed;	   /* quiet long ones since, that confirm it */
	unsigned rtt_stalled;	   /* round trips set aside: the CPUs were busy meanwhile */
	uint64_t rx_gone, tx_gone; /* bytes of lanes that dropped: totals never go back */
	uint64_t over_budget_gone; /* and their streams reset at the buffer cap */
	uint64_t refused_gone;	   /* and connections their workers reset unopened, */
	int refused_gone_err;	   /* the errno of the last of those, */
	int64_t refused_gone_ms;   /* and when (clock_ms) */
	/* The last login try booked for a once-working lane refused for good (lanes_failed). */
	int64_t refused_next;
	uint64_t peer_short_gone; /* and streams their helpers reset for want of room */
	int peer_short_gone_err;
	int64_t peer_short_gone_ms;
	/* The last few lanes_mark, and how many were made. */
	struct rtt_mark rtt_mark[SESSION_RTT_MARKS];
	unsigned rtt_marks;
	/*
	 * What lanes_pick weighs between lanes that carry as many streams
	 * (lanes.c): the streams it placed so far, and for each lane (0 too)
	 * that count when it was last given one, its bytes at the last
	 * second's tick, and whether it moved LANES_BUSY_BYTES in that second.
	 */
	uint64_t picks;
	struct lane_load {
		uint64_t picked, bytes;
		bool busy;
	} load[SESSION_LANES_MAX];
	enum lane_limit limit_hit; /* the limit a further lane was given up for (lanes.c) */
	bool proxy_said;	   /* the line on lanes that no proxy lets through was logged */
	bool limit_said;	   /* and the line about it was logged */
};

/*
 * Connect, authenticate, start the helper, and pump through loop.
 * Blocking until the helper said HELLO. Returns 0, or -errno with one
 * line for the user in err and s->fatal set when retrying cannot help.
 */
int session_open(struct session *s, const struct session_args *a, struct evloop *loop, char *err,
		 size_t errlen);

/*
 * Start opening further lane i (1 <= i < SESSION_LANES_MAX) to the same
 * server, in a worker process: its login asks nothing on the terminal, and
 * nothing here waits for it. The session must be up. Returns 0 (the lane
 * is opening), or -errno.
 */
int session_lane_start(struct session *s, unsigned i, struct evloop *loop);
/*
 * Without blocking, how opening lane i goes: -EAGAIN while its worker
 * works, 0 once the lane is up, or -errno with one line in err (and
 * lane[i].fatal set when retrying cannot help); the lane is closed then.
 */
int session_lane_poll(struct session *s, unsigned i, char *err, size_t errlen);
/*
 * Close further lane i, open or opening: its streams are reset, its
 * counters kept in the *_gone ones, its worker ended and reaped.
 */
void session_lane_close(struct session *s, unsigned i);

/* Tear it down, every lane: every open stream is reset, the transports closed. Safe when not up. */
void session_close(struct session *s);

/* Lane i's counters (0: lane 0), wherever it runs. False, with zeros, when it is not up. */
bool session_lane_stats(const struct session *s, unsigned i, struct mux_stats *st);
/*
 * Open the accepted connection fd towards dst on lane i, which is up.
 * Returns 0, or -errno (fd is still the caller's then).
 */
int session_lane_open(struct session *s, unsigned i, int fd, const struct wire_open *dst);
/* Lane i failed (its tunnel, or its worker): why, in one line; NULL while it is fine. */
const char *session_lane_failed(const struct session *s, unsigned i);
/*
 * Lane i failed: how its worker ended, when the worker ran the lane and
 * did not end by itself (laneworker_exit), else "".
 */
void session_lane_exit(struct session *s, unsigned i, char *how, size_t len);
/*
 * The cap on buffers for slow local readers, and the one on credit above
 * the base window, stay one cap each for the whole tunnel: lane 0 takes
 * its share of n_lanes, shrinking as the lanes start, growing back when
 * their count is cut, but only as the lanes above it close (each holds the
 * share it opened with until then, and gives it back as it goes).
 */
void session_share(struct session *s);
/* What lane 0's share is of each cap: 1/this. */
unsigned session_shares(const struct session *s);
/* Lane i pings now and expects an answer soon (the machine slept); lanes_probe's paused. */
void session_lane_probe(struct session *s, unsigned i, bool paused);
/* SIGUSR1: lane i's open streams into the log (its worker's own lines when it runs them). */
size_t session_lane_table(struct session *s, unsigned i,
			  void (*cb)(void *arg, uint32_t id, const struct wire_open *dst,
				     const struct mux_stream_end *sofar),
			  void *arg);

#endif
