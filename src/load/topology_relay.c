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
 * Owns: the relay's addresses (resolved once per worker, at set-up) and the WebSocket
 * transport's set-up, the AUTH accounts (the user pattern's, or run --data's user and password
 * columns, a row for each end), the pairs of sessions and their refreshes, and what a
 * slot that never got a session counts.
 * May not touch: the steps, the counting of messages, slots and the clock (the runner core);
 * it reaches them only through the functions topology.h lists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/topology.h"
#include "msrp/relay.h"
#include "msrp/uri_addr.h"
#include "msrp/violate.h"
#include "net/conn.h"
#include "net/transport_ws.h"
#include "wire/uri.h"

#define RELAY_AUTH_TIMEOUT_NS (10ull * 1000000000ull)
#define RELAY_REFRESH_TIMEOUT_NS (10ull * 1000000000ull)

/* Per worker, from init: where the relay is, [0] its TCP (or TLS) address, [1] its WebSocket
 * one (each when some end uses it), and how a WebSocket end connects. */
struct relay_addr {
    const char *uri;   /* AUTH's To-Path: relay.uri, or relay.ws_msrp_uri */
    struct sockaddr_storage addr;
    socklen_t len;
    char host[256];    /* the TLS server name (a name) or the address its certificate names */
};
struct relay_state {
    struct relay_addr at[2];
    /* outlives the connections it makes (the AUTHs hand them to sessions): freed by fini,
     * once every session is gone */
    struct net_ws ws;
    struct net_transport_setup ws_setup;
    /* run's hidden --violate reuse-relay-uri: the first calling end's Use-Path, which every
     * later calling end puts in its To-Path instead of its own (RFC 4976 section 3.1) */
    char first_use_path[MSRP_RELAY_USE_PATH_MAX];
};

/*
 * The relay topology: both ends of a session (side 0 calls, side 1 answers) authenticate with
 * the relay on their own connections, then each connection is handed to a session. The pair
 * outlives the slot when needed: it is freed when its AUTHs are over and both sessions have
 * ended (refs), so a late callback never finds a slot that already runs another session.
 */
struct relay_side {
    struct relay_pair *rp;
    int index;                        /* 0 calling, 1 answering */
    struct msrp_relay_auth *auth;     /* while authenticating */
    struct net_conn *held;            /* authenticated, waiting for the other side */
    struct msrp_session *s;           /* once adopted */
    struct msrp_relay_auth_config cfg;
    char user[128];
    char use_path[MSRP_RELAY_USE_PATH_MAX];
    struct msrp_relay_refresh refresh;
    bool refreshing;
    struct net_timer refresh_timer;
    char local_uri[96];
    uint32_t granted;                 /* Expires of the relay's 200 (0: none) */
    bool ok, done;
};

struct relay_pair {
    struct worker *w;
    struct lsession *ls;              /* NULL once the slot has let go */
    struct relay_side side[2];
    unsigned refs;                    /* pending AUTHs + live sessions */
    uint64_t started_ns;
    uint64_t n;                       /* the session's number (answering seed) */
    bool connect_failed, auth_failed, held_closed; /* why the slot failed, for session_ends */
    struct msrp_trace *auth_trace;    /* the frames of the first AUTH that failed (forensics) */
    char first_error[256];
    char *to_path[2];                 /* the To-Path each side sends (and expects as From-Path) */
    struct msrp_session_config calling_cfg; /* the core's, for the calling session once adopted */
};

/* Frees the pair once nothing refers to it: no AUTH, held connection or session, no slot. */
static void relay_pair_put(struct relay_pair *rp)
{
    if (rp->refs > 0 || rp->ls != NULL)
        return;
    net_timer_stop(rp->w->loop, &rp->side[0].refresh_timer);
    net_timer_stop(rp->w->loop, &rp->side[1].refresh_timer);
    free(rp->to_path[0]);
    free(rp->to_path[1]);
    free(rp->auth_trace);
    free(rp);
}

static void relay_note(struct relay_pair *rp, const char *what)
{
    if (rp->first_error[0] == '\0')
        snprintf(rp->first_error, sizeof(rp->first_error), "%.255s", what);
}

/* An authenticated connection waiting for the other side's AUTH: bytes wait in its buffer. */
static size_t hold_data(struct net_conn *c, const char *buf, size_t len)
{
    (void)c;
    (void)buf;
    (void)len;
    return 0;
}

static void hold_close(struct net_conn *c, int err, const char *why)
{
    struct relay_side *side = net_conn_user(c);
    (void)err;
    if (side == NULL)
        return;
    char what[256];
    snprintf(what, sizeof(what),
             "relay %.100s, user %.60s: the connection closed after AUTH (%.40s)",
             side->cfg.relay_uri, side->user, why != NULL ? why : "closed");
    relay_note(side->rp, what);
    side->rp->held_closed = true;
    side->held = NULL;
    side->ok = false;
    side->rp->refs--;
    relay_pair_put(side->rp);
}

static const struct net_conn_handlers hold_handlers = {.on_data = hold_data,
                                                       .on_close = hold_close};
static const struct net_conn_handlers drop_handlers = {.on_data = hold_data};

static void release_held(struct relay_side *side)
{
    struct net_conn *c = side->held;
    if (c == NULL)
        return;
    side->held = NULL;
    net_conn_set_user(c, NULL);
    net_conn_set_handlers(c, &drop_handlers);
    net_conn_close(c, false);
    side->rp->refs--;
}

/* The slot lets go of its pair (the pair may live on until its sessions have ended). */
static void relay_detach(struct lsession *ls)
{
    struct relay_pair *rp = ls->topo;
    ls->topo = NULL;
    rp->ls = NULL;
    relay_pair_put(rp);
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
        unsigned kind = rp->connect_failed  ? MSRP_END_CONNECT_FAILED
                        : rp->auth_failed   ? RUNNER_END_AUTH_FAILED
                        : rp->held_closed   ? MSRP_END_PEER_CLOSED
                                            : RUNNER_END_LOCAL_ERROR;
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
    for (int i = 0; i < 2; i++) {
        struct relay_side *side = &rp->side[i];
        if (side->auth != NULL) {
            msrp_relay_auth_cancel(side->auth);
            side->auth = NULL;
            rp->refs--;
        }
        release_held(side);
    }
    relay_detach(ls);
    runner_slot_ended(ls);
}

/* The run stops while the slot is still authenticating: neither completed nor failed. */
static void relay_abandon(struct lsession *ls)
{
    relay_slot_end(ls, false);
}

static void relay_refresh_send(struct relay_side *side);
static void relay_pair_refresh_result(struct relay_side *side, bool closed,
                                      const struct msrp_chunk *response);

static void relay_refresh_fire(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    relay_refresh_send(t->arg);
}

/* Re-AUTH when two thirds of the granted lifetime have passed (at least a second from now). */
static void relay_refresh_schedule(struct relay_side *side, uint32_t expires)
{
    if (expires == 0)
        return;
    uint64_t delay = (uint64_t)expires * 2000000000ull / 3;
    if (delay < 1000000000ull)
        delay = 1000000000ull;
    net_timer_start(side->rp->w->loop, &side->refresh_timer, delay);
}

static void relay_refresh_failed(struct relay_side *side, const char *what)
{
    struct worker *w = side->rp->w;
    w->stats.relay_refresh_failed++;
    note_error(w, what);
}

static void relay_refresh_send(struct relay_side *side)
{
    if (side->s == NULL || side->refreshing)
        return;
    if (!msrp_session_bound(side->s)) {
        net_timer_start(side->rp->w->loop, &side->refresh_timer, 1000000000ull);
        return;
    }
    char buf[8192];
    size_t len = 0;
    int e = msrp_relay_refresh_request(&side->refresh, &side->cfg, buf, sizeof(buf), &len);
    if (e == 0)
        e = msrp_session_send_raw(side->s, buf, len, side->refresh.tid, side->refresh.tid_len,
                                  RELAY_REFRESH_TIMEOUT_NS, side);
    explicit_bzero(buf, sizeof(buf));
    if (e != 0) {
        char what[256];
        snprintf(what, sizeof(what), "relay %.120s, user %.64s: cannot send the refresh AUTH: %s",
                 side->cfg.relay_uri, side->user, strerror(e));
        relay_refresh_failed(side, what);
        return;
    }
    side->refreshing = true;
}

/* The outcome of a refresh AUTH sent on either session (on_raw_result). */
static void relay_pair_refresh_result(struct relay_side *side, bool closed,
                                      const struct msrp_chunk *response)
{
    side->refreshing = false;
    if (closed)
        return; /* the session is ending: its end is counted there */
    uint32_t expires = 0;
    char err[256];
    switch (msrp_relay_refresh_response(&side->refresh, &side->cfg, response, &expires, err,
                                        sizeof(err))) {
    case MSRP_RELAY_REFRESH_DONE:
        side->rp->w->stats.relay_refresh_ok++;
        relay_refresh_schedule(side, expires);
        break;
    case MSRP_RELAY_REFRESH_AGAIN:
        relay_refresh_send(side);
        break;
    case MSRP_RELAY_REFRESH_FAILED:
        relay_refresh_failed(side, err);
        break;
    }
}

/* The answering end through the relay: it only answers, and its pair learns when it ends. */
static void relay_answer_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    (void)why;
    (void)detail;
    struct relay_side *side = msrp_session_user(s);
    struct relay_pair *rp = side->rp;
    side->s = NULL;
    net_timer_stop(rp->w->loop, &side->refresh_timer);
    rp->refs--;
    relay_pair_put(rp);
}

static void relay_answer_raw(struct msrp_session *s, void *cookie, int status, bool closed,
                             const struct msrp_chunk *response)
{
    (void)status;
    struct relay_side *side = msrp_session_user(s);
    if (cookie == side)
        relay_pair_refresh_result(side, closed, response);
}

static void relay_answer_received(struct msrp_session *s, const struct msrp_received *m)
{
    struct relay_side *side = msrp_session_user(s);
    struct worker *w = side->rp->w;
    uint64_t now = net_now_ns();
    runner_count_delivery(w, m, now);
    runner_delivered(w, m->info->message_id, now);
    runner_answer_cpim(w, s, m);
}

/* send.file with answer.check_sha256: each piece hashed in file order (runner_file.c). */
static void relay_answer_piece(struct msrp_session *s, struct msrp_span mid, uint64_t pos,
                               const char *p, size_t len, char flag)
{
    struct relay_side *side = msrp_session_user(s);
    runner_file_piece(side->rp->w, mid, pos, p, len, flag);
}

static const struct msrp_session_handlers relay_answer_handlers = {
    .on_received = relay_answer_received,
    .on_piece = relay_answer_piece,
    .on_end = relay_answer_end,
    .on_raw_result = relay_answer_raw,
};

/* The calling session ended (on_end): the answering end closes too, the slot lets go. */
static void relay_session_ended(struct lsession *ls)
{
    struct relay_pair *rp = ls->topo;
    if (rp == NULL)
        return;
    struct relay_side *side = &rp->side[0];
    net_timer_stop(rp->w->loop, &side->refresh_timer);
    if (side->s != NULL) {
        side->s = NULL;
        rp->refs--;
    }
    if (rp->side[1].s != NULL)
        msrp_session_close(rp->side[1].s);
    relay_detach(ls);
}

/*
 * Both AUTHs are over. On success each side's path is the relay's Use-Path for it: the caller
 * sends to its own relay path, then the answerer's (RFC 4976 section 5.1: To-Path = the sender's
 * Use-Path + the peer's Use-Path + the peer's URI), and the relays deliver the reverse list as
 * From-Path, which is what each session expects from its peer.
 */
static void relay_pair_ready(struct relay_pair *rp)
{
    struct lsession *ls = rp->ls;
    if (ls == NULL)
        return;
    struct relay_side *a = &rp->side[0], *b = &rp->side[1];
    if (!a->ok || !b->ok) {
        relay_slot_end(ls, true);
        return;
    }
    struct worker *w = rp->w;
    for (int i = 0; i < 2; i++) {
        const struct relay_side *me = &rp->side[i], *peer = &rp->side[1 - i];
        const char *mine = me->use_path;
        struct relay_state *st = w->topo_state;
        if (i == 0 && msrp_session_violation_id(w->cfg->violate) == MSRP_VIOLATE_REUSE_RELAY_URI) {
            if (st->first_use_path[0] == '\0')
                snprintf(st->first_use_path, sizeof(st->first_use_path), "%s", me->use_path);
            mine = st->first_use_path;
        }
        /* run's hidden --violate to-path-no-port: the peer's URI without its port (RFC 4976
         * section 8, conform --listen --as-relay's proof) */
        char bare[sizeof(peer->local_uri)];
        const char *peer_uri = peer->local_uri;
        if (msrp_session_violation_id(w->cfg->violate) == MSRP_VIOLATE_TO_PATH_NO_PORT)
            peer_uri = msrp_violate_own_uri(MSRP_VIOLATE_URI_NO_PORT, peer_uri, bare,
                                            sizeof(bare));
        size_t n = strlen(mine) + strlen(peer->use_path) + strlen(peer_uri) + 3;
        rp->to_path[i] = malloc(n);
        if (rp->to_path[i] != NULL)
            snprintf(rp->to_path[i], n, "%s %s %s", mine, peer->use_path, peer_uri);
    }
    if (rp->to_path[0] == NULL || rp->to_path[1] == NULL) {
        relay_note(rp, "out of memory");
        relay_slot_end(ls, true);
        return;
    }
    struct msrp_session_config acfg;
    runner_answer_config(w, ls, rp->n, &acfg);
    acfg.peer_path = rp->to_path[1];
    struct net_conn *c = b->held;
    b->held = NULL; /* its reference passes to the session */
    int e = msrp_session_adopt(c, &acfg, false, &relay_answer_handlers, b, &b->s);
    if (e != 0 || b->s == NULL) {
        if (e != 0)
            rp->refs--;
        char what[128];
        snprintf(what, sizeof(what), "cannot start the answering session: %s", strerror(e));
        relay_note(rp, what);
        relay_slot_end(ls, true);
        return;
    }
    struct msrp_session_config cfg = rp->calling_cfg;
    cfg.peer_path = rp->to_path[0];
    c = a->held;
    a->held = NULL;
    e = msrp_session_adopt(c, &cfg, true, &runner_calling_handlers, ls, &a->s);
    if (e != 0) {
        rp->refs--;
        char what[128];
        snprintf(what, sizeof(what), "cannot start the calling session: %s", strerror(e));
        relay_note(rp, what);
        relay_slot_end(ls, true);
        return;
    }
    if (a->s == NULL)
        return; /* on_end has run already */
    ls->s = a->s;
    relay_refresh_schedule(a, a->granted);
    relay_refresh_schedule(b, b->granted);
}

static void relay_auth_done(struct msrp_relay_auth *auth, const struct msrp_relay_auth_result *r,
                            void *user)
{
    (void)auth;
    struct relay_side *side = user;
    struct relay_pair *rp = side->rp;
    struct worker *w = rp->w;
    uint64_t now = net_now_ns();
    side->auth = NULL;
    side->done = true;
    rp->refs--;
    if (r->ok) {
        w->stats.relay_auth_ok++;
        if (counting(w, now)) {
            histogram_record(&w->stats.lat[LAT_AUTH], (now - rp->started_ns) / 1000);
            /* Connect and handshake figures are the calling side's, as in other topologies. */
            if (side->index == 0 && r->connected_ns >= rp->started_ns) {
                histogram_record(&w->stats.lat[LAT_CONNECT],
                                 (r->connected_ns - rp->started_ns) / 1000);
                runner_record_handshakes(w, w->sc->end_transport[SCENARIO_CALLER],
                                         r->connected_ns, r->secured_ns, r->open_ns);
            }
        }
        side->ok = true;
        snprintf(side->use_path, sizeof(side->use_path), "%s", r->use_path);
        /* A refresh asks again for what was asked for, before the lifetime granted ends. */
        msrp_relay_refresh_init(&side->refresh, r, side->cfg.expires);
        side->granted = r->expires;
        if (r->expires > w->stats.relay_expires_max) /* run --relay-state-grace expires */
            w->stats.relay_expires_max = r->expires;
        side->held = r->conn;
        rp->refs++;
        net_conn_set_user(r->conn, side);
        net_conn_set_handlers(r->conn, &hold_handlers);
    } else {
        w->stats.relay_auth_failed++;
        /* TCP, TLS or the WebSocket upgrade never came up */
        if (r->connected_ns == 0 || r->secured_ns == 0 || r->open_ns == 0)
            rp->connect_failed = true;
        else
            rp->auth_failed = true;
        relay_note(rp, r->error);
        /* Its frames, for errors.jsonl: the exchange is freed when this returns. */
        if (rp->auth_trace == NULL && r->trace != NULL &&
            (rp->auth_trace = malloc(sizeof(*rp->auth_trace))) != NULL)
            *rp->auth_trace = *r->trace;
    }
    if (rp->side[1 - side->index].auth != NULL) {
        relay_pair_put(rp);
        return; /* the other side is still on its way */
    }
    rp->refs++; /* alive through relay_pair_ready, which may end the slot and let go */
    relay_pair_ready(rp);
    rp->refs--;
    relay_pair_put(rp);
}

/* Formats the AUTH user for one side of session number n (README "Relays": accounts); run
 * --data's user column, when there is one, names each account instead. */
static void relay_user_for(const struct worker *w, uint64_t n, int side, char *out, size_t cap)
{
    const struct scenario *sc = w->sc;
    size_t row = runner_data_row(w, n, side);
    if (row != SIZE_MAX && sc->data->col_user >= 0) {
        snprintf(out, cap, "%s", scenario_data_cells(sc->data, row)[sc->data->col_user].ptr);
        return;
    }
    uint64_t users = sc->relay.users > 0 ? sc->relay.users : 1;
    /* With --shard I/N each host takes its own slice of the accounts. */
    uint64_t base = 0, span = users;
    if (w->cfg->shard_count > 1) {
        base = users * (w->cfg->shard_index - 1) / w->cfg->shard_count;
        span = users * w->cfg->shard_index / w->cfg->shard_count - base;
        if (span == 0)
            span = 1;
    }
    uint64_t global = n * w->nworkers + (uint64_t)w->index;
    uint64_t account = base + (2 * global + (uint64_t)side) % span;
    scenario_relay_user_format(sc->relay.user, account, out, cap);
}

/* Returns 0, or an errno value (its AUTHs could not start; the error is noted). */
static int relay_pair_start(struct worker *w, struct lsession *ls, uint64_t n,
                            const struct msrp_session_config *calling_cfg)
{
    const struct scenario *sc = w->sc;
    const struct relay_state *st = w->topo_state;
    struct relay_pair *rp = calloc(1, sizeof(*rp));
    if (rp == NULL)
        return ENOMEM;
    rp->w = w;
    rp->ls = ls;
    rp->started_ns = net_now_ns();
    rp->n = n;
    rp->calling_cfg = *calling_cfg;
    ls->topo = rp;
    for (int i = 0; i < 2; i++) {
        struct relay_side *side = &rp->side[i];
        side->rp = rp;
        side->index = i;
        side->refresh_timer.fn = relay_refresh_fire;
        side->refresh_timer.arg = side;
        snprintf(side->local_uri, sizeof(side->local_uri), "%s",
                 i == 0 ? ls->local_uri : ls->expect_uri);
        relay_user_for(w, n, i, side->user, sizeof(side->user));
        struct msrp_relay_auth_config *c = &side->cfg;
        enum scenario_transport t = sc->end_transport[i];
        const struct relay_addr *at = &st->at[scenario_transport_ws(t)];
        c->relay_uri = at->uri;
        c->addr = at->addr;
        c->addr_len = at->len;
        c->tls = scenario_transport_secure(t) ? w->cfg->client_tls : NULL;
        c->transport = scenario_transport_ws(t) ? &st->ws_setup : NULL;
        c->sni = at->host[0] ? at->host : NULL;
        c->username = side->user;
        c->password = w->cfg->relay_password;
        size_t row = runner_data_row(w, n, i); /* run --data's password column: the account's */
        if (row != SIZE_MAX && sc->data->col_password >= 0)
            c->password = scenario_data_cells(sc->data, row)[sc->data->col_password].ptr;
        c->local_uri = side->local_uri;
        c->expires = sc->relay.expires;
        c->timeout_ns = RELAY_AUTH_TIMEOUT_NS;
        c->read_buffer = msrp_session_read_buffer();
        c->violate = (int)msrp_session_violation_id(w->cfg->violate); /* run's hidden --violate */
    }
    for (int i = 0; i < 2; i++) {
        struct relay_side *side = &rp->side[i];
        int e = msrp_relay_auth_start(w->loop, &side->cfg, relay_auth_done, side, &side->auth);
        if (e != 0) {
            char what[256];
            snprintf(what, sizeof(what), "relay %.120s, user %.64s: cannot start AUTH: %s",
                     side->cfg.relay_uri, side->user, strerror(e));
            note_error(w, what);
            if (i == 1) {
                msrp_relay_auth_cancel(rp->side[0].auth);
                rp->refs--;
            }
            ls->topo = NULL;
            free(rp);
            return e;
        }
        rp->refs++;
    }
    return 0;
}

/* ---- the topology's operations ----------------------------------------------------------- */

/* One of the relay's addresses, resolved. The host goes to TLS as the name to check (an
 * address literal is checked against the certificate's IP names, and sent as no SNI). */
static int relay_resolve(struct relay_addr *at, const char *uri, const struct msrp_uri *parsed,
                         char *err, size_t errlen)
{
    struct msrp_uri_addr a; /* the URI as the scenario layer parsed it, once */
    at->uri = uri;
    if (msrp_uri_resolve_parsed(parsed, uri, &a, NULL, 0) != 0) {
        snprintf(err, errlen, "%s: cannot resolve %s", uri, a.host);
        return -1;
    }
    snprintf(at->host, sizeof(at->host), "%s", a.host);
    at->addr = a.addr;
    at->len = a.addr_len;
    return 0;
}

/* The relay's URIs are parsed and resolved once per worker, here, never per session. */
static int relay_init(struct worker *w, char *err, size_t errlen)
{
    const struct scenario *sc = w->sc;
    struct relay_state *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->topo_state = st;
    bool ws_end = false, tcp_end = false;
    for (int i = 0; i < 2; i++) {
        ws_end = ws_end || scenario_transport_ws(sc->end_transport[i]);
        tcp_end = tcp_end || !scenario_transport_ws(sc->end_transport[i]);
    }
    if (tcp_end && relay_resolve(&st->at[0], sc->relay.uri, &sc->relay.parsed, err, errlen) != 0)
        return -1;
    if (!ws_end)
        return 0;
    if (relay_resolve(&st->at[1], sc->relay.ws_msrp_uri, &sc->relay.ws_parsed, err, errlen) != 0)
        return -1;
    /* The upgrade's Host is the relay's host and port as the URI gives them. */
    const struct msrp_uri *u = &sc->relay.ws_parsed;
    bool v6 = u->host_type == MSRP_HOST_IPV6;
    char host[300];
    snprintf(host, sizeof(host), "%s%.*s%s:%u", v6 ? "[" : "", (int)u->host.len, u->host.ptr,
             v6 ? "]" : "", u->has_port ? (unsigned)u->port : 2855u);
    struct net_transport_setup below = sc->relay.ws_secure ? net_transport_tls(w->cfg->client_tls)
                                                           : net_transport_tcp();
    /* One chunk per WebSocket message (RFC 7977 5.1): the chunk end finder says where. */
    struct net_ws_opts o = {.path = sc->relay.ws_path,
                            .host = host,
                            .boundary = msrp_ws_boundary};
    st->ws_setup = net_transport_ws(&st->ws, &below, &o);
    return 0;
}

/*
 * Both ends are ours and reach each other through the relay: the answering end's URI names no
 * listener (the relay delivers down its own connection). The calling session starts when both
 * AUTHs are over (relay_pair_ready), with the core's *cfg kept in the pair until then.
 */
static int relay_start(struct lsession *ls, uint64_t n, struct msrp_session_config *cfg,
                       struct topology_failure *why)
{
    runner_name_answering_end(ls, 9, n, true);
    runner_slot_begin(ls);
    int e = relay_pair_start(ls->w, ls, n, cfg);
    if (e != 0) {
        why->what = "cannot start its AUTHs";
        const struct scenario *sc = ls->w->sc;
        why->peer = scenario_transport_ws(sc->end_transport[SCENARIO_CALLER]) ? sc->relay.ws_uri
                                                                             : sc->relay.uri;
    }
    return e;
}

static bool relay_raw_result(struct lsession *ls, void *cookie, bool closed,
                             const struct msrp_chunk *response)
{
    struct relay_pair *rp = ls->topo;
    if (rp == NULL || cookie != &rp->side[0])
        return false;
    relay_pair_refresh_result(&rp->side[0], closed, response);
    return true;
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
