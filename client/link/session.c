/*
 * session: open and close one SSH session with its helper (see session.h).
 */
#include "session.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../common/wire.h"
#include "../../common/clock.h"
#include "boot.h"
#include "lanes.h"
#include "laneworker.h"
#include "../cmd/direct.h"
#include "../cmd/transport_cmd.h"
#include "../ssh/transport_ssh.h"

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
 * A stream held back by credit while its credit goes round in about one SSH
 * round trip (smallest PING seen) doubles it, up to STREAM_CREDIT_MAX, the
 * streams together up to STREAM_CREDIT_TOTAL more than STREAM_WINDOW each:
 * a long fat path fills. Beyond what it receives in a round trip plus
 * STREAM_BUDGET_MS it is cut back (see mux_set_credit): on a short path a
 * bulk stream keeps about the budget's worth queued ahead of a reply.
 */
#define STREAM_CREDIT_MAX   (32u << 20)
#define STREAM_CREDIT_TOTAL (64u << 20)
#define STREAM_BUDGET_MS    10
#define OUT_HIGH	    (256u << 10)

/* The libssh2 backend: our own session, with the ssh config's host keys and identities. */
static int open_ssh(struct session *s, const struct session_args *a, char *err, size_t errlen)
{
	const struct opts *o = a->o;
	const struct sshconf *cfg = a->cfg;
	struct ssh_report rep;
	int ret;

	memset(&rep, 0, sizeof(rep));
	ret = transport_ssh_open(&s->tr, cfg, o->identity, o->n_identity, o->known_hosts,
				 SSH_RX_WINDOW, a->pg, &rep, err, errlen);
	if (ret < 0) {
		s->fatal = rep.fatal;
		return ret;
	}
	if (rep.hostkey_added)
		log_warn("added the host key of %s (%s) to %s", cfg->hostname, rep.hostkey,
			 o->known_hosts	      ? o->known_hosts
			 : cfg->n_known_hosts ? cfg->known_hosts[0]
					      : "known_hosts");
	else if (rep.hostkey_add_err)
		log_warn("accepted the new host key of %s (%s) but could not save it: %s",
			 cfg->hostname, rep.hostkey, strerror(-rep.hostkey_add_err));
	log_debug("SSH session to %s@%s port %u is up (host key %s, authenticated by %s)",
		  cfg->user, cfg->hostname, cfg->port, rep.hostkey, rep.auth_used);
	return 0;
}

/*
 * --direct: the master's socket goes in a directory only we can enter, made
 * anew for each session (OpenSSH will not listen where a socket exists).
 */
static int make_ctl_dir(struct session *s)
{
	const char *base = getenv("XDG_RUNTIME_DIR");

	if (!base || base[0] != '/' || strlen(base) > 64)
		base = "/tmp";
	snprintf(s->ctl_dir, sizeof(s->ctl_dir), "%s/sluice-direct.XXXXXX", base);
	if (!mkdtemp(s->ctl_dir)) {
		s->ctl_dir[0] = '\0';
		return -errno;
	}
	snprintf(s->ctl_path, sizeof(s->ctl_path), "%s/master", s->ctl_dir);
	return 0;
}

/* The ControlMaster our -e command was told to start is listening; else one line naming who needs
 * it. */
static int master_check(const struct session *s, const char *prefix, const char *who, char *err,
			size_t errlen)
{
	struct stat st;

	if (stat(s->ctl_path, &st) == 0 && S_ISSOCK(st.st_mode))
		return 0;
	snprintf(err, errlen, "%sthe -e command started no ControlMaster at %s (%s OpenSSH's ssh)",
		 prefix, s->ctl_path, who);
	return -ENOENT;
}

/* The master listens before it starts the session's command, so by the helper's HELLO it is there.
 */
static int start_direct(struct session *s, struct evloop *loop, char *err, size_t errlen)
{
	struct direct_stats ds;
	uint32_t events;
	int fds[2];
	int ret;

	ret = master_check(s, "--direct: ", "--direct needs", err, errlen);
	if (ret < 0) {
		s->fatal = true;
		return ret;
	}
	transport_wait_on(s->tr, fds, &events);
	ret = direct_new(&s->direct, loop, s->ctl_path, fds[0], s->tr->child);
	if (ret < 0) {
		snprintf(err, errlen, "--direct: %s", strerror(-ret));
		return ret;
	}
	direct_get_stats(s->direct, &ds);
	log_debug("--direct: ssh's ControlMaster at %s takes the connections, %zu at once at most",
		  s->ctl_path, ds.max_active);
	return 0;
}

/* How long start-up waits for the -e server's name to resolve before going on without. */
#define CMD_RESOLVE_MS 3000

/*
 * host's addresses in *res: at once for an address, else through the
 * resolver for at most CMD_RESOLVE_MS (-ETIMEDOUT). Returns 0, -ENOENT or
 * -errno.
 */
static int resolve_bounded(const char *host, const char *port, struct addrinfo **res)
{
	struct req {
		struct gaicb cb;
		struct addrinfo hints;
		char host[NI_MAXHOST], port[8];
	} * r;
	const struct gaicb *list[1];
	struct timespec ts = {CMD_RESOLVE_MS / 1000, (CMD_RESOLVE_MS % 1000) * 1000000L};
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST};
	int ret;

	*res = NULL;
	ret = getaddrinfo(host, port, &hints, res);
	if (ret == 0)
		return 0;
	if (ret != EAI_NONAME)
		return -ENOENT;
	if (strlen(host) >= sizeof(r->host) || strlen(port) >= sizeof(r->port))
		return -ENAMETOOLONG;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	strcpy(r->host, host);
	strcpy(r->port, port);
	r->hints = (struct addrinfo){.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	r->cb = (struct gaicb){.ar_name = r->host, .ar_service = r->port, .ar_request = &r->hints};
	list[0] = &r->cb;
	if (getaddrinfo_a(GAI_NOWAIT, (struct gaicb **)list, 1, NULL) != 0) {
		free(r);
		return -ENOMEM;
	}
	while ((ret = gai_suspend(list, 1, &ts)) == EAI_INTR)
		;
	ret = gai_error(&r->cb);
	if (ret == EAI_INPROGRESS && gai_cancel(&r->cb) != EAI_CANCELED)
		return -ETIMEDOUT; /* the resolver's thread still writes into r: it keeps it */
	if (ret == 0)
		*res = r->cb.ar_result;
	else if (ret != EAI_INPROGRESS && r->cb.ar_result)
		freeaddrinfo(r->cb.ar_result);
	free(r);
	return ret == 0 ? 0 : ret == EAI_INPROGRESS ? -ETIMEDOUT : -ENOENT;
}

/*
 * -e without --lanes or --direct: whether the path may decide the lanes.
 * Further -e lanes are sessions through a ControlMaster lane 0 becomes,
 * and that master of ours must not take the place of the user's own: only
 * when the command is OpenSSH's ssh, its own -G answered, and its config
 * has no ControlMaster and no ControlPath. Says once why not.
 */
static bool cmd_path_decides(const struct session_args *a)
{
	static bool said;
	const char *why = NULL;

	if (!a->cfg->from_cmd)
		why =
		    "its own configuration is unknown (it is not OpenSSH's ssh, or its -G failed)";
	else if (a->cfg->control)
		why = "its configuration has a ControlMaster or ControlPath of the user's";
	if (why && !said)
		log_debug(
		    "-e: one lane: further lanes need a ControlMaster of sluice's own, and %s",
		    why);
	said = said || why;
	return !why;
}

/*
 * The -e backend. Its own connection must never be redirected, so the
 * server `CMD -G` names is excluded as with our own session; through a
 * proxy it is not contacted. A name is looked up for a bounded time only:
 * the command resolves it again itself. On a reconnect the name may point
 * somewhere new: the caller keeps each address out (a->pg) before the
 * command starts, and so before it can connect there.
 */
static int open_cmd(struct session *s, const struct session_args *a, char *err, size_t errlen)
{
	struct addrinfo *res = NULL, *ai;
	const struct opts *o = a->o;
	const struct sshconf *cfg = a->cfg;
	char port[8], addr[INET6_ADDRSTRLEN];
	int ret;

	progress_say(a->pg, "connecting to %s with the -e command: %s", o->remote_host, o->ssh_cmd);
	/* Further lanes are further sessions through the master lane 0's ssh becomes. */
	if ((o->direct || o->lanes > 1 || !s->lanes_decided) && (ret = make_ctl_dir(s)) < 0) {
		snprintf(err, errlen, "%s: making a directory for the ControlMaster socket: %s",
			 o->direct  ? "--direct"
			 : o->lanes ? "--lanes"
				    : "-e lanes",
			 strerror(-ret));
		s->fatal = true;
		return ret;
	}
	snprintf(port, sizeof(port), "%u", (unsigned)cfg->port);
	if (cfg->proxyjump || cfg->proxycommand) {
		log_debug("-e: the SSH server is reached through a proxy; its address is not "
			  "excluded (use -x if it is inside a routed network)");
	} else if ((ret = resolve_bounded(cfg->hostname, port, &res)) < 0) {
		log_warn("-e: %s %s; its address is not excluded (use -x if it is inside a "
			 "routed network)",
			 cfg->hostname,
			 ret == -ETIMEDOUT ? "did not resolve in time" : "does not resolve here");
		res = NULL;
	}
	/* ssh picks among them itself: an address that cannot be kept out is only said. */
	for (ai = res; ai && a->pg && a->pg->connecting; ai = ai->ai_next)
		(void)a->pg->connecting(a->pg->arg, ai->ai_addr, ai->ai_addrlen);
	ret = transport_cmd_open(&s->tr, o->ssh_cmd, o->remote_host, o->remote_user, o->remote_port,
				 s->ctl_dir[0] ? s->ctl_path : NULL);
	if (ret < 0) {
		snprintf(err, errlen, "starting the -e command: %s", strerror(-ret));
		s->fatal = true;
		if (res)
			freeaddrinfo(res);
		return ret;
	}
	/* ssh may take any of them (v4 or v6, round robin): every one is excluded. */
	for (ai = res; ai && s->tr->n_peer < TRANSPORT_PEERS_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(s->tr->peer[0]))
			continue;
		memcpy(&s->tr->peer[s->tr->n_peer++], ai->ai_addr, ai->ai_addrlen);
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0,
				NI_NUMERICHOST) == 0)
			log_debug("-e: the SSH server's address %s port %s is excluded", addr,
				  port);
	}
	if (res)
		freeaddrinfo(res);
	return 0;
}

/*
 * The connect and the handshake of a further lane, and each step of its
 * bootstrap, at most: a lane's worker waits for them, and a silent server
 * must not hold a lane down long.
 */
#define LANE_CONNECT_SEC 5
#define LANE_STEP_MS	 (LANE_CONNECT_SEC * 1000)

/*
 * A further lane over our own client is a login of its own: it asks
 * nothing on the terminal (the session is up; a prompt would stall it),
 * and goes to the address lane 0 reached, which the rules exclude.
 */
static int open_ssh_lane(struct session *s, struct transport **t, struct laneworker_result *r)
{
	int ret;
	const struct opts *o = s->a->o;
	struct sshconf cfg = *s->a->cfg;
	struct ssh_report rep;

	cfg.no_prompt = 1;
	if (cfg.connect_timeout <= 0 || cfg.connect_timeout > LANE_CONNECT_SEC)
		cfg.connect_timeout = LANE_CONNECT_SEC;
	if (s->tr->n_peer && s->tr->peer[0].ss_family) {
		cfg.last_peer = s->tr->peer[0];
		cfg.last_peer_len = s->tr->peer[0].ss_family == AF_INET
					? sizeof(struct sockaddr_in)
					: sizeof(struct sockaddr_in6);
		cfg.pin_peer = 1;
	}
	memset(&rep, 0, sizeof(rep));
	ret = transport_ssh_open(t, &cfg, o->identity, o->n_identity, o->known_hosts, SSH_RX_WINDOW,
				 NULL, &rep, r->err, sizeof(r->err));
	r->fatal = ret < 0 && rep.fatal;
	r->limit = LANE_LIMIT_NONE;
	if (ret < 0 && rep.dropped)
		r->limit = LANE_LIMIT_STARTUPS;
	else if (ret < 0 && rep.proxy)
		r->limit = LANE_LIMIT_PROXY;
	return ret;
}

/* -e: a further session through lane 0's ControlMaster, on its connection: no login. */
static int open_cmd_lane(struct session *s, struct transport **t, struct laneworker_result *r)
{
	const struct opts *o = s->a->o;
	int ret = master_check(s, "", "lanes with -e need", r->err, sizeof(r->err));

	if (ret < 0) {
		r->fatal = true;
		return ret;
	}
	ret = transport_cmd_open_via(t, o->ssh_cmd, o->remote_host, o->remote_user, o->remote_port,
				     s->ctl_path);
	if (ret < 0)
		snprintf(r->err, sizeof(r->err), "starting the -e command: %s", strerror(-ret));
	return ret;
}

/*
 * In the lane's worker (laneworker.h), blocking: the transport and the
 * bootstrap. The helper is in the cache lane 0 left it in: this checks it,
 * and uploads nothing.
 */
static void lane_login(void *arg, struct transport **t, struct laneworker_result *r)
{
	struct lane *l = arg;
	struct session *s = l->s;
	struct boot_report boot;
	int ret;

	ret = s->a->o->ssh_cmd ? open_cmd_lane(s, t, r) : open_ssh_lane(s, t, r);
	if (ret < 0) {
		r->status = ret;
		return;
	}
	snprintf(r->detail, sizeof(r->detail), "%s", (*t)->detail);
	memset(&boot, 0, sizeof(boot));
	ret = boot_start(*t, LANE_STEP_MS, STREAM_WINDOW, (*t)->queues_deep ? WIRE_F_DEEP_OUT : 0,
			 s->a->o->verbose, NULL, &r->peer, &boot, r->err, sizeof(r->err));
	if (ret < 0) {
		r->status = ret;
		r->fatal = boot.fatal;
		r->limit = boot.refused ? LANE_LIMIT_SESSIONS : LANE_LIMIT_NONE;
	}
}

static void lane_stream_closed(void *ctx, uint32_t id, const struct wire_open *dst,
			       const struct mux_stream_end *end)
{
	struct lane *l = ctx;
	const struct session_args *a = l->s->a;

	if (a->ops->stream_closed)
		a->ops->stream_closed(a->ctx, id, dst, end);
}

/* Each lane's own round trip sizes its own lone-stream credit. */
static void lane_pong(void *ctx, const uint8_t opaque[8])
{
	struct lane *l = ctx;

	mux_pong_rtt(l->mux, opaque);
	tunnel_pong(&l->tun, opaque);
}

/* No ctl: a further lane asks its helper for no -N, -H or DNS. */
static const struct mux_ops lane_ops = {
    .stream_closed = lane_stream_closed,
    .pong = lane_pong,
};

/* The worker's socket wakes the loop; lanes_pump reads what came (session_lane_poll). */
static void on_worker(struct ev_io *io, uint32_t events)
{
}

/* Lane 0 takes back the share of the caps this lane held, whichever way it goes. */
static void lane_free(struct lane *l)
{
	if (l->opening) {
		evloop_del(l->loop, &l->wio);
		laneworker_stop(&l->w);
		l->opening = false;
	}
	if (l->owned) {
		/* Closing its socket ends the worker, which resets the lane's streams. */
		laneown_detach(&l->own);
		laneworker_stop(&l->w);
		l->owned = false;
	} else {
		tunnel_close(&l->tun);
		mux_free(l->mux);
		transport_close(l->tr);
		l->mux = NULL;
		l->tr = NULL;
	}
	l->up = false;
	if (l->s)
		session_share(l->s);
}

/* Tell an open lane's worker we are going: it closes its SSH session meanwhile. */
static void lane_part(struct lane *l)
{
	uint32_t events;
	int fd[2];

	if (l->owned) {
		shutdown(l->w.sock, SHUT_WR);
		return;
	}
	transport_wait_on(l->tr, fd, &events);
	shutdown(fd[0], SHUT_WR);
}

int session_lane_start(struct session *s, unsigned i, struct evloop *loop)
{
	const struct session_args *a = s->a;
	char comm[16], title[256];
	struct laneown_cfg own;
	struct lane *l;
	int ret;

	if (!s->up || i == 0 || i >= SESSION_LANES_MAX)
		return -EINVAL;
	l = &s->lane[i];
	if (l->up || l->opening)
		return -EBUSY;
	l->fatal = false;
	l->limit = LANE_LIMIT_NONE;
	/* ps tells the tunnel (sluice's own command line) from each of its lanes. */
	snprintf(comm, sizeof(comm), "sluice-lane%u", i);
	snprintf(title, sizeof(title), "sluice: lane %u of %s%s%s", i,
		 a->cfg->user && a->cfg->user[0] ? a->cfg->user : "",
		 a->cfg->user && a->cfg->user[0] ? "@" : "",
		 a->o->remote_host ? a->o->remote_host : a->cfg->hostname);
	/* What the worker's mux gets; the caps stay one for the whole tunnel (lane_up). */
	own = (struct laneown_cfg){
	    .window = STREAM_WINDOW,
	    .out_high = OUT_HIGH,
	    .buffered_max = MUX_BUFFERED_MAX / s->n_lanes,
	    .credit_max = STREAM_CREDIT_MAX,
	    .credit_total = STREAM_CREDIT_TOTAL / s->n_lanes,
	    .budget_ms = STREAM_BUDGET_MS,
	    .alive_interval = a->cfg->alive_interval,
	    .alive_count = a->cfg->alive_count,
	    .lane = i,
	    .stream_closed = a->ops ? a->ops->stream_closed : NULL,
	    .ctx = a->ctx,
	};
	ret = laneworker_start(&l->w, lane_login, l, &own, comm, title);
	if (ret < 0)
		return ret;
	l->loop = loop;
	l->wio = (struct ev_io){.fd = l->w.sock, .cb = on_worker};
	ret = evloop_add(loop, &l->wio, EPOLLIN);
	if (ret < 0) {
		laneworker_stop(&l->w);
		return ret;
	}
	l->opening = true;
	l->open_since = clock_ms();
	return 0;
}

/* The worker's lane is open: it comes up here as session_open's does. */
static int lane_up(struct session *s, struct lane *l, const struct laneworker_result *r, char *err,
		   size_t errlen)
{
	int ret;

	evloop_del(l->loop, &l->wio);
	l->opening = false;
	snprintf(l->detail, sizeof(l->detail), "%s", r->detail);
	session_share(s);
	if (!r->handed) {
		ret = laneown_attach(&l->own, l->loop, l->w.sock);
		if (ret < 0) {
			laneworker_stop(&l->w);
			snprintf(err, errlen, "watching the lane's worker: %s", strerror(-ret));
			return ret;
		}
		l->owned = true;
		l->up = true;
		return 0;
	}
	/* Handed over (laneworker.h): the stream is ssh's own, the worker only holds ssh. */
	ret = transport_cmd_adopt(&l->tr, l->w.pid, l->w.passed_sock, l->w.passed_err,
				  "lane worker", "the lane's ssh", LANEWORKER_NO_STATUS);
	if (ret < 0) {
		laneworker_stop(&l->w);
		snprintf(err, errlen, "out of memory");
		return ret;
	}
	/* The transport has them now, and ends the worker with itself. */
	close(l->w.sock);
	l->w.pid = 0;
	l->w.sock = l->w.passed_sock = l->w.passed_err = -1;
	snprintf(l->tr->detail, sizeof(l->tr->detail), "%s", r->detail);
	/* It rides lane 0's connection (the ControlMaster's): a route there is one here. */
	memcpy(l->tr->peer, s->tr->peer, sizeof(l->tr->peer));
	l->tr->n_peer = s->tr->n_peer;
	l->mux = mux_new(l->loop, STREAM_WINDOW, OUT_HIGH, &lane_ops, l);
	if (!l->mux) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	mux_set_peer_window(l->mux, r->peer.window);
	mux_set_buffered_max(l->mux, MUX_BUFFERED_MAX / s->n_lanes);
	mux_set_credit(l->mux, STREAM_CREDIT_MAX, STREAM_CREDIT_TOTAL / s->n_lanes,
		       STREAM_BUDGET_MS);
	ret = tunnel_init(&l->tun, l->tr, l->loop, l->mux);
	if (ret < 0) {
		snprintf(err, errlen, "watching the lane's ssh: %s", strerror(-ret));
		return ret;
	}
	tunnel_set_alive(&l->tun, s->a->cfg->alive_interval, s->a->cfg->alive_count);
	l->up = true;
	return 0;
}

int session_lane_poll(struct session *s, unsigned i, char *err, size_t errlen)
{
	struct lane *l = &s->lane[i];
	struct laneworker_result r;
	int ret;

	if (!l->opening)
		return l->up ? 0 : -EINVAL;
	ret = laneworker_poll(&l->w, &r);
	if (ret == -EAGAIN)
		return ret;
	if (ret == -EPIPE)
		snprintf(err, errlen, "its worker ended without a word");
	else if (ret < 0)
		snprintf(err, errlen, "reading its worker's answer: %s", strerror(-ret));
	else if (r.status < 0) {
		snprintf(err, errlen, "%s", r.err[0] ? r.err : strerror(-r.status));
		l->fatal = r.fatal;
		l->limit = r.limit;
		ret = r.status;
	} else
		ret = lane_up(s, l, &r, err, errlen);
	if (ret < 0)
		lane_free(l);
	return ret;
}

void session_lane_close(struct session *s, unsigned i)
{
	struct lane *l = &s->lane[i];
	struct mux_stats ms;

	if (l->up) {
		session_lane_stats(s, i, &ms);
		s->rx_gone += ms.rx_bytes;
		s->tx_gone += ms.tx_bytes;
		s->over_budget_gone += ms.over_budget;
		if (ms.peer_short) {
			s->peer_short_gone += ms.peer_short;
			if (ms.peer_short_ms >= s->peer_short_gone_ms) {
				s->peer_short_gone_err = ms.peer_short_err;
				s->peer_short_gone_ms = ms.peer_short_ms;
			}
		}
		if (l->owned) {
			int err;
			int64_t when;
			uint64_t n = laneown_refused(&l->own, &err, &when);

			if (n) {
				s->refused_gone += n;
				if (when >= s->refused_gone_ms) {
					s->refused_gone_err = err;
					s->refused_gone_ms = when;
				}
			}
		}
	}
	lane_free(l);
}

bool session_lane_stats(const struct session *s, unsigned i, struct mux_stats *st)
{
	const struct lane *l = &s->lane[i];

	memset(st, 0, sizeof(*st));
	if (i == 0 ? !s->mux : !l->up)
		return false;
	if (i > 0 && l->owned)
		laneown_stats(&l->own, st);
	else
		mux_get_stats(i ? l->mux : s->mux, st);
	return true;
}

int session_lane_open(struct session *s, unsigned i, int fd, const struct wire_open *dst)
{
	struct lane *l = &s->lane[i];

	if (i == 0)
		return s->mux ? mux_open_stream(s->mux, fd, dst) : -ENOTCONN;
	if (!l->up)
		return -ENOTCONN;
	return l->owned ? laneown_give(&l->own, fd, dst) : mux_open_stream(l->mux, fd, dst);
}

const char *session_lane_failed(const struct session *s, unsigned i)
{
	const struct lane *l = &s->lane[i];

	if (l->owned)
		return laneown_failed(&l->own);
	return l->tun.failed ? l->tun.why : NULL;
}

void session_lane_exit(struct session *s, unsigned i, char *how, size_t len)
{
	struct lane *l = &s->lane[i];

	how[0] = '\0';
	/*
	 * Its socket closes as it exits, a moment before it can be reaped:
	 * wait that moment then, and only then. One that said why it failed
	 * is saying goodbye, and the loop must not wait on it.
	 */
	if (l->up && l->owned)
		laneworker_exit(&l->w, l->own.gone ? LANEWORKER_REAP_MS : 0, how, len);
}

void session_lane_probe(struct session *s, unsigned i, bool paused)
{
	struct lane *l = &s->lane[i];
	int ret;

	if (!l->up)
		return;
	if (!l->owned) {
		if (paused)
			tunnel_excuse(&l->tun);
		else
			tunnel_probe(&l->tun);
		return;
	}
	ret = paused ? laneown_excuse(&l->own) : laneown_probe(&l->own);
	if (ret < 0)
		log_debug("lane %u: its worker took no probe: %s", i, strerror(-ret));
}

size_t session_lane_table(struct session *s, unsigned i,
			  void (*cb)(void *arg, uint32_t id, const struct wire_open *dst,
				     const struct mux_stream_end *sofar),
			  void *arg)
{
	struct lane *l = &s->lane[i];
	int ret;

	if (i == 0)
		return s->mux ? mux_each_stream(s->mux, cb, arg) : 0;
	if (!l->up)
		return 0;
	if (!l->owned)
		return mux_each_stream(l->mux, cb, arg);
	ret = laneown_table(&l->own);
	if (ret < 0)
		log_info("lane %u: its worker cannot list its connections: %s", i, strerror(-ret));
	return 0;
}

unsigned session_shares(const struct session *s)
{
	unsigned n = s->n_lanes ? s->n_lanes : 1, held = 1, i;

	/* Each further lane still open holds a share of a count at least as large. */
	for (i = 1; i < SESSION_LANES_MAX; i++)
		held += s->lane[i].up || s->lane[i].opening;
	return held > n ? held : n;
}

void session_share(struct session *s)
{
	unsigned n = session_shares(s);

	if (!s->mux)
		return;
	mux_set_buffered_max(s->mux, MUX_BUFFERED_MAX / n);
	mux_set_credit(s->mux, STREAM_CREDIT_MAX, STREAM_CREDIT_TOTAL / n, STREAM_BUDGET_MS);
}

int session_open(struct session *s, const struct session_args *a, struct evloop *loop, char *err,
		 size_t errlen)
{
	struct wire_hello peer;
	struct boot_report boot;
	unsigned i;
	int ret;

	memset(s, 0, sizeof(*s));
	s->a = a;
	s->rtt_min = -1;
	for (i = 0; i < SESSION_LANES_MAX; i++)
		s->lane[i] = (struct lane){.s = s, .idx = i};
	/*
	 * --lanes fixes the number; else the path decides, for -e only where
	 * a ControlMaster of ours replaces none of the user's.
	 */
	s->n_lanes = a->o->lanes ? a->o->lanes : 1;
	s->lanes_decided = a->o->lanes || a->o->direct || (a->o->ssh_cmd && !cmd_path_decides(a));
	ret = a->o->ssh_cmd ? open_cmd(s, a, err, errlen) : open_ssh(s, a, err, errlen);
	if (ret < 0)
		goto fail; /* --direct's directory may be made already */
	log_debug("transport %s: %s", s->tr->name, s->tr->detail);
	ret = boot_start(s->tr, 0, STREAM_WINDOW,
			 a->want | (s->tr->queues_deep ? WIRE_F_DEEP_OUT : 0), a->o->verbose, a->pg,
			 &peer, &boot, err, errlen);
	if (ret < 0) {
		s->fatal = boot.fatal;
		goto fail;
	}
	if ((a->want & peer.features) != a->want) {
		snprintf(err, errlen,
			 "the remote helper does not offer -N, -H or --dns as asked (0x%x of 0x%x)",
			 peer.features, a->want);
		s->fatal = true;
		ret = -EPROTONOSUPPORT;
		goto fail;
	}
	ret = -ENOMEM;
	s->mux = mux_new(loop, STREAM_WINDOW, OUT_HIGH, a->ops, a->ctx);
	if (!s->mux) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	mux_set_peer_window(s->mux, peer.window);
	mux_set_credit(s->mux, STREAM_CREDIT_MAX, STREAM_CREDIT_TOTAL, STREAM_BUDGET_MS);
	/* The mux's first pings, before lanes_tick's, are judged from here. */
	if (!s->lanes_decided)
		lanes_mark(s);
	ret = tunnel_init(&s->tun, s->tr, loop, s->mux);
	if (ret < 0) {
		snprintf(err, errlen, "watching the transport: %s", strerror(-ret));
		goto fail;
	}
	tunnel_set_alive(&s->tun, a->cfg->alive_interval, a->cfg->alive_count);
	if (a->o->direct && (ret = start_direct(s, loop, err, errlen)) < 0)
		goto fail;
	s->up = true;
	return 0;
fail:
	session_close(s);
	return ret;
}

void session_close(struct session *s)
{
	bool fatal = s->fatal;
	unsigned i;

	/* Every worker starts its goodbye at once; the tick, or child_stop_all, reaps them. */
	for (i = 1; i < SESSION_LANES_MAX; i++)
		if (s->lane[i].up)
			lane_part(&s->lane[i]);
	for (i = 1; i < SESSION_LANES_MAX; i++)
		lane_free(&s->lane[i]);
	tunnel_close(&s->tun);
	direct_free(s->direct);
	mux_free(s->mux);
	transport_close(s->tr);
	if (s->ctl_dir[0]) {
		/* The master removes its socket as it exits; one killed may not have. */
		unlink(s->ctl_path);
		rmdir(s->ctl_dir);
	}
	memset(s, 0, sizeof(*s));
	s->fatal = fatal;
}
