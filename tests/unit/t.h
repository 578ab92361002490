/*
 * t.h: the unit-test harness. Each test function is one test; the runner
 * prints "PASS name" or "FAIL name: file:line: expr" per test, which
 * tests/run.sh counts. A binary exits non-zero when any test failed.
 */
#ifndef SLUICE_T_H
#define SLUICE_T_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

static int t_failed_here;
static int t_total_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			if (!t_failed_here)                                                        \
				printf("FAIL %s: %s:%d: %s\n", t_cur, __FILE__, __LINE__, #cond);  \
			t_failed_here = 1;                                                         \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
	do {                                                                                       \
		long long t_a = (long long)(a), t_b = (long long)(b);                              \
		if (t_a != t_b) {                                                                  \
			if (!t_failed_here)                                                        \
				printf("FAIL %s: %s:%d: %s == %lld, want %lld\n", t_cur, __FILE__, \
				       __LINE__, #a, t_a, t_b);                                    \
			t_failed_here = 1;                                                         \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *t_a = (a), *t_b = (b);                                                 \
		if (!t_a || !t_b || strcmp(t_a, t_b) != 0) {                                       \
			if (!t_failed_here)                                                        \
				printf("FAIL %s: %s:%d: %s == \"%s\", want \"%s\"\n", t_cur,       \
				       __FILE__, __LINE__, #a, t_a ? t_a : "(null)",               \
				       t_b ? t_b : "(null)");                                      \
			t_failed_here = 1;                                                         \
		}                                                                                  \
	} while (0)

static const char *t_cur = "";

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		t_cur = #fn;                                                                       \
		t_failed_here = 0;                                                                 \
		fn();                                                                              \
		if (t_failed_here)                                                                 \
			t_total_failed++;                                                          \
		else                                                                               \
			printf("PASS %s\n", #fn);                                                  \
		fflush(stdout);                                                                    \
	} while (0)

#define T_EXIT() return t_total_failed ? 1 : 0

/* A connected loopback TCP pair, both ends non-blocking; a is the connecting side. */
struct t_pair {
	int a, b;
};

static inline struct t_pair t_tcp_pair(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	struct t_pair p = {-1, -1};
	int l = socket(AF_INET, SOCK_STREAM, 0);

	bind(l, (struct sockaddr *)&sin, sizeof(sin));
	listen(l, 1);
	getsockname(l, (struct sockaddr *)&sin, &len);
	p.a = socket(AF_INET, SOCK_STREAM, 0);
	connect(p.a, (struct sockaddr *)&sin, sizeof(sin));
	p.b = accept(l, NULL, NULL);
	close(l);
	fcntl(p.a, F_SETFL, O_NONBLOCK);
	fcntl(p.b, F_SETFL, O_NONBLOCK);
	return p;
}

/* Replace path with len bytes of data (mode 0644 when created). Returns 0 or -1. */
static inline int t_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = write(fd, data, len);
	return close(fd) == 0 && w == (ssize_t)len ? 0 : -1;
}

#endif
