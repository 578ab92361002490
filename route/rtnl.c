/*
 * rtnl: policy routing rules and routes for the datagram capture, over
 * route netlink with libmnl (see rtnl.h).
 */
#include "rtnl.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <stdio.h>

#include "tun.h"

/* The kernel answers inside sendmsg(); this only guards against a wedged socket. */
#define RTNL_TIMEOUT_MS 5000

struct rtnl {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

/* Rules a dump found to be deleted: their marks, and which are iif rules. */
struct found {
	uint32_t *marks;
	bool *iif;
	size_t n, cap;
	int err;
};

/* A rule message's header, "to a table", with table_byte in the header and prio set. */
static struct nlmsghdr *rule_head(void *buf, uint16_t type, uint16_t flags, int family,
				  uint32_t seq, uint8_t table_byte, uint32_t prio)
{
	struct nlmsghdr *nlh;
	struct fib_rule_hdr *h;

	memset(buf, 0, RTNL_MSG_MAX);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = seq;
	h = mnl_nlmsg_put_extra_header(nlh, sizeof(*h));
	h->family = (uint8_t)family;
	h->action = FR_ACT_TO_TBL;
	h->table = table_byte;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, prio);
	return nlh;
}

struct nlmsghdr *rtnl_rule_msg(void *buf, uint16_t type, uint16_t flags, int family, uint32_t mark,
			       uint32_t seq)
{
	/* Tables past 255 only fit the attribute; the header's byte says "see there". */
	struct nlmsghdr *nlh =
	    rule_head(buf, type, flags, family, seq, RT_TABLE_UNSPEC, ROUTE_RULE_PRIO);

	mnl_attr_put_u32(nlh, FRA_FWMARK, mark);
	mnl_attr_put_u32(nlh, FRA_FWMASK, 0xffffffffu);
	mnl_attr_put_u32(nlh, FRA_TABLE, mark);
	return nlh;
}

struct nlmsghdr *rtnl_iif_rule_msg(void *buf, uint16_t type, uint16_t flags, int family,
				   uint32_t mark, uint32_t seq)
{
	struct nlmsghdr *nlh =
	    rule_head(buf, type, flags, family, seq, RT_TABLE_MAIN, ROUTE_IIF_PRIO);
	char name[IFNAMSIZ];

	snprintf(name, sizeof(name), TUN_NAME_FMT, mark & TUNMARK_PID);
	mnl_attr_put_strz(nlh, FRA_IFNAME, name);
	return nlh;
}

struct nlmsghdr *rtnl_route_msg(void *buf, int family, int ifindex, uint32_t table, uint32_t seq)
{
	struct nlmsghdr *nlh;
	struct rtmsg *rt;

	memset(buf, 0, RTNL_MSG_MAX);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWROUTE;
	/* Replace: a table of a recycled pid may still hold a route of a gone device. */
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
	nlh->nlmsg_seq = seq;
	rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
	rt->rtm_family = (uint8_t)family;
	rt->rtm_table = RT_TABLE_UNSPEC;
	rt->rtm_protocol = RTPROT_BOOT;
	/* A device route without a gateway: on link, as `ip route` makes it. */
	rt->rtm_scope = RT_SCOPE_LINK;
	rt->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return nlh;
}

static int rule_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, FRA_MAX) < 0)
		return MNL_CB_OK;
	if ((type == FRA_PRIORITY || type == FRA_FWMARK || type == FRA_FWMASK ||
	     type == FRA_TABLE) &&
	    mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	tb[type] = a;
	return MNL_CB_OK;
}

/* Whether a dumped rule is an iif rule of ours; *mark gets the mark of its TUN's pid. */
static bool iif_rule_ours(const struct nlmsghdr *nlh, uint32_t *mark)
{
	const struct nlattr *tb[FRA_MAX + 1] = {0};
	const struct fib_rule_hdr *h;
	const char *name;
	char *end;
	unsigned long pid;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*h)))
		return false;
	h = mnl_nlmsg_get_payload(nlh);
	if (h->action != FR_ACT_TO_TBL || h->table != RT_TABLE_MAIN ||
	    mnl_attr_parse(nlh, sizeof(*h), rule_attr_cb, tb) < 0)
		return false;
	if (!tb[FRA_PRIORITY] || mnl_attr_get_u32(tb[FRA_PRIORITY]) != ROUTE_IIF_PRIO ||
	    !tb[FRA_IFNAME] || tb[FRA_FWMARK] ||
	    mnl_attr_validate(tb[FRA_IFNAME], MNL_TYPE_NUL_STRING) < 0)
		return false;
	name = mnl_attr_get_str(tb[FRA_IFNAME]);
	if (strncmp(name, "sluice", 6) || name[6] < '1' || name[6] > '9')
		return false;
	pid = strtoul(name + 6, &end, 10);
	if (*end || pid > TUNMARK_PID)
		return false;
	*mark = rtnl_mark((uint32_t)pid);
	return true;
}

bool rtnl_rule_ours(const struct nlmsghdr *nlh, uint32_t *mark)
{
	const struct nlattr *tb[FRA_MAX + 1] = {0};
	const struct fib_rule_hdr *h;
	uint32_t m;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*h)))
		return false;
	h = mnl_nlmsg_get_payload(nlh);
	if (h->action != FR_ACT_TO_TBL || mnl_attr_parse(nlh, sizeof(*h), rule_attr_cb, tb) < 0)
		return false;
	if (!tb[FRA_PRIORITY] || !tb[FRA_FWMARK] || !tb[FRA_FWMASK] || !tb[FRA_TABLE] ||
	    mnl_attr_get_u32(tb[FRA_PRIORITY]) != ROUTE_RULE_PRIO ||
	    mnl_attr_get_u32(tb[FRA_FWMASK]) != 0xffffffffu)
		return false;
	m = mnl_attr_get_u32(tb[FRA_FWMARK]);
	if (!tunmark_is_ours(m) || mnl_attr_get_u32(tb[FRA_TABLE]) != m)
		return false;
	*mark = m;
	return true;
}

int rtnl_open(struct rtnl **out)
{
	struct rtnl *r = calloc(1, sizeof(*r));
	int ret;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!r->nl) {
		ret = -errno;
		free(r);
		return ret;
	}
	if (mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		mnl_socket_close(r->nl);
		free(r);
		return ret;
	}
	r->portid = mnl_socket_get_portid(r->nl);
	r->seq = (uint32_t)time(NULL);
	*out = r;
	return 0;
}

void rtnl_close(struct rtnl *r)
{
	if (!r)
		return;
	mnl_socket_close(r->nl);
	free(r);
}

/*
 * Send one request and read its answer to the end: its ACK, or a dump's
 * messages (each to cb) up to DONE. 0 or the kernel's -errno.
 */
static int talk(struct rtnl *r, const struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int fd = mnl_socket_get_fd(r->nl), ret;
	ssize_t n;

	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, RTNL_TIMEOUT_MS);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return -ETIMEDOUT;
		n = mnl_socket_recvfrom(r->nl, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, r->portid, cb, data);
		if (ret < 0)
			return errno ? -errno : -EPROTO;
		if (ret == MNL_CB_STOP)
			return 0;
	}
}

static int rule(struct rtnl *r, uint16_t type, uint16_t flags, int family, uint32_t mark)
{
	char buf[RTNL_MSG_MAX];

	return talk(r, rtnl_rule_msg(buf, type, flags, family, mark, ++r->seq), NULL, NULL);
}

static int iif_rule(struct rtnl *r, uint16_t type, uint16_t flags, int family, uint32_t mark)
{
	char buf[RTNL_MSG_MAX];

	return talk(r, rtnl_iif_rule_msg(buf, type, flags, family, mark, ++r->seq), NULL, NULL);
}

int rtnl_rules_del(struct rtnl *r, uint32_t mark)
{
	static const int fams[] = {AF_INET, AF_INET6};
	int ret = 0, rr, ri;
	size_t i;

	for (i = 0; i < 2; i++) {
		rr = rule(r, RTM_DELRULE, 0, fams[i], mark);
		if (rr < 0 && rr != -ENOENT && rr != -EAFNOSUPPORT && !ret)
			ret = rr;
		ri = iif_rule(r, RTM_DELRULE, 0, fams[i], mark);
		if (ri < 0 && ri != -ENOENT && ri != -EAFNOSUPPORT && !ret)
			ret = ri;
	}
	return ret;
}

int rtnl_rules_add(struct rtnl *r, uint32_t mark)
{
	static const int fams[] = {AF_INET, AF_INET6};
	int ret = 0;
	size_t i;

	/* The iif rule first: nothing is marked before its replies can get out. */
	for (i = 0; ret == 0 && i < 2; i++) {
		ret = iif_rule(r, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, fams[i], mark);
		/* One left by a killed part whose pid came round again is as good as new. */
		if (ret == -EEXIST || (i == 1 && ret == -EAFNOSUPPORT))
			ret = 0;
	}
	for (i = 0; ret == 0 && i < 2; i++) {
		ret = rule(r, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, fams[i], mark);
		if (ret == -EEXIST || (i == 1 && ret == -EAFNOSUPPORT))
			ret = 0;
	}
	if (ret < 0)
		rtnl_rules_del(r, mark);
	return ret;
}

int rtnl_routes_add(struct rtnl *r, int ifindex, uint32_t table)
{
	char buf[RTNL_MSG_MAX];
	int ret = talk(r, rtnl_route_msg(buf, AF_INET, ifindex, table, ++r->seq), NULL, NULL);

	if (ret == 0) {
		ret = talk(r, rtnl_route_msg(buf, AF_INET6, ifindex, table, ++r->seq), NULL, NULL);
		if (ret == -EAFNOSUPPORT)
			ret = 0;
	}
	return ret;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct found *f = data;
	uint32_t mark;
	bool iif = false;

	if (!rtnl_rule_ours(nlh, &mark) && !(iif = iif_rule_ours(nlh, &mark)))
		return MNL_CB_OK;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		uint32_t *m = realloc(f->marks, cap * sizeof(*m));
		bool *k = m ? realloc(f->iif, cap * sizeof(*k)) : NULL;

		if (m)
			f->marks = m;
		if (!m || !k) {
			f->err = -ENOMEM;
			return MNL_CB_OK; /* read the dump to its end all the same */
		}
		f->iif = k;
		f->cap = cap;
	}
	f->iif[f->n] = iif;
	f->marks[f->n++] = mark;
	return MNL_CB_OK;
}

/* One family's rules of parts that are gone; the dump is read whole before any delete. */
static int sweep_family(struct rtnl *r, int family, bool (*alive)(uint32_t), uint32_t self)
{
	char buf[RTNL_MSG_MAX];
	struct found f = {0};
	struct nlmsghdr *nlh;
	struct fib_rule_hdr *h;
	int ret, cnt = 0;
	size_t i;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETRULE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++r->seq;
	h = mnl_nlmsg_put_extra_header(nlh, sizeof(*h));
	h->family = (uint8_t)family;
	ret = talk(r, nlh, dump_cb, &f);
	if (ret == 0)
		ret = f.err;
	for (i = 0; ret == 0 && i < f.n; i++) {
		uint32_t pid = f.marks[i] & TUNMARK_PID;

		if (pid == (self & TUNMARK_PID) || alive(pid))
			continue;
		ret = f.iif[i] ? iif_rule(r, RTM_DELRULE, 0, family, f.marks[i])
			       : rule(r, RTM_DELRULE, 0, family, f.marks[i]);
		if (ret == -ENOENT) /* another part's sweep was quicker */
			ret = 0;
		else if (ret == 0)
			cnt++;
	}
	free(f.marks);
	free(f.iif);
	return ret < 0 ? ret : cnt;
}

int rtnl_sweep(struct rtnl *r, bool (*alive)(uint32_t pid), uint32_t self)
{
	int n4 = sweep_family(r, AF_INET, alive, self), n6;

	if (n4 < 0)
		return n4;
	n6 = sweep_family(r, AF_INET6, alive, self);
	if (n6 == -EAFNOSUPPORT)
		n6 = 0;
	return n6 < 0 ? n6 : n4 + n6;
}

/* ---- the TUN devices ---- */

/* A link a dump or a get found: its index, and its name if it is one of ours. */
struct link {
	int ifindex;
	char name[IFNAMSIZ];
};

struct links {
	struct link *v;
	size_t n, cap;
	int err;
};

/*
 * The part's pid if name is exactly what TUN_NAME_FMT makes of one, else
 * 0: "sluice012" or "sluice12x" are someone else's.
 */
static uint32_t tun_pid(const char *name)
{
	char again[32]; /* room for any unsigned, so no truncation to reason about */
	unsigned pid;
	int end = 0;

	if (sscanf(name, TUN_NAME_FMT "%n", &pid, &end) != 1 || name[end] != '\0' || pid == 0)
		return 0;
	snprintf(again, sizeof(again), TUN_NAME_FMT, pid);
	return strcmp(again, name) ? 0 : pid;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(a, IFLA_MAX) < 0)
		return MNL_CB_OK;
	if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return MNL_CB_OK;
	tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFLA_MAX + 1] = {0};
	struct links *l = data;
	const struct ifinfomsg *ifi;

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, tb) < 0 || !tb[IFLA_IFNAME] ||
	    strlen(mnl_attr_get_str(tb[IFLA_IFNAME])) >= IFNAMSIZ)
		return MNL_CB_OK;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct link *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->err = -ENOMEM;
			return MNL_CB_OK; /* read the answer to its end all the same */
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].ifindex = ifi->ifi_index;
	snprintf(l->v[l->n].name, IFNAMSIZ, "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	l->n++;
	return MNL_CB_OK;
}

/* A link message about ifindex (0: every link) in buf, RTNL_MSG_MAX bytes. */
static struct nlmsghdr *link_msg(struct rtnl *r, char *buf, uint16_t type, uint16_t flags,
				 int ifindex)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;

	memset(buf, 0, RTNL_MSG_MAX);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = ++r->seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nlh;
}

/* RTM_GETLINK of ifindex, or with 0 a dump of every link, into l. */
static int get_links(struct rtnl *r, int ifindex, struct links *l)
{
	char buf[RTNL_MSG_MAX];
	struct nlmsghdr *nlh;
	int ret;

	/* A get answers with the link and then, asked to, an ACK that ends the talk. */
	nlh = link_msg(r, buf, RTM_GETLINK, NLM_F_REQUEST | (ifindex ? NLM_F_ACK : NLM_F_DUMP),
		       ifindex);
	/* No statistics and VF lists: only the name is read. */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, 0);
	ret = talk(r, nlh, link_cb, l);
	return ret < 0 ? ret : l->err;
}

/*
 * The TUN's own settings, through rtnetlink rather than /proc/sys (which a
 * service's sandbox keeps read-only, and rightly: root may write anything
 * there): IPv4's src_valid_mark, so that the reverse-path check of replies
 * looks where their marked requests went; no IPv6 address of its own (the
 * kernel would otherwise make a link-local one and send solicitations into
 * the tunnel). Then up. The address mode must be set while the device is
 * down, and the kernel applies a message's flags before its AF_SPEC: three
 * messages. A kernel without IPv6 refuses that family (EAFNOSUPPORT):
 * there is nothing of it to quiet.
 */
int rtnl_tun_up(struct rtnl *r, int ifindex)
{
	char buf[RTNL_MSG_MAX];
	struct nlmsghdr *nlh;
	struct nlattr *spec, *fam, *conf;
	struct ifinfomsg *ifi;
	int ret;

	nlh = link_msg(r, buf, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, ifindex);
	spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	fam = mnl_attr_nest_start(nlh, AF_INET);
	conf = mnl_attr_nest_start(nlh, IFLA_INET_CONF);
	mnl_attr_put_u32(nlh, IPV4_DEVCONF_SRC_VMARK, 1);
	mnl_attr_nest_end(nlh, conf);
	mnl_attr_nest_end(nlh, fam);
	mnl_attr_nest_end(nlh, spec);
	ret = talk(r, nlh, NULL, NULL);
	if (ret < 0)
		return ret;

	nlh = link_msg(r, buf, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, ifindex);
	spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	fam = mnl_attr_nest_start(nlh, AF_INET6);
	mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
	mnl_attr_nest_end(nlh, fam);
	mnl_attr_nest_end(nlh, spec);
	ret = talk(r, nlh, NULL, NULL);
	if (ret < 0 && ret != -EAFNOSUPPORT)
		return ret;

	nlh = link_msg(r, buf, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, ifindex);
	ifi = mnl_nlmsg_get_payload(nlh);
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return talk(r, nlh, NULL, NULL);
}

static int del_link(struct rtnl *r, int ifindex)
{
	char buf[RTNL_MSG_MAX];
	int ret;

	ret =
	    talk(r, link_msg(r, buf, RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, ifindex), NULL, NULL);
	return ret == -ENODEV ? 0 : ret;
}

int rtnl_link_del(struct rtnl *r, int ifindex, const char *name)
{
	struct links l = {0};
	int ret;

	if (ifindex <= 0)
		return 0;
	ret = get_links(r, ifindex, &l);
	/*
	 * Only while the index still names our device: once it went with its
	 * last descriptor, the index may one day be another device's.
	 */
	if (ret == 0 && l.n == 1 && !strcmp(l.v[0].name, name))
		ret = del_link(r, ifindex);
	else if (ret == -ENODEV)
		ret = 0;
	free(l.v);
	return ret;
}

int rtnl_links_sweep(struct rtnl *r, bool (*alive)(uint32_t pid), uint32_t self)
{
	struct links l = {0};
	int ret, cnt = 0;
	size_t i;

	ret = get_links(r, 0, &l);
	for (i = 0; ret == 0 && i < l.n; i++) {
		uint32_t pid = tun_pid(l.v[i].name);

		if (!pid || pid == self || alive(pid))
			continue;
		ret = del_link(r, l.v[i].ifindex);
		if (ret == 0)
			cnt++;
	}
	free(l.v);
	return ret < 0 ? ret : cnt;
}
