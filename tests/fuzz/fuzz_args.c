/*
 * The subnet and argument parsers: the input as one subnet, then as a
 * command line (arguments split at newlines). Names never resolve here:
 * this target brings its own getaddrinfo, getpwnam and getgrnam, which find
 * nothing.
 */
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>

#include "../../client/opts.h"
#include "../../common/subnet.h"
#include "fuzz.h"

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	*res = NULL;
	return EAI_NONAME;
}

void freeaddrinfo(struct addrinfo *res)
{
}

/* --user/--group names: no NSS (nscd, LDAP) behind a fuzzer either. */
struct passwd *getpwnam(const char *name)
{
	return NULL;
}

struct group *getgrnam(const char *name)
{
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	struct subnet out[8];
	char *s = fuzz_str(data, size), *argv[34], err[256], buf[SUBNET_STRLEN];
	int argc = 0, r;
	struct opts o;

	if (!s)
		return 0;
	if (!null && !(null = fopen("/dev/null", "w")))
		abort();
	r = subnet_parse_err(s, out, 8, err, sizeof(err));
	for (int i = 0; i < r; i++)
		subnet_format(&out[i], buf, sizeof(buf));
	argv[argc++] = "sluice";
	for (char *p = s; p && argc < 33; argc++) {
		argv[argc] = p;
		p = strchr(p, '\n');
		if (p)
			*p++ = '\0';
	}
	argv[argc] = NULL;
	memset(&o, 0, sizeof(o));
	r = opts_parse(&o, argc, argv, null, err, sizeof(err));
	if (r >= 0)
		opts_free(&o);
	free(s);
	return 0;
}
