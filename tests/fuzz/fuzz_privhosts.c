/*
 * The privileged part's request handling over the real hosts writer: a
 * byte stream cut into requests as the part cuts it, handled by the
 * server's checks, with HOSTS written to a scratch hosts file in a temp
 * dir (made once). After every accepted HOSTS the file must strip back to
 * the original byte for byte, keep its mode and extended attribute, and
 * have no temporary beside it; after a final REMOVE it must be the
 * original again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../client/services/hosts.h"
#include "../../client/priv/priv_server.h"
#include "fuzz.h"

static const char orig[] = "127.0.0.1 localhost\n"
			   "198.51.100.1 mine.example.test\n"
			   "::1 ip6-localhost # sluice -H is mentioned, not ours\n"
			   "10.0.0.1 last";
static char dir[64], path[96];
static bool have_xattr;
static int64_t now;

static int f_install(void *ctx, const struct fw_spec *spec, const char *label, char *why,
		     size_t whylen)
{
	return 0;
}

static int f_update(void *ctx, const struct fw_spec *spec, char *why, size_t whylen)
{
	return 0;
}

static int f_remove(void *ctx)
{
	return 0;
}

static int f_write(void *ctx, struct hosts_entry *e, size_t n)
{
	return hosts_write(path, e, n);
}

static int f_restore(void *ctx)
{
	return hosts_restore(path);
}

static int f_ct(void *ctx, const struct fw_spec *spec, bool ours)
{
	return 0;
}

static int64_t f_now(void *ctx)
{
	return now += 100;
}

/* No device here: the hosts file is what this target watches. */
static int f_tun(void *ctx, const struct fw_spec *spec, char *name, size_t namelen, int *fd,
		 char *why, size_t whylen)
{
	return -EOPNOTSUPP;
}

/* No CHECK: this target is about host lines after an INSTALL. */
static const struct priv_backend be = {f_install, f_update, f_remove, f_write, f_restore,
				       f_ct,	  f_now,    f_tun,    NULL};

/* Root's grant: every INSTALL the decoder accepts goes in, so HOSTS can follow. */
static const struct priv_grant grant;

/* The scratch dir and all in it, temporaries a broken writer left included. */
static void cleanup(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
	rmdir(dir);
}

/* A broken property: the scratch dir goes first, for no atexit runs after abort. */
static void die(void)
{
	cleanup();
	abort();
}

static void setup(void)
{
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/sluice-fuzz-XXXXXX");
	if (!mkdtemp(dir))
		die();
	snprintf(path, sizeof(path), "%s/hosts", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	if (fd < 0 || write(fd, orig, sizeof(orig) - 1) != (ssize_t)(sizeof(orig) - 1))
		die();
	close(fd);
	chmod(path, 0640);
	/* Where the file system has no user attributes, the rest still holds. */
	have_xattr = setxattr(path, "user.sluice_fuzz", "kept", 4, 0) == 0;
	atexit(cleanup);
}

/* The file, read whole, or abort: the writer must always leave one. */
static char *slurp(size_t *len)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		die();
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || (size_t)n == sizeof(buf))
		die();
	*len = (size_t)n;
	return buf;
}

static void check_attrs(void)
{
	struct stat st;
	char v[8];
	DIR *d;
	struct dirent *de;
	int n = 0;

	if (stat(path, &st) < 0 || (st.st_mode & 07777) != 0640)
		die();
	if (have_xattr &&
	    (getxattr(path, "user.sluice_fuzz", v, sizeof(v)) != 4 || memcmp(v, "kept", 4) != 0))
		die();
	d = opendir(dir);
	if (!d)
		die();
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	if (n != 1)
		die(); /* a temporary left beside it */
}

/* What is there now strips back to the original. */
static void check_restorable(void)
{
	size_t len, back_len;
	char *cur = slurp(&len), *back;

	if (hosts_render(cur, len, NULL, 0, &back, &back_len) < 0)
		die();
	if (back_len != sizeof(orig) - 1 || memcmp(back, orig, back_len) != 0)
		die();
	free(back);
	check_attrs();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t remove_req[] = {PRIV_REMOVE};
	uint8_t out[PRIV_REPLY_MAX];
	struct priv_server s;
	size_t off = 0, len_now;
	int st;

	if (!dir[0])
		setup();
	priv_server_init(&s, &be, NULL, &grant);
	while (size - off >= PRIV_LEN_BYTES) {
		uint32_t len = (uint32_t)data[off] << 24 | (uint32_t)data[off + 1] << 16 |
			       (uint32_t)data[off + 2] << 8 | data[off + 3];

		off += PRIV_LEN_BYTES;
		if (len > size - off)
			len = (uint32_t)(size - off);
		priv_server_handle(&s, data + off, len, out, &st);
		if (len && data[off] == PRIV_HOSTS && st == 0)
			check_restorable();
		off += len;
	}
	priv_server_handle(&s, remove_req, sizeof(remove_req), out, &st);
	if (st < 0)
		die();
	priv_server_finish(&s);
	slurp(&len_now);
	if (len_now != sizeof(orig) - 1 || memcmp(slurp(&len_now), orig, len_now) != 0)
		die();
	check_attrs();
	return 0;
}
