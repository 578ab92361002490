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

#endif
