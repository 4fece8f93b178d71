/*
 * idgen.h - transaction ids and Message-IDs from a CSPRNG.
 *
 * RFC 4975 section 7.1 wants transaction ids with enough randomness that a peer cannot guess
 * them. Each generator draws from OpenSSL's RAND_bytes in blocks and hands the bytes out one id
 * at a time, so the cost per id is a few nanoseconds. One generator per thread: the struct has
 * no lock.
 */
#ifndef MSRPLOAD_WIRE_IDGEN_H
#define MSRPLOAD_WIRE_IDGEN_H

#include <stddef.h>
#include <stdint.h>

#define MSRP_IDGEN_POOL 4096

struct msrp_idgen {
    /* private */
    uint8_t _pool[MSRP_IDGEN_POOL];
    size_t _used;
    /* Tests may replace the entropy source after msrp_idgen_init(), which leaves the pool
     * empty, so every byte handed out comes from it; NULL means RAND_bytes. Returns 0 on
     * success. */
    int (*_fill)(void *ctx, uint8_t *buf, size_t len);
    void *_fill_ctx;
};

/* Returns 0, or -1 when the CSPRNG failed (a caller must not go on with predictable ids). */
int msrp_idgen_init(struct msrp_idgen *g);

/*
 * Writes len characters of [A-Za-z0-9] (an ident: 4 <= len <= 32 for transaction ids) to out,
 * without a NUL. Returns 0, or -1 when the CSPRNG failed.
 */
int msrp_idgen_ident(struct msrp_idgen *g, char *out, size_t len);

#endif
