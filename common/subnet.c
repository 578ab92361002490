/*
 * subnet: parsing, printing and matching of the networks given on the
 * command line, IP[/W][:PORT[-PORT]]. The static helper links this too, so
 * it uses nothing beyond libc.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "errbuf.h"
#include "subnet.h"

#define HOSTNAME_MAX 253

/* The pieces of an argument, before the address is understood. */
struct spec {
	const char *addr;
	size_t addr_len;
	int v6_only;	   /* bracketed or bare IPv6: never a host name */
	const char *width; /* NULL when no "/W" */
	size_t width_len;
	uint16_t port_lo;
	uint16_t port_hi;
};

/* Decimal digits only: no sign, no spaces, no base prefixes. */
static int parse_uint(const char *s, size_t n, unsigned long max, unsigned long *v)
{
	unsigned long x = 0;
	size_t i;

	if (n == 0 || n > 9)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (unsigned long)(s[i] - '0');
	}
	if (x > max)
		return -1;
	*v = x;
	return 0;
}

int subnet_parse_port_range(const char *s, size_t n, uint16_t *lo, uint16_t *hi)
{
	const char *dash = memchr(s, '-', n);
	size_t lo_len = dash ? (size_t)(dash - s) : n;
	unsigned long a = 0, b = 0;

	if (parse_uint(s, lo_len, 65535, &a) < 0 || a == 0)
		return -EINVAL;
	b = a;
	if (dash && (parse_uint(dash + 1, n - lo_len - 1, 65535, &b) < 0 || b == 0))
		return -EINVAL;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return a > b ? -ERANGE : 0;
}

static int parse_ports(const char *s, struct spec *sp, char *err, size_t errlen)
{
	int ret = subnet_parse_port_range(s, strlen(s), &sp->port_lo, &sp->port_hi);

	if (ret == -ERANGE)
		return errbuf_set(err, errlen, -EINVAL, "port range %u-%u is backwards",
				  sp->port_lo, sp->port_hi);
	if (ret < 0)
		return errbuf_set(err, errlen, -EINVAL, "port must be 1-65535");
	return 0;
}

/*
 * Dotted decimal. With allow_short, missing trailing octets are zero, as
 * iproute2 reads "10/8"; inet_aton would read "10" as 0.0.0.10 instead.
 * Leading zeros are refused since some tools read them as octal.
 */
static int parse_ip4(const char *s, size_t n, int allow_short, uint8_t out[4])
{
	size_t i = 0, start;
	unsigned long v = 0;
	int count = 0;

	memset(out, 0, 4);
	for (;;) {
		start = i;
		while (i < n && s[i] != '.')
			i++;
		if (count == 4 || parse_uint(s + start, i - start, 255, &v) < 0)
			return -1;
		if (i - start > 1 && s[start] == '0')
			return -1;
		out[count++] = (uint8_t)v;
		if (i == n)
			break;
		i++; /* the dot; a trailing one leaves an empty octet, refused above */
	}
	return count == 4 || allow_short ? 0 : -1;
}

static int parse_ip6(const char *s, size_t n, uint8_t out[16])
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, out) == 1 ? 0 : -1;
}

static void mask_host_bits(uint8_t *a, size_t bytes, unsigned prefix)
{
	size_t i;

	for (i = 0; i < bytes; i++) {
		if (prefix >= 8) {
			prefix -= 8;
			continue;
		}
		a[i] &= (uint8_t)(0xff00u >> prefix);
		prefix = 0;
	}
}

/* Split arg into address, width and ports, checking the ports on the way. */
static int split(const char *arg, struct spec *sp, char *err, size_t errlen)
{
	const char *p, *c;
	int colons = 0;

	memset(sp, 0, sizeof(*sp));
	sp->port_lo = 0;
	sp->port_hi = 65535;
	for (c = arg; *c; c++)
		colons += *c == ':';

	if (arg[0] == '[') {
		c = strchr(arg, ']');
		if (!c)
			return errbuf_set(err, errlen, -EINVAL, "missing ']'");
		sp->addr = arg + 1;
		sp->addr_len = (size_t)(c - sp->addr);
		sp->v6_only = 1;
		p = c + 1;
	} else if (colons >= 2) {
		/* Bare IPv6: without brackets a port can follow only after a width. */
		sp->addr = arg;
		sp->addr_len = strcspn(arg, "/");
		sp->v6_only = 1;
		p = arg + sp->addr_len;
	} else {
		sp->addr = arg;
		sp->addr_len = strcspn(arg, "/:");
		p = arg + sp->addr_len;
	}

	if (*p == '/') {
		sp->width = p + 1;
		sp->width_len = strcspn(sp->width, ":");
		p = sp->width + sp->width_len;
	}
	if (*p == ':')
		return parse_ports(p + 1, sp, err, errlen);
	if (*p)
		return errbuf_set(err, errlen, -EINVAL, "unexpected '%s'", p);
	return 0;
}

static int parse_width(const struct spec *sp, int family, unsigned *prefix, char *err,
		       size_t errlen)
{
	unsigned max = family == AF_INET ? 32 : 128;
	unsigned long v = 0;

	if (!sp->width) {
		*prefix = max;
		return 0;
	}
	if (parse_uint(sp->width, sp->width_len, max, &v) < 0)
		return errbuf_set(err, errlen, -EINVAL, "prefix length must be 0-%u", max);
	*prefix = (unsigned)v;
	return 0;
}

static int fill(const struct spec *sp, int family, const void *addr, struct subnet *s, char *err,
		size_t errlen)
{
	size_t bytes = family == AF_INET ? 4 : 16;
	unsigned prefix = 0;
	int ret;

	ret = parse_width(sp, family, &prefix, err, errlen);
	if (ret < 0)
		return ret;
	memset(s, 0, sizeof(*s));
	s->family = family;
	memcpy(s->addr, addr, bytes);
	s->prefix = (uint8_t)prefix;
	s->port_lo = sp->port_lo;
	s->port_hi = sp->port_hi;
	mask_host_bits(s->addr, bytes, prefix);
	return 0;
}

static int is_numeric(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((s[i] < '0' || s[i] > '9') && s[i] != '.')
			return 0;
	return 1;
}

static int is_hostname(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > HOSTNAME_MAX)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'))
			return 0;
	}
	return 1;
}

static int contains_same(const struct subnet *list, size_t n, const struct subnet *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!memcmp(&list[i], s, sizeof(*s)))
			return 1;
	return 0;
}

/* A host name stands for every address it has, of either family. */
static int resolve(const struct spec *sp, struct subnet *out, size_t max, char *err, size_t errlen)
{
	char host[HOSTNAME_MAX + 1];
	struct addrinfo hints, *res = NULL, *ai;
	struct subnet s;
	size_t n = 0;
	int ret, gai;

	memcpy(host, sp->addr, sp->addr_len);
	host[sp->addr_len] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	/* One entry per address rather than one per socket type. */
	hints.ai_socktype = SOCK_STREAM;
	gai = getaddrinfo(host, NULL, &hints, &res);
	switch (gai) {
	case 0:
		break;
	case EAI_MEMORY:
		return errbuf_set(err, errlen, -ENOMEM, "out of memory");
	case EAI_SYSTEM:
		ret = errno ? -errno : -EIO;
		return errbuf_set(err, errlen, ret, "cannot resolve host name: %s", strerror(-ret));
	default:
		return errbuf_set(err, errlen, -ENOENT, "cannot resolve host name: %s",
				  gai_strerror(gai));
	}

	ret = 0;
	for (ai = res; ai; ai = ai->ai_next) {
		const void *a;

		if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in))
			a = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
		else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(struct sockaddr_in6))
			a = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		else
			continue;
		ret = fill(sp, ai->ai_family, a, &s, err, errlen);
		if (ret < 0)
			goto out;
		if (contains_same(out, n, &s))
			continue;
		if (n == max) {
			ret = errbuf_set(err, errlen, -ENOSPC, "host name has too many addresses");
			goto out;
		}
		out[n++] = s;
	}
	if (n == 0)
		ret = errbuf_set(err, errlen, -ENOENT, "host name has no IPv4 or IPv6 address");
	else
		ret = (int)n;
out:
	freeaddrinfo(res);
	return ret;
}

int subnet_parse_err(const char *arg, struct subnet *out, size_t max, char *err, size_t errlen)
{
	uint8_t addr[16];
	struct spec sp;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!arg || !*arg)
		return errbuf_set(err, errlen, -EINVAL, "empty");
	if (max == 0)
		return errbuf_set(err, errlen, -ENOSPC, "no room for the result");
	ret = split(arg, &sp, err, errlen);
	if (ret < 0)
		return ret;
	if (sp.addr_len == 0)
		return errbuf_set(err, errlen, -EINVAL, "missing address");

	if (sp.v6_only) {
		if (parse_ip6(sp.addr, sp.addr_len, addr) < 0)
			return errbuf_set(err, errlen, -EINVAL, "not an IPv6 address");
		ret = fill(&sp, AF_INET6, addr, out, err, errlen);
		return ret < 0 ? ret : 1;
	}
	if (is_numeric(sp.addr, sp.addr_len)) {
		/* Never handed to the resolver, which would read "10" as 0.0.0.10. */
		if (parse_ip4(sp.addr, sp.addr_len, sp.width != NULL, addr) < 0)
			return errbuf_set(err, errlen, -EINVAL, "not an IPv4 address");
		ret = fill(&sp, AF_INET, addr, out, err, errlen);
		return ret < 0 ? ret : 1;
	}
	if (!is_hostname(sp.addr, sp.addr_len))
		return errbuf_set(err, errlen, -EINVAL, "not an address or host name");
	return resolve(&sp, out, max, err, errlen);
}

int subnet_parse(const char *arg, struct subnet *out, size_t max)
{
	return subnet_parse_err(arg, out, max, NULL, 0);
}

int subnet_all_ports(const struct subnet *s)
{
	return s->port_lo == 0 && s->port_hi == 65535;
}

int subnet_format(const struct subnet *s, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], ports[16] = "";
	int n;

	if (len == 0)
		return -ENOSPC;
	buf[0] = '\0';
	if ((s->family != AF_INET && s->family != AF_INET6) ||
	    !inet_ntop(s->family, s->addr, a, sizeof(a)))
		return -EINVAL;
	if (!subnet_all_ports(s)) {
		if (s->port_lo == s->port_hi)
			snprintf(ports, sizeof(ports), ":%u", (unsigned)s->port_lo);
		else
			snprintf(ports, sizeof(ports), ":%u-%u", (unsigned)s->port_lo,
				 (unsigned)s->port_hi);
	}
	if (s->family == AF_INET6)
		n = snprintf(buf, len, "[%s]/%u%s", a, (unsigned)s->prefix, ports);
	else
		n = snprintf(buf, len, "%s/%u%s", a, (unsigned)s->prefix, ports);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

int subnet_contains(const struct subnet *s, int family, const void *addr)
{
	const uint8_t *a = addr;
	unsigned full = s->prefix / 8, rest = s->prefix % 8;
	uint8_t mask;

	if (family != s->family)
		return 0;
	if (s->prefix > (family == AF_INET ? 32 : 128))
		return 0;
	if (memcmp(a, s->addr, full))
		return 0;
	if (!rest)
		return 1;
	mask = (uint8_t)(0xff00u >> rest);
	return (a[full] & mask) == s->addr[full];
}
