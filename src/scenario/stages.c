/*
 * stages.c - load.stages: k6-like steps and ramps of the open-loop rate or of the sessions open
 * at once (closed loop), read and checked with every rule that ties them to the rest of
 * "load", and the schedule's arithmetic the runner and the report use (scenario.h).
 *
 * Owns: what a stage means and the pure functions of time over the stages. May not touch:
 * the wording of messages (reader.c), the other load keys' own reading (sections.c).
 *
 * A stage's target moves linearly from the stage before's (0 before the first) to its own over
 * its duration, or stands at its own at once with "ramp": false. In the open loop the target is
 * messages per second, so the messages scheduled up to t are the integral of a piecewise linear
 * function: quadratic within a stage, and inverted in closed form to find when the n-th is due.
 */
#include "scenario/internal.h"

#include <math.h>
#include <string.h>

/* ---- reading ------------------------------------------------------------------------------ */

#define STAGES_WHAT "an array of 1 to 64 stages"

/* One stage object; *kind is 0 for "rate", 1 for "sessions", -1 until the first stage says. */
static int read_stage(struct scn__ctx *c, const json_t *v, struct scenario_stage *st, int *kind)
{
    static const char *const allowed[] = {"duration", "rate", "sessions", "ramp", NULL};
    if (scn__need_object(c, v) != 0 || scn__check_keys(c, v, allowed) != 0)
        return -1;
    const json_t *d = json_object_get(v, "duration");
    const json_t *r = json_object_get(v, "rate");
    const json_t *s = json_object_get(v, "sessions");
    const json_t *ramp = json_object_get(v, "ramp");
    if (d == NULL)
        return scn__fail(c, "required key \"duration\" missing");
    if (r == NULL && s == NULL)
        return scn__fail(c, "a stage takes \"rate\" (open loop) or \"sessions\" (closed loop)");
    if (r != NULL && s != NULL)
        return scn__fail(c, "a stage takes \"rate\" or \"sessions\", not both");
    int k = r != NULL ? 0 : 1;
    if (*kind >= 0 && k != *kind)
        return scn__fail(c, "every stage takes \"%s\" as the first one does, got \"%s\"",
                         *kind == 0 ? "rate" : "sessions", k == 0 ? "rate" : "sessions");
    *kind = k;
    size_t mark = scn__path_push(c, ".duration");
    if (scn__get_seconds(c, d, false, &st->duration_s) != 0)
        return -1;
    scn__path_pop(c, mark);
    if (k == 0) {
        mark = scn__path_push(c, ".rate");
        if (scn__get_number(c, r, true, &st->target) != 0)
            return -1;
    } else {
        mark = scn__path_push(c, ".sessions");
        json_int_t n;
        if (scn__get_int(c, s, 0, (json_int_t)SCENARIO_MAX_CONCURRENCY, &n) != 0)
            return -1;
        st->target = (double)n;
    }
    scn__path_pop(c, mark);
    st->ramp = true;
    if (ramp != NULL) {
        mark = scn__path_push(c, ".ramp");
        if (scn__get_bool(c, ramp, &st->ramp) != 0)
            return -1;
        scn__path_pop(c, mark);
    }
    return 0;
}

/* A key of "load" the stages take the place of: refused beside them. */
static int refuse_beside(struct scn__ctx *c, const json_t *load, const char *key, const char *why)
{
    if (json_object_get(load, key) == NULL)
        return 0;
    scn__path_push(c, ".%s", key);
    return scn__fail(c, "not allowed with load.stages: %s", why);
}

int scn__check_stages(struct scn__ctx *c, const json_t *load)
{
    struct scenario *sc = c->sc;
    const json_t *v = json_object_get(load, "stages");
    if (v == NULL)
        return 0;
    size_t mark = scn__path_push(c, ".stages");
    if (!json_is_array(v) || json_array_size(v) == 0)
        return scn__expected(c, STAGES_WHAT, v, false);
    if (json_array_size(v) > SCENARIO_MAX_STAGES)
        return scn__fail(c, "expected %s, got an array of %zu", STAGES_WHAT, json_array_size(v));
    int kind = -1;
    double start = 0, prev = 0, peak = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        struct scenario_stage *st = &sc->stages[i];
        size_t m = scn__path_push(c, "[%zu]", i);
        if (read_stage(c, json_array_get(v, i), st, &kind) != 0)
            return -1;
        st->from = st->ramp ? prev : st->target;
        st->start_s = start;
        start += st->duration_s;
        prev = st->target;
        peak = st->target > peak ? st->target : peak;
        scn__path_pop(c, m);
    }
    sc->num_stages = (unsigned)json_array_size(v);
    if (peak <= 0)
        return scn__fail(c, "every stage's target is 0: nothing would be sent");
    if (start > MAX_SECONDS)
        return scn__fail(c, "the stages last %.0f s, more than 1000000000", start);
    enum scenario_mode mode = kind == 0 ? SCENARIO_OPEN : SCENARIO_CLOSED;
    const json_t *given_mode = json_object_get(load, "mode");
    if (given_mode != NULL && sc->mode != mode) {
        scn__path_pop(c, mark);
        scn__path_push(c, ".mode");
        return scn__fail(c, "the stages give \"%s\" (%s), which needs mode \"%s\"",
                         kind == 0 ? "rate" : "sessions",
                         kind == 0 ? "messages per second" : "sessions open at once",
                         kind == 0 ? "open" : "closed");
    }
    sc->mode = mode;
    scn__path_pop(c, mark);
    if (refuse_beside(c, load, "rate", "the stages give the rate") != 0 ||
        refuse_beside(c, load, "duration",
                      "the run lasts the stages' durations added up") != 0)
        return -1;
    if (mode == SCENARIO_CLOSED) {
        if (refuse_beside(c, load, "concurrency",
                          "closed-loop stages give the sessions open at once") != 0 ||
            refuse_beside(c, load, "ramp_up", "the stages ramp the sessions up") != 0)
            return -1;
        /* Sessions open at once follow the stages, up to their peak; the run lasts the stages
         * however many sessions that takes, unless load.sessions bounds them. */
        sc->concurrency = (uint64_t)peak;
        sc->concurrency_given = true;
        if (json_object_get(load, "sessions") == NULL)
            sc->sessions = SCENARIO_MAX_SESSIONS;
        else if (sc->sessions < sc->concurrency) {
            scn__path_push(c, ".sessions");
            return scn__fail(c, "expected at least the stages' peak of %llu sessions open at "
                                "once, got %llu",
                             (unsigned long long)sc->concurrency,
                             (unsigned long long)sc->sessions);
        }
    }
    if (sc->warm_up_s >= start) {
        scn__path_push(c, ".warm_up");
        return scn__fail(c, "expected fewer seconds than the stages last (%g), got %g", start,
                         sc->warm_up_s);
    }
    /* The warm-up is the stages' first seconds; duration stays the measured time. */
    sc->duration_s = start - sc->warm_up_s;
    return 0;
}

/* ---- the schedule ------------------------------------------------------------------------- */

double scenario_stages_total(const struct scenario *sc)
{
    if (sc->num_stages == 0)
        return 0;
    const struct scenario_stage *last = &sc->stages[sc->num_stages - 1];
    return last->start_s + last->duration_s;
}

unsigned scenario_stage_at(const struct scenario *sc, double t)
{
    unsigned i = 0;
    while (i + 1 < sc->num_stages && t >= sc->stages[i + 1].start_s)
        i++;
    return i;
}

/* The target x seconds into stage st (0 <= x <= its duration). */
static double target_in(const struct scenario_stage *st, double x)
{
    if (!st->ramp || st->duration_s <= 0)
        return st->target;
    return st->from + (st->target - st->from) * (x / st->duration_s);
}

double scenario_stage_target(const struct scenario *sc, double t)
{
    if (sc->num_stages == 0)
        return sc->mode == SCENARIO_OPEN ? sc->rate : (double)sc->concurrency;
    if (t < 0 || t >= scenario_stages_total(sc))
        return 0;
    const struct scenario_stage *st = &sc->stages[scenario_stage_at(sc, t)];
    return target_in(st, t - st->start_s);
}

/* The target integrated over the first x seconds of stage st. */
static double integral_in(const struct scenario_stage *st, double x)
{
    return x * (st->from + target_in(st, x)) / 2;
}

/* From 0 to t. */
static double integral_to(const struct scenario *sc, double t)
{
    if (t <= 0)
        return 0;
    if (sc->num_stages == 0)
        return scenario_stage_target(sc, 0) * t;
    double sum = 0;
    for (unsigned i = 0; i < sc->num_stages; i++) {
        const struct scenario_stage *st = &sc->stages[i];
        if (t <= st->start_s)
            break;
        double x = t - st->start_s;
        sum += integral_in(st, x < st->duration_s ? x : st->duration_s);
    }
    return sum;
}

double scenario_stage_integral(const struct scenario *sc, double a, double b)
{
    return b > a ? integral_to(sc, b) - integral_to(sc, a) : 0;
}

/* Where within stage st the integral reaches m (0 < m <= the stage's whole integral): solves
 * k/2 x^2 + a x = m with k the slope, written so that k near 0 loses no precision. */
static double solve_in(const struct scenario_stage *st, double m)
{
    double a = st->ramp ? st->from : st->target;
    double k = st->ramp && st->duration_s > 0 ? (st->target - st->from) / st->duration_s : 0;
    double disc = a * a + 2 * k * m;
    double root = disc > 0 ? sqrt(disc) : 0;
    double x = a + root > 0 ? 2 * m / (a + root) : st->duration_s;
    return x < st->duration_s ? x : st->duration_s;
}

double scenario_stage_when(const struct scenario *sc, double n)
{
    if (n <= 0)
        return 0;
    if (sc->num_stages == 0) {
        double r = scenario_stage_target(sc, 0);
        return r > 0 ? n / r : INFINITY;
    }
    double sum = 0;
    for (unsigned i = 0; i < sc->num_stages; i++) {
        const struct scenario_stage *st = &sc->stages[i];
        double whole = integral_in(st, st->duration_s);
        if (sum + whole >= n && whole > 0)
            return st->start_s + solve_in(st, n - sum);
        sum += whole;
    }
    return INFINITY;
}

void scenario_stages_scale(struct scenario *sc, unsigned index, unsigned n)
{
    if (n <= 1)
        return;
    for (unsigned i = 0; i < sc->num_stages; i++) {
        struct scenario_stage *st = &sc->stages[i];
        if (sc->mode == SCENARIO_OPEN) {
            st->target /= n;
            st->from /= n;
            continue;
        }
        /* Sessions: the first hosts take the remainders, as --shard shares them. */
        uint64_t t = (uint64_t)st->target, f = (uint64_t)st->from;
        st->target = (double)(t / n + (index - 1 < t % n));
        st->from = (double)(f / n + (index - 1 < f % n));
    }
}
