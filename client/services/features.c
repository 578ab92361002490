/*
 * features: -N, -H and --dns on the client side (see features.h).
 */
#include "features.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "../../common/clock.h"
#include "../../common/log.h"
#include "../../common/resolv.h"
#include "../../common/routes.h"
#include "../../common/sockaddr.h"

#define LOCAL_NETS_MAX 1024

static void fmt_subnet(const struct subnet *sn, char *buf, size_t len)
{
	if (subnet_format(sn, buf, len) < 0)
		snprintf(buf, len, "?");
}

static void routes_refused(void *arg, const struct subnet *r, enum autonets_verdict v,
			   const char *special, const struct subnet *net)
{
	char a[SUBNET_STRLEN], b[SUBNET_STRLEN];

	fmt_subnet(r, a, sizeof(a));
	switch (v) {
	case AUTONETS_WIDE:
		log_info("-N: not routing %s: wider than /%d (name it on the command line to route "
			 "it anyway)",
			 a, r->family == AF_INET ? AUTONETS_MIN_V4 : AUTONETS_MIN_V6);
		break;
	case AUTONETS_SPECIAL:
		log_info("-N: not routing %s: it covers %s addresses", a, special);
		break;
	case AUTONETS_ATTACHED:
		fmt_subnet(net, b, sizeof(b));
		log_info("-N: not routing %s: this machine is attached to %s (name it on the "
			 "command line to route it anyway)",
			 a, b);
		break;
	case AUTONETS_FULL:
		log_info("-N: not routing %s: already routing %d networks from the remote", a,
			 AUTONETS_MAX);
		break;
	case AUTONETS_FAMILY:
		log_info("-N: not routing %s: IPv6 is disabled (--disable-ipv6)", a);
		break;
	case AUTONETS_BUDGET:
		log_info("-N: not routing %s: the remote's routes already cover as much as four "
			 "/8s (IPv4) or two /7s (IPv6); name it on the command line to route it",
			 a);
		break;
	default:
		break;
	}
}

/* This machine's attached networks into *local (malloc'ed): how many, or -errno. */
static int local_read(struct subnet **local)
{
	int n;

	*local = calloc(LOCAL_NETS_MAX, sizeof(**local));
	if (!*local)
		return -ENOMEM;
	n = routes_read(*local, LOCAL_NETS_MAX, ROUTES_CONNECTED);
	if (n < 0) {
		free(*local);
		*local = NULL;
	}
	return n;
}

/*
 * -N: the helper's last route list, judged, becomes the routed set next to
 * the command line's; at most once per AUTONETS_EVERY_MS, however many
 * ROUTES frames arrive, and only when the set changed.
 */
static void routes_apply(struct features *sv)
{
	struct subnet *inc = NULL, *local;
	size_t n = 0;
	int n_local, ret;

	/* Read each time: this machine's own networks change too (a laptop moves). */
	n_local = local_read(&local);
	if (n_local == -ENOMEM) {
		log_err("-N: out of memory judging the remote's routes");
		return;
	}
	if (n_local < 0) {
		log_warn("-N: cannot read this machine's networks: %s", strerror(-n_local));
		n_local = 0;
	}
	ret = autonets_build(&sv->nets, clock_ms(), local, (size_t)n_local, sv->o->include,
			     sv->o->n_include, sv->o->no_ipv6, &inc, &n, routes_refused, sv);
	free(local);
	if (ret < 0) {
		log_err("-N: judging the remote's routes: %s", strerror(-ret));
		return;
	}
	ret = rules_set_includes(sv->rules, inc, n);
	if (ret < 0) {
		log_err("-N: updating the firewall rules failed: %s",
			privc_why(sv->priv) ? privc_why(sv->priv) : privc_strerror(ret));
		free(inc);
		return; /* the old rules stay; not a protocol error */
	}
	if (ret == 0)
		return;
	autohosts_routes_changed(&sv->hosts);
	log_info("-N: routing %zu network%s", n, n == 1 ? "" : "s");
}

/*
 * -N: a network this machine joined since (the laptop moved onto one the
 * remote routes) must not stay captured, and one it left may be routed
 * again: look every AUTONETS_EVERY_MS, judge again when they moved.
 */
static void routes_rejudge(struct features *sv)
{
	struct subnet *local;
	int64_t now = clock_ms();
	int n;

	if (!sv->nets.applied_ms || now - sv->local_checked_ms < AUTONETS_EVERY_MS)
		return;
	sv->local_checked_ms = now;
	n = local_read(&local);
	if (n < 0)
		return; /* routes_apply says why, when it runs */
	if (autonets_moved(&sv->nets, local, (size_t)n))
		log_info("-N: this machine's networks changed: judging the remote's routes again");
	free(local);
}

static void name_refused(struct features *sv, const char *name, int family, const uint8_t *addr,
			 const char *why)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned dropped = 0;

	if (log_verbosity < LOG_DEBUG || !ratelimit_allow(&sv->names_rl, clock_ms(), &dropped))
		return;
	inet_ntop(family, addr, a, sizeof(a));
	log_debug("-H: not taking %s for %s: %s%s", name, a, why,
		  dropped ? " (and more refusals not shown)" : "");
}

static void name_left_out(void *arg, const struct autohosts_name *n, enum autohosts_why why)
{
	name_refused(arg, n->name, n->family, n->addr,
		     why == AUTOHOSTS_WHY_USERS ? "the name is already in " AUTOHOSTS_PATH
						: "the address is not inside the routed networks");
}

static int hosts_to_priv(void *arg, struct hosts_entry *e, size_t n)
{
	return privc_hosts(((struct features *)arg)->priv, e, n);
}

static int hosts_restore_priv(void *arg)
{
	return privc_hosts(((struct features *)arg)->priv, NULL, 0);
}

/* --dns: which nameservers to capture, from --ns-hosts or our own resolv.conf. */
static int dns_servers(struct features *sv)
{
	struct sockaddr_storage ss[OPTS_MAX_NS];
	int i, n;

	if (sv->o->n_ns_hosts) {
		memcpy(sv->dns_servers, sv->o->ns_hosts, sv->o->n_ns_hosts * sizeof(struct subnet));
		sv->n_dns = sv->o->n_ns_hosts;
		return 0;
	}
	sv->n_dns = 0;
	n = resolv_read("/etc/resolv.conf", ss, OPTS_MAX_NS);
	if (n <= 0) {
		log_err("--dns: no nameserver in /etc/resolv.conf%s%s; name them with --ns-hosts",
			n < 0 ? ": " : "", n < 0 ? strerror(-n) : "");
		return n < 0 ? n : -ENOENT;
	}
	for (i = 0; i < n; i++) {
		struct subnet *d = &sv->dns_servers[sv->n_dns];
		if (ss[i].ss_family == AF_INET6 && sv->o->no_ipv6)
			continue;
		sv->n_dns++;
		memset(d, 0, sizeof(*d));
		d->family = ss[i].ss_family;
		memcpy(d->addr, sa_addr(&ss[i]), d->family == AF_INET ? 4 : 16);
		d->prefix = d->family == AF_INET ? 32 : 128;
		d->port_lo = d->port_hi = 53;
	}
	if (sv->n_dns == 0) {
		log_err("--dns: /etc/resolv.conf names only IPv6 nameservers and IPv6 is disabled");
		return -ENOENT;
	}
	return 0;
}

int features_init(struct features *sv, const struct opts *o, struct rules *rules,
		  struct privc *priv)
{
	char self[256];

	memset(sv, 0, sizeof(*sv));
	sv->o = o;
	sv->rules = rules;
	sv->priv = priv;
	sv->dns.s4.io.fd = sv->dns.s6.io.fd = -1;
	sv->names_rl = (struct ratelimit)RATELIMIT_INIT(10, 10000);
	sv->hosts.seeds = o->seed_hosts;
	sv->hosts.n_seeds = o->n_seed_hosts;
	sv->hosts.io = (struct autohosts_io){hosts_to_priv, hosts_restore_priv, sv};
	if (gethostname(self, sizeof(self)) == 0) {
		self[sizeof(self) - 1] = '\0';
		autohosts_self(&sv->hosts, self);
	}
	return o->dns ? dns_servers(sv) : 0;
}

void features_own_names(struct features *sv, const char *alias, const char *hostname,
			const char *proxyjump)
{
	const char *p = proxyjump;

	if (alias)
		autohosts_own(&sv->hosts, alias, strlen(alias));
	if (hostname)
		autohosts_own(&sv->hosts, hostname, strlen(hostname));
	while (p && *p) {
		size_t len = strcspn(p, ","), n;
		const char *host = p, *at;

		if (len > 6 && !strncmp(host, "ssh://", 6))
			host += 6;
		/* user@ may itself hold an '@': the host follows the last one. */
		for (at = host; (at = memchr(at, '@', (size_t)(p + len - at))); host = ++at)
			;
		if (*host == '[') {
			host++;
			n = strcspn(host, "]");
		} else {
			n = strcspn(host, ":,/");
		}
		if ((size_t)(host - p) + n <= len)
			autohosts_own(&sv->hosts, host, n);
		p += len + (p[len] == ',');
	}
}

uint32_t features_wanted(const struct opts *o)
{
	return (o->auto_nets ? WIRE_F_ROUTES : 0) | (o->auto_hosts ? WIRE_F_HOSTS : 0) |
	       (o->dns ? WIRE_F_DNS : 0) | (o->tcp_only ? 0 : WIRE_F_UDP);
}

/* "192.0.2.1 port 40000 -> 198.51.100.2 port 53", brackets around IPv6. */
static void flow_text(const struct dgram_flow *f, char *buf, size_t len)
{
	int fam = f->version == 4 ? AF_INET : AF_INET6;
	char s[INET6_ADDRSTRLEN] = "?", d[INET6_ADDRSTRLEN] = "?";
	const char *l = fam == AF_INET6 ? "[" : "", *r = fam == AF_INET6 ? "]" : "";

	inet_ntop(fam, f->src, s, sizeof(s));
	inet_ntop(fam, f->dst, d, sizeof(d));
	snprintf(buf, len, "%s%s%s port %u -> %s%s%s port %u", l, s, r, f->sport, l, d, r,
		 f->dport);
}

/* -v: one line per UDP flow as it ends, as for connections. */
static void flow_ended(void *arg, const struct dgram_flow *f, enum dgram_end why, int64_t now_ms)
{
	static const char *const how[] = {"idle", "table full", "closed by the remote",
					  "its socket here is gone"};
	char t[160];

	if (log_verbosity < LOG_DEBUG)
		return;
	flow_text(f, t, sizeof(t));
	log_debug("udp %s ended (%s): %" PRIu64 " datagrams (%" PRIu64 " bytes) out, %" PRIu64
		  " (%" PRIu64 " bytes) in",
		  t, how[why], f->tx_dgrams, f->tx_bytes, f->rx_dgrams, f->rx_bytes);
}

static void flow_row(void *arg, const struct dgram_flow *f)
{
	size_t *lines = arg;
	char t[160];

	if ((*lines)++ >= FEATURES_TABLE_MAX)
		return;
	flow_text(f, t, sizeof(t));
	log_info("  udp %s: %" PRIu64 " datagrams (%" PRIu64 " bytes) out, %" PRIu64 " (%" PRIu64
		 " bytes) in",
		 t, f->tx_dgrams, f->tx_bytes, f->rx_dgrams, f->rx_bytes);
}

void features_udp_table(const struct features *sv)
{
	size_t lines = 0, n;

	if (!sv->dgram)
		return;
	log_info("%zu UDP flow%s:", sv->dgram->st.flows, sv->dgram->st.flows == 1 ? "" : "s");
	n = dgram_each_flow(sv->dgram, flow_row, &lines);
	if (n > FEATURES_TABLE_MAX)
		log_info("  ... and %zu more", n - FEATURES_TABLE_MAX);
}

int features_datagrams(struct features *sv, struct evloop *loop, int fd)
{
	int ret;

	sv->dgram = calloc(1, sizeof(*sv->dgram));
	if (!sv->dgram) {
		close(fd);
		return -ENOMEM;
	}
	ret = dgram_init(sv->dgram, loop, fd);
	if (ret < 0) {
		close(fd);
		free(sv->dgram);
		sv->dgram = NULL;
		return ret;
	}
	sv->dgram->ended = flow_ended;
	if (sv->mux && (sv->features & WIRE_F_UDP))
		dgram_attach(sv->dgram, sv->mux);
	return 0;
}

int features_listen(struct features *sv, bool v4, bool v6)
{
	int ret;

	if (!sv->o->dns)
		return 0;
	ret = dns_open(&sv->dns, v4, v6);
	if (ret < 0)
		log_err("--dns: cannot open a UDP socket: %s", strerror(-ret));
	return ret;
}

int features_start(struct features *sv, struct evloop *loop, struct mux *mux, uint32_t features)
{
	uint8_t frame[WIRE_HDR_LEN + 32 + WIRE_NAME_MAX];
	const struct opts *o = sv->o;
	size_t i;
	int ret = 0;

	sv->loop = loop;
	sv->mux = mux;
	sv->features = features;
	if (o->has_to_ns) {
		struct wire_open r = {.family = o->to_ns.family, .port = o->to_ns.port_lo};
		memcpy(r.addr, o->to_ns.addr, sizeof(r.addr));
		ret = mux_send_ctl(mux, frame, wire_put_resolver(frame, sizeof(frame), &r));
	}
	for (i = 0; ret == 0 && i < o->n_seed_hosts; i++) {
		struct wire_host h = {.family = AF_INET};
		snprintf(h.name, sizeof(h.name), "%s", o->seed_hosts[i]);
		ret = mux_send_ctl(mux, frame, wire_put_host(frame, sizeof(frame), &h));
	}
	if (ret == 0 && o->dns)
		ret = dns_start(&sv->dns, loop, mux);
	if (ret == 0 && sv->dgram && (features & WIRE_F_UDP))
		dgram_attach(sv->dgram, mux);
	return ret;
}

int features_ctl(struct features *sv, const struct wire_frame *f)
{
	switch (f->type) {
	case WIRE_ROUTES:
		if (!(sv->features & WIRE_F_ROUTES))
			return -EPROTO;
		if (autonets_take(&sv->nets, f) < 0)
			return -ENOMEM;
		if (autonets_due(&sv->nets, clock_ms()))
			routes_apply(sv);
		return 0;
	case WIRE_HOST: {
		const char *why;
		if (!(sv->features & WIRE_F_HOSTS))
			return -EPROTO;
		if (autohosts_add(&sv->hosts, &f->u.host, &why) < 0)
			name_refused(sv, f->u.host.name, f->u.host.family, f->u.host.addr,
				     why ? why : strerror(ENOMEM));
		return 0;
	}
	case WIRE_DNS_REPLY:
		if (!(sv->features & WIRE_F_DNS))
			return -EPROTO;
		dns_answer(&sv->dns, f->stream, f->payload, f->len);
		return 0;
	case WIRE_UDP:
	case WIRE_UDP_ERR:
	case WIRE_UDP_CLOSE:
	case WIRE_ECHO:
	case WIRE_ECHO_ERR:
		if (!(sv->features & WIRE_F_UDP))
			return -EPROTO;
		return sv->dgram ? dgram_frame(sv->dgram, f) : 0;
	default:
		return -EPROTO;
	}
}

void features_tick(struct features *sv)
{
	int ret;

	if (sv->dgram)
		dgram_expire(sv->dgram);
	if (sv->features & WIRE_F_ROUTES)
		routes_rejudge(sv);
	if ((sv->features & WIRE_F_ROUTES) && autonets_due(&sv->nets, clock_ms()))
		routes_apply(sv);
	if (sv->features & WIRE_F_HOSTS) {
		const struct fw_spec *sp = &sv->rules->spec;
		struct autohosts_routes r = {sp->include, sp->exclude, sp->n_include,
					     sp->n_exclude};
		ret = autohosts_flush(&sv->hosts, time(NULL), &r, name_left_out, sv);
		if (ret < 0)
			log_warn("-H: updating %s failed: %s", AUTOHOSTS_PATH,
				 privc_why(sv->priv) ? privc_why(sv->priv) : privc_strerror(ret));
	}
	if (sv->features & WIRE_F_DNS) {
		uint64_t dropped = sv->dns.dropped + sv->dns.dropped_big;
		dns_expire(&sv->dns);
		/* Once per ten seconds at most: the count, not each datagram. */
		if (dropped != sv->dns_dropped_told && time(NULL) - sv->dns_told_at >= 10) {
			log_warn("--dns: dropped %" PRIu64 " local quer%s (%" PRIu64
				 " over %d bytes, the rest over DNS's budget of %d in flight)",
				 dropped - sv->dns_dropped_told,
				 dropped - sv->dns_dropped_told == 1 ? "y" : "ies",
				 sv->dns.dropped_big, WIRE_DNS_UDP_MAX, DNS_INFLIGHT_MAX);
			sv->dns_dropped_told = dropped;
			sv->dns_told_at = time(NULL);
		}
	}
}

void features_detach(struct features *sv)
{
	dns_detach(&sv->dns);
	if (sv->dgram)
		dgram_detach(sv->dgram);
	sv->mux = NULL;
}

int features_stop(struct features *sv)
{
	int ret = autohosts_finish(&sv->hosts);

	/* A part that is gone takes them away itself. */
	if (ret < 0 && privc_gone(sv->priv))
		ret = 0;
	if (ret < 0)
		log_err("removing our lines from %s failed: %s", AUTOHOSTS_PATH,
			privc_why(sv->priv) ? privc_why(sv->priv) : privc_strerror(ret));
	dns_close(&sv->dns, sv->loop);
	if (sv->dgram) {
		dgram_close(sv->dgram);
		free(sv->dgram);
		sv->dgram = NULL;
	}
	autonets_free(&sv->nets);
	return ret;
}

void features_rules_changed(struct features *sv)
{
	autohosts_routes_changed(&sv->hosts);
}
