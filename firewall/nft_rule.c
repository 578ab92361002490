/*
 * nft_rule: the rules of one chain (the nat chains, and the datagram
 * capture's marking chains), as libnftnl objects. Each rule is
 * the expression list nft would compile for the equivalent rule text; the
 * unit tests hold nft's own output (`nft --debug=netlink`) as the oracle.
 */
#include <errno.h>
#include <stdio.h> /* libnftnl/expr.h needs FILE */
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "../common/tunmark.h"
#include "nft_internal.h"

/* Offsets of the addresses in the IPv4 and IPv6 headers, and of the TCP/UDP ports. */
#define IP_SADDR_OFF  12
#define IP_DADDR_OFF  16
#define IP6_SADDR_OFF 8
#define IP6_DADDR_OFF 24
#define L4_SPORT_OFF  0
#define L4_DPORT_OFF  2
#define ICMP_TYPE_OFF 0

#define ICMP_ECHO_REQUEST   8
#define ICMPV6_ECHO_REQUEST 128

/* A rule under construction; the first failure sticks so callers check once. */
struct rb {
	struct nftnl_rule *r;
	int err;
};

/*
 * What a capturing rule must positively match before anything else: the
 * owner of the socket (output only), or that a packet out of the TUN
 * belongs to a flow we sent in. Positive, because a match that cannot be
 * evaluated (no socket, no conntrack entry) breaks the rule: a "!= X
 * return" then never returns, while "== X" never captures.
 */
struct guard {
	bool by_uid, by_gid;
	bool ct_reply, ct_orig; /* the flow's ct mark is mark, and the packet runs this way */
	uint32_t uid, gid, mark;
};

/*
 * What a rule does once it matches. MARK sets the packet's mark and its
 * conntrack entry's and goes on: the ct mark is what later lets the flow's
 * replies out of the TUN (tun_in). MARK_ACCEPT sets the packet's alone and stops.
 */
enum action { ACT_RETURN, ACT_REDIRECT, ACT_DROP, ACT_MARK, ACT_MARK_ACCEPT };

/* Which end of a packet a rule looks at: where it goes, or where it comes from. */
enum end { DST, SRC };

static struct nftnl_expr *expr_new(struct rb *b, const char *name)
{
	struct nftnl_expr *e;

	if (b->err)
		return NULL;
	e = nftnl_expr_alloc(name);
	if (!e)
		b->err = -ENOMEM;
	return e;
}

static void expr_add(struct rb *b, struct nftnl_expr *e, int set_err)
{
	if (set_err < 0) {
		nftnl_expr_free(e);
		b->err = -ENOMEM;
		return;
	}
	nftnl_rule_add_expr(b->r, e);
}

static void meta_load(struct rb *b, uint32_t key)
{
	struct nftnl_expr *e = expr_new(b, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	expr_add(b, e, 0);
}

static void cmp(struct rb *b, enum nft_cmp_ops op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr_new(b, "cmp");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	expr_add(b, e, nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len));
}

static void cmp_u8(struct rb *b, enum nft_cmp_ops op, uint8_t v)
{
	cmp(b, op, &v, sizeof(v));
}

static void payload_load(struct rb *b, enum nft_payload_bases base, uint32_t off, uint32_t len)
{
	struct nftnl_expr *e = expr_new(b, "payload");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	expr_add(b, e, 0);
}

static void bitwise_mask(struct rb *b, const uint8_t *mask, uint32_t len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *e = expr_new(b, "bitwise");
	int err;

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	err = nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	if (err >= 0)
		err = nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	expr_add(b, e, err);
}

static void lookup(struct rb *b, const char *set, uint32_t set_id)
{
	struct nftnl_expr *e = expr_new(b, "lookup");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	expr_add(b, e, nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set));
}

/* `fib daddr type` => reg 1: the routing type (RTN_LOCAL, ...) of the destination. */
static void fib_daddr_type(struct rb *b)
{
	struct nftnl_expr *e = expr_new(b, "fib");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
	expr_add(b, e, 0);
}

/* A verdict; jump names its chain. */
static void verdict(struct rb *b, int code, const char *chain)
{
	struct nftnl_expr *e = expr_new(b, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)code);
	expr_add(b, e, chain ? nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain) : 0);
}

static void verdict_return(struct rb *b)
{
	verdict(b, NFT_RETURN, NULL);
}

static void ct_load(struct rb *b, uint32_t key)
{
	struct nftnl_expr *e = expr_new(b, "ct");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	expr_add(b, e, 0);
}

/*
 * `meta mark set MARK`, or with ct `ct mark set MARK`: the value in a
 * register, then the store from it.
 */
static void mark_store(struct rb *b, uint32_t mark, bool ct)
{
	struct nftnl_expr *e = expr_new(b, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	expr_add(b, e, nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &mark, sizeof(mark)));

	e = expr_new(b, ct ? "ct" : "meta");
	if (!e)
		return;
	if (ct) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	} else {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
	}
	expr_add(b, e, 0);
}

static void mark_set(struct rb *b, uint32_t mark)
{
	mark_store(b, mark, false);
}

/* `redirect to :port`: the port in network order in a register, then redir naming it. */
static void redirect(struct rb *b, uint16_t port)
{
	uint16_t nport = htons(port);
	struct nftnl_expr *e = expr_new(b, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	expr_add(b, e, nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &nport, sizeof(nport)));

	e = expr_new(b, "redir");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MIN, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
	expr_add(b, e, 0);
}

/* arg: the port of a redirect, the mark of a mark. */
static void action(struct rb *b, enum action act, uint32_t arg)
{
	switch (act) {
	case ACT_REDIRECT:
		redirect(b, (uint16_t)arg);
		break;
	case ACT_DROP:
		verdict(b, NF_DROP, NULL);
		break;
	case ACT_MARK:
		mark_set(b, arg);
		mark_store(b, arg, true);
		break;
	case ACT_MARK_ACCEPT:
		mark_set(b, arg);
		verdict(b, NF_ACCEPT, NULL);
		break;
	default:
		verdict_return(b);
	}
}

/*
 * In an inet table the address family must be matched before loading an
 * IPv4 or IPv6 header field, or the load reads garbage from the other one.
 */
static void match_nfproto(struct rb *b, int family)
{
	cmp_u8(b, NFT_CMP_EQ, family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6);
}

static void load_addr(struct rb *b, int family, uint32_t len, enum end end)
{
	uint32_t off = family == AF_INET ? (end == SRC ? IP_SADDR_OFF : IP_DADDR_OFF)
					 : (end == SRC ? IP6_SADDR_OFF : IP6_DADDR_OFF);

	payload_load(b, NFT_PAYLOAD_NETWORK_HEADER, off, len);
}

/*
 * `ip daddr X/W`: a byte-aligned prefix compares just its leading bytes;
 * any other loads the whole address and masks it, as nft does. /0 matches
 * every address of the family, so it needs no load at all.
 */
static void match_addr(struct rb *b, const struct subnet *s, enum end end)
{
	size_t alen = nft_addr_len(s->family);
	uint8_t mask[16] = {0}, net[16] = {0};
	size_t i;

	if (s->prefix == 0)
		return;
	if (s->prefix % 8 == 0) {
		load_addr(b, s->family, s->prefix / 8, end);
		cmp(b, NFT_CMP_EQ, s->addr, s->prefix / 8);
		return;
	}
	for (i = 0; i < alen; i++) {
		unsigned bits = s->prefix > i * 8 ? s->prefix - i * 8 : 0;

		mask[i] = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
		net[i] = s->addr[i] & mask[i];
	}
	load_addr(b, s->family, alen, end);
	bitwise_mask(b, mask, alen);
	cmp(b, NFT_CMP_EQ, net, alen);
}

/*
 * The guard's matches, in the order nft compiles `meta skuid U meta skgid
 * G` and `ct mark M ct direction reply`. A NULL guard matches everything.
 */
static void match_guard(struct rb *b, const struct guard *g)
{
	uint8_t dir = g && g->ct_reply ? IP_CT_DIR_REPLY : IP_CT_DIR_ORIGINAL;

	if (!g)
		return;
	if (g->by_uid) {
		meta_load(b, NFT_META_SKUID);
		cmp(b, NFT_CMP_EQ, &g->uid, sizeof(g->uid));
	}
	if (g->by_gid) {
		meta_load(b, NFT_META_SKGID);
		cmp(b, NFT_CMP_EQ, &g->gid, sizeof(g->gid));
	}
	if (g->ct_reply || g->ct_orig) {
		ct_load(b, NFT_CT_MARK);
		cmp(b, NFT_CMP_EQ, &g->mark, sizeof(g->mark));
		ct_load(b, NFT_CT_DIRECTION);
		cmp(b, NFT_CMP_EQ, &dir, sizeof(dir));
	}
}

static void match_l4proto(struct rb *b, uint8_t proto)
{
	meta_load(b, NFT_META_L4PROTO);
	cmp_u8(b, NFT_CMP_EQ, proto);
}

static void match_port(struct rb *b, uint16_t lo, uint16_t hi, enum end end)
{
	uint16_t nlo = htons(lo), nhi = htons(hi);

	payload_load(b, NFT_PAYLOAD_TRANSPORT_HEADER, end == SRC ? L4_SPORT_OFF : L4_DPORT_OFF,
		     sizeof(nlo));
	/* Big-endian bytes compare in numeric order, so gte/lte work on network order. */
	if (lo == hi) {
		cmp(b, NFT_CMP_EQ, &nlo, sizeof(nlo));
	} else {
		cmp(b, NFT_CMP_GTE, &nlo, sizeof(nlo));
		cmp(b, NFT_CMP_LTE, &nhi, sizeof(nhi));
	}
}

static struct nftnl_rule *rule_new(struct rb *b, const char *table, const char *chain)
{
	b->err = 0;
	b->r = nftnl_rule_alloc();
	if (!b->r) {
		b->err = -ENOMEM;
		return NULL;
	}
	nftnl_rule_set_u32(b->r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	if (nftnl_rule_set_str(b->r, NFTNL_RULE_TABLE, table) < 0 ||
	    nftnl_rule_set_str(b->r, NFTNL_RULE_CHAIN, chain) < 0)
		b->err = -ENOMEM;
	return b->r;
}

static struct nftnl_rule *rule_done(struct rb *b)
{
	if (b->err && b->r) {
		nftnl_rule_free(b->r);
		b->r = NULL;
	}
	return b->r;
}

/* meta l4proto != tcp return: only TCP is proxied; the rest leaves the chain untouched. */
static struct nftnl_rule *rule_not_tcp(const char *table, const char *chain)
{
	struct rb b;

	if (!rule_new(&b, table, chain))
		return NULL;
	meta_load(&b, NFT_META_L4PROTO);
	cmp_u8(&b, NFT_CMP_NEQ, IPPROTO_TCP);
	verdict_return(&b);
	return rule_done(&b);
}

/* meta skuid (skgid) != id return: --user/--group, other owners' traffic is left alone. */
static struct nftnl_rule *rule_owner(const char *table, const char *chain, uint32_t key,
				     uint32_t id)
{
	struct rb b;

	if (!rule_new(&b, table, chain))
		return NULL;
	meta_load(&b, key);
	cmp(&b, NFT_CMP_NEQ, &id, sizeof(id));
	verdict_return(&b);
	return rule_done(&b);
}

/*
 * fib daddr type [!=] local, then code: `... local return` never redirects
 * traffic meant for this machine; `!= local drop` keeps the TUN from
 * reaching anywhere else.
 */
static struct nftnl_rule *rule_local_is(const char *table, const char *chain, enum nft_cmp_ops op,
					int code)
{
	uint32_t local = RTN_LOCAL;
	struct rb b;

	if (!rule_new(&b, table, chain))
		return NULL;
	fib_daddr_type(&b);
	cmp(&b, op, &local, sizeof(local));
	verdict(&b, code, NULL);
	return rule_done(&b);
}

static struct nftnl_rule *rule_local(const char *table, const char *chain)
{
	return rule_local_is(table, chain, NFT_CMP_EQ, NFT_RETURN);
}

/*
 * ip daddr @set return, or ip daddr @set meta l4proto tcp redirect to :port.
 * The TCP match is redundant after the first rule but keeps each rule valid
 * on its own, as nft insists before a port mapping.
 */
static struct nftnl_rule *rule_set(const char *table, const char *chain, const struct guard *g,
				   int family, const char *set, uint32_t id, enum action act,
				   uint32_t arg, enum end end)
{
	struct rb b;

	if (!rule_new(&b, table, chain))
		return NULL;
	match_guard(&b, g);
	meta_load(&b, NFT_META_NFPROTO);
	match_nfproto(&b, family);
	load_addr(&b, family, nft_addr_len(family), end);
	lookup(&b, set, id);
	if (act == ACT_REDIRECT)
		match_l4proto(&b, IPPROTO_TCP);
	action(&b, act, arg);
	return rule_done(&b);
}

/* ip daddr|saddr X/W tcp|udp dport|sport lo-hi, then the action. */
static struct nftnl_rule *rule_ports(const char *table, const char *chain, const struct guard *g,
				     const struct subnet *s, uint8_t proto, uint16_t lo,
				     uint16_t hi, enum action act, uint32_t arg, enum end end)
{
	struct rb b;

	if (!rule_new(&b, table, chain))
		return NULL;
	match_guard(&b, g);
	meta_load(&b, NFT_META_NFPROTO);
	match_nfproto(&b, s->family);
	match_addr(&b, s, end);
	match_l4proto(&b, proto);
	match_port(&b, lo, hi, end);
	action(&b, act, arg);
	return rule_done(&b);
}

/* A port-specific subnet: ip daddr X/W tcp dport lo-hi, then return or redirect. */
static struct nftnl_rule *rule_subnet(const char *table, const char *chain, const struct guard *g,
				      const struct subnet *s, enum action act, uint16_t port)
{
	return rule_ports(table, chain, g, s, IPPROTO_TCP, s->port_lo, s->port_hi, act, port, DST);
}

/*
 * ip daddr NS udp|tcp dport 53 redirect to :port. The port of ns is not
 * the one matched: whatever the user wrote, resolvers ask on 53.
 */
static struct nftnl_rule *rule_dns(const char *table, const char *chain, const struct guard *g,
				   const struct subnet *ns, uint8_t proto, uint16_t port)
{
	return rule_ports(table, chain, g, ns, proto, NFT_DNS_PORT, NFT_DNS_PORT, ACT_REDIRECT,
			  port, DST);
}

static size_t count_port_specific(const struct subnet *list, size_t n)
{
	size_t i, cnt = 0;

	for (i = 0; i < n; i++)
		cnt += !nft_all_ports(&list[i]);
	return cnt;
}

void nft_rules_free(struct nftnl_rule **rules, size_t n)
{
	size_t i;

	if (!rules)
		return;
	for (i = 0; i < n; i++)
		nftnl_rule_free(rules[i]);
	free(rules);
}

int nft_rules_build(const char *table, const struct fw_spec *spec, const char *chain,
		    struct nftnl_rule ***out, size_t *n)
{
	struct nftnl_rule **rules = NULL;
	bool output = !strcmp(chain, NFT_CHAIN_OUTPUT);
	struct guard own;
	const struct guard *g = NULL;
	size_t i, cnt = 0, max;
	int ret;

	*out = NULL;
	*n = 0;
	ret = nft_spec_check(spec, true);
	if (ret < 0)
		return ret;

	/* nft_spec_check bounded n_dns, and the subnet counts by what the caller could allocate. */
	max = 8 + 2 * spec->n_dns + count_port_specific(spec->exclude, spec->n_exclude) +
	      count_port_specific(spec->include, spec->n_include);
	rules = calloc(max, sizeof(*rules));
	if (!rules)
		return -ENOMEM;

	/*
	 * Only the output chain knows who sent a packet. The returns spare
	 * other owners' packets the rest of the chain; what keeps a packet
	 * with no user socket (the kernel's own: NFS, tunnels, ICMP errors)
	 * from being captured is the owner match on every capturing rule.
	 */
	if (output && (spec->by_uid || spec->by_gid)) {
		own = (struct guard){.by_uid = spec->by_uid,
				     .by_gid = spec->by_gid,
				     .uid = spec->uid,
				     .gid = spec->gid};
		g = &own;
	}
	if (output && spec->by_uid)
		rules[cnt++] = rule_owner(table, chain, NFT_META_SKUID, spec->uid);
	if (output && spec->by_gid)
		rules[cnt++] = rule_owner(table, chain, NFT_META_SKGID, spec->gid);
	/*
	 * What other hosts send to this machine itself is for its own services
	 * (a LAN peer asking the resolver this host runs), never for us: in
	 * prerouting that return comes before anything is captured, DNS too.
	 */
	if (!output)
		rules[cnt++] = rule_local(table, chain);
	/*
	 * Then DNS, ahead of the other returns: UDP would leave at the non-TCP
	 * return, and on output a local nameserver (127.0.0.53) at the local
	 * one. The client's own forwarding cannot loop through here: it hands
	 * queries to the tunnel and never sends to these nameservers itself, so
	 * they need no exclusion (its own lookups belong before install).
	 */
	for (i = 0; i < spec->n_dns; i++) {
		rules[cnt++] =
		    rule_dns(table, chain, g, &spec->dns[i], IPPROTO_UDP, spec->dns_port);
		rules[cnt++] =
		    rule_dns(table, chain, g, &spec->dns[i], IPPROTO_TCP, spec->redirect_port);
	}
	rules[cnt++] = rule_not_tcp(table, chain);
	if (output)
		rules[cnt++] = rule_local(table, chain);
	/* Excludes before includes: the first matching rule decides, so excludes win. */
	rules[cnt++] =
	    rule_set(table, chain, NULL, AF_INET, NFT_SET_EXC4, NFT_SETID_EXC4, ACT_RETURN, 0, DST);
	rules[cnt++] = rule_set(table, chain, NULL, AF_INET6, NFT_SET_EXC6, NFT_SETID_EXC6,
				ACT_RETURN, 0, DST);
	for (i = 0; i < spec->n_exclude; i++) {
		if (!nft_all_ports(&spec->exclude[i]))
			rules[cnt++] =
			    rule_subnet(table, chain, NULL, &spec->exclude[i], ACT_RETURN, 0);
	}
	rules[cnt++] = rule_set(table, chain, g, AF_INET, NFT_SET_INC4, NFT_SETID_INC4,
				ACT_REDIRECT, spec->redirect_port, DST);
	rules[cnt++] = rule_set(table, chain, g, AF_INET6, NFT_SET_INC6, NFT_SETID_INC6,
				ACT_REDIRECT, spec->redirect_port, DST);
	for (i = 0; i < spec->n_include; i++) {
		if (!nft_all_ports(&spec->include[i]))
			rules[cnt++] = rule_subnet(table, chain, g, &spec->include[i], ACT_REDIRECT,
						   spec->redirect_port);
	}

	for (i = 0; i < cnt; i++) {
		if (!rules[i]) {
			nft_rules_free(rules, cnt);
			return -ENOMEM;
		}
	}
	*out = rules;
	*n = cnt;
	return 0;
}

/* ---- the datagram capture's chains ---- */

/* iifname ==|!= "tun" return: the 16 bytes nft compares, the name zero-padded. */
static struct nftnl_rule *rule_iifname(const char *table, const char *chain, const char *tun,
				       enum nft_cmp_ops op)
{
	char name[16] = {0};
	struct rb b;

	if (!rule_new(&b, table, chain))
		return NULL;
	strncpy(name, tun, sizeof(name) - 1);
	meta_load(&b, NFT_META_IIFNAME);
	cmp(&b, op, name, sizeof(name));
	verdict_return(&b);
	return rule_done(&b);
}

/* meta l4proto udp jump target, after the guard's matches */
static struct nftnl_rule *rule_udp_jump(const char *table, const char *chain, const struct guard *g,
					const char *target)
{
	struct rb b;

	if (!rule_new(&b, table, chain))
		return NULL;
	match_guard(&b, g);
	match_l4proto(&b, IPPROTO_UDP);
	verdict(&b, NFT_JUMP, target);
	return rule_done(&b);
}

/*
 * icmp|icmpv6 type echo-request jump target, or with echo false any ICMP
 * of the family (meta nfproto ipv4 meta l4proto icmp jump target).
 */
static struct nftnl_rule *rule_icmp_jump(const char *table, const char *chain,
					 const struct guard *g, int family, bool echo,
					 const char *target)
{
	struct rb b;

	if (!rule_new(&b, table, chain))
		return NULL;
	match_guard(&b, g);
	meta_load(&b, NFT_META_NFPROTO);
	match_nfproto(&b, family);
	match_l4proto(&b, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	if (echo) {
		payload_load(&b, NFT_PAYLOAD_TRANSPORT_HEADER, ICMP_TYPE_OFF, 1);
		cmp_u8(&b, NFT_CMP_EQ, family == AF_INET ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST);
	}
	verdict(&b, NFT_JUMP, target);
	return rule_done(&b);
}

/*
 * ct mark MARK ct direction original, then icmp type != echo-request (or
 * icmpv6 type < 128, the errors), meta mark set MARK accept: an error this
 * machine, or a host it routes for, sends about a flow we carry (an
 * answer came to a socket that is gone). Routed as any unmarked packet it
 * would leave by the real interface, to the far address and from the real
 * one, outside the tunnel: it goes to the TUN with the flow's mark, where
 * the flow it quotes ends.
 */
static struct nftnl_rule *rule_flow_icmp(const char *table, const char *chain, int family,
					 uint32_t mark)
{
	struct guard flow = {.ct_orig = true, .mark = mark};
	uint8_t echo = ICMP_ECHO_REQUEST, errors_below = ICMPV6_ECHO_REQUEST;
	struct rb b;

	if (!rule_new(&b, table, chain))
		return NULL;
	match_guard(&b, &flow);
	meta_load(&b, NFT_META_NFPROTO);
	match_nfproto(&b, family);
	match_l4proto(&b, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	payload_load(&b, NFT_PAYLOAD_TRANSPORT_HEADER, ICMP_TYPE_OFF, 1);
	if (family == AF_INET)
		cmp_u8(&b, NFT_CMP_NEQ, echo);
	else
		cmp_u8(&b, NFT_CMP_LT, errors_below);
	action(&b, ACT_MARK_ACCEPT, mark);
	return rule_done(&b);
}

static struct nftnl_rule *rule_drop(const char *table, const char *chain)
{
	struct rb b;

	if (!rule_new(&b, table, chain))
		return NULL;
	verdict(&b, NF_DROP, NULL);
	return rule_done(&b);
}

/*
 * The routed networks as one end of a datagram: excludes (sets, then
 * port-specific subnets as UDP ports) take on_exc, includes on_inc. The
 * same sets as the TCP rules, so fw_update changes both at once.
 */
static size_t rules_networks(struct nftnl_rule **rules, const char *table, const char *chain,
			     const struct fw_spec *spec, enum end end, enum action on_exc,
			     enum action on_inc, uint32_t mark)
{
	size_t i, cnt = 0;

	rules[cnt++] =
	    rule_set(table, chain, NULL, AF_INET, NFT_SET_EXC4, NFT_SETID_EXC4, on_exc, 0, end);
	rules[cnt++] =
	    rule_set(table, chain, NULL, AF_INET6, NFT_SET_EXC6, NFT_SETID_EXC6, on_exc, 0, end);
	for (i = 0; i < spec->n_exclude; i++) {
		const struct subnet *s = &spec->exclude[i];

		if (!nft_all_ports(s))
			rules[cnt++] = rule_ports(table, chain, NULL, s, IPPROTO_UDP, s->port_lo,
						  s->port_hi, on_exc, 0, end);
	}
	rules[cnt++] =
	    rule_set(table, chain, NULL, AF_INET, NFT_SET_INC4, NFT_SETID_INC4, on_inc, mark, end);
	rules[cnt++] =
	    rule_set(table, chain, NULL, AF_INET6, NFT_SET_INC6, NFT_SETID_INC6, on_inc, mark, end);
	for (i = 0; i < spec->n_include; i++) {
		const struct subnet *s = &spec->include[i];

		if (!nft_all_ports(s))
			rules[cnt++] = rule_ports(table, chain, NULL, s, IPPROTO_UDP, s->port_lo,
						  s->port_hi, on_inc, mark, end);
	}
	return cnt;
}

/*
 * meta mark != 0 meta mark & 0xff000000 != 0x51000000 return: a datagram
 * that someone else marked (a socket's SO_MARK, as WireGuard's and
 * Tailscale's own packets carry so that they bypass their tunnel, or an
 * admin's rule before ours) keeps the routing that mark chose: captured,
 * another tunnel's packets could end up inside ours, and loop when ours
 * runs over theirs. A mark of any sluice part's passes, a dead one's
 * included (an old flow's mark restored from its conntrack entry).
 *
 * The flow's ct mark is not guarded the same way: a setup that connmarks
 * every flow would then silently lose all its UDP capture, while an
 * admin's connmark routing cannot apply to a flow that leaves by our TUN.
 */
static struct nftnl_rule *rule_marked(const char *table, const char *chain)
{
	uint32_t zero = 0, mask = TUNMARK_MASK, base = TUNMARK_BASE;
	struct rb b;

	if (!rule_new(&b, table, chain))
		return NULL;
	meta_load(&b, NFT_META_MARK);
	cmp(&b, NFT_CMP_NEQ, &zero, sizeof(zero));
	meta_load(&b, NFT_META_MARK);
	bitwise_mask(&b, (const uint8_t *)&mask, sizeof(mask));
	cmp(&b, NFT_CMP_NEQ, &base, sizeof(base));
	verdict_return(&b);
	return rule_done(&b);
}

/* UDP, ping and ping6 that pass the guard go on to target; the rest stays where it is. */
static size_t rules_datagrams(struct nftnl_rule **rules, const char *table, const char *chain,
			      const struct guard *g, const char *target)
{
	rules[0] = rule_udp_jump(table, chain, g, target);
	rules[1] = rule_icmp_jump(table, chain, g, AF_INET, true, target);
	rules[2] = rule_icmp_jump(table, chain, g, AF_INET6, true, target);
	return 3;
}

int nft_capture_rules_build(const char *table, const struct fw_spec *spec, const char *chain,
			    const char *tun, uint32_t mark, struct nftnl_rule ***out, size_t *n)
{
	struct nftnl_rule **rules = NULL;
	size_t i, cnt = 0, max;
	int ret;

	*out = NULL;
	*n = 0;
	ret = nft_spec_check(spec, true);
	if (ret < 0)
		return ret;
	if (!tun[0] || strlen(tun) >= 16)
		return -EINVAL;
	max = 11 + count_port_specific(spec->exclude, spec->n_exclude) +
	      count_port_specific(spec->include, spec->n_include);
	rules = calloc(max, sizeof(*rules));
	if (!rules)
		return -ENOMEM;

	if (!strcmp(chain, NFT_CHAIN_MARK_OUT)) {
		/*
		 * As on the nat output chain: other owners' datagrams leave first,
		 * and the jumps match the owner too, so that the kernel's own
		 * (no socket to read an owner from) never reach mark_dst.
		 */
		struct guard own = {.by_uid = spec->by_uid,
				    .by_gid = spec->by_gid,
				    .uid = spec->uid,
				    .gid = spec->gid};

		/* First: they come from the kernel, with no owner to judge. */
		rules[cnt++] = rule_flow_icmp(table, chain, AF_INET, mark);
		rules[cnt++] = rule_flow_icmp(table, chain, AF_INET6, mark);
		if (spec->by_uid)
			rules[cnt++] = rule_owner(table, chain, NFT_META_SKUID, spec->uid);
		if (spec->by_gid)
			rules[cnt++] = rule_owner(table, chain, NFT_META_SKGID, spec->gid);
		cnt += rules_datagrams(rules + cnt, table, chain, &own, NFT_CHAIN_MARK_DST);
	} else if (!strcmp(chain, NFT_CHAIN_MARK_PRE)) {
		/* What comes out of the TUN is tun_in's to judge, and never goes back in. */
		rules[cnt++] = rule_iifname(table, chain, tun, NFT_CMP_EQ);
		rules[cnt++] = rule_flow_icmp(table, chain, AF_INET, mark);
		rules[cnt++] = rule_flow_icmp(table, chain, AF_INET6, mark);
		cnt += rules_datagrams(rules + cnt, table, chain, NULL, NFT_CHAIN_MARK_DST);
	} else if (!strcmp(chain, NFT_CHAIN_MARK_DST)) {
		rules[cnt++] = rule_marked(table, chain);
		rules[cnt++] = rule_local(table, chain);
		cnt += rules_networks(rules + cnt, table, chain, spec, DST, ACT_RETURN, ACT_MARK,
				      mark);
	} else if (!strcmp(chain, NFT_CHAIN_TUN_IN)) {
		rules[cnt++] = rule_iifname(table, chain, tun, NFT_CMP_NEQ);
		/* Without router mode the replies are this machine's alone. */
		if (!spec->prerouting)
			rules[cnt++] = rule_local_is(table, chain, NFT_CMP_NEQ, NF_DROP);
		/*
		 * Only what answers a flow we sent in comes out: its conntrack
		 * entry carries the mark mark_dst gave it, and the packet runs
		 * in the reply direction. That covers the flow's replies and the
		 * ICMP errors quoting it (RELATED, yet counted in the reply
		 * direction since they travel against the quoted packet). A
		 * forged datagram at some local socket starts no entry of ours,
		 * and one with no entry at all breaks the match: both are dropped.
		 */
		struct guard flow = {.ct_reply = true, .mark = mark};

		rules[cnt++] = rule_udp_jump(table, chain, &flow, NFT_CHAIN_TUN_SRC);
		rules[cnt++] =
		    rule_icmp_jump(table, chain, &flow, AF_INET, false, NFT_CHAIN_TUN_SRC);
		rules[cnt++] =
		    rule_icmp_jump(table, chain, &flow, AF_INET6, false, NFT_CHAIN_TUN_SRC);
		rules[cnt++] = rule_drop(table, chain);
	} else if (!strcmp(chain, NFT_CHAIN_TUN_SRC)) {
		/*
		 * The mark makes the reverse-path check look where the replies' own
		 * requests went (src_valid_mark on the device), so strict rp_filter
		 * passes them.
		 */
		cnt += rules_networks(rules + cnt, table, chain, spec, SRC, ACT_DROP,
				      ACT_MARK_ACCEPT, mark);
		rules[cnt++] = rule_drop(table, chain);
	} else {
		free(rules);
		return -EINVAL;
	}
	for (i = 0; i < cnt; i++) {
		if (!rules[i]) {
			nft_rules_free(rules, cnt);
			return -ENOMEM;
		}
	}
	*out = rules;
	*n = cnt;
	return 0;
}
