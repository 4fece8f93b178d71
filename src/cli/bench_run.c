/*
 * bench_run.c - figures of the load runner itself (`msrpload bench --only run`): the embedded
 * topology with 100-byte messages and Failure-Report yes, at 100 sessions and at the most
 * sessions the process may hold, and the speed-up from one to two worker threads.
 *
 * Both ends of every session live in this process, so N sessions need 2N sockets: the large
 * figure uses as many sessions as RLIMIT_NOFILE allows, up to 10,000, and says how many in
 * its name.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/bench.h"
#include "load/runner.h"
#include "load/scenario.h"

static volatile sig_atomic_t no_stop;

static void figure(const char *name, double value, const char *unit)
{
    printf("bench %s %.0f %s\n", name, value, unit);
    fflush(stdout);
}

/* The scenario of the figures, built in memory: every session repeats one send forever. */
static void small_scenario(struct scenario *sc, unsigned threads, uint64_t sessions,
                           double seconds)
{
    memset(sc, 0, sizeof(*sc));
    snprintf(sc->name, sizeof(sc->name), "bench");
    snprintf(sc->path, sizeof(sc->path), "(bench)");
    sc->threads = threads;
    sc->sessions = sessions;
    sc->concurrency = sessions;
    sc->duration_s = seconds;
    sc->warm_up_s = seconds / 4;
    sc->mode = SCENARIO_CLOSED;
    sc->outstanding = 4;
    sc->topology = SCENARIO_EMBEDDED;
    sc->answer_status = 200;
    snprintf(sc->accept_types, sizeof(sc->accept_types), "*");
    sc->max_message = 1ull << 40;
    struct step *s = sc->steps;
    s[0].kind = STEP_REPEAT_BEGIN;
    s[0].u.repeat.times = 0;
    s[0].u.repeat.other = 2;
    s[1].kind = STEP_SEND;
    s[1].u.send.count = 1;
    s[1].u.send.size_min = s[1].u.send.size_max = 100;
    snprintf(s[1].u.send.content_type, sizeof(s[1].u.send.content_type), "text/plain");
    s[1].u.send.chunk_size = 2048;
    s[1].u.send.failure_report = MSRP_REPORT_YES;
    s[2].kind = STEP_REPEAT_END;
    s[2].u.repeat.other = 0;
    sc->num_steps = 3;
}

/*
 * Runs it; returns messages per second and sets *p99_us. Exits on failure. warm_up covers
 * the binding of every session (10,000 connections take a few seconds to be accepted).
 */
static double run_small(unsigned threads, uint64_t sessions, double seconds, double warm_up,
                        double *p99_us)
{
    static struct scenario sc;
    small_scenario(&sc, threads, sessions, seconds);
    sc.warm_up_s = warm_up;
    struct run_config rc = {.sc = &sc, .stop = &no_stop, .drain_s = 2};
    struct run_stats st;
    struct run_outcome out;
    char err[256];
    if (stats_init(&st) != 0 || runner_run(&rc, &st, &out, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench: the runner failed: %s\n", err);
        exit(1);
    }
    if (st.sessions_failed > 0 || st.msgs_failed > 0)
        fprintf(stderr, "bench: %llu sessions and %llu messages failed (%s)\n",
                (unsigned long long)st.sessions_failed, (unsigned long long)st.msgs_failed,
                out.first_error);
    double rate = out.measured_s > 0 ? (double)st.msgs_ok / out.measured_s : 0;
    *p99_us = (double)histogram_percentile(&st.lat[LAT_MESSAGE], 99);
    stats_free(&st);
    return rate;
}

void bench_run(double seconds, const char *only)
{
    if (!bench_selected("run", only))
        return;
    double secs = seconds < 2 ? 2 : seconds;
    double p99;
    double r2 = run_small(2, 100, secs, secs / 4, &p99);
    figure("run_small_msgs_per_s", r2, "msgs/s");
    figure("run_small_p99_us", p99, "us");
    double r1 = run_small(1, 100, secs, secs / 4, &p99);
    /* A ratio: two decimals, not the whole numbers of the other figures. */
    printf("bench run_thread_scaling %.2f x\n", r1 > 0 ? r2 / r1 : 0);
    fflush(stdout);

    /* As many sessions as the descriptor limit allows (two sockets each), up to 10,000. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t most = rl.rlim_cur > 256 ? (rl.rlim_cur - 256) / 2 : 0;
    uint64_t n = most < 10000 ? most : 10000;
    if (n < 1000) {
        fprintf(stderr, "bench: the descriptor limit leaves too few sessions for the large run\n");
        return;
    }
    double rn = run_small(2, n, secs < 3 ? 3 : secs, 6, &p99);
    char name[64];
    snprintf(name, sizeof(name), "run_small_msgs_per_s_%llu_sessions", (unsigned long long)n);
    figure(name, rn, "msgs/s");
    snprintf(name, sizeof(name), "run_small_p99_us_%llu_sessions", (unsigned long long)n);
    figure(name, p99, "us");
}
