/*
 * fuzz_ws_frame.c - libFuzzer target for the WebSocket frame reader and mask
 * (src/wire/ws_frame.c), which read every byte a WebSocket peer sends.
 *
 * The input's first byte picks the direction (masked frames expected or not) and the rest is
 * read three ways: whole, one byte at a time, and in pieces whose sizes come from the input's
 * own bytes. Beyond "no crash, no over-read", it aborts unless all three see the same frames,
 * the same unmasked payload and the same error at the same offset; unless every event keeps
 * its promises (payload inside what was given, offsets in order, done exactly at the frame's
 * length); and unless the vector mask, in place and moved down, equals the byte-wise one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
    size_t frames, payload, error_at; /* error_at: SIZE_MAX when none */
    uint64_t sum;                     /* a checksum of the unmasked payload, by position */
};

static void check(int ok)
{
    if (!ok)
        abort();
}

static void read_all(const uint8_t *in, size_t n, bool from_client, int mode, const uint8_t *steps,
                     size_t nsteps, struct result *res)
{
    struct ws_frame_reader r;
    ws_frame_reader_init(&r, from_client);
    memset(res, 0, sizeof(*res));
    res->error_at = SIZE_MAX;
    static unsigned char plain[1 << 16];
    size_t at = 0, k = 0;
    uint64_t expect = 0;
    while (at < n) {
        size_t piece = mode == 0 ? n - at : mode == 1 ? 1 : 1 + steps[k++ % nsteps] % 23;
        if (piece > n - at)
            piece = n - at;
        size_t used = 0;
        while (used < piece) {
            struct ws_frame_out ev;
            size_t got = ws_frame_read(&r, in + at + used, piece - used, &ev);
            check(got <= piece - used);
            if (ev.event == WS_FRAME_ERROR) {
                check(ev.why != NULL);
                res->error_at = at + used + got;
                return;
            }
            check(got > 0);
            if (ev.event == WS_FRAME_HEAD) {
                res->frames++;
                expect = 0;
                check(ev.done == (r.head.len == 0));
                check(!ws_frame_is_control(r.head.opcode) ||
                      (r.head.fin && r.head.len <= WS_FRAME_CONTROL_MAX));
                check(r.head.masked == from_client);
            } else if (ev.event == WS_FRAME_PAYLOAD) {
                check(ev.data == in + at + used && ev.len == got && ev.offset == expect);
                expect += ev.len;
                check(ev.done == (expect == r.head.len));
                size_t len = ev.len < sizeof(plain) ? ev.len : sizeof(plain);
                if (r.head.masked)
                    ws_frame_mask(plain, ev.data, len, r.head.key, ev.offset);
                else
                    memcpy(plain, ev.data, len);
                for (size_t i = 0; i < len; i++)
                    res->sum += (uint64_t)plain[i] * (res->payload + i + 1);
                res->payload += ev.len;
            } else {
                check(ev.event == WS_FRAME_MORE && got == piece - used);
            }
            used += got;
        }
        at += piece;
    }
}

/* The vector masks (AVX2 where there is, and 16-byte) against the byte-wise one: to another
 * buffer, in place, moved down. */
static void check_mask(const uint8_t *in, size_t n)
{
    if (n < 5)
        return;
    const unsigned char *key = in;
    uint64_t off = in[4];
    in += 5;
    n -= 5;
    if (n > 4096)
        n = 4096;
    static unsigned char want[4096], out[4096 + 16];
    for (size_t i = 0; i < n; i++)
        want[i] = in[i] ^ key[(off + i) % 4];
    ws_frame_mask(out, in, n, key, off);
    check(memcmp(out, want, n) == 0);
    ws_frame_mask_v16(out, in, n, key, off);
    check(memcmp(out, want, n) == 0);
    size_t down = off % 15;
    memcpy(out + down, in, n);
    ws_frame_mask(out, out + down, n, key, off);
    check(memcmp(out, want, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool from_client = data[0] & 1;
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    struct result a, b, c;
    read_all(in, n, from_client, 0, in, n, &a);
    read_all(in, n, from_client, 1, in, n, &b);
    read_all(in, n, from_client, 2, in, n, &c);
    check(a.frames == b.frames && a.frames == c.frames);
    check(a.payload == b.payload && a.payload == c.payload);
    check(a.sum == b.sum && a.sum == c.sum);
    check(a.error_at == b.error_at && a.error_at == c.error_at);
    check_mask(in, n);
    return 0;
}
