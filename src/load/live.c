/*
 * live.c - live metrics of a running load (runner.h, struct runner_live): each worker
 * publishes a snapshot of its own statistics every tick (100 ms; its latency histograms,
 * whose reduction walks their counts, once a second), and any thread (the HTTP server's)
 * reads their sum.
 *
 * No lock on the hot path: a worker reduces its run_stats to a metrics_snapshot on its own
 * thread, then copies it into its slot under the slot's mutex with a trylock, so it never
 * waits (a slot being read keeps last tick's copy until the next). Only a reader holds a slot
 * for longer than a copy, and only for the time of one add. Once the run is over its caller
 * hands in the merged statistics (runner_live_finish), and every read returns those: the
 * final counts, equal to summary.json's.
 *
 * Owns: the slots, their locks, the final snapshot. May not touch: what a snapshot holds
 * (report/metrics.c) or how it is served (cli/metrics_http.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "load/runner_int.h"
#include "report/metrics.h"

struct live_slot {
    pthread_mutex_t lock;
    struct metrics_snapshot snap;
};

struct runner_live {
    pthread_mutex_t lock; /* slots, nslots, final, finished: readers and the calling thread */
    struct live_slot *slots;
    unsigned nslots;
    bool finished;
    struct metrics_snapshot final;
};

int runner_live_create(struct runner_live **out)
{
    struct runner_live *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return ENOMEM;
    pthread_mutex_init(&l->lock, NULL);
    *out = l;
    return 0;
}

void runner_live_free(struct runner_live *l)
{
    if (l == NULL)
        return;
    for (unsigned i = 0; i < l->nslots; i++)
        pthread_mutex_destroy(&l->slots[i].lock);
    free(l->slots);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int runner_live__attach(struct runner_live *l, unsigned workers)
{
    struct live_slot *slots = calloc(workers, sizeof(*slots));
    if (slots == NULL)
        return ENOMEM;
    for (unsigned i = 0; i < workers; i++)
        pthread_mutex_init(&slots[i].lock, NULL);
    pthread_mutex_lock(&l->lock);
    struct live_slot *old = l->slots;
    unsigned nold = l->nslots;
    l->slots = slots;
    l->nslots = workers;
    l->finished = false;
    pthread_mutex_unlock(&l->lock);
    for (unsigned i = 0; i < nold; i++)
        pthread_mutex_destroy(&old[i].lock);
    free(old);
    return 0;
}

/* On the worker's thread: its statistics and gauges now, into its slot. */
void runner_live__publish(struct worker *w, bool wait, bool latency)
{
    struct runner_live *l = w->cfg->live;
    struct metrics_snapshot *m = w->live_snap;
    if (l == NULL || m == NULL || (unsigned)w->index >= l->nslots)
        return;
    metrics_from_stats(m, &w->stats, latency);
    uint64_t now = net_now_ns();
    m->sessions_open = w->open;
    for (unsigned i = 0; i < w->nslots; i++)
        if (w->slots[i].active)
            m->msgs_in_flight += w->slots[i].in_flight;
    if (w->sc->mode == SCENARIO_OPEN && !w->stopping && w->nworkers > 0)
        m->target_rate = scenario_stage_target(w->sc, (double)(now - w->t0_ns) / 1e9) /
                         w->nworkers; /* the workers' shares add up to it; stages move it */
    m->warming_up = now < w->warm_end_ns;
    /* The slots array is fixed while workers run (attached before, freed after them). */
    struct live_slot *s = &l->slots[w->index];
    if (wait)
        pthread_mutex_lock(&s->lock);
    else if (pthread_mutex_trylock(&s->lock) != 0)
        return; /* being read: the next tick publishes */
    s->snap = *m;
    pthread_mutex_unlock(&s->lock);
}

void runner_live_read(struct runner_live *l, struct metrics_snapshot *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&l->lock);
    if (l->finished) {
        *out = l->final;
    } else {
        for (unsigned i = 0; i < l->nslots; i++) {
            pthread_mutex_lock(&l->slots[i].lock);
            metrics_add(out, &l->slots[i].snap);
            pthread_mutex_unlock(&l->slots[i].lock);
        }
    }
    pthread_mutex_unlock(&l->lock);
}

int runner_live_finish(struct runner_live *l, const struct run_stats *final)
{
    struct metrics_snapshot *m = malloc(sizeof(*m));
    if (m == NULL)
        return ENOMEM;
    metrics_from_stats(m, final, true);
    m->finished = true;
    pthread_mutex_lock(&l->lock);
    l->final = *m;
    l->finished = true;
    pthread_mutex_unlock(&l->lock);
    free(m);
    return 0;
}
