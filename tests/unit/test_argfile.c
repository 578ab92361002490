/* Unit tests for the command line's expansion: SLUICE_ARGS and @FILE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../client/argfile.h"
#include "t.h"

static char dir[] = "/tmp/sluice-argfile-XXXXXX";

static const char *file(const char *name, const char *text)
{
	static char path[4][256];
	static int i;
	char *p = path[i++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	t_write_file(p, text, strlen(text));
	return p;
}

/* The expanded line, words joined with '|'. */
static const char *joined(const struct argfile *a)
{
	static char buf[1024];
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; i < a->argc && o < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? "|" : "", a->argv[i]);
	return buf;
}

static void test_file(void)
{
	char at[300], err[256];
	struct argfile a;
	char *argv[5] = {"sluice", "-v", at, "10.9.0.0/16", NULL};

	snprintf(at, sizeof(at), "@%s",
		 file("tunnel.conf", "# the office\n"
				     "-r user@host:2222\n"
				     "\n"
				     "   --dns   \n"
				     "--ssh-cmd ssh -J bastion -o ControlPath=none\n"
				     "198.51.100.0/24\n"
				     "[2001:db8::]/64\n"
				     "-x=198.51.100.7\n"));
	CHECK_EQ_INT(argfile_expand(&a, 4, argv, NULL, err, sizeof(err)), 0);
	CHECK_STR(joined(&a), "sluice|-v|-r|user@host:2222|--dns|--ssh-cmd|ssh -J bastion -o "
			      "ControlPath=none|198.51.100.0/24|[2001:db8::]/64|-x=198.51.100.7|"
			      "10.9.0.0/16");
	CHECK(a.argv[a.argc] == NULL);
	argfile_free(&a);
}

static void test_env_first(void)
{
	char err[256];
	struct argfile a;
	char *argv[3] = {"sluice", "-q", NULL};

	CHECK_EQ_INT(argfile_expand(&a, 2, argv,
				    "  -e 'ssh -J a b' --seed-hosts \"x.test,y\" esc\\ aped ''",
				    err, sizeof(err)),
		     0);
	/* The environment's words come first, so the real command line wins. */
	CHECK_STR(joined(&a), "sluice|-e|ssh -J a b|--seed-hosts|x.test,y|esc aped||-q");
	argfile_free(&a);
	CHECK_EQ_INT(argfile_expand(&a, 2, argv, "-r 'open", err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "unterminated") != NULL);
	CHECK(a.argv == NULL);
}

static void test_nested_and_errors(void)
{
	char at[300], err[256];
	struct argfile a;
	char *argv[3] = {"sluice", at, NULL};
	char *after_dd[4] = {"sluice", "--", at, NULL};

	snprintf(at, sizeof(at), "@%s", file("outer", "-N\n"));
	file("inner", "-H\n");
	snprintf(at, sizeof(at), "@%s", file("outer", "-N\n@/nonexistent/sluice-args\n"));
	CHECK(argfile_expand(&a, 2, argv, NULL, err, sizeof(err)) < 0);
	CHECK(strstr(err, "/nonexistent/sluice-args") != NULL);
	CHECK(a.argv == NULL);
	/* Nested files expand; a file naming itself stops at the depth limit. */
	{
		char line[300];
		snprintf(line, sizeof(line), "-N\n@%s/inner\n", dir);
		snprintf(at, sizeof(at), "@%s", file("outer", line));
		CHECK_EQ_INT(argfile_expand(&a, 2, argv, NULL, err, sizeof(err)), 0);
		CHECK_STR(joined(&a), "sluice|-N|-H");
		argfile_free(&a);
		snprintf(line, sizeof(line), "@%s/self\n", dir);
		snprintf(at, sizeof(at), "@%s", file("self", line));
		CHECK_EQ_INT(argfile_expand(&a, 2, argv, NULL, err, sizeof(err)), -ELOOP);
		CHECK(strstr(err, "nested too deep") != NULL);
	}
	/* After "--", an @ is just a word. */
	CHECK_EQ_INT(argfile_expand(&a, 3, after_dd, NULL, err, sizeof(err)), 0);
	CHECK_EQ_INT(a.argc, 3);
	CHECK(a.argv[2] == at);
	argfile_free(&a);
}

/* Only a bare option is split from its value; anything else on a line is one argument. */
static void test_line_split(void)
{
	char at[300], err[256];
	struct argfile a;
	char *argv[3] = {"sluice", at, NULL};

	snprintf(at, sizeof(at), "@%s",
		 file("split", "--ssh-cmd=ssh -v\n-essh -J x\n-e ssh -J y\n--seed-hosts a b\n"));
	CHECK_EQ_INT(argfile_expand(&a, 2, argv, NULL, err, sizeof(err)), 0);
	CHECK_STR(joined(&a), "sluice|--ssh-cmd=ssh -v|-essh -J x|-e|ssh -J y|--seed-hosts|a b");
	argfile_free(&a);
}

/* A directory, or a file past the limit, is refused by name; so are too many arguments. */
static void test_refusals(void)
{
	char at[300], err[256] = "stale text from before";
	struct argfile a;
	char *argv[3] = {"sluice", at, NULL};
	char *big = malloc((1 << 20) + 2);
	char *words = malloc(5000 * 2 + 1);

	snprintf(at, sizeof(at), "@%s", dir);
	CHECK(argfile_expand(&a, 2, argv, NULL, err, sizeof(err)) < 0);
	CHECK(strstr(err, "not a regular file") != NULL);
	if (big) {
		memset(big, '#', (1 << 20) + 1);
		big[(1 << 20) + 1] = '\0';
		snprintf(at, sizeof(at), "@%s", file("big", big));
		CHECK(argfile_expand(&a, 2, argv, NULL, err, sizeof(err)) < 0);
		CHECK(strstr(err, "at most 1 MiB") != NULL);
	}
	if (words) {
		for (int i = 0; i < 5000; i++)
			memcpy(words + 2 * i, "x ", 2);
		words[10000] = '\0';
		err[0] = 'Z';
		CHECK_EQ_INT(argfile_expand(&a, 1, argv, words, err, sizeof(err)), -E2BIG);
		CHECK_STR(err, "too many arguments");
	}
	free(big);
	free(words);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir))
		return 1;
	RUN(test_file);
	RUN(test_env_first);
	RUN(test_nested_and_errors);
	RUN(test_line_split);
	RUN(test_refusals);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	T_EXIT();
}
