/*
 * transport_ssh: the libssh2 backend of client/link/transport.h. Our own SSH
 * session: ssh -G config, host keys, authentication, one exec channel.
 * Nothing of libssh2 shows through this header.
 */
#ifndef SLUICE_TRANSPORT_SSH_H
#define SLUICE_TRANSPORT_SSH_H

#include <stddef.h>
#include <stdint.h>

#include "../link/progress.h"
#include "../link/transport.h"
#include "sshconf.h"

/* What the session did that the user should hear about, for the caller to log. */
struct ssh_report {
	char hostkey[128];   /* "ssh-ed25519 SHA256:..." as the server presented it */
	int hostkey_added;   /* an unknown key was accepted and appended */
	int hostkey_add_err; /* -errno when accepting it could not be written */
	char auth_used[256]; /* what authenticated */
	int fatal;	     /* on failure: trying again cannot help (host key, authentication) */
	int dropped; /* on failure: the server hung up before its banner (SSH_FAIL_DROPPED) */
	int proxy;   /* on failure: no banner came through the proxy (SSH_FAIL_PROXY) */
};

/*
 * Connect and authenticate (blocking; see ssh_connect for the options).
 * rx_window is the exec channel's receive window. On success *out is a
 * transport ready for transport_exec; on failure -errno, one line in err.
 */
int transport_ssh_open(struct transport **out, const struct sshconf *cfg,
		       const char *const *identity, size_t n_identity, const char *known_hosts,
		       uint32_t rx_window, const struct progress *pg, struct ssh_report *report,
		       char *err, size_t errlen);

#endif
