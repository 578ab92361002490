/*
 * auth: user authentication once the handshake and host key check are done:
 * ssh-agent, identity files, then keyboard-interactive and password when
 * there is a terminal to ask on. Prompts go to /dev/tty, never stdout;
 * ssh.c puts its host key question through them too.
 */
#ifndef SLUICE_AUTH_H
#define SLUICE_AUTH_H

#include <libssh2.h>
#include <stdbool.h>
#include <stddef.h>

struct auth_result {
	char used[256];	   /* what worked: "agent (comment)", a key path, "password", ... */
	char tried[1024];  /* what was attempted, comma separated, for the failure message */
	char methods[128]; /* what the server accepts, as it listed them */
	char error[256];   /* libssh2's text when the session itself failed */
	int rsa_refused;   /* an RSA key was refused: libssh2 < 1.11 signs only with SHA-1 */
	int methods_asked; /* the server was asked: methods is its answer */
	int offered;	   /* keys offered so far */
};

/* How the agent is used, from the SSH configuration. */
struct auth_agent {
	/* IdentitiesOnly: an agent key is offered only when one of ids has its .pub. */
	bool identities_only;
	/* IdentityAgent: NULL for SSH_AUTH_SOCK, "none", "$VAR" or "SSH_AUTH_SOCK", or a path. */
	const char *socket;
};

/*
 * Authenticate user on s (blocking mode). ids are identity files in the
 * order to try; missing files are skipped. host is for the password prompt.
 * Returns 0 when authenticated, -EACCES when every method was refused,
 * -EINTR when the user interrupted a prompt, or another -errno when the
 * session failed (res->error says how).
 */
int auth_run(LIBSSH2_SESSION *s, const char *user, const char *host, const char *const *ids,
	     size_t n_ids, const struct auth_agent *agent, struct auth_result *res);

/*
 * Off: no question is put, terminal or not (a further login of a session
 * that is up, which must not stop for the user). On by default.
 */
void auth_set_prompts(bool allowed);

/* Whether a question may be put: stdin and stderr are a terminal, and prompts are on. */
bool auth_have_tty(void);

/*
 * Show text (may be NULL), then ask prompt on /dev/tty with the answer
 * echoed, as for a host key. 0, -ENODATA on ^D, -EINTR, or -errno.
 */
int auth_ask(const char *text, const char *prompt, char *out, size_t outlen);

/*
 * Whether a private key file is passphrase protected: 1, 0, or -errno.
 * Knows PEM ("ENCRYPTED") and the openssh-key-v1 format (cipher not "none").
 */
int auth_key_encrypted(const char *path);

#endif
