/*
 * fdio: whole-buffer writes (see fdio.h).
 */
#include "fdio.h"

#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
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
