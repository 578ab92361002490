/*
 * routes_internal: the rtnetlink plumbing behind routes.c, shared with the
 * helper's hostwatch (neighbour dumps), and the route filter in a form the
 * unit tests can feed with made-up routes. The static helper is built with
 * musl-gcc, which sees no <linux/...> headers, so the few pieces of the
 * netlink ABI used here are spelled out under their own names (rnl_*); the
 * unit tests compare them with the kernel's headers.
 */
#ifndef SLUICE_ROUTES_INTERNAL_H
#define SLUICE_ROUTES_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "subnet.h"

/* struct nlmsghdr */
struct rnl_hdr {
	uint32_t len;
	uint16_t type;
	uint16_t flags;
	uint32_t seq;
	uint32_t pid;
};

/* struct nlmsgerr */
struct rnl_err {
	int32_t error;
	struct rnl_hdr msg;
};

/* struct rtmsg */
struct rnl_rtmsg {
	uint8_t family;
	uint8_t dst_len;
	uint8_t src_len;
	uint8_t tos;
	uint8_t table;
	uint8_t protocol;
	uint8_t scope;
	uint8_t type;
	uint32_t flags;
};

/* struct ndmsg */
struct rnl_ndmsg {
	uint8_t family;
	uint8_t pad1;
	uint16_t pad2;
	int32_t ifindex;
	uint16_t state;
	uint8_t flags;
	uint8_t type;
};

/* struct rtattr */
struct rnl_attr {
	uint16_t len;
	uint16_t type;
};

/* struct rtnexthop, one hop inside RTA_MULTIPATH */
struct rnl_nexthop {
	uint16_t len;
	uint8_t flags;
	uint8_t hops;
	int32_t ifindex;
};

#define RNL_ALIGN(n) (((n) + 3u) & ~(size_t)3u)

#define RNL_NETLINK_ROUTE 0
#define RNL_NOOP	  1
#define RNL_ERROR	  2
#define RNL_DONE	  3
#define RNL_F_REQUEST	  0x01
#define RNL_F_DUMP_INTR	  0x10
#define RNL_F_DUMP	  0x300
#define RNL_ATTR_TYPE	  0x3fff /* without NLA_F_NESTED / NLA_F_NET_BYTEORDER */

#define RNL_NEWROUTE 24
#define RNL_GETROUTE 26
#define RNL_NEWNEIGH 28
#define RNL_GETNEIGH 30

#define RNL_TABLE_MAIN	254
#define RNL_UNICAST	1
#define RNL_SCOPE_LINK	253
#define RNL_RTM_CLONED	0x200
#define RNL_RTA_DST	1
#define RNL_RTA_GATEWAY 5
#define RNL_RTA_MULTI	9
#define RNL_RTA_TABLE	15
#define RNL_RTA_VIA	18
#define RNL_RTA_NH_ID	30

#define RNL_NDA_DST	   1
#define RNL_NUD_INCOMPLETE 0x01
#define RNL_NUD_FAILED	   0x20
#define RNL_NUD_NOARP	   0x40

/* One attribute's payload; p is NULL when the attribute was absent. */
struct rnl_val {
	const void *p;
	size_t len;
};

/*
 * Called for each message of a dump (not DONE/ERROR/NOOP), with the bytes
 * after the netlink header. A negative return stops the dump and is returned.
 */
typedef int (*routes_nl_cb)(const struct rnl_hdr *h, const void *body, size_t len, void *arg);

/*
 * Dump request of type (RNL_GETROUTE, RNL_GETNEIGH) for family on a fresh
 * NETLINK_ROUTE socket. Returns 0, -EAGAIN when the kernel flagged the dump
 * as interrupted by a change (every message was still delivered), or -errno.
 */
int routes_nl_dump(uint16_t type, uint8_t family, routes_nl_cb cb, void *arg);

/*
 * Index the attributes in buf by type into tb[0..n-1]; types >= n are
 * ignored, and malformed trailing bytes end the walk.
 */
void routes_nl_attrs(const void *buf, size_t len, struct rnl_val *tb, size_t n);

/* A route as the kernel described it, before filtering. */
struct routes_cand {
	int family;
	uint8_t addr[16];
	uint8_t prefix;
	uint8_t type;	 /* rtm_type */
	uint8_t scope;	 /* rtm_scope */
	uint32_t table;	 /* RTA_TABLE, else rtm_table */
	uint32_t flags;	 /* rtm_flags */
	uint8_t gateway; /* a gateway, via, nexthop object or multipath gateway */
};

/*
 * Add c to out[0..n-1] (sorted, no duplicates) when it passes the filter
 * (flags: ROUTES_CONNECTED). When out is full the largest entries give way,
 * so the result does not depend on dump order. Returns the new count.
 */
size_t routes_add(struct subnet *out, size_t n, size_t max, const struct routes_cand *c,
		  unsigned flags);

/*
 * One datagram of a route dump answering request seq, parsed as
 * routes_read parses what the kernel sends: the routes that pass go into
 * out (*n of them so far, updated). Returns 1 at the end of the dump, 0
 * for more, or -errno for a malformed datagram. For the fuzzer.
 */
int routes_parse(const void *buf, size_t len, uint32_t seq, struct subnet *out, size_t max,
		 unsigned flags, size_t *n);

#endif
