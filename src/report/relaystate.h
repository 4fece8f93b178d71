/*
 * relaystate.h - the relay's state as `msrpload run --relay-state CMD` samples it: the series
 * of what CMD printed, the verdict after the run (sessions the relay kept, memory growth per
 * thousand sessions churned) and their rendering (summary.json "relay_state", relay-state.csv,
 * the summary's verdict line).
 *
 * CMD's output format (README "Leak checks on the relay"): one `name value` a line, name of
 * letters, digits, '_', '.' and '-' (at most RELAY_STATE_NAME_MAX - 1 characters), value a
 * finite number (strtod's syntax: 12, 1.5, 2e6), separated by blanks; empty lines and lines
 * starting with '#' are skipped. Any other line is a warning naming it, never an error: the
 * sample keeps the lines that parsed. Well-known names: `sessions` (the relay's session
 * entries), `shm_used_bytes` and `rss_bytes` (memory); any other name is recorded as well.
 *
 * A bottom-layer file like the rest of report/: it runs no command and starts no thread (the
 * sampler is cli/relay_state.c); it keeps at most RELAY_STATE_MAX_SAMPLES samples of at most
 * RELAY_STATE_MAX_NAMES names, thinning the run's samples by half when full.
 */
#ifndef MSRPLOAD_REPORT_RELAYSTATE_H
#define MSRPLOAD_REPORT_RELAYSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RELAY_STATE_NAME_MAX 48
#define RELAY_STATE_MAX_NAMES 32
#define RELAY_STATE_MAX_SAMPLES 4096

/* When a sample was taken: before the load, while it ran, while the grace period ran after
 * it, and the last one after the grace period (the one the verdict compares). */
enum relay_state_phase {
    RELAY_STATE_BEFORE,
    RELAY_STATE_DURING,
    RELAY_STATE_GRACE,
    RELAY_STATE_AFTER,
};
const char *relay_state_phase_name(enum relay_state_phase p);

struct relay_state_sample {
    double unix_s;                 /* wall clock when the command was started */
    enum relay_state_phase phase;
    uint32_t has;                  /* bit i: values[i] was printed (names[i]) */
    double values[RELAY_STATE_MAX_NAMES];
};

struct relay_state {
    char names[RELAY_STATE_MAX_NAMES][RELAY_STATE_NAME_MAX]; /* in the order first seen */
    unsigned num_names;
    struct relay_state_sample *samples;
    size_t len, cap;
    size_t thinned;                /* times the run's samples were halved to stay bounded */
    uint64_t failures;             /* samples that failed (command failed, hung, no output) */
    char first_failure[256];
    uint64_t warnings;             /* lines that were not `name value` */
    char first_warning[256];
};

/* Returns 0, or ENOMEM. */
int relay_state_init(struct relay_state *rs);
void relay_state_free(struct relay_state *rs);

/*
 * Adds one sample from the command's output (len bytes, need not end in a line end). Each line
 * that is not `name value` (or a name past RELAY_STATE_MAX_NAMES, or a name given twice) adds
 * a warning: on_warning (may be NULL) is called with its text, which quotes the line (at most
 * 80 bytes of it, non-printable bytes as '?'). Returns the number of values the sample holds;
 * a sample is added even with none, so the series shows when the command printed nothing.
 */
size_t relay_state_add(struct relay_state *rs, double unix_s, enum relay_state_phase phase,
                       const char *text, size_t len,
                       void (*on_warning)(void *arg, const char *warning), void *arg);
/* Counts a sample that failed (the command could not run, hung or failed); why is kept for
 * the report when it is the first. */
void relay_state_failed(struct relay_state *rs, const char *why);

/* Index of name among rs->names, or -1. */
int relay_state_name_index(const struct relay_state *rs, const char *name);

/* What the run gives the verdict. */
struct relay_state_run {
    double started_unix;           /* the load's start: sample times are offsets from it */
    uint64_t sessions_started;     /* sessions msrpload started (churned) */
    uint64_t msrpload_open;        /* sessions msrpload still held open at the last sample */
    double grace_s;                /* the grace period after the run, as resolved */
    double waited_s;               /* the seconds actually waited (less when cut short) */
    bool grace_cut;                /* the grace period was cut short (or skipped) by a signal */
    double max_growth_per_1000;    /* bytes per 1000 sessions above which growth is a warning */
    double growth_floor;           /* growth up to this many bytes is never a warning */
    const char *judge;             /* comma-separated names judged for growth; NULL: every
                                      name ending in "_bytes" */
};

/* Default --relay-state-max-growth (bytes per 1000 sessions started) and the fixed floor. */
#define RELAY_STATE_DEFAULT_MAX_GROWTH (64.0 * 1024)
#define RELAY_STATE_GROWTH_FLOOR (1024.0 * 1024)

/* The verdict: the first "before" sample against the "after" one. */
struct relay_state_verdict {
    bool comparable;               /* both samples exist */
    bool warning;                  /* sessions left over or memory above the threshold */
    bool has_sessions;
    double sessions_before, sessions_after, sessions_left; /* left = after - before - open */
    unsigned num_growth;
    struct {
        const char *name;          /* a judged name present in both samples */
        double before, after, delta, per_1000;
        bool over;                 /* above max(floor, max_growth_per_1000 * sessions/1000) */
    } growth[RELAY_STATE_MAX_NAMES];
    char text[512];                /* "relay state: ..." for the summary (no line end) */
};
void relay_state_judge(const struct relay_state *rs, const struct relay_state_run *run,
                       struct relay_state_verdict *v);

/*
 * summary.json's "relay_state" object as compact JSON text (malloc'd; NULL on ENOMEM): the
 * command, interval and grace, names, samples ({t_s, phase, values}), failures, warnings and
 * the verdict. command is recorded as given.
 */
char *relay_state_json(const struct relay_state *rs, const struct relay_state_run *run,
                       const struct relay_state_verdict *v, const char *command,
                       double interval_s, const char *grace_spec);
/* relay-state.csv: "t_s,phase,<name>..." then one row a sample (an empty cell: not printed).
 * malloc'd, its length in *len; NULL on ENOMEM. */
char *relay_state_csv(const struct relay_state *rs, double started_unix, size_t *len);

#endif
