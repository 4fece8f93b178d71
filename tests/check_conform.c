/*
 * check_conform.c - the conformance suite proves itself: every case passes against
 * msrpload's own `serve`, and every case fails against a `serve --violate NAME` that breaks
 * exactly the rule the case checks (its "wrong_peer"), so no case passes by accident. The
 * relay cases do the same against tests/fake_relay.c (correct, then with the case's
 * violation), and run against a real Kamailio relay (tests/testutil.c: installed as root
 * when missing, else a counted skip with its reason; a failure under REQUIRE_RELAY=1). Every
 * serve listens on a port the kernel picks, and is ready once it has printed its URI. A case whose level is MAY or none (the RFC sentence has
 * no MUST or SHOULD) cannot fail: against its wrong peer it must report info instead. Ids are
 * a contract (tests/conformance-ids.txt), and the requirements list and its generated
 * coverage document must agree with the cases.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_relay.h"
#include "scenario/scenario.h"
#include "suites.h"
#include "testutil.h"

/* serve on a port the kernel picks, answering session s1, with an optional violation. It
 * takes every media type the cases send but REFUSED_TYPE, which conform is told of
 * (--refused-type) for 4975-7.3.1/415-unsupported-type. */
#define ACCEPTED_TYPES "text/* multipart/* message/* application/octet-stream"
#define REFUSED_TYPE "image/x-refused"
static void start_serve(struct test_serve *sv, const char *violate)
{
    const char *plain[] = {"--session-id", "s1", "--accept-types", ACCEPTED_TYPES, NULL};
    const char *broken[] = {"--session-id", "s1",    "--accept-types", ACCEPTED_TYPES,
                            "--violate",    violate, NULL};
    test_serve_start(sv, violate != NULL ? broken : plain);
}

/* What one conform run printed, and its exit code. */
struct conform_output {
    struct tmp t; /* the run's folder: out.txt, and the files arguments name under {dir} */
    int rc;
    char *out;    /* conform's standard output and error */
};

/* Runs `msrpload conform ARGS --target 'msrp://127.0.0.1:PORT/s1;tcp'`, each argument quoted
 * for the shell, a leading "{dir}" in one replaced by the run's folder. */
static void run_conform_at(uint16_t port, const char *const *args, struct conform_output *o)
{
    tmp_make(&o->t);
    char cmd[2048], path[128];
    size_t n = (size_t)snprintf(cmd, sizeof cmd, "%s conform", msrpload_binary());
    for (size_t i = 0; args[i] != NULL; i++) {
        bool in_dir = strncmp(args[i], "{dir}", 5) == 0;
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, " '%s%s'", in_dir ? o->t.dir : "",
                              args[i] + (in_dir ? 5 : 0));
        ck_assert_int_lt(n, sizeof cmd);
    }
    snprintf(path, sizeof path, "%s/out.txt", o->t.dir);
    n += (size_t)snprintf(cmd + n, sizeof cmd - n,
                          " --target 'msrp://127.0.0.1:%u/s1;tcp' > %s 2>&1", (unsigned)port, path);
    ck_assert_int_lt(n, sizeof cmd);
    o->rc = test_run_shell(cmd);
    o->out = test_read_text(path);
}

/* run_conform_at against a serve of start_serve's (violate may be NULL), started and stopped
 * around it. */
static void run_conform_against_serve(const char *violate, const char *const *args,
                                      struct conform_output *o)
{
    struct test_serve sv;
    start_serve(&sv, violate);
    run_conform_at(sv.port, args, o);
    test_serve_stop(&sv);
}

static void conform_output_free(struct conform_output *o)
{
    free(o->out);
    tmp_remove(&o->t);
}

/* Every case file of the suite, loaded; the caller frees them with free_cases(). */
struct case_list {
    struct scenario *sc; /* 128 of them */
    size_t n;
};

static void load_all_cases(struct case_list *cl)
{
    FILE *ls = popen("ls scenarios/conformance/*.json | grep -v /requirements.json", "r");
    ck_assert_ptr_nonnull(ls);
    char file[512];
    cl->n = 0;
    cl->sc = calloc(128, sizeof(*cl->sc));
    ck_assert_ptr_nonnull(cl->sc);
    while (fgets(file, sizeof file, ls) != NULL) {
        file[strcspn(file, "\n")] = '\0';
        char err[512];
        ck_assert_int_lt(cl->n, 128);
        ck_assert_msg(scenario_load(file, &cl->sc[cl->n], err, sizeof err) == 0, "%s", err);
        cl->n++;
    }
    pclose(ls);
}

static void free_cases(struct case_list *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        scenario_free(&cl->sc[i]);
    free(cl->sc);
}

/* What a case must report against its wrong peer: fail for a MUST, non-strict for a SHOULD
 * (exit 1 under --strict), info for a MAY or a sentence without a keyword (exit 0). */
static const char *unmet_word(const struct scenario_case *k)
{
    return k->level == CASE_MUST ? "fail" : k->level == CASE_SHOULD ? "non-strict" : "info";
}

START_TEST(test_all_pass_against_serve)
{
    static const char *const args[] = {"--strict", "--refused-type", REFUSED_TYPE,   "--junit",
                                       "{dir}/j.xml", "--json",      "{dir}/r.json", "--tap",
                                       NULL};
    struct conform_output o;
    run_conform_against_serve(NULL, args, &o);
    if (o.rc != 0)
        fprintf(stderr, "%s\n", o.out);
    ck_assert_int_eq(o.rc, 0);
    ck_assert(strstr(o.out, "TAP version 13") != NULL);
    ck_assert(strstr(o.out, "not ok") == NULL);
    ck_assert(strstr(o.out, "ok 1 - 4975-") != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/j.xml", o.t.dir);
    char *xml = test_read_text(path);
    ck_assert(strstr(xml, "<testsuite name=\"RFC 4975-7.2\"") != NULL);
    ck_assert(strstr(xml, "<failure") == NULL);
    free(xml);
    conform_output_free(&o);
}
END_TEST

/* RFC 4975 7.1.3 lets a receiver send a success REPORT per chunk, each covering that chunk
 * (serve --violate per-chunk-reports, which breaks no rule): every case still passes. The
 * cases before the fix took the first REPORT and wanted it to cover 1-N/N, and failed three. */
START_TEST(test_all_pass_against_per_chunk_reports)
{
    static const char *const args[] = {"--strict", "--refused-type", REFUSED_TYPE, NULL};
    struct conform_output o;
    run_conform_against_serve("per-chunk-reports", args, &o);
    const char *out = o.out;
    ck_assert_msg(o.rc == 0, "exit %d:\n%s", o.rc, out);
    ck_assert_msg(strstr(out, "pass  4975-7.3.1/out-of-order-chunks") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "pass  4975-7.1.3/overlapping-chunks-reported") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "pass  4975-7.1.3/chunked-message-reported") != NULL, "%s", out);
    ck_assert(strstr(out, "\nfail  ") == NULL && strstr(out, "\ninfo  ") == NULL);
    conform_output_free(&o);
}
END_TEST

/* Issue 13 point 6, no false positive: serve --alt answers in another way the RFC allows
 * (a success REPORT per chunk, 200s held back 0-100 ms so that they overtake one another and
 * leave batched); every case still passes, in every delivery pattern. */
START_TEST(test_all_pass_against_alt)
{
    struct test_serve sv;
    const char *serve_args[] = {"--session-id", "s1", "--alt", NULL};
    static const char *const args[] = {"--strict", "--delivery", "all", NULL};
    test_serve_start(&sv, serve_args);
    struct conform_output o;
    run_conform_at(sv.port, args, &o);
    test_serve_stop(&sv);
    ck_assert_msg(o.rc == 0, "exit %d:\n%s", o.rc, o.out);
    ck_assert_msg(strstr(o.out, "0 failed, 0 non-strict, 0 info, 0 unobservable") != NULL, "%s",
                  o.out);
    conform_output_free(&o);
}
END_TEST

/* Issue 13: every case's traffic also delivered one byte per write, cut between CR and LF
 * and inside end-lines, and pipelined; --delivery all runs each pattern and fails a case whose
 * verdicts differ. Against serve every case passes in every pattern. */
START_TEST(test_all_pass_in_every_delivery)
{
    static const char *const args[] = {"--strict", "--delivery", "all", NULL};
    struct conform_output o;
    run_conform_against_serve(NULL, args, &o);
    ck_assert_msg(o.rc == 0, "exit %d:\n%s", o.rc, o.out);
    ck_assert_msg(strstr(o.out, "0 failed, 0 non-strict, 0 info, 0 unobservable") != NULL &&
                      strstr(o.out, "; delivery all") != NULL,
                  "%s", o.out);
    conform_output_free(&o);
}
END_TEST

/* A peer that takes only requests that come whole in one read (serve --violate whole-reads,
 * the bug the issue found in a real endpoint): with --delivery all the case fails, naming
 * the patterns, though it passes when each request is written whole. */
START_TEST(test_delivery_all_fails_differing_verdicts)
{
    struct test_serve sv;
    start_serve(&sv, "whole-reads");
    static const char *const whole[] = {"--delivery", "whole", "--case", "4975-7.2/response-tid",
                                        NULL};
    static const char *const all[] = {"--delivery", "all", "--case", "4975-7.2/response-tid",
                                      NULL};
    struct conform_output o;
    run_conform_at(sv.port, whole, &o);
    ck_assert_msg(o.rc == 0, "exit %d:\n%s", o.rc, o.out);
    conform_output_free(&o);
    run_conform_at(sv.port, all, &o);
    test_serve_stop(&sv);
    ck_assert_msg(o.rc == 1, "exit %d:\n%s", o.rc, o.out);
    ck_assert_msg(strstr(o.out, "fail  4975-7.2/response-tid") != NULL &&
                      strstr(o.out, "the verdict depends on how the bytes are cut into writes "
                                    "(whole: pass, bytes: fail)") != NULL,
                  "%s", o.out);
    conform_output_free(&o);
}
END_TEST

/* An expect step's unobservable_if ends the case "unobservable" (not counted, exit 0) when
 * the outcome is one of its statuses: here the 200 every peer gives to the chunked message. */
START_TEST(test_unobservable_verdict)
{
    struct tmp t;
    tmp_make(&t);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "sed 's/\"unobservable_if\": \\[/\"unobservable_if\": [200, /' "
             "scenarios/conformance/4975-7.1.1_large-chunk-received.json > %s/case.json && "
             "grep -q '\"unobservable_if\": \\[200, ' %s/case.json",
             t.dir, t.dir);
    ck_assert_int_eq(test_run_shell(cmd), 0);
    const char *args[] = {"--strict", "--cases", t.dir, "--tap", NULL};
    struct conform_output o;
    run_conform_against_serve(NULL, args, &o);
    ck_assert_msg(o.rc == 0, "exit %d:\n%s", o.rc, o.out);
    ck_assert_msg(strstr(o.out, "ok 1 - 4975-7.1.1/large-chunk-received # SKIP unobservable: "
                                "the message's outcome is 200") != NULL,
                  "%s", o.out);
    conform_output_free(&o);
    tmp_remove(&t);
}
END_TEST

/* Every target case, against the wrong peer made for it, reports what its level calls for:
 * fail (exit 1), non-strict (exit 1 under --strict) or info (exit 0). */
START_TEST(test_each_case_fails_against_its_wrong_peer)
{
    struct case_list cl;
    load_all_cases(&cl);
    int checked = 0;
    for (size_t i = 0; i < cl.n; i++) {
        const struct scenario_case *k = cl.sc[i].kase;
        if (k->needs != CASE_TARGET)
            continue;
        ck_assert_msg(k->wrong_peer[0] != '\0', "%s has no wrong_peer", k->id);
        const char *args[] = {"--strict", "--refused-type", REFUSED_TYPE, "--case", k->id, NULL};
        struct conform_output o;
        run_conform_against_serve(k->wrong_peer, args, &o);
        char want[160];
        snprintf(want, sizeof want, "%s  %s", unmet_word(k), k->id);
        ck_assert_msg(strstr(o.out, want) != NULL && o.rc == (k->level <= CASE_SHOULD ? 1 : 0),
                      "%s: exit %d against serve --violate %s, expected \"%s\":\n%s", k->id,
                      o.rc, k->wrong_peer, want, o.out);
        conform_output_free(&o);
        checked++;
    }
    free_cases(&cl);
    ck_assert_int_ge(checked, 23);
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
             "--relay-password-file %s %s%s%s > %s 2>&1",
             msrpload_binary(), (unsigned)port, pw, cases[0] != '\0' ? "--case '" : "", cases,
             cases[0] != '\0' ? "'" : "", outfile);
    int rc = test_run_shell(cmd);
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
    int rc = conform_relay(port, "", path);
    fake_relay_stop(pid);
    char *out = test_read_text(path);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    int passed = 0;
    for (const char *q = out; (q = strstr(q, "pass  ")) != NULL; q++)
        passed++;
    ck_assert_msg(passed == 26, "%d relay cases passed:\n%s", passed, out);
    ck_assert(strstr(out, "info  ") == NULL);
    ck_assert(strstr(out, "fail  ") == NULL);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* RFC 4976 6.4.1 lets a relay answer a SEND it will not forward with a 200 and report the
 * problem in a REPORT: the refusal cases accept that as well as an error response. */
START_TEST(test_relay_refusal_by_report_passes)
{
    uint16_t port = 0;
    pid_t pid = fake_relay_start("report-refusals", &port);
    ck_assert_int_gt(pid, 0);
    struct tmp t;
    tmp_make(&t);
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", t.dir);
    int rc = conform_relay(port, "4976-6.4/", path);
    fake_relay_stop(pid);
    char *out = test_read_text(path);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "pass  4976-6.4/unauthenticated-send-refused") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "pass  4976-6.4/unknown-session-refused") != NULL, "%s", out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* --quick skips the cases that may wait over 20 s (the relay probation case waits 31 s), and
 * says so; against a relay that keeps the connection open the case would run its 31 s. */
START_TEST(test_quick_skips_long_waits)
{
    uint16_t port = 0;
    pid_t pid = fake_relay_start("keep-malformed-open", &port);
    ck_assert_int_gt(pid, 0);
    struct tmp t;
    tmp_make(&t);
    char pw[128], cmd[1024], path[128];
    snprintf(pw, sizeof pw, "%s/pw", t.dir);
    snprintf(path, sizeof path, "%s/out.txt", t.dir);
    FILE *f = fopen(pw, "w");
    ck_assert_ptr_nonnull(f);
    fputs("alice-secret\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "%s conform --quick --relay 'msrp://127.0.0.1:%u;tcp' --relay-user alice "
             "--relay-password-file %s --case 4976-6.1/ --case 4976-6.3/use-path-and-expires "
             "> %s 2>&1",
             msrpload_binary(), (unsigned)port, pw, path);
    int rc = test_run_shell(cmd);
    fake_relay_stop(pid);
    char *out = test_read_text(path);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "skip  4976-6.1/malformed-input-closed (no keyword): slow: it "
                              "waits out a 30 s timer of the RFC; --quick skips cases marked "
                              "slow or that may wait over 20 s") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "pass  4976-6.3/use-path-and-expires") != NULL, "%s", out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* Every relay case, against the fake relay breaking exactly its rule, reports what its level
 * calls for (fail and exit 1 for a MUST, info and exit 0 for a sentence without a keyword). */
START_TEST(test_each_relay_case_fails_against_its_wrong_relay)
{
    struct case_list cl;
    load_all_cases(&cl);
    int checked = 0;
    struct tmp t;
    tmp_make(&t);
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", t.dir);
    for (size_t i = 0; i < cl.n; i++) {
        const struct scenario_case *k = cl.sc[i].kase;
        /* the RFC 7977 cases: against the fake relay's WebSocket mode, check_conform_ws.c */
        if (k->needs != CASE_RELAY || k->websocket != CASE_WS_ANY)
            continue;
        ck_assert_msg(fake_relay_known_violation(k->wrong_peer),
                      "%s: wrong_peer \"%s\" is not a fake relay violation", k->id,
                      k->wrong_peer);
        uint16_t port = 0;
        pid_t pid = fake_relay_start(k->wrong_peer, &port);
        ck_assert_int_gt(pid, 0);
        int rc = conform_relay(port, k->id, path);
        fake_relay_stop(pid);
        char *out = test_read_text(path);
        /* The case's own verdict, not exit 3 from a set-up that broke. */
        char want[160];
        snprintf(want, sizeof want, "%s  %s", unmet_word(k), k->id);
        ck_assert_msg(rc == (k->level <= CASE_SHOULD ? 1 : 0) && strstr(out, want) != NULL,
                      "%s: exit %d against the fake relay with %s, expected \"%s\":\n%s", k->id,
                      rc, k->wrong_peer, want, out);
        free(out);
        checked++;
    }
    free_cases(&cl);
    tmp_remove(&t);
    ck_assert_int_eq(checked, 26);
}
END_TEST

/* Which media type a peer refuses is known only from its SDP: without --refused-type the 415
 * case says so and is skipped (exit 0), it does not guess a type; a bad type is a usage error. */
START_TEST(test_refused_type_needed)
{
    struct test_serve sv;
    start_serve(&sv, NULL);
    static const char *const args[] = {"--strict", "--case", "4975-7.3.1/415-unsupported-type",
                                       NULL};
    static const char *const bad_type[] = {"--refused-type", "image/x y", NULL};
    struct conform_output o, bad;
    run_conform_at(sv.port, args, &o);
    run_conform_at(sv.port, bad_type, &bad);
    test_serve_stop(&sv);
    ck_assert_msg(o.rc == 0 && strstr(o.out, "skip  4975-7.3.1/415-unsupported-type: needs a "
                                             "media type the target is known not to take") != NULL,
                  "exit %d:\n%s", o.rc, o.out);
    ck_assert_int_eq(bad.rc, 2);
    conform_output_free(&o);
    conform_output_free(&bad);
}
END_TEST

/* A frame rule (src/conform/framerules.c) fails only the cases that list its requirement: in
 * another case the breach is a note in the wire record and that case keeps its own verdict. */
START_TEST(test_frame_rule_only_fails_its_cases)
{
    static const char *const args[] = {"--strict", "--verbose", "--case", "4975-7.2/response-tid",
                                       NULL};
    struct conform_output o;
    run_conform_against_serve("uri-no-tcp", args, &o);
    ck_assert_msg(o.rc == 0 && strstr(o.out, "pass  4975-7.2/response-tid") != NULL &&
                      strstr(o.out, "# rule broken, not what this case checks: the response") !=
                          NULL &&
                      strstr(o.out, "(4975-6/tcp-transport-parameter)") != NULL,
                  "exit %d:\n%s", o.rc, o.out);
    conform_output_free(&o);
}
END_TEST

/* A listener that writes `hello` to the first connection it accepts and keeps it open 3 s
 * (a forked child on a kernel-chosen loopback port). */
static pid_t start_talker(const char *hello, uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int c = accept(fd, NULL, NULL);
        if (c >= 0 && write(c, hello, strlen(hello)) < 0)
            _exit(1);
        sleep(3);
        _exit(0);
    }
    close(fd);
    return pid;
}

/* RFC 4975 5.4: the passive side sends nothing before the first request. A peer that sends
 * a response, bytes that are no MSRP, or the start of a chunk breaks it as much as one that
 * sends a request (which serve --violate speak-first shows); the receive step without a
 * method took only requests before, and passed these. */
START_TEST(test_passive_waits_sees_any_byte)
{
    static const char *const talk[] = {
        "MSRP abcd1234 200 OK\r\nTo-Path: msrp://127.0.0.1:2855/x;tcp\r\n"
        "From-Path: msrp://127.0.0.1:2855/y;tcp\r\n-------abcd1234$\r\n",
        "HELLO THERE\r\n",
        "MSRP abcd",
    };
    static const char *const args[] = {"--case", "4975-5.4/passive-waits", NULL};
    for (size_t i = 0; i < sizeof talk / sizeof talk[0]; i++) {
        uint16_t port = 0;
        pid_t pid = start_talker(talk[i], &port);
        struct conform_output o;
        run_conform_at(port, args, &o);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        ck_assert_msg(o.rc == 1 && strstr(o.out, "fail  4975-5.4/passive-waits") != NULL,
                      "talker %zu: exit %d\n%s", i, o.rc, o.out);
        conform_output_free(&o);
    }
}
END_TEST

START_TEST(test_usage_and_list)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s conform >/dev/null 2>&1", msrpload_binary());
    ck_assert_int_eq(test_run_shell(cmd), 2);
    snprintf(cmd, sizeof cmd, "%s conform --list | grep -q '^4976-5.1/auth-challenge'",
             msrpload_binary());
    ck_assert_int_eq(test_run_shell(cmd), 0);
    /* An old id still selects the case it became. */
    snprintf(cmd, sizeof cmd,
             "%s conform --list --case 4975-7.3/501-unknown-method | grep -q "
             "'^4975-12/501-unknown-method '",
             msrpload_binary());
    ck_assert_int_eq(test_run_shell(cmd), 0);
    /* Nothing listens there: exit 3. */
    snprintf(cmd, sizeof cmd,
             "%s conform --target 'msrp://127.0.0.1:9/x;tcp' --case 4975-7.2/response-tid "
             ">/dev/null 2>&1",
             msrpload_binary());
    ck_assert_int_eq(test_run_shell(cmd), 3);
    /* A case file's conformance keys are refused in a load scenario. */
    struct scenario sc;
    char err[512];
    const char *text = "{\"name\":\"x\",\"steps\":[{\"raw\":{\"template\":\"{relay_uri}\"}}]}";
    ck_assert_int_eq(scenario_parse("t.json", text, strlen(text), &sc, err, sizeof err), -1);
    ck_assert(strstr(err, "only allowed in conformance case files") != NULL);
}
END_TEST

/* The relay cases against Kamailio, over TCP and over TLS: the results docs/interop.md
 * describes. A case Kamailio fails is failed by the RFC sentence the case cites. */
static int kamailio_run(const char *uri, const char *dir, const char *name)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "echo alice-secret > %s/pw && %s conform --relay '%s' --relay-user alice "
             "--relay-password-file %s/pw > %s/%s 2>&1",
             dir, msrpload_binary(), uri, dir, dir, name);
    return test_run_shell(cmd);
}

static void kamailio_check(int rc, const char *dir, const char *name, const char *what)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *out = test_read_text(path);
    static const char *const expected[] = {
        "pass  4975-7.1.1/relay-over-2048-star-end",
        "pass  4975-7.1.2/relay-no-response-to-report",
        "pass  4975-7.1/relay-continuation-flags",
        "pass  4976-1/binary-body-unchanged",
        "pass  4976-3/failure-report-no",
        /* the configuration's Use-Path names 127.0.0.1, not a domain name (RFC 4976 4.2) */
        "fail  4976-4.2/use-path-fqdn-port",
        "pass  4976-5.1/auth-challenge",
        "info  4976-6.1/malformed-input-closed",
        "pass  4976-6.3/expires-too-low",
        "pass  4976-6.3/uri-only-on-auth-connection",
        "pass  4976-6.3/use-path-and-expires",
        /* the relay generates no REPORTs, neither for an error nor after 30 s of silence */
        "fail  4976-6.4.1/408-after-30s",
        "pass  4976-6.4.1/no-merged-message-ids",
        "pass  4976-6.4.1/response-previous-hop-only",
        "pass  4976-6.4.1/send-forwarded-paths",
        "pass  4976-6.4.2/report-forwarded",
        "pass  4976-6.4.3/drop-misaddressed-response",
        "pass  4976-6.4.3/drop-unparseable-response",
        /* the relay generates no failure REPORT (RFC 4976 6.4.3) */
        "fail  4976-6.4.3/failure-reported-back",
        "pass  4976-6.4/unauthenticated-send-refused",
        "pass  4976-6.4/unknown-session-refused",
        /* the 200 to AUTH has no Authentication-Info (RFC 4976 9.1) */
        "fail  4976-9.1/authentication-info",
        "pass  4976-9.1/bad-credentials-refused",
        "pass  4976-9.1/challenge-no-auth-int-md5-sess",
        "pass  4976-9.1/challenge-qop",
        "pass  4976-9.1/no-basic",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        ck_assert_msg(strstr(out, expected[i]) != NULL, "%s: no \"%s\":\n%s", what, expected[i],
                      out);
    ck_assert_msg(rc == 1, "%s: exit %d:\n%s", what, rc, out);
    free(out);
}

/* The step keys the relay cases brought are checked when a file loads, with its place. */
START_TEST(test_relay_step_keys_checked)
{
    struct scenario sc;
    char err[512], text[1024];
    const char *kase =
        "{\"case\":{\"id\":\"4976-6.4.1/x\",\"rfc\":\"4976\",\"section\":\"6.4.1\","
        "\"title\":\"t\",\"requirement\":\"r\",\"expected\":\"e\",\"level\":\"MUST\","
        "\"needs\":\"relay\",\"endpoints\":\"ab\",\"requirements\":[\"4976-6.4.1/path-rewrite\"]},"
        "\"steps\":[%s]}";
    static const struct {
        const char *step, *complaint;
    } bad[] = {
        {"{\"receive\":{\"method\":\"SEND\",\"chunk_rules\":true}}", "need \"cover\""},
        {"{\"receive\":{\"method\":\"SEND\",\"body\":\"x\"}}", "need \"cover\""},
        {"{\"receive\":{\"method\":\"SEND\",\"respond\":\"2 0\"}}", "status text without"},
        {"{\"receive\":{\"method\":\"SEND\",\"chunk_rules\":1,\"cover\":5}}", "true or false"},
        {"{\"raw\":{\"template\":\"x\",\"not_match\":{\"To-Path\":\"(\"}}}", "regular expression"},
        {"{\"raw\":{\"template\":\"x\",\"or_failure_report\":true}}", "errors only"},
        {"{\"raw\":{\"template\":\"x\",\"or_failure_report\":true,\"status\":[200,481]}}",
         "errors only"},
        {"{\"raw\":{\"template\":\"x\",\"or_failure_report\":\"yes\"}}", "true or false"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, kase, bad[i].step);
        err[0] = '\0';
        ck_assert_int_eq(scenario_parse("c.json", text, strlen(text), &sc, err, sizeof err), -1);
        ck_assert_msg(strstr(err, bad[i].complaint) != NULL && strstr(err, "$.steps[0]") != NULL,
                      "%s: %s", bad[i].step, err);
    }
    /* Not in a load scenario: the key is refused there, by name. */
    const char *load = "{\"name\":\"x\",\"steps\":[{\"raw\":{\"template\":\"x\","
                       "\"not_match\":{\"To-Path\":\"y\"}}}]}";
    ck_assert_int_eq(scenario_parse("t.json", load, strlen(load), &sc, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "$.steps[0].raw") != NULL && strstr(err, "\"not_match\"") != NULL,
                  "%s", err);
}
END_TEST

/* --quick skips the slow cases, saying why, and runs nothing for them. */
START_TEST(test_quick_skips_slow_cases)
{
    struct tmp t;
    tmp_make(&t);
    char cmd[1024], path[128];
    snprintf(path, sizeof path, "%s/out.txt", t.dir);
    snprintf(cmd, sizeof cmd,
             "echo pw > %s/pw && %s conform --quick --relay 'msrp://127.0.0.1:9;tcp' "
             "--relay-user alice --relay-password-file %s/pw --case 4976-6.4.1/408-after-30s "
             "--case 4976-6.1/malformed-input-closed > %s 2>&1",
             t.dir, msrpload_binary(), t.dir, path);
    int rc = test_run_shell(cmd);
    char *out = test_read_text(path);
    /* Nothing listens on port 9: exit 0 shows no case tried to connect. */
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    ck_assert_msg(strstr(out, "skip  4976-6.4.1/408-after-30s") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "skip  4976-6.1/malformed-input-closed") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "--quick skips cases marked slow") != NULL, "%s", out);
    free(out);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_relay_cases_against_kamailio)
{
    struct test_relay relay;
    test_relay_start(&relay, true, "");
    if (test_relay_skip(&relay, "conform relay_cases_against_kamailio"))
        return;
    struct tmp t;
    tmp_make(&t);
    int tcp = kamailio_run(relay.uri, t.dir, "tcp.txt");
    int tls = kamailio_run(relay.tls_uri, t.dir, "tls.txt");
    test_relay_stop(&relay);
    kamailio_check(tcp, t.dir, "tcp.txt", "TCP");
    kamailio_check(tls, t.dir, "tls.txt", "TLS");
    tmp_remove(&t);
}
END_TEST

/* Ids are a contract: every id ever published (tests/conformance-ids.txt) is still a case's
 * id or one of its aliases, so an expected-failure list built on it keeps working. */
START_TEST(test_ids_never_disappear)
{
    struct case_list cl;
    load_all_cases(&cl);
    FILE *f = fopen("tests/conformance-ids.txt", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    int ids = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        bool found = false;
        for (size_t i = 0; i < cl.n && !found; i++) {
            const struct scenario_case *k = cl.sc[i].kase;
            found = strcmp(k->id, line) == 0;
            for (unsigned a = 0; a < k->num_aliases && !found; a++)
                found = strcmp(k->aliases[a], line) == 0;
        }
        ck_assert_msg(found, "the published id %s is neither a case id nor an alias", line);
        ids++;
    }
    fclose(f);
    /* And every current id is published. */
    for (size_t i = 0; i < cl.n; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "grep -qx '%s' tests/conformance-ids.txt", cl.sc[i].kase->id);
        ck_assert_msg(test_run_shell(cmd) == 0, "%s is missing from tests/conformance-ids.txt",
                      cl.sc[i].kase->id);
    }
    free_cases(&cl);
    ck_assert_int_ge(ids, 36);
}
END_TEST

/* Copies the suite into t, then runs the shell command then (in t's folder). */
static void broken_copy(const struct tmp *t, const char *then)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp scenarios/conformance/*.json %s/ && cd %s && %s", t->dir,
             t->dir, then);
    ck_assert_int_eq(test_run_shell(cmd), 0);
}

/* Runs --coverage on the cases in dir; returns the exit code, stderr in *err (malloc'd). */
static int coverage_of(const char *dir, char **err)
{
    char cmd[1024], path[256];
    snprintf(path, sizeof path, "%s/err.txt", dir);
    snprintf(cmd, sizeof cmd, "%s conform --coverage --cases %s > /dev/null 2> %s",
             msrpload_binary(), dir, path);
    int rc = test_run_shell(cmd);
    *err = test_read_text(path);
    return rc;
}

/* The requirements list agrees with the cases, and docs/conformance-coverage.md is what
 * --coverage --markdown prints today. */
START_TEST(test_coverage_table)
{
    struct tmp t;
    tmp_make(&t);
    char cmd[1024], path[160];
    snprintf(path, sizeof path, "%s/cov.txt", t.dir);
    snprintf(cmd, sizeof cmd, "%s conform --coverage > %s 2>&1", msrpload_binary(), path);
    int rc = test_run_shell(cmd);
    char *out = test_read_text(path);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    ck_assert(strstr(out, "4975-7.1.3/report-received-bytes") != NULL);
    ck_assert(strstr(out, "requirements listed (") != NULL);
    ck_assert(strstr(out, "of the observable MUSTs covered") != NULL);
    free(out);
    snprintf(cmd, sizeof cmd,
             "%s conform --coverage --markdown > %s/cov.md && cmp -s %s/cov.md "
             "docs/conformance-coverage.md",
             msrpload_binary(), t.dir, t.dir);
    ck_assert_msg(test_run_shell(cmd) == 0,
                  "docs/conformance-coverage.md is stale: regenerate it with "
                  "msrpload conform --coverage --markdown");
    tmp_remove(&t);

    /* A case citing a requirement that is not listed. */
    tmp_make(&t);
    broken_copy(&t, "sed -i 's|\"4975-7.2/response-tid\"|\"4975-7.2/nowhere\"|' "
                    "4975-7.2_response-tid.json");
    rc = coverage_of(t.dir, &out);
    ck_assert_msg(rc == 2 && strstr(out, "4975-7.2/nowhere is not listed") != NULL,
                  "exit %d: %s", rc, out);
    free(out);
    tmp_remove(&t);

    /* A requirement left with neither a case nor a reason (its only case removed). */
    tmp_make(&t);
    broken_copy(&t, "rm 4975-12_501-unknown-method.json");
    rc = coverage_of(t.dir, &out);
    ck_assert_msg(rc == 2 && strstr(out, "4975-12/501-unknown-method has no case and no reason"),
                  "exit %d: %s", rc, out);
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
    tcase_add_test(tc, test_passive_waits_sees_any_byte);
    tcase_add_test(tc, test_refused_type_needed);
    tcase_add_test(tc, test_frame_rule_only_fails_its_cases);
    tcase_add_test(tc, test_all_pass_against_serve);
    tcase_add_test(tc, test_all_pass_against_per_chunk_reports);
    tcase_add_test(tc, test_all_pass_in_every_delivery);
    tcase_add_test(tc, test_all_pass_against_alt);
    tcase_add_test(tc, test_delivery_all_fails_differing_verdicts);
    tcase_add_test(tc, test_unobservable_verdict);
    tcase_add_test(tc, test_ids_never_disappear);
    tcase_add_test(tc, test_coverage_table);
    tcase_add_test(tc, test_each_case_fails_against_its_wrong_peer);
    tcase_add_test(tc, test_relay_cases_pass_against_fake_relay);
    tcase_add_test(tc, test_relay_refusal_by_report_passes);
    tcase_add_test(tc, test_quick_skips_long_waits);
    tcase_add_test(tc, test_each_relay_case_fails_against_its_wrong_relay);
    tcase_add_test(tc, test_quick_skips_slow_cases);
    tcase_add_test(tc, test_relay_step_keys_checked);
    tcase_add_test(tc, test_relay_cases_against_kamailio);
    suite_add_tcase(s, tc);
    return s;
}
