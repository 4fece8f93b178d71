/*
 * check_roundtrip.c - random chunks written by the writer and parsed back by the parser.
 *
 * Each round builds a stream of random chunks (requests with any method, responses, random
 * paths, extension headers with arbitrary text, bodies of 0 B to 1 MiB full of end-line
 * lookalikes), feeds it to the parser in random pieces, sometimes with a small virtual-segment
 * cap, and checks that every chunk comes back exactly as it was written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "testutil.h"
#include "wire/parser.h"
#include "wire/uri.h"
#include "wire/values.h"
#include "wire/writer.h"

#define MAX_CHUNKS 8
#define MAX_EXTRA 4

struct spec {
    struct msrp_out out;
    char tid[MSRP_TID_MAX + 1];
    char method[12];
    char comment[40];
    char to[400], from[400], mid[33], status_value[40], content_type[64];
    char names[MAX_EXTRA][24], values[MAX_EXTRA][80];
    struct msrp_header extra[MAX_EXTRA];
    struct msrp_byte_range range;
    char *body;
    char head[4096];
    struct msrp_wire_chunk wire;
};

static uint64_t rnd(uint64_t *s, uint64_t n)
{
    return test_rand(s) % n;
}

static void random_ident(uint64_t *s, char *out, size_t len)
{
    static const char first[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static const char rest[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-+%=";
    out[0] = first[rnd(s, sizeof(first) - 1)];
    for (size_t i = 1; i < len; i++)
        out[i] = rest[rnd(s, sizeof(rest) - 1)];
    out[len] = '\0';
}

static void random_uri(uint64_t *s, char *out, size_t cap)
{
    static const char *hosts[] = {"a.example.com", "127.0.0.1", "[2001:db8::7]", "relay.example.net"};
    char sid[20];
    random_ident(s, sid, 4 + rnd(s, 12));
    for (char *c = sid; *c; c++)
        if (*c == '%')
            *c = '_'; /* "%" is not a session-id character */
    snprintf(out, cap, "%s://%s%s:%u/%s;tcp", rnd(s, 2) ? "msrp" : "msrps",
             rnd(s, 4) == 0 ? "user@" : "", hosts[rnd(s, 4)], (unsigned)(1 + rnd(s, 65535)), sid);
}

static void random_path(uint64_t *s, char *out, size_t cap)
{
    size_t n = 1 + rnd(s, 3), used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char uri[120];
        random_uri(s, uri, sizeof(uri));
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? " " : "", uri);
    }
}

/* utf8text: HTAB, printable ASCII and bytes >= 0x80, never CR or LF. */
static void random_text(uint64_t *s, char *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t k = rnd(s, 10);
        out[i] = k == 0 ? '\t' : k == 1 ? (char)(0x80 + rnd(s, 128)) : (char)(0x20 + rnd(s, 95));
    }
    out[len] = '\0';
}

static size_t random_body_len(uint64_t *s)
{
    switch (rnd(s, 6)) {
    case 0:
        return 0;
    case 1:
        return 1 + rnd(s, 16);
    case 2:
    case 3:
        return rnd(s, 2048);
    case 4:
        return rnd(s, 65536);
    default:
        return rnd(s, (1u << 20) + 1);
    }
}

/* Bodies with CR, LF and dashes everywhere, and now and then the chunk's own end-line. */
static char *random_body(uint64_t *s, size_t len, const char *tid)
{
    char *b = malloc(len + 1);
    ck_assert_ptr_nonnull(b);
    static const char tricky[] = "\r\n-------";
    for (size_t i = 0; i < len; i++)
        b[i] = rnd(s, 4) == 0 ? tricky[rnd(s, sizeof(tricky) - 1)] : (char)rnd(s, 256);
    if (len > 64 && tid[0] != '\0' && rnd(s, 3) == 0) {
        char line[64];
        int n = snprintf(line, sizeof(line), "\r\n-------%s$", tid);
        memcpy(b + rnd(s, len - 64), line, (size_t)n);
    }
    return b;
}

static void make_spec(uint64_t *s, struct spec *sp, struct msrp_idgen *ids)
{
    memset(sp, 0, sizeof(*sp));
    struct msrp_out *o = &sp->out;
    bool request = rnd(s, 3) != 0;
    o->kind = request ? MSRP_REQUEST : MSRP_RESPONSE;
    if (rnd(s, 4) != 0) {
        random_ident(s, sp->tid, 4 + rnd(s, 29));
        o->tid = msrp_span_cstr(sp->tid);
    }
    random_path(s, sp->to, sizeof(sp->to));
    random_path(s, sp->from, sizeof(sp->from));
    o->to_path = msrp_span_cstr(sp->to);
    o->from_path = msrp_span_cstr(sp->from);
    if (request) {
        static const char *methods[] = {"SEND", "REPORT", "AUTH", "NICKNAME", "X"};
        strcpy(sp->method, methods[rnd(s, 5)]);
        o->method = msrp_span_cstr(sp->method);
        random_ident(s, sp->mid, 4 + rnd(s, 20));
        o->message_id = msrp_span_cstr(sp->mid);
        o->success_report = (enum msrp_report)rnd(s, 3); /* absent, yes, no */
        o->failure_report = (enum msrp_report)rnd(s, 4); /* absent, yes, no, partial */
        if (strcmp(sp->method, "REPORT") == 0) {
            snprintf(sp->status_value, sizeof(sp->status_value), "000 %u OK", 200 + (unsigned)rnd(s, 300));
            o->status_value = msrp_span_cstr(sp->status_value);
        }
        size_t body_len = random_body_len(s);
        if (rnd(s, 5) != 0) {
            snprintf(sp->content_type, sizeof(sp->content_type), "%s",
                     rnd(s, 2) ? "text/plain" : "application/octet-stream;x=\"y z\"");
            o->content_type = msrp_span_cstr(sp->content_type);
            sp->body = random_body(s, body_len, sp->tid);
            o->body = msrp_span_make(sp->body, body_len);
        } else {
            body_len = 0;
        }
        if (rnd(s, 4) != 0) {
            sp->range.start = 1 + rnd(s, 1000);
            sp->range.end = rnd(s, 3) == 0 ? MSRP_RANGE_UNKNOWN : sp->range.start + body_len - 1;
            sp->range.total = rnd(s, 3) == 0 ? MSRP_RANGE_UNKNOWN : sp->range.start + body_len + rnd(s, 5000);
            o->byte_range = &sp->range;
        }
        static const char flags[] = "$+#";
        o->flag = flags[rnd(s, 3)];
    } else {
        o->status = 100 + (int)rnd(s, 900);
        if (rnd(s, 2)) {
            random_text(s, sp->comment, rnd(s, 30));
            o->comment = msrp_span_cstr(sp->comment);
        }
    }
    size_t extra = rnd(s, MAX_EXTRA + 1);
    for (size_t i = 0; i < extra; i++) {
        snprintf(sp->names[i], sizeof(sp->names[i]), "X-%c%u", 'A' + (int)rnd(s, 26), (unsigned)i);
        random_text(s, sp->values[i], rnd(s, 60));
        sp->extra[i].name = msrp_span_cstr(sp->names[i]);
        sp->extra[i].value = msrp_span_cstr(sp->values[i]);
    }
    o->extra = sp->extra;
    o->num_extra = extra;
    ck_assert_int_eq(msrp_write(o, ids, sp->head, sizeof(sp->head), &sp->wire), MSRP_W_OK);
}

/* The headers the writer emits, in its order, as name/value pairs. */
static size_t expected_headers(const struct spec *sp, struct msrp_header *h, char rb[64])
{
    const struct msrp_out *o = &sp->out;
    size_t n = 0;
    h[n++] = (struct msrp_header){MSRP_SPAN_LIT("To-Path"), o->to_path, MSRP_H_TO_PATH};
    h[n++] = (struct msrp_header){MSRP_SPAN_LIT("From-Path"), o->from_path, MSRP_H_FROM_PATH};
    if (o->message_id.len)
        h[n++] = (struct msrp_header){MSRP_SPAN_LIT("Message-ID"), o->message_id, MSRP_H_MESSAGE_ID};
    if (o->byte_range) {
        size_t len = msrp_byte_range_format(o->byte_range, rb, 64);
        h[n++] = (struct msrp_header){MSRP_SPAN_LIT("Byte-Range"), msrp_span_make(rb, len),
                                      MSRP_H_BYTE_RANGE};
    }
    if (o->success_report)
        h[n++] = (struct msrp_header){MSRP_SPAN_LIT("Success-Report"),
                                      msrp_span_cstr(msrp_report_name(o->success_report)),
                                      MSRP_H_SUCCESS_REPORT};
    if (o->failure_report)
        h[n++] = (struct msrp_header){MSRP_SPAN_LIT("Failure-Report"),
                                      msrp_span_cstr(msrp_report_name(o->failure_report)),
                                      MSRP_H_FAILURE_REPORT};
    if (o->status_value.len)
        h[n++] = (struct msrp_header){MSRP_SPAN_LIT("Status"), o->status_value, MSRP_H_STATUS};
    for (size_t i = 0; i < o->num_extra; i++)
        h[n++] = (struct msrp_header){o->extra[i].name, o->extra[i].value, MSRP_H_OTHER};
    if (o->content_type.len)
        h[n++] = (struct msrp_header){MSRP_SPAN_LIT("Content-Type"), o->content_type,
                                      MSRP_H_CONTENT_TYPE};
    return n;
}

struct got_chunk {
    struct msrp_chunk head; /* copied from the event that carried the head */
    struct msrp_header headers[24];
    char *head_bytes;       /* the spans above are rebased into this copy */
    char *body;
    size_t body_len;
    char flag;
};

static void check_chunk(const struct spec *sp, const struct got_chunk *g, int index)
{
    const struct msrp_out *o = &sp->out;
    const struct msrp_chunk *c = &g->head;
    ck_assert_msg(c->error == MSRP_OK, "chunk %d: %s", index, msrp_error_name(c->error));
    ck_assert_msg(c->violations == 0, "chunk %d: violations %x", index, c->violations);
    ck_assert_int_eq(c->kind, o->kind);
    ck_assert_uint_eq(c->tid.len, sp->wire.tid_len);
    ck_assert(memcmp(c->tid.ptr, sp->wire.tid, c->tid.len) == 0);
    if (o->kind == MSRP_REQUEST) {
        ck_assert(msrp_span_eq(c->method, o->method));
        ck_assert_int_eq(g->flag, o->flag);
    } else {
        ck_assert_int_eq(c->status, o->status);
        ck_assert(msrp_span_eq(c->comment, o->comment));
        ck_assert_int_eq(g->flag, '$');
    }
    struct msrp_header want[24];
    char rb[64];
    size_t n = expected_headers(sp, want, rb);
    ck_assert_uint_eq(c->num_headers, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(msrp_span_eq(g->headers[i].name, want[i].name), "chunk %d header %zu name",
                      index, i);
        ck_assert_msg(msrp_span_eq(g->headers[i].value, want[i].value),
                      "chunk %d header %zu (%.*s) value", index, i, (int)want[i].name.len,
                      want[i].name.ptr);
        ck_assert_int_eq(g->headers[i].id, want[i].id);
    }
    if (o->byte_range) {
        ck_assert(c->has_byte_range);
        ck_assert_uint_eq(c->byte_range.start, o->byte_range->start);
        ck_assert_uint_eq(c->byte_range.end, o->byte_range->end);
        ck_assert_uint_eq(c->byte_range.total, o->byte_range->total);
    }
    ck_assert_int_eq(c->success_report, o->success_report);
    ck_assert_int_eq(c->failure_report, o->failure_report);
    ck_assert_int_eq(c->has_body, o->content_type.len > 0);
    ck_assert_uint_eq(g->body_len, o->body.len);
    ck_assert(g->body_len == 0 || memcmp(g->body, o->body.ptr, g->body_len) == 0);
}

/* Keeps what the parser returned after the caller's buffer moves on: spans become copies. */
static void keep_head(struct got_chunk *g, const struct msrp_chunk *c, const char *buf, size_t have)
{
    g->head = *c;
    g->head_bytes = malloc(have);
    memcpy(g->head_bytes, buf, have);
#define REBASE(span)                                                                       \
    do {                                                                                   \
        if ((span).len)                                                                    \
            (span).ptr = g->head_bytes + ((span).ptr - buf);                               \
    } while (0)
    REBASE(g->head.tid);
    if (c->tid.ptr < buf || c->tid.ptr >= buf + have)
        g->head.tid = c->tid; /* a segment's tid lives in the parser */
    REBASE(g->head.method);
    REBASE(g->head.comment);
    for (size_t i = 0; i < c->num_headers; i++) {
        g->headers[i] = c->headers[i];
        REBASE(g->headers[i].name);
        REBASE(g->headers[i].value);
    }
#undef REBASE
    g->body = NULL;
    g->body_len = 0;
}

static void roundtrip_round(uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    struct msrp_idgen ids;
    ck_assert_int_eq(msrp_idgen_init(&ids), 0);
    size_t nchunks = 1 + rnd(&s, MAX_CHUNKS);
    struct spec *specs = calloc(nchunks, sizeof(*specs));
    size_t total = 0;
    for (size_t i = 0; i < nchunks; i++) {
        make_spec(&s, &specs[i], &ids);
        total += specs[i].wire.total;
    }
    char *stream = malloc(total);
    size_t pos = 0;
    for (size_t i = 0; i < nchunks; i++)
        for (int k = 0; k < specs[i].wire.iovcnt; k++) {
            memcpy(stream + pos, specs[i].wire.iov[k].iov_base, specs[i].wire.iov[k].iov_len);
            pos += specs[i].wire.iov[k].iov_len;
        }

    struct msrp_limits lim;
    msrp_limits_default(&lim);
    if (rnd(&s, 2))
        lim.segment_cap = 1 + rnd(&s, 70000);
    struct msrp_parser p;
    msrp_parser_init(&p, &lim);
    struct msrp_header headers[24];
    struct msrp_chunk c = {.headers = headers, .headers_cap = 24};
    struct got_chunk got = {0};
    char *buf = malloc(total);
    size_t have = 0, fed = 0;
    int done = 0;
    while (fed < total || have > 0) {
        size_t piece = total - fed;
        uint64_t mode = rnd(&s, 3);
        size_t most = mode == 0 ? 7 : mode == 1 ? 4096 : 300000;
        if (piece > most)
            piece = 1 + rnd(&s, most);
        memcpy(buf + have, stream + fed, piece);
        have += piece;
        fed += piece;
        size_t used = 0;
        for (;;) {
            ssize_t r = msrp_parse(&p, buf + used, have - used, &c);
            ck_assert_msg(r != MSRP_MALFORMED, "seed %llu: %s at %llu", (unsigned long long)seed,
                          msrp_error_name(p.error),
                          (unsigned long long)(p.stream_offset + p.error_offset));
            if (r == MSRP_INCOMPLETE)
                break;
            if (c.has_head)
                keep_head(&got, &c, buf + used, have - used);
            if (c.body.len) {
                got.body = realloc(got.body, got.body_len + c.body.len);
                memcpy(got.body + got.body_len, c.body.ptr, c.body.len);
                got.body_len += c.body.len;
            }
            used += (size_t)r;
            if (c.flag != 0) {
                got.flag = c.flag;
                ck_assert_uint_lt((size_t)done, nchunks);
                check_chunk(&specs[done], &got, done);
                done++;
                free(got.head_bytes);
                free(got.body);
                memset(&got, 0, sizeof(got));
            }
        }
        memmove(buf, buf + used, have - used);
        have -= used;
        if (fed == total)
            ck_assert_uint_eq(have, 0);
    }
    ck_assert_uint_eq((size_t)done, nchunks);
    ck_assert_uint_eq(p.stream_offset, total);
    for (size_t i = 0; i < nchunks; i++)
        free(specs[i].body);
    free(specs);
    free(stream);
    free(buf);
}

START_TEST(random_roundtrips)
{
    /* Fixed seeds: a failure names its seed and replays exactly. */
    for (uint64_t seed = (uint64_t)_i * 10; seed < (uint64_t)_i * 10 + 10; seed++)
        roundtrip_round(seed);
}
END_TEST

START_TEST(writer_changes_tid_to_avoid_end_line)
{
    /* The parser must frame a body that contains the caller's tid end-line, because the writer
     * picked another tid. */
    struct msrp_idgen ids;
    ck_assert_int_eq(msrp_idgen_init(&ids), 0);
    const char body[] = "line one\r\n-------fixedtid1$\r\nline three";
    struct msrp_out o = {
        .kind = MSRP_REQUEST,
        .tid = MSRP_SPAN_LIT("fixedtid1"),
        .method = MSRP_SPAN_LIT("SEND"),
        .to_path = MSRP_SPAN_LIT("msrp://b.example.com:1/s;tcp"),
        .from_path = MSRP_SPAN_LIT("msrp://a.example.com:2/t;tcp"),
        .content_type = MSRP_SPAN_LIT("text/plain"),
        .body = msrp_span_make(body, sizeof(body) - 1),
    };
    char head[512];
    struct msrp_wire_chunk w;
    ck_assert_int_eq(msrp_write(&o, &ids, head, sizeof(head), &w), MSRP_W_OK);
    ck_assert(!(w.tid_len == 9 && memcmp(w.tid, "fixedtid1", 9) == 0));
    char stream[1024];
    size_t n = 0;
    for (int k = 0; k < w.iovcnt; k++) {
        memcpy(stream + n, w.iov[k].iov_base, w.iov[k].iov_len);
        n += w.iov[k].iov_len;
    }
    struct msrp_parser p;
    struct msrp_header h[8];
    struct msrp_chunk c = {.headers = h, .headers_cap = 8};
    msrp_parser_init(&p, NULL);
    ck_assert_int_eq(msrp_parse(&p, stream, n, &c), (ssize_t)n);
    ck_assert(msrp_span_eq(c.body, msrp_span_make(body, sizeof(body) - 1)));
}
END_TEST

Suite *make_roundtrip_suite(void)
{
    Suite *s = suite_create("roundtrip");
    TCase *tc = tcase_create("Random");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, random_roundtrips, 0, 20);
    tcase_add_test(tc, writer_changes_tid_to_avoid_end_line);
    suite_add_tcase(s, tc);
    return s;
}
