/*
 * check_report.c - the report files read back: .hist round trips (in process), and
 * `msrpload compare`, `msrpload merge` and `run --shard` run as a user would, on real runs
 * made with the binary under test ($MSRPLOAD_BIN, or ./msrpload from the top of the tree).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/histogram.h"
#include "report/report.h"
#include "report/stats.h"
#include "suites.h"
#include "testutil.h"

/* ---- .hist round trips ---------------------------------------------------------------------- */

#define HOUR_US (3600ull * 1000000ull)

struct layout {
    uint64_t lowest, highest;
    int sigfigs;
};

/* Fills h with distribution number i (each a different shape or layout). */
static void fill(struct histogram *h, int i)
{
    static const struct layout layouts[] = {
        {1, HOUR_US, 3}, {1, HOUR_US, 3}, {1, HOUR_US, 3},          {1, HOUR_US, 3},
        {1, HOUR_US, 3}, {1, HOUR_US, 3}, {1000, 1000000000ull, 2}, {1, 100000, 5},
    };
    const struct layout *l = &layouts[i];
    ck_assert_int_eq(histogram_init(h, l->lowest, l->highest, l->sigfigs), 0);
    uint64_t seed = 0x9e3779b97f4a7c15ull + (uint64_t)i;
    switch (i) {
    case 0: /* empty */
        break;
    case 1: /* one value */
        histogram_record(h, 1234);
        break;
    case 2: /* uniform over six decades */
        for (int k = 0; k < 100000; k++)
            histogram_record(h, 1 + test_rand(&seed) % 1000000);
        break;
    case 3: /* powers of two over the whole range, and values above it */
        for (int b = 0; b < 32; b++)
            histogram_record_n(h, 1ull << b, (uint64_t)b + 1);
        histogram_record_n(h, HOUR_US + 1, 7);
        histogram_record(h, UINT64_MAX);
        break;
    case 4: /* one bucket, min and max different within it */
        histogram_record(h, 1000050);
        histogram_record(h, 1000000);
        histogram_record(h, 1000100);
        break;
    case 5: /* coordinated-omission correction: long progressions */
        for (int k = 0; k < 50; k++)
            histogram_record_corrected(h, 1000 + test_rand(&seed) % 5000000, 997);
        break;
    case 6: /* coarse layout: unit 512, 2 significant digits */
        for (int k = 0; k < 20000; k++)
            histogram_record(h, test_rand(&seed) % 2000000000ull);
        break;
    case 7: /* fine layout, a heavy tail */
        for (int k = 0; k < 20000; k++) {
            uint64_t r = test_rand(&seed);
            histogram_record(h, (r % 100) * (r % 100) * (r % 10 + 1));
        }
        break;
    }
}
#define NDIST 8

static void assert_same_histogram(const struct histogram *a, const struct histogram *b)
{
    ck_assert_uint_eq(a->lowest, b->lowest);
    ck_assert_uint_eq(a->highest, b->highest);
    ck_assert_int_eq(a->sigfigs, b->sigfigs);
    ck_assert_uint_eq(a->counts_len, b->counts_len);
    for (size_t i = 0; i < a->counts_len; i++)
        ck_assert_msg(a->counts[i] == b->counts[i], "bucket %zu: %llu written, %llu read", i,
                      (unsigned long long)a->counts[i], (unsigned long long)b->counts[i]);
    ck_assert_uint_eq(histogram_count(a), histogram_count(b));
    ck_assert_uint_eq(a->overflow, b->overflow);
    ck_assert_uint_eq(a->_min, b->_min); /* the exact extremes, not just their buckets */
    ck_assert_uint_eq(a->_max, b->_max);
    ck_assert_uint_eq(histogram_min(a), histogram_min(b));
    ck_assert_uint_eq(histogram_max(a), histogram_max(b));
    static const double ps[] = {0, 1, 50, 90, 99, 99.9, 99.99, 100};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
        ck_assert_uint_eq(histogram_percentile(a, ps[i]), histogram_percentile(b, ps[i]));
    ck_assert(histogram_mean(a) == histogram_mean(b));
}

static char *hist_text(const struct histogram *h, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(report_write_hist(h, "us", f), 0);
    fclose(f);
    return text;
}

START_TEST(hist_round_trip)
{
    struct histogram h, back;
    fill(&h, _i);
    size_t len;
    char *text = hist_text(&h, &len);
    FILE *f = fmemopen(text, len, "r");
    char err[256] = "", unit[16];
    int e = report_read_hist(f, &back, unit, err, sizeof(err));
    fclose(f);
    ck_assert_msg(e == 0, "distribution %d: %s", _i, err);
    ck_assert_str_eq(unit, "us");
    assert_same_histogram(&h, &back);
    /* Written again, the text is the same: nothing drifts through a merge of one. */
    size_t len2;
    char *text2 = hist_text(&back, &len2);
    ck_assert_uint_eq(len, len2);
    ck_assert(memcmp(text, text2, len) == 0);
    /* And it adds like the original: twice the counts, bucket by bucket. */
    struct histogram twice, sum;
    fill(&twice, _i);
    ck_assert_int_eq(histogram_add(&twice, &h), 0);
    fill(&sum, _i);
    ck_assert_int_eq(histogram_add(&sum, &back), 0);
    assert_same_histogram(&twice, &sum);
    histogram_free(&twice);
    histogram_free(&sum);
    free(text);
    free(text2);
    histogram_free(&h);
    histogram_free(&back);
}
END_TEST

#define HEAD "msrpload-hist 1\nunit us\nlowest 1\nhighest 3600000000\nsigfigs 3\n"

static const struct {
    const char *text, *error;
} bad_hists[] = {
    {HEAD "total 3\nmin 5\nmax 3001\noverflow 0\nbuckets 2\n5 1\n3000 2\nend\n", NULL},
    {"msrpload-hist 1\n# a comment\n\nunit us\nlowest 1\nhighest 3600000000\nsigfigs 3\n"
     "total 0\nmin 0\nmax 0\noverflow 4\nbuckets 0\nend\n",
     NULL},
    {"msrpload-hist 2\n", "first line"},
    {"# comment\n" HEAD "total 0\nmin 0\nmax 0\noverflow 0\nbuckets 0\nend\n", "first line"},
    {"", "ends before"},
    {HEAD "total 3\nmin 5\nmax 3001\nbuckets 2\n", "before \"overflow\""},
    {HEAD "total 3\nmin 5\nmax 3001\noverflow 0\nbuckets 2\n5 1\n3001 2\nend\n",
     "not the lowest value of a bucket"},
    {HEAD "total 3\nmin 5\nmax 2000\noverflow 0\nbuckets 3\n5 1\n3000 1\n2000 1\nend\n",
     "not above"},
    {HEAD "total 4\nmin 5\nmax 3001\noverflow 0\nbuckets 2\n5 1\n3000 2\nend\n", "add up"},
    {HEAD "total 3\nmin 6\nmax 3001\noverflow 0\nbuckets 2\n5 1\n3000 2\nend\n",
     "not in the first bucket"},
    {HEAD "total 3\nmin 5\nmax 4001\noverflow 0\nbuckets 2\n5 1\n3000 2\nend\n",
     "not in the last bucket"},
    {HEAD "total 3\nmin 5\nmax 3001\noverflow 0\nbuckets 2\n5 1\n3000 2\n", "ends before"},
    {HEAD "total 3\nmin 5\nmax 3001\noverflow 0\nbuckets 2\n5 1\n3000 2\nend\n7 1\n",
     "after \"end\""},
    {HEAD "total 3\nmin 5\nmax 3001\noverflow 0\ncolour red\n", "unknown key"},
    {HEAD "total 3\nmin 5\nmax 3001\noverflow 0\nbuckets 2\n5 0\n3000 3\nend\n", "count 0"},
    {HEAD "total 1\nmin 5\nmax 5\nmin 5\n", "given twice"},
    {HEAD "total x\n", "not a whole number"},
    {"msrpload-hist 1\nunit us\nlowest 1\nhighest 1000\nsigfigs 3\ntotal 1\nmin 3000\n"
     "max 3000\noverflow 0\nbuckets 1\n3000 1\nend\n",
     "min 3000 and max 3000 do not fit"},
    {"msrpload-hist 1\nunit us\nlowest 1\nhighest 1000\nsigfigs 9\ntotal 0\nmin 0\nmax 0\n"
     "overflow 0\nbuckets 0\nend\n",
     "no histogram has"},
    {HEAD "total 1\nmin 5\nmax 6\noverflow 0\nbuckets 1\n5 1\nend\n", "not in the last bucket"},
    {HEAD "total 2\nmin 5\nmax 5\noverflow 0\nbuckets 3\n", "3 buckets for 2 values"},
};

START_TEST(hist_malformed)
{
    const char *text = bad_hists[_i].text, *want = bad_hists[_i].error;
    FILE *f = fmemopen((void *)text, strlen(text) ? strlen(text) : 1, "r");
    ck_assert_ptr_nonnull(f);
    if (strlen(text) == 0)
        fgetc(f); /* fmemopen refuses a size of 0: read the one byte away */
    struct histogram h;
    char err[256] = "";
    int e = report_read_hist(f, &h, NULL, err, sizeof(err));
    fclose(f);
    if (want == NULL) {
        ck_assert_msg(e == 0, "case %d: %s", _i, err);
        if (_i == 1)
            ck_assert_uint_eq(h.overflow, 4);
    } else {
        ck_assert_msg(e == EINVAL, "case %d: accepted", _i);
        ck_assert_msg(strstr(err, want) != NULL && strncmp(err, "line ", 5) == 0,
                      "case %d: '%s' does not say '%s'", _i, err, want);
    }
    histogram_free(&h);
}
END_TEST

START_TEST(stats_merge_at_shifts_the_series)
{
    struct run_stats a, b;
    ck_assert_int_eq(stats_init(&a), 0);
    ck_assert_int_eq(stats_init(&b), 0);
    stats_second_at(&a, 1)->msgs_ok = 5;
    stats_second_at(&b, 0)->msgs_ok = 7;
    stats_second_at(&b, 2)->chunks = 3;
    b.msgs_ok = 7;
    histogram_record(&b.lat[LAT_CHUNK], 42);
    ck_assert_int_eq(stats_merge_at(&a, &b, 1), 0);
    ck_assert_uint_eq(a.series_len, 4);
    ck_assert_uint_eq(a.series[1].msgs_ok, 12);
    ck_assert_uint_eq(a.series[3].chunks, 3);
    ck_assert_uint_eq(a.msgs_ok, 7);
    ck_assert_uint_eq(histogram_count(&a.lat[LAT_CHUNK]), 1);
    /* Another layout is refused before anything is added. */
    histogram_free(&b.lat[LAT_BIND]);
    ck_assert_int_eq(histogram_init(&b.lat[LAT_BIND], 1, 1000, 2), 0);
    ck_assert_int_eq(stats_merge_at(&a, &b, 0), EINVAL);
    ck_assert_uint_eq(a.msgs_ok, 7);
    ck_assert_uint_eq(histogram_count(&a.lat[LAT_CHUNK]), 1);
    stats_free(&a);
    stats_free(&b);
}
END_TEST

/* ---- the binary ----------------------------------------------------------------------------- */


static char *tmp_path(struct tmp *t, const char *name)
{
    char *p;
    ck_assert_int_ge(asprintf(&p, "%s/%s", t->dir, name), 0);
    return p;
}

static char *tmp_read(struct tmp *t, const char *name)
{
    char *path = tmp_path(t, name);
    size_t len;
    char *data = read_file(path, &len);
    data = realloc(data, len + 1);
    data[len] = '\0';
    free(path);
    return data;
}

/* Runs a shell command line in t's directory; stdout and stderr go to t/out and t/err. */
static int sh(struct tmp *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(struct tmp *t, const char *fmt, ...)
{
    char *line, *cmd;
    va_list ap;
    va_start(ap, fmt);
    ck_assert_int_ge(vasprintf(&line, fmt, ap), 0);
    va_end(ap);
    ck_assert_int_ge(asprintf(&cmd, "{ %s ; } >%s/out 2>%s/err", line, t->dir, t->dir), 0);
    int st = system(cmd);
    free(cmd);
    free(line);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `msrpload ARGS` with the working directory unchanged (scenarios/ are found). */
#define MSRPLOAD(t, ...) sh(t, "timeout 60 %s " __VA_ARGS__)

/* A small real run of the quickstart scenario into t/name. */
static void quick_run(struct tmp *t, const char *name, const char *extra)
{
    int code = MSRPLOAD(t,
                        "run scenarios/quickstart.json --sessions 4 --threads 1 --duration 1 "
                        "--quiet --out %s/%s %s",
                        msrpload_binary(), t->dir, name, extra);
    char *out = tmp_read(t, "out"), *err = tmp_read(t, "err");
    ck_assert_msg(code == 0, "run %s: exit %d\n%s\n%s", name, code, out, err);
    free(out);
    free(err);
}

/* The value at a '/'-separated path ("latency_us/message/p99"). */
static json_t *jat(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = root;
    char *save = NULL;
    for (char *tok = strtok_r(buf, "/", &save); tok != NULL && v != NULL;
         tok = strtok_r(NULL, "/", &save))
        v = json_object_get(v, tok);
    return v;
}

static json_int_t jint(json_t *root, const char *path)
{
    json_t *v = jat(root, path);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", path);
    return json_integer_value(v);
}

static double jnum(json_t *root, const char *path)
{
    json_t *v = jat(root, path);
    ck_assert_msg(json_is_number(v), "%s is not a number", path);
    return json_number_value(v);
}

static json_t *load_json(struct tmp *t, const char *name)
{
    char *path = tmp_path(t, name);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", path, e.text);
    free(path);
    return j;
}

static void save_json(struct tmp *t, const char *name, json_t *j)
{
    char *path = tmp_path(t, name);
    ck_assert_int_eq(json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER), 0);
    free(path);
}

/* Sets the number at path (its parent must exist). */
static void jset(json_t *root, const char *path, json_t *value)
{
    char parent[256];
    snprintf(parent, sizeof(parent), "%s", path);
    char *slash = strrchr(parent, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = '\0';
    json_t *p = jat(root, parent);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(json_object_set_new(p, slash + 1, value), 0);
}

static void jscale(json_t *root, const char *path, double factor)
{
    jset(root, path, json_real(jnum(root, path) * factor));
}

static size_t csv_rows(struct tmp *t, const char *name)
{
    char *csv = tmp_read(t, name);
    size_t n = 0;
    for (char *p = csv; *p != '\0'; p++)
        n += *p == '\n';
    free(csv);
    return n - 1; /* the header */
}

/* ---- compare -------------------------------------------------------------------------------- */

START_TEST(compare_real_runs)
{
    struct tmp t;
    tmp_make(&t);
    quick_run(&t, "a", "");
    quick_run(&t, "b", "");

    /* Each run against itself: no change, exit 0. */
    for (int i = 0; i < 2; i++) {
        const char *d = i ? "b" : "a";
        int code = MSRPLOAD(&t, "compare %s/%s %s/%s", msrpload_binary(), t.dir, d, t.dir, d);
        char *out = tmp_read(&t, "out");
        ck_assert_msg(code == 0, "exit %d\n%s", code, out);
        ck_assert_ptr_nonnull(strstr(out, "messages/s"));
        ck_assert_ptr_nonnull(strstr(out, "payload bytes/s"));
        ck_assert_ptr_nonnull(strstr(out, "latency message (us)"));
        ck_assert_ptr_nonnull(strstr(out, "p99.9"));
        ck_assert_ptr_nonnull(strstr(out, "no regression beyond 5%"));
        ck_assert_ptr_null(strstr(out, "REGRESSION"));
        free(out);
    }

    /* NEW made 50% slower: half the throughput, twice the latency. */
    ck_assert_int_eq(sh(&t, "cp -r %s/a %s/slow", t.dir, t.dir), 0);
    json_t *j = load_json(&t, "slow/summary.json");
    jscale(j, "throughput/messages_per_s", 0.5);
    jscale(j, "throughput/payload_bytes_per_s", 0.5);
    for (int k = 0; k < 2; k++) {
        char path[64];
        snprintf(path, sizeof(path), "latency_us/%s/p99", k ? "chunk" : "message");
        jset(j, path, json_integer(jint(j, path) * 2 + 1));
    }
    save_json(&t, "slow/summary.json", j);
    json_decref(j);
    int code = MSRPLOAD(&t, "compare %s/a %s/slow", msrpload_binary(), t.dir, t.dir);
    char *out = tmp_read(&t, "out");
    ck_assert_msg(code == 1, "exit %d\n%s", code, out);
    ck_assert_ptr_nonnull(strstr(out, "REGRESSION"));
    ck_assert_ptr_nonnull(strstr(out, "regressed beyond the threshold (messages/s -50.0%"));
    ck_assert_ptr_nonnull(strstr(out, "message p99 +"));
    /* Only the message kind's p99 decides; chunk p99 is shown, not judged. */
    ck_assert_ptr_null(strstr(out, "chunk p99"));
    free(out);

    /* The same as JSON. */
    code = MSRPLOAD(&t, "compare --json %s/a %s/slow", msrpload_binary(), t.dir, t.dir);
    ck_assert_int_eq(code, 1);
    out = tmp_read(&t, "out");
    json_error_t je;
    j = json_loads(out, 0, &je);
    ck_assert_msg(j != NULL, "not JSON: %s\n%s", je.text, out);
    ck_assert(json_is_true(jat(j, "regressed")));
    ck_assert(fabs(jnum(j, "throughput/messages_per_s/change_pct") + 50.0) < 1e-6);
    ck_assert(json_is_true(jat(j, "latency_us/message/p99/regression")));
    ck_assert(json_is_false(jat(j, "latency_us/chunk/p99/regression")));
    json_t *regs = jat(j, "regressions");
    ck_assert_uint_eq(json_array_size(regs), 3);
    ck_assert_str_eq(json_string_value(jat(json_array_get(regs, 0), "metric")),
                     "throughput.messages_per_s");
    ck_assert_str_eq(json_string_value(jat(json_array_get(regs, 2), "metric")),
                     "latency_us.message.p99");
    json_decref(j);
    free(out);

    /* A threshold above the changes lets it pass; "150%" is accepted too. */
    ck_assert_int_eq(MSRPLOAD(&t, "compare %s/a %s/slow --threshold 150%%", msrpload_binary(), t.dir, t.dir),
                     0);
    /* Faster is never a regression: the runs swapped. */
    ck_assert_int_eq(MSRPLOAD(&t, "compare %s/slow %s/a", msrpload_binary(), t.dir, t.dir), 0);

    /* Only the latency worse (p99 up 20%), threshold 10: exit 1 naming the p99 alone. */
    ck_assert_int_eq(sh(&t, "cp -r %s/a %s/lat", t.dir, t.dir), 0);
    j = load_json(&t, "lat/summary.json");
    jset(j, "latency_us/message/p99", json_integer(jint(j, "latency_us/message/p99") * 6 / 5 + 2));
    save_json(&t, "lat/summary.json", j);
    json_decref(j);
    code = MSRPLOAD(&t, "compare %s/a %s/lat --threshold 10", msrpload_binary(), t.dir, t.dir);
    out = tmp_read(&t, "out");
    ck_assert_msg(code == 1, "exit %d\n%s", code, out);
    ck_assert_ptr_nonnull(strstr(out, "(message p99 +"));
    ck_assert_ptr_null(strstr(out, "messages/s -"));
    free(out);
    tmp_remove(&t);
}
END_TEST

START_TEST(compare_bad_input_exits_2)
{
    struct tmp t;
    tmp_make(&t);
    /* A minimal valid summary, so that each bad case has one thing wrong. */
    ck_assert_int_eq(
        sh(&t, "mkdir %s/ok %s/empty %s/garbage %s/partial", t.dir, t.dir, t.dir, t.dir), 0);
    json_t *j =
        json_pack("{s:i, s:{s:f, s:f}, s:{s:{s:i, s:i, s:i, s:i, s:i, s:i}}}", "version", 1,
                  "throughput", "messages_per_s", 100.0, "payload_bytes_per_s", 1e4, "latency_us",
                  "message", "count", 10, "p50", 5, "p90", 6, "p99", 7, "p99.9", 8, "max", 9);
    save_json(&t, "ok/summary.json", j);
    json_object_del(j, "throughput");
    save_json(&t, "partial/summary.json", j);
    json_decref(j);
    ck_assert_int_eq(sh(&t, "echo '{\"version\": 1, ' >%s/garbage/summary.json", t.dir), 0);

    ck_assert_int_eq(MSRPLOAD(&t, "compare %s/ok %s/ok", msrpload_binary(), t.dir, t.dir), 0);
    static const struct {
        const char *base, *now, *named;
    } cases[] = {
        {"ok", "missing", "missing/summary.json"},
        {"empty", "ok", "empty/summary.json"},
        {"ok", "garbage", "garbage/summary.json"},
        {"partial", "ok", "partial/summary.json: $.throughput"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int code = MSRPLOAD(&t, "compare %s/%s %s/%s", msrpload_binary(), t.dir, cases[i].base, t.dir,
                            cases[i].now);
        char *err = tmp_read(&t, "err");
        ck_assert_msg(code == 2, "%s %s: exit %d", cases[i].base, cases[i].now, code);
        ck_assert_msg(strstr(err, cases[i].named) != NULL, "stderr does not name %s: %s",
                      cases[i].named, err);
        free(err);
    }
    /* Usage errors. */
    static const char *usage[] = {"",
                                  "%s/ok",
                                  "%s/ok %s/ok %s/ok",
                                  "%s/ok %s/ok --threshold",
                                  "%s/ok %s/ok --threshold -1",
                                  "%s/ok %s/ok --threshold abc",
                                  "%s/ok %s/ok --bogus"};
    for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
        char args[512];
        snprintf(args, sizeof(args), usage[i], t.dir, t.dir, t.dir);
        ck_assert_msg(MSRPLOAD(&t, "compare %s", msrpload_binary(), args) == 2, "compare %s", args);
    }
    ck_assert_int_eq(MSRPLOAD(&t, "compare --help", msrpload_binary()), 0);
    char *out = tmp_read(&t, "out");
    ck_assert_ptr_nonnull(strstr(out, "--threshold PCT"));
    free(out);
    tmp_remove(&t);
}
END_TEST

/* A directory whose report was not written whole (PARTIAL) is neither compared nor merged; a
 * finished run leaves no PARTIAL behind. */
START_TEST(partial_report_is_refused)
{
    struct tmp t;
    tmp_make(&t);
    quick_run(&t, "a", "");
    quick_run(&t, "b", "");
    char *path = tmp_path(&t, "a/PARTIAL");
    ck_assert_msg(access(path, F_OK) != 0, "a finished run keeps %s", path);
    free(path);
    ck_assert_int_eq(sh(&t, "echo 'cannot write summary.json' >%s/b/PARTIAL", t.dir), 0);
    for (int i = 0; i < 2; i++) {
        int code = i == 0 ? MSRPLOAD(&t, "compare %s/a %s/b", msrpload_binary(), t.dir, t.dir)
                          : MSRPLOAD(&t, "merge %s/a %s/b --out %s/m", msrpload_binary(), t.dir,
                                     t.dir, t.dir);
        char *err = tmp_read(&t, "err");
        ck_assert_msg(code == 2, "%s: exit %d: %s", i ? "merge" : "compare", code, err);
        ck_assert_msg(strstr(err, "/b/PARTIAL") != NULL, "stderr: %s", err);
        free(err);
    }
    path = tmp_path(&t, "m");
    ck_assert_msg(access(path, F_OK) != 0, "merge wrote %s from a partial run", path);
    free(path);
    tmp_remove(&t);
}
END_TEST

/* ---- merge ---------------------------------------------------------------------------------- */

static const char *const counters[] = {
    "sessions/started",         "sessions/bound",        "sessions/completed",
    "sessions/failed",          "sessions/unfinished",   "messages/sent",
    "messages/ok",
    "messages/failed",          "messages/unfinished",   "messages/delivered",
    "messages/undelivered",     "throughput/chunks",
    "throughput/payload_bytes", "expectations/failures", "latency_us/chunk/count",
    "latency_us/message/count", "latency_us/bind/count",
};

START_TEST(merge_two_hosts)
{
    struct tmp t;
    tmp_make(&t);
    /* Two "hosts" at the same time, each its shard of 5 sessions: 3 and 2. */
    int code = sh(&t,
                  "timeout 60 %s run scenarios/quickstart.json --sessions 5 --threads 1 "
                  "--duration 1 --quiet --shard 1/2 --out %s/h1 & "
                  "timeout 60 %s run scenarios/quickstart.json --sessions 5 --threads 1 "
                  "--duration 1 --quiet --shard 2/2 --out %s/h2; r=$?; wait $! && exit $r",
                  msrpload_binary(), t.dir, msrpload_binary(), t.dir);
    char *err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "exit %d: %s", code, err);
    free(err);
    json_t *in[2] = {load_json(&t, "h1/summary.json"), load_json(&t, "h2/summary.json")};
    ck_assert_int_eq(jint(in[0], "sessions/started"), 3);
    ck_assert_int_eq(jint(in[1], "sessions/started"), 2);
    ck_assert_int_eq(jint(in[0], "config/shard/index"), 1);
    ck_assert_int_eq(jint(in[1], "config/shard/count"), 2);

    /* Failure forensics: each run wrote errors.jsonl (empty: nothing failed); give them a line
     * each, as failed runs would have, and the merged file must hold both, with their origin. */
    ck_assert_int_eq(sh(&t, "test -f %s/h1/errors.jsonl && ! test -s %s/h1/errors.jsonl && "
                            "echo '{\"kind\":\"peer-closed\",\"count\":2,\"examples\":[]}' "
                            ">%s/h1/errors.jsonl && "
                            "echo '{\"kind\":\"bind-timeout\",\"count\":1,\"examples\":[]}' "
                            ">%s/h2/errors.jsonl",
                        t.dir, t.dir, t.dir, t.dir),
                     0);
    code = MSRPLOAD(&t, "merge %s/h1 %s/h2 --out %s/m", msrpload_binary(), t.dir, t.dir, t.dir);
    char *out = tmp_read(&t, "out");
    err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "exit %d\n%s\n%s", code, out, err);
    ck_assert_ptr_nonnull(strstr(out, "merged 2 runs"));
    char *errors = tmp_read(&t, "m/errors.jsonl");
    char want_errors[1024];
    snprintf(want_errors, sizeof(want_errors),
             "{\"kind\":\"peer-closed\",\"count\":2,\"examples\":[],\"from\":\"%s/h1\"}\n"
             "{\"kind\":\"bind-timeout\",\"count\":1,\"examples\":[],\"from\":\"%s/h2\"}\n",
             t.dir, t.dir);
    ck_assert_str_eq(errors, want_errors);
    free(errors);
    ck_assert_ptr_null(strstr(err, "warning"));
    free(out);
    free(err);
    json_t *m = load_json(&t, "m/summary.json");
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        ck_assert_msg(jint(m, counters[i]) == jint(in[0], counters[i]) + jint(in[1], counters[i]),
                      "%s: %lld merged, %lld + %lld", counters[i], (long long)jint(m, counters[i]),
                      (long long)jint(in[0], counters[i]), (long long)jint(in[1], counters[i]));
    ck_assert_int_eq(jint(m, "messages/by_status/200"),
                     jint(in[0], "messages/by_status/200") + jint(in[1], "messages/by_status/200"));
    ck_assert_int_eq(jint(m, "sessions/ends/closed"),
                     jint(in[0], "sessions/ends/closed") + jint(in[1], "sessions/ends/closed"));
    ck_assert_uint_eq(json_array_size(jat(m, "merged_from")), 2);
    ck_assert_str_eq(json_string_value(jat(m, "scenario/name")), "quickstart");
    ck_assert_int_eq(jint(m, "config/shard/index"), 1); /* the first run's config */

    /* The merged histogram file holds the sum. */
    char *path = tmp_path(&t, "m/latency-message.hist");
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    struct histogram h;
    char msg[256];
    ck_assert_int_eq(report_read_hist(f, &h, NULL, msg, sizeof(msg)), 0);
    fclose(f);
    free(path);
    ck_assert_int_eq((json_int_t)histogram_count(&h), jint(in[0], "latency_us/message/count") +
                                                          jint(in[1], "latency_us/message/count"));
    ck_assert_int_eq((json_int_t)histogram_max(&h), jint(m, "latency_us/message/max"));
    histogram_free(&h);

    /* Time series: as many rows as the span of the aligned runs. */
    double s0 = jnum(in[0], "run/started_unix"), s1 = jnum(in[1], "run/started_unix");
    double lo = s0 < s1 ? s0 : s1;
    size_t r0 = (size_t)floor(s0 - lo) + csv_rows(&t, "h1/timeseries.csv");
    size_t r1 = (size_t)floor(s1 - lo) + csv_rows(&t, "h2/timeseries.csv");
    ck_assert_uint_eq(csv_rows(&t, "m/timeseries.csv"), r0 > r1 ? r0 : r1);
    ck_assert(fabs(jnum(m, "run/started_unix") - lo) < 1e-3);

    /*
     * Throughput: when the measured windows overlap (the usual case: started together), the
     * longest one is the denominator; a slow start (under sanitizers) may set them apart, and
     * then they add up.
     */
    double m0 = jnum(in[0], "run/measured_s"), m1 = jnum(in[1], "run/measured_s");
    double w0 = s0 + jnum(in[0], "run/warm_up_s"), w1 = s1 + jnum(in[1], "run/warm_up_s");
    bool overlap = w0 <= w1 + m1 && w1 <= w0 + m0;
    double measured = overlap ? (m0 > m1 ? m0 : m1) : m0 + m1;
    ck_assert_msg(fabs(jnum(m, "run/measured_s") - measured) < 1e-6,
                  "measured %f, expected %f (windows %f+%f, %f+%f)", jnum(m, "run/measured_s"),
                  measured, w0, m0, w1, m1);
    double want = (double)jint(m, "messages/ok") / measured;
    ck_assert(fabs(jnum(m, "throughput/messages_per_s") - want) < 1e-6 * want + 1e-9);

    /* Batching windows merge as the widest: the most any latency may have been delayed. */
    double b0 = jnum(in[0], "run/batch_window_max_us"), b1 = jnum(in[1], "run/batch_window_max_us");
    ck_assert(fabs(jnum(m, "run/batch_window_max_us") - (b0 > b1 ? b0 : b1)) < 1e-3);

    json_t *mj = load_json(&t, "m/merge.json");
    ck_assert_uint_eq(json_array_size(jat(mj, "inputs")), 2);
    json_decref(mj);

    /* Never over an existing directory; inputs that cannot be read name the file. */
    code = MSRPLOAD(&t, "merge %s/h1 %s/h2 --out %s/m", msrpload_binary(), t.dir, t.dir, t.dir);
    err = tmp_read(&t, "err");
    ck_assert_int_eq(code, 2);
    ck_assert_ptr_nonnull(strstr(err, "exists"));
    free(err);
    ck_assert_int_eq(MSRPLOAD(&t, "merge %s/h1 %s/h2", msrpload_binary(), t.dir, t.dir), 2);
    ck_assert_int_eq(MSRPLOAD(&t, "merge --out %s/x", msrpload_binary(), t.dir), 2);
    ck_assert_int_eq(MSRPLOAD(&t, "merge %s/h1 %s/h1 --out %s/x", msrpload_binary(), t.dir, t.dir, t.dir),
                     2);
    ck_assert_int_eq(
        sh(&t, "cp -r %s/h2 %s/nohist && rm %s/nohist/latency-bind.hist", t.dir, t.dir, t.dir), 0);
    code = MSRPLOAD(&t, "merge %s/h1 %s/nohist --out %s/x", msrpload_binary(), t.dir, t.dir, t.dir);
    err = tmp_read(&t, "err");
    ck_assert_int_eq(code, 2);
    ck_assert_ptr_nonnull(strstr(err, "nohist/latency-bind.hist"));
    free(err);
    code = MSRPLOAD(&t, "merge %s/h1 %s/none --out %s/x", msrpload_binary(), t.dir, t.dir, t.dir);
    err = tmp_read(&t, "err");
    ck_assert_int_eq(code, 2);
    ck_assert_ptr_nonnull(strstr(err, "none"));
    free(err);
    struct stat sb;
    char *x = tmp_path(&t, "x");
    ck_assert_int_ne(stat(x, &sb), 0); /* nothing was created by the failures */
    free(x);
    ck_assert_int_eq(MSRPLOAD(&t, "merge --help", msrpload_binary()), 0);

    json_decref(m);
    json_decref(in[0]);
    json_decref(in[1]);
    tmp_remove(&t);
}
END_TEST

/* Runs over WebSocket: their new fields (ws-handshake latency, close codes, the transports)
 * merge and compare, and a report from before them (no such file or key) still merges. */
START_TEST(merge_ws_runs)
{
    struct tmp t;
    tmp_make(&t);
    char *sc = tmp_path(&t, "ws.json");
    FILE *f = fopen(sc, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"name\": \"ws\", \"load\": {\"sessions\": 4, \"duration\": 1},"
          " \"topology\": {\"kind\": \"embedded\", \"transport\": \"ws\"},"
          " \"steps\": [{\"send\": {\"count\": 2, \"size\": 3000, \"chunk_size\": 1000}}],"
          " \"answer\": {\"check_sha256\": true}}\n", f);
    ck_assert_int_eq(fclose(f), 0);
    for (int i = 1; i <= 2; i++) {
        int code = MSRPLOAD(&t, "run %s --threads 1 --quiet --out %s/h%d", msrpload_binary(), sc,
                            t.dir, i);
        char *out = tmp_read(&t, "out");
        ck_assert_msg(code == 0, "run %d: exit %d\n%s", i, code, out);
        ck_assert_ptr_nonnull(strstr(out, "transport:  ws\n"));
        ck_assert_ptr_nonnull(strstr(out, "8 of them checked by SHA-256"));
        free(out);
    }
    /* The peers' close codes as a run would have counted them, had its peers closed first. */
    ck_assert_int_eq(sh(&t, "sed -i 's/\"ws_close_codes\": {}/\"ws_close_codes\": {\"1000\": 2, "
                            "\"1011\": 1}/' %s/h1/summary.json && sed -i 's/\"ws_close_codes\": "
                            "{}/\"ws_close_codes\": {\"1000\": 3}/' %s/h2/summary.json",
                        t.dir, t.dir),
                     0);
    int code = MSRPLOAD(&t, "merge %s/h1 %s/h2 --out %s/m", msrpload_binary(), t.dir, t.dir,
                        t.dir);
    char *out = tmp_read(&t, "out"), *err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "exit %d\n%s\n%s", code, out, err);
    ck_assert_ptr_nonnull(strstr(out, "transport:  ws\n"));
    ck_assert_msg(strstr(out, "ws close:   1000 x5, 1011 x1") != NULL, "%s", out);
    free(out);
    free(err);
    json_t *in[2] = {load_json(&t, "h1/summary.json"), load_json(&t, "h2/summary.json")};
    json_t *m = load_json(&t, "m/summary.json");
    ck_assert_int_eq(jint(m, "sessions/ws_close_codes/1000"), 5);
    ck_assert_int_eq(jint(m, "sessions/ws_close_codes/1011"), 1);
    ck_assert_int_eq(jint(in[0], "latency_us/ws-handshake/count"), 4);
    ck_assert_int_eq(jint(m, "latency_us/ws-handshake/count"), 8);
    ck_assert_int_eq(jint(m, "latency_us/tls-handshake/count"), 0);
    ck_assert_int_eq(jint(m, "messages/checked"),
                     jint(in[0], "messages/checked") + jint(in[1], "messages/checked"));
    ck_assert_str_eq(json_string_value(jat(m, "config/transports/caller")), "ws");
    ck_assert_str_eq(json_string_value(jat(m, "config/transports/answerer")), "ws");
    /* A report written before WebSocket transports: no such histogram, key or count. Made
     * from h1 itself, so that compare sees the same latencies and only the missing parts
     * (two runs' p99s may differ past compare's threshold on a busy machine). */
    ck_assert_int_eq(
        sh(&t, "cp -r %s/h1 %s/old && rm %s/old/latency-ws-handshake.* && python3 -c \""
               "import json; p='%s/old/summary.json'; d=json.load(open(p)); "
               "del d['sessions']['ws_close_codes']; del d['messages']['checked']; "
               "del d['config']['transports']; json.dump(d, open(p, 'w'))\"",
               t.dir, t.dir, t.dir, t.dir),
        0);
    code = MSRPLOAD(&t, "merge %s/h1 %s/old --out %s/m2", msrpload_binary(), t.dir, t.dir,
                    t.dir);
    err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "exit %d: %s", code, err);
    free(err);
    json_t *m2 = load_json(&t, "m2/summary.json");
    ck_assert_int_eq(jint(m2, "latency_us/ws-handshake/count"), 4);
    ck_assert_int_eq(jint(m2, "sessions/ws_close_codes/1000"), 2);
    code = MSRPLOAD(&t, "compare %s/h1 %s/old", msrpload_binary(), t.dir, t.dir);
    out = tmp_read(&t, "out");
    ck_assert_msg(code == 0, "compare: exit %d\n%s", code, out);
    ck_assert_ptr_nonnull(strstr(out, "ws-handshake"));
    free(out);
    json_decref(m2);
    json_decref(m);
    json_decref(in[0]);
    json_decref(in[1]);
    free(sc);
    tmp_remove(&t);
}
END_TEST

START_TEST(merge_aligns_by_wall_clock)
{
    struct tmp t;
    tmp_make(&t);
    quick_run(&t, "a", "");
    /* The same run as if made 10.5 s later on another host, under another scenario name. */
    ck_assert_int_eq(sh(&t, "cp -r %s/a %s/later", t.dir, t.dir), 0);
    json_t *a = load_json(&t, "a/summary.json");
    json_t *j = load_json(&t, "later/summary.json");
    jset(j, "run/started_unix", json_real(jnum(a, "run/started_unix") + 10.5));
    jset(j, "scenario/name", json_string("elsewhere"));
    save_json(&t, "later/summary.json", j);
    json_decref(j);

    int code = MSRPLOAD(&t, "merge %s/a %s/later --out %s/m", msrpload_binary(), t.dir, t.dir, t.dir);
    char *err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "exit %d: %s", code, err);
    ck_assert_ptr_nonnull(strstr(err, "warning"));
    ck_assert_ptr_nonnull(strstr(err, "elsewhere"));
    free(err);
    size_t rows = csv_rows(&t, "a/timeseries.csv");
    ck_assert_uint_eq(csv_rows(&t, "m/timeseries.csv"), 10 + rows);
    /* Second k of the later run is second 10 + k of the merge. */
    char *csv = tmp_read(&t, "m/timeseries.csv"), *orig = tmp_read(&t, "a/timeseries.csv");
    char *save = NULL, *save2 = NULL;
    char *line = strtok_r(csv, "\n", &save);
    char *oline = strtok_r(orig, "\n", &save2);
    size_t i = 0;
    unsigned long long ok_orig[64] = {0}, ok_m[64] = {0};
    for (oline = strtok_r(NULL, "\n", &save2); oline != NULL && i < 64;
         oline = strtok_r(NULL, "\n", &save2), i++)
        ck_assert_int_eq(sscanf(oline, "%*u,%*u,%llu", &ok_orig[i]), 1);
    i = 0;
    for (line = strtok_r(NULL, "\n", &save); line != NULL && i < 64;
         line = strtok_r(NULL, "\n", &save), i++)
        ck_assert_int_eq(sscanf(line, "%*u,%*u,%llu", &ok_m[i]), 1);
    for (size_t k = 0; k < rows && k < 10; k++)
        ck_assert_uint_eq(ok_m[k], ok_orig[k]);
    for (size_t k = 0; k < rows; k++)
        ck_assert_uint_eq(ok_m[10 + k], ok_orig[k]);
    free(csv);
    free(orig);
    /* The measured windows do not overlap: their lengths add up, and the rate is a's. */
    json_t *m = load_json(&t, "m/summary.json");
    ck_assert(fabs(jnum(m, "run/measured_s") - 2 * jnum(a, "run/measured_s")) < 1e-6);
    double ra = jnum(a, "throughput/messages_per_s");
    ck_assert(fabs(jnum(m, "throughput/messages_per_s") - ra) < 1e-6 * ra + 1e-9);
    ck_assert_int_eq(jint(m, "messages/ok"), 2 * jint(a, "messages/ok"));
    ck_assert_str_eq(json_string_value(jat(m, "scenario/name")), "quickstart");
    json_decref(m);

    /* A summary from before started_unix and the throughput counts still merges. */
    ck_assert_int_eq(sh(&t, "cp -r %s/a %s/old", t.dir, t.dir), 0);
    j = load_json(&t, "old/summary.json");
    json_object_del(jat(j, "run"), "started_unix");
    json_object_del(jat(j, "throughput"), "chunks");
    json_object_del(jat(j, "throughput"), "payload_bytes");
    json_object_del(jat(j, "messages"), "delivered");
    json_object_del(jat(j, "messages"), "undelivered");
    json_object_del(jat(j, "sessions"), "unfinished");
    save_json(&t, "old/summary.json", j);
    json_decref(j);
    code = MSRPLOAD(&t, "merge %s/old --out %s/m2", msrpload_binary(), t.dir, t.dir);
    err = tmp_read(&t, "err");
    ck_assert_msg(code == 0, "exit %d: %s", code, err);
    free(err);
    m = load_json(&t, "m2/summary.json");
    ck_assert(fabs(jnum(m, "run/started_unix") - jnum(a, "run/started_unix")) < 2e-3);
    ck_assert_int_eq(jint(m, "throughput/chunks"), jint(a, "throughput/chunks"));
    ck_assert_int_eq(jint(m, "throughput/payload_bytes"), jint(a, "throughput/payload_bytes"));
    ck_assert_int_eq(jint(m, "messages/delivered"), 0); /* not counted back then */
    ck_assert_int_eq(jint(m, "messages/undelivered"), 0);
    /* Before sessions.unfinished: what was neither completed nor failed. */
    ck_assert_int_eq(jint(m, "sessions/unfinished"), jint(a, "sessions/started") -
                                                         jint(a, "sessions/completed") -
                                                         jint(a, "sessions/failed"));
    ck_assert_int_eq(jint(m, "sessions/unfinished"), jint(a, "sessions/unfinished"));
    json_decref(m);
    json_decref(a);
    tmp_remove(&t);
}
END_TEST

/* ---- run --shard ---------------------------------------------------------------------------- */

/*
 * Starts `msrpload run` against a listening socket of ours and returns the From-Path of the
 * first request it sends: the calling session's URI, with its session id.
 */
static void first_from_path(struct tmp *t, const char *shard, char *from, size_t fromlen)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(ls, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(ls, 8), 0);
    socklen_t salen = sizeof(sa);
    ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&sa, &salen), 0);
    char target[64], *sc = tmp_path(t, "one.json"), *out = tmp_path(t, "shard-out");
    snprintf(target, sizeof(target), "msrp://127.0.0.1:%u/x;tcp", ntohs(sa.sin_port));
    FILE *f = fopen(sc, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"name\": \"one\", \"load\": {\"threads\": 1, \"sessions\": 3, \"duration\": 1},"
          " \"steps\": [{\"send\": {}}]}",
          f);
    fclose(f);
    const char *argv[12] = {msrpload_binary(), "run",  sc,      "--quiet",
                            "--target",        target, "--out", out};
    if (shard != NULL) {
        argv[8] = "--shard";
        argv[9] = shard;
    }
    pid_t pid = test_spawn(argv, "/dev/null", "/dev/null", NULL);
    struct pollfd p = {.fd = ls, .events = POLLIN};
    ck_assert_msg(poll(&p, 1, 20000) == 1, "msrpload run did not connect");
    int c = accept(ls, NULL, NULL);
    ck_assert_int_ge(c, 0);
    char buf[4096];
    size_t n = 0;
    char *line = NULL;
    while (n < sizeof(buf) - 1) {
        p = (struct pollfd){.fd = c, .events = POLLIN};
        ck_assert_msg(poll(&p, 1, 20000) == 1, "no request within 20 s");
        ssize_t got = read(c, buf + n, sizeof(buf) - 1 - n);
        ck_assert_int_gt(got, 0);
        n += (size_t)got;
        buf[n] = '\0';
        line = strstr(buf, "\r\nFrom-Path: ");
        if (line != NULL && strstr(line + 2, "\r\n") != NULL)
            break;
    }
    ck_assert_ptr_nonnull(line);
    line += strlen("\r\nFrom-Path: ");
    size_t len = (size_t)(strstr(line, "\r\n") - line);
    snprintf(from, fromlen, "%.*s", (int)len, line);
    close(c);
    close(ls);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", out);
    ck_assert_int_eq(system(cmd), 0);
    free(sc);
    free(out);
}

START_TEST(shard_prefixes_session_ids)
{
    struct tmp t;
    tmp_make(&t);
    char from[512];
    first_from_path(&t, "2/3", from, sizeof(from));
    ck_assert_msg(strstr(from, "/h2-w0c0;tcp") != NULL, "From-Path %s", from);
    first_from_path(&t, NULL, from, sizeof(from));
    /* Without --shard: no prefix (3 sessions at once: any of them may come first). */
    ck_assert_msg(strstr(from, "/w0c") != NULL && strstr(from, "/h") == NULL, "From-Path %s", from);
    tmp_remove(&t);
}
END_TEST

START_TEST(shard_usage_errors)
{
    struct tmp t;
    tmp_make(&t);
    static const char *bad[] = {"0/3", "4/3", "3", "a/b", "1/0", "2/3x", "-1/3", "1/ 3", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int code = MSRPLOAD(&t, "run scenarios/quickstart.json --quiet --out %s/r --shard '%s'",
                            msrpload_binary(), t.dir, bad[i]);
        char *err = tmp_read(&t, "err");
        ck_assert_msg(code == 2, "--shard '%s': exit %d", bad[i], code);
        ck_assert_msg(strstr(err, "--shard") != NULL, "--shard '%s': %s", bad[i], err);
        free(err);
    }
    /* Fewer sessions than shards cannot be shared. */
    int code = MSRPLOAD(&t,
                        "run scenarios/quickstart.json --quiet --sessions 2 --shard 1/3 "
                        "--out %s/r",
                        msrpload_binary(), t.dir);
    ck_assert_int_eq(code, 2);
    ck_assert_int_eq(MSRPLOAD(&t, "run --help | grep -q -- '--shard I/N'", msrpload_binary()), 0);
    tmp_remove(&t);
}
END_TEST

Suite *make_report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("Hist");
    tcase_add_loop_test(tc, hist_round_trip, 0, NDIST);
    tcase_add_loop_test(tc, hist_malformed, 0, (int)(sizeof(bad_hists) / sizeof(bad_hists[0])));
    tcase_add_test(tc, stats_merge_at_shifts_the_series);
    suite_add_tcase(s, tc);
    tc = tcase_create("Compare");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, compare_real_runs);
    tcase_add_test(tc, compare_bad_input_exits_2);
    tcase_add_test(tc, partial_report_is_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("Merge");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, merge_two_hosts);
    tcase_add_test(tc, merge_aligns_by_wall_clock);
    tcase_add_test(tc, merge_ws_runs);
    suite_add_tcase(s, tc);
    tc = tcase_create("Shard");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, shard_prefixes_session_ids);
    tcase_add_test(tc, shard_usage_errors);
    suite_add_tcase(s, tc);
    return s;
}
