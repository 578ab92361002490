/*
 * transport: the blocking helpers every backend shares, built on its
 * non-blocking ops and poll(), for the bootstrap phase.
 */
#include "transport.h"

#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>

#include "../../common/clock.h"

/* Wait until the backend's descriptor is ready or the deadline passes. */
static int wait_ready(struct transport *t, int64_t deadline)
{
	struct pollfd p[2];
	uint32_t ev;
	int fd[2], r, n = 1;
	int64_t left;

	left = deadline - clock_ms();
	if (left <= 0)
		return -ETIMEDOUT;
	/*
	 * Bytes held for the other stream (stderr while we want stdout) keep
	 * "buffered" true without anything to read here: wait a little then,
	 * never not at all, and never past the deadline.
	 */
	if (transport_buffered(t) && left > 1)
		left = 1;
	transport_wait_on(t, fd, &ev);
	p[0].fd = fd[0];
	p[0].events = (short)((ev & EPOLLIN ? POLLIN : 0) | (ev & EPOLLOUT ? POLLOUT : 0));
	if (fd[1] >= 0) {
		/* stderr wakes us too: a command that fails says so there, then exits. */
		p[1].fd = fd[1];
		p[1].events = POLLIN;
		n = 2;
	}
	r = poll(p, (nfds_t)n, left > 60000 ? 60000 : (int)left);
	if (r < 0 && errno != EINTR)
		return -errno;
	return 0;
}

static ssize_t read_wait(struct transport *t, bool err, void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = clock_ms() + timeout_ms;

	for (;;) {
		ssize_t n = err ? transport_read_stderr(t, buf, len) : transport_read(t, buf, len);
		int r;

		if (n != -EAGAIN)
			return n;
		r = wait_ready(t, deadline);
		if (r < 0)
			return r;
	}
}

ssize_t transport_read_wait(struct transport *t, void *buf, size_t len, int timeout_ms)
{
	return read_wait(t, false, buf, len, timeout_ms);
}

ssize_t transport_read_stderr_wait(struct transport *t, void *buf, size_t len, int timeout_ms)
{
	return read_wait(t, true, buf, len, timeout_ms);
}

int transport_write_all(struct transport *t, const void *buf, size_t len, int timeout_ms)
{
	const uint8_t *p = buf;
	int64_t deadline = clock_ms() + timeout_ms;

	while (len > 0) {
		ssize_t n = transport_write(t, p, len);
		int r;

		if (n == -EAGAIN) {
			r = wait_ready(t, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return (int)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
