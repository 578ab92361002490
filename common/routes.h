/*
 * routes: a host's routes, read from the kernel (rtnetlink, no `ip`
 * binary). The helper reports the remote's for -N; the client reads its own
 * to skip networks it is directly attached to. Only networks worth routing
 * through a tunnel are kept: no default routes, no link-local, loopback or
 * multicast.
 */
#ifndef SLUICE_ROUTES_H
#define SLUICE_ROUTES_H

#include <stddef.h>

#include "../common/subnet.h"

#define ROUTES_CONNECTED 1u /* only networks reached without a gateway */

/*
 * Dump the main routing table, IPv4 and IPv6, into out (ports: all).
 * Sorted and without duplicates, so two reads compare with memcmp.
 * Returns the number of routes (<= max; extra ones are dropped) or -errno.
 */
int routes_read(struct subnet *out, size_t max, unsigned flags);

#endif
