/*
 * hostwatch_parse: turning the text hostwatch reads into addresses and
 * names it may report, and deciding which short names are unambiguous.
 * Nothing here does I/O; whatever reaches a callback is already valid.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../common/addrpolicy.h"
#include "hostwatch_parse.h"

#define TOKEN_MAX 64 /* longer than any address we can parse */

int hostwatch_addr_ok(int family, const uint8_t *a)
{
	return (family == AF_INET || family == AF_INET6) && !addrpolicy_addr(family, a);
}

/* The next line of text without its newline; 0 at the end. */
static int next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl;

	if (*p >= end)
		return 0;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	*line = *p;
	*len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	*p = nl ? nl + 1 : end;
	return 1;
}

/* The next blank-separated token of a line; 0 when none is left. */
static int next_token(const char **p, const char *end, const char **tok, size_t *len)
{
	const char *s = *p;

	while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
		s++;
	if (s >= end)
		return 0;
	*tok = s;
	while (s < end && *s != ' ' && *s != '\t' && *s != '\r')
		s++;
	*len = (size_t)(s - *tok);
	*p = s;
	return 1;
}

static int parse_addr(const char *tok, size_t len, int *family, uint8_t *addr)
{
	char buf[TOKEN_MAX];

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		*family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

int hostwatch_parse_hosts(const char *text, size_t len, hostwatch_name_cb cb, void *arg)
{
	const char *p = text, *end = text + len, *line, *tok;
	size_t line_len, tok_len;

	while (next_line(&p, end, &line, &line_len)) {
		const char *hash = memchr(line, '#', line_len);
		const char *lp = line, *lend = hash ? hash : line + line_len;
		uint8_t addr[16];
		int family, r;

		if (!next_token(&lp, lend, &tok, &tok_len) ||
		    parse_addr(tok, tok_len, &family, addr) < 0 || !hostwatch_addr_ok(family, addr))
			continue;
		while (next_token(&lp, lend, &tok, &tok_len)) {
			char name[HOSTWATCH_NAME_MAX + 1];

			if (hostname_norm(tok, tok_len, name, sizeof(name)) < 0 ||
			    hostname_local(name))
				continue;
			r = cb(family, addr, name, arg);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int parse_hex(const char *s, size_t len, unsigned long max, unsigned long *v)
{
	unsigned long x = 0;
	size_t i;

	if (len == 0 || len > 8)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		int d;
		char c = s[i];

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -EINVAL;
		x = x * 16 + (unsigned long)d;
	}
	if (x > max)
		return -EINVAL;
	*v = x;
	return 0;
}

/*
 * IP address  HW type  Flags  HW address  Mask  Device
 * Flags 0x2 (ATF_COM) marks a resolved entry; others are still asking.
 */
int hostwatch_parse_arp(const char *text, size_t len, hostwatch_addr_cb cb, void *arg)
{
	const char *p = text, *end = text + len, *line, *tok;
	size_t line_len, tok_len;

	if (!next_line(&p, end, &line, &line_len)) /* the header */
		return 0;
	while (next_line(&p, end, &line, &line_len)) {
		const char *lp = line, *lend = line + line_len;
		unsigned long flags;
		uint8_t addr[16];
		int family, r;

		if (!next_token(&lp, lend, &tok, &tok_len) ||
		    parse_addr(tok, tok_len, &family, addr) < 0 || family != AF_INET)
			continue;
		if (!next_token(&lp, lend, &tok, &tok_len) ||
		    !next_token(&lp, lend, &tok, &tok_len))
			continue;
		if (tok_len < 3 || tok[0] != '0' || tok[1] != 'x' ||
		    parse_hex(tok + 2, tok_len - 2, 0xffffffffUL, &flags) < 0 || !(flags & 0x2))
			continue;
		if (!hostwatch_addr_ok(family, addr))
			continue;
		r = cb(family, addr, arg);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * "0100007F:0016": the kernel prints each 32-bit word of the address as the
 * host-order number it is in memory, so copying the numbers back to memory
 * on this host (the one that wrote the file) restores the address bytes.
 */
static int parse_tcp_addr(const char *tok, size_t len, int family, uint8_t *addr)
{
	size_t words = family == AF_INET ? 1 : 4, i;

	if (len != words * 8 + 5 || tok[words * 8] != ':')
		return -EINVAL;
	memset(addr, 0, 16);
	for (i = 0; i < words; i++) {
		unsigned long v;
		uint32_t w;

		if (parse_hex(tok + i * 8, 8, 0xffffffffUL, &v) < 0)
			return -EINVAL;
		w = (uint32_t)v;
		memcpy(addr + i * 4, &w, 4);
	}
	return 0;
}

/* sl  local_address  rem_address  st  ...; st 01 is ESTABLISHED */
int hostwatch_parse_tcp(const char *text, size_t len, int family, hostwatch_addr_cb cb, void *arg)
{
	static const uint8_t mapped[12] = {[10] = 0xff, 0xff};
	const char *p = text, *end = text + len, *line, *tok;
	size_t line_len, tok_len;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!next_line(&p, end, &line, &line_len)) /* the header */
		return 0;
	while (next_line(&p, end, &line, &line_len)) {
		const char *lp = line, *lend = line + line_len, *rem;
		size_t rem_len;
		uint8_t addr[16];
		int fam = family, r;

		/* sl, local address, remote address, state */
		if (!next_token(&lp, lend, &tok, &tok_len) ||
		    !next_token(&lp, lend, &tok, &tok_len) ||
		    !next_token(&lp, lend, &rem, &rem_len) ||
		    !next_token(&lp, lend, &tok, &tok_len))
			continue;
		if (tok_len != 2 || tok[0] != '0' || tok[1] != '1')
			continue;
		if (parse_tcp_addr(rem, rem_len, family, addr) < 0)
			continue;
		if (family == AF_INET6 && memcmp(addr, mapped, sizeof(mapped)) == 0) {
			memmove(addr, addr + 12, 4);
			memset(addr + 4, 0, 12);
			fam = AF_INET;
		}
		if (!hostwatch_addr_ok(fam, addr))
			continue;
		r = cb(fam, addr, arg);
		if (r < 0)
			return r;
	}
	return 0;
}

int hostwatch_short_name(const char *fqdn, char *out, size_t outlen)
{
	const char *dot = strchr(fqdn, '.');

	if (!dot || dot[1] == '\0')
		return -EINVAL;
	return hostname_norm(fqdn, (size_t)(dot - fqdn), out, outlen) < 0 ? -EINVAL : 0;
}

struct ent {
	const struct hostwatch_pair *p;
	size_t idx;
	size_t label; /* length of the first label */
};

/* By first label, then dotted names by full name, so a group's FQDNs sit together. */
static int ent_cmp(const void *va, const void *vb)
{
	const struct ent *a = va, *b = vb;
	size_t n = a->label < b->label ? a->label : b->label;
	int r = memcmp(a->p->name, b->p->name, n);

	if (r != 0)
		return r;
	if (a->label != b->label)
		return a->label < b->label ? -1 : 1;
	r = strcmp(a->p->name, b->p->name);
	if (r != 0)
		return r;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int same_addr(const struct hostwatch_pair *a, const struct hostwatch_pair *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, 16) == 0;
}

/* Within one group of equal first labels: emit when there is exactly one FQDN. */
static int shorts_group(const struct ent *g, size_t n,
			int (*cb)(size_t i, const char *short_name, void *arg), void *arg)
{
	char short_name[HOSTWATCH_NAME_MAX + 1];
	const char *fqdn = NULL;
	size_t i, j;
	int r;

	for (i = 0; i < n; i++) {
		const char *name = g[i].p->name;
		if (name[g[i].label] != '.')
			continue;
		if (fqdn && strcmp(fqdn, name) != 0)
			return 0;
		fqdn = name;
	}
	if (!fqdn || hostwatch_short_name(fqdn, short_name, sizeof(short_name)) < 0)
		return 0;
	for (i = 0; i < n; i++) {
		int taken = 0;

		if (g[i].p->name[g[i].label] != '.')
			continue;
		/* "web" given outright for another address wins over a derived one. */
		for (j = 0; j < n && !taken; j++)
			taken = g[j].p->name[g[j].label] == '\0' && !same_addr(g[i].p, g[j].p);
		if (taken)
			continue;
		r = cb(g[i].idx, short_name, arg);
		if (r < 0)
			return r;
	}
	return 0;
}

int hostwatch_shorts(const struct hostwatch_pair *pairs, size_t n,
		     int (*cb)(size_t i, const char *short_name, void *arg), void *arg)
{
	struct ent *e;
	size_t i, m = 0, g, end;
	int r = 0;

	if (n == 0)
		return 0;
	e = calloc(n, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (pairs[i].derived)
			continue;
		e[m].p = &pairs[i];
		e[m].idx = i;
		e[m].label = strcspn(pairs[i].name, ".");
		m++;
	}
	qsort(e, m, sizeof(*e), ent_cmp);
	for (g = 0; g < m && r >= 0; g = end) {
		for (end = g + 1; end < m; end++)
			if (e[end].label != e[g].label ||
			    memcmp(e[end].p->name, e[g].p->name, e[g].label) != 0)
				break;
		r = shorts_group(e + g, end - g, cb, arg);
	}
	free(e);
	return r < 0 ? r : 0;
}
