/*
 * check_report_html.c - report.html (src/report/html.h) as a user opens it: real runs (one
 * whose every message is refused, one that succeeds) and their merge, each page loaded in
 * headless Chromium (browser_testutil.h: a visible skip where it is absent, a failure under
 * REQUIRE_BROWSER=1) and its DOM checked against the same directory's summary.json,
 * errors.jsonl and timeseries.csv; a screenshot into the test's folder. Without a browser the
 * file itself is still checked: it exists, loads nothing, and escapes the scenario's text.
 * report_html is also called directly: markup in every outside text, a long series drawn in
 * groups, an empty run.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "browser_testutil.h"
#include "report/html.h"
#include "suites.h"
#include "testutil.h"

/* Every message of 4 sessions x 3 is answered 486 where 200 is expected: errors with examples;
 * the description carries markup that must come out as text. */
static const char refused_json[] =
    "{\"name\": \"refused\", \"description\": \"every message refused with 486 <b>busy</b> & "
    "'co'\", \"load\": {\"sessions\": 4, \"concurrency\": 4, \"duration\": 2, \"mode\": "
    "\"closed\", \"outstanding\": 1}, \"topology\": {\"kind\": \"embedded\", \"transport\": "
    "\"tcp\"}, \"steps\": [{\"repeat\": {\"times\": 3, \"steps\": [{\"send\": {\"size\": "
    "100}}, {\"expect\": {\"status\": 200}}]}}], \"answer\": {\"status\": 486}}";

static int sh(const struct tmp *t, const char *cmd)
{
    char *full;
    ck_assert_int_ge(asprintf(&full, "timeout 60 %s >'%s/out' 2>&1", cmd, t->dir), 0);
    int st = system(full);
    free(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const struct tmp *t, const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", t->dir, name);
    size_t len;
    char *raw = read_file(path, &len), *s = strndup(raw, len);
    free(raw);
    ck_assert_ptr_nonnull(s);
    return s;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The part of dom from the element whose opening tag starts with open to its closing tag
 * (malloc'd); NULL when there is no such element. */
static char *element(const char *dom, const char *open, const char *close)
{
    const char *a = strstr(dom, open);
    if (a == NULL)
        return NULL;
    const char *b = strstr(a, close);
    ck_assert_ptr_nonnull(b);
    return strndup(a, (size_t)(b - a) + strlen(close));
}

/* summary.json's value at a '/'-separated path. */
static json_t *at(json_t *root, const char *path)
{
    char buf[200];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, "/", &save); k != NULL && root != NULL;
         k = strtok_r(NULL, "/", &save))
        root = json_object_get(root, k);
    return root;
}

/* Checks every data-key cell of the page against summary.json: integers exactly, reals to
 * the decimals shown. Returns how many were checked. */
static size_t check_keys(const char *dom, json_t *summary)
{
    size_t n = 0;
    for (const char *p = strstr(dom, "data-key=\""); p != NULL; p = strstr(p, "data-key=\"")) {
        p += strlen("data-key=\"");
        const char *q = strchr(p, '"');
        char key[200];
        snprintf(key, sizeof key, "%.*s", (int)(q - p), p);
        const char *v = strchr(q, '>') + 1;
        if (strncmp(v, "<th>", 4) == 0) /* a row: the number is in its <td> */
            v = strstr(v, "<td class=\"num\">") + strlen("<td class=\"num\">");
        char *end;
        double shown = strtod(v, &end);
        ck_assert_msg(end > v && *end == '<', "%s: no number in '%.40s'", key, v);
        json_t *j = at(summary, key);
        ck_assert_msg(json_is_number(j), "%s: not a number in summary.json", key);
        if (json_is_integer(j)) {
            ck_assert_msg(shown == (double)json_integer_value(j), "%s: page %.*s, json %lld", key,
                          (int)(end - v), v, (long long)json_integer_value(j));
        } else {
            const char *dot = memchr(v, '.', (size_t)(end - v));
            int decimals = dot != NULL ? (int)(end - dot - 1) : 0;
            ck_assert_msg(fabs(shown - json_real_value(j)) <= 0.5 * pow(10, -decimals) + 1e-9,
                          "%s: page %.*s, json %f", key, (int)(end - v), v, json_real_value(j));
        }
        n++;
    }
    return n;
}

/* The series paths of svg#id: how many, each drawn (a non-empty d). */
static size_t series_in(const char *dom, const char *id)
{
    char open[64];
    snprintf(open, sizeof open, "<svg id=\"%s\"", id);
    char *svg = element(dom, open, "</svg>");
    if (svg == NULL)
        return 0;
    size_t n = 0;
    for (const char *p = strstr(svg, "<path class=\"series\""); p != NULL;
         p = strstr(p + 1, "<path class=\"series\"")) {
        const char *d = strstr(p, " d=\"M");
        ck_assert_msg(d != NULL && d < strchr(p, '>'), "%s: an empty path: %.200s", id, p);
        n++;
    }
    free(svg);
    return n;
}

/* The latency kinds summary.json says recorded anything. */
static size_t latency_kinds(json_t *summary)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(summary, "latency_us"), k, v)
        n += json_integer_value(json_object_get(v, "count")) > 0;
    return n;
}

/* The file itself: present, loading nothing (no script, link, image, frame, url() or
 * @import), the scenario's markup escaped. */
static void check_file(const struct tmp *t, const char *dir)
{
    char name[128];
    snprintf(name, sizeof name, "%s/report.html", dir);
    char *html = slurp(t, name);
    ck_assert(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    static const char *const loads[] = {"<script", "<link", "<img", "<iframe", "<object",
                                        "src=", "href=", "url(", "@import"};
    for (size_t i = 0; i < sizeof loads / sizeof loads[0]; i++)
        ck_assert_msg(strstr(html, loads[i]) == NULL, "%s holds %s", name, loads[i]);
    ck_assert(strstr(html, "</html>") != NULL);
    free(html);
}

/* Column col of timeseries.csv, added up (max: the largest instead). */
static unsigned long long csv_column(const struct tmp *t, const char *dir, const char *col,
                                     bool max)
{
    char name[128];
    snprintf(name, sizeof name, "%s/timeseries.csv", dir);
    char *csv = slurp(t, name), *save = NULL;
    char *line = strtok_r(csv, "\n", &save);
    int idx = -1, i = 0;
    char *s2 = NULL;
    for (char *h = strtok_r(line, ",", &s2); h != NULL; h = strtok_r(NULL, ",", &s2), i++)
        if (strcmp(h, col) == 0)
            idx = i;
    ck_assert_msg(idx >= 0, "%s: no column %s", name, col);
    unsigned long long acc = 0;
    for (line = strtok_r(NULL, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *c = line;
        for (int k = 0; k < idx && c != NULL; k++)
            if ((c = strchr(c, ',')) != NULL)
                c++;
        ck_assert_ptr_nonnull(c);
        unsigned long long v = strtoull(c, NULL, 10);
        acc = max ? (v > acc ? v : acc) : acc + v;
    }
    free(csv);
    return acc;
}

/* The page of dir in the browser against that directory's files. */
static void check_page(const struct tmp *t, const char *chromium, const char *dir, bool ok_run)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s/report.html", t->dir, dir);
    char *dom = browser_dump_dom(chromium, path);
    snprintf(path, sizeof path, "%s/%s/summary.json", t->dir, dir);
    json_t *summary = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(summary);

    /* the summary's numbers are summary.json's */
    size_t keys = check_keys(dom, summary);
    ck_assert_msg(keys >= 25, "%s: only %zu figures", dir, keys);
    const char *const must[] = {"messages/sent", "messages/ok", "messages/failed",
                                       "sessions/started", "throughput/messages_per_s",
                                       "expectations/failures",
                                       ok_run ? "latency_us/message/p99" : "latency_us/bind/p99"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "data-key=\"%s\"", must[i]);
        ck_assert_msg(strstr(dom, needle) != NULL, "%s: no %s", dir, must[i]);
    }
    /* a path per series: succeeded, failed and sent per second; mean and largest latency
     * per second when a message succeeded; one spectrum per latency kind recorded */
    ck_assert_uint_eq(series_in(dom, "throughput"), 3);
    ck_assert_uint_eq(series_in(dom, "latency-over-time"), ok_run ? 2 : 0);
    ck_assert_uint_eq(series_in(dom, "spectrum"), latency_kinds(summary));
    ck_assert(strstr(dom, "data-series=\"msgs_failed\"") != NULL);
    ck_assert(strstr(dom, "data-series=\"message\"") != NULL || !ok_run);

    /* errors: each status other than 200, each errors.jsonl line with its examples */
    const char *code;
    json_t *n;
    size_t statuses = 0;
    json_object_foreach(json_object_get(json_object_get(summary, "messages"), "by_status"), code,
                        n) {
        if (strcmp(code, "200") == 0)
            continue;
        char needle[128];
        snprintf(needle, sizeof needle,
                 "<tr data-status=\"%s\"><th>status %s</th><td class=\"num\">%lld</td>", code,
                 code, (long long)json_integer_value(n));
        ck_assert_msg(strstr(dom, needle) != NULL, "%s: no %s", dir, needle);
        statuses++;
    }
    ck_assert_uint_eq(count(dom, "<tr data-status="), statuses);
    char name[128];
    snprintf(name, sizeof name, "%s/errors.jsonl", dir);
    char *errors = slurp(t, name), *save = NULL;
    size_t lines = 0, examples = 0;
    for (char *l = strtok_r(errors, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(l, 0, NULL);
        ck_assert_ptr_nonnull(j);
        char needle[200];
        snprintf(needle, sizeof needle, "<tr class=\"failure\" data-kind=\"%s\">",
                 json_string_value(json_object_get(j, "kind")));
        ck_assert_msg(strstr(dom, needle) != NULL, "%s: no row %s", dir, needle);
        examples += json_array_size(json_object_get(j, "examples"));
        lines++;
        json_decref(j);
    }
    free(errors);
    ck_assert_uint_eq(count(dom, "<tr class=\"failure\""), lines);
    ck_assert_uint_eq(count(dom, "<details class=\"example\">"), examples);
    ck_assert(ok_run ? strstr(dom, "id=\"no-failures\"") != NULL || lines > 0 : lines > 0);
    /* the configuration as run */
    ck_assert(strstr(dom, "<pre id=\"config\">{\n  \"threads\"") != NULL);
    json_decref(summary);
    free(dom);
}

START_TEST(test_report_html_in_browser)
{
    struct tmp t;
    tmp_make(&t);
    char path[300], cmd[1200];
    snprintf(path, sizeof path, "%s/refused.json", t.dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(refused_json, f);
    ck_assert_int_eq(fclose(f), 0);
    /* a run whose every message fails (exit 1: its expectations failed) */
    snprintf(cmd, sizeof cmd, "%s run %s --quiet --threads 1 --out %s/bad", msrpload_binary(),
             path, t.dir);
    ck_assert_int_eq(sh(&t, cmd), 1);
    /* a run that succeeds, with a warm-up second */
    snprintf(cmd, sizeof cmd,
             "%s run scenarios/quickstart.json --quiet --threads 1 --sessions 4 --duration 2 "
             "--out %s/good",
             msrpload_binary(), t.dir);
    ck_assert_int_eq(sh(&t, cmd), 0);
    snprintf(cmd, sizeof cmd, "%s merge %s/good %s/bad --out %s/m", msrpload_binary(), t.dir,
             t.dir, t.dir);
    ck_assert_int_eq(sh(&t, cmd), 0);

    check_file(&t, "bad");
    check_file(&t, "good");
    check_file(&t, "m");
    char *bad = slurp(&t, "bad/report.html");
    ck_assert(strstr(bad, "486 &lt;b&gt;busy&lt;/b&gt; &amp; &#39;co&#39;") != NULL);
    ck_assert(strstr(bad, "<b>busy</b>") == NULL);
    free(bad);
    /* the per-second latency behind the page merges exactly: sums add, the maximum is the
     * largest */
    ck_assert(csv_column(&t, "good", "msg_latency_sum_us", false) > 0);
    ck_assert_uint_eq(csv_column(&t, "m", "msg_latency_sum_us", false),
                      csv_column(&t, "good", "msg_latency_sum_us", false) +
                          csv_column(&t, "bad", "msg_latency_sum_us", false));
    unsigned long long mg = csv_column(&t, "good", "msg_latency_max_us", true),
                       mb = csv_column(&t, "bad", "msg_latency_max_us", true);
    ck_assert_uint_eq(csv_column(&t, "m", "msg_latency_max_us", true), mg > mb ? mg : mb);

    char chromium[512];
    if (browser_skip("test_report_html_in_browser", chromium, sizeof chromium)) {
        tmp_remove(&t);
        return;
    }
    check_page(&t, chromium, "bad", false);
    check_page(&t, chromium, "good", true);
    check_page(&t, chromium, "m", true);
    /* the merge names its inputs, and each failure row the run it came from */
    snprintf(path, sizeof path, "%s/m/report.html", t.dir);
    char *dom = browser_dump_dom(chromium, path);
    snprintf(cmd, sizeof cmd, "<code>%s/good</code>, <code>%s/bad</code>", t.dir, t.dir);
    ck_assert_msg(strstr(dom, cmd) != NULL, "%.2000s", dom);
    snprintf(cmd, sizeof cmd, "<small>from %s/bad</small>", t.dir);
    ck_assert(strstr(dom, cmd) != NULL);
    ck_assert(strstr(dom, "&lt;b&gt;busy") == NULL); /* the first run's scenario describes it */
    free(dom);
    /* a screenshot, as a user would see the merged page */
    snprintf(cmd, sizeof cmd, "%s/m.png", t.dir);
    browser_screenshot(chromium, path, cmd, 1100, 1600);
    size_t len;
    char *png = read_file(cmd, &len);
    ck_assert(len > 24);
    unsigned w = (unsigned)(unsigned char)png[16] << 24 | (unsigned)(unsigned char)png[17] << 16 |
                 (unsigned)(unsigned char)png[18] << 8 | (unsigned char)png[19];
    ck_assert_uint_eq(w, 1100); /* IHDR: the width asked for */
    free(png);
    tmp_remove(&t);
}
END_TEST

/* Every text from outside escaped (scenario, configuration, first error, an errors.jsonl line
 * of a peer's bytes; a line that is not JSON left out), and a 4000-second series drawn in
 * groups of 3 seconds. */
START_TEST(test_report_html_escapes_and_groups)
{
    struct run_stats st;
    ck_assert_int_eq(stats_init(&st), 0);
    ck_assert_ptr_nonnull(stats_second_at(&st, 3999));
    st.series[0] = (struct stats_second){.msgs_ok = 3, .msgs_sent = 3,
                                         .msg_latency_sum_us = 300, .msg_latency_max_us = 500};
    st.series[3999].msgs_failed = 9;
    st.msgs_ok = 3;
    st.expect_failures = 1;
    for (uint64_t us = 100; us <= 500; us += 200)
        histogram_record(&st.lat[LAT_MESSAGE], us);
    static const char errors[] =
        "{\"kind\":\"x\\\"<y\",\"count\":2,\"examples\":[{\"t_s\":1.5,\"time\":\"T\","
        "\"session\":\"<s>\",\"peer\":\"p\",\"detail\":\"<d> & 'q'\",\"frames\":[{\"dir\":"
        "\"in\",\"t_s\":1,\"len\":5,\"end\":\"$\",\"head\":\"MSRP <h>\\r\\n\","
        "\"head_cut\":false}]}]}\nnot JSON <at all>\n";
    static const char scenario[] = "{\"x\": \"</pre><script>\"}";
    struct report_meta m = {
        .scenario_name = "<name>",
        .scenario_file = "f&.json",
        .scenario_description = "a \"b\"",
        .scenario_text = scenario,
        .scenario_text_len = sizeof(scenario) - 1,
        .config_json = "{\"k\": \"</pre><script>alert(1)</script>\"}",
        .measured_s = 4000,
        .elapsed_s = 4000,
        .first_error = "<err>",
        .version = "v<1>",
        .end_names = {"closed"},
        .errors_jsonl = errors,
        .errors_jsonl_len = sizeof(errors) - 1,
    };
    size_t len;
    char *html = report_html(&st, &m, &len);
    ck_assert_ptr_nonnull(html);
    ck_assert_uint_eq(strlen(html), len);
    static const char *const never[] = {"<script", "<name>", "<err>", "<s>", "<d>", "<h>",
                                        "v<1>", "<y", "<at all>"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        ck_assert_msg(strstr(html, never[i]) == NULL, "%s unescaped", never[i]);
    static const char *const want[] = {
        "<title>msrpload report: &lt;name&gt;</title>", "(first: &lt;err&gt;)",
        "f&amp;.json", "a &quot;b&quot;", "<tr class=\"failure\" data-kind=\"x&quot;&lt;y\">",
        "1.500 s: &lt;d&gt; &amp; &#39;q&#39;</summary>", "MSRP &lt;h&gt;",
        "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;", "id=\"scenario\">{&quot;x&quot;",
        "<p id=\"series-grouped\">Each point covers 3 seconds of the 4000:"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(html, want[i]) != NULL, "no %s", want[i]);
    ck_assert_uint_eq(count(html, "<tr class=\"failure\""), 1);
    /* 1334 points of 3 seconds, two coordinates each: M, then 2667 L */
    char *path = element(html, "<path class=\"series\" data-series=\"msgs_ok\"", "/>");
    ck_assert_ptr_nonnull(path);
    ck_assert_uint_eq(count(path, " L"), 2 * 1334 - 1);
    free(path);
    ck_assert_uint_eq(series_in(html, "spectrum"), 1);
    ck_assert_uint_eq(series_in(html, "latency-over-time"), 2);
    free(html);
    stats_free(&st);

    /* nothing at all: each part says so */
    ck_assert_int_eq(stats_init(&st), 0);
    struct report_meta empty = {.scenario_name = "e", .end_names = {"closed"}};
    html = report_html(&st, &empty, &len);
    ck_assert_ptr_nonnull(html);
    ck_assert(strstr(html, "id=\"no-series\"") != NULL);
    ck_assert(strstr(html, "id=\"no-spectrum\"") != NULL);
    ck_assert(strstr(html, "id=\"no-failures\"") != NULL);
    ck_assert(strstr(html, "<pre id=\"config\"></pre>") != NULL);
    free(html);
    stats_free(&st);
}
END_TEST

Suite *make_report_html_suite(void)
{
    Suite *s = suite_create("report_html");
    TCase *tc = tcase_create("page");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_report_html_in_browser);
    tcase_add_test(tc, test_report_html_escapes_and_groups);
    suite_add_tcase(s, tc);
    return s;
}
