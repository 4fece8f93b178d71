/*
 * chain.h - the chained hash table shared by the SIP dialog, transaction and connection tables:
 * entries embed a struct sip_chain_link (next pointer and full key hash); the bucket count is a
 * power of two, doubled by sip_chain_reserve() once the table holds one entry per bucket, so
 * chains stay short. The table neither hashes nor compares keys: its owner does, walking the
 * chain of sip_chain_slot(hash) and turning links back into entries with SIP_CHAIN_ENTRY.
 */
#ifndef MSRPLOAD_SIP_CHAIN_H
#define MSRPLOAD_SIP_CHAIN_H

#include <stddef.h>
#include <stdint.h>

struct sip_chain_link {
    struct sip_chain_link *next;
    uint64_t hash;
};

struct sip_chain {
    struct sip_chain_link **buckets;
    size_t nbuckets, count;
};

/* The entry of `type` whose member `member` is the link `l` (l must not be NULL). */
#define SIP_CHAIN_ENTRY(l, type, member) ((type *)(void *)((char *)(l) - offsetof(type, member)))

/* nbuckets must be a power of two. 0, or -1 when out of memory (nothing to free then). */
int sip_chain_init(struct sip_chain *c, size_t nbuckets);
/* Frees the buckets only: the owner frees (or unlinks) its entries first. */
void sip_chain_free(struct sip_chain *c);
/* The head of the chain where an entry with this hash lives. */
struct sip_chain_link **sip_chain_slot(struct sip_chain *c, uint64_t hash);
/* Doubles the buckets when the table holds as many entries as buckets; out of memory it keeps
 * the longer chains, still correct. */
void sip_chain_reserve(struct sip_chain *c);
/* Puts l (its hash already set) at the head of its chain. */
void sip_chain_insert(struct sip_chain *c, struct sip_chain_link *l);
/* Takes l out of its chain; nothing when it is not there. */
void sip_chain_remove(struct sip_chain *c, struct sip_chain_link *l);
size_t sip_chain_longest(const struct sip_chain *c);

#endif
