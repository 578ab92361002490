/*
 * dnsfwd: the helper's side of --dns over UDP. Each query from the client
 * goes to the remote's resolver from its own UDP socket; the answer, or an
 * empty reply after a timeout, goes back under the client's query id.
 */
#ifndef SLUICE_DNSFWD_H
#define SLUICE_DNSFWD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/evloop.h"

struct dnsfwd;

typedef void (*dnsfwd_reply_fn)(void *ctx, uint32_t id, const uint8_t *msg, size_t len);

struct dnsfwd *dnsfwd_new(struct evloop *loop, dnsfwd_reply_fn reply, void *ctx);
void dnsfwd_free(struct dnsfwd *d);
/* Send one query. Failures are answered through reply (empty), never returned. */
void dnsfwd_query(struct dnsfwd *d, const struct sockaddr_storage *resolver, uint32_t id,
		  const uint8_t *msg, size_t len);
/* Answer queries that have waited too long. Call about once a second. */
void dnsfwd_expire(struct dnsfwd *d);

#endif
