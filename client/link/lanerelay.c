/*
 * lanerelay: a lane worker's relay between the parent and the transport
 * (see lanerelay.h).
 */
#include "lanerelay.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../common/log.h"

/* Each way holds one buffer: it is refilled only once empty, so a retry offers the same bytes. */
#define RELAY_BUF (256u << 10)
#define ERR_BUF	  4096
#define ROUNDS	  64
/* A wake-up now and then, should an edge the transport asked for go missing. */
#define IDLE_MS 1000
/*
 * Once the stream ended, the stderr still passed on, at most: ssh says why
 * it ended (and the helper's last words may arrive) after its stdout
 * closed, and the parent shows the last line as the lane's reason.
 */
#define DRAIN_MS  500
#define DRAIN_MAX (64u << 10)

struct buf {
	uint8_t *p;
	size_t off, len;
};

struct relay {
	struct transport *t;
	int sock, err;
	int ep;
	struct buf up, down, ebuf; /* to the transport, to the parent, stderr to the parent */
	bool sock_end;		   /* the parent closed its end */
	bool tr_end;		   /* the transport's stream ended */
	bool tr_err_end;	   /* its stderr ended */
	bool err_dead;		   /* the parent's stderr pipe is gone: stderr is dropped */
	int failed;		   /* the transport failed: -errno */
	int tr_fd[2];		   /* what is registered for the transport, -1 none */
	int err_fd;		   /* err while registered, else -1 */
	uint32_t tr_ev, tr_err_ev, sock_ev, err_ev;
};

static int watch(struct relay *r, int fd, uint32_t *cur, uint32_t want, bool added)
{
	struct epoll_event ev = {.events = want, .data.fd = fd};

	if (added && *cur == want)
		return 0;
	if (epoll_ctl(r->ep, added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	*cur = want;
	return 0;
}

static void unwatch(struct relay *r, int *fd)
{
	if (*fd >= 0)
		epoll_ctl(r->ep, EPOLL_CTL_DEL, *fd, NULL);
	*fd = -1;
}

/* The helper's stderr, into the pipe as far as it takes it; dropped once the pipe is gone. */
static int move_stderr(struct relay *r)
{
	int moved = 0;
	ssize_t n;

	if (r->ebuf.len == 0 && !r->tr_err_end) {
		n = transport_read_stderr(r->t, r->ebuf.p, ERR_BUF);
		if (n > 0) {
			r->ebuf.off = 0;
			r->ebuf.len = (size_t)n;
			moved = 1;
		} else if (n == 0) {
			r->tr_err_end = true;
		} else if (n != -EAGAIN) {
			r->failed = (int)n;
			return -1;
		}
	}
	if (r->ebuf.len && !r->err_dead) {
		n = write(r->err, r->ebuf.p + r->ebuf.off, r->ebuf.len);
		if (n > 0) {
			r->ebuf.off += (size_t)n;
			r->ebuf.len -= (size_t)n;
			moved = 1;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			r->err_dead = true;
		}
	}
	if (r->err_dead)
		r->ebuf.len = 0;
	return moved;
}

/* From the transport to the parent. */
static int move_down(struct relay *r)
{
	int moved = 0;
	ssize_t n;

	if (r->down.len == 0 && !r->tr_end) {
		n = transport_read(r->t, r->down.p, RELAY_BUF);
		if (n > 0) {
			r->down.off = 0;
			r->down.len = (size_t)n;
			moved = 1;
		} else if (n == 0) {
			r->tr_end = true;
		} else if (n != -EAGAIN) {
			r->failed = (int)n;
			return -1;
		}
	}
	if (r->down.len) {
		n = send(r->sock, r->down.p + r->down.off, r->down.len,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			r->down.off += (size_t)n;
			r->down.len -= (size_t)n;
			moved = 1;
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			r->sock_end = true; /* the parent is gone: nobody reads the rest */
			return -1;
		}
	}
	return moved;
}

/* From the parent to the transport: after -EAGAIN the same bytes, untouched, go again. */
static int move_up(struct relay *r)
{
	int moved = 0;
	ssize_t n;

	if (r->up.len == 0 && !r->sock_end) {
		n = recv(r->sock, r->up.p, RELAY_BUF, MSG_DONTWAIT);
		if (n > 0) {
			r->up.off = 0;
			r->up.len = (size_t)n;
			moved = 1;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			r->sock_end = true;
			return -1;
		}
	}
	/* Not to a transport that ended: its write error would take the place of the reason. */
	if (r->up.len && !r->tr_end) {
		n = transport_write(r->t, r->up.p + r->up.off, r->up.len);
		if (n > 0) {
			r->up.off += (size_t)n;
			r->up.len -= (size_t)n;
			moved = 1;
		} else if (n != -EAGAIN) {
			r->failed = n < 0 ? (int)n : -EIO;
			return -1;
		}
	}
	return moved;
}

/* Move until nothing moves. Returns -1 once a side ended. */
static int pump(struct relay *r)
{
	int i, e, d, u;

	for (i = 0; i < ROUNDS; i++) {
		/* stderr first: reading it may run the transport and queue stdout inside it. */
		e = move_stderr(r);
		d = move_down(r);
		u = move_up(r);
		if (e < 0 || d < 0 || u < 0 || (r->tr_end && r->down.len == 0))
			return -1;
		if (!e && !d && !u)
			break;
	}
	return i == ROUNDS ? 1 : 0;
}

/* Watch what the state asks for. */
static int rearm(struct relay *r)
{
	uint32_t want, sock_want = 0, err_want = 0;
	int fd[2], ret;

	transport_wait_on(r->t, fd, &want);
	/*
	 * With a buffer for the parent still full, more from the transport has
	 * nowhere to go: its readiness would only spin us. A write waiting on
	 * it still needs to hear of it, once per change (edge-triggered), and
	 * so does a hangup, which no event mask turns off.
	 */
	if (r->down.len) {
		if (!r->up.len)
			want &= ~(uint32_t)EPOLLIN;
		want |= EPOLLET;
	}
	if (fd[0] != r->tr_fd[0]) {
		unwatch(r, &r->tr_fd[0]);
		ret = watch(r, fd[0], &r->tr_ev, want, false);
		if (ret < 0)
			return ret;
		r->tr_fd[0] = fd[0];
	} else if ((ret = watch(r, fd[0], &r->tr_ev, want, true)) < 0) {
		return ret;
	}
	/* A stderr that ended would wake us for ever. */
	if (r->tr_err_end)
		fd[1] = -1;
	/* Likewise its stderr while the parent's pipe holds the last of it. */
	want = EPOLLIN | (r->ebuf.len ? EPOLLET : 0);
	if (fd[1] != r->tr_fd[1]) {
		unwatch(r, &r->tr_fd[1]);
		if (fd[1] >= 0 && (ret = watch(r, fd[1], &r->tr_err_ev, want, false)) < 0)
			return ret;
		r->tr_fd[1] = fd[1];
	} else if (fd[1] >= 0 && (ret = watch(r, fd[1], &r->tr_err_ev, want, true)) < 0) {
		return ret;
	}
	if (r->up.len == 0)
		sock_want |= EPOLLIN;
	if (r->down.len)
		sock_want |= EPOLLOUT;
	ret = watch(r, r->sock, &r->sock_ev, sock_want, true);
	if (ret < 0)
		return ret;
	/* A pipe the parent closed would report its error for ever. */
	if (r->err_dead) {
		unwatch(r, &r->err_fd);
		return 0;
	}
	if (r->ebuf.len)
		err_want = EPOLLOUT;
	return watch(r, r->err, &r->err_ev, err_want, true);
}

/*
 * The transport's stderr to its end, into the parent's pipe, within
 * DRAIN_MS and DRAIN_MAX, waiting for either side as it must; what is
 * left in ebuf goes first.
 */
static void drain_stderr(struct relay *r)
{
	int64_t end = clock_ms() + DRAIN_MS;
	size_t took = 0;
	struct pollfd p;
	uint32_t events;
	int fd[2], ms;
	ssize_t n;

	while (!r->err_dead) {
		if (r->ebuf.len == 0) {
			if (r->tr_err_end || took >= DRAIN_MAX)
				return;
			n = transport_read_stderr(r->t, r->ebuf.p, ERR_BUF);
			if (n == 0)
				r->tr_err_end = true;
			if (n == 0 || (n < 0 && n != -EAGAIN))
				return;
			if (n > 0) {
				r->ebuf.off = 0;
				r->ebuf.len = (size_t)n;
				took += (size_t)n;
			}
		}
		if (r->ebuf.len) {
			n = write(r->err, r->ebuf.p + r->ebuf.off, r->ebuf.len);
			if (n > 0) {
				r->ebuf.off += (size_t)n;
				r->ebuf.len -= (size_t)n;
				continue;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				r->err_dead = true;
				return;
			}
			p = (struct pollfd){.fd = r->err, .events = POLLOUT};
		} else {
			transport_wait_on(r->t, fd, &events);
			/* Without a descriptor of its own, stderr came in the stream, before its
			 * end. */
			if (fd[1] < 0)
				return;
			p = (struct pollfd){.fd = fd[1], .events = POLLIN};
		}
		ms = (int)(end - clock_ms());
		if (ms <= 0 || (poll(&p, 1, ms) < 0 && errno != EINTR))
			return;
	}
}

/* The transport's end: the helper's last words and exit status, or why it failed, then out. */
static int finish(struct relay *r)
{
	char line[320];
	int status;

	/* Lines the helper or ssh wrote as it ended: what the parent shows as the reason. */
	drain_stderr(r);
	if (r->failed) {
		snprintf(line, sizeof(line), "\n%s\n", transport_why(r->t));
		if (!r->err_dead && write(r->err, line, strlen(line)) < 0)
			r->err_dead = true;
		return LANERELAY_NO_STATUS;
	}
	status = transport_exit_status(r->t);
	return status >= 0 && status < LANERELAY_NO_STATUS ? status : LANERELAY_NO_STATUS;
}

int lanerelay_run(struct transport *t, int sock, int err)
{
	static uint8_t up[RELAY_BUF], down[RELAY_BUF], ebuf[ERR_BUF];
	struct epoll_event evs[8];
	struct relay r = {
	    .t = t,
	    .sock = sock,
	    .err = err,
	    .up = {.p = up},
	    .down = {.p = down},
	    .ebuf = {.p = ebuf},
	    .tr_fd = {-1, -1},
	    .err_fd = err,
	};
	int ret, more, timeout, n, i;

	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (r.ep < 0 || watch(&r, sock, &r.sock_ev, EPOLLIN, false) < 0 ||
	    watch(&r, err, &r.err_ev, 0, false) < 0) {
		log_warn("the lane's worker: epoll: %s", strerror(errno));
		return LANERELAY_NO_STATUS;
	}
	for (;;) {
		more = pump(&r);
		if (more < 0)
			break;
		ret = rearm(&r);
		if (ret < 0) {
			log_warn("the lane's worker: epoll: %s", strerror(-ret));
			return LANERELAY_NO_STATUS;
		}
		timeout = IDLE_MS;
		/* Bytes the transport holds that no event announces, with room for them. */
		if (more || (!r.down.len && transport_buffered(t)))
			timeout = 0;
		n = epoll_wait(r.ep, evs, 8, timeout);
		if (n < 0 && errno != EINTR) {
			log_warn("the lane's worker: epoll: %s", strerror(errno));
			return LANERELAY_NO_STATUS;
		}
		for (i = 0; i < n; i++) {
			if (!(evs[i].events & (EPOLLERR | EPOLLHUP)))
				continue;
			if (evs[i].data.fd == err)
				r.err_dead = true;
			/*
			 * The parent closed the lane: with a write to the transport
			 * pending, the socket is not read, and its hangup would
			 * wake us for ever.
			 */
			if (evs[i].data.fd == sock)
				r.sock_end = true;
		}
		if (r.sock_end)
			break;
	}
	if (r.sock_end)
		return 0; /* the parent closed the lane: nobody asks how */
	return finish(&r);
}
