/*
 * uri.h - MSRP URIs (RFC 4975 section 6): parse, format, compare.
 *
 *   MSRP-URI   = msrp-scheme "://" authority ["/" session-id] ";" transport *( ";" URI-parameter )
 *   msrp-scheme = "msrp" / "msrps"
 *   authority  = [ userinfo "@" ] host [ ":" port ]          (RFC 3986)
 *   session-id = 1*( unreserved / "+" / "=" / "/" )
 *   transport  = "tcp" / 1*ALPHANUM
 *
 * Parsing is zero-copy: the spans point into the input. Comparison follows RFC 4975 section
 * 6.1 (see msrp_uri_equal). No function allocates; all are thread-safe.
 */
#ifndef MSRPLOAD_WIRE_URI_H
#define MSRPLOAD_WIRE_URI_H

#include <stdint.h>

#include "wire/span.h"

#define MSRP_DEFAULT_PORT 2855

enum msrp_host_type { MSRP_HOST_NAME = 1, MSRP_HOST_IPV4, MSRP_HOST_IPV6 };

enum msrp_uri_error {
    MSRP_URI_OK = 0,
    MSRP_URI_E_SCHEME,     /* not msrp:// or msrps:// */
    MSRP_URI_E_USERINFO,   /* bad character or percent-escape in userinfo */
    MSRP_URI_E_HOST,       /* empty or malformed host, bad IPv4/IPv6 literal */
    MSRP_URI_E_PORT,       /* port not 1*DIGIT or above 65535 */
    MSRP_URI_E_SESSION_ID, /* bad character in session-id, or "/" with nothing after it */
    MSRP_URI_E_TRANSPORT,  /* ";transport" missing or not 1*ALPHANUM */
    MSRP_URI_E_PARAM,      /* malformed URI-parameter */
    MSRP_URI_E_TOO_LONG,   /* longer than MSRP_URI_MAX */
};

#define MSRP_URI_MAX 1024

struct msrp_uri {
    bool secure;                  /* msrps */
    struct msrp_span userinfo;    /* without the "@"; empty when absent */
    struct msrp_span host;        /* IPv6 without the brackets */
    enum msrp_host_type host_type;
    bool has_port;
    uint16_t port;
    struct msrp_span session_id;  /* empty when absent */
    struct msrp_span transport;   /* e.g. "tcp" */
    struct msrp_span params;      /* whatever follows the transport, with its leading ";" */
};

const char *msrp_uri_error_text(enum msrp_uri_error e);

/*
 * Parses exactly len bytes (s may be NULL when len is 0; NUL bytes are ordinary, invalid
 * characters). Returns MSRP_URI_OK and fills *out, or an error code and leaves *out untouched.
 * The first error in left-to-right order is reported; a URI longer than MSRP_URI_MAX fails with
 * MSRP_URI_E_TOO_LONG before anything else is checked.
 *
 * Host type: "[...]" is MSRP_HOST_IPV6 (checked with inet_pton; IPvFuture and zone ids are
 * refused); four dec-octets without leading zeros (RFC 3986 section 3.2.2) are
 * MSRP_HOST_IPV4; any other host made only of digits and dots ("1.2.3.256", "010.0.0.1",
 * "1234") is refused with MSRP_URI_E_HOST rather than taken as a name; the rest is
 * MSRP_HOST_NAME. ";" ends the host, though RFC 3986 lets a reg-name hold it; userinfo may hold
 * it. An empty userinfo ("msrp://@h;tcp") parses as absent.
 */
enum msrp_uri_error msrp_uri_parse(const char *s, size_t len, struct msrp_uri *out);

/*
 * Writes the canonical text of u into buf (NUL-terminated when cap > 0; buf may be NULL when
 * cap is 0). Returns the length it needs, not counting the NUL, like snprintf: a result >= cap
 * means it was truncated. Canonical: the scheme in lower case, the port in decimal without
 * leading zeros; the other parts as parsed. The text of a parsed URI is never longer than the
 * input, so MSRP_URI_MAX + 1 bytes always suffice for it.
 */
size_t msrp_uri_format(const struct msrp_uri *u, char *buf, size_t cap);

/*
 * RFC 4975 section 6.1: schemes must match; userinfo is ignored; hosts compare
 * case-insensitively after percent-decoding unreserved characters, IP literals by address;
 * ports must match, and a URI without a port never equals one with a port; session-ids compare
 * case-sensitively and one without never equals one with; transports compare
 * case-insensitively. Other URI parameters are not significant.
 */
bool msrp_uri_equal(const struct msrp_uri *a, const struct msrp_uri *b);

/*
 * Iterates a path header value (To-Path, From-Path, Use-Path: URIs separated by SP). Start with
 * *rest set to the whole value; each call parses the next URI into *out and advances *rest.
 * Returns 1 with a URI, 0 at the end, or -(enum msrp_uri_error) on a bad URI or separator.
 * Any run of SP / HTAB separates URIs; whitespace at either end of the value counts as an empty
 * URI (-MSRP_URI_E_SCHEME, reported by the call after the last good URI); other separators
 * become part of a URI and fail its parse. An empty value gives 0 at once. On an error *rest
 * stays at the bad URI and *out is untouched.
 */
int msrp_uri_list_next(struct msrp_span *rest, struct msrp_uri *out);

/* Number of URIs in a path value (0 when empty), or -(enum msrp_uri_error) when one is bad. */
int msrp_uri_list_count(struct msrp_span value);

#endif
