/*
 * proctitle: how a process of ours shows in ps and top: its name (comm,
 * at most 15 bytes) and its command line (/proc/PID/cmdline). The command
 * line is the area the kernel laid argv out in, with the environment's
 * strings right after it: proctitle_init moves argv's strings and the
 * environment elsewhere first, so nothing that reads them later (options,
 * getenv) sees a title written there, and a title never goes past that
 * area's end. Meant for forked workers: it changes the whole process.
 */
#ifndef SLUICE_PROCTITLE_H
#define SLUICE_PROCTITLE_H

/*
 * From main, before anything keeps a pointer into argv or the environment:
 * argv[i], environ and program_invocation_name point to copies from now
 * on. 0, or -ENOMEM (then nothing moved, and proctitle_set writes no
 * command line).
 */
int proctitle_init(int argc, char **argv);

/*
 * comm becomes the process's name (cut at 15 bytes), title its command
 * line (cut to the area; without proctitle_init, the name only). Either
 * may be NULL: left as it is.
 */
void proctitle_set(const char *comm, const char *title);

#endif
