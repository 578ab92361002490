/*
 * rules: build the firewall spec and keep it in force through the
 * privileged part (see rules.h).
 */
#include "rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/sockaddr.h"
#include "../priv/instances.h"

/* How other tunnels' refusals name this one: the remote as given, printable, no blanks. */
static void label_of(const struct opts *o, char *out, size_t len)
{
	char *c;

	if (o->remote_port)
		snprintf(out, len, "%s%s%s:%u", o->remote_user ? o->remote_user : "",
			 o->remote_user ? "@" : "", o->remote_host ? o->remote_host : "?",
			 o->remote_port);
	else
		snprintf(out, len, "%s%s%s", o->remote_user ? o->remote_user : "",
			 o->remote_user ? "@" : "", o->remote_host ? o->remote_host : "?");
	for (c = out; *c; c++)
		if (*c <= ' ' || *c > '~')
			*c = '?';
}

static struct fw_spec spec_of(const struct opts *o, const struct rules_where *w,
			      const struct subnet *ex, size_t n_ex)
{
	return (struct fw_spec){
	    .redirect_port = w->port,
	    .include = o->include,
	    .n_include = o->n_include,
	    .exclude = ex,
	    .n_exclude = n_ex,
	    .prerouting = w->prerouting,
	    .dns = w->dns,
	    .n_dns = w->n_dns,
	    .dns_port = w->dns_port,
	    .by_uid = o->by_uid,
	    .by_gid = o->by_gid,
	    .uid = o->uid,
	    .gid = o->gid,
	};
}

int rules_check(struct privc *priv, const struct opts *o, const struct rules_where *w, char *err,
		size_t errlen)
{
	char label[INSTANCE_LABEL_MAX + 1];
	struct fw_spec spec = spec_of(o, w, o->exclude, o->n_exclude);
	int ret;

	label_of(o, label, sizeof(label));
	ret = privc_check(priv, &spec, label);
	if (ret == -EADDRINUSE)
		snprintf(err, errlen, "%s",
			 privc_why(priv) ? privc_why(priv) : privc_strerror(ret));
	else if (ret < 0)
		snprintf(err, errlen, "checking the rules against other tunnels': %s",
			 privc_why(priv) ? privc_why(priv) : privc_strerror(ret));
	return ret;
}

/* An exclude of the server at p alone: on its port, or on every port. */
static void server_entry(struct subnet *e, const struct sockaddr_storage *p, bool all_ports)
{
	memset(e, 0, sizeof(*e));
	e->family = p->ss_family;
	memcpy(e->addr, sa_addr(p), e->family == AF_INET ? 4 : 16);
	e->prefix = e->family == AF_INET ? 32 : 128;
	e->port_lo = all_ports ? 0 : sa_port(p);
	e->port_hi = all_ports ? 65535 : sa_port(p);
}

/*
 * The excludes that keep the server at p out of the tunnel, appended at
 * ex[n] (room for two): the tunnel must never capture its own SSH
 * connection, even with 0/0. -N may bring the server's network: never
 * send the server into its own tunnel, on any port. Returns the new count.
 */
static size_t exclude_server(struct subnet *ex, size_t n, const struct sockaddr_storage *p,
			     bool auto_nets)
{
	if (!sa_addr(p))
		return n;
	server_entry(&ex[n++], p, false);
	if (auto_nets)
		server_entry(&ex[n++], p, true);
	return n;
}

int rules_install(struct rules *r, struct privc *priv, const struct opts *o,
		  const struct transport *tr, const struct rules_where *w, char *err, size_t errlen)
{
	char label[INSTANCE_LABEL_MAX + 1];
	struct subnet *ex;
	size_t n = o->n_exclude, i;
	int ret;

	r->priv = priv;
	r->auto_nets = o->auto_nets;
	r->exc_cap = n + 2 * TRANSPORT_PEERS_MAX;
	ex = calloc(r->exc_cap, sizeof(*ex));
	if (!ex) {
		snprintf(err, errlen, "installing the firewall rules: out of memory");
		return -ENOMEM;
	}
	memcpy(ex, o->exclude, n * sizeof(*ex));
	for (i = 0; i < tr->n_peer; i++)
		n = exclude_server(ex, n, &tr->peer[i], o->auto_nets);
	r->exc = ex;
	r->spec = spec_of(o, w, ex, n);
	label_of(o, label, sizeof(label));
	ret = privc_install(priv, &r->spec, label);
	if (ret < 0)
		snprintf(err, errlen, "installing the firewall rules failed: %s",
			 privc_why(priv) ? privc_why(priv) : privc_strerror(ret));
	else
		r->installed = true;
	return ret;
}

/* Whether a list holds the server at p: its address, on its port (on every port: all_ports). */
static bool holds(const struct subnet *l, size_t n, const struct sockaddr_storage *p,
		  bool all_ports)
{
	uint16_t port = sa_port(p);
	size_t i;

	for (i = 0; i < n; i++)
		if ((subnet_all_ports(&l[i]) ||
		     (!all_ports && l[i].port_lo <= port && port <= l[i].port_hi)) &&
		    subnet_contains(&l[i], p->ss_family, sa_addr(p)))
			return true;
	return false;
}

int rules_keep_out(struct rules *r, const struct sockaddr *sa, socklen_t salen, char *err,
		   size_t errlen)
{
	struct sockaddr_storage p = {0};
	struct subnet *ex = r->exc;
	size_t n = r->spec.n_exclude;
	bool captured;
	int ret;

	if (!r->installed)
		return 0; /* install excludes the session's peers itself */
	if (salen > sizeof(p) || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
		snprintf(err, errlen, "not an IP address");
		return -EAFNOSUPPORT;
	}
	memcpy(&p, sa, salen);
	/* With -N the server is kept out on every port: the routes may come to hold it. */
	if (holds(r->spec.exclude, n, &p, r->auto_nets))
		return 0;
	captured = holds(r->spec.include, r->spec.n_include, &p, false) &&
		   !holds(r->spec.exclude, n, &p, false);
	if (!captured && !r->auto_nets)
		return 0;
	/*
	 * The list only grows, by the addresses the name ever had, within
	 * the privileged part's bound on lists.
	 */
	if (n + 1 > r->exc_cap) {
		ex = realloc(r->exc, (n + 1) * sizeof(*ex));
		if (!ex) {
			snprintf(err, errlen, "out of memory");
			return captured ? -ENOMEM : 0;
		}
		r->spec.exclude = r->exc = ex;
		r->exc_cap = n + 1;
	}
	/*
	 * Rules in force take whole addresses only (a port-bound exclude is a
	 * rule of its own, not a set's element): on every port, as -N keeps
	 * the others.
	 */
	server_entry(&ex[n], &p, true);
	r->spec.n_exclude = n + 1;
	ret = privc_update(r->priv, &r->spec);
	if (ret < 0) {
		r->spec.n_exclude = n;
		snprintf(err, errlen, "%s",
			 privc_why(r->priv) ? privc_why(r->priv) : privc_strerror(ret));
		/* Not captured yet (-N's routes do not hold it): worth trying all the same. */
		return captured ? ret : 0;
	}
	return 1;
}

int rules_set_includes(struct rules *r, struct subnet *inc, size_t n)
{
	const struct subnet *old = r->spec.include;
	size_t n_old = r->spec.n_include;
	int ret;

	if (!r->installed)
		return -ENOENT;
	if (n == n_old && !memcmp(inc, old, n * sizeof(*inc))) {
		free(inc);
		return 0;
	}
	r->spec.include = inc;
	r->spec.n_include = n;
	ret = privc_update(r->priv, &r->spec);
	if (ret < 0) {
		r->spec.include = old;
		r->spec.n_include = n_old;
		return ret;
	}
	free(r->inc);
	r->inc = inc;
	return 1;
}

int rules_remove(struct rules *r)
{
	int ret;

	if (!r->installed)
		return 0;
	ret = privc_remove(r->priv);
	if (ret == 0)
		r->installed = false;
	return ret;
}

void rules_free(struct rules *r)
{
	free(r->inc);
	free(r->exc);
	memset(r, 0, sizeof(*r));
}
