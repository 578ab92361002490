/*
 * Unit tests for OpenSSH's ControlMaster messages (client/cmd/sshmux.c): our
 * request byte for byte against the layout of OpenSSH's PROTOCOL.mux, and
 * the master's answers, whole, split and malformed.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "../../client/cmd/sshmux.h"
#include "t.h"

static size_t put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

static size_t put_str(uint8_t *p, const char *s)
{
	size_t n = strlen(s);

	put32(p, (uint32_t)n);
	memcpy(p + 4, s, n);
	return 4 + n;
}

/* A framed message: length, type, then body (already encoded). */
static size_t frame(uint8_t *p, uint32_t type, const uint8_t *body, size_t blen)
{
	put32(p, (uint32_t)(4 + blen));
	put32(p + 4, type);
	memcpy(p + 8, body, blen);
	return 8 + blen;
}

static void test_request_layout(void)
{
	uint8_t got[128], want[128], body[64];
	size_t n = 0, b = 0;
	int len;

	/* HELLO: u32 version. NEW_STDIO_FWD: u32 rid, string reserved, string host, u32 port. */
	put32(body, 4);
	n += frame(want + n, 0x00000001, body, 4);
	b += put32(body + b, 7);
	b += put_str(body + b, "");
	b += put_str(body + b, "198.51.100.2");
	b += put32(body + b, 5201);
	n += frame(want + n, 0x10000008, body, b);
	len = sshmux_put_open(got, sizeof(got), 7, "198.51.100.2", 5201);
	CHECK_EQ_INT(len, n);
	CHECK(len > 0 && memcmp(got, want, n) == 0);
	/* Every shorter buffer is refused, never overrun. */
	for (size_t cap = 0; cap < n; cap++)
		CHECK_EQ_INT(sshmux_put_open(got, cap, 7, "198.51.100.2", 5201), -ENOSPC);
	CHECK(sshmux_put_open(got, sizeof(got), 1, "2001:db8:2::2", 443) > 0);
}

static void test_answers(void)
{
	uint8_t buf[256], body[128];
	struct sshmux_msg m;
	size_t n, b;

	put32(body, 4);
	n = frame(buf, 0x00000001, body, 4);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), n);
	CHECK_EQ_INT(m.kind, SSHMUX_HELLO);

	b = put32(body, 7);
	b += put32(body + b, 3);
	n = frame(buf, 0x80000006, body, b);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), n);
	CHECK_EQ_INT(m.kind, SSHMUX_OPENED);
	CHECK_EQ_INT(m.rid, 7);

	b = put32(body, 9);
	b += put_str(body + b, "Session open refused by peer");
	n = frame(buf, 0x80000003, body, b);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), n);
	CHECK_EQ_INT(m.kind, SSHMUX_REFUSED);
	CHECK_EQ_INT(m.rid, 9);
	CHECK_STR(m.why, "Session open refused by peer");

	b = put32(body, 2);
	b += put_str(body + b, "Permission denied");
	n = frame(buf, 0x80000002, body, b);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), n);
	CHECK_EQ_INT(m.kind, SSHMUX_REFUSED);

	/* An exit message (or anything else) is read past, not an error. */
	b = put32(body, 3);
	b += put32(body + b, 0);
	n = frame(buf, 0x80000004, body, b);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), n);
	CHECK_EQ_INT(m.kind, SSHMUX_OTHER);
}

/* Every prefix of a whole answer asks for more; the whole one parses. */
static void test_split(void)
{
	uint8_t buf[256], body[64];
	struct sshmux_msg m;
	size_t n, b, cut;

	b = put32(body, 5);
	b += put_str(body + b, "no");
	n = frame(buf, 0x80000003, body, b);
	for (cut = 0; cut < n; cut++)
		CHECK_EQ_INT(sshmux_parse(buf, cut, &m), 0);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), n);
}

static void test_malformed(void)
{
	uint8_t buf[512], body[400];
	struct sshmux_msg m;
	size_t n, b;

	/* Longer than any answer we asked for. */
	put32(buf, SSHMUX_MSG_MAX + 1);
	CHECK_EQ_INT(sshmux_parse(buf, 8, &m), -EPROTO);
	/* Too short to hold a type. */
	put32(buf, 2);
	CHECK_EQ_INT(sshmux_parse(buf, 6, &m), -EPROTO);
	/* A HELLO of another version. */
	put32(body, 3);
	n = frame(buf, 0x00000001, body, 4);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), -EPROTO);
	/* SESSION_OPENED without its fields. */
	n = frame(buf, 0x80000006, body, 0);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), -EPROTO);
	/* A reason that claims more bytes than the message holds. */
	b = put32(body, 1);
	b += put32(body + b, 200);
	memcpy(body + b, "short", 5);
	n = frame(buf, 0x80000003, body, b + 5);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), -EPROTO);
	/* Length 3 cannot hold a type; SESSION_OPENED with its id but not its channel. */
	put32(buf, 3);
	CHECK_EQ_INT(sshmux_parse(buf, 7, &m), -EPROTO);
	b = put32(body, 1);
	n = frame(buf, 0x80000006, body, b);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), -EPROTO);
	/* A reason exactly as long as what is left parses; one byte longer does not. */
	b = put32(body, 1);
	b += put32(body + b, 5);
	memcpy(body + b, "exact", 5);
	n = frame(buf, 0x80000003, body, b + 5);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), n);
	CHECK_STR(m.why, "exact");
	put32(body + 4, 6);
	n = frame(buf, 0x80000003, body, b + 5);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), -EPROTO);
	/* The longest answer taken, SSHMUX_MSG_MAX, fills direct.c's buffer exactly. */
	b = put32(body, 1);
	b += put32(body + b, SSHMUX_MSG_MAX - 12);
	memset(body + b, 'y', SSHMUX_MSG_MAX - 12);
	n = frame(buf, 0x80000003, body, b + SSHMUX_MSG_MAX - 12);
	CHECK_EQ_INT(n, SSHMUX_MSG_MAX + 4);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), n);
	/* A long reason is cut to fit, NUL-terminated. */
	b = put32(body, 1);
	put32(body + b, 200);
	memset(body + b + 4, 'x', 200);
	n = frame(buf, 0x80000003, body, b + 204);
	CHECK_EQ_INT(sshmux_parse(buf, n, &m), n);
	CHECK_EQ_INT(strlen(m.why), SSHMUX_WHY_MAX - 1);
}

int main(void)
{
	RUN(test_request_layout);
	RUN(test_answers);
	RUN(test_split);
	RUN(test_malformed);
	T_EXIT();
}
