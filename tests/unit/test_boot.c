/*
 * Unit tests for the bootstrap: boot_start itself, over the real command
 * transport (-e), with a local /bin/sh and a private HOME standing in for
 * the remote login and the real embedded helper at the far end. It must ask
 * for the upload once, cache the helper, start it, and exchange HELLO; and
 * say clearly why when the command or the bootstrap fails.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../client/link/boot.h"
#include "../../client/cmd/transport_cmd.h"
#include "../../common/wire.h"
#include "t.h"

static char home[] = "/tmp/sluice-boot-test-XXXXXX";
static char fakessh[512];
static struct boot_report last; /* what the last boot_once did */

/* A stand-in for ssh: drops HOST and runs the remote command with this test's HOME. */
static void fake_ssh(const char *path_prefix)
{
	snprintf(fakessh, sizeof(fakessh),
		 "env -u XDG_CACHE_HOME HOME=%s PATH=%s/usr/bin:/bin /bin/sh -c "
		 "'exec /bin/sh -c \"$2\"' fake-ssh",
		 home, path_prefix);
}

/* boot_start over a fresh command transport; returns its result, err gets the line. */
static int boot_once(char *err, size_t errlen, struct wire_hello *peer)
{
	struct transport *t = NULL;
	int r;

	err[0] = '\0';
	CHECK_EQ_INT(transport_cmd_open(&t, fakessh, "remote.test", NULL, 0, NULL), 0);
	if (!t)
		return -ENOMEM;
	/* OpenSSH queues deeply: session.c asks for the deep pipe over -e. */
	CHECK(t->queues_deep);
	r = boot_start(t, 0, 1 << 20, WIRE_F_ROUTES | WIRE_F_DEEP_OUT, 0, NULL, peer, &last, err,
		       errlen);
	transport_close(t);
	return r;
}

/* The helper this machine (x86_64) gets. */
static const struct boot_blob *native(void)
{
	return boot_blob_for("x86_64");
}

static void cached_path(char *path, size_t len)
{
	char hex[SHA256_HEX];
	uint8_t hash[SHA256_LEN];

	boot_blob_hash(native(), hash);
	sha256_hex(hash, hex);
	snprintf(path, len, "%s/.cache/sluice/sluice-helper-%s", home, hex);
}

/* The cached copy's modification time in ns, 0 when there is none. */
static long long cached_mtime(void)
{
	char path[256];
	struct stat st;

	cached_path(path, sizeof(path));
	return stat(path, &st) == 0 ? st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec : 0;
}

/* The cached copy holds exactly the helper we carry. */
static int cached_intact(void)
{
	char path[256];
	const uint8_t *blob = native()->start;
	size_t len = (size_t)(native()->end - blob), got;
	uint8_t *buf = malloc(len + 1);
	FILE *fp;
	int ok;

	cached_path(path, sizeof(path));
	fp = fopen(path, "r");
	if (!fp || !buf) {
		if (fp)
			fclose(fp);
		free(buf);
		return 0;
	}
	got = fread(buf, 1, len + 1, fp);
	fclose(fp);
	ok = got == len && memcmp(buf, blob, len) == 0;
	free(buf);
	return ok;
}

static void test_command_is_shell_safe(void)
{
	char cmd[4096];
	const char *body;

	CHECK_EQ_INT(boot_command(cmd, sizeof(cmd), 2), 0);
	/* Inside the single-quoted script: no quote to break out of, no csh history '!'. */
	body = strchr(cmd, '\'');
	CHECK(body && strchr(body + 1, '\'') == strrchr(cmd, '\''));
	CHECK(strchr(cmd, '!') == NULL);
	CHECK(strchr(cmd, '\n') == NULL);
	CHECK(strstr(cmd, " -vv") != NULL);
	CHECK_EQ_INT(boot_command(cmd, 100, 0), -ENOSPC);
	/* Just past the script's end, sized to cut the offer short: refused, not truncated. */
	CHECK_EQ_INT(boot_command(cmd, (size_t)(strrchr(cmd, '\'') - cmd) + 40, 2), -ENOSPC);
}

/* The offer after the flags: each spelling we serve with its helper's hash and size. */
static void test_command_offers_each_machine(void)
{
	static const char *const spellings[] = {"x86_64", "amd64",  "aarch64",
						"arm64",  "armv7l", "armv8l"};
	char cmd[4096], want[128], hex[SHA256_HEX];
	uint8_t hash[SHA256_LEN];
	const char *offer;
	size_t i, n = 0;

	CHECK_EQ_INT(boot_command(cmd, sizeof(cmd), 0), 0);
	offer = strstr(cmd, "' sluice-boot -q ");
	CHECK(offer != NULL);
	if (!offer)
		return;
	for (i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		const struct boot_blob *b = boot_blob_for(spellings[i]);

		snprintf(want, sizeof(want), " %s ", spellings[i]);
		if (!b) {
			CHECK(strstr(offer, want) == NULL);
			continue;
		}
		boot_blob_hash(b, hash);
		sha256_hex(hash, hex);
		snprintf(want, sizeof(want), " %s %s %zu", spellings[i], hex,
			 (size_t)(b->end - b->start));
		CHECK(strstr(offer, want) != NULL);
		n++;
	}
	/* Nothing else: "-q" then three words per spelling served. */
	for (i = 0, offer += strlen("' sluice-boot -q"); *offer; offer++)
		i += *offer == ' ';
	CHECK_EQ_INT(i, 3 * n);
	CHECK(n >= 2); /* x86_64 and amd64 at least */
}

static void test_upload_then_cached(void)
{
	char path[256], err[512];
	uint8_t hash[SHA256_LEN];
	struct wire_hello peer;
	struct stat st;
	long long first;

	fake_ssh("");
	memset(&peer, 0, sizeof(peer));
	CHECK_EQ_INT(boot_once(err, sizeof(err), &peer), 0);
	if (*err)
		printf("  boot: %s\n", err);
	boot_blob_hash(native(), hash);
	CHECK(memcmp(peer.hash, hash, SHA256_LEN) == 0);
	CHECK(peer.window > 0);
	CHECK(peer.features & WIRE_F_ROUTES);
	CHECK(peer.features & WIRE_F_DEEP_OUT); /* the helper offers the deep stdout pipe */
	CHECK_STR(last.arch, "x86_64");
	CHECK_EQ_INT(last.uploaded, native()->end - native()->start);
	snprintf(path, sizeof(path), "%s/.cache/sluice", home);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0700);
	first = cached_mtime();
	CHECK(first != 0 && cached_intact());
	/* The second start finds the cached copy: not written again. */
	CHECK_EQ_INT(boot_once(err, sizeof(err), &peer), 0);
	CHECK(cached_mtime() == first);
	CHECK_EQ_INT(last.uploaded, 0);
	/* A corrupted cached copy is detected and replaced. */
	cached_path(path, sizeof(path));
	{
		FILE *fp = fopen(path, "r+");
		CHECK(fp != NULL);
		if (fp) {
			fseek(fp, 1000, SEEK_SET);
			fputc('Z', fp);
			fclose(fp);
		}
	}
	CHECK(!cached_intact());
	CHECK_EQ_INT(boot_once(err, sizeof(err), &peer), 0);
	CHECK(cached_intact());
}

/* fakebin/uname says what machine; fake_ssh puts fakebin first in PATH. */
static void fake_uname(const char *machine)
{
	char bin[300];
	FILE *fp;

	snprintf(bin, sizeof(bin), "%s/fakebin", home);
	mkdir(bin, 0755);
	snprintf(bin, sizeof(bin), "%s/fakebin/uname", home);
	fp = fopen(bin, "w");
	CHECK(fp != NULL);
	if (!fp)
		return;
	fprintf(fp, "#!/bin/sh\necho %s\n", machine);
	fclose(fp);
	chmod(bin, 0755);
	snprintf(bin, sizeof(bin), "%s/fakebin:", home);
	fake_ssh(bin);
}

/* A machine we carry no helper for: refused by name, nothing uploaded. */
static void test_unsupported_arch(void)
{
	char err[512];
	struct wire_hello peer;

	fake_uname("s390x");
	CHECK_EQ_INT(boot_once(err, sizeof(err), &peer), -ENOEXEC);
	CHECK(strstr(err, "the remote machine is s390x") != NULL);
	CHECK(strstr(err, "carries helpers for x86_64") != NULL);
	CHECK_EQ_INT(last.uploaded, 0);
	fake_ssh("");
}

/* The command itself fails (as ssh does on a refused key): its words and status, named. */
/* Another spelling of this machine: the script picks the same helper from the offer. */
static void test_alias_machine(void)
{
	char err[512];
	struct wire_hello peer;

	fake_uname("amd64");
	CHECK_EQ_INT(boot_once(err, sizeof(err), &peer), 0);
	if (*err)
		printf("  boot: %s\n", err);
	CHECK_STR(last.arch, "x86_64");
	CHECK_EQ_INT(last.uploaded, 0);
	fake_ssh("");
}

/* A remote that answers with its own lines instead of the script's. */
static int boot_fake_remote(const char *script, char *err, size_t errlen)
{
	struct wire_hello peer;

	snprintf(fakessh, sizeof(fakessh), "/bin/sh -c '%s' x", script);
	return boot_once(err, errlen, &peer);
}

/* Status lines are matched exactly, and the machine they name cannot change on the way. */
static void test_remote_lies(void)
{
	char err[512], script[400], path[256], hex[SHA256_HEX];
	uint8_t hash[SHA256_LEN];

	CHECK_EQ_INT(boot_fake_remote("echo SLUICE-BOOT run s390x", err, sizeof(err)), -EPROTO);
	CHECK(strstr(err, "unexpected reply from the remote bootstrap: SLUICE-BOOT run s390x"));
	CHECK_EQ_INT(boot_fake_remote("echo SLUICE-BOOT run", err, sizeof(err)), -EPROTO);
	CHECK_EQ_INT(boot_fake_remote("echo \"SLUICE-BOOT run x86_64 \"", err, sizeof(err)),
		     -EPROTO);
	CHECK_EQ_INT(boot_fake_remote("echo SLUICE-BOOT runs x86_64", err, sizeof(err)), -EPROTO);
	/* Shell noise before the status is skipped; the status itself is not. */
	snprintf(script, sizeof(script),
		 "echo motd; echo SLUICE-BOOT need x86_64; head -c %zu >/dev/null; "
		 "echo SLUICE-BOOT run aarch64",
		 (size_t)(native()->end - native()->start));
	CHECK_EQ_INT(boot_fake_remote(script, err, sizeof(err)), -EPROTO);
	CHECK(strstr(err, "unexpected reply from the remote bootstrap: SLUICE-BOOT run aarch64"));
	CHECK_EQ_INT(last.uploaded, native()->end - native()->start);
	/* A machine named for one helper must run that helper: its hash is checked. */
	if (!boot_blob_for("aarch64"))
		return;
	cached_path(path, sizeof(path));
	boot_blob_hash(native(), hash);
	sha256_hex(hash, hex);
	snprintf(script, sizeof(script), "echo SLUICE-BOOT run aarch64; exec %s --serve %s -q",
		 path, hex);
	CHECK_EQ_INT(boot_fake_remote(script, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "hash mismatch") != NULL);
	fake_ssh("");
}

/* The machine names we know, and the table the build generated. */
static void test_blob_table(void)
{
	char list[128];

	CHECK(boot_n_blobs >= 1);
	CHECK(native() != NULL);
	CHECK(boot_blob_for("amd64") == native());
	CHECK(boot_blob_for("s390x") == NULL);
	CHECK(boot_blob_for("") == NULL);
	/* Each blob is a static ELF for its machine (e_machine: x86-64 62, AArch64 183, ARM 40). */
	for (size_t i = 0; i < boot_n_blobs; i++) {
		const uint8_t *b = boot_blobs[i].start;
		unsigned m = b[18] | b[19] << 8;

		CHECK(boot_blobs[i].end - b > 4096 && !memcmp(b, "\177ELF", 4));
		if (!strcmp(boot_blobs[i].arch, "x86_64"))
			CHECK_EQ_INT(m, 62);
		else if (!strcmp(boot_blobs[i].arch, "aarch64"))
			CHECK(m == 183 && boot_blob_for("arm64") == &boot_blobs[i]);
		else if (!strcmp(boot_blobs[i].arch, "armv7l"))
			CHECK(m == 40 && boot_blob_for("armv8l") == &boot_blobs[i]);
	}
	boot_arches(list, sizeof(list));
	CHECK(strncmp(list, "x86_64", 6) == 0);
}

static void test_command_fails(void)
{
	char err[512];
	struct wire_hello peer;

	snprintf(fakessh, sizeof(fakessh),
		 "/bin/sh -c 'echo \"user@host: Permission denied (publickey).\" >&2; exit 255' x");
	CHECK(boot_once(err, sizeof(err), &peer) < 0);
	CHECK(strstr(err, "-e command") != NULL);
	CHECK(strstr(err, "exit 255") != NULL);
	CHECK(strstr(err, "Permission denied (publickey).") != NULL);
	snprintf(fakessh, sizeof(fakessh), "/nonexistent/ssh");
	CHECK(boot_once(err, sizeof(err), &peer) < 0);
	CHECK(strstr(err, "exit 127") != NULL);
	fake_ssh("");
}

int main(void)
{
	char cmd[512];

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(home))
		return 1;
	RUN(test_command_is_shell_safe);
	RUN(test_command_offers_each_machine);
	RUN(test_upload_then_cached);
	RUN(test_alias_machine);
	RUN(test_remote_lies);
	RUN(test_unsupported_arch);
	RUN(test_blob_table);
	RUN(test_command_fails);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	if (system(cmd) != 0)
		return 1;
	T_EXIT();
}
