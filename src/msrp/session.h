/*
 * session.h - one MSRP session endpoint over one connection (RFC 4975 sections 5-8): binding,
 * chunked sending with transactions and response timeouts, responses and REPORTs, and
 * reassembly of incoming messages.
 *
 * The behaviour follows a mature MSRP stack (msrplib, see shared/seeds/):
 *  - Binding: the calling side sends a SEND as soon as it is connected, an empty one when it
 *    has nothing to send (RFC 4975 section 5.4). The answering side binds on the first request
 *    whose From-Path is the expected peer path (any From-Path when none is expected).
 *  - Every incoming request is checked: To-Path must be this endpoint's URI and From-Path the
 *    bound peer's path (compared per RFC 4975 section 6.1), otherwise 481; a chunk error
 *    (missing path, bad Byte-Range, ...) gets 400; an unknown method 501; a Content-Type
 *    outside accept_types 415; a message larger than the reassembly allows 413 (on_refused
 *    says which limit), as does one whose repeated bytes differ from the first copy (an
 *    "overlap-conflict" violation); later chunks of a message refused with 413 get 413 too.
 *  - Backpressure (answering side): while the connection's output is congested (a peer that
 *    does not read our responses) the connection is not read; stall_timeout_ns ends it.
 *  - Responses follow Failure-Report: "yes" or absent, every SEND gets one; "partial", only
 *    errors; "no", none. REPORTs are never answered (section 7.1.2).
 *  - Response timeouts (section 7.1.1, and the seed API): a chunk sent with Failure-Report
 *    "yes" or absent and not answered within response_timeout_ns fails with a local 408; with
 *    "partial", silence until the timeout is success (a local 200); with "no", no timer is
 *    armed and a chunk counts as delivered once written.
 *  - Success REPORTs (section 7.1.3) are sent when a message that asked for one
 *    (Success-Report: yes) is complete; failure REPORTs when a message with Failure-Report
 *    "yes" or "partial" fails at the receiver.
 *  - Chunk order (msrp_send_opts.order): "$" always marks the chunk sent last, whichever
 *    range it holds (section 7.1 puts it on the chunk that ends the message: issue 13). As a
 *    receiver, a "$" chunk whose Byte-Range end is a number below its numeric total is taken
 *    as one more range of the message, not as its end: the total decides when the message is
 *    complete, so messages sent out of order reassemble.
 *  - Answering behaviour for load tests (msrp_session_config): a response that would be 200
 *    may be dropped (drop_fraction) or sent after a delay; a chunk reaching past
 *    reject_after_bytes is answered 413. Error responses (400, 413, 415, 481, 501, a forced
 *    always_respond_status) always go out at once and are never dropped. The binding SEND (no
 *    body, no Content-Type) is exempt from all of these: it carries no message. A dropped
 *    response only withholds the 200; the chunk is still reassembled and a success REPORT
 *    still goes out. A delayed response holds back the success REPORT that follows it
 *    (a REPORT never announces a delivery before the chunk that completed it is answered).
 *
 * The msrp layer (src/msrp/) in short: MSRP endpoints over net/ connections, framed and
 * written by wire/; it knows nothing of scenarios, load or reports (they sit above it). Its
 * rooms: session.c, session_out.c, session_in.c (this header; they share session_int.h),
 * reasm (reassembly), server (the shared listener), relay (the RFC 4976 AUTH client), trace
 * (the last frames), violate (the wrong test peer's changes), uri_addr (URI to address).
 *
 * What a session owns: its connection, once connected, accepted or adopted (it closes it);
 * the bookkeeping of every message it was given, but not the bodies (see msrp_session_send);
 * its reassembly, transactions and timers. The handlers are kept by pointer: they must outlive
 * the session.
 *
 * Callbacks (msrp_session_handlers) run on the session's loop thread: from the loop (a read,
 * a drain, a timer) and from inside msrp_session_send, _close, _adopt and _abort_all when an
 * outcome is reached at once (a message sent with Failure-Report no, a session that ends). A
 * handler may call any msrp_session_ function on its session, _close included; the session is
 * never freed under a handler. on_end is its last call: the session is freed when it returns.
 *
 * Thread safety: a session belongs to its loop's thread; nothing of it may be touched from
 * another. Per-thread scratch state (the id generator, the header array) is shared by the
 * sessions of one thread only.
 */
#ifndef MSRPLOAD_MSRP_SESSION_H
#define MSRPLOAD_MSRP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msrp/order.h"
#include "msrp/reasm.h"
#include "msrp/trace.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/transport_ws.h"
#include "wire/parser.h"
#include "wire/uri.h"

struct msrp_session;

/* Why a session ended, in words a report can print (SIPp's FailedTimeoutOnRecv style). */
enum msrp_session_end {
    MSRP_END_NONE = 0,
    MSRP_END_CLOSED,          /* closed by us, orderly */
    MSRP_END_PEER_CLOSED,     /* the peer closed the connection */
    MSRP_END_CONNECT_FAILED,  /* TCP connect or TLS handshake failed or timed out */
    MSRP_END_BIND_TIMEOUT,    /* the expected peer did not bind in time */
    MSRP_END_BIND_REJECTED,   /* our binding SEND was refused (e.g. 481) */
    MSRP_END_PROTOCOL,        /* the peer's bytes could not be framed */
    MSRP_END_WRITE_OVERFLOW,  /* our queue to a peer that does not read hit its cap, or
                                 stayed congested for stall_timeout_ns */
    MSRP_END_IDLE_TIMEOUT,    /* no complete chunk arrived within idle_timeout_ns */
};
/* How many kinds there are (the last one + 1): the load runner numbers its own after them. */
#define MSRP_END_KINDS (MSRP_END_IDLE_TIMEOUT + 1)
const char *msrp_session_end_name(enum msrp_session_end e);

/* The outcome of one outgoing message. */
struct msrp_sent {
    void *cookie;             /* what msrp_session_send() was given */
    const char *message_id;   /* its Message-ID (NUL-terminated; valid during the callback) */
    int status;               /* 200, a peer's error code, or a local 408 / 413 */
    bool local;               /* the status was made up locally (timeout) */
    bool aborted;             /* we ended it with "#" (msrp_send_opts.abort_after) */
    uint64_t bytes;           /* body bytes */
    uint64_t chunks;
    uint64_t first_sent_ns;   /* CLOCK_MONOTONIC: first byte queued */
    uint64_t done_ns;         /* last response (or local outcome) */
};

/* One transaction's outcome, for latency statistics. */
struct msrp_chunk_result {
    void *cookie;
    int status;
    bool local;
    uint64_t sent_ns;
    uint64_t done_ns;
};

/* A complete (or aborted) incoming message. */
struct msrp_received {
    const struct msrp_reasm_done *info;
    struct msrp_span content_type;
    bool aborted;
    /* The whole body when the session keeps bodies (msrp_session_config.keep_bodies_max) and
     * this one was kept; ptr NULL otherwise. Valid during the call only. */
    struct msrp_span body;
};

/* A REPORT that arrived for one of our messages. */
struct msrp_report_in {
    struct msrp_span message_id;
    int status;               /* from its Status header */
    struct msrp_byte_range range;
};

/* An incoming message refused with 413 by the reassembly (a limit, or bytes that conflict). */
struct msrp_refusal {
    const char *message_id;   /* NUL-terminated */
    int status;               /* 413 */
    const char *kind;         /* stable name: "too-large", "reassembly-limit" */
    const char *detail;       /* which limit, in words naming it */
};

/* Something the peer did against RFC 4975, for `serve` as a checker. */
struct msrp_peer_violation {
    const char *kind;         /* stable name: "byte-range", "reused-tid", "path-order", ... */
    const char *detail;
};

struct msrp_session_handlers {
    void (*on_bound)(struct msrp_session *s);
    void (*on_sent)(struct msrp_session *s, const struct msrp_sent *m);
    void (*on_chunk_result)(struct msrp_session *s, const struct msrp_chunk_result *r);
    void (*on_received)(struct msrp_session *s, const struct msrp_received *m);
    void (*on_report)(struct msrp_session *s, const struct msrp_report_in *r);
    void (*on_violation)(struct msrp_session *s, const struct msrp_peer_violation *v);
    /* Called once; the session is freed when it returns. */
    void (*on_end)(struct msrp_session *s, enum msrp_session_end why, const char *detail);
    /* The connection can take more: a producer stopped by msrp_session_congested() resumes. */
    void (*on_writable)(struct msrp_session *s);
    /*
     * The outcome of one msrp_session_send_raw(), called exactly once for each that returned
     * 0: status is the code of the response carrying its transaction id, or 0 when none came;
     * closed is true when the session ended (the connection closed, whoever closed it) before
     * a response or the timeout, and on_end follows. response is that response as parsed
     * (its headers, e.g. a 401's WWW-Authenticate), valid only during the call; NULL when
     * none came. Without this handler raw sends still work; their outcomes are dropped.
     */
    void (*on_raw_result)(struct msrp_session *s, void *cookie, int status, bool closed,
                          const struct msrp_chunk *response);
    /* An incoming message was refused by a reassembly limit (its later chunks get 413 too). */
    void (*on_refused)(struct msrp_session *s, const struct msrp_refusal *r);
    /* Each body piece of an incoming SEND as it arrives, before reassembly: message id, its
     * 1-based position in the message, its bytes (valid during the call), and the chunk's
     * flag with its last piece ('$', '+', '#'; 0 before). For an owner that hashes a message
     * across messages (a file transfer resumed in a second message). */
    void (*on_piece)(struct msrp_session *s, struct msrp_span message_id, uint64_t pos,
                     const char *p, size_t len, char flag);
};

struct msrp_session_config {
    const char *local_uri;        /* this endpoint, e.g. msrp://127.0.0.1:2855/abc;tcp */
    const char *peer_path;        /* calling side: the peer's full path (To-Path); answering
                                     side: the expected From-Path, or NULL to bind to anyone */
    uint64_t response_timeout_ns; /* default 30 s */
    uint64_t bind_timeout_ns;     /* answering side; default 30 s */
    size_t chunk_size;            /* largest body per outgoing chunk; default (and 0) 2048 */
    const char *accept_types;     /* space-separated media types; "*" alone or as a subtype matches any; default "*" */
    struct msrp_reasm_limits reasm;
    /* Answering behaviour for load tests (see the header comment). Values that make no sense
     * (min > max, a fraction outside 0..1) make msrp_session_connect/_accept fail with
     * EINVAL. */
    int always_respond_status;    /* 0 = normal */
    uint64_t response_delay_min_ns, response_delay_max_ns; /* a 200 to a SEND goes out after
                                     a delay drawn uniformly from [min, max] (timers, never
                                     blocking; responses leave in the order their delays
                                     expire); 0/0: at once */
    double drop_fraction;         /* 0..1: that fraction of 200s to SENDs is never sent */
    uint64_t reject_after_bytes;  /* > 0: a SEND chunk reaching beyond this byte of its message
                                     (its Byte-Range end, or start + body length - 1 when the
                                     end is "*") is answered 413 and the message dropped */
    const char *violate;          /* NULL normally. For the conformance suite's wrong test peer
                                     only (serve --violate): the name of one RFC rule this
                                     session breaks on purpose (msrp_session_violations) */
    uint64_t answer_seed;         /* the drops and delays come from a PRNG seeded with this
                                     and a hash of local_uri's session-id: the same for the
                                     same session in every run. 0 is a fine seed */
    uint64_t idle_timeout_ns;     /* > 0: the session ends (MSRP_END_IDLE_TIMEOUT) when no
                                     complete chunk (request or response) arrives for between
                                     this and 1.25 times this; catches idle peers and endless
                                     bodies alike. Default 0: none */
    uint64_t stall_timeout_ns;    /* answering side: while our output is congested (a peer that
                                     does not read our responses) the connection is not read;
                                     still congested after this, the session ends
                                     (MSRP_END_WRITE_OVERFLOW). Default 60 s; 0: never */
    bool trace_frames;            /* keep the last frames (msrp/trace.h) for msrp_session_trace */
    size_t keep_bodies_max;       /* > 0: incoming messages up to this size are kept whole and
                                     handed to on_received (msrp/bodies.h); default 0: none */
    const char *keep_bodies_type; /* with keep_bodies_max: only messages of this type/subtype
                                     (parameters aside, without case; it must outlive the
                                     session); NULL: every type */
};

void msrp_session_config_default(struct msrp_session_config *c);

/*
 * The wrong test peer (msrp_session_config.violate, serve --violate): the one list of the rules
 * a session or the server can break on purpose, as X(IDENT, "name"). Each name breaks exactly
 * one rule that a conformance case checks; see scenarios/conformance/README.md for which case
 * each one must make fail. One breaks none: "per-chunk-reports" answers as RFC 4975 section
 * 7.1.3 also allows (MAY), a success REPORT for each chunk as it arrives covering just that
 * chunk, so that the cases can be shown to accept it.
 */
#define MSRP_VIOLATIONS(X) \
    X(WRONG_TID, "wrong-tid") \
    X(RESPONSE_TO_PATH, "response-to-path") \
    X(ABSENT_AS_NO, "absent-as-no") \
    X(NO_RESPONSE_FR_YES, "no-response-fr-yes") \
    X(RESPOND_FR_NO, "respond-fr-no") \
    X(RESPOND_FR_PARTIAL, "respond-fr-partial") \
    X(SILENT_PARTIAL_ERROR, "silent-partial-error") \
    X(NO_SUCCESS_REPORT, "no-success-report") \
    X(REPORT_UNASKED, "report-unasked") \
    X(REPORT_LAST_RANGE, "report-last-range") \
    X(REPORT_ABORTED, "report-aborted") \
    X(NO_481, "no-481") \
    X(200_FOR_400, "200-for-400") \
    X(NO_501, "no-501") \
    X(ANSWER_REPORTS, "answer-reports") \
    X(REJECT_STAR_TOTAL, "reject-star-total") \
    X(REJECT_STAR_END, "reject-star-end") \
    X(413_LARGE, "413-large") \
    X(NO_413, "no-413") \
    X(NO_RESPONSE_EMPTY, "no-response-empty") \
    X(PER_CHUNK_REPORTS, "per-chunk-reports") \
    /* RFC 4975 section 6 on the URIs it writes; 7.1 and 7.1.2 on the REPORTs it sends; 7.1.2
     * a REPORT for a REPORT; 7.1.4 a failure REPORT despite Failure-Report no; 7.3.1 and 14.3
     * multipart types refused; 12 unknown headers refused; 6.1 URIs compared byte by byte */ \
    X(URI_NO_TCP, "uri-no-tcp") \
    X(URI_NO_PORT, "uri-no-port") \
    X(URI_PASSWORD, "uri-password") \
    X(REPORT_SAME_TID, "report-same-tid") \
    X(REPORT_CONTENT_TYPE, "report-content-type") \
    X(REPORT_BODY_NO_TYPE, "report-body-no-type") \
    X(REPORT_BIG_BODY, "report-big-body") \
    X(REPORT_FR_HEADER, "report-fr-header") \
    X(REPORT_TO_REPORT, "report-to-report") \
    X(FR_NO_FAILURE_REPORT, "fr-no-failure-report") \
    X(REFUSE_MULTIPART, "refuse-multipart") \
    X(REFUSE_SIGNED, "refuse-signed") \
    X(REJECT_UNKNOWN_HEADER, "reject-unknown-header") \
    X(EXACT_URI_COMPARE, "exact-uri-compare") \
    /* RFC 4975 section 5.4, broken by the server before a session exists (server.h) */ \
    X(NO_481_FIRST, "no-481-first") \
    X(SPEAK_FIRST, "speak-first") \
    /* section 9 header names compared with regard to case; 5.4 a first SEND with a body */ \
    X(CASE_SENSITIVE_HEADERS, "case-sensitive-headers") \
    X(REFUSE_FIRST_BODY, "refuse-first-body") \
    /* 7.1: a body holding bytes that are no UTF-8 or lines that look like an end-line */ \
    X(REFUSE_ODD_BODY, "refuse-odd-body") \
    /* 7.3.1: a type it does not take answered 200 instead of 415 */ \
    X(NO_415, "no-415") \
    /* 5.4: 481 where a second connection should get 506; conform --delivery's wrong peer */ \
    X(481_FOR_506, "481-for-506") \
    X(WHOLE_READS, "whole-reads") \
    /* The calling side's, for conform --listen (sender cases): 7.1 transaction ids without
     * randomness (only the slot part varies), a body without Content-Type; 7.1.1 chunks after
     * the first without Byte-Range, Success-Report flipped after the first chunk, chunks
     * last to first, a numeric range end over 2048 octets, an empty SEND's range from 0;
     * 10.5 chunks still sent after a 413; 5.4 no binding SEND from the active side */ \
    X(FIXED_TID, "fixed-tid") \
    X(SEND_NO_CONTENT_TYPE, "send-no-content-type") \
    X(NO_BYTE_RANGE, "no-byte-range") \
    X(REPORT_HEADERS_CHANGE, "report-headers-change") \
    X(CHUNKS_REVERSED, "chunks-reversed") \
    X(NUMERIC_RANGE_END, "numeric-range-end") \
    X(EMPTY_RANGE_ZERO, "empty-range-zero") \
    X(IGNORE_413, "ignore-413") \
    X(NO_BIND_SEND, "no-bind-send") \
    /* 7.1: "$" on every chunk, not only on the one that ends the message; 7.1.1 a
     * Content-Transfer-Encoding header on SENDs with a body */ \
    X(FLAGS_ALL_END, "flags-all-end") \
    X(SEND_TRANSFER_ENCODING, "send-transfer-encoding") \
    /* The relay client's (msrp/relay.c), for conform --listen --as-relay: RFC 4976 5.1 no AUTH
     * at all (the session starts on the bare connection), a digest response that does not
     * verify; 9.1 an Authorization without cnonce and nc, its uri not in quotes; 5.1 no retry
     * after a 401 stale=true; 8 the peer's URI in the To-Path without its port; 3.1 the
     * first session's relay URI reused by later ones (the last two: load/topology_relay.c) */ \
    X(RELAY_SKIP_AUTH, "relay-skip-auth") \
    X(REUSE_RELAY_URI, "reuse-relay-uri") \
    X(TO_PATH_NO_PORT, "to-path-no-port") \
    X(DIGEST_BAD_RESPONSE, "digest-bad-response") \
    X(DIGEST_NO_CNONCE, "digest-no-cnonce") \
    X(DIGEST_URI_UNQUOTED, "digest-uri-unquoted") \
    X(NO_STALE_RETRY, "no-stale-retry")

/* One per name of MSRP_VIOLATIONS, in its order; NONE: the session breaks nothing. */
enum msrp_violation_id {
    MSRP_VIOLATE_NONE = 0,
#define MSRP_VIOLATION_ENUM(ident, name) MSRP_VIOLATE_##ident,
    MSRP_VIOLATIONS(MSRP_VIOLATION_ENUM)
#undef MSRP_VIOLATION_ENUM
};

/* The names msrp_session_config.violate knows, NULL-terminated (msrp_session_violations[id -
 * 1] is the name of id), and a check against them. */
extern const char *const msrp_session_violations[];
bool msrp_session_violation_known(const char *name);
/* The id of a name (parsed once, when a session or server is configured); MSRP_VIOLATE_NONE
 * for NULL or a name not in the list. */
enum msrp_violation_id msrp_session_violation_id(const char *name);

/* enum msrp_chunk_order, the order in which a message's chunks are sent: msrp/order.h. */


/* A chunk body larger than this is sent interruptible, with "*" as its range end (RFC 4975
 * section 7.1.1, MUST). */
#define MSRP_INTERRUPTIBLE_BODY 2048

/* Per-message sending options. */
struct msrp_send_opts {
    const char *content_type;     /* default text/plain */
    enum msrp_report failure_report; /* ABSENT: header omitted (same as yes) */
    enum msrp_report success_report;
    size_t chunk_size;            /* 0: the session's */
    uint64_t response_timeout_ns; /* 0: the session's */
    bool unknown_total;           /* Byte-Range total "*" on every chunk: the receiver learns
                                     the size from the "$" chunk (RFC 4975 section 7.3.1) */
    bool numeric_range_end;       /* chunks with a body over 2048 octets get their real range
                                     end instead of "*": breaks RFC 4975 section 7.1.1 (MUST),
                                     for testing a receiver */
    uint64_t interrupt_after;     /* > 0: the chunk holding this byte stops after it with "+"
                                     and range end "*", and the message goes on in a new chunk
                                     (interruption, section 7.1.1) */
    uint64_t abort_after;         /* > 0 and <= size: the message stops after this many bytes
                                     with "#" (aborted, section 7.1) */
    enum msrp_chunk_order order;  /* unknown_total, interrupt_after and abort_after need
                                     IN_ORDER or OVERLAPPING (EINVAL otherwise) */
    size_t overlap;               /* OVERLAPPING: bytes sent again; 0: 16. Must be below the
                                     chunk size (EINVAL otherwise) */
    void *cookie;
    bool owns_body;               /* the body was malloc'd and the session frees it when the
                                     message is over (only when msrp_session_send returns 0) */
    char *message_id_out;         /* non-NULL: receives the message's Message-ID (a NUL after
                                     MSRP_MESSAGE_ID_LEN characters), e.g. to recognise it
                                     where another of our endpoints receives it */
    /* A body made as it leaves (file transfers: a file read or generated content): with fill
     * set, msrp_session_send's body is ignored and each chunk's n bytes from 0-based offset
     * off are asked for as the chunk is cut, into a buffer of one chunk the message owns, so
     * a message of any size costs one chunk of memory. fill returns 0, or -1 when it cannot
     * (the session then ends, MSRP_END_PROTOCOL, "cannot make a chunk's body"). Needs
     * IN_ORDER (EINVAL otherwise): each byte is asked for once, in order. */
    int (*fill)(void *arg, uint64_t off, char *dst, size_t n);
    void *fill_arg;
};

/* msrp_session_config_default()'s response_timeout_ns. */
#define MSRP_DEFAULT_RESPONSE_TIMEOUT_NS (30ull * 1000000000ull)
/* Length of the Message-IDs msrp_session_send() draws. */
#define MSRP_MESSAGE_ID_LEN 16

/*
 * Calling side: connects to the first URI of cfg->peer_path (via sa) and binds. The outcome
 * arrives as on_bound or on_end. Returns 0 or an errno value.
 */
int msrp_session_connect(struct net_loop *loop, const struct msrp_session_config *cfg,
                         const struct sockaddr *sa, socklen_t salen, struct net_tls *tls,
                         const struct msrp_session_handlers *h, void *user,
                         struct msrp_session **out);
/*
 * The same over any transport (net/transport.h), e.g. WebSocket (net/transport_ws.h, with
 * wire/chunk_end.h's finder so that each chunk is one message, RFC 7977 5.1). ts is copied;
 * what its arg points at must outlive the session. The host of the first URI of the peer's
 * path is the server name the transport is given (TLS SNI, the WebSocket Host).
 */
int msrp_session_connect_via(struct net_loop *loop, const struct msrp_session_config *cfg,
                             const struct sockaddr *sa, socklen_t salen,
                             const struct net_transport_setup *ts,
                             const struct msrp_session_handlers *h, void *user,
                             struct msrp_session **out);

/*
 * Answering side over an accepted connection: the session takes the connection over. The
 * bind timer starts now. Returns 0 or an errno value (the connection is closed on error).
 */
int msrp_session_accept(struct net_conn *conn, const struct msrp_session_config *cfg,
                        const struct msrp_session_handlers *h, void *user,
                        struct msrp_session **out);

/*
 * Takes over a connection that is already open and usable, e.g. one a relay has just
 * authenticated (msrp_relay_auth_start's done()). With calling, the session binds at once as
 * msrp_session_connect() does once connected (cfg->peer_path is required: through a relay, the
 * relay's Use-Path followed by the peer's full path); otherwise it waits to be bound as
 * msrp_session_accept() does (cfg->peer_path: the From-Path expected as the relay delivers it,
 * which is the same list). Bytes already buffered on the connection are read with the next
 * input. Returns 0 or an errno value (the connection is closed on error). In the one case
 * where the binding SEND cannot even be allocated, on_end is called before it returns 0 and
 * *out is set to NULL.
 */
int msrp_session_adopt(struct net_conn *conn, const struct msrp_session_config *cfg, bool calling,
                       const struct msrp_session_handlers *h, void *user,
                       struct msrp_session **out);

/*
 * Queues a message. The body is not copied: it must stay valid and unchanged until on_sent
 * reports the message (load generators send from one shared payload). Chunks are produced as
 * the connection takes them. Returns 0, or ENOTCONN when the session is ending, EINVAL for
 * bad options (Success-Report partial; an unknown order; unknown_total, interrupt_after or
 * abort_after with REVERSE or SHUFFLED; an overlap not below the chunk size), ENOMEM.
 */
int msrp_session_send(struct msrp_session *s, const char *body, size_t len,
                      const struct msrp_send_opts *opts);

/*
 * Writes bytes to the connection exactly as they are, for conformance tests that send what a
 * correct endpoint never would (a malformed Byte-Range, an unknown method, bytes that cannot
 * be framed). They go after the chunks already written and before any chunk cut later, so
 * they never split a chunk of ours. The session then watches for a response whose
 * transaction id is tid (1..MSRP_TID_MAX bytes; responses are matched on it before our own
 * transactions) and reports through on_raw_result: that response's status, 0 when
 * timeout_ns (> 0) passes first, or closed when the session ends first. Several raw sends
 * may be pending at once; each costs one small allocation while it is. Bytes the peer takes
 * as a request of ours are not tracked otherwise: no timer, no reassembly, no REPORT.
 * Returns 0; ENOTCONN before binding or once the session is closing or ended; EINVAL for a
 * tid of the wrong length or a timeout of 0; ENOMEM; or net_conn_send()'s error (ENOBUFS
 * when the queue is full), with nothing sent and on_raw_result never called.
 */
int msrp_session_send_raw(struct msrp_session *s, const char *bytes, size_t len, const char *tid,
                          size_t tid_len, uint64_t timeout_ns, void *cookie);

/* The read buffer a connection needs for a session's parser (its limits and segment cap). */
size_t msrp_session_read_buffer(void);

/*
 * Hands received bytes to the session as its connection would (for a listener that read the
 * first request before it knew which session it belongs to). Returns the bytes consumed.
 */
size_t msrp_session_input(struct msrp_session *s, const char *buf, size_t len);

/* The session's connection (NULL before it has one and after it ended): for
 * net_conn_hold(), to send several messages in one write. */
struct net_conn *msrp_session_conn(const struct msrp_session *s);
/* True while the connection's queue is above its high-water mark: stop queuing messages. */
bool msrp_session_congested(const struct msrp_session *s);
/* Messages queued or waiting for responses. */
size_t msrp_session_pending(const struct msrp_session *s);
/* Closes after sending what is queued (RFC 4975: shutdown flushes, then closes). */
void msrp_session_close(struct msrp_session *s);

/* How msrp_session_leave ends a session without waiting for its responses (the load runner's
 * load.endings other than "clean", which is msrp_session_close). */
enum msrp_leave {
    MSRP_LEAVE_ABRUPT = 0, /* close() at once, what is queued dropped */
    MSRP_LEAVE_RESET,      /* an RST (net_conn_reset) */
    MSRP_LEAVE_SILENT,     /* the connection stays open, reading stopped: handed to the caller */
    MSRP_LEAVE_DROP,       /* close() at once without TLS close_notify or WebSocket close */
    MSRP_LEAVE_IDLE,       /* the connection stays open and still read: handed to the caller */
};
/* Ends s now: on_end (MSRP_END_CLOSED) and its messages' outcomes (status 0) come before it
 * returns. SILENT and IDLE return the connection (NULL if it had none), no longer the session's:
 * the caller sets its handlers and user and closes it; the others return NULL. */
struct net_conn *msrp_session_leave(struct msrp_session *s, enum msrp_leave how);

/*
 * Ends every session of the calling thread at once, without flushing (on_end is called for
 * each, with MSRP_END_CLOSED). For a worker whose loop has stopped: nothing is leaked.
 */
void msrp_session_abort_all(void);

/* When the session got where: CLOCK_MONOTONIC ns, 0 for what has not happened. */
struct msrp_session_timing {
    uint64_t started_ns;   /* msrp_session_connect() or the accept */
    uint64_t connected_ns; /* TCP established */
    uint64_t secured_ns;   /* after the TLS handshake (= connected_ns without TLS) */
    uint64_t open_ns;      /* usable: after a WebSocket upgrade too (= secured_ns without) */
    uint64_t bound_ns;
};
void msrp_session_timing(const struct msrp_session *s, struct msrp_session_timing *t);

/* The close code of the peer's WebSocket close frame (net_conn_peer_close_code(); valid in
 * on_end too), 0 when none came. */
unsigned msrp_session_peer_close_code(const struct msrp_session *s);

/* Bytes this session's connection has read and written so far (valid in on_end too). */
void msrp_session_wire_bytes(const struct msrp_session *s, uint64_t *in, uint64_t *out);

bool msrp_session_bound(const struct msrp_session *s);
/* Answering side: has a connection, not bound yet, not closing or ended. */
bool msrp_session_binding(const struct msrp_session *s);
/* fn(arg) is called once when the session ends (before on_end) or is freed, NULL: none. For
 * the server that handed it a connection, which refuses a second one meanwhile (506). */
void msrp_session_on_release(struct msrp_session *s, void (*fn)(void *arg), void *arg);
void *msrp_session_user(const struct msrp_session *s);
/* Why the session ended, in words ("127.0.0.1:2855: peer closed the connection"), once it has
 * (valid in on_sent and on_end of the messages it ends with); "" before. */
const char *msrp_session_end_detail(const struct msrp_session *s);
const char *msrp_session_local_uri(const struct msrp_session *s);
/* The peer's address ("127.0.0.1:2855"); after the connection is gone (on_end), the one it
 * had; "" when there never was one. */
const char *msrp_session_peer(const struct msrp_session *s);
/* The last frames exchanged (config.trace_frames), valid as long as the session; NULL when
 * not traced. */
const struct msrp_trace *msrp_session_trace(const struct msrp_session *s);
/* The peer's full path as this session uses it as To-Path (the answering side: once bound);
 * "" while unknown. Valid as long as the session. */
const char *msrp_session_peer_path(const struct msrp_session *s);

/* Where MSRP chunks end in an outgoing stream, for a WebSocket transport (RFC 7977 5.1: one
 * chunk per message): wire/chunk_end.h's finder, with its give-up test for non-chunk bytes. */
extern const struct net_ws_boundary msrp_ws_boundary;

#endif
