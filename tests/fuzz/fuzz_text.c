/*
 * Text from elsewhere: the terminal escape (output always terminated, no
 * control byte left, never past the buffer), and ProxyCommand/ProxyJump
 * expansion of strings from the ssh config.
 */
#include "../../client/ssh/proxy.h"
#include "../../common/escape.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[512], buf[1024];
	const char *argv[PROXY_ARGS_MAX];
	size_t outlen = size ? (size_t)data[0] % sizeof(out) + 1 : sizeof(out), n, i;
	char *s = fuzz_str(data, size);

	n = escape_text(out, outlen, (const char *)data, size, size && (data[0] & 1));
	if (n >= outlen || out[n] != '\0')
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 && out[i] != '\t' && out[i] != '\n')
			abort();
	if (s) {
		proxy_expand(s, "host.example", 2222, "user", out, sizeof(out));
		if (proxy_jump_args(s, "inner.example", 22, "/cfg", buf, sizeof(buf), argv) >= 0)
			if (strcmp(argv[0], "ssh") != 0)
				abort();
	}
	free(s);
	return 0;
}
