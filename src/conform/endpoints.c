/*
 * endpoints.c - the conformance executor's endpoints (a, and b for relay cases): the peer's
 * address from its URI (relay URIs in their WebSocket forms too, RFC 7977), connecting over TCP,
 * TLS or a WebSocket on either (net/transport_ws.h, or conform's own raw-frame path of
 * wsraw.c for the cases that need frame-level control), AUTH with a relay, and the reading side:
 * every chunk the peer writes is framed, copied whole into its endpoint's frame list in
 * arrival order, quoted into the wire record and checked by the frame rules (framerules.c);
 * the pump runs the case's loop until what a step waits for has arrived. It sends nothing a
 * case asks for (delivery.c and steps.c do) and decides no verdict (exec.c does).
 */
#include "conform/cx.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msrp/relay.h"
#include "msrp/session.h"
#include "msrp/uri_addr.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/tls.h"
#include "net/transport_ws.h"
#include "wire/idgen.h"
#include "wire/parser.h"
#include "wire/uri.h"

/* ---- connections -------------------------------------------------------------------------- */

static size_t ep_data(struct net_conn *c, const char *buf, size_t len)
{
    struct ep *e = net_conn_user(c);
    size_t used = 0;
    while (used < len) {
        struct msrp_header hdrs[CX_MAX_HEADERS];
        struct msrp_chunk ch = {.headers = hdrs, .headers_cap = CX_MAX_HEADERS};
        ssize_t n = msrp_parse(&e->parser, buf + used, len - used, &ch);
        if (n == MSRP_INCOMPLETE)
            break;
        struct frame f = {0};
        size_t take = n == MSRP_MALFORMED ? len - used : (size_t)n;
        f.malformed = n == MSRP_MALFORMED;
        f.bytes = malloc(take);
        if (f.bytes != NULL) {
            memcpy(f.bytes, buf + used, take);
            f.len = take;
        }
        cx_wire_bytes(e->x, e->idx, false, buf + used, take);
        if (f.malformed)
            cx_wire_note(e->x, "%c: the bytes above cannot be framed as MSRP (%s)",
                         'a' + (int)e->idx, msrp_error_name(e->parser.error));
        if (e->nframes == e->cap) {
            size_t nc = e->cap == 0 ? 16 : e->cap * 2;
            struct frame *nf = realloc(e->frames, nc * sizeof(*nf));
            if (nf == NULL) {
                free(f.bytes);
                return len;
            }
            e->frames = nf;
            e->cap = nc;
        }
        e->frames[e->nframes++] = f;
        if (!f.malformed)
            cx_frame_rules(e->x, e, &e->frames[e->nframes - 1]);
        used += take;
        if (f.malformed) {
            /* Nothing after unframable bytes can be trusted: stop reading this stream. */
            msrp_parser_init(&e->parser, NULL);
            break;
        }
    }
    return used;
}

static void ep_open(struct net_conn *c)
{
    struct ep *e = net_conn_user(c);
    e->open = true;
}

static void ep_close(struct net_conn *c, int err, const char *why)
{
    struct ep *e = net_conn_user(c);
    e->closed = true;
    e->conn = NULL;
    if (!e->open)
        e->failed = true;
    snprintf(e->close_why, sizeof e->close_why, "%s%s%s", err == 0 ? "closed" : "error",
             why != NULL && why[0] != '\0' ? ": " : "", why != NULL ? why : "");
    cx_wire_note(e->x, "%c: connection %s", 'a' + (int)e->idx, e->close_why);
}

static const struct net_conn_handlers ep_handlers = {
    .on_open = ep_open,
    .on_data = ep_data,
    .on_close = ep_close,
};

uint64_t cx_scaled(const struct cx *x, uint64_t ns)
{
    double s = x->p->timeout_scale > 0 ? x->p->timeout_scale : 1.0;
    return (uint64_t)((double)ns * s);
}

/* Runs the loop until cond() holds or the deadline passes; returns cond()'s last answer.
 * Bytes held for a pipelined write leave first: the case is about to wait for an answer. */
bool cx_pump(struct cx *x, uint64_t deadline, bool (*cond)(struct cx *, void *), void *arg)
{
    cx_flush_held(x);
    for (;;) {
        if (cond != NULL && cond(x, arg))
            return true;
        uint64_t now = net_now_ns();
        if (now >= deadline)
            return cond != NULL && cond(x, arg);
        uint64_t left_ms = (deadline - now + 999999) / 1000000;
        if (net_loop_run_once(x->loop, left_ms > 100 ? 100 : (int)left_ms) < 0 && errno != EINTR)
            return false;
    }
}

static bool ep_settled(struct cx *x, void *arg)
{
    (void)x;
    struct ep *e = arg;
    return e->open || e->closed;
}

void cx_ep_local_uri(struct cx *x, struct ep *e)
{
    char id[17];
    if (msrp_idgen_ident(&x->ids, id, 16) != 0)
        memcpy(id, "conform0conform0", 16);
    id[16] = '\0';
    const struct conform_hop *h = &x->p->hop[e->idx];
    if (h->ws) {
        /* A WebSocket client cannot know its own address: RFC 7977 Appendix A has it put a
         * random token under the ".invalid" top-level domain in its From-Path, with the ws
         * transport of 5.2.1 (the examples of 8.1). */
        char host[13];
        if (msrp_idgen_ident(&x->ids, host, 12) != 0)
            memcpy(host, "conformhost0", 12);
        host[12] = '\0';
        for (char *c = host; *c != '\0'; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        snprintf(e->local_uri, sizeof e->local_uri, "%s://%s.invalid:2855/%s;ws",
                 h->tls ? "msrps" : "msrp", host, id);
        return;
    }
    snprintf(e->local_uri, sizeof e->local_uri, "%s://127.0.0.1:2855/%s;tcp",
             h->tls ? "msrps" : "msrp", id);
}

static struct net_tls *client_tls(void)
{
    static _Thread_local struct net_tls *tls;
    char err[256];
    if (tls == NULL && net_tls_client_create(&tls, NULL, NULL, NULL, err, sizeof err) != 0)
        tls = NULL;
    return tls;
}

/* How endpoint e's connection is made: TCP or TLS, under a WebSocket when its hop says so
 * (msrpload's transport, told where each chunk ends so that each goes in one message, RFC
 * 7977 5.1), or under conform's raw-frame path when the case asks for frame-level control. The
 * setups live in the endpoint: they must outlive its connection. */
static const struct net_transport_setup *ep_transport(struct cx *x, struct ep *e)
{
    const struct conform_hop *h = &x->p->hop[e->idx];
    struct net_tls *tls = h->tls ? client_tls() : NULL;
    e->below = tls != NULL ? net_transport_tls(tls) : net_transport_tcp();
    if (!h->ws)
        return &e->below;
    if (cx_ws_raw_wanted(x, e)) {
        e->setup = cx_ws_raw_setup(x, e, &e->below);
        if (e->setup.attach == NULL) {
            snprintf(x->observed, sizeof x->observed, "out of memory");
            return NULL;
        }
        return &e->setup;
    }
    struct net_ws_opts wo = {.server = false,
                             .path = h->ws_path,
                             .host = h->ws_host,
                             .boundary = msrp_ws_boundary};
    e->setup = net_transport_ws(&e->ws, &e->below, &wo);
    return &e->setup;
}

bool cx_ep_connect(struct cx *x, struct ep *e)
{
    struct net_conn_opts o;
    net_conn_opts_default(&o);
    o.read_buffer = CX_READ_BUFFER;
    o.connect_timeout_ns = cx_scaled(x, CX_CONNECT_TIMEOUT_NS);
    const struct conform_hop *h = &x->p->hop[e->idx];
    const struct net_transport_setup *ts = ep_transport(x, e);
    if (ts == NULL) {
        x->unreachable = true;
        return false;
    }
    int rc = net_conn_connect_via(x->loop, (const struct sockaddr *)&h->addr, h->addr_len, ts,
                                  h->sni[0] != '\0' ? h->sni : NULL, &ep_handlers, e, &o,
                                  &e->conn);
    if (rc != 0) {
        snprintf(x->observed, sizeof x->observed, "cannot connect: %s", strerror(rc));
        x->unreachable = true;
        return false;
    }
    cx_pump(x, net_now_ns() + cx_scaled(x, CX_CONNECT_TIMEOUT_NS) + 1000000000ull, ep_settled, e);
    if (!e->open) {
        snprintf(x->observed, sizeof x->observed, "cannot connect: %s",
                 e->closed ? e->close_why : "timed out");
        x->unreachable = true;
        return false;
    }
    return true;
}

/* ---- frames ------------------------------------------------------------------------------- */

/* Parses a kept frame again; hdrs must hold CX_MAX_HEADERS. */
bool cx_frame_parse(const struct frame *f, struct msrp_chunk *ch, struct msrp_header *hdrs)
{
    if (f->malformed || f->bytes == NULL)
        return false;
    /* Some spans (the transaction id) may point into the parser: it outlives the call, until
     * the next one. */
    static _Thread_local struct msrp_parser p;
    msrp_parser_init(&p, NULL);
    memset(ch, 0, sizeof(*ch));
    ch->headers = hdrs;
    ch->headers_cap = CX_MAX_HEADERS;
    return msrp_parse(&p, f->bytes, f->len, ch) > 0;
}

bool cx_span_is(struct msrp_span s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

/* The first header with this name (case-insensitive), or NULL. */
const struct msrp_header *cx_find_header(const struct msrp_chunk *ch, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < ch->num_headers; i++)
        if (ch->headers[i].name.len == n && strncasecmp(ch->headers[i].name.ptr, name, n) == 0)
            return &ch->headers[i];
    return NULL;
}

/* ---- waiting for chunks ------------------------------------------------------------------- */

/* True when frame i is what w waits for: a response with its tid, or a request of its method. */
static bool frame_wanted(const struct want *w, size_t i, bool response)
{
    struct frame *f = &w->e->frames[i];
    struct msrp_header hdrs[CX_MAX_HEADERS];
    struct msrp_chunk ch;
    if (f->used || !cx_frame_parse(f, &ch, hdrs))
        return false;
    if (response)
        return ch.kind == MSRP_RESPONSE && cx_span_is(ch.tid, w->tid);
    return ch.kind == MSRP_REQUEST && (w->method[0] == '\0' || cx_span_is(ch.method, w->method));
}

/* Stops the pump at the first wanted frame (its index in w->found), or at a close. */
static bool find_frame(struct want *w, bool response)
{
    for (size_t i = 0; i < w->e->nframes; i++) {
        if (frame_wanted(w, i, response)) {
            w->found = i;
            return true;
        }
    }
    return w->e->closed;
}

bool cx_find_response(struct cx *x, void *arg)
{
    (void)x;
    return find_frame(arg, true);
}

bool cx_find_request(struct cx *x, void *arg)
{
    (void)x;
    return find_frame(arg, false);
}

bool cx_ep_closed(struct cx *x, void *arg)
{
    (void)x;
    return ((struct ep *)arg)->closed;
}

/* ---- relay AUTH --------------------------------------------------------------------------- */

static void auth_done(struct msrp_relay_auth *a, const struct msrp_relay_auth_result *r,
                      void *user)
{
    (void)a;
    struct ep *e = user;
    e->auth_done = true;
    e->auth_ok = r->ok;
    if (!r->ok) {
        snprintf(e->auth_error, sizeof e->auth_error, "%s", r->error);
        return;
    }
    snprintf(e->use_path, sizeof e->use_path, "%s", r->use_path);
    e->conn = r->conn;
    e->open = true;
    net_conn_set_handlers(e->conn, &ep_handlers);
    net_conn_set_user(e->conn, e);
}

static bool auth_settled(struct cx *x, void *arg)
{
    (void)x;
    return ((struct ep *)arg)->auth_done;
}

bool cx_auth_relay(struct cx *x, struct ep *e)
{
    const struct conform_hop *h = &x->p->hop[e->idx];
    const struct net_transport_setup *ts = ep_transport(x, e);
    if (ts == NULL) {
        x->unreachable = true;
        return false;
    }
    struct msrp_relay_auth_config cfg = {
        .relay_uri = h->msrp_uri,
        .addr = h->addr,
        .addr_len = h->addr_len,
        .tls = h->tls ? client_tls() : NULL,
        .transport = ts,
        .sni = h->sni[0] != '\0' ? h->sni : NULL,
        .username = x->p->user,
        .password = x->p->password,
        .local_uri = e->local_uri,
        .timeout_ns = cx_scaled(x, 10ull * 1000000000ull),
    };
    int rc = msrp_relay_auth_start(x->loop, &cfg, auth_done, e, NULL);
    if (rc != 0) {
        snprintf(x->observed, sizeof x->observed, "relay AUTH could not start: %s",
                 strerror(rc));
        x->unreachable = true;
        return false;
    }
    cx_pump(x, net_now_ns() + cfg.timeout_ns + 2000000000ull, auth_settled, e);
    if (!e->auth_ok) {
        snprintf(x->observed, sizeof x->observed, "endpoint %c could not authenticate: %s",
                 'a' + (int)e->idx, e->auth_done ? e->auth_error : "timed out");
        x->unreachable = true;
        return false;
    }
    cx_wire_note(x,
                 "%c: authenticated with the relay as %s (AUTH exchange not quoted); Use-Path: %s",
                 'a' + (int)e->idx, x->p->user, e->use_path);
    return true;
}

/* ---- the peer's address ------------------------------------------------------------------- */

static int uri_error(char *err, size_t errlen, const char *uri, const char *why)
{
    snprintf(err, errlen, "%s: %s", uri, why);
    return -1;
}

int conform_relay_uri_parse(const char *uri, struct conform_relay_uri *out, char *err,
                            size_t errlen)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->path, sizeof out->path, "/");
    bool ws = strncasecmp(uri, "ws://", 5) == 0, wss = strncasecmp(uri, "wss://", 6) == 0;
    if (!ws && !wss) {
        /* An MSRP URI: reached over WebSocket when its transport is ws (RFC 7977 5.2.1). */
        struct msrp_uri u;
        size_t n = strcspn(uri, " ");
        if (msrp_uri_parse(uri, n, &u) != MSRP_URI_OK)
            return 0; /* msrp_uri_resolve() says what is wrong with it */
        out->secure = u.secure;
        out->ws = u.transport.len == 2 && strncasecmp(u.transport.ptr, "ws", 2) == 0;
        if (u.host.len >= sizeof out->host)
            return uri_error(err, errlen, uri, "host too long");
        memcpy(out->host, u.host.ptr, u.host.len);
        out->port = u.has_port ? u.port : 2855;
        snprintf(out->msrp_uri, sizeof out->msrp_uri, "%.*s", (int)n, uri);
        return 0;
    }
    out->ws = true;
    out->secure = wss;
    const char *p = uri + (wss ? 6 : 5);
    const char *host = p, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL)
            return uri_error(err, errlen, uri, "an IPv6 host without its closing ']'");
        p = host_end + 1;
    } else {
        p += strcspn(p, ":/?#");
        host_end = p;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0)
        return uri_error(err, errlen, uri, "no host");
    if (hl >= sizeof out->host)
        return uri_error(err, errlen, uri, "host too long");
    for (size_t i = 0; i < hl; i++)
        if ((unsigned char)host[i] <= ' ' || host[i] == '@' || host[i] == '[')
            return uri_error(err, errlen, uri, "a host with a space, '@' or '['");
    memcpy(out->host, host, hl);
    out->port = wss ? 443 : 80; /* RFC 6455 3 (from memory): the defaults of ws and wss */
    if (*p == ':') {
        p++;
        unsigned long v = 0;
        size_t digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 6) {
            v = v * 10 + (unsigned long)(*p++ - '0');
            digits++;
        }
        if (digits == 0 || v == 0 || v > 65535)
            return uri_error(err, errlen, uri, "a port that is no number in 1..65535");
    out->port = (uint16_t)v;
    }
    if (*p == '#')
        return uri_error(err, errlen, uri, "a fragment (RFC 6455 3: not in a WebSocket URI)");
    if (*p != '\0' && *p != '/' && *p != '?')
        return uri_error(err, errlen, uri, "something other than a port or path after the host");
    if (*p != '\0') {
        if (strlen(p) + 1 >= sizeof out->path)
            return uri_error(err, errlen, uri, "path too long");
        if (strcspn(p, " \t\r\n#") != strlen(p))
            return uri_error(err, errlen, uri, "a path with a space, a line break or '#'");
        size_t o = 0;
        if (*p == '?')
            out->path[o++] = '/';
        memcpy(out->path + o, p, strlen(p) + 1);
    }
    bool v6 = strchr(out->host, ':') != NULL;
    snprintf(out->msrp_uri, sizeof out->msrp_uri, "%s://%s%s%s:%u;ws", wss ? "msrps" : "msrp",
             v6 ? "[" : "", out->host, v6 ? "]" : "", (unsigned)out->port);
    return 0;
}

/* Resolves one URI into a hop. */
static int resolve_hop(const char *uri, struct conform_hop *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    struct conform_relay_uri r;
    if (conform_relay_uri_parse(uri, &r, err, errlen) != 0)
        return -1;
    if (r.ws) {
        int rc = net_addr_resolve(r.host, r.port, &h->addr, &h->addr_len);
        if (rc != 0) {
            snprintf(err, errlen, "%s: cannot resolve %s: %s", uri, r.host, strerror(rc));
            return -1;
        }
        unsigned char bin[16];
        bool literal = inet_pton(AF_INET, r.host, bin) == 1 || inet_pton(AF_INET6, r.host, bin) == 1;
        h->tls = r.secure;
        h->ws = true;
        if (!literal)
            snprintf(h->sni, sizeof h->sni, "%s", r.host);
        snprintf(h->ws_path, sizeof h->ws_path, "%s", r.path);
        bool v6 = strchr(r.host, ':') != NULL;
        snprintf(h->ws_host, sizeof h->ws_host, "%s%s%s:%u", v6 ? "[" : "", r.host,
                 v6 ? "]" : "", (unsigned)r.port);
        snprintf(h->msrp_uri, sizeof h->msrp_uri, "%s", r.msrp_uri);
        return 0;
    }
    struct msrp_uri_addr a; /* a full path connects to its first URI */
    if (msrp_uri_resolve(uri, &a, err, errlen) != 0)
        return -1;
    h->addr = a.addr;
    h->addr_len = a.addr_len;
    h->tls = a.secure;
    if (a.host_is_name)
        snprintf(h->sni, sizeof h->sni, "%s", a.host);
    snprintf(h->msrp_uri, sizeof h->msrp_uri, "%.*s", (int)strcspn(uri, " "), uri);
    return 0;
}

int conform_peer_resolve(struct conform_peer *p, char *err, size_t errlen)
{
    const char *uri = p->target_uri != NULL ? p->target_uri : p->relay_uri;
    if (uri == NULL) {
        snprintf(err, errlen, "no --target or --relay given");
        return -1;
    }
    struct conform_relay_uri r;
    if (p->target_uri != NULL && conform_relay_uri_parse(uri, &r, err, errlen) == 0 && r.ws) {
        /* RFC 7977 5.1: WebSocket clients reach one another only through a WebSocket server
         * (a relay); an endpoint is not reached over WebSocket. */
        snprintf(err, errlen,
                 "%s: --target takes an MSRP URI over TCP or TLS; WebSocket URIs are for --relay "
                 "(RFC 7977 5.1: MSRP over WebSocket is routed via a WebSocket server, a relay)",
                 uri);
        return -1;
    }
    if (resolve_hop(uri, &p->hop[0], err, errlen) != 0)
        return -1;
    if (p->relay_b_uri == NULL) {
        p->hop[1] = p->hop[0];
        return 0;
    }
    return resolve_hop(p->relay_b_uri, &p->hop[1], err, errlen);
}
