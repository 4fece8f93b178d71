/*
 * listen_relay.c - conform --listen --as-relay (contract in conform.h): the checker as an RFC
 * 4976 relay with one account (--relay-user, --relay-password-file), judging what a relay
 * client sends. Owns the relay's connections for one case (up to RELAY_CONNS: a client such
 * as msrpload's opens one per end), its digest challenges and their checking, its answers
 * (401, 403, 200 with Use-Path, Expires and Authentication-Info; 200 to SENDs), and the
 * forwarding of SENDs and REPORTs between two clients of the relay (both ends of a session), and the verdicts of the relay-client cases ("client": {"relay": ...}).
 * May not touch: the client command (listen.c) or how results are written (results.c).
 *
 * The digest answer is verified by computing the expected one with the client side's own
 * msrp_digest_answer() (wire/digest.c) from the client's nonce, nc, cnonce and uri and the
 * account's password; the rspauth of Authentication-Info is the same computation with an
 * empty method (RFC 2617's A2 = ":" digest-uri for rspauth).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conform/listen_int.h"
#include "wire/digest.h"
#include "wire/idgen.h"
#include "wire/values.h"

#define RELAY_CONNS 8
#define RELAY_URIS 16
#define RELAY_BUF (64u << 10)
#define RELAY_REALM "conform"
#define RELAY_EXPIRES 600
#define QUIET_S 2.0
/* A request is forwarded when its head (but the paths) and body fit these; a larger one is
 * answered but not forwarded, and the wire record says so. */
#define FWD_HEAD_MAX 4096
#define FWD_BODY_MAX (64u << 10)

/* The requirements the relay-client cases judge (scenarios/conformance/requirements.json). */
#define REQ_AUTH_FIRST "4976-5.1/client-uses-digest"
#define REQ_RESPONSE "4976-5.1/client-digest-response"
#define REQ_RETRY "4976-5.1/client-retries-with-credentials"
#define REQ_CNONCE "4976-9.1/client-cnonce-nc"
#define REQ_URI_QUOTED "4976-9.1/client-uri-quoted"
#define REQ_PORT "4976-8/client-paths-explicit-port"
#define REQ_REUSE "4976-3.1/no-uri-reuse"

struct rconn {
    int fd;
    struct msrp_parser parser;
    char *buf;
    size_t len;
    char nonce[33];        /* the challenge's nonce in force ("" none sent yet) */
    bool challenged;       /* a 401 went out whose nonce no Authorization answered yet */
    bool authed;           /* a 200 to an AUTH went out */
    bool stale_sent;
    unsigned requests;
    char use_path[200];
    /* the request being read */
    bool in_chunk;
    enum msrp_kind kind;
    enum msrp_method method;
    char method_text[32];
    char tid[LISTEN_TID_MAX];
    char to_path[1024], from_path[1024], authz[2048];
    bool has_authz;
    enum msrp_report fr;
    /* what is forwarded of it: its other headers, its body, its flag */
    char fwd_head[FWD_HEAD_MAX];
    size_t fwd_head_len;
    char *fwd_body;
    size_t fwd_body_len;
    bool has_body, fwd_ok;
    char flag;
};

struct rrun {
    struct conform_listener *l;
    const struct scenario_case *k;
    struct lcapture *c;    /* breaches and the wire record only */
    struct rconn conns[RELAY_CONNS];
    size_t nconns, accepted;
    struct msrp_idgen ids;
    struct msrp_header hdrs[64];
    double deadline, last_byte_at;
    /* what the judges need */
    unsigned authz_seen, authz_verified, sends, non_auth, retries_due, retries_done;
    /* each relay URI the checker granted that a SEND used, with the session it went to (the
     * last To-Path URI) the first time; and the sessions seen */
    struct {
        char uri[200], session[400];
    } used[RELAY_URIS];
    size_t nused;
    char sessions[2][400];
    size_t nsessions;
    bool any_request;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void breach(struct rrun *r, const char *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void breach(struct rrun *r, const char *req, const char *fmt, ...)
{
    struct lcapture *c = r->c;
    if (c->nbreaches == LISTEN_MAX_BREACHES)
        return;
    for (size_t i = 0; i < c->nbreaches; i++)
        if (strcmp(c->breaches[i].requirement, req) == 0)
            return; /* the first one of each rule is the one shown */
    struct lbreach *b = &c->breaches[c->nbreaches++];
    b->requirement = req;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->detail, sizeof b->detail, fmt, ap);
    va_end(ap);
}

static void put(struct rrun *r, struct rconn *k, const char *b, size_t n)
{
    listen_wire_bytes(r->c, "a>", b, n);
    double end = now_s() + 2;
    while (n > 0 && k->fd >= 0 && now_s() < end) {
        ssize_t w = send(k->fd, b, n, MSG_NOSIGNAL);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            return;
        } else {
            struct pollfd p = {k->fd, POLLOUT, 0};
            poll(&p, 1, 100);
        }
    }
}

/* The first URI of a path list, and its last. */
static void first_uri(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s", (int)strcspn(path, " "), path);
}
static const char *last_uri(const char *path)
{
    const char *sp = strrchr(path, ' ');
    return sp != NULL ? sp + 1 : path;
}

static void respond(struct rrun *r, struct rconn *k, int status, const char *comment,
                    const char *extra)
{
    char out[3072], me[400];
    first_uri(k->to_path, me, sizeof me);
    int n = snprintf(out, sizeof out, "MSRP %s %d %s\r\nTo-Path: %.*s\r\nFrom-Path: %s\r\n%s"
                     "-------%s$\r\n", k->tid, status, comment,
                     (int)strcspn(k->from_path, " "), k->from_path, me, extra, k->tid);
    if (n > 0 && (size_t)n < sizeof out)
        put(r, k, out, (size_t)n);
}

static void challenge(struct rrun *r, struct rconn *k, bool stale)
{
    char nonce[33], extra[400];
    if (msrp_idgen_ident(&r->ids, nonce, 32) != 0)
        return;
    nonce[32] = '\0';
    memcpy(k->nonce, nonce, sizeof k->nonce);
    snprintf(extra, sizeof extra,
             "WWW-Authenticate: Digest realm=\"" RELAY_REALM "\", nonce=\"%s\", qop=\"auth\", "
             "algorithm=MD5%s\r\n", nonce, stale ? ", stale=true" : "");
    k->challenged = true;
    r->retries_due++;
    respond(r, k, 401, "Unauthorized", extra);
}

/* Our own challenge for nonce, parsed, for msrp_digest_answer. */
static bool our_challenge(const char *nonce, char *text, size_t cap, struct msrp_digest *d)
{
    snprintf(text, cap, "Digest realm=\"" RELAY_REALM "\", nonce=\"%s\", qop=\"auth\", "
             "algorithm=MD5", nonce);
    return msrp_digest_challenge_parse(msrp_span_cstr(text), d);
}

/* The response= value of an Authorization text msrp_digest_answer wrote. */
static void response_of(const char *authz, char *out, size_t cap)
{
    const char *p = strstr(authz, "response=\"");
    out[0] = '\0';
    if (p != NULL)
        snprintf(out, cap, "%.*s", (int)strcspn(p + 10, "\""), p + 10);
}

/* An AUTH read whole: checked and answered. */
static void on_auth(struct rrun *r, struct rconn *k)
{
    const struct case_client *cl = &r->k->client;
    if (!k->has_authz) {
        challenge(r, k, false);
        return;
    }
    r->authz_seen++;
    /* RFC 4976 9.1: "the value of the uri parameter MUST be in quotes" (read from the text:
     * an unquoted URI is no token, so the digest parser would refuse the whole header) */
    for (const char *u = strstr(k->authz, "uri="); u != NULL; u = strstr(u + 4, "uri=")) {
        bool param = u == k->authz || u[-1] == ' ' || u[-1] == ',';
        if (param && u[4] != '"') {
            breach(r, REQ_URI_QUOTED, "AUTH (tid %s): its Authorization has %.*s, not in "
                   "quotes", k->tid, (int)strcspn(u, ", "), u);
            break;
        }
    }
    struct msrp_digest d;
    memset(&d, 0, sizeof d);
    if (!msrp_digest_challenge_parse(msrp_span_cstr(k->authz), &d)) {
        breach(r, REQ_RESPONSE, "AUTH (tid %s): its Authorization is no Digest answer: %.80s",
               k->tid, k->authz);
        challenge(r, k, false);
        return;
    }
    if (d.qop.ptr == NULL || d.cnonce.ptr == NULL || d.nc.ptr == NULL)
        breach(r, REQ_CNONCE, "AUTH (tid %s): its Authorization has no %s", k->tid,
               d.qop.ptr == NULL ? "qop" : d.cnonce.ptr == NULL ? "cnonce" : "nc");
    /* the nonce answered: this connection's, or else the answer cannot be checked */
    bool answers = d.nonce.ptr != NULL && d.nonce.len == strlen(k->nonce) &&
                   memcmp(d.nonce.ptr, k->nonce, d.nonce.len) == 0;
    if (!answers) {
        /* a nonce this connection was not given: a client may send credentials at once with
         * one it was given before (RFC 4976 5.1: the first AUTH "will generally not contain"
         * them), which cannot be checked here: challenged afresh, not judged */
        challenge(r, k, false);
        return;
    }
    if (k->challenged) {
        k->challenged = false;
        r->retries_done++;
    }
    char user[128], uri[512], cnonce[128], nc_text[16];
    snprintf(user, sizeof user, "%.*s", (int)d.username.len, d.username.ptr ? d.username.ptr : "");
    snprintf(uri, sizeof uri, "%.*s", (int)d.uri.len, d.uri.ptr ? d.uri.ptr : "");
    snprintf(cnonce, sizeof cnonce, "%.*s", (int)d.cnonce.len, d.cnonce.ptr ? d.cnonce.ptr : "");
    snprintf(nc_text, sizeof nc_text, "%.*s", (int)d.nc.len, d.nc.ptr ? d.nc.ptr : "");
    char *end = NULL;
    unsigned long nc = strtoul(nc_text, &end, 16);
    /* RFC 4976 9.1: "The request-URI to be used in calculating H(A2) is the rightmost URI in
     * the To-Path header." */
    const char *want_uri = last_uri(k->to_path);
    char ctext[256], expect[1024], got[64], want[64];
    struct msrp_digest ours;
    bool ok = false;
    const char *why = NULL;
    if (strcmp(user, r->l->relay_user) != 0) {
        why = "its username is not the account's";
    } else if (strcmp(uri, want_uri) != 0) {
        why = "its uri is not the rightmost To-Path URI";
    } else if (d.cnonce.ptr == NULL || d.nc.ptr == NULL || end == nc_text || *end != '\0') {
        why = "without cnonce and nc it cannot be checked";
    } else if (!our_challenge(k->nonce, ctext, sizeof ctext, &ours) ||
               msrp_digest_answer(&ours, user, r->l->relay_password, "AUTH", want_uri,
                                  (uint32_t)nc, cnonce, NULL, expect, sizeof expect, NULL) != 0) {
        why = "the checker could not compute the expected answer";
    } else {
        response_of(expect, want, sizeof want);
        snprintf(got, sizeof got, "%.*s", (int)(d.response.len < 63 ? d.response.len : 63),
                 d.response.ptr ? d.response.ptr : "");
        ok = strcasecmp(got, want) == 0;
        if (!ok)
            why = "its response does not verify with the account's password";
    }
    if (!ok) {
        if (d.cnonce.ptr != NULL && d.nc.ptr != NULL) /* else the breach above says it */
            breach(r, REQ_RESPONSE, "AUTH (tid %s): %s (uri \"%.100s\", To-Path %.200s)",
                   k->tid, why, uri, k->to_path);
        respond(r, k, 403, "Forbidden", "");
        return;
    }
    r->authz_verified++;
    if (cl->relay == 2 && !k->stale_sent) {
        /* the case's stale nonce: the answer was right, the nonce is retired */
        k->stale_sent = true;
        challenge(r, k, true);
        return;
    }
    char sid[17], extra[1200], rsp[1024];
    if (msrp_idgen_ident(&r->ids, sid, 16) != 0)
        return;
    sid[16] = '\0';
    snprintf(k->use_path, sizeof k->use_path, "msrp://localhost:%u/%s;tcp",
             (unsigned)r->l->port, sid);
    msrp_digest_answer(&ours, user, r->l->relay_password, "", want_uri, (uint32_t)nc, cnonce,
                       NULL, rsp, sizeof rsp, NULL);
    response_of(rsp, want, sizeof want);
    snprintf(extra, sizeof extra,
             "Use-Path: %s\r\nExpires: %u\r\nAuthentication-Info: qop=auth, rspauth=\"%s\", "
             "cnonce=\"%s\", nc=%s\r\n", k->use_path, RELAY_EXPIRES, want, cnonce, nc_text);
    k->authed = true;
    respond(r, k, 200, "OK", extra);
}

/* The first URI of list without an explicit port (its length in *len), or NULL. */
static const char *portless_uri(const char *list, size_t *len)
{
    for (const char *u = list; *u != '\0';) {
        u += strspn(u, " ");
        size_t n = strcspn(u, " ");
        if (n == 0)
            break;
        const char *auth = strstr(u, "://");
        if (auth != NULL && auth < u + n) {
            auth += 3;
            size_t alen = strcspn(auth, "/; ");
            const char *at = memchr(auth, '@', alen);
            if (at != NULL) { /* userinfo@ comes before the host */
                alen -= (size_t)(at + 1 - auth);
                auth = at + 1;
            }
            const char *host_end = auth;
            if (*auth == '[') {
                const char *rb = memchr(auth, ']', alen);
                host_end = rb != NULL ? rb + 1 : auth + alen;
            } else {
                const char *colon = memchr(auth, ':', alen);
                host_end = colon != NULL ? colon : auth + alen;
            }
            if (host_end >= auth + alen || *host_end != ':' || !(host_end[1] >= '0' &&
                                                                  host_end[1] <= '9')) {
                *len = n;
                return u;
            }
        }
        u += n;
    }
    return NULL;
}

/*
 * Forwards a SEND or REPORT whose To-Path starts with the relay URI granted on its connection
 * and goes on with one granted on another (or the same) connection: the two-hop route of a
 * session between two clients of one relay. Both hops' rewrite at once (RFC 4976 6.4.1 and
 * 6.4.2: each hop removes its URI from the front of the To-Path and puts it at the front of
 * the From-Path), with a new transaction id; the response the next client sends is not
 * passed back (the checker answered the sender already, hop by hop).
 */
static void forward(struct rrun *r, struct rconn *k)
{
    char first[400], second[400];
    first_uri(k->to_path, first, sizeof first);
    const char *rest = k->to_path + strlen(first);
    rest += strspn(rest, " ");
    first_uri(rest, second, sizeof second);
    const char *after = rest + strlen(second);
    after += strspn(after, " ");
    if (strcmp(first, k->use_path) != 0 || second[0] == '\0' || *after == '\0')
        return;
    struct rconn *to = NULL;
    for (size_t i = 0; i < r->nconns && to == NULL; i++)
        if (r->conns[i].fd >= 0 && strcmp(r->conns[i].use_path, second) == 0)
            to = &r->conns[i];
    if (to == NULL)
        return;
    if (!k->fwd_ok) {
        listen_wire_add(r->c, "# %s (tid %s) not forwarded: over %u header or %u body bytes\n",
                        k->method_text, k->tid, FWD_HEAD_MAX, FWD_BODY_MAX);
        return;
    }
    char tid[17];
    if (msrp_idgen_ident(&r->ids, tid, 16) != 0)
        return;
    tid[16] = '\0';
    size_t cap = FWD_HEAD_MAX + FWD_BODY_MAX + 4096;
    char *out = malloc(cap);
    if (out == NULL)
        return;
    int n = snprintf(out, cap, "MSRP %s %s\r\nTo-Path: %s\r\nFrom-Path: %s %s %s\r\n%.*s", tid,
                     k->method_text, after, second, first, k->from_path,
                     (int)k->fwd_head_len, k->fwd_head);
    size_t o = n > 0 ? (size_t)n : cap;
    if (o + k->fwd_body_len + 64 < cap) {
        if (k->has_body) {
            memcpy(out + o, "\r\n", 2);
            memcpy(out + o + 2, k->fwd_body, k->fwd_body_len);
            memcpy(out + o + 2 + k->fwd_body_len, "\r\n", 2);
            o += 4 + k->fwd_body_len;
        }
        o += (size_t)snprintf(out + o, cap - o, "-------%s%c\r\n", tid, k->flag);
        listen_wire_add(r->c, "# forwarded to connection %zu:\n", (size_t)(to - r->conns) + 1);
        put(r, to, out, o);
    }
    free(out);
}

/* RFC 4976 section 3.1: "the client MUST NOT reuse the same URI for multiple sessions": a
 * relay URI the checker granted (on any connection) that SENDs to two sessions (their last
 * To-Path URIs) carry first in their To-Path. */
static void note_use(struct rrun *r, const struct rconn *k)
{
    char first[400];
    first_uri(k->to_path, first, sizeof first);
    const char *session = last_uri(k->to_path);
    if (r->nsessions < 2 && (r->nsessions == 0 || strcmp(r->sessions[0], session) != 0))
        snprintf(r->sessions[r->nsessions++], sizeof r->sessions[0], "%.399s", session);
    bool granted = false;
    for (size_t i = 0; i < r->nconns && !granted; i++)
        granted = r->conns[i].use_path[0] != '\0' && strcmp(r->conns[i].use_path, first) == 0;
    if (!granted)
        return;
    for (size_t i = 0; i < r->nused; i++) {
        if (strcmp(r->used[i].uri, first) != 0)
            continue;
        if (strcmp(r->used[i].session, session) != 0)
            breach(r, REQ_REUSE, "SEND (tid %s): the relay URI %s, used before for the session "
                   "%.150s, now for %.150s", k->tid, first, r->used[i].session, session);
        return;
    }
    if (r->nused < RELAY_URIS) {
        snprintf(r->used[r->nused].uri, sizeof r->used[0].uri, "%.199s", first);
        snprintf(r->used[r->nused].session, sizeof r->used[0].session, "%.399s", session);
        r->nused++;
    }
}

/* A request read whole. */
static void on_request(struct rrun *r, struct rconn *k)
{
    r->any_request = true;
    k->requests++;
    if (k->method == MSRP_METHOD_AUTH) {
        on_auth(r, k);
        return;
    }
    /* RFC 4976 section 8: "MSRP URIs exchanged in SDP and in To-Path and From-Path headers in
     * non-AUTH requests MUST have an explicit port number." */
    r->non_auth++;
    size_t plen = 0;
    const char *pl = portless_uri(k->to_path, &plen);
    const char *which = "To-Path";
    if (pl == NULL) {
        pl = portless_uri(k->from_path, &plen);
        which = "From-Path";
    }
    if (pl != NULL)
        breach(r, REQ_PORT, "%s (tid %s): its %s holds %.*s, without a port", k->method_text,
               k->tid, which, (int)(plen > 200 ? 200 : plen), pl);
    if (!k->authed) {
        /* RFC 4976 5.1: "The client MUST authenticate itself to each of its relays using
         * HTTP Digest authentication"; a relay URI is valid only on the connection its AUTH
         * came on (6.3), so a request on a connection without one used no relay's URI. */
        breach(r, REQ_AUTH_FIRST, "%s (tid %s) on connection %zu, which no AUTH had "
               "authenticated (To-Path %.200s)", k->method_text, k->tid,
               (size_t)(k - r->conns) + 1, k->to_path);
        if (k->method != MSRP_METHOD_REPORT)
            respond(r, k, 403, "Forbidden", "");
        return;
    }
    if (k->method == MSRP_METHOD_SEND) {
        r->sends++;
        note_use(r, k);
        if (k->fr != MSRP_REPORT_NO && k->fr != MSRP_REPORT_PARTIAL)
            respond(r, k, 200, "OK", ""); /* hop by hop (RFC 4976 6.4.1) */
        forward(r, k);
    } else if (k->method == MSRP_METHOD_REPORT) {
        forward(r, k);
    } else {
        respond(r, k, 501, "Not Implemented", "");
    }
}

static void copy_span(char *dst, size_t cap, struct msrp_span s)
{
    size_t n = s.ptr == NULL ? 0 : s.len < cap - 1 ? s.len : cap - 1; /* a response: no method */
    if (n > 0)
        memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

/* Reads what one connection holds; false when it is done (closed or unframeable). */
static bool feed(struct rrun *r, struct rconn *k)
{
    ssize_t got = recv(k->fd, k->buf + k->len, RELAY_BUF - k->len, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (got <= 0) {
        r->last_byte_at = now_s();
        listen_wire_add(r->c, "# connection %zu closed by the client\n",
                        (size_t)(k - r->conns) + 1);
        return false;
    }
    r->last_byte_at = now_s();
    k->len += (size_t)got;
    size_t used = 0;
    while (used < k->len) {
        struct msrp_chunk ev;
        ev.headers = r->hdrs;
        ev.headers_cap = sizeof r->hdrs / sizeof r->hdrs[0];
        ssize_t n = msrp_parse(&k->parser, k->buf + used, k->len - used, &ev);
        if (n == MSRP_INCOMPLETE)
            break;
        if (n == MSRP_MALFORMED) {
            listen_wire_bytes(r->c, "a<", k->buf + used,
                              k->len - used > 300 ? 300 : k->len - used);
            listen_wire_add(r->c, "# connection %zu: the client's bytes could not be framed\n",
                            (size_t)(k - r->conns) + 1);
            return false;
        }
        if (ev.has_head) {
            listen_wire_bytes(r->c, "a<", k->buf + used, (size_t)n > 600 ? 600 : (size_t)n);
            k->in_chunk = true;
            k->kind = ev.kind;
            k->method = ev.method_id;
            copy_span(k->method_text, sizeof k->method_text, ev.method);
            copy_span(k->tid, sizeof k->tid, ev.tid);
            k->fr = ev.failure_report;
            k->has_authz = false;
            k->to_path[0] = k->from_path[0] = '\0';
            k->has_body = ev.has_body;
            k->fwd_ok = true;
            k->fwd_head_len = 0;
            k->fwd_body_len = 0;
            for (size_t i = 0; i < ev.num_headers; i++) {
                const struct msrp_header *h = &ev.headers[i];
                if (h->id == MSRP_H_TO_PATH) {
                    copy_span(k->to_path, sizeof k->to_path, h->value);
                } else if (h->id == MSRP_H_FROM_PATH) {
                    copy_span(k->from_path, sizeof k->from_path, h->value);
                } else {
                    if (h->id == MSRP_H_AUTHORIZATION) {
                        copy_span(k->authz, sizeof k->authz, h->value);
                        k->has_authz = true;
                    }
                    size_t room = sizeof k->fwd_head - k->fwd_head_len;
                    int w = snprintf(k->fwd_head + k->fwd_head_len, room, "%.*s: %.*s\r\n",
                                     (int)h->name.len, h->name.ptr, (int)h->value.len,
                                     h->value.ptr);
                    if (w < 0 || (size_t)w >= room)
                        k->fwd_ok = false;
                    else
                        k->fwd_head_len += (size_t)w;
                }
            }
        }
        used += (size_t)n;
        if (k->in_chunk && k->fwd_ok && ev.body.len > 0 && k->kind == MSRP_REQUEST) {
            if (k->fwd_body == NULL)
                k->fwd_body = malloc(FWD_BODY_MAX);
            if (k->fwd_body == NULL || ev.body.len > FWD_BODY_MAX - k->fwd_body_len) {
                k->fwd_ok = false;
            } else {
                memcpy(k->fwd_body + k->fwd_body_len, ev.body.ptr, ev.body.len);
                k->fwd_body_len += ev.body.len;
            }
        }
        if (ev.flag != 0 && k->in_chunk) {
            k->flag = ev.flag;
            k->in_chunk = false;
            if (k->kind == MSRP_REQUEST && k->from_path[0] != '\0')
                on_request(r, k);
        }
    }
    memmove(k->buf, k->buf + used, k->len - used);
    k->len -= used;
    return true;
}

static void close_conn(struct rconn *k)
{
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
    free(k->buf);
    k->buf = NULL;
    free(k->fwd_body);
    k->fwd_body = NULL;
}

/* Runs the case's exchange: connections accepted and answered until every connection the
 * client opened is closed, or the client sent a SEND and the line went quiet, or the
 * deadline. */
static void relay_capture(struct rrun *r, pid_t child)
{
    double scale = r->l->timeout_scale > 0 ? r->l->timeout_scale : 1;
    bool child_done = false;
    for (;;) {
        double t = now_s();
        size_t open = 0;
        for (size_t i = 0; i < r->nconns; i++)
            open += r->conns[i].fd >= 0;
        if (t >= r->deadline) {
            snprintf(r->c->end_why, sizeof r->c->end_why, "the case's time ran out");
            break;
        }
        /* a client may run one session after another on new connections: the case is over
         * once none is open and none came for a while (or the command ended) */
        if (r->accepted > 0 && open == 0 && t - r->last_byte_at >= QUIET_S * scale) {
            snprintf(r->c->end_why, sizeof r->c->end_why, "the client closed its connections");
            break;
        }
        if (child_done && open == 0) {
            snprintf(r->c->end_why, sizeof r->c->end_why, "the client command ended");
            break;
        }
        struct pollfd p[RELAY_CONNS + 1];
        p[0] = (struct pollfd){r->l->fd, POLLIN, 0};
        for (size_t i = 0; i < r->nconns; i++)
            p[i + 1] = (struct pollfd){r->conns[i].fd, POLLIN, 0};
        int pr = poll(p, r->nconns + 1, 100);
        int st;
        if (!child_done && child > 0 && waitpid(child, &st, WNOHANG) == child)
            child_done = true;
        if (pr <= 0)
            continue;
        if (p[0].revents & POLLIN) {
            int fd = accept4(r->l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0 && r->nconns < RELAY_CONNS) {
                struct rconn *k = &r->conns[r->nconns];
                memset(k, 0, sizeof *k);
                k->fd = fd;
                k->buf = malloc(RELAY_BUF);
                struct msrp_limits lim;
                msrp_limits_default(&lim);
                msrp_parser_init(&k->parser, &lim);
                if (k->buf == NULL) {
                    close(fd);
                    continue;
                }
                r->nconns++;
                r->accepted++;
                r->last_byte_at = now_s();
                listen_wire_add(r->c, "# the client opened connection %zu\n", r->nconns);
            } else if (fd >= 0) {
                close(fd); /* more connections than a relay client of one session needs */
            }
        }
        for (size_t i = 0; i < r->nconns; i++)
            if (r->conns[i].fd >= 0 && (p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) &&
                !feed(r, &r->conns[i]))
                close_conn(&r->conns[i]);
    }
    listen_wire_add(r->c, "# %s\n", r->c->end_why);
}

static const struct lbreach *breach_of(const struct lcapture *c, const char *id)
{
    for (size_t i = 0; i < c->nbreaches; i++)
        if (strcmp(c->breaches[i].requirement, id) == 0)
            return &c->breaches[i];
    return NULL;
}

/* The verdict of one requirement: exercised, and the breach if any (*detail). */
static bool exercised(const struct rrun *r, const char *id, char *why, size_t cap)
{
    if (strcmp(id, REQ_AUTH_FIRST) == 0) {
        snprintf(why, cap, "the client sent no request but AUTH");
        for (size_t i = 0; i < r->nconns; i++)
            if (r->conns[i].requests > 0 && (r->sends > 0 || !r->conns[i].authed))
                return r->sends > 0 || breach_of(r->c, id) != NULL;
        return false;
    }
    if (strcmp(id, REQ_REUSE) == 0) {
        snprintf(why, cap, "the client's SENDs went to %zu session(s); two are needed",
                 r->nsessions);
        return r->nsessions >= 2;
    }
    if (strcmp(id, REQ_PORT) == 0) {
        snprintf(why, cap, "the client sent no request but AUTH");
        return r->non_auth > 0;
    }
    if (strcmp(id, REQ_RETRY) == 0) {
        snprintf(why, cap, "the checker sent no 401");
        return r->retries_due > 0;
    }
    snprintf(why, cap, "the client sent no Authorization");
    return r->authz_seen > 0;
}

bool listen_relay_case(struct conform_listener *l, const struct scenario_case *k, pid_t child,
                       double deadline, struct lcapture *c, struct conform_result *res)
{
    struct rrun *r = calloc(1, sizeof *r);
    if (r == NULL || msrp_idgen_init(&r->ids) != 0) {
        free(r);
        snprintf(c->end_why, sizeof c->end_why, "out of memory or no CSPRNG");
        return false;
    }
    r->l = l;
    r->k = k;
    r->c = c;
    r->deadline = deadline;
    r->last_byte_at = now_s();
    relay_capture(r, child);
    bool connected = r->accepted > 0;
    if (connected) {
        /* RFC 4976 5.1: "Upon receiving a 401 response to a request, the client SHOULD fetch
         * the realm [...] and retry the request": a 401 left unanswered on a connection */
        for (size_t i = 0; i < r->nconns; i++)
            if (r->conns[i].challenged)
                breach(r, REQ_RETRY, "connection %zu: the checker's 401 (nonce %s) got no AUTH "
                       "answering it (%s)", i + 1, r->conns[i].nonce, c->end_why);
        char skipped[1500] = "", broke[1500] = "";
        size_t so = 0, bo = 0;
        for (unsigned i = 0; i < k->num_requirements; i++) {
            const char *id = k->requirements[i];
            const struct lbreach *b = breach_of(c, id);
            char why[200];
            bool ex = exercised(r, id, why, sizeof why);
            if (b != NULL && bo < sizeof broke - 1)
                bo += (size_t)snprintf(broke + bo, sizeof broke - bo, "%s%s: %s",
                                       bo > 0 ? "; " : "", id, b->detail);
            else if (b == NULL && !ex && so < sizeof skipped - 1)
                so += (size_t)snprintf(skipped + so, sizeof skipped - so, "%s%s: %s",
                                       so > 0 ? "; " : "", id, why);
        }
        if (bo > 0) {
            res->verdict = conform_verdict_unmet(k->level);
            snprintf(res->observed, sizeof res->observed, "%s", broke);
        } else if (so > 0) {
            res->verdict = CONFORM_SKIP;
            snprintf(res->observed, sizeof res->observed,
                     "not exercised by what the client sent: %s", skipped);
        } else {
            res->verdict = CONFORM_PASS;
        }
    } else if (c->end_why[0] == '\0' || strcmp(c->end_why, "the case's time ran out") == 0) {
        snprintf(c->end_why, sizeof c->end_why, "no connection within the case's time");
    }
    for (size_t i = 0; i < r->nconns; i++)
        close_conn(&r->conns[i]);
    free(r);
    return connected;
}
