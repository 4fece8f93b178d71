/*
 * runner_int.h - the load runner's private header: a worker, its session slots and message
 * tags, shared by the core (runner.c: workers, slots, the clock, the run; runner_steps.c: the
 * calling session's steps and outcomes) and the topologies (topology.h, topology_*.c).
 * Internal to src/load/; everything here belongs to one worker's loop thread, but for the
 * progress counters (relaxed atomics). A topology keeps its own state behind w->topo_state and
 * ls->topo, never in these structs.
 *
 * Owns: the shapes of a worker, a slot and a message tag. May not touch: a topology's state
 * (kept behind void pointers), anything cli/ sees (runner.h).
 */
#ifndef MSRPLOAD_LOAD_RUNNER_INT_H
#define MSRPLOAD_LOAD_RUNNER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "load/failures.h"
#include "load/pending.h"
#include "load/runner.h"
#include "msrp/session.h"
#include "net/conn.h"
#include "net/loop.h"
#include "report/histogram.h"
#include "report/metrics.h"
#include "wire/idgen.h"

struct worker;
struct topology_ops;

/* Open loop: at most this many messages of one session leave in one call of its pacing timer
 * (a session far behind catches up over several loop passes, never holding the loop). */
#define RUNNER_PACE_BURST 64u

/* Length of the imdn.Message-IDs the runner draws (RFC 5438 6.3: 16 of 62 characters). */
#define RUNNER_IMDN_ID_LEN 16

/* What a message carries to its outcome: when it should have left, and what it must meet. */
struct msg_tag {
    struct msg_tag *next_free;
    uint64_t intended_ns;
    const struct step_expect *expect;
    enum msrp_report failure_report;
    /* Delivery tracked (the relay topology): the relay's 200 is hop-by-hop, so a message is
     * over only when our own answering end has it too (w->pending finds it by Message-ID until
     * then). */
    bool tracked, answered, delivered;
    struct outcome {
        int status;
        bool local;
        uint64_t bytes, chunks, first_sent_ns, done_ns;
    } answer;                        /* the relay's 200, kept while the delivery is awaited */
    struct lsession *ls;
    struct msg_tag *prev, *next;     /* ls->undelivered, oldest answer first */
    char message_id[MSRP_MESSAGE_ID_LEN + 1];
    /* send.cpim with positive-delivery (runner_cpim.c): over only once its notification has
     * come too, found in w->imdn_wait by imdn_id; parked on ls->imdn_head after its 200 */
    bool imdn_wanted, imdn_counted, imdn_requested, imdn_got, imdn_parked;
    uint64_t imdn_queued_ns, imdn_due_ns;
    struct msg_tag *imdn_prev, *imdn_next;
    char imdn_id[RUNNER_IMDN_ID_LEN + 1];
    /* send.file (runner_file.c): the transfer this message carries, NULL for chat; ft_part 1:
     * the interrupted first message of a resumed transfer (over in runner_file_sent, not a
     * message of the step), 2: the transfer's last message (the step's) */
    struct ft_xfer *ft;
    unsigned char ft_part;
    /* msrp_session_send may report a message before it returns (Failure-Report: no, sent from
     * a timer, written at once): its outcome waits in `early` until send_one has filed it */
    bool in_send, has_early;
    struct msrp_sent early;
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
    /* sizes and think times (send.size, send.think) are drawn from this, seeded from the
     * run's seed and the session's number (runner_session_index); a think time makes the
     * session's next message wait until think_due_ns */
    struct distrib_rng rng;
    uint64_t think_due_ns;
    /* run --data: the row of this session (of its calling end, through a relay), by column;
     * NULL without data (runner_data_row) */
    const struct msrp_span *data_row;
    size_t data_index;
    double sched_pos;          /* under load.stages: its last message's place in the
                                  schedule (schedule.c) */
    bool retiring;             /* closed-loop stages asked for fewer sessions: it closes */
    bool pacing;               /* open loop: inside its pacing timer's call (runner_steps.c) */
    bool settling_early;       /* send_one counting an outcome msrp_session_send reported:
                                * message_over leaves the next sends to send_one's caller */
    struct net_timer timer;    /* pause, open-loop pacing, REPORT wait */
    /* load.session_lifetime (churn): when it is over the session ends the way drawn for it
     * (enum scenario_ending), counted by that way in stats.session_endings */
    struct net_timer life;
    bool lifetime_over;
    unsigned ending;
    /* the raw step in progress: its outcome is on its way (the session times it) */
    const struct step_raw *raw;
    bool raw_closed;     /* the session ended during it: judged by on_end */
    bool raw_after_idle; /* a "close" step waiting for the messages in flight */
    char local_uri[96];
    char expect_uri[96];
    void *topo;                /* the topology's state for this session (relay: its pair) */
    struct msg_tag *undelivered, *undelivered_tail; /* answered by the relay, not yet here */
    struct msg_tag *imdn_head, *imdn_tail; /* answered, awaiting their notification (oldest
                                              first: runner_cpim.c) */
};

struct worker {
    int index;
    pthread_t thread;
    const struct run_config *cfg;
    const struct scenario *sc;
    struct net_loop *loop;
    const struct topology_ops *topo; /* where its sessions go (topology.h) */
    void *topo_state;                /* the topology's own, from its init to its fini */
    unsigned nworkers;

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
    uint64_t body_len; /* body's bytes: the largest message's */
    struct msg_tag *free_tags;
    struct pending_map pending;  /* delivery tracked: messages not yet delivered */
    struct pending_map imdn_wait; /* send.cpim: tags awaiting a notification, by imdn_id */
    struct msrp_idgen *cpim_ids;  /* the imdn.Message-IDs (made by the first cpim send) */
    uint64_t seq; /* session numbers for URIs */
    uint64_t uri_seed; /* the random hosts of WebSocket clients' URIs (runner.c end_uri) */
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
    struct metrics_snapshot *live_snap; /* live metrics: this worker's scratch (live.c) */
    /* load.stages (schedule.c): sessions' phases drawn, the current stage, the last tick,
     * and the sessions the closed-loop stages let this worker hold open now */
    uint64_t sched_seq;
    unsigned stage_idx;
    uint64_t stage_tick_ns;
    unsigned allowed;
    /* load.endings "silent": connections left open, reading stopped, closed at the run's end
     * (or when the peer closes them first) */
    struct silent_conn *silent;
    uint64_t silent_count;
    struct ft_worker *files; /* send.file's transfers (runner_file.c); NULL until the first */
};

struct silent_conn {
    struct net_conn *c;
    struct worker *w;
    struct silent_conn *prev, *next;
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

/* live.c: the runner makes room for its workers' snapshots before they start. */
int runner_live__attach(struct runner_live *l, unsigned workers);
/* live.c, on the worker's thread: its statistics now into its slot (latency: the histograms
 * reduced again too, else last time's kept); wait false: skipped when a reader holds the slot
 * (never blocks the loop). */
void runner_live__publish(struct worker *w, bool wait, bool latency);

/* schedule.c: the open loop's first and next intended send times of a session; a message
 * handed to its session (lag, achieved counts); the stages at a tick (returns true when more
 * sessions may open); the slots a worker may fill now; after the run, the asked-for figures
 * (requested messages, each second's stage and target). */
uint64_t runner_sched_first(struct lsession *ls, uint64_t now);
uint64_t runner_sched_next(struct lsession *ls);
/* How long a pacing timer waits from now for a message due at due_ns (schedule.c). */
uint64_t runner_sched_wait(const struct worker *w, uint64_t due_ns, uint64_t now);
void runner_sched_sent(struct worker *w, uint64_t intended_ns, uint64_t handed_ns);
bool runner_stages_tick(struct worker *w, uint64_t now);
unsigned runner_slots_allowed(const struct worker *w);
void runner_sched_fill(const struct scenario *sc, struct run_stats *st, double warm_up_s,
                       double measured_end_s, double run_s);

/* The number that seeds session n of worker w (distrib.h): the same for the same --threads,
 * --shard and n, whatever the threads' timing; distinct for every session of a sharded run. */
static inline uint64_t runner_session_index(const struct worker *w, uint64_t n)
{
    uint64_t index = n * w->nworkers + (uint64_t)w->index;
    if (w->cfg->shard_count > 1)
        index = index * w->cfg->shard_count + (w->cfg->shard_index - 1);
    return index;
}

/* run --data (scenario.h): the row of session n of worker w, side 0 (the calling end) or 1
 * (the answering end: through a relay, where each end is an account, two rows a session);
 * its index, or SIZE_MAX without data. */
static inline size_t runner_data_row(const struct worker *w, uint64_t n, int side)
{
    const struct scenario_data *d = w->sc->data;
    if (d == NULL)
        return SIZE_MAX;
    uint64_t local = n * w->nworkers + (uint64_t)w->index, global = runner_session_index(w, n);
    if (w->sc->topology == SCENARIO_RELAY) {
        local = 2 * local + (uint64_t)side;
        global = 2 * global + (uint64_t)side;
    }
    return scenario_data_row(d, local, global, w->sc->seed, w->cfg->shard_index,
                             w->cfg->shard_count);
}

/* runner_steps.c: a session starts its lifetime timer (no-op without load.session_lifetime);
 * the worker closes its silent connections at the end. */
void runner_lifetime_start(struct lsession *ls);
void runner_close_silent(struct worker *w);

/* Between the core's two files (what a topology may call is in topology.h). */
/* runner_steps.c: closes the session once its messages in flight settle (the drain). */
void runner_finish_session(struct lsession *ls);
/* runner_steps.c: gives up on the messages the relay answered that never arrived in time. */
void runner_expire_undelivered(struct lsession *ls, uint64_t now);
/* runner_steps.c for runner_cpim.c: an expectation failed n times; a message is over. */
void runner_expect_failed(struct lsession *ls, uint64_t n, const char *what);
void runner_message_over(struct lsession *ls, struct msg_tag *tag, bool session_ending);

/* runner_file.c (send.file; the file's comment says how) */
/* Sends one file transfer of the step for tag (o: the send's options, cookie tag): 1 when
 * handed over, 0 when not (as msrp_session_send failing), -1 when the transfer failed here
 * and was counted (the step's message is then spent, with no outcome to wait for). */
int runner_file_send(struct lsession *ls, struct msg_tag *tag, const struct step_send *st,
                     struct msrp_send_opts *o);
/* on_sent of a file message: counts it; true when the tag was the first part of a resumed
 * transfer and is spent (the caller stops), false when the outcome goes on as the step's. */
bool runner_file_sent(struct lsession *ls, struct msg_tag *tag, const struct msrp_sent *m);
/* The answering end: one body piece (msrp_session_handlers.on_piece), and a whole message
 * (true when it was one of the transfers' messages: not the chat payload). */
void runner_file_piece(struct worker *w, struct msrp_span mid, uint64_t pos, const char *p,
                       size_t len, char flag);
bool runner_file_received(struct worker *w, const struct msrp_received *m);
void runner_file_fini(struct worker *w);

/* runner_raw.c (raw steps) */
/* Starts the raw step: true when it waits (for its outcome, or first for the messages in
 * flight), false when it could not be sent (an expectation failure; the caller goes on). */
bool runner_raw_start(struct lsession *ls, const struct step_raw *st);
/* Checks a raw step's outcome (status 0: none in time; why: the session's end, or
 * MSRP_END_NONE); a mismatch is an expectation failure. Returns whether it was met. */
bool runner_raw_check(struct lsession *ls, const struct step_raw *st, int status,
                      enum msrp_session_end why);

/* runner_cpim.c (send.cpim, its notifications; the file's comment says how) */
/* The sessions' keep_bodies_max: 0 unless a send uses cpim, else room for its largest
 * wrapped message (at least MSRP_CPIM_KEEP_MAX). */
size_t runner_cpim_keep(const struct worker *w);
/* Wraps body in message/cpim into *out (malloc'd, for msrp_send_opts.owns_body) and files the
 * tag's notification; -1 when it cannot. runner_cpim_unsent undoes it when the send fails. */
int runner_cpim_wrap(struct lsession *ls, struct msg_tag *tag, const struct step_send *st,
                     const char *body, size_t size, char **out, size_t *out_len);
void runner_cpim_unsent(struct worker *w, struct msg_tag *tag);
/* The message's final status is known: a notification is owed after a 200. */
void runner_cpim_answered(struct lsession *ls, struct msg_tag *tag, int status);
/* From message_over: true when the tag waits for its notification (not over yet). */
bool runner_cpim_park(struct lsession *ls, struct msg_tag *tag, bool session_ending);
void runner_cpim_expire(struct lsession *ls, uint64_t now);
void runner_cpim_session_end(struct lsession *ls);
/* An answering end received m on s (embedded and relay topologies). */
void runner_answer_cpim(struct worker *w, struct msrp_session *s, const struct msrp_received *m);
/* The calling session received m: a notification is matched. */
void runner_cpim_calling_received(struct lsession *ls, struct msrp_session *s,
                                  const struct msrp_received *m);

#endif
