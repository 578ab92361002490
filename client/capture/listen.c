/*
 * listen: the redirect targets. One port shared by the IPv4 and IPv6
 * listeners so a single nft redirect rule serves both families.
 */
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/bindset.h"
#include "../../common/clock.h"
#include "../../common/fdio.h"
#include "../../common/log.h"
#include "../../common/sockaddr.h"

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

#define LISTEN_BACKLOG	 4096
#define ACCEPT_PER_EVENT 128

static void close_all(struct listeners *ls)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		if (ls->l[i].io.fd >= 0)
			close(ls->l[i].io.fd);
	ls->n = 0;
}

int listen_open(struct listeners *ls, const struct sockaddr_storage *addrs, size_t n, size_t *bad)
{
	int fds[BINDSET_MAX], ret;
	size_t i;

	memset(ls, 0, sizeof(*ls));
	ls->reserve_fd = -1;
	if (n == 0 || n > LISTEN_MAX)
		return -EINVAL;
	ret = bindset_open(SOCK_STREAM, LISTEN_BACKLOG, addrs, n, fds, &ls->port, bad);
	if (ret < 0)
		return ret;
	for (i = 0; i < n; i++) {
		struct listener *l = &ls->l[ls->n++];
		l->addr = addrs[i];
		sa_set_port(&l->addr, ls->port);
		l->io.fd = fds[i];
		l->set = ls;
	}
	ls->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
}

/* Where the connection was going before the redirect. */
static int original_dst(int fd, int family, struct wire_open *dst)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(dst, 0, sizeof(*dst));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, sin, &len) < 0)
			return -errno;
		dst->family = AF_INET;
		dst->port = ntohs(sin->sin_port);
		memcpy(dst->addr, &sin->sin_addr, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, sin6, &len) < 0)
			return -errno;
		dst->family = AF_INET6;
		dst->port = ntohs(sin6->sin6_port);
		memcpy(dst->addr, &sin6->sin6_addr, 16);
	}
	return dst->port ? 0 : -EINVAL;
}

static bool is_self(const struct listener *l, const struct wire_open *dst)
{
	if (dst->port != l->set->port)
		return false;
	if (l->addr.ss_family == AF_INET)
		return memcmp(dst->addr, sa_addr(&l->addr), 4) == 0 || dst->addr[0] == 127;
	return memcmp(dst->addr, sa_addr(&l->addr), 16) == 0;
}

/* DNS over TCP to a captured nameserver: the helper sends it to its own resolver. */
static bool is_dns(const struct listeners *ls, const struct wire_open *dst)
{
	size_t i;

	if (dst->port != 53)
		return false;
	for (i = 0; i < ls->n_dns; i++)
		if (subnet_contains(&ls->dns[i], dst->family, dst->addr))
			return true;
	return false;
}

static void refuse(struct listeners *ls, int err)
{
	ls->refused++;
	ls->refused_err = err;
}

/*
 * Out of descriptors: free the reserve, accept and drop one, so the
 * backlog does not spin us. The owner's paced line says how many.
 */
static void shed_one(struct listeners *ls, int lfd, int err)
{
	int fd;

	if (ls->reserve_fd < 0)
		return;
	close(ls->reserve_fd);
	fd = accept(lfd, NULL, NULL);
	if (fd >= 0)
		close(fd);
	ls->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	refuse(ls, err);
}

static void park(struct listeners *ls, int fd, const struct wire_open *dst)
{
	if (!ls->parked && !(ls->parked = calloc(LISTEN_PARK_MAX, sizeof(*ls->parked)))) {
		fd_reset_close(fd);
		refuse(ls, ENOMEM);
		return;
	}
	if (ls->n_parked == LISTEN_PARK_MAX) {
		fd_reset_close(fd);
		refuse(ls, ENOBUFS);
		return;
	}
	ls->parked[ls->n_parked++] = (struct parked){fd, *dst, clock_ms()};
}

void listen_set_pick(struct listeners *ls,
		     int (*pick)(void *ctx, int fd, const struct wire_open *dst), void *ctx)
{
	ls->pick = pick;
	ls->pick_ctx = ctx;
}

int listen_to_mux(struct listeners *ls, int fd, const struct wire_open *dst)
{
	int ret = !ls->mux   ? -ENOTCONN
		  : ls->pick ? ls->pick(ls->pick_ctx, fd, dst)
			     : mux_open_stream(ls->mux, fd, dst);

	if (ret < 0)
		fd_reset_close(fd);
	return ret;
}

/* To the session: the mux, or the hand-off when there is one (DNS stays with the helper). */
static int hand_over(struct listeners *ls, int fd, const struct wire_open *dst)
{
	if (ls->handoff.open && !(dst->flags & WIRE_OPEN_F_DNS))
		return ls->handoff.open(ls->handoff.ctx, fd, dst);
	return listen_to_mux(ls, fd, dst);
}

static void on_accept(struct ev_io *io, uint32_t events)
{
	struct listener *l = (struct listener *)io;
	struct listeners *ls = l->set;
	struct wire_open dst;
	int i, fd, one = 1, ret;

	for (i = 0; i < ACCEPT_PER_EVENT; i++) {
		fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				shed_one(ls, io->fd, errno);
			return;
		}
		ret = original_dst(fd, l->addr.ss_family, &dst);
		if (ret < 0 || is_self(l, &dst)) {
			/* Not redirected by our rules: someone connected to the listener itself. */
			log_debug("dropping a connection that was not redirected");
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (is_dns(ls, &dst))
			dst.flags |= WIRE_OPEN_F_DNS;
		ls->accepted++;
		if (!ls->mux) {
			park(ls, fd, &dst);
			continue;
		}
		ret = hand_over(ls, fd, &dst);
		if (ret < 0)
			refuse(ls, -ret);
	}
}

static void set_session(struct listeners *ls, struct mux *mux, const struct listen_handoff *ho)
{
	ls->mux = mux;
	if (ho)
		ls->handoff = *ho;
	else
		memset(&ls->handoff, 0, sizeof(ls->handoff));
}

int listen_start(struct listeners *ls, struct evloop *loop, struct mux *mux,
		 const struct listen_handoff *ho)
{
	size_t i;
	int ret;

	set_session(ls, mux, ho);
	for (i = 0; i < ls->n; i++) {
		ls->l[i].io.cb = on_accept;
		ret = evloop_add(loop, &ls->l[i].io, EPOLLIN);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void listen_detach(struct listeners *ls)
{
	set_session(ls, NULL, NULL);
}

size_t listen_attach(struct listeners *ls, struct mux *mux, const struct listen_handoff *ho)
{
	size_t i, n = ls->n_parked;

	set_session(ls, mux, ho);
	for (i = 0; i < n; i++) {
		int ret = hand_over(ls, ls->parked[i].fd, &ls->parked[i].dst);
		if (ret < 0)
			refuse(ls, -ret);
	}
	ls->n_parked = 0;
	return n;
}

size_t listen_expire(struct listeners *ls, int64_t max_ms)
{
	int64_t now = clock_ms();
	size_t i, k = 0, n = 0;

	for (i = 0; i < ls->n_parked; i++) {
		if (max_ms && now - ls->parked[i].since_ms < max_ms) {
			ls->parked[k++] = ls->parked[i];
			continue;
		}
		fd_reset_close(ls->parked[i].fd);
		n++;
	}
	ls->n_parked = k;
	ls->parked_reset += n;
	return n;
}

void listen_close(struct listeners *ls, struct evloop *loop)
{
	size_t i;

	listen_expire(ls, 0);
	free(ls->parked);
	ls->parked = NULL;
	for (i = 0; i < ls->n; i++)
		evloop_del(loop, &ls->l[i].io);
	close_all(ls);
	if (ls->reserve_fd >= 0)
		close(ls->reserve_fd);
	ls->reserve_fd = -1;
}

bool listen_any_nonlocal(const struct listeners *ls)
{
	size_t i;

	for (i = 0; i < ls->n; i++) {
		const struct sockaddr_storage *ss = &ls->l[i].addr;
		if (ss->ss_family == AF_INET &&
		    ((const struct sockaddr_in *)ss)->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
			return true;
		if (ss->ss_family == AF_INET6 &&
		    !IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr))
			return true;
	}
	return false;
}
