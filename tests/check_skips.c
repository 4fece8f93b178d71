/*
 * check_skips.c - the runner's own accounting, seen from outside: this check_runner is run
 * again as a child on the relay suite with RELAY_FORCE_SKIP (the relay kept down as if
 * Kamailio were missing). Its skips must be listed with their reason and counted apart from
 * the passes in the closing "N passed, N failed, N skipped" line, and under REQUIRE_RELAY=1
 * (what CI sets) the same skips must fail instead.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suites.h"
#include "testutil.h"

#define FORCED_REASON "forced by the skips suite"

struct child_run {
    int status; /* exit code, -1 when killed */
    char *out;  /* stdout and stderr together */
};

/* Runs this very runner with env_words (VAR=value ...) in front and the suite selected. */
static struct child_run run_runner(const char *env_words, const char *suite)
{
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    ck_assert_int_gt(n, 0);
    self[n] = '\0';
    struct tmp t;
    tmp_make(&t);
    char cmd[2048];
    /* The parent's selection, logs and REQUIRE_RELAY must not leak into the child. */
    snprintf(cmd, sizeof(cmd),
             "env -u CK_RUN_CASE -u CK_RUN_SUITE -u CK_LOG_FILE_NAME -u CK_XML_LOG_FILE_NAME "
             "-u CK_TAP_LOG_FILE_NAME -u REQUIRE_RELAY -u RELAY_FORCE_SKIP "
             "CK_RUN_SUITE=%s %s timeout 120 '%s' >%s/out 2>&1",
             suite, env_words, self, t.dir);
    int st = system(cmd);
    struct child_run r = {.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1};
    char path[128];
    snprintf(path, sizeof(path), "%s/out", t.dir);
    size_t len;
    char *raw = read_file(path, &len);
    r.out = strndup(raw, len);
    ck_assert_ptr_nonnull(r.out);
    free(raw);
    tmp_remove(&t);
    return r;
}

/* The closing line, which must be the last line of the output and alone on it. */
static void closing_line(const char *out, int *passed, int *failed, int *skipped)
{
    const char *end = out + strlen(out);
    ck_assert_msg(end > out && end[-1] == '\n', "output does not end with a line:\n%s", out);
    const char *start = end - 1;
    while (start > out && start[-1] != '\n')
        start--;
    char tail[16];
    int used = 0;
    ck_assert_msg(sscanf(start, "%d passed, %d failed, %d skipped%n%15s", passed, failed, skipped,
                         &used, tail) == 3 &&
                      start + used == end - 1,
                  "no closing line in:\n%s", out);
}

/* Counts the non-overlapping occurrences of needle in hay. */
static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

START_TEST(forced_relay_skips_are_counted)
{
    struct child_run r = run_runner("RELAY_FORCE_SKIP='" FORCED_REASON "'", "relay");
    int passed, failed, skipped;
    closing_line(r.out, &passed, &failed, &skipped);
    /* The three Kamailio tests are skipped, not passed; the fake relay's tests still run. */
    ck_assert_msg(skipped == 3 && failed == 0 && passed > 0, "%s", r.out);
    ck_assert_msg(r.status == 0, "exit %d:\n%s", r.status, r.out);
    const char *list = strstr(r.out, "skipped tests:\n");
    ck_assert_msg(list != NULL, "no list of skipped tests:\n%s", r.out);
    ck_assert_msg(count_of(list, "RELAY_FORCE_SKIP: " FORCED_REASON "\n") == 3, "%s", r.out);
    ck_assert_ptr_nonnull(strstr(list, "  relay kamailio_ok: "));
    free(r.out);
}
END_TEST

START_TEST(required_relay_fails_instead)
{
    struct child_run r =
        run_runner("REQUIRE_RELAY=1 RELAY_FORCE_SKIP='" FORCED_REASON "'", "relay");
    int passed, failed, skipped;
    closing_line(r.out, &passed, &failed, &skipped);
    ck_assert_msg(skipped == 0 && failed == 3, "%s", r.out);
    ck_assert_msg(r.status == 1, "exit %d:\n%s", r.status, r.out);
    ck_assert_msg(count_of(r.out, "REQUIRE_RELAY=1") >= 3 && strstr(r.out, FORCED_REASON) != NULL,
                  "the failures do not give the reason:\n%s", r.out);
    ck_assert_ptr_null(strstr(r.out, "skipped tests:"));
    free(r.out);
}
END_TEST

START_TEST(nothing_run_is_a_failure)
{
    struct child_run r = run_runner("", "no-such-suite");
    int passed, failed, skipped;
    closing_line(r.out, &passed, &failed, &skipped);
    ck_assert_msg(passed == 0 && failed == 0 && skipped == 0, "%s", r.out);
    ck_assert_msg(r.status == 1, "exit %d:\n%s", r.status, r.out);
    free(r.out);
}
END_TEST

Suite *make_skips_suite(void)
{
    Suite *s = suite_create("skips");
    TCase *tc = tcase_create("Runner");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, forced_relay_skips_are_counted);
    tcase_add_test(tc, required_relay_fails_instead);
    tcase_add_test(tc, nothing_run_is_a_failure);
    suite_add_tcase(s, tc);
    return s;
}
