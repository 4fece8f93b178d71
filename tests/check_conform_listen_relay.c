/*
 * check_conform_listen_relay.c - `msrpload conform --listen --as-relay`, the relay-client
 * cases ("client": {"relay": ...}): msrpload's own relay client (tools/conform-client.sh relay,
 * running `msrpload run` in the relay topology) passes every one, and fails each one when
 * run's hidden --violate breaks the rule the case names as its wrong_peer. Also: the digest
 * answer is really verified (a client with another password fails), the options --as-relay
 * needs are refused without them, a template without {user} skips, and --as-relay runs only
 * the relay-client cases while --listen without it never runs them.
 *
 * conform runs as a child process on port 0 (the kernel picks it; the client command is handed
 * the relay URI). Every wait is bounded: the cases' own timeouts and the suite's test timeout.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msrp/violate.h"
#include "scenario/scenario.h"
#include "wire/values.h"
#include "suites.h"
#include "testutil.h"

#define RELAY_CMD "tools/conform-client.sh relay {uri} {user} {password_file}"

/* Runs `msrpload conform --listen 127.0.0.1:0 --as-relay` with the account relay-user /
 * t->dir/pw (password "relay-secret") and EXTRA (shell text); its output in *out (malloc'd);
 * returns the exit code. */
static int conform_relay(const struct tmp *t, const char *extra, char **out)
{
    char cmd[2048], path[160], pw[160];
    snprintf(path, sizeof path, "%s/out.txt", t->dir);
    snprintf(pw, sizeof pw, "%s/pw", t->dir);
    test_write_text(pw, "relay-secret\n");
    int n = snprintf(cmd, sizeof cmd,
                     "MSRPLOAD_BIN='%s' %s conform --listen 127.0.0.1:0 --as-relay --relay-user "
                     "relay-user --relay-password-file %s %s > %s 2>&1",
                     msrpload_binary(), msrpload_binary(), pw, extra, path);
    ck_assert_int_lt(n, (int)sizeof cmd);
    int rc = test_run_shell(cmd);
    *out = test_read_text(path);
    return rc;
}

START_TEST(test_own_relay_client_passes_every_case)
{
    struct tmp t;
    tmp_make(&t);
    char *out, extra[600];
    snprintf(extra, sizeof extra, "--client-cmd '%s' --json %s/r.json", RELAY_CMD, t.dir);
    int rc = conform_relay(&t, extra, &out);
    struct scenario *sc = calloc(32, sizeof(*sc));
    ck_assert_ptr_nonnull(sc);
    size_t n = test_conform_client_cases(sc, 32, true);
    ck_assert_int_ge(n, 7);
    for (size_t i = 0; i < n; i++) {
        char want[160];
        snprintf(want, sizeof want, "pass  %s", sc[i].kase->id);
        const char *at = strstr(out, want);
        ck_assert_msg(at != NULL && (at[strlen(want)] == '\n' || at[strlen(want)] == ' '),
                      "no '%s' in:\n%s", want, out);
        scenario_free(&sc[i]);
    }
    free(sc);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    char summary[64];
    snprintf(summary, sizeof summary, "%zu cases: %zu passed", n, n);
    ck_assert_msg(strstr(out, summary) != NULL, "%s", out);
    /* Only relay-client cases run with --as-relay: no endpoint client case appears. */
    ck_assert_ptr_null(strstr(out, "4975-7.1.1/client-byte-range"));
    char path[160];
    snprintf(path, sizeof path, "%s/r.json", t.dir);
    char *json = test_read_text(path);
    ck_assert_ptr_nonnull(strstr(json, "\"4976-5.1/client-digest-response\""));
    free(json);
    free(out);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_each_relay_case_fails_with_its_violation)
{
    struct scenario *sc = calloc(32, sizeof(*sc));
    ck_assert_ptr_nonnull(sc);
    size_t n = test_conform_client_cases(sc, 32, true);
    ck_assert_int_ge(n, 7);
    for (size_t i = 0; i < n; i++) {
        const struct scenario_case *k = sc[i].kase;
        ck_assert_msg(k->wrong_peer[0] != '\0', "%s has no wrong_peer", k->id);
        struct tmp t;
        tmp_make(&t);
        char *out, extra[600], want[160];
        snprintf(extra, sizeof extra, "--case %s --client-cmd '%s %s'", k->id, RELAY_CMD,
                 k->wrong_peer);
        int rc = conform_relay(&t, extra, &out);
        const char *verdict = k->level == CASE_MUST     ? "fail"
                              : k->level == CASE_SHOULD ? "non-strict"
                                                        : "info";
        snprintf(want, sizeof want, "%s  %s", verdict, k->id);
        ck_assert_msg(rc == (k->level == CASE_MUST ? 1 : 0) && strstr(out, want) != NULL,
                      "%s with run --violate %s: exit %d, wanted '%s' in:\n%s", k->id,
                      k->wrong_peer, rc, want, out);
        /* The failure names the requirement it broke, in the observed text. */
        char named[200];
        snprintf(named, sizeof named, "observed:    %s: ", k->requirements[0]);
        ck_assert_msg(strstr(out, named) != NULL || strstr(out, k->requirements[0]) != NULL,
                      "%s: the failure does not name %s:\n%s", k->id, k->requirements[0], out);
        free(out);
        tmp_remove(&t);
        scenario_free(&sc[i]);
    }
    free(sc);
}
END_TEST

/* The checker verifies the digest answer against its own account: a client that knows
 * another password fails the digest case (and is refused, so it never sends a SEND). */
START_TEST(test_wrong_password_fails_digest)
{
    struct tmp t;
    tmp_make(&t);
    char other[160], extra[600], *out;
    snprintf(other, sizeof other, "%s/other", t.dir);
    test_write_text(other, "not-the-secret\n");
    snprintf(extra, sizeof extra,
             "--case 4976-5.1/client-digest-response --verbose "
             "--client-cmd ': {password_file}; tools/conform-client.sh relay {uri} {user} %s'",
             other);
    int rc = conform_relay(&t, extra, &out);
    ck_assert_msg(rc == 1 && strstr(out, "fail  4976-5.1/client-digest-response") != NULL &&
                      strstr(out, "its response does not verify with the account's password") !=
                          NULL &&
                      strstr(out, " 403 Forbidden") != NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_as_relay_options)
{
    char cmd[512];
    /* --as-relay goes with --listen, and needs the account */
    snprintf(cmd, sizeof cmd, "%s conform --as-relay --target 'msrp://127.0.0.1:9/s;tcp' "
                              "> /dev/null 2>&1", msrpload_binary());
    ck_assert_int_eq(test_run_shell(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s conform --listen 127.0.0.1:0 --as-relay --client-cmd x "
                              "> /dev/null 2>&1", msrpload_binary());
    ck_assert_int_eq(test_run_shell(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s conform --listen 127.0.0.1:0 --as-relay --relay-user u "
                              "--relay-password-file /dev/null > /dev/null 2>&1",
             msrpload_binary());
    ck_assert_int_eq(test_run_shell(cmd), 2); /* no passive relay mode: --client-cmd is needed */
    /* --list: --as-relay lists the relay-client cases only; --listen alone none of them */
    snprintf(cmd, sizeof cmd, "%s conform --list --listen 127.0.0.1:0 --as-relay | grep -c "
                              "' client '", msrpload_binary());
    FILE *p = popen(cmd, "r");
    int count = 0;
    ck_assert_int_eq(fscanf(p, "%d", &count), 1);
    pclose(p);
    struct scenario *sc = calloc(32, sizeof(*sc));
    ck_assert_ptr_nonnull(sc);
    size_t n = test_conform_client_cases(sc, 32, true);
    for (size_t i = 0; i < n; i++)
        scenario_free(&sc[i]);
    free(sc);
    ck_assert_int_eq(count, (int)n);
    snprintf(cmd, sizeof cmd, "%s conform --list --listen 127.0.0.1:0 | grep -q 4976-9.1/client-",
             msrpload_binary());
    ck_assert_int_ne(test_run_shell(cmd), 0);
    /* a template without {user}: the case is skipped, saying so */
    struct tmp t;
    tmp_make(&t);
    char *out;
    int rc = conform_relay(&t, "--case 4976-9.1/client-cnonce-nc --client-cmd "
                               "'tools/conform-client.sh relay {uri} alice {password_file}'",
                           &out);
    ck_assert_msg(rc == 0 && strstr(out, "skip  4976-9.1/client-cnonce-nc: the --client-cmd "
                                         "template has no {user}") != NULL,
                  "exit %d:\n%s", rc, out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* The wrong relay client's Authorization edits (msrp/violate.c) leave a header that still
 * reads, missing exactly what each breaks; other violations leave it alone. */
START_TEST(test_violate_digest_edits)
{
    static const char base[] = "Digest username=\"u\", realm=\"r\", nonce=\"n\", "
                               "uri=\"msrp://h:1;tcp\", response=\"0123456789abcdef0123456789abcdef\", "
                               "algorithm=MD5, cnonce=\"c\", qop=auth, nc=00000001";
    char a[512];
    size_t len;
    struct msrp_digest d;

    snprintf(a, sizeof a, "%s", base);
    len = strlen(a);
    msrp_violate_digest(MSRP_VIOLATE_DIGEST_NO_CNONCE, a, &len);
    ck_assert_uint_eq(len, strlen(a));
    ck_assert_msg(msrp_digest_challenge_parse(msrp_span_cstr(a), &d), "%s", a);
    ck_assert_ptr_null(d.cnonce.ptr);
    ck_assert_ptr_null(d.nc.ptr);
    ck_assert_ptr_nonnull(d.qop.ptr);
    ck_assert_ptr_nonnull(d.response.ptr);

    snprintf(a, sizeof a, "%s", base);
    len = strlen(a);
    msrp_violate_digest(MSRP_VIOLATE_DIGEST_URI_UNQUOTED, a, &len);
    ck_assert_uint_eq(len, strlen(a));
    ck_assert_uint_eq(len, strlen(base) - 2);
    ck_assert_ptr_nonnull(strstr(a, " uri=msrp://h:1;tcp, response=\"0123"));

    snprintf(a, sizeof a, "%s", base);
    len = strlen(a);
    msrp_violate_digest(MSRP_VIOLATE_DIGEST_BAD_RESPONSE, a, &len);
    ck_assert_uint_eq(len, strlen(base));
    ck_assert_ptr_nonnull(strstr(a, "response=\"1123456789abcdef"));

    snprintf(a, sizeof a, "%s", base);
    len = strlen(a);
    msrp_violate_digest(MSRP_VIOLATE_FIXED_TID, a, &len);
    ck_assert_str_eq(a, base);
}
END_TEST

Suite *make_conform_listen_relay_suite(void)
{
    Suite *s = suite_create("conform_listen_relay");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_violate_digest_edits);
    tcase_add_test(tc, test_as_relay_options);
    tcase_add_test(tc, test_wrong_password_fails_digest);
    tcase_add_test(tc, test_own_relay_client_passes_every_case);
    tcase_add_test(tc, test_each_relay_case_fails_with_its_violation);
    suite_add_tcase(s, tc);
    return s;
}
