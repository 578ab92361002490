/*
 * fdpass: descriptors sent and received over a unix socket (SCM_RIGHTS),
 * the one way every part of the client does it: they ride on the first
 * byte of a message, so they arrive with it however the rest is cut, and
 * whatever the receiver cannot keep is closed, never leaked. Only libc.
 */
#ifndef SLUICE_FDPASS_H
#define SLUICE_FDPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The most descriptors one message carries, either way. */
#define FDPASS_MAX 4

/*
 * sendmsg of len bytes from buf (len > 0) with n descriptors (at most
 * FDPASS_MAX; 0: none) on its first byte. Returns the bytes sent, or
 * -errno (-EINVAL for too many).
 */
ssize_t fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t n, int flags);

/* The descriptors one message brought, close-on-exec. */
struct fdpass_got {
	int fd[FDPASS_MAX];
	size_t n;
	/* Some were dropped: the kernel had no room for them (MSG_CTRUNC). */
	bool lost;
};

/*
 * recvmsg of at most len bytes into buf, the descriptors that came with
 * them into got (emptied first). Returns the bytes read, 0 at the end of
 * the stream, or -errno; got holds nothing after either of those.
 */
ssize_t fdpass_recv(int sock, void *buf, size_t len, int flags, struct fdpass_got *got);

/* Close every descriptor got holds, and empty it. */
void fdpass_close(struct fdpass_got *got);

#endif
