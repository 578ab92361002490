/*
 * evloop: a thin epoll wrapper. Each ready fd costs one callback; nothing
 * scans the set of connections.
 */
#include "evloop.h"

#include <errno.h>
#include <unistd.h>

#define EV_BATCH 256

int evloop_init(struct evloop *l)
{
	l->woke = NULL;
	l->woke_arg = NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void evloop_close(struct evloop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

int evloop_add(struct evloop *l, struct ev_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0 ? -errno : 0;
}

int evloop_mod(struct evloop *l, struct ev_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0 ? -errno : 0;
}

void evloop_del(struct evloop *l, struct ev_io *io)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void evloop_on_wake(struct evloop *l, void (*cb)(void *arg), void *arg)
{
	l->woke = cb;
	l->woke_arg = arg;
}

int evloop_run_once(struct evloop *l, int timeout_ms)
{
	struct epoll_event evs[EV_BATCH];
	int n, i;

	n = epoll_wait(l->epfd, evs, EV_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (l->woke)
		l->woke(l->woke_arg);
	for (i = 0; i < n; i++) {
		struct ev_io *io = evs[i].data.ptr;
		io->cb(io, evs[i].events);
	}
	return n;
}
