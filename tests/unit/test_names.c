/* Unit tests for the client's -N judgement, -H name intake, resolv.conf parsing and the new
 * options. */
#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../../client/services/autohosts.h"
#include "../../client/services/autonets.h"
#include "../../client/services/features.h"
#include "../../client/opts.h"
#include "../../common/resolv.h"
#include "t.h"

static struct subnet sn(const char *s)
{
	struct subnet r;
	memset(&r, 0, sizeof(r));
	subnet_parse(s, &r, 1);
	return r;
}

#define JUDGE(r_) autonets_judge(&(r_), local, 2, expl, 1, &special, &why)

static void test_autonets_judge(void)
{
	struct subnet local[2] = {sn("192.0.2.0/24"), sn("[2001:db8:1::]/64")};
	struct subnet expl[1] = {sn("198.51.100.0/24")};
	const struct subnet *why;
	const char *special;
	struct subnet r;

	/* Judged by what a route covers, not by its network address. */
	r = sn("0/0");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_WIDE);
	r = sn("128.0.0.0/1"); /* OpenVPN's def1 half */
	CHECK_EQ_INT(JUDGE(r), AUTONETS_WIDE);
	r = sn("1.0.0.0/8"); /* the narrowest allowed, and ordinary */
	CHECK_EQ_INT(JUDGE(r), AUTONETS_KEEP);
	r = sn("2.0.0.0/7");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_WIDE);
	r = sn("[::]/1");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_WIDE);
	r = sn("[fc00::]/7"); /* unique local: wide, yet a real network */
	CHECK_EQ_INT(JUDGE(r), AUTONETS_KEEP);
	r = sn("[fc00::]/6");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_WIDE);
	/* Each special range, hit from inside and from a wider route around it. */
	r = sn("169.254.0.0/16");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	CHECK(special && strstr(special, "link-local"));
	r = sn("169.0.0.0/8"); /* covers the metadata address 169.254.169.254 */
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	CHECK(special && strstr(special, "link-local"));
	r = sn("168.0.0.0/8");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_KEEP);
	r = sn("127.0.0.0/8");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	r = sn("0.0.0.0/8");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	r = sn("224.0.0.0/4"); /* too wide before anything else */
	CHECK_EQ_INT(JUDGE(r), AUTONETS_WIDE);
	r = sn("224.0.0.0/8");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	r = sn("239.1.0.0/16");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	r = sn("223.0.0.0/8");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_KEEP);
	r = sn("255.0.0.0/8"); /* holds the broadcast address */
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	CHECK(special && strstr(special, "broadcast"));
	r = sn("[fe80::]/64");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	r = sn("[fe00::]/8"); /* wider than fe80::/10, so covers it */
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	r = sn("[ff02::]/16");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	r = sn("[::ffff:0:0]/96");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	r = sn("[::]/8"); /* holds ::, ::1 and the v4-mapped range */
	CHECK_EQ_INT(JUDGE(r), AUTONETS_SPECIAL);
	/* The client's own link, and anything overlapping it either way, stays local. */
	r = sn("192.0.2.0/24");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_ATTACHED);
	CHECK(why == &local[0]);
	r = sn("192.0.2.128/25");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_ATTACHED);
	r = sn("192.0.0.0/16");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_ATTACHED);
	r = sn("[2001:db8:1::]/48");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_ATTACHED);
	r = sn("198.51.100.0/24");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_DUP);
	r = sn("203.0.113.0/24");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_KEEP);
	r = sn("[2001:db8:2::]/64");
	CHECK_EQ_INT(JUDGE(r), AUTONETS_KEEP);
}

/* A ROUTES frame as the helper would send it. */
static size_t routes_frame(uint8_t *buf, size_t cap, const char *const *nets, size_t n)
{
	size_t len = wire_put_hdr(buf, cap, WIRE_ROUTES, 0, 0), i;

	for (i = 0; i < n; i++) {
		struct subnet r = sn(nets[i]);
		len = wire_routes_add(buf, cap, len, r.family, r.addr, r.prefix);
	}
	wire_routes_end(buf, cap, len);
	return len;
}

struct refusals {
	int n;
	enum autonets_verdict v[16];
};

static void count_refusal(void *arg, const struct subnet *r, enum autonets_verdict v,
			  const char *special, const struct subnet *net)
{
	struct refusals *rf = arg;

	if (rf->n < 16)
		rf->v[rf->n] = v;
	rf->n++;
}

static void test_autonets_build(void)
{
	static const char *const nets[] = {"128.0.0.0/1",    "203.0.113.0/24", "169.0.0.0/8",
					   "[::]/1",	     "192.0.2.0/24",   "203.0.113.0/24",
					   "198.51.100.9/24"};
	static uint8_t buf[WIRE_HDR_LEN + 4096];
	struct subnet local[1] = {sn("192.0.2.0/24")}, expl[1] = {sn("198.51.100.0/24")};
	struct autonets a;
	struct refusals rf;
	struct wire_frame f;
	struct subnet *inc = NULL;
	size_t n = 0, len = routes_frame(buf, sizeof(buf), nets, 7);

	memset(&a, 0, sizeof(a));
	memset(&rf, 0, sizeof(rf));
	CHECK(wire_parse(buf, len, &f) == (int)len);
	CHECK(!autonets_due(&a, 1000)); /* nothing yet */
	CHECK_EQ_INT(autonets_take(&a, &f), 0);
	CHECK(autonets_due(&a, 1000)); /* the first list goes in at once */
	CHECK_EQ_INT(
	    autonets_build(&a, 1000, local, 1, expl, 1, false, &inc, &n, count_refusal, &rf), 0);
	/* The explicit net, then the one good /24 once; host bits cleared on the duplicate. */
	CHECK_EQ_INT(n, 2);
	if (n == 2)
		CHECK(inc[1].prefix == 24 && inc[1].addr[0] == 203 && inc[1].addr[3] == 0);
	free(inc);
	CHECK_EQ_INT(rf.n, 4);
	CHECK_EQ_INT(rf.v[0], AUTONETS_WIDE);
	CHECK_EQ_INT(rf.v[1], AUTONETS_SPECIAL);
	CHECK_EQ_INT(rf.v[2], AUTONETS_WIDE);
	CHECK_EQ_INT(rf.v[3], AUTONETS_ATTACHED);
	/* The same list again: not due for AUTONETS_EVERY_MS, and refusals are not told twice. */
	CHECK_EQ_INT(autonets_take(&a, &f), 0);
	CHECK(!autonets_due(&a, 1000 + AUTONETS_EVERY_MS - 1));
	CHECK(autonets_due(&a, 1000 + AUTONETS_EVERY_MS));
	CHECK_EQ_INT(autonets_build(&a, 1000 + AUTONETS_EVERY_MS, local, 1, expl, 1, false, &inc,
				    &n, count_refusal, &rf),
		     0);
	free(inc);
	CHECK_EQ_INT(rf.n, 4);
	CHECK(!autonets_due(&a, 1000 + 10 * AUTONETS_EVERY_MS)); /* nothing pending */
	autonets_free(&a);
}

/*
 * This machine moves onto a network the remote routes: the same list is
 * judged again, and the route is left out; off it again, routed again.
 * The same networks in another order are no move.
 */
static void test_autonets_moved(void)
{
	static const char *const nets[] = {"203.0.113.0/24", "[2001:db8:5::]/64"};
	static uint8_t buf[WIRE_HDR_LEN + 4096];
	struct subnet home[2] = {sn("192.0.2.0/24"), sn("[2001:db8:1::]/64")};
	struct subnet moved[3] = {sn("[2001:db8:1::]/64"), sn("192.0.2.0/24"),
				  sn("[2001:db8:5::]/64")};
	struct subnet swapped[2] = {home[1], home[0]};
	struct autonets a;
	struct refusals rf;
	struct wire_frame f;
	struct subnet *inc = NULL;
	size_t n = 0, len = routes_frame(buf, sizeof(buf), nets, 2);
	int64_t now = 1000;

	memset(&a, 0, sizeof(a));
	memset(&rf, 0, sizeof(rf));
	CHECK(wire_parse(buf, len, &f) == (int)len);
	/* Nothing built yet: nothing to judge again. */
	CHECK(!autonets_moved(&a, home, 2));
	CHECK_EQ_INT(autonets_take(&a, &f), 0);
	CHECK_EQ_INT(autonets_build(&a, now, home, 2, NULL, 0, false, &inc, &n, count_refusal, &rf),
		     0);
	free(inc);
	CHECK_EQ_INT(n, 2);
	CHECK(!autonets_moved(&a, home, 2));
	CHECK(!autonets_moved(&a, swapped, 2));
	CHECK(!autonets_due(&a, now + AUTONETS_EVERY_MS));

	CHECK(autonets_moved(&a, moved, 3));
	CHECK(!autonets_due(&a, now + AUTONETS_EVERY_MS - 1));
	now += AUTONETS_EVERY_MS;
	CHECK(autonets_due(&a, now));
	CHECK_EQ_INT(
	    autonets_build(&a, now, moved, 3, NULL, 0, false, &inc, &n, count_refusal, &rf), 0);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK(inc[0].family == AF_INET && inc[0].addr[0] == 203);
	free(inc);
	CHECK_EQ_INT(rf.n, 1);
	CHECK_EQ_INT(rf.v[0], AUTONETS_ATTACHED);
	CHECK(!autonets_moved(&a, moved, 3));

	CHECK(autonets_moved(&a, home, 2));
	now += AUTONETS_EVERY_MS;
	CHECK(autonets_due(&a, now));
	CHECK_EQ_INT(autonets_build(&a, now, home, 2, NULL, 0, false, &inc, &n, count_refusal, &rf),
		     0);
	CHECK_EQ_INT(n, 2);
	free(inc);

	/* Joined again: out again, and told again. */
	CHECK(autonets_moved(&a, moved, 3));
	now += AUTONETS_EVERY_MS;
	CHECK_EQ_INT(
	    autonets_build(&a, now, moved, 3, NULL, 0, false, &inc, &n, count_refusal, &rf), 0);
	CHECK_EQ_INT(n, 1);
	free(inc);
	CHECK_EQ_INT(rf.n, 2);
	CHECK_EQ_INT(rf.v[1], AUTONETS_ATTACHED);
	autonets_free(&a);
}

/*
 * A route the budget leaves out, then routed when the list shrinks, then
 * left out again when it grows back: told once, not at each flip.
 */
static void test_autonets_budget_told_once(void)
{
	static const char *const five[] = {"20.0.0.0/8", "21.0.0.0/8", "22.0.0.0/8", "23.0.0.0/8",
					   "24.0.0.0/8"};
	static uint8_t buf[WIRE_HDR_LEN + 4096];
	struct autonets a;
	struct refusals rf;
	struct wire_frame f;
	struct subnet *inc = NULL;
	size_t n = 0, len, k;
	int64_t now = 1000;

	memset(&a, 0, sizeof(a));
	memset(&rf, 0, sizeof(rf));
	for (k = 0; k < 3; k++, now += AUTONETS_EVERY_MS) {
		/* Five /8s, then the fifth alone, then five again. */
		len = k == 1 ? routes_frame(buf, sizeof(buf), five + 4, 1)
			     : routes_frame(buf, sizeof(buf), five, 5);
		CHECK(wire_parse(buf, len, &f) == (int)len);
		CHECK_EQ_INT(autonets_take(&a, &f), 0);
		CHECK_EQ_INT(
		    autonets_build(&a, now, NULL, 0, NULL, 0, false, &inc, &n, count_refusal, &rf),
		    0);
		free(inc);
		CHECK_EQ_INT(n, k == 1 ? 1 : 4);
	}
	CHECK_EQ_INT(rf.n, 1);
	CHECK_EQ_INT(rf.v[0], AUTONETS_BUDGET);
	autonets_free(&a);
}

/*
 * One ROUTES frame (buf, len) through a fresh autonets, with no local or
 * explicit networks: *inc and *n what it routes, rf the refusals told.
 */
static void build_once(const uint8_t *buf, size_t len, bool no_ipv6, struct subnet **inc, size_t *n,
		       struct refusals *rf)
{
	struct autonets a;
	struct wire_frame f;

	memset(&a, 0, sizeof(a));
	memset(rf, 0, sizeof(*rf));
	*inc = NULL;
	*n = 0;
	CHECK(wire_parse(buf, len, &f) == (int)len);
	CHECK_EQ_INT(autonets_take(&a, &f), 0);
	CHECK_EQ_INT(autonets_build(&a, 1, NULL, 0, NULL, 0, no_ipv6, inc, n, count_refusal, rf),
		     0);
	autonets_free(&a);
}

static void test_autonets_cap(void)
{
	static uint8_t buf[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];
	struct refusals rf;
	struct subnet *inc = NULL;
	size_t n = 0, len = wire_put_hdr(buf, sizeof(buf), WIRE_ROUTES, 0, 0), i;

	/* A helper that reports a thousand distinct /24s gets AUTONETS_MAX of them. */
	for (i = 0; i < 1000; i++) {
		uint8_t addr[16] = {10, (uint8_t)(i >> 8), (uint8_t)i};
		len = wire_routes_add(buf, sizeof(buf), len, AF_INET, addr, 24);
	}
	wire_routes_end(buf, sizeof(buf), len);
	build_once(buf, len, false, &inc, &n, &rf);
	CHECK_EQ_INT(n, AUTONETS_MAX);
	CHECK_EQ_INT(rf.n, 1000 - AUTONETS_MAX);
	CHECK_EQ_INT(rf.v[0], AUTONETS_FULL);
	free(inc);
}

/* Many narrow routes that together cover what a wide one would are held to a budget. */
static void test_autonets_budget(void)
{
	static uint8_t buf[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];
	struct refusals rf;
	struct subnet *inc = NULL;
	size_t n = 0, len = wire_put_hdr(buf, sizeof(buf), WIRE_ROUTES, 0, 0), i;

	/* 1/8 ... 223/8, and 16 /7s over 2000::/3: all of the internet, route by route. */
	for (i = 1; i < 224; i++) {
		uint8_t addr[16] = {(uint8_t)i};
		len = wire_routes_add(buf, sizeof(buf), len, AF_INET, addr, 8);
	}
	for (i = 0; i < 16; i++) {
		uint8_t addr[16] = {(uint8_t)(0x20 + 2 * i)};
		len = wire_routes_add(buf, sizeof(buf), len, AF_INET6, addr, 7);
	}
	wire_routes_end(buf, sizeof(buf), len);
	build_once(buf, len, false, &inc, &n, &rf);
	/* Four /8s (1-4; 0/8 and 127/8 are special anyway) and two /7s. */
	CHECK_EQ_INT(n, 6);
	if (n == 6)
		CHECK(inc[0].addr[0] == 1 && inc[3].addr[0] == 4 && inc[4].family == AF_INET6);
	CHECK_EQ_INT(rf.v[0], AUTONETS_BUDGET);
	free(inc);
}

/* --disable-ipv6: the remote's IPv6 routes are refused, its IPv4 ones kept. */
static void test_autonets_no_ipv6(void)
{
	static const char *const nets[] = {"203.0.113.0/24", "[2001:db8:2::]/64"};
	static uint8_t buf[WIRE_HDR_LEN + 256];
	struct refusals rf;
	struct subnet *inc = NULL;
	size_t n = 0, len = routes_frame(buf, sizeof(buf), nets, 2);

	build_once(buf, len, true, &inc, &n, &rf);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_INT(inc[0].family, AF_INET);
	CHECK_EQ_INT(rf.n, 1);
	CHECK_EQ_INT(rf.v[0], AUTONETS_FAMILY);
	free(inc);
}

static struct wire_host host(int family, const char *addr, const char *name)
{
	struct wire_host w;

	memset(&w, 0, sizeof(w));
	w.family = family;
	inet_pton(family, addr, w.addr);
	snprintf(w.name, sizeof(w.name), "%s", name);
	return w;
}

/*
 * A remote line for the name the tunnel reaches its server by (or a jump
 * host's) would send the next reconnect into the tunnel's own capture.
 */
static void test_autohosts_own_names(void)
{
	static struct features sv;
	struct wire_host w;
	const char *why = NULL;
	static const char *const own[] = {"gw", "gw.corp.example", "jump1.example", "jump2.example",
					  "jump3.example"};

	memset(&sv, 0, sizeof(sv));
	features_own_names(&sv, "gw", "GW.corp.example.",
			   "alice@jump1.example:2222,[jump2.example]:22,ssh://b@b@jump3.example,"
			   "198.51.100.9");
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		w = host(AF_INET, "198.51.100.2", own[i]);
		CHECK_EQ_INT(autohosts_add(&sv.hosts, &w, &why), -EINVAL);
		CHECK(why && strstr(why, "reaches its server"));
	}
	w = host(AF_INET, "198.51.100.2", "corp.example");
	CHECK_EQ_INT(autohosts_add(&sv.hosts, &w, &why), 1);
	w = host(AF_INET, "198.51.100.2", "jump4.example");
	CHECK_EQ_INT(autohosts_add(&sv.hosts, &w, &why), 1);
	CHECK_EQ_INT(sv.hosts.n_own, 5);
	free(sv.hosts.c);
	free(sv.hosts.e);
}

/* A remote line for this machine's own name would answer its own look-ups. */
static void test_autohosts_self(void)
{
	static const char *const self[] = {"laptop.corp.example", "LAPTOP.corp.example."};
	static const char *const others[] = {"laptop.other.example", "laptop", "corp.example"};
	struct autohosts h;
	struct wire_host w;
	const char *why = NULL;
	size_t i;

	memset(&h, 0, sizeof(h));
	autohosts_self(&h, "Laptop.corp.example");
	for (i = 0; i < sizeof(self) / sizeof(self[0]); i++) {
		w = host(AF_INET, "198.51.100.2", self[i]);
		CHECK_EQ_INT(autohosts_add(&h, &w, &why), -EINVAL);
		CHECK(why && strstr(why, "this machine's own name"));
	}
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		w = host(AF_INET, "198.51.100.2", others[i]);
		CHECK_EQ_INT(autohosts_add(&h, &w, &why), 1);
	}
	/* A short one; a name that is not usable is none. */
	autohosts_self(&h, "box");
	w = host(AF_INET, "198.51.100.2", "box");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), -EINVAL);
	w = host(AF_INET, "198.51.100.2", "box.corp.example");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), 1);
	autohosts_self(&h, "bad name");
	CHECK(!h.self[0]);
	w = host(AF_INET, "198.51.100.2", "box");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), 1);
	free(h.c);
	free(h.e);
}

static void test_autohosts_intake(void)
{
	struct autohosts h;
	struct wire_host w;
	const char *why;

	memset(&h, 0, sizeof(h));
	w = host(AF_INET, "198.51.100.2", "LanHost.corp.test.");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), 1);
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), 0);
	CHECK_STR(h.c[0].name, "lanhost.corp.test"); /* the shared rule normalizes */
	/* What a hostile helper might send never gets near the file. */
	w = host(AF_INET, "198.51.100.2", "evil name");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), -EINVAL);
	CHECK(why != NULL);
	w = host(AF_INET, "198.51.100.2", "x\n127.0.0.1 bank.example");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), -EINVAL);
	w = host(AF_INET, "198.51.100.2", "localhost");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), -EINVAL);
	w = host(AF_INET, "198.51.100.2", "10.0.0.1"); /* an address posing as a name */
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), -EINVAL);
	/* The same special ranges as -N uses: 169.254/16 included, on both ends now. */
	w = host(AF_INET, "127.0.0.1", "ok.test");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), -EINVAL);
	CHECK(why && strstr(why, "loopback"));
	w = host(AF_INET, "169.254.169.254", "metadata.test");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), -EINVAL);
	w = host(AF_INET, "0.0.0.0", "ok.test");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), -EINVAL);
	w = host(AF_INET6, "::1", "ok.test");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), -EINVAL);
	w = host(AF_INET6, "::ffff:127.0.0.1", "ok.test");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), -EINVAL);
	w = host(AF_INET6, "2001:db8:2::77", "ok.test");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), 1);
	CHECK_EQ_INT(h.n, 2);
	CHECK(h.dirty);
	CHECK_EQ_INT(autohosts_finish(&h), 0); /* never written: nothing to restore */
}

static void test_autohosts_carried(void)
{
	struct subnet inc[3] = {sn("198.51.100.0/24"), sn("203.0.113.0/24:443"),
				sn("[2001:db8:2::]/64")};
	struct subnet exc[2] = {sn("198.51.100.128/25"), sn("[2001:db8:2::80]/128:22")};
	struct autohosts_routes r = {inc, exc, 3, 2};
	uint8_t a[16];

	inet_pton(AF_INET, "198.51.100.2", a);
	CHECK(autohosts_carried(&r, AF_INET, a, false));
	inet_pton(AF_INET, "198.51.100.200", a); /* excluded */
	CHECK(!autohosts_carried(&r, AF_INET, a, false));
	CHECK(!autohosts_carried(&r, AF_INET, a, true));
	inet_pton(AF_INET, "203.0.113.5", a); /* only port 443 is routed */
	CHECK(!autohosts_carried(&r, AF_INET, a, false));
	CHECK(autohosts_carried(&r, AF_INET, a, true));
	inet_pton(AF_INET, "192.0.2.1", a);
	CHECK(!autohosts_carried(&r, AF_INET, a, true));
	inet_pton(AF_INET6, "2001:db8:2::80", a); /* one port excluded */
	CHECK(!autohosts_carried(&r, AF_INET6, a, false));
	CHECK(autohosts_carried(&r, AF_INET6, a, true));
	inet_pton(AF_INET6, "2001:db8:2::81", a);
	CHECK(autohosts_carried(&r, AF_INET6, a, false));
}

struct left {
	int n;
	char what[8][300];
};

static void note_left(void *arg, const struct autohosts_name *nm, enum autohosts_why why)
{
	struct left *l = arg;

	if (l->n < 8)
		snprintf(l->what[l->n], sizeof(l->what[0]), "%s %s", nm->name,
			 why == AUTOHOSTS_WHY_USERS ? "users" : "unrouted");
	l->n++;
}

static void test_autohosts_flush(void)
{
	static const char *const seeds[] = {"seeded.test"};
	struct subnet inc[2] = {sn("198.51.100.0/24"), sn("203.0.113.0/24:443")};
	struct autohosts_routes r = {inc, NULL, 1, 0};
	static const char users[] = "127.0.0.1 localhost\n198.51.100.9 mine.test # user's\n";
	char path[] = "/tmp/sluice-autohosts-XXXXXX", text[4096];
	struct autohosts h;
	struct wire_host w;
	struct left l;
	const char *why;
	int fd = mkstemp(path);
	ssize_t n;

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	close(fd);
	CHECK_EQ_INT(t_write_file(path, users, strlen(users)), 0);
	memset(&h, 0, sizeof(h));
	memset(&l, 0, sizeof(l));
	h.path = path;
	h.seeds = seeds;
	h.n_seeds = 1;
	w = host(AF_INET, "198.51.100.2", "lan.test");
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), 1);
	w = host(AF_INET, "192.0.2.66", "github.com"); /* a PTR for an address we do not route */
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), 1);
	w = host(AF_INET, "198.51.100.66", "MINE.test"); /* the user's own name */
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), 1);
	w = host(AF_INET, "203.0.113.5", "seeded.test"); /* seeded: some port is enough */
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), 1);
	w = host(AF_INET, "203.0.113.6", "other.test"); /* not seeded: needs every port */
	CHECK_EQ_INT(autohosts_add(&h, &w, &why), 1);
	r.n_include = 2;
	CHECK_EQ_INT(autohosts_flush(&h, 100, &r, note_left, &l), 0);
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	CHECK_STR(text,
		  "127.0.0.1 localhost\n198.51.100.9 mine.test # user's\n"
		  "198.51.100.2 lan.test  # sluice -H\n203.0.113.5 seeded.test  # sluice -H\n");
	CHECK_EQ_INT(l.n, 3);
	CHECK_STR(l.what[0], "github.com unrouted");
	CHECK_STR(l.what[1], "other.test unrouted");
	CHECK_STR(l.what[2], "mine.test users");
	/* Nothing new: no write, and nothing told again. */
	CHECK_EQ_INT(autohosts_flush(&h, 101, &r, note_left, &l), 0);
	CHECK_EQ_INT(l.n, 3);
	/* -N takes the route away: the name goes at the next write. */
	r.n_include = 0;
	autohosts_routes_changed(&h);
	CHECK_EQ_INT(autohosts_flush(&h, 102, &r, note_left, &l), 0);
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	CHECK_STR(text, "127.0.0.1 localhost\n198.51.100.9 mine.test # user's\n");
	CHECK_EQ_INT(autohosts_finish(&h), 0);
	unlink(path);
}

static void test_resolv_parse(void)
{
	struct sockaddr_storage ss[4];
	char a[64], text[256];
	size_t n = resolv_parse("# comment\n"
				"search corp.test\n"
				"nameserver 192.0.2.53\n"
				"  nameserver\t2001:db8::53 # trailing\n"
				"nameserver bogus\n"
				"nameserver fe80::1%nosuchif9\n"
				"nameserverX 192.0.2.9\n"
				"options timeout:1",
				ss, 4);

	CHECK_EQ_INT(n, 2); /* nosuchif9 is no interface here: no use */
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss[0])->sin_addr, a, sizeof(a));
	CHECK_STR(a, "192.0.2.53");
	CHECK_EQ_INT(ntohs(((struct sockaddr_in *)&ss[0])->sin_port), 53);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss[1])->sin6_addr, a, sizeof(a));
	CHECK_STR(a, "2001:db8::53");
	/* A scope this machine knows (lo, or its index) is kept with the address. */
	snprintf(text, sizeof(text),
		 "nameserver fe80::53%%lo\nnameserver fe80::54%%%u\n"
		 "nameserver fe80::55%%\nnameserver fe80::56%%4000000000\n",
		 if_nametoindex("lo"));
	CHECK_EQ_INT(resolv_parse(text, ss, 4), 2);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss[0])->sin6_addr, a, sizeof(a));
	CHECK_STR(a, "fe80::53");
	CHECK_EQ_INT(((struct sockaddr_in6 *)&ss[0])->sin6_scope_id, if_nametoindex("lo"));
	CHECK_EQ_INT(((struct sockaddr_in6 *)&ss[1])->sin6_scope_id, if_nametoindex("lo"));
	CHECK_EQ_INT(resolv_parse("nameserver 192.0.2.1\nnameserver 192.0.2.2\n", ss, 1), 1);
	CHECK_EQ_INT(resolv_parse("", ss, 4), 0);
}

static int parse(struct opts *o, char *err, int argc, ...)
{
	char *argv[16];
	va_list ap;

	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	argv[argc] = NULL;
	return opts_parse(o, argc, argv, stdout, err, 256);
}

static void test_name_options(void)
{
	struct opts o;
	char err[256];

	CHECK_EQ_INT(parse(&o, err, 9, "sluice", "-r", "h", "-N", "-H", "--dns", "--seed-hosts",
			   "a.test,b", "--to-ns=[2001:db8::53]:5353"),
		     0);
	CHECK(o.auto_nets && o.auto_hosts && o.dns && o.has_to_ns);
	CHECK_EQ_INT(o.n_seed_hosts, 2);
	CHECK_STR(o.seed_hosts[1], "b");
	CHECK_EQ_INT(o.to_ns.family, AF_INET6);
	CHECK_EQ_INT(o.to_ns.port_lo, 5353);
	opts_free(&o);
	CHECK_EQ_INT(
	    parse(&o, err, 6, "sluice", "-r", "h", "-N", "--ns-hosts", "192.0.2.53,[2001:db8::1]"),
	    0);
	CHECK_EQ_INT(o.n_ns_hosts, 2);
	CHECK_EQ_INT(o.ns_hosts[0].port_lo, 53);
	opts_free(&o);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "-N", "--to-ns", "resolver.test") < 0);
	CHECK(strstr(err, "resolver.test") != NULL);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "-N", "--ns-hosts", "192.0.2.0/24") < 0);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "-N", "--seed-hosts", "a b") < 0);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "-N", "--to-ns", "192.0.2.1:0") < 0);
	/* --user/--group: by number or by name; an unknown name is refused by name. */
	CHECK_EQ_INT(
	    parse(&o, err, 7, "sluice", "-r", "h", "--user", "4242", "--group=root", "10/8"), 0);
	CHECK(o.by_uid && o.uid == 4242 && o.by_gid && o.gid == 0);
	opts_free(&o);
	CHECK_EQ_INT(parse(&o, err, 6, "sluice", "-r", "h", "--user", "root", "10/8"), 0);
	CHECK(o.by_uid && o.uid == 0 && !o.by_gid);
	opts_free(&o);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "--user", "no-such-user-zz", "10/8") < 0);
	CHECK(strstr(err, "no such user 'no-such-user-zz'") != NULL);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "--group", "", "10/8") < 0);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "--user", "+7", "10/8") < 0);
	CHECK(strstr(err, "no such user '+7'") != NULL);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "--user", " 7", "10/8") < 0);
	/* --disable-ipv6 and a name with both families: its IPv4 addresses only. */
	CHECK_EQ_INT(parse(&o, err, 5, "sluice", "-r", "h", "--disable-ipv6", "localhost"), 0);
	CHECK(o.n_include >= 1);
	for (size_t i = 0; i < o.n_include; i++)
		CHECK_EQ_INT(o.include[i].family, AF_INET);
	opts_free(&o);
	CHECK(parse(&o, err, 5, "sluice", "-r", "h", "--disable-ipv6", "[::1]") < 0);
	/* --disable-ipv6: an IPv6 subnet or nameserver given anyway is refused by name. */
	CHECK_EQ_INT(parse(&o, err, 5, "sluice", "-r", "h", "--disable-ipv6", "198.51.100.0/24"),
		     0);
	CHECK(o.no_ipv6);
	opts_free(&o);
	CHECK(parse(&o, err, 5, "sluice", "-r", "h", "--disable-ipv6", "[2001:db8::]/64") < 0);
	CHECK(strstr(err, "IPv6 subnet [2001:db8::]/64 given with --disable-ipv6") != NULL);
	CHECK(parse(&o, err, 7, "sluice", "-r", "h", "-N", "--disable-ipv6", "--ns-hosts",
		    "2001:db8::53") < 0);
}

int main(void)
{
	RUN(test_autonets_judge);
	RUN(test_autonets_build);
	RUN(test_autonets_moved);
	RUN(test_autonets_budget_told_once);
	RUN(test_autonets_cap);
	RUN(test_autonets_budget);
	RUN(test_autonets_no_ipv6);
	RUN(test_autohosts_carried);
	RUN(test_autohosts_flush);
	RUN(test_autohosts_intake);
	RUN(test_autohosts_own_names);
	RUN(test_autohosts_self);
	RUN(test_resolv_parse);
	RUN(test_name_options);
	T_EXIT();
}
