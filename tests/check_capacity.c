/*
 * check_capacity.c - `run --find-capacity`'s pure parts (load/capacity.c, report/capacity.c):
 * the SLO grammar and its messages, a step's figures from run_stats, the verdicts, the
 * step/bisect search and its bounds, and the text of capacity.json and capacity.svg.
 * check_capacity_run.c (the same suite) runs the search for real.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/capacity.h"
#include "report/capacity.h"
#include "suites.h"
#include "testutil.h"

/* ---- the SLO ------------------------------------------------------------------------------ */

START_TEST(slo_reads_the_issue_example)
{
    struct capacity_slo s;
    char err[256] = "";
    ck_assert_int_eq(capacity_slo_parse("--slo", "p99<50ms,errors<0.1%", &s, err, sizeof err), 0);
    ck_assert_uint_eq(s.num_terms, 3); /* and the default achieved term */
    ck_assert_int_eq(s.terms[0].metric, CAP_LATENCY);
    ck_assert(s.terms[0].percentile == 99);
    ck_assert(!s.terms[0].inclusive);
    ck_assert(s.terms[0].bound == 50000);
    ck_assert_int_eq(s.terms[1].metric, CAP_ERRORS);
    ck_assert(fabs(s.terms[1].bound - 0.001) < 1e-12);
    ck_assert_int_eq(s.terms[2].metric, CAP_ACHIEVED);
    ck_assert(s.terms[2].inclusive && s.terms[2].bound == CAPACITY_ACHIEVED_DEFAULT);
    ck_assert(s.achieved_default);
    char text[128];
    capacity_slo_format(&s, text, sizeof text);
    ck_assert_str_eq(text, "p99<50ms,errors<0.1%,achieved>=95%");
}
END_TEST

START_TEST(slo_reads_spaces_units_and_inclusive_bounds)
{
    struct capacity_slo s;
    char err[256] = "";
    ck_assert_int_eq(capacity_slo_parse("--slo", " p99.9 <= 2 s , p50<800us,errors <= 1 %,"
                                        "achieved>90%", &s, err, sizeof err), 0);
    ck_assert_uint_eq(s.num_terms, 4);
    ck_assert(s.terms[0].percentile == 99.9 && s.terms[0].inclusive && s.terms[0].bound == 2e6);
    ck_assert(s.terms[1].percentile == 50 && s.terms[1].bound == 800);
    ck_assert(s.terms[2].inclusive && fabs(s.terms[2].bound - 0.01) < 1e-12);
    ck_assert(!s.terms[3].inclusive && fabs(s.terms[3].bound - 0.9) < 1e-12);
    ck_assert(!s.achieved_default);
    char text[128];
    capacity_slo_format(&s, text, sizeof text);
    ck_assert_str_eq(text, "p99.9<=2s,p50<800us,errors<=1%,achieved>90%");
}
END_TEST

START_TEST(slo_errors_name_the_option_and_the_byte)
{
    static const struct {
        const char *slo, *want;
    } cases[] = {
        {"p99<50xs", "--slo 'p99<50xs': at byte 7 ('x'): expected a unit: us, ms or s"},
        {"p100<1ms", "at byte 2 ('1'): a percentile is above 0 and below 100"},
        {"p0<1ms", "at byte 2 ('0'): a percentile"},
        {"errors<0.1", "at byte 11 (the end): expected % after the number"},
        {"errors<101%", "at byte 8 ('1'): a percentage is 0 to 100"},
        {"p99<50ms;errors<1%", "at byte 9 (';'): expected , before the next term"},
        {"p99<1ms,p99<=2ms", "at byte 9 ('p'): p99<=2ms is already bounded by p99<1ms"},
        {"", "at byte 1 (the end): expected a term"},
        {"latency<5ms", "at byte 1 ('l'): expected a term"},
        {"errors>1%", "at byte 7 ('>'): expected < or <="},
        {"achieved<90%", "at byte 9 ('<'): expected > or >="},
        {"p99<ms", "at byte 5 ('m'): expected a number"},
        {"p99<0ms", "at byte 5 ('0'): a latency bound is above 0"},
        {"p99<50ms,\x01", "at byte 10 (byte 0x01): expected a term"},
        {"p99<50ms,", "at byte 10 (the end): expected a term"},
        {"p99<-5ms", "at byte 5 ('-'): expected a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct capacity_slo s;
        char err[256] = "";
        ck_assert_int_eq(capacity_slo_parse("--slo", cases[i].slo, &s, err, sizeof err), -1);
        ck_assert_msg(strncmp(err, "--slo '", 7) == 0 && strstr(err, cases[i].want) != NULL,
                      "%s: got \"%s\", want \"%s\"", cases[i].slo, err, cases[i].want);
    }
}
END_TEST

START_TEST(slo_refuses_too_many_terms)
{
    struct capacity_slo s;
    char err[256] = "";
    ck_assert_int_eq(capacity_slo_parse("--slo", "p1<1s,p2<1s,p3<1s,p4<1s,p5<1s,p6<1s,p7<1s",
                                        &s, err, sizeof err), 0);
    ck_assert_uint_eq(s.num_terms, CAPACITY_MAX_TERMS);
    ck_assert_int_eq(capacity_slo_parse("--slo", "p1<1s,p2<1s,p3<1s,p4<1s,p5<1s,p6<1s,p7<1s,"
                                        "p8<1s", &s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "at most 7 terms") != NULL, "%s", err);
}
END_TEST

/* ---- a step's figures and verdict -------------------------------------------------------- */

static struct capacity_slo slo_of(const char *text)
{
    struct capacity_slo s;
    char err[256];
    ck_assert_msg(capacity_slo_parse("--slo", text, &s, err, sizeof err) == 0, "%s", err);
    return s;
}

/* Stats of a step: n latencies of 1000 us and k of big_us, ok and failed messages, and what
 * the schedule asked and sent. */
static void fill_stats(struct run_stats *st, uint64_t n, uint64_t k, uint64_t big_us,
                       uint64_t ok, uint64_t failed, uint64_t sent, double requested)
{
    ck_assert_int_eq(stats_init(st), 0);
    for (uint64_t i = 0; i < n; i++)
        histogram_record(&st->lat[LAT_MESSAGE_CORRECTED], 1000);
    for (uint64_t i = 0; i < k; i++)
        histogram_record(&st->lat[LAT_MESSAGE_CORRECTED], big_us);
    st->msgs_ok = ok;
    st->msgs_failed = failed;
    st->sched_sent = sent;
    st->sched_requested = requested;
}

START_TEST(measure_takes_the_corrected_latency_errors_and_rates)
{
    struct run_stats st;
    fill_stats(&st, 980, 20, 80000, 999, 1, 1000, 1000);
    histogram_record(&st.lat[LAT_MESSAGE], 5); /* not the one judged while corrected has some */
    struct capacity_row row = {0};
    capacity_measure(&st, 100, 10, 10, &row);
    ck_assert(row.requested == 100 && row.measured_s == 10 && row.step_s == 10);
    ck_assert(row.achieved == 100 && row.ok_rate == 99.9);
    ck_assert(row.achieved_ratio == 1);
    ck_assert(fabs(row.errors - 0.001) < 1e-12);
    ck_assert_uint_eq(row.samples, 1000);
    ck_assert(row.p50_us >= 1000 && row.p50_us < 1010);
    ck_assert(row.p99_us >= 80000 && row.p99_us < 80500);
    stats_free(&st);

    /* No corrected samples (closed loop): the message latency instead. */
    ck_assert_int_eq(stats_init(&st), 0);
    histogram_record(&st.lat[LAT_MESSAGE], 700);
    st.msgs_ok = 1;
    capacity_measure(&st, 1, 1, 1, &row);
    ck_assert_uint_eq(row.samples, 1);
    ck_assert(row.p99_us >= 700 && row.p99_us < 710);
    stats_free(&st);
}
END_TEST

START_TEST(measure_counts_overflow_as_beyond_every_bound)
{
    struct run_stats st;
    fill_stats(&st, 90, 0, 0, 100, 0, 100, 100);
    st.lat[LAT_MESSAGE_CORRECTED].overflow = 10; /* 10% above the histogram's range */
    struct capacity_row row = {0};
    capacity_measure(&st, 10, 10, 10, &row);
    ck_assert(row.p50_us >= 1000 && row.p50_us < 1010);
    ck_assert(isinf(row.p99_us));
    struct capacity_slo s = slo_of("p99<60s");
    capacity_measure_percentiles(&s, &st, &row);
    capacity_judge(&s, &row);
    ck_assert(!row.met);
    ck_assert_msg(strstr(row.why, "beyond the latency histogram's range") != NULL, "%s", row.why);
    stats_free(&st);
}
END_TEST

/* Judges a row measured from fill_stats with the SLO; returns met, why in why. */
static bool judge(const char *slo_text, uint64_t k, uint64_t big_us, uint64_t failed,
                  uint64_t sent, double measured_s, char *why)
{
    struct run_stats st;
    fill_stats(&st, 1000 - k, k, big_us, 1000 - failed, failed, sent, 1000);
    struct capacity_slo s = slo_of(slo_text);
    struct capacity_row row = {0};
    capacity_measure(&st, 100, measured_s, 10, &row);
    capacity_measure_percentiles(&s, &st, &row);
    capacity_judge(&s, &row);
    strcpy(why, row.why);
    stats_free(&st);
    return row.met;
}

START_TEST(judge_names_the_first_term_that_failed)
{
    char why[160];
    ck_assert(judge("p99<50ms,errors<0.1%", 5, 80000, 0, 1000, 10, why));
    ck_assert_str_eq(why, "met");
    /* 20 of 1000 at 80 ms: p99 is 80 ms */
    ck_assert(!judge("p99<50ms,errors<0.1%", 20, 80000, 0, 1000, 10, why));
    ck_assert_msg(strncmp(why, "p99 80", 6) == 0 && strstr(why, "not < 50 ms"), "%s", why);
    /* p50 only: the same step meets it */
    ck_assert(judge("p50<2ms", 20, 80000, 0, 1000, 10, why));
    ck_assert(!judge("p99<50ms,errors<0.1%", 0, 0, 1, 1000, 10, why));
    ck_assert_msg(strstr(why, "errors 0.1% (1 of 1000), not < 0.1%") != NULL, "%s", why);
    ck_assert(judge("p99<50ms,errors<=0.1%", 0, 0, 1, 1000, 10, why));
    ck_assert(!judge("p99<50ms", 0, 0, 0, 900, 10, why)); /* 90% < the default 95% */
    ck_assert_msg(strstr(why, "achieved 90% of the requested rate, not >= 95%") != NULL, "%s",
                  why);
    ck_assert(judge("p99<50ms,achieved>=90%", 0, 0, 0, 900, 10, why));
    ck_assert(!judge("p99<50ms,achieved>90%", 0, 0, 0, 900, 10, why));
}
END_TEST

START_TEST(judge_wants_a_full_step_with_messages)
{
    char why[160];
    ck_assert(!judge("p99<50ms", 0, 0, 0, 1000, 9.4, why)); /* 94% of the 10 s step */
    ck_assert_msg(strstr(why, "measured 9.4 s of a 10 s step") != NULL, "%s", why);
    ck_assert(judge("p99<50ms", 0, 0, 0, 1000, 9.6, why));

    struct capacity_slo s = slo_of("p99<50ms");
    struct capacity_row row = {.requested = 10, .step_s = 1, .measured_s = 1};
    capacity_judge(&s, &row);
    ck_assert(!row.met);
    ck_assert_str_eq(row.why, "no message was measured");
    row = (struct capacity_row){.step_s = 1, .measured_s = 1, .samples = 5, .ok = 5,
                                .achieved_ratio = 1, .interrupted = true};
    capacity_judge(&s, &row);
    ck_assert(!row.met);
    ck_assert_str_eq(row.why, "interrupted before the step's end");
    row.interrupted = false;
    capacity_judge(&s, &row);
    ck_assert(row.met);
}
END_TEST

/* ---- the search -------------------------------------------------------------------------- */

/* Runs the search against a system whose true capacity is `cap` (rates <= cap meet); writes
 * the rates tried into tried (up to 64) and returns how many. */
static unsigned search(struct capacity_search *s, double cap, double *tried)
{
    unsigned n = 0;
    for (double r; (r = capacity_search_next(s)) > 0;) {
        ck_assert_uint_lt(n, CAPACITY_MAX_STEPS);
        tried[n++] = r;
        capacity_search_record(s, r, r <= cap);
    }
    return n;
}

START_TEST(search_steps_up_then_bisects)
{
    struct capacity_search s;
    char err[160];
    ck_assert_int_eq(capacity_search_init(&s, 100, 100000, 2, 0.05, 20, err, sizeof err), 0);
    double tried[64];
    unsigned n = search(&s, 660, tried);
    static const double want[] = {100, 200, 400, 800, 600, 700, 650, 675};
    ck_assert_uint_eq(n, sizeof want / sizeof want[0]);
    for (unsigned i = 0; i < n; i++)
        ck_assert_msg(tried[i] == want[i], "step %u: %g, want %g", i + 1, tried[i], want[i]);
    ck_assert(s.best_met == 650 && s.lowest_fail == 675);
    ck_assert_str_eq(capacity_search_end(&s), "resolution");
}
END_TEST

START_TEST(search_ends_when_the_first_step_fails)
{
    struct capacity_search s;
    char err[160];
    ck_assert_int_eq(capacity_search_init(&s, 100, 1000, 2, 0.05, 20, err, sizeof err), 0);
    ck_assert_str_eq(capacity_search_end(&s), "");
    double tried[64];
    ck_assert_uint_eq(search(&s, 50, tried), 1);
    ck_assert(s.best_met == 0 && s.lowest_fail == 100);
    ck_assert_str_eq(capacity_search_end(&s), "first-failed");
}
END_TEST

START_TEST(search_stops_at_the_highest_rate_allowed)
{
    struct capacity_search s;
    char err[160];
    ck_assert_int_eq(capacity_search_init(&s, 100, 300, 2, 0.05, 20, err, sizeof err), 0);
    double tried[64];
    ck_assert_uint_eq(search(&s, 1e9, tried), 3);
    ck_assert(tried[0] == 100 && tried[1] == 200 && tried[2] == 300);
    ck_assert_str_eq(capacity_search_end(&s), "max-rate");
}
END_TEST

START_TEST(search_is_bounded_by_its_steps)
{
    struct capacity_search s;
    char err[160];
    ck_assert_int_eq(capacity_search_init(&s, 1, 1e7, 1.1, 0.001, 5, err, sizeof err), 0);
    double tried[64];
    ck_assert_uint_eq(search(&s, 1e9, tried), 5);
    ck_assert_str_eq(capacity_search_end(&s), "max-steps");
    /* Slow rates keep a tenth: 1, 1.1, 1.2, ... never the same rate twice */
    ck_assert(tried[1] == 1.1 && tried[2] == 1.2);
}
END_TEST

START_TEST(search_holds_its_invariants_for_any_verdicts)
{
    uint64_t seed = 0x5eed;
    for (int round = 0; round < 500; round++) {
        struct capacity_search s;
        char err[160];
        double start = 1 + (double)(test_rand(&seed) % 1000);
        double max = start * (1 + (double)(test_rand(&seed) % 5000));
        unsigned steps = 1 + (unsigned)(test_rand(&seed) % CAPACITY_MAX_STEPS);
        ck_assert_int_eq(capacity_search_init(&s, start, max, 1.5 + (double)(round % 4),
                                              0.01 + (double)(round % 10) / 100, steps, err,
                                              sizeof err), 0);
        unsigned n = 0;
        for (double r; (r = capacity_search_next(&s)) > 0; n++) {
            ck_assert(r >= start && r <= max);
            ck_assert(s.best_met == 0 || r > s.best_met);
            ck_assert(s.lowest_fail == 0 || r < s.lowest_fail);
            capacity_search_record(&s, r, test_rand(&seed) % 3 != 0); /* noisy verdicts */
        }
        ck_assert_uint_le(n, steps);
        ck_assert(s.lowest_fail == 0 || s.best_met < s.lowest_fail);
        ck_assert_str_ne(capacity_search_end(&s), "");
    }
}
END_TEST

START_TEST(search_refuses_bad_bounds)
{
    struct capacity_search s;
    char err[160];
    ck_assert_int_eq(capacity_search_init(&s, 0, 10, 2, 0.05, 5, err, sizeof err), -1);
    ck_assert_int_eq(capacity_search_init(&s, 20, 10, 2, 0.05, 5, err, sizeof err), -1);
    ck_assert_int_eq(capacity_search_init(&s, 1, 10, 1, 0.05, 5, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "factor") != NULL, "%s", err);
    ck_assert_int_eq(capacity_search_init(&s, 1, 10, 2, 0, 5, err, sizeof err), -1);
    ck_assert_int_eq(capacity_search_init(&s, 1, 10, 2, 0.05, 0, err, sizeof err), -1);
    ck_assert_int_eq(capacity_search_init(&s, 1, 10, 2, 0.05, CAPACITY_MAX_STEPS + 1, err,
                                          sizeof err), -1);
    ck_assert_int_eq(capacity_search_init(&s, 10, 10, 2, 0.05, 1, err, sizeof err), 0);
}
END_TEST

/* ---- the files --------------------------------------------------------------------------- */

static struct capacity_doc sample_doc(struct capacity_row *rows)
{
    rows[0] = (struct capacity_row){.index = 1, .requested = 100, .achieved = 100, .ok_rate = 99,
                                    .achieved_ratio = 1, .step_s = 2, .measured_s = 2, .sent = 200,
                                    .ok = 198, .failed = 0, .samples = 198, .p50_us = 900,
                                    .p99_us = 4000, .met = true};
    strcpy(rows[0].dir, "step-01");
    strcpy(rows[0].why, "met");
    rows[1] = rows[0];
    rows[1].index = 2;
    rows[1].requested = 200;
    rows[1].p99_us = INFINITY;
    rows[1].met = false;
    strcpy(rows[1].dir, "step-02");
    strcpy(rows[1].why, "p99 beyond the latency histogram's range, not < 50 ms");
    return (struct capacity_doc){
        .scenario = "a<b&c\"", .version = "test", .slo = "p99<50ms,achieved>=95%",
        .topology = "embedded", .latency_kind = "message-corrected", .start = 100, .max = 1000,
        .factor = 2, .resolution = 0.05, .step_s = 2, .warm_up_s = 1, .max_steps = 5,
        .capacity = 100, .first_failed = 200, .slo_latency_us = 50000, .end = "resolution",
        .rows = rows, .num_rows = 2};
}

START_TEST(json_holds_every_step)
{
    struct capacity_row rows[2];
    struct capacity_doc d = sample_doc(rows);
    size_t len = 0;
    char *text = capacity_json_text(&d, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    ck_assert_msg(root != NULL, "%s", je.text);
    ck_assert_str_eq(json_string_value(json_object_get(root, "scenario")), "a<b&c\"");
    ck_assert(json_real_value(json_object_get(root, "capacity_rate")) == 100);
    ck_assert(json_real_value(json_object_get(root, "first_failed_rate")) == 200);
    ck_assert_str_eq(json_string_value(json_object_get(root, "ended")), "resolution");
    json_t *steps = json_object_get(root, "steps");
    ck_assert_uint_eq(json_array_size(steps), 2);
    json_t *s1 = json_array_get(steps, 0), *s2 = json_array_get(steps, 1);
    ck_assert(json_real_value(json_object_get(s1, "p99_ms")) == 4);
    ck_assert(json_is_true(json_object_get(s1, "met")));
    ck_assert_str_eq(json_string_value(json_object_get(s1, "report")), "step-01");
    ck_assert(json_is_null(json_object_get(s2, "p99_ms"))); /* not a number JSON can hold */
    ck_assert(json_is_false(json_object_get(s2, "met")));
    json_decref(root);
    free(text);

    d.capacity = 0;
    d.first_failed = 0;
    text = capacity_json_text(&d, &len);
    root = json_loads(text, 0, &je);
    ck_assert(json_is_null(json_object_get(root, "capacity_rate")));
    json_decref(root);
    free(text);
}
END_TEST

START_TEST(svg_is_one_escaped_document)
{
    struct capacity_row rows[2];
    struct capacity_doc d = sample_doc(rows);
    size_t len = 0;
    char *svg = capacity_svg_text(&d, &len);
    ck_assert_ptr_nonnull(svg);
    ck_assert_uint_eq(len, strlen(svg));
    ck_assert(strstr(svg, "<svg xmlns='http://www.w3.org/2000/svg'") != NULL);
    ck_assert(strstr(svg, "a&lt;b&amp;c&quot;: capacity search") != NULL);
    ck_assert(strstr(svg, "a<b") == NULL);
    ck_assert(strstr(svg, "capacity 100 messages/s") != NULL);
    ck_assert(strstr(svg, "SLO 50 ms") != NULL);
    ck_assert(strstr(svg, "href") == NULL); /* nothing external */
    ck_assert(strstr(svg, "nan") == NULL && strstr(svg, "inf") == NULL);
    ck_assert_uint_eq((unsigned)(strstr(svg, "</svg>\n") - svg) + 7, len);
    /* one circle per step and panel: p99 and p50 above, achieved below */
    unsigned circles = 0;
    for (const char *p = svg; (p = strstr(p, "<circle")) != NULL; p++)
        circles++;
    ck_assert_uint_eq(circles, 3 * d.num_rows);
    free(svg);

    /* One step alone (a first step that failed): a short file all the same, its axis
     * padded around the one rate. */
    d.num_rows = 1;
    svg = capacity_svg_text(&d, &len);
    ck_assert_uint_lt(len, 20000);
    ck_assert(strstr(svg, ">100</text>") != NULL);
    free(svg);

    d.num_rows = 0;
    d.capacity = 0;
    svg = capacity_svg_text(&d, &len);
    ck_assert(strstr(svg, "no step met the SLO") != NULL);
    ck_assert(strstr(svg, "nan") == NULL && strstr(svg, "inf") == NULL);
    free(svg);
}
END_TEST

Suite *make_capacity_suite(void)
{
    Suite *s = suite_create("capacity");
    TCase *tc = tcase_create("logic");
    tcase_add_test(tc, slo_reads_the_issue_example);
    tcase_add_test(tc, slo_reads_spaces_units_and_inclusive_bounds);
    tcase_add_test(tc, slo_errors_name_the_option_and_the_byte);
    tcase_add_test(tc, slo_refuses_too_many_terms);
    tcase_add_test(tc, measure_takes_the_corrected_latency_errors_and_rates);
    tcase_add_test(tc, measure_counts_overflow_as_beyond_every_bound);
    tcase_add_test(tc, judge_names_the_first_term_that_failed);
    tcase_add_test(tc, judge_wants_a_full_step_with_messages);
    tcase_add_test(tc, search_steps_up_then_bisects);
    tcase_add_test(tc, search_ends_when_the_first_step_fails);
    tcase_add_test(tc, search_stops_at_the_highest_rate_allowed);
    tcase_add_test(tc, search_is_bounded_by_its_steps);
    tcase_add_test(tc, search_holds_its_invariants_for_any_verdicts);
    tcase_add_test(tc, search_refuses_bad_bounds);
    tcase_add_test(tc, json_holds_every_step);
    tcase_add_test(tc, svg_is_one_escaped_document);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, make_capacity_run_tcase());
    suite_add_tcase(s, make_capacity_relay_tcase());
    return s;
}
