/*
 * check_sip_ua_bye.c - the answering agent's BYE while it still waits for the ACK of its 2xx
 * (src/sip/ua.c): RFC 3261 section 15 (from memory) forbids the callee's BYE before the ACK
 * (or the server transaction's timeout), so sip_call_bye holds it. A raw UDP caller on
 * 127.0.0.1, driven on the agent's loop (T1 = 10 ms), notes whether a BYE came before it
 * ACKed; it ACKs when the test says so, or never.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/loop.h"
#include "sip/msg.h"
#include "sip/sdp_msrp.h"
#include "sip/ua.h"
#include "suites.h"

#define T1_NS (10ull * 1000000ull)

static struct net_loop *loop;
static struct sip_ua *agent;

/* The answerer: answers 200 and at once hangs up (sip_call_bye), before any ACK. */
static int incoming, established, ended, bye_rc = -1;
static enum sip_call_end end_why;
static int end_status;

static void on_incoming(void *ctx, struct sip_call *call, const char *sdp, size_t len)
{
    (void)ctx;
    incoming++;
    struct sip_sdp_msrp_desc offer;
    struct sip_sdp_msrp_result res;
    char answer[4096];
    size_t alen = 0;
    struct sip_sdp_msrp_local l = {.path = "msrp://127.0.0.1:7002/bob1;tcp",
                                   .accept_types = "text/plain", .sess_id = 1,
                                   .sess_version = 1};
    ck_assert_int_eq(sip_sdp_msrp_parse(sdp, len, &offer, NULL, 0), SIP_SDP_OK);
    ck_assert_int_eq(sip_sdp_msrp_answer(&offer, &l, false, answer, sizeof answer, &alen, &res),
                     0);
    ck_assert_int_eq(sip_call_answer(call, 200, answer, alen), 0);
    bye_rc = sip_call_bye(call);
    /* A second hang-up finds the BYE held already. */
    ck_assert_int_ne(sip_call_bye(call), 0);
}

static void on_established(void *ctx, struct sip_call *call, const char *sdp, size_t len)
{
    (void)ctx;
    (void)call;
    (void)sdp;
    (void)len;
    established++;
}

static void on_ended(void *ctx, struct sip_call *call, enum sip_call_end why, int status,
                     const char *reason)
{
    (void)ctx;
    (void)call;
    (void)reason;
    ended++;
    end_why = why;
    end_status = status;
}

/* The raw caller. */
struct raw {
    int fd;
    uint16_t port;
    int oks, byes, byes_before_ack;
    bool acked;
    char to_tag[64];
};

static void raw_io(struct net_loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)ev;
    struct raw *r = arg;
    char buf[65536];
    struct sockaddr_storage from;
    socklen_t fl;
    ssize_t n;
    while ((fl = sizeof from, n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from,
                                           &fl)) > 0) {
        osip_message_t *m = sip_msg_parse(buf, (size_t)n, NULL, 0);
        ck_assert_ptr_nonnull(m);
        if (MSG_IS_RESPONSE(m) && m->status_code == 200 && MSG_IS_RESPONSE_FOR(m, "INVITE")) {
            r->oks++;
            const char *tag = sip_msg_to_tag(m);
            snprintf(r->to_tag, sizeof r->to_tag, "%s", tag != NULL ? tag : "");
        }
        if (MSG_IS_BYE(m)) {
            r->byes++;
            r->byes_before_ack += !r->acked;
            struct sip_resp p = {.code = 200};
            char out[4096];
            size_t len = 0;
            ck_assert_int_eq(sip_msg_build_response(m, &p, out, sizeof out, &len, NULL, 0), 0);
            ck_assert_int_eq(sendto(fd, out, len, 0, (struct sockaddr *)&from, fl),
                             (ssize_t)len);
        }
        osip_message_free(m);
    }
}

static void setup(void)
{
    ck_assert_int_eq(net_loop_create(&loop, 256), 0);
    incoming = established = ended = 0;
    bye_rc = -1;
    struct sip_ua_config c = {
        .transport = {.kind = SIP_TP_UDP}, .user = "bob", .t1_ns = T1_NS,
        .t2_ns = 4 * T1_NS, .t4_ns = 5 * T1_NS, .timer_d_ns = 20 * T1_NS,
        .cb = {.on_incoming = on_incoming, .on_established = on_established,
               .on_ended = on_ended},
    };
    char err[256] = "";
    ck_assert_msg(sip_ua_create(loop, &c, &agent, err, sizeof err) == 0, "sip_ua_create: %s",
                  err);
}

static void teardown(void)
{
    sip_ua_destroy(agent);
    agent = NULL;
    net_loop_destroy(loop);
}

static bool run_until(const int *flag, int want, int max_ms)
{
    uint64_t end = net_now_ns() + (uint64_t)max_ms * 1000000ull;
    while (*flag < want && net_now_ns() < end)
        ck_assert_int_ge(net_loop_run_once(loop, 5), 0);
    return *flag >= want;
}

static void raw_open(struct raw *r)
{
    memset(r, 0, sizeof *r);
    r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(r->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(r->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    ck_assert_int_eq(getsockname(r->fd, (struct sockaddr *)&a, &al), 0);
    r->port = ntohs(a.sin_port);
    ck_assert_int_eq(net_loop_watch(loop, r->fd, NET_READABLE, raw_io, r), 0);
}

static void raw_close(struct raw *r)
{
    net_loop_forget(loop, r->fd);
    close(r->fd);
}

/* The raw caller sends method (INVITE with an MSRP offer, or the ACK in the dialog). */
static void raw_send(struct raw *r, const char *method, const char *branch)
{
    char contact[80], uri[300], buf[8192], sdp[4096];
    size_t len = 0, slen = 0;
    snprintf(contact, sizeof contact, "<sip:raw@127.0.0.1:%u>", (unsigned)r->port);
    snprintf(uri, sizeof uri, "%s", sip_ua_contact_uri(agent));
    bool invite = strcmp(method, "INVITE") == 0;
    if (invite) {
        struct sip_sdp_msrp_local l = {.path = "msrp://127.0.0.1:7009/raw1;tcp",
                                       .accept_types = "text/plain", .sess_id = 7,
                                       .sess_version = 1};
        ck_assert_int_eq(sip_sdp_msrp_offer(&l, sdp, sizeof sdp, &slen, NULL, 0), 0);
    }
    struct sip_req q = {.method = method, .uri = uri, .from = "<sip:raw@127.0.0.1>",
                        .from_tag = "rawfrom", .to = "<sip:bob@127.0.0.1>",
                        .to_tag = invite ? NULL : r->to_tag, .call_id = "byehold-1@127.0.0.1",
                        .cseq = 1, .via_transport = "UDP", .via_host = "127.0.0.1",
                        .via_port = r->port, .branch = branch, .contact = contact,
                        .expires = -1, .content_type = invite ? "application/sdp" : NULL,
                        .body = invite ? sdp : NULL, .body_len = slen};
    ck_assert_int_eq(sip_msg_build_request(&q, buf, sizeof buf, &len, NULL, 0), 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(sip_ua_port(agent)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(sendto(r->fd, buf, len, 0, (struct sockaddr *)&to, sizeof to),
                     (ssize_t)len);
}

/* The answerer hangs up before the ACK: the BYE waits for it, then goes (and only then). */
START_TEST(bye_held_until_ack)
{
    struct raw r;
    raw_open(&r);
    raw_send(&r, "INVITE", "z9hG4bKbyehold1");
    ck_assert(run_until(&r.oks, 1, 3000));
    ck_assert_int_eq(bye_rc, 0);
    /* The 2xx is resent (UDP) while the ACK is awaited: two copies prove the agent had its
     * turn after the hang-up, with the BYE still held. */
    ck_assert(run_until(&r.oks, 2, 3000));
    ck_assert_int_eq(r.byes, 0);
    r.acked = true;
    raw_send(&r, "ACK", "z9hG4bKbyehold1ack");
    ck_assert(run_until(&r.byes, 1, 3000));
    ck_assert(run_until(&ended, 1, 3000));
    ck_assert_int_eq(r.byes_before_ack, 0);
    ck_assert_int_eq(incoming, 1);
    ck_assert_int_eq(established, 0); /* hung up: no on_established */
    ck_assert_int_eq(end_why, SIP_END_LOCAL_BYE);
    ck_assert_int_eq(end_status, 200);
    ck_assert_uint_eq(sip_ua_calls(agent), 0);
    ck_assert_uint_eq(sip_ua_dialogs(agent), 0);
    raw_close(&r);
}
END_TEST

/* No ACK ever: the held BYE goes when the 64*T1 guard gives up, once. */
START_TEST(bye_held_no_ack)
{
    struct raw r;
    raw_open(&r);
    raw_send(&r, "INVITE", "z9hG4bKbyehold2");
    ck_assert(run_until(&r.oks, 1, 3000));
    ck_assert_int_eq(bye_rc, 0);
    ck_assert(run_until(&ended, 1, 5000));
    ck_assert_int_eq(end_why, SIP_END_NO_ACK);
    ck_assert(run_until(&r.byes, 1, 3000));
    ck_assert_int_ge(r.oks, 4); /* resent all along: the BYE did not stop it */
    ck_assert_int_eq(r.byes, 1);
    ck_assert_int_eq(established, 0);
    ck_assert_uint_eq(sip_ua_dialogs(agent), 0);
    raw_close(&r);
}
END_TEST

Suite *make_sip_ua_bye_suite(void)
{
    Suite *s = suite_create("sip_ua_bye");
    TCase *tc = tcase_create("held");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bye_held_until_ack);
    tcase_add_test(tc, bye_held_no_ack);
    suite_add_tcase(s, tc);
    return s;
}
