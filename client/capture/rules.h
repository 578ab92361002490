/*
 * rules: what the firewall redirects, and the only caller of the
 * privileged part's rule requests. Owns the spec in force: the user's
 * networks (or -N's judged set), the excludes with the SSH server's own
 * address added, the listener's port and the nameservers.
 */
#ifndef SLUICE_RULES_H
#define SLUICE_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "../../firewall/fw.h"
#include "../opts.h"
#include "../priv/priv_client.h"
#include "../link/transport.h"

struct rules {
	struct privc *priv;
	struct fw_spec spec; /* what is installed */
	struct subnet *inc;  /* owned include list once -N replaced the user's */
	struct subnet *exc;  /* owned: the user's excludes and the server's address */
	size_t exc_cap;	     /* entries exc has room for */
	bool auto_nets;	     /* -N: the server's addresses are kept out on every port */
	bool installed;
};

/* What the rules capture besides the networks. */
struct rules_where {
	uint16_t port;		  /* the TCP listeners */
	bool prerouting;	  /* a listener on a non-loopback address: forwarded traffic too */
	const struct subnet *dns; /* --dns nameservers, or NULL */
	size_t n_dns;
	uint16_t dns_port;
};

/*
 * Before the session: would the rules for o's networks clash with another
 * tunnel's? Said now, a clash costs no login (install checks again). 0 or
 * -errno with one line for the user in err; -EADDRINUSE is that clash.
 */
int rules_check(struct privc *priv, const struct opts *o, const struct rules_where *w, char *err,
		size_t errlen);

/*
 * Install the rules for o's networks, never capturing tr's own connection
 * (its peers are excluded, wholly with -N). Returns 0 or -errno, with one
 * line for the user in err.
 */
int rules_install(struct rules *r, struct privc *priv, const struct opts *o,
		  const struct transport *tr, const struct rules_where *w, char *err,
		  size_t errlen);

/*
 * Route exactly inc (n entries) from now on, in place of the current list.
 * Takes inc (malloc'd) on success; on failure the old rules stay and the
 * caller still owns inc. 0 when unchanged (inc is then freed), 1 when
 * changed, or -errno.
 */
int rules_set_includes(struct rules *r, struct subnet *inc, size_t n);

/*
 * The SSH server is about to be reached at sa (a reconnect to an address
 * its name gained since the rules went in): keep that address out of the
 * tunnel first, or a routed network holding it would capture the very
 * connection that is to carry it, on every port (the rules in force take
 * whole addresses only). 0 when it already was or need not be (not
 * routed, and no -N whose routes may come to hold it), 1 when the rules
 * now keep it out, -errno when they could not and it would be captured
 * (the old rules stay; one line for the user in err).
 */
int rules_keep_out(struct rules *r, const struct sockaddr *sa, socklen_t salen, char *err,
		   size_t errlen);

/* Remove the rules (and, through the privileged part, our host lines). 0 or -errno. */
int rules_remove(struct rules *r);
void rules_free(struct rules *r);

#endif
