/*
 * report: format the status report (see report.h).
 */
#include "report.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "status.h"

struct out {
	char *p;
	size_t len, off;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->off >= o->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->off, o->len - o->off, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->off = o->off + (size_t)n < o->len ? o->off + (size_t)n : o->len - 1;
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void put_str(struct out *o, const char *s)
{
	put(o, "\"");
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			put(o, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f) /* bytes, not UTF-8: each its own code point */
			put(o, "\\u%04x", ch);
		else
			put(o, "%c", ch);
	}
	put(o, "\"");
}

/* At most REPORT_NETS networks, so a report always fits whole; the count says how many in all. */
static void put_nets(struct out *o, const struct subnet *n, size_t count, bool json)
{
	char s[SUBNET_STRLEN];
	size_t i;

	if (!json && count > REPORT_NETS) {
		put_nets(o, n, REPORT_NETS, false);
		put(o, " and %zu more", count - REPORT_NETS);
		return;
	}
	for (i = 0; i < count && i < REPORT_NETS; i++) {
		if (subnet_format(&n[i], s, sizeof(s)) < 0)
			snprintf(s, sizeof(s), "?");
		if (json) {
			put(o, i ? ", " : "");
			put_str(o, s);
		} else {
			put(o, "%s%s", i ? ", " : "", s);
		}
	}
}

void report_consider(struct report_view *v, const struct report_conn *c)
{
	size_t i, at = v->n_top;

	while (at > 0 && v->top[at - 1].out + v->top[at - 1].in < c->out + c->in)
		at--;
	if (at == REPORT_TOP)
		return;
	if (v->n_top < REPORT_TOP)
		v->n_top++;
	for (i = v->n_top - 1; i > at; i--)
		v->top[i] = v->top[i - 1];
	v->top[at] = *c;
}

static void addr_text(const struct wire_open *d, char *buf, size_t len)
{
	if (!inet_ntop(d->family, d->addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

size_t report_build(const struct report_view *v, bool json, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	char a[INET6_ADDRSTRLEN], h[4][16];
	size_t i;

	if (len)
		buf[0] = '\0';
	if (!json) {
		put(&o, "sluice (pid %d): %s to %s@%s port %u (%s)\n", v->pid,
		    v->up ? "connected" : "reconnecting", v->user, v->host, v->port, v->remote);
		if (!v->up)
			put(&o, "  reconnecting: attempt %u; %zu connection%s waiting\n",
			    v->attempt, v->waiting, v->waiting == 1 ? "" : "s");
		put(&o, "  transport: %s%s%s\n", v->transport, *v->detail ? ", " : "", v->detail);
		put(&o, "  up %" PRId64 ":%02" PRId64 ":%02" PRId64 ", %u reconnect%s\n",
		    v->uptime_s / 3600, v->uptime_s / 60 % 60, v->uptime_s % 60, v->reconnects,
		    v->reconnects == 1 ? "" : "s");
		put(&o, "  routed: ");
		put_nets(&o, v->inc, v->n_inc, false);
		put(&o, "\n  excluded: ");
		put_nets(&o, v->exc, v->n_exc, false);
		status_human(v->out, h[0], sizeof(h[0]));
		status_human(v->rate_out, h[1], sizeof(h[1]));
		status_human(v->in, h[2], sizeof(h[2]));
		status_human(v->rate_in, h[3], sizeof(h[3]));
		put(&o, "\n  connections: %zu open; out %s (%s/s), in %s (%s/s)", v->conns, h[0],
		    h[1], h[2], h[3]);
		if (v->reset_here)
			put(&o, "; %" PRIu64 " reset here before reaching the server",
			    v->reset_here);
		if (v->refused_remote)
			put(&o, "; %" PRIu64 " reset by its helper, short of room",
			    v->refused_remote);
		put(&o, "\n");
		if (v->udp) {
			status_human(v->udp_bytes_out, h[0], sizeof(h[0]));
			status_human(v->udp_bytes_in, h[1], sizeof(h[1]));
			put(&o,
			    "  udp: %zu flow%s; out %" PRIu64 " datagrams (%s), in %" PRIu64
			    " (%s); %" PRIu64 " dropped; ping: %" PRIu64 " sent, %" PRIu64
			    " answered%s\n",
			    v->udp_flows, v->udp_flows == 1 ? "" : "s", v->udp_dgrams_out, h[0],
			    v->udp_dgrams_in, h[1], v->udp_dropped, v->pings, v->ping_replies,
			    v->udp_tun_errors ? "; the TUN failed and is no longer read" : "");
		}
		if (v->n_lanes > 1) {
			put(&o, "  lanes: %zu", v->n_lanes);
			for (i = 0; i < v->n_lanes && i < REPORT_LANES; i++) {
				const struct report_lane *l = &v->lanes[i];
				put(&o, "; %zu%s: ", i, l->interactive ? " (interactive)" : "");
				if (!l->up) {
					put(&o, "%s",
					    l->opening	 ? "opening"
					    : l->refused ? "refused by the server"
							 : "waiting");
					continue;
				}
				status_human(l->out, h[0], sizeof(h[0]));
				status_human(l->in, h[1], sizeof(h[1]));
				put(&o, "%zu open, out %s, in %s", l->conns, h[0], h[1]);
				if (l->drops)
					put(&o, ", dropped %u time%s", l->drops,
					    l->drops == 1 ? "" : "s");
			}
			put(&o, "\n");
		}
		if (v->direct)
			put(&o,
			    "  relayed by ssh (--direct): %zu open; %" PRIu64 " opened, %" PRIu64
			    " refused, %" PRIu64 " went through the tunnel instead\n",
			    v->direct_open, v->direct_opened, v->direct_refused,
			    v->direct_fell_back);
		for (i = 0; i < v->n_top; i++) {
			addr_text(&v->top[i].dst, a, sizeof(a));
			status_human(v->top[i].out, h[0], sizeof(h[0]));
			status_human(v->top[i].in, h[1], sizeof(h[1]));
			put(&o, "    %s%s%s port %u: %s out, %s in, %" PRIu64 " s\n",
			    v->top[i].dst.family == AF_INET6 ? "[" : "", a,
			    v->top[i].dst.family == AF_INET6 ? "]" : "", v->top[i].dst.port, h[0],
			    h[1], v->top[i].age_s);
		}
		return o.off;
	}
	put(&o, "{\"pid\": %d, \"remote\": ", v->pid);
	put_str(&o, v->remote);
	put(&o, ", \"user\": ");
	put_str(&o, v->user);
	put(&o, ", \"host\": ");
	put_str(&o, v->host);
	put(&o, ", \"port\": %u, \"state\": \"%s\", \"attempt\": %u, \"transport\": ", v->port,
	    v->up ? "up" : "reconnecting", v->attempt);
	put_str(&o, v->transport);
	put(&o, ", \"detail\": ");
	put_str(&o, v->detail);
	put(&o, ", \"uptime_s\": %" PRId64 ", \"reconnects\": %u, \"routed\": [", v->uptime_s,
	    v->reconnects);
	put_nets(&o, v->inc, v->n_inc, true);
	put(&o, "], \"routed_total\": %zu, \"excluded\": [", v->n_inc);
	put_nets(&o, v->exc, v->n_exc, true);
	put(&o,
	    "], \"excluded_total\": %zu, \"connections\": %zu, \"waiting\": %zu, \"reset_here\": "
	    "%" PRIu64 ", \"refused_remote\": %" PRIu64 ", \"bytes_out\": %" PRIu64
	    ", \"bytes_in\": %" PRIu64 ", \"rate_out\": %" PRIu64 ", \"rate_in\": %" PRIu64
	    ", \"direct_open\": %zu, \"direct_opened\": %" PRIu64 ", \"direct_refused\": %" PRIu64
	    ", \"direct_fell_back\": %" PRIu64 ", \"top\": [",
	    v->n_exc, v->conns, v->waiting, v->reset_here, v->refused_remote, v->out, v->in,
	    v->rate_out, v->rate_in, v->direct_open, v->direct_opened, v->direct_refused,
	    v->direct_fell_back);
	for (i = 0; i < v->n_top; i++) {
		addr_text(&v->top[i].dst, a, sizeof(a));
		put(&o,
		    "%s{\"address\": \"%s\", \"port\": %u, \"bytes_out\": %" PRIu64
		    ", \"bytes_in\": %" PRIu64 ", \"age_s\": %" PRIu64 "}",
		    i ? ", " : "", a, v->top[i].dst.port, v->top[i].out, v->top[i].in,
		    v->top[i].age_s);
	}
	put(&o, "], \"lanes\": [");
	for (i = 0; i < v->n_lanes && i < REPORT_LANES; i++) {
		const struct report_lane *l = &v->lanes[i];
		put(&o,
		    "%s{\"up\": %s, \"opening\": %s, \"refused\": %s, \"interactive\": %s, "
		    "\"connections\": %zu, \"bytes_out\": %" PRIu64 ", \"bytes_in\": %" PRIu64
		    ", \"drops\": %u}",
		    i ? ", " : "", l->up ? "true" : "false", l->opening ? "true" : "false",
		    l->refused ? "true" : "false", l->interactive ? "true" : "false", l->conns,
		    l->out, l->in, l->drops);
	}
	put(&o,
	    "], \"udp\": %s, \"udp_flows\": %zu, \"udp_datagrams_out\": %" PRIu64
	    ", \"udp_datagrams_in\": %" PRIu64 ", \"udp_bytes_out\": %" PRIu64
	    ", \"udp_bytes_in\": %" PRIu64 ", \"udp_dropped\": %" PRIu64
	    ", \"udp_not_carried\": %" PRIu64 ", \"udp_tun_errors\": %" PRIu64
	    ", \"pings\": %" PRIu64 ", \"ping_replies\": %" PRIu64 "}",
	    v->udp ? "true" : "false", v->udp_flows, v->udp_dgrams_out, v->udp_dgrams_in,
	    v->udp_bytes_out, v->udp_bytes_in, v->udp_dropped, v->udp_not_carried,
	    v->udp_tun_errors, v->pings, v->ping_replies);
	return o.off;
}
