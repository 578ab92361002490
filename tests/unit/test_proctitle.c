/*
 * Unit tests for client/proctitle.c, in forked children of the test's own
 * process (a title changes the whole process): after proctitle_init,
 * argv and the environment read as before; a title shows in
 * /proc/PID/cmdline exactly, one longer than the area is cut to it, and
 * comm is cut at 15 bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../client/proctitle.h"
#include "../../common/log.h"
#include "t.h"

static int g_argc;
static char **g_argv;

/* All of /proc/PID/NAME into buf; its length, or -1. */
static ssize_t proc_read(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64];
	size_t have = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (have < len && (n = read(fd, buf + have, len - have)) > 0)
		have += (size_t)n;
	close(fd);
	return (ssize_t)have;
}

/*
 * A child that retitles itself, checks what it still reads, says so on a
 * pipe (one byte: 'y' all is well) and waits to be looked at.
 */
static pid_t titled(const char *comm, const char *title, int *rd)
{
	char *arg0 = strdup(g_argv[0]), *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	int p[2];
	pid_t pid;

	CHECK_EQ_INT(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		char ok = 'y';

		close(p[0]);
		if (proctitle_init(g_argc, g_argv) < 0)
			ok = 'i';
		proctitle_set(comm, title);
		if (strcmp(g_argv[0], arg0) != 0)
			ok = 'a';
		if (path && (!getenv("PATH") || strcmp(getenv("PATH"), path) != 0))
			ok = 'e';
		if (write(p[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	*rd = p[0];
	free(arg0);
	free(path);
	return pid;
}

static void reap(pid_t pid, int rd)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(rd);
}

static void test_title(void)
{
	static const char title[] = "sluice: lane 3 of user@host";
	char buf[8192], ok = 0;
	ssize_t n;
	int rd;
	pid_t pid = titled("sluice-lane3", title, &rd);

	CHECK(pid > 0);
	CHECK_EQ_INT(read(rd, &ok, 1), 1);
	CHECK_EQ_INT(ok, 'y');
	n = proc_read(pid, "cmdline", buf, sizeof(buf));
	CHECK_EQ_INT(n, (ssize_t)sizeof(title));
	CHECK(n == (ssize_t)sizeof(title) && memcmp(buf, title, sizeof(title)) == 0);
	n = proc_read(pid, "comm", buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	CHECK_STR(buf, "sluice-lane3\n");
	reap(pid, rd);
}

/* Longer than argv and the environment together: cut to the area, never past it. */
static void test_long(void)
{
	static char title[1 << 20];
	static char buf[1 << 20];
	char ok = 0;
	size_t area = 0;
	ssize_t n;
	int rd, i;
	pid_t pid;
	extern char **environ;

	for (i = 0; i < g_argc; i++)
		area += strlen(g_argv[i]) + 1;
	for (i = 0; environ[i]; i++)
		area += strlen(environ[i]) + 1;
	memset(title, 'x', sizeof(title) - 1);
	pid = titled("a-name-longer-than-fifteen", title, &rd);
	CHECK_EQ_INT(read(rd, &ok, 1), 1);
	CHECK_EQ_INT(ok, 'y');
	n = proc_read(pid, "cmdline", buf, sizeof(buf));
	/* The title, cut, with its NUL: within the area (a page at most shown). */
	CHECK(n >= 2 && (size_t)n <= area && buf[n - 1] == '\0');
	CHECK(n >= 2 && strspn(buf, "x") == (size_t)n - 1);
	n = proc_read(pid, "comm", buf, 64);
	buf[n > 0 ? n : 0] = '\0';
	CHECK_STR(buf, "a-name-longer-t\n");
	reap(pid, rd);
}

int main(int argc, char **argv)
{
	g_argc = argc;
	g_argv = argv;
	log_init("test_proctitle", LOG_WARN);
	RUN(test_title);
	RUN(test_long);
	T_EXIT();
}
