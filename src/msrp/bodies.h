/*
 * bodies.h - whole bodies of small incoming messages, kept while they are reassembled, for an
 * owner that reads what a message says (a message/cpim body unwrapped, an IMDN matched)
 * rather than only counting it. Reassembly itself (reasm.h) keeps no bytes; this is the
 * opt-in copy beside it (msrp_session_config.keep_bodies_max).
 *
 * Each message in progress has a buffer indexed by byte position, grown as its pieces arrive
 * (in any order, repeats overwriting with the same bytes: the reassembler refuses differing
 * ones), up to max_each bytes; a message that reaches beyond that, or finds all slots taken,
 * is not kept and its body is handed over as absent. Thread safety: one per session.
 */
#ifndef MSRPLOAD_MSRP_BODIES_H
#define MSRPLOAD_MSRP_BODIES_H

#include <stddef.h>
#include <stdint.h>

#include "wire/span.h"

/* Messages kept at once per session. */
#define MSRP_BODIES_SLOTS 16

struct msrp_bodies;

struct msrp_bodies *msrp_bodies_create(size_t max_each);
void msrp_bodies_destroy(struct msrp_bodies *b);
/* Bytes [pos, pos + len) (1-based) of message id. */
void msrp_bodies_add(struct msrp_bodies *b, struct msrp_span id, uint64_t pos, const char *p,
                     size_t len);
/* The body of a message complete with total bytes: {NULL, 0} when not kept. Valid until
 * msrp_bodies_drop for the same id. */
struct msrp_span msrp_bodies_get(struct msrp_bodies *b, struct msrp_span id, uint64_t total);
/* Forgets the message (complete, aborted or refused). */
void msrp_bodies_drop(struct msrp_bodies *b, struct msrp_span id);

#endif
