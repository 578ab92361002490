/*
 * direct: per connection, a control connection to the master: our HELLO and
 * NEW_STDIO_FWD, then the socket passed twice (as the channel's input and
 * output), then the master's answer. We keep a copy of the socket all along:
 * before the answer, so what the master could not take still goes to the
 * fallback; after it, so that when we end it (the session closes) it ends
 * with a reset, as the tunnel's streams do, not with a clean close. The
 * master closes the control connection when the channel is over; then ours
 * is the last copy and closes plainly. Nothing here blocks: a master too
 * busy to take a connection at once (its backlog is full) gets none.
 */
#include "direct.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../common/escape.h"
#include "../../common/fdio.h"
#include "../../common/fdpass.h"
#include "../../common/log.h"
#include "../../common/ratelimit.h"
#include "sshmux.h"

/* What the master keeps for itself: its session, the listener, logs, the helper's channel. */
#define FDS_SPARE 64
/* The kernel's PF_EXITING, as /proc/PID/stat's flags show it (include/linux/sched.h). */
#define PF_EXITING_FLAG 0x4u
/* Refusals before any channel opened that send everything to the fallback for OFF_MS. */
#define OFF_AFTER 3
#define OFF_MS	  60000

struct dconn {
	struct ev_io io; /* the control connection */
	struct direct *d;
	struct dconn *prev, *next;
	int app;	      /* our copy of the application's socket */
	uint32_t rid;	      /* our request's id, which the answer must carry */
	bool hello;	      /* the master's HELLO came */
	bool opened;	      /* the master relays it */
	struct wire_open dst; /* for the log */
	uint8_t in[SSHMUX_MSG_MAX + 4];
	size_t in_len;
};

struct direct {
	struct evloop *loop;
	struct sockaddr_un sun;
	socklen_t sun_len;
	struct dconn *head;
	uint32_t next_rid;
	direct_fallback_fn fallback;
	void *fb_ctx;
	int64_t off_until;   /* the server opened none and refused several: not asked till then */
	unsigned refusals;   /* refused channels while none has opened */
	bool told_off;	     /* that was said once */
	struct dconn *probe; /* while off, the one connection asking the master again */
	int alive_fd;	     /* the command's transport: closed when the master is gone */
	pid_t master_pid;    /* the command's process, or 0 */
	struct direct_stats st;
	struct ratelimit fb_rl;
};

int direct_new(struct direct **out, struct evloop *loop, const char *ctl_path, int alive_fd,
	       pid_t master_pid)
{
	struct rlimit rl;
	struct direct *d;

	if (strlen(ctl_path) >= sizeof(d->sun.sun_path))
		return -ENAMETOOLONG;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->alive_fd = alive_fd;
	d->master_pid = master_pid;
	d->sun.sun_family = AF_UNIX;
	memcpy(d->sun.sun_path, ctl_path, strlen(ctl_path) + 1);
	d->sun_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(ctl_path) + 1);
	d->fb_rl = (struct ratelimit)RATELIMIT_INIT(5, 10000);
	/*
	 * The master inherited our descriptor limit, and holds three per
	 * connection (its control connection and the socket twice). Past
	 * that it could not even accept one, and the connection would hang.
	 */
	d->st.max_active = DIRECT_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 3 < DIRECT_MAX + FDS_SPARE / 3)
		d->st.max_active =
		    rl.rlim_cur > FDS_SPARE ? (size_t)(rl.rlim_cur - FDS_SPARE) / 3 : 0;
	*out = d;
	return 0;
}

void direct_set_fallback(struct direct *d, direct_fallback_fn fn, void *ctx)
{
	d->fallback = fn;
	d->fb_ctx = ctx;
}

/* The master did not take fd: the fallback does (or, with none, the connection is reset). */
static int fall_back(struct direct *d, int fd, const struct wire_open *dst, const char *why)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned dropped;

	d->st.fell_back++;
	if (ratelimit_allow(&d->fb_rl, clock_ms(), &dropped)) {
		inet_ntop(dst->family, dst->addr, addr, sizeof(addr));
		log_debug("--direct: %s port %u goes through the tunnel: %s%s", addr,
			  (unsigned)dst->port, why, dropped ? " (more not logged)" : "");
	}
	if (d->fallback)
		return d->fallback(d->fb_ctx, fd, dst);
	fd_reset_close(fd);
	return -ECONNRESET;
}

enum dconn_end {
	END_CLOSE,    /* the channel is over: close our copy plainly */
	END_RESET,    /* cut it off: the last close sends a reset */
	END_FALLBACK, /* the master said no before reading any of it: the fallback takes it */
};

static void dconn_free(struct dconn *c, enum dconn_end how, const char *why)
{
	struct direct *d = c->d;

	evloop_del(d->loop, &c->io);
	close(c->io.fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->st.active--;
	if (d->probe == c)
		d->probe = NULL;
	if (how == END_FALLBACK) {
		/* The listener counts those it could not hand over; this one is ours to count. */
		int ret = fall_back(d, c->app, &c->dst, why);

		if (ret < 0) {
			d->st.lost++;
			d->st.lost_err = -ret;
		}
	} else if (how == END_RESET)
		/* SO_LINGER is the socket's: if the master's copies close last, they reset. */
		fd_reset_close(c->app);
	else
		close(c->app);
	free(c);
}

/*
 * A refused channel. Once one has opened, the server forwards: a refusal
 * is the destination's, and the connection is reset, as the tunnel would.
 * Before that it may be the server's policy (AllowTcpForwarding no), so the
 * fallback takes it; after a few, the master is not asked for a while.
 * Returns true when the fallback should take it.
 */
static bool note_refusal(struct direct *d)
{
	d->st.refused++;
	if (d->st.opened)
		return false;
	/* A few at first, to be sure; after that, one refused probe is enough. */
	if (d->told_off || ++d->refusals >= OFF_AFTER) {
		d->off_until = clock_ms() + OFF_MS;
		if (!d->told_off)
			log_warn(
			    "--direct: the SSH server refused %u channels and opened none (is "
			    "AllowTcpForwarding off there?); connections go through the tunnel, "
			    "and ssh is asked with one of them every %d s",
			    d->refusals, OFF_MS / 1000);
		d->told_off = true;
	}
	return true;
}

/*
 * Whether the master is gone or on its way out. An exiting process releases
 * its descriptors in no order we can rely on, so a control connection may
 * close before its stdio does: the kernel's "exiting" flag on the process,
 * set before any is released, is the sure sign; the stdio closing covers a
 * command that is not ssh itself (a wrapper that ssh outlives, or the like).
 */
static bool master_gone(const struct direct *d)
{
	struct pollfd pfd = {.fd = d->alive_fd, .events = POLLRDHUP};
	char path[32], buf[512], state;
	const char *p;
	unsigned flags;
	ssize_t n;
	int fd;

	if (d->alive_fd >= 0 && poll(&pfd, 1, 0) == 1 &&
	    (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		return true;
	if (d->master_pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)d->master_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	/* pid (comm) state ppid pgrp session tty_nr tpgid flags: comm may hold anything. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2)
		return false;
	return state == 'Z' || state == 'X' || (flags & PF_EXITING_FLAG);
}

/* The master's reason, as text safe for a terminal. */
static const char *why_text(const char *in, char *out, size_t len)
{
	escape_text(out, len, in, strlen(in), false);
	return out;
}

/* Returns false when c was freed. */
static bool dconn_handle(struct dconn *c, const struct sshmux_msg *m)
{
	char why[SSHMUX_WHY_MAX * 4];

	switch (m->kind) {
	case SSHMUX_HELLO:
		c->hello = true;
		return true;
	case SSHMUX_OPENED:
		if (!c->hello || c->opened || m->rid != c->rid)
			break;
		c->opened = true;
		c->d->st.opened++;
		c->d->off_until = 0; /* the server forwards after all */
		if (c->d->probe == c)
			c->d->probe = NULL;
		return true;
	case SSHMUX_REFUSED:
		if (!c->hello || c->opened || m->rid != c->rid)
			break;
		log_debug("--direct: a channel was refused (%s)",
			  why_text(m->why, why, sizeof(why)));
		dconn_free(c, note_refusal(c->d) ? END_FALLBACK : END_RESET,
			   "the channel was refused");
		return false;
	case SSHMUX_OTHER:
		return true;
	}
	/* Whether the master relays it now is unknown: a second relay could mix its bytes. */
	log_debug("--direct: the ControlMaster answered out of turn; resetting that connection");
	dconn_free(c, END_RESET, NULL);
	return false;
}

static void on_ctl(struct ev_io *io, uint32_t events)
{
	struct dconn *c = (struct dconn *)io;
	struct sshmux_msg m;
	ssize_t n;
	int r;

	for (;;) {
		n = recv(io->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/*
			 * After the answer: the channel is over, or the master is gone (and
			 * the session with it: a reset, as the tunnel's streams get). Before
			 * it, the master may have relayed some of it: reset.
			 */
			dconn_free(c, c->opened && !master_gone(c->d) ? END_CLOSE : END_RESET,
				   NULL);
			return;
		}
		c->in_len += (size_t)n;
		while ((r = sshmux_parse(c->in, c->in_len, &m)) > 0) {
			if (!dconn_handle(c, &m))
				return;
			memmove(c->in, c->in + r, c->in_len - (size_t)r);
			c->in_len -= (size_t)r;
		}
		if (r < 0) {
			log_debug("--direct: the ControlMaster sent what we cannot read; resetting "
				  "that connection");
			dconn_free(c, END_RESET, NULL);
			return;
		}
	}
}

/* One byte carrying fd, as OpenSSH's mm_send_fd sends it. */
static int send_fd(int sock, int fd)
{
	char byte = 0;
	ssize_t n;

	do
		n = fdpass_send(sock, &byte, 1, &fd, 1, MSG_NOSIGNAL);
	while (n == -EINTR);
	return n == 1 ? 0 : n < 0 ? (int)n : -EIO;
}

static int ctl_connect(const struct direct *d)
{
	int fd, ret;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&d->sun, d->sun_len) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int direct_open(struct direct *d, int fd, const struct wire_open *dst)
{
	char host[INET6_ADDRSTRLEN];
	uint8_t msg[128];
	struct dconn *c = NULL;
	const char *why;
	int len, ctl = -1, ret;
	ssize_t n;

	why = "the server has been refusing channels";
	if ((d->off_until && clock_ms() < d->off_until) || d->probe)
		goto fail;
	why = "the ControlMaster holds all it can";
	if (d->st.active >= d->st.max_active)
		goto fail;
	why = "the request could not be made";
	if (!inet_ntop(dst->family, dst->addr, host, sizeof(host)) ||
	    (len = sshmux_put_open(msg, sizeof(msg), d->next_rid, host, dst->port)) < 0 ||
	    !(c = calloc(1, sizeof(*c))))
		goto fail;
	/* EAGAIN: its backlog is full, so it is busy; anything else: it is gone. */
	if ((ctl = ctl_connect(d)) < 0) {
		why = ctl == -EAGAIN ? "the ControlMaster is busy"
				     : "the ControlMaster does not answer";
		goto fail;
	}
	/* A new control connection's buffer is empty: none of these can block. */
	why = "the ControlMaster's socket failed";
	n = send(ctl, msg, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != len || send_fd(ctl, fd) < 0 || send_fd(ctl, fd) < 0)
		goto fail;
	c->io.fd = ctl;
	c->io.cb = on_ctl;
	c->d = d;
	c->app = fd;
	c->rid = d->next_rid++;
	c->dst = *dst;
	ret = evloop_add(d->loop, &c->io, EPOLLIN);
	if (ret < 0) {
		/* The master has the socket already: two relays on it would mix its bytes. */
		close(ctl);
		free(c);
		fd_reset_close(fd);
		return ret;
	}
	c->next = d->head;
	if (d->head)
		d->head->prev = c;
	d->head = c;
	d->st.active++;
	if (d->told_off && !d->st.opened)
		d->probe = c;
	return 0;
fail:
	if (ctl >= 0)
		close(ctl);
	free(c);
	return fall_back(d, fd, dst, why);
}

void direct_get_stats(const struct direct *d, struct direct_stats *st)
{
	*st = d->st;
}

void direct_free(struct direct *d)
{
	if (!d)
		return;
	while (d->head)
		dconn_free(d->head, END_RESET, NULL);
	free(d);
}
