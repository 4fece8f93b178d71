/*
 * runner.c - the load runner's core (runner.h): worker threads, each with its own loop and a
 * slot array of calling sessions (its share of `concurrency`). A slot starts a session
 * through the run's topology (topology.h: embedded, target or relay), and when the session
 * ends starts the next one, paced by session_rate and ramp_up, until the worker's share of
 * `sessions` has run. A tick every 100 ms sizes the batching window, feeds the progress line
 * and ends the run: at its end, or at a stop request, the worker drains for a bounded time.
 * The calling thread prints progress and merges the workers' statistics after the join.
 *
 * Owns: workers and their threads, slots and the starting of sessions, the clock and the
 * drain, the run's set-up, merge and teardown; with live metrics on, each tick publishes the
 * worker's snapshot (live.c).
 * May not touch: where sessions go or how they reach their peer (topology_*.c, only through
 * w->topo), what a session does and counts once started (runner_steps.c).
 */
#include "load/runner.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include "load/failures.h"
#include "load/pending.h"
#include "load/runner_int.h"
#include "load/topology.h"
#include "msrp/session.h"
#include "net/loop.h"

#define TICK_NS (100ull * 1000000ull)
/* After a session could not start for want of descriptors or memory: the wait before the next. */
#define START_RETRY_NS (100ull * 1000000ull)
/* Fewer latencies than this in a second so far say too little to size a batching window. */
#define AUTO_BATCH_MIN_SAMPLES 32u
#define MAX_BODY (1ull << 30)

_Static_assert(RUNNER_END_LOCAL_ERROR < STATS_END_KINDS, "stats.h: STATS_END_KINDS too small");

const char *runner_end_name(unsigned kind)
{
    switch (kind) {
    case RUNNER_END_AUTH_FAILED:
        return "auth-failed";
    case RUNNER_END_LOCAL_ERROR:
        return "local-error";
    }
    return msrp_session_end_name((enum msrp_session_end)kind);
}

/* ---- slots ------------------------------------------------------------------------------- */

static void start_sessions(struct worker *w);

/* The slot is free again (its session, if it had one, is gone): the next one may start. */
void runner_slot_ended(struct lsession *ls)
{
    struct worker *w = ls->w;
    net_timer_stop(w->loop, &ls->life);
    free(ls->repeat_left);
    ls->repeat_left = NULL;
    ls->active = false;
    ls->pacing = false; /* a pacing call on the stack stops with this session */
    ls->s = NULL;
    w->open--;
    __atomic_store_n(&w->prog_open, w->open, __ATOMIC_RELAXED);
    start_sessions(w);
}

/* ---- starting sessions -------------------------------------------------------------------- */

/* With --shard I/N the ids start with "hI-", so N hosts never share a session id. */
static void shard_prefix(const struct worker *w, char *out, size_t cap)
{
    out[0] = '\0';
    if (w->cfg->shard_count > 1)
        snprintf(out, cap, "h%u-", w->cfg->shard_index);
}

/*
 * The URI of one of our ends over transport t: msrp or msrps, ";tcp" or ";ws" (RFC 7977
 * 5.2.1). A WebSocket client cannot know the address its connection came from, so its URI
 * takes a random token under ".invalid" as host (RFC 7977 8.1.1 and Appendix A; nothing
 * routes by it through a relay); other ends name 127.0.0.1:port.
 */
static void end_uri(struct worker *w, enum scenario_transport t, bool ws_client, unsigned port,
                    const char *id, char *out, size_t cap)
{
    const char *scheme = scenario_transport_secure(t) ? "msrps" : "msrp";
    if (scenario_transport_ws(t) && ws_client) {
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
        char token[13];
        /* xorshift64: the token need only differ between sessions, not be secret */
        for (int i = 0; i < 12; i++) {
            w->uri_seed ^= w->uri_seed << 13;
            w->uri_seed ^= w->uri_seed >> 7;
            w->uri_seed ^= w->uri_seed << 17;
            token[i] = alphabet[w->uri_seed % 36];
        }
        token[12] = '\0';
        snprintf(out, cap, "%s://%s.invalid:2855/%s;ws", scheme, token, id);
        return;
    }
    snprintf(out, cap, "%s://127.0.0.1:%u/%s;%s", scheme, port, id,
             scenario_transport_ws(t) ? "ws" : "tcp");
}

void runner_name_answering_end(struct lsession *ls, unsigned port, uint64_t n, bool ws_client)
{
    struct worker *w = ls->w;
    char shard[16], id[64];
    shard_prefix(w, shard, sizeof(shard));
    snprintf(id, sizeof(id), "%sw%da%llu", shard, w->index, (unsigned long long)n);
    end_uri(w, w->sc->end_transport[SCENARIO_ANSWERER], ws_client, port, id, ls->expect_uri,
            sizeof(ls->expect_uri));
}

void runner_slot_begin(struct lsession *ls)
{
    ls->started_ns = net_now_ns();
    ls->active = true;
}

/* The scenario's answering behaviour, for the answering end of session number n. */
void runner_answer_config(const struct worker *w, const struct lsession *ls, uint64_t n,
                          struct msrp_session_config *acfg)
{
    const struct scenario *sc = w->sc;
    msrp_session_config_default(acfg);
    acfg->local_uri = ls->expect_uri;
    acfg->accept_types = sc->accept_types;
    acfg->always_respond_status = sc->answer_status == 200 ? 0 : sc->answer_status;
    acfg->reasm.max_message = sc->max_message;
    acfg->reasm.no_digest = !sc->answer_check_sha256;
    acfg->response_delay_min_ns = sc->answer_delay_min_ns;
    acfg->response_delay_max_ns = sc->answer_delay_max_ns;
    acfg->drop_fraction = sc->answer_drop;
    acfg->reject_after_bytes = sc->answer_reject_after;
    acfg->answer_seed = n;
    acfg->keep_bodies_max = runner_cpim_keep(w);
    acfg->keep_bodies_type = "message/cpim";
}

static void slot_started(struct worker *w, struct lsession *ls)
{
    w->open++;
    w->started++;
    w->stats.sessions_started++;
    struct stats_second *sec = second(w, ls->started_ns);
    if (sec != NULL)
        sec->sessions_started++;
    __atomic_store_n(&w->prog_open, w->open, __ATOMIC_RELAXED);
}

/* Errors of this machine rather than of the peer: running out of descriptors, memory, ports. */
static bool local_errno(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOMEM || e == ENOBUFS || e == EADDRNOTAVAIL ||
           e == EAGAIN;
}

/*
 * A session that could not even start: it is started and failed at once, so that the counts
 * still add up (started = completed + failed + unfinished). Returns whether it was for want of
 * local resources, or refused (ECONNREFUSED): the caller then waits before starting another.
 */
static bool start_failed(struct worker *w, struct lsession *ls, int e, const char *what,
                         const char *peer)
{
    uint64_t now = net_now_ns();
    bool local = local_errno(e);
    free(ls->repeat_left);
    ls->repeat_left = NULL;
    ls->active = false;
    w->started++;
    w->stats.sessions_started++;
    w->stats.sessions_failed++;
    w->stats.session_ends[local ? RUNNER_END_LOCAL_ERROR : MSRP_END_CONNECT_FAILED]++;
    w->stats.session_endings[STATS_ENDINGS - 1]++; /* not by a lifetime */
    struct stats_second *sec = second(w, now);
    if (sec != NULL) {
        sec->sessions_started++;
        sec->sessions_ended++;
        sec->sessions_failed++;
    }
    char text[256];
    snprintf(text, sizeof(text), "session %s: %s: %s", ls->local_uri, what, strerror(e));
    note_error(w, text);
    char detail[160];
    snprintf(detail, sizeof(detail), "%s: %s", what, strerror(e));
    failure_note(w->failures, local ? RUNNER_END_LOCAL_ERROR : MSRP_END_CONNECT_FAILED, now,
                 ls->local_uri, peer, detail, NULL);
    /* ECONNREFUSED: the topology knows the peer refuses now (topology.h): wait too, rather
     * than fail the rest of the share in a blink. */
    return local || e == ECONNREFUSED;
}

enum start_result { START_OK, START_FAILED, START_NO_RESOURCES };

static enum start_result start_one(struct worker *w, struct lsession *ls)
{
    const struct scenario *sc = w->sc;
    uint64_t n = w->seq++;
    /* Open loop: the slot's schedule goes on in its next session (schedule.c), so sessions
     * that end and are replaced keep to the rate asked for instead of each new one sending
     * its first message at once. */
    uint64_t slot_next_ns = ls->next_intended_ns;
    double slot_pos = ls->sched_pos;
    memset(ls, 0, sizeof(*ls));
    ls->next_intended_ns = slot_next_ns;
    ls->sched_pos = slot_pos;
    ls->w = w;
    ls->timer.arg = ls;
    distrib_rng_session(&ls->rng, sc->seed, runner_session_index(w, n));
    size_t row = runner_data_row(w, n, 0);
    ls->data_row = row != SIZE_MAX ? scenario_data_cells(sc->data, row) : NULL;
    ls->data_index = row;
    char shard[16], id[64];
    shard_prefix(w, shard, sizeof(shard));
    snprintf(id, sizeof(id), "%sw%dc%llu", shard, w->index, (unsigned long long)n);
    /* the calling end is always the client of its connection */
    end_uri(w, sc->end_transport[SCENARIO_CALLER], true, 9, id, ls->local_uri,
            sizeof(ls->local_uri));
    ls->repeat_left = calloc(sc->num_steps, sizeof(uint32_t));
    if (ls->repeat_left == NULL)
        return start_failed(w, ls, ENOMEM, "cannot start", "") ? START_NO_RESOURCES
                                                                : START_FAILED;
    struct msrp_session_config cfg;
    msrp_session_config_default(&cfg);
    cfg.local_uri = ls->local_uri;
    cfg.reasm.no_digest = true;
    cfg.trace_frames = true; /* its last frames, should it fail (errors.jsonl) */
    cfg.keep_bodies_max = runner_cpim_keep(w); /* notifications read back (send.cpim) */
    cfg.keep_bodies_type = "message/cpim";
    cfg.violate = w->cfg->violate;
    struct topology_failure why = {"cannot start", ""};
    int e = w->topo->start_session(ls, n, &cfg, &why);
    if (e != 0)
        return start_failed(w, ls, e, why.what, why.peer) ? START_NO_RESOURCES : START_FAILED;
    slot_started(w, ls);
    runner_lifetime_start(ls);
    return START_OK;
}

static void starter_fired(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    start_sessions(t->arg);
}

/* Starts sessions while a slot is free, the share is not used up, and the pace allows. */
static void start_sessions(struct worker *w)
{
    while (!w->stopping && w->open < runner_slots_allowed(w) && w->started < w->quota) {
        uint64_t now = net_now_ns();
        if (w->start_interval_ns > 0 && now < w->next_start_ns) {
            if (!net_timer_armed(&w->starter))
                net_timer_start(w->loop, &w->starter, w->next_start_ns - now);
            return;
        }
        struct lsession *ls = NULL;
        for (unsigned i = 0; i < w->nslots && ls == NULL; i++)
            if (!w->slots[i].active)
                ls = &w->slots[i];
        if (ls == NULL)
            return;
        w->next_start_ns = (w->next_start_ns > now ? w->next_start_ns : now) + w->start_interval_ns;
        /* One that cannot even start is counted as started and failed (start_failed). */
        if (start_one(w, ls) == START_NO_RESOURCES) {
            /* Out of descriptors or memory: wait for sessions to end and free some, rather
             * than spend the rest of the share on failures in a blink. */
            net_timer_stop(w->loop, &w->starter);
            net_timer_start(w->loop, &w->starter, START_RETRY_NS);
            return;
        }
    }
}

/* ---- the worker's clock ------------------------------------------------------------------- */

static void begin_stop(struct worker *w, uint64_t now)
{
    if (w->stopping)
        return;
    w->stopping = true;
    w->drain_deadline_ns = now + (uint64_t)(w->cfg->drain_s * 1e9);
    /* No new messages; each session closes when its messages in flight have settled. */
    for (unsigned i = 0; i < w->nslots; i++) {
        struct lsession *ls = &w->slots[i];
        if (ls->active && !ls->closing) {
            net_timer_stop(w->loop, &ls->timer);
            runner_finish_session(ls);
        }
    }
}

uint64_t runner_auto_batch_window_ns(uint64_t median_latency_us)
{
    uint64_t ns = median_latency_us * 1000u / RUNNER_AUTO_BATCH_DIVISOR;
    return ns < RUNNER_AUTO_BATCH_MAX_NS ? ns : RUNNER_AUTO_BATCH_MAX_NS;
}

static void set_batch_window(struct worker *w, uint64_t ns)
{
    net_loop_set_batch_window(w->loop, ns);
    stats_note_batch_window(&w->stats, ns);
}

static void tick(struct net_loop *loop, struct net_timer *t)
{
    struct worker *w = t->arg;
    uint64_t now = net_now_ns();
    /* Every tick, from this second's latencies so far: a window follows the load in 100 ms. */
    if (w->sc->batch_window_auto && histogram_count(&w->interval) >= AUTO_BATCH_MIN_SAMPLES)
        set_batch_window(w, runner_auto_batch_window_ns(histogram_percentile(&w->interval, 50)));
    bool new_second = now >= w->next_second_ns;
    if (new_second) {
        /* The progress line's "p99 so far" is the last whole second's, per worker. */
        __atomic_store_n(&w->prog_p99_us, histogram_percentile(&w->interval, 99),
                         __ATOMIC_RELAXED);
        histogram_reset(&w->interval);
        w->next_second_ns += 1000000000ull;
    }
    if (pending_count(&w->pending) > 0 || pending_count(&w->imdn_wait) > 0)
        for (unsigned i = 0; i < w->nslots; i++)
            if (w->slots[i].active)
                runner_expire_undelivered(&w->slots[i], now);
    sig_atomic_t stop = *w->cfg->stop;
    if (stop >= 2) {
        net_loop_stop(loop);
        return;
    }
    if (stop == 1 || now >= w->end_ns)
        begin_stop(w, now);
    /* The share is done: every session started has ended and no more may start. */
    if (w->open == 0 && (w->stopping || w->started >= w->quota)) {
        net_loop_stop(loop);
        return;
    }
    if (w->stopping && now >= w->drain_deadline_ns) {
        net_loop_stop(loop);
        return;
    }
    if (runner_stages_tick(w, now))
        start_sessions(w); /* closed-loop stages ask for more sessions now */
    if (w->live_snap != NULL)
        runner_live__publish(w, false, new_second);
    net_timer_start(loop, t, TICK_NS);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->tick.fn = tick;
    w->tick.arg = w;
    w->starter.fn = starter_fired;
    w->starter.arg = w;
    w->next_start_ns = net_now_ns();
    w->next_second_ns = w->t0_ns + 1000000000ull;
    /* Batching windows are tens to hundreds of microseconds: the default 50 us timer slack
     * would stretch them. */
    prctl(PR_SET_TIMERSLACK, 1000ul, 0ul, 0ul, 0ul);
    if (!w->sc->batch_window_auto)
        set_batch_window(w, (uint64_t)(w->sc->batch_window_s * 1e9 + 0.5));
    runner_stages_tick(w, net_now_ns()); /* the stages' sessions at the start */
    start_sessions(w);
    net_timer_start(w->loop, &w->tick, TICK_NS);
    net_loop_run(w->loop);
    /* Whatever is still open ends now (its statistics are recorded); nothing starts again. */
    w->stopping = true;
    for (unsigned i = 0; i < w->nslots; i++)
        if (w->slots[i].active && w->slots[i].s == NULL && w->topo->abandon != NULL)
            w->topo->abandon(&w->slots[i]);
    msrp_session_abort_all();
    runner_close_silent(w);
    w->topo->fini(w);
    if (w->live_snap != NULL)
        runner_live__publish(w, true, true); /* everything it counted, before the merge */
    __atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
    return NULL;
}

/* ---- the run ------------------------------------------------------------------------------ */

static int worker_setup(struct worker *w, const struct run_config *cfg, int index, char *err,
                        size_t errlen)
{
    const struct scenario *sc = cfg->sc;
    w->index = index;
    w->cfg = cfg;
    w->sc = sc;
    w->failures = calloc(1, sizeof(*w->failures));
    if (w->failures == NULL || stats_init(&w->stats) != 0 ||
        net_loop_create(&w->loop, 65536) != 0 ||
        histogram_init(&w->interval, 1, 3600ull * 1000000ull, 2) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (getrandom(&w->uri_seed, sizeof(w->uri_seed), 0) != sizeof(w->uri_seed) ||
        w->uri_seed == 0)
        w->uri_seed = net_now_ns() | 1; /* any nonzero seed will do for the URIs' tokens */
    w->topo = topology_for_scenario(sc);
    if (w->topo == NULL) {
        snprintf(err, errlen, "%s: no such topology", sc->path);
        return -1;
    }
    return w->topo->init(w, err, errlen);
}

/* One read-only payload serves every message of every thread. NULL (err filled) when the
 * scenario's largest message is too large or memory runs out. */
static char *make_body(const struct scenario *sc, uint64_t *len, char *err, size_t errlen)
{
    uint64_t body_max = 0;
    for (unsigned i = 0; i < sc->num_steps; i++)
        if (sc->steps[i].kind == SCN_STEP_SEND && sc->steps[i].u.send.size_max > body_max)
            body_max = sc->steps[i].u.send.size_max;
    if (body_max > MAX_BODY) {
        snprintf(err, errlen, "%s: messages above 1 GiB are not supported by the runner yet",
                 sc->path);
        return NULL;
    }
    char *body = malloc(body_max ? body_max : 1);
    if (body == NULL) {
        snprintf(err, errlen, "out of memory for a %llu-byte payload",
                 (unsigned long long)body_max);
        return NULL;
    }
    for (uint64_t i = 0; i < body_max; i++)
        body[i] = (char)('a' + i % 26);
    *len = body_max;
    return body;
}

/* The process's resident memory in bytes (/proc/self/statm's second field); 0 if unknown. */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
}

/* Memory per open session end (stats.h mem_*): sampled by watch_workers every 250 ms. */
struct mem_watch {
    unsigned ends_per_session; /* connections in this process per calling session */
    uint64_t rss_peak_open, ends_peak_open, next_ns;
};

static void mem_sample(struct mem_watch *mw, const struct worker *ws, unsigned threads,
                       uint64_t now)
{
    if (now < mw->next_ns)
        return;
    mw->next_ns = now + 250000000ull;
    uint64_t open = 0;
    for (unsigned i = 0; i < threads; i++)
        open += __atomic_load_n(&ws[i].prog_open, __ATOMIC_RELAXED);
    /* The last sample at the most ends open: sessions that hold still have settled by then. */
    if (open > 0 && open * mw->ends_per_session >= mw->ends_peak_open) {
        mw->ends_peak_open = open * mw->ends_per_session;
        mw->rss_peak_open = rss_bytes();
    }
}

/* Until every worker is done: the progress line, and passing stop requests on to the workers. */
static void watch_workers(const struct run_config *cfg, struct worker *ws, unsigned threads,
                          uint64_t t0, uint64_t warm_end, struct mem_watch *mw)
{
    uint64_t last_msgs = 0, last_bytes = 0;
    uint64_t next_report = t0 + 1000000000ull;
    for (;;) {
        bool all_done = true;
        for (unsigned i = 0; i < threads; i++)
            all_done = all_done && __atomic_load_n(&ws[i].done, __ATOMIC_ACQUIRE);
        if (all_done)
            break;
        usleep(20000);
        if (*cfg->stop != 0)
            for (unsigned i = 0; i < threads; i++)
                net_loop_wake(ws[i].loop);
        uint64_t now = net_now_ns();
        mem_sample(mw, ws, threads, now);
        if (cfg->progress && now >= next_report) {
            uint64_t msgs = 0, errs = 0, bytes = 0, p99 = 0;
            unsigned open = 0;
            for (unsigned i = 0; i < threads; i++) {
                msgs += __atomic_load_n(&ws[i].prog_msgs, __ATOMIC_RELAXED);
                errs += __atomic_load_n(&ws[i].prog_errors, __ATOMIC_RELAXED);
                bytes += __atomic_load_n(&ws[i].prog_bytes, __ATOMIC_RELAXED);
                open += __atomic_load_n(&ws[i].prog_open, __ATOMIC_RELAXED);
                uint64_t p = __atomic_load_n(&ws[i].prog_p99_us, __ATOMIC_RELAXED);
                p99 = p > p99 ? p : p99;
            }
            char p99_text[32] = "-"; /* no samples yet (warm-up) */
            if (p99 > 0)
                snprintf(p99_text, sizeof(p99_text), "%.2f ms", (double)p99 / 1e3);
            fprintf(stderr,
                    "[%5.0fs] %u sessions open, %.0f msg/s, %.2f MB/s, p99 %s, %llu errors%s\n",
                    (now - t0) / 1e9, open, (double)(msgs - last_msgs),
                    (double)(bytes - last_bytes) / 1e6, p99_text, (unsigned long long)errs,
                    now < warm_end ? " (warm-up)" : "");
            last_msgs = msgs;
            last_bytes = bytes;
            next_report += 1000000000ull;
        }
    }
}

/* Frees what the workers hold, whether or not their threads ran. */
static void free_workers(struct worker *ws, unsigned threads)
{
    for (unsigned i = 0; i < threads; i++) {
        struct worker *w = &ws[i];
        for (unsigned k = 0; w->slots != NULL && k < w->nslots; k++)
            free(w->slots[k].repeat_left);
        while (w->free_tags != NULL) {
            struct msg_tag *next = w->free_tags->next_free;
            free(w->free_tags);
            w->free_tags = next;
        }
        free(w->slots);
        free(w->raw);
        if (w->topo != NULL)
            w->topo->fini(w);
        runner_file_fini(w);
        if (w->loop != NULL)
            net_loop_destroy(w->loop);
        stats_free(&w->stats);
        free(w->failures);
        pending_free(&w->pending);
        pending_free(&w->imdn_wait);
        free(w->cpim_ids);
        histogram_free(&w->interval);
        free(w->live_snap);
    }
}

int runner_run(const struct run_config *cfg, struct run_stats *stats, struct run_outcome *out,
               char *err, size_t errlen)
{
    const struct scenario *sc = cfg->sc;
    memset(out, 0, sizeof(*out));
    out->failures = calloc(1, sizeof(*out->failures));
    if (out->failures == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint64_t body_len = 0;
    char *body = make_body(sc, &body_len, err, errlen);
    if (body == NULL)
        return -1;

    unsigned threads = sc->threads;
    if ((uint64_t)threads > sc->concurrency)
        threads = (unsigned)sc->concurrency;
    struct worker *ws = calloc(threads, sizeof(*ws));
    int rc = -1;
    if (ws == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    out->started_unix = (double)tv.tv_sec + tv.tv_usec / 1e6;
    uint64_t t0 = net_now_ns();
    out->failures->t0_ns = t0;
    out->failures->started_unix = out->started_unix;
    uint64_t warm_end = t0 + (uint64_t)(sc->warm_up_s * 1e9);
    uint64_t end = warm_end + (uint64_t)(sc->duration_s * 1e9);
    if (cfg->live != NULL && runner_live__attach(cfg->live, threads) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < threads; i++) {
        struct worker *w = &ws[i];
        w->nworkers = threads;
        if (worker_setup(w, cfg, (int)i, err, errlen) != 0)
            goto out;
        if (cfg->live != NULL && (w->live_snap = calloc(1, sizeof(*w->live_snap))) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        /* Shares: the first threads take the remainders. */
        w->nslots = (unsigned)(sc->concurrency / threads + (i < sc->concurrency % threads));
        w->quota = sc->sessions / threads + (i < sc->sessions % threads);
        w->slots = calloc(w->nslots, sizeof(*w->slots));
        if (w->slots == NULL) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        double rate = sc->session_rate > 0 ? sc->session_rate / threads : 0;
        double ramp = sc->ramp_up_s > 0 && w->nslots > 0 ? sc->ramp_up_s / w->nslots : 0;
        double interval = rate > 0 ? 1.0 / rate : 0;
        w->start_interval_ns = (uint64_t)(1e9 * (ramp > interval ? ramp : interval));
        w->body = body;
        w->body_len = body_len;
        w->t0_ns = t0;
        w->failures->t0_ns = t0;
        w->failures->started_unix = out->started_unix;
        w->warm_end_ns = warm_end;
        w->end_ns = end;
    }
    /* Through external targets a session is one connection here; otherwise two. */
    struct mem_watch mw = {.ends_per_session = sc->topology == SCENARIO_TARGET ? 1 : 2};
    uint64_t rss_start = rss_bytes();
    for (unsigned i = 0; i < threads; i++)
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0) {
            snprintf(err, errlen, "cannot start worker thread %u", i);
            *cfg->stop = 2;
            for (unsigned j = 0; j < i; j++) {
                net_loop_wake(ws[j].loop);
                pthread_join(ws[j].thread, NULL);
            }
            goto out;
        }

    watch_workers(cfg, ws, threads, t0, warm_end, &mw);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(ws[i].thread, NULL);
    uint64_t t_end = net_now_ns();
    out->elapsed_s = (t_end - t0) / 1e9;
    double measured_end = (double)(t_end < end ? t_end : end);
    out->measured_s = measured_end > warm_end ? (measured_end - warm_end) / 1e9 : 0;
    out->incomplete = *cfg->stop != 0;
    for (unsigned i = 0; i < threads; i++) {
        if (stats_merge(stats, &ws[i].stats) != 0) {
            snprintf(err, errlen, "out of memory merging statistics");
            goto out;
        }
        out->msgs_met += ws[i].msgs_met;
        failure_merge(out->failures, ws[i].failures);
        if (out->first_error[0] == '\0' && ws[i].first_error[0] != '\0')
            snprintf(out->first_error, sizeof(out->first_error), "%s", ws[i].first_error);
    }
    stats->mem_rss_start = rss_start;
    stats->mem_rss_peak_open = mw.rss_peak_open;
    stats->mem_ends_peak_open = mw.ends_peak_open;
    /* What the load asked for: requested messages, each second's stage and target. */
    runner_sched_fill(sc, stats, sc->warm_up_s, (measured_end - (double)t0) / 1e9,
                      (double)(end - t0) / 1e9);
    /* No session bound, and not only because this machine ran out of something: whatever
     * failed or was cut off at the end failed to reach its endpoint (connect, TLS, AUTH,
     * bind refused or never answered). */
    out->unreachable = stats->sessions_bound == 0 &&
                       stats->sessions_started > stats->session_ends[RUNNER_END_LOCAL_ERROR];
    rc = 0;
out:
    if (ws != NULL) {
        free_workers(ws, threads);
        free(ws);
    }
    free(body);
    return rc;
}