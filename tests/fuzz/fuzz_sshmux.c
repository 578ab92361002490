/* OpenSSH ControlMaster answers (client/cmd/sshmux.c): any bytes, as a stream of messages. */
#include <string.h>

#include "../../client/cmd/sshmux.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sshmux_msg m;
	size_t off = 0;

	while (off < size) {
		int r = sshmux_parse(data + off, size - off, &m);

		if (r <= 0)
			break;
		if ((size_t)r > size - off || r < 8 || r > SSHMUX_MSG_MAX + 4)
			abort(); /* a length the parser must never return */
		if (m.kind == SSHMUX_REFUSED && strlen(m.why) >= sizeof(m.why))
			abort();
		off += (size_t)r;
	}
	return 0;
}
