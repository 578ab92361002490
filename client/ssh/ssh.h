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

#include "../link/progress.h"
#include "proxy.h"
#include "sshconf.h"

#define SSH_ALT_MAX 7

struct ssh_conn {
	int fd;
	LIBSSH2_SESSION *session;
	/* The server's address, for the firewall's self-exclude; peer_len 0 through a proxy. */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	/* The name's other addresses, which a reconnect may take: excluded too. */
	struct sockaddr_storage alt[SSH_ALT_MAX];
	size_t n_alt;
	struct proxy proxy; /* ProxyCommand/ProxyJump child, pid 0 when none */

	/* For the caller to log after ssh_connect returns 0. */
	char hostkey[128];     /* "ssh-ed25519 SHA256:..." as the server presented it */
	char hostkey_type[32]; /* its first word */
	int hostkey_added;   /* an unknown key was accepted and appended to the first known_hosts */
	int hostkey_add_err; /* -errno when accepting it could not be written (the session goes on)
			      */
	char auth_used[256]; /* what authenticated: "agent key COMMENT", a key path, "password" */
};

enum ssh_fail {
	SSH_FAIL_NONE = 0,
	SSH_FAIL_RESOLVE,   /* host name does not resolve */
	SSH_FAIL_CONNECT,   /* TCP connect failed or timed out */
	SSH_FAIL_HANDSHAKE, /* SSH protocol negotiation failed */
	SSH_FAIL_DROPPED,   /* the server hung up before its banner: its MaxStartups, say */
	SSH_FAIL_PROXY,	    /* the proxy's end closed before the banner: its words say why */
	SSH_FAIL_HOSTKEY_UNKNOWN,
	SSH_FAIL_HOSTKEY_CHANGED,
	SSH_FAIL_AUTH,
};

/*
 * Connect and authenticate. extra_identity (from -i, may be empty) is tried
 * before the config's IdentityFile list; known_hosts_override (--known-hosts,
 * may be NULL) replaces the config's UserKnownHostsFile list and the global
 * /etc/ssh/ssh_known_hosts. On failure returns a negative errno, sets *fail,
 * writes one line for the user into err (for host key failures it includes
 * the SHA256 fingerprint), and leaves c closed (fd -1, session NULL). c needs
 * no initialisation. The session stays in blocking mode with a timeout of
 * max(ConnectTimeout, 30 s) per wait; the caller changes either as it needs.
 * Password and passphrase prompts, if any, go to /dev/tty. pg (may be NULL)
 * hears each step: connecting (and to what), authenticated (and by what).
 */
int ssh_connect(struct ssh_conn *c, const struct sshconf *cfg, const char *const *extra_identity,
		size_t n_extra, const char *known_hosts_override, const struct progress *pg,
		enum ssh_fail *fail, char *err, size_t errlen);

/*
 * Say goodbye (waiting at most 2 s), free the session and close the socket.
 * Safe after a failed ssh_connect and when called twice.
 */
void ssh_disconnect(struct ssh_conn *c, const char *why);

#endif
