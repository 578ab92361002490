/*
 * ct: find and delete conntrack entries by where their NAT points (see
 * ct.h). A dump collects the entries first; deleting from inside the dump
 * would race the dump's own reads on the same socket. Conntrack knows no
 * user: for a confined caller, sock_diag says whose socket a flow is.
 */
#include "ct.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

struct ct_scan {
	const struct fw_spec *spec;
	enum ct_which which;
	const struct ct_owner *owner;
	struct ct_addr local[CT_LOCAL_MAX];
	size_t n_local;
	struct ct_sock *socks;
	size_t n_socks;
	struct nf_conntrack **found;
	size_t n;
};

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static bool in_list(const struct subnet *l, size_t n, int family, const uint8_t *addr,
		    uint16_t port)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (subnet_contains(&l[i], family, addr) && port >= l[i].port_lo &&
		    port <= l[i].port_hi)
			return true;
	return false;
}

/* This machine itself: loopback, or one of its addresses. */
static bool is_local(const struct ct_addr *local, size_t n, int family, const uint8_t *a)
{
	static const uint8_t lo6[16] = {[15] = 1};
	size_t i;

	if ((family == AF_INET && a[0] == 127) || (family == AF_INET6 && !memcmp(a, lo6, 16)))
		return true;
	for (i = 0; i < n; i++)
		if (local[i].family == family && !memcmp(local[i].addr, a, addr_len(family)))
			return true;
	return false;
}

static bool is_dns(const struct fw_spec *spec, int family, const uint8_t *a)
{
	size_t i;

	for (i = 0; i < spec->n_dns; i++)
		if (subnet_contains(&spec->dns[i], family, a))
			return true;
	return false;
}

/* Something listens where e's NAT points: on its address, or on any of the family's. */
static bool listened(const struct ct_entry *e, const struct ct_sock *socks, size_t n)
{
	static const uint8_t any[16];
	size_t i, len = addr_len(e->family);

	for (i = 0; i < n; i++) {
		const struct ct_sock *k = &socks[i];

		if (!k->listen || k->sport != e->to_port)
			continue;
		if (k->family == e->family &&
		    (!memcmp(k->src, e->to, len) || !memcmp(k->src, any, len)))
			return true;
		/* [::]:port takes IPv4 too, unless it is v6-only, which sock_diag does not say. */
		if (k->family == AF_INET6 && e->family == AF_INET && !memcmp(k->src, any, 16))
			return true;
	}
	return false;
}

bool ct_decide(const struct ct_entry *e, const struct fw_spec *spec, enum ct_which which,
	       const struct ct_owner *owner, const struct ct_addr *local, size_t n_local,
	       const struct ct_sock *socks, size_t n_socks)
{
	size_t i, len = addr_len(e->family);
	bool mine = false;

	if (e->family != AF_INET && e->family != AF_INET6)
		return false;
	/*
	 * A redirect shows in the reply direction: the answer comes from a
	 * listener, not from where the flow was going. An entry that is not
	 * redirected is left alone, whatever its status bits say.
	 */
	if (e->to_port == e->dport && !memcmp(e->to, e->dst, len))
		return false;
	/* Someone else's DNAT (containers, port forwards) goes elsewhere: not ours to judge. */
	if (!is_local(local, n_local, e->family, e->to))
		return false;
	/*
	 * Our rules capture no traffic to this machine but DNS to a listed
	 * nameserver (127.0.0.53): any other is the admin's own redirect.
	 */
	if (is_local(local, n_local, e->family, e->dst) &&
	    !(e->dport == 53 && is_dns(spec, e->family, e->dst)))
		return false;
	if ((e->to_port == spec->redirect_port) != (which == CT_OURS) ||
	    !in_list(spec->include, spec->n_include, e->family, e->dst, e->dport) ||
	    in_list(spec->exclude, spec->n_exclude, e->family, e->dst, e->dport))
		return false;
	/*
	 * A live listener there: another tunnel's, whose owner our own rules
	 * do not meet (--user alice beside --user bob), or what someone's
	 * redirect meant. Deleting its entries would reset its connections.
	 */
	if (which == CT_STALE && listened(e, socks, n_socks))
		return false;
	if (!owner)
		return true;
	/* Forwarded traffic has no local owner, and a confined caller routes none. */
	if (!is_local(local, n_local, e->family, e->src))
		return false;
	for (i = 0; i < n_socks; i++) {
		const struct ct_sock *k = &socks[i];

		if (k->family != e->family || k->sport != e->sport || k->dport != e->dport ||
		    memcmp(k->src, e->src, len) || memcmp(k->dst, e->dst, len) || !k->owned)
			continue;
		if (k->uid == owner->uid)
			mine = true;
	}
	/*
	 * Only a flow the caller's own socket holds now. "No socket" cannot be
	 * told from "a socket made after the list was read", which another
	 * user's new flow would be: such entries are left to time out.
	 */
	return mine;
}

static void read_local(struct ct_scan *s)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i && s->n_local < CT_LOCAL_MAX; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			s->local[s->n_local].family = AF_INET;
			memcpy(s->local[s->n_local++].addr,
			       &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			s->local[s->n_local].family = AF_INET6;
			memcpy(s->local[s->n_local++].addr,
			       &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, 16);
		}
	}
	freeifaddrs(ifa);
}

/* One sock_diag answer into the table; v4-mapped IPv6 sockets count as IPv4. */
static int sock_add(struct ct_sock **tab, size_t *n, size_t *cap, const struct inet_diag_msg *m)
{
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
	struct ct_sock *k, *grown;

	if (*n == *cap) {
		if (*cap >= CT_SOCK_MAX)
			return -E2BIG;
		grown = realloc(*tab, (*cap ? *cap * 2 : 256) * sizeof(**tab));
		if (!grown)
			return -ENOMEM;
		*tab = grown;
		*cap = *cap ? *cap * 2 : 256;
	}
	k = &(*tab)[*n];
	memset(k, 0, sizeof(*k));
	k->family = m->idiag_family;
	if (k->family == AF_INET6 && !memcmp(m->id.idiag_src, mapped, 12) &&
	    !memcmp(m->id.idiag_dst, mapped, 12)) {
		k->family = AF_INET;
		memcpy(k->src, (const uint8_t *)m->id.idiag_src + 12, 4);
		memcpy(k->dst, (const uint8_t *)m->id.idiag_dst + 12, 4);
	} else {
		memcpy(k->src, m->id.idiag_src, addr_len(k->family));
		memcpy(k->dst, m->id.idiag_dst, addr_len(k->family));
	}
	k->sport = ntohs(m->id.idiag_sport);
	k->dport = ntohs(m->id.idiag_dport);
	k->uid = m->idiag_uid;
	/* TIME_WAIT (6) and NEW_SYN_RECV (12) are no full sockets: their uid is 0 for anyone's. */
	k->owned = m->idiag_state != 6 && m->idiag_state != 12;
	k->listen = m->idiag_state == 10;
	(*n)++;
	return 0;
}

static int socks_dump(int fd, uint8_t family, struct ct_sock **tab, size_t *n, size_t *cap)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req = {
	    .nh = {.nlmsg_len = sizeof(req),
		   .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		   .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
	    .r = {.sdiag_family = family, .sdiag_protocol = IPPROTO_TCP, .idiag_states = ~0u},
	};
	static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *h;
	ssize_t len;
	int ret;

	if (send(fd, &req, sizeof(req), 0) < 0)
		return -errno;
	for (;;) {
		len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0)
			return -errno;
		if (len == 0)
			return -EPROTO;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EPROTO;
				return e->error ? e->error : -EPROTO;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				continue;
			if ((ret = sock_add(tab, n, cap, NLMSG_DATA(h))) < 0)
				return ret;
		}
	}
}

int ct_socks_read(struct ct_sock **out, size_t *n)
{
	struct ct_sock *tab = NULL;
	size_t cap = 0;
	int fd, ret;

	*out = NULL;
	*n = 0;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	ret = socks_dump(fd, AF_INET, &tab, n, &cap);
	if (ret == 0)
		ret = socks_dump(fd, AF_INET6, &tab, n, &cap);
	close(fd);
	if (ret < 0) {
		free(tab);
		*n = 0;
		return ret;
	}
	*out = tab;
	return 0;
}

static int on_entry(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *arg)
{
	struct ct_scan *s = arg;
	struct ct_entry e = {.family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO)};

	if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_TCP)
		return NFCT_CB_CONTINUE;
	if (e.family == AF_INET) {
		memcpy(e.src, nfct_get_attr(ct, ATTR_ORIG_IPV4_SRC), 4);
		memcpy(e.dst, nfct_get_attr(ct, ATTR_ORIG_IPV4_DST), 4);
		memcpy(e.to, nfct_get_attr(ct, ATTR_REPL_IPV4_SRC), 4);
	} else if (e.family == AF_INET6) {
		memcpy(e.src, nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC), 16);
		memcpy(e.dst, nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), 16);
		memcpy(e.to, nfct_get_attr(ct, ATTR_REPL_IPV6_SRC), 16);
	} else {
		return NFCT_CB_CONTINUE;
	}
	e.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
	e.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
	e.to_port = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
	if (!ct_decide(&e, s->spec, s->which, s->owner, s->local, s->n_local, s->socks, s->n_socks))
		return NFCT_CB_CONTINUE;
	if (s->n == CT_MAX)
		return NFCT_CB_CONTINUE;
	s->found[s->n++] = ct;
	return NFCT_CB_STOLEN;
}

int ct_flush(const struct fw_spec *spec, enum ct_which which, const struct ct_owner *owner,
	     size_t *deleted)
{
	struct ct_scan *s;
	struct nfct_handle *h;
	uint32_t families[2] = {AF_INET, AF_INET6};
	size_t i;
	int ret = 0;

	*deleted = 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->spec = spec;
	s->which = which;
	s->owner = owner;
	read_local(s);
	/*
	 * With an owner only entries its own sockets hold go, whatever opens
	 * meanwhile; a stale entry's listener must be gone. Without the
	 * sockets neither can be told: nothing goes.
	 */
	if ((owner || which == CT_STALE) && (ret = ct_socks_read(&s->socks, &s->n_socks)) < 0)
		goto out;
	s->found = calloc(CT_MAX, sizeof(*s->found));
	if (!s->found) {
		ret = -ENOMEM;
		goto out;
	}
	h = nfct_open(CONNTRACK, 0);
	if (!h) {
		/* Never a silent success: errno is not promised here. */
		ret = errno ? -errno : -EIO;
		goto out;
	}
	nfct_callback_register(h, NFCT_T_ALL, on_entry, s);
	for (i = 0; i < 2 && ret == 0; i++)
		if (nfct_query(h, NFCT_Q_DUMP, &families[i]) < 0)
			ret = -errno;
	nfct_callback_unregister(h);
	for (i = 0; i < s->n; i++) {
		/* Gone already (it closed meanwhile) is as good as deleted. */
		if (nfct_query(h, NFCT_Q_DESTROY, s->found[i]) == 0 || errno == ENOENT)
			(*deleted)++;
		else if (!ret)
			ret = -errno;
	}
	nfct_close(h);
out:
	for (i = 0; i < s->n; i++)
		nfct_destroy(s->found[i]);
	free(s->found);
	free(s->socks);
	free(s);
	return ret;
}
