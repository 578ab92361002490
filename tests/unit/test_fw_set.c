/*
 * test_fw_set: prefix merging, interval set elements, and the layout of
 * the netlink batches, all without a kernel.
 *
 * Element oracles were captured once (nftables 1.0.6) in a throw-away netns
 * on sets "type ipv4_addr; flags interval;" (ipv6_addr for v6) with
 *   nft --debug=netlink add element inet sluice exc4 '{ ... }'
 * which prints each element as 32-bit words in host order, then
 * ": 1 [end]" for an interval end and ": 0 [end]" for a start.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>

#include "t.h"
#include "../../firewall/fw.h"
#include "../../firewall/nft_internal.h"

static struct subnet sn(const char *addr, int prefix, int lo, int hi)
{
	struct subnet s;

	memset(&s, 0, sizeof(s));
	s.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(s.family, addr, s.addr) != 1)
		abort();
	s.prefix = (uint8_t)prefix;
	s.port_lo = (uint16_t)lo;
	s.port_hi = (uint16_t)hi;
	return s;
}

static struct subnet all(const char *addr, int prefix)
{
	return sn(addr, prefix, 0, 65535);
}

static const char *fmt_addr(int family, const uint8_t *a)
{
	static char buf[INET6_ADDRSTRLEN];

	return inet_ntop(family, a, buf, sizeof(buf));
}

/* "lo-hi" of range i, for readable comparisons. */
static const char *fmt_range(int family, const struct nft_range *r)
{
	static char buf[2 * INET6_ADDRSTRLEN + 2];
	char lo[INET6_ADDRSTRLEN];

	snprintf(lo, sizeof(lo), "%s", fmt_addr(family, r->lo));
	snprintf(buf, sizeof(buf), "%s-%s", lo, fmt_addr(family, r->hi));
	return buf;
}

/* Elements in the shape of nft's debug output, tab separated. */
static const char *fmt_elems(int family, const struct nft_elem *e, size_t n)
{
	static char buf[4096];
	size_t words = family == AF_INET ? 1 : 4, len = 0, i, w;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\telement ");
		for (w = 0; w < words; w++) {
			uint32_t v;

			memcpy(&v, e[i].key + 4 * w, 4);
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%08x",
						w ? " " : "", v);
		}
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "  : %d [end]", e[i].end);
	}
	return buf;
}

static size_t merge(int family, const struct subnet *s, size_t n, struct nft_range *out)
{
	return nft_ranges_merge(family, s, n, out);
}

static void test_merge_empty(void)
{
	struct nft_range r[1];

	CHECK_EQ_INT(merge(AF_INET, NULL, 0, r), 0);
	CHECK_EQ_INT(nft_ranges_elems(AF_INET, r, 0, NULL), 0);
}

static void test_merge_single_and_host_bits(void)
{
	struct subnet s[] = {all("192.0.2.77", 24)}; /* host bits set: masked away */
	struct nft_range r[1];

	CHECK_EQ_INT(merge(AF_INET, s, 1, r), 1);
	CHECK_STR(fmt_range(AF_INET, &r[0]), "192.0.2.0-192.0.2.255");
}

static void test_merge_overlap_unsorted(void)
{
	struct subnet s[] = {all("198.51.100.128", 25), all("203.0.113.0", 24),
			     all("198.51.100.0", 24), all("198.51.100.7", 32)};
	struct nft_range r[4];

	CHECK_EQ_INT(merge(AF_INET, s, 4, r), 2);
	CHECK_STR(fmt_range(AF_INET, &r[0]), "198.51.100.0-198.51.100.255");
	CHECK_STR(fmt_range(AF_INET, &r[1]), "203.0.113.0-203.0.113.255");
}

static void test_merge_adjacent(void)
{
	struct subnet s[] = {all("192.0.2.128", 25), all("192.0.2.0", 25), all("192.0.3.0", 24),
			     all("192.0.5.0", 24)};
	struct nft_range r[4];

	CHECK_EQ_INT(merge(AF_INET, s, 4, r), 2);
	CHECK_STR(fmt_range(AF_INET, &r[0]), "192.0.2.0-192.0.3.255");
	CHECK_STR(fmt_range(AF_INET, &r[1]), "192.0.5.0-192.0.5.255");
}

static void test_merge_host_routes(void)
{
	struct subnet s[] = {all("192.0.2.1", 32), all("192.0.2.2", 32), all("192.0.2.4", 32)};
	struct nft_range r[3];

	CHECK_EQ_INT(merge(AF_INET, s, 3, r), 2);
	CHECK_STR(fmt_range(AF_INET, &r[0]), "192.0.2.1-192.0.2.2");
	CHECK_STR(fmt_range(AF_INET, &r[1]), "192.0.2.4-192.0.2.4");
}

static void test_merge_default_route_swallows_all(void)
{
	struct subnet s[] = {all("192.0.2.0", 24), all("0.0.0.0", 0), all("255.255.255.255", 32)};
	struct nft_range r[3];

	CHECK_EQ_INT(merge(AF_INET, s, 3, r), 1);
	CHECK_STR(fmt_range(AF_INET, &r[0]), "0.0.0.0-255.255.255.255");
}

static void test_merge_top_of_space(void)
{
	struct subnet s[] = {all("255.255.255.255", 32), all("255.255.255.0", 24),
			     all("255.255.254.0", 24)};
	struct nft_range r[3];

	CHECK_EQ_INT(merge(AF_INET, s, 3, r), 1);
	CHECK_STR(fmt_range(AF_INET, &r[0]), "255.255.254.0-255.255.255.255");
}

static void test_merge_skips_ports_and_other_family(void)
{
	struct subnet s[] = {all("2001:db8::", 32), sn("192.0.2.0", 24, 22, 22),
			     all("198.51.100.0", 24), sn("2001:db8:1::", 48, 80, 90)};
	struct nft_range r[4];

	CHECK_EQ_INT(merge(AF_INET, s, 4, r), 1);
	CHECK_STR(fmt_range(AF_INET, &r[0]), "198.51.100.0-198.51.100.255");
	CHECK_EQ_INT(merge(AF_INET6, s, 4, r), 1);
	CHECK_STR(fmt_range(AF_INET6, &r[0]), "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
}

static void test_merge_v6(void)
{
	/* The two /128s are adjacent across a carry through several bytes. */
	struct subnet s[] = {all("2001:db8::ffff:ffff", 128), all("2001:db8::1:0:0", 128),
			     all("2001:db8:1::", 48), all("2001:db8:1:2::", 64),
			     all("2001:db8:3::", 49)};
	struct nft_range r[5];

	CHECK_EQ_INT(merge(AF_INET6, s, 5, r), 3);
	CHECK_STR(fmt_range(AF_INET6, &r[0]), "2001:db8::ffff:ffff-2001:db8::1:0:0");
	CHECK_STR(fmt_range(AF_INET6, &r[1]), "2001:db8:1::-2001:db8:1:ffff:ffff:ffff:ffff:ffff");
	CHECK_STR(fmt_range(AF_INET6, &r[2]), "2001:db8:3::-2001:db8:3:7fff:ffff:ffff:ffff:ffff");
}

static void test_merge_v6_adjacent_prefixes(void)
{
	struct subnet s[] = {all("2001:db8:2::", 49), all("2001:db8:1::", 48),
			     all("2001:db8:2:8000::", 49)};
	struct nft_range r[3];

	CHECK_EQ_INT(merge(AF_INET6, s, 3, r), 1);
	CHECK_STR(fmt_range(AF_INET6, &r[0]), "2001:db8:1::-2001:db8:2:ffff:ffff:ffff:ffff:ffff");
}

static void test_merge_v6_default_and_top(void)
{
	struct subnet s[] = {all("2001:db8::", 32), all("::", 0)};
	struct subnet t[] = {all("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128),
			     all("ffff::", 16)};
	struct nft_range r[2];

	CHECK_EQ_INT(merge(AF_INET6, s, 2, r), 1);
	CHECK_STR(fmt_range(AF_INET6, &r[0]), "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	CHECK_EQ_INT(merge(AF_INET6, t, 2, r), 1);
	CHECK_STR(fmt_range(AF_INET6, &r[0]), "ffff::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

static size_t elems_of(int family, const struct subnet *s, size_t n, struct nft_elem *e)
{
	struct nft_range r[8];

	if (n > 8)
		abort();
	return nft_ranges_elems(family, r, merge(family, s, n, r), e);
}

static void test_elems_v4_match_nft(void)
{
	/* add element inet sluice exc4 { 192.0.2.0/24, 203.0.113.5, 255.255.255.0/24 } */
	static const char want[] = "\telement 00000000  : 1 [end]\telement 000200c0  : 0 [end]"
				   "\telement 000300c0  : 1 [end]\telement 057100cb  : 0 [end]"
				   "\telement 067100cb  : 1 [end]\telement 00ffffff  : 0 [end]";
	struct subnet s[] = {all("203.0.113.5", 32), all("255.255.255.0", 24),
			     all("192.0.2.0", 24)};
	struct nft_elem e[7];

	CHECK_EQ_INT(elems_of(AF_INET, s, 3, e), 6);
	CHECK_STR(fmt_elems(AF_INET, e, 6), want);
}

static void test_elems_v6_match_nft(void)
{
	/* add element inet sluice exc6 { 2001:db8::/32, ffff::/16 } */
	static const char want[] = "\telement 00000000 00000000 00000000 00000000  : 1 [end]"
				   "\telement b80d0120 00000000 00000000 00000000  : 0 [end]"
				   "\telement b90d0120 00000000 00000000 00000000  : 1 [end]"
				   "\telement 0000ffff 00000000 00000000 00000000  : 0 [end]";
	struct subnet s[] = {all("ffff::", 16), all("2001:db8::", 32)};
	struct nft_elem e[5];

	CHECK_EQ_INT(elems_of(AF_INET6, s, 2, e), 4);
	CHECK_STR(fmt_elems(AF_INET6, e, 4), want);
}

static void test_elems_default_routes_match_nft(void)
{
	/* add element inet sluice inc4 { 0.0.0.0/0 }, then inc6 { ::/0 } */
	struct subnet v4[] = {all("0.0.0.0", 0)}, v6[] = {all("::", 0)};
	struct nft_elem e[3];

	CHECK_EQ_INT(elems_of(AF_INET, v4, 1, e), 1);
	CHECK_STR(fmt_elems(AF_INET, e, 1), "\telement 00000000  : 0 [end]");
	CHECK_EQ_INT(elems_of(AF_INET6, v6, 1, e), 1);
	CHECK_STR(fmt_elems(AF_INET6, e, 1),
		  "\telement 00000000 00000000 00000000 00000000  : 0 [end]");
}

static void test_elems_range_from_zero(void)
{
	/* Starting at zero: no leading end marker, and the end lands at 1.0.0.0. */
	struct subnet s[] = {all("0.0.0.0", 8)};
	struct nft_elem e[3];

	CHECK_EQ_INT(elems_of(AF_INET, s, 1, e), 2);
	CHECK_STR(fmt_elems(AF_INET, e, 2),
		  "\telement 00000000  : 0 [end]\telement 00000001  : 1 [end]");
}

static void test_elems_host_routes(void)
{
	struct subnet v4[] = {all("192.0.2.255", 32)};
	struct subnet v6[] = {all("2001:db8::ffff", 128)};
	struct nft_elem e[3];

	CHECK_EQ_INT(elems_of(AF_INET, v4, 1, e), 3);
	CHECK_STR(fmt_elems(AF_INET, e + 1, 2),
		  "\telement ff0200c0  : 0 [end]\telement 000300c0  : 1 [end]");
	CHECK_EQ_INT(elems_of(AF_INET6, v6, 1, e), 3);
	CHECK_STR(fmt_elems(AF_INET6, e + 1, 2),
		  "\telement b80d0120 00000000 00000000 ffff0000  : 0 [end]"
		  "\telement b80d0120 00000000 00000000 00000100  : 1 [end]");
}

/* ---- batch layout ---- */

struct msg {
	uint16_t type; /* NFT_MSG_* or NFNL_MSG_BATCH_* */
	uint16_t flags;
	uint32_t seq;
	int has_elems;	 /* NFTA_SET_ELEM_LIST_ELEMENTS present */
	int n_elems;	 /* elements in it */
	int table_flags; /* NFTA_TABLE_FLAGS, -1 when absent */
	char name[32];	 /* table, chain or set name */
};

static int walk_attr(const struct nlattr *a, void *data)
{
	struct msg *m = data;
	uint16_t t = mnl_attr_get_type(a);

	switch (m->type) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_DELTABLE:
		if (t == NFTA_TABLE_FLAGS)
			m->table_flags = (int)ntohl(mnl_attr_get_u32(a));
		if (t == NFTA_TABLE_NAME)
			snprintf(m->name, sizeof(m->name), "%s", mnl_attr_get_str(a));
		break;
	case NFT_MSG_NEWCHAIN:
		if (t == NFTA_CHAIN_NAME)
			snprintf(m->name, sizeof(m->name), "%s", mnl_attr_get_str(a));
		break;
	case NFT_MSG_NEWSET:
		if (t == NFTA_SET_NAME)
			snprintf(m->name, sizeof(m->name), "%s", mnl_attr_get_str(a));
		break;
	case NFT_MSG_NEWSETELEM:
	case NFT_MSG_DELSETELEM:
		if (t == NFTA_SET_ELEM_LIST_SET)
			snprintf(m->name, sizeof(m->name), "%s", mnl_attr_get_str(a));
		if (t == NFTA_SET_ELEM_LIST_ELEMENTS) {
			const struct nlattr *e;

			m->has_elems = 1;
			mnl_attr_for_each_nested(e, a) m->n_elems++;
		}
		break;
	}
	return MNL_CB_OK;
}

/* Split a batch into its messages; returns the count. */
static size_t parse_batch(const struct nft_batch *b, struct msg *out, size_t max)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)b->buf;
	int left = (int)b->len;
	size_t n = 0;

	while (mnl_nlmsg_ok(nlh, left) && n < max) {
		struct msg *m = &out[n++];

		memset(m, 0, sizeof(*m));
		m->table_flags = -1;
		m->type =
		    nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN || nlh->nlmsg_type == NFNL_MSG_BATCH_END
			? nlh->nlmsg_type
			: (uint16_t)(nlh->nlmsg_type & 0xff);
		m->flags = nlh->nlmsg_flags;
		m->seq = nlh->nlmsg_seq;
		if (m->type != NFNL_MSG_BATCH_BEGIN && m->type != NFNL_MSG_BATCH_END)
			mnl_attr_parse(nlh, sizeof(struct nfgenmsg), walk_attr, m);
		nlh = mnl_nlmsg_next(nlh, &left);
	}
	return n;
}

static void fill_spec(struct fw_spec *spec, struct subnet *inc, struct subnet *exc)
{
	inc[0] = all("198.51.100.0", 24);
	inc[1] = sn("203.0.113.0", 24, 80, 80);
	exc[0] = sn("198.51.100.9", 32, 22, 22);
	exc[1] = all("2001:db8::", 32);
	memset(spec, 0, sizeof(*spec));
	spec->redirect_port = 12300;
	spec->include = inc;
	spec->n_include = 2;
	spec->exclude = exc;
	spec->n_exclude = 2;
}

static void test_batch_install_layout(void)
{
	struct subnet inc[2], exc[2];
	struct fw_spec spec;
	struct nft_batch b;
	struct msg m[64];
	size_t n, i, acks = 0, rules = 0;

	fill_spec(&spec, inc, exc);
	nft_batch_init(&b, 1000);
	CHECK_EQ_INT(nft_batch_install(&b, &spec, NFT_TABLE_F_OWNER), 0);
	n = parse_batch(&b, m, 64);
	/* begin, table x3, chain x2, 4 sets + 2 element messages, 8 rules, end */
	CHECK_EQ_INT(n, 1 + 3 + 2 + 6 + 8 + 1);
	if (n != 21)
		goto out;
	CHECK_EQ_INT(m[0].type, NFNL_MSG_BATCH_BEGIN);
	CHECK_EQ_INT(m[20].type, NFNL_MSG_BATCH_END);
	/* Stale-table trick: create without flags, delete, create owned and exclusive. */
	CHECK_EQ_INT(m[1].type, NFT_MSG_NEWTABLE);
	CHECK_EQ_INT(m[1].table_flags, -1);
	CHECK(!(m[1].flags & NLM_F_EXCL));
	CHECK_EQ_INT(m[2].type, NFT_MSG_DELTABLE);
	CHECK_EQ_INT(m[3].type, NFT_MSG_NEWTABLE);
	CHECK_EQ_INT(m[3].table_flags, NFT_TABLE_F_OWNER);
	CHECK(m[3].flags & NLM_F_EXCL);
	CHECK_STR(m[3].name, FW_TABLE_NAME);
	CHECK_STR(m[4].name, "output");
	CHECK_STR(m[5].name, "prerouting");
	/* inc4 has one range (two elements), inc6 and exc4 none, exc6 one range. */
	CHECK_EQ_INT(m[6].type, NFT_MSG_NEWSET);
	CHECK_STR(m[6].name, "inc4");
	CHECK_EQ_INT(m[7].type, NFT_MSG_NEWSETELEM);
	CHECK_EQ_INT(m[7].n_elems, 3);
	CHECK_STR(m[8].name, "inc6");
	CHECK_STR(m[9].name, "exc4");
	CHECK_STR(m[10].name, "exc6");
	CHECK_EQ_INT(m[11].type, NFT_MSG_NEWSETELEM);
	CHECK_STR(m[11].name, "exc6");
	for (i = 0; i < n; i++) {
		CHECK_EQ_INT(m[i].seq, 1000 + i);
		if (m[i].type == NFNL_MSG_BATCH_BEGIN || m[i].type == NFNL_MSG_BATCH_END)
			continue;
		CHECK(m[i].flags & NLM_F_ACK);
		acks++;
		rules += m[i].type == NFT_MSG_NEWRULE;
	}
	/* Prerouting off: its chain exists but stays empty. */
	CHECK_EQ_INT(rules, 8);
	CHECK_EQ_INT(b.n_acks, acks);
	CHECK_EQ_INT(nft_batch_kind(&b, 1000), NFT_K_NONE);
	CHECK_EQ_INT(nft_batch_kind(&b, 1001), NFT_K_TABLE);
	CHECK_EQ_INT(nft_batch_kind(&b, 1002), NFT_K_DELTABLE);
	CHECK_EQ_INT(nft_batch_kind(&b, 1003), NFT_K_TABLE_OWNED);
	CHECK_EQ_INT(nft_batch_kind(&b, 1004), NFT_K_CHAIN);
	CHECK_EQ_INT(nft_batch_kind(&b, 1006), NFT_K_SET);
	CHECK_EQ_INT(nft_batch_kind(&b, 1007), NFT_K_ELEMS);
	CHECK_EQ_INT(nft_batch_kind(&b, 1012), NFT_K_RULE);
	CHECK_EQ_INT(nft_batch_kind(&b, 1020), NFT_K_NONE);
	CHECK_EQ_INT(nft_batch_kind(&b, 999), NFT_K_NONE);
	CHECK_EQ_INT(nft_batch_kind(&b, 5000), NFT_K_NONE);
out:
	nft_batch_free(&b);
}

static void test_batch_install_prerouting_unowned(void)
{
	struct subnet inc[2], exc[2];
	struct fw_spec spec;
	struct nft_batch b;
	struct msg m[64];
	size_t n, i, rules = 0;

	fill_spec(&spec, inc, exc);
	spec.prerouting = true;
	nft_batch_init(&b, 0xfffffffe); /* sequence numbers wrap */
	CHECK_EQ_INT(nft_batch_install(&b, &spec, 0), 0);
	n = parse_batch(&b, m, 64);
	CHECK_EQ_INT(n, 29);
	for (i = 0; i < n; i++)
		rules += m[i].type == NFT_MSG_NEWRULE;
	CHECK_EQ_INT(rules, 16);
	CHECK_EQ_INT(m[3].table_flags, 0);
	CHECK_EQ_INT(nft_batch_kind(&b, 1), NFT_K_TABLE);
	CHECK_EQ_INT(nft_batch_kind(&b, 0xffffffff), NFT_K_TABLE);
	nft_batch_free(&b);
}

/* Two DNS rules per nameserver in each chain that has rules, ahead of the rest; no extra sets. */
static void test_batch_install_dns(void)
{
	struct subnet inc[2], exc[2], ns[2];
	struct fw_spec spec;
	struct nft_batch b;
	struct msg m[64];
	size_t n, i, rules = 0, sets = 0;

	fill_spec(&spec, inc, exc);
	ns[0] = all("127.0.0.53", 32);
	ns[1] = all("2001:db8::53", 128);
	spec.dns = ns;
	spec.n_dns = 2;
	spec.dns_port = 5353;
	spec.prerouting = true;
	nft_batch_init(&b, 1);
	CHECK_EQ_INT(nft_batch_install(&b, &spec, NFT_TABLE_F_OWNER), 0);
	n = parse_batch(&b, m, 64);
	CHECK_EQ_INT(n, 29 + 2 * 4);
	for (i = 0; i < n; i++) {
		rules += m[i].type == NFT_MSG_NEWRULE;
		sets += m[i].type == NFT_MSG_NEWSET;
	}
	CHECK_EQ_INT(rules, 16 + 2 * 4);
	CHECK_EQ_INT(sets, 4);
	nft_batch_free(&b);

	/* An update ignores the nameservers: they are rules, fixed at install. */
	nft_batch_init(&b, 1);
	CHECK_EQ_INT(nft_batch_update(&b, &spec), 0);
	CHECK_EQ_INT(parse_batch(&b, m, 64), 8);
	nft_batch_free(&b);

	spec.dns_port = 0;
	nft_batch_init(&b, 1);
	CHECK_EQ_INT(nft_batch_install(&b, &spec, 0), -EINVAL);
	nft_batch_free(&b);
}

static void test_batch_update_layout(void)
{
	struct subnet inc[2], exc[2];
	struct fw_spec spec;
	struct nft_batch b;
	struct msg m[16];
	size_t n, i;

	fill_spec(&spec, inc, exc);
	nft_batch_init(&b, 1);
	CHECK_EQ_INT(nft_batch_update(&b, &spec), 0);
	n = parse_batch(&b, m, 16);
	/* begin, flush x4, elements for inc4 and exc6, end */
	CHECK_EQ_INT(n, 8);
	for (i = 0; i < n; i++)
		CHECK(m[i].type != NFT_MSG_NEWRULE && m[i].type != NFT_MSG_NEWTABLE &&
		      m[i].type != NFT_MSG_DELTABLE);
	if (n == 8) {
		CHECK_EQ_INT(m[1].type, NFT_MSG_DELSETELEM);
		CHECK_STR(m[1].name, "inc4");
		/* A flush names the set and carries no element list at all. */
		CHECK(!m[1].has_elems);
		CHECK_EQ_INT(m[2].type, NFT_MSG_NEWSETELEM);
		CHECK_EQ_INT(m[5].type, NFT_MSG_DELSETELEM);
		CHECK_STR(m[5].name, "exc6");
		CHECK(!m[5].has_elems);
		CHECK_EQ_INT(m[6].type, NFT_MSG_NEWSETELEM);
		CHECK_STR(m[6].name, "exc6");
		CHECK_EQ_INT(nft_batch_kind(&b, 2), NFT_K_FLUSH);
		CHECK_EQ_INT(nft_batch_kind(&b, 3), NFT_K_ELEMS);
	}
	nft_batch_free(&b);
}

static void test_batch_update_chunks_large_sets(void)
{
	enum { N = 600 }; /* /32s two apart: 600 ranges, 1201 elements */
	struct subnet *inc = calloc(N, sizeof(*inc));
	struct fw_spec spec = {.redirect_port = 1, .include = inc, .n_include = N};
	struct nft_batch b;
	struct msg m[16];
	size_t n, i;
	int total = 0;

	if (!inc)
		abort();
	for (i = 0; i < N; i++) {
		inc[i] = all("198.51.100.0", 32);
		inc[i].addr[0] = 10;
		inc[i].addr[2] = (uint8_t)(i / 128);
		inc[i].addr[3] = (uint8_t)(2 * (i % 128));
	}
	nft_batch_init(&b, 1);
	CHECK_EQ_INT(nft_batch_update(&b, &spec), 0);
	n = parse_batch(&b, m, 16);
	CHECK_EQ_INT(n, 1 + 4 + 5 + 1);
	for (i = 0; i < n; i++) {
		if (m[i].type == NFT_MSG_NEWSETELEM) {
			CHECK(m[i].n_elems <= NFT_ELEMS_PER_MSG);
			total += m[i].n_elems;
		}
	}
	CHECK_EQ_INT(total, 2 * N + 1);
	nft_batch_free(&b);
	free(inc);
}

static void test_batch_remove_layout(void)
{
	struct nft_batch b;
	struct msg m[4];

	nft_batch_init(&b, 7);
	CHECK_EQ_INT(nft_batch_remove(&b), 0);
	CHECK_EQ_INT(parse_batch(&b, m, 4), 3);
	CHECK_EQ_INT(m[1].type, NFT_MSG_DELTABLE);
	CHECK_STR(m[1].name, FW_TABLE_NAME);
	CHECK_EQ_INT(b.n_acks, 1);
	nft_batch_free(&b);
}

static void test_batch_rejects_invalid(void)
{
	struct subnet bad = all("192.0.2.0", 40);
	struct fw_spec spec = {.redirect_port = 1, .include = &bad, .n_include = 1};
	struct nft_batch b;

	nft_batch_init(&b, 1);
	CHECK_EQ_INT(nft_batch_install(&b, &spec, 0), -EINVAL);
	nft_batch_free(&b);
	nft_batch_init(&b, 1);
	CHECK_EQ_INT(nft_batch_update(&b, &spec), -EINVAL);
	nft_batch_free(&b);
}

int main(void)
{
	RUN(test_merge_empty);
	RUN(test_merge_single_and_host_bits);
	RUN(test_merge_overlap_unsorted);
	RUN(test_merge_adjacent);
	RUN(test_merge_host_routes);
	RUN(test_merge_default_route_swallows_all);
	RUN(test_merge_top_of_space);
	RUN(test_merge_skips_ports_and_other_family);
	RUN(test_merge_v6);
	RUN(test_merge_v6_adjacent_prefixes);
	RUN(test_merge_v6_default_and_top);
	RUN(test_elems_v4_match_nft);
	RUN(test_elems_v6_match_nft);
	RUN(test_elems_default_routes_match_nft);
	RUN(test_elems_range_from_zero);
	RUN(test_elems_host_routes);
	RUN(test_batch_install_layout);
	RUN(test_batch_install_prerouting_unowned);
	RUN(test_batch_install_dns);
	RUN(test_batch_update_layout);
	RUN(test_batch_update_chunks_large_sets);
	RUN(test_batch_remove_layout);
	RUN(test_batch_rejects_invalid);
	T_EXIT();
}
