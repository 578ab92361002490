/*
 * priv_main: the privileged part as a process. Entered only as
 * `sluice --privileged` or `sluice --privileged --all-users` (nothing else
 * on the command line, no SLUICE_ARGS, no @FILE), with the channel to the
 * user's sluice, a socket it made, on stdin and stdout. Who made that
 * socket decides what the part will do (priv_grant.h).
 * It holds the nftables table and our /etc/hosts lines, and removes both
 * when the channel closes or SIGTERM comes, however the other side ended.
 */
#ifndef SLUICE_PRIV_MAIN_H
#define SLUICE_PRIV_MAIN_H

#include <stdbool.h>

#define PRIV_ARG	   "--privileged"
#define PRIV_ALL_USERS_ARG "--all-users" /* the admin's wider line: anyone's traffic */

/* Runs until the channel closes; returns the process's exit status. */
int priv_main(bool all_users);

#endif
