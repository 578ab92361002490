/*
 * services: what the helper does besides relaying streams, each only when
 * the client asked for it in HELLO: report routes (-N), forward host names
 * from the hostwatch child (-H), answer DNS through the remote's
 * resolver (--dns), and carry UDP and ping (udpfwd).
 */
#ifndef SLUICE_SERVICES_H
#define SLUICE_SERVICES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/evloop.h"
#include "../common/mux.h"
#include "../common/wire.h"

#define SERVICES_OFFERED (WIRE_F_ROUTES | WIRE_F_HOSTS | WIRE_F_DNS | WIRE_F_UDP)

struct services;

/* Returns 0 or -errno. features: what the client asked for. */
int services_start(struct services **out, struct evloop *loop, struct mux *mux, uint32_t features);
void services_free(struct services *s);
/* Session frames for the helper: RESOLVER, HOST, DNS_QUERY, UDP, UDP_CLOSE, ECHO. 0 or -EPROTO. */
int services_ctl(struct services *s, const struct wire_frame *f);
/* Where a DNS-flagged OPEN goes. Returns 0 or -errno (-ENOENT: no resolver known). */
int services_resolver(const struct services *s, struct sockaddr_storage *dst);
/* About once a second: rescans and timeouts. */
void services_tick(struct services *s);
/*
 * After each pump of the session: a name that waited for room in the
 * control queue goes now if it can, so that a steady flood of DNS
 * replies, which refills the queue between ticks, cannot hold it for long.
 * True when something was queued: pump again before waiting.
 */
bool services_pump(struct services *s);

#endif
