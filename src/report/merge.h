/*
 * merge.h - one report from runs made on several hosts (typically `msrpload run --shard I/N`
 * on N hosts at the same time), read back from their run directories.
 *
 * What adds up adds up exactly: latency histograms bucket by bucket (from the .hist files),
 * every counter, and the time series, aligned by wall-clock second: second k of run r goes to
 * second floor(started_unix_r - min started_unix + k) of the merge. Throughput is the summed
 * counts over the seconds the measured windows cover: each group of overlapping windows
 * counts as long as its longest window (the hosts measured the same seconds), and groups
 * that do not overlap add up. README "Reports" documents the rule.
 *
 * Like the rest of report/, this knows nothing of the layers above it: the names of the
 * session end kinds and the version come from the caller. Thread safety: none needed; the
 * call works on its arguments only.
 */
#ifndef MSRPLOAD_REPORT_MERGE_H
#define MSRPLOAD_REPORT_MERGE_H

#include <stddef.h>
#include <stdio.h>

#include "report/stats.h"

/* Runs further apart than this are refused: their series would be mostly empty seconds. */
#define REPORT_MERGE_MAX_SPAN_S (7 * 86400)

struct report_merge_input {
    const char *const *dirs; /* the run directories, in the order given; the first gives the
                                config and scenario */
    size_t ndirs;
    const char *out_dir;     /* the merged report's directory (it must not exist) */
    /* As in struct report_meta: the names of the session end kinds and the orderly one. */
    const char *end_names[STATS_END_KINDS];
    size_t end_closed;
    const char *version;     /* the generator's version, for summary.json and merge.json */
    /* Called with the text of each warning as it arises (a scenario name that differs, an
     * errors.jsonl line left out); every warning is also listed in merge.json. May be NULL. */
    void (*warn)(const char *text, void *user);
    void *warn_user;
};

enum report_merge_status {
    REPORT_MERGE_OK = 0,
    REPORT_MERGE_BAD_INPUT, /* an input cannot be read (or holds PARTIAL), is given twice, is
                               too far apart in time, or its histograms do not add; or the
                               output directory exists */
    REPORT_MERGE_FAILED,    /* out of memory, or the merged report could not be written */
};

/*
 * Merges the runs into in->out_dir (a report directory like a run's, plus merge.json, which
 * describes every input and the alignment), then writes a line naming the inputs and the
 * terminal summary of the merge to summary. Returns REPORT_MERGE_OK, or a status with a
 * message in err (naming the directory or file).
 */
enum report_merge_status report_merge(const struct report_merge_input *in, FILE *summary,
                                      char *err, size_t errlen);

#endif
