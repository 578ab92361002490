/*
 * tunnel: pumps the mux through the transport. After -EAGAIN a write is
 * repeated with the same bytes (the mux keeps them pinned), and the
 * descriptors are watched in the directions the transport names, so
 * nothing busy-loops.
 */
#include "tunnel.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../../common/clock.h"
#include "../../common/log.h"
#include "netpath.h"

#define PUMP_ROUNDS 32
/* Few reads between writes: credit (WINDOW frames) goes back while data still flows. */
#define READS_PER_ROUND	 2
#define WRITES_PER_ROUND 64
#define ALIVE_SEC	 10
#define ALIVE_COUNT	 3
#define PING_MAX_SEC	 60
/* Linux's longest retransmission timeout (TCP_RTO_MAX). */
#define TCP_BACKOFF_MAX_SEC 120
/* From the first loss, however often the path comes and goes: a dead server is found. */
#define TUNNEL_BACK_MAX_SEC (TUNNEL_NET_WAIT_SEC + TUNNEL_PROBE_SEC + TCP_BACKOFF_MAX_SEC)

static void tunnel_fail(struct tunnel *t, int err, const char *fmt, ...)
{
	va_list ap;

	if (t->failed)
		return;
	t->failed = err;
	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
}

static void on_transport(struct ev_io *io, uint32_t events)
{
	/* Work happens in tunnel_pump after the round of callbacks. */
}

int tunnel_init(struct tunnel *t, struct transport *tr, struct evloop *loop, struct mux *mux)
{
	int fd[2], ret;

	memset(t, 0, sizeof(*t));
	t->tr = tr;
	t->loop = loop;
	t->mux = mux;
	transport_wait_on(tr, fd, &t->watched);
	t->io.fd = fd[0];
	t->io.cb = on_transport;
	t->err_io.fd = fd[1];
	t->err_io.cb = on_transport;
	clock_gettime(CLOCK_MONOTONIC, &t->last_rx);
	/* The first tick pings at once: the round trip sizes a lone stream's credit. */
	t->ping_sec = ALIVE_SEC;
	t->dead_sec = ALIVE_SEC * ALIVE_COUNT;
	t->last_ping = t->last_rx;
	t->last_ping.tv_sec -= t->ping_sec;
	t->last_tx = t->last_rx;
	ret = evloop_add(loop, &t->io, t->watched);
	if (ret == 0 && t->err_io.fd >= 0)
		ret = evloop_add(loop, &t->err_io, EPOLLIN);
	return ret;
}

/* The helper's stderr: one log line per line, shown with -v. */
static void tunnel_stderr(struct tunnel *t, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n' || t->errlen == sizeof(t->errbuf) - 1) {
			t->errbuf[t->errlen] = '\0';
			if (t->errlen) {
				log_debug("remote: %s", t->errbuf);
				memcpy(t->lastline, t->errbuf, t->errlen + 1);
			}
			t->errlen = 0;
			if (p[i] == '\n')
				continue;
		}
		t->errbuf[t->errlen++] = p[i];
	}
}

/* The helper's last words usually say why it stopped: keep them in the reason. */
static void tunnel_ended(struct tunnel *t)
{
	int status = transport_exit_status(t->tr);
	const char *words;
	char st[32] = "", ebuf[1024];
	ssize_t n;
	int i;

	/*
	 * A command (-e's ssh, or a lane's, handed over) writes them before
	 * it exits, yet after our last look at its stderr may have found
	 * nothing: look again now that it is gone. Bounded: the pipe may
	 * have another writer.
	 */
	for (i = 0; i < 64 && (n = transport_read_stderr(t->tr, ebuf, sizeof(ebuf))) > 0; i++)
		tunnel_stderr(t, ebuf, (size_t)n);
	words = t->errlen ? t->errbuf : t->lastline;

	t->errbuf[t->errlen] = '\0';
	if (status >= 0)
		snprintf(st, sizeof(st), " with status %d", status);
	tunnel_fail(t, -EPIPE, "the remote helper exited%s%s%s", st, *words ? ": " : "", words);
}

static int tunnel_read(struct tunnel *t)
{
	char ebuf[1024];
	int i, ret, progress = 0;
	ssize_t n;

	/*
	 * stderr first: reading it may run the transport and queue stdout
	 * bytes inside it. Reading stdout last, until EAGAIN, leaves nothing
	 * queued that no descriptor event would announce.
	 */
	while ((n = transport_read_stderr(t->tr, ebuf, sizeof(ebuf))) > 0)
		tunnel_stderr(t, ebuf, (size_t)n);
	if (n < 0 && n != -EAGAIN) {
		tunnel_fail(t, (int)n, "%s", transport_why(t->tr));
		return -1;
	}
	for (i = 0; i < READS_PER_ROUND; i++) {
		size_t len;
		uint8_t *p = mux_in_space(t->mux, &len);
		n = transport_read(t->tr, p, len);
		if (n == -EAGAIN)
			break;
		if (n == 0) {
			tunnel_ended(t);
			return -1;
		}
		if (n < 0) {
			tunnel_fail(t, (int)n, "%s", transport_why(t->tr));
			return -1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t->last_rx);
		progress = 1;
		ret = mux_in_commit(t->mux, (size_t)n);
		if (ret == -ENOBUFS) {
			tunnel_fail(t, ret,
				    "the remote helper stopped reading: control queue full");
			return -1;
		}
		if (ret < 0) {
			tunnel_fail(t, ret, "protocol error from the remote helper (%s)",
				    strerror(-ret));
			return -1;
		}
	}
	return progress;
}

static int tunnel_write(struct tunnel *t)
{
	int i, progress = 0;
	ssize_t n;

	for (i = 0; i < WRITES_PER_ROUND; i++) {
		size_t len;
		const uint8_t *p;

		if (!t->pending)
			mux_fill(t->mux);
		p = mux_out_peek(t->mux, &len);
		if (t->pending)
			len = t->pending_len;
		if (len == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t->last_tx);
			break;
		}
		n = transport_write(t->tr, p, len);
		if (n == -EAGAIN) {
			t->pending = true;
			t->pending_len = len;
			mux_out_pin(t->mux, true);
			break;
		}
		if (n < 0) {
			tunnel_fail(t, (int)n, "%s", transport_why(t->tr));
			return -1;
		}
		t->pending = false;
		clock_gettime(CLOCK_MONOTONIC, &t->last_tx);
		mux_out_pin(t->mux, false);
		mux_out_consume(t->mux, (size_t)n);
		progress = 1;
	}
	return progress;
}

void tunnel_pump(struct tunnel *t)
{
	int round, r, w, r2, fd[2];
	uint32_t want;

	t->more = false;
	for (round = 0; round < PUMP_ROUNDS && !t->failed; round++) {
		r = tunnel_read(t);
		w = tunnel_write(t);
		/* A write may have pulled bytes into the transport that no event will announce. */
		r2 = tunnel_read(t);
		if (r < 0 || w < 0 || r2 < 0)
			return;
		if (!r && !w && !r2)
			break;
	}
	if (round == PUMP_ROUNDS || (!t->failed && transport_buffered(t->tr)))
		t->more = true;
	transport_wait_on(t->tr, fd, &want);
	/* A stderr that ended would wake a level-triggered loop for ever. */
	if (fd[1] < 0 && t->err_io.fd >= 0) {
		evloop_del(t->loop, &t->err_io);
		t->err_io.fd = -1;
	}
	if (want != t->watched && evloop_mod(t->loop, &t->io, want) == 0)
		t->watched = want;
}

static double since(const struct timespec *a, const struct timespec *now)
{
	return (double)(now->tv_sec - a->tv_sec) + (double)(now->tv_nsec - a->tv_nsec) / 1e9;
}

/* The instant sec seconds after a. */
static struct timespec after(const struct timespec *a, double sec)
{
	struct timespec r = *a;
	int64_t ns = (int64_t)(sec * 1e9) + r.tv_nsec;

	r.tv_sec += (time_t)(ns / 1000000000);
	r.tv_nsec = (long)(ns % 1000000000);
	return r;
}

void tunnel_set_alive(struct tunnel *t, int interval, int count)
{
	/* Ping often enough that the helper never takes us for gone (HELPER_SILENT_SEC). */
	if (interval > 0)
		t->ping_sec = interval < PING_MAX_SEC ? interval : PING_MAX_SEC;
	else
		interval = t->ping_sec;
	t->dead_sec = interval * (count > 0 ? count : ALIVE_COUNT);
	/* The first tick still pings at once: the round trip sizes streams' credit. */
	t->last_ping = t->last_rx;
	t->last_ping.tv_sec -= t->ping_sec;
}

void tunnel_probe(struct tunnel *t)
{
	/* One for a route that came back allows for TCP's backoff: a pause now keeps that. */
	if (!t->probing)
		t->net_back = false;
	clock_gettime(CLOCK_MONOTONIC, &t->probe);
	t->probe_ms = clock_ms();
	t->probing = true;
	if (mux_ping_now(t->mux) == 0)
		t->last_ping = t->probe;
}

void tunnel_pong(struct tunnel *t, const uint8_t opaque[8])
{
	int rtt = mux_rtt_ms(opaque);

	/* Sent no earlier than the probe: rtt is within the time since. */
	if (t->probing && rtt >= 0 && rtt <= clock_ms() - t->probe_ms)
		t->probing = false;
}

void tunnel_excuse(struct tunnel *t)
{
	clock_gettime(CLOCK_MONOTONIC, &t->excused);
	tunnel_probe(t);
}

bool tunnel_paused(const struct tunnel *t, int64_t late_ms)
{
	int64_t half = (int64_t)t->dead_sec * 500;

	if (half > TUNNEL_PAUSED_MS)
		half = TUNNEL_PAUSED_MS;
	return late_ms > (half > TUNNEL_PAUSED_MIN_MS ? half : TUNNEL_PAUSED_MIN_MS);
}

/* Since the later of a and the excuse: the silence that counts. */
static double silent_for(const struct tunnel *t, const struct timespec *a,
			 const struct timespec *now)
{
	double s = since(a, now), e = since(&t->excused, now);

	return s < e ? s : e;
}

void tunnel_close(struct tunnel *t)
{
	if (!t->loop)
		return;
	evloop_del(t->loop, &t->io);
	if (t->err_io.fd >= 0)
		evloop_del(t->loop, &t->err_io);
	t->loop = NULL;
}

/*
 * Whether the silence may be judged now: not while the network to the
 * server is down, or the connection's address is away (see tunnel_tick in
 * tunnel.h). Looked at only once the server is quiet, or a probe waits for
 * it, and before the keepalives could judge: a session that moves needs no
 * look, and a healthy idle one answers each ping within a round trip.
 */
static bool tunnel_check_path(struct tunnel *t, const struct timespec *now, enum tunnel_net *news)
{
	char self[INET6_ADDRSTRLEN] = "";
	double look = t->ping_sec + 2, quiet;
	struct timespec due, cap;
	bool away;
	int ret;

	if (look > t->dead_sec - 1)
		look = t->dead_sec - 1;
	if (!t->probing && !t->net_down && !t->addr_gone &&
	    silent_for(t, &t->last_rx, now) <= look && silent_for(t, &t->last_tx, now) <= look)
		return true;
	ret = netpath_check(t->io.fd, self, sizeof(self));
	if (ret == -ENOTSOCK) {
		ret = netpath_route(t->tr->peer, t->tr->n_peer);
		/* A guess from addresses alone: the server heard since the loss overrules it. */
		if (ret < 0 && (t->net_down || t->addr_gone) &&
		    since(&t->net_down_at, &t->last_rx) > 0)
			ret = 0;
	}
	away = ret == -EADDRNOTAVAIL || ret == -ENETUNREACH;
	/* A path that comes and goes before the server answers is one wait, from the first loss. */
	if (away && !t->net_down && !t->addr_gone && !(t->probing && t->net_back))
		t->net_down_at = *now;
	/* Past the wait, and past what a probe still open allows for TCP's backoff. */
	if (away && since(&t->net_down_at, now) > TUNNEL_NET_WAIT_SEC &&
	    !(t->probing && t->net_back && since(&t->back_until, now) <= 0)) {
		tunnel_fail(t, ret, "no usable route to the SSH server for %.0f s",
			    since(&t->net_down_at, now));
		return false;
	}
	if (ret == -EADDRNOTAVAIL) {
		if (!t->addr_gone)
			t->addr_gone_at = *now;
		t->addr_gone = true;
		if (since(&t->addr_gone_at, now) >= TUNNEL_GONE_SEC) {
			tunnel_fail(t, -EADDRNOTAVAIL,
				    "this machine no longer has %s, the address the SSH connection "
				    "came from",
				    *self ? self : "the address");
			return false;
		}
		/* Not judged meanwhile: an address coming back is how a network returns. */
		t->excused = *now;
		return false;
	}
	if (ret == -ENETUNREACH) {
		if (!t->net_down)
			*news = TUNNEL_NET_DOWN;
		t->net_down = true;
		t->addr_gone = false;
		t->excused = *now;
		return false;
	}
	if (t->net_down || t->addr_gone) {
		/* Only an outage that was told is told back; a blip of the address is not. */
		if (t->net_down)
			*news = TUNNEL_NET_BACK;
		t->net_down = t->addr_gone = false;
		t->net_down_sec = (int)(since(&t->net_down_at, now) + 0.5);
		t->excused = *now;
		/* TCP backed off since the server was last heard: its next try may be as far. */
		quiet = since(&t->last_rx, now);
		if (quiet > TCP_BACKOFF_MAX_SEC)
			quiet = TCP_BACKOFF_MAX_SEC;
		due = after(now, TUNNEL_PROBE_SEC + quiet);
		/* Back again before the server answered: the later deadline, within a bound. */
		if (t->probing && t->net_back && since(&t->back_until, &due) < 0)
			due = t->back_until;
		cap = after(&t->net_down_at, TUNNEL_BACK_MAX_SEC);
		if (since(&cap, &due) > 0)
			due = cap;
		tunnel_probe(t);
		t->back_until = due;
		t->net_back = true;
	}
	return true;
}

enum tunnel_net tunnel_tick(struct tunnel *t)
{
	enum tunnel_net news = TUNNEL_NET_SAME;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!tunnel_check_path(t, &now, &news))
		return news;
	if (t->probing && since(&t->probe, &t->last_rx) >= TUNNEL_PROBE_SEC / 2.0) {
		t->probing = false;
	} else if (t->probing && (t->net_back ? since(&t->back_until, &now) > 0
					      : since(&t->probe, &now) > TUNNEL_PROBE_SEC)) {
		if (t->net_back)
			tunnel_fail(
			    t, -ETIMEDOUT,
			    "no answer from the SSH server since the route came back (TCP's "
			    "retries allowed for)");
		else
			tunnel_fail(t, -ETIMEDOUT,
				    "no answer from the SSH server within %d s of waking up",
				    TUNNEL_PROBE_SEC);
		return news;
	}
	/* A probe once the route came back allows for TCP's backoff: its time rules. */
	if (t->probing && t->net_back)
		t->excused = now;
	if (silent_for(t, &t->last_rx, &now) > t->dead_sec) {
		tunnel_fail(t, -ETIMEDOUT, "no answer from the SSH server for %d s", t->dead_sec);
		return news;
	}
	/* Reads alone can look healthy while writes are stuck (a rekey gone wrong, a full peer). */
	if (silent_for(t, &t->last_tx, &now) > t->dead_sec) {
		tunnel_fail(t, -ETIMEDOUT, "the SSH session has accepted nothing for %d s",
			    t->dead_sec);
		return news;
	}
	if (since(&t->last_ping, &now) >= t->ping_sec) {
		if (mux_ping_now(t->mux) < 0)
			tunnel_fail(t, -ENOBUFS, "the SSH channel is not draining");
		t->last_ping = now;
	}
	return news;
}

int tunnel_timeout_ms(const struct tunnel *t)
{
	return t->more ? 0 : 1000;
}
