/*
 * check_writer.c - the chunk writer and the id generator: exact wire bytes (RFC 4975 section 9),
 * input validation, head buffer limits, end-line avoidance (section 7.1), and the ids' alphabet
 * and uniformity. Random parts run on a deterministic entropy hook, so nothing here can flake.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "testutil.h"
#include "wire/idgen.h"
#include "wire/scan.h"
#include "wire/writer.h"

/* clang-format off */
#define S(lit) {(lit), sizeof(lit) - 1}
/* clang-format on */

#define BILOXI "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp"
#define ATLANTA "msrp://atlanta.example.com:7654/jshA7weztas;tcp"
#define RELAY "msrps://relay.example.com:2855;tcp"
#define ALICE "msrps://alice.example.com:9892/98cjs;tcp"

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Deterministic entropy for struct msrp_idgen._fill. */
enum hook_mode { HOOK_PRNG = 0, HOOK_SCRIPT, HOOK_CONST };

struct hook {
    enum hook_mode mode;
    uint64_t state; /* HOOK_PRNG: xorshift state, non-zero */
    uint64_t word;
    int left;
    const uint8_t *script; /* HOOK_SCRIPT: these bytes, then zeros */
    size_t script_len, pos;
    uint8_t constant;          /* HOOK_CONST */
    int fail_from, fail_until; /* calls (1-based) in this range fail; 0: none */
    int calls;
};

static uint8_t hook_byte(struct hook *h)
{
    switch (h->mode) {
    case HOOK_SCRIPT:
        return h->pos < h->script_len ? h->script[h->pos++] : 0;
    case HOOK_CONST:
        return h->constant;
    case HOOK_PRNG:
    default:
        if (h->left == 0) {
            h->word = test_rand(&h->state);
            h->left = 8;
        }
        h->left--;
        uint8_t b = (uint8_t)h->word;
        h->word >>= 8;
        return b;
    }
}

static int hook_fill(void *ctx, uint8_t *buf, size_t len)
{
    struct hook *h = ctx;
    h->calls++;
    if (h->fail_from != 0 && h->calls >= h->fail_from && h->calls <= h->fail_until)
        return -1;
    for (size_t i = 0; i < len; i++)
        buf[i] = hook_byte(h);
    return 0;
}

static void idgen_hooked(struct msrp_idgen *g, struct hook *h)
{
    ck_assert_int_eq(msrp_idgen_init(g), 0);
    g->_fill = hook_fill;
    g->_fill_ctx = h;
}

static struct hook prng_hook(uint64_t seed)
{
    return (struct hook){.mode = HOOK_PRNG, .state = seed};
}

static bool all_alnum(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0' || strchr(ALNUM, s[i]) == NULL)
            return false;
    }
    return true;
}

/* Concatenates the iovecs; every iovec is non-empty. */
static size_t flatten(const struct msrp_wire_chunk *w, char *out, size_t cap)
{
    size_t n = 0;
    ck_assert_int_ge(w->iovcnt, 2);
    ck_assert_int_le(w->iovcnt, 3);
    for (int i = 0; i < w->iovcnt; i++) {
        ck_assert_uint_gt(w->iov[i].iov_len, 0);
        ck_assert_uint_le(n + w->iov[i].iov_len, cap);
        memcpy(out + n, w->iov[i].iov_base, w->iov[i].iov_len);
        n += w->iov[i].iov_len;
    }
    ck_assert_uint_eq(n, w->total);
    return n;
}

/* Makes CR and LF visible in failure messages. */
static const char *visible(const char *s, size_t len, char *buf, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 3 < cap; i++) {
        if (s[i] == '\r' || s[i] == '\n') {
            buf[j++] = '\\';
            buf[j++] = s[i] == '\r' ? 'r' : 'n';
        } else {
            buf[j++] = s[i];
        }
    }
    buf[j] = '\0';
    return buf;
}

static void assert_bytes(const char *name, const char *got, size_t got_len, const char *want)
{
    static char a[4096], b[4096];
    size_t want_len = strlen(want);
    ck_assert_msg(got_len == want_len && memcmp(got, want, want_len) == 0,
                  "%s:\n got  %s\n want %s", name, visible(got, got_len, a, sizeof(a)),
                  visible(want, want_len, b, sizeof(b)));
}

static const char zeros[4096];

/* ---- exact bytes ------------------------------------------------------------------------- */

static const struct msrp_byte_range br_1_23 = {1, 23, 23};
static const struct msrp_byte_range br_1_0 = {1, 0, 0};
static const struct msrp_byte_range br_1_106 = {1, 106, 106};
static const struct msrp_byte_range br_1_10_star = {1, 10, MSRP_RANGE_UNKNOWN};
static const struct msrp_byte_range br_11_star_star = {11, MSRP_RANGE_UNKNOWN, MSRP_RANGE_UNKNOWN};
static const struct msrp_byte_range br_1_1_1 = {1, 1, 1};

static const struct msrp_header content_id[] = {
    {S("Content-ID"), S("<m1@atlanta.example.com>"), MSRP_H_CONTENT_ID},
};

/* clang-format off */
#define DIGEST_CREDENTIALS                                                                         \
    "Digest username=\"alice\", realm=\"relay.example.com\", nonce=\"dcd98b7102dd2f0e\", "        \
    "uri=\"" RELAY "\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", "                           \
    "response=\"6629fae49393a05397450978507c4ef1\""

static const struct msrp_header auth_headers[] = {
    {S("Authorization"), S(DIGEST_CREDENTIALS), MSRP_H_AUTHORIZATION},
    {S("Expires"), S("900"), MSRP_H_EXPIRES},
};
/* clang-format on */

struct exact_case {
    const char *name;
    struct msrp_out out;
    int iovcnt;
    const char *want;
};

#define TID32 "A123456789b123456789c123456789dE"

/* clang-format off */
static const struct exact_case exact_cases[] = {
    {"send-every-header", /* every field the writer knows, Status too, to pin the order */
     {.kind = MSRP_REQUEST, .tid = S("a786hjs2"), .method = S("SEND"), .to_path = S(BILOXI),
      .from_path = S(ATLANTA), .message_id = S("87652491"), .byte_range = &br_1_23,
      .success_report = MSRP_REPORT_YES, .failure_report = MSRP_REPORT_NO,
      .status_value = S("000 200 OK"), .extra = content_id, .num_extra = 1,
      .content_type = S("text/plain"), .body = S("Hey Bob, are you there?")},
     3,
     "MSRP a786hjs2 SEND\r\n"
     "To-Path: " BILOXI "\r\n"
     "From-Path: " ATLANTA "\r\n"
     "Message-ID: 87652491\r\n"
     "Byte-Range: 1-23/23\r\n"
     "Success-Report: yes\r\n"
     "Failure-Report: no\r\n"
     "Status: 000 200 OK\r\n"
     "Content-ID: <m1@atlanta.example.com>\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "Hey Bob, are you there?\r\n"
     "-------a786hjs2$\r\n"},
    {"send-empty-no-content-type", /* msrplib's empty SEND that opens a session */
     {.kind = MSRP_REQUEST, .tid = S("d93kswow"), .method = S("SEND"), .to_path = S(BILOXI),
      .from_path = S(ATLANTA), .message_id = S("12339sdqwer"), .byte_range = &br_1_0},
     2,
     "MSRP d93kswow SEND\r\n"
     "To-Path: " BILOXI "\r\n"
     "From-Path: " ATLANTA "\r\n"
     "Message-ID: 12339sdqwer\r\n"
     "Byte-Range: 1-0/0\r\n"
     "-------d93kswow$\r\n"},
    {"send-content-type-empty-body",
     {.kind = MSRP_REQUEST, .tid = S("d93kswow"), .method = S("SEND"), .to_path = S(BILOXI),
      .from_path = S(ATLANTA), .message_id = S("12339sdqwer"), .byte_range = &br_1_0,
      .content_type = S("text/plain")},
     2,
     "MSRP d93kswow SEND\r\n"
     "To-Path: " BILOXI "\r\n"
     "From-Path: " ATLANTA "\r\n"
     "Message-ID: 12339sdqwer\r\n"
     "Byte-Range: 1-0/0\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "\r\n"
     "-------d93kswow$\r\n"},
    {"response-200-ok",
     {.kind = MSRP_RESPONSE, .tid = S("a786hjs2"), .status = 200, .comment = S("OK"),
      .to_path = S(ATLANTA), .from_path = S(BILOXI)},
     2,
     "MSRP a786hjs2 200 OK\r\n"
     "To-Path: " ATLANTA "\r\n"
     "From-Path: " BILOXI "\r\n"
     "-------a786hjs2$\r\n"},
    {"response-no-comment",
     {.kind = MSRP_RESPONSE, .tid = S("a786hjs2"), .status = 481, .to_path = S(ATLANTA),
      .from_path = S(BILOXI)},
     2,
     "MSRP a786hjs2 481\r\n"
     "To-Path: " ATLANTA "\r\n"
     "From-Path: " BILOXI "\r\n"
     "-------a786hjs2$\r\n"},
    {"response-100-long-comment",
     {.kind = MSRP_RESPONSE, .tid = S("x9Z0"), .status = 100,
      .comment = S("Trying, please hold on"), .to_path = S(ATLANTA), .from_path = S(BILOXI)},
     2,
     "MSRP x9Z0 100 Trying, please hold on\r\n"
     "To-Path: " ATLANTA "\r\n"
     "From-Path: " BILOXI "\r\n"
     "-------x9Z0$\r\n"},
    {"response-999-tid32",
     {.kind = MSRP_RESPONSE, .tid = S(TID32), .status = 999, .comment = S("?"),
      .to_path = S(ATLANTA), .from_path = S(BILOXI)},
     2,
     "MSRP " TID32 " 999 ?\r\n"
     "To-Path: " ATLANTA "\r\n"
     "From-Path: " BILOXI "\r\n"
     "-------" TID32 "$\r\n"},
    {"report-status",
     {.kind = MSRP_REQUEST, .tid = S("dkei38sd"), .method = S("REPORT"), .to_path = S(ATLANTA),
      .from_path = S(BILOXI), .message_id = S("12339sdqwer"), .byte_range = &br_1_106,
      .status_value = S("000 200 OK")},
     2,
     "MSRP dkei38sd REPORT\r\n"
     "To-Path: " ATLANTA "\r\n"
     "From-Path: " BILOXI "\r\n"
     "Message-ID: 12339sdqwer\r\n"
     "Byte-Range: 1-106/106\r\n"
     "Status: 000 200 OK\r\n"
     "-------dkei38sd$\r\n"},
    {"auth-extra-headers",
     {.kind = MSRP_REQUEST, .tid = S("mnoe3fw3"), .method = S("AUTH"), .to_path = S(RELAY),
      .from_path = S(ALICE), .extra = auth_headers, .num_extra = 2},
     2,
     "MSRP mnoe3fw3 AUTH\r\n"
     "To-Path: " RELAY "\r\n"
     "From-Path: " ALICE "\r\n"
     "Authorization: " DIGEST_CREDENTIALS "\r\n"
     "Expires: 900\r\n"
     "-------mnoe3fw3$\r\n"},
    {"flag-plus-unknown-total", /* every ident-char in the tid */
     {.kind = MSRP_REQUEST, .tid = S("a.b-c+d%e=f"), .method = S("SEND"), .to_path = S(BILOXI),
      .from_path = S(ATLANTA), .message_id = S("m1"), .byte_range = &br_1_10_star,
      .content_type = S("text/plain"), .body = S("0123456789"), .flag = '+'},
     3,
     "MSRP a.b-c+d%e=f SEND\r\n"
     "To-Path: " BILOXI "\r\n"
     "From-Path: " ATLANTA "\r\n"
     "Message-ID: m1\r\n"
     "Byte-Range: 1-10/*\r\n"
     "Content-Type: text/plain\r\n"
     "\r\n"
     "0123456789\r\n"
     "-------a.b-c+d%e=f+\r\n"},
    {"flag-hash-unknown-end-and-total",
     {.kind = MSRP_REQUEST, .tid = S("abortedXYZ12345"), .method = S("SEND"),
      .to_path = S(BILOXI), .from_path = S(ATLANTA), .message_id = S("m1"),
      .byte_range = &br_11_star_star, .success_report = MSRP_REPORT_NO,
      .failure_report = MSRP_REPORT_PARTIAL, .content_type = S("message/cpim"),
      .body = S("abc"), .flag = '#'},
     3,
     "MSRP abortedXYZ12345 SEND\r\n"
     "To-Path: " BILOXI "\r\n"
     "From-Path: " ATLANTA "\r\n"
     "Message-ID: m1\r\n"
     "Byte-Range: 11-*/*\r\n"
     "Success-Report: no\r\n"
     "Failure-Report: partial\r\n"
     "Content-Type: message/cpim\r\n"
     "\r\n"
     "abc\r\n"
     "-------abortedXYZ12345#\r\n"},
    {"flag-dollar-explicit-method-x",
     {.kind = MSRP_REQUEST, .tid = S("a1b2"), .method = S("X"), .to_path = S(BILOXI),
      .from_path = S(ATLANTA), .byte_range = &br_1_1_1, .failure_report = MSRP_REPORT_YES,
      .content_type = S("application/octet-stream"), .body = S("\r"), .flag = '$'},
     3,
     "MSRP a1b2 X\r\n"
     "To-Path: " BILOXI "\r\n"
     "From-Path: " ATLANTA "\r\n"
     "Byte-Range: 1-1/1\r\n"
     "Failure-Report: yes\r\n"
     "Content-Type: application/octet-stream\r\n"
     "\r\n"
     "\r\r\n"
     "-------a1b2$\r\n"},
};
/* clang-format on */

#define N_EXACT ((int)(sizeof(exact_cases) / sizeof(exact_cases[0])))

START_TEST(test_exact)
{
    const struct exact_case *tc = &exact_cases[_i];
    char head[2048], got[4096];
    struct msrp_wire_chunk w;

    ck_assert_int_eq(msrp_write(&tc->out, NULL, head, sizeof(head), &w), MSRP_W_OK);
    ck_assert_int_eq(w.iovcnt, tc->iovcnt);
    size_t n = flatten(&w, got, sizeof(got));
    assert_bytes(tc->name, got, n, tc->want);
    ck_assert_uint_eq(w.tid_len, tc->out.tid.len);
    ck_assert_mem_eq(w.tid, tc->out.tid.ptr, w.tid_len);
    ck_assert_ptr_eq(w.iov[0].iov_base, head);
    if (tc->out.body.len != 0) {
        /* The body is referenced in place, never copied. */
        ck_assert_ptr_eq(w.iov[1].iov_base, tc->out.body.ptr);
        ck_assert_uint_eq(w.iov[1].iov_len, tc->out.body.len);
    }
}
END_TEST

/*
 * msrp_write_head_size() is an upper bound, exact unless a caller's tid shorter than
 * MSRP_GENERATED_TID_LEN meets a non-empty body (a redrawn id would be longer). The head is
 * written right before a PROT_NONE page, so a single byte too many crashes.
 */
START_TEST(test_head_size)
{
    const struct exact_case *tc = &exact_cases[_i];
    char big[2048];
    struct msrp_wire_chunk w;

    ck_assert_int_eq(msrp_write(&tc->out, NULL, big, sizeof(big), &w), MSRP_W_OK);
    size_t actual = w.iov[0].iov_len;
    size_t bound = msrp_write_head_size(&tc->out);
    if (tc->out.body.len == 0 || tc->out.tid.len >= MSRP_GENERATED_TID_LEN)
        ck_assert_uint_eq(bound, actual);
    else
        ck_assert_uint_eq(bound, actual + MSRP_GENERATED_TID_LEN - tc->out.tid.len);

    size_t caps[] = {bound, actual};
    for (size_t k = 0; k < 2; k++) {
        char *head = guarded_copy(zeros, caps[k]);
        ck_assert_int_eq(msrp_write(&tc->out, NULL, head, caps[k], &w), MSRP_W_OK);
        ck_assert_uint_eq(w.iov[0].iov_len, actual);
        ck_assert_mem_eq(head, big, actual);
        guarded_free(head, caps[k]);
    }

    char *head = guarded_copy(zeros, actual - 1);
    ck_assert_int_eq(msrp_write(&tc->out, NULL, head, actual - 1, &w), MSRP_W_E_NOSPACE);
    ck_assert_int_eq(w.iovcnt, 0);
    ck_assert_mem_eq(head, zeros, actual - 1); /* nothing written on failure */
    guarded_free(head, actual - 1);
    ck_assert_int_eq(msrp_write(&tc->out, NULL, NULL, 0, &w), MSRP_W_E_NOSPACE);
}
END_TEST

/* Byte-Range numbers at every decimal width, against printf. */
static const uint64_t range_numbers[] = {
    0,
    1,
    9,
    10,
    99,
    100,
    999,
    1000,
    65535,
    123456789,
    4294967295u,
    4294967296u,
    9999999999u,
    10000000000u,
    999999999999999999u,
    1000000000000000000u,
    9999999999999999999u,
    10000000000000000000u,
    UINT64_MAX - 1,
};

START_TEST(test_range_numbers)
{
    uint64_t v = range_numbers[_i];
    struct msrp_byte_range r = {v + (v == 0), v, v};
    struct msrp_out c = {.kind = MSRP_REQUEST,
                         .tid = S("abcd1234"),
                         .method = S("SEND"),
                         .to_path = S("a"),
                         .from_path = S("b"),
                         .byte_range = &r};
    char head[256], want[256];
    struct msrp_wire_chunk w;

    snprintf(want, sizeof(want),
             "MSRP abcd1234 SEND\r\nTo-Path: a\r\nFrom-Path: b\r\nByte-Range: %" PRIu64 "-%" PRIu64
             "/%" PRIu64 "\r\n",
             r.start, r.end, r.total);
    ck_assert_int_eq(msrp_write(&c, NULL, head, sizeof(head), &w), MSRP_W_OK);
    assert_bytes("range", head, w.iov[0].iov_len, want);
    ck_assert_uint_eq(msrp_write_head_size(&c), strlen(want));
}
END_TEST

/* ---- validation -------------------------------------------------------------------------- */

struct invalid_case {
    const char *name;
    struct msrp_out out;
};

/* clang-format off */
#define PATHS .to_path = S(BILOXI), .from_path = S(ATLANTA)
#define SEND_TO(t) .kind = MSRP_REQUEST, .tid = S(t), .method = S("SEND"), PATHS
#define RESPONSE_TO(t) .kind = MSRP_RESPONSE, .tid = S(t), PATHS

static const struct invalid_case invalid_cases[] = {
    {"tid-3-chars", {SEND_TO("abc")}},
    {"tid-33-chars", {SEND_TO(TID32 "F")}},
    {"tid-starts-with-dot", {SEND_TO(".abc1234")}},
    {"tid-starts-with-dash", {SEND_TO("-abc1234")}},
    {"tid-starts-with-plus", {SEND_TO("+abc1234")}},
    {"tid-space", {SEND_TO("abc 1234")}},
    {"tid-slash", {SEND_TO("abc/1234")}},
    {"tid-dollar", {SEND_TO("abc1234$")}},
    {"tid-crlf", {SEND_TO("abc1\r\n34")}},
    {"tid-non-ascii", {SEND_TO("abc\xc3\xa9" "1234")}},
    {"tid-nul", {.kind = MSRP_REQUEST, .tid = {"abc\0" "1234", 8}, .method = S("SEND"), PATHS}},
    {"method-empty", {.kind = MSRP_REQUEST, .tid = S("abcd1234"), PATHS}},
    {"method-lower-case", {.kind = MSRP_REQUEST, .tid = S("abcd1234"), .method = S("send"), PATHS}},
    {"method-digit", {.kind = MSRP_REQUEST, .tid = S("abcd1234"), .method = S("SEND2"), PATHS}},
    {"method-space", {.kind = MSRP_REQUEST, .tid = S("abcd1234"), .method = S("SE ND"), PATHS}},
    {"status-0", {RESPONSE_TO("abcd1234"), .status = 0}},
    {"status-99", {RESPONSE_TO("abcd1234"), .status = 99}},
    {"status-1000", {RESPONSE_TO("abcd1234"), .status = 1000}},
    {"status-negative", {RESPONSE_TO("abcd1234"), .status = -200}},
    {"flag-x", {SEND_TO("abcd1234"), .flag = 'x'}},
    {"flag-space", {SEND_TO("abcd1234"), .flag = ' '}},
    {"flag-dash", {SEND_TO("abcd1234"), .flag = '-'}},
    {"body-without-content-type", {SEND_TO("abcd1234"), .body = S("hello")}},
    {"response-with-body",
     {RESPONSE_TO("abcd1234"), .status = 200, .content_type = S("text/plain"), .body = S("x")}},
    {"response-with-content-type", {RESPONSE_TO("abcd1234"), .status = 200,
                                    .content_type = S("text/plain")}},
    {"response-with-bare-body", {RESPONSE_TO("abcd1234"), .status = 200, .body = S("x")}},
    {"kind-zero", {.kind = (enum msrp_kind)0, .tid = S("abcd1234"), .method = S("SEND"), PATHS}},
    {"kind-three", {.kind = (enum msrp_kind)3, .tid = S("abcd1234"), .method = S("SEND"), PATHS}},
    {"success-report-partial", {SEND_TO("abcd1234"), .success_report = MSRP_REPORT_PARTIAL}},
    {"success-report-out-of-range", {SEND_TO("abcd1234"), .success_report = (enum msrp_report)9}},
    {"failure-report-out-of-range", {SEND_TO("abcd1234"), .failure_report = (enum msrp_report)4}},
    {"extra-count-without-array", {SEND_TO("abcd1234"), .num_extra = 1}},
    {"no-tid-no-idgen", {.kind = MSRP_REQUEST, .method = S("SEND"), PATHS}},
};
/* clang-format on */

#define N_INVALID ((int)(sizeof(invalid_cases) / sizeof(invalid_cases[0])))

START_TEST(test_invalid)
{
    const struct invalid_case *tc = &invalid_cases[_i];
    char head[1024];
    struct msrp_wire_chunk w;

    memset(head, 0, sizeof(head));
    int rc = msrp_write(&tc->out, NULL, head, sizeof(head), &w);
    ck_assert_msg(rc == MSRP_W_E_INVALID, "%s: got %d", tc->name, rc);
    ck_assert_int_eq(w.iovcnt, 0);
    ck_assert_uint_eq(w.total, 0);
    ck_assert_mem_eq(head, zeros, sizeof(head));
    /* Nor does a generator or a too small buffer change the verdict (ids only fill a gap). */
    if (tc->out.tid.len != 0) {
        struct msrp_idgen g;
        ck_assert_int_eq(msrp_idgen_init(&g), 0);
        ck_assert_int_eq(msrp_write(&tc->out, &g, head, 0, &w), MSRP_W_E_INVALID);
    }
}
END_TEST

/* ---- end-line avoidance (RFC 4975 section 7.1) ------------------------------------------- */

struct endline_case {
    const char *name;
    const char *body;
    bool clash; /* "-------abcd1234" at the start of the body or after a CRLF */
};

/* clang-format off */
static const struct endline_case endline_cases[] = {
    {"after-crlf", "hello\r\n-------abcd1234$\r\nmore", true},
    {"after-crlf-other-flag", "hello\r\n-------abcd1234+", true},
    {"after-crlf-at-end", "text\r\n-------abcd1234", true},
    {"after-crlf-longer-tid", "x\r\n-------abcd12345$", true},
    {"crlf-at-start", "\r\n-------abcd1234$", true},
    {"at-start", "-------abcd1234$ and more", true},
    {"whole-body", "-------abcd1234", true},
    {"mid-line", "x-------abcd1234$", false},
    {"after-lf-only", "a\n-------abcd1234$", false},
    {"after-cr-only", "a\r-------abcd1234$", false},
    {"six-dashes", "a\r\n------abcd1234$", false},
    {"eight-dashes", "a\r\n--------abcd1234$", false},
    {"start-six-dashes", "------abcd1234$", false},
    {"start-space", " -------abcd1234$", false},
    {"truncated-tid", "a\r\n-------abcd123", false},
    {"truncated-tid-at-start", "-------abcd123", false},
    {"other-tid", "a\r\n-------zzzz9999$", false},
    {"plain", "Hey Bob, are you there?", false},
};
/* clang-format on */

#define N_ENDLINE ((int)(sizeof(endline_cases) / sizeof(endline_cases[0])))

static struct msrp_out endline_out(const char *body)
{
    return (struct msrp_out){.kind = MSRP_REQUEST,
                             .tid = S("abcd1234"),
                             .method = S("SEND"),
                             PATHS,
                             .message_id = S("m1"),
                             .content_type = S("text/plain"),
                             .body = msrp_span_cstr(body)};
}

START_TEST(test_endline)
{
    const struct endline_case *tc = &endline_cases[_i];
    struct msrp_out c = endline_out(tc->body);
    struct hook h = prng_hook(0x9e3779b97f4a7c15u), twin_h = h;
    struct msrp_idgen g, twin;
    struct msrp_wire_chunk w;
    char got[1024], want_tid[MSRP_GENERATED_TID_LEN];

    idgen_hooked(&g, &h);
    idgen_hooked(&twin, &twin_h);
    ck_assert_int_eq(msrp_idgen_ident(&twin, want_tid, sizeof(want_tid)), 0);

    size_t cap = msrp_write_head_size(&c);
    char *head = guarded_copy(zeros, cap);
    ck_assert_int_eq(msrp_write(&c, &g, head, cap, &w), MSRP_W_OK);
    size_t n = flatten(&w, got, sizeof(got));
    ck_assert_int_eq(w.iovcnt, 3);

    if (tc->clash) {
        /* A fresh id, the generator's next one, used everywhere in the chunk. */
        ck_assert_uint_eq(w.tid_len, MSRP_GENERATED_TID_LEN);
        ck_assert_mem_eq(w.tid, want_tid, sizeof(want_tid));
        ck_assert_int_eq(h.calls, 1);
        ck_assert_uint_eq(w.iov[0].iov_len, cap);
        ck_assert(all_alnum(w.tid, w.tid_len));
    } else {
        ck_assert_uint_eq(w.tid_len, 8);
        ck_assert_mem_eq(w.tid, "abcd1234", 8);
        ck_assert_int_eq(h.calls, 0);
    }
    ck_assert_uint_eq(msrp__find_end_line(c.body.ptr, c.body.len, w.tid, w.tid_len), c.body.len);
    ck_assert(c.body.len < 7 + w.tid_len || memcmp(c.body.ptr, "-------", 7) != 0 ||
              memcmp(c.body.ptr + 7, w.tid, w.tid_len) != 0);

    /* The start line and the end-line both carry the id actually used. */
    char line[128];
    int len = snprintf(line, sizeof(line), "MSRP %.*s SEND\r\n", (int)w.tid_len, w.tid);
    ck_assert_mem_eq(got, line, (size_t)len);
    len = snprintf(line, sizeof(line), "\r\n-------%.*s$\r\n", (int)w.tid_len, w.tid);
    ck_assert_uint_eq(w.iov[2].iov_len, (size_t)len);
    ck_assert_mem_eq(got + n - (size_t)len, line, (size_t)len);
    guarded_free(head, cap);

    /* Without a generator a clash cannot be resolved. */
    char big[1024];
    int rc = msrp_write(&c, NULL, big, sizeof(big), &w);
    ck_assert_int_eq(rc, tc->clash ? MSRP_W_E_INVALID : MSRP_W_OK);
}
END_TEST

/* A generated id that happens to clash is drawn again. */
START_TEST(test_generated_tid_clash)
{
    struct hook h = prng_hook(77), twin_h = h;
    struct msrp_idgen g, twin;
    char first[MSRP_GENERATED_TID_LEN], second[MSRP_GENERATED_TID_LEN];
    char body[64], head[1024];
    struct msrp_wire_chunk w;

    idgen_hooked(&g, &h);
    idgen_hooked(&twin, &twin_h);
    ck_assert_int_eq(msrp_idgen_ident(&twin, first, sizeof(first)), 0);
    ck_assert_int_eq(msrp_idgen_ident(&twin, second, sizeof(second)), 0);
    ck_assert(memcmp(first, second, sizeof(first)) != 0);
    int len = snprintf(body, sizeof(body), "x\r\n-------%.*s$\r\n", (int)sizeof(first), first);

    struct msrp_out c = endline_out(body);
    c.tid = (struct msrp_span){NULL, 0};
    ck_assert_int_eq(msrp_write(&c, &g, head, sizeof(head), &w), MSRP_W_OK);
    ck_assert_uint_eq(c.body.len, (size_t)len);
    ck_assert_uint_eq(w.tid_len, MSRP_GENERATED_TID_LEN);
    ck_assert_mem_eq(w.tid, second, sizeof(second));
    ck_assert_mem_eq(head + 5, second, sizeof(second));
}
END_TEST

/* A generator that keeps drawing the same clashing id is broken: give up, do not spin. */
START_TEST(test_stuck_generator)
{
    struct hook h = {.mode = HOOK_CONST, .constant = 0}, twin_h = h;
    struct msrp_idgen g, twin;
    char id[MSRP_GENERATED_TID_LEN], body[80], head[1024];
    struct msrp_wire_chunk w;

    idgen_hooked(&g, &h);
    idgen_hooked(&twin, &twin_h);
    ck_assert_int_eq(msrp_idgen_ident(&twin, id, sizeof(id)), 0);
    ck_assert_mem_eq(id, "AAAAAAAAAAAA", sizeof(id));
    snprintf(body, sizeof(body), "\r\n-------abcd1234$\r\n-------%.*s$", (int)sizeof(id), id);

    struct msrp_out c = endline_out(body);
    ck_assert_int_eq(msrp_write(&c, &g, head, sizeof(head), &w), MSRP_W_E_RANDOM);
    c.tid = (struct msrp_span){NULL, 0};
    ck_assert_int_eq(msrp_write(&c, &g, head, sizeof(head), &w), MSRP_W_E_RANDOM);
    ck_assert_int_eq(w.iovcnt, 0);
}
END_TEST

START_TEST(test_failing_generator)
{
    struct hook h = {.mode = HOOK_PRNG, .state = 1, .fail_from = 1, .fail_until = INT_MAX};
    struct msrp_idgen g;
    char head[1024];
    struct msrp_wire_chunk w;

    idgen_hooked(&g, &h);
    struct msrp_out c = endline_out("no clash here");
    c.tid = (struct msrp_span){NULL, 0};
    ck_assert_int_eq(msrp_write(&c, &g, head, sizeof(head), &w), MSRP_W_E_RANDOM);
    c = endline_out("\r\n-------abcd1234$");
    ck_assert_int_eq(msrp_write(&c, &g, head, sizeof(head), &w), MSRP_W_E_RANDOM);
    /* A caller's tid without a clash needs no entropy at all. */
    c = endline_out("no clash here");
    ck_assert_int_eq(msrp_write(&c, &g, head, sizeof(head), &w), MSRP_W_OK);
}
END_TEST

/* With no tid the writer draws one of MSRP_GENERATED_TID_LEN from the real CSPRNG. */
START_TEST(test_generated_tid)
{
    struct msrp_idgen g;
    struct msrp_out c = {.kind = MSRP_REQUEST,
                         .method = S("SEND"),
                         PATHS,
                         .byte_range = &br_1_23,
                         .content_type = S("text/plain"),
                         .body = S("Hey Bob, are you there?")};
    char head[1024], prev[MSRP_GENERATED_TID_LEN];
    struct msrp_wire_chunk w;

    const char *rest = "To-Path: " BILOXI "\r\nFrom-Path: " ATLANTA "\r\n"
                       "Byte-Range: 1-23/23\r\nContent-Type: text/plain\r\n\r\n";

    ck_assert_int_eq(msrp_idgen_init(&g), 0);
    ck_assert_uint_eq(msrp_write_head_size(&c),
                      strlen("MSRP  SEND\r\n") + MSRP_GENERATED_TID_LEN + strlen(rest));
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(msrp_write(&c, &g, head, msrp_write_head_size(&c), &w), MSRP_W_OK);
        ck_assert_uint_eq(w.tid_len, MSRP_GENERATED_TID_LEN);
        ck_assert(all_alnum(w.tid, w.tid_len));
        ck_assert_mem_eq(head + 5, w.tid, w.tid_len);
        if (i > 0)
            ck_assert(memcmp(prev, w.tid, sizeof(prev)) != 0);
        memcpy(prev, w.tid, sizeof(prev));
    }
}
END_TEST

/* ---- id generator ------------------------------------------------------------------------ */

START_TEST(test_idgen_lengths)
{
    size_t len = (size_t)_i;
    struct msrp_idgen g;
    char out[MSRP_TID_MAX + 8];

    ck_assert_int_eq(msrp_idgen_init(&g), 0);
    for (int round = 0; round < 50; round++) {
        memset(out, '!', sizeof(out));
        ck_assert_int_eq(msrp_idgen_ident(&g, out, len), 0);
        ck_assert(all_alnum(out, len));
        for (size_t i = len; i < sizeof(out); i++)
            ck_assert_int_eq(out[i], '!'); /* exactly len bytes, no NUL */
    }
}
END_TEST

START_TEST(test_idgen_distinct)
{
    struct msrp_idgen a, b;
    char x[MSRP_TID_MAX], y[MSRP_TID_MAX], z[MSRP_TID_MAX];

    ck_assert_int_eq(msrp_idgen_init(&a), 0);
    ck_assert_int_eq(msrp_idgen_init(&b), 0);
    ck_assert_int_eq(msrp_idgen_ident(&a, x, sizeof(x)), 0);
    ck_assert_int_eq(msrp_idgen_ident(&b, y, sizeof(y)), 0);
    ck_assert_int_eq(msrp_idgen_ident(&a, z, sizeof(z)), 0);
    ck_assert(memcmp(x, y, sizeof(x)) != 0);
    ck_assert(memcmp(x, z, sizeof(x)) != 0);
    ck_assert_int_eq(msrp_idgen_ident(&a, x, 0), 0);
}
END_TEST

/* Each character is alphabet[b >> 2]; bytes 248..255 are skipped. */
START_TEST(test_idgen_mapping)
{
    static const uint8_t script[] = {0, 3, 4, 7, 248, 255, 100, 104, 203, 204, 207, 208, 247};
    struct hook h = {.mode = HOOK_SCRIPT, .script = script, .script_len = sizeof(script)};
    struct msrp_idgen g;
    char out[11];

    idgen_hooked(&g, &h);
    ck_assert_int_eq(msrp_idgen_ident(&g, out, sizeof(out)), 0);
    ck_assert_mem_eq(out, "AABBZayzz09", sizeof(out));
    ck_assert_int_eq(h.calls, 1);
}
END_TEST

/* Output is the filtered byte stream, whatever the id lengths and the pool refills. */
START_TEST(test_idgen_stream)
{
    struct hook h = prng_hook(12345), ref = h, again = h;
    struct msrp_idgen g, g2;
    char out[MSRP_TID_MAX], out2[MSRP_TID_MAX];

    idgen_hooked(&g, &h);
    idgen_hooked(&g2, &again);
    /* Enough ids to cross at least 50 pool refills, whatever MSRP_IDGEN_POOL is. */
    int ids = 50 * MSRP_IDGEN_POOL / 16;
    for (int i = 0; i < ids; i++) {
        size_t len = 4 + (size_t)i % 29;
        ck_assert_int_eq(msrp_idgen_ident(&g, out, len), 0);
        ck_assert_int_eq(msrp_idgen_ident(&g2, out2, len), 0);
        ck_assert_mem_eq(out, out2, len);
        for (size_t k = 0; k < len; k++) {
            uint8_t b;
            do
                b = hook_byte(&ref);
            while (b >= 248);
            ck_assert_int_eq(out[k], ALNUM[b >> 2]);
        }
    }
    ck_assert_int_gt(h.calls, 50); /* many refills were crossed */
    ck_assert_int_eq(h.calls, again.calls);
}
END_TEST

START_TEST(test_idgen_fill_failure)
{
    struct hook always = {.mode = HOOK_PRNG, .state = 5, .fail_from = 1, .fail_until = INT_MAX};
    struct hook second = {.mode = HOOK_PRNG, .state = 5, .fail_from = 2, .fail_until = 2};
    struct msrp_idgen g;
    char out[MSRP_TID_MAX];

    idgen_hooked(&g, &always);
    ck_assert_int_eq(msrp_idgen_ident(&g, out, 12), -1);
    ck_assert_int_eq(msrp_idgen_ident(&g, out, 4), -1);

    /* The second refill fails mid-id: that id fails, and the next refill recovers. */
    idgen_hooked(&g, &second);
    int failures = 0, i;
    /* One pool serves at most MSRP_IDGEN_POOL / 32 ids of 32 characters, so the second refill
     * comes within a few pools' worth of ids. */
    int bound = 4 * MSRP_IDGEN_POOL / 32 + 10;
    for (i = 0; i < bound && failures == 0; i++) {
        if (msrp_idgen_ident(&g, out, MSRP_TID_MAX) != 0)
            failures++;
    }
    ck_assert_int_eq(failures, 1);
    ck_assert_int_eq(second.calls, 2);
    ck_assert_int_gt(i, 10);
    ck_assert_int_eq(msrp_idgen_ident(&g, out, MSRP_TID_MAX), 0);
    ck_assert_int_eq(second.calls, 3);
    ck_assert(all_alnum(out, MSRP_TID_MAX));
}
END_TEST

/*
 * Chi-square of 62000 characters against the uniform distribution. 61 degrees of freedom
 * give a mean of 61 and a standard deviation of 11; a bias such as b % 62 on whole bytes
 * (8 characters at 5/256, the rest at 4/256) scores about 410. The hook makes it deterministic.
 */
START_TEST(test_idgen_uniform)
{
    struct hook h = prng_hook(0xdeadbeefcafef00du);
    struct msrp_idgen g;
    unsigned counts[62] = {0};
    char out[31];

    idgen_hooked(&g, &h);
    for (int i = 0; i < 2000; i++) {
        ck_assert_int_eq(msrp_idgen_ident(&g, out, sizeof(out)), 0);
        for (size_t k = 0; k < sizeof(out); k++) {
            const char *pos = strchr(ALNUM, out[k]);
            ck_assert_ptr_nonnull(pos);
            counts[pos - ALNUM]++;
        }
    }
    double chi2 = 0;
    for (int k = 0; k < 62; k++) {
        double d = (double)counts[k] - 1000.0;
        chi2 += d * d / 1000.0;
        ck_assert_uint_gt(counts[k], 850);
    }
    ck_assert_msg(chi2 < 110.0, "chi-square %.1f over 61 degrees of freedom", chi2);
}
END_TEST

Suite *make_writer_suite(void)
{
    Suite *s = suite_create("writer");

    TCase *core = tcase_create("Core");
    tcase_add_loop_test(core, test_exact, 0, N_EXACT);
    tcase_add_loop_test(core, test_range_numbers, 0,
                        (int)(sizeof(range_numbers) / sizeof(range_numbers[0])));
    tcase_add_test(core, test_generated_tid);
    suite_add_tcase(s, core);

    TCase *limits = tcase_create("Limits");
    tcase_add_loop_test(limits, test_head_size, 0, N_EXACT);
    suite_add_tcase(s, limits);

    TCase *invalid = tcase_create("Invalid");
    tcase_add_loop_test(invalid, test_invalid, 0, N_INVALID);
    suite_add_tcase(s, invalid);

    TCase *endline = tcase_create("EndLine");
    tcase_add_loop_test(endline, test_endline, 0, N_ENDLINE);
    tcase_add_test(endline, test_generated_tid_clash);
    tcase_add_test(endline, test_stuck_generator);
    tcase_add_test(endline, test_failing_generator);
    suite_add_tcase(s, endline);

    TCase *idgen = tcase_create("Idgen");
    tcase_add_loop_test(idgen, test_idgen_lengths, MSRP_TID_MIN, MSRP_TID_MAX + 1);
    tcase_add_test(idgen, test_idgen_distinct);
    tcase_add_test(idgen, test_idgen_mapping);
    tcase_add_test(idgen, test_idgen_stream);
    tcase_add_test(idgen, test_idgen_fill_failure);
    tcase_add_test(idgen, test_idgen_uniform);
    suite_add_tcase(s, idgen);

    return s;
}
