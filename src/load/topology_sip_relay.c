/*
 * topology_sip_relay.c - the sip topology through an RFC 4976 relay (run --sip-proxy ...
 * --relay URI, or kind "sip" with topology.relay): both ends of a session AUTH with the relay
 * first (relay_pair.c, as the relay topology does), then the SIP exchange of topology_sip.c
 * carries their paths, and on the 2xx both relay connections become the sessions.
 *
 * The offer (RFC 4976 section 5.1, no keyword): "To form the SDP path attribute to provide to
 * the peer, the client reverses the list of URIs in the Use-Path header (after the outermost
 * authentication), and appends the client's own URI" - so the relay's URI comes first, as RFC
 * 4975 section 8.3 (no keyword) has it: "The first entry will point to the first relay in the
 * chain from the perspective of the peer". It carries a=msrp-cema (RFC 6714 section 4.2 item
 * 1, MUST) and, using a relay, the relay's address in c=/m= and a=setup:actpass (item 3, MUST;
 * both written by sdp_msrp.c).
 *
 * The answer: the answering end's own reversed Use-Path and URI, and CEMA asked for. Both ends
 * use a relay, so the answerer falls back: RFC 6714 section 4.3, "If any one or more of the
 * criteria below are met, the answerer MUST fall back to RFC 4975 behavior ... The answerer
 * MUST NOT insert an SDP 'msrp-cema' attribute", criterion 1 "Both MSRP endpoints are using
 * relays" (sdp_msrp.c decides it). Its c=/m= then name its own URI, which its path holds, so
 * the offerer takes the answer without a new offer (section 4.2: "the offerer MUST fall back
 * to RFC 4975 behavior, but it does not need to send a new SDP offer"). Nobody connects to the
 * peer: each end is already connected to its relay (RFC 4976 section 5.1).
 *
 * To-Paths (RFC 4976 section 5.1, no keyword): "the client takes the list of URIs in the
 * Use-Path header after the outermost authentication and appends the list of URIs provided in
 * the path attribute in the peer's session description" - the caller's Use-Path and the
 * answer's a=path, the answerer's Use-Path and the offer's a=path.
 *
 * Counted in run_stats.sip: offers read by our answering agents that carried a=msrp-cema and
 * whose a=path began at the relay (the path as it came through the proxy), answers read by our
 * calling agents that carried a=msrp-cema.
 *
 * Owns: the worker's relay_state, the paths of each session's SIP exchange through the relay.
 * May not touch: the agents, calls and the slot's counting (topology_sip.c's), the pairs
 * (relay_pair.c's).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "load/topology_sip_int.h"
#include "wire/uri.h"

int sip_relay_init(struct sip_state *st, char *err, size_t errlen)
{
    st->relay = calloc(1, sizeof(*st->relay));
    if (st->relay == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return relay_pair_state_init(st->relay, st->w->sc, st->w->cfg, err, errlen);
}

void sip_relay_fini(struct sip_state *st)
{
    free(st->relay);
    st->relay = NULL;
}

/* Both AUTHs are over: the INVITE goes with the caller's path through the relay, or the slot
 * fails as the relay topology's would (its kind and AUTH frames). */
static void sip_relay_ready(struct relay_pair *rp, void *user)
{
    struct sip_sess *ss = user;
    if (!relay_pair_authed(rp)) {
        ss->fail_kind = relay_pair_fail_kind(rp);
        sip_sess_note(ss, "%s", rp->first_error[0] ? rp->first_error : "relay AUTH failed");
        sip_sess_fail(ss);
        return;
    }
    if (relay_pair_sdp_path(rp, 0, ss->path, sizeof(ss->path)) != 0) {
        ss->fail_kind = RUNNER_END_LOCAL_ERROR;
        sip_sess_note(ss, "the relay's Use-Path %.100s is too long for an a=path",
                      rp->side[0].use_path);
        sip_sess_fail(ss);
        return;
    }
    ss->local.cema = true; /* RFC 6714 section 4.2 item 1; counted once the INVITE leaves */
    sip_sess_call(ss);
}

int sip_relay_start(struct sip_sess *ss, struct msrp_session_config *cfg)
{
    struct lsession *ls = ss->ls;
    struct sip_state *st = ss->w->topo_state;
    /* Neither end listens: the relay delivers down each end's own connection. */
    runner_name_answering_end(ls, 9, ss->n, false);
    ss->local = (struct sip_sdp_msrp_local){.path = ss->path,
                                            .accept_types = "*",
                                            .user = "msrpload",
                                            .sess_id = ss->n + 1,
                                            .sess_version = 1};
    runner_slot_begin(ls);
    return relay_pair_start(st->relay, ss->w, ls, ss->n, cfg, &st->calling, sip_relay_ready, ss,
                            &ss->rp);
}

/* The first URI of a path has the relay's host and port (as written: the relay names
 * itself in its Use-Path as msrpload was told to reach it, or the check counts nothing). */
static bool path_starts_at_relay(const struct scenario *sc, const char *path)
{
    size_t n = strcspn(path, " ");
    struct msrp_uri u;
    if (msrp_uri_parse(path, n, &u) != MSRP_URI_OK || !sc->relay.parsed_ok)
        return false;
    const struct msrp_uri *r = &sc->relay.parsed;
    return u.has_port && r->has_port && u.port == r->port && u.host.len == r->host.len &&
           strncasecmp(u.host.ptr, r->host.ptr, u.host.len) == 0;
}

int sip_relay_answer(struct sip_sess *ss, const struct sip_sdp_msrp_desc *offer,
                     struct sip_sdp_msrp_local *local, char *path, size_t cap, char *why,
                     size_t whylen)
{
    struct worker *w = ss->w;
    if (offer->cema)
        w->stats.sip.offer_cema++;
    if (offer->path_count > 1 && path_starts_at_relay(w->sc, offer->path))
        w->stats.sip.offer_relay_first++;
    if (relay_pair_sdp_path(ss->rp, 1, path, cap) != 0) {
        snprintf(why, whylen, "the relay's Use-Path is too long for an a=path");
        return 500;
    }
    free(ss->offer_path);
    if ((ss->offer_path = strdup(offer->path)) == NULL) {
        snprintf(why, whylen, "out of memory");
        return 500;
    }
    local->path = path;
    local->cema = true; /* answered only where RFC 6714 section 4.3 lets it (sdp_msrp.c) */
    return 0;
}

int sip_relay_open(struct sip_sess *ss, const struct sip_sdp_msrp_desc *answer,
                   const struct sip_sdp_msrp_result *res)
{
    (void)res;
    struct relay_pair *rp = ss->rp;
    if (answer->cema)
        ss->w->stats.sip.answer_cema++;
    if (ss->offer_path == NULL) {
        /* our answering agent never read the offer: the 2xx is not from it */
        sip_sess_note(ss, "the 2xx of %.200s is not our answering agent's (it never saw the "
                      "offer), so its end is not through the relay", ss->target);
        return -1;
    }
    char *to[2] = {NULL, NULL};
    const char *peer[2] = {answer->path, ss->offer_path};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(rp->side[i].use_path) + strlen(peer[i]) + 2;
        if ((to[i] = malloc(n)) != NULL)
            snprintf(to[i], n, "%s %s", rp->side[i].use_path, peer[i]);
    }
    int e = -1;
    if (to[0] != NULL && to[1] != NULL) {
        const char *const paths[2] = {to[0], to[1]};
        e = relay_pair_adopt(rp, paths);
    } else {
        sip_sess_note(ss, "out of memory");
    }
    if (e != 0)
        sip_sess_note(ss, "through the relay: %.200s", rp->first_error);
    free(to[0]);
    free(to[1]);
    return e;
}
