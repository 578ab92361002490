/*
 * delayline: a long path for the testbed, in user space (the test kernel
 * has no netem). It listens on one TCP address and relays each connection
 * it accepts to a target, holding every byte for half the round trip in
 * each direction, and optionally serialising each direction at a rate.
 *
 *   delayline -l ADDR:PORT -t ADDR:PORT [-D RTT_MS] [-R MBIT] [-q BYTES] [-b BYTES] [-v]
 *
 * Each direction keeps what it read in a ring of at most -q bytes, with a
 * release time per read; a timerfd per direction wakes it when the oldest
 * is due. A full ring stops reading, so the sender's TCP window closes as
 * it would behind a real path. Without -R the path is as fast as this
 * process: the ring is then the path's capacity (its bytes in flight).
 *
 * What it does not model: the TCP handshake with the client is local, so
 * the client's connect() returns at once. The connection to the target is
 * made 1.5 round trips after the accept instead, when a real server's
 * accept() would return: a client that sends first, or waits for the
 * server's greeting, then sees its first answer after two round trips, as
 * on a real path. Loss, reordering and TCP's own slow start are not
 * modelled, nor is the timing of TCP's ACKs (they come from this hop, at
 * once, not a round trip later): a sender's Nagle never waits here. A reset
 * is relayed at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define READ_MAX    (1 << 20)
#define CAP_DEFAULT ((size_t)64 << 20)
#define CAP_MIN	    ((size_t)256 << 10)
/* Reads this close in release time share one mark: a byte leaves at most this early. */
#define COALESCE_NS 100000
#define MARKS_MAX   (1 << 20)
#define EV_BATCH    64

enum { EP_LISTEN, EP_FD0, EP_FD1, EP_TIMER0, EP_TIMER1, EP_CONNECT };

struct conn;

struct ep {
	int kind;
	struct conn *c;
};

struct mark {
	size_t bytes;
	int64_t at; /* CLOCK_MONOTONIC ns when these bytes may leave */
};

/* One direction: bytes read from src, held until due, written to dst. */
struct dir {
	int src, dst; /* indices into conn.fd */
	char *buf;    /* ring of cfg.cap bytes, allocated at the first read */
	size_t off;   /* ring offset of the oldest byte held */
	size_t len;   /* bytes held */
	size_t due;   /* of those, the ones whose time has come */
	struct mark *marks;
	size_t m_head, m_n, m_cap;
	int64_t link_free; /* with a rate: when the serialiser is free again */
	int eof;	   /* src has ended */
	int64_t eof_at;	   /* ... and its FIN may leave then */
	int shut;	   /* dst has been shut down for writing */
	int blocked;	   /* dst's send buffer is full */
	int tfd;
	int64_t armed; /* the timer's expiry, 0: disarmed */
	uint64_t moved;
};

struct conn {
	int fd[2];	 /* 0: the accepted client, 1: the target */
	uint32_t ev[2];	 /* their epoll interest now */
	int connected;	 /* fd[1] is connected */
	int connecting;	 /* fd[1]'s connect is under way */
	int ctfd;	 /* the timer that starts the connect */
	int dead;	 /* closed; freed once this batch of events is done */
	int reg[2];	 /* fd[i] is in the epoll set */
	struct dir d[2]; /* 0: client to target, 1: target to client */
	struct ep ep[6];
	unsigned id;
	struct conn *next;
};

static struct {
	struct sockaddr_storage listen, target;
	socklen_t listen_len, target_len;
	int64_t delay; /* one way, ns */
	double rate;   /* bytes per ns, 0: none */
	size_t cap;
	int sockbuf;
	int verbose;
	int epfd;
	unsigned n_conns;
	struct conn *graveyard; /* closed while events of this batch may still name them */
} cfg;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon, *h = s;
	size_t hl;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM},
			*ai;

	colon = strrchr(s, ':');
	if (!colon)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 2 || s[hl - 1] != ']')
			return -EINVAL;
		h = s + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* Large buffers, past rmem_max when we may (CAP_NET_ADMIN): this hop must not be the limit. */
static void sock_tune(int fd)
{
	int one = 1, b = cfg.sockbuf;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (b <= 0)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &b, sizeof(b)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b, sizeof(b));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &b, sizeof(b)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &b, sizeof(b));
}

static int ep_set(int fd, struct ep *e, uint32_t events, int op)
{
	struct epoll_event ev = {.events = events, .data.ptr = e};

	return epoll_ctl(cfg.epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static int timer_new(struct ep *e)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ep_set(fd, e, EPOLLIN, EPOLL_CTL_ADD) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static void timer_at(int fd, int64_t at)
{
	struct itimerspec its = {0};

	if (at > 0) {
		its.it_value.tv_sec = at / 1000000000;
		its.it_value.tv_nsec = at % 1000000000;
	}
	timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Closes everything; the memory waits for the end of the batch (events may still name it). */
static void conn_free(struct conn *c)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (c->fd[i] >= 0)
			close(c->fd[i]);
		if (c->d[i].tfd >= 0)
			close(c->d[i].tfd);
		free(c->d[i].buf);
		free(c->d[i].marks);
	}
	if (c->ctfd >= 0)
		close(c->ctfd);
	c->dead = 1;
	c->next = cfg.graveyard;
	cfg.graveyard = c;
}

static void graveyard_empty(void)
{
	while (cfg.graveyard) {
		struct conn *c = cfg.graveyard;

		cfg.graveyard = c->next;
		free(c);
	}
}

static void conn_log(struct conn *c, const char *what)
{
	if (cfg.verbose)
		fprintf(stderr,
			"delayline: connection %u %s: %llu bytes to the target, %llu back\n", c->id,
			what, (unsigned long long)c->d[0].moved, (unsigned long long)c->d[1].moved);
}

/* A reset on either side resets the other; pending bytes are dropped. */
static void conn_abort(struct conn *c, const char *why)
{
	struct linger lg = {1, 0};
	int i;

	for (i = 0; i < 2; i++)
		if (c->fd[i] >= 0)
			setsockopt(c->fd[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_log(c, why);
	conn_free(c);
}

/*
 * An fd that wants nothing leaves the epoll set: a socket whose both ways
 * have ended reports EPOLLHUP whatever it asked for, and would spin the
 * loop while its last bytes wait for their time.
 */
static void conn_interest(struct conn *c)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct dir *in = &c->d[i], *out = &c->d[1 - i];
		uint32_t ev = 0;

		if (c->fd[i] < 0)
			continue;
		if (i == 1 && !c->connected) {
			ev = c->connecting ? EPOLLOUT : 0;
		} else {
			if (!in->eof && in->len < cfg.cap)
				ev |= EPOLLIN;
			if (out->blocked)
				ev |= EPOLLOUT;
		}
		if (ev == c->ev[i] && (ev != 0) == c->reg[i])
			continue;
		if (ev == 0) {
			epoll_ctl(cfg.epfd, EPOLL_CTL_DEL, c->fd[i], NULL);
			c->reg[i] = 0;
		} else {
			ep_set(c->fd[i], &c->ep[EP_FD0 + i], ev,
			       c->reg[i] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
			c->reg[i] = 1;
		}
		c->ev[i] = ev;
	}
}

static int mark_push(struct dir *d, size_t n, int64_t at)
{
	struct mark *m;

	if (d->m_n) {
		m = &d->marks[(d->m_head + d->m_n - 1) % d->m_cap];
		if (at - m->at <= COALESCE_NS) {
			m->bytes += n;
			return 0;
		}
	}
	if (d->m_n == d->m_cap) {
		size_t nc = d->m_cap ? d->m_cap * 2 : 64, i;
		struct mark *nm;

		if (nc > MARKS_MAX)
			return -ENOMEM;
		nm = malloc(nc * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		for (i = 0; i < d->m_n; i++)
			nm[i] = d->marks[(d->m_head + i) % d->m_cap];
		free(d->marks);
		d->marks = nm;
		d->m_cap = nc;
		d->m_head = 0;
	}
	d->marks[(d->m_head + d->m_n) % d->m_cap] = (struct mark){n, at};
	d->m_n++;
	return 0;
}

/* When bytes that arrive now may leave: after the serialiser (with a rate), then the delay. */
static int64_t leave_at(struct dir *d, size_t n, int64_t now)
{
	int64_t start;

	if (cfg.rate <= 0)
		return now + cfg.delay;
	start = d->link_free > now ? d->link_free : now;
	d->link_free = start + (int64_t)((double)n / cfg.rate);
	return d->link_free + cfg.delay;
}

static void dir_release(struct dir *d, int64_t now)
{
	while (d->m_n && d->marks[d->m_head].at <= now) {
		d->due += d->marks[d->m_head].bytes;
		d->m_head = (d->m_head + 1) % d->m_cap;
		d->m_n--;
	}
}

static void dir_arm(struct dir *d)
{
	int64_t next = 0;

	if (d->m_n)
		next = d->marks[d->m_head].at;
	else if (d->eof && !d->shut && d->len == 0)
		next = d->eof_at;
	if (next != d->armed) {
		timer_at(d->tfd, next);
		d->armed = next;
	}
}

/* Writes what is due; shuts dst down once src's end is due. 0, or -errno of a dead socket. */
static int dir_pump(struct conn *c, struct dir *d)
{
	int64_t now = now_ns();
	int dst = c->fd[d->dst];

	dir_release(d, now);
	/* Not connected yet: nothing to wake for; the connect pumps again. */
	if (d->dst == 1 && !c->connected) {
		if (d->armed)
			timer_at(d->tfd, 0);
		d->armed = 0;
		return 0;
	}
	d->blocked = 0;
	while (d->due) {
		size_t n = d->due < cfg.cap - d->off ? d->due : cfg.cap - d->off;
		ssize_t w = send(dst, d->buf + d->off, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				d->blocked = 1;
				break;
			}
			return -errno;
		}
		d->off = (d->off + (size_t)w) % cfg.cap;
		d->len -= (size_t)w;
		d->due -= (size_t)w;
		d->moved += (uint64_t)w;
		/* Empty, the ring starts over at its beginning: a fast path touches little of it.
		 */
		if (d->len == 0)
			d->off = 0;
	}
	if (d->eof && !d->shut && d->len == 0 && now >= d->eof_at) {
		shutdown(dst, SHUT_WR);
		d->shut = 1;
	}
	dir_arm(d);
	return 0;
}

static int dir_read(struct conn *c, struct dir *d)
{
	int one = 1;
	int64_t now;
	size_t tail, room;
	ssize_t r;

	if (!d->buf) {
		d->buf = malloc(cfg.cap);
		if (!d->buf)
			return -ENOMEM;
	}
	if (d->len == cfg.cap || d->eof)
		return 0;
	tail = (d->off + d->len) % cfg.cap;
	room = tail >= d->off ? cfg.cap - tail : d->off - tail;
	if (d->len == 0)
		room = cfg.cap - tail;
	if (room > READ_MAX)
		room = READ_MAX;
	r = read(c->fd[d->src], d->buf + tail, room);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	/*
	 * Acknowledge at once, every time (the kernel drops back to delayed
	 * ACKs on its own): a sender's Nagle would otherwise wait on our
	 * delayed-ACK timer, a delay of this hop that is no part of the path.
	 */
	setsockopt(c->fd[d->src], IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
	now = now_ns();
	if (r == 0) {
		d->eof = 1;
		d->eof_at = leave_at(d, 0, now);
		return dir_pump(c, d);
	}
	d->len += (size_t)r;
	if (cfg.delay == 0 && cfg.rate <= 0 && d->m_n == 0)
		d->due += (size_t)r;
	else if (mark_push(d, (size_t)r, leave_at(d, (size_t)r, now)) < 0)
		return -ENOMEM;
	return dir_pump(c, d);
}

/* Both ways ended and delivered: the connection is done. */
static int conn_done(struct conn *c)
{
	if (!c->d[0].shut || !c->d[1].shut)
		return 0;
	conn_log(c, "closed");
	conn_free(c);
	return 1;
}

static int conn_connect(struct conn *c)
{
	int fd;

	fd = socket(cfg.target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	c->fd[1] = fd;
	sock_tune(fd);
	if (connect(fd, (struct sockaddr *)&cfg.target, cfg.target_len) < 0 && errno != EINPROGRESS)
		return -errno;
	c->connecting = 1;
	conn_interest(c);
	return 0;
}

static int connect_finish(struct conn *c)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		return -errno;
	if (err == EINPROGRESS || err == EALREADY)
		return 0;
	if (err)
		return -err;
	c->connecting = 0;
	c->connected = 1;
	return dir_pump(c, &c->d[0]);
}

/* "connection N from ADDR:PORT accepted": a test can tell whose connection crossed. */
static void log_peer(unsigned id, int fd)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getpeername(fd, (struct sockaddr *)&ss, &l) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, l, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(host, sizeof(host), "?");
	fprintf(stderr, "delayline: connection %u from %s%s%s:%s accepted\n", id,
		ss.ss_family == AF_INET6 ? "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "",
		serv);
}

static void on_accept(int lfd)
{
	int i, k, fd;
	struct conn *c;

	/* Bounded: what is left waits for the next turn of the loop. */
	for (k = 0; k < 64; k++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->id = ++cfg.n_conns;
		c->fd[0] = fd;
		c->fd[1] = -1;
		c->ctfd = -1;
		for (i = 0; i < 6; i++)
			c->ep[i] = (struct ep){i, c};
		for (i = 0; i < 2; i++) {
			c->d[i].src = i;
			c->d[i].dst = 1 - i;
			c->d[i].tfd = timer_new(&c->ep[EP_TIMER0 + i]);
		}
		c->ctfd = timer_new(&c->ep[EP_CONNECT]);
		sock_tune(fd);
		if (c->d[0].tfd < 0 || c->d[1].tfd < 0 || c->ctfd < 0 ||
		    ep_set(fd, &c->ep[EP_FD0], EPOLLIN, EPOLL_CTL_ADD) < 0) {
			conn_abort(c, "failed to start");
			continue;
		}
		c->ev[0] = EPOLLIN;
		c->reg[0] = 1;
		if (cfg.verbose)
			log_peer(c->id, fd);
		if (cfg.delay > 0)
			timer_at(c->ctfd, now_ns() + 3 * cfg.delay);
		else if (conn_connect(c) < 0)
			conn_abort(c, "could not connect to the target");
	}
}

static void on_event(struct ep *e, uint32_t events)
{
	struct conn *c = e->c;
	uint64_t ticks;
	int r = 0, i;

	if (c->dead)
		return;
	switch (e->kind) {
	case EP_CONNECT:
		if (read(c->ctfd, &ticks, sizeof(ticks)) < 0)
			return;
		r = conn_connect(c);
		break;
	case EP_TIMER0:
	case EP_TIMER1:
		i = e->kind - EP_TIMER0;
		if (read(c->d[i].tfd, &ticks, sizeof(ticks)) < 0)
			return;
		c->d[i].armed = 0;
		r = dir_pump(c, &c->d[i]);
		break;
	case EP_FD0:
	case EP_FD1:
		i = e->kind - EP_FD0;
		if (i == 1 && c->connecting) {
			r = connect_finish(c);
			break;
		}
		if (events & EPOLLOUT)
			r = dir_pump(c, &c->d[1 - i]);
		if (r == 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			r = dir_read(c, &c->d[i]);
		break;
	}
	if (r < 0) {
		conn_abort(c, r == -ENOMEM ? "out of memory" : "reset");
		return;
	}
	if (!conn_done(c))
		conn_interest(c);
}

static int listen_on(void)
{
	int fd, one = 1;

	fd = socket(cfg.listen.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Set before the handshakes: accepted sockets inherit them, the window scale included. */
	sock_tune(fd);
	if (bind(fd, (struct sockaddr *)&cfg.listen, cfg.listen_len) < 0 || listen(fd, 128) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: delayline -l ADDR:PORT -t ADDR:PORT [-D RTT_MS] [-R MBIT] "
			"[-q BYTES] [-b BYTES] [-v]\n"
			"  -D  round trip added, ms (each direction holds half)\n"
			"  -R  each direction's rate, Mbit/s (default: none)\n"
			"  -q  bytes one direction may hold (default: 64 MiB; with -R one\n"
			"      round trip at the rate, at least 256 KiB)\n"
			"  -b  socket buffer size (default 4 MiB; 0: the kernel's autotuning)\n"
			"  -v  a line per connection\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct ep lep = {EP_LISTEN, NULL};
	struct epoll_event evs[EV_BATCH];
	double rtt_ms = 0, mbit = 0;
	long long q = 0;
	int opt, lfd, n, i, have_l = 0, have_t = 0;

	cfg.sockbuf = 4 << 20;
	while ((opt = getopt(argc, argv, "l:t:D:R:q:b:v")) != -1) {
		switch (opt) {
		case 'l':
			if (parse_addr(optarg, &cfg.listen, &cfg.listen_len) < 0)
				usage();
			have_l = 1;
			break;
		case 't':
			if (parse_addr(optarg, &cfg.target, &cfg.target_len) < 0)
				usage();
			have_t = 1;
			break;
		case 'D':
			rtt_ms = atof(optarg);
			break;
		case 'R':
			mbit = atof(optarg);
			break;
		case 'q':
			q = atoll(optarg);
			break;
		case 'b':
			cfg.sockbuf = atoi(optarg);
			break;
		case 'v':
			cfg.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (!have_l || !have_t || optind != argc || rtt_ms < 0 || rtt_ms > 10000 || mbit < 0 ||
	    q < 0 || cfg.sockbuf < 0)
		usage();
	cfg.delay = (int64_t)(rtt_ms * 1e6 / 2);
	cfg.rate = mbit * 1e6 / 8 / 1e9;
	if (q > 0)
		cfg.cap = (size_t)q;
	else if (cfg.rate > 0)
		cfg.cap = (size_t)(cfg.rate * 2 * (double)cfg.delay);
	else
		cfg.cap = CAP_DEFAULT;
	if (cfg.cap < CAP_MIN)
		cfg.cap = CAP_MIN;
	signal(SIGPIPE, SIG_IGN);

	cfg.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cfg.epfd < 0) {
		perror("delayline: epoll_create1");
		return 1;
	}
	lfd = listen_on();
	if (lfd < 0) {
		fprintf(stderr, "delayline: cannot listen: %s\n", strerror(-lfd));
		return 1;
	}
	if (ep_set(lfd, &lep, EPOLLIN, EPOLL_CTL_ADD) < 0) {
		perror("delayline: epoll_ctl");
		return 1;
	}
	if (cfg.verbose)
		fprintf(
		    stderr,
		    "delayline: round trip %.1f ms, rate %s%.0f Mbit/s, %zu bytes per direction\n",
		    rtt_ms, mbit > 0 ? "" : "unlimited ", mbit, cfg.cap);
	for (;;) {
		n = epoll_wait(cfg.epfd, evs, EV_BATCH, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("delayline: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct ep *e = evs[i].data.ptr;

			if (e->kind == EP_LISTEN)
				on_accept(lfd);
			else
				on_event(e, evs[i].events);
		}
		graveyard_empty();
	}
}
