/*
 * check_prom.c - live metrics as text, without a network: run_stats reduced to a snapshot
 * (report/metrics.c, histogram_cumulative), snapshots added up, and the Prometheus text
 * (report/prom.c): names, HELP and TYPE once per family before its samples, label escaping,
 * histogram buckets cumulative with +Inf equal to _count, _sum, every latency kind.
 */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/histogram.h"
#include "report/metrics.h"
#include "report/prom.h"
#include "report/stats.h"
#include "suites.h"

static const char *const end_names[STATS_END_KINDS] = {
    NULL, "closed", "peer-closed", "connect-failed", "bind-timeout", "bind-rejected",
    "protocol-error", "write-overflow", "idle-timeout", "auth-failed", "local-error"};

static struct prom_run_meta meta(const char *scenario)
{
    struct prom_run_meta m = {.scenario = scenario, .shard = "2/3", .topology = "embedded"};
    for (int i = 0; i < STATS_END_KINDS; i++)
        m.end_names[i] = end_names[i];
    return m;
}

/* The value of the one sample line that starts with `prefix` (name and labels); NAN if none,
 * and the test fails if there are two. */
static double sample(const char *text, const char *prefix)
{
    double v = NAN;
    int found = 0;
    size_t n = strlen(prefix);
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        if (strncmp(line, prefix, n) == 0 && line[n] == ' ') {
            v = strtod(line + n + 1, NULL);
            found++;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    ck_assert_msg(found <= 1, "%s appears %d times", prefix, found);
    return v;
}

START_TEST(cumulative_counts_at_bounds)
{
    struct histogram h;
    ck_assert_int_eq(histogram_init(&h, 1, 3600ull * 1000000ull, 3), 0);
    uint64_t values[] = {50, 100, 100, 101, 250, 1000000, 59000000, 70000000};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        histogram_record(&h, values[i]);
    uint64_t cum[METRICS_LAT_BUCKETS];
    double sum = 0;
    histogram_cumulative(&h, metrics_lat_bounds_us, METRICS_LAT_BUCKETS, cum, &sum);
    /* bounds: 100 250 500 1000 ... 1000000 (index 12) ... 30000000 60000000 */
    ck_assert_uint_eq(cum[0], 3); /* 50, 100, 100: exact below 2048 us */
    ck_assert_uint_eq(cum[1], 5); /* + 101, 250 */
    ck_assert_uint_eq(cum[11], 5);
    ck_assert_uint_eq(cum[12], 6); /* + 1 s, at its bound */
    ck_assert_uint_eq(cum[16], 6);
    ck_assert_uint_eq(cum[17], 7); /* + 59 s; 70 s is above every bound */
    for (int i = 1; i < METRICS_LAT_BUCKETS; i++)
        ck_assert_uint_ge(cum[i], cum[i - 1]);
    double exact = 0;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        exact += (double)values[i];
    ck_assert_msg(fabs(sum - exact) / exact < 1e-3, "sum %f vs %f", sum, exact);
    ck_assert_double_eq_tol(sum, histogram_mean(&h) * 8, 1e-6 * exact);
    histogram_free(&h);
}
END_TEST

START_TEST(cumulative_of_empty_histogram)
{
    struct histogram h;
    ck_assert_int_eq(histogram_init(&h, 1, 3600ull * 1000000ull, 3), 0);
    uint64_t cum[METRICS_LAT_BUCKETS];
    memset(cum, 0xff, sizeof(cum));
    double sum = -1;
    histogram_cumulative(&h, metrics_lat_bounds_us, METRICS_LAT_BUCKETS, cum, &sum);
    for (int i = 0; i < METRICS_LAT_BUCKETS; i++)
        ck_assert_uint_eq(cum[i], 0);
    ck_assert_double_eq(sum, 0);
    histogram_free(&h);
}
END_TEST

/* A run_stats with a bit of everything. */
static void some_stats(struct run_stats *st)
{
    ck_assert_int_eq(stats_init(st), 0);
    st->sessions_started = 7;
    st->sessions_bound = 6;
    st->sessions_completed = 5;
    st->sessions_failed = 2;
    st->session_ends[1] = 5;
    st->session_ends[3] = 2;
    st->msgs_sent = 40;
    st->msgs_ok = 37;
    st->msgs_failed = 3;
    stats_count_status(st, 200);
    stats_count_status(st, 408);
    stats_count_status(st, 481);
    st->timeouts_local_408 = 1;
    st->timeouts_by_fr[1] = 1;
    st->chunks_sent = 80;
    st->payload_bytes = 3700;
    st->wire_bytes_in = 123;
    st->wire_bytes_out = 4567;
    st->relay_auth_ok = 4;
    st->sip.calls_established = 6;
    st->sip.bye_failed = 1;
    for (int k = 0; k < LAT__COUNT; k++)
        for (uint64_t v = 1; v <= (uint64_t)(k + 1) * 10; v++)
            histogram_record(&st->lat[k], v * 137);
}

START_TEST(snapshot_from_stats_and_sum)
{
    struct run_stats st;
    some_stats(&st);
    static struct metrics_snapshot a, b;
    metrics_from_stats(&a, &st, true);
    ck_assert_uint_eq(a.msgs_ok, 37);
    ck_assert_uint_eq(a.status_counts[481 - STATS_STATUS_MIN], 1);
    ck_assert_uint_eq(a.lat[LAT__COUNT - 1].count, (uint64_t)LAT__COUNT * 10);
    /* Counters only: the latencies reduced last time stay; then reduced again. */
    histogram_record(&st.lat[0], 5);
    st.msgs_ok++;
    metrics_from_stats(&a, &st, false);
    ck_assert_uint_eq(a.msgs_ok, 38);
    ck_assert_uint_eq(a.lat[0].count, 10);
    ck_assert_uint_eq(a.lat[0].cum[0], 0);
    metrics_from_stats(&a, &st, true);
    ck_assert_uint_eq(a.lat[0].count, 11);
    ck_assert_uint_eq(a.lat[0].cum[0], 1);
    st.msgs_ok--;
    histogram_reset(&st.lat[0]);
    for (uint64_t v = 1; v <= 10; v++)
        histogram_record(&st.lat[0], v * 137);
    metrics_from_stats(&a, &st, true);
    a.sessions_open = 3;
    a.target_rate = 50;
    b = a;
    b.warming_up = true;
    metrics_add(&a, &b);
    ck_assert_uint_eq(a.msgs_ok, 74);
    ck_assert_uint_eq(a.session_ends[3], 4);
    ck_assert_uint_eq(a.status_counts[408 - STATS_STATUS_MIN], 2);
    ck_assert_uint_eq(a.relay_auth_ok, 8);
    ck_assert_uint_eq(a.sip_calls_established, 12);
    ck_assert_uint_eq(a.wire_bytes_out, 2 * 4567);
    ck_assert_uint_eq(a.sessions_open, 6);
    ck_assert_double_eq(a.target_rate, 100);
    ck_assert(a.warming_up);
    ck_assert_uint_eq(a.lat[0].count, 20);
    ck_assert_uint_eq(a.lat[0].cum[METRICS_LAT_BUCKETS - 1], 20);
    stats_free(&st);
}
END_TEST

START_TEST(run_text_families_and_names)
{
    struct run_stats st;
    some_stats(&st);
    static struct metrics_snapshot s;
    metrics_from_stats(&s, &st, true);
    s.msgs_in_flight = 9;
    struct prom_run_meta m = meta("plain");
    size_t len = 0;
    char *text = prom_render_run(&s, &m, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert(len > 0 && text[len - 1] == '\n');

    /* Every line is a HELP, a TYPE or a sample of the family they announced. */
    regex_t sample_re, help_re, type_re;
    ck_assert_int_eq(regcomp(&sample_re, "^(msrpload_[a-z_]+)\\{[^}]*\\} [-+.0-9eE]+$",
                             REG_EXTENDED), 0);
    ck_assert_int_eq(regcomp(&help_re, "^# HELP (msrpload_[a-z_]+) .+$", REG_EXTENDED), 0);
    ck_assert_int_eq(regcomp(&type_re, "^# TYPE (msrpload_[a-z_]+) (counter|gauge|histogram)$",
                             REG_EXTENDED), 0);
    char family[128] = "", type[16] = "", seen[64][128];
    int nseen = 0, samples = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        regmatch_t g[3];
        if (regexec(&help_re, line, 2, g, 0) == 0) {
            snprintf(family, sizeof(family), "%.*s", (int)(g[1].rm_eo - g[1].rm_so),
                     line + g[1].rm_so);
            for (int i = 0; i < nseen; i++)
                ck_assert_msg(strcmp(seen[i], family) != 0, "%s announced twice", family);
            ck_assert_int_lt(nseen, 64);
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", family);
            type[0] = '\0';
        } else if (regexec(&type_re, line, 3, g, 0) == 0) {
            ck_assert_msg(strncmp(line + g[1].rm_so, family, strlen(family)) == 0 &&
                              (size_t)(g[1].rm_eo - g[1].rm_so) == strlen(family),
                          "TYPE without its HELP: %s", line);
            snprintf(type, sizeof(type), "%.*s", (int)(g[2].rm_eo - g[2].rm_so),
                     line + g[2].rm_so);
            /* Counters end in _total; histograms and gauges in their unit or nothing. */
            bool total = strlen(family) > 6 && strcmp(family + strlen(family) - 6, "_total") == 0;
            ck_assert_msg(total == (strcmp(type, "counter") == 0), "%s is a %s", family, type);
        } else {
            ck_assert_msg(regexec(&sample_re, line, 2, g, 0) == 0, "not a sample: %s", line);
            ck_assert_msg(type[0] != '\0', "sample before its TYPE: %s", line);
            size_t n = (size_t)(g[1].rm_eo - g[1].rm_so);
            const char *rest = line + strlen(family);
            bool ok = strncmp(line, family, strlen(family)) == 0 &&
                      (rest[0] == '{' ||
                       (strcmp(type, "histogram") == 0 &&
                        (strncmp(rest, "_bucket{", 8) == 0 || strncmp(rest, "_sum{", 5) == 0 ||
                         strncmp(rest, "_count{", 7) == 0)));
            ck_assert_msg(ok, "sample of another family: %s (under %s)", line, family);
            ck_assert_msg(strstr(line, "{scenario=\"plain\",shard=\"2/3\",topology=\"embedded\"") ==
                              line + n,
                          "labels: %s", line);
            samples++;
        }
    }
    free(copy);
    regfree(&sample_re);
    regfree(&help_re);
    regfree(&type_re);
    ck_assert_int_gt(samples, 100);

    const char *L = "{scenario=\"plain\",shard=\"2/3\",topology=\"embedded\"";
    char key[256];
    snprintf(key, sizeof(key), "msrpload_messages_ok_total%s}", L);
    ck_assert_double_eq(sample(text, key), 37);
    snprintf(key, sizeof(key), "msrpload_sessions_ended_total%s,reason=\"connect-failed\"}", L);
    ck_assert_double_eq(sample(text, key), 2);
    snprintf(key, sizeof(key), "msrpload_messages_by_status_total%s,code=\"481\",class=\"4xx\"}",
             L);
    ck_assert_double_eq(sample(text, key), 1);
    snprintf(key, sizeof(key), "msrpload_messages_by_status_total%s,code=\"500\",class=\"5xx\"}",
             L);
    ck_assert(isnan(sample(text, key))); /* codes never seen are left out */
    snprintf(key, sizeof(key), "msrpload_message_timeouts_total%s,failure_report=\"yes\"}", L);
    ck_assert_double_eq(sample(text, key), 1);
    snprintf(key, sizeof(key), "msrpload_wire_bytes_total%s,direction=\"out\"}", L);
    ck_assert_double_eq(sample(text, key), 4567);
    snprintf(key, sizeof(key), "msrpload_relay_auth_total%s,outcome=\"ok\"}", L);
    ck_assert_double_eq(sample(text, key), 4);
    snprintf(key, sizeof(key), "msrpload_sip_calls_total%s,outcome=\"established\"}", L);
    ck_assert_double_eq(sample(text, key), 6);
    snprintf(key, sizeof(key), "msrpload_sip_bye_total%s,outcome=\"failed\"}", L);
    ck_assert_double_eq(sample(text, key), 1);
    snprintf(key, sizeof(key), "msrpload_messages_in_flight%s}", L);
    ck_assert_double_eq(sample(text, key), 9);
    snprintf(key, sizeof(key), "msrpload_run_finished%s}", L);
    ck_assert_double_eq(sample(text, key), 0);
    ck_assert_ptr_null(strstr(text, "reason=\"none\""));
    free(text);
    stats_free(&st);
}
END_TEST

START_TEST(run_text_histograms)
{
    struct run_stats st;
    some_stats(&st);
    static struct metrics_snapshot s;
    metrics_from_stats(&s, &st, true);
    struct prom_run_meta m = meta("h");
    size_t len;
    char *text = prom_render_run(&s, &m, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE msrpload_latency_seconds histogram\n"));
    const char *L = "{scenario=\"h\",shard=\"2/3\",topology=\"embedded\"";
    for (int k = 0; k < LAT__COUNT; k++) {
        const char *kind = lat_kind_name((enum lat_kind)k);
        char key[256];
        double prev = 0;
        for (int i = 0; i < METRICS_LAT_BUCKETS; i++) {
            snprintf(key, sizeof(key), "msrpload_latency_seconds_bucket%s,kind=\"%s\",le=\"%g\"}",
                     L, kind, (double)metrics_lat_bounds_us[i] / 1e6);
            double v = sample(text, key);
            ck_assert_msg(!isnan(v), "missing %s", key);
            ck_assert_msg(v >= prev, "%s: %g after %g: not cumulative", key, v, prev);
            prev = v;
        }
        snprintf(key, sizeof(key), "msrpload_latency_seconds_bucket%s,kind=\"%s\",le=\"+Inf\"}",
                 L, kind);
        double inf = sample(text, key);
        snprintf(key, sizeof(key), "msrpload_latency_seconds_count%s,kind=\"%s\"}", L, kind);
        double count = sample(text, key);
        ck_assert_double_eq(inf, count);
        ck_assert_double_eq(count, (double)(k + 1) * 10);
        ck_assert(prev <= inf);
        /* 137 us .. 137*10*(k+1) us: 137 us is above 100 us, and all under 25 ms */
        snprintf(key, sizeof(key), "msrpload_latency_seconds_bucket%s,kind=\"%s\",le=\"0.0001\"}",
                 L, kind);
        ck_assert_double_eq(sample(text, key), 0);
        snprintf(key, sizeof(key), "msrpload_latency_seconds_bucket%s,kind=\"%s\",le=\"0.025\"}",
                 L, kind);
        ck_assert_double_eq(sample(text, key), count);
        snprintf(key, sizeof(key), "msrpload_latency_seconds_sum%s,kind=\"%s\"}", L, kind);
        double n = (k + 1) * 10, exact = 137e-6 * n * (n + 1) / 2;
        double sum = sample(text, key);
        ck_assert_msg(fabs(sum - exact) <= exact * 1e-3, "%s: %g vs %g", kind, sum, exact);
    }
    free(text);
    stats_free(&st);
}
END_TEST

START_TEST(label_values_escaped)
{
    static struct metrics_snapshot s;
    struct prom_run_meta m = meta("quote\" back\\slash\nnew line");
    size_t len;
    char *text = prom_render_run(&s, &m, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "msrpload_sessions_started_total{scenario=\"quote\\\" "
                                       "back\\\\slash\\nnew line\",shard=\"2/3\""));
    /* No raw line feed inside a sample: every line still starts as a sample or a comment. */
    for (const char *p = text; *p != '\0'; p = strchr(p, '\n') + 1)
        ck_assert_msg(strncmp(p, "msrpload_", 9) == 0 || p[0] == '#', "%.40s", p);
    free(text);

    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    prom_write_label_value(f, "a\\\"\nb");
    fclose(f);
    ck_assert_str_eq(buf, "a\\\\\\\"\\nb");
    free(buf);
}
END_TEST

START_TEST(serve_text)
{
    struct prom_serve_snapshot s = {.bound = 3, .messages = 10, .payload_bytes = 999,
                                    .reports = 2, .violations = 1, .refused = 4, .open = 2,
                                    .expected = 5};
    s.ends[2] = 1;
    struct prom_serve_meta m = {.listen = "127.0.0.1:2855"};
    m.end_names[1] = "closed";
    m.end_names[2] = "peer-closed";
    size_t len;
    char *text = prom_render_serve(&s, &m, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_double_eq(sample(text, "msrpload_serve_sessions_bound_total{listen=\"127.0.0.1:2855\"}"),
                        3);
    ck_assert_double_eq(
        sample(text, "msrpload_serve_sessions_ended_total{listen=\"127.0.0.1:2855\",reason=\"peer-closed\"}"),
        1);
    ck_assert_double_eq(
        sample(text, "msrpload_serve_payload_bytes_received_total{listen=\"127.0.0.1:2855\"}"), 999);
    ck_assert_double_eq(sample(text, "msrpload_serve_sessions_open{listen=\"127.0.0.1:2855\"}"), 2);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE msrpload_serve_violations_total counter\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE msrpload_serve_sessions_expected gauge\n"));
    free(text);
}
END_TEST

Suite *make_prom_suite(void)
{
    Suite *s = suite_create("prom");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cumulative_counts_at_bounds);
    tcase_add_test(tc, cumulative_of_empty_histogram);
    tcase_add_test(tc, snapshot_from_stats_and_sum);
    tcase_add_test(tc, run_text_families_and_names);
    tcase_add_test(tc, run_text_histograms);
    tcase_add_test(tc, label_values_escaped);
    tcase_add_test(tc, serve_text);
    suite_add_tcase(s, tc);
    return s;
}
