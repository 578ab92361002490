/*
 * features: the session's features besides the streams (-N, -H, --dns, UDP
 * and ping), the client's mirror of server/services.c. Owns -N (the
 * remote's routes, judged, made the routed set through rules), -H (names,
 * judged, into /etc/hosts through the privileged part), --dns (the local
 * UDP listener and its queries), the datagram path from the TUN (once the
 * privileged part has made one), the dispatch of their frames, and their
 * periodic tick.
 */
#ifndef SLUICE_FEATURES_H
#define SLUICE_FEATURES_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "../../common/evloop.h"
#include "../../common/mux.h"
#include "../../common/ratelimit.h"
#include "autohosts.h"
#include "autonets.h"
#include "../capture/dgram.h"
#include "../capture/dns.h"
#include "../opts.h"
#include "../capture/rules.h"

struct features {
	const struct opts *o;
	struct rules *rules;
	struct privc *priv;
	struct evloop *loop;
	struct mux *mux;
	uint32_t features; /* agreed with the helper */
	struct subnet dns_servers[OPTS_MAX_NS];
	size_t n_dns;
	struct dns_proxy dns;
	struct dgram *dgram; /* UDP and ping: NULL until the TUN is there */
	struct autohosts hosts;
	struct autonets nets;
	struct ratelimit names_rl; /* -v lines about names refused */
	int64_t local_checked_ms;  /* -N: when this machine's networks were last looked at */
	uint64_t dns_dropped_told; /* --dns drops already logged */
	time_t dns_told_at;
};

/* Before anything: the nameservers --dns captures. Returns 0 or -errno, after logging. */
int features_init(struct features *sv, const struct opts *o, struct rules *rules,
		  struct privc *priv);

/*
 * -H: the names the tunnel reaches its server by, which no line from the
 * remote may take: the -r host, the HostName it resolved to, and each host
 * of a ProxyJump list ("[user@]host[:port],..."); any may be NULL.
 */
void features_own_names(struct features *sv, const char *alias, const char *hostname,
			const char *proxyjump);

/* The feature bits to ask the helper for. */
uint32_t features_wanted(const struct opts *o);

/* --dns: open the local UDP listener for these families. 0 or -errno, after logging. */
int features_listen(struct features *sv, bool v4, bool v6);

/*
 * The session is up with these features: tell the helper what it needs
 * before any stream (the resolver, the seeds) and start --dns. 0 or -errno.
 */
int features_start(struct features *sv, struct evloop *loop, struct mux *mux, uint32_t features);

/*
 * UDP and ping: carry what the kernel routes into this TUN (fd, taken over)
 * whenever the session has them. 0 or -errno (fd is closed then too).
 */
int features_datagrams(struct features *sv, struct evloop *loop, int fd);

/* SIGUSR1: the UDP flows, one line each (at most FEATURES_TABLE_MAX), into the log. */
#define FEATURES_TABLE_MAX 1000
void features_udp_table(const struct features *sv);

/* A stream-0 frame for us (from mux_ops.ctl): 0, or -EPROTO for one that was not asked for. */
int features_ctl(struct features *sv, const struct wire_frame *f);

/* Once a second: apply -N's routes when due, write -H's names, expire --dns queries. */
void features_tick(struct features *sv);
/* The rules changed under -H's names (an address kept out): write their lines again. */
void features_rules_changed(struct features *sv);

/* The session is gone: --dns drops queries until the next features_start. */
void features_detach(struct features *sv);

/* Remove our host lines and close everything: -errno when the lines stay (said in the log). */
int features_stop(struct features *sv);

#endif
