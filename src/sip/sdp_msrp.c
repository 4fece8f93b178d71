/*
 * sdp_msrp.c - SDP offer/answer for an MSRP stream: reading a description through libosip2's
 * sdp_message_t, writing offers and answers, and the rules of RFC 4975 section 8, RFC 6714
 * (CEMA) and the a=setup role (RFC 4145 / RFC 6135) that decide who connects where.
 *
 * RFC 4975 and RFC 6714 are quoted from ../shared/rfc/. RFC 4145, RFC 6135 and RFC 3264 are not
 * there: the rules taken from them say "(from memory)".
 */
#include "sip/sdp_msrp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_port.h>
#include <osipparser2/sdp_message.h>

#include "sip/msg.h"
#include "wire/uri.h"
#include "wire/values.h"

const char *sip_sdp_setup_name(enum sip_sdp_setup s)
{
    switch (s) {
    case SIP_SDP_SETUP_ACTIVE: return "active";
    case SIP_SDP_SETUP_PASSIVE: return "passive";
    case SIP_SDP_SETUP_ACTPASS: return "actpass";
    case SIP_SDP_SETUP_HOLDCONN: return "holdconn";
    case SIP_SDP_SETUP_NONE: break;
    }
    return "none";
}

const char *sip_sdp_error_text(enum sip_sdp_error e)
{
    switch (e) {
    case SIP_SDP_OK: return "ok";
    case SIP_SDP_E_SYNTAX: return "malformed SDP";
    case SIP_SDP_E_TOO_LONG: return "SDP value too long or too many m= lines";
    case SIP_SDP_E_NO_MSRP: return "no m=message line with TCP/MSRP or TCP/TLS/MSRP";
    case SIP_SDP_E_FORMAT: return "MSRP m= line format list is not \"*\"";
    case SIP_SDP_E_PORT: return "bad m= port";
    case SIP_SDP_E_NO_PATH: return "no a=path";
    case SIP_SDP_E_PATH: return "bad a=path";
    case SIP_SDP_E_NO_ACCEPT: return "no a=accept-types";
    case SIP_SDP_E_TYPES: return "bad accept-types or accept-wrapped-types";
    case SIP_SDP_E_MAX_SIZE: return "bad a=max-size";
    case SIP_SDP_E_SETUP: return "bad a=setup";
    case SIP_SDP_E_NO_C: return "no c= line for the MSRP stream";
    }
    return "unknown SDP error";
}

static void say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t cap, const char *fmt, ...)
{
    if (!why || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

static bool copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* ---- format-lists (RFC 4975 section 8.6, Figure 8) ---------------------------------------- */

/* Next format-entry of a format-list: entries are separated by SP (a run is tolerated); a
 * quoted parm-value may hold SP. Returns false at the end. */
static bool next_entry(const char **p, const char **start, size_t *len)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    if (!*s)
        return false;
    const char *e = s;
    bool quoted = false;
    while (*e && (quoted || *e != ' ')) {
        if (quoted && *e == '\\' && e[1])
            e++;
        else if (*e == '"')
            quoted = !quoted;
        e++;
    }
    *start = s;
    *len = (size_t)(e - s);
    *p = e;
    return true;
}

/* One entry: "*", or type "/" (subtype / "*") *( ";" type-param ). */
struct fentry {
    bool any;                   /* "*" */
    struct msrp_span type, sub; /* sub is "*" for type/ * */
};

static bool parse_entry(const char *s, size_t len, struct fentry *out)
{
    memset(out, 0, sizeof *out);
    if (len == 1 && s[0] == '*') {
        out->any = true;
        return true;
    }
    struct msrp_media_type mt;
    if (!msrp_media_type_parse(msrp_span_make(s, len), &mt))
        return false;
    /* RFC 4975 Figure 8: type = token; a bare "*" type is only the whole-entry "*". */
    if (mt.type.len == 1 && mt.type.ptr[0] == '*')
        return false;
    out->type = mt.type;
    out->sub = mt.subtype;
    return true;
}

static bool sub_any(const struct fentry *e)
{
    return e->sub.len == 1 && e->sub.ptr[0] == '*';
}

/* Checks a whole format-list; an empty one is malformed (format-list = format-entry *(SP ..)). */
static bool types_valid(const char *list)
{
    const char *p = list, *s;
    size_t n;
    int count = 0;
    struct fentry e;
    while (next_entry(&p, &s, &n)) {
        if (!parse_entry(s, n, &e))
            return false;
        count++;
    }
    return count > 0;
}

/* Is entry e covered by the list?  RFC 4975 section 8.6: "*" lets the sender try any type,
 * "type/ *" any subtype of the type, and "a format-entry with one or more parameters is
 * assumed to match the same format-entry with no parameters". */
static bool entry_within(const struct fentry *e, const char *list)
{
    const char *p = list, *s;
    size_t n;
    struct fentry a;
    while (next_entry(&p, &s, &n)) {
        if (!parse_entry(s, n, &a))
            continue;
        if (a.any)
            return true;
        if (e->any || !msrp_span_eq_nocase(a.type, e->type))
            continue;
        if (sub_any(&a) || (!sub_any(e) && msrp_span_eq_nocase(a.sub, e->sub)))
            return true;
    }
    return false;
}

bool sip_sdp_types_within(const char *types, const char *allowed)
{
    const char *p = types, *s;
    size_t n;
    struct fentry e;
    int count = 0;
    while (next_entry(&p, &s, &n)) {
        if (!parse_entry(s, n, &e) || !entry_within(&e, allowed))
            return false;
        count++;
    }
    return count > 0;
}

/* Appends entry text to a list unless an entry with the same type/subtype is there. */
static bool list_add(char *list, size_t cap, const char *s, size_t n)
{
    struct fentry e;
    if (!parse_entry(s, n, &e))
        return true;
    const char *p = list, *t;
    size_t m;
    struct fentry have;
    while (next_entry(&p, &t, &m)) {
        if (!parse_entry(t, m, &have))
            continue;
        if (have.any == e.any && (e.any || (msrp_span_eq_nocase(have.type, e.type) &&
                                            msrp_span_eq_nocase(have.sub, e.sub))))
            return true;
    }
    size_t len = strlen(list);
    size_t need = len + (len ? 1 : 0) + n;
    if (need >= cap)
        return false;
    if (len)
        list[len++] = ' ';
    memcpy(list + len, s, n);
    list[len + n] = '\0';
    return true;
}

/*
 * The answer's accept-types: our entries that lie within the offer's, so the answer never
 * admits a type the offerer did not list (the offerer "MUST NOT send content of a type not
 * signaled by the peer", RFC 4975 section 8.6, and here the answerer keeps to the offerer's list
 * as well). Our "*" takes the offer's entries; our "type/ *" the offer's entries of that type
 * (or itself when the offer has "*"). Returns false when out is too small.
 */
static bool types_intersect(const char *ours, const char *offer, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = ours, *s;
    size_t n;
    struct fentry e;
    while (next_entry(&p, &s, &n)) {
        if (!parse_entry(s, n, &e))
            continue;
        if (entry_within(&e, offer)) {
            if (!list_add(out, cap, s, n))
                return false;
            continue;
        }
        if (!e.any && !sub_any(&e))
            continue;
        const char *q = offer, *t;
        size_t m;
        struct fentry o;
        while (next_entry(&q, &t, &m)) {
            if (parse_entry(t, m, &o) && !o.any &&
                (e.any || msrp_span_eq_nocase(o.type, e.type)))
                if (!list_add(out, cap, t, m))
                    return false;
        }
    }
    return true;
}

/* A container type (RFC 4975 section 8.6: "MIME formats that contain other types
 * internally"): message/cpim, message/ *, multipart/ *, or "*", which admits them all. */
static bool is_container(const struct fentry *e)
{
    if (e->any || msrp_span_eq_nocase(e->type, msrp_span_cstr("multipart")))
        return true;
    return msrp_span_eq_nocase(e->type, msrp_span_cstr("message")) &&
           (sub_any(e) || msrp_span_eq_nocase(e->sub, msrp_span_cstr("cpim")));
}

static bool has_container(const char *list)
{
    const char *p = list, *s;
    size_t n;
    struct fentry e;
    while (next_entry(&p, &s, &n))
        if (parse_entry(s, n, &e) && is_container(&e))
            return true;
    return false;
}

/* Removes from list (in place) the entries that types already covers. */
static void drop_covered(char *list, const char *types)
{
    char kept[SIP_SDP_TYPES_MAX] = "";
    const char *p = list, *s;
    size_t n;
    struct fentry e;
    while (next_entry(&p, &s, &n))
        if (!parse_entry(s, n, &e) || !entry_within(&e, types))
            list_add(kept, sizeof kept, s, n);
    memcpy(list, kept, strlen(kept) + 1);
}

/* ---- addresses ---------------------------------------------------------------------------- */

/* Host equality as RFC 6714 section 4.4 asks, without DNS: IP literals by address (so IPv6
 * forms compare equal whatever their text, as its RFC 5952 note wants), names
 * case-insensitively; a name against a literal is undecided and counted as equal. */
static bool host_match(const char *a, size_t alen, const char *b, size_t blen)
{
    char x[SIP_SDP_ADDR_MAX], y[SIP_SDP_ADDR_MAX];
    if (alen >= sizeof x || blen >= sizeof y)
        return false;
    memcpy(x, a, alen);
    x[alen] = '\0';
    memcpy(y, b, blen);
    y[blen] = '\0';
    unsigned char ax[16], bx[16];
    int af_a = inet_pton(AF_INET6, x, ax) == 1 ? 6 : inet_pton(AF_INET, x, ax) == 1 ? 4 : 0;
    int af_b = inet_pton(AF_INET6, y, bx) == 1 ? 6 : inet_pton(AF_INET, y, bx) == 1 ? 4 : 0;
    if (af_a && af_b)
        return af_a == af_b && memcmp(ax, bx, af_a == 6 ? 16 : 4) == 0;
    if (af_a || af_b)
        return true;
    return strcasecmp(x, y) == 0;
}

/* Does the c=/m= pair name one of the path's URIs? (RFC 6714 sections 4.2, 4.3, 4.4) */
static bool cm_matches_path(const char *c_addr, uint16_t port, const char *path)
{
    struct msrp_span rest = msrp_span_cstr(path);
    struct msrp_uri u;
    while (msrp_uri_list_next(&rest, &u) == 1)
        if (u.port == port && host_match(c_addr, strlen(c_addr), u.host.ptr, u.host.len))
            return true;
    return false;
}

/* Checks a path for RFC 4975 section 8.2: one or more MSRP URIs, each "MUST include explicit
 * port numbers". Returns the count, or 0 with why filled. first/last may be NULL. */
static int path_check(const char *path, struct msrp_uri *first, struct msrp_uri *last, char *why,
                      size_t why_cap)
{
    struct msrp_span rest = msrp_span_cstr(path);
    struct msrp_uri u;
    int n = 0, r;
    while ((r = msrp_uri_list_next(&rest, &u)) == 1) {
        if (!u.has_port) {
            say(why, why_cap, "a=path URI %d has no port (RFC 4975 section 8.2: MUST include "
                "explicit port numbers)", n + 1);
            return 0;
        }
        if (n == 0 && first)
            *first = u;
        if (last)
            *last = u;
        n++;
    }
    if (r < 0) {
        say(why, why_cap, "a=path URI %d: %s (RFC 4975 section 8.2: path-list = MSRP-URI "
            "*(SP MSRP-URI))", n + 1, msrp_uri_error_text((enum msrp_uri_error)-r));
        return 0;
    }
    if (n == 0)
        say(why, why_cap, "empty a=path (RFC 4975 section 8.2: one or more MSRP URIs)");
    return n;
}

/* ---- reading ------------------------------------------------------------------------------ */

static bool parse_port(const char *s, uint16_t *out)
{
    if (!s || !*s || strlen(s) > 5)
        return false;
    unsigned v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

static bool is_msrp_proto(const char *proto, bool *tls)
{
    /* RFC 4975 section 8.1: "TCP/MSRP", or "TCP/TLS/MSRP" for TLS. SDP's proto is
     * case-sensitive in RFC 4566 (from memory); osip hands it as written. */
    if (proto && strcmp(proto, "TCP/MSRP") == 0) {
        *tls = false;
        return true;
    }
    if (proto && strcmp(proto, "TCP/TLS/MSRP") == 0) {
        *tls = true;
        return true;
    }
    return false;
}

static enum sip_sdp_error read_attrs(sdp_message_t *m, int mi, struct sip_sdp_msrp_desc *out,
                                     bool *have_path, bool *have_types, char *why, size_t wc)
{
    bool have_wrapped = false, have_setup = false;
    for (int k = 0;; k++) {
        sdp_attribute_t *a = sdp_message_attribute_get(m, mi, k);
        if (!a)
            break;
        const char *f = a->a_att_field, *v = a->a_att_value ? a->a_att_value : "";
        if (!f)
            continue;
        if (strcmp(f, "path") == 0) {
            if (*have_path) {
                say(why, wc, "a=path given twice");
                return SIP_SDP_E_PATH;
            }
            if (!copy_str(out->path, sizeof out->path, v)) {
                say(why, wc, "a=path longer than %d bytes", SIP_SDP_PATH_MAX - 1);
                return SIP_SDP_E_TOO_LONG;
            }
            *have_path = true;
        } else if (strcmp(f, "accept-types") == 0 || strcmp(f, "accept-wrapped-types") == 0) {
            bool wrapped = f[7] == 'w';
            bool *have = wrapped ? &have_wrapped : have_types;
            char *dst = wrapped ? out->accept_wrapped_types : out->accept_types;
            if (*have) {
                say(why, wc, "a=%s given twice", f);
                return SIP_SDP_E_TYPES;
            }
            if (!copy_str(dst, SIP_SDP_TYPES_MAX, v)) {
                say(why, wc, "a=%s longer than %d bytes", f, SIP_SDP_TYPES_MAX - 1);
                return SIP_SDP_E_TOO_LONG;
            }
            /* RFC 4975 section 8.6, Figure 8: format-list = format-entry *( SP format-entry) */
            if (!types_valid(v)) {
                say(why, wc, "a=%s:%s is not a format-list (RFC 4975 section 8.6, Figure 8)", f,
                    v);
                return SIP_SDP_E_TYPES;
            }
            *have = true;
        } else if (strcmp(f, "max-size") == 0) {
            /* RFC 4975 section 8.6, Figure 8: max-size-value = 1*(DIGIT) */
            uint64_t n = 0;
            bool ok = *v != '\0' && !out->has_max_size;
            for (const char *p = v; ok && *p; p++) {
                ok = *p >= '0' && *p <= '9' && n <= (UINT64_MAX - (uint64_t)(*p - '0')) / 10;
                n = n * 10 + (uint64_t)(*p - '0');
            }
            if (!ok) {
                say(why, wc, "a=max-size:%s is not 1*DIGIT or is repeated (RFC 4975 section "
                    "8.6)", v);
                return SIP_SDP_E_MAX_SIZE;
            }
            out->has_max_size = true;
            out->max_size = n;
        } else if (strcmp(f, "setup") == 0) {
            static const char *const names[] = {"active", "passive", "actpass", "holdconn"};
            int found = -1;
            for (int i = 0; i < 4; i++)
                if (strcmp(v, names[i]) == 0)
                    found = i;
            if (found < 0 || have_setup) {
                say(why, wc, "a=setup:%s is not active, passive, actpass or holdconn, or is "
                    "repeated (RFC 4145 section 4, from memory)", v);
                return SIP_SDP_E_SETUP;
            }
            out->setup = (enum sip_sdp_setup)(SIP_SDP_SETUP_ACTIVE + found);
            have_setup = true;
        } else if (strcmp(f, "msrp-cema") == 0) {
            /* RFC 6714 section 5.2: msrp-cema-attr = "msrp-cema", a property attribute. */
            out->cema = true;
        }
    }
    return SIP_SDP_OK;
}

enum sip_sdp_error sip_sdp_msrp_parse(const char *sdp, size_t len, struct sip_sdp_msrp_desc *out,
                                      char *why, size_t wc)
{
    say(why, wc, "%s", "");
    memset(out, 0, sizeof *out);
    out->msrp_index = -1;
    if (!sdp || memchr(sdp, '\0', len)) {
        say(why, wc, "SDP holds a NUL byte");
        return SIP_SDP_E_SYNTAX;
    }
    /* sdp_message_parse wants a C string. libosip2 5.3.0 reads past the NUL when the text
     * ends in a CR without its LF (found by test_parse_garbage under ASan), so a last line
     * without LF gets a CRLF here, and zeros pad the copy. */
    char *text = calloc(1, len + 8);
    if (!text) {
        say(why, wc, "out of memory");
        return SIP_SDP_E_TOO_LONG;
    }
    memcpy(text, sdp, len);
    if (len == 0 || text[len - 1] != '\n')
        memcpy(text + len, "\r\n", 2);
    sip_osip_init();
    sdp_message_t *m = NULL;
    enum sip_sdp_error err = SIP_SDP_OK;
    if (sdp_message_init(&m) != 0) {
        free(text);
        say(why, wc, "out of memory");
        return SIP_SDP_E_TOO_LONG;
    }
    if (sdp_message_parse(m, text) != 0) {
        say(why, wc, "libosip2 could not parse the SDP (RFC 4566 syntax)");
        err = SIP_SDP_E_SYNTAX;
        goto done;
    }
    for (int i = 0; !sdp_message_endof_media(m, i); i++) {
        if (i >= SIP_SDP_MEDIA_MAX) {
            say(why, wc, "more than %d m= lines", SIP_SDP_MEDIA_MAX);
            err = SIP_SDP_E_TOO_LONG;
            goto done;
        }
        const char *media = sdp_message_m_media_get(m, i);
        const char *proto = sdp_message_m_proto_get(m, i);
        const char *fmt = sdp_message_m_payload_get(m, i, 0);
        int w = snprintf(out->mlines[i], SIP_SDP_MLINE_MAX, "%s %s %s", media ? media : "-",
                         proto ? proto : "-", fmt ? fmt : "*");
        if (w < 0 || w >= SIP_SDP_MLINE_MAX) {
            say(why, wc, "m= line %d too long to keep", i + 1);
            err = SIP_SDP_E_TOO_LONG;
            goto done;
        }
        out->media_count = i + 1;
        bool tls;
        /* RFC 4975 section 8.1: the media field "MUST be "message"" for MSRP. */
        if (out->msrp_index < 0 && media && strcmp(media, "message") == 0 &&
            is_msrp_proto(proto, &tls)) {
            out->msrp_index = i;
            out->tls = tls;
        }
    }
    if (out->msrp_index < 0) {
        say(why, wc, "no m=message line with TCP/MSRP or TCP/TLS/MSRP (RFC 4975 section 8.1)");
        err = SIP_SDP_E_NO_MSRP;
        goto done;
    }
    int mi = out->msrp_index;
    /* RFC 4975 section 8.1: "The format list field MUST be set to "*"". */
    const char *fmt = sdp_message_m_payload_get(m, mi, 0);
    if (!fmt || strcmp(fmt, "*") != 0 || sdp_message_m_payload_get(m, mi, 1)) {
        say(why, wc, "the MSRP m= line's format list is not \"*\" (RFC 4975 section 8.1: MUST "
            "be set to \"*\")");
        err = SIP_SDP_E_FORMAT;
        goto done;
    }
    if (!parse_port(sdp_message_m_port_get(m, mi), &out->port)) {
        say(why, wc, "the MSRP m= port is not a number up to 65535");
        err = SIP_SDP_E_PORT;
        goto done;
    }
    /* A media-level c= overrides the session-level one (RFC 4566, from memory). */
    sdp_connection_t *c = sdp_message_connection_get(m, mi, 0);
    if (!c || !c->c_addr)
        c = sdp_message_connection_get(m, -1, 0);
    if (c && c->c_addr) {
        if (!copy_str(out->c_addr, sizeof out->c_addr, c->c_addr) ||
            !copy_str(out->c_addrtype, sizeof out->c_addrtype,
                      c->c_addrtype ? c->c_addrtype : "")) {
            say(why, wc, "c= address too long");
            err = SIP_SDP_E_TOO_LONG;
            goto done;
        }
    }
    bool have_path = false, have_types = false;
    err = read_attrs(m, mi, out, &have_path, &have_types, why, wc);
    if (err != SIP_SDP_OK)
        goto done;
    if (have_path) {
        out->path_count = path_check(out->path, NULL, NULL, why, wc);
        if (out->path_count == 0) {
            err = SIP_SDP_E_PATH;
            goto done;
        }
    }
    /* A declined stream (port 0) proposes nothing: path and accept-types are not required. */
    if (out->port == 0)
        goto done;
    /* RFC 4975 section 8.2: "Each SDP offer or answer that proposes MSRP MUST contain a
     * "path" attribute". */
    if (!have_path) {
        say(why, wc, "no a=path (RFC 4975 section 8.2: MUST contain a \"path\" attribute)");
        err = SIP_SDP_E_NO_PATH;
        goto done;
    }
    /* RFC 4975 section 8.6: "MUST be accompanied by an accept-types attribute". */
    if (!have_types) {
        say(why, wc, "no a=accept-types (RFC 4975 section 8.6: MUST be accompanied by an "
            "accept-types attribute)");
        err = SIP_SDP_E_NO_ACCEPT;
        goto done;
    }
    /* RFC 4975 section 8.1: c= carries the address of the endpoint's MSRP URI, and RFC 6714
     * section 4.4 compares against "the IP address ... retrieved from the SDP c-line". */
    if (!out->c_addr[0]) {
        say(why, wc, "no c= line for the MSRP stream (RFC 4975 section 8.1)");
        err = SIP_SDP_E_NO_C;
        goto done;
    }
done:
    sdp_message_free(m);
    free(text);
    return err;
}

/* Whether the description's c=/m= name one of its path URIs (RFC 6714 section 4.4). */
static bool desc_cm_matches(const struct sip_sdp_msrp_desc *d)
{
    return cm_matches_path(d->c_addr, d->port, d->path);
}

/* ---- writing ------------------------------------------------------------------------------ */

static bool clean(const char *s)
{
    return s && !strpbrk(s, "\r\n");
}

struct local_view {
    int path_count;
    struct msrp_uri first, last;
};

static int local_check(const struct sip_sdp_msrp_local *l, struct local_view *v, char *why,
                       size_t wc)
{
    if (!l || !clean(l->path) || !clean(l->accept_types) ||
        (l->accept_wrapped_types && !clean(l->accept_wrapped_types)) ||
        (l->user && (!clean(l->user) || !*l->user || strpbrk(l->user, " \t")))) {
        say(why, wc, "missing value, or CR/LF in one");
        return EINVAL;
    }
    if (strlen(l->path) >= SIP_SDP_PATH_MAX) {
        say(why, wc, "path too long");
        return EINVAL;
    }
    v->path_count = path_check(l->path, &v->first, &v->last, why, wc);
    if (v->path_count == 0)
        return EINVAL;
    /* RFC 4975 section 8.6: "MUST be accompanied by an accept-types attribute". */
    if (!types_valid(l->accept_types) ||
        (l->accept_wrapped_types && *l->accept_wrapped_types &&
         !types_valid(l->accept_wrapped_types))) {
        say(why, wc, "accept-types or accept-wrapped-types is not a format-list (RFC 4975 "
            "section 8.6)");
        return EINVAL;
    }
    return 0;
}

/*
 * The address and port for c= and m=. RFC 4975 section 8.1: "The connection address field MUST
 * be set to the IP address or fully qualified domain name from the MSRP URI identifying the
 * endpoint in its path attribute" and the port "MUST match the port value used in the
 * endpoint's MSRP URI" - the rightmost URI (section 8.2). With CEMA and a relay, RFC 6714
 * sections 4.2 and 4.3 (item 3 of each): "include the address information of the relay, rather
 * than its own address information, in the SDP c/m-line" - the leftmost URI.
 */
static const struct msrp_uri *stream_addr(const struct local_view *v, bool cema)
{
    return (cema && v->path_count > 1) ? &v->first : &v->last;
}

struct sdp_out {
    char *buf;
    size_t cap, len;
};

static void put(struct sdp_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct sdp_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

static int finish(struct sdp_out *o, size_t *len)
{
    if (len)
        *len = o->len;
    if (o->len >= o->cap) {
        if (o->cap)
            o->buf[0] = '\0';
        return ENOSPC;
    }
    return 0;
}

/* v=, o=, s=, c= (session level, so it covers every m= line) and t=. */
static void put_head(struct sdp_out *o, const struct sip_sdp_msrp_local *l,
                     const struct msrp_uri *at)
{
    const char *atype = at->host_type == MSRP_HOST_IPV6 ? "IP6" : "IP4";
    int hl = (int)at->host.len;
    put(o, "v=0\r\no=%s %" PRIu64 " %" PRIu64 " IN %s %.*s\r\ns=-\r\nc=IN %s %.*s\r\nt=0 0\r\n",
        l->user ? l->user : "-", l->sess_id, l->sess_version, atype, hl, at->host.ptr, atype,
        hl, at->host.ptr);
}

/* The MSRP m= line and its attributes. */
static void put_stream(struct sdp_out *o, const struct sip_sdp_msrp_local *l,
                       const struct msrp_uri *at, bool tls, const char *types,
                       const char *wrapped, enum sip_sdp_setup setup, bool cema)
{
    /* RFC 4975 section 8.1: media "message", proto "TCP/MSRP" or "TCP/TLS/MSRP", format "*". */
    put(o, "m=message %u %s *\r\n", (unsigned)at->port, tls ? "TCP/TLS/MSRP" : "TCP/MSRP");
    put(o, "a=accept-types:%s\r\n", types);
    if (wrapped && *wrapped)
        put(o, "a=accept-wrapped-types:%s\r\n", wrapped);
    if (l->max_size)
        put(o, "a=max-size:%" PRIu64 "\r\n", l->max_size);
    put(o, "a=path:%s\r\n", l->path);
    if (setup != SIP_SDP_SETUP_NONE)
        put(o, "a=setup:%s\r\n", sip_sdp_setup_name(setup));
    if (cema)
        put(o, "a=msrp-cema\r\n");
}

int sip_sdp_msrp_offer(const struct sip_sdp_msrp_local *l, char *out, size_t cap, size_t *len,
                       char *why, size_t wc)
{
    say(why, wc, "%s", "");
    if (!out && cap)
        return EINVAL;
    if (cap)
        out[0] = '\0';
    struct local_view v;
    if (local_check(l, &v, why, wc) != 0)
        return EINVAL;
    enum sip_sdp_setup setup = l->setup;
    /* RFC 6714 section 4.3 (note under item 3): "an offerer is not allowed to include an SDP
     * 'setup:passive' attribute in an SDP offer, as described in RFC 6135". holdconn asks for
     * no connection at all, which an MSRP session cannot start from. */
    if (setup == SIP_SDP_SETUP_PASSIVE || setup == SIP_SDP_SETUP_HOLDCONN) {
        say(why, wc, "an offer may not carry a=setup:%s (RFC 6714 section 4.3 note, RFC 6135)",
            sip_sdp_setup_name(setup));
        return EINVAL;
    }
    if (l->cema) {
        if (v.path_count > 1) {
            /* RFC 6714 section 4.2 item 3: with a relay the offerer "MUST include an SDP
             * 'setup:actpass' attribute". */
            if (setup == SIP_SDP_SETUP_ACTIVE) {
                say(why, wc, "a CEMA offer through a relay MUST carry a=setup:actpass (RFC "
                    "6714 section 4.2 item 3)");
                return EINVAL;
            }
            setup = SIP_SDP_SETUP_ACTPASS;
        } else if (setup == SIP_SDP_SETUP_NONE) {
            /* RFC 6714 section 4.2 item 2: without a relay it "MUST include an SDP 'setup'
             * attribute"; actpass lets the answerer pick, which CEMA needs most. */
            setup = SIP_SDP_SETUP_ACTPASS;
        }
    }
    const struct msrp_uri *at = stream_addr(&v, l->cema);
    struct sdp_out o = {out, cap, 0};
    put_head(&o, l, at);
    put_stream(&o, l, at, v.first.secure, l->accept_types, l->accept_wrapped_types, setup,
               l->cema);
    return finish(&o, len);
}

/* ---- the answerer ------------------------------------------------------------------------- */

static void verdict(struct sip_sdp_msrp_result *res, enum sip_sdp_verdict vd, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));
static void verdict(struct sip_sdp_msrp_result *res, enum sip_sdp_verdict vd, const char *fmt,
                    ...)
{
    res->verdict = vd;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof res->reason, fmt, ap);
    va_end(ap);
}

/* An answer that declines every stream: each m= line of the offer again, port 0 (RFC 4975
 * section 8.1: "MUST set the port number of that media-line to zero (0) in the response"; an
 * answer has as many m= lines as the offer, RFC 3264 section 6, from memory). */
static int put_declined(const struct sip_sdp_msrp_desc *offer, const struct sip_sdp_msrp_local *l,
                        const struct local_view *v, char *out, size_t cap, size_t *len)
{
    struct sdp_out o = {out, cap, 0};
    put_head(&o, l, &v->last);
    for (int i = 0; i < offer->media_count; i++) {
        char media[SIP_SDP_MLINE_MAX];
        memcpy(media, offer->mlines[i], sizeof media);
        char *sp = strchr(media, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        put(&o, "m=%s 0 %s\r\n", media, sp + 1);
    }
    return finish(&o, len);
}

/* Where an active side connects, from the peer's description. */
static void set_target(struct sip_sdp_msrp_result *res, const struct sip_sdp_msrp_desc *peer)
{
    copy_str(res->peer_path, sizeof res->peer_path, peer->path);
    if (!res->active)
        return;
    if (res->cema) {
        /* RFC 6714 section 4.2 ("it MUST use the SDP c/m-line for establishing the MSRP TCP
         * connection") and section 4.3 ("it MUST use the received SDP c/m-line"). */
        copy_str(res->connect_host, sizeof res->connect_host, peer->c_addr);
        res->connect_port = peer->port;
        res->connect_tls = peer->tls;
        return;
    }
    /* RFC 4975 section 8.3: "only the first entry is relevant for purposes of resolving the
     * address and port, and establishing the network connection". */
    struct msrp_span rest = msrp_span_cstr(peer->path);
    struct msrp_uri u;
    if (msrp_uri_list_next(&rest, &u) == 1) {
        size_t n = u.host.len < sizeof res->connect_host ? u.host.len
                                                          : sizeof res->connect_host - 1;
        memcpy(res->connect_host, u.host.ptr, n);
        res->connect_host[n] = '\0';
        res->connect_port = u.port;
        res->connect_tls = u.secure;
    }
}

int sip_sdp_msrp_answer(const struct sip_sdp_msrp_desc *offer,
                        const struct sip_sdp_msrp_local *l, bool decline, char *out, size_t cap,
                        size_t *len, struct sip_sdp_msrp_result *res)
{
    if (!offer || !res || (!out && cap))
        return EINVAL;
    memset(res, 0, sizeof *res);
    if (cap)
        out[0] = '\0';
    if (len)
        *len = 0;
    struct local_view v;
    if (local_check(l, &v, res->reason, sizeof res->reason) != 0)
        return EINVAL;
    if (offer->msrp_index < 0) {
        verdict(res, SIP_SDP_REJECT, "the offer has no MSRP stream (RFC 4975 section 8.1)");
        return 0;
    }
    if (decline || offer->port == 0) {
        verdict(res, SIP_SDP_DECLINED, decline ? "declined by the answerer (port 0, RFC 4975 "
                "section 8.1)" : "the offer's MSRP stream has port 0");
        return put_declined(offer, l, &v, out, cap, len);
    }
    if (offer->setup == SIP_SDP_SETUP_HOLDCONN) {
        verdict(res, SIP_SDP_REJECT, "the offer has a=setup:holdconn: it wants no connection "
                "yet (RFC 4145 section 4, from memory), and no MSRP session can start");
        return 0;
    }
    /* The answer's role (RFC 4145 section 4.1, from memory): opposite to active or passive,
     * our pick for actpass; an answer never says actpass. An offer with passive breaks RFC
     * 6135 (RFC 6714 section 4.3 note) but leaves only one role to take: active. */
    res->active = offer->setup == SIP_SDP_SETUP_PASSIVE ||
                  (offer->setup == SIP_SDP_SETUP_ACTPASS && l->setup == SIP_SDP_SETUP_ACTIVE);
    bool offer_relay = offer->path_count > 1, our_relay = v.path_count > 1;
    /* The offerer's role as settled: active unless we are (RFC 4975 section 8.5: "The party
     * that sent the original offer is responsible for connecting to its peer" when nothing else
     * is said; and an actpass offer answered passive makes it active too). */
    bool offerer_active = !res->active;
    if (offer->cema && l->cema) {
        /* RFC 6714 section 4.3: fall back to RFC 4975 and "MUST NOT insert an SDP 'msrp-cema'
         * attribute" when 1. both use relays, 2. the offerer uses a relay and will become
         * "active", or 3. we use a relay and cannot become "passive". */
        bool fallback = (offer_relay && our_relay) || (offer_relay && offerer_active) ||
                        (our_relay && offer->setup == SIP_SDP_SETUP_PASSIVE);
        res->cema = !fallback;
        /* RFC 6714 section 4.3 item 3: with a relay "the answerer MUST include an SDP
         * 'setup:passive' attribute". */
        if (res->cema && our_relay)
            res->active = false;
    }
    /* RFC 6714 section 4.3: an offer without 'msrp-cema' whose c/m-line does not match its
     * path: "the answerer MUST either reject the offered MSRP connection (by using a zero port
     * value number in the generated SDP answer) or reject the whole SIP request that carries
     * the SDP offer with a 488". */
    if (!offer->cema && !desc_cm_matches(offer)) {
        verdict(res, SIP_SDP_REJECT, "c=/m= (%s port %u) match no URI of a=path and the offer "
                "has no a=msrp-cema (RFC 6714 section 4.3: MUST reject, port 0 or 488)",
                offer->c_addr, (unsigned)offer->port);
        return 0;
    }
    /* RFC 4975 section 8.6: "If the recipient of an offer does not understand any of the
     * payload types indicated in the offered SDP ... it SHOULD return a SIP 488 response." */
    if (!types_intersect(l->accept_types, offer->accept_types, res->types, sizeof res->types)) {
        verdict(res, SIP_SDP_REJECT, "accept-types too long");
        return 0;
    }
    if (!res->types[0]) {
        verdict(res, SIP_SDP_REJECT, "none of our accept-types is within the offer's \"%.80s\" "
                "(RFC 4975 section 8.6: SHOULD return 488)", offer->accept_types);
        return 0;
    }
    /* Wrapped types we keep only where the offerer signalled them, wrapped or not (RFC 4975
     * section 8.6: nothing may be sent of "a type not signaled by the peer in either an
     * accept-types or an accept-wrapped-types attribute"). */
    char wrapped[SIP_SDP_TYPES_MAX] = "";
    if (l->accept_wrapped_types && *l->accept_wrapped_types) {
        char both[2 * SIP_SDP_TYPES_MAX + 2];
        snprintf(both, sizeof both, "%s %s", offer->accept_types, offer->accept_wrapped_types);
        if (!types_intersect(l->accept_wrapped_types, both, wrapped, sizeof wrapped))
            wrapped[0] = '\0';
        /* RFC 4975 section 8.6: wrapped types "may only be used when wrapped inside container
         * types listed in the accept-types attribute" (none left: they say nothing), and
         * "format entries from accept-types SHOULD NOT be repeated in this attribute". */
        if (!has_container(res->types))
            wrapped[0] = '\0';
        else
            drop_covered(wrapped, res->types);
    }
    copy_str(res->wrapped_types, sizeof res->wrapped_types, wrapped);
    /* a=setup goes into the answer when the offer had one (RFC 4145 section 4.1, from
     * memory), and always with CEMA: RFC 6714 section 4.3 items 2 and 3. */
    enum sip_sdp_setup setup = SIP_SDP_SETUP_NONE;
    if (offer->setup != SIP_SDP_SETUP_NONE || res->cema)
        setup = res->active ? SIP_SDP_SETUP_ACTIVE : SIP_SDP_SETUP_PASSIVE;
    set_target(res, offer);

    const struct msrp_uri *at = stream_addr(&v, res->cema);
    struct sdp_out o = {out, cap, 0};
    put_head(&o, l, at);
    for (int i = 0; i < offer->media_count; i++) {
        if (i == offer->msrp_index) {
            put_stream(&o, l, at, v.first.secure, res->types, wrapped, setup, res->cema);
            continue;
        }
        char media[SIP_SDP_MLINE_MAX];
        memcpy(media, offer->mlines[i], sizeof media);
        char *sp = strchr(media, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        /* Other streams are declined (RFC 4975 section 8.1 port zero; RFC 3264 section 6). */
        put(&o, "m=%s 0 %s\r\n", media, sp + 1);
    }
    res->verdict = SIP_SDP_ACCEPT;
    return finish(&o, len);
}

/* ---- the offerer reading the answer ------------------------------------------------------- */

int sip_sdp_msrp_take_answer(const struct sip_sdp_msrp_local *l,
                             const struct sip_sdp_msrp_desc *ans, struct sip_sdp_msrp_result *res)
{
    if (!ans || !res)
        return EINVAL;
    memset(res, 0, sizeof *res);
    struct local_view v;
    if (local_check(l, &v, res->reason, sizeof res->reason) != 0)
        return EINVAL;
    if (ans->msrp_index < 0) {
        verdict(res, SIP_SDP_REJECT, "the answer has no MSRP stream (RFC 4975 section 8.1)");
        return 0;
    }
    if (ans->port == 0) {
        verdict(res, SIP_SDP_DECLINED, "the answer declines the MSRP stream (port 0)");
        return 0;
    }
    /* What we offered, as sip_sdp_msrp_offer() wrote it. */
    enum sip_sdp_setup offered = l->setup;
    if (l->cema && (v.path_count > 1 || offered == SIP_SDP_SETUP_NONE))
        offered = SIP_SDP_SETUP_ACTPASS;
    /* RFC 4145 section 4.1 (from memory): an answer is active or passive, never actpass. */
    if (ans->setup == SIP_SDP_SETUP_ACTPASS || ans->setup == SIP_SDP_SETUP_HOLDCONN) {
        verdict(res, SIP_SDP_REJECT, "the answer has a=setup:%s; an answer is active or passive "
                "(RFC 4145 section 4.1, from memory)", sip_sdp_setup_name(ans->setup));
        return 0;
    }
    /* Without a=setup in the answer the offerer connects (RFC 4975 section 8.5). */
    res->active = ans->setup != SIP_SDP_SETUP_ACTIVE;
    if (ans->setup == SIP_SDP_SETUP_ACTIVE && offered != SIP_SDP_SETUP_ACTPASS) {
        verdict(res, SIP_SDP_REJECT, "both sides would connect: the answer says active to an "
                "offer that was %s (RFC 4975 section 8.5, RFC 4145 section 4.1 from memory)",
                offered == SIP_SDP_SETUP_NONE ? "active by default" : "active");
        return 0;
    }
    if (ans->cema && !l->cema) {
        /* RFC 6714 section 4.3: the answerer includes 'msrp-cema' only on the path where
         * the offer carried it ("If the MSRP media description of the SDP offer does not
         * contain an SDP 'msrp-cema' attribute" leads to RFC 4975 behaviour). */
        verdict(res, SIP_SDP_REJECT, "the answer has a=msrp-cema but the offer did not (RFC "
                "6714 section 4.3)");
        return 0;
    }
    if (l->cema && ans->cema) {
        res->cema = true;
    } else if (l->cema) {
        /* RFC 6714 section 4.2: no 'msrp-cema' in the answer, and its c/m-line matches no
         * path URI (a middlebox rewrote it) while 1. we become passive, 2. we use a relay and
         * become active, or 3. the answerer uses a relay and we become active: "the offerer
         * MUST fall back to RFC 4975 behavior by sending a new SDP offer". */
        bool mismatch = !desc_cm_matches(ans);
        bool our_relay = v.path_count > 1, their_relay = ans->path_count > 1;
        if (mismatch && (!res->active || (res->active && (our_relay || their_relay)))) {
            verdict(res, SIP_SDP_REOFFER, "the answer has no a=msrp-cema and its c=/m= match "
                    "no a=path URI (RFC 6714 section 4.2: MUST send a new offer without "
                    "a=msrp-cema)");
            return 0;
        }
    }
    copy_str(res->types, sizeof res->types, ans->accept_types);
    set_target(res, ans);
    res->verdict = SIP_SDP_ACCEPT;
    return 0;
}
