/*
 * rules.h - the rules of RFC 4975 that one parsed chunk shows kept or broken on its own: the
 * URIs of its To-Path and From-Path (section 6), how a request is built (7.1) and what a REPORT
 * carries (7.1.2). Shared by the two checkers of peers: the conformance executor
 * (src/conform/framerules.c, on every frame a peer under test writes) and serve's check of its
 * clients (src/msrp/peerrules.c).
 *
 * Contract: pure. No I/O, no allocation, no state; thread-safe. Each broken rule is handed to
 * the caller's callback, in the order of the checks, as a requirement id of
 * scenarios/conformance/requirements.json ("4975-7.1/body-has-content-type"), a kind (the id's
 * name after the "/", for a log line) and a sentence (valid only during the call, "has a body
 * but no Content-Type", worded to follow "the SEND ..."). Rules that need more than one chunk
 * (transaction ids used twice, the chunks of one message) are the caller's.
 */
#ifndef MSRPLOAD_WIRE_RULES_H
#define MSRPLOAD_WIRE_RULES_H

#include <stdint.h>

#include "wire/parser.h"

/* RFC 4975 section 7.1: a request other than SEND has a body of at most 10240 octets. */
#define MSRP_RULES_NON_SEND_BODY_MAX 10240

struct msrp_rule_breach {
    const char *requirement; /* "4975-7.1/body-has-content-type" */
    const char *kind;        /* "body-has-content-type" */
    const char *detail;
};

typedef void (*msrp_rule_fn)(const struct msrp_rule_breach *b, void *user);

/*
 * The rules a chunk's head shows (c->has_head): every URI of To-Path and From-Path (requests
 * and responses); for requests the Content-Type and MIME headers against c->has_body, and for
 * a REPORT its Success-Report/Failure-Report, Status and Message-ID.
 */
void msrp_rules_check_head(const struct msrp_chunk *c, msrp_rule_fn fn, void *user);

/* The size rule, once a request's whole body is known: method and body length in octets. */
void msrp_rules_check_body_size(enum msrp_method method, uint64_t body_len, msrp_rule_fn fn,
                                void *user);

/* Both, for a chunk parsed whole (c->body is its whole body). */
void msrp_rules_check_chunk(const struct msrp_chunk *c, msrp_rule_fn fn, void *user);

#endif
