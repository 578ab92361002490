/*
 * The ssh -G parser, with the %- and ~-expansion of the paths it reads. The
 * password file lookups are this target's own: one user, no NSS behind it.
 */
#include <pwd.h>

#include "../../client/ssh/sshconf.h"
#include "fuzz.h"

static struct passwd me = {.pw_name = "fuzz", .pw_dir = "/home/fuzz", .pw_shell = "/bin/sh"};

struct passwd *getpwuid(uid_t uid)
{
	return &me;
}

struct passwd *getpwnam(const char *name)
{
	return strcmp(name, "fuzz") ? NULL : &me;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size);
	struct sshconf c;

	if (!s)
		return 0;
	if (sshconf_parse(&c, s) == 0)
		sshconf_free(&c);
	free(s);
	return 0;
}
