/*
 * uri.c - MSRP URIs: the RFC 4975 section 9 grammar, the section 6.1 comparison rules, and
 * path values made of them.
 *
 * The parser walks the text once, left to right, with an index rather than pointer arithmetic
 * so that an empty input (possibly a NULL pointer) is never offset. Every span it returns
 * points into the caller's bytes. Nothing here allocates, keeps state or does I/O.
 */
#include "wire/uri.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* The longest IPv6 text inet_pton accepts: eight groups, or six and a dotted quad (45). */
#define IPV6_TEXT_MAX (INET6_ADDRSTRLEN - 1)

/* ---- character classes (RFC 3986 section 2, RFC 4975 section 9) ---- */

/*
 * One table lookup a character: URIs are parsed twice for every chunk a receiver checks
 * (To-Path and From-Path), so the classes are bits of a table built at load time.
 */
enum {
    K_ALPHA = 1 << 0,
    K_DIGIT = 1 << 1,
    K_UNRESERVED = 1 << 2, /* ALPHA / DIGIT / "-" / "." / "_" / "~" */
    K_SUB_DELIM = 1 << 3,  /* "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "=" */
    K_SESSION = 1 << 4,    /* unreserved / "+" / "=" / "/" */
    K_TOKEN = 1 << 5,      /* RFC 3261 token: alphanum / "-" / "." / "!" / "%" / "*" / "_" /
                            * "+" / "`" / "'" / "~" */
    K_HEX = 1 << 6,
    K_DIGIT_DOT = 1 << 7,  /* DIGIT / "." : what a dotted-quad host is made of */
};

static uint8_t kinds[256];

__attribute__((constructor)) static void build_kinds(void)
{
    for (int c = 0; c < 256; c++) {
        uint8_t k = 0;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool digit = c >= '0' && c <= '9';
        if (alpha)
            k |= K_ALPHA;
        if (digit)
            k |= K_DIGIT | K_DIGIT_DOT;
        if (c == '.')
            k |= K_DIGIT_DOT;
        if (alpha || digit || (c != 0 && strchr("-._~", c)))
            k |= K_UNRESERVED | K_SESSION;
        if (c != 0 && strchr("!$&'()*+,;=", c))
            k |= K_SUB_DELIM;
        if (c == '+' || c == '=' || c == '/')
            k |= K_SESSION;
        if (alpha || digit || (c != 0 && strchr("-.!%*_+`'~", c)))
            k |= K_TOKEN;
        if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
            k |= K_HEX;
        kinds[c] = k;
    }
}

/*
 * Index of the first a or b in s[from .. to), or to. One SSE2 pass finds either delimiter
 * where two memchr calls would each scan (and pay a call).
 */
static inline size_t find_either(const char *s, size_t from, size_t to, char a, char b)
{
    size_t i = from;
#ifdef __SSE2__
    const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b);
    while (i + 16 <= to) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        unsigned mask = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)));
        if (mask != 0)
            return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    while (i < to && s[i] != a && s[i] != b)
        i++;
    return i;
}

static inline bool is_digit(unsigned char c)
{
    return kinds[c] & K_DIGIT;
}

static inline bool is_alnum(unsigned char c)
{
    return kinds[c] & (K_ALPHA | K_DIGIT);
}

static int hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static inline bool is_unreserved(unsigned char c)
{
    return kinds[c] & K_UNRESERVED;
}

static inline bool is_sub_delim(unsigned char c)
{
    return kinds[c] & K_SUB_DELIM;
}

static inline bool is_session_char(unsigned char c)
{
    return kinds[c] & K_SESSION;
}

static inline bool is_token_char(unsigned char c)
{
    return kinds[c] & K_TOKEN;
}

static unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/*
 * ASCII case-insensitive equality that, unlike strncasecmp, does not stop at a NUL byte and does
 * not depend on the locale.
 */
static bool bytes_eq_nocase(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return false;
    }
    return true;
}

/* True when s[i] starts a pct-encoded triplet: "%" HEXDIG HEXDIG (RFC 3986 section 2.1). */
static bool is_pct_encoded(const char *s, size_t len, size_t i)
{
    return s[i] == '%' && len - i >= 3 && (kinds[(unsigned char)s[i + 1]] & K_HEX) &&
           (kinds[(unsigned char)s[i + 2]] & K_HEX);
}

/* ---- the parts of the grammar ---- */

/* msrp-scheme "://" with the scheme case-insensitive (RFC 3986 section 3.1). Returns its length. */
static size_t scheme_length(const char *s, size_t len, bool *secure)
{
    if (len >= 7 && memcmp(s, "msrp://", 7) == 0) {
        *secure = false;
        return 7;
    }
    if (len >= 7 && bytes_eq_nocase(s, "msrp://", 7)) {
        *secure = false;
        return 7;
    }
    if (len >= 8 && bytes_eq_nocase(s, "msrps://", 8)) {
        *secure = true;
        return 8;
    }
    return 0;
}

/* userinfo = *( unreserved / pct-encoded / sub-delims / ":" ) (RFC 3986 section 3.2.1) */
static bool userinfo_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (!is_pct_encoded(s, len, i))
                return false;
            i += 2;
        } else if (!is_unreserved(c) && !is_sub_delim(c) && c != ':') {
            return false;
        }
    }
    return true;
}

/*
 * IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet, where a dec-octet is 0-255
 * without leading zeros (RFC 3986 section 3.2.2). Leading zeros are refused because
 * inet_aton() and some resolvers read "010" as octal.
 */
static bool ipv4_valid(const char *s, size_t len)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || s[i] != '.')
                return false;
            i++;
        }
        size_t start = i;
        unsigned value = 0;
        while (i < len && is_digit((unsigned char)s[i]) && i - start < 3)
            value = value * 10 + (unsigned)(s[i++] - '0');
        size_t digits = i - start;
        if (digits == 0 || value > 255 || (digits > 1 && s[start] == '0'))
            return false;
    }
    return i == len;
}

/*
 * Copies an IPv6 literal's text into a NUL-terminated buffer for inet_pton. Only the characters
 * of RFC 3986's IPv6address (HEXDIG, ":" and "." for an embedded IPv4 address) may pass:
 * inet_pton would stop at an embedded NUL and accept whatever came before it.
 */
static bool ipv6_to_binary(const char *s, size_t len, struct in6_addr *addr)
{
    char text[IPV6_TEXT_MAX + 1];
    if (len == 0 || len > IPV6_TEXT_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (hex_value((unsigned char)s[i]) < 0 && s[i] != ':' && s[i] != '.')
            return false;
    }
    memcpy(text, s, len);
    text[len] = '\0';
    return inet_pton(AF_INET6, text, addr) == 1;
}

/*
 * host = IP-literal / IPv4address / reg-name (RFC 3986 section 3.2.2), starting at s[*i] and
 * ending before ":", "/", ";" or the end. IP-literal is only "[" IPv6address "]": IPvFuture has
 * no use in MSRP, and inet_pton refuses RFC 6874 zone identifiers, which are meaningless to a
 * peer anyway.
 */
static enum msrp_uri_error parse_host(const char *s, size_t len, size_t *i, struct msrp_uri *u)
{
    size_t start = *i;

    if (start < len && s[start] == '[') {
        size_t close = start + 1;
        while (close < len && s[close] != ']')
            close++;
        if (close == len)
            return MSRP_URI_E_HOST;
        struct in6_addr addr;
        if (!ipv6_to_binary(s + start + 1, close - start - 1, &addr))
            return MSRP_URI_E_HOST;
        *i = close + 1;
        if (*i < len && s[*i] != ':' && s[*i] != '/' && s[*i] != ';')
            return MSRP_URI_E_HOST;
        u->host = msrp_span_make(s + start + 1, close - start - 1);
        u->host_type = MSRP_HOST_IPV6;
        return MSRP_URI_OK;
    }

    /*
     * reg-name = *( unreserved / pct-encoded / sub-delims ). RFC 3986 lets a reg-name hold ";",
     * but in an MSRP URI the first ";" after the authority starts the transport, and no DNS
     * name contains one, so ";" ends the host here.
     */
    unsigned all_kinds = K_DIGIT_DOT; /* stays set while every character is a digit or "." */
    size_t j = start;
    while (j < len) {
        unsigned char c = (unsigned char)s[j];
        unsigned k = kinds[c];
        if ((k & K_UNRESERVED) || ((k & K_SUB_DELIM) && c != ';')) {
            all_kinds &= k;
            j++;
            continue;
        }
        if (c == ':' || c == '/' || c == ';')
            break;
        if (!is_pct_encoded(s, len, j))
            return MSRP_URI_E_HOST;
        all_kinds = 0;
        j += 3;
    }
    bool only_digits_and_dots = all_kinds != 0;
    /* RFC 3986 allows an empty reg-name, but an MSRP peer must be reachable (section 6.2). */
    if (j == start)
        return MSRP_URI_E_HOST;

    /*
     * RFC 3986 would call "1.2.3.256" or "010.0.0.1" a reg-name, yet nobody means a DNS name by
     * it (no top-level domain is numeric) and resolvers disagree on what it is: refuse it.
     */
    if (only_digits_and_dots) {
        if (!ipv4_valid(s + start, j - start))
            return MSRP_URI_E_HOST;
        u->host_type = MSRP_HOST_IPV4;
    } else {
        u->host_type = MSRP_HOST_NAME;
    }
    u->host = msrp_span_make(s + start, j - start);
    *i = j;
    return MSRP_URI_OK;
}

/*
 * port = *DIGIT (RFC 3986 section 3.2.3); we want at least one digit, since "host:" with an
 * empty port would otherwise compare as "no port", and a value that fits in 16 bits.
 */
static enum msrp_uri_error parse_port(const char *s, size_t len, size_t *i, struct msrp_uri *u)
{
    size_t start = *i;
    unsigned long value = 0;
    size_t j = start;
    while (j < len && s[j] != '/' && s[j] != ';') {
        if (!is_digit((unsigned char)s[j]))
            return MSRP_URI_E_PORT;
        value = value * 10 + (unsigned long)(s[j] - '0');
        if (value > 65535)
            return MSRP_URI_E_PORT;
        j++;
    }
    if (j == start)
        return MSRP_URI_E_PORT;
    u->has_port = true;
    u->port = (uint16_t)value;
    *i = j;
    return MSRP_URI_OK;
}

/* *( ";" URI-parameter ), each URI-parameter = token ["=" token] (RFC 4975 section 9). */
static bool params_valid(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] != ';')
            return false;
        i++;
        size_t name = i;
        while (i < len && is_token_char((unsigned char)s[i]))
            i++;
        if (i == name)
            return false;
        if (i < len && s[i] == '=') {
            size_t value = ++i;
            while (i < len && is_token_char((unsigned char)s[i]))
                i++;
            if (i == value)
                return false;
        }
    }
    return true;
}

const char *msrp_uri_error_text(enum msrp_uri_error e)
{
    switch (e) {
    case MSRP_URI_OK:
        return "no error";
    case MSRP_URI_E_SCHEME:
        return "URI does not start with msrp:// or msrps://";
    case MSRP_URI_E_USERINFO:
        return "bad character or percent-escape in the URI userinfo";
    case MSRP_URI_E_HOST:
        return "empty or malformed URI host";
    case MSRP_URI_E_PORT:
        return "URI port is empty, not decimal, or above 65535";
    case MSRP_URI_E_SESSION_ID:
        return "empty session-id or bad character in it";
    case MSRP_URI_E_TRANSPORT:
        return "URI transport is missing or not alphanumeric";
    case MSRP_URI_E_PARAM:
        return "malformed URI parameter";
    case MSRP_URI_E_TOO_LONG:
        return "URI is too long";
    }
    return "unknown URI error";
}

enum msrp_uri_error msrp_uri_parse(const char *s, size_t len, struct msrp_uri *out)
{
    struct msrp_uri u;
    enum msrp_uri_error e;

    if (len > MSRP_URI_MAX)
        return MSRP_URI_E_TOO_LONG;
    memset(&u, 0, sizeof(u));
    size_t i = scheme_length(s, len, &u.secure);
    if (i == 0)
        return MSRP_URI_E_SCHEME;

    /*
     * authority = [ userinfo "@" ] host [ ":" port ] (RFC 3986 section 3.2). userinfo may hold
     * ";" and ":", so it cannot be found by looking for the end of the host; but it cannot hold
     * "@" or "/", and nothing after it can hold "@" either, so the first "@" before any "/"
     * ends it.
     */
    size_t at = find_either(s, i, len, '@', '/');
    if (at < len && s[at] == '@') {
        if (!userinfo_valid(s + i, at - i))
            return MSRP_URI_E_USERINFO;
        u.userinfo = msrp_span_make(s + i, at - i);
        i = at + 1;
    }

    e = parse_host(s, len, &i, &u);
    if (e != MSRP_URI_OK)
        return e;
    if (i < len && s[i] == ':') {
        i++;
        e = parse_port(s, len, &i, &u);
        if (e != MSRP_URI_OK)
            return e;
    }

    /*
     * ["/" session-id]: session-id may itself contain "/", so it runs from the first "/" after
     * the authority to the ";" that starts the transport (RFC 4975 section 9).
     */
    if (i < len && s[i] == '/') {
        size_t start = ++i;
        while (i < len && is_session_char((unsigned char)s[i]))
            i++;
        if (i == start || (i < len && s[i] != ';'))
            return MSRP_URI_E_SESSION_ID;
        u.session_id = msrp_span_make(s + start, i - start);
    }

    /*
     * ";" transport is mandatory in the RFC 4975 section 9 ABNF, even though section 6 calls
     * it a parameter; "tcp" is the only transport defined, but transport = 1*ALPHANUM keeps
     * the door open for others.
     */
    if (i >= len || s[i] != ';')
        return MSRP_URI_E_TRANSPORT;
    size_t start = ++i;
    while (i < len && s[i] != ';') {
        if (!is_alnum((unsigned char)s[i]))
            return MSRP_URI_E_TRANSPORT;
        i++;
    }
    if (i == start)
        return MSRP_URI_E_TRANSPORT;
    u.transport = msrp_span_make(s + start, i - start);

    if (!params_valid(s + i, len - i))
        return MSRP_URI_E_PARAM;
    u.params = msrp_span_make(s + i, len - i);

    *out = u;
    return MSRP_URI_OK;
}

/* ---- formatting ---- */

/* Appends like snprintf: copies what fits below cap - 1 and always counts the full length. */
static void put(char *buf, size_t cap, size_t *n, const char *s, size_t len)
{
    if (len == 0)
        return; /* an absent part may be a NULL span, which memcpy must not see */
    if (*n + 1 < cap) {
        size_t room = cap - 1 - *n;
        memcpy(buf + *n, s, len < room ? len : room);
    }
    *n += len;
}

size_t msrp_uri_format(const struct msrp_uri *u, char *buf, size_t cap)
{
    size_t n = 0;

    /* Schemes are case-insensitive; lower case is their canonical form (RFC 3986 section 3.1). */
    if (u->secure)
        put(buf, cap, &n, "msrps://", 8);
    else
        put(buf, cap, &n, "msrp://", 7);
    if (u->userinfo.len > 0) {
        put(buf, cap, &n, u->userinfo.ptr, u->userinfo.len);
        put(buf, cap, &n, "@", 1);
    }
    if (u->host_type == MSRP_HOST_IPV6) {
        put(buf, cap, &n, "[", 1);
        put(buf, cap, &n, u->host.ptr, u->host.len);
        put(buf, cap, &n, "]", 1);
    } else {
        put(buf, cap, &n, u->host.ptr, u->host.len);
    }
    if (u->has_port) {
        char digits[5];
        size_t k = sizeof(digits);
        unsigned port = u->port;
        do {
            digits[--k] = (char)('0' + port % 10);
            port /= 10;
        } while (port > 0);
        put(buf, cap, &n, ":", 1);
        put(buf, cap, &n, digits + k, sizeof(digits) - k);
    }
    if (u->session_id.len > 0) {
        put(buf, cap, &n, "/", 1);
        put(buf, cap, &n, u->session_id.ptr, u->session_id.len);
    }
    put(buf, cap, &n, ";", 1);
    put(buf, cap, &n, u->transport.ptr, u->transport.len);
    put(buf, cap, &n, u->params.ptr, u->params.len);

    if (cap > 0)
        buf[n < cap ? n : cap - 1] = '\0';
    return n;
}

/* ---- comparison (RFC 4975 section 6.1) ---- */

/*
 * The next unit of a host for comparison, advancing *i. A percent-encoded unreserved character
 * stands for the character itself (RFC 3986 section 6.2.2.2), so it yields that character;
 * any other percent-encoding yields 0x100 + the octet, which no literal character matches,
 * since a reserved character and its encoding are not equivalent (RFC 3986 section 2.2).
 * Letters are folded to lower case: hosts compare case-insensitively (RFC 4975 section 6.1).
 */
static unsigned host_unit(struct msrp_span h, size_t *i)
{
    unsigned char c = (unsigned char)h.ptr[*i];
    if (is_pct_encoded(h.ptr, h.len, *i)) {
        unsigned char v = (unsigned char)(hex_value((unsigned char)h.ptr[*i + 1]) * 16 +
                                          hex_value((unsigned char)h.ptr[*i + 2]));
        *i += 3;
        return is_unreserved(v) ? ascii_lower(v) : 0x100u + v;
    }
    *i += 1;
    return ascii_lower(c);
}

static bool reg_names_equal(struct msrp_span a, struct msrp_span b)
{
    size_t i = 0, j = 0;
    while (i < a.len && j < b.len) {
        if (host_unit(a, &i) != host_unit(b, &j))
            return false;
    }
    return i == a.len && j == b.len;
}

static bool hosts_equal(const struct msrp_uri *a, const struct msrp_uri *b)
{
    bool a6 = a->host_type == MSRP_HOST_IPV6, b6 = b->host_type == MSRP_HOST_IPV6;
    if (a6 != b6)
        return false;
    if (a6) {
        /* IP literals compare by address, so "::1" equals "0:0:0:0:0:0:0:1". */
        struct in6_addr x, y;
        if (ipv6_to_binary(a->host.ptr, a->host.len, &x) &&
            ipv6_to_binary(b->host.ptr, b->host.len, &y))
            return memcmp(&x, &y, sizeof(x)) == 0;
        /* Not from msrp_uri_parse: fall back to text so that equality stays reflexive. */
        return a->host.len == b->host.len && bytes_eq_nocase(a->host.ptr, b->host.ptr, a->host.len);
    }
    /*
     * A parsed IPv4 address has no leading zeros, so its text is canonical and text comparison
     * is address comparison. Comparing names and IPv4 hosts the same way lets a percent-encoded
     * "%31.2.3.4" equal "1.2.3.4", which is what decoding it would give.
     */
    return reg_names_equal(a->host, b->host);
}

bool msrp_uri_equal(const struct msrp_uri *a, const struct msrp_uri *b)
{
    if (a->secure != b->secure)
        return false;
    /* userinfo is not compared: it only names who authenticates to a relay (section 6.1). */
    if (!hosts_equal(a, b))
        return false;
    /*
     * An explicit port must match exactly, and a URI with one never equals a URI without, even
     * if the port is the default 2855 (section 6.1).
     */
    if (a->has_port != b->has_port || (a->has_port && a->port != b->port))
        return false;
    /* Session-ids are case-sensitive; absent (empty) never equals present (1* in the ABNF). */
    if (!msrp_span_eq(a->session_id, b->session_id))
        return false;
    return a->transport.len == b->transport.len &&
           bytes_eq_nocase(a->transport.ptr, b->transport.ptr, a->transport.len);
}

/* ---- path values ---- */

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * To-Path = "To-Path:" SP MSRP-URI *( SP MSRP-URI ) (RFC 4975 section 9), likewise From-Path
 * and Use-Path (RFC 4976 section 7). Between two URIs we accept any run of SP and HTAB, as a
 * lenient receiver should. Whitespace must separate two URIs, though: at the start of the value
 * it leaves an empty first URI, and at the end an empty last one, and both fail with
 * MSRP_URI_E_SCHEME. So that the URI before trailing whitespace is still returned, the
 * whitespace is consumed only when another URI follows it, and the next call reports it.
 */
int msrp_uri_list_next(struct msrp_span *rest, struct msrp_uri *out)
{
    if (rest->len == 0)
        return 0;

    const char *s = rest->ptr;
    size_t len = rest->len;
    size_t end = find_either(s, 0, len, ' ', '\t');
    enum msrp_uri_error e = msrp_uri_parse(s, end, out);
    if (e != MSRP_URI_OK)
        return -(int)e;

    size_t next = end;
    while (next < len && is_wsp(s[next]))
        next++;
    if (next == len)
        next = end;
    rest->ptr = s + next;
    rest->len = len - next;
    return 1;
}

int msrp_uri_list_count(struct msrp_span value)
{
    struct msrp_uri u;
    int n = 0, r;
    while ((r = msrp_uri_list_next(&value, &u)) > 0)
        n++;
    return r < 0 ? r : n;
}
