/*
 * transport_ssh: one libssh2 exec channel behind the transport ops.
 *
 * libssh2 runs non-blocking from the start: after LIBSSH2_ERROR_EAGAIN the
 * same call is repeated with the same bytes, and the socket is watched in
 * the directions libssh2_session_block_directions() names. libssh2 1.10
 * keeps one half-sent packet per session, and a different call that needs
 * to send meanwhile (a read's window adjust, a write's data) fails instead
 * of waiting; so once a read or a write returns EAGAIN with outbound
 * blocked, the other kind answers -EAGAIN without touching libssh2 until
 * the stuck one completes.
 *
 * A read sends the channel's window adjust before it hands out data, sized
 * by the length it was given. When that send waits (EAGAIN: during a key
 * exchange, say), the next read of either stream completes it, but counts
 * the adjust its own length would make while the packet on the wire
 * carries the first one's: with a shorter length libssh2 counts less
 * window than the server was granted, and truncates the data the server
 * then sends within it. So the read after an EAGAIN asks for the same
 * length as the one that waited, stderr through a buffer of its own.
 */
#include "transport_ssh.h"

#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "aesctr.h"
#include "ssh.h"

/* Keep unsent bytes in the kernel short: what waits in our buffer can still be scheduled fairly. */
#define NOTSENT_LOWAT	(128 << 10)
#define CLOSE_WAIT_MS	2000
#define EXEC_TIMEOUT_MS 30000

enum { STUCK_NONE = 0, STUCK_READ, STUCK_WRITE };

struct ssh_transport {
	struct transport t;
	struct ssh_conn conn;
	LIBSSH2_CHANNEL *ch;
	uint32_t rx_window;
	int stuck;
	size_t want_len;    /* a read that returned EAGAIN asked for this much; 0: none */
	uint8_t *err_stage; /* stderr read at want_len, beyond what its caller took */
	size_t err_off, err_len, err_cap;
	int exit_status; /* -1 while unknown */
	bool exit_asked;
	char why[256];
};

static struct ssh_transport *st(struct transport *t)
{
	return (struct ssh_transport *)t;
}

static const char *last_error(struct ssh_transport *s)
{
	char *m = NULL;

	libssh2_session_last_error(s->conn.session, &m, NULL, 0);
	snprintf(s->why, sizeof(s->why), "%s", m && *m ? m : "unknown error");
	return s->why;
}

/*
 * Why the session broke, in words for the log: what happened to the
 * connection when the socket says so, else libssh2's own message.
 */
static void explain(struct ssh_transport *s, ssize_t n, const char *doing)
{
	char *m = NULL;
	int err = 0;
	socklen_t len = sizeof(err);

	libssh2_session_last_error(s->conn.session, &m, NULL, 0);
	if (n == LIBSSH2_ERROR_SOCKET_DISCONNECT) {
		snprintf(s->why, sizeof(s->why), "the SSH server closed the connection");
		return;
	}
	if (n == LIBSSH2_ERROR_SOCKET_RECV || n == LIBSSH2_ERROR_SOCKET_SEND) {
		getsockopt(s->conn.fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err == ECONNRESET || err == EPIPE) {
			snprintf(s->why, sizeof(s->why), "connection reset by the network");
			return;
		}
		if (err) {
			snprintf(s->why, sizeof(s->why),
				 "the connection to the SSH server failed: %s", strerror(err));
			return;
		}
		/* libssh2 reports a plain end of the stream as a failed read. */
		if (recv(s->conn.fd, &(char){0}, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
			snprintf(s->why, sizeof(s->why), "the SSH server closed the connection");
			return;
		}
	}
	snprintf(s->why, sizeof(s->why), "%s the SSH channel: %s", doing,
		 m && *m ? m : "unknown error");
}

/* Without outbound blocked, the call finished whatever it had half sent (if anything). */
static int note_eagain(struct ssh_transport *s, int op)
{
	s->stuck =
	    libssh2_session_block_directions(s->conn.session) & LIBSSH2_SESSION_BLOCK_OUTBOUND
		? op
		: STUCK_NONE;
	return -EAGAIN;
}

/* What an earlier stderr read took beyond its caller's buffer. */
static size_t err_take(struct ssh_transport *s, void *buf, size_t len)
{
	size_t n = s->err_len - s->err_off;

	if (n > len)
		n = len;
	memcpy(buf, s->err_stage + s->err_off, n);
	s->err_off += n;
	return n;
}

/* The stage for a stderr read of want_len bytes; NULL when there is no memory for it. */
static uint8_t *err_stage_for(struct ssh_transport *s)
{
	uint8_t *p;

	if (s->err_cap < s->want_len) {
		p = realloc(s->err_stage, s->want_len);
		if (!p)
			return NULL;
		s->err_stage = p;
		s->err_cap = s->want_len;
	}
	s->err_off = s->err_len = 0;
	return s->err_stage;
}

/*
 * Whether a read of len may leave a window adjust waiting: one waits
 * already, or the read starts one (libssh2's own test). Most EAGAINs are
 * an empty stream, with no adjust behind them; only these must fix the
 * next read's length.
 */
static bool adjust_due(struct ssh_transport *s, size_t len)
{
	unsigned long init = 0, win;

	if (s->want_len)
		return true;
	win = libssh2_channel_window_read_ex(s->ch, NULL, &init);
	return win < init / 4 * 3 + len;
}

static ssize_t ssh_read_ex(struct ssh_transport *s, int stream, void *buf, size_t len)
{
	uint8_t *dst = buf;
	size_t ask = len;
	ssize_t n;
	bool due;

	if (stream && s->err_off < s->err_len)
		return (ssize_t)err_take(s, buf, len);
	if (s->stuck == STUCK_WRITE)
		return -EAGAIN;
	/*
	 * The length of the read that waited (see the top). A shorter one
	 * asks for less; stderr's longer one goes through the stage. Our
	 * callers offer stdout the same buffer again after an EAGAIN.
	 */
	if (s->want_len && s->want_len < len) {
		ask = s->want_len;
	} else if (s->want_len > len && stream) {
		dst = err_stage_for(s);
		if (!dst) {
			snprintf(s->why, sizeof(s->why),
				 "out of memory reading the helper's stderr");
			return -ENOMEM;
		}
		ask = s->want_len;
	}
	due = adjust_due(s, ask);
	n = libssh2_channel_read_ex(s->ch, stream, (char *)dst, ask);
	if (n == LIBSSH2_ERROR_EAGAIN) {
		s->want_len = due ? ask : 0;
		return note_eagain(s, STUCK_READ);
	}
	s->want_len = 0;
	s->stuck = STUCK_NONE;
	if (n < 0) {
		explain(s, n, "reading from");
		return -EIO;
	}
	if (n == 0)
		return libssh2_channel_eof(s->ch) ? 0 : -EAGAIN;
	if (dst != buf) {
		s->err_len = (size_t)n;
		return (ssize_t)err_take(s, buf, len);
	}
	return n;
}

static ssize_t ssh_read(struct transport *t, void *buf, size_t len)
{
	return ssh_read_ex(st(t), 0, buf, len);
}

static ssize_t ssh_read_stderr(struct transport *t, void *buf, size_t len)
{
	return ssh_read_ex(st(t), SSH_EXTENDED_DATA_STDERR, buf, len);
}

static ssize_t ssh_write(struct transport *t, const void *buf, size_t len)
{
	struct ssh_transport *s = st(t);
	ssize_t n;

	if (s->stuck == STUCK_READ)
		return -EAGAIN;
	n = libssh2_channel_write_ex(s->ch, 0, buf, len);
	if (n == LIBSSH2_ERROR_EAGAIN)
		return note_eagain(s, STUCK_WRITE);
	s->stuck = STUCK_NONE;
	if (n < 0) {
		explain(s, n, "writing to");
		return -EIO;
	}
	return n;
}

static void ssh_wait_on(struct transport *t, int fd[2], uint32_t *events)
{
	struct ssh_transport *s = st(t);

	fd[0] = s->conn.fd;
	fd[1] = -1;
	/*
	 * With a packet stuck, bytes already waiting would wake a level-
	 * triggered loop for a read we may not make, over and over: watch
	 * edges then. A new arrival still wakes us to retry the stuck call.
	 */
	if (s->stuck)
		*events = EPOLLIN | EPOLLOUT | EPOLLET;
	else if (libssh2_session_block_directions(s->conn.session) & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		*events = EPOLLIN | EPOLLOUT;
	else
		*events = EPOLLIN;
}

/* A write may have pulled packets into libssh2 that no socket event will announce. */
static bool ssh_buffered(struct transport *t)
{
	struct ssh_transport *s = st(t);

	if (s->err_off < s->err_len)
		return true;
	return s->ch && !s->stuck &&
	       (libssh2_poll_channel_read(s->ch, 0) ||
		libssh2_poll_channel_read(s->ch, SSH_EXTENDED_DATA_STDERR));
}

static const char *ssh_why(struct transport *t)
{
	return st(t)->why;
}

/* Blocking for a bounded time: the status comes with the channel's close. */
static int ssh_exit_status(struct transport *t)
{
	struct ssh_transport *s = st(t);

	if (!s->ch)
		return -1;
	if (!s->exit_asked) {
		s->exit_asked = true;
		libssh2_session_set_blocking(s->conn.session, 1);
		libssh2_session_set_timeout(s->conn.session, CLOSE_WAIT_MS);
		/* libssh2 says 0 when no status came (a signal, a lost session): that is unknown.
		 */
		if (libssh2_channel_close(s->ch) == 0 && libssh2_channel_wait_closed(s->ch) == 0) {
			char *sig = NULL;

			libssh2_channel_get_exit_signal(s->ch, &sig, NULL, NULL, NULL, NULL, NULL);
			if (sig)
				libssh2_free(s->conn.session, sig);
			else
				s->exit_status = libssh2_channel_get_exit_status(s->ch);
		}
		libssh2_session_set_blocking(s->conn.session, 0);
	}
	return s->exit_status;
}

static int ssh_exec(struct transport *t, const char *cmd, char *err, size_t errlen)
{
	struct ssh_transport *s = st(t);
	int r;

	libssh2_session_set_blocking(s->conn.session, 1);
	libssh2_session_set_timeout(s->conn.session, EXEC_TIMEOUT_MS);
	s->ch = libssh2_channel_open_ex(s->conn.session, "session", sizeof("session") - 1,
					s->rx_window, LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
	if (!s->ch) {
		snprintf(err, errlen, "opening an SSH channel failed: %s", last_error(s));
		r = -EIO;
		goto out;
	}
	if (libssh2_channel_exec(s->ch, cmd) != 0) {
		snprintf(err, errlen, "running the bootstrap on the remote failed: %s",
			 last_error(s));
		r = -EIO;
		goto out;
	}
	r = 0;
out:
	libssh2_session_set_blocking(s->conn.session, 0);
	return r;
}

static void ssh_close(struct transport *t)
{
	struct ssh_transport *s = st(t);

	if (s->ch) {
		libssh2_session_set_blocking(s->conn.session, 1);
		libssh2_session_set_timeout(s->conn.session, CLOSE_WAIT_MS);
		libssh2_channel_free(s->ch);
	}
	if (s->conn.session)
		ssh_disconnect(&s->conn, "sluice stopping");
	free(s->err_stage);
	free(s);
}

static const struct transport_ops ssh_ops = {
    .exec = ssh_exec,
    .read = ssh_read,
    .read_stderr = ssh_read_stderr,
    .write = ssh_write,
    .wait_on = ssh_wait_on,
    .buffered = ssh_buffered,
    .why = ssh_why,
    .exit_status = ssh_exit_status,
    .close = ssh_close,
};

int transport_ssh_open(struct transport **out, const struct sshconf *cfg,
		       const char *const *identity, size_t n_identity, const char *known_hosts,
		       uint32_t rx_window, const struct progress *pg, struct ssh_report *report,
		       char *err, size_t errlen)
{
	struct ssh_transport *s = calloc(1, sizeof(*s));
	enum ssh_fail fail = SSH_FAIL_NONE;
	const char *cipher, *mac;
	int r;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->t.ops = &ssh_ops;
	s->t.name = "ssh";
	s->rx_window = rx_window;
	s->exit_status = -1;
	r = ssh_connect(&s->conn, cfg, identity, n_identity, known_hosts, pg, &fail, err, errlen);
	if (r < 0) {
		report->fatal = fail == SSH_FAIL_HOSTKEY_UNKNOWN ||
				fail == SSH_FAIL_HOSTKEY_CHANGED || fail == SSH_FAIL_AUTH;
		report->dropped = fail == SSH_FAIL_DROPPED;
		report->proxy = fail == SSH_FAIL_PROXY;
		free(s);
		return r;
	}
	if (s->conn.peer_len) {
		size_t i;

		memcpy(&s->t.peer[0], &s->conn.peer, sizeof(s->t.peer[0]));
		s->t.n_peer = 1;
		for (i = 0; i < s->conn.n_alt && s->t.n_peer < TRANSPORT_PEERS_MAX; i++)
			s->t.peer[s->t.n_peer++] = s->conn.alt[i];
	}
	setsockopt(s->conn.fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &(int){NOTSENT_LOWAT}, sizeof(int));
	libssh2_session_set_blocking(s->conn.session, 0);
	cipher = libssh2_session_methods(s->conn.session, LIBSSH2_METHOD_CRYPT_SC);
	mac = libssh2_session_methods(s->conn.session, LIBSSH2_METHOD_MAC_SC);
	snprintf(s->t.detail, sizeof(s->t.detail), "cipher %s, MAC %s%s", cipher ? cipher : "?",
		 mac ? mac : "?",
		 cipher && strstr(cipher, "-ctr") && aesctr_contexts() ? ", keystream made in bulk"
								       : "");
	snprintf(report->hostkey, sizeof(report->hostkey), "%s", s->conn.hostkey);
	snprintf(report->auth_used, sizeof(report->auth_used), "%s", s->conn.auth_used);
	report->hostkey_added = s->conn.hostkey_added;
	report->hostkey_add_err = s->conn.hostkey_add_err;
	*out = &s->t;
	return 0;
}
