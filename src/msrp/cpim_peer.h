/*
 * cpim_peer.h - what an answering end does with a message/cpim message it received (issue
 * 19): unwraps and checks it (RFC 3862; the inner type against the session's accept lists,
 * RFC 4975 section 8.6), and when the sender asked for positive-delivery sends the delivery
 * notification back on the same session: message/imdn+xml inside message/cpim with an
 * imdn.Message-ID of its own and Content-Disposition: notification (RFC 5438 sections
 * 7.2.1 and 7.2.1.1). An IMDN itself is checked and never answered (7.2.1: MUST NOT send an
 * IMDN for an IMDN). Used by the runner's answering ends and by serve; needs the session to
 * keep bodies (msrp_session_config.keep_bodies_max).
 */
#ifndef MSRPLOAD_MSRP_CPIM_PEER_H
#define MSRPLOAD_MSRP_CPIM_PEER_H

#include "msrp/session.h"
#include "wire/cpim.h"

/* Bodies kept for CPIM by the runner and serve: a chat message and its wrapper fit easily. */
#define MSRP_CPIM_KEEP_MAX (256u * 1024u)

enum msrp_cpim_verdict {
    MSRP_CPIM_NOT_CPIM = 0, /* another Content-Type: nothing to do */
    MSRP_CPIM_OK,           /* checked */
    MSRP_CPIM_IMDN,         /* a well-formed delivery notification (filled in imdn_for) */
    MSRP_CPIM_UNCHECKED,    /* too large to have been kept, or aborted */
    MSRP_CPIM_MALFORMED,    /* detail says which rule, at which byte */
};

struct msrp_cpim_result {
    enum msrp_cpim_verdict verdict;
    bool imdn_sent;          /* a delivery notification went back */
    char imdn_for[64];       /* MSRP_CPIM_IMDN: the <message-id> it notifies ("" otherwise) */
    char detail[256];
};

/* A type in a space-separated accept list ("*" alone, a "*" subtype, or type/subtype exactly,
 * without case; parameters of the type are not compared). */
bool msrp_type_listed(const char *list, struct msrp_span type);

/*
 * Handles one received message on s. accept_types / wrapped_types: the lists the inner type
 * must be in (NULL: any). reply: false to check only (the calling side, which gets IMDNs).
 */
void msrp_cpim_handle(struct msrp_session *s, const struct msrp_received *m,
                      const char *accept_types, const char *wrapped_types, bool reply,
                      struct msrp_cpim_result *r);

#endif
