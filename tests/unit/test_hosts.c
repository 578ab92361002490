/*
 * test_hosts: /etc/hosts editing. Rendering and stripping round-trip byte
 * for byte (trailing newline or not, empty, CRLF, stale lines, user lines
 * that mention sluice), name validation, and the real writers on files in a
 * temp dir: owner, mode, ACL and extended attributes kept, symlinks
 * followed, no temp files left (also by a writer killed mid-write), our
 * leftovers swept and nothing else, no write when nothing changes,
 * in-place rewriting, two tunnels writing at once taking turns, and (as
 * root) the EBUSY fallback on a bind mount in a private mount namespace.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../client/priv/instances.h"
#include "../../client/services/hosts.h"
#include "t.h"

#define MARK "  # sluice -H"

static char tmpdir[64];

static struct hosts_entry mk(const char *addr, const char *name)
{
	struct hosts_entry e;

	memset(&e, 0, sizeof(e));
	snprintf(e.addr, sizeof(e.addr), "%s", addr);
	snprintf(e.name, sizeof(e.name), "%s", name);
	return e;
}

static struct hosts_entry *two(void)
{
	static struct hosts_entry e[2];

	e[0] = mk("198.51.100.7", "db.internal");
	e[1] = mk("2001:db8::1", "web");
	return e;
}

/* old -> with entries -> restored must be old again, byte for byte; returns the middle. */
static char *round_trip(const char *old, size_t old_len)
{
	char *mid = NULL, *again = NULL, *back = NULL;
	size_t mid_len = 0, again_len = 0, back_len = 0;

	CHECK_EQ_INT(hosts_render(old, old_len, two(), 2, &mid, &mid_len), 0);
	if (!mid)
		return NULL;
	CHECK_EQ_INT(hosts_render(mid, mid_len, NULL, 0, &back, &back_len), 0);
	CHECK_EQ_INT(back_len, old_len);
	CHECK(back && (old_len == 0 || memcmp(back, old, old_len) == 0));
	/* Rendering again with the same entries changes nothing. */
	CHECK_EQ_INT(hosts_render(mid, mid_len, two(), 2, &again, &again_len), 0);
	CHECK_EQ_INT(again_len, mid_len);
	CHECK(again && memcmp(again, mid, mid_len) == 0);
	free(again);
	free(back);
	return mid;
}

static void test_render_normal(void)
{
	const char *old = "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n";
	char *mid = round_trip(old, strlen(old));

	CHECK_STR(mid, "127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n"
		       "198.51.100.7 db.internal" MARK "\n"
		       "2001:db8::1 web" MARK "\n");
	free(mid);
}

static void test_render_no_trailing_newline(void)
{
	const char *old = "127.0.0.1 localhost\n10.0.0.1 last";
	char *mid = round_trip(old, strlen(old));

	CHECK_STR(mid, "127.0.0.1 localhost\n10.0.0.1 last\n"
		       "# no newline at end of file" MARK "\n"
		       "198.51.100.7 db.internal" MARK "\n"
		       "2001:db8::1 web" MARK "\n");
	free(mid);
	/* A single line, and a last line that is only "\r". */
	free(round_trip("x", 1));
	free(round_trip("a\r\n\r", 4));
}

static void test_render_empty(void)
{
	char *mid = round_trip("", 0);

	CHECK_STR(mid, "198.51.100.7 db.internal" MARK "\n2001:db8::1 web" MARK "\n");
	free(mid);
	mid = round_trip(NULL, 0);
	free(mid);
	mid = round_trip("\n", 1);
	CHECK(mid && mid[0] == '\n' && mid[1] == '1');
	free(mid);
}

static void test_render_crlf(void)
{
	const char *old = "127.0.0.1 localhost\r\n10.0.0.2 b\r\n";
	size_t old_len = strlen(old);
	char *mid = round_trip(old, old_len);

	CHECK(mid && strncmp(mid, old, old_len) == 0);
	free(mid);
	old = "127.0.0.1 localhost\r\n10.0.0.2 b";
	free(round_trip(old, strlen(old)));
	old = "127.0.0.1 localhost\r\n10.0.0.2 b\r";
	free(round_trip(old, strlen(old)));
}

/* Lines that mention sluice, even ending in the marker but without a newline, are the user's. */
static void test_render_user_sluice_lines(void)
{
	const char *old = "10.1.1.1 a # sluice\n"
			  "10.1.1.2 b  # sluice\n"
			  "10.1.1.3 c" MARK " extra\n"
			  "10.1.1.4 d" MARK "\r\n"
			  "# sluice -H\n"
			  "10.1.1.5 e" MARK;
	char *mid = round_trip(old, strlen(old));

	CHECK(mid && strncmp(mid, old, strlen(old)) == 0);
	free(mid);
}

static void test_render_stale_lines(void)
{
	const char *stale = "127.0.0.1 localhost\n"
			    "192.0.2.9 old" MARK "\n"
			    "10.0.0.1 user\n"
			    "192.0.2.10 older" MARK "\n"
			    "10.0.0.2 user2";
	const char *want_user = "127.0.0.1 localhost\n10.0.0.1 user\n10.0.0.2 user2";
	char *out = NULL, *mid;
	size_t len = 0;

	CHECK_EQ_INT(hosts_render(stale, strlen(stale), NULL, 0, &out, &len), 0);
	CHECK_STR(out, want_user);
	free(out);
	mid = round_trip(want_user, strlen(want_user));
	free(mid);
	out = NULL;
	CHECK_EQ_INT(hosts_render(stale, strlen(stale), two(), 1, &out, &len), 0);
	CHECK_STR(out, "127.0.0.1 localhost\n10.0.0.1 user\n10.0.0.2 user2\n"
		       "# no newline at end of file" MARK "\n198.51.100.7 db.internal" MARK "\n");
	free(out);
}

/* After a crash, the user appended below our lines: their old last line keeps its newline. */
static void test_render_appended_after_noeol(void)
{
	const char *f = "a\nb\n# no newline at end of file" MARK "\n"
			"192.0.2.1 x" MARK "\n"
			"c\n";
	const char *g = "a\nb\n# no newline at end of file" MARK "\n"
			"192.0.2.1 x" MARK "\n";
	char *out = NULL;
	size_t len = 0;

	CHECK_EQ_INT(hosts_render(f, strlen(f), NULL, 0, &out, &len), 0);
	CHECK_STR(out, "a\nb\nc\n");
	free(out);
	out = NULL;
	CHECK_EQ_INT(hosts_render(g, strlen(g), NULL, 0, &out, &len), 0);
	CHECK_EQ_INT(len, 3);
	CHECK_STR(out, "a\nb");
	free(out);
	/* A user's last line that ends in the marker stays theirs. */
	free(round_trip("a\nb" MARK, 2 + 1 + strlen(MARK)));
}

static void test_render_skips_invalid(void)
{
	struct hosts_entry e[6];
	char *out = NULL;
	size_t len = 0;

	e[0] = mk("192.0.2.300", "bad-addr");
	e[1] = mk("192.0.2.1", "bad name");
	e[2] = mk("192.0.2.1", "evil\n127.0.0.1");
	e[3] = mk("fe80::1%eth0", "zone");
	e[4] = mk("2001:0DB8:0000::0001", "canon");
	memset(&e[5], 'a', sizeof(e[5])); /* no NUL anywhere */
	CHECK_EQ_INT(hosts_render("x\n", 2, e, 6, &out, &len), 0);
	CHECK_STR(out, "x\n2001:db8::1 canon" MARK "\n");
	free(out);
	out = NULL;
	/* Nothing valid to add: no NOEOL line either. */
	CHECK_EQ_INT(hosts_render("x", 1, e, 4, &out, &len), 0);
	CHECK_STR(out, "x");
	free(out);
	CHECK_EQ_INT(hosts_render(NULL, 1, NULL, 0, &out, &len), -EINVAL);
	CHECK_EQ_INT(hosts_render("", 0, NULL, 1, &out, &len), -EINVAL);
}

/*
 * Random files built from the pieces that matter: whatever the user's
 * content (a file with no lines of ours), adding and removing ours gives it
 * back. Fixed seed, so a failure reproduces.
 */
static void test_render_random(void)
{
	static const char *const piece[] = {
	    "a",      " ", "\n",  "\r", "\r\n", MARK, "# no newline at end of file",
	    "sluice", "#", "\n\n"};
	unsigned seed = 12345;
	char old[256], *user;
	size_t len, user_len;
	int i, j;

	for (i = 0; i < 5000 && !t_failed_here; i++) {
		len = 0;
		for (j = rand_r(&seed) % 12; j > 0; j--) {
			const char *pc = piece[rand_r(&seed) % (sizeof(piece) / sizeof(piece[0]))];

			if (len + strlen(pc) < sizeof(old)) {
				memcpy(old + len, pc, strlen(pc));
				len += strlen(pc);
			}
		}
		user = NULL;
		CHECK_EQ_INT(hosts_render(old, len, NULL, 0, &user, &user_len), 0);
		if (!user)
			return;
		free(round_trip(user, user_len));
		free(user);
	}
}

static void test_name_valid(void)
{
	char name[300];

	CHECK(hosts_name_valid("a"));
	CHECK(hosts_name_valid("db.internal"));
	CHECK(hosts_name_valid("my-host_1.Example.COM"));
	CHECK(hosts_name_valid("1.2.3"));
	CHECK(!hosts_name_valid(NULL));
	CHECK(!hosts_name_valid(""));
	CHECK(!hosts_name_valid("."));
	CHECK(!hosts_name_valid(".a"));
	CHECK(!hosts_name_valid("a."));
	CHECK(!hosts_name_valid("a..b"));
	CHECK(!hosts_name_valid("a b"));
	CHECK(!hosts_name_valid("a\tb"));
	CHECK(!hosts_name_valid("a#b"));
	CHECK(!hosts_name_valid("a\nb"));
	CHECK(!hosts_name_valid("h\xc3\xa9"));
	CHECK(!hosts_name_valid("a/b"));
	memset(name, 'a', 63);
	name[63] = '\0';
	CHECK(hosts_name_valid(name));
	name[63] = 'a';
	name[64] = '\0';
	CHECK(!hosts_name_valid(name));
	/* 4 labels of 63 plus 3 dots = 255 > 253; trim to exactly 253. */
	memset(name, 'a', 255);
	name[63] = name[127] = name[191] = '.';
	name[255] = '\0';
	CHECK(!hosts_name_valid(name));
	name[253] = '\0';
	CHECK(hosts_name_valid(name));
	name[254] = '\0';
	name[253] = 'a';
	CHECK(!hosts_name_valid(name));
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t r;

	if (fd < 0)
		return (size_t)-1;
	r = read(fd, buf, cap - 1);
	close(fd);
	if (r < 0)
		return (size_t)-1;
	buf[r] = '\0';
	return (size_t)r;
}

/* Entries in tmpdir other than the ones named; temp files must never be left behind. */
static int dir_count(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Remove whatever a failed test left in tmpdir, so the next one starts empty. */
static void dir_clear(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void test_write_restore_file(void)
{
	const char *orig = "127.0.0.1 localhost\n10.0.0.1 last";
	char path[128], buf[4096];
	struct stat a, b, c;
	size_t len;

	path_in(path, sizeof(path), "hosts");
	CHECK(t_write_file(path, orig, strlen(orig)) == 0);
	CHECK_EQ_INT(chown(path, 1234, 5678), 0);
	CHECK_EQ_INT(chmod(path, 0640), 0);
	CHECK_EQ_INT(stat(path, &a), 0);

	CHECK_EQ_INT(hosts_write(path, two(), 2), 0);
	CHECK_EQ_INT(stat(path, &b), 0);
	CHECK_EQ_INT(b.st_uid, 1234);
	CHECK_EQ_INT(b.st_gid, 5678);
	CHECK_EQ_INT(b.st_mode & 07777, 0640);
	CHECK(a.st_ino != b.st_ino); /* replaced by rename */
	len = read_file(path, buf, sizeof(buf));
	CHECK_STR(buf, "127.0.0.1 localhost\n10.0.0.1 last\n# no newline at end of file" MARK
		       "\n198.51.100.7 db.internal" MARK "\n2001:db8::1 web" MARK "\n");
	CHECK_EQ_INT(dir_count(), 1);

	/* Same entries again: nothing changes, so nothing is written. */
	CHECK_EQ_INT(hosts_write(path, two(), 2), 0);
	CHECK_EQ_INT(stat(path, &c), 0);
	CHECK_EQ_INT(c.st_ino, b.st_ino);
	CHECK_EQ_INT(dir_count(), 1);

	/* Fewer entries. */
	CHECK_EQ_INT(hosts_write(path, two(), 1), 0);
	len = read_file(path, buf, sizeof(buf));
	CHECK_STR(buf, "127.0.0.1 localhost\n10.0.0.1 last\n# no newline at end of file" MARK
		       "\n198.51.100.7 db.internal" MARK "\n");

	CHECK_EQ_INT(hosts_restore(path), 0);
	len = read_file(path, buf, sizeof(buf));
	CHECK_EQ_INT(len, strlen(orig));
	CHECK_STR(buf, orig);
	CHECK_EQ_INT(stat(path, &b), 0);
	CHECK_EQ_INT(b.st_uid, 1234);
	CHECK_EQ_INT(b.st_gid, 5678);
	CHECK_EQ_INT(b.st_mode & 07777, 0640);

	/* Restore with nothing of ours: no write. */
	CHECK_EQ_INT(hosts_restore(path), 0);
	CHECK_EQ_INT(stat(path, &c), 0);
	CHECK_EQ_INT(c.st_ino, b.st_ino);
	CHECK_EQ_INT(c.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
	CHECK_EQ_INT(dir_count(), 1);
	unlink(path);
}

/* A POSIX ACL as the kernel stores it: 0640 plus read for user 4321 (mask r). */
static const uint8_t acl640[] = {
    2,	  0, 0, 0,			   /* version */
    0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, /* user::rw- */
    0x02, 0, 4, 0, 0xe1, 0x10, 0,    0,	   /* user:4321:r-- */
    0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, /* group::r-- */
    0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, /* mask::r-- */
    0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, /* other::--- */
};

/* Whether path has attribute name with exactly val (vlen bytes). */
static int has_xattr(const char *path, const char *name, const void *val, size_t vlen)
{
	char buf[256];
	ssize_t n = getxattr(path, name, buf, sizeof(buf));

	return n == (ssize_t)vlen && memcmp(buf, val, vlen) == 0;
}

/* Owner, mode, a user.* attribute and an ACL survive a rewrite by rename and a restore. */
static void test_write_keeps_xattrs(void)
{
	const char *orig = "127.0.0.1 localhost\n";
	char path[128], buf[4096];
	struct stat a, b;

	path_in(path, sizeof(path), "hosts");
	CHECK(t_write_file(path, orig, strlen(orig)) == 0);
	CHECK_EQ_INT(chown(path, 1234, 5678), 0);
	CHECK_EQ_INT(chmod(path, 0640), 0);
	CHECK_EQ_INT(setxattr(path, "user.sluice_test", "kept", 4, 0), 0);
	CHECK_EQ_INT(setxattr(path, "system.posix_acl_access", acl640, sizeof(acl640), 0), 0);
	CHECK_EQ_INT(stat(path, &a), 0);

	CHECK_EQ_INT(hosts_write(path, two(), 2), 0);
	CHECK_EQ_INT(stat(path, &b), 0);
	CHECK(a.st_ino != b.st_ino); /* by rename, not in place */
	CHECK_EQ_INT(b.st_uid, 1234);
	CHECK_EQ_INT(b.st_gid, 5678);
	CHECK_EQ_INT(b.st_mode & 07777, 0640);
	CHECK(has_xattr(path, "user.sluice_test", "kept", 4));
	CHECK(has_xattr(path, "system.posix_acl_access", acl640, sizeof(acl640)));
	CHECK_EQ_INT(dir_count(), 1);

	CHECK_EQ_INT(hosts_restore(path), 0);
	CHECK_EQ_INT(read_file(path, buf, sizeof(buf)), strlen(orig));
	CHECK_STR(buf, orig);
	CHECK_EQ_INT(stat(path, &b), 0);
	CHECK_EQ_INT(b.st_mode & 07777, 0640);
	CHECK(has_xattr(path, "user.sluice_test", "kept", 4));
	CHECK(has_xattr(path, "system.posix_acl_access", acl640, sizeof(acl640)));
	CHECK_EQ_INT(dir_count(), 1);
	unlink(path);
}

/*
 * A writer killed mid-write (SIGXFSZ under a small RLIMIT_FSIZE, as
 * `ulimit -f` passes through sudo) leaves neither a temporary nor a
 * changed file.
 */
static void test_write_killed_leaves_nothing(void)
{
	const char *orig = "127.0.0.1 localhost\n";
	static struct hosts_entry e[64];
	char path[128], buf[4096], name[32];
	int status = 0;
	size_t i;
	pid_t pid;

	path_in(path, sizeof(path), "hosts");
	CHECK(t_write_file(path, orig, strlen(orig)) == 0);
	for (i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "host-%zu.example.test", i);
		e[i] = mk("198.51.100.7", name);
	}
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = {1024, 1024};

		signal(SIGXFSZ, SIG_DFL);
		setrlimit(RLIMIT_FSIZE, &rl);
		hosts_write(path, e, 64);
		_exit(0);
	}
	CHECK(pid > 0);
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	/* The gate: it did die mid-write. */
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ);
	CHECK_EQ_INT(dir_count(), 1);
	CHECK_EQ_INT(read_file(path, buf, sizeof(buf)), strlen(orig));
	CHECK_STR(buf, orig);
	dir_clear();
}

/* The sweep removes our leftovers (plain files of our name) and nothing else. */
static void test_sweep(void)
{
	static const char *theirs[] = {".hosts.sluice-abc12", ".hosts.sluice-abc1234",
				       ".hosts.sluice-ab.123", "hosts.sluice-abc123", "hosts"};
	char path[128], p[128];
	size_t i;

	path_in(path, sizeof(path), "hosts");
	for (i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++) {
		path_in(p, sizeof(p), theirs[i]);
		CHECK(t_write_file(p, "x\n", 2) == 0);
	}
	path_in(p, sizeof(p), ".hosts.sluice-aB3xY9");
	CHECK(t_write_file(p, "x\n", 2) == 0);
	path_in(p, sizeof(p), ".hosts.sluice-Qq0000");
	CHECK(t_write_file(p, "", 0) == 0);
	/* Not ours to remove: a link to the user's file, and a symlink. */
	path_in(p, sizeof(p), ".hosts.sluice-hard01");
	CHECK_EQ_INT(link(path, p), 0);
	path_in(p, sizeof(p), ".hosts.sluice-syml01");
	CHECK_EQ_INT(symlink("hosts", p), 0);

	CHECK_EQ_INT(hosts_sweep(path), 2);
	CHECK_EQ_INT(dir_count(), 7);
	path_in(p, sizeof(p), ".hosts.sluice-aB3xY9");
	CHECK(access(p, F_OK) < 0);
	CHECK_EQ_INT(hosts_sweep(path), 0);
	path_in(p, sizeof(p), ".hosts.sluice-hard01");
	unlink(p);
	path_in(p, sizeof(p), ".hosts.sluice-syml01");
	unlink(p);
	for (i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++) {
		path_in(p, sizeof(p), theirs[i]);
		unlink(p);
	}
	CHECK_EQ_INT(dir_count(), 0);
	dir_clear();
}

static void test_write_empty_file(void)
{
	char path[128], buf[4096];
	struct stat st;

	path_in(path, sizeof(path), "hosts");
	CHECK(t_write_file(path, "", 0) == 0);
	CHECK_EQ_INT(hosts_write(path, two(), 2), 0);
	read_file(path, buf, sizeof(buf));
	CHECK_STR(buf, "198.51.100.7 db.internal" MARK "\n2001:db8::1 web" MARK "\n");
	CHECK_EQ_INT(hosts_restore(path), 0);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_size, 0);
	unlink(path);
}

static void test_write_follows_symlink(void)
{
	char path[128], link[128], buf[4096];
	struct stat st;

	path_in(path, sizeof(path), "real");
	path_in(link, sizeof(link), "link");
	CHECK(t_write_file(path, "a\n", 2) == 0);
	CHECK_EQ_INT(symlink("real", link), 0);
	CHECK_EQ_INT(hosts_write(link, two(), 1), 0);
	CHECK_EQ_INT(lstat(link, &st), 0);
	CHECK(S_ISLNK(st.st_mode));
	read_file(path, buf, sizeof(buf));
	CHECK_STR(buf, "a\n198.51.100.7 db.internal" MARK "\n");
	CHECK_EQ_INT(hosts_restore(link), 0);
	read_file(path, buf, sizeof(buf));
	CHECK_STR(buf, "a\n");
	CHECK_EQ_INT(dir_count(), 2);
	unlink(link);
	unlink(path);
}

static void test_write_errors(void)
{
	char path[128];
	int fd;

	path_in(path, sizeof(path), "missing");
	CHECK_EQ_INT(hosts_write(path, two(), 1), -ENOENT);
	CHECK_EQ_INT(hosts_restore(path), -ENOENT);
	CHECK_EQ_INT(hosts_write(tmpdir, two(), 1), -EINVAL);
	path_in(path, sizeof(path), "huge");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ_INT(ftruncate(fd, (16 << 20) + 1), 0);
	close(fd);
	CHECK_EQ_INT(hosts_write(path, two(), 1), -EFBIG);
	CHECK_EQ_INT(dir_count(), 1);
	unlink(path);
}

static void test_write_inplace(void)
{
	char path[128], buf[4096];
	struct stat a, b;

	path_in(path, sizeof(path), "hosts");
	CHECK(t_write_file(path, "0123456789\n", 11) == 0);
	CHECK_EQ_INT(chmod(path, 0604), 0);
	CHECK_EQ_INT(stat(path, &a), 0);
	CHECK_EQ_INT(hosts_write_inplace(path, "short\n", 6), 0);
	CHECK_EQ_INT(read_file(path, buf, sizeof(buf)), 6);
	CHECK_STR(buf, "short\n");
	CHECK_EQ_INT(hosts_write_inplace(path, "much longer than before\n", 24), 0);
	CHECK_EQ_INT(read_file(path, buf, sizeof(buf)), 24);
	CHECK_STR(buf, "much longer than before\n");
	CHECK_EQ_INT(hosts_write_inplace(path, "", 0), 0);
	CHECK_EQ_INT(stat(path, &b), 0);
	CHECK_EQ_INT(b.st_size, 0);
	CHECK_EQ_INT(b.st_ino, a.st_ino);
	CHECK_EQ_INT(b.st_mode & 07777, 0604);
	path_in(path, sizeof(path), "missing");
	CHECK_EQ_INT(hosts_write_inplace(path, "x", 1), -ENOENT);
	CHECK_EQ_INT(dir_count(), 1);
	path_in(path, sizeof(path), "hosts");
	unlink(path);
}

/*
 * The real EBUSY fallback: in a child with its own mount namespace, bind
 * "backing" over "hosts" so renaming onto "hosts" fails. Root only.
 */
static int bind_child(const char *hosts, const char *backing)
{
	char buf[4096];
	int r;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 2;
	if (mount(backing, hosts, NULL, MS_BIND, NULL) < 0)
		return 3;
	if (rename(backing, hosts) == 0 || errno != EBUSY)
		return 4; /* the premise: rename onto a mount point fails */
	r = hosts_write(hosts, two(), 1);
	if (r < 0)
		return 5;
	read_file(backing, buf, sizeof(buf));
	if (strcmp(buf, "u\n198.51.100.7 db.internal" MARK "\n") != 0)
		return 6;
	if (hosts_restore(hosts) < 0)
		return 7;
	read_file(backing, buf, sizeof(buf));
	if (strcmp(buf, "u\n") != 0)
		return 8;
	return 0;
}

static void test_write_bind_mount_ebusy(void)
{
	char hosts[128], backing[128], buf[64];
	struct stat a, b;
	int status = -1;
	pid_t pid;

	if (geteuid() != 0) {
		printf("SKIP %s: needs root\n", t_cur);
		return;
	}
	path_in(hosts, sizeof(hosts), "hosts");
	path_in(backing, sizeof(backing), "backing");
	CHECK(t_write_file(hosts, "under the mount\n", 16) == 0);
	CHECK(t_write_file(backing, "u\n", 2) == 0);
	CHECK_EQ_INT(stat(backing, &a), 0);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(bind_child(hosts, backing));
	CHECK(pid > 0);
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	if (WEXITSTATUS(status) == 2) {
		printf("SKIP %s: no mount namespaces here\n", t_cur);
	} else {
		CHECK_EQ_INT(WEXITSTATUS(status), 0);
	}
	/* The file under the mount was never touched; the backing file kept its inode. */
	read_file(hosts, buf, sizeof(buf));
	CHECK_STR(buf, "under the mount\n");
	CHECK_EQ_INT(stat(backing, &b), 0);
	CHECK_EQ_INT(b.st_ino, a.st_ino);
	CHECK_EQ_INT(dir_count(), 2);
	unlink(hosts);
	unlink(backing);
}

/* A name the user's own lines use is never added, whatever its case or position there. */
/* Owner 7 is gone; every other owner runs. */
static bool alive_but_7(uint32_t id)
{
	return id != 7;
}

/* render_as into a fresh buffer that replaces *text (freed). */
static void as(char **text, size_t *len, uint32_t id, struct hosts_entry *e, size_t n)
{
	struct hosts_owner own = {.id = id, .alive = alive_but_7};
	char *out = NULL;
	size_t out_len = 0;

	CHECK_EQ_INT(hosts_render_as(*text, *len, &own, e, n, &out, &out_len), 0);
	free(*text);
	*text = out;
	*len = out_len;
}

/*
 * Two tunnels' lines at once: each rewrite touches its owner's lines only,
 * whichever order they come and go in, and the last one out leaves the
 * file as it was, a last line without its newline included.
 */
static void test_render_owners(void)
{
	static const char *const origs[] = {"127.0.0.1 localhost\n", "127.0.0.1 localhost", ""};
	struct hosts_entry a[1] = {mk("198.51.100.7", "db.internal")};
	struct hosts_entry b[1] = {mk("203.0.113.9", "lab.internal")};
	size_t i, len;
	char *t;

	for (i = 0; i < 3; i++) {
		const char *orig = origs[i];
		int first;

		for (first = 0; first < 2; first++) {
			len = strlen(orig);
			t = strdup(orig);
			as(&t, &len, 4711, a, 1);
			as(&t, &len, 4712, b, 1);
			CHECK(t && strstr(t, "db.internal" MARK " 4711\n") &&
			      strstr(t, "lab.internal" MARK " 4712\n"));
			/* A rewrite by one keeps the other's line as it was. */
			as(&t, &len, 4711, a, 1);
			CHECK(t && strstr(t, "lab.internal" MARK " 4712\n"));
			as(&t, &len, first ? 4712 : 4711, NULL, 0);
			CHECK(t && strstr(t, first ? "db.internal" : "lab.internal"));
			CHECK(t && !strstr(t, first ? "lab.internal" : "db.internal"));
			as(&t, &len, first ? 4711 : 4712, NULL, 0);
			CHECK_EQ_INT(len, strlen(orig));
			CHECK(t && !memcmp(t, orig, len));
			free(t);
		}
	}
}

static char turns[64]; /* the lock's directory, as the privileged part's INSTANCES_DIR */

/* Run in race_child: a lock not had would let the race through unseen. */
static int turn(void)
{
	int fd;

	if (instances_lock(turns, &fd) < 0)
		_exit(3);
	return fd;
}

/*
 * One tunnel's rewrite between another's read and its rename, a line
 * lost: each child checks after every write of its own that its line is
 * there (the other never takes it: both owners run). Exit status: 0, 1 for
 * a line lost, 2 for a write that failed.
 */
static int race_child(const char *path, uint32_t id, int rounds)
{
	const struct hosts_owner own = {.id = id, .turn = turn};
	char name[64], mine[96], other[64], buf[8192];
	struct hosts_entry e[2];
	int i;

	snprintf(name, sizeof(name), "owner-%u.internal", id);
	snprintf(mine, sizeof(mine), "%s" MARK " %u\n", name, id);
	e[0] = mk("198.51.100.7", name);
	for (i = 0; i < rounds; i++) {
		/* Every other write changes the file, so that each one renames. */
		snprintf(other, sizeof(other), "round-%u-%d.internal", id, i);
		e[1] = mk("198.51.100.8", other);
		if (hosts_write_as(path, &own, e, i % 2 ? 2 : 1) < 0)
			return 2;
		if (read_file(path, buf, sizeof(buf)) == (size_t)-1 || !strstr(buf, mine))
			return 1;
	}
	return hosts_restore_as(path, &own) < 0 ? 2 : 0;
}

/*
 * Two tunnels rewriting at once keep each other's lines: their writers
 * take turns (the privileged part's hosts_turn, here on a directory of the
 * test's own).
 */
static void test_write_two_owners(void)
{
	const char *orig = "127.0.0.1 localhost\n";
	int status[2] = {-1, -1}, i;
	char path[128], buf[4096], lock[96];
	pid_t pid[2];

	snprintf(turns, sizeof(turns), "/tmp/sluice-turns-XXXXXX");
	CHECK(mkdtemp(turns) != NULL);
	path_in(path, sizeof(path), "hosts");
	CHECK(t_write_file(path, orig, strlen(orig)) == 0);
	for (i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] == 0)
			_exit(race_child(path, 4711 + (uint32_t)i, 400));
		CHECK(pid[i] > 0);
	}
	for (i = 0; i < 2; i++)
		if (pid[i] > 0)
			CHECK_EQ_INT(waitpid(pid[i], &status[i], 0), pid[i]);
	for (i = 0; i < 2; i++) {
		CHECK(WIFEXITED(status[i]));
		CHECK_EQ_INT(WEXITSTATUS(status[i]), 0);
	}
	/* Both restored: the file as it was, no temporary left. */
	CHECK_EQ_INT(read_file(path, buf, sizeof(buf)), strlen(orig));
	CHECK_STR(buf, orig);
	CHECK_EQ_INT(dir_count(), 1);
	dir_clear();
	snprintf(lock, sizeof(lock), "%s/.lock", turns);
	unlink(lock);
	CHECK_EQ_INT(rmdir(turns), 0);
}

/* Lines whose owner is gone, and lines that name none, go with anyone's rewrite. */
static void test_render_owner_gone(void)
{
	static const char orig[] = "127.0.0.1 localhost\n"
				   "198.51.100.1 old.internal" MARK " 7\n"
				   "198.51.100.2 older.internal" MARK "\n"
				   "198.51.100.3 live.internal" MARK " 9\n";
	struct hosts_entry a[1] = {mk("198.51.100.7", "db.internal")};
	size_t len = strlen(orig);
	char *t = strdup(orig);

	as(&t, &len, 4711, a, 1);
	CHECK_STR(t, "127.0.0.1 localhost\n198.51.100.3 live.internal" MARK " 9\n"
		     "198.51.100.7 db.internal" MARK " 4711\n");
	/* A name another tunnel has on file is its: ours is left out, not written twice. */
	a[0] = mk("198.51.100.8", "live.internal");
	as(&t, &len, 4711, a, 1);
	CHECK(a[0].shadowed);
	CHECK_STR(t, "127.0.0.1 localhost\n198.51.100.3 live.internal" MARK " 9\n");
	free(t);
}

static void test_render_users_names_win(void)
{
	static const char old[] = "127.0.0.1\tlocalhost\n"
				  "# 192.0.2.1 commented.test\n"
				  "198.51.100.9  Mine.Test alias.test # mine\n"
				  "10.9.9.9 stale.test" MARK "\n";
	struct hosts_entry e[5];
	char *out = NULL;
	size_t len = 0;

	e[0] = mk("198.51.100.2", "mine.test");
	e[1] = mk("198.51.100.3", "alias.test");
	e[2] = mk("198.51.100.4", "commented.test"); /* only in a comment: not the user's */
	e[3] = mk("198.51.100.5", "stale.test");     /* only on a stale line of ours */
	e[4] = mk("198.51.100.6", "198.51.100.9");   /* an address field is not a name */
	CHECK_EQ_INT(hosts_render(old, strlen(old), e, 5, &out, &len), 0);
	CHECK_STR(out, "127.0.0.1\tlocalhost\n"
		       "# 192.0.2.1 commented.test\n"
		       "198.51.100.9  Mine.Test alias.test # mine\n"
		       "198.51.100.4 commented.test" MARK "\n"
		       "198.51.100.5 stale.test" MARK "\n"
		       "198.51.100.6 198.51.100.9" MARK "\n");
	CHECK(e[0].shadowed && e[1].shadowed);
	CHECK(!e[2].shadowed && !e[3].shadowed && !e[4].shadowed);
	free(out);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-hosts-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_render_normal);
	RUN(test_render_users_names_win);
	RUN(test_render_owners);
	RUN(test_render_owner_gone);
	RUN(test_render_no_trailing_newline);
	RUN(test_render_empty);
	RUN(test_render_crlf);
	RUN(test_render_user_sluice_lines);
	RUN(test_render_stale_lines);
	RUN(test_render_appended_after_noeol);
	RUN(test_render_skips_invalid);
	RUN(test_render_random);
	RUN(test_name_valid);
	RUN(test_write_restore_file);
	RUN(test_write_keeps_xattrs);
	RUN(test_write_killed_leaves_nothing);
	RUN(test_write_two_owners);
	RUN(test_sweep);
	RUN(test_write_empty_file);
	RUN(test_write_follows_symlink);
	RUN(test_write_errors);
	RUN(test_write_inplace);
	RUN(test_write_bind_mount_ebusy);
	if (rmdir(tmpdir) < 0)
		printf("FAIL cleanup: %s not empty\n", tmpdir);
	T_EXIT();
}
