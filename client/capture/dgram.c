/*
 * dgram: UDP flows and echoes between the TUN and the helper (see
 * dgram.h). Ids carry their slot, so a frame from the helper finds its
 * flow without a search, and a generation, so a stale id never finds the
 * flow that took its slot since.
 */
#include "dgram.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/clock.h"

#define SLOT_BITS 13 /* 8192 slots at most: both tables fit */
#define SLOT_MASK ((1u << SLOT_BITS) - 1)

_Static_assert(DGRAM_FLOWS_MAX < SLOT_MASK && DGRAM_ECHOES_MAX < SLOT_MASK, "slots fit an id");

static int64_t now(const struct dgram *d)
{
	return d->now_ms ? d->now_ms() : clock_ms();
}

static uint32_t new_id(struct dgram *d, size_t slot)
{
	if (++d->gen >= (1u << (32 - SLOT_BITS)))
		d->gen = 1;
	return d->gen << SLOT_BITS | (uint32_t)(slot + 1);
}

static size_t id_slot(uint32_t id)
{
	return (id & SLOT_MASK) - 1;
}

static size_t alen(uint8_t version)
{
	return version == 4 ? 4 : 16;
}

static uint32_t tuple_hash(uint8_t version, const uint8_t *src, const uint8_t *dst, uint16_t sport,
			   uint16_t dport)
{
	uint32_t h = 2166136261u ^ version;
	size_t i, n = alen(version);

	for (i = 0; i < n; i++)
		h = (h ^ src[i]) * 16777619u;
	for (i = 0; i < n; i++)
		h = (h ^ dst[i]) * 16777619u;
	h = (h ^ sport) * 16777619u;
	h = (h ^ dport) * 16777619u;
	return h % DGRAM_FLOWS_MAX;
}

static bool flow_is(const struct dgram_flow *f, const struct ippkt *p)
{
	size_t n = alen(p->version);

	return f->id && f->version == p->version && f->sport == p->sport && f->dport == p->dport &&
	       !memcmp(f->src, p->src, n) && !memcmp(f->dst, p->dst, n);
}

static void unhash(struct dgram *d, size_t slot)
{
	struct dgram_flow *f = &d->flows[slot];
	int32_t *at = &d->buckets[tuple_hash(f->version, f->src, f->dst, f->sport, f->dport)];

	while (*at >= 0 && *at != (int32_t)slot)
		at = &d->flows[*at].next;
	if (*at == (int32_t)slot)
		*at = f->next;
}

/* Tell the helper to forget a flow; a full tunnel only means it expires there on its own. */
static void send_close(struct dgram *d, uint32_t id)
{
	size_t n = wire_put_udp_close(d->frame, sizeof(d->frame), id);

	if (d->mux && n)
		(void)mux_send_dgram(d->mux, d->frame, n);
}

static void flow_end(struct dgram *d, size_t slot, enum dgram_end why)
{
	if (d->ended && d->flows[slot].id)
		d->ended(d->ended_arg, &d->flows[slot], why, now(d));
}

static void flow_free(struct dgram *d, size_t slot, bool tell)
{
	struct dgram_flow *f = &d->flows[slot];

	if (!f->id)
		return;
	if (tell)
		send_close(d, f->id);
	unhash(d, slot);
	f->id = 0;
	d->free_slots[d->n_free++] = (uint16_t)slot;
	d->st.flows--;
}

/* The flow of p, made if new; NULL only when the table is full of flows just used. */
static struct dgram_flow *flow_get(struct dgram *d, const struct ippkt *p, int64_t t)
{
	uint32_t h = tuple_hash(p->version, p->src, p->dst, p->sport, p->dport);
	size_t slot, oldest = 0;
	int32_t i;

	for (i = d->buckets[h]; i >= 0; i = d->flows[i].next)
		if (flow_is(&d->flows[i], p))
			return &d->flows[i];
	if (!d->n_free) {
		/* Full: the longest idle goes, as a conntrack table under pressure does. */
		for (slot = 1; slot < DGRAM_FLOWS_MAX; slot++)
			if (d->flows[slot].last_ms < d->flows[oldest].last_ms)
				oldest = slot;
		flow_end(d, oldest, DGRAM_END_FULL);
		flow_free(d, oldest, true);
	}
	slot = d->free_slots[--d->n_free];
	d->flows[slot] = (struct dgram_flow){.id = new_id(d, slot),
					     .version = p->version,
					     .sport = p->sport,
					     .dport = p->dport,
					     .last_ms = t,
					     .next = d->buckets[h]};
	memcpy(d->flows[slot].src, p->src, 16);
	memcpy(d->flows[slot].dst, p->dst, 16);
	d->buckets[h] = (int32_t)slot;
	d->st.flows++;
	return &d->flows[slot];
}

static struct dgram_flow *flow_by_id(struct dgram *d, uint32_t id)
{
	size_t slot = id_slot(id);

	if (!id || slot >= DGRAM_FLOWS_MAX || d->flows[slot].id != id)
		return NULL;
	return &d->flows[slot];
}

static void write_tun(struct dgram *d, const uint8_t *pkt, int len)
{
	if (len <= 0 || write(d->io.fd, pkt, (size_t)len) != len)
		d->st.dropped++;
}

static void send_udp(struct dgram *d, const struct ippkt *p)
{
	struct wire_udp u = {.family = p->version == 4 ? AF_INET : AF_INET6,
			     .port = p->dport,
			     .data = p->payload,
			     .len = p->payload_len};
	int64_t t = now(d);
	struct dgram_flow *f;
	size_t n;

	if (p->dport == 0) {
		/* Nowhere to send it, there as here; the helper would refuse it anyway. */
		d->st.not_carried++;
		return;
	}
	if (!d->mux || p->payload_len > WIRE_UDP_MAX) {
		d->st.dropped++;
		return;
	}
	f = flow_get(d, p, t);
	memcpy(u.addr, p->dst, 16);
	n = wire_put_udp_req(d->frame, sizeof(d->frame), f->id, &u);
	if (!n || mux_send_dgram(d->mux, d->frame, n) < 0) {
		d->st.dropped++;
		return;
	}
	f->last_ms = t;
	f->tx_dgrams++;
	f->tx_bytes += p->payload_len;
	d->st.tx_dgrams++;
	d->st.tx_bytes += p->payload_len;
}

static void send_echo(struct dgram *d, const struct ippkt *p)
{
	struct wire_echo w = {.family = p->version == 4 ? AF_INET : AF_INET6,
			      .seq = p->seq,
			      .data = p->payload,
			      .len = p->payload_len};
	size_t slot = d->next_echo, n;
	struct dgram_echo *e = &d->echoes[slot];

	if (!d->mux || p->payload_len > WIRE_ECHO_MAX) {
		d->st.dropped++;
		return;
	}
	/* A ring: the oldest entry makes room, as a lost reply would anyway. */
	d->next_echo = (d->next_echo + 1) % DGRAM_ECHOES_MAX;
	*e = (struct dgram_echo){.id = new_id(d, slot),
				 .version = p->version,
				 .echo_id = p->echo_id,
				 .seq = p->seq,
				 .sent_ms = now(d)};
	memcpy(e->src, p->src, 16);
	memcpy(e->dst, p->dst, 16);
	memcpy(w.addr, p->dst, 16);
	n = wire_put_echo_req(d->frame, sizeof(d->frame), e->id, &w);
	if (!n || mux_send_dgram(d->mux, d->frame, n) < 0) {
		e->id = 0;
		d->st.dropped++;
		return;
	}
	d->st.echoes++;
}

/*
 * A destination unreachable this machine (or a host it routes for) sent
 * about an answer of one of our flows: the socket the answer came to is
 * gone. The rules send such errors here rather than out by the real
 * interface. The flow it quotes ends, here and at the helper, rather than
 * keep carrying answers nobody takes; 1 when one did.
 */
static int flow_refused(struct dgram *d, const struct ippkt *p)
{
	struct ippkt q, key;
	int32_t i;

	/*
	 * A port unreachable, from the host the answer went to: routing for
	 * others, one of them must not end another's flow (conntrack relates
	 * the error by the quote, whoever sends it).
	 */
	if (p->icmp_type != (p->version == 4 ? IPPKT_ICMP_UNREACH : IPPKT_ICMP6_UNREACH) ||
	    p->icmp_code != (p->version == 4 ? 3 : 4) ||
	    ippkt_parse_quote(p->payload, p->payload_len, p->version, &q) < 0 ||
	    q.proto != IPPROTO_UDP || memcmp(p->src, q.dst, 16))
		return 0;
	/* The quote is the answer as it came in: the flow runs the other way. */
	key = (struct ippkt){.version = q.version, .sport = q.dport, .dport = q.sport};
	memcpy(key.src, q.dst, 16);
	memcpy(key.dst, q.src, 16);
	for (i = d->buckets[tuple_hash(key.version, key.src, key.dst, key.sport, key.dport)];
	     i >= 0; i = d->flows[i].next)
		if (flow_is(&d->flows[i], &key)) {
			flow_end(d, (size_t)i, DGRAM_END_LOCAL);
			flow_free(d, (size_t)i, true);
			d->st.refused_here++;
			return 1;
		}
	return 0;
}

void dgram_packet(struct dgram *d, const uint8_t *pkt, size_t len)
{
	struct ippkt p;

	if (ippkt_parse(pkt, len, &p) < 0) {
		d->st.not_carried++;
		return;
	}
	if (p.proto == IPPROTO_UDP)
		send_udp(d, &p);
	else if (p.icmp_type == (p.version == 4 ? IPPKT_ICMP_ECHO : IPPKT_ICMP6_ECHO))
		send_echo(d, &p);
	else if (!flow_refused(d, &p))
		d->st.not_carried++; /* replies and other errors are the kernel's own business */
}

static void on_tun(struct ev_io *io, uint32_t events)
{
	struct dgram *d = (struct dgram *)io;
	int i;

	for (i = 0; i < DGRAM_READS; i++) {
		ssize_t n = read(io->fd, d->pkt, sizeof(d->pkt));

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			/* It would report the same error at once, forever: stop watching it. */
			if (!d->tun_dead)
				evloop_del(d->loop, io);
			d->tun_dead = true;
			d->st.tun_errors++;
			return;
		}
		if (n <= 0)
			return;
		dgram_packet(d, d->pkt, (size_t)n);
	}
}

int dgram_init(struct dgram *d, struct evloop *loop, int fd)
{
	int fl = fcntl(fd, F_GETFL), ret;
	size_t i;

	memset(d, 0, offsetof(struct dgram, pkt));
	for (i = 0; i < DGRAM_FLOWS_MAX; i++) {
		d->buckets[i] = -1;
		d->free_slots[i] = (uint16_t)(DGRAM_FLOWS_MAX - 1 - i);
	}
	d->n_free = DGRAM_FLOWS_MAX;
	d->loop = loop;
	d->io = (struct ev_io){fd, on_tun};
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	ret = evloop_add(loop, &d->io, EPOLLIN);
	if (ret < 0)
		d->io.fd = -1;
	return ret;
}

void dgram_close(struct dgram *d)
{
	if (d->io.fd < 0)
		return;
	if (!d->tun_dead)
		evloop_del(d->loop, &d->io);
	close(d->io.fd);
	d->io.fd = -1;
}

static void forget_all(struct dgram *d)
{
	size_t i;

	for (i = 0; i < DGRAM_FLOWS_MAX; i++)
		flow_free(d, i, false);
	for (i = 0; i < DGRAM_ECHOES_MAX; i++)
		d->echoes[i].id = 0;
}

void dgram_attach(struct dgram *d, struct mux *mux)
{
	d->mux = mux;
}

void dgram_detach(struct dgram *d)
{
	d->mux = NULL;
	forget_all(d);
}

/* The flow's packet as the application sent it, empty: what an ICMP error about it quotes. */
static int flow_quote(struct dgram *d, const struct dgram_flow *f, uint8_t *buf, size_t cap)
{
	struct ippkt q = {.version = f->version,
			  .proto = IPPROTO_UDP,
			  .ttl = IPPKT_TTL,
			  .sport = f->sport,
			  .dport = f->dport};

	memcpy(q.src, f->src, 16);
	memcpy(q.dst, f->dst, 16);
	return ippkt_build_udp(buf, cap, &q);
}

/* What the remote's errno means to the application's kernel. */
static enum ippkt_err err_kind(uint32_t err)
{
	switch (err) {
	case ECONNREFUSED:
		return IPPKT_ERR_PORT;
	case ENETUNREACH:
		return IPPKT_ERR_NET;
	case EACCES:
	case EPERM:
		return IPPKT_ERR_PROHIBITED;
	default:
		return IPPKT_ERR_HOST;
	}
}

/*
 * The helper's own shortage, not anything of the far host's: told as an
 * unreachable host, it would make resolvers and QUIC give up a server
 * that is fine. A datagram lost, as UDP may lose one: the flow stays, and
 * its next datagram asks the helper again.
 */
static bool helper_short(uint32_t err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS;
}

static void write_error(struct dgram *d, const struct dgram_flow *f, uint32_t err)
{
	struct ippkt_error e = {.kind = err_kind(err), .ttl = IPPKT_TTL};
	uint8_t quote[IPPKT_HDR_V6];
	int qlen = flow_quote(d, f, quote, sizeof(quote)), n;

	/* The unreachable host itself answers for its port, as a real one would. */
	memcpy(e.src, f->dst, 16);
	e.ip_id = d->ip_id++;
	if (qlen < 0)
		return;
	n = ippkt_build_error(d->frame, sizeof(d->frame), &e, quote, (size_t)qlen);
	if (n > 0) {
		d->st.errors++;
		write_tun(d, d->frame, n);
	}
}

static int udp_reply(struct dgram *d, const struct wire_frame *fr)
{
	struct dgram_flow *f = flow_by_id(d, fr->stream);
	struct ippkt p;
	const uint8_t *data;
	size_t len;
	int n;

	if (wire_udp_reply(fr, &data, &len) < 0)
		return -EPROTO;
	if (!f)
		return 0;
	/* The reply goes back the way the request came: addresses and ports swapped. */
	p = (struct ippkt){.version = f->version,
			   .proto = IPPROTO_UDP,
			   .ttl = IPPKT_TTL,
			   .ip_id = d->ip_id++,
			   .sport = f->dport,
			   .dport = f->sport,
			   .payload = data,
			   .payload_len = len};
	memcpy(p.src, f->dst, 16);
	memcpy(p.dst, f->src, 16);
	n = ippkt_build_udp(d->frame, sizeof(d->frame), &p);
	write_tun(d, d->frame, n);
	f->answered = true;
	f->last_ms = now(d);
	f->rx_dgrams++;
	f->rx_bytes += len;
	d->st.rx_dgrams++;
	d->st.rx_bytes += len;
	return 0;
}

static struct dgram_echo *echo_by_id(struct dgram *d, uint32_t id)
{
	size_t slot = id_slot(id);

	if (!id || slot >= DGRAM_ECHOES_MAX || d->echoes[slot].id != id)
		return NULL;
	return &d->echoes[slot];
}

static int echo_reply(struct dgram *d, const struct wire_frame *fr)
{
	struct dgram_echo *e = echo_by_id(d, fr->stream);
	struct wire_echo w;
	struct ippkt p;
	int n;

	if (wire_echo_reply(fr, &w) < 0)
		return -EPROTO;
	if (!e || w.seq != e->seq)
		return 0;
	p = (struct ippkt){.version = e->version,
			   .proto = e->version == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6,
			   .ttl = IPPKT_TTL,
			   .ip_id = d->ip_id++,
			   .icmp_type =
			       e->version == 4 ? IPPKT_ICMP_ECHO_REPLY : IPPKT_ICMP6_ECHO_REPLY,
			   .echo_id = e->echo_id,
			   .seq = e->seq,
			   .payload = w.data,
			   .payload_len = w.len};
	memcpy(p.src, e->dst, 16);
	memcpy(p.dst, e->src, 16);
	n = ippkt_build_echo(d->frame, sizeof(d->frame), &p);
	write_tun(d, d->frame, n);
	e->id = 0; /* one reply per request: a duplicate finds nothing */
	d->st.echo_replies++;
	return 0;
}

/* The echo request as it was, empty, for the error to quote. */
static void echo_error(struct dgram *d, const struct wire_frame *fr)
{
	struct dgram_echo *e = echo_by_id(d, fr->stream);
	struct ippkt_error er = {.kind = err_kind(fr->u.echo_err.err), .ttl = IPPKT_TTL};
	struct ippkt q;
	uint8_t quote[IPPKT_HDR_V6];
	int qlen, n;

	if (!e || fr->u.echo_err.seq != e->seq)
		return;
	if (helper_short(fr->u.echo_err.err)) {
		e->id = 0;
		d->st.dropped++;
		return;
	}
	q = (struct ippkt){.version = e->version,
			   .proto = e->version == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6,
			   .ttl = IPPKT_TTL,
			   .icmp_type = e->version == 4 ? IPPKT_ICMP_ECHO : IPPKT_ICMP6_ECHO,
			   .echo_id = e->echo_id,
			   .seq = e->seq};
	memcpy(q.src, e->src, 16);
	memcpy(q.dst, e->dst, 16);
	qlen = ippkt_build_echo(quote, sizeof(quote), &q);
	if (er.kind == IPPKT_ERR_PORT)
		er.kind = IPPKT_ERR_HOST;
	memcpy(er.src, e->dst, 16);
	er.ip_id = d->ip_id++;
	e->id = 0;
	if (qlen < 0)
		return;
	n = ippkt_build_error(d->frame, sizeof(d->frame), &er, quote, (size_t)qlen);
	if (n > 0) {
		d->st.errors++;
		write_tun(d, d->frame, n);
	}
}

int dgram_frame(struct dgram *d, const struct wire_frame *fr)
{
	struct dgram_flow *f;

	switch (fr->type) {
	case WIRE_UDP:
		return udp_reply(d, fr);
	case WIRE_UDP_ERR:
		f = flow_by_id(d, fr->stream);
		if (f && fr->u.udp_err.err == EMSGSIZE) {
			/*
			 * Never told to the application: a lower path MTU
			 * would make its kernel fragment later datagrams,
			 * and fragments are not carried.
			 */
			d->st.too_big++;
			return 0;
		}
		if (f && helper_short(fr->u.udp_err.err))
			d->st.dropped++;
		else if (f)
			write_error(d, f, fr->u.udp_err.err);
		return 0;
	case WIRE_UDP_CLOSE:
		f = flow_by_id(d, fr->stream);
		if (f) {
			flow_end(d, id_slot(fr->stream), DGRAM_END_REMOTE);
			flow_free(d, id_slot(fr->stream), false);
		}
		return 0;
	case WIRE_ECHO:
		return echo_reply(d, fr);
	case WIRE_ECHO_ERR:
		echo_error(d, fr);
		return 0;
	default:
		return -EPROTO;
	}
}

void dgram_expire(struct dgram *d)
{
	int64_t t = now(d);
	size_t i;

	for (i = 0; i < DGRAM_FLOWS_MAX; i++) {
		struct dgram_flow *f = &d->flows[i];

		if (f->id && t - f->last_ms >= (f->answered ? DGRAM_ANSWERED_MS : DGRAM_IDLE_MS)) {
			flow_end(d, i, DGRAM_END_IDLE);
			flow_free(d, i, true);
		}
	}
	for (i = 0; i < DGRAM_ECHOES_MAX; i++)
		if (d->echoes[i].id && t - d->echoes[i].sent_ms >= DGRAM_ECHO_WAIT_MS)
			d->echoes[i].id = 0;
}

void dgram_get_stats(const struct dgram *d, struct dgram_stats *st)
{
	*st = d->st;
}

size_t dgram_each_flow(const struct dgram *d, void (*cb)(void *arg, const struct dgram_flow *f),
		       void *arg)
{
	size_t i;

	for (i = 0; i < DGRAM_FLOWS_MAX; i++)
		if (d->flows[i].id)
			cb(arg, &d->flows[i]);
	return d->st.flows;
}
