/*
 * sip_cases.c - the SIP offer/answer cases' checks (conform --sip-target; case files with
 * needs "sip" name one by "sip": {"check"}): the offers they send, written by hand because
 * some are offers sdp_msrp.c would never build (a relay path that becomes active, a c= line a
 * middlebox rewrote, an extra m= line nobody implements), a tolerant reader of the answers
 * (sip_sdp_msrp_parse() stops at the first fault; a judge needs to see past it), and one judge
 * per RFC sentence a caller can see in an answer.
 *
 * Every rule cited was checked in ../shared/rfc/ (RFC 4975 section 8, RFC 6714 section 4);
 * where an answer does not show what the sentence is about (refused, declined, a target that
 * shows no CEMA support) the verdict is unobservable or skip with the reason, never fail.
 * Line correspondence (the answer's m= lines in the offer's order, one for one) is RFC 3264
 * section 6, from memory (RFC 3264 is not in ../shared/rfc/).
 *
 * Owns: offers, the answer reader and the judges. May not touch: the calls (sip_exec.c).
 */
#include "conform/sip_int.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wire/uri.h"

/* ---- reading an answer -------------------------------------------------------------------- */

#define SV_MEDIA 8
#define SV_ATTRS 32

struct sv_media {
    char media[32], port[16], proto[48], fmts[128];
    const char *c_addr; /* this line's c= address, or NULL */
    const char *attrs[SV_ATTRS];
    unsigned nattrs;
};

/* An SDP split into lines, read as loosely as a judge needs: nothing is refused here. */
struct sv {
    char buf[SIPX_SDP_MAX];
    const char *c_addr; /* the session-level c= address, or NULL */
    struct sv_media m[SV_MEDIA];
    unsigned nm;
};

/* The address of a c= line's value ("IN IP4 127.0.0.1", TTL cut off), in place. */
static const char *c_address(char *v)
{
    char *last = strrchr(v, ' ');
    char *a = last != NULL ? last + 1 : v;
    char *slash = strchr(a, '/');
    if (slash != NULL)
        *slash = '\0';
    return a;
}

static void sv_read(struct sv *v, const char *text, size_t len)
{
    memset(v, 0, sizeof(*v));
    if (len >= sizeof v->buf)
        len = sizeof v->buf - 1;
    memcpy(v->buf, text, len);
    v->buf[len] = '\0';
    struct sv_media *cur = NULL;
    char *save = NULL;
    for (char *line = strtok_r(v->buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n < 2 || line[1] != '=')
            continue;
        char *val = line + 2;
        if (line[0] == 'm') {
            if (v->nm == SV_MEDIA) {
                cur = NULL;
                continue;
            }
            cur = &v->m[v->nm++];
            if (sscanf(val, "%31s %15s %47s %127[^\n]", cur->media, cur->port, cur->proto,
                       cur->fmts) < 3)
                cur->proto[0] = '\0';
        } else if (line[0] == 'c') {
            if (cur != NULL)
                cur->c_addr = c_address(val);
            else
                v->c_addr = c_address(val);
        } else if (line[0] == 'a' && cur != NULL && cur->nattrs < SV_ATTRS) {
            cur->attrs[cur->nattrs++] = val;
        }
    }
}

/* The value of attribute name in m ("" for a flag), the first of them; *count (may be NULL)
 * gets how many there are. NULL when absent. */
static const char *sv_attr(const struct sv_media *m, const char *name, unsigned *count)
{
    const char *first = NULL;
    unsigned n = 0;
    size_t len = strlen(name);
    for (unsigned i = 0; i < m->nattrs; i++) {
        const char *a = m->attrs[i];
        if (strncasecmp(a, name, len) == 0 && (a[len] == ':' || a[len] == '\0')) {
            if (first == NULL)
                first = a[len] == ':' ? a + len + 1 : a + len;
            n++;
        }
    }
    if (count != NULL)
        *count = n;
    return first;
}

static long port_of(const struct sv_media *m)
{
    char *end = NULL;
    long p = strtol(m->port, &end, 10); /* "port/number" is allowed by SDP: the first part */
    return end == m->port || p < 0 || p > 65535 ? -1 : p;
}

static const char *c_of(const struct sv *v, const struct sv_media *m)
{
    return m->c_addr != NULL ? m->c_addr : v->c_addr;
}

/* The URIs of an a=path value. Returns their count (at most cap are parsed into out); *bad
 * gets the first that does not parse as an MSRP URI, or stays NULL. */
struct path_uri {
    char text[512];
    struct msrp_uri u;
    bool ok;
};
static unsigned path_uris(const char *path, struct path_uri *out, unsigned cap)
{
    unsigned n = 0;
    const char *p = path;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == 0)
            break;
        if (n < cap) {
            struct path_uri *pu = &out[n];
            memset(pu, 0, sizeof(*pu)); /* a URI that does not parse leaves no garbage */
            size_t keep = len < sizeof pu->text - 1 ? len : sizeof pu->text - 1;
            memcpy(pu->text, p, keep);
            pu->text[keep] = '\0';
            pu->ok = msrp_uri_parse(pu->text, keep, &pu->u) == MSRP_URI_OK;
        }
        n++;
        p += len;
    }
    return n;
}

/* Same address: IP literals by value, names case-insensitively; 0 no, 1 yes, -1 cannot say
 * (a name against an IP literal needs DNS). */
static int same_addr(const char *a, const char *b)
{
    unsigned char x[16], y[16];
    char a1[256], b1[256];
    snprintf(a1, sizeof a1, "%s", a);
    snprintf(b1, sizeof b1, "%s", b);
    /* an MSRP URI's IPv6 host comes without its brackets already; c= has none */
    int fa = inet_pton(AF_INET, a1, x) == 1 ? 4 : inet_pton(AF_INET6, a1, x) == 1 ? 6 : 0;
    int fb = inet_pton(AF_INET, b1, y) == 1 ? 4 : inet_pton(AF_INET6, b1, y) == 1 ? 6 : 0;
    if (fa != 0 && fb != 0)
        return fa == fb && memcmp(x, y, fa == 4 ? 4 : 16) == 0;
    if (fa != 0 || fb != 0)
        return -1;
    return strcasecmp(a1, b1) == 0;
}

/* same_addr for RFC 6714 4.4's matching, which resolves names (DNS): two different names may
 * still be one address, so they too are -1. */
static int same_addr_resolved(const char *a, const char *b)
{
    unsigned char x[16];
    int s = same_addr(a, b);
    bool ip_a = inet_pton(AF_INET, a, x) == 1 || inet_pton(AF_INET6, a, x) == 1;
    bool ip_b = inet_pton(AF_INET, b, x) == 1 || inet_pton(AF_INET6, b, x) == 1;
    return s == 0 && !ip_a && !ip_b ? -1 : s;
}

static void host_text(const struct msrp_uri *u, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s", (int)u->host.len, u->host.ptr);
}

/* ---- verdicts ----------------------------------------------------------------------------- */

static void say(struct conform_result *r, enum conform_verdict v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct conform_result *r, enum conform_verdict v, const char *fmt, ...)
{
    r->verdict = v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->observed, sizeof r->observed, fmt, ap);
    va_end(ap);
}

static void pass(struct conform_result *r)
{
    r->verdict = CONFORM_PASS;
    r->observed[0] = '\0';
}

/* ---- offers ------------------------------------------------------------------------------- */

struct offer {
    bool tls;            /* TCP/TLS/MSRP with an msrps path */
    bool cema;           /* a=msrp-cema */
    bool relay;          /* a path of two URIs: a relay, then us; c= and m= the relay's */
    bool extra_line;     /* a second m= line of a protocol nobody implements */
    bool middlebox;      /* c= and m= rewritten away from the path (no CEMA: RFC 6714 4.3) */
    const char *setup;   /* a=setup value, or NULL */
    const char *types;   /* accept-types; NULL: "message/cpim text/plain" */
    const char *wrapped; /* accept-wrapped-types, or NULL */
};

#define EXTRA_LINE "m=x-msrpload-none 9 TCP/X-MSRPLOAD-NONE *"

/* Writes the offer into a new call slot and places the call. Returns the call, or NULL with
 * r set (unreachable). */
static struct sipx_call *place(struct sipx *x, const struct offer *o, struct conform_result *r)
{
    struct sipx_call *c = sipx_new_call(x);
    if (c == NULL) {
        say(r, CONFORM_SKIP, "internal: more calls than a case may place");
        return NULL;
    }
    unsigned id = ++x->serial;
    const char *scheme = o->tls ? "msrps" : "msrp";
    char path[512];
    if (o->relay)
        snprintf(path, sizeof path, "%s://127.0.0.1:%u/r%08x;tcp %s://127.0.0.1:%u/c%08x;tcp",
                 scheme, (unsigned)x->relay_port, id, scheme, (unsigned)x->msrp_port, id);
    else
        snprintf(path, sizeof path, "%s://127.0.0.1:%u/c%08x;tcp", scheme,
                 (unsigned)x->msrp_port, id);
    /* c= and m= carry the first hop's address (RFC 4975 8.1; with a relay, RFC 6714 4.2
     * item 3), unless a middlebox is being played. */
    const char *c_addr = o->middlebox ? "127.0.0.2" : "127.0.0.1";
    unsigned m_port = o->relay || o->middlebox ? x->relay_port : x->msrp_port;
    char attrs[512] = "";
    size_t al = 0;
    if (o->wrapped != NULL)
        al += (size_t)snprintf(attrs + al, sizeof attrs - al, "a=accept-wrapped-types:%s\r\n",
                               o->wrapped);
    if (o->setup != NULL && al < sizeof attrs)
        al += (size_t)snprintf(attrs + al, sizeof attrs - al, "a=setup:%s\r\n", o->setup);
    if (o->cema && al < sizeof attrs)
        snprintf(attrs + al, sizeof attrs - al, "a=msrp-cema\r\n");
    int n = snprintf(c->offer, sizeof c->offer,
                     "v=0\r\no=msrpload %u 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
                     "m=message %u %s *\r\na=path:%s\r\na=accept-types:%s\r\n%s%s",
                     id, c_addr, m_port, o->tls ? "TCP/TLS/MSRP" : "TCP/MSRP", path,
                     o->types != NULL ? o->types : "message/cpim text/plain", attrs,
                     o->extra_line ? EXTRA_LINE "\r\n" : "");
    c->offer_len = n > 0 && (size_t)n < sizeof c->offer ? (size_t)n : 0;
    int rc = sipx_call(x, c, r->observed, sizeof r->observed);
    if (rc != 0) {
        /* silence is unreachable; a target that rang is there, it just did not answer */
        r->verdict = rc > 0 ? CONFORM_UNOBSERVABLE : CONFORM_UNREACHABLE;
        return NULL;
    }
    return c;
}

/* Whether a 2xx came without an SDP answer to judge (none, or one larger than we keep);
 * says so in r. */
static bool no_sdp(const struct sipx_call *c, struct conform_result *r)
{
    if (c->answer_len > 0)
        return false;
    if (c->too_big)
        say(r, CONFORM_UNOBSERVABLE, "the 2xx's SDP answer is larger than the %d bytes kept: "
            "not judged", SIPX_SDP_MAX - 1);
    else
        say(r, CONFORM_UNOBSERVABLE, "the 2xx carried no SDP answer");
    return true;
}

/* The answer's MSRP line (the first, as in every offer here) when the call was taken and the
 * stream accepted; NULL with r unobservable (refused, no SDP, declined) otherwise. */
static const struct sv_media *accepted(const struct sipx_call *c, struct sv *v,
                                       struct conform_result *r)
{
    if (c->status >= 300) {
        say(r, CONFORM_UNOBSERVABLE, "the target refused the call (%d): no answer to judge",
            c->status);
        return NULL;
    }
    if (no_sdp(c, r))
        return NULL;
    sv_read(v, c->answer, c->answer_len);
    if (v->nm == 0) {
        say(r, CONFORM_UNOBSERVABLE, "the answer has no m= line for the offered MSRP stream");
        return NULL;
    }
    if (port_of(&v->m[0]) == 0) {
        say(r, CONFORM_UNOBSERVABLE, "the target declined the MSRP stream (port 0)");
        return NULL;
    }
    return &v->m[0];
}

/* Places one plain call (the offer sdp_msrp.c would build) and returns its accepted line. */
static const struct sv_media *plain(struct sipx *x, const struct offer *o, struct sv *v,
                                    struct conform_result *r)
{
    const struct sipx_call *c = place(x, o, r);
    return c == NULL ? NULL : accepted(c, v, r);
}

/* ---- RFC 4975 section 8.1 ----------------------------------------------------------------- */

/* Places a plain call with offer o and passes when the accepted line's field (the char array
 * at offset off in struct sv_media) is want or alt (when not NULL); else fails with what and
 * the value. */
static void field_is(struct sipx *x, const struct offer *o, size_t off, const char *want,
                     const char *alt, const char *what, struct conform_result *r)
{
    struct sv v;
    const struct sv_media *m = plain(x, o, &v, r);
    if (m == NULL)
        return; /* for a TLS offer, declining (port 0 or 488) is the target's right */
    const char *f = (const char *)m + off;
    if (strcmp(f, want) != 0 && (alt == NULL || strcmp(f, alt) != 0))
        say(r, CONFORM_FAIL, "%s \"%s\"", what, f);
    else
        pass(r);
}

/* 8.1: "The media field value MUST be "message"." */
static void media_message(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    field_is(x, &(struct offer){0}, offsetof(struct sv_media, media), "message", NULL,
             "the accepted MSRP line's media field is", r);
}

/* 8.1: "An offered or accepted media-line for MSRP over TCP MUST include a protocol field
 * value of "TCP/MSRP", or "TCP/TLS/MSRP" for TLS." */
static void protocol(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    field_is(x, &(struct offer){0}, offsetof(struct sv_media, proto), "TCP/MSRP", "TCP/TLS/MSRP",
             "the accepted MSRP line's protocol is", r);
}

static unsigned answer_path(const struct sv_media *m, struct path_uri *uris, unsigned cap,
                            struct conform_result *r);

/* The same sentence ties TCP/TLS/MSRP to TLS, which an msrps URI asks for (6: "A scheme of
 * "msrps" indicates that the underlying connection MUST be protected with TLS"): to a
 * TCP/TLS/MSRP offer, protocol and path scheme must agree. An answer without TLS on both
 * (TCP/MSRP, msrp:) is one the sentence does not forbid. */
static void tls_protocol(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    struct sv v;
    struct path_uri uris[8];
    const struct sv_media *m = plain(x, &(struct offer){.tls = true}, &v, r);
    unsigned n = m != NULL ? answer_path(m, uris, 8, r) : 0;
    if (n == 0)
        return; /* declining TLS (port 0 or 488) is the target's right */
    bool tls = strcmp(m->proto, "TCP/TLS/MSRP") == 0, secure = uris[n - 1].u.secure;
    if (tls != secure && (tls || strcmp(m->proto, "TCP/MSRP") == 0))
        say(r, CONFORM_FAIL, "a TCP/TLS/MSRP offer accepted with the protocol \"%s\" but the "
            "path URI %s", m->proto, uris[n - 1].text);
    else if (!tls)
        say(r, CONFORM_UNOBSERVABLE, "answered with \"%s\" and the path URI %s: not TLS, which "
            "the sentence does not forbid", m->proto, uris[n - 1].text);
    else
        pass(r);
}

/* 8.1: "The format list field MUST be set to "*"." */
static void format_star(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    field_is(x, &(struct offer){0}, offsetof(struct sv_media, fmts), "*", NULL,
             "the accepted MSRP line's format list is", r);
}

/* The answer's a=path URIs, or NULL with r unobservable when it has none that parse. */
static unsigned answer_path(const struct sv_media *m, struct path_uri *uris, unsigned cap,
                            struct conform_result *r)
{
    const char *path = sv_attr(m, "path", NULL);
    unsigned n = path != NULL ? path_uris(path, uris, cap) : 0;
    if (n == 0) {
        say(r, CONFORM_UNOBSERVABLE, "the answer has no a=path to compare with");
        return 0;
    }
    for (unsigned i = 0; i < n && i < cap; i++)
        if (!uris[i].ok) {
            say(r, CONFORM_UNOBSERVABLE, "the answer's a=path URI %s does not parse",
                uris[i].text);
            return 0;
        }
    return n < cap ? n : cap;
}

/* A plain call's accepted line and its a=path URIs (n of them). */
struct pathed {
    struct sv v;
    const struct sv_media *m;
    struct path_uri uris[8];
    unsigned n;
};

/* Places a plain call and reads the accepted line's a=path into a: the URIs' count, or 0 with
 * r said. */
static unsigned plain_path(struct sipx *x, struct pathed *a, struct conform_result *r)
{
    a->m = plain(x, &(struct offer){0}, &a->v, r);
    a->n = a->m != NULL ? answer_path(a->m, a->uris, 8, r) : 0;
    return a->n;
}

/* 8.1: "The connection address field MUST be set to the IP address or fully qualified domain
 * name from the MSRP URI identifying the endpoint in its path attribute." */
static void c_line(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    struct pathed a;
    unsigned n = plain_path(x, &a, r);
    if (n == 0)
        return;
    const char *c = c_of(&a.v, a.m);
    if (c == NULL) {
        say(r, CONFORM_UNOBSERVABLE, "the answer has no c= line for the MSRP stream");
        return;
    }
    /* The endpoint's URI is the rightmost (RFC 4976's relayed answers keep the endpoint's
     * c=). Only a CEMA answer puts the first hop's, the relay's, there (RFC 6714 4.3 item 3,
     * which binds answers with a=msrp-cema): then that is accepted too. */
    bool cema = sv_attr(a.m, "msrp-cema", NULL) != NULL;
    char host[256];
    int same = 0;
    for (unsigned i = 0; i < n; i++) {
        if (i != n - 1 && !(i == 0 && cema))
            continue;
        host_text(&a.uris[i].u, host, sizeof host);
        int s = same_addr(c, host);
        same = s == 1 || same == 1 ? 1 : s < 0 ? -1 : same;
    }
    host_text(&a.uris[n - 1].u, host, sizeof host);
    if (same == 1)
        pass(r);
    else if (same < 0)
        say(r, CONFORM_UNOBSERVABLE, "c= %s and the path's host %s: a name against an "
            "address, not compared without DNS", c, host);
    else
        say(r, CONFORM_FAIL, "c= address %s, but the path's endpoint URI has host %s", c, host);
}

/* 8.1: "The port field value MUST match the port value used in the endpoint's MSRP URI in
 * the path attribute" (but for a declined line, which is port 0). */
static void port_match(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    struct pathed a;
    unsigned n = plain_path(x, &a, r);
    if (n == 0)
        return;
    long port = port_of(a.m);
    const struct msrp_uri *ep = &a.uris[n - 1].u, *hop = &a.uris[0].u;
    if (!ep->has_port) {
        say(r, CONFORM_UNOBSERVABLE, "the path's endpoint URI has no port to compare with");
        return;
    }
    /* the relay's port only in a CEMA answer (RFC 6714 4.3 item 3), as for c= */
    bool cema = sv_attr(a.m, "msrp-cema", NULL) != NULL;
    if (port == ep->port || (cema && n > 1 && hop->has_port && port == hop->port))
        pass(r);
    else
        say(r, CONFORM_FAIL, "m= port %s, but the path's endpoint URI %s has port %u",
            a.m->port, a.uris[n - 1].text, (unsigned)ep->port);
}

/* 8.1: "a user agent that wishes to accept an offer, but not a specific media-line, MUST set
 * the port number of that media-line to zero (0) in the response." */
static void decline_zero(struct sipx *x, const struct scenario_case *k,
                         struct conform_result *r)
{
    (void)k;
    struct sv v;
    const struct sipx_call *c = place(x, &(struct offer){.extra_line = true}, r);
    if (c == NULL)
        return;
    if (c->status >= 300) {
        say(r, CONFORM_UNOBSERVABLE, "the target refused the whole offer (%d), which it may: "
            "no line was declined on its own", c->status);
        return;
    }
    sv_read(&v, c->answer, c->answer_len);
    if (no_sdp(c, r)) {
        return;
    } else if (v.nm < 2) {
        say(r, CONFORM_FAIL, "the offer's second m= line (" EXTRA_LINE ") has no line in the "
            "answer, let alone one with port 0 (%u m= line%s)", v.nm, v.nm == 1 ? "" : "s");
    } else if (port_of(&v.m[1]) != 0) {
        say(r, CONFORM_FAIL, "the offer's second m= line (" EXTRA_LINE ") was answered with "
            "port %s, not 0", v.m[1].port);
    } else {
        pass(r);
    }
}

/* ---- RFC 4975 section 8.2 ----------------------------------------------------------------- */

/* 8.2: "Each SDP offer or answer that proposes MSRP MUST contain a "path" attribute
 * containing one or more MSRP URIs." */
static void path_present(struct sipx *x, const struct scenario_case *k,
                         struct conform_result *r)
{
    (void)k;
    struct sv v;
    struct path_uri uris[8];
    const struct sv_media *m = plain(x, &(struct offer){0}, &v, r);
    if (m == NULL)
        return;
    const char *path = sv_attr(m, "path", NULL);
    unsigned n = path != NULL ? path_uris(path, uris, 8) : 0;
    if (path == NULL) {
        say(r, CONFORM_FAIL, "the accepted MSRP line has no a=path");
        return;
    }
    if (n == 0) {
        say(r, CONFORM_FAIL, "a=path is empty");
        return;
    }
    for (unsigned i = 0; i < n && i < 8; i++)
        if (!uris[i].ok) {
            say(r, CONFORM_FAIL, "a=path holds %s, which is not an MSRP URI", uris[i].text);
            return;
        }
    pass(r);
}

/* 8.2: "MSRP URIs included in an SDP offer or answer MUST include explicit port numbers." */
static void path_port(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    struct pathed a;
    unsigned n = plain_path(x, &a, r);
    if (n == 0)
        return;
    for (unsigned i = 0; i < n; i++)
        if (!a.uris[i].u.has_port) {
            say(r, CONFORM_FAIL, "a=path URI %s has no explicit port", a.uris[i].text);
            return;
        }
    pass(r);
}

/* 8.2: the rightmost URI "MUST NOT duplicate any URI in use for any other session in which
 * the endpoint is currently participating": two calls at once, two different URIs. */
static void path_unique(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    struct pathed a1, a2;
    unsigned n1 = plain_path(x, &a1, r);
    if (n1 == 0)
        return;
    sipx_note(x, "the first session stays up while a second call is placed");
    unsigned n2 = plain_path(x, &a2, r);
    if (n2 == 0) {
        char why[sizeof r->observed];
        snprintf(why, sizeof why, "%s", r->observed);
        /* the first call was answered: the target is reachable whatever the second did */
        say(r, CONFORM_UNOBSERVABLE, "second call: %s", why);
        return;
    }
    /* Reuse is forbidden only while the first session is one the endpoint "is currently
     * participating" in: once the target hung it up (BYE), its URI is free again. */
    const struct sipx_call *c1 = &x->calls[0];
    if (c1->ended || !c1->established) {
        say(r, CONFORM_UNOBSERVABLE, "the first call had ended (the target sent BYE) when the "
            "second was answered: its URI was no longer in use");
        return;
    }
    if (msrp_uri_equal(&a1.uris[n1 - 1].u, &a2.uris[n2 - 1].u))
        say(r, CONFORM_FAIL, "two sessions at once, both answered with the endpoint URI %s",
            a2.uris[n2 - 1].text);
    else
        pass(r);
}

/* ---- RFC 4975 section 8.6 ----------------------------------------------------------------- */

/* 8.6: "An SDP media-line proposing MSRP MUST be accompanied by an accept-types attribute." */
static void accept_types(struct sipx *x, const struct scenario_case *k,
                         struct conform_result *r)
{
    (void)k;
    struct sv v;
    const struct sv_media *m = plain(x, &(struct offer){0}, &v, r);
    if (m == NULL)
        return;
    const char *t = sv_attr(m, "accept-types", NULL);
    if (t == NULL || strspn(t, " ") == strlen(t))
        say(r, CONFORM_FAIL, t == NULL ? "the accepted MSRP line has no a=accept-types"
                                       : "a=accept-types is empty");
    else
        pass(r);
}

/* Two format entries name the same type: parameters are left out of the match (8.6). */
static bool same_entry(const char *a, size_t an, const char *b, size_t bn)
{
    size_t x = strcspn(a, ";"), y = strcspn(b, ";");
    x = x < an ? x : an;
    y = y < bn ? y : bn;
    return x == y && strncasecmp(a, b, x) == 0;
}

/* 8.6: "format entries from accept-types SHOULD NOT be repeated in this attribute"
 * (accept-wrapped-types). */
static void wrapped_repeat(struct sipx *x, const struct scenario_case *k,
                           struct conform_result *r)
{
    struct sv v;
    const struct sv_media *m = plain(
        x, &(struct offer){.types = "message/cpim text/plain", .wrapped = "text/html"}, &v, r);
    if (m == NULL)
        return;
    const char *t = sv_attr(m, "accept-types", NULL), *w = sv_attr(m, "accept-wrapped-types", NULL);
    if (t == NULL || w == NULL) {
        pass(r);
        r->observed[0] = '\0';
        return;
    }
    for (const char *p = w; *p != '\0';) {
        p += strspn(p, " ");
        size_t pn = strcspn(p, " ");
        for (const char *q = t; pn > 0 && *q != '\0';) {
            q += strspn(q, " ");
            size_t qn = strcspn(q, " ");
            if (qn > 0 && same_entry(p, pn, q, qn)) {
                say(r, conform_verdict_unmet(k->level), "%.*s is in both accept-types (%s) "
                    "and accept-wrapped-types (%s)", (int)pn, p, t, w);
                return;
            }
            q += qn;
        }
        p += pn;
    }
    pass(r);
}

/* Whether the format-list list covers type (itself, type/ *, or *). */
static bool covers(const char *list, const char *type)
{
    size_t slash = strcspn(type, "/");
    for (const char *q = list; *q != '\0';) {
        q += strspn(q, " ");
        size_t qn = strcspn(q, " ;");
        if ((qn == 1 && q[0] == '*') || (qn == strlen(type) && strncasecmp(q, type, qn) == 0) ||
            (qn == slash + 2 && strncasecmp(q, type, slash + 1) == 0 && q[slash + 1] == '*'))
            return true;
        q += strcspn(q, " ");
    }
    return false;
}

#define UNKNOWN_TYPE "application/x-msrpload-unknown"

/* 8.6: "If the recipient of an offer does not understand any of the payload types indicated
 * in the offered SDP, it SHOULD indicate that using the appropriate mechanism of the
 * rendezvous protocol.  For example, in SIP, it SHOULD return a SIP 488 response." */
static void not_understood(struct sipx *x, const struct scenario_case *k,
                           struct conform_result *r)
{
    struct sv v;
    const struct sipx_call *c = place(x, &(struct offer){.types = UNKNOWN_TYPE}, r);
    if (c == NULL)
        return;
    if (c->status == 488) {
        pass(r);
        return;
    }
    if (c->status == 606) {
        /* refused for its media, but not with the response the sentence names */
        say(r, conform_verdict_unmet(k->level), "an offer of only %s refused with %d, not 488",
            UNKNOWN_TYPE, c->status);
        return;
    }
    if (c->status >= 300) {
        /* 415 too: it is about the SIP body's type (RFC 3261 21.4.13, from memory), not the
         * payload types the SDP offers */
        say(r, CONFORM_UNOBSERVABLE, "refused with %d, a failure not about the offer's types",
            c->status);
        return;
    }
    if (no_sdp(c, r))
        return;
    sv_read(&v, c->answer, c->answer_len);
    const char *t = v.nm > 0 ? sv_attr(&v.m[0], "accept-types", NULL) : NULL;
    if (v.nm > 0 && port_of(&v.m[0]) == 0)
        say(r, conform_verdict_unmet(k->level), "an offer of only %s declined with port 0 in "
            "a 2xx rather than refused with 488", UNKNOWN_TYPE);
    else if (t != NULL && covers(t, UNKNOWN_TYPE))
        pass(r); /* it says it takes the type: it understands it */
    else
        /* accepting the stream says nothing of not understanding the offered type */
        say(r, CONFORM_UNOBSERVABLE, "an offer of only %s accepted (2xx) with accept-types %s: "
            "whether the target understands the type is not shown", UNKNOWN_TYPE,
            t != NULL ? t : "(none)");
}

/* ---- RFC 6714 section 4.3 ----------------------------------------------------------------- */

/* How many URIs the line's a=path holds (up to 8 read into uris), 0 without one. */
static unsigned path_count(const struct sv_media *m, struct path_uri uris[8])
{
    const char *path = sv_attr(m, "path", NULL);
    return path != NULL ? path_uris(path, uris, 8) : 0;
}

/* A CEMA offer (RFC 6714 4.2: msrp-cema, and a=setup, actpass here, without a relay). */
static const struct offer CEMA_OFFER = {.cema = true, .setup = "actpass"};

/* 4.3 "In all other cases ... 1.  The answerer MUST include an SDP 'msrp-cema' attribute in
 * the MSRP media description of the SDP answer." Only a CEMA-enabled answerer is bound: one
 * without the attribute is told apart as info, not failed. */
static void cema_answer(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    struct sv v;
    const struct sv_media *m = plain(x, &CEMA_OFFER, &v, r);
    if (m == NULL)
        return;
    /* No fallback criterion holds with a relay on the target's side either: the offer uses
     * none (1, 2) and its actpass lets the target be passive (3). */
    if (sv_attr(m, "msrp-cema", NULL) != NULL)
        pass(r);
    else
        say(r, CONFORM_INFO, "no a=msrp-cema in the answer to a CEMA offer: the target does not "
            "support CEMA (RFC 6714 binds only CEMA-enabled answerers)");
}

/* 4.3 "2.  If the answerer is not using a relay for MSRP communication, it MUST include an
 * SDP 'setup' attribute in the MSRP media description of the answer". */
static void cema_setup(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    struct sv v;
    const struct sv_media *m = plain(x, &CEMA_OFFER, &v, r);
    if (m == NULL)
        return;
    struct path_uri uris[8];
    if (sv_attr(m, "msrp-cema", NULL) == NULL)
        say(r, CONFORM_SKIP, "the answer has no a=msrp-cema (the target does not use CEMA)");
    else if (path_count(m, uris) > 1)
        say(r, CONFORM_SKIP, "the target answers through a relay (another case's rule)");
    else if (sv_attr(m, "setup", NULL) == NULL)
        say(r, CONFORM_FAIL, "a CEMA answer without a relay and without a=setup");
    else
        pass(r);
}

/* 4.3 "3.  If the answerer is using a relay for MSRP communication, it MUST ... include the
 * address information of the relay, rather than its own address information, in the SDP
 * c/m-line ... In addition, the answerer MUST include an SDP 'setup:passive' attribute". */
static void cema_relay(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    struct sv v;
    struct path_uri uris[8];
    const struct sv_media *m = plain(x, &CEMA_OFFER, &v, r);
    if (m == NULL)
        return;
    unsigned n = path_count(m, uris);
    if (sv_attr(m, "msrp-cema", NULL) == NULL) {
        say(r, CONFORM_SKIP, "the answer has no a=msrp-cema (the target does not use CEMA)");
        return;
    }
    if (n < 2) {
        say(r, CONFORM_SKIP, "the target answers without a relay (a path of one URI)");
        return;
    }
    const char *setup = sv_attr(m, "setup", NULL), *c = c_of(&v, m);
    char host[256] = "";
    if (uris[0].ok)
        host_text(&uris[0].u, host, sizeof host);
    if (!uris[0].ok || !uris[0].u.has_port) {
        say(r, CONFORM_UNOBSERVABLE, "the path's first URI %s does not parse or has no port",
            uris[0].text);
    } else if (setup == NULL || strcasecmp(setup, "passive") != 0) {
        say(r, CONFORM_FAIL, "a CEMA answer through a relay with %s%s, not a=setup:passive",
            setup != NULL ? "a=setup:" : "no a=setup", setup != NULL ? setup : "");
    } else if (c == NULL || same_addr_resolved(c, host) == 0 || port_of(m) != uris[0].u.port) {
        say(r, CONFORM_FAIL, "a CEMA answer through a relay: c=/m= %s:%s, the relay (first "
            "path URI) %s", c != NULL ? c : "(none)", m->port, uris[0].text);
    } else if (same_addr_resolved(c, host) < 0) {
        say(r, CONFORM_UNOBSERVABLE, "c= %s and the relay's host %s are not compared without "
            "DNS (RFC 6714 4.4 resolves names)", c, host);
    } else {
        pass(r);
    }
}

/* 4.3: "If any one or more of the criteria below are met, the answerer MUST fall back ...
 * The answerer MUST NOT insert an SDP 'msrp-cema' attribute", criterion 2 ("The offerer uses
 * a relay ... and will become "active" (... if the ... offer contains an SDP 'setup:active'
 * attribute)") or 1 ("Both MSRP endpoints are using relays"). */
static void no_cema(struct sipx *x, const struct scenario_case *k, struct conform_result *r,
                    bool both_relays)
{
    (void)k;
    struct sv v;
    struct offer o = {.cema = true, .relay = true, .setup = both_relays ? "actpass" : "active"};
    const struct sv_media *m = plain(x, &o, &v, r);
    if (m == NULL)
        return;
    struct path_uri uris[8];
    if (both_relays && path_count(m, uris) < 2) {
        say(r, CONFORM_SKIP, "the target answers without a relay (a path of one URI): "
            "criterion 1 does not apply");
        return;
    }
    if (sv_attr(m, "msrp-cema", NULL) != NULL)
        say(r, CONFORM_FAIL, "a=msrp-cema in the answer to a CEMA offer through a relay %s",
            both_relays ? "while the target uses a relay too" : "with a=setup:active");
    else
        pass(r);
}

static void no_cema_active(struct sipx *x, const struct scenario_case *k,
                           struct conform_result *r)
{
    no_cema(x, k, r, false);
}

static void no_cema_relays(struct sipx *x, const struct scenario_case *k,
                           struct conform_result *r)
{
    no_cema(x, k, r, true);
}

/* 4.3: "If the MSRP media description of the SDP offer does not contain an SDP 'msrp-cema'
 * attribute, and the SDP c/m-line address information ... does not match the information in
 * the MSRP URI of the SDP 'path' attribute(s), the answerer MUST either reject the offered
 * MSRP connection (by using a zero port value number in the generated SDP answer) or reject
 * the whole SIP request ... with a 488". Binds CEMA-enabled answerers (4.1): a first call
 * with a CEMA offer asks whether the target is one. */
static void middlebox(struct sipx *x, const struct scenario_case *k, struct conform_result *r)
{
    (void)k;
    struct sv v;
    const struct sv_media *m = plain(x, &CEMA_OFFER, &v, r);
    if (m == NULL) {
        if (r->verdict != CONFORM_UNREACHABLE)
            say(r, CONFORM_SKIP, "the CEMA offer asking whether the target supports CEMA was "
                "not accepted: %.1900s", r->observed);
        return;
    }
    if (sv_attr(m, "msrp-cema", NULL) == NULL) {
        say(r, CONFORM_SKIP, "the target shows no CEMA support (no a=msrp-cema in its answer "
            "to a CEMA offer); RFC 6714 4.3 binds CEMA-enabled answerers");
        return;
    }
    sipx_note(x, "CEMA supported; now an offer without it whose c=/m= a middlebox rewrote");
    const struct sipx_call *c = place(x, &(struct offer){.middlebox = true}, r);
    if (c == NULL) {
        char why[sizeof r->observed];
        snprintf(why, sizeof why, "%s", r->observed);
        say(r, CONFORM_UNOBSERVABLE, "second call: %.1900s", why); /* the first was answered */
        return;
    }
    if (c->status >= 300) {
        /* another failure (busy, unavailable) says nothing of how the offer was judged */
        if (c->status == 488)
            pass(r);
        else
            say(r, CONFORM_UNOBSERVABLE, "refused with %d, not 488: a failure that need not be "
                "about the offer", c->status);
        return;
    }
    if (no_sdp(c, r))
        return;
    sv_read(&v, c->answer, c->answer_len);
    if (v.nm > 0 && port_of(&v.m[0]) == 0)
        pass(r);
    else
        say(r, CONFORM_FAIL, "an offer without msrp-cema whose c=/m= (127.0.0.2:%u) do not "
            "match its path (127.0.0.1:%u) was accepted", (unsigned)x->relay_port,
            (unsigned)x->msrp_port);
}

/* ---- the table ---------------------------------------------------------------------------- */

/* Each check with the most calls it places (--quick counts their waits). */
static const struct {
    const char *name;
    sipx_check_fn fn;
    unsigned calls;
} CHECKS[] = {
    {"media-message", media_message, 1},
    {"protocol", protocol, 1},
    {"tls-protocol", tls_protocol, 1},
    {"format-star", format_star, 1},
    {"c-line", c_line, 1},
    {"port-match", port_match, 1},
    {"decline-zero", decline_zero, 1},
    {"path", path_present, 1},
    {"path-port", path_port, 1},
    {"path-unique", path_unique, 2},
    {"accept-types", accept_types, 1},
    {"wrapped-repeat", wrapped_repeat, 1},
    {"not-understood", not_understood, 1},
    {"cema-answer", cema_answer, 1},
    {"cema-setup", cema_setup, 1},
    {"cema-relay", cema_relay, 1},
    {"no-cema-active", no_cema_active, 1},
    {"no-cema-relays", no_cema_relays, 1},
    {"middlebox", middlebox, 2},
};

sipx_check_fn sipx_check_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof CHECKS / sizeof CHECKS[0]; i++)
        if (strcmp(CHECKS[i].name, name) == 0)
            return CHECKS[i].fn;
    return NULL;
}

unsigned sipx_check_calls(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof CHECKS / sizeof CHECKS[0]; i++)
        if (strcmp(CHECKS[i].name, name) == 0)
            return CHECKS[i].calls;
    return 0;
}
