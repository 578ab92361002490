/*
 * instances: the record of the tunnels running on this machine, kept by
 * their privileged parts and by nothing else. Each part writes one file,
 * INSTANCES_DIR/PID (its own pid), saying whose tunnel it is, which
 * remote, which network namespace, and what it captures. A part checks a
 * new rule set against the others' records under one lock, so that two
 * tunnels never capture the same traffic: the second is refused with a
 * line that names the first. A record whose part is gone (killed with
 * SIGKILL) is swept by the next part that looks.
 *
 * The directory is root's; the files are written whole and renamed into
 * place. The parser still checks everything it reads.
 */
#ifndef SLUICE_INSTANCES_H
#define SLUICE_INSTANCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../firewall/fw.h"

#define INSTANCES_DIR	   "/run/sluice/instances"
#define INSTANCE_LABEL_MAX 128
#define INSTANCE_SUBNETS   (2 * 8192 + 64) /* includes, excludes and nameservers */
/* The header's lines, then at most 55 bytes a subnet ("inc 6 " 32 hex digits " 128 65535 65535\n").
 */
#define INSTANCE_RECORD_MAX (512 + INSTANCE_LABEL_MAX + INSTANCE_SUBNETS * 56)

struct instance {
	uint32_t part;	/* the privileged part's pid: the record's name */
	uint32_t pid;	/* the user's sluice, as the kernel told the part */
	uint32_t uid;	/* the same process's uid */
	uint64_t netns; /* the network namespace's inode: rules elsewhere never meet */
	char label[INSTANCE_LABEL_MAX + 1]; /* the remote, as the user's side named it */
	struct fw_spec spec;		    /* lists point into subnets */
	struct subnet *subnets;		    /* one allocation, owned here */
};

/* A remote's name as a record may hold it: printable, no blanks, 1 to INSTANCE_LABEL_MAX. */
bool instance_label_valid(const char *s, size_t len);

/* The record's text for in. Returns its length, or -ENOSPC. */
int instance_format(const struct instance *in, char *buf, size_t len);

/* A record's text into out (free with instance_free). 0, -EINVAL, or -ENOMEM. */
int instance_parse(const char *text, size_t len, struct instance *out);
void instance_free(struct instance *in);

/*
 * Whether a and b would capture some of the same connections: an include
 * of each that share addresses and ports, where neither tunnel excludes
 * that share; unless their owners cannot meet (--user for two different
 * uids, or --group for two different gids, and not both in router mode).
 * Asymmetric: b held to one user's sockets (--user) never blocks a, which
 * is not, so a user's tunnel cannot keep root's or everyone's from
 * starting; a, held to one user's, is refused where b captures everyone's.
 * *where gets a network of a that b captures too. Returns 1 for an
 * overlap, 0 for none, or -E2BIG when the lists are too long to compare in
 * a bounded time (the caller refuses then).
 */
int instance_overlap(const struct fw_spec *a, const struct fw_spec *b, struct subnet *where);

/* Whether both answer DNS for owners that can meet (--dns has one owner). */
bool instance_dns_clash(const struct fw_spec *a, const struct fw_spec *b);

/*
 * Take the lock of dir (created, root's, 0700), for the check and the
 * write that follows it. *fd gets the lock; close it to let go. 0 or -errno.
 */
int instances_lock(const char *dir, int *fd);

/*
 * The first live record in dir, other than self's and in self's network
 * namespace, that clashes with self->spec: its text in why (for the user,
 * one line naming its pid, remote and the network or --dns), and -EADDRINUSE.
 * Records of parts that are gone are removed on the way. 0 when none.
 */
int instances_check(const char *dir, const struct instance *self, char *why, size_t whylen);

/* Write self's record (replacing its last one). 0 or -errno. */
int instances_write(const char *dir, const struct instance *self);

/*
 * Whether pid is a running privileged part: root's, and started at the
 * fixed entry point. Anyone may name a process so; only root may own one.
 */
bool instances_part_alive(uint32_t pid);

/* Remove the record of part. */
void instances_remove(const char *dir, uint32_t part);

#endif
