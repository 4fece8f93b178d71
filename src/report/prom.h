/*
 * prom.h - live metrics as Prometheus text (exposition format 0.0.4): a run's snapshot
 * (metrics.h) or `serve`'s counters, rendered into a buffer. Pure: no I/O, no threads, no
 * clock; the HTTP side (src/cli/metrics_http.c) serves what this renders.
 *
 * Every family has its # HELP and # TYPE lines; names are msrpload_* with _total on counters
 * and base units (seconds, bytes). A run's samples carry the labels scenario, shard and
 * topology; latency is a histogram per kind (label kind, from lat_kind_name over LAT__COUNT).
 * docs/metrics.md lists every family.
 *
 * Owns: the metric names, their help text, label escaping. May not touch: what is counted
 * (stats.h, metrics.h).
 */
#ifndef MSRPLOAD_REPORT_PROM_H
#define MSRPLOAD_REPORT_PROM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/metrics.h"

/* The Content-Type of what is rendered here. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* What labels every sample of a run, and the names the snapshot's indexes stand for. */
struct prom_run_meta {
    const char *scenario; /* the scenario's name */
    const char *shard;    /* "I/N" with --shard, else "1/1" */
    const char *topology; /* "embedded", "target", "relay" */
    /* session end kinds by index (runner_end_name); NULL entries are left out */
    const char *end_names[STATS_END_KINDS];
};

/* Returns a malloc'd NUL-terminated text (its length in *len), or NULL when out of memory. */
char *prom_render_run(const struct metrics_snapshot *s, const struct prom_run_meta *m,
                      size_t *len);

/* `msrpload serve`'s counters, from its loop thread (serve.c keeps them). */
#define PROM_SERVE_END_KINDS 16
struct prom_serve_snapshot {
    uint64_t bound, messages, payload_bytes, reports, violations, refused;
    uint64_t ends[PROM_SERVE_END_KINDS]; /* sessions ended, by enum msrp_session_end */
    uint64_t open;                       /* sessions with a connection now */
    uint64_t expected;                   /* session URIs still expected or served */
};
struct prom_serve_meta {
    const char *listen; /* serve's --listen, as a label */
    const char *end_names[PROM_SERVE_END_KINDS]; /* NULL entries are left out */
};
char *prom_render_serve(const struct prom_serve_snapshot *s, const struct prom_serve_meta *m,
                        size_t *len);

/* Writes v as a label value: backslash, double quote and line feed escaped (\\, \", \n). */
void prom_write_label_value(FILE *f, const char *v);

#endif
