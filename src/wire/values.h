/*
 * values.h - structured MSRP header values (RFC 4975 section 9, RFC 4976 section 7,
 * RFC 2617 digest parameters). Zero-copy: results are spans into the value passed in.
 *
 * Every parser takes the value as the chunk parser returned it (the bytes after ": ", without
 * the CRLF) and returns true when it matches the grammar. None allocates; all are thread-safe.
 * *out is written only when a parser returns true. None reads outside [v.ptr, v.ptr + v.len);
 * v.ptr may be NULL when v.len is 0.
 */
#ifndef MSRPLOAD_WIRE_VALUES_H
#define MSRPLOAD_WIRE_VALUES_H

#include <stdint.h>

#include "wire/parser.h"
#include "wire/span.h"

/*
 * Byte-Range = range-start "-" range-end "/" total; range-end and total may be "*"
 * (MSRP_RANGE_UNKNOWN). Besides the syntax it checks the arithmetic a receiver relies on:
 * start >= 1; end >= start - 1 (1-0/0 is an empty chunk); end <= total and start <= total + 1
 * when both are known. Numbers above 2^63 are rejected.
 */
bool msrp_byte_range_parse(struct msrp_span v, struct msrp_byte_range *out);
/* Formats as "1-*\/100" etc. Returns the length needed (snprintf semantics: at most cap - 1
 * bytes and a NUL are written when cap > 0; buf may be NULL when cap is 0). 63 bytes suffice. */
size_t msrp_byte_range_format(const struct msrp_byte_range *r, char *buf, size_t cap);

/* "yes" / "no" (Success-Report), "yes" / "no" / "partial" (Failure-Report). Case-sensitive. */
bool msrp_success_report_parse(struct msrp_span v, enum msrp_report *out);
bool msrp_failure_report_parse(struct msrp_span v, enum msrp_report *out);
const char *msrp_report_name(enum msrp_report r); /* "yes", "no", "partial", or NULL */

/* Status = namespace SP status-code [SP text-reason]; namespace is 3DIGIT (only "000" defined,
 * but any three digits are accepted). text-reason is utf8text (RFC 4975 section 9). */
struct msrp_status {
    int ns;
    int code;
    struct msrp_span reason; /* empty when absent */
};
bool msrp_status_parse(struct msrp_span v, struct msrp_status *out);

/* Expires, Min-Expires, Max-Expires (RFC 4976): 1*DIGIT (leading zeros allowed), at most
 * UINT32_MAX. */
bool msrp_expires_parse(struct msrp_span v, uint32_t *out);

/* Message-ID = ident */
bool msrp_message_id_valid(struct msrp_span v);

/*
 * Parameters `name=value` separated by ";" (Content-Type, Content-Disposition) or "," (digest).
 * value is a token or a quoted-string; quoted values are returned with their quotes stripped
 * but escapes left in place (msrp_unquote copies them out). token is RFC 4975 section 9's (the
 * RFC 2045 set); a quoted-string may hold UTF-8 (UTF8-NONASCII) and backslash escapes of HTAB or
 * printable ASCII, no control characters.
 */
struct msrp_param {
    struct msrp_span name;
    struct msrp_span value;
    bool quoted;
};

/*
 * Content-Type = type "/" subtype *( ";" parameter ) (RFC 2045 media type, as RFC 4975 uses it).
 * params is the text after the subtype, iterated with msrp_param_next(&params, ';', ...).
 */
struct msrp_media_type {
    struct msrp_span type;
    struct msrp_span subtype;
    struct msrp_span params;
};
bool msrp_media_type_parse(struct msrp_span v, struct msrp_media_type *out);

/*
 * Content-Disposition = disposition-type *( ";" parameter ) (RFC 2183); every parameter needs
 * a value here.
 */
struct msrp_disposition {
    struct msrp_span type;
    struct msrp_span params;
};
bool msrp_disposition_parse(struct msrp_span v, struct msrp_disposition *out);

/*
 * Next parameter from *rest, which starts at a separator (or whitespace before one) or is
 * empty. Returns 1 with a parameter, 0 at the end, -1 on a syntax error. Whitespace around
 * separators and "=" is allowed (SP / HTAB; header values have no line folding). On 1 and 0
 * *rest is advanced past what was consumed; on -1 it is left as it was.
 * With sep ';' the "=" value may be missing (RFC 4975 gen-param = pname [ "=" pval ]): value is
 * then empty and quoted false (an empty quoted "" has quoted true). With any other separator
 * (',' for digest, RFC 2617 auth-param) a value is required.
 */
int msrp_param_next(struct msrp_span *rest, char sep, struct msrp_param *out);

/* Copies a quoted-string's content to dst with backslash escapes resolved; NUL-terminates.
 * Returns the unescaped length, or -1 if it does not fit in cap (NUL included). */
int msrp_unquote(struct msrp_span quoted_content, char *dst, size_t cap);

/*
 * WWW-Authenticate, Authorization, Authentication-Info (RFC 4976 section 7 with RFC 2617):
 *   "Digest" SP param *( "," [SP] param ) for the first two, params alone for the third.
 * Known parameters are picked out; an unknown one is counted in `other` and skipped.
 * A parameter given twice is an error. Names and "Digest" are case-insensitive; any run of
 * SP / HTAB is accepted around "," and "=", empty list elements are not.
 * An absent parameter has a NULL ptr. Fields with an *_q flag accept a token or a
 * quoted-string and the flag says which; the rest must have the form RFC 2617 gives them:
 * domain, nextnonce and rspauth quoted; stale ("true" / "false", any case), algorithm and
 * nc (8LHEX) tokens. Quoted values keep their escapes (see msrp_unquote).
 * The challenge parser knows realm, nonce, opaque, stale, algorithm, domain, qop, username, uri,
 * response, cnonce and nc; the info parser nextnonce, qop, rspauth, cnonce and nc.
 */
struct msrp_digest {
    struct msrp_span realm, nonce, opaque, stale, algorithm, qop, domain;
    struct msrp_span username, uri, response, cnonce, nc, nextnonce, rspauth;
    bool realm_q, nonce_q, opaque_q, qop_q, username_q, uri_q, response_q, cnonce_q;
    unsigned other;
};
/* WWW-Authenticate, Authorization */
bool msrp_digest_challenge_parse(struct msrp_span v, struct msrp_digest *out);
/* Authentication-Info */
bool msrp_digest_info_parse(struct msrp_span v, struct msrp_digest *out);

#endif
