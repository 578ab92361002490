/*
 * laneown: a further lane run whole by its worker, both ends of the
 * exchange with the parent (see laneown.h).
 */
#include "laneown.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../common/fdio.h"
#include "../../common/fdpass.h"
#include "../../common/log.h"
#include "tunnel.h"

#define LANEOWN_MAGIC 0x6c6f776eu /* "lown" */

enum { ASK_OPEN = 1, ASK_PROBE, ASK_TABLE, SAY_REPORT };

/* Parent to worker; ASK_OPEN's socket rides on it. */
struct laneown_ask {
	uint32_t magic, kind;
	struct wire_open dst;
};

/*
 * A report goes at most every REPORT_MIN_MS while streams come and go, and
 * every REPORT_MAX_MS regardless: lanes_pick counts a lane's streams from
 * them (with those given since), --status shows them, and the parent takes
 * a worker silent for LANEOWN_SILENT_MS for stuck.
 */
#define REPORT_MIN_MS 20
#define REPORT_MAX_MS 1000
/* SIGUSR1's rows a worker logs, at most. */
#define TABLE_MAX 1000
/* Asks taken per wake-up: a burst of connections must not starve the lane's own bytes. */
#define ASKS_PER_WAKE 256

struct own {
	const struct laneown_cfg *cfg;
	struct evloop loop;
	struct mux *mux;
	struct tunnel tun;
	bool tun_on;
	struct ev_io ctl, sig;
	uint64_t taken;
	uint64_t refused; /* taken, then reset unopened */
	int refused_err;
	bool done, dirty;
	int64_t last_report;
	int64_t looked_ms; /* own_paused's last look */
	char why[256];	   /* set when the lane failed */
	struct laneown_report rep;
	unsigned table_rows;
	sigset_t term; /* SIGTERM, blocked while the loop runs */
};

static void own_closed(void *ctx, uint32_t id, const struct wire_open *dst,
		       const struct mux_stream_end *end)
{
	struct own *o = ctx;

	o->dirty = true;
	if (o->cfg->stream_closed)
		o->cfg->stream_closed(o->cfg->ctx, id, dst, end);
}

/* Each lane's own round trip sizes its own lone-stream credit. */
static void own_pong(void *ctx, const uint8_t opaque[8])
{
	struct own *o = ctx;

	mux_pong_rtt(o->mux, opaque);
	tunnel_pong(&o->tun, opaque);
}

/* No ctl: a further lane asks its helper for no -N, -H or DNS. */
static const struct mux_ops own_ops = {
    .stream_closed = own_closed,
    .pong = own_pong,
};

static uint64_t conn_bytes(const struct mux_stream_end *e)
{
	return e->sent + e->received;
}

/* Keep the LANEOWN_TOP biggest, most first. */
static void top_consider(void *arg, uint32_t id, const struct wire_open *dst,
			 const struct mux_stream_end *sofar)
{
	struct laneown_report *r = arg;
	uint32_t i = r->n_top < LANEOWN_TOP ? r->n_top : LANEOWN_TOP;

	if (i == LANEOWN_TOP && conn_bytes(sofar) <= conn_bytes(&r->top[i - 1].sofar))
		return;
	if (i == LANEOWN_TOP)
		i--;
	else
		r->n_top++;
	for (; i > 0 && conn_bytes(&r->top[i - 1].sofar) < conn_bytes(sofar); i--)
		r->top[i] = r->top[i - 1];
	r->top[i] = (struct laneown_conn){.id = id, .dst = *dst, .sofar = *sofar};
}

static void own_report(struct own *o)
{
	struct laneown_report *r = &o->rep;

	memset(r, 0, sizeof(*r));
	r->magic = LANEOWN_MAGIC;
	r->kind = SAY_REPORT;
	r->taken = o->taken;
	r->refused = o->refused;
	r->refused_err = o->refused_err;
	mux_get_stats(o->mux, &r->st);
	mux_each_stream(o->mux, top_consider, r);
	if (o->why[0]) {
		r->failed = 1;
		snprintf(r->why, sizeof(r->why), "%s", o->why);
	}
	/* A parent too busy to read loses a report, not the lane: the next one says it all. */
	(void)send(o->ctl.fd, r, sizeof(*r), MSG_DONTWAIT | MSG_NOSIGNAL);
	o->dirty = false;
	o->last_report = clock_ms();
}

static void table_row(void *arg, uint32_t id, const struct wire_open *dst,
		      const struct mux_stream_end *sofar)
{
	struct own *o = arg;
	char addr[64] = "?";

	(void)id;
	if (o->table_rows++ >= TABLE_MAX)
		return;
	inet_ntop(dst->family, dst->addr, addr, sizeof(addr));
	log_info("  lane %u: %s%s%s port %u: %" PRIu64 " bytes out, %" PRIu64 " in, open %" PRIu64
		 " s",
		 o->cfg->lane, dst->family == AF_INET6 ? "[" : "", addr,
		 dst->family == AF_INET6 ? "]" : "", dst->port, sofar->sent, sofar->received,
		 sofar->ms / 1000);
}

static void own_table(struct own *o)
{
	struct mux_stats st;
	size_t n;

	mux_get_stats(o->mux, &st);
	log_info("lane %u: %zu open connection%s", o->cfg->lane, st.streams,
		 st.streams == 1 ? "" : "s");
	o->table_rows = 0;
	n = mux_each_stream(o->mux, table_row, o);
	if (n > TABLE_MAX)
		log_info("  lane %u: ... and %zu more", o->cfg->lane, n - TABLE_MAX);
}

/* A connection the lane took and could not open: the parent counts it and says why. */
static void own_refuse(struct own *o, int err)
{
	o->refused++;
	o->refused_err = err;
}

/* One ask from the parent; false when it does not hold together (the lane ends). */
static bool own_ask(struct own *o, const struct laneown_ask *a, struct fdpass_got *in)
{
	int ret;

	if (a->magic != LANEOWN_MAGIC)
		return false;
	switch (a->kind) {
	case ASK_OPEN:
		o->taken++;
		o->dirty = true;
		/*
		 * No room here for its socket (MSG_CTRUNC: our descriptors ran
		 * out): that one is lost, and the kernel closed it with the
		 * message. The lane goes on.
		 */
		if (in->lost && in->n == 0) {
			own_refuse(o, EMFILE);
			return true;
		}
		if (in->n != 1)
			return false;
		ret = mux_open_stream(o->mux, in->fd[0], &a->dst);
		if (ret < 0) {
			fd_reset_close(in->fd[0]);
			own_refuse(o, -ret);
		}
		in->n = 0;
		return true;
	case ASK_PROBE:
		tunnel_probe(&o->tun);
		return in->n == 0;
	case ASK_TABLE:
		own_table(o);
		return in->n == 0;
	default:
		return false;
	}
}

static void on_ctl(struct ev_io *io, uint32_t events)
{
	struct own *o = (struct own *)((char *)io - offsetof(struct own, ctl));
	int i;

	(void)events;
	for (i = 0; i < ASKS_PER_WAKE && !o->done; i++) {
		struct laneown_ask a;
		struct fdpass_got in;
		ssize_t n = fdpass_recv(io->fd, &a, sizeof(a), MSG_DONTWAIT, &in);
		bool ok;

		if (n == -EAGAIN || n == -EINTR)
			return;
		/* The parent closed its end (or broke it): the lane is over. */
		if (n <= 0) {
			o->done = true;
			return;
		}
		ok = (size_t)n == sizeof(a) && own_ask(o, &a, &in);
		fdpass_close(&in);
		if (!ok) {
			log_warn("lane %u: a message from sluice's main process that does not "
				 "hold together: ending the lane",
				 o->cfg->lane);
			o->done = true;
		}
	}
	/* More may wait: level-triggered, the loop comes back for it. */
}

static void on_sig(struct ev_io *io, uint32_t events)
{
	struct own *o = (struct own *)((char *)io - offsetof(struct own, sig));
	struct signalfd_siginfo si;

	(void)events;
	if (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		o->done = true;
}

/* The connections the parent sent that we never took: reset each. */
static void own_drain(int sock)
{
	int i;

	for (i = 0; i < 100000; i++) {
		struct laneown_ask a;
		struct fdpass_got in;
		size_t k;

		if (fdpass_recv(sock, &a, sizeof(a), MSG_DONTWAIT, &in) <= 0)
			return;
		for (k = 0; k < in.n; k++)
			fd_reset_close(in.fd[k]);
		in.n = 0;
		fdpass_close(&in);
	}
}

static int own_setup(struct own *o, struct transport *t, int sock)
{
	const struct laneown_cfg *cfg = o->cfg;
	int ret, fl = fcntl(sock, F_GETFL);

	if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	o->mux = mux_new(&o->loop, cfg->window, cfg->out_high, &own_ops, o);
	if (!o->mux)
		return -ENOMEM;
	mux_set_peer_window(o->mux, cfg->peer_window);
	mux_set_buffered_max(o->mux, cfg->buffered_max);
	mux_set_credit(o->mux, cfg->credit_max, cfg->credit_total, cfg->budget_ms);
	/* Killed, this process must not end its streams with a FIN that looks complete. */
	mux_set_reset_if_killed(o->mux, true);
	ret = tunnel_init(&o->tun, t, &o->loop, o->mux);
	if (ret < 0)
		return ret;
	o->tun_on = true;
	tunnel_set_alive(&o->tun, cfg->alive_interval, cfg->alive_count);
	o->ctl = (struct ev_io){.fd = sock, .cb = on_ctl};
	ret = evloop_add(&o->loop, &o->ctl, EPOLLIN);
	if (ret < 0)
		return ret;
	/* A TERM (the parent's stop, or its death) resets the streams, as a close does. */
	if (sigprocmask(SIG_BLOCK, &o->term, NULL) < 0)
		return -errno;
	o->sig =
	    (struct ev_io){.fd = signalfd(-1, &o->term, SFD_NONBLOCK | SFD_CLOEXEC), .cb = on_sig};
	if (o->sig.fd < 0)
		return -errno;
	return evloop_add(&o->loop, &o->sig, EPOLLIN);
}

/*
 * Stopped with the parent (a ^Z): what went unread is not the server's
 * silence. When the wait returns (a stop while waiting) and before the
 * tick judges (a stop while pumping).
 */
static void own_paused(void *arg)
{
	struct own *o = arg;
	int64_t now = clock_ms();

	if (tunnel_paused(&o->tun, now - o->looked_ms))
		tunnel_excuse(&o->tun);
	o->looked_ms = now;
}

/* Lane 0 says it for the session; a lane's own line is for -v. */
static void own_net(const struct own *o, enum tunnel_net n)
{
	if (n == TUNNEL_NET_DOWN)
		log_debug("lane %u: no route to the SSH server: waiting up to %d s for the network",
			  o->cfg->lane, TUNNEL_NET_WAIT_SEC);
	else if (n == TUNNEL_NET_BACK)
		log_debug("lane %u: the route is back after %d s: checking the lane", o->cfg->lane,
			  o->tun.net_down_sec);
}

int laneown_run(struct transport *t, int sock, const struct laneown_cfg *cfg)
{
	struct own o;
	int64_t last_tick;
	int ret, code = 1;

	memset(&o, 0, sizeof(o));
	o.cfg = cfg;
	o.sig.fd = -1;
	sigemptyset(&o.term);
	sigaddset(&o.term, SIGTERM);
	if (evloop_init(&o.loop) < 0)
		return 1;
	ret = own_setup(&o, t, sock);
	if (ret < 0) {
		log_err("lane %u: setting up its worker: %s", cfg->lane, strerror(-ret));
		goto out;
	}
	own_report(&o);
	last_tick = o.looked_ms = clock_ms();
	evloop_on_wake(&o.loop, own_paused, &o);
	while (!o.done) {
		int64_t now;
		int timeout;

		tunnel_pump(&o.tun);
		if (o.tun.failed) {
			snprintf(o.why, sizeof(o.why), "%s", o.tun.why);
			own_report(&o);
			break;
		}
		now = clock_ms();
		if (now - last_tick >= 1000) {
			own_paused(&o);
			own_net(&o, tunnel_tick(&o.tun));
			last_tick = now;
		}
		if ((o.dirty && now - o.last_report >= REPORT_MIN_MS) ||
		    now - o.last_report >= REPORT_MAX_MS)
			own_report(&o);
		timeout = o.tun.more ? 0 : tunnel_timeout_ms(&o.tun);
		if (timeout < 0 || timeout > (o.dirty ? REPORT_MIN_MS : REPORT_MAX_MS))
			timeout = o.dirty ? REPORT_MIN_MS : REPORT_MAX_MS;
		if (evloop_run_once(&o.loop, timeout) < 0)
			break;
	}
	code = 0;
out:
	/*
	 * Reset first: the streams' ends must not wait on the SSH session's
	 * goodbye. The parent's next connection finds our end shut and goes
	 * to another lane; those it sent already are reset, not dropped with
	 * a FIN.
	 */
	shutdown(sock, SHUT_RD);
	if (o.tun_on)
		tunnel_close(&o.tun);
	mux_free(o.mux);
	own_drain(sock);
	if (o.sig.fd >= 0)
		close(o.sig.fd);
	evloop_close(&o.loop);
	/* The goodbye (transport_close) may take a round trip: a TERM meanwhile ends it. */
	sigprocmask(SIG_UNBLOCK, &o.term, NULL);
	return code;
}

/* The parent's end. */

static void laneown_end(struct laneown *o);

static void on_report(struct ev_io *io, uint32_t events)
{
	struct laneown *o = (struct laneown *)((char *)io - offsetof(struct laneown, io));
	int i;

	(void)events;
	for (i = 0; i < 16 && !o->ended; i++) {
		struct laneown_report r;
		/* MSG_TRUNC: a message longer than a report says so by its length. */
		ssize_t n = recv(io->fd, &r, sizeof(r), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n == (ssize_t)sizeof(r) && r.magic == LANEOWN_MAGIC && r.kind == SAY_REPORT &&
		    r.n_top <= LANEOWN_TOP && r.taken <= o->given && r.taken >= o->last.taken &&
		    r.refused <= r.taken && r.refused >= o->last.refused && r.refused_err >= 0 &&
		    r.refused_err < 4096) {
			r.why[sizeof(r.why) - 1] = '\0';
			if (r.refused > o->last.refused)
				o->refused_ms = clock_ms();
			o->last = r;
			o->heard_ms = clock_ms();
			if (!r.failed)
				continue;
			snprintf(o->why, sizeof(o->why), "%s",
				 r.why[0] ? r.why : "its worker failed");
		} else if (n == 0) {
			snprintf(o->why, sizeof(o->why), "its worker ended");
			o->gone = true;
		} else if (n < 0) {
			snprintf(o->why, sizeof(o->why), "reading its worker: %s", strerror(errno));
			/* A worker killed with our messages unread resets the socket. */
			o->gone = true;
		} else {
			snprintf(o->why, sizeof(o->why),
				 "its worker sent a report that does not "
				 "hold together");
		}
		laneown_end(o);
		return;
	}
}

/* Nothing more to read: a socket at its end would wake the loop for ever. */
static void laneown_end(struct laneown *o)
{
	o->ended = true;
	if (o->sock >= 0 && o->watched) {
		evloop_del(o->loop, &o->io);
		o->watched = false;
	}
}

int laneown_attach(struct laneown *o, struct evloop *loop, int sock)
{
	int ret;

	memset(o, 0, sizeof(*o));
	o->loop = loop;
	o->io = (struct ev_io){.fd = sock, .cb = on_report};
	ret = evloop_add(loop, &o->io, EPOLLIN);
	o->sock = ret < 0 ? -1 : sock;
	o->watched = ret == 0;
	o->heard_ms = clock_ms();
	return ret;
}

void laneown_detach(struct laneown *o)
{
	if (o->sock >= 0 && o->watched)
		evloop_del(o->loop, &o->io);
	memset(o, 0, sizeof(*o));
	o->sock = -1;
}

static int ask(struct laneown *o, uint32_t kind, const struct wire_open *dst, int fd)
{
	struct laneown_ask a;
	ssize_t n;

	if (o->sock < 0 || o->ended)
		return -ENOTCONN;
	memset(&a, 0, sizeof(a));
	a.magic = LANEOWN_MAGIC;
	a.kind = kind;
	if (dst)
		a.dst = *dst;
	n = fdpass_send(o->sock, &a, sizeof(a), fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0,
			MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == -EAGAIN || n == -EWOULDBLOCK)
		return -EAGAIN;
	if (n < 0) {
		/*
		 * Its end is shut (it is going) or gone: no more connections
		 * for it. Its own reason may wait in the socket: that one says
		 * more than ours.
		 */
		if (o->watched)
			on_report(&o->io, EPOLLIN);
		if (!o->ended) {
			snprintf(o->why, sizeof(o->why),
				 "its worker stopped taking connections (%s)", strerror((int)-n));
			laneown_end(o);
		}
		return (int)n;
	}
	/* A SOCK_SEQPACKET message goes whole or not at all. */
	return (size_t)n == sizeof(a) ? 0 : -EPROTO;
}

int laneown_give(struct laneown *o, int fd, const struct wire_open *dst)
{
	struct linger cut = {.l_onoff = 1, .l_linger = 0}, was = {0};
	socklen_t len = sizeof(was);
	int ret;

	/*
	 * Armed on its way: a socket the worker cannot take (its descriptors
	 * ran out, MSG_CTRUNC) is closed by the kernel with the message, and
	 * must reach its reader as cut off, not as a complete empty reply.
	 * The worker's mux keeps it armed (mux_set_reset_if_killed).
	 */
	getsockopt(fd, SOL_SOCKET, SO_LINGER, &was, &len);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &cut, sizeof(cut));
	ret = ask(o, ASK_OPEN, dst, fd);
	if (ret < 0) {
		/* Still the caller's, for another lane, whose close may be clean. */
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &was, sizeof(was));
		return ret;
	}
	close(fd);
	o->given++;
	return 0;
}

int laneown_probe(struct laneown *o)
{
	return ask(o, ASK_PROBE, NULL, -1);
}

int laneown_excuse(struct laneown *o)
{
	o->heard_ms = clock_ms();
	return laneown_probe(o);
}

int laneown_table(struct laneown *o)
{
	return ask(o, ASK_TABLE, NULL, -1);
}

const char *laneown_failed(const struct laneown *o)
{
	if (o->ended)
		return o->why;
	if (o->sock >= 0 && clock_ms() - o->heard_ms > LANEOWN_SILENT_MS)
		return "its worker stopped answering";
	return NULL;
}

uint64_t laneown_refused(const struct laneown *o, int *err, int64_t *when_ms)
{
	*err = o->last.refused_err;
	*when_ms = o->refused_ms;
	return o->last.refused;
}

void laneown_stats(const struct laneown *o, struct mux_stats *st)
{
	*st = o->last.st;
	/* Given but not taken yet: on their way, the lane's all the same. */
	st->streams += (size_t)(o->given - o->last.taken);
}

size_t laneown_each_top(const struct laneown *o,
			void (*cb)(void *arg, uint32_t id, const struct wire_open *dst,
				   const struct mux_stream_end *sofar),
			void *arg)
{
	uint32_t i;

	for (i = 0; i < o->last.n_top; i++)
		cb(arg, o->last.top[i].id, &o->last.top[i].dst, &o->last.top[i].sofar);
	return o->last.n_top;
}
