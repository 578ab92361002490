/*
 * control: the status socket and its client (see control.h).
 */
#include "control.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../common/escape.h"
#include "../../common/fdio.h"
#include "../../common/log.h"

#define QUERY_WAIT_MS 2000

/*
 * A directory that is uid's alone: a real directory (no symlink), owned by
 * uid, that no one else may enter or write.
 */
static bool dir_private(const char *dir, uid_t uid)
{
	struct stat st;

	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid &&
	       !(st.st_mode & 077);
}

/*
 * Where this user's sockets live: /run/sluice for root, else the runtime
 * dir. Without $XDG_RUNTIME_DIR (su, runuser, a container without logind):
 * /run/user/UID when it is there and the user's, else /tmp/sluice-UID,
 * which must be the user's own 0700 directory if it exists: in /tmp anyone
 * could have made it first. n picks the candidate (0 is the first choice);
 * -ENOENT when there is none.
 */
static int control_dir(uid_t uid, int n, char *out, size_t len)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char run[64];
	struct stat st;
	int i = 0;

	if (uid == 0)
		return n == 0 && snprintf(out, len, "/run/sluice") < (int)len ? 0 : -ENOENT;
	if (rt && rt[0] == '/' && i++ == n)
		return snprintf(out, len, "%s/sluice", rt) < (int)len ? 0 : -ENAMETOOLONG;
	snprintf(run, sizeof(run), "/run/user/%u", (unsigned)uid);
	if (lstat(run, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid &&
	    (!rt || strcmp(rt, run)) && i++ == n)
		return snprintf(out, len, "%s/sluice", run) < (int)len ? 0 : -ENAMETOOLONG;
	if (i++ == n)
		return snprintf(out, len, "/tmp/sluice-%u", (unsigned)uid) < (int)len
			   ? 0
			   : -ENAMETOOLONG;
	return -ENOENT;
}

static int sock_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

/* A connected socket to path, or -errno (-ECONNREFUSED: nobody listens, a leftover). */
static int dial(const char *path)
{
	struct sockaddr_un sun;
	int fd, ret = sock_addr(path, &sun);

	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Sockets of processes that died without removing them. */
static void sweep(const char *dir)
{
	struct dirent *e;
	char path[512];
	DIR *d = opendir(dir);
	int fd;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);

		if (n < 6 || strcmp(e->d_name + n - 5, ".sock"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fd = dial(path);
		if (fd >= 0)
			close(fd);
		else if (fd == -ECONNREFUSED)
			unlink(path);
	}
	closedir(d);
}

static void conn_close(struct control_conn *k)
{
	evloop_del(k->ctl->loop, &k->io);
	close(k->io.fd);
	k->io.fd = -1;
}

static void on_request(struct ev_io *io, uint32_t events)
{
	struct control_conn *k = (struct control_conn *)io;
	static char reply[CONTROL_REPLY_MAX];
	ssize_t n;
	size_t len;

	n = read(io->fd, k->req + k->len, sizeof(k->req) - 1 - k->len);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		conn_close(k);
		return;
	}
	k->len += (size_t)n;
	k->req[k->len] = '\0';
	if (!strchr(k->req, '\n')) {
		if (k->len == sizeof(k->req) - 1)
			conn_close(k);
		return;
	}
	len = k->ctl->report(k->ctl->arg, !strncmp(k->req, "json", 4), reply, sizeof(reply));
	/* A reply fits the socket's buffer; a peer that reads nothing loses it. */
	send(io->fd, reply, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	conn_close(k);
}

static void on_accept(struct ev_io *io, uint32_t events)
{
	struct control *c = (struct control *)io;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int fd, i;

	while ((fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
		    (cred.uid != getuid() && cred.uid != 0)) {
			log_debug("status socket: refused uid %u", (unsigned)cred.uid);
			close(fd);
			continue;
		}
		for (i = 0; i < CONTROL_CONNS && c->conn[i].io.fd >= 0; i++)
			;
		if (i == CONTROL_CONNS) {
			close(fd);
			continue;
		}
		c->conn[i] = (struct control_conn){.io = {fd, on_request}, .ctl = c};
		if (evloop_add(c->loop, &c->conn[i].io, EPOLLIN) < 0) {
			close(fd);
			c->conn[i].io.fd = -1;
		}
	}
}

int control_open(struct control *c, struct evloop *loop, control_report_fn report, void *arg)
{
	struct sockaddr_un sun;
	char dir[96];
	int fd, i, ret;

	memset(c, 0, sizeof(*c));
	c->io.fd = -1;
	for (i = 0; i < CONTROL_CONNS; i++)
		c->conn[i].io.fd = -1;
	ret = control_dir(getuid(), 0, dir, sizeof(dir));
	if (ret < 0)
		return ret;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (!dir_private(dir, getuid()))
		return -EPERM;
	sweep(dir);
	snprintf(c->path, sizeof(c->path), "%s/%d.sock", dir, (int)getpid());
	if ((ret = sock_addr(c->path, &sun)) < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(c->path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(c->path, 0600) < 0 ||
	    listen(fd, 8) < 0) {
		ret = -errno;
		close(fd);
		unlink(c->path);
		return ret;
	}
	c->loop = loop;
	c->report = report;
	c->arg = arg;
	c->io.fd = fd;
	c->io.cb = on_accept;
	ret = evloop_add(loop, &c->io, EPOLLIN);
	if (ret < 0)
		control_close(c);
	return ret;
}

void control_close(struct control *c)
{
	int i;

	if (c->io.fd < 0)
		return;
	for (i = 0; i < CONTROL_CONNS; i++)
		if (c->conn[i].io.fd >= 0)
			conn_close(&c->conn[i]);
	evloop_del(c->loop, &c->io);
	close(c->io.fd);
	c->io.fd = -1;
	unlink(c->path);
}

/*
 * A strict reader of the JSON our report writes: it only says where a
 * value ends. Bytes outside printable ASCII are refused even inside
 * strings (report.c escapes them), so what passes is safe on a terminal.
 */
struct jscan {
	const char *p, *end;
	int depth;
};

#define JSON_DEPTH 16

static void js_ws(struct jscan *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool js_lit(struct jscan *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n))
		return false;
	j->p += n;
	return true;
}

static bool js_digits(struct jscan *j)
{
	const char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool js_number(struct jscan *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!js_digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!js_digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!js_digits(j))
			return false;
	}
	return true;
}

/* A string; *escaped tells whether it held any escape. */
static bool js_string(struct jscan *j, bool *escaped)
{
	int i;

	*escaped = false;
	if (j->p >= j->end || *j->p++ != '"')
		return false;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;

		if (c == '"')
			return true;
		if (c < 0x20 || c >= 0x7f)
			return false;
		if (c != '\\')
			continue;
		*escaped = true;
		if (j->p >= j->end)
			return false;
		c = (unsigned char)*j->p++;
		if (c == 'u') {
			for (i = 0; i < 4; i++, j->p++)
				if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p) ||
				    !*j->p)
					return false;
		} else if (!strchr("\"\\/bfnrt", c) || !c) {
			return false;
		}
	}
	return false;
}

static bool js_value(struct jscan *j);

/* An object or array after its opening bracket, up to and with the closing one. */
static bool js_container(struct jscan *j, char close)
{
	bool esc;

	if (++j->depth > JSON_DEPTH)
		return false;
	js_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return true;
	}
	for (;;) {
		js_ws(j);
		if (close == '}') {
			if (!js_string(j, &esc))
				return false;
			js_ws(j);
			if (j->p >= j->end || *j->p++ != ':')
				return false;
		}
		if (!js_value(j))
			return false;
		js_ws(j);
		if (j->p >= j->end)
			return false;
		if (*j->p == close) {
			j->p++;
			j->depth--;
			return true;
		}
		if (*j->p++ != ',')
			return false;
	}
}

static bool js_value(struct jscan *j)
{
	bool esc;

	js_ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{':
		j->p++;
		return js_container(j, '}');
	case '[':
		j->p++;
		return js_container(j, ']');
	case '"':
		return js_string(j, &esc);
	case 't':
		return js_lit(j, "true");
	case 'f':
		return js_lit(j, "false");
	case 'n':
		return js_lit(j, "null");
	default:
		return js_number(j);
	}
}

struct jout {
	char *p;
	size_t cap, off;
	bool full;
};

/* Append n bytes, JSON's whitespace as plain spaces: no line breaks or returns of the reply's. */
static void jo_put(struct jout *o, const char *s, size_t n)
{
	size_t i;

	if (o->off + n >= o->cap) {
		o->full = true;
		return;
	}
	for (i = 0; i < n; i++)
		o->p[o->off++] = (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') ? ' ' : s[i];
	o->p[o->off] = '\0';
}

int control_merge_json(const char *reply, size_t len, unsigned uid, char *out, size_t cap)
{
	struct jscan j = {reply, reply + len, 1};
	struct jout o = {out, cap, 0, false};
	const char *key, *val;
	char head[48];
	bool esc;
	int n;

	if (!cap)
		return -ENOSPC;
	out[0] = '\0';
	n = snprintf(head, sizeof(head), "{\"uid\": %u", uid);
	jo_put(&o, head, (size_t)n);
	js_ws(&j);
	if (j.p >= j.end || *j.p++ != '{')
		return -EPROTO;
	js_ws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
		goto end;
	}
	for (;;) {
		js_ws(&j);
		key = j.p;
		/* Our keys are plain: an escaped one could spell "uid" past the check below. */
		if (!js_string(&j, &esc) || esc)
			return -EPROTO;
		n = (int)(j.p - key);
		js_ws(&j);
		if (j.p >= j.end || *j.p++ != ':')
			return -EPROTO;
		js_ws(&j);
		val = j.p;
		if (!js_value(&j))
			return -EPROTO;
		/* Whose it is comes from the socket, never from the reply. */
		if (n != 5 || memcmp(key, "\"uid\"", 5)) {
			jo_put(&o, ", ", 2);
			jo_put(&o, key, (size_t)n);
			jo_put(&o, ": ", 2);
			jo_put(&o, val, (size_t)(j.p - val));
		}
		js_ws(&j);
		if (j.p >= j.end)
			return -EPROTO;
		if (*j.p == '}') {
			j.p++;
			break;
		}
		if (*j.p++ != ',')
			return -EPROTO;
	}
end:
	/* Exactly one object: anything after it would be a second entry in our array. */
	js_ws(&j);
	if (j.p != j.end)
		return -EPROTO;
	jo_put(&o, "}", 1);
	return o.full ? -ENOSPC : (int)o.off;
}

/*
 * Text from another user's sluice, each line marked with that uid, so that
 * no line it writes can pass for root's or a third user's.
 */
static void put_marked(FILE *out, const char *text, unsigned uid)
{
	const char *nl;

	while (*text) {
		nl = strchr(text, '\n');
		fprintf(out, "[uid %u] %.*s\n", uid, (int)(nl ? nl - text : (long)strlen(text)),
			text);
		if (!nl)
			break;
		text = nl + 1;
	}
}

/*
 * One running sluice's reply, appended to out. The socket must be a real
 * socket owned by owner (no symlink to someone else's), and the process
 * behind it must run as owner or root: root reads users' directories, and
 * what it prints must come from them. Bounded in bytes and time; JSON is
 * checked to be one object and stamped with the uid, text is escaped,
 * since it goes to a terminal.
 */
static int query_one(const char *path, uid_t owner, bool json, FILE *out, bool first)
{
	static char buf[CONTROL_REPLY_MAX], safe[CONTROL_REPLY_MAX * 4];
	struct timeval tv = {0, 200000};
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int64_t end = clock_ms() + QUERY_WAIT_MS;
	size_t got = 0;
	struct stat st;
	ssize_t n = 0;
	int fd, ret;

	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != owner)
		return -EPERM;
	fd = dial(path);
	if (fd < 0)
		return fd;
	/* Exactly the owner: root's own sockets live in root's directory. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.uid != owner) {
		close(fd);
		return -EPERM;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fd_write_all(fd, json ? "json\n" : "text\n", 5) < 0) {
		close(fd);
		return -EPIPE;
	}
	while (got < sizeof(buf) && clock_ms() < end) {
		n = read(fd, buf + got, sizeof(buf) - got);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			break;
	}
	close(fd);
	if (n != 0 || !got)
		return -EPROTO; /* cut short, too long, or nothing: not a whole report */
	if (json) {
		ret = control_merge_json(buf, got, (unsigned)cred.uid, safe, sizeof(safe));
		if (ret < 0)
			return ret;
		if (!first)
			fputs(",\n", out);
		fputs(safe, out);
		return 0;
	}
	escape_text(safe, sizeof(safe), buf, got, true);
	if (cred.uid == getuid())
		fputs(safe, out);
	else
		put_marked(out, safe, (unsigned)cred.uid);
	return 0;
}

static int query_dir(const char *dir, bool json, FILE *out, int found)
{
	struct dirent **list;
	char path[512];
	struct stat st;
	int i, n;

	/* The directory says whose sockets these are. */
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return found;
	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0)
		return found;
	for (i = 0; i < n; i++) {
		size_t len = strlen(list[i]->d_name);

		if (len > 5 && !strcmp(list[i]->d_name + len - 5, ".sock")) {
			snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name);
			if (query_one(path, st.st_uid, json, out, found == 0) == 0)
				found++;
		}
		free(list[i]);
	}
	free(list);
	return found;
}

/* Root: a directory /tmp/sluice-UID counts only when it is UID's own 0700 one. */
static int query_tmp_dirs(bool json, FILE *out, int found)
{
	struct dirent *e;
	char dir[96], *end;
	unsigned long uid;
	DIR *d = opendir("/tmp");

	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "sluice-", 7) || !e->d_name[7])
			continue;
		errno = 0;
		uid = strtoul(e->d_name + 7, &end, 10);
		if (*end || errno || uid == 0 || uid > UINT32_MAX)
			continue;
		snprintf(dir, sizeof(dir), "/tmp/%.64s", e->d_name);
		if (dir_private(dir, (uid_t)uid))
			found = query_dir(dir, json, out, found);
	}
	if (d)
		closedir(d);
	return found;
}

int control_query_all(bool json, FILE *out)
{
	char dir[96];
	int found = 0, i;

	if (json)
		fputs("[\n", out);
	/* A directory in /tmp someone else made first holds no sluice of ours. */
	for (i = 0; control_dir(getuid(), i, dir, sizeof(dir)) == 0; i++)
		if (dir_private(dir, getuid()))
			found = query_dir(dir, json, out, found);
	/* Root sees every user's too, wherever their sluice put its socket. */
	if (getuid() == 0) {
		struct dirent *e;
		DIR *d = opendir("/run/user");

		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(dir, sizeof(dir), "/run/user/%.64s/sluice", e->d_name);
			found = query_dir(dir, json, out, found);
		}
		if (d)
			closedir(d);
		found = query_tmp_dirs(json, out, found);
	}
	if (json)
		fputs("\n]\n", out);
	return found;
}
