/*
 * The hosts-file render and strip. The input is the old file, a NUL, then
 * "ADDRESS NAME" lines to add. Whatever the file holds, removing our lines
 * again must give the same as removing them from the old file: sluice must
 * always be able to undo what it wrote.
 */
#include "../../client/services/hosts.h"
#include "fuzz.h"

#define ENTRIES 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t old_len = nul ? (size_t)(nul - data) : size, n = 0;
	struct hosts_entry e[ENTRIES];
	char *mid = NULL, *back = NULL, *base = NULL, *list;
	size_t mid_len, back_len, base_len;

	memset(e, 0, sizeof(e));
	list = nul ? fuzz_str(nul + 1, size - old_len - 1) : NULL;
	for (char *p = list, *nl; p && *p && n < ENTRIES; p = nl) {
		char *sp;

		nl = strchr(p, '\n');
		if (nl)
			*nl++ = '\0';
		sp = strchr(p, ' ');
		if (!sp)
			continue;
		*sp = '\0';
		snprintf(e[n].addr, sizeof(e[n].addr), "%s", p);
		snprintf(e[n].name, sizeof(e[n].name), "%s", sp + 1);
		n++;
	}
	if (hosts_render((const char *)data, old_len, e, n, &mid, &mid_len) == 0 &&
	    hosts_render(mid, mid_len, NULL, 0, &back, &back_len) == 0 &&
	    hosts_render((const char *)data, old_len, NULL, 0, &base, &base_len) == 0 &&
	    (back_len != base_len || memcmp(back, base, back_len)))
		abort();
	free(mid);
	free(back);
	free(base);
	free(list);
	return 0;
}
