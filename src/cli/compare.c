/*
 * compare.c - `msrpload compare BASE NEW [--threshold PCT] [--json]`: two run directories side
 * by side, and an exit code a CI job can gate on.
 *
 * Only summary.json is read: it holds every figure compared, and runs written before the .hist
 * files existed still compare. A regression is throughput (messages or payload bytes per
 * second) lower by more than the threshold, or p99 latency higher by more than it: the message
 * kind's, else the chunk kind's when the runs have no message latencies in common.
 *
 * Owns: the command line, the messages and exit codes, and (for now) the comparison rule
 * itself. May not touch: the report files' writing (report/) or any protocol code.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "report/report.h"
#include "report/stats.h"

static void compare_usage(FILE *out)
{
    fprintf(out,
            "usage: msrpload compare BASE NEW [--threshold PCT] [--json]\n"
            "\n"
            "Compares two run directories (as written by 'msrpload run' or 'msrpload merge'):\n"
            "throughput (messages/s, payload bytes/s) and, for each latency kind both runs\n"
            "measured, p50, p90, p99, p99.9 and max, with NEW's change relative to BASE.\n"
            "  --threshold PCT      the change that counts as a regression (default 5):\n"
            "                       throughput lower by more than PCT percent, or p99 latency\n"
            "                       (of messages, else of chunks) higher by more than PCT\n"
            "  --json               print the comparison as one JSON object\n"
            "\n"
            "exit codes: 0 no regression beyond the threshold, 1 NEW regressed,\n"
            "            2 usage error, or a directory without a readable summary.json (or\n"
            "            with a PARTIAL file: a report that was not written whole)\n");
}

/* What one side contributes: its summary.json, checked enough to be compared. */
struct side {
    const char *dir;
    char path[1024];
    json_t *root;
    double msgs_per_s, bytes_per_s;
    json_t *latency; /* latency_us */
};

static int load_side(struct side *s, const char *dir)
{
    s->dir = dir;
    if (report_dir_partial(dir)) {
        fprintf(stderr, "msrpload compare: %s/" REPORT_PARTIAL_FILE ": the report in %s was not "
                        "written whole; it is not compared\n", dir, dir);
        return -1;
    }
    snprintf(s->path, sizeof(s->path), "%s/summary.json", dir);
    json_error_t jerr;
    s->root = json_load_file(s->path, 0, &jerr);
    if (s->root == NULL) {
        FILE *f = fopen(s->path, "r");
        if (f == NULL)
            fprintf(stderr, "msrpload compare: cannot read %s: %s\n", s->path, strerror(errno));
        else
            fprintf(stderr, "msrpload compare: %s: line %d: %s\n", s->path, jerr.line, jerr.text);
        if (f != NULL)
            fclose(f);
        return -1;
    }
    json_t *version = json_object_get(s->root, "version");
    json_t *tp = json_object_get(s->root, "throughput");
    json_t *m = json_object_get(tp, "messages_per_s");
    json_t *b = json_object_get(tp, "payload_bytes_per_s");
    s->latency = json_object_get(s->root, "latency_us");
    const char *bad = NULL;
    if (!json_is_integer(version) || json_integer_value(version) != 1)
        bad = "$.version is not 1";
    else if (!json_is_number(m) || !json_is_number(b))
        bad = "$.throughput.messages_per_s or payload_bytes_per_s is missing";
    else if (!json_is_object(s->latency))
        bad = "$.latency_us is missing";
    if (bad != NULL) {
        fprintf(stderr, "msrpload compare: %s: %s: not an msrpload run summary\n", s->path, bad);
        return -1;
    }
    s->msgs_per_s = json_number_value(m);
    s->bytes_per_s = json_number_value(b);
    return 0;
}

/* A latency kind both runs measured: count > 0 on both sides. */
static bool kind_in_both(const struct side *a, const struct side *b, const char *kind)
{
    json_t *ka = json_object_get(a->latency, kind), *kb = json_object_get(b->latency, kind);
    json_t *ca = json_object_get(ka, "count"), *cb = json_object_get(kb, "count");
    return json_integer_value(ca) > 0 && json_integer_value(cb) > 0;
}

/* NEW's change relative to BASE in percent; NAN when BASE is 0 (no relative change). */
static double change_pct(double base, double now)
{
    if (base == 0)
        return now == 0 ? 0 : NAN;
    return (now - base) / base * 100.0;
}

struct row {
    const char *group; /* "throughput" or a latency kind */
    const char *name;  /* "messages/s", "p99", ... */
    const char *key;   /* JSON name */
    double base, now, change;
    bool integer; /* latency in µs */
    bool checked; /* counts toward the verdict */
    bool regressed;
};

#define MAX_ROWS (2 + LAT__COUNT * 5)

static const char *const pct_keys[] = {"p50", "p90", "p99", "p99.9", "max"};

static void print_number(double v, bool integer)
{
    if (integer)
        printf(" %14.0f", v);
    else
        printf(" %14.1f", v);
}

static void print_table(const struct side *base, const struct side *now, const struct row *rows,
                        size_t n, double threshold)
{
    json_t *bn = json_object_get(json_object_get(base->root, "scenario"), "name");
    json_t *nn = json_object_get(json_object_get(now->root, "scenario"), "name");
    printf("base: %s (%s)\nnew:  %s (%s)\n\n", base->dir,
           json_is_string(bn) ? json_string_value(bn) : "?", now->dir,
           json_is_string(nn) ? json_string_value(nn) : "?");
    printf("%-22s %14s %14s %9s\n", "", "base", "new", "change");
    const char *group = "";
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        if (strcmp(group, r->group) != 0) {
            group = r->group;
            if (strcmp(group, "throughput") == 0)
                printf("throughput\n");
            else
                printf("latency %s (us)\n", group);
        }
        printf("  %-20s", r->name);
        print_number(r->base, r->integer);
        print_number(r->now, r->integer);
        if (isnan(r->change))
            printf(" %9s", "n/a");
        else
            printf(" %+8.1f%%", r->change);
        printf("%s\n", r->regressed ? "  REGRESSION" : "");
    }
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        if (!r->regressed)
            continue;
        printf("%s%s%s%s %+.1f%%", any ? ", " : "\nregressed beyond the threshold (",
               strcmp(r->group, "throughput") == 0 ? "" : r->group,
               strcmp(r->group, "throughput") == 0 ? "" : " ", r->name, r->change);
        if (!any)
            any = true;
    }
    if (any)
        printf("; threshold %g%%)\n", threshold);
    else
        printf("\nno regression beyond %g%%\n", threshold);
}

static json_t *json_figure(const struct row *r)
{
    return json_pack("{s:f, s:f, s:o, s:b}", "base", r->base, "new", r->now, "change_pct",
                     isnan(r->change) ? json_null() : json_real(r->change), "regression",
                     r->regressed);
}

static void print_json(const struct side *base, const struct side *now, const struct row *rows,
                       size_t n, double threshold, bool regressed)
{
    json_t *o = json_pack("{s:s, s:s, s:f}", "base", base->dir, "new", now->dir, "threshold_pct",
                          threshold);
    json_t *tp = json_object(), *lat = json_object(), *regs = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        char metric[96];
        if (strcmp(r->group, "throughput") == 0) {
            json_object_set_new(tp, r->key, json_figure(r));
            snprintf(metric, sizeof(metric), "throughput.%s", r->key);
        } else {
            json_t *k = json_object_get(lat, r->group);
            if (k == NULL) {
                k = json_object();
                json_object_set_new(lat, r->group, k);
            }
            json_object_set_new(k, r->key, json_figure(r));
            snprintf(metric, sizeof(metric), "latency_us.%s.%s", r->group, r->key);
        }
        if (r->regressed)
            json_array_append_new(
                regs, json_pack("{s:s, s:f}", "metric", metric, "change_pct", r->change));
    }
    json_object_set_new(o, "throughput", tp);
    json_object_set_new(o, "latency_us", lat);
    json_object_set_new(o, "regressions", regs);
    json_object_set_new(o, "regressed", json_boolean(regressed));
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    json_decref(o);
}

int cmd_compare(int argc, char **argv)
{
    const char *dirs[2];
    int ndirs = 0;
    double threshold = 5.0;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            compare_usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "--json") == 0) {
            as_json = true;
        } else if (strcmp(a, "--threshold") == 0) {
            const char *v = i + 1 < argc ? argv[++i] : NULL;
            char *end = NULL;
            double t = v != NULL ? strtod(v, &end) : -1;
            if (end != NULL && *end == '%')
                end++;
            if (v == NULL || end == v || *end != '\0' || !(t >= 0) || t > 1e6) {
                fprintf(stderr,
                        "msrpload compare: --threshold takes a percentage >= 0, got "
                        "'%s'\n",
                        v != NULL ? v : "");
                return EXIT_USAGE;
            }
            threshold = t;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "msrpload compare: unknown option '%s'\n\n", a);
            compare_usage(stderr);
            return EXIT_USAGE;
        } else if (ndirs < 2) {
            dirs[ndirs++] = a;
        } else {
            fprintf(stderr, "msrpload compare: exactly two run directories, BASE and NEW\n");
            return EXIT_USAGE;
        }
    }
    if (ndirs != 2) {
        compare_usage(stderr);
        return EXIT_USAGE;
    }

    struct side base = {0}, now = {0};
    if (load_side(&base, dirs[0]) != 0 || load_side(&now, dirs[1]) != 0) {
        json_decref(base.root);
        json_decref(now.root);
        return EXIT_USAGE;
    }
    json_t *bn = json_object_get(json_object_get(base.root, "scenario"), "name");
    json_t *nn = json_object_get(json_object_get(now.root, "scenario"), "name");
    if (json_is_string(bn) && json_is_string(nn) &&
        strcmp(json_string_value(bn), json_string_value(nn)) != 0)
        fprintf(stderr, "msrpload compare: warning: the scenarios differ (%s, %s)\n",
                json_string_value(bn), json_string_value(nn));
    for (int s = 0; s < 2; s++) {
        const struct side *x = s == 0 ? &base : &now;
        json_t *inc = json_object_get(json_object_get(x->root, "run"), "incomplete");
        if (json_is_true(inc))
            fprintf(stderr, "msrpload compare: warning: %s was stopped early (incomplete)\n",
                    x->dir);
    }

    struct row rows[MAX_ROWS];
    size_t n = 0;
    rows[n++] = (struct row){.group = "throughput",
                             .name = "messages/s",
                             .key = "messages_per_s",
                             .base = base.msgs_per_s,
                             .now = now.msgs_per_s,
                             .checked = true};
    rows[n++] = (struct row){.group = "throughput",
                             .name = "payload bytes/s",
                             .key = "payload_bytes_per_s",
                             .base = base.bytes_per_s,
                             .now = now.bytes_per_s,
                             .checked = true};
    const char *p99_kind =
        kind_in_both(&base, &now, lat_kind_name(LAT_MESSAGE)) ? lat_kind_name(LAT_MESSAGE)
        : kind_in_both(&base, &now, lat_kind_name(LAT_CHUNK)) ? lat_kind_name(LAT_CHUNK)
                                                              : NULL;
    for (int k = 0; k < LAT__COUNT; k++) {
        const char *kind = lat_kind_name((enum lat_kind)k);
        if (!kind_in_both(&base, &now, kind))
            continue;
        json_t *kb = json_object_get(base.latency, kind), *kn = json_object_get(now.latency, kind);
        for (size_t p = 0; p < sizeof(pct_keys) / sizeof(pct_keys[0]); p++) {
            json_t *vb = json_object_get(kb, pct_keys[p]), *vn = json_object_get(kn, pct_keys[p]);
            if (!json_is_number(vb) || !json_is_number(vn)) {
                const struct side *bad = json_is_number(vb) ? &now : &base;
                fprintf(stderr, "msrpload compare: %s: $.latency_us.%s.%s is missing\n", bad->path,
                        kind, pct_keys[p]);
                json_decref(base.root);
                json_decref(now.root);
                return EXIT_USAGE;
            }
            rows[n++] = (struct row){.group = kind,
                                     .name = pct_keys[p],
                                     .key = pct_keys[p],
                                     .base = json_number_value(vb),
                                     .now = json_number_value(vn),
                                     .integer = true,
                                     .checked = p99_kind != NULL && strcmp(kind, p99_kind) == 0 &&
                                                strcmp(pct_keys[p], "p99") == 0};
        }
    }
    /*
     * The verdict: lower is worse for throughput, higher is worse for latency. A base of 0
     * has no relative change (n/a) and never counts as a regression.
     */
    bool regressed = false;
    for (size_t i = 0; i < n; i++) {
        struct row *r = &rows[i];
        r->change = change_pct(r->base, r->now);
        if (!r->checked || isnan(r->change))
            continue;
        bool throughput = strcmp(r->group, "throughput") == 0;
        r->regressed = throughput ? r->change < -threshold : r->change > threshold;
        regressed = regressed || r->regressed;
    }
    if (as_json)
        print_json(&base, &now, rows, n, threshold, regressed);
    else
        print_table(&base, &now, rows, n, threshold);
    json_decref(base.root);
    json_decref(now.root);
    return regressed ? EXIT_FAILED : EXIT_OK;
}
