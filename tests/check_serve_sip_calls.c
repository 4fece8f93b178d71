/*
 * check_serve_sip_calls.c - `msrpload serve --sip` called by a raw SIP caller: a UDP socket on
 * 127.0.0.1 that sends the INVITE and ACK itself and may leave serve's BYE unanswered, so the
 * cases SIPp's scenario cannot play run without SIPp (and without a skip).
 *
 * Covered: the call's cause kept when serve shuts down with a BYE already out; serve going on
 * with --sip after a static --session-id timed out; the negotiated accept-types enforced on the
 * call's session (415); a wrong From-Path on one connection neither taking the session from the
 * caller's second connection (506) nor the bind deadline; a host name in an offer that has
 * serve connect (488, no blocking resolution). Every wait is bounded; serve dies with the test.
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

#include "sip/msg.h"
#include "sip_testutil.h"
#include "suites.h"
#include "testutil.h"

#define WAIT_MS TEST_SIP_SERVE_WAIT_MS
#define OFFER_PATH "msrp://127.0.0.1:9/rawCaller1;tcp"

/* ---- the raw SIP caller ------------------------------------------------------------------ */

struct uac {
    int fd;
    uint16_t port, serve_port;
    char call_id[64], to_tag[64], contact[256];
    int status;          /* the INVITE's final status */
    char answer[8192];   /* its body */
};

static void uac_open(struct uac *u, uint16_t serve_port, const char *call_id)
{
    memset(u, 0, sizeof(*u));
    u->serve_port = serve_port;
    snprintf(u->call_id, sizeof(u->call_id), "%s@127.0.0.1", call_id);
    u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(u->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(u->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    ck_assert_int_eq(getsockname(u->fd, (struct sockaddr *)&a, &al), 0);
    u->port = ntohs(a.sin_port);
}

static void uac_sendto(struct uac *u, const char *buf, size_t len)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(u->serve_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(sendto(u->fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)),
                     (ssize_t)len);
}

/* The next SIP message within ms (NULL when none); free it. */
static osip_message_t *uac_read(struct uac *u, int ms)
{
    struct pollfd pfd = {.fd = u->fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) != 1)
        return NULL;
    char buf[65536];
    ssize_t n = recv(u->fd, buf, sizeof(buf), 0);
    ck_assert_int_gt(n, 0);
    osip_message_t *m = sip_msg_parse(buf, (size_t)n, NULL, 0);
    ck_assert_ptr_nonnull(m);
    return m;
}

static void uac_request(struct uac *u, const char *method, const char *uri, uint32_t cseq,
                        const char *sdp)
{
    char contact[80], branch[64], buf[16384];
    static unsigned seq;
    snprintf(contact, sizeof(contact), "<sip:raw@127.0.0.1:%u>", (unsigned)u->port);
    snprintf(branch, sizeof(branch), "z9hG4bKraw%u%s", ++seq, method);
    struct sip_req q = {.method = method, .uri = uri, .from = "<sip:raw@127.0.0.1>",
                        .from_tag = "rawfrom", .to = "<sip:msrpload@127.0.0.1>",
                        .to_tag = u->to_tag[0] ? u->to_tag : NULL, .call_id = u->call_id,
                        .cseq = cseq, .via_transport = "UDP", .via_host = "127.0.0.1",
                        .via_port = u->port, .branch = branch, .contact = contact,
                        .expires = -1, .content_type = sdp ? "application/sdp" : NULL,
                        .body = sdp, .body_len = sdp ? strlen(sdp) : 0};
    size_t len = 0;
    ck_assert_int_eq(sip_msg_build_request(&q, buf, sizeof(buf), &len, NULL, 0), 0);
    uac_sendto(u, buf, len);
}

/* An offer for OFFER_PATH (or path) with accept-types types and a=setup setup (NULL: none). */
static void make_offer(char *out, size_t cap, const char *path, const char *types,
                       const char *setup)
{
    char setup_line[64] = "";
    if (setup != NULL)
        snprintf(setup_line, sizeof(setup_line), "a=setup:%s\r\n", setup);
    snprintf(out, cap,
             "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             "m=message 9 TCP/MSRP *\r\na=accept-types:%s\r\n%sa=path:%s\r\n",
             types, setup_line, path);
}

/* INVITE with sdp, and its final response (1xx skipped): status, To tag, Contact, body. */
static void uac_invite(struct uac *u, const char *sdp)
{
    char uri[64];
    snprintf(uri, sizeof(uri), "sip:msrpload@127.0.0.1:%u", (unsigned)u->serve_port);
    uac_request(u, "INVITE", uri, 1, sdp);
    uint64_t deadline = test_now_ms() + WAIT_MS;
    while (test_now_ms() < deadline) {
        osip_message_t *m = uac_read(u, 200);
        if (m == NULL)
            continue;
        if (MSG_IS_RESPONSE(m) && m->status_code >= 200) {
            u->status = m->status_code;
            const char *tag = sip_msg_to_tag(m);
            snprintf(u->to_tag, sizeof(u->to_tag), "%s", tag ? tag : "");
            osip_contact_t *ct = NULL;
            char *s = NULL;
            if (osip_message_get_contact(m, 0, &ct) >= 0 && ct != NULL && ct->url != NULL &&
                osip_uri_to_str(ct->url, &s) == 0) {
                snprintf(u->contact, sizeof(u->contact), "%s", s);
                osip_free(s);
            }
            size_t n = 0;
            const char *b = sip_msg_body(m, &n);
            snprintf(u->answer, sizeof(u->answer), "%.*s", (int)n, b ? b : "");
            osip_message_free(m);
            return;
        }
        osip_message_free(m);
    }
    ck_abort_msg("no final response to the INVITE within %d ms", WAIT_MS);
}

static void uac_ack(struct uac *u)
{
    ck_assert_msg(u->contact[0] != '\0', "the 2xx had no Contact");
    uac_request(u, "ACK", u->contact, 1, NULL);
}

/* Waits (bounded) for serve's BYE; answers it 200 when answer. */
static void uac_wait_bye(struct uac *u, bool answer)
{
    uint64_t deadline = test_now_ms() + WAIT_MS;
    while (test_now_ms() < deadline) {
        osip_message_t *m = uac_read(u, 200);
        if (m == NULL)
            continue;
        if (MSG_IS_BYE(m)) {
            if (answer) {
                struct sip_resp p = {.code = 200};
                char out[4096];
                size_t len = 0;
                ck_assert_int_eq(sip_msg_build_response(m, &p, out, sizeof out, &len, NULL, 0),
                                 0);
                uac_sendto(u, out, len);
            }
            osip_message_free(m);
            return;
        }
        osip_message_free(m);
    }
    ck_abort_msg("serve sent no BYE within %d ms", WAIT_MS);
}

/* The answer's a=path value. */
static void answer_path(const struct uac *u, char *out, size_t cap)
{
    const char *p = strstr(u->answer, "a=path:");
    ck_assert_msg(p != NULL, "no a=path in the answer: %s", u->answer);
    p += 7;
    size_t n = strcspn(p, "\r\n");
    ck_assert_uint_lt(n, cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

/* ---- the MSRP leg ------------------------------------------------------------------------ */

static int tcp_connect(const char *uri)
{
    const char *h = strstr(uri, "://");
    ck_assert_ptr_nonnull(h);
    const char *colon = strchr(h + 3, ':');
    ck_assert_ptr_nonnull(colon);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
                  strerror(errno));
    return fd;
}

/* One SEND (tid, content type, body) on fd; the status of its response. */
static int msrp_send(int fd, const char *tid, const char *to, const char *from, const char *ctype,
                     const char *body)
{
    char req[2048], resp[2048], end[64];
    int n = snprintf(req, sizeof(req),
                     "MSRP %s SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: m%s\r\n"
                     "Byte-Range: 1-%zu/%zu\r\nContent-Type: %s\r\n\r\n%s\r\n-------%s$\r\n",
                     tid, to, from, tid, strlen(body), strlen(body), ctype, body, tid);
    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    snprintf(end, sizeof(end), "-------%s", tid);
    size_t len = 0;
    resp[0] = '\0';
    uint64_t deadline = test_now_ms() + 5000;
    while (strstr(resp, end) == NULL && len < sizeof(resp) - 1 && test_now_ms() < deadline) {
        ssize_t r = recv(fd, resp + len, sizeof(resp) - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        resp[len] = '\0';
    }
    int status = 0;
    char got[64];
    ck_assert_msg(sscanf(resp, "MSRP %63s %d", got, &status) == 2 && strcmp(got, tid) == 0,
                  "no response to %s; got: %s", tid, resp);
    return status;
}

/* ---- tests ------------------------------------------------------------------------------ */

/* A test's temporary directory and serve --sip sip:127.0.0.1:0 EXTRA in it; serve_end: serve
 * exits 0 on SIGTERM, the caller's socket fd is closed and all is removed. */
static void serve_begin(struct tmp *t, struct test_sip_serve *p, const char *const *extra)
{
    tmp_make(t);
    test_sip_serve_start(p, t, "sip:127.0.0.1:0", extra);
}

static void serve_end(struct test_sip_serve *p, int fd, struct tmp *t)
{
    ck_assert_int_eq(test_sip_serve_stop(p), 0);
    close(fd);
    test_sip_serve_close(p);
    tmp_remove(t);
}

/* A call (call_id) to serve's port offering text/plain at OFFER_PATH (the offer in sdp[1024]),
 * answered 200 and ACKed. */
static void plain_invite(struct uac *u, uint16_t port, const char *call_id, char *sdp)
{
    uac_open(u, port, call_id);
    make_offer(sdp, 1024, OFFER_PATH, "text/plain", NULL);
    uac_invite(u, sdp);
    ck_assert_int_eq(u->status, 200);
    uac_ack(u);
}

/* A BYE is out for the bind timeout and unanswered when serve stops: the call's line keeps that
 * cause, not "serve is shutting down". */
START_TEST(serve_sip_stop_keeps_cause)
{
    const char *extra[] = {"--sip-bind-timeout", "0.3", NULL};
    struct tmp t;
    struct test_sip_serve p;
    serve_begin(&t, &p, extra);
    struct uac u;
    char sdp[1024];
    plain_invite(&u, p.sip_port, "keepcause", sdp);
    json_decref(test_sip_serve_event(&p, "bind-timeout"));
    uac_wait_bye(&u, false); /* left unanswered: the BYE stays out */
    kill(p.pid, SIGTERM);
    json_t *e = test_sip_serve_event(&p, "call-ended");
    ck_assert_msg(strstr(test_jstr(e, "cause"), "--sip-bind-timeout") != NULL, "cause: %s",
                  test_jstr(e, "cause"));
    json_decref(e);
    serve_end(&p, u.fd, &t);
}
END_TEST

/* A static --session-id that nobody bound in time does not end serve --sip: calls go on. */
START_TEST(serve_sip_slot_timeout_keeps_serving)
{
    const char *extra[] = {"--session-id", "fixedSlot1", "--bind-timeout", "0.2", NULL};
    struct tmp t;
    struct test_sip_serve p;
    serve_begin(&t, &p, extra);
    char line[1024];
    ck_assert(test_sip_serve_line(&p, line, sizeof(line), WAIT_MS)); /* the slot's URI */
    ck_assert_msg(strstr(line, "fixedSlot1") != NULL, "slot URI: %s", line);
    json_t *b = test_sip_serve_event(&p, "bind-timeout");
    ck_assert_msg(strstr(test_jstr(b, "session"), "fixedSlot1") != NULL, "%s",
                  test_jstr(b, "session"));
    json_decref(b);
    struct uac u;
    char sdp[1024];
    plain_invite(&u, p.sip_port, "afterslot", sdp);
    json_decref(test_sip_serve_event(&p, "call-established"));
    /* its BYE goes unanswered: ended as serve exits */
    serve_end(&p, u.fd, &t);
}
END_TEST

/* --accept-types text/plain,message/cpim, an offer of text/plain only: the call's session
 * accepts what the answer negotiated (RFC 4975 section 8.6), so message/cpim gets 415. */
START_TEST(serve_sip_negotiated_types_enforced)
{
    const char *extra[] = {"--accept-types", "text/plain,message/cpim", NULL};
    struct tmp t;
    struct test_sip_serve p;
    serve_begin(&t, &p, extra);
    struct uac u;
    uac_open(&u, p.sip_port, "types");
    char sdp[1024], path[256];
    make_offer(sdp, sizeof(sdp), OFFER_PATH, "text/plain", NULL);
    uac_invite(&u, sdp);
    ck_assert_int_eq(u.status, 200);
    ck_assert_msg(strstr(u.answer, "a=accept-types:text/plain\r\n") != NULL, "answer: %s",
                  u.answer);
    uac_ack(&u);
    answer_path(&u, path, sizeof(path));
    int fd = tcp_connect(path);
    ck_assert_int_eq(msrp_send(fd, "types001", path, OFFER_PATH, "text/plain", "hi"), 200);
    ck_assert_int_eq(msrp_send(fd, "types002", path, OFFER_PATH, "message/cpim",
                               "From: <sip:a@b>\r\n\r\nContent-Type: text/plain\r\n\r\nx"),
                     415);
    close(fd);
    serve_end(&p, u.fd, &t);
}
END_TEST

/* A connection naming the call's URI with a wrong From-Path gets 481 and takes nothing: the
 * caller's own connection then binds (no 506). Another call whose only connection has the
 * wrong From-Path still meets its bind deadline while that connection stays open. */
START_TEST(serve_sip_wrong_from_keeps_expectation)
{
    const char *extra[] = {"--sip-bind-timeout", "2", NULL};
    struct tmp t;
    struct test_sip_serve p;
    serve_begin(&t, &p, extra);
    struct uac u;
    char sdp[1024], path[256];
    plain_invite(&u, p.sip_port, "wrongfrom", sdp);
    answer_path(&u, path, sizeof(path));
    int intruder = tcp_connect(path);
    ck_assert_int_eq(msrp_send(intruder, "intrude1", path, "msrp://127.0.0.1:9/intruder;tcp",
                               "text/plain", "x"),
                     481);
    int fd = tcp_connect(path);
    ck_assert_int_eq(msrp_send(fd, "caller01", path, OFFER_PATH, "text/plain", "mine"), 200);
    json_t *bd = test_sip_serve_event(&p, "bound");
    ck_assert_str_eq(test_jstr(bd, "session"), path);
    json_decref(bd);
    close(fd);
    close(intruder);
    uac_wait_bye(&u, true); /* the session's end ends the call */
    close(u.fd);

    /* The second call: one connection is handed the session (its first To-Path URI names
     * it) but does not bind it (a second To-Path URI: 481 from the session) and stays open;
     * the bind deadline still holds, and serve closes that connection. */
    struct uac v;
    uac_open(&v, p.sip_port, "wrongfrom2");
    uac_invite(&v, sdp);
    ck_assert_int_eq(v.status, 200);
    uac_ack(&v);
    answer_path(&v, path, sizeof(path));
    intruder = tcp_connect(path);
    char two[600];
    snprintf(two, sizeof(two), "%s msrp://127.0.0.1:9/beyond;tcp", path);
    ck_assert_int_eq(msrp_send(intruder, "twoUris1", two, OFFER_PATH, "text/plain", "x"), 481);
    json_t *b = test_sip_serve_event(&p, "bind-timeout");
    ck_assert_str_eq(test_jstr(b, "session"), path);
    json_decref(b);
    uac_wait_bye(&v, true);
    char buf[64];
    ck_assert_int_le(recv(intruder, buf, sizeof(buf), 0), 0); /* closed by serve */
    close(intruder);
    serve_end(&p, v.fd, &t);
}
END_TEST

/* An offer that has serve connect (a=setup:passive) to a host name: 488 naming it, as serve
 * resolves no names on its loop. */
START_TEST(serve_sip_active_name_488)
{
    struct tmp t;
    struct test_sip_serve p;
    serve_begin(&t, &p, NULL);
    struct uac u;
    uac_open(&u, p.sip_port, "byname");
    /* c=/m= name the path's host and port, as RFC 4975 section 8.1 has them */
    const char *sdp = "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
                      "c=IN IP4 peer.example.invalid\r\nt=0 0\r\n"
                      "m=message 2855 TCP/MSRP *\r\na=accept-types:text/plain\r\n"
                      "a=setup:passive\r\na=path:msrp://peer.example.invalid:2855/byName1;tcp\r\n";
    uac_invite(&u, sdp);
    ck_assert_int_eq(u.status, 488);
    json_t *e = test_sip_serve_event(&p, "call-ended");
    ck_assert_msg(strstr(test_jstr(e, "cause"), "peer.example.invalid") != NULL, "cause: %s",
                  test_jstr(e, "cause"));
    json_decref(e);
    serve_end(&p, u.fd, &t);
}
END_TEST

Suite *make_serve_sip_calls_suite(void)
{
    Suite *s = suite_create("serve_sip_calls");
    TCase *tc = tcase_create("raw");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, serve_sip_stop_keeps_cause);
    tcase_add_test(tc, serve_sip_slot_timeout_keeps_serving);
    tcase_add_test(tc, serve_sip_negotiated_types_enforced);
    tcase_add_test(tc, serve_sip_wrong_from_keeps_expectation);
    tcase_add_test(tc, serve_sip_active_name_488);
    suite_add_tcase(s, tc);
    return s;
}
