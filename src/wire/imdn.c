/*
 * imdn.c - the message/imdn+xml document of imdn.h: written from a template, read by a small
 * strict XML reader (no tree, spans into the caller's buffer, nesting bounded). Owns which
 * XML this project accepts as an IMDN (imdn.h says what and why no library).
 */
#include <stdio.h>
#include <string.h>

#include "wire/cpim.h"
#include "wire/imdn.h"

#define MAX_DEPTH 16

static const char *kind_element(enum imdn_kind k)
{
    switch (k) {
    case IMDN_DELIVERY:
        return "delivery-notification";
    case IMDN_DISPLAY:
        return "display-notification";
    case IMDN_PROCESSING:
        return "processing-notification";
    }
    return NULL;
}

static bool text_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p == '<' || *p == '&' || *p == '>')
            return false;
    return cpim_utf8_bad_at(s, strlen(s)) == strlen(s);
}

static bool name_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    for (const char *p = s; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '-'))
            return false;
    return true;
}

size_t imdn_build_xml(const struct imdn_build *b, char *buf, size_t cap)
{
    const char *kind = kind_element(b->kind);
    if (kind == NULL || !text_ok(b->message_id) || !text_ok(b->datetime) ||
        (b->recipient != NULL && !text_ok(b->recipient)) || !name_ok(b->status))
        return 0;
    int n = snprintf(buf, cap,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
                     "<imdn xmlns=\"" IMDN_XML_NS "\">"
                     "<message-id>%s</message-id><datetime>%s</datetime>%s%s%s"
                     "<%s><status><%s/></status></%s></imdn>\r\n",
                     b->message_id, b->datetime, b->recipient != NULL ? "<recipient-uri>" : "",
                     b->recipient != NULL ? b->recipient : "",
                     b->recipient != NULL ? "</recipient-uri>" : "", kind, b->status, kind);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}

/* ---- the reader --------------------------------------------------------------------------- */

struct xr {
    const char *base, *p, *end;
    size_t *err_offset;
    const char **err_what;
};

static bool xfail(struct xr *x, const char *at, const char *what)
{
    *x->err_offset = (size_t)(at - x->base);
    *x->err_what = what;
    return false;
}

static bool at_str(const struct xr *x, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(x->end - x->p) >= n && memcmp(x->p, s, n) == 0;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_ws(struct xr *x)
{
    while (x->p < x->end && is_ws(*x->p))
        x->p++;
}

/* Whitespace and comments (XML 1.0 Misc, without processing instructions). */
static bool skip_misc(struct xr *x)
{
    for (;;) {
        skip_ws(x);
        if (!at_str(x, "<!--"))
            return true;
        const char *c = x->p;
        for (x->p += 4;; x->p++) {
            if (x->end - x->p < 3)
                return xfail(x, c, "an unterminated comment");
            if (memcmp(x->p, "--", 2) == 0) {
                if (x->p[2] != '>')
                    return xfail(x, x->p, "\"--\" inside a comment (XML 1.0)");
                x->p += 3;
                break;
            }
        }
    }
}

static bool namechar(char c, bool first)
{
    unsigned char u = (unsigned char)c;
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u == ':' ||
           u >= 0x80 || (!first && ((u >= '0' && u <= '9') || u == '-' || u == '.'));
}

static bool read_name(struct xr *x, struct msrp_span *name)
{
    const char *s = x->p;
    if (x->p >= x->end || !namechar(*x->p, true))
        return xfail(x, x->p, "an XML name expected");
    while (x->p < x->end && namechar(*x->p, false))
        x->p++;
    *name = msrp_span_make(s, (size_t)(x->p - s));
    return true;
}

/* Character data up to the next "<": entity references must be the predefined or numeric
 * ones (XML 1.0 4.1, 4.6), no "]]>". */
static bool read_text(struct xr *x, struct msrp_span *text)
{
    const char *s = x->p;
    while (x->p < x->end && *x->p != '<') {
        if (*x->p == '&') {
            const char *semi = memchr(x->p, ';', (size_t)(x->end - x->p));
            size_t n = semi != NULL ? (size_t)(semi - x->p) : 0;
            bool ok = semi != NULL &&
                      ((n == 3 && (memcmp(x->p, "&lt", 3) == 0 || memcmp(x->p, "&gt", 3) == 0)) ||
                       (n == 4 && memcmp(x->p, "&amp", 4) == 0) ||
                       (n == 5 && (memcmp(x->p, "&quot", 5) == 0 ||
                                   memcmp(x->p, "&apos", 5) == 0)));
            if (!ok && semi != NULL && n >= 3 && x->p[1] == '#') {
                bool hex = x->p[2] == 'x';
                const char *d = x->p + (hex ? 3 : 2);
                ok = d < semi;
                for (; d < semi; d++)
                    if (!((*d >= '0' && *d <= '9') ||
                          (hex && ((*d >= 'a' && *d <= 'f') || (*d >= 'A' && *d <= 'F')))))
                        ok = false;
            }
            if (!ok)
                return xfail(x, x->p, "an entity reference that is not predefined (XML 1.0)");
            x->p = semi + 1;
            continue;
        }
        if (*x->p == '>' && x->p - s >= 2 && memcmp(x->p - 2, "]]", 2) == 0)
            return xfail(x, x->p, "\"]]>\" in character data (XML 1.0 2.4)");
        x->p++;
    }
    *text = msrp_span_make(s, (size_t)(x->p - s));
    return true;
}

/* "<" Name *(S Attribute) S? ("/>" | ">"). *xmlns receives the default namespace's value. */
static bool start_tag(struct xr *x, struct msrp_span *name, bool *empty, struct msrp_span *xmlns)
{
    if (x->p >= x->end || *x->p != '<')
        return xfail(x, x->p, "a start tag expected");
    if (x->p + 1 < x->end && (x->p[1] == '!' || x->p[1] == '?'))
        return xfail(x, x->p, "a DTD, CDATA section or processing instruction (refused)");
    x->p++;
    if (!read_name(x, name))
        return false;
    *xmlns = msrp_span_make(NULL, 0);
    for (;;) {
        const char *before = x->p;
        skip_ws(x);
        if (x->p >= x->end)
            return xfail(x, x->p, "a start tag not closed");
        if (*x->p == '>' || at_str(x, "/>")) {
            *empty = *x->p == '/';
            x->p += *empty ? 2 : 1;
            return true;
        }
        if (x->p == before)
            return xfail(x, x->p, "no whitespace before an attribute (XML 1.0 3.1)");
        struct msrp_span an;
        if (!read_name(x, &an))
            return false;
        skip_ws(x);
        if (x->p >= x->end || *x->p != '=')
            return xfail(x, x->p, "\"=\" expected after an attribute name");
        x->p++;
        skip_ws(x);
        if (x->p >= x->end || (*x->p != '"' && *x->p != '\''))
            return xfail(x, x->p, "a quoted attribute value expected");
        char q = *x->p++;
        const char *v = x->p;
        while (x->p < x->end && *x->p != q) {
            if (*x->p == '<')
                return xfail(x, x->p, "\"<\" in an attribute value (XML 1.0 3.1)");
            x->p++;
        }
        if (x->p >= x->end)
            return xfail(x, v, "an attribute value not closed");
        if (msrp_span_eq(an, MSRP_SPAN_LIT("xmlns")))
            *xmlns = msrp_span_make(v, (size_t)(x->p - v));
        x->p++;
    }
}

static bool end_tag(struct xr *x, struct msrp_span name)
{
    const char *at = x->p;
    struct msrp_span got;
    if (!at_str(x, "</"))
        return xfail(x, x->p, "an end tag expected");
    x->p += 2;
    if (!read_name(x, &got))
        return false;
    skip_ws(x);
    if (!msrp_span_eq(got, name) || x->p >= x->end || *x->p != '>')
        return xfail(x, at, "an end tag that does not match its start tag (XML 1.0 3)");
    x->p++;
    return true;
}

/* Skips the content of an element whose start tag was read, and its end tag. */
static bool skip_element(struct xr *x, struct msrp_span name, bool empty, int depth)
{
    if (empty)
        return true;
    if (depth > MAX_DEPTH)
        return xfail(x, x->p, "elements nested too deep");
    for (;;) {
        struct msrp_span t;
        if (!read_text(x, &t) || !skip_misc(x))
            return false;
        if (at_str(x, "</"))
            return end_tag(x, name);
        struct msrp_span child, ns;
        bool e;
        if (!start_tag(x, &child, &e, &ns) || !skip_element(x, child, e, depth + 1))
            return false;
    }
}

/* An element holding text only (message-id, datetime, ...). */
static bool text_element(struct xr *x, struct msrp_span name, bool empty, struct msrp_span *text)
{
    if (empty) {
        *text = msrp_span_make(x->p, 0);
        return true;
    }
    if (!read_text(x, text))
        return false;
    return end_tag(x, name);
}

/* Whitespace and comments only between the children of a container element. */
static bool between_children(struct xr *x)
{
    const char *s = x->p;
    struct msrp_span t;
    if (!read_text(x, &t))
        return false;
    for (size_t i = 0; i < t.len; i++)
        if (!is_ws(t.ptr[i]))
            return xfail(x, s + i, "text where only elements belong (RFC 5438 11.1.9)");
    return skip_misc(x);
}

static bool qualified(struct msrp_span n)
{
    return memchr(n.ptr, ':', n.len) != NULL;
}

/* <status> holds one element of the IMDN namespace (11.1.7); extensions are skipped. */
static bool status_element(struct xr *x, bool empty, struct imdn_doc *out)
{
    if (empty)
        return xfail(x, x->p, "an empty <status> (RFC 5438 section 11.1.7)");
    for (;;) {
        if (!between_children(x))
            return false;
        if (at_str(x, "</"))
            break;
        struct msrp_span n, ns;
        bool e;
        if (!start_tag(x, &n, &e, &ns) || !skip_element(x, n, e, 3))
            return false;
        if (qualified(n))
            continue;
        if (out->status.len > 0)
            return xfail(x, n.ptr, "<status> holds more than one status (RFC 5438 11.1.7)");
        out->status = n;
    }
    if (out->status.len == 0)
        return xfail(x, x->p, "<status> holds no status (RFC 5438 section 11.1.7)");
    return end_tag(x, MSRP_SPAN_LIT("status"));
}

static bool notification_element(struct xr *x, struct msrp_span name, bool empty,
                                  struct imdn_doc *out)
{
    if (empty)
        return xfail(x, x->p, "a notification element without <status> (RFC 5438 11.1.6)");
    bool seen = false;
    for (;;) {
        if (!between_children(x))
            return false;
        if (at_str(x, "</"))
            break;
        struct msrp_span n, ns;
        bool e;
        const char *at = x->p;
        if (!start_tag(x, &n, &e, &ns))
            return false;
        if (msrp_span_eq(n, MSRP_SPAN_LIT("status"))) {
            if (seen)
                return xfail(x, at, "a second <status> (RFC 5438 section 11.1.9)");
            seen = true;
            if (!status_element(x, e, out))
                return false;
        } else if (!qualified(n)) {
            return xfail(x, at, "an element the IMDN schema does not have (RFC 5438 11.1.9)");
        } else if (!skip_element(x, n, e, 2)) {
            return false;
        }
    }
    if (!seen)
        return xfail(x, x->p, "a notification element without <status> (RFC 5438 11.1.6)");
    return end_tag(x, name);
}

bool imdn_parse_xml(const char *buf, size_t len, struct imdn_doc *out, size_t *err_offset,
                    const char **err_what)
{
    struct xr x = {buf, buf, buf + len, err_offset, err_what};
    memset(out, 0, sizeof(*out));
    size_t bad = cpim_utf8_bad_at(buf, len);
    if (bad != len)
        return xfail(&x, buf + bad, "the document is no UTF-8 (RFC 5438 section 11.1, MUST)");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)buf[i] < 0x20 && !is_ws(buf[i]))
            return xfail(&x, buf + i, "a control character (XML 1.0 2.2)");
    if (at_str(&x, "<?xml")) {
        const char *q = NULL; /* buf need not end in a NUL: searched within len */
        for (const char *s = x.p; s + 1 < x.end; s++)
            if (s[0] == '?' && s[1] == '>') {
                q = s;
                break;
            }
        if (q == NULL)
            return xfail(&x, x.p, "an XML declaration not closed");
        x.p = q + 2;
    }
    if (!skip_misc(&x))
        return false;
    struct msrp_span root, ns;
    bool empty;
    const char *at = x.p;
    if (!start_tag(&x, &root, &empty, &ns))
        return false;
    if (!msrp_span_eq(root, MSRP_SPAN_LIT("imdn")) || !msrp_span_eq(ns, MSRP_SPAN_LIT(IMDN_XML_NS)))
        return xfail(&x, at, "the root is not <imdn xmlns=\"" IMDN_XML_NS "\"> (RFC 5438 11.1)");
    if (empty)
        return xfail(&x, at, "an empty <imdn> (RFC 5438 section 11.1.1)");
    for (;;) {
        if (!between_children(&x))
            return false;
        if (at_str(&x, "</"))
            break;
        struct msrp_span n, cns;
        bool e;
        at = x.p;
        if (!start_tag(&x, &n, &e, &cns))
            return false;
        struct msrp_span *text = NULL;
        if (msrp_span_eq(n, MSRP_SPAN_LIT("message-id")))
            text = &out->message_id;
        else if (msrp_span_eq(n, MSRP_SPAN_LIT("datetime")))
            text = &out->datetime;
        else if (msrp_span_eq(n, MSRP_SPAN_LIT("recipient-uri")))
            text = &out->recipient;
        if (text != NULL) {
            if (text->ptr != NULL)
                return xfail(&x, at, "an element that may appear once appears twice (RFC "
                                     "5438 section 11.1.9)");
            if (!text_element(&x, n, e, text))
                return false;
            if (text->len == 0)
                return xfail(&x, at, "an empty text element (RFC 5438 section 11.1.9)");
            continue;
        }
        enum imdn_kind k = 0;
        for (enum imdn_kind i = IMDN_DELIVERY; i <= IMDN_PROCESSING; i++)
            if (msrp_span_eq(n, msrp_span_cstr(kind_element(i))))
                k = i;
        if (k != 0) {
            if (out->kind != 0)
                return xfail(&x, at, "more than one notification element (RFC 5438 11.1.6)");
            out->kind = k;
            if (!notification_element(&x, n, e, out))
                return false;
        } else if (qualified(n) || msrp_span_eq(n, MSRP_SPAN_LIT("original-recipient-uri")) ||
                   msrp_span_eq(n, MSRP_SPAN_LIT("subject"))) {
            if (!skip_element(&x, n, e, 1))
                return false;
        } else {
            return xfail(&x, at, "an element the IMDN schema does not have (RFC 5438 11.1.9)");
        }
    }
    if (!end_tag(&x, root) || !skip_misc(&x))
        return false;
    if (x.p != x.end)
        return xfail(&x, x.p, "content after the root element (XML 1.0 2.1)");
    if (out->message_id.len == 0)
        return xfail(&x, x.p, "no <message-id> (RFC 5438 section 11.1.1, mandatory)");
    if (out->datetime.len == 0)
        return xfail(&x, x.p, "no <datetime> (RFC 5438 section 11.1.2, mandatory)");
    if (out->kind == 0)
        return xfail(&x, x.p, "no notification element (RFC 5438 section 11.1.6, mandatory)");
    return true;
}
