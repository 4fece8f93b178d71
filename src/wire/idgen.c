/*
 * idgen.c - transaction ids and Message-IDs from OpenSSL's CSPRNG (RFC 4975 section 7.1).
 *
 * Each character takes one byte of the pool. Bytes 248..255 are thrown away so that the 248
 * accepted values fall four to a character: b >> 2 is then uniform over the 62 letters and
 * digits, with no modulo bias. About 3% of the bytes are lost that way, which is far cheaper
 * than drawing from the CSPRNG per id.
 */
#include "wire/idgen.h"

#include <openssl/rand.h>

static const char ident_alphabet[62] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "abcdefghijklmnopqrstuvwxyz"
                                       "0123456789";

#define IDGEN_REJECT 248 /* 62 * 4: bytes at or above this would bias the first characters */

static int refill(struct msrp_idgen *g)
{
    int rc;

    if (g->_fill != NULL)
        rc = g->_fill(g->_fill_ctx, g->_pool, sizeof(g->_pool)) == 0 ? 0 : -1;
    else
        rc = RAND_bytes(g->_pool, (int)sizeof(g->_pool)) == 1 ? 0 : -1;
    /* A failed fill may have left the pool half written: never hand those bytes out. */
    g->_used = rc == 0 ? 0 : sizeof(g->_pool);
    return rc;
}

int msrp_idgen_init(struct msrp_idgen *g)
{
    g->_fill = NULL;
    g->_fill_ctx = NULL;
    /*
     * The pool is filled on first use, so that a test can install _fill right after this
     * call and see only its own bytes. A small draw now still tells the caller at start-up,
     * rather than at the first id, that the CSPRNG is broken.
     */
    g->_used = sizeof(g->_pool);
    if (RAND_bytes(g->_pool, 16) != 1)
        return -1;
    return 0;
}

int msrp_idgen_ident(struct msrp_idgen *g, char *out, size_t len)
{
    size_t n = 0;

    while (n < len) {
        if (g->_used >= sizeof(g->_pool) && refill(g) != 0)
            return -1;
        size_t used = g->_used;
        while (n < len && used < sizeof(g->_pool)) {
            uint8_t b = g->_pool[used++];
            if (b < IDGEN_REJECT)
                out[n++] = ident_alphabet[b >> 2];
        }
        g->_used = used;
    }
    return 0;
}
