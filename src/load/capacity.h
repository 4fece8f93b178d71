/*
 * capacity.h - the pure logic of `msrpload run --find-capacity`: the SLO (--slo) read and
 * checked, one step's figures taken from its run_stats, the verdict of a step against the SLO,
 * and the search that picks the next open-loop rate (raise by a factor until a step fails, then
 * bisect between the highest rate that met the SLO and the lowest that did not).
 *
 * Owns: the SLO grammar and its messages, what "met over a full step" means, the search's
 * decisions and bounds. May not touch: running a step (cli/run_capacity.c drives runner_run),
 * the files capacity.json and capacity.svg (report/capacity.c). No I/O, no clock, no state
 * outside the structs handed in, so that every rule is unit-tested (tests/check_capacity.c).
 */
#ifndef MSRPLOAD_LOAD_CAPACITY_H
#define MSRPLOAD_LOAD_CAPACITY_H

#include <stdbool.h>
#include <stddef.h>

#include "report/capacity.h"
#include "report/stats.h"

#define CAPACITY_MAX_TERMS 8
/* The hard bound of steps, whatever --capacity-max-steps says. */
#define CAPACITY_MAX_STEPS 64
/* A step counts as full when its measured window is at least this share of the step. */
#define CAPACITY_FULL_STEP 0.95

enum capacity_metric {
    CAP_LATENCY = 0, /* pNN: a percentile of the message latency, from the intended send time */
    CAP_ERRORS,      /* failed messages / (ok + failed), after warm-up */
    CAP_ACHIEVED,    /* messages sent / messages the schedule asked for, after warm-up */
};

struct capacity_term {
    enum capacity_metric metric;
    double percentile; /* CAP_LATENCY: 0 < p < 100 */
    bool inclusive;    /* <= or >= rather than < or > */
    double bound;      /* microseconds (latency) or a fraction 0..1 (errors, achieved) */
    char text[32];     /* the term as written back, e.g. "p99<50ms" */
};

struct capacity_slo {
    struct capacity_term terms[CAPACITY_MAX_TERMS];
    unsigned num_terms;
    bool achieved_default; /* no achieved term was given: achieved>=95% was added */
};

/* The share of the requested rate a step must have sent when the SLO names none. */
#define CAPACITY_ACHIEVED_DEFAULT 0.95

/*
 * Reads an SLO such as "p99<50ms,errors<0.1%": terms separated by commas, spaces allowed
 * between tokens. A term is pNN (0 < NN < 100, decimals allowed: p99.9) with < or <= and a
 * duration in us, ms or s; errors with < or <= and a percentage; achieved with > or >= and a
 * percentage. Each metric at most once (each percentile once). When no achieved term is given,
 * achieved>=95% is added. Returns 0, or -1 with a message in err naming the option (opt, e.g.
 * "--slo"), the 1-based offending byte and what was expected there.
 */
int capacity_slo_parse(const char *opt, const char *text, struct capacity_slo *out, char *err,
                       size_t errlen);
/* The SLO written back, e.g. "p99<50ms,errors<0.1%,achieved>=95%", into out (truncated). */
void capacity_slo_format(const struct capacity_slo *slo, char *out, size_t cap);

/*
 * One step's figures from its merged statistics (warm-up already excluded by the runner):
 * requested is the step's rate, measured_s its measured window, step_s the window it should
 * have had. Latency percentiles are of LAT_MESSAGE_CORRECTED (open loop: from each message's
 * intended send time), falling back to LAT_MESSAGE when that holds no sample. Fills the
 * figures of *row (rate, achieved, ok rate, p50, p99, errors, counts); not its verdict.
 */
void capacity_measure(const struct run_stats *st, double requested, double measured_s,
                      double step_s, struct capacity_row *row);
/*
 * The verdict of a measured row against the SLO: sets row->met and row->why (the first term
 * that failed, with the figure, e.g. "p99 73.2 ms >= 50 ms"; or "met"). A step that measured
 * no message, or less than CAPACITY_FULL_STEP of its window, fails whatever the terms say.
 * row->latency_us[] must hold each SLO percentile (capacity_measure_percentiles).
 */
void capacity_judge(const struct capacity_slo *slo, struct capacity_row *row);
/* Fills row->slo_us[i] with the latency percentile each SLO term names (0 for other terms). */
void capacity_measure_percentiles(const struct capacity_slo *slo, const struct run_stats *st,
                                  struct capacity_row *row);

/*
 * The search. Rates go start, start*factor, start*factor^2, ... (never above max; the last
 * one is max itself) while steps meet the SLO; after the first that fails, the midpoint of the
 * highest rate met and the lowest failed, until they are within `resolution` (a fraction of
 * the rate met) or max_steps have run. Rates of 10/s and more are whole numbers.
 */
struct capacity_search {
    double start, max, factor, resolution;
    unsigned max_steps;
    unsigned steps;     /* recorded so far */
    double best_met;    /* highest rate that met the SLO; 0: none yet */
    double lowest_fail; /* lowest rate that failed; 0: none yet */
    double last;        /* the rate capacity_search_next last returned */
};

/* Checks the bounds (0 < start <= max, factor > 1, 0 < resolution < 1, 1 <= max_steps <=
 * CAPACITY_MAX_STEPS); returns 0 or -1 with a message in err. */
int capacity_search_init(struct capacity_search *s, double start, double max, double factor,
                         double resolution, unsigned max_steps, char *err, size_t errlen);
/* The next rate to try, or 0 when the search is over. */
double capacity_search_next(struct capacity_search *s);
/* Records the verdict of the step at the rate capacity_search_next returned. */
void capacity_search_record(struct capacity_search *s, double rate, bool met);
/* Why the search ended, for the summary: "resolution", "max-steps", "max-rate" (the highest
 * rate allowed met the SLO), "first-failed" or "" while it goes on. */
const char *capacity_search_end(const struct capacity_search *s);

#endif
