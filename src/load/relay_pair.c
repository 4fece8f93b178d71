/*
 * relay_pair.c - the two ends of one load session through an RFC 4976 relay (relay_pair.h):
 * their AUTHs, held connections, adoption as sessions, refreshes and the answering end's
 * handlers; shared by the relay topology and the sip topology through a relay.
 *
 * Owns: the pairs (freed when nothing refers to them) and the relay's resolved addresses.
 * May not touch: the slot's counting and its end (the topology's), the steps, the clock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load/relay_pair.h"
#include "msrp/uri_addr.h"
#include "msrp/violate.h"
#include "net/conn.h"
#include "wire/uri.h"

#define RELAY_AUTH_TIMEOUT_NS (10ull * 1000000000ull)
#define RELAY_REFRESH_TIMEOUT_NS (10ull * 1000000000ull)

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

bool relay_pair_authed(const struct relay_pair *rp)
{
    return rp->side[0].ok && rp->side[1].ok && rp->side[0].held != NULL &&
           rp->side[1].held != NULL;
}

unsigned relay_pair_fail_kind(const struct relay_pair *rp)
{
    return rp->connect_failed ? MSRP_END_CONNECT_FAILED
           : rp->auth_failed  ? RUNNER_END_AUTH_FAILED
           : rp->held_closed  ? MSRP_END_PEER_CLOSED
                              : RUNNER_END_LOCAL_ERROR;
}

void relay_pair_stop(struct relay_pair *rp)
{
    for (int i = 0; i < 2; i++) {
        struct relay_side *side = &rp->side[i];
        if (side->auth != NULL) {
            msrp_relay_auth_cancel(side->auth);
            side->auth = NULL;
            rp->refs--;
        }
        release_held(side);
    }
}

void relay_pair_release(struct relay_pair *rp)
{
    rp->ls = NULL;
    relay_pair_put(rp);
}

/* The relay topology's To-Paths, both ends being ours: each side's Use-Path, then the peer's
 * a=path as it would give it (its Use-Path and URI: RFC 4976 section 5.1, To-Path = the
 * sender's Use-Path + the peer's path attribute); the relays deliver the reverse list as
 * From-Path, which is what each session expects from its peer. */
static int own_to_paths(struct relay_pair *rp)
{
    struct worker *w = rp->w;
    for (int i = 0; i < 2; i++) {
        const struct relay_side *me = &rp->side[i], *peer = &rp->side[1 - i];
        const char *mine = me->use_path;
        struct relay_state *st = rp->st;
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
    return rp->to_path[0] != NULL && rp->to_path[1] != NULL ? 0 : -1;
}

int relay_pair_adopt(struct relay_pair *rp, const char *const to_path[2])
{
    struct lsession *ls = rp->ls;
    struct relay_side *a = &rp->side[0], *b = &rp->side[1];
    if (ls == NULL || !relay_pair_authed(rp)) {
        relay_note(rp, "the relay's connections are gone");
        return -1;
    }
    struct worker *w = rp->w;
    int paths = 0;
    if (to_path == NULL) {
        paths = own_to_paths(rp);
    } else {
        for (int i = 0; i < 2; i++)
            if ((rp->to_path[i] = strdup(to_path[i])) == NULL)
                paths = -1;
    }
    if (paths != 0) {
        relay_note(rp, "out of memory");
        return -1;
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
        return -1;
    }
    struct msrp_session_config cfg = rp->calling_cfg;
    cfg.peer_path = rp->to_path[0];
    c = a->held;
    a->held = NULL;
    /* Held across the adopt: the calling session may end inside it (its binding SEND failing),
     * and the slot's let-go with it would free the pair under us. */
    rp->refs++;
    e = msrp_session_adopt(c, &cfg, true, rp->calling_handlers, ls, &a->s);
    rp->refs--;
    if (e != 0) {
        rp->refs--;
        char what[128];
        snprintf(what, sizeof(what), "cannot start the calling session: %s", strerror(e));
        relay_note(rp, what);
        return -1;
    }
    if (a->s == NULL) {
        relay_pair_put(rp); /* on_end has run already, and the slot may have let go */
        return 0;
    }
    ls->s = a->s;
    relay_refresh_schedule(a, a->granted);
    relay_refresh_schedule(b, b->granted);
    return 0;
}

void relay_pair_calling_ended(struct relay_pair *rp)
{
    struct relay_side *side = &rp->side[0];
    net_timer_stop(rp->w->loop, &side->refresh_timer);
    if (side->s != NULL) {
        side->s = NULL;
        rp->refs--;
    }
    if (rp->side[1].s != NULL)
        msrp_session_close(rp->side[1].s);
}

bool relay_pair_raw_result(struct relay_pair *rp, void *cookie, bool closed,
                           const struct msrp_chunk *response)
{
    if (cookie != &rp->side[0])
        return false;
    relay_pair_refresh_result(&rp->side[0], closed, response);
    return true;
}

/* RFC 4976 section 5.1 (no keyword): "To form the SDP path attribute to provide to the peer,
 * the client reverses the list of URIs in the Use-Path header (after the outermost
 * authentication), and appends the client's own URI." */
int relay_pair_sdp_path(const struct relay_pair *rp, int i, char *out, size_t cap)
{
    const struct relay_side *side = &rp->side[i];
    const char *up = side->use_path;
    size_t len = strlen(up), at = 0;
    out[0] = '\0';
    /* URIs from the last to the first, each followed by a space */
    for (size_t end = len; end > 0;) {
        while (end > 0 && up[end - 1] == ' ')
            end--;
        size_t start = end;
        while (start > 0 && up[start - 1] != ' ')
            start--;
        if (end == start)
            break;
        int k = snprintf(out + at, cap - at, "%.*s ", (int)(end - start), up + start);
        if (k < 0 || (size_t)k >= cap - at)
            return ENOSPC;
        at += (size_t)k;
        end = start;
    }
    int k = snprintf(out + at, cap - at, "%s", side->local_uri);
    return k < 0 || (size_t)k >= cap - at ? ENOSPC : 0;
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
    rp->refs++; /* alive through ready(), which may end the slot and let go */
    if (rp->ls != NULL)
        rp->ready(rp, rp->ready_user);
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
int relay_pair_start(struct relay_state *st, struct worker *w, struct lsession *ls, uint64_t n,
                     const struct msrp_session_config *calling_cfg,
                     const struct msrp_session_handlers *calling_handlers,
                     relay_pair_ready_fn ready, void *user, struct relay_pair **out)
{
    const struct scenario *sc = w->sc;
    struct relay_pair *rp = calloc(1, sizeof(*rp));
    if (rp == NULL)
        return ENOMEM;
    rp->w = w;
    rp->st = st;
    rp->ls = ls;
    rp->started_ns = net_now_ns();
    rp->n = n;
    rp->calling_cfg = *calling_cfg;
    rp->calling_handlers = calling_handlers;
    rp->ready = ready;
    rp->ready_user = user;
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
            free(rp);
            return e;
        }
        rp->refs++;
    }
    *out = rp;
    return 0;
}

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
int relay_pair_state_init(struct relay_state *st, const struct scenario *sc,
                     const struct run_config *cfg, char *err, size_t errlen)
{
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
    struct net_transport_setup below = sc->relay.ws_secure ? net_transport_tls(cfg->client_tls)
                                                           : net_transport_tcp();
    /* One chunk per WebSocket message (RFC 7977 5.1): the chunk end finder says where. */
    struct net_ws_opts o = {.path = sc->relay.ws_path,
                            .host = host,
                            .boundary = msrp_ws_boundary};
    st->ws_setup = net_transport_ws(&st->ws, &below, &o);
    return 0;
}

