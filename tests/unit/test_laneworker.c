/*
 * Unit tests for client/link/laneworker.c and laneown.c: the result
 * record's encoding and its checks; and real workers: one whose login
 * fails says why; one that opens runs its lane whole (test_owned): the
 * connections handed to it open streams on its own mux, whose bytes go
 * both ways over a transport that pushes back (a write refused once must
 * come again with the same bytes) to a real mux at the far end, its
 * reports count them, and its streams are reset when the parent closes or
 * SIGTERM comes; one whose far end goes says why; one stuck in its login
 * holds none of our descriptors, and is ended and reaped; one over a real
 * command hands its descriptors over with the record and ends as the
 * command does.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../client/child.h"
#include "../../client/cmd/transport_cmd.h"
#include "../../client/link/laneown.h"
#include "../../client/link/laneworker.h"
#include "../../common/clock.h"
#include "../../common/log.h"
#include "../../common/mux.h"
#include "t.h"

/* What each worker here runs its lane with (a handed one never does). */
static const struct laneown_cfg own_cfg = {
    .window = 65536,
    .out_high = 65536,
    .buffered_max = 1u << 20,
    .credit_max = 65536,
    .credit_total = 1u << 20,
    .budget_ms = 10,
    .lane = 3,
};

static void test_record(void)
{
	static const struct {
		enum lane_limit limit;
		bool fatal;
	} limits[] = {
	    {LANE_LIMIT_SESSIONS, false}, {LANE_LIMIT_STARTUPS, true}, {LANE_LIMIT_PROXY, false}};
	struct laneworker_result a, b;
	uint8_t rec[LANEWORKER_RECORD_LEN + 8];
	size_t i;

	memset(&a, 0, sizeof(a));
	a.status = 0;
	a.peer.version = 3;
	a.peer.window = 1u << 20;
	a.peer.features = 0x5;
	memset(a.peer.hash, 0xab, sizeof(a.peer.hash));
	snprintf(a.detail, sizeof(a.detail), "aes128-ctr, hmac-sha2-256");
	CHECK_EQ_INT(laneworker_encode(rec, sizeof(rec), &a), LANEWORKER_RECORD_LEN);
	CHECK_EQ_INT(laneworker_decode(rec, LANEWORKER_RECORD_LEN, &b), 0);
	CHECK_EQ_INT(b.status, 0);
	CHECK(!b.fatal);
	CHECK_EQ_INT(b.peer.version, 3);
	CHECK_EQ_INT(b.peer.window, 1u << 20);
	CHECK_EQ_INT(b.peer.features, 5);
	CHECK(memcmp(b.peer.hash, a.peer.hash, sizeof(a.peer.hash)) == 0);
	CHECK_STR(b.detail, a.detail);
	CHECK_STR(b.err, "");

	/* A failure, with a line as long as the field holds. */
	memset(&a, 0, sizeof(a));
	a.status = -EACCES;
	a.fatal = true;
	memset(a.err, 'x', sizeof(a.err) - 1);
	CHECK_EQ_INT(laneworker_encode(rec, sizeof(rec), &a), LANEWORKER_RECORD_LEN);
	CHECK_EQ_INT(laneworker_decode(rec, LANEWORKER_RECORD_LEN, &b), 0);
	CHECK_EQ_INT(b.status, -EACCES);
	CHECK(b.fatal);
	CHECK_EQ_INT(b.limit, LANE_LIMIT_NONE);
	CHECK_EQ_INT(strlen(b.err), sizeof(a.err) - 1);

	/* A server's limit travels beside fatal. */
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		a.limit = limits[i].limit;
		a.fatal = limits[i].fatal;
		CHECK_EQ_INT(laneworker_encode(rec, sizeof(rec), &a), LANEWORKER_RECORD_LEN);
		CHECK_EQ_INT(laneworker_decode(rec, LANEWORKER_RECORD_LEN, &b), 0);
		CHECK(b.fatal == limits[i].fatal);
		CHECK_EQ_INT(b.limit, limits[i].limit);
	}
	a.fatal = true;

	/* Handed travels too; a flag nobody knows does not decode. */
	a.handed = true;
	CHECK_EQ_INT(laneworker_encode(rec, sizeof(rec), &a), LANEWORKER_RECORD_LEN);
	CHECK_EQ_INT(laneworker_decode(rec, LANEWORKER_RECORD_LEN, &b), 0);
	CHECK(b.handed && b.fatal);
	rec[11] |= 16; /* the flags word's lowest byte, big-endian after magic and status */
	CHECK_EQ_INT(laneworker_decode(rec, LANEWORKER_RECORD_LEN, &b), -EPROTO);
	a.handed = false;

	/* Too short to hold it: nothing written. */
	CHECK_EQ_INT(laneworker_encode(rec, LANEWORKER_RECORD_LEN - 1, &a), 0);
	/* Not the record's length either way. */
	CHECK_EQ_INT(laneworker_decode(rec, LANEWORKER_RECORD_LEN - 1, &b), -EMSGSIZE);
	CHECK_EQ_INT(laneworker_decode(rec, LANEWORKER_RECORD_LEN + 1, &b), -EMSGSIZE);

	/* Damaged: magic, a status > 0, unknown flags, a length past its field, a NUL inside. */
	laneworker_encode(rec, sizeof(rec), &a);
	rec[0] ^= 1;
	CHECK_EQ_INT(laneworker_decode(rec, LANEWORKER_RECORD_LEN, &b), -EPROTO);
	laneworker_encode(rec, sizeof(rec), &a);
	rec[4] = 0, rec[5] = 0, rec[6] = 0, rec[7] = 1;
	CHECK_EQ_INT(laneworker_decode(rec, LANEWORKER_RECORD_LEN, &b), -EPROTO);
	laneworker_encode(rec, sizeof(rec), &a);
	/* The err field's length: after the fixed part and the detail field. */
	rec[12 + 10 + WIRE_HASH_LEN + 2 + 160] = 0x02;
	rec[12 + 10 + WIRE_HASH_LEN + 2 + 160 + 1] = 0x00;
	CHECK_EQ_INT(laneworker_decode(rec, LANEWORKER_RECORD_LEN, &b), -EPROTO);
	laneworker_encode(rec, sizeof(rec), &a);
	rec[12 + 10 + WIRE_HASH_LEN + 2 + 160 + 2 + 5] = '\0';
	CHECK_EQ_INT(laneworker_decode(rec, LANEWORKER_RECORD_LEN, &b), -EPROTO);
}

/*
 * A transport over a unix socket to the test (the "remote"): each new
 * write is refused once with -EAGAIN, and the retry must offer the same
 * bytes, else the stream breaks. Its stderr says hello once.
 */
struct fake {
	struct transport t;
	int fd;
	bool refused;
	size_t refused_len;
	uint8_t refused_head[64];
	bool said;
	int err; /* a stderr of its own, as ssh's pipe, else -1 */
	char why[64];
};

static ssize_t fake_read(struct transport *t, void *buf, size_t len)
{
	struct fake *f = (struct fake *)t;
	ssize_t n = recv(f->fd, buf, len, MSG_DONTWAIT);

	return n >= 0 ? n : errno == EAGAIN ? -EAGAIN : -errno;
}

static ssize_t fake_read_stderr(struct transport *t, void *buf, size_t len)
{
	struct fake *f = (struct fake *)t;
	ssize_t n;

	if (f->err >= 0) {
		n = recv(f->err, buf, len, MSG_DONTWAIT);
		return n >= 0 ? n : errno == EAGAIN ? -EAGAIN : -errno;
	}
	if (f->said)
		return -EAGAIN;
	f->said = true;
	memcpy(buf, "hello from the helper\n", 22);
	return 22;
}

static ssize_t fake_write(struct transport *t, const void *buf, size_t len)
{
	struct fake *f = (struct fake *)t;
	size_t head = len < sizeof(f->refused_head) ? len : sizeof(f->refused_head);
	ssize_t n;

	if (!f->refused) {
		f->refused = true;
		f->refused_len = len;
		memcpy(f->refused_head, buf, head);
		return -EAGAIN;
	}
	if (len != f->refused_len || memcmp(buf, f->refused_head, head) != 0) {
		snprintf(f->why, sizeof(f->why), "a retry with other bytes");
		return -EPROTO;
	}
	f->refused = false;
	/* A little at a time: the rest comes in the next offer. */
	n = send(f->fd, buf, len < 1000 ? len : 1000, MSG_DONTWAIT | MSG_NOSIGNAL);
	return n >= 0 ? n : errno == EAGAIN ? -EAGAIN : -errno;
}

static void fake_wait_on(struct transport *t, int fd[2], uint32_t *events)
{
	struct fake *f = (struct fake *)t;

	fd[0] = f->fd;
	fd[1] = f->err;
	*events = EPOLLIN | (f->refused ? EPOLLOUT : 0);
}

static bool fake_buffered(struct transport *t)
{
	return false;
}

static const char *fake_why(struct transport *t)
{
	return ((struct fake *)t)->why;
}

static int fake_exit_status(struct transport *t)
{
	return 7;
}

static void fake_close(struct transport *t)
{
	struct fake *f = (struct fake *)t;

	close(f->fd);
	if (f->err >= 0)
		close(f->err);
	free(t);
}

static const struct transport_ops fake_ops = {
    .read = fake_read,
    .read_stderr = fake_read_stderr,
    .write = fake_write,
    .wait_on = fake_wait_on,
    .buffered = fake_buffered,
    .why = fake_why,
    .exit_status = fake_exit_status,
    .close = fake_close,
};

static struct sockaddr_un remote_addr;

/* In the worker: connect to the test's listener, with the fake over it. */
static void open_fake(void *arg, struct transport **t, struct laneworker_result *r)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f) {
		r->status = -ENOMEM;
		return;
	}
	f->t.ops = &fake_ops;
	f->t.name = "fake";
	f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	f->err = -1;
	*t = &f->t;
	if (f->fd < 0 || connect(f->fd, (struct sockaddr *)&remote_addr, sizeof(remote_addr)) < 0) {
		r->status = -errno;
		snprintf(r->err, sizeof(r->err), "connect: %s", strerror(errno));
		return;
	}
	/* arg: stderr on a second connection, as ssh's on a pipe of its own. */
	if (arg) {
		f->err = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (f->err < 0 ||
		    connect(f->err, (struct sockaddr *)&remote_addr, sizeof(remote_addr)) < 0) {
			r->status = -errno;
			snprintf(r->err, sizeof(r->err), "connect: %s", strerror(errno));
			return;
		}
	}
	r->peer.window = 12345;
	snprintf(r->detail, sizeof(r->detail), "fake transport");
}

static void open_refused(void *arg, struct transport **t, struct laneworker_result *r)
{
	r->status = -EACCES;
	r->fatal = true;
	snprintf(r->err, sizeof(r->err), "the login needs a prompt");
}

static void open_stuck(void *arg, struct transport **t, struct laneworker_result *r)
{
	sleep(60);
}

/* Stuck, and deaf to SIGTERM: only the SIGKILL that follows ends it. */
static void open_deaf(void *arg, struct transport **t, struct laneworker_result *r)
{
	signal(SIGTERM, SIG_IGN);
	sleep(60);
}

/* Poll the worker's record for at most ms. */
static int poll_for(struct laneworker *w, struct laneworker_result *r, int ms)
{
	int64_t end = clock_ms() + ms;
	int ret;

	while ((ret = laneworker_poll(w, r)) == -EAGAIN && clock_ms() < end) {
		struct pollfd p = {.fd = w->sock, .events = POLLIN};

		poll(&p, 1, 100);
	}
	return ret;
}

static bool gone(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/* laneworker_stop leaves the waits to child_stop_tick, run as the client's loop runs it. */
static bool stopped(pid_t pid, int ms)
{
	int64_t end = clock_ms() + ms;

	for (;;) {
		child_stop_tick();
		if (gone(pid))
			return true;
		if (clock_ms() >= end)
			return false;
		usleep(20000);
	}
}

static void test_refused(void)
{
	struct laneworker w;
	struct laneworker_result r;
	pid_t pid;

	CHECK_EQ_INT(laneworker_start(&w, open_refused, NULL, &own_cfg, "sluice-lane1",
				      "sluice: lane 1 of u@h"),
		     0);
	pid = w.pid;
	CHECK(pid > 0);
	CHECK_EQ_INT(poll_for(&w, &r, 5000), 0);
	CHECK_EQ_INT(r.status, -EACCES);
	CHECK(r.fatal);
	CHECK_STR(r.err, "the login needs a prompt");
	laneworker_stop(&w);
	CHECK_EQ_INT(w.pid, 0);
	CHECK(stopped(pid, 6000));
}

static void test_stuck(void)
{
	struct laneworker w;
	struct laneworker_result r;
	int64_t t0;
	pid_t pid;

	int keep[2], hi;
	char c;

	/* A descriptor of ours the worker must not hold: its write end, above where the worker's
	 * land. */
	CHECK_EQ_INT(pipe(keep), 0);
	hi = fcntl(keep[1], F_DUPFD, 20);
	CHECK(hi >= 20);
	close(keep[1]);
	keep[1] = hi;
	CHECK_EQ_INT(laneworker_start(&w, open_stuck, NULL, &own_cfg, "sluice-lane2", NULL), 0);
	pid = w.pid;
	close(keep[1]);
	CHECK_EQ_INT(poll_for(&w, &r, 300), -EAGAIN);
	/* The worker runs (stuck in its login), yet the pipe has ended: it closed its copy. */
	CHECK(!gone(pid));
	{
		struct pollfd pf = {.fd = keep[0], .events = POLLIN};

		CHECK_EQ_INT(poll(&pf, 1, 2000), 1);
		CHECK_EQ_INT(read(keep[0], &c, 1), 0);
	}
	close(keep[0]);
	t0 = clock_ms();
	laneworker_stop(&w);
	CHECK(clock_ms() - t0 < 100);
	CHECK(stopped(pid, 6000));

	/*
	 * A worker that stopped answering (SIGSTOP) costs the caller's loop no
	 * wait either: the tick sends SIGTERM after the grace, and SIGKILL
	 * after that. At exit, child_stop_all ends any left.
	 */
	CHECK_EQ_INT(laneworker_start(&w, open_stuck, NULL, &own_cfg, "sluice-lane2", NULL), 0);
	pid = w.pid;
	CHECK_EQ_INT(kill(pid, SIGSTOP), 0);
	w.got = sizeof(w.rec); /* as if past its login: no SIGTERM at once */
	t0 = clock_ms();
	laneworker_stop(&w);
	CHECK(clock_ms() - t0 < 100);
	CHECK(!gone(pid));
	CHECK(stopped(pid, 6000));
	/* One deaf to SIGTERM: the tick's SIGKILL, 2 s later. */
	CHECK_EQ_INT(laneworker_start(&w, open_deaf, NULL, &own_cfg, "sluice-lane2", NULL), 0);
	pid = w.pid;
	CHECK_EQ_INT(poll_for(&w, &r, 300), -EAGAIN);
	w.got = sizeof(w.rec);
	t0 = clock_ms();
	laneworker_stop(&w);
	CHECK(stopped(pid, 1500) == false);
	CHECK(stopped(pid, 6000));
	CHECK(clock_ms() - t0 >= 2000);
	CHECK_EQ_INT(laneworker_start(&w, open_deaf, NULL, &own_cfg, "sluice-lane2", NULL), 0);
	pid = w.pid;
	CHECK_EQ_INT(poll_for(&w, &r, 300), -EAGAIN);
	w.got = sizeof(w.rec);
	laneworker_stop(&w);
	t0 = clock_ms();
	child_stop_all();
	CHECK(gone(pid));
	CHECK(clock_ms() - t0 < 6000);
}

/* Read exactly len bytes from fd within ms. */
static bool read_all(int fd, uint8_t *p, size_t len, int ms)
{
	int64_t end = clock_ms() + ms;

	while (len > 0 && clock_ms() < end) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		ssize_t n;

		poll(&pf, 1, 100);
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	return len == 0;
}

static bool write_all(int fd, const uint8_t *p, size_t len, int ms)
{
	int64_t end = clock_ms() + ms;

	while (len > 0 && clock_ms() < end) {
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		ssize_t n;

		poll(&pf, 1, 100);
		n = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
	}
	return len == 0;
}

/* /proc/PID/comm, or "". */
static const char *comm_of(pid_t pid)
{
	static char buf[64];
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

static void listen_remote(int *ls)
{
	memset(&remote_addr, 0, sizeof(remote_addr));
	remote_addr.sun_family = AF_UNIX;
	/* Abstract: nothing on disk to clean up. */
	snprintf(remote_addr.sun_path + 1, sizeof(remote_addr.sun_path) - 1,
		 "sluice-test-laneworker-%d", (int)getpid());
	*ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(*ls >= 0);
	CHECK_EQ_INT(bind(*ls, (struct sockaddr *)&remote_addr, sizeof(remote_addr)), 0);
	CHECK_EQ_INT(listen(*ls, 2), 0);
}

/*
 * The far end of the fake transport, in this process: the helper's mux,
 * whose streams "connect" to one end of a socket pair (the other is
 * dst_keep), and the pipe to the worker pumped by hand.
 */
struct far {
	struct evloop loop;
	struct mux *mux;
	int rs;
	int dst_keep;
	size_t pending; /* a write that found the socket full: offer it again */
};

static int far_connect(void *ctx, const struct wire_open *dst)
{
	struct far *f = ctx;
	int sp[2];

	(void)dst;
	if (f->dst_keep >= 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) < 0)
		return -ECONNREFUSED;
	f->dst_keep = sp[1];
	return sp[0];
}

static const struct mux_ops far_ops = {.connect = far_connect};

/* One round of the far end's pipe and its streams, and of the parent's loop. */
static void far_pump(struct far *f, struct evloop *parent)
{
	size_t len;
	uint8_t *in = mux_in_space(f->mux, &len);
	const uint8_t *out;
	ssize_t n;

	n = in && len ? recv(f->rs, in, len, MSG_DONTWAIT) : -1;
	if (n > 0)
		CHECK_EQ_INT(mux_in_commit(f->mux, (size_t)n), 0);
	mux_fill(f->mux);
	out = mux_out_peek(f->mux, &len);
	if (f->pending)
		len = f->pending;
	if (len) {
		n = send(f->rs, out, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		f->pending = n < 0 && errno == EAGAIN ? len : 0;
		mux_out_pin(f->mux, f->pending > 0);
		if (n > 0)
			mux_out_consume(f->mux, (size_t)n);
	}
	evloop_run_once(&f->loop, 5);
	evloop_run_once(parent, 0);
}

/* Move len bytes from src to dst (the test's two ends of the stream) within ms, pumping. */
static bool far_carry(struct far *f, struct evloop *parent, int from, int to, const uint8_t *p,
		      uint8_t *got, size_t len, int ms)
{
	int64_t end = clock_ms() + ms;
	size_t sent = 0, have = 0;

	while (have < len && clock_ms() < end) {
		ssize_t n;

		if (sent < len && (n = send(from, p + sent, len - sent, MSG_DONTWAIT)) > 0)
			sent += (size_t)n;
		far_pump(f, parent);
		if ((n = recv(to, got + have, len - have, MSG_DONTWAIT)) > 0)
			have += (size_t)n;
		else if (n == 0)
			return false;
	}
	return have == len && memcmp(got, p, len) == 0;
}

/* The parent's view of the lane, within ms: streams up to want, or the lane's end. */
static bool far_wait(struct far *f, struct evloop *parent, struct laneown *o, size_t streams,
		     bool ended, int ms)
{
	int64_t end = clock_ms() + ms;
	struct mux_stats st;

	while (clock_ms() < end) {
		far_pump(f, parent);
		laneown_stats(o, &st);
		if (ended ? o->ended : st.streams == streams && !o->ended)
			return true;
	}
	return false;
}

/*
 * A TCP connection over loopback, both ends non-blocking: [0] is handed to
 * a worker, [1] is the application's. Over TCP an RST (ECONNRESET) and a
 * FIN (0) differ, as they do for the applications sluice carries.
 */
static bool tcp_pair(int sp[2])
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = false;

	sp[0] = sp[1] = -1;
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 1) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) < 0)
		goto out;
	sp[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sp[1] < 0 || connect(sp[1], (struct sockaddr *)&a, sizeof(a)) < 0)
		goto out;
	sp[0] = accept4(ls, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	ok = sp[0] >= 0 && fcntl(sp[1], F_SETFL, O_NONBLOCK) == 0;
out:
	if (ls >= 0)
		close(ls);
	return ok;
}

/* How the application's end ended, within ms: 0 for a FIN, -ECONNRESET for an RST. */
static int app_end(int fd, int ms)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	char c;
	ssize_t n;

	if (poll(&pf, 1, ms) != 1)
		return -ETIMEDOUT;
	n = recv(fd, &c, 1, MSG_DONTWAIT);
	return n < 0 ? -errno : n == 0 ? 0 : 1;
}

/*
 * A worker up with its far end's mux, and one connection handed to it and
 * open at both ends: sp[1] is the application's. Returns the worker's pid.
 */
static pid_t own_with_stream(struct laneworker *w, struct far *f, struct laneown *o,
			     struct evloop *parent, int ls, const struct wire_open *dst, int sp[2])
{
	struct laneworker_result r;

	CHECK_EQ_INT(laneworker_start(w, open_fake, NULL, &own_cfg, "sluice-lane3", NULL), 0);
	CHECK_EQ_INT(poll_for(w, &r, 5000), 0);
	f->rs = accept(ls, NULL, NULL);
	CHECK(f->rs >= 0);
	f->mux = mux_new(&f->loop, 12345, 65536, &far_ops, f);
	CHECK(f->mux != NULL);
	mux_set_peer_window(f->mux, own_cfg.window);
	CHECK_EQ_INT(laneown_attach(o, parent, w->sock), 0);
	CHECK(tcp_pair(sp));
	CHECK_EQ_INT(laneown_give(o, sp[0], dst), 0);
	CHECK(far_wait(f, parent, o, 1, false, 5000));
	return w->pid;
}

/*
 * A worker that owns its lane: a connection handed to it over the socket
 * opens a stream on its own mux, bytes go both ways through the transport
 * (whose writes push back), the reports count the stream and its bytes,
 * and its biggest streams; the parent closing its end ends the worker with
 * the stream reset; and a lane whose far end goes says why, and ends.
 */
static void test_owned(void)
{
	static uint8_t up[300000], down[300000], got[300000];
	struct wire_open dst = {.family = AF_INET, .port = 8080};
	struct evloop parent;
	struct laneworker w;
	struct laneworker_result r;
	struct laneown o;
	struct mux_stats st;
	struct far f;
	int ls, sp[2], st_code = 0, k;
	char how[64];
	size_t i;
	pid_t pid;

	for (i = 0; i < sizeof(up); i++) {
		up[i] = (uint8_t)(i * 7 + 1);
		down[i] = (uint8_t)(i * 13 + 5);
	}
	dst.addr[0] = 192, dst.addr[1] = 0, dst.addr[2] = 2, dst.addr[3] = 7;
	CHECK_EQ_INT(evloop_init(&parent), 0);
	memset(&f, 0, sizeof(f));
	f.dst_keep = -1;
	CHECK_EQ_INT(evloop_init(&f.loop), 0);
	listen_remote(&ls);
	CHECK_EQ_INT(laneworker_start(&w, open_fake, NULL, &own_cfg, "sluice-lane3", NULL), 0);
	pid = w.pid;
	CHECK_EQ_INT(poll_for(&w, &r, 5000), 0);
	CHECK_EQ_INT(r.status, 0);
	CHECK(!r.handed);
	CHECK_EQ_INT(r.peer.window, 12345);
	CHECK_STR(r.detail, "fake transport");
	/* It names itself: ps tells it from the tunnel. */
	CHECK_STR(comm_of(pid), "sluice-lane3\n");
	f.rs = accept(ls, NULL, NULL);
	CHECK(f.rs >= 0);
	f.mux = mux_new(&f.loop, 12345, 65536, &far_ops, &f);
	CHECK(f.mux != NULL);
	mux_set_peer_window(f.mux, own_cfg.window);
	CHECK_EQ_INT(laneown_attach(&o, &parent, w.sock), 0);

	/* A connection handed over: ours is closed at once, the worker's opens a stream. */
	CHECK(tcp_pair(sp));
	CHECK_EQ_INT(laneown_give(&o, sp[0], &dst), 0);
	CHECK(fcntl(sp[0], F_GETFD) < 0);
	laneown_stats(&o, &st);
	CHECK_EQ_INT(st.streams, 1);
	/* The far end connects when the OPEN arrives; one byte goes first. */
	CHECK_EQ_INT(send(sp[1], up, 1, MSG_DONTWAIT), 1);
	{
		int64_t end = clock_ms() + 5000;

		got[0] = 0;
		while ((f.dst_keep < 0 || recv(f.dst_keep, got, 1, MSG_DONTWAIT) != 1) &&
		       clock_ms() < end)
			far_pump(&f, &parent);
	}
	CHECK(f.dst_keep >= 0 && got[0] == up[0]);
	CHECK(far_carry(&f, &parent, sp[1], f.dst_keep, up, got, sizeof(up), 20000));
	CHECK(far_carry(&f, &parent, f.dst_keep, sp[1], down, got, sizeof(down), 20000));
	/* The reports: one stream, its bytes, and it is the biggest. */
	{
		int64_t end = clock_ms() + 3000;

		do {
			far_pump(&f, &parent);
			laneown_stats(&o, &st);
		} while (st.rx_bytes < sizeof(down) && clock_ms() < end);
	}
	CHECK_EQ_INT(st.streams, 1);
	CHECK_EQ_INT(st.tx_bytes, sizeof(up) + 1);
	CHECK_EQ_INT(st.rx_bytes, sizeof(down));
	CHECK_EQ_INT(o.last.n_top, 1);
	CHECK_EQ_INT(o.last.top[0].dst.port, 8080);
	CHECK_EQ_INT(o.last.top[0].sofar.sent, sizeof(up) + 1);
	CHECK(!o.ended);

	/* The far end closes, then ours: the worker's report counts the stream gone. */
	close(f.dst_keep);
	f.dst_keep = -1;
	{
		int64_t end = clock_ms() + 5000;
		ssize_t n = -1;

		while (n != 0 && clock_ms() < end) {
			far_pump(&f, &parent);
			n = recv(sp[1], got, 1, MSG_DONTWAIT);
		}
		CHECK_EQ_INT(n, 0);
	}
	close(sp[1]);
	CHECK(far_wait(&f, &parent, &o, 0, false, 5000));

	/* The parent's end: a stream still open is reset, and the worker goes. */
	CHECK(tcp_pair(sp));
	CHECK_EQ_INT(laneown_give(&o, sp[0], &dst), 0);
	CHECK(far_wait(&f, &parent, &o, 1, false, 5000));
	laneown_detach(&o);
	laneworker_stop(&w);
	CHECK(stopped(pid, 6000));
	CHECK_EQ_INT(app_end(sp[1], 2000), -ECONNRESET);
	close(sp[1]);
	mux_free(f.mux);
	close(f.rs);
	if (f.dst_keep >= 0)
		close(f.dst_keep);
	f.dst_keep = -1;

	/* A lane whose far end goes: the worker says why, and ends. */
	CHECK_EQ_INT(laneworker_start(&w, open_fake, NULL, &own_cfg, "sluice-lane3", NULL), 0);
	pid = w.pid;
	CHECK_EQ_INT(poll_for(&w, &r, 5000), 0);
	CHECK_EQ_INT(r.status, 0);
	f.rs = accept(ls, NULL, NULL);
	CHECK(f.rs >= 0);
	CHECK_EQ_INT(laneown_attach(&o, &parent, w.sock), 0);
	close(f.rs);
	{
		int64_t end = clock_ms() + 5000;

		while (!o.ended && clock_ms() < end)
			evloop_run_once(&parent, 100);
	}
	/* Its own words, not only that its socket ended. */
	CHECK(o.ended && o.last.failed == 1);
	/* It said why: it exits after its goodbye, and nobody waits for that. */
	CHECK(!o.gone);
	CHECK_STR(laneown_failed(&o), o.last.why);
	CHECK(o.last.why[0] != '\0');
	CHECK(child_reap(pid, 5000, &st_code));
	w.pid = 0;
	/* A lane that ended takes no more connections, and leaves the socket to the caller. */
	CHECK(tcp_pair(sp));
	CHECK(laneown_give(&o, sp[0], &dst) < 0);
	CHECK(fcntl(sp[0], F_GETFD) >= 0);
	close(sp[0]);
	close(sp[1]);
	laneown_detach(&o);
	laneworker_stop(&w);

	/*
	 * SIGTERM (the parent's death, through PDEATHSIG) resets the streams
	 * too; SIGKILL (the OOM killer's) runs no code of ours, and still the
	 * stream is reset, not ended with a FIN that looks complete.
	 */
	for (i = 0; i < 2; i++) {
		pid = own_with_stream(&w, &f, &o, &parent, ls, &dst, sp);
		CHECK_EQ_INT(kill(pid, i == 0 ? SIGTERM : SIGKILL), 0);
		/* Its socket ends with it, and the lane knows its worker is gone. */
		{
			int64_t end = clock_ms() + 5000;

			while (!o.ended && clock_ms() < end)
				evloop_run_once(&parent, 100);
		}
		CHECK(o.ended && o.gone);
		/* How it ended, as the lane's drop will say: nothing for an end of its own. */
		for (k = 0; k < 250 &&
			    laneworker_exit(&w, LANEWORKER_REAP_MS, how, sizeof(how)) == -EAGAIN;
		     k++)
			;
		CHECK_EQ_INT(w.pid, 0);
		CHECK_STR(how, i == 0 ? "" : "killed by SIGKILL");
		CHECK_EQ_INT(app_end(sp[1], 2000), -ECONNRESET);
		close(sp[1]);
		laneown_detach(&o);
		laneworker_stop(&w);
		mux_free(f.mux);
		close(f.rs);
	}
	close(ls);
	evloop_close(&f.loop);
	evloop_close(&parent);
}

/* One line from a pipe within ms, without its newline. */
static bool read_line(int fd, char *buf, size_t cap, int ms)
{
	int64_t end = clock_ms() + ms;
	size_t have = 0;

	while (have < cap - 1 && clock_ms() < end) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		ssize_t n;

		poll(&pf, 1, 100);
		n = read(fd, buf + have, 1);
		if (n == 0)
			break;
		if (n == 1 && buf[have] == '\n') {
			buf[have] = '\0';
			return true;
		}
		if (n == 1)
			have++;
	}
	buf[have] = '\0';
	return false;
}

/* pid is gone, or dead and waiting for whoever adopted it, within ms. */
static bool gone_soon(pid_t pid, int ms)
{
	int64_t end = clock_ms() + ms;
	char path[64], stat[256];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	while (clock_ms() < end) {
		FILE *f = fopen(path, "r");
		char *close_paren;

		if (!f)
			return true;
		if (!fgets(stat, sizeof(stat), f))
			stat[0] = '\0';
		fclose(f);
		close_paren = strrchr(stat, ')');
		if (close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z')
			return true;
		usleep(20000);
	}
	return false;
}

/* A -e lane's login: a real command (no ssh, a shell that echoes), run as transport_cmd runs it. */
static void open_cmd(void *arg, struct transport **t, struct laneworker_result *r)
{
	int ret = transport_cmd_open(t, (const char *)arg, "host.test", NULL, 0, NULL);

	if (ret == 0)
		ret = transport_exec(*t, "remote-cmd", r->err, sizeof(r->err));
	r->status = ret;
}

/*
 * A transport that is only descriptors is handed over with the record:
 * the parent talks to the command itself, the worker's exit code is the
 * command's, and ending the worker ends the command.
 */
static void test_handed(void)
{
	static const char echo_cmd[] = "sh -c 'echo said >&2; cat; exit 7' sh";
	static const char hold_cmd[] = "sh -c 'echo $$ >&2; exec sleep 30' sh";
	struct laneworker w;
	struct laneworker_result r;
	char got[64];
	int st = 0, cmd_pid = 0;
	pid_t pid;

	CHECK_EQ_INT(
	    laneworker_start(&w, open_cmd, (void *)echo_cmd, &own_cfg, "sluice-lane5", NULL), 0);
	pid = w.pid;
	CHECK_EQ_INT(poll_for(&w, &r, 5000), 0);
	CHECK_EQ_INT(r.status, 0);
	CHECK(r.handed);
	CHECK(w.passed_sock >= 0 && w.passed_err >= 0);
	CHECK(fcntl(w.passed_sock, F_GETFD) & FD_CLOEXEC);
	/* Nothing comes through the worker's own socket any more: the command answers directly. */
	CHECK(write_all(w.passed_sock, (const uint8_t *)"ping\n", 5, 5000));
	CHECK(read_all(w.passed_sock, (uint8_t *)got, 5, 5000));
	CHECK(memcmp(got, "ping\n", 5) == 0);
	CHECK(read_line(w.passed_err, got, sizeof(got), 5000));
	CHECK_STR(got, "said");
	/* Its stream's end ends the command, and the worker with its code. */
	shutdown(w.passed_sock, SHUT_WR);
	CHECK(child_reap(pid, 5000, &st));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	w.pid = 0;
	laneworker_stop(&w);
	CHECK_EQ_INT(w.passed_sock, -1);

	/* Ending the worker ends the command it holds. */
	CHECK_EQ_INT(
	    laneworker_start(&w, open_cmd, (void *)hold_cmd, &own_cfg, "sluice-lane5", NULL), 0);
	pid = w.pid;
	CHECK_EQ_INT(poll_for(&w, &r, 5000), 0);
	CHECK(r.handed);
	memset(got, 0, sizeof(got));
	CHECK(read_line(w.passed_err, got, sizeof(got), 5000));
	cmd_pid = atoi(got);
	CHECK(cmd_pid > 1 && kill(cmd_pid, 0) == 0);
	laneworker_stop(&w);
	CHECK(stopped(pid, 6000));
	CHECK(cmd_pid > 1 && gone_soon(cmd_pid, 5000));

	/* A command killed by a signal: the worker says 128 + the signal, as transport_cmd does. */
	CHECK_EQ_INT(
	    laneworker_start(&w, open_cmd, (void *)hold_cmd, &own_cfg, "sluice-lane5", NULL), 0);
	pid = w.pid;
	CHECK_EQ_INT(poll_for(&w, &r, 5000), 0);
	CHECK(r.handed);
	CHECK(read_line(w.passed_err, got, sizeof(got), 5000));
	cmd_pid = atoi(got);
	CHECK(cmd_pid > 1 && kill(cmd_pid, SIGKILL) == 0);
	CHECK(child_reap(pid, 5000, &st));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL);
	w.pid = 0;
	laneworker_stop(&w);
}

int main(void)
{
	log_init("test_laneworker", LOG_WARN);
	RUN(test_record);
	RUN(test_refused);
	RUN(test_stuck);
	RUN(test_owned);
	RUN(test_handed);
	T_EXIT();
}
