/*
 * bench_run.c - figures of the load runner itself (`msrpload bench --only run`): the embedded
 * topology with 100-byte messages and Failure-Report yes, at 100 sessions and at the most
 * sessions the process may hold, and the speed-up from one to two worker threads.
 *
 * The 100-session figures run the embedded topology (both ends in this process). 10,000
 * sessions would need 20,000 sockets in one process, past the descriptor limit of many
 * machines, so the large figure runs msrpload's answering endpoints in a child process (a
 * shared listener that answers any session) and drives them as a target, one thread a side.
 *
 * The relay figures (`--only relay`) start a real Kamailio relay (tools/relay/start.sh) and
 * run the same traffic through it, both ends of every session authenticated, once over TCP and
 * once with both ends over WebSocket (RFC 7977, the relay's ws port, when Kamailio's
 * websocket module is there); they are skipped with a note when Kamailio is not installed.
 * The Kamailio helpers here (CPU of a process group, start.sh's output) serve
 * bench_sip_calls.c too (bench.h).
 *
 * Owns: the runner figures' set-up and timing. May not touch: load/ internals (it runs
 * scenarios through runner.h as `msrpload run` does).
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/bench.h"
#include "load/runner.h"
#include "net/loop.h"
#include "scenario/scenario.h"
#include "msrp/server.h"

static volatile sig_atomic_t no_stop;

static void figure(const char *name, double value, const char *unit)
{
    printf("bench %s %.0f %s\n", name, value, unit);
    fflush(stdout);
}

void bench_message_step(struct scenario *sc, struct step *send)
{
    sc->answer_status = 200;
    snprintf(sc->accept_types, sizeof(sc->accept_types), "*");
    sc->max_message = 1ull << 40;
    send->kind = SCN_STEP_SEND;
    send->u.send.count = 1;
    send->u.send.size_min = send->u.send.size_max = 100;
    send->u.send.size = (struct distrib){.kind = DISTRIB_FIXED, .value = 100, .min = 100,
                                         .max = 100};
    snprintf(send->u.send.content_type, sizeof(send->u.send.content_type), "text/plain");
    send->u.send.chunk_size = 2048;
    send->u.send.failure_report = MSRP_REPORT_YES;
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
    sc->batch_window_auto = true; /* as msrpload run does by default */
    sc->topology = SCENARIO_EMBEDDED;
    struct step *s = sc->steps;
    s[0].kind = SCN_STEP_REPEAT_BEGIN;
    s[0].u.repeat.times = 0;
    s[0].u.repeat.other = 2;
    bench_message_step(sc, &s[1]);
    s[2].kind = SCN_STEP_REPEAT_END;
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
    if (target != NULL && strncmp(target, "relay-ws:", 9) == 0) {
        /* "relay-ws:URI": the same, both ends WebSocket clients of the relay's ws:// URI */
        sc.topology = SCENARIO_RELAY;
        sc.transport = SCENARIO_WS;
        char err[300];
        if (scenario_relay_set_ws(&sc, target + 9, err, sizeof(err)) != 0) {
            fprintf(stderr, "bench: %s\n", err);
            exit(1);
        }
        snprintf(sc.relay.user, sizeof(sc.relay.user), "load%%04d");
        sc.relay.users = 100;
    } else if (target != NULL && strncmp(target, "relay:", 6) == 0) {
        /* "relay:URI": every session through that relay, over its 100 load accounts */
        sc.topology = SCENARIO_RELAY;
        snprintf(sc.relay.uri, sizeof(sc.relay.uri), "%s", target + 6);
        scenario_relay_parse(&sc);
        snprintf(sc.relay.user, sizeof(sc.relay.user), "load%%04d");
        sc.relay.users = 100;
    } else if (target != NULL) {
        sc.topology = SCENARIO_TARGET;
        snprintf(sc.targets[0], sizeof(sc.targets[0]), "%s", target);
        sc.num_targets = 1;
    }
    scenario_transports_settle(&sc);
    struct run_config rc = {.sc = &sc, .stop = &no_stop, .drain_s = 2,
                            .relay_password = "loadpass"};
    struct run_stats st;
    struct run_outcome out;
    char err[256];
    if (stats_init(&st) != 0 || runner_run(&rc, &st, &out, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench: the runner failed: %s\n", err);
        exit(1);
    }
    if (st.sessions_failed > 0 || st.msgs_failed > 0) {
        /* A figure from a run that partly failed would not measure what its name says. */
        fprintf(stderr, "bench: %llu sessions and %llu messages failed (%s): no figure\n",
                (unsigned long long)st.sessions_failed, (unsigned long long)st.msgs_failed,
                out.first_error);
        exit(1);
    }
    double rate = out.measured_s > 0 ? (double)st.msgs_ok / out.measured_s : 0;
    *p99_us = (double)histogram_percentile(&st.lat[LAT_MESSAGE], 99);
    stats_free(&st);
    free(out.failures);
    return rate;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * The limit of open_loop_lag_p99_us: how late this machine wakes a thread from a timed wait
 * with nothing else to do (epoll_pwait2 on an empty set, 100 us to 1 ms, with the workers'
 * timer slack of 1 us), p99 over 2000 waits. A schedule cannot be kept closer than that
 * without spinning.
 */
static void timer_wake_limit(void)
{
    enum { WAITS = 2000 };
    static uint64_t late[WAITS];
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        fprintf(stderr, "bench: epoll_create1 failed: no timer_wake_p99_us\n");
        return;
    }
    unsigned long old_slack = (unsigned long)prctl(PR_GET_TIMERSLACK, 0ul, 0ul, 0ul, 0ul);
    prctl(PR_SET_TIMERSLACK, 1000ul, 0ul, 0ul, 0ul);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    struct epoll_event ev;
    size_t n = 0;
    for (size_t i = 0; i < WAITS; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t want = 100000 + (seed >> 33) % 900000;
        struct timespec ts = {0, (long)want};
        uint64_t t0 = net_now_ns();
        if (epoll_pwait2(ep, &ev, 1, &ts, NULL) < 0)
            continue; /* EINTR: that wait says nothing */
        uint64_t slept = net_now_ns() - t0;
        late[n++] = slept > want ? slept - want : 0;
    }
    prctl(PR_SET_TIMERSLACK, old_slack, 0ul, 0ul, 0ul);
    close(ep);
    if (n == 0)
        return;
    qsort(late, n, sizeof(late[0]), cmp_u64);
    figure("timer_wake_p99_us", (double)late[n * 99 / 100] / 1000.0, "us");
}

/*
 * The same traffic in the open loop at `rate` messages per second (2 threads, 100 sessions):
 * prints open_loop_lag_p99_us (intended send time -> the write carrying it returned) and
 * open_loop_rate_ratio (messages due after warm-up that were sent / the schedule's count).
 */
static void run_open(double rate, double seconds)
{
    static struct scenario sc;
    small_scenario(&sc, 2, 100, seconds);
    sc.mode = SCENARIO_OPEN;
    sc.rate = rate;
    scenario_transports_settle(&sc);
    struct run_config rc = {.sc = &sc, .stop = &no_stop, .drain_s = 2};
    struct run_stats st;
    struct run_outcome out;
    char err[256];
    if (stats_init(&st) != 0 || runner_run(&rc, &st, &out, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench: the runner failed: %s\n", err);
        exit(1);
    }
    if (st.sessions_failed > 0 || st.msgs_failed > 0 || st.sched_requested <= 0) {
        fprintf(stderr, "bench: %llu sessions and %llu messages failed (%s): no figure\n",
                (unsigned long long)st.sessions_failed, (unsigned long long)st.msgs_failed,
                out.first_error);
        exit(1);
    }
    const struct histogram *lag = &st.lat[LAT_SCHEDULE_LAG];
    figure("open_loop_lag_p99_us", (double)histogram_percentile(lag, 99), "us");
    printf("bench open_loop_rate_ratio %.4f x\n", (double)st.sched_sent / st.sched_requested);
    fflush(stdout);
    fprintf(stderr, "# open loop at %.0f msg/s: lag p50 %llu us, p99.9 %llu us, max %llu us\n",
            rate, (unsigned long long)histogram_percentile(lag, 50),
            (unsigned long long)histogram_percentile(lag, 99.9),
            (unsigned long long)histogram_max(lag));
    stats_free(&st);
    free(out.failures);
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
        /* Every session of the run names the one target URI (one process, not 10,000
         * endpoints): each connection gets its own session instead of a 506. */
        msrp_server_any_shared(srv, true);
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
    /* The open loop at half the closed loop's capacity just measured, beside its limit. */
    timer_wake_limit();
    run_open(r2 / 2, secs);

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

/* ---- through a real relay ------------------------------------------------------------------ */

/* CPU seconds (user + system) of every live process in process group pgid, from /proc. */
double bench_group_cpu_seconds(long pgid)
{
    double total = 0;
    long tick = sysconf(_SC_CLK_TCK);
    DIR *d = opendir("/proc");
    if (d == NULL || tick <= 0) {
        if (d != NULL)
            closedir(d);
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char path[300], line[1024];
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t n = fread(line, 1, sizeof(line) - 1, f);
        fclose(f);
        line[n] = '\0';
        /* Fields after the command (which may hold spaces) start past its closing ')'. */
        const char *p = strrchr(line, ')');
        char state;
        long ppid, pgrp;
        unsigned long long ut, st;
        if (p == NULL ||
            sscanf(p + 1, " %c %ld %ld %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &ppid,
                   &pgrp, &ut, &st) != 5)
            continue;
        if (pgrp == pgid)
            total += (double)(ut + st) / (double)tick;
    }
    closedir(d);
    return total;
}

double bench_self_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Reads NAME='value' from start.sh's output. */
void bench_start_value(const char *line, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    if (strncmp(line, key, kl) != 0 || line[kl] != '=' || line[kl + 1] != '\'')
        return;
    const char *v = line + kl + 2;
    const char *end = strchr(v, '\'');
    if (end != NULL && (size_t)(end - v) < cap) {
        memcpy(out, v, (size_t)(end - v));
        out[end - v] = '\0';
    }
}

const char *bench_kamailio_tools(const char *env, const char *dflt, const char *group,
                                 const char *install)
{
    const char *tools = getenv(env);
    if (tools == NULL)
        tools = dflt;
    if (system("command -v kamailio >/dev/null 2>&1 || test -x /usr/sbin/kamailio") != 0) {
        fprintf(stderr, "bench: %s figures skipped: kamailio is not installed (%s)\n", group,
                install);
        return NULL;
    }
    return tools;
}

void bench_relay(double seconds, const char *only)
{
    if (!bench_selected("relay", only))
        return;
    const char *tools = bench_kamailio_tools("MSRPLOAD_RELAY_TOOLS", "tools/relay", "relay",
                                             "apt-get install kamailio");
    if (tools == NULL)
        return;
    /* The WebSocket port too when Kamailio's websocket module is there (start.sh refuses it
     * otherwise, and the WS figures are skipped with a note). */
    bool ws = system("find /usr/lib /usr/local/lib -path '*kamailio/modules/websocket.so' "
                     "2>/dev/null | grep -q .") == 0;
    unsigned port = 29000u + (unsigned)getpid() % 500u * 2u;
    char cmd[1024], ws_env[32] = "";
    if (ws) /* the port just after the TCP one */
        snprintf(ws_env, sizeof(ws_env), "RELAY_WS_PORT=%u ", port + 1);
    snprintf(cmd, sizeof(cmd), "%stimeout 30 %s/start.sh %u 2>&1", ws_env, tools, port);
    FILE *p = popen(cmd, "r");
    char line[1024], uri[256] = "", ws_uri[256] = "", pidfile[512] = "", pid_text[32] = "";
    while (p != NULL && fgets(line, sizeof(line), p) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        bench_start_value(line, "RELAY_URI", uri, sizeof(uri));
        bench_start_value(line, "RELAY_WS_URI", ws_uri, sizeof(ws_uri));
        bench_start_value(line, "RELAY_PIDFILE", pidfile, sizeof(pidfile));
        bench_start_value(line, "RELAY_PID", pid_text, sizeof(pid_text));
    }
    if (p == NULL || pclose(p) != 0 || uri[0] == '\0' || pid_text[0] == '\0') {
        fprintf(stderr, "bench: relay figures skipped: %s/start.sh failed\n", tools);
        return;
    }
    /* start.sh runs the relay in a process group of its own, led by RELAY_PID. */
    long pgid = strtol(pid_text, NULL, 10);
    double secs = seconds < 3 ? 3 : seconds;
    char target[300];
    /* The same traffic over TCP, then over WebSocket (RFC 7977) on both ends. */
    for (int over_ws = 0; over_ws <= 1; over_ws++) {
        if (over_ws && ws_uri[0] == '\0') {
            fprintf(stderr, "bench: relay_ws figures skipped: Kamailio's websocket module is "
                            "missing (apt-get install kamailio-websocket-modules)\n");
            break;
        }
        snprintf(target, sizeof(target), "%s:%s", over_ws ? "relay-ws" : "relay",
                 over_ws ? ws_uri : uri);
        double ours0 = bench_self_cpu_seconds(), theirs0 = bench_group_cpu_seconds(pgid);
        double p99;
        double rate = run_small(1, 100, secs, 1, target, &p99);
        double ours = bench_self_cpu_seconds() - ours0;
        double theirs = bench_group_cpu_seconds(pgid) - theirs0;
        const char *pre = over_ws ? "relay_ws" : "relay";
        char name[64];
        snprintf(name, sizeof(name), "%s_tx_per_s", pre);
        figure(name, rate, "msgs/s");
        snprintf(name, sizeof(name), "%s_p99_us", pre);
        figure(name, p99, "us");
        /* Both processes' CPU over the same run: AUTH, binding and the measured traffic. */
        printf("bench %s_cpu_ratio %.3f x\n", pre, theirs > 0 ? ours / theirs : 0);
        fflush(stdout);
        fprintf(stderr, "# %s: msrpload %.2f CPU s, kamailio %.2f CPU s\n", pre, ours, theirs);
    }
    snprintf(cmd, sizeof(cmd), "timeout 20 %s/stop.sh '%s' --clean >/dev/null 2>&1", tools,
             pidfile);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: %s failed\n", cmd);
}
