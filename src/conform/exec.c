/*
 * exec.c - the conformance case executor (conform.h): connections, the wire record, frames,
 * placeholders, header checks, set-up (binding, AUTH) and the walk through a case's steps,
 * whose own code is in steps.c, the cutting into writes in delivery.c (cx.h holds what they
 * share).
 *
 * Each case gets a fresh loop and fresh connections, so one case's leftovers (a closed
 * connection, a late REPORT) never decide another's verdict. Steps run strictly one after the
 * other: a step writes its bytes, then the loop is pumped until what the step waits for has
 * arrived or its timeout has passed. Every chunk that arrives is kept whole (copied) in arrival
 * order; steps look for the first unused one that fits and mark it used, so a response and a
 * REPORT arriving in one read are both seen.
 */
#include "conform/cx.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "msrp/relay.h"
#include "msrp/uri_addr.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/tls.h"
#include "wire/digest.h"
#include "wire/idgen.h"
#include "wire/parser.h"
#include "wire/uri.h"
#include "wire/writer.h"
#include "wire/values.h"

/* ---- the wire record ---------------------------------------------------------------------- */

static void wire_put(struct cx *x, const char *s, size_t n)
{
    if (x->wire_full)
        return;
    if (x->wire_len + n + 1 > WIRE_CAP) {
        x->wire_full = true;
        s = "[... wire record full ...]\n";
        n = strlen(s);
    }
    if (x->wire_len + n + 1 > x->wire_cap) {
        size_t nc = x->wire_cap == 0 ? 8192 : x->wire_cap;
        while (nc < x->wire_len + n + 1)
            nc *= 2;
        char *nw = realloc(x->wire, nc);
        if (nw == NULL) {
            x->wire_full = true;
            return;
        }
        x->wire = nw;
        x->wire_cap = nc;
    }
    memcpy(x->wire + x->wire_len, s, n);
    x->wire_len += n;
    x->wire[x->wire_len] = '\0';
}

void cx_wire_note(struct cx *x, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    wire_put(x, "   # ", 5);
    wire_put(x, buf, strlen(buf));
    wire_put(x, "\n", 1);
}

/* Quotes bytes line by line behind a marker ("a> " sent by endpoint a, "a< " received),
 * with CR and LF written out so that a missing CR shows. */
static void wire_bytes_part(struct cx *x, const char *marker, const char *b, size_t n, bool *bol)
{
    char line[8];
    for (size_t i = 0; i < n; i++) {
        if (*bol) {
            wire_put(x, marker, strlen(marker));
            *bol = false;
        }
        unsigned char ch = (unsigned char)b[i];
        if (ch == '\r') {
            wire_put(x, "\\r", 2);
        } else if (ch == '\n') {
            wire_put(x, "\\n\n", 3);
            *bol = true;
        } else if (ch == '\\') {
            wire_put(x, "\\\\", 2);
        } else if (ch < 0x20 || ch >= 0x7f) {
            snprintf(line, sizeof line, "\\x%02x", ch);
            wire_put(x, line, 4);
        } else {
            wire_put(x, (const char *)&b[i], 1);
        }
    }
}

void cx_wire_bytes(struct cx *x, unsigned ep, bool out, const char *b, size_t n)
{
    char marker[8];
    snprintf(marker, sizeof marker, "%c%s ", 'a' + (int)ep, out ? ">" : "<");
    bool bol = true;
    if (n <= EVENT_SHOWN + EVENT_TAIL + 64) {
        wire_bytes_part(x, marker, b, n, &bol);
    } else {
        wire_bytes_part(x, marker, b, EVENT_SHOWN, &bol);
        char note[96];
        snprintf(note, sizeof note, "%s[... %zu bytes not shown ...]\n", bol ? marker : "\n",
                 n - EVENT_SHOWN - EVENT_TAIL);
        wire_put(x, note, strlen(note));
        if (!bol)
            wire_put(x, marker, 0);
        bol = true;
        wire_bytes_part(x, marker, b + n - EVENT_TAIL, EVENT_TAIL, &bol);
    }
    if (!bol)
        wire_put(x, "\n", 1);
}

void cx_fail(struct cx *x, const char *fmt, ...)
{
    if (x->failed)
        return; /* the first failure is the one that explains the rest */
    x->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->observed, sizeof x->observed, fmt, ap);
    va_end(ap);
    /* The verdict (fail, non-strict, info) depends on the case's level: the note only says
     * the check was not met. */
    cx_wire_note(x, "NOT MET: %s", x->observed);
}

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

static void make_local_uri(struct cx *x, struct ep *e)
{
    char id[17];
    if (msrp_idgen_ident(&x->ids, id, 16) != 0)
        memcpy(id, "conform0conform0", 16);
    id[16] = '\0';
    snprintf(e->local_uri, sizeof e->local_uri, "%s://127.0.0.1:2855/%s;tcp",
             x->p->tls ? "msrps" : "msrp", id);
}

static struct net_tls *client_tls(void)
{
    static _Thread_local struct net_tls *tls;
    char err[256];
    if (tls == NULL && net_tls_client_create(&tls, NULL, NULL, NULL, err, sizeof err) != 0)
        tls = NULL;
    return tls;
}

static bool ep_connect(struct cx *x, struct ep *e)
{
    struct net_conn_opts o;
    net_conn_opts_default(&o);
    o.read_buffer = CX_READ_BUFFER;
    o.connect_timeout_ns = cx_scaled(x, CX_CONNECT_TIMEOUT_NS);
    struct net_tls *tls = x->p->tls ? client_tls() : NULL;
    int rc = net_conn_connect(x->loop, (const struct sockaddr *)&x->p->addr, x->p->addr_len, tls,
                              x->p->sni[0] != '\0' ? x->p->sni : NULL, &ep_handlers, e, &o,
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

/* ---- placeholders ------------------------------------------------------------------------- */

/* The path an endpoint would use as To-Path to reach the other side. */
void cx_path_to_peer(const struct cx *x, unsigned ep, char *out, size_t cap)
{
    if (x->k->needs == CASE_TARGET) {
        snprintf(out, cap, "%s", x->p->target_uri);
        return;
    }
    const struct ep *me = &x->ep[ep];
    if (x->neps < 2) {
        snprintf(out, cap, "%s", me->use_path[0] != '\0' ? me->use_path : x->p->relay_uri);
        return;
    }
    const struct ep *other = &x->ep[1 - ep];
    snprintf(out, cap, "%s %s %s", me->use_path, other->use_path, other->local_uri);
}

static void digest_value(struct cx *x, struct ep *e, const char *password, char *out,
                         size_t cap)
{
    out[0] = '\0';
    struct msrp_digest d;
    if (e->challenge[0] == '\0' ||
        !msrp_digest_challenge_parse(msrp_span_cstr(e->challenge), &d)) {
        cx_fail(x,
                "endpoint %c: {authorization} needs a 401 with a usable WWW-Authenticate "
                "first, and none was seen",
                'a' + (int)e->idx);
        return;
    }
    size_t len = 0;
    if (msrp_digest_answer(&d, x->p->user != NULL ? x->p->user : "", password, "AUTH",
                           x->p->relay_uri != NULL ? x->p->relay_uri : "", ++e->nc, NULL,
                           &x->ids, out, cap, &len) != 0) {
        cx_fail(x, "the relay's challenge cannot be answered (RFC 2617 MD5, qop auth): %s",
                e->challenge);
        out[0] = '\0';
    }
}

/* Fills a template in for endpoint ep. Returns the length, or SIZE_MAX when it cannot. */
size_t cx_expand(struct cx *x, unsigned ep, const struct raw_piece *pieces, unsigned n,
                 const char *text, char *out, size_t cap)
{
    size_t o = 0;
    char tmp[4096];
    for (unsigned i = 0; i < n; i++) {
        const struct raw_piece *pc = &pieces[i];
        const char *src = tmp;
        size_t len = 0;
        tmp[0] = '\0';
        switch (pc->part) {
        case RAW_PART_TEXT:
            src = text + pc->off;
            len = pc->len;
            break;
        case RAW_PART_TID:
            src = x->tid;
            len = strlen(x->tid);
            break;
        case RAW_PART_MESSAGE_ID:
            src = x->mid;
            len = strlen(x->mid);
            break;
        case RAW_PART_TO_PATH:
            cx_path_to_peer(x, ep, tmp, sizeof tmp);
            len = strlen(tmp);
            break;
        case RAW_PART_FROM_PATH:
            src = x->ep[ep].local_uri;
            len = strlen(src);
            break;
        case RAW_PART_CONFORM:
            switch ((enum conform_value)pc->len) {
            case CONFORM_V_RELAY_URI:
                snprintf(tmp, sizeof tmp, "%s", x->p->relay_uri ? x->p->relay_uri : "");
                break;
            case CONFORM_V_USE_PATH:
                snprintf(tmp, sizeof tmp, "%s", x->ep[0].use_path);
                break;
            case CONFORM_V_PEER_USE_PATH:
                snprintf(tmp, sizeof tmp, "%s", x->ep[1].use_path);
                break;
            case CONFORM_V_PEER_URI:
                snprintf(tmp, sizeof tmp, "%s", x->ep[1].local_uri);
                break;
            case CONFORM_V_AUTHORIZATION:
                digest_value(x, &x->ep[ep], x->p->password ? x->p->password : "", tmp,
                             sizeof tmp);
                break;
            case CONFORM_V_BAD_AUTHORIZATION: {
                /* A password that is certainly not the right one. */
                char wrong[300];
                snprintf(wrong, sizeof wrong, "%s-not", x->p->password ? x->p->password : "");
                digest_value(x, &x->ep[ep], wrong, tmp, sizeof tmp);
                break;
            }
            case CONFORM_V_USER:
                snprintf(tmp, sizeof tmp, "%s", x->p->user ? x->p->user : "");
                break;
            case CONFORM_V_BASIC_AUTHORIZATION: {
                /* RFC 2617 section 2: "Basic " and base64 of user:password. */
                char plain[600];
                int pl = snprintf(plain, sizeof plain, "%s:%s", x->p->user ? x->p->user : "",
                                  x->p->password ? x->p->password : "");
                if (pl < 0 || (size_t)pl >= sizeof plain)
                    pl = 0;
                memcpy(tmp, "Basic ", 6);
                EVP_EncodeBlock((unsigned char *)tmp + 6, (const unsigned char *)plain, pl);
                break;
            }
            case CONFORM_V_UNKNOWN_SESSION: {
                /* The peer's first URI with its session-id (if any) replaced: scheme and
                 * authority end at the first "/" or ";" after "://". */
                const char *u = x->p->target_uri != NULL ? x->p->target_uri : x->p->relay_uri;
                size_t ulen = strcspn(u, " ");
                const char *auth = strstr(u, "://");
                size_t a = auth != NULL ? (size_t)(auth - u) + 3 : 0;
                while (a < ulen && u[a] != '/' && u[a] != ';')
                    a++;
                const char *rest = memchr(u + a, ';', ulen - a);
                snprintf(tmp, sizeof tmp, "%.*s/nosuchsession0%.*s", (int)a, u,
                         rest != NULL ? (int)(ulen - (size_t)(rest - u)) : 0,
                         rest != NULL ? rest : "");
                break;
            }
            case CONFORM_V_REFUSED_TYPE:
                snprintf(tmp, sizeof tmp, "%s", x->p->refused_type ? x->p->refused_type : "");
                break;
            case CONFORM_V_TO_PATH_RECASED: {
                /* Scheme, authority and parameters in upper case; the session-id, compared
                 * with regard to case (RFC 4975 section 6.1), as it is. */
                const char *u = x->p->target_uri != NULL ? x->p->target_uri : x->p->relay_uri;
                size_t ulen = strcspn(u, " ");
                const char *auth = strstr(u, "://");
                size_t sid = auth != NULL ? (size_t)(auth - u) + 3 : 0;
                sid += strcspn(u + sid, "/;");
                size_t params = sid + strcspn(u + sid, ";");
                for (size_t c = 0; c < ulen && c < sizeof tmp - 1; c++)
                    tmp[c] = (char)(c < sid || c >= params ? toupper((unsigned char)u[c]) : u[c]);
                tmp[ulen < sizeof tmp - 1 ? ulen : sizeof tmp - 1] = '\0';
                break;
            }
            }
            len = strlen(tmp);
            break;
        }
        if (len > cap - o)
            return SIZE_MAX;
        memcpy(out + o, src, len);
        o += len;
    }
    return o;
}

bool cx_draw_id(struct cx *x, char *out, size_t len)
{
    if (msrp_idgen_ident(&x->ids, out, len) != 0) {
        cx_fail(x, "the random generator failed");
        return false;
    }
    out[len] = '\0';
    return true;
}

/* ---- header checks ------------------------------------------------------------------------ */

bool cx_run_checks(struct cx *x, unsigned ep, const struct step_conform *f,
                   const struct msrp_chunk *ch, const char *what)
{
    if (f == NULL)
        return true;
    for (unsigned i = 0; i < f->num_checks; i++) {
        const struct header_check *hc = &f->checks[i];
        const struct msrp_header *h = cx_find_header(ch, hc->name);
        if (hc->kind == CHECK_NOT_MATCHES && h == NULL)
            continue;
        if (hc->kind == CHECK_ABSENT) {
            if (h != NULL) {
                cx_fail(x, "%s has a %s header (%.*s), which must be absent", what, hc->name,
                        (int)h->value.len, h->value.ptr);
                return false;
            }
            continue;
        }
        if (h == NULL) {
            cx_fail(x, "%s has no %s header", what, hc->name);
            return false;
        }
        if (hc->kind == CHECK_EQUALS) {
            char want[8192];
            size_t n = cx_expand(x, ep, hc->value.pieces, hc->value.num_pieces, hc->value.text,
                                 want, sizeof want - 1);
            if (n == SIZE_MAX)
                n = 0;
            want[n] = '\0';
            if (h->value.len != n || memcmp(h->value.ptr, want, n) != 0) {
                cx_fail(x, "%s has %s: %.*s, expected %s: %s", what, hc->name, (int)h->value.len,
                        h->value.ptr, hc->name, want);
                return false;
            }
        } else {
            regex_t re;
            if (regcomp(&re, hc->regex, REG_EXTENDED | REG_NOSUB) != 0) {
                cx_fail(x, "bad regular expression %s", hc->regex);
                return false;
            }
            char *val = strndup(h->value.ptr, h->value.len);
            bool ok = val != NULL && regexec(&re, val, 0, NULL, 0) == 0;
            free(val);
            regfree(&re);
            if (hc->kind == CHECK_NOT_MATCHES && ok) {
                cx_fail(x, "%s has %s: %.*s, which matches /%s/; it must not", what, hc->name,
                        (int)h->value.len, h->value.ptr, hc->regex);
                return false;
            }
            if (hc->kind == CHECK_MATCHES && !ok) {
                cx_fail(x, "%s has %s: %.*s, which does not match /%s/", what, hc->name,
                        (int)h->value.len, h->value.ptr, hc->regex);
                return false;
            }
        }
    }
    return true;
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

bool cx_status_in(int status, const int *list, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (list[i] == status)
            return true;
    return false;
}

void cx_statuses_text(const int *list, unsigned n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%d", i == 0 ? "" : " or ", list[i]);
}

/* ---- set-up ------------------------------------------------------------------------------- */

static bool bound_ok(struct cx *x, void *arg)
{
    return cx_find_response(x, arg);
}

static bool bind_target(struct cx *x)
{
    struct ep *e = &x->ep[0];
    char tid[SCENARIO_RAW_TID_LEN + 1], mid[SCENARIO_RAW_MESSAGE_ID_LEN + 1];
    if (!cx_draw_id(x, tid, SCENARIO_RAW_TID_LEN) ||
        !cx_draw_id(x, mid, SCENARIO_RAW_MESSAGE_ID_LEN))
        return false;
    char buf[4096];
    int n = snprintf(buf, sizeof buf,
                     "MSRP %s SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: %s\r\n"
                     "Byte-Range: 1-0/0\r\n-------%s$\r\n",
                     tid, x->p->target_uri, e->local_uri, mid, tid);
    cx_wire_note(x, "a: binding the session with an empty SEND (RFC 4975 section 5.4)");
    if (!cx_send_text(x, e, buf, (size_t)n))
        return false;
    if (x->delivery == CONFORM_DELIVER_PIPELINED && x->neps == 1) {
        /* It leaves in one write with the case's first request; its 200 is checked after. */
        memcpy(x->bind_tid, tid, sizeof x->bind_tid);
        return true;
    }
    struct want w = {.e = e, .tid = tid};
    if (!cx_pump(x, net_now_ns() + cx_scaled(x, CX_BIND_TIMEOUT_NS), bound_ok, &w) || e->closed) {
        cx_fail(x, "the binding SEND got no response (%s); the case cannot run",
                e->closed ? e->close_why : "timeout");
        return false;
    }
    struct msrp_header hdrs[CX_MAX_HEADERS];
    struct msrp_chunk ch;
    e->frames[w.found].used = true;
    cx_frame_parse(&e->frames[w.found], &ch, hdrs);
    if (ch.status != 200) {
        cx_fail(x, "the binding SEND was answered %d; the case cannot run", ch.status);
        return false;
    }
    return true;
}

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

static bool auth_relay(struct cx *x, struct ep *e)
{
    struct msrp_relay_auth_config cfg = {
        .relay_uri = x->p->relay_uri,
        .addr = x->p->addr,
        .addr_len = x->p->addr_len,
        .tls = x->p->tls ? client_tls() : NULL,
        .sni = x->p->sni[0] != '\0' ? x->p->sni : NULL,
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

static bool setup(struct cx *x)
{
    const struct scenario_case *k = x->k;
    x->neps = k->endpoints == CASE_EP_AB ? 2 : 1;
    for (unsigned i = 0; i < x->neps; i++) {
        x->ep[i].x = x;
        x->ep[i].idx = i;
        msrp_parser_init(&x->ep[i].parser, NULL);
        make_local_uri(x, &x->ep[i]);
    }
    if (k->needs == CASE_TARGET) {
        if (!ep_connect(x, &x->ep[0]) || (k->bind && !bind_target(x)))
            return false;
        /* b: a second connection to the target that nothing binds */
        return x->neps < 2 || ep_connect(x, &x->ep[1]);
    }
    if (k->endpoints == CASE_EP_NONE)
        return ep_connect(x, &x->ep[0]);
    for (unsigned i = 0; i < x->neps; i++)
        if (!auth_relay(x, &x->ep[i]))
            return false;
    return true;
}

/* ---- the case ----------------------------------------------------------------------------- */

static void walk(struct cx *x)
{
    const struct scenario *sc = x->sc;
    for (unsigned pc = 0; pc < sc->num_steps && !x->failed && !x->unobservable; pc++) {
        const struct step *st = &sc->steps[pc];
        switch (st->kind) {
        case STEP_SEND:
            cx_step_send(x, &st->u.send);
            break;
        case STEP_EXPECT:
            cx_step_expect(x, &st->u.expect);
            break;
        case STEP_PAUSE:
            cx_pump(x, net_now_ns() + st->u.pause_ns, NULL, NULL);
            break;
        case STEP_RAW:
            cx_step_raw(x, &st->u.raw);
            break;
        case STEP_RECEIVE:
            cx_step_receive(x, &st->u.receive);
            break;
        case STEP_CLOSE:
            cx_flush_held(x);
            for (unsigned i = 0; i < x->neps; i++)
                if (x->ep[i].conn != NULL)
                    net_conn_close(x->ep[i].conn, true);
            return;
        case STEP_REPEAT_BEGIN:
        case STEP_REPEAT_END:
            /* Cases are straight lines: a repeat runs its body once. */
            break;
        }
    }
}

enum conform_verdict conform_verdict_unmet(enum case_level level)
{
    switch (level) {
    case CASE_MUST:
        return CONFORM_FAIL;
    case CASE_SHOULD:
        return CONFORM_NON_STRICT;
    case CASE_MAY:
    case CASE_NONE:
        break;
    }
    return CONFORM_INFO;
}

const char *conform_verdict_name(enum conform_verdict v)
{
    switch (v) {
    case CONFORM_PASS:
        return "pass";
    case CONFORM_FAIL:
        return "fail";
    case CONFORM_NON_STRICT:
        return "non-strict";
    case CONFORM_INFO:
        return "info";
    case CONFORM_UNOBSERVABLE:
        return "unobservable";
    case CONFORM_SKIP:
        return "skip";
    case CONFORM_UNREACHABLE:
        return "unreachable";
    }
    return "?";
}

/* True when a raw step of the case fills in placeholder v. */
static bool uses_value(const struct scenario *sc, enum conform_value v)
{
    for (unsigned i = 0; i < sc->num_steps; i++) {
        const struct step *st = &sc->steps[i];
        if (st->kind != STEP_RAW)
            continue;
        for (unsigned j = 0; j < st->u.raw.num_pieces; j++)
            if (st->u.raw.pieces[j].part == RAW_PART_CONFORM &&
                st->u.raw.pieces[j].len == (size_t)v)
                return true;
    }
    return false;
}

/* Pipelined: the binding SEND left with the first request; it must have had its 200. */
static void check_late_bind(struct cx *x)
{
    struct ep *e = &x->ep[0];
    struct want w = {.e = e, .tid = x->bind_tid};
    if (!cx_pump(x, net_now_ns() + cx_scaled(x, CX_BIND_TIMEOUT_NS), cx_find_response, &w)) {
        cx_fail(x, "the binding SEND (pipelined with the case's requests) got no response (%s)",
                e->closed ? e->close_why : "timeout");
        return;
    }
    struct msrp_header hdrs[CX_MAX_HEADERS];
    struct msrp_chunk ch;
    e->frames[w.found].used = true;
    if (cx_frame_parse(&e->frames[w.found], &ch, hdrs) && ch.status != 200)
        cx_fail(x, "the binding SEND (pipelined with the case's requests) was answered %d",
                ch.status);
}

static void run_pattern(const struct scenario *sc, const struct conform_peer *p,
                        enum conform_delivery delivery, struct conform_result *r)
{
    memset(r, 0, sizeof(*r));
    uint64_t t0 = net_now_ns();
    const struct scenario_case *k = sc->kase;
    if ((k->needs == CASE_TARGET && p->target_uri == NULL) ||
        (k->needs == CASE_RELAY && p->relay_uri == NULL)) {
        r->verdict = CONFORM_SKIP;
        snprintf(r->observed, sizeof r->observed, "needs a %s (%s)",
                 k->needs == CASE_TARGET ? "target endpoint" : "relay",
                 k->needs == CASE_TARGET ? "--target" : "--relay");
        return;
    }
    if (p->refused_type == NULL && uses_value(sc, CONFORM_V_REFUSED_TYPE)) {
        r->verdict = CONFORM_SKIP;
        snprintf(r->observed, sizeof r->observed,
                 "needs a media type the target is known not to take (--refused-type)");
        return;
    }
    struct cx *x = calloc(1, sizeof(*x));
    if (x == NULL || net_loop_create(&x->loop, 4096) != 0) {
        free(x);
        r->verdict = CONFORM_UNREACHABLE;
        snprintf(r->observed, sizeof r->observed, "out of memory");
        return;
    }
    x->sc = sc;
    x->k = k;
    x->p = p;
    x->delivery = delivery;
    if (msrp_idgen_init(&x->ids) != 0) {
        snprintf(x->observed, sizeof x->observed, "the random generator failed");
        x->unreachable = true;
    } else if (setup(x)) {
        walk(x);
        if (x->bind_tid[0] != '\0')
            check_late_bind(x);
    }
    cx_flush_held(x);
    /* Let the closes reach the peer, then free everything the loop still holds. */
    for (unsigned i = 0; i < 2; i++)
        if (x->ep[i].conn != NULL)
            net_conn_close(x->ep[i].conn, false);
    net_loop_run_once(x->loop, 0);
    if (x->unreachable) {
        r->verdict = CONFORM_UNREACHABLE;
    } else {
        r->verdict = x->failed         ? conform_verdict_unmet(k->level)
                     : x->unobservable ? CONFORM_UNOBSERVABLE
                                       : CONFORM_PASS;
    }
    snprintf(r->observed, sizeof r->observed, "%s", x->observed);
    r->wire = x->wire;
    for (unsigned i = 0; i < 2; i++) {
        for (size_t j = 0; j < x->ep[i].nframes; j++)
            free(x->ep[i].frames[j].bytes);
        free(x->ep[i].frames);
        free(x->ep[i].held);
    }
    free(x->sent);
    net_loop_destroy(x->loop);
    free(x);
    r->seconds = (double)(net_now_ns() - t0) / 1e9;
}

/* --delivery all: the case once per pattern. MSRP is carried over TCP or TLS, byte streams
 * that keep no write boundaries, so how the bytes are cut into writes must not change a
 * verdict.
 * The result is the first pattern's, or the first that differs from it, marked fail. */
void conform_run_case(const struct scenario *sc, const struct conform_peer *p,
                      struct conform_result *r)
{
    if (p->delivery != CONFORM_DELIVER_ALL) {
        run_pattern(sc, p, p->delivery, r);
        return;
    }
    run_pattern(sc, p, CONFORM_DELIVER_WHOLE, r);
    double seconds = r->seconds;
    if (r->verdict == CONFORM_SKIP || r->verdict == CONFORM_UNREACHABLE)
        return;
    char seen[256];
    snprintf(seen, sizeof seen, "whole: %s", conform_verdict_name(r->verdict));
    for (int d = CONFORM_DELIVER_BYTES; d < CONFORM_DELIVERIES; d++) {
        struct conform_result o;
        run_pattern(sc, p, (enum conform_delivery)d, &o);
        seconds += o.seconds;
        size_t used = strlen(seen);
        snprintf(seen + used, sizeof seen - used, ", %s: %s",
                 conform_delivery_name((enum conform_delivery)d), conform_verdict_name(o.verdict));
        if (o.verdict == r->verdict) {
            conform_result_free(&o);
            continue;
        }
        char why[1500];
        snprintf(why, sizeof why, "%.1499s", o.observed);
        conform_result_free(r);
        *r = o;
        r->verdict = CONFORM_FAIL;
        snprintf(r->observed, sizeof r->observed,
                 "the verdict depends on how the bytes are cut into writes (%s); with %s: %s",
                 seen, conform_delivery_name((enum conform_delivery)d),
                 why[0] != '\0' ? why : "passed");
        break;
    }
    r->seconds = seconds;
}

double conform_case_max_wait(const struct scenario *sc, const struct conform_peer *p)
{
    uint64_t ns = 0;
    for (unsigned i = 0; i < sc->num_steps; i++) {
        const struct step *st = &sc->steps[i];
        switch (st->kind) {
        case STEP_EXPECT:
            ns += st->u.expect.timeout_ns;
            break;
        case STEP_RAW:
            ns += st->u.raw.timeout_ns;
            break;
        case STEP_RECEIVE:
            ns += st->u.receive.timeout_ns;
            break;
        case STEP_PAUSE:
            ns += st->u.pause_ns;
            break;
        default:
            break;
        }
    }
    double scale = p->timeout_scale > 0 ? p->timeout_scale : 1.0;
    return (double)ns / 1e9 * scale;
}

void conform_result_free(struct conform_result *r)
{
    free(r->wire);
    r->wire = NULL;
}

int conform_peer_resolve(struct conform_peer *p, char *err, size_t errlen)
{
    const char *uri = p->target_uri != NULL ? p->target_uri : p->relay_uri;
    if (uri == NULL) {
        snprintf(err, errlen, "no --target or --relay given");
        return -1;
    }
    struct msrp_uri_addr a; /* a full path connects to its first URI */
    if (msrp_uri_resolve(uri, &a, err, errlen) != 0)
        return -1;
    p->addr = a.addr;
    p->addr_len = a.addr_len;
    p->tls = a.secure;
    if (a.host_is_name)
        snprintf(p->sni, sizeof p->sni, "%s", a.host);
    return 0;
}
