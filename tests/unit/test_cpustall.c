/*
 * Unit tests for client/link/cpustall.c: the "some" line of
 * /proc/pressure/cpu, and this machine's own counter where it has one.
 */
#include <errno.h>
#include <stdint.h>

#include "../../client/link/cpustall.h"
#include "t.h"

static void test_parse(void)
{
	static const struct {
		const char *text;
		int ret;
		uint64_t us;
	} cases[] = {
	    {"some avg10=1.88 avg60=25.38 avg300=17.48 total=717481297\n"
	     "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
	     0, 717481297},
	    /* Before 5.13 the file has no "full" line for the CPU. */
	    {"some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", 0, 0},
	    {"some avg10=0.00 avg60=0.00 avg300=0.00 total=18446744073709551615", 0, UINT64_MAX},
	    /* "full" is not what is asked for, nor a total from the wrong line. */
	    {"full avg10=0.00 avg60=0.00 avg300=0.00 total=5\n", -EINVAL, 0},
	    {"some avg10=0.00 avg60=0.00 avg300=0.00\nfull avg10=0 avg60=0 avg300=0 total=5\n",
	     -EINVAL, 0},
	    {"some avg10=0.00 total=\n", -EINVAL, 0},
	    {"some avg10=0.00 total=-1\n", -EINVAL, 0},
	    {"some avg10=0.00 total=12x\n", -EINVAL, 0},
	    {"some avg10=0.00 total=18446744073709551616\n", -EINVAL, 0},
	    {"", -EINVAL, 0},
	    {"something total=5\n", -EINVAL, 0},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t us = 42;

		CHECK_EQ_INT(cpustall_parse(cases[i].text, &us), cases[i].ret);
		if (cases[i].ret == 0)
			CHECK(us == cases[i].us);
		else
			CHECK_EQ_INT(us, 42);
	}
}

/* Where the kernel keeps the figures: they read, and never go back. */
static void test_read(void)
{
	uint64_t a, b;
	int ret = cpustall_read(&a);

	if (ret == -ENOENT || ret == -EOPNOTSUPP) {
		printf("# test_read: this kernel keeps no CPU pressure figures (%d): not checked\n",
		       ret);
		return;
	}
	CHECK_EQ_INT(ret, 0);
	CHECK_EQ_INT(cpustall_read(&b), 0);
	CHECK(b >= a);
}

int main(void)
{
	RUN(test_parse);
	RUN(test_read);
	T_EXIT();
}
