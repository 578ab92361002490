/*
 * ratelimit: how often a kind of log line may be written, so that a peer
 * (or a third party behind it) cannot flood the log by sending what we
 * refuse. The caller owns one per kind of line and does the logging.
 */
#ifndef SLUICE_RATELIMIT_H
#define SLUICE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	unsigned burst;	      /* lines per interval */
	unsigned interval_ms; /* the interval */
	int64_t start_ms;     /* when the current interval began */
	unsigned used;	      /* lines written in it */
	unsigned suppressed;  /* lines held back since the last one written */
};

#define RATELIMIT_INIT(burst_, interval_ms_)                                                       \
	{                                                                                          \
		.burst = (burst_), .interval_ms = (interval_ms_)                                   \
	}

/*
 * May a line be written at now_ms? When it may, *dropped gets how many were
 * held back before it (for a "N more suppressed" note) and the count
 * restarts.
 */
bool ratelimit_allow(struct ratelimit *rl, int64_t now_ms, unsigned *dropped);

/*
 * A line about something that goes on happening (each line says how many
 * since the last): the first at once, then with a gap that doubles from
 * min_ms up to max_ms while it keeps happening, and at once again after
 * max_ms without any (nor a line). A shortage that lasts all day writes a
 * line a minute, not one a second. min_ms 0 holds nothing back.
 */
struct ratelimit_backoff {
	unsigned min_ms, max_ms;
	int64_t said_ms; /* the last line */
	bool seen;	 /* it happened at all */
	int64_t seen_ms; /* the last time it happened */
	int64_t gap_ms;	 /* the next line may come this long after the last; 0: at once */
};

#define RATELIMIT_BACKOFF_INIT(min_ms_, max_ms_)                                                   \
	{                                                                                          \
		.min_ms = (min_ms_), .max_ms = (max_ms_)                                           \
	}

/* It happened (again) at now_ms. */
void ratelimit_backoff_note(struct ratelimit_backoff *b, int64_t now_ms);
/*
 * May the line about what happened so far be written at now_ms? When it
 * may, the gap to the next grows. force: yes whatever the gap (the last
 * line, at exit).
 */
bool ratelimit_backoff_allow(struct ratelimit_backoff *b, int64_t now_ms, bool force);

#endif
