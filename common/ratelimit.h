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

#endif
