/*
 * cpustall: the CPU pressure stall counter (see cpustall.h).
 */
#include "cpustall.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CPUSTALL_PATH "/proc/pressure/cpu"

int cpustall_parse(const char *text, uint64_t *us)
{
	const char *p;
	char *end;
	unsigned long long v;

	/* "some" is the first line; "full" (5.13 and later) may follow it. */
	if (strncmp(text, "some ", 5) != 0)
		return -EINVAL;
	p = strstr(text, " total=");
	if (!p || (strchr(text, '\n') && p > strchr(text, '\n')))
		return -EINVAL;
	p += strlen(" total=");
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || (*end != '\n' && *end != '\0'))
		return -EINVAL;
	*us = v;
	return 0;
}

int cpustall_read(uint64_t *us)
{
	char buf[256];
	ssize_t n;
	int fd, ret;

	fd = open(CPUSTALL_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	/* Switched off (psi=0): EOPNOTSUPP where the file is still made, else ENOENT at open. */
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret < 0)
		return ret;
	buf[n] = '\0';
	return cpustall_parse(buf, us);
}
