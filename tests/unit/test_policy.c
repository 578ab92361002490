/*
 * Unit tests for the policy both ends share (special ranges, host names),
 * the escaping of text from the other end before it is logged, the rate
 * limit on refusal lines, the room the mux keeps for its own control
 * frames, and --dns's budget.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../../client/capture/dns.h"
#include "../../common/addrpolicy.h"
#include "../../common/escape.h"
#include "../../common/hostname.h"
#include "../../common/mux.h"
#include "../../common/ratelimit.h"
#include "t.h"

static const char *addr_class(int family, const char *text)
{
	uint8_t a[16] = {0};

	inet_pton(family, text, a);
	return addrpolicy_addr(family, a);
}

static void test_special_addresses(void)
{
	CHECK(addr_class(AF_INET, "0.1.2.3"));
	CHECK(addr_class(AF_INET, "127.0.0.1"));
	CHECK(addr_class(AF_INET, "127.255.255.255"));
	CHECK(addr_class(AF_INET, "169.254.169.254"));
	CHECK(addr_class(AF_INET, "224.0.0.1"));
	CHECK(addr_class(AF_INET, "239.255.255.255"));
	CHECK(addr_class(AF_INET, "255.255.255.255"));
	CHECK(!addr_class(AF_INET, "1.0.0.0"));
	CHECK(!addr_class(AF_INET, "126.255.255.255"));
	CHECK(!addr_class(AF_INET, "128.0.0.0"));
	CHECK(!addr_class(AF_INET, "169.253.255.255"));
	CHECK(!addr_class(AF_INET, "169.255.0.0"));
	CHECK(!addr_class(AF_INET, "223.255.255.255"));
	CHECK(addr_class(AF_INET, "240.0.0.1"));  /* reserved, like the broadcast address in it */
	CHECK(!addr_class(AF_INET, "192.0.2.1")); /* documentation ranges are ordinary */
	CHECK(addr_class(AF_INET6, "::"));
	CHECK(addr_class(AF_INET6, "::1"));
	CHECK(!addr_class(AF_INET6, "::2"));
	CHECK(addr_class(AF_INET6, "::ffff:192.0.2.1"));
	CHECK(addr_class(AF_INET6, "fe80::1"));
	CHECK(addr_class(AF_INET6, "febf::1"));
	CHECK(!addr_class(AF_INET6, "fec0::1"));
	CHECK(addr_class(AF_INET6, "ff02::1"));
	CHECK(!addr_class(AF_INET6, "2001:db8::1"));
	CHECK(!addr_class(AF_INET6, "fd00::1"));
	CHECK_STR(addrpolicy_addr(AF_UNIX, (const uint8_t *)"x"), "unknown family");
}

static void test_special_nets(void)
{
	uint8_t a[16] = {0};

	/* Inside versus touching: a /1 touches multicast but is not inside it. */
	a[0] = 128;
	CHECK(!addrpolicy_net(AF_INET, a, 1, false));
	CHECK(addrpolicy_net(AF_INET, a, 1, true));
	a[0] = 224;
	CHECK(addrpolicy_net(AF_INET, a, 4, false));
	CHECK(addrpolicy_net(AF_INET, a, 3, true)); /* 224/3 covers 224/4 */
	CHECK(!addrpolicy_net(AF_INET, a, 3, false));
	a[0] = 192;
	CHECK(!addrpolicy_net(AF_INET, a, 3, true)); /* 192/3 ends at 223.255.255.255 */
	a[0] = 0;
	CHECK(addrpolicy_net(AF_INET, a, 0, true)); /* 0/0 touches everything */
	memset(a, 0, sizeof(a));
	a[0] = 0x20;
	CHECK(!addrpolicy_net(AF_INET6, a, 3, true)); /* 2000::/3, global unicast */
	CHECK(addrpolicy_net(AF_INET6, a, 2, true));  /* ::/2 holds ::1 */
	/* Prefix lengths past the family's are treated as host routes. */
	a[0] = 127;
	CHECK(addrpolicy_net(AF_INET, a, 200, false));
	CHECK(addrpolicy_prefix_match((const uint8_t *)"\xc0\x00\x02\x01",
				      (const uint8_t *)"\xc0\x00\x02\xfe", 24));
	CHECK(!addrpolicy_prefix_match((const uint8_t *)"\xc0\x00\x02\x01",
				       (const uint8_t *)"\xc0\x00\x02\xfe", 25));
}

static void test_hostname_rule(void)
{
	char out[HOSTNAME_MAX + 1];

	CHECK_EQ_INT(hostname_norm("Web.Corp.Example.", 17, out, sizeof(out)), 0);
	CHECK_STR(out, "web.corp.example");
	CHECK_EQ_INT(hostname_norm("a..b", 4, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(hostname_norm("1.2.3.4", 7, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(hostname_norm("x\033[2J", 5, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(hostname_norm("ok", 2, out, 2), -ENOSPC);
	CHECK(hostname_local("localhost"));
	CHECK(!hostname_local("localhostile"));
}

static void test_escape(void)
{
	char out[64];

	/* Cursor movement, a title change, a bell, DEL: all shown, none obeyed. */
	escape_text(out, sizeof(out), "a\033[2Jb\033]0;x\007c\177", 14, false);
	CHECK_STR(out, "a\\x1b[2Jb\\x1b]0;x\\x07c\\x7f");
	escape_text(out, sizeof(out), "l1\nl2\r\tz", 8, false);
	CHECK_STR(out, "l1\\x0al2\\x0d\tz");
	escape_text(out, sizeof(out), "l1\nl2", 5, true);
	CHECK_STR(out, "l1\nl2");
	/* UTF-8 text stays; C1 controls (8-bit CSI) and broken sequences do not. */
	escape_text(out, sizeof(out), "caf\xc3\xa9 \xe2\x82\xac", 9, false);
	CHECK_STR(out, "caf\xc3\xa9 \xe2\x82\xac");
	escape_text(out, sizeof(out),
		    "\xc2\x9b"
		    "2J",
		    4, false);
	CHECK_STR(out, "\\xc2\\x9b2J");
	escape_text(out, sizeof(out), "\x9b\xff\xc3", 3, false);
	CHECK_STR(out, "\\x9b\\xff\\xc3");
	escape_text(out, sizeof(out), "\xc0\xaf", 2, false); /* overlong "/" */
	CHECK_STR(out, "\\xc0\\xaf");
	escape_text(out, sizeof(out), "\xed\xa0\x80", 3, false); /* a surrogate */
	CHECK_STR(out, "\\xed\\xa0\\x80");
	/* A NUL in the middle is escaped, not an end. */
	escape_text(out, sizeof(out), "a\0b", 3, false);
	CHECK_STR(out, "a\\x00b");
	/* Cut at a whole escape, always terminated. */
	CHECK_EQ_INT(escape_text(out, 6, "\033\033", 2, false), 4);
	CHECK_STR(out, "\\x1b");
	CHECK_EQ_INT(escape_text(out, 1, "abc", 3, false), 0);
	CHECK_STR(out, "");
}

/* Something that goes on every second: told at once, then ever less often, then a minute apart. */
static void test_ratelimit_backoff(void)
{
	struct ratelimit_backoff b = RATELIMIT_BACKOFF_INIT(1000, 60000);
	int64_t t, t0 = 1000000, said[32];
	int n = 0;

	for (t = t0; t < t0 + 600000; t += 1000) {
		ratelimit_backoff_note(&b, t);
		if (ratelimit_backoff_allow(&b, t, false) && n < 32)
			said[n++] = (t - t0) / 1000;
	}
	/* 0, 1, 3, 7, 15, 31, 63, then a minute apart: 123 ... 543. */
	CHECK_EQ_INT(n, 15);
	CHECK_EQ_INT(said[0], 0);
	CHECK_EQ_INT(said[1], 1);
	CHECK_EQ_INT(said[2], 3);
	CHECK_EQ_INT(said[5], 31);
	CHECK_EQ_INT(said[6], 63);
	CHECK_EQ_INT(said[7], 123);
	CHECK_EQ_INT(said[14], 543);
	/* Not yet, unless it is the last line. */
	CHECK(!ratelimit_backoff_allow(&b, t0 + 600000, false));
	CHECK(ratelimit_backoff_allow(&b, t0 + 600000, true));
	/* Quiet for more than a minute: the next is told at once, and the gap starts over. */
	t = t0 + 600000 + 60001;
	ratelimit_backoff_note(&b, t);
	CHECK(ratelimit_backoff_allow(&b, t, false));
	ratelimit_backoff_note(&b, t + 500);
	CHECK(!ratelimit_backoff_allow(&b, t + 500, false));
	ratelimit_backoff_note(&b, t + 1000);
	CHECK(ratelimit_backoff_allow(&b, t + 1000, false));
}

static void test_ratelimit(void)
{
	struct ratelimit rl = RATELIMIT_INIT(3, 1000);
	unsigned dropped = 99;
	int i, ok = 0;

	for (i = 0; i < 10; i++)
		ok += ratelimit_allow(&rl, 5000, &dropped);
	CHECK_EQ_INT(ok, 3);
	CHECK_EQ_INT(dropped, 0);
	CHECK(!ratelimit_allow(&rl, 5999, &dropped));
	/* The next interval: allowed again, and told how many were held back. */
	CHECK(ratelimit_allow(&rl, 6000, &dropped));
	CHECK_EQ_INT(dropped, 8);
	CHECK(ratelimit_allow(&rl, 6001, &dropped));
	CHECK_EQ_INT(dropped, 0);
}

/* A mux with no streams and no peer, on its own loop. */
static struct mux *bare_mux(struct evloop *loop)
{
	struct mux *m;

	CHECK_EQ_INT(evloop_init(loop), 0);
	m = mux_new(loop, 1 << 20, 256 << 10, &(struct mux_ops){0}, NULL);
	CHECK(m != NULL);
	return m;
}

/* Owner frames (DNS and the like) can never take the room WINDOW, RESET and OPEN need. */
static void test_mux_owner_room(void)
{
	static uint8_t frame[WIRE_HDR_LEN + 60000];
	struct evloop loop;
	struct mux *m;
	int i, sent = 0;
	uint8_t opaque[8] = {0};

	m = bare_mux(&loop);
	if (!m)
		return;
	wire_put_hdr(frame, sizeof(frame), WIRE_DNS_QUERY, 1, 60000);
	for (i = 0; i < 100; i++)
		sent += mux_send_ctl(m, frame, sizeof(frame)) == 0;
	/* About 1 MiB worth went in; the rest was refused to the owner, not queued. */
	CHECK(sent > 10 && sent < 20);
	CHECK_EQ_INT(mux_send_ctl(m, frame, sizeof(frame)), -ENOBUFS);
	/* The mux's own frames still fit, thousands of them. */
	for (i = 0; i < 10000; i++)
		CHECK_EQ_INT(mux_ping(m, opaque), 0);
	mux_free(m);
	evloop_close(&loop);
}

/* The same while a write from the control queue is pinned (EAGAIN): it cannot be compacted then. */
static void test_mux_owner_room_pinned(void)
{
	static uint8_t frame[WIRE_HDR_LEN + 1000];
	struct evloop loop;
	const uint8_t *p;
	struct mux *m;
	size_t len;
	int i, ok = 0;
	uint8_t opaque[8] = {0};

	m = bare_mux(&loop);
	if (!m)
		return;
	wire_put_hdr(frame, sizeof(frame), WIRE_DNS_QUERY, 1, 1000);
	for (i = 0; i < 600; i++)
		CHECK_EQ_INT(mux_send_ctl(m, frame, sizeof(frame)), 0);
	/* Most of it went out; the transport took the rest as a write it will repeat. */
	p = mux_out_peek(m, &len);
	CHECK(p != NULL && len > 100);
	mux_out_consume(m, len - 100);
	mux_out_pin(m, true);
	p = mux_out_peek(m, &len);
	for (i = 0; i < 10000 && mux_send_ctl(m, frame, sizeof(frame)) == 0; i++)
		;
	/* 40,000 pings are 800 KB: they fit only if the owner stopped short of the reserve. */
	for (i = 0; i < 40000; i++)
		ok += mux_ping(m, opaque) == 0;
	CHECK_EQ_INT(ok, 40000);
	mux_out_pin(m, false);
	mux_free(m);
	evloop_close(&loop);
}

static void test_dns_budget(void)
{
	static struct dns_proxy d;
	static uint8_t frame[WIRE_HDR_LEN + 8192];
	struct sockaddr_storage from;
	struct evloop loop;
	int i, ok = 0, full = 0;

	memset(&from, 0, sizeof(from));
	from.ss_family = AF_INET;
	CHECK_EQ_INT(evloop_init(&loop), 0);
	memset(&d, 0, sizeof(d));
	d.mux = mux_new(&loop, 1 << 20, 256 << 10, &(struct mux_ops){0}, NULL);
	CHECK(d.mux != NULL);
	if (!d.mux)
		return;
	/* Over 4 KiB over UDP is not DNS: dropped, and counted apart. */
	CHECK_EQ_INT(dns_submit(&d, &d.s4, &from, sizeof(struct sockaddr_in), frame, 4097),
		     -EMSGSIZE);
	CHECK_EQ_INT(d.dropped_big, 1);
	/* Bytes: 4 KiB queries fill the byte budget first. */
	for (i = 0; i < 100; i++) {
		int r = dns_submit(&d, &d.s4, &from, sizeof(struct sockaddr_in), frame, 4096);
		ok += r == 0;
		full += r == -ENOBUFS;
	}
	CHECK_EQ_INT(ok, DNS_INFLIGHT_BYTES_MAX / 4096);
	CHECK_EQ_INT(full, 100 - ok);
	CHECK_EQ_INT(d.inflight_bytes, DNS_INFLIGHT_BYTES_MAX);
	/* An answer returns its share of the budget. */
	dns_answer(&d, 1, NULL, 0);
	CHECK_EQ_INT(d.inflight, (size_t)ok - 1);
	CHECK_EQ_INT(dns_submit(&d, &d.s4, &from, sizeof(struct sockaddr_in), frame, 4096), 0);
	/* Queries: small ones stop at DNS_INFLIGHT_MAX. */
	for (i = 1; i <= ok + 1; i++)
		dns_answer(&d, (uint32_t)i, NULL, 0);
	CHECK_EQ_INT(d.inflight, 0);
	CHECK_EQ_INT(d.inflight_bytes, 0);
	ok = 0;
	for (i = 0; i < DNS_INFLIGHT_MAX + 50; i++)
		ok += dns_submit(&d, &d.s4, &from, sizeof(struct sockaddr_in), frame, 40) == 0;
	CHECK_EQ_INT(ok, DNS_INFLIGHT_MAX);
	mux_free(d.mux);
	evloop_close(&loop);
}

int main(void)
{
	RUN(test_special_addresses);
	RUN(test_special_nets);
	RUN(test_hostname_rule);
	RUN(test_escape);
	RUN(test_ratelimit);
	RUN(test_ratelimit_backoff);
	RUN(test_mux_owner_room);
	RUN(test_mux_owner_room_pinned);
	RUN(test_dns_budget);
	return t_total_failed != 0;
}
