/*
 * listen: the sockets the firewall redirects to. Accepts connections, finds
 * where each was really going (SO_ORIGINAL_DST), and hands them to the mux
 * (or, with --direct, to a hand-off that gives them to ssh).
 * While there is no mux (the session is down), connections wait in a
 * bounded list for the next one, and are reset when they wait too long.
 */
#ifndef SLUICE_LISTEN_H
#define SLUICE_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../../common/evloop.h"
#include "../../common/mux.h"
#include "../../common/subnet.h"

#define LISTEN_MAX	4
#define LISTEN_PARK_MAX 1024 /* connections held while the session is down */

struct parked {
	int fd;
	struct wire_open dst;
	int64_t since_ms;
};

/*
 * Where connections go instead of the mux (--direct): all but DNS, which
 * the helper answers. open always takes fd. Returns 0 or -errno.
 */
struct listen_handoff {
	int (*open)(void *ctx, int fd, const struct wire_open *dst);
	void *ctx;
};

struct listener {
	struct ev_io io;
	struct sockaddr_storage addr;
	struct listeners *set;
};

struct listeners {
	struct listener l[LISTEN_MAX];
	size_t n;
	uint16_t port;		       /* the one port every listener shares */
	struct mux *mux;	       /* set once the tunnel is up */
	struct listen_handoff handoff; /* open is NULL unless --direct */
	/* Opens a stream on one of the session's lanes; NULL: on mux. */
	int (*pick)(void *ctx, int fd, const struct wire_open *dst);
	void *pick_ctx;
	const struct subnet *dns; /* --dns: TCP to these on port 53 goes to the remote resolver */
	size_t n_dns;
	int reserve_fd; /* spent to refuse a connection cleanly when out of descriptors */
	uint64_t accepted;
	uint64_t refused; /* accepted (or shed) and reset: no lane took them, no room to wait */
	int refused_err;  /* the last one's errno */
	struct parked *parked; /* waiting for a session */
	size_t n_parked;
	uint64_t parked_reset; /* waited too long: reset (no room to wait counts as refused) */
};

/*
 * Bind every address in addrs (all with the same port; port 0 picks one
 * free on all of them). Returns 0 or -errno; *bad names the address that
 * failed.
 */
int listen_open(struct listeners *ls, const struct sockaddr_storage *addrs, size_t n, size_t *bad);
/* Start accepting into mux (or ho, when not NULL). Returns 0 or -errno. */
int listen_start(struct listeners *ls, struct evloop *loop, struct mux *mux,
		 const struct listen_handoff *ho);
/*
 * Streams go where pick opens them (0, or -errno with fd still ours); set
 * once, used only while a session is attached.
 */
void listen_set_pick(struct listeners *ls,
		     int (*pick)(void *ctx, int fd, const struct wire_open *dst), void *ctx);
/* The session is gone: hold new connections from now on (up to LISTEN_PARK_MAX). */
void listen_detach(struct listeners *ls);
/* Into the mux, whatever the hand-off (--direct's fallback). Takes fd. Returns 0 or -errno. */
int listen_to_mux(struct listeners *ls, int fd, const struct wire_open *dst);
/* A new session: the held connections go to it first. Returns how many. */
size_t listen_attach(struct listeners *ls, struct mux *mux, const struct listen_handoff *ho);
/* Reset held connections older than max_ms (0: all of them). Returns how many. */
size_t listen_expire(struct listeners *ls, int64_t max_ms);
void listen_close(struct listeners *ls, struct evloop *loop);

/* Whether any listener is on a non-loopback address (router mode needs prerouting rules). */
bool listen_any_nonlocal(const struct listeners *ls);

#endif
