/*
 * session.c - the core of an MSRP session endpoint (RFC 4975 sections 5-8): its life cycle
 * (created by connect, accept or adopt; ended once; freed when no callback of ours is on the
 * stack), the connection's open, drain and close handlers (its reads go to session_in.c), the
 * bind, idle and stall timers, the accessors of session.h, and the names of the wrong test
 * peer (MSRP_VIOLATIONS), parsed once per session.
 *
 * Owns: struct msrp_session's life cycle and connection, the per-thread id generator and live
 * sessions. May not touch: how chunks are cut, sent or settled (session_out.c), how what is
 * read is framed, checked and answered (session_in.c); it calls their session__ functions
 * (session_int.h), and of net/ nothing but its API.
 */
#include "msrp/session.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msrp/session_int.h"
#include "msrp/peerrules.h"
#include "net/transport.h"
#include "wire/chunk_end.h"
#include "wire/hash.h"
#include "wire/idgen.h"

const struct net_ws_boundary msrp_ws_boundary = {.find_end = msrp_chunk_end_find,
                                                 .lost = msrp_chunk_end_lost,
                                                 .state_size = sizeof(struct msrp_chunk_end_scan)};

#define SEGMENT_CAP (64 * 1024)

/*
 * Per-thread state shared by every session of a loop: the id generator's 4 KiB pool is needed
 * only while a chunk is being made, never between calls, so an idle session does not pay for
 * it (the header array for reading is session_in.c's).
 */
_Thread_local struct msrp_idgen session__idgen;
_Thread_local bool session__idgen_ready;
static _Thread_local struct msrp_session *thread_live;

static void live_add(struct msrp_session *s)
{
    s->next_live = thread_live;
    if (thread_live != NULL)
        thread_live->prev_live = s;
    thread_live = s;
}

static void live_remove(struct msrp_session *s)
{
    if (s->prev_live != NULL)
        s->prev_live->next_live = s->next_live;
    else if (thread_live == s)
        thread_live = s->next_live;
    if (s->next_live != NULL)
        s->next_live->prev_live = s->prev_live;
    s->prev_live = s->next_live = NULL;
}

struct msrp_idgen *session__ids_init(void)
{
    if (msrp_idgen_init(&session__idgen) != 0)
        return NULL;
    session__idgen_ready = true;
    return &session__idgen;
}

const char *msrp_session_end_name(enum msrp_session_end e)
{
    switch (e) {
    case MSRP_END_NONE:
        return "none";
    case MSRP_END_CLOSED:
        return "closed";
    case MSRP_END_PEER_CLOSED:
        return "peer-closed";
    case MSRP_END_CONNECT_FAILED:
        return "connect-failed";
    case MSRP_END_BIND_TIMEOUT:
        return "bind-timeout";
    case MSRP_END_BIND_REJECTED:
        return "bind-rejected";
    case MSRP_END_PROTOCOL:
        return "protocol-error";
    case MSRP_END_WRITE_OVERFLOW:
        return "write-overflow";
    case MSRP_END_IDLE_TIMEOUT:
        return "idle-timeout";
    }
    return "unknown";
}

void msrp_session_config_default(struct msrp_session_config *c)
{
    memset(c, 0, sizeof(*c));
    c->response_timeout_ns = MSRP_DEFAULT_RESPONSE_TIMEOUT_NS;
    c->bind_timeout_ns = 30ull * 1000000000ull;
    c->chunk_size = 2048;
    c->accept_types = "*";
    c->reasm.max_buffered = 16u << 20;
    c->reasm.max_messages = 64;
    c->reasm.max_message = 1ull << 40;
    c->stall_timeout_ns = 60ull * 1000000000ull;
}

/* ---- lifetime ----------------------------------------------------------------------------- */

static void release(struct msrp_session *s)
{
    void (*fn)(void *) = s->on_release;
    s->on_release = NULL;
    if (fn != NULL)
        fn(s->release_arg);
}

static void session_free(struct msrp_session *s)
{
    release(s);
    live_remove(s);
    /* session_end has reported every raw send; this only covers a session that never ran. */
    while (s->raws != NULL) {
        struct raw_wait *r = s->raws;
        s->raws = r->next;
        net_timer_stop(s->loop, &r->timer);
        free(r);
    }
    for (uint32_t i = 0; i < s->tx_cap; i++)
        net_timer_stop(s->loop, &session__tx_at(s, i)->timer);
    for (uint32_t b = 0; b < s->tx_cap / TX_BLOCK; b++)
        free(s->tx_blocks[b]);
    free(s->tx_blocks);
    struct out_msg *m = s->all;
    while (m != NULL) {
        struct out_msg *next = m->next_all;
        if (m->owns_body)
            free((void *)m->body);
        free(m->scratch);
        free(m);
        m = next;
    }
    net_timer_stop(s->loop, &s->bind_timer);
    net_timer_stop(s->loop, &s->idle_timer);
    net_timer_stop(s->loop, &s->stall_timer);
    session__delayed_free_all(s);
    msrp_reasm_destroy(s->reasm);
    msrp_bodies_destroy(s->bodies);
    free(s->local_text);
    free(s->peer_text);
    free(s->scratch_path);
    free(s->accept_types);
    free(s->trace);
    free(s->peer_rules);
    free(s);
}

/* Keeps what the connection knows (times, byte counts) for after it is gone. */
static void note_conn(struct msrp_session *s, const struct net_conn *c)
{
    s->timing.connected_ns = net_conn_connected_ns(c);
    s->timing.secured_ns = net_conn_secured_ns(c);
    s->timing.open_ns = net_conn_open_ns(c);
    s->peer_close_code = net_conn_peer_close_code(c);
    s->wire_in = net_conn_bytes_in(c);
    s->wire_out = net_conn_bytes_out(c);
    snprintf(s->peer_addr, sizeof(s->peer_addr), "%s", net_conn_peer(c));
}

/*
 * Ends the session once: outstanding messages are reported as failed with the cause, the
 * owner hears why, the connection is closed. The memory goes when no callback of ours is on
 * the stack.
 */
void session__end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    if (s->ended)
        return;
    s->ended = true;
    s->state = S_ENDED;
    /* Kept for msrp_session_end_detail(): the outcomes reported below may want to say why. */
    if (detail != NULL && detail != s->end_detail)
        snprintf(s->end_detail, sizeof(s->end_detail), "%s", detail);
    net_timer_stop(s->loop, &s->bind_timer);
    net_timer_stop(s->loop, &s->idle_timer);
    net_timer_stop(s->loop, &s->stall_timer);
    s->busy++;
    for (uint32_t i = 0; i < s->tx_cap; i++)
        net_timer_stop(s->loop, &session__tx_at(s, i)->timer);
    session__delayed_free_all(s);
    /* Every message not reported yet is lost with the connection: status 0, local. */
    uint64_t now = net_now_ns();
    for (struct out_msg *m = s->all; m != NULL; m = m->next_all) {
        if (m->is_bind || s->h->on_sent == NULL)
            continue;
        struct msrp_sent r = {.cookie = m->cookie,
                              .message_id = m->message_id,
                              .status = 0,
                              .local = true,
                              .aborted = m->aborted, /* its "#" had left */
                              .bytes = m->len,
                              .chunks = m->chunks,
                              .first_sent_ns = m->first_sent_ns,
                              .done_ns = now};
        s->h->on_sent(s, &r);
    }
    /* Raw sends still waiting learn that the connection went before their answer did. */
    while (s->raws != NULL)
        session__raw_finish(s, s->raws, 0, true, NULL);
    if (s->conn != NULL) {
        struct net_conn *c = s->conn;
        note_conn(s, c);
        s->conn = NULL;
        net_conn_set_user(c, NULL);
        net_conn_close(c, why == MSRP_END_CLOSED && !s->aborting);
    }
    release(s);
    if (s->h->on_end != NULL)
        s->h->on_end(s, why, detail != NULL ? detail : "");
    s->busy--;
    if (s->busy == 0)
        session_free(s);
    else
        s->free_when_idle = true;
}

void session__leave(struct msrp_session *s)
{
    s->busy--;
    if (s->busy == 0 && s->free_when_idle)
        session_free(s);
}

/* ---- the wrong test peer (cfg.violate) ---------------------------------------------------- */

/* The names of MSRP_VIOLATIONS (session.h), in the order of enum msrp_violation_id. */
const char *const msrp_session_violations[] = {
#define MSRP_VIOLATION_NAME(ident, name) name,
    MSRP_VIOLATIONS(MSRP_VIOLATION_NAME)
#undef MSRP_VIOLATION_NAME
    NULL};

enum msrp_violation_id msrp_session_violation_id(const char *name)
{
    if (name == NULL)
        return MSRP_VIOLATE_NONE;
    for (size_t i = 0; msrp_session_violations[i] != NULL; i++)
        if (strcmp(msrp_session_violations[i], name) == 0)
            return (enum msrp_violation_id)(i + 1);
    return MSRP_VIOLATE_NONE;
}

bool msrp_session_violation_known(const char *name)
{
    return msrp_session_violation_id(name) != MSRP_VIOLATE_NONE;
}

static void stalled(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct msrp_session *s = t->arg;
    snprintf(s->end_detail, sizeof(s->end_detail),
             "%s: the peer has not read our responses for %.1f s (%zu bytes queued)",
             net_conn_peer(s->conn), (double)s->cfg.stall_timeout_ns / 1e9,
             net_conn_queued(s->conn));
    session__end(s, MSRP_END_WRITE_OVERFLOW, s->end_detail);
}

/*
 * Answering side: a peer that does not read what we answer must not make us queue without
 * bound, so its input waits (its own sends then block in TCP) until our output drains
 * (session_drain), or the session ends when it stays stuck. The calling side always reads:
 * one side that does keeps two endpoints from waiting on each other.
 */
void session__pause_reading(struct msrp_session *s)
{
    if (s->paused)
        return;
    s->paused = true;
    net_conn_set_reading(s->conn, false);
    if (s->cfg.stall_timeout_ns > 0)
        net_timer_start(s->loop, &s->stall_timer, s->cfg.stall_timeout_ns);
}

static void idle_check(struct net_loop *loop, struct net_timer *t)
{
    struct msrp_session *s = t->arg;
    /* Not reading (a peer that does not read us) is the stall timer's business. */
    if (s->progress != s->progress_seen || s->paused) {
        s->progress_seen = s->progress;
        s->idle_quarters = 0;
    } else if (++s->idle_quarters >= 4) {
        snprintf(
            s->end_detail, sizeof(s->end_detail), "%s: no complete chunk for %.1f s (idle timeout)",
            s->conn != NULL ? net_conn_peer(s->conn) : "?", (double)s->cfg.idle_timeout_ns / 1e9);
        session__end(s, MSRP_END_IDLE_TIMEOUT, s->end_detail);
        return;
    }
    net_timer_start(loop, t, s->cfg.idle_timeout_ns / 4);
}

/* ---- connection events -------------------------------------------------------------------- */

static void session_open(struct net_conn *conn)
{
    struct msrp_session *s = net_conn_user(conn);
    if (s == NULL)
        return;
    s->busy++;
    if (s->calling) {
        /* RFC 4975 section 5.4: the caller binds with a SEND at once, empty if need be. */
        s->state = S_BINDING;
        session__send_bind(s);
    }
    session__leave(s);
}

static void session_drain(struct net_conn *conn)
{
    struct msrp_session *s = net_conn_user(conn);
    if (s == NULL)
        return;
    s->busy++;
    if (s->paused) {
        s->paused = false;
        net_timer_stop(s->loop, &s->stall_timer);
        net_conn_set_reading(conn, true);
    }
    session__pump(s);
    if (!s->ended && !net_conn_congested(conn) && s->h->on_writable != NULL) {
        s->h->on_writable(s);
        /* msrp_session_send() leaves the pumping to us while we are busy: without this, what
         * the owner queued here would wait for the next read, which may never come. */
        if (!s->ended)
            session__pump(s);
    }
    session__leave(s);
}

static void session_closed(struct net_conn *conn, int err, const char *why)
{
    struct msrp_session *s = net_conn_user(conn);
    if (s == NULL)
        return;
    note_conn(s, conn);
    s->conn = NULL;
    enum msrp_session_end e = MSRP_END_PEER_CLOSED;
    if (s->state == S_CONNECTING)
        e = MSRP_END_CONNECT_FAILED;
    else if (err == EMSGSIZE)
        e = MSRP_END_PROTOCOL;
    /* "read failed" says more with its reason; "connection refused" and others say it all */
    if (err != 0 && err != EMSGSIZE && err != ECONNREFUSED && err != ETIMEDOUT && err != EPROTO)
        snprintf(s->end_detail, sizeof(s->end_detail), "%s: %s (%s)", net_conn_peer(conn), why,
                 strerror(err));
    else
        snprintf(s->end_detail, sizeof(s->end_detail), "%s: %s", net_conn_peer(conn), why);
    session__end(s, s->state == S_CLOSING && err == 0 ? MSRP_END_CLOSED : e, s->end_detail);
}

static const struct net_conn_handlers conn_handlers = {
    .on_open = session_open,
    .on_data = session__data,
    .on_drain = session_drain,
    .on_close = session_closed,
};

static void bind_timeout(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct msrp_session *s = t->arg;
    session__end(s, MSRP_END_BIND_TIMEOUT, "the peer did not bind in time");
}

static void session_limits(struct msrp_limits *lim);

static struct msrp_session *session_new(struct net_loop *loop,
                                        const struct msrp_session_config *cfg,
                                        const struct msrp_session_handlers *h, void *user,
                                        int *err)
{
    struct msrp_session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        *err = ENOMEM;
        return NULL;
    }
    s->loop = loop;
    s->cfg = *cfg;
    s->violation = msrp_session_violation_id(cfg->violate);
    s->h = h;
    s->user = user;
    s->tx_free = UINT32_MAX;
    *err = EINVAL;
    if (cfg->local_uri == NULL || strlen(cfg->local_uri) > MSRP_URI_MAX)
        goto err;
    s->local_text = strdup(cfg->local_uri);
    if (s->local_text == NULL ||
        msrp_uri_parse(s->local_text, strlen(s->local_text), &s->local) != MSRP_URI_OK)
        goto err;
    if (cfg->peer_path != NULL) {
        size_t n = strlen(cfg->peer_path);
        if (n >= PATH_MAX_TEXT || msrp_uri_list_count(msrp_span_make(cfg->peer_path, n)) < 1)
            goto err;
        s->peer_text = strdup(cfg->peer_path);
        if (s->peer_text == NULL)
            goto err;
        s->peer_len = n;
        s->have_peer = true;
    }
    /* The answering behaviour for load tests must make sense before a session starts. */
    if (cfg->response_delay_min_ns > cfg->response_delay_max_ns ||
        !(cfg->drop_fraction >= 0.0 && cfg->drop_fraction <= 1.0))
        goto err;
    s->shaping = cfg->drop_fraction > 0 || cfg->response_delay_max_ns > 0;
    /* The session-id, not the whole URI: ports are often ephemeral, names are not. */
    s->rng = cfg->answer_seed ^ fnv1a64(s->local.session_id.ptr, s->local.session_id.len);
    if (s->cfg.chunk_size == 0)
        s->cfg.chunk_size = 2048; /* "default 2048": 0 would cut empty chunks forever */
    s->accept_types = strdup(cfg->accept_types != NULL ? cfg->accept_types : "*");
    if (s->accept_types == NULL)
        goto err;
    struct msrp_limits lim;
    session_limits(&lim);
    msrp_parser_init(&s->parser, &lim);
    s->reasm = msrp_reasm_create(&cfg->reasm);
    *err = ENOMEM;
    if (s->reasm == NULL || session__ids() == NULL)
        goto err;
    if (cfg->keep_bodies_max > 0 && (s->bodies = msrp_bodies_create(cfg->keep_bodies_max)) == NULL)
        goto err;
    if (cfg->trace_frames && (s->trace = calloc(1, sizeof(*s->trace))) == NULL)
        goto err;
    /* Only a session someone hears violations from (serve) pays for checking its peer. */
    if (h->on_violation != NULL && (s->peer_rules = calloc(1, sizeof(*s->peer_rules))) == NULL)
        goto err;
    s->bind_timer.fn = bind_timeout;
    s->bind_timer.arg = s;
    s->stall_timer.fn = stalled;
    s->stall_timer.arg = s;
    s->idle_timer.fn = idle_check;
    s->idle_timer.arg = s;
    if (cfg->idle_timeout_ns > 0)
        net_timer_start(loop, &s->idle_timer,
                        cfg->idle_timeout_ns / 4 ? cfg->idle_timeout_ns / 4 : 1);
    live_add(s);
    s->timing.started_ns = net_now_ns();
    *err = 0;
    return s;
err:
    msrp_reasm_destroy(s->reasm);
    msrp_bodies_destroy(s->bodies);
    free(s->trace);
    free(s->local_text);
    free(s->peer_text);
    free(s->accept_types);
    free(s);
    return NULL;
}

static void session_limits(struct msrp_limits *lim)
{
    msrp_limits_default(lim);
    lim->max_headers = SESSION_MAX_HEADERS;
    lim->max_line = PATH_MAX_TEXT + 64;
    lim->segment_cap = SEGMENT_CAP;
}

size_t msrp_session_read_buffer(void)
{
    struct msrp_limits lim;
    session_limits(&lim);
    struct msrp_parser p;
    msrp_parser_init(&p, &lim);
    return msrp_parser_buffer_size(&p);
}

static void conn_opts_for(struct net_conn_opts *o)
{
    net_conn_opts_default(o);
    o->read_buffer = msrp_session_read_buffer();
}

int msrp_session_connect(struct net_loop *loop, const struct msrp_session_config *cfg,
                         const struct sockaddr *sa, socklen_t salen, struct net_tls *tls,
                         const struct msrp_session_handlers *h, void *user,
                         struct msrp_session **out)
{
    struct net_transport_setup ts = tls != NULL ? net_transport_tls(tls) : net_transport_tcp();
    return msrp_session_connect_via(loop, cfg, sa, salen, &ts, h, user, out);
}

int msrp_session_connect_via(struct net_loop *loop, const struct msrp_session_config *cfg,
                             const struct sockaddr *sa, socklen_t salen,
                             const struct net_transport_setup *ts,
                             const struct msrp_session_handlers *h, void *user,
                             struct msrp_session **out)
{
    int e;
    if (cfg->peer_path == NULL)
        return EINVAL;
    struct msrp_session *s = session_new(loop, cfg, h, user, &e);
    if (s == NULL)
        return e;
    s->calling = true;
    s->state = S_CONNECTING;
    /* The TLS name is the host of the first URI of the peer's path. */
    char sni[256] = "";
    struct msrp_uri first;
    struct msrp_span rest = msrp_span_make(s->peer_text, s->peer_len);
    if (msrp_uri_list_next(&rest, &first) == 1 && first.host_type == MSRP_HOST_NAME &&
        first.host.len < sizeof(sni)) {
        memcpy(sni, first.host.ptr, first.host.len);
        sni[first.host.len] = '\0';
    }
    struct net_conn_opts o;
    conn_opts_for(&o);
    e = net_conn_connect_via(loop, sa, salen, ts, sni[0] ? sni : NULL, &conn_handlers, s, &o,
                             &s->conn);
    if (e != 0) {
        session_free(s);
        return e;
    }
    *out = s;
    return 0;
}

int msrp_session_accept(struct net_conn *conn, const struct msrp_session_config *cfg,
                        const struct msrp_session_handlers *h, void *user,
                        struct msrp_session **out)
{
    int e;
    struct msrp_session *s = session_new(net_conn_loop(conn), cfg, h, user, &e);
    if (s == NULL) {
        net_conn_close(conn, false);
        return e;
    }
    s->conn = conn;
    s->state = S_BINDING;
    net_conn_set_user(conn, s);
    net_conn_set_handlers(conn, &conn_handlers);
    if (cfg->bind_timeout_ns > 0)
        net_timer_start(s->loop, &s->bind_timer, cfg->bind_timeout_ns);
    *out = s;
    return 0;
}

int msrp_session_adopt(struct net_conn *conn, const struct msrp_session_config *cfg, bool calling,
                       const struct msrp_session_handlers *h, void *user,
                       struct msrp_session **out)
{
    if (calling && cfg->peer_path == NULL) {
        net_conn_close(conn, false);
        return EINVAL;
    }
    int e = msrp_session_accept(conn, cfg, h, user, out);
    if (e != 0 || !calling)
        return e;
    struct msrp_session *s = *out;
    net_timer_stop(s->loop, &s->bind_timer);
    s->calling = true;
    note_conn(s, conn);
    s->busy++; /* kept alive past session_open, which may end it (out of memory) */
    session_open(conn); /* the binding SEND, as on connect */
    if (s->ended)
        *out = NULL; /* on_end has been called already */
    session__leave(s);
    return 0;
}

size_t msrp_session_input(struct msrp_session *s, const char *buf, size_t len)
{
    return s->conn != NULL ? session__data(s->conn, buf, len) : len;
}

void msrp_session_on_release(struct msrp_session *s, void (*fn)(void *arg), void *arg)
{
    s->on_release = fn;
    s->release_arg = arg;
}

struct net_conn *msrp_session_conn(const struct msrp_session *s)
{
    return s->conn;
}

bool msrp_session_congested(const struct msrp_session *s)
{
    return s->conn == NULL || net_conn_congested(s->conn);
}

size_t msrp_session_pending(const struct msrp_session *s)
{
    return s->pending;
}

void msrp_session_close(struct msrp_session *s)
{
    if (s->ended)
        return;
    s->state = S_CLOSING;
    if (s->conn != NULL)
        net_conn_close(s->conn, true);
    else
        session__end(s, MSRP_END_CLOSED, "closed");
}

struct net_conn *msrp_session_leave(struct msrp_session *s, enum msrp_leave how)
{
    if (s->ended)
        return NULL;
    struct net_conn *c = s->conn;
    s->state = S_CLOSING;
    if (c != NULL) {
        /* the connection is no longer the session's: session__end leaves it alone */
        note_conn(s, c);
        s->conn = NULL;
        net_conn_set_user(c, NULL);
        if (how == MSRP_LEAVE_RESET)
            net_conn_reset(c);
        else if (how == MSRP_LEAVE_ABRUPT)
            net_conn_close(c, false);
        else if (how == MSRP_LEAVE_DROP)
            net_conn_drop(c);
        else
            net_conn_set_reading(c, how == MSRP_LEAVE_IDLE); /* idle: read even if paused */
    }
    static const char *const details[] = {"closed abruptly", "reset", "left silent",
                                             "closed without TLS close_notify", "left idle"};
    session__end(s, MSRP_END_CLOSED, details[how]);
    return how == MSRP_LEAVE_SILENT || how == MSRP_LEAVE_IDLE ? c : NULL;
}

void msrp_session_abort_all(void)
{
    while (thread_live != NULL) {
        struct msrp_session *s = thread_live;
        live_remove(s); /* on_end may free it; it must not be found again */
        if (s->ended) {
            continue; /* ended, waiting for its callers to unwind: they free it */
        }
        s->aborting = true;
        session__end(s, MSRP_END_CLOSED, "aborted at the end of the run");
    }
}

void msrp_session_timing(const struct msrp_session *s, struct msrp_session_timing *t)
{
    *t = s->timing;
    if (s->conn != NULL) {
        t->connected_ns = net_conn_connected_ns(s->conn);
        t->secured_ns = net_conn_secured_ns(s->conn);
        t->open_ns = net_conn_open_ns(s->conn);
    }
}

unsigned msrp_session_peer_close_code(const struct msrp_session *s)
{
    return s->conn != NULL ? net_conn_peer_close_code(s->conn) : s->peer_close_code;
}

void msrp_session_wire_bytes(const struct msrp_session *s, uint64_t *in, uint64_t *out)
{
    *in = s->conn != NULL ? net_conn_bytes_in(s->conn) : s->wire_in;
    *out = s->conn != NULL ? net_conn_bytes_out(s->conn) : s->wire_out;
}

bool msrp_session_bound(const struct msrp_session *s)
{
    return s->state == S_BOUND;
}

bool msrp_session_binding(const struct msrp_session *s)
{
    return s->state == S_BINDING;
}

const char *msrp_session_end_detail(const struct msrp_session *s)
{
    return s->ended ? s->end_detail : "";
}

void *msrp_session_user(const struct msrp_session *s)
{
    return s->user;
}

const char *msrp_session_local_uri(const struct msrp_session *s)
{
    return s->local_text;
}

const char *msrp_session_peer(const struct msrp_session *s)
{
    return s->conn != NULL ? net_conn_peer(s->conn) : s->peer_addr;
}

const struct msrp_trace *msrp_session_trace(const struct msrp_session *s)
{
    return s->trace;
}

const char *msrp_session_peer_path(const struct msrp_session *s)
{
    return s->have_peer ? s->peer_text : "";
}

