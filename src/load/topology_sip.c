/*
 * topology_sip.c - the sip topology of `msrpload run` (topology.h): every MSRP session is set
 * up by SIP through a real proxy. Each worker owns SIP user agents (src/sip/ua.h) on its loop:
 * for each SIP user it plays, an answering agent that REGISTERs through the proxy at set-up,
 * and a calling agent; each agent carries many calls at once. A session: the calling agent
 * INVITEs another of the worker's users (or --sip-target) with an MSRP offer (sdp_msrp.c,
 * a=path: the calling end on the worker's listener address); the answering agent's
 * on_incoming expects the answering end on the worker's msrp_server (as topology_embedded.c
 * does) and answers 200 with its path; on the 2xx the caller opens the MSRP session as the
 * exchange settled (we offer without a=setup, so the offerer connects: RFC 4975 section 5.4,
 * MUST, "the initiating endpoint MUST act as the 'active' endpoint", and section 8.5, no
 * keyword, "The party that sent the original offer is responsible for connecting to its
 * peer"; read through sdp_msrp.c) and the runner's steps run; the session's end sends BYE.
 *
 * A session that fails before it has an MSRP session (REGISTER or INVITE refused, no answer,
 * an unusable SDP) ends its slot as connect-failed, its failure example naming the SIP status.
 * The per-phase times (REGISTER, INVITE to 1xx and 2xx, 2xx to MSRP bind, BYE) and the
 * INVITEs' final statuses go to run_stats (stats.h LAT_SIP_*, run_stats.sip).
 *
 * At the worker's end (fini) the answering agents unREGISTER and the loop runs on for at most
 * SIP_END_WAIT_NS, so that those and the last BYEs get their answers.
 *
 * Through a relay (run --relay, topology.relay) both ends AUTH first and the sessions run
 * through it: topology_sip_relay.c, which this file calls at a few points (ss->rp set).
 * Over SIP TLS (a sips: or ;transport=tls proxy) every agent's transport is TLS: to the proxy
 * with run's client context (the proxy's host is the name its certificate must carry when it
 * is verified), and a listener with a certificate made for the run for what the proxy opens.
 *
 * Owns: the worker's agents and their users, the calls and their per-session state (which
 * outlives its slot until both calls have ended), the listener of the answering ends.
 * May not touch: the steps, the counting of messages, slots and the clock (the runner core);
 * it reaches them only through the functions topology.h lists.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "load/topology_sip_int.h"
#include "net/conn.h"

/* ---- a session's life ----------------------------------------------------------------------- */

static void sess_put(struct sip_sess *ss)
{
    if (ss->ls != NULL || ss->out != NULL || ss->in != NULL || ss->waiting || ss->held)
        return;
    net_timer_stop(ss->w->loop, &ss->defer);
    net_timer_stop(ss->w->loop, &ss->hangup);
    free(ss->peer_path);
    free(ss->offer_path);
    free(ss);
}

static void sess_unfile(struct sip_sess *ss)
{
    struct sip_state *st = ss->w->topo_state;
    if (ss->filed && st != NULL)
        pending_take(&st->calls, ss->key, strlen(ss->key));
    ss->filed = false;
}

static void sess_unwait(struct sip_sess *ss)
{
    if (!ss->waiting)
        return;
    for (struct sip_sess **p = &ss->to->waiting; *p != NULL; p = &(*p)->wait_next)
        if (*p == ss) {
            *p = ss->wait_next;
            break;
        }
    ss->waiting = false;
}

/* The slot lets go: its answering end is no longer expected unless it bound. */
static void sess_detach(struct sip_sess *ss)
{
    struct lsession *ls = ss->ls;
    struct sip_state *st = ss->w->topo_state;
    sess_unfile(ss);
    sess_unwait(ss);
    if (ss->expected && (ls == NULL || !ls->bound) && st != NULL && st->srv != NULL)
        msrp_server_forget(st->srv, ss->expect_uri);
    ss->expected = false;
    if (ss->rp != NULL) { /* AUTHs still going end; adopted sessions live on in the pair */
        relay_pair_stop(ss->rp);
        relay_pair_release(ss->rp);
        ss->rp = NULL;
    }
    if (ls != NULL)
        ls->topo = NULL;
    ss->ls = NULL;
    sess_put(ss);
}

void sip_sess_note(struct sip_sess *ss, const char *fmt, ...)
{
    if (ss->why[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ss->why, sizeof(ss->why), fmt, ap);
    va_end(ap);
}

/* Ends a slot that never got its MSRP session: failed (SIP refused it), or cut off by the end
 * of the run (neither completed nor failed). */
static void sess_slot_end(struct sip_sess *ss, bool failed)
{
    struct lsession *ls = ss->ls;
    if (ls == NULL)
        return;
    struct worker *w = ss->w;
    uint64_t now = net_now_ns();
    const char *peer = ss->target;
    if (failed) {
        w->stats.sessions_failed++;
        w->stats.session_ends[ss->fail_kind]++;
        char what[420];
        snprintf(what, sizeof(what), "session %.96s: %.300s", ls->local_uri,
                 ss->why[0] ? ss->why : "SIP set-up failed");
        note_error(w, what);
        failure_note(w->failures, ss->fail_kind, now, ls->local_uri, peer,
                     ss->why[0] ? ss->why : "SIP set-up failed",
                     ss->rp != NULL ? ss->rp->auth_trace : NULL);
    } else {
        w->stats.sessions_unfinished++;
        w->stats.session_ends[MSRP_END_CLOSED]++;
        char what[400];
        if (ss->waiting)
            snprintf(what, sizeof(what), "session %s: waiting for the REGISTER of the called "
                     "user %.100s (no final answer) when the run ended", ls->local_uri,
                     ss->to->user);
        else if (ss->rp != NULL && ss->out == NULL)
            snprintf(what, sizeof(what), "session %s: still authenticating with the relay "
                     "%.100s when the run ended", ls->local_uri, w->sc->relay.uri);
        else
            snprintf(what, sizeof(what), "session %s: still being set up by SIP (INVITE "
                     "%.200s) when the run ended", ls->local_uri, ss->target);
        note_error(w, what);
        failure_note(w->failures, FAILURE_UNBOUND_AT_END, now, ls->local_uri, peer,
                     ss->waiting ? "no answer to the called user's REGISTER by the end of the run"
                     : ss->rp != NULL && ss->out == NULL
                         ? "no answer to AUTH by the end of the run"
                         : "no answer to its INVITE by the end of the run",
                     NULL);
    }
    w->stats.session_endings[STATS_ENDINGS - 1]++; /* not by a lifetime */
    struct stats_second *sec = second(w, now);
    if (sec != NULL) {
        sec->sessions_ended++;
        sec->sessions_failed += failed;
    }
    sess_detach(ss);
    runner_slot_ended(ls);
}

static void defer_fired(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    sess_slot_end(t->arg, true);
}

/* The peer's BYE ended the call: its MSRP session closes, from the loop (as sip_sess_fail). */
static void hangup_fired(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct sip_sess *ss = t->arg;
    if (ss->ls != NULL && ss->ls->s != NULL)
        msrp_session_close(ss->ls->s);
}

/* Fails the slot from the loop, not from inside an agent's callback (the next session starts
 * from runner_slot_ended, and its INVITE would go out from the agent's own code). */
void sip_sess_fail(struct sip_sess *ss)
{
    if (ss->ls == NULL || ss->failed_slot)
        return;
    ss->failed_slot = true;
    net_timer_start(ss->w->loop, &ss->defer, 0);
}

/* ---- the calling side ------------------------------------------------------------------------ */

static void sess_invite(struct sip_sess *ss)
{
    struct sip_state *st = ss->w->topo_state;
    char offer[SIP_OFFER_MAX], why[200] = "";
    size_t len = 0;
    int e = sip_sdp_msrp_offer(&ss->local, offer, sizeof(offer), &len, why, sizeof(why));
    if (e != 0) {
        sip_sess_note(ss, "cannot make the SDP offer for %.200s (%d): %.60s", ss->target, e, why);
        sip_sess_fail(ss);
        return;
    }
    ss->invite_ns = net_now_ns();
    ss->out = sip_ua_call(ss->from->caller, ss->target, offer, len, ss);
    if (ss->out == NULL) {
        sip_sess_note(ss, "cannot send the INVITE to %.200s (errno %d)%s", ss->target, errno, "");
        sip_sess_fail(ss);
        return;
    }
    ss->w->stats.sip.calls++;
    if (ss->local.cema)
        ss->w->stats.sip.offer_sent_cema++; /* through a relay: the offer left with a=msrp-cema */
    /* The answering agent finds the session again by the Call-ID the proxy passes on. */
    snprintf(ss->key, sizeof(ss->key), "%.*s", PENDING_ID_MAX, sip_call_id(ss->out));
    if (ss->to != NULL && pending_put(&st->calls, ss->key, strlen(ss->key), ss) == 0)
        ss->filed = true;
}

static void caller_progress(void *ctx, struct sip_call *call, int status)
{
    (void)ctx;
    (void)status;
    struct sip_sess *ss = sip_call_user(call);
    if (ss == NULL || ss->got_1xx)
        return;
    ss->got_1xx = true;
    uint64_t now = net_now_ns();
    if (counting(ss->w, now))
        histogram_record(&ss->w->stats.lat[LAT_SIP_INVITE_1XX], (now - ss->invite_ns) / 1000);
}

static void count_final(struct worker *w, int status)
{
    if (status >= STATS_SIP_STATUS_MIN && status <= STATS_SIP_STATUS_MAX)
        w->stats.sip.invite_final[status - STATS_SIP_STATUS_MIN]++;
}

/* The 2xx: the MSRP session opens as the offer/answer settled it. */
static void caller_established(struct sip_sess *ss, const char *sdp, size_t len)
{
    struct worker *w = ss->w;
    struct sip_state *st = w->topo_state;
    uint64_t now = net_now_ns();
    ss->established = true;
    ss->established_ns = now;
    struct lsession *ls = ss->ls;
    if (ls == NULL) {
        /* The slot gave up meanwhile (the run's end): the call is not wanted, and counts as
         * cut off, its status and time not counted (README "Reports"). */
        w->stats.sip.calls_unfinished++;
        /* Held over the BYE: one that cannot leave ends the call at once (caller_ended),
         * which would otherwise let go of ss while it is still written here. */
        ss->held = true;
        ss->bye_sent = sip_call_bye(ss->out) == 0;
        ss->bye_ns = now;
        ss->held = false;
        sess_put(ss);
        return;
    }
    w->stats.sip.calls_established++;
    count_final(w, 200);
    if (counting(w, now))
        histogram_record(&w->stats.lat[LAT_SIP_INVITE_2XX], (now - ss->invite_ns) / 1000);
    struct sip_sdp_msrp_desc *answer = malloc(sizeof(*answer));
    struct sip_sdp_msrp_result *res = malloc(sizeof(*res));
    char why[200] = "";
    if (answer == NULL || res == NULL) {
        sip_sess_note(ss, "the answer of %.200s (status %d): %s", ss->target, 200, "out of memory");
    } else if (sip_sdp_msrp_parse(sdp, len, answer, why, sizeof(why)) != SIP_SDP_OK) {
        sip_sess_note(ss, "the 2xx of %.200s carries no usable MSRP SDP (status %d): %.80s",
                  ss->target, 200, why);
    } else if (sip_sdp_msrp_take_answer(&ss->local, answer, res) != 0 ||
               res->verdict != SIP_SDP_ACCEPT) {
        sip_sess_note(ss, "the answer of %.200s (status %d) is not accepted: %.80s", ss->target,
                  200, res->reason);
    } else if (!res->active) {
        sip_sess_note(ss, "the answer of %.200s (status %d) makes us passive: %s", ss->target, 200,
                  "this topology only connects (offerer active, RFC 4975 sections 5.4, 8.5)");
    } else if (ss->rp != NULL) {
        if (sip_relay_open(ss, answer, res) == 0)
            goto done;
    } else {
        struct sockaddr_storage addr;
        socklen_t alen = 0;
        if (net_addr_resolve(res->connect_host, res->connect_port, &addr, &alen) != 0) {
            sip_sess_note(ss, "the answer of %.200s (status %d) names %.60s, which does not "
                      "resolve", ss->target, 200, res->connect_host);
        } else {
            free(ss->peer_path);
            ss->peer_path = strdup(res->peer_path);
            ss->cfg.peer_path = ss->peer_path;
            struct net_transport_setup tcp = net_transport_tcp();
            const struct net_transport_setup *ts =
                res->connect_tls ? &st->client : &tcp;
            if (ss->peer_path == NULL) {
                sip_sess_note(ss, "the answer of %.200s (status %d): %s", ss->target, 200,
                          "out of memory");
            } else if (res->connect_tls && w->cfg->client_tls == NULL) {
                sip_sess_note(ss, "the answer of %.200s (status %d) asks for %s", ss->target, 200,
                          "TCP/TLS/MSRP, and this run has no TLS (--transport tls)");
            } else {
                int e = msrp_session_connect_via(w->loop, &ss->cfg, (struct sockaddr *)&addr,
                                                 alen, ts, &st->calling, ls, &ls->s);
                if (e == 0)
                    goto done;
                snprintf(why, sizeof(why), "%s", strerror(e));
                sip_sess_note(ss, "cannot connect to the MSRP end %.200s answered (%d): %.60s",
                          res->peer_path, e, why);
            }
        }
    }
    ss->bye_sent = sip_call_bye(ss->out) == 0;
    ss->bye_ns = net_now_ns();
    sip_sess_fail(ss);
done:
    free(answer);
    free(res);
}

static void caller_ended(struct sip_sess *ss, enum sip_call_end why, int status,
                         const char *reason)
{
    struct worker *w = ss->w;
    uint64_t now = net_now_ns();
    ss->out = NULL;
    sess_unfile(ss);
    if (!ss->established) {
        if (ss->ls == NULL) {
            /* Its slot was given up by the end of the run (cancelled, or the agent went with
             * the run): cut off, whatever final status came meanwhile. */
            w->stats.sip.calls_unfinished++;
        } else {
            w->stats.sip.calls_failed++;
            count_final(w, status);
            sip_sess_note(ss, "INVITE %.200s: %d %.60s", ss->target, status, reason);
            sip_sess_fail(ss);
        }
    } else if (why == SIP_END_REMOTE_BYE || (ss->bye_sent && why == SIP_END_LOCAL_BYE &&
                                              status == 481)) {
        /* The peer ended the call: its BYE came first, or crossed ours (which then finds no
         * dialog: 481, RFC 3261 section 15.1.2, from memory). A session still open ends as
         * the peer closing it (sip_on_end). */
        w->stats.sip.bye_remote++;
        struct lsession *ls = ss->ls;
        if (ls != NULL && !ss->bye_sent) {
            ss->remote_bye = true;
            if (ls->s != NULL) {
                net_timer_start(w->loop, &ss->hangup, 0); /* from the loop: hangup_fired */
            } else {
                sip_sess_note(ss, "the peer %.200s ended the call (BYE) before the MSRP session "
                              "opened", ss->target);
                sip_sess_fail(ss);
            }
        }
    } else if (ss->bye_sent) {
        if (why == SIP_END_LOCAL_BYE && status >= 200 && status < 300) {
            w->stats.sip.bye_ok++;
            if (counting(w, now))
                histogram_record(&w->stats.lat[LAT_SIP_BYE], (now - ss->bye_ns) / 1000);
        } else if (why == SIP_END_ERROR) {
            w->stats.sip.bye_unfinished++;
        } else {
            w->stats.sip.bye_failed++;
            char what[300];
            snprintf(what, sizeof(what), "BYE to %.200s: %d %.60s", ss->target, status, reason);
            note_error(w, what);
        }
    }
    sess_put(ss);
}

/* ---- the answering side ------------------------------------------------------------------------ */

static void answering_received(struct msrp_session *s, const struct msrp_received *m)
{
    runner_count_delivery(msrp_session_user(s), m, net_now_ns());
    runner_answer_cpim(msrp_session_user(s), s, m);
}

static void answering_piece(struct msrp_session *s, struct msrp_span mid, uint64_t pos,
                            const char *p, size_t len, char flag)
{
    runner_file_piece(msrp_session_user(s), mid, pos, p, len, flag);
}

static void answering_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    (void)s;
    (void)why;
    (void)detail;
}

static const struct msrp_session_handlers answering_handlers = {
    .on_received = answering_received, .on_end = answering_end, .on_piece = answering_piece};

/* An INVITE reached one of our answering agents: the session it belongs to expects its
 * answering end on the listener, and the answer names it. */
static void answerer_incoming(struct sip_state *st, struct sip_call *call, const char *sdp,
                              size_t len)
{
    struct worker *w = st->w;
    const char *cid = sip_call_id(call);
    struct sip_sess *ss = cid != NULL ? pending_get(&st->calls, cid, strnlen(cid, PENDING_ID_MAX))
                                      : NULL;
    if (ss == NULL || ss->ls == NULL || ss->in != NULL) {
        sip_call_reject(call, 481); /* no session of ours is calling: a stray or late INVITE */
        return;
    }
    struct sip_sdp_msrp_desc *offer = malloc(sizeof(*offer));
    struct sip_sdp_msrp_result *res = malloc(sizeof(*res));
    char *answer = malloc(SIP_OFFER_MAX);
    char why[200] = "";
    size_t alen = 0;
    int reject = 0;
    if (offer == NULL || res == NULL || answer == NULL) {
        reject = 500;
    } else if (sip_sdp_msrp_parse(sdp, len, offer, why, sizeof(why)) != SIP_SDP_OK) {
        reject = 488; /* an offer we cannot use (RFC 3261 section 13.3.1.3, from memory) */
    } else {
        struct lsession *ls = ss->ls;
        struct msrp_session_config acfg;
        struct sip_sdp_msrp_local local = {.path = ls->expect_uri,
                                           .accept_types = w->sc->accept_types,
                                           .accept_wrapped_types = w->sc->accept_wrapped_types,
                                           .user = "msrpload",
                                           .sess_id = ss->n + 1,
                                           .sess_version = 1};
        char rpath[SIP_SDP_PATH_MAX];
        if (ss->rp == NULL) {
            runner_name_answering_end(ls, st->port, ss->n, false);
            snprintf(ss->expect_uri, sizeof(ss->expect_uri), "%s", ls->expect_uri);
            runner_answer_config(w, ls, ss->n, &acfg);
        }
        if (ss->rp != NULL &&
            (reject = sip_relay_answer(ss, offer, &local, rpath, sizeof(rpath), why,
                                       sizeof(why))) != 0) {
            /* refused by the relay part (why says) */
        } else if (sip_sdp_msrp_answer(offer, &local, false, answer, SIP_OFFER_MAX, &alen, res) != 0 ||
            res->verdict != SIP_SDP_ACCEPT) {
            snprintf(why, sizeof(why), "%.190s", res->reason);
            reject = 488;
        } else if (ss->rp != NULL) {
            /* its answering end is the relay's connection, adopted on the caller's 2xx */
        } else if (msrp_server_expect(st->srv, &acfg, &answering_handlers, w, 0, NULL) != 0) {
            snprintf(why, sizeof(why), "cannot expect its answering end");
            reject = 500;
        } else {
            ss->expected = true;
        }
    }
    if (reject != 0) {
        sip_sess_note(ss, "our answering end refused the offer of %.200s (%d): %.80s", ss->target,
                  reject, why);
        sip_call_reject(call, reject);
    } else {
        ss->in = call;
        sip_call_set_user(call, ss);
        if (sip_call_answer(call, 200, answer, alen) != 0) {
            ss->in = NULL;
            sip_call_set_user(call, NULL);
        }
    }
    free(offer);
    free(res);
    free(answer);
}

/* ---- the agents' callbacks (ctx: the agent) ------------------------------------------------- */

static void agent_registered(void *ctx, struct sip_ua *ua, int status, int expires)
{
    (void)expires;
    struct sip_agent *a = ctx;
    struct worker *w = a->st->w;
    uint64_t now = net_now_ns();
    bool ok = status >= 200 && status < 300;
    if (a->st->ending) { /* the unREGISTER at the end (sip_fini) */
        if (a->st->unregistering > 0)
            a->st->unregistering--;
        return;
    }
    if (ok)
        w->stats.sip.register_ok++;
    else
        w->stats.sip.register_failed++;
    /* Every final answer says whether the user is registered now: a first REGISTER that
     * failed is tried again by the agent (408, 5xx), and a later 2xx lets the sessions that
     * come after it call the user; a refresh that failed stops them. Only the first
     * REGISTER's time is a latency sample (README "Reports"). */
    bool first = !a->register_done;
    a->register_done = true;
    a->registered = ok;
    a->register_status = status;
    if (ok && first)
        histogram_record(&w->stats.lat[LAT_SIP_REGISTER], (now - a->register_sent_ns) / 1000);
    else if (!ok) {
        /* a failed connection (503 from our own agent): the transport says why, e.g. TLS */
        const char *tp_why = "";
        if (status == 503)
            sip_ua_transport_errors(ua, &tp_why);
        snprintf(a->register_why, sizeof(a->register_why), "%s%.200s", tp_why[0] ? " " : "",
                 tp_why);
        char what[400];
        snprintf(what, sizeof(what), "REGISTER %.120s: %d%s", a->user, status, a->register_why);
        note_error(w, what);
    }
    /* The sessions waiting for this user call it now, or fail. */
    while (a->waiting != NULL) {
        struct sip_sess *ss = a->waiting;
        a->waiting = ss->wait_next;
        ss->waiting = false;
        if (ok) {
            sess_invite(ss);
        } else {
            sip_sess_note(ss, "REGISTER of the called user %.120s: %d%s%s", a->user, status,
                      a->register_why, " (the session was not called)");
            sip_sess_fail(ss);
        }
    }
}

static void agent_incoming(void *ctx, struct sip_call *call, const char *sdp, size_t len)
{
    struct sip_agent *a = ctx;
    answerer_incoming(a->st, call, sdp, len);
}

static void agent_progress(void *ctx, struct sip_call *call, int status)
{
    caller_progress(ctx, call, status);
}

static void agent_established(void *ctx, struct sip_call *call, const char *sdp, size_t len)
{
    (void)ctx;
    struct sip_sess *ss = sip_call_user(call);
    if (ss != NULL && sip_call_outgoing(call))
        caller_established(ss, sdp, len);
}

static void agent_ended(void *ctx, struct sip_call *call, enum sip_call_end why, int status,
                        const char *reason)
{
    (void)ctx;
    struct sip_sess *ss = sip_call_user(call);
    if (ss == NULL)
        return;
    if (sip_call_outgoing(call)) {
        caller_ended(ss, why, status, reason);
    } else {
        ss->in = NULL;
        sess_put(ss);
    }
}

/* ---- the core's calling handlers, with the set-up to bind timed ------------------------------- */

static void sip_on_bound(struct msrp_session *s)
{
    struct lsession *ls = msrp_session_user(s);
    struct sip_sess *ss = ls->topo;
    uint64_t now = net_now_ns();
    if (ss != NULL && ss->established_ns != 0 && counting(ls->w, now))
        histogram_record(&ls->w->stats.lat[LAT_SIP_SETUP_BIND],
                         (now - ss->established_ns) / 1000);
    runner_calling_handlers.on_bound(s);
}

/* The peer's BYE closed the session before its steps were done: counted as the peer ending
 * it (peer-closed), not as our own orderly close. */
static void sip_on_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    struct lsession *ls = msrp_session_user(s);
    struct sip_sess *ss = ls->topo;
    if (ss != NULL && ss->remote_bye && why == MSRP_END_CLOSED && !ls->finished &&
        !ls->w->stopping) {
        why = MSRP_END_PEER_CLOSED;
        detail = "the peer ended the call (SIP BYE)";
    }
    runner_calling_handlers.on_end(s, why, detail);
}

/* ---- the topology's operations ----------------------------------------------------------------- */

/* The host of a SIP URI (sip:[user@]host[:port][;params]), for the AOR's domain. */
static void uri_host(const char *uri, char *out, size_t cap)
{
    const char *p = strchr(uri, ':');
    p = p != NULL ? p + 1 : uri;
    const char *at = strchr(p, '@');
    if (at != NULL)
        p = at + 1;
    size_t n = *p == '[' ? strcspn(p, "]") + 1 : strcspn(p, ":;>?");
    snprintf(out, cap, "%.*s", (int)n, p);
}

/* sips: is TLS (RFC 3261 section 19.1, from memory: SIPS over TLS to the next hop), as is
 * ;transport=tls (run_sip.c lets no other transport through). */
static enum sip_tp_kind uri_transport(const char *uri)
{
    if (strncasecmp(uri, "sips:", 5) == 0)
        return SIP_TP_TLS;
    const char *t = strcasestr(uri, ";transport=");
    if (t != NULL && strncasecmp(t + 11, "tcp", 3) == 0)
        return SIP_TP_TCP;
    if (t != NULL && strncasecmp(t + 11, "tls", 3) == 0)
        return SIP_TP_TLS;
    return SIP_TP_UDP;
}

static void sip_fini(struct worker *w);

static int make_agent(struct sip_state *st, struct sip_agent *a, bool answering, char *err,
                      size_t errlen)
{
    const struct scenario *sc = st->w->sc;
    const char *via = sc->sip.proxy[0] ? sc->sip.proxy : sc->sip.target;
    const struct run_config *rc = st->w->cfg;
    struct sip_ua_config c = {
        .transport = {.kind = uri_transport(via),
                      .tls_server = rc->sip_tls_server,
                      .tls_client = rc->sip_tls_client,
                      .tls_server_name = st->proxy_host},
        .user = a->user,
        .domain = st->domain,
        .password = st->w->cfg->sip_password,
        .outbound_proxy = sc->sip.proxy[0] ? sc->sip.proxy : NULL,
        .cb = {.on_registered = agent_registered,
               .on_incoming = answering ? agent_incoming : NULL,
               .on_progress = agent_progress,
               .on_established = agent_established,
               .on_ended = agent_ended},
        .ctx = a,
    };
    char why[256];
    int e = sip_ua_create(st->w->loop, &c, answering ? &a->answerer : &a->caller, why,
                          sizeof(why));
    if (e != 0)
        snprintf(err, errlen, "SIP user %s: %s", a->user, why);
    return e;
}

/* The users worker w plays: its slice of 0..users-1 (of its shard's slice with --shard). */
static int sip_init(struct worker *w, char *err, size_t errlen)
{
    const struct scenario *sc = w->sc;
    struct sip_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->w = w;
    w->topo_state = st;
    pending_init(&st->calls);
    if (msrp_idgen_init(&st->ids) != 0) {
        snprintf(err, errlen, "the random generator failed");
        return -1;
    }
    bool target = sc->sip.target[0] != '\0';
    if (sc->sip.domain[0])
        snprintf(st->domain, sizeof(st->domain), "%s", sc->sip.domain);
    else
        uri_host(sc->sip.proxy[0] ? sc->sip.proxy : sc->sip.target, st->domain,
                 sizeof(st->domain));
    /* every request of ours goes to the proxy (or the target): its host is the TLS name */
    uri_host(sc->sip.proxy[0] ? sc->sip.proxy : sc->sip.target, st->proxy_host,
             sizeof(st->proxy_host));
    size_t hl = strlen(st->proxy_host);
    if (hl >= 2 && st->proxy_host[0] == '[' && st->proxy_host[hl - 1] == ']') {
        memmove(st->proxy_host, st->proxy_host + 1, hl - 2); /* an IPv6 literal, bare */
        st->proxy_host[hl - 2] = '\0';
    }
    st->calling = runner_calling_handlers;
    st->calling.on_bound = sip_on_bound;
    st->calling.on_end = sip_on_end;
    st->client = w->cfg->client_tls != NULL ? net_transport_tls(w->cfg->client_tls)
                                            : net_transport_tcp();
    if (scenario_has_relay(sc)) {
        if (sip_relay_init(st, err, errlen) != 0)
            return -1;
    } else {
        /* The answering ends' listener; with a target it answers nothing, but our offers'
         * a=path names it (sip_start). */
        struct net_transport_setup server = w->cfg->server_tls != NULL
                                                ? net_transport_tls(w->cfg->server_tls)
                                                : net_transport_tcp();
        if (msrp_server_create_via(w->loop, "127.0.0.1", 0, &server, &st->srv, err, errlen) != 0)
            return -1;
        st->port = msrp_server_port(st->srv);
    }
    uint64_t users = sc->sip.users > 0 ? sc->sip.users : 1;
    uint64_t base = 0, span = users;
    if (w->cfg->shard_count > 1) {
        base = users * (w->cfg->shard_index - 1) / w->cfg->shard_count;
        span = users * w->cfg->shard_index / w->cfg->shard_count - base;
    }
    uint64_t mine = span > (uint64_t)w->index ? (span - (uint64_t)w->index - 1) / w->nworkers + 1
                                              : 0;
    if (mine == 0) {
        snprintf(err, errlen, "%s: worker %d has no SIP user of its own (%llu users over %u "
                 "threads%s): give more users (--sip-users) or fewer threads (--threads); each "
                 "worker registers users no other one does", sc->path, w->index,
                 (unsigned long long)span, w->nworkers,
                 w->cfg->shard_count > 1 ? ", this shard's slice" : "");
        return -1;
    }
    st->agents = calloc(mine, sizeof(*st->agents));
    if (st->agents == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->nagents = (unsigned)mine;
    for (unsigned i = 0; i < st->nagents; i++) {
        struct sip_agent *a = &st->agents[i];
        a->st = st;
        uint64_t u = base + (uint64_t)w->index + (uint64_t)i * w->nworkers;
        scenario_relay_user_format(sc->sip.user, u, a->user, sizeof(a->user));
        if (make_agent(st, a, false, err, errlen) != 0)
            return -1;
        if (target)
            continue;
        if (make_agent(st, a, true, err, errlen) != 0)
            return -1;
        /* Registered before the first session: its REGISTER leaves now (the loop has not
         * started; the answer is read once it runs) and sessions calling it wait for it. */
        a->register_sent_ns = net_now_ns();
        int e = sip_ua_register(a->answerer, sc->sip.proxy, SIP_REGISTER_EXPIRES);
        if (e != 0) {
            snprintf(err, errlen, "SIP user %s: cannot send REGISTER to %s: %s", a->user,
                     sc->sip.proxy, strerror(e));
            return -1;
        }
    }
    return 0;
}

static int sip_start(struct lsession *ls, uint64_t n, struct msrp_session_config *cfg,
                     struct topology_failure *why)
{
    struct worker *w = ls->w;
    struct sip_state *st = w->topo_state;
    const struct scenario *sc = w->sc;
    struct sip_agent *to = sc->sip.target[0] ? NULL : &st->agents[(n + 1) % st->nagents];
    if (to != NULL && to->register_done && !to->registered) {
        /* Known to fail: the core waits before the next (topology.h), instead of a storm of
         * sessions failed in a blink while the registrar refuses; the agent tries again. */
        why->what = "not called: the REGISTER of the called user failed";
        why->peer = to->user;
        return ECONNREFUSED;
    }
    struct sip_sess *ss = calloc(1, sizeof(*ss));
    if (ss == NULL) {
        why->what = "cannot start its INVITE";
        return ENOMEM;
    }
    ss->w = w;
    ss->ls = ls;
    ss->n = n;
    ss->cfg = *cfg;
    ss->fail_kind = MSRP_END_CONNECT_FAILED;
    ss->defer.fn = defer_fired;
    ss->defer.arg = ss;
    ss->hangup.fn = hangup_fired;
    ss->hangup.arg = ss;
    ss->from = &st->agents[n % st->nagents];
    if (sc->sip.target[0]) {
        snprintf(ss->target, sizeof(ss->target), "%.399s", sc->sip.target);
    } else {
        ss->to = to;
        snprintf(ss->target, sizeof(ss->target), "sip:%s@%s", ss->to->user, st->domain);
    }
    if (st->relay != NULL) {
        /* both ends AUTH first; the INVITE leaves once both have their Use-Path */
        ls->topo = ss;
        int e = sip_relay_start(ss, cfg);
        if (e != 0) {
            ls->topo = NULL;
            free(ss);
            why->what = "cannot start its AUTHs";
            why->peer = sc->relay.uri;
        }
        return e;
    }
    {
        /* Our calling end's path names the worker's listener address (the offer's c= and
         * m= port), and a session id that is the runner's name with random characters from
         * the CSPRNG added: RFC 4975 section 8.2, MUST, "The rightmost URI in the path
         * attribute MUST identify the endpoint that generated the SDP document", and SHOULD,
         * "It SHOULD be hard to guess". */
        const char *slash = strrchr(ls->local_uri, '/');
        char name[sizeof(ls->local_uri)], rnd[13];
        snprintf(name, sizeof(name), "%s", slash != NULL ? slash + 1 : "x;tcp");
        size_t nlen = strcspn(name, ";");
        const char *params = name[nlen] == ';' ? name + nlen : ";tcp";
        if (msrp_idgen_ident(&st->ids, rnd, 12) != 0) {
            free(ss);
            why->what = "cannot draw its session id (CSPRNG)";
            return EIO;
        }
        rnd[12] = '\0';
        snprintf(ls->local_uri, sizeof(ls->local_uri), "%s://127.0.0.1:%u/%.*s-%s%.20s",
                 scenario_transport_secure(sc->transport) ? "msrps" : "msrp", (unsigned)st->port,
                 (int)(nlen < 40 ? nlen : 40), name, rnd, params);
    }
    snprintf(ss->path, sizeof(ss->path), "%s", ls->local_uri);
    ss->local = (struct sip_sdp_msrp_local){.path = ss->path,
                                            .accept_types = "*",
                                            .user = "msrpload",
                                            .sess_id = n + 1,
                                            .sess_version = 1};
    ls->topo = ss;
    runner_slot_begin(ls);
    sip_sess_call(ss);
    return 0;
}

void sip_sess_call(struct sip_sess *ss)
{
    if (ss->to != NULL && !ss->to->register_done) {
        ss->waiting = true;
        ss->wait_next = ss->to->waiting;
        ss->to->waiting = ss;
        return;
    }
    if (ss->to != NULL && !ss->to->registered) {
        sip_sess_note(ss, "REGISTER of the called user %.120s: %d%s%s", ss->to->user,
                      ss->to->register_status, ss->to->register_why,
                      " (the session was not called)");
        sip_sess_fail(ss);
        return;
    }
    sess_invite(ss);
}

/* The run stops while the slot is still being set up: its INVITE is cancelled. */
static void sip_abandon(struct lsession *ls)
{
    struct sip_sess *ss = ls->topo;
    if (ss == NULL)
        return;
    net_timer_stop(ss->w->loop, &ss->defer);
    bool failed = ss->failed_slot;
    if (ss->out != NULL && !ss->established)
        sip_call_cancel(ss->out);
    sess_slot_end(ss, failed);
}

/* The calling MSRP session has ended: BYE. */
static void sip_session_ended(struct lsession *ls)
{
    struct sip_sess *ss = ls->topo;
    if (ss == NULL)
        return;
    if (ss->rp != NULL) /* the answering end through the relay closes too */
        relay_pair_calling_ended(ss->rp);
    if (ss->out != NULL && ss->established && !ss->bye_sent) {
        ss->bye_ns = net_now_ns();
        ss->bye_sent = sip_call_bye(ss->out) == 0;
    }
    sess_detach(ss);
}

/* The relay's refresh AUTH on the calling session. */
static bool sip_raw_result(struct lsession *ls, void *cookie, bool closed,
                           const struct msrp_chunk *response)
{
    struct sip_sess *ss = ls->topo;
    return ss != NULL && ss->rp != NULL && relay_pair_raw_result(ss->rp, cookie, closed, response);
}

static void sip_fini(struct worker *w)
{
    struct sip_state *st = w->topo_state;
    if (st == NULL)
        return;
    /* The bindings go (a next run with the same users would have the proxy fork its INVITEs
     * to these agents' dead addresses too), and the last BYEs are answered: the loop runs on,
     * bounded in passes and time, with nothing else left on it (every session has ended). */
    st->ending = true;
    /* A first REGISTER still without a final answer (none before the end): counted apart, so
     * that the report shows the registrar that never answered; and the report has its sip
     * object even when nothing was answered. */
    w->stats.sip.topology = 1;
    for (unsigned i = 0; i < st->nagents; i++)
        if (st->agents[i].answerer != NULL && !st->agents[i].register_done)
            w->stats.sip.register_unfinished++;
    for (unsigned i = 0; i < st->nagents; i++)
        if (st->agents[i].answerer != NULL && sip_ua_registered(st->agents[i].answerer) &&
            sip_ua_unregister(st->agents[i].answerer) == 0)
            st->unregistering++;
    uint64_t deadline = net_now_ns() + SIP_END_WAIT_NS;
    for (unsigned pass = 0; pass < 1000 && net_now_ns() < deadline; pass++) {
        size_t calls = 0;
        for (unsigned i = 0; i < st->nagents; i++)
            calls += st->agents[i].caller != NULL ? sip_ua_calls(st->agents[i].caller) : 0;
        if (st->unregistering == 0 && calls == 0)
            break;
        if (net_loop_run_once(w->loop, 10) < 0)
            break;
    }
    /* Calls still going end here (on_ended with an error, nothing sent). */
    for (unsigned i = 0; i < st->nagents; i++) {
        struct sip_agent *a = &st->agents[i];
        if (a->caller != NULL)
            sip_ua_destroy(a->caller);
        a->caller = NULL;
        if (a->answerer != NULL)
            sip_ua_destroy(a->answerer);
        a->answerer = NULL;
    }
    if (st->srv != NULL)
        msrp_server_destroy(st->srv);
    sip_relay_fini(st);
    pending_free(&st->calls);
    free(st->agents);
    free(st);
    w->topo_state = NULL;
}

const struct topology_ops topology_sip = {
    .name = "sip",
    .init = sip_init,
    .start_session = sip_start,
    .abandon = sip_abandon,
    .session_ended = sip_session_ended,
    .fini = sip_fini,
};

/* Through a relay the relay's 200 is hop-by-hop: delivery is tracked, as in topology_relay.c. */
const struct topology_ops topology_sip_relay = {
    .name = "sip",
    .tracks_delivery = true,
    .init = sip_init,
    .start_session = sip_start,
    .abandon = sip_abandon,
    .raw_result = sip_raw_result,
    .session_ended = sip_session_ended,
    .fini = sip_fini,
};
