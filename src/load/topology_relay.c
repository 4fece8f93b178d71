/*
 * topology_relay.c - the relay topology of `msrpload run` (topology.h): both ends of each
 * session authenticate with the relay (RFC 4976 AUTH) on connections of their own, which become
 * the calling and answering sessions once both AUTHs succeeded; each end re-AUTHs before its
 * lifetime runs out. A pair outlives its slot while its AUTHs or sessions are still going.
 * The relay's 200 is hop-by-hop, so this topology tracks delivery: its answering end reports
 * each message it receives (runner_delivered).
 *
 * Each end travels as its transport says (scenario end_transport): tcp or tls to the relay's
 * TCP address (relay.uri), ws or wss as a WebSocket client (RFC 7977) of its WebSocket address
 * (relay.ws_uri), whose MSRP URI form (msrp[s]://HOST:PORT;ws) is that end's AUTH To-Path, as
 * in RFC 7977 8.1.1. A relay bridges the two, so a session may be WS on one end and TCP on
 * the other; the Use-Paths it grants route by session-id either way.
 *
 * The pairs themselves (AUTHs, held connections, adoption, refreshes, the answering end) are
 * relay_pair.c's, shared with the sip topology through a relay (topology_sip_relay.c).
 *
 * Owns: the worker's relay_state (the relay's addresses, resolved once, and the WebSocket
 * transport's set-up), the slot's link to its pair, and what a slot that never got a session
 * counts.
 * May not touch: the steps, the counting of messages, slots and the clock (the runner core);
 * it reaches them only through the functions topology.h lists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/relay_pair.h"

/* The slot lets go of its pair (the pair may live on until its sessions have ended). */
static void relay_detach(struct lsession *ls)
{
    struct relay_pair *rp = ls->topo;
    ls->topo = NULL;
    relay_pair_release(rp);
}

/* Ends a slot that never got a session: an AUTH failed, or the run stopped meanwhile. */
static void relay_slot_end(struct lsession *ls, bool failed)
{
    struct worker *w = ls->w;
    struct relay_pair *rp = ls->topo;
    uint64_t now = net_now_ns();
    /* The frames to show: the AUTH that failed, else one still waiting for its answer. */
    const struct msrp_trace *trace = rp->auth_trace;
    for (int i = 0; i < 2 && trace == NULL; i++)
        if (rp->side[i].auth != NULL)
            trace = msrp_relay_auth_trace(rp->side[i].auth);
    if (failed) {
        w->stats.sessions_failed++;
        unsigned kind = relay_pair_fail_kind(rp);
        w->stats.session_ends[kind]++;
        const char *why = rp->first_error[0] ? rp->first_error : "relay AUTH failed";
        note_error(w, why);
        failure_note(w->failures, kind, now, ls->local_uri, rp->side[0].cfg.relay_uri, why,
                     trace);
    } else {
        /* stopped while authenticating: closed by the end of the run */
        w->stats.sessions_unfinished++;
        w->stats.session_ends[MSRP_END_CLOSED]++;
        char what[400];
        snprintf(what, sizeof(what), "session %s: still authenticating with the relay %.100s "
                 "when the run ended (no answer to AUTH)", ls->local_uri,
                 rp->side[0].cfg.relay_uri);
        note_error(w, what);
        failure_note(w->failures, FAILURE_UNBOUND_AT_END, now, ls->local_uri,
                     rp->side[0].cfg.relay_uri,
                     "no answer to AUTH by the end of the run", trace);
    }
    w->stats.session_endings[STATS_ENDINGS - 1]++; /* not by a lifetime */
    struct stats_second *sec = second(w, now);
    if (sec != NULL) {
        sec->sessions_ended++;
        sec->sessions_failed += failed;
    }
    relay_pair_stop(rp);
    relay_detach(ls);
    runner_slot_ended(ls);
}

/* The run stops while the slot is still authenticating: neither completed nor failed. */
static void relay_abandon(struct lsession *ls)
{
    relay_slot_end(ls, false);
}

/* The calling session ended (on_end): the answering end closes too, the slot lets go. */
static void relay_session_ended(struct lsession *ls)
{
    struct relay_pair *rp = ls->topo;
    if (rp == NULL)
        return;
    relay_pair_calling_ended(rp);
    relay_detach(ls);
}

/* Both AUTHs are over: the sessions open through the relay, or the slot fails. */
static void relay_ready(struct relay_pair *rp, void *user)
{
    (void)user;
    struct lsession *ls = rp->ls;
    if (!relay_pair_authed(rp) || relay_pair_adopt(rp, NULL) != 0)
        relay_slot_end(ls, true);
}

/* ---- the topology's operations ----------------------------------------------------------- */

static int relay_init(struct worker *w, char *err, size_t errlen)
{
    struct relay_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->topo_state = st;
    return relay_pair_state_init(st, w->sc, w->cfg, err, errlen);
}

/*
 * Both ends are ours and reach each other through the relay: the answering end's URI names no
 * listener (the relay delivers down its own connection). The calling session starts when both
 * AUTHs are over (relay_ready), with the core's *cfg kept in the pair until then.
 */
static int relay_start(struct lsession *ls, uint64_t n, struct msrp_session_config *cfg,
                       struct topology_failure *why)
{
    runner_name_answering_end(ls, 9, n, true);
    runner_slot_begin(ls);
    struct relay_pair *rp = NULL;
    int e = relay_pair_start(ls->w->topo_state, ls->w, ls, n, cfg, &runner_calling_handlers,
                             relay_ready, NULL, &rp);
    if (e != 0) {
        why->what = "cannot start its AUTHs";
        const struct scenario *sc = ls->w->sc;
        why->peer = scenario_transport_ws(sc->end_transport[SCENARIO_CALLER]) ? sc->relay.ws_uri
                                                                             : sc->relay.uri;
        return e;
    }
    ls->topo = rp;
    return 0;
}

static bool relay_raw_result(struct lsession *ls, void *cookie, bool closed,
                             const struct msrp_chunk *response)
{
    struct relay_pair *rp = ls->topo;
    return rp != NULL && relay_pair_raw_result(rp, cookie, closed, response);
}

static void relay_fini(struct worker *w)
{
    free(w->topo_state);
    w->topo_state = NULL;
}

const struct topology_ops topology_relay = {
    .name = "relay",
    .tracks_delivery = true,
    .init = relay_init,
    .start_session = relay_start,
    .abandon = relay_abandon,
    .raw_result = relay_raw_result,
    .session_ended = relay_session_ended,
    .fini = relay_fini,
};
