/*
 * pending.c - the Message-ID map of pending.h.
 *
 * Owns: the table's memory, its probing and backward-shift removal.
 * May not touch: the values filed (runner tags), which it stores and returns as they are.
 */
#include "load/pending.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "wire/hash.h"

#define MIN_CAP 64

void pending_init(struct pending_map *m)
{
    m->slots = NULL;
    m->cap = m->count = 0;
}

void pending_free(struct pending_map *m)
{
    free(m->slots);
    pending_init(m);
}

static bool same(const struct pending_slot *s, uint64_t h, const char *id, size_t len)
{
    return s->hash == h && s->len == len && memcmp(s->id, id, len) == 0;
}

static void insert(struct pending_slot *slots, size_t cap, const struct pending_slot *e)
{
    size_t i = (size_t)e->hash & (cap - 1);
    while (slots[i].value != NULL)
        i = (i + 1) & (cap - 1);
    slots[i] = *e;
}

/* Kept at most half full: probes stay short and an empty slot always ends them. */
static int grow(struct pending_map *m)
{
    size_t cap = m->cap == 0 ? MIN_CAP : m->cap * 2;
    struct pending_slot *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].value != NULL)
            insert(slots, cap, &m->slots[i]);
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int pending_put(struct pending_map *m, const char *id, size_t len, void *value)
{
    if (len == 0 || len > PENDING_ID_MAX || value == NULL)
        return EINVAL;
    uint64_t h = fnv1a64(id, len);
    for (size_t i = m->cap > 0 ? (size_t)h & (m->cap - 1) : 0; m->cap > 0 && m->slots[i].value;
         i = (i + 1) & (m->cap - 1)) {
        if (same(&m->slots[i], h, id, len)) {
            m->slots[i].value = value;
            return 0;
        }
    }
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0)
        return ENOMEM;
    struct pending_slot e = {.value = value, .hash = h, .len = (uint8_t)len};
    memcpy(e.id, id, len);
    insert(m->slots, m->cap, &e);
    m->count++;
    return 0;
}

void *pending_get(const struct pending_map *m, const char *id, size_t len)
{
    if (m->cap == 0 || len == 0 || len > PENDING_ID_MAX)
        return NULL;
    uint64_t h = fnv1a64(id, len);
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].value != NULL && !same(&m->slots[i], h, id, len))
        i = (i + 1) & mask;
    return m->slots[i].value;
}

void *pending_take(struct pending_map *m, const char *id, size_t len)
{
    if (m->cap == 0 || len == 0 || len > PENDING_ID_MAX)
        return NULL;
    uint64_t h = fnv1a64(id, len);
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].value != NULL && !same(&m->slots[i], h, id, len))
        i = (i + 1) & mask;
    void *value = m->slots[i].value;
    if (value == NULL)
        return NULL;
    /* Backward shift: move up each later entry of the run that may sit in the hole, so that
     * every entry stays reachable from its home slot without crossing an empty one. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j].value != NULL; j = (j + 1) & mask) {
        size_t home = (size_t)m->slots[j].hash & mask;
        /* j may move to hole when its home is not in (hole, j], cyclically */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].value = NULL;
    m->count--;
    return value;
}
