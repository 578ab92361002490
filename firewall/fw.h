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

#define FW_TABLE_NAME "sluice"

struct fw_spec {
	uint16_t redirect_port; /* host byte order: where the listeners are */
	const struct subnet *include;
	size_t n_include;
	/* User excludes plus the automatic exclude of the SSH server's address:port. */
	const struct subnet *exclude;
	size_t n_exclude;
	/* Also redirect forwarded traffic (listening on a non-loopback address). */
	bool prerouting;
};

struct fw;

/* Open the netlink socket the table will belong to. Returns 0 or -errno. */
int fw_open(struct fw **out);

/*
 * One batch: delete a stale table of ours, create the table (owned by this
 * socket where the kernel supports NFT_TABLE_F_OWNER), its chains, sets and
 * rules. Returns 0 or -errno (-EPERM: no CAP_NET_ADMIN, -EOPNOTSUPP/-ENOENT:
 * missing nat/redir support in the kernel).
 */
int fw_install(struct fw *fw, const struct fw_spec *spec);

/* Replace the contents of the subnet sets in place, in one batch. */
int fw_update(struct fw *fw, const struct fw_spec *spec);

/* Delete the table. Safe to call when nothing is installed. */
int fw_remove(struct fw *fw);

/* Close the socket (the kernel drops an owned table with it). */
void fw_close(struct fw *fw);

/* A one-line explanation of an error returned above, for the user. */
const char *fw_strerror(int err);

#endif
