/*
 * check_conform_report.c - expected results for CI and the matrix of implementations (issue
 * 15): the --expect round trip against msrpload's own serve (write, re-run unchanged: exit 0;
 * break one behaviour with serve --violate: exit 1 naming the case as regressed; fix it: exit
 * 1 naming it as newly passing), the expectations file's errors, aliases and unknown ids, and
 * the conform-report HTML page loaded in a real headless Chromium (browser_testutil.h: a
 * visible skip where it is absent, a failure under REQUIRE_BROWSER=1), its DOM checked.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "browser_testutil.h"
#include "suites.h"
#include "testutil.h"

/* Three quick cases; the one broken is 4975-12/501-unknown-method, whose wrong peer (serve
 * --violate no-501) breaks it alone. */
#define CASES "4975-12/ --case 4975-9/"
#define BROKEN "4975-12/501-unknown-method"
#define VIOLATION "no-501"

static void serve_start(struct test_serve *sv, const char *violate)
{
    const char *plain[] = {"--session-id", "s1", NULL};
    const char *broken[] = {"--session-id", "s1", "--violate", violate, NULL};
    test_serve_start(sv, violate != NULL ? broken : plain);
}

/* Runs `msrpload conform --target <serve> --case CASES EXTRA` (extra: quoted already) against
 * a serve with violate (or none); returns the exit code, the output in *out (malloc'd). */
static int conform(const struct tmp *t, const char *violate, const char *extra, char **out)
{
    struct test_serve sv;
    serve_start(&sv, violate);
    char cmd[2048], path[128];
    snprintf(path, sizeof path, "%s/out.txt", t->dir);
    snprintf(cmd, sizeof cmd, "%s conform --target 'msrp://127.0.0.1:%u/s1;tcp' --case %s %s "
                              "> %s 2>&1",
             msrpload_binary(), (unsigned)sv.port, CASES, extra, path);
    int st = system(cmd);
    test_serve_stop(&sv);
    ck_assert(WIFEXITED(st));
    *out = test_read_text(path);
    return WEXITSTATUS(st);
}

START_TEST(test_expect_round_trip)
{
    struct tmp t;
    tmp_make(&t);
    char extra[512], *out;
    /* write the starting file */
    snprintf(extra, sizeof extra, "--write-expect %s/good.txt", t.dir);
    ck_assert_int_eq(conform(&t, NULL, extra, &out), 0);
    free(out);
    /* re-run unchanged: every verdict as expected */
    snprintf(extra, sizeof extra, "--expect %s/good.txt --write-expect %s/broken.txt", t.dir,
             t.dir);
    int rc = conform(&t, NULL, extra, &out);
    ck_assert_msg(rc == 0 && strstr(out, "3 as expected, 0 regressed, 0 newly passing") != NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    /* break one behaviour: exit 1, the case named as regressed */
    snprintf(extra, sizeof extra, "--expect %s/good.txt --write-expect %s/broken.txt", t.dir,
             t.dir);
    rc = conform(&t, VIOLATION, extra, &out);
    ck_assert_msg(rc == 1 && strstr(out, "1 regressed, 0 newly passing") != NULL &&
                      strstr(out, "\nregressed:\n  " BROKEN ": expected pass (line ") != NULL &&
                      strstr(out, "now fail") != NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    /* recorded broken, the same broken run matches: a known failure does not fail CI */
    snprintf(extra, sizeof extra, "--expect %s/broken.txt", t.dir);
    rc = conform(&t, VIOLATION, extra, &out);
    ck_assert_msg(rc == 0 && strstr(out, "3 as expected") != NULL &&
                      strstr(out, "1 failed") != NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    /* fix it: exit 1, the case named as newly passing, so that the fix can be recorded */
    rc = conform(&t, NULL, extra, &out);
    ck_assert_msg(rc == 1 && strstr(out, "0 regressed, 1 newly passing") != NULL &&
                      strstr(out, "\nnewly passing (record the fix: conform --write-expect):\n"
                                  "  " BROKEN ": expected fail (line ") != NULL &&
                      strstr(out, "now pass") != NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* The file's forms: aliases resolve to current ids, unknown ids and cases the file lacks are
 * reported without changing the exit code, JSON (also a --json results file) is read, and
 * errors name the file and line. */
START_TEST(test_expect_file_forms_and_errors)
{
    struct tmp t;
    tmp_make(&t);
    char path[256], extra[512], *out;
    snprintf(path, sizeof path, "%s/e.txt", t.dir);
    test_write_text(path, "# comment\n\n4975-7.3/501-unknown-method pass # an old id\n"
                     "4975-12/unknown-header-ignored   pass\nno-such/case fail # a typo\n");
    snprintf(extra, sizeof extra, "--expect %s --json %s/r.json --name 'serve <1>'", path, t.dir);
    int rc = conform(&t, NULL, extra, &out);
    ck_assert_msg(rc == 0 && strstr(out, "2 as expected") != NULL &&
                      strstr(out, "1 not in the file, 1 unknown ids") != NULL &&
                      strstr(out, "  4975-9/header-names-any-case: now pass") != NULL &&
                      strstr(out, ":5: no-such/case") != NULL &&
                      strstr(out, ":3: 4975-7.3/501-unknown-method is an old id of "
                                  "4975-12/501-unknown-method") != NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    /* a results file of conform --json is an expectations file as it is */
    snprintf(extra, sizeof extra, "--expect %s/r.json", t.dir);
    rc = conform(&t, NULL, extra, &out);
    ck_assert_msg(rc == 0 && strstr(out, "3 as expected") != NULL, "exit %d:\n%s", rc, out);
    free(out);
    /* the JSON form; a verdict that is not one names the file and line */
    snprintf(path, sizeof path, "%s/e.json", t.dir);
    test_write_text(path,
                    " {\"expect\": [{\"id\": \"4975-12/501-unknown-method\", "
                    "\"verdict\": \"fail\"}]}");
    snprintf(extra, sizeof extra, "--expect %s", path);
    rc = conform(&t, NULL, extra, &out);
    ck_assert_msg(rc == 1 && strstr(out, "1 newly passing") != NULL, "exit %d:\n%s", rc, out);
    free(out);
    snprintf(path, sizeof path, "%s/bad.txt", t.dir);
    test_write_text(path,
                    "4975-12/501-unknown-method pass\n\n"
                    "4975-9/header-names-any-case passed # typo\n");
    snprintf(extra, sizeof extra, "--expect %s", path);
    rc = conform(&t, NULL, extra, &out);
    ck_assert_msg(rc == 2 && strstr(out, "bad.txt:3: unknown verdict 'passed'") != NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    test_write_text(path, "4975-12/501-unknown-method pass\n4975-7.3/501-unknown-method fail\n");
    rc = conform(&t, NULL, extra, &out);
    ck_assert_msg(rc == 2 && strstr(out, "bad.txt:2: ") != NULL &&
                      strstr(out, "already named on line 1") != NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    test_write_text(path, "4975-12/501-unknown-method\n");
    rc = conform(&t, NULL, extra, &out);
    ck_assert_msg(rc == 2 && strstr(out, "bad.txt:1: expected \"CASE-ID VERDICT") != NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* Occurrences of needle in hay. */
static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Two implementations (serve, and serve breaking response-tid under a name with markup) as
 * one matrix, in Markdown, and in HTML loaded by headless Chromium: one cell per case and
 * implementation, the verdict classes, a cell's <details> holding its wire exchange, the
 * peer's text escaped, the summary row; a screenshot into the test's folder. */
START_TEST(test_matrix_in_browser)
{
    char chromium[512];
    struct tmp t;
    tmp_make(&t);
    char extra[512], *out, cmd[2048];
    snprintf(extra, sizeof extra, "--json %s/good.json --name serve", t.dir);
    ck_assert_int_eq(conform(&t, NULL, extra, &out), 0);
    free(out);
    snprintf(extra, sizeof extra, "--json %s/bad.json --name '<b>broken</b> & co'", t.dir);
    ck_assert_int_eq(conform(&t, VIOLATION, extra, &out), 1);
    free(out);
    snprintf(cmd, sizeof cmd,
             "%s conform-report %s/good.json %s/bad.json --html %s/m.html --markdown %s/m.md",
             msrpload_binary(), t.dir, t.dir, t.dir, t.dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/good.json", t.dir);
    json_t *good = json_load_file(cmd, 0, NULL);
    ck_assert_ptr_nonnull(good);
    size_t rows = json_array_size(json_object_get(good, "cases"));
    json_decref(good);
    ck_assert_uint_eq(rows, 3);

    size_t len;
    snprintf(cmd, sizeof cmd, "%s/m.md", t.dir);
    char *raw = read_file(cmd, &len), *md = strndup(raw, len);
    free(raw);
    ck_assert_msg(strstr(md, "| summary | serve | &lt;b&gt;broken&lt;/b&gt; &amp; co |") != NULL &&
                      strstr(md, "| pass | 3 | 2 |") != NULL &&
                      strstr(md, "| fail | 0 | 1 |") != NULL &&
                      strstr(md, "| 4975-12/501-unknown-method | MUST | ") != NULL &&
                      strstr(md, "| pass | fail |") != NULL,
                  "%s", md);
    free(md);

    if (browser_skip("test_matrix_in_browser", chromium, sizeof chromium)) {
        tmp_remove(&t);
        return;
    }
    snprintf(cmd, sizeof cmd, "%s/m.html", t.dir);
    char *dom = browser_dump_dom(chromium, cmd);
    ck_assert_msg(count(dom, "<td class=\"cell ") == rows * 2, "%zu cells:\n%.3000s",
                  count(dom, "<td class=\"cell "), dom);
    ck_assert_uint_eq(count(dom, "<td class=\"cell v-pass\">"), 5);
    ck_assert_uint_eq(count(dom, "<td class=\"cell v-fail\">"), 1);
    ck_assert_uint_eq(count(dom, "<details>"), rows * 2);
    ck_assert_uint_eq(count(dom, "<tr class=\"section\">"), 2);
    /* the failed cell opens its observation and wire exchange */
    const char *fail = strstr(dom, "<td class=\"cell v-fail\"><details><summary>fail</summary>");
    ck_assert_msg(fail != NULL, "%.3000s", dom);
    const char *end = strstr(fail, "</details>");
    const char *wire = strstr(fail, "<pre class=\"wire\">");
    ck_assert(end != NULL && wire != NULL && wire < end);
    const char *send = strstr(wire, "a&gt; MSRP ");
    ck_assert_msg(send != NULL && send < end, "%.2000s", fail);
    /* the peer's name is text, not markup */
    ck_assert(strstr(dom, "&lt;b&gt;broken&lt;/b&gt; &amp; co") != NULL);
    ck_assert(strstr(dom, "<b>broken</b>") == NULL);
    ck_assert(strstr(dom, "<span class=\"n-pass\">2 pass</span>, <span class=\"n-fail\">1 "
                          "fail</span>") != NULL);
    free(dom);
    snprintf(extra, sizeof extra, "%s/m.png", t.dir);
    browser_screenshot(chromium, cmd, extra, 1200, 800);
    tmp_remove(&t);
}
END_TEST

Suite *make_conform_report_suite(void)
{
    Suite *s = suite_create("conform_report");
    TCase *tc = tcase_create("expect_and_matrix");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_expect_round_trip);
    tcase_add_test(tc, test_expect_file_forms_and_errors);
    tcase_add_test(tc, test_matrix_in_browser);
    suite_add_tcase(s, tc);
    return s;
}
