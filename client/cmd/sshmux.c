/*
 * sshmux: encoding our two messages and parsing the master's answers. The
 * master is another process of the user's, but what it sends is still
 * checked: every length against what is there.
 */
#include "sshmux.h"

#include <errno.h>
#include <string.h>

#include "../../common/bytes.h"

#define MSG_HELLO	    0x00000001u
#define MSG_NEW_STDIO_FWD   0x10000008u
#define MSG_PERMISSION_DENY 0x80000002u
#define MSG_FAILURE	    0x80000003u
#define MSG_SESSION_OPENED  0x80000006u

static void put_string(struct bwriter *w, const char *s)
{
	size_t n = strlen(s);

	bwriter_u32(w, (uint32_t)n);
	bwriter_bytes(w, s, n);
}

int sshmux_put_open(uint8_t *buf, size_t cap, uint32_t rid, const char *host, uint16_t port)
{
	struct bwriter w;
	size_t start;

	bwriter_init(&w, buf, cap);
	bwriter_u32(&w, 8);
	bwriter_u32(&w, MSG_HELLO);
	bwriter_u32(&w, SSHMUX_VERSION);
	start = w.off;
	bwriter_u32(&w, 0); /* the length, filled in below */
	bwriter_u32(&w, MSG_NEW_STDIO_FWD);
	bwriter_u32(&w, rid);
	put_string(&w, ""); /* reserved */
	put_string(&w, host);
	bwriter_u32(&w, port);
	bwriter_put_u32_at(&w, start, (uint32_t)(w.off - start - 4));
	return w.bad ? -ENOSPC : (int)w.off;
}

int sshmux_parse(const uint8_t *buf, size_t len, struct sshmux_msg *m)
{
	struct breader r;
	uint32_t n, type, slen;

	if (len < 4)
		return 0;
	breader_init(&r, buf, 4);
	n = breader_u32(&r);
	if (n < 4 || n > SSHMUX_MSG_MAX)
		return -EPROTO;
	if (len - 4 < n)
		return 0;
	breader_init(&r, buf + 4, n);
	memset(m, 0, sizeof(*m));
	type = breader_u32(&r);
	switch (type) {
	case MSG_HELLO:
		m->kind = SSHMUX_HELLO;
		/* Extensions may follow the version; none are asked for, so they are skipped. */
		if (breader_u32(&r) != SSHMUX_VERSION || r.bad)
			return -EPROTO;
		break;
	case MSG_SESSION_OPENED:
		m->kind = SSHMUX_OPENED;
		m->rid = breader_u32(&r);
		(void)breader_u32(&r); /* the master's channel number */
		break;
	case MSG_FAILURE:
	case MSG_PERMISSION_DENY:
		m->kind = SSHMUX_REFUSED;
		m->rid = breader_u32(&r);
		slen = breader_u32(&r);
		if (r.bad || slen > breader_left(&r))
			return -EPROTO;
		if (slen >= sizeof(m->why))
			slen = sizeof(m->why) - 1;
		breader_bytes(&r, m->why, slen);
		break;
	default:
		m->kind = SSHMUX_OTHER;
		break;
	}
	return r.bad ? -EPROTO : (int)(4 + n);
}
