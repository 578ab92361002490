/*
 * lanerelay: a lane worker's loop once its lane is open (laneworker.h):
 * the lane's bytes between the parent's socket and the transport, both
 * ways, and the remote helper's stderr into the parent's pipe. One epoll
 * loop of its own, non-blocking; a write that found the transport full is
 * offered again with the same bytes, as the transport asks.
 */
#ifndef SLUICE_LANERELAY_H
#define SLUICE_LANERELAY_H

#include "transport.h"

/* The worker's exit code when the helper's own exit status is unknown. */
#define LANERELAY_NO_STATUS 255

/*
 * Relay until either side ends: the parent closing its end (what is left
 * for it is dropped), or the transport's stream ending or failing (what
 * it sent is passed on first, its stderr to its end within a bound of
 * time and bytes; a failure's reason goes to err as a line).
 * Returns the exit code for the worker: the helper's exit status when the
 * stream ended with one, else LANERELAY_NO_STATUS.
 */
int lanerelay_run(struct transport *t, int sock, int err);

#endif
