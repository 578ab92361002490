/*
 * argfile: the command line before opts sees it. SLUICE_ARGS (split like a
 * shell would: blanks, single and double quotes, backslash; nothing is
 * expanded) goes right after the program name, so the real command line
 * wins; and each @FILE argument is replaced by the file's arguments, one
 * per line: blank lines and lines starting with '#' are skipped, and a line
 * that starts with a bare option ("-x" or "--long", no '=') and a blank is
 * that option and the rest as its value ("--ssh-cmd ssh -J b"); any other
 * line is one argument ("--ssh-cmd=ssh -v"). Files may name other files,
 * four deep at most, each a regular file of at most 1 MiB.
 */
#ifndef SLUICE_ARGFILE_H
#define SLUICE_ARGFILE_H

#include <stddef.h>

struct argfile {
	int argc;
	char **argv;  /* NULL-terminated; the strings live as long as this */
	char **owned; /* strings allocated here */
	size_t n_owned;
};

/*
 * Expand argv with env (SLUICE_ARGS, may be NULL). On failure -errno and a
 * line naming the file or the problem in err; a is then empty.
 */
int argfile_expand(struct argfile *a, int argc, char **argv, const char *env, char *err,
		   size_t errlen);
void argfile_free(struct argfile *a);

#endif
