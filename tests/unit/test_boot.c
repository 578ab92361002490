/*
 * Unit tests for the bootstrap: the exact remote command is run here by
 * /bin/sh with a private HOME, standing in for the remote login, and must
 * ask for the upload once, cache the helper, and start it (which says HELLO).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../client/boot.h"
#include "../../common/wire.h"
#include "t.h"

static char home[] = "/tmp/sluice-boot-test-XXXXXX";

struct child {
	pid_t pid;
	int in, out;
};

static struct child spawn(const char *cmd)
{
	int to[2], from[2];
	struct child c;

	pipe(to);
	pipe(from);
	c.pid = fork();
	if (c.pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[1]);
		close(from[0]);
		/* The helper complains on stderr when the test hangs up on it; that is expected. */
		freopen("/dev/null", "w", stderr);
		setenv("HOME", home, 1);
		unsetenv("XDG_CACHE_HOME");
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	c.in = to[1];
	c.out = from[0];
	return c;
}

static int read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len && read(fd, buf + n, 1) == 1) {
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return 0;
		}
		n++;
	}
	buf[n] = '\0';
	return -1;
}

static int read_hello(int fd, struct wire_frame *f, uint8_t *buf, size_t cap)
{
	size_t have = 0;
	int r;

	while ((r = wire_parse(buf, have, f)) == 0 && have < cap) {
		ssize_t n = read(fd, buf + have, cap - have);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return r > 0 ? 0 : -1;
}

static void finish(struct child *c)
{
	close(c->in);
	close(c->out);
	kill(c->pid, SIGTERM);
	waitpid(c->pid, NULL, 0);
}

static void test_command_is_shell_safe(void)
{
	char cmd[4096], hex[SHA256_HEX];
	const char *body;

	sha256_hex(boot_helper_hash(), hex);
	CHECK_EQ_INT(boot_command(cmd, sizeof(cmd), hex, 1234, 2), 0);
	/* Inside the single-quoted script: no quote to break out of, no csh history '!'. */
	body = strchr(cmd, '\'');
	CHECK(body && strchr(body + 1, '\'') == strrchr(cmd, '\''));
	CHECK(strchr(cmd, '!') == NULL);
	CHECK(strchr(cmd, '\n') == NULL);
	CHECK(strstr(cmd, " -vv") != NULL);
	CHECK_EQ_INT(boot_command(cmd, 100, hex, 1234, 0), -ENOSPC);
}

static void run_once(int expect_upload)
{
	char cmd[4096], hex[SHA256_HEX], line[256];
	uint8_t buf[256];
	struct wire_frame f;
	struct child c;
	size_t len;
	const uint8_t *blob = boot_helper(&len);

	sha256_hex(boot_helper_hash(), hex);
	boot_command(cmd, sizeof(cmd), hex, len, 0);
	c = spawn(cmd);
	CHECK_EQ_INT(read_line(c.out, line, sizeof(line)), 0);
	if (expect_upload) {
		CHECK_STR(line, "SLUICE-BOOT need");
		CHECK_EQ_INT(write(c.in, blob, len), (long long)len);
		CHECK_EQ_INT(read_line(c.out, line, sizeof(line)), 0);
	}
	CHECK_STR(line, "SLUICE-BOOT run");
	CHECK_EQ_INT(read_hello(c.out, &f, buf, sizeof(buf)), 0);
	CHECK_EQ_INT(f.type, WIRE_HELLO);
	CHECK(memcmp(f.u.hello.hash, boot_helper_hash(), SHA256_LEN) == 0);
	finish(&c);
}

static void test_upload_then_cached(void)
{
	char path[256], hex[SHA256_HEX];
	struct stat st;

	sha256_hex(boot_helper_hash(), hex);
	run_once(1);
	snprintf(path, sizeof(path), "%s/.cache/sluice", home);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0700);
	run_once(0);
	/* A corrupted cached copy is detected and replaced. */
	snprintf(path, sizeof(path), "%s/.cache/sluice/sluice-helper-%s", home, hex);
	{
		FILE *fp = fopen(path, "r+");
		CHECK(fp != NULL);
		if (fp) {
			fseek(fp, 1000, SEEK_SET);
			fputc('Z', fp);
			fclose(fp);
		}
	}
	run_once(1);
}

int main(void)
{
	char cmd[512];

	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(home))
		return 1;
	RUN(test_command_is_shell_safe);
	RUN(test_upload_then_cached);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	if (system(cmd) != 0)
		return 1;
	T_EXIT();
}
