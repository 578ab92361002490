/*
 * nft_batch: lays out one nfnetlink batch (begin, messages, end) in a
 * growing buffer, for install, update and remove. Every message asks for an
 * ACK, and the kind of each sequence number is kept so that fw.c can tell
 * which message an error belongs to. Builds bytes only; sends nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "nft_internal.h"

/* The four sets: which subnets feed them and how nft should print their keys. */
struct set_def {
	const char *name;
	uint32_t id;
	int family;
	bool include;
};

static const struct set_def set_defs[] = {
    {NFT_SET_INC4, NFT_SETID_INC4, AF_INET, true},
    {NFT_SET_INC6, NFT_SETID_INC6, AF_INET6, true},
    {NFT_SET_EXC4, NFT_SETID_EXC4, AF_INET, false},
    {NFT_SET_EXC6, NFT_SETID_EXC6, AF_INET6, false},
};

void nft_batch_init(struct nft_batch *b, uint32_t seq)
{
	memset(b, 0, sizeof(*b));
	b->table = FW_TABLE_NAME;
	b->seq_first = seq;
	b->seq_next = seq;
}

void nft_batch_free(struct nft_batch *b)
{
	free(b->buf);
	free(b->kinds);
	memset(b, 0, sizeof(*b));
}

enum nft_kind nft_batch_kind(const struct nft_batch *b, uint32_t seq)
{
	uint32_t i = seq - b->seq_first;

	if (i >= b->n_kinds)
		return NFT_K_NONE;
	return (enum nft_kind)b->kinds[i];
}

/* Make room for one more message of at most NFT_MSG_RESERVE bytes and note its kind. */
static char *reserve(struct nft_batch *b, enum nft_kind kind)
{
	if (b->cap - b->len < NFT_MSG_RESERVE) {
		size_t cap = b->cap ? b->cap * 2 : 4 * NFT_MSG_RESERVE;
		char *p;

		if (cap < b->len + NFT_MSG_RESERVE)
			cap = b->len + NFT_MSG_RESERVE;
		p = realloc(b->buf, cap);
		if (!p)
			return NULL;
		b->buf = p;
		b->cap = cap;
	}
	if (b->n_kinds == b->cap_kinds) {
		size_t cap = b->cap_kinds ? b->cap_kinds * 2 : 64;
		uint8_t *k = realloc(b->kinds, cap);

		if (!k)
			return NULL;
		b->kinds = k;
		b->cap_kinds = cap;
	}
	b->kinds[b->n_kinds++] = (uint8_t)kind;
	/* libmnl pads attributes itself; zeroing keeps the bytes reproducible all the same. */
	memset(b->buf + b->len, 0, NFT_MSG_RESERVE);
	return b->buf + b->len;
}

static int commit(struct nft_batch *b, struct nlmsghdr *nlh)
{
	/*
	 * libnftnl writes without bounds checks, so sizes are bounded by
	 * construction (NFT_ELEMS_PER_MSG, a dozen expressions per rule). This
	 * catches a mistake in that reasoning, not input.
	 */
	if (nlh->nlmsg_len > NFT_MSG_RESERVE)
		abort();
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->seq_next++;
	return 0;
}

static struct nlmsghdr *msg_begin(struct nft_batch *b, uint16_t type, uint16_t flags,
				  enum nft_kind kind)
{
	char *p = reserve(b, kind);

	if (!p)
		return NULL;
	b->n_acks++;
	return nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, flags | NLM_F_ACK, b->seq_next);
}

static int batch_begin(struct nft_batch *b)
{
	char *p = reserve(b, NFT_K_NONE);

	if (!p)
		return -ENOMEM;
	return commit(b, nftnl_batch_begin(p, b->seq_next));
}

static int batch_end(struct nft_batch *b)
{
	char *p = reserve(b, NFT_K_NONE);

	if (!p)
		return -ENOMEM;
	return commit(b, nftnl_batch_end(p, b->seq_next));
}

static int put_table(struct nft_batch *b, uint16_t type, uint16_t flags, bool with_flags,
		     uint32_t table_flags, enum nft_kind kind)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;

	if (!t)
		return -ENOMEM;
	if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, b->table) < 0)
		goto out;
	if (with_flags)
		nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, table_flags);
	nlh = msg_begin(b, type, flags, kind);
	if (!nlh)
		goto out;
	nftnl_table_nlmsg_build_payload(nlh, t);
	ret = commit(b, nlh);
out:
	nftnl_table_free(t);
	return ret;
}

/* A base chain of type on hook at prio; with type NULL a regular chain (a jump's target). */
static int put_chain_as(struct nft_batch *b, const char *name, const char *type, uint32_t hook,
			int32_t prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;

	if (!c)
		return -ENOMEM;
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, b->table) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0 ||
	    (type && nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type) < 0))
		goto out;
	if (type) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	}
	nlh = msg_begin(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, NFT_K_CHAIN);
	if (!nlh)
		goto out;
	nftnl_chain_nlmsg_build_payload(nlh, c);
	ret = commit(b, nlh);
out:
	nftnl_chain_free(c);
	return ret;
}

static int put_chain(struct nft_batch *b, const char *name, uint32_t hook)
{
	return put_chain_as(b, name, "nat", hook, NFT_CHAIN_PRIORITY);
}

/* Delete every rule of a chain: a rule message naming the chain and no handle. */
static int put_chain_flush(struct nft_batch *b, const char *chain)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;

	if (!r)
		return -ENOMEM;
	if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, b->table) < 0 ||
	    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0)
		goto out;
	nlh = msg_begin(b, NFT_MSG_DELRULE, 0, NFT_K_FLUSH);
	if (!nlh)
		goto out;
	nftnl_rule_nlmsg_build_payload(nlh, r);
	ret = commit(b, nlh);
out:
	nftnl_rule_free(r);
	return ret;
}

static int put_set(struct nft_batch *b, const struct set_def *d)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;

	if (!s)
		return -ENOMEM;
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, b->table) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, d->name) < 0)
		goto out;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(s, NFTNL_SET_ID, d->id);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
			  d->family == AF_INET ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, (uint32_t)nft_addr_len(d->family));
	nlh = msg_begin(b, NFT_MSG_NEWSET, NLM_F_CREATE, NFT_K_SET);
	if (!nlh)
		goto out;
	nftnl_set_nlmsg_build_payload(nlh, s);
	ret = commit(b, nlh);
out:
	nftnl_set_free(s);
	return ret;
}

/*
 * Flush a set by naming it with no element list, which the kernel reads as
 * "every element". Built by hand: some libnftnl versions add an empty list
 * nest, which would delete nothing.
 */
static int put_flush(struct nft_batch *b, const struct set_def *d)
{
	struct nlmsghdr *nlh = msg_begin(b, NFT_MSG_DELSETELEM, 0, NFT_K_FLUSH);

	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, b->table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, d->name);
	return commit(b, nlh);
}

static int put_elem_chunk(struct nft_batch *b, const struct set_def *d, const struct nft_elem *e,
			  size_t n)
{
	size_t alen = nft_addr_len(d->family);
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	int ret = -ENOMEM;
	size_t i;

	if (!s)
		return -ENOMEM;
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, b->table) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, d->name) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		struct nftnl_set_elem *el = nftnl_set_elem_alloc();

		if (!el)
			goto out;
		if (nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, e[i].key, (uint32_t)alen) < 0) {
			nftnl_set_elem_free(el);
			goto out;
		}
		if (e[i].end)
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
		nftnl_set_elem_add(s, el);
	}
	nlh = msg_begin(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE, NFT_K_ELEMS);
	if (!nlh)
		goto out;
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	ret = commit(b, nlh);
out:
	nftnl_set_free(s);
	return ret;
}

/* The elements of one set, split into messages of NFT_ELEMS_PER_MSG; none when empty. */
static int put_elems(struct nft_batch *b, const struct set_def *d, const struct fw_spec *spec)
{
	const struct subnet *list = d->include ? spec->include : spec->exclude;
	size_t n = d->include ? spec->n_include : spec->n_exclude;
	struct nft_range *ranges = NULL;
	struct nft_elem *elems = NULL;
	size_t nr, ne, i;
	int ret = -ENOMEM;

	if (n == 0)
		return 0;
	ranges = calloc(n, sizeof(*ranges));
	elems = calloc(2 * n + 1, sizeof(*elems));
	if (!ranges || !elems)
		goto out;
	nr = nft_ranges_merge(d->family, list, n, ranges);
	ne = nft_ranges_elems(d->family, ranges, nr, elems);
	ret = 0;
	for (i = 0; i < ne && ret == 0; i += NFT_ELEMS_PER_MSG) {
		size_t chunk = ne - i < NFT_ELEMS_PER_MSG ? ne - i : NFT_ELEMS_PER_MSG;

		ret = put_elem_chunk(b, d, elems + i, chunk);
	}
out:
	free(ranges);
	free(elems);
	return ret;
}

/* Rules as built, each appended in order. Takes them over. */
static int put_built(struct nft_batch *b, struct nftnl_rule **rules, size_t n)
{
	size_t i;
	int ret = 0;

	for (i = 0; i < n && ret == 0; i++) {
		struct nlmsghdr *nlh =
		    msg_begin(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, NFT_K_RULE);

		if (!nlh) {
			ret = -ENOMEM;
			break;
		}
		nftnl_rule_nlmsg_build_payload(nlh, rules[i]);
		ret = commit(b, nlh);
	}
	nft_rules_free(rules, n);
	return ret;
}

static int put_rules(struct nft_batch *b, const struct fw_spec *spec, const char *chain)
{
	struct nftnl_rule **rules;
	size_t n;
	int ret = nft_rules_build(b->table, spec, chain, &rules, &n);

	return ret < 0 ? ret : put_built(b, rules, n);
}

static int put_capture_rules(struct nft_batch *b, const struct fw_spec *spec, const char *chain,
			     const char *tun, uint32_t mark)
{
	struct nftnl_rule **rules;
	size_t n;
	int ret = nft_capture_rules_build(b->table, spec, chain, tun, mark, &rules, &n);

	return ret < 0 ? ret : put_built(b, rules, n);
}

int nft_batch_install(struct nft_batch *b, const struct fw_spec *spec, uint32_t table_flags)
{
	size_t i;
	int ret;

	ret = nft_spec_check(spec, true);
	if (ret == 0)
		ret = batch_begin(b);
	/*
	 * Create-if-missing then delete, so the delete never fails with ENOENT
	 * and a stale table from a crashed run goes. No flags here: changing the
	 * owner flag of an existing table is refused.
	 */
	if (ret == 0)
		ret = put_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE, false, 0, NFT_K_TABLE);
	if (ret == 0)
		ret = put_table(b, NFT_MSG_DELTABLE, 0, false, 0, NFT_K_DELTABLE);
	if (ret == 0)
		ret = put_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, true, table_flags,
				table_flags ? NFT_K_TABLE_OWNED : NFT_K_TABLE);
	if (ret == 0)
		ret = put_chain(b, NFT_CHAIN_OUTPUT, NF_INET_LOCAL_OUT);
	if (ret == 0)
		ret = put_chain(b, NFT_CHAIN_PREROUTING, NF_INET_PRE_ROUTING);
	for (i = 0; i < sizeof(set_defs) / sizeof(set_defs[0]) && ret == 0; i++) {
		ret = put_set(b, &set_defs[i]);
		if (ret == 0)
			ret = put_elems(b, &set_defs[i], spec);
	}
	if (ret == 0)
		ret = put_rules(b, spec, NFT_CHAIN_OUTPUT);
	if (ret == 0 && spec->prerouting)
		ret = put_rules(b, spec, NFT_CHAIN_PREROUTING);
	if (ret == 0)
		ret = batch_end(b);
	return ret;
}

int nft_batch_update(struct nft_batch *b, const struct fw_spec *spec)
{
	size_t i;
	int ret;

	ret = nft_spec_check(spec, false);
	if (ret == 0)
		ret = batch_begin(b);
	for (i = 0; i < sizeof(set_defs) / sizeof(set_defs[0]) && ret == 0; i++) {
		ret = put_flush(b, &set_defs[i]);
		if (ret == 0)
			ret = put_elems(b, &set_defs[i], spec);
	}
	if (ret == 0)
		ret = batch_end(b);
	return ret;
}

int nft_batch_remove(struct nft_batch *b)
{
	int ret = batch_begin(b);

	if (ret == 0)
		ret = put_table(b, NFT_MSG_DELTABLE, 0, false, 0, NFT_K_DELTABLE);
	if (ret == 0)
		ret = batch_end(b);
	return ret;
}

int nft_batch_capture(struct nft_batch *b, const struct fw_spec *spec, const char *tun,
		      uint32_t mark)
{
	/* Jump targets first: a chain must exist before a rule names it. */
	static const struct {
		const char *name, *type;
		uint32_t hook;
		int32_t prio;
		bool router; /* router mode only */
	} chains[] = {
	    {NFT_CHAIN_MARK_DST, NULL, 0, 0, false},
	    {NFT_CHAIN_TUN_SRC, NULL, 0, 0, false},
	    {NFT_CHAIN_MARK_OUT, "route", NF_INET_LOCAL_OUT, NFT_CHAIN_MANGLE, false},
	    {NFT_CHAIN_MARK_PRE, "filter", NF_INET_PRE_ROUTING, NFT_CHAIN_MANGLE, true},
	    {NFT_CHAIN_TUN_IN, "filter", NF_INET_PRE_ROUTING, NFT_CHAIN_TUN_IN_PRIO, false},
	};
	size_t i, n = sizeof(chains) / sizeof(chains[0]);
	int ret = nft_spec_check(spec, true);

	if (ret == 0)
		ret = batch_begin(b);
	for (i = 0; i < n && ret == 0; i++)
		if (!chains[i].router || spec->prerouting)
			ret = put_chain_as(b, chains[i].name, chains[i].type, chains[i].hook,
					   chains[i].prio);
	/* Emptied before any is filled: a rebuild must not jump into old rules. */
	for (i = 0; i < n && ret == 0; i++)
		if (!chains[i].router || spec->prerouting)
			ret = put_chain_flush(b, chains[i].name);
	for (i = 0; i < n && ret == 0; i++)
		if (!chains[i].router || spec->prerouting)
			ret = put_capture_rules(b, spec, chains[i].name, tun, mark);
	if (ret == 0)
		ret = batch_end(b);
	return ret;
}
