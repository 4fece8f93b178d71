/*
 * report.h - what a run leaves behind: the files under results/ and the terminal summary.
 *
 * Files (README "Reports" describes every field): summary.json, timeseries.csv,
 * latency-<kind>.hgrm (HdrHistogram's percentile text format), latency-<kind>.hist (the raw
 * bucket counts, so that runs merge exactly), errors.jsonl (failure forensics, made by the
 * caller's layer), scenario.json (the scenario as run) and report.html (the page for a person,
 * html.h). Each is
 * written to a temporary name and renamed, so a reader never sees half a file; an existing run
 * directory is never reused, and one whose report is not whole holds a PARTIAL file.
 * report_read_run reads a run directory back (compare, merge); readback.c holds the readers.
 *
 * The contract of src/report/, a bottom layer: it opens no socket and starts no thread, and
 * includes nothing from wire/, net/, msrp/, load/, conform/ or cli/; what it must know of the
 * layers above (the names of the session end kinds, the version) is passed in. Its headers are
 * this one, stats.h, histogram.h, jsonw.h, markup.h (XML and HTML text), html.h
 * (report.html) and merge.h (several runs into one report). A call
 * returns 0 or an errno value (or a status) with a message in err and never exits; text goes
 * only to the stream or directory the caller names.
 *
 * Thread safety: none needed; every function works on its arguments only.
 */
#ifndef MSRPLOAD_REPORT_REPORT_H
#define MSRPLOAD_REPORT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "report/stats.h"

/* One of load.stages as run (the target moves from `from` to `to` over its duration, or is
 * `to` throughout when ramp is false): messages per second, or sessions open at once. */
struct report_stage {
    double start_s, duration_s, from, to;
    bool ramp;
};

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
    /* The scenario sends messages and not one met its expectation (run only: merge leaves it
     * false): the summary then never says "all met". */
    bool no_message_met;
    const char *first_error;
    const char *version;
    /* Names of the session end kinds counted in run_stats.session_ends (the caller's layer
     * defines them; report/ stays below it). */
    const char *end_names[STATS_END_KINDS];
    size_t end_closed;           /* the index that means an orderly close (not an error) */
    /* Optional (merge): one flag per second of st->series, 1 = warm-up; NULL: the seconds
     * before warm_up_s are the warm-up. */
    const unsigned char *series_warm_up;
    /* Optional (merge): the run directories this report combines, written as "merged_from". */
    const char *const *merged_from;
    size_t merged_from_len;
    /* Optional: the generator's host name; NULL: this machine's. */
    const char *host;
    /* Optional: errors.jsonl's text (failure forensics, one JSON object a line; written even
     * when empty), and the summary's lines about failures. NULL: no such file, no lines. */
    const char *errors_jsonl;
    size_t errors_jsonl_len;
    const char *failures_text;
    /* Optional: load.stages as run (summary.json "stages", with each one's achieved rate from
     * st->stage_sent); stages_sessions: their targets are sessions (closed loop), else
     * messages per second. */
    const struct report_stage *stages;
    size_t num_stages;
    bool stages_sessions;
    /* Optional (run --relay-state): summary.json's "relay_state" object as JSON text
     * (report/relaystate.h); NULL: none. */
    const char *relay_state_json;
};

/*
 * The file in a run directory that says its report is not whole. report_make_dir creates it
 * (saying the report is being written), report_write_files rewrites it with the reason when a
 * file fails, and report_finish_dir removes it once every file is written: a directory left by
 * a full disk, an I/O error or a kill mid-write keeps it. compare and merge refuse such a
 * directory.
 */
#define REPORT_PARTIAL_FILE "PARTIAL"

/*
 * Creates the run directory before the load starts, with its PARTIAL file: out_dir when given
 * (it must not exist yet; its parent must), else results_root/<name>-<UTC time of when_unix>
 * [-N]. Returns 0, or an errno value with a message naming the path in err (nothing is left
 * behind then). The directory's path goes to dir (size dirlen).
 */
int report_make_dir(const char *results_root, const char *out_dir, const char *name,
                    double when_unix, char *dir, size_t dirlen, char *err, size_t errlen);
/*
 * Writes the report's files into dir (made by report_make_dir). Returns 0, or an errno value
 * with a message naming the file in err; PARTIAL then says which file failed and why (when that
 * can still be written).
 */
int report_write_files(const struct run_stats *st, const struct report_meta *meta,
                       const char *dir, char *err, size_t errlen);
/* Replaces PARTIAL's text with one saying the report is partial and why (best effort). */
void report_mark_partial(const char *dir, const char *why);
/* Removes PARTIAL: call once every file of the report is written. Returns 0 or an errno. */
int report_finish_dir(const char *dir, char *err, size_t errlen);
/* Removes a directory made by report_make_dir when no run happened (PARTIAL, then the
 * directory if it is empty). */
void report_discard_dir(const char *dir);
/* True when dir holds a PARTIAL file. */
bool report_dir_partial(const char *dir);

/* report_make_dir, report_write_files and report_finish_dir in one go (merge). Returns 0, or
 * an errno value with a message naming the path in err. */
int report_write(const struct run_stats *st, const struct report_meta *meta,
                 const char *results_root, const char *out_dir, char *dir, size_t dirlen,
                 char *err, size_t errlen);

/* True when the run was set up by SIP (topology sip): summary.json's "sip" and its line. */
bool report_sip_used(const struct run_stats *st);

/* The h2load-style summary for a terminal. dir may be NULL when nothing was written. */
void report_print(FILE *out, const struct run_stats *st, const struct report_meta *meta,
                  const char *dir);

/*
 * Writes text to dir/name through a temporary file (dir/.name.tmp) and a rename. Returns 0,
 * or an errno value with a message naming the file in err.
 */
int report_write_file(const char *dir, const char *name, const char *text, size_t len,
                      char *err, size_t errlen);

/*
 * The .hist format: a histogram's raw counts as text, lines of ASCII ending in LF.
 *
 *     msrpload-hist 1                    the format and its version: the first line
 *     unit us                            the unit of every value below
 *     lowest 1                           the layout, as given to histogram_init
 *     highest 3600000000
 *     sigfigs 3
 *     total 1500                         values recorded (overflow excluded)
 *     min 944                            the exact smallest and largest values recorded
 *     max 32479                          (0 and 0 when total is 0)
 *     overflow 0                         values above highest, counted and not recorded
 *     buckets 2                          how many "value count" lines follow
 *     944 1000                           one per non-empty bucket, in increasing value order:
 *     1900 500                           the bucket's lowest equivalent value and its count
 *     end                                the last line
 *
 * After the first line, lines starting with '#' and empty lines are ignored. Recording each value `count` times into a histogram
 * with the same layout gives the same counts bucket by bucket. The reader also restores the
 * exact min and max, by recording the first bucket's count at min and the last bucket's at max
 * (values of those same buckets), and the overflow: the histogram read back equals the one
 * written, counts, total, extremes and overflow.
 */
/* Writes h in the .hist format. Returns 0, or EIO when the stream reports an error. */
int report_write_hist(const struct histogram *h, const char *unit, FILE *f);
/*
 * Reads a .hist stream into h, which this initialises (the caller frees it with
 * histogram_free, also after a failure). Checks everything: the header, the layout, that each
 * value is a bucket's lowest value, in increasing order, counts that add up to total, min and
 * max inside the first and last buckets. Returns 0, EINVAL with "line N: what" in err, EIO
 * on a read error, or ENOMEM. unit (may be NULL) receives the unit, at most 15 characters.
 */
int report_read_hist(FILE *f, struct histogram *h, char unit[16], char *err, size_t errlen);

/* A run directory read back by report_read_run: what report_write wrote into it. */
struct report_run {
    struct run_stats stats;       /* counters, histograms (from the .hist files), series */
    unsigned char *warm_up;       /* stats.series_len flags from timeseries.csv, 1 = warm-up */
    char *scenario_name, *scenario_file, *scenario_description;
    char *scenario_text;          /* scenario.json; NULL when the directory has none */
    size_t scenario_text_len;
    char *config_json;            /* summary.json's "config", compact JSON */
    char *host, *version, *first_error;
    double started_unix, elapsed_s, measured_s, warm_up_s;
    bool incomplete;
    struct report_stage stages[STATS_MAX_STAGES]; /* summary.json "stages" (stats.num_stages) */
    bool stages_sessions;
};

/*
 * Reads summary.json, timeseries.csv, every latency-<kind>.hist and (when present)
 * scenario.json from dir into *run. end_names maps the names under sessions.ends back to
 * their index (the names report_write was given). Counters summary.json lacks because an
 * older msrpload wrote it (throughput counts, run.started_unix) are derived from what it has.
 * A directory holding PARTIAL is refused (EINVAL, naming that file). Returns 0, or EINVAL /
 * ENOENT / EIO / ENOMEM with a message naming the file (and the JSON path or line) in err. *run is always left freeable with report_run_free.
 */
int report_read_run(const char *dir, const char *const end_names[STATS_END_KINDS],
                    struct report_run *run, char *err, size_t errlen);
void report_run_free(struct report_run *run);

#endif
