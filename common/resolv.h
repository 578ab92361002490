/*
 * resolv: the nameservers named in a resolv.conf. The client captures DNS
 * to its own; the helper sends queries to the remote's.
 */
#ifndef SLUICE_RESOLV_H
#define SLUICE_RESOLV_H

#include <stddef.h>
#include <sys/socket.h>

/* Parse resolv.conf text: "nameserver ADDR" lines, port 53. Returns how many (<= max). */
size_t resolv_parse(const char *text, struct sockaddr_storage *out, size_t max);

/* Read and parse a file. Returns how many, or -errno. */
int resolv_read(const char *path, struct sockaddr_storage *out, size_t max);

#endif
