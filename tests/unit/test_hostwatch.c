/*
 * test_hostwatch: the -H watcher. The parsers get captured /etc/hosts,
 * /proc/net/arp and /proc/net/tcp{,6} text; the short-name rule gets
 * made-up pairs. Then real watcher processes: one on files of our own with
 * a fake resolver (exact output known), one on this machine's sources (the
 * output is only checked for form). Reverse lookups are always faked here,
 * so no test query leaves the machine.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../server/hostwatch.h"
#include "../../server/hostwatch_parse.h"
#include "t.h"

/* What a parser reported, one "ADDRESS NAME" or "ADDRESS" per entry. */
struct seen {
	char lines[32][320];
	int n;
};

static int seen_name(int family, const uint8_t *addr, const char *name, void *arg)
{
	struct seen *s = arg;
	char a[INET6_ADDRSTRLEN];

	if (s->n >= 32 || !inet_ntop(family, addr, a, sizeof(a)))
		return -ENOSPC;
	snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s %s", a, name);
	return 0;
}

static int seen_addr(int family, const uint8_t *addr, void *arg)
{
	struct seen *s = arg;
	char a[INET6_ADDRSTRLEN];

	if (s->n >= 32 || !inet_ntop(family, addr, a, sizeof(a)))
		return -ENOSPC;
	snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s", a);
	return 0;
}

static int norm(const char *in, char *out, size_t outlen)
{
	return hostname_norm(in, strlen(in), out, outlen);
}

static void test_name_norm(void)
{
	char out[HOSTWATCH_NAME_MAX + 1], big[300];

	CHECK_EQ_INT(norm("Web.Corp.Example.", out, sizeof(out)), 0);
	CHECK_STR(out, "web.corp.example");
	CHECK_EQ_INT(norm("host_1-a", out, sizeof(out)), 0);
	CHECK_STR(out, "host_1-a");
	CHECK_EQ_INT(norm("1a.example", out, sizeof(out)), 0);
	CHECK_EQ_INT(norm("a.b1", out, sizeof(out)), 0);
	static const char *const bad[] = {
	    "",	     ".",	    "..",   "a..b", ".a",	  "a.b..",     "a b",
	    "a\tb",  "a/b",	    "a:b",  "a\nb", "ex\xc3\xa9", "192.0.2.1", "123",
	    "x.123", "2001:db8::1", "a;rm", "%s",   "a*",
	};
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (norm(bad[i], out, sizeof(out)) != -EINVAL)
			printf("accepted \"%s\"\n", bad[i]);
		CHECK_EQ_INT(norm(bad[i], out, sizeof(out)), -EINVAL);
	}
	/* Labels up to 63, names up to 253. */
	memset(big, 'a', 63);
	big[63] = '\0';
	CHECK_EQ_INT(norm(big, out, sizeof(out)), 0);
	memset(big, 'a', 64);
	big[64] = '\0';
	CHECK_EQ_INT(norm(big, out, sizeof(out)), -EINVAL);
	for (i = 0; i < 253; i++)
		big[i] = i % 2 ? '.' : 'a';
	big[253] = '\0';
	CHECK_EQ_INT(norm(big, out, sizeof(out)), 0);
	big[253] = '.';
	big[254] = '\0';
	CHECK_EQ_INT(norm(big, out, sizeof(out)), 0); /* the trailing dot does not count */
	big[254] = 'a';
	big[255] = '\0';
	CHECK_EQ_INT(norm(big, out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(norm("abc", out, 3), -ENOSPC);
	CHECK_EQ_INT(norm("abc", out, 4), 0);
	/* The length given wins over the terminator. */
	CHECK_EQ_INT(hostname_norm("web.corp", 3, out, sizeof(out)), 0);
	CHECK_STR(out, "web");
}

static void test_name_local(void)
{
	CHECK(hostname_local("localhost"));
	CHECK(hostname_local("localhost.localdomain"));
	CHECK(hostname_local("localhost6.localdomain6"));
	CHECK(hostname_local("ip6-localhost"));
	CHECK(hostname_local("ip6-loopback"));
	CHECK(!hostname_local("localhostile"));
	CHECK(!hostname_local("web"));
	CHECK(!hostname_local("mylocalhost"));
	/* Under .localhost, and systemd's synthesized names; not .local (sites' DNS domains). */
	CHECK(hostname_local("app.localhost"));
	CHECK(hostname_local("a.b.localhost"));
	CHECK(hostname_local("_gateway"));
	CHECK(hostname_local("_outbound"));
	CHECK(!hostname_local("applocalhost"));
	CHECK(!hostname_local("dc1.corp.local"));
	CHECK(!hostname_local("local"));
	CHECK(!hostname_local("gateway"));
	CHECK(!hostname_local("_gateway.example"));
}

static int ok(const char *text)
{
	uint8_t a[16] = {0};
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, text, a) != 1)
		return -1;
	return hostwatch_addr_ok(family, a);
}

static void test_addr_ok(void)
{
	CHECK_EQ_INT(ok("192.0.2.1"), 1);
	CHECK_EQ_INT(ok("10.1.2.3"), 1);
	CHECK_EQ_INT(ok("2001:db8::1"), 1);
	CHECK_EQ_INT(ok("fd00::1"), 1);
	CHECK_EQ_INT(ok("0.0.0.0"), 0);
	CHECK_EQ_INT(ok("127.0.1.1"), 0);
	CHECK_EQ_INT(ok("169.254.10.1"), 0);
	CHECK_EQ_INT(ok("224.0.0.251"), 0);
	CHECK_EQ_INT(ok("239.255.255.250"), 0);
	CHECK_EQ_INT(ok("255.255.255.255"), 0);
	CHECK_EQ_INT(ok("::"), 0);
	CHECK_EQ_INT(ok("::1"), 0);
	CHECK_EQ_INT(ok("fe80::1"), 0);
	CHECK_EQ_INT(ok("febf::1"), 0);
	CHECK_EQ_INT(ok("fec0::1"), 1);
	CHECK_EQ_INT(ok("ff02::1"), 0);
	CHECK_EQ_INT(ok("::ffff:192.0.2.1"), 0);
}

static const char hosts_text[] =
    "# /etc/hosts, as distributions ship it, plus some\n"
    "127.0.0.1\tlocalhost\n"
    "127.0.1.1\tmyhost.example myhost\n"
    "::1     localhost ip6-localhost ip6-loopback\n"
    "ff02::1 ip6-allnodes\n"
    "fe80::1%eth0 router-ll\n"
    "192.0.2.10   Web.Corp.Example web   # the web server\n"
    "192.0.2.11\tdb.corp.example\tdb-alias bad!name db.corp.example\r\n"
    "2001:db8::20 files.corp.example\n"
    "198.51.100.7 # nothing but a comment\n"
    "not-an-address foo\n"
    "192.0.2.300 overflow\n"
    "   \n"
    "0.0.0.0 blocked.example\n"
    "203.0.113.5 www.example.com.";

static void test_parse_hosts(void)
{
	struct seen s = {.n = 0};

	CHECK_EQ_INT(hostwatch_parse_hosts(hosts_text, strlen(hosts_text), seen_name, &s), 0);
	CHECK_EQ_INT(s.n, 7);
	CHECK_STR(s.lines[0], "192.0.2.10 web.corp.example");
	CHECK_STR(s.lines[1], "192.0.2.10 web");
	CHECK_STR(s.lines[2], "192.0.2.11 db.corp.example");
	CHECK_STR(s.lines[3], "192.0.2.11 db-alias");
	CHECK_STR(s.lines[4], "192.0.2.11 db.corp.example");
	CHECK_STR(s.lines[5], "2001:db8::20 files.corp.example");
	CHECK_STR(s.lines[6], "203.0.113.5 www.example.com");
	/* Cut short mid-line: only what is there. */
	s.n = 0;
	CHECK_EQ_INT(hostwatch_parse_hosts(hosts_text, 0, seen_name, &s), 0);
	CHECK_EQ_INT(s.n, 0);
}

static int stop_after_one(int family, const uint8_t *addr, const char *name, void *arg)
{
	++*(int *)arg;
	return -ECANCELED;
}

static void test_parse_stops(void)
{
	int calls = 0;

	CHECK_EQ_INT(hostwatch_parse_hosts(hosts_text, strlen(hosts_text), stop_after_one, &calls),
		     -ECANCELED);
	CHECK_EQ_INT(calls, 1);
}

static const char arp_text[] =
    "IP address       HW type     Flags       HW address            Mask     Device\n"
    "192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0\n"
    "192.0.2.9        0x1         0x0         00:00:00:00:00:00     *        eth0\n"
    "198.51.100.3     0x1         0x6         02:fc:00:00:00:06     *        eth1\n"
    "169.254.1.1      0x1         0x2         02:fc:00:00:00:07     *        eth0\n"
    "203.0.113.9      0x1         zz          02:fc:00:00:00:08     *        eth0\n"
    "203.0.113.10     0x1\n"
    "203.0.113.11     0x1         0x2         02:fc:00:00:00:09     *        eth0";

static void test_parse_arp(void)
{
	struct seen s = {.n = 0};

	CHECK_EQ_INT(hostwatch_parse_arp(arp_text, strlen(arp_text), seen_addr, &s), 0);
	CHECK_EQ_INT(s.n, 3);
	CHECK_STR(s.lines[0], "192.0.2.1");
	CHECK_STR(s.lines[1], "198.51.100.3");
	CHECK_STR(s.lines[2], "203.0.113.11");
	/* The header alone. */
	s.n = 0;
	CHECK_EQ_INT(hostwatch_parse_arp(arp_text, (size_t)(strchr(arp_text, '\n') - arp_text + 1),
					 seen_addr, &s),
		     0);
	CHECK_EQ_INT(s.n, 0);
}

/*
 * Captured on x86-64: each 32-bit word is printed as the little-endian
 * number in memory, so 192.0.2.10 reads 0A0200C0 and ::1 reads
 * 00000000000000000000000001000000.
 */
static const char tcp4_text[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "1084 1 0000000078383d75 100 0 0 10 0\n"
    "   1: 020200C0:0016 0A0200C0:D431 01 00000000:00000000 02:0009F5BF 00000000     0        0 "
    "2211 4 0000000012345678 20 4 31 10 -1\n"
    "   2: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 "
    "3311 1 0000000012345679 20 4 30 10 -1\n"
    "   3: 020200C0:0050 076433C6:C350 06 00000000:00000000 03:00000F9C 00000000     0        0 "
    "0 3 0000000012345680\n"
    "   4: 020200C0:A2B4 057100CB:01BB 01 00000000:00000000 02:00000A23 00000000  1000        0 "
    "4411 2 0000000012345681 20 4 28 10 -1\n"
    "   5: 020200C0:A2B5 057100C:01BB 01 00000000:00000000\n"
    "   6: 020200C0:A2B6 057100CG:01BB 01 00000000:00000000\n";

static const char tcp6_text[] =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 1085 1 0000000000000000 100 0 0 10 0\n"
    "   1: 00000000000000000000000001000000:0016 00000000000000000000000001000000:B1C2 01 "
    "00000000:00000000 02:00000A23 00000000     0        0 5511 1 0000000000000000 20 4 30 10 "
    "-1\n"
    "   2: B80D0120000000000000000001000000:0016 B80D0120000000000000000020000000:D431 01 "
    "00000000:00000000 02:00000A23 00000000     0        0 5512 1 0000000000000000 20 4 30 10 "
    "-1\n"
    "   3: 0000000000000000FFFF0000020200C0:0016 0000000000000000FFFF00000A0200C0:D432 01 "
    "00000000:00000000 02:00000A23 00000000     0        0 5513 1 0000000000000000 20 4 30 10 "
    "-1\n"
    "   4: 0000000000000000FFFF00000100007F:0016 0000000000000000FFFF00000100007F:D433 01 "
    "00000000:00000000 02:00000A23 00000000     0        0 5514 1 0000000000000000 20 4 30 10 "
    "-1\n"
    "   5: B80D0120000000000000000001000000:0016 000080FE000000000000000001000000:D434 01 "
    "00000000:00000000\n";

static void test_parse_tcp(void)
{
	struct seen s = {.n = 0};

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	CHECK_EQ_INT(hostwatch_parse_tcp(tcp4_text, strlen(tcp4_text), AF_INET, seen_addr, &s), 0);
	CHECK_EQ_INT(s.n, 2);
	CHECK_STR(s.lines[0], "192.0.2.10");
	CHECK_STR(s.lines[1], "203.0.113.5");
	s.n = 0;
	CHECK_EQ_INT(hostwatch_parse_tcp(tcp6_text, strlen(tcp6_text), AF_INET6, seen_addr, &s), 0);
	CHECK_EQ_INT(s.n, 2);
	CHECK_STR(s.lines[0], "2001:db8::20");
	CHECK_STR(s.lines[1], "192.0.2.10");
	/* An IPv4 table read as IPv6 (or the reverse) yields nothing. */
	s.n = 0;
	CHECK_EQ_INT(hostwatch_parse_tcp(tcp4_text, strlen(tcp4_text), AF_INET6, seen_addr, &s), 0);
	CHECK_EQ_INT(hostwatch_parse_tcp(tcp6_text, strlen(tcp6_text), AF_INET, seen_addr, &s), 0);
	CHECK_EQ_INT(s.n, 0);
#endif
	CHECK_EQ_INT(hostwatch_parse_tcp(tcp4_text, strlen(tcp4_text), AF_UNIX, seen_addr, &s),
		     -EAFNOSUPPORT);
}

static void test_short_name(void)
{
	char out[HOSTWATCH_NAME_MAX + 1];

	CHECK_EQ_INT(hostwatch_short_name("web.corp.example", out, sizeof(out)), 0);
	CHECK_STR(out, "web");
	CHECK_EQ_INT(hostwatch_short_name("web", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(hostwatch_short_name("web.", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(hostwatch_short_name("1.corp.example", out, sizeof(out)), -EINVAL);
	CHECK_EQ_INT(hostwatch_short_name(".corp", out, sizeof(out)), -EINVAL);
}

static struct hostwatch_pair mkpair(const char *addr, const char *name, int derived)
{
	struct hostwatch_pair p;

	memset(&p, 0, sizeof(p));
	p.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	inet_pton(p.family, addr, p.addr);
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.derived = (uint8_t)derived;
	return p;
}

static int collect_short(size_t i, const char *short_name, void *arg)
{
	struct seen *s = arg;

	if (s->n >= 32)
		return -ENOSPC;
	snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%zu %s", i, short_name);
	return 0;
}

static int cmp_lines(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_shorts(void)
{
	struct hostwatch_pair p[12];
	struct seen s = {.n = 0};

	p[0] = mkpair("192.0.2.10", "web.corp.example", 0);
	p[1] = mkpair("192.0.2.11", "db.corp.example", 0);
	p[2] = mkpair("192.0.2.12", "db.other.example", 0);  /* "db" is ambiguous */
	p[3] = mkpair("192.0.2.13", "mail.corp.example", 0); /* "mail" is taken ... */
	p[4] = mkpair("192.0.2.14", "mail", 0);		     /* ... by another address */
	p[5] = mkpair("192.0.2.20", "web.corp.example", 0);  /* one name, two addresses */
	p[6] = mkpair("192.0.2.30", "plain", 0);
	p[7] = mkpair("192.0.2.31", "1.corp.example", 0);
	p[8] = mkpair("192.0.2.40", "api.corp.example", 1); /* derived: not a source */
	p[9] = mkpair("2001:db8::41", "files.corp.example", 0);
	p[10] = mkpair("2001:db8::41", "files", 0); /* same address: no conflict */
	p[11] = mkpair("192.0.2.10", "web", 1);
	CHECK_EQ_INT(hostwatch_shorts(p, 12, collect_short, &s), 0);
	qsort(s.lines, (size_t)s.n, sizeof(s.lines[0]), cmp_lines);
	CHECK_EQ_INT(s.n, 3);
	CHECK_STR(s.lines[0], "0 web");
	CHECK_STR(s.lines[1], "5 web");
	CHECK_STR(s.lines[2], "9 files");
	CHECK_EQ_INT(hostwatch_shorts(p, 0, collect_short, &s), 0);
	/* "web" given outright for another address blocks it for both. */
	s.n = 0;
	p[6] = mkpair("192.0.2.99", "web", 0);
	CHECK_EQ_INT(hostwatch_shorts(p, 12, collect_short, &s), 0);
	CHECK_EQ_INT(s.n, 1);
	CHECK_STR(s.lines[0], "9 files");
}

/* ---- the real process ---- */

static char tmpdir[64];

static int write_file(const char *name, const char *text, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", tmpdir, name);
	return t_write_file(path, text, strlen(text));
}

static int fake_ptr(int family, const uint8_t *addr, char *name, size_t len)
{
	static const struct {
		const char *addr, *name;
	} answers[] = {
	    {"192.0.2.50", "Arp-Host.LAN.Test."},   {"203.0.113.5", "peer.example.net"},
	    {"2001:db8::20", "v6peer.example.net"}, {"192.0.2.99", "seed99.example.net"},
	    {"192.0.2.10", "web.corp.example"},	    {"198.51.100.1", "bad name!"},
	    {"192.0.2.51", "github.com"},	    {"192.0.2.52", "nowhere.example.net"},
	};
	char a[INET6_ADDRSTRLEN];
	size_t i;

	if (!inet_ntop(family, addr, a, sizeof(a)))
		return -EINVAL;
	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		if (strcmp(a, answers[i].addr) == 0) {
			snprintf(name, len, "%s", answers[i].name);
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * The forward records: most PTR names resolve back to their address; the
 * one for 192.0.2.51 points elsewhere (someone else's reverse zone claiming
 * a name), and nowhere.example.net does not resolve at all.
 */
static int fake_forward(int family, const uint8_t *addr, const char *name)
{
	static const struct {
		const char *name, *addr;
	} records[] = {
	    {"arp-host.lan.test", "192.0.2.50"},    {"peer.example.net", "203.0.113.5"},
	    {"v6peer.example.net", "2001:db8::20"}, {"seed99.example.net", "192.0.2.99"},
	    {"github.com", "203.0.113.66"},
	};
	char a[INET6_ADDRSTRLEN];
	size_t i;
	int known = 0;

	if (!inet_ntop(family, addr, a, sizeof(a)))
		return -EINVAL;
	for (i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		if (strcmp(name, records[i].name) == 0) {
			known = 1;
			if (strcmp(a, records[i].addr) == 0)
				return 1;
		}
	}
	return known ? 0 : -ENOENT;
}

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A line must be exactly "ADDRESS NAME\n" with a valid address and a normalized name. */
static int well_formed(const char *line)
{
	char addr[INET6_ADDRSTRLEN + 1], name[HOSTWATCH_NAME_MAX + 1];
	const char *sp = strchr(line, ' ');
	uint8_t buf[16];
	size_t alen;

	if (!sp || (alen = (size_t)(sp - line)) == 0 || alen >= sizeof(addr))
		return 0;
	memcpy(addr, line, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1)
		return 0;
	if (hostname_norm(sp + 1, strlen(sp + 1), name, sizeof(name)) < 0)
		return 0;
	return strcmp(name, sp + 1) == 0;
}

/*
 * Read lines from fd until want have come or ms passed. Returns the number
 * of lines, each checked for form (*bad counts the others).
 */
static int read_lines(int fd, char (*lines)[320], int max, int want, int ms, int *bad)
{
	static char acc[65536];
	size_t len = 0;
	int64_t end = ms_now() + ms;
	int n = 0;

	*bad = 0;
	while (n < want && ms_now() < end) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t r;
		char *nl;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		r = read(fd, acc + len, sizeof(acc) - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
		acc[len] = '\0';
		while ((nl = strchr(acc, '\n'))) {
			*nl = '\0';
			if (!well_formed(acc)) {
				printf("bad line \"%s\"\n", acc);
				++*bad;
			} else if (n < max && strlen(acc) < 320) {
				memcpy(lines[n++], acc, strlen(acc) + 1);
			}
			len -= (size_t)(nl + 1 - acc);
			memmove(acc, nl + 1, len + 1);
		}
	}
	return n;
}

/* Close fd and wait up to ms for pid to exit; its status, or -1 when still alive (then killed). */
static int close_and_reap(int fd, pid_t pid, int ms)
{
	int64_t end = ms_now() + ms;
	int status;

	close(fd);
	while (ms_now() < end) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/*
 * The child holds /dev/null on 0 and 1, stderr, the pipe on 3, and nothing
 * else for long: a source file open mid-scan is fine, so look a few times.
 */
static int check_child_fds_once(pid_t pid, int quiet)
{
	char dir[64], path[320], target[256];
	struct dirent *e;
	DIR *d;
	int bad = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if (fd > 3 || ((fd == 0 || fd == 1) && strcmp(target, "/dev/null") != 0) ||
		    (fd == 3 && strncmp(target, "pipe:", 5) != 0)) {
			if (!quiet)
				printf("child fd %d -> %s\n", fd, target);
			bad++;
		}
	}
	closedir(d);
	return bad;
}

static int check_child_fds(pid_t pid)
{
	int i;

	for (i = 0; i < 20; i++) {
		if (check_child_fds_once(pid, 1) == 0)
			return 0;
		usleep(20000);
	}
	return check_child_fds_once(pid, 0);
}

static int has_line(char (*lines)[320], int n, const char *want)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(lines[i], want) == 0)
			return 1;
	return 0;
}

static void test_watch_own_sources(void)
{
	static const char *const expect[] = {
	    "192.0.2.10 web.corp.example",     "192.0.2.10 web",
	    "198.51.100.1 db.corp.example",    "198.51.100.1 db.other.example",
	    "192.0.2.50 arp-host.lan.test",    "192.0.2.50 arp-host",
	    "203.0.113.5 peer.example.net",    "203.0.113.5 peer",
	    "2001:db8::20 v6peer.example.net", "2001:db8::20 v6peer",
	    "192.0.2.99 seed99.example.net",   "192.0.2.99 seed99",
	};
	static const char *const seeds[] = {"localhost", "192.0.2.99"};
	const int n_expect = (int)(sizeof(expect) / sizeof(expect[0]));
	char hosts[128], arp[128], tcp4[128], tcp6[128];
	static char lines[64][320];
	struct hostwatch_cfg cfg;
	int fd = -1, n, bad, i, j, status, stray;
	pid_t pid = 0;

	CHECK(write_file("hosts",
			 "127.0.0.1 localhost\n192.0.2.10 web.corp.example\n"
			 "198.51.100.1 db.corp.example db.other.example\n",
			 hosts, sizeof(hosts)) == 0);
	CHECK(write_file("arp",
			 "IP address       HW type     Flags       HW address            Mask     "
			 "Device\n192.0.2.50       0x1         0x2         02:fc:00:00:00:05     * "
			 "       eth0\n192.0.2.51       0x1         0x2         02:fc:00:00:00:06 "
			 "    *        eth0\n192.0.2.52       0x1         0x2         "
			 "02:fc:00:00:00:07     *        eth0\n",
			 arp, sizeof(arp)) == 0);
	CHECK(write_file("tcp", tcp4_text, tcp4, sizeof(tcp4)) == 0);
	CHECK(write_file("tcp6", tcp6_text, tcp6, sizeof(tcp6)) == 0);

	/* An inherited descriptor the child must not keep. */
	stray = open("/dev/zero", O_RDONLY);
	hostwatch_cfg_default(&cfg);
	cfg.hosts_path = hosts;
	cfg.arp_path = arp;
	cfg.tcp4_path = tcp4;
	cfg.tcp6_path = tcp6;
	cfg.ptr = fake_ptr;
	cfg.forward = fake_forward;
	cfg.round_ms = 100;
	cfg.ptr_gap_ms = 5;
	cfg.ptr_again_ms = 60000;
	CHECK_EQ_INT(hostwatch_start_cfg(&cfg, seeds, 2, &fd, &pid), 0);
	if (stray >= 0)
		close(stray);
	if (fd < 0)
		return;
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	n = read_lines(fd, lines, 64, n_expect, 5000, &bad);
	CHECK_EQ_INT(bad, 0);
	for (i = 0; i < n_expect; i++) {
		if (!has_line(lines, n, expect[i]))
			printf("missing \"%s\"\n", expect[i]);
		CHECK(has_line(lines, n, expect[i]));
	}
	/* Nothing else, and nothing twice, even after a few more rounds. */
	n += read_lines(fd, lines + n, 64 - n, 64, 500, &bad);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(n, n_expect);
	/* A PTR name that does not resolve back to its address is never reported. */
	CHECK(!has_line(lines, n, "192.0.2.51 github.com"));
	CHECK(!has_line(lines, n, "192.0.2.52 nowhere.example.net"));
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			CHECK(strcmp(lines[i], lines[j]) != 0);
	CHECK_EQ_INT(check_child_fds(pid), 0);
	status = close_and_reap(fd, pid, 5000);
	CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unlink(hosts);
	unlink(arp);
	unlink(tcp4);
	unlink(tcp6);
}

static void test_watch_this_machine(void)
{
	static const char *const seeds[] = {"localhost"};
	static char lines[64][320];
	struct hostwatch_cfg cfg;
	int fd = -1, bad, status;
	pid_t pid = 0;

	/* The real sources and seed, but a resolver that never answers (and never sends). */
	hostwatch_cfg_default(&cfg);
	cfg.ptr = fake_ptr;
	cfg.round_ms = 100;
	cfg.ptr_gap_ms = 5;
	CHECK_EQ_INT(hostwatch_start_cfg(&cfg, seeds, 1, &fd, &pid), 0);
	if (fd < 0)
		return;
	read_lines(fd, lines, 64, 64, 1000, &bad);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(check_child_fds(pid), 0);
	CHECK(kill(pid, 0) == 0); /* still watching */
	status = close_and_reap(fd, pid, 5000);
	CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Running or sleeping, per /proc: a zombie waiting for some reaper counts as gone. */
static int alive(pid_t pid)
{
	char path[64], buf[512], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

static void test_watch_dies_with_parent(void)
{
	int ready[2], fd = -1, status;
	pid_t mid, watcher = 0;
	int64_t end;

	/* A middle process starts a watcher, reports its pid, and dies without closing anything. */
	CHECK(pipe(ready) == 0);
	mid = fork();
	if (mid == 0) {
		struct hostwatch_cfg cfg;

		close(ready[0]);
		hostwatch_cfg_default(&cfg);
		cfg.ptr = NULL;
		cfg.round_ms = 100;
		if (hostwatch_start_cfg(&cfg, NULL, 0, &fd, &watcher) == 0 &&
		    write(ready[1], &watcher, sizeof(watcher)) < 0)
			_exit(1);
		_exit(0); /* fd stays open until the kernel closes it with us */
	}
	close(ready[1]);
	CHECK_EQ_INT(read(ready[0], &watcher, sizeof(watcher)), (long long)sizeof(watcher));
	close(ready[0]);
	waitpid(mid, &status, 0);
	if (watcher <= 0)
		return;
	/* Not our child, so no waitpid: poll for it to vanish (or turn zombie). */
	end = ms_now() + 5000;
	while (alive(watcher) && ms_now() < end)
		usleep(10000);
	CHECK(!alive(watcher));
	if (alive(watcher))
		kill(watcher, SIGKILL);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_hostwatch.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_name_norm);
	RUN(test_name_local);
	RUN(test_addr_ok);
	RUN(test_parse_hosts);
	RUN(test_parse_stops);
	RUN(test_parse_arp);
	RUN(test_parse_tcp);
	RUN(test_short_name);
	RUN(test_shorts);
	RUN(test_watch_own_sources);
	RUN(test_watch_this_machine);
	RUN(test_watch_dies_with_parent);
	rmdir(tmpdir);
	T_EXIT();
}
