/*
 * fdio: writing a whole buffer to a blocking descriptor, the one way both
 * ends do it, closing a socket with a reset, and a forked child's closing
 * of what it inherited. Only libc: the static helper links this file.
 */
#ifndef SLUICE_FDIO_H
#define SLUICE_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* Write all len bytes (retrying after EINTR and short writes). 0, or -errno (-EIO for 0 written).
 */
int fd_write_all(int fd, const void *buf, size_t len);

/* The same with pwrite, starting at offset off. */
int fd_pwrite_all(int fd, const void *buf, size_t len, off_t off);

/* Close a TCP socket with an RST: its peer learns at once that it will not be served. */
void fd_reset_close(int fd);

/*
 * Close every descriptor from lowest up: close_range where the kernel has
 * it (5.9), else those /proc lists, else all below 4096.
 */
void fd_close_from(int lowest);

#endif
