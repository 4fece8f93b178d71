/*
 * relay.c - RFC 4976 AUTH client: connect, challenge, digest answer, Use-Path.
 *
 * One auth object drives one connection through a small state machine. Each AUTH is a new
 * transaction (RFC 4976 section 5.1: a client answers a 401 with a new AUTH request, not a
 * re-send of the old transaction id); responses whose transaction id is not the one in flight
 * are ignored. The challenge's header value is copied, since the parser's spans point into the
 * connection's read buffer, which the next read reuses; it is re-parsed whenever an answer is
 * needed (for the 423 retry too, with the next nonce count).
 */
#include "msrp/relay.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/digest.h"
#include "msrp/session.h"
#include "msrp/violate.h"
#include "wire/idgen.h"
#include "wire/parser.h"
#include "wire/uri.h"
#include "wire/values.h"
#include "wire/writer.h"

#define RELAY_HEADERS 32
#define RELAY_AUTHZ_MAX 4096
#define RELAY_HEAD_MAX 8192
#define RELAY_DEFAULT_TIMEOUT_NS 10000000000ull

enum relay_state { RS_CONNECTING = 1, RS_WAITING, RS_DONE };

struct msrp_relay_auth {
    struct net_loop *loop;
    struct net_conn *conn;
    struct msrp_relay_auth_config cfg;
    msrp_relay_auth_done_fn done;
    void *user;
    enum relay_state state;
    struct net_timer timer;
    struct msrp_parser parser;

    char tid[MSRP_TID_MAX];
    size_t tid_len;

    /* The current challenge (a WWW-Authenticate value), its nonce count, and what was sent. */
    char challenge[MSRP_RELAY_CHALLENGE_MAX];
    size_t challenge_len;
    uint32_t nc;
    bool last_answered;    /* the request in flight carried an Authorization header */
    bool stale_used;       /* a stale=true challenge after an answer was already followed */
    bool expires_retried;  /* the one 423 retry was made */
    uint32_t expires;      /* Expires to send now (0: none) */

    struct msrp_relay_auth_result result;
    bool *gone; /* set by finish() while on_data runs, which must not touch a afterwards */
    struct msrp_trace trace; /* the last frames, for failure forensics (no Authorization) */
};

static void trace_auth(struct msrp_relay_auth *a, const struct msrp_wire_chunk *w);

static _Thread_local struct msrp_idgen thread_ids;
static _Thread_local bool thread_ids_ready;

static struct msrp_idgen *relay_ids(void)
{
    if (!thread_ids_ready) {
        if (msrp_idgen_init(&thread_ids) != 0)
            return NULL;
        thread_ids_ready = true;
    }
    return &thread_ids;
}

/* Parking handlers for a connection whose owner is being changed or which is closing. */
static size_t parked_data(struct net_conn *c, const char *buf, size_t len)
{
    (void)c;
    (void)buf;
    (void)len;
    return 0;
}

static void parked_close(struct net_conn *c, int err, const char *why)
{
    (void)c;
    (void)err;
    (void)why;
}

static const struct net_conn_handlers parked_handlers = {.on_data = parked_data,
                                                         .on_close = parked_close};

static void finish(struct msrp_relay_auth *a)
{
    a->state = RS_DONE;
    if (a->gone != NULL)
        *a->gone = true;
    net_timer_stop(a->loop, &a->timer);
    struct net_conn *c = a->conn;
    a->conn = NULL;
    if (c != NULL) {
        a->result.connected_ns = net_conn_connected_ns(c);
        a->result.secured_ns = net_conn_secured_ns(c);
        a->result.open_ns = net_conn_open_ns(c);
        net_conn_set_handlers(c, &parked_handlers);
        net_conn_set_user(c, NULL);
        if (a->result.ok)
            a->result.conn = c;
        else
            net_conn_close(c, false);
    }
    a->result.trace = &a->trace;
    a->done(a, &a->result, a->user);
    free(a);
}

/* Ends in failure; the text is prefixed with the relay URI and the user (never the password). */
__attribute__((format(printf, 2, 3))) static void fail(struct msrp_relay_auth *a,
                                                       const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    a->result.ok = false;
    snprintf(a->result.error, sizeof(a->result.error), "relay %s, user %s: %s",
             a->cfg.relay_uri, a->cfg.username, what);
    finish(a);
}

/* Why an AUTH could not be built, for the error text. */
enum build_error { BUILD_OK = 0, BUILD_CHALLENGE, BUILD_ANSWER, BUILD_WRITE };

/*
 * Builds one AUTH request: the digest answer to challenge (when there is one) with nonce count
 * nc, and Expires when asked for. head must stay alive as long as w is used; secrets are wiped
 * from everything but head, which the caller wipes once sent.
 */
static enum build_error build_auth(const struct msrp_relay_auth_config *cfg, const char *challenge,
                                   size_t challenge_len, uint32_t nc, uint32_t expires,
                                   struct msrp_idgen *ids, char *head, size_t cap,
                                   struct msrp_wire_chunk *w, int *why)
{
    struct msrp_header extra[2];
    size_t nextra = 0;
    char authz[RELAY_AUTHZ_MAX];
    char expires_text[16];
    *why = 0;
    if (challenge_len > 0) {
        struct msrp_digest d;
        if (!msrp_digest_challenge_parse(msrp_span_make(challenge, challenge_len), &d))
            return BUILD_CHALLENGE;
        size_t len = 0;
        int rc = msrp_digest_answer(&d, cfg->username, cfg->password, "AUTH", cfg->relay_uri, nc,
                                    NULL, ids, authz, sizeof(authz), &len);
        if (rc != 0) {
            explicit_bzero(authz, sizeof(authz));
            *why = rc;
            return BUILD_ANSWER;
        }
        msrp_violate_digest((enum msrp_violation_id)cfg->violate, authz, &len);
        extra[nextra++] = (struct msrp_header){.name = MSRP_SPAN_LIT("Authorization"),
                                               .value = msrp_span_make(authz, len),
                                               .id = MSRP_H_AUTHORIZATION};
    }
    if (expires > 0) {
        int n = snprintf(expires_text, sizeof(expires_text), "%u", (unsigned)expires);
        extra[nextra++] = (struct msrp_header){.name = MSRP_SPAN_LIT("Expires"),
                                               .value = msrp_span_make(expires_text, (size_t)n),
                                               .id = MSRP_H_EXPIRES};
    }
    struct msrp_out o = {
        .kind = MSRP_REQUEST,
        .method = MSRP_SPAN_LIT("AUTH"),
        .to_path = msrp_span_cstr(cfg->relay_uri),
        .from_path = msrp_span_cstr(cfg->local_uri),
        .extra = extra,
        .num_extra = nextra,
    };
    int rc = msrp_write(&o, ids, head, cap, w);
    explicit_bzero(authz, sizeof(authz));
    if (rc != MSRP_W_OK) {
        explicit_bzero(head, cap);
        *why = rc;
        return BUILD_WRITE;
    }
    return BUILD_OK;
}

/* Sends a new AUTH request (a new transaction). Returns false after failing the auth. */
static bool send_auth(struct msrp_relay_auth *a)
{
    struct msrp_idgen *ids = relay_ids();
    if (ids == NULL) {
        fail(a, "the random generator failed");
        return false;
    }
    a->last_answered = a->challenge_len > 0;
    if (a->last_answered)
        a->nc++;
    char head[RELAY_HEAD_MAX];
    struct msrp_wire_chunk w;
    int why;
    switch (build_auth(&a->cfg, a->challenge, a->challenge_len, a->nc, a->expires, ids, head,
                       sizeof(head), &w, &why)) {
    case BUILD_OK:
        break;
    case BUILD_CHALLENGE:
        fail(a, "malformed WWW-Authenticate challenge");
        return false;
    case BUILD_ANSWER:
        if (why == EINVAL)
            fail(a, "cannot answer the challenge (unsupported algorithm or qop, or a bad "
                    "character in user or URI)");
        else
            fail(a, "cannot compute the digest answer (%s)", strerror(why));
        return false;
    case BUILD_WRITE:
        fail(a, "cannot build the AUTH request (writer error %d)", why);
        return false;
    }
    memcpy(a->tid, w.tid, w.tid_len);
    a->tid_len = w.tid_len;
    int rc = net_conn_send(a->conn, w.iov, w.iovcnt);
    if (rc == 0)
        trace_auth(a, &w);
    explicit_bzero(head, sizeof(head));
    if (rc != 0) {
        fail(a, "cannot send AUTH: %s", strerror(rc));
        return false;
    }
    a->result.requests++;
    a->state = RS_WAITING;
    return true;
}

/* Notes the AUTH we wrote, cut before its Authorization header: the digest answer stays out. */
static void trace_auth(struct msrp_relay_auth *a, const struct msrp_wire_chunk *w)
{
    const char *head = w->iov[0].iov_base;
    size_t n = w->iov[0].iov_len;
    static const char header[] = "\r\nAuthorization:";
    const char *authz = memmem(head, n, header, sizeof(header) - 1);
    const struct iovec *end = &w->iov[w->iovcnt - 1];
    char flag = end->iov_len >= 3 ? ((const char *)end->iov_base)[end->iov_len - 3] : 0;
    msrp_trace_out(&a->trace, head, authz != NULL ? (size_t)(authz - head) + 2 : n, w->total,
                   flag, net_now_ns());
}

static bool copy_challenge(struct msrp_relay_auth *a, const struct msrp_chunk *ch,
                           struct msrp_digest *d)
{
    const struct msrp_header *h = msrp_chunk_header(ch, MSRP_H_WWW_AUTHENTICATE);
    if (h == NULL || h->value.len >= sizeof(a->challenge) ||
        !msrp_digest_challenge_parse(h->value, d))
        return false;
    memcpy(a->challenge, h->value.ptr, h->value.len);
    a->challenge_len = h->value.len;
    a->nc = 0;
    return true;
}

static void on_401(struct msrp_relay_auth *a, const struct msrp_chunk *ch)
{
    bool answered = a->last_answered;
    struct msrp_digest d;
    if (!copy_challenge(a, ch, &d)) {
        fail(a, "401 without a usable WWW-Authenticate challenge");
        return;
    }
    if (answered) {
        bool stale = d.stale.ptr != NULL &&
                     msrp_span_eq_nocase(d.stale, MSRP_SPAN_LIT("true"));
        if (a->cfg.violate == MSRP_VIOLATE_NO_STALE_RETRY)
            stale = false; /* the wrong client: RFC 4976 5.1's SHOULD retry, not followed */
        if (!stale || a->stale_used) {
            fail(a, "authentication rejected (401 to the digest answer%s)",
                 stale ? ", stale again" : "");
            return;
        }
        a->stale_used = true;
    }
    send_auth(a);
}

static void on_423(struct msrp_relay_auth *a, const struct msrp_chunk *ch)
{
    if (a->expires_retried) {
        fail(a, "423 Interval Out-of-Bounds again after retrying with Expires %u",
             (unsigned)a->expires);
        return;
    }
    const struct msrp_header *h = msrp_chunk_header(ch, MSRP_H_MIN_EXPIRES);
    if (h == NULL)
        h = msrp_chunk_header(ch, MSRP_H_MAX_EXPIRES);
    uint32_t v;
    if (h == NULL || !msrp_expires_parse(h->value, &v) || v == 0) {
        fail(a, "423 without a usable Min-Expires or Max-Expires (asked for %u)",
             (unsigned)a->expires);
        return;
    }
    a->expires_retried = true;
    a->expires = v;
    send_auth(a);
}

static void on_200(struct msrp_relay_auth *a, const struct msrp_chunk *ch)
{
    const struct msrp_header *h = msrp_chunk_header(ch, MSRP_H_USE_PATH);
    if (h == NULL) {
        fail(a, "200 without Use-Path");
        return;
    }
    if (h->value.len >= sizeof(a->result.use_path)) {
        fail(a, "Use-Path too long (%zu bytes)", h->value.len);
        return;
    }
    int n = msrp_uri_list_count(h->value);
    if (n <= 0) {
        fail(a, "200 with a malformed Use-Path (%s)",
             n == 0 ? "empty" : msrp_uri_error_text((enum msrp_uri_error)-n));
        return;
    }
    uint32_t exp = 0;
    const struct msrp_header *e = msrp_chunk_header(ch, MSRP_H_EXPIRES);
    if (e != NULL && !msrp_expires_parse(e->value, &exp)) {
        fail(a, "200 with a malformed Expires");
        return;
    }
    memcpy(a->result.use_path, h->value.ptr, h->value.len);
    a->result.use_path[h->value.len] = '\0';
    a->result.expires = exp;
    memcpy(a->result.challenge, a->challenge, a->challenge_len);
    a->result.challenge_len = a->challenge_len;
    a->result.nc = a->nc;
    a->result.ok = true;
    a->result.error[0] = '\0';
    finish(a);
}

static void on_response(struct msrp_relay_auth *a, const struct msrp_chunk *ch)
{
    a->result.status = ch->status;
    if (ch->error != MSRP_OK) {
        fail(a, "malformed %d response (%s)", ch->status, msrp_error_text(ch->error));
        return;
    }
    switch (ch->status) {
    case 200:
        on_200(a, ch);
        return;
    case 401:
        on_401(a, ch);
        return;
    case 403:
        fail(a, "forbidden (wrong user or password?)");
        return;
    case 423:
        on_423(a, ch);
        return;
    default:
        fail(a, "unexpected response %d %.*s", ch->status, (int)(ch->comment.len > 80 ? 80 :
             ch->comment.len), ch->comment.ptr != NULL ? ch->comment.ptr : "");
        return;
    }
}

static size_t relay_on_data(struct net_conn *c, const char *buf, size_t len)
{
    struct msrp_relay_auth *a = net_conn_user(c);
    bool gone = false;
    size_t used = 0;
    a->gone = &gone;
    while (a->state == RS_WAITING && used < len) {
        struct msrp_header headers[RELAY_HEADERS];
        struct msrp_chunk ch = {.headers = headers, .headers_cap = RELAY_HEADERS};
        const char *at = buf + used;
        ssize_t n = msrp_parse(&a->parser, at, len - used, &ch);
        if (n == MSRP_INCOMPLETE)
            break;
        if (n == MSRP_MALFORMED) {
            msrp_trace_in_garbage(&a->trace, buf + used, len - used, net_now_ns());
            a->gone = NULL;
            fail(a, "malformed answer from the relay (%s)", msrp_error_text(a->parser.error));
            return len;
        }
        used += (size_t)n;
        if (ch.has_head)
            msrp_trace_in_head(&a->trace, &ch, at, net_now_ns());
        if (ch.flag != 0)
            msrp_trace_in_end(&a->trace, &ch, a->parser.stream_offset);
        /* Responses carry no body; a request (or anything else) from the relay is ignored,
         * as is a response to an earlier transaction. */
        if (ch.kind != MSRP_RESPONSE || !ch.has_head)
            continue;
        if (!msrp_span_eq(ch.tid, msrp_span_make(a->tid, a->tid_len)))
            continue;
        on_response(a, &ch);
        /* When the exchange ended, a is freed and the connection has a new owner (or is
         * closing): leave what follows in the buffer for that owner. */
        if (gone)
            return used;
    }
    a->gone = NULL;
    return used;
}

static void relay_on_open(struct net_conn *c)
{
    struct msrp_relay_auth *a = net_conn_user(c);
    if (a->cfg.violate == MSRP_VIOLATE_RELAY_SKIP_AUTH) {
        /* The wrong client: no AUTH at all (RFC 4976 5.1); the session starts on the bare
         * connection with the relay's own URI as its "Use-Path". */
        snprintf(a->result.use_path, sizeof(a->result.use_path), "%s", a->cfg.relay_uri);
        a->result.ok = true;
        finish(a);
        return;
    }
    send_auth(a);
}

static void relay_on_close(struct net_conn *c, int err, const char *why)
{
    struct msrp_relay_auth *a = net_conn_user(c);
    a->conn = NULL;
    if (a->state == RS_CONNECTING)
        fail(a, "cannot connect: %s", err != 0 ? strerror(err) : (why ? why : "closed"));
    else if (err != 0)
        fail(a, "connection failed: %s (%s)", strerror(err), why ? why : "");
    else
        fail(a, "the relay closed the connection");
}

static const struct net_conn_handlers relay_handlers = {
    .on_open = relay_on_open, .on_data = relay_on_data, .on_close = relay_on_close};

static void on_timeout(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct msrp_relay_auth *a = t->arg;
    fail(a, "timed out after %.1f s %s", (double)a->cfg.timeout_ns / 1e9,
         a->state == RS_CONNECTING ? "connecting" : "waiting for the relay's answer");
}

static bool uri_ok(const char *s)
{
    struct msrp_uri u;
    return s != NULL && msrp_uri_parse(s, strlen(s), &u) == MSRP_URI_OK;
}

int msrp_relay_auth_start(struct net_loop *loop, const struct msrp_relay_auth_config *cfg,
                          msrp_relay_auth_done_fn done, void *user, struct msrp_relay_auth **out)
{
    if (loop == NULL || cfg == NULL || done == NULL || !uri_ok(cfg->relay_uri) ||
        !uri_ok(cfg->local_uri) || cfg->username == NULL || cfg->username[0] == '\0' ||
        cfg->password == NULL || cfg->addr_len == 0 ||
        cfg->addr_len > (socklen_t)sizeof(cfg->addr) ||
        strpbrk(cfg->username, "\r\n") != NULL)
        return EINVAL;
    if (relay_ids() == NULL)
        return EIO;
    struct msrp_relay_auth *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return ENOMEM;
    a->loop = loop;
    a->cfg = *cfg;
    if (a->cfg.timeout_ns == 0)
        a->cfg.timeout_ns = RELAY_DEFAULT_TIMEOUT_NS;
    a->done = done;
    a->user = user;
    a->state = RS_CONNECTING;
    a->expires = cfg->expires;
    msrp_parser_init(&a->parser, NULL);

    struct net_conn_opts opts;
    net_conn_opts_default(&opts);
    opts.read_buffer = cfg->read_buffer > 0 ? cfg->read_buffer : 64 * 1024;
    opts.connect_timeout_ns = a->cfg.timeout_ns;
    struct net_transport_setup plain =
        cfg->tls != NULL ? net_transport_tls(cfg->tls) : net_transport_tcp();
    int rc = net_conn_connect_via(loop, (const struct sockaddr *)&a->cfg.addr, a->cfg.addr_len,
                                  cfg->transport != NULL ? cfg->transport : &plain, cfg->sni,
                                  &relay_handlers, a, &opts, &a->conn);
    if (rc != 0) {
        free(a);
        return rc;
    }
    a->timer.fn = on_timeout;
    a->timer.arg = a;
    net_timer_start(loop, &a->timer, a->cfg.timeout_ns);
    if (out != NULL)
        *out = a;
    return 0;
}

const struct msrp_trace *msrp_relay_auth_trace(const struct msrp_relay_auth *a)
{
    return &a->trace;
}

void msrp_relay_auth_cancel(struct msrp_relay_auth *a)
{
    if (a == NULL)
        return;
    net_timer_stop(a->loop, &a->timer);
    if (a->conn != NULL) {
        net_conn_set_handlers(a->conn, &parked_handlers);
        net_conn_set_user(a->conn, NULL);
        net_conn_close(a->conn, false);
    }
    free(a);
}

/* ---- refresh on a connection a session owns ------------------------------------------------ */

void msrp_relay_refresh_init(struct msrp_relay_refresh *r, const struct msrp_relay_auth_result *res,
                             uint32_t expires)
{
    memset(r, 0, sizeof(*r));
    memcpy(r->challenge, res->challenge, res->challenge_len);
    r->challenge_len = res->challenge_len;
    r->nc = res->nc;
    r->expires = expires;
}

int msrp_relay_refresh_request(struct msrp_relay_refresh *r, const struct msrp_relay_auth_config *cfg,
                               char *buf, size_t cap, size_t *len)
{
    struct msrp_idgen *ids = relay_ids();
    if (ids == NULL)
        return EIO;
    char head[RELAY_HEAD_MAX];
    struct msrp_wire_chunk w;
    int why;
    uint32_t nc = r->challenge_len > 0 ? r->nc + 1 : 0;
    enum build_error e = build_auth(cfg, r->challenge, r->challenge_len, nc, r->expires, ids,
                                    head, sizeof(head), &w, &why);
    if (e != BUILD_OK)
        return e == BUILD_WRITE && why == MSRP_W_E_NOSPACE ? ENOSPC : EINVAL;
    int rc = 0;
    if (w.total > cap || w.tid_len > sizeof(r->tid)) {
        rc = ENOSPC;
    } else {
        size_t off = 0;
        for (int i = 0; i < w.iovcnt; i++) {
            memcpy(buf + off, w.iov[i].iov_base, w.iov[i].iov_len);
            off += w.iov[i].iov_len;
        }
        *len = off;
        memcpy(r->tid, w.tid, w.tid_len);
        r->tid_len = w.tid_len;
        r->nc = nc;
    }
    explicit_bzero(head, sizeof(head));
    return rc;
}

__attribute__((format(printf, 4, 5))) static enum msrp_relay_refresh_outcome
refresh_fail(const struct msrp_relay_auth_config *cfg, char *err, size_t errlen, const char *fmt,
             ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (errlen > 0)
        snprintf(err, errlen, "relay %s, user %s: refresh: %s", cfg->relay_uri, cfg->username,
                 what);
    return MSRP_RELAY_REFRESH_FAILED;
}

enum msrp_relay_refresh_outcome msrp_relay_refresh_response(struct msrp_relay_refresh *r,
                                                            const struct msrp_relay_auth_config *cfg,
                                                            const struct msrp_chunk *resp,
                                                            uint32_t *expires, char *err,
                                                            size_t errlen)
{
    if (resp == NULL)
        return refresh_fail(cfg, err, errlen, "no answer in time");
    if (resp->error != MSRP_OK)
        return refresh_fail(cfg, err, errlen, "malformed %d response (%s)", resp->status,
                            msrp_error_text(resp->error));
    const struct msrp_header *h;
    struct msrp_digest d;
    uint32_t v;
    switch (resp->status) {
    case 200:
        *expires = 0;
        r->stale_used = r->expires_retried = false; /* the next refresh may need them again */
        h = msrp_chunk_header(resp, MSRP_H_EXPIRES);
        if (h != NULL && !msrp_expires_parse(h->value, expires))
            return refresh_fail(cfg, err, errlen, "200 with a malformed Expires");
        return MSRP_RELAY_REFRESH_DONE;
    case 401:
        h = msrp_chunk_header(resp, MSRP_H_WWW_AUTHENTICATE);
        if (h == NULL || h->value.len >= sizeof(r->challenge) ||
            !msrp_digest_challenge_parse(h->value, &d))
            return refresh_fail(cfg, err, errlen, "401 without a usable WWW-Authenticate");
        /* A relay may retire a nonce (stale=true): that one new challenge is answered. */
        if (r->stale_used || d.stale.ptr == NULL ||
            !msrp_span_eq_nocase(d.stale, MSRP_SPAN_LIT("true")))
            return refresh_fail(cfg, err, errlen, "authentication rejected (401)");
        r->stale_used = true;
        memcpy(r->challenge, h->value.ptr, h->value.len);
        r->challenge_len = h->value.len;
        r->nc = 0;
        return MSRP_RELAY_REFRESH_AGAIN;
    case 423:
        h = msrp_chunk_header(resp, MSRP_H_MIN_EXPIRES);
        if (h == NULL)
            h = msrp_chunk_header(resp, MSRP_H_MAX_EXPIRES);
        if (r->expires_retried || h == NULL || !msrp_expires_parse(h->value, &v) || v == 0)
            return refresh_fail(cfg, err, errlen, "423 Interval Out-of-Bounds");
        r->expires_retried = true;
        r->expires = v;
        return MSRP_RELAY_REFRESH_AGAIN;
    case 403:
        return refresh_fail(cfg, err, errlen, "forbidden (403)");
    default:
        return refresh_fail(cfg, err, errlen, "unexpected response %d", resp->status);
    }
}
