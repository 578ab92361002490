/*
 * ct: the conntrack entries of redirected TCP flows. A flow's entry keeps
 * the NAT it was given for as long as it lives, so entries left by an
 * earlier tunnel (a killed sluice, an sshuttle) still send a new
 * connection from the same source port to a listener that is gone. Uses
 * ctnetlink through libnetfilter_conntrack; needs CAP_NET_ADMIN.
 */
#ifndef SLUICE_CT_H
#define SLUICE_CT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fw.h"

#define CT_MAX	     65536  /* entries removed in one call, at most */
#define CT_SOCK_MAX  262144 /* TCP sockets looked at for a confined caller, at most */
#define CT_LOCAL_MAX 256    /* this machine's addresses, at most */

enum ct_which {
	CT_STALE, /* to spec's networks, redirected to this machine but not to our port */
	CT_OURS,  /* to spec's networks, redirected to our port */
};

/* A confined caller: only flows of this user's sockets are its to delete. */
struct ct_owner {
	uid_t uid;
};

/* One conntrack entry as the decision needs it; addresses in network order. */
struct ct_entry {
	int family;
	uint8_t src[16], dst[16]; /* the original direction */
	uint16_t sport, dport;	  /* host order */
	uint8_t to[16];		  /* where the NAT points: the reply's source */
	uint16_t to_port;
};

struct ct_addr {
	int family;
	uint8_t addr[16];
};

/* A TCP socket of this machine, as sock_diag reports it. */
struct ct_sock {
	int family; /* AF_INET for v4-mapped IPv6 sockets too */
	uint8_t src[16], dst[16];
	uint16_t sport, dport; /* host order */
	uid_t uid;
	bool owned;  /* false: TIME_WAIT and the like, which name no owner */
	bool listen; /* a listener (src:sport where it listens) */
};

/*
 * Whether entry e is one of `which` that the caller may delete: redirected
 * to this machine, to spec's networks, and not to a local destination but
 * spec's nameservers (an admin's own redirect of a local port is never ours).
 * A stale one's listener is gone: one that socks shows listening is another
 * tunnel's (a --user tunnel beside ours) or some program's. With owner, only
 * a flow of a local socket that is owner's now: never forwarded traffic,
 * another user's socket, or a flow with no owned socket (it may be one
 * whose socket was made after socks was read).
 * local: this machine's addresses besides loopback; socks: its TCP sockets.
 */
bool ct_decide(const struct ct_entry *e, const struct fw_spec *spec, enum ct_which which,
	       const struct ct_owner *owner, const struct ct_addr *local, size_t n_local,
	       const struct ct_sock *socks, size_t n_socks);

/*
 * This network namespace's TCP sockets through sock_diag, one dump per
 * family, into a new array (*out, free() it) of *n. 0 or -errno (-E2BIG:
 * more than CT_SOCK_MAX).
 */
int ct_socks_read(struct ct_sock **out, size_t *n);

/*
 * Delete the TCP entries ct_decide picks (owner NULL: anyone's), with this
 * namespace's sockets as socks. *deleted gets how many went. Returns 0 or
 * -errno.
 */
int ct_flush(const struct fw_spec *spec, enum ct_which which, const struct ct_owner *owner,
	     size_t *deleted);

#endif
