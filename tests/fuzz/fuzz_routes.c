/*
 * The client's route reader (-N judges this machine's own networks with
 * it): one rtnetlink dump datagram, as the kernel would answer, parsed
 * into the filtered, sorted route list. The request's sequence number is
 * taken from the first message, so the fuzzer need not guess it.
 */
#include "../../common/routes.h"
#include "../../common/routes_internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct subnet out[16];
	uint32_t seq = 0;
	size_t n = 0, i;

	if (size >= 12)
		memcpy(&seq, data + 8, 4);
	routes_parse(data, size, seq, out, 16, 0, &n);
	routes_parse(data, size, seq, out, 16, ROUTES_CONNECTED, &n);
	if (n > 16)
		abort();
	for (i = 0; i < n; i++)
		if ((out[i].family != 2 && out[i].family != 10) ||
		    out[i].prefix > (out[i].family == 2 ? 32 : 128))
			abort();
	return 0;
}
