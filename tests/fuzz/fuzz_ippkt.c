/*
 * The IP packet codec: any bytes as one packet read from the TUN. What
 * parses is built again from its fields and must parse back the same; an
 * ICMP error about the input must parse, checksums and quote included.
 */
#include "../../common/ippkt.h"
#include "fuzz.h"

#include <errno.h>
#include <netinet/in.h>

static uint8_t out[IPPKT_MAX], out2[IPPKT_MAX];

static int same(const struct ippkt *a, const struct ippkt *b)
{
	return a->version == b->version && a->proto == b->proto && a->ttl == b->ttl &&
	       a->ip_id == b->ip_id && !memcmp(a->src, b->src, 16) && !memcmp(a->dst, b->dst, 16) &&
	       a->sport == b->sport && a->dport == b->dport && a->icmp_type == b->icmp_type &&
	       a->icmp_code == b->icmp_code && a->echo_id == b->echo_id && a->seq == b->seq &&
	       a->mtu == b->mtu && a->payload_len == b->payload_len &&
	       (!a->payload_len || !memcmp(a->payload, b->payload, a->payload_len));
}

static int is_echo(const struct ippkt *p)
{
	return p->icmp_type == (p->version == 4 ? 8 : 128) ||
	       p->icmp_type == (p->version == 4 ? 0 : 129);
}

/* Within [base, base + n)? */
static int inside(const uint8_t *p, size_t len, const uint8_t *base, size_t n)
{
	return p >= base && p <= base + n && len <= (size_t)(base + n - p);
}

/* The oracle for "may an error go about it": one host's source, no group destination. */
static int error_expected(const struct ippkt *p, int kind)
{
	static const uint8_t zero[16], loop6[16] = {[15] = 1};

	if (p->version == 4)
		return p->src[0] != 0 && p->src[0] != 127 && p->src[0] < 224 && p->dst[0] < 224;
	return p->src[0] != 0xff && memcmp(p->src, zero, 16) && memcmp(p->src, loop6, 16) &&
	       (p->dst[0] != 0xff || kind == IPPKT_ERR_TOOBIG);
}

static void check_error(const uint8_t *data, size_t size, const struct ippkt *p, uint8_t pick)
{
	static const uint8_t tc4[][2] = {{0, 0}, {3, 3}, {3, 1}, {3, 0}, {3, 13}, {3, 4}, {11, 0}};
	static const uint8_t tc6[][2] = {{0, 0}, {1, 4}, {1, 3}, {1, 0}, {1, 1}, {2, 0}, {3, 0}};
	struct ippkt_error e = {.kind = 1 + pick % 6, .ttl = pick, .ip_id = (uint16_t)(pick * 257)};
	struct ippkt er, q;
	size_t hdr, lim, qlen;
	int n, v;

	memset(e.src, pick, 16);
	e.mtu = pick & 1 ? 1280 : 1500;
	n = ippkt_build_error(out, sizeof(out), &e, data, size);
	if (n < 0) {
		if (n != -EINVAL && n != -EBADMSG && n != -EOPNOTSUPP)
			abort();
		/* a UDP datagram or an echo: nothing but its addresses may stop the error */
		if (p && (p->proto == IPPROTO_UDP || is_echo(p)) && error_expected(p, e.kind))
			abort();
		return;
	}
	if (p && !error_expected(p, e.kind))
		abort();
	v = data[0] >> 4;
	hdr = v == 4 ? IPPKT_HDR_V4 : IPPKT_HDR_V6;
	lim = v == 4 ? IPPKT_ERR_MAX_V4 : IPPKT_ERR_MAX_V6;
	qlen = size < lim - hdr ? size : lim - hdr;
	if ((size_t)n != hdr + qlen || ippkt_parse(out, (size_t)n, &er) != 0)
		abort();
	if (er.version != v || er.ttl != e.ttl || memcmp(er.src, e.src, v == 4 ? 4 : 16) ||
	    memcmp(er.dst, data + (v == 4 ? 12 : 8), v == 4 ? 4 : 16))
		abort();
	if (er.icmp_type != (v == 4 ? tc4 : tc6)[e.kind][0] ||
	    er.icmp_code != (v == 4 ? tc4 : tc6)[e.kind][1] ||
	    er.mtu != (e.kind == IPPKT_ERR_TOOBIG ? e.mtu : 0))
		abort();
	if (er.payload_len != qlen || memcmp(er.payload, data, qlen))
		abort();
	if (!p || (p->proto != IPPROTO_UDP && !is_echo(p)))
		return;
	/* the flow the error is about can be found again from its quote */
	if (ippkt_parse_quote(er.payload, er.payload_len, v, &q) != 0)
		abort();
	if (memcmp(q.src, p->src, 16) || memcmp(q.dst, p->dst, 16) || q.proto != p->proto ||
	    q.sport != p->sport || q.dport != p->dport || q.echo_id != p->echo_id ||
	    q.seq != p->seq || q.payload_len > p->payload_len ||
	    memcmp(q.payload, p->payload, q.payload_len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ippkt p, q;
	uint8_t pick = size ? data[size - 1] : 0;
	int r, n;

	r = ippkt_parse(data, size, &p);
	if (r < 0) {
		if (r != -EINVAL && r != -EBADMSG && r != -EPROTONOSUPPORT && r != -EOPNOTSUPP)
			abort();
		if (size >= 1)
			check_error(data, size, NULL, pick);
		return 0;
	}
	if ((p.version != 4 && p.version != 6) || !inside(p.payload, p.payload_len, data, size))
		abort();
	if (p.proto == IPPROTO_UDP || is_echo(&p)) {
		n = p.proto == IPPROTO_UDP ? ippkt_build_udp(out2, sizeof(out2), &p)
					   : ippkt_build_echo(out2, sizeof(out2), &p);
		/* options and extension headers are not rebuilt: never longer */
		if (n <= 0 || (size_t)n > size)
			abort();
		if (ippkt_parse(out2, (size_t)n, &q) != 0 || !same(&p, &q))
			abort();
		r = p.proto == IPPROTO_UDP ? ippkt_build_udp(out, (size_t)n - 1, &p)
					   : ippkt_build_echo(out, (size_t)n - 1, &p);
		if (r != -ENOSPC)
			abort();
	} else if (ippkt_parse_quote(p.payload, p.payload_len, p.version, &q) == 0) {
		if (q.version != p.version ||
		    !inside(q.payload, q.payload_len, p.payload, p.payload_len))
			abort();
	}
	check_error(data, size, &p, pick);
	return 0;
}
