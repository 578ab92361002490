/*
 * hostwatch: learns remote host names for -H. Runs in a child process of
 * the helper so its blocking lookups (PTR through the remote's resolver,
 * /etc/hosts, the neighbour table, established connections) never stall
 * the relay. It writes one "ADDRESS NAME\n" line per discovery to a pipe
 * that the helper reads, validates and forwards to the client.
 */
#ifndef SLUICE_HOSTWATCH_H
#define SLUICE_HOSTWATCH_H

#include <sys/types.h>

/*
 * Fork the watcher. seeds are host names to resolve (--seed-hosts), may be
 * NULL/0. On success *fd is the read end of the pipe (non-blocking, close on
 * exec) and *pid the child. The child exits when the pipe's reader goes
 * away or its parent dies. Returns 0 or -errno.
 */
int hostwatch_start(const char *const *seeds, size_t n_seeds, int *fd, pid_t *pid);

#endif
