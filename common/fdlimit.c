/*
 * fdlimit: raises RLIMIT_NOFILE; 10,000 connections do not fit in 1024.
 */
#include "fdlimit.h"

#include <errno.h>
#include <sys/resource.h>

long fdlimit_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	return (long)rl.rlim_cur;
}
