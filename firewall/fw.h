/*
 * fw: the firewall boundary. Everything about nftables lives behind this
 * small interface so that it can later move into a separate privileged
 * process that talks to the client over a socketpair.
 */
#ifndef SLUICE_FW_H
#define SLUICE_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/subnet.h"

#define FW_TABLE_NAME "sluice" /* tables are "sluice" or "sluice-SOMETHING" */
#define FW_TABLE_MAX  32
/* An instance's: its privileged part's pid makes it unique while the part lives. */
#define FW_TABLE_FMT FW_TABLE_NAME "-%u"

struct fw_spec {
	uint16_t redirect_port; /* host byte order: where the listeners are */
	const struct subnet *include;
	size_t n_include;
	/* User excludes plus the automatic exclude of the SSH server's address:port. */
	const struct subnet *exclude;
	size_t n_exclude;
	/* Also redirect forwarded traffic (listening on a non-loopback address). */
	bool prerouting;
	/*
	 * --dns: DNS to these nameservers (addresses only; prefix is /32 or
	 * /128, ports ignored) is captured before any other rule, including the
	 * local-address return, since nameservers are often local (127.0.0.53):
	 * UDP port 53 is redirected to dns_port, TCP port 53 to redirect_port.
	 * At most 64 (NFT_DNS_MAX) of them, and dns_port must be set; -EINVAL
	 * otherwise. Fixed at install, like the port-specific subnets.
	 * n_dns == 0: no DNS rules, and dns_port is ignored.
	 */
	const struct subnet *dns;
	size_t n_dns;
	uint16_t dns_port; /* host byte order; the client's UDP DNS listener */
	/*
	 * --user/--group: on the output chain, only sockets owned by this uid
	 * (effective gid) are captured, DNS included; everything else returns
	 * first. With both, both must match.
	 * Forwarded traffic (prerouting) has no owner and is not affected.
	 */
	bool by_uid, by_gid;
	uint32_t uid, gid;
};

struct fw;

/*
 * Open the netlink socket the table will belong to, for the table named
 * table (FW_TABLE_NAME, or one that starts with it: one per instance; at
 * most FW_TABLE_MAX - 1 bytes). Returns 0 or -errno.
 */
int fw_open(struct fw **out, const char *table);

/* The table's name, for the log. */
const char *fw_table(const struct fw *fw);

/*
 * One batch, applied by the kernel all or nothing: replace any stale table
 * of ours, then create the inet table named at fw_open, owned by this socket
 * where the kernel supports NFT_TABLE_F_OWNER (Linux 5.12; older kernels
 * get an unowned table), with nat chains on output and prerouting, four
 * interval sets (inc4, inc6, exc4, exc6) and the rules. Only TCP is
 * redirected, never to this machine's own addresses; DNS to spec->dns is
 * the exception and comes first (UDP too, and on output local nameservers
 * too; forwarded traffic to this machine is never captured). All-ports
 * subnets go into the sets; port-specific ones become rules of their own.
 * Excludes win over includes: every exclude is checked before any include.
 * The prerouting chain stays empty unless spec->prerouting. Calling it again
 * replaces the whole table atomically.
 *
 * Returns 0 or -errno: -EPERM no CAP_NET_ADMIN, -EBUSY the table belongs to
 * another running sluice, -EOPNOTSUPP missing nat/redir/fib support in the
 * kernel, -EPROTONOSUPPORT/-EAFNOSUPPORT no nf_tables at all, -EINVAL a bad
 * subnet or port 0 in spec, -EPROTO the kernel refused the batch otherwise.
 * On failure the previous table, if any, is left as it was.
 */
int fw_install(struct fw *fw, const struct fw_spec *spec);

/*
 * Replace the contents of the four sets in one batch, leaving the rules
 * (and so established connections) alone. Only the all-ports subnets of
 * spec are used: its port-specific subnets, redirect_port, prerouting and
 * nameservers (with dns_port) must equal those of the last fw_install
 * (-EINVAL otherwise; install again to change them). -ENOENT when nothing
 * is installed or the table is gone.
 */
int fw_update(struct fw *fw, const struct fw_spec *spec);

/* Room for a device name, as the kernel's IFNAMSIZ. */
#define FW_IFNAME_MAX 16

/*
 * Datagram capture into the TUN device tun, in the installed table, in one
 * batch: UDP and ICMP/ICMPv6 echo requests to the routed networks (output,
 * and with spec->prerouting forwarded ones too) get mark, which policy
 * routing sends into tun; the same owner rules, local-destination return
 * and excludes apply as for TCP, port-specific subnets as UDP ports. What
 * comes out of tun passes only as UDP or ICMP from the routed networks
 * (and without spec->prerouting, only to this machine), marked so the
 * reverse-path check routes its source back into tun; the rest is dropped.
 * The chains use the table's sets, so fw_update needs no call here; called
 * again, it rebuilds the chains. spec must be the installed one (its
 * all-ports subnets may differ: -EINVAL otherwise). 0 or -errno as
 * fw_install; -ENOENT when nothing is installed.
 */
int fw_capture_datagrams(struct fw *fw, const struct fw_spec *spec, const char *tun, uint32_t mark);

/* Delete the table. Safe to call when nothing is installed. */
int fw_remove(struct fw *fw);

/*
 * Close the socket. The kernel drops an owned table with it, also when the
 * process dies by SIGKILL; an unowned one (old kernels) needs fw_remove
 * first. The socket is close-on-exec, but a fork()ed child that does not
 * exec holds it, and so keeps an owned table alive, until it exits.
 */
void fw_close(struct fw *fw);

/* A one-line explanation of an error returned above, for the user. */
const char *fw_strerror(int err);

#endif
