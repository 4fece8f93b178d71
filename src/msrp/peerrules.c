/*
 * peerrules.c - what the answering side checks of its peer's chunks besides what it needs to
 * answer them (contract in peerrules.h): the per-chunk rules of wire/rules.c, and the rules of
 * RFC 4975 section 7.1.1 over the chunks of one message. Owns the kind -> requirement table of
 * what serve logs. Must not answer, refuse or end anything: the session does that; this file
 * only reports, through the handler it is given.
 */
#include "msrp/peerrules.h"

#include <stdio.h>
#include <string.h>

#include "wire/hash.h"
#include "wire/rules.h"

struct report_to {
    struct msrp_session *s;
    msrp_peer_rules_fn fn;
};

static void rule_broken(const struct msrp_rule_breach *b, void *user)
{
    const struct report_to *to = user;
    struct msrp_peer_violation v = {b->kind, b->detail};
    to->fn(to->s, &v);
}

static void report(const struct report_to *to, const char *kind, const char *detail)
{
    struct msrp_peer_violation v = {kind, detail};
    to->fn(to->s, &v);
}

/* RFC 4975 section 7.1.1: Failure-Report absent means yes, Success-Report absent means no. */
static enum msrp_report explicit_failure(enum msrp_report fr)
{
    return fr == MSRP_REPORT_ABSENT ? MSRP_REPORT_YES : fr;
}

static enum msrp_report explicit_success(enum msrp_report sr)
{
    return sr == MSRP_REPORT_ABSENT ? MSRP_REPORT_NO : sr;
}

static struct msrp_peer_message *message_find(struct msrp_peer_rules *r, uint64_t h)
{
    for (unsigned i = 0; i < MSRP_PEER_RULES_MESSAGES; i++)
        if (r->_messages[i].id_hash == h)
            return &r->_messages[i];
    return NULL;
}

/*
 * The rules of RFC 4975 section 7.1.1 that tie a SEND chunk to the earlier chunks of its
 * message, checked while the message is open (more chunks must follow: its latest chunk ended
 * in "+", or its "$" chunk came before all its bytes had):
 *  - "all subsequent chunks MUST, include a Byte-Range header field";
 *  - "All chunks of the same message MUST use the same Failure-Report and Success-Report
 *    values in their SEND requests" (compared as meant: an absent header is its default);
 *  - "The sender MUST send all chunks in Byte-Range order": flagged only when a chunk starts
 *    before the chunk sent just before it, so that an overlapping resend is not a breach;
 *    once a message.
 * A Message-ID seen for the first time, or again once its message ended ("#", or every byte
 * of its total sent), starts a new entry.
 */
static void check_send_chunk(struct msrp_peer_rules *r, const struct msrp_chunk *c,
                             const struct report_to *to)
{
    const struct msrp_header *mid = msrp_chunk_header(c, MSRP_H_MESSAGE_ID);
    if (mid == NULL) {
        report(to, "message-id-in-every-chunk", "a SEND without a Message-ID header");
        return;
    }
    uint64_t h = fnv1a64(mid->value.ptr, mid->value.len) | 1; /* never 0: 0 marks a free slot */
    enum msrp_report sr = explicit_success(c->success_report);
    enum msrp_report fr = explicit_failure(c->failure_report);
    r->_start = c->has_byte_range ? c->byte_range.start : 1;
    struct msrp_peer_message *m = message_find(r, h);
    if (m != NULL && m->open) {
        char detail[160];
        if (!c->has_byte_range) {
            snprintf(detail, sizeof detail,
                     "Message-ID %.*s: a chunk after the first without a Byte-Range",
                     (int)mid->value.len, mid->value.ptr);
            report(to, "byte-range-present", detail);
        }
        if (m->success != sr || m->failure != fr) {
            snprintf(detail, sizeof detail,
                     "Message-ID %.*s: Success-Report or Failure-Report differs from an earlier "
                     "chunk of the message", (int)mid->value.len, mid->value.ptr);
            report(to, "same-report-headers-on-all-chunks", detail);
        }
        if (c->has_byte_range && c->byte_range.start < m->last_start && !m->order_told) {
            m->order_told = true; /* once a message: a shuffled one breaks it at most chunks */
            snprintf(detail, sizeof detail,
                     "Message-ID %.*s: a chunk starting at byte %llu sent after one starting at "
                     "byte %llu", (int)mid->value.len, mid->value.ptr,
                     (unsigned long long)c->byte_range.start, (unsigned long long)m->last_start);
            report(to, "chunks-in-order", detail);
        }
    } else {
        if (m == NULL) {
            m = &r->_messages[r->_next];
            r->_next = (r->_next + 1) % MSRP_PEER_RULES_MESSAGES;
        }
        m->id_hash = h;
        m->order_told = false;
        m->received = 0;
        m->total = MSRP_RANGE_UNKNOWN;
        m->success = sr;
        m->failure = fr;
    }
    if (c->has_byte_range && c->byte_range.total != MSRP_RANGE_UNKNOWN)
        m->total = c->byte_range.total;
    r->_message = m;
}

void msrp_peer_rules_check(struct msrp_peer_rules *r, const struct msrp_chunk *c,
                           struct msrp_session *s, msrp_peer_rules_fn fn)
{
    if (fn == NULL)
        return;
    struct report_to to = {s, fn};
    if (c->has_head) {
        r->_checking = c->error == MSRP_OK;
        r->_method = c->method_id;
        r->_has_body = c->has_body;
        r->_body_len = 0;
        r->_message = NULL;
        if (!r->_checking)
            return;
        msrp_rules_check_head(c, rule_broken, &to);
        if (c->kind == MSRP_REQUEST && c->method_id == MSRP_METHOD_SEND)
            check_send_chunk(r, c, &to);
    }
    r->_body_len += c->body.len;
    if (c->flag == 0 || !r->_checking || c->kind != MSRP_REQUEST)
        return;
    if (r->_has_body)
        msrp_rules_check_body_size(r->_method, r->_body_len, rule_broken, &to);
    struct msrp_peer_message *m = r->_message;
    if (m != NULL) {
        m->received += r->_body_len;
        /* A known total says when every byte has been sent, whatever the order; without one
         * the "$" chunk ends the message. "#" always does. */
        m->open = c->flag != '#' && (m->total != MSRP_RANGE_UNKNOWN ? m->received < m->total
                                                                     : c->flag == '+');
        m->last_start = r->_start;
    }
    r->_checking = false;
}

/* The kinds the session logs itself that name one requirement each. */
static const struct {
    const char *kind, *requirement;
} session_kinds[] = {
    {"reused-tid", "4975-7.1/transaction-id-unique"},
    {"body-without-content-type", "4975-7.1/body-has-content-type"},
    {"status-header", "4975-7.1.2/report-has-status"}, /* the parser's: Status malformed */
    /* The parser's: a head line of dashes that is not this chunk's end-line (another
     * transaction id), an end-line whose flag is not followed by CRLF. */
    {"end-line", "4975-7.1/end-line-format"},
    {"flag", "4975-7.1/end-line-format"},
    {"dollar-not-at-end", "4975-7.1/continuation-flags"},
    {"range-end-not-star", "4975-7.1.1/over-2048-star-end"},
    /* An answering session sends no request but REPORTs: a response that answers none of
     * its transactions answers a REPORT (or nothing at all). */
    {"unknown-response", "4975-7.1.2/no-response-to-report"},
};

/* The kinds of this file and of wire/rules.c: the requirement id ends in "/" and the kind. */
static const char *const own_requirements[] = {
    "4975-6/tcp-transport-parameter",
    "4975-6/ip-needs-port",
    "4975-6/no-password-in-uri",
    "4975-7.1/body-has-content-type",
    "4975-7.1/non-send-body-limit",
    "4975-7.1/no-body-no-mime-headers",
    "4975-7.1.1/message-id-in-every-chunk",
    "4975-7.1.1/byte-range-present",
    "4975-7.1.1/same-report-headers-on-all-chunks",
    "4975-7.1.1/chunks-in-order",
    "4975-7.1.2/report-no-report-headers",
    "4975-7.1.2/report-has-status",
    "4975-7.1.2/report-message-id",
};

/* RFC 4975 section 9 gives header names as ABNF literals, "as described in RFC 4234", which
 * requirements.json (4975-9/header-names-any-case, no keyword) and issue 13 read as matching
 * in any letter case: "to-path" is To-Path, and the suite sends such names to peers. (RFC 4234
 * itself is not among the texts in ../shared/rfc/.) The parser still notes the spelling, for
 * `decode`; serve does not call it a violation. */
bool msrp_peer_rules_allows(const char *kind)
{
    return strcmp(kind, "header-name-case") == 0;
}

const char *msrp_peer_rules_requirement(const char *kind)
{
    for (size_t i = 0; i < sizeof session_kinds / sizeof session_kinds[0]; i++)
        if (strcmp(session_kinds[i].kind, kind) == 0)
            return session_kinds[i].requirement;
    for (size_t i = 0; i < sizeof own_requirements / sizeof own_requirements[0]; i++) {
        const char *slash = strchr(own_requirements[i], '/');
        if (strcmp(slash + 1, kind) == 0)
            return own_requirements[i];
    }
    return NULL;
}
