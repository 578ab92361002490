/*
 * tun: the TUN device one tunnel's datagrams (UDP, ping) are routed into.
 * It owns the device's creation and its settings; routing to it is
 * rtnl's, marking packets for it the firewall's. The device is not
 * persistent: it goes when the last descriptor of it is closed, so a
 * SIGKILL of every holder leaves nothing behind. A holder may make it
 * persistent all the same (TUNSETPERSIST needs no privilege): the part
 * deletes it by index when it ends (rtnl_link_del), and the next part
 * sweeps a killed part's (rtnl_links_sweep).
 */
#ifndef SLUICE_TUN_H
#define SLUICE_TUN_H

#include <stddef.h>
#include <stdint.h>

/* One per privileged part, named by its pid: "sluice" and at most 7 digits fit IFNAMSIZ. */
#define TUN_NAME_FMT "sluice%u"

/*
 * The largest MTU a TUN takes. The user's side relays whole datagrams over
 * the SSH channel whatever their size, so the device should never make the
 * kernel fragment one (or answer "too big") on its way in: what the
 * application sent is what reaches the remote end.
 */
#define TUN_MTU 65535

/*
 * Create the device for id (TUN_NAME_FMT), without packet information
 * headers, with TUN_MTU, and bring it up. Before it is up: IPv4
 * src_valid_mark=1, so that the mark the firewall sets on packets coming
 * out of it decides the reverse-path check as it decides their replies'
 * route (strict rp_filter then accepts them); IPv6 accept_ra=0 and
 * addr_gen_mode=1, so that it gets no link-local address and the kernel
 * itself sends nothing into it. Where there is no IPv6 its settings are
 * skipped. *fd (close-on-exec) holds the device; *ifindex and name (len
 * bytes) name it. 0 or -errno; on failure nothing is left.
 */
int tun_create(uint32_t id, char *name, size_t len, int *fd, int *ifindex);

/* Whether fd is a TUN device's descriptor attached to the device name. 0 or -errno. */
int tun_check(int fd, const char *name);

#endif
