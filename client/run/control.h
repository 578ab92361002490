/*
 * control: the status socket of a running sluice, and the `--status`
 * client that reads it. The socket is $XDG_RUNTIME_DIR/sluice/PID.sock for
 * a user (without that variable /run/user/UID/sluice, else /tmp/sluice-UID),
 * /run/sluice/PID.sock for root, in a 0700 directory; a peer is
 * served only when SO_PEERCRED says it is the same user or root. A request
 * is one line, "json" or "text"; the reply is the report, then EOF.
 */
#ifndef SLUICE_CONTROL_H
#define SLUICE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../../common/evloop.h"

#define CONTROL_CONNS	  8
#define CONTROL_REPLY_MAX 65536

/* Fill buf (len bytes) with the report; return its length. */
typedef size_t (*control_report_fn)(void *arg, bool json, char *buf, size_t len);

struct control_conn {
	struct ev_io io;
	struct control *ctl;
	char req[16];
	size_t len;
};

struct control {
	struct ev_io io; /* the listening socket, fd -1 when none */
	struct evloop *loop;
	char path[108];
	control_report_fn report;
	void *arg;
	struct control_conn conn[CONTROL_CONNS];
};

/*
 * Listen on this process's socket, replacing stale ones a crash left.
 * Returns 0, or -errno (the caller goes on without a status socket).
 */
int control_open(struct control *c, struct evloop *loop, control_report_fn report, void *arg);
/* Close and remove the socket. Safe when not open. */
void control_close(struct control *c);

/*
 * One sluice's JSON reply as --status --json lists it: it must be exactly
 * one object of printable ASCII, and its "uid" is uid (what SO_PEERCRED
 * said of the socket's process), first; "uid" members of the reply are
 * dropped. Writes NUL-terminated text to out; returns its length, -EPROTO
 * for anything but one object, -ENOSPC when it does not fit.
 */
int control_merge_json(const char *reply, size_t len, unsigned uid, char *out, size_t cap);

/*
 * --status: ask every running sluice this user may see (root: every
 * user's, in all three places) and print the
 * answers to out (one JSON array with json). Returns the number found, or
 * -errno.
 */
int control_query_all(bool json, FILE *out);

#endif
