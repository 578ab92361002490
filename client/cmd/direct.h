/*
 * direct: --direct. Each accepted connection is handed, socket and all, to
 * the OpenSSH ControlMaster that the -e command runs, and the master carries
 * it in a direct-tcpip channel of its own (what `ssh -W` through a master
 * does). sluice then moves none of its bytes: the master relays between the
 * socket and the channel. It owns, per connection so handed over, a control
 * connection and a copy of the socket, kept until the master closes the
 * control connection (the channel is gone).
 */
#ifndef SLUICE_DIRECT_H
#define SLUICE_DIRECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../common/evloop.h"
#include "../../common/wire.h"

struct direct;

struct direct_stats {
	size_t active;	    /* handed over, or being handed over */
	size_t max_active;  /* DIRECT_MAX, or what the descriptor limit allows */
	uint64_t opened;    /* channels the server opened */
	uint64_t refused;   /* channels refused (reset, or to the fallback before any opened) */
	uint64_t fell_back; /* went to the fallback (see direct_open) */
	uint64_t lost;	    /* refused by the master, then by the fallback too: reset */
	int lost_err;	    /* the fallback's errno for the last of those */
};

/*
 * Connections handed over at once, at most. Each takes two of the 16,384
 * entries in OpenSSH's channel table (its channel and its control
 * connection), and a master that runs out exits, session and all: the
 * rest is left for the session and for forwards of the user's own (-L,
 * -D in the -e command). Fewer when the descriptor limit is lower.
 */
#define DIRECT_MAX 7000

/*
 * Where a connection goes when the master does not take it: the mux. It
 * always takes fd. Returns 0 or -errno.
 */
typedef int (*direct_fallback_fn)(void *ctx, int fd, const struct wire_open *dst);

/*
 * ctl_path: the master's ControlPath. alive_fd: our end of the command's
 * stdio (closed at the other end when the master dies), or -1; master_pid:
 * the command's process, or 0. They tell a master that died from a channel
 * that ended. Returns 0, -ENAMETOOLONG or -ENOMEM.
 */
int direct_new(struct direct **out, struct evloop *loop, const char *ctl_path, int alive_fd,
	       pid_t master_pid);
void direct_set_fallback(struct direct *d, direct_fallback_fn fn, void *ctx);
/*
 * Hand fd, a connection going to dst, to the master; fd is always taken.
 * The fallback gets what the master cannot take: when it holds
 * max_active, when its backlog is full or its socket gone, and when the
 * server refuses the channel before any has opened (forwarding may be off
 * there; after a few such, the master is asked again only every so often,
 * with one connection at a time). Once one
 * has opened, a refused channel resets the connection, as the tunnel does
 * for a refused port. Returns 0, or -errno from the fallback.
 */
int direct_open(struct direct *d, int fd, const struct wire_open *dst);
void direct_get_stats(const struct direct *d, struct direct_stats *st);
/*
 * Close every control connection: the master ends their channels, and
 * each connection is reset (its reader sees it cut off, not ended).
 */
void direct_free(struct direct *d);

#endif
