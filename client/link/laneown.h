/*
 * laneown: a further lane run whole by its worker (laneworker.h). The
 * worker holds the lane's SSH session, its mux and every stream on it, so
 * the lane's bytes never cross the parent's loop: a hop there cost each
 * byte two copies and a wake-up of the loop that also carries the typing.
 * The parent accepts a connection, picks its lane (lanes.c) and sends the
 * socket to the worker; the worker reports its counters and its biggest
 * streams a few times a second, and why it ends. Both ends of that
 * exchange are here. They are the same program, forked, so the messages
 * are plain structs on a SOCK_SEQPACKET pair, each still checked for its
 * size and magic.
 */
#ifndef SLUICE_LANEOWN_H
#define SLUICE_LANEOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../common/evloop.h"
#include "../../common/mux.h"
#include "../../common/wire.h"
#include "transport.h"

/* How the worker sets up the lane's mux, and where its stream ends are logged. */
struct laneown_cfg {
	uint32_t window, peer_window;
	size_t out_high, buffered_max, credit_total;
	uint32_t credit_max;
	unsigned budget_ms;
	int alive_interval, alive_count; /* tunnel_set_alive's */
	unsigned lane;			 /* its number, for the log */
	/* -v's line per ended stream (the session's mux_ops); NULL: none. */
	void (*stream_closed)(void *ctx, uint32_t id, const struct wire_open *dst,
			      const struct mux_stream_end *end);
	void *ctx;
};

/* The biggest streams a report carries, for --status's top list. */
#define LANEOWN_TOP 5

struct laneown_conn {
	uint32_t id;
	struct wire_open dst;
	struct mux_stream_end sofar;
};

/* What the worker last said. */
struct laneown_report {
	uint32_t magic, kind;
	uint64_t taken; /* streams the worker took from us so far */
	struct mux_stats st;
	uint32_t n_top;
	struct laneown_conn top[LANEOWN_TOP];
	uint32_t failed; /* the lane ended: why says why */
	char why[256];
	/* Streams given to it that it reset unopened, and the errno of the last. */
	uint64_t refused;
	int32_t refused_err;
};

/* A worker that sends no report for this long is taken for stuck (it reports every second). */
#define LANEOWN_SILENT_MS 15000

/* The parent's end of one worker's lane. */
struct laneown {
	int sock; /* the worker's socket (laneworker's; not closed here), -1 none */
	struct ev_io io;
	struct evloop *loop;
	bool watched;	  /* io is in loop */
	uint64_t given;	  /* streams sent to the worker */
	int64_t heard_ms; /* when its last report came (clock_ms) */
	struct laneown_report last;
	int64_t refused_ms; /* when its count of those it reset unopened last grew */
	bool ended;	    /* the worker said the lane failed, or its socket ended: why */
	bool gone;	    /* its socket ended or broke: the worker has exited, not only failed */
	char why[256];
};

/*
 * In the worker, once the lane is open: run its mux over t until the
 * parent closes sock, SIGTERM comes, or the lane fails (its reason goes to
 * the parent first). Every stream still open is reset at the end. Returns
 * the worker's exit code.
 */
int laneown_run(struct transport *t, int sock, const struct laneown_cfg *cfg);

/* In the parent: watch the worker's reports on sock (non-blocking) in loop. Returns 0 or -errno. */
int laneown_attach(struct laneown *o, struct evloop *loop, int sock);
/* Stop watching; the socket stays the worker's owner's to close. Safe when not attached. */
void laneown_detach(struct laneown *o);
/*
 * Hand the connection fd (ours until this returns 0) to the worker, towards
 * dst. Returns 0 (fd is closed here: the worker has its copy), -EAGAIN
 * when the worker's queue is full, or another -errno (the lane is over
 * then: laneown_failed says why).
 */
int laneown_give(struct laneown *o, int fd, const struct wire_open *dst);
/* Ask the worker to ping now (the machine slept), or to log its open streams. */
int laneown_probe(struct laneown *o);
/*
 * We did not run for a while (tunnel_excuse): the worker's silence
 * meanwhile is ours. Its silence counts from now; it is asked to ping.
 */
int laneown_excuse(struct laneown *o);
int laneown_table(struct laneown *o);
/* Why the lane is over (its worker said so, ended, or fell silent); NULL while it runs. */
const char *laneown_failed(const struct laneown *o);
/*
 * Connections the worker took and had to reset before they reached the
 * lane's mux, as last reported: *err the last one's errno, *when_ms when
 * the count last grew (clock_ms; 0: never).
 */
uint64_t laneown_refused(const struct laneown *o, int *err, int64_t *when_ms);
/* The lane's counters as last reported, its streams counting those given since. */
void laneown_stats(const struct laneown *o, struct mux_stats *st);
/* Call cb for each of the biggest streams the worker last reported. Returns how many. */
size_t laneown_each_top(const struct laneown *o,
			void (*cb)(void *arg, uint32_t id, const struct wire_open *dst,
				   const struct mux_stream_end *sofar),
			void *arg);

#endif
