/*
 * server.c - one listening socket shared by many answering sessions, binding each incoming
 * connection to the session its first request names in To-Path (RFC 4975 section 5.4 and the
 * seed API's MSRPServer).
 */
#include "msrp/server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/transport.h"
#include "wire/hash.h"
#include "wire/writer.h"

/* A connection that has not said which session it is for within this time is closed
 * (msrp_server_set_first_request_timeout changes it). */
#define FIRST_REQUEST_TIMEOUT_NS (30ull * 1000000000ull)

struct expect {
    struct expect *next, *prev; /* in its hash bucket */
    size_t bucket;
    struct msrp_server *srv;
    struct msrp_session_config cfg;
    enum msrp_violation_id violation; /* cfg.violate, parsed once */
    char local_uri[MSRP_URI_MAX + 1];
    char peer_path[2048];
    struct msrp_uri uri;
    const struct msrp_session_handlers *h;
    void *user;
    struct net_timer timer;
    void (*on_timeout)(void *user);
    /* Non-NULL once a connection is bound to it: the entry stays in the table until the
     * session ends, so that a second connection for it gets 506 (RFC 4975 section 5.4). */
    struct msrp_session *session;
};

struct pending {
    struct pending *next, *prev;
    struct msrp_server *srv;
    struct net_conn *conn;
    struct net_timer timer;
};

struct msrp_server {
    struct net_loop *loop;
    struct net_listener *listener;
    /* Expected sessions hashed by session-id (compared exactly, RFC 4975 section 6.1), so
     * binding each of 10,000 sessions does not compare 10,000 URIs. */
    struct expect **buckets;
    size_t nbuckets, nexpects;
    struct pending *pending;
    uint64_t refused;
    void (*on_session)(struct msrp_session *s, void *user);
    /* A sink for sessions nobody expects (msrp_server_expect_any); has_any false: refuse. */
    bool has_any;
    struct msrp_session_config any_cfg;
    const struct msrp_session_handlers *any_h;
    void *any_user;
    bool any_shared; /* msrp_server_any_shared: no 506 for a sink URI already bound */
    uint64_t first_request_timeout_ns;
    enum msrp_violation_id violation; /* msrp_server_set_violate, parsed once */
    void (*on_event)(const struct msrp_server_event *ev, void *user);
    void *event_user;
};

static void server_event(struct msrp_server *srv, const char *event, const char *kind,
                         const char *peer, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void server_event(struct msrp_server *srv, const char *event, const char *kind,
                         const char *peer, const char *fmt, ...)
{
    if (srv->on_event == NULL)
        return;
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    struct msrp_server_event ev = {event, kind, peer, detail};
    srv->on_event(&ev, srv->event_user);
}

static void pending_free(struct pending *p)
{
    net_timer_stop(p->srv->loop, &p->timer);
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        p->srv->pending = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    free(p);
}

/* Handlers for a connection we are done with but that still flushes a 481 or 506. */
static size_t discard_data(struct net_conn *c, const char *buf, size_t len)
{
    (void)c;
    (void)buf;
    return len;
}

static const struct net_conn_handlers discard_handlers = {.on_data = discard_data};

/* status 481: the session does not exist (or not for this From-Path: said, the caller's event
 * said so); 506: it is bound to another connection. */
static void refuse(struct pending *p, const struct msrp_chunk *c, int status, bool said)
{
    struct msrp_server *srv = p->srv;
    struct net_conn *conn = p->conn;
    const struct msrp_header *from = msrp_chunk_header(c, MSRP_H_FROM_PATH);
    const struct msrp_header *to = msrp_chunk_header(c, MSRP_H_TO_PATH);
    srv->refused++;
    if (said)
        ; /* the caller's event names the reason */
    else if (status == 506)
        server_event(srv, "refused", "session-in-use", net_conn_peer(conn),
                     "the first request's To-Path names a session bound to another "
                     "connection: 506");
    else
        server_event(srv, "refused", "unknown-session", net_conn_peer(conn),
                     "the first request's To-Path names no session here: 481");
    /* RFC 4975 section 5.4: 481 when no session matches (MUST), 506 when it is already in use
     * on another connection (MUST); REPORTs get no answer (7.1.2). */
    if (c->method_id != MSRP_METHOD_REPORT && from != NULL && to != NULL &&
        c->failure_report != MSRP_REPORT_NO) {
        bool no_481 = srv->violation == MSRP_VIOLATE_NO_481_FIRST;
        struct msrp_out out = {
            .kind = MSRP_RESPONSE,
            .tid = c->tid,
            .status = status == 481 && no_481 ? 200 : status,
            .comment = status == 506 ? MSRP_SPAN_LIT("Session Already Bound")
                                     : MSRP_SPAN_LIT("Session Does Not Exist"),
            .to_path = from->value,
            .from_path = to->value,
        };
        char head[8192];
        struct msrp_wire_chunk w;
        if (msrp_write(&out, NULL, head, sizeof(head), &w) == MSRP_W_OK)
            (void)net_conn_send(conn, w.iov, w.iovcnt);
    }
    net_conn_set_user(conn, NULL);
    net_conn_set_handlers(conn, &discard_handlers);
    pending_free(p);
    net_conn_close(conn, true);
}

static size_t session_hash(struct msrp_span sid)
{
    return (size_t)fnv1a64(sid.ptr, sid.len);
}

static struct expect *find_expect(struct msrp_server *srv, struct msrp_span to_path)
{
    struct msrp_uri first;
    struct msrp_span rest = to_path;
    if (srv->nbuckets == 0 || msrp_uri_list_next(&rest, &first) != 1)
        return NULL;
    size_t b = session_hash(first.session_id) & (srv->nbuckets - 1);
    for (struct expect *e = srv->buckets[b]; e != NULL; e = e->next)
        if (msrp_uri_equal(&first, &e->uri))
            return e;
    return NULL;
}

static void link_expect(struct msrp_server *srv, struct expect *e)
{
    e->bucket = session_hash(e->uri.session_id) & (srv->nbuckets - 1);
    e->prev = NULL;
    e->next = srv->buckets[e->bucket];
    if (e->next != NULL)
        e->next->prev = e;
    srv->buckets[e->bucket] = e;
}

/* Doubles the table when it holds twice as many expectations as buckets. */
static int grow_buckets(struct msrp_server *srv)
{
    if (srv->nbuckets > 0 && srv->nexpects < srv->nbuckets * 2)
        return 0;
    size_t n = srv->nbuckets ? srv->nbuckets * 2 : 256;
    struct expect **nb = calloc(n, sizeof(*nb));
    if (nb == NULL)
        return ENOMEM;
    struct expect **old = srv->buckets;
    size_t oldn = srv->nbuckets;
    srv->buckets = nb;
    srv->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        struct expect *e = old[i];
        while (e != NULL) {
            struct expect *next = e->next;
            link_expect(srv, e);
            e = next;
        }
    }
    free(old);
    return 0;
}

static void unlink_expect(struct msrp_server *srv, struct expect *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        srv->buckets[e->bucket] = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    srv->nexpects--;
    net_timer_stop(srv->loop, &e->timer);
}

/* The entry of a session that now has its connection: it leaves the table when the session
 * ends, and a connection for it meanwhile gets 506. */
static void bound_released(void *arg)
{
    struct expect *e = arg;
    unlink_expect(e->srv, e);
    free(e);
}

/* The session on a connection handed over keeps the entry; the entry's bind deadline runs on
 * until the session binds (expect_timeout looks), so a connection that never binds it does not
 * hold the session past that deadline. */
static void hold_bound(struct msrp_server *srv, struct expect *e, struct msrp_session *s)
{
    (void)srv;
    e->session = s;
    msrp_session_on_release(s, bound_released, e);
}

/* A path as RFC 4975 section 6.1 compares URIs, entry by entry. */
static bool path_equal(struct msrp_span a, struct msrp_span b)
{
    if (msrp_span_eq(a, b))
        return true;
    struct msrp_uri ua, ub;
    for (int i = 0; i < 64; i++) {
        int ra = msrp_uri_list_next(&a, &ua), rb = msrp_uri_list_next(&b, &ub);
        if (ra != rb)
            return false;
        if (ra <= 0)
            return ra == 0;
        if (!msrp_uri_equal(&ua, &ub))
            return false;
    }
    return false;
}

/*
 * A first request naming an expected, unbound session whose From-Path is not the path the
 * session was set up with (its SDP, RFC 4975 section 5.4: without mutual TLS the listening
 * device "infers the identity of the connecting device from the associated session
 * description"): 481 and the connection closed, the session still expected with its deadline.
 * Handing the connection over instead would make the rightful peer's own connection get 506
 * ("If the session is already in use, it MUST reject the request with a 506 response"), when
 * this connection never bound it. Returns true when refused.
 */
static bool wrong_from(struct msrp_server *srv, struct expect *e, const struct msrp_chunk *c,
                       struct net_conn *conn)
{
    const struct msrp_header *from = msrp_chunk_header(c, MSRP_H_FROM_PATH);
    if (e->cfg.peer_path == NULL || from == NULL ||
        path_equal(from->value, msrp_span_cstr(e->peer_path)))
        return false;
    server_event(srv, "violation", "from-path", net_conn_peer(conn),
                 "a first request for %s with a From-Path other than the session's peer path: "
                 "481, the session still expected",
                 e->local_uri);
    refuse(net_conn_user(conn), c, 481, true);
    return true;
}

/* A sink session's entry (its URI as the first To-Path URI named it); NULL when the URI does
 * not parse or memory is short, and then only the 506 for it is lost. */
static struct expect *sink_entry(struct msrp_server *srv, const char *local)
{
    struct expect *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    snprintf(e->local_uri, sizeof e->local_uri, "%s", local);
    if (msrp_uri_parse(e->local_uri, strlen(e->local_uri), &e->uri) != MSRP_URI_OK ||
        grow_buckets(srv) != 0) {
        free(e);
        return NULL;
    }
    e->srv = srv;
    link_expect(srv, e);
    srv->nexpects++;
    return e;
}

/* The sink: the session's own URI is whatever the first request's To-Path names first. */
static size_t accept_any(struct pending *p, struct net_conn *conn, struct msrp_span to_path,
                         const char *buf, size_t len)
{
    struct msrp_server *srv = p->srv;
    char local[MSRP_URI_MAX + 1];
    const char *sp = memchr(to_path.ptr, ' ', to_path.len);
    size_t n = sp != NULL ? (size_t)(sp - to_path.ptr) : to_path.len;
    pending_free(p);
    if (n > MSRP_URI_MAX) {
        server_event(srv, "refused", "to-path-too-long", net_conn_peer(conn),
                     "the first To-Path URI has %zu bytes, above %d", n, MSRP_URI_MAX);
        net_conn_set_user(conn, NULL);
        net_conn_close(conn, false);
        return len;
    }
    memcpy(local, to_path.ptr, n);
    local[n] = '\0';
    struct msrp_session_config cfg = srv->any_cfg;
    cfg.local_uri = local;
    cfg.peer_path = NULL;
    cfg.bind_timeout_ns = 0;
    struct msrp_session *s;
    if (msrp_session_accept(conn, &cfg, srv->any_h, srv->any_user, &s) != 0)
        return len;
    struct expect *e = srv->any_shared ? NULL : sink_entry(srv, local);
    if (e != NULL)
        hold_bound(srv, e, s);
    if (srv->on_session != NULL)
        srv->on_session(s, srv->any_user);
    return msrp_session_input(s, buf, len);
}

static size_t pending_data(struct net_conn *conn, const char *buf, size_t len)
{
    struct pending *p = net_conn_user(conn);
    if (p == NULL)
        return len;
    /* Look at the first request's head without consuming it: the session will parse it. */
    struct msrp_limits lim;
    msrp_limits_default(&lim);
    lim.max_headers = 32;
    lim.segment_cap = 0;
    struct msrp_parser parser;
    msrp_parser_init(&parser, &lim);
    struct msrp_header headers[32];
    struct msrp_chunk c = {.headers = headers, .headers_cap = 32};
    ssize_t r = msrp_parse(&parser, buf, len, &c);
    if (r == MSRP_INCOMPLETE)
        return 0;
    if (r == MSRP_MALFORMED || !c.has_head || c.kind != MSRP_REQUEST) {
        if (r == MSRP_MALFORMED)
            server_event(p->srv, "violation", "malformed-first-request", net_conn_peer(conn),
                         "byte %llu before binding: %s",
                         (unsigned long long)(parser.stream_offset + parser.error_offset),
                         msrp_error_text(parser.error));
        else
            server_event(p->srv, "violation", "malformed-first-request", net_conn_peer(conn),
                         "the first chunk is a response, not a request (RFC 4975 section 5.4)");
        pending_free(p);
        net_conn_set_user(conn, NULL);
        net_conn_close(conn, false);
        return len;
    }
    const struct msrp_header *to = msrp_chunk_header(&c, MSRP_H_TO_PATH);
    struct expect *e = to != NULL ? find_expect(p->srv, to->value) : NULL;
    if (e != NULL && e->session != NULL) {
        /* The wrong test peer of the conformance case (serve --violate 481-for-506) answers
         * as if the session did not exist. */
        refuse(p, &c, e->violation == MSRP_VIOLATE_481_FOR_506 ? 481 : 506, false);
        return len;
    }
    if (e == NULL && p->srv->has_any && to != NULL)
        return accept_any(p, conn, to->value, buf, len);
    if (e == NULL) {
        refuse(p, &c, 481, false);
        return len;
    }
    if (wrong_from(p->srv, e, &c, conn))
        return len;
    struct msrp_server *srv = p->srv;
    pending_free(p);
    struct msrp_session *s;
    int err = msrp_session_accept(conn, &e->cfg, e->h, e->user, &s);
    void *user = e->user;
    if (err != 0) {
        unlink_expect(srv, e);
        free(e);
        return len;
    }
    hold_bound(srv, e, s);
    if (srv->on_session != NULL)
        srv->on_session(s, user);
    return msrp_session_input(s, buf, len);
}

static void pending_closed(struct net_conn *conn, int err, const char *why)
{
    struct pending *p = net_conn_user(conn);
    if (p == NULL)
        return;
    /* A peer that just goes away is no news; one whose first bytes fill the read buffer
     * without a request head is. */
    if (err == EMSGSIZE)
        server_event(p->srv, "violation", "malformed-first-request", net_conn_peer(conn),
                     "%s: no request head in the first %llu bytes", why,
                     (unsigned long long)net_conn_bytes_in(conn));
    pending_free(p);
}

static const struct net_conn_handlers pending_handlers = {
    .on_data = pending_data,
    .on_close = pending_closed,
};

static void pending_timeout(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct pending *p = t->arg;
    struct net_conn *conn = p->conn;
    server_event(p->srv, "refused", "first-request-timeout", net_conn_peer(conn),
                 "no complete request head within %.1f s (%llu bytes received): closed",
                 (double)p->srv->first_request_timeout_ns / 1e9,
                 (unsigned long long)net_conn_bytes_in(conn));
    pending_free(p);
    net_conn_set_user(conn, NULL);
    net_conn_close(conn, false);
}

static void server_accept(struct net_listener *l, struct net_conn *conn)
{
    struct msrp_server *srv = net_listener_user(l);
    struct pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return; /* no handlers set: the listener refuses the connection */
    p->srv = srv;
    p->conn = conn;
    p->next = srv->pending;
    if (srv->pending != NULL)
        srv->pending->prev = p;
    srv->pending = p;
    p->timer.fn = pending_timeout;
    p->timer.arg = p;
    net_timer_start(srv->loop, &p->timer, srv->first_request_timeout_ns);
    net_conn_set_user(conn, p);
    net_conn_set_handlers(conn, &pending_handlers);
    if (srv->violation == MSRP_VIOLATE_SPEAK_FIRST) {
        /* Breaks RFC 4975 section 5.4: a request before the active side's first one. */
        static const char early[] = "MSRP speakfirst00 SEND\r\n"
                                    "To-Path: msrp://127.0.0.1:2855/nobody;tcp\r\n"
                                    "From-Path: msrp://127.0.0.1:2855/speaker;tcp\r\n"
                                    "Message-ID: speakfirst\r\nByte-Range: 1-0/0\r\n"
                                    "-------speakfirst00$\r\n";
        struct iovec iov = {(void *)early, sizeof early - 1};
        (void)net_conn_send(conn, &iov, 1);
    }
}

void msrp_server_set_violate(struct msrp_server *srv, const char *violate)
{
    srv->violation = msrp_session_violation_id(violate);
}

static void server_overload(struct net_listener *l, int err, uint64_t shed)
{
    struct msrp_server *srv = net_listener_user(l);
    if (shed == 0)
        server_event(srv, "refused", "descriptors", "",
                     "accept failed: %s: no reserve descriptor, the listener pauses 100 ms at a "
                     "time (raise RLIMIT_NOFILE, ulimit -n)",
                     strerror(err));
    else
        server_event(srv, "refused", "descriptors", "",
                     "accept failed: %s: %llu connections closed unserved since the last such "
                     "line (raise RLIMIT_NOFILE, ulimit -n)",
                     strerror(err), (unsigned long long)shed);
}

int msrp_server_create(struct net_loop *loop, const char *host, uint16_t port,
                       struct net_tls *tls, struct msrp_server **out, char *err, size_t errlen)
{
    struct net_transport_setup ts = tls != NULL ? net_transport_tls(tls) : net_transport_tcp();
    return msrp_server_create_via(loop, host, port, &ts, out, err, errlen);
}

int msrp_server_create_via(struct net_loop *loop, const char *host, uint16_t port,
                           const struct net_transport_setup *ts, struct msrp_server **out,
                           char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int e = net_addr_resolve(host, port, &ss, &len);
    if (e != 0) {
        snprintf(err, errlen, "cannot resolve %s", host);
        return e;
    }
    struct msrp_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    srv->loop = loop;
    srv->first_request_timeout_ns = FIRST_REQUEST_TIMEOUT_NS;
    /* Read buffers sized for a session: the pending connection becomes one in place. */
    struct net_conn_opts o;
    net_conn_opts_default(&o);
    o.read_buffer = msrp_session_read_buffer();
    e = net_listener_open_via(loop, (struct sockaddr *)&ss, len, ts, server_accept, srv, &o,
                              &srv->listener, err, errlen);
    if (e != 0) {
        free(srv);
        return e;
    }
    net_listener_on_overload(srv->listener, server_overload);
    *out = srv;
    return 0;
}

void msrp_server_destroy(struct msrp_server *srv)
{
    if (srv == NULL)
        return;
    net_listener_close(srv->listener);
    for (size_t i = 0; i < srv->nbuckets; i++)
        while (srv->buckets[i] != NULL) {
            struct expect *e = srv->buckets[i];
            if (e->session != NULL)
                msrp_session_on_release(e->session, NULL, NULL);
            unlink_expect(srv, e);
            free(e);
        }
    free(srv->buckets);
    while (srv->pending != NULL) {
        struct pending *p = srv->pending;
        struct net_conn *conn = p->conn;
        pending_free(p);
        net_conn_set_user(conn, NULL);
        net_conn_close(conn, false);
    }
    free(srv);
}

uint16_t msrp_server_port(const struct msrp_server *srv)
{
    return net_listener_port(srv->listener);
}

uint64_t msrp_server_refused(const struct msrp_server *srv)
{
    return srv->refused;
}

static void note_gone(void *arg)
{
    *(bool *)arg = true;
}

static void expect_timeout(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct expect *e = t->arg;
    struct msrp_server *srv = e->srv;
    struct msrp_session *s = e->session;
    if (s != NULL && !msrp_session_binding(s))
        return; /* bound in time (the entry stays for the 506), or already going */
    /* fn may end the session (its owner hanging up): the release hook says whether it did. */
    bool gone = false;
    if (s != NULL)
        msrp_session_on_release(s, note_gone, &gone);
    unlink_expect(srv, e);
    void (*fn)(void *) = e->on_timeout;
    void *user = e->user;
    free(e);
    if (fn != NULL)
        fn(user);
    /* A connection was handed over but did not bind the session within its deadline. */
    if (s != NULL && !gone) {
        msrp_session_on_release(s, NULL, NULL);
        msrp_session_close(s);
    }
}

int msrp_server_expect(struct msrp_server *srv, const struct msrp_session_config *cfg,
                       const struct msrp_session_handlers *h, void *user,
                       uint64_t bind_timeout_ns, void (*on_bind_timeout)(void *user))
{
    if (cfg->local_uri == NULL || strlen(cfg->local_uri) > MSRP_URI_MAX)
        return EINVAL;
    if (cfg->peer_path != NULL && strlen(cfg->peer_path) >= sizeof(((struct expect *)0)->peer_path))
        return EINVAL;
    struct expect *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return ENOMEM;
    strcpy(e->local_uri, cfg->local_uri);
    if (msrp_uri_parse(e->local_uri, strlen(e->local_uri), &e->uri) != MSRP_URI_OK) {
        free(e);
        return EINVAL;
    }
    if (find_expect(srv, msrp_span_cstr(e->local_uri)) != NULL) {
        free(e);
        return EEXIST;
    }
    if (grow_buckets(srv) != 0) {
        free(e);
        return ENOMEM;
    }
    e->srv = srv;
    e->cfg = *cfg;
    e->violation = msrp_session_violation_id(cfg->violate);
    e->cfg.local_uri = e->local_uri;
    if (cfg->peer_path != NULL) {
        strcpy(e->peer_path, cfg->peer_path);
        e->cfg.peer_path = e->peer_path;
    }
    /* The session's own bind timer would start only once a connection arrives. */
    e->cfg.bind_timeout_ns = 0;
    e->h = h;
    e->user = user;
    e->on_timeout = on_bind_timeout;
    e->timer.fn = expect_timeout;
    e->timer.arg = e;
    if (bind_timeout_ns > 0)
        net_timer_start(srv->loop, &e->timer, bind_timeout_ns);
    link_expect(srv, e);
    srv->nexpects++;
    return 0;
}

void msrp_server_on_session(struct msrp_server *srv,
                            void (*fn)(struct msrp_session *s, void *user))
{
    srv->on_session = fn;
}

void msrp_server_any_shared(struct msrp_server *srv, bool shared)
{
    srv->any_shared = shared;
}

void msrp_server_expect_any(struct msrp_server *srv, const struct msrp_session_config *cfg,
                            const struct msrp_session_handlers *h, void *user)
{
    srv->has_any = true;
    srv->any_cfg = *cfg;
    srv->any_h = h;
    srv->any_user = user;
}

void msrp_server_forget(struct msrp_server *srv, const char *local_uri)
{
    struct expect *e = find_expect(srv, msrp_span_cstr(local_uri));
    if (e != NULL && e->session == NULL) {
        unlink_expect(srv, e);
        free(e);
    }
}

void msrp_server_on_event(struct msrp_server *srv,
                          void (*fn)(const struct msrp_server_event *ev, void *user), void *user)
{
    srv->on_event = fn;
    srv->event_user = user;
}

void msrp_server_set_first_request_timeout(struct msrp_server *srv, uint64_t ns)
{
    srv->first_request_timeout_ns = ns;
}
