/*
 * autohosts: the names learned from the remote (-H). Owns the bounded
 * table of names the helper sent (each checked on arrival), and decides at
 * each write which of them go into /etc/hosts: only names whose address the
 * tunnel routes (after excludes; a --seed-hosts name needs only some port
 * of it routed), and never a name the user's own lines already use. So a
 * PTR record someone else controls cannot point a name at an address
 * outside the tunnel, and a change of routes (-N) is reflected at the next
 * write. Written at most once a second, removed at exit.
 */
#ifndef SLUICE_AUTOHOSTS_H
#define SLUICE_AUTOHOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "../../common/hostname.h"
#include "../../common/subnet.h"
#include "../../common/wire.h"
#include "hosts.h"

#define AUTOHOSTS_MAX	  4096
#define AUTOHOSTS_OWN_MAX 8
#define AUTOHOSTS_PATH	  "/etc/hosts"

struct autohosts_name {
	int family;
	uint8_t addr[16];
	char name[HOSTNAME_MAX + 1];
	bool seeded;  /* the user asked for it with --seed-hosts */
	uint8_t told; /* AUTOHOSTS_WHY_* bits already reported */
};

enum autohosts_why {
	AUTOHOSTS_WHY_UNROUTED = 1, /* its address is not one the tunnel carries */
	AUTOHOSTS_WHY_USERS = 2,    /* the user's own lines in the file name it */
};

/*
 * Where the lines go: the privileged part in the client, a file of the
 * test's own in unit tests (write NULL: hosts_write on path).
 */
struct autohosts_io {
	int (*write)(void *arg, struct hosts_entry *e, size_t n);
	int (*restore)(void *arg);
	void *arg;
};

struct autohosts {
	const char *path; /* AUTOHOSTS_PATH unless a test says otherwise */
	struct autohosts_io io;
	struct autohosts_name *c;
	size_t n;
	struct hosts_entry *e;	  /* what the last write held */
	const char *const *seeds; /* --seed-hosts as given */
	size_t n_seeds;
	bool dirty, written;
	time_t last_write;
	size_t rejected;
	/* Names the tunnel itself resolves (autohosts_own), lower case. */
	char own[AUTOHOSTS_OWN_MAX][HOSTNAME_MAX + 1];
	size_t n_own;
	/* This machine's name (autohosts_self), lower case; "" if none. */
	char self[HOSTNAME_MAX + 1];
};

/* The routed set a write judges names against: includes and excludes as installed. */
struct autohosts_routes {
	const struct subnet *include, *exclude;
	size_t n_include, n_exclude;
};

/* Called once per name and reason when a held name is left out of the file. */
typedef void (*autohosts_left_out_fn)(void *arg, const struct autohosts_name *n,
				      enum autohosts_why why);

/*
 * Take one HOST frame. Returns 1 when it was new, 0 when known, or a
 * negative errno when refused (-EINVAL: bad name or special address, with
 * a reason in *why; -ENOSPC: the table is full).
 */
int autohosts_add(struct autohosts *h, const struct wire_host *host, const char **why);
/*
 * A name the tunnel resolves to reach its server (the -r host, its
 * HostName, a jump host): a line from the remote for it would send the
 * next reconnect to an address the tunnel captures, so it is refused.
 * Names that are addresses, or past AUTOHOSTS_OWN_MAX, are ignored.
 */
void autohosts_own(struct autohosts *h, const char *name, size_t len);
/*
 * This machine's own host name, as gethostname gives it: a remote line for
 * it would send this machine's programs that look themselves up to a far
 * address (a laptop's name still in the office's DNS, say), so it is
 * refused. Only the name itself: a program that looks itself up asks for
 * it whole. A name that is not usable is ignored.
 */
void autohosts_self(struct autohosts *h, const char *name);
/* The routed set changed: the next flush judges every name again. */
void autohosts_routes_changed(struct autohosts *h);
/*
 * Write the file if something changed and a second has passed since the
 * last write. Returns 0 or -errno.
 */
int autohosts_flush(struct autohosts *h, time_t now, const struct autohosts_routes *r,
		    autohosts_left_out_fn left_out, void *arg);
/* Whether the tunnel carries addr (family, 4 or 16 bytes); any_port: some port is enough. */
bool autohosts_carried(const struct autohosts_routes *r, int family, const uint8_t *addr,
		       bool any_port);
/* Remove our lines (if we wrote any) and free the table. Returns 0 or -errno. */
int autohosts_finish(struct autohosts *h);

#endif
