/*
 * ct: the conntrack entries of redirected TCP flows. A flow's entry keeps
 * the NAT it was given for as long as it lives, so entries left by an
 * earlier tunnel (a killed sluice, an sshuttle) still send a new
 * connection from the same source port to a listener that is gone. Uses
 * ctnetlink through libnetfilter_conntrack; needs CAP_NET_ADMIN.
 */
#ifndef SLUICE_CT_H
#define SLUICE_CT_H

#include <stddef.h>

#include "fw.h"

#define CT_MAX 65536 /* entries removed in one call, at most */

enum ct_which {
	CT_STALE, /* to spec's networks, redirected to this machine but not to our port */
	CT_OURS,  /* to spec's networks, redirected to our port */
};

/*
 * Delete the TCP entries of `which` whose original destination lies in
 * spec's included networks (and not in its excludes). *deleted gets how
 * many went. Returns 0 or -errno.
 */
int ct_flush(const struct fw_spec *spec, enum ct_which which, size_t *deleted);

#endif
