/*
 * netpath: whether the network still lets one of our TCP connections reach
 * its peer: a route to the peer's address, and the connection's own address
 * still on this machine. The tunnel asks when the server has gone quiet, to
 * tell a network that is down for a while (Wi-Fi coming back after a
 * resume: the connection may live on) from one that changed under it (a
 * new address: the connection is dead, whatever the server does).
 */
#ifndef SLUICE_NETPATH_H
#define SLUICE_NETPATH_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * 0 when the path looks usable. -ENETUNREACH when this machine has no
 * route to the peer. -EADDRNOTAVAIL when it has one but the connection's
 * own address is gone from this machine; self (when not NULL) then holds
 * that address, printable. -ENOTSOCK when fd is no TCP socket over IP (a
 * proxy's pipe, -e's socket pair): the connection is another process's,
 * and netpath_route is all there is to ask.
 */
int netpath_check(int fd, char *self, size_t selflen);

/*
 * For a connection another process holds (-e's ssh): 0 when any of the n
 * server addresses has a route, or when none is known (a proxy's), and
 * -ENETUNREACH when none has.
 */
int netpath_route(const struct sockaddr_storage *peers, size_t n);

#endif
