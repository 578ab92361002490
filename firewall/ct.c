/*
 * ct: find and delete conntrack entries by where their NAT points (see
 * ct.h). A dump collects the entries first; deleting from inside the dump
 * would race the dump's own reads on the same socket.
 */
#include "ct.h"

#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#define LOCAL_MAX 256

struct ct_scan {
	const struct fw_spec *spec;
	enum ct_which which;
	struct {
		int family;
		uint8_t addr[16];
	} local[LOCAL_MAX]; /* this machine's addresses: where a redirect points */
	size_t n_local;
	struct nf_conntrack **found;
	size_t n;
	int err;
};

static bool in_list(const struct subnet *l, size_t n, int family, const uint8_t *addr,
		    uint16_t port)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (subnet_contains(&l[i], family, addr) && port >= l[i].port_lo &&
		    port <= l[i].port_hi)
			return true;
	return false;
}

/* A redirect sends a flow to this machine itself: loopback, or one of its addresses. */
static bool is_local(const struct ct_scan *s, int family, const uint8_t *a)
{
	static const uint8_t lo6[16] = {[15] = 1};
	size_t i;

	if ((family == AF_INET && a[0] == 127) || (family == AF_INET6 && !memcmp(a, lo6, 16)))
		return true;
	for (i = 0; i < s->n_local; i++)
		if (s->local[i].family == family &&
		    !memcmp(s->local[i].addr, a, family == AF_INET ? 4 : 16))
			return true;
	return false;
}

static void read_local(struct ct_scan *s)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i && s->n_local < LOCAL_MAX; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			s->local[s->n_local].family = AF_INET;
			memcpy(s->local[s->n_local++].addr,
			       &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			s->local[s->n_local].family = AF_INET6;
			memcpy(s->local[s->n_local++].addr,
			       &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, 16);
		}
	}
	freeifaddrs(ifa);
}

static int on_entry(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *arg)
{
	struct ct_scan *s = arg;
	uint8_t family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
	uint8_t addr[16] = {0}, from[16] = {0};
	uint16_t port, to_port;
	bool ours;

	if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != IPPROTO_TCP)
		return NFCT_CB_CONTINUE;
	if (family == AF_INET) {
		memcpy(addr, nfct_get_attr(ct, ATTR_ORIG_IPV4_DST), 4);
		memcpy(from, nfct_get_attr(ct, ATTR_REPL_IPV4_SRC), 4);
	} else if (family == AF_INET6) {
		memcpy(addr, nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), 16);
		memcpy(from, nfct_get_attr(ct, ATTR_REPL_IPV6_SRC), 16);
	} else {
		return NFCT_CB_CONTINUE;
	}
	port = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
	/*
	 * A redirect shows in the reply direction: the answer comes from a
	 * listener, not from where the flow was going. An entry that is not
	 * redirected is left alone, whatever its status bits say.
	 */
	to_port = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
	if (to_port == port && !memcmp(from, addr, sizeof(addr)))
		return NFCT_CB_CONTINUE;
	/* Someone else's DNAT (containers, port forwards) goes elsewhere: not ours to judge. */
	if (!is_local(s, family, from))
		return NFCT_CB_CONTINUE;
	ours = to_port == s->spec->redirect_port;
	if (ours != (s->which == CT_OURS) ||
	    !in_list(s->spec->include, s->spec->n_include, family, addr, port) ||
	    in_list(s->spec->exclude, s->spec->n_exclude, family, addr, port))
		return NFCT_CB_CONTINUE;
	if (s->n == CT_MAX)
		return NFCT_CB_CONTINUE;
	s->found[s->n++] = ct;
	return NFCT_CB_STOLEN;
}

int ct_flush(const struct fw_spec *spec, enum ct_which which, size_t *deleted)
{
	struct ct_scan s = {.spec = spec, .which = which};
	struct nfct_handle *h;
	uint32_t families[2] = {AF_INET, AF_INET6};
	size_t i;
	int ret = 0;

	*deleted = 0;
	read_local(&s);
	s.found = calloc(CT_MAX, sizeof(*s.found));
	if (!s.found)
		return -ENOMEM;
	h = nfct_open(CONNTRACK, 0);
	if (!h) {
		/* Never a silent success: errno is not promised here. */
		ret = errno ? -errno : -EIO;
		goto out;
	}
	nfct_callback_register(h, NFCT_T_ALL, on_entry, &s);
	for (i = 0; i < 2 && ret == 0; i++)
		if (nfct_query(h, NFCT_Q_DUMP, &families[i]) < 0)
			ret = -errno;
	nfct_callback_unregister(h);
	for (i = 0; i < s.n; i++) {
		/* Gone already (it closed meanwhile) is as good as deleted. */
		if (nfct_query(h, NFCT_Q_DESTROY, s.found[i]) == 0 || errno == ENOENT)
			(*deleted)++;
		else if (!ret)
			ret = -errno;
	}
	nfct_close(h);
out:
	for (i = 0; i < s.n; i++)
		nfct_destroy(s.found[i]);
	free(s.found);
	return ret;
}
