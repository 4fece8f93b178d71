/*
 * prom.c - Prometheus text exposition (prom.h): one family at a time, # HELP and # TYPE
 * first, then its samples with the run's labels and the family's own.
 *
 * Owns: names, help text, escaping, the order of the families. May not touch: what is
 * counted or how snapshots are made (metrics.c).
 */
#include "report/prom.h"

#include <stdlib.h>
#include <string.h>

/* The labels of every sample (a run's scenario, shard, topology; serve's listen). */
struct base {
    const char *key[3];
    const char *val[3];
    int n;
};

void prom_write_label_value(FILE *f, const char *v)
{
    for (const char *p = v != NULL ? v : ""; *p != '\0'; p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '"')
            fputs("\\\"", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            putc(*p, f);
    }
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    /* Help text escapes backslash and line feed; ours has neither, but say so in code. */
    fprintf(f, "# HELP %s ", name);
    for (const char *p = help; *p != '\0'; p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            putc(*p, f);
    }
    fprintf(f, "\n# TYPE %s %s\n", name, type);
}

/* name{base..., k1="v1", k2="v2"} (extra labels where k is not NULL). */
static void labels(FILE *f, const char *name, const struct base *b, const char *k1,
                   const char *v1, const char *k2, const char *v2)
{
    fputs(name, f);
    putc('{', f);
    const char *keys[5], *vals[5];
    int n = 0;
    for (int i = 0; i < b->n; i++, n++) {
        keys[n] = b->key[i];
        vals[n] = b->val[i];
    }
    if (k1 != NULL) {
        keys[n] = k1;
        vals[n++] = v1;
    }
    if (k2 != NULL) {
        keys[n] = k2;
        vals[n++] = v2;
    }
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s%s=\"", i > 0 ? "," : "", keys[i]);
        prom_write_label_value(f, vals[i]);
        putc('"', f);
    }
    putc('}', f);
}

static void u64(FILE *f, const char *name, const struct base *b, const char *k1, const char *v1,
                uint64_t v)
{
    labels(f, name, b, k1, v1, NULL, NULL);
    fprintf(f, " %llu\n", (unsigned long long)v);
}

static void dbl(FILE *f, const char *name, const struct base *b, double v)
{
    labels(f, name, b, NULL, NULL, NULL, NULL);
    fprintf(f, " %.17g\n", v);
}

/* A counter with no labels of its own. */
static void counter(FILE *f, const char *name, const char *help, const struct base *b,
                    uint64_t v)
{
    family(f, name, "counter", help);
    u64(f, name, b, NULL, NULL, v);
}

/* A counter family with an outcome label: n series, outcome=names[i] counting v[i]. */
static void by_outcome(FILE *f, const char *name, const char *help, const struct base *b,
                       const char *const names[], const uint64_t v[], unsigned n)
{
    family(f, name, "counter", help);
    for (unsigned i = 0; i < n; i++)
        u64(f, name, b, "outcome", names[i], v[i]);
}

static void gauge(FILE *f, const char *name, const char *help, const struct base *b, double v)
{
    family(f, name, "gauge", help);
    dbl(f, name, b, v);
}

/* Finishes the memstream: the text, or NULL (and nothing leaked) when it failed. */
static char *finish(FILE *f, char **text)
{
    bool bad = ferror(f) != 0;
    /* The memstream sets *text (and the length) only as it closes. */
    if (fclose(f) != 0 || bad) {
        free(*text);
        return NULL;
    }
    return *text;
}

static void latency(FILE *f, const struct metrics_snapshot *s, const struct base *b)
{
    const char *name = "msrpload_latency_seconds";
    family(f, name,
           "histogram", "Latencies by kind (README \"What is measured\"), after warm-up; within "
                        "the 3-digit precision of msrpload's histograms");
    for (int k = 0; k < LAT__COUNT; k++) {
        const struct metrics_latency *l = &s->lat[k];
        const char *kind = lat_kind_name((enum lat_kind)k);
        for (int i = 0; i < METRICS_LAT_BUCKETS; i++) {
            char le[32];
            snprintf(le, sizeof(le), "%g", (double)metrics_lat_bounds_us[i] / 1e6);
            labels(f, "msrpload_latency_seconds_bucket", b, "kind", kind, "le", le);
            fprintf(f, " %llu\n", (unsigned long long)l->cum[i]);
        }
        labels(f, "msrpload_latency_seconds_bucket", b, "kind", kind, "le", "+Inf");
        fprintf(f, " %llu\n", (unsigned long long)l->count);
        labels(f, "msrpload_latency_seconds_sum", b, "kind", kind, NULL, NULL);
        fprintf(f, " %.17g\n", l->sum_us / 1e6);
        labels(f, "msrpload_latency_seconds_count", b, "kind", kind, NULL, NULL);
        fprintf(f, " %llu\n", (unsigned long long)l->count);
    }
}

static void sessions(FILE *f, const struct metrics_snapshot *s, const struct prom_run_meta *m,
                     const struct base *b)
{
    counter(f, "msrpload_sessions_started_total", "Calling sessions started", b,
            s->sessions_started);
    counter(f, "msrpload_sessions_bound_total", "Calling sessions bound (their first SEND "
            "answered 200)", b, s->sessions_bound);
    counter(f, "msrpload_sessions_completed_total", "Calling sessions that walked every step "
            "and were closed by msrpload", b, s->sessions_completed);
    counter(f, "msrpload_sessions_failed_total", "Calling sessions that failed", b,
            s->sessions_failed);
    counter(f, "msrpload_sessions_unfinished_total", "Calling sessions cut off by the end of "
            "the run", b, s->sessions_unfinished);
    family(f, "msrpload_sessions_ended_total", "counter",
           "Calling sessions ended, by how (summary.json sessions.ends)");
    for (int i = 0; i < STATS_END_KINDS; i++)
        if (m->end_names[i] != NULL)
            u64(f, "msrpload_sessions_ended_total", b, "reason", m->end_names[i],
                s->session_ends[i]);
}

static void messages(FILE *f, const struct metrics_snapshot *s, const struct base *b)
{
    counter(f, "msrpload_messages_sent_total", "Messages whose outcome was counted (after "
            "warm-up): ok + failed + lost + unfinished", b, s->msgs_sent);
    counter(f, "msrpload_messages_ok_total", "Messages answered 200 (and, through a relay, "
            "delivered)", b, s->msgs_ok);
    counter(f, "msrpload_messages_failed_total", "Messages with an error status (a local "
            "408 included) or never delivered", b, s->msgs_failed);
    counter(f, "msrpload_messages_lost_total", "Messages lost with their connection", b,
            s->msgs_lost);
    counter(f, "msrpload_messages_unfinished_total", "Messages still in flight when the run "
            "ended", b, s->msgs_unfinished);
    counter(f, "msrpload_messages_undelivered_total", "Relay topology: messages the relay "
            "answered 200 that never reached the other end in time", b, s->msgs_undelivered);
    counter(f, "msrpload_messages_delivered_total", "Whole messages msrpload's own answering "
            "ends received (embedded and relay topologies)", b, s->msgs_delivered);
    family(f, "msrpload_messages_by_status_total", "counter",
           "Message outcomes by status code (local ones included), with its class");
    for (int c = STATS_STATUS_MIN; c <= STATS_STATUS_MAX; c++) {
        uint64_t n = s->status_counts[c - STATS_STATUS_MIN];
        if (n == 0)
            continue;
        char code[16], cls[16];
        snprintf(code, sizeof(code), "%d", c);
        snprintf(cls, sizeof(cls), "%dxx", c / 100);
        labels(f, "msrpload_messages_by_status_total", b, "code", code, "class", cls);
        fprintf(f, " %llu\n", (unsigned long long)n);
    }
    family(f, "msrpload_message_timeouts_total", "counter",
           "Local outcomes (no response in time) by the message's Failure-Report");
    /* The order of enum msrp_report, as stats.h keeps them. */
    static const char *const fr[4] = {"absent", "yes", "no", "partial"};
    for (int i = 0; i < 4; i++)
        u64(f, "msrpload_message_timeouts_total", b, "failure_report", fr[i],
            s->timeouts_by_fr[i]);
    family(f, "msrpload_message_timeouts_by_local_status_total", "counter",
           "Local outcomes by the status msrpload stood in with: 408 (a failure) or 200 (a "
           "success, Failure-Report no or partial)");
    u64(f, "msrpload_message_timeouts_by_local_status_total", b, "status", "408",
        s->timeouts_local_408);
    u64(f, "msrpload_message_timeouts_by_local_status_total", b, "status", "200",
        s->timeouts_local_200);
    counter(f, "msrpload_chunks_sent_total", "Chunks of the counted messages", b,
            s->chunks_sent);
    counter(f, "msrpload_payload_bytes_total", "Payload bytes of the messages answered 200", b,
            s->payload_bytes);
    family(f, "msrpload_wire_bytes_total", "counter",
           "Bytes on the calling sessions' connections (headers and TLS included), counted "
           "when each connection ends, warm-up included");
    u64(f, "msrpload_wire_bytes_total", b, "direction", "in", s->wire_bytes_in);
    u64(f, "msrpload_wire_bytes_total", b, "direction", "out", s->wire_bytes_out);
}

char *prom_render_run(const struct metrics_snapshot *s, const struct prom_run_meta *m,
                      size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (f == NULL)
        return NULL;
    struct base b = {{"scenario", "shard", "topology"}, {m->scenario, m->shard, m->topology}, 3};
    sessions(f, s, m, &b);
    messages(f, s, &b);
    counter(f, "msrpload_expectation_failures_total", "Outcomes that missed their step's "
            "expectation", &b, s->expect_failures);
    counter(f, "msrpload_reports_ok_total", "REPORTs received as expected", &b, s->reports_ok);
    counter(f, "msrpload_reports_missing_total", "REPORTs expected that never came", &b,
            s->reports_missing);
    static const char *const OK_FAILED[] = {"ok", "failed", "unfinished"};
    by_outcome(f, "msrpload_relay_auth_total",
               "Relay topology: AUTH exchanges (both ends of each session), by outcome", &b,
               OK_FAILED, (const uint64_t[]){s->relay_auth_ok, s->relay_auth_failed}, 2);
    by_outcome(f, "msrpload_relay_refresh_total",
               "Relay topology: re-AUTHs before Expires ran out, by outcome", &b, OK_FAILED,
               (const uint64_t[]){s->relay_refresh_ok, s->relay_refresh_failed}, 2);
    by_outcome(f, "msrpload_sip_register_total",
               "SIP topology: REGISTERs of the answering agents (refreshes included), by outcome",
               &b, OK_FAILED, (const uint64_t[]){s->sip_register_ok, s->sip_register_failed}, 2);
    by_outcome(
        f, "msrpload_sip_calls_total",
        "SIP topology: calls (INVITEs) by outcome: established, failed, unfinished", &b,
        (const char *const[]){"established", "failed", "unfinished"},
        (const uint64_t[]){s->sip_calls_established, s->sip_calls_failed, s->sip_calls_unfinished},
        3);
    by_outcome(f, "msrpload_sip_bye_total",
               "SIP topology: BYEs sent at the sessions' ends, by outcome: ok, failed, unfinished",
               &b, OK_FAILED,
               (const uint64_t[]){s->sip_bye_ok, s->sip_bye_failed, s->sip_bye_unfinished}, 3);
    latency(f, s, &b);
    gauge(f, "msrpload_sessions_open", "Calling sessions open now", &b,
          (double)s->sessions_open);
    gauge(f, "msrpload_messages_in_flight", "Messages sent whose outcome is not counted yet", &b,
          (double)s->msgs_in_flight);
    gauge(f, "msrpload_target_rate_messages_per_second", "Open loop: the message rate asked "
          "for now (0: closed loop, or the run has ended)", &b, s->target_rate);
    gauge(f, "msrpload_warming_up", "1 while the warm-up runs (counters stay still)", &b,
          s->warming_up ? 1 : 0);
    gauge(f, "msrpload_run_finished", "1 once the run is over: the counts are final and match "
          "summary.json", &b, s->finished ? 1 : 0);
    return finish(f, &text);
}

char *prom_render_serve(const struct prom_serve_snapshot *s, const struct prom_serve_meta *m,
                        size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (f == NULL)
        return NULL;
    struct base b = {{"listen"}, {m->listen}, 1};
    counter(f, "msrpload_serve_sessions_bound_total", "Sessions bound by a client's first "
            "request", &b, s->bound);
    family(f, "msrpload_serve_sessions_ended_total", "counter",
           "Sessions with a connection that ended, by how");
    for (int i = 0; i < PROM_SERVE_END_KINDS; i++)
        if (m->end_names[i] != NULL)
            u64(f, "msrpload_serve_sessions_ended_total", &b, "reason", m->end_names[i],
                s->ends[i]);
    counter(f, "msrpload_serve_messages_received_total", "Whole messages received (aborted "
            "ones included)", &b, s->messages);
    counter(f, "msrpload_serve_payload_bytes_received_total", "Bytes of the messages received",
            &b, s->payload_bytes);
    counter(f, "msrpload_serve_reports_received_total", "REPORTs received", &b, s->reports);
    counter(f, "msrpload_serve_violations_total", "Protocol rules clients broke", &b,
            s->violations);
    counter(f, "msrpload_serve_connections_refused_total", "Connections refused with 481 (a "
            "To-Path no session is expected at)", &b, s->refused);
    gauge(f, "msrpload_serve_sessions_open", "Sessions with a connection now", &b,
          (double)s->open);
    gauge(f, "msrpload_serve_sessions_expected", "Session URIs served (expected or with a "
          "connection); bind timeouts give them up", &b, (double)s->expected);
    return finish(f, &text);
}
