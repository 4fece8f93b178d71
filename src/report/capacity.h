/*
 * capacity.h - the files of a capacity search (`msrpload run --find-capacity`): capacity.json,
 * every step's figures and the verdict, and capacity.svg, a self-contained plot of latency and
 * achieved rate against the requested rate. docs/report-format.md describes both.
 *
 * Owns: the rows' layout and the two files' text. May not touch: how steps are measured or
 * judged (load/capacity.c) or run (cli/run_capacity.c). Pure: text in memory, no I/O.
 */
#ifndef MSRPLOAD_REPORT_CAPACITY_H
#define MSRPLOAD_REPORT_CAPACITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SLO terms a row keeps a latency for (load/capacity.h CAPACITY_MAX_TERMS is the same). */
#define REPORT_CAPACITY_TERMS 8

/* One step of the search. */
struct capacity_row {
    unsigned index;            /* 1-based, in the order run */
    char dir[64];              /* its own run report, relative to the search's directory */
    double requested;          /* messages per second asked for */
    double achieved;           /* messages sent per second of the measured window */
    double ok_rate;            /* messages answered ok per second of the measured window */
    double achieved_ratio;     /* sent / what the schedule asked for in the window (0: none) */
    double step_s, measured_s; /* the window asked for, the one measured */
    uint64_t sent, ok, failed, sessions_failed, samples; /* samples: latencies measured */
    double p50_us, p99_us;     /* message latency (from the intended send time) */
    double errors;             /* failed / (ok + failed); 0 with none */
    double slo_us[REPORT_CAPACITY_TERMS]; /* each SLO latency term's percentile; else 0 */
    bool met;
    bool interrupted;          /* stopped by a signal: never met */
    char why[160];             /* "met", or the first SLO term that failed with its figure */
};

struct capacity_doc {
    const char *scenario, *version, *slo; /* the SLO as written back (load/capacity.c) */
    const char *topology, *latency_kind;
    double started_unix;
    double start, max, factor, resolution, step_s, warm_up_s;
    unsigned max_steps;
    double capacity;       /* the highest rate met; 0: none */
    double first_failed;   /* the lowest rate that failed; 0: none */
    double slo_latency_us; /* the tightest latency bound, drawn on the plot; 0: none */
    const char *end;       /* why the search ended (capacity_search_end), or "interrupted" */
    const struct capacity_row *rows;
    unsigned num_rows;
};

/* capacity.json's text (malloc'd, NUL-terminated; *len its length), or NULL out of memory. */
char *capacity_json_text(const struct capacity_doc *d, size_t *len);
/* capacity.svg's text, the same way. */
char *capacity_svg_text(const struct capacity_doc *d, size_t *len);

#endif
