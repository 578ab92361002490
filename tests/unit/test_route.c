/*
 * test_route: the datagram capture's device and policy routing (route/).
 * The messages are checked field by field as the kernel will read them;
 * as root, a child in a network namespace of its own then creates the
 * device and the rules for real and reads them back from the kernel.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <linux/fib_rules.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "../../route/rtnl.h"
#include "../../route/tun.h"
#include "t.h"

/* The attribute of type in a message after its fixed header of hdrlen, or NULL. */
static const struct nlattr *attr(const struct nlmsghdr *nlh, size_t hdrlen, uint16_t type)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, hdrlen)
	{
		if (mnl_attr_get_type(a) == type)
			return a;
	}
	return NULL;
}

static uint32_t attr_u32(const struct nlmsghdr *nlh, size_t hdrlen, uint16_t type)
{
	const struct nlattr *a = attr(nlh, hdrlen, type);

	return a && mnl_attr_get_payload_len(a) == 4 ? mnl_attr_get_u32(a) : 0xdeadbeef;
}

static void test_mark_of_pid(void)
{
	CHECK_EQ_INT(rtnl_mark(4660), 0x51001234);
	CHECK_EQ_INT(rtnl_mark(4194304),
		     0x51400000); /* the largest pid Linux hands out, plus one */
	CHECK(tunmark_is_ours(rtnl_mark(0x12345678)));
	CHECK(!tunmark_is_ours(0x52000000u) && !tunmark_is_ours(0x00000051u));
}

static void test_rule_msg_fields(void)
{
	char buf[RTNL_MSG_MAX];
	const struct fib_rule_hdr *h;
	struct nlmsghdr *nlh =
	    rtnl_rule_msg(buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, AF_INET6, 0x51001234, 77);
	uint32_t mark = 0;

	CHECK_EQ_INT(nlh->nlmsg_type, RTM_NEWRULE);
	CHECK_EQ_INT(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	CHECK_EQ_INT(nlh->nlmsg_seq, 77);
	CHECK(nlh->nlmsg_len <= RTNL_MSG_MAX);
	h = mnl_nlmsg_get_payload(nlh);
	CHECK_EQ_INT(h->family, AF_INET6);
	CHECK_EQ_INT(h->action, FR_ACT_TO_TBL);
	CHECK_EQ_INT(h->table, RT_TABLE_UNSPEC);
	CHECK_EQ_INT(h->dst_len + h->src_len + h->tos + h->flags, 0);
	CHECK_EQ_INT(attr_u32(nlh, sizeof(*h), FRA_PRIORITY), ROUTE_RULE_PRIO);
	CHECK_EQ_INT(attr_u32(nlh, sizeof(*h), FRA_FWMARK), 0x51001234);
	CHECK_EQ_INT(attr_u32(nlh, sizeof(*h), FRA_FWMASK), 0xffffffffu);
	CHECK_EQ_INT(attr_u32(nlh, sizeof(*h), FRA_TABLE), 0x51001234);
	CHECK(attr(nlh, sizeof(*h), FRA_IIFNAME) == NULL);
	/* What a dump returns has the same shape: ours. */
	CHECK(rtnl_rule_ours(nlh, &mark));
	CHECK_EQ_INT(mark, 0x51001234);
}

/* Rules that only look like ours are left alone by a sweep. */
static void test_rule_ours_only(void)
{
	char buf[RTNL_MSG_MAX];
	struct nlmsghdr *nlh;
	struct nlattr *a;
	uint32_t mark;

	nlh = rtnl_rule_msg(buf, RTM_NEWRULE, 0, AF_INET, 0x52001234, 1);
	CHECK(!rtnl_rule_ours(nlh, &mark)); /* another top byte */
	nlh = rtnl_rule_msg(buf, RTM_NEWRULE, 0, AF_INET, 0x51001234, 1);
	mnl_attr_for_each(a, nlh, sizeof(struct fib_rule_hdr))
	{
		if (mnl_attr_get_type(a) == FRA_PRIORITY)
			*(uint32_t *)mnl_attr_get_payload(a) = ROUTE_RULE_PRIO + 1;
	}
	CHECK(!rtnl_rule_ours(nlh, &mark)); /* another priority */
	nlh = rtnl_rule_msg(buf, RTM_NEWRULE, 0, AF_INET, 0x51001234, 1);
	mnl_attr_for_each(a, nlh, sizeof(struct fib_rule_hdr))
	{
		if (mnl_attr_get_type(a) == FRA_TABLE)
			*(uint32_t *)mnl_attr_get_payload(a) = 254;
	}
	CHECK(!rtnl_rule_ours(nlh, &mark)); /* the main table */
	nlh = rtnl_rule_msg(buf, RTM_NEWRULE, 0, AF_INET, 0x51001234, 1);
	((struct fib_rule_hdr *)mnl_nlmsg_get_payload(nlh))->action = FR_ACT_BLACKHOLE;
	CHECK(!rtnl_rule_ours(nlh, &mark));
	nlh->nlmsg_len = sizeof(struct nlmsghdr) + 2; /* cut short */
	CHECK(!rtnl_rule_ours(nlh, &mark));
}

static void test_route_msg_fields(void)
{
	char buf[RTNL_MSG_MAX];
	struct nlmsghdr *nlh = rtnl_route_msg(buf, AF_INET, 9, 0x51001234, 5);
	const struct rtmsg *rt = mnl_nlmsg_get_payload(nlh);

	CHECK_EQ_INT(nlh->nlmsg_type, RTM_NEWROUTE);
	CHECK_EQ_INT(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
	CHECK_EQ_INT(rt->rtm_family, AF_INET);
	CHECK_EQ_INT(rt->rtm_dst_len, 0); /* default */
	CHECK_EQ_INT(rt->rtm_type, RTN_UNICAST);
	CHECK_EQ_INT(rt->rtm_scope, RT_SCOPE_LINK);
	CHECK_EQ_INT(attr_u32(nlh, sizeof(*rt), RTA_TABLE), 0x51001234);
	CHECK_EQ_INT(attr_u32(nlh, sizeof(*rt), RTA_OIF), 9);
	CHECK(attr(nlh, sizeof(*rt), RTA_GATEWAY) == NULL);
}

static bool none_alive(uint32_t pid)
{
	return false;
}

static bool all_alive(uint32_t pid)
{
	return true;
}

static int read_setting(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	int ok = f && fgets(buf, (int)len, f) != NULL;

	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

/* In its own network namespace: each failing step exits with its own number. */
static int kernel_child(void)
{
	char name[IFNAMSIZ], v[16];
	struct ifreq ifr;
	struct rtnl *r;
	int fd, ifindex, sock, n;

	if (unshare(CLONE_NEWNET) < 0)
		return 2;
	if (tun_create(4660, name, sizeof(name), &fd, &ifindex) < 0 || strcmp(name, "sluice4660"))
		return 10;
	if (tun_check(fd, name) < 0 || tun_check(fd, "sluice4661") != -EINVAL ||
	    tun_check(0, name) == 0)
		return 11;
	/* Its settings and up, over rtnetlink: nothing written under /proc/sys. */
	if (rtnl_open(&r) < 0)
		return 20;
	if (rtnl_tun_up(r, ifindex) < 0)
		return 17;
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(sock, SIOCGIFMTU, &ifr) < 0 || ifr.ifr_mtu != TUN_MTU)
		return 12;
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP))
		return 13;
	close(sock);
	if (read_setting("/proc/sys/net/ipv4/conf/sluice4660/src_valid_mark", v, sizeof(v)) < 0 ||
	    strcmp(v, "1\n"))
		return 14;
	if (read_setting("/proc/sys/net/ipv6/conf/sluice4660/addr_gen_mode", v, sizeof(v)) == 0 &&
	    strcmp(v, "1\n"))
		return 15;
	/* A second device of the same name is refused, not shared. */
	{
		char n2[IFNAMSIZ];
		int fd2, if2;

		if (tun_create(4660, n2, sizeof(n2), &fd2, &if2) == 0)
			return 16;
	}
	if (rtnl_routes_add(r, ifindex, rtnl_mark(4660)) < 0)
		return 21;
	if (rtnl_rules_add(r, rtnl_mark(4660)) < 0 || rtnl_rules_add(r, rtnl_mark(77)) < 0)
		return 22;
	/* Live parts' rules stay; self's stays whatever alive says. */
	if (rtnl_sweep(r, all_alive, 4660) != 0)
		return 23;
	n = rtnl_sweep(r, none_alive, 4660);
	/* A fwmark and an iif rule in each of v4 and v6, or in v4 alone without IPv6. */
	if (n != 4 && n != 2)
		return 24;
	if (rtnl_sweep(r, none_alive, 4660) != 0)
		return 25;
	/* Self's are still there: deleting them finds them, and a second delete finds none. */
	if (rtnl_sweep(r, none_alive, 1) != n)
		return 26;
	if (rtnl_rules_add(r, rtnl_mark(4660)) < 0 || rtnl_rules_del(r, rtnl_mark(4660)) < 0 ||
	    rtnl_rules_del(r, rtnl_mark(4660)) < 0 || rtnl_sweep(r, none_alive, 1) != 0)
		return 27;
	rtnl_close(r);
	close(fd);
	return 0;
}

static bool link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

/* A device the holder made persistent, then let go of: it outlives the descriptor. */
static int persisted(uint32_t id, int *ifindex)
{
	char name[IFNAMSIZ];
	int fd;

	if (tun_create(id, name, sizeof(name), &fd, ifindex) < 0)
		return -1;
	if (ioctl(fd, TUNSETPERSIST, 1) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return link_exists(name) ? 0 : -1;
}

/* The remove path and the sweep delete devices a holder persisted; each step its own number. */
static int persist_child(void)
{
	char name[IFNAMSIZ];
	struct rtnl *r;
	int fd, ifindex, if2, n;

	if (unshare(CLONE_NEWNET) < 0)
		return 2;
	if (persisted(4660, &ifindex) < 0)
		return 10;
	/* EXCL: the persisted name is not attached to, whoever asks. */
	if (tun_create(4660, name, sizeof(name), &fd, &if2) != -EBUSY)
		return 11;
	if (rtnl_open(&r) < 0)
		return 12;
	/* Another name at that index is not ours to delete. */
	if (rtnl_link_del(r, ifindex, "sluice4661") != 0 || !link_exists("sluice4660"))
		return 13;
	if (rtnl_link_del(r, ifindex, "sluice4660") != 0 || link_exists("sluice4660"))
		return 14;
	/* Gone already counts as deleted. */
	if (rtnl_link_del(r, ifindex, "sluice4660") != 0)
		return 15;
	/* The sweep: a dead part's device goes, a live part's and self's stay. */
	if (persisted(4660, &ifindex) < 0 || persisted(77, &if2) < 0)
		return 16;
	if (rtnl_links_sweep(r, all_alive, 1) != 0 || !link_exists("sluice77"))
		return 17;
	n = rtnl_links_sweep(r, none_alive, 4660);
	if (n != 1 || link_exists("sluice77") || !link_exists("sluice4660"))
		return 18;
	if (rtnl_links_sweep(r, none_alive, 1) != 1 || link_exists("sluice4660"))
		return 19;
	rtnl_close(r);
	return 0;
}

/* Names that only look like ours are not swept. */
static int lookalike_child(void)
{
	struct rtnl *r;
	struct ifreq ifr;
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		return 2;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "sluice077");
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
		return 10;
	if (rtnl_open(&r) < 0 || rtnl_links_sweep(r, none_alive, 1) != 0 ||
	    !link_exists("sluice077"))
		return 11;
	rtnl_close(r);
	close(fd);
	return 0;
}

static void in_child_netns(int (*child)(void))
{
	int status = -1;
	pid_t pid;

	if (geteuid() != 0) {
		printf("SKIP %s: needs root\n", t_cur);
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(child());
	CHECK(pid > 0);
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		printf("SKIP %s: no network namespaces here\n", t_cur);
	else
		CHECK_EQ_INT(WEXITSTATUS(status), 0);
}

static void test_persisted_device_deleted(void)
{
	in_child_netns(persist_child);
}

static void test_sweep_spares_lookalikes(void)
{
	in_child_netns(lookalike_child);
}

static void test_kernel_device_and_rules(void)
{
	in_child_netns(kernel_child);
}

int main(void)
{
	RUN(test_mark_of_pid);
	RUN(test_rule_msg_fields);
	RUN(test_rule_ours_only);
	RUN(test_route_msg_fields);
	RUN(test_kernel_device_and_rules);
	RUN(test_persisted_device_deleted);
	RUN(test_sweep_spares_lookalikes);
	T_EXIT();
}
