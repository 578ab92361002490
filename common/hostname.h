/*
 * hostname: the one rule for what counts as a host name that may travel
 * between the ends and land in a hosts file, used by the helper before it
 * reports a name and by the client before it accepts one. Only libc.
 */
#ifndef SLUICE_HOSTNAME_H
#define SLUICE_HOSTNAME_H

#include <stddef.h>

#define HOSTNAME_MAX 253

/*
 * Lowercase name[0..len-1] into out (size outlen) when it is a usable host
 * name: [a-z0-9-_.] only, labels of 1-63 characters, at most 253 in all, one
 * trailing dot allowed and dropped, and a last label that is not all digits
 * (so no address passes as a name). Returns 0, -EINVAL or -ENOSPC.
 */
int hostname_norm(const char *name, size_t len, char *out, size_t outlen);

/*
 * True for names (as hostname_norm gives them) that mean whichever
 * machine looks them up, so a line for them from the other end would only
 * hide this end's own: localhost and the like, anything under .localhost
 * (RFC 6761), and systemd's _gateway and _outbound (a remote that runs
 * systemd-resolved answers the PTR of its gateway with "_gateway"). Not
 * .local: many sites name their hosts in a unicast domain under it.
 */
int hostname_local(const char *name);

#endif
