/*
 * hosts: sluice's lines in /etc/hosts (for -H). Each line it adds carries a
 * marker; everything else in the file is left byte for byte as it was, and
 * removing our lines restores the file exactly (the format is described in
 * hosts.c). Paths are resolved through symlinks; files over 16 MiB, or that
 * would grow past it, are refused with -EFBIG.
 */
#ifndef SLUICE_HOSTS_H
#define SLUICE_HOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hosts_entry {
	char addr[46];	  /* numeric IPv4 or IPv6, already validated */
	char name[254];	  /* validated host name; short names are separate entries */
	uint8_t shadowed; /* set by hosts_render: the user's own lines name it, so it is left out */
};

/*
 * Rewrite path so it holds its own lines (without any marked lines, also
 * stale ones from a crashed run) followed by ours for entries. Replaced
 * atomically (an unnamed temp file in the same directory with the same
 * owner, mode and extended attributes, then rename); where an attribute
 * cannot be copied, or when rename fails with EBUSY (path is a bind mount,
 * as in containers and `ip netns exec`) or EXDEV, rewritten in place.
 * Invalid entries are skipped, and so is an entry whose name a line of the
 * user's own already uses (its shadowed flag is set: the user's lines win);
 * entries are written in the given order, duplicates included. No write at
 * all when the content would not change. Returns 0 or -errno
 * (-ENOENT when path does not exist: it is never created).
 */
int hosts_write(const char *path, struct hosts_entry *e, size_t n);

/*
 * Whose lines a rewrite is about, when several tunnels hold lines at once
 * (see hosts.c): id names ours (nonzero), and alive says whether another
 * owner still runs (NULL: all do). Lines of owners that are gone go too.
 * turn (NULL: none) takes a lock that every tunnel's writer takes, one only
 * they can take, and returns a descriptor whose close lets go, or -errno:
 * it is held from the read to the rename.
 */
struct hosts_owner {
	uint32_t id;
	bool (*alive)(uint32_t id);
	int (*turn)(void);
};

/* hosts_write and hosts_restore for one owner: others' lines stay as they are. */
int hosts_write_as(const char *path, const struct hosts_owner *own, struct hosts_entry *e,
		   size_t n);
int hosts_restore_as(const char *path, const struct hosts_owner *own);

/*
 * Remove the temporaries a killed rewrite of path (by any version) left in
 * its directory: plain files named .hosts.sluice-XXXXXX. Returns how many,
 * or -errno.
 */
int hosts_sweep(const char *path);

/* Remove every marked line, restoring the file exactly. No change (and no write) when there are
 * none. */
int hosts_restore(const char *path);

/*
 * Pure parts, for tests: build the new content from old; caller frees *out
 * (NUL-terminated for convenience, the NUL not counted in *out_len). Entries
 * with an invalid name or address are skipped. Returns 0 or -errno.
 */
int hosts_render(const char *old, size_t old_len, struct hosts_entry *e, size_t n, char **out,
		 size_t *out_len);
int hosts_render_as(const char *old, size_t old_len, const struct hosts_owner *own,
		    struct hosts_entry *e, size_t n, char **out, size_t *out_len);

/*
 * Overwrite path with data without replacing the inode: pwrite at 0, then
 * ftruncate, then fsync. hosts_write's fallback for mount points; exposed
 * for tests. Returns 0 or -errno.
 */
int hosts_write_inplace(const char *path, const char *data, size_t len);

/*
 * A name safe to put in /etc/hosts: letters, digits, '-', '.', '_', labels
 * 1-63, total <= 253, no empty label (so no leading, trailing or double dot).
 * Returns 1 if so, 0 if not.
 */
int hosts_name_valid(const char *name);

#endif
