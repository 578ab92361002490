/* The ssh -G parser, with the %- and ~-expansion of the paths it reads. */
#include "../../client/ssh/sshconf.h"
#include "fuzz.h"

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
