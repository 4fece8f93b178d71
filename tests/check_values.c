/*
 * check_values.c - structured header values (src/wire/values.c).
 *
 * Table-driven: every vector, valid or not, is parsed from a copy whose last byte sits right
 * before a PROT_NONE page, so reading one byte too far crashes the test. Vectors carry their
 * exact length, so embedded NULs are part of them.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "suites.h"
#include "testutil.h"
#include "wire/values.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define U MSRP_RANGE_UNKNOWN
#define TWO63 (UINT64_C(1) << 63)

/* A byte string with its exact length. */
struct vec {
    const char *s;
    size_t len;
};
/* clang-format off */
#define V(lit) {(lit), sizeof(lit) - 1}
/* clang-format on */

/* A guarded copy of a vector, seen as a span. */
struct guard {
    char *p;
    size_t len;
};

static struct msrp_span guard_vec(struct guard *g, struct vec v)
{
    g->p = guarded_copy(v.s, v.len);
    g->len = v.len;
    return msrp_span_make(g->p, v.len);
}

static void guard_free(struct guard *g)
{
    guarded_free(g->p, g->len);
}

/* The span equals the C string want. */
static void assert_span(struct msrp_span got, const char *want, const char *what)
{
    size_t n = strlen(want);
    ck_assert_msg(got.ptr != NULL, "%s: absent, want '%s'", what, want);
    ck_assert_msg(got.len == n && (n == 0 || memcmp(got.ptr, want, n) == 0),
                  "%s: got '%.*s', want '%s'", what, (int)got.len, got.ptr, want);
}

/* The span lies inside the input (so results really are zero-copy views of it). */
static void assert_inside(struct msrp_span s, struct msrp_span in, const char *what)
{
    ck_assert_msg(s.ptr >= in.ptr && s.ptr + s.len <= in.ptr + in.len, "%s: outside the input",
                  what);
}

/* ---- Byte-Range ------------------------------------------------------------------------- */

static const struct br_case {
    struct vec in;
    bool ok;
    uint64_t start, end, total;
} br_cases[] = {
    /* RFC 4975 examples and the usual shapes */
    {V("1-25/25"), true, 1, 25, 25},
    {V("1-*/*"), true, 1, U, U},
    {V("26-50/*"), true, 26, 50, U},
    {V("1-0/0"), true, 1, 0, 0},
    {V("1-*/1000"), true, 1, U, 1000},
    {V("1-1/1"), true, 1, 1, 1},
    {V("1-*/0"), true, 1, U, 0},
    {V("5-4/10"), true, 5, 4, 10},     /* empty chunk in the middle */
    {V("11-10/10"), true, 11, 10, 10}, /* empty chunk after the last byte */
    {V("11-*/10"), true, 11, U, 10},
    {V("101-200/*"), true, 101, 200, U},
    {V("0001-0025/0025"), true, 1, 25, 25}, /* 1*DIGIT allows leading zeros */
    {V("000000000000000000000000000001-1/00000000000000000000000000000001"), true, 1, 1, 1},
    {V("4294967296-4294967297/4294967297"), true, 4294967296u, 4294967297u, 4294967297u},
    {V("1-9223372036854775807/9223372036854775807"), true, 1, TWO63 - 1, TWO63 - 1},
    {V("1-9223372036854775808/9223372036854775808"), true, 1, TWO63, TWO63},
    {V("9223372036854775808-*/*"), true, TWO63, U, U},
    {V("9223372036854775808-9223372036854775807/*"), true, TWO63, TWO63 - 1, U},
    {V("9223372036854775808-9223372036854775808/9223372036854775808"), true, TWO63, TWO63, TWO63},
    {V("00009223372036854775808-*/*"), true, TWO63, U, U},
    /* syntax */
    {V(""), false, 0, 0, 0},
    {V("-"), false, 0, 0, 0},
    {V("1"), false, 0, 0, 0},
    {V("1-"), false, 0, 0, 0},
    {V("1-2"), false, 0, 0, 0},
    {V("1-2/"), false, 0, 0, 0},
    {V("-2/3"), false, 0, 0, 0},
    {V("1-/3"), false, 0, 0, 0},
    {V("1-2/*x"), false, 0, 0, 0},
    {V("1-2/3x"), false, 0, 0, 0},
    {V("a-2/3"), false, 0, 0, 0},
    {V("1-b/3"), false, 0, 0, 0},
    {V("1-2/c"), false, 0, 0, 0},
    {V("1--2/3"), false, 0, 0, 0},
    {V("+1-2/3"), false, 0, 0, 0},
    {V("1-+2/3"), false, 0, 0, 0},
    {V("1-2/+3"), false, 0, 0, 0},
    {V("1-2/-3"), false, 0, 0, 0},
    {V("1-2/3/4"), false, 0, 0, 0},
    {V("1-2-3/4"), false, 0, 0, 0},
    {V("1-**/5"), false, 0, 0, 0},
    {V("1-*/**"), false, 0, 0, 0},
    {V("1-5*/5"), false, 0, 0, 0},
    {V("*-2/3"), false, 0, 0, 0},
    {V("*-*/*"), false, 0, 0, 0},
    {V("1.0-2/3"), false, 0, 0, 0},
    {V("1-2/3.0"), false, 0, 0, 0},
    {V("0x1-2/3"), false, 0, 0, 0},
    {V("1_2/3"), false, 0, 0, 0},
    {V("1-2\\3"), false, 0, 0, 0},
    {V("1-2/3\0"), false, 0, 0, 0},
    {V("1\0-2/3"), false, 0, 0, 0},
    {V("1-2/3\r\n"), false, 0, 0, 0},
    /* whitespace anywhere */
    {V(" 1-2/3"), false, 0, 0, 0},
    {V("1-2/3 "), false, 0, 0, 0},
    {V("1 -2/3"), false, 0, 0, 0},
    {V("1- 2/3"), false, 0, 0, 0},
    {V("1-2 /3"), false, 0, 0, 0},
    {V("1-2/ 3"), false, 0, 0, 0},
    {V("1-2/3\t"), false, 0, 0, 0},
    /* arithmetic */
    {V("0-5/10"), false, 0, 0, 0},
    {V("0-0/0"), false, 0, 0, 0},
    {V("0-*/*"), false, 0, 0, 0},
    {V("00-1/1"), false, 0, 0, 0},
    {V("5-3/10"), false, 0, 0, 0}, /* end < start - 1 */
    {V("3-1/*"), false, 0, 0, 0},
    {V("1-11/10"), false, 0, 0, 0}, /* end > total */
    {V("1-1/0"), false, 0, 0, 0},
    {V("12-*/10"), false, 0, 0, 0}, /* start > total + 1 */
    {V("12-12/10"), false, 0, 0, 0},
    {V("2-1/0"), false, 0, 0, 0},
    /* overflow: above 2^63, including values that wrap a naive 64-bit accumulator */
    {V("9223372036854775809-*/*"), false, 0, 0, 0},
    {V("1-9223372036854775809/*"), false, 0, 0, 0},
    {V("1-*/9223372036854775809"), false, 0, 0, 0},
    {V("9999999999999999999-*/*"), false, 0, 0, 0},
    {V("18446744073709551615-*/*"), false, 0, 0, 0},
    {V("18446744073709551616-*/*"), false, 0, 0, 0}, /* 2^64: wraps to 0 */
    {V("18446744073709551617-*/*"), false, 0, 0, 0}, /* 2^64 + 1: wraps to 1 */
    {V("1-36893488147419103233/*"), false, 0, 0, 0}, /* 2^65 + 1 */
    {V("1-*/99999999999999999999999999999999999999"), false, 0, 0, 0},
    {V("92233720368547758080-*/*"), false, 0, 0, 0},
};

START_TEST(test_byte_range)
{
    const struct br_case *c = &br_cases[_i];
    struct guard g;
    struct msrp_span v = guard_vec(&g, c->in);
    struct msrp_byte_range r = {7, 7, 7};
    bool ok = msrp_byte_range_parse(v, &r);

    ck_assert_msg(ok == c->ok, "#%d '%.*s': got %d, want %d", _i, (int)c->in.len, c->in.s, ok,
                  c->ok);
    if (ok) {
        ck_assert_uint_eq(r.start, c->start);
        ck_assert_uint_eq(r.end, c->end);
        ck_assert_uint_eq(r.total, c->total);
    } else {
        /* A failed parse leaves *out alone. */
        ck_assert(r.start == 7 && r.end == 7 && r.total == 7);
    }
    guard_free(&g);
}
END_TEST

/*
 * A reference model written the slow, obvious way (split on the separators, then compare each
 * number's digits with 2^63 as text), to compare the single-pass parser against on random
 * strings.
 */
static bool ref_number(const char *s, size_t len, uint64_t *out)
{
    static const char limit[] = "9223372036854775808";
    uint64_t n = 0;

    if (len == 1 && s[0] == '*') {
        *out = U;
        return true;
    }
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    while (len > 1 && s[0] == '0') {
        s++;
        len--;
    }
    if (len > 19 || (len == 19 && memcmp(s, limit, 19) > 0))
        return false;
    for (size_t i = 0; i < len; i++)
        n = n * 10 + (uint64_t)(s[i] - '0');
    *out = n;
    return true;
}

static bool ref_byte_range(const char *s, size_t len, struct msrp_byte_range *r)
{
    const char *end = s + len;
    const char *dash = memchr(s, '-', len);
    if (dash == NULL)
        return false;
    const char *slash = memchr(dash + 1, '/', (size_t)(end - dash - 1));
    if (slash == NULL)
        return false;
    if (!ref_number(s, (size_t)(dash - s), &r->start) || r->start == U)
        return false;
    if (!ref_number(dash + 1, (size_t)(slash - dash - 1), &r->end))
        return false;
    if (!ref_number(slash + 1, (size_t)(end - slash - 1), &r->total))
        return false;
    if (r->start < 1)
        return false;
    if (r->end != U && r->end + 1 < r->start)
        return false;
    if (r->total != U && r->end != U && r->end > r->total)
        return false;
    if (r->total != U && r->start > r->total + 1)
        return false;
    return true;
}

/* One random field: mostly plausible numbers, sometimes at the 2^63 edge, sometimes junk. */
static size_t random_field(uint64_t *st, char *out)
{
    static const char *const edges[] = {
        "9223372036854775807",
        "9223372036854775808",
        "9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "0",
        "00",
        "*",
        "",
        "**",
        " 1",
        "1 ",
        "0009223372036854775808",
    };
    uint64_t k = test_rand(st) % 8;

    if (k == 0) {
        const char *e = edges[test_rand(st) % NELEM(edges)];
        memcpy(out, e, strlen(e));
        return strlen(e);
    }
    if (k == 1) {
        /* random characters from the Byte-Range alphabet */
        static const char alpha[] = "0123456789-/*x ";
        size_t n = (size_t)(test_rand(st) % 6);
        for (size_t i = 0; i < n; i++)
            out[i] = alpha[test_rand(st) % (sizeof alpha - 1)];
        return n;
    }
    /* a number of 1 to 21 digits, small ones more often */
    size_t n = 1 + (size_t)(test_rand(st) % (k == 2 ? 21 : 3));
    for (size_t i = 0; i < n; i++)
        out[i] = (char)('0' + test_rand(st) % 10);
    return n;
}

START_TEST(test_byte_range_model)
{
    uint64_t st = 0x9E3779B97F4A7C15u + (uint64_t)_i;
    char buf[128];

    for (int iter = 0; iter < 20000; iter++) {
        size_t n = random_field(&st, buf);
        if (test_rand(&st) % 16 != 0)
            buf[n++] = '-';
        n += random_field(&st, buf + n);
        if (test_rand(&st) % 16 != 0)
            buf[n++] = '/';
        n += random_field(&st, buf + n);

        struct msrp_byte_range want, got = {0, 0, 0};
        bool want_ok = ref_byte_range(buf, n, &want);
        struct guard g;
        struct vec in = {buf, n};
        bool ok = msrp_byte_range_parse(guard_vec(&g, in), &got);
        guard_free(&g);
        ck_assert_msg(ok == want_ok, "'%.*s': got %d, model says %d", (int)n, buf, ok, want_ok);
        if (ok) {
            ck_assert_msg(got.start == want.start && got.end == want.end && got.total == want.total,
                          "'%.*s': values differ from the model", (int)n, buf);
        }
    }
}
END_TEST

/* ---- Byte-Range formatting -------------------------------------------------------------- */

static const struct fmt_case {
    struct msrp_byte_range r;
    const char *want;
    bool valid; /* msrp_byte_range_parse accepts the text */
} fmt_cases[] = {
    {{1, 25, 25}, "1-25/25", true},
    {{1, U, U}, "1-*/*", true},
    {{26, 50, U}, "26-50/*", true},
    {{1, 0, 0}, "1-0/0", true},
    {{1, U, 1000}, "1-*/1000", true},
    {{1000001, 2000000, 123456789012}, "1000001-2000000/123456789012", true},
    {{TWO63, TWO63, TWO63}, "9223372036854775808-9223372036854775808/9223372036854775808", true},
    {{10, 9, 10}, "10-9/10", true},
    /* Formatting does not judge: out-of-contract values still come out as numbers. */
    {{0, 0, 0}, "0-0/0", false},
    {{U, 18446744073709551614u, 1}, "18446744073709551615-18446744073709551614/1", false},
};

START_TEST(test_byte_range_format)
{
    const struct fmt_case *c = &fmt_cases[_i];
    size_t want_len = strlen(c->want);

    /* Whatever the capacity, the return value is the full length, and the output is the
     * longest prefix that fits with its NUL. The buffer ends at a guard page, so writing one
     * byte past cap crashes. */
    ck_assert_uint_eq(msrp_byte_range_format(&c->r, NULL, 0), want_len);
    char fill[80];
    memset(fill, 'Z', sizeof fill);
    ck_assert_uint_lt(want_len + 2, sizeof fill);
    for (size_t cap = 1; cap <= want_len + 2; cap++) {
        char *buf = guarded_copy(fill, cap);
        size_t n = msrp_byte_range_format(&c->r, buf, cap);
        ck_assert_uint_eq(n, want_len);
        size_t kept = want_len < cap ? want_len : cap - 1;
        ck_assert_msg(memcmp(buf, c->want, kept) == 0 && buf[kept] == '\0', "cap %zu: got '%s'",
                      cap, buf);
        guarded_free(buf, cap);
    }

    /* And a valid range parses back from its text to the same numbers. */
    char out[64];
    size_t n = msrp_byte_range_format(&c->r, out, sizeof out);
    struct msrp_byte_range back;
    struct guard g;
    struct vec in = {out, n};
    bool ok = msrp_byte_range_parse(guard_vec(&g, in), &back);
    guard_free(&g);
    ck_assert_int_eq(ok, c->valid);
    if (ok)
        ck_assert(back.start == c->r.start && back.end == c->r.end && back.total == c->r.total);
}
END_TEST

static uint64_t rand_between(uint64_t *st, uint64_t lo, uint64_t hi)
{
    /* Spread over magnitudes: pick a random bit width first, so that small values, values
     * near 2^32 and values near 2^63 all turn up. */
    uint64_t span = hi - lo;
    uint64_t x = test_rand(st) >> (test_rand(st) % 64);
    return span == UINT64_MAX ? lo + x : lo + x % (span + 1);
}

START_TEST(test_byte_range_roundtrip_random)
{
    uint64_t st = 0xD1B54A32D192ED03u;

    for (int iter = 0; iter < 100000; iter++) {
        struct msrp_byte_range r, back;
        r.total = test_rand(&st) % 4 == 0 ? U : rand_between(&st, 0, TWO63);
        uint64_t start_max = r.total == U ? TWO63 : (r.total + 1 > TWO63 ? TWO63 : r.total + 1);
        r.start = rand_between(&st, 1, start_max);
        uint64_t end_max = r.total == U ? TWO63 : r.total;
        r.end = test_rand(&st) % 4 == 0 || end_max < r.start - 1
                    ? U
                    : rand_between(&st, r.start - 1, end_max);

        char buf[64];
        size_t n = msrp_byte_range_format(&r, buf, sizeof buf);
        ck_assert_uint_lt(n, sizeof buf);
        ck_assert_uint_eq(strlen(buf), n);
        struct guard g;
        struct vec in = {buf, n};
        ck_assert_msg(msrp_byte_range_parse(guard_vec(&g, in), &back), "'%s' did not parse", buf);
        guard_free(&g);
        ck_assert_msg(back.start == r.start && back.end == r.end && back.total == r.total,
                      "'%s' came back different", buf);
    }
}
END_TEST

/* ---- Success-Report / Failure-Report ---------------------------------------------------- */

static const struct report_case {
    struct vec in;
    bool failure; /* Failure-Report rather than Success-Report */
    bool ok;
    enum msrp_report want;
} report_cases[] = {
    {V("yes"), false, true, MSRP_REPORT_YES},
    {V("no"), false, true, MSRP_REPORT_NO},
    {V("partial"), false, false, 0}, /* only Failure-Report has partial */
    {V("Yes"), false, false, 0},
    {V("YES"), false, false, 0},
    {V("NO"), false, false, 0},
    {V(""), false, false, 0},
    {V("y"), false, false, 0},
    {V("ye"), false, false, 0},
    {V("yess"), false, false, 0},
    {V("yes "), false, false, 0},
    {V(" yes"), false, false, 0},
    {V("no\0"), false, false, 0},
    {V("true"), false, false, 0},
    {V("yes"), true, true, MSRP_REPORT_YES},
    {V("no"), true, true, MSRP_REPORT_NO},
    {V("partial"), true, true, MSRP_REPORT_PARTIAL},
    {V("Partial"), true, false, 0},
    {V("PARTIAL"), true, false, 0},
    {V("partia"), true, false, 0},
    {V("partials"), true, false, 0},
    {V("partial "), true, false, 0},
    {V("n"), true, false, 0},
    {V(""), true, false, 0},
};

START_TEST(test_report)
{
    const struct report_case *c = &report_cases[_i];
    struct guard g;
    struct msrp_span v = guard_vec(&g, c->in);
    enum msrp_report r = MSRP_REPORT_ABSENT;
    bool ok = c->failure ? msrp_failure_report_parse(v, &r) : msrp_success_report_parse(v, &r);

    ck_assert_msg(ok == c->ok, "#%d '%.*s'", _i, (int)c->in.len, c->in.s);
    ck_assert_int_eq(r, ok ? c->want : MSRP_REPORT_ABSENT);
    if (ok) {
        const char *name = msrp_report_name(r);
        ck_assert(strlen(name) == c->in.len && memcmp(name, c->in.s, c->in.len) == 0);
    }
    guard_free(&g);
}
END_TEST

START_TEST(test_report_name)
{
    ck_assert_str_eq(msrp_report_name(MSRP_REPORT_YES), "yes");
    ck_assert_str_eq(msrp_report_name(MSRP_REPORT_NO), "no");
    ck_assert_str_eq(msrp_report_name(MSRP_REPORT_PARTIAL), "partial");
    ck_assert_ptr_null(msrp_report_name(MSRP_REPORT_ABSENT));
    ck_assert_ptr_null(msrp_report_name((enum msrp_report)42));

    /* name and parse are inverses */
    for (int r = MSRP_REPORT_YES; r <= MSRP_REPORT_PARTIAL; r++) {
        enum msrp_report back;
        ck_assert(msrp_failure_report_parse(msrp_span_cstr(msrp_report_name(r)), &back));
        ck_assert_int_eq(back, r);
    }
}
END_TEST

/* ---- Status ----------------------------------------------------------------------------- */

static const struct status_case {
    struct vec in;
    bool ok;
    int ns, code;
    const char *reason;
} status_cases[] = {
    {V("000 200 OK"), true, 0, 200, "OK"},
    {V("000 413"), true, 0, 413, ""},
    {V("000 481 Session does not exist"), true, 0, 481, "Session does not exist"},
    {V("000 200 "), true, 0, 200, ""}, /* text-reason is utf8text, which may be empty */
    {V("000 200  two spaces"), true, 0, 200, " two spaces"},
    {V("000 200 \tOK"), true, 0, 200, "\tOK"},
    {V("123 999 x"), true, 123, 999, "x"}, /* any namespace: the caller checks for 000 */
    {V("000 000"), true, 0, 0, ""},
    {V("000 200 caf\xc3\xa9"), true, 0, 200, "caf\xc3\xa9"},
    {V("000 200 \xe2\x82\xac \xf0\x9f\x98\x80"), true, 0, 200, "\xe2\x82\xac \xf0\x9f\x98\x80"},
    {V("000 200 \xf8\x88\x80\x80\x80"), true, 0, 200, "\xf8\x88\x80\x80\x80"}, /* 5-byte form */
    {V("000 200 \xfc\x84\x80\x80\x80\x80"), true, 0, 200, "\xfc\x84\x80\x80\x80\x80"},
    {V("000 200 ~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"), true, 0, 200,
     "~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"},
    /* bad widths and separators */
    {V(""), false, 0, 0, NULL},
    {V("000"), false, 0, 0, NULL},
    {V("000 "), false, 0, 0, NULL},
    {V("000 20"), false, 0, 0, NULL},
    {V("00 200 OK"), false, 0, 0, NULL},
    {V("0000 200 OK"), false, 0, 0, NULL},
    {V("0 200"), false, 0, 0, NULL},
    {V("000 20 OK"), false, 0, 0, NULL},
    {V("000 2000"), false, 0, 0, NULL},
    {V("000 2000 OK"), false, 0, 0, NULL},
    {V("000 200OK"), false, 0, 0, NULL},
    {V("000  200"), false, 0, 0, NULL},
    {V(" 000 200"), false, 0, 0, NULL},
    {V("000\t200"), false, 0, 0, NULL},
    {V("000-200"), false, 0, 0, NULL},
    {V("000 200\tOK"), false, 0, 0, NULL},
    {V("abc 200"), false, 0, 0, NULL},
    {V("000 2x0"), false, 0, 0, NULL},
    {V("-00 200"), false, 0, 0, NULL},
    {V("000 +20"), false, 0, 0, NULL},
    /* bad text-reason */
    {V("000 200 OK\x01"), false, 0, 0, NULL},
    {V("000 200 OK\r"), false, 0, 0, NULL},
    {V("000 200 OK\r\n"), false, 0, 0, NULL},
    {V("000 200 O\0K"), false, 0, 0, NULL},
    {V("000 200 \x7f"), false, 0, 0, NULL},
    {V("000 200 \xc3"), false, 0, 0, NULL},     /* truncated sequence at the very end */
    {V("000 200 \xe2\x82"), false, 0, 0, NULL}, /* truncated sequence at the very end */
    {V("000 200 \x80"), false, 0, 0, NULL},     /* stray continuation byte */
    {V("000 200 \xc3("), false, 0, 0, NULL},
    {V("000 200 \xfe"), false, 0, 0, NULL},
    {V("000 200 \xff"), false, 0, 0, NULL},
};

START_TEST(test_status)
{
    const struct status_case *c = &status_cases[_i];
    struct guard g;
    struct msrp_span v = guard_vec(&g, c->in);
    struct msrp_status st = {-1, -1, {NULL, 0}};
    bool ok = msrp_status_parse(v, &st);

    ck_assert_msg(ok == c->ok, "#%d '%.*s': got %d", _i, (int)c->in.len, c->in.s, ok);
    if (ok) {
        ck_assert_int_eq(st.ns, c->ns);
        ck_assert_int_eq(st.code, c->code);
        assert_span(st.reason, c->reason, "reason");
        assert_inside(st.reason, v, "reason");
    } else {
        ck_assert(st.ns == -1 && st.code == -1 && st.reason.ptr == NULL);
    }
    guard_free(&g);
}
END_TEST

/* ---- Expires ---------------------------------------------------------------------------- */

static const struct expires_case {
    struct vec in;
    bool ok;
    uint32_t want;
} expires_cases[] = {
    {V("0"), true, 0},
    {V("1"), true, 1},
    {V("3600"), true, 3600},
    {V("4294967295"), true, UINT32_MAX},
    {V("0004294967295"), true, UINT32_MAX},
    {V("00000000000000000000000000000007"), true, 7},
    {V(""), false, 0},
    {V("4294967296"), false, 0},
    {V("42949672950"), false, 0},
    {V("18446744073709551616"), false, 0},
    {V("99999999999999999999999"), false, 0},
    {V("-1"), false, 0},
    {V("+1"), false, 0},
    {V("1 "), false, 0},
    {V(" 1"), false, 0},
    {V("1.5"), false, 0},
    {V("0x10"), false, 0},
    {V("1e3"), false, 0},
    {V("12\0"), false, 0},
};

START_TEST(test_expires)
{
    const struct expires_case *c = &expires_cases[_i];
    struct guard g;
    struct msrp_span v = guard_vec(&g, c->in);
    uint32_t x = 12345;
    bool ok = msrp_expires_parse(v, &x);

    ck_assert_msg(ok == c->ok, "#%d '%.*s': got %d", _i, (int)c->in.len, c->in.s, ok);
    ck_assert_uint_eq(x, ok ? c->want : 12345);
    guard_free(&g);
}
END_TEST

/* ---- Message-ID ------------------------------------------------------------------------- */

static const struct msgid_case {
    struct vec in;
    bool ok;
} msgid_cases[] = {
    {V("abcd"), true},
    {V("AbC9"), true},
    {V("1234"), true},
    {V("a.-+"), true},
    {V("a%=."), true},
    {V("12339sdqwer"), true}, /* RFC 4975 section 7.1.1 example */
    {V("456s9wlk3"), true},
    {V("abcdefghijklmnopqrstuvwxyz012345"), true},   /* 32 */
    {V("abc"), false},                               /* 3 */
    {V("abcdefghijklmnopqrstuvwxyz0123456"), false}, /* 33 */
    {V(""), false},
    {V(".abc"), false},
    {V("-abc"), false},
    {V("+abc"), false},
    {V("%abc"), false},
    {V("=abc"), false},
    {V("ab cd"), false},
    {V("abcd "), false},
    {V(" abcd"), false},
    {V("abc/"), false},
    {V("abc_"), false},
    {V("abc\0"), false},
    {V("abc\xc3\xa9"), false},
};

START_TEST(test_message_id)
{
    const struct msgid_case *c = &msgid_cases[_i];
    struct guard g;
    bool ok = msrp_message_id_valid(guard_vec(&g, c->in));

    ck_assert_msg(ok == c->ok, "#%d '%.*s': got %d", _i, (int)c->in.len, c->in.s, ok);
    guard_free(&g);
}
END_TEST

static bool is_alnum(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Every byte value in the first position and in a later one, against ident's definition. */
START_TEST(test_message_id_chars)
{
    int c = _i;
    bool ident_char = is_alnum(c) || c == '.' || c == '-' || c == '+' || c == '%' || c == '=';
    char first[4] = {(char)c, 'b', 'c', 'd'};
    char later[4] = {'a', 'b', (char)c, 'd'};
    struct guard g;
    struct vec v1 = {first, 4}, v2 = {later, 4};

    ck_assert_msg(msrp_message_id_valid(guard_vec(&g, v1)) == is_alnum(c), "first 0x%02x", c);
    guard_free(&g);
    ck_assert_msg(msrp_message_id_valid(guard_vec(&g, v2)) == ident_char, "later 0x%02x", c);
    guard_free(&g);
}
END_TEST

/* ---- parameters, media types, dispositions ---------------------------------------------- */

struct want_param {
    const char *name;
    const char *value;
    bool quoted;
    const char *unquoted; /* msrp_unquote's result; NULL when the same as value */
};

/* Walks params with msrp_param_next and compares with want[0 .. n-1], then expects `last`. */
static void check_params(struct msrp_span params, char sep, const struct want_param *want, size_t n,
                         int last, struct msrp_span input)
{
    struct msrp_param p;
    char buf[128];

    for (size_t i = 0; i < n; i++) {
        int rc = msrp_param_next(&params, sep, &p);
        ck_assert_msg(rc == 1, "param %zu: rc %d", i, rc);
        assert_span(p.name, want[i].name, "name");
        assert_span(p.value, want[i].value, "value");
        assert_inside(p.name, input, "name");
        assert_inside(p.value, input, "value");
        ck_assert_msg(p.quoted == want[i].quoted, "param %zu: quoted %d", i, p.quoted);
        const char *uq = want[i].unquoted ? want[i].unquoted : want[i].value;
        int len = msrp_unquote(p.value, buf, sizeof buf);
        ck_assert_msg(len >= 0 && (size_t)len == strlen(uq) && strcmp(buf, uq) == 0,
                      "param %zu: unquoted '%s', want '%s'", i, buf, uq);
    }
    struct msrp_span before = params;
    int rc = msrp_param_next(&params, sep, &p);
    ck_assert_msg(rc == last, "after %zu params: rc %d, want %d", n, rc, last);
    if (rc == 0)
        ck_assert_uint_eq(params.len, 0);
    else
        ck_assert(params.ptr == before.ptr && params.len == before.len);
}

static const struct mt_case {
    struct vec in;
    bool ok;
    const char *type, *subtype;
    size_t n;
    struct want_param params[3];
} mt_cases[] = {
    {V("text/plain"), true, "text", "plain", 0, {{0}}},
    {V("message/cpim"), true, "message", "cpim", 0, {{0}}},
    {V("application/vnd.3gpp.sms+xml"), true, "application", "vnd.3gpp.sms+xml", 0, {{0}}},
    {V("text/plain; charset=utf-8"), true, "text", "plain", 1, {{"charset", "utf-8", false, 0}}},
    {V("text/plain;charset=UTF-8;format=flowed"),
     true,
     "text",
     "plain",
     2,
     {{"charset", "UTF-8", false, 0}, {"format", "flowed", false, 0}}},
    {V("text/plain ; charset = \"utf-8\"\t"),
     true,
     "text",
     "plain",
     1,
     {{"charset", "utf-8", true, 0}}},
    {V("multipart/mixed; boundary=\"simple boundary\""),
     true,
     "multipart",
     "mixed",
     1,
     {{"boundary", "simple boundary", true, 0}}},
    {V("application/x-foo; name=\"a \\\"b\\\" c\"; q=\"\\\\\""),
     true,
     "application",
     "x-foo",
     2,
     {{"name", "a \\\"b\\\" c", true, "a \"b\" c"}, {"q", "\\\\", true, "\\"}}},
    {V("text/plain; a=\"\""), true, "text", "plain", 1, {{"a", "", true, 0}}},
    {V("text/plain; flag"), true, "text", "plain", 1, {{"flag", "", false, 0}}},
    {V("text/plain; flag; b=c"),
     true,
     "text",
     "plain",
     2,
     {{"flag", "", false, 0}, {"b", "c", false, 0}}},
    {V("text/plain; title=\"caf\xc3\xa9 (\\x)\""),
     true,
     "text",
     "plain",
     1,
     {{"title", "caf\xc3\xa9 (\\x)", true, "caf\xc3\xa9 (x)"}}},
    {V("text/plain; a=\"semi;colon,comma=eq\""),
     true,
     "text",
     "plain",
     1,
     {{"a", "semi;colon,comma=eq", true, 0}}},
    {V("x-{a}/y~z!#$%&'*+-.^_`|"), true, "x-{a}", "y~z!#$%&'*+-.^_`|", 0, {{0}}},
    {V("text/plain "), true, "text", "plain", 0, {{0}}},
    /* malformed */
    {V(""), false, 0, 0, 0, {{0}}},
    {V("text"), false, 0, 0, 0, {{0}}},
    {V("text/"), false, 0, 0, 0, {{0}}},
    {V("/plain"), false, 0, 0, 0, {{0}}},
    {V("/"), false, 0, 0, 0, {{0}}},
    {V("text /plain"), false, 0, 0, 0, {{0}}},
    {V("text/ plain"), false, 0, 0, 0, {{0}}},
    {V(" text/plain"), false, 0, 0, 0, {{0}}},
    {V("text/plain/html"), false, 0, 0, 0, {{0}}},
    {V("te@xt/plain"), false, 0, 0, 0, {{0}}},
    {V("text/pl(ain"), false, 0, 0, 0, {{0}}},
    {V("text/plain\x01"), false, 0, 0, 0, {{0}}},
    {V("text/plain;"), false, 0, 0, 0, {{0}}},
    {V("text/plain; "), false, 0, 0, 0, {{0}}},
    {V("text/plain;;a=b"), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=b;"), false, 0, 0, 0, {{0}}},
    {V("text/plain; =b"), false, 0, 0, 0, {{0}}},
    {V("text/plain; a="), false, 0, 0, 0, {{0}}},
    {V("text/plain; a= "), false, 0, 0, 0, {{0}}},
    {V("text/plain; a==b"), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=b c"), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=[b]"), false, 0, 0, 0, {{0}}},
    {V("text/plain; a b=c"), false, 0, 0, 0, {{0}}},
    {V("text/plain, a=b"), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=\"unterminated"), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=\""), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=\"x\"y"), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=\"x\"\"y\""), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=\"bad\\\""), false, 0, 0, 0, {{0}}}, /* escaped closing quote */
    {V("text/plain; a=\"bad\\"), false, 0, 0, 0, {{0}}},   /* backslash at the very end */
    {V("text/plain; a=\"ctl\x01\""), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=\"x\\\x01\""), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=\"x\\\xc3\xa9\""), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=\"\xc3\""), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=\"\xc3"), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=\"\xff\""), false, 0, 0, 0, {{0}}},
    {V("text/plain; a=\"nul\0\""), false, 0, 0, 0, {{0}}},
};

START_TEST(test_media_type)
{
    const struct mt_case *c = &mt_cases[_i];
    struct guard g;
    struct msrp_span v = guard_vec(&g, c->in);
    struct msrp_media_type mt = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    bool ok = msrp_media_type_parse(v, &mt);

    ck_assert_msg(ok == c->ok, "#%d '%.*s': got %d", _i, (int)c->in.len, c->in.s, ok);
    if (ok) {
        assert_span(mt.type, c->type, "type");
        assert_span(mt.subtype, c->subtype, "subtype");
        assert_inside(mt.params, v, "params");
        ck_assert(mt.params.ptr + mt.params.len == v.ptr + v.len);
        check_params(mt.params, ';', c->params, c->n, 0, v);
    } else {
        ck_assert(mt.type.ptr == NULL && mt.subtype.ptr == NULL && mt.params.ptr == NULL);
    }
    guard_free(&g);
}
END_TEST

/* token = 1*(%x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E), RFC 4975 s.9 */
static bool is_token_char(int c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x27) || (c >= 0x2A && c <= 0x2B) ||
           (c >= 0x2D && c <= 0x2E) || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) ||
           (c >= 0x5E && c <= 0x7E);
}

/* Every byte value as a one-character subtype, and inside a quoted parameter value. */
START_TEST(test_media_type_chars)
{
    int c = _i;
    char sub[3] = {'x', '/', (char)c};
    char quoted[9] = {'x', '/', 'y', ';', 'a', '=', '"', (char)c, '"'};
    struct vec v1 = {sub, 3}, v2 = {quoted, 9};
    struct msrp_media_type mt;
    struct guard g;

    ck_assert_msg(msrp_media_type_parse(guard_vec(&g, v1), &mt) == is_token_char(c), "0x%02x", c);
    guard_free(&g);

    /* qdtext = SP / HTAB / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII (a lone byte >= 0x80 is
     * never a whole UTF8-NONASCII sequence) */
    bool qdtext =
        c == 0x20 || c == 0x09 || c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
    ck_assert_msg(msrp_media_type_parse(guard_vec(&g, v2), &mt) == qdtext, "quoted 0x%02x", c);
    guard_free(&g);
}
END_TEST

static const struct disp_case {
    struct vec in;
    bool ok;
    const char *type;
    size_t n;
    struct want_param params[3];
} disp_cases[] = {
    {V("inline"), true, "inline", 0, {{0}}},
    {V("render"), true, "render", 0, {{0}}},
    {V("attachment; filename=\"a.txt\""), true, "attachment", 1, {{"filename", "a.txt", true, 0}}},
    {V("render; handling=optional"), true, "render", 1, {{"handling", "optional", false, 0}}},
    {V("attachment; filename=foo.txt; size=1024; creation-date=\"Wed, 12 Feb 1997 16:29:51 "
       "-0500\""),
     true,
     "attachment",
     3,
     {{"filename", "foo.txt", false, 0},
      {"size", "1024", false, 0},
      {"creation-date", "Wed, 12 Feb 1997 16:29:51 -0500", true, 0}}},
    {V("attachment ;filename = \"x \\\"y\\\"\" "),
     true,
     "attachment",
     1,
     {{"filename", "x \\\"y\\\"", true, "x \"y\""}}},
    {V(""), false, 0, 0, {{0}}},
    {V(" inline"), false, 0, 0, {{0}}},
    {V("in line"), false, 0, 0, {{0}}},
    {V("inl@ne"), false, 0, 0, {{0}}},
    {V("inline;"), false, 0, 0, {{0}}},
    {V("attachment; filename"), false, 0, 0, {{0}}}, /* RFC 2183 parameters have values */
    {V("attachment filename=x"), false, 0, 0, {{0}}},
    {V("attachment; filename=\"x"), false, 0, 0, {{0}}},
    {V("attachment; filename=a b"), false, 0, 0, {{0}}},
    {V("attachment, filename=a"), false, 0, 0, {{0}}},
    {V("text/plain"), false, 0, 0, {{0}}},
};

START_TEST(test_disposition)
{
    const struct disp_case *c = &disp_cases[_i];
    struct guard g;
    struct msrp_span v = guard_vec(&g, c->in);
    struct msrp_disposition d = {{NULL, 0}, {NULL, 0}};
    bool ok = msrp_disposition_parse(v, &d);

    ck_assert_msg(ok == c->ok, "#%d '%.*s': got %d", _i, (int)c->in.len, c->in.s, ok);
    if (ok) {
        assert_span(d.type, c->type, "type");
        assert_inside(d.params, v, "params");
        check_params(d.params, ';', c->params, c->n, 0, v);
    } else {
        ck_assert(d.type.ptr == NULL && d.params.ptr == NULL);
    }
    guard_free(&g);
}
END_TEST

static const struct pn_case {
    struct vec in;
    char sep;
    size_t n;
    struct want_param params[3];
    int last;
} pn_cases[] = {
    {V(""), ';', 0, {{0}}, 0},
    {V("   "), ';', 0, {{0}}, 0},
    {V(";a=b;c=\"d\""), ';', 2, {{"a", "b", false, 0}, {"c", "d", true, 0}}, 0},
    {V(" ; a = b ; c "), ';', 2, {{"a", "b", false, 0}, {"c", "", false, 0}}, 0},
    {V(", realm=\"x\" ,\tnonce=y"), ',', 2, {{"realm", "x", true, 0}, {"nonce", "y", false, 0}}, 0},
    {V(";a=\"x\\\"y\""), ';', 1, {{"a", "x\\\"y", true, "x\"y"}}, 0},
    {V(";a=\"\\\\\\\\\""), ';', 1, {{"a", "\\\\\\\\", true, "\\\\"}}, 0},
    {V(";A-B.c=~"), ';', 1, {{"A-B.c", "~", false, 0}}, 0},
    /* errors, possibly after some good parameters */
    {V(", flag"), ',', 0, {{0}}, -1}, /* digest parameters need a value */
    {V(", a=b, flag"), ',', 1, {{"a", "b", false, 0}}, -1},
    {V("a=b"), ';', 0, {{0}}, -1}, /* must start at a separator */
    {V(";"), ';', 0, {{0}}, -1},
    {V("; "), ';', 0, {{0}}, -1},
    {V(";;"), ';', 0, {{0}}, -1},
    {V(";a=b;"), ';', 1, {{"a", "b", false, 0}}, -1},
    {V(";a=b c"), ';', 1, {{"a", "b", false, 0}}, -1},
    {V(";a=b"), ',', 0, {{0}}, -1},
    {V(",a=b"), ';', 0, {{0}}, -1},
    {V(";a=\"x"), ';', 0, {{0}}, -1},
    {V(";a=\"x\";b"), ';', 2, {{"a", "x", true, 0}, {"b", "", false, 0}}, 0},
    {V(";a=\"x\"b"), ';', 1, {{"a", "x", true, 0}}, -1},
    {V(";\"a\"=b"), ';', 0, {{0}}, -1},
    {V(";a=,b=c"), ',', 0, {{0}}, -1},
};

START_TEST(test_param_next)
{
    const struct pn_case *c = &pn_cases[_i];
    struct guard g;
    struct msrp_span v = guard_vec(&g, c->in);

    check_params(v, c->sep, c->params, c->n, c->last, v);
    guard_free(&g);
}
END_TEST

/* An empty rest, even with a NULL pointer, is the end. */
START_TEST(test_param_next_empty)
{
    struct msrp_span rest = {NULL, 0};
    struct msrp_param p;

    ck_assert_int_eq(msrp_param_next(&rest, ';', &p), 0);
    ck_assert_int_eq(msrp_param_next(&rest, ',', &p), 0);
}
END_TEST

static const struct unquote_case {
    struct vec in;
    size_t cap;
    int rc;
    const char *want;
} unquote_cases[] = {
    {V("abc"), 4, 3, "abc"},
    {V("abc"), 100, 3, "abc"},
    {V("abc"), 3, -1, NULL},
    {V("abc"), 1, -1, NULL},
    {V("abc"), 0, -1, NULL},
    {V(""), 1, 0, ""},
    {V(""), 0, -1, NULL},
    {V("a\\\"b"), 4, 3, "a\"b"},
    {V("a\\\"b"), 3, -1, NULL},
    {V("\\\\"), 2, 1, "\\"},
    {V("\\\\\\\""), 3, 2, "\\\""},
    {V("x\\y"), 3, 2, "xy"},
    {V("caf\xc3\xa9"), 6, 5, "caf\xc3\xa9"},
    {V("\\"), 2, 1, "\\"}, /* a lone trailing backslash (never valid) is copied as it is */
};

START_TEST(test_unquote)
{
    const struct unquote_case *c = &unquote_cases[_i];
    struct guard g;
    struct msrp_span v = guard_vec(&g, c->in);
    char fill[128];
    memset(fill, 'Z', sizeof fill);
    /* The destination also ends at a guard page: no write beyond cap. */
    char *dst = c->cap ? guarded_copy(fill, c->cap) : NULL;

    int rc = msrp_unquote(v, dst, c->cap);
    ck_assert_int_eq(rc, c->rc);
    if (rc >= 0)
        ck_assert_str_eq(dst, c->want);
    if (dst)
        guarded_free(dst, c->cap);
    guard_free(&g);
}
END_TEST

/* values.h allows v.ptr == NULL with v.len == 0: every parser refuses it, without UB. */
START_TEST(test_null_span)
{
    struct msrp_span none = {NULL, 0};
    struct msrp_byte_range r;
    enum msrp_report rep;
    struct msrp_status st;
    uint32_t secs;
    struct msrp_media_type mt;
    struct msrp_disposition disp;
    struct msrp_digest d;

    ck_assert(!msrp_byte_range_parse(none, &r));
    ck_assert(!msrp_success_report_parse(none, &rep));
    ck_assert(!msrp_failure_report_parse(none, &rep));
    ck_assert(!msrp_status_parse(none, &st));
    ck_assert(!msrp_expires_parse(none, &secs));
    ck_assert(!msrp_message_id_valid(none));
    ck_assert(!msrp_media_type_parse(none, &mt));
    ck_assert(!msrp_disposition_parse(none, &disp));
    ck_assert(!msrp_digest_challenge_parse(none, &d));
    ck_assert(!msrp_digest_info_parse(none, &d));
}
END_TEST

/* An absent digest field is {NULL, 0}; unquoting one gives "". */
START_TEST(test_unquote_absent)
{
    char buf[4] = "xyz";

    ck_assert_int_eq(msrp_unquote(msrp_span_make(NULL, 0), buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(msrp_unquote(msrp_span_make(NULL, 0), NULL, 0), -1);
}
END_TEST

/* ---- digest ----------------------------------------------------------------------------- */

struct digest_want {
    const char *realm, *nonce, *opaque, *stale, *algorithm, *qop, *domain;
    const char *username, *uri, *response, *cnonce, *nc, *nextnonce, *rspauth;
    bool realm_q, nonce_q, opaque_q, qop_q, username_q, uri_q, response_q, cnonce_q;
    unsigned other;
};

static void check_field(struct msrp_span got, const char *want, const char *what,
                        struct msrp_span input)
{
    if (want == NULL) {
        ck_assert_msg(got.ptr == NULL && got.len == 0, "%s: present, want absent", what);
        return;
    }
    assert_span(got, want, what);
    assert_inside(got, input, what);
}

static void check_digest(const struct msrp_digest *d, const struct digest_want *w,
                         struct msrp_span in)
{
    check_field(d->realm, w->realm, "realm", in);
    check_field(d->nonce, w->nonce, "nonce", in);
    check_field(d->opaque, w->opaque, "opaque", in);
    check_field(d->stale, w->stale, "stale", in);
    check_field(d->algorithm, w->algorithm, "algorithm", in);
    check_field(d->qop, w->qop, "qop", in);
    check_field(d->domain, w->domain, "domain", in);
    check_field(d->username, w->username, "username", in);
    check_field(d->uri, w->uri, "uri", in);
    check_field(d->response, w->response, "response", in);
    check_field(d->cnonce, w->cnonce, "cnonce", in);
    check_field(d->nc, w->nc, "nc", in);
    check_field(d->nextnonce, w->nextnonce, "nextnonce", in);
    check_field(d->rspauth, w->rspauth, "rspauth", in);
    ck_assert_int_eq(d->realm_q, w->realm_q);
    ck_assert_int_eq(d->nonce_q, w->nonce_q);
    ck_assert_int_eq(d->opaque_q, w->opaque_q);
    ck_assert_int_eq(d->qop_q, w->qop_q);
    ck_assert_int_eq(d->username_q, w->username_q);
    ck_assert_int_eq(d->uri_q, w->uri_q);
    ck_assert_int_eq(d->response_q, w->response_q);
    ck_assert_int_eq(d->cnonce_q, w->cnonce_q);
    ck_assert_uint_eq(d->other, w->other);
}

#define RFC_NONCE "dcd98b7102dd2f0e8b11d0f600bfb0c093"
#define RFC_OPAQUE "5ccc069c403ebaf9f0171e9517f40e41"
#define RFC_RESPONSE "6629fae49393a05397450978507c4ef1"

/* The WWW-Authenticate example of RFC 4976 and what it must yield, in several spellings. */
#define RFC_CHALLENGE_WANT                                                                         \
    {                                                                                              \
        .realm = "intra.example.com", .realm_q = true, .qop = "auth", .qop_q = true,               \
        .nonce = RFC_NONCE, .nonce_q = true                                                        \
    }
/* The Authorization example of RFC 4976. */
#define RFC_CREDENTIALS_WANT                                                                       \
    {                                                                                              \
        .username = "Alice", .username_q = true, .realm = "intra.example.com", .realm_q = true,    \
        .nonce = RFC_NONCE, .nonce_q = true, .qop = "auth", .qop_q = false, .nc = "00000001",      \
        .cnonce = "0a4f113b", .cnonce_q = true, .response = RFC_RESPONSE, .response_q = true,      \
        .opaque = RFC_OPAQUE, .opaque_q = true                                                     \
    }

static const struct digest_case {
    struct vec in;
    bool info; /* Authentication-Info rather than WWW-Authenticate / Authorization */
    struct digest_want want;
} digest_cases[] = {
    {V("Digest realm=\"intra.example.com\", qop=\"auth\", nonce=\"" RFC_NONCE "\""), false,
     RFC_CHALLENGE_WANT},
    {V("Digest username=\"Alice\", realm=\"intra.example.com\", nonce=\"" RFC_NONCE
       "\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"" RFC_RESPONSE
       "\", opaque=\"" RFC_OPAQUE "\""),
     false, RFC_CREDENTIALS_WANT},
    /* lenient whitespace, case-insensitive scheme and names */
    {V("Digest realm=\"intra.example.com\",qop=\"auth\",nonce=\"" RFC_NONCE "\""), false,
     RFC_CHALLENGE_WANT},
    {V("Digest   realm = \"intra.example.com\" ,  qop=\"auth\"\t,\tnonce =\"" RFC_NONCE "\"  "),
     false, RFC_CHALLENGE_WANT},
    {V("Digest\trealm=\t\"intra.example.com\", qop= \"auth\" , nonce=\"" RFC_NONCE "\""), false,
     RFC_CHALLENGE_WANT},
    {V("digest realm=\"intra.example.com\", qop=\"auth\", nonce=\"" RFC_NONCE "\""), false,
     RFC_CHALLENGE_WANT},
    {V("DIGEST REALM=\"intra.example.com\", QoP=\"auth\", Nonce=\"" RFC_NONCE "\""), false,
     RFC_CHALLENGE_WANT},
    {V("Digest username=\"Alice\" ,realm=\"intra.example.com\",nonce=\"" RFC_NONCE
       "\",qop=auth,nc=00000001,cnonce=\"0a4f113b\",response=\"" RFC_RESPONSE
       "\",opaque=\"" RFC_OPAQUE "\""),
     false, RFC_CREDENTIALS_WANT},
    /* the other challenge fields, escapes, unknown parameters */
    {V("Digest realm=\"a\\\"b\", nonce=\"n\", stale=TRUE, algorithm=MD5-sess, "
       "domain=\"msrps://a.example.com:2855/ msrps://b.example.com\""),
     false,
     {.realm = "a\\\"b",
      .realm_q = true,
      .nonce = "n",
      .nonce_q = true,
      .stale = "TRUE",
      .algorithm = "MD5-sess",
      .domain = "msrps://a.example.com:2855/ msrps://b.example.com"}},
    {V("Digest realm=\"x\", stale=false, foo=bar, baz=\"q\", foo=again"),
     false,
     {.realm = "x", .realm_q = true, .stale = "false", .other = 3}},
    {V("Digest realm=\"\", nonce=\"\""),
     false,
     {.realm = "", .realm_q = true, .nonce = "", .nonce_q = true}},
    {V("Digest realm=tokenrealm, nonce=abc, opaque=o, username=u, uri=x, response=r, "
       "cnonce=c"),
     false,
     {.realm = "tokenrealm",
      .nonce = "abc",
      .opaque = "o",
      .username = "u",
      .uri = "x",
      .response = "r",
      .cnonce = "c"}},
    {V("Digest username=\"bob\", uri=\"msrps://relay.example.com:2855;tcp\", nc=deadbeef"),
     false,
     {.username = "bob",
      .username_q = true,
      .uri = "msrps://relay.example.com:2855;tcp",
      .uri_q = true,
      .nc = "deadbeef"}},
    /* Authentication-Info's own names are unknown in a challenge */
    {V("Digest realm=\"x\", nextnonce=\"n\", rspauth=\"r\""),
     false,
     {.realm = "x", .realm_q = true, .other = 2}},
    /* Authentication-Info (RFC 2617 section 3.2.3) */
    {V("nextnonce=\"abc\", qop=auth, rspauth=\"" RFC_RESPONSE
       "\", cnonce=\"0a4f113b\", nc=00000001"),
     true,
     {.nextnonce = "abc",
      .qop = "auth",
      .rspauth = RFC_RESPONSE,
      .cnonce = "0a4f113b",
      .cnonce_q = true,
      .nc = "00000001"}},
    {V("nextnonce = \"abc\"\t,RSPAUTH=\"\" "), true, {.nextnonce = "abc", .rspauth = ""}},
    {V("rspauth=\"x\", realm=\"r\", nonce=\"n\""), true, {.rspauth = "x", .other = 2}},
    {V("nextnonce=\"a\\\\b\""), true, {.nextnonce = "a\\\\b"}},
};

START_TEST(test_digest)
{
    const struct digest_case *c = &digest_cases[_i];
    struct guard g;
    struct msrp_span v = guard_vec(&g, c->in);
    struct msrp_digest d;
    bool ok = c->info ? msrp_digest_info_parse(v, &d) : msrp_digest_challenge_parse(v, &d);

    ck_assert_msg(ok, "#%d '%.*s' did not parse", _i, (int)c->in.len, c->in.s);
    check_digest(&d, &c->want, v);
    guard_free(&g);
}
END_TEST

/* The RFC 4976 example credentials field by field, with the escapes resolved. */
START_TEST(test_digest_rfc_credentials)
{
    static const char text[] = "Digest username=\"Alice\", realm=\"intra.example.com\", "
                               "nonce=\"" RFC_NONCE "\", qop=auth, nc=00000001, "
                               "cnonce=\"0a4f113b\", response=\"" RFC_RESPONSE "\", "
                               "opaque=\"" RFC_OPAQUE "\"";
    struct vec in = {text, sizeof text - 1};
    struct guard g;
    struct msrp_span v = guard_vec(&g, in);
    struct msrp_digest d;
    char buf[64];

    ck_assert(msrp_digest_challenge_parse(v, &d));
    ck_assert_int_eq(msrp_unquote(d.username, buf, sizeof buf), 5);
    ck_assert_str_eq(buf, "Alice");
    ck_assert_int_eq(msrp_unquote(d.realm, buf, sizeof buf), 17);
    ck_assert_str_eq(buf, "intra.example.com");
    ck_assert_int_eq(msrp_unquote(d.nonce, buf, sizeof buf), 34);
    ck_assert_str_eq(buf, RFC_NONCE);
    ck_assert_int_eq(msrp_unquote(d.response, buf, sizeof buf), 32);
    ck_assert_str_eq(buf, RFC_RESPONSE);
    ck_assert_int_eq(msrp_unquote(d.opaque, buf, sizeof buf), 32);
    ck_assert_str_eq(buf, RFC_OPAQUE);
    ck_assert_int_eq(msrp_unquote(d.cnonce, buf, sizeof buf), 8);
    ck_assert_str_eq(buf, "0a4f113b");
    assert_span(d.qop, "auth", "qop");
    ck_assert(!d.qop_q);
    assert_span(d.nc, "00000001", "nc");
    ck_assert_ptr_null(d.uri.ptr);
    ck_assert_ptr_null(d.stale.ptr);
    ck_assert_ptr_null(d.algorithm.ptr);
    ck_assert_ptr_null(d.domain.ptr);
    ck_assert_uint_eq(d.other, 0);
    guard_free(&g);
}
END_TEST

static const struct digest_bad_case {
    struct vec in;
    bool info;
} digest_bad_cases[] = {
    {V(""), false},
    {V("Digest"), false},
    {V("Digest "), false},
    {V("Digest  \t "), false},
    {V("Digestrealm=\"x\""), false},
    {V(" Digest realm=\"x\""), false},
    {V("Basic realm=\"x\""), false},
    {V("Digest: realm=\"x\""), false},
    {V("Digest realm=\"x\","), false},
    {V("Digest realm=\"x\", "), false},
    {V("Digest realm=\"x\",, nonce=\"y\""), false},
    {V("Digest ,realm=\"x\""), false},
    {V("Digest realm"), false},
    {V("Digest realm="), false},
    {V("Digest realm=\"x"), false},
    {V("Digest realm=\"x\\\""), false},
    {V("Digest realm=\"x\" nonce=\"y\""), false},
    {V("Digest realm=\"x\"; nonce=\"y\""), false},
    {V("Digest realm=x y"), false},
    {V("Digest realm=\"ctl\x01\""), false},
    {V("Digest realm=\"x\"\r\n"), false},
    /* duplicates, in any case */
    {V("Digest realm=\"a\", realm=\"b\""), false},
    {V("Digest realm=\"a\", REALM=\"a\""), false},
    {V("Digest nonce=\"a\", qop=\"auth\", nonce=\"a\""), false},
    {V("Digest realm=\"\", realm=\"\""), false},
    {V("Digest username=\"u\", nc=00000001, nc=00000002"), false},
    /* values whose form RFC 2617 fixes */
    {V("Digest stale=\"true\""), false},
    {V("Digest stale=maybe"), false},
    {V("Digest stale=truex"), false},
    {V("Digest algorithm=\"MD5\""), false},
    {V("Digest domain=foo"), false},
    {V("Digest nc=0000001"), false},
    {V("Digest nc=000000001"), false},
    {V("Digest nc=0000000g"), false},
    {V("Digest nc=0000000A"), false}, /* LHEX is lower case */
    {V("Digest nc=\"00000001\""), false},
    /* Authentication-Info */
    {V(""), true},
    {V(" "), true},
    {V("Digest nextnonce=\"a\""), true},
    {V(", nextnonce=\"a\""), true},
    {V("nextnonce=\"a\","), true},
    {V("nextnonce=abc"), true},
    {V("rspauth=abc"), true},
    {V("nextnonce=\"a\", nextnonce=\"b\""), true},
    {V("nc=00000001, NC=00000002"), true},
    {V("qop=auth cnonce=\"x\""), true},
    {V("nc=1"), true},
};

START_TEST(test_digest_bad)
{
    const struct digest_bad_case *c = &digest_bad_cases[_i];
    struct guard g;
    struct msrp_span v = guard_vec(&g, c->in);
    struct msrp_digest d;
    memset(&d, 0x5A, sizeof d);
    unsigned char before[sizeof d];
    memcpy(before, &d, sizeof d);
    bool ok = c->info ? msrp_digest_info_parse(v, &d) : msrp_digest_challenge_parse(v, &d);

    ck_assert_msg(!ok, "#%d '%.*s' parsed", _i, (int)c->in.len, c->in.s);
    ck_assert_msg(memcmp(before, &d, sizeof d) == 0, "#%d: *out was written", _i);
    guard_free(&g);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------------ */

static TCase *loop_case(const char *name, const TTest *test, size_t n)
{
    TCase *tc = tcase_create(name);
    tcase_add_loop_test(tc, test, 0, (int)n);
    return tc;
}

Suite *make_values_suite(void)
{
    Suite *s = suite_create("values");
    TCase *tc;

    tc = loop_case("ByteRange", test_byte_range, NELEM(br_cases));
    tcase_add_loop_test(tc, test_byte_range_model, 0, 8);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = loop_case("Format", test_byte_range_format, NELEM(fmt_cases));
    tcase_add_test(tc, test_byte_range_roundtrip_random);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = loop_case("Reports", test_report, NELEM(report_cases));
    tcase_add_test(tc, test_report_name);
    suite_add_tcase(s, tc);

    suite_add_tcase(s, loop_case("Status", test_status, NELEM(status_cases)));
    suite_add_tcase(s, loop_case("Expires", test_expires, NELEM(expires_cases)));

    tc = loop_case("MessageId", test_message_id, NELEM(msgid_cases));
    tcase_add_loop_test(tc, test_message_id_chars, 0, 256);
    suite_add_tcase(s, tc);

    tc = loop_case("MediaType", test_media_type, NELEM(mt_cases));
    tcase_add_loop_test(tc, test_media_type_chars, 0, 256);
    suite_add_tcase(s, tc);

    suite_add_tcase(s, loop_case("Disposition", test_disposition, NELEM(disp_cases)));

    tc = loop_case("Params", test_param_next, NELEM(pn_cases));
    tcase_add_test(tc, test_param_next_empty);
    tcase_add_loop_test(tc, test_unquote, 0, (int)NELEM(unquote_cases));
    tcase_add_test(tc, test_unquote_absent);
    tcase_add_test(tc, test_null_span);
    suite_add_tcase(s, tc);

    tc = loop_case("Digest", test_digest, NELEM(digest_cases));
    tcase_add_test(tc, test_digest_rfc_credentials);
    tcase_add_loop_test(tc, test_digest_bad, 0, (int)NELEM(digest_bad_cases));
    suite_add_tcase(s, tc);

    return s;
}
