/* fdpass: SCM_RIGHTS both ways (see fdpass.h). */
#include "fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Room for FDPASS_MAX descriptors, aligned as a cmsghdr must be. */
union fdpass_ctl {
	struct cmsghdr h;
	char buf[CMSG_SPACE(FDPASS_MAX * sizeof(int))];
};

ssize_t fdpass_send(int sock, const void *buf, size_t len, const int *fds, size_t n, int flags)
{
	union fdpass_ctl ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t r;

	if (n > FDPASS_MAX)
		return -EINVAL;
	if (n > 0) {
		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE(n * sizeof(int));
		ctl.h.cmsg_level = SOL_SOCKET;
		ctl.h.cmsg_type = SCM_RIGHTS;
		ctl.h.cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(&ctl.h), fds, n * sizeof(int));
	}
	r = sendmsg(sock, &m, flags);
	return r < 0 ? -errno : r;
}

ssize_t fdpass_recv(int sock, void *buf, size_t len, int flags, struct fdpass_got *got)
{
	union fdpass_ctl ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = len};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = ctl.buf,
			   .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *h;
	ssize_t r;

	got->n = 0;
	got->lost = false;
	r = recvmsg(sock, &m, flags | MSG_CMSG_CLOEXEC);
	if (r < 0)
		return -errno;
	if (m.msg_flags & MSG_CTRUNC)
		got->lost = true;
	for (h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
		size_t i, k;

		/* Anything else (credentials, with SO_PASSCRED) holds no descriptor to close. */
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
			/* The buffer holds FDPASS_MAX, so this is a guard, not a path. */
			if (got->n < FDPASS_MAX) {
				got->fd[got->n++] = fd;
			} else {
				close(fd);
				got->lost = true;
			}
		}
	}
	/* Descriptors with no byte cannot come; at the end of the stream nothing is kept. */
	if (r == 0)
		fdpass_close(got);
	return r;
}

void fdpass_close(struct fdpass_got *got)
{
	size_t i;

	for (i = 0; i < got->n; i++)
		close(got->fd[i]);
	got->n = 0;
}
