/*
 * priv_slot: per-user slots for the privileged parts (see priv_slot.h).
 *
 * A slot's file is removed when its part lets go of it, so a directory of
 * leftovers never grows. That is safe with flock only if a taker checks,
 * once it holds the lock, that the name still leads to the file it locked:
 * otherwise it may hold a lock on a file just unlinked while a third part
 * locks a new one of the same name.
 */
#include "priv_slot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAKE_TRIES 8

/* Lock slot name in dfd: 1 taken, 0 someone holds it, -EAGAIN lost a race, or -errno. */
static int slot_try(struct priv_slot *s, int dfd, const char *name)
{
	struct stat a, b;
	int fd, r;

	fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? 0 : -errno;
		goto out;
	}
	if (fstat(fd, &a) < 0) {
		r = -errno;
		goto out;
	}
	/* Its holder unlinked it between our open and our lock: try again. */
	if (fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) < 0 || a.st_ino != b.st_ino ||
	    a.st_dev != b.st_dev) {
		r = -EAGAIN;
		goto out;
	}
	s->fd = fd;
	return 1;
out:
	close(fd);
	return r;
}

/* dir opened, made (and its parent) if missing; -EPERM when anyone but us could write to it. */
static int dir_open(const char *dir)
{
	char parent[256], *slash;
	struct stat st;
	int dfd, r;

	if (snprintf(parent, sizeof(parent), "%s", dir) >= (int)sizeof(parent))
		return -ENAMETOOLONG;
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (mkdir(parent, 0700) < 0 && errno != EEXIST)
			return -errno;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fstat(dfd, &st) < 0) {
		r = -errno;
		close(dfd);
		return r;
	}
	if (st.st_uid != geteuid() || st.st_mode & 022) {
		close(dfd);
		return -EPERM;
	}
	return dfd;
}

int priv_slot_take(struct priv_slot *s, const char *dir, uid_t uid, unsigned max)
{
	unsigned i;
	int tries, r = -EUSERS;

	memset(s, 0, sizeof(*s));
	s->fd = s->dfd = -1;
	for (tries = 0; tries < TAKE_TRIES; tries++) {
		s->dfd = dir_open(dir);
		if (s->dfd < 0)
			return s->dfd;
		for (i = 0, r = -EUSERS; i < max; i++) {
			snprintf(s->name, sizeof(s->name), "%u.%u", (unsigned)uid, i);
			r = slot_try(s, s->dfd, s->name);
			if (r == 1)
				return (int)i;
			if (r < 0)
				break;
			r = -EUSERS;
		}
		close(s->dfd);
		s->dfd = -1;
		/* ENOENT: the last part removed the directory while we looked in it. */
		if (r != -EAGAIN && r != -ENOENT)
			break;
	}
	return r;
}

void priv_slot_release(struct priv_slot *s, const char *dir)
{
	if (s->fd < 0)
		return;
	/* Unlinked while still locked: a taker that opened it first sees it gone. */
	unlinkat(s->dfd, s->name, 0);
	close(s->fd);
	close(s->dfd);
	s->fd = s->dfd = -1;
	rmdir(dir); /* ENOTEMPTY while another part runs */
}
