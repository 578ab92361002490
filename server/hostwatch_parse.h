/*
 * hostwatch_parse: the pure parts of hostwatch, apart so the unit tests can
 * run them without a child process: host name checks, the parsers for
 * /etc/hosts, /proc/net/arp and /proc/net/tcp{,6}, and the short-name rule.
 * Also the watcher's knobs, so a test can point it at its own files and a
 * fake resolver instead of this machine's.
 */
#ifndef SLUICE_HOSTWATCH_PARSE_H
#define SLUICE_HOSTWATCH_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/hostname.h"

#define HOSTWATCH_NAME_MAX HOSTNAME_MAX

/*
 * True when the address is a real peer worth naming: not unspecified,
 * loopback, link-local, multicast, broadcast, or IPv4-mapped IPv6.
 */
int hostwatch_addr_ok(int family, const uint8_t *addr);

/* A negative return from a callback stops the parser, which returns it. */
typedef int (*hostwatch_name_cb)(int family, const uint8_t *addr, const char *name, void *arg);
typedef int (*hostwatch_addr_cb)(int family, const uint8_t *addr, void *arg);

/* hosts(5) text: one call per usable (address, normalized name). */
int hostwatch_parse_hosts(const char *text, size_t len, hostwatch_name_cb cb, void *arg);

/* /proc/net/arp text: one call per complete entry with a usable address. */
int hostwatch_parse_arp(const char *text, size_t len, hostwatch_addr_cb cb, void *arg);

/*
 * /proc/net/tcp (family AF_INET) or /proc/net/tcp6 (AF_INET6) text: one
 * call per remote address of an established connection. IPv4-mapped
 * addresses are passed as AF_INET.
 */
int hostwatch_parse_tcp(const char *text, size_t len, int family, hostwatch_addr_cb cb, void *arg);

/* The first label of a dotted name ("web" for "web.corp.example"): 0 or -EINVAL. */
int hostwatch_short_name(const char *fqdn, char *out, size_t outlen);

/* One (address, name) pair the watcher has reported. */
struct hostwatch_pair {
	int family;
	uint8_t addr[16];
	char name[HOSTWATCH_NAME_MAX + 1];
	uint8_t derived; /* a short name made from another pair */
};

/*
 * Call cb(i, short_name) for each non-derived pair i with a dotted name
 * whose first label no other dotted name in pairs shares, and that no
 * non-derived pair already uses as a name for another address.
 */
int hostwatch_shorts(const struct hostwatch_pair *pairs, size_t n,
		     int (*cb)(size_t i, const char *short_name, void *arg), void *arg);

struct hostwatch_cfg {
	const char *hosts_path; /* NULL skips a source */
	const char *arp_path;
	const char *tcp4_path;
	const char *tcp6_path;
	int neigh6; /* dump the IPv6 neighbour table */
	/* reverse lookup; NULL: none. 0 and a name in name[len], or -errno */
	int (*ptr)(int family, const uint8_t *addr, char *name, size_t len);
	/* forward lookup: 1 when name resolves to addr, 0 when not, -errno; NULL: never believed */
	int (*forward)(int family, const uint8_t *addr, const char *name);
	unsigned round_ms;     /* between scans of the sources */
	unsigned ptr_gap_ms;   /* between two reverse lookups */
	unsigned ptr_again_ms; /* before an address (or a seed) is looked up again */
};

/* The real sources, a round every 10 s, 5 lookups a second, each address every 10 min. */
void hostwatch_cfg_default(struct hostwatch_cfg *cfg);

/* hostwatch_start with cfg's sources and pace; cfg is copied. */
int hostwatch_start_cfg(const struct hostwatch_cfg *cfg, const char *const *seeds, size_t n_seeds,
			int *fd, pid_t *pid);

#endif
