/*
 * sluice: the client. Parses the command line, brings up the SSH session
 * and the remote helper, and only then installs the firewall rules, so that
 * every failure before the tunnel works leaves the machine untouched. Runs
 * one event loop until a signal or a dead session, then removes the rules.
 */
#include <errno.h>
#include <inttypes.h>
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

#include "../common/fdlimit.h"
#include "../common/log.h"
#include "../common/mux.h"
#include "../firewall/fw.h"
#include "boot.h"
#include "listen.h"
#include "opts.h"
#include "ssh.h"
#include "sshconf.h"
#include "tunnel.h"

#define SSH_RX_WINDOW (16u << 20) /* libssh2 channel window: lets one download fill the pipe */
#define STREAM_WINDOW (2u << 20)  /* per-stream credit we grant the helper */
#define OUT_HIGH      (256u << 10)

struct client {
	struct opts o;
	struct sshconf cfg;
	struct ssh_conn conn;
	LIBSSH2_CHANNEL *ch;
	struct evloop loop;
	struct listeners ls;
	struct mux *mux;
	struct tunnel tun;
	struct fw *fw;
	struct ev_io sig;
	int stop_signal;
};

static void on_stream_closed(void *ctx, uint32_t id, const struct wire_open *dst, int reason,
			     bool local)
{
	char addr[64] = "?";

	if (!reason || log_verbosity < LOG_DEBUG)
		return;
	inet_ntop(dst->family, dst->addr, addr, sizeof(addr));
	log_debug("%s %s%s%s port %u: %s", local ? "stream to" : "remote connect to",
		  dst->family == AF_INET6 ? "[" : "", addr, dst->family == AF_INET6 ? "]" : "",
		  dst->port, strerror(reason));
}

static const struct mux_ops client_ops = {
    .stream_closed = on_stream_closed,
};

static void on_signal(struct ev_io *io, uint32_t events)
{
	struct client *c = (struct client *)((char *)io - offsetof(struct client, sig));
	struct signalfd_siginfo si;

	if (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		c->stop_signal = (int)si.ssi_signo;
}

/* CAP_NET_ADMIN is what nftables needs; checking it first spares a login that cannot finish. */
static bool have_net_admin(void)
{
	char line[256];
	unsigned long long caps = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return geteuid() == 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return caps & (1ull << 12);
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

static bool wants_family(const struct opts *o, int family)
{
	size_t i;

	for (i = 0; i < o->n_include; i++)
		if (o->include[i].family == family)
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
		if (wants_family(&c->o, c->o.listen[i].ss_family))
			addrs[n++] = c->o.listen[i];
	if (n == 0) {
		log_err("no listen address matches the address family of any routed subnet");
		return -EINVAL;
	}
	ret = listen_open(&c->ls, addrs, n, &bad);
	if (ret < 0) {
		const struct sockaddr_storage *ss = &addrs[bad];
		const void *a = ss->ss_family == AF_INET
				    ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
				    : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		inet_ntop(ss->ss_family, a, where, sizeof(where));
		log_err("cannot listen on %s: %s", where, strerror(-ret));
	}
	return ret;
}

static int client_connect(struct client *c)
{
	enum ssh_fail fail = SSH_FAIL_NONE;
	struct wire_hello peer;
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
	ret = ssh_connect(&c->conn, &c->cfg, c->o.identity, c->o.n_identity, c->o.known_hosts,
			  &fail, err, sizeof(err));
	if (ret < 0) {
		log_err("%s", err);
		return ret;
	}
	if (c->conn.hostkey_added)
		log_warn("added the host key of %s (%s) to %s", c->cfg.hostname, c->conn.hostkey,
			 c->o.known_hosts	? c->o.known_hosts
			 : c->cfg.n_known_hosts ? c->cfg.known_hosts[0]
						: "known_hosts");
	else if (c->conn.hostkey_add_err)
		log_warn("accepted the new host key of %s (%s) but could not save it: %s",
			 c->cfg.hostname, c->conn.hostkey, strerror(-c->conn.hostkey_add_err));
	log_debug("SSH session to %s@%s port %u is up (host key %s, authenticated by %s)",
		  c->cfg.user, c->cfg.hostname, c->cfg.port, c->conn.hostkey, c->conn.auth_used);
	ret = boot_start(c->conn.session, SSH_RX_WINDOW, STREAM_WINDOW, c->o.verbose, &c->ch, &peer,
			 err, sizeof(err));
	if (ret < 0) {
		log_err("%s", err);
		return ret;
	}
	ret = evloop_init(&c->loop);
	if (ret < 0)
		return ret;
	c->mux = mux_new(&c->loop, STREAM_WINDOW, OUT_HIGH, &client_ops, c);
	if (!c->mux)
		return -ENOMEM;
	mux_set_peer_window(c->mux, peer.window);
	ret = tunnel_init(&c->tun, c->conn.session, c->ch, c->conn.fd, &c->loop, c->mux);
	if (ret < 0)
		log_err("watching the SSH socket: %s", strerror(-ret));
	return ret;
}

/* The rules: the user's networks, minus the excludes, minus the SSH server itself. */
static int client_firewall(struct client *c)
{
	struct subnet *ex;
	struct fw_spec spec;
	size_t n = c->o.n_exclude;
	int ret;

	ex = calloc(n + 1, sizeof(*ex));
	if (!ex)
		return -ENOMEM;
	memcpy(ex, c->o.exclude, n * sizeof(*ex));
	if (c->conn.peer.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&c->conn.peer;
		ex[n].family = AF_INET;
		memcpy(ex[n].addr, &sin->sin_addr, 4);
		ex[n].prefix = 32;
		ex[n].port_lo = ex[n].port_hi = ntohs(sin->sin_port);
		n++;
	} else if (c->conn.peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&c->conn.peer;
		ex[n].family = AF_INET6;
		memcpy(ex[n].addr, &sin6->sin6_addr, 16);
		ex[n].prefix = 128;
		ex[n].port_lo = ex[n].port_hi = ntohs(sin6->sin6_port);
		n++;
	}
	spec = (struct fw_spec){
	    .redirect_port = c->ls.port,
	    .include = c->o.include,
	    .n_include = c->o.n_include,
	    .exclude = ex,
	    .n_exclude = n,
	    .prerouting = listen_any_nonlocal(&c->ls),
	};
	ret = fw_open(&c->fw);
	if (ret == 0)
		ret = fw_install(c->fw, &spec);
	if (ret < 0)
		log_err("installing the firewall rules failed: %s", fw_strerror(ret));
	free(ex);
	return ret;
}

static int client_signals(struct client *c)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* Blocked before the rules go in, so a signal can never skip their removal. */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	c->sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (c->sig.fd < 0)
		return -errno;
	c->sig.cb = on_signal;
	return evloop_add(&c->loop, &c->sig, EPOLLIN);
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
		ret = evloop_run_once(&c->loop, tunnel_timeout_ms(&c->tun));
		if (ret < 0) {
			log_err("epoll: %s", strerror(-ret));
			return ret;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec != last.tv_sec) {
			tunnel_tick(&c->tun);
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

	if (c->fw) {
		ret = fw_remove(c->fw);
		if (ret < 0)
			log_err("removing the firewall rules failed: %s", fw_strerror(ret));
		fw_close(c->fw);
	}
	listen_close(&c->ls, &c->loop);
	mux_free(c->mux);
	if (c->ch) {
		libssh2_session_set_blocking(c->conn.session, 1);
		libssh2_session_set_timeout(c->conn.session, 2000);
		libssh2_channel_free(c->ch);
	}
	if (c->conn.session)
		ssh_disconnect(&c->conn, "sluice stopping");
	if (c->sig.fd > 0)
		close(c->sig.fd);
	if (c->loop.epfd > 0)
		evloop_close(&c->loop);
	sshconf_free(&c->cfg);
	opts_free(&c->o);
}

int main(int argc, char **argv)
{
	static struct client c;
	char err[512];
	int ret;

	c.conn.fd = -1;
	c.ls.reserve_fd = -1;
	c.loop.epfd = -1;
	c.sig.fd = -1;
	log_init("sluice", LOG_INFO);
	ret = opts_parse(&c.o, argc, argv, stdout, err, sizeof(err));
	if (ret == OPTS_EXIT_OK)
		return 0;
	if (ret < 0) {
		log_err("%s", err);
		return 2;
	}
	log_init("sluice", c.o.quiet ? LOG_WARN : LOG_INFO + c.o.verbose);
	if (c.o.auto_nets || c.o.auto_hosts || c.o.dns) {
		log_err("-N, -H and --dns are not available in this version yet");
		ret = -ENOTSUP;
		goto out;
	}
	if (!have_net_admin()) {
		log_err("needs root (CAP_NET_ADMIN) to install firewall rules: run it with sudo");
		ret = -EPERM;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	fdlimit_raise();
	if ((ret = client_listen(&c)) < 0 || (ret = client_connect(&c)) < 0)
		goto out;
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
