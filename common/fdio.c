/*
 * fdio: whole-buffer writes, resets, and closing what a child inherited (see fdio.h).
 */
#include "fdio.h"

#include <errno.h>
#include <stdint.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int write_loop(int fd, const void *buf, size_t len, off_t off, int at)
{
	const uint8_t *p = buf;
	size_t o = 0;

	while (o < len) {
		ssize_t w =
		    at ? pwrite(fd, p + o, len - o, off + (off_t)o) : write(fd, p + o, len - o);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		o += (size_t)w;
	}
	return 0;
}

int fd_write_all(int fd, const void *buf, size_t len)
{
	return write_loop(fd, buf, len, 0, 0);
}

int fd_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	return write_loop(fd, buf, len, off, 1);
}

void fd_reset_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

void fd_close_from(int lowest)
{
	DIR *d;
	int fd;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowest, ~0u, 0u) == 0)
		return;
#endif
	d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;

		while ((e = readdir(d))) {
			fd = atoi(e->d_name);
			if (fd >= lowest && fd != dirfd(d) && e->d_name[0] != '.')
				close(fd);
		}
		closedir(d);
		return;
	}
	for (fd = lowest; fd < 4096; fd++)
		close(fd);
}
