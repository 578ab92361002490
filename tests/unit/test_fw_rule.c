/*
 * test_fw_rule: the rules the firewall builds, compared expression by
 * expression with what nft itself compiles for the same rule text.
 *
 * The oracle strings below were captured once (nftables 1.0.6, Debian 12)
 * in a throw-away netns with:
 *
 *   nft add table inet sluice
 *   nft add chain inet sluice output '{ type nat hook output priority -100; }'
 *   nft add set inet sluice inc4 '{ type ipv4_addr; flags interval; }'   (and inc6, exc4, exc6)
 *   nft --debug=netlink add rule inet sluice output <rule text in the comment>
 *
 * Where our rule differs in wording from the obvious nft text, the comment
 * holds the nft text that compiles to the same expressions: "ip daddr @inc4
 * meta l4proto tcp redirect" (nft wants a TCP match before a port mapping),
 * and "meta nfproto ipv4 tcp dport 25" for 0.0.0.0/0:25 (nft would load and
 * mask the address with a zero mask; we skip the no-op).
 *
 * The DNS rules (oracle_dns) were captured the same way, with the rule text
 * in each comment, e.g.
 *
 *   nft --debug=netlink add rule inet sluice output ip daddr 127.0.0.53 udp dport 53 \
 *       redirect to :5353
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <libnftnl/rule.h>

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

static const char *const oracle[] = {
    /* meta l4proto != tcp return */
    "inet sluice output\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp neq reg 1 0x00000006 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* fib daddr type local return */
    "inet sluice output\n"
    "  [ fib daddr type => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip daddr @exc4 return */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ lookup reg 1 set exc4 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip6 daddr @exc6 return */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ lookup reg 1 set exc6 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip daddr 198.51.100.9 tcp dport 22 return */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x096433c6 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00001600 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip6 daddr 2001:db8:1::5 tcp dport 2222 return */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ cmp eq reg 1 0xb80d0120 0x00000100 0x00000000 0x05000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000ae08 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* meta nfproto ipv4 tcp dport 25 return */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00001900 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip daddr 198.51.100.0/24 tcp dport 80-90 return */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 3b @ network header + 16 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x006433c6 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp gte reg 1 0x00005000 ]\n"
    "  [ cmp lte reg 1 0x00005a00 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip daddr @inc4 meta l4proto tcp redirect to :12300 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ lookup reg 1 set inc4 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ immediate reg 1 0x00000c30 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
    /* ip6 daddr @inc6 meta l4proto tcp redirect to :12300 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ lookup reg 1 set inc6 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ immediate reg 1 0x00000c30 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
    /* ip daddr 203.0.113.0/25 tcp dport 80-90 redirect to :12300 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0x80ffffff ) ^ 0x00000000 ]\n"
    "  [ cmp eq reg 1 0x007100cb ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp gte reg 1 0x00005000 ]\n"
    "  [ cmp lte reg 1 0x00005a00 ]\n"
    "  [ immediate reg 1 0x00000c30 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
    /* ip6 daddr 2001:db8:1:8000::/49 tcp dport 1-65534 redirect to :12300 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0xffffffff 0x0080ffff 0x00000000 0x00000000 ) ^ 0x00000000 "
    "0x00000000 0x00000000 0x00000000 ]\n"
    "  [ cmp eq reg 1 0xb80d0120 0x00800100 0x00000000 0x00000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp gte reg 1 0x00000100 ]\n"
    "  [ cmp lte reg 1 0x0000feff ]\n"
    "  [ immediate reg 1 0x00000c30 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
    /* ip6 daddr 2001:db8:2::1 tcp dport 443 redirect to :12300 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ cmp eq reg 1 0xb80d0120 0x00000200 0x00000000 0x01000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000bb01 ]\n"
    "  [ immediate reg 1 0x00000c30 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
    /* meta nfproto ipv6 tcp dport 8080 redirect to :12300 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000901f ]\n"
    "  [ immediate reg 1 0x00000c30 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
};

/* DNS capture for nameservers 127.0.0.53, 192.0.2.53 and ::1, dns_port 5353. */
static const char *const oracle_dns[] = {
    /* ip daddr 127.0.0.53 udp dport 53 redirect to :5353 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x3500007f ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00003500 ]\n"
    "  [ immediate reg 1 0x0000e914 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
    /* ip daddr 127.0.0.53 tcp dport 53 redirect to :12300 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x3500007f ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00003500 ]\n"
    "  [ immediate reg 1 0x00000c30 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
    /* ip daddr 192.0.2.53 udp dport 53 redirect to :5353 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x350200c0 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00003500 ]\n"
    "  [ immediate reg 1 0x0000e914 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
    /* ip daddr 192.0.2.53 tcp dport 53 redirect to :12300 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x350200c0 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00003500 ]\n"
    "  [ immediate reg 1 0x00000c30 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
    /* ip6 daddr ::1 udp dport 53 redirect to :5353 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000000 0x00000000 0x00000000 0x01000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00003500 ]\n"
    "  [ immediate reg 1 0x0000e914 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
    /* ip6 daddr ::1 tcp dport 53 redirect to :12300 */
    "inet sluice output\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000000 0x00000000 0x00000000 0x01000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00003500 ]\n"
    "  [ immediate reg 1 0x00000c30 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n",
};

#define N_ORACLE     (sizeof(oracle) / sizeof(oracle[0]))
#define N_ORACLE_DNS (sizeof(oracle_dns) / sizeof(oracle_dns[0]))

/* The nameservers oracle_dns was written for; the ports must not reach the rules. */
static void dns_fill(struct fw_spec *spec, struct subnet *dns)
{
	dns[0] = sn("127.0.0.53", 32, 0, 65535);
	dns[1] = sn("192.0.2.53", 32, 5300, 5300);
	dns[2] = sn("::1", 128, 53, 53);
	spec->dns = dns;
	spec->n_dns = 3;
	spec->dns_port = 5353;
}

/* The spec the oracle rules above were written for. */
static void spec_fill(struct fw_spec *spec, struct subnet *inc, struct subnet *exc)
{
	size_t ni = 0, nx = 0;

	exc[nx++] = sn("192.0.2.0", 24, 0, 65535);
	exc[nx++] = sn("198.51.100.9", 32, 22, 22); /* the SSH server */
	exc[nx++] = sn("2001:db8:1::5", 128, 2222, 2222);
	exc[nx++] = sn("0.0.0.0", 0, 25, 25);
	exc[nx++] = sn("198.51.100.0", 24, 80, 90);
	exc[nx++] = sn("2001:db8:1:8000::", 49, 0, 65535);

	inc[ni++] = sn("198.51.100.0", 24, 0, 65535);
	inc[ni++] = sn("203.0.113.0", 25, 80, 90);
	inc[ni++] = sn("2001:db8:1::", 48, 0, 65535);
	inc[ni++] = sn("2001:db8:1:8000::", 49, 1, 65534);
	inc[ni++] = sn("2001:db8:2::1", 128, 443, 443);
	inc[ni++] = sn("::", 0, 8080, 8080);

	memset(spec, 0, sizeof(*spec));
	spec->redirect_port = 12300;
	spec->include = inc;
	spec->n_include = ni;
	spec->exclude = exc;
	spec->n_exclude = nx;
}

/* Rule i of chain against an oracle captured on the output chain: only the header differs. */
static void check_rule(const struct nftnl_rule *r, const char *chain, const char *oracle_text)
{
	char buf[4096], want[4096];

	snprintf(want, sizeof(want), "inet sluice %s\n%s", chain, strchr(oracle_text, '\n') + 1);
	nftnl_rule_snprintf(buf, sizeof(buf), r, NFTNL_OUTPUT_DEFAULT, 0);
	CHECK_STR(buf, want);
}

/*
 * The chain in order: on output the DNS rules first, then the rest as
 * without them; on prerouting the local return (oracle[1]) before even the
 * DNS rules, so that other hosts' queries to this machine stay its own.
 */
static void check_chain(const char *chain, bool dns)
{
	struct subnet inc[8], exc[8], ns[3];
	const char *want[N_ORACLE_DNS + N_ORACLE];
	bool pre = !strcmp(chain, NFT_CHAIN_PREROUTING);
	struct nftnl_rule **rules;
	struct fw_spec spec;
	size_t n, i, k = 0;

	if (pre)
		want[k++] = oracle[1];
	for (i = 0; dns && i < N_ORACLE_DNS; i++)
		want[k++] = oracle_dns[i];
	for (i = 0; i < N_ORACLE; i++)
		if (!(pre && i == 1))
			want[k++] = oracle[i];
	spec_fill(&spec, inc, exc);
	if (dns)
		dns_fill(&spec, ns);
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, chain, &rules, &n), 0);
	CHECK_EQ_INT(n, k);
	if (n != k)
		goto out;
	for (i = 0; i < k; i++)
		check_rule(rules[i], chain, want[i]);
out:
	nft_rules_free(rules, n);
}

static void test_rules_output_match_nft(void)
{
	check_chain(NFT_CHAIN_OUTPUT, false);
}

static void test_rules_prerouting_match_nft(void)
{
	check_chain(NFT_CHAIN_PREROUTING, false);
}

static void test_rules_dns_output_match_nft(void)
{
	check_chain(NFT_CHAIN_OUTPUT, true);
}

static void test_rules_dns_prerouting_match_nft(void)
{
	check_chain(NFT_CHAIN_PREROUTING, true);
}

/*
 * --user/--group: on the output chain the owner rules come first, then the
 * chain as before; prerouting (forwarded traffic has no owner) is unchanged.
 * Oracles: nft --debug=netlink add rule inet sluice output meta skuid != 1000
 * return (and skgid != 1000).
 */
static const char oracle_skuid[] = "inet sluice output\n"
				   "  [ meta load skuid => reg 1 ]\n"
				   "  [ cmp neq reg 1 0x000003e8 ]\n"
				   "  [ immediate reg 0 return ]\n";
static const char oracle_skgid[] = "inet sluice output\n"
				   "  [ meta load skgid => reg 1 ]\n"
				   "  [ cmp neq reg 1 0x000003e8 ]\n"
				   "  [ immediate reg 0 return ]\n";

/*
 * The owner's positive match that prefixes every capturing rule, so that a
 * packet whose owner cannot be read (no socket, a kernel socket) is never
 * captured. nft compiles `meta skuid 1000 meta skgid 1000 <rule>` to these
 * lines and then the rule's own, e.g. (captured as above):
 */
#define OWNER_UID_LINES                                                                            \
	"  [ meta load skuid => reg 1 ]\n"                                                         \
	"  [ cmp eq reg 1 0x000003e8 ]\n"
#define OWNER_GID_LINES                                                                            \
	"  [ meta load skgid => reg 1 ]\n"                                                         \
	"  [ cmp eq reg 1 0x000003e8 ]\n"
/* meta skuid 1000 meta skgid 1000 ip daddr @inc4 meta l4proto tcp redirect to :12300 */
static const char oracle_owned_inc4[] =
    "inet sluice output\n" OWNER_UID_LINES OWNER_GID_LINES "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ lookup reg 1 set inc4 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000006 ]\n"
    "  [ immediate reg 1 0x00000c30 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n";
/* meta skuid 1000 ip daddr 127.0.0.53 udp dport 53 redirect to :5353 */
static const char oracle_owned_dns[] =
    "inet sluice output\n" OWNER_UID_LINES "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x3500007f ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00003500 ]\n"
    "  [ immediate reg 1 0x0000e914 ]\n"
    "  [ redir proto_min reg 1 flags 0x2 ]\n";

/* An oracle with prefix (owner lines) spliced in after its header line, into buf. */
static const char *owned(char *buf, size_t len, const char *oracle_text, const char *prefix)
{
	const char *body = strchr(oracle_text, '\n') + 1;

	snprintf(buf, len, "%.*s%s%s", (int)(body - oracle_text), oracle_text, prefix, body);
	return buf;
}

/* Whether rule i of the plain output chain (oracle[i]) captures: the redirects. */
static bool captures(size_t i)
{
	return strstr(oracle[i], "redir") != NULL;
}

static void test_rules_owner(void)
{
	struct subnet inc[8], exc[8], ns[3];
	struct nftnl_rule **rules;
	struct fw_spec spec;
	char buf[4096];
	size_t n, i, nred = 0;

	spec_fill(&spec, inc, exc);
	spec.by_uid = spec.by_gid = true;
	spec.uid = spec.gid = 1000;
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, NFT_CHAIN_OUTPUT, &rules, &n), 0);
	CHECK_EQ_INT(n, 2 + N_ORACLE);
	if (n == 2 + N_ORACLE) {
		check_rule(rules[0], NFT_CHAIN_OUTPUT, oracle_skuid);
		check_rule(rules[1], NFT_CHAIN_OUTPUT, oracle_skgid);
		for (i = 0; i < N_ORACLE; i++) {
			nred += captures(i);
			check_rule(rules[2 + i], NFT_CHAIN_OUTPUT,
				   captures(i) ? owned(buf, sizeof(buf), oracle[i],
						       OWNER_UID_LINES OWNER_GID_LINES)
					       : oracle[i]);
		}
		/* The splice agrees with nft's whole text for one of them. */
		check_rule(rules[2 + 8], NFT_CHAIN_OUTPUT, oracle_owned_inc4);
	}
	CHECK_EQ_INT(nred, 6);
	nft_rules_free(rules, n);

	/* --user alone: the DNS redirects match the uid too, and nothing matches a gid. */
	spec.by_gid = false;
	dns_fill(&spec, ns);
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, NFT_CHAIN_OUTPUT, &rules, &n), 0);
	CHECK_EQ_INT(n, 1 + N_ORACLE_DNS + N_ORACLE);
	if (n == 1 + N_ORACLE_DNS + N_ORACLE) {
		check_rule(rules[0], NFT_CHAIN_OUTPUT, oracle_skuid);
		check_rule(rules[1], NFT_CHAIN_OUTPUT, oracle_owned_dns);
		for (i = 0; i < N_ORACLE_DNS; i++)
			check_rule(rules[1 + i], NFT_CHAIN_OUTPUT,
				   owned(buf, sizeof(buf), oracle_dns[i], OWNER_UID_LINES));
		for (i = 0; i < N_ORACLE; i++)
			check_rule(rules[1 + N_ORACLE_DNS + i], NFT_CHAIN_OUTPUT,
				   captures(i) ? owned(buf, sizeof(buf), oracle[i], OWNER_UID_LINES)
					       : oracle[i]);
	}
	nft_rules_free(rules, n);
	spec.n_dns = 0;
	spec.by_gid = true;
	/* Prerouting has no owner rules: the local return, then the rest as without --user. */
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, NFT_CHAIN_PREROUTING, &rules, &n), 0);
	CHECK_EQ_INT(n, N_ORACLE);
	if (n == N_ORACLE)
		for (i = 0; i < N_ORACLE; i++)
			check_rule(rules[i], NFT_CHAIN_PREROUTING, oracle[i < 2 ? 1 - i : i]);
	nft_rules_free(rules, n);
}

/* n_dns == 0 means no DNS at all: a stray list or port changes nothing. */
static void test_rules_dns_none(void)
{
	struct subnet ns = sn("127.0.0.53", 32, 0, 65535);
	struct fw_spec spec = {.redirect_port = 12300, .dns = &ns};
	struct nftnl_rule **rules;
	size_t n;

	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), 0);
	CHECK_EQ_INT(n, 6);
	if (n == 6)
		check_rule(rules[0], "output", oracle[0]);
	nft_rules_free(rules, n);
}

/* A v6 nameserver outside loopback, and the most nameservers a spec may hold. */
static void test_rules_dns_v6_and_max(void)
{
	/* nft --debug=netlink add rule inet sluice output ip6 daddr 2001:db8::53 udp dport 53
	 * redirect to :5353 */
	static const char want[] =
	    "inet sluice output\n"
	    "  [ meta load nfproto => reg 1 ]\n"
	    "  [ cmp eq reg 1 0x0000000a ]\n"
	    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
	    "  [ cmp eq reg 1 0xb80d0120 0x00000000 0x00000000 0x53000000 ]\n"
	    "  [ meta load l4proto => reg 1 ]\n"
	    "  [ cmp eq reg 1 0x00000011 ]\n"
	    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
	    "  [ cmp eq reg 1 0x00003500 ]\n"
	    "  [ immediate reg 1 0x0000e914 ]\n"
	    "  [ redir proto_min reg 1 flags 0x2 ]\n";
	static struct subnet ns[NFT_DNS_MAX];
	struct fw_spec spec = {.redirect_port = 12300, .dns = ns, .dns_port = 5353};
	struct nftnl_rule **rules;
	size_t n, i;

	for (i = 0; i < NFT_DNS_MAX; i++)
		ns[i] = sn("2001:db8::53", 128, 0, 65535);
	spec.n_dns = 1;
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), 0);
	CHECK_EQ_INT(n, 8);
	if (n == 8) {
		check_rule(rules[0], "output", want);
		check_rule(rules[2], "output", oracle[0]);
	}
	nft_rules_free(rules, n);

	spec.n_dns = NFT_DNS_MAX;
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), 0);
	CHECK_EQ_INT(n, 6 + 2 * NFT_DNS_MAX);
	nft_rules_free(rules, n);
	spec.n_dns = NFT_DNS_MAX + 1;
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), -EINVAL);
	CHECK(rules == NULL && n == 0);
}

static void test_rules_dns_reject_invalid(void)
{
	struct subnet ns[3];
	struct fw_spec spec = {.redirect_port = 12300};
	struct nftnl_rule **rules;
	size_t n;

	dns_fill(&spec, ns);
	spec.dns_port = 0;
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), -EINVAL);
	CHECK(rules == NULL && n == 0);
	spec.dns_port = 5353;
	ns[1] = sn("192.0.2.0", 24, 0, 65535); /* a subnet, not an address */
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), -EINVAL);
	ns[1] = sn("2001:db8::", 64, 0, 65535);
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), -EINVAL);
	ns[1] = sn("192.0.2.53", 32, 0, 65535);
	ns[1].family = 0;
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), -EINVAL);
	ns[1] = sn("192.0.2.53", 32, 0, 65535);
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), 0);
	nft_rules_free(rules, n);
	spec.dns = NULL; /* a count with no list */
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), -EINVAL);
}

/* With no subnets at all the chain still has its set rules, so fw_update can fill them later. */
static void test_rules_empty_spec(void)
{
	struct fw_spec spec = {.redirect_port = 12300};
	struct nftnl_rule **rules;
	char buf[4096];
	size_t n;

	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), 0);
	CHECK_EQ_INT(n, 6);
	if (n == 6) {
		nftnl_rule_snprintf(buf, sizeof(buf), rules[4], NFTNL_OUTPUT_DEFAULT, 0);
		CHECK(strstr(buf, "lookup reg 1 set inc4") != NULL);
		nftnl_rule_snprintf(buf, sizeof(buf), rules[5], NFTNL_OUTPUT_DEFAULT, 0);
		CHECK(strstr(buf, "lookup reg 1 set inc6") != NULL);
	}
	nft_rules_free(rules, n);
}

/* A byte-aligned IPv6 prefix compares only its leading bytes, as nft does. */
static void test_rules_v6_aligned_prefix(void)
{
	/* nft --debug=netlink add rule inet sluice output ip6 daddr 2001:db8::/32 tcp dport 80-90
	 * return */
	static const char want[] = "inet sluice output\n"
				   "  [ meta load nfproto => reg 1 ]\n"
				   "  [ cmp eq reg 1 0x0000000a ]\n"
				   "  [ payload load 4b @ network header + 24 => reg 1 ]\n"
				   "  [ cmp eq reg 1 0xb80d0120 ]\n"
				   "  [ meta load l4proto => reg 1 ]\n"
				   "  [ cmp eq reg 1 0x00000006 ]\n"
				   "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
				   "  [ cmp gte reg 1 0x00005000 ]\n"
				   "  [ cmp lte reg 1 0x00005a00 ]\n"
				   "  [ immediate reg 0 return ]\n";
	struct subnet exc = sn("2001:db8::", 32, 80, 90);
	struct fw_spec spec = {.redirect_port = 1, .exclude = &exc, .n_exclude = 1};
	struct nftnl_rule **rules;
	char buf[4096];
	size_t n;

	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), 0);
	CHECK_EQ_INT(n, 7);
	if (n == 7) {
		nftnl_rule_snprintf(buf, sizeof(buf), rules[4], NFTNL_OUTPUT_DEFAULT, 0);
		CHECK_STR(buf, want);
	}
	nft_rules_free(rules, n);
}

static void test_rules_reject_invalid(void)
{
	struct subnet bad[4];
	struct fw_spec spec = {.redirect_port = 12300, .n_include = 1};
	struct nftnl_rule **rules;
	size_t n;

	bad[0] = sn("192.0.2.0", 33, 0, 65535);
	bad[1] = sn("2001:db8::", 129, 0, 65535);
	bad[2] = sn("192.0.2.0", 24, 90, 80);
	bad[3] = sn("192.0.2.0", 24, 0, 65535);
	bad[3].family = 0;
	for (size_t i = 0; i < 4; i++) {
		spec.include = &bad[i];
		CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), -EINVAL);
		CHECK(rules == NULL && n == 0);
	}
	spec.include = NULL;
	spec.n_include = 0;
	spec.redirect_port = 0;
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), -EINVAL);
	spec.redirect_port = 1;
	spec.n_exclude = 1; /* a count with no list */
	CHECK_EQ_INT(nft_rules_build(FW_TABLE_NAME, &spec, "output", &rules, &n), -EINVAL);
}

/*
 * The datagram capture's chains (fw_capture_datagrams) for spec_fill's
 * networks with --user 1000 --group 1000, the device "sluice4660" and the
 * mark 0x51001234. Captured like the others, with the chains mark_out,
 * mark_pre, mark_dst, tun_in and tun_src added plainly, and the rule text
 * in each comment.
 */
static const char *const oracle_capture[] = {
    /* meta skuid != 1000 return */
    "inet sluice mark_out\n"
    "  [ meta load skuid => reg 1 ]\n"
    "  [ cmp neq reg 1 0x000003e8 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* meta skgid != 1000 return */
    "inet sluice mark_out\n"
    "  [ meta load skgid => reg 1 ]\n"
    "  [ cmp neq reg 1 0x000003e8 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* meta l4proto udp jump mark_dst */
    "inet sluice mark_out\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ immediate reg 0 jump -> mark_dst ]\n",
    /* icmp type echo-request jump mark_dst */
    "inet sluice mark_out\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000001 ]\n"
    "  [ payload load 1b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000008 ]\n"
    "  [ immediate reg 0 jump -> mark_dst ]\n",
    /* icmpv6 type echo-request jump mark_dst */
    "inet sluice mark_out\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000003a ]\n"
    "  [ payload load 1b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000080 ]\n"
    "  [ immediate reg 0 jump -> mark_dst ]\n",
    /* iifname "sluice4660" return */
    "inet sluice mark_pre\n"
    "  [ meta load iifname => reg 1 ]\n"
    "  [ cmp eq reg 1 0x69756c73 0x36346563 0x00003036 0x00000000 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* meta mark != 0 meta mark & 0xff000000 != 0x51000000 return: others' marks win */
    "inet sluice mark_dst\n"
    "  [ meta load mark => reg 1 ]\n"
    "  [ cmp neq reg 1 0x00000000 ]\n"
    "  [ meta load mark => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0xff000000 ) ^ 0x00000000 ]\n"
    "  [ cmp neq reg 1 0x51000000 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* fib daddr type local return */
    "inet sluice mark_dst\n"
    "  [ fib daddr type => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip daddr @exc4 return */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ lookup reg 1 set exc4 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip6 daddr @exc6 return */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ lookup reg 1 set exc6 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip daddr 198.51.100.9 udp dport 22 return */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x096433c6 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00001600 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip6 daddr 2001:db8:1::5 udp dport 2222 return */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ cmp eq reg 1 0xb80d0120 0x00000100 0x00000000 0x05000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000ae08 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* meta nfproto ipv4 udp dport 25 return */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00001900 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip daddr 198.51.100.0/24 udp dport 80-90 return */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 3b @ network header + 16 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x006433c6 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp gte reg 1 0x00005000 ]\n"
    "  [ cmp lte reg 1 0x00005a00 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* ip daddr @inc4 meta mark set 0x51001234 ct mark set 0x51001234 */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ lookup reg 1 set inc4 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ ct set mark with reg 1 ]\n",
    /* ip6 daddr @inc6 meta mark set 0x51001234 ct mark set 0x51001234 */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ lookup reg 1 set inc6 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ ct set mark with reg 1 ]\n",
    /* ip daddr 203.0.113.0/25 udp dport 80-90 meta mark set 0x51001234 ct mark set 0x51001234 */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 16 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0x80ffffff ) ^ 0x00000000 ]\n"
    "  [ cmp eq reg 1 0x007100cb ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp gte reg 1 0x00005000 ]\n"
    "  [ cmp lte reg 1 0x00005a00 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ ct set mark with reg 1 ]\n",
    /* ip6 daddr 2001:db8:1:8000::/49 udp dport 1-65534 meta mark set 0x51001234 ct mark set
       0x51001234 */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0xffffffff 0x0080ffff 0x00000000 0x00000000 ) ^ 0x00000000 "
    "0x00000000 0x00000000 0x00000000 ]\n"
    "  [ cmp eq reg 1 0xb80d0120 0x00800100 0x00000000 0x00000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp gte reg 1 0x00000100 ]\n"
    "  [ cmp lte reg 1 0x0000feff ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ ct set mark with reg 1 ]\n",
    /* ip6 daddr 2001:db8:2::1 udp dport 443 meta mark set 0x51001234 ct mark set 0x51001234 */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 24 => reg 1 ]\n"
    "  [ cmp eq reg 1 0xb80d0120 0x00000200 0x00000000 0x01000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000bb01 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ ct set mark with reg 1 ]\n",
    /* meta nfproto ipv6 udp dport 8080 meta mark set 0x51001234 ct mark set 0x51001234 */
    "inet sluice mark_dst\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 2 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000901f ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ ct set mark with reg 1 ]\n",
    /* iifname != "sluice4660" return */
    "inet sluice tun_in\n"
    "  [ meta load iifname => reg 1 ]\n"
    "  [ cmp neq reg 1 0x69756c73 0x36346563 0x00003036 0x00000000 ]\n"
    "  [ immediate reg 0 return ]\n",
    /* fib daddr type != local drop */
    "inet sluice tun_in\n"
    "  [ fib daddr type => reg 1 ]\n"
    "  [ cmp neq reg 1 0x00000002 ]\n"
    "  [ immediate reg 0 drop ]\n",
    /* ct mark 0x51001234 ct direction reply meta l4proto udp jump tun_src */
    "inet sluice tun_in\n"
    "  [ ct load mark => reg 1 ]\n"
    "  [ cmp eq reg 1 0x51001234 ]\n"
    "  [ ct load direction => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000001 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ immediate reg 0 jump -> tun_src ]\n",
    /* ct mark 0x51001234 ct direction reply meta nfproto ipv4 meta l4proto icmp jump tun_src */
    "inet sluice tun_in\n"
    "  [ ct load mark => reg 1 ]\n"
    "  [ cmp eq reg 1 0x51001234 ]\n"
    "  [ ct load direction => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000001 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000001 ]\n"
    "  [ immediate reg 0 jump -> tun_src ]\n",
    /* ct mark 0x51001234 ct direction reply meta nfproto ipv6 meta l4proto icmpv6 jump tun_src */
    "inet sluice tun_in\n"
    "  [ ct load mark => reg 1 ]\n"
    "  [ cmp eq reg 1 0x51001234 ]\n"
    "  [ ct load direction => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000001 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000003a ]\n"
    "  [ immediate reg 0 jump -> tun_src ]\n",
    /* drop */
    "inet sluice tun_in\n"
    "  [ immediate reg 0 drop ]\n",
    /* ip saddr @exc4 drop */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 12 => reg 1 ]\n"
    "  [ lookup reg 1 set exc4 ]\n"
    "  [ immediate reg 0 drop ]\n",
    /* ip6 saddr @exc6 drop */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 8 => reg 1 ]\n"
    "  [ lookup reg 1 set exc6 ]\n"
    "  [ immediate reg 0 drop ]\n",
    /* ip saddr 198.51.100.9 udp sport 22 drop */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 12 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x096433c6 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00001600 ]\n"
    "  [ immediate reg 0 drop ]\n",
    /* ip6 saddr 2001:db8:1::5 udp sport 2222 drop */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 8 => reg 1 ]\n"
    "  [ cmp eq reg 1 0xb80d0120 0x00000100 0x00000000 0x05000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000ae08 ]\n"
    "  [ immediate reg 0 drop ]\n",
    /* meta nfproto ipv4 udp sport 25 drop */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00001900 ]\n"
    "  [ immediate reg 0 drop ]\n",
    /* ip saddr 198.51.100.0/24 udp sport 80-90 drop */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 3b @ network header + 12 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x006433c6 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp gte reg 1 0x00005000 ]\n"
    "  [ cmp lte reg 1 0x00005a00 ]\n"
    "  [ immediate reg 0 drop ]\n",
    /* ip saddr @inc4 meta mark set 0x51001234 accept */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 12 => reg 1 ]\n"
    "  [ lookup reg 1 set inc4 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 0 accept ]\n",
    /* ip6 saddr @inc6 meta mark set 0x51001234 accept */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 8 => reg 1 ]\n"
    "  [ lookup reg 1 set inc6 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 0 accept ]\n",
    /* ip saddr 203.0.113.0/25 udp sport 80-90 meta mark set 0x51001234 accept */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ payload load 4b @ network header + 12 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0x80ffffff ) ^ 0x00000000 ]\n"
    "  [ cmp eq reg 1 0x007100cb ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp gte reg 1 0x00005000 ]\n"
    "  [ cmp lte reg 1 0x00005a00 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 0 accept ]\n",
    /* ip6 saddr 2001:db8:1:8000::/49 udp sport 1-65534 meta mark set 0x51001234 accept */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 8 => reg 1 ]\n"
    "  [ bitwise reg 1 = ( reg 1 & 0xffffffff 0x0080ffff 0x00000000 0x00000000 ) ^ 0x00000000 "
    "0x00000000 0x00000000 0x00000000 ]\n"
    "  [ cmp eq reg 1 0xb80d0120 0x00800100 0x00000000 0x00000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp gte reg 1 0x00000100 ]\n"
    "  [ cmp lte reg 1 0x0000feff ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 0 accept ]\n",
    /* ip6 saddr 2001:db8:2::1 udp sport 443 meta mark set 0x51001234 accept */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ payload load 16b @ network header + 8 => reg 1 ]\n"
    "  [ cmp eq reg 1 0xb80d0120 0x00000200 0x00000000 0x01000000 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000bb01 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 0 accept ]\n",
    /* meta nfproto ipv6 udp sport 8080 meta mark set 0x51001234 accept */
    "inet sluice tun_src\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000011 ]\n"
    "  [ payload load 2b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000901f ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 0 accept ]\n",
    /* drop */
    "inet sluice tun_src\n"
    "  [ immediate reg 0 drop ]\n",
    /*
     * ct mark 0x51001234 ct direction original meta nfproto ipv4 meta l4proto icmp
     * icmp type != echo-request meta mark set 0x51001234 accept
     */
    "inet sluice mark_out\n"
    "  [ ct load mark => reg 1 ]\n"
    "  [ cmp eq reg 1 0x51001234 ]\n"
    "  [ ct load direction => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000000 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000002 ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000001 ]\n"
    "  [ payload load 1b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp neq reg 1 0x00000008 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 0 accept ]\n",
    /*
     * ct mark 0x51001234 ct direction original meta nfproto ipv6 meta l4proto ipv6-icmp
     * icmpv6 type < 128 meta mark set 0x51001234 accept
     */
    "inet sluice mark_out\n"
    "  [ ct load mark => reg 1 ]\n"
    "  [ cmp eq reg 1 0x51001234 ]\n"
    "  [ ct load direction => reg 1 ]\n"
    "  [ cmp eq reg 1 0x00000000 ]\n"
    "  [ meta load nfproto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000000a ]\n"
    "  [ meta load l4proto => reg 1 ]\n"
    "  [ cmp eq reg 1 0x0000003a ]\n"
    "  [ payload load 1b @ transport header + 0 => reg 1 ]\n"
    "  [ cmp lt reg 1 0x00000080 ]\n"
    "  [ immediate reg 1 0x51001234 ]\n"
    "  [ meta set mark with reg 1 ]\n"
    "  [ immediate reg 0 accept ]\n",
};

/* Indexes into oracle_capture: the owner returns, the three jumps, mark_pre's own rule, ... */
enum {
	OC_SKUID = 0,
	OC_JUMPS = 2, /* udp, echo-request, echo-request v6 */
	OC_PRE_IIF = 5,
	OC_DST = 6, /* mark_dst: 14 rules */
	OC_TUN_IN = 20,
	OC_TUN_IN_FIB = 21,
	OC_TUN_SRC = 26,   /* 13 rules */
	OC_FLOW_ICMP = 39, /* mark_out's and mark_pre's first: errors about our flows, v4 and v6 */
	OC_N = 41,
};

static void check_capture(const struct fw_spec *spec, const char *chain, const int *idx, size_t k)
{
	struct nftnl_rule **rules;
	size_t n, i;

	CHECK_EQ_INT(nft_capture_rules_build(FW_TABLE_NAME, spec, chain, "sluice4660", 0x51001234,
					     &rules, &n),
		     0);
	CHECK_EQ_INT(n, k);
	for (i = 0; n == k && i < k; i++)
		check_rule(rules[i], chain, oracle_capture[idx[i]]);
	nft_rules_free(rules, n);
}

/*
 * mark_out with an owner: the errors about our flows (no owner: the
 * kernel sends them), the returns, then the jumps with the owner's
 * positive match (nft: meta skuid 1000 meta skgid 1000 meta l4proto udp
 * jump mark_dst, and so on), so that the kernel's own datagrams never jump.
 */
static void check_mark_out(const struct fw_spec *spec, const char *prefix)
{
	struct nftnl_rule **rules;
	size_t n, i, k = 2 + (size_t)spec->by_uid + spec->by_gid;
	char buf[4096];

	CHECK_EQ_INT(nft_capture_rules_build(FW_TABLE_NAME, spec, NFT_CHAIN_MARK_OUT, "sluice4660",
					     0x51001234, &rules, &n),
		     0);
	CHECK_EQ_INT(n, k + 3);
	if (n == k + 3) {
		for (i = 0; i < 2; i++)
			check_rule(rules[i], NFT_CHAIN_MARK_OUT, oracle_capture[OC_FLOW_ICMP + i]);
		for (i = 2; i < k; i++)
			check_rule(rules[i], NFT_CHAIN_MARK_OUT, oracle_capture[OC_SKUID + i - 2]);
		for (i = 0; i < 3; i++)
			check_rule(rules[k + i], NFT_CHAIN_MARK_OUT,
				   owned(buf, sizeof(buf), oracle_capture[OC_JUMPS + i], prefix));
	}
	nft_rules_free(rules, n);
}

static size_t span(int *idx, size_t k, int from, int n)
{
	int i;

	for (i = 0; i < n; i++)
		idx[k++] = from + i;
	return k;
}

static void test_capture_rules_match_nft(void)
{
	struct subnet inc[8], exc[8];
	struct fw_spec spec;
	int idx[OC_N];
	size_t k;

	CHECK_EQ_INT(sizeof(oracle_capture) / sizeof(oracle_capture[0]), OC_N);
	spec_fill(&spec, inc, exc);
	spec.by_uid = spec.by_gid = true;
	spec.uid = spec.gid = 1000;
	check_mark_out(&spec, OWNER_UID_LINES OWNER_GID_LINES);
	spec.by_gid = false;
	check_mark_out(&spec, OWNER_UID_LINES);
	spec.by_gid = true;
	k = span(idx, 0, OC_DST, 14);
	check_capture(&spec, NFT_CHAIN_MARK_DST, idx, k);
	k = span(idx, 0, OC_TUN_IN, 6);
	check_capture(&spec, NFT_CHAIN_TUN_IN, idx, k);
	k = span(idx, 0, OC_TUN_SRC, 13);
	check_capture(&spec, NFT_CHAIN_TUN_SRC, idx, k);

	/* Router mode: mark_pre (no owner there), and replies may go to other hosts. */
	spec.prerouting = true;
	k = span(idx, 0, OC_PRE_IIF, 1);
	k = span(idx, k, OC_FLOW_ICMP, 2);
	k = span(idx, k, OC_JUMPS, 3);
	check_capture(&spec, NFT_CHAIN_MARK_PRE, idx, k);
	k = span(idx, 0, OC_TUN_IN, 1);
	k = span(idx, k, OC_TUN_IN_FIB + 1, 4);
	check_capture(&spec, NFT_CHAIN_TUN_IN, idx, k);
	/* Without --user/--group mark_out is the errors' rules and the jumps alone. */
	spec.by_uid = spec.by_gid = false;
	k = span(idx, 0, OC_FLOW_ICMP, 2);
	k = span(idx, k, OC_JUMPS, 3);
	check_capture(&spec, NFT_CHAIN_MARK_OUT, idx, k);
}

static void test_capture_rules_reject(void)
{
	struct fw_spec spec = {.redirect_port = 12300};
	struct nftnl_rule **rules;
	size_t n;

	CHECK_EQ_INT(
	    nft_capture_rules_build(FW_TABLE_NAME, &spec, "output", "sluice1", 1, &rules, &n),
	    -EINVAL);
	CHECK(rules == NULL && n == 0);
	CHECK_EQ_INT(
	    nft_capture_rules_build(FW_TABLE_NAME, &spec, NFT_CHAIN_TUN_IN, "", 1, &rules, &n),
	    -EINVAL);
	CHECK_EQ_INT(nft_capture_rules_build(FW_TABLE_NAME, &spec, NFT_CHAIN_TUN_IN,
					     "sluice0123456789", 1, &rules, &n),
		     -EINVAL);
	CHECK_EQ_INT(nft_capture_rules_build(FW_TABLE_NAME, &spec, NFT_CHAIN_TUN_IN,
					     "sluice012345678", 1, &rules, &n),
		     0);
	nft_rules_free(rules, n);
}

static void test_strerror_messages(void)
{
	CHECK(strstr(fw_strerror(-EPERM), "CAP_NET_ADMIN") != NULL);
	CHECK(strstr(fw_strerror(-EOPNOTSUPP), "nft_redir") != NULL);
	CHECK(strstr(fw_strerror(-EOPNOTSUPP), "nft_chain_nat") != NULL);
	CHECK(strstr(fw_strerror(-EPROTONOSUPPORT), "nf_tables") != NULL);
	CHECK(strstr(fw_strerror(-EAFNOSUPPORT), "nf_tables") != NULL);
	CHECK(strstr(fw_strerror(-EBUSY), "another running sluice") != NULL);
	CHECK_STR(fw_strerror(-EIO), strerror(EIO));
	CHECK(strchr(fw_strerror(-ENOENT), '\n') == NULL);
}

int main(void)
{
	RUN(test_rules_output_match_nft);
	RUN(test_rules_prerouting_match_nft);
	RUN(test_rules_dns_output_match_nft);
	RUN(test_rules_dns_prerouting_match_nft);
	RUN(test_rules_owner);
	RUN(test_rules_dns_none);
	RUN(test_rules_dns_v6_and_max);
	RUN(test_rules_dns_reject_invalid);
	RUN(test_rules_empty_spec);
	RUN(test_rules_v6_aligned_prefix);
	RUN(test_rules_reject_invalid);
	RUN(test_capture_rules_match_nft);
	RUN(test_capture_rules_reject);
	RUN(test_strerror_messages);
	T_EXIT();
}
