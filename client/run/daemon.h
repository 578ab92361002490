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
 * its pid). Something there that is not a regular file is -EINVAL, a
 * symlink -ELOOP. 0 or -errno.
 */
int pidfile_create(const char *path, bool *stale, int *other);
/* Remove it, if it still holds our pid. */
void pidfile_remove(const char *path);

/*
 * Open --log-file to append to, never through a symlink nor blocking on a
 * FIFO. strict (root): also refuse a directory anyone but root may write,
 * and a file that is not a regular, root-owned file with one link. The fd,
 * or -errno with *why saying what was refused (NULL: see the errno).
 */
int logfile_open(const char *path, bool strict, const char **why);

#endif
