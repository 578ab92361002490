/*
 * auth: the user authentication methods, tried in OpenSSH's order, and the
 * terminal prompts they need. Secrets live on the stack and are wiped after
 * use; a signal during a prompt restores the terminal before it is handled.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auth.h"
#include "hostkey.h"

#include "../../common/escape.h"

#define SECRET_MAX 1024
#define TRIES	   3  /* prompts per interactive method, like NumberOfPasswordPrompts */
#define AGENT_MAX  32 /* servers cut us off after MaxAuthTries (6) anyway */
#define NOT_YET	   1  /* internal: this method did not authenticate; try the next */
#define NONE_TAKEN 2  /* internal: asked for its methods, the server let us in by "none" */
#define NO_PK	   3  /* internal: the server does not take public keys: offer no more */
/*
 * With this many keys or more, the server's methods are asked first, as
 * before: a "none" asked after a refused key counts towards MaxAuthTries
 * (sshd forgives only a first one), which would cost the last key a try.
 */
#define MANY_KEYS 5

/* Append ", item" to buf, cutting it short rather than overflowing. */
static void list_add(char *buf, size_t size, const char *item)
{
	size_t used = strnlen(buf, size), n;

	if (used + 3 >= size)
		return;
	if (used) {
		memcpy(buf + used, ", ", 2);
		used += 2;
	}
	n = strlen(item);
	if (n > size - used - 1)
		n = size - used - 1;
	memcpy(buf + used, item, n);
	buf[used + n] = '\0';
}

static bool listed(const char *methods, const char *m)
{
	size_t mlen = strlen(m);

	for (const char *p = methods; *p;) {
		size_t n = strcspn(p, ",");

		if (n == mlen && !memcmp(p, m, n))
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

/* Errors after which the session is gone, as opposed to "this key was refused". */
static bool session_dead(int rc)
{
	switch (rc) {
	case LIBSSH2_ERROR_SOCKET_SEND:
	case LIBSSH2_ERROR_SOCKET_RECV:
	case LIBSSH2_ERROR_SOCKET_DISCONNECT:
	case LIBSSH2_ERROR_SOCKET_TIMEOUT:
	case LIBSSH2_ERROR_TIMEOUT:
	case LIBSSH2_ERROR_BAD_SOCKET:
	case LIBSSH2_ERROR_DECRYPT:
	case LIBSSH2_ERROR_ENCRYPT:
	case LIBSSH2_ERROR_INVALID_MAC:
	case LIBSSH2_ERROR_PROTO:
		return true;
	default:
		return false;
	}
}

static int session_failed(LIBSSH2_SESSION *s, int rc, struct auth_result *res)
{
	char *msg = NULL;

	libssh2_session_last_error(s, &msg, NULL, 0);
	snprintf(res->error, sizeof(res->error), "%s", msg && *msg ? msg : "connection lost");
	return rc == LIBSSH2_ERROR_TIMEOUT || rc == LIBSSH2_ERROR_SOCKET_TIMEOUT ? -ETIMEDOUT
										 : -ECONNRESET;
}

/*
 * Server-provided prompt text goes to the terminal: escaped by the same
 * filter as every log line, newlines kept (prompts span lines).
 */
static void tty_put(int fd, const char *s, size_t len)
{
	char *buf;
	size_t n;

	/* Each byte escapes to at most 4; prompts are short (libssh2 bounds them). */
	if (len > (1u << 20) || !(buf = malloc(len * 4 + 1)))
		return;
	n = escape_text(buf, len * 4 + 1, s, len, true);
	/* A prompt that cannot be shown is no error: the answer read after it is what counts. */
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w <= 0)
			break;
		memmove(buf, buf + w, n - (size_t)w);
		n -= (size_t)w;
	}
	free(buf);
}

static volatile sig_atomic_t tty_signal;

static void tty_on_signal(int sig)
{
	tty_signal = sig;
}

static const int tty_sigs[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP};
#define N_TTY_SIGS (sizeof(tty_sigs) / sizeof(tty_sigs[0]))

static int tty_ask_once(const char *prompt, size_t plen, bool echo, char *out, size_t outlen)
{
	struct sigaction sa, old[N_TTY_SIGS];
	struct termios saved, quiet;
	bool restore = false, too_long = false;
	size_t n = 0;
	int fd, r = 0;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	tty_signal = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tty_on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: read() must return so the terminal can be restored. */
	for (size_t i = 0; i < N_TTY_SIGS; i++)
		sigaction(tty_sigs[i], &sa, &old[i]);
	if (!echo && tcgetattr(fd, &saved) == 0) {
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	tty_put(fd, prompt, plen);
	for (;;) {
		char c;
		ssize_t rd = read(fd, &c, 1);

		if (rd < 0 && errno == EINTR && !tty_signal)
			continue;
		if (rd < 0) {
			r = tty_signal ? -EINTR : -errno;
			break;
		}
		if (rd == 0 && n == 0) {
			r = -ENODATA; /* ^D: the user declined */
			break;
		}
		if (rd == 0 || c == '\n' || c == '\r')
			break;
		if (n + 1 >= outlen)
			too_long = true;
		else
			out[n++] = c;
	}
	if (outlen)
		out[n < outlen ? n : outlen - 1] = '\0';
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &saved);
	if (!echo && write(fd, "\n", 1) < 0)
		r = r ? r : -EIO;
	for (size_t i = 0; i < N_TTY_SIGS; i++)
		sigaction(tty_sigs[i], &old[i], NULL);
	close(fd);
	if (!r && too_long)
		r = -EMSGSIZE;
	if (r)
		explicit_bzero(out, outlen);
	if (tty_signal) {
		/* Deliver it now that the terminal echoes again; its own handler decides. */
		raise(tty_signal);
		r = -EINTR;
	}
	return r;
}

static int tty_ask(const char *prompt, size_t plen, bool echo, char *out, size_t outlen)
{
	int r = -EINTR;

	/* After ^Z and fg, ask again, as ssh does. */
	for (int i = 0; i < 4 && r == -EINTR; i++) {
		r = tty_ask_once(prompt, plen, echo, out, outlen);
		if (r == -EINTR && tty_signal != SIGTSTP)
			break;
	}
	return r;
}

static void tty_show(const char *text, size_t len)
{
	int fd;

	if (!len)
		return;
	fd = open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	tty_put(fd, text, len);
	if (text[len - 1] != '\n' && write(fd, "\n", 1) < 0) {
		/* nothing to do: the prompt that follows still works */
	}
	close(fd);
}

static bool prompts_allowed = true;

void auth_set_prompts(bool allowed)
{
	prompts_allowed = allowed;
}

static bool have_tty(void)
{
	return prompts_allowed && isatty(STDIN_FILENO) == 1;
}

bool auth_have_tty(void)
{
	return have_tty() && isatty(STDERR_FILENO) == 1;
}

int auth_ask(const char *text, const char *prompt, char *out, size_t outlen)
{
	if (text)
		tty_show(text, strlen(text));
	return tty_ask(prompt, strlen(prompt), true, out, outlen);
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define KEY_TEXT_MAX 16384
#define KEY_BLOB_MAX 6144

/* A key file's text, NUL-terminated (its start when longer). 0 or -errno. */
static int key_text(const char *path, char buf[KEY_TEXT_MAX])
{
	FILE *f = fopen(path, "re");
	size_t n;
	int err;

	if (!f)
		return -errno;
	n = fread(buf, 1, KEY_TEXT_MAX - 1, f);
	err = ferror(f) ? -EIO : 0;
	fclose(f);
	buf[n] = '\0';
	return err;
}

/*
 * The binary of an openssh-key-v1 key in text, as far as it decodes into
 * blob (whole groups of four characters, the lines joined): its length
 * with the magic checked, 0 when text holds no such key, -EINVAL when it
 * is broken.
 */
static int openssh_blob(const char *text, unsigned char blob[KEY_BLOB_MAX])
{
	static const char openssh[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
	static const char magic[] = "openssh-key-v1"; /* followed by its NUL in the blob */
	unsigned char b64[KEY_BLOB_MAX / 3 * 4];
	const char *p = strstr(text, openssh);
	size_t tlen = 0;
	int blen;

	if (!p)
		return 0;
	for (p += sizeof(openssh) - 1; *p && *p != '-' && *p != '=' && tlen < sizeof(b64); p++)
		if (isalnum((unsigned char)*p) || *p == '+' || *p == '/')
			b64[tlen++] = (unsigned char)*p;
	blen = EVP_DecodeBlock(blob, b64, (int)(tlen & ~(size_t)3));
	if (blen < (int)sizeof(magic) || memcmp(blob, magic, sizeof(magic)))
		return -EINVAL;
	return blen;
}

int auth_key_encrypted(const char *path)
{
	char text[KEY_TEXT_MAX];
	unsigned char blob[KEY_BLOB_MAX];
	uint32_t clen;
	int blen = key_text(path, text);

	if (blen < 0)
		return blen;
	blen = openssh_blob(text, blob);
	if (blen == 0)
		return strstr(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
		       strstr(text, "Proc-Type: 4,ENCRYPTED");
	/* The magic, then string ciphername. */
	if (blen < 19)
		return -EINVAL;
	clen = get_u32(blob + 15);
	if (clen > (uint32_t)blen - 19)
		return -EINVAL;
	return !(clen == 4 && !memcmp(blob + 19, "none", 4));
}

/* From its .pub, or a PEM header when there is none; openssh-key-v1 files without .pub: no. */
static bool key_file_is_rsa(const char *path, const char *pub)
{
	char head[64] = "";
	FILE *f = fopen(pub ? pub : path, "re");

	if (!f)
		return false;
	if (!fgets(head, sizeof(head), f))
		head[0] = '\0';
	fclose(f);
	return pub ? !strncmp(head, "ssh-rsa ", 8) : !!strstr(head, "BEGIN RSA PRIVATE KEY");
}

/*
 * What the server takes, asked once with a "none" request, as OpenSSH does
 * before anything else. We ask only when we must: a key offered first
 * learns as much from its refusal, and saves that round trip when it is
 * taken. (When it is refused, the "none" asked then counts as one more
 * failed attempt towards the server's MaxAuthTries.) 0 (res->methods is the
 * answer), NONE_TAKEN, or -errno when the session failed.
 */
static int methods_ask(LIBSSH2_SESSION *s, const char *user, struct auth_result *res)
{
	char *m;

	if (res->methods_asked)
		return 0;
	res->methods_asked = 1;
	m = libssh2_userauth_list(s, user, (unsigned int)strlen(user));
	if (m) {
		snprintf(res->methods, sizeof(res->methods), "%s", m);
		return 0;
	}
	if (libssh2_userauth_authenticated(s)) {
		snprintf(res->used, sizeof(res->used), "none");
		return NONE_TAKEN;
	}
	return session_failed(s, libssh2_session_last_errno(s), res);
}

/*
 * Before a key is offered (once one was refused) or a passphrase asked
 * (must_know: never for a method the server does not take): NOT_YET to go
 * ahead, else what to return.
 */
static int pk_go(LIBSSH2_SESSION *s, const char *user, struct auth_result *res, bool must_know)
{
	int r = must_know || res->offered ? methods_ask(s, user, res) : 0;

	if (r == NONE_TAKEN)
		return 0;
	if (r < 0)
		return r;
	return !res->methods_asked || listed(res->methods, "publickey") ? NOT_YET : NO_PK;
}

/* The agent's socket as IdentityAgent names it, or NULL for none. */
static const char *agent_socket(const struct auth_agent *a)
{
	const char *v = a ? a->socket : NULL;

	if (!v || !strcmp(v, "SSH_AUTH_SOCK"))
		v = getenv("SSH_AUTH_SOCK");
	else if (v[0] == '$')
		v = getenv(v + 1);
	else if (!strcmp(v, "none"))
		v = NULL;
	return v && *v ? v : NULL;
}

/*
 * The public key blob an openssh-key-v1 private key file carries in the
 * clear, ahead of its (maybe encrypted) private part: as ssh, IdentitiesOnly
 * needs no .pub beside it. Its length, or -errno (-EINVAL: not that format).
 */
static int key_file_public(const char *path, unsigned char *out, size_t cap)
{
	char text[KEY_TEXT_MAX];
	unsigned char blob[KEY_BLOB_MAX];
	size_t n, off = sizeof("openssh-key-v1");
	int blen = key_text(path, text), i;

	if (blen < 0)
		return blen;
	blen = openssh_blob(text, blob);
	if (blen <= 0)
		return -EINVAL;
	/* ciphername, kdfname, kdfoptions, then the key count and the first public key. */
	for (i = 0; i < 3; i++) {
		if (off + 4 > (size_t)blen || get_u32(blob + off) > (size_t)blen - off - 4)
			return -EINVAL;
		off += 4 + get_u32(blob + off);
	}
	if (off + 8 > (size_t)blen || get_u32(blob + off) < 1)
		return -EINVAL;
	off += 4;
	n = get_u32(blob + off);
	off += 4;
	if (n == 0 || n > (size_t)blen - off || n > cap)
		return -EINVAL;
	memcpy(out, blob + off, n);
	return (int)n;
}

/* The key blobs of the identity files (their .pub, else the key file's own), for IdentitiesOnly. */
struct pub_blobs {
	unsigned char *blob[AGENT_MAX];
	size_t len[AGENT_MAX], n;
};

static void pubs_load(struct pub_blobs *p, const char *const *ids, size_t n_ids)
{
	char path[PATH_MAX], line[16384];

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < n_ids && p->n < AGENT_MAX; i++) {
		FILE *f;
		char *b64;
		size_t len;
		int got;

		if (!ids[i] || snprintf(path, sizeof(path), "%s.pub", ids[i]) >= (int)sizeof(path))
			continue;
		if (!(f = fopen(path, "re"))) {
			unsigned char blob[6144];
			int klen = key_file_public(ids[i], blob, sizeof(blob));

			if (klen > 0 && (p->blob[p->n] = malloc((size_t)klen))) {
				memcpy(p->blob[p->n], blob, (size_t)klen);
				p->len[p->n++] = (size_t)klen;
			}
			continue;
		}
		got = fgets(line, sizeof(line), f) != NULL;
		fclose(f);
		if (!got || !(b64 = strpbrk(line, " \t")))
			continue;
		b64 += strspn(b64, " \t");
		len = strcspn(b64, " \t\r\n");
		if (!(p->blob[p->n] = malloc(len / 4 * 3 + 1)))
			continue;
		got = hostkey_unbase64(p->blob[p->n], len / 4 * 3 + 1, b64, len);
		if (got <= 0) {
			free(p->blob[p->n]);
			continue;
		}
		p->len[p->n++] = (size_t)got;
	}
}

static bool pubs_have(const struct pub_blobs *p, const struct libssh2_agent_publickey *id)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->len[i] == id->blob_len && !memcmp(p->blob[i], id->blob, id->blob_len))
			return true;
	return false;
}

static void pubs_free(struct pub_blobs *p)
{
	while (p->n)
		free(p->blob[--p->n]);
}

/*
 * files: the identity files there are besides the agent's keys. With
 * IdentitiesOnly, only agent keys that one of ids names are offered: a
 * full agent would otherwise use up the server's MaxAuthTries first.
 */
static int try_agent(LIBSSH2_SESSION *s, const char *user, size_t files, const char *const *ids,
		     size_t n_ids, const struct auth_agent *a, struct auth_result *res)
{
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	const char *sock = agent_socket(a);
	bool only = a && a->identities_only;
	struct pub_blobs pubs = {0};
	LIBSSH2_AGENT *agent;
	char label[64];
	int r = NOT_YET, n = 0;

	if (!sock)
		return NOT_YET;
	agent = libssh2_agent_init(s);
	if (!agent) {
		list_add(res->tried, sizeof(res->tried), "agent (cannot start)");
		return NOT_YET;
	}
	libssh2_agent_set_identity_path(agent, sock);
	if (only)
		pubs_load(&pubs, ids, n_ids);
	if (libssh2_agent_connect(agent)) {
		list_add(res->tried, sizeof(res->tried), "agent (unreachable)");
		goto out;
	}
	if (libssh2_agent_list_identities(agent)) {
		list_add(res->tried, sizeof(res->tried), "agent (cannot list keys)");
		goto out_disconnect;
	}
	while (files < MANY_KEYS && libssh2_agent_get_identity(agent, &id, prev) == 0) {
		prev = id;
		files += !only || pubs_have(&pubs, id);
	}
	prev = NULL;
	if (files >= MANY_KEYS) {
		r = methods_ask(s, user, res);
		if (r == NONE_TAKEN || r < 0) {
			r = r < 0 ? r : 0;
			goto out_disconnect;
		}
		r = listed(res->methods, "publickey") ? NOT_YET : NO_PK;
		if (r == NO_PK)
			goto out_disconnect;
	}
	while (n < AGENT_MAX && libssh2_agent_get_identity(agent, &id, prev) == 0) {
		int rc;

		prev = id;
		if (only && !pubs_have(&pubs, id))
			continue;
		/* After a refusal: the server's methods say whether another key is worth it. */
		r = pk_go(s, user, res, false);
		if (r != NOT_YET)
			break;
		n++;
		res->offered++;
		rc = libssh2_agent_userauth(agent, user, id);
		if (rc == 0) {
			snprintf(res->used, sizeof(res->used), "agent key %s",
				 id->comment && *id->comment ? id->comment : "(no comment)");
			r = 0;
			break;
		}
		if (session_dead(rc)) {
			r = session_failed(s, rc, res);
			break;
		}
		if (id->blob_len >= 11 && !memcmp(id->blob, "\0\0\0\7ssh-rsa", 11))
			res->rsa_refused = 1;
	}
	snprintf(label, sizeof(label), n == 1 ? "agent (%d key)" : "agent (%d keys)", n);
	list_add(res->tried, sizeof(res->tried), label);
out_disconnect:
	libssh2_agent_disconnect(agent);
out:
	libssh2_agent_free(agent);
	pubs_free(&pubs);
	return r;
}

static int try_key(LIBSSH2_SESSION *s, const char *user, const char *path, struct auth_result *res)
{
	unsigned int ulen = (unsigned int)strlen(user);
	char pub[PATH_MAX], pass[SECRET_MAX], prompt[PATH_MAX + 40], label[PATH_MAX + 64];
	const char *pubp = NULL;
	struct stat st;
	int enc, rc, r;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return NOT_YET;
	/* With the .pub, libssh2 asks the server first, so we prompt only for a key it takes. */
	if (snprintf(pub, sizeof(pub), "%s.pub", path) < (int)sizeof(pub) && access(pub, R_OK) == 0)
		pubp = pub;
	enc = auth_key_encrypted(path);
	if (enc < 0 && enc != -EINVAL) {
		snprintf(label, sizeof(label), "%s (%s)", path, strerror(-enc));
		list_add(res->tried, sizeof(res->tried), label);
		return NOT_YET;
	}
	if (enc <= 0 || pubp) {
		r = pk_go(s, user, res, false);
		if (r != NOT_YET)
			return r;
		res->offered++;
		rc = libssh2_userauth_publickey_fromfile_ex(s, user, ulen, pubp, path, NULL);
		if (rc == 0)
			goto ok;
		if (session_dead(rc))
			return session_failed(s, rc, res);
		/*
		 * A refused key fails with AUTHENTICATION_FAILED. One the server
		 * would take fails later, when libssh2 cannot sign with it
		 * (PUBLICKEY_UNVERIFIED "Callback returned error"): ask then.
		 */
		if (enc <= 0 || rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED) {
			if (key_file_is_rsa(path, pubp))
				res->rsa_refused = 1;
			list_add(res->tried, sizeof(res->tried), path);
			return NOT_YET;
		}
	}
	if (!have_tty()) {
		snprintf(label, sizeof(label), "%s (encrypted, no terminal to ask)", path);
		list_add(res->tried, sizeof(res->tried), label);
		return NOT_YET;
	}
	r = pk_go(s, user, res, true);
	if (r != NOT_YET)
		return r;
	snprintf(prompt, sizeof(prompt), "Enter passphrase for key '%s': ", path);
	/* As ssh: a mistyped passphrase is asked again, up to NumberOfPasswordPrompts. */
	for (int i = 0; i < TRIES; i++) {
		r = tty_ask(prompt, strlen(prompt), false, pass, sizeof(pass));
		if (r == -EINTR)
			return r;
		if (r) {
			snprintf(label, sizeof(label), "%s (no passphrase)", path);
			list_add(res->tried, sizeof(res->tried), label);
			return NOT_YET;
		}
		res->offered++;
		rc = libssh2_userauth_publickey_fromfile_ex(s, user, ulen, pubp, path, pass);
		explicit_bzero(pass, sizeof(pass));
		if (rc == 0)
			goto ok;
		if (session_dead(rc))
			return session_failed(s, rc, res);
		/* The server refused the key itself: another passphrase cannot help. */
		if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED) {
			list_add(res->tried, sizeof(res->tried), path);
			return NOT_YET;
		}
	}
	snprintf(label, sizeof(label), "%s (wrong passphrase, %d tries)", path, TRIES);
	list_add(res->tried, sizeof(res->tried), label);
	return NOT_YET;
ok:
	snprintf(res->used, sizeof(res->used), "%s", path);
	return 0;
}

struct kbd_ctx {
	int err; /* a prompt failed: stop asking */
};

static void kbd_respond(const char *name, int name_len, const char *instruction,
			int instruction_len, int num_prompts,
			const LIBSSH2_USERAUTH_KBDINT_PROMPT *prompts,
			LIBSSH2_USERAUTH_KBDINT_RESPONSE *responses, void **abstract)
{
	struct kbd_ctx *ctx = *abstract;
	char buf[SECRET_MAX];

	if (ctx->err)
		return;
	if (name_len > 0)
		tty_show(name, (size_t)name_len);
	if (instruction_len > 0)
		tty_show(instruction, (size_t)instruction_len);
	for (int i = 0; i < num_prompts; i++) {
		int r = tty_ask(prompts[i].text, prompts[i].length, prompts[i].echo != 0, buf,
				sizeof(buf));

		if (r) {
			ctx->err = r;
			return;
		}
		/* libssh2 frees these with the session's allocator, the default free(). */
		responses[i].text = strdup(buf);
		responses[i].length = responses[i].text ? (unsigned int)strlen(buf) : 0;
		explicit_bzero(buf, sizeof(buf));
	}
}

static int try_kbdint(LIBSSH2_SESSION *s, const char *user, struct auth_result *res)
{
	void **abstract = libssh2_session_abstract(s);
	void *saved = *abstract;
	struct kbd_ctx ctx = {0};
	int r = NOT_YET;

	*abstract = &ctx;
	for (int i = 0; i < TRIES; i++) {
		int rc = libssh2_userauth_keyboard_interactive_ex(
		    s, user, (unsigned int)strlen(user), kbd_respond);

		if (rc == 0) {
			snprintf(res->used, sizeof(res->used), "keyboard-interactive");
			r = 0;
			break;
		}
		if (ctx.err == -EINTR) {
			r = -EINTR;
			break;
		}
		if (session_dead(rc)) {
			r = session_failed(s, rc, res);
			break;
		}
		if (ctx.err)
			break;
	}
	*abstract = saved;
	list_add(res->tried, sizeof(res->tried), "keyboard-interactive");
	return r;
}

static int try_password(LIBSSH2_SESSION *s, const char *user, const char *host,
			struct auth_result *res)
{
	char pass[SECRET_MAX], prompt[512];
	int r = NOT_YET;

	snprintf(prompt, sizeof(prompt), "%s@%s's password: ", user, host);
	for (int i = 0; i < TRIES; i++) {
		int rc, a = tty_ask(prompt, strlen(prompt), false, pass, sizeof(pass));

		if (a == -EINTR) {
			r = a;
			break;
		}
		if (a)
			break;
		rc = libssh2_userauth_password_ex(s, user, (unsigned int)strlen(user), pass,
						  (unsigned int)strlen(pass), NULL);
		explicit_bzero(pass, sizeof(pass));
		if (rc == 0) {
			snprintf(res->used, sizeof(res->used), "password");
			r = 0;
			break;
		}
		if (session_dead(rc)) {
			r = session_failed(s, rc, res);
			break;
		}
	}
	list_add(res->tried, sizeof(res->tried), "password");
	return r;
}

int auth_run(LIBSSH2_SESSION *s, const char *user, const char *host, const char *const *ids,
	     size_t n_ids, const struct auth_agent *agent, struct auth_result *res)
{
	size_t files = 0;
	int r;

	memset(res, 0, sizeof(*res));
	if (!user || !*user)
		return -EINVAL;
	/* Keys first, before the server was asked what it takes: see methods_ask. */
	for (size_t i = 0; i < n_ids; i++)
		files += ids[i] && *ids[i] && access(ids[i], R_OK) == 0;
	r = files >= MANY_KEYS ? methods_ask(s, user, res) : 0;
	if (r == NONE_TAKEN)
		return 0;
	if (r < 0)
		return r;
	r = try_agent(s, user, files, ids, n_ids, agent, res);
	for (size_t i = 0; r == NOT_YET && i < n_ids; i++)
		if (ids[i] && *ids[i])
			r = try_key(s, user, ids[i], res);
	if (r != NOT_YET && r != NO_PK)
		return r;
	r = methods_ask(s, user, res);
	if (r == NONE_TAKEN)
		return 0;
	if (r < 0)
		return r;
	if (!have_tty() &&
	    (listed(res->methods, "keyboard-interactive") || listed(res->methods, "password")))
		list_add(res->tried, sizeof(res->tried), "password (no terminal to ask)");
	if (have_tty() && listed(res->methods, "keyboard-interactive")) {
		r = try_kbdint(s, user, res);
		if (r != NOT_YET)
			return r;
	}
	if (have_tty() && listed(res->methods, "password")) {
		r = try_password(s, user, host, res);
		if (r != NOT_YET)
			return r;
	}
	return -EACCES;
}
