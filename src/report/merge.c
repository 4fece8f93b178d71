/*
 * merge.c - several run directories into one report (merge.h): reading them back, aligning
 * their time series by wall-clock second, adding their statistics, and writing the merged
 * report with merge.json beside it. It owns the merge rules; it parses no command line and
 * prints no message of its own (warnings go to the caller's callback, errors to err), and,
 * being part of report/, includes nothing from the layers above.
 */
#include "report/merge.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

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

/* The merge in progress. */
struct merge {
    const struct report_merge_input *in;
    struct report_run *runs;
    struct window *windows;
    size_t *offsets;  /* each run's first second in the merged series */
    char **real;      /* each input's real path, to refuse one given twice */
    struct run_stats merged;
    bool merged_ok;   /* merged was initialised */
    unsigned char *warm;
    char *errors;
    json_t *warnings; /* for merge.json */
    double min_start, end_max, measured_start, measured_s;
};

static void merge_warn(struct merge *m, const char *text)
{
    if (m->in->warn != NULL)
        m->in->warn(text, m->in->warn_user);
    json_array_append_new(m->warnings, json_string(text));
}

/*
 * errors.jsonl of the merged report: every input's lines, each with "from" (its directory)
 * added. An input without the file (older runs) adds nothing; a line that is not a JSON
 * object is left out with a warning. Returns a malloc'd text, or NULL out of memory.
 */
static char *merged_errors(struct merge *m, size_t *len)
{
    const char *const *dirs = m->in->dirs;
    char *text = NULL;
    FILE *out = open_memstream(&text, len);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < m->in->ndirs; i++) {
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
                merge_warn(m, w);
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

/* Reads every input back; refuses one given twice, and warns of a scenario that differs. */
static enum report_merge_status read_runs(struct merge *m, char *err, size_t errlen)
{
    const char *const *dirs = m->in->dirs;
    for (size_t i = 0; i < m->in->ndirs; i++) {
        char why[1200];
        if (report_read_run(dirs[i], m->in->end_names, &m->runs[i], why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s", why);
            return REPORT_MERGE_BAD_INPUT;
        }
        m->real[i] = realpath(dirs[i], NULL);
        for (size_t j = 0; j < i; j++)
            if (m->real[i] != NULL && m->real[j] != NULL && strcmp(m->real[i], m->real[j]) == 0) {
                snprintf(err, errlen, "%s is given twice (as %s and %s)", m->real[i], dirs[j],
                         dirs[i]);
                return REPORT_MERGE_BAD_INPUT;
            }
        if (strcmp(m->runs[i].scenario_name, m->runs[0].scenario_name) != 0) {
            char w[512];
            snprintf(w, sizeof(w), "%s runs scenario '%s', %s runs '%s'", dirs[0],
                     m->runs[0].scenario_name, dirs[i], m->runs[i].scenario_name);
            merge_warn(m, w);
        }
    }
    return REPORT_MERGE_OK;
}

/* Aligns the runs on whole seconds after the earliest start and adds them up. */
static enum report_merge_status add_runs(struct merge *m, char *err, size_t errlen)
{
    const char *const *dirs = m->in->dirs;
    size_t ndirs = m->in->ndirs;
    m->min_start = INFINITY;
    for (size_t i = 0; i < ndirs; i++)
        if (m->runs[i].started_unix < m->min_start)
            m->min_start = m->runs[i].started_unix;
    m->end_max = -INFINITY;
    m->measured_start = INFINITY;
    for (size_t i = 0; i < ndirs; i++) {
        const struct report_run *r = &m->runs[i];
        double off = floor(r->started_unix - m->min_start);
        if (!(off <= REPORT_MERGE_MAX_SPAN_S)) {
            snprintf(err, errlen, "%s started %.0f s after %s: more than a week apart", dirs[i],
                     off, dirs[0]);
            return REPORT_MERGE_BAD_INPUT;
        }
        m->offsets[i] = (size_t)off;
        m->windows[i].start = r->started_unix + r->warm_up_s;
        m->windows[i].end = m->windows[i].start + r->measured_s;
        m->windows[i].measured = r->measured_s;
        if (r->started_unix + r->elapsed_s > m->end_max)
            m->end_max = r->started_unix + r->elapsed_s;
        if (m->windows[i].start < m->measured_start)
            m->measured_start = m->windows[i].start;
        int e = stats_merge_at(&m->merged, &r->stats, m->offsets[i]);
        if (e != 0) {
            snprintf(err, errlen, "%s: %s", dirs[i],
                     e == EINVAL ? "its latency histograms have another layout than the first "
                                   "run's, so they cannot be added"
                                 : strerror(e));
            return e == EINVAL ? REPORT_MERGE_BAD_INPUT : REPORT_MERGE_FAILED;
        }
    }
    /* A merged second is warm-up when any run contributing to it was warming up. */
    m->warm = calloc(m->merged.series_len ? m->merged.series_len : 1, 1);
    if (m->warm == NULL) {
        snprintf(err, errlen, "out of memory");
        return REPORT_MERGE_FAILED;
    }
    for (size_t i = 0; i < ndirs; i++)
        for (size_t k = 0; k < m->runs[i].stats.series_len; k++)
            m->warm[m->offsets[i] + k] |= m->runs[i].warm_up[k];
    m->measured_s = merged_measured_s(m->windows, ndirs);
    return REPORT_MERGE_OK;
}

/* merge.json in dir: every input, the alignment and the warnings. */
static enum report_merge_status write_merge_json(struct merge *m, const char *dir, char *err,
                                                 size_t errlen)
{
    const char *const *dirs = m->in->dirs;
    json_t *inputs = json_array();
    for (size_t i = 0; i < m->in->ndirs; i++) {
        const struct report_run *r = &m->runs[i];
        double ws = r->started_unix + r->warm_up_s;
        json_array_append_new(
            inputs, json_pack("{s:s, s:s, s:s, s:s, s:f, s:I, s:f, s:f, s:f, s:[f, f], s:b, s:I}",
                              "dir", dirs[i], "host", r->host, "msrpload", r->version, "scenario",
                              r->scenario_name, "started_unix", r->started_unix, "offset_s",
                              (json_int_t)m->offsets[i], "elapsed_s", r->elapsed_s, "measured_s",
                              r->measured_s, "warm_up_s", r->warm_up_s, "measured_window_unix", ws,
                              ws + r->measured_s, "incomplete", r->incomplete, "seconds",
                              (json_int_t)r->stats.series_len));
    }
    json_t *doc = json_pack(
        "{s:i, s:{s:s, s:s}, s:o, s:f, s:f, s:s, s:I, s:o}", "version", 1, "generator", "name",
        "msrpload", "version", m->in->version, "inputs", inputs, "started_unix", m->min_start,
        "measured_s", m->measured_s, "measured_rule",
        "the summed counts over the measured windows: overlapping windows count as the longest "
        "of them, windows apart in time add up",
        "series_seconds", (json_int_t)m->merged.series_len, "warnings", json_incref(m->warnings));
    char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (text == NULL) {
        snprintf(err, errlen, "out of memory");
        return REPORT_MERGE_FAILED;
    }
    size_t len = strlen(text);
    char *nl = realloc(text, len + 2);
    if (nl != NULL) {
        text = nl;
        text[len++] = '\n';
    }
    char why[1200];
    int e = report_write_file(dir, "merge.json", text, len, why, sizeof(why));
    free(text);
    if (e != 0) {
        snprintf(err, errlen, "%s", why);
        return REPORT_MERGE_FAILED;
    }
    return REPORT_MERGE_OK;
}

/* Writes the merged report and merge.json, then the summary. */
static enum report_merge_status write_merged(struct merge *m, FILE *summary, char *err,
                                             size_t errlen)
{
    const struct report_merge_input *in = m->in;
    const struct report_run *first = &m->runs[0];
    const char *first_error = "";
    bool incomplete = false;
    for (size_t i = 0; i < in->ndirs; i++) {
        incomplete = incomplete || m->runs[i].incomplete;
        if (first_error[0] == '\0')
            first_error = m->runs[i].first_error;
    }
    struct report_meta meta = {
        .scenario_name = first->scenario_name,
        .scenario_file = first->scenario_file,
        .scenario_description = first->scenario_description,
        .scenario_text = first->scenario_text,
        .scenario_text_len = first->scenario_text_len,
        .config_json = first->config_json,
        .started_unix = m->min_start,
        .elapsed_s = m->end_max - m->min_start,
        .measured_s = m->measured_s,
        .warm_up_s = m->measured_start - m->min_start,
        .incomplete = incomplete,
        .first_error = first_error,
        .version = in->version,
        .end_closed = in->end_closed,
        .series_warm_up = m->warm,
        .merged_from = in->dirs,
        .merged_from_len = in->ndirs,
    };
    for (int i = 0; i < STATS_END_KINDS; i++)
        meta.end_names[i] = in->end_names[i];
    /* load.stages: the first run's, with the targets of every run that has as many stages
     * added up (shards run their share of each stage at the same time). */
    struct report_stage stages[STATS_MAX_STAGES];
    meta.num_stages = first->stats.num_stages;
    meta.stages_sessions = first->stages_sessions;
    meta.stages = stages;
    for (size_t k = 0; k < meta.num_stages; k++) {
        stages[k] = first->stages[k];
        stages[k].from = stages[k].to = 0;
        for (size_t i = 0; i < in->ndirs; i++)
            if (m->runs[i].stats.num_stages == meta.num_stages) {
                stages[k].from += m->runs[i].stages[k].from;
                stages[k].to += m->runs[i].stages[k].to;
            }
    }
    m->errors = merged_errors(m, &meta.errors_jsonl_len);
    meta.errors_jsonl = m->errors != NULL ? m->errors : "";
    char dir[1024], why[1200];
    int e = report_write(&m->merged, &meta, "results", in->out_dir, dir, sizeof(dir), why,
                         sizeof(why));
    if (e != 0) {
        snprintf(err, errlen, "%s", why);
        return e == EEXIST ? REPORT_MERGE_BAD_INPUT : REPORT_MERGE_FAILED;
    }
    enum report_merge_status st = write_merge_json(m, dir, err, errlen);
    if (st != REPORT_MERGE_OK)
        return st;
    fprintf(summary, "merged %zu runs", in->ndirs);
    for (size_t i = 0; i < in->ndirs; i++)
        fprintf(summary, "%s%s (%s, +%zus)", i ? ", " : ": ", in->dirs[i], m->runs[i].host,
                m->offsets[i]);
    fprintf(summary, "\n");
    report_print(summary, &m->merged, &meta, dir);
    return REPORT_MERGE_OK;
}

enum report_merge_status report_merge(const struct report_merge_input *in, FILE *summary,
                                      char *err, size_t errlen)
{
    size_t n = in->ndirs;
    struct merge m = {
        .in = in,
        .runs = calloc(n, sizeof(*m.runs)),
        .windows = calloc(n, sizeof(*m.windows)),
        .offsets = calloc(n, sizeof(*m.offsets)),
        .real = calloc(n, sizeof(*m.real)),
        .warnings = json_array(),
    };
    enum report_merge_status st = REPORT_MERGE_FAILED;
    if (m.runs == NULL || m.windows == NULL || m.offsets == NULL || m.real == NULL ||
        stats_init(&m.merged) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    m.merged_ok = true;
    st = read_runs(&m, err, errlen);
    if (st == REPORT_MERGE_OK)
        st = add_runs(&m, err, errlen);
    if (st == REPORT_MERGE_OK)
        st = write_merged(&m, summary, err, errlen);
out:
    for (size_t i = 0; m.runs != NULL && i < n; i++) {
        report_run_free(&m.runs[i]);
        if (m.real != NULL)
            free(m.real[i]);
    }
    if (m.merged_ok)
        stats_free(&m.merged);
    json_decref(m.warnings);
    free(m.errors);
    free(m.warm);
    free(m.real);
    free(m.offsets);
    free(m.windows);
    free(m.runs);
    return st;
}
