/*
 * nft_internal: what the firewall's files share with each other and with
 * the unit tests. Nothing outside firewall/ and tests/ includes this.
 *
 * nft_set.c   turns subnets into merged ranges and interval set elements;
 * nft_rule.c  builds the rules of one chain as libnftnl objects;
 * nft_batch.c lays out one netlink batch (install, update or remove) and
 *             remembers what each sequence number was;
 * fw.c        owns the socket, sends a batch and reads every ACK.
 */
#ifndef SLUICE_NFT_INTERNAL_H
#define SLUICE_NFT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw.h"

struct nftnl_rule;
struct fw;

#define NFT_CHAIN_OUTPUT     "output"
#define NFT_CHAIN_PREROUTING "prerouting"
#define NFT_CHAIN_PRIORITY   (-100) /* NF_IP_PRI_NAT_DST: where dnat/redirect belong */

/*
 * The datagram capture's chains (fw_capture_datagrams): mark_out (route,
 * output) and mark_pre (filter, prerouting; router mode only) send UDP and
 * echo requests to mark_dst, which marks those to the routed networks;
 * tun_in (filter, prerouting, just before) takes what comes out of the TUN
 * to tun_src, which marks what answers for the routed networks and drops
 * the rest.
 */
#define NFT_CHAIN_MARK_OUT    "mark_out"
#define NFT_CHAIN_MARK_PRE    "mark_pre"
#define NFT_CHAIN_MARK_DST    "mark_dst"
#define NFT_CHAIN_TUN_IN      "tun_in"
#define NFT_CHAIN_TUN_SRC     "tun_src"
#define NFT_CHAIN_MANGLE      (-150) /* NF_IP_PRI_MANGLE: marks before the routing decision */
#define NFT_CHAIN_TUN_IN_PRIO (NFT_CHAIN_MANGLE - 1) /* judged before anything marks it */

/* Set names and the ids that tie lookups to sets created in the same batch. */
#define NFT_SET_INC4 "inc4"
#define NFT_SET_INC6 "inc6"
#define NFT_SET_EXC4 "exc4"
#define NFT_SET_EXC6 "exc6"
enum { NFT_SETID_INC4 = 1, NFT_SETID_INC6, NFT_SETID_EXC4, NFT_SETID_EXC6 };

/* The DNS port captured for fw_spec.dns, and a bound on how many nameservers one spec names. */
#define NFT_DNS_PORT 53
#define NFT_DNS_MAX  64

/* nft's own datatype numbers, so that `nft list` prints addresses, not integers. */
#define NFT_TYPE_IPADDR	 7
#define NFT_TYPE_IP6ADDR 8

/* Elements per NEWSETELEM message: keeps each message well inside NFT_MSG_RESERVE. */
#define NFT_ELEMS_PER_MSG 256
/* Room reserved for any one message; every message we build is far smaller. */
#define NFT_MSG_RESERVE 16384

/* All-ports subnets go into the sets; port-specific ones become rules of their own. */
static inline bool nft_all_ports(const struct subnet *s)
{
	return subnet_all_ports(s) != 0;
}

/* Address length in bytes for AF_INET/AF_INET6, 0 for anything else. */
size_t nft_addr_len(int family);

/* True when s is a well-formed subnet we can put in a rule or set. */
bool nft_subnet_valid(const struct subnet *s);

/*
 * 0 when every subnet in spec is valid, every nameserver is a single address
 * (at most NFT_DNS_MAX of them) and, with need_port, the ports are set
 * (dns_port only when there are nameservers); else -EINVAL.
 */
int nft_spec_check(const struct fw_spec *spec, bool need_port);

/* ---- nft_set.c: pure, no libnftnl ---- */

/* An inclusive address range, network byte order; IPv4 uses the first 4 bytes. */
struct nft_range {
	uint8_t lo[16];
	uint8_t hi[16];
};

/* One interval set element as the kernel wants it. */
struct nft_elem {
	uint8_t key[16];
	bool end; /* NFT_SET_ELEM_INTERVAL_END */
};

/*
 * The all-ports subnets of one family in list, as sorted ranges with
 * overlapping and adjacent ones merged. out must hold n entries. Subnets of
 * the other family, port-specific ones and invalid ones are skipped (the
 * batch builder rejects invalid ones before this runs). Returns the count.
 */
size_t nft_ranges_merge(int family, const struct subnet *list, size_t n, struct nft_range *out);

/*
 * The elements nft itself would send for these ranges: an end marker at
 * zero when the first range does not start there, then per range a start
 * element and an end element at hi+1, left out when hi+1 would wrap past
 * the top of the address space. out must hold 2 * n + 1. Returns the count.
 */
size_t nft_ranges_elems(int family, const struct nft_range *r, size_t n, struct nft_elem *out);

/* ---- nft_rule.c ---- */

/*
 * The rules of one nat chain for spec, in order: on output the owner
 * returns; on prerouting the local destination return; per nameserver a
 * UDP and a TCP port-53 redirect; non-TCP return; on output the local
 * destination return; excludes (sets, then port-specific rules), includes
 * (sets, then port-specific rules). On output DNS comes before both
 * returns so that neither skips a local nameserver; on prerouting other
 * hosts' traffic to this machine is never captured, DNS included.
 * Excludes come before includes so they win. On success *out is a
 * malloc'd array of *n rules; free it with nft_rules_free. Returns 0 or
 * -errno.
 */
int nft_rules_build(const char *table, const struct fw_spec *spec, const char *chain,
		    struct nftnl_rule ***out, size_t *n);
void nft_rules_free(struct nftnl_rule **rules, size_t n);

/*
 * The rules of one of the capture's chains (NFT_CHAIN_MARK_OUT, _PRE,
 * _DST, NFT_CHAIN_TUN_IN, _SRC) for spec, the TUN device tun and mark.
 * The sets are the nat chains' own; port-specific subnets become UDP port
 * rules. -EINVAL for another chain or a bad name; else as nft_rules_build.
 */
int nft_capture_rules_build(const char *table, const struct fw_spec *spec, const char *chain,
			    const char *tun, uint32_t mark, struct nftnl_rule ***out, size_t *n);

/* ---- nft_batch.c ---- */

/* What a message in a batch did, so an error can be blamed on the right thing. */
enum nft_kind {
	NFT_K_NONE = 0, /* batch begin/end, or a sequence number not ours */
	NFT_K_TABLE,	/* create the table without flags (stale-table trick, or fallback) */
	NFT_K_TABLE_OWNED,
	NFT_K_DELTABLE,
	NFT_K_CHAIN,
	NFT_K_SET,
	NFT_K_ELEMS,
	NFT_K_FLUSH,
	NFT_K_RULE,
};

struct nft_batch {
	const char *table; /* the table every message names: FW_TABLE_NAME unless set after init */
	char *buf;
	size_t len, cap;
	uint32_t seq_first; /* sequence number of the batch-begin message */
	uint32_t seq_next;
	uint8_t *kinds; /* enum nft_kind by seq - seq_first */
	size_t n_kinds, cap_kinds;
	size_t n_acks; /* messages sent with NLM_F_ACK */
};

void nft_batch_init(struct nft_batch *b, uint32_t seq);
void nft_batch_free(struct nft_batch *b);

/*
 * Replace any table of ours and build it fresh: table (with table_flags,
 * e.g. NFT_TABLE_F_OWNER, or 0), chains, sets with elements, rules.
 */
int nft_batch_install(struct nft_batch *b, const struct fw_spec *spec, uint32_t table_flags);
/* Flush and refill the four sets. */
int nft_batch_update(struct nft_batch *b, const struct fw_spec *spec);
/* Delete the table. */
int nft_batch_remove(struct nft_batch *b);
/*
 * Create the capture's chains where missing, empty them, and fill them:
 * run again, it rebuilds them. The table and its sets must exist.
 */
int nft_batch_capture(struct nft_batch *b, const struct fw_spec *spec, const char *tun,
		      uint32_t mark);

enum nft_kind nft_batch_kind(const struct nft_batch *b, uint32_t seq);

/* ---- fw.c: a hook for the hand-run integration check ---- */

/*
 * The table flag fw_install asks for first (default NFT_TABLE_F_OWNER).
 * tests/unit/fwcheck.c sets an unknown bit to make the kernel refuse it and
 * so exercise the fallback.
 */
void fw_set_owner_flag(struct fw *fw, uint32_t flag);
/* True when the installed table is owned by fw's socket. */
bool fw_is_owned(const struct fw *fw);

#endif
