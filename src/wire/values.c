/*
 * values.c - structured MSRP header values (RFC 4975 section 9, RFC 4976 section 7, RFC 2617).
 *
 * Every parser here is one forward pass over a value the chunk parser has already cut out of
 * the head, with no allocation and no copying: results are spans into that value. Nothing reads
 * past v.ptr[v.len - 1], which the tests check by placing every vector before a PROT_NONE page.
 *
 * A parser writes its result only when it returns true, so a caller can keep a default in *out
 * and overwrite it with one call.
 */
#include "wire/values.h"

#include <limits.h>
#include <stddef.h>

/*
 * Character classes, one bit each, looked up in a 256-entry table built at compile time from
 * the ABNF below so that the table and the grammar cannot drift apart.
 */
enum {
    CC_ALNUM = 1u << 0,  /* ALPHA / DIGIT */
    CC_IDENT = 1u << 1,  /* RFC 4975 s.9 ident-char = ALPHANUM / "." / "-" / "+" / "%" / "=" */
    CC_TOKEN = 1u << 2,  /* RFC 4975 s.9 token character (the same set as RFC 2045's) */
    CC_QDTEXT = 1u << 3, /* RFC 4975 s.9 qdtext, ASCII part */
    CC_TEXT = 1u << 4,   /* RFC 4975 s.9 utf8text, ASCII part: HTAB / %x20-7E */
    CC_LHEX = 1u << 5,   /* RFC 2617 s.3.2.1 LHEX = DIGIT / "a".."f" (lower case only) */
};

#define CC_IN(c, lo, hi) ((c) >= (lo) && (c) <= (hi))
#define CC_IS_ALNUM(c) (CC_IN(c, '0', '9') || CC_IN(c, 'A', 'Z') || CC_IN(c, 'a', 'z'))
#define CC_IS_IDENT(c)                                                                             \
    (CC_IS_ALNUM(c) || (c) == '.' || (c) == '-' || (c) == '+' || (c) == '%' || (c) == '=')
/* token = 1*(%x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E) */
#define CC_IS_TOKEN(c)                                                                             \
    ((c) == 0x21 || CC_IN(c, 0x23, 0x27) || CC_IN(c, 0x2A, 0x2B) || CC_IN(c, 0x2D, 0x2E) ||        \
     CC_IN(c, 0x30, 0x39) || CC_IN(c, 0x41, 0x5A) || CC_IN(c, 0x5E, 0x7E))
/* qdtext = SP / HTAB / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII */
#define CC_IS_QDTEXT(c)                                                                            \
    ((c) == 0x20 || (c) == 0x09 || (c) == 0x21 || CC_IN(c, 0x23, 0x5B) || CC_IN(c, 0x5D, 0x7E))
#define CC_IS_TEXT(c) ((c) == 0x09 || CC_IN(c, 0x20, 0x7E))
#define CC_IS_LHEX(c) (CC_IN(c, '0', '9') || CC_IN(c, 'a', 'f'))

#define CC_OF(c)                                                                                   \
    ((CC_IS_ALNUM(c) ? CC_ALNUM : 0) | (CC_IS_IDENT(c) ? CC_IDENT : 0) |                           \
     (CC_IS_TOKEN(c) ? CC_TOKEN : 0) | (CC_IS_QDTEXT(c) ? CC_QDTEXT : 0) |                         \
     (CC_IS_TEXT(c) ? CC_TEXT : 0) | (CC_IS_LHEX(c) ? CC_LHEX : 0))
#define CC_ROW4(b) CC_OF(b), CC_OF((b) + 1), CC_OF((b) + 2), CC_OF((b) + 3)
#define CC_ROW16(b) CC_ROW4(b), CC_ROW4((b) + 4), CC_ROW4((b) + 8), CC_ROW4((b) + 12)
#define CC_ROW64(b) CC_ROW16(b), CC_ROW16((b) + 16), CC_ROW16((b) + 32), CC_ROW16((b) + 48)

static const unsigned char char_class[256] = {CC_ROW64(0), CC_ROW64(64), CC_ROW64(128),
                                              CC_ROW64(192)};

static inline bool has_class(char c, unsigned cls)
{
    return (char_class[(unsigned char)c] & cls) != 0;
}

static inline bool is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

static inline bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static inline struct msrp_span span_between(const char *from, const char *to)
{
    return msrp_span_make(from, (size_t)(to - from));
}

static inline bool span_is(struct msrp_span v, const char *lit, size_t len)
{
    return v.len == len && memcmp(v.ptr, lit, len) == 0;
}

/* ---- numbers ---------------------------------------------------------------------------- */

/* The largest Byte-Range number: it keeps UINT64_MAX free for "*" and total + 1 from wrapping. */
#define RANGE_MAX (UINT64_C(1) << 63)

/*
 * 1*DIGIT at *pp, no larger than max, and *pp moved past it. Leading zeros are allowed, since
 * the ABNF says only 1*DIGIT. max must be at most 2^63: a value that passed n <= max / 10 then
 * satisfies n * 10 + 9 <= max + 9, which cannot wrap, and the next digit, or the final test,
 * catches it. That is one comparison a digit and no division at run time (max is a constant
 * in every caller, so max / 10 folds).
 */
static inline bool parse_uint(const char **pp, const char *end, uint64_t max, uint64_t *out)
{
    const char *p = *pp;
    uint64_t n = 0;

    if (p == end || !is_digit(*p))
        return false;
    do {
        if (n > max / 10)
            return false;
        n = n * 10 + (uint64_t)(*p - '0');
        p++;
    } while (p != end && is_digit(*p));
    if (n > max)
        return false;
    *pp = p;
    *out = n;
    return true;
}

/* range-end and total: 1*DIGIT / "*" (RFC 4975 section 9). */
static inline bool parse_uint_or_star(const char **pp, const char *end, uint64_t *out)
{
    if (*pp != end && **pp == '*') {
        (*pp)++;
        *out = MSRP_RANGE_UNKNOWN;
        return true;
    }
    return parse_uint(pp, end, RANGE_MAX, out);
}

/*
 * Byte-Range = range-start "-" range-end "/" total (RFC 4975 section 9). Called for every chunk,
 * so it is a single pass with no library calls. The arithmetic follows the meaning RFC 4975
 * section 7.1.1 gives the numbers: range-start is the 1-based position of the first body byte,
 * range-end the position of the last one (so start - 1 for an empty body), and total the size
 * of the whole message; a chunk cannot start beyond the byte after the last one.
 */
bool msrp_byte_range_parse(struct msrp_span v, struct msrp_byte_range *out)
{
    if (v.len == 0)
        return false;

    const char *p = v.ptr, *end = v.ptr + v.len;
    uint64_t start, last, total;

    if (!parse_uint(&p, end, RANGE_MAX, &start) || p == end || *p++ != '-')
        return false;
    if (!parse_uint_or_star(&p, end, &last) || p == end || *p++ != '/')
        return false;
    if (!parse_uint_or_star(&p, end, &total) || p != end)
        return false;

    /* start >= 1 keeps start - 1 from wrapping; every number is at most 2^63, so total + 1
     * cannot wrap either. */
    if (start == 0)
        return false;
    if (last != MSRP_RANGE_UNKNOWN && last < start - 1)
        return false;
    if (total != MSRP_RANGE_UNKNOWN) {
        if (start > total + 1)
            return false;
        if (last != MSRP_RANGE_UNKNOWN && last > total)
            return false;
    }
    out->start = start;
    out->end = last;
    out->total = total;
    return true;
}

/* Decimal digits of n at dst (which has room for 20), returning how many. */
static size_t put_uint(char *dst, uint64_t n)
{
    char tmp[20];
    size_t len = 0;

    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    for (size_t i = 0; i < len; i++)
        dst[i] = tmp[len - 1 - i];
    return len;
}

static size_t put_uint_or_star(char *dst, uint64_t n)
{
    if (n == MSRP_RANGE_UNKNOWN) {
        dst[0] = '*';
        return 1;
    }
    return put_uint(dst, n);
}

size_t msrp_byte_range_format(const struct msrp_byte_range *r, char *buf, size_t cap)
{
    /* Three 20-digit numbers and two separators: the longest possible result. */
    char tmp[3 * 20 + 2];
    size_t n = put_uint(tmp, r->start);

    tmp[n++] = '-';
    n += put_uint_or_star(tmp + n, r->end);
    tmp[n++] = '/';
    n += put_uint_or_star(tmp + n, r->total);

    if (cap > 0) {
        size_t copy = n < cap ? n : cap - 1;
        memcpy(buf, tmp, copy);
        buf[copy] = '\0';
    }
    return n;
}

/* ---- Success-Report, Failure-Report ----------------------------------------------------- */

/* RFC 4975 section 9 spells the values as case-sensitive literals ("yes" / "no" / "partial"). */
bool msrp_success_report_parse(struct msrp_span v, enum msrp_report *out)
{
    if (span_is(v, "yes", 3))
        *out = MSRP_REPORT_YES;
    else if (span_is(v, "no", 2))
        *out = MSRP_REPORT_NO;
    else
        return false;
    return true;
}

bool msrp_failure_report_parse(struct msrp_span v, enum msrp_report *out)
{
    if (span_is(v, "partial", 7)) {
        *out = MSRP_REPORT_PARTIAL;
        return true;
    }
    return msrp_success_report_parse(v, out);
}

const char *msrp_report_name(enum msrp_report r)
{
    switch (r) {
    case MSRP_REPORT_YES:
        return "yes";
    case MSRP_REPORT_NO:
        return "no";
    case MSRP_REPORT_PARTIAL:
        return "partial";
    case MSRP_REPORT_ABSENT:
        break;
    }
    return NULL;
}

/* ---- UTF-8 text ------------------------------------------------------------------------- */

/*
 * Length of one UTF8-NONASCII sequence at p, or 0 (RFC 4975 section 9, after RFC 3261):
 * a lead byte C0-DF, E0-EF, F0-F7, F8-FB or FC-FD followed by 1 to 5 continuation bytes 80-BF.
 * The ABNF predates RFC 3629 and admits overlong and 5- and 6-byte forms; we accept exactly
 * what it admits, since a load generator has no business being stricter than the protocol.
 */
static size_t utf8_nonascii_len(const char *p, const char *end)
{
    unsigned char c = (unsigned char)*p;
    size_t n;

    if (c < 0xC0 || c > 0xFD)
        return 0;
    n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : c < 0xFC ? 5 : 6;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (((unsigned char)p[i] & 0xC0) != 0x80)
            return 0;
    }
    return n;
}

/* utf8text = *(HTAB / %x20-7E / UTF8-NONASCII) (RFC 4975 section 9). */
static bool utf8text_valid(const char *p, const char *end)
{
    while (p != end) {
        if (has_class(*p, CC_TEXT)) {
            p++;
            continue;
        }
        size_t n = utf8_nonascii_len(p, end);
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

/* ---- Status, Expires, Message-ID -------------------------------------------------------- */

static inline bool three_digits(const char *p, int *out)
{
    if (!is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]))
        return false;
    *out = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    return true;
}

/*
 * Status = namespace SP status-code [SP text-reason] (RFC 4975 section 9); namespace and
 * status-code are exactly three digits, text-reason is utf8text and may be empty after its SP.
 * Any namespace is accepted: only "000" is defined, and the caller decides what to do with
 * the others.
 */
bool msrp_status_parse(struct msrp_span v, struct msrp_status *out)
{
    int ns, code;
    struct msrp_span reason;

    if (v.len < 7 || !three_digits(v.ptr, &ns) || v.ptr[3] != ' ' ||
        !three_digits(v.ptr + 4, &code))
        return false;
    reason = msrp_span_make(v.ptr + 7, 0);
    if (v.len > 7) {
        if (v.ptr[7] != ' ' || !utf8text_valid(v.ptr + 8, v.ptr + v.len))
            return false;
        reason = msrp_span_make(v.ptr + 8, v.len - 8);
    }
    out->ns = ns;
    out->code = code;
    out->reason = reason;
    return true;
}

/* Expires, Min-Expires, Max-Expires = 1*DIGIT (RFC 4976 section 7), in uint32_t seconds. */
bool msrp_expires_parse(struct msrp_span v, uint32_t *out)
{
    if (v.len == 0)
        return false;

    const char *p = v.ptr, *end = v.ptr + v.len;
    uint64_t n;

    if (!parse_uint(&p, end, UINT32_MAX, &n) || p != end)
        return false;
    *out = (uint32_t)n;
    return true;
}

/* ident = ALPHANUM 3*31ident-char (RFC 4975 section 9): 4 to 32 characters. */
bool msrp_message_id_valid(struct msrp_span v)
{
    if (v.len < 4 || v.len > 32 || !has_class(v.ptr[0], CC_ALNUM))
        return false;
    for (size_t i = 1; i < v.len; i++) {
        if (!has_class(v.ptr[i], CC_IDENT))
            return false;
    }
    return true;
}

/* ---- parameters ------------------------------------------------------------------------- */

static inline const char *skip_wsp(const char *p, const char *end)
{
    while (p != end && is_wsp(*p))
        p++;
    return p;
}

static inline const char *skip_token(const char *p, const char *end)
{
    while (p != end && has_class(*p, CC_TOKEN))
        p++;
    return p;
}

/*
 * quoted-string at p, which is a DQUOTE: returns the byte after the closing DQUOTE, or NULL.
 * RFC 4975 section 9 allows only \\ and \" as escapes (qd-esc); RFC 2617 inherits RFC 2616's
 * quoted-pair, "\" CHAR. We accept a backslash before any HTAB or printable ASCII character:
 * a superset of qd-esc that msrp_unquote() resolves the same way. Control characters stay out
 * either way, as an MSRP header value is utf8text (RFC 4975 section 9, hval).
 */
static const char *skip_quoted(const char *p, const char *end)
{
    p++;
    while (p != end) {
        char c = *p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            if (end - p < 2 || !has_class(p[1], CC_TEXT))
                return NULL;
            p += 2;
        } else if (has_class(c, CC_QDTEXT)) {
            p++;
        } else {
            size_t n = utf8_nonascii_len(p, end);
            if (n == 0)
                return NULL;
            p += n;
        }
    }
    return NULL;
}

/*
 * One `name [*WSP "=" *WSP value]` at *pp, with no separator before it. value is a token or a
 * quoted-string. A missing "= value" is allowed only when value_optional: RFC 4975 section 9
 * makes it optional in a media type (gen-param = pname [ "=" pval ]), RFC 2045, RFC 2183 and
 * RFC 2617 (auth-param) require it.
 */
static bool param_parse(const char **pp, const char *end, bool value_optional,
                        struct msrp_param *out)
{
    const char *p = *pp, *q = skip_token(p, end);

    if (q == p)
        return false;
    out->name = span_between(p, q);
    p = skip_wsp(q, end);
    if (p == end || *p != '=') {
        if (!value_optional)
            return false;
        out->value = msrp_span_make(q, 0);
        out->quoted = false;
        *pp = q;
        return true;
    }
    p = skip_wsp(p + 1, end);
    if (p != end && *p == '"') {
        q = skip_quoted(p, end);
        if (q == NULL)
            return false;
        out->value = span_between(p + 1, q - 1);
        out->quoted = true;
    } else {
        q = skip_token(p, end);
        if (q == p)
            return false;
        out->value = span_between(p, q);
        out->quoted = false;
    }
    *pp = q;
    return true;
}

/* *WSP sep *WSP param, or *WSP at the end. Returns 1, 0 or -1 as msrp_param_next(). */
static int param_next(const char **pp, const char *end, char sep, bool value_optional,
                      struct msrp_param *out)
{
    const char *p = skip_wsp(*pp, end);

    if (p == end) {
        *pp = p;
        return 0;
    }
    if (*p != sep)
        return -1;
    p = skip_wsp(p + 1, end);
    if (!param_parse(&p, end, value_optional, out))
        return -1;
    *pp = p;
    return 1;
}

int msrp_param_next(struct msrp_span *rest, char sep, struct msrp_param *out)
{
    if (rest->len == 0)
        return 0;

    const char *p = rest->ptr, *end = rest->ptr + rest->len;
    int rc = param_next(&p, end, sep, sep == ';', out);

    if (rc >= 0)
        *rest = span_between(p, end);
    return rc;
}

/* The whole of *( ";" param ) after a media or disposition type, with optional whitespace. */
static bool semicolon_params_valid(const char *p, const char *end, bool value_optional)
{
    struct msrp_param prm;
    int rc;

    while ((rc = param_next(&p, end, ';', value_optional, &prm)) > 0)
        ;
    return rc == 0;
}

/*
 * media-type = type "/" subtype *( ";" gen-param ) (RFC 4975 section 9, RFC 2045 section 5.1).
 * No whitespace around "/": RFC 4975's ABNF has none, and RFC 2616 section 3.7 forbids it.
 */
bool msrp_media_type_parse(struct msrp_span v, struct msrp_media_type *out)
{
    if (v.len == 0)
        return false;

    const char *p = v.ptr, *end = v.ptr + v.len;
    const char *slash = skip_token(p, end);

    if (slash == p || slash == end || *slash != '/')
        return false;
    const char *sub_end = skip_token(slash + 1, end);
    if (sub_end == slash + 1 || !semicolon_params_valid(sub_end, end, true))
        return false;
    out->type = span_between(p, slash);
    out->subtype = span_between(slash + 1, sub_end);
    out->params = span_between(sub_end, end);
    return true;
}

/* disposition := disposition-type *( ";" disposition-parm ) (RFC 2183 section 2). */
bool msrp_disposition_parse(struct msrp_span v, struct msrp_disposition *out)
{
    if (v.len == 0)
        return false;

    const char *p = v.ptr, *end = v.ptr + v.len;
    const char *type_end = skip_token(p, end);

    if (type_end == p || !semicolon_params_valid(type_end, end, false))
        return false;
    out->type = span_between(p, type_end);
    out->params = span_between(type_end, end);
    return true;
}

int msrp_unquote(struct msrp_span quoted_content, char *dst, size_t cap)
{
    size_t n = 0;

    /* An absent value ({NULL, 0}) unquotes to "": test before any pointer arithmetic. */
    if (quoted_content.len == 0) {
        if (cap == 0)
            return -1;
        dst[0] = '\0';
        return 0;
    }

    const char *p = quoted_content.ptr, *end = p + quoted_content.len;
    while (p != end) {
        char c = *p++;
        /* A validated quoted-string never ends in a lone backslash; copy one as it stands. */
        if (c == '\\' && p != end)
            c = *p++;
        if (n + 1 >= cap)
            return -1;
        dst[n++] = c;
    }
    if (n > INT_MAX)
        return -1;
    dst[n] = '\0';
    return (int)n;
}

/* ---- digest authentication -------------------------------------------------------------- */

enum { DF_QUOTED = 1, DF_TOKEN = 2, DF_EITHER = DF_QUOTED | DF_TOKEN };
enum { DF_ANY, DF_LHEX8, DF_TRUE_FALSE };
enum { DF_CHALLENGE = 1, DF_INFO = 2 };

/* clang-format off */
#define DF_NAME(s) {(s), sizeof(s) - 1}
/* clang-format on */
#define DF_SPAN(f) offsetof(struct msrp_digest, f)
#define DF_FLAG(f) ((int)offsetof(struct msrp_digest, f))
#define DF_NO_FLAG (-1)

/*
 * The parameters picked out, by name (case-insensitive: RFC 2617 section 1.2 via RFC 2616
 * section 2.1). A field with a *_q flag in struct msrp_digest accepts a token or a
 * quoted-string and the flag says which; the others must have the one form RFC 2617 gives
 * them, since a caller could not tell an escaped quoted value from a token. stale and nc
 * have their values checked too, as the grammar is that narrow.
 */
static const struct digest_field {
    struct msrp_span name;
    size_t span_off;
    int flag_off;
    unsigned char forms;
    unsigned char check;
    unsigned char where;
} digest_fields[] = {
    /* RFC 2617 section 3.2.1, the challenge */
    {DF_NAME("realm"), DF_SPAN(realm), DF_FLAG(realm_q), DF_EITHER, DF_ANY, DF_CHALLENGE},
    {DF_NAME("nonce"), DF_SPAN(nonce), DF_FLAG(nonce_q), DF_EITHER, DF_ANY, DF_CHALLENGE},
    {DF_NAME("opaque"), DF_SPAN(opaque), DF_FLAG(opaque_q), DF_EITHER, DF_ANY, DF_CHALLENGE},
    {DF_NAME("stale"), DF_SPAN(stale), DF_NO_FLAG, DF_TOKEN, DF_TRUE_FALSE, DF_CHALLENGE},
    {DF_NAME("algorithm"), DF_SPAN(algorithm), DF_NO_FLAG, DF_TOKEN, DF_ANY, DF_CHALLENGE},
    {DF_NAME("domain"), DF_SPAN(domain), DF_NO_FLAG, DF_QUOTED, DF_ANY, DF_CHALLENGE},
    /* qop is a quoted list in a challenge and a token in a response (message-qop) */
    {DF_NAME("qop"), DF_SPAN(qop), DF_FLAG(qop_q), DF_EITHER, DF_ANY, DF_CHALLENGE | DF_INFO},
    /* RFC 2617 section 3.2.2, the response (Authorization) */
    {DF_NAME("username"), DF_SPAN(username), DF_FLAG(username_q), DF_EITHER, DF_ANY, DF_CHALLENGE},
    {DF_NAME("uri"), DF_SPAN(uri), DF_FLAG(uri_q), DF_EITHER, DF_ANY, DF_CHALLENGE},
    {DF_NAME("response"), DF_SPAN(response), DF_FLAG(response_q), DF_EITHER, DF_ANY, DF_CHALLENGE},
    {DF_NAME("cnonce"), DF_SPAN(cnonce), DF_FLAG(cnonce_q), DF_EITHER, DF_ANY,
     DF_CHALLENGE | DF_INFO},
    /* nonce-count = "nc" "=" nc-value, nc-value = 8LHEX */
    {DF_NAME("nc"), DF_SPAN(nc), DF_NO_FLAG, DF_TOKEN, DF_LHEX8, DF_CHALLENGE | DF_INFO},
    /* RFC 2617 section 3.2.3, Authentication-Info */
    {DF_NAME("nextnonce"), DF_SPAN(nextnonce), DF_NO_FLAG, DF_QUOTED, DF_ANY, DF_INFO},
    {DF_NAME("rspauth"), DF_SPAN(rspauth), DF_NO_FLAG, DF_QUOTED, DF_ANY, DF_INFO},
};

static bool lhex8_valid(struct msrp_span v)
{
    if (v.len != 8)
        return false;
    for (size_t i = 0; i < 8; i++) {
        if (!has_class(v.ptr[i], CC_LHEX))
            return false;
    }
    return true;
}

static bool digest_take(struct msrp_digest *d, const struct msrp_param *prm, unsigned where)
{
    for (size_t i = 0; i < sizeof digest_fields / sizeof digest_fields[0]; i++) {
        const struct digest_field *f = &digest_fields[i];
        if (!(f->where & where) || !msrp_span_eq_nocase(f->name, prm->name))
            continue;

        struct msrp_span *slot = (struct msrp_span *)(void *)((char *)d + f->span_off);
        /* A value always points into the header, even an empty quoted one, so a non-NULL
         * slot means this parameter was seen before: RFC 2617 gives each directive once. */
        if (slot->ptr != NULL)
            return false;
        if (!(f->forms & (prm->quoted ? DF_QUOTED : DF_TOKEN)))
            return false;
        if (f->check == DF_LHEX8 && !lhex8_valid(prm->value))
            return false;
        /* stale = "stale" "=" ( "true" | "false" ), case-insensitive (RFC 2617 s.3.2.1). */
        if (f->check == DF_TRUE_FALSE && !msrp_span_eq_nocase(prm->value, MSRP_SPAN_LIT("true")) &&
            !msrp_span_eq_nocase(prm->value, MSRP_SPAN_LIT("false")))
            return false;
        *slot = prm->value;
        if (f->flag_off != DF_NO_FLAG)
            *(bool *)(void *)((char *)d + f->flag_off) = prm->quoted;
        return true;
    }
    /* RFC 2617 s.3.2.1: "Any unrecognized directive MUST be ignored." */
    d->other++;
    return true;
}

/*
 * param *( *WSP "," *WSP param ) starting at p, which is the first parameter's name. RFC 4976
 * writes the separator as "," SP and RFC 2617 as the #rule with implied *LWS; we take any run
 * of SP / HTAB around "," and "=" (no line folding: an MSRP header is one line). Empty list
 * elements (",,") are refused, as RFC 4976's grammar has none.
 */
static bool digest_params(const char *p, const char *end, unsigned where, struct msrp_digest *out)
{
    struct msrp_digest d = {0};
    struct msrp_param prm;
    int rc;

    if (!param_parse(&p, end, false, &prm) || !digest_take(&d, &prm, where))
        return false;
    while ((rc = param_next(&p, end, ',', false, &prm)) > 0) {
        if (!digest_take(&d, &prm, where))
            return false;
    }
    if (rc < 0)
        return false;
    *out = d;
    return true;
}

/* challenge / credentials = "Digest" SP digest-param *( "," SP digest-param ) (RFC 4976 s.10). */
bool msrp_digest_challenge_parse(struct msrp_span v, struct msrp_digest *out)
{
    /* RFC 2617 section 1.2: auth-scheme is a case-insensitive token. */
    if (v.len < 7 || !msrp_span_eq_nocase(msrp_span_make(v.ptr, 6), MSRP_SPAN_LIT("Digest")) ||
        !is_wsp(v.ptr[6]))
        return false;

    const char *end = v.ptr + v.len;
    return digest_params(skip_wsp(v.ptr + 7, end), end, DF_CHALLENGE, out);
}

/* Authentication-Info = 1#ainfo, no scheme (RFC 2617 section 3.2.3). */
bool msrp_digest_info_parse(struct msrp_span v, struct msrp_digest *out)
{
    if (v.len == 0)
        return false;
    return digest_params(v.ptr, v.ptr + v.len, DF_INFO, out);
}
