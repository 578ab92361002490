/*
 * autohosts: checks names and addresses from the helper before they are
 * held, and judges the held ones against the routed set at each write
 * (see autohosts.h).
 */
#include "autohosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../common/addrpolicy.h"

int autohosts_add(struct autohosts *h, const struct wire_host *host, const char **why)
{
	struct autohosts_name nm;
	size_t i;

	*why = NULL;
	memset(&nm, 0, sizeof(nm));
	nm.family = host->family;
	memcpy(nm.addr, host->addr, sizeof(nm.addr));
	if ((*why = addrpolicy_addr(host->family, host->addr)))
		goto refuse;
	/* The same rule the helper applies before it sends: it is not trusted to have. */
	if (hostname_norm(host->name, strnlen(host->name, sizeof(host->name)), nm.name,
			  sizeof(nm.name)) < 0 ||
	    hostname_local(nm.name)) {
		*why = "not a usable host name";
		goto refuse;
	}
	for (i = 0; i < h->n_own; i++)
		if (!strcmp(h->own[i], nm.name)) {
			*why = "the name the tunnel reaches its server by";
			goto refuse;
		}
	if (h->self[0] && !strcmp(h->self, nm.name)) {
		*why = "this machine's own name";
		goto refuse;
	}
	for (i = 0; i < h->n; i++)
		if (h->c[i].family == nm.family && !memcmp(h->c[i].addr, nm.addr, 16) &&
		    !strcmp(h->c[i].name, nm.name))
			return 0;
	if (h->n == AUTOHOSTS_MAX) {
		h->rejected++;
		*why = "too many names";
		return -ENOSPC;
	}
	if (!h->c && !(h->c = calloc(AUTOHOSTS_MAX, sizeof(*h->c))))
		return -ENOMEM;
	if (!h->e && !(h->e = calloc(AUTOHOSTS_MAX, sizeof(*h->e))))
		return -ENOMEM;
	for (i = 0; i < h->n_seeds; i++)
		if (!strcasecmp(h->seeds[i], nm.name))
			nm.seeded = true;
	h->c[h->n++] = nm;
	h->dirty = true;
	return 1;
refuse:
	h->rejected++;
	return -EINVAL;
}

void autohosts_own(struct autohosts *h, const char *name, size_t len)
{
	char nm[HOSTNAME_MAX + 1];
	size_t i;

	if (h->n_own == AUTOHOSTS_OWN_MAX || hostname_norm(name, len, nm, sizeof(nm)) < 0)
		return;
	for (i = 0; i < h->n_own; i++)
		if (!strcmp(h->own[i], nm))
			return;
	memcpy(h->own[h->n_own++], nm, sizeof(nm));
}

void autohosts_self(struct autohosts *h, const char *name)
{
	if (hostname_norm(name, strlen(name), h->self, sizeof(h->self)) < 0)
		h->self[0] = '\0';
}

void autohosts_routes_changed(struct autohosts *h)
{
	if (h->n)
		h->dirty = true;
}

bool autohosts_carried(const struct autohosts_routes *r, int family, const uint8_t *addr,
		       bool any_port)
{
	bool in = false;
	size_t i;

	for (i = 0; i < r->n_include && !in; i++)
		in = subnet_contains(&r->include[i], family, addr) &&
		     (any_port || subnet_all_ports(&r->include[i]));
	/* An exclude of some ports still leaves a name's other ports outside the tunnel. */
	for (i = 0; i < r->n_exclude && in; i++)
		if (subnet_contains(&r->exclude[i], family, addr) &&
		    (!any_port || subnet_all_ports(&r->exclude[i])))
			in = false;
	return in;
}

static void tell(struct autohosts_name *nm, enum autohosts_why why, autohosts_left_out_fn left_out,
		 void *arg)
{
	if (nm->told & why)
		return;
	nm->told |= (uint8_t)why;
	if (left_out)
		left_out(arg, nm, why);
}

int autohosts_flush(struct autohosts *h, time_t now, const struct autohosts_routes *r,
		    autohosts_left_out_fn left_out, void *arg)
{
	size_t i, n = 0, *from;
	int ret;

	if (!h->dirty || now == h->last_write)
		return 0;
	from = calloc(h->n + 1, sizeof(*from));
	if (!from)
		return -ENOMEM;
	for (i = 0; i < h->n; i++) {
		struct autohosts_name *nm = &h->c[i];

		if (!autohosts_carried(r, nm->family, nm->addr, nm->seeded)) {
			tell(nm, AUTOHOSTS_WHY_UNROUTED, left_out, arg);
			continue;
		}
		memset(&h->e[n], 0, sizeof(h->e[n]));
		inet_ntop(nm->family, nm->addr, h->e[n].addr, sizeof(h->e[n].addr));
		snprintf(h->e[n].name, sizeof(h->e[n].name), "%s", nm->name);
		from[n++] = i;
	}
	/* Even a failed write may have left our lines in the file: always restore at exit. */
	h->written = true;
	ret = h->io.write ? h->io.write(h->io.arg, h->e, n)
			  : hosts_write(h->path ? h->path : AUTOHOSTS_PATH, h->e, n);
	h->last_write = now;
	if (ret == 0) {
		h->dirty = false;
		for (i = 0; i < n; i++)
			if (h->e[i].shadowed)
				tell(&h->c[from[i]], AUTOHOSTS_WHY_USERS, left_out, arg);
	}
	free(from);
	return ret;
}

int autohosts_finish(struct autohosts *h)
{
	int ret = !h->written	  ? 0
		  : h->io.restore ? h->io.restore(h->io.arg)
				  : hosts_restore(h->path ? h->path : AUTOHOSTS_PATH);

	free(h->c);
	free(h->e);
	memset(h, 0, sizeof(*h));
	return ret;
}
