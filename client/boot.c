/*
 * boot: the bootstrap of the remote helper, over whatever transport carries
 * it. Blocking (with a timeout per step), before the event loop exists.
 * Nothing from the remote is trusted: status lines are matched exactly and
 * the HELLO must carry the hash of the exact helper we carry.
 */
#include "boot.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

extern const uint8_t sluice_helper_start[], sluice_helper_end[];

#define BOOT_LINE_MAX	4096
#define BOOT_NOISE_MAX	64    /* lines of shell start-up noise we skip before giving up */
#define BOOT_STEP_MS	30000 /* a silent remote must not hang us for good */
#define BOOT_EXPLAIN_MS 3000  /* for the last words of a bootstrap that failed */

/*
 * One line, no single quotes and no '!', so that any login shell (sh, bash,
 * csh, fish) passes it through unchanged to /bin/sh. $1 hash, $2 size, $3 flags.
 */
static const char boot_script[] =
    "h=$1; s=$2; v=$3; a=$(uname -m 2>/dev/null); "
    "case \"$a\" in x86_64|amd64) ;; *) echo \"remote machine is ${a:-unknown}; this "
    "sluice carries an x86_64 helper\" >&2; exit 97;; esac; "
    "umask 077; "
    "for d in \"${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/sluice\" "
    "\"${TMPDIR:-/tmp}/sluice-$(id -u)\"; do "
    "mkdir -p \"$d\" 2>/dev/null || continue; "
    "if [ -h \"$d\" ]; then continue; fi; [ -O \"$d\" ] || continue; "
    "chmod 700 \"$d\" 2>/dev/null || continue; "
    "f=\"$d/sluice-helper-$h\"; "
    "if [ -f \"$f\" ] && \"$f\" --check \"$h\" 2>/dev/null; then :; else "
    "rm -f \"$f\"; echo SLUICE-BOOT need; "
    "head -c \"$s\" >\"$f.$$\" || { rm -f \"$f.$$\"; echo \"upload of the helper to $d "
    "failed\" >&2; exit 98; }; "
    "chmod 700 \"$f.$$\" && mv -f \"$f.$$\" \"$f\" || { rm -f \"$f.$$\"; continue; }; "
    "if \"$f\" --check \"$h\" 2>/dev/null; then :; else rm -f \"$f\"; continue; fi; "
    "fi; "
    "echo SLUICE-BOOT run; exec \"$f\" --serve \"$h\" $v; "
    "done; "
    "echo \"found no private directory where the helper can run (tried "
    "${XDG_CACHE_HOME:-~/.cache}/sluice and ${TMPDIR:-/tmp})\" >&2; exit 99";

const uint8_t *boot_helper(size_t *len)
{
	*len = (size_t)(sluice_helper_end - sluice_helper_start);
	return sluice_helper_start;
}

const uint8_t *boot_helper_hash(void)
{
	static uint8_t hash[SHA256_LEN];
	static int done;
	size_t len;

	if (!done) {
		const uint8_t *p = boot_helper(&len);
		sha256_buf(p, len, hash);
		done = 1;
	}
	return hash;
}

int boot_command(char *buf, size_t len, const char *hash_hex, size_t size, int verbose)
{
	char flags[16] = "-q";
	int i, n;

	if (verbose > 0) {
		flags[0] = '-';
		for (i = 0; i < verbose && i < 8; i++)
			flags[1 + i] = 'v';
		flags[1 + i] = '\0';
	}
	n = snprintf(buf, len, "exec /bin/sh -c '%s' sluice-boot %s %zu %s", boot_script, hash_hex,
		     size, flags);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

struct boot_io {
	struct transport *t;
	uint8_t buf[BOOT_LINE_MAX];
	size_t len;
};

/* Read more stdout into io->buf. Returns bytes read, 0 at EOF, or -errno. */
static ssize_t boot_fill(struct boot_io *io)
{
	ssize_t n;

	if (io->len == sizeof(io->buf))
		return -EMSGSIZE;
	n = transport_read_wait(io->t, io->buf + io->len, sizeof(io->buf) - io->len, BOOT_STEP_MS);
	if (n > 0)
		io->len += (size_t)n;
	return n;
}

/* One status line from the script; noise from the remote's shell start-up files is skipped. */
static int boot_line(struct boot_io *io, char *line, size_t linelen)
{
	int skipped = 0;

	for (;;) {
		uint8_t *nl = memchr(io->buf, '\n', io->len);
		ssize_t n;
		if (nl) {
			size_t l = (size_t)(nl - io->buf);
			if (l >= linelen)
				l = linelen - 1;
			memcpy(line, io->buf, l);
			line[l] = '\0';
			io->len -= (size_t)(nl - io->buf) + 1;
			memmove(io->buf, nl + 1, io->len);
			if (strncmp(line, "SLUICE-BOOT ", 12) == 0)
				return 0;
			if (++skipped > BOOT_NOISE_MAX)
				return -EPROTO;
			continue;
		}
		n = boot_fill(io);
		if (n <= 0)
			return n == 0 ? -EPIPE : (int)n;
	}
}

/* The script failed: collect what it said on stderr and its exit status for one line. */
static void boot_explain(struct transport *t, int ret, char *err, size_t errlen)
{
	char msg[1024] = "";
	ssize_t n = 0, got = 0;
	char *nl;
	int status;

	do {
		n = transport_read_stderr_wait(t, msg + got, sizeof(msg) - 1 - (size_t)got,
					       BOOT_EXPLAIN_MS);
		if (n > 0)
			got += n;
	} while (n > 0 && (size_t)got < sizeof(msg) - 1);
	msg[got] = '\0';
	/* The last non-empty line says the most. */
	while (got > 0 && (msg[got - 1] == '\n' || msg[got - 1] == '\r'))
		msg[--got] = '\0';
	nl = strrchr(msg, '\n');
	status = transport_exit_status(t);
	/* The bootstrap's own failures exit 97-99; anything else from -e is the command's. */
	if (strcmp(t->name, "command") == 0 && (status < 97 || status > 99))
		snprintf(err, errlen, "the -e command '%s' failed (exit %d)%s%s", t->detail, status,
			 got > 0 ? ": " : "", got > 0 ? (nl ? nl + 1 : msg) : "");
	else if (got > 0)
		snprintf(err, errlen, "starting the remote helper failed (exit %d): %s", status,
			 nl ? nl + 1 : msg);
	else if (status == 127)
		snprintf(err, errlen,
			 "starting the remote helper failed: the remote has no /bin/sh");
	else
		snprintf(err, errlen, "starting the remote helper failed (exit %d, %s)", status,
			 strerror(-ret));
}

static int boot_hello(struct boot_io *io, uint32_t stream_window, uint32_t features,
		      struct wire_hello *peer, char *err, size_t errlen)
{
	uint8_t frame[WIRE_CTL_MAX];
	struct wire_hello mine = {
	    .version = WIRE_VERSION, .window = stream_window, .features = features};
	struct wire_frame f;
	int r;

	for (;;) {
		ssize_t n;
		r = wire_parse(io->buf, io->len, &f);
		if (r != 0)
			break;
		n = boot_fill(io);
		if (n <= 0)
			return n == 0 ? -EPIPE : (int)n;
	}
	if (r < 0 || f.type != WIRE_HELLO) {
		snprintf(err, errlen, "the remote helper did not say hello (protocol error)");
		return -EPROTO;
	}
	if (f.u.hello.version != WIRE_VERSION) {
		snprintf(err, errlen, "the remote helper speaks protocol %u, we speak %u",
			 f.u.hello.version, WIRE_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (memcmp(f.u.hello.hash, boot_helper_hash(), SHA256_LEN) != 0) {
		snprintf(err, errlen,
			 "the remote helper is not the one we uploaded (hash mismatch)");
		return -EBADMSG;
	}
	if (f.u.hello.window == 0) {
		snprintf(err, errlen, "the remote helper announced a zero window");
		return -EPROTO;
	}
	/* The helper sends nothing after HELLO until we answer, so nothing else is buffered. */
	if ((size_t)r != io->len) {
		snprintf(err, errlen, "the remote helper sent data before the hello exchange");
		return -EPROTO;
	}
	*peer = f.u.hello;
	memcpy(mine.hash, boot_helper_hash(), SHA256_LEN);
	r = transport_write_all(io->t, frame, wire_put_hello(frame, &mine), BOOT_STEP_MS);
	if (r < 0)
		snprintf(err, errlen, "sending hello to the remote helper: %s", strerror(-r));
	return r;
}

int boot_start(struct transport *t, uint32_t stream_window, uint32_t features, int verbose,
	       struct wire_hello *peer, char *err, size_t errlen)
{
	static struct boot_io io;
	char cmd[4096], hex[SHA256_HEX], line[256];
	const uint8_t *blob;
	size_t blob_len;
	int ret, uploads = 0;

	blob = boot_helper(&blob_len);
	sha256_hex(boot_helper_hash(), hex);
	ret = boot_command(cmd, sizeof(cmd), hex, blob_len, verbose);
	if (ret < 0) {
		snprintf(err, errlen, "bootstrap command too long");
		return ret;
	}
	memset(&io, 0, sizeof(io));
	io.t = t;
	ret = transport_exec(t, cmd, err, errlen);
	if (ret < 0)
		return ret;
	for (;;) {
		ret = boot_line(&io, line, sizeof(line));
		if (ret < 0) {
			boot_explain(t, ret, err, errlen);
			return ret;
		}
		if (strcmp(line, "SLUICE-BOOT run") == 0)
			break;
		if (strcmp(line, "SLUICE-BOOT need") != 0 || ++uploads > 2) {
			snprintf(err, errlen, "unexpected reply from the remote bootstrap: %s",
				 line);
			return -EPROTO;
		}
		ret = transport_write_all(t, blob, blob_len, BOOT_STEP_MS);
		if (ret < 0) {
			snprintf(err, errlen, "uploading the helper failed: %s", strerror(-ret));
			return ret;
		}
	}
	ret = boot_hello(&io, stream_window, features, peer, err, errlen);
	if (ret == -EPIPE)
		boot_explain(t, ret, err, errlen);
	return ret;
}
