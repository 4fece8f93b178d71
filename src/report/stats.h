/*
 * stats.h - what a run measures: counters, latency histograms and a per-second time series.
 *
 * Each worker thread records into its own run_stats without locks; the runner merges them
 * after the join (stats_merge adds counters and histograms exactly and aligns the series by
 * second). Latencies are in microseconds. README "What is measured" defines every figure.
 */
#ifndef MSRPLOAD_REPORT_STATS_H
#define MSRPLOAD_REPORT_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "report/histogram.h"

enum lat_kind {
    LAT_CHUNK = 0,         /* SEND written -> its response read */
    LAT_MESSAGE,           /* first byte of a message queued -> last chunk's outcome */
    LAT_MESSAGE_CORRECTED, /* the same from the intended send time (open mode) */
    LAT_BIND,              /* session started (connect) -> bound */
    LAT_CONNECT,           /* session started -> TCP established */
    LAT_TLS_HANDSHAKE,     /* TCP established -> TLS handshake done (tls and wss only) */
    LAT_AUTH,              /* relay topology: AUTH exchange started (connect) -> its 200 */
    LAT_WS_HANDSHAKE,      /* TCP established or TLS done -> WebSocket upgrade done (ws, wss) */
    LAT_SCHEDULE_LAG,      /* open mode: a message's intended send time -> handed to its
                              session (how far the scheduler lags) */
    LAT_IMDN_DELIVERY,     /* a cpim message queued -> its delivery notification received */
    /* topology sip (topology_sip.c): the signalling's phases */
    LAT_SIP_REGISTER,      /* REGISTER sent -> its 2xx (the digest round included) */
    LAT_SIP_INVITE_1XX,    /* INVITE sent -> its first provisional response */
    LAT_SIP_INVITE_2XX,    /* INVITE sent -> its 2xx (the proxy's 407 round included) */
    LAT_SIP_SETUP_BIND,    /* the 2xx (ACK sent) -> the MSRP session bound */
    LAT_SIP_BYE,           /* BYE sent -> its final response */
    LAT__COUNT
};
const char *lat_kind_name(enum lat_kind k); /* "chunk", "message", ... (file and JSON names) */

#define STATS_STATUS_MIN 100
#define STATS_STATUS_MAX 999
/* How a session ended: enum msrp_session_end (0..8), then the runner's kinds for sessions that
 * never got a connection of their own (runner.h RUNNER_END_*, checked to fit in runner.c).
 * Their names: runner_end_name. */
#define STATS_END_KINDS 11
/* Ways a session ended under load.session_lifetime (run_stats.session_endings). */
#define STATS_ENDINGS 7
/* Their names in summary.json's sessions.endings: clean, abrupt, reset, silent,
 * no_close_notify, no_reauth, other. */
extern const char *const stats_ending_names[STATS_ENDINGS];
/* Distinct WebSocket close codes counted one by one; more go to ws_close_other. */
#define STATS_WS_CLOSE_CODES 16

/* load.stages: at most this many (scenario.h SCENARIO_MAX_STAGES, the same). */
#define STATS_MAX_STAGES 64

/* One second of the run, counted from its start (warm-up included, flagged in the report). */
struct stats_second {
    uint64_t msgs_ok, msgs_failed, chunks, payload_bytes;
    uint64_t sessions_started, sessions_ended, sessions_failed;
    uint64_t msgs_sent;     /* handed to their sessions in this second (their outcomes are
                               counted in the second they come) */
    /* What was asked for, filled in by the runner after its merge: the stage the second
     * starts in (1-based; 0: no stages), and the target integrated over the second, that is
     * the messages the open loop scheduled in it, or the mean sessions the closed-loop stages
     * asked to hold open (0: none asked; shards' targets add up when merged) */
    uint32_t stage;
    double target_rate, target_sessions;
    /* The message latency (as LAT_MESSAGE) of the msgs_ok that succeeded in this second:
     * summed and the largest, so that the mean (sum / msgs_ok) and the maximum merge exactly */
    uint64_t msg_latency_sum_us, msg_latency_max_us;
};

/* SIP final statuses counted one by one (run_stats.sip.invite_final). */
#define STATS_SIP_STATUS_MIN 100
#define STATS_SIP_STATUS_MAX 699

/* send.file transfers listed one by one in the report, at most (the first ones started). */
#define STATS_FILES_LISTED 100

/* One file transfer as the report lists it (load/runner_file.c fills it in). */
struct stats_file_rec {
    char selector[400];        /* RFC 5547 section 6 file-selector: name, type, size, hash */
    char transfer_id[33];      /* file-transfer-id (section 8.1), of the first message */
    char resume_id[33];        /* the resumption's own (section 8.1: a new transfer); "" */
    char message_id[2][17];    /* the first message's and the resumption's ("": none) */
    uint64_t size, interrupted_at; /* interrupted_at: bytes of the first message; 0: none */
    char outcome[12];          /* "completed", "failed", "abandoned", "unfinished" */
    char hash[10];             /* at the answering end: "ok", "failed", "unchecked" */
    int status;                /* the last message's final status (0: none) */
};

/* send.file (runner_file.c), warm-up included: transfers = completed + failed + abandoned
 * + unfinished; resumed <= interrupted; hash_ok + hash_failed: transfers the answering end
 * finished receiving with answer.check_sha256 (SHA-1 of the whole, joined file). */
struct stats_files {
    uint64_t transfers, completed, failed, abandoned, unfinished;
    uint64_t interrupted, resumed;
    uint64_t bytes;            /* file bytes of the messages, both of a resumed transfer (an
                                  interrupted first one: its cut; a lost one: its length) */
    uint64_t hash_ok, hash_failed;
    struct stats_file_rec *list; /* up to STATS_FILES_LISTED, malloc'd (stats_free) */
    unsigned list_len;
};

struct run_stats {
    struct histogram lat[LAT__COUNT];
    /* started = completed + failed + unfinished (each session in exactly one), bound <= started,
     * and session_ends adds up to started (README "Reports") */
    uint64_t sessions_started, sessions_bound, sessions_completed, sessions_failed;
    uint64_t sessions_unfinished;   /* cut off by the end of the run: not completed, not failed */
    uint64_t session_ends[STATS_END_KINDS];
    /* load.session_lifetime: how each ended session ended, by the runner's ending kinds (the
     * first six: clean, abrupt, reset, silent, no_close_notify, no_reauth, once its lifetime
     * was over;
     * the last: not by its lifetime: its steps, a failure, the run's end); adds up to started */
    uint64_t session_endings[STATS_ENDINGS];
    /* The close codes the peers' WebSocket close frames carried as the calling sessions ended
     * (RFC 6455 7.4, from memory; 1005: a close frame without a code), by code in the order
     * first seen; ws_close_other counts codes beyond the table's room. */
    struct stats_ws_close {
        unsigned code;
        uint64_t n;
    } ws_close[STATS_WS_CLOSE_CODES];
    unsigned ws_close_len;
    uint64_t ws_close_other;
    uint64_t msgs_sent, msgs_ok, msgs_failed, msgs_lost;
    uint64_t msgs_unfinished;       /* still in flight when the run ended: not a failure */
    uint64_t msgs_undelivered;      /* relay topology: answered 200 by the relay, never
                                       delivered to our other end within the response timeout
                                       (counted as failed too) */
    uint64_t msgs_delivered;        /* embedded and relay topologies: whole messages our own
                                       answering ends received (after warm-up); through a
                                       relay, whose 200s are hop-by-hop, the only proof that
                                       a message got across */
    uint64_t msgs_checked;          /* of those, compared by SHA-256 with what was sent
                                       (answer.check_sha256); a mismatch is an expectation
                                       failure instead */
    uint64_t timeouts_local_408;    /* no response to Failure-Report yes/absent in time */
    uint64_t timeouts_local_200;    /* no (error) response to partial/no: counted as success */
    uint64_t timeouts_by_fr[4];     /* local outcomes by Failure-Report: absent, yes, no, partial
                                       (the order of enum msrp_report) */
    uint64_t wire_bytes_in, wire_bytes_out; /* the calling sessions' connections, TLS included */
    uint64_t status_counts[STATS_STATUS_MAX - STATS_STATUS_MIN + 1];
    uint64_t chunks_sent, payload_bytes;
    uint64_t expect_failures, reports_ok, reports_missing;
    /* send.cpim with positive-delivery: notifications owed (the message was answered 200),
     * received, missing (not within the response timeout, or lost with their session) and
     * unfinished (cut off by the end of the run); requested = received + missing + unfinished */
    uint64_t imdn_requested, imdn_received, imdn_missing, imdn_unfinished;
    uint64_t violations;
    /* relay topology: AUTH exchanges (both ends of each session) and refreshes (re-AUTH
     * before Expires runs out) that succeeded and failed */
    uint64_t relay_auth_ok, relay_auth_failed, relay_refresh_ok, relay_refresh_failed;
    /* topology sip: REGISTERs of the answering agents (refreshes and retries included) that
     * got a 2xx or failed (another final response, or 408 / 503 of our own: no answer in time,
     * the connection failed); first REGISTERs with no final answer by the run's end
     * (register_unfinished); calls (INVITEs) made = established + failed + unfinished; BYEs sent at the
     * sessions' ends answered 2xx, failed (another final response or none in time), or cut off
     * by the end of the run; invite_final counts each INVITE's final status (100..699; a
     * local timeout is 408) of the calls established or failed, warm-up included */
    struct stats_sip {
        uint64_t register_ok, register_failed, register_unfinished;
        /* non-zero: some worker ran the sip topology (report_sip_used; readback sets it when
         * the report has a sip object); not written itself */
        uint64_t topology;
        uint64_t calls, calls_established, calls_failed, calls_unfinished;
        uint64_t bye_ok, bye_failed, bye_unfinished;
        /* calls the peer ended: its BYE came first (or crossed ours, which then got 481) */
        uint64_t bye_remote;
        /* through a relay (topology_sip_relay.c): offers sent with a=msrp-cema; offers our
         * answering agents read with a=msrp-cema, and with an a=path of two URIs or more
         * whose first is the relay's; answers our calling agents read with a=msrp-cema */
        uint64_t offer_sent_cema, offer_cema, offer_relay_first, answer_cema;
        uint64_t invite_final[STATS_SIP_STATUS_MAX - STATS_SIP_STATUS_MIN + 1];
    } sip;
    /* the largest Expires a relay's AUTH 200 granted (run --relay-state-grace expires); the
     * maximum when merged; 0: none seen */
    uint64_t relay_expires_max;
    /* the widest event-loop batching window any worker used (net_loop_set_batch_window): each
     * latency may include up to this much added delay; merged as the maximum */
    uint64_t batch_window_max_ns;
    /* Open mode, after warm-up: messages handed to their sessions, and how many the schedule
     * asked for over the measured window (the rate integrated over it, filled in by the
     * runner): achieved versus requested. */
    uint64_t sched_sent;
    double sched_requested;
    /* load.stages: how many (the most of the runs merged), and per stage, warm-up included:
     * messages handed to sessions while it ran, and calling sessions open integrated over it
     * (session-milliseconds, each worker adding at its 100 ms tick) */
    unsigned num_stages;
    uint64_t stage_sent[STATS_MAX_STAGES];
    uint64_t stage_session_ms[STATS_MAX_STAGES];
    /* Memory of the process (RSS, /proc/self/statm): before the first session, and at the
     * once-a-second sample that found the most session ends open (a connection each: the
     * calling end, and msrpload's own answering end where it has one), with that count.
     * Merged by adding: N processes' RSS over N processes' ends. */
    uint64_t mem_rss_start, mem_rss_peak_open, mem_ends_peak_open;
    struct stats_files files;
    struct stats_second *series;
    size_t series_len, series_cap;
};

/* Returns 0 or ENOMEM. */
int stats_init(struct run_stats *s);
void stats_free(struct run_stats *s);
/* The series entry for second `sec` (grown as needed), or NULL when out of memory. */
struct stats_second *stats_second_at(struct run_stats *s, size_t sec);
/* dst += src. Returns 0 or an errno value. */
int stats_merge(struct run_stats *dst, const struct run_stats *src);
/*
 * dst += src with src's time series shifted: second k of src adds to second offset + k of
 * dst (merging runs that started at different times). stats_merge is offset 0. Histograms
 * must share a layout (EINVAL otherwise, before anything is added). Returns 0 or an errno
 * value.
 */
int stats_merge_at(struct run_stats *dst, const struct run_stats *src, size_t offset);
/* Notes a batching window a worker's loop now uses. */
void stats_note_batch_window(struct run_stats *s, uint64_t ns);
/* Counts n sessions whose peer closed its WebSocket with this code (1..65535). */
void stats_count_ws_close(struct run_stats *s, unsigned code, uint64_t n);
/* Counts one outcome code (local or from the peer). */
void stats_count_status(struct run_stats *s, int status);

#endif
