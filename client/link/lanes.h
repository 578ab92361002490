/*
 * lanes: how one tunnel spreads its TCP streams over several SSH sessions
 * to the same server (struct lane in session.h). One SSH channel has one
 * window (OpenSSH's sshd gives a session channel 2 MiB), so over a long
 * path a single channel caps all streams together at one window per round
 * trip; each lane brings a window of its own. How many: --lanes, or lane
 * 0's round trip decides (one on a short path, lane 0 and up to
 * LANES_AUTO_MAX more on a long one). Further lanes log in side by side,
 * LANES_OPENING_MAX at a time, each in a worker process of its own
 * (laneworker.h): the loop never waits for one. Once open, a further lane
 * runs whole in its worker, its streams too (laneown.h): this loop only
 * hands it the connections. A new stream goes to the lane that carries
 * the fewest; DNS, -N, -H, UDP and ping stay on lane 0.
 *
 * When the path decides, lane 0 also keeps the interactive sessions
 * (lanes_interactive_port: --interactive-ports, ssh's port and a few
 * others by default) and the further lanes, as many as the path
 * asks for, take every other stream once they are up; on a LAN the first
 * interactive session opens the one further lane (one lane alone is
 * faster while nobody types). Below the mux each lane is one FIFO (sshd's
 * buffer for the channel, the pipes, the TCP queues), and a keystroke's
 * echo behind a download there waits for it, however the muxes order
 * their own queues. Lane 0 runs in this process: with the downloads in
 * the workers (with -e, their bytes decrypted in ssh), the loop turns
 * fast enough for the echo to pass at once. A stream stays on the lane that opened it (its
 * socket at the far end is that lane's helper's), so the lane is chosen by
 * what the stream is likely to be: a copy over ssh (scp, git) shares lane
 * 0. --lanes fixes the number, and lane 0 takes streams as the others do.
 *
 * A further lane that drops resets only its own streams and is opened
 * again with backoff; lane 0 dropping is the whole session dropping
 * (main.c). A further lane that the server's limits keep refusing before
 * it ever opened (MaxStartups, MaxSessions) is given up for the session,
 * and one line says how many lanes carry on.
 */
#ifndef SLUICE_LANES_H
#define SLUICE_LANES_H

#include <stdbool.h>
#include <stddef.h>

#include "../../common/evloop.h"
#include "../../common/mux.h"
#include "session.h"

/*
 * The most lanes the path alone opens; below LANES_LAN_MS one, else one
 * more per LANES_RTT_STEP_MS: a lane's window carries less the longer the
 * round trip, so the lanes a path needs grow with it. The step is short:
 * eight streams at 30 ms moved more over eight lanes than over four, with
 * either transport, and shared them more evenly (docs/PERFORMANCE.md).
 */
#define LANES_AUTO_MAX	  8 /* further lanes for bulk, lane 0 besides */
#define LANES_LAN_MS	  20
#define LANES_RTT_STEP_MS 4
_Static_assert(LANES_AUTO_MAX + 1 <= SESSION_LANES_MAX,
	       "the path opens no more lanes than there are");
/* Round trips measured before the path decides: the smallest counts, not one slow answer. */
#define LANES_RTT_SAMPLES 3
/*
 * A round trip is quiet when lane 0 moved at most this many bytes since
 * the mark before its ping (lanes_mark): behind a bulk transfer a PING
 * waits in the queues, and a LAN would look like a long path.
 */
#define LANES_QUIET_BYTES (64u << 10)
/*
 * Round trips in all, once lane 0 was busy for any of them, before the
 * smallest decides: about as many seconds of a transfer that never pauses.
 * Such a decision holds until a quiet one says what the path is.
 */
#define LANES_BUSY_SAMPLES 6
/*
 * A round trip long enough to open lanes counts only when its own ping
 * left the mark it is judged from (sent at most LANES_MARK_SLACK_MS after
 * it), and the machine's tasks waited for a CPU for at most
 * 1/LANES_STALL_SHARE of it; after LANES_STALLED_MAX set aside, whatever
 * they waited (lanes_rtt).
 */
#define LANES_MARK_SLACK_MS 2
#define LANES_STALL_SHARE   4
#define LANES_STALLED_MAX   30
/* Further lanes logging in at the same time, at most (lanes_tick). */
#define LANES_OPENING_MAX 4
/*
 * Tries in all for a further lane whose connection the server drops before
 * its banner; and, through a proxy, before the tries slow down.
 */
#define LANES_LIMIT_TRIES 4
/* A lane that moved this much since the last tick is busy, for lanes_pick's ties. */
#define LANES_BUSY_BYTES (512u << 10)

/*
 * Whether a further lane that never opened in this session is given up
 * at its refusals-th refusal in a row by this limit of the server's. A
 * session refused on the connection (MaxSessions) stays refused while the
 * lanes up hold theirs: at once. A connection dropped before the banner
 * (MaxStartups) may pass once the others have logged in: after
 * LANES_LIMIT_TRIES. A proxy that let nothing through is never given up
 * (lanes.c tries it slowly).
 */
bool lanes_give_up(enum lane_limit limit, unsigned refusals);

/*
 * Pump every further lane that is up, and bring up those whose worker
 * answered; one that failed is closed (logged) and opened again later.
 */
void lanes_pump(struct session *s);
/* A further lane stopped early: the loop must not sleep. */
bool lanes_more(const struct session *s);
/*
 * About once a second while the session is up: keepalives, pings for the
 * path's decision, starting the lanes that are due (in their workers, not
 * waiting; LANES_OPENING_MAX logins at a time), and ending a worker that
 * took too long.
 */
void lanes_tick(struct session *s, struct evloop *loop);
/* Once a second (lanes_tick): which lanes moved LANES_BUSY_BYTES since the last call. */
void lanes_note_load(struct session *s);
/*
 * The machine slept: every further lane pings now and expects an answer
 * soon (tunnel_probe). paused: this process did not run meanwhile, and
 * what the lanes did not hear then is excused (tunnel_excuse).
 */
void lanes_probe(struct session *s, bool paused);
/*
 * A round trip measured on lane 0, in ms: the first LANES_RTT_SAMPLES
 * taken on a quiet pipe, and on CPUs that were not kept busy meanwhile,
 * decide the number; or LANES_BUSY_SAMPLES when lane 0 stays busy, until
 * a quiet one confirms or takes back what they decided. Each is judged
 * from the last lanes_mark before its ping: when the session opens, and
 * at each of lanes_tick's pings.
 */
void lanes_rtt(struct session *s, int rtt_ms);
/* Note lane 0's bytes and the CPU stall now, for the round trip of a ping about to go out. */
void lanes_mark(struct session *s);
/*
 * Where lanes_mark and lanes_rtt read the time and the CPU stall:
 * clock_ms and cpustall_read, or a test's own (NULL: those).
 */
void lanes_set_probes(int64_t (*now_ms)(void), int (*stall)(uint64_t *us));
/* The lanes for bulk a path of this round trip gets by default (ms). */
unsigned lanes_for_rtt(int rtt_ms);
/*
 * The lane a new stream to dst goes to: lane 0 for DNS, and for an
 * interactive port when lanes_split; else the lane with the fewest streams
 * (of those, one that was not busy in the last second, then the one given
 * a stream longest ago), of the further lanes that are up when
 * lanes_split (lane 0 while none is).
 * On a LAN the first stream to an interactive port asks for lane 1.
 */
unsigned lanes_pick(struct session *s, const struct wire_open *dst);
/*
 * Open the accepted connection fd towards dst on the lane lanes_pick
 * names. A lane that cannot take it now (a worker's full queue) is passed
 * over for the next-best by the same rules; lane 0, where lanes_split
 * keeps it for typing, takes a stream for the further lanes only when
 * none of them will. Returns 0, or -errno (fd is still the caller's then).
 */
int lanes_open(struct session *s, int fd, const struct wire_open *dst);
/* Whether port is one where people type: --interactive-ports (ssh, telnet, RDP, VNC). */
bool lanes_interactive_port(const struct opts *o, uint16_t port);
/* Whether lane 0 keeps the interactive sessions and the further lanes take the rest. */
bool lanes_split(const struct session *s);
/* How many lanes are up, lane 0 included (0 when the session is down). */
unsigned lanes_up(const struct session *s);
/*
 * Connections the lanes' workers took and reset unopened, those of lanes
 * that dropped included; *err gets the errno of the latest (0 when none).
 */
uint64_t lanes_refused(const struct session *s, int *err);
/* Every lane's counters together, with those of lanes that dropped. */
void lanes_stats(const struct session *s, struct mux_stats *sum);
/*
 * SIGUSR1: every lane's open streams, cb for those of lanes that run here
 * (the count is theirs); a lane that its worker runs logs its own.
 */
size_t lanes_table(struct session *s,
		   void (*cb)(void *arg, uint32_t id, const struct wire_open *dst,
			      const struct mux_stream_end *sofar),
		   void *arg);
/*
 * --status's candidates for the biggest streams: every stream of the lanes
 * that run here, and the biggest few each worker last reported.
 */
void lanes_each_top(const struct session *s,
		    void (*cb)(void *arg, uint32_t id, const struct wire_open *dst,
			       const struct mux_stream_end *sofar),
		    void *arg);

#endif
