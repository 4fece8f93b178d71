/*
 * session_in.c - the incoming room of an MSRP session (RFC 4975 sections 5.4, 7.1-7.3, 10):
 * what the connection reads is framed chunk by chunk (session__data; responses go on to
 * session_out.c); each request the peer sends is checked before it is handled
 * (request_check), bound to this session on the answering side, answered (responses hop by
 * hop, REPORTs to the sender, 200s dropped or delayed for load tests) and its body handed to
 * reassembly; REPORTs for our own messages go to the owner. The wrong test peer's changes to
 * all this (s->violation) are made here or in violate.c.
 *
 * Owns: the parser's input, struct in_chunk (the request being read), the delayed responses,
 * the reassembly hand-off and everything we write in answer. May not touch: our outgoing
 * messages and their transactions (session_out.c), the connection's other handlers and the
 * session's life cycle (session.c: it ends a session only through session__end).
 */
#include "msrp/session.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msrp/session_int.h"
#include "msrp/peerrules.h"
#include "msrp/violate.h"
#include "wire/values.h"
#include "wire/writer.h"

/*
 * The header array is needed only while a chunk is being read, never between calls, so it is
 * shared by every session of the thread and an idle session does not pay for it.
 */
static _Thread_local struct msrp_header thread_headers[SESSION_MAX_HEADERS];

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

/* A response or REPORT that the connection would not queue (its cap reached: the peer does
 * not read) ends the session with the reason, rather than going missing unnoticed. */
static void answer_sent(struct msrp_session *s, int err)
{
    if (err == 0 || err == EPIPE)
        return; /* EPIPE: closing already, the close says why */
    snprintf(s->end_detail, sizeof(s->end_detail),
             "%s: cannot queue a response: %s (%zu bytes queued)", net_conn_peer(s->conn),
             strerror(err), net_conn_queued(s->conn));
    session__end(s, MSRP_END_WRITE_OVERFLOW, s->end_detail);
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
    if (session__violating(s, MSRP_VIOLATE_WRONG_TID) && tid_len > 0 && s->answered_one) {
        memcpy(bad_tid, tid, tid_len);
        bad_tid[tid_len - 1] = bad_tid[tid_len - 1] == 'x' ? 'y' : 'x';
        tid = bad_tid;
    }
    if (session__violating(s, MSRP_VIOLATE_RESPONSE_TO_PATH)) {
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
            session__trace_out(s, &w, net_now_ns());
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
    if (msrp_write(&out, session__ids(), head, sizeof(head), &w) == MSRP_W_OK) {
        if (session__violating(s, MSRP_VIOLATE_REPORT_BODY_NO_TYPE))
            msrp_violate_drop_content_type(&w);
        int err = net_conn_send(s->conn, w.iov, w.iovcnt);
        if (err == 0 && s->trace != NULL)
            session__trace_out(s, &w, net_now_ns());
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

void session__violation(struct msrp_session *s, const char *kind, const char *detail)
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
    if (session__violating(s, MSRP_VIOLATE_EXACT_URI_COMPARE))
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
            session__violation(s, "reused-tid", "a transaction id was used again by a new request");
            break;
        }
    }
    memcpy(s->recent_tids[s->recent_next], c->tid.ptr, c->tid.len);
    s->recent_tids[s->recent_next][c->tid.len] = '\0';
    s->recent_next = (s->recent_next + 1) % RECENT_TIDS;
}

/* A new request: its transaction, report headers and the path its answers go back along. */
static void request_start(struct msrp_session *s, const struct msrp_chunk *c,
                          const struct msrp_header *from)
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
}

/*
 * The checks on a request before it is handled that do not change its answer: what the peer
 * did against RFC 4975 is logged (on_violation; serve as a checker of clients). Rules that
 * decide the answer (a path, a Message-ID, ...) are logged where they decide it, below.
 */
static void request_check(struct msrp_session *s, const struct msrp_chunk *c)
{
    note_tid(s, c);
    for (unsigned bit = 1; bit != 0 && c->violations != 0; bit <<= 1)
        if ((c->violations & bit) && msrp_violation_name(bit) != NULL)
            session__violation(s, msrp_violation_name(bit),
                               "tolerated deviation from RFC 4975 syntax");
}

/*
 * Binding on the answering side: the first request names the peer (section 5.4). Returns
 * false when the request is refused or the session ended.
 */
static bool request_binds(struct msrp_session *s, const struct msrp_chunk *c,
                          const struct msrp_header *from)
{
    struct in_chunk *in = &s->in;
    if (session__violating(s, MSRP_VIOLATE_REFUSE_FIRST_BODY) && c->has_body) {
        /* Breaks section 5.4: the first SEND MAY have a body. */
        in->ignore = true;
        in->respond = 400;
        return false;
    }
    if (s->have_peer && !paths_equal(from->value, msrp_span_make(s->peer_text, s->peer_len))) {
        session__violation(s, "from-path", "From-Path is not the expected peer");
        in->ignore = true;
        in->respond = in->is_report ? 0 : 481;
        return false;
    }
    if (!s->have_peer) {
        s->peer_text = strndup(from->value.ptr, from->value.len);
        if (s->peer_text == NULL) {
            session__end(s, MSRP_END_PROTOCOL, "out of memory");
            return false;
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
            return false;
    }
    return true;
}

/*
 * Is the request well formed and meant for this session (To-Path us, From-Path the bound
 * peer, or binding it)? Otherwise its answer is decided (400 or 481) and false returned.
 */
static bool request_addressed(struct msrp_session *s, const struct msrp_chunk *c,
                              const struct msrp_header *from)
{
    struct in_chunk *in = &s->in;
    /* REPORTs are never answered (RFC 4975 section 7.1.2), whatever is wrong with them. */
    if (c->error != MSRP_OK) {
        session__violation(s, msrp_error_name(c->error), msrp_error_text(c->error));
        in->ignore = true;
        if (!in->is_report && from != NULL)
            in->respond = session__violating(s, MSRP_VIOLATE_200_FOR_400) ? 200 : 400;
        return false;
    }
    const struct msrp_header *to = msrp_chunk_header(c, MSRP_H_TO_PATH);
    if (!to_path_is_us(s, to->value)) {
        session__violation(s, "to-path", "To-Path does not name this endpoint");
        const struct msrp_header *fmid = msrp_chunk_header(c, MSRP_H_MESSAGE_ID);
        if (session__violating(s, MSRP_VIOLATE_FR_NO_FAILURE_REPORT) && !in->is_report &&
            fmid != NULL && c->failure_report == MSRP_REPORT_NO &&
            fmid->value.len <= sizeof(in->message_id)) {
            /* Breaks RFC 4975 section 7.1.4: a failure REPORT despite Failure-Report no. */
            memcpy(in->message_id, fmid->value.ptr, fmid->value.len);
            in->message_id_len = (uint8_t)fmid->value.len;
            in->report = 481;
        }
        in->ignore = true;
        in->respond =
            in->is_report ? 0 : session__violating(s, MSRP_VIOLATE_NO_481) ? 200 : 481;
        return false;
    }
    if (!s->have_peer || s->state != S_BOUND)
        return request_binds(s, c, from);
    if (!paths_equal(from->value, msrp_span_make(s->peer_text, s->peer_len))) {
        session__violation(s, "from-path", "From-Path is not the bound peer");
        in->ignore = true;
        in->respond = in->is_report ? 0 : 481;
        return false;
    }
    return true;
}

/* A REPORT for one of our messages: the owner hears of it; it is never answered (7.1.2). */
static void report_in(struct msrp_session *s, const struct msrp_chunk *c)
{
    struct in_chunk *in = &s->in;
    const struct msrp_header *st = msrp_chunk_header(c, MSRP_H_STATUS);
    const struct msrp_header *mid = msrp_chunk_header(c, MSRP_H_MESSAGE_ID);
    struct msrp_status status = {0, 0, {NULL, 0}};
    if (st != NULL)
        msrp_status_parse(st->value, &status);
    if (st == NULL || mid == NULL)
        session__violation(s, "report-headers", "REPORT without Status or Message-ID");
    if (session__violating(s, MSRP_VIOLATE_REPORT_TO_REPORT) && mid != NULL &&
        mid->value.len <= sizeof(in->message_id)) {
        memcpy(in->message_id, mid->value.ptr, mid->value.len);
        in->message_id_len = (uint8_t)mid->value.len;
    }
    if (mid != NULL && status.code == 413)
        session__refused_by_report(s, mid->value);
    if (s->h->on_report != NULL && mid != NULL) {
        struct msrp_report_in r = {mid->value, status.code, c->byte_range};
        s->h->on_report(s, &r);
    }
    in->ignore = true;
}

/* The wrong peers that refuse a SEND for its header names: true when this one is refused. */
static bool send_headers_refused(const struct msrp_session *s, const struct msrp_chunk *c)
{
    if (session__violating(s, MSRP_VIOLATE_CASE_SENSITIVE_HEADERS)) {
        /* Breaks RFC 4975 section 9 (ABNF literals, RFC 4234): names spelled otherwise. */
        for (size_t i = 0; i < c->num_headers; i++) {
            const char *canon = msrp_header_name(c->headers[i].id);
            if (canon != NULL && (strlen(canon) != c->headers[i].name.len ||
                                  memcmp(canon, c->headers[i].name.ptr, strlen(canon)) != 0))
                return true;
        }
    }
    if (session__violating(s, MSRP_VIOLATE_REJECT_UNKNOWN_HEADER)) {
        /* Breaks RFC 4975 section 12: a header it does not understand MUST be ignored. */
        for (size_t i = 0; i < c->num_headers; i++)
            if (c->headers[i].id == MSRP_H_OTHER)
                return true;
    }
    return false;
}

/* A SEND addressed to us: decides its answer from its Message-ID, Byte-Range and type. */
static void send_head(struct msrp_session *s, const struct msrp_chunk *c)
{
    struct in_chunk *in = &s->in;
    const struct msrp_header *mid = msrp_chunk_header(c, MSRP_H_MESSAGE_ID);
    if (mid == NULL || mid->value.len > sizeof(in->message_id)) {
        session__violation(s, "message-id", "SEND without a usable Message-ID");
        in->ignore = true;
        in->respond = session__violating(s, MSRP_VIOLATE_200_FOR_400) ? 200 : 400;
        return;
    }
    memcpy(in->message_id, mid->value.ptr, mid->value.len);
    in->message_id_len = (uint8_t)mid->value.len;
    if (send_headers_refused(s, c)) {
        in->ignore = true;
        in->respond = 400;
        return;
    }
    in->has_range = c->has_byte_range;
    in->range = c->has_byte_range ? c->byte_range
                                  : (struct msrp_byte_range){1, MSRP_RANGE_UNKNOWN,
                                                             MSRP_RANGE_UNKNOWN};
    in->start = in->range.start;
    if ((session__violating(s, MSRP_VIOLATE_REJECT_STAR_TOTAL) &&
         in->range.total == MSRP_RANGE_UNKNOWN && c->has_byte_range) ||
        (session__violating(s, MSRP_VIOLATE_REJECT_STAR_END) &&
         in->range.end == MSRP_RANGE_UNKNOWN && c->has_byte_range) ||
        (session__violating(s, MSRP_VIOLATE_413_LARGE) && c->has_byte_range &&
         large_chunk(&in->range))) {
        in->ignore = true;
        in->respond = session__violating(s, MSRP_VIOLATE_413_LARGE) ? 413 : 400;
        return;
    }
    const struct msrp_header *ct = msrp_chunk_header(c, MSRP_H_CONTENT_TYPE);
    if (ct != NULL && ct->value.len < sizeof(in->content_type)) {
        memcpy(in->content_type, ct->value.ptr, ct->value.len);
        in->content_type[ct->value.len] = '\0';
        if ((!type_accepted(s, ct->value) && !session__violating(s, MSRP_VIOLATE_NO_415)) ||
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

/* Looks at a request's head: decides its answer and whether its body counts. */
static void request_head(struct msrp_session *s, const struct msrp_chunk *c)
{
    struct in_chunk *in = &s->in;
    const struct msrp_header *from = msrp_chunk_header(c, MSRP_H_FROM_PATH);
    request_start(s, c, from);
    request_check(s, c);
    if (!request_addressed(s, c, from))
        return;
    if (in->is_report) {
        report_in(s, c);
        return;
    }
    if (!in->is_send) {
        in->ignore = true;
        in->respond = session__violating(s, MSRP_VIOLATE_NO_501) ? 200 : 501;
        return;
    }
    send_head(s, c);
}

/* Whether this chunk's message is one whose body is kept (cfg.keep_bodies_type). */
static bool keep_body(const struct msrp_session *s)
{
    const char *want = s->cfg.keep_bodies_type;
    if (want == NULL)
        return true;
    size_t n = strlen(want);
    const char *ct = s->in.content_type;
    return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
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
        session__violation(s, "byte-range", "Byte-Range end does not match the body length");
    /* What a sender MUST do that the receiver can see, logged so that serve checks clients:
     * a body over 2048 octets has range end "*" (RFC 4975 section 7.1.1), and "$" marks only
     * the chunk that ends the message (section 7.1). */
    if (c->flag != 0 && in->has_range && in->range.end != MSRP_RANGE_UNKNOWN &&
        in->body_len > MSRP_INTERRUPTIBLE_BODY)
        session__violation(s, "range-end-not-star",
                  "a chunk body over 2048 octets with a numeric range end, not \"*\" (RFC 4975 "
                  "section 7.1.1, MUST)");
    if (c->flag == '$' && in->has_range && in->range.end != MSRP_RANGE_UNKNOWN &&
        in->range.total != MSRP_RANGE_UNKNOWN && in->range.end < in->range.total)
        session__violation(s, "dollar-not-at-end",
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
    struct msrp_span mid = msrp_span_make(in->message_id, in->message_id_len);
    if (s->h->on_piece != NULL)
        s->h->on_piece(s, mid, pos, c->body.ptr, c->body.len, c->flag);
    if (s->bodies != NULL && keep_body(s))
        msrp_bodies_add(s->bodies, mid, pos, c->body.ptr, c->body.len);
    enum msrp_reasm_status st = msrp_reasm_add(s->reasm, mid, pos, c->body.ptr, c->body.len,
                                               flag, end, total, &done);
    if (s->bodies != NULL && st != MSRP_REASM_PROGRESS && st != MSRP_REASM_COMPLETE)
        msrp_bodies_drop(s->bodies, mid);
    switch (st) {
    case MSRP_REASM_PROGRESS:
        break;
    case MSRP_REASM_COMPLETE:
    case MSRP_REASM_ABORTED:
        if (s->h->on_received != NULL) {
            struct msrp_received r = {&done, msrp_span_cstr(in->content_type),
                                      st == MSRP_REASM_ABORTED, {NULL, 0}};
            if (s->bodies != NULL && st == MSRP_REASM_COMPLETE)
                r.body = msrp_bodies_get(s->bodies, mid, done.total);
            s->h->on_received(s, &r);
        }
        if (s->bodies != NULL)
            msrp_bodies_drop(s->bodies, mid);
        /* Sent by request_end, after the response to this last chunk: a REPORT must not
         * announce a delivery before the chunk completing it is answered (or refused). */
        if (st == MSRP_REASM_COMPLETE && (in->success_report == MSRP_REPORT_YES ||
                                          session__violating(s, MSRP_VIOLATE_REPORT_UNASKED))) {
            in->report = 200;
            in->report_end = done.total;
        }
        if (st == MSRP_REASM_ABORTED && in->success_report == MSRP_REPORT_YES &&
            session__violating(s, MSRP_VIOLATE_REPORT_ABORTED)) {
            in->report = 200;
            in->report_end = done.total;
        }
        break;
    case MSRP_REASM_E_TOO_LARGE:
    case MSRP_REASM_E_LIMIT:
        refuse_too_large(in, in->start + in->body_len - 1);
        if (session__violating(s, MSRP_VIOLATE_NO_413)) {
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
        session__violation(s, "overlap-conflict", detail);
        refuse_too_large(in, in->start + in->body_len - 1);
        break;
    }
    case MSRP_REASM_E_REFUSED:
        /* Refused before: 413 again (section 10.5), without another REPORT. */
        in->ignore = true;
        in->respond = 413;
        break;
    case MSRP_REASM_E_RANGE:
        session__violation(s, "byte-range", "Byte-Range inconsistent with earlier chunks");
        in->ignore = true;
        in->respond = 400;
        break;
    }
    if ((st == MSRP_REASM_PROGRESS || st == MSRP_REASM_COMPLETE) && c->flag != 0 &&
        c->flag != '#' && in->body_len > 0 && in->success_report == MSRP_REPORT_YES &&
        session__violating(s, MSRP_VIOLATE_PER_CHUNK_REPORTS)) {
        in->report = 200;
        in->report_start = in->start;
        in->report_end = in->start + in->body_len - 1;
        in->report_total = total;
    }
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
void session__delayed_free_all(struct msrp_session *s)
{
    while (s->delayed != NULL) {
        struct delayed_response *d = s->delayed;
        net_timer_stop(s->loop, &d->timer);
        delayed_unlink(s, d);
        free(d);
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
    session__leave(s);
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

/*
 * The wrong test peer's answers (s->violation): whether the request is answered, with what,
 * and what REPORT follows, each changed to break one rule of RFC 4975. One violation at a
 * time, so each case stands alone.
 */
static void wrong_answer(struct msrp_session *s, bool binding, int *status, bool *respond,
                         bool *report)
{
    struct in_chunk *in = &s->in;
    enum msrp_report fr = in->failure_report;
    switch (s->violation) {
    /* The binding SEND is spared, so that the case itself meets the violation. */
    case MSRP_VIOLATE_ABSENT_AS_NO:
        if (fr == MSRP_REPORT_ABSENT && s->answered_one)
            *respond = false;
        break;
    case MSRP_VIOLATE_NO_RESPONSE_FR_YES:
        if (fr == MSRP_REPORT_YES)
            *respond = false;
        break;
    case MSRP_VIOLATE_SILENT_PARTIAL_ERROR:
        if (fr == MSRP_REPORT_PARTIAL)
            *respond = false;
        break;
    case MSRP_VIOLATE_NO_RESPONSE_EMPTY:
        if (binding && s->answered_one)
            *respond = false;
        break;
    case MSRP_VIOLATE_RESPOND_FR_NO:
    case MSRP_VIOLATE_RESPOND_FR_PARTIAL:
        if (fr == (s->violation == MSRP_VIOLATE_RESPOND_FR_NO ? MSRP_REPORT_NO
                                                                 : MSRP_REPORT_PARTIAL))
            *respond = *status != 0 && !in->is_report && in->reply_len > 0;
        break;
    case MSRP_VIOLATE_ANSWER_REPORTS:
        if (in->is_report && in->reply_len > 0) {
            *status = 200;
            *respond = true;
        }
        break;
    case MSRP_VIOLATE_NO_SUCCESS_REPORT:
        if (in->report == 200)
            *report = false;
        break;
    case MSRP_VIOLATE_REPORT_TO_REPORT:
        if (in->is_report && in->message_id_len > 0 &&
            in->reply_len > 0) /* breaks RFC 4975 section 7.1.2 */
            send_report(s, in->reply_to, in->reply_len, in->message_id, in->message_id_len, 0,
                        200);
        break;
    case MSRP_VIOLATE_FR_NO_FAILURE_REPORT:
        if (in->report == 481)
            *report = in->reply_len > 0;
        break;
    case MSRP_VIOLATE_REPORT_LAST_RANGE:
        if (*report && in->has_range && in->range.end != MSRP_RANGE_UNKNOWN)
            in->report_end = in->range.end;
        break;
    default:
        break;
    }
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
    if (s->violation != MSRP_VIOLATE_NONE)
        wrong_answer(s, binding, &status, &respond, &report);
    in->active = false;
    /* Load-test answering: only a 200 that would go out is dropped or delayed, and the PRNG
     * is drawn only then, so the same traffic meets the same drops in every run. */
    if (s->shaping && respond && status == 200 && !binding && in->report_start == 0) {
        if (s->cfg.drop_fraction > 0 &&
            (double)(session__splitmix64(&s->rng) >> 11) * 0x1.0p-53 < s->cfg.drop_fraction) {
            respond = false;
        } else if (s->cfg.response_delay_max_ns > 0) {
            uint64_t lo = s->cfg.response_delay_min_ns, span = s->cfg.response_delay_max_ns - lo;
            uint64_t delay = lo;
            if (span > 0)
                delay += span == UINT64_MAX ? session__splitmix64(&s->rng)
                                            : session__splitmix64(&s->rng) % (span + 1);
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

/* ---- reading ----------------------------------------------------------------------------- */

size_t session__data(struct net_conn *conn, const char *buf, size_t len)
{
    struct msrp_session *s = net_conn_user(conn);
    if (s == NULL)
        return len;
    s->busy++;
    size_t used = 0;
    while (used < len && !s->ended) {
        struct msrp_chunk c = {.headers = thread_headers, .headers_cap = SESSION_MAX_HEADERS};
        const char *at = buf + used;
        ssize_t r = msrp_parse(&s->parser, at, len - used, &c);
        if (r == MSRP_INCOMPLETE) {
            /* The wrong peer of conform --delivery: it takes only what comes in one read. */
            if (session__violating(s, MSRP_VIOLATE_WHOLE_READS) && s->state == S_BOUND)
                session__end(s, MSRP_END_PROTOCOL, "a request head cut across reads");
            break;
        }
        if (r == MSRP_MALFORMED) {
            if (s->trace != NULL)
                msrp_trace_in_garbage(s->trace, buf + used, len - used, net_now_ns());
            snprintf(s->end_detail, sizeof(s->end_detail), "byte %llu from %s: %s",
                     (unsigned long long)(s->parser.stream_offset + s->parser.error_offset),
                     net_conn_peer(conn), msrp_error_text(s->parser.error));
            session__violation(s, msrp_error_name(s->parser.error), s->end_detail);
            session__end(s, MSRP_END_PROTOCOL, s->end_detail);
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
        if (s->peer_rules != NULL)
            msrp_peer_rules_check(s->peer_rules, &c, s, s->h->on_violation);
        if (c.kind == MSRP_RESPONSE) {
            if (c.flag != 0)
                session__response_in(s, &c);
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
        session__pump(s);
    if (!s->ended && !s->calling && s->conn != NULL && net_conn_congested(s->conn))
        session__pause_reading(s);
    session__leave(s);
    return used;
}
