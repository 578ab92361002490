/*
 * tunnel: pumps the mux through the libssh2 channel. libssh2 is in
 * non-blocking mode: after LIBSSH2_ERROR_EAGAIN the same write is repeated
 * with the same bytes, and the socket is watched in the directions
 * libssh2_session_block_directions() names, so nothing busy-loops.
 */
#include "tunnel.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../common/log.h"

#define PUMP_ROUNDS 32
/* Few reads between writes: credit (WINDOW frames) goes back while data still flows. */
#define READS_PER_ROUND	     2
#define WRITES_PER_ROUND     64
#define PING_SEC	     10
#define TUNNEL_NOTSENT_LOWAT (128 << 10)
#define STALL_SEC	     45

static void tunnel_fail(struct tunnel *t, int err, const char *fmt, ...)
{
	va_list ap;

	if (t->failed)
		return;
	t->failed = err;
	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
}

static const char *ssh_error(struct tunnel *t)
{
	char *m = NULL;

	libssh2_session_last_error(t->sess, &m, NULL, 0);
	return m ? m : "unknown error";
}

static void on_ssh(struct ev_io *io, uint32_t events)
{
	/* Work happens in tunnel_pump after the round of callbacks. */
}

int tunnel_init(struct tunnel *t, LIBSSH2_SESSION *sess, LIBSSH2_CHANNEL *ch, int fd,
		struct evloop *loop, struct mux *mux)
{
	memset(t, 0, sizeof(*t));
	t->sess = sess;
	t->ch = ch;
	t->loop = loop;
	t->mux = mux;
	t->io.fd = fd;
	t->io.cb = on_ssh;
	t->watched = EPOLLIN;
	clock_gettime(CLOCK_MONOTONIC, &t->last_rx);
	/* The first tick pings at once: the round trip sizes a lone stream's credit. */
	t->last_ping = t->last_rx;
	t->last_ping.tv_sec -= PING_SEC;
	t->last_tx = t->last_rx;
	/*
	 * Keep unsent bytes in the kernel short: what waits in our own buffer
	 * can still be scheduled fairly, what waits in the socket cannot.
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &(int){TUNNEL_NOTSENT_LOWAT}, sizeof(int));
	libssh2_session_set_blocking(sess, 0);
	return evloop_add(loop, &t->io, t->watched);
}

/* The helper's stderr: one log line per line, shown with -v. */
static void tunnel_stderr(struct tunnel *t, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n' || t->errlen == sizeof(t->errbuf) - 1) {
			t->errbuf[t->errlen] = '\0';
			if (t->errlen)
				log_debug("remote: %s", t->errbuf);
			t->errlen = 0;
			if (p[i] == '\n')
				continue;
		}
		t->errbuf[t->errlen++] = p[i];
	}
}

/*
 * libssh2 1.10 keeps one half-sent packet per session, and a different call
 * that needs to send meanwhile (a read's window adjust, a write's data)
 * fails instead of waiting. So once a call returns EAGAIN with outbound
 * blocked, only that same call may come next, until it completes.
 */
static void note_eagain(struct tunnel *t, int op)
{
	/* Without outbound blocked, the call finished whatever it had half sent (if anything). */
	t->stuck = libssh2_session_block_directions(t->sess) & LIBSSH2_SESSION_BLOCK_OUTBOUND
		       ? op
		       : TUNNEL_STUCK_NONE;
}

static int tunnel_read(struct tunnel *t)
{
	char ebuf[1024];
	int i, ret, progress = 0;
	ssize_t n;

	if (t->stuck == TUNNEL_STUCK_WRITE)
		return 0;
	/*
	 * stderr first: reading it runs libssh2's transport and may queue
	 * stdout packets from the socket. Reading stdout last, until EAGAIN,
	 * leaves nothing queued inside libssh2 that no socket event would
	 * announce.
	 */
	while ((n = libssh2_channel_read_ex(t->ch, SSH_EXTENDED_DATA_STDERR, ebuf, sizeof(ebuf))) >
	       0)
		tunnel_stderr(t, ebuf, (size_t)n);
	if (n == LIBSSH2_ERROR_EAGAIN) {
		note_eagain(t, TUNNEL_STUCK_READ);
		if (t->stuck == TUNNEL_STUCK_READ)
			return 0;
	}
	t->stuck = TUNNEL_STUCK_NONE;
	for (i = 0; i < READS_PER_ROUND; i++) {
		size_t len;
		uint8_t *p = mux_in_space(t->mux, &len);
		n = libssh2_channel_read_ex(t->ch, 0, (char *)p, len);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			note_eagain(t, TUNNEL_STUCK_READ);
			break;
		}
		if (n < 0) {
			tunnel_fail(t, -EIO, "reading from the SSH channel: %s", ssh_error(t));
			return -1;
		}
		if (n == 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t->last_rx);
		progress = 1;
		ret = mux_in_commit(t->mux, (size_t)n);
		if (ret == -ENOBUFS) {
			tunnel_fail(t, ret,
				    "the remote helper stopped reading: control queue full");
			return -1;
		}
		if (ret < 0) {
			tunnel_fail(t, ret, "protocol error from the remote helper (%s)",
				    strerror(-ret));
			return -1;
		}
	}
	if (libssh2_channel_eof(t->ch)) {
		/* Keep the helper's last words: they usually say why it stopped. */
		t->errbuf[t->errlen] = '\0';
		tunnel_fail(t, -EPIPE, "the remote helper exited%s%s", t->errlen ? ": " : "",
			    t->errbuf);
		return -1;
	}
	return progress;
}

static int tunnel_write(struct tunnel *t)
{
	int i, progress = 0;
	ssize_t n;

	if (t->stuck == TUNNEL_STUCK_READ)
		return 0;
	for (i = 0; i < WRITES_PER_ROUND; i++) {
		size_t len;
		const uint8_t *p;

		if (!t->pending)
			mux_fill(t->mux);
		p = mux_out_peek(t->mux, &len);
		if (t->pending)
			len = t->pending_len;
		if (len == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t->last_tx);
			break;
		}
		n = libssh2_channel_write_ex(t->ch, 0, (const char *)p, len);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			t->pending = true;
			t->pending_len = len;
			mux_out_pin(t->mux, true);
			note_eagain(t, TUNNEL_STUCK_WRITE);
			break;
		}
		if (n < 0) {
			tunnel_fail(t, -EIO, "writing to the SSH channel: %s", ssh_error(t));
			return -1;
		}
		t->pending = false;
		t->stuck = TUNNEL_STUCK_NONE;
		clock_gettime(CLOCK_MONOTONIC, &t->last_tx);
		mux_out_pin(t->mux, false);
		mux_out_consume(t->mux, (size_t)n);
		progress = 1;
	}
	return progress;
}

void tunnel_pump(struct tunnel *t)
{
	int round, r, w, r2;
	uint32_t want;

	t->more = false;
	for (round = 0; round < PUMP_ROUNDS && !t->failed; round++) {
		r = tunnel_read(t);
		w = tunnel_write(t);
		/* A write may have pulled packets into libssh2 that no socket event will announce.
		 */
		r2 = tunnel_read(t);
		if (r < 0 || w < 0 || r2 < 0)
			return;
		if (!r && !w && !r2)
			break;
	}
	if (round == PUMP_ROUNDS)
		t->more = true;
	/*
	 * With a packet stuck, bytes already waiting would wake us level-
	 * triggered for a read we may not make, over and over: watch edges
	 * then. A new arrival still wakes us to retry the stuck call early.
	 */
	if (t->stuck)
		want = EPOLLIN | EPOLLOUT | EPOLLET;
	else if (libssh2_session_block_directions(t->sess) & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		want = EPOLLIN | EPOLLOUT;
	else
		want = EPOLLIN;
	if (want != t->watched && evloop_mod(t->loop, &t->io, want) == 0)
		t->watched = want;
}

static double since(const struct timespec *a, const struct timespec *now)
{
	return (double)(now->tv_sec - a->tv_sec) + (double)(now->tv_nsec - a->tv_nsec) / 1e9;
}

void tunnel_tick(struct tunnel *t)
{
	struct timespec now;
	uint8_t opaque[8];

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (since(&t->last_rx, &now) > STALL_SEC) {
		tunnel_fail(t, -ETIMEDOUT,
			    "nothing from the remote helper for %d s: the SSH session has stalled",
			    STALL_SEC);
		return;
	}
	/* Reads alone can look healthy while writes are stuck (a rekey gone wrong, a full peer). */
	if (since(&t->last_tx, &now) > STALL_SEC) {
		tunnel_fail(t, -ETIMEDOUT,
			    "the SSH session has accepted nothing for %d s: it has stalled",
			    STALL_SEC);
		return;
	}
	if (since(&t->last_ping, &now) >= PING_SEC) {
		uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;

		memcpy(opaque, &ms, sizeof(opaque));
		if (mux_ping(t->mux, opaque) < 0)
			tunnel_fail(t, -ENOBUFS, "the SSH channel is not draining");
		t->last_ping = now;
	}
}

int tunnel_rtt_ms(const uint8_t opaque[8])
{
	struct timespec now;
	uint64_t sent, ms;

	memcpy(&sent, opaque, sizeof(sent));
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	/* The helper only echoes these bytes, but nothing from it is trusted. */
	if (sent > ms || ms - sent > 60000)
		return -EINVAL;
	return (int)(ms - sent);
}

int tunnel_timeout_ms(const struct tunnel *t)
{
	return t->more ? 0 : 1000;
}
