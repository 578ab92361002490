/*
 * status: the live line on a terminal. About once a second it rewrites
 * itself with the uptime, the open connections, and the bytes and rate
 * each way. Off a terminal, or with -q, it is off and writes nothing.
 */
#ifndef SLUICE_STATUS_H
#define SLUICE_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/mux.h"

struct status {
	bool on;
	int64_t start_ms, last_ms;
	uint64_t last_rx, last_tx;
};

/* On only when stderr is a terminal and the user did not ask for quiet. */
void status_init(struct status *st, bool quiet);
/* Redraw from the mux's counters (call about once a second); ms NULL: no session now. */
void status_tick(struct status *st, const struct mux_stats *ms);
/* Clear the line, leaving the terminal as it was. */
void status_end(struct status *st);

#endif
