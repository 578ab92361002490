/*
 * priv_grant: the caller's grant, and the check of a rule set against it
 * (see priv_grant.h).
 */
#include "priv_grant.h"

#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../../common/addrpolicy.h"
#include "../../common/resolv.h"
#include "../../common/sockaddr.h"

int priv_grant_for(struct priv_grant *g, uint32_t uid, bool all_users, const char *resolv_path)
{
	struct sockaddr_storage ns[PRIV_GRANT_NS_MAX];
	int n, i;

	memset(g, 0, sizeof(*g));
	g->uid = uid;
	if (uid == 0)
		return 0;
	g->confined = !all_users;
	g->ns_checked = true;
	n = resolv_read(resolv_path, ns, PRIV_GRANT_NS_MAX);
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		struct subnet *s = &g->ns[g->n_ns];

		s->family = ns[i].ss_family;
		s->prefix = s->family == AF_INET ? 32 : 128;
		memcpy(s->addr, sa_addr(&ns[i]), s->family == AF_INET ? 4 : 16);
		g->n_ns++;
	}
	return 0;
}

/* A machine's own stub resolver listens on loopback (127.0.0.53, ::1). */
static bool ns_allowed(const struct priv_grant *g, const struct subnet *ns)
{
	const char *special = addrpolicy_addr(ns->family, ns->addr);
	size_t i;

	if (special && !strncmp(special, "loopback", 8))
		return true;
	for (i = 0; i < g->n_ns; i++)
		if (g->ns[i].family == ns->family &&
		    subnet_contains(&g->ns[i], ns->family, ns->addr))
			return true;
	return false;
}

int priv_grant_hosts(const struct priv_grant *g, const char **why)
{
	*why = g->confined ? "writing /etc/hosts (-H), which every user's name lookups read" : NULL;
	return *why ? -EPERM : 0;
}

int priv_grant_check(const struct priv_grant *g, const struct fw_spec *spec, const char **why)
{
	size_t i;

	*why = NULL;
	if (g->confined && spec->prerouting)
		*why = "router mode (capturing other hosts' traffic)";
	else if (g->confined && !spec->by_uid)
		*why = "capturing every user's connections";
	else if (g->confined && spec->uid != g->uid)
		*why = "capturing another user's connections";
	if (*why)
		return -EPERM;
	for (i = 0; g->ns_checked && i < spec->n_dns; i++)
		if (!ns_allowed(g, &spec->dns[i])) {
			*why = "capturing DNS to a server that is not in /etc/resolv.conf";
			return -EACCES;
		}
	return 0;
}
