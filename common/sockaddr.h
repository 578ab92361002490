/*
 * sockaddr: IPv4/IPv6 socket addresses built and taken apart in one place,
 * so no module casts sockaddr_storage by hand.
 */
#ifndef SLUICE_SOCKADDR_H
#define SLUICE_SOCKADDR_H

#include <stdint.h>
#include <sys/socket.h>

/* Fill ss from a family, a raw address (4 or 16 bytes) and a port in host order. Returns the
 * length to pass to bind/connect, or 0 for an unknown family. */
socklen_t sa_make(struct sockaddr_storage *ss, int family, const void *addr, uint16_t port);
/* The raw address inside ss (NULL for an unknown family). */
const void *sa_addr(const struct sockaddr_storage *ss);
/* The port in host order. */
uint16_t sa_port(const struct sockaddr_storage *ss);
void sa_set_port(struct sockaddr_storage *ss, uint16_t port);
socklen_t sa_len(const struct sockaddr_storage *ss);

#endif
