/*
 * cpim_peer.c - the answering end's message/cpim handling of cpim_peer.h: unwrap, check,
 * build and send the delivery IMDN. Owns the notification's shape (which headers, which XML).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msrp/cpim_peer.h"
#include "msrp/session_int.h"
#include "wire/imdn.h"
#include "wire/values.h"

#define IMDN_ID_LEN 16

bool msrp_type_listed(const char *list, struct msrp_span type)
{
    struct msrp_media_type mt;
    if (list == NULL)
        return true;
    if (!msrp_media_type_parse(type, &mt))
        return false;
    for (const char *p = list; *p != '\0';) {
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
            struct msrp_span t = {p, (size_t)(slash - p)};
            struct msrp_span st = {slash + 1, (size_t)(end - slash - 1)};
            if (msrp_span_eq_nocase(t, mt.type) &&
                ((st.len == 1 && st.ptr[0] == '*') || msrp_span_eq_nocase(st, mt.subtype)))
                return true;
        }
        p = end;
    }
    return false;
}

static bool is_type(struct msrp_span ct, const char *type, const char *subtype)
{
    struct msrp_media_type mt;
    return msrp_media_type_parse(ct, &mt) && msrp_span_eq_nocase(mt.type, msrp_span_cstr(type)) &&
           msrp_span_eq_nocase(mt.subtype, msrp_span_cstr(subtype));
}

static bool copy_span(char *dst, size_t cap, struct msrp_span s)
{
    if (s.len >= cap)
        return false;
    memcpy(dst, s.ptr, s.len);
    dst[s.len] = '\0';
    return true;
}

/* RFC 5438 7.2.1.1: the notification goes back From the IM's To, To its From. */
static void send_imdn(struct msrp_session *s, const struct cpim_msg *im, struct msrp_cpim_result *r)
{
    char from[256], to[256], orig_id[64], dt[64], id[IMDN_ID_LEN + 1], now[40];
    if (!copy_span(from, sizeof(from), im->to) || !copy_span(to, sizeof(to), im->from) ||
        !copy_span(orig_id, sizeof(orig_id), im->message_id) ||
        !copy_span(dt, sizeof(dt), im->datetime)) {
        snprintf(r->detail, sizeof(r->detail), "no IMDN sent: a URI, Message-ID or DateTime "
                 "too long to copy");
        return;
    }
    if (msrp_idgen_ident(session__ids(), id, IMDN_ID_LEN) != 0)
        return;
    id[IMDN_ID_LEN] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cpim_datetime_format((unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec,
                         now, sizeof(now));
    /* The IMDN's own DateTime is when it was made; the XML's <datetime> is the IM's (11.1.2). */
    struct cpim_build b = {.from = from, .to = to, .datetime = now, .message_id = id,
                           .content_type = IMDN_CONTENT_TYPE,
                           .content_disposition = "notification"};
    struct imdn_build x = {.message_id = orig_id, .datetime = dt, .recipient = from,
                           .kind = IMDN_DELIVERY, .status = "delivered"};
    size_t cap = 2048 + 2 * sizeof(from);
    char *buf = malloc(cap);
    if (buf == NULL)
        return;
    size_t h = cpim_build_head(&b, buf, cap);
    size_t n = h > 0 ? imdn_build_xml(&x, buf + h, cap - h) : 0;
    if (n == 0) {
        free(buf);
        snprintf(r->detail, sizeof(r->detail), "no IMDN sent: its values do not fit the rules");
        return;
    }
    struct msrp_send_opts o = {.content_type = "message/cpim", .owns_body = true};
    if (msrp_session_send(s, buf, h + n, &o) != 0) {
        free(buf);
        return;
    }
    r->imdn_sent = true;
}

void msrp_cpim_handle(struct msrp_session *s, const struct msrp_received *m,
                      const char *accept_types, const char *wrapped_types, bool reply,
                      struct msrp_cpim_result *r)
{
    memset(r, 0, sizeof(*r));
    if (!is_type(m->content_type, "message", "cpim"))
        return;
    if (m->aborted || m->body.ptr == NULL) {
        r->verdict = MSRP_CPIM_UNCHECKED;
        return;
    }
    struct cpim_msg im;
    struct cpim_error e;
    r->verdict = MSRP_CPIM_MALFORMED;
    if (!cpim_parse(m->body.ptr, m->body.len, &im, &e)) {
        snprintf(r->detail, sizeof(r->detail), "message/cpim: %s, at byte %zu", e.what,
                 e.offset);
        return;
    }
    /* RFC 4975 section 8.6: a wrapped type must be listed in accept-types or
     * accept-wrapped-types. */
    if (accept_types != NULL && !msrp_type_listed(accept_types, im.content_type) &&
        (wrapped_types == NULL || !msrp_type_listed(wrapped_types, im.content_type))) {
        snprintf(r->detail, sizeof(r->detail), "message/cpim wraps %.*s, which neither "
                 "accept-types nor accept-wrapped-types lists (RFC 4975 section 8.6, MUST NOT)",
                 (int)(im.content_type.len < 100 ? im.content_type.len : 100),
                 im.content_type.ptr);
        return;
    }
    if (is_type(im.content_type, "message", "imdn+xml")) {
        struct imdn_doc d;
        size_t off;
        const char *what;
        if (im.message_id.len == 0) {
            snprintf(r->detail, sizeof(r->detail), "an IMDN without imdn.Message-ID (RFC 5438 "
                     "section 7.2.1, MUST)");
            return;
        }
        if (!imdn_parse_xml(im.body.ptr, im.body.len, &d, &off, &what)) {
            snprintf(r->detail, sizeof(r->detail), "message/imdn+xml: %s, at byte %zu of the "
                     "message/cpim body", what,
                     (size_t)(im.body.ptr - m->body.ptr) + off);
            return;
        }
        if (!copy_span(r->imdn_for, sizeof(r->imdn_for), d.message_id)) {
            snprintf(r->detail, sizeof(r->detail), "an IMDN for a Message-ID longer than we "
                     "ever send");
            return;
        }
        r->verdict = MSRP_CPIM_IMDN;
        return; /* never an IMDN for an IMDN (RFC 5438 section 7.2.1, MUST NOT) */
    }
    r->verdict = MSRP_CPIM_OK;
    if (reply && (im.notify & CPIM_NOTIFY_POSITIVE_DELIVERY))
        send_imdn(s, &im, r);
}
