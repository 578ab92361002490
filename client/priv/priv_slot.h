/*
 * priv_slot: how many privileged parts one user may keep running at once.
 * A running part holds one of a few lock files, DIR/UID.N (N < max), with
 * flock; the kernel lets go of it however the part ends, so a killed part
 * never keeps its slot. A part that finds every slot of its caller taken
 * does not start.
 */
#ifndef SLUICE_PRIV_SLOT_H
#define SLUICE_PRIV_SLOT_H

#include <sys/types.h>

/* Under /run/sluice, which a systemd unit's RuntimeDirectory= keeps writable. */
#define PRIV_SLOT_DIR "/run/sluice/slots"
#define PRIV_SLOTS    8

struct priv_slot {
	int fd; /* the locked file, or -1 */
	int dfd;
	char name[32];
};

/*
 * Take a free slot of uid in dir, creating dir and its parent (mode 0700)
 * when missing.
 * Returns the slot's number, -EUSERS when all max are taken, or -errno
 * (-EPERM when dir is not this user's alone: another could hold every
 * slot or plant links).
 */
int priv_slot_take(struct priv_slot *s, const char *dir, uid_t uid, unsigned max);

/* Give the slot back: its file and, when it was the last, dir go too. */
void priv_slot_release(struct priv_slot *s, const char *dir);

#endif
