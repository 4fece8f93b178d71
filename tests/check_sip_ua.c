/*
 * check_sip_ua.c - SIP user agents (src/sip/ua.c, ua_core.c, transport.c) on real sockets on
 * 127.0.0.1 with T1 = 10 ms: agent calling agent directly over UDP, TCP and TLS (INVITE with
 * MSRP SDP from sdp_msrp.c, 200, ACK, BYE from either side), 486, CANCEL before the answer
 * (487 both sides), 488 for an unacceptable offer, REGISTER against an in-test registrar that
 * challenges and checks the digest itself (and the refresh), a caller that never ACKs (the 2xx
 * is resent, then the answerer ends the dialog with BYE at 64*T1; a copy of its INVITE after
 * the 2xx is no second call), a peer that never answers (Timer B: 408), 407 on an INVITE and
 * 401 on a BYE (the peers check the digest themselves), a 2xx resent (ACKed again), a forked
 * second 2xx (ACKed and ended with BYE), and TCP framing (keep-alives, a message cut inside
 * its body, a stream that is not SIP). The raw peers are plain sockets driven by the test on
 * the same loop, so they count a request's copies (same branch) once.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/loop.h"
#include "net/tls.h"
#include "sip/msg.h"
#include "sip/sdp_msrp.h"
#include "sip/transport.h"
#include "sip/ua.h"
#include "suites.h"

#define T1_NS (10ull * 1000000ull)

/* ---- a party: one agent and what its callbacks saw ----------------------------------------- */

enum mode { ANSWER, BUSY, RING, HOLD };

struct party {
    struct sip_ua *ua;
    enum mode mode;
    const char *path, *types; /* our MSRP side for the SDP answer */
    int reg_events, reg_status, reg_expires;
    int incoming, progress, established, ended;
    enum sip_call_end why;
    int end_status;
    char peer_sdp[8192];
    struct sip_call *call;
    bool cancel_on_progress;
};

static void on_registered(void *ctx, struct sip_ua *ua, int status, int expires)
{
    (void)ua;
    struct party *p = ctx;
    p->reg_events++;
    p->reg_status = status;
    p->reg_expires = expires;
}

static void on_incoming(void *ctx, struct sip_call *call, const char *sdp, size_t len)
{
    struct party *p = ctx;
    p->incoming++;
    p->call = call;
    if (p->mode == BUSY) {
        ck_assert_int_eq(sip_call_reject(call, 486), 0);
        return;
    }
    if (p->mode == RING) {
        ck_assert_int_eq(sip_call_answer(call, 180, NULL, 0), 0);
        return;
    }
    if (p->mode == HOLD)
        return;
    struct sip_sdp_msrp_desc offer;
    struct sip_sdp_msrp_result res;
    char answer[4096];
    size_t alen = 0;
    struct sip_sdp_msrp_local l = {.path = p->path, .accept_types = p->types, .sess_id = 1,
                                   .sess_version = 1};
    if (!sdp || sip_sdp_msrp_parse(sdp, len, &offer, NULL, 0) != SIP_SDP_OK ||
        sip_sdp_msrp_answer(&offer, &l, false, answer, sizeof answer, &alen, &res) != 0 ||
        res.verdict == SIP_SDP_REJECT) {
        ck_assert_int_eq(sip_call_reject(call, 488), 0);
        return;
    }
    ck_assert_int_eq(sip_call_answer(call, 200, answer, alen), 0);
}

static void on_progress(void *ctx, struct sip_call *call, int status)
{
    struct party *p = ctx;
    (void)status;
    p->progress++;
    if (p->cancel_on_progress)
        ck_assert_int_eq(sip_call_cancel(call), 0);
}

static void on_established(void *ctx, struct sip_call *call, const char *sdp, size_t len)
{
    struct party *p = ctx;
    p->established++;
    p->call = call;
    snprintf(p->peer_sdp, sizeof p->peer_sdp, "%.*s", (int)len, sdp ? sdp : "");
}

static void on_ended(void *ctx, struct sip_call *call, enum sip_call_end why, int status,
                     const char *reason)
{
    (void)call;
    (void)reason;
    struct party *p = ctx;
    p->ended++;
    p->why = why;
    p->end_status = status;
    p->call = NULL;
}

static const struct sip_ua_callbacks cbs = {on_registered, on_incoming, on_progress,
                                            on_established, on_ended};

/* ---- fixture ---------------------------------------------------------------------------------- */

static struct net_loop *loop;
static struct party alice, bob;
static struct net_tls *tls_srv, *tls_cli;
static char tmpdir[64];

static void open_party(struct party *p, const char *user, enum sip_tp_kind kind, const char *pw)
{
    memset(p, 0, sizeof *p);
    p->path = strcmp(user, "alice") == 0 ? "msrp://127.0.0.1:7001/alice1;tcp"
                                         : "msrp://127.0.0.1:7002/bob1;tcp";
    p->types = "text/plain";
    struct sip_ua_config c = {
        .transport = {.kind = kind, .tls_server = tls_srv, .tls_client = tls_cli},
        .user = user, .password = pw, .t1_ns = T1_NS, .t2_ns = 4 * T1_NS, .t4_ns = 5 * T1_NS,
        .timer_d_ns = 20 * T1_NS, .cb = cbs, .ctx = p,
    };
    char err[256] = "";
    int r = sip_ua_create(loop, &c, &p->ua, err, sizeof err);
    ck_assert_msg(r == 0, "sip_ua_create: %s", err);
}

static void make_tls(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/check_sip_ua.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    char crt[128], key[128], err[256];
    snprintf(crt, sizeof crt, "%s/c.pem", tmpdir);
    snprintf(key, sizeof key, "%s/k.pem", tmpdir);
    ck_assert_int_eq(net_tls_make_self_signed(crt, key, "localhost", err, sizeof err), 0);
    ck_assert_int_eq(net_tls_server_create(&tls_srv, crt, key, NULL, err, sizeof err), 0);
    ck_assert_int_eq(net_tls_client_create(&tls_cli, crt, NULL, NULL, err, sizeof err), 0);
    unlink(crt);
    unlink(key);
    rmdir(tmpdir);
}

static void setup(void)
{
    ck_assert_int_eq(net_loop_create(&loop, 1024), 0);
}

static void teardown(void)
{
    sip_ua_destroy(alice.ua);
    sip_ua_destroy(bob.ua);
    alice.ua = bob.ua = NULL;
    net_tls_destroy(tls_srv);
    net_tls_destroy(tls_cli);
    tls_srv = tls_cli = NULL;
    net_loop_destroy(loop);
}

/* Runs the loop until *flag >= want or max_ms passed. Returns whether it got there. */
static bool run_until(const int *flag, int want, int max_ms)
{
    uint64_t end = net_now_ns() + (uint64_t)max_ms * 1000000ull;
    while (*flag < want && net_now_ns() < end)
        ck_assert_int_ge(net_loop_run_once(loop, 5), 0);
    return *flag >= want;
}

static void run_for(int ms)
{
    uint64_t end = net_now_ns() + (uint64_t)ms * 1000000ull;
    while (net_now_ns() < end)
        ck_assert_int_ge(net_loop_run_once(loop, 5), 0);
}

static char offer_buf[4096];

static const char *offer(const char *path, const char *types, size_t *len)
{
    struct sip_sdp_msrp_local l = {.path = path, .accept_types = types, .sess_id = 7,
                                   .sess_version = 1};
    ck_assert_int_eq(sip_sdp_msrp_offer(&l, offer_buf, sizeof offer_buf, len, NULL, 0), 0);
    return offer_buf;
}

static void target_of(const struct party *p, char *out, size_t cap)
{
    /* The peer's Contact URI is its address: a direct call, no proxy. */
    snprintf(out, cap, "%s", sip_ua_contact_uri(p->ua));
}

/* ---- calls between two agents ----------------------------------------------------------------- */

/* One call from a to b with b answering, then a BYE from `byer`; checks both ends. */
static void call_and_bye(struct party *a, struct party *b, struct party *byer)
{
    int a_ended = a->ended, b_ended = b->ended, a_est = a->established,
        b_est = b->established;
    char target[300];
    target_of(b, target, sizeof target);
    size_t len = 0;
    const char *sdp = offer(a->path, "text/plain message/cpim", &len);
    struct sip_call *c = sip_ua_call(a->ua, target, sdp, len, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_msg(run_until(&b->established, b_est + 1, 3000), "answerer never got the ACK");
    ck_assert_int_eq(a->established, a_est + 1);
    /* The caller got the answer: an MSRP SDP whose path is the answerer's. */
    struct sip_sdp_msrp_desc ans;
    ck_assert_int_eq(sip_sdp_msrp_parse(a->peer_sdp, strlen(a->peer_sdp), &ans, NULL, 0),
                     SIP_SDP_OK);
    ck_assert_str_eq(ans.path, b->path);
    struct sip_sdp_msrp_local l = {.path = a->path, .accept_types = "text/plain message/cpim"};
    struct sip_sdp_msrp_result res;
    ck_assert_int_eq(sip_sdp_msrp_take_answer(&l, &ans, &res), 0);
    ck_assert_int_eq(res.verdict, SIP_SDP_ACCEPT);
    /* The answerer got the offer. */
    ck_assert_ptr_nonnull(strstr(b->peer_sdp, a->path));
    ck_assert_uint_eq(sip_ua_dialogs(a->ua), 1);
    ck_assert_uint_eq(sip_ua_dialogs(b->ua), 1);
    /* Both ends name the same call. */
    ck_assert_ptr_eq(a->call, c);
    ck_assert_int_gt(strlen(sip_call_id(c)), 0);
    ck_assert_str_eq(sip_call_id(a->call), sip_call_id(b->call));
    ck_assert(sip_call_outgoing(a->call) && !sip_call_outgoing(b->call));
    ck_assert_int_eq(sip_call_bye(byer->call), 0);
    struct party *other = byer == a ? b : a;
    int other_ended = byer == a ? b_ended : a_ended;
    ck_assert(run_until(&byer->ended, (byer == a ? a_ended : b_ended) + 1, 3000));
    ck_assert(run_until(&other->ended, other_ended + 1, 3000));
    ck_assert_int_eq(byer->why, SIP_END_LOCAL_BYE);
    ck_assert_int_eq(byer->end_status, 200);
    ck_assert_int_eq(other->why, SIP_END_REMOTE_BYE);
    ck_assert_uint_eq(sip_ua_dialogs(a->ua), 0);
    ck_assert_uint_eq(sip_ua_dialogs(b->ua), 0);
    ck_assert_uint_eq(sip_ua_calls(a->ua), 0);
    ck_assert_uint_eq(sip_ua_calls(b->ua), 0);
}

START_TEST(calls_both_ways)
{
    enum sip_tp_kind kind = (enum sip_tp_kind)_i;
    if (kind == SIP_TP_TLS)
        make_tls();
    open_party(&alice, "alice", kind, NULL);
    open_party(&bob, "bob", kind, NULL);
    call_and_bye(&alice, &bob, &alice);
    if (kind != SIP_TP_UDP) {
        /* INVITE, ACK and BYE went over one connection to bob's address. */
        ck_assert_uint_eq(sip_tp_connects(sip_ua_transport(alice.ua)), 1);
    }
    call_and_bye(&bob, &alice, &alice); /* bob calls, alice (the answerer) hangs up */
    call_and_bye(&alice, &bob, &bob);   /* and the answerer of the first direction too */
    if (kind != SIP_TP_UDP)
        ck_assert_uint_eq(sip_tp_connects(sip_ua_transport(alice.ua)), 1);
    ck_assert_int_eq(alice.incoming, 1);
    ck_assert_int_eq(bob.incoming, 2);
    /* Every transaction ends: the lingering ones by Timer K / J / L (64*T1 at most). */
    uint64_t end = net_now_ns() + 3000ull * 1000000ull;
    while ((sip_ua_transactions(alice.ua) || sip_ua_transactions(bob.ua)) && net_now_ns() < end)
        ck_assert_int_ge(net_loop_run_once(loop, 5), 0);
    ck_assert_uint_eq(sip_ua_transactions(alice.ua), 0);
    ck_assert_uint_eq(sip_ua_transactions(bob.ua), 0);
    const char *last = NULL;
    ck_assert_msg(sip_ua_transport_errors(alice.ua, &last) == 0, "alice: %s", last);
    ck_assert_msg(sip_ua_transport_errors(bob.ua, &last) == 0, "bob: %s", last);
}
END_TEST

/* Both ends hang up at once (serve closing on the MSRP connection's end while the caller BYEs):
 * each BYE finds the dialog the other is ending and gets 200, not 481. Over UDP on one loop
 * both BYEs arrive before either answer; over TCP the answerer's BYE opens a connection of its
 * own and may come after the caller's call has ended, when 481 is the right answer. */
START_TEST(bye_glare)
{
    open_party(&alice, "alice", SIP_TP_UDP, NULL);
    open_party(&bob, "bob", SIP_TP_UDP, NULL);
    char target[300];
    target_of(&bob, target, sizeof target);
    size_t len = 0;
    const char *sdp = offer(alice.path, "text/plain", &len);
    ck_assert_ptr_nonnull(sip_ua_call(alice.ua, target, sdp, len, NULL));
    ck_assert_msg(run_until(&bob.established, 1, 3000), "answerer never got the ACK");
    ck_assert_int_eq(sip_call_bye(alice.call), 0);
    ck_assert_int_eq(sip_call_bye(bob.call), 0);
    ck_assert_int_eq(sip_call_bye(bob.call), EINVAL); /* one BYE per call */
    ck_assert(run_until(&alice.ended, 1, 3000));
    ck_assert(run_until(&bob.ended, 1, 3000));
    ck_assert_int_eq(alice.why, SIP_END_LOCAL_BYE);
    ck_assert_int_eq(alice.end_status, 200);
    ck_assert_int_eq(bob.why, SIP_END_LOCAL_BYE);
    ck_assert_int_eq(bob.end_status, 200);
    ck_assert_uint_eq(sip_ua_dialogs(alice.ua), 0);
    ck_assert_uint_eq(sip_ua_dialogs(bob.ua), 0);
    ck_assert_uint_eq(sip_ua_calls(alice.ua), 0);
    ck_assert_uint_eq(sip_ua_calls(bob.ua), 0);
}
END_TEST

START_TEST(busy_486)
{
    open_party(&alice, "alice", SIP_TP_UDP, NULL);
    open_party(&bob, "bob", SIP_TP_UDP, NULL);
    bob.mode = BUSY;
    char target[300];
    target_of(&bob, target, sizeof target);
    size_t len = 0;
    const char *sdp = offer(alice.path, "text/plain", &len);
    ck_assert_ptr_nonnull(sip_ua_call(alice.ua, target, sdp, len, NULL));
    ck_assert(run_until(&alice.ended, 1, 3000));
    ck_assert_int_eq(alice.why, SIP_END_REJECTED);
    ck_assert_int_eq(alice.end_status, 486);
    ck_assert_int_eq(alice.established, 0);
    ck_assert_int_eq(bob.ended, 1);
    ck_assert_int_eq(bob.why, SIP_END_REJECTED);
    ck_assert_int_eq(bob.end_status, 486);
    ck_assert_uint_eq(sip_ua_dialogs(bob.ua), 0);
}
END_TEST

START_TEST(unacceptable_offer_488)
{
    open_party(&alice, "alice", SIP_TP_TCP, NULL);
    open_party(&bob, "bob", SIP_TP_TCP, NULL);
    char target[300];
    target_of(&bob, target, sizeof target);
    size_t len = 0;
    /* bob takes only text/plain; an offer of image/png alone leaves nothing to agree on. */
    const char *sdp = offer(alice.path, "image/png", &len);
    ck_assert_ptr_nonnull(sip_ua_call(alice.ua, target, sdp, len, NULL));
    ck_assert(run_until(&alice.ended, 1, 3000));
    ck_assert_int_eq(alice.why, SIP_END_REJECTED);
    ck_assert_int_eq(alice.end_status, 488);
    ck_assert_int_eq(bob.incoming, 1);
    ck_assert_int_eq(bob.end_status, 488);
}
END_TEST

START_TEST(cancel_before_answer)
{
    enum sip_tp_kind kind = (enum sip_tp_kind)_i;
    open_party(&alice, "alice", kind, NULL);
    open_party(&bob, "bob", kind, NULL);
    bob.mode = RING;
    alice.cancel_on_progress = true;
    char target[300];
    target_of(&bob, target, sizeof target);
    size_t len = 0;
    const char *sdp = offer(alice.path, "text/plain", &len);
    ck_assert_ptr_nonnull(sip_ua_call(alice.ua, target, sdp, len, NULL));
    ck_assert(run_until(&alice.ended, 1, 3000));
    ck_assert_int_ge(alice.progress, 1);
    ck_assert_int_eq(alice.why, SIP_END_CANCELLED);
    ck_assert_int_eq(alice.end_status, 487);
    ck_assert_int_eq(bob.ended, 1);
    ck_assert_int_eq(bob.why, SIP_END_CANCELLED);
    ck_assert_int_eq(bob.end_status, 487);
    ck_assert_int_eq(alice.established + bob.established, 0);
}
END_TEST

/* ---- raw UDP peers ---------------------------------------------------------------------------- */

struct raw {
    int fd;
    uint16_t port;
    int invites, oks, byes, registers, valid_auth, bad_auth, unauth, last_expires;
    uint32_t last_cseq;
    bool cseq_rose; /* every REGISTER's CSeq above the one before */
    int grant;      /* registrar: expires granted */
    int fail_next;  /* registrar: answer the next N authorized REGISTERs 503 */
    bool other_first; /* registrar: list first a binding of the user on a longer port */
    char nonce[32];
    int retransmissions; /* requests seen again (same branch): not answered, not counted */
    char last_branch[64];
    struct sockaddr_storage last_from;
    socklen_t last_from_len;
};

static void raw_open(struct raw *r, net_io_fn fn)
{
    memset(r, 0, sizeof *r);
    r->cseq_rose = true;
    r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(r->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(r->fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(r->fd, (struct sockaddr *)&a, &al);
    r->port = ntohs(a.sin_port);
    ck_assert_int_eq(net_loop_watch(loop, r->fd, NET_READABLE, fn, r), 0);
}

static void raw_close(struct raw *r)
{
    net_loop_forget(loop, r->fd);
    close(r->fd);
}

/* Reads one datagram and parses it; NULL when none. */
static osip_message_t *raw_read(struct raw *r)
{
    char buf[65536];
    r->last_from_len = sizeof r->last_from;
    ssize_t n = recvfrom(r->fd, buf, sizeof buf, 0, (struct sockaddr *)&r->last_from,
                         &r->last_from_len);
    if (n <= 0)
        return NULL;
    osip_message_t *m = sip_msg_parse(buf, (size_t)n, NULL, 0);
    ck_assert_ptr_nonnull(m);
    return m;
}

static void raw_reply_tag(struct raw *r, const osip_message_t *req, int code,
                          const char *to_tag, const char *contact, const char *xname,
                          const char *xvalue)
{
    struct sip_resp p = {.code = code, .to_tag = to_tag, .contact = contact,
                         .extra_name = xname, .extra_value = xvalue};
    char out[4096];
    size_t len = 0;
    ck_assert_int_eq(sip_msg_build_response(req, &p, out, sizeof out, &len, NULL, 0), 0);
    ck_assert_int_eq(sendto(r->fd, out, len, 0, (struct sockaddr *)&r->last_from,
                            r->last_from_len), (ssize_t)len);
}

static void raw_reply(struct raw *r, const osip_message_t *req, int code, const char *contact,
                      const char *xname, const char *xvalue)
{
    raw_reply_tag(r, req, code, "rawtag", contact, xname, xvalue);
}

/* True when m repeats the request before it (same branch): with T1 at 10 ms and the peers on
 * one loop, the agent may resend before this peer's turn comes. */
static bool raw_repeat(struct raw *r, const osip_message_t *m)
{
    const char *b = sip_msg_branch(m);
    if (b && strcmp(b, r->last_branch) == 0) {
        r->retransmissions++;
        return true;
    }
    snprintf(r->last_branch, sizeof r->last_branch, "%s", b ? b : "");
    return false;
}

/* Counts INVITEs and never answers. */
static void sink_io(struct net_loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)fd;
    (void)ev;
    osip_message_t *m;
    while ((m = raw_read(arg)) != NULL) {
        if (MSG_IS_INVITE(m))
            ((struct raw *)arg)->invites++;
        osip_message_free(m);
    }
}

START_TEST(no_answer_timer_b)
{
    open_party(&alice, "alice", SIP_TP_UDP, NULL);
    struct raw sink;
    raw_open(&sink, sink_io);
    char target[128];
    snprintf(target, sizeof target, "sip:nobody@127.0.0.1:%u", sink.port);
    size_t len = 0;
    const char *sdp = offer(alice.path, "text/plain", &len);
    ck_assert_ptr_nonnull(sip_ua_call(alice.ua, target, sdp, len, NULL));
    ck_assert(run_until(&alice.ended, 1, 5000));
    ck_assert_int_eq(alice.why, SIP_END_TIMEOUT);
    ck_assert_int_eq(alice.end_status, 408);
    /* Sent at 0, T1, 3, 7, 15, 31 and 63*T1 (Timer A doubles), then Timer B at 64*T1. */
    run_for(20);
    ck_assert_int_eq(sink.invites, 7);
    raw_close(&sink);
}
END_TEST

/* A caller that never ACKs: counts the 2xx copies, answers the BYE. */
static void noack_io(struct net_loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)fd;
    (void)ev;
    struct raw *r = arg;
    osip_message_t *m;
    while ((m = raw_read(r)) != NULL) {
        if (MSG_IS_RESPONSE(m) && m->status_code == 200)
            r->oks++;
        if (MSG_IS_BYE(m)) {
            r->byes++;
            raw_reply(r, m, 200, NULL, NULL, NULL);
        }
        osip_message_free(m);
    }
}

START_TEST(missing_ack)
{
    open_party(&bob, "bob", SIP_TP_UDP, NULL);
    struct raw caller;
    raw_open(&caller, noack_io);
    char contact[80], uri[300], buf[8192];
    snprintf(contact, sizeof contact, "<sip:raw@127.0.0.1:%u>", caller.port);
    snprintf(uri, sizeof uri, "%s", sip_ua_contact_uri(bob.ua));
    size_t len = 0, slen = 0;
    const char *sdp = offer("msrp://127.0.0.1:7009/raw1;tcp", "text/plain", &slen);
    struct sip_req q = {.method = "INVITE", .uri = uri, .from = "<sip:raw@127.0.0.1>",
                        .from_tag = "rawfrom", .to = "<sip:bob@127.0.0.1>",
                        .call_id = "noack-1@127.0.0.1", .cseq = 1, .via_transport = "UDP",
                        .via_host = "127.0.0.1", .via_port = caller.port,
                        .branch = "z9hG4bKnoack1", .contact = contact, .expires = -1,
                        .content_type = "application/sdp", .body = sdp, .body_len = slen};
    ck_assert_int_eq(sip_msg_build_request(&q, buf, sizeof buf, &len, NULL, 0), 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(sip_ua_port(bob.ua)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(sendto(caller.fd, buf, len, 0, (struct sockaddr *)&to, sizeof to),
                     (ssize_t)len);
    /* A copy of the INVITE after the 2xx came (as one crossing it would): swallowed by the
     * transaction (Accepted), not a second call. */
    ck_assert(run_until(&caller.oks, 1, 3000));
    ck_assert_int_eq(sendto(caller.fd, buf, len, 0, (struct sockaddr *)&to, sizeof to),
                     (ssize_t)len);
    ck_assert(run_until(&bob.ended, 1, 5000));
    ck_assert_int_eq(bob.incoming, 1);
    ck_assert_int_eq(bob.established, 0);
    ck_assert_int_eq(bob.why, SIP_END_NO_ACK);
    ck_assert(run_until(&caller.byes, 1, 1000));
    /* The 2xx went out at 0, T1, 3*T1, 7*T1, then every T2 = 4*T1 until 64*T1: well over 3. */
    ck_assert_int_ge(caller.oks, 4);
    ck_assert_uint_eq(sip_ua_dialogs(bob.ua), 0);
    raw_close(&caller);
}
END_TEST

/* ---- an in-test registrar that challenges and checks the digest itself -------------------- */

#define REALM "test.example"
#define PASSWORD "alice-secret"

static void md5_hex(const char *s, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    ck_assert(EVP_Digest(s, strlen(s), md, &n, EVP_md5(), NULL));
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

static void unq(const char *in, char *out, size_t cap)
{
    size_t n = in ? strlen(in) : 0;
    if (n >= 2 && in[0] == '"' && in[n - 1] == '"') {
        in++;
        n -= 2;
    }
    snprintf(out, cap, "%.*s", (int)n, in ? in : "");
}

/* The request-digest with qop=auth (RFC 2617 section 3.2.2, from memory: RFC 2617 is not in
 * ../shared/rfc/), computed here independently of src/wire/digest.c. */
static bool digest_ok(const osip_authorization_t *a, const char *method)
{
    char user[64], realm[64], nonce[64], uri[256], resp[64], nc[16], cnonce[64], qop[16];
    unq(a->username, user, sizeof user);
    unq(a->realm, realm, sizeof realm);
    unq(a->nonce, nonce, sizeof nonce);
    unq(a->uri, uri, sizeof uri);
    unq(a->response, resp, sizeof resp);
    unq(a->nonce_count, nc, sizeof nc);
    unq(a->cnonce, cnonce, sizeof cnonce);
    unq(a->message_qop, qop, sizeof qop);
    if (strcmp(qop, "auth") != 0 || !cnonce[0] || strcmp(nc, "00000001") != 0)
        return false;
    char s[512], ha1[33], ha2[33], want[33];
    snprintf(s, sizeof s, "%s:%s:%s", user, realm, PASSWORD);
    md5_hex(s, ha1);
    snprintf(s, sizeof s, "%s:%s", method, uri);
    md5_hex(s, ha2);
    snprintf(s, sizeof s, "%s:%s:%s:%s:%s:%s", ha1, nonce, nc, cnonce, qop, ha2);
    md5_hex(s, want);
    return strcmp(want, resp) == 0 && strcmp(user, "alice") == 0;
}

static void registrar_io(struct net_loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)fd;
    (void)ev;
    struct raw *r = arg;
    osip_message_t *m;
    while ((m = raw_read(r)) != NULL) {
        if (!MSG_IS_REGISTER(m) || raw_repeat(r, m)) {
            osip_message_free(m);
            continue;
        }
        r->registers++;
        uint32_t cseq = sip_msg_cseq(m);
        if (r->registers > 1 && cseq <= r->last_cseq)
            r->cseq_rose = false;
        r->last_cseq = cseq;
        osip_authorization_t *a = NULL;
        osip_message_get_authorization(m, 0, &a);
        if (!a) {
            r->unauth++;
            char chal[200];
            /* A fresh nonce each time, as a registrar would. */
            snprintf(r->nonce, sizeof r->nonce, "n%d", r->registers);
            snprintf(chal, sizeof chal,
                     "Digest realm=\"" REALM "\", nonce=\"%s\", qop=\"auth\", algorithm=MD5",
                     r->nonce);
            raw_reply(r, m, 401, NULL, "WWW-Authenticate", chal);
        } else if (!digest_ok(a, "REGISTER")) {
            r->bad_auth++;
            raw_reply(r, m, 403, NULL, NULL, NULL);
        } else {
            r->valid_auth++;
            osip_header_t *h = NULL;
            r->last_expires = -1;
            if (osip_message_get_expires(m, 0, &h) >= 0 && h && h->hvalue)
                r->last_expires = atoi(h->hvalue);
            osip_contact_t *c = osip_list_get(&m->contacts, 0);
            char *cu = NULL, contact[300];
            ck_assert_ptr_nonnull(c);
            osip_uri_to_str(c->url, &cu);
            int n = 0;
            if (r->other_first) /* ours with a digit added: another agent, not ours */
                n = snprintf(contact, sizeof contact, "<%s1>;expires=7, ", cu);
            snprintf(contact + n, sizeof contact - (size_t)n, "<%s>;expires=%d", cu,
                     r->last_expires == 0 ? 0 : r->grant);
            osip_free(cu);
            if (r->fail_next > 0) {
                r->fail_next--;
                raw_reply(r, m, 503, NULL, NULL, NULL);
            } else {
                raw_reply(r, m, 200, contact, NULL, NULL);
            }
        }
        osip_message_free(m);
    }
}

START_TEST(register_digest_refresh)
{
    open_party(&alice, "alice", SIP_TP_UDP, PASSWORD);
    struct raw reg;
    raw_open(&reg, registrar_io);
    reg.grant = 1; /* one second: the agent refreshes at half of it */
    char uri[64];
    snprintf(uri, sizeof uri, "sip:127.0.0.1:%u", reg.port);
    ck_assert_int_eq(sip_ua_register(alice.ua, uri, 3600), 0);
    ck_assert(run_until(&alice.reg_events, 1, 3000));
    ck_assert_int_eq(alice.reg_status, 200);
    ck_assert_int_eq(alice.reg_expires, 1); /* what was granted, not what was asked */
    ck_assert(sip_ua_registered(alice.ua));
    ck_assert_int_eq(reg.unauth, 1);
    ck_assert_int_eq(reg.valid_auth, 1);
    ck_assert_int_eq(reg.last_expires, 3600);
    /* The refresh: challenged and answered again, with a rising CSeq. */
    ck_assert(run_until(&alice.reg_events, 2, 3000));
    ck_assert_int_eq(alice.reg_status, 200);
    ck_assert_int_eq(reg.valid_auth, 2);
    ck_assert_int_eq(reg.bad_auth, 0);
    ck_assert_int_eq(sip_ua_unregister(alice.ua), 0);
    ck_assert(run_until(&alice.reg_events, 3, 3000));
    ck_assert_int_eq(reg.last_expires, 0);
    ck_assert(!sip_ua_registered(alice.ua));
    ck_assert(reg.cseq_rose);
    ck_assert_int_eq(reg.bad_auth, 0);
    raw_close(&reg);
}
END_TEST

/* A 503 is tried again (a 4xx is not: register_wrong_password), and the expiry read is our
 * own binding's, not that of another binding of the user whose Contact starts like ours. */
START_TEST(register_retried_own_binding)
{
    open_party(&alice, "alice", SIP_TP_UDP, PASSWORD);
    struct raw reg;
    raw_open(&reg, registrar_io);
    reg.grant = 30;
    reg.fail_next = 1;
    reg.other_first = true;
    char uri[64];
    snprintf(uri, sizeof uri, "sip:127.0.0.1:%u", reg.port);
    ck_assert_int_eq(sip_ua_register(alice.ua, uri, 4), 0); /* the retry waits 4/4 s */
    ck_assert(run_until(&alice.reg_events, 1, 3000));
    ck_assert_int_eq(alice.reg_status, 503);
    ck_assert(!sip_ua_registered(alice.ua));
    ck_assert(run_until(&alice.reg_events, 2, 4000));
    ck_assert_int_eq(alice.reg_status, 200);
    ck_assert_int_eq(alice.reg_expires, 30);
    ck_assert(sip_ua_registered(alice.ua));
    ck_assert_int_eq(reg.valid_auth, 2);
    raw_close(&reg);
}
END_TEST

START_TEST(register_wrong_password)
{
    open_party(&alice, "alice", SIP_TP_UDP, "not-the-password");
    struct raw reg;
    raw_open(&reg, registrar_io);
    reg.grant = 60;
    char uri[64];
    snprintf(uri, sizeof uri, "sip:127.0.0.1:%u", reg.port);
    ck_assert_int_eq(sip_ua_register(alice.ua, uri, 60), 0);
    ck_assert(run_until(&alice.reg_events, 1, 3000));
    ck_assert_int_eq(alice.reg_status, 403);
    ck_assert_int_eq(reg.bad_auth, 1);
    ck_assert(!sip_ua_registered(alice.ua));
    raw_close(&reg);
}
END_TEST

/* A UAS that wants proxy credentials (407) on the INVITE, then answers the authorized one with
 * a 200 sent twice (as a UDP answerer resends it), counts the ACKs and answers the BYE. */
static void challenger_io(struct net_loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)fd;
    (void)ev;
    struct raw *r = arg;
    osip_message_t *m;
    char contact[80];
    snprintf(contact, sizeof contact, "<sip:raw@127.0.0.1:%u>", r->port);
    while ((m = raw_read(r)) != NULL) {
        if (MSG_IS_INVITE(m) && raw_repeat(r, m)) {
            /* a copy: the first one is answered */
        } else if (MSG_IS_INVITE(m)) {
            r->invites++;
            osip_proxy_authorization_t *a = NULL;
            osip_message_get_proxy_authorization(m, 0, &a);
            if (!a) {
                r->unauth++;
                raw_reply(r, m, 407, NULL, "Proxy-Authenticate",
                          "Digest realm=\"" REALM "\", nonce=\"inv1\", qop=\"auth\"");
            } else if (digest_ok(a, "INVITE")) {
                r->valid_auth++;
                raw_reply(r, m, 200, contact, NULL, NULL);
                raw_reply(r, m, 200, contact, NULL, NULL);
            } else {
                r->bad_auth++;
                raw_reply(r, m, 403, NULL, NULL, NULL);
            }
        } else if (MSG_IS_ACK(m)) {
            r->oks++; /* ACKs counted here */
        } else if (MSG_IS_BYE(m)) {
            if (!raw_repeat(r, m))
                r->byes++;
            raw_reply(r, m, 200, NULL, NULL, NULL); /* a copy gets the 200 again */
        }
        osip_message_free(m);
    }
}

START_TEST(invite_challenged_and_2xx_resent)
{
    open_party(&alice, "alice", SIP_TP_UDP, PASSWORD);
    struct raw uas;
    raw_open(&uas, challenger_io);
    char target[128];
    snprintf(target, sizeof target, "sip:raw@127.0.0.1:%u", uas.port);
    size_t len = 0;
    const char *sdp = offer(alice.path, "text/plain", &len);
    ck_assert_ptr_nonnull(sip_ua_call(alice.ua, target, sdp, len, NULL));
    ck_assert(run_until(&alice.established, 1, 3000));
    ck_assert_int_eq(uas.unauth, 1);
    ck_assert_int_eq(uas.valid_auth, 1);
    /* One ACK for the 407 (hop by hop, by the transaction), one for the 200 and one more for
     * its copy (end to end, by the call). */
    ck_assert(run_until(&uas.oks, 3, 1000));
    ck_assert_int_eq(sip_call_bye(alice.call), 0);
    ck_assert(run_until(&alice.ended, 1, 3000));
    ck_assert_int_eq(alice.why, SIP_END_LOCAL_BYE);
    ck_assert_int_eq(alice.end_status, 200);
    ck_assert_int_eq(uas.byes, 1);
    ck_assert_int_eq(uas.oks, 3);
    raw_close(&uas);
}
END_TEST

/* ---- stream framing ---------------------------------------------------------------------------- */

/* Reads what the agent sent on fd, running the loop meanwhile; returns bytes (0 at EOF, -1 when
 * nothing came within max_ms). */
static ssize_t read_running(int fd, char *buf, size_t cap, int max_ms)
{
    uint64_t end = net_now_ns() + (uint64_t)max_ms * 1000000ull;
    while (net_now_ns() < end) {
        ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
        if (n >= 0)
            return n;
        ck_assert_int_ge(net_loop_run_once(loop, 5), 0);
    }
    return -1;
}

START_TEST(stream_framing_and_garbage)
{
    open_party(&bob, "bob", SIP_TP_TCP, NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(sip_ua_port(bob.ua)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
    char req[2048], resp[4096];
    size_t len = 0;
    struct sip_req q = {.method = "OPTIONS", .uri = "sip:bob@127.0.0.1", .from = "<sip:t@x>",
                        .from_tag = "ft", .to = "<sip:bob@127.0.0.1>", .call_id = "opt-1",
                        .cseq = 1, .via_transport = "TCP", .via_host = "127.0.0.1",
                        .via_port = 9, .branch = "z9hG4bKopt1", .expires = -1,
                        .content_type = "text/plain", .body = "hello", .body_len = 5};
    ck_assert_int_eq(sip_msg_build_request(&q, req, sizeof req, &len, NULL, 0), 0);
    /* Keep-alive CRLFs, then the message in two pieces, the cut inside the body: nothing may
     * be answered before the body's last byte (Content-Length framing). */
    ck_assert_int_eq(send(fd, "\r\n\r\n", 4, 0), 4);
    ck_assert_int_eq(send(fd, req, len - 2, 0), (ssize_t)(len - 2));
    ck_assert_int_eq(read_running(fd, resp, sizeof resp, 100), -1);
    ck_assert_int_eq(send(fd, req + len - 2, 2, 0), 2);
    ssize_t n = read_running(fd, resp, sizeof resp - 1, 3000);
    ck_assert_int_gt(n, 0);
    resp[n] = '\0';
    ck_assert_msg(strncmp(resp, "SIP/2.0 200", 11) == 0, "got: %.60s", resp);
    ck_assert_ptr_nonnull(strstr(resp, "z9hG4bKopt1"));
    ck_assert_uint_eq(sip_tp_connections(sip_ua_transport(bob.ua)), 1);
    /* Not SIP: the agent closes the stream and says why. */
    static const char garbage[] = "\x01\x02 no sip here\r\n\r\n";
    ck_assert_int_eq(send(fd, garbage, sizeof garbage - 1, 0), (ssize_t)(sizeof garbage - 1));
    ck_assert_int_eq(read_running(fd, resp, sizeof resp, 3000), 0);
    const char *last = NULL;
    ck_assert_uint_ge(sip_ua_transport_errors(bob.ua, &last), 1);
    ck_assert_uint_eq(sip_tp_connections(sip_ua_transport(bob.ua)), 0);
    close(fd);
}
END_TEST

/* A forking proxy's two answers: the INVITE gets a 200 from "fork1" and one from "fork2".
 * Counts ACKs and BYEs per To tag ([0] fork1, [1] fork2). */
struct forker {
    struct raw raw;
    int acks[2], byes[2];
};

static void forker_io(struct net_loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)fd;
    (void)ev;
    struct forker *f = arg;
    osip_message_t *m;
    char contact[80];
    snprintf(contact, sizeof contact, "<sip:raw@127.0.0.1:%u>", f->raw.port);
    while ((m = raw_read(&f->raw)) != NULL) {
        const char *tag = sip_msg_to_tag(m);
        int which = tag && strcmp(tag, "fork2") == 0 ? 1 : 0;
        if (MSG_IS_INVITE(m) && !raw_repeat(&f->raw, m)) {
            raw_reply_tag(&f->raw, m, 200, "fork1", contact, NULL, NULL);
            raw_reply_tag(&f->raw, m, 200, "fork2", contact, NULL, NULL);
        } else if (MSG_IS_ACK(m)) {
            f->acks[which]++;
        } else if (MSG_IS_BYE(m)) {
            if (!raw_repeat(&f->raw, m))
                f->byes[which]++;
            raw_reply_tag(&f->raw, m, 200, NULL, NULL, NULL, NULL);
        }
        osip_message_free(m);
    }
}

START_TEST(forked_second_2xx_ended)
{
    open_party(&alice, "alice", SIP_TP_UDP, NULL);
    struct forker f;
    memset(&f, 0, sizeof f);
    raw_open(&f.raw, forker_io);
    net_loop_forget(loop, f.raw.fd);
    ck_assert_int_eq(net_loop_watch(loop, f.raw.fd, NET_READABLE, forker_io, &f), 0);
    char target[128];
    snprintf(target, sizeof target, "sip:raw@127.0.0.1:%u", f.raw.port);
    size_t len = 0;
    const char *sdp = offer(alice.path, "text/plain", &len);
    ck_assert_ptr_nonnull(sip_ua_call(alice.ua, target, sdp, len, NULL));
    /* The first 200 makes the call; the second is ACKed and ended with a BYE. */
    ck_assert(run_until(&f.byes[1], 1, 3000));
    ck_assert_int_eq(alice.established, 1);
    ck_assert_int_eq(alice.ended, 0);
    ck_assert_int_eq(f.acks[0], 1);
    ck_assert_int_eq(f.acks[1], 1);
    ck_assert_int_eq(f.byes[0], 0);
    ck_assert_int_eq(sip_call_bye(alice.call), 0);
    ck_assert(run_until(&alice.ended, 1, 3000));
    ck_assert_int_eq(alice.why, SIP_END_LOCAL_BYE);
    ck_assert_int_eq(f.byes[0], 1);
    ck_assert_int_eq(f.byes[1], 1);
    uint64_t end = net_now_ns() + 3000ull * 1000000ull;
    while (sip_ua_transactions(alice.ua) && net_now_ns() < end)
        ck_assert_int_ge(net_loop_run_once(loop, 5), 0);
    ck_assert_uint_eq(sip_ua_dialogs(alice.ua), 0);
    raw_close(&f.raw);
}
END_TEST

/* A UAS that answers the INVITE at once and wants credentials (401) on the BYE. */
static void bye_challenger_io(struct net_loop *l, int fd, unsigned ev, void *arg)
{
    (void)l;
    (void)fd;
    (void)ev;
    struct raw *r = arg;
    osip_message_t *m;
    char contact[80];
    snprintf(contact, sizeof contact, "<sip:raw@127.0.0.1:%u>", r->port);
    while ((m = raw_read(r)) != NULL) {
        if (MSG_IS_INVITE(m) && !raw_repeat(r, m)) {
            raw_reply(r, m, 200, contact, NULL, NULL);
        } else if (MSG_IS_BYE(m) && !raw_repeat(r, m)) {
            r->byes++;
            osip_authorization_t *a = NULL;
            osip_message_get_authorization(m, 0, &a);
            if (!a) {
                r->unauth++;
                raw_reply(r, m, 401, NULL, "WWW-Authenticate",
                          "Digest realm=\"" REALM "\", nonce=\"bye1\", qop=\"auth\"");
            } else if (digest_ok(a, "BYE")) {
                r->valid_auth++;
                raw_reply(r, m, 200, NULL, NULL, NULL);
            } else {
                r->bad_auth++;
                raw_reply(r, m, 403, NULL, NULL, NULL);
            }
        }
        osip_message_free(m);
    }
}

START_TEST(bye_challenged)
{
    open_party(&alice, "alice", SIP_TP_UDP, PASSWORD);
    struct raw uas;
    raw_open(&uas, bye_challenger_io);
    char target[128];
    snprintf(target, sizeof target, "sip:raw@127.0.0.1:%u", uas.port);
    size_t len = 0;
    const char *sdp = offer(alice.path, "text/plain", &len);
    ck_assert_ptr_nonnull(sip_ua_call(alice.ua, target, sdp, len, NULL));
    ck_assert(run_until(&alice.established, 1, 3000));
    ck_assert_int_eq(sip_call_bye(alice.call), 0);
    ck_assert(run_until(&alice.ended, 1, 3000));
    /* The BYE went twice: without, then with credentials (a new CSeq), and the 200 ended it. */
    ck_assert_int_eq(uas.byes, 2);
    ck_assert_int_eq(uas.unauth, 1);
    ck_assert_int_eq(uas.valid_auth, 1);
    ck_assert_int_eq(uas.bad_auth, 0);
    ck_assert_int_eq(alice.why, SIP_END_LOCAL_BYE);
    ck_assert_int_eq(alice.end_status, 200);
    raw_close(&uas);
}
END_TEST

Suite *make_sip_ua_suite(void)
{
    Suite *s = suite_create("sip_ua");
    TCase *tc = tcase_create("calls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, calls_both_ways, SIP_TP_UDP, SIP_TP_TLS + 1);
    tcase_add_test(tc, bye_glare);
    tcase_add_test(tc, busy_486);
    tcase_add_test(tc, unacceptable_offer_488);
    tcase_add_loop_test(tc, cancel_before_answer, SIP_TP_UDP, SIP_TP_TCP + 1);
    tcase_add_test(tc, no_answer_timer_b);
    tcase_add_test(tc, missing_ack);
    tcase_add_test(tc, register_digest_refresh);
    tcase_add_test(tc, register_wrong_password);
    tcase_add_test(tc, register_retried_own_binding);
    tcase_add_test(tc, invite_challenged_and_2xx_resent);
    tcase_add_test(tc, stream_framing_and_garbage);
    tcase_add_test(tc, forked_second_2xx_ended);
    tcase_add_test(tc, bye_challenged);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, make_sip_ua_reg_tcase());
    return s;
}
