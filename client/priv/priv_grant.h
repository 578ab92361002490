/*
 * priv_grant: what a caller of the privileged part may capture, decided
 * from who the kernel says the caller is (SO_PEERCRED on the channel) and
 * which fixed entry point sudo let it run. The part enforces it on every
 * INSTALL; the user's side asks the same question first, so that a refusal
 * comes before the SSH login, as one line that says what to do.
 *
 * A caller that is not root holds the default sudo line: it may capture
 * its own sockets' traffic and nothing else, so it may not write host
 * lines either (every user's lookups read /etc/hosts). Root, or a caller the admin
 * gave the --all-users line, may capture anyone's, as before. Only a
 * caller that is not root has its nameservers checked: a user may capture
 * DNS only to the machine's own resolvers.
 */
#ifndef SLUICE_PRIV_GRANT_H
#define SLUICE_PRIV_GRANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../firewall/fw.h"

#define PRIV_GRANT_NS_MAX 16 /* nameservers read from resolv.conf */

struct priv_grant {
	uint32_t uid;	 /* the caller's */
	bool confined;	 /* only uid's own sockets: no router mode, no one else's */
	bool ns_checked; /* --dns only to ns[] or loopback */
	struct subnet ns[PRIV_GRANT_NS_MAX];
	size_t n_ns;
};

/*
 * The grant for a caller with this uid, entered with --all-users or not;
 * resolv_path names the resolv.conf whose nameservers a user may capture
 * (read only for a caller that is not root). Returns 0 or -errno (a
 * missing file is no nameservers, not an error).
 */
int priv_grant_for(struct priv_grant *g, uint32_t uid, bool all_users, const char *resolv_path);

/* Whether g allows host lines (-H). 0, or -EPERM with *why set. */
int priv_grant_hosts(const struct priv_grant *g, const char **why);

/*
 * Whether spec stays inside g. Returns 0, or with *why set to a phrase
 * naming what is refused (a static string): -EPERM for what only root or
 * the --all-users line may do, -EACCES for what only root may (DNS to a
 * nameserver the machine does not use).
 */
int priv_grant_check(const struct priv_grant *g, const struct fw_spec *spec, const char **why);

#endif
