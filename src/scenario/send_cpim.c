/*
 * send_cpim.c - a send step's "cpim" key (scenarios/README.md, "send"): true, false or an
 * object with from, to, content_type and imdn; and the check, once the answer section is
 * read, that every CPIM send's types are ones our own answering end takes (RFC 4975 section
 * 8.6). Owns: struct step_cpim's defaults and rules.
 */
#include "scenario/internal.h"

#include <stdio.h>
#include <string.h>

#include "wire/cpim.h"
#include "wire/values.h"

#define URI_WHAT "an absolute URI such as \"im:alice@example.com\" (no spaces, < or >)"
#define IMDN_WHAT "false or an array of \"positive-delivery\" and \"display\""
#define CPIM_WHAT "true, false or an object with from, to, content_type and imdn"

static bool uri_valid(const char *s)
{
    return s[0] != '\0' && strchr(s, ':') != NULL && strpbrk(s, " <>\"") == NULL &&
           cpim_utf8_bad_at(s, strlen(s)) == strlen(s);
}

static bool type_valid(const char *s)
{
    struct msrp_media_type mt;
    return msrp_media_type_parse(msrp_span_cstr(s), &mt);
}

static int read_imdn(struct scn__ctx *c, const json_t *v, void *base)
{
    struct step_cpim *p = base;
    if (json_is_false(v)) {
        p->notify = 0;
        return 0;
    }
    if (!json_is_array(v))
        return scn__expected(c, IMDN_WHAT, v, false);
    p->notify = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        size_t mark = scn__path_push(c, "[%zu]", i);
        const char *s = json_is_string(e) ? json_string_value(e) : "";
        /* Only these two: a delivery notification is what the answering end sends; a display
         * one is asked for (RFC 5438 7.1.1.3) but no user of ours ever displays a message. */
        unsigned bit = strcmp(s, "positive-delivery") == 0 ? CPIM_NOTIFY_POSITIVE_DELIVERY
                       : strcmp(s, "display") == 0         ? CPIM_NOTIFY_DISPLAY
                                                           : 0;
        if (bit == 0)
            return scn__expected(c, "\"positive-delivery\" or \"display\"", e, true);
        if (p->notify & bit)
            return scn__fail(c, "\"%s\" listed twice", s);
        p->notify |= bit;
        scn__path_pop(c, mark);
    }
    return 0;
}

int scn__read_cpim(struct scn__ctx *c, const json_t *v, struct step_send *s, bool type_given)
{
    struct step_cpim *p = &s->cpim;
    memset(p, 0, sizeof(*p));
    if (json_is_false(v))
        return 0;
    p->on = true;
    snprintf(p->from, sizeof(p->from), "im:alice@msrpload.invalid");
    snprintf(p->to, sizeof(p->to), "im:bob@msrpload.invalid");
    p->notify = CPIM_NOTIFY_POSITIVE_DELIVERY;
    if (json_is_true(v))
        return 0;
    if (!json_is_object(v))
        return scn__expected(c, CPIM_WHAT, v, false);
    static const char *const allowed[] = {"from", "to", "content_type", "imdn", NULL};
    static const struct scn__key keys[] = {
        SCN_KEY_STRING("from", struct step_cpim, from, URI_WHAT, true, uri_valid),
        SCN_KEY_STRING("to", struct step_cpim, to, URI_WHAT, true, uri_valid),
        SCN_KEY_CUSTOM("imdn", read_imdn),
    };
    if (scn__check_keys(c, v, allowed) != 0 || SCN__READ_KEYS(c, v, keys, p) != 0)
        return -1;
    const json_t *ct = json_object_get(v, "content_type");
    if (ct != NULL) {
        size_t mark = scn__path_push(c, ".content_type");
        if (type_given)
            return scn__fail(c, "not allowed together with the send's own \"content_type\" "
                                "(with cpim, that one is the inner type too)");
        if (!json_is_string(ct) || json_string_length(ct) >= sizeof(s->content_type) ||
            !type_valid(json_string_value(ct)))
            return scn__expected(c, "a media type such as \"text/plain\"", ct, true);
        strcpy(s->content_type, json_string_value(ct));
        scn__path_pop(c, mark);
    }
    return 0;
}

/* A type in a space-separated accept list (the session's matching: "*" alone, type/ "*"). */
static bool listed(const char *list, const char *type)
{
    struct msrp_media_type mt;
    if (!msrp_media_type_parse(msrp_span_cstr(type), &mt))
        return false;
    for (const char *p = list; *p != '\0';) {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end != '\0' && *end != ' ')
            end++;
        size_t n = (size_t)(end - p);
        const char *slash = memchr(p, '/', n);
        if (n == 1 && *p == '*')
            return true;
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

/* RFC 4975 section 8.6: an endpoint MUST NOT send content of a type its peer did not signal
 * in accept-types or accept-wrapped-types, nor a top-level type not in accept-types. Our own
 * answering end's lists are the answer section's, so a scenario that would break it is
 * refused here; the IMDN sent back (message/imdn+xml) must be listed the same way. */
int scn__check_cpim_types(struct scn__ctx *c)
{
    struct scenario *sc = c->sc;
    for (unsigned i = 0; i < sc->num_steps; i++) {
        const struct step *st = &sc->steps[i];
        if (st->kind != SCN_STEP_SEND || !st->u.send.cpim.on)
            continue;
        const char *inner = st->u.send.content_type;
        if (!listed(sc->accept_types, "message/cpim")) {
            scn__path_push(c, ".answer.accept_types");
            return scn__fail(c, "a send uses cpim but message/cpim is not listed (RFC 4975 "
                                "section 8.6, MUST NOT send a top-level type not listed)");
        }
        if (!listed(sc->accept_types, inner) && !listed(sc->accept_wrapped_types, inner)) {
            scn__path_push(c, ".answer.accept_wrapped_types");
            return scn__fail(c, "the inner type %s of a cpim send is listed in neither "
                                "accept_types nor accept_wrapped_types (RFC 4975 section 8.6, "
                                "MUST NOT)", inner);
        }
        if (st->u.send.cpim.notify & CPIM_NOTIFY_POSITIVE_DELIVERY &&
            !listed(sc->accept_types, "message/imdn+xml") &&
            !listed(sc->accept_wrapped_types, "message/imdn+xml")) {
            scn__path_push(c, ".answer.accept_wrapped_types");
            return scn__fail(c, "positive-delivery notifications come back as "
                                "message/imdn+xml inside message/cpim, which is not listed "
                                "(RFC 4975 section 8.6)");
        }
    }
    return 0;
}
