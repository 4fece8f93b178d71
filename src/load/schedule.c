/*
 * schedule.c - what the load asks for over time, on a worker's side: the open loop's send
 * times (a constant rate, or load.stages' ramps), how late each message really left (the
 * schedule-lag histogram) and how many left (achieved versus requested), and the closed-loop
 * stages' sessions open at once; after the run, the asked-for figures of each second of the
 * time series.
 *
 * Owns: the session's intended send times, the stage counters, the slots a worker may fill.
 * May not touch: what a send does (runner_steps.c), how sessions start (runner.c).
 *
 * Open loop: the messages scheduled up to t over all sessions are N(t), the rate integrated
 * from the run's start (scenario_stage_integral). The `concurrency` sessions share it: each
 * sends at N positions spaced concurrency apart, so a session's next message is due when N
 * has grown by concurrency since its last. With a constant rate that is the fixed interval
 * concurrency / rate; under stages the inverse of N (scenario_stage_when) gives the time.
 * The schedule belongs to the slot, not the session: a session that ends leaves its next
 * intended time to the one that replaces it (runner.c start_one), so runner_sched_first is
 * asked only for a slot's first session.
 */
#include <math.h>

#include "load/runner_int.h"

_Static_assert(SCENARIO_MAX_STAGES == STATS_MAX_STAGES, "stats.h and scenario.h disagree");

/* Seconds from the run's start. */
static double rel_s(const struct worker *w, uint64_t t)
{
    return t > w->t0_ns ? (double)(t - w->t0_ns) / 1e9 : 0;
}

/* The time at position pos of N, as an absolute deadline; past the stages (nothing more is
 * due): a day after the run's end, which the run never reaches. */
static uint64_t due_at(const struct worker *w, double pos)
{
    double t = scenario_stage_when(w->sc, pos);
    double cap = (double)(w->end_ns - w->t0_ns) + 86400e9;
    double ns = isfinite(t) ? t * 1e9 : cap;
    return w->t0_ns + (uint64_t)(ns < cap ? ns : cap);
}

uint64_t runner_sched_first(struct lsession *ls, uint64_t now)
{
    struct worker *w = ls->w;
    const struct scenario *sc = w->sc;
    /* A slot's first message comes at a phase of its own within its spacing, spread over the
     * slots by the golden ratio: sessions that all started at once would otherwise send in
     * step, a burst of one message from each at every interval (under stages, a ramp from 0
     * met by one from every session), and the last of a burst leaves a burst's writes late
     * (20,000 msg/s over 100 sessions, 2 threads: lag p50 130 us in step, 44 us spread). The
     * count stays the schedule's: slot k's first message is position k of N(t), not N(0). */
    double phase = fmod(0.6180339887498949 * (double)(w->sched_seq++ + 1), 1.0);
    if (sc->num_stages == 0)
        return now + (uint64_t)(phase * 1e9 * (double)sc->concurrency / sc->rate);
    ls->sched_pos = scenario_stage_integral(sc, 0, rel_s(w, now)) +
                    (double)sc->concurrency * phase;
    return due_at(w, ls->sched_pos);
}

uint64_t runner_sched_next(struct lsession *ls)
{
    struct worker *w = ls->w;
    const struct scenario *sc = w->sc;
    if (sc->num_stages == 0) {
        double interval = 1e9 * (double)sc->concurrency / sc->rate;
        /* A rate so low that a session sends less than once a day is once a day. */
        return ls->next_intended_ns +
               (interval < 8.64e13 ? (uint64_t)interval : 86400000000000ull);
    }
    ls->sched_pos += (double)sc->concurrency;
    return due_at(w, ls->sched_pos);
}

/*
 * Pacing timers wake on a grid of RUNNER_PACE_GRID_NS from the run's start: the sessions due
 * within one step of it leave in one pass of the loop, one wake-up for all, instead of one pass
 * (a wait and its system call) each. A message leaves at most one step after it was due; the
 * schedule-lag histogram measures what that, and everything else, adds. The step is not the
 * loop's batching window (tens of microseconds to 1 ms, following the latency): that window
 * gathers I/O, and as the pacing grid it put up to a window of lag on every message (p99 near
 * the window itself), more than the open loop's budget of 100 us.
 */
uint64_t runner_sched_wait(const struct worker *w, uint64_t due_ns, uint64_t now)
{
    return runner_sched_grid_wait(w->t0_ns, RUNNER_PACE_GRID_NS, due_ns, now);
}

uint64_t runner_sched_grid_wait(uint64_t t0_ns, uint64_t grid_ns, uint64_t due_ns, uint64_t now)
{
    uint64_t at = due_ns;
    if (grid_ns > 1 && due_ns > t0_ns) {
        uint64_t off = (due_ns - t0_ns) % grid_ns;
        if (off != 0)
            at += grid_ns - off;
    }
    return at > now ? at - now : 0;
}

/* The stage `now` falls in (cached: a worker's clock only moves forward). */
static unsigned stage_now(struct worker *w, uint64_t now)
{
    const struct scenario *sc = w->sc;
    while (w->stage_idx + 1 < sc->num_stages &&
           now >= w->t0_ns + (uint64_t)(sc->stages[w->stage_idx + 1].start_s * 1e9))
        w->stage_idx++;
    return w->stage_idx;
}

void runner_sched_sent(struct worker *w, uint64_t intended_ns, uint64_t sent_ns)
{
    struct stats_second *sec = second(w, sent_ns);
    if (sec != NULL)
        sec->msgs_sent++;
    if (w->sc->num_stages > 0)
        w->stats.stage_sent[stage_now(w, sent_ns)]++;
    if (w->sc->mode != SCENARIO_OPEN || !counting(w, sent_ns))
        return;
    /* Achieved: the messages due within the measured window that left (however late: the
     * lag says how late), against the schedule's count over that window. */
    if (intended_ns >= w->warm_end_ns && intended_ns < w->end_ns)
        w->stats.sched_sent++;
    histogram_record(&w->stats.lat[LAT_SCHEDULE_LAG],
                     sent_ns > intended_ns ? (sent_ns - intended_ns) / 1000 : 0);
}

/* This worker's share of the closed-loop stages' sessions at now (as --threads shares
 * concurrency: the first workers take the remainders), within its slots. */
static unsigned share_now(const struct worker *w, uint64_t now)
{
    double target = scenario_stage_target(w->sc, rel_s(w, now));
    uint64_t all = target > 0 ? (uint64_t)llround(target) : 0;
    uint64_t n = w->nworkers > 0 ? w->nworkers : 1;
    uint64_t mine = all / n + ((uint64_t)w->index < all % n);
    return mine < w->nslots ? (unsigned)mine : w->nslots;
}

bool runner_stages_tick(struct worker *w, uint64_t now)
{
    const struct scenario *sc = w->sc;
    if (sc->num_stages == 0)
        return false;
    if (w->stage_tick_ns != 0 && now > w->stage_tick_ns)
        w->stats.stage_session_ms[stage_now(w, now)] +=
            (uint64_t)w->open * (now - w->stage_tick_ns) / 1000000u;
    w->stage_tick_ns = now;
    w->stats.num_stages = sc->num_stages;
    if (sc->mode != SCENARIO_CLOSED)
        return false;
    unsigned before = w->allowed;
    w->allowed = share_now(w, now);
    /* Fewer asked for: the newest sessions beyond the target close once their messages in
     * flight settle (counted as unfinished, as at the end of the run). */
    unsigned keep = 0;
    for (unsigned i = 0; i < w->nslots; i++) {
        struct lsession *ls = &w->slots[i];
        if (!ls->active || ls->closing || ls->retiring || ls->close_when_idle)
            continue;
        if (keep < w->allowed) {
            keep++;
            continue;
        }
        ls->retiring = true;
        runner_finish_session(ls);
    }
    return w->allowed > before;
}

unsigned runner_slots_allowed(const struct worker *w)
{
    return w->sc->num_stages > 0 && w->sc->mode == SCENARIO_CLOSED ? w->allowed : w->nslots;
}

void runner_sched_fill(const struct scenario *sc, struct run_stats *st, double warm_up_s,
                       double measured_end_s, double run_s)
{
    st->num_stages = sc->num_stages;
    if (sc->mode == SCENARIO_OPEN)
        st->sched_requested = scenario_stage_integral(sc, warm_up_s, measured_end_s);
    double end = sc->num_stages > 0 ? scenario_stages_total(sc) : run_s;
    for (size_t i = 0; i < st->series_len; i++) {
        struct stats_second *x = &st->series[i];
        double a = (double)i, b = a + 1 < end ? a + 1 : end;
        if (sc->num_stages > 0 && a < end)
            x->stage = scenario_stage_at(sc, a) + 1;
        double asked = a < end ? scenario_stage_integral(sc, a, b) : 0;
        if (sc->mode == SCENARIO_OPEN)
            x->target_rate = asked;
        else if (sc->num_stages > 0)
            x->target_sessions = asked;
    }
}
