/*
 * merge.c - `msrpload merge DIR... --out DIR`: one report from runs made on several hosts
 * (typically `msrpload run --shard I/N` on N hosts at the same time).
 *
 * What adds up adds up exactly: latency histograms bucket by bucket (from the .hist files),
 * every counter, and the time series, aligned by wall-clock second: second k of run r goes to
 * second floor(started_unix_r - min started_unix + k) of the merge. Throughput is the summed
 * counts over the seconds the measured windows cover: each group of overlapping windows
 * counts as long as its longest window (the hosts measured the same seconds), and groups
 * that do not overlap add up. README "Reports" documents the rule.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "load/runner.h"
#include "msrp/session.h"
#include "report/report.h"

/* Runs further apart than this are refused: their series would be mostly empty seconds. */
#define MERGE_MAX_SPAN_S (7 * 86400)

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

struct window {
    double start, end, measured;
};

static int by_start(const void *a, const void *b)
{
    const struct window *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * The measured seconds of the merge: windows sorted by start form groups of overlapping (or
 * touching) windows; each group counts as its longest window, and the groups add up.
 */
static double merged_measured_s(struct window *w, size_t n)
{
    qsort(w, n, sizeof(*w), by_start);
    double total = 0, group_end = -INFINITY, group_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i].start > group_end) {
            total += group_len;
            group_len = 0;
            group_end = w[i].end;
        }
        if (w[i].end > group_end)
            group_end = w[i].end;
        if (w[i].measured > group_len)
            group_len = w[i].measured;
    }
    return total + group_len;
}

/*
 * errors.jsonl of the merged report: every input's lines, each with "from" (its directory)
 * added. An input without the file (older runs) adds nothing; a line that is not a JSON
 * object is left out with a warning. Returns a malloc'd text, or NULL out of memory.
 */
static char *merged_errors(const char *const *dirs, size_t ndirs, json_t *warnings, size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, len);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < ndirs; i++) {
        char path[1100];
        snprintf(path, sizeof(path), "%s/errors.jsonl", dirs[i]);
        FILE *in = fopen(path, "r");
        if (in == NULL)
            continue;
        char *line = NULL;
        size_t cap = 0;
        for (unsigned n = 1; getline(&line, &cap, in) > 0; n++) {
            json_t *j = json_loads(line, 0, NULL);
            if (!json_is_object(j)) {
                char w[1200];
                snprintf(w, sizeof(w), "%s: line %u is not a JSON object: left out", path, n);
                fprintf(stderr, "msrpload merge: warning: %s\n", w);
                json_array_append_new(warnings, json_string(w));
                json_decref(j);
                continue;
            }
            json_object_set_new(j, "from", json_string(dirs[i]));
            char *dumped =
                json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
            json_decref(j);
            if (dumped != NULL)
                fprintf(out, "%s\n", dumped);
            free(dumped);
        }
        free(line);
        fclose(in);
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int cmd_merge(int argc, char **argv)
{
    const char *out_dir = NULL;
    const char **dirs = calloc((size_t)argc, sizeof(*dirs));
    size_t ndirs = 0;
    if (dirs == NULL)
        return EXIT_FAILED;
    int code = EXIT_USAGE;
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

    const char *end_names[STATS_END_KINDS];
    for (int i = 0; i < STATS_END_KINDS; i++)
        end_names[i] = runner_end_name((unsigned)i);
    struct report_run *runs = calloc(ndirs, sizeof(*runs));
    struct window *windows = calloc(ndirs, sizeof(*windows));
    size_t *offsets = calloc(ndirs, sizeof(*offsets));
    char **real = calloc(ndirs, sizeof(*real));
    struct run_stats merged;
    bool merged_ok = false;
    unsigned char *warm = NULL;
    char *errors = NULL;
    json_t *warnings = json_array();
    char err[1200];
    if (runs == NULL || windows == NULL || offsets == NULL || real == NULL ||
        stats_init(&merged) != 0) {
        fprintf(stderr, "msrpload merge: out of memory\n");
        code = EXIT_FAILED;
        goto out;
    }
    merged_ok = true;
    for (size_t i = 0; i < ndirs; i++) {
        int e = report_read_run(dirs[i], end_names, &runs[i], err, sizeof(err));
        if (e != 0) {
            fprintf(stderr, "msrpload merge: %s\n", err);
            goto out;
        }
        real[i] = realpath(dirs[i], NULL);
        for (size_t j = 0; j < i; j++)
            if (real[i] != NULL && real[j] != NULL && strcmp(real[i], real[j]) == 0) {
                fprintf(stderr, "msrpload merge: %s is given twice (as %s and %s)\n", real[i],
                        dirs[j], dirs[i]);
                goto out;
            }
        if (strcmp(runs[i].scenario_name, runs[0].scenario_name) != 0) {
            char w[512];
            snprintf(w, sizeof(w), "%s runs scenario '%s', %s runs '%s'", dirs[0],
                     runs[0].scenario_name, dirs[i], runs[i].scenario_name);
            fprintf(stderr, "msrpload merge: warning: %s\n", w);
            json_array_append_new(warnings, json_string(w));
        }
    }

    /* Alignment: whole seconds after the earliest start. */
    double min_start = INFINITY;
    for (size_t i = 0; i < ndirs; i++)
        if (runs[i].started_unix < min_start)
            min_start = runs[i].started_unix;
    double end_max = -INFINITY, measured_start = INFINITY;
    for (size_t i = 0; i < ndirs; i++) {
        const struct report_run *r = &runs[i];
        double off = floor(r->started_unix - min_start);
        if (!(off <= MERGE_MAX_SPAN_S)) {
            fprintf(stderr, "msrpload merge: %s started %.0f s after %s: more than a week apart\n",
                    dirs[i], off, dirs[0]);
            goto out;
        }
        offsets[i] = (size_t)off;
        windows[i].start = r->started_unix + r->warm_up_s;
        windows[i].end = windows[i].start + r->measured_s;
        windows[i].measured = r->measured_s;
        if (r->started_unix + r->elapsed_s > end_max)
            end_max = r->started_unix + r->elapsed_s;
        if (windows[i].start < measured_start)
            measured_start = windows[i].start;
        int e = stats_merge_at(&merged, &r->stats, offsets[i]);
        if (e != 0) {
            fprintf(stderr, "msrpload merge: %s: %s\n", dirs[i],
                    e == EINVAL ? "its latency histograms have another layout than the first "
                                  "run's, so they cannot be added"
                                : strerror(e));
            code = e == EINVAL ? EXIT_USAGE : EXIT_FAILED;
            goto out;
        }
    }
    /* A merged second is warm-up when any run contributing to it was warming up. */
    warm = calloc(merged.series_len ? merged.series_len : 1, 1);
    if (warm == NULL) {
        fprintf(stderr, "msrpload merge: out of memory\n");
        code = EXIT_FAILED;
        goto out;
    }
    for (size_t i = 0; i < ndirs; i++)
        for (size_t k = 0; k < runs[i].stats.series_len; k++)
            warm[offsets[i] + k] |= runs[i].warm_up[k];
    double measured_s = merged_measured_s(windows, ndirs);

    const struct report_run *first = &runs[0];
    const char *first_error = "";
    bool incomplete = false;
    for (size_t i = 0; i < ndirs; i++) {
        incomplete = incomplete || runs[i].incomplete;
        if (first_error[0] == '\0')
            first_error = runs[i].first_error;
    }
    struct report_meta meta = {
        .scenario_name = first->scenario_name,
        .scenario_file = first->scenario_file,
        .scenario_description = first->scenario_description,
        .scenario_text = first->scenario_text,
        .scenario_text_len = first->scenario_text_len,
        .config_json = first->config_json,
        .started_unix = min_start,
        .elapsed_s = end_max - min_start,
        .measured_s = measured_s,
        .warm_up_s = measured_start - min_start,
        .incomplete = incomplete,
        .first_error = first_error,
        .version = msrpload_version(),
        .end_closed = MSRP_END_CLOSED,
        .series_warm_up = warm,
        .merged_from = dirs,
        .merged_from_len = ndirs,
    };
    for (int i = 0; i < STATS_END_KINDS; i++)
        meta.end_names[i] = end_names[i];
    errors = merged_errors(dirs, ndirs, warnings, &meta.errors_jsonl_len);
    meta.errors_jsonl = errors != NULL ? errors : "";
    char dir[1024];
    int e = report_write(&merged, &meta, "results", out_dir, dir, sizeof(dir), err, sizeof(err));
    if (e != 0) {
        fprintf(stderr, "msrpload merge: %s\n", err);
        code = e == EEXIST ? EXIT_USAGE : EXIT_FAILED;
        goto out;
    }

    json_t *inputs = json_array();
    for (size_t i = 0; i < ndirs; i++) {
        const struct report_run *r = &runs[i];
        double ws = r->started_unix + r->warm_up_s;
        json_array_append_new(
            inputs, json_pack("{s:s, s:s, s:s, s:s, s:f, s:I, s:f, s:f, s:f, s:[f, f], s:b, s:I}",
                              "dir", dirs[i], "host", r->host, "msrpload", r->version, "scenario",
                              r->scenario_name, "started_unix", r->started_unix, "offset_s",
                              (json_int_t)offsets[i], "elapsed_s", r->elapsed_s, "measured_s",
                              r->measured_s, "warm_up_s", r->warm_up_s, "measured_window_unix", ws,
                              ws + r->measured_s, "incomplete", r->incomplete, "seconds",
                              (json_int_t)r->stats.series_len));
    }
    json_t *doc = json_pack(
        "{s:i, s:{s:s, s:s}, s:o, s:f, s:f, s:s, s:I, s:o}", "version", 1, "generator", "name",
        "msrpload", "version", msrpload_version(), "inputs", inputs, "started_unix", min_start,
        "measured_s", measured_s, "measured_rule",
        "the summed counts over the measured windows: overlapping windows count as the longest "
        "of them, windows apart in time add up",
        "series_seconds", (json_int_t)merged.series_len, "warnings", json_incref(warnings));
    char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (text == NULL) {
        fprintf(stderr, "msrpload merge: out of memory\n");
        code = EXIT_FAILED;
        goto out;
    }
    size_t len = strlen(text);
    char *nl = realloc(text, len + 2);
    if (nl != NULL) {
        text = nl;
        text[len++] = '\n';
    }
    e = report_write_file(dir, "merge.json", text, len, err, sizeof(err));
    free(text);
    if (e != 0) {
        fprintf(stderr, "msrpload merge: %s\n", err);
        code = EXIT_FAILED;
        goto out;
    }
    printf("merged %zu runs", ndirs);
    for (size_t i = 0; i < ndirs; i++)
        printf("%s%s (%s, +%zus)", i ? ", " : ": ", dirs[i], runs[i].host, offsets[i]);
    printf("\n");
    report_print(stdout, &merged, &meta, dir);
    code = EXIT_OK;
out:
    for (size_t i = 0; runs != NULL && i < ndirs; i++) {
        report_run_free(&runs[i]);
        if (real != NULL)
            free(real[i]);
    }
    if (merged_ok)
        stats_free(&merged);
    json_decref(warnings);
    free(errors);
    free(warm);
    free(real);
    free(offsets);
    free(windows);
    free(runs);
    free(dirs);
    return code;
}
