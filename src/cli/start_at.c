/*
 * start_at.c - `run --start-at UNIX_TIME`: reads and checks the start time, and waits for it.
 *
 * Owns: the option's value, its bounds and the wait. May not touch: anything the run sets up
 * (run.c calls the wait last, once the report directory, listeners and TLS are ready, so that
 * the shards' own start-up cost is spent before the shared moment and not after it).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli/start_at.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int start_at_parse(const char *v, double *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    double t = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !isfinite(t) || t < 1e9 || t > 1e11) {
        snprintf(err, errlen,
                 "--start-at %s: expected a UNIX time in seconds (e.g. $(($(date +%%s) + 30)))",
                 v);
        return -1;
    }
    *out = t;
    return 0;
}

int start_at_check(double t, char *err, size_t errlen)
{
    double ahead = t - wall_now();
    if (ahead < -START_AT_LATE_MAX_S) {
        snprintf(err, errlen,
                 "--start-at %.3f is %.1f s in the past (more than %.0f s): this shard would not "
                 "start with the others; give a later time",
                 t, -ahead, START_AT_LATE_MAX_S);
        return -1;
    }
    if (ahead > START_AT_AHEAD_MAX_S) {
        snprintf(err, errlen,
                 "--start-at %.3f is %.0f s ahead (more than %.0f days): a time in seconds, "
                 "not milliseconds, was meant?",
                 t, ahead, START_AT_AHEAD_MAX_S / 86400.0);
        return -1;
    }
    return 0;
}

int start_at_wait(double t, volatile sig_atomic_t *stop)
{
    /* Short sleeps, so that a signal stops the wait within 50 ms; bounded by the check's
     * largest wait (START_AT_AHEAD_MAX_S), as the clock only moves on. */
    for (;;) {
        if (*stop != 0)
            return -1;
        double left = t - wall_now();
        if (left <= 0)
            return 0;
        double step = left < 0.05 ? left : 0.05;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(step * 1e9)};
        nanosleep(&ts, NULL);
    }
}
