/*
 * test_instances: the tunnels' records (client/priv/instances.c): the text
 * form both ways, what counts as two tunnels capturing the same traffic,
 * and the check against a directory of records, with a live stand-in for
 * a privileged part (this program again, as `--privileged`) and a dead one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../client/priv/instances.h"
#include "t.h"

static struct subnet net(const char *a, int prefix, int lo, int hi)
{
	struct subnet s = {0};

	s.family = strchr(a, ':') ? AF_INET6 : AF_INET;
	inet_pton(s.family, a, s.addr);
	s.prefix = (uint8_t)prefix;
	s.port_lo = (uint16_t)lo;
	s.port_hi = (uint16_t)hi;
	return s;
}

static struct fw_spec spec_of(struct subnet *inc, size_t ni, struct subnet *exc, size_t nx)
{
	return (struct fw_spec){.redirect_port = 12300,
				.include = inc,
				.n_include = ni,
				.exclude = exc,
				.n_exclude = nx};
}

static void test_roundtrip(void)
{
	struct subnet l[4] = {net("198.51.100.0", 24, 0, 65535), net("2001:db8:2::", 48, 443, 443),
			      net("198.51.100.128", 25, 22, 22), net("192.0.2.53", 32, 0, 65535)};
	struct instance in = {.part = 4711,
			      .pid = 4700,
			      .uid = 1000,
			      .netns = 4026531840ull,
			      .label = "alice@office:2222"};
	struct instance out;
	char buf[4096];
	int n;

	in.spec = spec_of(l, 2, l + 2, 1);
	in.spec.dns = l + 3;
	in.spec.n_dns = 1;
	in.spec.by_uid = true;
	in.spec.uid = 1000;
	n = instance_format(&in, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_EQ_INT(instance_parse(buf, (size_t)n, &out), 0);
	CHECK(out.part == 4711 && out.pid == 4700 && out.uid == 1000 && out.netns == in.netns);
	CHECK_STR(out.label, "alice@office:2222");
	CHECK(out.spec.by_uid && out.spec.uid == 1000 && !out.spec.prerouting && !out.spec.by_gid);
	CHECK_EQ_INT(out.spec.n_include, 2);
	CHECK_EQ_INT(out.spec.n_exclude, 1);
	CHECK_EQ_INT(out.spec.n_dns, 1);
	if (out.spec.n_include == 2 && out.spec.n_exclude == 1 && out.spec.n_dns == 1) {
		CHECK(!memcmp(&out.spec.include[1], &l[1], sizeof(l[1])));
		CHECK(!memcmp(&out.spec.exclude[0], &l[2], sizeof(l[2])));
		CHECK(!memcmp(&out.spec.dns[0], &l[3], sizeof(l[3])));
	}
	instance_free(&out);
	/* Too small a buffer is said, never cut. */
	CHECK_EQ_INT(instance_format(&in, buf, 40), -ENOSPC);
}

/* Every malformed record is refused whole. */
static void test_parse_refuses(void)
{
	static const char head[] = "sluice-instance 1\npart 9\npid 8\nuid 0\nnetns 7\nlabel x\n"
				   "owner 0 0 0 0 0\n";
	static const char *const bad[] = {
	    "inc 4 c6336400 24 0 65535\nexc 4 c6336400 24 0 65535\ninc 4 c6336400 24 0 65535\n",
	    "inc 4 c633640 24 0 65535\n",			/* short address */
	    "inc 4 c63364zz 24 0 65535\n",			/* not hex */
	    "inc 4 c6336400 33 0 65535\n",			/* prefix past 32 */
	    "inc 4 c6336400 24 90 80\n",			/* ports the wrong way round */
	    "inc 4 c6336400 24 0 65535 9\n",			/* a word too many */
	    "inc 5 c6336400 24 0 65535\n",			/* no such family */
	    "inc 4 c6336400 24 0 65536\n",			/* not a port */
	    "inc 4 c6336400 24 0 -1\n",				/* not a number */
	    "inc 4 c6336400 24 0 65535",			/* no end of line */
	    "net 4 c6336400 24 0 65535\n",			/* unknown line */
	    "inc 6 20010db8000200000000000000000000 129 0 0\n", /* prefix past 128 */
	};
	char text[512];
	struct instance out;
	size_t i;

	snprintf(text, sizeof(text), "%s", head);
	CHECK_EQ_INT(instance_parse(text, strlen(text), &out), 0);
	instance_free(&out);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", head, bad[i]);
		if (instance_parse(text, strlen(text), &out) != -EINVAL) {
			printf("# accepted: %s", bad[i]);
			CHECK(0);
			instance_free(&out);
		}
	}
	/* The header's fields, each spoiled once. */
	CHECK_EQ_INT(instance_parse("sluice-instance 2\n", 18, &out), -EINVAL);
	snprintf(text, sizeof(text), "%s", head);
	*strstr(text, "label x") = 'L';
	CHECK_EQ_INT(instance_parse(text, strlen(text), &out), -EINVAL);
	snprintf(text, sizeof(text), "%s", head);
	memcpy(strstr(text, "owner 0"), "owner 2", 7);
	CHECK_EQ_INT(instance_parse(text, strlen(text), &out), -EINVAL);
	CHECK(!instance_label_valid("a b", 3) && !instance_label_valid("", 0) &&
	      !instance_label_valid("a\x7f", 2) && instance_label_valid("u@[2001:db8::1]:22", 18));
}

/* What two tunnels may share, and what makes them clash. */
static void test_overlap(void)
{
	struct subnet a_inc[1] = {net("198.51.100.0", 24, 0, 65535)};
	struct subnet b_inc[2] = {net("203.0.113.0", 24, 0, 65535),
				  net("198.51.100.7", 32, 0, 65535)};
	struct subnet a_exc[1] = {net("198.51.100.0", 28, 0, 65535)};
	struct subnet b_web[1] = {net("198.51.100.0", 24, 80, 80)};
	struct subnet a_ssh[1] = {net("0.0.0.0", 0, 22, 22)};
	struct subnet v6[1] = {net("2001:db8::", 32, 0, 65535)};
	struct fw_spec a = spec_of(a_inc, 1, NULL, 0), b = spec_of(b_inc, 2, NULL, 0);
	struct subnet where;
	char s[SUBNET_STRLEN];

	/* A host inside the other's network. */
	CHECK(instance_overlap(&b, &a, &where));
	subnet_format(&where, s, sizeof(s));
	CHECK_STR(s, "198.51.100.7/32");
	CHECK(instance_overlap(&a, &b, &where));
	/* The other excludes it: its chain returns, ours may capture it. */
	a.exclude = a_exc;
	a.n_exclude = 1;
	CHECK(!instance_overlap(&a, &b, &where) && !instance_overlap(&b, &a, &where));
	/* Disjoint ports share nothing; the same port does. */
	a = spec_of(a_inc, 1, a_ssh, 1);
	b = spec_of(b_web, 1, NULL, 0);
	CHECK(instance_overlap(&a, &b, &where));
	b_web[0].port_lo = b_web[0].port_hi = 22;
	CHECK(!instance_overlap(&a, &b, &where));
	/* Another family never meets. */
	b = spec_of(v6, 1, NULL, 0);
	CHECK(!instance_overlap(&a, &b, &where));
	/* Two users' own tunnels never meet; one user's with everyone's does. */
	a = spec_of(a_inc, 1, NULL, 0);
	b = spec_of(a_inc, 1, NULL, 0);
	a.by_uid = b.by_uid = true;
	a.uid = 1000;
	b.uid = 1001;
	CHECK(!instance_overlap(&a, &b, &where));
	b.by_uid = false;
	b.uid = 0;
	CHECK(instance_overlap(&a, &b, &where));
	/* ... but a user's own tunnel never keeps everyone's (root's) from starting. */
	CHECK(!instance_overlap(&b, &a, &where));
	/* ... and so do two routers' forwarded traffic, whoever's sockets. */
	b.by_uid = true;
	b.uid = 1001;
	a.prerouting = b.prerouting = true;
	CHECK(instance_overlap(&a, &b, &where));
	/* --dns has one owner among owners that can meet. */
	a = spec_of(a_inc, 1, NULL, 0);
	b = spec_of(b_inc, 1, NULL, 0);
	a.n_dns = b.n_dns = 1;
	CHECK(instance_dns_clash(&a, &b));
	a.by_uid = b.by_uid = true;
	a.uid = 1000;
	b.uid = 1001;
	CHECK(!instance_dns_clash(&a, &b));
	b.n_dns = 0;
	b.uid = 1000;
	CHECK(!instance_dns_clash(&a, &b));
}

static char dir[64];

static void put_record(const struct instance *in)
{
	int lock;

	CHECK_EQ_INT(instances_lock(dir, &lock), 0);
	CHECK_EQ_INT(instances_write(dir, in), 0);
	if (lock >= 0)
		close(lock);
}

static bool record_exists(uint32_t part)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%u", dir, part);
	return access(path, F_OK) == 0;
}

/*
 * A live part (this program re-run as `--privileged`, so it reads as one),
 * a dead one, and ourselves: only the live one's record can clash, only
 * in our network namespace, and the dead one's record goes.
 */
/*
 * The comparison runs as root with every part's lock held: lists made to
 * cost hours (thousands of one network, each pair excluded but by the last
 * exclude) are refused, while two command lines of 4096 networks each are
 * still compared, and found apart.
 */
static void test_overlap_bounded(void)
{
	size_t n = 8192, i;
	struct subnet *inc = calloc(n, sizeof(*inc)), *exc = calloc(n, sizeof(*exc));
	struct subnet *other = calloc(4096, sizeof(*other));
	struct fw_spec a, b;
	struct subnet where;
	char t[64];

	CHECK(inc && exc && other);
	if (!inc || !exc || !other)
		goto out;
	for (i = 0; i < n; i++) {
		inc[i] = net("198.51.100.0", 24, 0, 65535);
		exc[i] = net("203.0.113.0", 24, 0, 65535);
	}
	exc[n - 1] = net("198.51.100.0", 24, 0, 65535);
	a = spec_of(inc, n, exc, n);
	b = spec_of(inc, n, NULL, 0);
	CHECK_EQ_INT(instance_overlap(&a, &b, &where), -E2BIG);
	/* One of each: compared, and the exclude takes it. */
	a = spec_of(inc, 1, exc + n - 1, 1);
	b = spec_of(inc, 1, NULL, 0);
	CHECK_EQ_INT(instance_overlap(&a, &b, &where), 0);
	/* 4096 distinct networks against 4096 others, apart. */
	for (i = 0; i < 4096; i++) {
		snprintf(t, sizeof(t), "2001:db8:%zx::", i);
		inc[i] = net(t, 48, 0, 65535);
		snprintf(t, sizeof(t), "2001:db8:ffff:%zx::", i);
		other[i] = net(t, 64, 0, 65535);
	}
	a = spec_of(inc, 4096, NULL, 0);
	b = spec_of(other, 4096, NULL, 0);
	CHECK_EQ_INT(instance_overlap(&a, &b, &where), 0);
	/* ... and one shared network among them is found. */
	other[4095] = inc[17];
	CHECK_EQ_INT(instance_overlap(&a, &b, &where), 1);
out:
	free(inc);
	free(exc);
	free(other);
}

static void test_check_dir(void)
{
	struct subnet inc[1] = {net("198.51.100.0", 24, 0, 65535)};
	struct instance live = {.pid = 500, .uid = 1000, .netns = 77, .label = "bob@lab"};
	struct instance dead = live, self = live;
	char why[256] = "";
	pid_t child, gone;
	int st;

	if (geteuid() != 0) {
		printf("# not root: a part is root's, so no stand-in can be one; skipped\n");
		return;
	}
	snprintf(dir, sizeof(dir), "/tmp/sluice-test-inst.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	child = fork();
	if (child == 0) {
		execl("/proc/self/exe", "test_instances", "--privileged", (char *)NULL);
		_exit(127);
	}
	gone = fork();
	if (gone == 0)
		_exit(0);
	waitpid(gone, &st, 0);
	usleep(100 * 1000); /* the stand-in has exec'd */

	live.part = (uint32_t)child;
	live.spec = spec_of(inc, 1, NULL, 0);
	dead.part = (uint32_t)gone;
	dead.spec = live.spec;
	put_record(&live);
	put_record(&dead);
	self.part = (uint32_t)getpid();
	self.spec = spec_of(inc, 1, NULL, 0);
	put_record(&self); /* our own record never clashes with us */

	CHECK_EQ_INT(instances_check(dir, &self, why, sizeof(why)), -EADDRINUSE);
	CHECK(strstr(why, "198.51.100.0/24") && strstr(why, "pid 500") && strstr(why, "bob@lab"));
	CHECK(!record_exists(dead.part) && record_exists(live.part));
	/* Another user is told that much, not where the other tunnel goes. */
	self.uid = 1001;
	CHECK_EQ_INT(instances_check(dir, &self, why, sizeof(why)), -EADDRINUSE);
	CHECK(strstr(why, "pid 500 (another user's, uid 1000)") && !strstr(why, "bob@lab"));
	self.uid = 1000;
	/* Another network namespace's rules never meet ours. */
	self.netns = 78;
	CHECK_EQ_INT(instances_check(dir, &self, why, sizeof(why)), 0);
	self.netns = 77;
	/* Another user's own tunnel does not clash with ours either. */
	live.spec.by_uid = true;
	live.spec.uid = 1001;
	put_record(&live);
	self.spec.by_uid = true;
	self.spec.uid = 1000;
	CHECK_EQ_INT(instances_check(dir, &self, why, sizeof(why)), 0);
	/* Once the part is gone, neither does its record, which goes. */
	live.spec.by_uid = false;
	live.spec.uid = 0;
	put_record(&live);
	CHECK_EQ_INT(instances_check(dir, &self, why, sizeof(why)), -EADDRINUSE);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	CHECK_EQ_INT(instances_check(dir, &self, why, sizeof(why)), 0);
	CHECK(!record_exists(live.part));
	instances_remove(dir, self.part);
	CHECK(!record_exists(self.part));
	{
		char lock[128];

		snprintf(lock, sizeof(lock), "%s/.lock", dir);
		unlink(lock);
	}
	CHECK_EQ_INT(rmdir(dir), 0);
}

/* A directory another user could write holds no records worth believing. */
static void test_lock_refuses_shared_dir(void)
{
	char d[64];
	int fd;

	snprintf(d, sizeof(d), "/tmp/sluice-test-inst.XXXXXX");
	CHECK(mkdtemp(d) != NULL);
	chmod(d, 0777);
	CHECK_EQ_INT(instances_lock(d, &fd), -EPERM);
	CHECK_EQ_INT(fd, -1);
	rmdir(d);
}

int main(int argc, char **argv)
{
	/* The stand-in for a live privileged part: wait to be killed. */
	if (argc == 2 && !strcmp(argv[1], "--privileged")) {
		sleep(30);
		return 0;
	}
	RUN(test_roundtrip);
	RUN(test_parse_refuses);
	RUN(test_overlap);
	RUN(test_overlap_bounded);
	RUN(test_check_dir);
	RUN(test_lock_refuses_shared_dir);
	T_EXIT();
}
