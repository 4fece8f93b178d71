/*
 * results.h - what a conformance run prints and writes about its cases: one line per case
 * (with the detail of those not met), TAP version 13, a JUnit XML file (one testsuite per RFC
 * section) and a JSON file, and the counts of the run's verdicts with the closing summary line.
 *
 * The writers only format: they run no case (conform.h does) and read no option (the
 * command line does). Every function writes to the stream or path it is given; none keeps
 * state between calls. Thread safety: none needed beyond the caller's streams.
 */
#ifndef MSRPLOAD_CONFORM_RESULTS_H
#define MSRPLOAD_CONFORM_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "conform/conform.h"
#include "scenario/scenario.h"

/* One case of a run and its outcome. */
struct conform_item {
    struct scenario sc;      /* the case file (sc.kase is set) */
    struct conform_result r; /* its verdict; set by the caller also when it did not run */
    bool ran;                /* false: skipped before it ran (--quick, an unreachable peer) */
};

/* The verdicts of a run, counted. */
struct conform_tally {
    size_t passed, failed, non_strict, info, unobservable, skipped;
    size_t counted; /* the ones that make the exit code fail */
};

/* "MUST", "SHOULD", "MAY", "none". */
const char *conform_level_name(enum case_level l);

/* Whether verdict v makes a run fail: fail and unreachable, and non-strict under strict. */
bool conform_verdict_counts(enum conform_verdict v, bool strict);
void conform_tally_add(struct conform_tally *t, enum conform_verdict v, bool strict);

/* The line of a case ("pass  ID", "skip  ID (MAY): why", ...), followed by its requirement,
 * expectation, observation and wire exchange when it was not met (or always with verbose).
 * Flushes f. */
void conform_results_print_case(FILE *f, const struct conform_item *it, bool verbose);

/* TAP version 13: the header for n cases, then case number (from 1) with a YAML block for
 * what did not pass. */
void conform_results_tap_plan(FILE *f, size_t n);
void conform_results_tap_case(FILE *f, size_t number, const struct conform_item *it,
                              bool strict);

/* The closing line with the counts of n cases ("# " before it under TAP, an empty line
 * otherwise). */
void conform_results_print_summary(FILE *f, const struct conform_tally *t, size_t n, bool strict,
                                   enum conform_delivery delivery, bool tap);

/*
 * Write the JUnit XML (one testsuite per RFC section; items sorted by id) or the JSON report
 * of n cases to path. version is msrpload's, for the JSON's generator; peer is the target or
 * relay URI; name the implementation's name (conform --name, the column title of
 * conform-report). The JSON holds every case's wire exchange, passes included. Return 0, or -1 with "path: reason" in err.
 */
int conform_results_write_junit(const char *path, struct conform_item *const *items, size_t n,
                                bool strict, char *err, size_t errlen);
int conform_results_write_json(const char *path, struct conform_item *const *items, size_t n,
                               const char *peer, const char *name, const char *version,
                               char *err, size_t errlen);

#endif
