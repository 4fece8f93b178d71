/*
 * violate.c - what the conformance suite's wrong test peer changes in what a session writes
 * or takes (violate.h), each change breaking one rule of RFC 4975; and what the wrong relay
 * client (msrp/relay.c) changes in its digest answer, breaking one rule of RFC 4976.
 */
#include "msrp/violate.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "wire/parser.h"
#include "wire/values.h"

const char *msrp_violate_own_uri(enum msrp_violation_id violate, const char *uri, char *out,
                                 size_t cap)
{
    if ((violate != MSRP_VIOLATE_URI_PASSWORD && violate != MSRP_VIOLATE_URI_NO_TCP &&
         violate != MSRP_VIOLATE_URI_NO_PORT) ||
        strlen(uri) >= cap)
        return uri;
    const char *auth = strstr(uri, "://");
    if (auth == NULL)
        return uri;
    auth += 3;
    size_t pre = (size_t)(auth - uri);
    if (violate == MSRP_VIOLATE_URI_PASSWORD) {
        /* RFC 4975 section 6: a userinfo MUST NOT hold a password. */
        snprintf(out, cap, "%.*suser:secret@%s", (int)pre, uri, auth);
        return strlen(uri) + 12 < cap ? out : uri;
    }
    if (violate == MSRP_VIOLATE_URI_NO_TCP) {
        /* Section 6: a URI for MSRP over TCP MUST carry the tcp transport parameter. */
        const char *t = strcasestr(uri, ";tcp");
        if (t == NULL)
            return uri;
        snprintf(out, cap, "%.*s%s", (int)(t - uri), uri, t + 4);
        return out;
    }
    if (violate == MSRP_VIOLATE_URI_NO_PORT) {
        /* Section 6: a numeric IP address in the authority MUST come with a port. */
        const char *colon = strchr(auth, ':');
        const char *slash = strpbrk(auth, "/;");
        if (colon == NULL || (slash != NULL && colon > slash) || *auth == '[')
            return uri;
        size_t digits = strspn(colon + 1, "0123456789");
        snprintf(out, cap, "%.*s%s", (int)(colon - uri), uri, colon + 1 + digits);
        return out;
    }
    return uri;
}

void msrp_violate_report(enum msrp_violation_id violate, struct msrp_out *out, char *big,
                         size_t cap)
{
    static const struct msrp_header content_type = {MSRP_SPAN_LIT("Content-Type"),
                                                    MSRP_SPAN_LIT("text/plain"), MSRP_H_OTHER};
    static const struct msrp_header failure_report = {MSRP_SPAN_LIT("Failure-Report"),
                                                      MSRP_SPAN_LIT("no"), MSRP_H_OTHER};
    if (violate == MSRP_VIOLATE_REPORT_SAME_TID) {
        out->tid = MSRP_SPAN_LIT("samereporttid0"); /* 7.1: ids with 64 random bits */
    } else if (violate == MSRP_VIOLATE_REPORT_CONTENT_TYPE) {
        out->extra = &content_type; /* 7.1: no MIME header without a body */
        out->num_extra = 1;
    } else if (violate == MSRP_VIOLATE_REPORT_FR_HEADER) {
        out->extra = &failure_report; /* 7.1.2: no Failure-Report in a REPORT */
        out->num_extra = 1;
    } else if (violate == MSRP_VIOLATE_REPORT_BIG_BODY) {
        memset(big, 'r', cap); /* 7.1: a non-SEND body of at most 10240 octets */
        out->content_type = MSRP_SPAN_LIT("text/plain");
        out->body = msrp_span_make(big, cap);
    } else if (violate == MSRP_VIOLATE_REPORT_BODY_NO_TYPE) {
        out->content_type = MSRP_SPAN_LIT("text/plain"); /* taken out once written */
        out->body = MSRP_SPAN_LIT("delivered");
    }
}

void msrp_violate_drop_content_type(struct msrp_wire_chunk *w)
{
    static const char line[] = "Content-Type: text/plain\r\n";
    char *head = w->iov[0].iov_base;
    char *at = memmem(head, w->iov[0].iov_len, line, sizeof line - 1);
    if (at == NULL)
        return;
    size_t after = w->iov[0].iov_len - (size_t)(at - head) - (sizeof line - 1);
    memmove(at, at + sizeof line - 1, after);
    w->iov[0].iov_len -= sizeof line - 1;
    w->total -= sizeof line - 1;
}

void msrp_violate_add_transfer_encoding(struct msrp_wire_chunk *w, size_t cap)
{
    static const char line[] = "Content-Transfer-Encoding: binary\r\n";
    char *head = w->iov[0].iov_base;
    size_t len = w->iov[0].iov_len;
    char *from = memmem(head, len, "\r\nFrom-Path: ", 13);
    char *eol = from != NULL ? memmem(from + 2, len - (size_t)(from + 2 - head), "\r\n", 2) : NULL;
    if (eol == NULL || len + sizeof line - 1 > cap)
        return;
    char *at = eol + 2;
    memmove(at + sizeof line - 1, at, len - (size_t)(at - head));
    memcpy(at, line, sizeof line - 1);
    w->iov[0].iov_len += sizeof line - 1;
    w->total += sizeof line - 1;
}

bool msrp_violate_refuses_type(enum msrp_violation_id violate, struct msrp_span ct)
{
    struct msrp_media_type mt;
    if ((violate != MSRP_VIOLATE_REFUSE_SIGNED && violate != MSRP_VIOLATE_REFUSE_MULTIPART) ||
        !msrp_media_type_parse(ct, &mt) ||
        !msrp_span_eq_nocase(mt.type, MSRP_SPAN_LIT("multipart")))
        return false;
    if (violate == MSRP_VIOLATE_REFUSE_SIGNED)
        return msrp_span_eq_nocase(mt.subtype, MSRP_SPAN_LIT("signed"));
    return violate == MSRP_VIOLATE_REFUSE_MULTIPART &&
           (msrp_span_eq_nocase(mt.subtype, MSRP_SPAN_LIT("mixed")) ||
            msrp_span_eq_nocase(mt.subtype, MSRP_SPAN_LIT("alternative")));
}

bool msrp_violate_refuses_body(enum msrp_violation_id violate, struct msrp_span b)
{
    if (violate != MSRP_VIOLATE_REFUSE_ODD_BODY)
        return false;
    for (size_t i = 0; i < b.len; i++) {
        unsigned char ch = (unsigned char)b.ptr[i];
        if (ch >= 0x80 || (ch < 0x20 && ch != '\r' && ch != '\n'))
            return true;
    }
    return memmem(b.ptr, b.len, "\r\n-------", 9) != NULL;
}

/* Removes the parameter starting at name (up to its following comma, or the comma before it
 * when it is the last). */
static void drop_param(char *authz, size_t *len, const char *name)
{
    char *at = strstr(authz, name);
    if (at == NULL)
        return;
    char *end = at + strlen(name);
    if (*end == '"') {
        char *q = strchr(end + 1, '"');
        end = q != NULL ? q + 1 : authz + *len;
    } else {
        end += strcspn(end, ",");
    }
    if (*end == ',') {
        end++;
        end += strspn(end, " ");
    } else if (at > authz && at[-1] == ' ' && at - 2 >= authz && at[-2] == ',') {
        at -= 2; /* the last parameter: its comma goes with it */
    }
    memmove(at, end, (size_t)(authz + *len - end) + 1);
    *len -= (size_t)(end - at);
}

void msrp_violate_digest(enum msrp_violation_id violate, char *authz, size_t *len)
{
    if (violate == MSRP_VIOLATE_DIGEST_BAD_RESPONSE) {
        /* RFC 4976 5.1: the answer must be a digest the password verifies */
        char *r = strstr(authz, "response=\"");
        if (r != NULL && r[10] != '"')
            r[10] = r[10] == '0' ? '1' : '0';
    } else if (violate == MSRP_VIOLATE_DIGEST_URI_UNQUOTED) {
        /* RFC 4976 9.1: "the value of the uri parameter MUST be in quotes" */
        char *u = strstr(authz, "uri=\"");
        char *q = u != NULL ? strchr(u + 5, '"') : NULL;
        if (q != NULL) {
            memmove(q, q + 1, (size_t)(authz + *len - q)); /* the closing quote */
            memmove(u + 4, u + 5, (size_t)(authz + *len - 1 - (u + 5)) + 1); /* the opening */
            *len -= 2;
        }
    } else if (violate == MSRP_VIOLATE_DIGEST_NO_CNONCE) {
        /* RFC 4976 9.1: "Clients MUST send cnonce and nonce-count parameters" */
        drop_param(authz, len, "cnonce=");
        drop_param(authz, len, "nc=");
    }
}
