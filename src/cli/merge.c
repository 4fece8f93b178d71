/*
 * merge.c - `msrpload merge DIR... --out DIR`: one report from runs made on several hosts
 * (typically `msrpload run --shard I/N` on N hosts at the same time).
 *
 * This file owns the command line and its messages only: the options, the usage text, the
 * warnings and errors on standard error and the exit codes. The merging itself (what adds up
 * and how the series align) is src/report/merge.c; the names of the session end kinds come
 * from the load layer (runner_end_name) and are handed down to it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "load/runner.h"
#include "msrp/session.h"
#include "report/merge.h"

static void merge_usage(FILE *out)
{
    fprintf(out,
            "usage: msrpload merge DIR... --out DIR\n"
            "\n"
            "Combines run directories made on several hosts (for instance with 'msrpload run\n"
            "--shard I/N') into one report directory, written like a run's:\n"
            "  - latency histograms add exactly, from each run's latency-<kind>.hist;\n"
            "  - counters add (sessions, messages, statuses, expectations);\n"
            "  - the time series is aligned by wall-clock second using each run's start;\n"
            "  - throughput is the summed counts over the measured seconds: overlapping runs\n"
            "    count as long as the longest of them, runs apart in time add up;\n"
            "  - config and scenario come from the first run; summary.json lists merged_from,\n"
            "    and merge.json describes every input and the alignment.\n"
            "  --out DIR            the merged report's directory (it must not exist)\n"
            "\n"
            "A scenario name that differs between runs is a warning.\n"
            "exit codes: 0 merged, 1 the report could not be written,\n"
            "            2 usage error, or an input directory that cannot be read (or\n"
            "            that holds a PARTIAL file: a report that was not written whole)\n");
}

static void print_warning(const char *text, void *user)
{
    (void)user;
    fprintf(stderr, "msrpload merge: warning: %s\n", text);
}

int cmd_merge(int argc, char **argv)
{
    const char *out_dir = NULL;
    const char **dirs = calloc((size_t)argc, sizeof(*dirs));
    size_t ndirs = 0;
    if (dirs == NULL)
        return EXIT_FAILED;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            merge_usage(stdout);
            free(dirs);
            return EXIT_OK;
        }
        if (strcmp(a, "--out") == 0) {
            if (i + 1 >= argc || out_dir != NULL) {
                fprintf(stderr, "msrpload merge: --out takes one directory, once\n");
                free(dirs);
                return EXIT_USAGE;
            }
            out_dir = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "msrpload merge: unknown option '%s'\n\n", a);
            merge_usage(stderr);
            free(dirs);
            return EXIT_USAGE;
        } else {
            dirs[ndirs++] = a;
        }
    }
    if (ndirs == 0 || out_dir == NULL) {
        fprintf(stderr, "msrpload merge: %s\n\n",
                ndirs == 0 ? "no run directory to merge" : "--out DIR is required");
        merge_usage(stderr);
        free(dirs);
        return EXIT_USAGE;
    }
    struct stat sb;
    if (lstat(out_dir, &sb) == 0) {
        fprintf(stderr, "msrpload merge: %s exists (a report is never written over another)\n",
                out_dir);
        free(dirs);
        return EXIT_USAGE;
    }

    struct report_merge_input in = {
        .dirs = dirs,
        .ndirs = ndirs,
        .out_dir = out_dir,
        .end_closed = MSRP_END_CLOSED,
        .version = msrpload_version(),
        .warn = print_warning,
    };
    for (int i = 0; i < STATS_END_KINDS; i++)
        in.end_names[i] = runner_end_name((unsigned)i);
    char err[8192];
    enum report_merge_status st = report_merge(&in, stdout, err, sizeof(err));
    if (st != REPORT_MERGE_OK)
        fprintf(stderr, "msrpload merge: %s\n", err);
    free(dirs);
    return st == REPORT_MERGE_OK          ? EXIT_OK
           : st == REPORT_MERGE_BAD_INPUT ? EXIT_USAGE
                                          : EXIT_FAILED;
}
