/*
 * ippkt: parses and builds IP packets (see ippkt.h). Every length comes
 * from a packet someone else wrote, so each is checked against the bytes
 * actually there before anything is read at it.
 */
#include "ippkt.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#define V4_HDR	 20
#define V6_HDR	 40
#define L4_HDR	 8 /* UDP, and the part of ICMP every type shares */
#define V4_MF	 0x2000
#define V4_FRAG	 0x1fff
#define V6_HBH	 0
#define V6_ROUTE 43
#define V6_FRAG	 44
#define V6_DEST	 60

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/*
 * RFC 1071: the one's complement sum, accumulated wide and folded once.
 * 64 bits hold the sum of any packet here, pseudo-header and all. A run
 * of odd length counts as if padded with a zero byte, so only the last
 * run of a checksummed span may be odd.
 */
static uint64_t sum_add(uint64_t acc, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		acc += get16(p + i);
	if (n & 1)
		acc += (uint64_t)p[n - 1] << 8;
	return acc;
}

static uint16_t sum_fold(uint64_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* The pseudo-header of UDP (both families) and ICMPv6: RFC 768, RFC 8200 8.1. */
static uint64_t sum_pseudo(int version, const uint8_t *src, const uint8_t *dst, uint8_t proto,
			   size_t l4len)
{
	uint64_t acc;

	if (version == 4) {
		acc = sum_add(0, src, 4);
		acc = sum_add(acc, dst, 4);
		return acc + proto + l4len;
	}
	acc = sum_add(0, src, 16);
	acc = sum_add(acc, dst, 16);
	return acc + (l4len >> 16) + (l4len & 0xffff) + proto;
}

/* True when a span whose checksum field is included sums to all ones. */
static bool sum_ok(uint64_t acc)
{
	return sum_fold(acc) == 0xffff;
}

static uint16_t sum_final(uint64_t acc)
{
	return (uint16_t)~sum_fold(acc);
}

/* What the network layer says, whichever family. */
struct l3 {
	uint8_t version, proto, ttl;
	uint16_t ip_id;
	uint8_t src[16], dst[16];
	size_t l4;  /* where the transport header starts */
	size_t end; /* where the packet ends by its own length fields */
};

/* IPv6 option TLVs (RFC 8200 4.2) must tile the header exactly. */
static int v6_opts_check(const uint8_t *o, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (o[i] == 0) { /* Pad1: the one option with no length byte */
			i++;
			continue;
		}
		if (n - i < 2 || n - i - 2 < o[i + 1])
			return -EINVAL;
		i += 2 + (size_t)o[i + 1];
	}
	return 0;
}

/*
 * Walk the IPv6 extension headers we may step over, up to lim. The
 * hop-by-hop header is only legal right after the fixed header.
 */
static int v6_ext_walk(const uint8_t *pkt, size_t lim, struct l3 *h)
{
	size_t off = V6_HDR, hl;
	uint8_t nh = pkt[6];
	int r;

	for (;;) {
		if (nh != V6_HBH && nh != V6_ROUTE && nh != V6_DEST && nh != V6_FRAG)
			break;
		if (nh == V6_HBH && off != V6_HDR)
			return -EINVAL;
		if (nh == V6_FRAG)
			return -EOPNOTSUPP;
		if (lim - off < 8)
			return -EINVAL;
		hl = ((size_t)pkt[off + 1] + 1) * 8;
		if (lim - off < hl)
			return -EINVAL;
		/* Segments left: the destination is not the final one yet. */
		if (nh == V6_ROUTE && pkt[off + 3] != 0)
			return -EOPNOTSUPP;
		if (nh != V6_ROUTE) {
			r = v6_opts_check(pkt + off + 2, hl - 2);
			if (r < 0)
				return r;
		}
		nh = pkt[off];
		off += hl;
	}
	h->proto = nh;
	h->l4 = off;
	return 0;
}

/*
 * The IP header of pkt. whole: pkt is a packet as a TUN gives it, its
 * length exactly len and its IPv4 header checksum right. Otherwise pkt is
 * a quote: it may stop anywhere after its headers, and its checksum is
 * not ours to judge (routers differ on quoting before or after their TTL
 * decrement).
 */
static int l3_parse(const uint8_t *pkt, size_t len, bool whole, struct l3 *h)
{
	size_t ihl;
	uint16_t frag;

	memset(h, 0, sizeof(*h));
	if (len < 1)
		return -EINVAL;
	h->version = pkt[0] >> 4;
	if (h->version == 4) {
		if (len < V4_HDR)
			return -EINVAL;
		ihl = (size_t)(pkt[0] & 0x0f) * 4;
		h->end = get16(pkt + 2);
		if (ihl < V4_HDR || ihl > len || h->end < ihl)
			return -EINVAL;
		if (whole && h->end != len)
			return -EINVAL;
		if (whole && !sum_ok(sum_add(0, pkt, ihl)))
			return -EBADMSG;
		frag = get16(pkt + 6);
		if (frag & (V4_MF | V4_FRAG))
			return -EOPNOTSUPP;
		h->ip_id = get16(pkt + 4);
		h->ttl = pkt[8];
		h->proto = pkt[9];
		memcpy(h->src, pkt + 12, 4);
		memcpy(h->dst, pkt + 16, 4);
		h->l4 = ihl; /* options skipped: nothing we carry depends on one */
		return 0;
	}
	if (h->version != 6 || len < V6_HDR)
		return -EINVAL;
	h->end = V6_HDR + (size_t)get16(pkt + 4);
	if (whole && h->end != len)
		return -EINVAL;
	h->ttl = pkt[7];
	memcpy(h->src, pkt + 8, 16);
	memcpy(h->dst, pkt + 24, 16);
	return v6_ext_walk(pkt, h->end < len ? h->end : len, h);
}

static void l3_copy(const struct l3 *h, struct ippkt *p)
{
	memset(p, 0, sizeof(*p));
	p->version = h->version;
	p->proto = h->proto;
	p->ttl = h->ttl;
	p->ip_id = h->ip_id;
	memcpy(p->src, h->src, 16);
	memcpy(p->dst, h->dst, 16);
}

static bool is_echo(int version, uint8_t type)
{
	if (version == 4)
		return type == IPPKT_ICMP_ECHO || type == IPPKT_ICMP_ECHO_REPLY;
	return type == IPPKT_ICMP6_ECHO || type == IPPKT_ICMP6_ECHO_REPLY;
}

static uint8_t icmp_proto(int version)
{
	return version == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
}

/* The ICMP message at m (n >= 8 bytes, checksum already verified). */
static int icmp_fields(int version, const uint8_t *m, size_t n, struct ippkt *p)
{
	uint8_t type = m[0], code = m[1];

	p->icmp_type = type;
	p->icmp_code = code;
	p->payload = m + L4_HDR;
	p->payload_len = n - L4_HDR;
	if (is_echo(version, type)) {
		if (code != 0)
			return -EINVAL;
		p->echo_id = get16(m + 4);
		p->seq = get16(m + 6);
		return 0;
	}
	if (version == 4) {
		if (type == IPPKT_ICMP_UNREACH) {
			if (code == 4) /* RFC 1191: the next-hop MTU in the low half */
				p->mtu = get16(m + 6);
			return 0;
		}
		return type == IPPKT_ICMP_TIME ? 0 : -EPROTONOSUPPORT;
	}
	if (type == IPPKT_ICMP6_TOOBIG) {
		p->mtu = get32(m + 4);
		return 0;
	}
	return type == IPPKT_ICMP6_UNREACH || type == IPPKT_ICMP6_TIME ? 0 : -EPROTONOSUPPORT;
}

int ippkt_parse(const uint8_t *pkt, size_t len, struct ippkt *p)
{
	struct l3 h;
	const uint8_t *m;
	size_t n;
	uint64_t acc;
	int r;

	r = l3_parse(pkt, len, true, &h);
	if (r < 0)
		goto out;
	l3_copy(&h, p);
	m = pkt + h.l4;
	n = h.end - h.l4;
	if (h.proto == IPPROTO_UDP) {
		r = -EINVAL;
		if (n < L4_HDR || get16(m + 4) != n)
			goto out;
		r = -EBADMSG;
		if (get16(m + 6) == 0) {
			/* RFC 768: sender computed none; RFC 8200 8.1: IPv6 must. */
			if (h.version == 6)
				goto out;
		} else {
			acc = sum_pseudo(h.version, h.src, h.dst, IPPROTO_UDP, n);
			if (!sum_ok(sum_add(acc, m, n)))
				goto out;
		}
		p->sport = get16(m);
		p->dport = get16(m + 2);
		p->payload = m + L4_HDR;
		p->payload_len = n - L4_HDR;
		r = 0;
		goto out;
	}
	r = -EPROTONOSUPPORT;
	if (h.proto != icmp_proto(h.version))
		goto out;
	r = -EINVAL;
	if (n < L4_HDR)
		goto out;
	acc = h.version == 6 ? sum_pseudo(6, h.src, h.dst, IPPROTO_ICMPV6, n) : 0;
	r = -EBADMSG;
	if (!sum_ok(sum_add(acc, m, n)))
		goto out;
	r = icmp_fields(h.version, m, n, p);
out:
	return r;
}

int ippkt_parse_quote(const uint8_t *q, size_t len, int version, struct ippkt *p)
{
	struct l3 h;
	const uint8_t *m;
	int r;

	r = l3_parse(q, len, false, &h);
	if (r < 0)
		goto out;
	r = -EINVAL;
	/* Its own lengths must hold the 8 bytes quoted, and the quote must too. */
	if (h.version != version || h.end < h.l4 + L4_HDR || len < h.l4 + L4_HDR)
		goto out;
	l3_copy(&h, p);
	m = q + h.l4;
	p->payload = m + L4_HDR;
	p->payload_len = (len < h.end ? len : h.end) - h.l4 - L4_HDR;
	if (h.proto == IPPROTO_UDP) {
		p->sport = get16(m);
		p->dport = get16(m + 2);
		r = 0;
		goto out;
	}
	/* Nobody sends an error about an error, so echo is all a quote can hold. */
	r = -EPROTONOSUPPORT;
	if (h.proto != icmp_proto(version) || !is_echo(version, m[0]))
		goto out;
	r = -EINVAL;
	if (m[1] != 0)
		goto out;
	p->icmp_type = m[0];
	p->echo_id = get16(m + 4);
	p->seq = get16(m + 6);
	r = 0;
out:
	return r;
}

/* The IP header for l4len bytes of proto at buf; returns its length. */
static size_t put_l3(uint8_t *buf, int version, uint8_t proto, size_t l4len, uint8_t ttl,
		     uint16_t ip_id, const uint8_t *src, const uint8_t *dst)
{
	if (version == 4) {
		buf[0] = 0x45;
		buf[1] = 0;
		put16(buf + 2, (uint16_t)(V4_HDR + l4len));
		put16(buf + 4, ip_id);
		/*
		 * No DF: in router mode the kernel forwards what we write to a
		 * link of its own MTU, and must fragment a big reply there
		 * rather than drop it (the ICMP it would send goes to the
		 * remote host's address, which cannot hear it).
		 */
		put16(buf + 6, 0);
		buf[8] = ttl;
		buf[9] = proto;
		put16(buf + 10, 0);
		memcpy(buf + 12, src, 4);
		memcpy(buf + 16, dst, 4);
		put16(buf + 10, sum_final(sum_add(0, buf, V4_HDR)));
		return V4_HDR;
	}
	put32(buf, 0x60000000); /* traffic class and flow label 0 */
	put16(buf + 4, (uint16_t)l4len);
	buf[6] = proto;
	buf[7] = ttl;
	memcpy(buf + 8, src, 16);
	memcpy(buf + 24, dst, 16);
	return V6_HDR;
}

/*
 * Room for an IP header, 8 bytes of transport header and n bytes after
 * them, which are moved into place (they may already be in buf).
 */
static int make_room(uint8_t *buf, size_t cap, int version, const uint8_t *data, size_t n,
		     size_t *total)
{
	size_t hdr = version == 4 ? IPPKT_HDR_V4 : IPPKT_HDR_V6;

	if (version != 4 && version != 6)
		return -EINVAL;
	if (n > (version == 4 ? IPPKT_UDP_MAX_V4 : IPPKT_UDP_MAX_V6))
		return -EMSGSIZE;
	if (n && !data)
		return -EINVAL;
	*total = hdr + n;
	if (cap < *total)
		return -ENOSPC;
	if (n)
		memmove(buf + hdr, data, n);
	return 0;
}

int ippkt_build_udp(uint8_t *buf, size_t cap, const struct ippkt *p)
{
	size_t total, l3len, n;
	uint8_t *m;
	uint16_t c;
	int r;

	r = make_room(buf, cap, p->version, p->payload, p->payload_len, &total);
	if (r < 0)
		goto out;
	n = L4_HDR + p->payload_len;
	l3len = put_l3(buf, p->version, IPPROTO_UDP, n, p->ttl, p->ip_id, p->src, p->dst);
	m = buf + l3len;
	put16(m, p->sport);
	put16(m + 2, p->dport);
	put16(m + 4, (uint16_t)n);
	put16(m + 6, 0);
	c = sum_final(sum_add(sum_pseudo(p->version, p->src, p->dst, IPPROTO_UDP, n), m, n));
	/* RFC 768: a computed 0 goes as all ones; 0 on the wire means "none". */
	put16(m + 6, c ? c : 0xffff);
	r = (int)total;
out:
	return r;
}

/* The ICMP header at m, n bytes of message, checksummed (with IPv6's pseudo-header). */
static void put_icmp(uint8_t *m, size_t n, int version, uint8_t type, uint8_t code, uint32_t rest,
		     const uint8_t *src, const uint8_t *dst)
{
	uint64_t acc = version == 6 ? sum_pseudo(6, src, dst, IPPROTO_ICMPV6, n) : 0;

	m[0] = type;
	m[1] = code;
	put16(m + 2, 0);
	put32(m + 4, rest);
	put16(m + 2, sum_final(sum_add(acc, m, n)));
}

int ippkt_build_echo(uint8_t *buf, size_t cap, const struct ippkt *p)
{
	size_t total, l3len, n;
	int r;

	r = -EINVAL;
	if ((p->version != 4 && p->version != 6) || !is_echo(p->version, p->icmp_type))
		goto out;
	r = make_room(buf, cap, p->version, p->payload, p->payload_len, &total);
	if (r < 0)
		goto out;
	n = L4_HDR + p->payload_len;
	l3len =
	    put_l3(buf, p->version, icmp_proto(p->version), n, p->ttl, p->ip_id, p->src, p->dst);
	put_icmp(buf + l3len, n, p->version, p->icmp_type, 0, (uint32_t)p->echo_id << 16 | p->seq,
		 p->src, p->dst);
	r = (int)total;
out:
	return r;
}

/* RFC 1122 3.2.2: not one host's address (zero, loopback, multicast, class E, broadcast). */
static bool v4_not_host(const uint8_t *a)
{
	return a[0] == 0 || a[0] == 127 || a[0] >= 224;
}

static bool v6_multicast(const uint8_t *a)
{
	return a[0] == 0xff;
}

static bool v6_not_host(const uint8_t *a)
{
	static const uint8_t zero[16], loop[16] = {[15] = 1};

	return v6_multicast(a) || !memcmp(a, zero, 16) || !memcmp(a, loop, 16);
}

/* May an error be sent about this packet at all? */
static int error_allowed(const struct l3 *h, const uint8_t *pkt, enum ippkt_err kind)
{
	if (h->version == 4) {
		if (v4_not_host(h->src) || h->dst[0] >= 224)
			return -EINVAL;
		if (h->proto != IPPROTO_ICMP)
			return 0;
		if (h->end - h->l4 < 1)
			return -EINVAL;
		switch (pkt[h->l4]) {
		case 3:	 /* unreachable */
		case 4:	 /* source quench */
		case 5:	 /* redirect */
		case 11: /* time exceeded */
		case 12: /* parameter problem */
			return -EINVAL;
		}
		return 0;
	}
	if (v6_not_host(h->src) || (v6_multicast(h->dst) && kind != IPPKT_ERR_TOOBIG))
		return -EINVAL;
	if (h->proto != IPPROTO_ICMPV6)
		return 0;
	/* RFC 4443 2.1: types below 128 are errors. */
	if (h->end - h->l4 < 1 || pkt[h->l4] < 128)
		return -EINVAL;
	return 0;
}

/* The family's type, code and second word for an error kind. */
static int error_code(int version, const struct ippkt_error *e, uint8_t *type, uint8_t *code,
		      uint32_t *rest)
{
	static const uint8_t v4[][2] = {
	    [IPPKT_ERR_PORT] = {3, 3},	 [IPPKT_ERR_HOST] = {3, 1},
	    [IPPKT_ERR_NET] = {3, 0},	 [IPPKT_ERR_PROHIBITED] = {3, 13},
	    [IPPKT_ERR_TOOBIG] = {3, 4}, [IPPKT_ERR_TTL] = {11, 0},
	};
	static const uint8_t v6[][2] = {
	    [IPPKT_ERR_PORT] = {1, 4},	     [IPPKT_ERR_HOST] = {1, 3},	  [IPPKT_ERR_NET] = {1, 0},
	    [IPPKT_ERR_PROHIBITED] = {1, 1}, [IPPKT_ERR_TOOBIG] = {2, 0}, [IPPKT_ERR_TTL] = {3, 0},
	};
	const uint8_t *tc;

	if (e->kind < IPPKT_ERR_PORT || e->kind > IPPKT_ERR_TTL)
		return -EINVAL;
	tc = version == 4 ? v4[e->kind] : v6[e->kind];
	*type = tc[0];
	*code = tc[1];
	*rest = 0;
	if (e->kind != IPPKT_ERR_TOOBIG)
		return 0;
	/* A router can only report an MTU the family allows (RFC 791, RFC 8200 5). */
	if (version == 4 && (e->mtu < 68 || e->mtu > 65535))
		return -EINVAL;
	if (version == 6 && e->mtu < IPPKT_ERR_MAX_V6)
		return -EINVAL;
	*rest = e->mtu;
	return 0;
}

int ippkt_build_error(uint8_t *buf, size_t cap, const struct ippkt_error *e, const uint8_t *pkt,
		      size_t len)
{
	struct l3 h;
	uint8_t type, code;
	uint32_t rest;
	size_t hdr, qlen, qmax, n;
	int r;

	r = l3_parse(pkt, len, true, &h);
	if (r < 0)
		goto out;
	r = error_allowed(&h, pkt, e->kind);
	if (r < 0)
		goto out;
	r = error_code(h.version, e, &type, &code, &rest);
	if (r < 0)
		goto out;
	hdr = h.version == 4 ? IPPKT_HDR_V4 : IPPKT_HDR_V6;
	qmax = (h.version == 4 ? IPPKT_ERR_MAX_V4 : IPPKT_ERR_MAX_V6) - hdr;
	qlen = h.end < qmax ? h.end : qmax;
	r = -ENOSPC;
	if (cap < hdr + qlen)
		goto out;
	/* h holds all we need of pkt from here: moving it may overwrite it. */
	memmove(buf + hdr, pkt, qlen);
	n = L4_HDR + qlen;
	put_l3(buf, h.version, icmp_proto(h.version), n, e->ttl, e->ip_id, e->src, h.src);
	put_icmp(buf + hdr - L4_HDR, n, h.version, type, code, rest, e->src, h.src);
	r = (int)(hdr + qlen);
out:
	return r;
}
