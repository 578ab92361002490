/*
 * fdlimit: descriptor limits. Every tunnelled connection costs a descriptor
 * on both ends, so both raise their soft limit to the hard one at start.
 */
#ifndef SLUICE_FDLIMIT_H
#define SLUICE_FDLIMIT_H

/* Returns the soft limit now in force, or -errno. */
long fdlimit_raise(void);

#endif
