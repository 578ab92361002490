/*
 * daemon: -D and --pidfile. The command returns only once the tunnel works
 * (exit 0) or has failed (the error already on stderr, a non-zero exit);
 * the process that carries on is detached, in /, with stdio on /dev/null.
 */
#ifndef SLUICE_DAEMON_H
#define SLUICE_DAEMON_H

#include <stdbool.h>

/*
 * Fork. The parent waits until daemon_ready or the child's exit and leaves
 * with exit status 0 or the child's; this returns only in the child.
 * Returns 0 or -errno (before any fork).
 */
int daemon_fork(void);
/* The tunnel works: tell the waiting parent, and detach. 0 or -errno. */
int daemon_ready(void);

/*
 * Create path exclusively with our pid. A file whose process is gone is
 * replaced (*stale set); one whose process lives is -EEXIST (*other set to
 * its pid). 0 or -errno.
 */
int pidfile_create(const char *path, bool *stale, int *other);
/* Remove it, if it still holds our pid. */
void pidfile_remove(const char *path);

#endif
