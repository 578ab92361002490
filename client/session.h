/*
 * session: one SSH session and the helper at its end: the transport
 * (libssh2 or -e), the bootstrap, the mux and the tunnel pump. Made at
 * start and made again after every drop; what outlives a session (the
 * listeners, the rules, -N/-H/--dns state) belongs to the caller.
 */
#ifndef SLUICE_SESSION_H
#define SLUICE_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/evloop.h"
#include "../common/mux.h"
#include "opts.h"
#include "progress.h"
#include "ssh/sshconf.h"
#include "transport.h"
#include "tunnel.h"

struct session_args {
	const struct opts *o;
	const struct sshconf *cfg; /* ssh -G's answer for o->remote_host */
	const struct progress *pg;
	const struct mux_ops *ops; /* for the mux, with ctx */
	void *ctx;
	uint32_t want; /* feature bits to ask the helper for */
};

struct direct;

struct session {
	struct transport *tr;
	struct mux *mux;
	struct tunnel tun;
	struct direct *direct; /* --direct: connections go to the command's ControlMaster */
	char ctl_dir[112];     /* --direct: a private directory for its socket, and that socket */
	char ctl_path[128];
	bool up;
	bool fatal; /* the last session_open failed for a reason no retry will fix */
};

/*
 * Connect, authenticate, start the helper, and pump through loop.
 * Blocking until the helper said HELLO. Returns 0, or -errno with one
 * line for the user in err and s->fatal set when retrying cannot help.
 */
int session_open(struct session *s, const struct session_args *a, struct evloop *loop, char *err,
		 size_t errlen);

/* Tear it down: every open stream is reset, the transport closed. Safe when not up. */
void session_close(struct session *s);

#endif
