/*
 * autonets: which of the remote's routes (-N) the client takes. Owns the
 * latest route list the helper sent, the pace of firewall updates, and the
 * memory of which refusals were already logged.
 *
 * A route is judged by the range it covers, since the helper may be
 * hostile or simply route more than a tunnel should carry (OpenVPN's
 * 0/1 + 128/1): never one that touches a special range (loopback,
 * link-local, multicast, unspecified, broadcast), a network this machine
 * is attached to, or one wider than /8 (IPv4) or /7 (IPv6, so fc00::/7
 * stays possible). Only the command line may route wider. And since many
 * narrow routes cover as much as one wide one, all taken together may
 * cover at most AUTONETS_BUDGET_V4 addresses (four /8s) and
 * AUTONETS_BUDGET_V6 /64s (two /7s).
 */
#ifndef SLUICE_AUTONETS_H
#define SLUICE_AUTONETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../common/subnet.h"
#include "../../common/wire.h"

#define AUTONETS_MAX	   256	/* routes -N may add */
#define AUTONETS_EVERY_MS  5000 /* at most one firewall update per this long */
#define AUTONETS_MIN_V4	   8
#define AUTONETS_MIN_V6	   7
#define AUTONETS_BUDGET_V4 (4ull << 24)	      /* addresses */
#define AUTONETS_BUDGET_V6 (2ull << (64 - 7)) /* /64 networks */

enum autonets_verdict {
	AUTONETS_KEEP = 0,
	AUTONETS_SPECIAL,  /* touches a special range */
	AUTONETS_WIDE,	   /* shorter prefix than AUTONETS_MIN_V4/V6 */
	AUTONETS_ATTACHED, /* overlaps a network this machine is attached to */
	AUTONETS_DUP,	   /* already routed (command line, or earlier in the list) */
	AUTONETS_FULL,	   /* AUTONETS_MAX routes taken already */
	AUTONETS_BUDGET,   /* would take the address space covered past the budget */
	AUTONETS_FAMILY,   /* IPv6, and it is disabled */
};

/*
 * Judge route r (host bits clear). local: this machine's attached
 * networks; explicit: the subnets given on the command line. For
 * AUTONETS_SPECIAL *special names the range; for AUTONETS_ATTACHED *net
 * is the attached network. Either may be NULL.
 */
enum autonets_verdict autonets_judge(const struct subnet *r, const struct subnet *local,
				     size_t n_local, const struct subnet *explicit_,
				     size_t n_explicit, const char **special,
				     const struct subnet **net);

/* Whether two subnets share any address (ports ignored). */
int autonets_overlap(const struct subnet *a, const struct subnet *b);

struct autonets {
	struct subnet *pending; /* the helper's last list, host bits cleared */
	size_t n_pending;
	bool has_pending;
	int64_t applied_ms;    /* the last build; 0 = never */
	uint64_t local_print;  /* the attached networks that build judged by (autonets_moved) */
	struct subnet *logged; /* refusals already reported */
	uint8_t *logged_v;     /* and each one's verdict */
	size_t n_logged;
};

/*
 * Called once per refused route (the first time it is refused, and for
 * one refused as attached, again after a build that routed it), for the
 * caller to log.
 */
typedef void (*autonets_refused_fn)(void *arg, const struct subnet *r, enum autonets_verdict v,
				    const char *special, const struct subnet *net);

/* Keep a ROUTES frame's list as the pending one. Returns 0 or -ENOMEM. */
int autonets_take(struct autonets *a, const struct wire_frame *f);
/* A pending list is waiting and the last build is AUTONETS_EVERY_MS old. */
bool autonets_due(const struct autonets *a, int64_t now_ms);
/*
 * Build the routed set from the pending list: explicit first, then the
 * routes kept. *out is malloc'ed. refused is called for refusals not yet
 * reported; no_ipv6 refuses every IPv6 route. Clears the pending mark.
 * Returns 0 or -ENOMEM.
 */
int autonets_build(struct autonets *a, int64_t now_ms, const struct subnet *local, size_t n_local,
		   const struct subnet *explicit_, size_t n_explicit, bool no_ipv6,
		   struct subnet **out, size_t *n_out, autonets_refused_fn refused, void *arg);
/*
 * This machine's attached networks are local now (a laptop moves): when
 * they are not those the last build judged by, the last list is judged
 * again at the next autonets_due. Returns whether they moved.
 */
bool autonets_moved(struct autonets *a, const struct subnet *local, size_t n_local);
void autonets_free(struct autonets *a);

#endif
