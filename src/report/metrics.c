/*
 * metrics.c - live metrics snapshots (metrics.h): run_stats reduced to what the Prometheus
 * text shows, and snapshots added up across workers.
 *
 * Owns: the reduction and the sum. May not touch: the text format (prom.c).
 */
#include "report/metrics.h"

#include <stddef.h>
#include <string.h>

/* 1-2.5-5 steps from 100 us to 10 s, then 30 s and 60 s: a loopback answer and a response
 * timeout both land inside a bucket (RFC 4975 7.1.1: with Failure-Report "yes" the sender
 * MUST inform the user when no 200 came within 30 seconds). */
const uint64_t metrics_lat_bounds_us[METRICS_LAT_BUCKETS] = {
    100,     250,     500,      1000,     2500,     5000,     10000,    25000,    50000,
    100000,  250000,  500000,   1000000,  2500000,  5000000,  10000000, 30000000, 60000000,
};

void metrics_from_stats(struct metrics_snapshot *m, const struct run_stats *s, bool latency)
{
    struct metrics_latency saved[LAT__COUNT];
    if (!latency)
        memcpy(saved, m->lat, sizeof(saved)); /* the last reduction stays */
    memset(m, 0, sizeof(*m));
    if (!latency)
        memcpy(m->lat, saved, sizeof(saved));
    m->sessions_started = s->sessions_started;
    m->sessions_bound = s->sessions_bound;
    m->sessions_completed = s->sessions_completed;
    m->sessions_failed = s->sessions_failed;
    m->sessions_unfinished = s->sessions_unfinished;
    memcpy(m->session_ends, s->session_ends, sizeof(m->session_ends));
    m->msgs_sent = s->msgs_sent;
    m->msgs_ok = s->msgs_ok;
    m->msgs_failed = s->msgs_failed;
    m->msgs_lost = s->msgs_lost;
    m->msgs_unfinished = s->msgs_unfinished;
    m->msgs_undelivered = s->msgs_undelivered;
    m->msgs_delivered = s->msgs_delivered;
    m->timeouts_local_408 = s->timeouts_local_408;
    m->timeouts_local_200 = s->timeouts_local_200;
    memcpy(m->timeouts_by_fr, s->timeouts_by_fr, sizeof(m->timeouts_by_fr));
    memcpy(m->status_counts, s->status_counts, sizeof(m->status_counts));
    m->chunks_sent = s->chunks_sent;
    m->payload_bytes = s->payload_bytes;
    m->wire_bytes_in = s->wire_bytes_in;
    m->wire_bytes_out = s->wire_bytes_out;
    m->expect_failures = s->expect_failures;
    m->reports_ok = s->reports_ok;
    m->reports_missing = s->reports_missing;
    m->relay_auth_ok = s->relay_auth_ok;
    m->relay_auth_failed = s->relay_auth_failed;
    m->relay_refresh_ok = s->relay_refresh_ok;
    m->relay_refresh_failed = s->relay_refresh_failed;
    m->sip_register_ok = s->sip.register_ok;
    m->sip_register_failed = s->sip.register_failed;
    m->sip_calls_established = s->sip.calls_established;
    m->sip_calls_failed = s->sip.calls_failed;
    m->sip_calls_unfinished = s->sip.calls_unfinished;
    m->sip_bye_ok = s->sip.bye_ok;
    m->sip_bye_failed = s->sip.bye_failed;
    m->sip_bye_unfinished = s->sip.bye_unfinished;
    for (int k = 0; latency && k < LAT__COUNT; k++) {
        struct metrics_latency *l = &m->lat[k];
        histogram_cumulative(&s->lat[k], metrics_lat_bounds_us, METRICS_LAT_BUCKETS, l->cum,
                             &l->sum_us);
        l->count = histogram_count(&s->lat[k]);
    }
}

static void add_u64s(uint64_t *dst, const uint64_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

void metrics_add(struct metrics_snapshot *dst, const struct metrics_snapshot *src)
{
    /* Every counter field before lat is a uint64_t: added as one array, so a counter added
     * to the struct is summed without a line here. */
    _Static_assert(offsetof(struct metrics_snapshot, lat) % sizeof(uint64_t) == 0,
                   "the counters are uint64_t only");
    add_u64s((uint64_t *)(void *)dst, (const uint64_t *)(const void *)src,
             offsetof(struct metrics_snapshot, lat) / sizeof(uint64_t));
    for (int k = 0; k < LAT__COUNT; k++) {
        add_u64s(dst->lat[k].cum, src->lat[k].cum, METRICS_LAT_BUCKETS);
        dst->lat[k].count += src->lat[k].count;
        dst->lat[k].sum_us += src->lat[k].sum_us;
    }
    dst->sessions_open += src->sessions_open;
    dst->msgs_in_flight += src->msgs_in_flight;
    dst->target_rate += src->target_rate;
    dst->warming_up = dst->warming_up || src->warming_up;
}
