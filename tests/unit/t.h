/*
 * t.h: the unit-test harness. Each test function is one test; the runner
 * prints "PASS name" or "FAIL name: file:line: expr" per test, which
 * tests/run.sh counts. A binary exits non-zero when any test failed.
 */
#ifndef SLUICE_T_H
#define SLUICE_T_H

#include <stdio.h>
#include <string.h>

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

#endif
