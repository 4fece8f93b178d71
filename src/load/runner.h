/*
 * runner.h - the multi-threaded load runner behind `msrpload run`, and the contract of the
 * load layer (src/load/).
 *
 * Worker threads each run one event loop with their share of the sessions (and, in the
 * embedded topology, their own answering endpoints on loopback). No locks on the hot path:
 * each worker records into its own run_stats, merged after the join. The calling thread
 * prints progress and watches for a stop request (signals): the first one stops new sessions
 * and drains for a bounded time, a second one stops at once; either way the statistics
 * gathered so far are returned.
 *
 * The layer's contract: src/load/ drives sessions of msrp/ over net/ loops through a loaded
 * scenario, records into report/ statistics, and is used from cli/ only through this header,
 * failures.h and capacity.h (the pure rules of run --find-capacity; pending.h by its tests). It includes nothing from cli/ or conform/. It
 * never exits the process and writes no file: it returns run_stats and run_outcome, and the
 * caller writes the report. Its only output is the progress line on stderr (cfg->progress).
 * runner_run blocks its caller until every worker has ended; cfg, its scenario and its TLS
 * contexts must stay alive and unchanged meanwhile; *cfg->stop may be set by a signal handler.
 *
 * Its files: runner.c (workers, slots, the clock, the drain, the run), runner_steps.c (a
 * calling session walking the steps, outcomes counted), topology.h and topology_*.c (where
 * sessions go: embedded, target, relay, sip), pending.c (messages found again by Message-ID),
 * failures.c (the failure log), live.c (live metrics), schedule.c (the open loop's send
 * times, load.stages, schedule-lag), runner_int.h (what they share;
 * private to the layer).
 *
 * Owns: the run's configuration and outcome types, the session end kinds of its own.
 * May not touch: the scenario format (scenario/scenario.h), the report files (report/).
 */
#ifndef MSRPLOAD_LOAD_RUNNER_H
#define MSRPLOAD_LOAD_RUNNER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "load/failures.h"
#include "scenario/scenario.h"
#include "msrp/session.h"
#include "net/tls.h"
#include "report/metrics.h"
#include "report/stats.h"

struct runner_live;

struct run_config {
    const struct scenario *sc;    /* with command-line overrides applied */
    volatile sig_atomic_t *stop;  /* 0 run, 1 drain and stop, 2 stop at once (signals set it) */
    bool progress;                /* a line on stderr every second */
    struct net_tls *server_tls;   /* embedded answering endpoints (tls) */
    struct net_tls *client_tls;   /* calling sessions (tls) */
    double drain_s;               /* bounded drain after the end; default 2 s */
    /* run --shard I/N: session ids get the prefix "hI-" (shard_count 0 or 1: no sharding) */
    unsigned shard_index, shard_count;
    /* relay topology (sc->relay says where and who): the password of every account */
    const char *relay_password;
    /* sip topology (sc->sip says where and who): the password of every SIP user */
    const char *sip_password;
    /* sip topology over SIP TLS (a sips: or ;transport=tls proxy or target): the agents'
     * contexts, to the proxy (verifying it unless run was told not to) and for what the
     * proxy opens to them (a certificate made for the run); NULL otherwise */
    struct net_tls *sip_tls_client, *sip_tls_server;
    /* live metrics (--metrics-listen): what the workers publish every tick; NULL: none */
    struct runner_live *live;
    /* run's hidden --violate: the one RFC rule every calling session breaks on purpose
     * (msrp_session_config.violate; conform --listen's proof); NULL normally */
    const char *violate;
};

/*
 * How sessions end (run_stats.session_ends): enum msrp_session_end, then two kinds for sessions
 * that failed before a connection of their own carried them. Every started session ends in
 * exactly one kind, so the kinds add up to sessions.started.
 */
#define RUNNER_END_AUTH_FAILED MSRP_END_KINDS /* relay topology: an AUTH refused, unanswered
                                                or malformed */
#define RUNNER_END_LOCAL_ERROR (MSRP_END_KINDS + 1) /* could not start here: descriptors,
                                                       memory, ports */
/* "closed", "peer-closed", ..., "auth-failed", "local-error" (summary.json sessions.ends) */
const char *runner_end_name(unsigned kind);

struct run_outcome {
    double started_unix;          /* wall clock at the start */
    double elapsed_s;             /* from start to the last worker's end */
    double measured_s;            /* elapsed minus warm-up: the denominator of rates */
    bool incomplete;              /* stopped by a signal before the scenario's end */
    bool unreachable;             /* no session ever bound, and not for want of local
                                     resources alone (connect, TLS, bind or AUTH failed or
                                     never answered) */
    char first_error[256];        /* the first session failure, for the summary */
    uint64_t msgs_met;            /* messages whose outcome met their step's expectation (a
                                     200 without one), warm-up included */
    struct failure_log *failures; /* per kind: counts and first examples (load/failures.h);
                                     the caller frees it (free), also after a failed run */
};

/*
 * The batching window "auto" gives a worker's loop (net_loop_set_batch_window), every 100 ms,
 * for the median message latency of the current second so far: a tenth of it, so the delay
 * batching adds (half the window on average) stays near 5% of what is measured, and at most
 * RUNNER_AUTO_BATCH_MAX_NS.
 * A loaded peer answers in milliseconds and gets a window of a few hundred microseconds; a
 * fast one, or no samples yet (0), gets (nearly) none.
 */
#define RUNNER_AUTO_BATCH_DIVISOR 10u
#define RUNNER_AUTO_BATCH_MAX_NS 1000000u
uint64_t runner_auto_batch_window_ns(uint64_t median_latency_us);

/*
 * The open loop's pacing timers (schedule.c) wake on a grid of RUNNER_PACE_GRID_NS from the
 * run's start t0_ns: the wait from now until the first grid point at or after due_ns (0 when
 * it has passed), on a grid of grid_ns.
 */
#define RUNNER_PACE_GRID_NS 20000u
uint64_t runner_sched_grid_wait(uint64_t t0_ns, uint64_t grid_ns, uint64_t due_ns, uint64_t now);

/*
 * Live metrics (live.c): the workers each publish a snapshot of their statistics every tick
 * (100 ms, a trylock on the worker's side: never a wait on its loop), and any thread reads
 * their sum. Made by the caller before runner_run, read from any thread until freed.
 * runner_live_read fills *out with the sum (zeros before the run starts); after
 * runner_live_finish (the caller's, with the merged statistics after runner_run) every read
 * returns those final counts with finished set. Functions return 0 or ENOMEM.
 */
int runner_live_create(struct runner_live **out);
void runner_live_read(struct runner_live *l, struct metrics_snapshot *out);
int runner_live_finish(struct runner_live *l, const struct run_stats *final);
void runner_live_free(struct runner_live *l);

/*
 * Runs the scenario and merges every worker's statistics into *stats (initialised by the
 * caller with stats_init). Returns 0 when the run happened (see outcome), or -1 with err set
 * when it could not start (e.g. a listener or a thread could not be created).
 */
int runner_run(const struct run_config *cfg, struct run_stats *stats, struct run_outcome *out,
               char *err, size_t errlen);

#endif
