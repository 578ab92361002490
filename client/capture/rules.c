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

/*
 * The excludes that keep the server at p out of the tunnel, appended at
 * ex[n] (room for two): the tunnel must never capture its own SSH
 * connection, even with 0/0. Returns the new count.
 */
static size_t exclude_server(struct subnet *ex, size_t n, const struct sockaddr_storage *p,
			     bool auto_nets)
{
	if (!sa_addr(p))
		return n;
	ex[n].family = p->ss_family;
	memcpy(ex[n].addr, sa_addr(p), ex[n].family == AF_INET ? 4 : 16);
	ex[n].prefix = ex[n].family == AF_INET ? 32 : 128;
	ex[n].port_lo = ex[n].port_hi = sa_port(p);
	n++;
	if (auto_nets) {
		/* -N may bring the server's network: never send the server into its own tunnel. */
		ex[n] = ex[n - 1];
		ex[n].port_lo = 0;
		ex[n].port_hi = 65535;
		n++;
	}
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

/* Whether an exclude already keeps the server at p out: its address, on its port at least. */
static bool kept_out(const struct rules *r, const struct sockaddr_storage *p)
{
	uint16_t port = sa_port(p);
	size_t i;

	for (i = 0; i < r->spec.n_exclude; i++) {
		const struct subnet *e = &r->spec.exclude[i];
		/* With -N the server is kept out on every port. */
		bool ports = subnet_all_ports(e) ||
			     (!r->auto_nets && e->port_lo <= port && port <= e->port_hi);

		if (ports && subnet_contains(e, p->ss_family, sa_addr(p)))
			return true;
	}
	return false;
}

int rules_keep_out(struct rules *r, const struct sockaddr *sa, socklen_t salen)
{
	struct sockaddr_storage p = {0};
	struct subnet *ex = r->exc;
	size_t n = r->spec.n_exclude;
	int ret;

	if (!r->installed)
		return 0; /* install excludes the session's peers itself */
	if (salen > sizeof(p) || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return -EAFNOSUPPORT;
	memcpy(&p, sa, salen);
	if (kept_out(r, &p))
		return 0;
	if (n + 2 > r->exc_cap) {
		ex = realloc(r->exc, (n + 2) * sizeof(*ex));
		if (!ex)
			return -ENOMEM;
		r->spec.exclude = r->exc = ex;
		r->exc_cap = n + 2;
	}
	/*
	 * Rules in force take whole addresses only (a port-bound exclude is a
	 * rule of its own, not a set's element): the new address is kept out
	 * on every port, as -N keeps the others.
	 */
	exclude_server(ex, n, &p, true);
	ex[n] = ex[n + 1];
	r->spec.n_exclude = n + 1;
	ret = privc_update(r->priv, &r->spec);
	if (ret < 0) {
		r->spec.n_exclude = n;
		return ret;
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
