/*
 * transport_cmd: the -e backend of client/link/transport.h. Runs
 * `CMD [-p PORT] [-l USER] HOST COMMAND` through /bin/sh, as sshuttle's -e
 * does, and carries the tunnel over the child's stdin and stdout (one end
 * of a socketpair); its stderr comes back on a pipe. The command owns host
 * keys and authentication: anything that ends in a shell on the remote
 * will do (ssh, ssh -J, a ControlMaster socket, a container exec).
 */
#ifndef SLUICE_TRANSPORT_CMD_H
#define SLUICE_TRANSPORT_CMD_H

#include <stdint.h>
#include <sys/types.h>

#include "../link/transport.h"

/*
 * user may be NULL and port 0 (then the command's own defaults apply).
 * ctl_path (--direct or lanes, else NULL; kept by the caller while the
 * transport lives): the command must be OpenSSH's ssh, and is told to be a
 * ControlMaster listening there. Returns 0 or -ENOMEM.
 */
int transport_cmd_open(struct transport **out, const char *cmd, const char *host, const char *user,
		       uint16_t port, const char *ctl_path);

/*
 * A further session through the ControlMaster a transport_cmd_open with
 * ctl_path started: the command (OpenSSH's ssh) is told to use the master
 * at ctl_path, and never to ask anything. Returns 0 or -ENOMEM.
 */
int transport_cmd_open_via(struct transport **out, const char *cmd, const char *host,
			   const char *user, uint16_t port, const char *ctl_path);

/*
 * A process already started that carries the stream: sock (its end of a
 * socketpair, non-blocking) and err (the read end of a pipe with the
 * remote's stderr, non-blocking) are the transport's from here on, and the
 * process is stopped and reaped on close as the command is. name is for
 * the log, what names the process in errors; its exit code no_status
 * means "unknown". Returns 0 or -ENOMEM (then the caller still owns all).
 */
int transport_cmd_adopt(struct transport **out, pid_t child, int sock, int err, const char *name,
			const char *what, int no_status);

#endif
