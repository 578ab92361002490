/*
 * instances: the records of the running tunnels, and the clash check
 * between them (see instances.h).
 *
 * A record is text, one item a line:
 *   sluice-instance 1
 *   part PID / pid PID / uid UID / netns INODE / label TEXT
 *   owner PREROUTING BY_UID UID BY_GID GID      (0 or 1 for the flags)
 *   inc|exc|dns FAMILY HEXADDR PREFIX PORT_LO PORT_HI
 * with every inc before every exc, and every exc before every dns.
 */
#include "instances.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/addrpolicy.h"

#define LOCK_NAME ".lock"

bool instance_label_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > INSTANCE_LABEL_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

static int put(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*at >= len)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *at)
		return -ENOSPC;
	*at += (size_t)n;
	return 0;
}

static int put_list(char *buf, size_t len, size_t *at, const char *kind, const struct subnet *l,
		    size_t n)
{
	size_t i, j, alen;
	int ret = 0;

	for (i = 0; i < n && ret == 0; i++) {
		alen = l[i].family == AF_INET ? 4 : 16;
		ret = put(buf, len, at, "%s %d ", kind, l[i].family == AF_INET ? 4 : 6);
		for (j = 0; j < alen && ret == 0; j++)
			ret = put(buf, len, at, "%02x", l[i].addr[j]);
		if (ret == 0)
			ret = put(buf, len, at, " %u %u %u\n", l[i].prefix, l[i].port_lo,
				  l[i].port_hi);
	}
	return ret;
}

int instance_format(const struct instance *in, char *buf, size_t len)
{
	const struct fw_spec *sp = &in->spec;
	size_t at = 0;
	int ret;

	ret = put(buf, len, &at,
		  "sluice-instance 1\npart %u\npid %u\nuid %u\nnetns %llu\nlabel %s\n"
		  "owner %d %d %u %d %u\n",
		  in->part, in->pid, in->uid, (unsigned long long)in->netns, in->label,
		  sp->prerouting, sp->by_uid, sp->uid, sp->by_gid, sp->gid);
	if (ret == 0)
		ret = put_list(buf, len, &at, "inc", sp->include, sp->n_include);
	if (ret == 0)
		ret = put_list(buf, len, &at, "exc", sp->exclude, sp->n_exclude);
	if (ret == 0)
		ret = put_list(buf, len, &at, "dns", sp->dns, sp->n_dns);
	return ret < 0 ? ret : (int)at;
}

/* A reader over one line at a time; any fault sticks. */
struct rd {
	const char *p, *end;
	bool bad;
};

/* The next blank-separated word of the current line: its start, length in *n. */
static const char *word(struct rd *r, size_t *n)
{
	const char *w;

	while (r->p < r->end && *r->p == ' ')
		r->p++;
	w = r->p;
	while (r->p < r->end && *r->p != ' ' && *r->p != '\n')
		r->p++;
	*n = (size_t)(r->p - w);
	if (*n == 0)
		r->bad = true;
	return w;
}

static bool word_is(struct rd *r, const char *s)
{
	size_t n;
	const char *w = word(r, &n);

	return !r->bad && n == strlen(s) && !memcmp(w, s, n);
}

/* A decimal number up to max, digits only. */
static uint64_t number(struct rd *r, uint64_t max)
{
	size_t n, i;
	const char *w = word(r, &n);
	uint64_t v = 0;

	if (r->bad || n > 20)
		goto bad;
	for (i = 0; i < n; i++) {
		uint64_t d = (uint64_t)(w[i] - '0');

		if (w[i] < '0' || w[i] > '9' || v > (UINT64_MAX - d) / 10)
			goto bad;
		v = v * 10 + d;
		if (v > max)
			goto bad;
	}
	return v;
bad:
	r->bad = true;
	return 0;
}

/* The end of the line: nothing else may stand on it. */
static void eol(struct rd *r)
{
	if (r->p >= r->end || *r->p != '\n')
		r->bad = true;
	else
		r->p++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void subnet_line(struct rd *r, struct subnet *s)
{
	uint64_t fam = number(r, 6);
	size_t n, i, alen = fam == 4 ? 4 : 16;
	const char *w = word(r, &n);
	unsigned bits = fam == 4 ? 32 : 128;

	memset(s, 0, sizeof(*s));
	if (r->bad || (fam != 4 && fam != 6) || n != alen * 2) {
		r->bad = true;
		return;
	}
	s->family = fam == 4 ? AF_INET : AF_INET6;
	for (i = 0; i < alen; i++) {
		int hi = hexval(w[2 * i]), lo = hexval(w[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			r->bad = true;
			return;
		}
		s->addr[i] = (uint8_t)(hi << 4 | lo);
	}
	s->prefix = (uint8_t)number(r, bits);
	s->port_lo = (uint16_t)number(r, 65535);
	s->port_hi = (uint16_t)number(r, 65535);
	if (s->port_lo > s->port_hi)
		r->bad = true;
	eol(r);
}

/* Count the subnet lines, so the list is one allocation. */
static size_t count_lines(const char *text, size_t len)
{
	size_t n = 0, i;

	for (i = 0; i < len; i++)
		n += text[i] == '\n';
	return n;
}

int instance_parse(const char *text, size_t len, struct instance *out)
{
	struct rd r = {text, text + len, false};
	struct fw_spec *sp = &out->spec;
	size_t n = 0, lines = count_lines(text, len), lablen;
	const char *lab;
	int stage = 0; /* 0 inc, 1 exc, 2 dns: the lists come in order */

	memset(out, 0, sizeof(*out));
	if (lines > INSTANCE_SUBNETS + 8)
		return -EINVAL;
	if (!word_is(&r, "sluice-instance") || number(&r, 1) != 1)
		return -EINVAL;
	eol(&r);
	r.bad |= !word_is(&r, "part");
	out->part = (uint32_t)number(&r, UINT32_MAX);
	eol(&r);
	r.bad |= !word_is(&r, "pid");
	out->pid = (uint32_t)number(&r, UINT32_MAX);
	eol(&r);
	r.bad |= !word_is(&r, "uid");
	out->uid = (uint32_t)number(&r, UINT32_MAX);
	eol(&r);
	r.bad |= !word_is(&r, "netns");
	out->netns = number(&r, UINT64_MAX);
	eol(&r);
	r.bad |= !word_is(&r, "label");
	lab = word(&r, &lablen);
	if (!r.bad && instance_label_valid(lab, lablen))
		memcpy(out->label, lab, lablen);
	else
		r.bad = true;
	eol(&r);
	r.bad |= !word_is(&r, "owner");
	sp->prerouting = number(&r, 1);
	sp->by_uid = number(&r, 1);
	sp->uid = (uint32_t)number(&r, UINT32_MAX);
	sp->by_gid = number(&r, 1);
	sp->gid = (uint32_t)number(&r, UINT32_MAX);
	eol(&r);
	if (r.bad)
		return -EINVAL;
	out->subnets = calloc(lines + 1, sizeof(*out->subnets));
	if (!out->subnets)
		return -ENOMEM;
	while (!r.bad && r.p < r.end) {
		size_t wl;
		const char *w = word(&r, &wl);
		int kind = wl == 3 && !memcmp(w, "inc", 3)   ? 0
			   : wl == 3 && !memcmp(w, "exc", 3) ? 1
			   : wl == 3 && !memcmp(w, "dns", 3) ? 2
							     : -1;

		if (kind < stage || n == lines) {
			r.bad = true;
			break;
		}
		stage = kind;
		subnet_line(&r, &out->subnets[n]);
		if (kind == 0)
			sp->n_include++;
		else if (kind == 1)
			sp->n_exclude++;
		else
			sp->n_dns++;
		n++;
	}
	if (r.bad) {
		instance_free(out);
		return -EINVAL;
	}
	sp->include = out->subnets;
	sp->exclude = out->subnets + sp->n_include;
	sp->dns = out->subnets + sp->n_include + sp->n_exclude;
	return 0;
}

void instance_free(struct instance *in)
{
	free(in->subnets);
	in->subnets = NULL;
	memset(&in->spec, 0, sizeof(in->spec));
}

/*
 * --user for two uids, or --group for two gids, never meet, unless both
 * take forwarded traffic. A tunnel held to one user's sockets gives way to
 * one that is not: it only ever loses that user's own traffic to it.
 */
static bool owners_meet(const struct fw_spec *a, const struct fw_spec *b)
{
	if (a->prerouting && b->prerouting)
		return true;
	if (!a->by_uid && b->by_uid)
		return false;
	return !(a->by_uid && b->by_uid && a->uid != b->uid) &&
	       !(a->by_gid && b->by_gid && a->gid != b->gid);
}

/* The networks and ports both x and y hold, in *both; false when they share none. */
static bool intersect(const struct subnet *x, const struct subnet *y, struct subnet *both)
{
	unsigned common = x->prefix < y->prefix ? x->prefix : y->prefix;

	if (x->family != y->family || !addrpolicy_prefix_match(x->addr, y->addr, common))
		return false;
	*both = x->prefix >= y->prefix ? *x : *y;
	both->port_lo = x->port_lo > y->port_lo ? x->port_lo : y->port_lo;
	both->port_hi = x->port_hi < y->port_hi ? x->port_hi : y->port_hi;
	return both->port_lo <= both->port_hi;
}

/*
 * Pairs of networks compared plus excludes read, at most, in one
 * comparison: it runs as root with every part's lock held, and lists of
 * thousands (repeated, nested, each pair excluded but by the last exclude)
 * would otherwise cost hours. Two command lines of 4096 networks each stay
 * well inside it.
 */
#define OVERLAP_BUDGET (64u << 20)

/* Whether an exclude in l takes all of s (addresses and ports); *spent counts what was read. */
static bool excluded(const struct subnet *s, const struct subnet *l, size_t n, uint64_t *spent)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (l[i].family == s->family && l[i].prefix <= s->prefix &&
		    addrpolicy_prefix_match(l[i].addr, s->addr, l[i].prefix) &&
		    l[i].port_lo <= s->port_lo && l[i].port_hi >= s->port_hi) {
			*spent += i + 1;
			return true;
		}
	}
	*spent += n;
	return false;
}

int instance_overlap(const struct fw_spec *a, const struct fw_spec *b, struct subnet *where)
{
	struct subnet both;
	uint64_t spent = 0;
	size_t i, j;

	if (!owners_meet(a, b))
		return 0;
	for (i = 0; i < a->n_include; i++)
		for (j = 0; j < b->n_include; j++) {
			if (++spent > OVERLAP_BUDGET)
				return -E2BIG;
			if (intersect(&a->include[i], &b->include[j], &both) &&
			    !excluded(&both, a->exclude, a->n_exclude, &spent) &&
			    !excluded(&both, b->exclude, b->n_exclude, &spent)) {
				*where = a->include[i];
				return 1;
			}
		}
	return 0;
}

bool instance_dns_clash(const struct fw_spec *a, const struct fw_spec *b)
{
	return a->n_dns && b->n_dns && owners_meet(a, b);
}

int instances_lock(const char *dir, int *fd)
{
	char path[256], parent[256], *slash;
	struct stat st;

	*fd = -1;
	snprintf(parent, sizeof(parent), "%s", dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (mkdir(parent, 0700) < 0 && errno != EEXIST)
			return -errno;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	/* Only root's records count: a directory someone else could write holds none. */
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || st.st_mode & (S_IWGRP | S_IWOTH))
		return -EPERM;
	snprintf(path, sizeof(path), "%s/" LOCK_NAME, dir);
	*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*fd < 0)
		return -errno;
	if (flock(*fd, LOCK_EX) < 0) {
		int ret = -errno;

		close(*fd);
		*fd = -1;
		return ret;
	}
	return 0;
}

bool instances_part_alive(uint32_t pid)
{
	char path[64], buf[4096];
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u", pid);
	if (stat(path, &st) < 0 || st.st_uid != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%u/cmdline", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	n = (ssize_t)strlen(buf) + 1;
	return n < (ssize_t)sizeof(buf) && !strncmp(buf + n, "--privileged", 12) &&
	       (buf[n + 12] == '\0');
}

static int read_record(const char *path, char **text, size_t *len)
{
	char *buf = malloc(INSTANCE_RECORD_MAX + 1);
	size_t have = 0;
	ssize_t n;
	int fd, ret = 0;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	while (have <= INSTANCE_RECORD_MAX &&
	       (n = read(fd, buf + have, INSTANCE_RECORD_MAX + 1 - have)) > 0)
		have += (size_t)n;
	if (n < 0)
		ret = -errno;
	else if (have > INSTANCE_RECORD_MAX)
		ret = -EFBIG;
	close(fd);
	if (ret < 0) {
		free(buf);
		return ret;
	}
	*text = buf;
	*len = have;
	return 0;
}

/* A record's name is its part's pid, digits only. */
static bool record_name(const char *name, uint32_t *pid)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; name[i]; i++) {
		if (name[i] < '0' || name[i] > '9' || i >= 10)
			return false;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	if (i == 0 || v == 0 || v > UINT32_MAX)
		return false;
	*pid = (uint32_t)v;
	return true;
}

/*
 * The line the asker gets. Which server another user tunnels to is that
 * user's business: only root, or the same user, is told the remote.
 */
static void clash_text(const struct instance *self, const struct instance *o,
		       const struct subnet *net, char *why, size_t whylen)
{
	char s[SUBNET_STRLEN] = "?", remote[INSTANCE_LABEL_MAX + 16] = "another user's";

	if (self->uid == 0 || self->uid == o->uid)
		snprintf(remote, sizeof(remote), "remote %s", o->label);
	if (!net) {
		snprintf(why, whylen, "--dns: sluice pid %u (%s, uid %u) answers DNS already",
			 o->pid, remote, o->uid);
		return;
	}
	subnet_format(net, s, sizeof(s));
	snprintf(why, whylen, "%s is routed by another sluice already: pid %u (%s, uid %u)", s,
		 o->pid, remote, o->uid);
}

int instances_check(const char *dir, const struct instance *self, char *why, size_t whylen)
{
	struct dirent *e;
	char path[512];
	DIR *d = opendir(dir);
	int ret = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	/* Past a clash too: every dead part's record goes. */
	while ((e = readdir(d))) {
		struct instance o;
		struct subnet where;
		uint32_t part;
		char *text = NULL;
		size_t len = 0;

		if (!record_name(e->d_name, &part) || part == self->part)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!instances_part_alive(part)) {
			unlink(path);
			continue;
		}
		if (ret < 0 || read_record(path, &text, &len) < 0)
			continue;
		if (instance_parse(text, len, &o) == 0) {
			if (o.part == part && o.netns == self->netns) {
				int r = instance_overlap(&self->spec, &o.spec, &where);

				if (r < 0) {
					snprintf(
					    why, whylen,
					    "too many networks to compare with those of sluice pid "
					    "%u (%zu and %zu): give fewer, or wider ones",
					    o.pid, self->spec.n_include, o.spec.n_include);
					ret = -EADDRINUSE;
				} else if (r > 0) {
					clash_text(self, &o, &where, why, whylen);
					ret = -EADDRINUSE;
				} else if (instance_dns_clash(&self->spec, &o.spec)) {
					clash_text(self, &o, NULL, why, whylen);
					ret = -EADDRINUSE;
				}
			}
			instance_free(&o);
		}
		free(text);
	}
	closedir(d);
	return ret;
}

int instances_write(const char *dir, const struct instance *self)
{
	char tmp[512], path[512], *buf = malloc(INSTANCE_RECORD_MAX);
	int fd = -1, n, ret = 0;

	if (!buf)
		return -ENOMEM;
	n = instance_format(self, buf, INSTANCE_RECORD_MAX);
	if (n < 0) {
		ret = n;
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s/.%u.tmp", dir, self->part);
	snprintf(path, sizeof(path), "%s/%u", dir, self->part);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	errno = 0;
	if (write(fd, buf, (size_t)n) != n || rename(tmp, path) < 0) {
		ret = errno ? -errno : -EIO;
		unlink(tmp);
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

void instances_remove(const char *dir, uint32_t part)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%u", dir, part);
	unlink(path);
}
