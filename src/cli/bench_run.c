/*
 * bench_run.c - figures of the load runner itself (`msrpload bench --only run`): the embedded
 * topology with 100-byte messages and Failure-Report yes, at 100 sessions and at the most
 * sessions the process may hold, and the speed-up from one to two worker threads.
 *
 * The 100-session figures run the embedded topology (both ends in this process). 10,000
 * sessions would need 20,000 sockets in one process, past the descriptor limit of many
 * machines, so the large figure runs msrpload's answering endpoints in a child process (a
 * shared listener that answers any session) and drives them as a target, one thread a side.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/bench.h"
#include "load/runner.h"
#include "load/scenario.h"
#include "msrp/server.h"

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
                        const char *target, double *p99_us)
{
    static struct scenario sc;
    small_scenario(&sc, threads, sessions, seconds);
    sc.warm_up_s = warm_up;
    if (target != NULL) {
        sc.topology = SCENARIO_TARGET;
        snprintf(sc.targets[0], sizeof(sc.targets[0]), "%s", target);
        sc.num_targets = 1;
    }
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

/* A child process answering any session on 127.0.0.1 until it is killed; *port says where. */
static pid_t start_sink(uint16_t *port)
{
    int ready[2];
    if (pipe(ready) != 0) {
        perror("bench: pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench: fork");
        exit(1);
    }
    if (pid == 0) {
        close(ready[0]);
        struct net_loop *loop;
        struct msrp_server *srv;
        char err[256];
        if (net_loop_create(&loop, 65536) != 0 ||
            msrp_server_create(loop, "127.0.0.1", 0, NULL, &srv, err, sizeof(err)) != 0)
            _exit(1);
        static const struct msrp_session_handlers none = {0};
        struct msrp_session_config cfg;
        msrp_session_config_default(&cfg);
        cfg.reasm.no_digest = true;
        msrp_server_expect_any(srv, &cfg, &none, NULL);
        uint16_t p = msrp_server_port(srv);
        if (write(ready[1], &p, sizeof(p)) != sizeof(p))
            _exit(1);
        for (;;)
            net_loop_run_once(loop, 1000);
    }
    close(ready[1]);
    if (read(ready[0], port, sizeof(*port)) != sizeof(*port)) {
        fprintf(stderr, "bench: the answering process did not start\n");
        exit(1);
    }
    close(ready[0]);
    return pid;
}

void bench_run(double seconds, const char *only)
{
    if (!bench_selected("run", only))
        return;
    double secs = seconds < 2 ? 2 : seconds;
    double p99;
    double r2 = run_small(2, 100, secs, secs / 4, NULL, &p99);
    figure("run_small_msgs_per_s", r2, "msgs/s");
    figure("run_small_p99_us", p99, "us");
    double r1 = run_small(1, 100, secs, secs / 4, NULL, &p99);
    /* A ratio: two decimals, not the whole numbers of the other figures. */
    printf("bench run_thread_scaling %.2f x\n", r1 > 0 ? r2 / r1 : 0);
    fflush(stdout);

    /* 10,000 sessions against a child process of answering endpoints. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < 10000 + 256) {
        fprintf(stderr, "bench: the descriptor limit (%llu) is below 10,000 sessions\n",
                (unsigned long long)rl.rlim_cur);
        return;
    }
    uint16_t port;
    pid_t sink = start_sink(&port);
    char target[96];
    snprintf(target, sizeof(target), "msrp://127.0.0.1:%u/sink;tcp", port);
    double rn = run_small(1, 10000, secs < 3 ? 3 : secs, 6, target, &p99);
    kill(sink, SIGKILL);
    waitpid(sink, NULL, 0);
    figure("run_small_msgs_per_s_10000_sessions", rn, "msgs/s");
    figure("run_small_p99_us_10000_sessions", p99, "us");
}
