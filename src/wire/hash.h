/*
 * hash.h - FNV-1a, the hash for short keys (Message-IDs, session ids) that are random already
 * or nearly so: it only has to spread them over a table.
 */
#ifndef MSRPLOAD_WIRE_HASH_H
#define MSRPLOAD_WIRE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t fnv1a64(const char *p, size_t n)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

#endif
