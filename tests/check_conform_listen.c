/*
 * check_conform_listen.c - `msrpload conform --listen`, the client cases (needs "client"):
 * msrpload's own calling side (tools/conform-client.sh running `msrpload run --target`)
 * passes every client case, and fails each one when run's hidden --violate breaks the rule the
 * case names as its wrong_peer, so no client case passes by accident. Also: a template without
 * a placeholder a case needs skips it saying which; a command that never connects is a skip
 * with its exit code, not a hang; the passive mode (no --client-cmd) judges one connection;
 * the options that go only with --listen are refused without it.
 *
 * conform runs as a child process (port 0: the kernel picks it; the client command is handed
 * the URI). Every wait is bounded: the cases' own timeouts and the suite's test timeout.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scenario/scenario.h"
#include "suites.h"
#include "testutil.h"

#define CLIENT_CMD "tools/conform-client.sh {uri} {file} {chunk_size} {success_report}"

/* Runs `msrpload conform --listen 127.0.0.1:0 EXTRA` (EXTRA is shell text), its output in
 * *out (malloc'd); returns the exit code. */
static int conform_listen(const struct tmp *t, const char *extra, char **out)
{
    char cmd[2048], path[160];
    snprintf(path, sizeof path, "%s/out.txt", t->dir);
    int n = snprintf(cmd, sizeof cmd, "MSRPLOAD_BIN='%s' %s conform --listen 127.0.0.1:0 %s > %s 2>&1",
                     msrpload_binary(), msrpload_binary(), extra, path);
    ck_assert_int_lt(n, (int)sizeof cmd);
    int rc = test_run_shell(cmd);
    *out = test_read_text(path);
    return rc;
}

START_TEST(test_own_client_passes_every_case)
{
    struct tmp t;
    tmp_make(&t);
    char *out, extra[600];
    snprintf(extra, sizeof extra, "--client-cmd '%s' --json %s/r.json", CLIENT_CMD, t.dir);
    int rc = conform_listen(&t, extra, &out);
    struct scenario *sc = calloc(64, sizeof(*sc));
    ck_assert_ptr_nonnull(sc);
    size_t n = test_conform_client_cases(sc, 64, false);
    ck_assert_int_ge(n, 11);
    for (size_t i = 0; i < n; i++) {
        char want[160];
        snprintf(want, sizeof want, "pass  %s", sc[i].kase->id);
        const char *at = strstr(out, want);
        /* the line ends there, or goes on with the level: " (no keyword)" */
        ck_assert_msg(at != NULL && (at[strlen(want)] == '\n' || at[strlen(want)] == ' '),
                      "no '%s' in:\n%s", want, out);
        scenario_free(&sc[i]);
    }
    free(sc);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    /* Only client cases run here: no target or relay case appears. */
    ck_assert_ptr_null(strstr(out, "4975-7.2/response-tid"));
    char path[160];
    snprintf(path, sizeof path, "%s/r.json", t.dir);
    char *json = test_read_text(path);
    ck_assert_ptr_nonnull(strstr(json, "\"4975-7.1.1/client-byte-range\""));
    ck_assert_ptr_nonnull(strstr(json, "client at 127.0.0.1:"));
    free(json);
    free(out);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_each_case_fails_with_its_violation)
{
    struct scenario *sc = calloc(64, sizeof(*sc));
    ck_assert_ptr_nonnull(sc);
    size_t n = test_conform_client_cases(sc, 64, false);
    ck_assert_int_ge(n, 11);
    for (size_t i = 0; i < n; i++) {
        const struct scenario_case *k = sc[i].kase;
        ck_assert_msg(k->wrong_peer[0] != '\0', "%s has no wrong_peer", k->id);
        struct tmp t;
        tmp_make(&t);
        char *out, extra[600], want[160];
        snprintf(extra, sizeof extra, "--case %s --client-cmd '%s %s'", k->id, CLIENT_CMD,
                 k->wrong_peer);
        int rc = conform_listen(&t, extra, &out);
        /* The verdict of the case's level: fail (exit 1) for a MUST, non-strict for a SHOULD
         * and info for a MAY or no keyword (exit 0 without --strict). */
        const char *verdict = k->level == CASE_MUST     ? "fail"
                              : k->level == CASE_SHOULD ? "non-strict"
                                                        : "info";
        snprintf(want, sizeof want, "%s  %s", verdict, k->id);
        ck_assert_msg(rc == (k->level == CASE_MUST ? 1 : 0) && strstr(out, want) != NULL,
                      "%s with run --violate %s: exit %d, wanted '%s' in:\n%s", k->id,
                      k->wrong_peer, rc, want, out);
        /* The failure names the requirement it broke. */
        ck_assert_msg(strstr(out, k->requirements[0]) != NULL || k->num_requirements > 1,
                      "%s: the failure does not name %s:\n%s", k->id, k->requirements[0], out);
        free(out);
        tmp_remove(&t);
        scenario_free(&sc[i]);
    }
    free(sc);
}
END_TEST

START_TEST(test_template_without_placeholder_skips)
{
    struct tmp t;
    tmp_make(&t);
    char *out;
    int rc = conform_listen(&t,
                            "--case 4975-7.1.1/client-byte-range --case 4975-7.1.1/client-same "
                            "--client-cmd 'tools/conform-client.sh {uri} {file} 2048 absent'",
                            &out);
    ck_assert_msg(rc == 0 && strstr(out, "skip  4975-7.1.1/client-byte-range: the --client-cmd "
                                         "template has no {chunk_size}") != NULL,
                  "exit %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "skip  4975-7.1.1/client-same-report-headers: the --client-cmd "
                              "template has no {chunk_size}") != NULL, "%s", out);
    free(out);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_command_that_never_connects_skips)
{
    struct tmp t;
    tmp_make(&t);
    char *out;
    int rc = conform_listen(&t,
                            "--case 4975-7.1/client-content-type "
                            "--client-cmd 'exit 7; {uri} {file}'",
                            &out);
    ck_assert_msg(rc == 0 && strstr(out, "skip  4975-7.1/client-content-type: the client did not "
                                         "connect: the client command ended (exit code 7)") !=
                                 NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* Without --client-cmd: conform waits for one connection (here msrpload run, started once
 * conform says where it listens) and judges every client case from it. */
START_TEST(test_passive_judges_one_connection)
{
    struct tmp t;
    tmp_make(&t);
    char cmd[1024], out_path[160], body[160];
    snprintf(out_path, sizeof out_path, "%s/out.txt", t.dir);
    snprintf(body, sizeof body, "%s/body.txt", t.dir);
    FILE *f = fopen(body, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 500; i++)
        fputs("passive side, line after line\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "%s conform --listen 127.0.0.1:0 --session-id passive1 --timeout 30 > %s 2>&1 & "
             "echo $!",
             msrpload_binary(), out_path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    int pid = 0;
    ck_assert_int_eq(fscanf(p, "%d", &pid), 1);
    pclose(p);
    /* Its port, from the line it prints first (bounded: 10 s). */
    unsigned port = 0;
    for (int i = 0; i < 200 && port == 0; i++) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        if (access(out_path, R_OK) != 0) {
            nanosleep(&pause, NULL);
            continue;
        }
        char *text = test_read_text(out_path);
        const char *at = strstr(text, "listening on 127.0.0.1 port ");
        if (at != NULL)
            port = (unsigned)atoi(at + strlen("listening on 127.0.0.1 port "));
        free(text);
        if (port == 0) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    ck_assert_uint_gt(port, 0);
    snprintf(cmd, sizeof cmd,
             "MSRPLOAD_BIN='%s' tools/conform-client.sh 'msrp://127.0.0.1:%u/passive1;tcp' %s "
             "1000 yes > /dev/null 2>&1",
             msrpload_binary(), port, body);
    ck_assert_int_eq(test_run_shell(cmd), 0);
    int st = 0;
    for (int i = 0; i < 400 && waitpid(pid, &st, WNOHANG) == 0; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    char *out = test_read_text(out_path);
    ck_assert_msg(strstr(out, "pass  4975-7.1.1/client-byte-range\n") != NULL &&
                      strstr(out, "pass  4975-7.1.1/client-same-report-headers\n") != NULL &&
                      strstr(out, "pass  4975-5.4/client-active-sends-first\n") != NULL,
                  "%s", out);
    /* What the checker would have to drive is skipped, saying so; so is what the one message
     * did not exercise (no chunk over 2048 octets). */
    ck_assert_msg(strstr(out, "skip  4975-10.5/client-stop-after-413: the checker must act in "
                              "this case (it answers 413): it needs --client-cmd") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "skip  4975-7.1.1/client-star-end: not exercised by what the "
                              "client sent: 4975-7.1.1/over-2048-star-end: no chunk had a body "
                              "over 2048 octets") != NULL, "%s", out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* --write-expect and --expect work on client cases as on the others: the same client again is
 * exit 0, the client with the case's violation exit 1 naming the case as regressed. */
START_TEST(test_expect_round_trip)
{
    struct tmp t;
    tmp_make(&t);
    char *out, extra[800];
    snprintf(extra, sizeof extra,
             "--case 4975-7.1/client-content-type --client-cmd '%s' --write-expect %s/x.txt",
             CLIENT_CMD, t.dir);
    int rc = conform_listen(&t, extra, &out);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    free(out);
    snprintf(extra, sizeof extra,
             "--case 4975-7.1/client-content-type --client-cmd '%s' --expect %s/x.txt",
             CLIENT_CMD, t.dir);
    rc = conform_listen(&t, extra, &out);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    free(out);
    snprintf(extra, sizeof extra,
             "--case 4975-7.1/client-content-type --client-cmd '%s send-no-content-type' "
             "--expect %s/x.txt", CLIENT_CMD, t.dir);
    rc = conform_listen(&t, extra, &out);
    ck_assert_msg(rc == 1 && strstr(out, "regressed") != NULL &&
                      strstr(out, "4975-7.1/client-content-type") != NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_listen_options_need_listen)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s conform --target 'msrp://127.0.0.1:9/s;tcp' --client-cmd x "
                              "> /dev/null 2>&1", msrpload_binary());
    ck_assert_int_eq(test_run_shell(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s conform --listen 127.0.0.1:0 --target "
                              "'msrp://127.0.0.1:9/s;tcp' > /dev/null 2>&1", msrpload_binary());
    ck_assert_int_eq(test_run_shell(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s conform --listen nowhere > /dev/null 2>&1", msrpload_binary());
    ck_assert_int_eq(test_run_shell(cmd), 2);
    /* Passive, and nobody connects within --timeout: exit 3, as for an unreachable target. */
    snprintf(cmd, sizeof cmd, "%s conform --listen 127.0.0.1:0 --timeout 1 > /dev/null 2>&1",
             msrpload_binary());
    ck_assert_int_eq(test_run_shell(cmd), 3);
    /* --list --listen lists the client cases, and only them. */
    snprintf(cmd, sizeof cmd, "%s conform --list --listen 127.0.0.1:0 | grep -cE '^[^ ]+ +[A-Za-z]+ +client '",
             msrpload_binary());
    FILE *p = popen(cmd, "r");
    int count = 0;
    ck_assert_int_eq(fscanf(p, "%d", &count), 1);
    pclose(p);
    ck_assert_int_ge(count, 11);
    snprintf(cmd, sizeof cmd, "%s conform --list | grep -qE '^[^ ]+ +[A-Za-z]+ +client '", msrpload_binary());
    ck_assert_int_ne(test_run_shell(cmd), 0);
}
END_TEST

Suite *make_conform_listen_suite(void)
{
    Suite *s = suite_create("conform_listen");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_listen_options_need_listen);
    tcase_add_test(tc, test_template_without_placeholder_skips);
    tcase_add_test(tc, test_command_that_never_connects_skips);
    tcase_add_test(tc, test_own_client_passes_every_case);
    tcase_add_test(tc, test_each_case_fails_with_its_violation);
    tcase_add_test(tc, test_passive_judges_one_connection);
    tcase_add_test(tc, test_expect_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
