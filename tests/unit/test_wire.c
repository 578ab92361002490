/* Unit tests for the frame codec: round trips, every split point, malformed input. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../../common/wire.h"
#include "t.h"

/* A stream of one frame of each kind, as a sender would produce it. */
/* buf holds 1024 bytes. */
static size_t build_stream(uint8_t *buf)
{
	struct wire_hello h = {.version = WIRE_VERSION, .window = 123456, .features = 5};
	struct wire_open o4 = {.family = AF_INET, .port = 80, .addr = {192, 0, 2, 7}};
	struct wire_open o6 = {.family = AF_INET6, .port = 443, .addr = {0x20, 0x01, 0x0d, 0xb8}};
	uint8_t opaque[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	size_t n = 0;

	memset(h.hash, 0xab, sizeof(h.hash));
	n += wire_put_hello(buf + n, 1024 - n, &h);
	n += wire_put_open(buf + n, 1024 - n, 7, &o4);
	n += wire_put_open(buf + n, 1024 - n, 8, &o6);
	n += wire_put_hdr(buf + n, 1024 - n, WIRE_DATA, 7, 5);
	wire_set_flags(buf + n - WIRE_HDR_LEN, WIRE_DATA_F_BLOCKED);
	memcpy(buf + n, "hello", 5);
	n += 5;
	n += wire_put_hdr(buf + n, 1024 - n, WIRE_EOF, 7, 0);
	n += wire_put_u32(buf + n, 1024 - n, WIRE_WINDOW, 8, 65536);
	n += wire_put_u32(buf + n, 1024 - n, WIRE_RESET, 8, ECONNREFUSED);
	n += wire_put_ping(buf + n, 1024 - n, WIRE_PING, opaque);
	n += wire_put_ping(buf + n, 1024 - n, WIRE_PONG, opaque);
	return n;
}

static const uint8_t want_types[] = {WIRE_HELLO,  WIRE_OPEN,  WIRE_OPEN, WIRE_DATA, WIRE_EOF,
				     WIRE_WINDOW, WIRE_RESET, WIRE_PING, WIRE_PONG};

/* Feed the stream in two pieces split at `cut`, as a reader with a partial buffer sees it. */
static int parse_split(const uint8_t *stream, size_t len, size_t cut, struct wire_frame *out,
		       int max)
{
	static uint8_t acc[4096];
	size_t have = 0, off = 0;
	int nf = 0, r;

	memcpy(acc, stream, cut);
	have = cut;
	for (int pass = 0; pass < 2; pass++) {
		for (;;) {
			r = wire_parse(acc + off, have - off, &out[nf]);
			if (r < 0)
				return -1;
			if (r == 0)
				break;
			off += (size_t)r;
			if (++nf == max)
				return nf;
		}
		if (pass == 0) {
			/* Move the partial frame down and append the rest, like a real reader. */
			memmove(acc, acc + off, have - off);
			have -= off;
			off = 0;
			/* Payload pointers of earlier frames are stale now; only count them. */
			memcpy(acc + have, stream + cut, len - cut);
			have += len - cut;
		}
	}
	return nf;
}

static void test_roundtrip(void)
{
	uint8_t buf[1024];
	struct wire_frame f;
	size_t len = build_stream(buf), off = 0;
	int i = 0, r;

	while ((r = wire_parse(buf + off, len - off, &f)) > 0) {
		CHECK_EQ_INT(f.type, want_types[i]);
		if (f.type == WIRE_HELLO) {
			CHECK_EQ_INT(f.u.hello.version, WIRE_VERSION);
			CHECK_EQ_INT(f.u.hello.window, 123456);
			CHECK_EQ_INT(f.u.hello.features, 5);
			CHECK_EQ_INT(f.u.hello.hash[31], 0xab);
		}
		if (f.type == WIRE_OPEN && f.stream == 7) {
			CHECK_EQ_INT(f.u.open.family, AF_INET);
			CHECK_EQ_INT(f.u.open.port, 80);
			CHECK_EQ_INT(f.u.open.addr[3], 7);
		}
		if (f.type == WIRE_OPEN && f.stream == 8) {
			CHECK_EQ_INT(f.u.open.family, AF_INET6);
			CHECK_EQ_INT(f.u.open.port, 443);
			CHECK_EQ_INT(f.u.open.addr[1], 0x01);
		}
		if (f.type == WIRE_DATA)
			CHECK(f.len == 5 && memcmp(f.payload, "hello", 5) == 0 &&
			      f.flags == WIRE_DATA_F_BLOCKED);
		else
			CHECK_EQ_INT(f.flags, 0);
		if (f.type == WIRE_WINDOW)
			CHECK_EQ_INT(f.u.window, 65536);
		if (f.type == WIRE_RESET)
			CHECK_EQ_INT(f.u.err, ECONNREFUSED);
		if (f.type == WIRE_PONG)
			CHECK_EQ_INT(f.payload[7], 8);
		off += (size_t)r;
		i++;
	}
	CHECK_EQ_INT(r, 0);
	CHECK_EQ_INT(off, len);
	CHECK_EQ_INT(i, (int)sizeof(want_types));
}

static void test_every_split(void)
{
	uint8_t buf[1024];
	struct wire_frame f[16];
	size_t len = build_stream(buf), cut;
	int ok = 1, i;

	for (cut = 0; cut <= len; cut++) {
		int n = parse_split(buf, len, cut, f, 16);
		if (n != (int)sizeof(want_types)) {
			ok = 0;
			break;
		}
		for (i = 0; i < n; i++)
			if (f[i].type != want_types[i])
				ok = 0;
	}
	CHECK(ok);
}

static void test_incomplete_is_zero(void)
{
	uint8_t buf[1024];
	struct wire_frame f;
	size_t len = build_stream(buf), n;
	int first = wire_parse(buf, len, &f);

	CHECK(first > 0);
	for (n = 0; n < (size_t)first; n++)
		CHECK_EQ_INT(wire_parse(buf, n, &f), 0);
}

static void expect_bad(uint8_t *frame, size_t len, const char *what)
{
	struct wire_frame f;
	int r = wire_parse(frame, len, &f);

	if (r != -EPROTO)
		printf("  (case %s gave %d)\n", what, r);
	CHECK_EQ_INT(r, -EPROTO);
}

static void test_malformed(void)
{
	uint8_t b[WIRE_HDR_LEN + 64];
	struct wire_open o = {.family = AF_INET, .port = 80};
	uint8_t opaque[8] = {0};

	wire_put_hdr(b, sizeof(b), 0, 1, 0);
	expect_bad(b, WIRE_HDR_LEN, "type 0");
	wire_put_hdr(b, sizeof(b), WIRE_TYPE_MAX + 1, 1, 0);
	expect_bad(b, WIRE_HDR_LEN, "type too big");
	wire_put_hdr(b, sizeof(b), WIRE_DATA, 1, 1);
	b[1] = 2;
	expect_bad(b, WIRE_HDR_LEN + 1, "unknown data flag");
	wire_put_hdr(b, sizeof(b), WIRE_EOF, 1, 0);
	wire_set_flags(b, WIRE_DATA_F_BLOCKED);
	expect_bad(b, WIRE_HDR_LEN, "data flag on eof");
	wire_put_hdr(b, sizeof(b), WIRE_DATA, 1, 1);
	b[3] = 1;
	expect_bad(b, WIRE_HDR_LEN + 1, "reserved set");
	/* An oversized length is refused from the header alone, before any payload arrives. */
	wire_put_hdr(b, sizeof(b), WIRE_DATA, 1, WIRE_MAX_PAYLOAD + 1);
	expect_bad(b, WIRE_HDR_LEN, "length over max");
	wire_put_hdr(b, sizeof(b), WIRE_DATA, 1, 0xffffffff);
	expect_bad(b, WIRE_HDR_LEN, "length 4G");
	wire_put_hdr(b, sizeof(b), WIRE_DATA, 1, 0);
	expect_bad(b, WIRE_HDR_LEN, "empty data");
	wire_put_hdr(b, sizeof(b), WIRE_DATA, 0, 1);
	expect_bad(b, WIRE_HDR_LEN + 1, "data on stream 0");
	wire_put_hdr(b, sizeof(b), WIRE_EOF, 3, 1);
	expect_bad(b, WIRE_HDR_LEN + 1, "eof with payload");
	wire_put_u32(b, sizeof(b), WIRE_WINDOW, 3, 0);
	expect_bad(b, WIRE_HDR_LEN + 4, "zero window");
	wire_put_hdr(b, sizeof(b), WIRE_WINDOW, 3, 3);
	expect_bad(b, WIRE_HDR_LEN + 3, "short window");
	wire_put_u32(b, sizeof(b), WIRE_RESET, 0, 1);
	expect_bad(b, WIRE_HDR_LEN + 4, "reset on stream 0");
	wire_put_open(b, sizeof(b), 0, &o);
	expect_bad(b, WIRE_HDR_LEN + 8, "open on stream 0");
	wire_put_open(b, sizeof(b), 5, &o);
	b[WIRE_HDR_LEN] = 5;
	expect_bad(b, WIRE_HDR_LEN + 8, "open family 5");
	wire_put_open(b, sizeof(b), 5, &o);
	b[WIRE_HDR_LEN] = 6; /* v6 family with a v4-sized address */
	expect_bad(b, WIRE_HDR_LEN + 8, "open v6 short");
	o.port = 0;
	wire_put_open(b, sizeof(b), 5, &o);
	expect_bad(b, WIRE_HDR_LEN + 8, "open port 0");
	wire_put_ping(b, sizeof(b), WIRE_PING, opaque);
	b[7] = 1; /* stream 1 */
	expect_bad(b, WIRE_HDR_LEN + 8, "ping on a stream");
	{
		struct wire_hello h = {.version = 1, .window = 1};
		size_t n = wire_put_hello(b, sizeof(b), &h);
		b[WIRE_HDR_LEN] = 'X';
		expect_bad(b, n, "hello bad magic");
	}
}

static void test_garbage_never_crashes(void)
{
	uint8_t buf[256];
	struct wire_frame f;
	unsigned seed = 12345;
	int i, j, bad = 0;

	/* Random bytes must parse as "need more", a valid frame, or -EPROTO; nothing else. */
	for (i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
		int r;
		for (j = 0; j < (int)len; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		if (len > 1 && (i & 1)) {
			buf[0] = (uint8_t)(1 + rand_r(&seed) % WIRE_TYPE_MAX);
			buf[1] = buf[2] = buf[3] = 0;
		}
		r = wire_parse(buf, len, &f);
		if (r > 0 && (size_t)r > len)
			bad++;
		if (r < 0 && r != -EPROTO)
			bad++;
	}
	CHECK_EQ_INT(bad, 0);
}

static void test_names_routes_dns(void)
{
	static uint8_t b[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];
	struct wire_host h = {.family = AF_INET6, .addr = {0x20, 0x01, 0x0d, 0xb8, [15] = 7}};
	struct wire_open r = {.family = AF_INET, .port = 5353, .addr = {198, 51, 100, 2}};
	uint8_t a4[16] = {10, 1}, a6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 5}, got[16], pre;
	struct wire_frame f;
	size_t len, off = 0;
	int fam, n = 0;

	strcpy(h.name, "web.corp.example");
	len = wire_put_host(b, sizeof(b), &h);
	CHECK_EQ_INT(wire_parse(b, len, &f), (long long)len);
	CHECK_EQ_INT(f.type, WIRE_HOST);
	CHECK_EQ_INT(f.u.host.family, AF_INET6);
	CHECK_EQ_INT(f.u.host.addr[15], 7);
	CHECK_STR(f.u.host.name, "web.corp.example");
	b[len - 1] = 0; /* a NUL inside the name */
	expect_bad(b, len, "host with NUL");
	b[len - 1] = 'e';
	b[WIRE_HDR_LEN + 17]++; /* name length one more than the payload holds */
	expect_bad(b, len, "host length");

	len = wire_put_resolver(b, sizeof(b), &r);
	CHECK_EQ_INT(wire_parse(b, len, &f), (long long)len);
	CHECK_EQ_INT(f.u.open.port, 5353);

	/* OPEN carries the DNS flag; unknown flags are refused. */
	r.flags = WIRE_OPEN_F_DNS;
	len = wire_put_open(b, sizeof(b), 3, &r);
	CHECK_EQ_INT(wire_parse(b, len, &f), (long long)len);
	CHECK_EQ_INT(f.u.open.flags, WIRE_OPEN_F_DNS);
	b[WIRE_HDR_LEN + 1] = 2;
	expect_bad(b, len, "open unknown flag");

	len = wire_put_hdr(b, sizeof(b), WIRE_ROUTES, 0, 0);
	len = wire_routes_add(b, sizeof(b), len, AF_INET, a4, 16);
	len = wire_routes_add(b, sizeof(b), len, AF_INET6, a6, 48);
	wire_routes_end(b, sizeof(b), len);
	CHECK_EQ_INT(wire_parse(b, len, &f), (long long)len);
	while (wire_routes_next(&f, &off, &fam, got, &pre) == 1) {
		if (n == 0)
			CHECK(fam == AF_INET && pre == 16 && got[1] == 1);
		if (n == 1)
			CHECK(fam == AF_INET6 && pre == 48 && got[5] == 5);
		n++;
	}
	CHECK_EQ_INT(n, 2);
	b[WIRE_HDR_LEN + 1] = 33; /* a /33 IPv4 route */
	expect_bad(b, len, "route prefix");
	wire_routes_end(b, sizeof(b), len - 1); /* a truncated last entry */
	expect_bad(b, len - 1, "route truncated");
	/* As many routes as fit, and not one byte more. */
	len = wire_put_hdr(b, sizeof(b), WIRE_ROUTES, 0, 0);
	for (n = 0; n < 100000; n++) {
		size_t nl = wire_routes_add(b, sizeof(b), len, AF_INET6, a6, 64);
		if (!nl)
			break;
		len = nl;
	}
	wire_routes_end(b, sizeof(b), len);
	CHECK(len <= WIRE_HDR_LEN + WIRE_MAX_PAYLOAD);
	CHECK_EQ_INT(wire_parse(b, len, &f), (long long)len);

	len = wire_put_hdr(b, sizeof(b), WIRE_DNS_QUERY, 9, 11);
	expect_bad(b, len + 11, "dns query shorter than a header");
	len = wire_put_hdr(b, sizeof(b), WIRE_DNS_REPLY, 9, 0);
	CHECK_EQ_INT(wire_parse(b, len, &f), (long long)len);
	len = wire_put_hdr(b, sizeof(b), WIRE_DNS_QUERY, 0, 12);
	expect_bad(b, len + 12, "dns query on stream 0");
}

/* A frame parses whole, and every shorter prefix is "need more". */
static void expect_whole(const uint8_t *b, size_t len, struct wire_frame *f)
{
	size_t n;

	for (n = 0; n < len; n++)
		CHECK_EQ_INT(wire_parse(b, n, f), 0);
	CHECK_EQ_INT(wire_parse(b, len, f), (long long)len);
}

static void test_udp_frames(void)
{
	static uint8_t b[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD + 8], data[WIRE_UDP_MAX + 1];
	struct wire_udp u = {.family = AF_INET6, .port = 53, .addr = {0x20, 0x01, [15] = 9}};
	struct wire_udp got;
	struct wire_frame f;
	const uint8_t *d;
	size_t len, n, dl;

	for (n = 0; n < sizeof(data); n++)
		data[n] = (uint8_t)(n * 7);
	u.data = data;
	u.len = 5;
	len = wire_put_udp_req(b, sizeof(b), 77, &u);
	CHECK_EQ_INT(len, WIRE_HDR_LEN + 20 + 5);
	expect_whole(b, len, &f);
	CHECK_EQ_INT(f.type, WIRE_UDP);
	CHECK_EQ_INT(f.stream, 77);
	CHECK_EQ_INT(wire_udp_req(&f, &got), 0);
	CHECK(got.family == AF_INET6 && got.port == 53 && got.addr[15] == 9 && got.len == 5);
	CHECK(memcmp(got.data, data, 5) == 0);
	/* Every cut of the request's head, as a whole frame of that length, is refused. */
	for (n = 0; n < 20; n++) {
		wire_put_hdr(b, sizeof(b), WIRE_UDP, 77, (uint32_t)n);
		CHECK_EQ_INT(wire_parse(b, WIRE_HDR_LEN + n, &f), (long long)(WIRE_HDR_LEN + n));
		CHECK_EQ_INT(wire_udp_req(&f, &got), -EPROTO);
	}
	/* Bad fields, one at a time. */
	len = wire_put_udp_req(b, sizeof(b), 77, &u);
	b[WIRE_HDR_LEN] = 5;
	CHECK(wire_parse(b, len, &f) > 0 && wire_udp_req(&f, &got) == -EPROTO);
	b[WIRE_HDR_LEN] = 6;
	b[WIRE_HDR_LEN + 1] = 1;
	CHECK(wire_parse(b, len, &f) > 0 && wire_udp_req(&f, &got) == -EPROTO);
	/* Port 0 is well formed but nowhere to send: the flow's error, not the session's. */
	u.port = 0;
	len = wire_put_udp_req(b, sizeof(b), 77, &u);
	CHECK(wire_parse(b, len, &f) > 0 && wire_udp_req(&f, &got) == -EINVAL);
	u.port = 53;
	len = wire_put_udp_req(b, sizeof(b), 0, &u);
	expect_bad(b, len, "udp on stream 0");
	/* The largest datagram fits, one more byte does not, in the encoder or the parser. */
	u.family = AF_INET;
	u.len = WIRE_UDP_MAX;
	len = wire_put_udp_req(b, sizeof(b), 1, &u);
	CHECK_EQ_INT(len, WIRE_HDR_LEN + 8 + WIRE_UDP_MAX);
	CHECK_EQ_INT(wire_parse(b, len, &f), (long long)len);
	CHECK_EQ_INT(wire_udp_req(&f, &got), 0);
	CHECK(got.len == WIRE_UDP_MAX && memcmp(got.data, data, WIRE_UDP_MAX) == 0);
	u.len = WIRE_UDP_MAX + 1;
	CHECK_EQ_INT(wire_put_udp_req(b, sizeof(b), 1, &u), 0);
	wire_put_hdr(b, sizeof(b), WIRE_UDP, 1, 8 + WIRE_UDP_MAX + 1);
	CHECK_EQ_INT(wire_parse(b, WIRE_HDR_LEN + 8 + WIRE_UDP_MAX + 1, &f),
		     WIRE_HDR_LEN + 8 + WIRE_UDP_MAX + 1);
	CHECK_EQ_INT(wire_udp_req(&f, &got), -EPROTO);
	wire_put_hdr(b, sizeof(b), WIRE_UDP, 1, 20 + WIRE_UDP_MAX + 1);
	expect_bad(b, WIRE_HDR_LEN + 20 + WIRE_UDP_MAX + 1, "udp over max");

	/* Replies: the datagram alone, empty allowed, up to WIRE_UDP_MAX. */
	len = wire_put_udp_reply(b, sizeof(b), 4, data, 0);
	expect_whole(b, len, &f);
	CHECK(wire_udp_reply(&f, &d, &dl) == 0 && dl == 0);
	len = wire_put_udp_reply(b, sizeof(b), 4, data, WIRE_UDP_MAX);
	CHECK_EQ_INT(wire_parse(b, len, &f), (long long)len);
	CHECK(wire_udp_reply(&f, &d, &dl) == 0 && dl == WIRE_UDP_MAX && !memcmp(d, data, dl));
	CHECK_EQ_INT(wire_put_udp_reply(b, sizeof(b), 4, data, WIRE_UDP_MAX + 1), 0);
	wire_put_hdr(b, sizeof(b), WIRE_UDP, 1, WIRE_UDP_MAX + 1);
	CHECK(wire_parse(b, WIRE_HDR_LEN + WIRE_UDP_MAX + 1, &f) > 0);
	CHECK_EQ_INT(wire_udp_reply(&f, &d, &dl), -EPROTO);

	/* UDP_ERR: errno in range, mtu only with EMSGSIZE. */
	len = wire_put_udp_err(b, sizeof(b), 3, EMSGSIZE, 1400);
	expect_whole(b, len, &f);
	CHECK(f.type == WIRE_UDP_ERR && f.u.udp_err.err == EMSGSIZE && f.u.udp_err.mtu == 1400);
	len = wire_put_udp_err(b, sizeof(b), 3, ECONNREFUSED, 0);
	CHECK(wire_parse(b, len, &f) > 0 && f.u.udp_err.err == ECONNREFUSED);
	len = wire_put_udp_err(b, sizeof(b), 3, ECONNREFUSED, 1400);
	expect_bad(b, len, "udp_err mtu without EMSGSIZE");
	len = wire_put_udp_err(b, sizeof(b), 3, EMSGSIZE, 65536);
	expect_bad(b, len, "udp_err mtu over 64K");
	len = wire_put_udp_err(b, sizeof(b), 3, 0, 0);
	expect_bad(b, len, "udp_err errno 0");
	len = wire_put_udp_err(b, sizeof(b), 3, WIRE_ERRNO_MAX + 1, 0);
	expect_bad(b, len, "udp_err errno too big");
	len = wire_put_udp_err(b, sizeof(b), 0, EHOSTUNREACH, 0);
	expect_bad(b, len, "udp_err on stream 0");
	len = wire_put_udp_err(b, sizeof(b), 3, EHOSTUNREACH, 0);
	wire_put_hdr(b, sizeof(b), WIRE_UDP_ERR, 3, 7);
	expect_bad(b, len - 1, "udp_err short");

	/* UDP_CLOSE: empty, on a flow. */
	len = wire_put_udp_close(b, sizeof(b), 3);
	expect_whole(b, len, &f);
	CHECK_EQ_INT(f.type, WIRE_UDP_CLOSE);
	wire_put_hdr(b, sizeof(b), WIRE_UDP_CLOSE, 3, 1);
	expect_bad(b, WIRE_HDR_LEN + 1, "udp_close with payload");
	wire_put_hdr(b, sizeof(b), WIRE_UDP_CLOSE, 0, 0);
	expect_bad(b, WIRE_HDR_LEN, "udp_close on stream 0");
}

static void test_echo_frames(void)
{
	static uint8_t b[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD + 8], data[WIRE_ECHO_MAX + 1];
	struct wire_echo e = {.family = AF_INET, .seq = 0xbeef, .addr = {192, 0, 2, 1}}, got;
	struct wire_frame f;
	size_t len, n;

	memset(data, 0x5a, sizeof(data));
	e.data = data;
	e.len = 56;
	len = wire_put_echo_req(b, sizeof(b), 9, &e);
	CHECK_EQ_INT(len, WIRE_HDR_LEN + 8 + 56);
	expect_whole(b, len, &f);
	CHECK_EQ_INT(wire_echo_req(&f, &got), 0);
	CHECK(got.family == AF_INET && got.seq == 0xbeef && got.addr[3] == 1 && got.len == 56);
	for (n = 0; n < 8; n++) {
		wire_put_hdr(b, sizeof(b), WIRE_ECHO, 9, (uint32_t)n);
		if (n < 2) {
			expect_bad(b, WIRE_HDR_LEN + n, "echo under 2 bytes");
			continue;
		}
		CHECK(wire_parse(b, WIRE_HDR_LEN + n, &f) > 0);
		CHECK_EQ_INT(wire_echo_req(&f, &got), -EPROTO);
	}
	len = wire_put_echo_req(b, sizeof(b), 9, &e);
	b[WIRE_HDR_LEN] = 0;
	CHECK(wire_parse(b, len, &f) > 0 && wire_echo_req(&f, &got) == -EPROTO);
	b[WIRE_HDR_LEN] = 4;
	b[WIRE_HDR_LEN + 1] = 0x80;
	CHECK(wire_parse(b, len, &f) > 0 && wire_echo_req(&f, &got) == -EPROTO);
	len = wire_put_echo_req(b, sizeof(b), 0, &e);
	expect_bad(b, len, "echo on stream 0");
	e.family = AF_INET6;
	e.len = WIRE_ECHO_MAX;
	len = wire_put_echo_req(b, sizeof(b), 9, &e);
	CHECK(len > 0 && wire_parse(b, len, &f) == (int)len && wire_echo_req(&f, &got) == 0);
	CHECK(got.family == AF_INET6 && got.len == WIRE_ECHO_MAX);
	e.len = WIRE_ECHO_MAX + 1;
	CHECK_EQ_INT(wire_put_echo_req(b, sizeof(b), 9, &e), 0);
	wire_put_hdr(b, sizeof(b), WIRE_ECHO, 9, 20 + WIRE_ECHO_MAX + 1);
	expect_bad(b, WIRE_HDR_LEN + 20 + WIRE_ECHO_MAX + 1, "echo over max");

	len = wire_put_echo_reply(b, sizeof(b), 9, 7, data, 3);
	expect_whole(b, len, &f);
	CHECK(wire_echo_reply(&f, &got) == 0 && got.seq == 7 && got.len == 3);
	len = wire_put_echo_reply(b, sizeof(b), 9, 7, data, 0);
	CHECK(wire_parse(b, len, &f) > 0 && wire_echo_reply(&f, &got) == 0 && got.len == 0);
	CHECK_EQ_INT(wire_put_echo_reply(b, sizeof(b), 9, 7, data, WIRE_ECHO_MAX + 1), 0);
	wire_put_hdr(b, sizeof(b), WIRE_ECHO, 9, 2 + WIRE_ECHO_MAX + 1);
	CHECK(wire_parse(b, WIRE_HDR_LEN + 2 + WIRE_ECHO_MAX + 1, &f) > 0);
	CHECK_EQ_INT(wire_echo_reply(&f, &got), -EPROTO);

	len = wire_put_echo_err(b, sizeof(b), 9, 7, EHOSTUNREACH);
	expect_whole(b, len, &f);
	CHECK(f.type == WIRE_ECHO_ERR && f.u.echo_err.seq == 7 && f.u.echo_err.err == EHOSTUNREACH);
	b[WIRE_HDR_LEN + 3] = 1;
	expect_bad(b, len, "echo_err reserved");
	len = wire_put_echo_err(b, sizeof(b), 9, 7, 0);
	expect_bad(b, len, "echo_err errno 0");
	len = wire_put_echo_err(b, sizeof(b), 9, 7, 70000);
	expect_bad(b, len, "echo_err errno too big");
	len = wire_put_echo_err(b, sizeof(b), 0, 7, EHOSTUNREACH);
	expect_bad(b, len, "echo_err on stream 0");
	wire_put_hdr(b, sizeof(b), WIRE_ECHO_ERR, 9, 9);
	expect_bad(b, WIRE_HDR_LEN + 9, "echo_err long");

	/* A frame of another type is not taken apart as one of these. */
	wire_put_hdr(b, sizeof(b), WIRE_DATA, 9, 30);
	CHECK(wire_parse(b, WIRE_HDR_LEN + 30, &f) > 0);
	CHECK_EQ_INT(wire_echo_req(&f, &got), -EPROTO);
	CHECK_EQ_INT(wire_echo_reply(&f, &got), -EPROTO);
}

/* Every encoder stops at its cap: one byte short, and nothing is claimed written. */
static void test_encoders_bounded(void)
{
	struct wire_hello h = {.version = WIRE_VERSION, .window = 1};
	struct wire_open o = {.family = AF_INET6, .port = 1};
	struct wire_host host = {.family = AF_INET, .name = "a.example.test"};
	uint8_t opaque[8] = {0}, addr[16] = {0}, b[WIRE_HDR_LEN + 128];
	size_t n, len;

	n = wire_put_hello(b, sizeof(b), &h);
	CHECK(n > 0);
	CHECK_EQ_INT(wire_put_hello(b, n - 1, &h), 0);
	n = wire_put_open(b, sizeof(b), 1, &o);
	CHECK_EQ_INT(n, WIRE_HDR_LEN + 20);
	CHECK_EQ_INT(wire_put_open(b, n - 1, 1, &o), 0);
	n = wire_put_host(b, sizeof(b), &host);
	CHECK_EQ_INT(n, WIRE_HDR_LEN + 6 + strlen(host.name));
	CHECK_EQ_INT(wire_put_host(b, n - 1, &host), 0);
	CHECK_EQ_INT(wire_put_u32(b, WIRE_HDR_LEN + 3, WIRE_WINDOW, 1, 1), 0);
	CHECK_EQ_INT(wire_put_ping(b, WIRE_HDR_LEN + 7, WIRE_PING, opaque), 0);
	CHECK_EQ_INT(wire_put_hdr(b, WIRE_HDR_LEN - 1, WIRE_EOF, 1, 0), 0);
	len = wire_put_hdr(b, sizeof(b), WIRE_ROUTES, 0, 0);
	CHECK_EQ_INT(wire_routes_add(b, len + 5, len, AF_INET, addr, 8), 0);
	CHECK_EQ_INT(wire_routes_add(b, len + 6, len, AF_INET, addr, 8), len + 6);
	{
		struct wire_udp u = {.family = AF_INET, .port = 1, .data = addr, .len = 16};
		struct wire_echo e = {.family = AF_INET6, .data = addr, .len = 16};

		n = wire_put_udp_req(b, sizeof(b), 1, &u);
		CHECK_EQ_INT(n, WIRE_HDR_LEN + 8 + 16);
		CHECK_EQ_INT(wire_put_udp_req(b, n - 1, 1, &u), 0);
		CHECK_EQ_INT(wire_put_udp_reply(b, WIRE_HDR_LEN + 15, 1, addr, 16), 0);
		CHECK_EQ_INT(wire_put_udp_err(b, WIRE_HDR_LEN + 7, 1, EIO, 0), 0);
		CHECK_EQ_INT(wire_put_udp_close(b, WIRE_HDR_LEN - 1, 1), 0);
		n = wire_put_echo_req(b, sizeof(b), 1, &e);
		CHECK_EQ_INT(n, WIRE_HDR_LEN + 20 + 16);
		CHECK_EQ_INT(wire_put_echo_req(b, n - 1, 1, &e), 0);
		CHECK_EQ_INT(wire_put_echo_reply(b, WIRE_HDR_LEN + 17, 1, 0, addr, 16), 0);
		CHECK_EQ_INT(wire_put_echo_err(b, WIRE_HDR_LEN + 7, 1, 0, EIO), 0);
	}
}

int main(void)
{
	RUN(test_encoders_bounded);
	RUN(test_roundtrip);
	RUN(test_every_split);
	RUN(test_incomplete_is_zero);
	RUN(test_malformed);
	RUN(test_garbage_never_crashes);
	RUN(test_names_routes_dns);
	RUN(test_udp_frames);
	RUN(test_echo_frames);
	T_EXIT();
}
