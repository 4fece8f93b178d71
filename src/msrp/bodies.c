/*
 * bodies.c - the kept bodies of bodies.h: a few slots per session, each a growable buffer.
 * Owns the slots and their buffers (reused from message to message).
 */
#include <stdlib.h>
#include <string.h>

#include "msrp/bodies.h"
#include "msrp/reasm.h"

struct slot {
    bool used, overflow;
    uint8_t id_len;
    char id[MSRP_REASM_ID_MAX];
    char *buf;
    size_t cap;
};

struct msrp_bodies {
    size_t max_each;
    struct slot slots[MSRP_BODIES_SLOTS];
};

struct msrp_bodies *msrp_bodies_create(size_t max_each)
{
    struct msrp_bodies *b = calloc(1, sizeof(*b));
    if (b != NULL)
        b->max_each = max_each;
    return b;
}

void msrp_bodies_destroy(struct msrp_bodies *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < MSRP_BODIES_SLOTS; i++)
        free(b->slots[i].buf);
    free(b);
}

static struct slot *find(struct msrp_bodies *b, struct msrp_span id)
{
    for (size_t i = 0; i < MSRP_BODIES_SLOTS; i++) {
        struct slot *s = &b->slots[i];
        if (s->used && s->id_len == id.len && memcmp(s->id, id.ptr, id.len) == 0)
            return s;
    }
    return NULL;
}

void msrp_bodies_add(struct msrp_bodies *b, struct msrp_span id, uint64_t pos, const char *p,
                     size_t len)
{
    if (id.len == 0 || id.len > MSRP_REASM_ID_MAX || pos == 0)
        return;
    struct slot *s = find(b, id);
    if (s == NULL) {
        for (size_t i = 0; i < MSRP_BODIES_SLOTS && s == NULL; i++)
            if (!b->slots[i].used)
                s = &b->slots[i];
        if (s == NULL)
            return; /* not kept: every slot is taken */
        s->used = true;
        s->overflow = false;
        s->id_len = (uint8_t)id.len;
        memcpy(s->id, id.ptr, id.len);
    }
    if (s->overflow)
        return;
    if (pos - 1 > b->max_each || len > b->max_each - (pos - 1)) {
        s->overflow = true;
        return;
    }
    size_t need = (size_t)(pos - 1) + len;
    if (need > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < need)
            cap *= 2;
        if (cap > b->max_each)
            cap = b->max_each;
        char *nb = realloc(s->buf, cap);
        if (nb == NULL) {
            s->overflow = true;
            return;
        }
        s->buf = nb;
        s->cap = cap;
    }
    if (len > 0)
        memcpy(s->buf + pos - 1, p, len);
}

struct msrp_span msrp_bodies_get(struct msrp_bodies *b, struct msrp_span id, uint64_t total)
{
    struct slot *s = find(b, id);
    if (s == NULL || s->overflow || total > s->cap)
        return msrp_span_make(NULL, 0);
    /* total 0: an empty message, kept as an empty span that is not absent */
    return msrp_span_make(s->buf != NULL ? s->buf : "", (size_t)total);
}

void msrp_bodies_drop(struct msrp_bodies *b, struct msrp_span id)
{
    struct slot *s = find(b, id);
    if (s != NULL)
        s->used = false;
}
