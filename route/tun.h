/*
 * tun: the TUN device one tunnel's datagrams (UDP, ping) are routed into.
 * It owns the device's creation; its settings, bringing it up and routing
 * to it are rtnl's (rtnl_tun_up), marking packets for it the firewall's. The device is not
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
 * headers, with TUN_MTU, down: rtnl_tun_up gives it its settings, which
 * must be in place before it is up, and brings it up. *fd (close-on-exec)
 * holds the device; *ifindex and name (len bytes) name it. 0 or -errno;
 * on failure nothing is left.
 */
int tun_create(uint32_t id, char *name, size_t len, int *fd, int *ifindex);

/* Whether fd is a TUN device's descriptor attached to the device name. 0 or -errno. */
int tun_check(int fd, const char *name);

#endif
