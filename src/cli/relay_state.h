/*
 * relay_state.h - `run --relay-state CMD`: the options, and the sampler that runs CMD before
 * the load, every --relay-state-interval seconds on its own thread while the load and the
 * grace period run, and once after the grace period (report/relaystate.h keeps the series
 * and judges it).
 */
#ifndef MSRPLOAD_CLI_RELAY_STATE_H
#define MSRPLOAD_CLI_RELAY_STATE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report/relaystate.h"

struct relay_state_opts {
    const char *cmd;        /* --relay-state CMD; NULL: off */
    double interval_s;      /* --relay-state-interval (default 5) */
    double timeout_s;       /* --relay-state-timeout: bound on one invocation (default 10) */
    char grace_spec[32];    /* --relay-state-grace as given ("30", "expires", "expires+5") */
    bool grace_expires;     /* the grace is the relay's AUTH Expires ... */
    double grace_s;         /* ... plus this (or this alone) */
    bool max_growth_given;
    double max_growth;      /* --relay-state-max-growth bytes per 1000 sessions */
    const char *judge;      /* --relay-state-judge NAMES (comma-separated); NULL: *_bytes */
    const char *other_given; /* the last --relay-state-* option given (needs --relay-state) */
};

void relay_state_opts_init(struct relay_state_opts *o);
/* One command-line option a with its value v: 1 when it was one of these (its value used),
 * 0 when not, -1 with a message naming the option in err. */
int relay_state_option(struct relay_state_opts *o, const char *a, const char *v, char *err,
                       size_t errlen);
/* After the command line: the other --relay-state-* options need --relay-state. */
int relay_state_opts_check(const struct relay_state_opts *o, char *err, size_t errlen);

struct relay_sampler;

/*
 * Takes the "before" sample (in this thread) and starts the sampling thread. A command that
 * fails, hangs past the timeout or prints no `name value` line then is an error (err names
 * --relay-state): returns -1 and nothing runs. stop: the run's signal count (a second signal
 * kills a running command at once). quiet: no line about the grace wait.
 */
int relay_sampler_start(struct relay_sampler **out, const struct relay_state_opts *o,
                        volatile sig_atomic_t *stop, bool quiet, char *err, size_t errlen);
/*
 * After the load: samples go on (phase "grace") for grace_s seconds unless a signal came or
 * comes (the wait ends then: grace_cut), then the thread stops and the "after" sample is
 * taken (not after a second signal); waited_s: the seconds actually waited. Returns the
 * series, which the sampler keeps.
 */
const struct relay_state *relay_sampler_finish(struct relay_sampler *s, double grace_s,
                                               bool *grace_cut, double *waited_s);
void relay_sampler_free(struct relay_sampler *s);

/* The report's part: summary.json's relay_state (JSON text), relay-state.csv, the verdict. */
struct relay_state_report {
    char *json, *csv; /* NULL: none (no --relay-state, or out of memory: said on stderr) */
    size_t csv_len;
    char verdict[512];
    bool warning;
};

/*
 * After the load: resolves the grace period (--relay-state-grace: seconds, or the Expires the
 * relay granted, else expires_asked, plus the seconds given), waits it (relay_sampler_finish),
 * judges and renders into out. msrpload holds no session then: every worker closed its
 * connections, the silent endings' too (load/runner_churn.c), before runner_run returned.
 */
void relay_state_conclude(struct relay_sampler *s, const struct relay_state_opts *o,
                          uint64_t expires_asked, uint64_t expires_granted,
                          uint64_t sessions_started, double started_unix,
                          struct relay_state_report *out);
void relay_state_report_free(struct relay_state_report *r);

#endif
