/*
 * runner_int.h - what the load runner's files share (runner.c: steps, sessions, the run;
 * relay_pair.c: the relay topology's AUTHs and pairs of sessions): a worker, its session
 * slots and message tags. Internal to src/load/; everything here belongs to one worker's
 * loop thread, but for the progress counters (relaxed atomics).
 */
#ifndef MSRPLOAD_LOAD_RUNNER_INT_H
#define MSRPLOAD_LOAD_RUNNER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "load/failures.h"
#include "load/pending.h"
#include "load/runner.h"
#include "msrp/relay.h"
#include "msrp/server.h"
#include "msrp/session.h"
#include "net/conn.h"
#include "net/loop.h"
#include "report/histogram.h"
#include "wire/idgen.h"

struct worker;

/* What a message carries to its outcome: when it should have left, and what it must meet. */
struct msg_tag {
    struct msg_tag *next_free;
    uint64_t intended_ns;
    const struct step_expect *expect;
    enum msrp_report failure_report;
    /* Relay topology: the relay's 200 is hop-by-hop, so a message is over only when our own
     * answering end has it too (w->pending finds it by Message-ID until then). */
    bool tracked, answered, delivered;
    struct outcome {
        int status;
        bool local;
        uint64_t bytes, chunks, first_sent_ns, done_ns;
    } answer;                        /* the relay's 200, kept while the delivery is awaited */
    struct lsession *ls;
    struct msg_tag *prev, *next;     /* ls->undelivered, oldest answer first */
    char message_id[MSRP_MESSAGE_ID_LEN + 1];
};

struct lsession {
    struct worker *w;
    bool active;
    struct msrp_session *s;
    uint64_t started_ns;
    bool bound, finished, closing;
    unsigned pc;
    uint32_t *repeat_left;     /* per step index (only REPEAT_BEGIN entries are used) */
    /* the send step in progress */
    const struct step_send *send;
    const struct step_expect *expect;
    uint32_t to_issue, in_flight, awaiting;
    bool close_when_idle;      /* steps are done: close once in-flight messages settle */
    uint32_t reports_wanted, reports_got;
    bool waiting_reports;
    uint64_t next_intended_ns; /* open mode schedule */
    struct net_timer timer;    /* pause, open-loop pacing, REPORT wait */
    /* the raw step in progress: its outcome is on its way (the session times it) */
    const struct step_raw *raw;
    bool raw_closed;     /* the session ended during it: judged by on_end */
    bool raw_after_idle; /* a "close" step waiting for the messages in flight */
    char local_uri[96];
    char expect_uri[96];
    struct relay_pair *rp;     /* relay topology: both ends' relay state; NULL otherwise */
    struct msg_tag *undelivered, *undelivered_tail; /* answered by the relay, not yet here */
};

/*
 * The relay topology: both ends of a session (side 0 calls, side 1 answers) authenticate with
 * the relay on their own connections, then each connection is handed to a session. The pair
 * outlives the slot when needed: it is freed when its AUTHs are over and both sessions have
 * ended (refs), so a late callback never finds a slot that already runs another session.
 */
struct relay_side {
    struct relay_pair *rp;
    int index;                        /* 0 calling, 1 answering */
    struct msrp_relay_auth *auth;     /* while authenticating */
    struct net_conn *held;            /* authenticated, waiting for the other side */
    struct msrp_session *s;           /* once adopted */
    struct msrp_relay_auth_config cfg;
    char user[128];
    char use_path[MSRP_RELAY_USE_PATH_MAX];
    struct msrp_relay_refresh refresh;
    bool refreshing;
    struct net_timer refresh_timer;
    char local_uri[96];
    uint32_t granted;                 /* Expires of the relay's 200 (0: none) */
    bool ok, done;
};

struct relay_pair {
    struct worker *w;
    struct lsession *ls;              /* NULL once the slot has let go */
    struct relay_side side[2];
    unsigned refs;                    /* pending AUTHs + live sessions */
    uint64_t started_ns;
    uint64_t n;                       /* the session's number (answering seed) */
    bool connect_failed, auth_failed, held_closed; /* why the slot failed, for session_ends */
    struct msrp_trace *auth_trace;    /* the frames of the first AUTH that failed (forensics) */
    char first_error[256];
    char *to_path[2];                 /* the To-Path each side sends (and expects as From-Path) */
};

struct worker {
    int index;
    pthread_t thread;
    const struct run_config *cfg;
    const struct scenario *sc;
    struct net_loop *loop;
    struct msrp_server *srv;
    uint16_t port;
    struct sockaddr_storage target_addr[SCENARIO_MAX_TARGETS];
    socklen_t target_len[SCENARIO_MAX_TARGETS];
    unsigned nworkers;
    char relay_sni[256];

    struct run_stats stats;
    struct lsession *slots;
    unsigned nslots, open;
    uint64_t quota, started;
    uint64_t start_interval_ns, next_start_ns;
    uint64_t t0_ns, warm_end_ns, end_ns;
    bool stopping, done;
    uint64_t drain_deadline_ns;
    struct net_timer tick, starter;
    const char *body;
    struct msg_tag *free_tags;
    struct pending_map pending;  /* relay topology: tracked messages not yet delivered */
    uint64_t seq; /* session numbers for URIs */
    uint64_t msgs_met; /* messages whose outcome met their expectation, warm-up included */
    char first_error[256];
    struct failure_log *failures; /* counts and first examples per kind (errors.jsonl) */
    /* read by the progress thread: relaxed atomics */
    uint64_t prog_msgs, prog_errors, prog_bytes;
    unsigned prog_open;
    uint64_t prog_p99_us;       /* p99 message latency of the last whole second */
    struct histogram interval;  /* this second's message latencies, for prog_p99_us */
    uint64_t next_second_ns;
    struct raw_scratch *raw; /* made by the first raw step; NULL for scenarios without */
};

/* Where a raw step's template is expanded, and the ids it draws. */
struct raw_scratch {
    struct msrp_idgen ids;
    char buf[SCENARIO_RAW_MAX];
};

/* After warm-up: what happens now is counted. */
static inline bool counting(const struct worker *w, uint64_t now)
{
    return now >= w->warm_end_ns;
}

static inline struct stats_second *second(struct worker *w, uint64_t now)
{
    return stats_second_at(&w->stats, (size_t)((now - w->t0_ns) / 1000000000ull));
}

static inline void note_error(struct worker *w, const char *what)
{
    if (w->first_error[0] == '\0')
        snprintf(w->first_error, sizeof(w->first_error), "%.255s", what);
}

/* runner.c, for relay_pair.c */
extern const struct msrp_session_handlers runner_calling_handlers;
/* The slot is free again (its session, if it had one, is gone): the next one may start. */
void runner_slot_ended(struct lsession *ls);
/* A whole message reached one of our answering ends. */
void runner_count_delivery(struct worker *w, const struct msrp_received *m, uint64_t now);
/* Relay topology: the message with this Message-ID reached our answering end. */
void runner_delivered(struct worker *w, const char *message_id, uint64_t now);
/* The scenario's answering behaviour, for the answering end of session number n. */
void runner_answer_config(const struct worker *w, const struct lsession *ls, uint64_t n,
                          struct msrp_session_config *acfg);

/* relay_pair.c, for runner.c */
/* Starts both AUTHs of session number n. Returns 0, or an errno value (noted). */
int relay_pair_start(struct worker *w, struct lsession *ls, uint64_t n);
/* Ends a slot still authenticating (the run stops): neither completed nor failed. */
void relay_pair_abandon(struct lsession *ls);
/* The calling session ended (on_end): the answering end closes too, the slot lets go. */
void relay_pair_calling_ended(struct lsession *ls);
/* The outcome of a refresh AUTH sent on the calling session (on_raw_result). */
void relay_pair_refresh_result(struct relay_side *side, bool closed,
                               const struct msrp_chunk *response);

#endif
