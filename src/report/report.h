/*
 * report.h - what a run leaves behind: the files under results/ and the terminal summary.
 *
 * Files (README "Reports" describes every field): summary.json, timeseries.csv,
 * latency-<kind>.hgrm (HdrHistogram's percentile text format) and scenario.json (the scenario
 * as run). Each is written to a temporary name and renamed, so a reader never sees half a
 * file; an existing run directory is never reused.
 */
#ifndef MSRPLOAD_REPORT_REPORT_H
#define MSRPLOAD_REPORT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "report/stats.h"

/* What the report says about the run besides the statistics. */
struct report_meta {
    const char *scenario_name;
    const char *scenario_file;
    const char *scenario_description;
    const char *scenario_text;   /* copied to scenario.json */
    size_t scenario_text_len;
    const char *config_json;     /* the configuration as run, a JSON object text */
    double started_unix;
    double elapsed_s, measured_s, warm_up_s;
    bool incomplete;
    const char *first_error;
    const char *version;
    /* Names of the session end kinds counted in run_stats.session_ends (the caller's layer
     * defines them; report/ stays below it). */
    const char *end_names[STATS_END_KINDS];
    size_t end_closed;           /* the index that means an orderly close (not an error) */
};

/*
 * Creates the run directory: out_dir when given (it must not exist yet), else
 * results_root/<name>-<UTC time>[-N]. Writes the files. Returns 0, or an errno value with a
 * message naming the path in err. The directory's path goes to dir (size dirlen).
 */
int report_write(const struct run_stats *st, const struct report_meta *meta,
                 const char *results_root, const char *out_dir, char *dir, size_t dirlen,
                 char *err, size_t errlen);

/* The h2load-style summary for a terminal. dir may be NULL when nothing was written. */
void report_print(FILE *out, const struct run_stats *st, const struct report_meta *meta,
                  const char *dir);

#endif
