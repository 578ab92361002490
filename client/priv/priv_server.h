/*
 * priv_server: the privileged part's state and policy. It takes requests
 * decoded by priv_proto, checks them against what is installed, and only
 * then calls its backend (the real one: nftables and /etc/hosts; a
 * recording one in tests). A refused request changes nothing.
 *
 * Order: CHECK any number of times before INSTALL; INSTALL once; UPDATE, HOSTS and CT_FLUSH only
 * while installed; TUN once while installed (again only after REMOVE and a new INSTALL); REMOVE at
 * any time. A confined grant may have its TUN: the marking rules carry the same owner match as its
 * TCP rules. An INSTALL must stay inside the caller's grant. A host line must name a usable host
 * and an ordinary address that the installed rules route. HOSTS and CT_FLUSH are rate-limited
 * (-EBUSY past the limit): the client sends one a second at most.
 */
#ifndef SLUICE_PRIV_SERVER_H
#define SLUICE_PRIV_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../common/ratelimit.h"
#include "../services/hosts.h"
#include "priv_grant.h"
#include "priv_proto.h"

/*
 * install and update may refuse a set that another tunnel's clashes with:
 * -EADDRINUSE, with a line for the user in why (whylen bytes). check says
 * whether install would, changing nothing; NULL: not offered (-EOPNOTSUPP).
 */
struct priv_backend {
	int (*install)(void *ctx, const struct fw_spec *spec, const char *label, char *why,
		       size_t whylen);
	int (*update)(void *ctx, const struct fw_spec *spec, char *why, size_t whylen);
	int (*remove)(void *ctx);
	int (*hosts_write)(void *ctx, struct hosts_entry *e, size_t n);
	int (*hosts_restore)(void *ctx);
	/* Delete conntrack entries of spec's redirects: stale ones, or ours. Count or -errno. */
	int (*ct_flush)(void *ctx, const struct fw_spec *spec, bool ours);
	/* Milliseconds for the rate limits; NULL for the monotonic clock. */
	int64_t (*now_ms)(void *ctx);
	/*
	 * Capture spec's datagrams into a new TUN device: its name into name
	 * (namelen bytes), its descriptor into *fd, which the caller sends and
	 * closes; on failure, perhaps why (whylen bytes) as text. The
	 * backend's remove takes the capture away too. NULL: not offered
	 * (-EOPNOTSUPP).
	 */
	int (*tun)(void *ctx, const struct fw_spec *spec, char *name, size_t namelen, int *fd,
		   char *why, size_t whylen);
	int (*check)(void *ctx, const struct fw_spec *spec, const char *label, char *why,
		     size_t whylen);
};

/*
 * HOSTS, CT_FLUSH, and INSTALL, CHECK and UPDATE together: the requests of
 * each kind a part takes per window; more are -EBUSY. A tunnel sends a
 * CHECK and an INSTALL as it starts, and an UPDATE when -N's routes change.
 */
#define PRIV_HOSTS_BURST 20
#define PRIV_CT_BURST	 4
#define PRIV_RULES_BURST 16
#define PRIV_RATE_MS	 10000

struct priv_server {
	const struct priv_backend *be;
	void *ctx;
	struct priv_grant grant;
	const char *why; /* what the last refusal was about, for the log and the reply, or NULL */
	char why_buf[PRIV_WHY_MAX];
	bool installed;
	bool hosts_written;
	int hosts_err;	      /* the last restore of the hosts lines failed so: kept for the exit */
	bool hosts_told;      /* the last restore asked for (HOSTS with none) failed, and the user's
			       * side said so */
	bool restore_free;    /* a write since the last restore asked for: that one goes unpaced */
	bool tun;	      /* the TUN request succeeded since the last INSTALL */
	int tun_fd;	      /* its descriptor until the caller takes it, or -1 */
	char tun_name[16];    /* its device, the reply's text */
	struct priv_msg inst; /* the INSTALL in force; its spec holds the lists in force */
	struct subnet *lists; /* include and exclude after the last UPDATE, or NULL */
	struct hosts_entry *e;
	/*
	 * Each rewrite or dump costs disk or kernel time; each rules request a
	 * comparison with every other tunnel's, under the lock all of them take.
	 */
	struct ratelimit hosts_rl, ct_rl, rules_rl;
};

void priv_server_init(struct priv_server *s, const struct priv_backend *be, void *ctx,
		      const struct priv_grant *grant);

/*
 * One request body (type and payload). Writes the whole reply message into
 * out (PRIV_REPLY_MAX bytes) and returns its length. *status gets what the
 * reply says, for the log.
 */
size_t priv_server_handle(struct priv_server *s, const uint8_t *body, size_t len, uint8_t *out,
			  int *status);

/*
 * The descriptor the last request's reply must carry (TUN), or -1; the
 * caller now owns it. One left untaken is closed by the next request.
 */
int priv_server_take_fd(struct priv_server *s);

/* The reply for a request too long to read: refused, and nothing done. */
size_t priv_server_oversized(uint8_t *out);

/*
 * The channel closed or a signal came: remove everything. Returns 0 or the
 * rules' error; the hosts lines' is in hosts_err (and hosts_told).
 */
int priv_server_finish(struct priv_server *s);

#endif
