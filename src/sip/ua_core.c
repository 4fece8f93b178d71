/*
 * ua_core.c - the SIP user agent on one net_loop: creating it (its transport, transaction
 * table and dialog table), the TU side of its transactions (where each sends, what each
 * works for), the answer to 401 / 407 on any request it sends, and registration (digest,
 * refresh). Calls are ua.c's.
 *
 * RFC 3261 is not in ../shared/rfc/: every rule below is "RFC 3261 section N, from memory".
 *
 * Lifetimes: a call is referenced by the agent's list (until it ends) and by each transaction
 * working for it (struct ua_req, until the transaction ends); it is freed when the last
 * reference goes. After on_ended a call's transactions still absorb retransmissions but tell
 * the caller nothing more.
 */
#include "sip/ua_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *sip_call_end_name(enum sip_call_end e)
{
    switch (e) {
    case SIP_END_LOCAL_BYE: return "local_bye";
    case SIP_END_REMOTE_BYE: return "remote_bye";
    case SIP_END_REJECTED: return "rejected";
    case SIP_END_CANCELLED: return "cancelled";
    case SIP_END_TIMEOUT: return "timeout";
    case SIP_END_NO_ACK: return "no_ack";
    case SIP_END_ERROR: return "error";
    }
    return "?";
}

/* ---- small helpers -------------------------------------------------------------------------- */

void ua_new_ident(struct sip_ua *ua, char *out, size_t n)
{
    if (msrp_idgen_ident(&ua->ids, out, n - 1) != 0)
        snprintf(out, n, "x%llu", (unsigned long long)net_now_ns()); /* CSPRNG failure */
    else
        out[n - 1] = '\0';
}

void ua_new_branch(struct sip_ua *ua, char *out, size_t n)
{
    char id[20];
    ua_new_ident(ua, id, sizeof id);
    snprintf(out, n, "z9hG4bK%s", id);
}

uint64_t ua_t1(const struct sip_ua *ua)
{
    return ua->cfg.t1_ns ? ua->cfg.t1_ns : 500000000ull;
}

uint64_t ua_t2(const struct sip_ua *ua)
{
    return ua->cfg.t2_ns ? ua->cfg.t2_ns : 4 * S_NS;
}



int ua_mbuf_init(struct mbuf *b, size_t body_len)
{
    b->cap = body_len + 8192;
    b->len = 0;
    b->p = malloc(b->cap);
    return b->p ? 0 : ENOMEM;
}

/* ---- transactions: the TU side -------------------------------------------------------------- */

struct ua_req *ua_req_new(struct sip_ua *ua, enum req_kind kind, struct sip_call *c,
                              const struct sip_addr *dest)
{
    struct ua_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->ua = ua;
    r->kind = kind;
    r->dest = *dest;
    if (c) {
        r->call = c;
        c->refs++;
    }
    return r;
}

void ua_req_free(struct ua_req *r)
{
    if (r->orphan)
        sip_dialog_remove(r->ua->dialogs, r->orphan);
    if (r->call)
        ua_call_unref(r->call);
    free(r->text);
    free(r);
}

/* Starts a client transaction for text (branch and method as in it). NULL on failure. */
struct sip_txn *ua_start_client(struct sip_ua *ua, enum req_kind kind, struct sip_call *c,
                                    const struct sip_addr *dest, const char *branch,
                                    const char *method, const char *text, size_t len,
                                    unsigned auth_done)
{
    struct ua_req *r = ua_req_new(ua, kind, c, dest);
    if (!r)
        return NULL;
    r->auth_done = auth_done;
    if (kind != RQ_CANCEL && (r->text = malloc(len + 1)) != NULL) {
        memcpy(r->text, text, len);
        r->text[len] = '\0';
        r->len = len;
    }
    struct sip_txn *t = sip_txn_client_start(ua->txns, branch, method, text, len, r);
    if (!t)
        ua_req_free(r);
    return t;
}

static void io_send(void *ctx, struct sip_txn *t, const char *buf, size_t len)
{
    struct sip_ua *ua = ctx;
    struct ua_req *r = sip_txn_user(t);
    if (r)
        sip_tp_send(ua->tp, &r->dest, buf, len);
}

static void io_end(void *ctx, struct sip_txn *t)
{
    (void)ctx;
    struct ua_req *r = sip_txn_user(t);
    if (!r)
        return;
    if (r->call && r->call->inv_txn == t)
        r->call->inv_txn = NULL;
    ua_req_free(r);
}

/* The Via and Contact every request of ours carries. */
struct sip_dialog_via ua_our_via(struct sip_ua *ua, const char *branch)
{
    struct sip_dialog_via v = {sip_tp_kind_name(sip_tp_kind(ua->tp)), sip_tp_host(ua->tp),
                               sip_tp_port(ua->tp), branch, ua->contact};
    return v;
}

/*
 * A 401 / 407 to one of our requests: the same request again with a new branch, CSeq + 1 and
 * the credentials (RFC 3261 sections 8.1.3.5 and 22.2, from memory), once per kind of
 * challenge. Returns true when the retry is on its way.
 */
bool ua_retry_with_auth(struct sip_ua *ua, struct ua_req *r, const osip_message_t *resp)
{
    unsigned bit = resp->status_code == 401 ? 1u : 2u;
    if (!ua->password[0] || (r->auth_done & bit) || !r->text || r->kind == RQ_CANCEL)
        return false;
    if (r->call && (r->call->ended || r->call->cancel_wanted))
        return false;
    osip_message_t *m = sip_msg_parse(r->text, r->len, NULL, 0);
    if (!m)
        return false;
    bool ok = false;
    char branch[40], hval[2048], num[16];
    const char *hname = NULL;
    size_t hlen = 0;
    char *uri = NULL;
    osip_via_t *via = osip_list_get(&m->vias, 0);
    osip_generic_param_t *bp = NULL;
    if (!via || osip_via_param_get_byname(via, "branch", &bp) != 0 || !bp ||
        osip_uri_to_str(m->req_uri, &uri) != 0)
        goto out;
    if (sip_msg_auth_answer(resp, m->sip_method, uri, ua->auth_user, ua->password, 1, NULL,
                            &ua->ids, &hname, hval, sizeof hval, &hlen, NULL, 0) != 0)
        goto out;
    ua_new_branch(ua, branch, sizeof branch);
    osip_free(bp->gvalue);
    bp->gvalue = osip_strdup(branch);
    uint32_t cseq = sip_msg_cseq(m) + 1;
    snprintf(num, sizeof num, "%u", cseq);
    osip_free(m->cseq->number);
    m->cseq->number = osip_strdup(num);
    int rc = strcmp(hname, "Authorization") == 0 ? osip_message_set_authorization(m, hval)
                                                  : osip_message_set_proxy_authorization(m, hval);
    if (rc != 0)
        goto out;
    osip_message_force_update(m);
    struct mbuf b;
    if (ua_mbuf_init(&b, r->len + hlen) != 0)
        goto out;
    if (sip_msg_to_text(m, b.p, b.cap, &b.len) == 0) {
        struct sip_txn *t = ua_start_client(ua, r->kind, r->call, &r->dest, branch, m->sip_method,
                                         b.p, b.len, r->auth_done | bit);
        if (t) {
            ok = true;
            if (r->kind == RQ_REGISTER)
                ua->reg.cseq = cseq;
            if (r->kind == RQ_INVITE) {
                r->call->inv_txn = t;
                osip_message_free(r->call->invite);
                r->call->invite = m;
                m = NULL;
            }
        }
    }
    free(b.p);
out:
    if (uri)
        osip_free(uri);
    if (m)
        osip_message_free(m);
    return ok;
}

/* ---- registration --------------------------------------------------------------------------- */

static int send_register(struct sip_ua *ua, int expires)
{
    char branch[40];
    ua_new_branch(ua, branch, sizeof branch);
    const char *routes[1] = {ua->proxy_route};
    struct sip_req q = {
        .method = "REGISTER", .uri = ua->reg.registrar, .from = ua->aor,
        .from_tag = ua->reg.from_tag, .to = ua->aor, .call_id = ua->reg.call_id,
        .cseq = ++ua->reg.cseq, .via_transport = sip_tp_kind_name(sip_tp_kind(ua->tp)),
        .via_host = sip_tp_host(ua->tp), .via_port = sip_tp_port(ua->tp), .branch = branch,
        .contact = ua->contact, .routes = routes, .route_count = ua->has_proxy ? 1 : 0,
        .expires = expires,
    };
    char buf[4096];
    size_t len = 0;
    int r = sip_msg_build_request(&q, buf, sizeof buf, &len, NULL, 0);
    if (r)
        return r;
    return ua_start_client(ua, RQ_REGISTER, NULL, &ua->reg.dest, branch, "REGISTER", buf, len, 0)
               ? 0
               : (errno ? errno : ENOMEM);
}

/*
 * A REGISTER that timed out (408), met a server failure (5xx) or could not be sent is tried
 * again while the agent still wants the binding: under load one lost UDP refresh would
 * otherwise drop the user for good. A 4xx or 6xx (wrong password, forbidden) is final. The
 * wait is a quarter of the asked expiry, between 1 and 32 s, so a dead registrar is not hammered.
 */
static void reg_retry_later(struct sip_ua *ua, int code)
{
    if (!ua->reg.active || !(code == 408 || (code >= 500 && code < 600)))
        return;
    int wait_s = ua->reg.expires / 4;
    wait_s = wait_s < 1 ? 1 : wait_s > 32 ? 32 : wait_s;
    net_timer_start(ua->loop, &ua->reg.refresh, (uint64_t)wait_s * S_NS);
}

static void on_refresh(struct net_loop *loop, struct net_timer *tm)
{
    (void)loop;
    struct sip_ua *ua = tm->arg;
    if (!ua->reg.active || send_register(ua, ua->reg.expires) == 0)
        return;
    reg_retry_later(ua, 500);
    if (ua->cfg.cb.on_registered)
        ua->cfg.cb.on_registered(ua->cfg.ctx, ua, 500, 0);
}

/* A binding the registrar lists is ours when its user, host and port are our Contact's (a
 * registrar may add parameters or drop ours; other agents of the AOR have other ports). */
static bool contact_is_ours(const struct sip_ua *ua, const osip_uri_t *u)
{
    if (!u->username || !u->host || strcmp(u->username, ua->user) != 0)
        return false;
    /* Our Contact's host is the transport's, an IPv6 one written in brackets. */
    const char *host = u->host;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host++;
        hl -= 2;
    }
    const char *ours = sip_tp_host(ua->tp);
    if (strlen(ours) != hl || strncasecmp(host, ours, hl) != 0)
        return false;
    unsigned port = u->port ? (unsigned)strtoul(u->port, NULL, 10) : 5060u;
    return port == sip_tp_port(ua->tp);
}

/* The expiry granted: our Contact's expires parameter, else the Expires header, else what we
 * asked (RFC 3261 section 10.2.4, from memory). */
static int granted_expires(struct sip_ua *ua, const osip_message_t *resp)
{
    for (int i = 0; i < osip_list_size(&resp->contacts); i++) {
        osip_contact_t *c = osip_list_get(&resp->contacts, i);
        osip_generic_param_t *p = NULL;
        if (c && c->url && contact_is_ours(ua, c->url) &&
            osip_contact_param_get_byname(c, "expires", &p) == 0 && p && p->gvalue)
            return atoi(p->gvalue);
    }
    osip_header_t *h = NULL;
    if (osip_message_get_expires(resp, 0, &h) >= 0 && h && h->hvalue)
        return atoi(h->hvalue);
    return ua->reg.expires;
}

void ua_reg_failed(struct sip_ua *ua, int code)
{
    ua->reg.registered = false;
    reg_retry_later(ua, code); /* a timeout or a transport error is tried again, as a 5xx */
    if (ua->cfg.cb.on_registered)
        ua->cfg.cb.on_registered(ua->cfg.ctx, ua, code, 0);
}

void ua_reg_response(struct sip_ua *ua, const osip_message_t *resp)
{
    int code = resp->status_code;
    if (code < 200)
        return;
    int expires = 0;
    if (code < 300) {
        expires = ua->reg.active ? granted_expires(ua, resp) : 0;
        ua->reg.registered = expires > 0;
        /* Refresh at half the granted time, well before the binding expires. */
        if (ua->reg.active && expires > 0)
            net_timer_start(ua->loop, &ua->reg.refresh, (uint64_t)expires * S_NS / 2);
    } else {
        ua->reg.registered = false;
        reg_retry_later(ua, code);
    }
    if (ua->cfg.cb.on_registered)
        ua->cfg.cb.on_registered(ua->cfg.ctx, ua, code, expires);
}

int sip_ua_register(struct sip_ua *ua, const char *registrar, int expires)
{
    if (!registrar || expires <= 0 || strlen(registrar) >= sizeof ua->reg.registrar)
        return EINVAL;
    snprintf(ua->reg.registrar, sizeof ua->reg.registrar, "%s", registrar);
    if (ua->has_proxy)
        ua->reg.dest = ua->proxy_addr;
    else if (sip_addr_from_uri(&ua->reg.dest, registrar) != 0)
        return EINVAL;
    if (!ua->reg.have_ids) {
        /* One Call-ID for every REGISTER of this agent (RFC 3261 10.2, from memory). */
        ua_new_ident(ua, ua->reg.call_id, sizeof ua->reg.call_id);
        ua_new_ident(ua, ua->reg.from_tag, sizeof ua->reg.from_tag);
        ua->reg.have_ids = true;
    }
    ua->reg.expires = expires;
    ua->reg.active = true;
    return send_register(ua, expires);
}

int sip_ua_unregister(struct sip_ua *ua)
{
    if (!ua->reg.active)
        return EINVAL;
    ua->reg.active = false;
    ua->reg.registered = false;
    net_timer_stop(ua->loop, &ua->reg.refresh);
    return send_register(ua, 0);
}

bool sip_ua_registered(const struct sip_ua *ua)
{
    return ua->reg.registered;
}

/* ---- the agent ------------------------------------------------------------------------------ */

static int copy_str(char *dst, size_t cap, const char *src)
{
    if (!src)
        src = "";
    if (strlen(src) >= cap || strpbrk(src, "\r\n<>\" "))
        return EINVAL;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

static void on_tp_error(void *ctx, const char *what)
{
    struct sip_ua *ua = ctx;
    ua->tp_errors++;
    snprintf(ua->tp_last_error, sizeof ua->tp_last_error, "%s", what);
}

static bool req_to(void *user, void *arg)
{
    const struct ua_req *r = user;
    return r != NULL && sip_addr_equal(&r->dest, arg);
}

/* What was sent on a connection that failed gets no answer: its transactions end now. */
static void on_tp_conn_failed(void *ctx, const struct sip_addr *peer, const char *what)
{
    (void)what;
    struct sip_ua *ua = ctx;
    sip_txn_client_fail(ua->txns, req_to, (void *)peer);
}

uint64_t sip_ua_transport_errors(const struct sip_ua *ua, const char **last)
{
    if (last)
        *last = ua->tp_last_error;
    return ua->tp_errors;
}

int sip_ua_create(struct net_loop *loop, const struct sip_ua_config *cfg, struct sip_ua **out,
                  char *err, size_t errlen)
{
    *out = NULL;
    sip_osip_init();
    struct sip_ua *ua = calloc(1, sizeof *ua);
    if (!ua) {
        snprintf(err, errlen, "SIP agent: out of memory");
        return ENOMEM;
    }
    ua->loop = loop;
    ua->cfg = *cfg;
    ua->reg.refresh.fn = on_refresh;
    ua->reg.refresh.arg = ua;
    if (!cfg->user || !cfg->user[0] || copy_str(ua->user, sizeof ua->user, cfg->user) ||
        copy_str(ua->domain, sizeof ua->domain, cfg->domain) ||
        copy_str(ua->auth_user, sizeof ua->auth_user, cfg->auth_user ? cfg->auth_user : cfg->user) ||
        strlen(cfg->password ? cfg->password : "") >= sizeof ua->password) {
        snprintf(err, errlen, "SIP agent: user, domain or auth user missing, too long, or "
                              "holding a space, quote, angle bracket or line break");
        free(ua);
        return EINVAL;
    }
    snprintf(ua->password, sizeof ua->password, "%s", cfg->password ? cfg->password : "");
    if (cfg->outbound_proxy) {
        if (sip_addr_from_uri(&ua->proxy_addr, cfg->outbound_proxy) != 0 ||
            strlen(cfg->outbound_proxy) > 250) {
            snprintf(err, errlen, "SIP agent: outbound proxy '%s' is not a SIP URI with a "
                                  "reachable host", cfg->outbound_proxy);
            free(ua);
            return EINVAL;
        }
        ua->has_proxy = true;
        snprintf(ua->proxy_route, sizeof ua->proxy_route, "<%s;lr>", cfg->outbound_proxy);
    }
    if (msrp_idgen_init(&ua->ids) != 0) {
        snprintf(err, errlen, "SIP agent: the random generator failed");
        free(ua);
        return EIO;
    }
    static const struct sip_tp_handlers th = {ua_on_message, on_tp_error, on_tp_conn_failed};
    int r = sip_tp_create(loop, &cfg->transport, &th, ua, &ua->tp, err, errlen);
    if (r) {
        free(ua);
        return r;
    }
    struct sip_txn_config tc = {cfg->t1_ns, cfg->t2_ns, cfg->t4_ns, cfg->timer_d_ns,
                                sip_tp_reliable(ua->tp)};
    static const struct sip_txn_io io = {io_send, ua_io_response, ua_io_timeout, io_end};
    ua->txns = sip_txn_table_create(loop, &tc, &io, ua);
    ua->dialogs = sip_dialog_table_create();
    if (!ua->txns || !ua->dialogs) {
        snprintf(err, errlen, "SIP agent: out of memory");
        sip_txn_table_destroy(ua->txns);
        sip_dialog_table_destroy(ua->dialogs);
        sip_tp_destroy(ua->tp);
        free(ua);
        return ENOMEM;
    }
    const char *host = sip_tp_host(ua->tp);
    bool v6 = strchr(host, ':') != NULL;
    const char *tparam = sip_tp_kind(ua->tp) == SIP_TP_UDP   ? ""
                         : sip_tp_kind(ua->tp) == SIP_TP_TCP ? ";transport=tcp"
                                                              : ";transport=tls";
    snprintf(ua->aor, sizeof ua->aor, "<sip:%s@%s>", ua->user, ua->domain[0] ? ua->domain : host);
    snprintf(ua->contact_uri, sizeof ua->contact_uri, "sip:%s@%s%s%s:%u%s", ua->user,
             v6 ? "[" : "", host, v6 ? "]" : "", sip_tp_port(ua->tp), tparam);
    snprintf(ua->contact, sizeof ua->contact, "<%s>", ua->contact_uri);
    *out = ua;
    return 0;
}

void sip_ua_destroy(struct sip_ua *ua)
{
    if (!ua)
        return;
    ua->destroying = true;
    net_timer_stop(ua->loop, &ua->reg.refresh);
    while (ua->calls)
        ua_call_end(ua->calls, SIP_END_ERROR, 503, "agent closed");
    sip_txn_table_destroy(ua->txns);
    sip_dialog_table_destroy(ua->dialogs);
    sip_tp_destroy(ua->tp);
    free(ua);
}

const char *sip_ua_contact_uri(const struct sip_ua *ua)
{
    return ua->contact_uri;
}

const char *sip_ua_aor(const struct sip_ua *ua)
{
    return ua->aor;
}

uint16_t sip_ua_port(const struct sip_ua *ua)
{
    return sip_tp_port(ua->tp);
}

struct sip_tp *sip_ua_transport(struct sip_ua *ua)
{
    return ua->tp;
}

size_t sip_ua_calls(const struct sip_ua *ua)
{
    return ua->ncalls;
}

size_t sip_ua_dialogs(const struct sip_ua *ua)
{
    return sip_dialog_count(ua->dialogs);
}

size_t sip_ua_transactions(const struct sip_ua *ua)
{
    return sip_txn_count(ua->txns);
}

void *sip_call_user(const struct sip_call *c)
{
    return c->user;
}

void sip_call_set_user(struct sip_call *c, void *user)
{
    c->user = user;
}

struct sip_ua *sip_call_ua(const struct sip_call *c)
{
    return c->ua;
}

bool sip_call_outgoing(const struct sip_call *c)
{
    return c->outgoing;
}

const char *sip_call_id(const struct sip_call *c)
{
    return c->call_id ? c->call_id : "";
}

void sip_call_from(const struct sip_call *c, char *out, size_t cap)
{
    if (cap == 0)
        return;
    out[0] = '\0';
    char *s = NULL;
    if (c->outgoing || !c->invite || !c->invite->from || !c->invite->from->url ||
        osip_uri_to_str(c->invite->from->url, &s) != 0 || !s)
        return;
    snprintf(out, cap, "%s", s);
    osip_free(s);
}
