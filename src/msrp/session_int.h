/*
 * session_int.h - what the three rooms of an MSRP session share, private to src/msrp/session*.c:
 * the session's state (struct msrp_session and the records it holds) and the few functions each
 * room offers the others. Nothing outside the session files includes it; the public contract
 * is session.h.
 *
 * The rooms:
 *  - session.c: the core: life cycle (create, end, free), the connection's open, drain and
 *    close handlers, the bind, idle and stall timers, the accessors and the wrong test peer's
 *    names (MSRP_VIOLATIONS, parsed once into s->violation).
 *  - session_out.c: outgoing: messages cut into chunks, one transaction per chunk with its
 *    response timer, responses to them, local outcomes (408, 200 by silence), raw sends.
 *  - session_in.c: incoming: what the connection reads, framed chunk by chunk (responses go
 *    to session_out.c), the checks on a request before it is handled, binding on the
 *    answering side, REPORTs received, the hand-off to reassembly, and our answers to the
 *    peer (responses, REPORTs, delayed or dropped 200s). The read loop lives here so that
 *    the per-chunk request path stays within one file (the compiler inlines it).
 *
 * Threading: as session.h (a session belongs to its loop's thread); the per-thread scratch
 * state lives in session.c (id generator, live sessions) and session_in.c (header array).
 */
#ifndef MSRPLOAD_MSRP_SESSION_INT_H
#define MSRPLOAD_MSRP_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "msrp/bodies.h"
#include "msrp/session.h"

struct msrp_peer_rules;
#include "wire/idgen.h"
#include "wire/writer.h"

#define PATH_MAX_TEXT 2048
#define SESSION_MAX_HEADERS 32
#define RECENT_TIDS 16
#define MSGID_LEN MSRP_MESSAGE_ID_LEN
#define TX_BLOCK 16

enum session_state { S_CONNECTING, S_BINDING, S_BOUND, S_CLOSING, S_ENDED };

struct out_msg {
    struct out_msg *next;  /* in the send queue */
    struct out_msg *prev_all, *next_all; /* every message not reported yet */
    const char *body;
    size_t len;
    size_t queued;         /* body bytes cut into chunks so far */
    char message_id[MSGID_LEN + 1];
    char content_type[128];
    enum msrp_report failure_report, success_report;
    size_t chunk_size;
    uint64_t response_timeout_ns;
    bool unknown_total, interrupted, aborted;
    bool numeric_range_end; /* a real range end even on chunks over 2048 octets (testing) */
    uint64_t interrupt_after, abort_after;
    enum msrp_chunk_order order;
    size_t overlap;        /* OVERLAPPING: bytes each chunk repeats; 0 in every other order */
    uint64_t ranges;       /* REVERSE, SHUFFLED: chunk ranges in the message */
    uint64_t next_range;   /* SHUFFLED: the range sent next */
    uint64_t stride;       /* SHUFFLED: the permutation's step, coprime with ranges */
    void *cookie;
    bool owns_body;        /* free body with the message (msrp_send_opts.owns_body) */
    int (*fill)(void *arg, uint64_t off, char *dst, size_t n); /* msrp_send_opts.fill */
    void *fill_arg;
    char *scratch;         /* fill: one chunk's bytes, freed with the message */
    unsigned outstanding;  /* chunks waiting for a response */
    uint64_t chunks;
    uint64_t first_sent_ns;
    int status;            /* first failure, or 200 */
    bool local;
    bool failed;
    bool is_bind;          /* the empty binding SEND */
};

struct tx {
    struct msrp_session *s;
    struct out_msg *msg;   /* NULL when free */
    char tid[MSRP_TID_MAX];
    uint8_t tid_len;
    uint64_t sent_ns;
    struct net_timer timer;
    uint32_t next_free;
};

/* What is kept of an incoming chunk while its body arrives in segments. */
struct in_chunk {
    bool active;
    bool ignore;           /* rejected at its head: swallow the rest */
    bool is_send, is_report;
    char tid[MSRP_TID_MAX];
    uint8_t tid_len;
    enum msrp_report failure_report, success_report;
    int respond;           /* status to answer with at the end, 0: none */
    int report;            /* REPORT status to send after the response, 0: none */
    uint64_t report_end;   /* its Byte-Range end (and total) */
    uint64_t report_start; /* 0: the REPORT covers 1-report_end/report_end; else it covers
                              report_start-report_end/report_total (per-chunk-reports) */
    uint64_t report_total;
    const char *reply_to;  /* the request's From-Path: the bound peer's path, or scratch */
    size_t reply_len;
    char message_id[MSRP_REASM_ID_MAX];
    uint8_t message_id_len;
    uint64_t start;        /* Byte-Range start */
    struct msrp_byte_range range;
    bool has_range;
    uint64_t body_len;
    char content_type[128];
};

/*
 * A 200 held back by response_delay (load tests), with the success REPORT that must follow
 * it. One allocation per delayed response, freed when it is sent or the session ends.
 */
struct delayed_response {
    struct delayed_response *prev, *next;
    struct msrp_session *s;
    struct net_timer timer;
    char tid[MSRP_TID_MAX];
    uint8_t tid_len;
    uint8_t message_id_len;
    int report;            /* success REPORT status after the response, 0: none */
    uint64_t report_end;
    char message_id[MSRP_REASM_ID_MAX];
    size_t path_len;       /* 0: reply to the bound peer's path */
    char path[];           /* a From-Path that is not byte for byte the bound peer's */
};

/*
 * A raw send waiting for its outcome (msrp_session_send_raw): allocated only while pending,
 * so an idle session pays one pointer for the feature.
 */
struct raw_wait {
    struct raw_wait *next;
    struct msrp_session *s;
    struct net_timer timer;
    void *cookie;
    uint8_t tid_len;
    char tid[MSRP_TID_MAX];
};

struct msrp_session {
    struct msrp_session *prev_live, *next_live; /* this thread's live sessions */
    struct msrp_session_timing timing;
    uint64_t wire_in, wire_out;  /* the connection's totals, kept when it closes */
    unsigned peer_close_code;    /* the WebSocket close code it saw, kept likewise */
    bool aborting;
    enum msrp_violation_id violation; /* cfg.violate, parsed once (in the padding after a bool) */
    struct net_loop *loop;
    struct net_conn *conn;
    const struct msrp_session_handlers *h;
    void *user;
    struct msrp_session_config cfg;
    enum session_state state;
    bool calling;
    bool ended;
    /* The server that bound the connection to this session hears when it ends (506s). */
    void (*on_release)(void *arg);
    void *release_arg;
    unsigned busy;
    bool free_when_idle;

    char *local_text;      /* our URI; s->local's spans point into it */
    struct msrp_uri local;
    char *peer_text;       /* the peer's full path, as To-Path of our requests */
    char *scratch_path;    /* a request's From-Path that is not the peer's (rare: 481s) */
    size_t peer_len;
    bool have_peer;
    char *accept_types;

    struct msrp_parser parser;
    struct in_chunk in;
    struct msrp_reasm *reasm;
    struct msrp_bodies *bodies; /* cfg.keep_bodies_max > 0: kept bodies; NULL otherwise */

    struct out_msg *queue_head, *queue_tail; /* messages with bytes still to cut */
    size_t pending;                          /* messages not reported yet */
    struct out_msg *all;   /* every message not reported yet */
    struct tx **tx_blocks; /* fixed blocks: armed timers inside must never move */
    uint32_t tx_cap, tx_free, tx_used;

    struct net_timer bind_timer;
    /* idle_timeout_ns: checked every quarter of it; progress counts complete chunks. */
    struct net_timer idle_timer;
    uint64_t progress, progress_seen;
    unsigned idle_quarters;
    /* Answering side: not reading while our output is congested, since when stall_timer runs. */
    bool paused;
    struct net_timer stall_timer;
    bool shaping;          /* drop_fraction or response delays are set */
    bool answered_one;     /* a request has been answered (cfg.violate "no-response-empty") */
    uint64_t rng;          /* splitmix64 state for drops and delays: reproducible per session */
    struct delayed_response *delayed; /* 200s waiting for their delay to expire */
    struct raw_wait *raws; /* raw sends waiting for a response, their timeout or the end */
    char recent_tids[RECENT_TIDS][MSRP_TID_MAX + 1];
    unsigned recent_next;
    struct msrp_peer_rules *peer_rules; /* serve's check of the peer's chunks (peerrules.h);
                                           NULL without an on_violation handler */
    char end_detail[160];
    char peer_addr[64];       /* the connection's peer, kept for after it is gone */
    struct msrp_trace *trace; /* cfg.trace_frames: the last frames, for failure forensics */
};

static inline struct tx *session__tx_at(const struct msrp_session *s, uint32_t i)
{
    return &s->tx_blocks[i / TX_BLOCK][i % TX_BLOCK];
}

static inline bool session__violating(const struct msrp_session *s, enum msrp_violation_id v)
{
    return s->violation == v;
}

/* splitmix64: tiny, fast and good enough to decide drops, delays and orders reproducibly. */
static inline uint64_t session__splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- session.c: the core ---- */

/* This thread's id generator (NULL only if it could not be seeded). Inline: every chunk we
 * write asks for it, and the answer is the same after the first time. */
extern _Thread_local struct msrp_idgen session__idgen;
extern _Thread_local bool session__idgen_ready;
struct msrp_idgen *session__ids_init(void);
static inline struct msrp_idgen *session__ids(void)
{
    return session__idgen_ready ? &session__idgen : session__ids_init();
}
/* Ends the session once (see session.c); the memory goes when no callback is on the stack. */
void session__end(struct msrp_session *s, enum msrp_session_end why, const char *detail);
/* The end of a section entered with s->busy++: frees a session that ended meanwhile. */
void session__leave(struct msrp_session *s);
/* Answering side: stops reading while our output is congested (the stall timer runs). */
void session__pause_reading(struct msrp_session *s);

/* ---- session_out.c: outgoing ---- */

/* Queues chunks while the connection takes them (backpressure: stop when congested). */
void session__pump(struct msrp_session *s);
/* The calling side's binding SEND (RFC 4975 section 5.4), queued first and pumped. */
void session__send_bind(struct msrp_session *s);
/* A REPORT of 413 for one of our messages (RFC 4975 section 10.5: after a 413 "in a response,
 * or in a REPORT request", no further chunks of it): the message fails with 413, and the pump
 * sends no more of it. */
void session__refused_by_report(struct msrp_session *s, struct msrp_span message_id);
/* A complete response: settles the raw send or the transaction it answers. */
void session__response_in(struct msrp_session *s, const struct msrp_chunk *c);
/* Tells the owner how a raw send ended (status 0: no response) and forgets it. */
void session__raw_finish(struct msrp_session *s, struct raw_wait *r, int status, bool closed,
                         const struct msrp_chunk *response);
/* Notes a frame we wrote in the session's trace. */
void session__trace_out(struct msrp_session *s, const struct msrp_wire_chunk *w, uint64_t now);

/* ---- session_in.c: incoming ---- */

/* The connection's on_data: frames what was read and hands each chunk on (requests here, a
 * response to session__response_in). Returns the bytes consumed. */
size_t session__data(struct net_conn *conn, const char *buf, size_t len);
/* Something the peer did against RFC 4975, for the owner (serve logs it). */
void session__violation(struct msrp_session *s, const char *kind, const char *detail);
/* Responses still waiting for their delay are not sent once the session ends. */
void session__delayed_free_all(struct msrp_session *s);

#endif
