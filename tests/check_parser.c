/*
 * check_parser.c - the chunk parser and its end-line scanner.
 *
 * Every stream is parsed in several ways (whole, one byte at a time, random pieces, virtual
 * segments) and each must give the same summary of chunks. Each call of msrp_parse() gets a copy
 * of the unconsumed bytes placed right before a PROT_NONE page, so any over-read crashes.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "testutil.h"
#include "wire/parser.h"
#include "wire/scan.h"

#define VECTORS_DIR "tests/vectors"
#define MALFORMED_DIR "tests/malformed"

enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_RANDOM };

struct feed_result {
    char *summary; /* one record per reassembled chunk */
    size_t summary_len;
    int chunks;
    int events;
    bool malformed;
    bool truncated;           /* bytes left over at the end of the stream */
    enum msrp_error error;    /* stream error, or the first chunk error */
    uint64_t error_at;        /* stream offset of a stream error */
    size_t max_buffered;      /* most bytes the caller had to hold at once */
    char last_flag;
};

static void summarize_head(FILE *f, const struct msrp_chunk *c)
{
    fprintf(f, "chunk@%llu %s tid=%.*s ", (unsigned long long)c->offset,
            c->kind == MSRP_REQUEST ? "request" : "response", (int)c->tid.len, c->tid.ptr);
    if (c->kind == MSRP_REQUEST)
        fprintf(f, "method=%.*s(%d) ", (int)c->method.len, c->method.ptr, (int)c->method_id);
    else
        fprintf(f, "status=%d comment=%.*s ", c->status, (int)c->comment.len, c->comment.ptr);
    for (size_t i = 0; i < c->num_headers; i++)
        fprintf(f, "[%d %.*s: %.*s]", (int)c->headers[i].id, (int)c->headers[i].name.len,
                c->headers[i].name.ptr, (int)c->headers[i].value.len, c->headers[i].value.ptr);
    if (c->has_byte_range)
        fprintf(f, " range=%llu-%llu/%llu", (unsigned long long)c->byte_range.start,
                (unsigned long long)c->byte_range.end, (unsigned long long)c->byte_range.total);
    fprintf(f, " sr=%d fr=%d err=%s viol=%x has_body=%d body=", (int)c->success_report,
            (int)c->failure_report, msrp_error_name(c->error), c->violations, (int)c->has_body);
}

/*
 * Feeds data to a fresh parser in pieces and summarizes what comes out. The caller's buffer
 * only ever holds unconsumed bytes, as a connection's read buffer would.
 */
static struct feed_result feed(const char *data, size_t len, enum feed_mode mode,
                               const struct msrp_limits *limits, uint64_t seed)
{
    struct feed_result res = {0};
    struct msrp_parser p;
    struct msrp_header headers[128];
    struct msrp_chunk c;
    msrp_parser_init(&p, limits);
    FILE *f = open_memstream(&res.summary, &res.summary_len);
    ck_assert_ptr_nonnull(f);
    char *buf = malloc(len + 1);
    ck_assert_ptr_nonnull(buf);
    size_t have = 0, pos = 0;
    uint64_t body_seen = 0;
    bool in_chunk = false;

    while (pos < len || have > 0) {
        size_t piece = len - pos;
        if (mode == FEED_BYTES && piece > 1)
            piece = 1;
        else if (mode == FEED_RANDOM && piece > 1)
            piece = 1 + test_rand(&seed) % (piece < 700 ? piece : 700);
        memcpy(buf + have, data + pos, piece);
        have += piece;
        pos += piece;
        if (have > res.max_buffered)
            res.max_buffered = have;

        while (have > 0) {
            char *g = guarded_copy(buf, have);
            c.headers = headers;
            c.headers_cap = sizeof(headers) / sizeof(headers[0]);
            ssize_t r = msrp_parse(&p, g, have, &c);
            if (r == MSRP_MALFORMED) {
                res.malformed = true;
                res.error = p.error;
                res.error_at = p.stream_offset + p.error_offset;
                guarded_free(g, have);
                goto out;
            }
            if (r == MSRP_INCOMPLETE) {
                guarded_free(g, have);
                break;
            }
            ck_assert_int_gt(r, 0);
            ck_assert_uint_le((size_t)r, have);
            res.events++;
            if (c.has_head) {
                ck_assert_msg(!in_chunk, "new head while a chunk is open");
                summarize_head(f, &c);
                in_chunk = true;
                body_seen = 0;
                if (c.error != MSRP_OK && res.error == MSRP_OK)
                    res.error = c.error;
            }
            ck_assert_msg(in_chunk, "body segment without a head");
            ck_assert_uint_eq(c.body_offset, body_seen);
            fwrite(c.body.ptr, 1, c.body.len, f);
            body_seen += c.body.len;
            if (c.flag != 0) {
                res.last_flag = c.flag;
                fprintf(f, " flag=%c len=%llu\n", c.flag, (unsigned long long)body_seen);
                in_chunk = false;
                res.chunks++;
            }
            guarded_free(g, have);
            memmove(buf, buf + r, have - (size_t)r);
            have -= (size_t)r;
        }
        if (pos == len) {
            res.truncated = have > 0;
            break;
        }
    }
out:
    fclose(f);
    free(buf);
    return res;
}

static char *vector_path(const char *dir, const char *name)
{
    char *path;
    ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
    return path;
}

/* File names of a directory, sorted, NULL-terminated. */
static char **list_dir(const char *dir, size_t *count)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    ck_assert_msg(n > 0, "cannot list %s", dir);
    char **names = calloc((size_t)n + 1, sizeof(char *));
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (strstr(ents[i]->d_name, ".msrp") != NULL)
            names[k++] = strdup(ents[i]->d_name);
        free(ents[i]);
    }
    free(ents);
    *count = k;
    return names;
}

static void free_list(char **names)
{
    for (size_t i = 0; names[i] != NULL; i++)
        free(names[i]);
    free(names);
}

/* ---- RFC example vectors ------------------------------------------------------------------ */

struct vector_expect {
    const char *file;
    int chunks;
    enum msrp_kind first_kind;
    const char *first_tid;
    int first_method_or_status; /* enum msrp_method for requests, status for responses */
    size_t first_headers;
    size_t first_body_len;
    char last_flag;
};

static const struct vector_expect vectors[] = {
    {"4975-4-send.msrp", 1, MSRP_REQUEST, "a786hjs2", MSRP_METHOD_SEND, 5, 23, '$'},
    {"4975-4-response.msrp", 1, MSRP_RESPONSE, "a786hjs2", 200, 2, 0, '$'},
    {"4975-11.1-basic-im.msrp", 2, MSRP_REQUEST, "d93kswow", MSRP_METHOD_SEND, 5, 14, '$'},
    {"4975-11.2-xhtml.msrp", 1, MSRP_REQUEST, "1s2d3f4g", MSRP_METHOD_SEND, 5, 343, '$'},
    {"4975-11.3-chunked.msrp", 2, MSRP_REQUEST, "7443ds", MSRP_METHOD_SEND, 5, 77, '$'},
    {"4975-7.1.1-interrupted.msrp", 2, MSRP_REQUEST, "a786hjs2", MSRP_METHOD_SEND, 5, 56, '#'},
    {"4975-11.6-report.msrp", 2, MSRP_REQUEST, "5sdkd", MSRP_METHOD_SEND, 7, 14, '$'},
    {"4975-7.1.4-failure-report.msrp", 3, MSRP_REQUEST, "xy3Gh7p0", MSRP_METHOD_SEND, 6, 5, '$'},
    {"4975-7.1-empty-send.msrp", 1, MSRP_REQUEST, "ubk2Bind", MSRP_METHOD_SEND, 4, 0, '$'},
    {"4976-5.1-auth.msrp", 2, MSRP_REQUEST, "49fh", MSRP_METHOD_AUTH, 2, 0, '$'},
    {"4976-5.1-auth-responses.msrp", 3, MSRP_RESPONSE, "49fh", 401, 3, 0, '$'},
    {"4976-3-relayed-send.msrp", 2, MSRP_REQUEST, "6aef", MSRP_METHOD_SEND, 5, 14, '$'},
    {"unknown-method-and-ext.msrp", 2, MSRP_REQUEST, "u8sT11ab", MSRP_METHOD_OTHER, 4, 0, '$'},
    {"lookalike-bodies.msrp", 1, MSRP_REQUEST, "abcd1234", MSRP_METHOD_SEND, 6, 226, '+'},
};
#define NUM_VECTORS ((int)(sizeof(vectors) / sizeof(vectors[0])))

START_TEST(vector_whole_and_bytewise)
{
    const struct vector_expect *v = &vectors[_i];
    char *path = vector_path(VECTORS_DIR, v->file);
    size_t len;
    char *data = read_file(path, &len);

    /* The first chunk, whole, checked field by field. */
    struct msrp_parser p;
    struct msrp_header headers[32];
    struct msrp_chunk c = {.headers = headers, .headers_cap = 32};
    msrp_parser_init(&p, NULL);
    char *g = guarded_copy(data, len);
    ssize_t r = msrp_parse(&p, g, len, &c);
    ck_assert_msg(r > 0, "%s: parse returned %zd (%s)", v->file, r, msrp_error_name(p.error));
    ck_assert_int_eq(c.error, MSRP_OK);
    ck_assert_int_eq(c.kind, v->first_kind);
    ck_assert_uint_eq(c.tid.len, strlen(v->first_tid));
    ck_assert(memcmp(c.tid.ptr, v->first_tid, c.tid.len) == 0);
    if (c.kind == MSRP_REQUEST)
        ck_assert_int_eq(c.method_id, v->first_method_or_status);
    else
        ck_assert_int_eq(c.status, v->first_method_or_status);
    ck_assert_uint_eq(c.num_headers, v->first_headers);
    ck_assert_uint_eq(c.body.len, v->first_body_len);
    ck_assert(c.has_head);
    ck_assert_uint_eq(c.segment, 1);
    ck_assert_int_eq(c.violations, 0);
    ck_assert_ptr_nonnull(msrp_chunk_header(&c, MSRP_H_TO_PATH));
    ck_assert_ptr_nonnull(msrp_chunk_header(&c, MSRP_H_FROM_PATH));
    guarded_free(g, len);

    struct feed_result whole = feed(data, len, FEED_WHOLE, NULL, 0);
    ck_assert_msg(!whole.malformed, "%s: %s", v->file, msrp_error_name(whole.error));
    ck_assert(!whole.truncated);
    ck_assert_int_eq(whole.chunks, v->chunks);
    ck_assert_int_eq(whole.error, MSRP_OK);
    ck_assert_msg(whole.last_flag == v->last_flag, "%s: last flag %c", v->file, whole.last_flag);

    struct feed_result bytes = feed(data, len, FEED_BYTES, NULL, 0);
    ck_assert_uint_eq(bytes.summary_len, whole.summary_len);
    ck_assert(memcmp(bytes.summary, whole.summary, whole.summary_len) == 0);

    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct feed_result rnd = feed(data, len, FEED_RANDOM, NULL, seed * 7919);
        ck_assert_uint_eq(rnd.summary_len, whole.summary_len);
        ck_assert(memcmp(rnd.summary, whole.summary, whole.summary_len) == 0);
        free(rnd.summary);
    }

    /* Virtual segments of any size reassemble to the same chunks. */
    static const size_t caps[] = {0, 1, 3, 16, 100};
    for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
        struct msrp_limits lim;
        msrp_limits_default(&lim);
        lim.segment_cap = caps[k];
        struct feed_result seg = feed(data, len, FEED_BYTES, &lim, 0);
        ck_assert_msg(seg.summary_len == whole.summary_len &&
                          memcmp(seg.summary, whole.summary, whole.summary_len) == 0,
                      "%s: cap %zu differs", v->file, caps[k]);
        free(seg.summary);
    }
    free(whole.summary);
    free(bytes.summary);
    free(data);
    free(path);
}
END_TEST

START_TEST(every_vector_file_is_listed)
{
    size_t n;
    char **names = list_dir(VECTORS_DIR, &n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (int k = 0; k < NUM_VECTORS; k++)
            found = found || strcmp(names[i], vectors[k].file) == 0;
        ck_assert_msg(found, "%s has no expectations in check_parser.c", names[i]);
    }
    free_list(names);
}
END_TEST

START_TEST(vector_details)
{
    /* Values the session layer relies on, from the Failure-Report / REPORT example. */
    size_t len;
    char *data = read_file(VECTORS_DIR "/4975-11.6-report.msrp", &len);
    struct msrp_parser p;
    struct msrp_header headers[16];
    struct msrp_chunk c = {.headers = headers, .headers_cap = 16};
    msrp_parser_init(&p, NULL);
    ssize_t r = msrp_parse(&p, data, len, &c);
    ck_assert_int_gt(r, 0);
    ck_assert_int_eq(c.success_report, MSRP_REPORT_YES);
    ck_assert_int_eq(c.failure_report, MSRP_REPORT_NO);
    ck_assert(c.has_byte_range);
    ck_assert_uint_eq(c.byte_range.start, 1);
    ck_assert_uint_eq(c.byte_range.end, 16);
    ck_assert_uint_eq(c.byte_range.total, 16);
    ck_assert_uint_eq(c.offset, 0);
    const struct msrp_header *ct = msrp_chunk_header(&c, MSRP_H_CONTENT_TYPE);
    ck_assert_ptr_nonnull(ct);
    ck_assert(msrp_span_eq(ct->value, MSRP_SPAN_LIT("text/plain")));
    ck_assert(msrp_span_eq(c.body, MSRP_SPAN_LIT("Hi, I'm Alice!")));

    size_t first = (size_t)r;
    r = msrp_parse(&p, data + first, len - first, &c);
    ck_assert_int_eq((size_t)r, len - first);
    ck_assert_int_eq(c.method_id, MSRP_METHOD_REPORT);
    ck_assert_uint_eq(c.offset, first);
    ck_assert(!c.has_body);
    ck_assert_ptr_nonnull(msrp_chunk_header(&c, MSRP_H_STATUS));
    ck_assert_ptr_null(msrp_chunk_header(&c, MSRP_H_CONTENT_TYPE));
    ck_assert_uint_eq(p.stream_offset, len);
    free(data);

    data = read_file(VECTORS_DIR "/4975-11.3-chunked.msrp", &len);
    msrp_parser_init(&p, NULL);
    r = msrp_parse(&p, data, len, &c);
    ck_assert_int_gt(r, 0);
    ck_assert_int_eq(c.flag, '+');
    ck_assert_uint_eq(c.byte_range.end, MSRP_RANGE_UNKNOWN);
    ck_assert_uint_eq(c.byte_range.total, MSRP_RANGE_UNKNOWN);
    free(data);

    data = read_file(VECTORS_DIR "/4976-3-relayed-send.msrp", &len);
    msrp_parser_init(&p, NULL);
    r = msrp_parse(&p, data, len, &c);
    ck_assert_int_gt(r, 0);
    const struct msrp_header *to = msrp_chunk_header(&c, MSRP_H_TO_PATH);
    ck_assert_ptr_nonnull(to);
    ck_assert_ptr_nonnull(memchr(to->value.ptr, ' ', to->value.len)); /* three URIs */
    free(data);
}
END_TEST

/* ---- the malformed corpus ----------------------------------------------------------------- */

/* The error a malformed file must produce is the part of its name before the first dot. */
static enum msrp_error expected_error(const char *name)
{
    size_t n = strcspn(name, ".");
    for (int e = 1; e < MSRP_E__COUNT; e++) {
        const char *en = msrp_error_name((enum msrp_error)e);
        if (strlen(en) == n && strncmp(en, name, n) == 0)
            return (enum msrp_error)e;
    }
    ck_abort_msg("%s: no error is named like this file", name);
    return MSRP_OK;
}

START_TEST(malformed_corpus)
{
    size_t n;
    char **names = list_dir(MALFORMED_DIR, &n);
    bool reached[MSRP_E__COUNT] = {false};
    for (size_t i = 0; i < n; i++) {
        char *path = vector_path(MALFORMED_DIR, names[i]);
        size_t len;
        char *data = read_file(path, &len);
        enum msrp_error want = expected_error(names[i]);
        struct feed_result whole = feed(data, len, FEED_WHOLE, NULL, 0);
        ck_assert_msg(whole.error == want, "%s: got %s, want %s", names[i],
                      msrp_error_name(whole.error), msrp_error_name(want));
        /* Stream errors stop the parser; chunk errors come with a framed chunk. */
        ck_assert_msg(whole.malformed == !msrp_error_is_chunk_level(want), "%s: malformed=%d",
                      names[i], (int)whole.malformed);
        if (!whole.malformed)
            ck_assert_msg(whole.chunks >= 1 && !whole.truncated, "%s: chunk not framed", names[i]);
        struct feed_result bytes = feed(data, len, FEED_BYTES, NULL, 0);
        ck_assert_msg(bytes.error == want && bytes.malformed == whole.malformed,
                      "%s: byte-at-a-time gives %s", names[i], msrp_error_name(bytes.error));
        if (whole.malformed)
            ck_assert_uint_eq(bytes.error_at, whole.error_at);
        reached[want] = true;
        free(whole.summary);
        free(bytes.summary);
        free(data);
        free(path);
    }
    for (int e = 1; e < MSRP_E__COUNT; e++)
        ck_assert_msg(reached[e], "no malformed file reaches %s", msrp_error_name(e));
    free_list(names);
}
END_TEST

/* ---- limits ------------------------------------------------------------------------------- */

static ssize_t parse_text(const char *text, struct msrp_parser *p, struct msrp_chunk *c,
                          const struct msrp_limits *lim)
{
    size_t len;
    char *data = crlf_from_lf(text, &len);
    msrp_parser_init(p, lim);
    char *g = guarded_copy(data, len);
    ssize_t r = msrp_parse(p, g, len, c);
    /* Spans in c point into g, so it lives until the next call. */
    static char *last;
    static size_t last_len;
    if (last != NULL)
        guarded_free(last, last_len);
    last = g;
    last_len = len;
    free(data);
    return r;
}

#define HDRS "To-Path: msrp://b.example.com:8888/s1;tcp\nFrom-Path: msrp://a.example.com:7777/s2;tcp\n"

START_TEST(tid_lengths)
{
    struct msrp_parser p;
    struct msrp_header h[8];
    struct msrp_chunk c = {.headers = h, .headers_cap = 8};
    char text[256];
    for (int n = 1; n <= 40; n++) {
        char tid[41];
        memset(tid, 'k', (size_t)n);
        tid[n] = '\0';
        snprintf(text, sizeof(text), "MSRP %s SEND\n" HDRS "-------%s$\n", tid, tid);
        ssize_t r = parse_text(text, &p, &c, NULL);
        if (n >= MSRP_TID_MIN && n <= MSRP_TID_MAX) {
            ck_assert_msg(r > 0, "tid of %d rejected", n);
            ck_assert_uint_eq(c.tid.len, (size_t)n);
        } else {
            ck_assert_int_eq(r, MSRP_MALFORMED);
            ck_assert_int_eq(p.error, MSRP_E_TID_LENGTH);
            ck_assert_uint_eq(p.error_offset, 5);
        }
    }
    ck_assert(msrp_is_ident("a.-+%=", 6));
    ck_assert(!msrp_is_ident("-abc", 4));
    ck_assert(!msrp_is_ident("ab c", 4));
    ck_assert(!msrp_is_ident("abc", 3));
}
END_TEST

START_TEST(line_limit_boundary)
{
    struct msrp_limits lim;
    msrp_limits_default(&lim);
    lim.max_line = 100;
    struct msrp_parser p;
    struct msrp_header h[8];
    struct msrp_chunk c = {.headers = h, .headers_cap = 8};
    /* "X: " + value + CRLF = 100 bytes exactly is allowed; 101 is not. */
    for (int extra = 0; extra <= 1; extra++) {
        char value[128];
        size_t vlen = 100 - 5 + (size_t)extra;
        memset(value, 'v', vlen);
        value[vlen] = '\0';
        char text[512];
        snprintf(text, sizeof(text), "MSRP abcd1234 SEND\n" HDRS "X: %s\n-------abcd1234$\n", value);
        ssize_t r = parse_text(text, &p, &c, &lim);
        if (extra == 0) {
            ck_assert_int_gt(r, 0);
        } else {
            ck_assert_int_eq(r, MSRP_MALFORMED);
            ck_assert_int_eq(p.error, MSRP_E_LINE_TOO_LONG);
        }
    }
    /* An incomplete over-long line fails as soon as the limit is passed, without its LF. */
    msrp_parser_init(&p, &lim);
    char partial[300] = "MSRP abcd1234 SEND\r\nX-Slow: ";
    size_t n = strlen(partial);
    memset(partial + n, 'z', sizeof(partial) - n);
    ck_assert_int_eq(msrp_parse(&p, partial, 20 + 99, &c), MSRP_INCOMPLETE);
    ck_assert_int_eq(msrp_parse(&p, partial, 20 + 100, &c), MSRP_MALFORMED);
    ck_assert_int_eq(p.error, MSRP_E_LINE_TOO_LONG);
}
END_TEST

START_TEST(header_count_limits)
{
    struct msrp_parser p;
    struct msrp_header h[64];
    struct msrp_chunk c = {.headers = h, .headers_cap = 4};
    /* The caller's capacity bounds the count as much as limits.max_headers does. */
    ck_assert_int_gt(parse_text("MSRP abcd1234 SEND\n" HDRS "A: 1\nB: 2\n-------abcd1234$\n", &p, &c,
                                NULL),
                     0);
    ck_assert_uint_eq(c.num_headers, 4);
    ck_assert_int_eq(
        parse_text("MSRP abcd1234 SEND\n" HDRS "A: 1\nB: 2\nC: 3\n-------abcd1234$\n", &p, &c, NULL),
        MSRP_MALFORMED);
    ck_assert_int_eq(p.error, MSRP_E_TOO_MANY_HEADERS);
    struct msrp_limits lim;
    msrp_limits_default(&lim);
    lim.max_headers = 2;
    c.headers_cap = 64;
    ck_assert_int_eq(parse_text("MSRP abcd1234 SEND\n" HDRS "A: 1\n-------abcd1234$\n", &p, &c, &lim),
                     MSRP_MALFORMED);
    ck_assert_int_eq(p.error, MSRP_E_TOO_MANY_HEADERS);
}
END_TEST

START_TEST(tolerated_violations)
{
    struct msrp_parser p;
    struct msrp_header h[8];
    struct msrp_chunk c = {.headers = h, .headers_cap = 8};
    ck_assert_int_gt(parse_text("MSRP abcd1234 SEND\nFrom-Path: msrp://a.example.com:1/s;tcp\n"
                                "To-Path: msrp://b.example.com:2/t;tcp\n-------abcd1234$\n",
                                &p, &c, NULL),
                     0);
    ck_assert_int_eq(c.error, MSRP_OK);
    ck_assert_uint_eq(c.violations, MSRP_V_PATH_ORDER);

    ck_assert_int_gt(
        parse_text("MSRP abcd1234 SEND\n" HDRS "message-id:abcd\n-------abcd1234$\n", &p, &c, NULL), 0);
    ck_assert_uint_eq(c.violations, MSRP_V_HEADER_NO_SP | MSRP_V_HEADER_NAME_CASE);
    ck_assert_int_eq(c.headers[2].id, MSRP_H_MESSAGE_ID);

    ck_assert_int_gt(parse_text("MSRP abcd1234 SEND\n" HDRS "Content-Type: text/plain\n\n"
                                "-------abcd1234$\n",
                                &p, &c, NULL),
                     0);
    ck_assert_uint_eq(c.violations, MSRP_V_EMPTY_BODY_NO_CRLF);
    ck_assert(c.has_body);
    ck_assert_uint_eq(c.body.len, 0);

    /* The RFC form of an empty body has its own CRLF and no violation. */
    ck_assert_int_gt(parse_text("MSRP abcd1234 SEND\n" HDRS "Content-Type: text/plain\n\n\n"
                                "-------abcd1234$\n",
                                &p, &c, NULL),
                     0);
    ck_assert_uint_eq(c.violations, 0);
    ck_assert_uint_eq(c.body.len, 0);
}
END_TEST

START_TEST(response_fields)
{
    struct msrp_parser p;
    struct msrp_header h[8];
    struct msrp_chunk c = {.headers = h, .headers_cap = 8};
    ck_assert_int_gt(parse_text("MSRP abcd1234 200\n" HDRS "-------abcd1234$\n", &p, &c, NULL), 0);
    ck_assert_int_eq(c.kind, MSRP_RESPONSE);
    ck_assert_int_eq(c.status, 200);
    ck_assert_uint_eq(c.comment.len, 0);
    ck_assert_int_gt(
        parse_text("MSRP abcd1234 481 No such session here\n" HDRS "-------abcd1234$\n", &p, &c, NULL),
        0);
    ck_assert_int_eq(c.status, 481);
    ck_assert(msrp_span_eq(c.comment, MSRP_SPAN_LIT("No such session here")));
}
END_TEST

/* ---- large bodies and virtual segments ---------------------------------------------------- */

/* A body full of near-misses (CR, LF, dashes) that never contains the real end-line. */
static char *tricky_body(size_t n, uint64_t seed)
{
    static const char alphabet[] = "\r\n-----abcd9";
    char *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < n; i++)
        b[i] = alphabet[test_rand(&seed) % (sizeof(alphabet) - 1)];
    return b;
}

static char *make_chunk(const char *tid, const char *body, size_t body_len, size_t *len)
{
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "MSRP %s SEND\r\nTo-Path: msrp://b.example.com:8888/s1;tcp\r\n"
                      "From-Path: msrp://a.example.com:7777/s2;tcp\r\nMessage-ID: big1\r\n"
                      "Byte-Range: 1-%zu/%zu\r\nContent-Type: application/octet-stream\r\n\r\n",
                      tid, body_len, body_len);
    size_t tl = strlen(tid);
    *len = (size_t)hl + body_len + 2 + 7 + tl + 3;
    char *out = malloc(*len);
    memcpy(out, head, (size_t)hl);
    memcpy(out + hl, body, body_len);
    char *t = out + hl + body_len;
    memcpy(t, "\r\n-------", 9);
    memcpy(t + 9, tid, tl);
    memcpy(t + 9 + tl, "$\r\n", 3);
    return out;
}

START_TEST(large_body_segments)
{
    const size_t body_len = 1 << 20;
    char *body = tricky_body(body_len, 42);
    size_t len;
    char *chunk = make_chunk("zzzz7777", body, body_len, &len);

    struct feed_result whole = feed(chunk, len, FEED_WHOLE, NULL, 0);
    ck_assert_int_eq(whole.chunks, 1);
    ck_assert_int_eq(whole.events, 1);

    /* With a 4 KiB cap and random reads, the caller never holds more than the bound. */
    struct msrp_limits lim;
    msrp_limits_default(&lim);
    lim.segment_cap = 4096;
    struct msrp_parser probe;
    msrp_parser_init(&probe, &lim);
    struct feed_result seg = feed(chunk, len, FEED_RANDOM, &lim, 99);
    ck_assert_int_eq(seg.chunks, 1);
    ck_assert_int_gt(seg.events, (int)(body_len / 4096 / 2));
    ck_assert_uint_eq(seg.summary_len, whole.summary_len);
    ck_assert(memcmp(seg.summary, whole.summary, whole.summary_len) == 0);
    ck_assert_uint_le(seg.max_buffered, 4096 + 700 + MSRP_END_LINE_MAX + 400);
    ck_assert_uint_le(4096 + 700, msrp_parser_buffer_size(&probe));
    free(seg.summary);
    free(whole.summary);
    free(chunk);
    free(body);
}
END_TEST

START_TEST(segment_fields)
{
    /* Segments after the first carry no head, but the tid and offsets. */
    size_t len;
    char *chunk = make_chunk("seg0001x", "0123456789abcdefghij", 20, &len);
    struct msrp_limits lim;
    msrp_limits_default(&lim);
    lim.segment_cap = 8;
    struct msrp_parser p;
    struct msrp_header h[16];
    struct msrp_chunk c = {.headers = h, .headers_cap = 16};
    msrp_parser_init(&p, &lim);
    size_t head_end = (size_t)(strstr(chunk, "\r\n\r\n") - chunk) + 4;
    /* Head plus 10 body bytes: one segment of 10 (>= cap 8), then the rest arrives. */
    ssize_t r = msrp_parse(&p, chunk, head_end + 10, &c);
    ck_assert_int_eq((size_t)r, head_end + 10);
    ck_assert(c.has_head);
    ck_assert_int_eq(c.flag, 0);
    ck_assert_uint_eq(c.segment, 1);
    ck_assert_uint_eq(c.body.len, 10);
    r = msrp_parse(&p, chunk + head_end + 10, len - head_end - 10, &c);
    ck_assert_int_eq((size_t)r, len - head_end - 10);
    ck_assert(!c.has_head);
    ck_assert_uint_eq(c.num_headers, 0);
    ck_assert_uint_eq(c.segment, 2);
    ck_assert_uint_eq(c.body_offset, 10);
    ck_assert(msrp_span_eq(c.body, MSRP_SPAN_LIT("abcdefghij")));
    ck_assert(msrp_span_eq(c.tid, MSRP_SPAN_LIT("seg0001x")));
    ck_assert_int_eq(c.flag, '$');
    ck_assert_uint_eq(c.offset, 0);
    ck_assert_uint_eq(p.stream_offset, len);
    free(chunk);
}
END_TEST

/* ---- the scanner ---------------------------------------------------------------------------- */

static size_t naive_find(const char *p, size_t len)
{
    for (size_t i = 0; i + 3 <= len; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '-')
            return i;
    return len;
}

START_TEST(scanner_matches_naive)
{
    uint64_t seed = 12345;
    static const char alphabet[] = "\r\n-x";
    for (size_t len = 0; len <= 300; len++) {
        for (int round = 0; round < 20; round++) {
            char buf[300];
            for (size_t i = 0; i < len; i++)
                buf[i] = alphabet[test_rand(&seed) % 4];
            /* Sparse variants too, so long stretches without candidates are covered. */
            if (round % 2)
                for (size_t i = 0; i < len; i++)
                    if (test_rand(&seed) % 16)
                        buf[i] = 'x';
            char *g = guarded_copy(buf, len);
            ck_assert_uint_eq(msrp__find_crlf_dash(g, len), naive_find(g, len));
            guarded_free(g, len);
        }
    }
    /* A candidate at every position of a long buffer, including the vector tails. */
    char big[1000];
    for (size_t at = 0; at + 3 <= sizeof(big); at++) {
        memset(big, 'x', sizeof(big));
        memcpy(big + at, "\r\n-", 3);
        char *g = guarded_copy(big, sizeof(big));
        ck_assert_uint_eq(msrp__find_crlf_dash(g, sizeof(big)), at);
        guarded_free(g, sizeof(big));
    }
    const char *impl = msrp__scan_impl();
    ck_assert(strcmp(impl, "avx2") == 0 || strcmp(impl, "sse2") == 0 || strcmp(impl, "scalar") == 0);
}
END_TEST

START_TEST(end_line_finder)
{
    const char *tid = "abcd1234";
    const char *cases[] = {"", "abc", "\r\n-------abcd123$", "x\r\n-------abcd1234", "-------abcd1234"};
    const size_t want[] = {0, 3, 17, 1, 15};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i]);
        char *g = guarded_copy(cases[i], n);
        size_t got = msrp__find_end_line(g, n, tid, 8);
        ck_assert_msg(got == (want[i] == n ? n : want[i]), "case %zu: %zu", i, got);
        guarded_free(g, n);
    }
}
END_TEST

START_TEST(names_are_unique_and_known)
{
    for (int a = 0; a < MSRP_E__COUNT; a++) {
        ck_assert_str_ne(msrp_error_name(a), "unknown");
        for (int b = a + 1; b < MSRP_E__COUNT; b++)
            ck_assert_str_ne(msrp_error_name(a), msrp_error_name(b));
    }
    for (int id = 1; id < MSRP_H__COUNT; id++) {
        const char *n = msrp_header_name(id);
        ck_assert_ptr_nonnull(n);
        ck_assert_int_eq(msrp_header_lookup(n, strlen(n)), id);
    }
    ck_assert_int_eq(msrp_header_lookup("TO-PATH", 7), MSRP_H_TO_PATH);
    ck_assert_int_eq(msrp_header_lookup("X-Other", 7), MSRP_H_OTHER);
}
END_TEST

Suite *make_parser_suite(void)
{
    Suite *s = suite_create("parser");
    TCase *tc = tcase_create("Vectors");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, vector_whole_and_bytewise, 0, NUM_VECTORS);
    tcase_add_test(tc, every_vector_file_is_listed);
    tcase_add_test(tc, vector_details);
    suite_add_tcase(s, tc);

    tc = tcase_create("Malformed");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, malformed_corpus);
    suite_add_tcase(s, tc);

    tc = tcase_create("Limits");
    tcase_add_test(tc, tid_lengths);
    tcase_add_test(tc, line_limit_boundary);
    tcase_add_test(tc, header_count_limits);
    tcase_add_test(tc, tolerated_violations);
    tcase_add_test(tc, response_fields);
    tcase_add_test(tc, names_are_unique_and_known);
    suite_add_tcase(s, tc);

    tc = tcase_create("Body");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, large_body_segments);
    tcase_add_test(tc, segment_fields);
    tcase_add_test(tc, scanner_matches_naive);
    tcase_add_test(tc, end_line_finder);
    suite_add_tcase(s, tc);
    return s;
}
