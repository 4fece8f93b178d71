/*
 * check_reasm.c - message reassembly (src/msrp/reasm.c).
 *
 * Most cases deliver a message as a "plan" of chunks and check the reassembler after every
 * chunk against a byte map of what has arrived: the bytes it must hold out of order (received
 * minus the contiguous prefix), the overlap so far, whether anything arrived ahead of the
 * prefix, and the exact step at which the message completes. Every completed message is
 * compared with a SHA-256 of the original body computed in one piece here; a few known-answer
 * digests make sure that comparison itself is not circular.
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msrp/reasm.h"
#include "suites.h"
#include "testutil.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define U MSRP_RANGE_UNKNOWN

#define PROGRESS MSRP_REASM_PROGRESS
#define COMPLETE MSRP_REASM_COMPLETE
#define ABORTED MSRP_REASM_ABORTED
#define E_LIMIT MSRP_REASM_E_LIMIT
#define E_TOO_LARGE MSRP_REASM_E_TOO_LARGE
#define E_RANGE MSRP_REASM_E_RANGE
#define E_CONFLICT MSRP_REASM_E_CONFLICT
#define E_REFUSED MSRP_REASM_E_REFUSED

/* SHA-256 of the empty string and of "abc" (FIPS 180-2 appendix B.1). */
static const unsigned char sha_empty[32] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
static const unsigned char sha_abc[32] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
static const unsigned char zeros[32];

/* ---- helpers ---------------------------------------------------------------------------- */

static void fill_rand(unsigned char *p, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = test_rand(state);
        memcpy(p + i, &v, n - i < 8 ? n - i : 8);
    }
}

/* n pseudo-random bytes; seed picks them. */
static unsigned char *make_body(size_t n, uint64_t seed)
{
    unsigned char *b = malloc(n != 0 ? n : 1);
    ck_assert_ptr_nonnull(b);
    uint64_t state = seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
    fill_rand(b, n, &state);
    return b;
}

static void sha256_of(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 0;
    ck_assert_int_eq(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), 1);
    ck_assert_uint_eq(len, 32);
}

static struct msrp_reasm *make(size_t max_buffered, size_t max_messages, uint64_t max_message)
{
    struct msrp_reasm_limits l = {max_buffered, max_messages, max_message};
    struct msrp_reasm *r = msrp_reasm_create(&l);
    ck_assert_ptr_nonnull(r);
    return r;
}

static enum msrp_reasm_status add(struct msrp_reasm *r, const char *id, uint64_t pos,
                                  const void *data, size_t len, char flag, uint64_t end,
                                  uint64_t total, struct msrp_reasm_done *done)
{
    return msrp_reasm_add(r, msrp_span_cstr(id), pos, data, len, flag, end, total, done);
}

/*
 * Sends one chunk: len bytes from data at position pos, in pieces of at most seg bytes (0: one
 * piece) as virtual segments arrive, the chunk's flag, end and total on the last piece only.
 * Every piece but the last must answer PROGRESS; the last piece's answer is returned.
 */
static enum msrp_reasm_status send_chunk(struct msrp_reasm *r, const char *id, uint64_t pos,
                                         const unsigned char *data, size_t len, size_t seg,
                                         char flag, uint64_t end, uint64_t total,
                                         struct msrp_reasm_done *done)
{
    size_t off = 0;
    if (seg == 0)
        seg = len != 0 ? len : 1;
    while (len - off > seg) {
        enum msrp_reasm_status s = add(r, id, pos + off, data + off, seg, 0, U, U, done);
        ck_assert_msg(s == PROGRESS, "piece at %" PRIu64 ": %s", pos + off,
                      msrp_reasm_status_name(s));
        off += seg;
    }
    return add(r, id, pos + off, data + off, len - off, flag, end, total, done);
}

static void assert_status(enum msrp_reasm_status got, enum msrp_reasm_status want)
{
    ck_assert_msg(got == want, "status %s, want %s", msrp_reasm_status_name(got),
                  msrp_reasm_status_name(want));
}

static void assert_empty(const struct msrp_reasm *r)
{
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 0);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 0);
}

/* ---- the model ---------------------------------------------------------------------------- */

enum total_mode {
    TOTAL_NUM,  /* every chunk's Byte-Range total is the number */
    TOTAL_STAR, /* every total is "*": only the "$" chunk tells the size */
};

/* What the reassembler must have seen of one message, byte by byte. */
struct model {
    const char *id;
    const unsigned char *body;
    size_t n;
    unsigned char *got;
    size_t received, prefix;
    uint64_t overlap, chunks;
    bool ooo, total_known, done;
    bool solo; /* the only message in the reassembler: buffered and in_progress are exact */
};

static void model_init(struct model *m, const char *id, const unsigned char *body, size_t n)
{
    *m = (struct model){.id = id, .body = body, .n = n, .solo = true};
    m->got = calloc(n != 0 ? n : 1, 1);
    ck_assert_ptr_nonnull(m->got);
}

static void model_free(struct model *m)
{
    free(m->got);
}

/*
 * Delivers chunk [start, start + len) of the model's message and checks the answer: COMPLETE
 * with exact figures at the step where every byte is in and the size is known, PROGRESS with
 * the exact buffered byte count before that.
 */
static void step(struct msrp_reasm *r, struct model *m, uint64_t start, size_t len,
                 enum total_mode mode, size_t seg, bool end_star)
{
    ck_assert_msg(!m->done, "plan continues after completion");
    ck_assert(len > 0 && start >= 1 && start - 1 + len <= m->n);
    uint64_t last = start - 1 + len;
    char flag = last == m->n ? '$' : '+';

    if (start > m->prefix + 1)
        m->ooo = true;
    for (uint64_t i = start - 1; i < last; i++) {
        if (m->got[i]) {
            m->overlap++;
        } else {
            m->got[i] = 1;
            m->received++;
        }
    }
    while (m->prefix < m->n && m->got[m->prefix])
        m->prefix++;
    m->chunks++;
    if (mode == TOTAL_NUM || flag == '$')
        m->total_known = true;
    bool complete = m->total_known && m->prefix == m->n;

    struct msrp_reasm_done done;
    memset(&done, 0xa5, sizeof(done));
    enum msrp_reasm_status s = send_chunk(r, m->id, start, m->body + start - 1, len, seg, flag,
                                          end_star ? U : last, mode == TOTAL_NUM ? m->n : U, &done);
    if (!complete) {
        ck_assert_msg(s == PROGRESS, "chunk %" PRIu64 "-%" PRIu64 ": %s, want progress", start,
                      last, msrp_reasm_status_name(s));
        if (m->solo) {
            ck_assert_uint_eq(msrp_reasm_buffered(r), m->received - m->prefix);
            ck_assert_uint_eq(msrp_reasm_in_progress(r), 1);
        }
        return;
    }
    ck_assert_msg(s == COMPLETE, "chunk %" PRIu64 "-%" PRIu64 ": %s, want complete", start, last,
                  msrp_reasm_status_name(s));
    m->done = true;
    unsigned char want[32];
    sha256_of(m->body, m->n, want);
    ck_assert_str_eq(done.message_id, m->id);
    ck_assert_uint_eq(done.total, m->n);
    ck_assert_uint_eq(done.chunks, m->chunks);
    ck_assert_uint_eq(done.overlap_bytes, m->overlap);
    ck_assert_int_eq(done.out_of_order, m->ooo);
    ck_assert_mem_eq(done.sha256, want, 32);
    if (m->solo)
        assert_empty(r);
}

/* One chunk in a plan: [start, start + len). */
struct span {
    uint64_t start;
    size_t len;
};

/* Cuts n bytes into count chunks of random sizes (at least 1 byte each); returns count. */
static size_t random_cut(size_t n, size_t max_len, uint64_t *rng, struct span *out, size_t cap)
{
    size_t count = 0;
    for (uint64_t pos = 1; pos <= n; count++) {
        ck_assert_uint_lt(count, cap);
        size_t len = 1 + (size_t)(test_rand(rng) % max_len);
        if (len > n - (pos - 1))
            len = n - (size_t)(pos - 1);
        out[count] = (struct span){pos, len};
        pos += len;
    }
    return count;
}

static void shuffle(struct span *s, size_t n, uint64_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(test_rand(rng) % i);
        struct span t = s[i - 1];
        s[i - 1] = s[j];
        s[j] = t;
    }
}

/* ---- InOrder ---------------------------------------------------------------------------- */

static const struct in_order_case {
    size_t n, chunk, seg;
    enum total_mode mode;
    bool end_star;
} in_order_cases[] = {
    {10007, 1, 0, TOTAL_NUM, false},     {10007, 7, 0, TOTAL_NUM, false},
    {10007, 100, 0, TOTAL_STAR, false},  {10007, 1000, 0, TOTAL_NUM, true},
    {10007, 4096, 0, TOTAL_STAR, true},  {10007, 10007, 0, TOTAL_NUM, false},
    {10007, 10007, 0, TOTAL_STAR, true}, {10007, 4096, 1000, TOTAL_NUM, false},
    {10007, 4096, 1, TOTAL_STAR, true},  {10007, 10007, 333, TOTAL_STAR, false},
    {1, 1, 0, TOTAL_NUM, false},         {1, 1, 0, TOTAL_STAR, true},
};

START_TEST(test_in_order)
{
    const struct in_order_case *c = &in_order_cases[_i];
    unsigned char *body = make_body(c->n, (uint64_t)_i);
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    ck_assert_ptr_nonnull(r);
    struct model m;
    model_init(&m, "in-order-1", body, c->n);
    for (uint64_t pos = 1; pos <= c->n; pos += c->chunk) {
        size_t len = c->n - (pos - 1) < c->chunk ? c->n - (size_t)(pos - 1) : c->chunk;
        step(r, &m, pos, len, c->mode, c->seg, c->end_star);
        ck_assert_uint_eq(msrp_reasm_buffered(r), 0);
    }
    ck_assert(m.done);
    ck_assert(!m.ooo);
    ck_assert_uint_eq(m.chunks, (c->n + c->chunk - 1) / c->chunk);
    model_free(&m);
    msrp_reasm_destroy(r);
    free(body);
}
END_TEST

/* Known answers: the digest is SHA-256 itself, not merely what EVP_Digest says here. */
START_TEST(test_known_answer)
{
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;
    assert_status(add(r, "kat-abc", 3, "c", 1, '$', 3, U, &d), PROGRESS);
    assert_status(add(r, "kat-abc", 1, "a", 1, '+', 1, U, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 1);
    assert_status(add(r, "kat-abc", 2, "b", 1, '+', 2, U, &d), COMPLETE);
    ck_assert_mem_eq(d.sha256, sha_abc, 32);
    ck_assert_uint_eq(d.total, 3);
    ck_assert_uint_eq(d.chunks, 3);
    ck_assert(d.out_of_order);
    assert_empty(r);
    msrp_reasm_destroy(r);
}
END_TEST

/* Empty messages (RFC 4975 section 7.1: a SEND may have no body, Byte-Range 1-0/0). */
static const struct empty_case {
    uint64_t end, total;
    char flag;
} empty_cases[] = {
    {0, 0, '$'}, {U, U, '$'}, {0, U, '$'}, {U, 0, '$'}, {0, 0, '+'}, {U, 0, '+'},
};

START_TEST(test_empty_message)
{
    const struct empty_case *c = &empty_cases[_i];
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;
    memset(&d, 0xa5, sizeof(d));
    assert_status(add(r, "empty-msg", 1, "", 0, c->flag, c->end, c->total, &d), COMPLETE);
    ck_assert_str_eq(d.message_id, "empty-msg");
    ck_assert_uint_eq(d.total, 0);
    ck_assert_uint_eq(d.chunks, 1);
    ck_assert_uint_eq(d.overlap_bytes, 0);
    ck_assert(!d.out_of_order);
    ck_assert_mem_eq(d.sha256, sha_empty, 32);
    assert_empty(r);
    msrp_reasm_destroy(r);
}
END_TEST

/* The last chunk may be empty ("11-10/10", RFC 4975 section 7.1.1 arithmetic), and a chunk's
 * last piece may carry no bytes: completion waits for the piece with the flag. */
START_TEST(test_empty_last_piece)
{
    unsigned char *body = make_body(10, 7);
    unsigned char want[32];
    sha256_of(body, 10, want);
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;

    assert_status(add(r, "tail-empty", 1, body, 10, '+', 10, U, &d), PROGRESS);
    assert_status(add(r, "tail-empty", 11, body, 0, '$', 10, 10, &d), COMPLETE);
    ck_assert_uint_eq(d.total, 10);
    ck_assert_uint_eq(d.chunks, 2);
    ck_assert_mem_eq(d.sha256, want, 32);
    assert_empty(r);

    /* One chunk 1-10/10 in two pieces: all bytes, then an empty piece with the flag. */
    assert_status(add(r, "tail-empty", 1, body, 10, 0, U, U, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 1);
    assert_status(add(r, "tail-empty", 11, body, 0, '$', 10, 10, &d), COMPLETE);
    ck_assert_uint_eq(d.chunks, 1);
    ck_assert_mem_eq(d.sha256, want, 32);
    assert_empty(r);

    /* done may be NULL. */
    assert_status(add(r, "no-done", 1, body, 10, '$', 10, 10, NULL), COMPLETE);
    assert_status(add(r, "no-done", 1, body, 10, '#', 10, 10, NULL), ABORTED);
    assert_empty(r);

    /* A piece with neither bytes nor a flag does not create a message. */
    assert_status(add(r, "nothing-yet", 1, body, 0, 0, U, U, &d), PROGRESS);
    assert_empty(r);
    msrp_reasm_destroy(r);
    free(body);
}
END_TEST

/* Three messages with chunks interleaved. A starts in the middle slot and finishes first, so
 * the slot array is compacted while the others go on. */
START_TEST(test_interleaved)
{
    static const char *ids[3] = {"AAAA-1", "BBBB-2", "CCCC-3"};
    static const size_t sizes[3] = {1200, 5000, 3000};
    const size_t chunk = 400;
    unsigned char *bodies[3];
    struct model ms[3];
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    for (size_t k = 0; k < 3; k++) {
        bodies[k] = make_body(sizes[k], 100 + k);
        model_init(&ms[k], ids[k], bodies[k], sizes[k]);
        ms[k].solo = false;
    }
    /* C's third chunk comes first, so one message holds bytes while the others run. */
    step(r, &ms[2], 801, chunk, TOTAL_STAR, 0, false);
    ck_assert_uint_eq(msrp_reasm_buffered(r), chunk);
    for (size_t round = 0; round * chunk < 5000; round++) {
        for (size_t k = 0; k < 3; k++) {
            uint64_t pos = round * chunk + 1;
            if (pos > sizes[k] || (k == 2 && pos == 801))
                continue;
            size_t len = sizes[k] - (pos - 1) < chunk ? sizes[k] - (size_t)(pos - 1) : chunk;
            step(r, &ms[k], pos, len, k == 1 ? TOTAL_NUM : TOTAL_STAR, 128, false);
            size_t live = 0;
            for (size_t j = 0; j < 3; j++)
                live += ms[j].chunks > 0 && !ms[j].done;
            ck_assert_uint_eq(msrp_reasm_in_progress(r), live);
        }
        ck_assert_uint_eq(msrp_reasm_buffered(r), round == 0 ? chunk : 0);
        ck_assert_int_eq(ms[0].done, round >= 2);
    }
    for (size_t k = 0; k < 3; k++) {
        ck_assert(ms[k].done);
        ck_assert_int_eq(ms[k].ooo, k == 2);
        model_free(&ms[k]);
        free(bodies[k]);
    }
    assert_empty(r);
    msrp_reasm_destroy(r);
}
END_TEST

/* ---- OutOfOrder --------------------------------------------------------------------------- */

static const size_t perm_sizes[5] = {100, 250, 1, 449, 200}; /* 1000 bytes */
#define PERM_COUNT 120
#define PERM_MODES 4

static void nth_permutation(size_t k, size_t n, size_t *out)
{
    size_t pool[8], fact = 1;
    for (size_t i = 0; i < n; i++) {
        pool[i] = i;
        if (i > 0)
            fact *= i;
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = k / fact;
        k %= fact;
        out[i] = pool[j];
        memmove(pool + j, pool + j + 1, (n - 1 - i - j) * sizeof(pool[0]));
        if (n - 1 - i > 0)
            fact /= n - 1 - i;
    }
}

/* Every order of 5 chunks, with numeric or "*" totals, whole or in 7-byte virtual segments. */
START_TEST(test_permutations)
{
    size_t perm[5];
    nth_permutation((size_t)_i % PERM_COUNT, 5, perm);
    enum total_mode mode = (_i / PERM_COUNT) % 2 ? TOTAL_STAR : TOTAL_NUM;
    size_t seg = (_i / PERM_COUNT) / 2 ? 7 : 0;

    struct span chunks[5];
    uint64_t pos = 1;
    for (size_t i = 0; i < 5; i++) {
        chunks[i] = (struct span){pos, perm_sizes[i]};
        pos += perm_sizes[i];
    }
    unsigned char *body = make_body(1000, 3);
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct model m;
    model_init(&m, "perm-5", body, 1000);
    bool identity = true;
    for (size_t i = 0; i < 5; i++) {
        identity = identity && perm[i] == i;
        step(r, &m, chunks[perm[i]].start, chunks[perm[i]].len, mode, seg, i % 2 == 0);
    }
    ck_assert(m.done);
    ck_assert_int_eq(m.ooo, !identity);
    model_free(&m);
    msrp_reasm_destroy(r);
    free(body);
}
END_TEST

/* Reverse order: every chunk lands right before the held bytes (an extent grows forwards). */
static const struct reverse_case {
    size_t n, chunk, seg;
} reverse_cases[] = {{10000, 50, 0}, {10000, 1, 0}, {10000, 999, 100}, {3, 1, 0}};

START_TEST(test_reverse)
{
    const struct reverse_case *c = &reverse_cases[_i];
    unsigned char *body = make_body(c->n, 11);
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct model m;
    model_init(&m, "reverse", body, c->n);
    size_t count = (c->n + c->chunk - 1) / c->chunk;
    for (size_t k = count; k-- > 0;) {
        uint64_t pos = (uint64_t)k * c->chunk + 1;
        size_t len = c->n - (pos - 1) < c->chunk ? c->n - (size_t)(pos - 1) : c->chunk;
        step(r, &m, pos, len, TOTAL_STAR, c->seg, false);
        if (k > 0)
            ck_assert_uint_eq(msrp_reasm_buffered(r), c->n - (pos - 1));
    }
    ck_assert(m.done);
    ck_assert_int_eq(m.ooo, count > 1);
    model_free(&m);
    msrp_reasm_destroy(r);
    free(body);
}
END_TEST

/* Random cuts in random order, deterministic per seed. */
START_TEST(test_shuffled)
{
    uint64_t rng = UINT64_C(0x1234567) + (uint64_t)_i * 7919;
    size_t n = 2000 + (size_t)(test_rand(&rng) % 60000);
    size_t max_len = 1 + (size_t)(test_rand(&rng) % 3000);
    size_t seg = (_i % 3 == 0) ? 0 : 1 + (size_t)(test_rand(&rng) % 500);
    enum total_mode mode = _i % 2 ? TOTAL_STAR : TOTAL_NUM;
    struct span *chunks = malloc(n * sizeof(*chunks));
    ck_assert_ptr_nonnull(chunks);
    size_t count = random_cut(n, max_len, &rng, chunks, n);
    shuffle(chunks, count, &rng);

    unsigned char *body = make_body(n, (uint64_t)_i);
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct model m;
    model_init(&m, "shuffled.msg", body, n);
    for (size_t i = 0; i < count; i++)
        step(r, &m, chunks[i].start, chunks[i].len, mode, seg, test_rand(&rng) % 2);
    ck_assert(m.done);
    model_free(&m);
    msrp_reasm_destroy(r);
    free(body);
    free(chunks);
}
END_TEST

/* Overlapping chunks with hand-counted overlap (message of 20 bytes, numeric totals). */
static const struct overlap_case {
    struct span chunks[12];
    size_t count;
    uint64_t overlap;
    bool ooo;
} overlap_cases[] = {
    /* into the hashed prefix */
    {{{1, 10}, {5, 11}, {11, 10}}, 3, 6 + 5, false},
    {{{1, 5}, {3, 2}, {6, 15}}, 3, 2, false},
    /* into held bytes, then the prefix catches up */
    {{{11, 10}, {5, 11}, {1, 10}}, 3, 5 + 6, true},
    {{{5, 6}, {5, 6}, {1, 4}, {11, 10}}, 4, 6, true},
    /* one chunk covering two held extents, and one bridging them */
    {{{10, 3}, {14, 3}, {1, 20}}, 3, 6, true},
    {{{10, 3}, {14, 3}, {8, 11}, {1, 20}}, 4, 6 + 11, true},
    /* held inside a bigger held extent, and an extent touched on both sides */
    {{{5, 10}, {7, 3}, {4, 1}, {15, 1}, {1, 3}, {16, 5}}, 6, 3, true},
    /* single bytes everywhere, then everything */
    {{{1, 1}, {3, 1}, {5, 1}, {7, 1}, {9, 1}, {11, 1}, {13, 1}, {15, 1}, {17, 1}, {19, 1}, {1, 20}},
     11,
     10,
     true},
    {{{2, 19}, {1, 1}}, 2, 0, true},
    /* the piece reaching the prefix runs through an extent and beyond it */
    {{{6, 5}, {1, 15}, {12, 9}}, 3, 5 + 4, true},
};

START_TEST(test_overlap_table)
{
    const struct overlap_case *c = &overlap_cases[_i];
    unsigned char *body = make_body(20, 5);
    /* Each case whole, then with every chunk in 2-byte virtual segments. */
    for (size_t seg = 0; seg <= 2; seg += 2) {
        struct msrp_reasm *r = msrp_reasm_create(NULL);
        struct model m;
        model_init(&m, "overlap", body, 20);
        for (size_t i = 0; i < c->count; i++)
            step(r, &m, c->chunks[i].start, c->chunks[i].len, TOTAL_NUM, seg, false);
        ck_assert(m.done);
        ck_assert_uint_eq(m.overlap, c->overlap);
        ck_assert_int_eq(m.ooo, c->ooo);
        model_free(&m);
        msrp_reasm_destroy(r);
    }
    free(body);
}
END_TEST

/* Random overlapping chunks until every byte is covered, then the remaining gaps in reverse. */
START_TEST(test_overlap_random)
{
    uint64_t rng = UINT64_C(0xfeed) + (uint64_t)_i * 104729;
    size_t n = 500 + (size_t)(test_rand(&rng) % 8000);
    enum total_mode mode = _i % 2 ? TOTAL_STAR : TOTAL_NUM;
    size_t seg = (_i % 4) < 2 ? 0 : 1 + (size_t)(test_rand(&rng) % 64);
    unsigned char *body = make_body(n, 1000 + (uint64_t)_i);
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct model m;
    model_init(&m, "overlap-random", body, n);
    for (size_t k = 0; k < 60 && !m.done; k++) {
        uint64_t start = 1 + test_rand(&rng) % n;
        size_t room = n - (size_t)(start - 1);
        size_t len = 1 + (size_t)(test_rand(&rng) % (room < 700 ? room : 700));
        step(r, &m, start, len, mode, seg, false);
    }
    for (size_t end = n; !m.done;) {
        while (end > 0 && m.got[end - 1])
            end--;
        ck_assert_uint_gt(end, 0);
        size_t start = end;
        while (start > 1 && !m.got[start - 2])
            start--;
        step(r, &m, start, end - start + 1, mode, seg, false);
    }
    ck_assert_uint_gt(m.overlap, 0);
    model_free(&m);
    msrp_reasm_destroy(r);
    free(body);
}
END_TEST

/* ---- Totals --------------------------------------------------------------------------------- */

static unsigned char tbody[64];

static void tbody_init(void)
{
    uint64_t state = 77;
    fill_rand(tbody, sizeof(tbody), &state);
}

/* One delivery in a table-driven sequence: position, length, flag, end, total, answer. */
struct delivery {
    uint64_t pos;
    size_t len;
    char flag;
    uint64_t end, total;
    enum msrp_reasm_status want;
};

static const struct totals_case {
    const char *what;
    struct delivery d[4];
    size_t count;
} totals_cases[] = {
    {"total changes", {{1, 10, '+', 10, 40, PROGRESS}, {11, 10, '+', 20, 41, E_RANGE}}, 2},
    {"total changes while held",
     {{21, 10, '+', 30, 40, PROGRESS}, {1, 10, '+', 10, 39, E_RANGE}},
     2},
    {"total becomes a number",
     {{1, 10, '+', 10, U, PROGRESS},
      {11, 10, '+', 20, 25, PROGRESS},
      {21, 5, '$', 25, U, COMPLETE}},
     3},
    {"bytes beyond the total", {{1, 10, '+', 10, 15, PROGRESS}, {11, 10, '+', 20, 15, E_RANGE}}, 2},
    {"held bytes beyond a later total",
     {{31, 10, '+', 40, U, PROGRESS}, {1, 10, '+', 10, 20, E_RANGE}},
     2},
    {"held bytes beyond a later $",
     {{31, 10, '+', 40, U, PROGRESS}, {1, 10, '$', 10, U, E_RANGE}},
     2},
    {"$ before its total", {{1, 10, '+', 10, U, PROGRESS}, {11, 5, '$', 15, 30, E_RANGE}}, 2},
    {"$ then another total", {{11, 10, '$', 20, U, PROGRESS}, {1, 10, '+', 10, 25, E_RANGE}}, 2},
    {"$ then bytes beyond it", {{11, 10, '$', 20, U, PROGRESS}, {21, 1, '+', 21, U, E_RANGE}}, 2},
    {"$ end is not its last byte",
     {{1, 10, '+', 10, U, PROGRESS}, {11, 5, '$', 20, U, E_RANGE}},
     2},
    {"+ runs past its end", {{1, 10, '+', 5, U, E_RANGE}}, 1},
    /* RFC 4975 section 7.1.1: an interrupted chunk ends short of its Byte-Range end */
    {"interrupted +", {{1, 10, '+', 20, 30, PROGRESS}, {11, 20, '$', 30, 30, COMPLETE}}, 2},
    {"interrupted + then resent",
     {{1, 10, '+', 30, 30, PROGRESS}, {5, 26, '$', 30, 30, COMPLETE}},
     2},
    {"empty total after bytes", {{1, 10, '+', 10, U, PROGRESS}, {11, 0, '$', 10, 0, E_RANGE}}, 2},
    {"bad flag", {{1, 10, '+', 10, U, PROGRESS}, {11, 10, 'x', 20, U, E_RANGE}}, 2},
    {"position 0", {{1, 10, '+', 10, U, PROGRESS}, {0, 1, '+', 0, U, E_RANGE}}, 2},
};

START_TEST(test_totals)
{
    const struct totals_case *c = &totals_cases[_i];
    tbody_init();
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;
    for (size_t i = 0; i < c->count; i++) {
        const struct delivery *x = &c->d[i];
        const unsigned char *data = x->pos > 0 ? tbody + x->pos - 1 : tbody;
        enum msrp_reasm_status s =
            add(r, "totals", x->pos, data, x->len, x->flag, x->end, x->total, &d);
        ck_assert_msg(s == x->want, "%s, step %zu: %s, want %s", c->what, i,
                      msrp_reasm_status_name(s), msrp_reasm_status_name(x->want));
    }
    enum msrp_reasm_status last = c->d[c->count - 1].want;
    if (last == COMPLETE) {
        uint64_t n = c->d[c->count - 1].pos + c->d[c->count - 1].len - 1;
        unsigned char want[32];
        sha256_of(tbody, n, want);
        ck_assert_uint_eq(d.total, n);
        ck_assert_mem_eq(d.sha256, want, 32);
    }
    /* Errors drop the message and every byte it held. */
    assert_empty(r);
    msrp_reasm_destroy(r);
}
END_TEST

/* Bytes that come again must come back equal, whether held or hashed already. */
START_TEST(test_overlap_differs)
{
    tbody_init();
    unsigned char bad[64];
    memcpy(bad, tbody, sizeof(bad));
    bad[16] ^= 0x01; /* position 17 */
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;

    assert_status(add(r, "differ", 11, tbody + 10, 10, '+', 20, 30, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 10);
    assert_status(add(r, "differ", 15, bad + 14, 10, '+', 24, 30, &d), E_CONFLICT);
    assert_empty(r);
    ck_assert_ptr_nonnull(strstr(msrp_reasm_why(r), "other content"));
    /* Refused: the rest of the message does not start a new one (RFC 4975 section 10.5). */
    assert_status(add(r, "differ", 1, tbody, 10, '+', 10, 30, &d), E_REFUSED);
    assert_empty(r);

    /* The same bytes but equal: accepted, 6 bytes of overlap. */
    assert_status(add(r, "same", 11, tbody + 10, 10, '+', 20, 30, &d), PROGRESS);
    assert_status(add(r, "same", 15, tbody + 14, 10, '+', 24, 30, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 14);
    assert_status(add(r, "same", 1, tbody, 10, '+', 10, 30, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 0);
    /* Hashed already: an equal repeat is counted and checked... */
    assert_status(add(r, "same", 12, tbody + 11, 10, '+', 21, 30, &d), PROGRESS);
    assert_status(add(r, "same", 25, tbody + 24, 6, '$', 30, 30, &d), COMPLETE);
    unsigned char want[32];
    sha256_of(tbody, 30, want);
    ck_assert_mem_eq(d.sha256, want, 32);
    ck_assert_uint_eq(d.overlap_bytes, 6 + 10);
    ck_assert_uint_eq(d.overlap_unchecked, 0);
    ck_assert_uint_eq(d.chunks, 5);
    assert_empty(r);

    /* ...and a differing one is refused, not hashed into a mixture. */
    assert_status(add(r, "mixed", 1, tbody, 20, '+', 20, 30, &d), PROGRESS);
    assert_status(add(r, "mixed", 12, bad + 11, 10, '+', 21, 30, &d), E_CONFLICT);
    assert_empty(r);
    msrp_reasm_destroy(r);
}
END_TEST

/* The issue's reproducer: 1-6/12 AAAAAA, then 1-12/12 BBBBBBBBBBBB. */
START_TEST(test_overlap_rewrites_prefix)
{
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;
    assert_status(add(r, "ab", 1, "AAAAAA", 6, '+', 6, 12, &d), PROGRESS);
    assert_status(add(r, "ab", 1, "BBBBBBBBBBBB", 12, '$', 12, 12, &d), E_CONFLICT);
    assert_status(add(r, "ab", 7, "BBBBBB", 6, '$', 12, 12, &d), E_REFUSED);
    assert_empty(r);
    /* The same repeat with the same bytes completes. */
    assert_status(add(r, "aa", 1, "AAAAAA", 6, '+', 6, 12, &d), PROGRESS);
    assert_status(add(r, "aa", 1, "AAAAAAAAAAAA", 12, '$', 12, 12, &d), COMPLETE);
    ck_assert_uint_eq(d.overlap_bytes, 6);
    msrp_reasm_destroy(r);
}
END_TEST

/* Repeats reaching back beyond the window are counted as unchecked, never silently. */
START_TEST(test_overlap_window)
{
    static unsigned char body[100];
    uint64_t state = 3;
    fill_rand(body, sizeof(body), &state);
    struct msrp_reasm_limits l = {1 << 20, 8, 1 << 20, false, 0, 16};
    struct msrp_reasm *r = msrp_reasm_create(&l);
    struct msrp_reasm_done d;
    assert_status(add(r, "win", 1, body, 50, '+', 50, 100, &d), PROGRESS);
    /* 21..50 again: 30 bytes, the last 16 (35..50) compared, 14 unchecked. */
    assert_status(add(r, "win", 21, body + 20, 40, '+', 60, 100, &d), PROGRESS);
    assert_status(add(r, "win", 51, body + 50, 50, '$', 100, 100, &d), COMPLETE);
    /* 51..60 came again too, all within the window. */
    ck_assert_uint_eq(d.overlap_bytes, 30 + 10);
    ck_assert_uint_eq(d.overlap_unchecked, 14);
    /* A difference inside the window (position 55 of the prefix 1..60) is caught. */
    unsigned char bad[100];
    memcpy(bad, body, sizeof(bad));
    bad[54] ^= 1;
    assert_status(add(r, "win2", 1, body, 60, '+', 60, 100, &d), PROGRESS);
    assert_status(add(r, "win2", 50, bad + 49, 10, '+', 59, 100, &d), E_CONFLICT);
    msrp_reasm_destroy(r);
}
END_TEST

/* Message-IDs: compared exactly, 1..32 bytes. */
START_TEST(test_ids)
{
    tbody_init();
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;
    char id32[33], id33[34];
    memset(id32, 'k', 32);
    id32[32] = '\0';
    memset(id33, 'k', 33);
    id33[33] = '\0';

    assert_status(add(r, id33, 1, tbody, 4, '$', 4, 4, &d), E_RANGE);
    assert_status(add(r, "", 1, tbody, 4, '$', 4, 4, &d), E_RANGE);
    assert_empty(r);
    assert_status(add(r, id32, 1, tbody, 4, '$', 4, 4, &d), COMPLETE);
    ck_assert_str_eq(d.message_id, id32);

    /* Case and length matter: three different messages. */
    assert_status(add(r, "Msg1", 1, tbody, 4, '+', 4, 8, &d), PROGRESS);
    assert_status(add(r, "msg1", 1, tbody, 4, '+', 4, 8, &d), PROGRESS);
    assert_status(add(r, "msg1x", 1, tbody, 4, '+', 4, 8, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 3);
    assert_status(add(r, "msg1", 5, tbody + 4, 4, '$', 8, 8, &d), COMPLETE);
    ck_assert_str_eq(d.message_id, "msg1");
    ck_assert_uint_eq(d.chunks, 2);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 2);

    /* A position that would wrap around. */
    assert_status(add(r, "Msg1", UINT64_MAX, tbody, 2, '+', U, U, &d), E_RANGE);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 1);
    msrp_reasm_destroy(r);
}
END_TEST

/* ---- Abort -------------------------------------------------------------------------------- */

START_TEST(test_abort_in_order)
{
    tbody_init();
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;
    assert_status(add(r, "abort-1", 1, tbody, 10, '+', 10, U, &d), PROGRESS);
    memset(&d, 0xa5, sizeof(d));
    assert_status(add(r, "abort-1", 11, tbody + 10, 5, '#', 15, U, &d), ABORTED);
    ck_assert_str_eq(d.message_id, "abort-1");
    ck_assert_uint_eq(d.total, 15);
    ck_assert_uint_eq(d.chunks, 2);
    ck_assert_uint_eq(d.overlap_bytes, 0);
    ck_assert(!d.out_of_order);
    ck_assert_mem_eq(d.sha256, zeros, 32);
    assert_empty(r);

    /* The id starts afresh afterwards. */
    assert_status(add(r, "abort-1", 1, tbody, 5, '$', 5, 5, &d), COMPLETE);
    unsigned char want[32];
    sha256_of(tbody, 5, want);
    ck_assert_mem_eq(d.sha256, want, 32);
    ck_assert_uint_eq(d.chunks, 1);
    msrp_reasm_destroy(r);
}
END_TEST

START_TEST(test_abort_releases_held)
{
    tbody_init();
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;
    assert_status(add(r, "abort-2", 1, tbody, 10, '+', 10, 60, &d), PROGRESS);
    assert_status(add(r, "abort-2", 31, tbody + 30, 11, '+', 41, 60, &d), PROGRESS);
    assert_status(add(r, "abort-2", 50, tbody + 49, 5, '+', 54, 60, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 16);
    /* The "#" chunk repeats 5..10 (hashed) and 31..35 (held), and brings 11..30 new: a chunk
     * of 31 bytes (5-35), in virtual segments. */
    assert_status(add(r, "abort-2", 5, tbody + 4, 20, 0, U, U, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 16); /* the prefix is at 24: 25..30 still missing */
    assert_status(add(r, "abort-2", 25, tbody + 24, 11, '#', 35, 60, &d), ABORTED);
    ck_assert_uint_eq(d.total, 41 + 5);
    ck_assert_uint_eq(d.chunks, 4);
    ck_assert_uint_eq(d.overlap_bytes, 6 + 5);
    ck_assert(d.out_of_order);
    ck_assert_mem_eq(d.sha256, zeros, 32);
    assert_empty(r);
    msrp_reasm_destroy(r);
}
END_TEST

START_TEST(test_abort_unknown)
{
    tbody_init();
    struct msrp_reasm *r = make(16 << 20, 0, 1 << 20); /* not even one message may be stored */
    struct msrp_reasm_done d;
    assert_status(add(r, "never-seen", 21, tbody, 7, '#', 27, U, &d), ABORTED);
    ck_assert_str_eq(d.message_id, "never-seen");
    ck_assert_uint_eq(d.total, 7);
    ck_assert_uint_eq(d.chunks, 1);
    ck_assert(d.out_of_order);
    ck_assert_mem_eq(d.sha256, zeros, 32);
    assert_empty(r);
    msrp_reasm_destroy(r);
}
END_TEST

/* The interrupted and aborted message of tests/vectors/4975-7.1.1-interrupted.msrp. */
START_TEST(test_abort_rfc_example)
{
    static const char one[] = "This is the beginning of a message that gets interrupted";
    static const char two[] = "and this is not the end either, because it is aborted";
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;
    assert_status(add(r, "87652491", 1, one, strlen(one), '+', U, 2048, &d), PROGRESS);
    ck_assert_uint_eq(strlen(one), 56);
    assert_status(add(r, "87652491", 57, two, strlen(two), '#', U, 2048, &d), ABORTED);
    ck_assert_uint_eq(d.total, 56 + strlen(two));
    ck_assert_uint_eq(d.chunks, 2);
    ck_assert(!d.out_of_order);
    assert_empty(r);
    msrp_reasm_destroy(r);
}
END_TEST

/* ---- Limits ------------------------------------------------------------------------------- */

START_TEST(test_defaults)
{
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    ck_assert_ptr_nonnull(r);
    assert_empty(r);
    tbody_init();
    struct msrp_reasm_done d;
    /* 64 messages fit, the 65th does not. */
    char id[24];
    for (int i = 0; i < 64; i++) {
        snprintf(id, sizeof(id), "dflt-%d", i);
        assert_status(add(r, id, 1, tbody, 1, '+', 1, U, &d), PROGRESS);
    }
    assert_status(add(r, "dflt-64", 1, tbody, 1, '+', 1, U, &d), E_LIMIT);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 64);
    /* 2^40 is accepted as a total, 2^40 + 1 is not. */
    assert_status(add(r, "dflt-7", 2, tbody, 1, '+', 2, UINT64_C(1) << 40, &d), PROGRESS);
    assert_status(add(r, "dflt-8", 2, tbody, 1, '+', 2, (UINT64_C(1) << 40) + 1, &d), E_TOO_LARGE);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 63);
    msrp_reasm_destroy(r);

    ck_assert_str_eq(msrp_reasm_status_name(PROGRESS), "progress");
    ck_assert_str_eq(msrp_reasm_status_name(COMPLETE), "complete");
    ck_assert_str_eq(msrp_reasm_status_name(ABORTED), "aborted");
    ck_assert_str_eq(msrp_reasm_status_name(E_LIMIT), "limit");
    ck_assert_str_eq(msrp_reasm_status_name(E_TOO_LARGE), "too-large");
    ck_assert_str_eq(msrp_reasm_status_name(E_RANGE), "range");
    msrp_reasm_destroy(NULL);
}
END_TEST

START_TEST(test_max_messages)
{
    tbody_init();
    struct msrp_reasm *r = make(1 << 20, 2, 1 << 20);
    struct msrp_reasm_done d;
    assert_status(add(r, "lim-A", 1, tbody, 10, '+', 10, 20, &d), PROGRESS);
    assert_status(add(r, "lim-B", 5, tbody + 4, 10, '+', 14, 20, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 10);
    assert_status(add(r, "lim-C", 1, tbody, 10, '+', 10, 20, &d), E_LIMIT);
    ck_assert_ptr_nonnull(strstr(msrp_reasm_why(r), "max_messages"));
    /* Refused (413): its later chunks, even an abort, are refused too (section 10.5). */
    assert_status(add(r, "lim-C", 11, tbody + 10, 10, '$', 20, 20, &d), E_REFUSED);
    assert_status(add(r, "lim-C", 1, tbody, 3, '#', 3, U, &d), E_REFUSED);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 2);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 10);
    /* An abort needs no slot. */
    assert_status(add(r, "lim-D", 1, tbody, 3, '#', 3, U, &d), ABORTED);
    /* A finished message frees its slot. */
    assert_status(add(r, "lim-A", 11, tbody + 10, 10, '$', 20, 20, &d), COMPLETE);
    assert_status(add(r, "lim-E", 1, tbody, 20, '$', 20, 20, &d), COMPLETE);
    assert_status(add(r, "lim-E", 1, tbody, 20, '+', 20, U, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 2);
    assert_status(add(r, "lim-B", 1, tbody, 4, '+', 4, 20, &d), PROGRESS);
    assert_status(add(r, "lim-B", 15, tbody + 14, 6, '$', 20, 20, &d), COMPLETE);
    ck_assert_uint_eq(d.chunks, 3);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 1);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 0);
    msrp_reasm_destroy(r);
}
END_TEST

START_TEST(test_max_buffered)
{
    static unsigned char big[400];
    uint64_t state = 5;
    fill_rand(big, sizeof(big), &state);
    struct msrp_reasm *r = make(100, 8, 1 << 20);
    struct msrp_reasm_done d;

    assert_status(add(r, "buf-A", 50, big + 49, 60, '+', 109, U, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 60);
    /* B would take 50 more: B is refused and dropped, A is untouched. */
    assert_status(add(r, "buf-B", 1, big, 10, '+', 10, U, &d), PROGRESS);
    assert_status(add(r, "buf-B", 20, big + 19, 50, '+', 69, U, &d), E_LIMIT);
    ck_assert_ptr_nonnull(strstr(msrp_reasm_why(r), "max_buffered"));
    ck_assert_uint_eq(msrp_reasm_buffered(r), 60);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 1);
    /* Exactly up to the limit is fine; repeated bytes need no room. */
    assert_status(add(r, "buf-B2", 1, big, 10, '+', 10, U, &d), PROGRESS);
    assert_status(add(r, "buf-B2", 20, big + 19, 40, '+', 59, U, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 100);
    assert_status(add(r, "buf-A", 60, big + 59, 50, '+', 109, U, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 100);
    /* One byte more drops A and all 60 bytes it held. */
    assert_status(add(r, "buf-A", 200, big + 199, 1, '+', 200, U, &d), E_LIMIT);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 40);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 0 + 1);
    /* In-order bytes need no room at all; reaching B's held bytes frees them. */
    assert_status(add(r, "buf-C", 1, big, 400, '+', 400, U, &d), PROGRESS);
    assert_status(add(r, "buf-B2", 11, big + 10, 9, '+', 19, U, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 0);
    /* A message refused for a limit does not start again under the same id. */
    assert_status(add(r, "buf-A", 1, big, 10, '+', 10, U, &d), E_REFUSED);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 2);
    msrp_reasm_destroy(r);

    /* max_buffered 0: nothing may arrive ahead of the prefix. */
    r = make(0, 8, 1 << 20);
    assert_status(add(r, "buf-0", 1, big, 10, '+', 10, 20, &d), PROGRESS);
    assert_status(add(r, "buf-0", 12, big + 11, 9, '$', 20, 20, &d), E_LIMIT);
    assert_empty(r);
    assert_status(add(r, "buf-1", 1, big, 20, '$', 20, 20, &d), COMPLETE);
    msrp_reasm_destroy(r);
}
END_TEST

/* Separate holes are bounded by MSRP_REASM_MAX_EXTENTS; touching pieces merge and do not count. */
START_TEST(test_max_extents)
{
    size_t n = 2 * MSRP_REASM_MAX_EXTENTS + 8;
    unsigned char *body = make_body(n, 9);
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;
    for (size_t i = 0; i < MSRP_REASM_MAX_EXTENTS; i++) {
        uint64_t pos = 3 + 2 * (uint64_t)i;
        assert_status(add(r, "holes", pos, body + pos - 1, 1, '+', pos, U, &d), PROGRESS);
    }
    ck_assert_uint_eq(msrp_reasm_buffered(r), MSRP_REASM_MAX_EXTENTS);
    /* A piece touching two extents merges them into one... */
    assert_status(add(r, "holes", 4, body + 3, 1, '+', 4, U, &d), PROGRESS);
    /* ...so there is room for one more hole, and then no more. */
    uint64_t pos = 3 + 2 * (uint64_t)MSRP_REASM_MAX_EXTENTS;
    assert_status(add(r, "holes", pos, body + pos - 1, 1, '+', pos, U, &d), PROGRESS);
    pos += 2;
    assert_status(add(r, "holes", pos, body + pos - 1, 1, '+', pos, U, &d), E_LIMIT);
    ck_assert_ptr_nonnull(strstr(msrp_reasm_why(r), "4096"));
    assert_empty(r);

    /* The same holes filled in: every one is taken as the prefix reaches it. */
    for (size_t i = 0; i < MSRP_REASM_MAX_EXTENTS; i++) {
        pos = 3 + 2 * (uint64_t)i;
        assert_status(add(r, "holes2", pos, body + pos - 1, 1, '+', pos, U, &d), PROGRESS);
    }
    assert_status(add(r, "holes2", 1, body, n, '$', n, n, &d), COMPLETE);
    unsigned char want[32];
    sha256_of(body, n, want);
    ck_assert_mem_eq(d.sha256, want, 32);
    ck_assert_uint_eq(d.overlap_bytes, MSRP_REASM_MAX_EXTENTS);
    assert_empty(r);
    msrp_reasm_destroy(r);
    free(body);
}
END_TEST

/* limits.max_extents raises (or lowers) the bound on holes, and the refusal names it. */
START_TEST(test_max_extents_configured)
{
    unsigned char *body = make_body(64, 4);
    struct msrp_reasm_limits l = {1 << 20, 8, 1 << 20, false, 8, 0};
    struct msrp_reasm *r = msrp_reasm_create(&l);
    struct msrp_reasm_done d;
    for (uint64_t pos = 3; pos < 3 + 2 * 8; pos += 2)
        assert_status(add(r, "few", pos, body + pos - 1, 1, '+', pos, U, &d), PROGRESS);
    assert_status(add(r, "few", 19, body + 18, 1, '+', 19, U, &d), E_LIMIT);
    ck_assert_str_eq(msrp_reasm_why(r),
                     "more than 8 separate out-of-order byte ranges (max_extents)");
    msrp_reasm_destroy(r);
    free(body);
}
END_TEST

START_TEST(test_too_large)
{
    tbody_init();
    struct msrp_reasm *r = make(1 << 20, 8, 1000);
    struct msrp_reasm_done d;
    /* A total above the limit, before anything is stored. */
    assert_status(add(r, "big-1", 1, tbody, 10, '+', 10, 1001, &d), E_TOO_LARGE);
    assert_empty(r);
    /* A position above it, with the total unknown. */
    assert_status(add(r, "big-2", 995, tbody, 10, '+', 1004, U, &d), E_TOO_LARGE);
    assert_empty(r);
    /* An existing message is dropped with what it held. */
    assert_status(add(r, "big-3", 11, tbody, 10, '+', 20, U, &d), PROGRESS);
    assert_status(add(r, "big-3", 1001, tbody, 1, 0, U, U, &d), E_TOO_LARGE);
    assert_empty(r);
    /* Exactly the limit is fine. */
    assert_status(add(r, "big-4", 991, tbody, 10, '+', 1000, 1000, &d), PROGRESS);
    assert_status(add(r, "big-5", 1, tbody, 10, '+', 10, 1000, &d), PROGRESS);
    ck_assert_uint_eq(msrp_reasm_in_progress(r), 2);
    ck_assert_uint_eq(msrp_reasm_buffered(r), 10);
    msrp_reasm_destroy(r);
}
END_TEST

/* 64 MiB in 64 KiB chunks, each in three virtual segments: nothing is ever buffered. The data
 * is generated chunk by chunk and hashed here as it goes, so it never exists whole. */
START_TEST(test_big_in_order)
{
    const size_t chunk = (size_t)64 << 10;
    const uint64_t n = UINT64_C(64) << 20;
    unsigned char *buf = malloc(chunk);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ck_assert_ptr_nonnull(buf);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    struct msrp_reasm *r = msrp_reasm_create(NULL);
    struct msrp_reasm_done d;
    uint64_t state = 424242;
    enum msrp_reasm_status s = PROGRESS;
    for (uint64_t pos = 1; pos <= n; pos += chunk) {
        fill_rand(buf, chunk, &state);
        ck_assert_int_eq(EVP_DigestUpdate(ctx, buf, chunk), 1);
        uint64_t last = pos + chunk - 1;
        s = send_chunk(r, "big-stream", pos, buf, chunk, 24000, last == n ? '$' : '+', last, U, &d);
        ck_assert_uint_eq(msrp_reasm_buffered(r), 0);
        if (last < n)
            assert_status(s, PROGRESS);
    }
    assert_status(s, COMPLETE);
    unsigned char want[32];
    unsigned int len = 0;
    ck_assert_int_eq(EVP_DigestFinal_ex(ctx, want, &len), 1);
    ck_assert_mem_eq(d.sha256, want, 32);
    ck_assert_uint_eq(d.total, n);
    ck_assert_uint_eq(d.chunks, n / chunk);
    ck_assert_uint_eq(d.overlap_bytes, 0);
    ck_assert(!d.out_of_order);
    assert_empty(r);
    msrp_reasm_destroy(r);
    EVP_MD_CTX_free(ctx);
    free(buf);
}
END_TEST

Suite *make_reasm_suite(void)
{
    Suite *s = suite_create("reasm");

    TCase *tc = tcase_create("InOrder");
    tcase_add_loop_test(tc, test_in_order, 0, NELEM(in_order_cases));
    tcase_add_test(tc, test_known_answer);
    tcase_add_loop_test(tc, test_empty_message, 0, NELEM(empty_cases));
    tcase_add_test(tc, test_empty_last_piece);
    tcase_add_test(tc, test_interleaved);
    suite_add_tcase(s, tc);

    tc = tcase_create("OutOfOrder");
    tcase_add_loop_test(tc, test_permutations, 0, PERM_COUNT * PERM_MODES);
    tcase_add_loop_test(tc, test_reverse, 0, NELEM(reverse_cases));
    tcase_add_loop_test(tc, test_shuffled, 0, 12);
    tcase_add_loop_test(tc, test_overlap_table, 0, NELEM(overlap_cases));
    tcase_add_loop_test(tc, test_overlap_random, 0, 16);
    suite_add_tcase(s, tc);

    tc = tcase_create("Totals");
    tcase_add_loop_test(tc, test_totals, 0, NELEM(totals_cases));
    tcase_add_test(tc, test_overlap_differs);
    tcase_add_test(tc, test_overlap_rewrites_prefix);
    tcase_add_test(tc, test_overlap_window);
    tcase_add_test(tc, test_ids);
    suite_add_tcase(s, tc);

    tc = tcase_create("Abort");
    tcase_add_test(tc, test_abort_in_order);
    tcase_add_test(tc, test_abort_releases_held);
    tcase_add_test(tc, test_abort_unknown);
    tcase_add_test(tc, test_abort_rfc_example);
    suite_add_tcase(s, tc);

    tc = tcase_create("Limits");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_max_messages);
    tcase_add_test(tc, test_max_buffered);
    tcase_add_test(tc, test_max_extents);
    tcase_add_test(tc, test_max_extents_configured);
    tcase_add_test(tc, test_too_large);
    tcase_add_test(tc, test_big_in_order);
    suite_add_tcase(s, tc);

    return s;
}
