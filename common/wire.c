/*
 * wire: encodes and validates frames. Nothing here trusts the peer: every
 * length is checked against the frame type before a field is read.
 */
#include "wire.h"

#include "bytes.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define HELLO_LEN (WIRE_MAGIC_LEN + 2 + 2 + 4 + 4 + WIRE_HASH_LEN)

/*
 * Every encoder writes through a bounded writer: a frame that does not fit
 * cap is not written at all, and the encoder returns 0.
 */
static void put_hdr(struct bwriter *w, uint8_t type, uint32_t stream, uint32_t len)
{
	bwriter_u8(w, type);
	bwriter_u8(w, 0);
	bwriter_u16(w, 0);
	bwriter_u32(w, stream);
	bwriter_u32(w, len);
}

static size_t done(const struct bwriter *w)
{
	return w->bad ? 0 : w->off;
}

size_t wire_put_hdr(uint8_t *p, size_t cap, uint8_t type, uint32_t stream, uint32_t len)
{
	struct bwriter w;

	bwriter_init(&w, p, cap);
	put_hdr(&w, type, stream, len);
	return done(&w);
}

void wire_set_flags(uint8_t *hdr, uint8_t flags)
{
	hdr[1] = flags;
}

size_t wire_put_hello(uint8_t *p, size_t cap, const struct wire_hello *h)
{
	struct bwriter w;

	bwriter_init(&w, p, cap);
	put_hdr(&w, WIRE_HELLO, 0, HELLO_LEN);
	bwriter_bytes(&w, WIRE_MAGIC, WIRE_MAGIC_LEN);
	bwriter_u16(&w, h->version);
	bwriter_u16(&w, 0);
	bwriter_u32(&w, h->window);
	bwriter_u32(&w, h->features);
	bwriter_bytes(&w, h->hash, WIRE_HASH_LEN);
	return done(&w);
}

static size_t put_addr_frame(uint8_t *p, size_t cap, uint8_t type, uint32_t stream,
			     const struct wire_open *o)
{
	size_t alen = o->family == AF_INET6 ? 16 : 4;
	struct bwriter w;

	bwriter_init(&w, p, cap);
	put_hdr(&w, type, stream, (uint32_t)(4 + alen));
	bwriter_u8(&w, o->family == AF_INET6 ? 6 : 4);
	bwriter_u8(&w, o->flags);
	bwriter_u16(&w, o->port);
	bwriter_bytes(&w, o->addr, alen);
	return done(&w);
}

size_t wire_put_open(uint8_t *p, size_t cap, uint32_t stream, const struct wire_open *o)
{
	return put_addr_frame(p, cap, WIRE_OPEN, stream, o);
}

size_t wire_put_resolver(uint8_t *p, size_t cap, const struct wire_open *o)
{
	struct wire_open r = *o;

	r.flags = 0;
	return put_addr_frame(p, cap, WIRE_RESOLVER, 0, &r);
}

static size_t family_alen(uint8_t fam)
{
	return fam == 4 ? 4 : fam == 6 ? 16 : 0;
}

size_t wire_put_host(uint8_t *p, size_t cap, const struct wire_host *h)
{
	size_t alen = h->family == AF_INET6 ? 16 : 4, n = strnlen(h->name, WIRE_NAME_MAX);
	struct bwriter w;

	bwriter_init(&w, p, cap);
	put_hdr(&w, WIRE_HOST, 0, (uint32_t)(1 + alen + 1 + n));
	bwriter_u8(&w, h->family == AF_INET6 ? 6 : 4);
	bwriter_bytes(&w, h->addr, alen);
	bwriter_u8(&w, (uint8_t)n);
	bwriter_bytes(&w, h->name, n);
	return done(&w);
}

size_t wire_routes_add(uint8_t *p, size_t cap, size_t len, int family, const uint8_t *addr,
		       uint8_t prefix)
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	struct bwriter w;

	if (len < WIRE_HDR_LEN || len + 2 + alen > WIRE_HDR_LEN + WIRE_MAX_PAYLOAD)
		return 0;
	bwriter_init(&w, p, cap);
	w.off = len <= cap ? len : cap;
	w.bad = len > cap;
	bwriter_u8(&w, family == AF_INET6 ? 6 : 4);
	bwriter_u8(&w, prefix);
	bwriter_bytes(&w, addr, alen);
	return done(&w);
}

void wire_routes_end(uint8_t *p, size_t cap, size_t len)
{
	struct bwriter w;

	bwriter_init(&w, p, cap);
	w.off = len <= cap ? len : cap;
	bwriter_put_u32_at(&w, 8, (uint32_t)(len - WIRE_HDR_LEN));
}

int wire_routes_next(const struct wire_frame *f, size_t *off, int *family, uint8_t addr[16],
		     uint8_t *prefix)
{
	const uint8_t *q = f->payload + *off;
	size_t alen;

	if (*off >= f->len)
		return 0;
	alen = family_alen(q[0]);
	*family = q[0] == 6 ? AF_INET6 : AF_INET;
	*prefix = q[1];
	memset(addr, 0, 16);
	memcpy(addr, q + 2, alen);
	*off += 2 + alen;
	return 1;
}

/* Every entry well formed and the entries fill the payload exactly. */
static int routes_valid(const struct wire_frame *f)
{
	size_t off = 0, alen;

	while (off < f->len) {
		if (f->len - off < 2)
			return -EPROTO;
		alen = family_alen(f->payload[off]);
		if (!alen || f->payload[off + 1] > alen * 8 || f->len - off < 2 + alen)
			return -EPROTO;
		off += 2 + alen;
	}
	return 0;
}

static int parse_host(struct wire_frame *f)
{
	const uint8_t *q = f->payload;
	size_t alen, n;

	if (f->stream != 0 || f->len < 1)
		return -EPROTO;
	alen = family_alen(q[0]);
	if (!alen || f->len < 1 + alen + 1)
		return -EPROTO;
	n = q[1 + alen];
	if (n == 0 || n > WIRE_NAME_MAX || f->len != 2 + alen + n || memchr(q + 2 + alen, 0, n))
		return -EPROTO;
	f->u.host.family = alen == 16 ? AF_INET6 : AF_INET;
	memset(f->u.host.addr, 0, sizeof(f->u.host.addr));
	memcpy(f->u.host.addr, q + 1, alen);
	memcpy(f->u.host.name, q + 2 + alen, n);
	f->u.host.name[n] = '\0';
	return 0;
}

static int parse_addr_frame(struct wire_frame *f)
{
	const uint8_t *q = f->payload;

	if (f->len < 4)
		return -EPROTO;
	if (q[0] == 4 && f->len == 8)
		f->u.open.family = AF_INET;
	else if (q[0] == 6 && f->len == 20)
		f->u.open.family = AF_INET6;
	else
		return -EPROTO;
	f->u.open.flags = q[1];
	f->u.open.port = get16(q + 2);
	if (f->u.open.port == 0)
		return -EPROTO;
	memset(f->u.open.addr, 0, sizeof(f->u.open.addr));
	memcpy(f->u.open.addr, q + 4, f->len - 4);
	return 0;
}

size_t wire_put_u32(uint8_t *p, size_t cap, uint8_t type, uint32_t stream, uint32_t v)
{
	struct bwriter w;

	bwriter_init(&w, p, cap);
	put_hdr(&w, type, stream, 4);
	bwriter_u32(&w, v);
	return done(&w);
}

size_t wire_put_ping(uint8_t *p, size_t cap, uint8_t type, const uint8_t opaque[8])
{
	struct bwriter w;

	bwriter_init(&w, p, cap);
	put_hdr(&w, type, 0, 8);
	bwriter_bytes(&w, opaque, 8);
	return done(&w);
}

/* family, 0, u16, addr: the head shared by UDP and ECHO requests. */
static int parse_req_head(const struct wire_frame *f, int *family, uint16_t *v, uint8_t addr[16],
			  size_t *head)
{
	const uint8_t *q = f->payload;
	size_t alen;

	if (f->len < 4 || q[1] != 0)
		return -EPROTO;
	alen = family_alen(q[0]);
	if (!alen || f->len < 4 + alen)
		return -EPROTO;
	*family = alen == 16 ? AF_INET6 : AF_INET;
	*v = get16(q + 2);
	memset(addr, 0, 16);
	memcpy(addr, q + 4, alen);
	*head = 4 + alen;
	return 0;
}

int wire_udp_req(const struct wire_frame *f, struct wire_udp *u)
{
	size_t head;

	if (f->type != WIRE_UDP || parse_req_head(f, &u->family, &u->port, u->addr, &head) < 0)
		return -EPROTO;
	u->data = f->payload + head;
	u->len = f->len - head;
	if (u->len > WIRE_UDP_MAX)
		return -EPROTO;
	/* Well formed, but nothing can be sent there: the flow's fault, not the session's. */
	return u->port ? 0 : -EINVAL;
}

int wire_udp_reply(const struct wire_frame *f, const uint8_t **data, size_t *len)
{
	if (f->type != WIRE_UDP || f->len > WIRE_UDP_MAX)
		return -EPROTO;
	*data = f->payload;
	*len = f->len;
	return 0;
}

int wire_echo_req(const struct wire_frame *f, struct wire_echo *e)
{
	size_t head;

	if (f->type != WIRE_ECHO || parse_req_head(f, &e->family, &e->seq, e->addr, &head) < 0)
		return -EPROTO;
	e->data = f->payload + head;
	e->len = f->len - head;
	return e->len <= WIRE_ECHO_MAX ? 0 : -EPROTO;
}

int wire_echo_reply(const struct wire_frame *f, struct wire_echo *e)
{
	if (f->type != WIRE_ECHO || f->len < 2 || f->len - 2 > WIRE_ECHO_MAX)
		return -EPROTO;
	memset(e, 0, sizeof(*e));
	e->seq = get16(f->payload);
	e->data = f->payload + 2;
	e->len = f->len - 2;
	return 0;
}

static size_t put_req(uint8_t *p, size_t cap, uint8_t type, uint32_t stream, int family, uint16_t v,
		      const uint8_t *addr, const uint8_t *data, size_t len, size_t max)
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	struct bwriter w;

	if (len > max)
		return 0;
	bwriter_init(&w, p, cap);
	put_hdr(&w, type, stream, (uint32_t)(4 + alen + len));
	bwriter_u8(&w, family == AF_INET6 ? 6 : 4);
	bwriter_u8(&w, 0);
	bwriter_u16(&w, v);
	bwriter_bytes(&w, addr, alen);
	bwriter_bytes(&w, data, len);
	return done(&w);
}

size_t wire_put_udp_req(uint8_t *p, size_t cap, uint32_t flow, const struct wire_udp *u)
{
	return put_req(p, cap, WIRE_UDP, flow, u->family, u->port, u->addr, u->data, u->len,
		       WIRE_UDP_MAX);
}

size_t wire_put_udp_reply(uint8_t *p, size_t cap, uint32_t flow, const uint8_t *data, size_t len)
{
	struct bwriter w;

	if (len > WIRE_UDP_MAX)
		return 0;
	bwriter_init(&w, p, cap);
	put_hdr(&w, WIRE_UDP, flow, (uint32_t)len);
	bwriter_bytes(&w, data, len);
	return done(&w);
}

size_t wire_put_udp_err(uint8_t *p, size_t cap, uint32_t flow, uint32_t err, uint32_t mtu)
{
	struct bwriter w;

	bwriter_init(&w, p, cap);
	put_hdr(&w, WIRE_UDP_ERR, flow, 8);
	bwriter_u32(&w, err);
	bwriter_u32(&w, mtu);
	return done(&w);
}

size_t wire_put_udp_close(uint8_t *p, size_t cap, uint32_t flow)
{
	return wire_put_hdr(p, cap, WIRE_UDP_CLOSE, flow, 0);
}

size_t wire_put_echo_req(uint8_t *p, size_t cap, uint32_t id, const struct wire_echo *e)
{
	return put_req(p, cap, WIRE_ECHO, id, e->family, e->seq, e->addr, e->data, e->len,
		       WIRE_ECHO_MAX);
}

size_t wire_put_echo_reply(uint8_t *p, size_t cap, uint32_t id, uint16_t seq, const uint8_t *data,
			   size_t len)
{
	struct bwriter w;

	if (len > WIRE_ECHO_MAX)
		return 0;
	bwriter_init(&w, p, cap);
	put_hdr(&w, WIRE_ECHO, id, (uint32_t)(2 + len));
	bwriter_u16(&w, seq);
	bwriter_bytes(&w, data, len);
	return done(&w);
}

size_t wire_put_echo_err(uint8_t *p, size_t cap, uint32_t id, uint16_t seq, uint32_t err)
{
	struct bwriter w;

	bwriter_init(&w, p, cap);
	put_hdr(&w, WIRE_ECHO_ERR, id, 8);
	bwriter_u16(&w, seq);
	bwriter_u16(&w, 0);
	bwriter_u32(&w, err);
	return done(&w);
}

static int parse_body(struct wire_frame *f)
{
	const uint8_t *q = f->payload;

	switch (f->type) {
	case WIRE_HELLO:
		if (f->stream != 0 || f->len != HELLO_LEN || memcmp(q, WIRE_MAGIC, WIRE_MAGIC_LEN))
			return -EPROTO;
		f->u.hello.version = get16(q + 8);
		f->u.hello.window = get32(q + 12);
		f->u.hello.features = get32(q + 16);
		memcpy(f->u.hello.hash, q + 20, WIRE_HASH_LEN);
		return 0;
	case WIRE_OPEN:
		if (f->stream == 0 || parse_addr_frame(f) < 0 ||
		    (f->u.open.flags & ~WIRE_OPEN_F_DNS))
			return -EPROTO;
		return 0;
	case WIRE_RESOLVER:
		if (f->stream != 0 || parse_addr_frame(f) < 0 || f->u.open.flags)
			return -EPROTO;
		return 0;
	case WIRE_ROUTES:
		return f->stream == 0 ? routes_valid(f) : -EPROTO;
	case WIRE_HOST:
		return parse_host(f);
	case WIRE_DNS_QUERY:
		return f->stream != 0 && f->len >= WIRE_DNS_MIN ? 0 : -EPROTO;
	case WIRE_DNS_REPLY:
		return f->stream != 0 && (f->len == 0 || f->len >= WIRE_DNS_MIN) ? 0 : -EPROTO;
	case WIRE_DATA:
		return f->stream != 0 && f->len > 0 ? 0 : -EPROTO;
	case WIRE_EOF:
		return f->stream != 0 && f->len == 0 ? 0 : -EPROTO;
	case WIRE_RESET:
	case WIRE_WINDOW:
		if (f->stream == 0 || f->len != 4)
			return -EPROTO;
		f->u.window = get32(q); /* same storage as u.err */
		if (f->type == WIRE_WINDOW && f->u.window == 0)
			return -EPROTO;
		return 0;
	case WIRE_PING:
	case WIRE_PONG:
		return f->stream == 0 && f->len == 8 ? 0 : -EPROTO;
	case WIRE_UDP:
		/* Either direction's layout; the receiver checks its own (wire_udp_req...). */
		return f->stream != 0 && f->len <= WIRE_UDP_HDR_MAX + WIRE_UDP_MAX ? 0 : -EPROTO;
	case WIRE_ECHO:
		return f->stream != 0 && f->len >= 2 && f->len <= WIRE_UDP_HDR_MAX + WIRE_ECHO_MAX
			   ? 0
			   : -EPROTO;
	case WIRE_UDP_CLOSE:
		return f->stream != 0 && f->len == 0 ? 0 : -EPROTO;
	case WIRE_UDP_ERR:
		if (f->stream == 0 || f->len != 8)
			return -EPROTO;
		f->u.udp_err.err = get32(q);
		f->u.udp_err.mtu = get32(q + 4);
		if (!f->u.udp_err.err || f->u.udp_err.err > WIRE_ERRNO_MAX ||
		    f->u.udp_err.mtu > 65535 || (f->u.udp_err.mtu && f->u.udp_err.err != EMSGSIZE))
			return -EPROTO;
		return 0;
	case WIRE_ECHO_ERR:
		if (f->stream == 0 || f->len != 8 || get16(q + 2) != 0)
			return -EPROTO;
		f->u.echo_err.seq = get16(q);
		f->u.echo_err.err = get32(q + 4);
		return f->u.echo_err.err && f->u.echo_err.err <= WIRE_ERRNO_MAX ? 0 : -EPROTO;
	default:
		return -EPROTO;
	}
}

int wire_parse(const uint8_t *buf, size_t len, struct wire_frame *f)
{
	uint32_t plen;
	int ret;

	if (len < WIRE_HDR_LEN)
		return 0;
	/* Reject a bad header before waiting for its payload, so garbage fails fast. */
	if (buf[0] == 0 || buf[0] > WIRE_TYPE_MAX || get16(buf + 2) != 0)
		return -EPROTO;
	if (buf[1] & ~(buf[0] == WIRE_DATA ? WIRE_DATA_F_BLOCKED : 0))
		return -EPROTO;
	plen = get32(buf + 8);
	if (plen > WIRE_MAX_PAYLOAD)
		return -EPROTO;
	if (len < WIRE_HDR_LEN + (size_t)plen)
		return 0;
	f->type = buf[0];
	f->flags = buf[1];
	f->stream = get32(buf + 4);
	f->len = plen;
	f->payload = buf + WIRE_HDR_LEN;
	ret = parse_body(f);
	if (ret < 0)
		return ret;
	return (int)(WIRE_HDR_LEN + plen);
}
