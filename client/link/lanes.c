/*
 * lanes: spread streams over the session's lanes, and keep the lanes open
 * (see lanes.h).
 */
#include "lanes.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../common/clock.h"
#include "../../common/log.h"
#include "cpustall.h"

#define LANE_BACKOFF_FIRST_MS 1000
#define LANE_BACKOFF_MAX_MS   30000
/* A lane that lived this long before it dropped starts its backoff again from the first step. */
#define LANE_STEADY_MS	      30000
#define LANE_REFUSED_RETRY_MS 600000
/* A worker that has not said how its login went by then is ended: a failed try. */
#define LANE_OPEN_MAX_MS 30000
/* Lanes refused by a limit together try again this far apart, not all at once into it again. */
#define LANE_STAGGER_MS 400

static int64_t lane_backoff_ms(unsigned fails)
{
	int64_t ms = LANE_BACKOFF_MAX_MS;

	if (fails < 6)
		ms = (int64_t)LANE_BACKOFF_FIRST_MS << fails;
	return ms < LANE_BACKOFF_MAX_MS ? ms : LANE_BACKOFF_MAX_MS;
}

static const char *host_of(const struct session *s)
{
	return s->a->cfg->hostname;
}

bool lanes_give_up(enum lane_limit limit, unsigned refusals)
{
	switch (limit) {
	case LANE_LIMIT_SESSIONS:
		return true;
	case LANE_LIMIT_STARTUPS:
		return refusals >= LANES_LIMIT_TRIES;
	default:
		return false;
	}
}

/*
 * A LAN's one further lane only keeps bulk away from typing: without it all
 * goes on lane 0, as without lanes, so its failures are told at -v only.
 * The path says so, not the count, which a failure on a long path can cut.
 */
static bool lane_for_typing_only(const struct session *s)
{
	return s->split == SPLIT_ON && lanes_for_rtt(s->rtt_min) == 1;
}

/*
 * No banner came through lane i's proxy, LANES_LIMIT_TRIES times in a row.
 * A further lane runs it without a terminal: one that asks for anything
 * (a password, a one-time code) fails there every time, but so does a
 * jump host that is down for a while. Once in LANE_REFUSED_RETRY_MS, not
 * every few seconds (each try may cost the user a second-factor push),
 * and never given up; one line for the session, in the proxy's words.
 */
static void lane_proxy_refused(struct session *s, unsigned i, const char *err)
{
	struct lane *l = &s->lane[i];
	unsigned up = lanes_up(s);

	l->next_try = clock_ms() + LANE_REFUSED_RETRY_MS + (int64_t)i * LANE_STAGGER_MS;
	if (s->proxy_said) {
		log_debug("opening lane %u to %s failed: %s; next try in %d min", i, host_of(s),
			  err, LANE_REFUSED_RETRY_MS / 60000);
		return;
	}
	s->proxy_said = true;
	if (lane_for_typing_only(s))
		log_debug("lanes: lane %u did not open through the proxy (%s); every connection "
			  "stays on lane 0",
			  i, err);
	else
		log_warn("lanes: lane %u to %s did not open through the proxy %u times (%s); a "
			 "further lane runs it without a terminal, so one that asks for anything "
			 "fails there; carrying on with %u lane%s, trying again every %d min",
			 i, host_of(s), l->refusals, err, up, up == 1 ? "" : "s",
			 LANE_REFUSED_RETRY_MS / 60000);
}

/* Lane i, never open yet, ran into a limit of the server's: a few tries, quietly, or none. */
static void lane_refused(struct session *s, unsigned i, const char *err)
{
	struct lane *l = &s->lane[i];
	int64_t ms;

	l->refusals++;
	if (lanes_give_up(l->limit, l->refusals)) {
		l->refused = true;
		s->limit_hit = l->limit;
		log_debug("opening lane %u to %s failed: %s; not trying it again", i, host_of(s),
			  err);
		return;
	}
	if (l->limit == LANE_LIMIT_PROXY && l->refusals >= LANES_LIMIT_TRIES) {
		lane_proxy_refused(s, i, err);
		return;
	}
	ms = lane_backoff_ms(l->refusals) + (int64_t)i * LANE_STAGGER_MS;
	l->next_try = clock_ms() + ms;
	log_debug("opening lane %u to %s failed: %s; next try in %" PRId64 " ms", i, host_of(s),
		  err, ms);
}

/*
 * Once a lane was given up for a limit and no other is opening or waiting
 * on one, the one line on what the server allows.
 */
static void lanes_tell_limit(struct session *s)
{
	unsigned i, up;

	if (!s->limit_hit || s->limit_said)
		return;
	for (i = 1; i < s->n_lanes && i < SESSION_LANES_MAX; i++) {
		const struct lane *l = &s->lane[i];

		/* (a proxy's lane waits long, and says so itself) */
		if (l->opening ||
		    (l->refusals && !l->refused && !l->up && l->limit != LANE_LIMIT_PROXY))
			return;
	}
	s->limit_said = true;
	up = lanes_up(s);
	if (lane_for_typing_only(s)) {
		log_debug("lanes: %s refused a further lane (%s); every connection stays on lane 0",
			  host_of(s),
			  s->limit_hit == LANE_LIMIT_SESSIONS ? "MaxSessions" : "MaxStartups");
		return;
	}
	if (s->limit_hit == LANE_LIMIT_SESSIONS)
		log_warn("lanes: %s allows %u session%s on one connection (MaxSessions); "
			 "carrying on with %u lane%s of %u",
			 host_of(s), up, up == 1 ? "" : "s", up, up == 1 ? "" : "s", s->n_lanes);
	else
		log_warn("lanes: %s kept closing further connections before its banner "
			 "(MaxStartups); carrying on with %u lane%s of %u",
			 host_of(s), up, up == 1 ? "" : "s", s->n_lanes);
}

/* Lane i did not open. A refusal no retry can fix (a prompt needed) stops at i lanes. */
static void lane_failed(struct session *s, unsigned i, const char *err)
{
	struct lane *l = &s->lane[i];
	int64_t wait_ms;
	unsigned k;

	/*
	 * Only a lane that never opened: one that worked and dropped (its login
	 * now refused, an agent key expired) is tried again below, and the
	 * lanes above it, up and carrying connections, are left alone.
	 */
	if (l->fatal && !l->since_ms) {
		if (lane_for_typing_only(s))
			log_debug(
			    "opening lane %u to %s failed: %s; every connection stays on lane 0", i,
			    host_of(s), err);
		else
			log_warn("opening lane %u to %s failed: %s; going on with %u lane%s", i,
				 host_of(s), err, i, i == 1 ? "" : "s");
		if (s->n_lanes > i)
			s->n_lanes = i;
		/*
		 * The others opening above it would meet the same refusal; one up
		 * already goes too, since the lanes' budgets are shared out by
		 * the count.
		 */
		for (k = i + 1; k < SESSION_LANES_MAX; k++)
			if (s->lane[k].opening || s->lane[k].up)
				session_lane_close(s, k);
		return;
	}
	/* A lane that worked and dropped is opened again as ever, whatever refuses it now. */
	if (l->limit != LANE_LIMIT_NONE && !l->since_ms) {
		lane_refused(s, i, err);
		return;
	}
	/* Refusals count in a row: a failure of another kind ends the run. */
	l->refusals = 0;
	l->fails++;
	/*
	 * A login refused for good, of a lane that worked: slowly, for each try
	 * offers every key, and a server's fail2ban would ban the address of
	 * every lane, lane 0 included. One such try in LANE_REFUSED_RETRY_MS
	 * for the whole session, however many lanes wait for it.
	 */
	wait_ms = lane_backoff_ms(l->fails);
	if (l->fatal) {
		int64_t now = clock_ms(), at = s->refused_next > now ? s->refused_next : now;

		s->refused_next = at + LANE_REFUSED_RETRY_MS;
		wait_ms = s->refused_next - now;
		l->login_refused = true;
	}
	l->next_try = clock_ms() + wait_ms;
	log_warn("opening lane %u to %s failed: %s; next try in %" PRId64 " s", i, host_of(s), err,
		 wait_ms / 1000);
}

/* Lane i's worker answered, or not yet. */
static void lane_opened(struct session *s, unsigned i)
{
	struct lane *l = &s->lane[i];
	char err[512];
	int ret;

	ret = session_lane_poll(s, i, err, sizeof(err));
	if (ret == -EAGAIN)
		return;
	if (ret < 0) {
		lane_failed(s, i, err);
		return;
	}
	l->since_ms = clock_ms();
	l->refusals = 0;
	/* Logins work again: the lanes waiting on the refused clock try now. */
	if (l->login_refused) {
		unsigned k;

		for (k = 1; k < SESSION_LANES_MAX; k++)
			if (s->lane[k].login_refused) {
				s->lane[k].login_refused = false;
				s->lane[k].next_try = l->since_ms;
			}
		s->refused_next = 0;
	}
	log_debug("lane %u to %s is open after %" PRId64 " ms (%s; %u lanes in all)", i, host_of(s),
		  l->since_ms - l->open_since, l->detail, lanes_up(s));
}

void lanes_pump(struct session *s)
{
	struct mux_stats ms;
	unsigned i;

	for (i = 1; i < SESSION_LANES_MAX; i++) {
		struct lane *l = &s->lane[i];
		const char *why;
		char how[64];

		if (l->opening)
			lane_opened(s, i);
		if (!l->up)
			continue;
		/* A lane its worker runs moves without us: only its end is ours to see. */
		if (!l->owned)
			tunnel_pump(&l->tun);
		why = session_lane_failed(s, i);
		if (!why)
			continue;
		session_lane_stats(s, i, &ms);
		session_lane_exit(s, i, how, sizeof(how));
		log_warn("lane %u of the session to %s dropped: %s%s%s%s; %zu open connection%s "
			 "reset; reopening it",
			 i, host_of(s), why, how[0] ? " (" : "", how, how[0] ? ")" : "", ms.streams,
			 ms.streams == 1 ? "" : "s");
		/* A lane that keeps dropping as soon as it opens must not cost a login a second. */
		l->fails = clock_ms() - l->since_ms >= LANE_STEADY_MS ? 0 : l->fails + 1;
		l->drops++;
		l->next_try = clock_ms() + lane_backoff_ms(l->fails);
		session_lane_close(s, i);
	}
	lanes_tell_limit(s);
}

bool lanes_more(const struct session *s)
{
	unsigned i;

	for (i = 1; i < SESSION_LANES_MAX; i++)
		if (s->lane[i].up && !s->lane[i].owned && s->lane[i].tun.more)
			return true;
	return false;
}

/* Payload bytes lane 0 moved either way so far. */
static uint64_t lane0_bytes(const struct session *s)
{
	struct mux_stats ms;

	if (!s->mux)
		return 0;
	mux_get_stats(s->mux, &ms);
	return ms.rx_bytes + ms.tx_bytes;
}

void lanes_note_load(struct session *s)
{
	struct mux_stats ms;
	unsigned i;

	for (i = 0; i < SESSION_LANES_MAX; i++) {
		struct lane_load *ld = &s->load[i];
		uint64_t now;

		if (!session_lane_stats(s, i, &ms)) {
			ld->busy = false;
			ld->bytes = 0;
			continue;
		}
		now = ms.rx_bytes + ms.tx_bytes;
		/*
		 * A lane that opened again has a new mux counting from 0; the
		 * tick that saw it down zeroed bytes, but a reopen between two
		 * ticks must not read as a huge count.
		 */
		ld->busy = (now >= ld->bytes ? now - ld->bytes : now) >= LANES_BUSY_BYTES;
		ld->bytes = now;
	}
}

/*
 * Lanes at and above n_lanes that a decision taken back left up: they take
 * no new stream (lane_fewest), and close once their streams have ended.
 */
static void lanes_shed(struct session *s)
{
	struct mux_stats ms;
	unsigned i;

	for (i = s->n_lanes; i < SESSION_LANES_MAX; i++) {
		struct lane *l = &s->lane[i];

		if (l->opening || (l->up && session_lane_stats(s, i, &ms) && ms.streams == 0))
			session_lane_close(s, i);
	}
}

void lanes_tick(struct session *s, struct evloop *loop)
{
	int64_t now = clock_ms();
	unsigned i, opening;

	lanes_note_load(s);
	for (i = 1; i < SESSION_LANES_MAX; i++)
		if (s->lane[i].up && !s->lane[i].owned)
			(void)tunnel_tick(&s->lane[i].tun); /* -e's: lane 0 tells the network */
	/*
	 * A ping a second until the path is known, and while a decision taken
	 * behind a transfer waits for a quiet one: the tunnel's own come every
	 * 10 s.
	 */
	if (!s->lanes_decided || s->decided_busy) {
		lanes_mark(s);
		mux_ping_now(s->mux);
		if (!s->lanes_decided)
			return;
	}
	lanes_shed(s);
	for (i = 1; i < SESSION_LANES_MAX; i++) {
		struct lane *l = &s->lane[i];

		if (l->opening && now - l->open_since >= LANE_OPEN_MAX_MS) {
			char why[64];

			snprintf(why, sizeof(why), "its worker gave no answer within %d s",
				 LANE_OPEN_MAX_MS / 1000);
			session_lane_close(s, i);
			l->fatal = false;
			l->limit = LANE_LIMIT_NONE;
			lane_failed(s, i, why);
		}
	}
	/*
	 * The lanes that are due, side by side in their workers, but no more
	 * than LANES_OPENING_MAX logins at a time: sshd's MaxStartups counts
	 * them all, with anyone else's, from 10 by default.
	 */
	for (i = 1, opening = 0; i < SESSION_LANES_MAX; i++)
		opening += s->lane[i].opening;
	for (i = 1; i < s->n_lanes && i < SESSION_LANES_MAX && opening < LANES_OPENING_MAX; i++) {
		struct lane *l = &s->lane[i];
		int ret;

		if (l->up || l->opening || l->refused || now < l->next_try)
			continue;
		opening++;
		ret = session_lane_start(s, i, loop);
		if (ret < 0) {
			l->fatal = false;
			l->limit = LANE_LIMIT_NONE;
			lane_failed(s, i, strerror(-ret));
		}
	}
}

void lanes_probe(struct session *s, bool paused)
{
	unsigned i;

	for (i = 1; i < SESSION_LANES_MAX; i++)
		session_lane_probe(s, i, paused);
}

unsigned lanes_for_rtt(int rtt_ms)
{
	unsigned n;

	if (rtt_ms < LANES_LAN_MS)
		return 1;
	n = 1 + (unsigned)rtt_ms / LANES_RTT_STEP_MS;
	return n < LANES_AUTO_MAX ? n : LANES_AUTO_MAX;
}

static int64_t (*probe_now)(void) = clock_ms;
static int (*stall_read)(uint64_t *us) = cpustall_read;

void lanes_set_probes(int64_t (*now_ms)(void), int (*stall)(uint64_t *us))
{
	probe_now = now_ms ? now_ms : clock_ms;
	stall_read = stall ? stall : cpustall_read;
}

void lanes_mark(struct session *s)
{
	struct rtt_mark *k = &s->rtt_mark[s->rtt_marks++ % SESSION_RTT_MARKS];

	k->ms = probe_now();
	k->bytes = lane0_bytes(s);
	k->stall_known = stall_read(&k->stall_us) == 0;
}

/*
 * The last mark made before a ping sent at sent_ms; NULL when the ring no
 * longer holds one. For a ping of the mux's own, sent after that mark,
 * more bytes are counted between the two than the round trip saw, never
 * fewer.
 */
static const struct rtt_mark *rtt_mark_before(const struct session *s, int64_t sent_ms)
{
	const struct rtt_mark *best = NULL;
	unsigned i, n = s->rtt_marks < SESSION_RTT_MARKS ? s->rtt_marks : SESSION_RTT_MARKS;

	for (i = 0; i < n; i++) {
		const struct rtt_mark *k = &s->rtt_mark[i];

		if (k->ms <= sent_ms && (!best || k->ms > best->ms))
			best = k;
	}
	return best;
}

/*
 * Whether the CPUs were kept busy while a ping of rtt_ms was out, judged
 * from its own mark. A round trip through our own processes waits for each
 * of them to be scheduled: on a loaded machine, or in a container whose CPU
 * quota ran out, a LAN answers as slowly as a long path, and would get its
 * lanes. A machine that stays busy still gets its decision: after
 * LANES_STALLED_MAX set aside, long round trips count whatever the CPUs
 * did, since load makes none shorter than the path.
 */
static bool rtt_stalled(const struct session *s, const struct rtt_mark *k, int rtt_ms)
{
	uint64_t now;

	if (!k->stall_known || s->rtt_stalled >= LANES_STALLED_MAX || stall_read(&now) < 0 ||
	    now < k->stall_us)
		return false;
	return now - k->stall_us > (uint64_t)rtt_ms * 1000 / LANES_STALL_SHARE;
}

/* The path's round trip is path_ms: the lanes it needs, and how lane 0 shares with them. */
static void lanes_decide(struct session *s, int path_ms)
{
	unsigned bulk = lanes_for_rtt(path_ms);

	s->rtt_min = path_ms;
	/*
	 * On a LAN one lane carries everything at full speed; a further lane
	 * costs a login and a hop, and pays only while someone types beside a
	 * download: the first interactive session opens it (lanes_pick), or
	 * now, when one opened already.
	 */
	if (bulk > 1 || s->typed) {
		s->n_lanes = 1 + bulk;
		/* With no interactive port at all, lane 0 takes streams like the others. */
		s->split = s->a->o->n_interactive > 0 ? SPLIT_ON : SPLIT_NONE;
	} else {
		s->split = SPLIT_ON_TYPING;
	}
	s->lanes_decided = true;
	if (bulk > 1)
		log_info("the round trip to %s is %d ms: carrying the connections over %u lanes",
			 host_of(s), s->rtt_min, lanes_split(s) ? bulk : s->n_lanes);
	else
		log_debug("the round trip to %s is %d ms: one lane carries the connections",
			  host_of(s), s->rtt_min);
	if (lanes_split(s)) {
		char ports[OPTS_PORTS_TEXT];

		opts_format_ports(s->a->o->interactive, s->a->o->n_interactive, ports,
				  sizeof(ports));
		log_debug("connections to the interactive ports (%s) stay on lane 0, the others go "
			  "to lanes 1 and up",
			  ports);
	}
}

/* A further lane moved LANES_BUSY_BYTES or more in the last second (lanes_note_load). */
static bool lanes_any_busy(const struct session *s)
{
	unsigned i;

	for (i = 1; i < SESSION_LANES_MAX; i++)
		if (s->load[i].busy)
			return true;
	return false;
}

/*
 * The path was judged on round trips taken behind a transfer. A quiet one
 * since says how long it is: short enough for a LAN, the queue of a slow
 * one (Wi-Fi, 100 Mbit/s) made it look long, and it goes back to one lane
 * (two, when someone typed); LANES_RTT_SAMPLES long ones confirm it.
 */
static void lanes_recheck(struct session *s, int rtt_ms)
{
	unsigned want = s->typed ? 2 : 1;
	/* A lane that failed for good cut the count already: what it cut stays cut. */
	bool cut = s->n_lanes < 1 + lanes_for_rtt(s->rtt_min);

	if (rtt_ms >= LANES_LAN_MS) {
		if (++s->rtt_confirmed >= LANES_RTT_SAMPLES)
			s->decided_busy = false;
		return;
	}
	s->decided_busy = false;
	if (lanes_for_rtt(s->rtt_min) == 1)
		return;
	s->rtt_min = rtt_ms;
	if (s->n_lanes > want)
		s->n_lanes = want;
	if (!cut)
		s->split = s->typed && s->a->o->n_interactive > 0 ? SPLIT_ON
			   : s->typed				  ? SPLIT_NONE
								  : SPLIT_ON_TYPING;
	session_share(s);
	log_info("the round trip to %s is %d ms once quiet (the first ones waited behind a "
		 "transfer): back to %u lane%s",
		 host_of(s), rtt_ms, s->n_lanes, s->n_lanes == 1 ? "" : "s");
}

void lanes_rtt(struct session *s, int rtt_ms)
{
	const struct rtt_mark *k;
	int64_t sent;
	bool busy;
	int path;

	if ((s->lanes_decided && !s->decided_busy) || rtt_ms < 0)
		return;
	sent = probe_now() - rtt_ms;
	k = rtt_mark_before(s, sent);
	if (!k)
		return;
	/* Behind bulk a PING waits in the queues: its round trip is the path's and then some. */
	busy = lane0_bytes(s) > k->bytes + LANES_QUIET_BYTES;
	if (s->lanes_decided) {
		/*
		 * Quiet on every lane: the bulk has moved to the further ones,
		 * which share the slow LAN's queue. A long one only from its
		 * own mark, with the CPUs not kept busy, as below.
		 */
		if (busy || lanes_any_busy(s))
			return;
		if (rtt_ms >= LANES_LAN_MS && sent - k->ms > LANES_MARK_SLACK_MS)
			return;
		if (rtt_ms >= LANES_LAN_MS && rtt_stalled(s, k, rtt_ms)) {
			s->rtt_stalled++;
			return;
		}
		lanes_recheck(s, rtt_ms);
		return;
	}
	/*
	 * Load only ever lengthens a round trip, so only a long one is doubted,
	 * and only one whose own ping made the mark: over a longer span the
	 * stall would not be its own. The mux's early pings then count for a
	 * LAN, and lanes_tick's, one a second, for a long path.
	 */
	if (rtt_ms >= LANES_LAN_MS) {
		if (sent - k->ms > LANES_MARK_SLACK_MS)
			return;
		if (rtt_stalled(s, k, rtt_ms)) {
			s->rtt_stalled++;
			log_debug("a round trip of %d ms to %s not counted: the CPUs were busy "
				  "meanwhile",
				  rtt_ms, host_of(s));
			return;
		}
	}
	if (!busy) {
		if (s->rtt_min < 0 || rtt_ms < s->rtt_min)
			s->rtt_min = rtt_ms;
		if (++s->rtt_samples >= LANES_RTT_SAMPLES)
			lanes_decide(s, s->rtt_min);
		return;
	}
	/*
	 * Waiting for quiet would leave a long path on one lane for as long as
	 * a transfer started with the session runs. Queues only lengthen a
	 * round trip, so the smallest of a few taken while busy bounds the
	 * path's from above. A slow LAN that stays queued that long gets lanes
	 * it does not need until a quiet round trip takes them back
	 * (lanes_recheck); a long path kept on one lane would lose far more.
	 */
	if (!s->rtt_busy_samples || rtt_ms < s->rtt_busy_min)
		s->rtt_busy_min = rtt_ms;
	if (++s->rtt_busy_samples + s->rtt_samples < LANES_BUSY_SAMPLES)
		return;
	path = s->rtt_min >= 0 && s->rtt_min < s->rtt_busy_min ? s->rtt_min : s->rtt_busy_min;
	log_debug("lane 0 was busy for %u of %u round trips to %s: the path is judged by the "
		  "shortest, %d ms, until a quiet one",
		  s->rtt_busy_samples, s->rtt_busy_samples + s->rtt_samples, host_of(s), path);
	lanes_decide(s, path);
	s->decided_busy = true;
}

bool lanes_interactive_port(const struct opts *o, uint16_t port)
{
	size_t i;

	for (i = 0; i < o->n_interactive; i++)
		if (port >= o->interactive[i].lo && port <= o->interactive[i].hi)
			return true;
	return false;
}

/* A fatal failure cuts the lanes: with none above lane 0 there is nothing to split. */
bool lanes_split(const struct session *s)
{
	return s->split == SPLIT_ON && s->n_lanes > 1;
}

/*
 * Fewer streams first. Between lanes with as many, one that was not busy
 * in the last second (a quiet connection's lane, not a download's), then
 * the one given a stream longest ago. A burst of new streams (iperf3 -P
 * 8, a browser's page) often opens just after a quiet connection of the
 * same program (iperf3's control connection), which went to a higher lane
 * while lane 1 still held a connection that closed before the burst. With
 * the lowest lane taking every tie, the last of the burst then joined a
 * busy stream on lane 1 and left the quiet one's lane with nothing to
 * move: two streams got half a lane each. The burst's own streams are
 * too new to look busy, hence the last rule.
 */
static bool lane_better(const struct session *s, size_t n, unsigned i, size_t best_n, unsigned best)
{
	const struct lane_load *a = &s->load[i], *b = &s->load[best];

	if (n != best_n)
		return n < best_n;
	if (a->busy != b->busy)
		return !a->busy;
	return a->picked < b->picked;
}

/*
 * The lane for a stream that may go to the further lanes, of those not in
 * skip (a bit per lane, lane 0's too): the best by lane_better of the
 * further lanes that are up and well, and lane 0 among them unless
 * lanes_split keeps it for typing. Lane 0 when none is left.
 */
static unsigned lane_fewest(struct session *s, unsigned skip)
{
	struct mux_stats ms;
	size_t fewest = SIZE_MAX;
	unsigned i, best = 0;

	if (!lanes_split(s) && !(skip & 1u)) {
		mux_get_stats(s->mux, &ms);
		fewest = ms.streams;
	}
	for (i = 1; i < SESSION_LANES_MAX; i++) {
		/* (past n_lanes: going, lanes_shed) */
		if ((skip & (1u << i)) || i >= s->n_lanes || !session_lane_stats(s, i, &ms) ||
		    session_lane_failed(s, i))
			continue;
		if (lane_better(s, ms.streams, i, fewest, best)) {
			fewest = ms.streams;
			best = i;
		}
	}
	return best;
}

/*
 * lanes_pick's rules, the further lanes in skip left out. *turn says
 * whether the stream counts as the lane's turn (lane_better's last rule):
 * DNS and the typing lane's sessions do not.
 */
static unsigned lane_choose(struct session *s, const struct wire_open *dst, unsigned skip,
			    bool *turn)
{
	*turn = false;
	if (!s->mux || (dst->flags & WIRE_OPEN_F_DNS))
		return 0;
	if (lanes_interactive_port(s->a->o, dst->port)) {
		if (!s->lanes_decided)
			s->typed = true;
		/* Once: should lane 1 fail for good, the next session must not open it again. */
		if (s->split == SPLIT_ON_TYPING) {
			s->split = SPLIT_ON;
			s->n_lanes = 2;
			log_debug("a connection to interactive port %u on a LAN: lane 1 opens for "
				  "the other connections",
				  dst->port);
		}
		if (lanes_split(s))
			return 0;
	}
	*turn = true;
	return lane_fewest(s, skip);
}

unsigned lanes_pick(struct session *s, const struct wire_open *dst)
{
	bool turn;
	unsigned i = lane_choose(s, dst, 0, &turn);

	if (turn)
		s->load[i].picked = ++s->picks;
	return i;
}

_Static_assert(SESSION_LANES_MAX <= 32, "lanes_open's skip has a bit per lane");

int lanes_open(struct session *s, int fd, const struct wire_open *dst)
{
	unsigned skip = 0, tries, i = 0;
	int ret = -ENOTCONN;
	bool turn = false;

	/*
	 * A worker too busy to take it now, or going (lanes_pump closes its
	 * lane next): the next-best lane carries it, rather than nobody. Lane
	 * 0 is only the last resort where it is kept for typing: a download
	 * there is what that rule prevents. A stream that must go on lane 0
	 * goes nowhere else.
	 */
	for (tries = 0; tries <= SESSION_LANES_MAX; tries++) {
		i = lane_choose(s, dst, skip, &turn);
		/* Every lane it may go to refused it: the last refusal says why. */
		if (skip & (1u << i))
			break;
		ret = session_lane_open(s, i, fd, dst);
		if (ret == 0)
			break;
		log_debug("lane %u did not take a connection: %s", i, strerror(-ret));
		skip |= 1u << i;
	}
	if (ret == 0 && turn)
		s->load[i].picked = ++s->picks;
	return ret;
}

unsigned lanes_up(const struct session *s)
{
	unsigned i, n = s->mux ? 1 : 0;

	for (i = 1; i < SESSION_LANES_MAX; i++)
		n += s->lane[i].up;
	return n;
}

static void add_stats(struct mux_stats *sum, const struct session *s, unsigned i)
{
	struct mux_stats ms;

	if (!session_lane_stats(s, i, &ms))
		return;
	sum->streams += ms.streams;
	sum->buffered += ms.buffered;
	sum->over_budget += ms.over_budget;
	sum->rx_bytes += ms.rx_bytes;
	sum->tx_bytes += ms.tx_bytes;
	sum->credit_grown += ms.credit_grown;
	sum->credit_cut += ms.credit_cut;
	sum->peer_short += ms.peer_short;
	/* The lane that was refused last says why. */
	if (ms.peer_short && ms.peer_short_ms >= sum->peer_short_ms) {
		sum->peer_short_err = ms.peer_short_err;
		sum->peer_short_ms = ms.peer_short_ms;
	}
}

uint64_t lanes_refused(const struct session *s, int *err)
{
	uint64_t n = s->refused_gone;
	int64_t latest = s->refused_gone_ms;
	unsigned i;

	*err = s->refused_gone_err;
	for (i = 1; i < SESSION_LANES_MAX; i++) {
		int64_t when;
		int e;

		if (!s->lane[i].up || !s->lane[i].owned)
			continue;
		n += laneown_refused(&s->lane[i].own, &e, &when);
		/* The lane that refused last says why. */
		if (when > latest) {
			latest = when;
			*err = e;
		}
	}
	return n;
}

void lanes_stats(const struct session *s, struct mux_stats *sum)
{
	unsigned i;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < SESSION_LANES_MAX; i++)
		add_stats(sum, s, i);
	sum->rx_bytes += s->rx_gone;
	sum->tx_bytes += s->tx_gone;
	sum->over_budget += s->over_budget_gone;
	sum->peer_short += s->peer_short_gone;
	if (s->peer_short_gone && s->peer_short_gone_ms >= sum->peer_short_ms) {
		sum->peer_short_err = s->peer_short_gone_err;
		sum->peer_short_ms = s->peer_short_gone_ms;
	}
}

size_t lanes_table(struct session *s,
		   void (*cb)(void *arg, uint32_t id, const struct wire_open *dst,
			      const struct mux_stream_end *sofar),
		   void *arg)
{
	size_t n = 0;
	unsigned i;

	for (i = 0; i < SESSION_LANES_MAX; i++)
		n += session_lane_table(s, i, cb, arg);
	return n;
}

void lanes_each_top(const struct session *s,
		    void (*cb)(void *arg, uint32_t id, const struct wire_open *dst,
			       const struct mux_stream_end *sofar),
		    void *arg)
{
	unsigned i;

	if (s->mux)
		mux_each_stream(s->mux, cb, arg);
	for (i = 1; i < SESSION_LANES_MAX; i++) {
		const struct lane *l = &s->lane[i];

		if (l->up && l->owned)
			laneown_each_top(&l->own, cb, arg);
		else if (l->up)
			mux_each_stream(l->mux, cb, arg);
	}
}
