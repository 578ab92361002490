/*
 * priv_main: the privileged part as a process. Entered only as
 * `sluice --privileged` (nothing else on the command line, no SLUICE_ARGS,
 * no @FILE), with the channel to the user's sluice on stdin and stdout.
 * It holds the nftables table and our /etc/hosts lines, and removes both
 * when the channel closes or SIGTERM comes, however the other side ended.
 */
#ifndef SLUICE_PRIV_MAIN_H
#define SLUICE_PRIV_MAIN_H

#define PRIV_ARG "--privileged"

/* Runs until the channel closes; returns the process's exit status. */
int priv_main(void);

#endif
