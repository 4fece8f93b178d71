/*
 * run_capacity.h - `msrpload run --find-capacity`: its options and the search's driver
 * (run_capacity.c), and what it shares with run.c (the report of one run, the signal).
 * Private to src/cli/.
 */
#ifndef MSRPLOAD_CLI_RUN_CAPACITY_H
#define MSRPLOAD_CLI_RUN_CAPACITY_H

#include <stdbool.h>
#include <stddef.h>

#include "load/capacity.h"
#include "load/runner.h"
#include "scenario/scenario.h"

/* Defaults of the options (README "Finding a relay's capacity" and --help say them). */
#define CAPACITY_DEFAULT_START 100.0
#define CAPACITY_DEFAULT_MAX 100000.0
#define CAPACITY_DEFAULT_FACTOR 2.0
#define CAPACITY_DEFAULT_RESOLUTION 0.05
#define CAPACITY_DEFAULT_STEP_S 10.0
#define CAPACITY_DEFAULT_WARM_UP_S 2.0
#define CAPACITY_DEFAULT_STEPS 20u

struct capacity_options {
    bool on;         /* --find-capacity */
    const char *slo; /* --slo, as given */
    double start, max, factor, resolution, step_s, warm_up_s;
    unsigned max_steps;
    struct capacity_slo parsed;
    struct capacity_search search;
};

void capacity_options_init(struct capacity_options *o);
/*
 * Reads one of the capacity options: returns 2 when opt is --find-capacity (no value), 1 when
 * it took v as the value of another, 0 when opt is none of them, -1 when v is wrong (message
 * in err naming the option).
 */
int capacity_option(struct capacity_options *o, const char *opt, const char *v, char *err,
                    size_t errlen);
/*
 * Checks the options together and against the command line's other overrides (--rate,
 * --duration, --shard and --metrics-listen do not go with --find-capacity; the options need
 * --find-capacity, which needs --slo). Returns 0, or -1 with a message in err.
 */
int capacity_options_check(struct capacity_options *o, const struct scenario_overrides *over,
                           bool metrics, char *err, size_t errlen);
/*
 * Runs the search: each step a run of sc at one open-loop rate (sc is changed: open mode, no
 * stages, sessions replaced as they end), its report in dir/step-NN, then capacity.json and
 * capacity.svg in dir, which it finishes. Returns the exit code.
 */
int run_capacity(struct scenario *sc, const struct scenario_overrides *over,
                 struct run_config *rc, struct capacity_options *o, const char *dir,
                 bool quiet);

/* run.c: one run's report into dir (made by report_make_dir), its summary printed when
 * summary; returns the run's exit code (without summary: 0, or 1 when a file failed). */
int run_report_write(const struct scenario *sc, const struct scenario_overrides *over,
                     const struct run_stats *stats, const struct run_outcome *outcome,
                     const char *dir, bool summary);
/* run.c: the first signal that asked the run to stop, or 0. */
int run_stop_signal(void);

#endif
