/*
 * subnet: the parsed form of a routed or excluded network, as given on the
 * command line: IP[/W][:PORT[-PORT]], IPv6 in brackets, or a hostname.
 */
#ifndef SLUICE_SUBNET_H
#define SLUICE_SUBNET_H

#include <stddef.h>
#include <stdint.h>

struct subnet {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; IPv4 uses the first 4 bytes; host bits are zero */
	uint8_t prefix;	  /* 0..32 or 0..128 */
	uint16_t port_lo; /* host byte order; 0..65535 together mean every port */
	uint16_t port_hi;
};

#define SUBNET_STRLEN 64 /* "[v6/128]:65535-65535" fits */

/*
 * Parse one argument. A hostname expands to all of its addresses, so the
 * result may hold several entries. Returns the number of entries written
 * (>= 1) or a negative errno: -EINVAL for bad syntax, -ENOENT for a name
 * that does not resolve, -ENOSPC when more than max would be needed.
 */
int subnet_parse(const char *arg, struct subnet *out, size_t max);

/*
 * subnet_parse, and on failure a one-line reason without the argument
 * itself ("prefix length must be 0-32") in err, so the caller can name the
 * bad value. err may be NULL.
 */
int subnet_parse_err(const char *arg, struct subnet *out, size_t max, char *err, size_t errlen);

/*
 * "192.0.2.0/24", "[2001:db8::]/64:80-90" and so on. Returns 0, -ENOSPC, or
 * -EINVAL for an unknown family.
 */
int subnet_format(const struct subnet *s, char *buf, size_t len);

/*
 * PORT or LOW-HIGH in the n bytes at s, as a subnet's :PORT[-PORT] and
 * the client's --interactive-ports write them: decimal, 1 to 65535. 0;
 * -ERANGE for a range written backwards (*lo and *hi then hold it as
 * written); -EINVAL for anything else.
 */
int subnet_parse_port_range(const char *s, size_t n, uint16_t *lo, uint16_t *hi);

/* True when s covers every port. */
int subnet_all_ports(const struct subnet *s);

/* True when addr (family, 4 or 16 bytes) lies inside s, ignoring ports. */
int subnet_contains(const struct subnet *s, int family, const void *addr);

#endif
