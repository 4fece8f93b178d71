/*
 * steps.c - the steps of a conformance case (cx.h): raw (send a template, check what comes
 * back), receive (a request the peer sends, or none), send and expect (one message and its
 * outcome), and adding up what a message's REPORTs cover.
 *
 * Owns: what each step sends and what it accepts as the peer's answer. May not touch: the
 * connections (endpoints.c), the writes' cutting (delivery.c) or the verdict's naming (exec.c);
 * a step only records an unmet check with cx_fail or notes in the wire record.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform/cx.h"
#include "msrp/session.h"
#include "wire/values.h"

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
    const struct msrp_header *h = cx_find_header(ch, "Byte-Range");
    struct msrp_byte_range r;
    if (h == NULL) {
        cx_fail(x, "%s has no Byte-Range; a success REPORT says which bytes arrived", what);
        return false;
    }
    bool parsed = msrp_byte_range_parse(h->value, &r);
    /* A SEND chunk with range end * (RFC 4975 7.1.1) holds what its body holds. */
    if (parsed && r.end == MSRP_RANGE_UNKNOWN && ch->kind == MSRP_REQUEST &&
        ch->method_id == MSRP_METHOD_SEND && ch->has_body && ch->body.len > 0)
        r.end = r.start + ch->body.len - 1;
    if (!parsed || r.end == MSRP_RANGE_UNKNOWN) {
        cx_fail(x, "%s has Byte-Range: %.*s, which does not name the bytes it reports on", what,
                (int)h->value.len, h->value.ptr);
        return false;
    }
    if (total != 0 && r.total != MSRP_RANGE_UNKNOWN && r.total != total) {
        cx_fail(x, "%s has Byte-Range: %.*s, but the message has %" PRIu64 " bytes", what,
                (int)h->value.len, h->value.ptr, total);
        return false;
    }
    if (r.end >= r.start && !coverage_add(cv, r.start, r.end)) {
        cx_fail(x, "out of memory");
        return false;
    }
    return true;
}

/* ---- steps -------------------------------------------------------------------------------- */

static struct ep *step_ep(struct cx *x, const struct step_conform *f)
{
    unsigned i = f != NULL ? f->endpoint : 0;
    if (i >= x->neps) {
        cx_fail(x, "the case uses endpoint %c, which this case does not set up", 'a' + (int)i);
        return NULL;
    }
    return &x->ep[i];
}

/* A REPORT for x->mid on w->e whose Status is one of the raw step's statuses (marked used). */
struct failure_report_want {
    struct ep *e;
    const struct step_raw *st;
    int status; /* 0: none yet */
};

static bool find_failure_report(struct cx *x, void *arg)
{
    (void)x;
    struct failure_report_want *w = arg;
    struct ep *e = w->e;
    for (size_t j = 0; j < e->nframes; j++) {
        struct msrp_header hdrs[CX_MAX_HEADERS];
        struct msrp_chunk ch;
        if (e->frames[j].used || !cx_frame_parse(&e->frames[j], &ch, hdrs) ||
            ch.kind != MSRP_REQUEST || ch.method_id != MSRP_METHOD_REPORT)
            continue;
        const struct msrp_header *mid = cx_find_header(&ch, "Message-ID");
        const struct msrp_header *sh = cx_find_header(&ch, "Status");
        struct msrp_status status = {0, 0, {NULL, 0}};
        if (mid == NULL || !cx_span_is(mid->value, x->mid) || sh == NULL ||
            !msrp_status_parse(sh->value, &status) ||
            !cx_status_in(status.code, w->st->statuses, w->st->num_statuses))
            continue;
        e->frames[j].used = true;
        w->status = status.code;
        return true;
    }
    return e->closed;
}

/* RFC 4976 6.4.1: a relay answers a SEND with Failure-Report yes at once (MUST), and reports a
 * problem processing it in a REPORT (MUST): a 200 and then a failure REPORT is an error said
 * another way. True when such a REPORT came within the step's timeout after the 200. */
static bool failure_reported(struct cx *x, struct ep *e, const struct step_raw *st)
{
    struct failure_report_want w = {.e = e, .st = st};
    cx_pump(x, net_now_ns() + cx_scaled(x, st->timeout_ns), find_failure_report, &w);
    find_failure_report(x, &w);
    if (w.status != 0)
        cx_wire_note(x, "the 200 to transaction %s was followed by a REPORT with status %d for "
                        "message %s",
                     x->tid, w.status, x->mid);
    return w.status != 0;
}

void cx_step_raw(struct cx *x, const struct step_raw *st)
{
    struct ep *e = step_ep(x, st->conform);
    if (e == NULL)
        return;
    if (!cx_draw_id(x, x->tid, SCENARIO_RAW_TID_LEN))
        return;
    if ((st->conform == NULL || !st->conform->same_message_id || x->mid[0] == '\0') &&
        !cx_draw_id(x, x->mid, SCENARIO_RAW_MESSAGE_ID_LEN))
        return;
    char *buf = malloc(SCENARIO_RAW_MAX + 1);
    if (buf == NULL) {
        cx_fail(x, "out of memory");
        return;
    }
    size_t n = cx_expand(x, e->idx, st->pieces, st->num_pieces, st->text, buf, SCENARIO_RAW_MAX);
    if (x->failed) {
        free(buf);
        return;
    }
    if (n == SIZE_MAX) {
        cx_fail(x, "the raw template does not fit %d bytes once filled in", SCENARIO_RAW_MAX);
        free(buf);
        return;
    }
    bool sent = cx_send_text(x, e, buf, n);
    free(buf);
    if (!sent)
        return;
    uint64_t deadline = net_now_ns() + cx_scaled(x, st->timeout_ns);
    struct want w = {.e = e, .tid = x->tid};
    switch (st->expect) {
    case RAW_EXPECT_CLOSE:
        if (!cx_pump(x, deadline, cx_ep_closed, e))
            cx_fail(x, "the connection stayed open for %.1f s; expected the peer to close it",
                    (double)cx_scaled(x, st->timeout_ns) / 1e9);
        return;
    case RAW_EXPECT_NONE: {
        cx_pump(x, deadline, cx_find_response, &w);
        struct msrp_header hdrs[CX_MAX_HEADERS];
        struct msrp_chunk ch;
        for (size_t i = 0; i < e->nframes; i++)
            if (!e->frames[i].used && cx_frame_parse(&e->frames[i], &ch, hdrs) &&
                ch.kind == MSRP_RESPONSE && cx_span_is(ch.tid, x->tid)) {
                e->frames[i].used = true;
                cx_fail(x, "a response %d arrived for transaction %s; expected none", ch.status,
                        x->tid);
                return;
            }
        if (e->closed)
            cx_fail(x,
                    "the peer closed the connection (%s); expected no response and the "
                    "connection kept open",
                    e->close_why);
        return;
    }
    case RAW_EXPECT_RESPONSE:
        break;
    }
    char want[64];
    cx_statuses_text(st->statuses, st->num_statuses, want, sizeof want);
    if (!cx_pump(x, deadline, cx_find_response, &w) || e->closed) {
        /* A response may have come in just before the close. */
        bool got = false;
        for (size_t i = 0; i < e->nframes && e->closed; i++) {
            struct msrp_header hdrs[CX_MAX_HEADERS];
            struct msrp_chunk ch;
            if (!e->frames[i].used && cx_frame_parse(&e->frames[i], &ch, hdrs) &&
                ch.kind == MSRP_RESPONSE && cx_span_is(ch.tid, x->tid)) {
                w.found = i;
                got = true;
                break;
            }
        }
        if (!got) {
            if (e->closed && st->conform != NULL && st->conform->or_closed) {
                /* Refused by closing: what the case accepts in place of an error. */
                cx_wire_note(x, "%c: the peer closed the connection (%s) instead of answering "
                                "transaction %s: a refusal",
                             'a' + (int)st->conform->endpoint, e->close_why, x->tid);
                return;
            }
            if (e->closed)
                cx_fail(x,
                        "the peer closed the connection (%s) without a response to "
                        "transaction %s; expected %s",
                        e->close_why, x->tid, want);
            else
                cx_fail(x, "no response to transaction %s within %.1f s; expected %s", x->tid,
                        (double)cx_scaled(x, st->timeout_ns) / 1e9, want);
            return;
        }
    }
    struct msrp_header hdrs[CX_MAX_HEADERS];
    struct msrp_chunk ch;
    e->frames[w.found].used = true;
    cx_frame_parse(&e->frames[w.found], &ch, hdrs);
    if (ch.status == 200 && st->conform != NULL && st->conform->or_failure_report &&
        failure_reported(x, e, st)) {
        /* The error came as a REPORT after the 200: what the case wants, said another way. */
    } else if (!cx_status_in(ch.status, st->statuses, st->num_statuses)) {
        if (ch.status == 200 && st->conform != NULL && st->conform->or_failure_report)
            cx_fail(x,
                    "the response to transaction %s has status 200 and no REPORT for message "
                    "%s with one of %s followed within %.1f s; expected %s, or a 200 and then "
                    "such a REPORT",
                    x->tid, x->mid, want, (double)cx_scaled(x, st->timeout_ns) / 1e9, want);
        else
            cx_fail(x, "the response to transaction %s has status %d; expected %s", x->tid,
                    ch.status, want);
        return;
    }
    if (ch.status == 401) {
        const struct msrp_header *h = cx_find_header(&ch, "WWW-Authenticate");
        if (h != NULL && h->value.len < sizeof e->challenge) {
            memcpy(e->challenge, h->value.ptr, h->value.len);
            e->challenge[h->value.len] = '\0';
            e->nc = 0;
        }
    }
    char what[96];
    snprintf(what, sizeof what, "the %d response to transaction %s", ch.status, x->tid);
    cx_run_checks(x, e->idx, st->conform, &ch, what);
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

/* RFC 4975 7.1: the end-line's flag is $ on the chunk that ends the message and + on one
 * that does not (# would mean aborted); 7.1.1: a body over 2048 octets has range end *.
 * Whatever way a relay cuts the message (RFC 4976 6.4.1 MAY), the chunk holding its last
 * byte ends it. */
static bool chunk_fits(struct cx *x, const struct msrp_chunk *ch, uint64_t total, const char *what)
{
    const struct msrp_header *h = cx_find_header(ch, "Byte-Range");
    struct msrp_byte_range r;
    if (h == NULL || !msrp_byte_range_parse(h->value, &r))
        return true; /* coverage_take has already said so */
    size_t blen = ch->has_body ? ch->body.len : 0;
    if (blen > 2048 && r.end != MSRP_RANGE_UNKNOWN) {
        cx_fail(x,
                "%s has %zu octets of body and Byte-Range: %.*s; over 2048 octets the range "
                "end is * (RFC 4975 7.1.1)",
                what, blen, (int)h->value.len, h->value.ptr);
        return false;
    }
    uint64_t last = r.start + blen - 1;
    char want = last >= total ? '$' : '+';
    if (ch->flag != want) {
        cx_fail(x,
                "%s ends in %c, but it %s the message (bytes up to %" PRIu64 " of %" PRIu64
                "); expected %c (RFC 4975 7.1)",
                what, ch->flag != 0 ? ch->flag : '?', want == '$' ? "ends" : "does not end", last,
                total, want);
        return false;
    }
    return true;
}

/* The chunk's body is the message's bytes at its Byte-Range, unchanged. */
static bool body_fits(struct cx *x, unsigned ep, const struct step_conform *f,
                      const struct msrp_chunk *ch, const char *what)
{
    const struct msrp_header *h = cx_find_header(ch, "Byte-Range");
    struct msrp_byte_range r;
    if (h == NULL || !msrp_byte_range_parse(h->value, &r))
        return true;
    char *want = malloc(SCENARIO_RAW_MAX);
    if (want == NULL) {
        cx_fail(x, "out of memory");
        return false;
    }
    size_t n =
        cx_expand(x, ep, f->body.pieces, f->body.num_pieces, f->body.text, want, SCENARIO_RAW_MAX);
    size_t blen = ch->has_body ? ch->body.len : 0;
    bool ok = n != SIZE_MAX && r.start >= 1 && r.start - 1 + blen <= n &&
              (blen == 0 || memcmp(want + r.start - 1, ch->body.ptr, blen) == 0);
    free(want);
    if (!ok)
        cx_fail(x, "%s: its %zu octets of body are not the bytes the message has at %.*s", what,
                blen, (int)h->value.len, h->value.ptr);
    return ok;
}

static bool cover_step(struct cx *x, void *arg)
{
    struct cover_want *cw = arg;
    struct ep *e = cw->e;
    for (size_t i = 0; i < e->nframes && !cw->bad; i++) {
        struct msrp_header hdrs[CX_MAX_HEADERS];
        struct msrp_chunk ch;
        if (e->frames[i].used || !cx_frame_parse(&e->frames[i], &ch, hdrs) ||
            ch.kind != MSRP_REQUEST || !cx_span_is(ch.method, cw->st->method))
            continue;
        const struct msrp_header *mid = cx_find_header(&ch, "Message-ID");
        if (mid == NULL || !cx_span_is(mid->value, x->mid))
            continue;
        e->frames[i].used = true;
        cw->seen++;
        char what[128];
        snprintf(what, sizeof what, "the %s received by endpoint %c (transaction %.*s)",
                 cw->st->method, 'a' + (int)e->idx, (int)ch.tid.len, ch.tid.ptr);
        if (!cx_run_checks(x, e->idx, cw->st->conform, &ch, what) ||
            !coverage_take(x, &cw->cv, &ch, cw->st->cover, what) ||
            (cw->st->chunk_rules && !chunk_fits(x, &ch, cw->st->cover, what)) ||
            (cw->st->conform->has_body && !body_fits(x, e->idx, cw->st->conform, &ch, what)))
            cw->bad = true;
    }
    return cw->bad || e->closed || coverage_prefix(&cw->cv) >= cw->st->cover;
}

/* A receive with "cover": every REPORT (say) for the message passes the checks, and together
 * they cover the whole message within the timeout. */
static void receive_cover(struct cx *x, struct ep *e, const struct step_receive *st)
{
    struct cover_want cw = {.e = e, .st = st};
    cx_pump(x, net_now_ns() + cx_scaled(x, st->timeout_ns), cover_step, &cw);
    cover_step(x, &cw);
    if (!cw.bad) {
        uint64_t upto = coverage_prefix(&cw.cv);
        if (cw.seen == 0)
            cx_fail(x, "endpoint %c received no %s for message %s within %.1f s%s%s",
                    'a' + (int)e->idx, st->method, x->mid,
                    (double)cx_scaled(x, st->timeout_ns) / 1e9,
                    e->closed ? "; the connection " : "", e->closed ? e->close_why : "");
        else if (upto < st->cover)
            cx_fail(x,
                    "the %zu %s(s) for message %s cover bytes 1-%" PRIu64 " of %" PRIu64
                    " together (byte %" PRIu64 " is in none) within %.1f s; expected all of "
                    "them covered",
                    cw.seen, st->method, x->mid, upto, st->cover, upto + 1,
                    (double)cx_scaled(x, st->timeout_ns) / 1e9);
    }
    free(cw.cv.iv);
}

/* True once an unused frame of any kind (request, response, unframable bytes) is there. */
static bool any_unused(struct cx *x, void *arg)
{
    (void)x;
    struct ep *e = arg;
    for (size_t i = 0; i < e->nframes; i++)
        if (!e->frames[i].used)
            return true;
    return false;
}

/* expect "nothing": not a byte may arrive within the timeout. */
static void receive_nothing(struct cx *x, struct ep *e, uint64_t deadline)
{
    if (!cx_pump(x, deadline, any_unused, e))
        return;
    for (size_t i = 0; i < e->nframes; i++) {
        struct frame *f = &e->frames[i];
        struct msrp_header hdrs[CX_MAX_HEADERS];
        struct msrp_chunk ch;
        if (f->used)
            continue;
        f->used = true;
        if (!cx_frame_parse(f, &ch, hdrs))
            cx_fail(x, "endpoint %c received %zu bytes that are not MSRP; expected nothing",
                    'a' + (int)e->idx, f->len);
        else if (ch.kind == MSRP_RESPONSE)
            cx_fail(x, "endpoint %c received a response %d (transaction %.*s); expected nothing",
                    'a' + (int)e->idx, ch.status, (int)ch.tid.len, ch.tid.ptr);
        else
            cx_fail(x, "endpoint %c received a %.*s (transaction %.*s); expected nothing",
                    'a' + (int)e->idx, (int)ch.method.len, ch.method.ptr, (int)ch.tid.len,
                    ch.tid.ptr);
        return;
    }
}

void cx_step_receive(struct cx *x, const struct step_receive *st)
{
    struct ep *e = step_ep(x, st->conform);
    if (e == NULL)
        return;
    if (st->cover > 0) {
        receive_cover(x, e, st);
        return;
    }
    uint64_t deadline = net_now_ns() + cx_scaled(x, st->timeout_ns);
    if (st->nothing) {
        receive_nothing(x, e, deadline);
        return;
    }
    struct want w = {.e = e, .method = st->method};
    const char *what_m = st->method[0] != '\0' ? st->method : "request";
    bool got = cx_pump(x, deadline, cx_find_request, &w);
    /* cx_find_request also returns true on a close: look again for a real request. */
    got = false;
    for (size_t i = 0; i < e->nframes; i++) {
        struct msrp_header hdrs[CX_MAX_HEADERS];
        struct msrp_chunk ch;
        if (!e->frames[i].used && cx_frame_parse(&e->frames[i], &ch, hdrs) &&
            ch.kind == MSRP_REQUEST &&
            (st->method[0] == '\0' || cx_span_is(ch.method, st->method))) {
            w.found = i;
            got = true;
            break;
        }
    }
    if (st->optional && !got)
        return;
    if (st->none && !got && st->method[0] == '\0') {
        /* Any request expected none: then nothing at all may come, a response or bytes that
         * are no MSRP included (RFC 4975 5.4: the passive side waits for a request). */
        for (size_t i = 0; i < e->nframes; i++)
            if (!e->frames[i].used) {
                e->frames[i].used = true;
                cx_fail(x, "endpoint %c received %zu bytes (%s); expected nothing",
                        'a' + (int)e->idx, e->frames[i].len,
                        e->frames[i].malformed ? "not MSRP" : "a response");
                return;
            }
        uint64_t framed = 0;
        for (size_t i = 0; i < e->nframes; i++)
            framed += e->frames[i].len;
        if (e->conn != NULL && net_conn_bytes_in(e->conn) > framed) {
            cx_fail(x, "endpoint %c received %" PRIu64 " bytes that form no chunk yet; expected "
                    "nothing", 'a' + (int)e->idx, net_conn_bytes_in(e->conn) - framed);
            return;
        }
    }
    if (st->none) {
        if (got) {
            struct msrp_header hdrs[CX_MAX_HEADERS];
            struct msrp_chunk ch;
            e->frames[w.found].used = true;
            cx_frame_parse(&e->frames[w.found], &ch, hdrs);
            const struct msrp_header *s = cx_find_header(&ch, "Status");
            cx_fail(x, "endpoint %c received a %.*s (transaction %.*s%s%.*s); expected none",
                    'a' + (int)e->idx, (int)ch.method.len, ch.method.ptr, (int)ch.tid.len,
                    ch.tid.ptr, s != NULL ? ", Status: " : "", s != NULL ? (int)s->value.len : 0,
                    s != NULL ? s->value.ptr : "");
        }
        return;
    }
    if (!got) {
        cx_fail(x, "endpoint %c received no %s within %.1f s%s%s", 'a' + (int)e->idx, what_m,
                (double)cx_scaled(x, st->timeout_ns) / 1e9, e->closed ? "; the connection " : "",
                e->closed ? e->close_why : "");
        return;
    }
    struct msrp_header hdrs[CX_MAX_HEADERS];
    struct msrp_chunk ch;
    e->frames[w.found].used = true;
    cx_frame_parse(&e->frames[w.found], &ch, hdrs);
    char what[96];
    snprintf(what, sizeof what, "the %.*s received by endpoint %c (transaction %.*s)",
             (int)ch.method.len, ch.method.ptr, 'a' + (int)e->idx, (int)ch.tid.len, ch.tid.ptr);
    if (!cx_run_checks(x, e->idx, st->conform, &ch, what))
        return;
    if (st->respond > 0) {
        /* Hop by hop: back to the previous hop, the first URI of the From-Path. */
        const struct msrp_header *from = cx_find_header(&ch, "From-Path");
        size_t flen = 0;
        if (from != NULL) {
            const char *sp = memchr(from->value.ptr, ' ', from->value.len);
            flen = sp != NULL ? (size_t)(sp - from->value.ptr) : from->value.len;
        }
        char resp[4096], status[24];
        snprintf(status, sizeof status, "%d", st->respond);
        if (st->respond_text[0] != '\0')
            snprintf(status, sizeof status, "%s", st->respond_text);
        int n = snprintf(resp, sizeof resp,
                         "MSRP %.*s %s Response\r\nTo-Path: %.*s\r\nFrom-Path: %s\r\n-------%.*s"
                         "$\r\n",
                         (int)ch.tid.len, ch.tid.ptr, status,
                         st->respond_to[0] != '\0' ? (int)strlen(st->respond_to) : (int)flen,
                         st->respond_to[0] != '\0'
                             ? st->respond_to
                             : (from != NULL ? from->value.ptr : ""),
                         e->local_uri, (int)ch.tid.len, ch.tid.ptr);
        if (n > 0 && (size_t)n < sizeof resp)
            cx_send_text(x, e, resp, (size_t)n);
    }
}

/* One chunk of a send step: its range and flag. */
struct plan {
    uint64_t start, end; /* 1-based, inclusive; end < start for an empty body */
    bool end_star;       /* interrupted or over 2048 octets: the range end is "*" */
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
        /* RFC 4975 section 7.1.1: a body over 2048 octets goes with range end "*" (MUST),
         * unless the case breaks that on purpose (numeric_range_end). */
        if (end - start + 1 > MSRP_INTERRUPTIBLE_BODY && !s->numeric_range_end)
            star = true;
        p[n++] = (struct plan){start, end, star, '+'};
        if (end >= last)
            break;
        start = end + 1;
        if (s->order == MSRP_ORDER_OVERLAPPING && end + 1 > s->overlap && !star)
            start = end + 1 - s->overlap;
    }
    if (s->order == MSRP_ORDER_REVERSE) {
        for (size_t i = 0; i < n / 2; i++) {
            struct plan t = p[i];
            p[i] = p[n - 1 - i];
            p[n - 1 - i] = t;
        }
    } else if (s->order == MSRP_ORDER_SHUFFLED && n > 1) {
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
    /* RFC 4975 section 7.1: "$" on the chunk that ends the message, whatever the order it
     * leaves in, "#" on the last chunk of an aborted one, "+" on every other (MUST). */
    for (size_t i = 0; i < n; i++)
        p[i].flag = p[i].end >= last || last == 0 ? (s->abort_after > 0 ? '#' : '$') : '+';
    return n;
}

static const char *report_text(enum msrp_report r)
{
    return r == MSRP_REPORT_YES ? "yes" : r == MSRP_REPORT_NO ? "no" : "partial";
}

void cx_step_send(struct cx *x, const struct step_send *s)
{
    struct ep *e = &x->ep[0];
    uint64_t size = s->content != NULL ? s->content_len : s->size_min;
    if (s->count != 1) {
        cx_fail(x, "send steps in case files send one message (count 1)");
        return;
    }
    char *body = NULL;
    if (s->content == NULL && size > 0) {
        body = malloc(size);
        if (body == NULL) {
            cx_fail(x, "out of memory");
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
    if (plan == NULL || !cx_draw_id(x, x->mid, SCENARIO_RAW_MESSAGE_ID_LEN)) {
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
    cx_path_to_peer(x, 0, to, sizeof to);
    for (size_t i = 0; i < n && !x->failed; i++) {
        struct plan *pc = &plan[i];
        struct sent_chunk *sc = &x->sent[x->nsent++];
        if (!cx_draw_id(x, sc->tid, MSRP_GENERATED_TID_LEN))
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
        int hn =
            snprintf(head, sizeof head,
                     "MSRP %s SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: %s\r\n"
                     "Byte-Range: %" PRIu64 "-%s/%s\r\n%s%s%s%s%s%sContent-Type: %s\r\n\r\n",
                     sc->tid, to, e->local_uri, x->mid, pc->start, end, total,
                     s->success_report != MSRP_REPORT_ABSENT ? "Success-Report: " : "",
                     s->success_report != MSRP_REPORT_ABSENT ? report_text(s->success_report) : "",
                     s->success_report != MSRP_REPORT_ABSENT ? "\r\n" : "",
                     s->failure_report != MSRP_REPORT_ABSENT ? "Failure-Report: " : "",
                     s->failure_report != MSRP_REPORT_ABSENT ? report_text(s->failure_report) : "",
                     s->failure_report != MSRP_REPORT_ABSENT ? "\r\n" : "", s->content_type);
        char tail[64];
        int tn = snprintf(tail, sizeof tail, "\r\n-------%s%c\r\n", sc->tid, pc->flag);
        size_t blen = pc->end >= pc->start ? (size_t)(pc->end - pc->start + 1) : 0;
        struct iovec iov[3] = {{head, (size_t)hn},
                               {(void *)(content + (blen > 0 ? pc->start - 1 : 0)), blen},
                               {tail, (size_t)tn}};
        if (hn <= 0 || (size_t)hn >= sizeof head) {
            cx_fail(x, "a chunk head does not fit");
            break;
        }
        if (!cx_send(x, e, iov, 3))
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
            if (!e->frames[j].used && cx_frame_parse(&e->frames[j], &ch, hdrs) &&
                ch.kind == MSRP_RESPONSE && cx_span_is(ch.tid, x->sent[i].tid)) {
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
    int status; /* 0: none yet; the error status of the first REPORT that has one */
    bool found; /* a REPORT arrived */
    bool bad;   /* a REPORT's Byte-Range is wrong (recorded by failf) */
    struct coverage cv;
};

static bool find_report(struct cx *x, void *arg)
{
    struct report_want *rw = arg;
    struct ep *e = &x->ep[x->sent_ep];
    for (size_t j = 0; j < e->nframes && !rw->bad; j++) {
        struct msrp_header hdrs[CX_MAX_HEADERS];
        struct msrp_chunk ch;
        if (e->frames[j].used || !cx_frame_parse(&e->frames[j], &ch, hdrs) ||
            ch.kind != MSRP_REQUEST || ch.method_id != MSRP_METHOD_REPORT)
            continue;
        const struct msrp_header *mid = cx_find_header(&ch, "Message-ID");
        if (mid == NULL || !cx_span_is(mid->value, x->mid))
            continue;
        const struct msrp_header *st = cx_find_header(&ch, "Status");
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
        snprintf(what, sizeof what, "the success REPORT for message %s (transaction %.*s)", x->mid,
                 (int)ch.tid.len, ch.tid.ptr);
        if (x->sent_size > 0 && !coverage_take(x, &rw->cv, &ch, 0, what))
            rw->bad = true;
    }
    if (rw->bad || e->closed)
        return true;
    return rw->found && (x->sent_size == 0 || coverage_prefix(&rw->cv) >= x->sent_size);
}

void cx_step_expect(struct cx *x, const struct step_expect *st)
{
    if (x->failed || x->sent == NULL)
        return;
    uint64_t deadline = net_now_ns() + cx_scaled(x, st->timeout_ns);
    cx_pump(x, deadline, all_answered, NULL);
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
    cx_statuses_text(st->statuses, st->num_statuses, want, sizeof want);
    if (cx_status_in(outcome, st->unobservable_if, st->num_unobservable_if)) {
        /* Not a failure: the case cannot see what it checks past this answer. */
        x->unobservable = true;
        snprintf(x->observed, sizeof x->observed,
                 "the message's outcome is %d, after which what the case checks cannot be seen",
                 outcome);
        cx_wire_note(x, "UNOBSERVABLE: %s", x->observed);
        return;
    }
    if (!cx_status_in(outcome, st->statuses, st->num_statuses)) {
        if (outcome == 408)
            cx_fail(x, "not every chunk had a response within %.1f s (a local 408); expected %s",
                    (double)cx_scaled(x, st->timeout_ns) / 1e9, want);
        else
            cx_fail(x, "the message's outcome is %d; expected %s", outcome, want);
        return;
    }
    if (st->answered == 1 && !answered) {
        cx_fail(x, "not every chunk had a response; expected each to be answered");
        return;
    }
    if (st->answered == 0 && answered && x->nsent > 0) {
        for (size_t i = 0; i < x->nsent; i++)
            if (x->sent[i].status != 0) {
                cx_fail(x, "chunk %s got a response %d; expected none", x->sent[i].tid,
                        x->sent[i].status);
                return;
            }
    }
    if (st->answered == 0) {
        for (size_t i = 0; i < x->nsent; i++)
            if (x->sent[i].status != 0) {
                cx_fail(x, "chunk %s got a response %d; expected none", x->sent[i].tid,
                        x->sent[i].status);
                return;
            }
    }
    if (st->report != 0) {
        struct report_want rw = {0};
        cx_pump(x, net_now_ns() + cx_scaled(x, st->timeout_ns), find_report, &rw);
        find_report(x, &rw);
        uint64_t upto = rw.status == 0 && x->sent_size > 0 ? coverage_prefix(&rw.cv) : 0;
        free(rw.cv.iv);
        if (rw.bad)
            return;
        if (!rw.found) {
            cx_fail(x, "no REPORT for message %s within %.1f s; expected one with Status %d",
                    x->mid, (double)cx_scaled(x, st->timeout_ns) / 1e9, st->report);
            return;
        }
        int got = rw.status != 0 ? rw.status : 200;
        if (got != st->report) {
            cx_fail(x, "a REPORT for message %s has status %d; expected %d", x->mid, got,
                    st->report);
            return;
        }
        if (got == 200 && x->sent_size > 0 && upto < x->sent_size)
            cx_fail(x,
                    "the success REPORTs for message %s cover bytes 1-%" PRIu64 " of %" PRIu64
                    " within %.1f s; expected all of them covered",
                    x->mid, upto, x->sent_size, (double)cx_scaled(x, st->timeout_ns) / 1e9);
    }
}
