/*
 * check_failures.c - failure forensics: the ring of a session's last frames (msrp/trace.h)
 * and the failure log that keeps counts and first examples per kind (load/failures.h), as
 * written to errors.jsonl and the terminal summary.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/failures.h"
#include "msrp/session.h"
#include "msrp/trace.h"
#include "suites.h"
#include "testutil.h"

static void note_out(struct msrp_trace *t, int i)
{
    char head[64];
    int n = snprintf(head, sizeof(head), "MSRP t%d SEND\r\nTo-Path: x\r\n", i);
    msrp_trace_out(t, head, (size_t)n, 100 + (size_t)i, '$', (uint64_t)i);
}

START_TEST(ring_keeps_the_last_frames_oldest_first)
{
    struct msrp_trace t = {0};
    struct msrp_trace_frame f[MSRP_TRACE_FRAMES];
    ck_assert_uint_eq(msrp_trace_copy(&t, f, MSRP_TRACE_FRAMES), 0);
    for (int i = 0; i < 3; i++)
        note_out(&t, i);
    ck_assert_uint_eq(msrp_trace_copy(&t, f, MSRP_TRACE_FRAMES), 3);
    ck_assert_uint_eq(f[0].len, 100);
    ck_assert_uint_eq(f[2].len, 102);
    /* 20 frames in all: the last 8 remain, 12..19, oldest first */
    for (int i = 3; i < 20; i++)
        note_out(&t, i);
    ck_assert_uint_eq(msrp_trace_copy(&t, f, MSRP_TRACE_FRAMES), MSRP_TRACE_FRAMES);
    for (int i = 0; i < MSRP_TRACE_FRAMES; i++) {
        ck_assert_uint_eq(f[i].len, 112 + (uint64_t)i);
        ck_assert(f[i].out);
        ck_assert_int_eq(f[i].flag, '$');
    }
    ck_assert(strncmp(f[0].head, "MSRP t12 SEND\r\n", 15) == 0);
    /* fewer wanted: the newest ones */
    ck_assert_uint_eq(msrp_trace_copy(&t, f, 2), 2);
    ck_assert_uint_eq(f[0].len, 118);
    ck_assert_uint_eq(f[1].len, 119);
}
END_TEST

START_TEST(ring_cuts_heads_and_copies_incoming_ones)
{
    struct msrp_trace t = {0};
    char big[1000];
    memset(big, 'a', sizeof(big));
    msrp_trace_out(&t, big, sizeof(big), 5000, '+', 1);
    /* an incoming response, copied from the buffer the parser read it from */
    static const char wire[] = "MSRP abcd 481 No session\r\nTo-Path: msrp://a:1/x;tcp\r\n"
                               "From-Path: msrp://b:2/y;tcp\r\n-------abcd$\r\n";
    struct msrp_parser p;
    msrp_parser_init(&p, NULL);
    struct msrp_header hs[4];
    struct msrp_chunk c = {.headers = hs, .headers_cap = 4};
    size_t wire_len = sizeof(wire) - 1;
    char *buf = guarded_copy(wire, wire_len);
    ck_assert_int_eq(msrp_parse(&p, buf, wire_len, &c), (ssize_t)wire_len);
    ck_assert(c.has_head);
    c.offset = 700;
    msrp_trace_in_head(&t, &c, buf, 2);
    guarded_free(buf, wire_len);
    msrp_trace_in_end(&t, &c, 700 + wire_len);
    msrp_trace_in_garbage(&t, "HTTP/1.1 200 OK\r\n\x01", 18, 3);
    struct msrp_trace_frame f[MSRP_TRACE_FRAMES];
    ck_assert_uint_eq(msrp_trace_copy(&t, f, MSRP_TRACE_FRAMES), 3);
    ck_assert_uint_eq(f[0].head_len, MSRP_TRACE_HEAD);
    ck_assert_uint_eq(f[0].len, 5000);
    const char *want = "MSRP abcd 481 No session\r\nTo-Path: msrp://a:1/x;tcp\r\n"
                       "From-Path: msrp://b:2/y;tcp\r\n";
    ck_assert_uint_eq(f[1].head_len, strlen(want));
    ck_assert(memcmp(f[1].head, want, strlen(want)) == 0);
    ck_assert(!f[1].out);
    ck_assert_uint_eq(f[1].len, wire_len);
    ck_assert_int_eq(f[1].flag, '$');
    ck_assert_int_eq(f[2].flag, '?');
    ck_assert_uint_eq(f[2].len, 18);

    /* a head longer than the ring keeps is cut, read from the parser's buffer no further */
    char longer[400];
    int n = snprintf(longer, sizeof(longer),
                     "MSRP t9xx SEND\r\nTo-Path: msrp://a:1/%0200d;tcp\r\nFrom-Path: msrp://b:2/y;tcp"
                     "\r\nMessage-ID: m1\r\n-------t9xx$\r\n", 7);
    buf = guarded_copy(longer, (size_t)n);
    msrp_parser_init(&p, NULL);
    c = (struct msrp_chunk){.headers = hs, .headers_cap = 4};
    ck_assert_int_eq(msrp_parse(&p, buf, (size_t)n, &c), n);
    msrp_trace_in_head(&t, &c, buf, 4);
    guarded_free(buf, (size_t)n);
    ck_assert_uint_eq(msrp_trace_copy(&t, f, MSRP_TRACE_FRAMES), 4);
    ck_assert_uint_eq(f[3].head_len, MSRP_TRACE_HEAD);
    ck_assert(memcmp(f[3].head, longer, MSRP_TRACE_HEAD) == 0);
}
END_TEST

START_TEST(log_counts_keeps_first_examples_and_merges_earliest)
{
    static struct failure_log a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.t0_ns = b.t0_ns = 1000000000ull;
    a.started_unix = b.started_unix = 1800000000.0;
    struct msrp_trace t = {0};
    note_out(&t, 7);
    for (int i = 0; i < 5; i++)
        failure_note(&a, MSRP_END_PEER_CLOSED, (uint64_t)(2 * i + 2) * 1000000000ull,
                     "msrp://s/a;tcp", "127.0.0.1:1", "closed", &t);
    failure_note(&b, MSRP_END_PEER_CLOSED, 3000000000ull, "msrp://s/b;tcp", "127.0.0.1:2",
                 "reset", NULL);
    failure_note(&b, FAILURE_UNBOUND_AT_END, 4000000000ull, "msrp://s/c;tcp", "", "silent", NULL);
    ck_assert_uint_eq(a.kinds[MSRP_END_PEER_CLOSED].count, 5);
    ck_assert_uint_eq(a.kinds[MSRP_END_PEER_CLOSED].n, FAILURE_EXAMPLES);
    ck_assert(!failure_wants_example(&a, MSRP_END_PEER_CLOSED));
    ck_assert(failure_wants_example(&a, FAILURE_EXPECTATION));
    failure_merge(&a, &b);
    const struct failure_kind_log *k = &a.kinds[MSRP_END_PEER_CLOSED];
    ck_assert_uint_eq(k->count, 6);
    /* examples at 1 s and 3 s from a, 2 s from b: the earliest three, in time order */
    ck_assert_uint_eq(k->n, 3);
    ck_assert(k->ex[0].t_s == 1.0 && k->ex[1].t_s == 2.0 && k->ex[2].t_s == 3.0);
    ck_assert_str_eq(k->ex[1].session, "msrp://s/b;tcp");
    ck_assert_uint_eq(k->ex[0].nframes, 1);
    ck_assert_uint_eq(k->ex[0].frames[0].at_ns, 0); /* noted before t0: clamped */

    size_t len = 0;
    char *text = failure_jsonl(&a, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));
    /* two kinds, two lines, each a JSON object */
    char *nl = strchr(text, '\n');
    ck_assert_ptr_nonnull(nl);
    json_t *first = json_loadb(text, (size_t)(nl - text), 0, NULL);
    json_t *second = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, NULL);
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(second);
    ck_assert_str_eq(json_string_value(json_object_get(first, "kind")), "peer-closed");
    ck_assert_int_eq(json_integer_value(json_object_get(first, "count")), 6);
    json_t *ex = json_array_get(json_object_get(first, "examples"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(ex, "time")), "2027-01-15T08:00:01.000Z");
    json_t *fr = json_array_get(json_object_get(ex, "frames"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(fr, "dir")), "out");
    ck_assert_str_eq(json_string_value(json_object_get(fr, "end")), "$");
    ck_assert_int_eq(json_integer_value(json_object_get(fr, "len")), 107);
    ck_assert_str_eq(json_string_value(json_object_get(fr, "head")),
                     "MSRP t7 SEND\r\nTo-Path: x\r\n");
    ck_assert_str_eq(json_string_value(json_object_get(second, "kind")), "unbound-at-end");
    json_decref(first);
    json_decref(second);
    free(text);

    char *summary = failure_summary(&a);
    ck_assert_ptr_nonnull(summary);
    ck_assert_msg(strstr(summary, "  peer-closed x6: at 1.000s, msrp://s/a;tcp with 127.0.0.1:1: "
                                  "closed\n    last frames: > MSRP t7 SEND (107 B)\n") != NULL,
                  "%s", summary);
    ck_assert_ptr_nonnull(strstr(summary, "  unbound-at-end x1: at 3.000s"));
    free(summary);

    /* nothing failed: an empty file, no lines */
    static struct failure_log none;
    text = failure_jsonl(&none, &len);
    ck_assert_uint_eq(len, 0);
    free(text);
    summary = failure_summary(&none);
    ck_assert_str_eq(summary, "");
    free(summary);
}
END_TEST

Suite *make_failures_suite(void)
{
    Suite *s = suite_create("failures");
    TCase *tc = tcase_create("forensics");
    tcase_add_test(tc, ring_keeps_the_last_frames_oldest_first);
    tcase_add_test(tc, ring_cuts_heads_and_copies_incoming_ones);
    tcase_add_test(tc, log_counts_keeps_first_examples_and_merges_earliest);
    suite_add_tcase(s, tc);
    return s;
}
