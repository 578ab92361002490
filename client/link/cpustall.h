/*
 * cpustall: how long the machine's tasks have waited for a CPU, from the
 * kernel's pressure stall information (/proc/pressure/cpu, "some": the
 * time at least one runnable task was kept waiting). A round trip measured
 * through our own processes is only as short as the scheduler lets it be;
 * this tells a long path from a busy (or throttled) machine, for the lanes'
 * decision (lanes.h). Kernels without PSI, or with it off (psi=0), give
 * -ENOENT or -EOPNOTSUPP, and the caller goes without. The figure is the
 * whole machine's: CPUs busy without contention dilute it, and another
 * cgroup held at its quota adds to it.
 */
#ifndef SLUICE_CPUSTALL_H
#define SLUICE_CPUSTALL_H

#include <stdint.h>

/* The stall so far, in microseconds since boot. */
int cpustall_read(uint64_t *us);
/* The same, from the file's text: its "some ... total=N" line. */
int cpustall_parse(const char *text, uint64_t *us);

#endif
