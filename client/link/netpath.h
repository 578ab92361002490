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

/*
 * 0 when the path looks usable, or when fd is no TCP socket over IP (a
 * proxy's pipe, -e's socket pair: nothing to say). -ENETUNREACH when this
 * machine has no route to the peer. -EADDRNOTAVAIL when it has one but the
 * connection's own address is gone from this machine; self (when not
 * NULL) then holds that address, printable.
 */
int netpath_check(int fd, char *self, size_t selflen);

#endif
