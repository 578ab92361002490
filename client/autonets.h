/*
 * autonets: decides which of the remote's routes (-N) the client takes.
 * Never: default routes, link-local, loopback, multicast. Not: networks this
 * machine is directly attached to, unless the user routed them explicitly.
 */
#ifndef SLUICE_AUTONETS_H
#define SLUICE_AUTONETS_H

#include <stddef.h>

#include "../common/subnet.h"

enum autonets_verdict {
	AUTONETS_KEEP = 0,
	AUTONETS_SPECIAL,  /* default, link-local, loopback, multicast: never */
	AUTONETS_ATTACHED, /* overlaps a network this machine is attached to */
	AUTONETS_DUP,	   /* already routed by the command line */
};

/*
 * Judge route r. local: this machine's directly attached networks;
 * explicit: the subnets given on the command line. *why gets the attached
 * network for AUTONETS_ATTACHED.
 */
enum autonets_verdict autonets_judge(const struct subnet *r, const struct subnet *local,
				     size_t n_local, const struct subnet *explicit_,
				     size_t n_explicit, const struct subnet **why);

/* Whether two subnets share any address (ports ignored). */
int autonets_overlap(const struct subnet *a, const struct subnet *b);

#endif
