/*
 * check_sip_peers.c - the real SIP peers on their own: the scripted Kamailio registrar/proxy
 * (tools/sip) and the SIPp scenarios (tests/sip) that msrpload's SIP tests call and answer.
 *
 * Each tcase starts one proxy on free loopback ports (an unchecked fixture, so it is stopped even
 * when a test fails) and each test runs SIPp processes against it, with a callee of its own
 * (registrations stay for the tcase):
 * REGISTER with digest (right and wrong password), INVITE with an MSRP SDP offer from a SIPp
 * UAC through the proxy to a registered SIPp UAS over UDP and TCP (the a=path of each side
 * arrives intact at the other, the proxy record-routes), the negative answering peers (486,
 * 488, silence -> 408 from the proxy, a withheld ACK -> BYE from the answerer), an unregistered
 * callee (404), and the same instance with the MSRP relay (its AUTH challenged). What each SIPp
 * saw is read back from its -log_file. Without Kamailio or SIPp every test is a visible skip
 * (a failure under REQUIRE_SIP=1 / REQUIRE_RELAY=1). Every wait is bounded.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sip_testutil.h"
#include "suites.h"
#include "testutil.h"

#define SCEN "tests/sip"
#define UAC_MSRP_PORT "7001"
#define UAS_MSRP_PORT "7002"

/* The value after "key=" in a SIPp log (up to the next space or line end), "" if absent. */
static void log_value(const char *log, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    size_t kl = strlen(key);
    for (const char *p = strstr(log, key); p != NULL; p = strstr(p + 1, key)) {
        if ((p == log || p[-1] == ' ' || p[-1] == '\n') && p[kl] == '=') {
            const char *v = p + kl + 1;
            while (*v == ' ')
                v++; /* SIPp keeps the space after a header's colon */
            size_t n = strcspn(v, " \r\n");
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return;
        }
    }
}

static void path_of(char *out, size_t cap, const char *port, const char *session)
{
    snprintf(out, cap, "msrp://127.0.0.1:%s/%s;tcp", port, session);
}

/* SIPp REGISTER of user through the proxy; returns its exit code. */
static int sipp_register(const struct test_sip *s, const struct tmp *t, const char *scenario,
                         const char *user, const char *pass, const char *contact, bool tcp,
                         const char *log)
{
    char proxy[64], port[16], cwd[512], scenpath[700];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    snprintf(scenpath, sizeof(scenpath), "%s/%s/%s", cwd, SCEN, scenario);
    snprintf(proxy, sizeof(proxy), "127.0.0.1:%u", (unsigned)s->port);
    uint16_t lp = test_sip_free_port();
    ck_assert_uint_ne(lp, 0);
    snprintf(port, sizeof(port), "%u", (unsigned)lp);
    const char *args[] = {"-sf", scenpath, "-m", "1", "-s", user, "-au", user, "-ap", pass,
                          "-key", "contact", contact, "-key", "expires", "600",
                          "-i", "127.0.0.1", "-p", port, "-t", tcp ? "t1" : "u1",
                          "-timeout", "20s", "-nostdin", "-trace_logs", "-log_file", log,
                          proxy, NULL};
    struct test_sipp p;
    test_sipp_start(&p, t->dir, args);
    return test_sipp_wait(&p, 30);
}

struct call {
    int uac_rc, uas_rc, reg_rc;
    char *uac_log, *uas_log;
    char uac_path[128], uas_path[128];
};

/*
 * callee (a user sipNNNN) REGISTERs a SIPp UAS running uas_scenario; a SIPp UAC (sip0001) calls
 * it through the proxy with uac-invite.xml. ack: "yes" or "no" (withheld). uas_pause_ms: the
 * UAS's -d (uas-silent.xml's silence), or NULL.
 */
static void call_through(const struct test_sip *s, const struct tmp *t, const char *callee,
                         const char *uas_scenario, bool tcp, const char *ack,
                         const char *uas_pause_ms, struct call *c)
{
    memset(c, 0, sizeof(*c));
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    uint16_t uas_port = test_sip_free_port();
    ck_assert_uint_ne(uas_port, 0);
    char contact[128], uas_port_s[16];
    snprintf(uas_port_s, sizeof(uas_port_s), "%u", (unsigned)uas_port);
    snprintf(contact, sizeof(contact), "sip:%s@127.0.0.1:%u%s", callee, (unsigned)uas_port,
             tcp ? ";transport=tcp" : "");
    char reg_log[128];
    snprintf(reg_log, sizeof(reg_log), "%s/register.log", t->dir);
    c->reg_rc = sipp_register(s, t, "uac-register.xml", callee, "sippass", contact, tcp, reg_log);
    ck_assert_msg(c->reg_rc == 0, "the callee's REGISTER failed: sipp exit %d", c->reg_rc);

    char uas_scen[700], uac_scen[700], uas_log[128], uac_log[128], proxy[64], uac_port_s[16];
    snprintf(uas_scen, sizeof(uas_scen), "%s/%s/%s", cwd, SCEN, uas_scenario);
    snprintf(uac_scen, sizeof(uac_scen), "%s/%s/uac-invite.xml", cwd, SCEN);
    snprintf(uas_log, sizeof(uas_log), "%s/uas.log", t->dir);
    snprintf(uac_log, sizeof(uac_log), "%s/uac.log", t->dir);
    snprintf(proxy, sizeof(proxy), "127.0.0.1:%u", (unsigned)s->port);
    const char *tr = tcp ? "t1" : "u1";
    const char *uas_args[] = {"-sf", uas_scen, "-m", "1", "-s", callee,
                              "-key", "msrp_port", UAS_MSRP_PORT, "-key", "session", "uasSess42",
                              "-i", "127.0.0.1", "-p", uas_port_s, "-t", tr,
                              "-d", uas_pause_ms != NULL ? uas_pause_ms : "0",
                              "-timeout", "25s", "-nostdin", "-trace_logs", "-log_file", uas_log,
                              NULL};
    struct test_sipp uas;
    test_sipp_start(&uas, t->dir, uas_args);
    ck_assert_msg(test_sipp_wait_bound(uas_port, tcp), "the SIPp UAS did not bind 127.0.0.1:%u",
                  (unsigned)uas_port);

    uint16_t uac_port = test_sip_free_port();
    ck_assert_uint_ne(uac_port, 0);
    snprintf(uac_port_s, sizeof(uac_port_s), "%u", (unsigned)uac_port);
    const char *uac_args[] = {"-sf", uac_scen, "-m", "1", "-s", callee,
                              "-key", "from", "sip0001", "-key", "msrp_port", UAC_MSRP_PORT,
                              "-key", "session", "uacSess17", "-key", "ack", ack,
                              "-au", "sip0001", "-ap", "sippass",
                              "-i", "127.0.0.1", "-p", uac_port_s, "-t", tr,
                              "-timeout", "25s", "-nostdin", "-trace_logs", "-log_file", uac_log,
                              proxy, NULL};
    struct test_sipp uac;
    test_sipp_start(&uac, t->dir, uac_args);
    c->uac_rc = test_sipp_wait(&uac, 35);
    c->uas_rc = test_sipp_wait(&uas, 35);
    c->uac_log = test_slurp(uac_log);
    c->uas_log = test_slurp(uas_log);
    path_of(c->uac_path, sizeof(c->uac_path), UAC_MSRP_PORT, "uacSess17");
    path_of(c->uas_path, sizeof(c->uas_path), UAS_MSRP_PORT, "uasSess42");
}

static void call_free(struct call *c)
{
    free(c->uac_log);
    free(c->uas_log);
}

/* The common checks of an answered call: both sides' paths intact, record-routed. */
static void check_answered(const struct test_sip *s, const struct call *c, bool tcp)
{
    char v[256], rr[64];
    ck_assert_msg(c->uac_rc == 0 && c->uas_rc == 0, "sipp exits: UAC %d, UAS %d\nUAC log:\n%s\nUAS log:\n%s",
                  c->uac_rc, c->uas_rc, c->uac_log, c->uas_log);
    log_value(c->uac_log, "final", v, sizeof(v));
    ck_assert_str_eq(v, "200");
    /* the offer's a=path as the answerer read it, and as it told the caller it read it */
    log_value(c->uas_log, "offer-path", v, sizeof(v));
    ck_assert_str_eq(v, c->uac_path);
    log_value(c->uac_log, "offer-path-seen", v, sizeof(v));
    ck_assert_str_eq(v, c->uac_path);
    /* the answer's a=path at the caller */
    log_value(c->uac_log, "answer-path", v, sizeof(v));
    ck_assert_str_eq(v, c->uas_path);
    /* record-route: the proxy's own URI with ;lr (tools/sip/kamailio.cfg record_route()) */
    snprintf(rr, sizeof(rr), "<sip:127.0.0.1:%u", (unsigned)s->port);
    log_value(c->uas_log, "record-route", v, sizeof(v));
    ck_assert_msg(strncmp(v, rr, strlen(rr)) == 0 && strstr(v, ";lr") != NULL,
                  "Record-Route at the answerer: '%s'", v);
    ck_assert_msg(tcp == (strstr(v, "transport=tcp") != NULL), "Record-Route '%s' over %s", v,
                  tcp ? "TCP" : "UDP");
    log_value(c->uac_log, "record-route", v, sizeof(v));
    ck_assert_msg(strncmp(v, rr, strlen(rr)) == 0, "Record-Route at the caller: '%s'", v);
}

/* One proxy per tcase: plain (tm's fr_timer short for the silent callee), with the MSRP relay,
 * with TLS. */
static struct test_sip PLAIN, RELAYED, TLS;

static void plain_setup(void)
{
    test_sip_start(&PLAIN, false, false, "SIP_FR_TIMER=3000");
}

static void relayed_setup(void)
{
    test_sip_start(&RELAYED, false, true, "");
}

static void tls_setup(void)
{
    test_sip_start(&TLS, true, false, "");
}

static void proxies_teardown(void)
{
    test_sip_stop(&PLAIN);
    test_sip_stop(&RELAYED);
    test_sip_stop(&TLS);
}

static bool skip_all(const struct test_sip *s, const char *test)
{
    return test_sipp_skip(test) || test_sip_skip(s, test);
}

START_TEST(sip_register_digest)
{
    const struct test_sip *s = &PLAIN;
    if (skip_all(s, "sip_register_digest"))
        return;
    struct tmp t;
    tmp_make(&t);
    char log[128], contact[64];
    snprintf(contact, sizeof(contact), "sip:sip0003@127.0.0.1:9");
    snprintf(log, sizeof(log), "%s/ok.log", t.dir);
    int rc = sipp_register(s, &t, "uac-register.xml", "sip0003", "sippass", contact, false, log);
    char *text = test_slurp(log);
    ck_assert_msg(rc == 0, "REGISTER with the right password: sipp exit %d, log: %s", rc, text);
    /* the 200 lists the binding it saved, with its expiry */
    ck_assert_msg(strstr(text, "registered sip0003:") != NULL &&
                      strstr(text, "<sip:sip0003@127.0.0.1:9>;expires=") != NULL,
                  "log: %s", text);
    free(text);

    /* the same scenario with a wrong password must fail (it expects 200) */
    snprintf(log, sizeof(log), "%s/bad.log", t.dir);
    rc = sipp_register(s, &t, "uac-register.xml", "sip0003", "wrongpass", contact, false, log);
    ck_assert_msg(rc != 0, "REGISTER with a wrong password succeeded");
    /* and it is refused with exactly 403 */
    snprintf(log, sizeof(log), "%s/forbidden.log", t.dir);
    rc = sipp_register(s, &t, "uac-register-forbidden.xml", "sip0003", "wrongpass", contact,
                       false, log);
    text = test_slurp(log);
    ck_assert_msg(rc == 0 && strstr(text, "refused sip0003: 403") != NULL,
                  "wrong password: sipp exit %d, log: %s", rc, text);
    free(text);
    /* an unknown user as well */
    snprintf(log, sizeof(log), "%s/unknown.log", t.dir);
    rc = sipp_register(s, &t, "uac-register-forbidden.xml", "nobody", "sippass", contact, false,
                       log);
    ck_assert_msg(rc == 0, "unknown user: sipp exit %d (403 expected)", rc);
    tmp_remove(&t);
}
END_TEST

static void answered_call(const char *test, const char *callee, bool tcp)
{
    const struct test_sip *s = &PLAIN;
    if (skip_all(s, test))
        return;
    struct tmp t;
    tmp_make(&t);
    struct call c;
    call_through(s, &t, callee, "uas-answer.xml", tcp, "yes", NULL, &c);
    check_answered(s, &c, tcp);
    ck_assert_msg(strstr(c.uas_log, "ack=received") && strstr(c.uas_log, "bye=received"),
                  "UAS log: %s", c.uas_log);
    ck_assert_msg(strstr(c.uac_log, "bye=200") != NULL, "UAC log: %s", c.uac_log);
    call_free(&c);
    tmp_remove(&t);
}

START_TEST(sip_invite_udp)
{
    answered_call("sip_invite_udp", "sip0010", false);
}
END_TEST

START_TEST(sip_invite_tcp)
{
    answered_call("sip_invite_tcp", "sip0011", true);
}
END_TEST

/* A refusing answerer: the caller sees its status code through the proxy. */
static void refused_call(const char *test, const char *callee, const char *scenario,
                         const char *pause_ms, const char *code)
{
    const struct test_sip *s = &PLAIN;
    if (skip_all(s, test))
        return;
    struct tmp t;
    tmp_make(&t);
    struct call c;
    call_through(s, &t, callee, scenario, false, "yes", pause_ms, &c);
    ck_assert_msg(c.uac_rc == 0 && c.uas_rc == 0, "sipp exits: UAC %d, UAS %d\nUAC log:\n%s",
                  c.uac_rc, c.uas_rc, c.uac_log);
    char v[64];
    log_value(c.uac_log, "final", v, sizeof(v));
    ck_assert_msg(strcmp(v, code) == 0, "%s: the caller got final=%s, expected %s", scenario, v,
                  code);
    /* it reached the answerer through the proxy, with the offer intact */
    log_value(c.uas_log, "offer-path", v, sizeof(v));
    ck_assert_str_eq(v, c.uac_path);
    call_free(&c);
    tmp_remove(&t);
}

START_TEST(sip_uas_busy_486)
{
    refused_call("sip_uas_busy_486", "sip0012", "uas-busy.xml", NULL, "486");
}
END_TEST

START_TEST(sip_uas_reject_488)
{
    refused_call("sip_uas_reject_488", "sip0013", "uas-reject-488.xml", NULL, "488");
}
END_TEST

/* Silence: the proxy's tm gives up after SIP_FR_TIMER (3 s in this tcase) and answers 408
 * itself; the callee stays silent for 8 s. */
START_TEST(sip_uas_silent_408)
{
    refused_call("sip_uas_silent_408", "sip0014", "uas-silent.xml", "8000", "408");
}
END_TEST

START_TEST(sip_uas_noack)
{
    const struct test_sip *s = &PLAIN;
    if (skip_all(s, "sip_uas_noack"))
        return;
    struct tmp t;
    tmp_make(&t);
    struct call c;
    call_through(s, &t, "sip0015", "uas-noack.xml", false, "no", NULL, &c);
    check_answered(s, &c, false);
    /* no ACK came: the answerer ended the dialog with BYE through the proxy, answered 200 */
    ck_assert_msg(strstr(c.uac_log, "ack=withheld") && strstr(c.uac_log, "bye-from-peer"),
                  "UAC log: %s", c.uac_log);
    ck_assert_msg(strstr(c.uas_log, "ack=missing") && strstr(c.uas_log, "bye=200") &&
                      !strstr(c.uas_log, "ack=received"),
                  "UAS log: %s", c.uas_log);
    call_free(&c);
    tmp_remove(&t);
}
END_TEST

/* The same answering peer with a caller that does ACK: it takes the ACK and the caller's BYE. */
START_TEST(sip_uas_noack_acked)
{
    const struct test_sip *s = &PLAIN;
    if (skip_all(s, "sip_uas_noack_acked"))
        return;
    struct tmp t;
    tmp_make(&t);
    struct call c;
    call_through(s, &t, "sip0016", "uas-noack.xml", false, "yes", NULL, &c);
    check_answered(s, &c, false);
    ck_assert_msg(strstr(c.uas_log, "ack=received") && !strstr(c.uas_log, "ack=missing"),
                  "UAS log: %s", c.uas_log);
    call_free(&c);
    tmp_remove(&t);
}
END_TEST

/* An INVITE for a user nobody registered: 404 from the proxy (after the 407 round). */
START_TEST(sip_unregistered_404)
{
    const struct test_sip *s = &PLAIN;
    if (skip_all(s, "sip_unregistered_404"))
        return;
    struct tmp t;
    tmp_make(&t);
    char cwd[512], scen[700], log[128], proxy[64], port[16];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    snprintf(scen, sizeof(scen), "%s/%s/uac-invite.xml", cwd, SCEN);
    snprintf(log, sizeof(log), "%s/uac.log", t.dir);
    snprintf(proxy, sizeof(proxy), "127.0.0.1:%u", (unsigned)s->port);
    snprintf(port, sizeof(port), "%u", (unsigned)test_sip_free_port());
    const char *args[] = {"-sf", scen, "-m", "1", "-s", "sip0050", "-key", "from", "sip0001",
                          "-key", "msrp_port", UAC_MSRP_PORT, "-key", "session", "x1",
                          "-key", "ack", "yes", "-au", "sip0001", "-ap", "sippass",
                          "-i", "127.0.0.1", "-p", port, "-timeout", "20s", "-nostdin",
                          "-trace_logs", "-log_file", log, proxy, NULL};
    struct test_sipp p;
    test_sipp_start(&p, t.dir, args);
    int rc = test_sipp_wait(&p, 30);
    char *text = test_slurp(log);
    char v[32];
    log_value(text, "final", v, sizeof(v));
    ck_assert_msg(rc == 0 && strcmp(v, "404") == 0, "sipp exit %d, log: %s", rc, text);
    free(text);
    tmp_remove(&t);
}
END_TEST

/* Reads one MSRP response head (bounded, 5 s) from fd into buf. */
static void read_head(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < 50 && n + 1 < cap && strstr(buf, "\r\n-------") == NULL; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
    }
}

/* The proxy with the MSRP relay in the same instance: a call through it still completes, and
 * the relay port challenges an MSRP AUTH (RFC 4976 5.1: an AUTH without Authorization MUST get
 * 401 with a WWW-Authenticate header). */
START_TEST(sip_with_msrp_relay)
{
    const struct test_sip *s = &RELAYED;
    if (skip_all(s, "sip_with_msrp_relay"))
        return;
    struct tmp t;
    tmp_make(&t);
    struct call c;
    call_through(s, &t, "sip0017", "uas-answer.xml", false, "yes", NULL, &c);
    check_answered(s, &c, false);
    call_free(&c);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(s->msrp_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "MSRP t1auth AUTH\r\n"
                     "To-Path: msrp://127.0.0.1:%u;tcp\r\n"
                     "From-Path: msrp://127.0.0.1:9/sipPeers1;tcp\r\n"
                     "-------t1auth$\r\n",
                     (unsigned)s->msrp_port);
    ck_assert_int_eq(write(fd, req, (size_t)n), n);
    char resp[2048];
    read_head(fd, resp, sizeof(resp));
    close(fd);
    ck_assert_msg(strncmp(resp, "MSRP t1auth 401", 15) == 0 &&
                      strstr(resp, "WWW-Authenticate: Digest") != NULL,
                  "the relay answered: %s", resp);
    tmp_remove(&t);
}
END_TEST

/*
 * The TLS listener (SIPp has no TLS here, so a raw client): a REGISTER without credentials over
 * TLS is challenged like over UDP and TCP, 401 with a Digest WWW-Authenticate in the realm.
 */
START_TEST(sip_tls_register_challenged)
{
    const struct test_sip *s = &TLS;
    if (test_sip_skip(s, "sip_tls_register_challenged"))
        return;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(s->tls_port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(ctx);
    SSL *ssl = SSL_new(ctx);
    ck_assert_ptr_nonnull(ssl);
    SSL_set_fd(ssl, fd);
    ck_assert_msg(SSL_connect(ssl) == 1, "TLS handshake with 127.0.0.1:%u failed",
                  (unsigned)s->tls_port);
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "REGISTER sip:msrpload.test SIP/2.0\r\n"
                     "Via: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bKsiptls1;rport\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:sip0004@msrpload.test>;tag=tls1\r\n"
                     "To: <sip:sip0004@msrpload.test>\r\n"
                     "Call-ID: siptls1@127.0.0.1\r\n"
                     "CSeq: 1 REGISTER\r\n"
                     "Contact: <sips:sip0004@127.0.0.1:9>\r\n"
                     "Content-Length: 0\r\n\r\n");
    ck_assert_int_eq(SSL_write(ssl, req, n), n);
    char resp[2048];
    size_t got = 0;
    resp[0] = '\0';
    for (int i = 0; i < 20 && strstr(resp, "\r\n\r\n") == NULL && got + 1 < sizeof(resp); i++) {
        int r = SSL_read(ssl, resp + got, (int)(sizeof(resp) - got - 1));
        if (r <= 0)
            break;
        got += (size_t)r;
        resp[got] = '\0';
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    ck_assert_msg(strncmp(resp, "SIP/2.0 401 ", 12) == 0 &&
                      strstr(resp, "WWW-Authenticate: Digest realm=\"msrpload.test\"") != NULL,
                  "over TLS the proxy answered: %s", resp);
}
END_TEST

Suite *make_sip_peers_suite(void)
{
    Suite *s = suite_create("sip_peers");
    TCase *tc = tcase_create("peers");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, plain_setup, proxies_teardown);
    tcase_add_test(tc, sip_register_digest);
    tcase_add_test(tc, sip_invite_udp);
    tcase_add_test(tc, sip_invite_tcp);
    tcase_add_test(tc, sip_uas_busy_486);
    tcase_add_test(tc, sip_uas_reject_488);
    tcase_add_test(tc, sip_uas_silent_408);
    tcase_add_test(tc, sip_uas_noack);
    tcase_add_test(tc, sip_uas_noack_acked);
    tcase_add_test(tc, sip_unregistered_404);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("relayed");
    tcase_set_timeout(tr, 120);
    tcase_add_unchecked_fixture(tr, relayed_setup, proxies_teardown);
    tcase_add_test(tr, sip_with_msrp_relay);
    suite_add_tcase(s, tr);
    TCase *tt = tcase_create("tls");
    tcase_set_timeout(tt, 60);
    tcase_add_unchecked_fixture(tt, tls_setup, proxies_teardown);
    tcase_add_test(tt, sip_tls_register_challenged);
    suite_add_tcase(s, tt);
    return s;
}
