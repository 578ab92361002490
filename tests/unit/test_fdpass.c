/*
 * Unit tests for common/fdpass.c over real unix socket pairs: descriptors
 * ride on the first byte and come out close-on-exec, still open and
 * pointing where they did; a message with none brings none; too many are
 * refused before the kernel sees them; when the receiver is out of
 * descriptors the kernel's drop is reported, not hidden; the end of the
 * stream keeps nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/fdpass.h"
#include "t.h"

/* Whether a and b are the same open file. */
static int same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void test_both_ways(void)
{
	int sp[2], pipe_fds[2], fds[2];
	struct fdpass_got got;
	char buf[8];
	size_t i;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	CHECK(pipe(pipe_fds) == 0);
	fds[0] = pipe_fds[0];
	fds[1] = pipe_fds[1];

	CHECK_EQ_INT(fdpass_send(sp[0], "abc", 3, fds, 2, MSG_NOSIGNAL), 3);
	/* The first byte alone brings both descriptors; the rest of the message none. */
	CHECK_EQ_INT(fdpass_recv(sp[1], buf, 1, 0, &got), 1);
	CHECK_EQ_INT(buf[0], 'a');
	CHECK_EQ_INT(got.n, 2);
	CHECK(!got.lost);
	for (i = 0; i < got.n && i < 2; i++) {
		CHECK(got.fd[i] != fds[i]);
		CHECK(same_file(got.fd[i], fds[i]));
		CHECK(fcntl(got.fd[i], F_GETFD) & FD_CLOEXEC);
	}
	/* Usable: a byte into the write end that came out of the read end that came. */
	if (got.n == 2) {
		CHECK_EQ_INT(write(got.fd[1], "z", 1), 1);
		CHECK_EQ_INT(read(got.fd[0], buf, 1), 1);
		CHECK_EQ_INT(buf[0], 'z');
	}
	fdpass_close(&got);
	CHECK_EQ_INT(fdpass_recv(sp[1], buf, sizeof(buf), 0, &got), 2);
	CHECK_EQ_INT(got.n, 0);
	CHECK(memcmp(buf, "bc", 2) == 0);

	/* None to send: a plain message. */
	CHECK_EQ_INT(fdpass_send(sp[0], "d", 1, NULL, 0, 0), 1);
	got.n = 3; /* emptied first, whatever it held */
	CHECK_EQ_INT(fdpass_recv(sp[1], buf, sizeof(buf), 0, &got), 1);
	CHECK_EQ_INT(got.n, 0);
	CHECK(!got.lost);

	/* Too many: refused here, and nothing is sent. */
	{
		int many[FDPASS_MAX + 1];

		for (i = 0; i < FDPASS_MAX + 1; i++)
			many[i] = pipe_fds[0];
		CHECK_EQ_INT(fdpass_send(sp[0], "e", 1, many, FDPASS_MAX + 1, 0), -EINVAL);
		CHECK_EQ_INT(fdpass_send(sp[0], "f", 1, many, FDPASS_MAX, 0), 1);
		CHECK_EQ_INT(fdpass_recv(sp[1], buf, sizeof(buf), 0, &got), 1);
		CHECK_EQ_INT(buf[0], 'f');
		CHECK_EQ_INT(got.n, FDPASS_MAX);
		fdpass_close(&got);
		CHECK_EQ_INT(got.n, 0);
	}

	/* Nothing waiting, non-blocking: as recvmsg, and nothing kept. */
	CHECK_EQ_INT(fdpass_recv(sp[1], buf, sizeof(buf), MSG_DONTWAIT, &got), -EAGAIN);
	CHECK_EQ_INT(got.n, 0);

	/* The end of the stream. */
	close(sp[0]);
	CHECK_EQ_INT(fdpass_recv(sp[1], buf, sizeof(buf), 0, &got), 0);
	CHECK_EQ_INT(got.n, 0);
	close(sp[1]);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}

/* A receiver at its descriptor limit: the bytes come, the kernel drops the descriptors, and says
 * so. */
static void test_no_room(void)
{
	struct rlimit old, low;
	int sp[2], fds[2], top;
	struct fdpass_got got;
	char c;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	CHECK(pipe(fds) == 0);
	CHECK_EQ_INT(fdpass_send(sp[0], "x", 1, fds, 2, 0), 1);
	/* The lowest free descriptor is the limit: none can be added. */
	top = dup(sp[1]);
	CHECK(top >= 0);
	close(top);
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low = old;
	low.rlim_cur = (rlim_t)top;
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	CHECK_EQ_INT(fdpass_recv(sp[1], &c, 1, 0, &got), 1);
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	CHECK_EQ_INT(c, 'x');
	CHECK(got.lost);
	CHECK(got.n < 2);
	fdpass_close(&got);
	close(sp[0]);
	close(sp[1]);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	RUN(test_both_ways);
	RUN(test_no_room);
	T_EXIT();
}
