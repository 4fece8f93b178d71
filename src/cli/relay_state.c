/*
 * relay_state.c - `run --relay-state CMD`: its options and the sampler (relay_state.h).
 *
 * Owns: running CMD (/bin/sh -c, its own process group, stdin /dev/null, stdout read up to
 * 64 KiB, the first line of stderr kept for the error), the bound on one invocation (the
 * group is SIGKILLed past it), the sampling thread and its schedule, the warnings on
 * standard error, and the grace period's resolution and wait after the load. The workers never wait for it: the command runs on the sampling thread
 * (or on the main thread before the load and after it), never on a worker's loop.
 */
#include "cli/relay_state.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define OUT_MAX (64 * 1024)  /* more than this from CMD is a failed sample */
#define ERR_KEEP 200         /* bytes of CMD's stderr kept for the message */
#define PRINT_MAX 5          /* warnings and failures printed before the rest are only counted */

void relay_state_opts_init(struct relay_state_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->interval_s = 5;
    o->timeout_s = 10;
    snprintf(o->grace_spec, sizeof(o->grace_spec), "5");
    o->grace_s = 5;
    o->max_growth = RELAY_STATE_DEFAULT_MAX_GROWTH;
}

/* Seconds in [lo, hi] from the whole of v; false otherwise. */
static bool seconds(const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !(d >= lo) || d > hi)
        return false;
    *out = d;
    return true;
}

int relay_state_option(struct relay_state_opts *o, const char *a, const char *v, char *err,
                       size_t errlen)
{
    if (strncmp(a, "--relay-state-", 14) == 0)
        o->other_given = a;
    if (strcmp(a, "--relay-state") == 0) {
        if (v[0] == '\0') {
            snprintf(err, errlen, "--relay-state: the command is empty");
            return -1;
        }
        o->cmd = v;
        return 1;
    }
    if (strcmp(a, "--relay-state-interval") == 0) {
        if (!seconds(v, 0.1, 3600, &o->interval_s)) {
            snprintf(err, errlen, "--relay-state-interval %s: expected seconds from 0.1 to 3600",
                     v);
            return -1;
        }
        return 1;
    }
    if (strcmp(a, "--relay-state-timeout") == 0) {
        if (!seconds(v, 0.1, 300, &o->timeout_s)) {
            snprintf(err, errlen, "--relay-state-timeout %s: expected seconds from 0.1 to 300", v);
            return -1;
        }
        return 1;
    }
    if (strcmp(a, "--relay-state-grace") == 0) {
        const char *rest = v;
        o->grace_expires = false;
        o->grace_s = 0;
        if (strncmp(v, "expires", 7) == 0) {
            o->grace_expires = true;
            rest = v[7] == '+' ? v + 8 : v + 7;
        }
        /* "expires" alone, or "expires+S" with S given ("expires+" names no time) */
        bool bare = o->grace_expires && v[7] == '\0';
        bool ok = strlen(v) < sizeof(o->grace_spec) &&
                  (bare || seconds(rest, 0, 86400, &o->grace_s));
        if (!ok || (o->grace_expires && v[7] != '\0' && v[7] != '+')) {
            snprintf(err, errlen, "--relay-state-grace %s: expected seconds (0 to 86400), "
                                  "'expires' (the relay's AUTH Expires) or 'expires+S'", v);
            return -1;
        }
        snprintf(o->grace_spec, sizeof(o->grace_spec), "%s", v);
        return 1;
    }
    if (strcmp(a, "--relay-state-judge") == 0) {
        /* names as CMD prints them, separated by commas, none empty */
        bool ok = v[0] != '\0' && v[0] != ',' && v[strlen(v) - 1] != ',' &&
                  strstr(v, ",,") == NULL;
        for (const char *p = v; ok && *p != '\0'; p++)
            ok = *p == ',' || *p == '_' || *p == '.' || *p == '-' ||
                 (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
        if (!ok) {
            snprintf(err, errlen, "--relay-state-judge %s: expected names separated by commas "
                                  "(e.g. shm_used_bytes,rss_anon_bytes)", v);
            return -1;
        }
        o->judge = v;
        return 1;
    }
    if (strcmp(a, "--relay-state-max-growth") == 0) {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno != 0 || end == v || *end != '\0' || !(d >= 0) || d > 1e15) {
            snprintf(err, errlen, "--relay-state-max-growth %s: expected bytes per 1000 "
                                  "sessions (0 to 1e15)", v);
            return -1;
        }
        o->max_growth = d;
        o->max_growth_given = true;
        return 1;
    }
    return 0;
}

int relay_state_opts_check(const struct relay_state_opts *o, char *err, size_t errlen)
{
    if (o->cmd == NULL && o->other_given != NULL) {
        snprintf(err, errlen, "%s needs --relay-state CMD", o->other_given);
        return -1;
    }
    return 0;
}

/* ---- one invocation ----------------------------------------------------------------------- */

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double wall_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CMD's stderr for a message: its first line, printable bytes only. */
static void first_line(const char *buf, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && buf[i] != '\n' && o + 1 < cap; i++)
        out[o++] = buf[i] >= ' ' && buf[i] < 127 ? buf[i] : '?';
    out[o] = '\0';
}

/*
 * Runs cmd; its stdout (NUL-terminated) into out (OUT_MAX + 1 bytes). Returns 0, or -1 with
 * why (naming --relay-state and the command). Bounded by timeout_s and by a second signal.
 */
static int run_cmd(const char *cmd, double timeout_s, volatile sig_atomic_t *stop, char *out,
                   size_t *out_len, char *why, size_t whylen)
{
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "--relay-state: pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(pe, O_CLOEXEC) != 0) {
        snprintf(why, whylen, "--relay-state: pipe: %s", strerror(errno));
        close(po[0]);
        close(po[1]);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    /* its own process group: killed whole past the bound, and no ^C of the terminal reaches
     * it (msrpload decides); default dispositions and an empty mask for the shell */
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &defaults);
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    pid_t pid;
    int e = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(po[1]);
    close(pe[1]);
    if (e != 0) {
        snprintf(why, whylen, "--relay-state: cannot start /bin/sh: %s", strerror(e));
        close(po[0]);
        close(pe[0]);
        return -1;
    }
    char errbuf[ERR_KEEP], sink[4096];
    size_t n_out = 0, n_err = 0;
    bool too_long = false, timed_out = false, stopped = false;
    struct pollfd fds[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
    double deadline = mono_s() + timeout_s;
    /* bounded: every pass reads, sees an end, or moves toward the deadline (100 ms polls) */
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        double left = deadline - mono_s();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        if (stop != NULL && *stop >= 2) {
            stopped = true;
            break;
        }
        int ms = left > 0.1 ? 100 : (int)(left * 1000) + 1;
        int r = poll(fds, 2, ms);
        if (r < 0 && errno != EINTR)
            break;
        for (int i = 0; r > 0 && i < 2; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            char *dst = sink;
            size_t room = sizeof(sink);
            if (i == 0 && n_out < OUT_MAX) {
                dst = out + n_out;
                room = OUT_MAX - n_out;
            } else if (i == 1 && n_err < sizeof(errbuf)) {
                dst = errbuf + n_err;
                room = sizeof(errbuf) - n_err;
            }
            ssize_t got = read(fds[i].fd, dst, room);
            if (got > 0 && dst != sink) {
                if (i == 0)
                    n_out += (size_t)got;
                else
                    n_err += (size_t)got;
            } else if (got > 0 && i == 0) {
                too_long = true;
            } else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
                close(fds[i].fd);
                fds[i].fd = -1;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    if (timed_out || stopped)
        kill(-pid, SIGKILL);
    /* The pipes are closed: the shell has ended or is being killed. Wait for it without
     * reaping it (WNOWAIT), so that its pid, and so its process group's id, cannot be anybody
     * else's when whatever it left behind in the group is killed; then reap it. Bounded. */
    double wait_until = mono_s() + (timed_out || stopped ? 5 : timeout_s);
    siginfo_t si;
    bool ended = false;
    while (!ended && mono_s() < wait_until) {
        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 && errno != EINTR)
            break;
        ended = si.si_pid == pid;
        if (!ended)
            usleep(10000);
    }
    if (!ended)
        timed_out = true;
    kill(-pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    out[n_out] = '\0';
    *out_len = n_out;
    char eline[ERR_KEEP + 1];
    first_line(errbuf, n_err, eline, sizeof(eline));
    if (timed_out) {
        snprintf(why, whylen, "--relay-state: '%s' did not finish within %.3g s (killed; "
                              "--relay-state-timeout sets the bound)", cmd, timeout_s);
        return -1;
    }
    if (stopped) {
        snprintf(why, whylen, "--relay-state: '%s' was killed by a second stop signal", cmd);
        return -1;
    }
    if (WIFSIGNALED(status)) {
        snprintf(why, whylen, "--relay-state: '%s' was killed by signal %d%s%s", cmd,
                 WTERMSIG(status), eline[0] ? ": " : "", eline);
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        snprintf(why, whylen, "--relay-state: '%s' exited with status %d%s%s", cmd,
                 WEXITSTATUS(status), eline[0] ? ": " : "", eline);
        return -1;
    }
    if (too_long) {
        snprintf(why, whylen, "--relay-state: '%s' printed more than %d bytes", cmd, OUT_MAX);
        return -1;
    }
    return 0;
}

/* ---- the sampler ----------------------------------------------------------------------------- */

struct relay_sampler {
    const struct relay_state_opts *o;
    struct relay_state rs;
    volatile sig_atomic_t *stop;
    bool quiet;
    unsigned printed; /* warnings and failures printed so far */
    char out[OUT_MAX + 1];
    pthread_t thread;
    bool thread_on;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit;                   /* under mu */
    enum relay_state_phase phase; /* under mu */
};

static void print_note(struct relay_sampler *s, const char *what, const char *text)
{
    if (s->printed < PRINT_MAX)
        fprintf(stderr, "msrpload run: --relay-state: %s: %s\n", what, text);
    else if (s->printed == PRINT_MAX)
        fprintf(stderr, "msrpload run: --relay-state: further warnings and failures are only "
                        "counted (summary.json relay_state)\n");
    s->printed++;
}

static void on_warning(void *arg, const char *text)
{
    print_note(arg, "warning", text);
}

/* One sample; -1 (with why) when the command failed or printed no value. */
static int sample(struct relay_sampler *s, enum relay_state_phase phase, char *why,
                  size_t whylen)
{
    size_t n = 0;
    double t = wall_s();
    if (run_cmd(s->o->cmd, s->o->timeout_s, s->stop, s->out, &n, why, whylen) != 0) {
        relay_state_failed(&s->rs, why);
        return -1;
    }
    if (relay_state_add(&s->rs, t, phase, s->out, n, on_warning, s) == 0) {
        snprintf(why, whylen, "--relay-state: '%s' printed no 'name value' line", s->o->cmd);
        relay_state_failed(&s->rs, why);
        return -1;
    }
    return 0;
}

static void *sampler_main(void *arg)
{
    struct relay_sampler *s = arg;
    double start = mono_s();
    unsigned long long k = 1;
    pthread_mutex_lock(&s->mu);
    /* bounded: each pass samples or waits until the next grid point; quit ends it */
    while (!s->quit) {
        double due = start + (double)k * s->o->interval_s;
        double now = mono_s();
        if (now < due) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double wait = due - now;
            ts.tv_sec += (time_t)wait;
            ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            continue;
        }
        enum relay_state_phase phase = s->phase;
        pthread_mutex_unlock(&s->mu);
        char why[512];
        if (sample(s, phase, why, sizeof(why)) != 0)
            print_note(s, "sample failed", why);
        /* a slow command skips the grid points it overran */
        double after = mono_s();
        while (start + (double)k * s->o->interval_s <= after)
            k++;
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int relay_sampler_start(struct relay_sampler **out, const struct relay_state_opts *o,
                        volatile sig_atomic_t *stop, bool quiet, char *err, size_t errlen)
{
    *out = NULL;
    struct relay_sampler *s = calloc(1, sizeof(*s));
    if (s == NULL || relay_state_init(&s->rs) != 0) {
        free(s);
        snprintf(err, errlen, "--relay-state: out of memory");
        return -1;
    }
    s->o = o;
    s->stop = stop;
    s->quiet = quiet;
    s->phase = RELAY_STATE_DURING;
    if (sample(s, RELAY_STATE_BEFORE, err, errlen) != 0) {
        relay_state_free(&s->rs);
        free(s);
        return -1;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->mu, NULL);
    /* the sampler must not take the run's signals: the main thread waits for them */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int e = pthread_create(&s->thread, NULL, sampler_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        snprintf(err, errlen, "--relay-state: cannot start its thread: %s", strerror(e));
        relay_sampler_free(s);
        return -1;
    }
    s->thread_on = true;
    *out = s;
    return 0;
}

static void stop_thread(struct relay_sampler *s)
{
    if (!s->thread_on)
        return;
    pthread_mutex_lock(&s->mu);
    s->quit = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL); /* a running command ends within its timeout */
    s->thread_on = false;
}

const struct relay_state *relay_sampler_finish(struct relay_sampler *s, double grace_s,
                                               bool *grace_cut, double *waited_s)
{
    double t0 = mono_s();
    pthread_mutex_lock(&s->mu);
    s->phase = RELAY_STATE_GRACE;
    pthread_mutex_unlock(&s->mu);
    *grace_cut = s->stop != NULL && *s->stop != 0;
    if (grace_s > 0 && !*grace_cut) {
        if (!s->quiet)
            fprintf(stderr, "msrpload run: --relay-state: waiting %.3g s (--relay-state-grace "
                            "%s) before the last sample; a signal ends the wait\n",
                    grace_s, s->o->grace_spec);
        double end = mono_s() + grace_s;
        /* bounded by grace_s; a signal cuts it */
        while (mono_s() < end && !*grace_cut) {
            usleep(50000);
            *grace_cut = s->stop != NULL && *s->stop != 0;
        }
    }
    *waited_s = mono_s() - t0;
    stop_thread(s);
    char why[512];
    if (s->stop != NULL && *s->stop >= 2)
        relay_state_failed(&s->rs, "--relay-state: no sample after the run (a second signal)");
    else if (sample(s, RELAY_STATE_AFTER, why, sizeof(why)) != 0)
        print_note(s, "the last sample failed", why);
    return &s->rs;
}

void relay_sampler_free(struct relay_sampler *s)
{
    if (s == NULL)
        return;
    stop_thread(s);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    relay_state_free(&s->rs);
    free(s);
}

void relay_state_conclude(struct relay_sampler *s, const struct relay_state_opts *o,
                          uint64_t expires_asked, uint64_t expires_granted,
                          uint64_t sessions_started, double started_unix,
                          struct relay_state_report *out)
{
    double grace = o->grace_s;
    if (o->grace_expires) {
        uint64_t expires = expires_granted > 0 ? expires_granted : expires_asked;
        if (expires == 0)
            fprintf(stderr, "msrpload run: --relay-state-grace %s: the relay granted no Expires "
                            "and none was asked for: no Expires in the grace period\n",
                    o->grace_spec);
        grace += (double)expires;
    }
    struct relay_state_run r = {.started_unix = started_unix,
                                .sessions_started = sessions_started,
                                .msrpload_open = 0,
                                .grace_s = grace,
                                .max_growth_per_1000 = o->max_growth,
                                .growth_floor = RELAY_STATE_GROWTH_FLOOR,
                                .judge = o->judge};
    const struct relay_state *rs = relay_sampler_finish(s, grace, &r.grace_cut, &r.waited_s);
    struct relay_state_verdict v;
    relay_state_judge(rs, &r, &v);
    memset(out, 0, sizeof(*out));
    out->json = relay_state_json(rs, &r, &v, o->cmd, o->interval_s, o->grace_spec);
    out->csv = relay_state_csv(rs, started_unix, &out->csv_len);
    if (out->json == NULL || out->csv == NULL)
        fprintf(stderr, "msrpload run: --relay-state: out of memory for its report\n");
    snprintf(out->verdict, sizeof(out->verdict), "%s", v.text);
    out->warning = v.warning;
}

void relay_state_report_free(struct relay_state_report *r)
{
    free(r->json);
    free(r->csv);
    r->json = r->csv = NULL;
}
