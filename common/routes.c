/*
 * routes: reading the main routing table over rtnetlink, and the rules for
 * which routes are worth sending through a tunnel. Owns the generic dump
 * loop too, which the helper's hostwatch reuses for neighbour tables. Only
 * libc: the static musl helper links this file.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "addrpolicy.h"
#include "routes.h"
#include "routes_internal.h"

#define DUMP_BUF       65536  /* the kernel fills dump messages up to 32 KiB */
#define DUMP_MAX_RECV  100000 /* datagrams per dump: ends a dump that never finishes */
#define DUMP_TIMEOUT_S 2
#define DUMP_TRIES     3 /* whole re-reads when routes changed mid-dump */

/* struct sockaddr_nl */
struct rnl_sockaddr {
	sa_family_t family;
	uint16_t pad;
	uint32_t pid;
	uint32_t groups;
};

struct collect {
	struct subnet *out;
	size_t n;
	size_t max;
	unsigned flags;
};

static int keep(const struct routes_cand *c, unsigned flags)
{
	unsigned bits;

	if (c->family == AF_INET)
		bits = 32;
	else if (c->family == AF_INET6)
		bits = 128;
	else
		return 0;
	if (c->prefix == 0 || c->prefix > bits)
		return 0;
	if (c->table != RNL_TABLE_MAIN || c->type != RNL_UNICAST || (c->flags & RNL_RTM_CLONED))
		return 0;
	/* Routes wholly inside a special range are local plumbing, never worth reporting. */
	if (addrpolicy_net(c->family, c->addr, c->prefix, false))
		return 0;
	if (flags & ROUTES_CONNECTED) {
		if (c->gateway)
			return 0;
		/* IPv6 routes all say "universe"; only IPv4 marks on-link ones by scope. */
		if (c->family == AF_INET && c->scope != RNL_SCOPE_LINK)
			return 0;
	}
	return 1;
}

static int subnet_cmp(const struct subnet *a, const struct subnet *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	r = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (r != 0)
		return r;
	return (int)a->prefix - (int)b->prefix;
}

size_t routes_add(struct subnet *out, size_t n, size_t max, const struct routes_cand *c,
		  unsigned flags)
{
	struct subnet s;
	size_t lo = 0, hi = n, i;

	if (n > max || !keep(c, flags))
		return n;
	memset(&s, 0, sizeof(s));
	s.family = c->family;
	s.prefix = c->prefix;
	s.port_lo = 0;
	s.port_hi = 65535;
	memcpy(s.addr, c->addr, c->family == AF_INET ? 4 : 16);
	for (i = 0; i < sizeof(s.addr); i++) {
		unsigned from = (unsigned)i * 8;
		if (from >= s.prefix)
			s.addr[i] = 0;
		else if (s.prefix - from < 8)
			s.addr[i] &= (uint8_t)(0xff00u >> (s.prefix - from));
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (subnet_cmp(&out[mid], &s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && subnet_cmp(&out[lo], &s) == 0)
		return n;
	if (lo >= max)
		return n;
	if (n == max)
		n--;
	memmove(&out[lo + 1], &out[lo], (n - lo) * sizeof(*out));
	out[lo] = s;
	return n + 1;
}

void routes_nl_attrs(const void *buf, size_t len, struct rnl_val *tb, size_t n)
{
	const uint8_t *p = buf;
	struct rnl_attr a;

	memset(tb, 0, n * sizeof(*tb));
	while (len >= sizeof(a)) {
		size_t step;
		unsigned t;

		memcpy(&a, p, sizeof(a));
		if (a.len < sizeof(a) || a.len > len)
			return;
		t = a.type & RNL_ATTR_TYPE;
		if (t < n) {
			tb[t].p = p + sizeof(a);
			tb[t].len = a.len - sizeof(a);
		}
		step = RNL_ALIGN(a.len);
		if (step >= len)
			return;
		p += step;
		len -= step;
	}
}

/* A multipath route counts as gatewayed when any of its hops has one. */
static int multipath_gateway(const uint8_t *p, size_t len)
{
	struct rnl_val tb[RNL_RTA_VIA + 1];
	struct rnl_nexthop nh;

	while (len >= sizeof(nh)) {
		size_t step;

		memcpy(&nh, p, sizeof(nh));
		if (nh.len < sizeof(nh) || nh.len > len)
			break;
		routes_nl_attrs(p + sizeof(nh), nh.len - sizeof(nh), tb, RNL_RTA_VIA + 1);
		if (tb[RNL_RTA_GATEWAY].p || tb[RNL_RTA_VIA].p)
			return 1;
		step = RNL_ALIGN(nh.len);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return 0;
}

static int route_cb(const struct rnl_hdr *h, const void *body, size_t len, void *arg)
{
	struct collect *col = arg;
	struct rnl_val tb[RNL_RTA_NH_ID + 1];
	struct routes_cand c;
	struct rnl_rtmsg rt;
	size_t alen;

	if (h->type != RNL_NEWROUTE || len < sizeof(rt))
		return 0;
	memcpy(&rt, body, sizeof(rt));
	if (rt.family == AF_INET)
		alen = 4;
	else if (rt.family == AF_INET6)
		alen = 16;
	else
		return 0;
	routes_nl_attrs((const uint8_t *)body + RNL_ALIGN(sizeof(rt)), len - RNL_ALIGN(sizeof(rt)),
			tb, RNL_RTA_NH_ID + 1);
	memset(&c, 0, sizeof(c));
	c.family = rt.family;
	c.prefix = rt.dst_len;
	c.type = rt.type;
	c.scope = rt.scope;
	c.flags = rt.flags;
	c.table = rt.table;
	if (tb[RNL_RTA_DST].p) {
		if (tb[RNL_RTA_DST].len != alen)
			return 0;
		memcpy(c.addr, tb[RNL_RTA_DST].p, alen);
	} else if (rt.dst_len != 0) {
		return 0;
	}
	/* rtm_table is 8 bits; tables above 255 only show in RTA_TABLE. */
	if (tb[RNL_RTA_TABLE].p && tb[RNL_RTA_TABLE].len >= 4)
		memcpy(&c.table, tb[RNL_RTA_TABLE].p, 4);
	/*
	 * A nexthop object hides whether there is a gateway; call it gatewayed so
	 * a network is never taken for directly attached when it might not be.
	 */
	c.gateway =
	    tb[RNL_RTA_GATEWAY].p || tb[RNL_RTA_VIA].p || tb[RNL_RTA_NH_ID].p ||
	    (tb[RNL_RTA_MULTI].p && multipath_gateway(tb[RNL_RTA_MULTI].p, tb[RNL_RTA_MULTI].len));
	col->n = routes_add(col->out, col->n, col->max, &c, col->flags);
	return 0;
}

/* Walk one datagram. Returns 1 at the end of the dump, 0 for more, or -errno. */
static int dump_walk(const uint8_t *p, size_t len, uint32_t seq, int *intr, routes_nl_cb cb,
		     void *arg)
{
	struct rnl_hdr h;
	int r;

	while (len >= sizeof(h)) {
		size_t step;

		memcpy(&h, p, sizeof(h));
		if (h.len < sizeof(h) || h.len > len)
			return -EBADMSG;
		if (h.seq == seq) {
			if (h.flags & RNL_F_DUMP_INTR)
				*intr = 1;
			if (h.type == RNL_DONE) {
				int32_t err = 0;
				if (h.len >= sizeof(h) + sizeof(err))
					memcpy(&err, p + sizeof(h), sizeof(err));
				return err < 0 ? err : 1;
			}
			if (h.type == RNL_ERROR) {
				struct rnl_err e;
				if (h.len < sizeof(h) + sizeof(e.error))
					return -EBADMSG;
				memcpy(&e.error, p + sizeof(h), sizeof(e.error));
				return e.error < 0 ? e.error : 1;
			}
			/* Types below 16 are netlink's own (NOOP, OVERRUN). */
			if (h.type >= 16) {
				r = cb((const struct rnl_hdr *)(const void *)p, p + sizeof(h),
				       h.len - sizeof(h), arg);
				if (r < 0)
					return r;
			}
		}
		step = RNL_ALIGN(h.len);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return 0;
}

int routes_parse(const void *buf, size_t len, uint32_t seq, struct subnet *out, size_t max,
		 unsigned flags, size_t *n)
{
	struct collect col = {out, *n, max, flags};
	int intr = 0, ret = dump_walk(buf, len, seq, &intr, route_cb, &col);

	*n = col.n;
	return ret;
}

int routes_nl_dump(uint16_t type, uint8_t family, routes_nl_cb cb, void *arg)
{
	static uint32_t dump_count;
	struct {
		struct rnl_hdr h;
		struct rnl_rtmsg body; /* struct ndmsg has the same size and leads with family */
	} req;
	struct rnl_sockaddr kernel;
	struct timeval tv = {DUMP_TIMEOUT_S, 0};
	uint8_t *buf = NULL;
	int fd, ret, intr = 0;
	uint32_t seq;
	long i;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, RNL_NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* The kernel never stalls a dump; the timeout only bounds the unforeseen. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	buf = malloc(DUMP_BUF);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	seq = ((uint32_t)getpid() << 12) ^ ++dump_count;
	memset(&req, 0, sizeof(req));
	req.h.len = sizeof(req);
	req.h.type = type;
	req.h.flags = RNL_F_REQUEST | RNL_F_DUMP;
	req.h.seq = seq;
	req.body.family = family;
	memset(&kernel, 0, sizeof(kernel));
	kernel.family = AF_NETLINK;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		ret = -errno;
		goto out;
	}
	for (i = 0; i < DUMP_MAX_RECV; i++) {
		struct rnl_sockaddr from;
		socklen_t fromlen = sizeof(from);
		ssize_t n;

		n = recvfrom(fd, buf, DUMP_BUF, MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
			goto out;
		}
		if ((size_t)n > DUMP_BUF) {
			ret = -EMSGSIZE;
			goto out;
		}
		/* Only the kernel (port 0) answers a dump. */
		if (fromlen < sizeof(from) || from.pid != 0)
			continue;
		ret = dump_walk(buf, (size_t)n, seq, &intr, cb, arg);
		if (ret < 0)
			goto out;
		if (ret == 1) {
			ret = intr ? -EAGAIN : 0;
			goto out;
		}
	}
	ret = -E2BIG;
out:
	free(buf);
	close(fd);
	return ret;
}

int routes_read(struct subnet *out, size_t max, unsigned flags)
{
	static const uint8_t families[] = {AF_INET, AF_INET6};
	struct collect col = {out, 0, max, flags};
	int tries, ret = 0;
	size_t i;

	for (tries = 0; tries < DUMP_TRIES; tries++) {
		int intr = 0;

		col.n = 0;
		for (i = 0; i < sizeof(families); i++) {
			ret = routes_nl_dump(RNL_GETROUTE, families[i], route_cb, &col);
			/* A kernel without IPv6 simply has no IPv6 routes. */
			if (ret == -EAFNOSUPPORT && families[i] == AF_INET6)
				ret = 0;
			if (ret == -EAGAIN)
				intr = 1;
			else if (ret < 0)
				return ret;
		}
		if (!intr)
			break;
	}
	/* Still changing after every retry: what was read is as good as any. */
	return (int)col.n;
}
