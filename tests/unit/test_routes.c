/*
 * test_routes: the route filter (which routes are worth tunnelling, sorted
 * and deduplicated, bounded) fed with made-up routes; the attribute walker
 * with broken input; the private netlink ABI against the kernel's headers;
 * and this machine's real routes, checked for the promised invariants only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "../../common/routes.h"
#include "../../common/routes_internal.h"
#include "t.h"

/* The helper is built without <linux/...>; these must stay equal to the kernel's. */
_Static_assert(sizeof(struct rnl_hdr) == sizeof(struct nlmsghdr), "nlmsghdr");
_Static_assert(sizeof(struct rnl_err) == sizeof(struct nlmsgerr), "nlmsgerr");
_Static_assert(sizeof(struct rnl_rtmsg) == sizeof(struct rtmsg), "rtmsg");
_Static_assert(sizeof(struct rnl_ndmsg) == sizeof(struct ndmsg), "ndmsg");
_Static_assert(sizeof(struct rnl_attr) == sizeof(struct rtattr), "rtattr");
_Static_assert(sizeof(struct rnl_nexthop) == sizeof(struct rtnexthop), "rtnexthop");
_Static_assert(__builtin_offsetof(struct rnl_rtmsg, scope) ==
		   __builtin_offsetof(struct rtmsg, rtm_scope),
	       "rtm_scope");
_Static_assert(__builtin_offsetof(struct rnl_ndmsg, state) ==
		   __builtin_offsetof(struct ndmsg, ndm_state),
	       "ndm_state");
_Static_assert(RNL_NETLINK_ROUTE == NETLINK_ROUTE && RNL_NOOP == NLMSG_NOOP &&
		   RNL_ERROR == NLMSG_ERROR && RNL_DONE == NLMSG_DONE &&
		   RNL_F_REQUEST == NLM_F_REQUEST && RNL_F_DUMP == NLM_F_DUMP &&
		   RNL_F_DUMP_INTR == NLM_F_DUMP_INTR && RNL_ATTR_TYPE == (NLA_TYPE_MASK & 0xffff),
	       "netlink constants");
_Static_assert(RNL_NEWROUTE == RTM_NEWROUTE && RNL_GETROUTE == RTM_GETROUTE &&
		   RNL_NEWNEIGH == RTM_NEWNEIGH && RNL_GETNEIGH == RTM_GETNEIGH,
	       "message types");
_Static_assert(RNL_TABLE_MAIN == RT_TABLE_MAIN && RNL_UNICAST == RTN_UNICAST &&
		   RNL_SCOPE_LINK == RT_SCOPE_LINK && RNL_RTM_CLONED == RTM_F_CLONED &&
		   RNL_RTA_DST == RTA_DST && RNL_RTA_GATEWAY == RTA_GATEWAY &&
		   RNL_RTA_MULTI == RTA_MULTIPATH && RNL_RTA_TABLE == RTA_TABLE &&
		   RNL_RTA_VIA == RTA_VIA && RNL_RTA_NH_ID == RTA_NH_ID,
	       "route attributes");
_Static_assert(RNL_NDA_DST == NDA_DST && RNL_NUD_INCOMPLETE == NUD_INCOMPLETE &&
		   RNL_NUD_FAILED == NUD_FAILED && RNL_NUD_NOARP == NUD_NOARP,
	       "neighbour constants");

/* A main-table unicast route to text/prefix, on-link unless gw. */
static struct routes_cand cand(const char *text, int prefix, int gw)
{
	struct routes_cand c;

	memset(&c, 0, sizeof(c));
	c.family = strchr(text, ':') ? AF_INET6 : AF_INET;
	inet_pton(c.family, text, c.addr);
	c.prefix = (uint8_t)prefix;
	c.type = RNL_UNICAST;
	c.table = RNL_TABLE_MAIN;
	c.scope = gw || c.family == AF_INET6 ? 0 : RNL_SCOPE_LINK;
	c.gateway = (uint8_t)gw;
	return c;
}

static const char *fmt(const struct subnet *s)
{
	static char buf[SUBNET_STRLEN];

	if (subnet_format(s, buf, sizeof(buf)) < 0)
		return "?";
	return buf;
}

static size_t add(struct subnet *out, size_t n, size_t max, const char *text, int prefix, int gw,
		  unsigned flags)
{
	struct routes_cand c = cand(text, prefix, gw);
	return routes_add(out, n, max, &c, flags);
}

static void test_keeps_plain_routes(void)
{
	struct subnet out[4];
	size_t n = 0;

	n = add(out, n, 4, "192.0.2.0", 24, 0, 0);
	n = add(out, n, 4, "198.51.100.0", 24, 1, 0);
	n = add(out, n, 4, "2001:db8::", 32, 1, 0);
	CHECK_EQ_INT(n, 3);
	CHECK_STR(fmt(&out[0]), "192.0.2.0/24");
	CHECK_STR(fmt(&out[1]), "198.51.100.0/24");
	CHECK_STR(fmt(&out[2]), "[2001:db8::]/32");
	CHECK_EQ_INT(out[0].port_lo, 0);
	CHECK_EQ_INT(out[0].port_hi, 65535);
}

static void test_skips_local_plumbing(void)
{
	static const struct {
		const char *addr;
		int prefix;
	} skip[] = {
	    {"0.0.0.0", 0},	 {"::", 0},	      {"127.0.0.0", 8},	  {"127.0.0.1", 32},
	    {"169.254.0.0", 16}, {"169.254.3.0", 24}, {"224.0.0.0", 4},	  {"239.1.2.0", 24},
	    {"::1", 128},	 {"fe80::", 64},      {"fe80::", 10},	  {"febf::", 16},
	    {"ff00::", 8},	 {"ff02::", 16},      {"::ffff:0:0", 96}, {"0.0.0.0", 8},
	};
	struct subnet out[4];
	size_t i;

	for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
		size_t n = add(out, 0, 4, skip[i].addr, skip[i].prefix, 0, 0);
		if (n != 0)
			printf("kept %s/%d\n", skip[i].addr, skip[i].prefix);
		CHECK_EQ_INT(n, 0);
	}
	/* Neighbours of the special ranges are ordinary networks. */
	CHECK_EQ_INT(add(out, 0, 4, "169.255.0.0", 16, 0, 0), 1);
	CHECK_EQ_INT(add(out, 0, 4, "fec0::", 10, 0, 0), 1);
	CHECK_EQ_INT(add(out, 0, 4, "128.0.0.0", 1, 0, 0), 1);
	CHECK_EQ_INT(add(out, 0, 4, "208.0.0.0", 4, 0, 0), 1);
}

static void test_skips_other_tables_and_types(void)
{
	struct subnet out[4];
	struct routes_cand c;

	c = cand("192.0.2.0", 24, 0);
	c.table = 255; /* local */
	CHECK_EQ_INT(routes_add(out, 0, 4, &c, 0), 0);
	c = cand("192.0.2.0", 24, 0);
	c.table = 1000; /* only visible through RTA_TABLE */
	CHECK_EQ_INT(routes_add(out, 0, 4, &c, 0), 0);
	c = cand("192.0.2.0", 24, 0);
	c.type = 6; /* RTN_PROHIBIT */
	CHECK_EQ_INT(routes_add(out, 0, 4, &c, 0), 0);
	c = cand("192.0.2.0", 24, 0);
	c.type = 2; /* RTN_LOCAL */
	CHECK_EQ_INT(routes_add(out, 0, 4, &c, 0), 0);
	c = cand("2001:db8::", 64, 0);
	c.flags = RNL_RTM_CLONED;
	CHECK_EQ_INT(routes_add(out, 0, 4, &c, 0), 0);
	c = cand("192.0.2.0", 33, 0);
	CHECK_EQ_INT(routes_add(out, 0, 4, &c, 0), 0);
	c = cand("2001:db8::", 129, 0);
	CHECK_EQ_INT(routes_add(out, 0, 4, &c, 0), 0);
	c = cand("192.0.2.0", 24, 0);
	c.family = AF_UNIX;
	CHECK_EQ_INT(routes_add(out, 0, 4, &c, 0), 0);
}

static void test_connected_only(void)
{
	struct subnet out[4];
	struct routes_cand c;

	CHECK_EQ_INT(add(out, 0, 4, "192.0.2.0", 24, 0, ROUTES_CONNECTED), 1);
	CHECK_EQ_INT(add(out, 0, 4, "192.0.2.0", 24, 1, ROUTES_CONNECTED), 0);
	CHECK_EQ_INT(add(out, 0, 4, "2001:db8::", 64, 0, ROUTES_CONNECTED), 1);
	CHECK_EQ_INT(add(out, 0, 4, "2001:db8::", 64, 1, ROUTES_CONNECTED), 0);
	/* IPv4 without a gateway but scope universe: not on-link, e.g. a blackhole-ish device
	 * route. */
	c = cand("192.0.2.0", 24, 0);
	c.scope = 0;
	CHECK_EQ_INT(routes_add(out, 0, 4, &c, ROUTES_CONNECTED), 0);
	CHECK_EQ_INT(routes_add(out, 0, 4, &c, 0), 1);
}

static void test_sorted_masked_deduped(void)
{
	struct subnet out[8];
	size_t n = 0;

	n = add(out, n, 8, "2001:db8::1", 64, 0, 0);
	n = add(out, n, 8, "203.0.113.77", 24, 0, 0);
	n = add(out, n, 8, "10.1.2.3", 8, 0, 0);
	n = add(out, n, 8, "10.0.0.0", 8, 1, 0);
	n = add(out, n, 8, "10.0.0.0", 16, 0, 0);
	n = add(out, n, 8, "2001:db8::", 64, 0, 0);
	n = add(out, n, 8, "192.0.2.130", 25, 0, 0);
	CHECK_EQ_INT(n, 5);
	CHECK_STR(fmt(&out[0]), "10.0.0.0/8");
	CHECK_STR(fmt(&out[1]), "10.0.0.0/16");
	CHECK_STR(fmt(&out[2]), "192.0.2.128/25");
	CHECK_STR(fmt(&out[3]), "203.0.113.0/24");
	CHECK_STR(fmt(&out[4]), "[2001:db8::]/64");
	CHECK(memcmp(out[4].addr + 8, "\0\0\0\0\0\0\0\0", 8) == 0);
	CHECK(memcmp(out[3].addr + 3, "\0", 1) == 0);
}

static void test_bounded_keeps_smallest(void)
{
	static const char *const nets[] = {"203.0.113.0", "192.0.2.0", "198.51.100.0"};
	struct subnet a[2], b[2];
	size_t na = 0, nb = 0, i;

	for (i = 0; i < 3; i++)
		na = add(a, na, 2, nets[i], 24, 0, 0);
	for (i = 3; i-- > 0;)
		nb = add(b, nb, 2, nets[i], 24, 0, 0);
	CHECK_EQ_INT(na, 2);
	CHECK_EQ_INT(nb, 2);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
	CHECK_STR(fmt(&a[0]), "192.0.2.0/24");
	CHECK_STR(fmt(&a[1]), "198.51.100.0/24");
	CHECK_EQ_INT(add(NULL, 0, 0, "192.0.2.0", 24, 0, 0), 0);
}

static void test_attr_walk(void)
{
	uint8_t buf[64];
	struct rnl_val tb[8];
	struct rnl_attr a;

	memset(buf, 0, sizeof(buf));
	/* type 1 with 4 bytes, type 5 with 1 byte (padded), type 99 ignored */
	a.len = 8;
	a.type = 1;
	memcpy(buf, &a, 4);
	memcpy(buf + 4, "\xc0\x00\x02\x01", 4);
	a.len = 5;
	a.type = 5 | 0x8000; /* NLA_F_NESTED must not hide the type */
	memcpy(buf + 8, &a, 4);
	a.len = 4;
	a.type = 99;
	memcpy(buf + 16, &a, 4);
	routes_nl_attrs(buf, 20, tb, 8);
	CHECK(tb[1].p == buf + 4);
	CHECK_EQ_INT(tb[1].len, 4);
	CHECK(tb[5].p == buf + 12);
	CHECK_EQ_INT(tb[5].len, 1);
	CHECK(tb[2].p == NULL);

	/* An attribute claiming more than is there ends the walk before it. */
	a.len = 200;
	a.type = 2;
	memcpy(buf + 8, &a, 4);
	routes_nl_attrs(buf, 20, tb, 8);
	CHECK(tb[1].p != NULL);
	CHECK(tb[2].p == NULL);
	CHECK(tb[5].p == NULL);
	/* Too short for a header; and a zero length that would loop forever. */
	routes_nl_attrs(buf, 3, tb, 8);
	CHECK(tb[1].p == NULL);
	memset(buf, 0, sizeof(buf));
	routes_nl_attrs(buf, sizeof(buf), tb, 8);
	CHECK(tb[0].p == NULL);
}

static int covered(const struct subnet *all, int n, const struct subnet *s)
{
	int i;

	for (i = 0; i < n; i++)
		if (memcmp(&all[i], s, sizeof(*s)) == 0)
			return 1;
	return 0;
}

static void check_invariants(const struct subnet *s, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct routes_cand c;
		struct subnet again[1];
		unsigned bits = s[i].family == AF_INET ? 32 : 128;

		CHECK(s[i].family == AF_INET || s[i].family == AF_INET6);
		CHECK(s[i].prefix > 0 && s[i].prefix <= bits);
		CHECK(s[i].port_lo == 0 && s[i].port_hi == 65535);
		if (i > 0) {
			CHECK(s[i - 1].family <= s[i].family);
			CHECK(memcmp(&s[i - 1], &s[i], sizeof(s[i])) != 0);
			if (s[i - 1].family == s[i].family)
				CHECK(memcmp(s[i - 1].addr, s[i].addr, 16) < 0 ||
				      (memcmp(s[i - 1].addr, s[i].addr, 16) == 0 &&
				       s[i - 1].prefix < s[i].prefix));
		}
		/* Fed back through the filter, a route stays exactly as it is. */
		memset(&c, 0, sizeof(c));
		c.family = s[i].family;
		memcpy(c.addr, s[i].addr, 16);
		c.prefix = s[i].prefix;
		c.type = RNL_UNICAST;
		c.table = RNL_TABLE_MAIN;
		c.scope = RNL_SCOPE_LINK;
		CHECK_EQ_INT(routes_add(again, 0, 1, &c, 0), 1);
		CHECK(memcmp(&again[0], &s[i], sizeof(s[i])) == 0);
	}
}

static void test_live_routes(void)
{
	struct subnet all[512], all2[512], conn[512], few[1];
	int n, n2, nc, nf, i;

	n = routes_read(all, 512, 0);
	CHECK(n >= 0);
	if (n < 0) {
		printf("routes_read: %s\n", strerror(-n));
		return;
	}
	for (i = 0; i < n; i++)
		printf("# route %s\n", fmt(&all[i]));
	check_invariants(all, n);
	nc = routes_read(conn, 512, ROUTES_CONNECTED);
	CHECK(nc >= 0 && nc <= n);
	check_invariants(conn, nc);
	for (i = 0; i < nc; i++)
		CHECK(covered(all, n, &conn[i]));
	/* Two reads in a row agree byte for byte (unless the table changed meanwhile). */
	n2 = routes_read(all2, 512, 0);
	CHECK_EQ_INT(n2, n);
	if (n2 == n)
		CHECK(memcmp(all, all2, (size_t)n * sizeof(all[0])) == 0);
	/* Truncation keeps the first of the sorted list. */
	nf = routes_read(few, 1, 0);
	CHECK_EQ_INT(nf, n > 0 ? 1 : 0);
	if (n > 0 && nf == 1)
		CHECK(memcmp(&few[0], &all[0], sizeof(few[0])) == 0);
	CHECK_EQ_INT(routes_read(NULL, 0, 0), 0);
}

static int count_cb(const struct rnl_hdr *h, const void *body, size_t len, void *arg)
{
	if (h->type == RNL_NEWROUTE && len >= sizeof(struct rnl_rtmsg))
		(*(int *)arg)++;
	return 0;
}

static int stop_cb(const struct rnl_hdr *h, const void *body, size_t len, void *arg)
{
	(*(int *)arg)++;
	return -ECANCELED;
}

static void test_live_dump(void)
{
	int n = 0, r;

	/* The local table always has routes (at least loopback's). */
	r = routes_nl_dump(RNL_GETROUTE, AF_INET, count_cb, &n);
	CHECK(r == 0 || r == -EAGAIN);
	CHECK(n > 0);
	n = 0;
	r = routes_nl_dump(RNL_GETROUTE, AF_INET, stop_cb, &n);
	CHECK_EQ_INT(r, -ECANCELED);
	CHECK_EQ_INT(n, 1);
	/* The neighbour table may be empty; the dump itself must work. */
	r = routes_nl_dump(RNL_GETNEIGH, AF_INET6, count_cb, &n);
	CHECK(r == 0 || r == -EAGAIN || r == -EAFNOSUPPORT);
}

int main(void)
{
	RUN(test_keeps_plain_routes);
	RUN(test_skips_local_plumbing);
	RUN(test_skips_other_tables_and_types);
	RUN(test_connected_only);
	RUN(test_sorted_masked_deduped);
	RUN(test_bounded_keeps_smallest);
	RUN(test_attr_walk);
	RUN(test_live_routes);
	RUN(test_live_dump);
	T_EXIT();
}
