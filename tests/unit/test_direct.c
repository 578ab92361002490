/*
 * Unit tests for --direct's hand-over (client/cmd/direct.c) against a fake
 * ControlMaster: a unix listener this test answers by hand, after reading
 * what direct.c sends and receiving the passed socket as a real master
 * would. Each case checks what the application's end of the connection
 * sees (data, a clean end, or a reset) and where the connection went.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../../client/cmd/direct.h"
#include "../../common/evloop.h"
#include "../../common/fdpass.h"
#include "t.h"

static char dir[64], path[96];
static struct evloop loop;
static struct direct *d;
static int lfd = -1;
static int fb_calls, fb_fd = -1;

/* The fallback takes fd, as the mux would: the test keeps it to look at. */
static int fallback(void *ctx, int fd, const struct wire_open *dst)
{
	fb_calls++;
	if (fb_fd >= 0)
		close(fb_fd);
	fb_fd = fd;
	return 0;
}

static void setup(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	snprintf(dir, sizeof(dir), "/tmp/sluice-test-direct.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/master", dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == 0 && listen(lfd, 4) == 0);
	CHECK_EQ_INT(evloop_init(&loop), 0);
	CHECK_EQ_INT(direct_new(&d, &loop, path, -1, 0), 0);
	direct_set_fallback(d, fallback, NULL);
	fb_calls = 0;
	fb_fd = -1;
}

static void teardown(void)
{
	direct_free(d);
	evloop_close(&loop);
	if (fb_fd >= 0)
		close(fb_fd);
	if (lfd >= 0)
		close(lfd);
	lfd = -1;
	unlink(path);
	rmdir(dir);
}

static const struct wire_open dst = {.family = AF_INET, .port = 80, .addr = {198, 51, 100, 2}};

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What the master got for one connection. */
struct took {
	int ctl;   /* its end of the control connection */
	int fd[2]; /* the socket, passed twice */
	uint32_t rid;
	char host[64];
	uint32_t port;
};

static int read_full(int fd, uint8_t *p, size_t n)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		if (poll(&pfd, 1, 2000) != 1)
			return -1;
		r = read(fd, p + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* The one descriptor a byte from the client carries, as OpenSSH's mm_receive_fd takes it. */
static int recv_fd(int sock)
{
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	struct fdpass_got got;
	char byte;

	/* A bounded wait: a sender that passes fewer fails the case, not the whole run. */
	if (poll(&pfd, 1, 2000) != 1 || fdpass_recv(sock, &byte, 1, 0, &got) != 1)
		return -1;
	if (got.n != 1 || got.lost) {
		fdpass_close(&got);
		return -1;
	}
	return got.fd[0];
}

/* Accept one control connection and read HELLO, NEW_STDIO_FWD and the two sockets. */
static int master_take(struct took *t)
{
	uint8_t b[256];
	uint32_t n, hl;

	memset(t, 0, sizeof(*t));
	t->ctl = accept(lfd, NULL, NULL);
	if (t->ctl < 0)
		return -1;
	if (read_full(t->ctl, b, 16) || get32(b) != 8 || get32(b + 4) != 1 || get32(b + 8) != 4)
		return -1;
	/* b + 12 holds the request's length */
	n = get32(b + 12);
	if (n > sizeof(b) || read_full(t->ctl, b, n) || get32(b) != 0x10000008)
		return -1;
	t->rid = get32(b + 4);
	if (get32(b + 8) != 0) /* reserved */
		return -1;
	hl = get32(b + 12);
	if (hl >= sizeof(t->host) || 16 + hl + 4 > n)
		return -1;
	memcpy(t->host, b + 16, hl);
	t->port = get32(b + 16 + hl);
	t->fd[0] = recv_fd(t->ctl);
	t->fd[1] = recv_fd(t->ctl);
	return t->fd[0] >= 0 && t->fd[1] >= 0 ? 0 : -1;
}

static void master_send(struct took *t, uint32_t type, uint32_t rid, const char *why)
{
	uint8_t b[128];
	size_t n = 8;

	be32(b + 4, type);
	if (type == 1) {
		be32(b + 8, 4);
		n = 12;
	} else {
		be32(b + 8, rid);
		n = 12;
		if (type == 0x80000006) {
			be32(b + 12, 7);
			n = 16;
		} else {
			be32(b + 12, (uint32_t)strlen(why));
			memcpy(b + 16, why, strlen(why));
			n = 16 + strlen(why);
		}
	}
	be32(b, (uint32_t)(n - 4));
	CHECK(write(t->ctl, b, n) == (ssize_t)n);
}

static void master_drop(struct took *t)
{
	if (t->fd[0] > 0)
		close(t->fd[0]);
	if (t->fd[1] > 0)
		close(t->fd[1]);
	t->fd[0] = t->fd[1] = -1;
}

static void spin(void)
{
	for (int i = 0; i < 5; i++)
		evloop_run_once(&loop, 20);
}

/* What the application's end sees within a second: 1 data, 0 a clean end, -errno. */
static int app_sees(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	char c;
	ssize_t r;

	if (poll(&pfd, 1, 1000) != 1)
		return -ETIMEDOUT;
	r = recv(fd, &c, 1, MSG_DONTWAIT);
	return r > 0 ? 1 : r == 0 ? 0 : -errno;
}

static void test_opened_then_ends(void)
{
	struct t_pair p = t_tcp_pair();
	struct direct_stats st;
	struct took t;

	setup();
	CHECK_EQ_INT(direct_open(d, p.b, &dst), 0);
	CHECK_EQ_INT(master_take(&t), 0);
	CHECK_STR(t.host, "198.51.100.2");
	CHECK_EQ_INT(t.port, 80);
	master_send(&t, 1, 0, NULL);
	master_send(&t, 0x80000006, t.rid, NULL);
	spin();
	direct_get_stats(d, &st);
	CHECK_EQ_INT(st.opened, 1);
	CHECK_EQ_INT(st.active, 1);
	/* The master relays: what it writes reaches the application. */
	CHECK(write(t.fd[1], "x", 1) == 1);
	CHECK_EQ_INT(app_sees(p.a), 1);
	/* The channel ends: the master closes its copies, then the control connection. */
	master_drop(&t);
	close(t.ctl);
	spin();
	CHECK_EQ_INT(app_sees(p.a), 0);
	direct_get_stats(d, &st);
	CHECK_EQ_INT(st.active, 0);
	CHECK_EQ_INT(fb_calls, 0);
	close(p.a);
	teardown();
}

static void test_refused_before_any_falls_back(void)
{
	struct t_pair p;
	struct direct_stats st;
	struct took t;
	int i;

	setup();
	for (i = 0; i < 3; i++) {
		p = t_tcp_pair();
		CHECK_EQ_INT(direct_open(d, p.b, &dst), 0);
		CHECK_EQ_INT(master_take(&t), 0);
		master_send(&t, 1, 0, NULL);
		master_send(&t, 0x80000003, t.rid, "Session open refused by peer");
		spin();
		master_drop(&t);
		close(t.ctl);
		/* The fallback has the very socket: the application is still connected. */
		CHECK_EQ_INT(fb_calls, i + 1);
		CHECK(write(fb_fd, "y", 1) == 1);
		CHECK_EQ_INT(app_sees(p.a), 1);
		close(p.a);
	}
	/* Three refusals and no channel: the master is not asked for a while. */
	p = t_tcp_pair();
	CHECK_EQ_INT(direct_open(d, p.b, &dst), 0);
	CHECK_EQ_INT(fb_calls, 4);
	CHECK(accept(lfd, NULL, NULL) < 0 && errno == EAGAIN);
	direct_get_stats(d, &st);
	CHECK_EQ_INT(st.refused, 3);
	CHECK_EQ_INT(st.fell_back, 4);
	close(p.a);
	teardown();
}

/*
 * Open one, then answer the next with `type` (and rid + delta), after a
 * HELLO unless skip_hello: the application sees a reset.
 */
static void reset_case(uint32_t type, uint32_t delta, bool close_first, bool skip_hello)
{
	struct t_pair p1 = t_tcp_pair(), p2 = t_tcp_pair();
	struct took t1, t2;

	setup();
	CHECK_EQ_INT(direct_open(d, p1.b, &dst), 0);
	CHECK_EQ_INT(master_take(&t1), 0);
	master_send(&t1, 1, 0, NULL);
	master_send(&t1, 0x80000006, t1.rid, NULL);
	spin();
	CHECK_EQ_INT(direct_open(d, p2.b, &dst), 0);
	CHECK_EQ_INT(master_take(&t2), 0);
	if (!skip_hello)
		master_send(&t2, 1, 0, NULL);
	if (close_first) {
		close(t2.ctl);
		t2.ctl = -1;
	} else {
		master_send(&t2, type, t2.rid + delta, "no");
	}
	spin();
	master_drop(&t2); /* the last copies: the reset goes out now */
	CHECK_EQ_INT(app_sees(p2.a), -ECONNRESET);
	CHECK_EQ_INT(fb_calls, 0);
	master_drop(&t1);
	if (t2.ctl >= 0)
		close(t2.ctl);
	close(t1.ctl);
	close(p1.a);
	close(p2.a);
	teardown();
}

/* Once a channel opened, a refusal is the destination's: reset, as the tunnel would. */
static void test_refused_after_one_opened_resets(void)
{
	reset_case(0x80000003, 0, false, false);
}

/* An answer for another request is out of turn: reset, never a second relay. */
static void test_wrong_request_id_resets(void)
{
	reset_case(0x80000006, 1, false, false);
}

/* SESSION_OPENED before the master's HELLO is out of turn too. */
static void test_opened_before_hello_resets(void)
{
	reset_case(0x80000006, 0, false, true);
}

/* The master goes before answering: it may have relayed some, so reset. */
static void test_no_answer_resets(void)
{
	reset_case(0, 0, true, false);
}

/* Closing the session resets what the master still relays, once its copies go too. */
static void test_free_resets_open(void)
{
	struct t_pair p = t_tcp_pair();
	struct took t;

	setup();
	CHECK_EQ_INT(direct_open(d, p.b, &dst), 0);
	CHECK_EQ_INT(master_take(&t), 0);
	master_send(&t, 1, 0, NULL);
	master_send(&t, 0x80000006, t.rid, NULL);
	spin();
	direct_free(d);
	d = NULL;
	master_drop(&t);
	CHECK_EQ_INT(app_sees(p.a), -ECONNRESET);
	close(t.ctl);
	close(p.a);
	teardown();
}

/* The master dies: its control connections close like a channel's end, but the reset goes out. */
static void test_master_gone_resets(void)
{
	struct t_pair p = t_tcp_pair();
	int stdio[2];
	struct took t;

	CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, stdio), 0);
	setup();
	direct_free(d);
	CHECK_EQ_INT(direct_new(&d, &loop, path, stdio[0], 0), 0);
	direct_set_fallback(d, fallback, NULL);
	CHECK_EQ_INT(direct_open(d, p.b, &dst), 0);
	CHECK_EQ_INT(master_take(&t), 0);
	master_send(&t, 1, 0, NULL);
	master_send(&t, 0x80000006, t.rid, NULL);
	spin();
	/* As an exiting master does: stdio first, then the rest. */
	close(stdio[1]);
	close(t.ctl);
	spin();
	master_drop(&t);
	CHECK_EQ_INT(app_sees(p.a), -ECONNRESET);
	close(stdio[0]);
	close(p.a);
	teardown();
}

/* No master listening: the fallback takes it at once. */
static void test_no_master_falls_back(void)
{
	struct t_pair p = t_tcp_pair();

	setup();
	close(lfd);
	lfd = -1;
	unlink(path);
	CHECK_EQ_INT(direct_open(d, p.b, &dst), 0);
	CHECK_EQ_INT(fb_calls, 1);
	close(p.a);
	teardown();
}

/* A low descriptor limit lowers how many the master is given. */
static void test_limit_from_rlimit(void)
{
	struct rlimit old, low;
	struct direct_stats st;
	struct t_pair p[3];
	struct took t[2];
	int i;

	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 64 + 3 * 2; /* room for two (this process holds far fewer than 64) */
	CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
	setup();
	CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &old), 0);
	direct_get_stats(d, &st);
	CHECK_EQ_INT(st.max_active, 2);
	for (i = 0; i < 3; i++) {
		p[i] = t_tcp_pair();
		CHECK_EQ_INT(direct_open(d, p[i].b, &dst), 0);
		if (i < 2)
			CHECK_EQ_INT(master_take(&t[i]), 0);
	}
	CHECK_EQ_INT(fb_calls, 1);
	for (i = 0; i < 2; i++) {
		master_drop(&t[i]);
		close(t[i].ctl);
	}
	for (i = 0; i < 3; i++)
		close(p[i].a);
	teardown();
}

int main(void)
{
	RUN(test_opened_then_ends);
	RUN(test_refused_before_any_falls_back);
	RUN(test_refused_after_one_opened_resets);
	RUN(test_wrong_request_id_resets);
	RUN(test_opened_before_hello_resets);
	RUN(test_no_answer_resets);
	RUN(test_free_resets_open);
	RUN(test_master_gone_resets);
	RUN(test_no_master_falls_back);
	RUN(test_limit_from_rlimit);
	T_EXIT();
}
