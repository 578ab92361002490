/*
 * autonets: pure decisions about remote routes; the caller logs them and
 * updates the firewall. Nothing from the helper is trusted: the checks the
 * helper already makes are made again here.
 */
#include "autonets.h"

#include <string.h>
#include <sys/socket.h>

static int special(const struct subnet *r)
{
	const uint8_t *a = r->addr;

	if (r->prefix == 0)
		return 1;
	if (r->family == AF_INET)
		return a[0] == 127 || a[0] >= 224 || (a[0] == 169 && a[1] == 254) || (a[0] == 0);
	return (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || a[0] == 0xff ||
	       (r->prefix == 128 && a[15] <= 1 && !memcmp(a, (uint8_t[15]){0}, 15));
}

int autonets_overlap(const struct subnet *a, const struct subnet *b)
{
	if (a->family != b->family)
		return 0;
	/* Two prefixes overlap when the shorter one contains the other's network address. */
	return a->prefix <= b->prefix ? subnet_contains(a, b->family, b->addr)
				      : subnet_contains(b, a->family, a->addr);
}

enum autonets_verdict autonets_judge(const struct subnet *r, const struct subnet *local,
				     size_t n_local, const struct subnet *explicit_,
				     size_t n_explicit, const struct subnet **why)
{
	size_t i;

	*why = NULL;
	if (special(r))
		return AUTONETS_SPECIAL;
	for (i = 0; i < n_explicit; i++)
		if (explicit_[i].family == r->family && explicit_[i].prefix == r->prefix &&
		    !memcmp(explicit_[i].addr, r->addr, sizeof(r->addr)) &&
		    subnet_all_ports(&explicit_[i]))
			return AUTONETS_DUP;
	for (i = 0; i < n_local; i++) {
		if (autonets_overlap(r, &local[i])) {
			*why = &local[i];
			return AUTONETS_ATTACHED;
		}
	}
	return AUTONETS_KEEP;
}
