/*
 * hostwatch: the -H watcher process. Forks a child that, once a round,
 * gathers addresses and names from /etc/hosts, the neighbour tables,
 * established TCP connections and the seed names, asks the resolver for
 * the names of the addresses it has seen (gently), and writes each new
 * (address, name) pair to a pipe as "ADDRESS NAME\n". Everything it holds is
 * bounded; the child dies with its reader or its parent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/fdio.h"
#include "../common/log.h"
#include "../common/ratelimit.h"
#include "../common/routes_internal.h"
#include "hostwatch.h"
#include "hostwatch_parse.h"

#define MAX_PAIRS   4096 /* (address, name) pairs reported, and so never repeated */
#define MAX_ADDRS   4096 /* addresses remembered for reverse lookups */
#define HASH_SIZE   8192 /* buckets; a power of two */
#define FILE_CAP    (4u << 20)
#define SEEDS_MAX   64
#define SEED_ADDRS  16
#define EVICT_PROBE 64 /* entries looked at for a free slot when the table is full */
#define WFD	    3  /* where the pipe's write end lives in the child */

struct known {
	int family;
	uint8_t addr[16];
	int64_t seen;	  /* ms, last time a source mentioned it */
	int64_t next_ptr; /* ms; 0 until first looked up */
	int32_t next;	  /* hash chain */
};

struct watch {
	struct hostwatch_cfg cfg;
	const char *const *seeds;
	size_t n_seeds;
	int64_t now;
	int64_t seeds_due;
	int changed; /* new pairs since the short names were last worked out */
	char *buf;
	struct hostwatch_pair *pairs;
	int32_t *pair_next;
	size_t n_pairs;
	struct known *addrs;
	size_t n_addrs;
	size_t evict_at;
	struct ratelimit refusals; /* -v lines about PTR names not believed */
	int32_t pair_head[HASH_SIZE];
	int32_t addr_head[HASH_SIZE];
};

static int64_t now_ms(void)
{
	return clock_ms();
}

/* FNV-1a */
static uint32_t hash_more(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		h = (h ^ *b++) * 16777619u;
	return h;
}

static uint32_t addr_hash(int family, const uint8_t *addr)
{
	uint8_t f = (uint8_t)family;

	return hash_more(hash_more(2166136261u, &f, 1), addr, 16) & (HASH_SIZE - 1);
}

static int same(const struct known *k, int family, const uint8_t *addr)
{
	return k->family == family && memcmp(k->addr, addr, 16) == 0;
}

static void known_unlink(struct watch *w, int32_t i)
{
	int32_t *pp = &w->addr_head[addr_hash(w->addrs[i].family, w->addrs[i].addr)];

	while (*pp >= 0) {
		if (*pp == i) {
			*pp = w->addrs[i].next;
			return;
		}
		pp = &w->addrs[*pp].next;
	}
}

/*
 * A full table gives up an address no source has mentioned for a lookup
 * period and whose last lookup is that old too, so forgetting it and
 * learning it again never looks it up more often than once a period.
 */
static int32_t evictable(struct watch *w)
{
	size_t tries;

	for (tries = 0; tries < EVICT_PROBE; tries++) {
		size_t i = w->evict_at++ % w->n_addrs;
		const struct known *k = &w->addrs[i];

		if (k->seen + (int64_t)w->cfg.ptr_again_ms <= w->now && k->next_ptr <= w->now)
			return (int32_t)i;
	}
	return -1;
}

static void learn(struct watch *w, int family, const uint8_t *addr)
{
	uint32_t h;
	int32_t i;
	struct known *k;

	if (!hostwatch_addr_ok(family, addr))
		return;
	h = addr_hash(family, addr);
	for (i = w->addr_head[h]; i >= 0; i = w->addrs[i].next) {
		if (same(&w->addrs[i], family, addr)) {
			w->addrs[i].seen = w->now;
			return;
		}
	}
	if (w->n_addrs < MAX_ADDRS) {
		i = (int32_t)w->n_addrs++;
	} else {
		i = evictable(w);
		if (i < 0)
			return;
		known_unlink(w, i);
	}
	k = &w->addrs[i];
	k->family = family;
	memcpy(k->addr, addr, 16);
	k->seen = w->now;
	k->next_ptr = 0;
	k->next = w->addr_head[h];
	w->addr_head[h] = i;
}

static void emit(const struct hostwatch_pair *p)
{
	char a[INET6_ADDRSTRLEN], line[INET6_ADDRSTRLEN + HOSTWATCH_NAME_MAX + 3];
	ssize_t r;
	int n;

	if (!inet_ntop(p->family, p->addr, a, sizeof(a)))
		return;
	n = snprintf(line, sizeof(line), "%s %s\n", a, p->name);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	/* Shorter than PIPE_BUF, so the write is whole or not at all. */
	do
		r = write(WFD, line, (size_t)n);
	while (r < 0 && errno == EINTR);
	/* EPIPE or worse: nobody will read anything from us again. */
	if (r != n)
		_exit(0);
}

/* name is already normalized. */
static void pair_add(struct watch *w, int family, const uint8_t *addr, const char *name,
		     int derived)
{
	struct hostwatch_pair *p;
	size_t len = strlen(name);
	uint32_t h;
	int32_t i;

	if (!hostwatch_addr_ok(family, addr) || len > HOSTWATCH_NAME_MAX)
		return;
	learn(w, family, addr);
	h = hash_more(addr_hash(family, addr), name, len) & (HASH_SIZE - 1);
	for (i = w->pair_head[h]; i >= 0; i = w->pair_next[i]) {
		p = &w->pairs[i];
		if (p->family == family && memcmp(p->addr, addr, 16) == 0 &&
		    strcmp(p->name, name) == 0)
			return;
	}
	if (w->n_pairs >= MAX_PAIRS)
		return;
	i = (int32_t)w->n_pairs++;
	p = &w->pairs[i];
	memset(p, 0, sizeof(*p));
	p->family = family;
	memcpy(p->addr, addr, 16);
	memcpy(p->name, name, len + 1);
	p->derived = (uint8_t)derived;
	w->pair_next[i] = w->pair_head[h];
	w->pair_head[h] = i;
	w->changed = 1;
	emit(p);
}

static int hosts_cb(int family, const uint8_t *addr, const char *name, void *arg)
{
	pair_add(arg, family, addr, name, 0);
	return 0;
}

static int addr_cb(int family, const uint8_t *addr, void *arg)
{
	learn(arg, family, addr);
	return 0;
}

static int short_cb(size_t i, const char *short_name, void *arg)
{
	struct watch *w = arg;
	struct hostwatch_pair p = w->pairs[i];

	/* _gateway.corp.example is a name; its first label is the looker's gateway. */
	if (!hostname_local(short_name))
		pair_add(w, p.family, p.addr, short_name, 1);
	return 0;
}

static int neigh_cb(const struct rnl_hdr *h, const void *body, size_t len, void *arg)
{
	struct rnl_val tb[RNL_NDA_DST + 1];
	struct rnl_ndmsg nd;
	uint8_t addr[16];

	if (h->type != RNL_NEWNEIGH || len < sizeof(nd))
		return 0;
	memcpy(&nd, body, sizeof(nd));
	if (nd.family != AF_INET6 || nd.state == 0 ||
	    (nd.state & (RNL_NUD_INCOMPLETE | RNL_NUD_FAILED | RNL_NUD_NOARP)))
		return 0;
	routes_nl_attrs((const uint8_t *)body + RNL_ALIGN(sizeof(nd)), len - RNL_ALIGN(sizeof(nd)),
			tb, RNL_NDA_DST + 1);
	if (!tb[RNL_NDA_DST].p || tb[RNL_NDA_DST].len != 16)
		return 0;
	memcpy(addr, tb[RNL_NDA_DST].p, 16);
	learn(arg, AF_INET6, addr);
	return 0;
}

/* The file's first FILE_CAP bytes, cut after the last whole line. */
static ssize_t read_source(const char *path, char *buf)
{
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	while (len < FILE_CAP) {
		ssize_t n = read(fd, buf + len, FILE_CAP - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	while (len > 0 && buf[len - 1] != '\n')
		len--;
	return (ssize_t)len;
}

static int addr_from_ai(const struct addrinfo *ai, int family, uint8_t *addr)
{
	if (ai->ai_family != family)
		return -1;
	if (family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in))
		memcpy(addr, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
	else if (family == AF_INET6 && ai->ai_addrlen >= sizeof(struct sockaddr_in6))
		memcpy(addr, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
	else
		return -1;
	return 0;
}

static void resolve_seeds(struct watch *w)
{
	size_t i;

	for (i = 0; i < w->n_seeds && i < SEEDS_MAX; i++) {
		const char *seed = w->seeds[i];
		char name[HOSTWATCH_NAME_MAX + 1];
		struct addrinfo hints, *res = NULL, *ai;
		int named, k = 0;

		if (!seed)
			continue;
		/* A seed given as an address still gets its reverse lookup. */
		named = hostname_norm(seed, strnlen(seed, HOSTWATCH_NAME_MAX + 2), name,
				      sizeof(name)) == 0;
		/* One that means the looker's own machine is no name of the remote's. */
		if (named && hostname_local(name))
			continue;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(seed, NULL, &hints, &res) != 0)
			continue;
		w->now = now_ms();
		for (ai = res; ai && k < SEED_ADDRS; ai = ai->ai_next, k++) {
			uint8_t addr[16] = {0};

			if (addr_from_ai(ai, ai->ai_family, addr) < 0)
				continue;
			if (named)
				pair_add(w, ai->ai_family, addr, name, 0);
			else
				learn(w, ai->ai_family, addr);
		}
		freeaddrinfo(res);
	}
	w->seeds_due = now_ms() + w->cfg.ptr_again_ms;
}

static void scan(struct watch *w)
{
	const struct hostwatch_cfg *c = &w->cfg;
	ssize_t n;

	w->now = now_ms();
	if (c->hosts_path && (n = read_source(c->hosts_path, w->buf)) > 0)
		hostwatch_parse_hosts(w->buf, (size_t)n, hosts_cb, w);
	if (c->arp_path && (n = read_source(c->arp_path, w->buf)) > 0)
		hostwatch_parse_arp(w->buf, (size_t)n, addr_cb, w);
	if (c->tcp4_path && (n = read_source(c->tcp4_path, w->buf)) > 0)
		hostwatch_parse_tcp(w->buf, (size_t)n, AF_INET, addr_cb, w);
	if (c->tcp6_path && (n = read_source(c->tcp6_path, w->buf)) > 0)
		hostwatch_parse_tcp(w->buf, (size_t)n, AF_INET6, addr_cb, w);
	/* Partial results are fine: the next round tries again. */
	if (c->neigh6)
		routes_nl_dump(RNL_GETNEIGH, AF_INET6, neigh_cb, w);
	if (w->n_seeds && w->now >= w->seeds_due)
		resolve_seeds(w);
	if (w->changed) {
		hostwatch_shorts(w->pairs, w->n_pairs, short_cb, w);
		w->changed = 0;
	}
}

/* One reverse lookup of the address waiting longest, if any is due. */
static int ptr_once(struct watch *w)
{
	char name[NI_MAXHOST], norm[HOSTWATCH_NAME_MAX + 1];
	struct known *k = NULL;
	uint8_t addr[16];
	int family, r;
	size_t i;

	for (i = 0; i < w->n_addrs; i++) {
		struct known *c = &w->addrs[i];
		if (c->next_ptr <= w->now && (!k || c->next_ptr < k->next_ptr))
			k = c;
	}
	if (!k)
		return 0;
	family = k->family;
	memcpy(addr, k->addr, 16);
	r = w->cfg.ptr(family, addr, name, sizeof(name));
	w->now = now_ms();
	/* Failures wait as long as successes: no hammering of names that do not exist. */
	k->next_ptr = w->now + w->cfg.ptr_again_ms;
	if (r != 0 || hostname_norm(name, strnlen(name, sizeof(name)), norm, sizeof(norm)) < 0 ||
	    hostname_local(norm))
		return 1;
	/*
	 * Whoever controls the reverse zone of a peer's address controls its
	 * PTR name: a name is only believed when it resolves back to the
	 * address, through the same resolver.
	 */
	r = w->cfg.forward ? w->cfg.forward(family, addr, norm) : 0;
	w->now = now_ms();
	if (r == 1) {
		pair_add(w, family, addr, norm, 0);
	} else {
		unsigned dropped = 0;
		if (log_verbosity >= LOG_DEBUG && ratelimit_allow(&w->refusals, w->now, &dropped)) {
			char a[INET6_ADDRSTRLEN] = "?";
			inet_ntop(family, addr, a, sizeof(a));
			log_debug("-H: not reporting %s for %s: the name does not resolve back to "
				  "it%s",
				  norm, a, dropped ? " (more refusals not shown)" : "");
		}
	}
	return 1;
}

/* Sleep, but leave as soon as the reader is gone (a pipe's write end polls POLLERR then). */
static void idle(int64_t ms)
{
	struct pollfd pfd = {WFD, 0, 0};

	if (ms < 0)
		ms = 0;
	if (ms > INT_MAX)
		ms = INT_MAX;
	if (poll(&pfd, 1, (int)ms) > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
		_exit(0);
}

static void __attribute__((noreturn)) watch_run(struct watch *w)
{
	for (;;) {
		int64_t round_end = now_ms() + w->cfg.round_ms;

		scan(w);
		for (;;) {
			int64_t wait;

			w->now = now_ms();
			if (w->now >= round_end)
				break;
			wait = round_end - w->now;
			if (w->cfg.ptr && ptr_once(w) && wait > (int64_t)w->cfg.ptr_gap_ms)
				wait = w->cfg.ptr_gap_ms;
			idle(wait);
		}
	}
}

/*
 * The child keeps only stderr and the pipe: stdin and stdout carry the SSH
 * channel, and holding them would keep the session alive after the helper.
 */
static void child_setup(int wfd, pid_t parent)
{
	static const int reset[] = {SIGTERM, SIGINT,  SIGHUP,  SIGQUIT,
				    SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD};
	struct sigaction sa;
	sigset_t none;
	size_t i;
	int fd, nul;

	/* The helper's handlers and mask would keep the death signal from killing us. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		sigaction(reset[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The parent may have died before the request was in place. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(0);

	fd = fcntl(wfd, F_DUPFD_CLOEXEC, WFD);
	if (fd < 0)
		_exit(1);
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
	} else {
		close(0);
		close(1);
	}
	if (fd != WFD && dup2(fd, WFD) < 0)
		_exit(1);
	fd_close_from(WFD + 1);
}

static void __attribute__((noreturn))
child_main(const struct hostwatch_cfg *cfg, const char *const *seeds, size_t n_seeds, int wfd,
	   pid_t parent)
{
	struct watch *w;

	child_setup(wfd, parent);
	w = calloc(1, sizeof(*w));
	if (!w)
		_exit(1);
	w->cfg = *cfg;
	w->seeds = seeds;
	w->n_seeds = n_seeds;
	w->pairs = calloc(MAX_PAIRS, sizeof(*w->pairs));
	w->pair_next = calloc(MAX_PAIRS, sizeof(*w->pair_next));
	w->addrs = calloc(MAX_ADDRS, sizeof(*w->addrs));
	w->buf = malloc(FILE_CAP);
	if (!w->pairs || !w->pair_next || !w->addrs || !w->buf)
		_exit(1);
	memset(w->pair_head, 0xff, sizeof(w->pair_head));
	w->refusals = (struct ratelimit)RATELIMIT_INIT(10, 10000);
	memset(w->addr_head, 0xff, sizeof(w->addr_head));
	watch_run(w);
}

static int ptr_lookup(int family, const uint8_t *addr, char *name, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, 4);
		sl = sizeof(*sin);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, 16);
		sl = sizeof(*sin6);
	} else {
		return -EAFNOSUPPORT;
	}
	if (len > NI_MAXHOST)
		len = NI_MAXHOST;
	if (getnameinfo((struct sockaddr *)&ss, sl, name, (socklen_t)len, NULL, 0, NI_NAMEREQD) !=
	    0)
		return -ENOENT;
	return 0;
}

/* 1 when name's A or AAAA records include addr, 0 when not, -errno when the lookup failed. */
static int forward_lookup(int family, const uint8_t *addr, const char *name)
{
	struct addrinfo hints, *res = NULL, *ai;
	int found = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(name, NULL, &hints, &res) != 0)
		return -ENOENT;
	for (ai = res; ai && !found; ai = ai->ai_next) {
		uint8_t got[16] = {0};
		found = addr_from_ai(ai, family, got) == 0 &&
			memcmp(got, addr, family == AF_INET ? 4 : 16) == 0;
	}
	freeaddrinfo(res);
	return found;
}

void hostwatch_cfg_default(struct hostwatch_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->hosts_path = "/etc/hosts";
	cfg->arp_path = "/proc/net/arp";
	cfg->tcp4_path = "/proc/net/tcp";
	cfg->tcp6_path = "/proc/net/tcp6";
	cfg->neigh6 = 1;
	cfg->ptr = ptr_lookup;
	cfg->forward = forward_lookup;
	cfg->round_ms = 10000;
	cfg->ptr_gap_ms = 200;
	cfg->ptr_again_ms = 600000;
}

int hostwatch_start_cfg(const struct hostwatch_cfg *cfg, const char *const *seeds, size_t n_seeds,
			int *fd, pid_t *pid)
{
	struct hostwatch_cfg c = *cfg;
	pid_t parent = getpid(), child;
	int p[2], fl, err;

	/* Floors that keep a careless configuration from spinning. */
	if (c.round_ms < 10)
		c.round_ms = 10;
	if (c.ptr_gap_ms < 1)
		c.ptr_gap_ms = 1;
	if (c.ptr_again_ms < c.round_ms)
		c.ptr_again_ms = c.round_ms;
	if (!seeds)
		n_seeds = 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	child = fork();
	if (child < 0) {
		err = -errno;
		close(p[0]);
		close(p[1]);
		return err;
	}
	if (child == 0) {
		close(p[0]);
		child_main(&c, seeds, n_seeds, p[1], parent);
	}
	close(p[1]);
	fl = fcntl(p[0], F_GETFL);
	if (fl < 0 || fcntl(p[0], F_SETFL, fl | O_NONBLOCK) < 0) {
		err = -errno;
		close(p[0]);
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
		return err;
	}
	*fd = p[0];
	*pid = child;
	return 0;
}

int hostwatch_start(const char *const *seeds, size_t n_seeds, int *fd, pid_t *pid)
{
	struct hostwatch_cfg cfg;

	hostwatch_cfg_default(&cfg);
	return hostwatch_start_cfg(&cfg, seeds, n_seeds, fd, pid);
}
