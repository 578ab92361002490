/*
 * rtnl: the policy routing that sends one tunnel's marked datagrams into
 * its TUN device, through rtnetlink (libmnl). It owns the `ip rule`
 * entries (IPv4 and IPv6) and the default routes of the tunnel's own
 * routing table, and the sweep of rules that killed tunnels left. The
 * routes go with the device; the rules must be deleted.
 *
 * One number is both the mark and the table (common/tunmark.h), so a
 * sweep can tell ours (the mark's top byte, our priority) and whose (the
 * pid).
 */
#ifndef SLUICE_RTNL_H
#define SLUICE_RTNL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/tunmark.h"

/*
 * Our rules' priority: after the local table's (0), so that replies to
 * this machine's own addresses stay local even when marked, and before the
 * main table's (32766), so that the mark wins over the ordinary routes.
 * Clear of the small numbers administrators and other tools (VPNs use
 * around 5000 and 32765) tend to pick, but any spot in between would do.
 */
#define ROUTE_RULE_PRIO 5200
/*
 * Just before it: what arrives from the tunnel's TUN is routed by the main
 * table. Replies written there are marked (so that even a strict rp_filter
 * finds their source behind the TUN), and without this rule the mark would
 * send those bound for another host (router mode) straight back into it.
 */
#define ROUTE_IIF_PRIO (ROUTE_RULE_PRIO - 1)

/* Room for any one message built here. */
#define RTNL_MSG_MAX 512

struct nlmsghdr;
struct rtnl;

/* The mark (and routing table) of the part with this pid. */
static inline uint32_t rtnl_mark(uint32_t pid)
{
	return tunmark_of(pid);
}

/*
 * The message for `ip rule add|del fwmark MARK/0xffffffff lookup MARK
 * priority ROUTE_RULE_PRIO` in family (AF_INET, AF_INET6): type
 * RTM_NEWRULE or RTM_DELRULE, flags besides NLM_F_REQUEST|NLM_F_ACK. buf
 * holds RTNL_MSG_MAX bytes.
 */
struct nlmsghdr *rtnl_rule_msg(void *buf, uint16_t type, uint16_t flags, int family, uint32_t mark,
			       uint32_t seq);

/*
 * The message for `ip rule add|del iif sluicePID lookup main priority
 * ROUTE_IIF_PRIO` (the pid is mark's), as rtnl_rule_msg's.
 */
struct nlmsghdr *rtnl_iif_rule_msg(void *buf, uint16_t type, uint16_t flags, int family,
				   uint32_t mark, uint32_t seq);

/* The message for `ip route replace default dev IFINDEX table TABLE` in family. */
struct nlmsghdr *rtnl_route_msg(void *buf, int family, int ifindex, uint32_t table, uint32_t seq);

/*
 * Whether a dumped rule is one of ours (any tunnel's): our priority, a
 * full-mask fwmark with our base, its own table. *mark gets its mark.
 */
bool rtnl_rule_ours(const struct nlmsghdr *nlh, uint32_t *mark);

/* A route netlink socket (close-on-exec). 0 or -errno. */
int rtnl_open(struct rtnl **out);
void rtnl_close(struct rtnl *r);

/*
 * Both families' rules for mark (the fwmark one and the TUN's iif one);
 * IPv6 is skipped where the kernel has none. 0 or -errno.
 */
int rtnl_rules_add(struct rtnl *r, uint32_t mark);
/* Delete both; rules already gone count as deleted. 0 or the first -errno. */
int rtnl_rules_del(struct rtnl *r, uint32_t mark);
/* Both families' default routes through ifindex in table. 0 or -errno. */
int rtnl_routes_add(struct rtnl *r, int ifindex, uint32_t table);

/*
 * Delete the rules of ours whose part is not alive (and is not self): what
 * a SIGKILL left. How many went, or -errno.
 */
int rtnl_sweep(struct rtnl *r, bool (*alive)(uint32_t pid), uint32_t self);

/*
 * Set the TUN ifindex up for the capture: src_valid_mark on, no IPv6
 * address of its own, then up; through rtnetlink, so nothing is written
 * under /proc/sys. 0 or -errno.
 */
int rtnl_tun_up(struct rtnl *r, int ifindex);

/*
 * Delete the device ifindex if it is still the one called name: the TUN
 * goes with the tunnel even if the descriptor's holder made it persistent
 * (TUNSETPERSIST needs no privilege). Gone already counts as deleted. 0 or -errno.
 */
int rtnl_link_del(struct rtnl *r, int ifindex, const char *name);

/*
 * Delete the devices named as ours (TUN_NAME_FMT) whose part is not alive
 * and is not self: what a persisting holder kept past a killed part. How
 * many went, or -errno.
 */
int rtnl_links_sweep(struct rtnl *r, bool (*alive)(uint32_t pid), uint32_t self);

#endif
