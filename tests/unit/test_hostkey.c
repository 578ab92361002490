/*
 * test_hostkey: base64 and fingerprints against ssh-keygen, known_hosts
 * names, reading (plain, hashed, lines libssh2 rejects), type probing for
 * pinning, verdicts, and appending without disturbing the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../client/ssh/hostkey.h"
#include "../../client/ssh/knownpat.h"
#include "t.h"

/* The blob of "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC3UUYllO9XngBVtg5l75ye9cLwCEXm/wgy2SUPTIwtc";
 * `ssh-keygen -lf` prints SHA256:HKIaFn5CrmbQOZ1oAoeuLaQY7fWlRDK6/8ouiYrpU8g for it. */
static const unsigned char ed_blob[] = {
    0x00, 0x00, 0x00, 0x0b, 0x73, 0x73, 0x68, 0x2d, 0x65, 0x64, 0x32, 0x35, 0x35,
    0x31, 0x39, 0x00, 0x00, 0x00, 0x20, 0x2d, 0xd4, 0x51, 0x89, 0x65, 0x3b, 0xd5,
    0xe7, 0x80, 0x15, 0x6d, 0x83, 0x99, 0x7b, 0xe7, 0x27, 0xbd, 0x70, 0xbc, 0x02,
    0x11, 0x79, 0xbf, 0xc2, 0x0c, 0xb6, 0x49, 0x43, 0xd3, 0x23, 0x0b, 0x5c};
#define ED_B64 "AAAAC3NzaC1lZDI1NTE5AAAAIC3UUYllO9XngBVtg5l75ye9cLwCEXm/wgy2SUPTIwtc"
#define EC_B64                                                                                     \
	"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBYnxXFAYAqCgvsBusU5xBmoqPvsbmkOsNec" \
	"P3NllqMwSxOI5J4ZPV1SbfkyQawGgOSAMFxosqQUZggXiPjPmAw="
#define RSA_B64 "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDfakefakefakefakefakefakefake"

static char tmpdir[64];
static LIBSSH2_SESSION *session;

static char *read_all(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void test_base64_rfc4648(void)
{
	static const char *const want[] = {"",	     "Zg",	"Zm8",	   "Zm9v",
					   "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	char out[16];

	for (size_t i = 0; i < 7; i++) {
		CHECK_EQ_INT(hostkey_base64(out, sizeof(out), (const unsigned char *)"foobar", i),
			     strlen(want[i]));
		CHECK_STR(out, want[i]);
	}
	/* "Zm9vYg" plus its NUL needs 7 bytes. */
	CHECK_EQ_INT(hostkey_base64(out, 7, (const unsigned char *)"foob", 4), 6);
	CHECK_EQ_INT(hostkey_base64(out, 6, (const unsigned char *)"foob", 4), -ENOSPC);
	CHECK_EQ_INT(hostkey_base64(out, 0, (const unsigned char *)"", 0), -ENOSPC);
}

static void test_base64_all_bytes(void)
{
	unsigned char in[3] = {0xff, 0xfe, 0x00};
	char out[8];

	CHECK_EQ_INT(hostkey_base64(out, sizeof(out), in, 3), 4);
	CHECK_STR(out, "//4A");
	CHECK_EQ_INT(hostkey_base64(out, sizeof(out), in, 2), 3);
	CHECK_STR(out, "//4");
}

static void test_fingerprint_matches_ssh_keygen(void)
{
	char fp[HOSTKEY_FP_LEN];

	CHECK_EQ_INT(hostkey_fingerprint(fp, sizeof(fp), ed_blob, sizeof(ed_blob)), 0);
	CHECK_STR(fp, "SHA256:HKIaFn5CrmbQOZ1oAoeuLaQY7fWlRDK6/8ouiYrpU8g");
	CHECK_EQ_INT(strlen(fp), HOSTKEY_FP_LEN - 1);
	CHECK_EQ_INT(hostkey_fingerprint(fp, HOSTKEY_FP_LEN - 1, ed_blob, sizeof(ed_blob)),
		     -ENOSPC);
}

static void test_name(void)
{
	char n[32], small[8];

	CHECK_EQ_INT(hostkey_name(n, sizeof(n), "192.0.2.2", 22), 0);
	CHECK_STR(n, "192.0.2.2");
	CHECK_EQ_INT(hostkey_name(n, sizeof(n), "192.0.2.2", 0), 0);
	CHECK_STR(n, "192.0.2.2");
	CHECK_EQ_INT(hostkey_name(n, sizeof(n), "192.0.2.2", 2222), 0);
	CHECK_STR(n, "[192.0.2.2]:2222");
	CHECK_EQ_INT(hostkey_name(n, sizeof(n), "2001:db8::2", 2222), 0);
	CHECK_STR(n, "[2001:db8::2]:2222");
	CHECK_EQ_INT(hostkey_name(small, sizeof(small), "192.0.2.2", 22), -ENAMETOOLONG);
}

static void test_type_names(void)
{
	CHECK_STR(hostkey_type_name(LIBSSH2_HOSTKEY_TYPE_ED25519), "ssh-ed25519");
	CHECK_STR(hostkey_type_name(LIBSSH2_HOSTKEY_TYPE_RSA), "ssh-rsa");
	CHECK_STR(hostkey_type_name(LIBSSH2_HOSTKEY_TYPE_ECDSA_384), "ecdsa-sha2-nistp384");
	CHECK(hostkey_type_name(LIBSSH2_HOSTKEY_TYPE_UNKNOWN) == NULL);
}

/* Lines libssh2 rejects or misreads come before the good ones on purpose. */
static const char known_text[] =
    "# a comment\n"
    "\n"
    "@cert-authority *.example.com ssh-ed25519 " ED_B64 "\n"
    "@revoked 192.0.2.77 ssh-ed25519 " ED_B64 "\n"
    "garbage\n"
    "|1|abc=|def= ssh-ed25519 " ED_B64 "\n"
    "192.0.2.9 sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t\n"
    "192.0.2.2 ssh-ed25519 " ED_B64 " someone\n"
    "|1|/v+OTLYiYJBl6Alq5mW4YNNztRY=|5ubk1Tk2VYw5R6Cxla9ZIAgr4Mc= ecdsa-sha2-nistp256 " EC_B64 "\n"
    "192.0.2.3,192.0.2.4 ssh-rsa " RSA_B64 "\n";

static LIBSSH2_KNOWNHOSTS *load_known(void)
{
	char path[128], missing[128];
	const char *files[2] = {missing, path};
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(session);

	snprintf(path, sizeof(path), "%s/known", tmpdir);
	snprintf(missing, sizeof(missing), "%s/nope/known", tmpdir);
	CHECK(t_write_file(path, known_text, strlen(known_text)) == 0);
	CHECK(kh != NULL);
	if (kh)
		CHECK(hostkey_load(kh, files, 2) >= 4);
	return kh;
}

static void test_methods_from_file(void)
{
	static const char *const sup[] = {"ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa",
					  "ssh-dss"};
	static const char *const sup_sha2[] = {"ssh-rsa", "rsa-sha2-512", "ssh-ed25519"};
	LIBSSH2_KNOWNHOSTS *kh = load_known();
	char m[128], tiny[4];

	if (!kh)
		return;
	CHECK_EQ_INT(hostkey_methods(kh, NULL, 0, "192.0.2.2", sup, 4, m, sizeof(m)), 1);
	CHECK_STR(m, "ssh-ed25519");
	/* Hashed, and the port-22 entry of the same address does not count. */
	CHECK_EQ_INT(hostkey_methods(kh, NULL, 0, "[192.0.2.2]:2222", sup, 4, m, sizeof(m)), 1);
	CHECK_STR(m, "ecdsa-sha2-nistp256");
	CHECK_EQ_INT(hostkey_methods(kh, NULL, 0, "192.0.2.4", sup, 4, m, sizeof(m)), 1);
	CHECK_STR(m, "ssh-rsa");
	CHECK_EQ_INT(hostkey_methods(kh, NULL, 0, "192.0.2.4", sup_sha2, 3, m, sizeof(m)), 1);
	CHECK_STR(m, "rsa-sha2-512,ssh-rsa");
	CHECK_EQ_INT(hostkey_methods(kh, NULL, 0, "192.0.2.99", sup, 4, m, sizeof(m)), 0);
	CHECK_STR(m, "");
	/* The skipped marker lines must not have become hosts. */
	CHECK_EQ_INT(hostkey_methods(kh, NULL, 0, "192.0.2.77", sup, 4, m, sizeof(m)), 0);
	CHECK_EQ_INT(hostkey_methods(kh, NULL, 0, "192.0.2.2", sup, 4, tiny, sizeof(tiny)),
		     -ENOSPC);
	libssh2_knownhost_free(kh);
}

static void test_check_verdicts(void)
{
	LIBSSH2_KNOWNHOSTS *kh = load_known();
	unsigned char other[sizeof(ed_blob)];

	if (!kh)
		return;
	memcpy(other, ed_blob, sizeof(other));
	other[sizeof(other) - 1] ^= 1;
	CHECK_EQ_INT(
	    hostkey_check(kh, "192.0.2.2", ed_blob, sizeof(ed_blob), LIBSSH2_HOSTKEY_TYPE_ED25519),
	    HOSTKEY_MATCH);
	CHECK_EQ_INT(
	    hostkey_check(kh, "192.0.2.2", other, sizeof(other), LIBSSH2_HOSTKEY_TYPE_ED25519),
	    HOSTKEY_CHANGED);
	/* Another type than the one on file is unknown, not changed (hence the pinning). */
	CHECK_EQ_INT(hostkey_check(kh, "192.0.2.2", ed_blob, sizeof(ed_blob),
				   LIBSSH2_HOSTKEY_TYPE_ECDSA_256),
		     HOSTKEY_UNKNOWN);
	CHECK_EQ_INT(hostkey_check(kh, "[192.0.2.2]:2222", ed_blob, sizeof(ed_blob),
				   LIBSSH2_HOSTKEY_TYPE_ED25519),
		     HOSTKEY_UNKNOWN);
	CHECK_EQ_INT(
	    hostkey_check(kh, "192.0.2.77", ed_blob, sizeof(ed_blob), LIBSSH2_HOSTKEY_TYPE_ED25519),
	    HOSTKEY_UNKNOWN);
	CHECK_EQ_INT(
	    hostkey_check(kh, "192.0.2.2", ed_blob, sizeof(ed_blob), LIBSSH2_HOSTKEY_TYPE_UNKNOWN),
	    -EPROTONOSUPPORT);
	libssh2_knownhost_free(kh);
}

static void test_locate_changed(void)
{
	static const char first[] = "# comment\n"
				    "192.0.2.7 ssh-ed25519 " ED_B64 "\n"
				    "@revoked 192.0.2.2 ssh-ed25519 " ED_B64 "\n"
				    "192.0.2.2 ecdsa-sha2-nistp256 " EC_B64 "\n"
				    "[192.0.2.2]:2222 ssh-ed25519 " ED_B64 "\n";
	static const char second[] = "\n192.0.2.8,192.0.2.2 ssh-ed25519 " ED_B64 "\n";
	unsigned char other[sizeof(ed_blob)];
	char p1[128], p2[128];
	const char *files[3];
	unsigned long line = 0;
	size_t idx = 9;

	memcpy(other, ed_blob, sizeof(other));
	other[sizeof(other) - 1] ^= 1;
	snprintf(p1, sizeof(p1), "%s/locate1", tmpdir);
	snprintf(p2, sizeof(p2), "%s/locate2", tmpdir);
	CHECK(t_write_file(p1, first, strlen(first)) == 0);
	CHECK(t_write_file(p2, second, strlen(second)) == 0);
	files[0] = "/nonexistent/known_hosts";
	files[1] = p1;
	files[2] = p2;
	CHECK_EQ_INT(hostkey_locate(session, files, 3, "192.0.2.2", other, sizeof(other),
				    LIBSSH2_HOSTKEY_TYPE_ED25519, &idx, &line),
		     0);
	CHECK_EQ_INT(idx, 2);
	CHECK_EQ_INT(line, 2);
	CHECK_EQ_INT(hostkey_locate(session, files, 3, "[192.0.2.2]:2222", other, sizeof(other),
				    LIBSSH2_HOSTKEY_TYPE_ED25519, &idx, &line),
		     0);
	CHECK_EQ_INT(idx, 1);
	CHECK_EQ_INT(line, 5);
	/* The key on file is not "changed" against itself, nor another type's entry. */
	CHECK_EQ_INT(hostkey_locate(session, files, 2, "192.0.2.2", other, sizeof(other),
				    LIBSSH2_HOSTKEY_TYPE_ED25519, &idx, &line),
		     -ENOENT);
	CHECK_EQ_INT(hostkey_locate(session, files, 3, "192.0.2.2", ed_blob, sizeof(ed_blob),
				    LIBSSH2_HOSTKEY_TYPE_ED25519, &idx, &line),
		     -ENOENT);
}

static void test_append_keeps_file(void)
{
	/* A well-formed hash: libssh2 1.10 leaks an HMAC context on malformed ones. */
	static const char before[] =
	    "|1|/v+OTLYiYJBl6Alq5mW4YNNztRY=|5ubk1Tk2VYw5R6Cxla9ZIAgr4Mc= ssh-rsa " RSA_B64
	    "\n192.0.2.3 ssh-rsa " RSA_B64;
	char path[128], want[1024];
	const char *files[1] = {path};
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(session), *kh2;

	snprintf(path, sizeof(path), "%s/append", tmpdir);
	CHECK(t_write_file(path, before, strlen(before)) == 0);
	CHECK_EQ_INT(hostkey_append(kh, path, "[192.0.2.5]:2222", ed_blob, sizeof(ed_blob),
				    LIBSSH2_HOSTKEY_TYPE_ED25519, false),
		     0);
	snprintf(want, sizeof(want), "%s\n[192.0.2.5]:2222 ssh-ed25519 %s sluice\n", before,
		 ED_B64);
	CHECK_STR(read_all(path), want);
	/* Appending again adds one more line, no blank line in between. */
	CHECK_EQ_INT(hostkey_append(kh, path, "192.0.2.6", ed_blob, sizeof(ed_blob),
				    LIBSSH2_HOSTKEY_TYPE_ED25519, false),
		     0);
	snprintf(want, sizeof(want),
		 "%s\n[192.0.2.5]:2222 ssh-ed25519 %s sluice\n192.0.2.6 ssh-ed25519 %s sluice\n",
		 before, ED_B64, ED_B64);
	CHECK_STR(read_all(path), want);

	kh2 = libssh2_knownhost_init(session);
	CHECK(hostkey_load(kh2, files, 1) >= 2);
	CHECK_EQ_INT(hostkey_check(kh2, "[192.0.2.5]:2222", ed_blob, sizeof(ed_blob),
				   LIBSSH2_HOSTKEY_TYPE_ED25519),
		     HOSTKEY_MATCH);
	libssh2_knownhost_free(kh2);
	libssh2_knownhost_free(kh);
}

static void test_append_creates_dir(void)
{
	char dir[128], path[160];
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(session);
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/dotssh", tmpdir);
	snprintf(path, sizeof(path), "%s/known_hosts", dir);
	CHECK_EQ_INT(hostkey_append(kh, path, "192.0.2.2", ed_blob, sizeof(ed_blob),
				    LIBSSH2_HOSTKEY_TYPE_ED25519, false),
		     0);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_STR(read_all(path), "192.0.2.2 ssh-ed25519 " ED_B64 " sluice\n");
	libssh2_knownhost_free(kh);
	unlink(path);
	rmdir(dir);
}

/* A known_hosts someone planted as a symlink, or owns, is never appended to. */
static void test_append_refuses_planted(void)
{
	char target[160], alias[160];
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(session);
	struct stat st;
	int fd;

	snprintf(target, sizeof(target), "%s/elsewhere", tmpdir);
	snprintf(alias, sizeof(alias), "%s/kh_link", tmpdir);
	fd = open(target, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(symlink(target, alias) == 0);
	CHECK_EQ_INT(hostkey_append(kh, alias, "192.0.2.2", ed_blob, sizeof(ed_blob),
				    LIBSSH2_HOSTKEY_TYPE_ED25519, false),
		     -EPERM);
	CHECK(stat(target, &st) == 0 && st.st_size == 0);
	unlink(alias);
	/* A hard link leads there as surely as a symlink. */
	CHECK(link(target, alias) == 0);
	CHECK_EQ_INT(hostkey_append(kh, alias, "192.0.2.2", ed_blob, sizeof(ed_blob),
				    LIBSSH2_HOSTKEY_TYPE_ED25519, false),
		     -EPERM);
	unlink(alias);
	/* Writable by anyone: neither appended to nor trusted. */
	CHECK(chmod(target, 0666) == 0);
	CHECK_EQ_INT(hostkey_append(kh, target, "192.0.2.2", ed_blob, sizeof(ed_blob),
				    LIBSSH2_HOSTKEY_TYPE_ED25519, false),
		     -EPERM);
	CHECK_EQ_INT(hostkey_load(kh, (const char *const[]){target}, 1), -EPERM);
	CHECK(stat(target, &st) == 0 && st.st_size == 0);
	CHECK(chmod(target, 0644) == 0);
	/* Owned by another user: refused too (only meaningful where we can chown). */
	if (geteuid() == 0 && chown(target, 4321, 4321) == 0) {
		CHECK_EQ_INT(hostkey_append(kh, target, "192.0.2.2", ed_blob, sizeof(ed_blob),
					    LIBSSH2_HOSTKEY_TYPE_ED25519, false),
			     -EPERM);
		CHECK(stat(target, &st) == 0 && st.st_size == 0);
		/* And not trusted for reading either. */
		CHECK(!hostkey_owner_ok(&st));
		CHECK_EQ_INT(hostkey_load(kh, (const char *const[]){target}, 1), -EPERM);
	}
	unlink(target);
	libssh2_knownhost_free(kh);
}

/* OpenSSH's hashing of names (HMAC-SHA1 keyed with the salt), against Python's hmac. */
static void test_hash_name(void)
{
	unsigned char salt[HOSTKEY_SALT_LEN];
	char sb[HOSTKEY_HASH_B64], hb[HOSTKEY_HASH_B64];
	size_t i;

	for (i = 0; i < sizeof(salt); i++)
		salt[i] = (unsigned char)(i + 1);
	CHECK_EQ_INT(hostkey_hash_name("192.0.2.2", salt, sb, hb), 0);
	CHECK_STR(sb, "AQIDBAUGBwgJCgsMDQ4PEBESExQ=");
	CHECK_STR(hb, "VIK+LFjyhTs2O6dYoibx5y7nzks=");
	CHECK_EQ_INT(hostkey_hash_name("[192.0.2.5]:2222", salt, sb, hb), 0);
	CHECK_STR(hb, "R9DQm2k+FDEGNVueaVaIu38Fbh4=");
}

/* HashKnownHosts: the line names no host, and reading it back matches the host (and only it). */
static void test_append_hashed(void)
{
	char path[128], *text;
	const char *files[1] = {path};
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(session), *kh2;

	snprintf(path, sizeof(path), "%s/hashed", tmpdir);
	unlink(path);
	CHECK_EQ_INT(hostkey_append(kh, path, "[192.0.2.5]:2222", ed_blob, sizeof(ed_blob),
				    LIBSSH2_HOSTKEY_TYPE_ED25519, true),
		     0);
	text = read_all(path);
	CHECK(text && !strncmp(text, "|1|", 3) && !strstr(text, "192.0.2.5") &&
	      strstr(text, " ssh-ed25519 " ED_B64 " sluice\n"));
	kh2 = libssh2_knownhost_init(session);
	CHECK(hostkey_load(kh2, files, 1) == 1);
	CHECK_EQ_INT(hostkey_check(kh2, "[192.0.2.5]:2222", ed_blob, sizeof(ed_blob),
				   LIBSSH2_HOSTKEY_TYPE_ED25519),
		     HOSTKEY_MATCH);
	CHECK_EQ_INT(
	    hostkey_check(kh2, "192.0.2.5", ed_blob, sizeof(ed_blob), LIBSSH2_HOSTKEY_TYPE_ED25519),
	    HOSTKEY_UNKNOWN);
	libssh2_knownhost_free(kh2);
	libssh2_knownhost_free(kh);
	unlink(path);
}

static void test_pattern_lists(void)
{
#define M(list, host) knownpat_match_list(list, strlen(list), host)
	CHECK(M("*.corp.example", "db.corp.example"));
	CHECK(!M("*.corp.example", "corp.example"));
	CHECK(M("192.0.2.*,!192.0.2.9", "192.0.2.2"));
	CHECK(!M("192.0.2.*,!192.0.2.9", "192.0.2.9"));
	CHECK(!M("!192.0.2.9,192.0.2.*", "192.0.2.9"));
	CHECK(M("Gate.Example", "gate.example"));
	CHECK(M("?.x", "a.x"));
	CHECK(!M("?.x", "ab.x"));
	CHECK(M("[*]:2222", "[192.0.2.2]:2222"));
	CHECK(!M("[*]:2222", "192.0.2.2"));
	CHECK(M("a,*", "anything"));
	CHECK(!M("!*", "anything"));
	CHECK(!M("", "a"));
	CHECK(M("*a*b*", "xxaxxbxx"));
	CHECK(!M("*a*b", "xxaxxbxx"));
#undef M
}

static int scan(const char *text, const char *name, const unsigned char *key, size_t klen,
		struct knownpat_result *res)
{
	static const char *const types[] = {"ssh-ed25519", "ecdsa-sha2-nistp256"};
	char path[128];
	const char *files[2] = {"/dev/null", path};

	snprintf(path, sizeof(path), "%s/patterns", tmpdir);
	CHECK(t_write_file(path, text, strlen(text)) == 0);
	return knownpat_scan(files, 2, name, "ssh-ed25519", key, klen, types, 2, res);
}

static void test_pattern_verdicts(void)
{
	unsigned char other[sizeof(ed_blob)], salt[HOSTKEY_SALT_LEN];
	char salt_b64[HOSTKEY_HASH_B64], hash_b64[HOSTKEY_HASH_B64], line[256];
	struct knownpat_result res;

	memcpy(other, ed_blob, sizeof(other));
	other[sizeof(other) - 1] ^= 1;
	memset(salt, 7, sizeof(salt));

	/* A wildcard line: the same key matches, another of its type is a changed key. */
	CHECK_EQ_INT(scan("# c\n192.0.2.*,!192.0.2.9 ssh-ed25519 " ED_B64 "\n", "192.0.2.2",
			  ed_blob, sizeof(ed_blob), &res),
		     0);
	CHECK_EQ_INT(res.verdict, KNOWNPAT_MATCH);
	CHECK_EQ_INT(scan("# c\n192.0.2.*,!192.0.2.9 ssh-ed25519 " ED_B64 "\n", "192.0.2.2", other,
			  sizeof(other), &res),
		     0);
	CHECK_EQ_INT(res.verdict, KNOWNPAT_CHANGED);
	CHECK_EQ_INT(res.file, 1);
	CHECK_EQ_INT(res.line, 2);
	CHECK_EQ_INT(res.types, 1);
	CHECK_EQ_INT(scan("192.0.2.*,!192.0.2.9 ssh-ed25519 " ED_B64 "\n", "192.0.2.9", other,
			  sizeof(other), &res),
		     0);
	CHECK_EQ_INT(res.verdict, KNOWNPAT_NONE);
	/* Another type on a pattern line: not a verdict, but a type to pin. */
	CHECK_EQ_INT(scan("192.0.2.* ecdsa-sha2-nistp256 " EC_B64 "\n", "192.0.2.2", other,
			  sizeof(other), &res),
		     0);
	CHECK_EQ_INT(res.verdict, KNOWNPAT_NONE);
	CHECK_EQ_INT(res.types, 2);
	/* Plain lower-case names are libssh2's to judge. */
	CHECK_EQ_INT(
	    scan("192.0.2.2 ssh-ed25519 " ED_B64 "\n", "192.0.2.2", other, sizeof(other), &res), 0);
	CHECK_EQ_INT(res.verdict, KNOWNPAT_NONE);
	/* Revoked wins over any line that has the key, and speaks for patterns too. */
	CHECK_EQ_INT(scan("192.0.2.2 ssh-ed25519 " ED_B64 "\n192.0.2.* ssh-ed25519 " ED_B64
			  "\n@revoked * ssh-ed25519 " ED_B64 "\n",
			  "192.0.2.2", ed_blob, sizeof(ed_blob), &res),
		     0);
	CHECK_EQ_INT(res.verdict, KNOWNPAT_REVOKED);
	CHECK_EQ_INT(res.line, 3);
	/* Another key revoked, or one for another host: no verdict of its own. */
	CHECK_EQ_INT(scan("@revoked * ssh-ed25519 " ED_B64
			  "\n@revoked 192.0.2.3 ssh-ed25519 " ED_B64 "\n",
			  "192.0.2.2", other, sizeof(other), &res),
		     0);
	CHECK_EQ_INT(res.verdict, KNOWNPAT_NONE);
	CHECK_EQ_INT(scan("@revoked 192.0.2.3 ssh-ed25519 " ED_B64 "\n", "192.0.2.2", ed_blob,
			  sizeof(ed_blob), &res),
		     0);
	CHECK_EQ_INT(res.verdict, KNOWNPAT_NONE);
	/* A hashed name on a revoked line. */
	CHECK_EQ_INT(hostkey_hash_name("192.0.2.2", salt, salt_b64, hash_b64), 0);
	snprintf(line, sizeof(line), "@revoked |1|%s|%s ssh-ed25519 %s\n", salt_b64, hash_b64,
		 ED_B64);
	CHECK_EQ_INT(scan(line, "192.0.2.2", ed_blob, sizeof(ed_blob), &res), 0);
	CHECK_EQ_INT(res.verdict, KNOWNPAT_REVOKED);
	CHECK_EQ_INT(scan(line, "192.0.2.3", ed_blob, sizeof(ed_blob), &res), 0);
	CHECK_EQ_INT(res.verdict, KNOWNPAT_NONE);
	/* Certificate authorities are not judged; broken lines are skipped. */
	CHECK_EQ_INT(scan("@cert-authority * ssh-ed25519 AAAA\n* ssh-ed25519 !!!!\n* ssh-ed25519\n",
			  "192.0.2.2", ed_blob, sizeof(ed_blob), &res),
		     0);
	CHECK_EQ_INT(res.verdict, KNOWNPAT_NONE);
}

/* The key types on a pattern line for the host pin the handshake; /dev/null holds none. */
static void test_pattern_pins_and_devnull(void)
{
	static const char *const sup[] = {"ecdsa-sha2-nistp256", "ssh-ed25519"};
	static const char text[] = "*.corp.example ecdsa-sha2-nistp256 " EC_B64 "\n";
	char path[128], m[256];
	const char *files[2] = {"/dev/null", path};
	LIBSSH2_KNOWNHOSTS *kh = libssh2_knownhost_init(session);

	snprintf(path, sizeof(path), "%s/pins", tmpdir);
	CHECK(t_write_file(path, text, strlen(text)) == 0);
	CHECK(kh != NULL);
	if (!kh)
		return;
	CHECK_EQ_INT(hostkey_load(kh, files, 1), 0);
	CHECK_EQ_INT(hostkey_load(kh, files, 2), 1); /* as a name libssh2 never matches */
	CHECK_EQ_INT(hostkey_methods(kh, files, 2, "db.corp.example", sup, 2, m, sizeof(m)), 1);
	CHECK_STR(m, "ecdsa-sha2-nistp256");
	CHECK_EQ_INT(hostkey_methods(kh, files, 2, "db.other.example", sup, 2, m, sizeof(m)), 0);
	libssh2_knownhost_free(kh);
}

int main(void)
{
	char cmd[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_hostkey.XXXXXX");
	if (!mkdtemp(tmpdir) || libssh2_init(0) != 0)
		return 2;
	session = libssh2_session_init();
	if (!session)
		return 2;

	RUN(test_base64_rfc4648);
	RUN(test_base64_all_bytes);
	RUN(test_hash_name);
	RUN(test_append_hashed);
	RUN(test_fingerprint_matches_ssh_keygen);
	RUN(test_name);
	RUN(test_type_names);
	RUN(test_methods_from_file);
	RUN(test_check_verdicts);
	RUN(test_locate_changed);
	RUN(test_append_keeps_file);
	RUN(test_append_creates_dir);
	RUN(test_append_refuses_planted);
	RUN(test_pattern_lists);
	RUN(test_pattern_verdicts);
	RUN(test_pattern_pins_and_devnull);

	libssh2_session_free(session);
	libssh2_exit();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", tmpdir);
	T_EXIT();
}
