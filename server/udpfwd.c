/*
 * udpfwd: UDP flows and echo requests for the client, with bounded memory
 * everywhere: no datagram is ever queued (a socket that cannot take one now
 * loses it, as a router would), flows and echoes are capped, and the oldest
 * gives way to the newest.
 *
 * A flow's destination is fixed when it is made: a datagram for a known
 * flow id naming another destination replaces the flow (the client reused
 * the id after forgetting it), silently, since the client knows.
 */
#include "udpfwd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/idmap.h"
#include "../common/sockaddr.h"

#define BATCH	     64 /* datagrams read per wake-up, so one busy socket cannot starve others */
#define ICMP_HDR     8
#define PING_OUT_MAX 1024
#define REAP_MAX     (UDPFWD_PING_RUN * 2)

struct flow {
	struct ev_io io;
	struct udpfwd *u;
	uint32_t id;
	int family;
	uint16_t port;
	uint8_t addr[16];
	int64_t last;
	bool answered;
	struct flow *prev, *next; /* least recently active first */
};

struct echo {
	uint32_t id;   /* the client's echo id; 0: a free slot */
	uint16_t seq;  /* the client's */
	uint16_t ours; /* the sequence number on the wire to the host */
	int family;
	uint8_t addr[16];
	int64_t sent;
};

/* One echo for the ping command: running (pid > 0) or waiting its turn. */
struct pinger {
	struct ev_io io; /* the child's stdout */
	struct udpfwd *u;
	pid_t pid;
	uint32_t id; /* 0: a free slot */
	uint16_t seq;
	int family;
	uint8_t addr[16];
	uint8_t *data;
	size_t len;
	int64_t at; /* started, or queued */
	bool replied;
	char out[PING_OUT_MAX];
	size_t out_len;
};

struct icmp_sock {
	struct ev_io io;
	struct udpfwd *u;
	int family;
};

struct udpfwd {
	struct evloop *loop;
	udpfwd_send_fn send;
	void *ctx;
	int64_t (*now)(void);
	struct idmap flows;
	struct flow *oldest, *newest;
	size_t flows_max;
	struct icmp_sock icmp[2]; /* IPv4, IPv6; fd -1 until the first echo */
	enum udpfwd_echo_way way[2];
	struct echo echoes[UDPFWD_ECHOES_MAX];
	size_t n_echoes;
	uint16_t next_seq;
	bool force_command;
	const char *ping_path;
	struct pinger run[UDPFWD_PING_RUN];
	struct pinger queue[UDPFWD_PING_QUEUE]; /* a ring */
	size_t q_head, q_len;
	pid_t reap[REAP_MAX];
	size_t n_reap;
	struct udpfwd_stats st;
};

/* Kernel ABI (linux/errqueue.h, which musl lacks): what IP_RECVERR delivers. */
struct ext_err {
	uint32_t ee_errno;
	uint8_t ee_origin, ee_type, ee_code, ee_pad;
	uint32_t ee_info, ee_data;
};

static uint8_t frame[WIRE_HDR_LEN + WIRE_MAX_PAYLOAD];
static uint8_t rbuf[65536];

static void out(struct udpfwd *u, size_t len)
{
	if (!len || u->send(u->ctx, frame, len) < 0)
		u->st.out_dropped++;
}

static uint32_t wire_errno(int err)
{
	return err > 0 && err <= WIRE_ERRNO_MAX ? (uint32_t)err : EIO;
}

static int fam_idx(int family)
{
	return family == AF_INET6;
}

static size_t fam_alen(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

/*
 * A TCP OPEN can never reach a multicast or broadcast address (connect
 * refuses them), so neither does a datagram or an echo: the client must
 * not make the helper's host talk to its own segment's groups.
 */
static bool dst_refused(int family, const uint8_t *a)
{
	static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};

	if (family == AF_INET6) {
		if (a[0] == 0xff)
			return true;
		if (memcmp(a, mapped, sizeof(mapped)) != 0)
			return false;
		a += sizeof(mapped);
	}
	return a[0] >= 224; /* multicast, reserved, broadcast */
}

/*
 * One entry of a socket's error queue: 1 with its errno and ee_info (the
 * mtu for EMSGSIZE) and the start of the packet that caused it in head, 0
 * when the queue is empty, or -errno.
 */
static int errq_next(int fd, int *err, uint32_t *info, uint8_t *head, size_t *head_len)
{
	union {
		struct cmsghdr align;
		uint8_t b[256];
	} ctl;
	struct iovec iov = {.iov_base = head, .iov_len = *head_len};
	struct msghdr msg = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	struct ext_err ee;
	ssize_t n = recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	*head_len = (size_t)n;
	*err = 0;
	*info = 0;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (!((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
		      (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) ||
		    c->cmsg_len < CMSG_LEN(sizeof(ee)))
			continue;
		memcpy(&ee, CMSG_DATA(c), sizeof(ee));
		*err = (int)ee.ee_errno;
		*info = ee.ee_info;
	}
	return 1;
}

static int set_recverr(int fd, int family)
{
	int on = 1;

	if (family == AF_INET6)
		return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
	return setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
}

/*
 * With IP_RECVERR, an ICMP error about an earlier datagram is also left
 * pending on the socket, and the next send returns it instead of sending:
 * an IPv6 packet too big, say, even though the socket fragments. The
 * error queue reports that one; this datagram is sent once more, and what
 * the second send says is about it. 0 or -errno.
 */
static int sock_send(int fd, const void *buf, size_t len, const struct sockaddr *sa, socklen_t sl)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (sendto(fd, buf, len, MSG_DONTWAIT, sa, sl) >= 0)
			return 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			break;
	}
	return -errno;
}

/* ---- flows ---- */

static void udp_err(struct udpfwd *u, uint32_t id, int err)
{
	out(u, wire_put_udp_err(frame, sizeof(frame), id, wire_errno(err), 0));
}

static void flow_unlink(struct udpfwd *u, struct flow *fl)
{
	if (fl->prev)
		fl->prev->next = fl->next;
	else
		u->oldest = fl->next;
	if (fl->next)
		fl->next->prev = fl->prev;
	else
		u->newest = fl->prev;
	fl->prev = fl->next = NULL;
}

static void flow_append(struct udpfwd *u, struct flow *fl)
{
	fl->last = u->now();
	fl->prev = u->newest;
	if (u->newest)
		u->newest->next = fl;
	else
		u->oldest = fl;
	u->newest = fl;
}

static void flow_touch(struct udpfwd *u, struct flow *fl)
{
	fl->last = u->now();
	if (u->newest == fl)
		return;
	flow_unlink(u, fl);
	flow_append(u, fl);
}

static void flow_free(struct udpfwd *u, struct flow *fl, bool tell)
{
	if (tell)
		out(u, wire_put_udp_close(frame, sizeof(frame), fl->id));
	idmap_del(&u->flows, fl->id);
	flow_unlink(u, fl);
	evloop_del(u->loop, &fl->io);
	close(fl->io.fd);
	free(fl);
}

static void flow_errors(struct udpfwd *u, struct flow *fl)
{
	uint8_t head[64];
	uint32_t info;
	int i, err;

	for (i = 0; i < BATCH; i++) {
		size_t hl = sizeof(head);
		if (errq_next(fl->io.fd, &err, &info, head, &hl) <= 0)
			break;
		/*
		 * EMSGSIZE is about our own sends, which this kernel fragments
		 * (PMTUDISC_DONT): relayed, it would lower the application's
		 * path MTU for a path that takes its datagrams anyway.
		 */
		if (err && err != EMSGSIZE)
			udp_err(u, fl->id, err);
	}
}

static void on_flow(struct ev_io *io, uint32_t events)
{
	struct flow *fl = (struct flow *)io;
	struct udpfwd *u = fl->u;
	int i;

	/* First, so the error the queue held is not also returned by recv. */
	if (events & EPOLLERR)
		flow_errors(u, fl);
	for (i = 0; i < BATCH; i++) {
		ssize_t n = recv(io->fd, rbuf, sizeof(rbuf), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				udp_err(u, fl->id, errno);
			break;
		}
		fl->answered = true;
		flow_touch(u, fl);
		if ((size_t)n > WIRE_UDP_MAX) {
			u->st.in_dropped++; /* an IPv6 datagram bigger than the wire carries */
			continue;
		}
		out(u, wire_put_udp_reply(frame, sizeof(frame), fl->id, rbuf, (size_t)n));
	}
}

static int flow_new(struct udpfwd *u, uint32_t id, const struct wire_udp *req, struct flow **out_fl)
{
	int lvl = req->family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
	int opt = req->family == AF_INET6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER;
	int dont = req->family == AF_INET6 ? IPV6_PMTUDISC_DONT : IP_PMTUDISC_DONT;
	struct sockaddr_storage ss;
	socklen_t sl = sa_make(&ss, req->family, req->addr, req->port);
	struct flow *fl = NULL;
	int fd, ret;

	if (u->flows.count >= u->flows_max && u->oldest) {
		flow_free(u, u->oldest, true);
		u->st.evicted++;
	}
	fd = socket(req->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The remote kernel fragments a big datagram rather than refusing it. */
	if (setsockopt(fd, lvl, opt, &dont, sizeof(dont)) < 0 || set_recverr(fd, req->family) < 0 ||
	    connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		ret = -errno;
		goto out;
	}
	fl = calloc(1, sizeof(*fl));
	if (!fl) {
		ret = -ENOMEM;
		goto out;
	}
	fl->io.fd = fd;
	fl->io.cb = on_flow;
	fl->u = u;
	fl->id = id;
	fl->family = req->family;
	fl->port = req->port;
	memcpy(fl->addr, req->addr, 16);
	ret = idmap_put(&u->flows, id, fl);
	if (ret < 0)
		goto out;
	ret = evloop_add(u->loop, &fl->io, EPOLLIN);
	if (ret < 0) {
		idmap_del(&u->flows, id);
		goto out;
	}
	flow_append(u, fl);
	*out_fl = fl;
	return 0;
out:
	free(fl);
	close(fd);
	return ret;
}

static int udp_request(struct udpfwd *u, const struct wire_frame *f)
{
	struct flow *fl = idmap_get(&u->flows, f->stream);
	struct wire_udp req;
	int ret;

	ret = wire_udp_req(f, &req);
	if (ret == -EINVAL) {
		/* Port 0: a fault of this flow's only; the session goes on. */
		udp_err(u, f->stream, EINVAL);
		return 0;
	}
	if (ret < 0)
		return -EPROTO;
	if (dst_refused(req.family, req.addr)) {
		u->st.refused++;
		udp_err(u, f->stream, EACCES);
		return 0;
	}
	if (fl && (fl->family != req.family || fl->port != req.port ||
		   memcmp(fl->addr, req.addr, fam_alen(req.family)) != 0)) {
		flow_free(u, fl, false);
		fl = NULL;
	}
	if (!fl) {
		ret = flow_new(u, f->stream, &req, &fl);
		if (ret < 0) {
			udp_err(u, f->stream, -ret);
			return 0;
		}
	}
	flow_touch(u, fl);
	ret = sock_send(fl->io.fd, req.data, req.len, NULL, 0);
	if (ret == -EAGAIN || ret == -EWOULDBLOCK || ret == -ENOBUFS || ret == -EMSGSIZE)
		u->st.in_dropped++;
	else if (ret < 0)
		udp_err(u, fl->id, -ret);
	return 0;
}

static void flows_expire(struct udpfwd *u, int64_t now)
{
	struct flow *fl, *next;

	for (fl = u->oldest; fl; fl = next) {
		next = fl->next;
		if (now - fl->last >= (fl->answered ? UDPFWD_ANSWERED_MS : UDPFWD_IDLE_MS))
			flow_free(u, fl, true);
	}
}

/* ---- echo over ICMP sockets ---- */

static void echo_err(struct udpfwd *u, uint32_t id, uint16_t seq, int err)
{
	out(u, wire_put_echo_err(frame, sizeof(frame), id, seq, wire_errno(err)));
}

static struct echo *echo_find(struct udpfwd *u, int family, uint16_t ours)
{
	size_t i;

	for (i = 0; i < UDPFWD_ECHOES_MAX; i++)
		if (u->echoes[i].id && u->echoes[i].family == family && u->echoes[i].ours == ours)
			return &u->echoes[i];
	return NULL;
}

static void echo_drop(struct udpfwd *u, struct echo *e)
{
	e->id = 0;
	u->n_echoes--;
}

/* A free slot, or the oldest outstanding echo's, which is then lost. */
static struct echo *echo_slot(struct udpfwd *u)
{
	struct echo *oldest = NULL;
	size_t i;

	for (i = 0; i < UDPFWD_ECHOES_MAX; i++) {
		if (!u->echoes[i].id)
			return &u->echoes[i];
		if (!oldest || u->echoes[i].sent < oldest->sent)
			oldest = &u->echoes[i];
	}
	echo_drop(u, oldest);
	return oldest;
}

static void icmp_errors(struct udpfwd *u, struct icmp_sock *is)
{
	uint8_t head[64];
	struct echo *e;
	uint32_t info;
	int i, err;

	for (i = 0; i < BATCH; i++) {
		size_t hl = sizeof(head);
		if (errq_next(is->io.fd, &err, &info, head, &hl) <= 0)
			break;
		/* The queue returns the request that failed: its sequence names the echo. */
		if (!err || hl < ICMP_HDR)
			continue;
		e = echo_find(u, is->family, (uint16_t)(head[6] << 8 | head[7]));
		if (!e)
			continue;
		echo_err(u, e->id, e->seq, err);
		echo_drop(u, e);
	}
}

static void on_icmp(struct ev_io *io, uint32_t events)
{
	struct icmp_sock *is = (struct icmp_sock *)io;
	struct udpfwd *u = is->u;
	uint8_t want = is->family == AF_INET6 ? 129 : 0; /* echo reply */
	int i;

	if (events & EPOLLERR)
		icmp_errors(u, is);
	for (i = 0; i < BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		ssize_t n = recvfrom(io->fd, rbuf, sizeof(rbuf), MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&ss, &sl);
		const void *from;
		struct echo *e;

		if (n < 0)
			break; /* EAGAIN; an error is in the queue, read above */
		if (n < ICMP_HDR || (size_t)n > sizeof(rbuf) || rbuf[0] != want)
			continue;
		e = echo_find(u, is->family, (uint16_t)(rbuf[6] << 8 | rbuf[7]));
		from = sa_addr(&ss);
		/* Only the host that was asked answers an echo. */
		if (!e || ss.ss_family != is->family || !from ||
		    memcmp(from, e->addr, fam_alen(is->family)) != 0)
			continue;
		if ((size_t)n - ICMP_HDR <= WIRE_ECHO_MAX)
			out(u, wire_put_echo_reply(frame, sizeof(frame), e->id, e->seq,
						   rbuf + ICMP_HDR, (size_t)n - ICMP_HDR));
		echo_drop(u, e);
	}
}

static int icmp_open(struct udpfwd *u, int family)
{
	struct icmp_sock *is = &u->icmp[fam_idx(family)];
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	int ret;

	if (fd < 0)
		return -errno;
	if (set_recverr(fd, family) < 0) {
		ret = -errno;
		goto out;
	}
	is->io.fd = fd;
	is->io.cb = on_icmp;
	is->u = u;
	is->family = family;
	ret = evloop_add(u->loop, &is->io, EPOLLIN);
	if (ret == 0)
		return 0;
out:
	close(fd);
	is->io.fd = -1;
	return ret;
}

static void icmp_send(struct udpfwd *u, uint32_t id, const struct wire_echo *req)
{
	static uint8_t pkt[ICMP_HDR + WIRE_ECHO_MAX];
	struct icmp_sock *is = &u->icmp[fam_idx(req->family)];
	struct sockaddr_storage ss;
	socklen_t sl = sa_make(&ss, req->family, req->addr, 0);
	struct echo *e;
	uint16_t ours;
	int ret;

	do
		ours = u->next_seq++;
	while (echo_find(u, req->family, ours));
	/* Identifier and checksum are the kernel's to fill in on a ping socket. */
	memset(pkt, 0, ICMP_HDR);
	pkt[0] = req->family == AF_INET6 ? 128 : 8;
	pkt[6] = (uint8_t)(ours >> 8);
	pkt[7] = (uint8_t)ours;
	memcpy(pkt + ICMP_HDR, req->data, req->len);
	/* Once more on an error: one left pending by another echo's failure is not this one's. */
	ret = sock_send(is->io.fd, pkt, ICMP_HDR + req->len, (struct sockaddr *)&ss, sl);
	if (ret == -EAGAIN || ret == -EWOULDBLOCK || ret == -ENOBUFS) {
		u->st.in_dropped++;
		return;
	}
	if (ret < 0) {
		echo_err(u, id, req->seq, -ret);
		return;
	}
	e = echo_slot(u);
	e->id = id;
	e->seq = req->seq;
	e->ours = ours;
	e->family = req->family;
	memcpy(e->addr, req->addr, 16);
	e->sent = u->now();
	u->n_echoes++;
}

static void echoes_expire(struct udpfwd *u, int64_t now)
{
	size_t i;

	for (i = 0; i < UDPFWD_ECHOES_MAX; i++)
		if (u->echoes[i].id && now - u->echoes[i].sent >= UDPFWD_ECHO_WAIT)
			echo_drop(u, &u->echoes[i]);
}

/* ---- echo through the ping command ---- */

static void reap_add(struct udpfwd *u, pid_t pid)
{
	if (waitpid(pid, NULL, WNOHANG) == pid)
		return;
	if (u->n_reap < REAP_MAX) {
		u->reap[u->n_reap++] = pid;
		return;
	}
	/* Killed already: it is gone at once, so this wait is short. */
	waitpid(pid, NULL, 0);
}

static void reap_some(struct udpfwd *u)
{
	size_t i = 0;

	while (i < u->n_reap) {
		if (waitpid(u->reap[i], NULL, WNOHANG) != 0)
			u->reap[i] = u->reap[--u->n_reap];
		else
			i++;
	}
}

static void pinger_clear(struct pinger *p)
{
	free(p->data);
	p->data = NULL;
	p->id = 0;
	p->pid = 0;
}

static void ping_next(struct udpfwd *u);

static void ping_done(struct udpfwd *u, struct pinger *p)
{
	evloop_del(u->loop, &p->io);
	close(p->io.fd);
	p->io.fd = -1;
	kill(p->pid, SIGKILL);
	reap_add(u, p->pid);
	pinger_clear(p);
	ping_next(u);
}

/* Only ping's own "N bytes from ADDR" line, naming the host asked, is a reply. */
static bool ping_replied(struct pinger *p)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *at = p->out;
	size_t n;

	if (!inet_ntop(p->family, p->addr, addr, sizeof(addr) - 1))
		return false;
	n = strlen(addr);
	while ((at = strstr(at, " bytes from "))) {
		at += strlen(" bytes from ");
		/* Exactly the address: 2001:db8::1 is not 2001:db8::1:5. */
		if (strncmp(at, addr, n) == 0 && at[n] == ':' && at[n + 1] == ' ')
			return true;
	}
	return false;
}

static void on_ping_out(struct ev_io *io, uint32_t events)
{
	struct pinger *p = (struct pinger *)io;
	struct udpfwd *u = p->u;
	ssize_t n;

	if (p->out_len == sizeof(p->out) - 1) {
		/* Keep a tail that may hold the start of the line that matters. */
		memmove(p->out, p->out + p->out_len - 64, 64);
		p->out_len = 64;
	}
	n = read(io->fd, p->out + p->out_len, sizeof(p->out) - 1 - p->out_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		p->out_len += (size_t)n;
		p->out[p->out_len] = '\0';
		if (!p->replied && ping_replied(p)) {
			p->replied = true;
			/* A real echo returns what was sent: the request's own data. */
			out(u, wire_put_echo_reply(frame, sizeof(frame), p->id, p->seq, p->data,
						   p->len));
		}
		return;
	}
	ping_done(u, p);
}

static int ping_spawn(struct udpfwd *u, struct pinger *p)
{
	char addr[INET6_ADDRSTRLEN], size[24];
	const char *path = u->ping_path ? u->ping_path : "ping";
	char *argv[] = {(char *)path, "-6", "-n", "-c", "1", "-W", "5", "-s", size, addr, NULL};
	char **args = p->family == AF_INET6 ? argv : argv + 1;
	/* Its output is parsed: the C locale's words, and nothing else of ours passed on. */
	static char path_env[4096];
	const char *search = getenv("PATH");
	char *envp[] = {"LC_ALL=C", path_env, NULL};
	int fds[2], null;
	pid_t pid;

	if (!inet_ntop(p->family, p->addr, addr, sizeof(addr)))
		return -EINVAL;
	if (!search ||
	    (size_t)snprintf(path_env, sizeof(path_env), "PATH=%s", search) >= sizeof(path_env))
		snprintf(path_env, sizeof(path_env),
			 "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
	snprintf(size, sizeof(size), "%zu", p->len);
	if (p->family == AF_INET)
		args[0] = (char *)path;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = errno;
		close(fds[0]);
		close(fds[1]);
		return -err;
	}
	if (pid == 0) {
		null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(fds[1], 1) < 0 || dup2(null, 0) < 0 || dup2(null, 2) < 0)
			_exit(127);
		if (p->family == AF_INET6 && !u->ping_path) {
			/* ping6 where there is one: an old ping refuses -6 (exit status 2). */
			argv[1] = "ping6";
			execvpe("ping6", argv + 1, envp);
			argv[1] = "-6";
		}
		execvpe(path, args, envp);
		_exit(127);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	p->io.fd = fds[0];
	p->io.cb = on_ping_out;
	p->u = u;
	p->pid = pid;
	p->replied = false;
	p->out_len = 0;
	p->out[0] = '\0';
	p->at = u->now();
	if (evloop_add(u->loop, &p->io, EPOLLIN) < 0) {
		ping_done(u, p);
		return 0; /* the echo is lost, the slot free again */
	}
	return 0;
}

/* Start the waiting echoes while a child slot is free. */
static void ping_next(struct udpfwd *u)
{
	size_t i;

	for (i = 0; i < UDPFWD_PING_RUN && u->q_len; i++) {
		struct pinger *p = &u->run[i], *q = &u->queue[u->q_head];
		int ret;

		if (p->id)
			continue;
		p->id = q->id;
		p->seq = q->seq;
		p->family = q->family;
		memcpy(p->addr, q->addr, 16);
		p->data = q->data;
		p->len = q->len;
		q->data = NULL;
		q->id = 0;
		u->q_head = (u->q_head + 1) % UDPFWD_PING_QUEUE;
		u->q_len--;
		ret = ping_spawn(u, p);
		if (ret < 0) {
			echo_err(u, p->id, p->seq, -ret);
			pinger_clear(p);
		}
	}
}

static void ping_request(struct udpfwd *u, uint32_t id, const struct wire_echo *req)
{
	struct pinger *q;

	if (u->q_len == UDPFWD_PING_QUEUE) {
		u->st.in_dropped++;
		return;
	}
	q = &u->queue[(u->q_head + u->q_len) % UDPFWD_PING_QUEUE];
	q->data = malloc(req->len ? req->len : 1);
	if (!q->data) {
		u->st.in_dropped++;
		return;
	}
	memcpy(q->data, req->data, req->len);
	q->len = req->len;
	q->id = id;
	q->seq = req->seq;
	q->family = req->family;
	memcpy(q->addr, req->addr, 16);
	q->at = u->now();
	u->q_len++;
	ping_next(u);
}

static void pings_expire(struct udpfwd *u, int64_t now)
{
	size_t i;

	for (i = 0; i < UDPFWD_PING_RUN; i++)
		if (u->run[i].id && u->run[i].pid > 0 && now - u->run[i].at >= UDPFWD_ECHO_WAIT)
			ping_done(u, &u->run[i]);
	/* The queue is in arrival order: the old ones are at its head. */
	while (u->q_len && now - u->queue[u->q_head].at >= UDPFWD_ECHO_WAIT) {
		pinger_clear(&u->queue[u->q_head]);
		u->q_head = (u->q_head + 1) % UDPFWD_PING_QUEUE;
		u->q_len--;
	}
	reap_some(u);
}

static int echo_request(struct udpfwd *u, const struct wire_frame *f)
{
	struct wire_echo req;
	int i, ret;

	if (wire_echo_req(f, &req) < 0)
		return -EPROTO;
	if (dst_refused(req.family, req.addr)) {
		u->st.refused++;
		echo_err(u, f->stream, req.seq, EACCES);
		return 0;
	}
	i = fam_idx(req.family);
	if (u->way[i] == UDPFWD_ECHO_NONE) {
		ret = u->force_command ? -EPERM : icmp_open(u, req.family);
		if (ret == 0) {
			u->way[i] = UDPFWD_ECHO_SOCKET;
		} else if (ret == -EACCES || ret == -EPERM) {
			/* net.ipv4.ping_group_range leaves our group out. */
			u->way[i] = UDPFWD_ECHO_COMMAND;
		} else {
			echo_err(u, f->stream, req.seq, -ret);
			return 0;
		}
	}
	if (u->way[i] == UDPFWD_ECHO_SOCKET)
		icmp_send(u, f->stream, &req);
	else
		ping_request(u, f->stream, &req);
	return 0;
}

/* ---- the interface ---- */

/*
 * Each flow holds a socket: a quarter of the descriptors at most, so that
 * a UDP flood leaves the rest to TCP streams and DNS.
 */
static size_t flows_cap(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur / 4 >= UDPFWD_FLOWS_MAX)
		return UDPFWD_FLOWS_MAX;
	return rl.rlim_cur >= 4 ? (size_t)(rl.rlim_cur / 4) : 1;
}

struct udpfwd *udpfwd_new(struct evloop *loop, udpfwd_send_fn send, void *ctx)
{
	struct udpfwd *u = calloc(1, sizeof(*u));
	size_t i;

	if (!u)
		return NULL;
	u->loop = loop;
	u->send = send;
	u->ctx = ctx;
	u->now = clock_ms;
	u->flows_max = flows_cap();
	idmap_init(&u->flows);
	u->icmp[0].io.fd = u->icmp[1].io.fd = -1;
	for (i = 0; i < UDPFWD_PING_RUN; i++)
		u->run[i].io.fd = -1;
	return u;
}

void udpfwd_free(struct udpfwd *u)
{
	size_t i;

	if (!u)
		return;
	while (u->oldest)
		flow_free(u, u->oldest, false);
	idmap_free(&u->flows);
	for (i = 0; i < 2; i++) {
		if (u->icmp[i].io.fd >= 0) {
			evloop_del(u->loop, &u->icmp[i].io);
			close(u->icmp[i].io.fd);
		}
	}
	for (i = 0; i < UDPFWD_PING_RUN; i++) {
		struct pinger *p = &u->run[i];
		if (!p->id || p->pid <= 0)
			continue;
		evloop_del(u->loop, &p->io);
		close(p->io.fd);
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		pinger_clear(p);
	}
	for (i = 0; i < UDPFWD_PING_QUEUE; i++)
		free(u->queue[i].data);
	for (i = 0; i < u->n_reap; i++)
		waitpid(u->reap[i], NULL, 0);
	free(u);
}

int udpfwd_frame(struct udpfwd *u, const struct wire_frame *f)
{
	struct flow *fl;

	switch (f->type) {
	case WIRE_UDP:
		return udp_request(u, f);
	case WIRE_UDP_CLOSE:
		fl = idmap_get(&u->flows, f->stream);
		if (fl)
			flow_free(u, fl, false);
		return 0;
	case WIRE_ECHO:
		return echo_request(u, f);
	default:
		return -EPROTO;
	}
}

void udpfwd_tick(struct udpfwd *u)
{
	int64_t now = u->now();

	flows_expire(u, now);
	echoes_expire(u, now);
	pings_expire(u, now);
}

void udpfwd_get_stats(const struct udpfwd *u, struct udpfwd_stats *st)
{
	size_t i;

	*st = u->st;
	st->flows = u->flows.count;
	st->echoes = u->n_echoes + u->q_len;
	for (i = 0; i < UDPFWD_PING_RUN; i++)
		st->echoes += u->run[i].id != 0;
}

enum udpfwd_echo_way udpfwd_echo_way(const struct udpfwd *u)
{
	if (u->way[0] == UDPFWD_ECHO_COMMAND || u->way[1] == UDPFWD_ECHO_COMMAND)
		return UDPFWD_ECHO_COMMAND;
	return u->way[0] != UDPFWD_ECHO_NONE ? u->way[0] : u->way[1];
}

void udpfwd_set_clock(struct udpfwd *u, int64_t (*now_ms)(void))
{
	u->now = now_ms;
}

void udpfwd_set_flows_max(struct udpfwd *u, size_t max)
{
	u->flows_max = max ? max : 1;
}

void udpfwd_force_command(struct udpfwd *u, const char *ping_path)
{
	u->force_command = true;
	u->ping_path = ping_path;
}
