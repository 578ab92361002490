/*
 * knownpat: OpenSSH's host patterns and @revoked markers in known_hosts,
 * for the lines libssh2 leaves unjudged.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hostkey.h"
#include "knownpat.h"

#define BLOB_MAX 8192 /* well above a 16384-bit RSA key */

/* One pattern against host, both compared in lower case. */
static bool glob_match(const char *p, const char *pend, const char *h)
{
	const char *star = NULL, *resume = NULL;

	while (*h) {
		if (p < pend && *p == '*') {
			star = ++p;
			resume = h;
		} else if (p < pend && (*p == '?' ||
					tolower((unsigned char)*p) == tolower((unsigned char)*h))) {
			p++;
			h++;
		} else if (star) {
			p = star;
			h = ++resume;
		} else {
			return false;
		}
	}
	while (p < pend && *p == '*')
		p++;
	return p == pend;
}

bool knownpat_match_list(const char *list, size_t len, const char *host)
{
	const char *p = list, *end = list + len;
	bool hit = false;

	while (p < end) {
		const char *q = memchr(p, ',', (size_t)(end - p));
		bool neg;

		if (!q)
			q = end;
		neg = *p == '!';
		if (glob_match(p + neg, q, host)) {
			if (neg)
				return false;
			hit = true;
		}
		p = q + 1;
	}
	return hit;
}

/* The next field of a line: its start and length; *p moves past it. */
static size_t field(const char **p, const char **start)
{
	const char *s = *p + strspn(*p, " \t");
	size_t n = strcspn(s, " \t\r\n");

	*start = s;
	*p = s + n;
	return n;
}

/* "|1|salt|hash" names name: OpenSSH's HMAC-SHA1 of the name under the salt. */
static bool hashed_match(const char *f, size_t len, const char *name)
{
	unsigned char salt[64];
	char salt_b64[HOSTKEY_HASH_B64], hash_b64[HOSTKEY_HASH_B64];
	const char *bar = len > 3 ? memchr(f + 3, '|', len - 3) : NULL;
	size_t slen;

	if (!bar)
		return false;
	slen = (size_t)(bar - (f + 3));
	if (hostkey_unbase64(salt, sizeof(salt), f + 3, slen) != HOSTKEY_SALT_LEN ||
	    hostkey_hash_name(name, salt, salt_b64, hash_b64) < 0)
		return false;
	return strlen(hash_b64) == len - slen - 4 && !memcmp(hash_b64, bar + 1, len - slen - 4);
}

/* Whether libssh2 would judge a host field itself: no pattern, no capital. */
static bool plain_field(const char *f, size_t len)
{
	if (len >= 3 && !memcmp(f, "|1|", 3))
		return true;
	for (size_t i = 0; i < len; i++)
		if (f[i] == '*' || f[i] == '?' || f[i] == '!' || isupper((unsigned char)f[i]))
			return false;
	return true;
}

static void note(struct knownpat_result *res, enum knownpat_verdict v, size_t file,
		 unsigned long line)
{
	if (v > res->verdict) {
		res->verdict = v;
		res->file = file;
		res->line = line;
	}
}

/* One line of a known_hosts file, judged into res when it is one of ours. */
static void judge_line(const char *p, const char *name, const char *type, const unsigned char *key,
		       size_t klen, const char *const *type_names, size_t n_types,
		       struct knownpat_result *res, size_t file, unsigned long line)
{
	unsigned char blob[BLOB_MAX];
	const char *marker = NULL, *hosts, *ktype, *kb64;
	size_t mlen = 0, hlen, tlen, blen;
	bool revoked = false, names;
	int n;

	p += strspn(p, " \t");
	if (*p == '#' || *p == '\0' || *p == '\n' || *p == '\r')
		return;
	if (*p == '@') {
		mlen = field(&p, &marker);
		if (mlen != 8 || memcmp(marker, "@revoked", 8))
			return; /* @cert-authority: certificates are not offered here */
		revoked = true;
	}
	hlen = field(&p, &hosts);
	tlen = field(&p, &ktype);
	blen = field(&p, &kb64);
	if (!hlen || !tlen || !blen || (!revoked && plain_field(hosts, hlen)))
		return;
	if (hlen >= 3 && !memcmp(hosts, "|1|", 3))
		names = hashed_match(hosts, hlen, name);
	else
		names = knownpat_match_list(hosts, hlen, name);
	if (!names)
		return;
	n = hostkey_unbase64(blob, sizeof(blob), kb64, blen);
	if (n < 0)
		return;
	if (revoked) {
		if ((size_t)n == klen && !memcmp(blob, key, klen))
			note(res, KNOWNPAT_REVOKED, file, line);
		return;
	}
	for (size_t i = 0; i < n_types && i < 32; i++)
		if (strlen(type_names[i]) == tlen && !memcmp(type_names[i], ktype, tlen))
			res->types |= 1u << i;
	if (strlen(type) != tlen || memcmp(type, ktype, tlen))
		return;
	note(res, (size_t)n == klen && !memcmp(blob, key, klen) ? KNOWNPAT_MATCH : KNOWNPAT_CHANGED,
	     file, line);
}

int knownpat_scan(const char *const *files, size_t n, const char *name, const char *type,
		  const unsigned char *key, size_t klen, const char *const *type_names,
		  size_t n_types, struct knownpat_result *res)
{
	char *line = NULL;
	size_t cap = 0;
	int r = 0;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < n && r == 0; i++) {
		FILE *f = files[i] && *files[i] ? fopen(files[i], "re") : NULL;
		unsigned long no = 0;
		struct stat st;

		if (!f) {
			if (files[i] && *files[i] && errno != ENOENT && errno != ENOTDIR)
				r = -errno;
			continue;
		}
		if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode))
			while (getline(&line, &cap, f) > 0)
				judge_line(line, name, type, key, klen, type_names, n_types, res, i,
					   ++no);
		if (ferror(f))
			r = -EIO;
		fclose(f);
	}
	free(line);
	return r;
}
