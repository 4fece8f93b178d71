/*
 * msg.h - SIP messages through libosip2's parser library: framing on stream transports,
 * parsing with the checks every message must pass, building requests (REGISTER, INVITE with a
 * body, ACK, BYE, CANCEL) and responses (with a To-tag), and answering a 401 / 407 digest
 * challenge with src/wire/digest.c.
 *
 * Pure: no I/O, no clock. libosip2's parser tables are set up once (sip_osip_init(), called by
 * every function here that needs them) and its own trace output is switched off; after that
 * everything is thread-safe. RFC 3261 is not in ../shared/rfc/: the rules taken from it say
 * "(from memory)".
 *
 * Messages are osip_message_t (free with osip_message_free). Built text goes into the caller's
 * buffer: 0, or ENOSPC with *len the length needed (NUL not counted), or EINVAL with why.
 */
#ifndef MSRPLOAD_SIP_MSG_H
#define MSRPLOAD_SIP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <osipparser2/osip_message.h>
#include <osipparser2/osip_parser.h>

#include "wire/idgen.h"

/* libosip2's one-time set-up (parser_init) and its trace output off. Idempotent, thread-safe. */
void sip_osip_init(void);

/* ---- framing on stream transports ---------------------------------------------------------- */

/* Limits of one message on a stream: the header block and the body. */
#define SIP_FRAME_MAX_HEADERS (64 * 1024)
#define SIP_FRAME_MAX_BODY (1024 * 1024)

enum sip_frame_status {
    SIP_FRAME_NEED_MORE = 0, /* no whole message yet: read more and ask again */
    SIP_FRAME_MESSAGE = 1,   /* a whole message */
    SIP_FRAME_ERROR = -1,    /* the stream is not SIP: close it */
};

struct sip_frame {
    size_t skip;  /* CRLFs before the message, to be dropped (keep-alives) */
    size_t len;   /* the message's bytes after them; consume skip + len */
    size_t error_offset; /* SIP_FRAME_ERROR: the offending byte, from the buffer's start */
    const char *error;   /* SIP_FRAME_ERROR: what is wrong (a static string) */
};

/*
 * Finds the next message in a stream buffer. The header block ends at the first empty line
 * (CRLF CRLF); on a stream, Content-Length (or its compact form "l") is mandatory and says how
 * many body bytes follow (RFC 3261 sections 7.5 and 18.3, from memory). CRLFs before the start
 * line are skipped (RFC 3261 section 7.5, from memory: ignored before the start-line). Checked
 * here, so a stream of garbage is caught before a whole header block is buffered: the start
 * line looks like "METHOD SP ... SP SIP/2.0" or "SIP/2.0 SP", no control byte but CR, LF and HTAB
 * in the headers, a bare LF, one Content-Length (repeats must agree), digits only, within the
 * limits above.
 */
enum sip_frame_status sip_frame_next(const char *buf, size_t len, struct sip_frame *out);

/* ---- parsing ------------------------------------------------------------------------------- */

/*
 * Parses one whole message (a datagram, or what sip_frame_next() delimited). Besides libosip2's
 * syntax it requires what RFC 3261 section 8.1.1 (from memory) has every request carry, and
 * responses too: Via, From, To, Call-ID and CSeq; a request's CSeq method equals its method
 * (ACK and CANCEL included); a response's status is 100..699. Returns the message, or NULL
 * with why (may be NULL) filled.
 */
osip_message_t *sip_msg_parse(const char *buf, size_t len, char *why, size_t why_cap);

/* The top Via's branch parameter, or NULL. */
const char *sip_msg_branch(const osip_message_t *m);
/* The To / From tag, or NULL. */
const char *sip_msg_to_tag(const osip_message_t *m);
const char *sip_msg_from_tag(const osip_message_t *m);
/* CSeq number and method (NULL when absent). */
uint32_t sip_msg_cseq(const osip_message_t *m);
const char *sip_msg_cseq_method(const osip_message_t *m);
/* The first body and its length, or NULL. */
const char *sip_msg_body(const osip_message_t *m, size_t *len);

/* Serializes m into out (see the top of this file for the return values). */
int sip_msg_to_text(osip_message_t *m, char *out, size_t cap, size_t *len);

/* ---- building ------------------------------------------------------------------------------ */

/* A request from scratch. Strings must not hold CR or LF; NULL leaves a header out. */
struct sip_req {
    const char *method;      /* "REGISTER", "INVITE", "ACK", "BYE", ... */
    const char *uri;         /* Request-URI */
    const char *from;        /* name-addr or addr-spec, e.g. "<sip:alice@example.com>" */
    const char *from_tag;    /* required (RFC 3261 section 8.1.1.3, from memory) */
    const char *to;
    const char *to_tag;      /* in a dialog */
    const char *call_id;
    uint32_t cseq;
    /* Via: SIP/2.0/<transport> <host>:<port>;branch=<branch>;rport. The branch must start with
     * the magic cookie "z9hG4bK" (RFC 3261 section 8.1.1.7, from memory). */
    const char *via_transport; /* "UDP", "TCP", "TLS" */
    const char *via_host;
    uint16_t via_port;
    const char *branch;
    const char *contact;      /* e.g. "<sip:alice@127.0.0.1:5070>" */
    const char *const *routes; /* Route values, in order */
    int route_count;
    int max_forwards;         /* 0: 70 (RFC 3261 section 8.1.1.6, from memory: SHOULD be 70) */
    int expires;              /* >= 0: an Expires header (REGISTER); -1: none */
    const char *auth_header;  /* "Authorization" or "Proxy-Authorization" */
    const char *auth_value;   /* from sip_msg_auth_answer() */
    const char *content_type; /* with a body, e.g. "application/sdp" */
    const char *body;
    size_t body_len;
};

int sip_msg_build_request(const struct sip_req *r, char *out, size_t cap, size_t *len,
                          char *why, size_t why_cap);

/*
 * CANCEL for an INVITE we sent, or ACK for a non-2xx final response to it (resp gives the To
 * with its tag; NULL for CANCEL): the INVITE's Request-URI, Call-ID, From, CSeq number, top Via
 * (same branch) and Route headers, the method and CSeq method changed (RFC 3261 sections 9.1
 * and 17.1.1.3, from memory). An ACK for a 2xx is a new request in the dialog: use
 * sip_msg_build_request() with the INVITE's CSeq number and a new branch (section 13.2.2.4).
 */
int sip_msg_build_cancel_or_ack(const osip_message_t *invite, const char *method,
                                const osip_message_t *resp, char *out, size_t cap, size_t *len,
                                char *why, size_t why_cap);

/* A response to req. */
struct sip_resp {
    int code;                 /* 100..699 */
    const char *reason;       /* NULL: a standard phrase for the common codes */
    const char *to_tag;       /* added to To when To has none and code > 100 */
    const char *contact;
    const char *content_type;
    const char *body;
    size_t body_len;
    const char *extra_name, *extra_value; /* one more header, e.g. WWW-Authenticate */
};

/*
 * Via (all, in order), From, To (with to_tag added as above), Call-ID and CSeq come from req
 * (RFC 3261 section 8.2.6.2, from memory); Record-Route too on 1xx/2xx to INVITE, which build
 * the dialog's route set (section 12.1.1, from memory).
 */
int sip_msg_build_response(const osip_message_t *req, const struct sip_resp *p, char *out,
                           size_t cap, size_t *len, char *why, size_t why_cap);

/* ---- digest ---------------------------------------------------------------------------------- */

/*
 * Answers the challenge of a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate): writes the
 * header name to use ("Authorization" / "Proxy-Authorization", RFC 3261 sections 22.2 and 22.3,
 * from memory) into *hname and its value into out, through msrp_digest_answer() (RFC 2617 MD5,
 * qop=auth when offered). method is the request's ("REGISTER", "INVITE"), uri its
 * Request-URI; nc and cnonce (NULL: drawn from ids) as for msrp_digest_answer. Only the first
 * Digest challenge is answered. Returns 0, EINVAL (not a 401/407, no usable challenge; why
 * says which), ENOSPC or EIO as msrp_digest_answer does.
 */
int sip_msg_auth_answer(const osip_message_t *resp, const char *method, const char *uri,
                        const char *user, const char *password, uint32_t nc, const char *cnonce,
                        struct msrp_idgen *ids, const char **hname, char *out, size_t cap,
                        size_t *len, char *why, size_t why_cap);

#endif
