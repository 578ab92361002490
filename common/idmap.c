/*
 * idmap: the hash table behind stream lookup. Kept at most half full.
 */
#include "idmap.h"

#include <errno.h>
#include <stdlib.h>

static size_t slot_of(uint32_t id, size_t cap)
{
	/* Fibonacci hashing spreads sequential ids over the table. */
	return (size_t)((id * 2654435769u) & (cap - 1));
}

void idmap_init(struct idmap *m)
{
	m->slots = NULL;
	m->cap = 0;
	m->count = 0;
}

void idmap_free(struct idmap *m)
{
	free(m->slots);
	idmap_init(m);
}

void *idmap_get(const struct idmap *m, uint32_t id)
{
	size_t i;

	if (!m->cap || id == 0)
		return NULL;
	for (i = slot_of(id, m->cap); m->slots[i].id; i = (i + 1) & (m->cap - 1))
		if (m->slots[i].id == id)
			return m->slots[i].val;
	return NULL;
}

static int idmap_grow(struct idmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 64, i, j;
	struct idmap_slot *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	for (i = 0; i < m->cap; i++) {
		if (!m->slots[i].id)
			continue;
		for (j = slot_of(m->slots[i].id, ncap); ns[j].id; j = (j + 1) & (ncap - 1))
			;
		ns[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

int idmap_put(struct idmap *m, uint32_t id, void *val)
{
	size_t i;
	int ret;

	if (id == 0)
		return -EINVAL;
	if ((m->count + 1) * 2 > m->cap) {
		ret = idmap_grow(m);
		if (ret < 0)
			return ret;
	}
	for (i = slot_of(id, m->cap); m->slots[i].id; i = (i + 1) & (m->cap - 1))
		if (m->slots[i].id == id)
			return -EEXIST;
	m->slots[i].id = id;
	m->slots[i].val = val;
	m->count++;
	return 0;
}

void *idmap_del(struct idmap *m, uint32_t id)
{
	size_t i, j, mask = m->cap - 1;
	void *val;

	if (!m->cap || id == 0)
		return NULL;
	for (i = slot_of(id, m->cap); m->slots[i].id != id; i = (i + 1) & mask)
		if (!m->slots[i].id)
			return NULL;
	val = m->slots[i].val;
	/* Backward shift: pull later members of the probe run into the hole. */
	for (j = (i + 1) & mask; m->slots[j].id; j = (j + 1) & mask) {
		size_t home = slot_of(m->slots[j].id, m->cap);
		/* Move j into i unless j's home lies cyclically in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].id = 0;
	m->slots[i].val = NULL;
	m->count--;
	return val;
}
