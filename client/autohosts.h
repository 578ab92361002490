/*
 * autohosts: the names learned from the remote (-H), kept in a bounded
 * table and written to /etc/hosts at most once a second, removed at exit.
 */
#ifndef SLUICE_AUTOHOSTS_H
#define SLUICE_AUTOHOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "../common/wire.h"
#include "hosts.h"

#define AUTOHOSTS_MAX  4096
#define AUTOHOSTS_PATH "/etc/hosts"

struct autohosts {
	struct hosts_entry *e;
	size_t n;
	bool dirty, written;
	time_t last_write;
	size_t rejected;
};

/* Take one HOST frame. Returns 1 when it was new, 0 when known, -EINVAL when refused. */
int autohosts_add(struct autohosts *h, const struct wire_host *host);
/* Write the file if something changed and a second has passed. Returns 0 or -errno. */
int autohosts_flush(struct autohosts *h, time_t now);
/* Remove our lines (if we wrote any) and free the table. Returns 0 or -errno. */
int autohosts_finish(struct autohosts *h);

#endif
