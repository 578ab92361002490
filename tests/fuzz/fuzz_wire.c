/*
 * The frame decoder: any bytes, as a stream of frames, ROUTES walked entry by
 * entry, and UDP and ECHO taken apart both ways.
 */
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
		if (f.type == WIRE_UDP) {
			struct wire_udp u;
			const uint8_t *d;
			size_t dl;

			if (wire_udp_req(&f, &u) == 0 &&
			    (u.len > WIRE_UDP_MAX || u.data + u.len != f.payload + f.len ||
			     !u.port))
				abort();
			if (wire_udp_reply(&f, &d, &dl) == 0 && dl > WIRE_UDP_MAX)
				abort();
		}
		if (f.type == WIRE_ECHO) {
			struct wire_echo e;

			if (wire_echo_req(&f, &e) == 0 &&
			    (e.len > WIRE_ECHO_MAX || e.data + e.len != f.payload + f.len))
				abort();
			if (wire_echo_reply(&f, &e) == 0 &&
			    (e.len > WIRE_ECHO_MAX || e.data + e.len != f.payload + f.len))
				abort();
		}
		off += (size_t)r;
	}
	return 0;
}
