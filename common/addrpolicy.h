/*
 * addrpolicy: the one table of special address ranges, which both ends
 * apply: what a tunnel must never carry and what no learned name may point
 * at (unspecified, loopback, link-local, multicast, broadcast, reserved,
 * IPv4-mapped).
 * Only libc: the static helper links this file.
 */
#ifndef SLUICE_ADDRPOLICY_H
#define SLUICE_ADDRPOLICY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The special range that the network addr/prefix touches, by name
 * ("loopback", "link-local", ...), or NULL when it touches none. With
 * overlap false the network must lie wholly inside the range; with overlap
 * true any shared address counts (so 128.0.0.0/1 touches multicast).
 * addr holds 4 or 16 bytes by family; an unknown family is "unknown family".
 */
const char *addrpolicy_net(int family, const uint8_t *addr, unsigned prefix, bool overlap);

/* The special range a single address lies in, or NULL for an ordinary address. */
const char *addrpolicy_addr(int family, const uint8_t *addr);

/* True when the first bits bits of a and b agree. */
bool addrpolicy_prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits);

#endif
