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
#include "../common/log.h"
#include "../common/mux.h"
#include "boot.h"
#include "../common/sockaddr.h"
#include "argfile.h"
#include "listen.h"
#include "opts.h"
#include "rules.h"
#include "status.h"
#include "features.h"
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
	int rtt = mux_pong_rtt(c->mux, opaque);

	if (rtt >= 0)
		log_debug("SSH round trip %d ms", rtt);
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

/* The libssh2 backend: our own session, with the ssh config's host keys and identities. */
static int client_open_ssh(struct client *c, char *err, size_t errlen)
{
	struct ssh_report rep;
	int ret;

	memset(&rep, 0, sizeof(rep));
	ret = transport_ssh_open(&c->tr, &c->cfg, c->o.identity, c->o.n_identity, c->o.known_hosts,
				 SSH_RX_WINDOW, &c->pg, &rep, err, errlen);
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

	log_info("connecting to %s with the -e command: %s", c->o.remote_host, c->o.ssh_cmd);
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

	log_info("resolving %s", c->o.remote_host);
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
	want = features_wanted(&c->o);
	ret = boot_start(c->tr, STREAM_WINDOW, want, c->o.verbose, &c->pg, &peer, &boot, err,
			 sizeof(err));
	if (ret < 0) {
		log_err("%s", err);
		return ret;
	}
	if ((want & peer.features) != want) {
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
	ret = features_start(&c->feat, &c->loop, c->mux, want);
	if (ret < 0)
		log_err("starting -N, -H or --dns: %s", strerror(-ret));
	return ret;
}

/* The rules: the user's networks, minus the excludes, minus the SSH server itself. */
static int client_firewall(struct client *c)
{
	struct rules_where w = {
	    .port = c->ls.port,
	    .prerouting = listen_any_nonlocal(&c->ls),
	    .dns = c->feat.dns_servers,
	    .n_dns = c->feat.n_dns,
	    .dns_port = c->feat.dns.port,
	};
	char err[256];
	int ret = rules_install(&c->rules, c->priv, &c->o, c->tr, &w, err, sizeof(err));

	if (ret < 0)
		log_err("%s", err);
	else
		log_info("rules installed: %zu network%s, %zu exclude%s, redirected to port %u",
			 c->rules.spec.n_include, c->rules.spec.n_include == 1 ? "" : "s",
			 c->rules.spec.n_exclude, c->rules.spec.n_exclude == 1 ? "" : "s",
			 c->ls.port);
	return ret;
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
	log_info("%s", line);
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
			struct mux_stats ms;

			tunnel_tick(&c->tun);
			mux_get_stats(c->mux, &ms);
			status_tick(&c->st, &ms);
			features_tick(&c->feat);
			last = now;
		}
	}
	status_end(&c->st);
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

	status_end(&c->st);
	features_stop(&c->feat);
	if ((ret = rules_remove(&c->rules)) < 0)
		log_err("removing the firewall rules failed: %s", privc_strerror(ret));
	privc_close(c->priv);
	listen_close(&c->ls, &c->loop);
	mux_free(c->mux);
	transport_close(c->tr);
	if (c->sig.fd > 0)
		close(c->sig.fd);
	if (c->loop.epfd > 0)
		evloop_close(&c->loop);
	sshconf_free(&c->cfg);
	opts_free(&c->o);
	argfile_free(&c->args);
	rules_free(&c->rules);
}

int main(int argc, char **argv)
{
	static struct client c;
	char err[512] = "";
	int ret;

	c.ls.reserve_fd = -1;
	c.feat.dns.s4.io.fd = c.feat.dns.s6.io.fd = -1;
	c.loop.epfd = -1;
	c.sig.fd = -1;
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
	log_info("privileged part started (%s)", privc_how(c.priv));
	c.pg = (struct progress){say_step, &c};
	fdlimit_raise();
	if ((ret = features_init(&c.feat, &c.o, &c.rules, c.priv)) < 0)
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
	client_ready(&c);
	status_init(&c.st, c.o.quiet);
	ret = client_run(&c);
out:
	client_cleanup(&c);
	return ret < 0 ? 1 : 0;
}
