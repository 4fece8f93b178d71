/*
 * check_scenario.c - the scenario loader (src/load/scenario.c).
 *
 * Valid: every file under tests/scenarios/valid/ is loaded and its fields checked one by one,
 * defaults included. Invalid: a table of scenario texts, each with the exact message it must
 * give, so that a change of wording or of the order in which things are checked shows up here.
 * Content: send.content_file read from temporary files (every byte value, empty, a device, over
 * the 1 GiB cap, relative to the current directory). Raw: templates compiled into pieces, every
 * byte value through \u0000..\u00ff, the 64 KiB cap at its edge. Files: a missing file, broken
 * files on disk (line and column), scenarios/quickstart.json as the README documents it, the other
 * shipped scenarios step by step, and every scenario shipped under scenarios/ loading.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenario/scenario.h"
#include "suites.h"
#include "testutil.h"

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define NS_PER_S 1000000000ull
#define ERR_CAP 2048

/* Repeats a string literal: long and numerous values without a wall of text. */
#define R2(s) s s
#define R4(s) R2(R2(s))
#define R8(s) R2(R4(s))
#define R16(s) R2(R8(s))
#define R32(s) R2(R16(s))
#define R64(s) R2(R32(s))
#define R128(s) R2(R64(s))
#define R256(s) R2(R128(s))
#define R255(s) R128(s) R64(s) R32(s) R16(s) R8(s) R4(s) R2(s) s

/* ---- helpers ---- */

/* The struct is large (targets, steps): kept off the stack. */
static struct scenario *load_ok(const char *path)
{
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP];
    ck_assert_ptr_nonnull(sc);
    int rc = scenario_load(path, sc, err, sizeof err);
    ck_assert_msg(rc == 0, "%s does not load: %s", path, err);
    return sc;
}

static void unload(struct scenario *sc)
{
    scenario_free(sc);
    free(sc);
}

static unsigned expected_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

/* The keys every send has had from the start; assert_send_cut for the chunking keys. */
static void assert_send_base(const struct step *st, uint32_t count, uint64_t size_min,
                             uint64_t size_max, const char *ctype, uint32_t chunk,
                             enum msrp_report failure, enum msrp_report success)
{
    ck_assert_int_eq(st->kind, SCN_STEP_SEND);
    ck_assert_uint_eq(st->u.send.count, count);
    ck_assert_uint_eq(st->u.send.size_min, size_min);
    ck_assert_uint_eq(st->u.send.size_max, size_max);
    ck_assert_str_eq(st->u.send.content_type, ctype);
    ck_assert_uint_eq(st->u.send.chunk_size, chunk);
    ck_assert_int_eq(st->u.send.failure_report, failure);
    ck_assert_int_eq(st->u.send.success_report, success);
}

/* order, overlap, unknown_total, interrupt_after and abort_after. */
static void assert_send_cut(const struct step *st, enum msrp_chunk_order order, uint32_t overlap,
                            bool unknown_total, uint64_t interrupt_after, uint64_t abort_after)
{
    ck_assert_int_eq(st->kind, SCN_STEP_SEND);
    ck_assert_int_eq(st->u.send.order, order);
    ck_assert_uint_eq(st->u.send.overlap, overlap);
    ck_assert_int_eq(st->u.send.unknown_total, unknown_total);
    ck_assert_uint_eq(st->u.send.interrupt_after, interrupt_after);
    ck_assert_uint_eq(st->u.send.abort_after, abort_after);
}

/* A body made up to size, not read from a file. */
static void assert_no_content(const struct step *st)
{
    ck_assert_ptr_null(st->u.send.content);
    ck_assert_uint_eq(st->u.send.content_len, 0);
}

static void assert_content(const struct step *st, const void *bytes, size_t len)
{
    ck_assert_ptr_nonnull(st->u.send.content);
    ck_assert_uint_eq(st->u.send.content_len, len);
    ck_assert_uint_eq(st->u.send.size_min, len);
    ck_assert_uint_eq(st->u.send.size_max, len);
    ck_assert(memcmp(st->u.send.content, bytes, len) == 0);
}

/* A send without the chunking keys and without a content file. */
static void assert_send(const struct step *st, uint32_t count, uint64_t size_min, uint64_t size_max,
                        const char *ctype, uint32_t chunk, enum msrp_report failure,
                        enum msrp_report success)
{
    assert_send_base(st, count, size_min, size_max, ctype, chunk, failure, success);
    assert_send_cut(st, MSRP_ORDER_IN_ORDER, 0, false, 0, 0);
    assert_no_content(st);
}

/* A send with every default. */
static void assert_default_send(const struct step *st)
{
    assert_send(st, 1, 100, 100, "text/plain", 2048, MSRP_REPORT_ABSENT, MSRP_REPORT_ABSENT);
}

/* answered: -1 not checked, 0 made up locally, 1 the peer's. */
static void assert_expect_answered(const struct step *st, const int *statuses, unsigned n,
                                   int report, uint64_t timeout_ns, int answered)
{
    ck_assert_int_eq(st->kind, SCN_STEP_EXPECT);
    ck_assert_uint_eq(st->u.expect.num_statuses, n);
    for (unsigned i = 0; i < n; i++)
        ck_assert_int_eq(st->u.expect.statuses[i], statuses[i]);
    ck_assert_int_eq(st->u.expect.report, report);
    ck_assert_uint_eq(st->u.expect.timeout_ns, timeout_ns);
    ck_assert_int_eq(st->u.expect.answered, answered);
}

static void assert_expect(const struct step *st, const int *statuses, unsigned n, int report,
                          uint64_t timeout_ns)
{
    assert_expect_answered(st, statuses, n, report, timeout_ns, -1);
}

static void assert_repeat(const struct scenario *sc, unsigned begin, unsigned end, uint32_t times)
{
    ck_assert_int_eq(sc->steps[begin].kind, SCN_STEP_REPEAT_BEGIN);
    ck_assert_int_eq(sc->steps[end].kind, SCN_STEP_REPEAT_END);
    ck_assert_uint_eq(sc->steps[begin].u.repeat.other, end);
    ck_assert_uint_eq(sc->steps[end].u.repeat.other, begin);
    ck_assert_uint_eq(sc->steps[begin].u.repeat.times, times);
    ck_assert_uint_eq(sc->steps[end].u.repeat.times, times);
}

/* The load, topology and answer sections as their defaults leave them. */
static void assert_default_load(const struct scenario *sc)
{
    ck_assert_uint_eq(sc->threads, expected_threads());
    ck_assert_uint_eq(sc->sessions, 100);
    ck_assert_uint_eq(sc->concurrency, 100);
    ck_assert(!sc->concurrency_given);
    ck_assert(sc->session_rate == 0);
    ck_assert(sc->ramp_up_s == 0);
    ck_assert(sc->duration_s == 10);
    ck_assert(sc->warm_up_s == 0);
    ck_assert_int_eq(sc->mode, SCENARIO_CLOSED);
    ck_assert_uint_eq(sc->outstanding, 1);
    ck_assert(sc->rate == 0);
    ck_assert(sc->batch_window_auto);
    ck_assert(sc->batch_window_s == 0);
}

static void assert_default_topology(const struct scenario *sc)
{
    ck_assert_int_eq(sc->topology, SCENARIO_EMBEDDED);
    ck_assert(!sc->tls);
    ck_assert_uint_eq(sc->num_targets, 0);
    ck_assert_str_eq(sc->ca_file, "");
}

static void assert_default_answer(const struct scenario *sc)
{
    ck_assert_int_eq(sc->answer_status, 200);
    ck_assert_str_eq(sc->accept_types, "*");
    ck_assert_uint_eq(sc->max_message, 1ull << 40);
    ck_assert_uint_eq(sc->answer_delay_min_ns, 0);
    ck_assert_uint_eq(sc->answer_delay_max_ns, 0);
    ck_assert(sc->answer_drop == 0);
    ck_assert_uint_eq(sc->answer_reject_after, 0);
}

/* One piece of a compiled raw template: literal bytes (with their length: they may hold NULs),
 * or a placeholder. */
struct piece_want {
    enum raw_part part;
    const char *text;
    size_t len;
};

/* clang-format off */
#define TEXT(s) {RAW_PART_TEXT, s, sizeof(s) - 1}
#define PART(p) {p, NULL, 0}
/* clang-format on */

static void assert_raw(const struct step *st, enum raw_expect expect, const int *statuses,
                       unsigned n, uint64_t timeout_ns, const struct piece_want *want,
                       unsigned npieces)
{
    ck_assert_int_eq(st->kind, SCN_STEP_RAW);
    const struct step_raw *r = &st->u.raw;
    ck_assert_int_eq(r->expect, expect);
    ck_assert_uint_eq(r->num_statuses, n);
    for (unsigned i = 0; i < n; i++)
        ck_assert_int_eq(r->statuses[i], statuses[i]);
    ck_assert_uint_eq(r->timeout_ns, timeout_ns);
    ck_assert_uint_eq(r->num_pieces, npieces);
    size_t text = 0, max = 0;
    for (unsigned i = 0; i < npieces; i++) {
        const struct raw_piece *p = &r->pieces[i];
        ck_assert_msg(p->part == want[i].part, "piece %u is %d, not %d", i, p->part, want[i].part);
        switch (p->part) {
        case RAW_PART_TEXT:
            ck_assert_uint_eq(p->len, want[i].len);
            ck_assert_uint_le(p->off + p->len, r->text_len);
            ck_assert_msg(memcmp(r->text + p->off, want[i].text, p->len) == 0, "piece %u", i);
            text += p->len;
            max += p->len;
            break;
        case RAW_PART_TID:
            max += SCENARIO_RAW_TID_LEN;
            break;
        case RAW_PART_MESSAGE_ID:
            max += SCENARIO_RAW_MESSAGE_ID_LEN;
            break;
        case RAW_PART_TO_PATH:
        case RAW_PART_FROM_PATH:
            max += SCENARIO_RAW_PATH_MAX;
            break;
        case RAW_PART_CONFORM: /* only in case files, which these vectors are not */
            ck_abort_msg("piece %u: a conformance placeholder in a load scenario", i);
            break;
        case RAW_PART_DATA: /* only with run --data, which these vectors are loaded without */
            ck_abort_msg("piece %u: a data column without data", i);
            break;
        }
    }
    ck_assert_uint_eq(r->text_len, text);
    ck_assert_uint_eq(r->max_len, max);
}

/* ---- Valid: each file under tests/scenarios/valid/ with its own checks ---- */

static void check_minimal(const struct scenario *sc)
{
    ck_assert_str_eq(sc->name, "minimal");
    ck_assert_str_eq(sc->description, "");
    assert_default_load(sc);
    assert_default_topology(sc);
    assert_default_answer(sc);
    ck_assert_uint_eq(sc->num_steps, 1);
    assert_default_send(&sc->steps[0]);
}

static void check_every_key(const struct scenario *sc)
{
    ck_assert_str_eq(sc->name, "Every_key-1.0");
    ck_assert_str_eq(sc->description, "every key of the format at least once");
    ck_assert_uint_eq(sc->threads, 3);
    ck_assert_uint_eq(sc->sessions, 500);
    ck_assert_uint_eq(sc->concurrency, 50);
    ck_assert(sc->concurrency_given);
    ck_assert(sc->session_rate == 12.5);
    ck_assert(sc->ramp_up_s == 2);
    ck_assert(sc->duration_s == 60.5);
    ck_assert(sc->warm_up_s == 5);
    ck_assert_int_eq(sc->mode, SCENARIO_CLOSED);
    ck_assert_uint_eq(sc->outstanding, 16);
    ck_assert(sc->rate == 0);
    ck_assert(!sc->batch_window_auto);
    ck_assert(sc->batch_window_s == 0.0005);

    ck_assert_int_eq(sc->topology, SCENARIO_EMBEDDED);
    ck_assert(sc->tls);
    ck_assert_uint_eq(sc->num_targets, 0);

    ck_assert_uint_eq(sc->num_steps, 7);
    assert_send_base(&sc->steps[0], 10, 4096, 4096, "application/octet-stream", 1024,
                     MSRP_REPORT_PARTIAL, MSRP_REPORT_YES);
    assert_send_cut(&sc->steps[0], MSRP_ORDER_OVERLAPPING, 100, true, 1000, 4000);
    assert_no_content(&sc->steps[0]);
    static const int st[] = {200, 413};
    assert_expect_answered(&sc->steps[1], st, 2, 200, 2500000000ull, 1);
    ck_assert_int_eq(sc->steps[2].kind, SCN_STEP_PAUSE);
    ck_assert_uint_eq(sc->steps[2].u.pause_ns, 250000000ull);
    assert_repeat(sc, 3, 5, 2);
    assert_send_base(&sc->steps[4], 1, 13, 13, "text/plain", 2048, MSRP_REPORT_NO, MSRP_REPORT_NO);
    assert_send_cut(&sc->steps[4], MSRP_ORDER_IN_ORDER, 0, false, 0, 0);
    assert_content(&sc->steps[4], "hello, world\n", 13);
    ck_assert_int_eq(sc->steps[6].kind, SCN_STEP_CLOSE);

    ck_assert_int_eq(sc->answer_status, 486);
    ck_assert_str_eq(sc->accept_types, "text/* application/octet-stream");
    ck_assert_uint_eq(sc->max_message, 1048576);
    ck_assert_uint_eq(sc->answer_delay_min_ns, 100000000ull);
    ck_assert_uint_eq(sc->answer_delay_max_ns, 250000000ull);
    ck_assert(sc->answer_drop == 0.5);
    ck_assert_uint_eq(sc->answer_reject_after, 65536);
}

static void check_send_options(const struct scenario *sc)
{
    static const int st200[] = {200}, st408[] = {408};
    ck_assert_str_eq(sc->name, "send-options");
    assert_default_answer(sc);
    ck_assert_uint_eq(sc->num_steps, 10);

    /* in order with every cut at its limit: an abort at the last byte, an interruption at
     * the one before */
    assert_send_base(&sc->steps[0], 1, 20000, 20000, "text/plain", 1000, MSRP_REPORT_ABSENT,
                     MSRP_REPORT_ABSENT);
    assert_send_cut(&sc->steps[0], MSRP_ORDER_IN_ORDER, 0, true, 19999, 20000);
    assert_no_content(&sc->steps[0]);
    assert_expect_answered(&sc->steps[1], st200, 1, 0, 30 * NS_PER_S, 0);

    /* reverse takes unknown_total when it is false */
    assert_send_base(&sc->steps[2], 1, 100, 100, "text/plain", 2048, MSRP_REPORT_ABSENT,
                     MSRP_REPORT_ABSENT);
    assert_send_cut(&sc->steps[2], MSRP_ORDER_REVERSE, 0, false, 0, 0);
    assert_no_content(&sc->steps[2]);
    assert_expect_answered(&sc->steps[3], st408, 1, 0, 100000000ull, 0);

    assert_send_base(&sc->steps[4], 1, 1, 5000, "text/plain", 100, MSRP_REPORT_ABSENT,
                     MSRP_REPORT_ABSENT);
    assert_send_cut(&sc->steps[4], MSRP_ORDER_SHUFFLED, 0, false, 0, 0);

    /* overlapping: the largest overlap, and cuts against a size range */
    assert_send_base(&sc->steps[5], 1, 10, 3000, "text/plain", 1000, MSRP_REPORT_ABSENT,
                     MSRP_REPORT_ABSENT);
    assert_send_cut(&sc->steps[5], MSRP_ORDER_OVERLAPPING, 999, false, 9, 10);
    /* the default overlap of 16 */
    assert_send_base(&sc->steps[6], 1, 100, 100, "text/plain", 17, MSRP_REPORT_ABSENT,
                     MSRP_REPORT_ABSENT);
    assert_send_cut(&sc->steps[6], MSRP_ORDER_OVERLAPPING, 16, false, 0, 0);

    /* a content file: its length is the size the cuts are checked against */
    assert_send_base(&sc->steps[7], 1, 13, 13, "text/plain;charset=utf-8", 2048, MSRP_REPORT_ABSENT,
                     MSRP_REPORT_ABSENT);
    assert_send_cut(&sc->steps[7], MSRP_ORDER_IN_ORDER, 0, false, 12, 13);
    assert_content(&sc->steps[7], "hello, world\n", 13);

    assert_send_base(&sc->steps[8], 1, 0, 2, "text/plain", 2048, MSRP_REPORT_ABSENT,
                     MSRP_REPORT_ABSENT);
    assert_send_cut(&sc->steps[8], MSRP_ORDER_IN_ORDER, 0, false, 1, 0);
    assert_expect_answered(&sc->steps[9], st200, 1, 0, 30 * NS_PER_S, 1);
}

static void check_answer_delay(const struct scenario *sc)
{
    static const int st408[] = {408};
    ck_assert_uint_eq(sc->num_steps, 2);
    assert_send(&sc->steps[0], 1, 100, 100, "text/plain", 2048, MSRP_REPORT_YES,
                MSRP_REPORT_ABSENT);
    assert_expect(&sc->steps[1], st408, 1, 0, 30 * NS_PER_S);
    ck_assert_int_eq(sc->answer_status, 200);
    ck_assert_uint_eq(sc->max_message, 1ull << 40);
    ck_assert_uint_eq(sc->answer_delay_min_ns, 300000000ull);
    ck_assert_uint_eq(sc->answer_delay_max_ns, 300000000ull);
    ck_assert(sc->answer_drop == 1);
    ck_assert_uint_eq(sc->answer_reject_after, 1);
}

/* Everything given at the value that means "nothing": the same as the defaults. */
static void check_answer_delay_range(const struct scenario *sc)
{
    ck_assert_uint_eq(sc->num_steps, 1);
    assert_default_send(&sc->steps[0]);
    assert_default_answer(sc);
}

static void check_open_mode(const struct scenario *sc)
{
    ck_assert_str_eq(sc->name, "open");
    ck_assert_uint_eq(sc->threads, expected_threads()); /* 0 in the file */
    ck_assert_uint_eq(sc->sessions, 10);
    ck_assert_uint_eq(sc->concurrency, 10); /* absent: = sessions */
    ck_assert(!sc->concurrency_given);
    ck_assert_int_eq(sc->mode, SCENARIO_OPEN);
    ck_assert(sc->rate == 2000.5);
    ck_assert(sc->duration_s == 30);
    ck_assert_uint_eq(sc->outstanding, 1);
    ck_assert_uint_eq(sc->num_steps, 2);
    assert_send(&sc->steps[0], 1000, 100, 100, "message/cpim", 2048, MSRP_REPORT_ABSENT,
                MSRP_REPORT_ABSENT);
    static const int st[] = {200};
    assert_expect(&sc->steps[1], st, 1, 0, NS_PER_S);
}

static void check_target_tls(const struct scenario *sc)
{
    ck_assert_str_eq(sc->name, "remote-tls");
    assert_default_load(sc);
    ck_assert_int_eq(sc->topology, SCENARIO_TARGET);
    ck_assert(sc->tls);
    ck_assert_uint_eq(sc->num_targets, 3);
    ck_assert_str_eq(sc->targets[0], "msrps://192.0.2.1:2855/abc;tcp");
    ck_assert_str_eq(sc->targets[1], "msrps://[2001:db8::1]:12000;tcp");
    ck_assert_str_eq(sc->targets[2], "msrps://relay.example.com;TCP");
    ck_assert_str_eq(sc->ca_file, "certs/ca.pem");
    ck_assert_uint_eq(sc->num_steps, 1);
    assert_send(&sc->steps[0], 1, 100, 100, "text/plain", 2048, MSRP_REPORT_YES,
                MSRP_REPORT_ABSENT);
    ck_assert_int_eq(sc->answer_status, 600); /* checked, though target ignores it */
}

static void check_target_tcp(const struct scenario *sc)
{
    ck_assert_str_eq(sc->name, "remote");
    ck_assert_int_eq(sc->topology, SCENARIO_TARGET);
    ck_assert(!sc->tls);
    ck_assert_uint_eq(sc->num_targets, 1);
    ck_assert_str_eq(sc->targets[0], "msrp://127.0.0.1:2855/s1;tcp");
    ck_assert_str_eq(sc->ca_file, "");
    ck_assert_uint_eq(sc->num_steps, 2);
    assert_default_send(&sc->steps[0]);
    ck_assert_int_eq(sc->steps[1].kind, SCN_STEP_CLOSE);
    assert_default_answer(sc);
}

static void check_nested_repeat(const struct scenario *sc)
{
    static const int st200[] = {200};
    ck_assert_uint_eq(sc->num_steps, 13);
    assert_default_send(&sc->steps[0]);
    assert_repeat(sc, 1, 11, 3);
    ck_assert_int_eq(sc->steps[2].kind, SCN_STEP_PAUSE);
    ck_assert_uint_eq(sc->steps[2].u.pause_ns, 1000000ull);
    assert_repeat(sc, 3, 9, 0);
    assert_send(&sc->steps[4], 1, 1, 10, "text/plain", 2048, MSRP_REPORT_ABSENT,
                MSRP_REPORT_ABSENT);
    assert_expect(&sc->steps[5], st200, 1, 0, 30 * NS_PER_S);
    assert_repeat(sc, 6, 8, 1);
    ck_assert_int_eq(sc->steps[7].kind, SCN_STEP_CLOSE);
    assert_default_send(&sc->steps[10]);
    ck_assert_int_eq(sc->steps[12].kind, SCN_STEP_PAUSE);
    ck_assert_uint_eq(sc->steps[12].u.pause_ns, NS_PER_S);
}

static void check_size_range(const struct scenario *sc)
{
    static const uint64_t lo[] = {0, 1ull << 40, 0, 7, 100};
    static const uint64_t hi[] = {0, 1ull << 40, 1ull << 40, 7, 2000};
    ck_assert_uint_eq(sc->num_steps, 5);
    for (int i = 0; i < 5; i++)
        assert_send(&sc->steps[i], 1, lo[i], hi[i], "text/plain", 2048, MSRP_REPORT_ABSENT,
                    MSRP_REPORT_ABSENT);
}

static void check_expect_report(const struct scenario *sc)
{
    static const int eight[] = {200, 408, 413, 415, 481, 500, 501, 999};
    static const int st100[] = {100}, st200[] = {200};
    ck_assert_uint_eq(sc->num_steps, 6);
    assert_send(&sc->steps[0], 1, 100, 100, "text/plain", 2048, MSRP_REPORT_ABSENT,
                MSRP_REPORT_YES);
    assert_expect(&sc->steps[1], eight, 8, 200, 1);
    assert_expect(&sc->steps[3], st100, 1, 0, 30 * NS_PER_S);
    assert_expect(&sc->steps[5], st200, 1, 0, 30 * NS_PER_S);
}

static void check_raw(const struct scenario *sc)
{
    static const int st400[] = {400}, st200[] = {200}, three[] = {400, 481, 501};
    static const struct piece_want send[] = {
        TEXT("MSRP "),
        PART(RAW_PART_TID),
        TEXT(" SEND\r\nTo-Path: "),
        PART(RAW_PART_TO_PATH),
        TEXT("\r\nFrom-Path: "),
        PART(RAW_PART_FROM_PATH),
        TEXT("\r\nMessage-ID: "),
        PART(RAW_PART_MESSAGE_ID),
        TEXT("\r\nByte-Range: 1-x/5\r\nContent-Type: text/plain\r\n\r\nhello\r\n-------"),
        PART(RAW_PART_TID),
        TEXT("$\r\n"),
    };
    static const struct piece_want hello[] = {TEXT("HELLO\r\n")};
    /* {{ and }} are braces; \u0000 and \u00ff single bytes; {local_uri} is {from_path} */
    static const struct piece_want braces[] = {
        TEXT("{\0\xff}"), PART(RAW_PART_FROM_PATH), TEXT("{"), PART(RAW_PART_TID), TEXT("}"),
    };
    static const struct piece_want path[] = {PART(RAW_PART_TO_PATH)};
    /* é written as UTF-8 in the file and as \u00e9: the same byte either way */
    static const struct piece_want latin1[] = {TEXT("\xe9\xe9")};

    ck_assert_str_eq(sc->name, "raw");
    assert_default_load(sc);
    assert_default_answer(sc);
    ck_assert_uint_eq(sc->num_steps, 6);
    assert_raw(&sc->steps[0], RAW_EXPECT_RESPONSE, st400, 1, 2 * NS_PER_S, send, N_ELEMS(send));
    assert_raw(&sc->steps[1], RAW_EXPECT_RESPONSE, st200, 1, 5 * NS_PER_S, hello, N_ELEMS(hello));
    assert_raw(&sc->steps[2], RAW_EXPECT_NONE, NULL, 0, 300000000ull, braces, N_ELEMS(braces));
    assert_raw(&sc->steps[3], RAW_EXPECT_CLOSE, NULL, 0, NS_PER_S, path, N_ELEMS(path));
    assert_default_send(&sc->steps[4]);
    assert_raw(&sc->steps[5], RAW_EXPECT_RESPONSE, three, 3, 5 * NS_PER_S, latin1, N_ELEMS(latin1));
}

static const struct valid_file {
    const char *path;
    void (*check)(const struct scenario *sc);
} valid_files[] = {
    {"tests/scenarios/valid/minimal.json", check_minimal},
    {"tests/scenarios/valid/every_key.json", check_every_key},
    {"tests/scenarios/valid/open_mode.json", check_open_mode},
    {"tests/scenarios/valid/target_tls.json", check_target_tls},
    {"tests/scenarios/valid/target_tcp.json", check_target_tcp},
    {"tests/scenarios/valid/nested_repeat.json", check_nested_repeat},
    {"tests/scenarios/valid/size_range.json", check_size_range},
    {"tests/scenarios/valid/expect_report.json", check_expect_report},
    {"tests/scenarios/valid/send_options.json", check_send_options},
    {"tests/scenarios/valid/answer_delay.json", check_answer_delay},
    {"tests/scenarios/valid/answer_delay_range.json", check_answer_delay_range},
    {"tests/scenarios/valid/raw.json", check_raw},
};

START_TEST(test_valid_file)
{
    const struct valid_file *vf = &valid_files[_i];
    struct scenario *sc = load_ok(vf->path);
    ck_assert_str_eq(sc->path, vf->path);
    /* The report copies the file as it was read. */
    size_t len;
    char *text = read_file(vf->path, &len);
    ck_assert_uint_eq(sc->text_len, len);
    ck_assert(memcmp(sc->text, text, len) == 0);
    ck_assert_int_eq(sc->text[len], '\0');
    free(text);
    vf->check(sc);
    unload(sc);
}
END_TEST

/* Every file in the folder has an entry in the table, so none is silently left unchecked. */
START_TEST(test_valid_folder_covered)
{
    DIR *d = opendir("tests/scenarios/valid");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "tests/scenarios/valid/%s", e->d_name);
        bool listed = false;
        for (int i = 0; i < N_ELEMS(valid_files) && !listed; i++)
            listed = strcmp(valid_files[i].path, path) == 0;
        ck_assert_msg(listed, "%s has no checks in valid_files", path);
        files++;
    }
    closedir(d);
    ck_assert_int_eq(files, N_ELEMS(valid_files));
}
END_TEST

/* ---- Invalid: text and the exact message (after "t.json: ") ---- */

#define STEPS "\"steps\":[{\"send\":{}}]"
#define WITH_LOAD(l) "{\"name\":\"n\",\"load\":" l "," STEPS "}"
#define WITH_TOPO(t) "{\"name\":\"n\",\"topology\":" t "," STEPS "}"
#define WITH_STEPS(s) "{\"name\":\"n\",\"steps\":" s "}"
#define WITH_SEND(s) WITH_STEPS("[{\"send\":" s "}]")
#define WITH_EXPECT(e) WITH_STEPS("[{\"send\":{}},{\"expect\":" e "}]")
#define WITH_ANSWER(a) "{\"name\":\"n\"," STEPS ",\"answer\":" a "}"
#define TARGET_TCP(list) WITH_TOPO("{\"kind\":\"target\",\"targets\":" list "}")
#define TARGET_TLS(list)                                                                           \
    WITH_TOPO("{\"kind\":\"target\",\"transport\":\"tls\",\"targets\":" list "}")

#define STEP_WHAT                                                                                  \
    "expected an object with one key: \"send\", \"expect\", \"pause\", \"repeat\", "               \
    "\"close\" or \"raw\", got "
#define LOAD_KEYS                                                                                  \
    "\"threads\", \"sessions\", \"concurrency\", \"session_rate\", \"ramp_up\", "                  \
    "\"duration\", \"warm_up\", \"mode\", \"outstanding\", \"rate\", \"batch_window\", "  \
    "\"stages\", \"seed\", \"session_lifetime\", \"endings\""
#define SIZE_WHAT                                                                                  \
    "expected an integer 0..1099511627776, an object with \"min\" and \"max\", or one with "      \
    "\"dist\", got "
#define STATUS_WHAT "expected an integer 100..999 or an array of 1 to 8 of them, got "
#define NAME_WHAT "expected 1 to 63 letters, digits, \".\", \"_\" or \"-\", got "
#define ACCEPT_WHAT                                                                                \
    "expected media types separated by spaces (\"text/plain\", \"text/*\" or \"*\"), got "
#define EXPECT_PLACE "expect must directly follow a send in the same list of steps"
#define TOO_MANY "too many steps: at most 256 in all, a repeat counting as 2"
#define PAUSES(n) n("{\"pause\":1},")
#define ORDER_WHAT "expected one of \"in-order\", \"reverse\", \"shuffled\", \"overlapping\", got "
#define OVERLAP_ONLY "\"overlap\" is only allowed when order is \"overlapping\""
#define DELAY_WHAT "expected a number of seconds >= 0 or an object with \"min\" and \"max\", got "
#define WITH_RAW(r) WITH_STEPS("[{\"raw\":" r "}]")
#define BRACES "; write {{ and }} for literal braces"
#define KNOWN                                                                                      \
    "; known placeholders: {tid}, {to_path}, {from_path}, {message_id}, {local_uri}" BRACES
#define ONE_BYTE "expected characters U+0000..U+00FF only (one byte each), got "
/* A content file in the tree, 13 bytes: "hello, world\n". */
#define HELLO "tests/scenarios/data/hello.txt"

static const struct bad_case {
    const char *json;
    const char *msg;
} bad_cases[] = {
    /* malformed JSON: jansson's words, with line and column */
    {"{\"name\":\"n\",", "line 1 column 12: string or '}' expected near end of file"},
    {"{\n  \"name\": \"n\",\n  \"steps\": [,]\n}", "line 3 column 13: unexpected token near ','"},
    {"{\"name\":\"n\"," STEPS "} x", "line 1 column 36: end of file expected near 'x'"},
    {"", "line 1 column 0: unexpected token near end of file"},
    {"{\"name\":\"a\",\"name\":\"b\"," STEPS "}",
     "line 1 column 18: duplicate object key near '\"name\"'"},
    {"{\"name\":\"n\",\"load\":{\"sessions\":1,\"sessions\":2}," STEPS "}",
     "line 1 column 43: duplicate object key near '\"sessions\"'"},
    {"{\"name\":\"n\",\"load\":{\"sessions\":99999999999999999999}," STEPS "}",
     "line 1 column 51: too big integer near '99999999999999999999'"},

    /* top level */
    {"[]", "$: expected an object, got an empty array"},
    {"\"x\"", "$: expected an object, got a string"},
    {"{}", "$: required key \"name\" missing"},
    {"{\"name\":\"n\"}", "$: required key \"steps\" missing"},
    {"{\"nme\":\"n\"," STEPS "}",
     "$: unknown key \"nme\"; allowed keys: \"name\", \"description\", \"load\", \"topology\", "
     "\"steps\", \"answer\""},
    {"{\"name\":\"n\",\"na\\nme\":1," STEPS "}",
     "$: unknown key \"na\\nme\"; allowed keys: \"name\", \"description\", \"load\", "
     "\"topology\", \"steps\", \"answer\""},
    {"{\"name\":\"n\",\"" R64("k") "k\":1," STEPS "}",
     "$: unknown key of 65 bytes; allowed keys: \"name\", \"description\", \"load\", "
     "\"topology\", \"steps\", \"answer\""},
    {"{\"name\":5," STEPS "}", "$.name: " NAME_WHAT "5"},
    {"{\"name\":\"a b\"," STEPS "}", "$.name: " NAME_WHAT "\"a b\""},
    {"{\"name\":\"\"," STEPS "}", "$.name: " NAME_WHAT "\"\""},
    {"{\"name\":\"r\\u00e9sum\\u00e9\"," STEPS "}",
     "$.name: " NAME_WHAT "\"r\xc3\xa9sum\xc3\xa9\""},
    {"{\"name\":\"" R64("a") "\"," STEPS "}", "$.name: " NAME_WHAT "\"" R64("a") "\""},
    {"{\"name\":\"n\",\"description\":null," STEPS "}",
     "$.description: expected a string, got null"},
    {"{\"name\":\"n\",\"description\":\"" R256("d") "\"," STEPS "}",
     "$.description: expected a string of at most 255 bytes, got a string of 256 bytes"},

    /* load */
    {WITH_LOAD("[]"), "$.load: expected an object, got an empty array"},
    {WITH_LOAD("{\"thread\":1}"), "$.load: unknown key \"thread\"; allowed keys: " LOAD_KEYS},
    {WITH_LOAD("{\"threads\":257}"), "$.load.threads: expected an integer 0..256, got 257"},
    {WITH_LOAD("{\"threads\":-1}"), "$.load.threads: expected an integer 0..256, got -1"},
    {WITH_LOAD("{\"threads\":\"4\"}"), "$.load.threads: expected an integer 0..256, got a string"},
    {WITH_LOAD("{\"sessions\":0}"), "$.load.sessions: expected an integer 1..1000000000000, got 0"},
    {WITH_LOAD("{\"sessions\":1.5}"), "$.load.sessions: expected an integer 1..1000000000000, got 1.5"},
    {WITH_LOAD("{\"sessions\":100.0}"), "$.load.sessions: expected an integer 1..1000000000000, got 100.0"},
    {WITH_LOAD("{\"sessions\":1e3}"), "$.load.sessions: expected an integer 1..1000000000000, got 1000.0"},
    {WITH_LOAD("{\"sessions\":\"100\"}"),
     "$.load.sessions: expected an integer 1..1000000000000, got a string"},
    {WITH_LOAD("{\"concurrency\":0}"), "$.load.concurrency: expected an integer 1..1000000, got 0"},
    {WITH_LOAD("{\"sessions\":10,\"concurrency\":11}"),
     "$.load.concurrency: expected an integer <= load.sessions (10), got 11"},
    {WITH_LOAD("{\"concurrency\":101}"),
     "$.load.concurrency: expected an integer <= load.sessions (100), got 101"},
    /* Above the bounds: 2^33 sessions would make 2^33 at once (concurrency follows them). */
    {WITH_LOAD("{\"sessions\":10000000000000}"),
     "$.load.sessions: expected an integer 1..1000000000000, got 10000000000000"},
    {WITH_LOAD("{\"sessions\":8589934592}"),
     "$.load.sessions: expected at most 1000000 sessions when load.concurrency is not given (it "
     "defaults to load.sessions), got 8589934592"},
    {WITH_LOAD("{\"sessions\":8589934592, \"concurrency\":8589934592}"),
     "$.load.concurrency: expected an integer 1..1000000, got 8589934592"},
    {WITH_LOAD("{\"session_rate\":-1}"), "$.load.session_rate: expected a number >= 0, got -1"},
    {WITH_LOAD("{\"session_rate\":true}"), "$.load.session_rate: expected a number >= 0, got true"},
    {WITH_LOAD("{\"ramp_up\":-0.5}"),
     "$.load.ramp_up: expected a number of seconds >= 0, got -0.5"},
    {WITH_LOAD("{\"duration\":0}"), "$.load.duration: expected a number of seconds > 0, got 0"},
    {WITH_LOAD("{\"duration\":1e10}"),
     "$.load.duration: expected a number of seconds <= 1000000000, got 10000000000.0"},
    {WITH_LOAD("{\"warm_up\":\"1\"}"),
     "$.load.warm_up: expected a number of seconds >= 0, got a string"},
    {WITH_LOAD("{\"mode\":\"half-open\"}"),
     "$.load.mode: expected one of \"closed\", \"open\", got \"half-open\""},
    {WITH_LOAD("{\"mode\":1}"), "$.load.mode: expected one of \"closed\", \"open\", got 1"},
    {WITH_LOAD("{\"outstanding\":0}"), "$.load.outstanding: expected an integer 1..1024, got 0"},
    {WITH_LOAD("{\"outstanding\":1025}"),
     "$.load.outstanding: expected an integer 1..1024, got 1025"},
    {WITH_LOAD("{\"batch_window\":\"fast\"}"),
     "$.load.batch_window: expected \"auto\" or a number of seconds from 0 to 0.1, got \"fast\""},
    {WITH_LOAD("{\"batch_window\":-0.001}"),
     "$.load.batch_window: expected \"auto\" or a number of seconds from 0 to 0.1, got -0.001"},
    {WITH_LOAD("{\"batch_window\":0.5}"),
     "$.load.batch_window: expected \"auto\" or a number of seconds from 0 to 0.1, got 0.5"},
    {WITH_LOAD("{\"batch_window\":true}"),
     "$.load.batch_window: expected \"auto\" or a number of seconds from 0 to 0.1, got true"},
    {WITH_LOAD("{\"mode\":\"open\",\"rate\":0}"), "$.load.rate: expected a number > 0, got 0"},
    {WITH_LOAD("{\"mode\":\"open\",\"rate\":[]}"),
     "$.load.rate: expected a number > 0, got an empty array"},
    {WITH_LOAD("{\"mode\":\"open\"}"), "$.load: \"rate\" is required when mode is \"open\""},
    {WITH_LOAD("{\"mode\":\"closed\",\"rate\":100}"),
     "$.load.rate: \"rate\" is only allowed when mode is \"open\""},
    {WITH_LOAD("{\"rate\":100}"), "$.load.rate: \"rate\" is only allowed when mode is \"open\""},

    /* topology */
    {WITH_TOPO("\"embedded\""), "$.topology: expected an object, got a string"},
    {WITH_TOPO("{\"target\":[]}"),
     "$.topology: unknown key \"target\"; allowed keys: \"kind\", \"transport\", "
     "\"caller_transport\", \"answerer_transport\", \"targets\", \"ca_file\", \"relay\", "
     "\"sip\""},
    {WITH_TOPO("{\"kind\":\"remote\"}"),
     "$.topology.kind: expected one of \"embedded\", \"target\", \"relay\", \"sip\", got "
     "\"remote\""},
    {WITH_TOPO("{\"sip\":{}}"), "$.topology.sip: \"sip\" is only allowed when kind is \"sip\""},
    {WITH_TOPO("{\"kind\":\"sip\",\"sip\":{\"password\":\"x\"}}"),
     "$.topology.sip: unknown key \"password\"; allowed keys: \"proxy\", \"user\", \"users\", "
     "\"domain\", \"target\", \"password_file\", \"ca_file\", \"insecure\""},
    {WITH_TOPO("{\"kind\":\"sip\",\"sip\":{\"proxy\":\"127.0.0.1:5060\"}}"),
     "$.topology.sip.proxy: expected a SIP URI (sip:HOST:PORT, ;transport=udp, tcp or tls, "
     "or sips:), got \"127.0.0.1:5060\""},
    /* a transport the agents do not have, and sips: over UDP */
    {WITH_TOPO("{\"kind\":\"sip\",\"sip\":{\"proxy\":\"sip:h:1;transport=sctp\"}}"),
     "$.topology.sip.proxy: expected a SIP URI (sip:HOST:PORT, ;transport=udp, tcp or tls, "
     "or sips:), got \"sip:h:1;transport=sctp\""},
    {WITH_TOPO("{\"kind\":\"sip\",\"sip\":{\"proxy\":\"sips:h:1;transport=udp\"}}"),
     "$.topology.sip.proxy: expected a SIP URI (sip:HOST:PORT, ;transport=udp, tcp or tls, "
     "or sips:), got \"sips:h:1;transport=udp\""},
    {WITH_TOPO("{\"kind\":\"sip\",\"sip\":{\"insecure\":1}}"),
     "$.topology.sip.insecure: expected true or false, got 1"},
    {WITH_TOPO("{\"kind\":\"sip\",\"sip\":{\"users\":0}}"),
     "$.topology.sip.users: expected an integer 1..100000, got 0"},
    {WITH_TOPO("{\"kind\":\"sip\",\"transport\":\"ws\"}"),
     "$.topology: kind \"sip\" runs its MSRP sessions over \"tcp\" or \"tls\", not \"ws\""},
    {WITH_TOPO("{\"relay\":{}}"),
     "$.topology.relay: \"relay\" is only allowed when kind is \"relay\" or \"sip\""},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":[]}"),
     "$.topology.relay: expected an object, got an empty array"},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":{\"password\":\"x\"}}"),
     "$.topology.relay: unknown key \"password\"; allowed keys: \"uri\", \"ws_uri\", \"user\", \"users\", "
     "\"password_file\", \"expires\""},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":{\"uri\":\"msrps://r;tcp\"}}"),
     "$.topology.relay.uri: expected an msrp:// URI as transport is \"tcp\", got "
     "\"msrps://r;tcp\""},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":{\"user\":\"a%s\"}}"),
     "$.topology.relay.user: expected a user name (printable, no quotes, at most one %d or "
     "%0Nd), got \"a%s\""},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":{\"user\":\"u%d%d\"}}"),
     "$.topology.relay.user: expected a user name (printable, no quotes, at most one %d or "
     "%0Nd), got \"u%d%d\""},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":{\"users\":0}}"),
     "$.topology.relay.users: expected an integer 1..4294967295, got 0"},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":{\"expires\":-5}}"),
     "$.topology.relay.expires: expected an integer 1..4294967295, got -5"},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":{\"password_file\":\"\"}}"),
     "$.topology.relay.password_file: expected a file path, got \"\""},
    {WITH_TOPO("{\"transport\":\"udp\"}"),
     "$.topology.transport: expected one of \"tcp\", \"tls\", \"ws\", \"wss\", got \"udp\""},
    {WITH_TOPO("{\"caller_transport\":\"ws\"}"),
     "$.topology.caller_transport: only allowed when kind is \"relay\" (both ends are "
     "msrpload's own only through a relay)"},
    {WITH_TOPO("{\"kind\":\"relay\",\"answerer_transport\":\"udp\"}"),
     "$.topology.answerer_transport: expected one of \"tcp\", \"tls\", \"ws\", \"wss\", got "
     "\"udp\""},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":{\"ws_uri\":\"msrp://r;tcp\"}}"),
     "$.topology.relay.ws_uri: expected ws://HOST:PORT/PATH, wss://... or an MSRP URI with ;ws, "
     "got \"msrp://r;tcp\""},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":{\"uri\":\"ws://r:1/\",\"ws_uri\":\"ws://r:2/\"}}"),
     "$.topology.relay.ws_uri: the relay's WebSocket address is given twice (relay.uri is one "
     "already: give the TCP address there)"},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":{\"uri\":\"ws://r:99999/\"}}"),
     "$.topology.relay.uri: ws://r:99999/: the port must be 1..65535"},
    {WITH_TOPO("{\"kind\":\"relay\",\"relay\":{\"uri\":\"ws://r:80/a#b\"}}"),
     "$.topology.relay.uri: ws://r:80/a#b: a WebSocket URI has no fragment (#...)"},
    {WITH_TOPO("{\"kind\":\"relay\",\"transport\":\"tls\",\"relay\":{\"uri\":\"msrp://r;tcp\"}}"),
     "$.topology.relay.uri: expected an msrps:// URI as transport is \"tls\", got "
     "\"msrp://r;tcp\""},
    {WITH_TOPO("{\"kind\":\"target\",\"transport\":\"ws\",\"targets\":[\"msrp://h;tcp\"]}"),
     "$.topology.targets[0]: expected an msrp:// URI with transport \"ws\", got "
     "\"msrp://h;tcp\""},
    {WITH_TOPO("{\"kind\":\"target\",\"transport\":\"wss\",\"targets\":[\"msrp://h;ws\"]}"),
     "$.topology.targets[0]: expected an msrps:// URI as transport is \"wss\", got "
     "\"msrp://h;ws\""},
    {WITH_TOPO("{\"kind\":\"target\"}"),
     "$.topology: \"targets\" is required when kind is \"target\""},
    {TARGET_TCP("[]"),
     "$.topology.targets: expected an array of 1 to 64 MSRP URIs, got an empty array"},
    {TARGET_TCP("\"msrp://h;tcp\""),
     "$.topology.targets: expected an array of 1 to 64 MSRP URIs, got a string"},
    {TARGET_TCP("[" R64("\"msrp://h;tcp\",") "\"msrp://h;tcp\"]"),
     "$.topology.targets: expected an array of 1 to 64 MSRP URIs, got an array of 65"},
    {WITH_TOPO("{\"targets\":[\"msrp://h;tcp\"]}"),
     "$.topology.targets: \"targets\" is only allowed when kind is \"target\""},
    {TARGET_TCP("[\"http://x\"]"),
     "$.topology.targets[0]: expected an msrp:// URI, got \"http://x\" (URI does not start "
     "with msrp:// or msrps://)"},
    {TARGET_TCP("[\"msrp://h;tcp\",\"msrp://h:99999;tcp\"]"),
     "$.topology.targets[1]: expected an msrp:// URI, got \"msrp://h:99999;tcp\" (URI port is "
     "empty, not decimal, or above 65535)"},
    {TARGET_TCP("[\"msrp://h;tcp\",\"msrps://h;tcp\"]"),
     "$.topology.targets[1]: expected an msrp:// URI as transport is \"tcp\", got "
     "\"msrps://h;tcp\""},
    {TARGET_TLS("[\"msrp://h;tcp\"]"),
     "$.topology.targets[0]: expected an msrps:// URI as transport is \"tls\", got "
     "\"msrp://h;tcp\""},
    {TARGET_TCP("[\"msrp://h;udp\"]"),
     "$.topology.targets[0]: expected an msrp:// URI with transport \"tcp\", got "
     "\"msrp://h;udp\""},
    {TARGET_TLS("[5]"), "$.topology.targets[0]: expected an msrps:// URI, got 5"},
    {TARGET_TCP("[\"msrp://" R256("a") R128("a") R64("a") R32("a") R16("a") R4("a") "a;tcp\"]"),
     "$.topology.targets[0]: expected a string of at most 511 bytes, got a string of 512 bytes"},
    {WITH_TOPO("{\"kind\":\"target\",\"targets\":[\"msrp://h;tcp\"],\"ca_file\":\"ca.pem\"}"),
     "$.topology.ca_file: \"ca_file\" is only allowed when kind is \"target\" or \"relay\" and "
     "an end's transport is \"tls\" or \"wss\""},
    {WITH_TOPO("{\"transport\":\"tls\",\"ca_file\":\"ca.pem\"}"),
     "$.topology.ca_file: \"ca_file\" is only allowed when kind is \"target\" or \"relay\" and "
     "an end's transport is \"tls\" or \"wss\""},
    {WITH_TOPO("{\"kind\":\"target\",\"transport\":\"tls\",\"targets\":[\"msrps://h;tcp\"],"
               "\"ca_file\":\"\"}"),
     "$.topology.ca_file: expected a file path, got \"\""},
    {WITH_TOPO("{\"kind\":\"target\",\"transport\":\"tls\",\"targets\":[\"msrps://h;tcp\"],"
               "\"ca_file\":5}"),
     "$.topology.ca_file: expected a file path, got 5"},

    /* steps */
    {WITH_STEPS("{}"), "$.steps: expected a non-empty array of steps, got an empty object"},
    {WITH_STEPS("[]"), "$.steps: expected a non-empty array of steps, got an empty array"},
    {WITH_STEPS("[1]"), "$.steps[0]: " STEP_WHAT "1"},
    {WITH_STEPS("[{}]"), "$.steps[0]: " STEP_WHAT "an empty object"},
    {WITH_STEPS("[{\"send\":{},\"pause\":1}]"), "$.steps[0]: " STEP_WHAT "an object with 2 keys"},
    {WITH_STEPS("[{\"recv\":{}}]"),
     "$.steps[0]: unknown key \"recv\"; allowed keys: \"send\", \"expect\", \"pause\", "
     "\"repeat\", \"close\", \"raw\""},
    {WITH_STEPS("[{\"expect\":{}}]"), "$.steps[0]: " EXPECT_PLACE},
    {WITH_STEPS("[{\"send\":{}},{\"pause\":1},{\"expect\":{}}]"), "$.steps[2]: " EXPECT_PLACE},
    {WITH_STEPS("[{\"send\":{}},{\"expect\":{}},{\"expect\":{}}]"), "$.steps[2]: " EXPECT_PLACE},
    {WITH_STEPS("[{\"send\":{}},{\"repeat\":{\"times\":1,\"steps\":[{\"expect\":{}}]}}]"),
     "$.steps[1].repeat.steps[0]: " EXPECT_PLACE},
    {WITH_STEPS("[{\"repeat\":{\"times\":1,\"steps\":[{\"send\":{}}]}},{\"expect\":{}}]"),
     "$.steps[1]: " EXPECT_PLACE},

    /* send */
    {WITH_SEND("1"), "$.steps[0].send: expected an object, got 1"},
    {WITH_SEND("{\"bytes\":1}"),
     "$.steps[0].send: unknown key \"bytes\"; allowed keys: \"count\", \"size\", "
     "\"content_file\", \"content_type\", \"chunk_size\", \"failure_report\", "
     "\"success_report\", \"order\", \"overlap\", \"unknown_total\", \"interrupt_after\", "
     "\"abort_after\", \"numeric_range_end\", \"cpim\", \"think\", \"file\""},
    {WITH_SEND("{\"numeric_range_end\":1}"),
     "$.steps[0].send.numeric_range_end: expected true or false, got 1"},
    {WITH_SEND("{\"count\":0}"), "$.steps[0].send.count: expected an integer 1..4294967295, got 0"},
    {WITH_SEND("{\"count\":4294967296}"),
     "$.steps[0].send.count: expected an integer 1..4294967295, got 4294967296"},
    {WITH_SEND("{\"size\":-1}"), "$.steps[0].send.size: " SIZE_WHAT "-1"},
    {WITH_SEND("{\"size\":1099511627777}"), "$.steps[0].send.size: " SIZE_WHAT "1099511627777"},
    {WITH_SEND("{\"size\":\"big\"}"), "$.steps[0].send.size: " SIZE_WHAT "a string"},
    {WITH_SEND("{\"size\":1.5}"), "$.steps[0].send.size: " SIZE_WHAT "1.5"},
    {WITH_SEND("{\"size\":{\"min\":10,\"max\":5}}"),
     "$.steps[0].send.size.max: expected an integer >= min (10), got 5"},
    {WITH_SEND("{\"size\":{\"min\":1}}"), "$.steps[0].send.size: required key \"max\" missing"},
    {WITH_SEND("{\"size\":{\"max\":1}}"), "$.steps[0].send.size: required key \"min\" missing"},
    {WITH_SEND("{\"size\":{\"min\":1,\"max\":2,\"mean\":1}}"),
     "$.steps[0].send.size: unknown key \"mean\"; allowed keys: \"min\", \"max\""},
    {WITH_SEND("{\"size\":{\"min\":-1,\"max\":2}}"),
     "$.steps[0].send.size.min: expected an integer 0..1099511627776, got -1"},
    {WITH_SEND("{\"size\":{\"min\":0,\"max\":2.5}}"),
     "$.steps[0].send.size.max: expected an integer 0..1099511627776, got 2.5"},
    {WITH_SEND("{\"content_type\":\"text\"}"),
     "$.steps[0].send.content_type: expected a media type such as \"text/plain\", got \"text\""},
    {WITH_SEND("{\"content_type\":\"text/plain\\r\\nX: y\"}"),
     "$.steps[0].send.content_type: expected a media type such as \"text/plain\", got "
     "\"text/plain\\r\\nX: y\""},
    {WITH_SEND("{\"content_type\":5}"),
     "$.steps[0].send.content_type: expected a media type such as \"text/plain\", got 5"},
    {WITH_SEND("{\"content_type\":\"text/" R64("a") R32("a") R16("a") R8("a") R2("a") "a\"}"),
     "$.steps[0].send.content_type: expected a string of at most 127 bytes, got a string of "
     "128 bytes"},
    {WITH_SEND("{\"chunk_size\":0}"),
     "$.steps[0].send.chunk_size: expected an integer 1..4294967295, got 0"},
    {WITH_STEPS("[{\"pause\":1},{\"send\":{\"failure_report\":\"sometimes\"}}]"),
     "$.steps[1].send.failure_report: expected one of \"yes\", \"no\", \"partial\", \"absent\", "
     "got \"sometimes\""},
    {WITH_SEND("{\"failure_report\":true}"),
     "$.steps[0].send.failure_report: expected one of \"yes\", \"no\", \"partial\", \"absent\", "
     "got true"},
    {WITH_SEND("{\"success_report\":\"partial\"}"),
     "$.steps[0].send.success_report: expected one of \"yes\", \"no\", \"absent\", got "
     "\"partial\""},
    {WITH_SEND("{\"success_report\":\"Yes\"}"),
     "$.steps[0].send.success_report: expected one of \"yes\", \"no\", \"absent\", got \"Yes\""},

    /* send: order and overlap */
    {WITH_SEND("{\"order\":\"random\"}"), "$.steps[0].send.order: " ORDER_WHAT "\"random\""},
    {WITH_SEND("{\"order\":\"In-Order\"}"), "$.steps[0].send.order: " ORDER_WHAT "\"In-Order\""},
    {WITH_SEND("{\"order\":1}"), "$.steps[0].send.order: " ORDER_WHAT "1"},
    {WITH_SEND("{\"overlap\":16}"), "$.steps[0].send.overlap: " OVERLAP_ONLY},
    {WITH_SEND("{\"order\":\"in-order\",\"overlap\":16}"),
     "$.steps[0].send.overlap: " OVERLAP_ONLY},
    {WITH_SEND("{\"order\":\"reverse\",\"overlap\":1}"), "$.steps[0].send.overlap: " OVERLAP_ONLY},
    {WITH_SEND("{\"order\":\"overlapping\",\"overlap\":0}"),
     "$.steps[0].send.overlap: expected an integer 1..4294967295, got 0"},
    {WITH_SEND("{\"order\":\"overlapping\",\"overlap\":1.5}"),
     "$.steps[0].send.overlap: expected an integer 1..4294967295, got 1.5"},
    {WITH_SEND("{\"overlap\":0}"),
     "$.steps[0].send.overlap: expected an integer 1..4294967295, got 0"},
    {WITH_SEND("{\"order\":\"overlapping\",\"chunk_size\":100,\"overlap\":100}"),
     "$.steps[0].send.overlap: expected an integer < chunk_size (100), got 100"},
    {WITH_SEND("{\"order\":\"overlapping\",\"chunk_size\":16}"),
     "$.steps[0].send.chunk_size: expected an integer > overlap (16) as order is \"overlapping\", "
     "got 16"},
    {WITH_SEND("{\"order\":\"overlapping\",\"chunk_size\":1,\"overlap\":1}"),
     "$.steps[0].send.overlap: expected an integer < chunk_size (1), got 1"},

    /* send: unknown_total, interrupt_after, abort_after */
    {WITH_SEND("{\"unknown_total\":\"yes\"}"),
     "$.steps[0].send.unknown_total: expected true or false, got a string"},
    {WITH_SEND("{\"unknown_total\":1}"),
     "$.steps[0].send.unknown_total: expected true or false, got 1"},
    {WITH_SEND("{\"unknown_total\":null}"),
     "$.steps[0].send.unknown_total: expected true or false, got null"},
    {WITH_SEND("{\"order\":\"reverse\",\"unknown_total\":true}"),
     "$.steps[0].send.unknown_total: \"unknown_total\" is not allowed when order is \"reverse\""},
    {WITH_SEND("{\"order\":\"shuffled\",\"unknown_total\":true}"),
     "$.steps[0].send.unknown_total: \"unknown_total\" is not allowed when order is "
     "\"shuffled\""},
    {WITH_SEND("{\"order\":\"shuffled\",\"interrupt_after\":10}"),
     "$.steps[0].send.interrupt_after: \"interrupt_after\" is not allowed when order is "
     "\"shuffled\""},
    {WITH_SEND("{\"order\":\"reverse\",\"abort_after\":10}"),
     "$.steps[0].send.abort_after: \"abort_after\" is not allowed when order is \"reverse\""},
    /* more than one: the first in the table's order is named */
    {WITH_SEND("{\"abort_after\":10,\"interrupt_after\":5,\"unknown_total\":true,"
               "\"order\":\"reverse\"}"),
     "$.steps[0].send.unknown_total: \"unknown_total\" is not allowed when order is \"reverse\""},
    {WITH_SEND("{\"abort_after\":10,\"interrupt_after\":5,\"order\":\"reverse\"}"),
     "$.steps[0].send.interrupt_after: \"interrupt_after\" is not allowed when order is "
     "\"reverse\""},
    {WITH_SEND("{\"interrupt_after\":0}"),
     "$.steps[0].send.interrupt_after: expected an integer >= 1, got 0"},
    {WITH_SEND("{\"interrupt_after\":\"10\"}"),
     "$.steps[0].send.interrupt_after: expected an integer >= 1, got a string"},
    {WITH_SEND("{\"abort_after\":-1}"),
     "$.steps[0].send.abort_after: expected an integer >= 1, got -1"},
    {WITH_SEND("{\"abort_after\":2.0}"),
     "$.steps[0].send.abort_after: expected an integer >= 1, got 2.0"},
    {WITH_SEND("{\"size\":100,\"abort_after\":101}"),
     "$.steps[0].send.abort_after: expected an integer <= size (100), got 101"},
    {WITH_SEND("{\"abort_after\":101}"),
     "$.steps[0].send.abort_after: expected an integer <= size (100), got 101"},
    {WITH_SEND("{\"size\":0,\"abort_after\":1}"),
     "$.steps[0].send.abort_after: expected an integer <= size (0), got 1"},
    {WITH_SEND("{\"size\":{\"min\":10,\"max\":1000},\"abort_after\":11}"),
     "$.steps[0].send.abort_after: expected an integer <= size.min (10), got 11"},
    {WITH_SEND("{\"size\":100,\"interrupt_after\":100}"),
     "$.steps[0].send.interrupt_after: expected an integer < size (100), got 100"},
    {WITH_SEND("{\"size\":{\"min\":10,\"max\":1000},\"interrupt_after\":1000}"),
     "$.steps[0].send.interrupt_after: expected an integer < size.max (1000), got 1000"},
    {WITH_SEND("{\"size\":100,\"abort_after\":50,\"interrupt_after\":50}"),
     "$.steps[0].send.interrupt_after: expected an integer < abort_after (50), got 50"},
    {WITH_SEND("{\"size\":100,\"abort_after\":50,\"interrupt_after\":100}"),
     "$.steps[0].send.interrupt_after: expected an integer < size (100), got 100"},
    {WITH_SEND("{\"order\":\"overlapping\",\"size\":100,\"abort_after\":101}"),
     "$.steps[0].send.abort_after: expected an integer <= size (100), got 101"},

    /* send: content_file */
    {WITH_SEND("{\"size\":13,\"content_file\":\"" HELLO "\"}"),
     "$.steps[0].send.content_file: \"content_file\" is not allowed together with \"size\""},
    {WITH_SEND("{\"size\":13,\"content_file\":\"tests/scenarios/data/no-such.bin\"}"),
     "$.steps[0].send.content_file: \"content_file\" is not allowed together with \"size\""},
    {WITH_SEND("{\"content_file\":\"\"}"),
     "$.steps[0].send.content_file: expected a file path, got \"\""},
    {WITH_SEND("{\"content_file\":5}"),
     "$.steps[0].send.content_file: expected a file path, got 5"},
    {WITH_SEND("{\"content_file\":[\"" HELLO "\"]}"),
     "$.steps[0].send.content_file: expected a file path, got an array"},
    {WITH_SEND("{\"content_file\":\"" R256("d") R128("d") R64("d") R32("d") R16("d") R8("d") R4("d")
                   R4("d") "\"}"),
     "$.steps[0].send.content_file: expected a string of at most 511 bytes, got a string of 512 "
     "bytes"},
    {WITH_SEND("{\"content_file\":\"tests/scenarios/data/no-such.bin\"}"),
     "$.steps[0].send.content_file: cannot open \"tests/scenarios/data/no-such.bin\": No such "
     "file or directory"},
    {WITH_SEND("{\"content_file\":\"tests/scenarios\"}"),
     "$.steps[0].send.content_file: cannot read \"tests/scenarios\": Is a directory"},
    {WITH_SEND("{\"content_file\":\"" HELLO "/x\"}"),
     "$.steps[0].send.content_file: cannot open \"" HELLO "/x\": Not a directory"},
    /* the rules that need the file's length: the body read is freed again */
    {WITH_SEND("{\"content_file\":\"" HELLO "\",\"abort_after\":14}"),
     "$.steps[0].send.abort_after: expected an integer <= the length of content_file (13), got 14"},
    {WITH_SEND("{\"content_file\":\"" HELLO "\",\"interrupt_after\":13}"),
     "$.steps[0].send.interrupt_after: expected an integer < the length of content_file (13), "
     "got 13"},
    /* a problem after a step that read its file: that body is freed too */
    {WITH_STEPS("[{\"send\":{\"content_file\":\"" HELLO "\"}},{\"send\":{\"content_file\":\"" HELLO
                "\"}},{\"pause\":0}]"),
     "$.steps[2].pause: expected a number of seconds > 0, got 0"},
    /* the rules that need no file come before it is read */
    {WITH_SEND("{\"content_file\":\"tests/scenarios/data/no-such.bin\",\"overlap\":10}"),
     "$.steps[0].send.overlap: " OVERLAP_ONLY},

    /* expect */
    {WITH_EXPECT("200"), "$.steps[1].expect: expected an object, got 200"},
    {WITH_EXPECT("{\"code\":200}"),
     "$.steps[1].expect: unknown key \"code\"; allowed keys: \"status\", \"report\", "
     "\"timeout\", \"answered\""},
    {WITH_EXPECT("{\"status\":99}"), "$.steps[1].expect.status: " STATUS_WHAT "99"},
    {WITH_EXPECT("{\"status\":1000}"), "$.steps[1].expect.status: " STATUS_WHAT "1000"},
    {WITH_EXPECT("{\"status\":\"200\"}"), "$.steps[1].expect.status: " STATUS_WHAT "a string"},
    {WITH_EXPECT("{\"status\":[]}"), "$.steps[1].expect.status: " STATUS_WHAT "an empty array"},
    {WITH_EXPECT("{\"status\":[200,1000]}"),
     "$.steps[1].expect.status[1]: expected an integer 100..999, got 1000"},
    {WITH_EXPECT("{\"status\":[200,\"408\"]}"),
     "$.steps[1].expect.status[1]: expected an integer 100..999, got a string"},
    {WITH_EXPECT("{\"status\":[200,201,202,203,204,205,206,207,208]}"),
     "$.steps[1].expect.status: " STATUS_WHAT "an array of 9"},
    {WITH_EXPECT("{\"report\":99}"),
     "$.steps[1].expect.report: expected an integer 100..999 or null, got 99"},
    {WITH_EXPECT("{\"report\":\"200\"}"),
     "$.steps[1].expect.report: expected an integer 100..999 or null, got a string"},
    {WITH_EXPECT("{\"report\":false}"),
     "$.steps[1].expect.report: expected an integer 100..999 or null, got false"},
    {WITH_EXPECT("{\"timeout\":0}"),
     "$.steps[1].expect.timeout: expected a number of seconds > 0, got 0"},
    {WITH_EXPECT("{\"timeout\":-1}"),
     "$.steps[1].expect.timeout: expected a number of seconds > 0, got -1"},
    {WITH_EXPECT("{\"timeout\":1e-10}"),
     "$.steps[1].expect.timeout: expected a number of seconds >= 0.000000001, got 1e-10"},
    {WITH_EXPECT("{\"timeout\":null}"),
     "$.steps[1].expect.timeout: expected a number of seconds > 0, got null"},
    {WITH_EXPECT("{\"answered\":\"yes\"}"),
     "$.steps[1].expect.answered: expected true or false, got a string"},
    {WITH_EXPECT("{\"answered\":0}"), "$.steps[1].expect.answered: expected true or false, got 0"},
    {WITH_EXPECT("{\"answered\":null}"),
     "$.steps[1].expect.answered: expected true or false, got null"},
    {WITH_EXPECT("{\"answered\":{}}"),
     "$.steps[1].expect.answered: expected true or false, got an empty object"},

    /* raw */
    {WITH_RAW("\"x\""), "$.steps[0].raw: expected an object, got a string"},
    {WITH_RAW("{}"), "$.steps[0].raw: required key \"template\" missing"},
    {WITH_RAW("{\"template\":\"x\",\"tid\":\"abcd\"}"),
     "$.steps[0].raw: unknown key \"tid\"; allowed keys: \"template\", \"expect\", \"status\", "
     "\"timeout\""},
    {WITH_RAW("{\"template\":5}"), "$.steps[0].raw.template: expected a non-empty string, got 5"},
    {WITH_RAW("{\"template\":[\"MSRP\"]}"),
     "$.steps[0].raw.template: expected a non-empty string, got an array"},
    {WITH_RAW("{\"template\":\"\"}"),
     "$.steps[0].raw.template: expected a non-empty string, got \"\""},
    {WITH_RAW("{\"template\":\"MSRP {tdi} SEND\"}"),
     "$.steps[0].raw.template: unknown placeholder \"{tdi}\"" KNOWN},
    {WITH_RAW("{\"template\":\"{TID}\"}"),
     "$.steps[0].raw.template: unknown placeholder \"{TID}\"" KNOWN},
    {WITH_RAW("{\"template\":\"{}\"}"),
     "$.steps[0].raw.template: unknown placeholder \"{}\"" KNOWN},
    {WITH_RAW("{\"template\":\"{a\\nb}\"}"),
     "$.steps[0].raw.template: unknown placeholder \"{a\\nb}\"" KNOWN},
    /* a body with JSON in it whose braces were not doubled */
    {WITH_RAW("{\"template\":\"\\r\\n{\\\"a\\\":1}\"}"),
     "$.steps[0].raw.template: unknown placeholder \"{\\\"a\\\":1}\"" KNOWN},
    {WITH_RAW("{\"template\":\"{" R64("x") "}\"}"),
     "$.steps[0].raw.template: unknown placeholder of 66 bytes" KNOWN},
    {WITH_RAW("{\"template\":\"MSRP {tid SEND\"}"),
     "$.steps[0].raw.template: \"{\" at character 6 opens no placeholder" BRACES},
    {WITH_RAW("{\"template\":\"{{{\"}"),
     "$.steps[0].raw.template: \"{\" at character 3 opens no placeholder" BRACES},
    {WITH_RAW("{\"template\":\"a}b\"}"),
     "$.steps[0].raw.template: \"}\" at character 2 closes no placeholder" BRACES},
    {WITH_RAW("{\"template\":\"{tid}}}}\"}"),
     "$.steps[0].raw.template: \"}\" at character 8 closes no placeholder" BRACES},
    {WITH_RAW("{\"template\":\"ab\\u0100\"}"),
     "$.steps[0].raw.template: " ONE_BYTE "U+0100 at character 3"},
    {WITH_RAW("{\"template\":\"\\u00ff\\u20ac\"}"),
     "$.steps[0].raw.template: " ONE_BYTE "U+20AC at character 2"},
    {WITH_RAW("{\"template\":\"x\xe2\x82\xac\"}"),
     "$.steps[0].raw.template: " ONE_BYTE "U+20AC at character 2"},
    {WITH_RAW("{\"template\":\"\\ud83d\\ude00\"}"),
     "$.steps[0].raw.template: " ONE_BYTE "U+1F600 at character 1"},
    {WITH_RAW("{\"template\":\"" R256(R256("a")) "b\"}"),
     "$.steps[0].raw.template: expected at most 65536 bytes once expanded, got 65537"},
    {WITH_RAW("{\"template\":\"" R128("{to_path}") "{local_uri}\"}"),
     "$.steps[0].raw.template: expected at most 65536 bytes once expanded, got up to 65919 "
     "({to_path}, {from_path} and {local_uri} counted as 511 bytes each)"},
    {WITH_RAW("{\"template\":\"" R256(R255("a")) R128("a") R64("a") R32("a") R16("a")
                  R4("a") "a{tid}\"}"),
     "$.steps[0].raw.template: expected at most 65536 bytes once expanded, got 65537"},
    {WITH_RAW("{\"template\":\"x\",\"expect\":\"maybe\"}"),
     "$.steps[0].raw.expect: expected one of \"response\", \"none\", \"close\", got \"maybe\""},
    {WITH_RAW("{\"template\":\"x\",\"expect\":null}"),
     "$.steps[0].raw.expect: expected one of \"response\", \"none\", \"close\", got null"},
    {WITH_RAW("{\"template\":\"x\",\"status\":99}"), "$.steps[0].raw.status: " STATUS_WHAT "99"},
    {WITH_RAW("{\"template\":\"x\",\"status\":[200,1000]}"),
     "$.steps[0].raw.status[1]: expected an integer 100..999, got 1000"},
    {WITH_RAW("{\"template\":\"x\",\"expect\":\"none\",\"status\":200}"),
     "$.steps[0].raw.status: \"status\" is only allowed when expect is \"response\""},
    {WITH_RAW("{\"template\":\"x\",\"status\":[200],\"expect\":\"close\"}"),
     "$.steps[0].raw.status: \"status\" is only allowed when expect is \"response\""},
    {WITH_RAW("{\"template\":\"x\",\"timeout\":0}"),
     "$.steps[0].raw.timeout: expected a number of seconds > 0, got 0"},
    {WITH_RAW("{\"template\":\"x\",\"timeout\":\"1\"}"),
     "$.steps[0].raw.timeout: expected a number of seconds > 0, got a string"},
    /* a raw step is no send: an expect after it has nothing to check */
    {WITH_STEPS("[{\"send\":{}},{\"raw\":{\"template\":\"x\"}},{\"expect\":{}}]"),
     "$.steps[2]: " EXPECT_PLACE},
    /* a problem after compiled templates: they are freed (ASan checks) */
    {WITH_STEPS("[{\"raw\":{\"template\":\"{tid}x\"}},{\"repeat\":{\"times\":1,\"steps\":"
                "[{\"raw\":{\"template\":\"y\"}},{\"pause\":0}]}}]"),
     "$.steps[1].repeat.steps[1].pause: expected a number of seconds > 0, got 0"},
    /* \u0000 is a byte for raw templates only: elsewhere it would cut a string short */
    {"{\"name\":\"n\",\"description\":\"a\\u0000b\"," STEPS "}",
     "$.description: expected a string, got \"a\\u0000b\""},
    {"{\"name\":\"n\\u0000\"," STEPS "}", "$.name: " NAME_WHAT "\"n\\u0000\""},
    {WITH_SEND("{\"content_type\":\"text/plain\\u0000x\"}"),
     "$.steps[0].send.content_type: expected a media type such as \"text/plain\", got "
     "\"text/plain\\u0000x\""},
    {WITH_SEND("{\"content_file\":\"" HELLO "\\u0000x\"}"),
     "$.steps[0].send.content_file: expected a file path, got \"" HELLO "\\u0000x\""},
    {"{\"name\":\"n\",\"a\\u0000b\":1," STEPS "}",
     "line 1 column 22: NUL byte in object key not supported near '\"a\\u0000b\"'"},

    /* pause */
    {WITH_STEPS("[{\"pause\":0}]"), "$.steps[0].pause: expected a number of seconds > 0, got 0"},
    {WITH_STEPS("[{\"pause\":\"1s\"}]"),
     "$.steps[0].pause: expected a number of seconds > 0, got a string"},
    {WITH_STEPS("[{\"pause\":2e9}]"),
     "$.steps[0].pause: expected a number of seconds <= 1000000000, got 2000000000.0"},

    /* repeat */
    {WITH_STEPS("[{\"repeat\":3}]"), "$.steps[0].repeat: expected an object, got 3"},
    {WITH_STEPS("[{\"repeat\":{\"steps\":[{\"send\":{}}]}}]"),
     "$.steps[0].repeat: required key \"times\" missing"},
    {WITH_STEPS("[{\"repeat\":{\"times\":1}}]"),
     "$.steps[0].repeat: required key \"steps\" missing"},
    {WITH_STEPS("[{\"repeat\":{\"count\":1,\"times\":1,\"steps\":[{\"send\":{}}]}}]"),
     "$.steps[0].repeat: unknown key \"count\"; allowed keys: \"times\", \"steps\""},
    {WITH_STEPS("[{\"repeat\":{\"times\":-1,\"steps\":[{\"send\":{}}]}}]"),
     "$.steps[0].repeat.times: expected an integer 0..4294967295, got -1"},
    {WITH_STEPS("[{\"repeat\":{\"times\":1.5,\"steps\":[{\"send\":{}}]}}]"),
     "$.steps[0].repeat.times: expected an integer 0..4294967295, got 1.5"},
    {WITH_STEPS("[{\"repeat\":{\"times\":0,\"steps\":[]}}]"),
     "$.steps[0].repeat.steps: expected a non-empty array of steps, got an empty array"},
    {WITH_STEPS("[{\"repeat\":{\"times\":0,\"steps\":{}}}]"),
     "$.steps[0].repeat.steps: expected a non-empty array of steps, got an empty object"},
    {WITH_STEPS("[{\"repeat\":{\"times\":2,\"steps\":[{\"send\":{}},{\"repeat\":{\"times\":1,"
                "\"steps\":[{\"pause\":-1}]}}]}}]"),
     "$.steps[0].repeat.steps[1].repeat.steps[0].pause: expected a number of seconds > 0, "
     "got -1"},

    /* close */
    {WITH_STEPS("[{\"close\":{\"now\":true}}]"),
     "$.steps[0].close: unknown key \"now\"; this object takes no keys"},
    {WITH_STEPS("[{\"close\":true}]"), "$.steps[0].close: expected an empty object, got true"},

    /* the step limit: 256 compiled steps, a repeat taking two */
    {WITH_STEPS("[" PAUSES(R256) "{\"pause\":1}]"), "$.steps[256]: " TOO_MANY},
    {WITH_STEPS("[" PAUSES(R255) "{\"repeat\":{\"times\":1,\"steps\":[{\"close\":{}}]}}]"),
     "$.steps[255]: " TOO_MANY},
    {WITH_STEPS("[" PAUSES(R128) PAUSES(R64) PAUSES(R32) PAUSES(R16) PAUSES(R8) PAUSES(R4)
                    PAUSES(R2) "{\"repeat\":{\"times\":1,\"steps\":[{\"close\":{}}]}}]"),
     "$.steps[254].repeat.steps[0]: " TOO_MANY},

    /* answer */
    {WITH_ANSWER("200"), "$.answer: expected an object, got 200"},
    {WITH_ANSWER("{\"code\":200}"),
     "$.answer: unknown key \"code\"; allowed keys: \"status\", \"accept_types\", "
     "\"max_message\", \"delay\", \"drop\", \"reject_after_bytes\", \"check_sha256\", "
     "\"accept_wrapped_types\""},
    {WITH_ANSWER("{\"status\":199}"), "$.answer.status: expected an integer 200..999, got 199"},
    {WITH_ANSWER("{\"status\":1000}"), "$.answer.status: expected an integer 200..999, got 1000"},
    {WITH_ANSWER("{\"accept_types\":\"\"}"), "$.answer.accept_types: " ACCEPT_WHAT "\"\""},
    {WITH_ANSWER("{\"accept_types\":\"   \"}"), "$.answer.accept_types: " ACCEPT_WHAT "\"   \""},
    {WITH_ANSWER("{\"accept_types\":\"text\"}"), "$.answer.accept_types: " ACCEPT_WHAT "\"text\""},
    {WITH_ANSWER("{\"accept_types\":\"*/*\"}"), "$.answer.accept_types: " ACCEPT_WHAT "\"*/*\""},
    {WITH_ANSWER("{\"accept_types\":\"text/plain;charset=utf-8\"}"),
     "$.answer.accept_types: " ACCEPT_WHAT "\"text/plain;charset=utf-8\""},
    {WITH_ANSWER("{\"accept_types\":[\"text/plain\"]}"),
     "$.answer.accept_types: " ACCEPT_WHAT "an array"},
    {WITH_ANSWER("{\"accept_types\":\"text/" R128("a") R64("a") R32("a") R16("a") R8("a")
                     R2("a") "a\"}"),
     "$.answer.accept_types: expected a string of at most 255 bytes, got a string of 256 bytes"},
    {WITH_ANSWER("{\"max_message\":0}"), "$.answer.max_message: expected an integer >= 1, got 0"},
    {WITH_ANSWER("{\"delay\":-1}"), "$.answer.delay: " DELAY_WHAT "-1"},
    {WITH_ANSWER("{\"delay\":-0.5}"), "$.answer.delay: " DELAY_WHAT "-0.5"},
    {WITH_ANSWER("{\"delay\":\"1\"}"), "$.answer.delay: " DELAY_WHAT "a string"},
    {WITH_ANSWER("{\"delay\":[0,1]}"), "$.answer.delay: " DELAY_WHAT "an array"},
    {WITH_ANSWER("{\"delay\":true}"), "$.answer.delay: " DELAY_WHAT "true"},
    {WITH_ANSWER("{\"delay\":2e9}"),
     "$.answer.delay: expected a number of seconds <= 1000000000, got 2000000000.0"},
    {WITH_ANSWER("{\"delay\":{}}"), "$.answer.delay: required key \"min\" missing"},
    {WITH_ANSWER("{\"delay\":{\"min\":1}}"), "$.answer.delay: required key \"max\" missing"},
    {WITH_ANSWER("{\"delay\":{\"max\":1}}"), "$.answer.delay: required key \"min\" missing"},
    {WITH_ANSWER("{\"delay\":{\"min\":0,\"max\":1,\"mean\":0.5}}"),
     "$.answer.delay: unknown key \"mean\"; allowed keys: \"min\", \"max\""},
    {WITH_ANSWER("{\"delay\":{\"min\":-1,\"max\":1}}"),
     "$.answer.delay.min: expected a number of seconds >= 0, got -1"},
    {WITH_ANSWER("{\"delay\":{\"min\":0,\"max\":\"1\"}}"),
     "$.answer.delay.max: expected a number of seconds >= 0, got a string"},
    {WITH_ANSWER("{\"delay\":{\"min\":0,\"max\":1e10}}"),
     "$.answer.delay.max: expected a number of seconds <= 1000000000, got 10000000000.0"},
    {WITH_ANSWER("{\"delay\":{\"min\":0.5,\"max\":0.2}}"),
     "$.answer.delay.max: expected a number of seconds >= min (0.5), got 0.2"},
    {WITH_ANSWER("{\"delay\":{\"min\":2,\"max\":1}}"),
     "$.answer.delay.max: expected a number of seconds >= min (2), got 1"},
    {WITH_ANSWER("{\"drop\":1.5}"), "$.answer.drop: expected a number 0..1, got 1.5"},
    {WITH_ANSWER("{\"drop\":2}"), "$.answer.drop: expected a number 0..1, got 2"},
    {WITH_ANSWER("{\"drop\":-0.1}"), "$.answer.drop: expected a number 0..1, got -0.1"},
    {WITH_ANSWER("{\"drop\":\"0.5\"}"), "$.answer.drop: expected a number 0..1, got a string"},
    {WITH_ANSWER("{\"drop\":null}"), "$.answer.drop: expected a number 0..1, got null"},
    {WITH_ANSWER("{\"reject_after_bytes\":0}"),
     "$.answer.reject_after_bytes: expected an integer >= 1, got 0"},
    {WITH_ANSWER("{\"reject_after_bytes\":1.5}"),
     "$.answer.reject_after_bytes: expected an integer >= 1, got 1.5"},
    {WITH_ANSWER("{\"reject_after_bytes\":\"1k\"}"),
     "$.answer.reject_after_bytes: expected an integer >= 1, got a string"},
};

START_TEST(test_invalid)
{
    const struct bad_case *bc = &bad_cases[_i];
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP], want[ERR_CAP];
    ck_assert_ptr_nonnull(sc);
    int rc = scenario_parse("t.json", bc->json, strlen(bc->json), sc, err, sizeof err);
    ck_assert_msg(rc == -1, "case %d loaded: %s", _i, bc->json);
    snprintf(want, sizeof want, "t.json: %s", bc->msg);
    ck_assert_msg(strcmp(err, want) == 0, "case %d:\n got: %s\nwant: %s", _i, err, want);
    /* A failed load leaves nothing to free and nothing half-filled. */
    ck_assert_ptr_null(sc->text);
    ck_assert_uint_eq(sc->num_steps, 0);
    ck_assert_str_eq(sc->name, "");
    scenario_free(sc);
    free(sc);
}
END_TEST

/* ---- Limits ---- */

/* Builds {"name":"n","steps":[ depth nested repeats around one pause ]}. */
static char *nested_repeats(int depth)
{
    static const char open[] = "{\"repeat\":{\"times\":1,\"steps\":[";
    static const char close[] = "]}}";
    static const char inner[] = "{\"pause\":1}";
    size_t cap = 64 + (size_t)depth * (sizeof open + sizeof close) + sizeof inner;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    size_t o = (size_t)snprintf(s, cap, "{\"name\":\"n\",\"steps\":[");
    for (int i = 0; i < depth; i++)
        o += (size_t)snprintf(s + o, cap - o, "%s", open);
    o += (size_t)snprintf(s + o, cap - o, "%s", inner);
    for (int i = 0; i < depth; i++)
        o += (size_t)snprintf(s + o, cap - o, "%s", close);
    snprintf(s + o, cap - o, "]}");
    return s;
}

/* 127 nested repeats and a pause make 255 steps; BEGINs and ENDs pair up inside out. */
START_TEST(test_deep_nesting_fits)
{
    char *text = nested_repeats(127);
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP];
    ck_assert_ptr_nonnull(sc);
    ck_assert_msg(scenario_parse("deep.json", text, strlen(text), sc, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_uint_eq(sc->num_steps, 255);
    for (unsigned i = 0; i < 127; i++)
        assert_repeat(sc, i, 254 - i, 1);
    ck_assert_int_eq(sc->steps[127].kind, SCN_STEP_PAUSE);
    unload(sc);
    free(text);
}
END_TEST

/* 128 nested repeats fill the array with BEGINs and ENDs: the pause inside has no room. */
START_TEST(test_deep_nesting_overflows)
{
    char *text = nested_repeats(128);
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[8192]; /* the path alone is over 2000 bytes */
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(scenario_parse("deep.json", text, strlen(text), sc, err, sizeof err), -1);
    /* The innermost place: the pause inside the 128th repeat. */
    char want[8192];
    size_t o = (size_t)snprintf(want, sizeof want, "deep.json: $.steps[0]");
    for (int i = 0; i < 128; i++)
        o += (size_t)snprintf(want + o, sizeof want - o, ".repeat.steps[0]");
    snprintf(want + o, sizeof want - o, ": " TOO_MANY);
    ck_assert_str_eq(err, want);
    unload(sc);
    free(text);
}
END_TEST

/* Exactly 256 compiled steps load. */
START_TEST(test_max_steps_fit)
{
    static const char text[] =
        WITH_STEPS("[" PAUSES(R128) PAUSES(R64) PAUSES(R32) PAUSES(R16) PAUSES(R8)
                       PAUSES(R4) "{\"pause\":1},"
                                  "{\"repeat\":{\"times\":1,\"steps\":[{\"close\":{}}]}}]");
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP];
    ck_assert_ptr_nonnull(sc);
    ck_assert_msg(scenario_parse("max.json", text, sizeof text - 1, sc, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_uint_eq(sc->num_steps, SCENARIO_MAX_STEPS);
    assert_repeat(sc, 253, 255, 1);
    unload(sc);
}
END_TEST

/* A template that fills exactly 64 KiB once expanded loads; every byte value comes through. */
START_TEST(test_raw_at_limit)
{
    static const char text[] = WITH_RAW("{\"template\":\"" R256(R255("a")) R128("a") R64("a")
                                            R32("a") R16("a") R4("a") "{tid}\"}");
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP];
    ck_assert_ptr_nonnull(sc);
    ck_assert_msg(scenario_parse("raw.json", text, sizeof text - 1, sc, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_uint_eq(sc->steps[0].u.raw.max_len, SCENARIO_RAW_MAX);
    ck_assert_uint_eq(sc->steps[0].u.raw.text_len, SCENARIO_RAW_MAX - SCENARIO_RAW_TID_LEN);
    unload(sc);

    /* \u0000..\u00ff, each the byte of its value, 256 of them in one template; a brace is a
     * brace however it is written, so \u007b and \u007d are doubled like { and } */
    char json[258 * 6 + 128];
    size_t o =
        (size_t)snprintf(json, sizeof json, "{\"name\":\"n\",\"steps\":[{\"raw\":{\"template\":\"");
    for (int b = 0; b < 256; b++)
        o += (size_t)snprintf(json + o, sizeof json - o,
                              b == '{' || b == '}' ? "\\u%04x\\u%04x" : "\\u%04x", b, b);
    o += (size_t)snprintf(json + o, sizeof json - o, "\"}}]}");
    sc = calloc(1, sizeof *sc);
    ck_assert_ptr_nonnull(sc);
    ck_assert_msg(scenario_parse("bytes.json", json, o, sc, err, sizeof err) == 0, "%s", err);
    const struct step_raw *r = &sc->steps[0].u.raw;
    ck_assert_uint_eq(r->num_pieces, 1);
    ck_assert_uint_eq(r->text_len, 256);
    for (int b = 0; b < 256; b++)
        ck_assert_int_eq((unsigned char)r->text[b], b);
    /* scenario_free lets go of the template, and a second call finds nothing to free */
    scenario_free(sc);
    ck_assert_ptr_null(sc->steps[0].u.raw.pieces);
    ck_assert_ptr_null(sc->steps[0].u.raw.text);
    unload(sc);
}
END_TEST

/* The message is cut to the buffer, NUL-terminated, and a zero-sized buffer is left alone. */
START_TEST(test_small_error_buffer)
{
    static const char text[] = "{}";
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[16];
    ck_assert_ptr_nonnull(sc);
    memset(err, 'x', sizeof err);
    ck_assert_int_eq(scenario_parse("t.json", text, 2, sc, err, 10), -1);
    ck_assert_str_eq(err, "t.json: $");
    ck_assert_int_eq(err[10], 'x');
    ck_assert_int_eq(scenario_parse("t.json", text, 2, sc, NULL, 0), -1);
    ck_assert_int_eq(scenario_load("tests/scenarios/none.json", sc, NULL, 0), -1);
    free(sc);
}
END_TEST

/* Text without a NUL after it: the loader must go by the length alone. */
START_TEST(test_parse_by_length)
{
    static const char text[] = "{\"name\":\"n\",\"steps\":[{\"close\":{}}]}garbage";
    size_t len = strlen("{\"name\":\"n\",\"steps\":[{\"close\":{}}]}");
    char *copy = guarded_copy(text, len);
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP];
    ck_assert_ptr_nonnull(sc);
    ck_assert_msg(scenario_parse("g.json", copy, len, sc, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(sc->text_len, len);
    ck_assert_str_eq(sc->text, "{\"name\":\"n\",\"steps\":[{\"close\":{}}]}");
    unload(sc);
    guarded_free(copy, len);
}
END_TEST

/* scenario_free is harmless on a zeroed struct and twice in a row. */
START_TEST(test_free_zeroed)
{
    struct scenario *sc = calloc(1, sizeof *sc);
    ck_assert_ptr_nonnull(sc);
    scenario_free(sc);
    scenario_free(sc);
    scenario_free(NULL);
    free(sc);
}
END_TEST

/* ---- Files ---- */

START_TEST(test_missing_file)
{
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP];
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(scenario_load("tests/scenarios/no-such.json", sc, err, sizeof err), -1);
    ck_assert_str_eq(err, "tests/scenarios/no-such.json: cannot open: No such file or directory");
    ck_assert_ptr_null(sc->text);
    free(sc);
}
END_TEST

START_TEST(test_directory)
{
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP];
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(scenario_load("tests/scenarios", sc, err, sizeof err), -1);
    ck_assert_str_eq(err, "tests/scenarios: cannot read: Is a directory");
    free(sc);
}
END_TEST

static const struct bad_file {
    const char *path;
    const char *msg;
} bad_files[] = {
    {"tests/scenarios/invalid/trailing_comma.json",
     "tests/scenarios/invalid/trailing_comma.json: line 3 column 30: unexpected token near ']'"},
    {"tests/scenarios/invalid/duplicate_key.json",
     "tests/scenarios/invalid/duplicate_key.json: line 4 column 22: duplicate object key near "
     "'\"sessions\"'"},
    {"tests/scenarios/invalid/bad_report.json",
     "tests/scenarios/invalid/bad_report.json: $.steps[1].send.failure_report: expected one of "
     "\"yes\", \"no\", \"partial\", \"absent\", got \"sometimes\""},
};

START_TEST(test_invalid_file)
{
    const struct bad_file *bf = &bad_files[_i];
    struct scenario *sc = calloc(1, sizeof *sc);
    char err[ERR_CAP];
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(scenario_load(bf->path, sc, err, sizeof err), -1);
    ck_assert_str_eq(err, bf->msg);
    free(sc);
}
END_TEST

/* The README's example, value by value. */
START_TEST(test_quickstart)
{
    static const int st200[] = {200};
    struct scenario *sc = load_ok("scenarios/quickstart.json");
    ck_assert_str_eq(sc->name, "quickstart");
    ck_assert_str_eq(sc->description,
                     "100 sessions on loopback, each sending 100-byte messages, 4 in flight");
    ck_assert_uint_eq(sc->threads, expected_threads());
    ck_assert_uint_eq(sc->sessions, 100);
    ck_assert_uint_eq(sc->concurrency, 100);
    ck_assert(sc->duration_s == 10);
    ck_assert(sc->warm_up_s == 1);
    ck_assert(sc->ramp_up_s == 0);
    ck_assert(sc->session_rate == 0);
    ck_assert_int_eq(sc->mode, SCENARIO_CLOSED);
    ck_assert_uint_eq(sc->outstanding, 4);
    assert_default_topology(sc);
    ck_assert_uint_eq(sc->num_steps, 4);
    assert_repeat(sc, 0, 3, 0);
    assert_send(&sc->steps[1], 1, 100, 100, "text/plain", 2048, MSRP_REPORT_YES,
                MSRP_REPORT_ABSENT);
    assert_expect(&sc->steps[2], st200, 1, 0, 30 * NS_PER_S);
    assert_default_answer(sc);
    unload(sc);
}
END_TEST

/* ---- Content files ---- */

/* A temporary file holding len bytes; its path goes to path (at least 64 bytes). */
static void temp_file(char *path, size_t cap, const void *bytes, size_t len)
{
    snprintf(path, cap, "/tmp/msrpload-content-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert(write(fd, bytes, len) == (ssize_t)len);
    ck_assert_int_eq(close(fd), 0);
}

/* A scenario whose steps are the given text, parsed from memory; NULL with err filled. */
static struct scenario *parse_steps(const char *steps, char *err, size_t errlen)
{
    char text[4096];
    snprintf(text, sizeof text, "{\"name\":\"n\",\"steps\":%s}", steps);
    struct scenario *sc = calloc(1, sizeof *sc);
    ck_assert_ptr_nonnull(sc);
    if (scenario_parse("c.json", text, strlen(text), sc, err, errlen) != 0) {
        free(sc);
        return NULL;
    }
    return sc;
}

/* Every byte value, NULs included, comes back as it was in the file, in each step's own copy;
 * the file may go away afterwards. */
START_TEST(test_content_file_bytes)
{
    unsigned char bytes[3000];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(i * 7 + (i >> 8));
    char path[64], steps[512], err[ERR_CAP];
    temp_file(path, sizeof path, bytes, sizeof bytes);
    snprintf(steps, sizeof steps,
             "[{\"send\":{\"content_file\":\"%s\",\"chunk_size\":1000,\"abort_after\":3000,"
             "\"interrupt_after\":2999,\"order\":\"overlapping\"}},"
             "{\"repeat\":{\"times\":2,\"steps\":[{\"send\":{\"content_file\":\"%s\"}}]}}]",
             path, path);
    struct scenario *sc = parse_steps(steps, err, sizeof err);
    ck_assert_msg(sc != NULL, "%s", err);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_uint_eq(sc->num_steps, 4);
    assert_send_base(&sc->steps[0], 1, 3000, 3000, "text/plain", 1000, MSRP_REPORT_ABSENT,
                     MSRP_REPORT_ABSENT);
    assert_send_cut(&sc->steps[0], MSRP_ORDER_OVERLAPPING, 16, false, 2999, 3000);
    assert_content(&sc->steps[0], bytes, sizeof bytes);
    assert_content(&sc->steps[2], bytes, sizeof bytes);
    ck_assert_ptr_ne(sc->steps[0].u.send.content, sc->steps[2].u.send.content);
    /* scenario_free lets go of the bodies, and a second call finds nothing to free */
    scenario_free(sc);
    ck_assert_ptr_null(sc->steps[0].u.send.content);
    ck_assert_uint_eq(sc->steps[0].u.send.content_len, 0);
    ck_assert_ptr_null(sc->steps[2].u.send.content);
    unload(sc);
}
END_TEST

/* An empty file makes empty messages: a body that is there, of no bytes. */
START_TEST(test_content_file_empty)
{
    char path[64], steps[256], err[ERR_CAP];
    temp_file(path, sizeof path, "", 0);
    snprintf(steps, sizeof steps, "[{\"send\":{\"content_file\":\"%s\"}}]", path);
    struct scenario *sc = parse_steps(steps, err, sizeof err);
    unlink(path);
    ck_assert_msg(sc != NULL, "%s", err);
    assert_content(&sc->steps[0], "", 0);
    /* and nothing can be cut from it */
    unload(sc);
    temp_file(path, sizeof path, "", 0);
    snprintf(steps, sizeof steps, "[{\"send\":{\"content_file\":\"%s\",\"abort_after\":1}}]", path);
    ck_assert_ptr_null(parse_steps(steps, err, sizeof err));
    unlink(path);
    ck_assert_str_eq(err, "c.json: $.steps[0].send.abort_after: expected an integer <= the length "
                          "of content_file (0), got 1");
}
END_TEST

/* Not a regular file: read until its end all the same. */
START_TEST(test_content_file_device)
{
    char err[ERR_CAP];
    struct scenario *sc =
        parse_steps("[{\"send\":{\"content_file\":\"/dev/null\"}}]", err, sizeof err);
    ck_assert_msg(sc != NULL, "%s", err);
    assert_content(&sc->steps[0], "", 0);
    unload(sc);
}
END_TEST

/* Above 1 GiB the file is refused before a byte is read (a sparse file costs no disk). */
START_TEST(test_content_file_too_large)
{
    char path[64], steps[256], err[ERR_CAP], want[ERR_CAP];
    temp_file(path, sizeof path, "", 0);
    ck_assert_int_eq(truncate(path, (1ll << 30) + 1), 0);
    snprintf(steps, sizeof steps, "[{\"send\":{\"content_file\":\"%s\"}}]", path);
    ck_assert_ptr_null(parse_steps(steps, err, sizeof err));
    unlink(path);
    snprintf(want, sizeof want,
             "c.json: $.steps[0].send.content_file: cannot read \"%s\": larger than 1073741824 "
             "bytes",
             path);
    ck_assert_str_eq(err, want);
}
END_TEST

/* Writes text to dir/s.json; the path goes to path. */
static void write_scenario(const char *dir, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/s.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
}

/* Through scenario_load from another folder: a relative content_file is found from the current
 * directory, not from the scenario's folder, and one that cannot be opened is named with the
 * reason, after the scenario's own name and the JSON path. */
START_TEST(test_content_file_relative)
{
    char dir[] = "/tmp/msrpload-scenario-XXXXXX", path[128], err[ERR_CAP], want[ERR_CAP];
    ck_assert_ptr_nonnull(mkdtemp(dir));

    write_scenario(dir, "{\"name\":\"n\",\"steps\":[{\"send\":{\"content_file\":\"" HELLO "\"}}]}",
                   path, sizeof path);
    struct scenario *sc = load_ok(path);
    assert_content(&sc->steps[0], "hello, world\n", 13);
    unload(sc);
    unlink(path);

    write_scenario(dir,
                   "{\"name\":\"n\",\"steps\":[{\"pause\":1},{\"send\":"
                   "{\"content_file\":\"no/such/body.bin\"}}]}",
                   path, sizeof path);
    sc = calloc(1, sizeof *sc);
    ck_assert_ptr_nonnull(sc);
    ck_assert_int_eq(scenario_load(path, sc, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s: $.steps[1].send.content_file: cannot open \"no/such/body.bin\": No such file or "
             "directory",
             path);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(sc->text);
    ck_assert_uint_eq(sc->num_steps, 0);
    free(sc);
    unlink(path);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* The shipped scenarios the README's table describes, step by step. */
START_TEST(test_shipped_chunking)
{
    static const int st200[] = {200};
    struct scenario *sc = load_ok("scenarios/chunking.json");
    ck_assert_str_eq(sc->name, "chunking");
    assert_default_topology(sc);
    assert_default_answer(sc);
    ck_assert_uint_eq(sc->num_steps, 6);
    assert_send(&sc->steps[0], 10, 1, 200000, "text/plain", 1000, MSRP_REPORT_YES,
                MSRP_REPORT_ABSENT);
    assert_send_base(&sc->steps[2], 5, 10000, 10000, "text/plain", 1000, MSRP_REPORT_YES,
                     MSRP_REPORT_ABSENT);
    assert_send_cut(&sc->steps[2], MSRP_ORDER_IN_ORDER, 0, false, 2500, 0);
    assert_send_base(&sc->steps[4], 5, 10000, 10000, "text/plain", 1000, MSRP_REPORT_YES,
                     MSRP_REPORT_ABSENT);
    assert_send_cut(&sc->steps[4], MSRP_ORDER_IN_ORDER, 0, false, 0, 4500);
    for (unsigned i = 1; i < 6; i += 2)
        assert_expect(&sc->steps[i], st200, 1, 0, 30 * NS_PER_S);
    unload(sc);
}
END_TEST

START_TEST(test_shipped_byte_range)
{
    static const int st200[] = {200};
    static const enum msrp_chunk_order orders[] = {MSRP_ORDER_IN_ORDER, MSRP_ORDER_REVERSE, MSRP_ORDER_SHUFFLED,
                                             MSRP_ORDER_OVERLAPPING};
    struct scenario *sc = load_ok("scenarios/byte-range.json");
    ck_assert_str_eq(sc->name, "byte-range");
    assert_default_answer(sc);
    ck_assert_uint_eq(sc->num_steps, 8);
    for (unsigned i = 0; i < 4; i++) {
        const struct step *st = &sc->steps[2 * i];
        assert_send_base(st, 3, 20000, 20000, "text/plain", 1000, MSRP_REPORT_ABSENT,
                         MSRP_REPORT_YES);
        assert_send_cut(st, orders[i], i == 3 ? 100 : 0, i == 0, 0, 0);
        assert_no_content(st);
        assert_expect(&sc->steps[2 * i + 1], st200, 1, 200, 5 * NS_PER_S);
    }
    unload(sc);
}
END_TEST

START_TEST(test_shipped_failure_report_timeouts)
{
    static const int st200[] = {200}, st408[] = {408};
    static const enum msrp_report fr[] = {MSRP_REPORT_YES, MSRP_REPORT_PARTIAL, MSRP_REPORT_NO,
                                          MSRP_REPORT_YES};
    struct scenario *sc = load_ok("scenarios/failure-report-timeouts.json");
    ck_assert_str_eq(sc->name, "failure-report-timeouts");
    ck_assert_uint_eq(sc->num_steps, 8);
    for (unsigned i = 0; i < 4; i++)
        assert_send(&sc->steps[2 * i], 1, 100, 100, "text/plain", 2048, fr[i], MSRP_REPORT_ABSENT);
    /* every timeout but the last is shorter than the answers' delay */
    assert_expect_answered(&sc->steps[1], st408, 1, 0, 100000000ull, 0);
    assert_expect_answered(&sc->steps[3], st200, 1, 0, 100000000ull, 0);
    assert_expect_answered(&sc->steps[5], st200, 1, 0, 100000000ull, 0);
    assert_expect_answered(&sc->steps[7], st200, 1, 0, 5 * NS_PER_S, 1);
    ck_assert_uint_eq(sc->answer_delay_min_ns, 300000000ull);
    ck_assert_uint_eq(sc->answer_delay_max_ns, 300000000ull);
    ck_assert(sc->answer_drop == 0);
    ck_assert_uint_eq(sc->answer_reject_after, 0);
    ck_assert_int_eq(sc->answer_status, 200);
    unload(sc);
}
END_TEST

START_TEST(test_relay_user_pattern)
{
    char out[64];
    bool pattern = true;
    ck_assert(scenario_relay_user_ok("alice", &pattern));
    ck_assert(!pattern);
    scenario_relay_user_format("alice", 7, out, sizeof(out));
    ck_assert_str_eq(out, "alice");
    ck_assert(scenario_relay_user_ok("load%04d", &pattern));
    ck_assert(pattern);
    scenario_relay_user_format("load%04d", 7, out, sizeof(out));
    ck_assert_str_eq(out, "load0007");
    scenario_relay_user_format("load%04d", 123456, out, sizeof(out));
    ck_assert_str_eq(out, "load123456");
    scenario_relay_user_format("u%d@x", 42, out, sizeof(out));
    ck_assert_str_eq(out, "u42@x");
    scenario_relay_user_format("%3u-%%", 5, out, sizeof(out));
    ck_assert_str_eq(out, "  5-%");
    scenario_relay_user_format("load%04d", 7, out, 5); /* truncated, still terminated */
    ck_assert_str_eq(out, "load");
    ck_assert(scenario_relay_user_ok("100%%", &pattern));
    ck_assert(!pattern);
    static const char *const bad[] = {"", "a b", "a\"b", "a\\b", "u%s", "u%d%d", "u%", "u%-4d",
                                      "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!scenario_relay_user_ok(bad[i], NULL), "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_shipped_relay_auth)
{
    struct scenario *sc = load_ok("scenarios/relay-auth.json");
    ck_assert_str_eq(sc->name, "relay-auth");
    ck_assert_int_eq(sc->topology, SCENARIO_RELAY);
    ck_assert(!sc->tls);
    ck_assert_str_eq(sc->relay.uri, ""); /* given with --relay */
    ck_assert_str_eq(sc->relay.user, "load%04d");
    ck_assert_uint_eq(sc->relay.users, 100);
    ck_assert_uint_eq(sc->relay.expires, 0);
    ck_assert_uint_eq(sc->sessions, 20);
    static const int st200[] = {200};
    ck_assert_uint_eq(sc->num_steps, 4);
    assert_send(&sc->steps[1], 1, 30000, 30000, "text/plain", 4096, MSRP_REPORT_YES,
                MSRP_REPORT_YES);
    assert_expect(&sc->steps[2], st200, 1, 200, 30 * NS_PER_S);
    unload(sc);
}
END_TEST

START_TEST(test_shipped_raw_malformed)
{
    static const int st200[] = {200}, st400[] = {400}, st501[] = {501}, st481[] = {481};
    struct scenario *sc = load_ok("scenarios/raw-malformed.json");
    ck_assert_str_eq(sc->name, "raw-malformed");
    assert_default_topology(sc);
    assert_default_answer(sc);
    ck_assert_uint_eq(sc->num_steps, 10);
    assert_send(&sc->steps[0], 1, 100, 100, "text/plain", 2048, MSRP_REPORT_YES,
                MSRP_REPORT_ABSENT);
    assert_expect(&sc->steps[1], st200, 1, 0, 30 * NS_PER_S);
    static const struct {
        unsigned step;
        enum raw_expect expect;
        const int *statuses;
        unsigned n;
        uint64_t timeout_ns;
        const char *has; /* bytes the template holds */
    } raws[] = {
        {2, RAW_EXPECT_RESPONSE, st200, 1, 5 * NS_PER_S, "\r\n\r\n\0\x7f\x80\xff\r\n-------"},
        {3, RAW_EXPECT_RESPONSE, st400, 1, 5 * NS_PER_S, "Byte-Range: 1-x/5\r\n"},
        {4, RAW_EXPECT_RESPONSE, st501, 1, 5 * NS_PER_S, " FROB\r\n"},
        {5, RAW_EXPECT_RESPONSE, st481, 1, 5 * NS_PER_S, "To-Path: msrp://127.0.0.1:9/nobody;tcp"},
        {6, RAW_EXPECT_NONE, NULL, 0, 300000000ull, "Failure-Report: no\r\n"},
        {9, RAW_EXPECT_CLOSE, NULL, 0, 2 * NS_PER_S, "HELLO\r\n"},
    };
    for (unsigned i = 0; i < N_ELEMS(raws); i++) {
        const struct step *st = &sc->steps[raws[i].step];
        ck_assert_int_eq(st->kind, SCN_STEP_RAW);
        ck_assert_int_eq(st->u.raw.expect, raws[i].expect);
        ck_assert_uint_eq(st->u.raw.num_statuses, raws[i].n);
        for (unsigned k = 0; k < raws[i].n; k++)
            ck_assert_int_eq(st->u.raw.statuses[k], raws[i].statuses[k]);
        ck_assert_uint_eq(st->u.raw.timeout_ns, raws[i].timeout_ns);
        size_t n = strlen(raws[i].has) + (i == 0 ? 9 : 0); /* the first holds a NUL */
        ck_assert_msg(memmem(st->u.raw.text, st->u.raw.text_len, raws[i].has, n) != NULL, "step %u",
                      raws[i].step);
    }
    assert_send(&sc->steps[7], 1, 100, 100, "text/plain", 2048, MSRP_REPORT_YES,
                MSRP_REPORT_ABSENT);
    assert_expect(&sc->steps[8], st200, 1, 0, 30 * NS_PER_S);
    unload(sc);
}
END_TEST

/* Whatever ships under scenarios/ must load: a broken example is a bug. */
START_TEST(test_shipped_scenarios)
{
    DIR *d = opendir("scenarios");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int loaded = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "scenarios/%s", e->d_name);
        unload(load_ok(path));
        loaded++;
    }
    closedir(d);
    ck_assert_int_ge(loaded, 1);
}
END_TEST

Suite *make_scenario_suite(void)
{
    Suite *s = suite_create("scenario");

    TCase *tc = tcase_create("Valid");
    tcase_add_loop_test(tc, test_valid_file, 0, N_ELEMS(valid_files));
    tcase_add_test(tc, test_valid_folder_covered);
    suite_add_tcase(s, tc);

    tc = tcase_create("Invalid");
    tcase_add_loop_test(tc, test_invalid, 0, N_ELEMS(bad_cases));
    suite_add_tcase(s, tc);

    tc = tcase_create("Limits");
    tcase_add_test(tc, test_deep_nesting_fits);
    tcase_add_test(tc, test_deep_nesting_overflows);
    tcase_add_test(tc, test_max_steps_fit);
    tcase_add_test(tc, test_raw_at_limit);
    tcase_add_test(tc, test_small_error_buffer);
    tcase_add_test(tc, test_parse_by_length);
    tcase_add_test(tc, test_free_zeroed);
    suite_add_tcase(s, tc);

    tc = tcase_create("Content");
    tcase_add_test(tc, test_content_file_bytes);
    tcase_add_test(tc, test_content_file_empty);
    tcase_add_test(tc, test_content_file_device);
    tcase_add_test(tc, test_content_file_too_large);
    tcase_add_test(tc, test_content_file_relative);
    suite_add_tcase(s, tc);

    tc = tcase_create("Files");
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_directory);
    tcase_add_loop_test(tc, test_invalid_file, 0, N_ELEMS(bad_files));
    tcase_add_test(tc, test_quickstart);
    tcase_add_test(tc, test_shipped_chunking);
    tcase_add_test(tc, test_shipped_byte_range);
    tcase_add_test(tc, test_shipped_failure_report_timeouts);
    tcase_add_test(tc, test_shipped_raw_malformed);
    tcase_add_test(tc, test_relay_user_pattern);
    tcase_add_test(tc, test_shipped_relay_auth);
    tcase_add_test(tc, test_shipped_scenarios);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, make_scenario_ws_tcase());

    return s;
}
