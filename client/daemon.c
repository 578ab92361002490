/*
 * daemon: the fork that waits for readiness, and the pid file (see
 * daemon.h).
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/fdio.h"

static int ready_fd = -1;

int daemon_fork(void)
{
	int p[2], st = 0;
	pid_t pid;
	ssize_t n;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		close(p[0]);
		ready_fd = p[1];
		return 0;
	}
	close(p[1]);
	/* One byte: ready. End of file: the child died first and already said why. */
	while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR)
		;
	if (n == 1 && c == 'R')
		_exit(0);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(st) && WEXITSTATUS(st) ? WEXITSTATUS(st) : 1);
}

int daemon_ready(void)
{
	int fd;

	if (ready_fd < 0)
		return 0;
	if (setsid() < 0 || chdir("/") < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	if (fd_write_all(ready_fd, "R", 1) < 0)
		return -EPIPE;
	close(ready_fd);
	ready_fd = -1;
	return 0;
}

static int read_pid(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), n;

	if (fd < 0)
		return -errno;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? atoi(buf) : 0;
}

int pidfile_create(const char *path, bool *stale, int *other)
{
	char buf[32];
	int fd, tries, len;

	*stale = false;
	*other = 0;
	for (tries = 0; tries < 2; tries++) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd >= 0)
			break;
		if (errno != EEXIST)
			return -errno;
		*other = read_pid(path);
		/* Empty: another instance is between creating it and writing its pid. */
		if (*other == 0 || (*other > 0 && (kill(*other, 0) == 0 || errno == EPERM)))
			return -EEXIST;
		*stale = true;
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
	}
	if (fd < 0)
		return -EEXIST;
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (fd_write_all(fd, buf, (size_t)len) < 0) {
		close(fd);
		unlink(path);
		return -EIO;
	}
	close(fd);
	return 0;
}

void pidfile_remove(const char *path)
{
	if (path && read_pid(path) == (int)getpid())
		unlink(path);
}
