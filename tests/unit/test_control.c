/*
 * test_control: --status --json's merge of the replies. Each reply must be
 * one object, and whose it is comes from SO_PEERCRED, never from its text;
 * checked on the pure merge and through real sockets with control_query_all.
 */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "../../client/run/control.h"
#include "../../client/run/report.h"

static char out[4096];

static int merge(const char *reply, unsigned uid)
{
	return control_merge_json(reply, strlen(reply), uid, out, sizeof(out));
}

static void test_forged_owner_is_replaced(void)
{
	int n = merge("{\"pid\": 7, \"uid\": 0, \"user\": \"root\", \"uid\": 0}", 1000);

	CHECK(n > 0);
	CHECK_STR(out, "{\"uid\": 1000, \"pid\": 7, \"user\": \"root\"}");
	CHECK_EQ_INT(n, strlen(out));
	/* "uid" spelled with an escape would be a second uid to a JSON reader. */
	CHECK_EQ_INT(merge("{\"pid\": 7, \"\\u0075id\": 0}", 1000), -EPROTO);
}

static void test_one_object_only(void)
{
	CHECK_EQ_INT(merge("{\"pid\": 1}, {\"pid\": 2, \"uid\": 0}", 1000), -EPROTO);
	CHECK_EQ_INT(merge("{\"pid\": 1}{\"pid\": 2}", 1000), -EPROTO);
	CHECK_EQ_INT(merge("{\"pid\": 1}\n]\n[{\"pid\": 2}", 1000), -EPROTO);
	CHECK_EQ_INT(merge("[{\"pid\": 1}]", 1000), -EPROTO);
	CHECK(merge("  {\"pid\": 1}\n", 1000) > 0);
	CHECK_STR(out, "{\"uid\": 1000, \"pid\": 1}");
	CHECK(merge("{\"a\": {\"b\": 1, \"uid\": 0}, \"c\": [{\"d\": 1} , {}]}", 5) > 0);
	CHECK_STR(out, "{\"uid\": 5, \"a\": {\"b\": 1, \"uid\": 0}, \"c\": [{\"d\": 1} , {}]}");
	CHECK(merge("{}", 5) > 0);
	CHECK_STR(out, "{\"uid\": 5}");
}

static void test_garbage_refused(void)
{
	static const char *bad[] = {
	    "",
	    "hello",
	    "{",
	    "{\"pid\": 1",
	    "{\"pid\": 1,}",
	    "{\"pid\" 1}",
	    "{pid: 1}",
	    "{\"pid\": 01}",
	    "{\"pid\": -}",
	    "{\"pid\": 1.}",
	    "{\"pid\": tru}",
	    "{\"a\": \"\x1b[2Jroot\"}", /* a raw escape byte: a terminal would obey it */
	    "{\"a\": \"caf\xc3\xa9\"}",
	    "{\"a\": \"\\x41\"}",
	    "{\"a\": \"\\u12\"}",
	    "{\"a\": [1, 2}",
	    "{\"a\": \"open}",
	};
	char deep[200];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (merge(bad[i], 1000) != -EPROTO) {
			printf("# accepted: bad[%zu]\n", i);
			CHECK(0);
		}
	}
	/* A NUL inside is not the end of the reply. */
	CHECK_EQ_INT(control_merge_json("{\"a\": 1}\0{}", 11, 1000, out, sizeof(out)), -EPROTO);
	/* Nesting is bounded. */
	memset(deep, '[', 100);
	snprintf(deep + 100, sizeof(deep) - 100, "]");
	CHECK_EQ_INT(merge(deep, 1000), -EPROTO);
	CHECK_EQ_INT(
	    merge("{\"a\": [[[[{\"b\": [true, false, null, -1.5e+3, \"\\\"\\n\"]}]]]]}", 3),
	    (int)strlen("{\"uid\": 3, \"a\": [[[[{\"b\": [true, false, null, -1.5e+3, "
			"\"\\\"\\n\"]}]]]]}"));
	/* Line breaks between values become spaces: nothing to move a terminal's cursor. */
	CHECK(merge("{\"a\":\r\n[1,\r2]}", 3) > 0);
	CHECK_STR(out, "{\"uid\": 3, \"a\": [1, 2]}");
	CHECK_EQ_INT(control_merge_json("{\"pid\": 1}", 10, 1000, out, 12), -ENOSPC);
}

/* What report.c writes passes whole, the uid put in front. */
static void test_report_passes(void)
{
	static char rep[CONTROL_REPLY_MAX], want[CONTROL_REPLY_MAX + 64];
	struct subnet inc[2];
	struct report_view v = {
	    .pid = 42,
	    .remote = "office \"gw\"\n",
	    .host = "192.0.2.9",
	    .user = "root",
	    .port = 22,
	    .up = true,
	    .transport = "ssh",
	    .detail = "aes128-ctr",
	    .inc = inc,
	    .n_inc = 2,
	    .conns = 1,
	};
	size_t len;

	CHECK(subnet_parse("198.51.100.0/24", &inc[0], 1) == 1);
	CHECK(subnet_parse("2001:db8::/32", &inc[1], 1) == 1);
	v.top[0].dst.family = AF_INET;
	v.top[0].dst.port = 80;
	v.top[0].out = 10;
	v.n_top = 1;
	len = report_build(&v, true, rep, sizeof(rep));
	CHECK(len > 10 && rep[0] == '{');
	snprintf(want, sizeof(want), "{\"uid\": 1000, %s", rep + 1);
	CHECK_EQ_INT(control_merge_json(rep, len, 1000, want + sizeof(want) / 2, 0), -ENOSPC);
	CHECK_EQ_INT(control_merge_json(rep, len, 1000, out, sizeof(out)), strlen(want));
	CHECK_STR(out, want);
}

/* Connections reset before they reached the server: shown when there are any, always in JSON. */
static void test_report_reset_here(void)
{
	static char rep[CONTROL_REPLY_MAX];
	struct report_view v = {
	    .pid = 7,
	    .remote = "r",
	    .host = "192.0.2.9",
	    .user = "u",
	    .port = 22,
	    .up = true,
	    .transport = "ssh",
	    .detail = "",
	    .conns = 2,
	};

	report_build(&v, false, rep, sizeof(rep));
	CHECK(strstr(rep, "  connections: 2 open; out ") != NULL);
	CHECK(strstr(rep, "reset here") == NULL);
	report_build(&v, true, rep, sizeof(rep));
	CHECK(strstr(rep,
		     "\"waiting\": 0, \"reset_here\": 0, \"refused_remote\": 0, \"bytes_out\"") !=
	      NULL);
	v.reset_here = 1234567890123ull;
	report_build(&v, false, rep, sizeof(rep));
	CHECK(strstr(rep, "; 1234567890123 reset here before reaching the server\n") != NULL);
	report_build(&v, true, rep, sizeof(rep));
	CHECK(strstr(rep, "\"reset_here\": 1234567890123,") != NULL);
	v.reset_here = 0;
	v.refused_remote = 5;
	report_build(&v, false, rep, sizeof(rep));
	CHECK(strstr(rep, " in 0 B (0 B/s); 5 reset by its helper, short of room\n") != NULL);
	report_build(&v, true, rep, sizeof(rep));
	CHECK(strstr(rep, "\"reset_here\": 0, \"refused_remote\": 5,") != NULL);
}

/* One fake sluice: answers one request on path with reply, then exits. */
static pid_t serve(const char *path, const char *reply)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char req[16];
	pid_t pid;
	int fd, c;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1) < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		close(fd);
		return pid;
	}
	alarm(10);
	c = accept(fd, NULL, NULL);
	if (c >= 0 && read(c, req, sizeof(req)) > 0 && write(c, reply, strlen(reply)) > 0)
		close(c);
	_exit(0);
}

/*
 * The whole --status --json path over real sockets, in a child that is
 * nobody when we are root (so root's /run/sluice stays out of it).
 */
static void test_query_all_stamps_and_rejects(void)
{
	char dir[] = "/tmp/sluice-ctl.XXXXXX", sub[64], path[96], got[4096], want[256];
	int p[2], st = 0;
	ssize_t n = 0, r;
	pid_t pid;

	CHECK(mkdtemp(dir) != NULL);
	CHECK(pipe(p) == 0);
	if (geteuid() == 0)
		CHECK(chown(dir, 65534, 65534) == 0);
	pid = fork();
	if (pid == 0) {
		FILE *f;
		char *buf = NULL;
		size_t len = 0;
		pid_t a, b;
		int found;

		close(p[0]);
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(1);
		setenv("XDG_RUNTIME_DIR", dir, 1);
		snprintf(sub, sizeof(sub), "%s/sluice", dir);
		if (mkdir(sub, 0700) < 0)
			_exit(1);
		snprintf(path, sizeof(path), "%s/1.sock", sub);
		a = serve(path, "{\"pid\": 1, \"user\": \"root\", \"uid\": 0}");
		snprintf(path, sizeof(path), "%s/2.sock", sub);
		b = serve(path, "{\"pid\": 2}, {\"pid\": 3, \"user\": \"root\", \"uid\": 0}");
		f = open_memstream(&buf, &len);
		if (a < 0 || b < 0 || !f)
			_exit(1);
		found = control_query_all(true, f);
		fclose(f);
		waitpid(a, NULL, 0);
		waitpid(b, NULL, 0);
		dprintf(p[1], "%d\n%s", found, buf);
		_exit(0);
	}
	close(p[1]);
	while (n < (ssize_t)sizeof(got) - 1 && (r = read(p[0], got + n, sizeof(got) - 1 - n)) > 0)
		n += r;
	got[n > 0 ? n : 0] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	snprintf(want, sizeof(want), "1\n[\n{\"uid\": %u, \"pid\": 1, \"user\": \"root\"}\n]\n",
		 geteuid() == 0 ? 65534u : (unsigned)geteuid());
	CHECK_STR(got, want);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CHECK(system(path) == 0);
}

static size_t say_a(void *arg, bool json, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "status of A\n");
}

/* --status as uid (no $XDG_RUNTIME_DIR): the text it printed, and how many it found. */
static int query_as(uid_t uid, char *got, size_t cap)
{
	int p[2], st = 0;
	ssize_t n = 0, r;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f;
		int found;

		close(p[0]);
		if (uid != geteuid() && (setgid(uid) < 0 || setuid(uid) < 0))
			_exit(1);
		unsetenv("XDG_RUNTIME_DIR");
		f = open_memstream(&buf, &len);
		if (!f)
			_exit(1);
		found = control_query_all(false, f);
		fclose(f);
		dprintf(p[1], "%d\n%s", found, buf);
		_exit(0);
	}
	close(p[1]);
	while (n < (ssize_t)cap - 1 && (r = read(p[0], got + n, cap - 1 - n)) > 0)
		n += r;
	got[n > 0 ? n : 0] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? atoi(got) : -1;
}

/*
 * Without $XDG_RUNTIME_DIR (su, runuser, containers): a user's sluice still
 * has a status socket, in a private directory; that user finds it, and root
 * finds every user's. Needs root to be another user.
 */
static void test_no_runtime_dir(void)
{
	const uid_t u = 65534;
	char got[8192], dir[64], ready;
	int go[2], up[2], st = 0, ret;
	pid_t a;

	if (geteuid() != 0) {
		printf("  (not root: skipped)\n");
		return;
	}
	signal(SIGPIPE, SIG_IGN); /* a child that died early is a FAIL line, not our end */
	CHECK(pipe(go) == 0 && pipe(up) == 0);
	a = fork();
	if (a == 0) {
		struct control c;
		struct evloop l;
		char b;

		close(go[1]);
		close(up[0]);
		if (setgid(u) < 0 || setuid(u) < 0)
			_exit(1);
		unsetenv("XDG_RUNTIME_DIR");
		if (evloop_init(&l) < 0 || control_open(&c, &l, say_a, NULL) < 0)
			_exit(2);
		dprintf(up[1], "%s\n", c.path);
		fcntl(go[0], F_SETFL, O_NONBLOCK);
		alarm(20);
		while (read(go[0], &b, 1) < 0)
			evloop_run_once(&l, 50);
		control_close(&c);
		_exit(0);
	}
	close(go[0]);
	close(up[1]);
	CHECK(read(up[0], &ready, 1) == 1);
	close(up[0]);
	/* The user, still without the variable, finds it. */
	ret = query_as(u, got, sizeof(got));
	CHECK_EQ_INT(ret, 1);
	CHECK(strstr(got, "\nstatus of A\n") != NULL);
	/* Root finds it too, marked as another user's. */
	ret = query_as(0, got, sizeof(got));
	CHECK(ret >= 1);
	CHECK(strstr(got, "[uid 65534] status of A\n") != NULL);
	CHECK(write(go[1], "x", 1) == 1);
	close(go[1]);
	waitpid(a, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	snprintf(dir, sizeof(dir), "/tmp/sluice-%u", (unsigned)u);
	rmdir(dir); /* empty now, unless another test's sluice uses it */

	/* A /tmp/sluice-UID someone else made first is refused, not used. */
	snprintf(dir, sizeof(dir), "/tmp/sluice-%u", (unsigned)(u - 1));
	rmdir(dir);
	CHECK(mkdir(dir, 0777) == 0);
	a = fork();
	if (a == 0) {
		struct control c;
		struct evloop l;

		if (setgid(u - 1) < 0 || setuid(u - 1) < 0)
			_exit(1);
		unsetenv("XDG_RUNTIME_DIR");
		if (evloop_init(&l) < 0)
			_exit(1);
		_exit(control_open(&c, &l, say_a, NULL) == -EPERM ? 0 : 3);
	}
	waitpid(a, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(rmdir(dir) == 0);
}

int main(void)
{
	RUN(test_forged_owner_is_replaced);
	RUN(test_one_object_only);
	RUN(test_garbage_refused);
	RUN(test_report_passes);
	RUN(test_report_reset_here);
	RUN(test_query_all_stamps_and_rejects);
	RUN(test_no_runtime_dir);
	T_EXIT();
}
