/*
 * failures.h - failure forensics for `msrpload run`: per failure kind a count and the first
 * few examples, each with the session, its peer, when it happened (seconds from the start of
 * the run), what was said about it, and the last frames exchanged on its connection.
 *
 * Each worker keeps its own log (no locks); the runner merges them after the join, keeping
 * each kind's earliest examples. Recording costs nothing until a failure happens: the frames
 * come from the session's trace ring (msrp/trace.h), copied only here. Written as
 * errors.jsonl (README "Reports") and summarised in the terminal summary.
 *
 * Owns: the per-kind counts and examples and their two renderings (JSON lines, summary text).
 * May not touch: files (the caller writes what failure_jsonl returns), the statistics.
 */
#ifndef MSRPLOAD_LOAD_FAILURES_H
#define MSRPLOAD_LOAD_FAILURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msrp/trace.h"
#include "report/stats.h"

#define FAILURE_EXAMPLES 3
/* Kinds: the session end kinds (runner_end_name, below STATS_END_KINDS), then these. */
#define FAILURE_EXPECTATION STATS_END_KINDS          /* an outcome not as the scenario expects */
#define FAILURE_UNBOUND_AT_END (STATS_END_KINDS + 1) /* cut off by the end, never bound */
#define FAILURE_KINDS (STATS_END_KINDS + 2)

struct failure_example {
    double t_s;                 /* seconds from the start of the run */
    char session[96];           /* the calling session's URI */
    char peer[96];              /* its peer: an address, or the relay or target URI */
    char detail[256];
    unsigned nframes;
    struct msrp_trace_frame frames[MSRP_TRACE_FRAMES]; /* at_ns made relative to the start */
};

struct failure_kind_log {
    uint64_t count;
    unsigned n;                 /* examples kept */
    struct failure_example ex[FAILURE_EXAMPLES];
};

struct failure_log {
    uint64_t t0_ns;             /* CLOCK_MONOTONIC at the start of the run */
    double started_unix;        /* the same moment, wall clock (for the examples' times) */
    struct failure_kind_log kinds[FAILURE_KINDS];
};

/* The kind's name in errors.jsonl: "peer-closed", ..., "expectation", "unbound-at-end". */
const char *failure_kind_name(unsigned kind);

/* Whether one more failure of kind would be kept as an example (so that its text is worth
 * formatting). */
bool failure_wants_example(const struct failure_log *log, unsigned kind);

/*
 * Counts one failure of kind, and keeps it as an example while the kind has fewer than
 * FAILURE_EXAMPLES. trace may be NULL (no frames: e.g. a connect that never happened).
 */
void failure_note(struct failure_log *log, unsigned kind, uint64_t now_ns, const char *session,
                  const char *peer, const char *detail, const struct msrp_trace *trace);

/* dst += src: counts add, each kind keeps its earliest FAILURE_EXAMPLES examples. */
void failure_merge(struct failure_log *dst, const struct failure_log *src);

/* errors.jsonl: one JSON object per line for each kind that happened (README "Reports").
 * Returns a malloc'd text ("" when nothing failed) and its length, or NULL out of memory. */
char *failure_jsonl(const struct failure_log *log, size_t *len);

/* The terminal summary's lines about failures ("" when nothing failed); malloc'd or NULL. */
char *failure_summary(const struct failure_log *log);

#endif
