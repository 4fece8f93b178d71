/*
 * exec.c - the conformance case executor (conform.h): placeholders, header checks, set-up
 * (binding, AUTH) and the walk through a case's steps to its verdict. Its parts: the steps
 * in steps.c, the cutting into writes in delivery.c, the connections and the frames read from
 * them in endpoints.c, the wire record in wirelog.c, the rules on every frame in framerules.c
 * (cx.h holds what they share). It owns the walk and the verdict; it reads no socket
 * (endpoints.c does) and formats no wire record (wirelog.c does).
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

#include "net/conn.h"
#include "net/loop.h"
#include "wire/digest.h"
#include "wire/idgen.h"
#include "wire/parser.h"
#include "wire/writer.h"
#include "wire/values.h"

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
        snprintf(out, cap, "%s", me->use_path[0] != '\0' ? me->use_path : x->p->hop[ep].msrp_uri);
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
                           x->p->hop[e->idx].msrp_uri, ++e->nc, NULL,
                           &x->ids, out, cap, &len) != 0) {
        cx_fail(x, "the relay's challenge cannot be answered (RFC 2617 MD5, qop auth): %s",
                e->challenge);
        out[0] = '\0';
    }
}

/* The value of a conformance placeholder for endpoint ep, into tmp (cap bytes). */
static void conform_value(struct cx *x, unsigned ep, enum conform_value value, char *tmp,
                          size_t cap)
{
        tmp[0] = '\0';
    switch (value) {
            case CONFORM_V_RELAY_URI:
        snprintf(tmp, cap, "%s", x->p->relay_uri ? x->p->hop[ep].msrp_uri : "");
                break;
            case CONFORM_V_USE_PATH:
        snprintf(tmp, cap, "%s", x->ep[0].use_path);
                break;
            case CONFORM_V_PEER_USE_PATH:
        snprintf(tmp, cap, "%s", x->ep[1].use_path);
                break;
            case CONFORM_V_PEER_URI:
        snprintf(tmp, cap, "%s", x->ep[1].local_uri);
                break;
            case CONFORM_V_AUTHORIZATION:
                digest_value(x, &x->ep[ep], x->p->password ? x->p->password : "", tmp,
                     cap);
                break;
            case CONFORM_V_BAD_AUTHORIZATION: {
                /* A password that is certainly not the right one. */
                char wrong[300];
                snprintf(wrong, sizeof wrong, "%s-not", x->p->password ? x->p->password : "");
        digest_value(x, &x->ep[ep], wrong, tmp, cap);
                break;
            }
            case CONFORM_V_USER:
        snprintf(tmp, cap, "%s", x->p->user ? x->p->user : "");
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
                const char *u = x->p->target_uri != NULL ? x->p->target_uri : x->p->hop[ep].msrp_uri;
                size_t ulen = strcspn(u, " ");
                const char *auth = strstr(u, "://");
                size_t a = auth != NULL ? (size_t)(auth - u) + 3 : 0;
                while (a < ulen && u[a] != '/' && u[a] != ';')
                    a++;
                const char *rest = memchr(u + a, ';', ulen - a);
        snprintf(tmp, cap, "%.*s/nosuchsession0%.*s", (int)a, u,
                         rest != NULL ? (int)(ulen - (size_t)(rest - u)) : 0,
                         rest != NULL ? rest : "");
                break;
            }
            case CONFORM_V_REFUSED_TYPE:
        snprintf(tmp, cap, "%s", x->p->refused_type ? x->p->refused_type : "");
                break;
            case CONFORM_V_TO_PATH_RECASED: {
                /* Scheme, authority and parameters in upper case; the session-id, compared
                 * with regard to case (RFC 4975 section 6.1), as it is. */
                const char *u = x->p->target_uri != NULL ? x->p->target_uri : x->p->hop[ep].msrp_uri;
                size_t ulen = strcspn(u, " ");
                const char *auth = strstr(u, "://");
                size_t sid = auth != NULL ? (size_t)(auth - u) + 3 : 0;
                sid += strcspn(u + sid, "/;");
                size_t params = sid + strcspn(u + sid, ";");
        for (size_t c = 0; c < ulen && c < cap - 1; c++)
                    tmp[c] = (char)(c < sid || c >= params ? toupper((unsigned char)u[c]) : u[c]);
        tmp[ulen < cap - 1 ? ulen : cap - 1] = '\0';
                break;
            }
            }
}

/* Fills a template in for endpoint ep. Returns the length, or SIZE_MAX when it cannot. Only
 * the values the template uses are computed: {authorization} draws a nonce count. */
size_t cx_expand(struct cx *x, unsigned ep, const struct raw_piece *pieces, unsigned n,
                 const char *text, char *out, size_t cap)
{
    char to_path[4096], values[CONFORM_V_COUNT][4096];
    struct scenario_vars vars = {.tid = msrp_span_cstr(x->tid),
                                 .message_id = msrp_span_cstr(x->mid),
                                 .from_path = msrp_span_cstr(x->ep[ep].local_uri)};
    if (scenario_template_uses(pieces, n, RAW_PART_TO_PATH, 0)) {
        cx_path_to_peer(x, ep, to_path, sizeof to_path);
        vars.to_path = msrp_span_cstr(to_path);
        }
    for (unsigned v = 0; v < CONFORM_V_COUNT; v++) {
        if (!scenario_template_uses(pieces, n, RAW_PART_CONFORM, (enum conform_value)v))
            continue;
        conform_value(x, ep, (enum conform_value)v, values[v], sizeof values[v]);
        vars.conform[v] = msrp_span_cstr(values[v]);
    }
    return scenario_template_expand(pieces, n, text, &vars, out, cap);
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
        if (hc->kind == SCN_CHECK_NOT_MATCHES && h == NULL)
            continue;
        if (hc->kind == SCN_CHECK_ABSENT) {
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
        if (hc->kind == SCN_CHECK_EQUALS) {
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
            if (hc->kind == SCN_CHECK_NOT_MATCHES && ok) {
                cx_fail(x, "%s has %s: %.*s, which matches /%s/; it must not", what, hc->name,
                        (int)h->value.len, h->value.ptr, hc->regex);
                return false;
            }
            if (hc->kind == SCN_CHECK_MATCHES && !ok) {
                cx_fail(x, "%s has %s: %.*s, which does not match /%s/", what, hc->name,
                        (int)h->value.len, h->value.ptr, hc->regex);
                return false;
            }
        }
    }
    return true;
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

static bool setup(struct cx *x)
{
    const struct scenario_case *k = x->k;
    x->neps = k->endpoints == CASE_EP_AB ? 2 : 1;
    for (unsigned i = 0; i < x->neps; i++) {
        x->ep[i].x = x;
        x->ep[i].idx = i;
        msrp_parser_init(&x->ep[i].parser, NULL);
        cx_ep_local_uri(x, &x->ep[i]);
    }
    if (k->needs == CASE_TARGET) {
        if (!cx_ep_connect(x, &x->ep[0]) || (k->bind && !bind_target(x)))
            return false;
        /* b: a second connection to the target that nothing binds */
        return x->neps < 2 || cx_ep_connect(x, &x->ep[1]);
    }
    if (k->endpoints == CASE_EP_NONE)
        return cx_ep_connect(x, &x->ep[0]);
    for (unsigned i = 0; i < x->neps; i++)
        if (!cx_auth_relay(x, &x->ep[i]))
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
        case SCN_STEP_SEND:
            cx_step_send(x, &st->u.send);
            break;
        case SCN_STEP_EXPECT:
            cx_step_expect(x, &st->u.expect);
            break;
        case SCN_STEP_PAUSE:
            cx_pump(x, net_now_ns() + st->u.pause_ns, NULL, NULL);
            break;
        case SCN_STEP_RAW:
            cx_step_raw(x, &st->u.raw);
            break;
        case SCN_STEP_RECEIVE:
            cx_step_receive(x, &st->u.receive);
            break;
        case SCN_STEP_CLOSE:
            cx_flush_held(x);
            for (unsigned i = 0; i < x->neps; i++)
                if (x->ep[i].conn != NULL)
                    net_conn_close(x->ep[i].conn, true);
            return;
        case SCN_STEP_REPEAT_BEGIN:
        case SCN_STEP_REPEAT_END:
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
        if (st->kind != SCN_STEP_RAW)
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
    if (k->websocket != CASE_WS_ANY && !p->hop[0].ws) {
        r->verdict = CONFORM_SKIP;
        snprintf(r->observed, sizeof r->observed,
                 "needs a relay reached over WebSocket (--relay ws://HOST:PORT/ or "
                 "msrp://HOST:PORT;ws, RFC 7977)");
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
        x->in_steps = true;
        walk(x);
        if (x->bind_tid[0] != '\0')
            check_late_bind(x);
        cx_ws_raw_judge(x);
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
    for (unsigned i = 0; i < 2; i++)
        cx_ws_raw_free(&x->ep[i]);
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
    /* a SIP case has no steps: its waits are its calls' */
    if (sc->kase != NULL && sc->kase->needs == CASE_SIP)
        return conform_sip_case_max_wait(sc, p->timeout_scale);
    uint64_t ns = 0;
    for (unsigned i = 0; i < sc->num_steps; i++) {
        const struct step *st = &sc->steps[i];
        switch (st->kind) {
        case SCN_STEP_EXPECT:
            ns += st->u.expect.timeout_ns;
            break;
        case SCN_STEP_RAW:
            ns += st->u.raw.timeout_ns;
            break;
        case SCN_STEP_RECEIVE:
            ns += st->u.receive.timeout_ns;
            break;
        case SCN_STEP_PAUSE:
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
