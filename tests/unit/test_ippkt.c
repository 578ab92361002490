/*
 * Unit tests for the IP packet codec: packets built by hand elsewhere,
 * round trips, every refusal, ICMP errors and their quotes.
 */
#include <errno.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

#include "../../common/ippkt.h"
#include "t.h"

/*
 * Known-good packets, from an independent generator (Python: struct.pack
 * of each header and a plain RFC 1071 sum, not this codec):
 *   csum(b): s = sum of the big-endian 16-bit words of b (zero-padded),
 *            folded into 16 bits, complemented
 *   udp4:  192.0.2.1:12345 -> 198.51.100.2:53, TTL 64, ID 0x1234, DF, "hello"
 *   udp6:  [2001:db8::1]:5353 -> [2001:db8::2]:53, hop limit 64, "hello"
 *   echo4: 192.0.2.1 -> 198.51.100.2 echo request id 0x0102 seq 3 "ping"
 *   echo6: 2001:db8::1 -> 2001:db8::2 echo request id 0x0102 seq 3 "ping"
 *   udp4_opts: as udp4 but ports 1000 -> 2000, "opt", options NOP NOP NOP EOL
 *   udp6_hbh:  as udp6 but ports 1000 -> 2000, "hbh", a hop-by-hop header
 *              holding router alert and PadN
 *   unreach4: 198.51.100.2 -> 192.0.2.1 port unreachable quoting udp4, ID 0
 *   toobig6:  2001:db8::fe -> 2001:db8::1 packet too big, MTU 1280, quoting udp6
 *   udp4_built, echo4_built, unreach4_built: udp4, echo4 and unreach4 as
 *              the codec builds them, without DF (the quote keeps udp4's)
 */
static const uint8_t udp4[] = {
    0x45, 0x00, 0x00, 0x21, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x3c,
    0x61, 0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x02, 0x30, 0x39,
    0x00, 0x35, 0x00, 0x0d, 0x9f, 0x5c, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
static const uint8_t udp6[] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x11, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x14, 0xe9,
    0x00, 0x35, 0x00, 0x0d, 0x4b, 0x6f, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
static const uint8_t echo4[] = {
    0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x3c, 0x72, 0xc0, 0x00, 0x02, 0x01,
    0xc6, 0x33, 0x64, 0x02, 0x08, 0x00, 0x18, 0x2a, 0x01, 0x02, 0x00, 0x03, 0x70, 0x69, 0x6e, 0x67,
};
static const uint8_t echo6[] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x3a, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01,
    0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x80, 0x00, 0x44, 0x6e, 0x01, 0x02, 0x00, 0x03, 0x70, 0x69, 0x6e, 0x67,
};
static const uint8_t udp4_opts[] = {
    0x46, 0x00, 0x00, 0x23, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x39, 0x5e,
    0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x02, 0x01, 0x01, 0x01, 0x00,
    0x03, 0xe8, 0x07, 0xd0, 0x00, 0x0b, 0x24, 0x78, 0x6f, 0x70, 0x74,
};
static const uint8_t udp6_hbh[] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x13, 0x00, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x11, 0x00, 0x05, 0x02, 0x00,
    0x00, 0x01, 0x00, 0x03, 0xe8, 0x07, 0xd0, 0x00, 0x0b, 0xc8, 0x48, 0x68, 0x62, 0x68,
};
static const uint8_t unreach4[] = {
    0x45, 0x00, 0x00, 0x3d, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01, 0x4e, 0x89, 0xc6, 0x33, 0x64, 0x02,
    0xc0, 0x00, 0x02, 0x01, 0x03, 0x03, 0xe9, 0x52, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x21,
    0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x3c, 0x61, 0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x02,
    0x30, 0x39, 0x00, 0x35, 0x00, 0x0d, 0x9f, 0x5c, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
static const uint8_t toobig6[] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x3d, 0x3a, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x2a, 0xe8, 0x00,
    0x00, 0x05, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x11, 0x40, 0x20, 0x01, 0x0d, 0xb8,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d,
    0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x14, 0xe9,
    0x00, 0x35, 0x00, 0x0d, 0x4b, 0x6f, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

static const uint8_t udp4_built[] = {
    0x45, 0x00, 0x00, 0x21, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0x7c,
    0x61, 0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x02, 0x30, 0x39,
    0x00, 0x35, 0x00, 0x0d, 0x9f, 0x5c, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};
static const uint8_t echo4_built[] = {
    0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x00, 0x00, 0x40, 0x01, 0x7c, 0x72, 0xc0, 0x00, 0x02, 0x01,
    0xc6, 0x33, 0x64, 0x02, 0x08, 0x00, 0x18, 0x2a, 0x01, 0x02, 0x00, 0x03, 0x70, 0x69, 0x6e, 0x67,
};
static const uint8_t unreach4_built[] = {
    0x45, 0x00, 0x00, 0x3d, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01, 0x8e, 0x89, 0xc6, 0x33, 0x64, 0x02,
    0xc0, 0x00, 0x02, 0x01, 0x03, 0x03, 0xe9, 0x52, 0x00, 0x00, 0x00, 0x00, 0x45, 0x00, 0x00, 0x21,
    0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x3c, 0x61, 0xc0, 0x00, 0x02, 0x01, 0xc6, 0x33, 0x64, 0x02,
    0x30, 0x39, 0x00, 0x35, 0x00, 0x0d, 0x9f, 0x5c, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

/* The well-known IPv4 header of RFC 1071-style worked examples: checksum 0xb861. */
static const uint8_t known_hdr[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
				      0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

static const uint8_t a4_1[16] = {192, 0, 2, 1}, a4_2[16] = {198, 51, 100, 2};
static const uint8_t a6_1[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t a6_2[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};

static uint8_t buf[IPPKT_MAX], buf2[IPPKT_MAX], big[IPPKT_MAX];

/* The test's own RFC 1071 sum, to repair a header after editing it. */
static uint16_t t_csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i < n; i += 2)
		s += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void fix_v4_hdr(uint8_t *p)
{
	uint16_t c;

	p[10] = p[11] = 0;
	c = t_csum(p, (size_t)(p[0] & 15) * 4);
	p[10] = (uint8_t)(c >> 8);
	p[11] = (uint8_t)c;
}

static size_t copy(uint8_t *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	return n;
}

static int same(const struct ippkt *a, const struct ippkt *b)
{
	return a->version == b->version && a->proto == b->proto && a->ttl == b->ttl &&
	       a->ip_id == b->ip_id && !memcmp(a->src, b->src, 16) && !memcmp(a->dst, b->dst, 16) &&
	       a->sport == b->sport && a->dport == b->dport && a->icmp_type == b->icmp_type &&
	       a->icmp_code == b->icmp_code && a->echo_id == b->echo_id && a->seq == b->seq &&
	       a->mtu == b->mtu && a->payload_len == b->payload_len &&
	       (!a->payload_len || !memcmp(a->payload, b->payload, a->payload_len));
}

static void test_parse_known(void)
{
	struct ippkt p;

	CHECK_EQ_INT(ippkt_parse(udp4, sizeof(udp4), &p), 0);
	CHECK_EQ_INT(p.version, 4);
	CHECK_EQ_INT(p.proto, IPPROTO_UDP);
	CHECK_EQ_INT(p.ttl, 64);
	CHECK_EQ_INT(p.ip_id, 0x1234);
	CHECK(!memcmp(p.src, a4_1, 16) && !memcmp(p.dst, a4_2, 16));
	CHECK_EQ_INT(p.sport, 12345);
	CHECK_EQ_INT(p.dport, 53);
	CHECK(p.payload_len == 5 && !memcmp(p.payload, "hello", 5));

	CHECK_EQ_INT(ippkt_parse(udp6, sizeof(udp6), &p), 0);
	CHECK_EQ_INT(p.version, 6);
	CHECK_EQ_INT(p.proto, IPPROTO_UDP);
	CHECK_EQ_INT(p.ttl, 64);
	CHECK_EQ_INT(p.ip_id, 0);
	CHECK(!memcmp(p.src, a6_1, 16) && !memcmp(p.dst, a6_2, 16));
	CHECK_EQ_INT(p.sport, 5353);
	CHECK_EQ_INT(p.dport, 53);
	CHECK(p.payload_len == 5 && !memcmp(p.payload, "hello", 5));

	CHECK_EQ_INT(ippkt_parse(echo4, sizeof(echo4), &p), 0);
	CHECK_EQ_INT(p.proto, IPPROTO_ICMP);
	CHECK_EQ_INT(p.icmp_type, IPPKT_ICMP_ECHO);
	CHECK_EQ_INT(p.echo_id, 0x0102);
	CHECK_EQ_INT(p.seq, 3);
	CHECK(p.payload_len == 4 && !memcmp(p.payload, "ping", 4));

	CHECK_EQ_INT(ippkt_parse(echo6, sizeof(echo6), &p), 0);
	CHECK_EQ_INT(p.proto, IPPROTO_ICMPV6);
	CHECK_EQ_INT(p.icmp_type, IPPKT_ICMP6_ECHO);
	CHECK_EQ_INT(p.echo_id, 0x0102);
	CHECK_EQ_INT(p.seq, 3);
	CHECK(p.payload_len == 4 && !memcmp(p.payload, "ping", 4));
}

/* Building from the known packets' fields gives them byte for byte. */
static void test_build_known(void)
{
	struct ippkt p = {.version = 4,
			  .ttl = 64,
			  .ip_id = 0x1234,
			  .sport = 12345,
			  .dport = 53,
			  .payload = (const uint8_t *)"hello",
			  .payload_len = 5};

	memcpy(p.src, a4_1, 16);
	memcpy(p.dst, a4_2, 16);
	CHECK_EQ_INT(ippkt_build_udp(buf, sizeof(buf), &p), sizeof(udp4_built));
	CHECK(!memcmp(buf, udp4_built, sizeof(udp4_built)));

	p.version = 6;
	p.sport = 5353;
	memcpy(p.src, a6_1, 16);
	memcpy(p.dst, a6_2, 16);
	CHECK_EQ_INT(ippkt_build_udp(buf, sizeof(buf), &p), sizeof(udp6));
	CHECK(!memcmp(buf, udp6, sizeof(udp6)));

	p.icmp_type = IPPKT_ICMP6_ECHO;
	p.echo_id = 0x0102;
	p.seq = 3;
	p.payload = (const uint8_t *)"ping";
	p.payload_len = 4;
	CHECK_EQ_INT(ippkt_build_echo(buf, sizeof(buf), &p), sizeof(echo6));
	CHECK(!memcmp(buf, echo6, sizeof(echo6)));

	p.version = 4;
	p.icmp_type = IPPKT_ICMP_ECHO;
	memcpy(p.src, a4_1, 16);
	memcpy(p.dst, a4_2, 16);
	CHECK_EQ_INT(ippkt_build_echo(buf, sizeof(buf), &p), sizeof(echo4_built));
	CHECK(!memcmp(buf, echo4_built, sizeof(echo4_built)));
}

/* The classic header: its checksum verifies, and one flipped bit anywhere fails it. */
static void test_known_header_checksum(void)
{
	struct ippkt p;
	size_t n = 0x73;

	memset(big, 0, n);
	memcpy(big, known_hdr, 20);
	big[20] = 0x04; /* UDP 1024 -> 1025, length 95, no checksum */
	big[22] = 0x04;
	big[23] = 0x01;
	big[25] = 95;
	CHECK_EQ_INT(ippkt_parse(big, n, &p), 0);
	CHECK_EQ_INT(p.dport, 1025);
	CHECK_EQ_INT(p.payload_len, 87);
	for (int bit = 0; bit < 160; bit++) {
		memcpy(buf, big, n);
		buf[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		/* bits that change a length or the version fail sooner, as malformed */
		if (ippkt_parse(buf, n, &p) >= 0) {
			CHECK(!"a flipped header bit went unnoticed");
			printf("  bit %d\n", bit);
		}
	}
	big[11] ^= 1;
	CHECK_EQ_INT(ippkt_parse(big, n, &p), -EBADMSG);
}

static void test_options_and_hop_by_hop(void)
{
	struct ippkt p, q;
	int n;

	CHECK_EQ_INT(ippkt_parse(udp4_opts, sizeof(udp4_opts), &p), 0);
	CHECK_EQ_INT(p.sport, 1000);
	CHECK_EQ_INT(p.dport, 2000);
	CHECK(p.payload_len == 3 && !memcmp(p.payload, "opt", 3));
	n = ippkt_build_udp(buf, sizeof(buf), &p);
	CHECK_EQ_INT(n, sizeof(udp4_opts) - 4);
	CHECK_EQ_INT(ippkt_parse(buf, (size_t)n, &q), 0);
	CHECK(same(&p, &q));

	CHECK_EQ_INT(ippkt_parse(udp6_hbh, sizeof(udp6_hbh), &p), 0);
	CHECK_EQ_INT(p.proto, IPPROTO_UDP);
	CHECK_EQ_INT(p.sport, 1000);
	CHECK(p.payload_len == 3 && !memcmp(p.payload, "hbh", 3));
	n = ippkt_build_udp(buf, sizeof(buf), &p);
	CHECK_EQ_INT(n, sizeof(udp6_hbh) - 8);
	CHECK_EQ_INT(ippkt_parse(buf, (size_t)n, &q), 0);
	CHECK(same(&p, &q));
}

/* Build then parse, both families, UDP and echo, odd and even and extreme sizes. */
static void test_round_trip(void)
{
	static const size_t sizes[] = {
	    0, 1, 2, 3, 7, 8, 1000, 1473, IPPKT_UDP_MAX_V4, IPPKT_UDP_MAX_V6};
	struct ippkt p = {.ttl = 17, .ip_id = 0xbeef, .sport = 40000, .dport = 4500}, q;
	int n;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	p.payload = big;
	for (int v = 4; v <= 6; v += 2) {
		p.version = (uint8_t)v;
		memcpy(p.src, v == 4 ? a4_1 : a6_1, 16);
		memcpy(p.dst, v == 4 ? a4_2 : a6_2, 16);
		p.ip_id = v == 4 ? 0xbeef : 0;
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			size_t max = v == 4 ? IPPKT_UDP_MAX_V4 : IPPKT_UDP_MAX_V6;

			p.payload_len = sizes[s];
			p.proto = IPPROTO_UDP;
			p.icmp_type = 0;
			p.echo_id = p.seq = 0;
			n = ippkt_build_udp(buf, sizeof(buf), &p);
			if (sizes[s] > max) {
				CHECK_EQ_INT(n, -EMSGSIZE);
				continue;
			}
			CHECK_EQ_INT(n, (v == 4 ? IPPKT_HDR_V4 : IPPKT_HDR_V6) + sizes[s]);
			CHECK_EQ_INT(ippkt_parse(buf, (size_t)n, &q), 0);
			CHECK(same(&p, &q) || !printf("  udp v%d size %zu\n", v, sizes[s]));

			p.proto = v == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
			p.sport = p.dport = 0;
			for (int reply = 0; reply < 2; reply++) {
				p.icmp_type = v == 4 ? (reply ? 0 : 8) : (reply ? 129 : 128);
				p.echo_id = 0xffff;
				p.seq = (uint16_t)sizes[s];
				n = ippkt_build_echo(buf, sizeof(buf), &p);
				CHECK_EQ_INT(n, (v == 4 ? IPPKT_HDR_V4 : IPPKT_HDR_V6) + sizes[s]);
				CHECK_EQ_INT(ippkt_parse(buf, (size_t)n, &q), 0);
				CHECK(same(&p, &q) ||
				      !printf("  echo v%d size %zu\n", v, sizes[s]));
			}
			p.sport = 40000;
			p.dport = 4500;
		}
	}
}

/* Every proper prefix of a good packet is truncated, and so refused as malformed. */
static void test_every_prefix(void)
{
	static const struct {
		const uint8_t *p;
		size_t n;
	} pk[] = {{udp4, sizeof(udp4)},		  {udp6, sizeof(udp6)},
		  {echo4, sizeof(echo4)},	  {echo6, sizeof(echo6)},
		  {udp4_opts, sizeof(udp4_opts)}, {udp6_hbh, sizeof(udp6_hbh)},
		  {unreach4, sizeof(unreach4)},	  {toobig6, sizeof(toobig6)}};
	struct ippkt p;

	for (size_t i = 0; i < sizeof(pk) / sizeof(pk[0]); i++) {
		CHECK_EQ_INT(ippkt_parse(pk[i].p, pk[i].n, &p), 0);
		for (size_t n = 0; n < pk[i].n; n++) {
			/* a copy of exactly n bytes, so ASan sees any read past them */
			uint8_t *c = malloc(n ? n : 1);

			memcpy(c, pk[i].p, n);
			CHECK_EQ_INT(ippkt_parse(c, n, &p), -EINVAL);
			free(c);
		}
		/* and trailing bytes past the IP length are refused too */
		memcpy(buf, pk[i].p, pk[i].n);
		buf[pk[i].n] = 0;
		CHECK_EQ_INT(ippkt_parse(buf, pk[i].n + 1, &p), -EINVAL);
	}
}

static void test_bad_ip_header(void)
{
	struct ippkt p;
	size_t n;

	n = copy(buf, udp4, sizeof(udp4));
	buf[0] = 0x55; /* version 5 */
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[0] = 0x05;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[0] = 0x65; /* says 6, is 4: too short a v6 payload length */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[0] = 0x44; /* IHL 4 */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[0] = 0x4f; /* IHL 15: 60 bytes, more than there are */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[0] = 0x46; /* IHL 6: the UDP header's first word read as an option */
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);

	n = copy(buf, udp4, sizeof(udp4));
	buf[3] = 19; /* total length under the header */
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[3] = (uint8_t)(n + 1); /* past the buffer */
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[2] = 0xff;
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);

	n = copy(buf, udp6, sizeof(udp6));
	buf[0] = 0x70;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[0] = 0x40; /* says 4, is 6 */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p) < 0, 1);
	buf[0] = 0x60;
	buf[5]++; /* payload length past the buffer */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[5] -= 2; /* short of it */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[4] = 0xff;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
}

/* UDP's own length must match the IP payload exactly. */
static void test_udp_length(void)
{
	struct ippkt p;
	size_t n;

	for (int v6 = 0; v6 < 2; v6++) {
		n = copy(buf, v6 ? udp6 : udp4, v6 ? sizeof(udp6) : sizeof(udp4));
		size_t u = v6 ? 40 : 20;

		buf[u + 5]++;
		CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
		buf[u + 5] -= 2;
		CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
		buf[u + 5] = 7; /* under its own header */
		CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	}
	/* an IP payload too short for a UDP header at all */
	n = copy(buf, udp4, 27);
	buf[3] = 27;
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	n = copy(buf, echo4, 27);
	buf[3] = 27;
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
}

static void test_fragments(void)
{
	struct ippkt p;
	size_t n;

	n = copy(buf, udp4, sizeof(udp4));
	buf[6] = 0x20; /* MF */
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EOPNOTSUPP);
	buf[6] = 0x00;
	buf[7] = 0x01; /* offset 8 */
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EOPNOTSUPP);
	buf[6] = 0x1f;
	buf[7] = 0xff;
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EOPNOTSUPP);
	buf[6] = buf[7] = 0; /* no DF: fine */
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), 0);

	/* IPv6: udp6_hbh with its hop-by-hop header turned into a fragment header */
	n = copy(buf, udp6_hbh, sizeof(udp6_hbh));
	buf[6] = 44;
	memset(buf + 42, 0, 6); /* offset 0, M 0: an atomic fragment is refused too */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EOPNOTSUPP);
}

/* The extension headers we step over, and how they can be wrong. */
static void test_v6_extension_headers(void)
{
	struct ippkt p;
	size_t n;

	/* destination options, same layout */
	n = copy(buf, udp6_hbh, sizeof(udp6_hbh));
	buf[6] = 60;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), 0);
	CHECK_EQ_INT(p.dport, 2000);
	/* routing header, segments left 0: the destination is final; else it is not */
	buf[6] = 43;
	buf[42] = 0;
	buf[43] = 0;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), 0);
	buf[43] = 1;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EOPNOTSUPP);
	/* an option running past its header */
	n = copy(buf, udp6_hbh, sizeof(udp6_hbh));
	buf[47] = 1; /* PadN of 1 where 0 fits */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[47] = 0;
	buf[43] = 5; /* router alert's length, one past the header's end */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[43] = 4; /* swallowing the PadN exactly: still well-formed */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), 0);
	buf[43] = 2;
	/* header length past the packet */
	buf[41] = 1;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[41] = 0;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), 0);
	/* hop-by-hop anywhere but first: dest options, then hop-by-hop */
	memcpy(buf, udp6_hbh, 48);
	memcpy(buf + 48, udp6_hbh + 40, sizeof(udp6_hbh) - 40);
	buf[5] += 8;
	buf[6] = 60;
	buf[40] = 0;
	n = sizeof(udp6_hbh) + 8;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	buf[40] = 60; /* two destination options headers in a row: well-formed */
	buf[48] = 17;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), 0);
	/* no next header at all */
	n = copy(buf, udp6_hbh, sizeof(udp6_hbh));
	buf[40] = 59;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EPROTONOSUPPORT);
}

static void set_icmp(uint8_t *m, size_t n, int v6, const uint8_t *ip6hdr, uint8_t type,
		     uint8_t code)
{
	uint8_t ph[40 + 4096];
	uint16_t c;

	m[0] = type;
	m[1] = code;
	m[2] = m[3] = 0;
	if (v6) { /* src, dst, length, zeros, next header */
		memcpy(ph, ip6hdr + 8, 32);
		memset(ph + 32, 0, 8);
		ph[34] = (uint8_t)(n >> 8);
		ph[35] = (uint8_t)n;
		ph[39] = 58;
		memcpy(ph + 40, m, n);
		c = t_csum(ph, 40 + n);
	} else {
		c = t_csum(m, n);
	}
	m[2] = (uint8_t)(c >> 8);
	m[3] = (uint8_t)c;
}

static void test_unsupported(void)
{
	struct ippkt p;
	size_t n;

	n = copy(buf, udp4, sizeof(udp4));
	buf[9] = 6; /* TCP */
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EPROTONOSUPPORT);
	buf[9] = 58; /* ICMPv6 inside IPv4 */
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EPROTONOSUPPORT);
	n = copy(buf, udp6, sizeof(udp6));
	buf[6] = 6;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EPROTONOSUPPORT);
	buf[6] = 1; /* ICMP inside IPv6 */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EPROTONOSUPPORT);

	/* ICMP types not carried, checksums right: timestamp, neighbour solicitation */
	n = copy(buf, echo4, sizeof(echo4));
	set_icmp(buf + 20, n - 20, 0, buf, 13, 0);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EPROTONOSUPPORT);
	set_icmp(buf + 20, n - 20, 0, buf, 8, 1); /* echo with a code */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EINVAL);
	set_icmp(buf + 20, n - 20, 0, buf, 8, 0);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), 0);
	n = copy(buf, echo6, sizeof(echo6));
	set_icmp(buf + 40, n - 40, 1, buf, 135, 0);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EPROTONOSUPPORT);
	set_icmp(buf + 40, n - 40, 1, buf, 8, 0); /* v4's echo type in v6 */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EPROTONOSUPPORT);
	set_icmp(buf + 40, n - 40, 1, buf, 129, 0);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), 0);
	CHECK_EQ_INT(p.icmp_type, IPPKT_ICMP6_ECHO_REPLY);
}

/* One flipped bit in data, checksum or a pseudo-header address fails the checksum. */
static void test_bad_checksums(void)
{
	static const struct {
		const uint8_t *p;
		size_t n, l3;
	} pk[] = {{udp4, sizeof(udp4), 20},
		  {udp6, sizeof(udp6), 40},
		  {echo4, sizeof(echo4), 20},
		  {echo6, sizeof(echo6), 40}};
	struct ippkt p;
	size_t n;

	for (size_t i = 0; i < sizeof(pk) / sizeof(pk[0]); i++) {
		for (size_t at = pk[i].l3; at < pk[i].n; at++) {
			/* the length field and ICMP's type fail sooner, for other reasons */
			if ((pk[i].p == udp4 || pk[i].p == udp6) &&
			    (at == pk[i].l3 + 4 || at == pk[i].l3 + 5))
				continue;
			if ((pk[i].p == echo4 || pk[i].p == echo6) && at <= pk[i].l3 + 1)
				continue;
			n = copy(buf, pk[i].p, pk[i].n);
			buf[at] ^= 0x10;
			CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EBADMSG);
		}
	}
	/* the pseudo-header covers the addresses: IPv4 UDP, IPv6 UDP and ICMPv6 */
	n = copy(buf, udp4, sizeof(udp4));
	buf[15] ^= 1;
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EBADMSG);
	n = copy(buf, udp6, sizeof(udp6));
	buf[39] ^= 1;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EBADMSG);
	n = copy(buf, echo6, sizeof(echo6));
	buf[23] ^= 1;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EBADMSG);
	/* ICMPv4 has none: a changed address leaves its checksum right */
	n = copy(buf, echo4, sizeof(echo4));
	buf[15] ^= 1;
	fix_v4_hdr(buf);
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), 0);
	/* the IPv4 header checksum itself */
	n = copy(buf, echo4, sizeof(echo4));
	buf[11] ^= 1;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EBADMSG);
}

/* 0 in the UDP checksum: "none" over IPv4, refused over IPv6. */
static void test_udp_checksum_zero(void)
{
	struct ippkt p;
	size_t n;

	n = copy(buf, udp4, sizeof(udp4));
	buf[26] = buf[27] = 0;
	buf[30] ^= 0xff; /* no checksum: a change in the data goes unseen */
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), 0);
	CHECK(p.payload_len == 5 && p.payload[2] == ('l' ^ 0xff));
	n = copy(buf, udp6, sizeof(udp6));
	buf[46] = buf[47] = 0;
	CHECK_EQ_INT(ippkt_parse(buf, n, &p), -EBADMSG);
}

/*
 * Data whose UDP checksum computes to 0, found by the generator above:
 * 1 -> 2 from udp4's addresses with data 13 a0, and from udp6's with a4 62.
 * Sent as 0xffff, which must verify.
 */
static void test_udp_checksum_ffff(void)
{
	static const uint8_t d4[] = {0x13, 0xa0}, d6[] = {0xa4, 0x62};
	struct ippkt p = {.version = 4,
			  .proto = IPPROTO_UDP,
			  .ttl = 64,
			  .ip_id = 0x1234,
			  .sport = 1,
			  .dport = 2,
			  .payload = d4,
			  .payload_len = 2},
		     q;
	int n;

	memcpy(p.src, a4_1, 16);
	memcpy(p.dst, a4_2, 16);
	n = ippkt_build_udp(buf, sizeof(buf), &p);
	CHECK_EQ_INT(n, 30);
	CHECK(buf[26] == 0xff && buf[27] == 0xff);
	CHECK_EQ_INT(ippkt_parse(buf, (size_t)n, &q), 0);
	CHECK(same(&p, &q));

	p.version = 6;
	p.ip_id = 0;
	p.payload = d6;
	memcpy(p.src, a6_1, 16);
	memcpy(p.dst, a6_2, 16);
	n = ippkt_build_udp(buf, sizeof(buf), &p);
	CHECK_EQ_INT(n, 50);
	CHECK(buf[46] == 0xff && buf[47] == 0xff);
	CHECK_EQ_INT(ippkt_parse(buf, (size_t)n, &q), 0);
	CHECK(same(&p, &q));
}

static void test_error_known(void)
{
	struct ippkt_error e = {.kind = IPPKT_ERR_PORT, .ttl = 64, .ip_id = 0};
	struct ippkt p, q;
	int n;

	memcpy(e.src, a4_2, 16); /* the unreachable host says it, as a real one would */
	n = ippkt_build_error(buf, sizeof(buf), &e, udp4, sizeof(udp4));
	CHECK_EQ_INT(n, sizeof(unreach4_built));
	CHECK(!memcmp(buf, unreach4_built, sizeof(unreach4_built)));

	CHECK_EQ_INT(ippkt_parse(unreach4, sizeof(unreach4), &p), 0);
	CHECK_EQ_INT(p.proto, IPPROTO_ICMP);
	CHECK_EQ_INT(p.icmp_type, IPPKT_ICMP_UNREACH);
	CHECK_EQ_INT(p.icmp_code, 3);
	CHECK_EQ_INT(p.mtu, 0);
	CHECK(!memcmp(p.dst, a4_1, 16) && !memcmp(p.src, a4_2, 16));
	CHECK(p.payload_len == sizeof(udp4) && !memcmp(p.payload, udp4, sizeof(udp4)));
	CHECK_EQ_INT(ippkt_parse_quote(p.payload, p.payload_len, 4, &q), 0);
	CHECK(!memcmp(q.src, a4_1, 16) && !memcmp(q.dst, a4_2, 16));
	CHECK_EQ_INT(q.sport, 12345);
	CHECK_EQ_INT(q.dport, 53);
	CHECK(q.payload_len == 5 && !memcmp(q.payload, "hello", 5));

	e.kind = IPPKT_ERR_TOOBIG;
	e.mtu = 1280;
	memcpy(e.src, toobig6 + 8, 16);
	n = ippkt_build_error(buf, sizeof(buf), &e, udp6, sizeof(udp6));
	CHECK_EQ_INT(n, sizeof(toobig6));
	CHECK(!memcmp(buf, toobig6, sizeof(toobig6)));
	CHECK_EQ_INT(ippkt_parse(toobig6, sizeof(toobig6), &p), 0);
	CHECK_EQ_INT(p.icmp_type, IPPKT_ICMP6_TOOBIG);
	CHECK_EQ_INT(p.mtu, 1280);
	CHECK(!memcmp(p.dst, a6_1, 16));
	CHECK_EQ_INT(ippkt_parse_quote(p.payload, p.payload_len, 6, &q), 0);
	CHECK_EQ_INT(q.sport, 5353);
	CHECK(!memcmp(q.dst, a6_2, 16));
}

/* Each kind's type and code, and the MTU where it goes. */
static void test_error_kinds(void)
{
	static const struct {
		enum ippkt_err kind;
		uint8_t t4, c4, t6, c6;
	} k[] = {{IPPKT_ERR_PORT, 3, 3, 1, 4},	 {IPPKT_ERR_HOST, 3, 1, 1, 3},
		 {IPPKT_ERR_NET, 3, 0, 1, 0},	 {IPPKT_ERR_PROHIBITED, 3, 13, 1, 1},
		 {IPPKT_ERR_TOOBIG, 3, 4, 2, 0}, {IPPKT_ERR_TTL, 11, 0, 3, 0}};
	struct ippkt_error e = {.ttl = 255, .mtu = 1400};
	struct ippkt p;
	int n;

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		e.kind = k[i].kind;
		memcpy(e.src, a4_2, 16);
		n = ippkt_build_error(buf, sizeof(buf), &e, echo4, sizeof(echo4));
		CHECK_EQ_INT(n, 28 + sizeof(echo4));
		CHECK_EQ_INT(ippkt_parse(buf, (size_t)n, &p), 0);
		CHECK(p.icmp_type == k[i].t4 && p.icmp_code == k[i].c4);
		CHECK_EQ_INT(p.mtu, k[i].kind == IPPKT_ERR_TOOBIG ? 1400 : 0);
		CHECK_EQ_INT(p.ttl, 255);
		CHECK(buf[24] == 0 && buf[25] == 0); /* unused, as RFC 1191 leaves it */

		memcpy(e.src, a6_2, 16);
		n = ippkt_build_error(buf, sizeof(buf), &e, echo6, sizeof(echo6));
		CHECK_EQ_INT(n, 48 + sizeof(echo6));
		CHECK_EQ_INT(ippkt_parse(buf, (size_t)n, &p), 0);
		CHECK(p.icmp_type == k[i].t6 && p.icmp_code == k[i].c6);
		CHECK_EQ_INT(p.mtu, k[i].kind == IPPKT_ERR_TOOBIG ? 1400 : 0);
	}
}

/* Big offenders: the quote stops at 576 (IPv4) and 1280 (IPv6) bytes in all. */
static void test_error_quote_limits(void)
{
	struct ippkt o = {.ttl = 64, .sport = 1111, .dport = 2222, .payload = big}, p, q;
	struct ippkt_error e = {.kind = IPPKT_ERR_TOOBIG, .ttl = 64};
	static const size_t sizes[] = {0, 100, 547 - 28, 548 - 28, 549 - 28, 1400, 65000};
	int n, m;

	for (int v = 4; v <= 6; v += 2) {
		size_t lim = v == 4 ? IPPKT_ERR_MAX_V4 : IPPKT_ERR_MAX_V6;
		size_t hdr = v == 4 ? IPPKT_HDR_V4 : IPPKT_HDR_V6;

		o.version = (uint8_t)v;
		memcpy(o.src, v == 4 ? a4_1 : a6_1, 16);
		memcpy(o.dst, v == 4 ? a4_2 : a6_2, 16);
		memcpy(e.src, v == 4 ? a4_2 : a6_2, 16);
		e.mtu = v == 4 ? 576 : 1280;
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			o.payload_len = sizes[s];
			m = ippkt_build_udp(buf2, sizeof(buf2), &o);
			CHECK(m > 0);
			n = ippkt_build_error(buf, sizeof(buf), &e, buf2, (size_t)m);
			CHECK_EQ_INT(n, (size_t)m + hdr < lim ? (size_t)m + hdr : lim);
			CHECK_EQ_INT(ippkt_parse(buf, (size_t)n, &p), 0);
			CHECK(!memcmp(p.payload, buf2, p.payload_len));
			CHECK_EQ_INT(ippkt_parse_quote(p.payload, p.payload_len, v, &q), 0);
			CHECK(!memcmp(q.src, o.src, 16) && !memcmp(q.dst, o.dst, 16));
			CHECK(q.sport == 1111 && q.dport == 2222);
			CHECK_EQ_INT(q.payload_len, (size_t)n - 2 * hdr);
			CHECK(!memcmp(q.payload, big, q.payload_len));
		}
	}
}

static void test_error_refusals(void)
{
	struct ippkt_error e = {.kind = IPPKT_ERR_HOST, .ttl = 64};
	struct ippkt o = {.version = 4, .ttl = 64, .sport = 1, .dport = 2}, p;
	int n, m;

	memcpy(e.src, a4_2, 16);
	/* about an error: never */
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, unreach4, sizeof(unreach4)), -EINVAL);
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, toobig6, sizeof(toobig6)), -EINVAL);
	/* about an echo reply: yes */
	n = copy(buf2, echo4, sizeof(echo4));
	set_icmp(buf2 + 20, (size_t)n - 20, 0, buf2, 0, 0);
	CHECK(ippkt_build_error(buf, sizeof(buf), &e, buf2, (size_t)n) > 0);
	/* about what ippkt_parse refuses: its error */
	n = copy(buf2, udp4, sizeof(udp4));
	buf2[11] ^= 1;
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, buf2, (size_t)n), -EBADMSG);
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, udp4, sizeof(udp4) - 1), -EINVAL);
	buf2[11] ^= 1;
	buf2[6] = 0x20;
	fix_v4_hdr(buf2);
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, buf2, (size_t)n), -EOPNOTSUPP);
	/* but not what it refuses past the IP header: TCP is quoted like anything */
	n = copy(buf2, udp4, sizeof(udp4));
	buf2[9] = 6;
	fix_v4_hdr(buf2);
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, buf2, (size_t)n), 28 + n);

	/* from or to addresses that are not one host's */
	static const uint8_t bad_src4[][4] = {
	    {0, 0, 0, 0}, {127, 0, 0, 1}, {224, 0, 0, 1}, {240, 0, 0, 1}, {255, 255, 255, 255}};
	for (size_t i = 0; i < sizeof(bad_src4) / sizeof(bad_src4[0]); i++) {
		memset(o.src, 0, 16);
		memcpy(o.src, bad_src4[i], 4);
		memcpy(o.dst, a4_2, 16);
		m = ippkt_build_udp(buf2, sizeof(buf2), &o);
		CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, buf2, (size_t)m), -EINVAL);
		memcpy(o.src, a4_1, 16);
		memset(o.dst, 0, 16);
		memcpy(o.dst, bad_src4[i], 4);
		m = ippkt_build_udp(buf2, sizeof(buf2), &o);
		n = ippkt_build_error(buf, sizeof(buf), &e, buf2, (size_t)m);
		CHECK_EQ_INT(n, bad_src4[i][0] >= 224 ? -EINVAL : 28 + m);
	}
	static const uint8_t zero6[16], loop6[16] = {[15] = 1}, mc6[16] = {0xff, 0x02, [15] = 1};
	const uint8_t *bad6[] = {zero6, loop6, mc6};
	o.version = 6;
	memcpy(e.src, a6_2, 16);
	for (size_t i = 0; i < 3; i++) {
		memcpy(o.src, bad6[i], 16);
		memcpy(o.dst, a6_2, 16);
		m = ippkt_build_udp(buf2, sizeof(buf2), &o);
		CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, buf2, (size_t)m), -EINVAL);
	}
	/* to multicast: only too big (RFC 4443 2.4(e.2)) */
	memcpy(o.src, a6_1, 16);
	memcpy(o.dst, mc6, 16);
	m = ippkt_build_udp(buf2, sizeof(buf2), &o);
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, buf2, (size_t)m), -EINVAL);
	e.kind = IPPKT_ERR_TOOBIG;
	e.mtu = 1280;
	n = ippkt_build_error(buf, sizeof(buf), &e, buf2, (size_t)m);
	CHECK_EQ_INT(n, 48 + m);
	CHECK_EQ_INT(ippkt_parse(buf, (size_t)n, &p), 0);

	/* MTUs no link has, and kinds that are none */
	e.mtu = 1279;
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, udp6, sizeof(udp6)), -EINVAL);
	memcpy(e.src, a4_2, 16);
	e.mtu = 67;
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, udp4, sizeof(udp4)), -EINVAL);
	e.mtu = 65536;
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, udp4, sizeof(udp4)), -EINVAL);
	e.mtu = 68;
	CHECK(ippkt_build_error(buf, sizeof(buf), &e, udp4, sizeof(udp4)) > 0);
	e.kind = 0;
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, udp4, sizeof(udp4)), -EINVAL);
	e.kind = IPPKT_ERR_TTL + 1;
	CHECK_EQ_INT(ippkt_build_error(buf, sizeof(buf), &e, udp4, sizeof(udp4)), -EINVAL);
}

static void test_quote_refusals(void)
{
	struct ippkt p;

	/* every length from nothing to the 8 transport bytes is too short; then any will do */
	for (size_t n = 0; n <= sizeof(udp6); n++) {
		uint8_t *c = malloc(n ? n : 1);

		memcpy(c, udp6, n);
		CHECK_EQ_INT(ippkt_parse_quote(c, n, 6, &p), n < 48 ? -EINVAL : 0);
		if (n >= 48)
			CHECK_EQ_INT(p.payload_len, n - 48);
		free(c);
	}
	for (size_t n = 0; n <= sizeof(echo4); n++) {
		uint8_t *c = malloc(n ? n : 1);

		memcpy(c, echo4, n);
		CHECK_EQ_INT(ippkt_parse_quote(c, n, 4, &p), n < 28 ? -EINVAL : 0);
		if (n >= 28)
			CHECK(p.echo_id == 0x0102 && p.seq == 3);
		free(c);
	}
	/* a quote longer than its own length says: only its length counts */
	memcpy(buf, udp4, sizeof(udp4));
	memset(buf + sizeof(udp4), 0xee, 10);
	CHECK_EQ_INT(ippkt_parse_quote(buf, sizeof(udp4) + 10, 4, &p), 0);
	CHECK_EQ_INT(p.payload_len, 5);
	/* the family must be the error's */
	CHECK_EQ_INT(ippkt_parse_quote(udp4, sizeof(udp4), 6, &p), -EINVAL);
	/* a quoted error, or a quoted packet whose lengths cannot hold 8 bytes */
	CHECK_EQ_INT(ippkt_parse_quote(unreach4, sizeof(unreach4), 4, &p), -EPROTONOSUPPORT);
	memcpy(buf, udp4, sizeof(udp4));
	buf[3] = 27;
	CHECK_EQ_INT(ippkt_parse_quote(buf, sizeof(udp4), 4, &p), -EINVAL);
	memcpy(buf, udp6, sizeof(udp6));
	buf[5] = 7;
	CHECK_EQ_INT(ippkt_parse_quote(buf, sizeof(udp6), 6, &p), -EINVAL);
}

static void test_no_space(void)
{
	struct ippkt p;
	struct ippkt_error e = {.kind = IPPKT_ERR_PORT, .ttl = 64};
	int n;

	CHECK_EQ_INT(ippkt_parse(udp4, sizeof(udp4), &p), 0);
	for (size_t cap = 0; cap < sizeof(udp4); cap++)
		CHECK_EQ_INT(ippkt_build_udp(buf, cap, &p), -ENOSPC);
	CHECK_EQ_INT(ippkt_build_udp(buf, sizeof(udp4), &p), sizeof(udp4));
	CHECK_EQ_INT(ippkt_parse(echo6, sizeof(echo6), &p), 0);
	for (size_t cap = 0; cap < sizeof(echo6); cap++)
		CHECK_EQ_INT(ippkt_build_echo(buf, cap, &p), -ENOSPC);
	CHECK_EQ_INT(ippkt_build_echo(buf, sizeof(echo6), &p), sizeof(echo6));
	memcpy(e.src, a4_2, 16);
	for (size_t cap = 0; cap < sizeof(unreach4); cap++)
		CHECK_EQ_INT(ippkt_build_error(buf, cap, &e, udp4, sizeof(udp4)), -ENOSPC);
	n = ippkt_build_error(buf, sizeof(unreach4), &e, udp4, sizeof(udp4));
	CHECK_EQ_INT(n, sizeof(unreach4));

	/* too much data for any packet, whatever the room */
	p.payload = big;
	p.payload_len = IPPKT_UDP_MAX_V6 + 1;
	CHECK_EQ_INT(ippkt_build_echo(buf, sizeof(buf), &p), -EMSGSIZE);
	p.version = 4;
	p.icmp_type = IPPKT_ICMP_ECHO;
	p.payload_len = IPPKT_UDP_MAX_V4 + 1;
	CHECK_EQ_INT(ippkt_build_echo(buf, sizeof(buf), &p), -EMSGSIZE);
	p.payload_len--;
	CHECK_EQ_INT(ippkt_build_echo(buf, sizeof(buf), &p), IPPKT_MAX_V4);
}

static void test_build_bad_fields(void)
{
	struct ippkt p;

	CHECK_EQ_INT(ippkt_parse(echo4, sizeof(echo4), &p), 0);
	p.icmp_type = IPPKT_ICMP6_ECHO;
	CHECK_EQ_INT(ippkt_build_echo(buf, sizeof(buf), &p), -EINVAL);
	p.icmp_type = IPPKT_ICMP_UNREACH;
	CHECK_EQ_INT(ippkt_build_echo(buf, sizeof(buf), &p), -EINVAL);
	p.icmp_type = IPPKT_ICMP_ECHO;
	p.version = 5;
	CHECK_EQ_INT(ippkt_build_echo(buf, sizeof(buf), &p), -EINVAL);
	CHECK_EQ_INT(ippkt_build_udp(buf, sizeof(buf), &p), -EINVAL);
	p.version = 4;
	p.payload = NULL;
	CHECK_EQ_INT(ippkt_build_udp(buf, sizeof(buf), &p), -EINVAL);
	p.payload_len = 0;
	CHECK_EQ_INT(ippkt_build_udp(buf, sizeof(buf), &p), IPPKT_HDR_V4);
}

/* Data already in place behind the headers, and an offender in the output buffer. */
static void test_in_place(void)
{
	struct ippkt p, q;
	struct ippkt_error e = {.kind = IPPKT_ERR_PORT, .ttl = 64};
	int n;

	CHECK_EQ_INT(ippkt_parse(udp6, sizeof(udp6), &p), 0);
	memset(buf, 0xaa, sizeof(buf));
	memcpy(buf + IPPKT_HDR_V6, "hello", 5);
	p.payload = buf + IPPKT_HDR_V6;
	n = ippkt_build_udp(buf, sizeof(buf), &p);
	CHECK_EQ_INT(n, sizeof(udp6));
	CHECK(!memcmp(buf, udp6, sizeof(udp6)));

	memcpy(buf, udp4, sizeof(udp4));
	memcpy(e.src, a4_2, 16);
	n = ippkt_build_error(buf, sizeof(buf), &e, buf, sizeof(udp4));
	CHECK_EQ_INT(n, sizeof(unreach4_built));
	CHECK(!memcmp(buf, unreach4_built, sizeof(unreach4_built)));
	CHECK_EQ_INT(ippkt_parse(buf, (size_t)n, &q), 0);
}

/*
 * The kernel as the independent judge: in a network namespace of its own,
 * a TUN whose far side is this test. What we build, the kernel's IPv4,
 * UDP and ICMP code must accept (it drops a bad checksum silently); what
 * the kernel writes, we must parse; and our errors must reach its sockets
 * the way issue 21 wants them to: ECONNREFUSED, a lower path MTU.
 */
static int k_fail;

#define KCHECK(c)                                                                                  \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			printf("  kernel: %s:%d: %s\n", __FILE__, __LINE__, #c);                   \
			k_fail++;                                                                  \
		}                                                                                  \
	} while (0)

struct k_in6_ifreq { /* linux/ipv6.h's, which clashes with netinet/in.h */
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

static int k_setup(void)
{
	struct ifreq ifr = {.ifr_flags = IFF_TUN | IFF_NO_PI};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct k_in6_ifreq r6 = {.prefixlen = 64};
	int fd, s4, s6, ok;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
	strcpy(ifr.ifr_name, "ippkt0");
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -1;
	/* no duplicate address detection: the address is usable at once */
	t_write_file("/proc/sys/net/ipv6/conf/ippkt0/accept_dad", "0\n", 2);
	s4 = socket(AF_INET, SOCK_DGRAM, 0);
	s6 = socket(AF_INET6, SOCK_DGRAM, 0);
	inet_pton(AF_INET, "10.99.0.1", &sin.sin_addr);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	ok = ioctl(s4, SIOCSIFADDR, &ifr) == 0;
	inet_pton(AF_INET, "255.255.255.0", &sin.sin_addr);
	memcpy(&ifr.ifr_netmask, &sin, sizeof(sin));
	ok = ok && ioctl(s4, SIOCSIFNETMASK, &ifr) == 0;
	ok = ok && ioctl(s4, SIOCGIFFLAGS, &ifr) == 0;
	ifr.ifr_flags |= IFF_UP;
	ok = ok && ioctl(s4, SIOCSIFFLAGS, &ifr) == 0;
	ok = ok && ioctl(s4, SIOCGIFINDEX, &ifr) == 0;
	r6.ifindex = ifr.ifr_ifindex;
	inet_pton(AF_INET6, "fd00:99::1", &r6.addr);
	ok = ok && ioctl(s6, SIOCSIFADDR, &r6) == 0;
	close(s4);
	close(s6);
	return ok ? fd : -1;
}

/* The next packet from the TUN that parses as proto, skipping the kernel's own chatter. */
static ssize_t k_read(int tun, uint8_t *pkt, uint8_t proto, struct ippkt *p)
{
	struct pollfd pfd = {.fd = tun, .events = POLLIN};
	ssize_t n;

	while (poll(&pfd, 1, 3000) == 1) {
		n = read(tun, pkt, IPPKT_MAX);
		if (n > 0 && ippkt_parse(pkt, (size_t)n, p) == 0 && p->proto == proto)
			return n;
	}
	return -1;
}

static socklen_t k_addr(int v, const char *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (v == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		inet_pton(AF_INET, a, &s->sin_addr);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	inet_pton(AF_INET6, a, &s->sin6_addr);
	return sizeof(*s);
}

static void k_family(int tun, int v)
{
	const char *local = v == 4 ? "10.99.0.1" : "fd00:99::1";
	const char *peer = v == 4 ? "10.99.0.2" : "fd00:99::2";
	int fam = v == 4 ? AF_INET : AF_INET6, icmp = v == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	struct sockaddr_storage ss;
	struct ippkt p = {.version = (uint8_t)v, .ttl = 64, .ip_id = 1}, r;
	struct ippkt_error e = {.ttl = 64};
	struct pollfd pfd;
	socklen_t sl;
	char got[64];
	uint8_t sa[16], pa[16];
	int u, c, n, on = v == 4 ? IP_PMTUDISC_DO : IPV6_PMTUDISC_DO, mtu = 0;
	ssize_t k;

	memset(sa, 0, 16);
	memset(pa, 0, 16);
	inet_pton(fam, local, sa);
	inet_pton(fam, peer, pa);

	/* our UDP, to a bound socket: delivered, so both checksums held */
	u = socket(fam, SOCK_DGRAM, 0);
	sl = k_addr(v, local, 5000, &ss);
	/* an IPv6 address is tentative until the kernel's work queue has run, even without DAD */
	for (int i = 0; i < 50 && bind(u, (struct sockaddr *)&ss, sl) < 0 && errno == EADDRNOTAVAIL;
	     i++)
		usleep(100 * 1000);
	KCHECK(getsockname(u, (struct sockaddr *)&ss, &sl) == 0 &&
	       ntohs(((struct sockaddr_in *)&ss)->sin_port) == 5000);
	memcpy(p.src, pa, 16);
	memcpy(p.dst, sa, 16);
	p.proto = IPPROTO_UDP;
	p.sport = 6000;
	p.dport = 5000;
	p.payload = (const uint8_t *)"to-kernel";
	p.payload_len = 9;
	n = ippkt_build_udp(buf, sizeof(buf), &p);
	KCHECK(write(tun, buf, (size_t)n) == n);
	pfd = (struct pollfd){.fd = u, .events = POLLIN};
	KCHECK(poll(&pfd, 1, 3000) == 1);
	sl = sizeof(ss);
	k = recvfrom(u, got, sizeof(got), MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
	KCHECK(k == 9 && !memcmp(got, "to-kernel", 9));
	KCHECK(ntohs(((struct sockaddr_in *)&ss)->sin_port) == 6000);

	/* the kernel's UDP, read from the TUN */
	sl = k_addr(v, peer, 6000, &ss);
	KCHECK(sendto(u, "to-tun", 6, 0, (struct sockaddr *)&ss, sl) == 6);
	KCHECK(k_read(tun, buf, IPPROTO_UDP, &r) > 0);
	KCHECK(r.sport == 5000 && r.dport == 6000 && r.payload_len == 6 &&
	       !memcmp(r.payload, "to-tun", 6));
	KCHECK(!memcmp(r.src, sa, 16) && !memcmp(r.dst, pa, 16));

	/* our echo request, its echo reply */
	p.proto = (uint8_t)icmp;
	p.icmp_type = v == 4 ? IPPKT_ICMP_ECHO : IPPKT_ICMP6_ECHO;
	p.echo_id = 0x4242;
	p.seq = 7;
	p.payload = (const uint8_t *)"ping-me";
	p.payload_len = 7;
	n = ippkt_build_echo(buf, sizeof(buf), &p);
	KCHECK(write(tun, buf, (size_t)n) == n);
	do
		k = k_read(tun, buf, (uint8_t)icmp, &r);
	while (k > 0 && r.icmp_type != (v == 4 ? IPPKT_ICMP_ECHO_REPLY : IPPKT_ICMP6_ECHO_REPLY));
	KCHECK(k > 0 && r.echo_id == 0x4242 && r.seq == 7 && r.payload_len == 7 &&
	       !memcmp(r.payload, "ping-me", 7) && !memcmp(r.src, sa, 16));

	/* UDP to a closed port: the kernel's port unreachable, quoting ours */
	p.proto = IPPROTO_UDP;
	p.icmp_type = 0;
	p.dport = 5001;
	p.sport = 6001;
	n = ippkt_build_udp(buf, sizeof(buf), &p);
	KCHECK(write(tun, buf, (size_t)n) == n);
	do
		k = k_read(tun, buf, (uint8_t)icmp, &r);
	while (k > 0 && r.icmp_type != (v == 4 ? IPPKT_ICMP_UNREACH : IPPKT_ICMP6_UNREACH));
	KCHECK(k > 0 && r.icmp_code == (v == 4 ? 3 : 4));
	KCHECK(k > 0 && ippkt_parse_quote(r.payload, r.payload_len, v, &p) == 0 &&
	       p.sport == 6001 && p.dport == 5001);

	/* our port unreachable about the kernel's datagram: ECONNREFUSED */
	c = socket(fam, SOCK_DGRAM, 0);
	sl = k_addr(v, peer, 7000, &ss);
	KCHECK(connect(c, (struct sockaddr *)&ss, sl) == 0);
	KCHECK(send(c, "x", 1, 0) == 1);
	k = k_read(tun, buf, IPPROTO_UDP, &r);
	KCHECK(k > 0 && r.dport == 7000);
	e.kind = IPPKT_ERR_PORT;
	memcpy(e.src, pa, 16);
	n = ippkt_build_error(buf2, sizeof(buf2), &e, buf, (size_t)(k > 0 ? k : 0));
	KCHECK(n > 0 && write(tun, buf2, (size_t)n) == n);
	pfd = (struct pollfd){.fd = c, .events = POLLIN};
	KCHECK(poll(&pfd, 1, 3000) == 1);
	KCHECK(recv(c, got, sizeof(got), MSG_DONTWAIT) < 0 && errno == ECONNREFUSED);
	close(c);

	/* our too big about a 1400-byte datagram: the path MTU drops to 1280 */
	c = socket(fam, SOCK_DGRAM, 0);
	KCHECK(setsockopt(c, v == 4 ? IPPROTO_IP : IPPROTO_IPV6,
			  v == 4 ? IP_MTU_DISCOVER : IPV6_MTU_DISCOVER, &on, sizeof(on)) == 0);
	sl = k_addr(v, peer, 7001, &ss);
	KCHECK(connect(c, (struct sockaddr *)&ss, sl) == 0);
	KCHECK(send(c, big, 1400, 0) == 1400);
	k = k_read(tun, buf, IPPROTO_UDP, &r);
	KCHECK(k > 0 && r.dport == 7001 && r.payload_len == 1400);
	e.kind = IPPKT_ERR_TOOBIG;
	e.mtu = 1280;
	n = ippkt_build_error(buf2, sizeof(buf2), &e, buf, (size_t)(k > 0 ? k : 0));
	KCHECK(n == (v == 4 ? IPPKT_ERR_MAX_V4 : IPPKT_ERR_MAX_V6));
	KCHECK(n > 0 && write(tun, buf2, (size_t)n) == n);
	for (int i = 0; i < 30 && mtu != 1280; i++) {
		sl = sizeof(mtu);
		getsockopt(c, v == 4 ? IPPROTO_IP : IPPROTO_IPV6, v == 4 ? IP_MTU : IPV6_MTU, &mtu,
			   &sl);
		if (mtu != 1280)
			usleep(100 * 1000);
	}
	KCHECK(mtu == 1280);
	close(c);
	close(u);
}

static void test_kernel_tun(void)
{
	pid_t pid;
	int st, tun;

	if (geteuid() != 0) {
		printf("SKIP %s: needs root\n", t_cur);
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(77);
		tun = k_setup();
		if (tun < 0)
			_exit(78);
		k_family(tun, 4);
		k_family(tun, 6);
		fflush(stdout);
		_exit(k_fail ? 1 : 0);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st));
	if (pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 77)
		printf("SKIP %s: no network namespaces here\n", t_cur);
	else
		CHECK_EQ_INT(WEXITSTATUS(st), 0);
}

int main(void)
{
	RUN(test_parse_known);
	RUN(test_build_known);
	RUN(test_known_header_checksum);
	RUN(test_options_and_hop_by_hop);
	RUN(test_round_trip);
	RUN(test_every_prefix);
	RUN(test_bad_ip_header);
	RUN(test_udp_length);
	RUN(test_fragments);
	RUN(test_v6_extension_headers);
	RUN(test_unsupported);
	RUN(test_bad_checksums);
	RUN(test_udp_checksum_zero);
	RUN(test_udp_checksum_ffff);
	RUN(test_error_known);
	RUN(test_error_kinds);
	RUN(test_error_quote_limits);
	RUN(test_error_refusals);
	RUN(test_quote_refusals);
	RUN(test_no_space);
	RUN(test_build_bad_fields);
	RUN(test_in_place);
	RUN(test_kernel_tun);
	T_EXIT();
}
