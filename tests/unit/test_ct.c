/*
 * test_ct: which conntrack entries CT_FLUSH and REMOVE may delete. Never
 * an admin's own redirect of a local port, never forwarded traffic or
 * another user's socket for a confined caller; the socket table comes from
 * the kernel's sock_diag for real loopback connections.
 */
#include "t.h"

#include <stdlib.h>

#include "../../firewall/ct.h"

#define PORT 12300

static struct subnet inc[2], exc[1], dns[1];
static struct fw_spec spec;
/* This machine: 192.0.2.1 and 2001:db8:1::1 (loopback is always local). */
static struct ct_addr local[2];

static void setup(void)
{
	CHECK(subnet_parse("192.0.2.0/24", &inc[0], 1) == 1);
	CHECK(subnet_parse("2001:db8::/32", &inc[1], 1) == 1);
	CHECK(subnet_parse("192.0.2.7", &exc[0], 1) == 1);
	CHECK(subnet_parse("127.0.0.53", &dns[0], 1) == 1);
	spec = (struct fw_spec){.redirect_port = PORT,
				.include = inc,
				.n_include = 2,
				.exclude = exc,
				.n_exclude = 1,
				.dns = dns,
				.n_dns = 1};
	local[0].family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", local[0].addr);
	local[1].family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1::1", local[1].addr);
}

/* An entry src:sport -> dst:dport whose reply comes from to:to_port. */
static struct ct_entry entry(const char *src, uint16_t sport, const char *dst, uint16_t dport,
			     const char *to, uint16_t to_port)
{
	struct ct_entry e = {.sport = sport, .dport = dport, .to_port = to_port};

	e.family = strchr(src, ':') ? AF_INET6 : AF_INET;
	inet_pton(e.family, src, e.src);
	inet_pton(e.family, dst, e.dst);
	inet_pton(e.family, to, e.to);
	return e;
}

static struct ct_sock sock(const struct ct_entry *e, uid_t uid, bool owned)
{
	struct ct_sock k = {.family = e->family, .sport = e->sport, .dport = e->dport};

	memcpy(k.src, e->src, 16);
	memcpy(k.dst, e->dst, 16);
	k.uid = uid;
	k.owned = owned;
	return k;
}

static bool decide(const struct ct_entry *e, enum ct_which w, const struct ct_owner *o,
		   const struct ct_sock *k, size_t n)
{
	return ct_decide(e, &spec, w, o, local, 2, k, n);
}

static void test_redirects_by_target(void)
{
	/* Ours: to a routed network, redirected to our port on loopback. */
	struct ct_entry ours = entry("192.0.2.1", 40000, "192.0.2.9", 80, "127.0.0.1", PORT);
	/* Stale: an earlier tunnel's port. */
	struct ct_entry stale = entry("192.0.2.1", 40001, "192.0.2.9", 80, "127.0.0.1", 9);
	struct ct_entry plain = entry("192.0.2.1", 40002, "192.0.2.9", 80, "192.0.2.9", 80);
	/* A container's DNAT: points elsewhere. */
	struct ct_entry other = entry("192.0.2.1", 40003, "192.0.2.9", 80, "198.51.100.2", 8080);
	struct ct_entry excluded = entry("192.0.2.1", 40004, "192.0.2.7", 80, "127.0.0.1", 9);
	struct ct_entry outside = entry("192.0.2.1", 40005, "203.0.113.9", 80, "127.0.0.1", 9);
	struct ct_entry six = entry("2001:db8:1::1", 40006, "2001:db8:2::9", 443, "::1", PORT);

	CHECK(decide(&ours, CT_OURS, NULL, NULL, 0));
	CHECK(!decide(&ours, CT_STALE, NULL, NULL, 0));
	CHECK(decide(&stale, CT_STALE, NULL, NULL, 0));
	CHECK(!decide(&stale, CT_OURS, NULL, NULL, 0));
	CHECK(!decide(&plain, CT_STALE, NULL, NULL, 0));
	CHECK(!decide(&plain, CT_OURS, NULL, NULL, 0));
	CHECK(!decide(&other, CT_STALE, NULL, NULL, 0));
	CHECK(!decide(&excluded, CT_STALE, NULL, NULL, 0));
	CHECK(!decide(&outside, CT_STALE, NULL, NULL, 0));
	CHECK(decide(&six, CT_OURS, NULL, NULL, 0));
}

/*
 * The admin's `redirect to :8080` of this machine's own port 80, inside a
 * routed network: it points to this machine, not to our port, so it looked
 * stale; its destination is local, so it is not ours at all.
 */
static void test_admin_local_redirect_kept(void)
{
	struct ct_entry e = entry("198.51.100.5", 50000, "192.0.2.1", 80, "192.0.2.1", 8080);
	struct ct_entry lo = entry("127.0.0.1", 50001, "127.0.0.1", 80, "127.0.0.1", 8080);
	struct ct_entry six = entry("2001:db8:1::1", 50002, "2001:db8:1::1", 80, "::1", 8080);
	/* TCP DNS to a local nameserver is ours to redirect: --dns. */
	struct ct_entry dns_tcp = entry("127.0.0.1", 50003, "127.0.0.53", 53, "127.0.0.1", PORT);
	struct fw_spec all = spec;
	struct subnet any;

	CHECK(!decide(&e, CT_STALE, NULL, NULL, 0));
	CHECK(!decide(&e, CT_OURS, NULL, NULL, 0));
	CHECK(!decide(&six, CT_STALE, NULL, NULL, 0));
	/* Even when the routed networks take in everything. */
	CHECK(subnet_parse("0.0.0.0/0", &any, 1) == 1);
	all.include = &any;
	all.n_include = 1;
	CHECK(!ct_decide(&lo, &all, CT_STALE, NULL, local, 2, NULL, 0));
	CHECK(!ct_decide(&e, &all, CT_STALE, NULL, local, 2, NULL, 0));
	CHECK(ct_decide(&dns_tcp, &all, CT_OURS, NULL, local, 2, NULL, 0));
	/* The admin's redirect of local port 53 to a resolver that is not ours stays. */
	all.n_dns = 0;
	CHECK(!ct_decide(&dns_tcp, &all, CT_OURS, NULL, local, 2, NULL, 0));
}

static void test_confined_by_socket_owner(void)
{
	struct ct_owner me = {1000};
	struct ct_entry e = entry("192.0.2.1", 40000, "192.0.2.9", 80, "127.0.0.1", 9);
	struct ct_entry fwd = entry("198.51.100.5", 40000, "192.0.2.9", 80, "192.0.2.1", 9);
	struct ct_entry lo6 = entry("::1", 40010, "2001:db8:2::9", 80, "::1", PORT);
	struct ct_sock k[3];

	/* Unconfined: anyone's. */
	k[0] = sock(&e, 1001, true);
	CHECK(decide(&e, CT_STALE, NULL, k, 1));
	/* Another user's socket: kept. */
	CHECK(!decide(&e, CT_STALE, &me, k, 1));
	/* The caller's own socket. */
	k[0] = sock(&e, 1000, true);
	CHECK(decide(&e, CT_STALE, &me, k, 1));
	/*
	 * No socket, or only TIME_WAIT (no owner): not provably the caller's
	 * (another user's flow whose socket came after the list), so kept.
	 */
	CHECK(!decide(&e, CT_STALE, &me, NULL, 0));
	k[0] = sock(&e, 0, false);
	CHECK(!decide(&e, CT_STALE, &me, k, 1));
	/* A socket of the same ports elsewhere is not this flow's; the caller's own is. */
	k[0] = sock(&e, 1000, true);
	k[0].dport = 81;
	k[1] = sock(&e, 1000, true);
	k[1].dst[3] = 10;
	k[2] = sock(&e, 1000, true);
	k[2].family = AF_INET6;
	CHECK(!decide(&e, CT_STALE, &me, k, 3));
	k[2] = sock(&e, 1000, true);
	CHECK(decide(&e, CT_STALE, &me, k, 3));
	/* Root's socket is not the user's either. */
	k[0] = sock(&e, 0, true);
	CHECK(!decide(&e, CT_STALE, &me, k, 1));
	/* Forwarded: no local socket could be the user's; unconfined it goes. */
	CHECK(!decide(&fwd, CT_STALE, &me, NULL, 0));
	CHECK(decide(&fwd, CT_STALE, NULL, NULL, 0));
	/* The same for our own port at REMOVE, and for IPv6. */
	k[0] = sock(&lo6, 1001, true);
	CHECK(!decide(&lo6, CT_OURS, &me, k, 1));
	k[0].uid = 1000;
	CHECK(decide(&lo6, CT_OURS, &me, k, 1));
}

/* The kernel's table holds a real loopback connection, with our uid, both ways. */
/*
 * A stale entry's listener is gone. One still listening where the NAT
 * points is another tunnel's (--user alice beside --user bob): its entries
 * stay, whatever the caller; a connection's own port there is no listener.
 */
static void test_live_listener_not_stale(void)
{
	struct ct_entry stale = entry("192.0.2.1", 40001, "192.0.2.9", 80, "127.0.0.1", 9);
	struct ct_entry stale6 = entry("2001:db8:1::1", 40002, "2001:db8:2::9", 80, "::1", 9);
	struct ct_sock k = {.family = AF_INET, .sport = 9, .listen = true, .owned = true};

	inet_pton(AF_INET, "127.0.0.1", k.src);
	CHECK(!decide(&stale, CT_STALE, NULL, &k, 1));
	/* An IPv4 listener is no IPv6 one. */
	CHECK(decide(&stale6, CT_STALE, NULL, &k, 1));
	/* Any address of the family; [::] takes IPv4 too. */
	memset(k.src, 0, sizeof(k.src));
	CHECK(!decide(&stale, CT_STALE, NULL, &k, 1));
	k.family = AF_INET6;
	CHECK(!decide(&stale, CT_STALE, NULL, &k, 1));
	CHECK(!decide(&stale6, CT_STALE, NULL, &k, 1));
	/* Another port, or no listener at that port: stale. */
	k.sport = 10;
	CHECK(decide(&stale, CT_STALE, NULL, &k, 1));
	k.sport = 9;
	k.listen = false;
	CHECK(decide(&stale, CT_STALE, NULL, &k, 1));
}

static void test_socks_read_real(void)
{
	struct t_pair p = t_tcp_pair();
	struct sockaddr_in a, b;
	socklen_t la = sizeof(a), lb = sizeof(b);
	struct ct_sock *tab = NULL;
	struct ct_entry e;
	struct ct_owner me, other;
	size_t n = 0, i, hits = 0;

	CHECK(p.a >= 0 && p.b >= 0);
	CHECK(getsockname(p.a, (struct sockaddr *)&a, &la) == 0);
	CHECK(getpeername(p.a, (struct sockaddr *)&b, &lb) == 0);
	CHECK(ct_socks_read(&tab, &n) == 0);
	CHECK(n >= 2);
	for (i = 0; i < n; i++)
		if (tab[i].family == AF_INET && tab[i].sport == ntohs(a.sin_port) &&
		    tab[i].dport == ntohs(b.sin_port) && !memcmp(tab[i].src, &a.sin_addr, 4) &&
		    !memcmp(tab[i].dst, &b.sin_addr, 4)) {
			CHECK(tab[i].owned);
			CHECK_EQ_INT(tab[i].uid, geteuid());
			hits++;
		}
	CHECK_EQ_INT(hits, 1);
	/* A listener shows as one, at its address and port. */
	{
		struct sockaddr_in la4 = {.sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t ll = sizeof(la4);
		struct ct_sock *t2 = NULL;
		size_t n2 = 0, seen = 0;
		int l = socket(AF_INET, SOCK_STREAM, 0);

		CHECK(l >= 0 && bind(l, (struct sockaddr *)&la4, sizeof(la4)) == 0 &&
		      listen(l, 1) == 0 && getsockname(l, (struct sockaddr *)&la4, &ll) == 0);
		CHECK(ct_socks_read(&t2, &n2) == 0);
		for (i = 0; i < n2; i++)
			if (t2[i].family == AF_INET && t2[i].sport == ntohs(la4.sin_port) &&
			    !memcmp(t2[i].src, &la4.sin_addr, 4))
				seen += t2[i].listen;
		CHECK_EQ_INT(seen, 1);
		free(t2);
		close(l);
	}
	/*
	 * Its flow's entry, had it gone to a routed address (a loopback
	 * destination is local, never ours): the socket's owner may delete
	 * it, no one else. The table is the kernel's, the destination moved.
	 */
	e = entry("127.0.0.1", ntohs(a.sin_port), "192.0.2.9", ntohs(b.sin_port), "127.0.0.1", 9);
	for (i = 0; i < n; i++)
		if (tab[i].family == AF_INET && tab[i].sport == e.sport &&
		    tab[i].dport == e.dport && !memcmp(tab[i].src, e.src, 4))
			memcpy(tab[i].dst, e.dst, 4);
	me.uid = geteuid();
	other.uid = geteuid() + 1;
	CHECK(ct_decide(&e, &spec, CT_STALE, &me, local, 2, tab, n));
	CHECK(!ct_decide(&e, &spec, CT_STALE, &other, local, 2, tab, n));
	free(tab);
	close(p.a);
	close(p.b);
}

int main(void)
{
	setup();
	RUN(test_redirects_by_target);
	RUN(test_admin_local_redirect_kept);
	RUN(test_confined_by_socket_owner);
	RUN(test_live_listener_not_stale);
	RUN(test_socks_read_real);
	T_EXIT();
}
