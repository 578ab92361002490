/*
 * notify: systemd's readiness protocol, when NOTIFY_SOCKET is set:
 * READY=1, STATUS=..., STOPPING=1 and WATCHDOG=1 as datagrams to that
 * socket. A few lines of our own rather than libsystemd: the protocol is
 * one sendto, and the client stays free of another library.
 */
#ifndef SLUICE_NOTIFY_H
#define SLUICE_NOTIFY_H

#include <stdint.h>

/* Read NOTIFY_SOCKET and WATCHDOG_USEC (then unset, so children do not inherit them). */
void notify_init(void);
/* Send one message ("READY=1", "STATUS=..."); nothing without a socket. */
void notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Once a second: WATCHDOG=1 when half the watchdog interval has passed. */
void notify_tick(int64_t now_ms);
/* WATCHDOG=1 now (when a watchdog is set): before something that blocks a while. */
void notify_pet(void);

#endif
