/*
 * escape: makes text from elsewhere safe to show on a terminal. Control
 * characters (C0, DEL, C1) and bytes that are not valid UTF-8 become \xHH,
 * so a remote helper, an SSH server or a name from DNS cannot move the
 * cursor, retitle the window or hide a line. Only libc.
 */
#ifndef SLUICE_ESCAPE_H
#define SLUICE_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Escape in[0..inlen) into out (size outlen >= 1, always NUL-terminated,
 * cut at a character boundary when it does not fit). Tabs stay; newlines
 * stay when keep_newlines, else they are escaped too. Returns the length
 * written, without the NUL.
 */
size_t escape_text(char *out, size_t outlen, const char *in, size_t inlen, bool keep_newlines);

#endif
