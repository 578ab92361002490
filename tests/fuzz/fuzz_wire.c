/* The frame decoder: any bytes, as a stream of frames, and ROUTES walked entry by entry. */
#include "../../common/wire.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_frame f;
	size_t off = 0;

	while (off < size) {
		int r = wire_parse(data + off, size - off, &f);

		if (r <= 0)
			break;
		if ((size_t)r > size - off || (size_t)r < WIRE_HDR_LEN)
			abort(); /* a length the parser must never return */
		if (f.type == WIRE_ROUTES) {
			size_t o = 0;
			int family;
			uint8_t addr[16], prefix;

			while (wire_routes_next(&f, &o, &family, addr, &prefix) == 1)
				if ((family != 2 && family != 10) || prefix > 128)
					abort();
		}
		off += (size_t)r;
	}
	return 0;
}
