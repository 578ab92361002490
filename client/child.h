/*
 * child: the client's helper processes (the -e command, a ProxyCommand or
 * ProxyJump): started with the session's stdio on given descriptors, dying
 * with us, and reaped with bounded waits.
 */
#ifndef SLUICE_CHILD_H
#define SLUICE_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * Fork and exec argv (searched in PATH unless argv[0] has a '/'), with io
 * as its stdin and stdout and err as its stderr, a clean signal mask, and
 * SIGTERM when we die. no_tty: in a session of its own, without our
 * controlling terminal, so that it cannot open /dev/tty to ask anything.
 * Returns its pid or -errno. A failed exec exits 127.
 */
pid_t child_start(const char *const *argv, int io, int err, bool no_tty);

/*
 * A child's two channels, close-on-exec: a socketpair for its stdin and
 * stdout and a pipe for its stderr; [1] are the child's ends.
 */
struct child_io {
	int sock[2], err[2];
};
/* Open both: 0, or -errno with nothing left open. */
int child_io_open(struct child_io *io);
/*
 * Once the child has its ends: close them here and hand over ours
 * (*sock, *err: the caller closes them from now on), non-blocking. 0 or
 * -errno (the set-up failed; ours are handed over all the same).
 */
int child_io_keep(struct child_io *io, int *sock, int *err);
/* Close whatever is still open (the child never started). */
void child_io_close(struct child_io *io);

/* Reap pid within ms. True when it is gone; *status (if given) gets its wait status. */
bool child_reap(pid_t pid, int ms, int *status);

/* End it: grace_ms to exit by itself, then SIGTERM, then SIGKILL, each waited for. */
void child_stop(pid_t pid, int grace_ms);

/*
 * child_stop without the waits, for a caller whose loop must not stall on
 * a child that stopped answering: child_stop_tick, run about once a
 * second, reaps it once it ends and signals it on child_stop's schedule;
 * child_stop_all, at exit, runs that schedule to its end for all of them
 * at once. When CHILD_LATER_MAX wait already, it is stopped at once.
 */
#define CHILD_LATER_MAX 64
void child_stop_later(pid_t pid, int grace_ms);
void child_stop_tick(void);
void child_stop_all(void);

#endif
