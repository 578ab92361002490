/*
 * test_subnet: the IP[/W][:PORT[-PORT]] parser, its canonical printing,
 * and prefix matching.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "../../common/subnet.h"
#include "t.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *in, *want;
} good[] = {
    {"10.1.0.0/16", "10.1.0.0/16"},
    {"10.1.2.3", "10.1.2.3/32"},
    {"10.1.2.3/16", "10.1.0.0/16"},
    {"192.0.2.130/25", "192.0.2.128/25"},
    {"192.0.2.255/31", "192.0.2.254/31"},
    {"0/0", "0.0.0.0/0"},
    {"10/8", "10.0.0.0/8"},
    {"172.16/12", "172.16.0.0/12"},
    {"198.51.100/24", "198.51.100.0/24"},
    {"255.255.255.255/1", "128.0.0.0/1"},
    {"10.0.0.0/8:80", "10.0.0.0/8:80"},
    {"10.0.0.0/8:8000-9000", "10.0.0.0/8:8000-9000"},
    {"10.0.0.0/8:443-443", "10.0.0.0/8:443"},
    {"10.0.0.0/8:1-65535", "10.0.0.0/8:1-65535"},
    {"192.0.2.1:22", "192.0.2.1/32:22"},
    {"0/0:65535", "0.0.0.0/0:65535"},
    {"10.0.0.0/08", "10.0.0.0/8"},
    {"[2001:db8:5::]/64", "[2001:db8:5::]/64"},
    {"[2001:db8::1]", "[2001:db8::1]/128"},
    {"[::]/0", "[::]/0"},
    {"::/0", "[::]/0"},
    {"2001:db8::1", "[2001:db8::1]/128"},
    {"2001:DB8::A/127", "[2001:db8::a]/127"},
    {"[2001:db8::]/64:443", "[2001:db8::]/64:443"},
    {"[2001:db8::ffff]/112:80-90", "[2001:db8::]/112:80-90"},
    {"[2001:db8:1:2:3:4:5:6]/33", "[2001:db8::]/33"},
    {"[2001:db8:ffff::]/35", "[2001:db8:e000::]/35"},
    {"2001:db8::/48:80", "[2001:db8::]/48:80"},
    {"[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]/128"},
    {"[2001:db8::1]:8080", "[2001:db8::1]/128:8080"},
};

static void test_good(void)
{
	char buf[SUBNET_STRLEN], err[128];
	struct subnet s[4];
	size_t i;

	for (i = 0; i < ARRAY_LEN(good); i++) {
		int n = subnet_parse_err(good[i].in, s, ARRAY_LEN(s), err, sizeof(err));

		if (n != 1)
			printf("  input '%s': %d %s\n", good[i].in, n, err);
		CHECK_EQ_INT(n, 1);
		CHECK_EQ_INT(subnet_format(&s[0], buf, sizeof(buf)), 0);
		CHECK_STR(buf, good[i].want);
		/* The printed form parses back to the same thing. */
		{
			struct subnet again;

			CHECK_EQ_INT(subnet_parse(buf, &again, 1), 1);
			CHECK(!memcmp(&again, &s[0], sizeof(again)));
		}
	}
}

static void test_fields(void)
{
	struct subnet s;
	const uint8_t want6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 5};

	CHECK_EQ_INT(subnet_parse("10.1.2.3/16:8000-9000", &s, 1), 1);
	CHECK_EQ_INT(s.family, AF_INET);
	CHECK_EQ_INT(s.prefix, 16);
	CHECK(s.addr[0] == 10 && s.addr[1] == 1 && s.addr[2] == 0 && s.addr[3] == 0);
	CHECK_EQ_INT(s.port_lo, 8000);
	CHECK_EQ_INT(s.port_hi, 9000);
	CHECK(!subnet_all_ports(&s));

	CHECK_EQ_INT(subnet_parse("[2001:db8:5::7]/64", &s, 1), 1);
	CHECK_EQ_INT(s.family, AF_INET6);
	CHECK_EQ_INT(s.prefix, 64);
	CHECK(!memcmp(s.addr, want6, 16));
	CHECK_EQ_INT(s.port_lo, 0);
	CHECK_EQ_INT(s.port_hi, 65535);
	CHECK(subnet_all_ports(&s));
}

static const struct {
	const char *in, *why;
} bad[] = {
    {"", "empty"},
    {"10.0.0.0/33", "prefix length must be 0-32"},
    {"10.0.0.0/-1", "prefix length must be 0-32"},
    {"10.0.0.0/abc", "prefix length must be 0-32"},
    {"10.0.0.0/", "prefix length must be 0-32"},
    {"10.0.0.0/8x", "prefix length must be 0-32"},
    {"10.0.0.0/8 ", "prefix length must be 0-32"},
    {"10.0.0.0/+8", "prefix length must be 0-32"},
    {"10.0.0.0/4294967304", "prefix length must be 0-32"},
    {"[::]/129", "prefix length must be 0-128"},
    {"::/200", "prefix length must be 0-128"},
    {"10.0.0.0/8:0", "port must be 1-65535"},
    {"10.0.0.0/8:70000", "port must be 1-65535"},
    {"10.0.0.0/8:65536", "port must be 1-65535"},
    {"10.0.0.0/8:", "port must be 1-65535"},
    {"10.0.0.0/8:80-", "port must be 1-65535"},
    {"10.0.0.0/8:-80", "port must be 1-65535"},
    {"10.0.0.0/8:80x", "port must be 1-65535"},
    {"10.0.0.0/8:0-80", "port must be 1-65535"},
    {"10.0.0.0/8:80-90-100", "port must be 1-65535"},
    {"10.0.0.0/8:9000-8000", "port range 9000-8000 is backwards"},
    {"[2001:db8::]/64:0", "port must be 1-65535"},
    {"256.0.0.1", "not an IPv4 address"},
    {"10.0.0", "not an IPv4 address"},
    {"10", "not an IPv4 address"},
    {"1.2.3.4.5", "not an IPv4 address"},
    {"1.2.3.4.5/8", "not an IPv4 address"},
    {"01.2.3.4", "not an IPv4 address"},
    {"1..3.4", "not an IPv4 address"},
    {"10./8", "not an IPv4 address"},
    {"[2001:db8::1", "missing ']'"},
    {"[2001:db8::1]x", "unexpected 'x'"},
    {"[2001:db8::1]/64/64", "prefix length must be 0-128"},
    {"[10.0.0.1]", "not an IPv6 address"},
    {"[2001:db8::1%eth0]", "not an IPv6 address"},
    {"[]", "missing address"},
    {"/24", "missing address"},
    {":80", "missing address"},
    {"2001:db8::zz", "not an IPv6 address"},
    {"1.2.3.4:80:90", "not an IPv6 address"},
    {"bad host!", "not an address or host name"},
    {"-foo", "not an address or host name"},
    {" 10.0.0.0/8", "not an address or host name"},
    {"h\xc3\xa9.test", "not an address or host name"},
};

static void test_bad(void)
{
	char err[128];
	struct subnet s[2];
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad); i++) {
		int n = subnet_parse_err(bad[i].in, s, ARRAY_LEN(s), err, sizeof(err));

		if (n != -EINVAL)
			printf("  input '%s': %d\n", bad[i].in, n);
		CHECK_EQ_INT(n, -EINVAL);
		CHECK_STR(err, bad[i].why);
		CHECK_EQ_INT(subnet_parse(bad[i].in, s, ARRAY_LEN(s)), -EINVAL);
	}
	CHECK_EQ_INT(subnet_parse(NULL, s, 1), -EINVAL);
}

static void test_no_room(void)
{
	struct subnet s;
	char err[64];

	CHECK_EQ_INT(subnet_parse("10.0.0.0/8", &s, 0), -ENOSPC);
	CHECK_EQ_INT(subnet_parse_err("10.0.0.0/8", &s, 1, NULL, 0), 1);
	/* A tiny err buffer truncates, never overflows. */
	CHECK_EQ_INT(subnet_parse_err("10.0.0.0/99", &s, 1, err, 7), -EINVAL);
	CHECK_STR(err, "prefix");
}

static int is_loopback(const struct subnet *s)
{
	static const uint8_t lo6[16] = {[15] = 1};
	static const uint8_t lo4[4] = {127, 0, 0, 1};

	if (s->family == AF_INET)
		return s->prefix == 32 && !memcmp(s->addr, lo4, 4);
	return s->family == AF_INET6 && s->prefix == 128 && !memcmp(s->addr, lo6, 16);
}

/* "localhost" comes from /etc/hosts: 127.0.0.1 and perhaps ::1, no DNS involved. */
static void test_hostname(void)
{
	struct subnet s[8];
	char buf[SUBNET_STRLEN], err[128];
	int n, i;

	n = subnet_parse("localhost", s, 8);
	CHECK(n >= 1 && n <= 2);
	for (i = 0; i < n; i++) {
		CHECK(is_loopback(&s[i]));
		CHECK(subnet_all_ports(&s[i]));
	}
	if (n == 2)
		CHECK(s[0].family != s[1].family);

	n = subnet_parse("localhost:8080-8081", s, 8);
	CHECK(n >= 1);
	for (i = 0; i < n; i++)
		CHECK(s[i].port_lo == 8080 && s[i].port_hi == 8081);

	n = subnet_parse("localhost/8", s, 8);
	CHECK(n >= 1);
	for (i = 0; i < n; i++) {
		CHECK_EQ_INT(s[i].prefix, 8);
		if (s[i].family == AF_INET) {
			CHECK_EQ_INT(subnet_format(&s[i], buf, sizeof(buf)), 0);
			CHECK_STR(buf, "127.0.0.0/8");
		}
	}

	CHECK_EQ_INT(subnet_parse_err("localhost/64", s, 8, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "prefix length must be 0-32");
	CHECK_EQ_INT(subnet_parse_err("localhost:0", s, 8, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "port must be 1-65535");
	/* A name is checked before it is resolved: this one never reaches the resolver. */
	CHECK_EQ_INT(subnet_parse("local host", s, 8), -EINVAL);
}

static void test_format(void)
{
	struct subnet s;
	char buf[SUBNET_STRLEN], small[12];

	memset(&s, 0, sizeof(s));
	s.family = AF_INET6;
	memset(s.addr, 0xff, 16);
	s.prefix = 128;
	s.port_lo = 65534;
	s.port_hi = 65535;
	CHECK_EQ_INT(subnet_format(&s, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]/128:65534-65535");

	CHECK_EQ_INT(subnet_parse("192.0.2.0/24:80", &s, 1), 1);
	CHECK_EQ_INT(subnet_format(&s, small, sizeof(small)), -ENOSPC);
	CHECK_STR(small, "");
	CHECK_EQ_INT(subnet_format(&s, small, 0), -ENOSPC);
	CHECK_EQ_INT(subnet_format(&s, buf, 16), 0);
	CHECK_STR(buf, "192.0.2.0/24:80");
	CHECK_EQ_INT(subnet_format(&s, buf, 15), -ENOSPC);

	s.family = AF_UNIX;
	CHECK_EQ_INT(subnet_format(&s, buf, sizeof(buf)), -EINVAL);
}

static const struct {
	const char *net, *addr;
	int want;
} contains[] = {
    {"10.0.0.0/8", "10.255.1.2", 1},
    {"10.0.0.0/8", "11.0.0.0", 0},
    {"0/0", "203.0.113.9", 1},
    {"192.0.2.128/25", "192.0.2.128", 1},
    {"192.0.2.128/25", "192.0.2.127", 0},
    {"192.0.2.128/25", "192.0.2.255", 1},
    {"192.0.2.7", "192.0.2.7", 1},
    {"192.0.2.7", "192.0.2.6", 0},
    {"172.16/12", "172.31.255.255", 1},
    {"172.16/12", "172.32.0.0", 0},
    {"10.0.0.0/8:80", "10.0.0.1", 1},
    {"10.0.0.0/8", "2001:db8::1", 0},
    {"[2001:db8::]/32", "2001:db8:ffff::1", 1},
    {"[2001:db8::]/32", "2001:db9::", 0},
    {"[2001:db8::]/33", "2001:db8:7fff::", 1},
    {"[2001:db8::]/33", "2001:db8:8000::", 0},
    {"[::]/0", "2001:db8::1", 1},
    {"[::]/0", "192.0.2.1", 0},
    {"[2001:db8::1]", "2001:db8::1", 1},
    {"[2001:db8::1]", "2001:db8::2", 0},
};

static void test_contains(void)
{
	struct subnet s;
	uint8_t a[16];
	size_t i;

	for (i = 0; i < ARRAY_LEN(contains); i++) {
		int family = strchr(contains[i].addr, ':') ? AF_INET6 : AF_INET;

		CHECK_EQ_INT(subnet_parse(contains[i].net, &s, 1), 1);
		CHECK_EQ_INT(inet_pton(family, contains[i].addr, a), 1);
		if (subnet_contains(&s, family, a) != contains[i].want)
			printf("  %s in %s?\n", contains[i].addr, contains[i].net);
		CHECK_EQ_INT(subnet_contains(&s, family, a), contains[i].want);
	}
}

/* A port range alone, as --interactive-ports's entries are: n bounds it, not a NUL. */
static void test_port_range(void)
{
	uint16_t lo = 0, hi = 0;

	CHECK_EQ_INT(subnet_parse_port_range("22,23", 2, &lo, &hi), 0);
	CHECK_EQ_INT(lo, 22);
	CHECK_EQ_INT(hi, 22);
	CHECK_EQ_INT(subnet_parse_port_range("5900-5909,1", 9, &lo, &hi), 0);
	CHECK_EQ_INT(lo, 5900);
	CHECK_EQ_INT(hi, 5909);
	CHECK_EQ_INT(subnet_parse_port_range("9-8", 3, &lo, &hi), -ERANGE);
	CHECK_EQ_INT(lo, 9);
	CHECK_EQ_INT(hi, 8);
	CHECK_EQ_INT(subnet_parse_port_range("", 0, &lo, &hi), -EINVAL);
	CHECK_EQ_INT(subnet_parse_port_range("0", 1, &lo, &hi), -EINVAL);
	CHECK_EQ_INT(subnet_parse_port_range("65536", 5, &lo, &hi), -EINVAL);
	CHECK_EQ_INT(subnet_parse_port_range("5-", 2, &lo, &hi), -EINVAL);
	CHECK_EQ_INT(subnet_parse_port_range("-5", 2, &lo, &hi), -EINVAL);
	CHECK_EQ_INT(subnet_parse_port_range("1-2-3", 5, &lo, &hi), -EINVAL);
}

int main(void)
{
	RUN(test_good);
	RUN(test_fields);
	RUN(test_bad);
	RUN(test_no_room);
	RUN(test_hostname);
	RUN(test_format);
	RUN(test_contains);
	RUN(test_port_range);
	T_EXIT();
}
