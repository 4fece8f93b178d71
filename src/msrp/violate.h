/*
 * violate.h - the conformance suite's wrong test peer (serve --violate,
 * msrp_session_config.violate): the changes to what a session writes or takes that each break
 * one rule of RFC 4975, kept out of session.c. Used by the session only; every function leaves
 * things as they are when violate is MSRP_VIOLATE_NONE or another violation. The list of
 * names is MSRP_VIOLATIONS (session.h); the session parses its name once into the id.
 */
#ifndef MSRPLOAD_MSRP_VIOLATE_H
#define MSRPLOAD_MSRP_VIOLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "msrp/session.h"
#include "wire/span.h"
#include "wire/writer.h"

/*
 * The URI the session writes as its own: uri itself, or with violate "uri-no-tcp" without its
 * ";tcp" transport parameter, "uri-no-port" without its ":port", "uri-password" with a
 * "user:secret@" userinfo (section 6). Returns uri or out (which holds cap bytes).
 */
const char *msrp_violate_own_uri(enum msrp_violation_id violate, const char *uri, char *out,
                                 size_t cap);

/* A REPORT about to be written: "report-same-tid", "report-content-type", "report-fr-header",
 * "report-big-body" (a body of cap bytes in big), "report-body-no-type" (7.1, 7.1.2). */
void msrp_violate_report(enum msrp_violation_id violate, struct msrp_out *out, char *big,
                         size_t cap);
/* "report-body-no-type", once the REPORT is written: its head loses the Content-Type line. */
void msrp_violate_drop_content_type(struct msrp_wire_chunk *w);

/* "send-transfer-encoding", once a SEND with a body is written into its head (of cap bytes):
 * a "Content-Transfer-Encoding: binary" line after its From-Path (RFC 4975 7.1.1: such
 * parameters MUST NOT be present). Leaves w alone when the head has no room. */
void msrp_violate_add_transfer_encoding(struct msrp_wire_chunk *w, size_t cap);

/* True when the violation refuses this Content-Type: "refuse-multipart" multipart/mixed and
 * multipart/alternative (7.3.1), "refuse-signed" multipart/signed (14.3). */
bool msrp_violate_refuses_type(enum msrp_violation_id violate, struct msrp_span content_type);
/* True when "refuse-odd-body" refuses this body: bytes outside printable ASCII and line ends,
 * or a line of seven dashes (7.1 lets a body hold anything but its own end-line). */
bool msrp_violate_refuses_body(enum msrp_violation_id violate, struct msrp_span body);

/* An Authorization value about to be sent by the relay client (msrp/relay.c): with
 * "digest-bad-response" its response digest has one hex digit changed, with "digest-no-cnonce"
 * its cnonce and nc parameters are taken out, with "digest-uri-unquoted" its uri value loses
 * its quotes (RFC 4976 5.1 and 9.1). *len is updated. */
void msrp_violate_digest(enum msrp_violation_id violate, char *authz, size_t *len);

#endif
