/*
 * bindset: one socket per address, all on the same port, so one nft
 * redirect serves IPv4 and IPv6 alike: the port given, or one the kernel
 * picks free on the first address, tried on the others and picked again
 * (a bounded number of times) when one of them has it taken. IPv6 sockets
 * are v6-only, so they never hold the IPv4 side of the port.
 */
#ifndef SLUICE_BINDSET_H
#define SLUICE_BINDSET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define BINDSET_MAX   4
#define BINDSET_TRIES 16

/*
 * type is SOCK_STREAM (then listening, with backlog) or SOCK_DGRAM; the
 * sockets are non-blocking and close-on-exec. addrs[i]'s port is ignored
 * but for addrs[0]'s (0: any free one). On success fds[0..n-1] and *port
 * are set and 0 returned; else -errno, *bad the address that failed, and
 * nothing left open.
 */
int bindset_open(int type, int backlog, const struct sockaddr_storage *addrs, size_t n, int *fds,
		 uint16_t *port, size_t *bad);

#endif
