/*
 * session.c - an MSRP session endpoint: binding, outgoing messages cut into chunks, one
 * transaction per chunk with its response timer, incoming chunks checked, answered and
 * reassembled (RFC 4975 sections 5.4, 7.1-7.3).
 *
 * Transaction lookup is O(1): our transaction ids end in four base-62 characters naming the
 * slot of the transaction, after eight random ones (the randomness RFC 4975 section 7.1 asks
 * for). A response names its slot; the full id is then compared. When the writer had to draw
 * another id (the body held the end-line), the slot is found by a scan instead.
 */
#include "msrp/session.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msrp/violate.h"
#include "wire/hash.h"
#include "wire/idgen.h"
#include "wire/values.h"
#include "wire/writer.h"

#define MAX_HEADERS 32
#define SEGMENT_CAP (64 * 1024)
#define PATH_MAX_TEXT 2048
#define RECENT_TIDS 16
#define MSGID_LEN MSRP_MESSAGE_ID_LEN
#define TID_RANDOM 8
#define TID_SLOT_CHARS 4
#define TX_BLOCK 16
#define DEFAULT_OVERLAP 16

enum session_state { S_CONNECTING, S_BINDING, S_BOUND, S_CLOSING, S_ENDED };

struct out_msg {
    struct out_msg *next;  /* in the send queue */
    struct out_msg *prev_all, *next_all; /* every message not reported yet */
    const char *body;
    size_t len;
    size_t queued;         /* body bytes cut into chunks so far */
    char message_id[MSGID_LEN + 1];
    char content_type[128];
    enum msrp_report failure_report, success_report;
    size_t chunk_size;
    uint64_t response_timeout_ns;
    bool unknown_total, interrupted, aborted;
    bool numeric_range_end; /* a real range end even on chunks over 2048 octets (testing) */
    uint64_t interrupt_after, abort_after;
    enum msrp_chunk_order order;
    size_t overlap;        /* OVERLAPPING: bytes each chunk repeats; 0 in every other order */
    uint64_t ranges;       /* REVERSE, SHUFFLED: chunk ranges in the message */
    uint64_t next_range;   /* SHUFFLED: the range sent next */
    uint64_t stride;       /* SHUFFLED: the permutation's step, coprime with ranges */
    void *cookie;
    unsigned outstanding;  /* chunks waiting for a response */
    uint64_t chunks;
    uint64_t first_sent_ns;
    int status;            /* first failure, or 200 */
    bool local;
    bool failed;
    bool is_bind;          /* the empty binding SEND */
};

struct tx {
    struct msrp_session *s;
    struct out_msg *msg;   /* NULL when free */
    char tid[MSRP_TID_MAX];
    uint8_t tid_len;
    uint64_t sent_ns;
    struct net_timer timer;
    uint32_t next_free;
};

/* What is kept of an incoming chunk while its body arrives in segments. */
struct in_chunk {
    bool active;
    bool ignore;           /* rejected at its head: swallow the rest */
    bool is_send, is_report;
    char tid[MSRP_TID_MAX];
    uint8_t tid_len;
    enum msrp_report failure_report, success_report;
    int respond;           /* status to answer with at the end, 0: none */
    int report;            /* REPORT status to send after the response, 0: none */
    uint64_t report_end;   /* its Byte-Range end (and total) */
    uint64_t report_start; /* 0: the REPORT covers 1-report_end/report_end; else it covers
                              report_start-report_end/report_total (per-chunk-reports) */
    uint64_t report_total;
    const char *reply_to;  /* the request's From-Path: the bound peer's path, or scratch */
    size_t reply_len;
    char message_id[MSRP_REASM_ID_MAX];
    uint8_t message_id_len;
    uint64_t start;        /* Byte-Range start */
    struct msrp_byte_range range;
    bool has_range;
    uint64_t body_len;
    char content_type[128];
};

/*
 * A 200 held back by response_delay (load tests), with the success REPORT that must follow
 * it. One allocation per delayed response, freed when it is sent or the session ends.
 */
struct delayed_response {
    struct delayed_response *prev, *next;
    struct msrp_session *s;
    struct net_timer timer;
    char tid[MSRP_TID_MAX];
    uint8_t tid_len;
    uint8_t message_id_len;
    int report;            /* success REPORT status after the response, 0: none */
    uint64_t report_end;
    char message_id[MSRP_REASM_ID_MAX];
    size_t path_len;       /* 0: reply to the bound peer's path */
    char path[];           /* a From-Path that is not byte for byte the bound peer's */
};

/*
 * A raw send waiting for its outcome (msrp_session_send_raw): allocated only while pending,
 * so an idle session pays one pointer for the feature.
 */
struct raw_wait {
    struct raw_wait *next;
    struct msrp_session *s;
    struct net_timer timer;
    void *cookie;
    uint8_t tid_len;
    char tid[MSRP_TID_MAX];
};

struct msrp_session {
    struct msrp_session *prev_live, *next_live; /* this thread's live sessions */
    struct msrp_session_timing timing;
    uint64_t wire_in, wire_out;  /* the connection's totals, kept when it closes */
    bool aborting;
    struct net_loop *loop;
    struct net_conn *conn;
    const struct msrp_session_handlers *h;
    void *user;
    struct msrp_session_config cfg;
    enum msrp_violation_id violation; /* cfg.violate, parsed once */
    enum session_state state;
    bool calling;
    bool ended;
    /* The server that bound the connection to this session hears when it ends (506s). */
    void (*on_release)(void *arg);
    void *release_arg;
    unsigned busy;
    bool free_when_idle;

    char *local_text;      /* our URI; s->local's spans point into it */
    struct msrp_uri local;
    char *peer_text;       /* the peer's full path, as To-Path of our requests */
    char *scratch_path;    /* a request's From-Path that is not the peer's (rare: 481s) */
    size_t peer_len;
    bool have_peer;
    char *accept_types;

    struct msrp_parser parser;
    struct in_chunk in;
    struct msrp_reasm *reasm;

    struct out_msg *queue_head, *queue_tail; /* messages with bytes still to cut */
    size_t pending;                          /* messages not reported yet */
    struct out_msg *all;   /* every message not reported yet */
    struct tx **tx_blocks; /* fixed blocks: armed timers inside must never move */
    uint32_t tx_cap, tx_free, tx_used;

    struct net_timer bind_timer;
    /* idle_timeout_ns: checked every quarter of it; progress counts complete chunks. */
    struct net_timer idle_timer;
    uint64_t progress, progress_seen;
    unsigned idle_quarters;
    /* Answering side: not reading while our output is congested, since when stall_timer runs. */
    bool paused;
    struct net_timer stall_timer;
    bool shaping;          /* drop_fraction or response delays are set */
    bool answered_one;     /* a request has been answered (cfg.violate "no-response-empty") */
    uint64_t rng;          /* splitmix64 state for drops and delays: reproducible per session */
    struct delayed_response *delayed; /* 200s waiting for their delay to expire */
    struct raw_wait *raws; /* raw sends waiting for a response, their timeout or the end */
    char recent_tids[RECENT_TIDS][MSRP_TID_MAX + 1];
    unsigned recent_next;
    char end_detail[160];
    char peer_addr[64];       /* the connection's peer, kept for after it is gone */
    struct msrp_trace *trace; /* cfg.trace_frames: the last frames, for failure forensics */
};

/*
 * Per-thread state shared by every session of a loop: the id generator's 4 KiB pool and the
 * header array are needed only while a chunk is being made or read, never between calls, so
 * an idle session costs neither.
 */
static _Thread_local struct msrp_idgen thread_idgen;
static _Thread_local bool thread_idgen_ready;
static _Thread_local struct msrp_header thread_headers[MAX_HEADERS];
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

static struct msrp_idgen *thread_ids(void)
{
    if (!thread_idgen_ready) {
        if (msrp_idgen_init(&thread_idgen) != 0)
            return NULL;
        thread_idgen_ready = true;
    }
    return &thread_idgen;
}

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* splitmix64: tiny, fast and good enough to decide drops and delays reproducibly. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
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

static void leave(struct msrp_session *s);
static void pump(struct msrp_session *s);

static struct tx *tx_at(const struct msrp_session *s, uint32_t i)
{
    return &s->tx_blocks[i / TX_BLOCK][i % TX_BLOCK];
}

static void delayed_unlink(struct msrp_session *s, struct delayed_response *d)
{
    if (d->prev != NULL)
        d->prev->next = d->next;
    else
        s->delayed = d->next;
    if (d->next != NULL)
        d->next->prev = d->prev;
}

/* Responses still waiting for their delay are not sent once the session ends. */
static void delayed_free_all(struct msrp_session *s)
{
    while (s->delayed != NULL) {
        struct delayed_response *d = s->delayed;
        net_timer_stop(s->loop, &d->timer);
        delayed_unlink(s, d);
        free(d);
    }
}

/* Tells the owner how a raw send ended (status 0: no response) and forgets it. */
static void raw_finish(struct msrp_session *s, struct raw_wait *r, int status, bool closed,
                       const struct msrp_chunk *response)
{
    struct raw_wait **pp = &s->raws;
    while (*pp != r)
        pp = &(*pp)->next;
    *pp = r->next;
    net_timer_stop(s->loop, &r->timer);
    void *cookie = r->cookie;
    free(r);
    if (s->h->on_raw_result != NULL)
        s->h->on_raw_result(s, cookie, status, closed, response);
}

static void raw_timeout(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct raw_wait *r = t->arg;
    struct msrp_session *s = r->s;
    s->busy++;
    raw_finish(s, r, 0, false, NULL);
    /* Messages queued by the handler wait for a pump while we are busy: give them one. */
    if (!s->ended)
        pump(s);
    leave(s);
}

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
        net_timer_stop(s->loop, &tx_at(s, i)->timer);
    for (uint32_t b = 0; b < s->tx_cap / TX_BLOCK; b++)
        free(s->tx_blocks[b]);
    free(s->tx_blocks);
    struct out_msg *m = s->all;
    while (m != NULL) {
        struct out_msg *next = m->next_all;
        free(m);
        m = next;
    }
    net_timer_stop(s->loop, &s->bind_timer);
    net_timer_stop(s->loop, &s->idle_timer);
    net_timer_stop(s->loop, &s->stall_timer);
    delayed_free_all(s);
    msrp_reasm_destroy(s->reasm);
    free(s->local_text);
    free(s->peer_text);
    free(s->scratch_path);
    free(s->accept_types);
    free(s->trace);
    free(s);
}

/*
 * Ends the session once: outstanding messages are reported as failed with the cause, the
 * owner hears why, the connection is closed. The memory goes when no callback of ours is on
 * the stack.
 */
/* Keeps what the connection knows (times, byte counts) for after it is gone. */
static void note_conn(struct msrp_session *s, const struct net_conn *c)
{
    s->timing.connected_ns = net_conn_connected_ns(c);
    s->timing.secured_ns = net_conn_open_ns(c);
    s->wire_in = net_conn_bytes_in(c);
    s->wire_out = net_conn_bytes_out(c);
    snprintf(s->peer_addr, sizeof(s->peer_addr), "%s", net_conn_peer(c));
}

static void session_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
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
        net_timer_stop(s->loop, &tx_at(s, i)->timer);
    delayed_free_all(s);
    /* Every message not reported yet is lost with the connection: status 0, local. */
    uint64_t now = net_now_ns();
    for (struct out_msg *m = s->all; m != NULL; m = m->next_all) {
        if (m->is_bind || s->h->on_sent == NULL)
            continue;
        struct msrp_sent r = {.cookie = m->cookie,
                              .message_id = m->message_id,
                              .status = 0,
                              .local = true,
                              .bytes = m->len,
                              .chunks = m->chunks,
                              .first_sent_ns = m->first_sent_ns,
                              .done_ns = now};
        s->h->on_sent(s, &r);
    }
    /* Raw sends still waiting learn that the connection went before their answer did. */
    while (s->raws != NULL)
        raw_finish(s, s->raws, 0, true, NULL);
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

static void leave(struct msrp_session *s)
{
    s->busy--;
    if (s->busy == 0 && s->free_when_idle)
        session_free(s);
}

/* ---- transactions ------------------------------------------------------------------------- */

static struct tx *tx_alloc(struct msrp_session *s)
{
    if (s->tx_free == UINT32_MAX) {
        uint32_t blocks = s->tx_cap / TX_BLOCK;
        if (s->tx_cap + TX_BLOCK > 62u * 62 * 62 * 62)
            return NULL;
        struct tx **bp = realloc(s->tx_blocks, (blocks + 1) * sizeof(*bp));
        if (bp == NULL)
            return NULL;
        s->tx_blocks = bp;
        struct tx *block = calloc(TX_BLOCK, sizeof(*block));
        if (block == NULL)
            return NULL;
        bp[blocks] = block;
        for (uint32_t k = 0; k < TX_BLOCK; k++)
            block[k].next_free = k + 1 < TX_BLOCK ? s->tx_cap + k + 1 : UINT32_MAX;
        s->tx_free = s->tx_cap;
        s->tx_cap += TX_BLOCK;
    }
    uint32_t i = s->tx_free;
    struct tx *t = tx_at(s, i);
    s->tx_free = t->next_free;
    s->tx_used++;
    t->next_free = i; /* remembers its own index while in use */
    return t;
}

static void tx_release(struct msrp_session *s, struct tx *t)
{
    net_timer_stop(s->loop, &t->timer);
    uint32_t self = t->next_free;
    t->msg = NULL;
    t->next_free = s->tx_free;
    s->tx_free = self;
    s->tx_used--;
}

static struct tx *tx_find(struct msrp_session *s, struct msrp_span tid)
{
    if (tid.len == TID_RANDOM + TID_SLOT_CHARS) {
        uint32_t slot = 0;
        bool ok = true;
        for (size_t k = TID_RANDOM; k < tid.len && ok; k++) {
            const char *p = memchr(base62, tid.ptr[k], 62);
            ok = p != NULL;
            slot = slot * 62 + (uint32_t)(ok ? p - base62 : 0);
        }
        if (ok && slot < s->tx_cap) {
            struct tx *t = tx_at(s, slot);
            if (t->msg != NULL && t->tid_len == tid.len && memcmp(t->tid, tid.ptr, tid.len) == 0)
                return t;
        }
    }
    for (uint32_t i = 0; i < s->tx_cap; i++) {
        struct tx *t = tx_at(s, i);
        if (t->msg != NULL && t->tid_len == tid.len && memcmp(t->tid, tid.ptr, tid.len) == 0)
            return t;
    }
    return NULL;
}

/* ---- outgoing ----------------------------------------------------------------------------- */

static void message_done(struct msrp_session *s, struct out_msg *m)
{
    struct msrp_sent r = {
        .cookie = m->cookie,
        .message_id = m->message_id,
        .status = m->failed ? m->status : 200,
        /* With Failure-Report: no, nothing confirms delivery: it was written, that is all. */
        .local = m->local || (!m->failed && m->failure_report == MSRP_REPORT_NO),
        .aborted = m->aborted,
        .bytes = m->len,
        .chunks = m->chunks,
        .first_sent_ns = m->first_sent_ns,
        .done_ns = net_now_ns(),
    };
    s->pending--;
    bool bind = m->is_bind;
    if (m->prev_all != NULL)
        m->prev_all->next_all = m->next_all;
    else
        s->all = m->next_all;
    if (m->next_all != NULL)
        m->next_all->prev_all = m->prev_all;
    free(m);
    if (bind) {
        if (r.status == 200) {
            s->state = S_BOUND;
            s->timing.bound_ns = net_now_ns();
            if (s->h->on_bound != NULL)
                s->h->on_bound(s);
        } else {
            snprintf(s->end_detail, sizeof(s->end_detail), "binding SEND answered %d%s",
                     r.status, r.local ? " (no response in time)" : "");
            session_end(s, MSRP_END_BIND_REJECTED, s->end_detail);
        }
        return;
    }
    if (s->h->on_sent != NULL)
        s->h->on_sent(s, &r);
}

/* A message is reported once every chunk is cut and every transaction is settled. */
static void maybe_done(struct msrp_session *s, struct out_msg *m)
{
    if (m->outstanding == 0 && (m->queued == m->len || m->failed) && m->chunks > 0 &&
        m != s->queue_head)
        message_done(s, m);
}

static void settle(struct msrp_session *s, struct tx *t, int status, bool local)
{
    struct out_msg *m = t->msg;
    if (s->h->on_chunk_result != NULL && !m->is_bind) {
        struct msrp_chunk_result r = {m->cookie, status, local, t->sent_ns, net_now_ns()};
        s->h->on_chunk_result(s, &r);
    }
    tx_release(s, t);
    m->outstanding--;
    if (local)
        m->local = true; /* an outcome we decided ourselves, not one the peer gave */
    if (status != 200 && !m->failed) {
        m->failed = true;
        m->status = status;
        m->local = local;
    }
    maybe_done(s, m);
}

static void pump(struct msrp_session *s);

static void response_timeout(struct net_loop *loop, struct net_timer *timer)
{
    (void)loop;
    struct tx *t = timer->arg;
    struct msrp_session *s = t->s;
    s->busy++;
    /* Seed API semantics: silence is a failure only when a response was owed. */
    bool owed = t->msg->failure_report == MSRP_REPORT_YES ||
                t->msg->failure_report == MSRP_REPORT_ABSENT;
    settle(s, t, owed ? 408 : 200, true);
    /* The owner may have queued more from on_sent: nothing else would send it until the
     * next read, since a timer is not one of the connection's callbacks. */
    if (!s->ended)
        pump(s);
    leave(s);
}

/* Cuts and queues the next chunk of the head message. Returns false when it cannot. */
/* Notes a frame we wrote in the session's trace (its end line's flag: 3 bytes before its end). */
static void trace_out(struct msrp_session *s, const struct msrp_wire_chunk *w, uint64_t now)
{
    const struct iovec *end = &w->iov[w->iovcnt - 1];
    char flag = end->iov_len >= 3 ? ((const char *)end->iov_base)[end->iov_len - 3] : 0;
    msrp_trace_out(s->trace, w->iov[0].iov_base, w->iov[0].iov_len, w->total, flag, now);
}

static bool send_next_chunk(struct msrp_session *s)
{
    struct out_msg *m = s->queue_head;
    size_t start, n; /* the chunk's first byte (0-based) and length */
    bool last, ends_message, aborting = false, interrupting = false;
    if (m->order == MSRP_ORDER_REVERSE || m->order == MSRP_ORDER_SHUFFLED) {
        /* The in-order ranges, sent in another order; the receiver places each by Byte-Range.
         * "$" goes on the range that ends the message, whenever it leaves (RFC 4975 section
         * 7.1, MUST), "+" on every other; the message is done once all ranges have left. */
        uint64_t idx = m->order == MSRP_ORDER_REVERSE ? m->ranges - 1 - m->chunks : m->next_range;
        start = (size_t)idx * m->chunk_size;
        n = m->len - start < m->chunk_size ? m->len - start : m->chunk_size;
        last = m->chunks + 1 == m->ranges;
        ends_message = idx + 1 == m->ranges;
    } else {
        /* In order, or overlapping: each chunk starts `overlap` bytes (0 in order) before the
         * end of what was sent, never before the first byte. */
        start = m->queued - (m->queued < m->overlap ? m->queued : m->overlap);
        n = m->len - start < m->chunk_size ? m->len - start : m->chunk_size;
        /* RFC 4975 section 7.1: an aborted message ends with "#"; 7.1.1: an interrupted chunk stops
         * early with "+" after declaring an end of "*", and the next chunk goes on from there. */
        if (m->abort_after > 0 && m->queued < m->abort_after && start + n >= m->abort_after) {
            n = m->abort_after - start;
            aborting = true;
        } else if (m->interrupt_after > 0 && !m->interrupted && m->queued < m->interrupt_after &&
                   start + n > m->interrupt_after) {
            n = m->interrupt_after - start;
            interrupting = m->interrupted = true;
        }
        last = start + n == m->len || aborting;
        ends_message = last;
    }
    /* RFC 4975 section 7.1.1: a sender MUST NOT send a chunk body over 2048 octets unless it is
     * prepared to interrupt it, so such a chunk has "*" as its range end (MUST); a scenario may
     * ask for the real end to test a receiver (numeric_range_end). */
    bool end_star = interrupting || (n > MSRP_INTERRUPTIBLE_BODY && !m->numeric_range_end);
    struct msrp_byte_range range = {start + 1, end_star ? MSRP_RANGE_UNKNOWN : start + n,
                                    m->unknown_total ? MSRP_RANGE_UNKNOWN : m->len};

    struct tx *t = NULL;
    char tid[TID_RANDOM + TID_SLOT_CHARS];
    if (m->failure_report != MSRP_REPORT_NO) {
        t = tx_alloc(s);
        if (t == NULL) {
            session_end(s, MSRP_END_WRITE_OVERFLOW, "too many transactions in flight");
            return false;
        }
    }
    if (msrp_idgen_ident(thread_ids(), tid, TID_RANDOM) != 0) {
        session_end(s, MSRP_END_PROTOCOL, "the CSPRNG failed");
        return false;
    }
    uint32_t slot = t != NULL ? t->next_free : 0;
    for (int k = TID_SLOT_CHARS - 1; k >= 0; k--) {
        tid[TID_RANDOM + k] = base62[slot % 62];
        slot /= 62;
    }

    struct msrp_out out = {
        .kind = MSRP_REQUEST,
        .tid = msrp_span_make(tid, sizeof(tid)),
        .method = MSRP_SPAN_LIT("SEND"),
        .to_path = msrp_span_make(s->peer_text, s->peer_len),
        .from_path = msrp_span_cstr(s->local_text),
        .message_id = msrp_span_make(m->message_id, MSGID_LEN),
        .byte_range = &range,
        .failure_report = m->failure_report,
        .success_report = m->success_report,
        .flag = aborting ? '#' : ends_message ? '$' : '+',
    };
    /* Every message has a Content-Type, even an empty one (RFC 4975 section 7.1); only the
     * binding SEND goes without a body section. */
    if (!m->is_bind) {
        out.content_type = msrp_span_cstr(m->content_type);
        out.body = msrp_span_make(m->len > 0 ? m->body + start : "", n);
    }
    char head[PATH_MAX_TEXT + MSRP_URI_MAX + 512];
    struct msrp_wire_chunk w;
    if (msrp_write(&out, thread_ids(), head, sizeof(head), &w) != MSRP_W_OK) {
        if (t != NULL) {
            t->msg = m;
            tx_release(s, t);
        }
        session_end(s, MSRP_END_PROTOCOL, "cannot format a chunk (path too long?)");
        return false;
    }
    int e = net_conn_send(s->conn, w.iov, w.iovcnt);
    if (e != 0) {
        if (t != NULL) {
            t->msg = m;
            tx_release(s, t);
        }
        session_end(s, MSRP_END_WRITE_OVERFLOW, strerror(e));
        return false;
    }
    uint64_t now = net_now_ns();
    if (s->trace != NULL)
        trace_out(s, &w, now);
    if (m->chunks == 0)
        m->first_sent_ns = now;
    m->chunks++;
    if (m->order == MSRP_ORDER_REVERSE || m->order == MSRP_ORDER_SHUFFLED) {
        m->queued += n; /* disjoint ranges: their lengths add up to the message */
        m->next_range += m->stride;
        if (m->next_range >= m->ranges)
            m->next_range -= m->ranges;
    } else {
        m->queued = start + n;
    }
    if (aborting) {
        m->aborted = true;
        m->queued = m->len; /* nothing more of it is sent */
    }
    if (t != NULL) {
        t->s = s;
        t->msg = m;
        memcpy(t->tid, w.tid, w.tid_len);
        t->tid_len = (uint8_t)w.tid_len;
        t->sent_ns = now;
        t->timer.fn = response_timeout;
        t->timer.arg = t;
        m->outstanding++;
        net_timer_start(s->loop, &t->timer, m->response_timeout_ns);
    }
    if (last) {
        s->queue_head = m->next;
        if (s->queue_head == NULL)
            s->queue_tail = NULL;
        m->next = NULL;
        maybe_done(s, m);
    }
    return true;
}

/* Queues chunks while the connection takes them (backpressure: stop when congested). */
static void pump(struct msrp_session *s)
{
    while (!s->ended && s->queue_head != NULL && s->conn != NULL && net_conn_is_open(s->conn) &&
           !net_conn_congested(s->conn)) {
        struct out_msg *m = s->queue_head;
        if (!m->is_bind && s->state != S_BOUND)
            return;
        if (m->failed) {
            /* The peer refused it (e.g. 413): stop sending its remaining chunks. */
            s->queue_head = m->next;
            if (s->queue_head == NULL)
                s->queue_tail = NULL;
            m->next = NULL;
            m->queued = m->len;
            maybe_done(s, m);
            continue;
        }
        if (!send_next_chunk(s))
            return;
    }
}

static struct out_msg *new_message(struct msrp_session *s, const char *body, size_t len,
                                   const struct msrp_send_opts *o)
{
    struct out_msg *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->body = body;
    m->len = len;
    const char *ct = o != NULL && o->content_type != NULL ? o->content_type : "text/plain";
    /* Per message on the hot path: a bounded copy, not a formatted print. */
    size_t ct_len = strnlen(ct, sizeof(m->content_type) - 1);
    memcpy(m->content_type, ct, ct_len);
    m->content_type[ct_len] = '\0';
    m->failure_report = o != NULL ? o->failure_report : MSRP_REPORT_ABSENT;
    m->success_report = o != NULL ? o->success_report : MSRP_REPORT_ABSENT;
    m->chunk_size = o != NULL && o->chunk_size > 0 ? o->chunk_size : s->cfg.chunk_size;
    m->cookie = o != NULL ? o->cookie : NULL;
    if (o != NULL) {
        m->unknown_total = o->unknown_total;
        m->numeric_range_end = o->numeric_range_end;
        m->interrupt_after = o->interrupt_after;
        m->abort_after = o->abort_after <= len ? o->abort_after : 0;
    }
    m->response_timeout_ns = o != NULL && o->response_timeout_ns > 0 ? o->response_timeout_ns
                                                                       : s->cfg.response_timeout_ns;
    m->status = 200;
    if (msrp_idgen_ident(thread_ids(), m->message_id, MSGID_LEN) != 0) {
        free(m);
        return NULL;
    }
    m->order = o != NULL ? o->order : MSRP_ORDER_IN_ORDER;
    if (m->order == MSRP_ORDER_OVERLAPPING)
        m->overlap = o->overlap > 0 ? o->overlap : DEFAULT_OVERLAP;
    m->ranges = len == 0 ? 1 : (len - 1) / m->chunk_size + 1;
    if (m->order == MSRP_ORDER_SHUFFLED && m->ranges > 1) {
        /* Range k goes out as (stride * k + first) mod ranges: a permutation when stride and
         * ranges are coprime, so a message of millions of chunks needs no table. Both come
         * from the Message-ID, which is random already. first is never 0: the first chunk sent
         * is not range 1, so a receiver always sees this message out of order. */
        uint64_t h = fnv1a64(m->message_id, MSGID_LEN);
        m->next_range = 1 + splitmix64(&h) % (m->ranges - 1);
        m->stride = 1 + splitmix64(&h) % (m->ranges - 1);
        while (gcd_u64(m->stride, m->ranges) != 1)
            m->stride = m->stride % (m->ranges - 1) + 1;
    }
    return m;
}

static void enqueue(struct msrp_session *s, struct out_msg *m, bool front)
{
    m->next_all = s->all;
    if (s->all != NULL)
        s->all->prev_all = m;
    s->all = m;
    if (front) {
        m->next = s->queue_head;
        s->queue_head = m;
        if (s->queue_tail == NULL)
            s->queue_tail = m;
    } else {
        if (s->queue_tail != NULL)
            s->queue_tail->next = m;
        else
            s->queue_head = m;
        s->queue_tail = m;
    }
    s->pending++;
}

int msrp_session_send(struct msrp_session *s, const char *body, size_t len,
                      const struct msrp_send_opts *opts)
{
    if (s->ended || s->state == S_CLOSING)
        return ENOTCONN;
    if (opts != NULL && opts->success_report == MSRP_REPORT_PARTIAL)
        return EINVAL;
    if (opts != NULL && opts->order != MSRP_ORDER_IN_ORDER) {
        size_t chunk = opts->chunk_size > 0 ? opts->chunk_size : s->cfg.chunk_size;
        switch (opts->order) {
        case MSRP_ORDER_REVERSE:
        case MSRP_ORDER_SHUFFLED:
            /* Out of order, the receiver could not tell where a message of unknown size ends
             * (the "$" chunk is not its end), and interrupting or aborting "after byte N"
             * means nothing when the bytes do not go out in order. */
            if (opts->unknown_total || opts->interrupt_after > 0 || opts->abort_after > 0)
                return EINVAL;
            break;
        case MSRP_ORDER_OVERLAPPING:
            /* Each chunk must bring at least one new byte. */
            if ((opts->overlap > 0 ? opts->overlap : DEFAULT_OVERLAP) >= chunk)
                return EINVAL;
            break;
        default:
            return EINVAL;
        }
    }
    struct out_msg *m = new_message(s, body, len, opts);
    if (m == NULL)
        return ENOMEM;
    if (opts != NULL && opts->message_id_out != NULL) {
        memcpy(opts->message_id_out, m->message_id, MSGID_LEN);
        opts->message_id_out[MSGID_LEN] = '\0';
    }
    enqueue(s, m, false);
    if (s->busy == 0) {
        s->busy++;
        pump(s);
        leave(s);
    }
    return 0;
}

int msrp_session_send_raw(struct msrp_session *s, const char *bytes, size_t len, const char *tid,
                          size_t tid_len, uint64_t timeout_ns, void *cookie)
{
    /* Before binding the peer would take the bytes as a binding attempt (RFC 4975 section
     * 5.4), and our own binding SEND may not have left yet. */
    if (s->ended || s->state != S_BOUND || s->conn == NULL)
        return ENOTCONN;
    if (tid == NULL || tid_len == 0 || tid_len > MSRP_TID_MAX || timeout_ns == 0)
        return EINVAL;
    struct raw_wait *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return ENOMEM;
    /* Straight to the connection: the chunks of our messages are cut only as it takes them,
     * so these bytes land between two whole chunks. */
    struct iovec iov = {.iov_base = (void *)bytes, .iov_len = len};
    int e = net_conn_send(s->conn, &iov, 1);
    if (e != 0) {
        free(r);
        return e;
    }
    if (s->trace != NULL) /* flag 0: bytes of the caller's, framed or not */
        msrp_trace_out(s->trace, bytes, len, len, 0, net_now_ns());
    r->s = s;
    r->cookie = cookie;
    r->tid_len = (uint8_t)tid_len;
    memcpy(r->tid, tid, tid_len);
    r->timer.fn = raw_timeout;
    r->timer.arg = r;
    r->next = s->raws;
    s->raws = r;
    net_timer_start(s->loop, &r->timer, timeout_ns);
    return 0;
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

static bool violating(const struct msrp_session *s, enum msrp_violation_id v)
{
    return s->violation == v;
}

/* ---- answering ---------------------------------------------------------------------------- */

static const char *status_comment(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 408:
        return "Request Timeout";
    case 413:
        return "Message Too Large";
    case 415:
        return "Unsupported Media Type";
    case 481:
        return "Session Does Not Exist";
    case 501:
        return "Not Implemented";
    default:
        return "";
    }
}

static void session_end(struct msrp_session *s, enum msrp_session_end why, const char *detail);

/* A response or REPORT that the connection would not queue (its cap reached: the peer does
 * not read) ends the session with the reason, rather than going missing unnoticed. */
static void answer_sent(struct msrp_session *s, int err)
{
    if (err == 0 || err == EPIPE)
        return; /* EPIPE: closing already, the close says why */
    snprintf(s->end_detail, sizeof(s->end_detail),
             "%s: cannot queue a response: %s (%zu bytes queued)", net_conn_peer(s->conn),
             strerror(err), net_conn_queued(s->conn));
    session_end(s, MSRP_END_WRITE_OVERFLOW, s->end_detail);
}

/* Responses are hop by hop (RFC 4975 section 7.2, RFC 4976 section 6.4.1): the To-Path is the
 * first URI of the request's From-Path, the previous hop, which is the whole path on a direct
 * connection. A relay absorbs a response addressed to it instead of relaying it onwards. */
static void send_response(struct msrp_session *s, const char *tid, size_t tid_len,
                          const char *to, size_t to_len, int status)
{
    if (s->conn == NULL)
        return;
    const char *sp = memchr(to, ' ', to_len);
    if (sp != NULL)
        to_len = (size_t)(sp - to);
    char bad_tid[MSRP_TID_MAX];
    if (violating(s, MSRP_VIOLATE_WRONG_TID) && tid_len > 0 && s->answered_one) {
        memcpy(bad_tid, tid, tid_len);
        bad_tid[tid_len - 1] = bad_tid[tid_len - 1] == 'x' ? 'y' : 'x';
        tid = bad_tid;
    }
    if (violating(s, MSRP_VIOLATE_RESPONSE_TO_PATH)) {
        to = s->local_text;
        to_len = strlen(s->local_text);
    }
    const char *comment = status_comment(status);
    char own[MSRP_URI_MAX + 32];
    struct msrp_out out = {
        .kind = MSRP_RESPONSE,
        .tid = msrp_span_make(tid, tid_len),
        .status = status,
        .comment = msrp_span_cstr(comment),
        .to_path = msrp_span_make(to, to_len),
        .from_path =
            msrp_span_cstr(msrp_violate_own_uri(s->violation, s->local_text, own, sizeof own)),
    };
    char head[PATH_MAX_TEXT + MSRP_URI_MAX + 256];
    struct msrp_wire_chunk w;
    if (msrp_write(&out, NULL, head, sizeof(head), &w) == MSRP_W_OK) {
        int err = net_conn_send(s->conn, w.iov, w.iovcnt);
        if (err == 0 && s->trace != NULL)
            trace_out(s, &w, net_now_ns());
        answer_sent(s, err); /* last: it may end the session */
    }
}

/* REPORT to the sender of a message (RFC 4975 section 7.1.2/7.1.3). */
static void send_report_range(struct msrp_session *s, const char *to, size_t to_len,
                              const char *mid, size_t mid_len, struct msrp_byte_range range,
                              int status)
{
    if (s->conn == NULL)
        return;
    char status_value[48];
    snprintf(status_value, sizeof(status_value), "000 %d %s", status, status_comment(status));
    char own[MSRP_URI_MAX + 32];
    struct msrp_out out = {
        .kind = MSRP_REQUEST,
        .method = MSRP_SPAN_LIT("REPORT"),
        .to_path = msrp_span_make(to, to_len),
        .from_path =
            msrp_span_cstr(msrp_violate_own_uri(s->violation, s->local_text, own, sizeof own)),
        .message_id = msrp_span_make(mid, mid_len),
        .byte_range = &range,
        .status_value = msrp_span_cstr(status_value),
    };
    char head[PATH_MAX_TEXT + MSRP_URI_MAX + 256];
    struct msrp_wire_chunk w;
    char big[10241];
    if (s->violation != MSRP_VIOLATE_NONE)
        msrp_violate_report(s->violation, &out, big, sizeof big);
    if (msrp_write(&out, thread_ids(), head, sizeof(head), &w) == MSRP_W_OK) {
        if (violating(s, MSRP_VIOLATE_REPORT_BODY_NO_TYPE))
            msrp_violate_drop_content_type(&w);
        int err = net_conn_send(s->conn, w.iov, w.iovcnt);
        if (err == 0 && s->trace != NULL)
            trace_out(s, &w, net_now_ns());
        answer_sent(s, err); /* last: it may end the session */
    }
}

/* A REPORT on the whole message: bytes 1-total of total. */
static void send_report(struct msrp_session *s, const char *to, size_t to_len, const char *mid,
                        size_t mid_len, uint64_t total, int status)
{
    send_report_range(s, to, to_len, mid, mid_len, (struct msrp_byte_range){1, total, total},
                      status);
}

/* The wrong peer "413-large": a chunk that says it carries, or with range end "*" may carry
 * (the rest of a known total), more than 64 KiB. */
static bool large_chunk(const struct msrp_byte_range *r)
{
    if (r->end != MSRP_RANGE_UNKNOWN)
        return r->end - r->start + 1 > 65536;
    return r->total != MSRP_RANGE_UNKNOWN && r->total - r->start + 1 > 65536;
}

static void violation(struct msrp_session *s, const char *kind, const char *detail)
{
    if (s->h->on_violation != NULL) {
        struct msrp_peer_violation v = {kind, detail};
        s->h->on_violation(s, &v);
    }
}

/*
 * The incoming message is refused as too large (413, RFC 4975 section 10.5): the rest of
 * the chunk is swallowed, and the sender hears of it by a failure REPORT unless it asked for
 * none (Failure-Report: no; section 7.1.4). end is the REPORT's Byte-Range end.
 */
static void refuse_too_large(struct in_chunk *in, uint64_t end)
{
    in->ignore = true;
    in->respond = 413;
    if (in->failure_report == MSRP_REPORT_YES || in->failure_report == MSRP_REPORT_PARTIAL ||
        in->failure_report == MSRP_REPORT_ABSENT) {
        in->report = 413;
        in->report_end = end;
    }
}

/* The reassembly refused the message: its owner hears which limit, in words naming it. */
static void refused(struct msrp_session *s, const char *kind)
{
    if (s->h->on_refused == NULL)
        return;
    char mid[MSRP_REASM_ID_MAX + 1];
    memcpy(mid, s->in.message_id, s->in.message_id_len);
    mid[s->in.message_id_len] = '\0';
    char detail[200];
    snprintf(detail, sizeof(detail), "%s; later chunks of the message get 413 too",
             msrp_reasm_why(s->reasm));
    struct msrp_refusal r = {mid, 413, kind, detail};
    s->h->on_refused(s, &r);
}

/*
 * reject_after_bytes (load tests): a chunk reaching beyond the limit is refused as if its
 * message were too large, and whatever the reassembler holds of the message is dropped. An
 * empty "#" piece releases a message without a trace (reasm.h), which is all a drop needs.
 */
static void reject_beyond_limit(struct msrp_session *s, uint64_t end)
{
    struct in_chunk *in = &s->in;
    refuse_too_large(in, end);
    (void)msrp_reasm_add(s->reasm, msrp_span_make(in->message_id, in->message_id_len), 1, "", 0,
                         '#', MSRP_RANGE_UNKNOWN, MSRP_RANGE_UNKNOWN, NULL);
}

/* Does the response rule of Failure-Report allow this status (RFC 4975 sections 7.1.4, 7.2)? */
static bool may_respond(enum msrp_report fr, int status)
{
    if (fr == MSRP_REPORT_NO)
        return false;
    if (fr == MSRP_REPORT_PARTIAL)
        return status != 200;
    return true;
}

static bool type_accepted(const struct msrp_session *s, struct msrp_span ct)
{
    struct msrp_media_type mt;
    if (!msrp_media_type_parse(ct, &mt))
        return false;
    const char *p = s->accept_types;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end != '\0' && *end != ' ')
            end++;
        size_t n = (size_t)(end - p);
        if (n == 1 && *p == '*')
            return true;
        const char *slash = memchr(p, '/', n);
        if (slash != NULL) {
            struct msrp_span t = {p, (size_t)(slash - p)}, st = {slash + 1, (size_t)(end - slash - 1)};
            if (msrp_span_eq_nocase(t, mt.type) &&
                ((st.len == 1 && st.ptr[0] == '*') || msrp_span_eq_nocase(st, mt.subtype)))
                return true;
        }
        p = end;
    }
    return false;
}

/* Path values compare URI by URI (RFC 4975 section 6.1). */
static bool paths_equal(struct msrp_span a, struct msrp_span b)
{
    if (msrp_span_eq(a, b))
        return true; /* the usual case: byte for byte what we sent or bound */
    struct msrp_uri ua, ub;
    for (;;) {
        int ra = msrp_uri_list_next(&a, &ua), rb = msrp_uri_list_next(&b, &ub);
        if (ra != rb)
            return false;
        if (ra <= 0)
            return ra == 0;
        if (!msrp_uri_equal(&ua, &ub))
            return false;
    }
}

static bool to_path_is_us(const struct msrp_session *s, struct msrp_span to)
{
    if (to.len == strlen(s->local_text) && memcmp(to.ptr, s->local_text, to.len) == 0)
        return true;
    if (violating(s, MSRP_VIOLATE_EXACT_URI_COMPARE))
        return false; /* breaks RFC 4975 section 6.1: no case-insensitive scheme, host... */
    struct msrp_uri u;
    struct msrp_span rest = to;
    if (msrp_uri_list_next(&rest, &u) != 1 || rest.len != 0)
        return false;
    return msrp_uri_equal(&u, &s->local);
}

static void note_tid(struct msrp_session *s, const struct msrp_chunk *c)
{
    for (unsigned i = 0; i < RECENT_TIDS; i++) {
        if (strlen(s->recent_tids[i]) == c->tid.len &&
            memcmp(s->recent_tids[i], c->tid.ptr, c->tid.len) == 0) {
            violation(s, "reused-tid", "a transaction id was used again by a new request");
            break;
        }
    }
    memcpy(s->recent_tids[s->recent_next], c->tid.ptr, c->tid.len);
    s->recent_tids[s->recent_next][c->tid.len] = '\0';
    s->recent_next = (s->recent_next + 1) % RECENT_TIDS;
}

/* Looks at a request's head: decides its answer and whether its body counts. */
static void request_head(struct msrp_session *s, const struct msrp_chunk *c)
{
    struct in_chunk *in = &s->in;
    memset(in, 0, sizeof(*in));
    in->active = true;
    in->tid_len = (uint8_t)c->tid.len;
    memcpy(in->tid, c->tid.ptr, c->tid.len);
    in->failure_report = c->failure_report;
    in->success_report = c->success_report;
    in->is_send = c->method_id == MSRP_METHOD_SEND;
    in->is_report = c->method_id == MSRP_METHOD_REPORT;
    const struct msrp_header *from = msrp_chunk_header(c, MSRP_H_FROM_PATH);
    const struct msrp_header *to = msrp_chunk_header(c, MSRP_H_TO_PATH);
    /* Answers go back along the request's From-Path; normally that is the bound peer's path,
     * so only a different one (which gets a 481) needs a copy. */
    if (from != NULL && s->have_peer &&
        msrp_span_eq(from->value, msrp_span_make(s->peer_text, s->peer_len))) {
        in->reply_to = s->peer_text;
        in->reply_len = s->peer_len;
    } else if (from != NULL && from->value.len <= PATH_MAX_TEXT) {
        if (s->scratch_path == NULL)
            s->scratch_path = malloc(PATH_MAX_TEXT);
        if (s->scratch_path != NULL) {
            memcpy(s->scratch_path, from->value.ptr, from->value.len);
            in->reply_to = s->scratch_path;
            in->reply_len = from->value.len;
        }
    }
    note_tid(s, c);
    for (unsigned bit = 1; bit != 0 && c->violations != 0; bit <<= 1)
        if ((c->violations & bit) && msrp_violation_name(bit) != NULL)
            violation(s, msrp_violation_name(bit), "tolerated deviation from RFC 4975 syntax");

    /* REPORTs are never answered (RFC 4975 section 7.1.2), whatever is wrong with them. */
    if (c->error != MSRP_OK) {
        violation(s, msrp_error_name(c->error), msrp_error_text(c->error));
        in->ignore = true;
        if (!in->is_report && from != NULL)
            in->respond = violating(s, MSRP_VIOLATE_200_FOR_400) ? 200 : 400;
        return;
    }
    if (!to_path_is_us(s, to->value)) {
        violation(s, "to-path", "To-Path does not name this endpoint");
        const struct msrp_header *fmid = msrp_chunk_header(c, MSRP_H_MESSAGE_ID);
        if (violating(s, MSRP_VIOLATE_FR_NO_FAILURE_REPORT) && !in->is_report && fmid != NULL &&
            c->failure_report == MSRP_REPORT_NO && fmid->value.len <= sizeof(in->message_id)) {
            /* Breaks RFC 4975 section 7.1.4: a failure REPORT despite Failure-Report no. */
            memcpy(in->message_id, fmid->value.ptr, fmid->value.len);
            in->message_id_len = (uint8_t)fmid->value.len;
            in->report = 481;
        }
        in->ignore = true;
        in->respond = in->is_report ? 0 : violating(s, MSRP_VIOLATE_NO_481) ? 200 : 481;
        return;
    }
    if (!s->have_peer || s->state != S_BOUND) {
        /* Binding on the answering side: the first request names the peer (section 5.4). */
        if (violating(s, MSRP_VIOLATE_REFUSE_FIRST_BODY) && c->has_body) {
            /* Breaks section 5.4: the first SEND MAY have a body. */
            in->ignore = true;
            in->respond = 400;
            return;
        }
        if (s->have_peer && !paths_equal(from->value, msrp_span_make(s->peer_text, s->peer_len))) {
            violation(s, "from-path", "From-Path is not the expected peer");
            in->ignore = true;
            in->respond = in->is_report ? 0 : 481;
            return;
        }
        if (!s->have_peer) {
            s->peer_text = strndup(from->value.ptr, from->value.len);
            if (s->peer_text == NULL) {
                session_end(s, MSRP_END_PROTOCOL, "out of memory");
                return;
            }
            s->peer_len = from->value.len;
            s->have_peer = true;
            in->reply_to = s->peer_text;
            in->reply_len = s->peer_len;
        }
        if (s->state != S_BOUND) {
            s->state = S_BOUND;
            s->timing.bound_ns = net_now_ns();
            net_timer_stop(s->loop, &s->bind_timer);
            if (s->h->on_bound != NULL)
                s->h->on_bound(s);
            if (s->ended)
                return;
        }
    } else if (!paths_equal(from->value, msrp_span_make(s->peer_text, s->peer_len))) {
        violation(s, "from-path", "From-Path is not the bound peer");
        in->ignore = true;
        in->respond = in->is_report ? 0 : 481;
        return;
    }
    if (in->is_report) {
        const struct msrp_header *st = msrp_chunk_header(c, MSRP_H_STATUS);
        const struct msrp_header *mid = msrp_chunk_header(c, MSRP_H_MESSAGE_ID);
        struct msrp_status status = {0, 0, {NULL, 0}};
        if (st != NULL)
            msrp_status_parse(st->value, &status);
        if (st == NULL || mid == NULL)
            violation(s, "report-headers", "REPORT without Status or Message-ID");
        if (violating(s, MSRP_VIOLATE_REPORT_TO_REPORT) && mid != NULL &&
            mid->value.len <= sizeof(in->message_id)) {
            memcpy(in->message_id, mid->value.ptr, mid->value.len);
            in->message_id_len = (uint8_t)mid->value.len;
        }
        if (s->h->on_report != NULL && mid != NULL) {
            struct msrp_report_in r = {mid->value, status.code, c->byte_range};
            s->h->on_report(s, &r);
        }
        in->ignore = true;
        return;
    }
    if (!in->is_send) {
        in->ignore = true;
        in->respond = violating(s, MSRP_VIOLATE_NO_501) ? 200 : 501;
        return;
    }
    const struct msrp_header *mid = msrp_chunk_header(c, MSRP_H_MESSAGE_ID);
    if (mid == NULL || mid->value.len > sizeof(in->message_id)) {
        violation(s, "message-id", "SEND without a usable Message-ID");
        in->ignore = true;
        in->respond = violating(s, MSRP_VIOLATE_200_FOR_400) ? 200 : 400;
        return;
    }
    memcpy(in->message_id, mid->value.ptr, mid->value.len);
    in->message_id_len = (uint8_t)mid->value.len;
    if (violating(s, MSRP_VIOLATE_CASE_SENSITIVE_HEADERS)) {
        /* Breaks RFC 4975 section 9 (ABNF literals, RFC 4234): names spelled otherwise. */
        for (size_t i = 0; i < c->num_headers; i++) {
            const char *canon = msrp_header_name(c->headers[i].id);
            if (canon != NULL && (strlen(canon) != c->headers[i].name.len ||
                                  memcmp(canon, c->headers[i].name.ptr, strlen(canon)) != 0)) {
                in->ignore = true;
                in->respond = 400;
                return;
            }
        }
    }
    if (violating(s, MSRP_VIOLATE_REJECT_UNKNOWN_HEADER)) {
        /* Breaks RFC 4975 section 12: a header it does not understand MUST be ignored. */
        for (size_t i = 0; i < c->num_headers; i++)
            if (c->headers[i].id == MSRP_H_OTHER) {
                in->ignore = true;
                in->respond = 400;
                return;
            }
    }
    in->has_range = c->has_byte_range;
    in->range = c->has_byte_range ? c->byte_range
                                  : (struct msrp_byte_range){1, MSRP_RANGE_UNKNOWN,
                                                             MSRP_RANGE_UNKNOWN};
    in->start = in->range.start;
    if ((violating(s, MSRP_VIOLATE_REJECT_STAR_TOTAL) && in->range.total == MSRP_RANGE_UNKNOWN &&
         c->has_byte_range) ||
        (violating(s, MSRP_VIOLATE_REJECT_STAR_END) && in->range.end == MSRP_RANGE_UNKNOWN &&
         c->has_byte_range) ||
        (violating(s, MSRP_VIOLATE_413_LARGE) && c->has_byte_range && large_chunk(&in->range))) {
        in->ignore = true;
        in->respond = violating(s, MSRP_VIOLATE_413_LARGE) ? 413 : 400;
        return;
    }
    const struct msrp_header *ct = msrp_chunk_header(c, MSRP_H_CONTENT_TYPE);
    if (ct != NULL && ct->value.len < sizeof(in->content_type)) {
        memcpy(in->content_type, ct->value.ptr, ct->value.len);
        in->content_type[ct->value.len] = '\0';
        if ((!type_accepted(s, ct->value) && !violating(s, MSRP_VIOLATE_NO_415)) ||
            msrp_violate_refuses_type(s->violation, ct->value)) {
            in->ignore = true;
            in->respond = 415;
            return;
        }
    }
    /* Checked last: it only turns what would be a 200 into a 413. A chunk whose end is "*"
     * is checked as its body arrives. */
    if (s->cfg.reject_after_bytes > 0 && in->range.end != MSRP_RANGE_UNKNOWN &&
        in->range.end > s->cfg.reject_after_bytes) {
        reject_beyond_limit(s, in->range.end);
        return;
    }
    in->respond = 200;
}

static void request_body(struct msrp_session *s, const struct msrp_chunk *c)
{
    struct in_chunk *in = &s->in;
    uint64_t pos = in->start + c->body_offset;
    in->body_len += c->body.len;
    if (in->ignore || !in->is_send)
        return;
    if (s->cfg.reject_after_bytes > 0 && pos - 1 + c->body.len > s->cfg.reject_after_bytes) {
        reject_beyond_limit(s, pos - 1 + c->body.len);
        return;
    }
    if (c->body.len == 0 && c->flag == 0)
        return;
    if (msrp_violate_refuses_body(s->violation, c->body)) {
        in->ignore = true;
        in->respond = 400;
        return;
    }
    /* An empty SEND without Content-Type binds or keeps alive: it carries no message. */
    if (c->flag != 0 && in->body_len == 0 && in->range.total == 0 && in->content_type[0] == '\0')
        return;
    if (c->flag != 0 && in->has_range && in->range.end != MSRP_RANGE_UNKNOWN &&
        in->range.end - in->range.start + 1 != in->body_len && c->flag != '#')
        violation(s, "byte-range", "Byte-Range end does not match the body length");
    /* What a sender MUST do that the receiver can see, logged so that serve checks clients:
     * a body over 2048 octets has range end "*" (RFC 4975 section 7.1.1), and "$" marks only
     * the chunk that ends the message (section 7.1). */
    if (c->flag != 0 && in->has_range && in->range.end != MSRP_RANGE_UNKNOWN &&
        in->body_len > MSRP_INTERRUPTIBLE_BODY)
        violation(s, "range-end-not-star",
                  "a chunk body over 2048 octets with a numeric range end, not \"*\" (RFC 4975 "
                  "section 7.1.1, MUST)");
    if (c->flag == '$' && in->has_range && in->range.end != MSRP_RANGE_UNKNOWN &&
        in->range.total != MSRP_RANGE_UNKNOWN && in->range.end < in->range.total)
        violation(s, "dollar-not-at-end",
                  "\"$\" on a chunk that does not end the message (RFC 4975 section 7.1, MUST)");
    struct msrp_reasm_done done;
    uint64_t end = c->flag != 0 ? in->range.end : MSRP_RANGE_UNKNOWN;
    uint64_t total = c->flag != 0 ? in->range.total : MSRP_RANGE_UNKNOWN;
    /* "$" marks the chunk that ends the message (RFC 4975 section 7.1). A sender that sends
     * chunks out of order may put it on a range that does not end the message, and the
     * reassembler takes "$" as the message's end; when the Byte-Range says the chunk ends
     * before the total, the total already tells where the message ends, so the chunk is handed
     * over as one more range ("+") and completion waits for every byte. */
    char flag = c->flag;
    if (flag == '$' && end != MSRP_RANGE_UNKNOWN && total != MSRP_RANGE_UNKNOWN && end < total)
        flag = '+';
    enum msrp_reasm_status st = msrp_reasm_add(
        s->reasm, msrp_span_make(in->message_id, in->message_id_len), pos, c->body.ptr,
        c->body.len, flag, end, total, &done);
    switch (st) {
    case MSRP_REASM_PROGRESS:
        break;
    case MSRP_REASM_COMPLETE:
    case MSRP_REASM_ABORTED:
        if (s->h->on_received != NULL) {
            struct msrp_received r = {&done, msrp_span_cstr(in->content_type),
                                      st == MSRP_REASM_ABORTED};
            s->h->on_received(s, &r);
        }
        /* Sent by request_end, after the response to this last chunk: a REPORT must not
         * announce a delivery before the chunk completing it is answered (or refused). */
        if (st == MSRP_REASM_COMPLETE && (in->success_report == MSRP_REPORT_YES ||
                                          violating(s, MSRP_VIOLATE_REPORT_UNASKED))) {
            in->report = 200;
            in->report_end = done.total;
        }
        if (st == MSRP_REASM_ABORTED && in->success_report == MSRP_REPORT_YES &&
            violating(s, MSRP_VIOLATE_REPORT_ABORTED)) {
            in->report = 200;
            in->report_end = done.total;
        }
        break;
    case MSRP_REASM_E_TOO_LARGE:
    case MSRP_REASM_E_LIMIT:
        refuse_too_large(in, in->start + in->body_len - 1);
        if (violating(s, MSRP_VIOLATE_NO_413)) {
            in->respond = 200;
            in->report = 0;
        } else {
            refused(s, st == MSRP_REASM_E_TOO_LARGE ? "too-large" : "reassembly-limit");
        }
        break;
    case MSRP_REASM_E_CONFLICT: {
        /* RFC 4975 section 7.3.1: where chunks overlap, the last one received SHOULD take
         * precedence, a SHOULD that spares receivers which have already consumed the earlier
         * bytes, as this one has (hashed into the message's digest). Delivering a mixture
         * would be wrong, so the message is refused as a whole: 413 asks the sender to stop
         * sending it (section 10.5), and a failure REPORT follows as for any 413. */
        char detail[200];
        snprintf(detail, sizeof(detail), "Message-ID %.*s: %s", (int)in->message_id_len,
                 in->message_id, msrp_reasm_why(s->reasm));
        violation(s, "overlap-conflict", detail);
        refuse_too_large(in, in->start + in->body_len - 1);
        break;
    }
    case MSRP_REASM_E_REFUSED:
        /* Refused before: 413 again (section 10.5), without another REPORT. */
        in->ignore = true;
        in->respond = 413;
        break;
    case MSRP_REASM_E_RANGE:
        violation(s, "byte-range", "Byte-Range inconsistent with earlier chunks");
        in->ignore = true;
        in->respond = 400;
        break;
    }
    if ((st == MSRP_REASM_PROGRESS || st == MSRP_REASM_COMPLETE) && c->flag != 0 &&
        c->flag != '#' && in->body_len > 0 && in->success_report == MSRP_REPORT_YES &&
        violating(s, MSRP_VIOLATE_PER_CHUNK_REPORTS)) {
        in->report = 200;
        in->report_start = in->start;
        in->report_end = in->start + in->body_len - 1;
        in->report_total = total;
    }
}

static void delayed_fire(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct delayed_response *d = t->arg;
    struct msrp_session *s = d->s;
    delayed_unlink(s, d);
    s->busy++;
    const char *to = d->path_len > 0 ? d->path : s->peer_text;
    size_t to_len = d->path_len > 0 ? d->path_len : s->peer_len;
    send_response(s, d->tid, d->tid_len, to, to_len, 200);
    if (d->report != 0)
        send_report(s, to, to_len, d->message_id, d->message_id_len, d->report_end, d->report);
    free(d);
    leave(s);
}

/*
 * Holds the current chunk's 200 (and the success REPORT after it, if any) back for delay_ns.
 * The loop's timers fire in deadline order, equal deadlines in arming order, so responses
 * leave in the order their delays expire. Returns false when out of memory: the caller then
 * answers at once rather than not at all.
 */
static bool delay_response(struct msrp_session *s, uint64_t delay_ns, bool report)
{
    struct in_chunk *in = &s->in;
    /* The bound peer's path lives as long as the session; only another spelling of it (the
     * scratch buffer, reused by the next request) needs a copy. */
    size_t path_len = in->reply_to == s->peer_text ? 0 : in->reply_len;
    struct delayed_response *d = malloc(sizeof(*d) + path_len);
    if (d == NULL)
        return false;
    memset(d, 0, sizeof(*d));
    d->s = s;
    memcpy(d->tid, in->tid, in->tid_len);
    d->tid_len = in->tid_len;
    if (report) {
        d->report = in->report;
        d->report_end = in->report_end;
        memcpy(d->message_id, in->message_id, in->message_id_len);
        d->message_id_len = in->message_id_len;
    }
    d->path_len = path_len;
    memcpy(d->path, in->reply_to, path_len);
    d->timer.fn = delayed_fire;
    d->timer.arg = d;
    d->next = s->delayed;
    if (s->delayed != NULL)
        s->delayed->prev = d;
    s->delayed = d;
    net_timer_start(s->loop, &d->timer, delay_ns);
    return true;
}

static void request_end(struct msrp_session *s)
{
    struct in_chunk *in = &s->in;
    int status = in->respond;
    /* The forced answer is for messages; binding (an empty SEND without a body) still works. */
    bool binding = in->body_len == 0 && in->content_type[0] == '\0';
    if (s->cfg.always_respond_status != 0 && status == 200 && !binding)
        status = s->cfg.always_respond_status;
    bool respond = status != 0 && !in->is_report && may_respond(in->failure_report, status) &&
                   in->reply_len > 0;
    /* A success REPORT only for a message whose last chunk was accepted. */
    bool report = in->report != 0 && (in->report != 200 || status == 200) && in->reply_len > 0;
    if (s->violation != MSRP_VIOLATE_NONE) {
        enum msrp_report fr = in->failure_report;
        /* The binding SEND is spared, so that the case itself meets the violation. */
        if ((violating(s, MSRP_VIOLATE_ABSENT_AS_NO) && fr == MSRP_REPORT_ABSENT && s->answered_one) ||
            (violating(s, MSRP_VIOLATE_NO_RESPONSE_FR_YES) && fr == MSRP_REPORT_YES) ||
            (violating(s, MSRP_VIOLATE_SILENT_PARTIAL_ERROR) && fr == MSRP_REPORT_PARTIAL) ||
            (violating(s, MSRP_VIOLATE_NO_RESPONSE_EMPTY) && binding && s->answered_one))
            respond = false;
        if ((violating(s, MSRP_VIOLATE_RESPOND_FR_NO) && fr == MSRP_REPORT_NO) ||
            (violating(s, MSRP_VIOLATE_RESPOND_FR_PARTIAL) && fr == MSRP_REPORT_PARTIAL)) {
            respond = status != 0 && !in->is_report && in->reply_len > 0;
        }
        if (violating(s, MSRP_VIOLATE_ANSWER_REPORTS) && in->is_report && in->reply_len > 0) {
            status = 200;
            respond = true;
        }
        if (violating(s, MSRP_VIOLATE_NO_SUCCESS_REPORT) && in->report == 200)
            report = false;
        if (violating(s, MSRP_VIOLATE_REPORT_TO_REPORT) && in->is_report && in->message_id_len > 0 &&
            in->reply_len > 0) /* breaks RFC 4975 section 7.1.2 */
            send_report(s, in->reply_to, in->reply_len, in->message_id, in->message_id_len, 0,
                        200);
        if (violating(s, MSRP_VIOLATE_FR_NO_FAILURE_REPORT) && in->report == 481)
            report = in->reply_len > 0;
        if (violating(s, MSRP_VIOLATE_REPORT_LAST_RANGE) && report && in->has_range &&
            in->range.end != MSRP_RANGE_UNKNOWN)
            in->report_end = in->range.end;
    }
    in->active = false;
    /* Load-test answering: only a 200 that would go out is dropped or delayed, and the PRNG
     * is drawn only then, so the same traffic meets the same drops in every run. */
    if (s->shaping && respond && status == 200 && !binding && in->report_start == 0) {
        if (s->cfg.drop_fraction > 0 &&
            (double)(splitmix64(&s->rng) >> 11) * 0x1.0p-53 < s->cfg.drop_fraction) {
            respond = false;
        } else if (s->cfg.response_delay_max_ns > 0) {
            uint64_t lo = s->cfg.response_delay_min_ns, span = s->cfg.response_delay_max_ns - lo;
            uint64_t delay = lo;
            if (span > 0)
                delay += span == UINT64_MAX ? splitmix64(&s->rng)
                                            : splitmix64(&s->rng) % (span + 1);
            if (delay > 0 && delay_response(s, delay, report))
                return;
        }
    }
    if (respond)
        send_response(s, in->tid, in->tid_len, in->reply_to, in->reply_len, status);
    if (report && in->report_start != 0)
        send_report_range(s, in->reply_to, in->reply_len, in->message_id, in->message_id_len,
                          (struct msrp_byte_range){in->report_start, in->report_end,
                                                   in->report_total},
                          in->report);
    else if (report)
        send_report(s, in->reply_to, in->reply_len, in->message_id, in->message_id_len,
                    in->report_end, in->report);
    s->answered_one = true;
}

/*
 * A response to a raw send: matched on its transaction id before our own transactions, so
 * that it does not count as a response to nothing (RFC 4975 section 7.2: a response carries
 * its request's transaction id). Only looked at while a raw send is pending.
 */
static bool raw_response(struct msrp_session *s, const struct msrp_chunk *c)
{
    for (struct raw_wait *r = s->raws; r != NULL; r = r->next) {
        if (r->tid_len == c->tid.len && memcmp(r->tid, c->tid.ptr, c->tid.len) == 0) {
            raw_finish(s, r, c->status, false, c);
            return true;
        }
    }
    return false;
}

static void response_in(struct msrp_session *s, const struct msrp_chunk *c)
{
    if (s->raws != NULL && raw_response(s, c))
        return;
    struct tx *t = tx_find(s, c->tid);
    if (t == NULL) {
        violation(s, "unknown-response", "a response to no transaction of ours");
        return;
    }
    settle(s, t, c->status, false);
}

static void stalled(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct msrp_session *s = t->arg;
    snprintf(s->end_detail, sizeof(s->end_detail),
             "%s: the peer has not read our responses for %.1f s (%zu bytes queued)",
             net_conn_peer(s->conn), (double)s->cfg.stall_timeout_ns / 1e9,
             net_conn_queued(s->conn));
    session_end(s, MSRP_END_WRITE_OVERFLOW, s->end_detail);
}

/*
 * Answering side: a peer that does not read what we answer must not make us queue without
 * bound, so its input waits (its own sends then block in TCP) until our output drains
 * (session_drain), or the session ends when it stays stuck. The calling side always reads:
 * one side that does keeps two endpoints from waiting on each other.
 */
static void pause_reading(struct msrp_session *s)
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
        session_end(s, MSRP_END_IDLE_TIMEOUT, s->end_detail);
        return;
    }
    net_timer_start(loop, t, s->cfg.idle_timeout_ns / 4);
}

static size_t session_data(struct net_conn *conn, const char *buf, size_t len)
{
    struct msrp_session *s = net_conn_user(conn);
    if (s == NULL)
        return len;
    s->busy++;
    size_t used = 0;
    while (used < len && !s->ended) {
        struct msrp_chunk c = {.headers = thread_headers, .headers_cap = MAX_HEADERS};
        const char *at = buf + used;
        ssize_t r = msrp_parse(&s->parser, at, len - used, &c);
        if (r == MSRP_INCOMPLETE) {
            /* The wrong peer of conform --delivery: it takes only what comes in one read. */
            if (violating(s, MSRP_VIOLATE_WHOLE_READS) && s->state == S_BOUND)
                session_end(s, MSRP_END_PROTOCOL, "a request head cut across reads");
            break;
        }
        if (r == MSRP_MALFORMED) {
            if (s->trace != NULL)
                msrp_trace_in_garbage(s->trace, buf + used, len - used, net_now_ns());
            snprintf(s->end_detail, sizeof(s->end_detail), "byte %llu from %s: %s",
                     (unsigned long long)(s->parser.stream_offset + s->parser.error_offset),
                     net_conn_peer(conn), msrp_error_text(s->parser.error));
            violation(s, msrp_error_name(s->parser.error), s->end_detail);
            session_end(s, MSRP_END_PROTOCOL, s->end_detail);
            break;
        }
        used += (size_t)r;
        s->progress += c.flag != 0;
        if (s->trace != NULL) {
            if (c.has_head)
                msrp_trace_in_head(s->trace, &c, at, net_now_ns());
            if (c.flag != 0)
                msrp_trace_in_end(s->trace, &c, s->parser.stream_offset);
        }
        if (c.kind == MSRP_RESPONSE) {
            if (c.flag != 0)
                response_in(s, &c);
            continue;
        }
        if (c.has_head)
            request_head(s, &c);
        if (s->ended)
            break;
        request_body(s, &c);
        if (c.flag != 0)
            request_end(s);
    }
    if (!s->ended)
        pump(s);
    if (!s->ended && !s->calling && s->conn != NULL && net_conn_congested(s->conn))
        pause_reading(s);
    leave(s);
    return used;
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
        struct out_msg *m = new_message(s, NULL, 0, NULL);
        if (m == NULL) {
            session_end(s, MSRP_END_PROTOCOL, "out of memory");
        } else {
            m->is_bind = true;
            enqueue(s, m, true);
            pump(s);
        }
    }
    leave(s);
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
    pump(s);
    if (!s->ended && !net_conn_congested(conn) && s->h->on_writable != NULL) {
        s->h->on_writable(s);
        /* msrp_session_send() leaves the pumping to us while we are busy: without this, what
         * the owner queued here would wait for the next read, which may never come. */
        if (!s->ended)
            pump(s);
    }
    leave(s);
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
    session_end(s, s->state == S_CLOSING && err == 0 ? MSRP_END_CLOSED : e, s->end_detail);
}

static const struct net_conn_handlers conn_handlers = {
    .on_open = session_open,
    .on_data = session_data,
    .on_drain = session_drain,
    .on_close = session_closed,
};

static void bind_timeout(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct msrp_session *s = t->arg;
    session_end(s, MSRP_END_BIND_TIMEOUT, "the peer did not bind in time");
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
    if (s->reasm == NULL || thread_ids() == NULL)
        goto err;
    if (cfg->trace_frames && (s->trace = calloc(1, sizeof(*s->trace))) == NULL)
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
    free(s->local_text);
    free(s->peer_text);
    free(s->accept_types);
    free(s);
    return NULL;
}

static void session_limits(struct msrp_limits *lim)
{
    msrp_limits_default(lim);
    lim->max_headers = MAX_HEADERS;
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
    e = net_conn_connect(loop, sa, salen, tls, sni[0] ? sni : NULL, &conn_handlers, s, &o,
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
    leave(s);
    return 0;
}

size_t msrp_session_input(struct msrp_session *s, const char *buf, size_t len)
{
    return s->conn != NULL ? session_data(s->conn, buf, len) : len;
}

void msrp_session_on_release(struct msrp_session *s, void (*fn)(void *arg), void *arg)
{
    s->on_release = fn;
    s->release_arg = arg;
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
        session_end(s, MSRP_END_CLOSED, "closed");
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
        session_end(s, MSRP_END_CLOSED, "aborted at the end of the run");
    }
}

void msrp_session_timing(const struct msrp_session *s, struct msrp_session_timing *t)
{
    *t = s->timing;
    if (s->conn != NULL) {
        t->connected_ns = net_conn_connected_ns(s->conn);
        t->secured_ns = net_conn_open_ns(s->conn);
    }
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
