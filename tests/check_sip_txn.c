/*
 * check_sip_txn.c - SIP transactions (src/sip/txn.c) on a real net_loop with short timers
 * (T1 10 ms): how many times a request is retransmitted before Timer B / F gives up (the
 * schedule is absolute, so the count does not depend on how late the loop runs), 1xx stopping
 * an INVITE's retransmissions, the ACK for a failure and its repetition, 2xx ending an INVITE
 * transaction, the server side absorbing retransmissions and waiting for the ACK, and 100,000
 * live transactions each found by its response.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/loop.h"
#include "sip/msg.h"
#include "sip/txn.h"
#include "suites.h"

#define T1 (10ull * 1000000ull)

struct rec {
    int sends, acks, responses, timeouts, ends;
    int last_code;
    char last_sent[64];
};

static void rec_send(void *ctx, struct sip_txn *t, const char *buf, size_t len)
{
    (void)t;
    struct rec *r = ctx;
    r->sends++;
    if (len >= 4 && memcmp(buf, "ACK ", 4) == 0)
        r->acks++;
    size_t n = len < sizeof r->last_sent - 1 ? len : sizeof r->last_sent - 1;
    memcpy(r->last_sent, buf, n);
    r->last_sent[n] = '\0';
}

static void rec_response(void *ctx, struct sip_txn *t, const osip_message_t *resp)
{
    (void)t;
    struct rec *r = ctx;
    r->responses++;
    r->last_code = resp->status_code;
}

static void rec_timeout(void *ctx, struct sip_txn *t)
{
    (void)t;
    ((struct rec *)ctx)->timeouts++;
}

static void rec_end(void *ctx, struct sip_txn *t)
{
    (void)t;
    ((struct rec *)ctx)->ends++;
}

static const struct sip_txn_io io = {rec_send, rec_response, rec_timeout, rec_end};

struct fixture {
    struct net_loop *loop;
    struct sip_txn_table *tab;
    struct rec rec;
};

static void fx_open(struct fixture *f, bool reliable)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(net_loop_create(&f->loop, 64), 0);
    struct sip_txn_config c = {.t1_ns = T1, .t2_ns = 4 * T1, .t4_ns = 5 * T1,
                               .timer_d_ns = 20 * T1, .reliable = reliable};
    f->tab = sip_txn_table_create(f->loop, &c, &io, &f->rec);
    ck_assert_ptr_nonnull(f->tab);
}

static void fx_close(struct fixture *f)
{
    sip_txn_table_destroy(f->tab);
    net_loop_destroy(f->loop);
}

/* Runs the loop until the table is empty; bounded by 10 s of wall time. */
static void run_until_empty(struct fixture *f)
{
    uint64_t stop = net_now_ns() + 10000ull * 1000000ull;
    for (int i = 0; i < 100000 && sip_txn_count(f->tab) > 0 && net_now_ns() < stop; i++)
        ck_assert_int_ge(net_loop_run_once(f->loop, 5), 0);
    ck_assert_uint_eq(sip_txn_count(f->tab), 0);
}

/* Runs the loop for about ms milliseconds. */
static void run_for(struct fixture *f, unsigned ms)
{
    uint64_t stop = net_now_ns() + (uint64_t)ms * 1000000ull;
    for (int i = 0; i < 100000 && net_now_ns() < stop; i++)
        ck_assert_int_ge(net_loop_run_once(f->loop, 1), 0);
}

static char *request(const char *method, const char *branch, size_t *len)
{
    static char buf[1024];
    struct sip_req r = {.method = method, .uri = "sip:bob@127.0.0.1:5080",
                        .from = "<sip:alice@x.test>", .from_tag = "ft", .to = "<sip:bob@x.test>",
                        .call_id = "cid", .cseq = 1, .via_transport = "UDP",
                        .via_host = "127.0.0.1", .via_port = 5070, .branch = branch,
                        .expires = -1};
    char why[200];
    ck_assert_int_eq(sip_msg_build_request(&r, buf, sizeof buf, len, why, sizeof why), 0);
    return buf;
}

/* A response to text (a request built above), parsed. */
static osip_message_t *response_to(const char *text, size_t len, int code)
{
    char why[200], out[2048];
    size_t n;
    osip_message_t *req = sip_msg_parse(text, len, why, sizeof why);
    ck_assert_ptr_nonnull(req);
    struct sip_resp p = {.code = code, .to_tag = "tt"};
    ck_assert_int_eq(sip_msg_build_response(req, &p, out, sizeof out, &n, why, sizeof why), 0);
    osip_message_free(req);
    osip_message_t *m = sip_msg_parse(out, n, why, sizeof why);
    ck_assert_ptr_nonnull(m);
    return m;
}

static osip_message_t *parse(const char *text, size_t len)
{
    char why[200];
    osip_message_t *m = sip_msg_parse(text, len, why, sizeof why);
    ck_assert_msg(m != NULL, "%s", why);
    return m;
}

START_TEST(test_invite_timer_b)
{
    struct fixture f;
    fx_open(&f, false);
    size_t len;
    const char *inv = request("INVITE", "z9hG4bK-b1", &len);
    ck_assert_ptr_nonnull(sip_txn_client_start(f.tab, "z9hG4bK-b1", "INVITE", inv, len, NULL));
    /* A second one with the same branch and method is refused. */
    ck_assert_ptr_null(sip_txn_client_start(f.tab, "z9hG4bK-b1", "INVITE", inv, len, NULL));
    run_until_empty(&f);
    /* Timer A at T1, 3, 7, 15, 31, 63 T1; Timer B at 64 T1: 1 send + 6 retransmissions. */
    ck_assert_int_eq(f.rec.sends, 7);
    ck_assert_int_eq(f.rec.timeouts, 1);
    ck_assert_int_eq(f.rec.ends, 1);
    fx_close(&f);
}
END_TEST

START_TEST(test_non_invite_timer_f)
{
    struct fixture f;
    fx_open(&f, false);
    size_t len;
    const char *reg = request("REGISTER", "z9hG4bK-f1", &len);
    ck_assert_ptr_nonnull(sip_txn_client_start(f.tab, "z9hG4bK-f1", "REGISTER", reg, len, NULL));
    run_until_empty(&f);
    /* Timer E at 1, 3, 7 T1, then every T2 = 4 T1: 11, 15, ..., 63; F at 64 T1. */
    ck_assert_int_eq(f.rec.sends, 1 + 3 + 14);
    ck_assert_int_eq(f.rec.timeouts, 1);
    fx_close(&f);
}
END_TEST

START_TEST(test_reliable_no_retransmissions)
{
    struct fixture f;
    fx_open(&f, true);
    size_t len;
    const char *inv = request("INVITE", "z9hG4bK-r1", &len);
    ck_assert_ptr_nonnull(sip_txn_client_start(f.tab, "z9hG4bK-r1", "INVITE", inv, len, NULL));
    run_until_empty(&f);
    ck_assert_int_eq(f.rec.sends, 1);
    ck_assert_int_eq(f.rec.timeouts, 1); /* Timer B still bounds it */
    fx_close(&f);
}
END_TEST

START_TEST(test_invite_failure_ack)
{
    struct fixture f;
    fx_open(&f, false);
    size_t len;
    const char *inv = request("INVITE", "z9hG4bK-a1", &len);
    char copy[1024];
    memcpy(copy, inv, len);
    ck_assert_ptr_nonnull(sip_txn_client_start(f.tab, "z9hG4bK-a1", "INVITE", copy, len, NULL));
    osip_message_t *trying = response_to(copy, len, 100);
    ck_assert(sip_txn_client_response(f.tab, trying));
    ck_assert_int_eq(f.rec.responses, 1);
    /* In Proceeding the INVITE is not sent again. */
    run_for(&f, 100);
    ck_assert_int_eq(f.rec.sends, 1);
    osip_message_t *busy = response_to(copy, len, 486);
    ck_assert(sip_txn_client_response(f.tab, busy));
    ck_assert_int_eq(f.rec.responses, 2);
    ck_assert_int_eq(f.rec.last_code, 486);
    ck_assert_int_eq(f.rec.acks, 1);
    ck_assert_int_eq(strncmp(f.rec.last_sent, "ACK sip:bob@127.0.0.1:5080 SIP/2.0", 34), 0);
    /* The 486 again: absorbed, the ACK again. */
    ck_assert(sip_txn_client_response(f.tab, busy));
    ck_assert_int_eq(f.rec.responses, 2);
    ck_assert_int_eq(f.rec.acks, 2);
    run_until_empty(&f); /* Timer D */
    ck_assert_int_eq(f.rec.timeouts, 0);
    /* After D the 486 matches nothing. */
    ck_assert(!sip_txn_client_response(f.tab, busy));
    osip_message_free(trying);
    osip_message_free(busy);
    fx_close(&f);
}
END_TEST

START_TEST(test_invite_2xx_ends)
{
    struct fixture f;
    fx_open(&f, false);
    size_t len;
    const char *inv = request("INVITE", "z9hG4bK-o1", &len);
    char copy[1024];
    memcpy(copy, inv, len);
    ck_assert_ptr_nonnull(sip_txn_client_start(f.tab, "z9hG4bK-o1", "INVITE", copy, len, NULL));
    osip_message_t *ok = response_to(copy, len, 200);
    ck_assert(sip_txn_client_response(f.tab, ok));
    ck_assert_uint_eq(sip_txn_count(f.tab), 0);
    ck_assert_int_eq(f.rec.acks, 0); /* the TU's ACK, not the transaction's */
    ck_assert(!sip_txn_client_response(f.tab, ok));
    ck_assert_int_eq(f.rec.responses, 1);
    osip_message_free(ok);

    /* A non-INVITE: 200 ends it after Timer K, absorbing the 200's retransmission. */
    const char *bye = request("BYE", "z9hG4bK-o2", &len);
    memcpy(copy, bye, len);
    ck_assert_ptr_nonnull(sip_txn_client_start(f.tab, "z9hG4bK-o2", "BYE", copy, len, NULL));
    ok = response_to(copy, len, 200);
    ck_assert(sip_txn_client_response(f.tab, ok));
    ck_assert(sip_txn_client_response(f.tab, ok));
    ck_assert_int_eq(f.rec.responses, 2);
    run_until_empty(&f);
    ck_assert_int_eq(f.rec.timeouts, 0);
    osip_message_free(ok);
    fx_close(&f);
}
END_TEST

START_TEST(test_server_side)
{
    struct fixture f;
    fx_open(&f, false);
    size_t len;
    const char *inv = request("INVITE", "z9hG4bK-s1", &len);
    char copy[1024];
    memcpy(copy, inv, len);
    osip_message_t *req = parse(copy, len);
    bool is_new;
    struct sip_txn *t = sip_txn_server_request(f.tab, req, &is_new);
    ck_assert_ptr_nonnull(t);
    ck_assert(is_new);
    ck_assert(sip_txn_is_server(t));
    /* Retransmitted before any response: nothing to send again. */
    ck_assert_ptr_eq(sip_txn_server_request(f.tab, req, &is_new), t);
    ck_assert(!is_new);
    ck_assert_int_eq(f.rec.sends, 0);
    sip_txn_server_respond(f.tab, t, 180, "SIP/2.0 180 Ringing\r\n\r\n", 23);
    ck_assert_ptr_eq(sip_txn_server_request(f.tab, req, &is_new), t);
    ck_assert_int_eq(f.rec.sends, 2);
    ck_assert_str_eq(f.rec.last_sent, "SIP/2.0 180 Ringing\r\n\r\n");
    /* 486: Timer G repeats it until the ACK; the ACK confirms, Timer I ends it. */
    sip_txn_server_respond(f.tab, t, 486, "SIP/2.0 486 Busy Here\r\n\r\n", 25);
    ck_assert_int_eq(sip_txn_state(t), SIP_TXN_COMPLETED);
    run_for(&f, 100); /* G at 1, 3, 7 T1 at least */
    ck_assert_int_ge(f.rec.sends, 3 + 3);
    osip_message_t *busy = response_to(copy, len, 486);
    char ack[2048], why[200];
    size_t alen;
    ck_assert_int_eq(sip_msg_build_cancel_or_ack(req, "ACK", busy, ack, sizeof ack, &alen, why,
                                                 sizeof why),
                     0);
    osip_message_t *ackm = parse(ack, alen);
    ck_assert_ptr_eq(sip_txn_server_request(f.tab, ackm, &is_new), t);
    ck_assert_int_eq(sip_txn_state(t), SIP_TXN_CONFIRMED);
    int sends = f.rec.sends;
    run_until_empty(&f);
    ck_assert_int_eq(f.rec.sends, sends); /* no G after the ACK */
    ck_assert_int_eq(f.rec.timeouts, 0);
    /* An ACK that matches nothing (as for a 2xx). */
    ck_assert_ptr_null(sip_txn_server_request(f.tab, ackm, &is_new));

    /* No ACK at all: Timer H. */
    t = sip_txn_server_request(f.tab, req, &is_new);
    ck_assert(is_new);
    sip_txn_server_respond(f.tab, t, 486, "SIP/2.0 486 Busy Here\r\n\r\n", 25);
    run_until_empty(&f);
    ck_assert_int_eq(f.rec.timeouts, 1);

    /* INVITE answered 2xx: Accepted (RFC 6026, from memory), a copy of the INVITE swallowed
     * (no new transaction, nothing sent: the TU resends its 2xx), then Timer L ends it with
     * no timeout. */
    t = sip_txn_server_request(f.tab, req, &is_new);
    sip_txn_server_respond(f.tab, t, 200, "SIP/2.0 200 OK\r\n\r\n", 18);
    ck_assert_uint_eq(sip_txn_count(f.tab), 1);
    ck_assert_int_eq(sip_txn_state(t), SIP_TXN_ACCEPTED);
    int sends_before = f.rec.sends, timeouts_before = f.rec.timeouts;
    ck_assert_ptr_eq(sip_txn_server_request(f.tab, req, &is_new), t);
    ck_assert(!is_new);
    ck_assert_int_eq(f.rec.sends, sends_before);
    /* an ACK reusing the INVITE's branch is the 2xx's: it goes to the TU, not swallowed */
    ck_assert_ptr_null(sip_txn_server_request(f.tab, ackm, &is_new));
    ck_assert_int_eq(sip_txn_state(t), SIP_TXN_ACCEPTED);
    run_until_empty(&f);
    ck_assert_uint_eq(sip_txn_count(f.tab), 0);
    ck_assert_int_eq(f.rec.timeouts, timeouts_before);
    osip_message_free(busy);
    osip_message_free(ackm);
    osip_message_free(req);

    /* Non-INVITE: the 200 again for a retransmission, then Timer J. */
    const char *reg = request("REGISTER", "z9hG4bK-s2", &len);
    memcpy(copy, reg, len);
    req = parse(copy, len);
    t = sip_txn_server_request(f.tab, req, &is_new);
    ck_assert(is_new);
    sip_txn_server_respond(f.tab, t, 200, "SIP/2.0 200 OK\r\n\r\n", 18);
    sends = f.rec.sends;
    ck_assert_ptr_eq(sip_txn_server_request(f.tab, req, &is_new), t);
    ck_assert_int_eq(f.rec.sends, sends + 1);
    run_until_empty(&f);
    ck_assert_int_eq(f.rec.timeouts, 1);
    osip_message_free(req);
    fx_close(&f);
}
END_TEST

/* 100,000 live client transactions over a reliable transport, each found by its response;
 * the table grows so that it keeps at least one bucket per transaction. */
START_TEST(test_many)
{
    struct fixture f;
    fx_open(&f, true);
    enum { N = 100000 };
    size_t len;
    const char *reg = request("REGISTER", "z9hG4bK-m", &len);
    char copy[1024];
    memcpy(copy, reg, len);
    osip_message_t *ok = response_to(copy, len, 200);
    char branch[32];
    for (int i = 0; i < N; i++) {
        snprintf(branch, sizeof branch, "z9hG4bK-m%d", i);
        ck_assert_ptr_nonnull(sip_txn_client_start(f.tab, branch, "REGISTER", copy, len, NULL));
    }
    ck_assert_uint_eq(sip_txn_count(f.tab), N);
    ck_assert_uint_ge(sip_txn_buckets(f.tab), N);
    /* Each response is matched by its branch (the Via is rewritten per response). */
    osip_via_t *via = NULL;
    osip_message_get_via(ok, 0, &via);
    ck_assert_ptr_nonnull(via);
    for (int i = N - 1; i >= 0; i--) {
        osip_generic_param_t *b = NULL;
        osip_via_param_get_byname(via, "branch", &b);
        ck_assert_ptr_nonnull(b);
        osip_free(b->gvalue);
        snprintf(branch, sizeof branch, "z9hG4bK-m%d", i);
        b->gvalue = osip_strdup(branch);
        ck_assert(sip_txn_client_response(f.tab, ok));
    }
    ck_assert_uint_eq(sip_txn_count(f.tab), 0);
    ck_assert_int_eq(f.rec.responses, N);
    ck_assert_int_eq(f.rec.ends, N);
    osip_message_free(ok);
    fx_close(&f);
}
END_TEST

Suite *make_sip_txn_suite(void)
{
    Suite *s = suite_create("sip_txn");
    TCase *tc = tcase_create("Core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_invite_timer_b);
    tcase_add_test(tc, test_non_invite_timer_f);
    tcase_add_test(tc, test_reliable_no_retransmissions);
    tcase_add_test(tc, test_invite_failure_ack);
    tcase_add_test(tc, test_invite_2xx_ends);
    tcase_add_test(tc, test_server_side);
    tcase_add_test(tc, test_many);
    suite_add_tcase(s, tc);
    return s;
}
