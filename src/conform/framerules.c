/*
 * framerules.c - rules that every chunk the peer writes must keep, whatever the case is
 * about: the URIs it writes (RFC 4975 section 6), how it builds requests (7.1) and REPORTs
 * (7.1.2: no Success-Report or Failure-Report, a Status of the section 9 form, a Message-ID).
 * The executor runs them on each frame as it arrives (cx_frame_rules, from exec.c).
 *
 * A broken rule fails the case only when the case lists the rule's requirement id in its
 * "requirements": those cases provoke the frames the rule is about (responses, REPORTs) and
 * have a wrong peer that breaks just that rule. In every other case the breach is written to
 * the wire record as a note, so that it is seen, but it does not change that case's verdict
 * (its level is about another sentence).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conform/cx.h"
#include "wire/uri.h"

#define NON_SEND_BODY_MAX 10240 /* RFC 4975 section 7.1: non-SEND bodies at most 10240 octets */

static bool case_lists(const struct cx *x, const char *req)
{
    for (unsigned i = 0; i < x->k->num_requirements; i++)
        if (strcmp(x->k->requirements[i], req) == 0)
            return true;
    return false;
}

/* A rule broken by a frame endpoint e received: fails the case if it checks req, else a note. */
static void broken(struct cx *x, const struct ep *e, const struct msrp_chunk *ch, const char *req,
                   const char *what)
{
    char msg[768];
    bool resp = ch->kind == MSRP_RESPONSE;
    snprintf(msg, sizeof msg, "the %.*s (transaction %.*s) received by endpoint %c %s (%s)",
             resp ? 8 : (int)ch->method.len, resp ? "response" : ch->method.ptr,
             (int)ch->tid.len, ch->tid.ptr, 'a' + (int)e->idx, what, req);
    if (case_lists(x, req))
        cx_fail(x, "%s", msg);
    else
        cx_wire_note(x, "rule broken, not what this case checks: %s", msg);
}

/* RFC 4975 section 6: tcp transport parameter (MUST), a port with a numeric IP (MUST), no
 * password in the userinfo (MUST). Checked on every URI of To-Path and From-Path. */
static void check_uris(struct cx *x, const struct ep *e, const struct msrp_chunk *ch,
                       const struct msrp_header *h)
{
    const char *p = h->value.ptr, *end = h->value.ptr + h->value.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *q = p;
        while (q < end && *q != ' ' && *q != '\t')
            q++;
        if (q == p)
            break;
        char what[640];
        struct msrp_uri u;
        enum msrp_uri_error ue = msrp_uri_parse(p, (size_t)(q - p), &u);
        if (ue == MSRP_URI_E_TRANSPORT) {
            snprintf(what, sizeof what, "has %.*s: %.*s without the tcp transport parameter",
                     (int)h->name.len, h->name.ptr, (int)(q - p), p);
            broken(x, e, ch, "4975-6/tcp-transport-parameter", what);
        } else if (ue == MSRP_URI_OK) {
            if (u.transport.len != 3 || strncasecmp(u.transport.ptr, "tcp", 3) != 0) {
                snprintf(what, sizeof what,
                         "has %.*s: %.*s, whose transport is not tcp on a TCP connection",
                         (int)h->name.len, h->name.ptr, (int)(q - p), p);
                broken(x, e, ch, "4975-6/tcp-transport-parameter", what);
            }
            if (u.host_type != MSRP_HOST_NAME && !u.has_port) {
                snprintf(what, sizeof what, "has %.*s: %.*s, a numeric IP address without a port",
                         (int)h->name.len, h->name.ptr, (int)(q - p), p);
                broken(x, e, ch, "4975-6/ip-needs-port", what);
            }
            if (u.userinfo.len > 0 && memchr(u.userinfo.ptr, ':', u.userinfo.len) != NULL) {
                snprintf(what, sizeof what, "has %.*s: %.*s, whose userinfo holds a password",
                         (int)h->name.len, h->name.ptr, (int)(q - p), p);
                broken(x, e, ch, "4975-6/no-password-in-uri", what);
            }
        }
        p = q;
    }
}

/* Content-Type and the other MIME headers (RFC 4975 section 9: Content-ID,
 * Content-Description, Content-Disposition and MIME-extension-field "Content-..."). */
static bool is_mime_header(struct msrp_span name)
{
    return name.len >= 8 && strncasecmp(name.ptr, "Content-", 8) == 0;
}

/* RFC 4975 section 7.1 (MUST): a body comes with Content-Type as the last header; a request
 * without a body has no MIME header; a non-SEND body holds at most 10240 octets. 7.1.2 (MUST):
 * a REPORT has no Success-Report or Failure-Report. */
static void check_request(struct cx *x, const struct ep *e, const struct msrp_chunk *ch)
{
    char what[256];
    const struct msrp_header *ct = msrp_chunk_header(ch, MSRP_H_CONTENT_TYPE);
    if (ch->has_body) {
        if (ct == NULL)
            broken(x, e, ch, "4975-7.1/body-has-content-type", "has a body but no Content-Type");
        else if (ct != &ch->headers[ch->num_headers - 1])
            broken(x, e, ch, "4975-7.1/body-has-content-type",
                   "has a body, but Content-Type is not its last header");
        if (ch->method_id != MSRP_METHOD_SEND && ch->body.len > NON_SEND_BODY_MAX) {
            snprintf(what, sizeof what, "has a body of %zu octets, above the 10240 allowed",
                     ch->body.len);
            broken(x, e, ch, "4975-7.1/non-send-body-limit", what);
        }
    } else {
        for (size_t i = 0; i < ch->num_headers; i++)
            if (is_mime_header(ch->headers[i].name)) {
                snprintf(what, sizeof what, "has no body but a %.*s header",
                         (int)ch->headers[i].name.len, ch->headers[i].name.ptr);
                broken(x, e, ch, "4975-7.1/no-body-no-mime-headers", what);
                break;
            }
    }
    if (ch->method_id != MSRP_METHOD_REPORT)
        return;
    if (msrp_chunk_header(ch, MSRP_H_SUCCESS_REPORT) != NULL ||
        msrp_chunk_header(ch, MSRP_H_FAILURE_REPORT) != NULL)
        broken(x, e, ch, "4975-7.1.2/report-no-report-headers",
               "carries a Success-Report or Failure-Report header");
    /* 7.1.2 (MUST): a Status, and the Message-ID of the SEND; section 9: Status is a 3-digit
     * namespace, SP, a 3-digit code, then an optional SP and comment. */
    const struct msrp_header *st = msrp_chunk_header(ch, MSRP_H_STATUS);
    if (st == NULL) {
        broken(x, e, ch, "4975-7.1.2/report-has-status", "has no Status header");
    } else {
        const char *v = st->value.ptr;
        size_t n = st->value.len;
        bool ok = n >= 7 && v[3] == ' ' && (n == 7 || v[7] == ' ');
        for (size_t i = 0; ok && i < 7; i++)
            ok = i == 3 || (v[i] >= '0' && v[i] <= '9');
        if (!ok) {
            snprintf(what, sizeof what,
                     "has Status: %.*s, not a 3-digit namespace and a 3-digit code (section 9)",
                     (int)(n > 64 ? 64 : n), v);
            broken(x, e, ch, "4975-7.1.2/report-has-status", what);
        }
    }
    if (msrp_chunk_header(ch, MSRP_H_MESSAGE_ID) == NULL)
        broken(x, e, ch, "4975-7.1.2/report-message-id", "has no Message-ID header");
}

/* RFC 4975 section 7.1 (MUST): a transaction id holds at least 64 bits of randomness and does
 * not collide with another in progress. Two requests of the peer on one connection with the
 * same id are all but impossible with 64 random bits (under n*n/2^65 for n requests), so a
 * repeat shows the rule broken. */
static void check_tid(struct cx *x, struct ep *e, const struct msrp_chunk *ch)
{
    for (size_t i = 0; i < e->npeer_tids; i++)
        if (cx_span_is(ch->tid, e->peer_tids[i])) {
            broken(x, e, ch, "4975-7.1/transaction-id-unique",
                   "uses a transaction id the peer already used for an earlier request");
            return;
        }
    if (e->npeer_tids < CX_PEER_TIDS && ch->tid.len < sizeof e->peer_tids[0]) {
        memcpy(e->peer_tids[e->npeer_tids], ch->tid.ptr, ch->tid.len);
        e->peer_tids[e->npeer_tids][ch->tid.len] = '\0';
        e->npeer_tids++;
    }
}

void cx_frame_rules(struct cx *x, struct ep *e, const struct frame *f)
{
    struct msrp_header hdrs[CX_MAX_HEADERS];
    struct msrp_chunk ch;
    if (!cx_frame_parse(f, &ch, hdrs))
        return;
    for (size_t i = 0; i < ch.num_headers; i++) {
        enum msrp_header_id id = msrp_header_lookup(ch.headers[i].name.ptr, ch.headers[i].name.len);
        if (id == MSRP_H_TO_PATH || id == MSRP_H_FROM_PATH)
            check_uris(x, e, &ch, &ch.headers[i]);
    }
    if (ch.kind != MSRP_REQUEST)
        return;
    check_request(x, e, &ch);
    check_tid(x, e, &ch);
}
