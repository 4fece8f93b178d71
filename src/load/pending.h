/*
 * pending.h - messages in flight, found again by Message-ID.
 *
 * Through a relay the sender's 200 is hop-by-hop: it says the relay took the message, not that
 * it arrived. msrpload plays both ends, so the runner files each message it sends here and
 * takes it out again where its own answering end receives it. Open addressing with linear
 * probing; removal shifts later entries back, so there are no tombstones and lookups stay
 * short however long a run lasts.
 *
 * Owns: the map and its hashing of ids. May not touch: what the values are (the runner's
 * message tags): it never dereferences them. Not thread safe: one map per worker.
 */
#ifndef MSRPLOAD_LOAD_PENDING_H
#define MSRPLOAD_LOAD_PENDING_H

#include <stddef.h>
#include <stdint.h>

#define PENDING_ID_MAX 32 /* longer ids are never filed, so never found */

struct pending_slot {
    void *value; /* NULL: empty */
    uint64_t hash;
    uint8_t len;
    char id[PENDING_ID_MAX];
};

struct pending_map {
    struct pending_slot *slots;
    size_t cap, count; /* cap: a power of two, or 0 before the first put */
};

void pending_init(struct pending_map *m);
void pending_free(struct pending_map *m);
/* Files value (non-NULL) under id; an id already filed is replaced. Returns 0, EINVAL (id
 * empty or longer than PENDING_ID_MAX, value NULL) or ENOMEM. */
int pending_put(struct pending_map *m, const char *id, size_t len, void *value);
/* The value filed under id, left in place; NULL when there is none. */
void *pending_get(const struct pending_map *m, const char *id, size_t len);
/* Removes the entry for id and returns its value; NULL when there is none. */
void *pending_take(struct pending_map *m, const char *id, size_t len);
static inline size_t pending_count(const struct pending_map *m)
{
    return m->count;
}

#endif
