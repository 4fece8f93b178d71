/*
 * metrics.h - a run's figures at one moment, for live metrics (`--metrics-listen`): the
 * counters of run_stats, its latency histograms reduced to the fixed buckets of a Prometheus
 * histogram, and the gauges only the runner knows (sessions open, messages in flight, the
 * target rate).
 *
 * Pure and small (a few KiB, no pointers), so a snapshot can be copied under a lock in
 * microseconds: a worker makes one from its own run_stats (metrics_from_stats: counters every
 * time, latencies when asked, as their reduction walks the histograms), publishes the copy,
 * and whoever serves the metrics adds the workers' copies up (metrics_add). Rendering
 * them as text is prom.h's. docs/metrics.md says what each figure means.
 *
 * Owns: the snapshot's shape and the latency bucket bounds. May not touch: run_stats (read
 * only), the text format (prom.c).
 */
#ifndef MSRPLOAD_REPORT_METRICS_H
#define MSRPLOAD_REPORT_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "report/stats.h"

/* Latency bucket upper bounds, 100 us to 60 s (then +Inf), in microseconds. */
#define METRICS_LAT_BUCKETS 18
extern const uint64_t metrics_lat_bounds_us[METRICS_LAT_BUCKETS];

struct metrics_latency {
    uint64_t cum[METRICS_LAT_BUCKETS]; /* values at or below each bound (cumulative) */
    uint64_t count;                    /* every recorded value: the +Inf bucket */
    double sum_us;                     /* their sum, each at its sub-bucket's middle */
};

struct metrics_snapshot {
    /* run_stats' counters, as they are (stats.h says what each counts). Every field before
     * lat is a uint64_t: metrics_add sums them as one array. */
    uint64_t sessions_started, sessions_bound, sessions_completed, sessions_failed;
    uint64_t sessions_unfinished;
    uint64_t session_ends[STATS_END_KINDS];
    uint64_t msgs_sent, msgs_ok, msgs_failed, msgs_lost, msgs_unfinished;
    uint64_t msgs_undelivered, msgs_delivered;
    uint64_t timeouts_local_408, timeouts_local_200, timeouts_by_fr[4];
    uint64_t status_counts[STATS_STATUS_MAX - STATS_STATUS_MIN + 1];
    uint64_t chunks_sent, payload_bytes, wire_bytes_in, wire_bytes_out;
    uint64_t expect_failures, reports_ok, reports_missing;
    uint64_t relay_auth_ok, relay_auth_failed, relay_refresh_ok, relay_refresh_failed;
    uint64_t sip_register_ok, sip_register_failed; /* run_stats.sip */
    uint64_t sip_calls_established, sip_calls_failed, sip_calls_unfinished;
    uint64_t sip_bye_ok, sip_bye_failed, sip_bye_unfinished;
    struct metrics_latency lat[LAT__COUNT];
    /* Gauges the runner fills in (not in run_stats). */
    uint64_t sessions_open;  /* calling sessions open now */
    uint64_t msgs_in_flight; /* messages sent whose outcome is not counted yet */
    double target_rate;      /* open loop: messages/s asked for now; 0 closed loop, or ended */
    bool warming_up;         /* the warm-up runs: counters stay still until it ends */
    bool finished;           /* the run is over: these are its final, merged counts */
};

/*
 * *m = s's counters, and its latencies when `latency` (one pass over each histogram's counts,
 * up to its largest value: tens to hundreds of microseconds in all); otherwise m->lat keeps
 * what it had. Gauges and flags zero.
 */
void metrics_from_stats(struct metrics_snapshot *m, const struct run_stats *s, bool latency);
/* dst += src: counters, latencies and gauges add up; warming_up if either is. finished is
 * left as it is (only the caller knows when the run is over). */
void metrics_add(struct metrics_snapshot *dst, const struct metrics_snapshot *src);

#endif
