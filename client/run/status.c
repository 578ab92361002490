/*
 * status: the terminal's live line (see status.h).
 */
#include "status.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../common/log.h"

void status_init(struct status *st, bool quiet)
{
	st->on = !quiet && isatty(STDERR_FILENO);
	st->start_ms = st->last_ms = clock_ms();
	st->last_rx = st->last_tx = st->rate_in = st->rate_out = 0;
}

/* Three significant figures are plenty for a glance. */
void status_human(uint64_t v, char *buf, size_t len)
{
	static const char *const unit[] = {"B", "kB", "MB", "GB", "TB"};
	double d = (double)v;
	int u = 0;

	while (d >= 1000 && u < 4) {
		d /= 1000;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", d, unit[u]);
}

void status_tick(struct status *st, const struct mux_stats *ms)
{
	char line[256], out[16], in[16], rout[16], rin[16], lanes[24] = "";
	int64_t now = clock_ms(), up = (now - st->start_ms) / 1000, dt = now - st->last_ms;
	struct winsize ws;
	size_t width = sizeof(line) - 1;

	if (dt <= 0)
		return;
	st->last_ms = now;
	if (!ms) {
		st->last_rx = st->last_tx = st->rate_in = st->rate_out = 0;
		if (!st->on)
			return;
		snprintf(line, sizeof(line),
			 "up %" PRId64 ":%02" PRId64 ":%02" PRId64 " | reconnecting", up / 3600,
			 up / 60 % 60, up % 60);
		log_status(line);
		return;
	}
	/* A new session's counters start again at zero. */
	if (ms->rx_bytes < st->last_rx || ms->tx_bytes < st->last_tx)
		st->last_rx = st->last_tx = 0;
	st->rate_in = (ms->rx_bytes - st->last_rx) * 1000 / (uint64_t)dt;
	st->rate_out = (ms->tx_bytes - st->last_tx) * 1000 / (uint64_t)dt;
	st->last_rx = ms->rx_bytes;
	st->last_tx = ms->tx_bytes;
	if (!st->on)
		return;
	status_human(ms->tx_bytes, out, sizeof(out));
	status_human(ms->rx_bytes, in, sizeof(in));
	status_human(st->rate_out, rout, sizeof(rout));
	status_human(st->rate_in, rin, sizeof(rin));
	if (st->lanes > 1)
		snprintf(lanes, sizeof(lanes), " over %u lanes", st->lanes);
	snprintf(line, sizeof(line),
		 "up %" PRId64 ":%02" PRId64 ":%02" PRId64 " | %zu connection%s%s | out %s (%s/s) "
		 "| in %s (%s/s)",
		 up / 3600, up / 60 % 60, up % 60, ms->streams, ms->streams == 1 ? "" : "s", lanes,
		 out, rout, in, rin);
	/* A line that wraps could not be rewritten in place. */
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && ws.ws_col - 1u < width)
		width = ws.ws_col - 1u;
	line[width] = '\0';
	log_status(line);
}

void status_end(struct status *st)
{
	if (st->on)
		log_status(NULL);
	st->on = false;
}
