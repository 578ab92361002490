/*
 * transport_cmd: a child process (client/child.c) behind the transport ops
 * (see transport_cmd.h). It gets the session's stdio, dies with us, and is
 * reaped with a bounded wait on close.
 */
#include "transport_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../child.h"

#define REAP_WAIT_MS 2000
/*
 * An adopted process is a lane's worker, asked for its status while the
 * client's loop waits: its stream ended, and it exits once ssh has.
 * Longer, and the status is left unknown rather than stall every other
 * lane.
 */
#define ADOPTED_REAP_MS 600

struct cmd_transport {
	struct transport t;
	const char *cmd, *host, *user;
	const char *ctl_path; /* --direct or lanes: the master's ControlPath, else NULL */
	bool via_master;      /* use the master at ctl_path rather than be it */
	uint16_t port;
	int sock;	  /* our end of the child's stdin and stdout */
	int err;	  /* the read end of the child's stderr */
	bool err_end;	  /* it reached its end: no longer worth waiting on */
	bool want_out;	  /* a write found the socket full */
	int write_err;	  /* a write found its end closed (errno), for a read to settle */
	int status;	  /* wait status once reaped, -1 before */
	int no_status;	  /* an exit code that means "unknown" (adopted), else -1 */
	bool detached;	  /* cmd_detach gave the descriptors away: the child is not ours to stop */
	bool adopted;	  /* transport_cmd_adopt: the child is a lane's worker */
	int reap_ms;	  /* the longest wait for its exit status */
	const char *what; /* the process, for errors: "the ssh command" */
	char why[256];
};

static struct cmd_transport *ct(struct transport *t)
{
	return (struct cmd_transport *)t;
}

/* Reap the child within ms; returns its exit status (128 + signal when killed), or -1. */
static int reap(struct cmd_transport *c, int ms)
{
	int st;

	if (c->t.child > 0 && c->status < 0 && child_reap(c->t.child, ms, &st))
		c->status = st;
	if (c->status < 0)
		return -1;
	if (WIFEXITED(c->status))
		return WEXITSTATUS(c->status) == c->no_status ? -1 : WEXITSTATUS(c->status);
	return 128 + WTERMSIG(c->status);
}

static ssize_t cmd_io_result(struct cmd_transport *c, ssize_t n, const char *what)
{
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR)
		return -EAGAIN;
	snprintf(c->why, sizeof(c->why), "%s %s: %s", what, c->what, strerror(errno));
	return -errno;
}

static ssize_t cmd_read(struct transport *t, void *buf, size_t len)
{
	struct cmd_transport *c = ct(t);
	ssize_t n = recv(c->sock, buf, len, MSG_DONTWAIT);

	/*
	 * It closed its end with bytes of ours unread (a lane's worker that
	 * stopped reading once its stream ended): its stream ended all the
	 * same, and its exit status and stderr say why, where a reset would not.
	 */
	if (n < 0 && errno == ECONNRESET)
		return 0;
	/* Nothing to read after all: its end is closed to us only, and the write's error stands. */
	if (n < 0 && errno == EAGAIN && c->write_err) {
		errno = c->write_err;
		return cmd_io_result(c, -1, "writing to");
	}
	return cmd_io_result(c, n, "reading from");
}

static ssize_t cmd_read_stderr(struct transport *t, void *buf, size_t len)
{
	struct cmd_transport *c = ct(t);
	ssize_t n;

	if (c->err_end)
		return 0;
	n = read(c->err, buf, len);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	/*
	 * Its end (or a broken pipe, which is the same to us). It stays open
	 * until close, so the number cannot be reused under a caller's watch.
	 */
	c->err_end = true;
	return 0;
}

static ssize_t cmd_write(struct transport *t, const void *buf, size_t len)
{
	struct cmd_transport *c = ct(t);
	ssize_t n = send(c->sock, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	/*
	 * It closed its end: as with a reset on read (cmd_read), the end of
	 * its stream, read next, and its exit status and stderr say why, not
	 * our write. The socket stays readable until that end is read.
	 */
	if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
		c->want_out = false;
		c->write_err = errno;
		return -EAGAIN;
	}
	c->want_out = n < 0 && errno == EAGAIN;
	return cmd_io_result(c, n, "writing to");
}

static void cmd_wait_on(struct transport *t, int fd[2], uint32_t *events)
{
	struct cmd_transport *c = ct(t);

	fd[0] = c->sock;
	fd[1] = c->err_end ? -1 : c->err;
	*events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
}

static bool cmd_buffered(struct transport *t)
{
	return false;
}

static const char *cmd_why(struct transport *t)
{
	return ct(t)->why;
}

static int cmd_exit_status(struct transport *t)
{
	return reap(ct(t), ct(t)->reap_ms);
}

/*
 * CMD [-p PORT] [-l USER] HOST COMMAND, through the shell so CMD splits as the user wrote it.
 * With --direct, OpenSSH options before those make the command a ControlMaster of our own.
 */
static pid_t start(struct cmd_transport *c, int sock, int err, const char *remote_cmd)
{
	char script[4096], port[8], ctl[160];
	const char *argv[24];
	int n = 0;

	snprintf(script, sizeof(script), "exec %s \"$@\"", c->cmd);
	argv[n++] = "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n++] = "sluice-ssh-cmd";
	if (c->ctl_path) {
		snprintf(ctl, sizeof(ctl), "ControlPath=%s", c->ctl_path);
		argv[n++] = "-o";
		argv[n++] = c->via_master ? "ControlMaster=no" : "ControlMaster=yes";
		argv[n++] = "-o";
		argv[n++] = ctl;
		argv[n++] = "-o";
		/* A further lane must not stop for a prompt should ssh go round the master. */
		argv[n++] = c->via_master ? "BatchMode=yes" : "ControlPersist=no";
		if (c->via_master) {
			/* Nor wait long on a server of its own: the loop waits while a lane opens.
			 */
			argv[n++] = "-o";
			argv[n++] = "ConnectTimeout=5";
			/*
			 * When the master's server refuses one more session
			 * (MaxSessions), ssh would log in anew beside it, a
			 * connection the lanes do not mean to make: it fails
			 * instead, and the lane knows the server's limit. A -J
			 * of the command's own still comes first.
			 */
			argv[n++] = "-o";
			argv[n++] = "ProxyCommand=false";
		}
	}
	if (c->port) {
		snprintf(port, sizeof(port), "%u", (unsigned)c->port);
		argv[n++] = "-p";
		argv[n++] = port;
	}
	if (c->user) {
		argv[n++] = "-l";
		argv[n++] = c->user;
	}
	argv[n++] = c->host;
	argv[n++] = remote_cmd;
	argv[n] = NULL;
	return child_start(argv, sock, err, false);
}

static int cmd_exec(struct transport *t, const char *remote_cmd, char *err, size_t errlen)
{
	struct cmd_transport *c = ct(t);
	struct child_io io;
	int r;

	if (!c->cmd) {
		snprintf(err, errlen, "%s runs its own command", c->what);
		return -EINVAL;
	}
	if (strlen(c->cmd) > 3000) {
		snprintf(err, errlen, "the -e command is too long");
		return -E2BIG;
	}
	r = child_io_open(&io);
	if (r < 0) {
		snprintf(err, errlen, "starting the -e command: %s", strerror(-r));
		return r;
	}
	c->t.child = start(c, io.sock[1], io.err[1], remote_cmd);
	if (c->t.child < 0) {
		r = c->t.child;
		c->t.child = 0;
		child_io_close(&io);
		snprintf(err, errlen, "starting the -e command: %s", strerror(-r));
		return r;
	}
	r = child_io_keep(&io, &c->sock, &c->err);
	if (r < 0)
		snprintf(err, errlen, "starting the -e command: %s", strerror(-r));
	return r;
}

static void cmd_close(struct transport *t)
{
	struct cmd_transport *c = ct(t);

	if (c->sock >= 0)
		close(c->sock);
	if (c->err >= 0)
		close(c->err);
	/*
	 * Closing its stdin ends a well-behaved ssh; a TERM, then a KILL, end
	 * the rest. An adopted lane's worker is the client loop's: stopped
	 * without waiting there (child_stop_tick).
	 */
	if (c->t.child > 0 && c->status < 0 && !c->detached) {
		if (c->adopted)
			child_stop_later(c->t.child, 200);
		else
			child_stop(c->t.child, 200);
	}
	free(c);
}

static int cmd_detach(struct transport *t, int *sock, int *err)
{
	struct cmd_transport *c = ct(t);

	if (c->sock < 0 || c->err < 0 || c->t.child <= 0)
		return -EBADF;
	*sock = c->sock;
	*err = c->err;
	c->sock = c->err = -1;
	c->detached = true;
	return 0;
}

static const struct transport_ops cmd_ops = {
    .exec = cmd_exec,
    .read = cmd_read,
    .read_stderr = cmd_read_stderr,
    .write = cmd_write,
    .wait_on = cmd_wait_on,
    .buffered = cmd_buffered,
    .why = cmd_why,
    .exit_status = cmd_exit_status,
    .close = cmd_close,
    .detach = cmd_detach,
};

int transport_cmd_open(struct transport **out, const char *cmd, const char *host, const char *user,
		       uint16_t port, const char *ctl_path)
{
	struct cmd_transport *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->t.ops = &cmd_ops;
	c->t.name = "command";
	c->t.queues_deep = true;
	snprintf(c->t.detail, sizeof(c->t.detail), "%s", cmd);
	c->cmd = cmd;
	c->host = host;
	c->user = user;
	c->port = port;
	c->ctl_path = ctl_path;
	c->sock = c->err = -1;
	c->status = -1;
	c->no_status = -1;
	c->reap_ms = REAP_WAIT_MS;
	c->what = "the ssh command";
	*out = &c->t;
	return 0;
}

int transport_cmd_adopt(struct transport **out, pid_t child, int sock, int err, const char *name,
			const char *what, int no_status)
{
	struct cmd_transport *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->t.ops = &cmd_ops;
	c->t.name = name;
	c->t.child = child;
	c->what = what;
	c->sock = sock;
	c->err = err;
	c->status = -1;
	c->no_status = no_status;
	c->adopted = true;
	c->reap_ms = ADOPTED_REAP_MS;
	*out = &c->t;
	return 0;
}

int transport_cmd_open_via(struct transport **out, const char *cmd, const char *host,
			   const char *user, uint16_t port, const char *ctl_path)
{
	int ret = transport_cmd_open(out, cmd, host, user, port, ctl_path);

	if (ret == 0)
		((struct cmd_transport *)*out)->via_master = true;
	return ret;
}
