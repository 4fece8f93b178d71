/*
 * run_capacity.c - `msrpload run SCENARIO --find-capacity --slo '...'`: the search for the
 * highest open-loop rate that meets an SLO over a full step.
 *
 * Each step is its own run of the scenario (runner_run) at one rate: warm-up first (sessions
 * bind and AUTH, not measured), then the measured step. Its report goes to step-NN/ beside
 * capacity.json and capacity.svg, so that every figure can be checked against a whole report.
 * The rate follows load/capacity.c's search; a signal stops after the current step.
 *
 * Owns: the options, the steps' set-up, the lines printed and the exit code. May not touch:
 * the SLO and search rules (load/capacity.c), the files' text (report/capacity.c).
 */
#include "cli/run_capacity.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "report/capacity.h"
#include "report/report.h"

#define MAX_CAPACITY_RATE 1e7
#define MAX_STEP_S 3600.0

void capacity_options_init(struct capacity_options *o)
{
    memset(o, 0, sizeof(*o));
    o->start = CAPACITY_DEFAULT_START;
    o->max = CAPACITY_DEFAULT_MAX;
    o->factor = CAPACITY_DEFAULT_FACTOR;
    o->resolution = CAPACITY_DEFAULT_RESOLUTION;
    o->step_s = CAPACITY_DEFAULT_STEP_S;
    o->warm_up_s = CAPACITY_DEFAULT_WARM_UP_S;
    o->max_steps = CAPACITY_DEFAULT_STEPS;
}

/* A number from lo (exclusive unless lo_ok) to hi; -1 with a message naming the option. */
static int number(const char *opt, const char *v, double lo, bool lo_ok, double hi, double *out,
                  char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !isfinite(d) || d < lo || (!lo_ok && d == lo) ||
        d > hi) {
        snprintf(err, errlen, "%s takes a number %s %g and at most %g, got '%s'", opt,
                 lo_ok ? ">=" : ">", lo, hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

int capacity_option(struct capacity_options *o, const char *opt, const char *v, char *err,
                    size_t errlen)
{
    if (strcmp(opt, "--find-capacity") == 0) {
        o->on = true;
        return 2;
    }
    double d = 0;
    int rc = 0;
    if (strcmp(opt, "--slo") == 0 || strcmp(opt, "--capacity-start") == 0 ||
        strcmp(opt, "--capacity-max") == 0 || strcmp(opt, "--capacity-factor") == 0 ||
        strcmp(opt, "--capacity-resolution") == 0 ||
        strcmp(opt, "--capacity-step-seconds") == 0 ||
        strcmp(opt, "--capacity-warm-up") == 0 || strcmp(opt, "--capacity-max-steps") == 0) {
        if (v == NULL) {
            snprintf(err, errlen, "%s needs a value", opt);
            return -1;
        }
    } else {
        return 0;
    }
    if (strcmp(opt, "--slo") == 0) {
        o->slo = v;
        return capacity_slo_parse("--slo", v, &o->parsed, err, errlen) == 0 ? 1 : -1;
    }
    if (strcmp(opt, "--capacity-start") == 0)
        rc = number(opt, v, 0, false, MAX_CAPACITY_RATE, &o->start, err, errlen);
    else if (strcmp(opt, "--capacity-max") == 0)
        rc = number(opt, v, 0, false, MAX_CAPACITY_RATE, &o->max, err, errlen);
    else if (strcmp(opt, "--capacity-factor") == 0)
        rc = number(opt, v, 1, false, 100, &o->factor, err, errlen);
    else if (strcmp(opt, "--capacity-resolution") == 0) {
        /* a percentage: 5 or 5% */
        char buf[32];
        size_t n = strlen(v);
        snprintf(buf, sizeof(buf), "%.*s", (int)(n > 0 && v[n - 1] == '%' ? n - 1 : n), v);
        rc = number(opt, buf, 0, false, 50, &d, err, errlen);
        o->resolution = d / 100;
    } else if (strcmp(opt, "--capacity-step-seconds") == 0)
        rc = number(opt, v, 0, false, MAX_STEP_S, &o->step_s, err, errlen);
    else if (strcmp(opt, "--capacity-warm-up") == 0)
        rc = number(opt, v, 0, true, MAX_STEP_S, &o->warm_up_s, err, errlen);
    else {
        rc = number(opt, v, 1, true, CAPACITY_MAX_STEPS, &d, err, errlen);
        if (rc == 0 && d != floor(d)) {
            snprintf(err, errlen, "%s takes a whole number of steps, got '%s'", opt, v);
            rc = -1;
        }
        o->max_steps = (unsigned)d;
    }
    return rc == 0 ? 1 : -1;
}

int capacity_options_check(struct capacity_options *o, const struct scenario_overrides *over,
                           bool metrics, char *err, size_t errlen)
{
    if (!o->on) {
        if (o->slo != NULL) {
            snprintf(err, errlen, "--slo goes with --find-capacity");
            return -1;
        }
        return 0;
    }
    const char *beside = over->rate > 0       ? "--rate (the search sets the rate of each step)"
                         : over->duration > 0 ? "--duration (use --capacity-step-seconds)"
                         : over->shard_count > 0 ? "--shard (the search runs on one host)"
                         : metrics ? "--metrics-listen (not served across the search's steps)"
                                   : NULL;
    if (beside != NULL) {
        snprintf(err, errlen, "--find-capacity does not go with %s", beside);
        return -1;
    }
    if (o->slo == NULL) {
        snprintf(err, errlen, "--find-capacity needs --slo, e.g. --slo 'p99<50ms,errors<0.1%%'");
        return -1;
    }
    char why[160];
    if (capacity_search_init(&o->search, o->start, o->max, o->factor, o->resolution,
                             o->max_steps, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "--find-capacity: %s (--capacity-start, --capacity-max, "
                              "--capacity-factor, --capacity-resolution, --capacity-max-steps)",
                 why);
        return -1;
    }
    return 0;
}

/* A latency for the terminal: "850 us", "12.3 ms", "over the range". */
static void lat(double us, char *out, size_t cap)
{
    if (!isfinite(us))
        snprintf(out, cap, "beyond range");
    else if (us >= 1e3)
        snprintf(out, cap, "%.3g ms", us / 1e3);
    else
        snprintf(out, cap, "%.0f us", us);
}

static void print_row(const struct capacity_row *r)
{
    char p50[32], p99[32];
    lat(r->p50_us, p50, sizeof(p50));
    lat(r->p99_us, p99, sizeof(p99));
    printf("step %2u: %8g msg/s requested, %9.1f sent/s, %9.1f ok/s, p50 %s, p99 %s, errors "
           "%.3g%% (%llu of %llu): %s%s\n",
           r->index, r->requested, r->achieved, r->ok_rate, p50, p99, r->errors * 100,
           (unsigned long long)r->failed, (unsigned long long)(r->ok + r->failed),
           r->met ? "" : "FAILED: ", r->why);
    fflush(stdout);
}

/* The tightest latency bound of the SLO in microseconds, for the plot; 0 without one. */
static double slo_latency(const struct capacity_slo *slo)
{
    double b = 0;
    for (unsigned i = 0; i < slo->num_terms; i++)
        if (slo->terms[i].metric == CAP_LATENCY && (b == 0 || slo->terms[i].bound < b))
            b = slo->terms[i].bound;
    return b;
}

/* One step: its run, its report in dir/step-NN, its row. Returns 0, or -1 when the run could
 * not start (err set). */
static int run_step(struct scenario *sc, const struct scenario_overrides *over,
                    struct run_config *rc, struct capacity_options *o, const char *dir,
                    double rate, struct capacity_row *row, bool *unreachable, char *err,
                    size_t errlen)
{
    sc->rate = rate;
    struct run_stats stats;
    struct run_outcome outcome;
    if (stats_init(&stats) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (runner_run(rc, &stats, &outcome, err, errlen) != 0) {
        free(outcome.failures);
        stats_free(&stats);
        return -1;
    }
    capacity_measure(&stats, rate, outcome.measured_s, o->step_s, row);
    capacity_measure_percentiles(&o->parsed, &stats, row);
    row->interrupted = outcome.incomplete;
    capacity_judge(&o->parsed, row);
    if (!row->met && outcome.first_error[0] != '\0' && row->failed + row->sessions_failed > 0) {
        size_t n = strlen(row->why);
        snprintf(row->why + n, sizeof(row->why) - n, "; first error: %s", outcome.first_error);
        /* The peer's text, perhaps cut inside a UTF-8 sequence: ASCII only, so that JSON
         * takes it (json_pack refuses invalid UTF-8, and capacity.json would be lost). */
        for (char *c = row->why + n; *c != '\0'; c++)
            if ((unsigned char)*c >= 0x7f || (unsigned char)*c < 0x20)
                *c = '?';
    }
    *unreachable = outcome.unreachable;

    char sub[1024], made[1024], why[512];
    snprintf(row->dir, sizeof(row->dir), "step-%02u", row->index);
    snprintf(sub, sizeof(sub), "%s/%s", dir, row->dir);
    if (report_make_dir(NULL, sub, sc->name, outcome.started_unix, made, sizeof(made), why,
                        sizeof(why)) != 0) {
        fprintf(stderr, "msrpload run: step %u's report: %s\n", row->index, why);
        row->dir[0] = '\0';
    } else if (run_report_write(sc, over, &stats, &outcome, made, false) != 0) {
        row->dir[0] = '\0'; /* run_report_write said why; PARTIAL in it too */
    }
    free(outcome.failures);
    stats_free(&stats);
    return 0;
}

int run_capacity(struct scenario *sc, const struct scenario_overrides *over,
                 struct run_config *rc, struct capacity_options *o, const char *dir, bool quiet)
{
    /* Every step the same load but its rate: open loop, no stages, sessions replaced as they
     * end for the whole step, the step's own warm-up and length. */
    sc->mode = SCENARIO_OPEN;
    sc->num_stages = 0;
    sc->sessions = SCENARIO_MAX_SESSIONS;
    /* The sessions' own ramp (load.ramp_up, or concurrency at session_rate) stays out of
     * the measured window: the warm-up lasts at least as long. */
    double ramp = sc->ramp_up_s;
    if (sc->session_rate > 0 && (double)sc->concurrency / sc->session_rate > ramp)
        ramp = (double)sc->concurrency / sc->session_rate;
    if (ramp > o->warm_up_s) {
        if (!quiet)
            fprintf(stderr, "msrpload run: each step's warm-up is %g s, the time the "
                            "scenario takes to open its sessions\n", ramp);
        o->warm_up_s = ramp;
    }
    sc->warm_up_s = o->warm_up_s;
    sc->duration_s = o->step_s;

    char slo_text[256], err[1024];
    capacity_slo_format(&o->parsed, slo_text, sizeof(slo_text));
    if (!quiet)
        fprintf(stderr,
                "msrpload run: finding the capacity for %s: steps of %g s after %g s of "
                "warm-up, from %g msg/s (x%g, at most %g msg/s, %u steps)\n",
                slo_text, o->step_s, o->warm_up_s, o->start, o->factor, o->max, o->max_steps);
    struct capacity_row rows[CAPACITY_MAX_STEPS];
    memset(rows, 0, sizeof(rows));
    unsigned n = 0;
    bool unreachable = false, failed_to_run = false, interrupted = false;
    struct timespec t0;
    clock_gettime(CLOCK_REALTIME, &t0);
    for (double rate; n < CAPACITY_MAX_STEPS && (rate = capacity_search_next(&o->search)) > 0;) {
        if (*rc->stop != 0) {
            interrupted = true;
            break;
        }
        struct capacity_row *row = &rows[n];
        row->index = n + 1;
        if (run_step(sc, over, rc, o, dir, rate, row, &unreachable, err, sizeof(err)) != 0) {
            fprintf(stderr, "msrpload run: step %u at %g msg/s: %s\n", n + 1, rate, err);
            failed_to_run = true;
            break;
        }
        n++;
        print_row(row);
        interrupted = row->interrupted;
        if (interrupted)
            break;
        capacity_search_record(&o->search, rate, row->met);
        if (unreachable && o->search.best_met == 0)
            break; /* nothing bound at all: the next steps would not either */
    }

    const char *end = interrupted     ? "interrupted"
                      : failed_to_run ? "could-not-run"
                      : unreachable && o->search.best_met == 0 ? "unreachable"
                                                               : capacity_search_end(&o->search);
    struct capacity_doc doc = {
        .scenario = sc->name, .version = msrpload_version(), .slo = slo_text,
        .topology = sc->topology == SCENARIO_TARGET  ? "target"
                    : sc->topology == SCENARIO_RELAY ? "relay"
                                                     : "embedded",
        .latency_kind = "message-corrected", .started_unix = (double)t0.tv_sec,
        .start = o->start, .max = o->max, .factor = o->factor, .resolution = o->resolution,
        .step_s = o->step_s, .warm_up_s = o->warm_up_s, .max_steps = o->max_steps,
        .capacity = o->search.best_met, .first_failed = o->search.lowest_fail,
        .slo_latency_us = slo_latency(&o->parsed), .end = end, .rows = rows, .num_rows = n};
    size_t jlen = 0, slen = 0;
    char *json = capacity_json_text(&doc, &jlen);
    char *svg = capacity_svg_text(&doc, &slen);
    int werr = json == NULL || svg == NULL ? ENOMEM : 0;
    if (json == NULL || svg == NULL)
        snprintf(err, sizeof(err), "out of memory for capacity.json and capacity.svg");
    if (werr == 0)
        werr = report_write_file(dir, "capacity.json", json, jlen, err, sizeof(err));
    if (werr == 0)
        werr = report_write_file(dir, "capacity.svg", svg, slen, err, sizeof(err));
    if (werr == 0)
        werr = report_finish_dir(dir, err, sizeof(err));
    free(json);
    free(svg);
    if (werr != 0)
        fprintf(stderr, "msrpload run: %s (%s/" REPORT_PARTIAL_FILE " marks it partial)\n", err,
                dir);

    if (o->search.best_met > 0) {
        /* The step that set it: what it really sent and had answered, beside what it asked. */
        const struct capacity_row *best = NULL;
        for (unsigned i = 0; i < n; i++)
            if (rows[i].met && rows[i].requested == o->search.best_met)
                best = &rows[i];
        printf("capacity: %g msg/s requested (%.1f sent/s, %.1f ok/s) met %s over a full %g s "
               "step", o->search.best_met, best != NULL ? best->achieved : 0,
               best != NULL ? best->ok_rate : 0, slo_text, o->step_s);
        if (o->search.lowest_fail > 0)
            printf("; %g msg/s did not", o->search.lowest_fail);
        else if (strcmp(end, "max-rate") == 0)
            printf("; that is --capacity-max: the capacity may be higher");
        printf(" (%u steps, search ended: %s)\n", n, end);
    } else {
        printf("capacity: none: %s\n",
               n == 0 ? "no step ran" : "the first step did not meet the SLO (try a lower "
                                        "--capacity-start)");
    }
    if (werr == 0)
        printf("capacity report: %s/capacity.json, %s/capacity.svg\n", dir, dir);
    fflush(stdout);

    if (interrupted && run_stop_signal() != 0)
        return 128 + run_stop_signal();
    /* A search cut short by a step that could not start is not an answer. */
    if (o->search.best_met > 0)
        return werr == 0 && !failed_to_run ? EXIT_OK : EXIT_FAILED;
    if (unreachable)
        return EXIT_UNREACHABLE;
    return EXIT_FAILED;
}
