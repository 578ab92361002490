/*
 * hostkey: known_hosts handling on top of libssh2's knownhost API. libssh2
 * does the parsing and the hashed-name matching; this file adds what it
 * lacks: tolerant reading, finding the key types on file for a host, and
 * appending one line instead of rewriting the user's file.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>

#include "hostkey.h"
#include "knownpat.h"

#include "../../common/fdio.h"

int hostkey_base64(char *out, size_t outlen, const unsigned char *in, size_t inlen)
{
	size_t need = inlen / 3 * 4 + (inlen % 3 ? inlen % 3 + 1 : 0);
	size_t padded = (inlen + 2) / 3 * 4 + 1;
	unsigned char *tmp;
	int n;

	if (inlen > (size_t)INT_MAX / 4 * 3 - 3 || need + 1 > outlen)
		return -ENOSPC;
	/* libcrypto pads to a multiple of 4; fingerprints are written without the '='. */
	tmp = malloc(padded);
	if (!tmp)
		return -ENOMEM;
	n = EVP_EncodeBlock(tmp, in, (int)inlen);
	while (n > 0 && tmp[n - 1] == '=')
		n--;
	memcpy(out, tmp, (size_t)n);
	out[n] = '\0';
	free(tmp);
	return n;
}

int hostkey_unbase64(unsigned char *out, size_t cap, const char *in, size_t len)
{
	int n;

	if (len == 0 || len % 4 || len > (size_t)INT_MAX || len / 4 * 3 > cap)
		return -EINVAL;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -EINVAL;
	return n - (in[len - 1] == '=') - (in[len - 2] == '=');
}

int hostkey_fingerprint(char *out, size_t outlen, const unsigned char *blob, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int n;

	if (outlen < sizeof("SHA256:"))
		return -ENOSPC;
	if (!EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	memcpy(out, "SHA256:", 7);
	n = hostkey_base64(out + 7, outlen - 7, md, mdlen);
	return n < 0 ? n : 0;
}

int hostkey_name(char *out, size_t outlen, const char *host, uint16_t port)
{
	int n;

	if (port == 22 || port == 0)
		n = snprintf(out, outlen, "%s", host);
	else
		n = snprintf(out, outlen, "[%s]:%u", host, (unsigned)port);
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

struct key_kind {
	int hostkey_type;    /* LIBSSH2_HOSTKEY_TYPE_* */
	int knownhost_type;  /* LIBSSH2_KNOWNHOST_KEY_* */
	const char *name;    /* in known_hosts and fingerprints */
	const char *methods; /* LIBSSH2_METHOD_HOSTKEY names that sign with it, best first */
};

/* OpenSSH's default HostKeyAlgorithms order, so pinning prefers the same key it would. */
static const struct key_kind kinds[] = {
    {LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519", "ssh-ed25519"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256",
     "ecdsa-sha2-nistp256"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384",
     "ecdsa-sha2-nistp384"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521",
     "ecdsa-sha2-nistp521"},
    {LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa",
     "rsa-sha2-512,rsa-sha2-256,ssh-rsa"},
    {LIBSSH2_HOSTKEY_TYPE_DSS, LIBSSH2_KNOWNHOST_KEY_SSHDSS, "ssh-dss", "ssh-dss"},
};

static const struct key_kind *kind_of(int hostkey_type)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].hostkey_type == hostkey_type)
			return &kinds[i];
	return NULL;
}

const char *hostkey_type_name(int hostkey_type)
{
	const struct key_kind *k = kind_of(hostkey_type);

	return k ? k->name : NULL;
}

/* "|1|salt|hash": libssh2 1.10 leaks on every check against a hash that is not SHA-1 sized. */
static int bad_hash(const char *p)
{
	const char *h;

	if (strncmp(p, "|1|", 3))
		return 0;
	h = strchr(p + 3, '|');
	return !h || strcspn(h + 1, " \t") != 28;
}

/*
 * @cert-authority and @revoked lines would be misread as a host named
 * "@...": skipped, as are comments, blank lines and hashes libssh2 mishandles.
 */
static bool skip_line(const char *p)
{
	return *p == '@' || *p == '#' || *p == '\n' || *p == '\0' || bad_hash(p);
}

static int load_file(LIBSSH2_KNOWNHOSTS *kh, const char *file)
{
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	struct stat st;
	int n = 0;

	if (!f)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	if (fstat(fileno(f), &st) < 0) {
		n = -errno;
		fclose(f);
		return n;
	}
	/* /dev/null (UserKnownHostsFile /dev/null) holds no key, as for ssh. */
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		fclose(f);
		return 0;
	}
	if (!hostkey_owner_ok(&st)) {
		fclose(f);
		return -EPERM;
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		const char *p = line;

		while (*p == ' ' || *p == '\t')
			p++;
		/* A line libssh2 rejects is skipped too; readfile would lose every entry after it.
		 */
		if (skip_line(p))
			continue;
		if (libssh2_knownhost_readline(kh, p, (size_t)len - (size_t)(p - line),
					       LIBSSH2_KNOWNHOST_FILE_OPENSSH) == 0)
			n++;
	}
	if (ferror(f))
		n = -EIO;
	free(line);
	fclose(f);
	return n;
}

int hostkey_load(LIBSSH2_KNOWNHOSTS *kh, const char *const *files, size_t n)
{
	int total = 0;

	for (size_t i = 0; i < n; i++) {
		int r;

		if (!files[i] || !*files[i])
			continue;
		r = load_file(kh, files[i]);
		if (r < 0)
			return r;
		total += r;
	}
	return total;
}

static int on_file(LIBSSH2_KNOWNHOSTS *kh, const char *name, int knownhost_type)
{
	/*
	 * knownhost_check only compares keys of the type asked for, and reports
	 * MISMATCH when the name matches (hashed or not) but the key differs. A
	 * key that cannot be on file therefore tells whether this type is
	 * there, without needing to read hashed names. Port -1: name is already
	 * in known_hosts form, and libssh2 would otherwise also try plain "host".
	 */
	int r = libssh2_knownhost_checkp(
	    kh, name, -1, "!", 1,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_BASE64 | knownhost_type, NULL);

	return r == LIBSSH2_KNOWNHOST_CHECK_MISMATCH || r == LIBSSH2_KNOWNHOST_CHECK_MATCH;
}

static int supported_has(const char *const *supported, size_t n, const char *m, size_t mlen)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(supported[i]) == mlen && !memcmp(supported[i], m, mlen))
			return 1;
	return 0;
}

int hostkey_methods(LIBSSH2_KNOWNHOSTS *kh, const char *const *files, size_t n_files,
		    const char *name, const char *const *supported, size_t n_supported, char *out,
		    size_t outlen)
{
	const char *names[sizeof(kinds) / sizeof(kinds[0])];
	struct knownpat_result pat;
	size_t o = 0;
	int found = 0;

	if (!outlen)
		return -ENOSPC;
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		names[i] = kinds[i].name;
	/* Types on lines for host patterns pin as well: no key type the server has left unjudged.
	 */
	if (knownpat_scan(files, n_files, name, "", NULL, 0, names,
			  sizeof(kinds) / sizeof(kinds[0]), &pat) < 0)
		pat.types = 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *m = kinds[i].methods;

		if (!on_file(kh, name, kinds[i].knownhost_type) && !(pat.types & (1u << i)))
			continue;
		found++;
		while (*m) {
			size_t mlen = strcspn(m, ",");

			if (supported_has(supported, n_supported, m, mlen)) {
				if (o + (o ? 1 : 0) + mlen + 1 > outlen)
					return -ENOSPC;
				if (o)
					out[o++] = ',';
				memcpy(out + o, m, mlen);
				o += mlen;
				out[o] = '\0';
			}
			m += mlen;
			if (*m == ',')
				m++;
		}
	}
	return found;
}

int hostkey_check(LIBSSH2_KNOWNHOSTS *kh, const char *name, const unsigned char *key, size_t len,
		  int hostkey_type)
{
	const struct key_kind *k = kind_of(hostkey_type);
	int r;

	if (!k)
		return -EPROTONOSUPPORT;
	if (!len)
		return -EINVAL;
	r = libssh2_knownhost_checkp(
	    kh, name, -1, (const char *)key, len,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | k->knownhost_type, NULL);
	switch (r) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		return HOSTKEY_MATCH;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		return HOSTKEY_CHANGED;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		return HOSTKEY_UNKNOWN;
	default:
		return -ENOMEM;
	}
}

/* Whether this one known_hosts line has name with a key of this type other than key. */
static bool line_differs(LIBSSH2_SESSION *s, const char *p, size_t len, const char *name,
			 const unsigned char *key, size_t klen, int knownhost_type)
{
	LIBSSH2_KNOWNHOSTS *one = libssh2_knownhost_init(s);
	bool differs = false;

	if (!one)
		return false;
	if (libssh2_knownhost_readline(one, p, len, LIBSSH2_KNOWNHOST_FILE_OPENSSH) == 0)
		differs =
		    libssh2_knownhost_checkp(one, name, -1, (const char *)key, klen,
					     LIBSSH2_KNOWNHOST_TYPE_PLAIN |
						 LIBSSH2_KNOWNHOST_KEYENC_RAW | knownhost_type,
					     NULL) == LIBSSH2_KNOWNHOST_CHECK_MISMATCH;
	libssh2_knownhost_free(one);
	return differs;
}

int hostkey_locate(LIBSSH2_SESSION *s, const char *const *files, size_t n, const char *name,
		   const unsigned char *key, size_t len, int hostkey_type, size_t *file_index,
		   unsigned long *line_no)
{
	const struct key_kind *k = kind_of(hostkey_type);
	char *line = NULL;
	size_t cap = 0;
	int r = -ENOENT;

	if (!k || !len)
		return -EINVAL;
	for (size_t i = 0; i < n && r == -ENOENT; i++) {
		FILE *f = files[i] && *files[i] ? fopen(files[i], "re") : NULL;
		unsigned long no = 0;
		ssize_t got;

		if (!f)
			continue;
		/* Line by line, so hashed names match as libssh2 matches them. */
		while ((got = getline(&line, &cap, f)) > 0) {
			const char *p = line + strspn(line, " \t");

			no++;
			if (skip_line(p) || !line_differs(s, p, (size_t)got - (size_t)(p - line),
							  name, key, len, k->knownhost_type))
				continue;
			*file_index = i;
			*line_no = no;
			r = 0;
			break;
		}
		fclose(f);
	}
	free(line);
	return r;
}

bool hostkey_owner_ok(const struct stat *st)
{
	/*
	 * Keys anyone can write are not ours to trust. Group write is allowed, as
	 * OpenSSH allows it (a private group with umask 002 is common).
	 */
	return (st->st_uid == geteuid() || st->st_uid == 0) && !(st->st_mode & S_IWOTH);
}

/*
 * O_NOFOLLOW: when sluice runs as root for someone, a symlink planted where
 * known_hosts should be must not make it append to a file of root's
 * choosing. The file must be a regular one of the user whose keys are used.
 */
static int open_append(const char *file)
{
	struct stat st;
	int fd = open(file, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	/* Like ssh, create a missing ~/.ssh; only that one level. */
	if (fd < 0 && errno == ENOENT) {
		char *copy = strdup(file);

		if (!copy)
			return -ENOMEM;
		if (mkdir(dirname(copy), 0700) < 0 && errno != EEXIST) {
			int e = -errno;

			free(copy);
			return e;
		}
		free(copy);
		fd = open(file, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	/* A hard link would lead there as well as a symlink would: one name only. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_nlink != 1 || (st.st_mode & S_IWOTH)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

int hostkey_hash_name(const char *name, const unsigned char salt[HOSTKEY_SALT_LEN],
		      char salt_b64[HOSTKEY_HASH_B64], char hash_b64[HOSTKEY_HASH_B64])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!HMAC(EVP_sha1(), salt, HOSTKEY_SALT_LEN, (const unsigned char *)name, strlen(name), md,
		  &mdlen) ||
	    mdlen != HOSTKEY_SALT_LEN)
		return -EINVAL;
	/* Padded, as OpenSSH writes them: 20 bytes are 28 characters. */
	if (EVP_EncodeBlock((unsigned char *)salt_b64, salt, HOSTKEY_SALT_LEN) !=
		HOSTKEY_HASH_B64 - 1 ||
	    EVP_EncodeBlock((unsigned char *)hash_b64, md, mdlen) != HOSTKEY_HASH_B64 - 1)
		return -EINVAL;
	return 0;
}

/* The entry for name, hashed under a fresh salt when asked; libssh2 writes it out. */
static int entry_add(LIBSSH2_KNOWNHOSTS *kh, const char *name, const unsigned char *key, size_t len,
		     int knownhost_type, bool hash, struct libssh2_knownhost **entry)
{
	unsigned char salt[HOSTKEY_SALT_LEN];
	char salt_b64[HOSTKEY_HASH_B64], hash_b64[HOSTKEY_HASH_B64];
	int r;

	if (!hash)
		return libssh2_knownhost_addc(kh, name, NULL, (const char *)key, len, "sluice", 6,
					      LIBSSH2_KNOWNHOST_TYPE_PLAIN |
						  LIBSSH2_KNOWNHOST_KEYENC_RAW | knownhost_type,
					      entry)
			   ? -ENOMEM
			   : 0;
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
		return errno ? -errno : -EIO;
	r = hostkey_hash_name(name, salt, salt_b64, hash_b64);
	if (r < 0)
		return r;
	return libssh2_knownhost_addc(kh, hash_b64, salt_b64, (const char *)key, len, "sluice", 6,
				      LIBSSH2_KNOWNHOST_TYPE_SHA1 | LIBSSH2_KNOWNHOST_KEYENC_RAW |
					  knownhost_type,
				      entry)
		   ? -ENOMEM
		   : 0;
}

int hostkey_remember(LIBSSH2_KNOWNHOSTS *kh, const char *name, const unsigned char *key, size_t len,
		     int hostkey_type)
{
	const struct key_kind *k = kind_of(hostkey_type);

	if (!k)
		return -EPROTONOSUPPORT;
	if (!len)
		return -EINVAL;
	return entry_add(kh, name, key, len, k->knownhost_type, false, NULL);
}

int hostkey_append(LIBSSH2_KNOWNHOSTS *kh, const char *file, const char *name,
		   const unsigned char *key, size_t len, int hostkey_type, bool hash)
{
	const struct key_kind *k = kind_of(hostkey_type);
	struct libssh2_knownhost *entry = NULL;
	char *line = NULL;
	size_t cap = 8192, outlen = 0;
	struct stat st;
	char last;
	int fd = -1, r;

	if (!k)
		return -EPROTONOSUPPORT;
	if (!len)
		return -EINVAL;
	r = entry_add(kh, name, key, len, k->knownhost_type, hash, &entry);
	if (r < 0)
		return r;

	/* Room for a leading newline in case the file does not end with one. */
	for (int tries = 0; tries < 2; tries++) {
		free(line);
		line = malloc(cap + 1);
		if (!line) {
			r = -ENOMEM;
			goto out;
		}
		line[0] = '\n';
		r = libssh2_knownhost_writeline(kh, entry, line + 1, cap, &outlen,
						LIBSSH2_KNOWNHOST_FILE_OPENSSH);
		if (r != LIBSSH2_ERROR_BUFFER_TOO_SMALL)
			break;
		cap = outlen + 1;
	}
	if (r) {
		r = r == LIBSSH2_ERROR_ALLOC ? -ENOMEM : -EINVAL;
		goto out;
	}
	if (outlen == 0 || outlen > cap || line[outlen] != '\n') {
		r = -EINVAL;
		goto out;
	}

	fd = open_append(file);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n')
		r = fd_write_all(fd, line, outlen + 1);
	else
		r = fd_write_all(fd, line + 1, outlen);
	if (r)
		goto out;
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto out;
	}
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	return r;
}
