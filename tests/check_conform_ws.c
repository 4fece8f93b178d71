/*
 * check_conform_ws.c - conformance over WebSocket (RFC 7977): the relay URI forms conform
 * --relay and --relay-b take (conform_relay_uri_parse), the option checks, the RFC 7977 cases
 * skipped with their reason when the relay is not reached over WebSocket, and the whole relay
 * suite run against the scripted Kamailio relay's WebSocket side (tests/testutil.c; a counted
 * skip when Kamailio or its websocket module cannot be had, a failure under REQUIRE_RELAY=1)
 * with the verdicts docs/interop.md records asserted: over ws://, over wss://, with the
 * msrp://...;ws form, and with b over plain TCP (--relay-b) through the bridging relay.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform/conform.h"
#include "fake_relay.h"
#include "suites.h"
#include "testutil.h"

/* The WebSocket forms and the MSRP forms, with what each gives. */
START_TEST(test_relay_uri_forms)
{
    static const struct {
        const char *uri;
        bool ws, secure;
        const char *host;
        unsigned port;
        const char *path, *msrp;
    } good[] = {
        {"ws://127.0.0.1:28557/", true, false, "127.0.0.1", 28557, "/", "msrp://127.0.0.1:28557;ws"},
        {"ws://127.0.0.1:8080/msrp/x?y=1", true, false, "127.0.0.1", 8080, "/msrp/x?y=1",
         "msrp://127.0.0.1:8080;ws"},
        {"wss://relay.example.com", true, true, "relay.example.com", 443, "/",
         "msrps://relay.example.com:443;ws"},
        {"ws://localhost?q", true, false, "localhost", 80, "/?q", "msrp://localhost:80;ws"},
        {"WS://[::1]:9/", true, false, "::1", 9, "/", "msrp://[::1]:9;ws"},
        {"msrp://127.0.0.1:28557;ws", true, false, "127.0.0.1", 28557, "/",
         "msrp://127.0.0.1:28557;ws"},
        {"msrps://a.example.com:443;ws", true, true, "a.example.com", 443, "/",
         "msrps://a.example.com:443;ws"},
        {"msrp://127.0.0.1:2855;tcp", false, false, "127.0.0.1", 2855, "/",
         "msrp://127.0.0.1:2855;tcp"},
        {"msrps://relay.example.net;tcp", false, true, "relay.example.net", 2855, "/",
         "msrps://relay.example.net;tcp"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct conform_relay_uri r;
        char err[256] = "";
        ck_assert_msg(conform_relay_uri_parse(good[i].uri, &r, err, sizeof err) == 0, "%s: %s",
                      good[i].uri, err);
        ck_assert_msg(r.ws == good[i].ws && r.secure == good[i].secure, "%s", good[i].uri);
        ck_assert_str_eq(r.host, good[i].host);
        ck_assert_uint_eq(r.port, good[i].port);
        ck_assert_str_eq(r.path, good[i].path);
        ck_assert_str_eq(r.msrp_uri, good[i].msrp);
    }
    static const struct {
        const char *uri, *complaint;
    } bad[] = {
        {"ws://", "no host"},
        {"ws:///x", "no host"},
        {"ws://h:0/", "port"},
        {"ws://h:70000/", "port"},
        {"ws://h:/", "port"},
        {"wss://h:12x/", "something other than a port or path"},
        {"ws://h/#frag", "'#'"},
        {"ws://h#frag", "fragment"},
        {"ws://[::1/", "closing ']'"},
        {"ws://us@er/", "'@'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct conform_relay_uri r;
        char err[256] = "";
        ck_assert_msg(conform_relay_uri_parse(bad[i].uri, &r, err, sizeof err) == -1, "%s",
                      bad[i].uri);
        ck_assert_msg(strstr(err, bad[i].complaint) != NULL && strstr(err, bad[i].uri) != NULL,
                      "%s: %s", bad[i].uri, err);
    }
}
END_TEST

/* --relay-b goes with --relay; a WebSocket URI is no --target; the RFC 7977 cases skip, with
 * their reason, when the relay is not reached over WebSocket; a ws:// relay nobody serves is
 * unreachable (exit 3), as any other. */
START_TEST(test_ws_options)
{
    struct tmp t;
    tmp_make(&t);
    char cmd[2048], path[128];
    snprintf(path, sizeof path, "%s/out.txt", t.dir);
    const char *bin = msrpload_binary();

    snprintf(cmd, sizeof cmd, "%s conform --target 'msrp://127.0.0.1:9/s;tcp' --relay-b "
             "'msrp://127.0.0.1:9;tcp' > %s 2>&1", bin, path);
    ck_assert_int_eq(test_run_shell(cmd), 2);
    char *out = test_read_text(path);
    ck_assert_msg(strstr(out, "--relay-b goes with --relay") != NULL, "%s", out);
    free(out);

    snprintf(cmd, sizeof cmd, "%s conform --target 'ws://127.0.0.1:9/' > %s 2>&1", bin, path);
    ck_assert_int_eq(test_run_shell(cmd), 3);
    out = test_read_text(path);
    ck_assert_msg(strstr(out, "WebSocket URIs are for --relay") != NULL, "%s", out);
    free(out);

    snprintf(cmd, sizeof cmd, "echo pw > %s/pw && %s conform --relay 'ws://127.0.0.1:70000/' "
             "--relay-user alice --relay-password-file %s/pw > %s 2>&1", t.dir, bin, t.dir, path);
    ck_assert_int_eq(test_run_shell(cmd), 3);
    out = test_read_text(path);
    ck_assert_msg(strstr(out, "ws://127.0.0.1:70000/: a port") != NULL, "%s", out);
    free(out);

    /* Nothing listens on port 9: exit 0 shows that no 7977 case tried to connect. */
    snprintf(cmd, sizeof cmd, "%s conform --relay 'msrp://127.0.0.1:9;tcp' --relay-user alice "
             "--relay-password-file %s/pw --case 7977- > %s 2>&1", bin, t.dir, path);
    ck_assert_int_eq(test_run_shell(cmd), 0);
    out = test_read_text(path);
    ck_assert_msg(strstr(out, "skip  7977-4.2/text-frames-accepted: needs a relay reached over "
                              "WebSocket") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "8 cases: 0 passed") != NULL, "%s", out);
    free(out);

    snprintf(cmd, sizeof cmd, "%s conform --relay 'ws://127.0.0.1:9/' --relay-user alice "
             "--relay-password-file %s/pw --case 7977-6 > %s 2>&1", bin, t.dir, path);
    ck_assert_int_eq(test_run_shell(cmd), 3);

    /* Over WebSocket a chunk cut into writes becomes fragments: only whole and pipelined. */
    snprintf(cmd, sizeof cmd, "%s conform --relay 'ws://127.0.0.1:9/' --relay-user alice "
             "--relay-password-file %s/pw --delivery bytes > %s 2>&1", bin, t.dir, path);
    ck_assert_int_eq(test_run_shell(cmd), 2);
    out = test_read_text(path);
    ck_assert_msg(strstr(out, "so only whole and pipelined apply") != NULL, "%s",
                  out);
    free(out);
    tmp_remove(&t);

    /* A case file asking for WebSocket that is no relay case is refused. */
    struct scenario sc;
    char err[512];
    const char *text =
        "{\"case\":{\"id\":\"7977-4.2/x\",\"rfc\":\"7977\",\"section\":\"4.2\",\"title\":\"t\","
        "\"requirement\":\"r\",\"expected\":\"e\",\"level\":\"MUST\",\"needs\":\"target\","
        "\"websocket\":\"raw\",\"requirements\":[\"7977-4.2/accept-text-and-binary\"]},"
        "\"steps\":[{\"pause\":0.1}]}";
    ck_assert_int_eq(scenario_parse("c.json", text, strlen(text), &sc, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "\"websocket\" is for relay cases") != NULL, "%s", err);
}
END_TEST

/* conform --strict against the fake relay's WebSocket mode; returns the exit code. */
static int fake_ws_run(uint16_t port, const char *args, const char *dir, char **out)
{
    char cmd[1024], path[160];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    snprintf(cmd, sizeof cmd,
             "echo alice-secret > %s/pw && %s conform --strict --relay 'ws://127.0.0.1:%u/' "
             "--relay-user alice --relay-password-file %s/pw %s > %s 2>&1",
             dir, msrpload_binary(), (unsigned)port, dir, args, path);
    int rc = test_run_shell(cmd);
    *out = test_read_text(path);
    return rc;
}

/* Every relay case passes over WebSocket against the fake relay that breaks no rule (--quick:
 * the two that wait out 30 s timers are proven over TCP in check_conform.c). */
START_TEST(test_relay_cases_pass_against_fake_ws_relay)
{
    uint16_t port = 0;
    pid_t pid = fake_relay_start_ws(NULL, &port);
    ck_assert_int_gt(pid, 0);
    struct tmp t;
    tmp_make(&t);
    char *out = NULL;
    int rc = fake_ws_run(port, "--quick", t.dir, &out);
    fake_relay_stop(pid);
    ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
    int passed = 0;
    for (const char *q = out; (q = strstr(q, "pass  ")) != NULL; q++)
        passed++;
    /* 26 relay cases less the 2 slow ones, and the 8 RFC 7977 cases */
    ck_assert_msg(passed == 32, "%d passed:\n%s", passed, out);
    ck_assert(strstr(out, "info  ") == NULL && strstr(out, "fail  ") == NULL);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* Each RFC 7977 case, against the fake WebSocket relay breaking exactly its rule, reports what
 * its level calls for: fail (exit 1) for a MUST, non-strict (exit 1 under --strict) for a
 * SHOULD, info (exit 0) for a sentence without a keyword; never exit 3. */
START_TEST(test_each_ws_case_fails_against_its_wrong_relay)
{
    struct tmp t;
    tmp_make(&t);
    static const struct {
        const char *id, *violation, *verdict;
        int rc;
        const char *observed; /* what the verdict's observation says */
    } cases[] = {
        {"7977-3/fragmented-message-accepted", "ws-no-fragments", "info", 0,
         "closed the connection"},
        {"7977-4.1/subprotocol-in-101", "ws-no-msrp-101", "fail", 1,
         "has no \"msrp\" in Sec-WebSocket-Protocol"},
        {"7977-4.2/binary-frames-accepted", "ws-refuse-binary-send", "fail", 1,
         "closed the connection"},
        {"7977-4.2/text-frames-accepted", "ws-refuse-text", "fail", 1, "closed the connection"},
        {"7977-5.1/one-chunk-per-message", "ws-split-chunks", "fail", 1,
         "ended inside an MSRP chunk"},
        {"7977-5.3.1/unauthenticated-connection-refused", "relay-without-auth", "fail", 1,
         "200"},
        {"7977-6/bodiless-send-accepted", "ws-refuse-bodiless", "fail", 1, "400"},
        {"7977-7/cors-allow-origin", "ws-no-cors", "non-strict", 1,
         "no Access-Control-Allow-Origin"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the case file names the same wrong peer */
        char file[256], *text;
        snprintf(file, sizeof file, "scenarios/conformance/%s.json", cases[i].id);
        *strchr(file + strlen("scenarios/conformance/"), '/') = '_';
        text = test_read_text(file);
        char want_peer[128];
        snprintf(want_peer, sizeof want_peer, "\"wrong_peer\": \"%s\"", cases[i].violation);
        ck_assert_msg(strstr(text, want_peer) != NULL, "%s: %s", file, want_peer);
        free(text);

        uint16_t port = 0;
        pid_t pid = fake_relay_start_ws(cases[i].violation, &port);
        ck_assert_int_gt(pid, 0);
        char args[160], want[160], *out = NULL;
        snprintf(args, sizeof args, "--case '%s'", cases[i].id);
        int rc = fake_ws_run(port, args, t.dir, &out);
        fake_relay_stop(pid);
        snprintf(want, sizeof want, "%s  %s", cases[i].verdict, cases[i].id);
        const char *obs = strstr(out, "observed:");
        ck_assert_msg(rc == cases[i].rc && strstr(out, want) != NULL && obs != NULL &&
                          strstr(obs, cases[i].observed) != NULL,
                      "%s: exit %d against %s, expected \"%s\":\n%s", cases[i].id, rc,
                      cases[i].violation, want, out);
        free(out);
    }
    tmp_remove(&t);
}
END_TEST

/* RFC 7977 5.3.1 asks only that a connection that never authenticated be refused: a relay
 * that closes it on the SEND passes, as one that answers with an error does. */
START_TEST(test_unauthenticated_refusal_by_close_passes)
{
    struct tmp t;
    tmp_make(&t);
    uint16_t port = 0;
    pid_t pid = fake_relay_start_ws("close-refusals", &port);
    ck_assert_int_gt(pid, 0);
    char *out = NULL;
    int rc = fake_ws_run(port, "--case 7977-5.3.1/unauthenticated-connection-refused", t.dir,
                         &out);
    fake_relay_stop(pid);
    ck_assert_msg(rc == 0 && strstr(out, "pass  7977-5.3.1/unauthenticated-connection-refused"),
                  "exit %d:\n%s", rc, out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* Runs of white space as one space, for comparing quotes with the RFC's wrapped lines. */
static void squeeze(char *s)
{
    char *w = s;
    bool space = false;
    for (const char *r = s; *r != '\0'; r++) {
        bool sp = *r == ' ' || *r == '\n' || *r == '\r' || *r == '\t';
        if (sp && space)
            continue;
        *w++ = sp ? ' ' : *r;
        space = sp;
    }
    *w = '\0';
}

/* Every sentence an RFC 7977 case quotes ("...", 30 characters or more) is in the RFC's text
 * (../shared/rfc/rfc7977.txt beside the repository; a counted skip without it). */
START_TEST(test_ws_case_quotes_are_the_rfc_s)
{
    FILE *f = fopen("../shared/rfc/rfc7977.txt", "r");
    if (f == NULL) {
        test_skip("conform_ws case_quotes", "../shared/rfc/rfc7977.txt is not there");
        return;
    }
    fclose(f);
    char *rfc = test_read_text("../shared/rfc/rfc7977.txt");
    squeeze(rfc);
    static const char *const files[] = {
        "7977-3_fragmented-message-accepted",   "7977-4.1_subprotocol-in-101",
        "7977-4.2_binary-frames-accepted",      "7977-4.2_text-frames-accepted",
        "7977-5.1_one-chunk-per-message",       "7977-5.3.1_unauthenticated-connection-refused",
        "7977-6_bodiless-send-accepted",        "7977-7_cors-allow-origin",
    };
    int quotes = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[160], err[512];
        snprintf(path, sizeof path, "scenarios/conformance/%s.json", files[i]);
        struct scenario sc;
        ck_assert_msg(scenario_load(path, &sc, err, sizeof err) == 0, "%s", err);
        const char *r = sc.kase->requirement;
        /* A quote runs from a '"' to the next one not preceded by a backslash. */
        for (const char *q = strchr(r, '"'); q != NULL;) {
            const char *e = q + 1;
            while (*e != '\0' && !(*e == '"' && e[-1] != '\\'))
                e++;
            if (*e == '\0')
                break;
            char quote[1024];
            size_t n = 0;
            for (const char *c = q + 1; c < e && n + 1 < sizeof quote; c++)
                if (!(*c == '\\' && c[1] == '"'))
                    quote[n++] = *c;
            quote[n] = '\0';
            squeeze(quote);
            if (n >= 30) {
                ck_assert_msg(strstr(rfc, quote) != NULL, "%s quotes what RFC 7977 does not say: %s",
                              files[i], quote);
                quotes++;
            }
            q = strchr(e + 1, '"');
        }
        scenario_free(&sc);
    }
    ck_assert_int_ge(quotes, 8);
    free(rfc);
}
END_TEST

/* What Kamailio 5.6 does over WebSocket (docs/interop.md): the relay cases as over TCP, but
 * the non-MSRP bytes of 4976-6.1 make it close the WebSocket connection at once. */
static const char *const ws_expected[] = {
    "pass  4975-7.1.1/relay-over-2048-star-end",
    "pass  4975-7.1.2/relay-no-response-to-report",
    "pass  4975-7.1/relay-continuation-flags",
    "pass  4976-1/binary-body-unchanged",
    "pass  4976-3/failure-report-no",
    "fail  4976-4.2/use-path-fqdn-port",
    "pass  4976-5.1/auth-challenge",
    "pass  4976-6.1/malformed-input-closed",
    "pass  4976-6.3/expires-too-low",
    "pass  4976-6.3/uri-only-on-auth-connection",
    "pass  4976-6.3/use-path-and-expires",
    "fail  4976-6.4.1/408-after-30s",
    "pass  4976-6.4.1/no-merged-message-ids",
    "pass  4976-6.4.1/response-previous-hop-only",
    "pass  4976-6.4.1/send-forwarded-paths",
    "pass  4976-6.4.2/report-forwarded",
    "pass  4976-6.4.3/drop-misaddressed-response",
    "pass  4976-6.4.3/drop-unparseable-response",
    "fail  4976-6.4.3/failure-reported-back",
    "pass  4976-6.4/unauthenticated-send-refused",
    "pass  4976-6.4/unknown-session-refused",
    "fail  4976-9.1/authentication-info",
    "pass  4976-9.1/bad-credentials-refused",
    "pass  4976-9.1/challenge-no-auth-int-md5-sess",
    "pass  4976-9.1/challenge-qop",
    "pass  4976-9.1/no-basic",
    NULL,
};

/* The RFC 7977 cases: Kamailio does not put a message sent as two frames together (info, a
 * sentence without a keyword) and its 101 has no Access-Control-Allow-Origin (a SHOULD). */
static const char *const ws7977_expected[] = {
    "info  7977-3/fragmented-message-accepted",
    "pass  7977-4.1/subprotocol-in-101",
    "pass  7977-4.2/binary-frames-accepted",
    "pass  7977-4.2/text-frames-accepted",
    "pass  7977-5.1/one-chunk-per-message",
    "pass  7977-5.3.1/unauthenticated-connection-refused",
    "pass  7977-6/bodiless-send-accepted",
    "non-strict  7977-7/cors-allow-origin",
    NULL,
};

static int kamailio_ws_run(const char *dir, const char *relay, const char *relay_b,
                           const char *cases, const char *name)
{
    char cmd[2048], b[256] = "", c[128] = "";
    /* with b elsewhere, the wire of passing cases too: it shows which transport b had */
    if (relay_b != NULL)
        snprintf(b, sizeof b, "--verbose --relay-b '%s'", relay_b);
    if (cases != NULL)
        snprintf(c, sizeof c, "--case '%s'", cases);
    snprintf(cmd, sizeof cmd,
             "echo alice-secret > %s/pw && %s conform --relay '%s' %s %s --relay-user alice "
             "--relay-password-file %s/pw > %s/%s 2>&1",
             dir, msrpload_binary(), relay, b, c, dir, dir, name);
    return test_run_shell(cmd);
}

static void kamailio_ws_check(int rc, int want_rc, const char *dir, const char *name,
                              const char *const *expected)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *out = test_read_text(path);
    /* The whole output is longer than check lets a message be: it goes to stderr instead. */
    bool ok = rc == want_rc;
    for (size_t i = 0; ok && expected[i] != NULL; i++)
        ok = strstr(out, expected[i]) != NULL;
    if (!ok)
        fprintf(stderr, "---- %s (exit %d, expected %d):\n%s----\n", name, rc, want_rc, out);
    for (size_t i = 0; expected[i] != NULL; i++)
        ck_assert_msg(strstr(out, expected[i]) != NULL, "%s: no \"%s\" (output above)", name,
                      expected[i]);
    ck_assert_msg(rc == want_rc, "%s: exit %d (output above)", name, rc);
    free(out);
}

START_TEST(test_conform_against_kamailio_ws)
{
    struct test_relay relay;
    test_relay_start(&relay, true, "");
    if (test_relay_skip(&relay, "conform_ws against_kamailio_ws") ||
        test_relay_ws_skip(&relay, "conform_ws against_kamailio_ws")) {
        test_relay_stop(&relay);
        return;
    }
    struct tmp t;
    tmp_make(&t);
    char ws_msrp[160];
    snprintf(ws_msrp, sizeof ws_msrp, "msrp://127.0.0.1:%u;ws", (unsigned)relay.ws_port);
    /* Every relay case over ws:// (the RFC 4976 failures make it exit 1). */
    int all = kamailio_ws_run(t.dir, relay.ws_uri, NULL, NULL, "ws.txt");
    /* The RFC 7977 cases: over wss, in the msrp://...;ws form, and with b over plain TCP. */
    int wss = kamailio_ws_run(t.dir, relay.wss_uri, NULL, "7977-", "wss.txt");
    int form = kamailio_ws_run(t.dir, ws_msrp, NULL, "7977-", "form.txt");
    int mixed = kamailio_ws_run(t.dir, relay.ws_uri, relay.uri, "7977-", "mixed.txt");
    test_relay_stop(&relay);
    kamailio_ws_check(all, 1, t.dir, "ws.txt", ws_expected);
    kamailio_ws_check(all, 1, t.dir, "ws.txt", ws7977_expected);
    kamailio_ws_check(wss, 0, t.dir, "wss.txt", ws7977_expected);
    kamailio_ws_check(form, 0, t.dir, "form.txt", ws7977_expected);
    kamailio_ws_check(mixed, 0, t.dir, "mixed.txt", ws7977_expected);
    /* b over TCP: the relay bridges a's WebSocket and b's TCP connection; b's URI is a tcp
     * one, a's the .invalid ws one of RFC 7977 Appendix A. */
    char path[160];
    snprintf(path, sizeof path, "%s/mixed.txt", t.dir);
    char *out = test_read_text(path);
    ck_assert_msg(strstr(out, "b> From-Path: msrp://127.0.0.1:2855/") != NULL, "%s", out);
    ck_assert_msg(strstr(out, ".invalid:2855/") != NULL, "%s", out);
    free(out);
    tmp_remove(&t);
}
END_TEST

Suite *make_conform_ws_suite(void)
{
    Suite *s = suite_create("conform_ws");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_relay_uri_forms);
    tcase_add_test(tc, test_ws_options);
    tcase_add_test(tc, test_ws_case_quotes_are_the_rfc_s);
    tcase_add_test(tc, test_relay_cases_pass_against_fake_ws_relay);
    tcase_add_test(tc, test_each_ws_case_fails_against_its_wrong_relay);
    tcase_add_test(tc, test_unauthenticated_refusal_by_close_passes);
    tcase_add_test(tc, test_conform_against_kamailio_ws);
    suite_add_tcase(s, tc);
    return s;
}
