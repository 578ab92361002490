/*
 * argfile: SLUICE_ARGS and @FILE expansion (see argfile.h).
 */
#include "argfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/errbuf.h"

#define MAX_ARGS  4096
#define MAX_DEPTH 4
#define FILE_MAX  (1 << 20)

static int push(struct argfile *a, char *s, int owned)
{
	char **nv;

	if (a->argc + 1 >= MAX_ARGS)
		return -E2BIG;
	if (owned) {
		char **no = realloc(a->owned, (a->n_owned + 1) * sizeof(*no));
		if (!no)
			return -ENOMEM;
		a->owned = no;
	}
	nv = realloc(a->argv, (size_t)(a->argc + 2) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	a->argv = nv;
	a->argv[a->argc++] = s;
	a->argv[a->argc] = NULL;
	if (owned)
		a->owned[a->n_owned++] = s;
	return 0;
}

/* "--long" (no '=') or "-x" alone: an option whose value the rest of the line can be. */
static size_t bare_option_len(const char *line)
{
	size_t n = strcspn(line, " \t");

	if (line[0] != '-' || line[n] == '\0')
		return 0;
	if (line[1] == '-')
		return memchr(line, '=', n) ? 0 : n;
	return n == 2 ? n : 0;
}

static int push_copy(struct argfile *a, const char *s, size_t n)
{
	char *c = strndup(s, n);
	int r;

	if (!c)
		return -ENOMEM;
	r = push(a, c, 1);
	if (r < 0)
		free(c);
	return r;
}

/* Shell-like words: blanks separate, quotes group, backslash escapes; nothing expands. */
static int split_words(struct argfile *a, const char *s, char *err, size_t errlen)
{
	size_t len = strlen(s);
	char *w = malloc(len + 1);
	int r = 0;

	if (!w)
		return -ENOMEM;
	while (*s && r == 0) {
		size_t n = 0;
		int have = 0;
		char q = 0;

		while (isspace((unsigned char)*s))
			s++;
		for (; *s && (q || !isspace((unsigned char)*s)); s++) {
			have = 1;
			if (q && *s == q)
				q = 0;
			else if (!q && (*s == '\'' || *s == '"'))
				q = *s;
			else if (*s == '\\' && q != '\'' && s[1])
				w[n++] = *++s;
			else
				w[n++] = *s;
		}
		if (q) {
			r = errbuf_set(err, errlen, -EINVAL, "SLUICE_ARGS: unterminated %c quote",
				       q);
			break;
		}
		if (have)
			r = push_copy(a, w, n);
	}
	free(w);
	return r;
}

static int add(struct argfile *a, char *arg, int depth, char *err, size_t errlen);

/* One @FILE: its lines, each one argument (or an option and its value). */
static int add_file(struct argfile *a, const char *path, int depth, char *err, size_t errlen)
{
	FILE *f;
	char *line = NULL, *text;
	size_t cap = 0, opt;
	struct stat st;
	ssize_t n;
	int r = 0;

	if (depth >= MAX_DEPTH)
		return errbuf_set(err, errlen, -ELOOP, "@%s: argument files nested too deep", path);
	f = fopen(path, "re");
	if (!f)
		return errbuf_set(err, errlen, -errno, "@%s: %s", path, strerror(errno));
	/* A regular file of bounded size: no directory read as empty, no /dev/zero read for ever.
	 */
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)FILE_MAX) {
		fclose(f);
		return errbuf_set(err, errlen, -EINVAL, "@%s: not a regular file of at most 1 MiB",
				  path);
	}
	while (r == 0 && (n = getline(&line, &cap, f)) >= 0) {
		char *end = line + n;

		text = line;
		while (isspace((unsigned char)*text))
			text++;
		while (end > text && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (!*text || *text == '#')
			continue;
		opt = bare_option_len(text);
		if (opt) {
			char *val = text + opt;

			while (isspace((unsigned char)*val))
				val++;
			r = push_copy(a, text, opt);
			if (r == 0)
				r = push_copy(a, val, strlen(val));
		} else {
			char *copy = strdup(text);

			if (!copy) {
				r = -ENOMEM;
				break;
			}
			r = push(a, copy, 1);
			if (r < 0) {
				free(copy);
				break;
			}
			/* A file may name another file. */
			if (copy[0] == '@') {
				a->argc--;
				a->argv[a->argc] = NULL;
				r = add(a, copy, depth + 1, err, errlen);
			}
		}
	}
	if (r == 0 && ferror(f))
		r = errbuf_set(err, errlen, -EIO, "@%s: %s", path, strerror(errno ? errno : EIO));
	free(line);
	fclose(f);
	if (r == -E2BIG)
		r = errbuf_set(err, errlen, r, "@%s: too many arguments", path);
	return r;
}

static int add(struct argfile *a, char *arg, int depth, char *err, size_t errlen)
{
	if (arg[0] == '@' && arg[1])
		return add_file(a, arg + 1, depth, err, errlen);
	return push(a, arg, 0);
}

int argfile_expand(struct argfile *a, int argc, char **argv, const char *env, char *err,
		   size_t errlen)
{
	int i, r = 0, literal = 0;

	memset(a, 0, sizeof(*a));
	if (err && errlen)
		*err = '\0';
	if (argc > 0)
		r = push(a, argv[0], 0);
	if (r == 0 && env && *env)
		r = split_words(a, env, err, errlen);
	/* "--" ends the options: what follows is taken as it is, @ included. */
	for (i = 1; r == 0 && i < argc; i++) {
		r = literal ? push(a, argv[i], 0) : add(a, argv[i], 0, err, errlen);
		literal = literal || !strcmp(argv[i], "--");
	}
	if (r < 0) {
		if (err && !*err)
			errbuf_set(err, errlen, r, "%s",
				   r == -E2BIG ? "too many arguments" : strerror(-r));
		argfile_free(a);
	}
	return r;
}

void argfile_free(struct argfile *a)
{
	size_t i;

	for (i = 0; i < a->n_owned; i++)
		free(a->owned[i]);
	free(a->owned);
	free(a->argv);
	memset(a, 0, sizeof(*a));
}
