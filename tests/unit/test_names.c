/* Unit tests for the client's -N judgement, -H name intake, resolv.conf parsing and the new
 * options. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../../client/autohosts.h"
#include "../../client/autonets.h"
#include "../../client/opts.h"
#include "../../common/resolv.h"
#include "t.h"

static struct subnet sn(const char *s)
{
	struct subnet r;
	memset(&r, 0, sizeof(r));
	subnet_parse(s, &r, 1);
	return r;
}

static void test_autonets_judge(void)
{
	struct subnet local[2] = {sn("192.0.2.0/24"), sn("[2001:db8:1::]/64")};
	struct subnet expl[1] = {sn("198.51.100.0/24")};
	const struct subnet *why;
	struct subnet r;

	r = sn("0/0");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_SPECIAL);
	r = sn("169.254.0.0/16");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_SPECIAL);
	r = sn("127.0.0.0/8");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_SPECIAL);
	r = sn("224.0.0.0/4");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_SPECIAL);
	r = sn("[fe80::]/64");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_SPECIAL);
	r = sn("[ff02::]/16");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_SPECIAL);
	/* The client's own link, and anything overlapping it either way, stays local. */
	r = sn("192.0.2.0/24");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_ATTACHED);
	CHECK(why == &local[0]);
	r = sn("192.0.2.128/25");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_ATTACHED);
	r = sn("192.0.0.0/16");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_ATTACHED);
	r = sn("[2001:db8:1::]/48");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_ATTACHED);
	r = sn("198.51.100.0/24");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_DUP);
	r = sn("203.0.113.0/24");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_KEEP);
	r = sn("[2001:db8:2::]/64");
	CHECK_EQ_INT(autonets_judge(&r, local, 2, expl, 1, &why), AUTONETS_KEEP);
}

static void test_autohosts_intake(void)
{
	struct autohosts h;
	struct wire_host w;

	memset(&h, 0, sizeof(h));
	memset(&w, 0, sizeof(w));
	w.family = AF_INET;
	inet_pton(AF_INET, "198.51.100.2", w.addr);
	strcpy(w.name, "lanhost.corp.test");
	CHECK_EQ_INT(autohosts_add(&h, &w), 1);
	CHECK_EQ_INT(autohosts_add(&h, &w), 0);
	CHECK_STR(h.e[0].addr, "198.51.100.2");
	/* What a hostile helper might send never gets near the file. */
	strcpy(w.name, "evil name");
	CHECK_EQ_INT(autohosts_add(&h, &w), -EINVAL);
	strcpy(w.name, "x\n127.0.0.1 bank.example");
	CHECK_EQ_INT(autohosts_add(&h, &w), -EINVAL);
	strcpy(w.name, "ok.test");
	inet_pton(AF_INET, "127.0.0.1", w.addr);
	CHECK_EQ_INT(autohosts_add(&h, &w), -EINVAL);
	memset(w.addr, 0, sizeof(w.addr));
	CHECK_EQ_INT(autohosts_add(&h, &w), -EINVAL);
	w.family = AF_INET6;
	inet_pton(AF_INET6, "::1", w.addr);
	CHECK_EQ_INT(autohosts_add(&h, &w), -EINVAL);
	inet_pton(AF_INET6, "2001:db8:2::77", w.addr);
	CHECK_EQ_INT(autohosts_add(&h, &w), 1);
	CHECK_STR(h.e[1].addr, "2001:db8:2::77");
	CHECK_EQ_INT(h.n, 2);
	CHECK(h.dirty);
	CHECK_EQ_INT(autohosts_finish(&h), 0); /* never written: nothing to restore */
}

static void test_resolv_parse(void)
{
	struct sockaddr_storage ss[4];
	char a[64];
	size_t n = resolv_parse("# comment\n"
				"search corp.test\n"
				"nameserver 192.0.2.53\n"
				"  nameserver\t2001:db8::53 # trailing\n"
				"nameserver bogus\n"
				"nameserver fe80::1%eth0\n"
				"nameserverX 192.0.2.9\n"
				"options timeout:1",
				ss, 4);

	CHECK_EQ_INT(n, 2);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss[0])->sin_addr, a, sizeof(a));
	CHECK_STR(a, "192.0.2.53");
	CHECK_EQ_INT(ntohs(((struct sockaddr_in *)&ss[0])->sin_port), 53);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss[1])->sin6_addr, a, sizeof(a));
	CHECK_STR(a, "2001:db8::53");
	CHECK_EQ_INT(resolv_parse("nameserver 192.0.2.1\nnameserver 192.0.2.2\n", ss, 1), 1);
	CHECK_EQ_INT(resolv_parse("", ss, 4), 0);
}

static int parse(struct opts *o, char *err, int argc, ...)
{
	char *argv[16];
	va_list ap;

	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	argv[argc] = NULL;
	return opts_parse(o, argc, argv, stdout, err, 256);
}

static void test_name_options(void)
{
	struct opts o;
	char err[256];

	CHECK_EQ_INT(parse(&o, err, 9, "sluice", "-r", "h", "-N", "-H", "--dns", "--seed-hosts",
			   "a.test,b", "--to-ns=[2001:db8::53]:5353"),
		     0);
	CHECK(o.auto_nets && o.auto_hosts && o.dns && o.has_to_ns);
	CHECK_EQ_INT(o.n_seed_hosts, 2);
	CHECK_STR(o.seed_hosts[1], "b");
	CHECK_EQ_INT(o.to_ns.family, AF_INET6);
	CHECK_EQ_INT(o.to_ns.port_lo, 5353);
	opts_free(&o);
	CHECK_EQ_INT(
	    parse(&o, err, 6, "sluice", "-r", "h", "-N", "--ns-hosts", "192.0.2.53,[2001:db8::1]"),
	    0);
	CHECK_EQ_INT(o.n_ns_hosts, 2);
	CHECK_EQ_INT(o.ns_hosts[0].port_lo, 53);
	opts_free(&o);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "-N", "--to-ns", "resolver.test") < 0);
	CHECK(strstr(err, "resolver.test") != NULL);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "-N", "--ns-hosts", "192.0.2.0/24") < 0);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "-N", "--seed-hosts", "a b") < 0);
	CHECK(parse(&o, err, 6, "sluice", "-r", "h", "-N", "--to-ns", "192.0.2.1:0") < 0);
}

int main(void)
{
	RUN(test_autonets_judge);
	RUN(test_autohosts_intake);
	RUN(test_resolv_parse);
	RUN(test_name_options);
	T_EXIT();
}
