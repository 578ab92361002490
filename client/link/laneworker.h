/*
 * laneworker: a further lane's login, bootstrap and run in a process of
 * its own (fork, no exec). A login takes about ten round trips; done in
 * the client's only loop it would stall every connection meanwhile, and
 * all lanes' crypto would share one core. The worker gets a socket of
 * messages (SOCK_SEQPACKET): on it the worker writes one result record of
 * a fixed size, then runs the lane whole, its mux and its streams
 * (laneown.h), and the parent sends it the connections it picked for the
 * lane. The parent reads the record without blocking. The worker dies
 * with the parent (its streams reset) and never runs the parent's
 * cleanup.
 *
 * A transport whose stream is only descriptors (-e's ssh, through its
 * ControlMaster) is handed over instead: they come with the record, the
 * parent reads and writes them itself, and the worker only waits for the
 * transport's process. The bytes cross as many processes either way (the
 * ControlMaster decrypts them all), and a worker running each -e lane
 * measured no better than this loop running them all (docs/PERFORMANCE.md).
 * The worker's exit code is then that process's, and ending the worker
 * ends it.
 */
#ifndef SLUICE_LANEWORKER_H
#define SLUICE_LANEWORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../common/wire.h"
#include "transport.h"

/* A limit of the server's that a further lane's try ran into. */
enum lane_limit {
	LANE_LIMIT_NONE = 0,
	LANE_LIMIT_STARTUPS, /* it hung up before its banner: MaxStartups */
	LANE_LIMIT_SESSIONS, /* it refused the session on the connection: MaxSessions */
	/*
	 * The ProxyCommand's or ProxyJump's end closed before the banner. A
	 * further lane runs it without a terminal (it must not ask): one that
	 * needs to ask can never open one, though lane 0's did.
	 */
	LANE_LIMIT_PROXY,
};

/* A handed-over worker's exit code when its process's own is unknown. */
#define LANEWORKER_NO_STATUS 255

struct laneown_cfg;

/* What the worker says once the lane is open, or why it is not. */
struct laneworker_result {
	int status;		/* 0, or -errno: the lane did not open */
	bool fatal;		/* on failure: trying again cannot help */
	enum lane_limit limit;	/* on failure: a limit of the server's refused it */
	struct wire_hello peer; /* on success: the helper's HELLO */
	bool handed;		/* on success: the stream's descriptors came with the record */
	char detail[160];	/* on success: the transport's detail, for the log */
	char err[512];		/* on failure: one line for the user */
};

/* magic, status, flags, HELLO (version, window, features, hash), two strings with a length each */
#define LANEWORKER_RECORD_LEN (4 + 4 + 4 + (2 + 4 + 4 + WIRE_HASH_LEN) + (2 + 160) + (2 + 512))

/* The record for r in buf (at least LANEWORKER_RECORD_LEN). Returns its length, or 0 if short. */
size_t laneworker_encode(uint8_t *buf, size_t len, const struct laneworker_result *r);
/*
 * A record back into *r: 0, -EMSGSIZE when len is not the record's, or
 * -EPROTO when it does not hold together (magic, lengths, a status > 0).
 */
int laneworker_decode(const uint8_t *buf, size_t len, struct laneworker_result *r);

/*
 * What the worker runs before the lane, blocking as long as it needs:
 * open *t and run the bootstrap over it, saying in *r how it went. On
 * failure it may leave *t open (the worker closes it).
 */
typedef void (*laneworker_open_fn)(void *arg, struct transport **t, struct laneworker_result *r);

struct laneworker {
	pid_t pid;  /* 0: none */
	int sock;   /* our end: the record, then laneown's messages (non-blocking) */
	size_t got; /* bytes of the record read so far */
	/* Handed with the record (laneworker_result.handed), -1 none: the stream and its stderr. */
	int passed_sock, passed_err;
	bool truncated; /* descriptors came with it that we had no room for (MSG_CTRUNC) */
	uint8_t rec[LANEWORKER_RECORD_LEN];
};

/*
 * Fork a worker that runs open(arg) and then the lane as own says
 * (laneown_run; the peer's window comes from the result), named comm (15
 * bytes at most) and showing title as its command line, so ps tells the
 * lanes apart (proctitle.h). Returns 0, or -errno (nothing is left then).
 */
int laneworker_start(struct laneworker *w, laneworker_open_fn open, void *arg,
		     const struct laneown_cfg *own, const char *comm, const char *title);
/*
 * Read what arrived of the record, never past it: -EAGAIN while it is
 * incomplete, 0 with *r once whole, -EPIPE when the worker ended first,
 * -EPROTO for a record that does not decode (or says handed without the
 * descriptors), -EMFILE when its descriptors found no room here, or
 * another -errno. With r->handed, they are in
 * w->passed_sock and w->passed_err, the caller's to take.
 */
int laneworker_poll(struct laneworker *w, struct laneworker_result *r);
/*
 * Close our ends and end the worker, without waiting here: child_stop_tick
 * reaps it, or signals it if it stays (child_stop_later). Safe when none.
 */
void laneworker_stop(struct laneworker *w);
/* How long laneworker_exit waits for a worker whose socket ended: it exits a moment later. */
#define LANEWORKER_REAP_MS 20
/*
 * A worker whose lane dropped: reap it if it is gone within wait_ms, and
 * put in how it ended when that was not by itself ("killed by SIGKILL",
 * "exited with status 3"), or "" otherwise. Returns 0 once reaped (w->pid
 * is 0 then), or -EAGAIN when there is no worker or it runs on
 * (laneworker_stop ends it).
 */
int laneworker_exit(struct laneworker *w, int wait_ms, char *how, size_t len);

#endif
