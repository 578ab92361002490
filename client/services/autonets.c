/*
 * autonets: judging the remote's routes and pacing what they may change
 * (see autonets.h). Nothing from the helper is trusted: it is judged here
 * whatever the helper checked.
 */
#include "autonets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../../common/addrpolicy.h"

#define LOGGED_MAX 1024 /* distinct refusals remembered; past it, refusals go unlogged */

int autonets_overlap(const struct subnet *a, const struct subnet *b)
{
	if (a->family != b->family)
		return 0;
	/* Two prefixes overlap when the shorter one contains the other's network address. */
	return a->prefix <= b->prefix ? subnet_contains(a, b->family, b->addr)
				      : subnet_contains(b, a->family, a->addr);
}

static bool same_net(const struct subnet *a, const struct subnet *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       !memcmp(a->addr, b->addr, sizeof(a->addr));
}

enum autonets_verdict autonets_judge(const struct subnet *r, const struct subnet *local,
				     size_t n_local, const struct subnet *explicit_,
				     size_t n_explicit, const char **special,
				     const struct subnet **net)
{
	const char *sp;
	size_t i;

	if (special)
		*special = NULL;
	if (net)
		*net = NULL;
	if (r->prefix < (r->family == AF_INET ? AUTONETS_MIN_V4 : AUTONETS_MIN_V6))
		return AUTONETS_WIDE;
	sp = addrpolicy_net(r->family, r->addr, r->prefix, true);
	if (sp) {
		if (special)
			*special = sp;
		return AUTONETS_SPECIAL;
	}
	for (i = 0; i < n_explicit; i++)
		if (same_net(&explicit_[i], r) && subnet_all_ports(&explicit_[i]))
			return AUTONETS_DUP;
	for (i = 0; i < n_local; i++) {
		if (autonets_overlap(r, &local[i])) {
			if (net)
				*net = &local[i];
			return AUTONETS_ATTACHED;
		}
	}
	return AUTONETS_KEEP;
}

static void clear_host_bits(struct subnet *r)
{
	unsigned bits = r->family == AF_INET ? 32 : 128, i;

	for (i = r->prefix; i < bits; i++)
		r->addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

int autonets_take(struct autonets *a, const struct wire_frame *f)
{
	/* Each entry is at least 6 bytes on the wire: this bounds the list by the frame. */
	size_t off = 0, n = 0, cap = f->len / 6 + 1;
	struct subnet r, *list = calloc(cap, sizeof(*list));

	if (!list)
		return -ENOMEM;
	memset(&r, 0, sizeof(r));
	r.port_hi = 65535;
	while (n < cap && wire_routes_next(f, &off, &r.family, r.addr, &r.prefix) == 1) {
		clear_host_bits(&r);
		list[n++] = r;
		memset(r.addr, 0, sizeof(r.addr));
	}
	free(a->pending);
	a->pending = list;
	a->n_pending = n;
	a->has_pending = true;
	return 0;
}

bool autonets_due(const struct autonets *a, int64_t now_ms)
{
	return a->has_pending &&
	       (a->applied_ms == 0 || now_ms - a->applied_ms >= AUTONETS_EVERY_MS);
}

/* True the first time this route is refused (so it is logged once, not once per frame). */
static bool first_refusal(struct autonets *a, const struct subnet *r, enum autonets_verdict v)
{
	size_t i;

	for (i = 0; i < a->n_logged; i++)
		if (same_net(&a->logged[i], r))
			return false;
	if (a->n_logged == LOGGED_MAX)
		return false;
	if (!a->logged && !(a->logged = calloc(LOGGED_MAX, sizeof(*a->logged))))
		return false;
	if (!a->logged_v && !(a->logged_v = calloc(LOGGED_MAX, sizeof(*a->logged_v))))
		return false;
	a->logged_v[a->n_logged] = (uint8_t)v;
	a->logged[a->n_logged++] = *r;
	return true;
}

/*
 * r is routed now: when it was left out for a network this machine was
 * attached to, a later refusal is news again (the network joined a second
 * time). Others are not told again each time a changing list moves a route
 * across a limit.
 */
static void forget_refusal(struct autonets *a, const struct subnet *r)
{
	size_t i;

	for (i = 0; i < a->n_logged; i++)
		if (same_net(&a->logged[i], r)) {
			if (a->logged_v[i] != AUTONETS_ATTACHED)
				return;
			a->n_logged--;
			a->logged[i] = a->logged[a->n_logged];
			a->logged_v[i] = a->logged_v[a->n_logged];
			return;
		}
}

/* What r covers, in the budget's units: addresses (IPv4) or /64 networks (IPv6). */
static uint64_t coverage(const struct subnet *r)
{
	unsigned bits = r->family == AF_INET ? 32 - r->prefix
			: r->prefix >= 64    ? 0
					     : 64 - r->prefix;

	return bits >= 63 ? UINT64_MAX / 2 : 1ull << bits;
}

/* A set's fingerprint, whatever the order: the sum of each network's FNV-1a. */
static uint64_t local_print(const struct subnet *local, size_t n)
{
	uint64_t sum = 0;
	size_t i, k;

	for (i = 0; i < n; i++) {
		const struct subnet *s = &local[i];
		uint64_t h = 0xcbf29ce484222325ull;
		size_t len = s->family == AF_INET ? 4 : 16;

		h = (h ^ (uint8_t)s->family) * 0x100000001b3ull;
		h = (h ^ s->prefix) * 0x100000001b3ull;
		for (k = 0; k < len; k++)
			h = (h ^ s->addr[k]) * 0x100000001b3ull;
		sum += h;
	}
	return sum;
}

bool autonets_moved(struct autonets *a, const struct subnet *local, size_t n_local)
{
	if (!a->applied_ms || local_print(local, n_local) == a->local_print)
		return false;
	a->has_pending = true;
	return true;
}

int autonets_build(struct autonets *a, int64_t now_ms, const struct subnet *local, size_t n_local,
		   const struct subnet *explicit_, size_t n_explicit, bool no_ipv6,
		   struct subnet **out, size_t *n_out, autonets_refused_fn refused, void *arg)
{
	struct subnet *inc = calloc(n_explicit + AUTONETS_MAX + 1, sizeof(*inc));
	size_t i, j, n = n_explicit, kept = 0;
	uint64_t used4 = 0, used6 = 0;

	if (!inc)
		return -ENOMEM;
	if (n_explicit)
		memcpy(inc, explicit_, n_explicit * sizeof(*inc));
	for (i = 0; i < a->n_pending; i++) {
		const struct subnet *r = &a->pending[i], *net;
		const char *special;
		enum autonets_verdict v =
		    autonets_judge(r, local, n_local, explicit_, n_explicit, &special, &net);

		if (v == AUTONETS_KEEP && no_ipv6 && r->family == AF_INET6)
			v = AUTONETS_FAMILY;
		for (j = n_explicit; v == AUTONETS_KEEP && j < n; j++)
			if (same_net(&inc[j], r))
				v = AUTONETS_DUP;
		if (v == AUTONETS_KEEP && kept == AUTONETS_MAX)
			v = AUTONETS_FULL;
		if (v == AUTONETS_KEEP) {
			uint64_t *used = r->family == AF_INET ? &used4 : &used6;
			uint64_t cap =
			    r->family == AF_INET ? AUTONETS_BUDGET_V4 : AUTONETS_BUDGET_V6;

			if (coverage(r) > cap - *used)
				v = AUTONETS_BUDGET;
			else
				*used += coverage(r);
		}
		if (v == AUTONETS_KEEP) {
			inc[n++] = *r;
			kept++;
			forget_refusal(a, r);
		} else if (v != AUTONETS_DUP && refused && first_refusal(a, r, v)) {
			refused(arg, r, v, special, net);
		}
	}
	a->has_pending = false;
	a->applied_ms = now_ms ? now_ms : 1;
	a->local_print = local_print(local, n_local);
	*out = inc;
	*n_out = n;
	return 0;
}

void autonets_free(struct autonets *a)
{
	free(a->pending);
	free(a->logged);
	free(a->logged_v);
	memset(a, 0, sizeof(*a));
}
