/*
 * escape: control characters and invalid UTF-8 to \xHH (see escape.h).
 */
#include "escape.h"

#include <stdint.h>

/* Length of the valid UTF-8 sequence at p (at most n bytes) for a printable code point, else 0. */
static size_t utf8_printable(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates, past U+10FFFF, and the C1 controls (8-bit CSI among them). */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
		return 0;
	return len;
}

size_t escape_text(char *out, size_t outlen, const char *in, size_t inlen, bool keep_newlines)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = (const uint8_t *)in;
	size_t o = 0, i = 0;

	if (outlen == 0)
		return 0;
	while (i < inlen) {
		uint8_t c = p[i];
		size_t n = 1;

		if (c >= 0x80)
			n = utf8_printable(p + i, inlen - i);
		if ((c >= 0x20 && c < 0x7f) || c == '\t' || (c == '\n' && keep_newlines) || n > 1) {
			if (o + n >= outlen)
				break;
			while (n--)
				out[o++] = (char)p[i++];
			continue;
		}
		if (o + 4 >= outlen)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
		i++;
	}
	out[o] = '\0';
	return o;
}
