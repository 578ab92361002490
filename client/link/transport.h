/*
 * transport: what carries the bytes between the client and the remote
 * helper. The bootstrap, the relay and main.c see only this interface;
 * each backend owns everything behind it:
 *
 *   client/ssh/  libssh2: our own SSH session (host keys, auth, ssh -G
 *                config, ProxyJump/ProxyCommand, the AES-CTR shim)
 *   client/cmd/  -e CMD: any command that ends in a shell on the remote
 *                (ssh, ssh -J, a ControlMaster socket...); it owns host
 *                keys and auth
 *
 * Like a pipe to a remote command: the backend runs one command there, and
 * the ops move its stdin, stdout and stderr. All I/O is non-blocking.
 */
#ifndef SLUICE_TRANSPORT_H
#define SLUICE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct transport;

#define TRANSPORT_PEERS_MAX 8

struct transport_ops {
	/*
	 * Run cmd (a line for the remote's shell) and connect its stdio to
	 * the ops below. May block up to the backend's timeout. On failure
	 * -errno and one line for the user in err.
	 */
	int (*exec)(struct transport *t, const char *cmd, char *err, size_t errlen);
	/*
	 * Bytes moved (> 0), 0 at end of stream (read), -EAGAIN when the
	 * caller must wait on the fds, or another -errno (then why() says
	 * what happened). After -EAGAIN from write, the next write must offer
	 * the same bytes again (libssh2 keeps a half-sent packet).
	 */
	ssize_t (*read)(struct transport *t, void *buf, size_t len);
	ssize_t (*read_stderr)(struct transport *t, void *buf, size_t len);
	ssize_t (*write)(struct transport *t, const void *buf, size_t len);
	/*
	 * The descriptors to wait on: fd[0] with the epoll events the
	 * backend needs now (they change as I/O blocks one way or the
	 * other), fd[1] (-1 if none) for stderr, always EPOLLIN.
	 */
	void (*wait_on)(struct transport *t, int fd[2], uint32_t *events);
	/* Bytes the backend holds that no fd event will announce: read again before sleeping. */
	bool (*buffered)(struct transport *t);
	/* The last error, for the user, after a negative return. */
	const char *(*why)(struct transport *t);
	/* The remote command's exit status once the stream ended, or -1 when unknown. */
	int (*exit_status)(struct transport *t);
	/* Close and free; waits a bounded time to part politely. */
	void (*close)(struct transport *t);
	/*
	 * Optional (NULL: the stream lives in this process, as libssh2's
	 * session does): give up the descriptors the stream and the remote's
	 * stderr come on, for another process to read and write them as the
	 * ops above would. The backend's process (child) runs on, and still
	 * dies with this one (child_start); close then only frees. 0 or
	 * -errno.
	 */
	int (*detach)(struct transport *t, int *sock, int *err);
};

struct transport {
	const struct transport_ops *ops;
	const char *name; /* "ssh" or "command", for the log */
	char detail[160]; /* what the user may want to know: cipher, command */
	/* Where the transport's own traffic goes, when known here: never to be redirected. */
	struct sockaddr_storage peer[TRANSPORT_PEERS_MAX];
	size_t n_peer;
	/*
	 * The transport itself queues far more than the helper's stdout pipe
	 * holds (OpenSSH's channel buffers): a deep pipe there costs no
	 * latency we could keep, and spares the helper and sshd wakeups. The
	 * command backend says so for any -e command: it is there for ssh, and
	 * a command that buffers little would pay up to a pipe's worth (1 MiB)
	 * of queueing behind a bulk download.
	 */
	bool queues_deep;
	pid_t child; /* the command backend's process (for -e ssh, ssh itself), else 0 */
};

static inline int transport_exec(struct transport *t, const char *cmd, char *err, size_t errlen)
{
	return t->ops->exec(t, cmd, err, errlen);
}

static inline ssize_t transport_read(struct transport *t, void *buf, size_t len)
{
	return t->ops->read(t, buf, len);
}

static inline ssize_t transport_read_stderr(struct transport *t, void *buf, size_t len)
{
	return t->ops->read_stderr(t, buf, len);
}

static inline ssize_t transport_write(struct transport *t, const void *buf, size_t len)
{
	return t->ops->write(t, buf, len);
}

static inline void transport_wait_on(struct transport *t, int fd[2], uint32_t *events)
{
	t->ops->wait_on(t, fd, events);
}

static inline bool transport_buffered(struct transport *t)
{
	return t->ops->buffered(t);
}

static inline const char *transport_why(struct transport *t)
{
	return t->ops->why(t);
}

static inline int transport_exit_status(struct transport *t)
{
	return t->ops->exit_status(t);
}

static inline void transport_close(struct transport *t)
{
	if (t)
		t->ops->close(t);
}

/*
 * Blocking helpers over the non-blocking ops, for the bootstrap (before the
 * event loop exists): wait on the fds at most timeout_ms per step.
 * transport_read_wait returns like read (never -EAGAIN; -ETIMEDOUT instead);
 * transport_write_all writes everything or returns -errno.
 */
ssize_t transport_read_wait(struct transport *t, void *buf, size_t len, int timeout_ms);
ssize_t transport_read_stderr_wait(struct transport *t, void *buf, size_t len, int timeout_ms);
int transport_write_all(struct transport *t, const void *buf, size_t len, int timeout_ms);

#endif
