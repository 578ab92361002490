/*
 * tunnel: the client's end of the pipe: one libssh2 channel in non-blocking
 * mode, pumped between the SSH socket and the mux. Also relays the helper's
 * stderr into our log and notices a session that has stopped moving.
 */
#ifndef SLUICE_TUNNEL_H
#define SLUICE_TUNNEL_H

#include <libssh2.h>
#include <stdbool.h>
#include <time.h>

#include "../common/evloop.h"
#include "../common/mux.h"

enum { TUNNEL_STUCK_NONE = 0, TUNNEL_STUCK_READ, TUNNEL_STUCK_WRITE };

struct tunnel {
	LIBSSH2_SESSION *sess;
	LIBSSH2_CHANNEL *ch;
	struct evloop *loop;
	struct mux *mux;
	struct ev_io io;
	uint32_t watched; /* epoll events currently registered for the SSH socket */
	bool pending;	  /* the last write returned EAGAIN: repeat it exactly */
	size_t pending_len;
	int stuck;	  /* TUNNEL_STUCK_*: which call owns libssh2's half-sent packet */
	bool more;	  /* the pump stopped early; run it again without sleeping */
	char errbuf[512]; /* partial stderr line from the helper */
	size_t errlen;
	struct timespec last_rx, last_ping;
	struct timespec last_tx; /* the last write that moved bytes, or when output was empty */
	int failed;		 /* 0, or -errno once the session is unusable */
	char why[256];		 /* one line for the user when failed */
};

/* The channel must already be open and past HELLO. Switches the session to non-blocking. */
int tunnel_init(struct tunnel *t, LIBSSH2_SESSION *sess, LIBSSH2_CHANNEL *ch, int fd,
		struct evloop *loop, struct mux *mux);
/* Move bytes both ways until nothing moves (or a round limit). Sets t->failed on error. */
void tunnel_pump(struct tunnel *t);
/* Called about once a second: keepalive and stall detection. */
void tunnel_tick(struct tunnel *t);
/* The round trip of a PING this tunnel sent, from its echoed PONG: ms, or -EINVAL. */
int tunnel_rtt_ms(const uint8_t opaque[8]);
/* How long the event loop may sleep. */
int tunnel_timeout_ms(const struct tunnel *t);

#endif
