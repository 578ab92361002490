/*
 * Allocation failure on the relay path, by fault injection: this test is
 * linked with -Wl,--wrap=realloc,--wrap=calloc, so the mux's own
 * allocations can be made to fail on demand. A stream whose buffer cannot
 * grow, or that cannot be created, is reset; the session, and the other
 * streams, carry on.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mux_rig.h"

#define WINDOW (256u << 10)

static int fail_realloc, fail_calloc;

void *__real_realloc(void *p, size_t n);
void *__real_calloc(size_t n, size_t size);

void *__wrap_realloc(void *p, size_t n)
{
	if (fail_realloc) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_realloc(p, n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	if (fail_calloc) {
		errno = ENOMEM;
		return NULL;
	}
	return __real_calloc(n, size);
}

static const struct mux_ops c_ops = {0}, h_ops = {.connect = rig_connect};

static void test_buffer_growth_fails(void)
{
	static char big[64 << 10];
	struct rig r;
	int app1, far1, app2, far2, k, reset = 0;
	char buf[8];
	ssize_t n = 0;

	rig_open(&r, WINDOW, &c_ops, &h_ops);
	CHECK_EQ_INT(rig_open_small(&r, &app1, &far1), 0);
	CHECK_EQ_INT(rig_open_small(&r, &app2, &far2), 0);
	/* Stream 1's far reader takes nothing; its buffer must grow, and cannot. */
	fail_realloc = 1;
	for (k = 0; k < 16 && !reset; k++) {
		if (write(app1, big, sizeof(big)) < 0 && errno != EAGAIN)
			reset = 1;
		rig_pump(&r, 2);
	}
	fail_realloc = 0;
	for (k = 0; k < 50 && !reset; k++) {
		rig_pump(&r, 1);
		if (read(app1, buf, sizeof(buf)) < 0 && errno == ECONNRESET)
			reset = 1;
	}
	CHECK(reset);
	CHECK_EQ_INT(r.proto_err, 0);
	/* Stream 2 still works, both ways. */
	CHECK_EQ_INT(write(app2, "ok", 2), 2);
	for (k = 0; k < 50 && n <= 0; k++) {
		rig_pump(&r, 1);
		n = read(far2, buf, sizeof(buf));
	}
	CHECK_EQ_INT(n, 2);
	/* A new stream cannot be made while allocation fails, and is refused, not fatal. */
	fail_calloc = 1;
	{
		int a[2];
		struct wire_open o = {.family = AF_INET, .port = 80};
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a);
		CHECK(mux_open_stream(r.c, a[0], &o) < 0);
		close(a[1]);
	}
	fail_calloc = 0;
	rig_pump(&r, 5);
	CHECK_EQ_INT(r.proto_err, 0);
	close(app1), close(far1), close(app2), close(far2);
	rig_free(&r);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_buffer_growth_fails);
	T_EXIT();
}
