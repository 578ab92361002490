/*
 * hosts: sluice's lines in /etc/hosts (for -H).
 *
 * File format. Every line sluice adds ends in MARK, "  # sluice -H", and a
 * newline (LF, never CRLF); a line is ours exactly when it ends that way, so
 * a user's line that merely mentions sluice, or ends in the marker without
 * a newline, is never touched. Ours go at the end, one per entry, in the
 * caller's order:
 *
 *	198.51.100.7 db.internal  # sluice -H
 *
 * When the user's content is non-empty and does not end in a newline, we
 * must add one before our lines. We then write NOEOL_LINE,
 *
 *	# no newline at end of file  # sluice -H
 *
 * as our first line: it says the line just before it is the user's last
 * line and its newline is ours. Stripping drops every marked line, wherever
 * it is (stale ones from a crashed run too), except that the line before a
 * NOEOL_LINE (the last one, if several are in a row) in our trailing block
 * of marked lines is kept without that newline, even when it happens to end
 * in the marker or be NOEOL_LINE itself (it only does because of our
 * newline). A NOEOL_LINE with user lines after it (appended after a crash)
 * is just a stale line: the newline stays, since joining their line onto
 * the old last line would be worse than one extra byte. An empty file gets
 * our lines and nothing else.
 *
 * So stripping is idempotent, and strip(render(old, entries)) == old byte
 * for byte for any old without lines of ours (a user line in the middle
 * that ends in the marker is, by this definition, ours).
 *
 * Owners. Several tunnels may hold lines at once; each line of one names
 * its owner after the marker, "  # sluice -H 4711" (the privileged part's
 * pid). A writer with an owner strips only its own lines, lines of owners
 * that are gone, and lines that name no owner (an older sluice's); others'
 * stay, and while any stay in the trailing block so does the NOEOL_LINE
 * and the newline it speaks for: the last owner out restores the file. A
 * writer without an owner (id 0) writes unowned lines and strips every
 * marked line, as above.
 *
 * Writing replaces the file atomically: an unnamed file (O_TMPFILE) next to
 * it gets the content, the old file's owner, mode and extended attributes
 * (ACLs, an SELinux label), fsync, then a name and a rename over the old
 * one. A process killed mid-write thus leaves no temporary behind (it has a
 * name only between a link and a rename); leftovers of older versions, of
 * file systems without O_TMPFILE or of that window go with hosts_sweep. Where the file is a mount
 *point (containers, `ip netns exec` bind-mount it) rename fails with EBUSY, or EXDEV, and the new
 *content is written over the old in place instead: not atomic, but pwrite-then-ftruncate means a
 *crash mid-way leaves at worst the new content followed by the old tail, never an empty file.
 *Symlinks are followed so the link itself is never replaced by a regular file.
 *
 * Turns. Two tunnels that rewrite at once would each render from what they
 * read, and the later rename would drop the earlier one's lines. An owner
 * with a turn callback holds what it returns from the read to the rename.
 * Other editors take no turns: the check before the rename is all there
 * is against them.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "hosts.h"

#include "../../common/fdio.h"

#define MARK	     "  # sluice -H"
#define MARK_LEN     (sizeof(MARK) - 1)
#define NOEOL_LINE   "# no newline at end of file" MARK "\n"
#define NOEOL_LEN    (sizeof(NOEOL_LINE) - 1)
#define HOSTS_MAX    (16u << 20) /* refuse to slurp anything bigger */
#define RACE_RETRIES 3
/* Our temporaries beside the file: TMP_PREFIX and TMP_RAND random letters and digits. */
#define TMP_PREFIX     ".hosts.sluice-"
#define TMP_PREFIX_LEN (sizeof(TMP_PREFIX) - 1)
#define TMP_RAND       6
#define TMP_NAME_LEN   (TMP_PREFIX_LEN + TMP_RAND + 1)

int hosts_name_valid(const char *name)
{
	size_t total = 0, label = 0;
	const char *p;

	if (!name || !*name)
		return 0;
	for (p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (++total > 253)
			return 0;
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

/* Format e's line into buf; returns its length, or 0 when e is not valid. */
static size_t entry_line(char *buf, size_t buflen, const struct hosts_entry *e, uint32_t id)
{
	char own[16] = "";
	unsigned char bin[sizeof(struct in6_addr)];
	char addr[INET6_ADDRSTRLEN];
	int af, len;

	if (!memchr(e->addr, '\0', sizeof(e->addr)) || !memchr(e->name, '\0', sizeof(e->name)))
		return 0;
	if (!hosts_name_valid(e->name))
		return 0;
	if (inet_pton(AF_INET, e->addr, bin) == 1)
		af = AF_INET;
	else if (inet_pton(AF_INET6, e->addr, bin) == 1)
		af = AF_INET6;
	else
		return 0;
	/* Canonical form, so the same address always renders the same bytes. */
	if (!inet_ntop(af, bin, addr, sizeof(addr)))
		return 0;
	if (id)
		snprintf(own, sizeof(own), " %u", id);
	len = snprintf(buf, buflen, "%s %s" MARK "%s\n", addr, e->name, own);
	if (len < 0 || (size_t)len >= buflen)
		return 0;
	return (size_t)len;
}

/*
 * Whether the line [p, p+len), newline included, is sluice's: it ends in
 * MARK, or MARK, a space and an owner's id (1 to 10 digits), then '\n'.
 * *id gets the owner, 0 for none.
 */
static int line_owner(const char *p, size_t len, uint32_t *id)
{
	size_t digits = 0;
	uint64_t v = 0, scale = 1;

	*id = 0;
	if (len < MARK_LEN + 1 || p[len - 1] != '\n')
		return 0;
	len--;
	while (digits < len && digits <= 10 && p[len - 1 - digits] >= '0' &&
	       p[len - 1 - digits] <= '9') {
		v += (uint64_t)(p[len - 1 - digits] - '0') * scale;
		scale *= 10;
		digits++;
	}
	if (digits && digits <= 10 && v && v <= UINT32_MAX && len > digits &&
	    p[len - 1 - digits] == ' ') {
		len -= digits + 1;
		*id = (uint32_t)v;
	}
	return len >= MARK_LEN && memcmp(p + len - MARK_LEN, MARK, MARK_LEN) == 0;
}

static int line_marked(const char *p, size_t len)
{
	uint32_t id;

	return line_owner(p, len, &id);
}

/* Whether a rewrite by o takes the line away: its own, a gone owner's, an unowned one. */
static bool line_dropped(const char *p, size_t len, const struct hosts_owner *o)
{
	uint32_t id;

	if (!line_owner(p, len, &id))
		return false;
	return !o->id || !id || id == o->id || (o->alive && !o->alive(id));
}

static size_t line_len(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
}

/* Where the trailing run of marked lines starts (end if the last line is not marked). */
static const char *marked_tail(const char *p, const char *end)
{
	const char *tail = p;

	while (p < end) {
		size_t len = line_len(p, end);

		p += len;
		if (!line_marked(p - len, len))
			tail = p;
	}
	return tail;
}

static int line_noeol(const char *p, size_t len)
{
	return len == NOEOL_LEN && memcmp(p, NOEOL_LINE, NOEOL_LEN) == 0;
}

/* Whether lines of another owner stay in the trailing block once o's go. */
static bool tail_stays(const char *p, const char *end, const struct hosts_owner *o)
{
	while (p < end) {
		size_t len = line_len(p, end);

		if (!line_noeol(p, len) && !line_dropped(p, len, o))
			return true;
		p += len;
	}
	return false;
}

/* Copy old minus o's lines into out (which has room for old_len); returns the length. */
static size_t strip(const char *old, size_t old_len, const struct hosts_owner *own, char *out)
{
	const char *p = old, *end = old + old_len, *tail = marked_tail(old, end);
	bool stays = tail_stays(tail, end, own);
	size_t o = 0;

	while (p < end) {
		size_t len = line_len(p, end), next = 0, after = 0;

		if (p + len < end)
			next = line_len(p + len, end);
		if (p + len + next < end)
			after = line_len(p + len + next, end);
		/*
		 * The user's last line, even if it ends like ours (it only
		 * looks marked because of the newline we added): followed by
		 * our NOEOL_LINE, which is in our trailing block and the last
		 * of its kind in a row (one before it can be the user's last
		 * line, which happened to be that text).
		 */
		if (!stays && next && p + len >= tail && line_noeol(p + len, next) &&
		    !(after && line_noeol(p + len + next, after))) {
			memcpy(out + o, p, len - 1);
			o += len - 1;
			p += len + next;
			continue;
		}
		/* Another owner's lines still follow it: its newline is still needed. */
		if (stays && p >= tail && line_noeol(p, len)) {
			memcpy(out + o, p, len);
			o += len;
			p += len;
			continue;
		}
		if (!line_dropped(p, len, own)) {
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
	}
	return o;
}

static int entry_name_cmp(const void *a, const void *b)
{
	const struct hosts_entry *x = *(const struct hosts_entry *const *)a;
	const struct hosts_entry *y = *(const struct hosts_entry *const *)b;

	return strcasecmp(x->name, y->name);
}

/*
 * Mark the entries whose name the user's own lines (text, ours already
 * stripped) use: those names are the user's, whatever the remote says.
 * Sorted once, so a long hosts file costs a lookup per name on it.
 */
static int mark_shadowed(const char *text, size_t len, struct hosts_entry *e, size_t n)
{
	const char *p = text, *end = text + len;
	struct hosts_entry **by_name, key, *kp = &key;
	size_t i, all = n;

	if (n == 0)
		return 0;
	by_name = malloc(n * sizeof(*by_name));
	if (!by_name)
		return -ENOMEM;
	/* Entries without a terminated name are skipped later; they must not be compared. */
	for (i = 0, n = 0; i < all; i++) {
		e[i].shadowed = 0;
		if (memchr(e[i].name, '\0', sizeof(e[i].name)))
			by_name[n++] = &e[i];
	}
	qsort(by_name, n, sizeof(*by_name), entry_name_cmp);
	while (p < end) {
		const char *next = p + line_len(p, end), *hash = memchr(p, '#', (size_t)(next - p));
		const char *lend = hash ? hash : next;
		int field = 0;

		while (p < lend) {
			const char *tok;
			struct hosts_entry **hit;

			while (p < lend && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
				p++;
			tok = p;
			while (p < lend && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
				p++;
			/* The first field is the address; the names follow. */
			if (p == tok || field++ == 0 || (size_t)(p - tok) >= sizeof(key.name))
				continue;
			memcpy(key.name, tok, (size_t)(p - tok));
			key.name[p - tok] = '\0';
			hit = bsearch(&kp, by_name, n, sizeof(*by_name), entry_name_cmp);
			if (!hit)
				continue;
			/* Equal names sit together: mark the whole run. */
			for (i = (size_t)(hit - by_name);
			     i > 0 && !entry_name_cmp(&by_name[i - 1], &kp); i--)
				;
			for (; i < n && !entry_name_cmp(&by_name[i], &kp); i++)
				by_name[i]->shadowed = 1;
		}
		p = next;
	}
	free(by_name);
	return 0;
}

int hosts_render(const char *old, size_t old_len, struct hosts_entry *e, size_t n, char **out,
		 size_t *out_len)
{
	static const struct hosts_owner nobody;

	return hosts_render_as(old, old_len, &nobody, e, n, out, out_len);
}

int hosts_render_as(const char *old, size_t old_len, const struct hosts_owner *own,
		    struct hosts_entry *e, size_t n, char **out, size_t *out_len)
{
	char line[INET6_ADDRSTRLEN + sizeof(e->name) + MARK_LEN + 16];
	size_t cap, o, i;
	char *buf;

	if ((!old && old_len) || (!e && n) || !out || !out_len)
		return -EINVAL;
	if (old_len > HOSTS_MAX || n > HOSTS_MAX)
		return -EFBIG;
	/*
	 * Worst case up front (no overflow: both are bounded by the checks
	 * above). Output stops one line past HOSTS_MAX, so never more than that.
	 */
	cap = old_len + 1 + NOEOL_LEN + n * sizeof(line);
	if (cap > HOSTS_MAX + 1 + NOEOL_LEN + sizeof(line))
		cap = HOSTS_MAX + 1 + NOEOL_LEN + sizeof(line);
	cap++; /* the terminating NUL */
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	o = strip(old, old_len, own, buf);
	if (mark_shadowed(buf, o, e, n) < 0) {
		free(buf);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		size_t len;

		if (e[i].shadowed)
			continue;
		len = entry_line(line, sizeof(line), &e[i], own->id);
		if (!len)
			continue; /* defensive: the caller validates too */
		if (o > 0 && buf[o - 1] != '\n') {
			buf[o++] = '\n';
			memcpy(buf + o, NOEOL_LINE, NOEOL_LEN);
			o += NOEOL_LEN;
		}
		memcpy(buf + o, line, len);
		o += len;
		/* Past this we could not read the file back to restore it. */
		if (o > HOSTS_MAX) {
			free(buf);
			return -EFBIG;
		}
	}
	buf[o] = '\0'; /* convenience for callers and tests; not counted */
	*out = buf;
	*out_len = o;
	return 0;
}

static int read_all(int fd, char **data, size_t *len)
{
	size_t cap = 4096, o = 0;
	char *buf = malloc(cap), *nb;
	ssize_t r;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (o == cap) {
			/* One byte past the limit is enough to know it is too big. */
			if (cap > HOSTS_MAX) {
				free(buf);
				return -EFBIG;
			}
			cap = cap > HOSTS_MAX / 2 ? HOSTS_MAX + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + o, cap - o);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			r = -errno;
			free(buf);
			return (int)r;
		}
		if (r == 0)
			break;
		o += (size_t)r;
	}
	if (o > HOSTS_MAX) {
		free(buf);
		return -EFBIG;
	}
	*data = buf;
	*len = o;
	return 0;
}

int hosts_write_inplace(const char *path, const char *data, size_t len)
{
	int fd, r;

	if (len > (size_t)INT64_MAX)
		return -EFBIG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Write first, truncate after: a crash in between never leaves the file empty. */
	r = fd_pwrite_all(fd, data, len, 0);
	if (r == 0 && ftruncate(fd, (off_t)len) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Whether name is one of our temporaries: TMP_PREFIX then TMP_RAND letters or digits. */
static int tmp_name_ours(const char *name)
{
	size_t i;

	if (strncmp(name, TMP_PREFIX, TMP_PREFIX_LEN) != 0)
		return 0;
	for (i = 0; i < TMP_RAND; i++) {
		unsigned char c = (unsigned char)name[TMP_PREFIX_LEN + i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return 0;
	}
	return name[TMP_PREFIX_LEN + TMP_RAND] == '\0';
}

/* A fresh temporary name, of the shape the sweep recognises. */
static int tmp_name(char name[TMP_NAME_LEN])
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	unsigned char rnd[TMP_RAND];
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EAGAIN;
	memcpy(name, TMP_PREFIX, TMP_PREFIX_LEN);
	for (i = 0; i < TMP_RAND; i++)
		name[TMP_PREFIX_LEN + i] = set[rnd[i] % (sizeof(set) - 1)];
	name[TMP_PREFIX_LEN + TMP_RAND] = '\0';
	return 0;
}

/*
 * Copy every extended attribute of src onto dst: ACLs (system.posix_acl_*),
 * an SELinux label (security.selinux), the user's own. A value dst already
 * has (a label the system gave the new file) needs no write, which matters
 * where setting it takes a capability this process dropped.
 */
static int copy_xattrs(int src, int dst)
{
	char *names = NULL, *val = NULL, *have = NULL, *p;
	ssize_t nl, vl, hl;
	int r = 0;

	nl = flistxattr(src, NULL, 0);
	if (nl < 0)
		return errno == ENOTSUP ? 0 : -errno;
	if (nl == 0)
		return 0;
	if (nl > XATTR_LIST_MAX)
		return -E2BIG;
	names = malloc((size_t)nl + 1);
	val = malloc(XATTR_SIZE_MAX);
	have = malloc(XATTR_SIZE_MAX);
	if (!names || !val || !have) {
		r = -ENOMEM;
		goto out;
	}
	/* It grew since the size was asked: ERANGE, and the caller tries again. */
	nl = flistxattr(src, names, (size_t)nl);
	if (nl < 0) {
		r = errno == ERANGE ? -EAGAIN : -errno;
		goto out;
	}
	names[nl] = '\0';
	for (p = names; p < names + nl; p += strlen(p) + 1) {
		vl = fgetxattr(src, p, val, XATTR_SIZE_MAX);
		if (vl < 0) {
			if (errno == ENODATA)
				continue; /* removed meanwhile */
			r = -errno;
			goto out;
		}
		hl = fgetxattr(dst, p, have, XATTR_SIZE_MAX);
		if (hl == vl && memcmp(have, val, (size_t)vl) == 0)
			continue;
		if (fsetxattr(dst, p, val, (size_t)vl, 0) < 0) {
			r = -errno;
			goto out;
		}
	}
out:
	free(names);
	free(val);
	free(have);
	return r;
}

/* Owner, mode, then the attributes: an ACL set after the mode keeps its own mask. */
static int copy_attrs(int src, int dst, const struct stat *st)
{
	if (fchown(dst, st->st_uid, st->st_gid) < 0 || fchmod(dst, st->st_mode & 07777) < 0)
		return -errno;
	return copy_xattrs(src, dst);
}

/* An unnamed file in dfd (O_TMPFILE), or -errno; -EOPNOTSUPP where there are none. */
static int tmp_open_anon(int dfd)
{
	int fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	/* EISDIR: a kernel without O_TMPFILE saw O_DIRECTORY alone. */
	return errno == EISDIR || errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
}

/* A named one, for file systems without O_TMPFILE; its name goes to name. */
static int tmp_open_named(int dfd, char name[TMP_NAME_LEN])
{
	int tries, fd, r;

	for (tries = 0; tries < 16; tries++) {
		r = tmp_name(name);
		if (r < 0)
			return r;
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/* Give the unnamed file fd a name in dfd, for the rename. */
static int tmp_link(int fd, int dfd, char name[TMP_NAME_LEN])
{
	char proc[64];
	int tries, r;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (tries = 0; tries < 16; tries++) {
		r = tmp_name(name);
		if (r < 0)
			return r;
		/* Through /proc: AT_EMPTY_PATH would take CAP_DAC_READ_SEARCH, which the part
		 * drops. */
		if (linkat(AT_FDCWD, proc, dfd, name, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno == ENOENT && linkat(fd, "", dfd, name, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/*
 * Write data into a new file in dfd (real's directory; base is real's name
 * there) with src's owner, mode and extended attributes, and rename it over
 * real, unless real changed since st (-EAGAIN). The new file has no name
 * until it is complete (O_TMPFILE), so a process killed while writing it
 * leaves nothing; without O_TMPFILE it gets a name the sweep recognises.
 * Falls back to in-place on EBUSY/EXDEV, and where an attribute cannot be
 * copied (the inode, and all it carries, then stays). No temp file outlives
 * the call.
 */
static int replace(const char *real, int dfd, const char *base, int src, const struct stat *st,
		   const char *data, size_t len)
{
	char name[TMP_NAME_LEN] = "";
	struct stat now;
	bool inplace = false;
	int fd, r;

	fd = tmp_open_anon(dfd);
	if (fd == -EOPNOTSUPP)
		fd = tmp_open_named(dfd, name);
	if (fd < 0)
		return fd;
	r = fd_pwrite_all(fd, data, len, 0);
	if (r == 0 && copy_attrs(src, fd, st) < 0)
		inplace = true;
	if (r == 0 && !inplace && fsync(fd) < 0)
		r = -errno;
	if (r < 0)
		goto out;
	/* Narrow the window for losing a concurrent edit; the caller rereads. */
	if (stat(real, &now) < 0) {
		r = -errno;
		goto out;
	}
	if (!same_file(st, &now)) {
		r = -EAGAIN;
		goto out;
	}
	if (inplace)
		goto out;
	if (!name[0]) {
		r = tmp_link(fd, dfd, name);
		if (r < 0)
			goto out;
	}
	if (renameat(dfd, name, dfd, base) == 0) {
		name[0] = '\0';
		fsync(dfd); /* durability only; the rename already happened */
		goto out;
	}
	r = -errno;
	if (r == -EBUSY || r == -EXDEV) {
		r = 0;
		inplace = true;
	}
out:
	if (name[0])
		unlinkat(dfd, name, 0);
	close(fd);
	if (r == 0 && inplace)
		r = hosts_write_inplace(real, data, len);
	return r;
}

/*
 * The file's real path into real (symlinks followed, so a link is never
 * replaced by a file), *slash at its last '/', and its directory open.
 * Returns the directory's fd or -errno.
 */
static int resolve_dir(const char *path, char real[PATH_MAX], char **slash)
{
	int dfd;

	if (!path)
		return -EINVAL;
	if (!realpath(path, real))
		return -errno;
	*slash = strrchr(real, '/');
	if (!*slash)
		return -EINVAL; /* realpath always gives an absolute path */
	**slash = '\0';
	dfd = open(*slash == real ? "/" : real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	**slash = '/';
	return dfd < 0 ? -errno : dfd;
}

int hosts_sweep(const char *path)
{
	char real[PATH_MAX], *slash;
	struct dirent *de;
	struct stat st;
	int n = 0, dfd = resolve_dir(path, real, &slash);
	DIR *d;

	if (dfd < 0)
		return dfd;
	d = fdopendir(dfd);
	if (!d) {
		n = -errno;
		close(dfd);
		return n;
	}
	while ((de = readdir(d))) {
		if (!tmp_name_ours(de->d_name))
			continue;
		/* Only what we would have made: a plain file, not a link to another. */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_nlink != 1)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static int update(const char *path, const struct hosts_owner *own, struct hosts_entry *e, size_t n)
{
	char real[PATH_MAX];
	char *old = NULL, *new = NULL, *slash;
	size_t old_len = 0, new_len = 0;
	struct stat st;
	int fd = -1, dfd = -1, r = 0, tries, turn = -1;

	dfd = resolve_dir(path, real, &slash);
	if (dfd < 0)
		return dfd;
	/* Without it (a lock that cannot be had), the check before the rename still holds. */
	if (own->turn)
		turn = own->turn();

	for (tries = 0; tries < RACE_RETRIES; tries++) {
		free(old);
		free(new);
		old = new = NULL;
		if (fd >= 0)
			close(fd);
		/* Kept open: the new file takes its attributes from this one. */
		fd = open(real, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			goto out;
		}
		if (fstat(fd, &st) < 0) {
			r = -errno;
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			r = -EINVAL;
			goto out;
		}
		if (st.st_size > (off_t)HOSTS_MAX) {
			r = -EFBIG;
			goto out;
		}
		r = read_all(fd, &old, &old_len);
		if (r < 0)
			goto out;
		r = hosts_render_as(old, old_len, own, e, n, &new, &new_len);
		if (r < 0)
			goto out;
		if (new_len == old_len && memcmp(new, old, old_len) == 0)
			goto out;
		r = replace(real, dfd, slash + 1, fd, &st, new, new_len);
		if (r != -EAGAIN)
			goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	if (turn >= 0)
		close(turn);
	close(dfd);
	free(old);
	free(new);
	return r;
}

static const struct hosts_owner nobody;

int hosts_write(const char *path, struct hosts_entry *e, size_t n)
{
	return hosts_write_as(path, &nobody, e, n);
}

int hosts_restore(const char *path)
{
	return update(path, &nobody, NULL, 0);
}

int hosts_write_as(const char *path, const struct hosts_owner *own, struct hosts_entry *e, size_t n)
{
	if (!e && n)
		return -EINVAL;
	return update(path, own, e, n);
}

int hosts_restore_as(const char *path, const struct hosts_owner *own)
{
	return update(path, own, NULL, 0);
}
