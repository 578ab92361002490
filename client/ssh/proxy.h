/*
 * proxy: ProxyCommand and ProxyJump for the libssh2 backend. The proxy runs
 * as a child whose stdin and stdout are one end of a socketpair; libssh2
 * gets the other end as if it were the TCP connection. Host keys are still
 * checked against the target's name: only the socket changes. The child's
 * stderr goes to an anonymous file, read back to explain a failure.
 */
#ifndef SLUICE_PROXY_H
#define SLUICE_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sshconf.h"

#define PROXY_ARGS_MAX 16

struct proxy {
	pid_t pid;	/* 0 when none runs */
	int err_fd;	/* its stderr (a memfd), -1 when none */
	char what[300]; /* the command, for messages */
};

/*
 * ProxyCommand's tokens: %h host, %p port, %r user, %% a '%'. Returns 0, or
 * -EINVAL for any other token, -ENOSPC when out is too small.
 */
int proxy_expand(const char *tmpl, const char *host, uint16_t port, const char *user, char *out,
		 size_t outlen);

/*
 * ProxyJump as an ssh command line: ssh [-F config] [-J all-but-last] -W
 * host:port last. argv points into buf. Returns the number of arguments or
 * -EINVAL / -ENOSPC.
 */
int proxy_jump_args(const char *jumps, const char *host, uint16_t port, const char *config,
		    char *buf, size_t buflen, const char *argv[PROXY_ARGS_MAX]);

/*
 * Start cfg's proxy (ProxyCommand wins over ProxyJump, as in ssh); *fd is
 * our end, blocking. On failure -errno and one line in err.
 */
int proxy_start(struct proxy *p, const struct sshconf *cfg, int *fd, char *err, size_t errlen);

/* The proxy's last line on stderr (after a short wait for it to finish), or "". */
void proxy_last_words(struct proxy *p, char *out, size_t outlen);

/* Stop and reap it (TERM, then KILL), close its stderr. Safe when none runs. */
void proxy_stop(struct proxy *p);

#endif
