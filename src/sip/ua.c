/*
 * ua.c - SIP calls of one agent: as caller (INVITE, ACK for 2xx end to end, CANCEL, BYE)
 * and as answerer (100, 1xx, 2xx resent until the ACK, CANCEL -> 487, BYE), and the routing
 * of every received message to the transaction table, the dialog table or a call. The agent
 * itself, registration and digest retries are ua_core.c's.
 *
 * RFC 3261 is not in ../shared/rfc/: every rule below is "RFC 3261 section N, from memory".
 *
 * Lifetimes: a call is referenced by the agent's list (until it ends) and by each transaction
 * working for it (struct ua_req, until the transaction ends); it is freed when the last
 * reference goes. After on_ended a call's transactions still absorb retransmissions but tell
 * the caller nothing more.
 */
#include "sip/ua_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- calls ---------------------------------------------------------------------------------- */

void ua_call_unref(struct sip_call *c)
{
    if (--c->refs > 0)
        return;
    if (c->invite)
        osip_message_free(c->invite);
    free(c->call_id);
    free(c->ok_text);
    free(c->ack_text);
    free(c->peer_sdp);
    free(c);
}

static void on_call_retx(struct net_loop *loop, struct net_timer *tm);
static void on_call_guard(struct net_loop *loop, struct net_timer *tm);

static struct sip_call *call_new(struct sip_ua *ua, bool outgoing, void *user)
{
    struct sip_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ua = ua;
    c->refs = 1; /* the agent's list */
    c->outgoing = outgoing;
    c->user = user;
    c->retx.fn = on_call_retx;
    c->retx.arg = c;
    c->guard.fn = on_call_guard;
    c->guard.arg = c;
    ua_new_ident(ua, c->local_tag, sizeof c->local_tag);
    c->next = ua->calls;
    if (ua->calls)
        ua->calls->prev = c;
    ua->calls = c;
    ua->ncalls++;
    return c;
}

void ua_call_end(struct sip_call *c, enum sip_call_end why, int status, const char *reason)
{
    if (c->ended)
        return;
    struct sip_ua *ua = c->ua;
    c->ended = true;
    net_timer_stop(ua->loop, &c->retx);
    net_timer_stop(ua->loop, &c->guard);
    if (c->dialog) {
        sip_dialog_remove(ua->dialogs, c->dialog);
        c->dialog = NULL;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        ua->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ua->ncalls--;
    if (ua->cfg.cb.on_ended)
        ua->cfg.cb.on_ended(ua->cfg.ctx, c, why, status, reason ? reason : "");
    ua_call_unref(c);
}

/* Once confirmed, a call keeps only what its dialog and BYE need: the INVITE, the 2xx text and
 * the peer's SDP (handed over in on_established) go, so 100,000 live calls cost little more
 * than their dialogs. */
static void settle(struct sip_call *c)
{
    if (c->ended || c->st != CS_CONFIRMED)
        return;
    if (c->invite) {
        osip_message_free(c->invite);
        c->invite = NULL;
    }
    free(c->ok_text);
    c->ok_text = NULL;
    free(c->peer_sdp);
    c->peer_sdp = NULL;
    c->peer_sdp_len = 0;
}

static void keep_peer_sdp(struct sip_call *c, const osip_message_t *m)
{
    size_t n = 0;
    const char *b = sip_msg_body(m, &n);
    free(c->peer_sdp);
    c->peer_sdp = NULL;
    c->peer_sdp_len = 0;
    if (b && n && (c->peer_sdp = malloc(n + 1)) != NULL) {
        memcpy(c->peer_sdp, b, n);
        c->peer_sdp[n] = '\0';
        c->peer_sdp_len = n;
    }
}

/* ---- the caller's side ---------------------------------------------------------------------- */

struct sip_call *sip_ua_call(struct sip_ua *ua, const char *target, const char *sdp,
                             size_t sdp_len, void *user)
{
    struct sip_addr dest;
    if (!target || (ua->has_proxy ? (dest = ua->proxy_addr, 0) : sip_addr_from_uri(&dest, target))) {
        errno = EINVAL;
        return NULL;
    }
    struct sip_call *c = call_new(ua, true, user);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    c->dest = dest;
    c->st = CS_CALLING;
    char call_id[40], branch[40], to[300];
    ua_new_ident(ua, call_id, sizeof call_id);
    c->call_id = strdup(call_id);
    ua_new_branch(ua, branch, sizeof branch);
    snprintf(to, sizeof to, "<%s>", target);
    const char *routes[1] = {ua->proxy_route};
    struct sip_req q = {
        .method = "INVITE", .uri = target, .from = ua->aor, .from_tag = c->local_tag, .to = to,
        .call_id = call_id, .cseq = 1, .via_transport = sip_tp_kind_name(sip_tp_kind(ua->tp)),
        .via_host = sip_tp_host(ua->tp), .via_port = sip_tp_port(ua->tp), .branch = branch,
        .contact = ua->contact, .routes = routes, .route_count = ua->has_proxy ? 1 : 0,
        .expires = -1, .content_type = sdp ? "application/sdp" : NULL, .body = sdp,
        .body_len = sdp ? sdp_len : 0,
    };
    struct mbuf b;
    int err = ua_mbuf_init(&b, q.body_len);
    if (!err)
        err = sip_msg_build_request(&q, b.p, b.cap, &b.len, NULL, 0);
    if (!c->call_id)
        err = ENOMEM;
    if (!err && !(c->invite = sip_msg_parse(b.p, b.len, NULL, 0)))
        err = EINVAL;
    if (!err && !(c->inv_txn = ua_start_client(ua, RQ_INVITE, c, &dest, branch, "INVITE", b.p,
                                            b.len, 0)))
        err = errno ? errno : ENOMEM;
    free(b.p);
    if (err) {
        /* Taken back quietly: the caller never saw this call. */
        c->ended = true;
        if (c->prev)
            c->prev->next = c->next;
        else
            ua->calls = c->next;
        if (c->next)
            c->next->prev = c->prev;
        ua->ncalls--;
        ua_call_unref(c);
        errno = err;
        return NULL;
    }
    return c;
}

static void send_cancel(struct sip_call *c)
{
    struct sip_ua *ua = c->ua;
    char buf[4096];
    size_t len = 0;
    c->cancel_sent = true;
    const char *branch = sip_msg_branch(c->invite);
    if (!branch || sip_msg_build_cancel_or_ack(c->invite, "CANCEL", NULL, buf, sizeof buf, &len,
                                               NULL, 0) != 0 ||
        !ua_start_client(ua, RQ_CANCEL, c, &c->dest, branch, "CANCEL", buf, len, 0)) {
        ua_call_end(c, SIP_END_ERROR, 500, "could not send CANCEL");
        return;
    }
    /* The INVITE's final response (487) should follow; if none comes within 64*T1 the call
     * is given up (RFC 3261 section 9.1, from memory). */
    net_timer_start(ua->loop, &c->guard, 64 * ua_t1(ua));
}

int sip_call_cancel(struct sip_call *c)
{
    if (!c->outgoing || c->ended || (c->st != CS_CALLING && c->st != CS_PROCEEDING))
        return EINVAL;
    if (c->cancel_wanted)
        return 0;
    c->cancel_wanted = true;
    /* A CANCEL SHOULD NOT be sent before a provisional response came (RFC 3261 section 9.1,
     * from memory): it waits for the first 1xx. */
    if (c->got_1xx)
        send_cancel(c);
    return 0;
}

/* The ACK for a 2xx: a new request in the dialog, the INVITE's CSeq number, a new branch
 * (RFC 3261 section 13.2.2.4, from memory); kept to answer the 2xx's retransmissions. */
static int send_ack_2xx(struct sip_call *c)
{
    struct sip_ua *ua = c->ua;
    char branch[40], hop[512];
    ua_new_branch(ua, branch, sizeof branch);
    struct sip_dialog_via v = ua_our_via(ua, branch);
    v.contact = NULL;
    char buf[4096];
    size_t len = 0;
    int r = sip_dialog_build_request(c->dialog, "ACK", sip_msg_cseq(c->invite), &v, NULL, NULL,
                                     0, buf, sizeof buf, &len, NULL, 0);
    if (!r)
        r = sip_dialog_next_hop(c->dialog, hop, sizeof hop);
    if (!r)
        r = sip_addr_from_uri(&c->ack_dest, hop);
    if (!r && !(c->ack_text = malloc(len)))
        r = ENOMEM;
    if (r)
        return r;
    memcpy(c->ack_text, buf, len);
    c->ack_len = len;
    return sip_tp_send(ua->tp, &c->ack_dest, c->ack_text, c->ack_len);
}

static void invite_response(struct sip_call *c, const osip_message_t *resp)
{
    struct sip_ua *ua = c->ua;
    int code = resp->status_code;
    if (c->ended || (c->st != CS_CALLING && c->st != CS_PROCEEDING))
        return;
    if (code < 200) {
        c->got_1xx = true;
        c->st = CS_PROCEEDING;
        if (c->cancel_wanted && !c->cancel_sent)
            send_cancel(c);
        if (!c->ended && ua->cfg.cb.on_progress)
            ua->cfg.cb.on_progress(ua->cfg.ctx, c, code);
        return;
    }
    net_timer_stop(ua->loop, &c->guard);
    if (code >= 300) {
        ua_call_end(c, code == 487 ? SIP_END_CANCELLED : SIP_END_REJECTED, code,
                 resp->reason_phrase);
        return;
    }
    c->dialog = sip_dialog_create_uac(ua->dialogs, c->invite, resp);
    if (!c->dialog) {
        ua_call_end(c, SIP_END_ERROR, 500, "2xx unusable for a dialog (no To tag or Contact)");
        return;
    }
    c->dialog->user = c;
    if (send_ack_2xx(c) != 0) {
        ua_call_end(c, SIP_END_ERROR, 503, "could not send the ACK");
        return;
    }
    c->st = CS_CONFIRMED;
    keep_peer_sdp(c, resp);
    if (ua->cfg.cb.on_established)
        ua->cfg.cb.on_established(ua->cfg.ctx, c, c->peer_sdp, c->peer_sdp_len);
    /* Answered while our CANCEL was on its way (the race RFC 3261 section 9.1 describes, from
     * memory): the call the caller no longer wants is ended with a BYE (section 15). */
    if (!c->ended && c->cancel_wanted)
        sip_call_bye(c);
    settle(c);
}

void ua_io_response(void *ctx, struct sip_txn *t, const osip_message_t *resp)
{
    struct sip_ua *ua = ctx;
    struct ua_req *r = sip_txn_user(t);
    if (!r)
        return;
    int code = resp->status_code;
    if ((code == 401 || code == 407) && ua_retry_with_auth(ua, r, resp))
        return;
    switch (r->kind) {
    case RQ_REGISTER:
        ua_reg_response(ua, resp);
        break;
    case RQ_INVITE:
        if (r->call->inv_txn == t)
            invite_response(r->call, resp);
        break;
    case RQ_BYE:
        if (code >= 200 && r->call)
            ua_call_end(r->call, SIP_END_LOCAL_BYE, code, resp->reason_phrase);
        break;
    case RQ_CANCEL:
    case RQ_SERVER:
        break; /* a CANCEL's own answer says nothing of the call: the INVITE's 487 does */
    }
}

void ua_io_timeout(void *ctx, struct sip_txn *t)
{
    struct sip_ua *ua = ctx;
    struct ua_req *r = sip_txn_user(t);
    if (!r)
        return;
    /* 503: its connection failed (sip_txn_client_fail), the reason is the transport's */
    bool tp = sip_txn_last_code(t) == 503;
    switch (r->kind) {
    case RQ_REGISTER:
        ua_reg_failed(ua, tp ? 503 : 408);
        break;
    case RQ_INVITE:
        if (r->call->inv_txn == t)
            ua_call_end(r->call, tp ? SIP_END_ERROR : SIP_END_TIMEOUT, tp ? 503 : 408,
                        tp ? ua->tp_last_error : "no final response (Timer B)");
        break;
    case RQ_BYE:
        if (r->call)
            ua_call_end(r->call, SIP_END_LOCAL_BYE, tp ? 503 : 408,
                        tp ? ua->tp_last_error : "no response to BYE (Timer F)");
        break;
    case RQ_CANCEL:
    case RQ_SERVER:
        break; /* Timer H of a failure with no ACK: the call ended when it was rejected */
    }
}

/* ---- both sides ----------------------------------------------------------------------------- */

static int send_bye(struct sip_call *c)
{
    struct sip_ua *ua = c->ua;
    char branch[40], hop[512], buf[4096];
    size_t len = 0;
    struct sip_addr dest;
    ua_new_branch(ua, branch, sizeof branch);
    struct sip_dialog_via v = ua_our_via(ua, branch);
    int r = sip_dialog_build_request(c->dialog, "BYE", 0, &v, NULL, NULL, 0, buf, sizeof buf,
                                     &len, NULL, 0);
    if (!r)
        r = sip_dialog_next_hop(c->dialog, hop, sizeof hop);
    if (!r)
        r = sip_addr_from_uri(&dest, hop);
    if (!r && !ua_start_client(ua, RQ_BYE, c, &dest, branch, "BYE", buf, len, 0))
        r = errno ? errno : ENOMEM;
    if (r) {
        ua_call_end(c, SIP_END_ERROR, 500, "could not send BYE");
        return r;
    }
    /* The dialog stays until the BYE's answer (ua_call_end removes it): a BYE of the peer's
     * that crosses ours must still find it and get 200, not 481 (incoming_bye). */
    net_timer_stop(ua->loop, &c->retx);
    net_timer_stop(ua->loop, &c->guard);
    c->st = CS_BYE_SENT;
    return 0;
}

int sip_call_bye(struct sip_call *c)
{
    if (c->ended || !c->dialog || c->bye_wanted || (c->st != CS_CONFIRMED && c->st != CS_WAIT_ACK))
        return EINVAL;
    if (c->st == CS_WAIT_ACK) {
        /* RFC 3261 section 15 (from memory): the callee MUST NOT send BYE on a confirmed
         * dialog before the ACK for its 2xx came or the server transaction timed out; the ACK
         * (incoming_ack_2xx) or the 64*T1 guard (on_call_guard) sends it. */
        c->bye_wanted = true;
        return 0;
    }
    return send_bye(c);
}

/* ---- the answering side --------------------------------------------------------------------- */

/* Builds and sends a response through server transaction t. */
static int respond(struct sip_ua *ua, struct sip_txn *t, const osip_message_t *req, int code,
                   const char *to_tag, const char *sdp, size_t sdp_len, const char *xname,
                   const char *xvalue, char **keep, size_t *keep_len)
{
    struct sip_resp p = {
        .code = code, .to_tag = to_tag,
        .contact = (code > 100 && code < 300 && MSG_IS_INVITE(req)) ? ua->contact : NULL,
        .content_type = sdp ? "application/sdp" : NULL, .body = sdp, .body_len = sdp ? sdp_len : 0,
        .extra_name = xname, .extra_value = xvalue,
    };
    struct mbuf b;
    int r = ua_mbuf_init(&b, p.body_len);
    if (!r)
        r = sip_msg_build_response(req, &p, b.p, b.cap, &b.len, NULL, 0);
    if (r) {
        free(b.p);
        return r;
    }
    sip_txn_server_respond(ua->txns, t, code, b.p, b.len);
    if (keep) {
        *keep = b.p;
        *keep_len = b.len;
    } else {
        free(b.p);
    }
    return 0;
}

/* The 2xx again until the ACK: T1, doubling, capped at T2, over UDP only (RFC 3261 section
 * 13.3.1.4, from memory); on_call_guard gives up at 64*T1 on every transport. */
static void on_call_retx(struct net_loop *loop, struct net_timer *tm)
{
    (void)loop;
    struct sip_call *c = tm->arg;
    struct sip_ua *ua = c->ua;
    if (c->st != CS_WAIT_ACK || !c->ok_text)
        return;
    sip_tp_send(ua->tp, &c->dest, c->ok_text, c->ok_len);
    c->retx_interval *= 2;
    if (c->retx_interval > ua_t2(ua))
        c->retx_interval = ua_t2(ua);
    c->retx_at += c->retx_interval;
    uint64_t now = net_now_ns();
    net_timer_start(ua->loop, &c->retx, c->retx_at > now ? c->retx_at - now : 0);
}

static void on_call_guard(struct net_loop *loop, struct net_timer *tm)
{
    (void)loop;
    struct sip_call *c = tm->arg;
    if (c->ended)
        return;
    if (c->st == CS_WAIT_ACK) {
        /* No ACK for our 2xx within 64*T1: the dialog is ended with a BYE (RFC 3261 section
         * 13.3.1.4, from memory). The BYE's own answer is not waited for. */
        c->refs++;
        send_bye(c);
        ua_call_end(c, SIP_END_NO_ACK, 408, "no ACK for the 2xx within 64*T1");
        ua_call_unref(c);
        return;
    }
    ua_call_end(c, SIP_END_TIMEOUT, 408, "no final response within 64*T1 after CANCEL");
}

int sip_call_answer(struct sip_call *c, int status, const char *sdp, size_t sdp_len)
{
    struct sip_ua *ua = c->ua;
    if (c->outgoing || c->ended || c->st != CS_INCOMING || !c->inv_txn || status < 101 ||
        status > 699)
        return EINVAL;
    if (status >= 300)
        return sip_call_reject(c, status);
    if (status < 200)
        return respond(ua, c->inv_txn, c->invite, status, c->local_tag, NULL, 0, NULL, NULL,
                       NULL, NULL);
    c->dialog = sip_dialog_create_uas(ua->dialogs, c->invite, c->local_tag);
    if (!c->dialog) {
        respond(ua, c->inv_txn, c->invite, 500, c->local_tag, NULL, 0, NULL, NULL, NULL, NULL);
        ua_call_end(c, SIP_END_ERROR, 500, "INVITE unusable for a dialog (no From tag or Contact)");
        return EINVAL;
    }
    c->dialog->user = c;
    /* The transaction ends with the 2xx; from here the call resends it itself. */
    int r = respond(ua, c->inv_txn, c->invite, status, c->local_tag, sdp, sdp_len, NULL, NULL,
                    &c->ok_text, &c->ok_len);
    if (r) {
        ua_call_end(c, SIP_END_ERROR, 500, "could not build the 2xx");
        return r;
    }
    c->st = CS_WAIT_ACK;
    if (!sip_tp_reliable(ua->tp)) {
        c->retx_interval = ua_t1(ua);
        c->retx_at = net_now_ns() + c->retx_interval;
        net_timer_start(ua->loop, &c->retx, c->retx_interval);
    }
    net_timer_start(ua->loop, &c->guard, 64 * ua_t1(ua));
    return 0;
}

int sip_call_reject(struct sip_call *c, int status)
{
    if (c->outgoing || c->ended || c->st != CS_INCOMING || !c->inv_txn || status < 300 ||
        status > 699)
        return EINVAL;
    int r = respond(c->ua, c->inv_txn, c->invite, status, c->local_tag, NULL, 0, NULL, NULL,
                    NULL, NULL);
    ua_call_end(c, SIP_END_REJECTED, status, "rejected here");
    return r;
}

#define UA_ALLOW "INVITE, ACK, CANCEL, BYE, OPTIONS"

static void incoming_invite(struct sip_ua *ua, struct sip_txn *t, struct ua_req *r,
                            osip_message_t **mp)
{
    osip_message_t *m = *mp;
    if (sip_msg_to_tag(m)) {
        /* A re-INVITE: sessions are not changed mid-call here. */
        respond(ua, t, m, 501, NULL, NULL, 0, "Allow", UA_ALLOW, NULL, NULL);
        return;
    }
    struct sip_call *c = call_new(ua, false, NULL);
    if (!c) {
        respond(ua, t, m, 500, NULL, NULL, 0, NULL, NULL, NULL, NULL);
        return;
    }
    c->st = CS_INCOMING;
    char *cid = NULL;
    if (m->call_id && osip_call_id_to_str(m->call_id, &cid) == 0 && cid) {
        c->call_id = strdup(cid);
        osip_free(cid);
    }
    c->invite = m;
    *mp = NULL; /* the call keeps the INVITE */
    c->dest = r->dest;
    c->inv_txn = t;
    r->call = c;
    c->refs++;
    /* 100 at once, so a UDP caller stops resending while the application decides (RFC 3261
     * section 17.2.1, from memory: the server transaction sends 100 Trying unless the TU
     * answers within 200 ms; here the TU's answer may take longer, so always). */
    respond(ua, t, m, 100, NULL, NULL, 0, NULL, NULL, NULL, NULL);
    if (!ua->cfg.cb.on_incoming) {
        sip_call_reject(c, 480);
        return;
    }
    size_t n = 0;
    const char *sdp = sip_msg_body(m, &n);
    keep_peer_sdp(c, m);
    ua->cfg.cb.on_incoming(ua->cfg.ctx, c, sdp, sdp ? n : 0);
}

static void incoming_cancel(struct sip_ua *ua, struct sip_txn *t, const osip_message_t *m)
{
    /* The CANCEL's transaction has the INVITE's branch (RFC 3261 section 9.2, from memory). */
    struct sip_txn *inv = sip_txn_server_find(ua->txns, sip_msg_branch(m), "INVITE");
    if (!inv) {
        respond(ua, t, m, 481, NULL, NULL, 0, NULL, NULL, NULL, NULL);
        return;
    }
    respond(ua, t, m, 200, NULL, NULL, 0, NULL, NULL, NULL, NULL);
    struct ua_req *ir = sip_txn_user(inv);
    struct sip_call *c = ir ? ir->call : NULL;
    if (c && !c->ended && c->st == CS_INCOMING && sip_txn_state(inv) == SIP_TXN_PROCEEDING) {
        respond(ua, inv, c->invite, 487, c->local_tag, NULL, 0, NULL, NULL, NULL, NULL);
        ua_call_end(c, SIP_END_CANCELLED, 487, "cancelled by the caller");
    }
}

static void incoming_bye(struct sip_ua *ua, struct sip_txn *t, const osip_message_t *m)
{
    struct sip_dialog *d = sip_dialog_find_request(ua->dialogs, m);
    if (!d) {
        /* RFC 3261 section 15.1.2 (from memory): no such dialog -> 481. */
        respond(ua, t, m, 481, NULL, NULL, 0, NULL, NULL, NULL, NULL);
        return;
    }
    if (!d->user) {
        /* A dialog we are ending ourselves (unwanted_2xx): agreed, our BYE ends it. */
        respond(ua, t, m, 200, NULL, NULL, 0, NULL, NULL, NULL, NULL);
        return;
    }
    if (!sip_dialog_check_remote_cseq(d, sip_msg_cseq(m))) {
        respond(ua, t, m, 500, NULL, NULL, 0, NULL, NULL, NULL, NULL);
        return;
    }
    respond(ua, t, m, 200, NULL, NULL, 0, NULL, NULL, NULL, NULL);
    /* Both sides hung up at once: the call ends with the answer to our own BYE. */
    if (((struct sip_call *)d->user)->st == CS_BYE_SENT)
        return;
    ua_call_end(d->user, SIP_END_REMOTE_BYE, 200, "BYE from the peer");
}

/* An ACK that belongs to no server transaction: the ACK for a 2xx, the dialog's business
 * (RFC 3261 section 13.3.1.4, from memory). One for no dialog is dropped. */
static void incoming_ack_2xx(struct sip_ua *ua, const osip_message_t *m)
{
    struct sip_dialog *d = sip_dialog_find_request(ua->dialogs, m);
    struct sip_call *c = d ? d->user : NULL;
    if (!c || c->st != CS_WAIT_ACK)
        return;
    net_timer_stop(ua->loop, &c->retx);
    net_timer_stop(ua->loop, &c->guard);
    c->st = CS_CONFIRMED;
    if (c->bye_wanted) {
        /* The owner hung up while the ACK was awaited: now the BYE may go (sip_call_bye). */
        c->refs++;
        send_bye(c);
        settle(c);
        ua_call_unref(c);
        return;
    }
    c->refs++; /* the callback may end the call */
    if (ua->cfg.cb.on_established)
        ua->cfg.cb.on_established(ua->cfg.ctx, c, c->peer_sdp, c->peer_sdp_len);
    settle(c);
    ua_call_unref(c);
}

static void handle_request(struct sip_ua *ua, osip_message_t **mp, const struct sip_addr *from)
{
    osip_message_t *m = *mp;
    bool is_new = false;
    if (MSG_IS_ACK(m)) {
        if (!sip_txn_server_request(ua->txns, m, &is_new))
            incoming_ack_2xx(ua, m);
        return;
    }
    struct sip_txn *t = sip_txn_server_request(ua->txns, m, &is_new);
    if (!t || !is_new)
        return; /* a retransmission (answered by the transaction), or out of memory */
    struct ua_req *r = ua_req_new(ua, RQ_SERVER, NULL, from);
    if (!r) {
        sip_txn_server_respond(ua->txns, t, 500, "", 0);
        return;
    }
    sip_txn_set_user(t, r);
    if (MSG_IS_INVITE(m))
        incoming_invite(ua, t, r, mp);
    else if (MSG_IS_CANCEL(m))
        incoming_cancel(ua, t, m);
    else if (MSG_IS_BYE(m))
        incoming_bye(ua, t, m);
    else if (MSG_IS_OPTIONS(m))
        respond(ua, t, m, 200, NULL, NULL, 0, "Allow", UA_ALLOW, NULL, NULL);
    else /* RFC 3261 section 8.2.1 (from memory): 405 carries Allow. */
        respond(ua, t, m, 405, NULL, NULL, 0, "Allow", UA_ALLOW, NULL, NULL);
}

/* The ACK for a 2xx in dialog d (cseq the INVITE's), built afresh. */
static void send_dialog_ack(struct sip_ua *ua, struct sip_dialog *d, uint32_t cseq)
{
    char branch[40], hop[512], buf[4096];
    size_t len = 0;
    struct sip_addr dest;
    ua_new_branch(ua, branch, sizeof branch);
    struct sip_dialog_via v = ua_our_via(ua, branch);
    v.contact = NULL;
    if (sip_dialog_build_request(d, "ACK", cseq, &v, NULL, NULL, 0, buf, sizeof buf, &len, NULL,
                                 0) == 0 &&
        sip_dialog_next_hop(d, hop, sizeof hop) == 0 && sip_addr_from_uri(&dest, hop) == 0)
        sip_tp_send(ua->tp, &dest, buf, len);
}

/*
 * A 2xx to an INVITE of ours that no call wants: from a second branch of a forked INVITE, or
 * after the call gave up. It is acknowledged and the dialog it made ended with a BYE at once
 * (RFC 3261 section 13.2.2.4, from memory); the dialog stays, without a call, until the BYE's
 * transaction ends, so copies of the 2xx only get the ACK again.
 */
static void unwanted_2xx(struct sip_ua *ua, const osip_message_t *m)
{
    if (!m->from || !m->from->url || !m->from->url->username ||
        strcmp(m->from->url->username, ua->user) != 0)
        return; /* not from one of our INVITEs */
    /* The response carries the INVITE's From, To, Call-ID and CSeq: enough for the dialog. */
    struct sip_dialog *d = sip_dialog_create_uac(ua->dialogs, m, m);
    if (!d)
        return;
    send_dialog_ack(ua, d, sip_msg_cseq(m));
    char branch[40], hop[512], buf[4096];
    size_t len = 0;
    struct sip_addr dest;
    ua_new_branch(ua, branch, sizeof branch);
    struct sip_dialog_via v = ua_our_via(ua, branch);
    struct sip_txn *t = NULL;
    if (sip_dialog_build_request(d, "BYE", 0, &v, NULL, NULL, 0, buf, sizeof buf, &len, NULL,
                                 0) == 0 &&
        sip_dialog_next_hop(d, hop, sizeof hop) == 0 && sip_addr_from_uri(&dest, hop) == 0)
        t = ua_start_client(ua, RQ_BYE, NULL, &dest, branch, "BYE", buf, len, 0);
    struct ua_req *r = t ? sip_txn_user(t) : NULL;
    if (r)
        r->orphan = d;
    else
        sip_dialog_remove(ua->dialogs, d);
}

/* A response no transaction took. A 2xx to our INVITE resent by the answerer gets our ACK
 * again (RFC 3261 section 13.2.2.4, from memory); one no call wants is ACKed and ended;
 * anything else is dropped. */
static void stray_response(struct sip_ua *ua, const osip_message_t *m)
{
    const char *method = sip_msg_cseq_method(m);
    if (m->status_code < 200 || m->status_code >= 300 || !method || strcmp(method, "INVITE"))
        return;
    struct sip_dialog *d = sip_dialog_find_response(ua->dialogs, m);
    struct sip_call *c = d ? d->user : NULL;
    if (c && c->outgoing && c->ack_text)
        sip_tp_send(ua->tp, &c->ack_dest, c->ack_text, c->ack_len);
    else if (d && !c)
        send_dialog_ack(ua, d, sip_msg_cseq(m)); /* a copy for a dialog we are ending */
    else if (!d)
        unwanted_2xx(ua, m);
}

void ua_on_message(void *ctx, osip_message_t *m, const struct sip_addr *from)
{
    struct sip_ua *ua = ctx;
    if (ua->destroying) {
        osip_message_free(m);
        return;
    }
    if (MSG_IS_RESPONSE(m)) {
        if (!sip_txn_client_response(ua->txns, m))
            stray_response(ua, m);
    } else {
        handle_request(ua, &m, from);
    }
    if (m)
        osip_message_free(m);
}

