/*
 * rules.c - the per-chunk rules of RFC 4975 sections 6, 7.1 and 7.1.2 as pure predicates over
 * a parsed chunk (contract in rules.h). Owns the rule ids and their wording; knows nothing of
 * who asks (a conformance case, serve) nor of what follows a breach. Must not do I/O, keep
 * state or include from outside src/wire/.
 */
#include "wire/rules.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "wire/uri.h"

static void breach(msrp_rule_fn fn, void *user, const char *requirement, const char *detail)
{
    const char *slash = strchr(requirement, '/');
    struct msrp_rule_breach b = {requirement, slash != NULL ? slash + 1 : requirement, detail};
    fn(&b, user);
}

/* RFC 4975 section 6: tcp transport parameter (MUST), a port with a numeric IP (MUST), no
 * password in the userinfo (MUST). Checked on every URI of To-Path and From-Path. The MUST is
 * about URIs "designating MSRP over TCP": a URI with RFC 7977's "ws" (5.2.1, a WebSocket
 * client's, in a path through a relay) designates another transport and is no breach. */
static void check_uris(const struct msrp_header *h, msrp_rule_fn fn, void *user)
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
            breach(fn, user, "4975-6/tcp-transport-parameter", what);
        } else if (ue == MSRP_URI_OK) {
            bool tcp = u.transport.len == 3 && strncasecmp(u.transport.ptr, "tcp", 3) == 0;
            bool ws = u.transport.len == 2 && strncasecmp(u.transport.ptr, "ws", 2) == 0;
            if (!tcp && !ws) {
                snprintf(what, sizeof what,
                         "has %.*s: %.*s, whose transport is not tcp on a TCP connection",
                         (int)h->name.len, h->name.ptr, (int)(q - p), p);
                breach(fn, user, "4975-6/tcp-transport-parameter", what);
            }
            if (u.host_type != MSRP_HOST_NAME && !u.has_port) {
                snprintf(what, sizeof what, "has %.*s: %.*s, a numeric IP address without a port",
                         (int)h->name.len, h->name.ptr, (int)(q - p), p);
                breach(fn, user, "4975-6/ip-needs-port", what);
            }
            if (u.userinfo.len > 0 && memchr(u.userinfo.ptr, ':', u.userinfo.len) != NULL) {
                snprintf(what, sizeof what, "has %.*s: %.*s, whose userinfo holds a password",
                         (int)h->name.len, h->name.ptr, (int)(q - p), p);
                breach(fn, user, "4975-6/no-password-in-uri", what);
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

/* 7.1.2 (MUST): a REPORT has no Success-Report or Failure-Report, a Status, and the Message-ID
 * of the SEND; section 9: Status is a 3-digit namespace, SP, a 3-digit code, then an optional
 * SP and comment. */
static void check_report(const struct msrp_chunk *c, msrp_rule_fn fn, void *user)
{
    if (msrp_chunk_header(c, MSRP_H_SUCCESS_REPORT) != NULL ||
        msrp_chunk_header(c, MSRP_H_FAILURE_REPORT) != NULL)
        breach(fn, user, "4975-7.1.2/report-no-report-headers",
               "carries a Success-Report or Failure-Report header");
    const struct msrp_header *st = msrp_chunk_header(c, MSRP_H_STATUS);
    if (st == NULL) {
        breach(fn, user, "4975-7.1.2/report-has-status", "has no Status header");
    } else {
        const char *v = st->value.ptr;
        size_t n = st->value.len;
        bool ok = n >= 7 && v[3] == ' ' && (n == 7 || v[7] == ' ');
        for (size_t i = 0; ok && i < 7; i++)
            ok = i == 3 || (v[i] >= '0' && v[i] <= '9');
        if (!ok) {
            char what[160];
            snprintf(what, sizeof what,
                     "has Status: %.*s, not a 3-digit namespace and a 3-digit code (section 9)",
                     (int)(n > 64 ? 64 : n), v);
            breach(fn, user, "4975-7.1.2/report-has-status", what);
        }
    }
    if (msrp_chunk_header(c, MSRP_H_MESSAGE_ID) == NULL)
        breach(fn, user, "4975-7.1.2/report-message-id", "has no Message-ID header");
}

/* RFC 4975 section 7.1 (MUST): a body comes with Content-Type as the last header; a request
 * without a body has no MIME header. body_len: the whole body's length when known (the size
 * rule is checked in the order framerules.c always had), else NULL. */
static void check_request(const struct msrp_chunk *c, const uint64_t *body_len, msrp_rule_fn fn,
                          void *user)
{
    const struct msrp_header *ct = msrp_chunk_header(c, MSRP_H_CONTENT_TYPE);
    if (c->has_body) {
        if (ct == NULL)
            breach(fn, user, "4975-7.1/body-has-content-type", "has a body but no Content-Type");
        else if (ct != &c->headers[c->num_headers - 1])
            breach(fn, user, "4975-7.1/body-has-content-type",
                   "has a body, but Content-Type is not its last header");
        if (body_len != NULL)
            msrp_rules_check_body_size(c->method_id, *body_len, fn, user);
    } else {
        for (size_t i = 0; i < c->num_headers; i++)
            if (is_mime_header(c->headers[i].name)) {
                char what[160];
                snprintf(what, sizeof what, "has no body but a %.*s header",
                         (int)(c->headers[i].name.len > 64 ? 64 : c->headers[i].name.len),
                         c->headers[i].name.ptr);
                breach(fn, user, "4975-7.1/no-body-no-mime-headers", what);
                break;
            }
    }
    if (c->method_id == MSRP_METHOD_REPORT)
        check_report(c, fn, user);
}

static void check_uri_headers(const struct msrp_chunk *c, msrp_rule_fn fn, void *user)
{
    for (size_t i = 0; i < c->num_headers; i++) {
        enum msrp_header_id id = c->headers[i].id;
        if (id == MSRP_H_TO_PATH || id == MSRP_H_FROM_PATH)
            check_uris(&c->headers[i], fn, user);
    }
}

void msrp_rules_check_head(const struct msrp_chunk *c, msrp_rule_fn fn, void *user)
{
    check_uri_headers(c, fn, user);
    if (c->kind == MSRP_REQUEST)
        check_request(c, NULL, fn, user);
}

/* RFC 4975 section 7.1 (MUST): a non-SEND body holds at most 10240 octets. */
void msrp_rules_check_body_size(enum msrp_method method, uint64_t body_len, msrp_rule_fn fn,
                                void *user)
{
    if (method == MSRP_METHOD_SEND || body_len <= MSRP_RULES_NON_SEND_BODY_MAX)
        return;
    char what[96];
    snprintf(what, sizeof what, "has a body of %llu octets, above the 10240 allowed",
             (unsigned long long)body_len);
    breach(fn, user, "4975-7.1/non-send-body-limit", what);
}

void msrp_rules_check_chunk(const struct msrp_chunk *c, msrp_rule_fn fn, void *user)
{
    check_uri_headers(c, fn, user);
    uint64_t body_len = c->body.len;
    if (c->kind == MSRP_REQUEST)
        check_request(c, &body_len, fn, user);
}
