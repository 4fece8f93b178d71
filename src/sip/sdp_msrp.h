/*
 * sdp_msrp.h - SDP offer/answer for one MSRP stream (RFC 4975 section 8, RFC 6714 CEMA, the
 * a=setup connection role of RFC 6135 / RFC 4145): build an offer, read an offer or answer,
 * build the answer, and settle who connects where.
 *
 * Parsing goes through libosip2's sdp_message_t (libosipparser2); building writes the text
 * directly. Pure: no I/O, no DNS, no clock, no logging; thread-safe (libosip2's SDP parser keeps
 * no global state). Nothing here knows SIP: the caller carries the text in an INVITE or its
 * answer and maps a rejection to 488.
 *
 * Addresses are compared as written: IP literals by address, names case-insensitively. A name
 * against an IP literal cannot be decided without DNS (RFC 6714 section 4.4 resolves names),
 * and such a pair is taken as a match, never as proof of a middlebox.
 */
#ifndef MSRPLOAD_SIP_SDP_MSRP_H
#define MSRPLOAD_SIP_SDP_MSRP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sizes of the text kept from one side's description, NUL included. */
#define SIP_SDP_PATH_MAX 4096
#define SIP_SDP_TYPES_MAX 1024
#define SIP_SDP_ADDR_MAX 256
/* m= lines kept from an offer, so the answer can decline the others one by one. */
#define SIP_SDP_MEDIA_MAX 8
#define SIP_SDP_MLINE_MAX 96

/* a=setup values (RFC 4145; RFC 6135 brings them to MSRP); NONE when the attribute is absent. */
enum sip_sdp_setup {
    SIP_SDP_SETUP_NONE = 0,
    SIP_SDP_SETUP_ACTIVE,
    SIP_SDP_SETUP_PASSIVE,
    SIP_SDP_SETUP_ACTPASS,
    SIP_SDP_SETUP_HOLDCONN,
};
const char *sip_sdp_setup_name(enum sip_sdp_setup s);

enum sip_sdp_error {
    SIP_SDP_OK = 0,
    SIP_SDP_E_SYNTAX,       /* libosip2 could not parse the SDP, or it holds a NUL byte */
    SIP_SDP_E_TOO_LONG,     /* a value longer than this module keeps, or too many m= lines */
    SIP_SDP_E_NO_MSRP,      /* no m=message line with TCP/MSRP or TCP/TLS/MSRP */
    SIP_SDP_E_FORMAT,       /* the MSRP m= line's format list is not "*" */
    SIP_SDP_E_PORT,         /* the m= port is not a number in 0..65535 */
    SIP_SDP_E_NO_PATH,      /* no a=path */
    SIP_SDP_E_PATH,         /* a=path has a bad URI, one without a port, or is given twice */
    SIP_SDP_E_NO_ACCEPT,    /* no a=accept-types */
    SIP_SDP_E_TYPES,        /* a malformed or repeated accept-types / accept-wrapped-types */
    SIP_SDP_E_MAX_SIZE,     /* a=max-size not 1*DIGIT (or beyond 64 bits), or repeated */
    SIP_SDP_E_SETUP,        /* a=setup with an unknown value, or repeated */
    SIP_SDP_E_NO_C,         /* no c= line for the MSRP stream, neither in it nor above it */
};
const char *sip_sdp_error_text(enum sip_sdp_error e);

/* One side's description of its MSRP stream, as read from its SDP. Strings are NUL-terminated. */
struct sip_sdp_msrp_desc {
    bool tls;                              /* TCP/TLS/MSRP */
    uint16_t port;                         /* m= port; 0: the stream is declined */
    char c_addrtype[8];                    /* "IP4" / "IP6" */
    char c_addr[SIP_SDP_ADDR_MAX];         /* the c= address that applies to the stream */
    char path[SIP_SDP_PATH_MAX];           /* a=path value; "" when declined without one */
    int path_count;                        /* URIs in path */
    char accept_types[SIP_SDP_TYPES_MAX];  /* "" when declined without one */
    char accept_wrapped_types[SIP_SDP_TYPES_MAX]; /* "" when absent */
    bool has_max_size;
    uint64_t max_size;
    enum sip_sdp_setup setup;
    bool cema;                             /* a=msrp-cema */
    /* Which m= line is the MSRP stream, and every m= line as "<media> <proto> <first fmt>"
     * for declining the others in an answer. */
    int msrp_index, media_count;
    char mlines[SIP_SDP_MEDIA_MAX][SIP_SDP_MLINE_MAX];
};

/*
 * Reads an SDP (len bytes; no NUL needed) into *out. The MSRP stream is the first m=message
 * line whose protocol is TCP/MSRP or TCP/TLS/MSRP. A declined stream (port 0) needs no path or
 * accept-types; any other needs both, with the checks RFC 4975 section 8 asks of them.
 * Returns SIP_SDP_OK, or an error with why (may be NULL) holding one line naming the rule.
 */
enum sip_sdp_error sip_sdp_msrp_parse(const char *sdp, size_t len, struct sip_sdp_msrp_desc *out,
                                      char *why, size_t why_cap);

/* What the local side says: used for an offer and for an answer. */
struct sip_sdp_msrp_local {
    const char *path;       /* our a=path: SP-separated MSRP URIs with ports; rightmost ours,
                             * leftmost our relay when we use one (RFC 4975 section 8.3) */
    const char *accept_types;         /* format-list, e.g. "text/plain message/cpim" */
    const char *accept_wrapped_types; /* NULL or "": none */
    uint64_t max_size;                /* 0: no a=max-size */
    /* Offer: the value to send (NONE: no a=setup, the RFC 4975 section 8.5 default; with CEMA
     * NONE becomes actpass). Answer to actpass: ACTIVE or PASSIVE picks the role; NONE or
     * ACTPASS leave it passive, as RFC 4975's model (the offerer connects) would. */
    enum sip_sdp_setup setup;
    bool cema;                        /* offer a=msrp-cema; answer it when offered */
    const char *user;                 /* o= username; NULL: "-" */
    uint64_t sess_id, sess_version;   /* o= */
};

/*
 * Writes an offer into out (NUL-terminated; *len, when len is not NULL, gets its length, or the
 * length needed on ENOSPC). c= and the m= port come from the path (see sdp_msrp.c:
 * stream_addr()). Returns 0, EINVAL (a bad path, types or user, CR/LF in a value, or a setup an
 * offer may not carry, with why saying which) or ENOSPC.
 */
int sip_sdp_msrp_offer(const struct sip_sdp_msrp_local *local, char *out, size_t cap,
                       size_t *len, char *why, size_t why_cap);

enum sip_sdp_verdict {
    SIP_SDP_ACCEPT = 0, /* the stream is set up */
    SIP_SDP_DECLINED,   /* answered (or answered us) with port 0 */
    SIP_SDP_REJECT,     /* answerer: the offer is unacceptable, answer the request with 488;
                         * offerer: the answer is unusable, end the attempt */
    SIP_SDP_REOFFER,    /* offerer: RFC 6714 section 4.2 asks for a new offer without CEMA */
};

/* The outcome of an exchange, for the side that computed it. */
struct sip_sdp_msrp_result {
    enum sip_sdp_verdict verdict;
    char reason[160];         /* why, when not ACCEPT: names the rule */
    bool active;              /* we open the connection */
    bool cema;                /* CEMA is in effect */
    /* Where to connect when active: the peer path's first URI (RFC 4975 section 8.3), or with
     * CEMA the peer's c=/m= (RFC 6714 sections 4.2 and 4.3). */
    char connect_host[SIP_SDP_ADDR_MAX];
    uint16_t connect_port;
    bool connect_tls;
    char peer_path[SIP_SDP_PATH_MAX]; /* the To-Path for our requests (RFC 4975 section 8.2) */
    char types[SIP_SDP_TYPES_MAX];    /* the answer's accept-types (what the offerer may send) */
    char wrapped_types[SIP_SDP_TYPES_MAX]; /* sip_sdp_msrp_answer: its accept-wrapped-types, "" */
};

/*
 * Answers a parsed offer. On ACCEPT out holds the answer; on DECLINED out holds an answer with
 * every m= line at port 0 (decline true asks for that outright); on REJECT out is "" and the
 * request gets 488. Returns 0, EINVAL (bad local values, why in res->reason) or ENOSPC.
 */
int sip_sdp_msrp_answer(const struct sip_sdp_msrp_desc *offer,
                        const struct sip_sdp_msrp_local *local, bool decline, char *out,
                        size_t cap, size_t *len, struct sip_sdp_msrp_result *res);

/*
 * The offerer's side: reads the answer to the offer it made with local. Fills *res (verdict,
 * role, CEMA, where to connect). Returns 0, or EINVAL when local is unusable.
 */
int sip_sdp_msrp_take_answer(const struct sip_sdp_msrp_local *local,
                             const struct sip_sdp_msrp_desc *answer,
                             struct sip_sdp_msrp_result *res);

/*
 * True when each entry of types (a format-list) is within allowed (another format-list): equal
 * type/subtype, or covered in allowed by the type with subtype "*" or by "*"; parameters are
 * ignored for matching (RFC 4975 section 8.6). "*" in types is within only "*".
 */
bool sip_sdp_types_within(const char *types, const char *allowed);

#endif
