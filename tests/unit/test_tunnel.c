/*
 * Unit tests for the relay (client/link/tunnel.c) over the transport interface:
 * a test backend on a socketpair that answers EAGAIN to every third write
 * and checks that the relay then offers exactly the same bytes again (what
 * libssh2 needs), a real helper-side mux at the far end, and real loopback
 * TCP sockets as the streams. Also the reasons the relay gives when the
 * helper's stream ends or breaks the protocol.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../client/link/transport.h"
#include "../../client/link/tunnel.h"
#include "../../common/mux.h"
#include "t.h"

#define WINDOW (256u << 10)

/* --- a transport that is picky the way libssh2 is --------------------------- */

struct flaky {
	struct transport t;
	int sock, err;
	unsigned calls, eagains, violations;
	uint8_t *held; /* the bytes of the write that got EAGAIN */
	size_t held_len;
	int status;
};

static struct flaky *fl(struct transport *t)
{
	return (struct flaky *)t;
}

static ssize_t io_result(ssize_t n)
{
	return n >= 0 ? n : errno == EAGAIN ? -EAGAIN : -errno;
}

static ssize_t f_read(struct transport *t, void *buf, size_t len)
{
	return io_result(recv(fl(t)->sock, buf, len, MSG_DONTWAIT));
}

static ssize_t f_read_stderr(struct transport *t, void *buf, size_t len)
{
	return io_result(recv(fl(t)->err, buf, len, MSG_DONTWAIT));
}

static ssize_t f_write(struct transport *t, const void *buf, size_t len)
{
	struct flaky *f = fl(t);

	if (f->held) {
		/* A retry after EAGAIN: the same bytes, or the transport would be corrupted. */
		if (len != f->held_len || memcmp(buf, f->held, len))
			f->violations++;
		free(f->held);
		f->held = NULL;
	} else if (++f->calls % 3 == 0) {
		f->held = malloc(len);
		if (f->held) {
			memcpy(f->held, buf, len);
			f->held_len = len;
		}
		f->eagains++;
		return -EAGAIN;
	}
	return io_result(send(f->sock, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL));
}

static void f_wait_on(struct transport *t, int fd[2], uint32_t *events)
{
	fd[0] = fl(t)->sock;
	fd[1] = fl(t)->err;
	*events = EPOLLIN | (fl(t)->held ? EPOLLOUT : 0);
}

static bool f_buffered(struct transport *t)
{
	return false;
}

static const char *f_why(struct transport *t)
{
	return "test transport failed";
}

static int f_exit_status(struct transport *t)
{
	return fl(t)->status;
}

static const struct transport_ops flaky_ops = {
    .read = f_read,
    .read_stderr = f_read_stderr,
    .write = f_write,
    .wait_on = f_wait_on,
    .buffered = f_buffered,
    .why = f_why,
    .exit_status = f_exit_status,
};

/* --- the far end: a helper mux on the other ends -------------------------- */

static int next_connect_fd = -1;

static int far_connect(void *ctx, const struct wire_open *dst)
{
	int fd = next_connect_fd;

	next_connect_fd = -1;
	return fd >= 0 ? fd : -ECONNREFUSED;
}

static const struct mux_ops client_ops = {0};
static const struct mux_ops far_ops = {.connect = far_connect};

struct rig {
	struct evloop loop;
	struct flaky f;
	struct tunnel tun;
	struct mux *c, *far;
	int far_sock, far_err; /* the far ends of the transport's socketpairs */
	int far_proto;
};

/* The far mux's side of the pipe: plain non-blocking reads and writes. */
static void far_pump(struct rig *r)
{
	for (int i = 0; i < 64; i++) {
		size_t room, len;
		uint8_t *in = mux_in_space(r->far, &room);
		ssize_t n = recv(r->far_sock, in, room, MSG_DONTWAIT);
		const uint8_t *out;
		int moved = 0;

		if (n > 0) {
			if (mux_in_commit(r->far, (size_t)n) < 0)
				r->far_proto = 1;
			moved = 1;
		}
		mux_fill(r->far);
		out = mux_out_peek(r->far, &len);
		if (len) {
			n = send(r->far_sock, out, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0) {
				mux_out_consume(r->far, (size_t)n);
				moved = 1;
			}
		}
		if (!moved)
			break;
	}
}

static void run(struct rig *r, int rounds)
{
	for (int i = 0; i < rounds && !r->tun.failed; i++) {
		tunnel_pump(&r->tun);
		far_pump(r);
		evloop_run_once(&r->loop, 1);
	}
}

static void rig_init(struct rig *r)
{
	int sp[2], ep[2];

	memset(r, 0, sizeof(*r));
	CHECK_EQ_INT(evloop_init(&r->loop), 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, ep) == 0);
	fcntl(sp[0], F_SETFL, O_NONBLOCK);
	fcntl(sp[1], F_SETFL, O_NONBLOCK);
	fcntl(ep[0], F_SETFL, O_NONBLOCK);
	r->f.t.ops = &flaky_ops;
	r->f.t.name = "test";
	r->f.sock = sp[0];
	r->f.err = ep[0];
	r->f.status = 42;
	r->far_sock = sp[1];
	r->far_err = ep[1];
	r->c = mux_new(&r->loop, WINDOW, 64 << 10, &client_ops, NULL);
	r->far = mux_new(&r->loop, WINDOW, 64 << 10, &far_ops, NULL);
	mux_set_peer_window(r->c, WINDOW);
	mux_set_peer_window(r->far, WINDOW);
	CHECK_EQ_INT(tunnel_init(&r->tun, &r->f.t, &r->loop, r->c), 0);
}

static void rig_free(struct rig *r)
{
	mux_free(r->c);
	mux_free(r->far);
	evloop_close(&r->loop);
	close(r->f.sock);
	close(r->f.err);
	if (r->far_sock >= 0)
		close(r->far_sock);
	close(r->far_err);
	free(r->f.held);
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 13));
}

/* 8 MiB each way through one stream, every byte checked, over a transport that says EAGAIN often.
 */
static void test_bulk_through_picky_transport(void)
{
	static uint8_t buf[64 << 10];
	const size_t total = 8u << 20;
	struct wire_open dst = {.family = AF_INET, .port = 80, .addr = {192, 0, 2, 1}};
	struct t_pair app = t_tcp_pair(), far = t_tcp_pair();
	size_t up_sent = 0, up_got = 0, down_sent = 0, down_got = 0, bad = 0;
	struct rig r;
	int i;

	rig_init(&r);
	next_connect_fd = far.a;
	CHECK_EQ_INT(mux_open_stream(r.c, app.a, &dst), 0);
	for (i = 0; i < 200000 && (up_got < total || down_got < total) && !r.tun.failed; i++) {
		ssize_t n;
		size_t k;

		if (up_sent < total) {
			size_t want = total - up_sent < sizeof(buf) ? total - up_sent : sizeof(buf);
			for (k = 0; k < want; k++)
				buf[k] = pattern(up_sent + k);
			n = write(app.b, buf, want);
			if (n > 0)
				up_sent += (size_t)n;
		}
		if (down_sent < total) {
			size_t want =
			    total - down_sent < sizeof(buf) ? total - down_sent : sizeof(buf);
			for (k = 0; k < want; k++)
				buf[k] = pattern(down_sent + k) ^ 0x5a;
			n = write(far.b, buf, want);
			if (n > 0)
				down_sent += (size_t)n;
		}
		run(&r, 1);
		while ((n = read(far.b, buf, sizeof(buf))) > 0) {
			for (k = 0; k < (size_t)n; k++)
				bad += buf[k] != pattern(up_got + k);
			up_got += (size_t)n;
		}
		while ((n = read(app.b, buf, sizeof(buf))) > 0) {
			for (k = 0; k < (size_t)n; k++)
				bad += buf[k] != (uint8_t)(pattern(down_got + k) ^ 0x5a);
			down_got += (size_t)n;
		}
	}
	CHECK_EQ_INT(r.tun.failed, 0);
	CHECK_EQ_INT(up_got, total);
	CHECK_EQ_INT(down_got, total);
	CHECK_EQ_INT(bad, 0);
	/* The picky path was taken, and never with other bytes than the first time. */
	printf("# %u writes, %u EAGAIN, %u violations\n", r.f.calls, r.f.eagains, r.f.violations);
	CHECK(r.f.eagains > 30);
	CHECK_EQ_INT(r.f.violations, 0);
	CHECK_EQ_INT(r.far_proto, 0);
	close(app.b);
	close(far.b);
	rig_free(&r);
}

/* The helper's stream ends: the reason carries its exit status and its last words on stderr. */
static void test_helper_exit_reason(void)
{
	struct rig r;

	rig_init(&r);
	CHECK(write(r.far_err, "starting\ncannot bind: in use\n", 29) == 29);
	run(&r, 5);
	CHECK_EQ_INT(r.tun.failed, 0);
	close(r.far_sock);
	r.far_sock = -1;
	run(&r, 50);
	CHECK_EQ_INT(r.tun.failed, -EPIPE);
	CHECK_STR(r.tun.why, "the remote helper exited with status 42: cannot bind: in use");
	rig_free(&r);

	/* Words still on an unfinished line when it ends are what it said last. */
	rig_init(&r);
	CHECK(write(r.far_err, "fatal: out of memory", 20) == 20);
	run(&r, 5);
	close(r.far_sock);
	r.far_sock = -1;
	run(&r, 50);
	CHECK_STR(r.tun.why, "the remote helper exited with status 42: fatal: out of memory");
	rig_free(&r);
}

/* Garbage from the helper ends the session with a clear reason, never a crash. */
static void test_protocol_garbage(void)
{
	static const uint8_t junk[] = {0xff, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4, 'j', 'u', 'n', 'k'};
	struct rig r;

	rig_init(&r);
	CHECK(send(r.far_sock, junk, sizeof(junk), 0) == (ssize_t)sizeof(junk));
	run(&r, 20);
	CHECK(r.tun.failed < 0);
	CHECK(strstr(r.tun.why, "protocol error from the remote helper") != NULL);
	rig_free(&r);
}

int main(void)
{
	RUN(test_bulk_through_picky_transport);
	RUN(test_helper_exit_reason);
	RUN(test_protocol_garbage);
	T_EXIT();
}
