/*
 * txn.c - SIP transactions: the hash table (branch + method, chained, doubled when it holds more
 * than one transaction per bucket, so lookups stay O(1)), the client and server state machines
 * of RFC 3261 section 17 (from memory: RFC 3261 is not in ../shared/rfc/) and their timers on
 * the net_loop.
 *
 * Each transaction has two timers: `retx` (A, E, G: retransmissions) and `end` (B, F, H: give
 * up; D, K, I, J: linger to absorb retransmissions, then end). Retransmissions are scheduled at
 * absolute offsets from the first send (T1, 3*T1, 7*T1, ...), so a late loop does not push them
 * past the give-up timer and their number is what the RFC's intervals give.
 */
#include "sip/txn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net/loop.h"
#include "sip/chain.h"
#include "sip/msg.h"

struct sip_txn {
    struct sip_chain_link link; /* hash chain and key hash */
    struct sip_txn_table *tab;
    char *branch;
    char method[16];      /* the request's; "INVITE" for its ACK's lookup */
    bool server, invite;
    bool failing;         /* client: picked by sip_txn_client_transport_error */
    enum sip_txn_state state;
    char *request;        /* client: the request as sent */
    size_t request_len;
    char *last;           /* client: the ACK for a non-2xx; server: the last response */
    size_t last_len;
    int last_code;
    struct net_timer retx, end;
    uint64_t start_ns, retx_at_ns, interval_ns;
    void *user;
};

struct sip_txn_table {
    struct net_loop *loop;
    struct sip_txn_config cfg;
    struct sip_txn_io io;
    void *ctx;
    struct sip_chain chain;
};

#define MS 1000000ull

/* FNV-1a over the branch, a separator byte and the method. */
static uint64_t key_hash(const char *branch, const char *method)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = branch; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;
    for (const char *p = method; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return h;
}

static struct sip_txn *find(struct sip_txn_table *tab, const char *branch, const char *method,
                            bool server)
{
    uint64_t h = key_hash(branch, method);
    for (struct sip_chain_link *l = *sip_chain_slot(&tab->chain, h); l; l = l->next) {
        struct sip_txn *t = SIP_CHAIN_ENTRY(l, struct sip_txn, link);
        if (l->hash == h && t->server == server && strcmp(t->method, method) == 0 &&
            strcmp(t->branch, branch) == 0)
            return t;
    }
    return NULL;
}

static void end_txn(struct sip_txn *t)
{
    struct sip_txn_table *tab = t->tab;
    net_timer_stop(tab->loop, &t->retx);
    net_timer_stop(tab->loop, &t->end);
    sip_chain_remove(&tab->chain, &t->link);
    if (tab->io.on_end)
        tab->io.on_end(tab->ctx, t);
    free(t->branch);
    free(t->request);
    free(t->last);
    free(t);
}

/* ---- timers ------------------------------------------------------------------------------- */

static void arm_at(struct sip_txn *t, struct net_timer *tm, uint64_t at_ns)
{
    uint64_t now = net_now_ns();
    net_timer_start(t->tab->loop, tm, at_ns > now ? at_ns - now : 0);
}

/* The next retransmission: the interval doubles, capped at T2 except for an INVITE client's
 * Timer A, which is not capped (RFC 3261 17.1.1.2 / 17.1.2.2 / 17.2.1, from memory). */
static void next_retx(struct sip_txn *t, bool capped)
{
    t->interval_ns *= 2;
    if (capped && t->interval_ns > t->tab->cfg.t2_ns)
        t->interval_ns = t->tab->cfg.t2_ns;
    t->retx_at_ns += t->interval_ns;
    arm_at(t, &t->retx, t->retx_at_ns);
}

static void on_retx(struct net_loop *loop, struct net_timer *tm)
{
    (void)loop;
    struct sip_txn *t = tm->arg;
    struct sip_txn_table *tab = t->tab;
    if (!t->server) {
        /* Timer A (INVITE, Calling) / Timer E (non-INVITE, Trying or Proceeding). */
        tab->io.send(tab->ctx, t, t->request, t->request_len);
        if (!t->invite && t->state == SIP_TXN_PROCEEDING) {
            /* In Proceeding, E fires every T2. */
            t->interval_ns = tab->cfg.t2_ns;
            t->retx_at_ns += t->interval_ns;
            arm_at(t, &t->retx, t->retx_at_ns);
        } else {
            next_retx(t, !t->invite);
        }
        return;
    }
    /* Timer G: the non-2xx final response again, until the ACK. */
    if (t->state == SIP_TXN_COMPLETED && t->last) {
        tab->io.send(tab->ctx, t, t->last, t->last_len);
        next_retx(t, true);
    }
}

static void on_end_timer(struct net_loop *loop, struct net_timer *tm)
{
    (void)loop;
    struct sip_txn *t = tm->arg;
    struct sip_txn_table *tab = t->tab;
    /* B, F: no final response; H: no ACK. The others (D, K, I, J, L) end a lingering one. */
    bool timeout = t->server ? (t->invite && t->state == SIP_TXN_COMPLETED)
                             : (t->state == SIP_TXN_CALLING || t->state == SIP_TXN_PROCEEDING);
    if (timeout)
        tab->io.on_timeout(tab->ctx, t);
    end_txn(t);
}

/* Lingers in Completed (or Confirmed) for delay, then ends; ends now when delay is 0. */
static void linger(struct sip_txn *t, uint64_t delay_ns)
{
    net_timer_stop(t->tab->loop, &t->retx);
    if (delay_ns == 0) {
        end_txn(t);
        return;
    }
    net_timer_start(t->tab->loop, &t->end, delay_ns);
}

/* ---- the table ---------------------------------------------------------------------------- */

struct sip_txn_table *sip_txn_table_create(struct net_loop *loop,
                                           const struct sip_txn_config *config,
                                           const struct sip_txn_io *io, void *ctx)
{
    if (!loop || !io || !io->send || !io->on_response || !io->on_timeout)
        return NULL;
    struct sip_txn_table *tab = calloc(1, sizeof *tab);
    if (!tab)
        return NULL;
    tab->loop = loop;
    tab->io = *io;
    tab->ctx = ctx;
    if (config)
        tab->cfg = *config;
    /* RFC 3261 section 17.1.1.1 (from memory): T1 500 ms, T2 4 s, T4 5 s. */
    if (!tab->cfg.t1_ns)
        tab->cfg.t1_ns = 500 * MS;
    if (!tab->cfg.t2_ns)
        tab->cfg.t2_ns = 4000 * MS;
    if (!tab->cfg.t4_ns)
        tab->cfg.t4_ns = 5000 * MS;
    /* Timer D: at least 32 s over unreliable transports, 0 over reliable ones. */
    if (!tab->cfg.timer_d_ns)
        tab->cfg.timer_d_ns = 32000 * MS;
    /* 64 buckets, doubled as it fills: an idle agent costs little */
    if (sip_chain_init(&tab->chain, 64) != 0) {
        free(tab);
        return NULL;
    }
    return tab;
}

void sip_txn_table_destroy(struct sip_txn_table *tab)
{
    if (!tab)
        return;
    for (size_t i = 0; i < tab->chain.nbuckets; i++)
        while (tab->chain.buckets[i])
            end_txn(SIP_CHAIN_ENTRY(tab->chain.buckets[i], struct sip_txn, link));
    sip_chain_free(&tab->chain);
    free(tab);
}

/* The next live client transaction marked failing, or NULL. */
static struct sip_txn *next_failing(struct sip_txn_table *tab)
{
    for (size_t b = 0; b < tab->chain.nbuckets; b++)
        for (struct sip_chain_link *l = tab->chain.buckets[b]; l; l = l->next) {
            struct sip_txn *t = SIP_CHAIN_ENTRY(l, struct sip_txn, link);
            if (t->failing)
                return t;
        }
    return NULL;
}

size_t sip_txn_client_transport_error(struct sip_txn_table *tab,
                                      bool (*pick)(struct sip_txn *t, void *arg), void *arg)
{
    /* Marked first, then told one at a time: the TU's callbacks may start or end others. */
    size_t n = 0;
    for (size_t b = 0; b < tab->chain.nbuckets; b++)
        for (struct sip_chain_link *l = tab->chain.buckets[b]; l; l = l->next) {
            struct sip_txn *t = SIP_CHAIN_ENTRY(l, struct sip_txn, link);
            if (!t->server && (t->state == SIP_TXN_CALLING || t->state == SIP_TXN_PROCEEDING) &&
                pick(t, arg)) {
                t->failing = true;
                n++;
            }
        }
    struct sip_txn *t;
    for (size_t i = 0; i < n && (t = next_failing(tab)) != NULL; i++) {
        t->failing = false;
        if (tab->io.on_transport_error)
            tab->io.on_transport_error(tab->ctx, t);
        end_txn(t);
    }
    return n;
}

size_t sip_txn_count(const struct sip_txn_table *tab)
{
    return tab->chain.count;
}

size_t sip_txn_buckets(const struct sip_txn_table *tab)
{
    return tab->chain.nbuckets;
}

enum sip_txn_state sip_txn_state(const struct sip_txn *t)
{
    return t->state;
}

void *sip_txn_user(const struct sip_txn *t)
{
    return t->user;
}

void sip_txn_set_user(struct sip_txn *t, void *user)
{
    t->user = user;
}

int sip_txn_last_code(const struct sip_txn *t)
{
    return t->last_code;
}

struct sip_txn *sip_txn_server_find(struct sip_txn_table *tab, const char *branch,
                                    const char *method)
{
    return branch && method ? find(tab, branch, method, true) : NULL;
}

bool sip_txn_is_server(const struct sip_txn *t)
{
    return t->server;
}

static struct sip_txn *new_txn(struct sip_txn_table *tab, const char *branch, const char *method,
                               bool server)
{
    if (strlen(method) >= sizeof(((struct sip_txn *)0)->method)) {
        errno = EINVAL;
        return NULL;
    }
    if (find(tab, branch, method, server)) {
        errno = EEXIST;
        return NULL;
    }
    struct sip_txn *t = calloc(1, sizeof *t);
    if (!t || !(t->branch = strdup(branch))) {
        free(t);
        errno = ENOMEM;
        return NULL;
    }
    sip_chain_reserve(&tab->chain);
    t->tab = tab;
    strcpy(t->method, method);
    t->server = server;
    t->invite = strcmp(method, "INVITE") == 0;
    t->link.hash = key_hash(branch, method);
    t->retx.fn = on_retx;
    t->retx.arg = t;
    t->end.fn = on_end_timer;
    t->end.arg = t;
    t->start_ns = net_now_ns();
    sip_chain_insert(&tab->chain, &t->link);
    return t;
}

/* ---- client ------------------------------------------------------------------------------- */

struct sip_txn *sip_txn_client_start(struct sip_txn_table *tab, const char *branch,
                                     const char *method, const char *text, size_t len,
                                     void *user)
{
    if (!tab || !branch || !method || !text || strcmp(method, "ACK") == 0) {
        errno = EINVAL; /* an ACK has no client transaction (RFC 3261 17.1.1.3, memory) */
        return NULL;
    }
    struct sip_txn *t = new_txn(tab, branch, method, false);
    if (!t)
        return NULL;
    t->request = malloc(len ? len : 1);
    if (!t->request) {
        end_txn(t);
        errno = ENOMEM;
        return NULL;
    }
    memcpy(t->request, text, len);
    t->request_len = len;
    t->user = user;
    t->state = SIP_TXN_CALLING;
    tab->io.send(tab->ctx, t, t->request, t->request_len);
    /* Timer A / E = T1 over unreliable transports; B / F = 64*T1 always. */
    if (!tab->cfg.reliable) {
        t->interval_ns = tab->cfg.t1_ns;
        t->retx_at_ns = t->start_ns + t->interval_ns;
        arm_at(t, &t->retx, t->retx_at_ns);
    }
    arm_at(t, &t->end, t->start_ns + 64 * tab->cfg.t1_ns);
    return t;
}

/* The ACK for a non-2xx final response: built from the INVITE as sent and the response. */
static void send_ack(struct sip_txn *t, const osip_message_t *resp)
{
    if (!t->last) {
        osip_message_t *inv = sip_msg_parse(t->request, t->request_len, NULL, 0);
        char buf[4096];
        size_t len = 0;
        if (inv && sip_msg_build_cancel_or_ack(inv, "ACK", resp, buf, sizeof buf, &len, NULL,
                                               0) == 0 &&
            (t->last = malloc(len)) != NULL) {
            memcpy(t->last, buf, len);
            t->last_len = len;
        }
        if (inv)
            osip_message_free(inv);
    }
    if (t->last)
        t->tab->io.send(t->tab->ctx, t, t->last, t->last_len);
}

bool sip_txn_client_response(struct sip_txn_table *tab, const osip_message_t *resp)
{
    const char *branch = sip_msg_branch(resp), *method = sip_msg_cseq_method(resp);
    if (!branch || !method || !MSG_IS_RESPONSE(resp))
        return false;
    struct sip_txn *t = find(tab, branch, method, false);
    if (!t)
        return false;
    int code = resp->status_code;
    if (t->state != SIP_TXN_COMPLETED)
        t->last_code = code;
    if (t->state == SIP_TXN_COMPLETED) {
        /* A retransmitted final response: absorbed; an INVITE's gets its ACK again. */
        if (t->invite && code >= 300)
            send_ack(t, resp);
        return true;
    }
    if (code < 200) {
        if (t->state == SIP_TXN_CALLING) {
            t->state = SIP_TXN_PROCEEDING;
            /* INVITE: no more retransmissions, and Timer B only counts in Calling. */
            if (t->invite) {
                net_timer_stop(tab->loop, &t->retx);
                net_timer_stop(tab->loop, &t->end);
            }
        }
        tab->io.on_response(tab->ctx, t, resp);
        return true;
    }
    t->state = SIP_TXN_COMPLETED;
    net_timer_stop(tab->loop, &t->retx);
    net_timer_stop(tab->loop, &t->end);
    tab->io.on_response(tab->ctx, t, resp);
    if (t->invite && code < 300) {
        /* 2xx: the transaction ends; the TU sends the ACK end to end (13.2.2.4). */
        end_txn(t);
    } else if (t->invite) {
        send_ack(t, resp);
        linger(t, tab->cfg.reliable ? 0 : tab->cfg.timer_d_ns); /* Timer D */
    } else {
        linger(t, tab->cfg.reliable ? 0 : tab->cfg.t4_ns); /* Timer K */
    }
    return true;
}

/* ---- server ------------------------------------------------------------------------------- */

struct sip_txn *sip_txn_server_request(struct sip_txn_table *tab, const osip_message_t *req,
                                       bool *is_new)
{
    *is_new = false;
    const char *branch = sip_msg_branch(req);
    if (!branch || !MSG_IS_REQUEST(req) || !req->sip_method)
        return NULL;
    if (MSG_IS_ACK(req)) {
        /* An ACK for a non-2xx has the INVITE's branch (17.1.1.3); for a 2xx it has its own
         * and matches nothing here. */
        struct sip_txn *t = find(tab, branch, "INVITE", true);
        /* Accepted (after a 2xx): a peer that reuses the INVITE's branch on the 2xx's ACK must
         * still reach the TU, which is waiting for it (RFC 6026, from memory) */
        if (!t || t->state == SIP_TXN_ACCEPTED)
            return NULL;
        if (t->state == SIP_TXN_COMPLETED) {
            t->state = SIP_TXN_CONFIRMED;
            net_timer_stop(tab->loop, &t->end);
            linger(t, tab->cfg.reliable ? 0 : tab->cfg.t4_ns); /* Timer I */
        }
        return t;
    }
    struct sip_txn *t = find(tab, branch, req->sip_method, true);
    if (t) {
        /* Accepted: the TU resends the 2xx itself; the copy is swallowed. */
        if (t->last && t->state != SIP_TXN_ACCEPTED)
            tab->io.send(tab->ctx, t, t->last, t->last_len);
        return t;
    }
    t = new_txn(tab, branch, req->sip_method, true);
    if (!t)
        return NULL;
    t->state = SIP_TXN_PROCEEDING;
    *is_new = true;
    return t;
}

void sip_txn_server_respond(struct sip_txn_table *tab, struct sip_txn *t, int code,
                            const char *text, size_t len)
{
    if (!t->server || t->state != SIP_TXN_PROCEEDING)
        return;
    char *copy = malloc(len ? len : 1);
    if (copy) {
        memcpy(copy, text, len);
        free(t->last);
        t->last = copy;
        t->last_len = len;
        t->last_code = code;
    }
    tab->io.send(tab->ctx, t, text, len);
    if (code < 200)
        return;
    if (t->invite && code < 300) {
        /* The TU retransmits its 2xx until the ACK (17.2.1); the transaction stays, in
         * RFC 6026's Accepted state (from memory: RFC 6026 is not in ../shared/rfc/), only to
         * absorb copies of the INVITE, and Timer L (64*T1) ends it. RFC 3261 alone ended it
         * here, and a copy of the INVITE crossing the 2xx then started a second call. */
        t->state = SIP_TXN_ACCEPTED;
        net_timer_stop(tab->loop, &t->retx);
        net_timer_start(tab->loop, &t->end, 64 * tab->cfg.t1_ns);
        return;
    }
    t->state = SIP_TXN_COMPLETED;
    if (t->invite) {
        /* Timer G (unreliable) and Timer H = 64*T1, waiting for the ACK. */
        if (!tab->cfg.reliable) {
            t->interval_ns = tab->cfg.t1_ns;
            t->retx_at_ns = net_now_ns() + t->interval_ns;
            arm_at(t, &t->retx, t->retx_at_ns);
        }
        net_timer_start(tab->loop, &t->end, 64 * tab->cfg.t1_ns);
    } else {
        linger(t, tab->cfg.reliable ? 0 : 64 * tab->cfg.t1_ns); /* Timer J */
    }
}
