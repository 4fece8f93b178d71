/*
 * peerrules.h - the answering side's check of the rules its peer breaks in the chunks it sends
 * (serve as the reference checker of clients, issue 13 point 5): the per-chunk rules of
 * src/wire/rules.h, plus the rules of RFC 4975 section 7.1.1 that span the chunks of one
 * message. Each broken rule goes to the session's on_violation handler with the kind of
 * rules.h; msrp_peer_rules_requirement() names the requirement id of a kind, for the log.
 *
 * Contract: one struct msrp_peer_rules per session, zeroed at the start (a calloc'd session
 * is ready), fed every chunk event the session parses in stream order (heads, body segments,
 * ends; requests and responses), before the session acts on it. Chunks with a parse error are
 * the session's own business (it logs the error) and are not looked at. No allocation, no
 * I/O; the same thread as its session.
 */
#ifndef MSRPLOAD_MSRP_PEERRULES_H
#define MSRPLOAD_MSRP_PEERRULES_H

#include <stdbool.h>
#include <stdint.h>

#include "msrp/session.h"
#include "wire/parser.h"

/* How many of the peer's latest messages are remembered for the rules across chunks. */
#define MSRP_PEER_RULES_MESSAGES 8

struct msrp_peer_message {
    uint64_t id_hash;         /* FNV-1a of the Message-ID; 0: slot unused */
    enum msrp_report success, failure; /* as the first chunk said, absent made explicit */
    uint64_t last_start;      /* range start of its latest chunk */
    uint64_t received;        /* body octets of its chunks so far (repeats counted again) */
    uint64_t total;           /* its Byte-Range total, or MSRP_RANGE_UNKNOWN */
    bool open;                /* more chunks must follow: not aborted, and the total not
                                 reached (no total: the latest chunk ended in "+") */
    bool order_told;          /* chunks-in-order logged once for it already */
};

struct msrp_peer_rules {
    /* The request being read. */
    bool _checking;           /* its head parsed without error */
    enum msrp_method _method;
    bool _has_body;
    uint64_t _body_len;
    struct msrp_peer_message *_message; /* the SEND's entry in _messages, or NULL */
    uint64_t _start;
    /* The peer's latest messages, oldest replaced first. */
    struct msrp_peer_message _messages[MSRP_PEER_RULES_MESSAGES];
    unsigned _next;
};

typedef void (*msrp_peer_rules_fn)(struct msrp_session *s, const struct msrp_peer_violation *v);

/* Looks at one parsed chunk event c of session s; each broken rule goes to fn (none: NULL). */
void msrp_peer_rules_check(struct msrp_peer_rules *r, const struct msrp_chunk *c,
                           struct msrp_session *s, msrp_peer_rules_fn fn);

/*
 * The requirement id (scenarios/conformance/requirements.json) of a violation kind an
 * answering session logs, or NULL when the kind names no single requirement: the kinds above
 * and some the session logs itself ("reused-tid", "range-end-not-star", ...).
 */
const char *msrp_peer_rules_requirement(const char *kind);

/* True for a kind the session notes that the RFC allows (a header name in another letter
 * case): not a violation, for a checker to leave out. */
bool msrp_peer_rules_allows(const char *kind);

#endif
