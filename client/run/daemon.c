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

#include "../../common/fdio.h"

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

/*
 * The pid in an existing file: 0 when empty, -errno when unreadable. Opened
 * without blocking, since a FIFO put there would hold us in open() for
 * ever; only a regular file is a pid file (-EINVAL otherwise).
 */
static int read_pid(const char *path)
{
	char buf[32] = "";
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK), n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
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
		/* Gone meanwhile: try again. Anything else but a regular file is no pid file. */
		if (*other == -ENOENT) {
			*other = 0;
			continue;
		}
		if (*other < 0) {
			fd = *other;
			*other = 0;
			return fd;
		}
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

int logfile_open(const char *path, bool strict, const char **why)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	char dir[4096];
	struct stat st;
	int dfd, fd = -1, ret = 0;

	*why = NULL;
	if (!*base)
		return -EISDIR;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	/* The checks and the open go through one directory fd: nothing to swap in between. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	/*
	 * Whoever may write the directory may put a file or link there for
	 * root to append to; a sticky bit does not stop them creating one
	 * before us. Group write is trusted only for root's own group.
	 */
	if (strict && (fstat(dfd, &st) < 0 || st.st_uid != 0 || (st.st_mode & S_IWOTH) ||
		       ((st.st_mode & S_IWGRP) && st.st_gid != 0))) {
		*why = "its directory is writable by users other than root";
		ret = -EPERM;
		goto out;
	}
	/* Not through a symlink, and not blocked by a FIFO that has no reader. */
	fd = openat(dfd, base, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		    0640);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ELOOP)
			*why = "it is a symbolic link";
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (strict && !S_ISREG(st.st_mode)) {
		*why = "it is not a regular file";
		ret = -EINVAL;
	} else if (strict && st.st_uid != 0) {
		*why = "it is not owned by root";
		ret = -EPERM;
	} else if (strict && st.st_nlink != 1) {
		/* A hard link to some other root file: appending would write into that one. */
		*why = "it has other hard links";
		ret = -EPERM;
	} else if (fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) < 0) {
		ret = -errno;
	}
out:
	if (ret < 0 && fd >= 0)
		close(fd);
	close(dfd);
	return ret < 0 ? ret : fd;
}
