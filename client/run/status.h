/*
 * status: the rates each way, measured about once a second, and the live
 * line on a terminal that shows them, with the uptime and the open
 * connections. Off a terminal, or with -q, the line is off and writes
 * nothing; the rates are kept all the same (--status reports them).
 */
#ifndef SLUICE_STATUS_H
#define SLUICE_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "../../common/mux.h"

struct status {
	bool on;
	int64_t start_ms, last_ms;
	uint64_t last_rx, last_tx;
	uint64_t rate_in, rate_out; /* bytes per second over the last tick */
	unsigned lanes;		    /* lanes up (the owner sets it before a tick); shown above 1 */
};

/* On only when stderr is a terminal and the user did not ask for quiet. */
void status_init(struct status *st, bool quiet);
/* Measure from the mux's counters and redraw (about once a second); ms NULL: no session now. */
void status_tick(struct status *st, const struct mux_stats *ms);
/* 1234567 -> "1.2 MB", as the line and --status show byte counts and rates. */
void status_human(uint64_t v, char *buf, size_t len);
/* Clear the line, leaving the terminal as it was. */
void status_end(struct status *st);

#endif
