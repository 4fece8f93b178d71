/*
 * msg.c - SIP messages: stream framing, parsing with the mandatory-header checks, building
 * requests and responses through libosip2, and digest answers to 401 / 407 (src/wire/digest.c
 * does the hashing). What each function promises is in msg.h.
 */
#include "sip/msg.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/osip_port.h>

#include "wire/digest.h"
#include "wire/values.h"

static pthread_once_t osip_once = PTHREAD_ONCE_INIT;

/* Where libosip2's trace goes: nowhere. */
static void trace_drop(const char *file, int line, osip_trace_level_t level, const char *fmt,
                       va_list ap)
{
    (void)file;
    (void)line;
    (void)level;
    (void)fmt;
    (void)ap;
}

static void osip_setup(void)
{
    parser_init();
    /* libosip2 traces parse errors to stderr unless given a trace function (disabling the
     * levels alone does not stop it); our callers say why instead. */
    osip_trace_initialize_func(TRACE_LEVEL0, trace_drop);
    for (int l = TRACE_LEVEL0; l < END_TRACE_LEVEL; l++)
        osip_trace_disable_level((osip_trace_level_t)l);
}

void sip_osip_init(void)
{
    pthread_once(&osip_once, osip_setup);
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

/* ---- framing ------------------------------------------------------------------------------ */

/* RFC 3261 section 25.1 (from memory): token = 1*(alphanum / "-" / "." / "!" / "%" / "*" /
 * "_" / "+" / "`" / "'" / "~"). */
static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-.!%*_+`'~", c));
}

static enum sip_frame_status frame_error(struct sip_frame *out, size_t off, const char *what)
{
    out->error_offset = off;
    out->error = what;
    return SIP_FRAME_ERROR;
}

/* Checks a start line, whole (complete) or the part read so far. Returns -1 when it is (or
 * may still become) a start line, else the offset from s of the first byte that cannot be. */
static long start_line_bad(const char *s, size_t n, bool complete)
{
    static const char sipv[] = "SIP/2.0 ";
    size_t k = 0;
    while (k < n && k < 8 && s[k] == sipv[k])
        k++;
    if (k == 8) {
        /* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (3261 7.2, memory) */
        for (size_t i = 8; i < 11; i++) {
            if (i >= n)
                return complete ? (long)i : -1;
            if (s[i] < '0' || s[i] > '9')
                return (long)i;
        }
        return n > 11 && s[11] != ' ' ? 11 : -1;
    }
    if (k == n && !complete)
        return -1;
    /* Request-Line = Method SP Request-URI SP SIP-Version (3261 7.1, from memory) */
    size_t i = 0;
    while (i < n && tchar((unsigned char)s[i]))
        i++;
    if (i == n)
        return complete || i == 0 ? (long)i : -1;
    if (i == 0 || s[i] != ' ')
        return (long)i;
    size_t u = ++i;
    while (i < n && s[i] != ' ')
        i++;
    if (i == n)
        return complete ? (long)i : -1;
    if (i == u)
        return (long)i;
    i++;
    size_t rest = n - i, m = rest < 7 ? rest : 7;
    for (size_t j = 0; j < m; j++)
        if (s[i + j] != "SIP/2.0"[j])
            return (long)(i + j);
    if (rest > 7)
        return (long)(i + 7);
    if (rest < 7 && complete)
        return (long)n;
    return -1;
}

/* A header line's name equals Content-Length or its compact form "l" (3261 7.3.3, from
 * memory). Returns the offset of the value's first non-LWS byte, or 0. */
static size_t content_length_value(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && tchar((unsigned char)s[i]))
        i++;
    size_t name = i;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i == n || s[i] != ':')
        return 0;
    if (!((name == 14 && strncasecmp(s, "Content-Length", 14) == 0) ||
          (name == 1 && (s[0] == 'l' || s[0] == 'L'))))
        return 0;
    i++;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

enum sip_frame_status sip_frame_next(const char *buf, size_t len, struct sip_frame *out)
{
    memset(out, 0, sizeof *out);
    size_t i = 0;
    while (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
        i += 2;
    out->skip = i;
    if (i == len || (i + 1 == len && buf[i] == '\r'))
        return SIP_FRAME_NEED_MORE;
    size_t start = i, line = i;
    bool first = true, have_cl = false;
    uint64_t cl = 0;
    size_t hdr_end = 0;
    for (size_t p = start; p < len; p++) {
        unsigned char c = (unsigned char)buf[p];
        if (p - start >= SIP_FRAME_MAX_HEADERS)
            return frame_error(out, p, "header block longer than 64 KiB");
        if (c == '\n')
            return frame_error(out, p, "bare LF (lines end with CRLF, RFC 3261 section 7, "
                               "from memory)");
        if (c != '\r') {
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return frame_error(out, p, "control byte in the header block");
            continue;
        }
        if (p + 1 == len)
            break;
        if (buf[p + 1] != '\n')
            return frame_error(out, p, "CR not followed by LF");
        size_t n = p - line;
        if (first) {
            long bad = start_line_bad(buf + line, n, true);
            if (bad >= 0)
                return frame_error(out, line + (size_t)bad, "not a SIP start line");
            first = false;
        } else if (n == 0) {
            hdr_end = p + 2;
            break;
        } else if (buf[line] != ' ' && buf[line] != '\t') {
            size_t v = content_length_value(buf + line, n);
            if (v) {
                uint64_t val = 0;
                size_t k = v, e = n;
                while (e > v && (buf[line + e - 1] == ' ' || buf[line + e - 1] == '\t'))
                    e--;
                if (k == e)
                    return frame_error(out, line + v, "Content-Length without a value");
                for (; k < e; k++) {
                    char d = buf[line + k];
                    if (d < '0' || d > '9')
                        return frame_error(out, line + k, "Content-Length not 1*DIGIT");
                    if (val > SIP_FRAME_MAX_BODY)
                        break;
                    val = val * 10 + (uint64_t)(d - '0');
                }
                if (val > SIP_FRAME_MAX_BODY)
                    return frame_error(out, line + v, "Content-Length above 1 MiB");
                if (have_cl && val != cl)
                    return frame_error(out, line + v, "two Content-Length values");
                have_cl = true;
                cl = val;
            }
        }
        p++;
        line = p + 1;
    }
    if (first) {
        /* The start line so far, without a CR that may be the first half of its CRLF. */
        size_t n = len - start - (buf[len - 1] == '\r' ? 1 : 0);
        long bad = start_line_bad(buf + start, n, false);
        if (bad >= 0)
            return frame_error(out, start + (size_t)bad, "not a SIP start line");
    }
    if (!hdr_end)
        return SIP_FRAME_NEED_MORE;
    if (!have_cl)
        return frame_error(out, hdr_end - 2, "no Content-Length on a stream (RFC 3261 section "
                           "18.3, from memory: MUST)");
    if (len - hdr_end < cl)
        return SIP_FRAME_NEED_MORE;
    out->len = hdr_end - start + (size_t)cl;
    return SIP_FRAME_MESSAGE;
}

/* ---- parsing ------------------------------------------------------------------------------ */

osip_message_t *sip_msg_parse(const char *buf, size_t len, char *why, size_t wc)
{
    sip_osip_init();
    say(why, wc, "%s", "");
    osip_message_t *m = NULL;
    if (!buf || len == 0) {
        say(why, wc, "empty message");
        return NULL;
    }
    if (osip_message_init(&m) != 0) {
        say(why, wc, "out of memory");
        return NULL;
    }
    if (osip_message_parse(m, buf, len) != 0) {
        say(why, wc, "libosip2 could not parse the message");
        goto bad;
    }
    /* RFC 3261 section 8.1.1 (from memory): To, From, CSeq, Call-ID, Max-Forwards and Via in
     * every request; Max-Forwards is not insisted on, since only proxies act on it. */
    if (osip_list_size(&m->vias) < 1 || !m->from || !m->to || !m->call_id ||
        !m->call_id->number || !m->cseq || !m->cseq->number || !m->cseq->method) {
        say(why, wc, "a Via, From, To, Call-ID or CSeq header is missing (RFC 3261 section "
            "8.1.1, from memory)");
        goto bad;
    }
    char *end;
    unsigned long n = strtoul(m->cseq->number, &end, 10);
    if (*end || end == m->cseq->number || n > 0x7fffffffUL) {
        say(why, wc, "CSeq number \"%s\" is not a 31-bit integer (RFC 3261 section 8.1.1.5, "
            "from memory)", m->cseq->number);
        goto bad;
    }
    if (MSG_IS_REQUEST(m)) {
        if (!m->sip_method || strcmp(m->sip_method, m->cseq->method) != 0) {
            say(why, wc, "CSeq method %s differs from the request's %s (RFC 3261 section "
                "8.1.1.5, from memory)", m->cseq->method, m->sip_method ? m->sip_method : "?");
            goto bad;
        }
    } else if (m->status_code < 100 || m->status_code > 699) {
        say(why, wc, "status code %d out of 100..699", m->status_code);
        goto bad;
    }
    return m;
bad:
    osip_message_free(m);
    return NULL;
}

const char *sip_msg_branch(const osip_message_t *m)
{
    osip_via_t *v = NULL;
    osip_generic_param_t *b = NULL;
    if (osip_message_get_via(m, 0, &v) < 0 || !v)
        return NULL;
    if (osip_via_param_get_byname(v, "branch", &b) != 0 || !b)
        return NULL;
    return b->gvalue;
}

static const char *tag_of(osip_from_t *h)
{
    osip_generic_param_t *t = NULL;
    if (!h || osip_from_param_get_byname(h, "tag", &t) != 0 || !t)
        return NULL;
    return t->gvalue;
}

const char *sip_msg_to_tag(const osip_message_t *m)
{
    return tag_of(m->to);
}

const char *sip_msg_from_tag(const osip_message_t *m)
{
    return tag_of(m->from);
}

uint32_t sip_msg_cseq(const osip_message_t *m)
{
    return m->cseq && m->cseq->number ? (uint32_t)strtoul(m->cseq->number, NULL, 10) : 0;
}

const char *sip_msg_cseq_method(const osip_message_t *m)
{
    return m->cseq ? m->cseq->method : NULL;
}

const char *sip_msg_body(const osip_message_t *m, size_t *len)
{
    osip_body_t *b = NULL;
    if (osip_message_get_body(m, 0, &b) < 0 || !b || !b->body)
        return NULL;
    if (len)
        *len = b->length;
    return b->body;
}

int sip_msg_to_text(osip_message_t *m, char *out, size_t cap, size_t *len)
{
    char *s = NULL;
    size_t n = 0;
    if (osip_message_to_str(m, &s, &n) != 0 || !s)
        return EINVAL;
    if (len)
        *len = n;
    int r = 0;
    if (n >= cap) {
        if (cap)
            out[0] = '\0';
        r = ENOSPC;
    } else {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    osip_free(s);
    return r;
}

/* ---- building ----------------------------------------------------------------------------- */

static bool clean(const char *s)
{
    return !s || !strpbrk(s, "\r\n");
}

static int clone_via(void *src, void **dst)
{
    return osip_via_clone(src, (osip_via_t **)dst);
}

static int clone_name_addr(void *src, void **dst)
{
    return osip_from_clone(src, (osip_from_t **)dst);
}

/* Adds a header through libosip2's parser; false when it refuses the value. */
static bool add(int rc)
{
    return rc == 0;
}

/* Serializes and frees m. */
static int emit(osip_message_t *m, char *out, size_t cap, size_t *len, char *why, size_t wc)
{
    int r = sip_msg_to_text(m, out, cap, len);
    if (r == EINVAL)
        say(why, wc, "libosip2 could not write the message");
    osip_message_free(m);
    return r;
}

int sip_msg_build_request(const struct sip_req *r, char *out, size_t cap, size_t *len,
                          char *why, size_t wc)
{
    sip_osip_init();
    say(why, wc, "%s", "");
    if (cap)
        out[0] = '\0';
    if (!r || !r->method || !r->uri || !r->from || !r->from_tag || !r->to || !r->call_id ||
        !r->via_transport || !r->via_host || !r->branch) {
        say(why, wc, "a required field is missing");
        return EINVAL;
    }
    const char *fields[] = {r->method, r->uri, r->from, r->from_tag, r->to, r->to_tag,
                            r->call_id, r->via_transport, r->via_host, r->branch, r->contact,
                            r->auth_header, r->auth_value, r->content_type};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!clean(fields[i])) {
            say(why, wc, "CR or LF in a field");
            return EINVAL;
        }
    for (const char *p = r->method; *p; p++)
        if (!tchar((unsigned char)*p)) {
            say(why, wc, "method is not a token");
            return EINVAL;
        }
    /* RFC 3261 section 8.1.1.7 (from memory): the branch "MUST always begin with" z9hG4bK. */
    if (strncmp(r->branch, "z9hG4bK", 7) != 0 || !r->branch[7]) {
        say(why, wc, "branch does not begin with z9hG4bK (RFC 3261 section 8.1.1.7, from "
            "memory)");
        return EINVAL;
    }
    if ((r->auth_header != NULL) != (r->auth_value != NULL) ||
        (r->auth_header && strcasecmp(r->auth_header, "Authorization") != 0 &&
         strcasecmp(r->auth_header, "Proxy-Authorization") != 0)) {
        say(why, wc, "auth_header must be Authorization or Proxy-Authorization, with a value");
        return EINVAL;
    }
    if (r->body && !r->content_type) {
        say(why, wc, "a body needs a content type");
        return EINVAL;
    }
    osip_message_t *m = NULL;
    if (osip_message_init(&m) != 0)
        return ENOMEM;
    osip_message_set_method(m, osip_strdup(r->method));
    osip_message_set_version(m, osip_strdup("SIP/2.0"));
    osip_uri_t *u = NULL;
    if (osip_uri_init(&u) != 0 || osip_uri_parse(u, r->uri) != 0) {
        osip_uri_free(u);
        osip_message_free(m);
        say(why, wc, "bad Request-URI \"%s\"", r->uri);
        return EINVAL;
    }
    osip_message_set_uri(m, u);
    char b[1024];
    bool v6 = strchr(r->via_host, ':') != NULL;
    snprintf(b, sizeof b, "SIP/2.0/%s %s%s%s:%u;branch=%s;rport", r->via_transport, v6 ? "[" : "",
             r->via_host, v6 ? "]" : "", (unsigned)r->via_port, r->branch);
    bool ok = add(osip_message_set_via(m, b));
    snprintf(b, sizeof b, "%s;tag=%s", r->from, r->from_tag);
    ok = ok && add(osip_message_set_from(m, b));
    if (r->to_tag)
        snprintf(b, sizeof b, "%s;tag=%s", r->to, r->to_tag);
    else
        snprintf(b, sizeof b, "%s", r->to);
    ok = ok && add(osip_message_set_to(m, b));
    ok = ok && add(osip_message_set_call_id(m, r->call_id));
    snprintf(b, sizeof b, "%u %s", (unsigned)r->cseq, r->method);
    ok = ok && add(osip_message_set_cseq(m, b));
    for (int i = 0; ok && i < r->route_count; i++)
        ok = clean(r->routes[i]) && add(osip_message_set_route(m, r->routes[i]));
    if (ok && r->contact)
        ok = add(osip_message_set_contact(m, r->contact));
    snprintf(b, sizeof b, "%d", r->max_forwards > 0 ? r->max_forwards : 70);
    ok = ok && add(osip_message_set_max_forwards(m, b));
    if (ok && r->expires >= 0) {
        snprintf(b, sizeof b, "%d", r->expires);
        ok = add(osip_message_set_expires(m, b));
    }
    if (ok && r->auth_header)
        ok = add(osip_message_set_header(m, r->auth_header, r->auth_value));
    if (ok && r->body) {
        ok = add(osip_message_set_content_type(m, r->content_type)) &&
             add(osip_message_set_body(m, r->body, r->body_len));
    } else if (ok) {
        /* Streams need Content-Length on every message (RFC 3261 section 18.3, memory). */
        ok = add(osip_message_set_content_length(m, "0"));
    }
    if (!ok) {
        osip_message_free(m);
        say(why, wc, "libosip2 refused a header value (From, To, Call-ID, Route, Contact or "
            "the body)");
        return EINVAL;
    }
    return emit(m, out, cap, len, why, wc);
}

int sip_msg_build_cancel_or_ack(const osip_message_t *inv, const char *method,
                                const osip_message_t *resp, char *out, size_t cap, size_t *len,
                                char *why, size_t wc)
{
    sip_osip_init();
    say(why, wc, "%s", "");
    if (cap)
        out[0] = '\0';
    bool cancel = method && strcmp(method, "CANCEL") == 0;
    bool ack = method && strcmp(method, "ACK") == 0;
    if (!inv || !MSG_IS_INVITE(inv) || (!cancel && !ack) || (ack && !resp) ||
        (ack && (!MSG_IS_RESPONSE(resp) || resp->status_code < 300)) || !inv->cseq ||
        !inv->from || !inv->to || !inv->call_id || osip_list_size(&inv->vias) < 1) {
        say(why, wc, "needs a parsed INVITE, and for ACK its non-2xx final response");
        return EINVAL;
    }
    osip_message_t *m = NULL;
    if (osip_message_init(&m) != 0)
        return ENOMEM;
    osip_message_set_method(m, osip_strdup(method));
    osip_message_set_version(m, osip_strdup("SIP/2.0"));
    osip_uri_t *u = NULL;
    osip_via_t *via = NULL, *top = NULL;
    bool ok = osip_uri_clone(osip_message_get_uri(inv), &u) == 0;
    if (ok)
        osip_message_set_uri(m, u);
    /* Only the top Via, same branch (RFC 3261 sections 9.1 and 17.1.1.3, from memory). */
    ok = ok && osip_message_get_via(inv, 0, &top) >= 0 && osip_via_clone(top, &via) == 0;
    if (ok)
        ok = osip_list_add(&m->vias, via, -1) >= 0;
    ok = ok && osip_from_clone(inv->from, &m->from) == 0;
    ok = ok && osip_to_clone(cancel ? inv->to : resp->to, &m->to) == 0;
    ok = ok && osip_call_id_clone(inv->call_id, &m->call_id) == 0;
    char b[64];
    snprintf(b, sizeof b, "%s %s", inv->cseq->number, method);
    ok = ok && add(osip_message_set_cseq(m, b));
    ok = ok && osip_list_clone(&inv->routes, &m->routes, clone_name_addr) == 0;
    ok = ok && add(osip_message_set_max_forwards(m, "70"));
    ok = ok && add(osip_message_set_content_length(m, "0"));
    if (!ok) {
        osip_message_free(m);
        say(why, wc, "libosip2 could not copy the INVITE's headers");
        return EINVAL;
    }
    return emit(m, out, cap, len, why, wc);
}

int sip_msg_build_response(const osip_message_t *req, const struct sip_resp *p, char *out,
                           size_t cap, size_t *len, char *why, size_t wc)
{
    sip_osip_init();
    say(why, wc, "%s", "");
    if (cap)
        out[0] = '\0';
    if (!req || !p || !MSG_IS_REQUEST(req) || p->code < 100 || p->code > 699 || !req->from ||
        !req->to || !req->call_id || !req->cseq || !clean(p->reason) || !clean(p->to_tag) ||
        !clean(p->contact) || !clean(p->content_type) || !clean(p->extra_name) ||
        !clean(p->extra_value) || (p->body && !p->content_type) ||
        (p->extra_name != NULL) != (p->extra_value != NULL)) {
        say(why, wc, "needs a parsed request and a code in 100..699; no CR/LF in values");
        return EINVAL;
    }
    osip_message_t *m = NULL;
    if (osip_message_init(&m) != 0)
        return ENOMEM;
    osip_message_set_version(m, osip_strdup("SIP/2.0"));
    osip_message_set_status_code(m, p->code);
    const char *reason = p->reason ? p->reason : osip_message_get_reason(p->code);
    osip_message_set_reason_phrase(m, osip_strdup(reason && *reason ? reason : "Unknown"));
    bool ok = osip_list_clone(&req->vias, &m->vias, clone_via) == 0;
    ok = ok && osip_from_clone(req->from, &m->from) == 0;
    ok = ok && osip_to_clone(req->to, &m->to) == 0;
    ok = ok && osip_call_id_clone(req->call_id, &m->call_id) == 0;
    ok = ok && osip_cseq_clone(req->cseq, &m->cseq) == 0;
    /* The UAS adds a To tag to every response but 100 (RFC 3261 section 8.2.6.2, memory). */
    if (ok && p->to_tag && p->code > 100 && !tag_of(m->to))
        ok = osip_to_set_tag(m->to, osip_strdup(p->to_tag)) == 0;
    /* Record-Route is copied into dialog-creating responses (RFC 3261 section 12.1.1). */
    if (ok && MSG_IS_INVITE(req) && p->code > 100 && p->code < 300)
        ok = osip_list_clone(&req->record_routes, &m->record_routes, clone_name_addr) == 0;
    if (ok && p->contact)
        ok = add(osip_message_set_contact(m, p->contact));
    if (ok && p->extra_name)
        ok = add(osip_message_set_header(m, p->extra_name, p->extra_value));
    if (ok && p->body)
        ok = add(osip_message_set_content_type(m, p->content_type)) &&
             add(osip_message_set_body(m, p->body, p->body_len));
    else if (ok)
        ok = add(osip_message_set_content_length(m, "0"));
    if (!ok) {
        osip_message_free(m);
        say(why, wc, "libosip2 refused a header value");
        return EINVAL;
    }
    return emit(m, out, cap, len, why, wc);
}

/* ---- digest ------------------------------------------------------------------------------- */

int sip_msg_auth_answer(const osip_message_t *resp, const char *method, const char *uri,
                        const char *user, const char *password, uint32_t nc, const char *cnonce,
                        struct msrp_idgen *ids, const char **hname, char *out, size_t cap,
                        size_t *len, char *why, size_t wc)
{
    say(why, wc, "%s", "");
    if (!resp || !MSG_IS_RESPONSE(resp) || !hname || !method || !uri || !user || !password ||
        (resp->status_code != 401 && resp->status_code != 407)) {
        say(why, wc, "needs a 401 or 407 response and the request's method and URI");
        return EINVAL;
    }
    bool proxy = resp->status_code == 407;
    /* 401 carries WWW-Authenticate and is answered with Authorization; 407 carries
     * Proxy-Authenticate, answered with Proxy-Authorization (RFC 3261 22.2, 22.3, memory). */
    const osip_list_t *list = proxy ? &resp->proxy_authenticates : &resp->www_authenticates;
    *hname = proxy ? "Proxy-Authorization" : "Authorization";
    for (int i = 0; i < osip_list_size(list); i++) {
        osip_www_authenticate_t *w = osip_list_get(list, i);
        char *text = NULL;
        if (!w || osip_www_authenticate_to_str(w, &text) != 0 || !text)
            continue;
        struct msrp_digest ch;
        if (strncasecmp(text, "Digest ", 7) != 0 ||
            !msrp_digest_challenge_parse(msrp_span_cstr(text), &ch)) {
            osip_free(text);
            continue;
        }
        int r = msrp_digest_answer(&ch, user, password, method, uri, nc, cnonce, ids, out, cap,
                                   len);
        osip_free(text);
        if (r == EINVAL)
            say(why, wc, "the Digest challenge cannot be answered (no realm or nonce, an "
                "algorithm other than MD5, or no qop auth)");
        return r;
    }
    say(why, wc, "no Digest %s header", proxy ? "Proxy-Authenticate" : "WWW-Authenticate");
    return EINVAL;
}
