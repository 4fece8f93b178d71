/*
 * exec.c - the conformance case executor (conform.h).
 *
 * Each case gets a fresh loop and fresh connections, so one case's leftovers (a closed
 * connection, a late REPORT) never decide another's verdict. Steps run strictly one after the
 * other: a step writes its bytes, then the loop is pumped until what the step waits for has
 * arrived or its timeout has passed. Every chunk that arrives is kept whole (copied) in arrival
 * order; steps look for the first unused one that fits and mark it used, so a response and a
 * REPORT arriving in one read are both seen.
 */
#include "conform/conform.h"

#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msrp/relay.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/tls.h"
#include "wire/digest.h"
#include "wire/idgen.h"
#include "wire/parser.h"
#include "wire/uri.h"
#include "wire/writer.h"
#include "wire/values.h"

#define CX_MAX_HEADERS 64
#define CX_READ_BUFFER (4u << 20)
/* The wire record keeps at most this much in all; one event shows at most EVENT_SHOWN bytes
 * from its start and EVENT_TAIL from its end (a 1 MiB body is not worth quoting). */
#define WIRE_CAP (512u << 10)
#define EVENT_SHOWN 1536
#define EVENT_TAIL 96
#define CX_CONNECT_TIMEOUT_NS (5ull * 1000000000ull)
#define CX_BIND_TIMEOUT_NS (5ull * 1000000000ull)
#define CX_MAX_CHUNKS 4096

struct frame {
    char *bytes;
    size_t len;
    bool used;
    bool malformed; /* bytes that could not be framed (the rest of the stream) */
};

struct cx;

struct ep {
    struct cx *x;
    unsigned idx;
    struct net_conn *conn;
    bool open, closed, failed;
    char close_why[160];
    struct msrp_parser parser;
    struct frame *frames;
    size_t nframes, cap;
    char local_uri[128];
    char use_path[MSRP_RELAY_USE_PATH_MAX];
    char challenge[1024]; /* WWW-Authenticate of the last 401 seen */
    uint32_t nc;
    bool auth_done, auth_ok;
    char auth_error[256];
};

/* What the last send step sent, for the expect after it. */
struct sent_chunk {
    char tid[MSRP_GENERATED_TID_LEN + 1];
    int status; /* 0: no response yet */
};

struct cx {
    struct net_loop *loop;
    const struct scenario *sc;
    const struct scenario_case *k;
    const struct conform_peer *p;
    struct ep ep[2];
    unsigned neps;
    struct msrp_idgen ids;
    char tid[SCENARIO_RAW_TID_LEN + 1];
    char mid[SCENARIO_RAW_MESSAGE_ID_LEN + 1];
    /* the last send step */
    struct sent_chunk *sent;
    size_t nsent;
    enum msrp_report sent_fr;
    unsigned sent_ep;
    uint64_t sent_size; /* the whole message's size; 0 when it was aborted */
    /* the record and the verdict */
    char *wire;
    size_t wire_len, wire_cap;
    bool wire_full;
    bool failed, unreachable, unobservable;
    char observed[2048];
};

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

static void wire_note(struct cx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wire_note(struct cx *x, const char *fmt, ...)
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

static void wire_bytes(struct cx *x, unsigned ep, bool out, const char *b, size_t n)
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

static void failf(struct cx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(struct cx *x, const char *fmt, ...)
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
    wire_note(x, "NOT MET: %s", x->observed);
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
        wire_bytes(e->x, e->idx, false, buf + used, take);
        if (f.malformed)
            wire_note(e->x, "%c: the bytes above cannot be framed as MSRP (%s)",
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
    wire_note(e->x, "%c: connection %s", 'a' + (int)e->idx, e->close_why);
}

static const struct net_conn_handlers ep_handlers = {
    .on_open = ep_open,
    .on_data = ep_data,
    .on_close = ep_close,
};

static uint64_t scaled(const struct cx *x, uint64_t ns)
{
    double s = x->p->timeout_scale > 0 ? x->p->timeout_scale : 1.0;
    return (uint64_t)((double)ns * s);
}

/* Runs the loop until cond() holds or the deadline passes; returns cond()'s last answer. */
static bool pump(struct cx *x, uint64_t deadline, bool (*cond)(struct cx *, void *), void *arg)
{
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

static bool ep_send(struct cx *x, struct ep *e, const struct iovec *iov, int n)
{
    for (int i = 0; i < n; i++)
        wire_bytes(x, e->idx, true, iov[i].iov_base, iov[i].iov_len);
    if (e->conn == NULL || e->closed) {
        failf(x, "endpoint %c: the connection is closed (%s); nothing could be sent",
              'a' + (int)e->idx, e->close_why);
        return false;
    }
    int rc = net_conn_send(e->conn, iov, n);
    if (rc != 0) {
        failf(x, "endpoint %c: the bytes could not be sent: %s", 'a' + (int)e->idx,
              strerror(rc));
        return false;
    }
    return true;
}

static bool ep_send_text(struct cx *x, struct ep *e, const char *b, size_t n)
{
    struct iovec iov = {(void *)b, n};
    return ep_send(x, e, &iov, 1);
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
    o.connect_timeout_ns = scaled(x, CX_CONNECT_TIMEOUT_NS);
    struct net_tls *tls = x->p->tls ? client_tls() : NULL;
    int rc = net_conn_connect(x->loop, (const struct sockaddr *)&x->p->addr, x->p->addr_len, tls,
                              x->p->sni[0] != '\0' ? x->p->sni : NULL, &ep_handlers, e, &o,
                              &e->conn);
    if (rc != 0) {
        snprintf(x->observed, sizeof x->observed, "cannot connect: %s", strerror(rc));
        x->unreachable = true;
        return false;
    }
    pump(x, net_now_ns() + scaled(x, CX_CONNECT_TIMEOUT_NS) + 1000000000ull, ep_settled, e);
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
static bool frame_parse(const struct frame *f, struct msrp_chunk *ch, struct msrp_header *hdrs)
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

static bool span_is(struct msrp_span s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

/* The first header with this name (case-insensitive), or NULL. */
static const struct msrp_header *find_header(const struct msrp_chunk *ch, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < ch->num_headers; i++)
        if (ch->headers[i].name.len == n && strncasecmp(ch->headers[i].name.ptr, name, n) == 0)
            return &ch->headers[i];
    return NULL;
}

/* ---- placeholders ------------------------------------------------------------------------- */

/* The path an endpoint would use as To-Path to reach the other side. */
static void path_to_peer(const struct cx *x, unsigned ep, char *out, size_t cap)
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
        failf(x, "endpoint %c: {authorization} needs a 401 with a usable WWW-Authenticate "
                 "first, and none was seen",
              'a' + (int)e->idx);
        return;
    }
    size_t len = 0;
    if (msrp_digest_answer(&d, x->p->user != NULL ? x->p->user : "", password, "AUTH",
                           x->p->relay_uri != NULL ? x->p->relay_uri : "", ++e->nc, NULL,
                           &x->ids, out, cap, &len) != 0) {
        failf(x, "the relay's challenge cannot be answered (RFC 2617 MD5, qop auth): %s",
              e->challenge);
        out[0] = '\0';
    }
}

/* Fills a template in for endpoint ep. Returns the length, or SIZE_MAX when it cannot. */
static size_t expand(struct cx *x, unsigned ep, const struct raw_piece *pieces, unsigned n,
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
            path_to_peer(x, ep, tmp, sizeof tmp);
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

static bool draw_id(struct cx *x, char *out, size_t len)
{
    if (msrp_idgen_ident(&x->ids, out, len) != 0) {
        failf(x, "the random generator failed");
        return false;
    }
    out[len] = '\0';
    return true;
}

/* ---- header checks ------------------------------------------------------------------------ */

static bool run_checks(struct cx *x, unsigned ep, const struct step_conform *f,
                       const struct msrp_chunk *ch, const char *what)
{
    if (f == NULL)
        return true;
    for (unsigned i = 0; i < f->num_checks; i++) {
        const struct header_check *hc = &f->checks[i];
        const struct msrp_header *h = find_header(ch, hc->name);
        if (hc->kind == CHECK_ABSENT) {
            if (h != NULL) {
                failf(x, "%s has a %s header (%.*s), which must be absent", what, hc->name,
                      (int)h->value.len, h->value.ptr);
                return false;
            }
            continue;
        }
        if (h == NULL) {
            failf(x, "%s has no %s header", what, hc->name);
            return false;
        }
        if (hc->kind == CHECK_EQUALS) {
            char want[8192];
            size_t n = expand(x, ep, hc->value.pieces, hc->value.num_pieces, hc->value.text, want,
                              sizeof want - 1);
            if (n == SIZE_MAX)
                n = 0;
            want[n] = '\0';
            if (h->value.len != n || memcmp(h->value.ptr, want, n) != 0) {
                failf(x, "%s has %s: %.*s, expected %s: %s", what, hc->name, (int)h->value.len,
                      h->value.ptr, hc->name, want);
                return false;
            }
        } else {
            regex_t re;
            if (regcomp(&re, hc->regex, REG_EXTENDED | REG_NOSUB) != 0) {
                failf(x, "bad regular expression %s", hc->regex);
                return false;
            }
            char *val = strndup(h->value.ptr, h->value.len);
            bool ok = val != NULL && regexec(&re, val, 0, NULL, 0) == 0;
            free(val);
            regfree(&re);
            if (!ok) {
                failf(x, "%s has %s: %.*s, which does not match /%s/", what, hc->name,
                      (int)h->value.len, h->value.ptr, hc->regex);
                return false;
            }
        }
    }
    return true;
}

/* ---- waiting for chunks ------------------------------------------------------------------- */

struct want {
    struct ep *e;
    const char *tid;    /* a response with this tid */
    const char *method; /* or a request with this method ("" any) */
    size_t found;       /* frame index */
    bool any_malformed;
};

/* True when frame i is what w waits for: a response with its tid, or a request of its method. */
static bool frame_wanted(const struct want *w, size_t i, bool response)
{
    struct frame *f = &w->e->frames[i];
    struct msrp_header hdrs[CX_MAX_HEADERS];
    struct msrp_chunk ch;
    if (f->used || !frame_parse(f, &ch, hdrs))
        return false;
    if (response)
        return ch.kind == MSRP_RESPONSE && span_is(ch.tid, w->tid);
    return ch.kind == MSRP_REQUEST && (w->method[0] == '\0' || span_is(ch.method, w->method));
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

static bool find_response(struct cx *x, void *arg)
{
    (void)x;
    return find_frame(arg, true);
}

static bool find_request(struct cx *x, void *arg)
{
    (void)x;
    return find_frame(arg, false);
}

static bool ep_closed(struct cx *x, void *arg)
{
    (void)x;
    return ((struct ep *)arg)->closed;
}

static bool status_in(int status, const int *list, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (list[i] == status)
            return true;
    return false;
}

static void statuses_text(const int *list, unsigned n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%d", i == 0 ? "" : " or ", list[i]);
}

/* ---- what REPORTs cover -------------------------------------------------------------------- */

/* RFC 4975 7.1.3 (MAY): a receiver may report on the whole message at once, or as chunks
 * arrive, each REPORT covering some of the bytes. So a success check adds up the Byte-Ranges
 * of every REPORT for the Message-ID instead of trusting the first one. */
struct coverage {
    uint64_t (*iv)[2]; /* [start, end], 1-based inclusive */
    size_t n, cap;
};

static bool coverage_add(struct coverage *cv, uint64_t start, uint64_t end)
{
    if (cv->n == cv->cap) {
        size_t cap = cv->cap == 0 ? 16 : cv->cap * 2;
        void *p = realloc(cv->iv, cap * sizeof(*cv->iv));
        if (p == NULL)
            return false;
        cv->iv = p;
        cv->cap = cap;
    }
    cv->iv[cv->n][0] = start;
    cv->iv[cv->n][1] = end;
    cv->n++;
    return true;
}

static int by_start(const void *a, const void *b)
{
    uint64_t x = (*(const uint64_t(*)[2])a)[0], y = (*(const uint64_t(*)[2])b)[0];
    return x < y ? -1 : x > y;
}

/* The last byte of the run 1..k that the ranges cover together (0: not even byte 1). */
static uint64_t coverage_prefix(struct coverage *cv)
{
    if (cv->n == 0)
        return 0; /* no REPORT yet: iv may still be NULL, which qsort must not see */
    qsort(cv->iv, cv->n, sizeof(*cv->iv), by_start);
    uint64_t upto = 0;
    for (size_t i = 0; i < cv->n && cv->iv[i][0] <= upto + 1; i++)
        if (cv->iv[i][1] > upto)
            upto = cv->iv[i][1];
    return upto;
}

/* Adds a REPORT's Byte-Range to cv. False, with the failure recorded, when it has none, it
 * does not parse, or its total contradicts the message's (total: 0 when not known). */
static bool coverage_take(struct cx *x, struct coverage *cv, const struct msrp_chunk *ch,
                          uint64_t total, const char *what)
{
    const struct msrp_header *h = find_header(ch, "Byte-Range");
    struct msrp_byte_range r;
    if (h == NULL) {
        failf(x, "%s has no Byte-Range; a success REPORT says which bytes arrived", what);
        return false;
    }
    if (!msrp_byte_range_parse(h->value, &r) || r.end == MSRP_RANGE_UNKNOWN) {
        failf(x, "%s has Byte-Range: %.*s, which does not name the bytes it reports on", what,
              (int)h->value.len, h->value.ptr);
        return false;
    }
    if (total != 0 && r.total != MSRP_RANGE_UNKNOWN && r.total != total) {
        failf(x, "%s has Byte-Range: %.*s, but the message has %" PRIu64 " bytes", what,
              (int)h->value.len, h->value.ptr, total);
        return false;
    }
    if (r.end >= r.start && !coverage_add(cv, r.start, r.end)) {
        failf(x, "out of memory");
        return false;
    }
    return true;
}

/* ---- steps -------------------------------------------------------------------------------- */

static struct ep *step_ep(struct cx *x, const struct step_conform *f)
{
    unsigned i = f != NULL ? f->endpoint : 0;
    if (i >= x->neps) {
        failf(x, "the case uses endpoint %c, which this case does not set up", 'a' + (int)i);
        return NULL;
    }
    return &x->ep[i];
}

static void step_raw(struct cx *x, const struct step_raw *st)
{
    struct ep *e = step_ep(x, st->conform);
    if (e == NULL)
        return;
    if (!draw_id(x, x->tid, SCENARIO_RAW_TID_LEN))
        return;
    if ((st->conform == NULL || !st->conform->same_message_id || x->mid[0] == '\0') &&
        !draw_id(x, x->mid, SCENARIO_RAW_MESSAGE_ID_LEN))
        return;
    char *buf = malloc(SCENARIO_RAW_MAX + 1);
    if (buf == NULL) {
        failf(x, "out of memory");
        return;
    }
    size_t n = expand(x, e->idx, st->pieces, st->num_pieces, st->text, buf, SCENARIO_RAW_MAX);
    if (x->failed) {
        free(buf);
        return;
    }
    if (n == SIZE_MAX) {
        failf(x, "the raw template does not fit %d bytes once filled in", SCENARIO_RAW_MAX);
        free(buf);
        return;
    }
    bool sent = ep_send_text(x, e, buf, n);
    free(buf);
    if (!sent)
        return;
    uint64_t deadline = net_now_ns() + scaled(x, st->timeout_ns);
    struct want w = {.e = e, .tid = x->tid};
    switch (st->expect) {
    case RAW_EXPECT_CLOSE:
        if (!pump(x, deadline, ep_closed, e))
            failf(x, "the connection stayed open for %.1f s; expected the peer to close it",
                  (double)scaled(x, st->timeout_ns) / 1e9);
        return;
    case RAW_EXPECT_NONE: {
        pump(x, deadline, find_response, &w);
        struct msrp_header hdrs[CX_MAX_HEADERS];
        struct msrp_chunk ch;
        for (size_t i = 0; i < e->nframes; i++)
            if (!e->frames[i].used && frame_parse(&e->frames[i], &ch, hdrs) &&
                ch.kind == MSRP_RESPONSE && span_is(ch.tid, x->tid)) {
                e->frames[i].used = true;
                failf(x, "a response %d arrived for transaction %s; expected none", ch.status,
                      x->tid);
                return;
            }
        if (e->closed)
            failf(x, "the peer closed the connection (%s); expected no response and the "
                     "connection kept open",
                  e->close_why);
        return;
    }
    case RAW_EXPECT_RESPONSE:
        break;
    }
    char want[64];
    statuses_text(st->statuses, st->num_statuses, want, sizeof want);
    if (!pump(x, deadline, find_response, &w) || e->closed) {
        /* A response may have come in just before the close. */
        bool got = false;
        for (size_t i = 0; i < e->nframes && e->closed; i++) {
            struct msrp_header hdrs[CX_MAX_HEADERS];
            struct msrp_chunk ch;
            if (!e->frames[i].used && frame_parse(&e->frames[i], &ch, hdrs) &&
                ch.kind == MSRP_RESPONSE && span_is(ch.tid, x->tid)) {
                w.found = i;
                got = true;
                break;
            }
        }
        if (!got) {
            if (e->closed)
                failf(x, "the peer closed the connection (%s) without a response to "
                         "transaction %s; expected %s",
                      e->close_why, x->tid, want);
            else
                failf(x, "no response to transaction %s within %.1f s; expected %s", x->tid,
                      (double)scaled(x, st->timeout_ns) / 1e9, want);
            return;
        }
    }
    struct msrp_header hdrs[CX_MAX_HEADERS];
    struct msrp_chunk ch;
    e->frames[w.found].used = true;
    frame_parse(&e->frames[w.found], &ch, hdrs);
    if (!status_in(ch.status, st->statuses, st->num_statuses)) {
        failf(x, "the response to transaction %s has status %d; expected %s", x->tid, ch.status,
              want);
        return;
    }
    if (ch.status == 401) {
        const struct msrp_header *h = find_header(&ch, "WWW-Authenticate");
        if (h != NULL && h->value.len < sizeof e->challenge) {
            memcpy(e->challenge, h->value.ptr, h->value.len);
            e->challenge[h->value.len] = '\0';
            e->nc = 0;
        }
    }
    char what[96];
    snprintf(what, sizeof what, "the %d response to transaction %s", ch.status, x->tid);
    run_checks(x, e->idx, st->conform, &ch, what);
}

/* True once the requests of w's method carrying x->mid cover bytes 1..w->found (or on a
 * close). Checked requests are marked used; arg is a struct cover_want. */
struct cover_want {
    struct ep *e;
    const struct step_receive *st;
    struct coverage cv;
    size_t seen;
    bool bad;
};

static bool cover_step(struct cx *x, void *arg)
{
    struct cover_want *cw = arg;
    struct ep *e = cw->e;
    for (size_t i = 0; i < e->nframes && !cw->bad; i++) {
        struct msrp_header hdrs[CX_MAX_HEADERS];
        struct msrp_chunk ch;
        if (e->frames[i].used || !frame_parse(&e->frames[i], &ch, hdrs) ||
            ch.kind != MSRP_REQUEST || !span_is(ch.method, cw->st->method))
            continue;
        const struct msrp_header *mid = find_header(&ch, "Message-ID");
        if (mid == NULL || !span_is(mid->value, x->mid))
            continue;
        e->frames[i].used = true;
        cw->seen++;
        char what[128];
        snprintf(what, sizeof what, "the %s received by endpoint %c (transaction %.*s)",
                 cw->st->method, 'a' + (int)e->idx, (int)ch.tid.len, ch.tid.ptr);
        if (!run_checks(x, e->idx, cw->st->conform, &ch, what) ||
            !coverage_take(x, &cw->cv, &ch, cw->st->cover, what))
            cw->bad = true;
    }
    return cw->bad || e->closed || coverage_prefix(&cw->cv) >= cw->st->cover;
}

/* A receive with "cover": every REPORT (say) for the message passes the checks, and together
 * they cover the whole message within the timeout. */
static void receive_cover(struct cx *x, struct ep *e, const struct step_receive *st)
{
    struct cover_want cw = {.e = e, .st = st};
    pump(x, net_now_ns() + scaled(x, st->timeout_ns), cover_step, &cw);
    cover_step(x, &cw);
    if (!cw.bad) {
        uint64_t upto = coverage_prefix(&cw.cv);
        if (cw.seen == 0)
            failf(x, "endpoint %c received no %s for message %s within %.1f s%s%s",
                  'a' + (int)e->idx, st->method, x->mid, (double)scaled(x, st->timeout_ns) / 1e9,
                  e->closed ? "; the connection " : "", e->closed ? e->close_why : "");
        else if (upto < st->cover)
            failf(x, "the %zu %s(s) for message %s cover bytes 1-%" PRIu64 " of %" PRIu64
                     " together (byte %" PRIu64 " is in none) within %.1f s; expected all of "
                     "them covered",
                  cw.seen, st->method, x->mid, upto, st->cover, upto + 1,
                  (double)scaled(x, st->timeout_ns) / 1e9);
    }
    free(cw.cv.iv);
}

static void step_receive(struct cx *x, const struct step_receive *st)
{
    struct ep *e = step_ep(x, st->conform);
    if (e == NULL)
        return;
    if (st->cover > 0) {
        receive_cover(x, e, st);
        return;
    }
    uint64_t deadline = net_now_ns() + scaled(x, st->timeout_ns);
    struct want w = {.e = e, .method = st->method};
    const char *what_m = st->method[0] != '\0' ? st->method : "request";
    bool got = pump(x, deadline, find_request, &w);
    /* find_request also returns true on a close: look again for a real request. */
    got = false;
    for (size_t i = 0; i < e->nframes; i++) {
        struct msrp_header hdrs[CX_MAX_HEADERS];
        struct msrp_chunk ch;
        if (!e->frames[i].used && frame_parse(&e->frames[i], &ch, hdrs) &&
            ch.kind == MSRP_REQUEST &&
            (st->method[0] == '\0' || span_is(ch.method, st->method))) {
            w.found = i;
            got = true;
            break;
        }
    }
    if (st->optional && !got)
        return;
    if (st->none) {
        if (got) {
            struct msrp_header hdrs[CX_MAX_HEADERS];
            struct msrp_chunk ch;
            e->frames[w.found].used = true;
            frame_parse(&e->frames[w.found], &ch, hdrs);
            const struct msrp_header *s = find_header(&ch, "Status");
            failf(x, "endpoint %c received a %.*s (transaction %.*s%s%.*s); expected none",
                  'a' + (int)e->idx, (int)ch.method.len, ch.method.ptr, (int)ch.tid.len,
                  ch.tid.ptr, s != NULL ? ", Status: " : "", s != NULL ? (int)s->value.len : 0,
                  s != NULL ? s->value.ptr : "");
        }
        return;
    }
    if (!got) {
        failf(x, "endpoint %c received no %s within %.1f s%s%s", 'a' + (int)e->idx, what_m,
              (double)scaled(x, st->timeout_ns) / 1e9, e->closed ? "; the connection " : "",
              e->closed ? e->close_why : "");
        return;
    }
    struct msrp_header hdrs[CX_MAX_HEADERS];
    struct msrp_chunk ch;
    e->frames[w.found].used = true;
    frame_parse(&e->frames[w.found], &ch, hdrs);
    char what[96];
    snprintf(what, sizeof what, "the %.*s received by endpoint %c (transaction %.*s)",
             (int)ch.method.len, ch.method.ptr, 'a' + (int)e->idx, (int)ch.tid.len, ch.tid.ptr);
    if (!run_checks(x, e->idx, st->conform, &ch, what))
        return;
    if (st->respond > 0) {
        /* Hop by hop: back to the previous hop, the first URI of the From-Path. */
        const struct msrp_header *from = find_header(&ch, "From-Path");
        size_t flen = 0;
        if (from != NULL) {
            const char *sp = memchr(from->value.ptr, ' ', from->value.len);
            flen = sp != NULL ? (size_t)(sp - from->value.ptr) : from->value.len;
        }
        char resp[4096];
        int n = snprintf(resp, sizeof resp,
                         "MSRP %.*s %d Response\r\nTo-Path: %.*s\r\nFrom-Path: %s\r\n-------%.*s"
                         "$\r\n",
                         (int)ch.tid.len, ch.tid.ptr, st->respond, (int)flen,
                         from != NULL ? from->value.ptr : "", e->local_uri, (int)ch.tid.len,
                         ch.tid.ptr);
        if (n > 0 && (size_t)n < sizeof resp)
            ep_send_text(x, e, resp, (size_t)n);
    }
}

/* One chunk of a send step: its range and flag. */
struct plan {
    uint64_t start, end; /* 1-based, inclusive; end < start for an empty body */
    bool end_star;       /* interrupted: the range end is "*" */
    char flag;
};

static size_t make_plan(struct cx *x, const struct step_send *s, uint64_t size, struct plan *p,
                        size_t cap)
{
    uint64_t last = s->abort_after > 0 && s->abort_after < size ? s->abort_after : size;
    if (s->abort_after > 0)
        last = s->abort_after;
    size_t n = 0;
    if (last == 0) {
        p[n++] = (struct plan){1, 0, false, '$'};
        return n;
    }
    uint64_t start = 1;
    while (start <= last && n < cap) {
        uint64_t end = start + s->chunk_size - 1;
        if (end > last)
            end = last;
        bool star = false;
        if (s->interrupt_after > 0 && start <= s->interrupt_after && s->interrupt_after < end) {
            end = s->interrupt_after;
            star = true;
        }
        p[n++] = (struct plan){start, end, star, '+'};
        if (end >= last)
            break;
        start = end + 1;
        if (s->order == ORDER_OVERLAPPING && end + 1 > s->overlap && !star)
            start = end + 1 - s->overlap;
    }
    if (s->order == ORDER_REVERSE) {
        for (size_t i = 0; i < n / 2; i++) {
            struct plan t = p[i];
            p[i] = p[n - 1 - i];
            p[n - 1 - i] = t;
        }
    } else if (s->order == ORDER_SHUFFLED && n > 1) {
        for (size_t i = n - 1; i > 0; i--) {
            uint8_t r[4];
            uint32_t v = 0;
            char id[4];
            if (msrp_idgen_ident(&x->ids, id, 4) == 0)
                memcpy(r, id, 4);
            else
                memset(r, 0, 4);
            v = (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3];
            size_t j = v % (i + 1);
            struct plan t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        if (p[0].start == 1) { /* out of order for sure: range 1 never leaves first */
            struct plan t = p[0];
            p[0] = p[1];
            p[1] = t;
        }
    }
    for (size_t i = 0; i < n; i++)
        p[i].flag = i + 1 == n ? (s->abort_after > 0 ? '#' : '$') : '+';
    return n;
}

static const char *report_text(enum msrp_report r)
{
    return r == MSRP_REPORT_YES ? "yes" : r == MSRP_REPORT_NO ? "no" : "partial";
}

static void step_send(struct cx *x, const struct step_send *s)
{
    struct ep *e = &x->ep[0];
    uint64_t size = s->content != NULL ? s->content_len : s->size_min;
    if (s->count != 1) {
        failf(x, "send steps in case files send one message (count 1)");
        return;
    }
    char *body = NULL;
    if (s->content == NULL && size > 0) {
        body = malloc(size);
        if (body == NULL) {
            failf(x, "out of memory");
            return;
        }
        /* Letters only: the body can never hold an end-line. */
        for (uint64_t i = 0; i < size; i++)
            body[i] = (char)('a' + i % 26);
    }
    const char *content = s->content != NULL ? s->content : body;
    struct plan *plan = calloc(CX_MAX_CHUNKS, sizeof(*plan));
    free(x->sent);
    x->sent = NULL;
    x->nsent = 0;
    if (plan == NULL || !draw_id(x, x->mid, SCENARIO_RAW_MESSAGE_ID_LEN)) {
        free(plan);
        free(body);
        return;
    }
    size_t n = make_plan(x, s, size, plan, CX_MAX_CHUNKS);
    x->sent = calloc(n, sizeof(*x->sent));
    if (x->sent == NULL) {
        free(plan);
        free(body);
        return;
    }
    x->sent_fr = s->failure_report;
    x->sent_ep = 0;
    x->sent_size = s->abort_after > 0 && s->abort_after < size ? 0 : size;
    char to[4096];
    path_to_peer(x, 0, to, sizeof to);
    for (size_t i = 0; i < n && !x->failed; i++) {
        struct plan *pc = &plan[i];
        struct sent_chunk *sc = &x->sent[x->nsent++];
        if (!draw_id(x, sc->tid, MSRP_GENERATED_TID_LEN))
            break;
        char end[24], total[24], head[8192];
        if (pc->end_star || pc->end < pc->start)
            snprintf(end, sizeof end, pc->end < pc->start ? "0" : "*");
        else
            snprintf(end, sizeof end, "%" PRIu64, pc->end);
        if (s->unknown_total)
            snprintf(total, sizeof total, "*");
        else
            snprintf(total, sizeof total, "%" PRIu64, size);
        int hn = snprintf(head, sizeof head,
                          "MSRP %s SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: %s\r\n"
                          "Byte-Range: %" PRIu64 "-%s/%s\r\n%s%s%s%s%s%sContent-Type: %s\r\n\r\n",
                          sc->tid, to, e->local_uri, x->mid, pc->start, end, total,
                          s->success_report != MSRP_REPORT_ABSENT ? "Success-Report: " : "",
                          s->success_report != MSRP_REPORT_ABSENT
                              ? report_text(s->success_report)
                              : "",
                          s->success_report != MSRP_REPORT_ABSENT ? "\r\n" : "",
                          s->failure_report != MSRP_REPORT_ABSENT ? "Failure-Report: " : "",
                          s->failure_report != MSRP_REPORT_ABSENT
                              ? report_text(s->failure_report)
                              : "",
                          s->failure_report != MSRP_REPORT_ABSENT ? "\r\n" : "", s->content_type);
        char tail[64];
        int tn = snprintf(tail, sizeof tail, "\r\n-------%s%c\r\n", sc->tid, pc->flag);
        size_t blen = pc->end >= pc->start ? (size_t)(pc->end - pc->start + 1) : 0;
        struct iovec iov[3] = {{head, (size_t)hn},
                               {(void *)(content + (blen > 0 ? pc->start - 1 : 0)), blen},
                               {tail, (size_t)tn}};
        if (hn <= 0 || (size_t)hn >= sizeof head) {
            failf(x, "a chunk head does not fit");
            break;
        }
        if (!ep_send(x, e, iov, 3))
            break;
    }
    free(plan);
    free(body);
}

static bool all_answered(struct cx *x, void *arg)
{
    (void)arg;
    struct ep *e = &x->ep[x->sent_ep];
    for (size_t i = 0; i < x->nsent; i++) {
        if (x->sent[i].status != 0)
            continue;
        for (size_t j = 0; j < e->nframes; j++) {
            struct msrp_header hdrs[CX_MAX_HEADERS];
            struct msrp_chunk ch;
            if (!e->frames[j].used && frame_parse(&e->frames[j], &ch, hdrs) &&
                ch.kind == MSRP_RESPONSE && span_is(ch.tid, x->sent[i].tid)) {
                e->frames[j].used = true;
                x->sent[i].status = ch.status;
                break;
            }
        }
        if (x->sent[i].status == 0)
            return e->closed;
    }
    return true;
}

/* The REPORTs for the last send step's message: the first error status among them, or the
 * success ones until they cover the whole message (RFC 4975 7.1.3 lets a receiver report as
 * chunks arrive). */
struct report_want {
    int status;   /* 0: none yet; the error status of the first REPORT that has one */
    bool found;   /* a REPORT arrived */
    bool bad;     /* a REPORT's Byte-Range is wrong (recorded by failf) */
    struct coverage cv;
};

static bool find_report(struct cx *x, void *arg)
{
    struct report_want *rw = arg;
    struct ep *e = &x->ep[x->sent_ep];
    for (size_t j = 0; j < e->nframes && !rw->bad; j++) {
        struct msrp_header hdrs[CX_MAX_HEADERS];
        struct msrp_chunk ch;
        if (e->frames[j].used || !frame_parse(&e->frames[j], &ch, hdrs) ||
            ch.kind != MSRP_REQUEST || ch.method_id != MSRP_METHOD_REPORT)
            continue;
        const struct msrp_header *mid = find_header(&ch, "Message-ID");
        if (mid == NULL || !span_is(mid->value, x->mid))
            continue;
        const struct msrp_header *st = find_header(&ch, "Status");
        struct msrp_status status = {0, 0, {NULL, 0}};
        if (st != NULL)
            msrp_status_parse(st->value, &status);
        e->frames[j].used = true;
        rw->found = true;
        if (status.code != 200) {
            rw->status = status.code;
            return true;
        }
        char what[128];
        snprintf(what, sizeof what, "the success REPORT for message %s (transaction %.*s)",
                 x->mid, (int)ch.tid.len, ch.tid.ptr);
        if (x->sent_size > 0 && !coverage_take(x, &rw->cv, &ch, 0, what))
            rw->bad = true;
    }
    if (rw->bad || e->closed)
        return true;
    return rw->found && (x->sent_size == 0 || coverage_prefix(&rw->cv) >= x->sent_size);
}

static void step_expect(struct cx *x, const struct step_expect *st)
{
    if (x->failed || x->sent == NULL)
        return;
    uint64_t deadline = net_now_ns() + scaled(x, st->timeout_ns);
    pump(x, deadline, all_answered, NULL);
    all_answered(x, NULL);
    int outcome = 200;
    bool answered = true;
    for (size_t i = 0; i < x->nsent; i++) {
        if (x->sent[i].status == 0) {
            answered = false;
        } else if (x->sent[i].status != 200 && outcome == 200) {
            outcome = x->sent[i].status;
        }
    }
    bool fr_yes = x->sent_fr == MSRP_REPORT_YES || x->sent_fr == MSRP_REPORT_ABSENT;
    if (!answered && outcome == 200 && fr_yes)
        outcome = 408;
    char want[64];
    statuses_text(st->statuses, st->num_statuses, want, sizeof want);
    if (status_in(outcome, st->unobservable_if, st->num_unobservable_if)) {
        /* Not a failure: the case cannot see what it checks past this answer. */
        x->unobservable = true;
        snprintf(x->observed, sizeof x->observed,
                 "the message's outcome is %d, after which what the case checks cannot be seen",
                 outcome);
        wire_note(x, "UNOBSERVABLE: %s", x->observed);
        return;
    }
    if (!status_in(outcome, st->statuses, st->num_statuses)) {
        if (outcome == 408)
            failf(x, "not every chunk had a response within %.1f s (a local 408); expected %s",
                  (double)scaled(x, st->timeout_ns) / 1e9, want);
        else
            failf(x, "the message's outcome is %d; expected %s", outcome, want);
        return;
    }
    if (st->answered == 1 && !answered) {
        failf(x, "not every chunk had a response; expected each to be answered");
        return;
    }
    if (st->answered == 0 && answered && x->nsent > 0) {
        for (size_t i = 0; i < x->nsent; i++)
            if (x->sent[i].status != 0) {
                failf(x, "chunk %s got a response %d; expected none", x->sent[i].tid,
                      x->sent[i].status);
                return;
            }
    }
    if (st->answered == 0) {
        for (size_t i = 0; i < x->nsent; i++)
            if (x->sent[i].status != 0) {
                failf(x, "chunk %s got a response %d; expected none", x->sent[i].tid,
                      x->sent[i].status);
                return;
            }
    }
    if (st->report != 0) {
        struct report_want rw = {0};
        pump(x, net_now_ns() + scaled(x, st->timeout_ns), find_report, &rw);
        find_report(x, &rw);
        uint64_t upto = rw.status == 0 && x->sent_size > 0 ? coverage_prefix(&rw.cv) : 0;
        free(rw.cv.iv);
        if (rw.bad)
            return;
        if (!rw.found) {
            failf(x, "no REPORT for message %s within %.1f s; expected one with Status %d",
                  x->mid, (double)scaled(x, st->timeout_ns) / 1e9, st->report);
            return;
        }
        int got = rw.status != 0 ? rw.status : 200;
        if (got != st->report) {
            failf(x, "a REPORT for message %s has status %d; expected %d", x->mid, got,
                  st->report);
            return;
        }
        if (got == 200 && x->sent_size > 0 && upto < x->sent_size)
            failf(x, "the success REPORTs for message %s cover bytes 1-%" PRIu64 " of %" PRIu64
                     " within %.1f s; expected all of them covered",
                  x->mid, upto, x->sent_size, (double)scaled(x, st->timeout_ns) / 1e9);
    }
}

/* ---- set-up ------------------------------------------------------------------------------- */

static bool bound_ok(struct cx *x, void *arg)
{
    return find_response(x, arg);
}

static bool bind_target(struct cx *x)
{
    struct ep *e = &x->ep[0];
    char tid[SCENARIO_RAW_TID_LEN + 1], mid[SCENARIO_RAW_MESSAGE_ID_LEN + 1];
    if (!draw_id(x, tid, SCENARIO_RAW_TID_LEN) || !draw_id(x, mid, SCENARIO_RAW_MESSAGE_ID_LEN))
        return false;
    char buf[4096];
    int n = snprintf(buf, sizeof buf,
                     "MSRP %s SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: %s\r\n"
                     "Byte-Range: 1-0/0\r\n-------%s$\r\n",
                     tid, x->p->target_uri, e->local_uri, mid, tid);
    wire_note(x, "a: binding the session with an empty SEND (RFC 4975 section 5.4)");
    if (!ep_send_text(x, e, buf, (size_t)n))
        return false;
    struct want w = {.e = e, .tid = tid};
    if (!pump(x, net_now_ns() + scaled(x, CX_BIND_TIMEOUT_NS), bound_ok, &w) || e->closed) {
        failf(x, "the binding SEND got no response (%s); the case cannot run",
              e->closed ? e->close_why : "timeout");
        return false;
    }
    struct msrp_header hdrs[CX_MAX_HEADERS];
    struct msrp_chunk ch;
    e->frames[w.found].used = true;
    frame_parse(&e->frames[w.found], &ch, hdrs);
    if (ch.status != 200) {
        failf(x, "the binding SEND was answered %d; the case cannot run", ch.status);
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
        .timeout_ns = scaled(x, 10ull * 1000000000ull),
    };
    int rc = msrp_relay_auth_start(x->loop, &cfg, auth_done, e, NULL);
    if (rc != 0) {
        snprintf(x->observed, sizeof x->observed, "relay AUTH could not start: %s",
                 strerror(rc));
        x->unreachable = true;
        return false;
    }
    pump(x, net_now_ns() + cfg.timeout_ns + 2000000000ull, auth_settled, e);
    if (!e->auth_ok) {
        snprintf(x->observed, sizeof x->observed, "endpoint %c could not authenticate: %s",
                 'a' + (int)e->idx, e->auth_done ? e->auth_error : "timed out");
        x->unreachable = true;
        return false;
    }
    wire_note(x, "%c: authenticated with the relay as %s (AUTH exchange not quoted); Use-Path: %s",
              'a' + (int)e->idx, x->p->user, e->use_path);
    return true;
}

static bool setup(struct cx *x)
{
    const struct scenario_case *k = x->k;
    x->neps = k->needs == CASE_RELAY && k->endpoints == CASE_EP_AB ? 2 : 1;
    for (unsigned i = 0; i < x->neps; i++) {
        x->ep[i].x = x;
        x->ep[i].idx = i;
        msrp_parser_init(&x->ep[i].parser, NULL);
        make_local_uri(x, &x->ep[i]);
    }
    if (k->needs == CASE_TARGET) {
        if (!ep_connect(x, &x->ep[0]))
            return false;
        return !k->bind || bind_target(x);
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
            step_send(x, &st->u.send);
            break;
        case STEP_EXPECT:
            step_expect(x, &st->u.expect);
            break;
        case STEP_PAUSE:
            pump(x, net_now_ns() + st->u.pause_ns, NULL, NULL);
            break;
        case STEP_RAW:
            step_raw(x, &st->u.raw);
            break;
        case STEP_RECEIVE:
            step_receive(x, &st->u.receive);
            break;
        case STEP_CLOSE:
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

void conform_run_case(const struct scenario *sc, const struct conform_peer *p,
                      struct conform_result *r)
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
    if (msrp_idgen_init(&x->ids) != 0) {
        snprintf(x->observed, sizeof x->observed, "the random generator failed");
        x->unreachable = true;
    } else if (setup(x)) {
        walk(x);
    }
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
    }
    free(x->sent);
    net_loop_destroy(x->loop);
    free(x);
    r->seconds = (double)(net_now_ns() - t0) / 1e9;
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
    /* A target may be a full path; the connection goes to its first URI. */
    size_t len = strcspn(uri, " ");
    struct msrp_uri u;
    enum msrp_uri_error ue = msrp_uri_parse(uri, len, &u);
    if (ue != MSRP_URI_OK) {
        snprintf(err, errlen, "%s: not an MSRP URI: %s", uri, msrp_uri_error_text(ue));
        return -1;
    }
    char host[256];
    if (u.host.len >= sizeof host) {
        snprintf(err, errlen, "%s: host too long", uri);
        return -1;
    }
    memcpy(host, u.host.ptr, u.host.len);
    host[u.host.len] = '\0';
    int rc = net_addr_resolve(host, u.has_port ? u.port : MSRP_DEFAULT_PORT, &p->addr,
                              &p->addr_len);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot resolve %s: %s", uri, host,
                 rc == ENOENT ? "unknown host" : strerror(rc));
        return -1;
    }
    p->tls = u.secure;
    if (u.host_type == MSRP_HOST_NAME)
        snprintf(p->sni, sizeof p->sni, "%s", host);
    return 0;
}
