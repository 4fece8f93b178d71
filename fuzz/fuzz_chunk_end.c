/*
 * fuzz_chunk_end.c - libFuzzer target for the chunk end finder (src/wire/chunk_end.c), the
 * boundary finder the WebSocket transport frames messages by.
 *
 * The input is scanned three ways: whole, one byte at a time, and in pieces whose sizes come
 * from the input's own bytes. Beyond "no crash, no over-read", it aborts unless all three find
 * the same boundaries, every boundary lies inside what was fed, and each found chunk ends
 * with CRLF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/chunk_end.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENDS 4096

/* Scans in pieces of step(i) bytes; fills ends[] with each boundary's offset. */
static size_t scan(const uint8_t *data, size_t size, size_t mode, size_t *ends)
{
    struct msrp_chunk_end_scan s;
    memset(&s, 0, sizeof(s));
    size_t n = 0, off = 0, i = 0;
    while (off < size) {
        size_t piece = mode == 0 ? size - off : mode == 1 ? 1 : 1 + data[i++ % size] % 61;
        if (piece > size - off)
            piece = size - off;
        size_t k = msrp_chunk_end_scan(&s, (const char *)data + off, piece);
        if (k > piece)
            abort();
        if (k == 0) {
            off += piece;
            continue;
        }
        off += k;
        if (n < MAX_ENDS)
            ends[n] = off;
        n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static size_t a[MAX_ENDS], b[MAX_ENDS], c[MAX_ENDS];
    if (size == 0)
        return 0;
    size_t na = scan(data, size, 0, a), nb = scan(data, size, 1, b), nc = scan(data, size, 2, c);
    if (na != nb || na != nc)
        abort();
    size_t m = na < MAX_ENDS ? na : MAX_ENDS;
    for (size_t i = 0; i < m; i++) {
        if (a[i] != b[i] || a[i] != c[i] || a[i] < 2 || a[i] > size)
            abort();
        if (data[a[i] - 2] != '\r' || data[a[i] - 1] != '\n')
            abort();
    }
    return 0;
}
