/*
 * proctitle: a process's name and command line in ps (see proctitle.h).
 */
#include "proctitle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

extern char **environ;

/* The area: argv's strings, then any of the environment's that follow them without a gap. */
static char *area;
static size_t area_len;
/* How much of it is argv's: the kernel's end of the command line (see proctitle_set). */
static size_t args_len;

/* The end of the run of v[0..n)'s strings laid out one after the other from start; *got: how many.
 */
static char *run_end(char **v, int n, char *start, int *got)
{
	char *end = start;
	int i;

	for (i = 0; i < n && v[i] == end; i++)
		end += strlen(v[i]) + 1;
	*got = i;
	return end;
}

static void free_all(char **v, int n)
{
	int i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* p, when it points into s, moved to the same place in copy. */
static char *moved(char *p, char *s, char *copy)
{
	return p && p >= s && p <= s + strlen(s) ? copy + (p - s) : p;
}

int proctitle_init(int argc, char **argv)
{
	char **env = NULL, **copies = NULL, *start, *args_end, *end;
	int n_env = 0, got, i;

	if (argc < 1 || !argv || !argv[0])
		return 0;
	while (environ && environ[n_env])
		n_env++;
	start = argv[0];
	args_end = run_end(argv, argc, start, &got);
	/* Only a run of all of argv: a title must not land on a string still in use. */
	if (got != argc)
		return 0;
	end = run_end(environ, n_env, args_end, &got);
	env = calloc((size_t)n_env + 1, sizeof(*env));
	copies = calloc((size_t)argc, sizeof(*copies));
	if (!env || !copies)
		goto fail;
	for (i = 0; i < n_env; i++)
		if (!(env[i] = strdup(environ[i])))
			goto fail;
	for (i = 0; i < argc; i++)
		if (!(copies[i] = strdup(argv[i])))
			goto fail;
	/* Nothing fails from here: every pointer into the area moves at once. */
	for (i = 0; i < argc; i++) {
		program_invocation_name = moved(program_invocation_name, argv[i], copies[i]);
		program_invocation_short_name =
		    moved(program_invocation_short_name, argv[i], copies[i]);
		argv[i] = copies[i];
	}
	free(copies);
	environ = env;
	area = start;
	area_len = (size_t)(end - start);
	args_len = (size_t)(args_end - start);
	return 0;
fail:
	free_all(env, n_env);
	free_all(copies, argc);
	return -ENOMEM;
}

void proctitle_set(const char *comm, const char *title)
{
	size_t n;

	if (comm)
		prctl(PR_SET_NAME, comm, 0, 0, 0);
	/* Two bytes at least: the title's end, and room to mark the area as rewritten. */
	if (!title || !area || area_len < 2)
		return;
	n = strnlen(title, area_len - 2);
	memset(area, 0, area_len);
	memcpy(area, title, n);
	/*
	 * Linux shows argv's whole area, NULs and all, while its last byte is
	 * a NUL; once that byte is not, it shows up to the first NUL instead:
	 * the title alone, however long the area.
	 */
	if (args_len - 1 > n)
		area[args_len - 1] = ' ';
}
