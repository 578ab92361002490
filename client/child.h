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
 * SIGTERM when we die. Returns its pid or -errno. A failed exec exits 127.
 */
pid_t child_start(const char *const *argv, int io, int err);

/* Reap pid within ms. True when it is gone; *status (if given) gets its wait status. */
bool child_reap(pid_t pid, int ms, int *status);

/* End it: grace_ms to exit by itself, then SIGTERM, then SIGKILL, each waited for. */
void child_stop(pid_t pid, int grace_ms);

#endif
