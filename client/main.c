/*
 * sluice: the client. Parses the command line, starts the privileged part,
 * brings up the SSH session and the remote helper, and only then installs
 * the firewall rules, so that every failure before the tunnel works leaves
 * the machine untouched. Runs one event loop until a signal. When the
 * session drops it keeps the listeners and the rules (so nothing leaks
 * around the tunnel), holds new connections a while, and reconnects with
 * backoff, unless the cause is one no retry can fix.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/fdlimit.h"
#include "../common/log.h"
#include "../common/logsys.h"
#include "../common/mux.h"
#include "../common/ratelimit.h"
#include "../common/sockaddr.h"
#include "argfile.h"
#include "child.h"
#include "cmd/direct.h"
#include "capture/listen.h"
#include "opts.h"
#include "run/control.h"
#include "run/daemon.h"
#include "run/notify.h"
#include "run/report.h"
#include "capture/rules.h"
#include "link/session.h"
#include "run/status.h"
#include "services/features.h"
#include "link/lanes.h"
#include "priv/priv_client.h"
#include "priv/priv_grant.h"
#include "priv/priv_main.h"
#include "proctitle.h"
#include "ssh/sshconf.h"
#include "link/tunnel.h"

/* A connection to a routed network waits this long for a session that is down. */
#define HOLD_MS		10000
#define BACKOFF_FIRST_S 1
#define BACKOFF_MAX_S	30
/* The clocks parted by more than this: the machine slept. */
#define SLEPT_MS 5000
/* Once a second at most while connections keep being reset, then less often, up to a minute. */
#define RST_GAP_MIN_MS 1000
#define RST_GAP_MAX_MS 60000

/*
 * Connections reset before they reached the server, by where
 * (client_count_resets); and, last, those the server's helper reset for
 * want of descriptors or memory.
 */
enum { RST_LISTEN, RST_LANES, RST_DIRECT, RST_REMOTE, RST_N };

struct resets {
	uint64_t n[RST_N];
	int err[RST_N]; /* the errno of the last of each */
};

struct client {
	struct argfile args; /* the command line, expanded; opts points into it */
	struct opts o;
	struct sshconf cfg;
	struct evloop loop;
	struct listeners ls;
	struct session s; /* the current SSH session, when s.up */
	struct session_args sa;
	int64_t down_since; /* when the session dropped (clock_ms), 0 while up */
	int64_t next_try;   /* the next reconnect attempt */
	unsigned attempt;   /* reconnect attempts since the drop */
	unsigned reconnects;
	int64_t sleep_gap; /* CLOCK_BOOTTIME - CLOCK_MONOTONIC at the last tick, ms */
	int64_t turn_ms;   /* the last turn of the loop with the session up (clock_ms), 0 none */
	int64_t started_ms;
	size_t told_conns;	  /* the last STATUS= sent to systemd */
	uint64_t told_budget;	  /* streams reset at the buffer cap, logged */
	struct resets rst_past;	  /* reset before they reached the server: earlier sessions' */
	uint64_t rst_told[RST_N]; /* of each kind, logged */
	uint64_t rst_seen;	  /* all kinds together, at the last look */
	struct ratelimit_backoff rst_pace;
	struct control ctl;
	char pidfile[4096]; /* absolute, so it survives the daemon's chdir */
	int log_fd;	    /* --log-file, -1 when none */
	bool no_syslog;	    /* -D or --syslog, but nothing listens on /dev/log */
	struct privc *priv; /* the only way to the firewall and /etc/hosts */
	struct rules rules;
	struct features feat;
	struct progress pg; /* start-up steps, one info line each */
	struct status st;   /* the live line on a terminal */
	struct ev_io sig;
	int stop_signal;
	bool want_table; /* SIGUSR1: write the open connections to the log */
	size_t table_lines;
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

/* A helper that echoes nonsense can only cost a lone stream's credit, which window_max bounds. */
static void client_pong(void *ctx, const uint8_t opaque[8])
{
	struct client *c = ctx;
	int rtt = mux_pong_rtt(c->s.mux, opaque);

	tunnel_pong(&c->s.tun, opaque);
	if (rtt >= 0)
		log_debug("SSH round trip %d ms", rtt);
	lanes_rtt(&c->s, mux_rtt_ms(opaque));
}

static int client_ctl(void *ctx, const struct wire_frame *f)
{
	return features_ctl(&((struct client *)ctx)->feat, f);
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
	for (i = 0; i < c->feat.n_dns; i++)
		if (c->feat.dns_servers[i].family == family)
			return true;
	return false;
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
		c->ls.dns = c->feat.dns_servers;
		c->ls.n_dns = c->feat.n_dns;
		return features_listen(&c->feat, wants_family(c, AF_INET),
				       wants_family(c, AF_INET6));
	}
	if (ret < 0) {
		inet_ntop(addrs[bad].ss_family, sa_addr(&addrs[bad]), where, sizeof(where));
		log_err("cannot listen on %s: %s", where, strerror(-ret));
	}
	return ret;
}

/* ssh -G's answer for the remote, once: every session uses it. */
static int client_resolve(struct client *c)
{
	struct sshconf_query q = {
	    .host = c->o.remote_host,
	    .user = c->o.remote_user,
	    .port = c->o.remote_port,
	    .config = c->o.ssh_config,
	    .options = c->o.ssh_opt,
	    .n_options = c->o.n_ssh_opt,
	};
	char why[256];
	struct stat st;
	int ret;

	/* A key that is not there is the user's typo: say so before connecting anywhere. */
	for (size_t i = 0; i < c->o.n_identity; i++) {
		if (stat(c->o.identity[i], &st) < 0) {
			log_err("-i %s: %s", c->o.identity[i],
				errno == ENOENT ? "no such file" : strerror(errno));
			return -errno;
		}
		if (!S_ISREG(st.st_mode)) {
			log_err("-i %s: not a regular file", c->o.identity[i]);
			return -EINVAL;
		}
	}
	log_info("resolving %s", c->o.remote_host);
	/* The -e command's own -F, -J, -o and -p decide where it goes; only it can say. */
	if (c->o.ssh_cmd && sshconf_cmd_is_ssh(c->o.ssh_cmd)) {
		ret = sshconf_resolve_cmd(&c->cfg, c->o.ssh_cmd, &q, why, sizeof(why));
		if (ret == 0) {
			log_debug("-e: the command's own configuration sends %s to %s port %u",
				  c->o.remote_host, c->cfg.hostname, (unsigned)c->cfg.port);
			goto done;
		}
		/* Not there, or refusing: running it fails next, and says why then. */
		if (ret == -ENOENT || ret == -EINVAL)
			log_debug("-e: '%s -G %s' %s%s%s; asking ssh -G", c->o.ssh_cmd,
				  c->o.remote_host, ret == -ENOENT ? "is not there" : "refused",
				  *why ? ": " : "", why);
		else
			log_warn("-e: cannot ask '%s -G' where %s is (%s); using ssh -G instead",
				 c->o.ssh_cmd, c->o.remote_host, strerror(-ret));
	}
	ret = sshconf_resolve(&c->cfg, &q, why, sizeof(why));
	if (ret < 0)
		log_err(
		    "cannot resolve the SSH configuration for '%s'%s%s: %s%s%s", c->o.remote_host,
		    c->o.ssh_config ? " with " : "", c->o.ssh_config ? c->o.ssh_config : "",
		    ret == -EINVAL ? "ssh -G rejected it" : strerror(-ret), *why ? ": " : "", why);
done:
	c->sa =
	    (struct session_args){&c->o, &c->cfg, &c->pg, &client_ops, c, features_wanted(&c->o)};
	if (ret == 0)
		features_own_names(&c->feat, c->o.remote_host, c->cfg.hostname, c->cfg.proxyjump);
	return ret;
}

static int direct_handoff(void *ctx, int fd, const struct wire_open *dst)
{
	return direct_open(ctx, fd, dst);
}

static int direct_fallback(void *ctx, int fd, const struct wire_open *dst)
{
	struct client *c = ctx;

	return listen_to_mux(&c->ls, fd, dst);
}

static int client_pick(void *ctx, int fd, const struct wire_open *dst)
{
	return lanes_open(&((struct client *)ctx)->s, fd, dst);
}

/*
 * --direct: the session's ControlMaster takes the connections and the mux
 * what it cannot; NULL: the mux takes them all.
 */
static const struct listen_handoff *client_handoff(struct client *c, struct listen_handoff *ho)
{
	if (!c->s.direct)
		return NULL;
	direct_set_fallback(c->s.direct, direct_fallback, c);
	*ho = (struct listen_handoff){direct_handoff, c->s.direct};
	return ho;
}

/* A session, and everything that rides on it. Logs nothing on failure: err says why. */
static int client_session(struct client *c, char *err, size_t errlen)
{
	int ret = session_open(&c->s, &c->sa, &c->loop, err, errlen);

	if (ret < 0)
		return ret;
	if (c->s.tr->n_peer && c->s.tr->peer[0].ss_family && !c->o.ssh_cmd) {
		c->cfg.last_peer = c->s.tr->peer[0];
		c->cfg.last_peer_len = c->s.tr->peer[0].ss_family == AF_INET
					   ? sizeof(struct sockaddr_in)
					   : sizeof(struct sockaddr_in6);
	}
	ret = features_start(&c->feat, &c->loop, c->s.mux, c->sa.want);
	if (ret < 0) {
		snprintf(err, errlen, "starting -N, -H or --dns: %s", strerror(-ret));
		session_close(&c->s);
	}
	return ret;
}

static bool in_group(gid_t gid)
{
	int n = getgroups(0, NULL), i;
	gid_t *list;
	bool found = gid == getegid();

	if (found || n <= 0 || !(list = calloc((size_t)n, sizeof(*list))))
		return found;
	n = getgroups(n, list);
	for (i = 0; i < n && !found; i++)
		found = list[i] == gid;
	free(list);
	return found;
}

/*
 * What the privileged part will allow, asked before the SSH login so that
 * a refusal costs nothing. A part confined to the caller's own sockets
 * gets --user for the caller unless one was given.
 */
static int client_grant(struct client *c)
{
	struct priv_grant g;
	struct fw_spec want = {
	    .prerouting = listen_any_nonlocal(&c->ls),
	    .dns = c->feat.dns_servers,
	    .n_dns = c->feat.n_dns,
	    .by_uid = c->o.by_uid,
	    .uid = c->o.uid,
	};
	const char *why;
	uint32_t uid;
	bool confined = privc_confined(c->priv, &uid);
	int ret;

	if (confined && !c->o.by_uid) {
		want.by_uid = c->o.by_uid = true;
		want.uid = c->o.uid = uid;
	}
	ret = priv_grant_for(&g, uid, !confined, "/etc/resolv.conf");
	if (ret < 0) {
		log_err("reading /etc/resolv.conf: %s", strerror(-ret));
		return ret;
	}
	if (c->o.auto_hosts && priv_grant_hosts(&g, &why) < 0) {
		log_err(
		    "-H: %s needs root, or the admin's --all-users sudo line: ask an admin for "
		    "what `sluice --sudoers-user USER --all-users` prints, then add --all-users",
		    why);
		return -EPERM;
	}
	if (confined && c->o.by_gid && !in_group(c->o.gid)) {
		log_err("--group %u: you are not in that group, and the sudo line captures only "
			"your own connections: run sluice as root, or ask an admin for the line "
			"`sluice --sudoers-user USER --all-users` prints and add --all-users",
			c->o.gid);
		return -EPERM;
	}
	ret = priv_grant_check(&g, &want, &why);
	if (ret < 0) {
		if (ret == -EACCES)
			log_err("--ns-hosts: %s needs root (a user may capture DNS only to the "
				"nameservers in /etc/resolv.conf or on loopback)",
				why);
		else
			log_err("%s needs root, or the admin's --all-users sudo line (the "
				"default line captures only uid %u's own connections): ask an "
				"admin for what `sluice --sudoers-user USER --all-users` prints, "
				"then add --all-users",
				why, uid);
		return ret;
	}
	if (confined)
		log_info("capturing only uid %u's own connections (what the sudo line grants)",
			 uid);
	return 0;
}

/* What the rules capture besides the networks: the listeners and --dns's nameservers. */
static struct rules_where client_where(const struct client *c)
{
	return (struct rules_where){
	    .port = c->ls.port,
	    .prerouting = listen_any_nonlocal(&c->ls),
	    .dns = c->feat.dns_servers,
	    .n_dns = c->feat.n_dns,
	    .dns_port = c->feat.dns.port,
	};
}

/* Another tunnel's networks or --dns, told before the login rather than after it. */
static int client_check(struct client *c)
{
	struct rules_where w = client_where(c);
	char err[512];
	int ret = rules_check(c->priv, &c->o, &w, err, sizeof(err));

	if (ret == -EOPNOTSUPP)
		return 0;
	if (ret < 0)
		log_err("%s", err);
	return ret;
}

/* The rules: the user's networks, minus the excludes, minus the SSH server itself. */
static int client_firewall(struct client *c)
{
	struct rules_where w = client_where(c);
	char err[256];
	int ret = rules_install(&c->rules, c->priv, &c->o, c->s.tr, &w, err, sizeof(err));

	if (ret < 0)
		log_err("%s", err);
	else
		log_info("rules installed: %zu network%s, %zu exclude%s, redirected to port %u",
			 c->rules.spec.n_include, c->rules.spec.n_include == 1 ? "" : "s",
			 c->rules.spec.n_exclude, c->rules.spec.n_exclude == 1 ? "" : "s",
			 c->ls.port);
	return ret;
}

/*
 * UDP and ping through a TUN the privileged part makes, once the rules are
 * in. Where it cannot (no TUN support, a kernel without policy routing),
 * the tunnel still carries TCP: said once, and --tcp-only says it quietly.
 */
static void client_datagrams(struct client *c)
{
	char name[32];
	int fd, ret;

	if (c->o.tcp_only)
		return;
	ret = privc_tun(c->priv, &fd, name, sizeof(name));
	if (ret == 0)
		ret = features_datagrams(&c->feat, &c->loop, fd);
	if (ret < 0) {
		log_warn("UDP and ping will not go through the tunnel (TCP does): %s",
			 privc_why(c->priv) ? privc_why(c->priv) : privc_strerror(ret));
		return;
	}
	log_info("UDP and ping through the tunnel, by %s", name);
}

/*
 * Entries an earlier tunnel left in conntrack still send a new connection
 * from the same source port to its dead listener: delete them, now and
 * after each reconnect (our own go when the rules go).
 */
static void client_ct_flush(struct client *c)
{
	int n = privc_ct_flush(c->priv);

	if (n > 0)
		log_info("deleted %d stale conntrack entr%s (flows an earlier tunnel redirected)",
			 n, n == 1 ? "y" : "ies");
	else if (n < 0)
		log_warn("deleting stale conntrack entries failed: %s", privc_strerror(n));
}

/* "ready": the routed networks, as many as fit one line. */
static void client_ready(struct client *c)
{
	char list[400] = "", one[SUBNET_STRLEN];
	size_t i, len = 0, n = c->rules.spec.n_include;

	for (i = 0; i < n; i++) {
		if (subnet_format(&c->rules.spec.include[i], one, sizeof(one)) < 0)
			continue;
		if (len + strlen(one) + 16 > sizeof(list)) {
			snprintf(list + len, sizeof(list) - len, " and %zu more", n - i);
			break;
		}
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", one);
	}
	log_info("ready: routing %s through %s%s", n ? list : "nothing yet", c->cfg.hostname,
		 c->o.auto_nets ? " (and the remote's networks, -N)" : "");
}

static void say_step(void *arg, const char *line)
{
	/* Each step may block up to its own timeout: the watchdog is fed step by step. */
	notify_pet();
	log_info("%s", line);
}

/*
 * Before each address the login connects to: a reconnect may go where the
 * server's name points now, which the rules, made at the first login, may
 * not keep out yet.
 */
static int client_keep_out(void *arg, const struct sockaddr *sa, socklen_t salen)
{
	struct client *c = arg;
	struct sockaddr_storage ss = {0};
	char addr[INET6_ADDRSTRLEN] = "?", err[256] = "";
	int ret = rules_keep_out(&c->rules, sa, salen, err, sizeof(err));

	if (ret == 0 && !err[0])
		return 0;
	memcpy(&ss, sa, salen < sizeof(ss) ? salen : sizeof(ss));
	if (sa_addr(&ss))
		inet_ntop(ss.ss_family, sa_addr(&ss), addr, sizeof(addr));
	if (ret > 0) {
		log_info(
		    "the SSH server's address %s is new: kept out of the tunnel, on every port",
		    addr);
		/* -H's lines for it now point around the tunnel. */
		features_rules_changed(&c->feat);
	} else if (ret < 0) {
		log_warn("cannot keep the SSH server's new address %s out of the tunnel: %s; %s",
			 addr, err,
			 c->o.ssh_cmd ? "a connection there would be captured" : "not trying it");
	} else {
		log_warn(
		    "cannot keep the SSH server's new address %s out of the tunnel: %s; trying "
		    "it, as no routed network holds it",
		    addr, err);
	}
	return ret < 0 ? ret : 0;
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

	if (!c->s.up) {
		log_info("no session to %s (reconnecting, attempt %u); %zu connection%s waiting",
			 c->cfg.hostname, c->attempt, c->ls.n_parked,
			 c->ls.n_parked == 1 ? "" : "s");
		return;
	}
	lanes_stats(&c->s, &st);
	log_info("%zu open connection%s through %s:", st.streams, st.streams == 1 ? "" : "s",
		 c->cfg.hostname);
	c->table_lines = 0;
	n = lanes_table(&c->s, table_row, c);
	if (n > TABLE_LINES_MAX)
		log_info("  ... and %zu more", n - TABLE_LINES_MAX);
	features_udp_table(&c->feat);
}

/* The workers' reports carry enough of their biggest streams for the top list. */
_Static_assert(LANEOWN_TOP >= REPORT_TOP, "a lane's report fills --status's top list");

static void top_row(void *arg, uint32_t id, const struct wire_open *dst,
		    const struct mux_stream_end *sofar)
{
	struct report_conn rc = {*dst, sofar->sent, sofar->received, sofar->ms / 1000};

	report_consider(arg, &rc);
}

/* --status: each lane, lane 0 first. */
static void client_report_lanes(struct client *c, struct report_view *v)
{
	struct mux_stats ms;
	size_t i, n = c->s.n_lanes;

	/* A lane above the number (lowered when a further lane's login failed for good) still
	 * counts while up or opening. */
	for (i = n; i < SESSION_LANES_MAX; i++)
		if (c->s.lane[i].up || c->s.lane[i].opening)
			n = i + 1;
	v->n_lanes = n < REPORT_LANES ? n : REPORT_LANES;
	for (i = 0; i < v->n_lanes; i++) {
		bool up = session_lane_stats(&c->s, (unsigned)i, &ms);

		v->lanes[i].up = up;
		v->lanes[i].opening = i && c->s.lane[i].opening;
		v->lanes[i].refused = i && c->s.lane[i].refused;
		v->lanes[i].interactive = i == 0 && lanes_split(&c->s);
		v->lanes[i].drops = i ? c->s.lane[i].drops : 0;
		if (!up)
			continue;
		v->lanes[i].conns = ms.streams;
		v->lanes[i].out = ms.tx_bytes;
		v->lanes[i].in = ms.rx_bytes;
	}
}

/*
 * Connections taken here and reset before they reached the server, by
 * where: no lane took them (or descriptors ran out), a lane's worker could
 * not open them, or --direct's master and then the tunnel refused them;
 * and those the server's helper refused, short of room itself.
 */
static void client_count_resets(const struct client *c, struct resets *r)
{
	struct mux_stats ms;
	int err;
	uint64_t n;

	*r = c->rst_past;
	r->n[RST_LISTEN] = c->ls.refused;
	r->err[RST_LISTEN] = c->ls.refused_err;
	if (!c->s.up)
		return;
	n = lanes_refused(&c->s, &err);
	if (n) {
		r->n[RST_LANES] += n;
		r->err[RST_LANES] = err;
	}
	if (c->s.direct) {
		struct direct_stats ds;

		direct_get_stats(c->s.direct, &ds);
		if (ds.lost) {
			r->n[RST_DIRECT] += ds.lost;
			r->err[RST_DIRECT] = ds.lost_err;
		}
	}
	lanes_stats(&c->s, &ms);
	if (ms.peer_short) {
		r->n[RST_REMOTE] += ms.peer_short;
		r->err[RST_REMOTE] = ms.peer_short_err;
	}
}

/* Those reset here, the remote's refusals left out. */
static uint64_t client_resets_here(const struct resets *r)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < RST_REMOTE; i++)
		n += r->n[i];
	return n;
}

static const char *client_reset_why(int err)
{
	switch (err) {
	case 0:
		return "the reason was not recorded";
	case EMFILE:
	case ENFILE:
		return "out of file descriptors";
	case ENOMEM:
		return "out of memory";
	case ENOSPC:
		return "a lane holds as many connections as it may";
	case ENOBUFS:
		return "too many connections waiting for the session";
	case EAGAIN:
		return "every lane was too busy to take them";
	case ENOTCONN:
		return "no lane was up";
	default:
		return strerror(err);
	}
}

/*
 * One line for those reset here since the last, with the reason of the
 * kind that grew most, and one for the helper's refusals; at the end
 * (last) whatever the gap. A lasting shortage must not fill the log: the
 * gap doubles while they keep coming, and starts over after a quiet minute.
 */
static void client_tell_resets(struct client *c, bool last)
{
	struct resets r;
	uint64_t more = 0, most = 0, there, total = 0;
	int64_t now = clock_ms();
	int i, err = 0;

	client_count_resets(c, &r);
	for (i = 0; i < RST_N; i++)
		total += r.n[i];
	if (total > c->rst_seen)
		ratelimit_backoff_note(&c->rst_pace, now);
	c->rst_seen = total;
	for (i = 0; i < RST_REMOTE; i++) {
		uint64_t d = r.n[i] > c->rst_told[i] ? r.n[i] - c->rst_told[i] : 0;

		more += d;
		if (d > most) {
			most = d;
			err = r.err[i];
		}
	}
	there = r.n[RST_REMOTE] > c->rst_told[RST_REMOTE]
		    ? r.n[RST_REMOTE] - c->rst_told[RST_REMOTE]
		    : 0;
	if ((!more && !there) || !ratelimit_backoff_allow(&c->rst_pace, now, last))
		return;
	if (more)
		log_warn("%s: refused %" PRIu64 " new connection%s here, reset before reaching %s",
			 client_reset_why(err), more, more == 1 ? "" : "s", c->cfg.hostname);
	if (there)
		log_warn("%s on %s: its helper reset %" PRIu64 " connection%s",
			 client_reset_why(r.err[RST_REMOTE]), c->cfg.hostname, there,
			 there == 1 ? "" : "s");
	for (i = 0; i < RST_N; i++)
		if (r.n[i] > c->rst_told[i])
			c->rst_told[i] = r.n[i];
}

/* --status: the report for one request on the status socket. */
static size_t client_report(void *arg, bool json, char *buf, size_t len)
{
	struct client *c = arg;
	struct report_view v = {
	    .pid = (int)getpid(),
	    .remote = c->o.remote_host,
	    .host = c->cfg.hostname,
	    .user = c->cfg.user ? c->cfg.user : "",
	    .port = c->cfg.port,
	    .up = c->s.up,
	    .attempt = c->attempt,
	    .transport = c->s.up ? c->s.tr->name : (c->o.ssh_cmd ? "command" : "ssh"),
	    .detail = c->s.up ? c->s.tr->detail : "",
	    .uptime_s = (clock_ms() - c->started_ms) / 1000,
	    .reconnects = c->reconnects,
	    .inc = c->rules.spec.include,
	    .n_inc = c->rules.spec.n_include,
	    .exc = c->rules.spec.exclude,
	    .n_exc = c->rules.spec.n_exclude,
	    .waiting = c->ls.n_parked,
	    .reset_here = c->ls.parked_reset,
	    .rate_in = c->st.rate_in,
	    .rate_out = c->st.rate_out,
	};
	struct mux_stats ms;
	struct resets r;

	client_count_resets(c, &r);
	v.reset_here += client_resets_here(&r);
	v.refused_remote = r.n[RST_REMOTE];
	if (c->s.up) {
		lanes_stats(&c->s, &ms);
		v.conns = ms.streams;
		v.in = ms.rx_bytes;
		v.out = ms.tx_bytes;
		lanes_each_top(&c->s, top_row, &v);
		client_report_lanes(c, &v);
	}
	if (c->feat.dgram) {
		struct dgram_stats us;
		dgram_get_stats(c->feat.dgram, &us);
		v.udp = true;
		v.udp_flows = us.flows;
		v.udp_dgrams_out = us.tx_dgrams;
		v.udp_dgrams_in = us.rx_dgrams;
		v.udp_bytes_out = us.tx_bytes;
		v.udp_bytes_in = us.rx_bytes;
		v.udp_dropped = us.dropped + us.too_big;
		v.udp_not_carried = us.not_carried;
		v.udp_tun_errors = us.tun_errors;
		v.pings = us.echoes;
		v.ping_replies = us.echo_replies;
	}
	if (c->s.up && c->s.direct) {
		struct direct_stats ds;
		direct_get_stats(c->s.direct, &ds);
		v.direct = true;
		v.direct_open = ds.active;
		v.direct_opened = ds.opened;
		v.direct_refused = ds.refused;
		v.direct_fell_back = ds.fell_back;
	}
	return report_build(&v, json, buf, len);
}

/* 1 s doubling to 30 s, each within +-20 %, so many clients do not retry in step. */
static int64_t backoff_ms(unsigned attempt)
{
	int64_t base = BACKOFF_MAX_S * 1000;

	if (attempt < 6)
		base = ((int64_t)BACKOFF_FIRST_S * 1000) << attempt;
	if (base > BACKOFF_MAX_S * 1000)
		base = BACKOFF_MAX_S * 1000;
	return base * 8 / 10 + (int64_t)(random() % (base * 4 / 10 + 1));
}

/* The session dropped: keep the listeners and the rules, and plan the first attempt. */
static void client_dropped(struct client *c)
{
	size_t open = 0;
	struct mux_stats ms;
	struct resets r;

	c->turn_ms = 0; /* the logins to come are no pause */
	lanes_stats(&c->s, &ms);
	open = ms.streams;
	/* This session's counts go with it: keep them (the listener's stay). */
	client_count_resets(c, &r);
	r.n[RST_LISTEN] = 0;
	c->rst_past = r;
	if (c->s.direct) {
		struct direct_stats ds;
		direct_get_stats(c->s.direct, &ds);
		open += ds.active;
	}
	log_warn("the session to %s dropped: %s; %zu open connection%s reset; reconnecting",
		 c->cfg.hostname, c->s.tun.why, open, open == 1 ? "" : "s");
	features_detach(&c->feat);
	listen_detach(&c->ls);
	session_close(&c->s);
	notify_send("STATUS=reconnecting to %s", c->cfg.hostname);
	c->down_since = clock_ms();
	c->attempt = 0;
	c->next_try = c->down_since + backoff_ms(0);
}

/* One attempt. Returns 0 when back up, 1 to keep trying, or -errno to give up. */
static int client_reconnect(struct client *c)
{
	struct listen_handoff ho;
	char err[1024];
	int64_t now = clock_ms();
	size_t held;
	int ret;

	c->attempt++;
	/* An attempt blocks, a step at a time; say_step feeds the watchdog at each. */
	notify_pet();
	ret = client_session(c, err, sizeof(err));
	if (ret == 0) {
		client_ct_flush(c);
		held = listen_attach(&c->ls, c->s.mux, client_handoff(c, &ho));
		c->reconnects++;
		log_info("reconnected to %s after %" PRId64 " s (attempt %u)%s", c->cfg.hostname,
			 (clock_ms() - c->down_since) / 1000, c->attempt,
			 held ? "; waiting connections go through now" : "");
		c->down_since = 0;
		c->told_conns = (size_t)-1;
		c->told_budget = 0;
		return 0;
	}
	if (c->s.fatal) {
		log_err("reconnecting to %s failed, and trying again cannot help: %s",
			c->cfg.hostname, err);
		return ret;
	}
	if (c->o.reconnect_max && now - c->down_since >= (int64_t)c->o.reconnect_max * 1000) {
		log_err("reconnecting to %s: giving up after %u s (--reconnect-max): %s",
			c->cfg.hostname, c->o.reconnect_max, err);
		return -ETIMEDOUT;
	}
	c->next_try = clock_ms() + backoff_ms(c->attempt);
	notify_send("STATUS=reconnecting to %s (attempt %u failed)", c->cfg.hostname, c->attempt);
	log_warn("reconnect attempt %u to %s failed: %s; next in %" PRId64 " s", c->attempt,
		 c->cfg.hostname, err, (c->next_try - clock_ms() + 500) / 1000);
	return 1;
}

/* BOOTTIME runs on in suspend, MONOTONIC does not: their gap grows by the time slept. */
static int64_t sleep_gap_ms(void)
{
	struct timespec b, m;

	clock_gettime(CLOCK_BOOTTIME, &b);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return (b.tv_sec - m.tv_sec) * 1000 + (b.tv_nsec - m.tv_nsec) / 1000000;
}

/*
 * Stopped (a ^Z, SIGSTOP, a paused VM) or held: the server's answers
 * waited unread, and the lanes' workers, stopped with us, could not
 * report. Not their silence: ask, as after a sleep. Called when the wait
 * returns and right before each place that judges by what was last heard
 * (lanes_pump, the tick), since a stop can fall anywhere in a turn. A
 * login that blocked a turn (a reconnect) is not a pause of a session
 * that was up.
 */
static void client_paused(struct client *c)
{
	int64_t now = clock_ms(), late = now - c->turn_ms;

	if (c->turn_ms && c->s.up && tunnel_paused(&c->s.tun, late)) {
		log_info("sluice did not run for %" PRId64 " s: checking the session", late / 1000);
		tunnel_excuse(&c->s.tun);
		lanes_probe(&c->s, true);
	}
	c->turn_ms = c->s.up ? now : 0;
}

/* What lane 0's tunnel saw of the network: one line each way (the lanes' workers say it at -v). */
static void client_net(struct client *c, enum tunnel_net n)
{
	if (n == TUNNEL_NET_DOWN) {
		log_warn("no route to %s: the session waits up to %d s for the network",
			 c->cfg.hostname, TUNNEL_NET_WAIT_SEC);
		notify_send("STATUS=no route to %s: waiting for the network", c->cfg.hostname);
	} else if (n == TUNNEL_NET_BACK) {
		log_info(
		    "the route to %s is back, %d s after it was first lost: checking the session",
		    c->cfg.hostname, c->s.tun.net_down_sec);
		c->told_conns = SIZE_MAX; /* the status says "connected" again */
	}
}

static void client_tick(struct client *c)
{
	struct mux_stats ms;
	int64_t gap = sleep_gap_ms();

	client_paused(c);
	child_stop_tick();
	if (gap - c->sleep_gap > SLEPT_MS && c->s.up) {
		log_info("the machine slept for %" PRId64 " s: checking the session",
			 (gap - c->sleep_gap) / 1000);
		tunnel_probe(&c->s.tun);
		lanes_probe(&c->s, false);
	}
	c->sleep_gap = gap;
	notify_tick(clock_ms());
	if (c->s.up) {
		client_net(c, tunnel_tick(&c->s.tun));
		if (!c->s.tun.failed)
			lanes_tick(&c->s, &c->loop);
		lanes_stats(&c->s, &ms);
		c->st.lanes = lanes_up(&c->s);
		status_tick(&c->st, &ms);
		/* A new session starts its counters at 0. */
		if (ms.over_budget > c->told_budget) {
			/* Lanes share the cap: each lane holds its share. */
			unsigned lanes = c->s.n_lanes > 1 ? c->s.n_lanes : 1;

			log_warn(
			    "reset %" PRIu64 " connection%s whose local readers were too slow: all "
			    "their buffers together reached %u MiB%s",
			    ms.over_budget - c->told_budget,
			    ms.over_budget - c->told_budget == 1 ? "" : "s",
			    (MUX_BUFFERED_MAX / lanes) >> 20, lanes > 1 ? " in their lane" : "");
			c->told_budget = ms.over_budget;
		}
		if (ms.streams != c->told_conns) {
			c->told_conns = ms.streams;
			notify_send("STATUS=connected to %s, %zu connection%s", c->cfg.hostname,
				    ms.streams, ms.streams == 1 ? "" : "s");
		}
	} else {
		size_t n = listen_expire(&c->ls, HOLD_MS);
		if (n)
			log_info("reset %zu connection%s that waited %d s for the session", n,
				 n == 1 ? "" : "s", HOLD_MS / 1000);
		status_tick(&c->st, NULL);
	}
	client_tell_resets(c, false);
	features_tick(&c->feat);
}

/* The loop's wait returned: a stop there is seen before any callback (an accept) runs. */
static void client_woke(void *arg)
{
	client_paused(arg);
}

static int client_run(struct client *c)
{
	struct timespec last, now;
	int ret, timeout;

	clock_gettime(CLOCK_MONOTONIC, &last);
	c->sleep_gap = sleep_gap_ms();
	evloop_on_wake(&c->loop, client_woke, c);
	while (!c->stop_signal) {
		/* Without it the rules are gone: going on would send traffic around the tunnel. */
		if (privc_gone(c->priv)) {
			struct signalfd_siginfo si;

			/* Both were told to stop (systemd stops the whole unit): a normal stop. */
			if (read(c->sig.fd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
			    si.ssi_signo != SIGUSR1) {
				c->stop_signal = (int)si.ssi_signo;
				continue;
			}
			status_end(&c->st);
			log_err("the privileged part went away, and the firewall rules with it: "
				"stopping");
			return -EPIPE;
		}
		if (c->s.up) {
			tunnel_pump(&c->s.tun);
			if (c->s.tun.failed) {
				if (c->o.no_reconnect)
					break;
				client_dropped(c);
				continue;
			}
			client_paused(c);
			lanes_pump(&c->s);
		} else if (clock_ms() >= c->next_try) {
			ret = client_reconnect(c);
			if (ret < 0) {
				status_end(&c->st);
				return ret;
			}
			continue;
		}
		if (c->want_table) {
			c->want_table = false;
			client_table(c);
		}
		timeout = c->s.up ? tunnel_timeout_ms(&c->s.tun) : 1000;
		if (c->s.up && lanes_more(&c->s))
			timeout = 0;
		if (!c->s.up && c->next_try - clock_ms() < timeout)
			timeout =
			    (int)(c->next_try - clock_ms() > 0 ? c->next_try - clock_ms() : 0);
		ret = evloop_run_once(&c->loop, timeout);
		if (ret < 0) {
			log_err("epoll: %s", strerror(-ret));
			return ret;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec != last.tv_sec) {
			client_tick(c);
			last = now;
		}
	}
	status_end(&c->st);
	if (c->s.up && c->s.tun.failed) {
		log_err("the session to %s dropped: %s (--no-reconnect)", c->cfg.hostname,
			c->s.tun.why);
		return c->s.tun.failed;
	}
	log_info("stopping on signal %d (%s)", c->stop_signal, strsignal(c->stop_signal));
	return 0;
}

/* -1 when something we put in place stays (said in the log): the exit status must show it. */
static int client_cleanup(struct client *c)
{
	int ret, left = 0;

	notify_send("STOPPING=1");
	client_tell_resets(c, true);
	status_end(&c->st);
	control_close(&c->ctl);
	if (features_stop(&c->feat) < 0)
		left = -1;
	/*
	 * Open connections are reset while their NAT entries still exist: the
	 * reset goes out from the listener's address, and only those entries
	 * turn it back into the address the application dialled. The rules and
	 * the entries go after, or the application never hears of it and waits
	 * for ever.
	 */
	listen_close(&c->ls, &c->loop);
	session_close(&c->s);
	/* Lane workers still being stopped: none outlives us, not even one stopped. */
	child_stop_all();
	/* A part that is gone took the rules with it. */
	if ((ret = rules_remove(&c->rules)) < 0 && !privc_gone(c->priv)) {
		log_err("removing the firewall rules failed: %s", privc_strerror(ret));
		left = -1;
	}
	privc_close(c->priv);
	if (c->sig.fd > 0)
		close(c->sig.fd);
	if (c->loop.epfd > 0)
		evloop_close(&c->loop);
	sshconf_free(&c->cfg);
	opts_free(&c->o);
	argfile_free(&c->args);
	rules_free(&c->rules);
	if (c->pidfile[0])
		pidfile_remove(c->pidfile);
	return left;
}

/* -D, --pidfile, --log-file: set up before anything else is started. */
static int client_detach_setup(struct client *c)
{
	const char *why;
	bool stale;
	int other, ret;

	if (c->o.log_file) {
		/* Root appends where it is told: only to a file no one else controls. */
		ret = logfile_open(c->o.log_file, geteuid() == 0, &why);
		if (ret < 0) {
			log_err("--log-file %s: %s%s", c->o.log_file, why ? "refused: " : "",
				why ? why : strerror(-ret));
			return ret;
		}
		c->log_fd = ret;
		/* Start-up's lines too, and on the terminal until the file takes over. */
		log_to_file(c->log_fd, false);
	} else if ((c->o.daemon || c->o.syslog) && (ret = logsys_check()) < 0) {
		/* syslog(3) would drop every line without a word. */
		if (c->o.daemon)
			log_warn("-D: no syslog here (/dev/log: %s): the daemon's lines are lost; "
				 "give --log-file FILE to keep them",
				 strerror(-ret));
		else
			log_warn("--syslog: no syslog here (/dev/log: %s); logging to stderr",
				 strerror(-ret));
		c->no_syslog = true;
	}
	if (c->o.daemon && (ret = daemon_fork()) < 0) {
		log_err("-D: cannot fork: %s", strerror(-ret));
		return ret;
	}
	if (!c->o.pidfile)
		return 0;
	ret = 0;
	if (c->o.pidfile[0] == '/')
		ret = (size_t)snprintf(c->pidfile, sizeof(c->pidfile), "%s", c->o.pidfile) >=
			      sizeof(c->pidfile)
			  ? -ENAMETOOLONG
			  : 0;
	else if (!getcwd(c->pidfile, sizeof(c->pidfile) - 256))
		ret = errno == ERANGE ? -ENAMETOOLONG : -errno;
	else if (strlen(c->o.pidfile) >= 255)
		ret = -ENAMETOOLONG;
	else
		snprintf(c->pidfile + strlen(c->pidfile), 256, "/%s", c->o.pidfile);
	if (ret < 0) {
		log_err("--pidfile %s: %s", c->o.pidfile,
			ret == -ENAMETOOLONG ? "the path is too long" : strerror(-ret));
		return ret;
	}
	ret = pidfile_create(c->pidfile, &stale, &other);
	if (ret == -EEXIST)
		log_err("--pidfile %s: sluice is already running there (pid %d)", c->pidfile,
			other);
	else if (ret == -EINVAL || ret == -ELOOP)
		log_err("--pidfile %s: refused: it exists and is %s", c->pidfile,
			ret == -ELOOP ? "a symbolic link" : "not a regular file");
	else if (ret < 0)
		log_err("--pidfile %s: %s", c->pidfile, strerror(-ret));
	else if (stale)
		log_warn("--pidfile %s: replaced a stale file (pid %d is gone)", c->pidfile, other);
	if (ret < 0)
		c->pidfile[0] = '\0';
	return ret;
}

/* The tunnel works: the status socket, systemd, the waiting parent of -D, and the log. */
static void client_announce(struct client *c)
{
	int ret = control_open(&c->ctl, &c->loop, client_report, c);

	if (ret < 0)
		log_debug("no status socket: %s", strerror(-ret));
	client_ready(c);
	notify_send("READY=1\nSTATUS=connected to %s", c->cfg.hostname);
	c->told_conns = (size_t)-1; /* the first tick tells the count */
	if (c->o.daemon && (ret = daemon_ready()) < 0)
		log_warn("-D: detaching: %s", strerror(-ret));
	if (c->log_fd >= 0) {
		dup2(c->log_fd, STDERR_FILENO);
		close(c->log_fd);
		c->log_fd = -1;
		log_to_file(STDERR_FILENO, true);
	} else if ((c->o.daemon || c->o.syslog) && !c->no_syslog) {
		log_to_syslog();
	}
}

int main(int argc, char **argv)
{
	static struct client c;
	struct listen_handoff ho;
	char err[1024] = "", table[FW_TABLE_MAX];
	int ret;

	c.ls.reserve_fd = -1;
	c.feat.dns.s4.io.fd = c.feat.dns.s6.io.fd = -1;
	c.loop.epfd = -1;
	c.sig.fd = -1;
	c.log_fd = -1;
	c.ctl.io.fd = -1;
	c.started_ms = clock_ms();
	c.rst_pace =
	    (struct ratelimit_backoff)RATELIMIT_BACKOFF_INIT(RST_GAP_MIN_MS, RST_GAP_MAX_MS);
	/* The fixed entry point sudo allows: nothing else is read, not even SLUICE_ARGS. */
	if (argc == 2 && !strcmp(argv[1], PRIV_ARG))
		return priv_main(false);
	if (argc == 3 && !strcmp(argv[1], PRIV_ARG) && !strcmp(argv[2], PRIV_ALL_USERS_ARG))
		return priv_main(true);
	log_init("sluice", LOG_INFO);
	/* Before anything keeps a pointer into argv or the environment: lane workers retitle. */
	if (proctitle_init(argc, argv) < 0) {
		log_err("setting aside the command line for the lanes' titles: out of memory");
		return 1;
	}
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
	if (c.o.status) {
		ret = control_query_all(c.o.json, stdout);
		if (ret == 0 && !c.o.json)
			log_err("no running sluice found");
		argfile_free(&c.args);
		opts_free(&c.o);
		return ret > 0 ? 0 : 1;
	}
	notify_init();
	if (c.o.sudoers_user) {
		char line[8192];
		ret = privc_sudoers(c.o.sudoers_user, c.o.all_users, line, sizeof(line), err,
				    sizeof(err));
		if (ret < 0)
			log_err("%s", err);
		else
			fputs(line, stdout);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((ret = client_detach_setup(&c)) < 0)
		goto out;
	if (c.o.syslog && !c.o.daemon && !c.no_syslog)
		log_to_syslog();
	/* Before any SSH prompt: sudo may ask for a password on the terminal. */
	if ((ret = privc_start(&c.priv, c.o.all_users, err, sizeof(err))) < 0) {
		log_err("%s", err);
		goto out;
	}
	privc_table(c.priv, table, sizeof(table));
	log_info("privileged part started (%s); this tunnel's nftables table: inet %s",
		 privc_how(c.priv), table);
	c.pg = (struct progress){.step = say_step, .connecting = client_keep_out, .arg = &c};
	srandom((unsigned)(getpid() ^ clock_ms()));
	fdlimit_raise();
	if ((ret = features_init(&c.feat, &c.o, &c.rules, c.priv)) < 0)
		goto out;
	if ((ret = evloop_init(&c.loop)) < 0) {
		log_err("epoll: %s", strerror(-ret));
		goto out;
	}
	if ((ret = client_listen(&c)) < 0 || (ret = client_grant(&c)) < 0 ||
	    (ret = client_check(&c)) < 0 || (ret = client_resolve(&c)) < 0)
		goto out;
	if ((ret = client_session(&c, err, sizeof(err))) < 0) {
		log_err("%s", err);
		goto out;
	}
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
	client_ct_flush(&c);
	client_datagrams(&c);
	listen_set_pick(&c.ls, client_pick, &c);
	if ((ret = listen_start(&c.ls, &c.loop, c.s.mux, client_handoff(&c, &ho))) < 0) {
		log_err("accepting connections: %s", strerror(-ret));
		goto out;
	}
	client_announce(&c);
	status_init(&c.st, c.o.quiet || c.o.daemon);
	ret = client_run(&c);
out:
	/* A stop that leaves something behind is a failure too. */
	if (client_cleanup(&c) < 0 && ret >= 0)
		ret = -EIO;
	return ret < 0 ? 1 : 0;
}
