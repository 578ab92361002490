/*
 * dnsfwd: one connected UDP socket per outstanding query, so answers can
 * only come from the resolver that was asked, and at most DNSFWD_MAX of
 * them at a time.
 */
#include "dnsfwd.h"

#include "../common/sockaddr.h"
#include "../common/wire.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DNSFWD_MAX     256
#define DNSFWD_TIMEOUT 5 /* seconds */

struct query {
	struct ev_io io;
	struct dnsfwd *d;
	uint32_t id;
	time_t sent;
	struct query *next, *prev;
};

struct dnsfwd {
	struct evloop *loop;
	dnsfwd_reply_fn reply;
	void *ctx;
	struct query *head;
	size_t count;
};

static void query_free(struct query *q)
{
	struct dnsfwd *d = q->d;

	if (q->prev)
		q->prev->next = q->next;
	else
		d->head = q->next;
	if (q->next)
		q->next->prev = q->prev;
	evloop_del(d->loop, &q->io);
	close(q->io.fd);
	d->count--;
	free(q);
}

static void on_answer(struct ev_io *io, uint32_t events)
{
	struct query *q = (struct query *)io;
	static uint8_t buf[65536];
	ssize_t n = recv(io->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* An error (e.g. ICMP port unreachable) is an answer too: there will be no other. */
	q->d->reply(q->d->ctx, q->id, buf, n >= 12 ? (size_t)n : 0);
	query_free(q);
}

struct dnsfwd *dnsfwd_new(struct evloop *loop, dnsfwd_reply_fn reply, void *ctx)
{
	struct dnsfwd *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->loop = loop;
	d->reply = reply;
	d->ctx = ctx;
	return d;
}

void dnsfwd_free(struct dnsfwd *d)
{
	if (!d)
		return;
	while (d->head)
		query_free(d->head);
	free(d);
}

void dnsfwd_query(struct dnsfwd *d, const struct sockaddr_storage *resolver, uint32_t id,
		  const uint8_t *msg, size_t len)
{
	socklen_t alen = sa_len(resolver);
	struct query *q = NULL;
	int fd = -1;

	/* A tampered client gets the same limits the client keeps for itself. */
	if (d->count >= DNSFWD_MAX || !alen || len > WIRE_DNS_UDP_MAX)
		goto fail;
	fd = socket(resolver->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (connect(fd, (const struct sockaddr *)resolver, alen) < 0 || send(fd, msg, len, 0) < 0)
		goto fail;
	q = calloc(1, sizeof(*q));
	if (!q)
		goto fail;
	q->io.fd = fd;
	q->io.cb = on_answer;
	q->d = d;
	q->id = id;
	q->sent = time(NULL);
	if (evloop_add(d->loop, &q->io, EPOLLIN) < 0)
		goto fail;
	q->next = d->head;
	if (d->head)
		d->head->prev = q;
	d->head = q;
	d->count++;
	return;
fail:
	free(q);
	if (fd >= 0)
		close(fd);
	d->reply(d->ctx, id, NULL, 0);
}

void dnsfwd_expire(struct dnsfwd *d)
{
	struct query *q, *next;
	time_t now = time(NULL);

	for (q = d->head; q; q = next) {
		next = q->next;
		if (now - q->sent >= DNSFWD_TIMEOUT) {
			d->reply(d->ctx, q->id, NULL, 0);
			query_free(q);
		}
	}
}
