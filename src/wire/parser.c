/*
 * parser.c - incremental, zero-copy MSRP chunk parser (RFC 4975 section 9).
 *
 * A chunk is parsed in two stages. While its head is incomplete, a cheap resumable scan looks
 * for the end of the head (a blank line, or a line starting with "-" which can only be the
 * end-line) and enforces the line-length and line-count limits, so a peer trickling bytes costs
 * O(bytes) and a bounded buffer. Once the head is complete it is parsed and validated in full
 * into the caller's chunk, and the body is scanned for CRLF "-------" tid flag, resuming where
 * the previous call stopped. When a chunk arrives split over several calls, the head is parsed
 * again in the call that completes the chunk: the caller may have moved its buffer, and a head
 * is a few hundred bytes.
 */
#include "wire/parser.h"

#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "wire/scan.h"
#include "wire/values.h"

enum { ST_HEAD = 0, ST_BODY };

/* Character classes (RFC 4975 section 9, RFC 3261 token for header names). */
enum {
    C_IDENT = 1,   /* ident-char: ALPHANUM . - + % = */
    C_ALNUM = 2,
    C_TOKEN = 4,   /* hname after its first ALPHA */
    C_TEXT = 8,    /* utf8text: HTAB, %x20-7E, and bytes >= 0x80 (UTF8-NONASCII) */
    C_UPALPHA = 16,
    C_ALPHA = 32,
};

/* Built once at load time; read-only afterwards, so threads share it without locks. */
static uint8_t classes[256];

__attribute__((constructor)) static void build_classes(void)
{
    for (int c = 0; c < 256; c++) {
        uint8_t k = 0;
        bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
        bool digit = c >= '0' && c <= '9';
        if (upper || lower || digit)
            k |= C_ALNUM | C_IDENT | C_TOKEN;
        if (upper)
            k |= C_UPALPHA;
        if (upper || lower)
            k |= C_ALPHA;
        if (c == '.' || c == '-' || c == '+' || c == '%' || c == '=')
            k |= C_IDENT;
        if (c && strchr("-.!%*_+`'~", c))
            k |= C_TOKEN;
        if (c == '\t' || (c >= 0x20 && c <= 0x7e) || c >= 0x80)
            k |= C_TEXT;
        classes[c] = k;
    }
}

static const uint8_t *char_class(void)
{
    return classes;
}

/* ---- names ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    const char *text;
} error_names[MSRP_E__COUNT] = {
    [MSRP_OK] = {"ok", "no error"},
    [MSRP_E_PROTOCOL] = {"protocol", "chunk does not start with \"MSRP \""},
    [MSRP_E_START_LINE] = {"start-line", "start line is not MSRP SP transact-id SP method|status"},
    [MSRP_E_TID_LENGTH] = {"tid-length", "transaction id is not 4 to 32 characters long"},
    [MSRP_E_TID_CHAR] = {"tid-char", "transaction id has a character outside ident-char"},
    [MSRP_E_METHOD] = {"method", "method is not 1*UPALPHA"},
    [MSRP_E_STATUS_CODE] = {"status-code", "status code is not three digits"},
    [MSRP_E_COMMENT] = {"comment", "response comment contains a control character"},
    [MSRP_E_LINE_TOO_LONG] = {"line-too-long", "start or header line exceeds the line limit"},
    [MSRP_E_TOO_MANY_HEADERS] = {"too-many-headers", "more header lines than the limit"},
    [MSRP_E_BARE_LF] = {"bare-lf", "line ends in LF without CR"},
    [MSRP_E_END_LINE] = {"end-line", "line starting with \"-\" is not this chunk's end-line"},
    [MSRP_E_FLAG] = {"flag", "end-line flag is not followed by CRLF"},
    [MSRP_E_HEADER_SYNTAX] = {"header-syntax", "header line is not hname \":\" SP hval"},
    [MSRP_E_HEADER_CHAR] = {"header-char", "header value contains a control character"},
    [MSRP_E_MISSING_TO_PATH] = {"missing-to-path", "To-Path header is missing"},
    [MSRP_E_MISSING_FROM_PATH] = {"missing-from-path", "From-Path header is missing"},
    [MSRP_E_DUPLICATE_HEADER] = {"duplicate-header", "a header that may appear once appears twice"},
    [MSRP_E_BYTE_RANGE] = {"byte-range", "Byte-Range is malformed or its numbers are inconsistent"},
    [MSRP_E_REPORT_VALUE] = {"report-value", "Success-Report or Failure-Report has a bad value"},
    [MSRP_E_STATUS_HEADER] = {"status-header", "Status header is not 3DIGIT SP 3DIGIT [SP reason]"},
    [MSRP_E_EXPIRES] = {"expires", "Expires, Min-Expires or Max-Expires is not 1*DIGIT"},
    [MSRP_E_MESSAGE_ID] = {"message-id", "Message-ID is not an ident"},
    [MSRP_E_BODY_WITHOUT_CONTENT_TYPE] = {"body-without-content-type",
                                          "chunk has a body but no Content-Type"},
};

const char *msrp_error_name(enum msrp_error e)
{
    return (unsigned)e < MSRP_E__COUNT ? error_names[e].name : "unknown";
}

const char *msrp_error_text(enum msrp_error e)
{
    return (unsigned)e < MSRP_E__COUNT ? error_names[e].text : "unknown error";
}

bool msrp_error_is_chunk_level(enum msrp_error e)
{
    return e >= MSRP_E_HEADER_SYNTAX && e < MSRP_E__COUNT;
}

const char *msrp_violation_name(unsigned bit)
{
    switch (bit) {
    case MSRP_V_PATH_ORDER:
        return "path-order";
    case MSRP_V_HEADER_NO_SP:
        return "header-no-sp";
    case MSRP_V_EMPTY_BODY_NO_CRLF:
        return "empty-body-no-crlf";
    case MSRP_V_HEADER_NAME_CASE:
        return "header-name-case";
    default:
        return NULL;
    }
}

static const struct {
    const char *name;
    uint8_t len;
    bool once; /* RFC 4975/4976 allow it at most once per chunk */
} header_names[MSRP_H__COUNT] = {
    [MSRP_H_OTHER] = {NULL, 0, false},
    [MSRP_H_TO_PATH] = {"To-Path", 7, true},
    [MSRP_H_FROM_PATH] = {"From-Path", 9, true},
    [MSRP_H_MESSAGE_ID] = {"Message-ID", 10, true},
    [MSRP_H_BYTE_RANGE] = {"Byte-Range", 10, true},
    [MSRP_H_SUCCESS_REPORT] = {"Success-Report", 14, true},
    [MSRP_H_FAILURE_REPORT] = {"Failure-Report", 14, true},
    [MSRP_H_STATUS] = {"Status", 6, true},
    [MSRP_H_CONTENT_TYPE] = {"Content-Type", 12, true},
    [MSRP_H_CONTENT_ID] = {"Content-ID", 10, true},
    [MSRP_H_CONTENT_DESCRIPTION] = {"Content-Description", 19, false},
    [MSRP_H_CONTENT_DISPOSITION] = {"Content-Disposition", 19, true},
    [MSRP_H_USE_PATH] = {"Use-Path", 8, true},
    [MSRP_H_EXPIRES] = {"Expires", 7, true},
    [MSRP_H_MIN_EXPIRES] = {"Min-Expires", 11, true},
    [MSRP_H_MAX_EXPIRES] = {"Max-Expires", 11, true},
    [MSRP_H_WWW_AUTHENTICATE] = {"WWW-Authenticate", 16, false},
    [MSRP_H_AUTHORIZATION] = {"Authorization", 13, false},
    [MSRP_H_AUTHENTICATION_INFO] = {"Authentication-Info", 19, true},
};

const char *msrp_header_name(enum msrp_header_id id)
{
    return (unsigned)id < MSRP_H__COUNT ? header_names[id].name : NULL;
}

/* The canonical spellings, which nearly every peer uses: one switch, one memcmp. */
static enum msrp_header_id lookup_exact(const char *n, size_t len)
{
#define NAME_IS(lit) (memcmp(n, lit, sizeof(lit) - 1) == 0)
    switch (len) {
    case 6:
        return NAME_IS("Status") ? MSRP_H_STATUS : MSRP_H_OTHER;
    case 7:
        return NAME_IS("To-Path") ? MSRP_H_TO_PATH : NAME_IS("Expires") ? MSRP_H_EXPIRES : MSRP_H_OTHER;
    case 8:
        return NAME_IS("Use-Path") ? MSRP_H_USE_PATH : MSRP_H_OTHER;
    case 9:
        return NAME_IS("From-Path") ? MSRP_H_FROM_PATH : MSRP_H_OTHER;
    case 10:
        return NAME_IS("Message-ID")   ? MSRP_H_MESSAGE_ID
               : NAME_IS("Byte-Range") ? MSRP_H_BYTE_RANGE
               : NAME_IS("Content-ID") ? MSRP_H_CONTENT_ID
                                       : MSRP_H_OTHER;
    case 11:
        return NAME_IS("Min-Expires")   ? MSRP_H_MIN_EXPIRES
               : NAME_IS("Max-Expires") ? MSRP_H_MAX_EXPIRES
                                        : MSRP_H_OTHER;
    case 12:
        return NAME_IS("Content-Type") ? MSRP_H_CONTENT_TYPE : MSRP_H_OTHER;
    case 13:
        return NAME_IS("Authorization") ? MSRP_H_AUTHORIZATION : MSRP_H_OTHER;
    case 14:
        return NAME_IS("Success-Report")   ? MSRP_H_SUCCESS_REPORT
               : NAME_IS("Failure-Report") ? MSRP_H_FAILURE_REPORT
                                           : MSRP_H_OTHER;
    case 16:
        return NAME_IS("WWW-Authenticate") ? MSRP_H_WWW_AUTHENTICATE : MSRP_H_OTHER;
    case 19:
        return NAME_IS("Content-Description")   ? MSRP_H_CONTENT_DESCRIPTION
               : NAME_IS("Content-Disposition") ? MSRP_H_CONTENT_DISPOSITION
               : NAME_IS("Authentication-Info") ? MSRP_H_AUTHENTICATION_INFO
                                                : MSRP_H_OTHER;
    default:
        return MSRP_H_OTHER;
    }
#undef NAME_IS
}

/* Sets *exact when the spelling is the canonical one (a checker may note other spellings). */
static enum msrp_header_id lookup_header(const char *name, size_t len, bool *exact)
{
    enum msrp_header_id id = lookup_exact(name, len);
    *exact = true;
    if (id != MSRP_H_OTHER)
        return id;
    /* ABNF literals are case-insensitive (RFC 5234 section 2.3). */
    for (int k = 1; k < MSRP_H__COUNT; k++)
        if (header_names[k].len == len && strncasecmp(header_names[k].name, name, len) == 0) {
            *exact = false;
            return (enum msrp_header_id)k;
        }
    return MSRP_H_OTHER;
}

enum msrp_header_id msrp_header_lookup(const char *name, size_t len)
{
    bool exact;
    return lookup_header(name, len, &exact);
}

const struct msrp_header *msrp_chunk_header(const struct msrp_chunk *c, enum msrp_header_id id)
{
    if ((unsigned)id >= MSRP_H__COUNT || id == MSRP_H_OTHER || !c->has_head || c->known[id] < 0)
        return NULL;
    return &c->headers[c->known[id]];
}

bool msrp_is_ident(const char *s, size_t len)
{
    const uint8_t *cls = char_class();
    if (len < MSRP_TID_MIN || len > MSRP_TID_MAX || !(cls[(uint8_t)s[0]] & C_ALNUM))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(cls[(uint8_t)s[i]] & C_IDENT))
            return false;
    return true;
}

/* ---- set-up ----------------------------------------------------------------------------- */

void msrp_limits_default(struct msrp_limits *l)
{
    l->max_line = 8192;
    l->max_headers = 64;
    l->segment_cap = SIZE_MAX;
}

static void reset_chunk_state(struct msrp_parser *p)
{
    p->_state = ST_HEAD;
    p->_head_len = 0;
    p->_checked = 0;
    p->_lines = 0;
    p->_body_done = 0;
    p->_segment = 0;
    p->_tid_len = 0;
    p->_chunk_offset = p->stream_offset;
}

void msrp_parser_init(struct msrp_parser *p, const struct msrp_limits *limits)
{
    memset(p, 0, sizeof(*p));
    if (limits != NULL)
        p->limits = *limits;
    else
        msrp_limits_default(&p->limits);
    if (p->limits.max_line < 64)
        p->limits.max_line = 64; /* room for the longest start line of a valid chunk */
    reset_chunk_state(p);
}

size_t msrp_parser_buffer_size(const struct msrp_parser *p)
{
    if (p->limits.segment_cap == SIZE_MAX)
        return SIZE_MAX;
    size_t head = p->limits.max_line * (p->limits.max_headers + 2);
    return head + p->limits.segment_cap + MSRP_END_LINE_MAX;
}

/* ---- the start line --------------------------------------------------------------------- */

/*
 * req-start  = pMSRP SP transact-id SP method CRLF
 * resp-start = pMSRP SP transact-id SP status-code [SP comment] CRLF
 * line[0..n) excludes the CRLF. Fills the start-line fields of out.
 */
static enum msrp_error parse_start_line(const char *line, size_t n, struct msrp_chunk *out,
                                        size_t *where)
{
    const uint8_t *cls = char_class();
    if (n < 5 || memcmp(line, "MSRP ", 5) != 0) {
        *where = 0;
        return MSRP_E_PROTOCOL;
    }
    size_t i = 5, tid_start = 5;
    while (i < n && line[i] != ' ')
        i++;
    size_t tid_len = i - tid_start;
    *where = tid_start;
    if (tid_len == 0)
        return MSRP_E_START_LINE;
    if (tid_len < MSRP_TID_MIN || tid_len > MSRP_TID_MAX)
        return MSRP_E_TID_LENGTH;
    if (!(cls[(uint8_t)line[tid_start]] & C_ALNUM))
        return MSRP_E_TID_CHAR;
    for (size_t k = tid_start + 1; k < i; k++)
        if (!(cls[(uint8_t)line[k]] & C_IDENT)) {
            *where = k;
            return MSRP_E_TID_CHAR;
        }
    out->tid = msrp_span_make(line + tid_start, tid_len);
    if (i == n)
        return MSRP_E_START_LINE;
    i++; /* SP */
    *where = i;
    if (i == n)
        return MSRP_E_START_LINE;

    if (line[i] >= '0' && line[i] <= '9') {
        if (i + 3 > n || !(line[i + 1] >= '0' && line[i + 1] <= '9') ||
            !(line[i + 2] >= '0' && line[i + 2] <= '9') || (i + 3 < n && line[i + 3] != ' '))
            return MSRP_E_STATUS_CODE;
        out->kind = MSRP_RESPONSE;
        out->status = (line[i] - '0') * 100 + (line[i + 1] - '0') * 10 + (line[i + 2] - '0');
        out->method = msrp_span_make(NULL, 0);
        out->method_id = MSRP_METHOD_OTHER;
        size_t c = i + 4 <= n ? i + 4 : n;
        for (size_t k = c; k < n; k++)
            if (!(cls[(uint8_t)line[k]] & C_TEXT)) {
                *where = k;
                return MSRP_E_COMMENT;
            }
        out->comment = msrp_span_make(line + c, n - c);
        return MSRP_OK;
    }

    for (size_t k = i; k < n; k++)
        if (!(cls[(uint8_t)line[k]] & C_UPALPHA)) {
            *where = k;
            return MSRP_E_METHOD;
        }
    out->kind = MSRP_REQUEST;
    out->status = 0;
    out->comment = msrp_span_make(NULL, 0);
    out->method = msrp_span_make(line + i, n - i);
    out->method_id = MSRP_METHOD_OTHER;
    if (n - i == 4 && memcmp(line + i, "SEND", 4) == 0)
        out->method_id = MSRP_METHOD_SEND;
    else if (n - i == 6 && memcmp(line + i, "REPORT", 6) == 0)
        out->method_id = MSRP_METHOD_REPORT;
    else if (n - i == 4 && memcmp(line + i, "AUTH", 4) == 0)
        out->method_id = MSRP_METHOD_AUTH;
    return MSRP_OK;
}

/* ---- stage 1: where does the head end? ---------------------------------------------------- */

static ssize_t fail(struct msrp_parser *p, enum msrp_error e, size_t where)
{
    p->error = e;
    p->error_offset = where;
    return MSRP_MALFORMED;
}

static size_t header_limit(const struct msrp_parser *p, const struct msrp_chunk *out)
{
    return p->limits.max_headers < out->headers_cap ? p->limits.max_headers : out->headers_cap;
}

/*
 * First byte in p[i .. end) that is not utf8text (a control character other than HTAB, or DEL),
 * or end. Sixteen bytes a step where SSE2 exists: header values are most of a small chunk.
 */
static inline size_t skip_text(const char *p, size_t i, size_t end)
{
#ifdef __SSE2__
    const __m128i ctl_max = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t');
    const __m128i del = _mm_set1_epi8(0x7f);
    while (i + 16 <= end) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, ctl_max), ctl_max); /* v <= 0x1f */
        ctl = _mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl);
        ctl = _mm_or_si128(ctl, _mm_cmpeq_epi8(v, del));
        unsigned mask = (unsigned)_mm_movemask_epi8(ctl);
        if (mask != 0)
            return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    while (i < end && (classes[(uint8_t)p[i]] & C_TEXT))
        i++;
    return i;
}

/*
 * The quick scan that resumes a head split over several calls: looks at complete lines from
 * p->_checked for the end of the head (a blank line, or a line starting with "-" - header
 * names start with ALPHA, so that can only be the end-line) and enforces the line-length and
 * line-count limits. Returns 1 when the head is complete, 0 when more bytes are needed,
 * MSRP_MALFORMED on a stream error. parse_head() then parses the complete head once.
 */
static int find_head_end(struct msrp_parser *p, const char *buf, size_t len,
                         const struct msrp_chunk *out)
{
    size_t max_line = p->limits.max_line, limit = header_limit(p, out);
    size_t start = p->_checked;
    while (start < len) {
        size_t window = len - start < max_line ? len - start : max_line;
        const char *lf = memchr(buf + start, '\n', window);
        if (lf == NULL) {
            if (window == max_line)
                return (int)fail(p, MSRP_E_LINE_TOO_LONG, start);
            break;
        }
        size_t end = (size_t)(lf - buf); /* index of LF */
        if (end == start || buf[end - 1] != '\r')
            return (int)fail(p, MSRP_E_BARE_LF, end);
        if (end - 1 == start || buf[start] == '-')
            return 1;
        if (p->_lines > limit)
            return (int)fail(p, MSRP_E_TOO_MANY_HEADERS, start);
        p->_lines++;
        start = end + 1;
        p->_checked = start;
    }
    return 0;
}

static void chunk_error(struct msrp_chunk *out, enum msrp_error e)
{
    if (out->error == MSRP_OK)
        out->error = e;
}

static void check_known_value(struct msrp_chunk *out, const struct msrp_header *h)
{
    switch (h->id) {
    case MSRP_H_BYTE_RANGE:
        if (msrp_byte_range_parse(h->value, &out->byte_range))
            out->has_byte_range = true;
        else
            chunk_error(out, MSRP_E_BYTE_RANGE);
        break;
    case MSRP_H_SUCCESS_REPORT:
        if (!msrp_success_report_parse(h->value, &out->success_report))
            chunk_error(out, MSRP_E_REPORT_VALUE);
        break;
    case MSRP_H_FAILURE_REPORT:
        if (!msrp_failure_report_parse(h->value, &out->failure_report))
            chunk_error(out, MSRP_E_REPORT_VALUE);
        break;
    case MSRP_H_STATUS: {
        struct msrp_status st;
        if (!msrp_status_parse(h->value, &st))
            chunk_error(out, MSRP_E_STATUS_HEADER);
        break;
    }
    case MSRP_H_EXPIRES:
    case MSRP_H_MIN_EXPIRES:
    case MSRP_H_MAX_EXPIRES: {
        uint32_t secs;
        if (!msrp_expires_parse(h->value, &secs))
            chunk_error(out, MSRP_E_EXPIRES);
        break;
    }
    case MSRP_H_MESSAGE_ID:
        if (!msrp_is_ident(h->value.ptr, h->value.len))
            chunk_error(out, MSRP_E_MESSAGE_ID);
        break;
    default:
        break;
    }
}

/*
 * header = hname ":" SP hval CRLF, hname = ALPHA *token, hval = utf8text.
 * line[0 .. n) is one header line without its CRLF; text_ok says whether it is free of control
 * characters. Problems are chunk errors: the framing does not depend on them.
 */
static void parse_header_line(const char *line, size_t n, bool text_ok, struct msrp_chunk *out)
{
    /* Find the colon first: a known header in its canonical spelling (nearly every line) is a
     * valid hname by construction, so only other names need the character-by-character check. */
    size_t colon = 0;
#ifdef __SSE2__
    if (n >= 16) {
        unsigned mask = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)line), _mm_set1_epi8(':')));
        colon = mask != 0 ? (size_t)__builtin_ctz(mask) : 16;
    }
#endif
    while (colon < n && line[colon] != ':')
        colon++;
    if (colon == n || colon == 0)
        goto syntax;
    bool exact = true;
    enum msrp_header_id id = lookup_exact(line, colon);
    if (id == MSRP_H_OTHER) {
        if (!(classes[(uint8_t)line[0]] & C_ALPHA))
            goto syntax;
        for (size_t i = 1; i < colon; i++)
            if (!(classes[(uint8_t)line[i]] & C_TOKEN))
                goto syntax;
        id = lookup_header(line, colon, &exact);
    }
    if (!text_ok) {
        chunk_error(out, MSRP_E_HEADER_CHAR);
        return;
    }
    struct msrp_header *h = &out->headers[out->num_headers++];
    h->name = msrp_span_make(line, colon);
    h->id = id;
    size_t i = colon + 1;
    if (i < n && line[i] == ' ')
        i++;
    else
        out->violations |= MSRP_V_HEADER_NO_SP;
    h->value = msrp_span_make(line + i, n - i);
    if (!exact)
        out->violations |= MSRP_V_HEADER_NAME_CASE;
    if (id != MSRP_H_OTHER) {
        if (out->known[id] < 0) {
            out->known[id] = (int16_t)(out->num_headers - 1);
            check_known_value(out, h);
        } else if (header_names[id].once) {
            chunk_error(out, MSRP_E_DUPLICATE_HEADER);
        }
    }
    return;
syntax:
    chunk_error(out, MSRP_E_HEADER_SYNTAX);
}

static void clear_chunk(struct msrp_chunk *out)
{
    out->num_headers = 0;
    for (int k = 0; k < MSRP_H__COUNT; k++)
        out->known[k] = -1;
    out->has_byte_range = false;
    out->success_report = MSRP_REPORT_ABSENT;
    out->failure_report = MSRP_REPORT_ABSENT;
    out->error = MSRP_OK;
    out->violations = 0;
}

enum { HEAD_MORE = 0, HEAD_DONE = 1 };

/*
 * Parses and validates the head at buf[0] in one pass. Returns HEAD_DONE (p->_head_len and
 * *has_body set), HEAD_MORE when the head is not complete yet (p->_checked and p->_lines then
 * tell the quick scan where to resume), or MSRP_MALFORMED. It enforces the same limits, with
 * the same error offsets, as find_head_end(), so a chunk fails the same way however it arrives.
 */
static int parse_head(struct msrp_parser *p, const char *buf, size_t len, struct msrp_chunk *out,
                      bool *has_body)
{
    size_t max_line = p->limits.max_line, limit = header_limit(p, out);
    clear_chunk(out);

    /* Fail fast on a stream that does not even begin like MSRP. */
    if (memcmp(buf, "MSRP ", len < 5 ? len : 5) != 0)
        return (int)fail(p, MSRP_E_PROTOCOL, 0);
    size_t window = len < max_line ? len : max_line;
    const char *lf = memchr(buf, '\n', window);
    if (lf == NULL) {
        if (window == max_line)
            return (int)fail(p, MSRP_E_LINE_TOO_LONG, 0);
        p->_checked = 0;
        p->_lines = 0;
        return HEAD_MORE;
    }
    size_t end = (size_t)(lf - buf), where;
    if (end == 0 || buf[end - 1] != '\r')
        return (int)fail(p, MSRP_E_BARE_LF, end);
    enum msrp_error e = parse_start_line(buf, end - 1, out, &where);
    if (e != MSRP_OK)
        return (int)fail(p, e, where);
    p->_tid_len = (uint8_t)out->tid.len;
    memcpy(p->_tid, out->tid.ptr, out->tid.len);
    p->_kind = out->kind;
    p->_method_id = out->method_id;
    p->_status = out->status;

    size_t line = end + 1, lines = 1;
    for (;;) {
        size_t limit_end = len - line < max_line ? len : line + max_line;
        size_t eol = skip_text(buf, line, limit_end), next;
        bool text_ok = true;
        if (eol + 1 < limit_end && buf[eol] == '\r' && buf[eol + 1] == '\n') {
            next = eol + 2;
        } else {
            /* A control character inside the line, or the line is not complete yet. */
            lf = memchr(buf + line, '\n', limit_end - line);
            if (lf == NULL) {
                if (limit_end - line == max_line)
                    return (int)fail(p, MSRP_E_LINE_TOO_LONG, line);
                p->_checked = line;
                p->_lines = lines;
                return HEAD_MORE;
            }
            end = (size_t)(lf - buf);
            if (end == line || buf[end - 1] != '\r')
                return (int)fail(p, MSRP_E_BARE_LF, end);
            eol = end - 1;
            next = end + 1;
            text_ok = false;
        }
        if (eol == line) {
            p->_head_len = next; /* blank line: content-stuff follows */
            *has_body = true;
            break;
        }
        if (buf[line] == '-') {
            p->_head_len = line; /* the end-line: a chunk without a body */
            *has_body = false;
            break;
        }
        if (lines > limit)
            return (int)fail(p, MSRP_E_TOO_MANY_HEADERS, line);
        parse_header_line(buf + line, eol - line, text_ok, out);
        lines++;
        line = next;
    }

    out->has_body = *has_body;
    out->has_head = true;
    if (out->known[MSRP_H_TO_PATH] < 0)
        chunk_error(out, MSRP_E_MISSING_TO_PATH);
    else if (out->known[MSRP_H_FROM_PATH] < 0)
        chunk_error(out, MSRP_E_MISSING_FROM_PATH);
    else if (out->known[MSRP_H_TO_PATH] != 0 || out->known[MSRP_H_FROM_PATH] != 1)
        out->violations |= MSRP_V_PATH_ORDER;
    if (*has_body && out->known[MSRP_H_CONTENT_TYPE] < 0)
        chunk_error(out, MSRP_E_BODY_WITHOUT_CONTENT_TYPE);
    return HEAD_DONE;
}

/* ---- stage 3: the body ------------------------------------------------------------------ */

static bool is_flag(char c)
{
    return c == '$' || c == '+' || c == '#';
}

/*
 * Checks for "-------" tid flag CRLF at buf[at]. Returns END_LINE, NOT_END_LINE, NEED_MORE
 * (the bytes so far match but the line is not complete) or MSRP_MALFORMED for a flag not
 * followed by CRLF.
 */
enum { NOT_END_LINE = 0, END_LINE = 1, NEED_MORE = 2 };

static int match_end_line(struct msrp_parser *p, const char *buf, size_t len, size_t at)
{
    static const char dashes[7] = {'-', '-', '-', '-', '-', '-', '-'};
    size_t tl = p->_tid_len, need = 7 + tl + 3, have = len - at;
    size_t n = have < 7 ? have : 7;
    if (memcmp(buf + at, dashes, n) != 0)
        return NOT_END_LINE;
    if (have <= 7)
        return NEED_MORE;
    n = have - 7 < tl ? have - 7 : tl;
    if (memcmp(buf + at + 7, p->_tid, n) != 0)
        return NOT_END_LINE;
    if (have <= 7 + tl)
        return NEED_MORE;
    if (!is_flag(buf[at + 7 + tl]))
        return NOT_END_LINE; /* the tid followed by another character: body, not an end-line */
    if (have < need)
        return NEED_MORE;
    if (buf[at + 8 + tl] != '\r' || buf[at + 9 + tl] != '\n')
        return (int)fail(p, MSRP_E_FLAG, at + 8 + tl);
    return END_LINE;
}

/* Fills the body part of out and finishes the parser's bookkeeping for this event. */
static ssize_t emit(struct msrp_parser *p, struct msrp_chunk *out, const char *body,
                    size_t body_len, char flag, size_t consumed)
{
    out->body = msrp_span_make(body, body_len);
    out->body_offset = p->_body_done;
    out->segment = p->_segment + 1;
    out->flag = flag;
    if (!out->has_head) {
        /* A later virtual segment: the head was consumed with the first one. */
        clear_chunk(out);
        out->kind = p->_kind;
        out->method_id = p->_method_id;
        out->status = p->_status;
        out->method = msrp_span_make(NULL, 0);
        out->comment = msrp_span_make(NULL, 0);
        out->has_body = true;
    }
    out->tid = msrp_span_make(p->_tid, p->_tid_len);
    out->offset = p->_chunk_offset;
    p->stream_offset += consumed;
    if (flag != 0) {
        reset_chunk_state(p);
    } else {
        p->_body_done += body_len;
        p->_segment++;
        p->_head_len = 0;
        p->_checked = 0;
    }
    return (ssize_t)consumed;
}

ssize_t msrp_parse(struct msrp_parser *p, const char *buf, size_t len, struct msrp_chunk *out)
{
    bool has_body = true, head_fresh = false;
    out->has_head = false;
    if (len == 0)
        return MSRP_INCOMPLETE;

    if (p->_state == ST_HEAD) {
        /* A head that arrived whole is parsed in one pass; a split one is first only scanned. */
        if (p->_lines > 0) {
            int r = find_head_end(p, buf, len, out);
            if (r <= 0)
                return r == 0 ? MSRP_INCOMPLETE : MSRP_MALFORMED;
        }
        int r = parse_head(p, buf, len, out, &has_body);
        if (r != HEAD_DONE)
            return r == HEAD_MORE ? MSRP_INCOMPLETE : MSRP_MALFORMED;
        head_fresh = true;
        if (!has_body) {
            /* parse_head() saw the whole line starting with "-": it must be our end-line. */
            int m = match_end_line(p, buf, len, p->_head_len);
            if (m == MSRP_MALFORMED)
                return MSRP_MALFORMED;
            if (m != END_LINE)
                return fail(p, MSRP_E_END_LINE, p->_head_len);
            size_t consumed = p->_head_len + 7 + p->_tid_len + 3;
            return emit(p, out, buf + p->_head_len, 0, buf[p->_head_len + 7 + p->_tid_len],
                        consumed);
        }
        p->_state = ST_BODY;
        p->_checked = p->_head_len;
    }

    /* ST_BODY: look for CRLF end-line from where the last call stopped. */
    size_t body_start = p->_head_len, at = p->_checked, safe_end = len;
    bool scan = true;
    if (p->_segment == 0 && at == body_start) {
        /* An empty body may come without its own CRLF: "Content-Type: x" CRLF CRLF end-line. */
        int m = match_end_line(p, buf, len, body_start);
        if (m == MSRP_MALFORMED)
            return MSRP_MALFORMED;
        if (m == END_LINE) {
            if (!head_fresh && parse_head(p, buf, len, out, &has_body) != HEAD_DONE)
                return MSRP_MALFORMED;
            out->violations |= MSRP_V_EMPTY_BODY_NO_CRLF;
            return emit(p, out, buf + body_start, 0, buf[body_start + 7 + p->_tid_len],
                        body_start + 10 + p->_tid_len);
        }
        if (m == NEED_MORE) {
            safe_end = body_start;
            scan = false;
        }
    }
    while (scan) {
        size_t hit = at + msrp__find_crlf_dash(buf + at, len - at);
        if (hit == len) {
            /* No candidate; a CR or CR LF at the very end may still start one. */
            if (len >= 1 && buf[len - 1] == '\r')
                safe_end = len - 1;
            else if (len >= 2 && buf[len - 2] == '\r' && buf[len - 1] == '\n')
                safe_end = len - 2;
            break;
        }
        int m = match_end_line(p, buf, len, hit + 2);
        if (m == MSRP_MALFORMED)
            return MSRP_MALFORMED;
        if (m == END_LINE) {
            if (p->_segment == 0 && !head_fresh &&
                parse_head(p, buf, len, out, &has_body) != HEAD_DONE)
                return MSRP_MALFORMED;
            char flag = buf[hit + 2 + 7 + p->_tid_len];
            return emit(p, out, buf + body_start, hit - body_start, flag,
                        hit + 2 + 7 + p->_tid_len + 3);
        }
        if (m == NEED_MORE) {
            safe_end = hit;
            break;
        }
        at = hit + 1;
    }

    /* Incomplete: hand over a virtual segment when the cap says so, else wait for more. */
    size_t avail = safe_end > body_start ? safe_end - body_start : 0;
    size_t cap = p->limits.segment_cap;
    p->_checked = safe_end > body_start ? safe_end : body_start;
    if (cap != SIZE_MAX && avail > 0 && avail >= cap) {
        if (p->_segment == 0 && !head_fresh &&
                parse_head(p, buf, len, out, &has_body) != HEAD_DONE)
            return MSRP_MALFORMED;
        return emit(p, out, buf + body_start, avail, 0, safe_end);
    }
    return MSRP_INCOMPLETE;
}
