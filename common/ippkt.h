/*
 * ippkt: the IP packet codec for UDP and ping through a TUN. It owns the
 * layout of IPv4 (RFC 791), IPv6 (RFC 8200), UDP (RFC 768), ICMP (RFC 792)
 * and ICMPv6 (RFC 4443) headers and their checksums (RFC 1071), as far as
 * sluice carries them: UDP datagrams, echo requests and replies, and the
 * ICMP errors that report on them. Pure functions, no I/O, only libc: the
 * static helper links it too.
 *
 * A packet is what one read() of a TUN opened with IFF_NO_PI returns: one
 * IP packet, nothing before it, and nothing after it either. Bytes past
 * the IP length are refused, not ignored: a TUN never adds any, so they
 * mean the length field lies.
 *
 * Errors, the same from every parser:
 *   -EINVAL           malformed: truncated, a length that does not add up,
 *                     a bad version or header length
 *   -EBADMSG          a checksum does not verify (an IPv6 UDP checksum of 0
 *                     included: RFC 8200 8.1 makes it mandatory)
 *   -EPROTONOSUPPORT  well-formed, but a protocol or ICMP type not carried
 *   -EOPNOTSUPP       well-formed, but a fragment (no reassembly here) or
 *                     an IPv6 routing header with segments left
 */
#ifndef SLUICE_IPPKT_H
#define SLUICE_IPPKT_H

#include <stddef.h>
#include <stdint.h>

/* The largest IPv4 packet, and the largest IPv6 one without jumbograms. */
#define IPPKT_MAX_V4 65535
#define IPPKT_MAX    (40 + 65535)
/* The most UDP data one packet carries: 65535 less the headers. */
#define IPPKT_UDP_MAX_V4 (65535 - 20 - 8)
#define IPPKT_UDP_MAX_V6 (65535 - 8)
/* Headers the builders write in front of UDP or echo data (no options). */
#define IPPKT_HDR_V4 (20 + 8)
#define IPPKT_HDR_V6 (40 + 8)
/* How long an ICMP error may be (RFC 1812 4.3.2.3, RFC 4443 2.4(c)). */
#define IPPKT_ERR_MAX_V4 576
#define IPPKT_ERR_MAX_V6 1280
#define IPPKT_TTL	 64

#define IPPKT_ICMP_ECHO_REPLY  0
#define IPPKT_ICMP_UNREACH     3
#define IPPKT_ICMP_ECHO	       8
#define IPPKT_ICMP_TIME	       11
#define IPPKT_ICMP6_UNREACH    1
#define IPPKT_ICMP6_TOOBIG     2
#define IPPKT_ICMP6_TIME       3
#define IPPKT_ICMP6_ECHO       128
#define IPPKT_ICMP6_ECHO_REPLY 129

/*
 * One packet's fields. The parsers fill it; the UDP and echo builders read
 * it, so parsing a packet and building from the result gives the packet
 * back (less IPv4 options and IPv6 extension headers).
 */
struct ippkt {
	uint8_t version; /* 4 or 6 */
	uint8_t proto;	 /* IPPROTO_UDP, IPPROTO_ICMP or IPPROTO_ICMPV6 */
	uint8_t ttl;	 /* TTL or hop limit */
	uint16_t ip_id;	 /* IPv4 identification; 0 for IPv6 */
	uint8_t src[16]; /* network order; IPv4 in the first 4 bytes, the rest 0 */
	uint8_t dst[16];
	uint16_t sport, dport;	/* UDP */
	uint8_t icmp_type;	/* ICMP or ICMPv6 */
	uint8_t icmp_code;	/* 0 for echo */
	uint16_t echo_id, seq;	/* echo request or reply */
	uint32_t mtu;		/* fragmentation needed or packet too big; else 0 */
	const uint8_t *payload; /* UDP data, echo data, or an error's quoted packet */
	size_t payload_len;	/* for a quote (ippkt_parse_quote): as much as is there */
};

/*
 * Parse one packet of len bytes from a TUN. On success (0) *p points into
 * pkt. Carried: UDP; ICMP and ICMPv6 echo request and reply; ICMP errors
 * (destination unreachable, time exceeded, and ICMPv6 packet too big),
 * whose payload is the quoted packet for ippkt_parse_quote. IPv4 options
 * and the IPv6 hop-by-hop, routing (segments left 0) and destination
 * options headers are skipped.
 */
int ippkt_parse(const uint8_t *pkt, size_t len, struct ippkt *p);

/*
 * Parse the packet an ICMP error quotes (version: the error's): the IP
 * header and the first 8 bytes of UDP or echo, enough to find the flow.
 * The quote may stop anywhere after those; its length fields may say
 * more. Nothing past the IP header is checksummed: the quote is partial.
 */
int ippkt_parse_quote(const uint8_t *q, size_t len, int version, struct ippkt *p);

/*
 * Builders write one whole packet at buf and return its length, or
 * -ENOSPC when cap is too small (nothing useful is left in buf then),
 * -EMSGSIZE when the data cannot fit any packet, -EINVAL for a bad field.
 * IPv4 packets go with DF set and p->ip_id. The data (p->payload) may lie
 * inside buf, e.g. read straight to buf + IPPKT_HDR_V4.
 */
int ippkt_build_udp(uint8_t *buf, size_t cap, const struct ippkt *p);
/* An echo request or reply, as p->icmp_type says (the family's own types). */
int ippkt_build_echo(uint8_t *buf, size_t cap, const struct ippkt *p);

enum ippkt_err {
	IPPKT_ERR_PORT = 1,   /* port unreachable: v4 3/3, v6 1/4 */
	IPPKT_ERR_HOST,	      /* host unreachable: v4 3/1, v6 1/3 */
	IPPKT_ERR_NET,	      /* no route: v4 3/0, v6 1/0 */
	IPPKT_ERR_PROHIBITED, /* administratively prohibited: v4 3/13, v6 1/1 */
	IPPKT_ERR_TOOBIG,     /* v4 3/4 with the next-hop MTU, v6 packet too big 2/0 */
	IPPKT_ERR_TTL,	      /* time exceeded in transit: v4 11/0, v6 3/0 */
};

struct ippkt_error {
	enum ippkt_err kind;
	uint32_t mtu;	 /* IPPKT_ERR_TOOBIG: 68..65535 for IPv4, >= 1280 for IPv6 */
	uint8_t src[16]; /* the error's source: a router's, or the unreachable host's */
	uint8_t ttl;
	uint16_t ip_id; /* IPv4 */
};

/*
 * An ICMP error about the packet pkt (len bytes, as read from the TUN), to
 * its source, quoting as much of it as the family's limit allows; its
 * family is pkt's. pkt's IP header must pass ippkt_parse's checks (its
 * error if not); what follows it is quoted unchecked. -EINVAL also when no
 * error may be sent about it (RFC 1122 3.2.2, RFC 4443 2.4(e)): it is an
 * ICMP error itself, or from an address that is not one host's, or (but
 * for too big, over IPv6) to a multicast or broadcast one. pkt may lie
 * inside buf.
 */
int ippkt_build_error(uint8_t *buf, size_t cap, const struct ippkt_error *e, const uint8_t *pkt,
		      size_t len);

#endif
