/*
 * ssh: the blocking phase of an SSH session: TCP connect with a timeout,
 * handshake, host key check against known_hosts, and authentication. What
 * comes after (the exec channel, non-blocking I/O) belongs to the caller.
 */
#ifndef SLUICE_SSH_H
#define SLUICE_SSH_H

#include <libssh2.h>
#include <stddef.h>
#include <sys/socket.h>

#include "sshconf.h"

struct ssh_conn {
	int fd;
	LIBSSH2_SESSION *session;
	struct sockaddr_storage peer; /* the server's address, for the firewall's self-exclude */
	socklen_t peer_len;
};

enum ssh_fail {
	SSH_FAIL_NONE = 0,
	SSH_FAIL_RESOLVE,     /* host name does not resolve */
	SSH_FAIL_CONNECT,     /* TCP connect failed or timed out */
	SSH_FAIL_HANDSHAKE,   /* SSH protocol negotiation failed */
	SSH_FAIL_HOSTKEY_UNKNOWN,
	SSH_FAIL_HOSTKEY_CHANGED,
	SSH_FAIL_AUTH,
};

/*
 * Connect and authenticate. extra_identity (from -i, may be empty) is tried
 * before the config's IdentityFile list; known_hosts_override (--known-hosts,
 * may be NULL) replaces the config's UserKnownHostsFile list. On failure
 * returns a negative errno, sets *fail, and writes one line for the user
 * into err (for host key failures it includes the SHA256 fingerprint).
 */
int ssh_connect(struct ssh_conn *c, const struct sshconf *cfg, const char *const *extra_identity,
		size_t n_extra, const char *known_hosts_override, enum ssh_fail *fail, char *err,
		size_t errlen);

void ssh_disconnect(struct ssh_conn *c, const char *why);

#endif
