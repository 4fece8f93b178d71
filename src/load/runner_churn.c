/*
 * runner_churn.c - churn (load.session_lifetime, load.endings; scenarios/README.md "Churn"):
 * each calling session draws a lifetime and a way to end from its own generator when it
 * starts; when the lifetime is over (its steps not having ended it first) it ends that way:
 * clean (msrp_session_close after the responses in flight), abrupt (close() at once), reset
 * (an RST), silent (the connection kept open, reading stopped, nothing more written, closed
 * at the run's end unless its peer closes it first) or, through a relay, no_reauth (the same,
 * but still read, so that only the relay's Expires can end what its AUTH set up: RFC 4976
 * section 6.3, when the AUTH carried an Expires the relay MUST invalidate the URI after it).
 * Its slot then starts the next session (runner.c), so set-up and tear-down go on for the
 * whole run.
 *
 * Owns: the lifetime timer's firing, the draw of the ending, the worker's silent connections.
 * May not touch: how sessions are counted when they end (runner_steps.c on_end counts
 * stats.session_endings by ls->ending once ls->lifetime_over is set).
 */
#include <stdlib.h>

#include "load/runner_int.h"
#include "msrp/session.h"
#include "net/conn.h"
#include "net/loop.h"
#include "scenario/scenario.h"

_Static_assert(SCENARIO_ENDINGS < STATS_ENDINGS, "stats.h: STATS_ENDINGS too small");

static void silent_closed(struct net_conn *c, int err, const char *why)
{
    (void)err;
    (void)why;
    struct silent_conn *sc = net_conn_user(c);
    if (sc == NULL)
        return;
    if (sc->prev != NULL)
        sc->prev->next = sc->next;
    else
        sc->w->silent = sc->next;
    if (sc->next != NULL)
        sc->next->prev = sc->prev;
    free(sc);
}

/* A silent connection's reading is stopped, so no bytes come, but for what its transport took
 * in before; a no_reauth one is still read. Either way the bytes are dropped unread. */
static size_t silent_data(struct net_conn *c, const char *buf, size_t len)
{
    (void)c;
    (void)buf;
    return len;
}

/* A silent connection reads nothing and is written nothing more: only its close is heard. */
static const struct net_conn_handlers silent_handlers = {.on_data = silent_data,
                                                         .on_close = silent_closed};

void runner_close_silent(struct worker *w)
{
    /* bounded: each close unlinks one (silent_closed) */
    while (w->silent != NULL)
        net_conn_close(w->silent->c, false);
}

static void lifetime_over(struct net_loop *loop, struct net_timer *t)
{
    struct lsession *ls = t->arg;
    struct worker *w = ls->w;
    if (!ls->active || ls->closing || ls->close_when_idle || w->stopping || ls->retiring)
        return; /* ending already */
    if (ls->s == NULL) {
        /* its topology is still setting it up (relay AUTH): it ends once it has a session */
        net_timer_start(loop, t, 50000000ull);
        return;
    }
    ls->lifetime_over = true;
    net_timer_stop(loop, &ls->timer); /* no more pacing, pauses or thinking */
    ls->finished = true;              /* it lived its life: completed, not failed */
    if (ls->ending == SCENARIO_ENDING_CLEAN) {
        runner_finish_session(ls); /* after the responses in flight, as at the steps' end */
        return;
    }
    ls->closing = true;
    enum msrp_leave how = ls->ending == SCENARIO_ENDING_ABRUPT   ? MSRP_LEAVE_ABRUPT
                          : ls->ending == SCENARIO_ENDING_RESET  ? MSRP_LEAVE_RESET
                          : ls->ending == SCENARIO_ENDING_SILENT ? MSRP_LEAVE_SILENT
                          : ls->ending == SCENARIO_ENDING_NO_REAUTH ? MSRP_LEAVE_IDLE
                                                                 : MSRP_LEAVE_DROP;
    /* on_end runs inside and may start the slot's next session: ls is not ours after this */
    struct net_conn *c = msrp_session_leave(ls->s, how);
    if (c == NULL)
        return;
    struct silent_conn *sc = calloc(1, sizeof(*sc));
    if (sc == NULL) {
        net_conn_close(c, false); /* no room to keep it: closed instead */
        return;
    }
    sc->c = c;
    sc->w = w;
    sc->next = w->silent;
    if (w->silent != NULL)
        w->silent->prev = sc;
    w->silent = sc;
    w->silent_count++;
    net_conn_set_handlers(c, &silent_handlers);
    net_conn_set_user(c, sc);
}

void runner_lifetime_start(struct lsession *ls)
{
    const struct scenario *sc = ls->w->sc;
    if (!sc->has_lifetime || !ls->active)
        return;
    /* Drawn from the session's own generator: the same seed repeats the same lives. */
    double life_s = distrib_draw(&sc->session_lifetime, &ls->rng);
    double total = 0;
    for (unsigned k = 0; k < SCENARIO_ENDINGS; k++)
        total += sc->endings[k];
    double u = distrib_unit(&ls->rng) * total;
    unsigned k = 0;
    while (k + 1 < SCENARIO_ENDINGS && (sc->endings[k] <= 0 || u >= sc->endings[k])) {
        u -= sc->endings[k];
        k++;
    }
    while (sc->endings[k] <= 0 && k > 0) /* rounding past the last weighted kind */
        k--;
    ls->ending = k;
    ls->life.fn = lifetime_over;
    ls->life.arg = ls;
    net_timer_start(ls->w->loop, &ls->life, (uint64_t)(life_s * 1e9));
}

