/*
 * idmap: stream id -> pointer, O(1) on average, for tens of thousands of
 * streams. Open addressing with linear probing and backward-shift deletion,
 * so there are no tombstones to clean up.
 */
#ifndef SLUICE_IDMAP_H
#define SLUICE_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
	uint32_t id; /* 0 = empty; stream ids are never 0 */
	void *val;
};

struct idmap {
	struct idmap_slot *slots;
	size_t cap; /* power of two */
	size_t count;
};

void idmap_init(struct idmap *m);
void idmap_free(struct idmap *m);
void *idmap_get(const struct idmap *m, uint32_t id);
/* Returns 0, -EEXIST, -EINVAL (id 0) or -ENOMEM. */
int idmap_put(struct idmap *m, uint32_t id, void *val);
/* Returns the removed value or NULL. */
void *idmap_del(struct idmap *m, uint32_t id);

#endif
