/*
 * check_serve_sip.c - `msrpload serve --sip` called by a real SIP peer: SIPp
 * (tests/sip/uac-msrp-call.xml) calls the serve binary straight or through the scripted
 * Kamailio proxy (tools/sip), and the test opens the MSRP leg itself with a raw client on a
 * blocking socket, to the a=path serve answered with. serve's JSON lines are read from its
 * standard output, SIPp's view of the call from its -log_file.
 *
 * Covered: a call over UDP with a message on its session and the caller's BYE (the SIPp caller
 * waits for the test's INFO before it hangs up), the same over TCP, an offer without MSRP
 * (488), --sip-max-calls (486), the session's end sending BYE, serve as the active side
 * (a=setup:passive offer: serve connects to the test and binds with a SEND), the BYE serve
 * sends as it shuts down or when nobody binds in time, registration
 * through the proxy and a call to the registered user, and the options' usage errors.
 * Without SIPp or Kamailio a test is a visible skip (a failure under REQUIRE_SIP=1). Every wait
 * is bounded; serve and SIPp die with the test process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sip_testutil.h"
#include "suites.h"
#include "testutil.h"

#define SCEN "tests/sip/uac-msrp-call.xml"
#define WAIT_MS TEST_SIP_SERVE_WAIT_MS
#define OFFER_SESSION "callerSess1"

/* ---- SIPp, the caller ------------------------------------------------------------------- */

struct caller {
    struct test_sipp proc;
    uint16_t port;
    char log[160];
    char path[128]; /* the offer's a=path */
};

/*
 * SIPp calls callee at target (host:port) with uac-msrp-call.xml: mline the m= line, setup the
 * a=setup value, end bye|info|wait; user/pass answer a proxy's 407 (NULL: none).
 */
static void call_start(struct caller *c, const struct tmp *t, const char *name, const char *target,
                       const char *callee, const char *mline, const char *setup, const char *end,
                       bool tcp, const char *user, const char *pass, uint16_t offer_port)
{
    memset(c, 0, sizeof(*c));
    char cwd[512], scen[700], port_s[16];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    snprintf(scen, sizeof(scen), "%s/%s", cwd, SCEN);
    c->port = test_sip_free_port();
    ck_assert_uint_ne(c->port, 0);
    snprintf(port_s, sizeof(port_s), "%u", (unsigned)c->port);
    snprintf(c->log, sizeof(c->log), "%s/%s.log", t->dir, name);
    snprintf(c->path, sizeof(c->path), "msrp://127.0.0.1:%u/%s;tcp", (unsigned)offer_port,
             OFFER_SESSION);
    static char mline_buf[128];
    snprintf(mline_buf, sizeof(mline_buf), mline, (unsigned)offer_port);
    const char *args[48] = {"-sf", scen, "-m", "1", "-s", callee, "-key", "from",
                            user != NULL ? user : "caller", "-key", "mline", mline_buf,
                            "-key", "path", c->path, "-key", "setup", setup, "-key", "end", end,
                            "-i", "127.0.0.1", "-p", port_s, "-t", tcp ? "t1" : "u1",
                            "-timeout", "25s", "-nostdin", "-trace_err", "-trace_logs", "-log_file",
                            c->log};
    size_t n = 34;
    if (user != NULL) {
        args[n++] = "-au";
        args[n++] = user;
        args[n++] = "-ap";
        args[n++] = pass;
    }
    args[n++] = target;
    args[n] = NULL;
    test_sipp_start(&c->proc, t->dir, args);
}

/* Its exit code (bounded) and its log (free it), with SIPp's error file when it failed. */
static char *call_finish(struct caller *c, const struct tmp *t, int *rc)
{
    int pid = c->proc.pid; /* the wait clears it */
    *rc = test_sipp_wait(&c->proc, 35);
    char *log = test_slurp(c->log);
    if (*rc == 0)
        return log;
    char errpath[200];
    snprintf(errpath, sizeof(errpath), "%s/uac-msrp-call_%d_errors.log", t->dir, pid);
    char *err = test_slurp(errpath);
    size_t n = strlen(log) + strlen(err) + 32;
    char *both = malloc(n);
    ck_assert_ptr_nonnull(both);
    snprintf(both, n, "%s\nSIPp errors:\n%s", log, err);
    free(log);
    free(err);
    return both;
}

/* The value after "key=" in a SIPp log line, "" if absent. */
static void log_value(const char *log, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    size_t kl = strlen(key);
    for (const char *p = strstr(log, key); p != NULL; p = strstr(p + 1, key)) {
        if ((p == log || p[-1] == ' ' || p[-1] == '\n') && p[kl] == '=') {
            size_t n = strcspn(p + kl + 1, " \r\n");
            n = n < cap - 1 ? n : cap - 1;
            memcpy(out, p + kl + 1, n);
            out[n] = '\0';
            return;
        }
    }
}

/* The test's "go on" to a SIPp caller in end=info mode: an INFO with the call's Call-ID. */
static void send_info(uint16_t sipp_port, const char *call_id)
{
    char msg[1024];
    int n = snprintf(msg, sizeof(msg),
                     "INFO sip:caller@127.0.0.1:%u SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKtestinfo1\r\n"
                     "Max-Forwards: 70\r\nFrom: <sip:test@127.0.0.1>;tag=t1\r\n"
                     "To: <sip:caller@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 INFO\r\n"
                     "Content-Length: 0\r\n\r\n",
                     (unsigned)sipp_port, call_id);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(sipp_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(sendto(fd, msg, (size_t)n, 0, (struct sockaddr *)&sa, sizeof(sa)), n);
    close(fd);
}

/* ---- the MSRP leg ------------------------------------------------------------------------ */

static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect to %u: %s",
                  (unsigned)port, strerror(errno));
    return fd;
}

/* Reads until the end-line of transaction tid (bounded by SO_RCVTIMEO); the text in buf. */
static void read_until_end(int fd, const char *tid, char *buf, size_t cap)
{
    char end[64];
    snprintf(end, sizeof(end), "-------%s", tid);
    size_t len = 0;
    buf[0] = '\0';
    uint64_t deadline = test_now_ms() + 5000;
    while (strstr(buf, end) == NULL && len < cap - 1 && test_now_ms() < deadline) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    ck_assert_msg(strstr(buf, end) != NULL, "no end-line %s; got: %s", end, buf);
}

/* One SEND of body from `from` to `to` on fd, and its 200. */
static void msrp_send_text(int fd, const char *to, const char *from, const char *body)
{
    char req[2048], resp[2048];
    int n = snprintf(req, sizeof(req),
                     "MSRP sipTest01 SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\n"
                     "Message-ID: sipTestMsg1\r\nByte-Range: 1-%zu/%zu\r\n"
                     "Content-Type: text/plain\r\n\r\n%s\r\n-------sipTest01$\r\n",
                     to, from, strlen(body), strlen(body), body);
    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    read_until_end(fd, "sipTest01", resp, sizeof(resp));
    ck_assert_msg(strncmp(resp, "MSRP sipTest01 200", 18) == 0, "SEND answered: %s", resp);
}

/* The port of an MSRP URI (msrp://host:port/...). */
static unsigned uri_port(const char *uri)
{
    const char *p = strstr(uri, "://");
    ck_assert_ptr_nonnull(p);
    const char *colon = strchr(p + 3, ':');
    ck_assert_ptr_nonnull(colon);
    return (unsigned)atoi(colon + 1);
}

/* ---- tests ------------------------------------------------------------------------------ */

static bool skip_sipp(const char *test)
{
    return test_sipp_skip(test);
}

/* What serve said of the answered call; the MSRP port is learnt from the path. */
static void check_answered(struct test_sip_serve *p, const struct caller *c, char *path, size_t cap,
                           char *call_id, size_t idcap, const char *role)
{
    json_t *in = test_sip_serve_event(p, "call-incoming");
    ck_assert(json_is_null(json_object_get(in, "session")));
    snprintf(call_id, idcap, "%s", test_jstr(in, "call_id"));
    json_decref(in);
    json_t *a = test_sip_serve_event(p, "call-answered");
    snprintf(path, cap, "%s", test_jstr(a, "path"));
    ck_assert_str_eq(test_jstr(a, "session"), path);
    ck_assert_str_eq(test_jstr(a, "call_id"), call_id);
    ck_assert_str_eq(test_jstr(a, "peer_path"), c->path);
    ck_assert_str_eq(test_jstr(a, "role"), role);
    ck_assert_msg(strncmp(path, "msrp://127.0.0.1:", 17) == 0 && strstr(path, ";tcp") != NULL,
                  "path %s", path);
    json_decref(a);
}

/* A test's temporary directory and serve --sip sip_uri EXTRA in it; target is where SIPp
 * reaches serve (127.0.0.1:PORT). serve_done: serve exits 0 on SIGTERM; all is removed. */
static void serve_direct(struct tmp *t, struct test_sip_serve *p, const char *sip_uri,
                         const char *const *extra, char target[64])
{
    tmp_make(t);
    test_sip_serve_start(p, t, sip_uri, extra);
    snprintf(target, 64, "127.0.0.1:%u", (unsigned)p->sip_port);
}

static void serve_done(struct test_sip_serve *p, struct tmp *t)
{
    ck_assert_int_eq(test_sip_serve_stop(p), 0);
    test_sip_serve_close(p);
    tmp_remove(t);
}

/* SIPp offers an actpass TCP/MSRP session to msrpload at target (end as call_start's); serve
 * answers it passive (check_answered): its path[256] and call_id[160]. */
static void plain_call(struct caller *c, const struct tmp *t, const char *target, const char *end,
                       bool tcp, struct test_sip_serve *p, char *path, char *call_id)
{
    call_start(c, t, "uac", target, "msrpload", "message %u TCP/MSRP *", "actpass", end, tcp, NULL,
               NULL, 9);
    check_answered(p, c, path, 256, call_id, 160, "passive");
}

/* serve_direct on sip:127.0.0.1:0 with extra, and plain_call to it. */
static void serve_and_call(struct tmp *t, struct test_sip_serve *p, const char *const *extra,
                           struct caller *c, const char *end, char *path, char *call_id)
{
    char target[64];
    serve_direct(t, p, "sip:127.0.0.1:0", extra, target);
    plain_call(c, t, target, end, false, p, path, call_id);
}

/* SIPp exited 0 and its log holds needle. */
static void call_finish_has(struct caller *c, const struct tmp *t, const char *needle)
{
    int rc;
    char *log = call_finish(c, t, &rc);
    ck_assert_msg(rc == 0 && strstr(log, needle), "sipp exit %d, log: %s", rc, log);
    free(log);
}

/* (a) SIPp calls serve straight; the test sends a message on the answered session; SIPp's
 * BYE (after the test's INFO) ends call and session. */
START_TEST(serve_sip_call_message_bye)
{
    if (skip_sipp("serve_sip_call_message_bye"))
        return;
    struct tmp t;
    struct test_sip_serve p;
    struct caller c;
    char path[256], call_id[160];
    serve_and_call(&t, &p, NULL, &c, "info", path, call_id);
    json_decref(test_sip_serve_event(&p, "call-established"));

    /* The MSRP leg: to the answer's path, from the offer's, on serve's MSRP port. */
    int fd = tcp_connect((uint16_t)uri_port(path));
    msrp_send_text(fd, path, c.path, "hello over SIP");
    json_t *m = test_sip_serve_event(&p, "message");
    ck_assert_str_eq(test_jstr(m, "session"), path);
    ck_assert_int_eq(test_jint(m, "size"), 14);
    ck_assert_str_eq(test_jstr(m, "message_id"), "sipTestMsg1");
    json_decref(m);

    send_info(c.port, call_id); /* SIPp hangs up now */
    json_t *e = test_sip_serve_event(&p, "call-ended");
    ck_assert_str_eq(test_jstr(e, "why"), "remote_bye");
    ck_assert_int_eq(test_jint(e, "status"), 200);
    ck_assert_str_eq(test_jstr(e, "session"), path);
    json_decref(e);
    /* serve closes the session: our connection sees its end */
    char buf[256];
    ck_assert_int_le(recv(fd, buf, sizeof(buf), 0), 0);
    close(fd);

    int rc;
    char *log = call_finish(&c, &t, &rc);
    char v[256];
    log_value(log, "answer-path", v, sizeof(v));
    ck_assert_msg(rc == 0 && strcmp(v, path) == 0, "sipp exit %d, answer-path %s, log: %s", rc,
                  v, log);
    log_value(log, "answer-setup", v, sizeof(v));
    ck_assert_str_eq(v, "passive"); /* actpass offered: RFC 4975's answerer is passive */
    ck_assert_msg(strstr(log, "info=received") && strstr(log, "bye=200"), "log: %s", log);
    free(log);
    serve_done(&p, &t);
}
END_TEST

/* The same over TCP, hung up at once: the expectation on the listener is forgotten. */
START_TEST(serve_sip_call_tcp)
{
    if (skip_sipp("serve_sip_call_tcp"))
        return;
    struct tmp t;
    struct test_sip_serve p;
    char target[64];
    serve_direct(&t, &p, "sip:127.0.0.1:0;transport=tcp", NULL, target);
    ck_assert_msg(strstr(p.contact, ";transport=tcp") != NULL, "contact %s", p.contact);
    struct caller c;
    char path[256], call_id[160];
    plain_call(&c, &t, target, "bye", true, &p, path, call_id);
    json_t *e = test_sip_serve_event(&p, "call-ended");
    ck_assert_str_eq(test_jstr(e, "why"), "remote_bye");
    json_decref(e);
    /* The session's URI is not expected any more: a SEND for it gets 481. */
    int fd = tcp_connect((uint16_t)uri_port(path));
    char req[1024], resp[1024];
    int n = snprintf(req, sizeof(req),
                     "MSRP late0001 SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: late01\r\n"
                     "Byte-Range: 1-0/0\r\n-------late0001$\r\n",
                     path, c.path);
    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    read_until_end(fd, "late0001", resp, sizeof(resp));
    ck_assert_msg(strncmp(resp, "MSRP late0001 481", 17) == 0, "late SEND answered: %s", resp);
    close(fd);
    int rc;
    char *log = call_finish(&c, &t, &rc);
    ck_assert_msg(rc == 0 && strstr(log, "final=200") && strstr(log, "bye=200"),
                  "sipp exit %d, log: %s", rc, log);
    free(log);
    serve_done(&p, &t);
}
END_TEST

/* (b) An offer without an MSRP stream: 488, and serve says why. */
START_TEST(serve_sip_no_msrp_488)
{
    if (skip_sipp("serve_sip_no_msrp_488"))
        return;
    struct tmp t;
    struct test_sip_serve p;
    char target[64];
    serve_direct(&t, &p, "sip:127.0.0.1:0", NULL, target);
    struct caller c;
    call_start(&c, &t, "uac", target, "msrpload", "audio %u RTP/AVP 0", "actpass", "bye", false,
               NULL, NULL, 9);
    json_decref(test_sip_serve_event(&p, "call-incoming"));
    json_t *e = test_sip_serve_event(&p, "call-ended");
    ck_assert_str_eq(test_jstr(e, "why"), "rejected");
    ck_assert_int_eq(test_jint(e, "status"), 488);
    ck_assert(json_is_null(json_object_get(e, "session")));
    ck_assert_msg(strstr(test_jstr(e, "cause"), "MSRP") != NULL, "cause: %s",
                  test_jstr(e, "cause"));
    json_decref(e);
    int rc;
    char *log = call_finish(&c, &t, &rc);
    char v[32];
    log_value(log, "final", v, sizeof(v));
    ck_assert_msg(rc == 0 && strcmp(v, "488") == 0, "sipp exit %d, log: %s", rc, log);
    free(log);
    serve_done(&p, &t);
}
END_TEST

/* --sip-max-calls 1: a second call while the first is up gets 486. */
START_TEST(serve_sip_busy_486)
{
    if (skip_sipp("serve_sip_busy_486"))
        return;
    const char *extra[] = {"--sip-max-calls", "1", NULL};
    struct tmp t;
    struct test_sip_serve p;
    char target[64];
    serve_direct(&t, &p, "sip:127.0.0.1:0", extra, target);
    struct caller first, second;
    call_start(&first, &t, "first", target, "msrpload", "message %u TCP/MSRP *", "actpass",
               "info", false, NULL, NULL, 9);
    char path[256], call_id[160];
    check_answered(&p, &first, path, sizeof(path), call_id, sizeof(call_id), "passive");
    json_decref(test_sip_serve_event(&p, "call-established"));
    call_start(&second, &t, "second", target, "msrpload", "message %u TCP/MSRP *", "actpass",
               "bye", false, NULL, NULL, 9);
    json_decref(test_sip_serve_event(&p, "call-incoming"));
    json_t *e = test_sip_serve_event(&p, "call-ended");
    ck_assert_str_eq(test_jstr(e, "why"), "rejected");
    ck_assert_int_eq(test_jint(e, "status"), 486);
    ck_assert_msg(strstr(test_jstr(e, "cause"), "busy") != NULL, "cause: %s",
                  test_jstr(e, "cause"));
    json_decref(e);
    int rc;
    char *log = call_finish(&second, &t, &rc);
    char v[32];
    log_value(log, "final", v, sizeof(v));
    ck_assert_msg(rc == 0 && strcmp(v, "486") == 0, "second: sipp exit %d, log: %s", rc, log);
    free(log);
    send_info(first.port, call_id);
    e = test_sip_serve_event(&p, "call-ended");
    ck_assert_str_eq(test_jstr(e, "call_id"), call_id);
    ck_assert_str_eq(test_jstr(e, "why"), "remote_bye");
    json_decref(e);
    log = call_finish(&first, &t, &rc);
    ck_assert_msg(rc == 0 && strstr(log, "bye=200"), "first: sipp exit %d, log: %s", rc, log);
    free(log);
    serve_done(&p, &t);
}
END_TEST

/* (d) The MSRP session's end ends the call: serve sends BYE. */
START_TEST(serve_sip_session_end_sends_bye)
{
    if (skip_sipp("serve_sip_session_end_sends_bye"))
        return;
    struct tmp t;
    struct test_sip_serve p;
    struct caller c;
    char path[256], call_id[160];
    serve_and_call(&t, &p, NULL, &c, "wait", path, call_id);
    /* The ACK came: SIPp waits for a BYE now (one before its ACK would be unexpected to it). */
    json_decref(test_sip_serve_event(&p, "call-established"));
    int fd = tcp_connect((uint16_t)uri_port(path));
    /* A From-Path other than the offer's path does not bind the call's session: 481, a
     * from-path violation and the connection closed (RFC 4975 section 5.4: the identity comes
     * from the SDP); the session stays expected for the caller. */
    char req[1024], resp[1024];
    int n = snprintf(req, sizeof(req),
                     "MSRP wrongFrom1 SEND\r\nTo-Path: %s\r\n"
                     "From-Path: msrp://127.0.0.1:9/intruder;tcp\r\nMessage-ID: wrong01\r\n"
                     "Byte-Range: 1-0/0\r\n-------wrongFrom1$\r\n",
                     path);
    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    read_until_end(fd, "wrongFrom1", resp, sizeof(resp));
    ck_assert_msg(strncmp(resp, "MSRP wrongFrom1 481", 19) == 0, "wrong From-Path: %s", resp);
    json_t *v = test_sip_serve_event(&p, "violation");
    ck_assert_str_eq(test_jstr(v, "kind"), "from-path");
    ck_assert_msg(strstr(test_jstr(v, "detail"), path) != NULL, "detail %s",
                  test_jstr(v, "detail"));
    json_decref(v);
    close(fd);
    /* the offer's path then binds it, on the caller's own connection */
    fd = tcp_connect((uint16_t)uri_port(path));
    msrp_send_text(fd, path, c.path, "bye soon");
    json_decref(test_sip_serve_event(&p, "message"));
    close(fd); /* the session ends (peer-closed), and with it the call */
    json_t *end = test_sip_serve_event(&p, "end");
    ck_assert_str_eq(test_jstr(end, "session"), path);
    ck_assert_str_eq(test_jstr(end, "reason"), "peer-closed");
    json_decref(end);
    json_t *e = test_sip_serve_event(&p, "call-ended");
    ck_assert_str_eq(test_jstr(e, "why"), "local_bye");
    ck_assert_int_eq(test_jint(e, "status"), 200);
    ck_assert_str_eq(test_jstr(e, "cause"), "the MSRP session ended");
    json_decref(e);
    call_finish_has(&c, &t, "bye-from-peer");
    serve_done(&p, &t);
}
END_TEST

/* Nobody opens the call's MSRP session within --sip-bind-timeout: a bind-timeout line and a
 * BYE. */
START_TEST(serve_sip_bind_timeout_bye)
{
    if (skip_sipp("serve_sip_bind_timeout_bye"))
        return;
    const char *extra[] = {"--sip-bind-timeout", "0.5", NULL};
    struct tmp t;
    struct test_sip_serve p;
    struct caller c;
    char path[256], call_id[160];
    serve_and_call(&t, &p, extra, &c, "wait", path, call_id);
    json_t *b = test_sip_serve_event(&p, "bind-timeout");
    ck_assert_str_eq(test_jstr(b, "session"), path);
    ck_assert_str_eq(test_jstr(b, "call_id"), call_id);
    json_decref(b);
    json_t *e = test_sip_serve_event(&p, "call-ended");
    ck_assert_str_eq(test_jstr(e, "why"), "local_bye");
    ck_assert_msg(strstr(test_jstr(e, "cause"), "--sip-bind-timeout") != NULL, "cause %s",
                  test_jstr(e, "cause"));
    json_decref(e);
    call_finish_has(&c, &t, "bye-from-peer");
    serve_done(&p, &t);
}
END_TEST

/* SIGTERM with a call up: serve hangs up (BYE), then exits 0. */
START_TEST(serve_sip_shutdown_bye)
{
    if (skip_sipp("serve_sip_shutdown_bye"))
        return;
    struct tmp t;
    struct test_sip_serve p;
    struct caller c;
    char path[256], call_id[160];
    serve_and_call(&t, &p, NULL, &c, "wait", path, call_id);
    json_decref(test_sip_serve_event(&p, "call-established"));
    int fd = tcp_connect((uint16_t)uri_port(path));
    msrp_send_text(fd, path, c.path, "until shutdown");
    json_decref(test_sip_serve_event(&p, "message"));
    kill(p.pid, SIGTERM);
    json_t *e = test_sip_serve_event(&p, "call-ended");
    ck_assert_str_eq(test_jstr(e, "why"), "local_bye");
    ck_assert_int_eq(test_jint(e, "status"), 200);
    ck_assert_str_eq(test_jstr(e, "cause"), "serve is shutting down");
    json_decref(e);
    ck_assert_int_eq(test_sip_serve_stop(&p), 0);
    close(fd);
    call_finish_has(&c, &t, "bye-from-peer");
    test_sip_serve_close(&p);
    tmp_remove(&t);
}
END_TEST

/* An offer with a=setup:passive: serve answers active and, once ACKed, connects to the offer's
 * path and binds with a SEND at once (RFC 4975 section 5.4: "the active endpoint MUST
 * immediately issue a SEND request"). */
START_TEST(serve_sip_active_connects)
{
    if (skip_sipp("serve_sip_active_connects"))
        return;
    struct tmp t;
    tmp_make(&t);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof(sa);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
    uint16_t offer_port = ntohs(sa.sin_port);
    struct test_sip_serve p;
    test_sip_serve_start(&p, &t, "sip:127.0.0.1:0", NULL);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%u", (unsigned)p.sip_port);
    struct caller c;
    call_start(&c, &t, "uac", target, "msrpload", "message %u TCP/MSRP *", "passive", "info",
               false, NULL, NULL, offer_port);
    char path[256], call_id[160];
    check_answered(&p, &c, path, sizeof(path), call_id, sizeof(call_id), "active");
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    ck_assert_msg(poll(&pfd, 1, WAIT_MS) == 1, "serve did not connect to the offer's path");
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    /* MSRP TID SEND, To-Path the offer's path, From-Path serve's */
    char tid[64], to[256], from[256];
    ck_assert_msg(sscanf(buf, "MSRP %63s SEND", tid) == 1, "serve sent: %s", buf);
    const char *tp = strstr(buf, "To-Path: "), *fp = strstr(buf, "From-Path: ");
    ck_assert_msg(tp != NULL && fp != NULL, "serve sent: %s", buf);
    sscanf(tp + 9, "%255s", to);
    sscanf(fp + 11, "%255s", from);
    ck_assert_str_eq(to, c.path);
    ck_assert_str_eq(from, path);
    char resp[1024];
    int rn = snprintf(resp, sizeof(resp), "MSRP %s 200 OK\r\nTo-Path: %s\r\nFrom-Path: %s\r\n"
                      "-------%s$\r\n", tid, path, c.path, tid);
    ck_assert_int_eq(send(fd, resp, (size_t)rn, MSG_NOSIGNAL), rn);
    json_t *b = test_sip_serve_event(&p, "bound");
    ck_assert_str_eq(test_jstr(b, "session"), path);
    json_decref(b);
    send_info(c.port, call_id);
    json_t *e = test_sip_serve_event(&p, "call-ended");
    ck_assert_str_eq(test_jstr(e, "why"), "remote_bye");
    json_decref(e);
    close(fd);
    close(lfd);
    int rc;
    char *log = call_finish(&c, &t, &rc);
    char v[32];
    log_value(log, "answer-setup", v, sizeof(v));
    ck_assert_msg(rc == 0 && strcmp(v, "active") == 0, "sipp exit %d, log: %s", rc, log);
    free(log);
    serve_done(&p, &t);
}
END_TEST

/* (c) serve registers alice with the Kamailio registrar; SIPp (bob) calls alice through the
 * proxy and gets serve's answer; serve unregisters as it stops. */
static struct test_sip PROXY;

static void proxy_setup(void)
{
    test_sip_start(&PROXY, false, false, "");
}

static void proxy_teardown(void)
{
    test_sip_stop(&PROXY);
}

START_TEST(serve_sip_register_proxy)
{
    if (skip_sipp("serve_sip_register_proxy") ||
        test_sip_skip(&PROXY, "serve_sip_register_proxy"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pwfile[128], registrar[64];
    snprintf(pwfile, sizeof(pwfile), "%s/alice.pw", t.dir);
    test_write_text(pwfile, "alice-secret\n");
    snprintf(registrar, sizeof(registrar), "sip:127.0.0.1:%u", (unsigned)PROXY.port);
    const char *extra[] = {"--sip-register", registrar, "--sip-user", "alice",
                           "--sip-password-file", pwfile, NULL};
    struct test_sip_serve p;
    test_sip_serve_start(&p, &t, "sip:127.0.0.1:0", extra);
    ck_assert_msg(strncmp(p.contact, "sip:alice@127.0.0.1:", 20) == 0, "contact %s", p.contact);
    json_t *r = test_sip_serve_event(&p, "register");
    ck_assert_int_eq(test_jint(r, "status"), 200);
    ck_assert_int_gt(test_jint(r, "expires"), 0);
    json_decref(r);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%u", (unsigned)PROXY.port);
    struct caller c;
    call_start(&c, &t, "uac", target, "alice", "message %u TCP/MSRP *", "actpass", "bye", false,
               "bob", "bob-secret", 9);
    char path[256], call_id[160];
    check_answered(&p, &c, path, sizeof(path), call_id, sizeof(call_id), "passive");
    json_t *e = test_sip_serve_event(&p, "call-ended");
    ck_assert_str_eq(test_jstr(e, "why"), "remote_bye");
    ck_assert_int_eq(test_jint(e, "status"), 200);
    json_decref(e);
    int rc;
    char *log = call_finish(&c, &t, &rc);
    char v[256];
    log_value(log, "answer-path", v, sizeof(v));
    ck_assert_msg(rc == 0 && strcmp(v, path) == 0 && strstr(log, "bye=200"),
                  "sipp exit %d, answer-path %s (serve's %s), log: %s", rc, v, path, log);
    free(log);
    /* SIGTERM: serve removes its binding before it exits */
    kill(p.pid, SIGTERM);
    r = test_sip_serve_event(&p, "register");
    ck_assert_int_eq(test_jint(r, "status"), 200);
    ck_assert_int_eq(test_jint(r, "expires"), 0);
    json_decref(r);
    serve_done(&p, &t);
}
END_TEST

/* Usage errors: exit 2 and a message naming the option (no SIP peer needed). */
START_TEST(serve_sip_usage_errors)
{
    struct tmp t;
    tmp_make(&t);
    static const struct {
        const char *args, *says;
    } cases[] = {
        {"--sip http://127.0.0.1:5060", "--sip wants sip:"},
        {"--sip sip:localhost:5060", "numeric address"},
        {"--sip sip:127.0.0.1:99999", "port"},
        {"--sip 'sip:127.0.0.1:5060;transport=tls'", "transport=udp or transport=tcp"},
        {"--sip-user alice", "need --sip URI"},
        {"--sip sip:127.0.0.1:0 --sip-register sip:127.0.0.1:5060", "--sip-user"},
        {"--sip sip:127.0.0.1:0 --sip-user a --sip-register sip:127.0.0.1:5060 "
         "--sip-password-file /nonexistent/pw",
         "--sip-password-file /nonexistent/pw"},
        {"--sip sip:127.0.0.1:0 --ws", "--ws"},
        {"--sip sip:127.0.0.1:0 --sip-max-calls 0", "--sip-max-calls"},
        /* RFC 4975 section 8.1: c= and a=path would name the unspecified address */
        {"--listen 0.0.0.0:0 --sip sip:127.0.0.1:0", "--uri-host"},
        {"--listen [::]:0 --sip sip:127.0.0.1:0", "--uri-host"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cmd[1024], errf[160];
        snprintf(errf, sizeof(errf), "%s/err%zu", t.dir, i);
        snprintf(cmd, sizeof(cmd), "%s serve --listen 127.0.0.1:0 %s >/dev/null 2>%s",
                 msrpload_binary(), cases[i].args, errf);
        int rc = test_run_shell(cmd);
        char *err = test_read_text(errf);
        ck_assert_msg(rc == 2 && strstr(err, cases[i].says) != NULL,
                      "serve %s: exit %d, stderr: %s", cases[i].args, rc, err);
        free(err);
    }
    tmp_remove(&t);
}
END_TEST

Suite *make_serve_sip_suite(void)
{
    Suite *s = suite_create("serve_sip");
    TCase *tc = tcase_create("direct");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, serve_sip_call_message_bye);
    tcase_add_test(tc, serve_sip_call_tcp);
    tcase_add_test(tc, serve_sip_no_msrp_488);
    tcase_add_test(tc, serve_sip_busy_486);
    tcase_add_test(tc, serve_sip_session_end_sends_bye);
    tcase_add_test(tc, serve_sip_bind_timeout_bye);
    tcase_add_test(tc, serve_sip_shutdown_bye);
    tcase_add_test(tc, serve_sip_active_connects);
    tcase_add_test(tc, serve_sip_usage_errors);
    suite_add_tcase(s, tc);
    TCase *px = tcase_create("proxy");
    tcase_set_timeout(px, 120);
    tcase_add_unchecked_fixture(px, proxy_setup, proxy_teardown);
    tcase_add_test(px, serve_sip_register_proxy);
    suite_add_tcase(s, px);
    return s;
}
