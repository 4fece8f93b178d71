/*
 * check_ws_frame.c - the WebSocket frame reader, header writer and mask (src/wire/ws_frame.c)
 * on their own: every header rule (RFC 6455 5.2, 5.5 and 5.1, from memory of those sections),
 * the length encodings at their edges (125/126/65535/65536), frames read back whole and in
 * pieces of every small size, and the vector mask at every key offset and alignment against
 * a byte-by-byte reference, in place and moving down as the transport uses it.
 */
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "wire/ws_frame.h"

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))
/* For checks made per byte or per event: ck_assert reports every check it passes to the
 * parent process, which would take minutes here. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg("failed: %s", #cond);                                                     \
    } while (0)

/* ---- header rules ------------------------------------------------------------------------ */

struct head_case {
    const char *name;
    unsigned char bytes[14];
    size_t n;
    bool from_client;
    int want;        /* the header's size, 0 (more needed) or -1 */
    const char *why; /* for -1: a part of the reason */
    uint64_t len;    /* for a whole header */
};

static const struct head_case head_cases[] = {
    {"binary 5 unmasked, from server", {0x82, 0x05}, 2, false, 2, NULL, 5},
    {"text 0, masked, from client", {0x81, 0x80, 1, 2, 3, 4}, 6, true, 6, NULL, 0},
    {"only one byte", {0x82}, 1, false, 0, NULL, 0},
    {"masked key cut", {0x82, 0x85, 1, 2, 3}, 5, true, 0, NULL, 0},
    {"RSV1", {0xc2, 0x01}, 2, false, -1, "reserved bits", 0},
    {"RSV2", {0xa2, 0x01}, 2, false, -1, "reserved bits", 0},
    {"RSV3", {0x92, 0x01}, 2, false, -1, "reserved bits", 0},
    {"opcode 3", {0x83, 0x01}, 2, false, -1, "unknown opcode", 0},
    {"opcode 7", {0x87, 0x01}, 2, false, -1, "unknown opcode", 0},
    {"opcode 0xb", {0x8b, 0x00}, 2, false, -1, "unknown opcode", 0},
    {"opcode 0xf", {0x8f, 0x00}, 2, false, -1, "unknown opcode", 0},
    {"ping without FIN", {0x09, 0x00}, 2, false, -1, "fragmented", 0},
    {"close without FIN", {0x08, 0x02}, 2, false, -1, "fragmented", 0},
    {"ping of 126 (16-bit length)", {0x89, 0x7e, 0x00, 0x7e}, 4, false, -1, "125", 0},
    {"pong of 127 (64-bit length)", {0x8a, 0x7f}, 2, false, -1, "125", 0},
    {"ping of 125", {0x89, 0x7d}, 2, false, 2, NULL, 125},
    {"unmasked from a client", {0x82, 0x01}, 2, true, -1, "unmasked", 0},
    {"masked from a server", {0x82, 0x81, 1, 2, 3, 4}, 6, false, -1, "server sent a masked", 0},
    {"16-bit 125: not shortest", {0x82, 0x7e, 0x00, 0x7d}, 4, false, -1, "shortest", 0},
    {"16-bit 126", {0x82, 0x7e, 0x00, 0x7e}, 4, false, 4, NULL, 126},
    {"16-bit 65535", {0x82, 0x7e, 0xff, 0xff}, 4, false, 4, NULL, 65535},
    {"64-bit 65535: not shortest",
     {0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
     10,
     false,
     -1,
     "shortest",
     0},
    {"64-bit 65536", {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}, 10, false, 10, NULL, 65536},
    {"64-bit top bit", {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10, false, -1, "top bit", 0},
    {"64-bit 2^63-1",
     {0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
     10,
     false,
     10,
     NULL,
     UINT64_MAX >> 1},
    {"64-bit length cut", {0x02, 0x7f, 0, 0, 0}, 5, false, 0, NULL, 0},
    {"masked 64-bit, key",
     {0x80, 0xff, 0, 0, 0, 0, 0, 1, 0, 1, 9, 8, 7, 6},
     14,
     true,
     14,
     NULL,
     65537},
};

START_TEST(head_rules)
{
    const struct head_case *c = &head_cases[_i];
    struct ws_frame_head h;
    const char *why = NULL;
    int r = ws_frame_head_parse(c->bytes, c->n, c->from_client, &h, &why);
    ck_assert_msg(r == c->want, "%s: got %d, want %d (%s)", c->name, r, c->want, why ? why : "");
    if (r < 0)
        ck_assert_msg(why != NULL && strstr(why, c->why) != NULL, "%s: why %s", c->name, why);
    if (r > 0) {
        ck_assert_msg(h.len == c->len, "%s: len %llu", c->name, (unsigned long long)h.len);
        ck_assert_uint_eq(h.opcode, c->bytes[0] & 0xfu);
        ck_assert_int_eq(h.fin, (c->bytes[0] & 0x80) != 0);
        ck_assert_int_eq(h.masked, c->from_client);
        if (h.masked)
            ck_assert(memcmp(h.key, c->bytes + r - 4, 4) == 0);
    }
}
END_TEST

/* A header is refused as soon as its first two bytes break a rule, before its length comes. */
START_TEST(reader_refuses_early)
{
    struct ws_frame_reader r;
    ws_frame_reader_init(&r, true);
    static const unsigned char bad[] = {0x82, 0x7f, 0, 0}; /* unmasked, from a client */
    struct ws_frame_out ev;
    size_t used = ws_frame_read(&r, bad, sizeof(bad), &ev);
    ck_assert_int_eq(ev.event, WS_FRAME_ERROR);
    ck_assert_uint_eq(used, 2);
    ck_assert_ptr_nonnull(strstr(ev.why, "unmasked"));
}
END_TEST

/* ---- lengths at their edges, written and read back --------------------------------------- */

START_TEST(head_write_edges)
{
    static const uint64_t lens[] = {0, 125, 126, 65535, 65536, (uint64_t)1 << 40};
    static const size_t sizes[] = {2, 2, 4, 4, 10, 10};
    static const unsigned char key[4] = {0xa1, 0xb2, 0xc3, 0xd4};
    for (int i = 0; i < N_ELEMS(lens); i++) {
        for (int masked = 0; masked < 2; masked++) {
            unsigned char out[WS_FRAME_HEAD_MAX];
            size_t n = ws_frame_head_write(out, WS_OP_BINARY, i % 2, lens[i], masked ? key : NULL);
            ck_assert_uint_eq(n, sizes[i] + (masked ? 4 : 0));
            struct ws_frame_head h;
            const char *why = NULL;
            ck_assert_int_eq(ws_frame_head_parse(out, n, masked, &h, &why), (int)n);
            ck_assert(h.len == lens[i]);
            ck_assert_int_eq(h.fin, i % 2);
            ck_assert_uint_eq(h.opcode, WS_OP_BINARY);
            /* One byte short is "more", never a frame or an error. */
            ck_assert_int_eq(ws_frame_head_parse(out, n - 1, masked, &h, &why), 0);
            if (masked)
                ck_assert(memcmp(h.key, key, 4) == 0);
        }
    }
}
END_TEST

/* ---- frames read whole and in pieces ------------------------------------------------------ */

static void ref_mask(unsigned char *dst, const unsigned char *src, size_t n,
                     const unsigned char key[4], uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] ^ key[(off + i) % 4];
}

struct stream {
    unsigned char *p;
    size_t len;
    unsigned char *plain; /* the data frames' payload, in order */
    size_t plain_len;
    int frames;
};

static void put_frame(struct stream *s, unsigned opcode, bool fin, size_t n, bool masked,
                      unsigned seed)
{
    unsigned char key[4] = {(unsigned char)(seed * 7 + 1), (unsigned char)(seed * 13 + 2),
                            (unsigned char)(seed * 31 + 3), (unsigned char)(seed + 4)};
    s->len += ws_frame_head_write(s->p + s->len, opcode, fin, n, masked ? key : NULL);
    unsigned char *body = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        body[i] = (unsigned char)(i * 131 + seed);
    if (masked)
        ref_mask(s->p + s->len, body, n, key, 0);
    else
        memcpy(s->p + s->len, body, n);
    s->len += n;
    if (!ws_frame_is_control(opcode)) {
        memcpy(s->plain + s->plain_len, body, n);
        s->plain_len += n;
    }
    s->frames++;
    free(body);
}

/* Data frames of the edge lengths with control frames between them. */
static void make_stream(struct stream *s, bool masked)
{
    static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70001};
    size_t cap = 0;
    for (int i = 0; i < N_ELEMS(lens); i++)
        cap += lens[i] + WS_FRAME_HEAD_MAX + 125 + WS_FRAME_HEAD_MAX;
    memset(s, 0, sizeof(*s));
    s->p = malloc(cap);
    s->plain = malloc(cap);
    for (int i = 0; i < N_ELEMS(lens); i++) {
        put_frame(s, i % 3 == 1 ? WS_OP_TEXT : WS_OP_BINARY, true, lens[i], masked, (unsigned)i);
        put_frame(s, i % 2 ? WS_OP_PING : WS_OP_PONG, true, (size_t)(i * 17) % 126, masked,
                  (unsigned)i + 100);
    }
}

/* Reads s in pieces of step bytes (0: whole); checks every event and the payload. */
static void read_stream(const struct stream *s, bool masked, size_t step)
{
    struct ws_frame_reader r;
    ws_frame_reader_init(&r, masked);
    unsigned char *got = malloc(s->plain_len + 1);
    size_t got_len = 0, at = 0;
    int heads = 0, done = 0;
    uint64_t expect_off = 0;
    while (at < s->len) {
        size_t piece = step == 0 || step > s->len - at ? s->len - at : step;
        size_t used = 0;
        while (used < piece) {
            struct ws_frame_out ev;
            size_t k = ws_frame_read(&r, s->p + at + used, piece - used, &ev);
            REQUIRE(k > 0);
            REQUIRE(k <= piece - used);
            REQUIRE(ev.event != WS_FRAME_ERROR);
            if (ev.event == WS_FRAME_HEAD) {
                heads++;
                expect_off = 0;
                REQUIRE(ev.done == (r.head.len == 0));
                done += ev.done;
            } else if (ev.event == WS_FRAME_PAYLOAD) {
                REQUIRE(ev.data == s->p + at + used);
                REQUIRE(ev.len == k);
                REQUIRE(ev.offset == expect_off);
                expect_off += ev.len;
                REQUIRE(ev.done == (expect_off == r.head.len));
                done += ev.done;
                if (!ws_frame_is_control(r.head.opcode)) {
                    if (masked)
                        ws_frame_mask(got + got_len, ev.data, ev.len, r.head.key, ev.offset);
                    else
                        memcpy(got + got_len, ev.data, ev.len);
                    got_len += ev.len;
                }
            } else {
                REQUIRE(ev.event == WS_FRAME_MORE);
                REQUIRE(k == piece - used);
            }
            used += k;
        }
        at += piece;
    }
    REQUIRE(heads == s->frames);
    REQUIRE(done == s->frames);
    REQUIRE(got_len == s->plain_len);
    REQUIRE(memcmp(got, s->plain, got_len) == 0);
    free(got);
}

/* _i: 0 unmasked (a client reads), 1 masked (a server reads). */
START_TEST(reader_whole_and_in_pieces)
{
    bool masked = _i;
    struct stream s;
    make_stream(&s, masked);
    static const size_t steps[] = {0, 1, 2, 3, 5, 7, 13, 14, 15, 4096, 65537};
    for (int i = 0; i < N_ELEMS(steps); i++)
        read_stream(&s, masked, steps[i]);
    free(s.p);
    free(s.plain);
}
END_TEST

/* ---- the mask --------------------------------------------------------------------------- */

/*
 * Every key offset (and one past 2^32), every source alignment in 16, lengths odd and even
 * around the 16- and 64-byte steps: into another buffer, in place, and moved down by 1..14
 * bytes (the transport's in-place compaction), each against the byte-by-byte reference.
 */
typedef void (*mask_fn)(unsigned char *, const unsigned char *, size_t, const unsigned char *,
                        uint64_t);

/* _i 0: ws_frame_mask (AVX2 where the CPU has it); 1: the 16-byte path every CPU has. */
START_TEST(mask_matches_reference)
{
    mask_fn mask = _i == 0 ? ws_frame_mask : ws_frame_mask_v16;
    static const unsigned char key[4] = {0x5c, 0xe3, 0x01, 0x9a};
    static const size_t lens[] = {0,  1,  3,  15,  16,  17,  31,   33,
                                  63, 64, 65, 127, 129, 255, 1001, 4097};
    static const uint64_t offsets[] = {0, 1, 2, 3, 4, 5, 6, 7, ((uint64_t)1 << 32) + 3};
    unsigned char src[4200], dst[4200], want[4200], buf[4300];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (unsigned char)(i * 37 + 11);
    for (int li = 0; li < N_ELEMS(lens); li++) {
        size_t n = lens[li];
        for (int oi = 0; oi < N_ELEMS(offsets); oi++) {
            uint64_t off = offsets[oi];
            for (size_t align = 0; align < 16; align++) {
                ref_mask(want, src + align, n, key, off);
                memset(dst, 0xee, sizeof(dst));
                mask(dst + (15 - align), src + align, n, key, off);
                REQUIRE(memcmp(dst + (15 - align), want, n) == 0);
                REQUIRE(dst[15 - align + n] == 0xee); /* nothing written past n */
                memcpy(buf, src + align, n);
                mask(buf, buf, n, key, off);
                REQUIRE(memcmp(buf, want, n) == 0);
            }
            for (size_t down = 1; down <= 14; down++) {
                memcpy(buf + down, src, n);
                mask(buf, buf + down, n, key, off);
                ref_mask(want, src, n, key, off);
                REQUIRE(memcmp(buf, want, n) == 0);
            }
        }
    }
}
END_TEST

Suite *make_ws_frame_suite(void)
{
    Suite *s = suite_create("ws_frame");
    TCase *tc = tcase_create("Header");
    tcase_add_loop_test(tc, head_rules, 0, N_ELEMS(head_cases));
    tcase_add_test(tc, reader_refuses_early);
    tcase_add_test(tc, head_write_edges);
    suite_add_tcase(s, tc);
    tc = tcase_create("Reader");
    tcase_add_loop_test(tc, reader_whole_and_in_pieces, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("Mask");
    tcase_add_loop_test(tc, mask_matches_reference, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
