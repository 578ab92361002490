/*
 * sluice: the client. Parses the command line, brings up the SSH session
 * and the remote helper, and only then installs the firewall rules, so that
 * every failure before the tunnel works leaves the machine untouched. Runs
 * one event loop until a signal or a dead session, then removes the rules.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/fdlimit.h"
#include "../common/ratelimit.h"
#include "../common/log.h"
#include "../common/mux.h"
#include "boot.h"
#include "../common/resolv.h"
#include "../common/routes.h"
#include "../common/sockaddr.h"
#include "argfile.h"
#include "autohosts.h"
#include "autonets.h"
#include "dns.h"
#include "listen.h"
#include "opts.h"
#include "cmd/transport_cmd.h"
#include "priv/priv_client.h"
#include "priv/priv_main.h"
#include "ssh/sshconf.h"
#include "ssh/transport_ssh.h"
#include "tunnel.h"

/*
 * Download-direction queueing: a bulk stream keeps at most STREAM_WINDOW
 * bytes in flight, and those bytes sit ahead of every other stream's in the
 * shared pipe, so this trades bulk speed against the latency of everything
 * else (the README's Performance section has the measurements). The
 * channel window caps what all streams together may have in flight.
 */
#define SSH_RX_WINDOW (8u << 20)
#define STREAM_WINDOW (1u << 20)
/*
 * A stream alone in the pipe for STREAM_ALONE_MS may hold what it receives
 * in one SSH round trip (smallest PING seen, at most MUX_RTT_MAX_MS) plus
 * STREAM_BUDGET_MS, up to STREAM_WINDOW_ALONE: a fast pipe fills; a long
 * path gets a round trip's worth, which is in flight rather than queued; a
 * slow short path
 * stays at 1 MiB, so a reply never queues far behind it. It drops back to
 * STREAM_WINDOW as soon as another stream's data arrives.
 */
#define STREAM_WINDOW_ALONE (4u << 20)
#define STREAM_BUDGET_MS    10
#define STREAM_ALONE_MS	    200
#define OUT_HIGH	    (256u << 10)
#define LOCAL_NETS_MAX	    1024

struct client {
	struct argfile args; /* the command line, expanded; opts points into it */
	struct opts o;
	struct sshconf cfg;
	struct transport *tr;
	struct evloop loop;
	struct listeners ls;
	struct mux *mux;
	struct tunnel tun;
	struct privc *priv; /* the only way to the firewall and /etc/hosts */
	bool installed;
	struct fw_spec spec; /* what is installed; includes/excludes owned below */
	struct subnet *includes, *excludes;
	struct ev_io sig;
	int stop_signal;
	bool want_table; /* SIGUSR1: write the open connections to the log */
	size_t table_lines;
	uint32_t features; /* agreed with the helper */
	struct subnet dns_servers[OPTS_MAX_NS];
	size_t n_dns;
	struct dns_proxy dns;
	struct autohosts hosts;
	struct autonets nets;
	struct ratelimit names_rl; /* -v lines about names refused */
	uint64_t dns_dropped_told; /* --dns drops already logged */
	time_t dns_told_at;
};

/* How a connection ended, in the words a user looks for. */
static const char *ended_how(const struct mux_stream_end *end)
{
	switch (end->reason) {
	case 0:
		return "closed";
	case ECONNREFUSED:
		return "refused";
	case ETIMEDOUT:
		return "timed out";
	case ECONNRESET:
	case EPIPE:
		return "reset";
	case EHOSTUNREACH:
	case ENETUNREACH:
		return "unreachable";
	default:
		return strerror(end->reason);
	}
}

/* -v: one line per connection as it ends. */
static void on_stream_closed(void *ctx, uint32_t id, const struct wire_open *dst,
			     const struct mux_stream_end *end)
{
	char addr[64] = "?";

	if (log_verbosity < LOG_DEBUG)
		return;
	inet_ntop(dst->family, dst->addr, addr, sizeof(addr));
	log_debug("connection to %s%s%s port %u %s (%s): %" PRIu64 " bytes out, %" PRIu64
		  " in, %" PRIu64 ".%02" PRIu64 " s",
		  dst->family == AF_INET6 ? "[" : "", addr, dst->family == AF_INET6 ? "]" : "",
		  dst->port, ended_how(end), end->local ? "here" : "by the remote", end->sent,
		  end->received, end->ms / 1000, end->ms % 1000 / 10);
}

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

/*
 * -N: the helper's last route list, judged, becomes the routed set next to
 * the command line's; at most once per AUTONETS_EVERY_MS, however many
 * ROUTES frames arrive, and only when the set changed.
 */
static void client_routes_apply(struct client *c)
{
	struct subnet *inc = NULL, *local;
	const struct subnet *old;
	size_t n = 0, n_old;
	int n_local, ret;

	local = calloc(LOCAL_NETS_MAX, sizeof(*local));
	if (!local) {
		log_err("-N: out of memory judging the remote's routes");
		return;
	}
	/* Read each time: this machine's own networks change too (a laptop moves). */
	n_local = routes_read(local, LOCAL_NETS_MAX, ROUTES_CONNECTED);
	if (n_local < 0) {
		log_warn("-N: cannot read this machine's networks: %s", strerror(-n_local));
		n_local = 0;
	}
	ret = autonets_build(&c->nets, clock_ms(), local, (size_t)n_local, c->o.include,
			     c->o.n_include, c->o.no_ipv6, &inc, &n, routes_refused, c);
	free(local);
	if (ret < 0) {
		log_err("-N: judging the remote's routes: %s", strerror(-ret));
		return;
	}
	if (n == c->spec.n_include && !memcmp(inc, c->spec.include, n * sizeof(*inc))) {
		free(inc);
		return;
	}
	old = c->spec.include;
	n_old = c->spec.n_include;
	c->spec.include = inc;
	c->spec.n_include = n;
	ret = privc_update(c->priv, &c->spec);
	if (ret < 0) {
		log_err("-N: updating the firewall rules failed: %s", privc_strerror(ret));
		c->spec.include = old;
		c->spec.n_include = n_old;
		free(inc);
		return; /* the old rules stay; not a protocol error */
	}
	free(c->includes);
	c->includes = inc;
	autohosts_routes_changed(&c->hosts);
	log_info("-N: routing %zu network%s", n, n == 1 ? "" : "s");
}

static void name_refused(struct client *c, const char *name, int family, const uint8_t *addr,
			 const char *why)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned dropped = 0;

	if (log_verbosity < LOG_DEBUG || !ratelimit_allow(&c->names_rl, clock_ms(), &dropped))
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

static int client_ctl(void *ctx, const struct wire_frame *f)
{
	struct client *c = ctx;

	switch (f->type) {
	case WIRE_ROUTES:
		if (!(c->features & WIRE_F_ROUTES))
			return -EPROTO;
		if (autonets_take(&c->nets, f) < 0)
			return -ENOMEM;
		if (autonets_due(&c->nets, clock_ms()))
			client_routes_apply(c);
		return 0;
	case WIRE_HOST: {
		const char *why;
		if (!(c->features & WIRE_F_HOSTS))
			return -EPROTO;
		if (autohosts_add(&c->hosts, &f->u.host, &why) < 0)
			name_refused(c, f->u.host.name, f->u.host.family, f->u.host.addr,
				     why ? why : strerror(ENOMEM));
		return 0;
	}
	case WIRE_DNS_REPLY:
		if (!(c->features & WIRE_F_DNS))
			return -EPROTO;
		dns_answer(&c->dns, f->stream, f->payload, f->len);
		return 0;
	default:
		return -EPROTO;
	}
}

/* A helper that echoes nonsense can only cost a lone stream's credit, which window_max bounds. */
static void client_pong(void *ctx, const uint8_t opaque[8])
{
	struct client *c = ctx;
	int rtt = mux_pong_rtt(c->mux, opaque);

	if (rtt >= 0)
		log_debug("SSH round trip %d ms", rtt);
}

static const struct mux_ops client_ops = {
    .stream_closed = on_stream_closed,
    .pong = client_pong,
    .ctl = client_ctl,
};

static void on_signal(struct ev_io *io, uint32_t events)
{
	struct client *c = (struct client *)((char *)io - offsetof(struct client, sig));
	struct signalfd_siginfo si;

	if (read(io->fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR1)
		c->want_table = true;
	else
		c->stop_signal = (int)si.ssi_signo;
}

static void default_listen(struct opts *o)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&o->listen[0];
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&o->listen[1];

	memset(o->listen, 0, sizeof(o->listen[0]) * 2);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = in6addr_loopback;
	o->n_listen = 2;
}

static bool wants_family(const struct client *c, int family)
{
	size_t i;

	if (family == AF_INET6 && c->o.no_ipv6)
		return false;
	if (c->o.auto_nets)
		return true;
	for (i = 0; i < c->o.n_include; i++)
		if (c->o.include[i].family == family)
			return true;
	for (i = 0; i < c->n_dns; i++)
		if (c->dns_servers[i].family == family)
			return true;
	return false;
}

/* --dns: which nameservers to capture, from --ns-hosts or our own resolv.conf. */
static int client_dns_servers(struct client *c)
{
	struct sockaddr_storage ss[OPTS_MAX_NS];
	int i, n;

	if (c->o.n_ns_hosts) {
		memcpy(c->dns_servers, c->o.ns_hosts, c->o.n_ns_hosts * sizeof(struct subnet));
		c->n_dns = c->o.n_ns_hosts;
		return 0;
	}
	c->n_dns = 0;
	n = resolv_read("/etc/resolv.conf", ss, OPTS_MAX_NS);
	if (n <= 0) {
		log_err("--dns: no nameserver in /etc/resolv.conf%s%s; name them with --ns-hosts",
			n < 0 ? ": " : "", n < 0 ? strerror(-n) : "");
		return n < 0 ? n : -ENOENT;
	}
	for (i = 0; i < n; i++) {
		struct subnet *d = &c->dns_servers[c->n_dns];
		if (ss[i].ss_family == AF_INET6 && c->o.no_ipv6)
			continue;
		c->n_dns++;
		memset(d, 0, sizeof(*d));
		d->family = ss[i].ss_family;
		memcpy(d->addr, sa_addr(&ss[i]), d->family == AF_INET ? 4 : 16);
		d->prefix = d->family == AF_INET ? 32 : 128;
		d->port_lo = d->port_hi = 53;
	}
	if (c->n_dns == 0) {
		log_err("--dns: /etc/resolv.conf names only IPv6 nameservers and IPv6 is disabled");
		return -ENOENT;
	}
	return 0;
}

static int client_listen(struct client *c)
{
	struct sockaddr_storage addrs[OPTS_MAX_LISTEN];
	size_t i, n = 0, bad = 0;
	char where[64];
	int ret;

	if (c->o.n_listen == 0)
		default_listen(&c->o);
	/* Skip families nothing is routed for: a host without IPv6 must still work. */
	for (i = 0; i < c->o.n_listen; i++)
		if (wants_family(c, c->o.listen[i].ss_family))
			addrs[n++] = c->o.listen[i];
	if (n == 0) {
		log_err("no listen address matches the address family of any routed subnet");
		return -EINVAL;
	}
	ret = listen_open(&c->ls, addrs, n, &bad);
	if (ret == 0) {
		c->ls.dns = c->dns_servers;
		c->ls.n_dns = c->n_dns;
	}
	if (ret == 0 && c->o.dns) {
		ret = dns_open(&c->dns, wants_family(c, AF_INET), wants_family(c, AF_INET6));
		if (ret < 0)
			log_err("--dns: cannot open a UDP socket: %s", strerror(-ret));
		return ret;
	}
	if (ret < 0) {
		inet_ntop(addrs[bad].ss_family, sa_addr(&addrs[bad]), where, sizeof(where));
		log_err("cannot listen on %s: %s", where, strerror(-ret));
	}
	return ret;
}

/* What the helper needs to know before any stream: the resolver (--to-ns), the seeds (-H). */
static int client_session_setup(struct client *c)
{
	uint8_t frame[WIRE_HDR_LEN + 32 + WIRE_NAME_MAX];
	size_t i;
	int ret = 0;

	if (c->o.has_to_ns) {
		struct wire_open r = {.family = c->o.to_ns.family, .port = c->o.to_ns.port_lo};
		memcpy(r.addr, c->o.to_ns.addr, sizeof(r.addr));
		ret = mux_send_ctl(c->mux, frame, wire_put_resolver(frame, &r));
	}
	for (i = 0; ret == 0 && i < c->o.n_seed_hosts; i++) {
		struct wire_host h = {.family = AF_INET};
		snprintf(h.name, sizeof(h.name), "%s", c->o.seed_hosts[i]);
		ret = mux_send_ctl(c->mux, frame, wire_put_host(frame, &h));
	}
	if (ret == 0 && c->o.dns)
		ret = dns_start(&c->dns, &c->loop, c->mux);
	return ret;
}

/* The libssh2 backend: our own session, with the ssh config's host keys and identities. */
static int client_open_ssh(struct client *c, char *err, size_t errlen)
{
	struct ssh_report rep;
	int ret;

	memset(&rep, 0, sizeof(rep));
	ret = transport_ssh_open(&c->tr, &c->cfg, c->o.identity, c->o.n_identity, c->o.known_hosts,
				 SSH_RX_WINDOW, &rep, err, errlen);
	if (ret < 0)
		return ret;
	if (rep.hostkey_added)
		log_warn("added the host key of %s (%s) to %s", c->cfg.hostname, rep.hostkey,
			 c->o.known_hosts	? c->o.known_hosts
			 : c->cfg.n_known_hosts ? c->cfg.known_hosts[0]
						: "known_hosts");
	else if (rep.hostkey_add_err)
		log_warn("accepted the new host key of %s (%s) but could not save it: %s",
			 c->cfg.hostname, rep.hostkey, strerror(-rep.hostkey_add_err));
	log_debug("SSH session to %s@%s port %u is up (host key %s, authenticated by %s)",
		  c->cfg.user, c->cfg.hostname, c->cfg.port, rep.hostkey, rep.auth_used);
	return 0;
}

/*
 * The -e backend. Its own connection must never be redirected, so when
 * `ssh -G` names the server and it resolves here, that address and port is
 * excluded as with our own session; through a proxy it is not contacted.
 */
static int client_open_cmd(struct client *c)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res, *ai;
	char port[8];
	int ret;

	ret = transport_cmd_open(&c->tr, c->o.ssh_cmd, c->o.remote_host, c->o.remote_user,
				 c->o.remote_port);
	if (ret < 0) {
		log_err("starting the -e command: %s", strerror(-ret));
		return ret;
	}
	if (c->cfg.proxyjump || c->cfg.proxycommand) {
		log_debug("-e: the SSH server is reached through a proxy; its address is not "
			  "excluded (use -x if it is inside a routed network)");
		return 0;
	}
	snprintf(port, sizeof(port), "%u", (unsigned)c->cfg.port);
	if (getaddrinfo(c->cfg.hostname, port, &hints, &res) != 0) {
		log_debug("-e: %s does not resolve here; its address is not excluded",
			  c->cfg.hostname);
		return 0;
	}
	/* ssh may take any of them (v4 or v6, round robin): every one is excluded. */
	for (ai = res; ai && c->tr->n_peer < TRANSPORT_PEERS_MAX; ai = ai->ai_next)
		if (ai->ai_addrlen <= sizeof(c->tr->peer[0]))
			memcpy(&c->tr->peer[c->tr->n_peer++], ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static int client_connect(struct client *c)
{
	uint32_t want;
	struct wire_hello peer;
	struct boot_report boot;
	char err[512];
	int ret;

	ret = sshconf_resolve(&c->cfg, c->o.remote_host, c->o.remote_user, c->o.remote_port,
			      c->o.ssh_config);
	if (ret < 0) {
		log_err("cannot resolve the SSH configuration for '%s'%s%s: %s", c->o.remote_host,
			c->o.ssh_config ? " with " : "", c->o.ssh_config ? c->o.ssh_config : "",
			ret == -EINVAL ? "ssh -G rejected it" : strerror(-ret));
		return ret;
	}
	if (c->o.ssh_cmd) {
		ret = client_open_cmd(c);
		if (ret < 0)
			return ret;
	} else {
		ret = client_open_ssh(c, err, sizeof(err));
		if (ret < 0) {
			log_err("%s", err);
			return ret;
		}
	}
	log_debug("transport %s: %s", c->tr->name, c->tr->detail);
	want = (c->o.auto_nets ? WIRE_F_ROUTES : 0) | (c->o.auto_hosts ? WIRE_F_HOSTS : 0) |
	       (c->o.dns ? WIRE_F_DNS : 0);
	ret = boot_start(c->tr, STREAM_WINDOW, want, c->o.verbose, &peer, &boot, err, sizeof(err));
	if (ret < 0) {
		log_err("%s", err);
		return ret;
	}
	if (boot.uploaded)
		log_debug("remote helper for %s: uploaded %zu KiB", boot.arch,
			  (boot.uploaded + 1023) / 1024);
	else
		log_debug("remote helper for %s: cached", boot.arch);
	c->features = want & peer.features;
	if (c->features != want) {
		log_err("the remote helper does not offer -N, -H or --dns as asked (0x%x of 0x%x)",
			peer.features, want);
		return -EPROTONOSUPPORT;
	}
	ret = evloop_init(&c->loop);
	if (ret < 0)
		return ret;
	c->mux = mux_new(&c->loop, STREAM_WINDOW, OUT_HIGH, &client_ops, c);
	if (!c->mux)
		return -ENOMEM;
	mux_set_peer_window(c->mux, peer.window);
	mux_set_window_max(c->mux, STREAM_WINDOW_ALONE, STREAM_ALONE_MS, STREAM_BUDGET_MS);
	ret = tunnel_init(&c->tun, c->tr, &c->loop, c->mux);
	if (ret < 0) {
		log_err("watching the transport: %s", strerror(-ret));
		return ret;
	}
	return client_session_setup(c);
}

/* The rules: the user's networks, minus the excludes, minus the SSH server itself. */
static int client_firewall(struct client *c)
{
	struct subnet *ex;
	size_t n = c->o.n_exclude, i;
	int ret;

	ex = calloc(n + 2 * TRANSPORT_PEERS_MAX, sizeof(*ex));
	if (!ex)
		return -ENOMEM;
	memcpy(ex, c->o.exclude, n * sizeof(*ex));
	for (i = 0; i < c->tr->n_peer; i++) {
		const struct sockaddr_storage *p = &c->tr->peer[i];

		if (!sa_addr(p))
			continue;
		/* The tunnel must never capture its own SSH connection, even with 0/0. */
		ex[n].family = p->ss_family;
		memcpy(ex[n].addr, sa_addr(p), ex[n].family == AF_INET ? 4 : 16);
		ex[n].prefix = ex[n].family == AF_INET ? 32 : 128;
		ex[n].port_lo = ex[n].port_hi = sa_port(p);
		n++;
		if (c->o.auto_nets) {
			/* -N may bring the server's network: never send the server into its own
			 * tunnel. */
			ex[n] = ex[n - 1];
			ex[n].port_lo = 0;
			ex[n].port_hi = 65535;
			n++;
		}
	}
	c->excludes = ex;
	c->spec = (struct fw_spec){
	    .redirect_port = c->ls.port,
	    .include = c->o.include,
	    .n_include = c->o.n_include,
	    .exclude = ex,
	    .n_exclude = n,
	    .prerouting = listen_any_nonlocal(&c->ls),
	    .dns = c->dns_servers,
	    .n_dns = c->n_dns,
	    .dns_port = c->dns.port,
	    .by_uid = c->o.by_uid,
	    .by_gid = c->o.by_gid,
	    .uid = c->o.uid,
	    .gid = c->o.gid,
	};
	ret = privc_install(c->priv, &c->spec);
	if (ret < 0)
		log_err("installing the firewall rules failed: %s", privc_strerror(ret));
	else
		c->installed = true;
	return ret;
}

static int client_signals(struct client *c)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	/* Blocked before the rules go in, so a signal can never skip their removal. */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	c->sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (c->sig.fd < 0)
		return -errno;
	c->sig.cb = on_signal;
	return evloop_add(&c->loop, &c->sig, EPOLLIN);
}

static void client_tick(struct client *c)
{
	int ret;

	if ((c->features & WIRE_F_ROUTES) && autonets_due(&c->nets, clock_ms()))
		client_routes_apply(c);
	if (c->features & WIRE_F_HOSTS) {
		struct autohosts_routes r = {c->spec.include, c->spec.exclude, c->spec.n_include,
					     c->spec.n_exclude};
		ret = autohosts_flush(&c->hosts, time(NULL), &r, name_left_out, c);
		if (ret < 0)
			log_warn("-H: updating %s failed: %s", AUTOHOSTS_PATH, strerror(-ret));
	}
	if (c->features & WIRE_F_DNS) {
		uint64_t dropped = c->dns.dropped + c->dns.dropped_big;
		dns_expire(&c->dns);
		/* Once per ten seconds at most: the count, not each datagram. */
		if (dropped != c->dns_dropped_told && time(NULL) - c->dns_told_at >= 10) {
			log_warn("--dns: dropped %" PRIu64 " local quer%s (%" PRIu64
				 " over %d bytes, the rest over DNS's budget of %d in flight)",
				 dropped - c->dns_dropped_told,
				 dropped - c->dns_dropped_told == 1 ? "y" : "ies",
				 c->dns.dropped_big, WIRE_DNS_UDP_MAX, DNS_INFLIGHT_MAX);
			c->dns_dropped_told = dropped;
			c->dns_told_at = time(NULL);
		}
	}
}

#define TABLE_LINES_MAX 1000

static void table_row(void *arg, uint32_t id, const struct wire_open *dst,
		      const struct mux_stream_end *sofar)
{
	struct client *c = arg;
	char addr[64] = "?";

	if (c->table_lines++ >= TABLE_LINES_MAX)
		return;
	inet_ntop(dst->family, dst->addr, addr, sizeof(addr));
	log_info("  %s%s%s port %u: %" PRIu64 " bytes out, %" PRIu64 " in, open %" PRIu64 " s",
		 dst->family == AF_INET6 ? "[" : "", addr, dst->family == AF_INET6 ? "]" : "",
		 dst->port, sofar->sent, sofar->received, sofar->ms / 1000);
}

/* SIGUSR1: the open connections, one line each (at most TABLE_LINES_MAX), into the log. */
static void client_table(struct client *c)
{
	struct mux_stats st;
	size_t n;

	mux_get_stats(c->mux, &st);
	log_info("%zu open connection%s through %s:", st.streams, st.streams == 1 ? "" : "s",
		 c->cfg.hostname);
	c->table_lines = 0;
	n = mux_each_stream(c->mux, table_row, c);
	if (n > TABLE_LINES_MAX)
		log_info("  ... and %zu more", n - TABLE_LINES_MAX);
}

static int client_run(struct client *c)
{
	struct timespec last, now;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &last);
	while (!c->stop_signal) {
		tunnel_pump(&c->tun);
		if (c->tun.failed)
			break;
		if (c->want_table) {
			c->want_table = false;
			client_table(c);
		}
		ret = evloop_run_once(&c->loop, tunnel_timeout_ms(&c->tun));
		if (ret < 0) {
			log_err("epoll: %s", strerror(-ret));
			return ret;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec != last.tv_sec) {
			tunnel_tick(&c->tun);
			client_tick(c);
			last = now;
		}
	}
	if (c->tun.failed) {
		log_err("%s", c->tun.why);
		return c->tun.failed;
	}
	log_info("stopping on signal %d (%s)", c->stop_signal, strsignal(c->stop_signal));
	return 0;
}

static void client_cleanup(struct client *c)
{
	int ret;

	ret = autohosts_finish(&c->hosts);
	if (ret < 0)
		log_err("removing our lines from %s failed: %s", AUTOHOSTS_PATH,
			privc_strerror(ret));
	if (c->installed && (ret = privc_remove(c->priv)) < 0)
		log_err("removing the firewall rules failed: %s", privc_strerror(ret));
	privc_close(c->priv);
	listen_close(&c->ls, &c->loop);
	dns_close(&c->dns, &c->loop);
	mux_free(c->mux);
	transport_close(c->tr);
	if (c->sig.fd > 0)
		close(c->sig.fd);
	if (c->loop.epfd > 0)
		evloop_close(&c->loop);
	sshconf_free(&c->cfg);
	opts_free(&c->o);
	argfile_free(&c->args);
	free(c->includes);
	free(c->excludes);
	autonets_free(&c->nets);
}

static int hosts_to_priv(void *arg, struct hosts_entry *e, size_t n)
{
	return privc_hosts(((struct client *)arg)->priv, e, n);
}

static int hosts_restore_priv(void *arg)
{
	return privc_hosts(((struct client *)arg)->priv, NULL, 0);
}

/* Local facts the session needs, gathered before anything is changed. */
static int client_prepare(struct client *c)
{
	int ret;

	if (c->o.dns && (ret = client_dns_servers(c)) < 0)
		return ret;
	c->hosts.seeds = c->o.seed_hosts;
	c->hosts.n_seeds = c->o.n_seed_hosts;
	c->hosts.io = (struct autohosts_io){hosts_to_priv, hosts_restore_priv, c};
	return 0;
}

int main(int argc, char **argv)
{
	static struct client c;
	char err[512] = "";
	int ret;

	c.dns.s4.io.fd = c.dns.s6.io.fd = -1;
	c.ls.reserve_fd = -1;
	c.loop.epfd = -1;
	c.sig.fd = -1;
	c.names_rl = (struct ratelimit)RATELIMIT_INIT(10, 10000);
	/* The fixed entry point sudo allows: nothing else is read, not even SLUICE_ARGS. */
	if (argc == 2 && !strcmp(argv[1], PRIV_ARG))
		return priv_main();
	log_init("sluice", LOG_INFO);
	ret = argfile_expand(&c.args, argc, argv, getenv("SLUICE_ARGS"), err, sizeof(err));
	if (ret == 0)
		ret = opts_parse(&c.o, c.args.argc, c.args.argv, stdout, err, sizeof(err));
	if (ret == OPTS_EXIT_OK || ret < 0) {
		if (ret < 0)
			log_err("%s", err);
		argfile_free(&c.args);
		return ret < 0 ? 2 : 0;
	}
	log_init("sluice", c.o.quiet ? LOG_WARN : LOG_INFO + c.o.verbose);
	if (c.o.sudoers_user) {
		char line[8192];
		ret = privc_sudoers(c.o.sudoers_user, line, sizeof(line), err, sizeof(err));
		if (ret < 0)
			log_err("%s", err);
		else
			fputs(line, stdout);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Before any SSH prompt: sudo may ask for a password on the terminal. */
	if ((ret = privc_start(&c.priv, err, sizeof(err))) < 0) {
		log_err("%s", err);
		goto out;
	}
	fdlimit_raise();
	c.dns.s4.io.fd = c.dns.s6.io.fd = -1;
	if ((ret = client_prepare(&c)) < 0)
		goto out;
	if ((ret = client_listen(&c)) < 0 || (ret = client_connect(&c)) < 0)
		goto out;
	if ((ret = privc_watch(c.priv, &c.loop)) < 0) {
		log_err("watching the privileged part: %s", strerror(-ret));
		goto out;
	}
	if ((ret = client_signals(&c)) < 0) {
		log_err("setting up signal handling: %s", strerror(-ret));
		goto out;
	}
	if ((ret = client_firewall(&c)) < 0)
		goto out;
	if ((ret = listen_start(&c.ls, &c.loop, c.mux)) < 0) {
		log_err("accepting connections: %s", strerror(-ret));
		goto out;
	}
	log_info("connected to %s; redirecting %zu network%s to port %u", c.cfg.hostname,
		 c.o.n_include, c.o.n_include == 1 ? "" : "s", c.ls.port);
	ret = client_run(&c);
out:
	client_cleanup(&c);
	return ret < 0 ? 1 : 0;
}
