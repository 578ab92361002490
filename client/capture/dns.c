/*
 * dns: UDP DNS relay. A fixed table of outstanding queries bounds memory,
 * and the in-flight budget bounds what DNS may put into the tunnel.
 */
#include "dns.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../common/bindset.h"
#include "../../common/clock.h"
#include "../../common/log.h"
#include "../../common/sockaddr.h"
#include "../../common/wire.h"

#define DNS_TIMEOUT_MS 10000

int dns_open(struct dns_proxy *d, bool v4, bool v6)
{
	struct sockaddr_storage ss[2];
	struct in_addr lo4 = {htonl(INADDR_LOOPBACK)};
	int fds[BINDSET_MAX], ret;
	size_t n = 0, bad;

	memset(d, 0, sizeof(*d));
	d->s4.io.fd = d->s6.io.fd = -1;
	d->next_id = 1;
	if (v4)
		sa_make(&ss[n++], AF_INET, &lo4, 0);
	if (v6)
		sa_make(&ss[n++], AF_INET6, &in6addr_loopback, 0);
	ret = bindset_open(SOCK_DGRAM, 0, ss, n, fds, &d->port, &bad);
	if (ret < 0)
		return ret;
	if (v4)
		d->s4.io.fd = fds[0];
	if (v6)
		d->s6.io.fd = fds[v4 ? 1 : 0];
	return 0;
}

static void pending_forget(struct dns_proxy *d, struct dns_pending *p)
{
	d->inflight--;
	d->inflight_bytes -= p->len;
	p->id = 0;
}

int dns_submit(struct dns_proxy *d, struct dns_sock *s, const struct sockaddr_storage *from,
	       socklen_t flen, uint8_t *frame, size_t n)
{
	struct dns_pending *p;

	if (n > WIRE_DNS_UDP_MAX) {
		d->dropped_big++;
		return -EMSGSIZE;
	}
	/* No session: no answer at all, rather than one from anywhere else. */
	if (!d->mux) {
		d->dropped++;
		return -ENOTCONN;
	}
	if (d->inflight >= DNS_INFLIGHT_MAX || d->inflight_bytes + n > DNS_INFLIGHT_BYTES_MAX) {
		d->dropped++;
		return -ENOBUFS;
	}
	if (d->next_id == 0)
		d->next_id = 1;
	p = &d->pending[d->next_id % DNS_PENDING_MAX];
	if (p->id) {
		pending_forget(d, p);
		d->forgotten++;
	}
	wire_put_hdr(frame, WIRE_HDR_LEN, WIRE_DNS_QUERY, d->next_id, (uint32_t)n);
	if (mux_send_ctl(d->mux, frame, WIRE_HDR_LEN + n) < 0) {
		d->dropped++;
		return -ENOBUFS;
	}
	p->id = d->next_id++;
	p->sock = s;
	p->from = *from;
	p->from_len = flen;
	p->sent_ms = clock_ms();
	p->len = n;
	d->inflight++;
	d->inflight_bytes += n;
	d->queries++;
	return 0;
}

static void on_query(struct ev_io *io, uint32_t events)
{
	struct dns_sock *s = (struct dns_sock *)io;
	static uint8_t frame[WIRE_HDR_LEN + WIRE_DNS_UDP_MAX];
	struct sockaddr_storage from;
	socklen_t flen;
	ssize_t n;
	int i;

	/* Bounded per wakeup, so a flood of queries cannot starve the tunnel. */
	for (i = 0; i < 64; i++) {
		flen = sizeof(from);
		/* MSG_TRUNC: the datagram's real length, so an oversized one is seen as such. */
		n = recvfrom(io->fd, frame + WIRE_HDR_LEN, WIRE_DNS_UDP_MAX, MSG_TRUNC,
			     (struct sockaddr *)&from, &flen);
		if (n < 0)
			return;
		if (n < WIRE_DNS_MIN)
			continue;
		dns_submit(s->proxy, s, &from, flen, frame, (size_t)n);
	}
}

int dns_start(struct dns_proxy *d, struct evloop *loop, struct mux *mux)
{
	struct dns_sock *socks[2] = {&d->s4, &d->s6};
	int i, ret;

	d->mux = mux;
	for (i = 0; i < 2 && !d->watched; i++) {
		if (socks[i]->io.fd < 0)
			continue;
		socks[i]->io.cb = on_query;
		socks[i]->proxy = d;
		ret = evloop_add(loop, &socks[i]->io, EPOLLIN);
		if (ret < 0)
			return ret;
	}
	d->watched = true;
	return 0;
}

void dns_detach(struct dns_proxy *d)
{
	size_t i;

	for (i = 0; i < DNS_PENDING_MAX; i++)
		if (d->pending[i].id) {
			pending_forget(d, &d->pending[i]);
			d->forgotten++;
		}
	d->mux = NULL;
}

void dns_answer(struct dns_proxy *d, uint32_t id, const uint8_t *msg, size_t len)
{
	struct dns_pending *p = &d->pending[id % DNS_PENDING_MAX];

	if (p->id != id)
		return;
	/* An empty reply means the remote resolver did not answer: the client will time out. */
	if (len)
		sendto(p->sock->io.fd, msg, len, 0, (struct sockaddr *)&p->from, p->from_len);
	d->answered += len != 0;
	pending_forget(d, p);
}

void dns_expire(struct dns_proxy *d)
{
	int64_t now = clock_ms();
	size_t i;

	for (i = 0; i < DNS_PENDING_MAX; i++) {
		if (d->pending[i].id && now - d->pending[i].sent_ms > DNS_TIMEOUT_MS) {
			pending_forget(d, &d->pending[i]);
			d->forgotten++;
		}
	}
}

void dns_close(struct dns_proxy *d, struct evloop *loop)
{
	struct dns_sock *socks[2] = {&d->s4, &d->s6};
	int i;

	for (i = 0; i < 2; i++) {
		if (socks[i]->io.fd < 0)
			continue;
		if (d->watched)
			evloop_del(loop, &socks[i]->io);
		close(socks[i]->io.fd);
		socks[i]->io.fd = -1;
	}
	d->watched = false;
}
