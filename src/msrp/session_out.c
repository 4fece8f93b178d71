/*
 * session_out.c - the outgoing room of an MSRP session (RFC 4975 sections 7.1, 7.1.1, 7.2):
 * messages queued by msrp_session_send() cut into chunks as the connection takes them, one
 * transaction per chunk with its response timer, the responses that settle them, the local
 * outcomes (408 when a response was owed and none came, 200 by silence with Failure-Report
 * partial), the binding SEND of the calling side, and raw sends with their outcomes.
 *
 * Transaction lookup is O(1): our transaction ids end in four base-62 characters naming the
 * slot of the transaction, after eight random ones (the randomness RFC 4975 section 7.1 asks
 * for). A response names its slot; the full id is then compared. When the writer had to draw
 * another id (the body held the end-line), the slot is found by a scan instead.
 *
 * Owns: the send queue, the transactions and their timers, the raw sends (struct out_msg, tx,
 * raw_wait of session_int.h). May not touch: incoming requests or our answers to them
 * (session_in.c), the connection's handlers or the session's life cycle (session.c: it ends a
 * session only through session__end).
 */
#include "msrp/session.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msrp/session_int.h"
#include "msrp/violate.h"
#include "wire/hash.h"
#include "wire/idgen.h"
#include "wire/writer.h"

/* RFC 4975 section 7.1: a transaction id "MUST contain at least 64 bits of randomness":
 * 11 characters of 62 hold 65.5 bits (8 held 47.6, which conform --listen's tid case found). */
#define TID_RANDOM 11
#define TID_SLOT_CHARS 4
#define DEFAULT_OVERLAP 16

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
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
    struct tx *t = session__tx_at(s, i);
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
            struct tx *t = session__tx_at(s, slot);
            if (t->msg != NULL && t->tid_len == tid.len && memcmp(t->tid, tid.ptr, tid.len) == 0)
                return t;
        }
    }
    for (uint32_t i = 0; i < s->tx_cap; i++) {
        struct tx *t = session__tx_at(s, i);
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
    if (m->owns_body)
        free((void *)m->body);
    free(m->scratch);
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
            session__end(s, MSRP_END_BIND_REJECTED, s->end_detail);
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
        session__pump(s);
    session__leave(s);
}

/* Notes a frame we wrote in the session's trace (its end line's flag: 3 bytes before its end). */
void session__trace_out(struct msrp_session *s, const struct msrp_wire_chunk *w, uint64_t now)
{
    const struct iovec *end = &w->iov[w->iovcnt - 1];
    char flag = end->iov_len >= 3 ? ((const char *)end->iov_base)[end->iov_len - 3] : 0;
    msrp_trace_out(s->trace, w->iov[0].iov_base, w->iov[0].iov_len, w->total, flag, now);
}

/* Cuts and queues the next chunk of the head message. Returns false when it cannot. */
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
    if (m->len == 0 && session__violating(s, MSRP_VIOLATE_EMPTY_RANGE_ZERO))
        range.start = 0; /* breaks 7.1.1: "0-0/0" where "1-0/0" is due */

    struct tx *t = NULL;
    char tid[TID_RANDOM + TID_SLOT_CHARS];
    if (m->failure_report != MSRP_REPORT_NO) {
        t = tx_alloc(s);
        if (t == NULL) {
            session__end(s, MSRP_END_WRITE_OVERFLOW, "too many transactions in flight");
            return false;
        }
    }
    if (msrp_idgen_ident(session__ids(), tid, TID_RANDOM) != 0) {
        session__end(s, MSRP_END_PROTOCOL, "the CSPRNG failed");
        return false;
    }
    if (session__violating(s, MSRP_VIOLATE_FIXED_TID))
        memset(tid, 'a', TID_RANDOM); /* breaks 7.1: only the slot characters vary */
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
        .flag = aborting                                                  ? '#'
                : ends_message || session__violating(s, MSRP_VIOLATE_FLAGS_ALL_END) ? '$'
                                                                                    : '+',
    };
    if (m->chunks > 0 && session__violating(s, MSRP_VIOLATE_NO_BYTE_RANGE))
        out.byte_range = NULL; /* breaks 7.1.1: Byte-Range on every chunk after the first */
    if (m->chunks > 0 && session__violating(s, MSRP_VIOLATE_REPORT_HEADERS_CHANGE))
        out.success_report = m->success_report == MSRP_REPORT_YES ? MSRP_REPORT_NO
                                                                  : MSRP_REPORT_YES;
    /* Every message has a Content-Type, even an empty one (RFC 4975 section 7.1); only the
     * binding SEND goes without a body section. */
    if (!m->is_bind) {
        out.content_type = msrp_span_cstr(m->content_type);
        out.body = msrp_span_make(m->len > 0 && m->body != NULL ? m->body + start : "", n);
        /* A body made as it leaves: the chunk's bytes into the message's one-chunk buffer
         * (the connection copies what the socket does not take at once). */
        if (m->fill != NULL && n > 0) {
            if (m->scratch == NULL &&
                (m->scratch = malloc(m->chunk_size < m->len ? m->chunk_size : m->len)) == NULL) {
                if (t != NULL) {
                    t->msg = m;
                    tx_release(s, t);
                }
                session__end(s, MSRP_END_PROTOCOL, "out of memory");
                return false;
            }
            if (m->fill(m->fill_arg, start, m->scratch, n) != 0) {
                if (t != NULL) {
                    t->msg = m;
                    tx_release(s, t);
                }
                session__end(s, MSRP_END_PROTOCOL, "cannot make a chunk's body");
                return false;
            }
            out.body = msrp_span_make(m->scratch, n);
        }
    }
    char head[PATH_MAX_TEXT + MSRP_URI_MAX + 512];
    struct msrp_wire_chunk w;
    if (msrp_write(&out, session__ids(), head, sizeof(head), &w) != MSRP_W_OK) {
        if (t != NULL) {
            t->msg = m;
            tx_release(s, t);
        }
        session__end(s, MSRP_END_PROTOCOL, "cannot format a chunk (path too long?)");
        return false;
    }
    if (!m->is_bind && session__violating(s, MSRP_VIOLATE_SEND_NO_CONTENT_TYPE))
        msrp_violate_drop_content_type(&w); /* breaks 7.1: a body without Content-Type */
    if (!m->is_bind && m->len > 0 && session__violating(s, MSRP_VIOLATE_SEND_TRANSFER_ENCODING))
        msrp_violate_add_transfer_encoding(&w, sizeof(head)); /* breaks 7.1.1 */
    int e = net_conn_send(s->conn, w.iov, w.iovcnt);
    if (e != 0) {
        if (t != NULL) {
            t->msg = m;
            tx_release(s, t);
        }
        session__end(s, MSRP_END_WRITE_OVERFLOW, strerror(e));
        return false;
    }
    uint64_t now = net_now_ns();
    if (s->trace != NULL)
        session__trace_out(s, &w, now);
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

void session__pump(struct msrp_session *s)
{
    while (!s->ended && s->queue_head != NULL && s->conn != NULL && net_conn_is_open(s->conn) &&
           !net_conn_congested(s->conn)) {
        struct out_msg *m = s->queue_head;
        if (!m->is_bind && s->state != S_BOUND)
            return;
        if (m->failed && !session__violating(s, MSRP_VIOLATE_IGNORE_413)) {
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
        m->owns_body = o->owns_body;
        m->unknown_total = o->unknown_total;
        m->numeric_range_end = o->numeric_range_end;
        m->interrupt_after = o->interrupt_after;
        m->abort_after = o->abort_after <= len ? o->abort_after : 0;
        m->fill = o->fill;
        m->fill_arg = o->fill_arg;
    }
    m->response_timeout_ns = o != NULL && o->response_timeout_ns > 0 ? o->response_timeout_ns
                                                                       : s->cfg.response_timeout_ns;
    m->status = 200;
    if (msrp_idgen_ident(session__ids(), m->message_id, MSGID_LEN) != 0) {
        free(m);
        return NULL;
    }
    m->order = o != NULL ? o->order : MSRP_ORDER_IN_ORDER;
    if (session__violating(s, MSRP_VIOLATE_CHUNKS_REVERSED) && len > 0)
        m->order = MSRP_ORDER_REVERSE; /* breaks 7.1.1: chunks in Byte-Range order */
    if (session__violating(s, MSRP_VIOLATE_NUMERIC_RANGE_END))
        m->numeric_range_end = true; /* breaks 7.1.1: "*" on chunks over 2048 octets */
    if (m->order == MSRP_ORDER_OVERLAPPING)
        m->overlap = o->overlap > 0 ? o->overlap : DEFAULT_OVERLAP;
    m->ranges = len == 0 ? 1 : (len - 1) / m->chunk_size + 1;
    if (m->order == MSRP_ORDER_SHUFFLED && m->ranges > 1) {
        /* Range k goes out as (stride * k + first) mod ranges: a permutation when stride and
         * ranges are coprime, so a message of millions of chunks needs no table. Both come
         * from the Message-ID, which is random already. first is never 0: the first chunk sent
         * is not range 1, so a receiver always sees this message out of order. */
        uint64_t h = fnv1a64(m->message_id, MSGID_LEN);
        m->next_range = 1 + session__splitmix64(&h) % (m->ranges - 1);
        m->stride = 1 + session__splitmix64(&h) % (m->ranges - 1);
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

void session__refused_by_report(struct msrp_session *s, struct msrp_span message_id)
{
    for (struct out_msg *m = s->all; m != NULL; m = m->next_all)
        if (!m->failed && message_id.len == MSGID_LEN &&
            memcmp(m->message_id, message_id.ptr, MSGID_LEN) == 0) {
            /* Only marked: the pump drops it when it comes to the head of the queue, and a
             * message already cut whole ends as its last transaction settles. */
            m->failed = true;
            m->status = 413;
            m->local = false;
            return;
        }
}

void session__send_bind(struct msrp_session *s)
{
    if (session__violating(s, MSRP_VIOLATE_NO_BIND_SEND))
        return; /* breaks 5.4: the active side sends a SEND at once */
    struct out_msg *m = new_message(s, NULL, 0, NULL);
    if (m == NULL) {
        session__end(s, MSRP_END_PROTOCOL, "out of memory");
        return;
    }
    m->is_bind = true;
    enqueue(s, m, true);
    session__pump(s);
}

int msrp_session_send(struct msrp_session *s, const char *body, size_t len,
                      const struct msrp_send_opts *opts)
{
    if (s->ended || s->state == S_CLOSING)
        return ENOTCONN;
    if (opts != NULL && opts->success_report == MSRP_REPORT_PARTIAL)
        return EINVAL;
    if (opts != NULL && opts->fill != NULL && opts->order != MSRP_ORDER_IN_ORDER)
        return EINVAL; /* each byte is made once, in order */
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
        session__pump(s);
        session__leave(s);
    }
    return 0;
}

void session__raw_finish(struct msrp_session *s, struct raw_wait *r, int status, bool closed,
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
    session__raw_finish(s, r, 0, false, NULL);
    /* Messages queued by the handler wait for a pump while we are busy: give them one. */
    if (!s->ended)
        session__pump(s);
    session__leave(s);
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

/*
 * A response to a raw send: matched on its transaction id before our own transactions, so
 * that it does not count as a response to nothing (RFC 4975 section 7.2: a response carries
 * its request's transaction id). Only looked at while a raw send is pending.
 */
static bool raw_response(struct msrp_session *s, const struct msrp_chunk *c)
{
    for (struct raw_wait *r = s->raws; r != NULL; r = r->next) {
        if (r->tid_len == c->tid.len && memcmp(r->tid, c->tid.ptr, c->tid.len) == 0) {
            session__raw_finish(s, r, c->status, false, c);
            return true;
        }
    }
    return false;
}

void session__response_in(struct msrp_session *s, const struct msrp_chunk *c)
{
    if (s->raws != NULL && raw_response(s, c))
        return;
    struct tx *t = tx_find(s, c->tid);
    if (t == NULL) {
        session__violation(s, "unknown-response", "a response to no transaction of ours");
        return;
    }
    settle(s, t, c->status, false);
}
