/*
 * imdn.h - the message/imdn+xml payload of a delivery notification (RFC 5438 section 11):
 * built, and parsed back strictly, for what a load generator needs (the original message's
 * Message-ID, its DateTime, the disposition and its status). Pure: no I/O, no allocation.
 *
 * No XML library: the document is a handful of elements we write ourselves and read back on
 * the answering path of every message, so a small reader over the caller's bytes (spans, no
 * tree, no allocation) is fuzzable with the rest of src/wire/ and costs nothing per message;
 * libxml2 would bring a tree allocated per notification and a dependency the wire layer
 * (and its fuzz build, which links src/wire/ only) does not otherwise have. The reader
 * accepts well-formed XML 1.0 of the shape RFC 5438 section 11.1.9 gives (elements of the
 * default namespace urn:ietf:params:xml:ns:imdn, extension elements skipped, comments and
 * the XML declaration); DTDs, CDATA, processing instructions after the declaration and
 * namespace prefixes on the IMDN elements are refused.
 */
#ifndef MSRPLOAD_WIRE_IMDN_H
#define MSRPLOAD_WIRE_IMDN_H

#include <stdbool.h>
#include <stddef.h>

#include "wire/span.h"

#define IMDN_XML_NS "urn:ietf:params:xml:ns:imdn"
#define IMDN_CONTENT_TYPE "message/imdn+xml"

enum imdn_kind { IMDN_DELIVERY = 1, IMDN_DISPLAY, IMDN_PROCESSING };

struct imdn_build {
    const char *message_id; /* the IM's imdn.Message-ID (11.1.1) */
    const char *datetime;   /* the IM's DateTime (11.1.2) */
    const char *recipient;  /* NULL, or the IM's To URI (11.1.3, optional) */
    enum imdn_kind kind;
    const char *status;     /* "delivered", "failed", "displayed", ... (11.1.7) */
};

/* Writes the XML document. Returns its length, or 0 when cap is too small or a value holds
 * a byte that would need escaping ("<", "&", a control character) or is empty. */
size_t imdn_build_xml(const struct imdn_build *b, char *buf, size_t cap);

struct imdn_doc {
    struct msrp_span message_id, datetime, recipient; /* text as written (no entities) */
    enum imdn_kind kind;
    struct msrp_span status; /* the name of <status>'s child element */
};

/* Parses the document; false with *err_offset and *err_what (naming the rule) when it is not
 * an IMDN we can read: <message-id>, <datetime> and exactly one notification element with a
 * <status> holding one element are required (RFC 5438 sections 11.1.1, 11.1.2, 11.1.6,
 * 11.1.7). */
bool imdn_parse_xml(const char *buf, size_t len, struct imdn_doc *out, size_t *err_offset,
                    const char **err_what);

#endif
