/*
 * parser.h - incremental, zero-copy MSRP chunk parser (RFC 4975 section 9, RFC 4976 section 7).
 *
 * Shape (after picohttpparser): the caller owns the bytes and calls msrp_parse() with everything
 * it has not yet consumed, starting at the first unconsumed byte. The parser answers
 *
 *   n > 0              n bytes were consumed; `out` describes a complete chunk, or one
 *                      "virtual segment" of a chunk larger than the segment cap (see below).
 *   MSRP_INCOMPLETE    nothing consumed: append more bytes and call again with the same start.
 *                      The caller may move or reallocate its buffer between calls.
 *   MSRP_MALFORMED     the stream cannot be framed any further; p->error says why and
 *                      p->error_offset where (bytes from the start of this call's buffer).
 *
 * Spans in `out` point into the buffer of the call that returned them and stay valid until the
 * caller reuses those bytes. The parser never reads past buf[len - 1] and never allocates.
 *
 * Errors come in two strengths. Stream errors (bad start line, over-long line, too many
 * headers, broken end-line) lose the framing, so msrp_parse() returns MSRP_MALFORMED and the
 * connection must be closed. Chunk errors (missing To-Path, a malformed Byte-Range, a header
 * line that is not `name: value`) leave the framing intact: the chunk is returned as usual with
 * out->error set, so a receiver can still answer it with 400 (RFC 4975 section 7.1.4: the error
 * SHOULD go in the response; 400 is section 10.2).
 *
 * Virtual segments (the seed API's read_chunk(size)): with limits.segment_cap = C, a chunk
 * whose body has C or more bytes buffered without its end-line is handed over in pieces of at
 * least C bytes. The first piece carries the head; the rest carry only body bytes with their
 * offset. So a 1 GiB chunk needs a buffer of msrp_parser_buffer_size() bytes, not 1 GiB.
 * With segment_cap = 0 every call hands over whatever body bytes it can.
 *
 * Thread safety: a parser is one stream's state; use one per connection, from one thread.
 */
#ifndef MSRPLOAD_WIRE_PARSER_H
#define MSRPLOAD_WIRE_PARSER_H

#include <stdint.h>
#include <sys/types.h>

#include "wire/span.h"

#define MSRP_INCOMPLETE (-2)
#define MSRP_MALFORMED (-1)

/* RFC 4975 section 9: ident = ALPHANUM 3*31ident-char. */
#define MSRP_TID_MIN 4
#define MSRP_TID_MAX 32

/* The longest end-line: CRLF "-------" tid flag CRLF. */
#define MSRP_END_LINE_MAX (2 + 7 + MSRP_TID_MAX + 1 + 2)

enum msrp_error {
    MSRP_OK = 0,
    /* stream errors */
    MSRP_E_PROTOCOL,         /* a chunk does not start with "MSRP " */
    MSRP_E_START_LINE,       /* start line is not `MSRP SP tid SP (method | status [SP comment])` */
    MSRP_E_TID_LENGTH,       /* transaction id shorter than 4 or longer than 32 characters */
    MSRP_E_TID_CHAR,         /* transaction id has a character outside ident-char */
    MSRP_E_METHOD,           /* method is not 1*UPALPHA */
    MSRP_E_STATUS_CODE,      /* status code is not three digits */
    MSRP_E_COMMENT,          /* response comment has control characters */
    MSRP_E_LINE_TOO_LONG,    /* start line or header line longer than limits.max_line */
    MSRP_E_TOO_MANY_HEADERS, /* more header lines than limits.max_headers */
    MSRP_E_BARE_LF,          /* a line ends in LF without CR */
    MSRP_E_END_LINE,         /* a head line starts with "-------" but is not this chunk's end-line */
    MSRP_E_FLAG,             /* end-line flag is not followed by CRLF */
    /* chunk errors (returned with the chunk in out->error) */
    MSRP_E_HEADER_SYNTAX,    /* header line is not `hname ":" SP hval` */
    MSRP_E_HEADER_CHAR,      /* header value has a control character */
    MSRP_E_MISSING_TO_PATH,
    MSRP_E_MISSING_FROM_PATH,
    MSRP_E_DUPLICATE_HEADER, /* a header that may appear once appears twice */
    MSRP_E_BYTE_RANGE,       /* Byte-Range is not `start-end/total` with sane arithmetic */
    MSRP_E_REPORT_VALUE,     /* Success-Report / Failure-Report value is not allowed */
    MSRP_E_STATUS_HEADER,    /* Status is not `000 code [reason]` */
    MSRP_E_EXPIRES,          /* Expires / Min-Expires / Max-Expires is not 1*DIGIT */
    MSRP_E_MESSAGE_ID,       /* Message-ID is not an ident */
    MSRP_E_BODY_WITHOUT_CONTENT_TYPE, /* a body (blank line after the headers) without Content-Type */
    MSRP_E__COUNT
};

/* A short stable name ("tid-length") and a sentence for people. */
const char *msrp_error_name(enum msrp_error e);
const char *msrp_error_text(enum msrp_error e);
/* True for errors after which the stream can still be framed. */
bool msrp_error_is_chunk_level(enum msrp_error e);

/* Headers the parser recognises by name (ASCII case-insensitive). */
enum msrp_header_id {
    MSRP_H_OTHER = 0,
    MSRP_H_TO_PATH,
    MSRP_H_FROM_PATH,
    MSRP_H_MESSAGE_ID,
    MSRP_H_BYTE_RANGE,
    MSRP_H_SUCCESS_REPORT,
    MSRP_H_FAILURE_REPORT,
    MSRP_H_STATUS,
    MSRP_H_CONTENT_TYPE,
    MSRP_H_CONTENT_ID,
    MSRP_H_CONTENT_DESCRIPTION,
    MSRP_H_CONTENT_DISPOSITION,
    MSRP_H_USE_PATH,
    MSRP_H_EXPIRES,
    MSRP_H_MIN_EXPIRES,
    MSRP_H_MAX_EXPIRES,
    MSRP_H_WWW_AUTHENTICATE,
    MSRP_H_AUTHORIZATION,
    MSRP_H_AUTHENTICATION_INFO,
    MSRP_H__COUNT
};

/* The canonical spelling of a known header ("To-Path"), or NULL for MSRP_H_OTHER. */
const char *msrp_header_name(enum msrp_header_id id);
/* Which known header a name is, or MSRP_H_OTHER. */
enum msrp_header_id msrp_header_lookup(const char *name, size_t len);

struct msrp_header {
    struct msrp_span name;
    struct msrp_span value;
    enum msrp_header_id id;
};

enum msrp_kind { MSRP_REQUEST = 1, MSRP_RESPONSE = 2 };

enum msrp_method {
    MSRP_METHOD_OTHER = 0, /* any other 1*UPALPHA token: answered with 501 by endpoints */
    MSRP_METHOD_SEND,
    MSRP_METHOD_REPORT,
    MSRP_METHOD_AUTH,
};

enum msrp_report { MSRP_REPORT_ABSENT = 0, MSRP_REPORT_YES, MSRP_REPORT_NO, MSRP_REPORT_PARTIAL };

#define MSRP_RANGE_UNKNOWN UINT64_MAX /* "*" in a Byte-Range end or total */

struct msrp_byte_range {
    uint64_t start; /* 1-based */
    uint64_t end;   /* inclusive, or MSRP_RANGE_UNKNOWN */
    uint64_t total; /* or MSRP_RANGE_UNKNOWN */
};

/* Tolerated deviations from the RFC 4975 ABNF: the chunk is usable, a checker reports them. */
enum msrp_violation {
    MSRP_V_PATH_ORDER = 1u << 0,       /* To-Path and From-Path are not the first two headers */
    MSRP_V_HEADER_NO_SP = 1u << 1,     /* no SP after a header colon */
    MSRP_V_EMPTY_BODY_NO_CRLF = 1u << 2, /* end-line right after the blank line, no data CRLF */
    MSRP_V_HEADER_NAME_CASE = 1u << 3, /* a known header spelled in another case */
};

/* Stable name of one violation bit ("path-order"), or NULL for an unknown bit. */
const char *msrp_violation_name(unsigned bit);

struct msrp_chunk {
    enum msrp_kind kind;
    struct msrp_span tid;
    struct msrp_span method;      /* requests */
    enum msrp_method method_id;   /* requests */
    int status;                   /* responses: 100..999 */
    struct msrp_span comment;     /* responses; empty when absent */

    struct msrp_header *headers;  /* caller's array; set before the call */
    size_t headers_cap;           /* caller's capacity; set before the call */
    size_t num_headers;
    /* Index into headers of the first occurrence of each known header, or -1. */
    int16_t known[MSRP_H__COUNT];

    /* Values the parser checks as it goes, since receivers need them for every chunk. */
    bool has_byte_range;
    struct msrp_byte_range byte_range;
    enum msrp_report success_report;
    enum msrp_report failure_report;

    /* Body of this event: the whole body, or this virtual segment's part of it. */
    bool has_body;                /* content-stuff present (blank line after the headers) */
    struct msrp_span body;
    uint64_t body_offset;         /* offset of body.ptr within the chunk's whole body */
    unsigned segment;             /* 1 for the first (or only) piece of a chunk */
    bool has_head;                /* this event carries the head (segment 1) */
    char flag;                    /* '$', '+' or '#'; 0 while more segments follow */

    uint64_t offset;              /* stream offset of this chunk's start line */
    enum msrp_error error;        /* a chunk error, or MSRP_OK */
    unsigned violations;          /* enum msrp_violation bits */
};

struct msrp_limits {
    size_t max_line;     /* longest start or header line, CRLF included; default 8192 */
    size_t max_headers;  /* most header lines; default 64, and never more than headers_cap */
    size_t segment_cap;  /* see "Virtual segments"; SIZE_MAX (the default) = whole chunks */
};

struct msrp_parser {
    struct msrp_limits limits;
    enum msrp_error error;  /* why the last call returned MSRP_MALFORMED */
    size_t error_offset;    /* where, in bytes from the start of that call's buffer */
    uint64_t stream_offset; /* bytes consumed since init */

    /* private */
    int _state;
    size_t _head_len;   /* start of body (or end-line) relative to the chunk start */
    size_t _checked;    /* how far the head or body has been scanned */
    size_t _lines;      /* head lines seen by the quick scan */
    uint64_t _body_done; /* body bytes handed out in earlier segments */
    unsigned _segment;
    uint64_t _chunk_offset; /* stream offset of the current chunk's start line */
    uint8_t _tid_len;
    char _tid[MSRP_TID_MAX];
    enum msrp_kind _kind;
    enum msrp_method _method_id;
    int _status;
};

void msrp_limits_default(struct msrp_limits *l);
/* limits may be NULL for the defaults. */
void msrp_parser_init(struct msrp_parser *p, const struct msrp_limits *limits);
/* The buffer a caller needs so that any well-formed stream can always make progress. */
size_t msrp_parser_buffer_size(const struct msrp_parser *p);

/* out->headers and out->headers_cap must be set; every other field is written. */
ssize_t msrp_parse(struct msrp_parser *p, const char *buf, size_t len, struct msrp_chunk *out);

/* Convenience for callers that hold a whole chunk: the header by id, or NULL. */
const struct msrp_header *msrp_chunk_header(const struct msrp_chunk *c, enum msrp_header_id id);

/* ident = ALPHANUM 3*31ident-char, ident-char = ALPHANUM / "." / "-" / "+" / "%" / "=" */
bool msrp_is_ident(const char *s, size_t len);

#endif
