/*
 * check_sip_run.c - whole runs of the sip topology (src/load/topology_sip.c) through a real
 * Kamailio SIP registrar and proxy (tools/sip/start.sh): `msrpload run scenarios/sip-chat.json
 * --sip-proxy ...` as a user runs it, its exit code and summary.json read back with jansson.
 *
 *  - over UDP and over TCP to the proxy (and once with the MSRP sessions over TLS): every
 *    answering agent registers, every session is set up (INVITE through the proxy, 200, ACK),
 *    chats with every message delivered and checked by SHA-256 at our answering end, and ends
 *    with a BYE that is answered; the counts add up and every SIP phase has its latencies;
 *  - a wrong password: every REGISTER gets 403, no session is called, every session fails
 *    with the status in its failure and the run exits 3 (README "Exit codes": no session
 *    bound);
 *  - the same with a share of 100,000 sessions in 2 s: the runner waits between sessions
 *    calling a user whose REGISTER failed instead of burning the share;
 *  - a --sip-target nobody registered: every INVITE gets 404 through the proxy, counted by
 *    status, and the run exits 3;
 *  - scenarios/sip-relay.json with --relay: the same Kamailio is the proxy and the RFC 4976
 *    relay (topology_sip_relay.c): both ends of every session AUTH, every offer that reached
 *    our answering agent through the proxy carried a=msrp-cema and an a=path beginning at the
 *    relay, every answer came back without a=msrp-cema (RFC 6714 section 4.3, criterion 1:
 *    both ends use relays, so the answerer MUST fall back and MUST NOT insert it), and every
 *    message went through the relay, delivered (tracked: the relay's 200 is hop-by-hop) and
 *    checked by SHA-256, then BYE.
 *
 *  - (tcase proxy_tls, a proxy of its own with TLS and one TCP worker) SIP over TLS: sips:
 *    verified with --sip-ca against start.sh's certificate and ;transport=tls with
 *    --sip-insecure, each as clean as over UDP; a CA that did not sign the proxy's certificate
 *    fails every REGISTER at once (503, OpenSSL's reason in first_error and on stderr) and the
 *    run exits 3; neither option: exit 2 naming both.
 *
 *  - (tcase recovery, its own proxy started late) the first REGISTERs refused, retried,
 *    registered, and the sessions after that set up;
 *  - (tcase options, no peer) run's usage errors for the SIP options name the scenario's
 *    topology.sip.users, this --shard's slice, an unresolvable --sip-proxy, and exit 2;
 *  - (tcase sdp_path, no peer) the a=path an end offers through its relay: its Use-Path
 *    reversed, then its own URI (RFC 4976 section 5.1's example).
 *
 * One proxy, with the MSRP relay in the same instance, for the suite's tcase "proxy"
 * (unchecked fixture). Every msrpload run is under
 * `timeout 60`. Without Kamailio every test prints why it is skipped and returns (a counted
 * skip; a failure under REQUIRE_SIP=1, see tests/sip_testutil.h).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "load/relay_pair.h"
#include "net/tls.h"
#include "sip_testutil.h"
#include "suites.h"
#include "testutil.h"

static struct test_sip P;

static void proxy_setup(void)
{
    test_sip_start(&P, false, true, "");
}

static void proxy_teardown(void)
{
    test_sip_stop(&P);
}

struct run_out {
    int code;
    char dir[400];
    char *err;
    json_t *summary;
};

/* `timeout 60 msrpload run SCENARIO ARGS --out DIR --quiet`. */
static void run_scenario(const struct tmp *t, const char *tag, const char *scenario,
                         const char *args, struct run_out *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "%s/%s", t->dir, tag);
    char cmd[4096], errpath[512];
    snprintf(errpath, sizeof(errpath), "%s/%s.stderr", t->dir, tag);
    snprintf(cmd, sizeof(cmd),
             "env -u MSRPLOAD_SIP_PASSWORD -u MSRPLOAD_RELAY_PASSWORD timeout 60 %s run %s %s "
             "--out '%s' --quiet >/dev/null 2>'%s'",
             msrpload_binary(), scenario, args, r->dir, errpath);
    int st = system(cmd);
    ck_assert_msg(WIFEXITED(st), "%s: not exited (status %d)", cmd, st);
    r->code = WEXITSTATUS(st);
    r->err = test_read_text(errpath);
    ck_assert_msg(r->code != 124, "%s: msrpload did not finish within 60 s; stderr: %s", tag,
                  r->err);
    char path[512];
    snprintf(path, sizeof(path), "%s/summary.json", r->dir);
    json_error_t jerr;
    r->summary = json_load_file(path, 0, &jerr);
    ck_assert_msg(r->summary != NULL, "%s: %s; stderr: %s", path, jerr.text, r->err);
    char *sip = json_dumps(json_object_get(r->summary, "sip"), JSON_COMPACT);
    fprintf(stderr, "sip_run: %s: exit %d, sip %s\n", tag, r->code, sip ? sip : "(none)");
    free(sip);
}

/* `timeout 60 msrpload run scenarios/sip-chat.json ARGS --out DIR --quiet`. */
static void run_sip(const struct tmp *t, const char *tag, const char *args, struct run_out *r)
{
    run_scenario(t, tag, "scenarios/sip-chat.json", args, r);
}

static void run_free(struct run_out *r)
{
    free(r->err);
    json_decref(r->summary);
}

/* An integer at a dotted path of summary.json (a key may not hold a dot); the test fails when
 * it is missing. */
static long long jint(const struct run_out *r, const char *path)
{
    return test_summary_int(r->summary, path);
}

static void password_file(const struct tmp *t, const char *pass, char *path, size_t cap)
{
    snprintf(path, cap, "%s/password-%s", t->dir, pass);
    char text[128];
    snprintf(text, sizeof(text), "%s\n", pass);
    test_write_text(path, text);
}

/* scenarios/sip-chat.json: 20 sessions of 5 messages, users sip0000..0003 over 2 threads. */
#define SESSIONS 20
#define MESSAGES 100
#define USERS 4

static void check_clean_run(const struct run_out *r)
{
    ck_assert_msg(r->code == 0, "exit %d; stderr: %s", r->code, r->err);
    /* every answering agent registered (refreshes come after 300 s: none here) */
    ck_assert_int_eq(jint(r, "sip.register_ok"), USERS);
    ck_assert_int_eq(jint(r, "sip.register_failed"), 0);
    /* every session set up by one INVITE answered 200, ended by a BYE answered 2xx */
    ck_assert_int_eq(jint(r, "sessions.started"), SESSIONS);
    ck_assert_int_eq(jint(r, "sessions.bound"), SESSIONS);
    ck_assert_int_eq(jint(r, "sessions.completed"), SESSIONS);
    ck_assert_int_eq(jint(r, "sip.calls"), SESSIONS);
    ck_assert_int_eq(jint(r, "sip.calls_established"), SESSIONS);
    ck_assert_int_eq(jint(r, "sip.calls_failed"), 0);
    ck_assert_int_eq(jint(r, "sip.calls_unfinished"), 0);
    ck_assert_int_eq(jint(r, "sip.invite_final.200"), SESSIONS);
    ck_assert_int_eq(jint(r, "sip.bye_ok"), SESSIONS);
    ck_assert_int_eq(jint(r, "sip.bye_failed") + jint(r, "sip.bye_unfinished"), 0);
    /* every message answered, delivered to our answering end and its SHA-256 checked */
    ck_assert_int_eq(jint(r, "messages.sent"), MESSAGES);
    ck_assert_int_eq(jint(r, "messages.ok"), MESSAGES);
    ck_assert_int_eq(jint(r, "messages.delivered"), MESSAGES);
    ck_assert_int_eq(jint(r, "messages.checked"), MESSAGES);
    ck_assert_int_eq(jint(r, "expectations.failures"), 0);
    /* each phase measured once per registration or call */
    ck_assert_int_eq(jint(r, "latency_us.sip-register.count"), USERS);
    ck_assert_int_eq(jint(r, "latency_us.sip-invite-1xx.count"), SESSIONS);
    ck_assert_int_eq(jint(r, "latency_us.sip-invite-2xx.count"), SESSIONS);
    ck_assert_int_eq(jint(r, "latency_us.sip-setup-bind.count"), SESSIONS);
    ck_assert_int_eq(jint(r, "latency_us.sip-bye.count"), SESSIONS);
    /* the 2xx comes after the first 1xx of the same INVITE */
    ck_assert_int_ge(jint(r, "latency_us.sip-invite-2xx.min"),
                     jint(r, "latency_us.sip-invite-1xx.min"));
}

START_TEST(sip_run_udp)
{
    if (test_sip_skip(&P, "sip_run_udp"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[512], args[1200];
    password_file(&t, "sippass", pw, sizeof(pw));
    snprintf(args, sizeof(args), "--sip-proxy sip:127.0.0.1:%u --sip-password-file '%s'",
             (unsigned)P.port, pw);
    struct run_out r;
    run_sip(&t, "udp", args, &r);
    check_clean_run(&r);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

START_TEST(sip_run_tcp)
{
    if (test_sip_skip(&P, "sip_run_tcp"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[512], args[1200];
    password_file(&t, "sippass", pw, sizeof(pw));
    snprintf(args, sizeof(args),
             "--sip-proxy 'sip:127.0.0.1:%u;transport=tcp' --sip-password-file '%s'",
             (unsigned)P.port, pw);
    struct run_out r;
    run_sip(&t, "tcp", args, &r);
    check_clean_run(&r);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* MSRP over TLS (TCP/TLS/MSRP offered and answered, msrps paths), SIP over TCP. */
START_TEST(sip_run_tls_msrp)
{
    if (test_sip_skip(&P, "sip_run_tls_msrp"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[512], args[1200];
    password_file(&t, "sippass", pw, sizeof(pw));
    snprintf(args, sizeof(args),
             "--transport tls --sip-proxy 'sip:127.0.0.1:%u;transport=tcp' "
             "--sip-password-file '%s'",
             (unsigned)P.port, pw);
    struct run_out r;
    run_sip(&t, "tls-msrp", args, &r);
    check_clean_run(&r);
    ck_assert_int_eq(jint(&r, "latency_us.tls-handshake.count"), SESSIONS);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

START_TEST(sip_run_wrong_password)
{
    if (test_sip_skip(&P, "sip_run_wrong_password"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[512], args[1200];
    password_file(&t, "not-the-password", pw, sizeof(pw));
    snprintf(args, sizeof(args), "--sip-proxy sip:127.0.0.1:%u --sip-password-file '%s'",
             (unsigned)P.port, pw);
    struct run_out r;
    run_sip(&t, "wrong-password", args, &r);
    ck_assert_msg(r.code == 3, "exit %d (expected 3: no session bound); stderr: %s", r.code,
                  r.err);
    /* the proxy answers a wrong digest with 403 (tools/sip/README.md) */
    ck_assert_int_eq(jint(&r, "sip.register_ok"), 0);
    ck_assert_int_eq(jint(&r, "sip.register_failed"), USERS);
    ck_assert_int_eq(jint(&r, "sip.calls"), 0);
    ck_assert_int_eq(jint(&r, "sessions.started"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sessions.failed"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sessions.bound"), 0);
    ck_assert_int_eq(jint(&r, "sessions.ends.connect-failed"), SESSIONS);
    const char *fe = json_string_value(json_object_get(r.summary, "first_error"));
    ck_assert_msg(fe != NULL && strstr(fe, "REGISTER") != NULL && strstr(fe, "403") != NULL,
                  "first_error: %s", fe ? fe : "(none)");
    ck_assert_msg(strstr(r.err, "403") != NULL, "stderr names no 403: %s", r.err);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* A registrar refusing every REGISTER and a share of 100,000 sessions: the sessions calling a
 * user whose REGISTER failed fail at their start, and the runner waits before the next
 * (topology.h, ECONNREFUSED), so the 2 s run does not burn its whole share in a blink. */
START_TEST(sip_run_refused_no_storm)
{
    if (test_sip_skip(&P, "sip_run_refused_no_storm"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[512], args[1200];
    password_file(&t, "not-the-password", pw, sizeof(pw));
    snprintf(args, sizeof(args), "--sip-proxy sip:127.0.0.1:%u --sip-password-file '%s' "
             "--sessions 100000 --duration 2", (unsigned)P.port, pw);
    struct run_out r;
    run_sip(&t, "refused-storm", args, &r);
    ck_assert_msg(r.code == 3, "exit %d (expected 3); stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sip.register_ok"), 0);
    long long started = jint(&r, "sessions.started");
    ck_assert_msg(started < 100000, "%lld sessions started and failed in a 2 s run", started);
    ck_assert_int_eq(jint(&r, "sessions.failed"), started);
    ck_assert_int_eq(jint(&r, "sessions.ends.connect-failed"), started);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

START_TEST(sip_run_target_not_found)
{
    if (test_sip_skip(&P, "sip_run_target_not_found"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[512], args[1200];
    password_file(&t, "sippass", pw, sizeof(pw));
    /* sip0090 is a user of the proxy's, registered by nobody: the proxy's lookup fails */
    snprintf(args, sizeof(args),
             "--sip-proxy sip:127.0.0.1:%u --sip-password-file '%s' "
             "--sip-target sip:sip0090@msrpload.test",
             (unsigned)P.port, pw);
    struct run_out r;
    run_sip(&t, "not-found", args, &r);
    ck_assert_msg(r.code == 3, "exit %d (expected 3); stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sip.register_ok") + jint(&r, "sip.register_failed"), 0);
    ck_assert_int_eq(jint(&r, "sip.calls"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.calls_failed"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.invite_final.404"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sessions.failed"), SESSIONS);
    const char *fe = json_string_value(json_object_get(r.summary, "first_error"));
    ck_assert_msg(fe != NULL && strstr(fe, "INVITE") != NULL && strstr(fe, "404") != NULL,
                  "first_error: %s", fe ? fe : "(none)");
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* scenarios/sip-relay.json through the proxy and its relay, the relay's accounts with rpass. */
static void run_relay_scenario(struct tmp *t, const char *rpass, const char *name,
                               struct run_out *r)
{
    tmp_make(t);
    char pw[512], rpw[512], args[1600];
    password_file(t, "sippass", pw, sizeof(pw));
    password_file(t, rpass, rpw, sizeof(rpw));
    snprintf(args, sizeof(args),
             "--sip-proxy sip:127.0.0.1:%u --sip-password-file '%s' "
             "--relay 'msrp://127.0.0.1:%u;tcp' --relay-password-file '%s'",
             (unsigned)P.port, pw, (unsigned)P.msrp_port, rpw);
    run_scenario(t, name, "scenarios/sip-relay.json", args, r);
}

/* scenarios/sip-relay.json: the same counts as sip-chat.json, through the relay. */
START_TEST(sip_run_relay_cema)
{
    if (test_sip_skip(&P, "sip_run_relay_cema"))
        return;
    struct tmp t;
    struct run_out r;
    run_relay_scenario(&t, "loadpass", "relay-cema", &r);
    check_clean_run(&r);
    /* both ends of every session authenticated with the relay, none failed */
    ck_assert_int_eq(jint(&r, "relay.auth_ok"), 2 * SESSIONS);
    ck_assert_int_eq(jint(&r, "relay.auth_failed"), 0);
    /* the relay's 200 is hop-by-hop: each message was tracked to our answering end, with its
     * success REPORT (the scenario's expectations) */
    ck_assert_int_eq(jint(&r, "messages.undelivered"), 0);
    ck_assert_int_eq(jint(&r, "latency_us.auth.count"), 2 * SESSIONS);
    /* the offers as the answering agents read them, after the proxy: CEMA, relay first */
    ck_assert_int_eq(jint(&r, "sip.relay.offers_sent_cema"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.relay.offers_cema"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.relay.offers_relay_first"), SESSIONS);
    /* RFC 6714 section 4.3: both ends use relays, so no answer carries a=msrp-cema */
    ck_assert_int_eq(jint(&r, "sip.relay.answers_cema"), 0);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* kind "sip" with topology.relay.uri and topology.sip.proxy in the file, no option: the same
 * run through the relay. */
START_TEST(sip_run_relay_in_scenario)
{
    if (test_sip_skip(&P, "sip_run_relay_in_scenario"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[512], rpw[512], args[1600], scn[512], uri[128];
    password_file(&t, "sippass", pw, sizeof(pw));
    password_file(&t, "loadpass", rpw, sizeof(rpw));
    json_error_t jerr;
    json_t *root = json_load_file("scenarios/sip-relay.json", 0, &jerr);
    ck_assert_msg(root != NULL, "scenarios/sip-relay.json: %s", jerr.text);
    json_t *topo = json_object_get(root, "topology");
    snprintf(uri, sizeof(uri), "msrp://127.0.0.1:%u;tcp", (unsigned)P.msrp_port);
    json_object_set_new(json_object_get(topo, "relay"), "uri", json_string(uri));
    snprintf(uri, sizeof(uri), "sip:127.0.0.1:%u", (unsigned)P.port);
    json_object_set_new(json_object_get(topo, "sip"), "proxy", json_string(uri));
    snprintf(scn, sizeof(scn), "%s/sip-relay-file.json", t.dir);
    ck_assert_int_eq(json_dump_file(root, scn, 0), 0);
    json_decref(root);
    snprintf(args, sizeof(args), "--sip-password-file '%s' --relay-password-file '%s'", pw, rpw);
    struct run_out r;
    run_scenario(&t, "relay-file", scn, args, &r);
    check_clean_run(&r);
    ck_assert_int_eq(jint(&r, "relay.auth_ok"), 2 * SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.relay.offers_relay_first"), SESSIONS);
    ck_assert_int_eq(jint(&r, "messages.undelivered"), 0);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* A wrong relay password: every AUTH is refused, so no session INVITEs, each fails as
 * auth-failed with the relay's answer in its failure, and the run exits 3. */
START_TEST(sip_run_relay_wrong_password)
{
    if (test_sip_skip(&P, "sip_run_relay_wrong_password"))
        return;
    struct tmp t;
    struct run_out r;
    run_relay_scenario(&t, "not-loadpass", "relay-wrong-password", &r);
    ck_assert_msg(r.code == 3, "exit %d (expected 3); stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "relay.auth_ok"), 0);
    ck_assert_int_eq(jint(&r, "relay.auth_failed"), 2 * SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.calls"), 0);
    ck_assert_int_eq(jint(&r, "sessions.failed"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sessions.ends.auth-failed"), SESSIONS);
    const char *fe = json_string_value(json_object_get(r.summary, "first_error"));
    ck_assert_msg(fe != NULL && strstr(fe, "forbidden") != NULL, "first_error: %s",
                  fe ? fe : "(none)");
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* What cannot go through a relay is refused before anything starts (exit 2, a usage error
 * naming the options); no proxy or relay is reached. */
START_TEST(sip_run_relay_refused)
{
    struct tmp t;
    tmp_make(&t);
    char pw[512], args[1600];
    password_file(&t, "sippass", pw, sizeof(pw));
    static const struct {
        const char *tag, *args, *says;
    } cases[] = {
        {"relay-target", "--relay 'msrp://127.0.0.1:9;tcp' --sip-target sip:x@127.0.0.1",
         "--sip-target sip:x@127.0.0.1 and the relay"},
        {"relay-no-uri", "", "kind \"sip\" with topology.relay runs through that relay"},
        {"relay-ws", "--relay ws://127.0.0.1:9/msrp", "not ws"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(args, sizeof(args),
                 "--sip-proxy sip:127.0.0.1:9 --sip-password-file '%s' "
                 "--relay-password-file '%s' %s",
                 pw, pw, cases[i].args);
        char cmd[4096], errpath[512];
        snprintf(errpath, sizeof(errpath), "%s/%s.stderr", t.dir, cases[i].tag);
        snprintf(cmd, sizeof(cmd), "timeout 60 %s run scenarios/sip-relay.json %s --out '%s/%s' "
                 "--quiet >/dev/null 2>'%s'", msrpload_binary(), args, t.dir, cases[i].tag,
                 errpath);
        int st = system(cmd);
        char *err = test_read_text(errpath);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: status %d; stderr: %s",
                      cases[i].tag, st, err);
        ck_assert_msg(strstr(err, cases[i].says) != NULL, "%s: stderr lacks \"%s\": %s",
                      cases[i].tag, cases[i].says, err);
        free(err);
    }
    tmp_remove(&t);
}
END_TEST

/* ---- SIP over TLS (tcase proxy_tls: a proxy of its own with TLS) ---------------------------- */

/* One TCP worker: Kamailio 5.6.3 on OpenSSL 3 double-frees TLS state with several
 * (tools/sip/README.md, "Known Kamailio problems"). */
static struct test_sip PT;

static void proxy_tls_setup(void)
{
    test_sip_start(&PT, true, false, "SIP_TCP_CHILDREN=1");
}

static void proxy_tls_teardown(void)
{
    test_sip_stop(&PT);
}

static bool jtrue(const struct run_out *r, const char *key)
{
    return json_is_true(json_object_get(json_object_get(json_object_get(r->summary, "config"),
                                                        "sip"),
                                        key));
}

/* The agents' SIP over TLS to the proxy: sips: verified against start.sh's certificate, and
 * ;transport=tls with --sip-insecure; every message delivered either way. */
START_TEST(sip_run_sip_tls)
{
    if (test_sip_skip(&PT, "sip_run_sip_tls"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[512], args[1800];
    password_file(&t, "sippass", pw, sizeof(pw));
    snprintf(args, sizeof(args),
             "--sip-proxy sips:127.0.0.1:%u --sip-ca '%s' --sip-password-file '%s'",
             (unsigned)PT.tls_port, PT.cert, pw);
    struct run_out r;
    run_sip(&t, "sips", args, &r);
    check_clean_run(&r);
    ck_assert(jtrue(&r, "tls"));
    ck_assert(jtrue(&r, "tls_verified"));
    run_free(&r);
    snprintf(args, sizeof(args),
             "--sip-proxy 'sip:127.0.0.1:%u;transport=tls' --sip-insecure "
             "--sip-password-file '%s'",
             (unsigned)PT.tls_port, pw);
    run_sip(&t, "transport-tls", args, &r);
    check_clean_run(&r);
    ck_assert(jtrue(&r, "tls"));
    ck_assert(!jtrue(&r, "tls_verified"));
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* A CA that did not sign the proxy's certificate: every REGISTER fails at once as a 503 whose
 * reason is OpenSSL's, no session is called, and the run exits 3 (no session bound). */
START_TEST(sip_run_sip_tls_wrong_ca)
{
    if (test_sip_skip(&PT, "sip_run_sip_tls_wrong_ca"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[512], ca[512], key[512], args[1800], err[256];
    password_file(&t, "sippass", pw, sizeof(pw));
    snprintf(ca, sizeof(ca), "%s/other-ca.pem", t.dir);
    snprintf(key, sizeof(key), "%s/other-key.pem", t.dir);
    ck_assert_msg(net_tls_make_self_signed(ca, key, "localhost", err, sizeof(err)) == 0, "%s",
                  err);
    snprintf(args, sizeof(args),
             "--sip-proxy sips:127.0.0.1:%u --sip-ca '%s' --sip-password-file '%s'",
             (unsigned)PT.tls_port, ca, pw);
    struct run_out r;
    run_sip(&t, "wrong-ca", args, &r);
    ck_assert_msg(r.code == 3, "exit %d (expected 3: no session bound); stderr: %s", r.code,
                  r.err);
    ck_assert_int_eq(jint(&r, "sip.register_ok"), 0);
    ck_assert_int_eq(jint(&r, "sip.register_failed"), USERS);
    ck_assert_int_eq(jint(&r, "sip.calls"), 0);
    ck_assert_int_eq(jint(&r, "sessions.failed"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sessions.ends.connect-failed"), SESSIONS);
    const char *fe = json_string_value(json_object_get(r.summary, "first_error"));
    ck_assert_msg(fe != NULL && strstr(fe, "REGISTER") != NULL && strstr(fe, "503") != NULL &&
                      strstr(fe, "certificate verify failed") != NULL,
                  "first_error: %s", fe ? fe : "(none)");
    ck_assert_msg(strstr(r.err, "certificate verify failed") != NULL,
                  "stderr does not say why: %s", r.err);
    run_free(&r);
    /* neither --sip-ca nor --sip-insecure: a usage error before anything is sent */
    snprintf(args, sizeof(args), "--sip-proxy sips:127.0.0.1:%u --sip-password-file '%s'",
             (unsigned)PT.tls_port, pw);
    char cmd[4096], errpath[512];
    snprintf(errpath, sizeof(errpath), "%s/no-ca.stderr", t.dir);
    snprintf(cmd, sizeof(cmd), "timeout 60 %s run scenarios/sip-chat.json %s --out '%s/no-ca' "
             "--quiet >/dev/null 2>'%s'", msrpload_binary(), args, t.dir, errpath);
    int st = system(cmd);
    char *e = test_read_text(errpath);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "no CA: status %d; stderr: %s", st, e);
    ck_assert_msg(strstr(e, "--sip-ca FILE") != NULL && strstr(e, "--sip-insecure") != NULL,
                  "no CA: stderr: %s", e);
    free(e);
    tmp_remove(&t);
}
END_TEST

/* The a=path an end offers through its relays (RFC 4976 section 5.1: the Use-Path reversed,
 * then its own URI), pure: relay_pair_sdp_path on a pair filled by hand. */
START_TEST(sip_relay_sdp_path)
{
    struct relay_pair *rp = calloc(1, sizeof(*rp));
    ck_assert_ptr_nonnull(rp);
    char out[512];
    snprintf(rp->side[0].local_uri, sizeof(rp->side[0].local_uri), "msrp://a.example:9/a;tcp");
    snprintf(rp->side[0].use_path, sizeof(rp->side[0].use_path), "msrp://b.example:1/x;tcp");
    ck_assert_int_eq(relay_pair_sdp_path(rp, 0, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "msrp://b.example:1/x;tcp msrp://a.example:9/a;tcp");
    /* the RFC's example: Use-Path "B C" from the client A gives "C B A" */
    snprintf(rp->side[1].local_uri, sizeof(rp->side[1].local_uri), "msrp://a.example:9/A;tcp");
    snprintf(rp->side[1].use_path, sizeof(rp->side[1].use_path),
             "msrp://b.example:1/B;tcp  msrp://c.example:2/C;tcp ");
    ck_assert_int_eq(relay_pair_sdp_path(rp, 1, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "msrp://c.example:2/C;tcp msrp://b.example:1/B;tcp "
                          "msrp://a.example:9/A;tcp");
    /* too small: ENOSPC, never a cut path */
    ck_assert_int_eq(relay_pair_sdp_path(rp, 1, out, 40), ENOSPC);
    ck_assert_int_eq(relay_pair_sdp_path(rp, 1, out, strlen("msrp://c.example:2/C;tcp "
                                                            "msrp://b.example:1/B;tcp "
                                                            "msrp://a.example:9/A;tcp")),
                     ENOSPC);
    free(rp);
}
END_TEST

/* The proxy comes up only after the run started: every first REGISTER (over TCP) meets a
 * refused connection (503 at once), the sessions calling those users fail at their start
 * (the runner waiting between them), the agents try again 32 s later (a 5xx's retry: a
 * quarter of the 600 s asked, at most 32 s), register, and the sessions after that are set
 * up and complete. */
START_TEST(sip_run_register_recovers)
{
    if (system("command -v kamailio >/dev/null 2>&1 || test -x /usr/sbin/kamailio") != 0) {
        struct test_sip none = {.up = false};
        snprintf(none.skip, sizeof(none.skip), "kamailio is not installed");
        test_sip_skip(&none, "sip_run_register_recovers");
        return;
    }
    struct tmp t;
    tmp_make(&t);
    uint16_t port = test_sip_free_port();
    ck_assert_uint_ne(port, 0);
    char pw[512], args[1200];
    password_file(&t, "sippass", pw, sizeof(pw));
    snprintf(args, sizeof(args), "--sip-proxy 'sip:127.0.0.1:%u;transport=tcp' "
             "--sip-password-file '%s' --threads 1 --sip-users 2 --concurrency 2 "
             "--sessions 100000 --duration 42", (unsigned)port, pw);
    /* A child starts the proxy 3 s into the run and leaves its pidfile's name in a file. */
    char note[600];
    snprintf(note, sizeof(note), "%s/late-proxy", t.dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct timespec ts = {.tv_sec = 3};
        nanosleep(&ts, NULL);
        struct test_sip late;
        test_sip_start_on(&late, port, false, false, "");
        FILE *f = fopen(note, "w");
        if (f != NULL) {
            fprintf(f, "%s", late.up ? late.pidfile : "");
            fclose(f);
        }
        _exit(late.up ? 0 : 1);
    }
    struct run_out r;
    run_sip(&t, "recovers", args, &r);
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    struct test_sip late = {.up = true};
    char *pidfile = test_read_text(note);
    snprintf(late.pidfile, sizeof(late.pidfile), "%s", pidfile);
    free(pidfile);
    if (late.pidfile[0] != '\0')
        test_sip_stop(&late);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the proxy did not start on port %u",
                  (unsigned)port);
    ck_assert_msg(r.code == 1, "exit %d (expected 1: some failed, some bound); stderr: %s",
                  r.code, r.err);
    ck_assert_int_eq(jint(&r, "sip.register_failed"), 2); /* the refused connections */
    ck_assert_int_eq(jint(&r, "sip.register_ok"), 2);    /* the retries */
    ck_assert_int_gt(jint(&r, "sessions.failed"), 0);
    ck_assert_int_gt(jint(&r, "sessions.completed"), 0);
    ck_assert_int_eq(jint(&r, "sessions.ends.connect-failed"), jint(&r, "sessions.failed"));
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* ---- run's checks of the SIP options (no proxy: each run stops before any worker) ---- */

/* `msrpload run scenarios/sip-chat.json ARGS`: its exit code, its stderr in *err (free it). */
static int run_cli(const struct tmp *t, const char *args, char **err)
{
    char cmd[2048], errpath[512];
    snprintf(errpath, sizeof(errpath), "%s/cli.stderr", t->dir);
    snprintf(cmd, sizeof(cmd),
             "MSRPLOAD_SIP_PASSWORD=unused timeout 30 %s run scenarios/sip-chat.json %s "
             "--out '%s/cli' --quiet >/dev/null 2>'%s'",
             msrpload_binary(), args, t->dir, errpath);
    int st = system(cmd);
    ck_assert_msg(WIFEXITED(st), "%s: not exited (status %d)", cmd, st);
    *err = test_read_text(errpath);
    return WEXITSTATUS(st);
}

/* Usage errors (exit 2, README "Exit codes") that name where the value came from: the
 * scenario's topology.sip.users, this shard's slice of the users, an unresolvable
 * --sip-proxy. */
START_TEST(sip_run_option_errors)
{
    struct tmp t;
    tmp_make(&t);
    char *err = NULL;
    /* sip-chat.json has topology.sip.users 4: 8 threads (concurrency 10) need 8 */
    int code = run_cli(&t, "--sip-proxy sip:127.0.0.1:9 --threads 8", &err);
    ck_assert_msg(code == 2 && strstr(err, "topology.sip.users 4") != NULL &&
                      strstr(err, "sip-chat.json") != NULL,
                  "exit %d: %s", code, err);
    free(err);
    /* 3 users over 2 shards: shard 1 plays 1 of them, for 2 threads */
    code = run_cli(&t, "--sip-proxy sip:127.0.0.1:9 --sip-users 3 --threads 2 --shard 1/2",
                   &err);
    ck_assert_msg(code == 2 && strstr(err, "--sip-users 3") != NULL &&
                      strstr(err, "shard 1/2") != NULL,
                  "exit %d: %s", code, err);
    free(err);
    code = run_cli(&t, "--sip-proxy sip:no-such-host.invalid:5060", &err);
    ck_assert_msg(code == 2 && strstr(err, "--sip-proxy") != NULL &&
                      strstr(err, "no-such-host.invalid") != NULL,
                  "exit %d: %s", code, err);
    free(err);
    tmp_remove(&t);
}
END_TEST

Suite *make_sip_run_suite(void)
{
    Suite *s = suite_create("sip_run");
    TCase *tc = tcase_create("proxy");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, proxy_setup, proxy_teardown);
    tcase_add_test(tc, sip_run_udp);
    tcase_add_test(tc, sip_run_tcp);
    tcase_add_test(tc, sip_run_tls_msrp);
    tcase_add_test(tc, sip_run_wrong_password);
    tcase_add_test(tc, sip_run_refused_no_storm);
    tcase_add_test(tc, sip_run_target_not_found);
    tcase_add_test(tc, sip_run_relay_cema);
    tcase_add_test(tc, sip_run_relay_in_scenario);
    tcase_add_test(tc, sip_run_relay_refused);
    tcase_add_test(tc, sip_run_relay_wrong_password);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("proxy_tls");
    tcase_set_timeout(tt, 240);
    tcase_add_unchecked_fixture(tt, proxy_tls_setup, proxy_tls_teardown);
    tcase_add_test(tt, sip_run_sip_tls);
    tcase_add_test(tt, sip_run_sip_tls_wrong_ca);
    suite_add_tcase(s, tt);
    TCase *tp = tcase_create("sdp_path");
    tcase_add_test(tp, sip_relay_sdp_path);
    suite_add_tcase(s, tp);
    TCase *tr = tcase_create("recovery");
    tcase_set_timeout(tr, 150);
    tcase_add_test(tr, sip_run_register_recovers);
    suite_add_tcase(s, tr);
    TCase *to = tcase_create("options");
    tcase_set_timeout(to, 120);
    tcase_add_test(to, sip_run_option_errors);
    suite_add_tcase(s, to);
    return s;
}
