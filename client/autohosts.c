/*
 * autohosts: validates names and addresses from the helper before they can
 * reach /etc/hosts, and batches writes.
 */
#include "autohosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Addresses that never belong in a name map learned from elsewhere. */
static int addr_acceptable(const struct wire_host *h)
{
	const uint8_t *a = h->addr;
	static const uint8_t zero[16];

	if (h->family == AF_INET)
		return a[0] != 0 && a[0] != 127 && a[0] < 224;
	return memcmp(a, zero, 16) != 0 && a[0] != 0xff &&
	       !(memcmp(a, zero, 15) == 0 && a[15] == 1);
}

int autohosts_add(struct autohosts *h, const struct wire_host *host)
{
	struct hosts_entry ent;
	size_t i;

	memset(&ent, 0, sizeof(ent));
	if (!addr_acceptable(host) || !hosts_name_valid(host->name) ||
	    !inet_ntop(host->family, host->addr, ent.addr, sizeof(ent.addr))) {
		h->rejected++;
		return -EINVAL;
	}
	snprintf(ent.name, sizeof(ent.name), "%s", host->name);
	for (i = 0; i < h->n; i++)
		if (!strcmp(h->e[i].addr, ent.addr) && !strcmp(h->e[i].name, ent.name))
			return 0;
	if (h->n == AUTOHOSTS_MAX) {
		h->rejected++;
		return -ENOSPC;
	}
	if (!h->e && !(h->e = calloc(AUTOHOSTS_MAX, sizeof(*h->e))))
		return -ENOMEM;
	h->e[h->n++] = ent;
	h->dirty = true;
	return 1;
}

int autohosts_flush(struct autohosts *h, time_t now)
{
	int ret;

	if (!h->dirty || now == h->last_write)
		return 0;
	/* Even a failed write may have left our lines in the file: always restore at exit. */
	h->written = true;
	ret = hosts_write(AUTOHOSTS_PATH, h->e, h->n);
	h->last_write = now;
	if (ret == 0)
		h->dirty = false;
	return ret;
}

int autohosts_finish(struct autohosts *h)
{
	int ret = h->written ? hosts_restore(AUTOHOSTS_PATH) : 0;

	free(h->e);
	memset(h, 0, sizeof(*h));
	return ret;
}
