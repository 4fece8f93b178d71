/*
 * fuzz_parser.c - libFuzzer target for the chunk parser.
 *
 * Beyond "does not crash": the input is parsed whole, then in pieces whose sizes come from the
 * input itself, then with a small virtual-segment cap, and all three must agree on every chunk
 * (head, reassembled body, flag) and on the error. Each call gets a heap copy of exactly the
 * unconsumed bytes, so AddressSanitizer catches any read past them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/parser.h"

struct digest {
    uint64_t h;        /* FNV-1a over every completed chunk the parser reported */
    uint64_t open_h;   /* the chunk still open: segments of a chunk the input never ends
                        * are handed out with a cap but not without one, so they only count
                        * once the chunk completes */
    int chunks;
    int error;         /* stream error, or -1 */
    uint64_t error_at;
};

static void mix(struct digest *d, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        d->open_h ^= p[i];
        d->open_h *= 0x100000001b3ULL;
    }
}

static void mix_head(struct digest *d, const struct msrp_chunk *c)
{
    mix(d, &c->kind, sizeof(c->kind));
    mix(d, c->tid.ptr, c->tid.len);
    mix(d, c->method.ptr, c->method.len);
    mix(d, &c->status, sizeof(c->status));
    mix(d, c->comment.ptr, c->comment.len);
    mix(d, &c->num_headers, sizeof(c->num_headers));
    for (size_t i = 0; i < c->num_headers; i++) {
        mix(d, c->headers[i].name.ptr, c->headers[i].name.len);
        mix(d, c->headers[i].value.ptr, c->headers[i].value.len);
    }
    mix(d, &c->error, sizeof(c->error));
    mix(d, &c->violations, sizeof(c->violations));
    mix(d, &c->offset, sizeof(c->offset));
}

/* piece_seed == 0: whole input at once. */
static struct digest run(const uint8_t *data, size_t size, unsigned piece_seed, size_t cap)
{
    struct digest d = {0, 0xcbf29ce484222325ULL, 0, -1, 0};
    struct msrp_limits lim;
    msrp_limits_default(&lim);
    lim.max_line = 512;
    lim.max_headers = 16;
    lim.segment_cap = cap;
    struct msrp_parser p;
    msrp_parser_init(&p, &lim);
    struct msrp_header headers[16];
    struct msrp_chunk c = {.headers = headers, .headers_cap = 16};
    char *buf = malloc(size + 1);
    size_t have = 0, pos = 0;
    uint64_t body_seen = 0;
    bool open = false;
    unsigned x = piece_seed;
    while (pos < size) {
        size_t piece = size - pos;
        if (piece_seed != 0) {
            x = x * 1103515245u + 12345u;
            size_t want = 1 + (x >> 16) % 64;
            piece = want < piece ? want : piece;
        }
        memcpy(buf + have, data + pos, piece);
        have += piece;
        pos += piece;
        while (have > 0) {
            char *exact = malloc(have);
            memcpy(exact, buf, have);
            ssize_t r = msrp_parse(&p, exact, have, &c);
            if (r == MSRP_MALFORMED) {
                d.error = (int)p.error;
                d.error_at = p.stream_offset + p.error_offset;
                free(exact);
                free(buf);
                return d;
            }
            if (r == MSRP_INCOMPLETE) {
                free(exact);
                break;
            }
            if (r <= 0 || (size_t)r > have)
                abort();
            if (c.has_head) {
                if (open)
                    abort();
                mix_head(&d, &c);
                open = true;
                body_seen = 0;
            }
            if (!open || c.body_offset != body_seen)
                abort();
            if (c.body.len > 0 &&
                (c.body.ptr < exact || c.body.ptr + c.body.len > exact + have))
                abort();
            mix(&d, c.body.ptr, c.body.len);
            body_seen += c.body.len;
            if (c.flag != 0) {
                mix(&d, &c.flag, 1);
                d.h = d.h * 31 + d.open_h;
                d.open_h = 0xcbf29ce484222325ULL;
                open = false;
                d.chunks++;
            }
            free(exact);
            memmove(buf, buf + r, have - (size_t)r);
            have -= (size_t)r;
        }
    }
    free(buf);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct digest whole = run(data, size, 0, SIZE_MAX);
    unsigned seed = size > 0 ? data[0] + 1u : 1u;
    struct digest pieces = run(data, size, seed, SIZE_MAX);
    struct digest segments = run(data, size, seed + 7, 5);
    if (whole.h != pieces.h || whole.chunks != pieces.chunks || whole.error != pieces.error ||
        whole.error_at != pieces.error_at)
        abort();
    if (whole.h != segments.h || whole.chunks != segments.chunks || whole.error != segments.error)
        abort();
    return 0;
}
