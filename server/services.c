/*
 * services: the helper's -N, -H, --dns and UDP work. Routes are re-read every
 * ROUTES_EVERY seconds and sent only when they changed; names come from the
 * hostwatch child one line at a time, and wait (with the child) while the
 * session's control queue is full; DNS queries go to the remote's first
 * nameserver unless the client named one (--to-ns); UDP and ping are
 * udpfwd's, their frames dropped (and counted) when the pipe is full.
 */
#include "services.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/resolv.h"
#include "../common/routes.h"
#include "../common/sockaddr.h"
#include "dnsfwd.h"
#include "hostwatch.h"
#include "hostwatch_parse.h"
#include "udpfwd.h"

#define ROUTES_EVERY 10
#define ROUTES_MAX   4096
#define HW_LINE_MAX  512
#define HW_SEEDS_MAX 64

struct services {
	struct evloop *loop;
	struct mux *mux;
	uint32_t features;
	/* -N */
	struct subnet *routes;
	int n_routes; /* -1 until the first report */
	time_t routes_at;
	/* -H */
	char *seeds[HW_SEEDS_MAX];
	size_t n_seeds;
	bool hw_started;
	bool hw_restart; /* a seed came after the child started: start it again with it */
	struct ev_io hw;
	pid_t hw_pid;
	char hw_buf[HW_LINE_MAX * 4];
	size_t hw_len;
	bool hw_held; /* a line waits for room: the pipe is not watched */
	/* --dns */
	struct dnsfwd *dns;
	struct sockaddr_storage resolver;
	/* UDP and ping */
	struct udpfwd *udp;
	enum udpfwd_echo_way echo_way; /* as last logged */
	struct udpfwd_stats udp_told;
};

static void routes_report(struct services *s)
{
	static uint8_t frame[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];
	struct subnet *cur = calloc(ROUTES_MAX, sizeof(*cur));
	size_t len;
	int n, i;

	if (!cur)
		return;
	n = routes_read(cur, ROUTES_MAX, 0);
	if (n < 0) {
		log_warn("reading routes: %s", strerror(-n));
		goto out;
	}
	if (n == s->n_routes && memcmp(cur, s->routes, (size_t)n * sizeof(*cur)) == 0)
		goto out;
	len = wire_put_hdr(frame, sizeof(frame), WIRE_ROUTES, 0, 0);
	for (i = 0; i < n; i++) {
		size_t nl = wire_routes_add(frame, sizeof(frame), len, cur[i].family, cur[i].addr,
					    cur[i].prefix);
		if (!nl)
			break; /* what does not fit in one frame is not reported */
		len = nl;
	}
	wire_routes_end(frame, sizeof(frame), len);
	if (mux_send_ctl(s->mux, frame, len) < 0)
		goto out; /* try again next round */
	log_debug("reported %d routes", i);
	free(s->routes);
	s->routes = cur;
	s->n_routes = n;
	cur = NULL;
out:
	free(cur);
}

/*
 * One "ADDRESS NAME" line (len bytes, no newline) from the hostwatch child,
 * checked before it leaves. Returns -ENOBUFS when the session's control
 * queue has no room for it now, else 0 (sent, or not worth sending).
 */
static int hw_line(struct services *s, const char *line, size_t len)
{
	uint8_t frame[WIRE_HDR_LEN + 32 + WIRE_NAME_MAX];
	char buf[HW_LINE_MAX], *name;
	struct wire_host h;

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, line, len);
	buf[len] = '\0';
	name = strchr(buf, ' ');
	if (!name)
		return 0;
	*name++ = '\0';
	memset(&h, 0, sizeof(h));
	if (inet_pton(AF_INET, buf, h.addr) == 1)
		h.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, h.addr) == 1)
		h.family = AF_INET6;
	else
		return 0;
	/* The child is ours, but a name goes to another machine's /etc/hosts: check it again. */
	if (hostname_norm(name, strlen(name), h.name, sizeof(h.name)) < 0 ||
	    hostname_local(h.name) || !hostwatch_addr_ok(h.family, h.addr))
		return 0;
	return mux_send_ctl(s->mux, frame, wire_put_host(frame, sizeof(frame), &h)) == -ENOBUFS
		   ? -ENOBUFS
		   : 0;
}

/*
 * Stop or go on reading the child's pipe. Held, the pipe leaves the loop
 * altogether: a child that exits meanwhile would make it ready for ever.
 */
static void hw_hold(struct services *s, bool hold)
{
	if (hold == s->hw_held || s->hw.fd < 0)
		return;
	if (hold)
		evloop_del(s->loop, &s->hw);
	else if (evloop_add(s->loop, &s->hw, EPOLLIN) < 0)
		return; /* the tick tries again */
	s->hw_held = hold;
}

/*
 * Send the whole lines read so far. The child reports each pair once, so
 * a line the control queue has no room for (a flood of DNS, say) is kept,
 * and the pipe is not read (the child waits on it) until services_pump or
 * a tick finds room.
 */
static bool hw_drain(struct services *s)
{
	bool sent = false;
	char *nl;

	while ((nl = memchr(s->hw_buf, '\n', s->hw_len))) {
		if (hw_line(s, s->hw_buf, (size_t)(nl - s->hw_buf)) == -ENOBUFS) {
			hw_hold(s, true);
			return sent;
		}
		sent = true;
		s->hw_len -= (size_t)(nl + 1 - s->hw_buf);
		memmove(s->hw_buf, nl + 1, s->hw_len);
	}
	if (s->hw_len == sizeof(s->hw_buf))
		s->hw_len = 0; /* an overlong line: drop it */
	hw_hold(s, false);
	return sent;
}

static void on_hostwatch(struct ev_io *io, uint32_t events)
{
	struct services *s = (struct services *)((char *)io - offsetof(struct services, hw));
	ssize_t n;

	n = read(io->fd, s->hw_buf + s->hw_len, sizeof(s->hw_buf) - s->hw_len);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		log_warn("hostwatch stopped");
		evloop_del(s->loop, io);
		close(io->fd);
		io->fd = -1;
		return;
	}
	s->hw_len += (size_t)n;
	hw_drain(s);
}

static void dns_reply(void *ctx, uint32_t id, const uint8_t *msg, size_t len)
{
	static uint8_t frame[WIRE_HDR_LEN + 65536];
	struct services *s = ctx;

	if (len > WIRE_MAX_PAYLOAD)
		len = 0;
	wire_put_hdr(frame, sizeof(frame), WIRE_DNS_REPLY, id, (uint32_t)len);
	if (len)
		memcpy(frame + WIRE_HDR_LEN, msg, len);
	mux_send_ctl(s->mux, frame, WIRE_HDR_LEN + len);
}

static int udp_send(void *ctx, const uint8_t *frame, size_t len)
{
	struct services *s = ctx;

	/* Datagrams share the pipe with streams rather than going ahead of them. */
	return mux_send_dgram(s->mux, frame, len);
}

/* At -v, what UDP lost since the last time it was said. */
static void udp_report(struct services *s)
{
	struct udpfwd_stats st;

	udpfwd_get_stats(s->udp, &st);
	if (st.out_dropped != s->udp_told.out_dropped || st.in_dropped != s->udp_told.in_dropped ||
	    st.evicted != s->udp_told.evicted)
		log_debug("udp: %zu flows, %zu echoes; dropped %llu to the client, %llu to hosts; "
			  "%llu flows evicted",
			  st.flows, st.echoes, (unsigned long long)st.out_dropped,
			  (unsigned long long)st.in_dropped, (unsigned long long)st.evicted);
	s->udp_told = st;
}

int services_start(struct services **out, struct evloop *loop, struct mux *mux, uint32_t features)
{
	struct services *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->mux = mux;
	s->features = features & SERVICES_OFFERED;
	s->n_routes = -1;
	s->hw.fd = -1;
	*out = s;
	if (s->features & WIRE_F_DNS) {
		if (resolv_read("/etc/resolv.conf", &s->resolver, 1) <= 0)
			log_warn("no nameserver in /etc/resolv.conf; DNS needs --to-ns");
		s->dns = dnsfwd_new(loop, dns_reply, s);
		if (!s->dns)
			return -ENOMEM;
	}
	if (s->features & WIRE_F_UDP) {
		s->udp = udpfwd_new(loop, udp_send, s);
		if (!s->udp)
			return -ENOMEM;
	}
	if (s->features & WIRE_F_ROUTES) {
		routes_report(s);
		s->routes_at = time(NULL);
	}
	return 0;
}

static void hostwatch_end(struct services *s)
{
	if (s->hw.fd >= 0) {
		if (!s->hw_held)
			evloop_del(s->loop, &s->hw);
		close(s->hw.fd);
		s->hw.fd = -1;
	}
	s->hw_held = false;
	if (s->hw_pid > 0) {
		kill(s->hw_pid, SIGTERM);
		waitpid(s->hw_pid, NULL, 0);
		s->hw_pid = 0;
	}
	s->hw_len = 0;
	s->hw_started = false;
}

void services_free(struct services *s)
{
	if (!s)
		return;
	hostwatch_end(s);
	dnsfwd_free(s->dns);
	udpfwd_free(s->udp);
	free(s->routes);
	while (s->n_seeds)
		free(s->seeds[--s->n_seeds]);
	free(s);
}

int services_ctl(struct services *s, const struct wire_frame *f)
{
	switch (f->type) {
	case WIRE_RESOLVER: {
		struct wire_open r = f->u.open;
		if (!(s->features & WIRE_F_DNS))
			return -EPROTO;
		sa_make(&s->resolver, r.family, r.addr, r.port);
		return 0;
	}
	case WIRE_HOST:
		/* From the client, a HOST with the unspecified address is a seed name to resolve.
		 */
		if (!(s->features & WIRE_F_HOSTS))
			return -EPROTO;
		if (s->n_seeds == HW_SEEDS_MAX)
			return 0;
		if (!(s->seeds[s->n_seeds] = strdup(f->u.host.name)))
			return -ENOMEM;
		s->n_seeds++;
		/*
		 * The client sends its seeds before its loop runs, which may be
		 * after this end's first tick (its firewall comes in between):
		 * the child then starts again with them.
		 */
		s->hw_restart = s->hw_started;
		return 0;
	case WIRE_DNS_QUERY:
		if (!(s->features & WIRE_F_DNS))
			return -EPROTO;
		dnsfwd_query(s->dns, &s->resolver, f->stream, f->payload, f->len);
		return 0;
	case WIRE_UDP:
	case WIRE_UDP_CLOSE:
	case WIRE_ECHO: {
		int ret;
		if (!s->udp)
			return -EPROTO;
		ret = udpfwd_frame(s->udp, f);
		if (udpfwd_echo_way(s->udp) != s->echo_way) {
			s->echo_way = udpfwd_echo_way(s->udp);
			if (s->echo_way == UDPFWD_ECHO_SOCKET)
				log_info("ping: through ICMP sockets");
			else
				log_info("ping: ICMP sockets not allowed here "
					 "(net.ipv4.ping_group_range); "
					 "running the ping command");
		}
		return ret;
	}
	default:
		return -EPROTO;
	}
}

int services_resolver(const struct services *s, struct sockaddr_storage *dst)
{
	if (!(s->features & WIRE_F_DNS))
		return -EPROTO;
	if (!sa_addr(&s->resolver))
		return -ENOENT;
	/* Whole: a link-local resolver needs its scope. */
	*dst = s->resolver;
	return 0;
}

/* Started on the first tick, and again on a tick after a late seed (services_ctl). */
static void hostwatch_begin(struct services *s)
{
	int ret;

	s->hw_started = true;
	ret = hostwatch_start((const char *const *)s->seeds, s->n_seeds, &s->hw.fd, &s->hw_pid);
	if (ret < 0) {
		log_warn("cannot start hostwatch: %s", strerror(-ret));
		return;
	}
	s->hw.cb = on_hostwatch;
	if (evloop_add(s->loop, &s->hw, EPOLLIN) < 0)
		log_warn("cannot watch hostwatch's pipe");
}

bool services_pump(struct services *s)
{
	return s->hw_held && hw_drain(s);
}

void services_tick(struct services *s)
{
	time_t now = time(NULL);

	if (s->hw_restart) {
		s->hw_restart = false;
		hostwatch_end(s);
	}
	if ((s->features & WIRE_F_HOSTS) && !s->hw_started)
		hostwatch_begin(s);
	if (s->hw_held)
		hw_drain(s);
	if ((s->features & WIRE_F_ROUTES) && now - s->routes_at >= ROUTES_EVERY) {
		routes_report(s);
		s->routes_at = now;
	}
	if (s->dns)
		dnsfwd_expire(s->dns);
	if (s->udp) {
		udpfwd_tick(s->udp);
		udp_report(s);
	}
}
