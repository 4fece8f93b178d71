/*
 * bench.h - what the benchmark files of `msrpload bench` share.
 *
 * Private to src/cli/bench*.c; nothing outside them includes it.
 */
#ifndef MSRPLOAD_CLI_BENCH_H
#define MSRPLOAD_CLI_BENCH_H

#include <stdbool.h>

/* Seconds on CLOCK_MONOTONIC. */
double bench_now(void);

/* True when a figure group is selected by --only (empty: every group). */
bool bench_selected(const char *group, const char *only);

/* The network figures (bench_net.c) and the load runner's (bench_run.c). */
void bench_net(double seconds, const char *only);
void bench_run(double seconds, const char *only);
/* The load runner through a real Kamailio relay (bench_run.c): skipped without one. */
void bench_relay(double seconds, const char *only);

#endif
