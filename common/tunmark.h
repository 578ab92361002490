/*
 * tunmark: the number that names one tunnel's datagrams. It is their
 * packet and conntrack mark (firewall/) and the fwmark and routing table
 * that send them into the tunnel's TUN (route/): a top byte that says
 * "sluice's", with the privileged part's pid below it (Linux pids stay
 * below 2^22). So the number is unique while the part lives, and anyone
 * can tell a mark of ours from others' (the top byte) and whose (the pid).
 */
#ifndef SLUICE_TUNMARK_H
#define SLUICE_TUNMARK_H

#include <stdbool.h>
#include <stdint.h>

#define TUNMARK_BASE 0x51000000u /* an arbitrary top byte: "ours" */
#define TUNMARK_MASK 0xff000000u /* what is compared with the base */
#define TUNMARK_PID  0x00ffffffu

/* The mark of the part with this pid. */
static inline uint32_t tunmark_of(uint32_t pid)
{
	return TUNMARK_BASE | (pid & TUNMARK_PID);
}

/* Whether m is some sluice part's mark, a live one or not. */
static inline bool tunmark_is_ours(uint32_t m)
{
	return (m & TUNMARK_MASK) == TUNMARK_BASE;
}

#endif
