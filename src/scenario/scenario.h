/*
 * scenario.h - the scenario layer: a JSON scenario file (scenarios/README.md is the format, and
 * scenarios/conformance/README.md for case files) loaded, checked and compiled into the
 * structures the load runner (src/load/) and the conformance executor (src/conform/) walk.
 *
 * Contract of the layer (src/scenario/): pure. It reads JSON, checks every value, compiles the
 * steps and their templates, applies the command line's overrides and expands templates with
 * values its callers hand in. It does no I/O beyond reading the scenario file, a send's
 * content_file and a send.file's directory (each file hashed, send_file.c) while loading,
 * starts no threads, and keeps no state outside the struct scenario it fills. It sits above
 * wire/ (URIs, media types) and msrp/'s chunk order enum, and below load/, conform/ and cli/;
 * nothing here includes from those.
 *
 * Like SIPp's scenarios, the per-session steps are compiled once into a flat array that every
 * session walks with its own program counter; `repeat` becomes a jump back with a counter.
 * Every value is checked before anything runs: the first problem is reported as
 * "FILE: $.json.path: what was expected, got what" and loading fails.
 *
 * Thread safety: a loaded scenario is read-only and may be shared by every worker thread;
 * scenario_template_expand may be called from any thread on a shared scenario.
 */
#ifndef MSRPLOAD_SCENARIO_SCENARIO_H
#define MSRPLOAD_SCENARIO_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msrp/order.h"
#include "scenario/distrib.h"
#include "wire/parser.h"
#include "wire/uri.h"

#define SCENARIO_MAX_STEPS 256
#define SCENARIO_MAX_TARGETS 64
#define SCENARIO_MAX_STATUSES 8
#define SCENARIO_MAX_BATCH_WINDOW_S 0.1
/* Bounds of load.threads, load.sessions and load.concurrency (and their options): a worker's
 * share of the concurrency is an unsigned count of session slots, and every slot holds
 * memory and descriptors, so concurrency stays well inside both. */
#define SCENARIO_MAX_THREADS 256
#define SCENARIO_MAX_SESSIONS 1000000000000ull
#define SCENARIO_MAX_CONCURRENCY 1000000ull
/* load.stages: at most this many (report/stats.h STATS_MAX_STAGES is the same) */
#define SCENARIO_MAX_STAGES 64
/* The longest AUTH user name once its pattern is filled in (the runner's buffer less its NUL). */
#define SCENARIO_RELAY_USER_MAX 127
/* A raw step's bytes once its placeholders are filled in, at most. */
#define SCENARIO_RAW_MAX 65536
/* What a path placeholder is taken to fill at load time, when the paths are not known yet: the
 * longest a target URI may be (the runner's own URIs are far shorter). */
#define SCENARIO_RAW_PATH_MAX 511
/* Lengths of the ids the runner draws for {tid} and {message_id}. */
#define SCENARIO_RAW_TID_LEN 12
#define SCENARIO_RAW_MESSAGE_ID_LEN 16

enum scenario_mode { SCENARIO_CLOSED = 0, SCENARIO_OPEN };
enum scenario_topology { SCENARIO_EMBEDDED = 0, SCENARIO_TARGET, SCENARIO_RELAY, SCENARIO_SIP };
/* How one end of a session travels: MSRP over TCP, over TLS (msrps), or over a WebSocket (RFC
 * 7977) on TCP (ws) or on TLS (wss). Names: scenario_transport_name. */
enum scenario_transport { SCENARIO_TCP = 0, SCENARIO_TLS, SCENARIO_WS, SCENARIO_WSS };
#define SCENARIO_TRANSPORTS 4
/* The ends of a session, as indexes of scenario.end_transport. */
#define SCENARIO_CALLER 0
#define SCENARIO_ANSWERER 1

static inline bool scenario_transport_secure(enum scenario_transport t)
{
    return t == SCENARIO_TLS || t == SCENARIO_WSS;
}
static inline bool scenario_transport_ws(enum scenario_transport t)
{
    return t == SCENARIO_WS || t == SCENARIO_WSS;
}

enum step_kind {
    SCN_STEP_SEND = 1,
    SCN_STEP_EXPECT,
    SCN_STEP_PAUSE,
    SCN_STEP_REPEAT_BEGIN, /* marks where a repeat starts: its matching END jumps back here */
    SCN_STEP_REPEAT_END,
    SCN_STEP_CLOSE,
    SCN_STEP_RAW,
    SCN_STEP_RECEIVE, /* conformance cases only (msrpload conform): wait for a request */
};

/* The largest inner body a cpim send may have: its answering end keeps each message/cpim body
 * whole (runner_cpim_keep sizes that from the steps). */
#define SCENARIO_CPIM_SIZE_MAX (64u * 1024u * 1024u)

struct step_send {
    uint32_t count;
    uint64_t size_min, size_max; /* the least and most a size can be: equal for a fixed
                                    size; content_len with content */
    /* size: the distribution each message's size is drawn from (distrib.h); fixed at
     * content_len with content. Its table, if any, is owned by the scenario. */
    struct distrib size;
    /* think: after each message of this step leaves, the session's next message waits this
     * long (drawn each time; seconds). Fixed 0: no wait. Closed mode only. */
    struct distrib think;
    char content_type[128];
    uint32_t chunk_size;
    enum msrp_report failure_report; /* MSRP_REPORT_ABSENT: no header */
    enum msrp_report success_report;
    enum msrp_chunk_order order; /* as msrp_send_opts.order */
    uint32_t overlap;         /* MSRP_ORDER_OVERLAPPING: bytes each chunk repeats, 1..chunk_size-1;
                                 0 with every other order */
    bool unknown_total;       /* Byte-Range total "*"; never with REVERSE or SHUFFLED */
    bool numeric_range_end;   /* chunks over 2048 octets keep a numeric range end: breaks
                                 RFC 4975 section 7.1.1 (MUST "*"), for testing */
    uint64_t interrupt_after; /* 0: none; else < size_max (and < abort_after when that is
                                 set); never with REVERSE or SHUFFLED */
    uint64_t abort_after;     /* 0: none; else 1..size_min; never with REVERSE or SHUFFLED */
    /* cpim (scenarios/README.md): each message wrapped in message/cpim (RFC 3862), the SEND's
     * Content-Type message/cpim and content_type above the inner one; on false, none of it */
    struct step_cpim {
        bool on;
        char from[128], to[128]; /* URIs for From and To */
        unsigned notify;         /* CPIM_NOTIFY_* (wire/cpim.h): imdn.Disposition-Notification */
    } cpim;
    /* content_file: the body of every message, read when the scenario was loaded and owned by
     * it (scenario_free frees it); NULL when the body is made up (size). */
    char *content;
    size_t content_len;
    /* file (send_file.c): each message is a file transfer (RFC 5547 over MSRP); NULL for
     * chat. Owned by the scenario. */
    struct step_file *file;
};

/* The largest file a send.file may send or generate: 1 GiB. */
#define SCENARIO_FILE_MAX (1ull << 30)
/* Files a send.file's directory may hold. */
#define SCENARIO_FILE_DIR_MAX 10000

/* One file of a send.file's directory, read and hashed once while loading. */
struct scenario_file {
    char *path;               /* dir + "/" + name, as opened */
    char *name;               /* the file's name (RFC 5547 section 6 name selector) */
    uint64_t size;
    char type[128];           /* Content-Type: from the name's extension */
    unsigned char sha1[20];   /* RFC 5547 section 6: the hash selector is SHA-1 (MUST) */
};

/*
 * send.file (scenarios/README.md, "send.file"): each message of the step is one file sent
 * whole as a single MSRP message (RFC 5547 section 8.7, MUST), from a directory (files[],
 * taken in turn or at random) or generated (size drawn from the step's distribution, its
 * bytes made from the session's seed as they leave). interrupt_*: the first message stops
 * there with "#" (RFC 4975 section 7.1), and with resume the rest goes as a new message.
 */
struct step_file {
    char dir[512];            /* "": generated */
    struct scenario_file *files;
    unsigned num_files;
    bool random;              /* pick "random": else "sequential" */
    struct distrib size;      /* generated: whole bytes, 1..SCENARIO_FILE_MAX */
    bool type_given;          /* the send's content_type overrides the file's type */
    uint64_t interrupt_bytes; /* > 0: after this many bytes (below every file's size) */
    double interrupt_frac;    /* > 0 (< 1): after this fraction of each file (at least 1 byte) */
    bool resume;              /* the rest is sent as a new message (default true) */
    bool test_corrupt_resume; /* testing only: the resumed part's first byte is flipped, so
                                 the receiver's check must fail */
};
/* Where a file of size bytes is interrupted (the bytes the first message carries), or 0 for
 * none: interrupt_bytes, or interrupt_frac of it, at least 1 and below size. Pure. */
uint64_t scenario_file_cut(const struct step_file *f, uint64_t size);
/* Frees what a send.file owns (its files and their names); NULL is harmless. */
void scenario_file_free(struct step_file *f);

struct step_expect {
    int statuses[SCENARIO_MAX_STATUSES];
    unsigned num_statuses;
    int report;           /* 0: no REPORT expected */
    uint64_t timeout_ns;
    int8_t answered;      /* -1: not checked; 1: the outcome must be the peer's response;
                             0: it must have been made up locally (no response arrived) */
    /* case files only: outcomes after which what the case checks cannot be seen (e.g. 413:
     * the peer takes no message that large), so the case ends "unobservable" */
    int unobservable_if[SCENARIO_MAX_STATUSES];
    unsigned num_unobservable_if;
};

/* What a raw step must see come back (raw.expect). */
enum raw_expect {
    RAW_EXPECT_RESPONSE = 0, /* a response with the step's tid and one of the statuses */
    RAW_EXPECT_NONE,         /* no response with that tid within the timeout */
    RAW_EXPECT_CLOSE,        /* the peer closes the connection within the timeout */
};

/* One piece of a raw template: literal bytes, or a value the runner fills in for each send. */
enum raw_part {
    RAW_PART_TEXT = 0,   /* text[off .. off + len) */
    RAW_PART_TID,        /* {tid}: SCENARIO_RAW_TID_LEN random characters, one per step */
    RAW_PART_TO_PATH,    /* {to_path}: the peer's full path, as the session addresses it */
    RAW_PART_FROM_PATH,  /* {from_path} and {local_uri}: the session's own URI */
    RAW_PART_MESSAGE_ID, /* {message_id}: SCENARIO_RAW_MESSAGE_ID_LEN random characters */
    RAW_PART_CONFORM,    /* conformance cases only: len holds an enum conform_value */
    RAW_PART_DATA,       /* {column} of run --data: len holds the column's index */
};

/* Values only `msrpload conform` fills in (placeholders allowed in case files only). */
enum conform_value {
    CONFORM_V_RELAY_URI = 0,     /* {relay_uri}: the relay's URI as given */
    CONFORM_V_USE_PATH,          /* {use_path}: the Use-Path the relay gave endpoint a */
    CONFORM_V_PEER_USE_PATH,     /* {peer_use_path}: the Use-Path it gave endpoint b */
    CONFORM_V_PEER_URI,          /* {peer_uri}: endpoint b's own URI */
    CONFORM_V_AUTHORIZATION,     /* {authorization}: digest answer to the last 401 on this
                                    connection, with the configured user and password */
    CONFORM_V_BAD_AUTHORIZATION, /* {bad_authorization}: the same with a wrong password */
    CONFORM_V_USER,              /* {user}: the configured relay user */
    CONFORM_V_BASIC_AUTHORIZATION, /* {basic_authorization}: Basic credentials (RFC 2617) */
    CONFORM_V_UNKNOWN_SESSION,   /* {unknown_session}: the target's (or relay's) URI with a
                                    session-id it never gave out */
    CONFORM_V_TO_PATH_RECASED,   /* {to_path_recased}: the target's URI with scheme, host and
                                    transport in upper case, which RFC 4975 section 6.1
                                    compares without regard to case */
    CONFORM_V_REFUSED_TYPE,      /* {refused_type}: conform --refused-type, a media type the
                                    target does not take; cases using it skip without it */
};
#define CONFORM_V_COUNT (CONFORM_V_REFUSED_TYPE + 1)

struct raw_piece {
    enum raw_part part;
    uint32_t off, len; /* RAW_PART_TEXT only */
};

/* A compiled template: pieces in order and the literal bytes they point into. */
struct raw_template {
    struct raw_piece *pieces;
    unsigned num_pieces;
    char *text;
    size_t text_len;
};

/*
 * The values a template's placeholders take in one expansion, as pointer and length (a tid or
 * Message-ID need no NUL). A value whose ptr is NULL was not given: its placeholders expand to
 * nothing (a load run gives no conformance values; the loader refuses them in its files).
 */
struct scenario_vars {
    struct msrp_span tid;        /* {tid} */
    struct msrp_span message_id; /* {message_id} */
    struct msrp_span to_path;    /* {to_path} */
    struct msrp_span from_path;  /* {from_path}, {local_uri} */
    struct msrp_span conform[CONFORM_V_COUNT]; /* RAW_PART_CONFORM, by enum conform_value */
    const struct msrp_span *data; /* RAW_PART_DATA: the session's row, by column (NULL: none) */
};

/*
 * Fills the template (pieces in order, pointing into text) in with vars into out. Returns the
 * length written, or SIZE_MAX when it would not fit in cap bytes (out then holds a prefix and
 * must not be used). Pure: reads only its arguments, writes only out.
 */
size_t scenario_template_expand(const struct raw_piece *pieces, unsigned num_pieces,
                                const char *text, const struct scenario_vars *vars, char *out,
                                size_t cap);
/* Whether the template holds a placeholder of this part (and, for RAW_PART_CONFORM, of this
 * conform value), so that a caller computes only the values it will use. */
bool scenario_template_uses(const struct raw_piece *pieces, unsigned num_pieces,
                            enum raw_part part, enum conform_value value);

/* Conformance cases only: a check on one header of a chunk that arrived. */
enum header_check_kind {
    SCN_CHECK_EQUALS = 0, /* the first such header is there and its value is exactly the template */
    SCN_CHECK_MATCHES,    /* it is there and matches a POSIX extended regular expression */
    SCN_CHECK_ABSENT,     /* no such header */
    SCN_CHECK_NOT_MATCHES, /* absent, or its value does not match the expression */
};

struct header_check {
    enum header_check_kind kind;
    char name[64];
    struct raw_template value; /* SCN_CHECK_EQUALS */
    char *regex;               /* SCN_CHECK_MATCHES, SCN_CHECK_NOT_MATCHES (compiled once when loaded) */
};

/* Conformance-only parts of a raw or receive step (NULL in load scenarios). */
struct step_conform {
    unsigned endpoint;           /* 0: endpoint a (the default), 1: endpoint b (relay cases) */
    bool same_message_id;        /* raw: {message_id} keeps the value of the previous step */
    bool or_failure_report;      /* raw: a 200 followed within the timeout by a REPORT for the
                                    step's Message-ID with an error status of "status" counts
                                    as that error (RFC 4976 6.4.1: a relay answers a SEND at
                                    once and reports a failure in a REPORT) */
    bool or_closed;              /* raw: the peer closing the connection without a response
                                    also counts as a refusal (a relay may refuse an
                                    unauthenticated connection by closing it) */
    struct header_check *checks; /* on the response (raw) or the request (receive) */
    unsigned num_checks;
    bool has_body;               /* receive with cover: the whole message's bytes, which */
    struct raw_template body;    /* every chunk must hold at its Byte-Range */
};

/* A receive step (case files only): a request must (or must not) arrive. */
struct step_receive {
    char method[32];       /* "" for any request */
    bool none;             /* true: no such request may arrive within the timeout */
    bool optional;         /* true: none may arrive; one that does must pass the checks */
    bool nothing;          /* with none: no response and no unframable bytes either */
    uint64_t cover;        /* > 0: every such request with the step's Message-ID is checked,
                              until their Byte-Ranges together cover bytes 1..cover */
    uint64_t timeout_ns;
    int respond;           /* > 0: answer the request with this status (hop by hop) */
    char respond_text[16]; /* or: this text in place of the status, e.g. "2x0" (unparseable) */
    char respond_to[128]; /* "": To-Path = the previous hop; else this URI (misaddressed) */
    bool chunk_rules;      /* with cover: each chunk's flag fits (RFC 4975 7.1) and a body
                              over 2048 octets has range end * (7.1.1) */
    struct step_conform *conform; /* never NULL for a receive step */
};

struct step_raw {
    /* The template compiled once: pieces in order, and the literal bytes they point into
     * (escapes and {{ }} already resolved). Both owned by the scenario (scenario_free). */
    struct raw_piece *pieces;
    unsigned num_pieces;
    char *text;
    size_t text_len;
    size_t max_len; /* the most the expansion can take, paths counted as
                       SCENARIO_RAW_PATH_MAX: at most SCENARIO_RAW_MAX */
    enum raw_expect expect;
    int statuses[SCENARIO_MAX_STATUSES]; /* RAW_EXPECT_RESPONSE only */
    unsigned num_statuses;
    uint64_t timeout_ns;
    struct step_conform *conform; /* case files only: NULL in load scenarios */
};

struct step {
    enum step_kind kind;
    union {
        struct step_send send;
        struct step_expect expect;
        struct step_raw raw;
        struct step_receive receive;
        uint64_t pause_ns;
        struct {
            uint32_t times;   /* 0: until the run ends */
            uint32_t other;   /* BEGIN: index of its END; END: index of its BEGIN */
        } repeat;
    } u;
    /* a pause given as {"min", "max"} or {"dist": ...} (load scenarios only): each session
     * draws its wait from it (u.pause_ns is then 0); kind FIXED with max 0 otherwise */
    struct distrib pause_dist;
};

#define SCENARIO_CASE_MAX_NAMES 8
#define SCENARIO_CASE_NAME_LEN 96

/* A conformance case: the top-level "case" object (scenarios/conformance/README.md). */
/* The keyword of the RFC sentence a case checks; CASE_NONE: a sentence without one. */
enum case_level { CASE_MUST = 0, CASE_SHOULD, CASE_MAY, CASE_NONE };
/* sip: an SDP offer/answer case (conform --sip-target): the checker calls the SIP target with
 * an MSRP offer and judges its answer (src/conform/sip_cases.c runs the named check). */
enum case_needs { CASE_TARGET = 0, CASE_RELAY, CASE_CLIENT, CASE_SIP };
/* What a client case (needs "client", conform --listen) asks of the implementation under test
 * through --client-cmd, and how the checker answers it (scenarios/conformance/README.md). */
enum case_answer { CASE_ANSWER_200 = 0, CASE_ANSWER_413, CASE_ANSWER_REPORT_413 };
struct case_client {
    uint64_t size;          /* {size}, {file}: the message it is told to send (0: none) */
    uint64_t chunk_size;    /* {chunk_size}: 0 when the case does not ask for one */
    int success_report;     /* {success_report}: 0 absent, 1 yes, 2 no */
    enum case_answer answer;/* the checker's answer to the message's chunks */
    bool report_back;       /* the checker sends a REPORT for the client's message */
    bool send_to_client;    /* the checker sends the client a message with Success-Report yes */
    double timeout;         /* seconds the case waits for the client, at most (default 10) */
    /* "relay": a relay-client case (conform --listen --as-relay): 0 "none", 1 "auth" the
     * checker is an RFC 4976 relay, 2 "stale" and answers the first digest answer with a 401
     * stale=true */
    int relay;
};
enum case_endpoints { CASE_EP_NONE = 0, CASE_EP_A, CASE_EP_AB };
enum case_websocket {
    CASE_WS_ANY = 0,
    CASE_WS_WS,             /* "ws": msrpload's own WebSocket transport */
    CASE_WS_RAW,            /* "raw": conform's raw frames, binary */
    CASE_WS_RAW_TEXT,       /* "raw-text": text frames */
    CASE_WS_RAW_FRAGMENTED, /* "raw-fragmented": each message a binary frame and a continuation */
};

struct scenario_case {
    char id[96];            /* "4975-7.2/response-tid" */
    char rfc[8];            /* "4975" or "4976" */
    char section[24];       /* "7.2" */
    char title[256];
    char requirement[1024]; /* in our own words */
    char expected[512];
    enum case_level level;
    enum case_needs needs;
    bool bind;              /* target cases: bind with an empty SEND first (default true) */
    enum case_endpoints endpoints; /* relay cases: none (a bare connection), a, or a and b
                                      authenticated */
    char wrong_peer[64];    /* the violation of the wrong test peer that breaks this rule */
    bool slow;              /* it waits out one of the RFC's timers (30 s); --quick skips it */
    /* RFC 7977 relay cases ("websocket"): 0 any transport; else the case needs a relay
     * reached over WebSocket, and the raw kinds send a's frames through conform's raw-frame
     * path (binary, text, or each message as two fragments). */
    enum case_websocket websocket;
    /* ids the case had before (still accepted by conform --case), and the ids of the
     * requirements it checks (scenarios/conformance/requirements.json) */
    char aliases[SCENARIO_CASE_MAX_NAMES][SCENARIO_CASE_NAME_LEN];
    unsigned num_aliases;
    char requirements[SCENARIO_CASE_MAX_NAMES][SCENARIO_CASE_NAME_LEN];
    unsigned num_requirements;
    struct case_client client; /* needs "client" only */
    char sip_check[48];        /* needs "sip" only: the check's name ("sip": {"check"}) */
};

/*
 * run --data FILE (data.c; scenarios/README.md, "Per-session data"): a CSV file with a header
 * row, read whole before the scenario, whose columns the scenario may name: {column} in raw
 * templates, and by their names user and password (each end's relay AUTH), target (the
 * session's target URI) and content_file (the body of the session's messages). Rows are given
 * out per session (per account, two a session, through a relay) in one of three orders.
 * Read-only once loaded; owned by its caller, which frees it after the scenario.
 */
enum scenario_data_order {
    SCENARIO_DATA_SEQUENTIAL = 0, /* slot k takes row k mod rows (k numbered over every shard) */
    SCENARIO_DATA_RANDOM,         /* a row drawn for each slot from the run's seed */
    SCENARIO_DATA_SHARD,          /* --shard I/N: this host's slice of the rows, in turn */
};
#define SCENARIO_DATA_MAX_COLUMNS 64
#define SCENARIO_DATA_VALUE_MAX 4096
struct scenario_data {
    char path[512];
    unsigned num_cols;
    char names[SCENARIO_DATA_MAX_COLUMNS][64];
    size_t num_rows;
    struct msrp_span *cells; /* num_rows * num_cols, row by row, each NUL-terminated */
    size_t col_max[SCENARIO_DATA_MAX_COLUMNS]; /* each column's longest value */
    int col_user, col_password, col_target, col_content_file; /* -1: no such column */
    /* content_file: each row's file read whole (rows naming one file share its bytes) */
    struct msrp_span *contents;
    enum scenario_data_order order;
    char *text; /* the values' bytes (cells point into it), text_cap of them */
    size_t text_cap;
    char **files; /* the distinct content files' bytes */
    size_t num_files;
    /* target: each row's index among the distinct targets (scenario_data_targets) */
    unsigned *target_index;
    unsigned *row_line; /* each row's line in the file, for messages */
};

/* Reads FILE (at most 64 MiB; at most SCENARIO_DATA_MAX_COLUMNS columns, values of at most
 * SCENARIO_DATA_VALUE_MAX bytes). Returns 0 with *out (scenario_data_free), or -1 with
 * "FILE line L column C (NAME): why" in err. */
int scenario_data_load(const char *path, struct scenario_data **out, char *err, size_t errlen);
/* The same from text in memory (path names it in messages; content files are read). */
int scenario_data_parse(const char *path, const char *text, size_t len,
                        struct scenario_data **out, char *err, size_t errlen);
void scenario_data_free(struct scenario_data *d);
/* The target column's distinct URIs (at most SCENARIO_MAX_TARGETS, else -1 with why in err)
 * into targets (pointing into d) and *n, in their first row's order, and each row's index
 * among them into d->target_index. */
int scenario_data_targets(struct scenario_data *d, const char **targets, unsigned *n, char *err,
                          size_t errlen);
/* "sequential", "random", "shard"; and back (0, or -1 for another name). */
const char *scenario_data_order_name(enum scenario_data_order o);
int scenario_data_order_parse(const char *s, enum scenario_data_order *out);
/*
 * The row of slot `local` on this host, `global` over every host (they differ only under
 * --shard: global numbers the slots of all hosts apart, local those of this one). Pure.
 */
size_t scenario_data_row(const struct scenario_data *d, uint64_t local, uint64_t global,
                         uint64_t seed, unsigned shard_index, unsigned shard_count);
/* The cells of row r, by column. */
static inline const struct msrp_span *scenario_data_cells(const struct scenario_data *d,
                                                          size_t r)
{
    return d->cells + r * d->num_cols;
}

/*
 * One stage of load.stages: over duration_s (from start_s, seconds from the start of the run)
 * the target goes linearly from `from` (the stage before's target, 0 for the first) to
 * `target`, or is `target` throughout when ramp is false. The target is messages per second
 * (open loop) or sessions open at once (closed loop).
 */
struct scenario_stage {
    double duration_s, target;
    bool ramp;
    double from, start_s; /* settled by the loader */
};

/* load.endings: how a session whose lifetime is over ends (runner_steps.c), in this order. */
enum scenario_ending {
    SCENARIO_ENDING_CLEAN = 0, /* close after the responses in flight (msrp_session_close) */
    SCENARIO_ENDING_ABRUPT,    /* close() without waiting */
    SCENARIO_ENDING_RESET,     /* RST (SO_LINGER 0) */
    SCENARIO_ENDING_SILENT,    /* stop reading and writing; closed at the run's end */
    SCENARIO_ENDING_NO_CLOSE_NOTIFY, /* close() without TLS close_notify (TCP: as abrupt) */
    SCENARIO_ENDING_NO_REAUTH, /* relay only: idle and never re-AUTHed, still read; closed at
                                * the run's end, so the relay's Expires has to clean up */
    SCENARIO_ENDINGS
};
/* "clean", "abrupt", "reset", "silent", "no_close_notify", "no_reauth". */
extern const char *const scenario_ending_names[SCENARIO_ENDINGS];

struct scenario {
    char name[64];
    char description[256];
    char path[512];       /* the file it came from */

    /* load */
    unsigned threads;     /* 0 in the file: the number of cores, filled in by the loader */
    uint64_t sessions;
    uint64_t concurrency;
    bool concurrency_given; /* false: it defaulted to sessions, and should follow --sessions */
    double session_rate;  /* 0: unlimited */
    double ramp_up_s, duration_s, warm_up_s;
    enum scenario_mode mode;
    unsigned outstanding;
    double rate;          /* open mode: messages/s over the run */
    /* load.seed or --seed: the run's seed, from which each calling session's generator is
     * seeded with its number (distrib.h); cmd_run draws one when neither gives it, and the
     * report records it */
    uint64_t seed;
    bool seed_given;
    /* load.session_lifetime (churn): each calling session ends after a lifetime drawn from
     * this (seconds) unless its steps end it first, the way drawn by load.endings' weights
     * (enum scenario_ending; only "clean" when not given); has_lifetime false: no lifetime */
    bool has_lifetime;
    struct distrib session_lifetime;
    double endings[SCENARIO_ENDINGS];
    /* load.batch_window: each worker's event loop batching window (net_loop.h); "auto" sets it
     * every 100 ms from the current second's median message latency (runner.h) */
    bool batch_window_auto;
    double batch_window_s;
    /* load.stages (stages.c): k6-like steps or ramps of the open-loop rate or of the sessions
     * open at once (closed loop); 0 stages: a constant rate or concurrency */
    struct scenario_stage stages[SCENARIO_MAX_STAGES];
    unsigned num_stages;

    /* topology */
    enum scenario_topology topology;
    enum scenario_transport transport; /* topology.transport: both ends unless given apart */
    /* Each end's (SCENARIO_CALLER, SCENARIO_ANSWERER): the relay topology's
     * topology.caller_transport / answerer_transport (given: the flags), else transport;
     * kept so by scenario_transports_settle. */
    enum scenario_transport end_transport[2];
    bool end_transport_given[2];
    bool tls;             /* settled too: some end runs over TLS (tls or wss) */
    char targets[SCENARIO_MAX_TARGETS][512];
    unsigned num_targets;
    char ca_file[512];
    /* kind "relay": both ends of every session authenticate with this relay (RFC 4976) and
     * talk through it. Empty strings: not in the file (the command line must give them). */
    struct {
        char uri[512];            /* msrp:// or msrps:// ...;tcp: the relay's TCP or TLS
                                     address, for the ends over tcp or tls */
        /* The relay's WebSocket address, for the ends over ws or wss: as given (ws://, wss://
         * or the MSRP URI with RFC 7977's ";ws"), as an MSRP URI (msrp[s]://HOST:PORT;ws,
         * AUTH's To-Path) and the upgrade's request target; "" when not given. */
        char ws_uri[512];
        char ws_msrp_uri[512];
        char ws_path[256];
        bool ws_secure;           /* wss:// or msrps:...;ws */
        char user[128];           /* may hold one printf integer conversion, e.g. load%04d */
        uint32_t users;           /* accounts the pattern spreads sessions over; 1: no pattern */
        char password_file[512];  /* the password is read at run time, never kept here */
        uint32_t expires;         /* Expires asked for in AUTH; 0: the relay's default */
        /* uri parsed once (scenario_relay_parse), its spans pointing into uri: valid while
         * uri is unchanged and the struct is not copied; parsed false while uri is empty */
        bool parsed_ok;
        struct msrp_uri parsed;
        bool ws_parsed_ok;        /* ws_msrp_uri, the same way */
        struct msrp_uri ws_parsed;
    } relay;
    /* kind "sip": every session is set up by SIP (INVITE through the proxy, topology_sip.c).
     * Empty strings: not in the file (run's --sip-* options may give them). */
    struct {
        char proxy[512];          /* the outbound proxy and registrar, a SIP URI ("": none,
                                     only with target) */
        char user[128];           /* may hold one printf integer conversion, e.g. sip%04d */
        uint32_t users;           /* SIP users the pattern spreads over; 0 and 1: one */
        char domain[256];         /* the AOR's domain; "": the proxy's host */
        char target[512];         /* call this SIP URI instead of users of our own (an
                                     external service that answers with its own MSRP end) */
        char password_file[512];  /* the password is read at run time, never kept here */
        /* SIP over TLS (run --sip-ca / --sip-insecure): the CA file the proxy's certificate
         * is verified against, or insecure: not verified */
        char ca_file[512];
        bool insecure;
    } sip;

    /* steps */
    struct step steps[SCENARIO_MAX_STEPS];
    unsigned num_steps;

    /* answer */
    int answer_status;
    char accept_types[256];
    char accept_wrapped_types[256]; /* types allowed only inside message/cpim (RFC 4975 8.6) */
    uint64_t max_message;
    uint64_t answer_delay_min_ns, answer_delay_max_ns; /* a response leaves after a delay drawn
                                                           uniformly from min..max; 0..0: none */
    double answer_drop;           /* 0..1: the fraction of SEND chunks that get no response */
    bool answer_check_sha256;     /* answer.check_sha256: each whole message received is
                                     hashed and compared with what was sent */
    uint64_t answer_reject_after; /* 0: none; else a message going beyond this many bytes is
                                     refused with 413 */

    /* run --data: the per-session data the scenario was loaded with (its {column}s), or NULL;
     * not owned (the caller frees it after scenario_free) */
    const struct scenario_data *data;

    /* a conformance case (top-level "case"), or NULL for a load scenario */
    struct scenario_case *kase;

    /* the file as read, for the report's copy of the scenario */
    char *text;
    size_t text_len;
};

/*
 * Loads and checks a scenario. Returns 0 and fills *sc (free with scenario_free), or -1 with a
 * message in err naming the file and the JSON path.
 * On failure *sc is left zeroed (scenario_free on it is harmless); err may be NULL if errlen is 0.
 */
int scenario_load(const char *path, struct scenario *sc, char *err, size_t errlen);
/* scenario_load with run --data's columns known, so its raw templates may name them (data
 * may be NULL); sc->data is set to it. */
int scenario_load_with_data(const char *path, const struct scenario_data *data,
                            struct scenario *sc, char *err, size_t errlen);
/* The same from text in memory (path only names it in messages). */
int scenario_parse_with_data(const char *path, const char *text, size_t len,
                             const struct scenario_data *data, struct scenario *sc, char *err,
                             size_t errlen);
/* The same from text in memory (path only names it in messages). */
int scenario_parse(const char *path, const char *text, size_t len, struct scenario *sc,
                   char *err, size_t errlen);
/* Both ends go through the relay: kind "relay", or kind "sip" given a relay (the sessions set
 * up by SIP, then through the relay: topology_sip_relay.c). */
static inline bool scenario_has_relay(const struct scenario *sc)
{
    return sc->topology == SCENARIO_RELAY ||
           (sc->topology == SCENARIO_SIP && (sc->relay.uri[0] != '\0' || sc->relay.ws_uri[0] != '\0'));
}

/* True when user is usable as a relay user name (printable ASCII, no quote or backslash, at
 * most one %d / %u / %0Nd conversion); *has_pattern (may be NULL) says whether it has one. */
bool scenario_relay_user_ok(const char *user, bool *has_pattern);
/* Writes user with its conversion (if any) filled in with account, e.g. load%04d, 7 -> load0007
 * (truncated to cap). user must have passed scenario_relay_user_ok. */
void scenario_relay_user_format(const char *user, uint64_t account, char *out, size_t cap);
/*
 * A target URI may hold one %d, %u or %0Nd (e.g. msrp://127.0.0.2:7000/s%d;tcp, answered by
 * `serve --session-id 's%d' --sessions N`): each calling session fills it in with its place
 * among the sessions open at once (topology_target.c), so that many sessions share one
 * answering process with a session id each. Writes the URI for n into out and returns true;
 * without such a pattern copies uri and returns false (a stray '%' then fails as a URI).
 */
bool scenario_target_format(const char *uri, uint64_t n, char *out, size_t cap);
/* Parses relay.uri into relay.parsed (relay.parsed_ok says whether it could) once uri is set or
 * changed; the loader and scenario_apply_overrides call it, and so must a caller that fills a
 * scenario by hand. The spans point into sc->relay.uri. */
void scenario_relay_parse(struct scenario *sc);
/* "tcp", "tls", "ws" or "wss". */
const char *scenario_transport_name(enum scenario_transport t);
/* Reads one of those names; returns 0, or -1 for anything else. */
int scenario_transport_parse(const char *s, enum scenario_transport *out);
/* Sets each end's transport that was not given apart to sc->transport, and sc->tls. The loader
 * and scenario_apply_overrides call it, and so must a caller that fills a scenario by hand. */
void scenario_transports_settle(struct scenario *sc);
/* True when uri is a WebSocket address: ws:// or wss://, or an MSRP URI whose transport is
 * "ws" (RFC 7977 5.2.1). */
bool scenario_uri_is_ws(const char *uri);
/*
 * A relay's WebSocket address (ws://HOST[:PORT][/PATH], wss://..., or msrp[s]://HOST:PORT;ws)
 * into sc->relay's ws_uri, ws_msrp_uri (the ws:// form becomes msrp://HOST:PORT;ws, its port
 * written out: 80 or 443 when absent), ws_path ("/" for the MSRP form) and ws_secure, then
 * parsed. Returns 0, or -1 with why (the URI named by the caller) in err.
 */
int scenario_relay_set_ws(struct scenario *sc, const char *uri, char *err, size_t errlen);
/*
 * The command line's values over a scenario's (msrpload run's options), read by
 * scenario_override_option and applied by scenario_apply_overrides. Not given: 0, NULL, or
 * a negative number for the doubles (scenario_overrides_init sets them so).
 */
struct scenario_overrides {
    uint64_t threads, sessions, concurrency;
    double session_rate, rate, duration;
    bool batch_window_given, batch_window_auto;
    double batch_window_s;
    const char *targets[SCENARIO_MAX_TARGETS]; /* the option values, which must outlive o */
    unsigned num_targets;
    const char *relay_uri, *relay_ws_uri, *relay_user;
    /* --transport, --caller-transport, --answerer-transport: given when the flag is set */
    enum scenario_transport transport, end_transport[2];
    bool transport_given, end_transport_given[2];
    uint64_t relay_users, relay_expires;
    unsigned shard_index, shard_count; /* --shard I/N; 0 and 0 without it */
    uint64_t seed;     /* --seed */
    bool seed_given;
};

void scenario_overrides_init(struct scenario_overrides *o);
/*
 * Reads option opt (e.g. "--threads") with its value v into o when it is one of the
 * scenario's, checking v with the loader's bounds. Returns 1 when taken, 0 when opt is not a
 * scenario option, -1 when v is wrong, with a message naming the option in err.
 */
int scenario_override_option(struct scenario_overrides *o, const char *opt, const char *v,
                             char *err, size_t errlen);
/*
 * Applies o over a loaded scenario, with the rules that tie options to the file (the
 * concurrency follows --sessions unless the file gave it; a relay needs a URI, a user and a
 * matching transport; targets match the transport; --shard takes this host's share). Returns 0,
 * or -1 with a message in err (sc may then be partly changed: free it, do not run it).
 */
int scenario_apply_overrides(struct scenario *sc, const struct scenario_overrides *o, char *err,
                             size_t errlen);
/*
 * The stages' schedule (stages.c), in seconds from the start of the run. With no stages the
 * open-loop rate is constant (sc->rate) and never ends. scenario_stages_total: their summed
 * durations (0 without stages). scenario_stage_at: the index of the stage t falls in (the last
 * one beyond the end). scenario_stage_target: the target at t (0 beyond the end).
 * scenario_stage_integral: the target integrated from a to b (messages scheduled, open loop).
 * scenario_stage_when: the time at which that integral from 0 reaches n, or INFINITY when it
 * never does.
 */
double scenario_stages_total(const struct scenario *sc);
unsigned scenario_stage_at(const struct scenario *sc, double t);
double scenario_stage_target(const struct scenario *sc, double t);
double scenario_stage_integral(const struct scenario *sc, double a, double b);
double scenario_stage_when(const struct scenario *sc, double n);
/* Divides every stage's targets by n (--shard: this host's share); sessions stay >= 1 when
 * they were. */
void scenario_stages_scale(struct scenario *sc, unsigned index, unsigned n);

/* Frees the file's text, the steps' content and raw templates; *sc is left so that a second
 * call is harmless. */
void scenario_free(struct scenario *sc);

#endif
