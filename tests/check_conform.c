/*
 * check_conform.c - the conformance suite proves itself: every case passes against
 * msrpload's own `serve`, and every case fails against a `serve --violate NAME` that breaks
 * exactly the rule the case checks (its "wrong_peer"), so no case passes by accident. The
 * relay cases do the same against tests/fake_relay.c (correct, then with the case's
 * violation), and run against a real Kamailio relay (tests/testutil.c: installed as root
 * when missing, else a counted skip with its reason; a failure under REQUIRE_RELAY=1). Every
 * serve listens on a port the kernel picks, and is ready once it has printed its URI.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_relay.h"
#include "load/scenario.h"
#include "suites.h"
#include "testutil.h"

/* serve on a port the kernel picks, answering session s1, with an optional violation. */
static void start_serve(struct test_serve *sv, const char *violate)
{
    const char *plain[] = {"--session-id", "s1", NULL};
    const char *broken[] = {"--session-id", "s1", "--violate", violate, NULL};
    test_serve_start(sv, violate != NULL ? broken : plain);
}

/* A whole file as a NUL-terminated string (read_file's buffer has no NUL). */
static char *read_text(const char *path)
{
    size_t len;
    char *raw = read_file(path, &len);
    char *s = strndup(raw, len);
    ck_assert_ptr_nonnull(s);
    free(raw);
    return s;
}

/* Runs a shell command, returns its exit code. */
static int run(const char *cmd)
{
    int st = system(cmd);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

START_TEST(test_all_pass_against_serve)
{
    struct test_serve sv;
    start_serve(&sv, NULL);
    struct tmp t;
    tmp_make(&t);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s conform --strict --target 'msrp://127.0.0.1:%u/s1;tcp' --junit %s/j.xml "
             "--json %s/r.json --tap > %s/out.tap",
             msrpload_binary(), (unsigned)sv.port, t.dir, t.dir, t.dir);
    int rc = run(cmd);
    test_serve_stop(&sv);
    char path[128];
    snprintf(path, sizeof path, "%s/out.tap", t.dir);
    char *tap = read_text(path);
    if (rc != 0)
        fprintf(stderr, "%s\n", tap);
    ck_assert_int_eq(rc, 0);
    ck_assert(strstr(tap, "TAP version 13") != NULL);
    ck_assert(strstr(tap, "not ok") == NULL);
    ck_assert(strstr(tap, "ok 1 - 4975-") != NULL);
    free(tap);
    snprintf(path, sizeof path, "%s/j.xml", t.dir);
    char *xml = read_text(path);
    ck_assert(strstr(xml, "<testsuite name=\"RFC 4975-7.2\"") != NULL);
    ck_assert(strstr(xml, "<failure") == NULL);
    free(xml);
    tmp_remove(&t);
}
END_TEST

/* Every target case, against the wrong peer made for it, must fail (exit 1). */
START_TEST(test_each_case_fails_against_its_wrong_peer)
{
    FILE *ls = popen("ls scenarios/conformance/4975-*.json", "r");
    ck_assert_ptr_nonnull(ls);
    char file[512];
    int checked = 0;
    while (fgets(file, sizeof file, ls) != NULL) {
        file[strcspn(file, "\n")] = '\0';
        struct scenario sc;
        char err[512];
        ck_assert_msg(scenario_load(file, &sc, err, sizeof err) == 0, "%s", err);
        ck_assert_msg(sc.kase->wrong_peer[0] != '\0', "%s has no wrong_peer", file);
        struct test_serve sv;
        start_serve(&sv, sc.kase->wrong_peer);
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "%s conform --strict --target 'msrp://127.0.0.1:%u/s1;tcp' --case '%s' "
                 ">/dev/null 2>&1",
                 msrpload_binary(), (unsigned)sv.port, sc.kase->id);
        int rc = run(cmd);
        test_serve_stop(&sv);
        ck_assert_msg(rc == 1, "%s passed (exit %d) against serve --violate %s", sc.kase->id,
                      rc, sc.kase->wrong_peer);
        scenario_free(&sc);
        checked++;
    }
    pclose(ls);
    ck_assert_int_ge(checked, 20);
}
END_TEST

/* Runs conform against the fake relay with the alice credentials; returns the exit code. */
static int conform_relay(uint16_t port, const char *cases, const char *outfile)
{
    struct tmp t;
    tmp_make(&t);
    char pw[128], cmd[1024];
    snprintf(pw, sizeof pw, "%s/pw", t.dir);
    FILE *f = fopen(pw, "w");
    ck_assert_ptr_nonnull(f);
    fputs("alice-secret\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "%s conform --strict --relay 'msrp://127.0.0.1:%u;tcp' --relay-user alice "
             "--relay-password-file %s --case '%s' > %s 2>&1",
             msrpload_binary(), (unsigned)port, pw, cases, outfile);
    int rc = run(cmd);
    tmp_remove(&t);
    return rc;
}

/* The whole relay suite passes against the fake relay when it breaks no rule. */
START_TEST(test_relay_cases_pass_against_fake_relay)
{
    uint16_t port = 0;
    pid_t pid = fake_relay_start(NULL, &port);
    ck_assert_int_gt(pid, 0);
    struct tmp t;
    tmp_make(&t);
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", t.dir);
    int rc = conform_relay(port, "4976-", path);
    fake_relay_stop(pid);
    char *out = read_text(path);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    int passed = 0;
    for (const char *q = out; (q = strstr(q, "pass  4976-")) != NULL; q++)
        passed++;
    ck_assert_msg(passed == 12, "%d relay cases passed:\n%s", passed, out);
    ck_assert(strstr(out, "fail  ") == NULL);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* Every relay case, against the fake relay breaking exactly its rule, must fail (exit 1). */
START_TEST(test_each_relay_case_fails_against_its_wrong_relay)
{
    FILE *ls = popen("ls scenarios/conformance/4976-*.json", "r");
    ck_assert_ptr_nonnull(ls);
    char file[512];
    int checked = 0;
    struct tmp t;
    tmp_make(&t);
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", t.dir);
    while (fgets(file, sizeof file, ls) != NULL) {
        file[strcspn(file, "\n")] = '\0';
        struct scenario sc;
        char err[512];
        ck_assert_msg(scenario_load(file, &sc, err, sizeof err) == 0, "%s", err);
        ck_assert_msg(fake_relay_known_violation(sc.kase->wrong_peer),
                      "%s: wrong_peer \"%s\" is not a fake relay violation", file,
                      sc.kase->wrong_peer);
        uint16_t port = 0;
        pid_t pid = fake_relay_start(sc.kase->wrong_peer, &port);
        ck_assert_int_gt(pid, 0);
        int rc = conform_relay(port, sc.kase->id, path);
        fake_relay_stop(pid);
        char *out = read_text(path);
        /* Exit 1 and a fail line for this case: not exit 3 from a set-up that broke. */
        char want[160];
        snprintf(want, sizeof want, "fail  %s", sc.kase->id);
        ck_assert_msg(rc == 1 && strstr(out, want) != NULL,
                      "%s: exit %d against the fake relay with %s:\n%s", sc.kase->id, rc,
                      sc.kase->wrong_peer, out);
        free(out);
        scenario_free(&sc);
        checked++;
    }
    pclose(ls);
    tmp_remove(&t);
    ck_assert_int_eq(checked, 12);
}
END_TEST

START_TEST(test_usage_and_list)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s conform >/dev/null 2>&1", msrpload_binary());
    ck_assert_int_eq(run(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s conform --list | grep -q '^4976-5.1/auth-required'",
             msrpload_binary());
    ck_assert_int_eq(run(cmd), 0);
    /* Nothing listens there: exit 3. */
    snprintf(cmd, sizeof cmd,
             "%s conform --target 'msrp://127.0.0.1:9/x;tcp' --case 4975-7.2/response-tid "
             ">/dev/null 2>&1",
             msrpload_binary());
    ck_assert_int_eq(run(cmd), 3);
    /* A case file's conformance keys are refused in a load scenario. */
    struct scenario sc;
    char err[512];
    const char *text = "{\"name\":\"x\",\"steps\":[{\"raw\":{\"template\":\"{relay_uri}\"}}]}";
    ck_assert_int_eq(scenario_parse("t.json", text, strlen(text), &sc, err, sizeof err), -1);
    ck_assert(strstr(err, "only allowed in conformance case files") != NULL);
}
END_TEST

/* The relay cases against Kamailio: the results docs/interop.md describes. */
START_TEST(test_relay_cases_against_kamailio)
{
    struct test_relay relay;
    test_relay_start(&relay, false, "");
    if (test_relay_skip(&relay, "conform relay_cases_against_kamailio"))
        return;
    struct tmp t;
    tmp_make(&t);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "echo alice-secret > %s/pw && %s conform --relay '%s' --relay-user alice "
             "--relay-password-file %s/pw --case 4976- > %s/out.txt 2>&1",
             t.dir, msrpload_binary(), relay.uri, t.dir, t.dir);
    int rc = run(cmd);
    test_relay_stop(&relay);
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", t.dir);
    char *out = read_text(path);
    /* What docs/interop.md records: these pass, and the relay generates no failure REPORT. */
    ck_assert_msg(strstr(out, "pass  4976-7.3/use-path") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "pass  4976-7.4/relayed-unchanged") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "pass  4976-7.3/digest-challenge") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "fail  4976-7.5/failure-reported-back") != NULL, "%s", out);
    ck_assert_int_eq(rc, 1);
    free(out);
    tmp_remove(&t);
}
END_TEST

Suite *make_conform_suite(void)
{
    Suite *s = suite_create("conform");
    TCase *tc = tcase_create("Core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_usage_and_list);
    tcase_add_test(tc, test_all_pass_against_serve);
    tcase_add_test(tc, test_each_case_fails_against_its_wrong_peer);
    tcase_add_test(tc, test_relay_cases_pass_against_fake_relay);
    tcase_add_test(tc, test_each_relay_case_fails_against_its_wrong_relay);
    tcase_add_test(tc, test_relay_cases_against_kamailio);
    suite_add_tcase(s, tc);
    return s;
}
