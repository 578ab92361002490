/*
 * direct: --direct. Each accepted connection is handed, socket and all, to
 * the OpenSSH ControlMaster that the -e command runs, and the master carries
 * it in a direct-tcpip channel of its own (what `ssh -W` through a master
 * does). sluice then moves none of its bytes: the master relays between the
 * socket and the channel. It owns one control connection per connection so
 * handed over, kept until the master closes it (the channel is gone).
 */
#ifndef SLUICE_DIRECT_H
#define SLUICE_DIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "../../common/evloop.h"
#include "../../common/wire.h"

struct direct;

struct direct_stats {
	size_t active;	    /* handed over, or being handed over */
	size_t max_active;  /* DIRECT_MAX, or what the descriptor limit allows */
	uint64_t opened;    /* channels the server opened */
	uint64_t fell_back; /* went to the fallback instead (see direct_open) */
};

/*
 * Connections handed over at once, at most: each takes two of the 16,384
 * entries in OpenSSH's channel table (its channel and its control
 * connection). Fewer when the descriptor limit is lower.
 */
#define DIRECT_MAX 8000

/*
 * Where a connection goes when the master does not take it: the mux. It
 * always takes fd. Returns 0 or -errno.
 */
typedef int (*direct_fallback_fn)(void *ctx, int fd, const struct wire_open *dst);

/* ctl_path: the master's ControlPath. Returns 0, -ENAMETOOLONG or -ENOMEM. */
int direct_new(struct direct **out, struct evloop *loop, const char *ctl_path);
void direct_set_fallback(struct direct *d, direct_fallback_fn fn, void *ctx);
/*
 * Hand fd, a connection going to dst, to the master. fd is always taken.
 * What the master cannot take (DIRECT_MAX reached, its socket gone, a
 * refused channel: forwarding off on the server, or a port that refuses
 * the server) goes to the fallback, so --direct only ever adds a path. Returns 0 or -errno
 * from the fallback.
 */
int direct_open(struct direct *d, int fd, const struct wire_open *dst);
void direct_get_stats(const struct direct *d, struct direct_stats *st);
/* Close every control connection (the master ends their channels) and reset what is not handed
 * over. */
void direct_free(struct direct *d);

#endif
