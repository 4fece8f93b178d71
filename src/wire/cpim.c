/*
 * cpim.c - message/cpim (RFC 3862) with the IMDN header fields (RFC 5438): the head builder
 * and the strict parser of cpim.h. Owns the header-line rules of RFC 3862 sections 2.2 and
 * 3.6 and the few header definitions we read (4.1, 4.2, 4.4, 4.6; RFC 5438 section 10).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "wire/cpim.h"
#include "wire/values.h"

/* RFC 3862 section 3.6: NAMECHAR, any US-ASCII char except ".", CTLs or SEPARATORS. */
static bool namechar(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a || c == 0x2b || c == 0x2d ||
           (c >= 0x5e && c <= 0x60) || c == 0x7c || c == 0x7e || (c >= '0' && c <= '9') ||
           (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* TOKENCHAR = NAMECHAR / "." / UCS-high (UTF-8 validity is checked per line). */
static bool tokenchar(unsigned char c)
{
    return namechar(c) || c == '.' || c >= 0x80;
}

static bool ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

bool cpim_token_valid(struct msrp_span v)
{
    if (v.len == 0)
        return false;
    for (size_t i = 0; i < v.len; i++)
        if (!tokenchar((unsigned char)v.ptr[i]))
            return false;
    return true;
}

/* RFC 3629 UTF-8 (RFC 3862 section 2.2: MUST be used throughout): no overlong forms, no
 * surrogates, nothing above U+10FFFF. Returns the offset of the first bad byte, or len. */
size_t cpim_utf8_bad_at(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (len - i <= n)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return i;
        i += n + 1;
    }
    return len;
}

/* ---- building ----------------------------------------------------------------------------- */

static bool field_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (ctl(*p))
            return false;
    return true;
}

/* A URI inside < >: no SP, '<' or '>' (RFC 3862 section 4.1's "<" URI ">"). */
static bool uri_ok(const char *s)
{
    return field_ok(s) && strpbrk(s, " <>") == NULL;
}

size_t cpim_build_head(const struct cpim_build *b, char *buf, size_t cap)
{
    if (!uri_ok(b->from) || !uri_ok(b->to) || !field_ok(b->content_type) ||
        (b->datetime != NULL && !field_ok(b->datetime)) ||
        (b->content_disposition != NULL && !field_ok(b->content_disposition)) ||
        (b->message_id != NULL && !cpim_token_valid(msrp_span_cstr(b->message_id))) ||
        (b->notify != 0 && (b->message_id == NULL || b->datetime == NULL)))
        return 0;
    /* RFC 5438 section 7.1.1.1 and 7.1.1.2: a sender asking for IMDNs MUST include
     * Message-ID and DateTime (refused above when missing). */
    char notify[80] = "";
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{CPIM_NOTIFY_POSITIVE_DELIVERY, "positive-delivery"},
                 {CPIM_NOTIFY_NEGATIVE_DELIVERY, "negative-delivery"},
                 {CPIM_NOTIFY_PROCESSING, "processing"},
                 {CPIM_NOTIFY_DISPLAY, "display"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (b->notify & names[i].bit) {
            if (notify[0] != '\0')
                strcat(notify, ", ");
            strcat(notify, names[i].name);
        }
    int n = snprintf(buf, cap,
                     "From: <%s>\r\nTo: <%s>\r\n%s%s%s"
                     "%s%s%s%s%s%s"
                     "\r\nContent-Type: %s\r\n%s%s%s\r\n",
                     b->from, b->to, b->datetime != NULL ? "DateTime: " : "",
                     b->datetime != NULL ? b->datetime : "", b->datetime != NULL ? "\r\n" : "",
                     b->message_id != NULL ? "NS: imdn <" CPIM_IMDN_NS ">\r\nimdn.Message-ID: "
                                           : "",
                     b->message_id != NULL ? b->message_id : "",
                     b->message_id != NULL ? "\r\n" : "",
                     notify[0] != '\0' ? "imdn.Disposition-Notification: " : "", notify,
                     notify[0] != '\0' ? "\r\n" : "", b->content_type,
                     b->content_disposition != NULL ? "Content-Disposition: " : "",
                     b->content_disposition != NULL ? b->content_disposition : "",
                     b->content_disposition != NULL ? "\r\n" : "");
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}

size_t cpim_datetime_format(unsigned long long epoch_ns, char *buf, size_t cap)
{
    time_t t = (time_t)(epoch_ns / 1000000000ull);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return 0;
    int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned)(epoch_ns % 1000000000ull / 1000000ull));
    return n < 0 ? 0 : (size_t)n;
}

/* ---- parsing ------------------------------------------------------------------------------ */

struct cur {
    const char *base;
    struct cpim_error *err;
};

static bool fail(struct cur *c, const char *at, const char *what)
{
    c->err->offset = (size_t)(at - c->base);
    c->err->what = what;
    return false;
}

/* String = DQUOTE *( Str-char / Escape ) DQUOTE; p at the DQUOTE. Returns past it or NULL. */
static const char *string_end(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            if (++p >= end)
                return NULL;
        }
    }
    return NULL;
}

/* "[Formal-name] <URI>" (RFC 3862 sections 4.1, 4.2; also Original-To of RFC 5438). */
static bool addr_value(struct cur *c, struct msrp_span v, struct msrp_span *uri)
{
    const char *p = v.ptr, *end = v.ptr + v.len;
    if (v.len == 0 || end[-1] != '>')
        return fail(c, end, "the value does not end in \"<URI>\" (RFC 3862 section 4.1)");
    if (p < end && *p == '"') {
        p = string_end(p, end);
        if (p == NULL)
            return fail(c, v.ptr, "an unterminated String in the Formal-name (RFC 3862 3.6)");
        if (p < end && *p == ' ')
            p++;
    } else {
        /* Formal-name = 1*( Token SP ) */
        while (p < end && *p != '<') {
            const char *t = p;
            while (p < end && tokenchar((unsigned char)*p))
                p++;
            if (p == t || p >= end || *p != ' ')
                return fail(c, p, "a Formal-name that is not Tokens each followed by SP "
                                  "(RFC 3862 section 3.6)");
            p++;
        }
    }
    if (p >= end || *p != '<')
        return fail(c, p, "no \"<\" before the URI (RFC 3862 section 4.1)");
    const char *u = ++p;
    while (p < end - 1 && *p != '<' && *p != '>' && *p != ' ')
        p++;
    if (p != end - 1 || p == u)
        return fail(c, p, "the URI between < > is empty or holds SP, < or > (RFC 3862 4.1)");
    *uri = msrp_span_make(u, (size_t)(p - u));
    return true;
}

/* RFC 3339 date-time, as RFC 3862 section 4.4 names it. */
static bool datetime_ok(struct msrp_span v)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd";
    const char *p = v.ptr, *end = v.ptr + v.len;
    if (v.len < sizeof(pat))
        return false;
    for (size_t i = 0; i < sizeof(pat) - 1; i++) {
        char want = pat[i];
        if (want == 'd' ? !(p[i] >= '0' && p[i] <= '9')
                        : (want == 'T' ? p[i] != 'T' && p[i] != 't' : p[i] != want))
            return false;
    }
    p += sizeof(pat) - 1;
    if (p < end && *p == '.') {
        const char *f = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return false;
    }
    if (p < end && (*p == 'Z' || *p == 'z'))
        return p + 1 == end;
    if (end - p != 6 || (*p != '+' && *p != '-'))
        return false;
    return p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' && p[3] == ':' &&
           p[4] >= '0' && p[4] <= '9' && p[5] >= '0' && p[5] <= '9';
}

/* Disposition-Notification = [notify-req *(COMMA notify-req)], notify-req = Token
 * *(SEMI Ext-param); COMMA and SEMI with *SP around (RFC 5438 section 10). */
static bool notify_value(struct cur *c, struct msrp_span v, unsigned *bits)
{
    const char *p = v.ptr, *end = v.ptr + v.len;
    *bits = 0;
    while (p < end) {
        const char *t = p;
        while (p < end && tokenchar((unsigned char)*p))
            p++;
        if (p == t)
            return fail(c, p, "Disposition-Notification: a value that is no Token (RFC 5438 10)");
        struct msrp_span tok = msrp_span_make(t, (size_t)(p - t));
        if (msrp_span_eq(tok, MSRP_SPAN_LIT("positive-delivery")))
            *bits |= CPIM_NOTIFY_POSITIVE_DELIVERY;
        else if (msrp_span_eq(tok, MSRP_SPAN_LIT("negative-delivery")))
            *bits |= CPIM_NOTIFY_NEGATIVE_DELIVERY;
        else if (msrp_span_eq(tok, MSRP_SPAN_LIT("processing")))
            *bits |= CPIM_NOTIFY_PROCESSING;
        else if (msrp_span_eq(tok, MSRP_SPAN_LIT("display")))
            *bits |= CPIM_NOTIFY_DISPLAY;
        /* other Tokens: ignored (RFC 5438 section 7.2.1) */
        for (;;) {
            while (p < end && *p == ' ')
                p++;
            if (p >= end || *p != ';')
                break;
            for (p++; p < end && *p == ' '; p++)
                ;
            const char *n = p;
            while (p < end && namechar((unsigned char)*p))
                p++;
            if (p == n || p >= end || *p != '=')
                return fail(c, p, "Disposition-Notification: a parameter that is no "
                                  "Param-name \"=\" Param-value (RFC 5438 section 10)");
            p++;
            if (p < end && *p == '"') {
                if ((p = string_end(p, end)) == NULL)
                    return fail(c, n, "an unterminated String (RFC 3862 section 3.6)");
            } else {
                const char *pv = p;
                while (p < end && tokenchar((unsigned char)*p))
                    p++;
                if (p == pv)
                    return fail(c, p, "an empty Param-value (RFC 3862 section 3.6)");
            }
        }
        if (p >= end)
            break;
        if (*p != ',')
            return fail(c, p, "Disposition-Notification: values not separated by \",\" "
                              "(RFC 5438 section 10)");
        for (p++; p < end && *p == ' '; p++)
            ;
        if (p >= end)
            return fail(c, p, "Disposition-Notification ends with \",\" (RFC 5438 section 10)");
    }
    return true;
}

/* One message header's name, parameters and value (RFC 3862 section 3.6), line without CRLF. */
static bool header_line(struct cur *c, const char *p, const char *end, struct msrp_span *prefix,
                        struct msrp_span *name, struct msrp_span *value)
{
    const char *n = p;
    while (p < end && namechar((unsigned char)*p))
        p++;
    if (p == n)
        return fail(c, p, "a header line that does not start with a Name (RFC 3862 3.6)");
    *prefix = msrp_span_make(NULL, 0);
    if (p < end && *p == '.') {
        *prefix = msrp_span_make(n, (size_t)(p - n));
        n = ++p;
        while (p < end && namechar((unsigned char)*p))
            p++;
        if (p == n)
            return fail(c, p, "nothing after the Name-prefix's \".\" (RFC 3862 section 3.6)");
    }
    *name = msrp_span_make(n, (size_t)(p - n));
    if (p >= end || *p != ':')
        return fail(c, p, "no \":\" after the header name (RFC 3862 section 3.6)");
    p++;
    while (p < end && *p == ';') {
        const char *pn = ++p;
        while (p < end && namechar((unsigned char)*p))
            p++;
        if (p == pn || p >= end || *p != '=')
            return fail(c, p, "a header parameter that is no Param-name \"=\" Param-value "
                              "(RFC 3862 section 3.6)");
        p++;
        if (p < end && *p == '"') {
            if ((p = string_end(p, end)) == NULL)
                return fail(c, pn, "an unterminated String parameter (RFC 3862 section 3.6)");
        } else {
            const char *pv = p;
            while (p < end && tokenchar((unsigned char)*p))
                p++;
            if (p == pv)
                return fail(c, p, "an empty Param-value (RFC 3862 section 3.6)");
        }
    }
    if (p >= end || *p != ' ')
        return fail(c, p, "no single SP after the header name and colon (RFC 3862 section "
                          "2.2, MUST)");
    p++;
    if (p < end && *p == ' ')
        return fail(c, p, "more than a single SP after the header name and colon (RFC 3862 "
                          "section 2.2, MUST)");
    *value = msrp_span_make(p, (size_t)(end - p));
    return true;
}

/* The message headers, up to and past their blank line. Returns the inner part's start. */
static const char *message_headers(struct cur *c, const char *p, const char *end,
                                   struct cpim_msg *m)
{
    /* declared prefixes (RFC 3862 section 3.4): a few suffice, more are a refusal */
    struct msrp_span declared[8];
    size_t ndeclared = 0;
    bool has_from = false, has_dt = false;
    for (;;) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        if (lf != NULL && (eol == NULL || lf < eol))
            return fail(c, lf, "a line ended by LF without CR (RFC 3862 section 2.2, MUST)"),
                   NULL;
        if (eol == NULL || eol + 1 >= end || eol[1] != '\n')
            return fail(c, eol != NULL ? eol : end,
                        "the message headers do not end with CRLF and a blank line (RFC "
                        "3862 sections 2 and 2.2)"),
                   NULL;
        if (eol == p)
            return p + 2;
        for (const char *q = p; q < eol; q++)
            if (ctl((unsigned char)*q))
                return fail(c, q, "a control character in a header (RFC 3862 section 2.2, "
                                  "MUST NOT)"),
                       NULL;
        size_t bad = cpim_utf8_bad_at(p, (size_t)(eol - p));
        if (bad != (size_t)(eol - p))
            return fail(c, p + bad, "a header that is no UTF-8 (RFC 3862 section 2.2, MUST)"),
                   NULL;
        if (*p == ' ' || eol[-1] == ' ')
            return fail(c, *p == ' ' ? p : eol - 1,
                        "whitespace at the beginning or end of a line (RFC 3862 section 2.2, "
                        "MUST NOT)"),
                   NULL;
        struct msrp_span prefix, name, v;
        if (!header_line(c, p, eol, &prefix, &name, &v))
            return NULL;
        m->headers++;
        if (prefix.len > 0) {
            bool known = false, imdn = false;
            for (size_t i = 0; i < ndeclared; i++)
                if (msrp_span_eq(declared[i], prefix))
                    known = true;
            if (!known)
                return fail(c, p, "a Name-prefix used before an NS header declares it (RFC "
                                  "3862 section 3.4, MUST)"),
                       NULL;
            imdn = m->imdn_prefix.len > 0 && msrp_span_eq(prefix, m->imdn_prefix);
            if (imdn && msrp_span_eq(name, MSRP_SPAN_LIT("Message-ID"))) {
                if (!cpim_token_valid(v))
                    return fail(c, v.ptr, "imdn.Message-ID is no Token (RFC 5438 section 10)"),
                           NULL;
                if (m->message_id.len > 0)
                    return fail(c, p, "a second imdn.Message-ID (RFC 5438 section 6.3)"),
                           NULL;
                m->message_id = v;
            } else if (imdn && msrp_span_eq(name, MSRP_SPAN_LIT("Disposition-Notification"))) {
                unsigned bits;
                if (!notify_value(c, v, &bits))
                    return NULL;
                m->has_notify = true;
                m->notify |= bits;
            }
        } else if (msrp_span_eq(name, MSRP_SPAN_LIT("From"))) {
            if (has_from)
                return fail(c, p, "a second From header (RFC 3862 section 4.1)"), NULL;
            if (!addr_value(c, v, &m->from))
                return NULL;
            has_from = true;
        } else if (msrp_span_eq(name, MSRP_SPAN_LIT("To"))) {
            struct msrp_span uri;
            if (!addr_value(c, v, &uri))
                return NULL;
            if (m->to.len == 0)
                m->to = uri;
        } else if (msrp_span_eq(name, MSRP_SPAN_LIT("DateTime"))) {
            if (has_dt)
                return fail(c, p, "a second DateTime header (RFC 3862 section 4.4)"), NULL;
            if (!datetime_ok(v))
                return fail(c, v.ptr, "DateTime is no RFC 3339 date-time (RFC 3862 section "
                                      "4.4)"),
                       NULL;
            m->datetime = v;
            has_dt = true;
        } else if (msrp_span_eq(name, MSRP_SPAN_LIT("NS"))) {
            /* NS-header = "NS" ": " [ Name-prefix ] "<" URI ">" (section 4.6) */
            const char *q = v.ptr, *ve = v.ptr + v.len;
            while (q < ve && namechar((unsigned char)*q))
                q++;
            struct msrp_span pfx = msrp_span_make(v.ptr, (size_t)(q - v.ptr));
            if (pfx.len > 0) {
                if (q >= ve || *q != ' ')
                    return fail(c, q, "NS: no SP after the Name-prefix (RFC 3862 4.6)"), NULL;
                q++;
            }
            if (q >= ve || *q != '<' || ve[-1] != '>' || ve - q < 3)
                return fail(c, q, "NS: no \"<URI>\" (RFC 3862 section 4.6)"), NULL;
            struct msrp_span uri = msrp_span_make(q + 1, (size_t)(ve - q - 2));
            if (pfx.len > 0) {
                if (ndeclared == sizeof(declared) / sizeof(declared[0]))
                    return fail(c, p, "more than 8 NS headers"), NULL;
                declared[ndeclared++] = pfx;
                if (msrp_span_eq(uri, MSRP_SPAN_LIT(CPIM_IMDN_NS)))
                    m->imdn_prefix = pfx;
            }
        }
        /* other headers: ignored unless named by Require (RFC 3862 section 2.2) */
        p = eol + 2;
    }
}

bool cpim_parse(const char *buf, size_t len, struct cpim_msg *out, struct cpim_error *err)
{
    struct cur c = {buf, err};
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return fail(&c, buf, "an empty body is no message/cpim (RFC 3862 section 2)");
    const char *end = buf + len;
    const char *p = message_headers(&c, buf, end, out);
    if (p == NULL)
        return false;
    if (out->from.len == 0)
        return fail(&c, p, "no From header (RFC 3862 section 4.1)");
    if (out->to.len == 0)
        return fail(&c, p, "no To header (RFC 3862 section 4.2)");
    if (out->has_notify && out->message_id.len == 0)
        return fail(&c, p, "IMDNs requested without imdn.Message-ID (RFC 5438 section "
                           "7.1.1.1, MUST)");
    if (out->has_notify && out->datetime.len == 0)
        return fail(&c, p, "IMDNs requested without DateTime (RFC 5438 section 7.1.1.2, MUST)");
    /* The encapsulated MIME object's headers (RFC 2045 fields: names compared without case,
     * folded lines allowed), then a blank line. */
    for (;;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL || eol == p || eol[-1] != '\r')
            return fail(&c, eol != NULL ? eol : end,
                        "the inner MIME headers do not end with CRLF and a blank line (RFC "
                        "3862 section 2.4)");
        if (eol - 1 == p) {
            p = eol + 1;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p)
            return fail(&c, p, "an inner MIME header without a name and \":\" (RFC 3862 2.4)");
        for (const char *q = p; q < colon; q++)
            if (ctl((unsigned char)*q) || *q == ' ' || (unsigned char)*q >= 0x7f)
                return fail(&c, q, "a byte that is not allowed in an inner header name");
        const char *v = colon + 1;
        const char *ve = eol - 1;
        /* folded continuation lines belong to this header */
        while (eol + 1 < end && (eol[1] == ' ' || eol[1] == '\t')) {
            const char *next = memchr(eol + 1, '\n', (size_t)(end - eol - 1));
            if (next == NULL || next[-1] != '\r')
                return fail(&c, eol + 1, "a folded inner header line without CRLF");
            eol = next;
            ve = eol - 1;
        }
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        struct msrp_span name = msrp_span_make(p, (size_t)(colon - p));
        struct msrp_span val = msrp_span_make(v, (size_t)(ve - v));
        if (msrp_span_eq_nocase(name, MSRP_SPAN_LIT("Content-Type"))) {
            struct msrp_media_type mt;
            if (!msrp_media_type_parse(val, &mt))
                return fail(&c, v, "the inner Content-Type is no media type (RFC 2045)");
            out->content_type = val;
        } else if (msrp_span_eq_nocase(name, MSRP_SPAN_LIT("Content-Disposition"))) {
            out->content_disposition = val;
        }
        p = eol + 1;
    }
    if (out->content_type.len == 0)
        return fail(&c, p, "the inner MIME headers have no Content-Type (RFC 3862 section "
                           "2.4, MUST)");
    out->body = msrp_span_make(p, (size_t)(end - p));
    return true;
}
