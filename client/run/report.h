/*
 * report: what `sluice --status` shows of a running tunnel, as text or as
 * JSON. The JSON is stable (documented in sluice.1): fields are only ever
 * added.
 */
#ifndef SLUICE_REPORT_H
#define SLUICE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../common/subnet.h"
#include "../../common/wire.h"

#define REPORT_TOP  5
#define REPORT_NETS 200 /* networks listed; the totals count them all */

struct report_conn {
	struct wire_open dst;
	uint64_t out, in, age_s;
};

#define REPORT_LANES 9 /* SESSION_LANES_MAX */

/* One lane of the session (lane 0 first): an SSH session with a helper of its own. */
struct report_lane {
	bool up;
	bool opening;	  /* not up: its login runs now (else it waits for its next try) */
	bool refused;	  /* not up: given up for a limit of the server's (lanes.c) */
	bool interactive; /* it carries only interactive sessions (lanes.h) */
	size_t conns;
	uint64_t out, in; /* while it has been up */
	unsigned drops;	  /* times it dropped and was opened again (lane 0: see reconnects) */
};

struct report_view {
	int pid;
	const char *remote, *host, *user;
	uint16_t port;
	bool up;	  /* false: reconnecting */
	unsigned attempt; /* reconnect attempts so far, while down */
	const char *transport, *detail;
	int64_t uptime_s;
	unsigned reconnects;
	const struct subnet *inc, *exc;
	size_t n_inc, n_exc;
	size_t conns, waiting;
	uint64_t reset_here;	 /* accepted, then reset before they reached the server */
	uint64_t refused_remote; /* reset by the server's helper, short of room */
	bool direct;		 /* --direct: these are ssh's to relay, not counted above */
	size_t direct_open;	 /* handed to ssh and still open */
	uint64_t direct_opened, direct_refused, direct_fell_back; /* this session */
	uint64_t out, in, rate_out, rate_in; /* bytes, and bytes per second lately */
	bool udp;			     /* UDP and ping go through the tunnel */
	size_t udp_flows;
	uint64_t udp_dgrams_out, udp_dgrams_in, udp_bytes_out, udp_bytes_in;
	uint64_t pings, ping_replies, udp_dropped, udp_not_carried, udp_tun_errors;
	size_t n_lanes; /* lanes wanted, lane 0 included */
	struct report_lane lanes[REPORT_LANES];
	struct report_conn top[REPORT_TOP]; /* by bytes, most first */
	size_t n_top;
};

/* Offer one open connection for the top list. */
void report_consider(struct report_view *v, const struct report_conn *c);
/* Write the report into buf (NUL-terminated, cut to fit); returns its length. */
size_t report_build(const struct report_view *v, bool json, char *buf, size_t len);

#endif
