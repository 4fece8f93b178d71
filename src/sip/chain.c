/*
 * chain.c - the chained hash table of chain.h: bucket allocation, doubling, insert, unlink and
 * the longest-chain measure the dialog table reports.
 */
#include "sip/chain.h"

#include <stdlib.h>

int sip_chain_init(struct sip_chain *c, size_t nbuckets)
{
    c->count = 0;
    c->nbuckets = nbuckets;
    c->buckets = calloc(nbuckets, sizeof *c->buckets);
    return c->buckets ? 0 : -1;
}

void sip_chain_free(struct sip_chain *c)
{
    free(c->buckets);
    c->buckets = NULL;
    c->nbuckets = 0;
}

struct sip_chain_link **sip_chain_slot(struct sip_chain *c, uint64_t hash)
{
    return &c->buckets[hash & (c->nbuckets - 1)];
}

void sip_chain_reserve(struct sip_chain *c)
{
    if (c->count < c->nbuckets)
        return;
    size_t n = c->nbuckets * 2;
    struct sip_chain_link **b = calloc(n, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct sip_chain_link *l = c->buckets[i], *next;
        for (; l; l = next) {
            next = l->next;
            l->next = b[l->hash & (n - 1)];
            b[l->hash & (n - 1)] = l;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

void sip_chain_insert(struct sip_chain *c, struct sip_chain_link *l)
{
    struct sip_chain_link **s = sip_chain_slot(c, l->hash);
    l->next = *s;
    *s = l;
    c->count++;
}

void sip_chain_remove(struct sip_chain *c, struct sip_chain_link *l)
{
    for (struct sip_chain_link **p = sip_chain_slot(c, l->hash); *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            c->count--;
            return;
        }
}

size_t sip_chain_longest(const struct sip_chain *c)
{
    size_t longest = 0;
    for (size_t i = 0; i < c->nbuckets; i++) {
        size_t n = 0;
        for (const struct sip_chain_link *l = c->buckets[i]; l; l = l->next)
            n++;
        if (n > longest)
            longest = n;
    }
    return longest;
}
