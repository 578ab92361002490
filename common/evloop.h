/*
 * evloop: one epoll instance per process. Objects embed a struct ev_io and
 * get a callback with the ready events; the owner runs the loop and does its
 * batch work (flushing the tunnel) after each round of callbacks.
 */
#ifndef SLUICE_EVLOOP_H
#define SLUICE_EVLOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct ev_io;
typedef void (*ev_cb)(struct ev_io *io, uint32_t events);

struct ev_io {
	int fd;
	ev_cb cb;
};

struct evloop {
	int epfd;
	void (*woke)(void *arg); /* evloop_on_wake */
	void *woke_arg;
};

int evloop_init(struct evloop *l);
void evloop_close(struct evloop *l);
/* Returns 0 or -errno. */
int evloop_add(struct evloop *l, struct ev_io *io, uint32_t events);
int evloop_mod(struct evloop *l, struct ev_io *io, uint32_t events);
void evloop_del(struct evloop *l, struct ev_io *io);
/* Wait up to timeout_ms and dispatch. Returns the number of events, or -errno (never -EINTR). */
int evloop_run_once(struct evloop *l, int timeout_ms);
/*
 * cb(arg) each time the wait returns, before any callback: the owner's
 * look at what happened while it waited (it may have been stopped there).
 */
void evloop_on_wake(struct evloop *l, void (*cb)(void *arg), void *arg);

#endif
