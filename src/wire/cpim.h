/*
 * cpim.h - message/cpim bodies (RFC 3862) with the IMDN header fields (RFC 5438 sections 6
 * and 10): building the part before the inner body, and parsing a whole one. Pure: no I/O,
 * no allocation; parse results are spans into the caller's buffer.
 *
 * Over MSRP the SEND's own Content-Type is the "m:" part of RFC 3862 section 2, so a body
 * here starts with the message headers ("h:"), then a blank line, then the encapsulated MIME
 * object: its headers, a blank line, its content ("e:"), which ends where the body ends.
 */
#ifndef MSRPLOAD_WIRE_CPIM_H
#define MSRPLOAD_WIRE_CPIM_H

#include <stdbool.h>
#include <stddef.h>

#include "wire/span.h"

/* The namespace of the IMDN header fields (RFC 5438 section 6.1). */
#define CPIM_IMDN_NS "urn:ietf:params:imdn"

/* Disposition-Notification values we know (RFC 5438 section 10), as bits. */
enum {
    CPIM_NOTIFY_POSITIVE_DELIVERY = 1u << 0,
    CPIM_NOTIFY_NEGATIVE_DELIVERY = 1u << 1,
    CPIM_NOTIFY_PROCESSING = 1u << 2,
    CPIM_NOTIFY_DISPLAY = 1u << 3,
};

struct cpim_build {
    const char *from, *to;     /* URIs, written as "<uri>" */
    const char *datetime;      /* RFC 3339 date-time (cpim_datetime_format) */
    const char *message_id;    /* imdn.Message-ID, a Token; NULL: no NS and no IMDN fields */
    unsigned notify;           /* CPIM_NOTIFY_* bits: imdn.Disposition-Notification; 0: none */
    const char *content_type;  /* the inner Content-Type (RFC 3862 section 2.4: MUST) */
    const char *content_disposition; /* NULL, or e.g. "notification" (RFC 5438 7.2.1) */
};

/*
 * Writes everything of the body before the inner content: the message headers, the blank
 * line, the inner MIME headers and their blank line. The inner content follows as it is (a
 * second iovec, or copied by the caller), so it is never copied here. Returns the length
 * written, or 0 when cap is too small or a field would break the header rules (a control
 * character, a Message-ID that is not a Token, a missing From, To or Content-Type).
 */
size_t cpim_build_head(const struct cpim_build *b, char *buf, size_t cap);

/* "2026-12-04T10:48:27.123Z" from nanoseconds since the epoch (RFC 3339). 32 bytes suffice;
 * returns the length. */
size_t cpim_datetime_format(unsigned long long epoch_ns, char *buf, size_t cap);

struct cpim_msg {
    struct msrp_span from, to;       /* the URIs between < > */
    struct msrp_span datetime;
    struct msrp_span imdn_prefix;    /* the NS prefix declared for CPIM_IMDN_NS; empty: none */
    struct msrp_span message_id;     /* <prefix>.Message-ID; empty: none */
    bool has_notify;                 /* a <prefix>.Disposition-Notification header was there */
    unsigned notify;                 /* its known values; unknown ones ignored (5438 7.2.1) */
    struct msrp_span content_type;   /* the inner one */
    struct msrp_span content_disposition; /* empty: none */
    struct msrp_span body;           /* the inner content: to the end of the buffer */
    size_t headers;                  /* message headers read */
};

struct cpim_error {
    size_t offset;    /* byte of the buffer where the rule broke */
    const char *what; /* in words, naming the RFC section */
};

/*
 * Parses a whole message/cpim body. Checked: every message header line (RFC 3862 section
 * 2.2: CRLF, no whitespace at either end, no control characters, valid UTF-8, the single SP
 * after the name, colon and parameters; the syntax of section 3.6), From and To as
 * "[Formal-name] <URI>" (4.1, 4.2), at most one From and DateTime, NS before any use of its
 * prefix (3.4), the IMDN fields' syntax (RFC 5438 section 10) and, when notifications are
 * requested, Message-ID and DateTime present (5438 7.1.1.1, 7.1.1.2); the inner MIME headers
 * with a Content-Type among them (3862 section 2.4). Returns false with *err filled.
 */
bool cpim_parse(const char *buf, size_t len, struct cpim_msg *out, struct cpim_error *err);

/* The Token rule of RFC 3862 section 3.6 (imdn.Message-ID's value). */
bool cpim_token_valid(struct msrp_span v);

/* RFC 3629 UTF-8 check: the offset of the first byte that breaks it, or len when none. */
size_t cpim_utf8_bad_at(const char *s, size_t len);

#endif
