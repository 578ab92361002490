/*
 * boot: the bootstrap of the remote helper, over whatever transport carries
 * it. Blocking (with a timeout per step), before the event loop exists.
 * Nothing from the remote is trusted: status lines are matched exactly and
 * the HELLO must carry the hash of the exact helper we carry.
 */
#include "boot.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#define BOOT_LINE_MAX	4096
#define BOOT_NOISE_MAX	64    /* lines of shell start-up noise we skip before giving up */
#define BOOT_STEP_MS	30000 /* a silent remote must not hang us for good */
#define BOOT_EXPLAIN_MS 3000  /* for the last words of a bootstrap that failed */

/*
 * One line, no single quotes and no '!', so that any login shell (sh, bash,
 * csh, fish) passes it through unchanged to /bin/sh. $1 is the helper's
 * flags; the words after it are the client's offer, "MACHINE HASH SIZE" for
 * each `uname -m` spelling a helper it carries serves. The offer rides in
 * the command itself: sshd opens the channel's window only once the command
 * runs, so anything sent on stdin would wait a round trip for it. The script
 * takes the triple naming this machine exactly (the aliases live in the
 * client alone) and names that machine in each status line: "none" (no
 * helper here), "need" (upload it, SIZE bytes on stdin), "run".
 */
static const char boot_script[] =
    "v=$1; shift; m=$(uname -m 2>/dev/null); m=${m:-unknown}; h=; s=; "
    "while [ $# -ge 3 ]; do if [ \"$1\" = \"$m\" ]; then h=$2; s=$3; fi; shift 3; done; "
    "if [ -z \"$h\" ]; then echo \"SLUICE-BOOT none $m\"; exit 97; fi; "
    "[ -n \"$s\" ] && [ -z \"$(printf %s \"$h\" | tr -d 0-9a-f)\" ] && "
    "[ -z \"$(printf %s \"$s\" | tr -d 0-9)\" ] || exit 96; "
    "umask 077; "
    "for d in \"${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/sluice\" "
    "\"${TMPDIR:-/tmp}/sluice-$(id -u)\"; do "
    "mkdir -p \"$d\" 2>/dev/null || continue; "
    "if [ -h \"$d\" ]; then continue; fi; [ -O \"$d\" ] || continue; "
    "chmod 700 \"$d\" 2>/dev/null || continue; "
    "f=\"$d/sluice-helper-$h\"; "
    "if [ -f \"$f\" ] && \"$f\" --check \"$h\" 2>/dev/null; then :; else "
    "rm -f \"$f\"; echo \"SLUICE-BOOT need $m\"; "
    "head -c \"$s\" >\"$f.$$\" || { rm -f \"$f.$$\"; echo \"upload of the helper to $d "
    "failed\" >&2; exit 98; }; "
    "chmod 700 \"$f.$$\" && mv -f \"$f.$$\" \"$f\" || { rm -f \"$f.$$\"; continue; }; "
    "if \"$f\" --check \"$h\" 2>/dev/null; then :; else rm -f \"$f\"; continue; fi; "
    "fi; "
    "echo \"SLUICE-BOOT run $m\"; exec \"$f\" --serve \"$h\" $v; "
    "done; "
    "echo \"found no private directory where the helper can run (tried "
    "${XDG_CACHE_HOME:-~/.cache}/sluice and ${TMPDIR:-/tmp})\" >&2; exit 99";

/* uname -m spellings of the machines our helpers run on, and the blob's name for each. */
static const struct {
	const char *machine, *arch;
} machine_alias[] = {
    {"x86_64", "x86_64"}, {"amd64", "x86_64"},	{"aarch64", "aarch64"}, {"arm64", "aarch64"},
    {"armv7l", "armv7l"}, {"armv8l", "armv7l"}, /* 32-bit userland on a 64-bit ARM kernel */
};

const struct boot_blob *boot_blob_for(const char *machine)
{
	const char *arch = NULL;
	size_t i;

	for (i = 0; i < sizeof(machine_alias) / sizeof(machine_alias[0]) && !arch; i++)
		if (!strcmp(machine, machine_alias[i].machine))
			arch = machine_alias[i].arch;
	for (i = 0; arch && i < boot_n_blobs; i++)
		if (!strcmp(boot_blobs[i].arch, arch))
			return &boot_blobs[i];
	return NULL;
}

/* libcrypto's SHA-256: the client links it anyway; only the static helper carries its own. */
static void blob_sha256(const struct boot_blob *b, uint8_t out[SHA256_LEN])
{
	unsigned int len = 0;

	if (!EVP_Digest(b->start, (size_t)(b->end - b->start), out, &len, EVP_sha256(), NULL) ||
	    len != SHA256_LEN)
		memset(out, 0, SHA256_LEN); /* no helper hashes to zeros: it will be refused */
}

void boot_blob_hash(const struct boot_blob *b, uint8_t out[SHA256_LEN])
{
	static uint8_t hashes[BOOT_BLOBS_MAX][SHA256_LEN];
	static bool done[BOOT_BLOBS_MAX];
	size_t i = (size_t)(b - boot_blobs);

	/* Each helper is hashed once per run, however often it is asked for. */
	if (i >= BOOT_BLOBS_MAX) {
		blob_sha256(b, out);
		return;
	}
	if (!done[i]) {
		blob_sha256(b, hashes[i]);
		done[i] = true;
	}
	memcpy(out, hashes[i], SHA256_LEN);
}

void boot_arches(char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < boot_n_blobs && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", boot_blobs[i].arch);
}

/*
 * " MACHINE HASH SIZE" for every spelling with a helper, each with that
 * helper's hash and size, appended at buf + *o. 0 or -ENOSPC.
 */
static int boot_offer(char *buf, size_t len, size_t *o)
{
	char hex[SHA256_HEX];
	uint8_t hash[SHA256_LEN];
	size_t i;
	int n;

	for (i = 0; i < sizeof(machine_alias) / sizeof(machine_alias[0]); i++) {
		const struct boot_blob *b = boot_blob_for(machine_alias[i].machine);

		if (!b)
			continue;
		boot_blob_hash(b, hash);
		sha256_hex(hash, hex);
		n = snprintf(buf + *o, len - *o, " %s %s %zu", machine_alias[i].machine, hex,
			     (size_t)(b->end - b->start));
		if (n < 0 || (size_t)n >= len - *o)
			return -ENOSPC;
		*o += (size_t)n;
	}
	return 0;
}

int boot_command(char *buf, size_t len, int verbose)
{
	char flags[16] = "-q";
	size_t o;
	int i, n;

	if (verbose > 0) {
		flags[0] = '-';
		for (i = 0; i < verbose && i < 8; i++)
			flags[1 + i] = 'v';
		flags[1 + i] = '\0';
	}
	n = snprintf(buf, len, "exec /bin/sh -c '%s' sluice-boot %s", boot_script, flags);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	o = (size_t)n;
	return boot_offer(buf, len, &o);
}

struct boot_io {
	struct transport *t;
	uint8_t buf[BOOT_LINE_MAX];
	size_t len;
	bool fatal;	  /* boot_explain found a failure no retry will fix */
	bool refused;	  /* boot_explain found the -e command's session refused (cmd_limit) */
	unsigned step_ms; /* the longest wait for one step */
};

/* Read more stdout into io->buf. Returns bytes read, 0 at EOF, or -errno. */
static ssize_t boot_fill(struct boot_io *io)
{
	ssize_t n;

	if (io->len == sizeof(io->buf))
		return -EMSGSIZE;
	n = transport_read_wait(io->t, io->buf + io->len, sizeof(io->buf) - io->len, io->step_ms);
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
/*
 * Words from the -e command that no retry will change: the login or the
 * host key was refused. (A network failure says "Connection refused",
 * "timed out" or "closed by remote host", and is worth another try.)
 */
static bool cmd_refused(const char *msg)
{
	return strstr(msg, "Permission denied") || strstr(msg, "Host key verification failed") ||
	       strstr(msg, "REMOTE HOST IDENTIFICATION HAS CHANGED");
}

/*
 * Words from the -e command whose session the server refused: OpenSSH's
 * mux client through a master whose connection has as many sessions as
 * the server's MaxSessions allows, or the channel refused outright.
 */
static bool cmd_limit(const char *msg)
{
	return strstr(msg, "Session open refused by peer") ||
	       strstr(msg, "administratively prohibited");
}

/* Returns true when the failure is one that trying again cannot fix. */
static bool boot_explain(struct transport *t, int ret, bool *refused, char *err, size_t errlen)
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
	/* The bootstrap's own failures exit 96-99; anything else from -e is the command's. */
	if (strcmp(t->name, "command") == 0 && (status < 96 || status > 99)) {
		*refused = cmd_limit(msg);
		snprintf(err, errlen, "the -e command '%s' failed (exit %d)%s%s", t->detail, status,
			 got > 0 ? ": " : "", got > 0 ? (nl ? nl + 1 : msg) : "");
		return status == 126 || status == 127 || cmd_refused(msg);
	}
	if (got > 0)
		snprintf(err, errlen, "starting the remote helper failed (exit %d): %s", status,
			 nl ? nl + 1 : msg);
	else if (status == 127)
		snprintf(err, errlen,
			 "starting the remote helper failed: the remote has no /bin/sh");
	else
		snprintf(err, errlen, "starting the remote helper failed (exit %d, %s)", status,
			 strerror(-ret));
	/* 97: no helper for the machine; 98: cannot write it; 99: no private directory. */
	return status >= 97 && status <= 99;
}

static int boot_hello(struct boot_io *io, const uint8_t *hash, uint32_t stream_window,
		      uint32_t features, struct wire_hello *peer, char *err, size_t errlen)
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
	if (memcmp(f.u.hello.hash, hash, SHA256_LEN) != 0) {
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
	memcpy(mine.hash, hash, SHA256_LEN);
	r = transport_write_all(io->t, frame, wire_put_hello(frame, sizeof(frame), &mine),
				io->step_ms);
	if (r < 0)
		snprintf(err, errlen, "sending hello to the remote helper: %s", strerror(-r));
	return r;
}

/*
 * "SLUICE-BOOT WORD MACHINE": the step, and the machine the script chose
 * the helper for (a pointer into line). -EPROTO for any other shape.
 */
static int boot_status(const char *line, char *word, size_t wordlen, const char **machine)
{
	const char *w = line + 12, *sp = strchr(w, ' ');

	if (!sp || sp == w || (size_t)(sp - w) >= wordlen || !sp[1])
		return -EPROTO;
	memcpy(word, w, (size_t)(sp - w));
	word[sp - w] = '\0';
	*machine = sp + 1;
	return 0;
}

static int boot_run(struct boot_io *iop, struct transport *t, unsigned step_ms,
		    uint32_t stream_window, uint32_t features, int verbose,
		    const struct progress *pg, struct wire_hello *peer, struct boot_report *rep,
		    char *err, size_t errlen)
{
	const struct boot_blob *blob = NULL;
	const char *machine;
	uint8_t hash[SHA256_LEN];
	char cmd[4096], line[256], word[8], chosen[256] = "", arches[128];
	int ret, uploads = 0;

	ret = boot_command(cmd, sizeof(cmd), verbose);
	if (ret < 0) {
		snprintf(err, errlen, "bootstrap command too long");
		return ret;
	}
	memset(iop, 0, sizeof(*iop));
	iop->t = t;
	iop->step_ms = step_ms ? step_ms : BOOT_STEP_MS;
	ret = transport_exec(t, cmd, err, errlen);
	if (ret < 0)
		return ret;
	for (;;) {
		ret = boot_line(iop, line, sizeof(line));
		if (ret < 0) {
			iop->fatal = boot_explain(t, ret, &iop->refused, err, errlen);
			return ret;
		}
		if (boot_status(line, word, sizeof(word), &machine) < 0)
			goto unexpected;
		if (!strcmp(word, "none")) {
			boot_arches(arches, sizeof(arches));
			snprintf(err, errlen,
				 "the remote machine is %s; this sluice carries helpers for %s",
				 machine, *arches ? arches : "no machine");
			return -ENOEXEC;
		}
		/* The first line fixes the helper; the HELLO must then carry its hash. */
		if (!blob) {
			blob = boot_blob_for(machine);
			if (!blob)
				goto unexpected;
			snprintf(chosen, sizeof(chosen), "%s", machine);
			boot_blob_hash(blob, hash);
			rep->arch = blob->arch;
		} else if (strcmp(machine, chosen) != 0) {
			goto unexpected;
		}
		if (!strcmp(word, "run")) {
			if (!uploads)
				progress_say(pg, "remote helper for %s: cached", blob->arch);
			break;
		}
		if (strcmp(word, "need") != 0 || ++uploads > 2)
			goto unexpected;
		progress_say(pg, "uploading the remote helper for %s (%zu KiB)", blob->arch,
			     (size_t)(blob->end - blob->start + 1023) / 1024);
		ret = transport_write_all(t, blob->start, (size_t)(blob->end - blob->start),
					  iop->step_ms);
		if (ret < 0) {
			snprintf(err, errlen, "uploading the helper failed: %s", strerror(-ret));
			return ret;
		}
		rep->uploaded += (size_t)(blob->end - blob->start);
	}
	ret = boot_hello(iop, hash, stream_window, features, peer, err, errlen);
	if (ret == -EPIPE)
		iop->fatal = boot_explain(t, ret, &iop->refused, err, errlen);
	return ret;
unexpected:
	snprintf(err, errlen, "unexpected reply from the remote bootstrap: %s", line);
	return -EPROTO;
}

int boot_start(struct transport *t, unsigned step_ms, uint32_t stream_window, uint32_t features,
	       int verbose, const struct progress *pg, struct wire_hello *peer,
	       struct boot_report *rep, char *err, size_t errlen)
{
	static struct boot_io io;
	int ret;

	memset(rep, 0, sizeof(*rep));
	ret =
	    boot_run(&io, t, step_ms, stream_window, features, verbose, pg, peer, rep, err, errlen);
	rep->fatal = ret < 0 && (io.fatal || ret == -ENOEXEC || ret == -EPROTONOSUPPORT);
	rep->refused = ret < 0 && io.refused;
	return ret;
}
