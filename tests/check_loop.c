/*
 * check_loop.c - the epoll event loop and its timer heap (src/net/loop.c).
 *
 * Timers run on the real CLOCK_MONOTONIC with delays of a few milliseconds. No test asserts
 * how fast anything is; where a test must know that the loop blocked, it checks a lower bound
 * on the time waited, which epoll_wait() guarantees. Every wait is bounded: run_once() calls
 * pass at most a few seconds, and a -1 wait always has a guard timer armed a few seconds out,
 * so a broken wake-up fails a test instead of hanging it.
 *
 * Some tests look at the timers' private fields (_deadline, _slot): they are the reference
 * that fire order is checked against.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/loop.h"
#include "suites.h"
#include "testutil.h"

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MS UINT64_C(1000000)
#define GUARD_NS (3000 * MS)  /* bounds every -1 wait */
#define BUDGET_NS (5000 * MS) /* total time a test may spend firing its timers */
#define MAX_FDS 1024

/*
 * For loops over many timers: a passing ck_assert() records its location, which costs a
 * write(2) each time, and 100,000 of them would dominate the test's run time.
 */
#define CHEAP_ASSERT(cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)

/* ---- helpers ---- */

static struct net_loop *new_loop(size_t max_fds)
{
    struct net_loop *loop = NULL;
    ck_assert_int_eq(net_loop_create(&loop, max_fds), 0);
    ck_assert_ptr_nonnull(loop);
    return loop;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void make_pipe(int p[2])
{
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    ck_assert_int_lt(p[0], MAX_FDS);
    ck_assert_int_lt(p[1], MAX_FDS);
}

static void put_byte(int fd)
{
    ck_assert_int_eq(write(fd, "x", 1), 1);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Fires what the loop has until no timer is left, within BUDGET_NS. */
static void run_until_idle(struct net_loop *loop)
{
    uint64_t end = net_now_ns() + BUDGET_NS;

    while (net_loop_timers(loop) > 0) {
        ck_assert_msg(net_now_ns() < end, "%zu timers still armed after the budget",
                      net_loop_timers(loop));
        ck_assert_int_ge(net_loop_run_once(loop, 100), 0);
    }
}

static void guard_fired(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    (void)t;
    ck_abort_msg("the guard timer fired: the loop was not woken");
}

/* ---- timers that record their firing ---- */

struct fire_log {
    size_t *ids;
    size_t n;
    size_t cap;
};

struct rec_timer {
    struct net_timer t;
    struct fire_log *log;
    size_t id;
    uint64_t deadline; /* as armed last */
    uint64_t order;    /* arming order of the last arming */
    bool armed;        /* what the test believes */
    int fired;
};

static void record_fire(struct net_loop *loop, struct net_timer *t)
{
    struct rec_timer *r = t->arg;

    (void)loop;
    CHEAP_ASSERT(!net_timer_armed(t), "timer %zu still armed in its callback", r->id);
    r->fired++;
    r->armed = false;
    CHEAP_ASSERT(r->log->n < r->log->cap, "more firings than timers");
    r->log->ids[r->log->n++] = r->id;
}

static void fire_log_init(struct fire_log *log, size_t cap)
{
    log->ids = calloc(cap, sizeof(*log->ids));
    ck_assert_ptr_nonnull(log->ids);
    log->n = 0;
    log->cap = cap;
}

static void rec_init(struct rec_timer *r, size_t id, struct fire_log *log)
{
    memset(r, 0, sizeof(*r));
    r->t.fn = record_fire;
    r->t.arg = r;
    r->log = log;
    r->id = id;
}

static void rec_arm(struct net_loop *loop, struct rec_timer *r, uint64_t delay, uint64_t *order)
{
    net_timer_start(loop, &r->t, delay);
    CHEAP_ASSERT(net_timer_armed(&r->t), "timer %zu not armed", r->id);
    r->deadline = r->t._deadline;
    r->order = (*order)++;
    r->armed = true;
}

static void rec_cancel(struct net_loop *loop, struct rec_timer *r)
{
    net_timer_stop(loop, &r->t);
    CHEAP_ASSERT(!net_timer_armed(&r->t), "timer %zu still armed", r->id);
    r->armed = false;
}

static int by_deadline_then_order(const void *a, const void *b)
{
    const struct rec_timer *x = *(const struct rec_timer *const *)a;
    const struct rec_timer *y = *(const struct rec_timer *const *)b;

    if (x->deadline != y->deadline)
        return x->deadline < y->deadline ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Fires every armed timer and checks that exactly the armed ones fired, once each, in the
 * order of a sorted reference: by deadline, then by arming order.
 */
static void fire_and_check_order(struct net_loop *loop, struct rec_timer *recs, size_t n)
{
    struct rec_timer **ref = calloc(n > 0 ? n : 1, sizeof(*ref));
    size_t nref = 0;

    ck_assert_ptr_nonnull(ref);
    for (size_t i = 0; i < n; i++) {
        if (recs[i].armed)
            ref[nref++] = &recs[i];
    }
    ck_assert_uint_eq(net_loop_timers(loop), nref);
    qsort(ref, nref, sizeof(*ref), by_deadline_then_order);

    struct fire_log *log = recs[0].log;
    log->n = 0;
    run_until_idle(loop);

    ck_assert_uint_eq(log->n, nref);
    for (size_t i = 0; i < nref; i++)
        CHEAP_ASSERT(log->ids[i] == ref[i]->id, "fire %zu: timer %zu, want %zu", i, log->ids[i],
                     ref[i]->id);
    for (size_t i = 0; i < n; i++) {
        CHEAP_ASSERT(!net_timer_armed(&recs[i].t), "timer %zu armed after the run", i);
        CHEAP_ASSERT(recs[i].fired <= 1, "timer %zu fired %d times", i, recs[i].fired);
    }
    free(ref);
}

/* ---- Timers ---- */

/* Thousands of timers, random delays of 0-3 ms, random cancels and re-arms. */
START_TEST(timer_order_random)
{
    enum { N = 4000 };
    uint64_t seed = 0x9e3779b97f4a7c15u + (uint64_t)_i * 7919u;
    struct net_loop *loop = new_loop(0);
    struct rec_timer *recs = calloc(N, sizeof(*recs));
    struct fire_log log;
    uint64_t order = 0;

    ck_assert_ptr_nonnull(recs);
    fire_log_init(&log, N);
    for (size_t i = 0; i < N; i++) {
        rec_init(&recs[i], i, &log);
        rec_arm(loop, &recs[i], test_rand(&seed) % (3 * MS), &order);
    }
    for (size_t k = 0; k < 2 * N; k++) {
        struct rec_timer *r = &recs[test_rand(&seed) % N];
        switch (test_rand(&seed) % 4) {
        case 0:
            rec_cancel(loop, r);
            break;
        case 1:
            rec_arm(loop, r, test_rand(&seed) % (3 * MS), &order);
            break;
        default:
            break;
        }
    }
    fire_and_check_order(loop, recs, N);

    free(log.ids);
    free(recs);
    net_loop_destroy(loop);
}
END_TEST

/* 100,000 timers over 0-5 ms, half cancelled at random; the rest fire in order. */
START_TEST(timer_many)
{
    enum { N = 100000 };
    uint64_t seed = 42;
    struct net_loop *loop = new_loop(0);
    struct rec_timer *recs = calloc(N, sizeof(*recs));
    size_t *perm = calloc(N, sizeof(*perm));
    struct fire_log log;
    uint64_t order = 0;

    ck_assert_ptr_nonnull(recs);
    ck_assert_ptr_nonnull(perm);
    fire_log_init(&log, N);
    for (size_t i = 0; i < N; i++) {
        rec_init(&recs[i], i, &log);
        rec_arm(loop, &recs[i], test_rand(&seed) % (6 * MS), &order);
        perm[i] = i;
    }
    ck_assert_uint_eq(net_loop_timers(loop), N);
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = test_rand(&seed) % (i + 1);
        size_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (size_t i = 0; i < N / 2; i++)
        rec_cancel(loop, &recs[perm[i]]);
    ck_assert_uint_eq(net_loop_timers(loop), N - N / 2);

    fire_and_check_order(loop, recs, N);
    for (size_t i = 0; i < N; i++)
        CHEAP_ASSERT(recs[perm[i]].fired == (i < N / 2 ? 0 : 1), "timer %zu fired %d times",
                     perm[i], recs[perm[i]].fired);

    free(log.ids);
    free(perm);
    free(recs);
    net_loop_destroy(loop);
}
END_TEST

/* Equal deadlines go in arming order; a re-arm goes to the back. Saturated deadlines tie. */
START_TEST(timer_equal_deadlines)
{
    enum { N = 64 };
    uint64_t seed = 7;
    struct net_loop *loop = new_loop(0);
    struct rec_timer recs[N];
    struct fire_log log;
    uint64_t order = 0;

    fire_log_init(&log, N);
    for (size_t i = 0; i < N; i++)
        rec_init(&recs[i], i, &log);
    for (size_t k = 0; k < 3 * N; k++)
        rec_arm(loop, &recs[test_rand(&seed) % N], UINT64_MAX, &order);
    for (size_t i = 0; i < N; i++) {
        if (recs[i].armed)
            ck_assert_uint_eq(recs[i].t._deadline, UINT64_MAX);
    }
    /* Nothing is due, and the saturated deadline must not make the wait wrap or spin. */
    ck_assert_int_eq(net_loop_run_once(loop, 5), 0);

    /* The heap's root (_slot 1) must always be the earliest armed of those left. */
    size_t left = net_loop_timers(loop);
    while (left > 0) {
        struct rec_timer *root = NULL, *first = NULL;
        for (size_t i = 0; i < N; i++) {
            if (!recs[i].armed)
                continue;
            if (recs[i].t._slot == 1)
                root = &recs[i];
            if (first == NULL || recs[i].order < first->order)
                first = &recs[i];
        }
        ck_assert_ptr_nonnull(root);
        ck_assert_msg(root == first, "root is timer %zu, want %zu", root->id, first->id);
        rec_cancel(loop, root);
        ck_assert_uint_eq(net_loop_timers(loop), --left);
    }
    free(log.ids);
    net_loop_destroy(loop);
}
END_TEST

/* Re-arming moves a timer, both earlier and later, without arming it twice. */
START_TEST(timer_rearm_moves)
{
    struct net_loop *loop = new_loop(0);
    struct rec_timer a, b, c;
    struct fire_log log;
    uint64_t order = 0;

    fire_log_init(&log, 8);
    rec_init(&a, 0, &log);
    rec_init(&b, 1, &log);
    rec_init(&c, 2, &log);
    rec_arm(loop, &a, 30 * MS, &order);
    rec_arm(loop, &b, 2 * MS, &order);
    rec_arm(loop, &c, 4 * MS, &order);
    ck_assert_uint_eq(a.t._slot > 1, 1);
    rec_arm(loop, &a, 1 * MS, &order); /* earlier: becomes the root */
    ck_assert_uint_eq(a.t._slot, 1);
    rec_arm(loop, &b, 8 * MS, &order); /* later */
    ck_assert_uint_eq(net_loop_timers(loop), 3);

    run_until_idle(loop);
    ck_assert_uint_eq(log.n, 3);
    ck_assert_uint_eq(log.ids[0], 0);
    ck_assert_uint_eq(log.ids[1], 2);
    ck_assert_uint_eq(log.ids[2], 1);
    ck_assert_int_eq(a.fired + b.fired + c.fired, 3);
    free(log.ids);
    net_loop_destroy(loop);
}
END_TEST

static void count_fire(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    ++*(int *)t->arg;
}

/* Stopping a timer that is not armed (never, no longer, or already fired) does nothing. */
START_TEST(timer_stop_unarmed)
{
    struct net_loop *loop = new_loop(0);
    int fired = 0;
    struct net_timer t = {.fn = count_fire, .arg = &fired};
    struct net_timer other = {.fn = count_fire, .arg = &fired};

    net_timer_stop(loop, &t);
    net_timer_stop(loop, &t);
    ck_assert(!net_timer_armed(&t));
    ck_assert_uint_eq(net_loop_timers(loop), 0);

    net_timer_start(loop, &other, 60 * 1000 * MS);
    net_timer_start(loop, &t, 1 * MS);
    net_timer_stop(loop, &t);
    net_timer_stop(loop, &t);
    ck_assert(!net_timer_armed(&t));
    ck_assert(net_timer_armed(&other));
    ck_assert_uint_eq(net_loop_timers(loop), 1);
    ck_assert_int_eq(net_loop_run_once(loop, 5), 0);

    net_timer_start(loop, &t, 0);
    ck_assert_int_eq(net_loop_run_once(loop, 1000), 1);
    ck_assert_int_eq(fired, 1);
    net_timer_stop(loop, &t);
    ck_assert(!net_timer_armed(&t));
    ck_assert(net_timer_armed(&other));
    ck_assert_uint_eq(net_loop_timers(loop), 1);

    net_timer_stop(loop, &other);
    ck_assert_uint_eq(net_loop_timers(loop), 0);
    net_loop_destroy(loop);
}
END_TEST

struct self_rearm {
    struct net_timer t;
    int fired;
};

static void rearm_self(struct net_loop *loop, struct net_timer *t)
{
    struct self_rearm *s = t->arg;

    s->fired++;
    ck_assert(!net_timer_armed(t));
    net_timer_start(loop, t, 0);
}

/* A timer that re-arms itself with delay 0 fires once per pass, not forever. */
START_TEST(timer_rearm_self_zero)
{
    struct net_loop *loop = new_loop(0);
    struct self_rearm s = {.t = {.fn = rearm_self, .arg = &s}};

    net_timer_start(loop, &s.t, 0);
    for (int pass = 1; pass <= 5; pass++) {
        /* Due at once, so even the unbounded wait returns without waiting. */
        ck_assert_int_eq(net_loop_run_once(loop, pass % 2 ? -1 : 1000), 1);
        ck_assert_int_eq(s.fired, pass);
        ck_assert(net_timer_armed(&s.t));
    }
    net_timer_stop(loop, &s.t);
    ck_assert_int_eq(net_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(s.fired, 5);
    net_loop_destroy(loop);
}
END_TEST

struct stopper_ctx {
    struct rec_timer recs[10];
    struct fire_log log;
};

/* Stops three pending timers (two due in this pass), itself, and re-arms a due one. */
static void stop_others(struct net_loop *loop, struct net_timer *t)
{
    struct rec_timer *self = t->arg;
    struct stopper_ctx *ctx =
        (struct stopper_ctx *)((char *)self - offsetof(struct stopper_ctx, recs));

    record_fire(loop, t);
    rec_cancel(loop, &ctx->recs[1]);
    rec_cancel(loop, &ctx->recs[2]);
    rec_cancel(loop, &ctx->recs[9]);
    net_timer_stop(loop, t); /* already disarmed: harmless */
    uint64_t order = 100;
    rec_arm(loop, &ctx->recs[3], 0, &order);
}

/* A callback that stops (and re-arms) other timers during the firing pass. */
START_TEST(timer_stop_in_callback)
{
    struct net_loop *loop = new_loop(0);
    struct stopper_ctx ctx;
    uint64_t order = 0;

    fire_log_init(&ctx.log, 16);
    for (size_t i = 0; i < 10; i++) {
        rec_init(&ctx.recs[i], i, &ctx.log);
        rec_arm(loop, &ctx.recs[i], 0, &order);
    }
    ctx.recs[0].t.fn = stop_others;
    /* All ten are due; 0 runs first, so 1, 2 and 9 never fire and 3 moves to the next pass. */
    ck_assert_int_eq(net_loop_run_once(loop, 0), 6);
    size_t want[] = {0, 4, 5, 6, 7, 8};
    ck_assert_uint_eq(ctx.log.n, 6);
    for (int i = 0; i < N_ELEMS(want); i++)
        ck_assert_uint_eq(ctx.log.ids[i], want[i]);
    ck_assert_uint_eq(net_loop_timers(loop), 1);
    ck_assert(net_timer_armed(&ctx.recs[3].t));

    ck_assert_int_eq(net_loop_run_once(loop, 1000), 1);
    ck_assert_uint_eq(ctx.log.n, 7);
    ck_assert_uint_eq(ctx.log.ids[6], 3);
    ck_assert_int_eq(ctx.recs[1].fired + ctx.recs[2].fired + ctx.recs[9].fired, 0);
    ck_assert_uint_eq(net_loop_timers(loop), 0);
    free(ctx.log.ids);
    net_loop_destroy(loop);
}
END_TEST

/* The wait is bounded by the next timer, rounded up: the timer fires on the first call. */
static const uint64_t bound_delays[] = {0, 1 * MS / 2, 3 * MS / 2, 20 * MS};

START_TEST(timer_bounds_wait)
{
    struct net_loop *loop = new_loop(0);
    int fired = 0;
    struct net_timer t = {.fn = count_fire, .arg = &fired};

    net_timer_start(loop, &t, bound_delays[_i]);
    ck_assert_int_eq(net_loop_run_once(loop, -1), 1);
    ck_assert_int_eq(fired, 1);

    /* A timer beyond max_wait_ms leaves the wait at max_wait_ms. */
    net_timer_start(loop, &t, 10 * 1000 * MS);
    uint64_t t0 = net_now_ns();
    ck_assert_int_eq(net_loop_run_once(loop, 10), 0);
    ck_assert_uint_ge(net_now_ns() - t0, 9 * MS);
    ck_assert(net_timer_armed(&t));
    net_loop_destroy(loop);
}
END_TEST

/* ---- Io ---- */

struct io_rec {
    int calls;
    int fd;
    unsigned events;
};

static void record_io(struct net_loop *loop, int fd, unsigned events, void *arg)
{
    struct io_rec *r = arg;

    (void)loop;
    r->calls++;
    r->fd = fd;
    r->events = events;
}

enum io_setup {
    PIPE_READ_DATA,  /* read end of a pipe holding a byte */
    PIPE_READ_EMPTY, /* read end of an empty pipe */
    PIPE_WRITE,      /* write end of an empty pipe */
    PIPE_READ_HUP,   /* read end, write end closed */
    PIPE_WRITE_ERR,  /* write end, read end closed */
    SOCK_IDLE,       /* one end of a quiet socketpair */
    SOCK_PEER_CLOSED,
    SOCK_PEER_SHUT_WR,
};

#define R NET_READABLE
#define W NET_WRITABLE

static const struct io_vec {
    const char *name;
    enum io_setup setup;
    unsigned interest;
    unsigned want; /* 0: no callback */
} io_vecs[] = {
    {"pipe with data", PIPE_READ_DATA, R, R},
    {"pipe with data, both", PIPE_READ_DATA, R | W, R},
    {"pipe with data, write interest", PIPE_READ_DATA, W, 0},
    {"pipe with data, silenced", PIPE_READ_DATA, 0, 0},
    {"empty pipe", PIPE_READ_EMPTY, R, 0},
    {"pipe write end", PIPE_WRITE, W, W},
    {"pipe write end, both", PIPE_WRITE, R | W, W},
    {"pipe write end, read interest", PIPE_WRITE, R, 0},
    {"pipe, writer closed", PIPE_READ_HUP, R, R | W},
    {"pipe, writer closed, silenced", PIPE_READ_HUP, 0, 0},
    {"pipe, reader closed", PIPE_WRITE_ERR, W, R | W},
    {"socket, idle, read", SOCK_IDLE, R, 0},
    {"socket, idle, write", SOCK_IDLE, W, W},
    {"socket, peer closed", SOCK_PEER_CLOSED, R, R | W},
    {"socket, peer shut down writing", SOCK_PEER_SHUT_WR, R, R},
};

/* Sets up the case; returns the fd to watch; *other is the fd to close afterwards, or -1. */
static int setup_io(enum io_setup setup, int *other)
{
    int p[2];

    if (setup >= SOCK_IDLE) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p), 0);
        ck_assert_int_lt(p[0], MAX_FDS);
        if (setup == SOCK_PEER_CLOSED)
            close_fd(&p[1]);
        else if (setup == SOCK_PEER_SHUT_WR)
            ck_assert_int_eq(shutdown(p[1], SHUT_WR), 0);
        *other = p[1];
        return p[0];
    }
    make_pipe(p);
    switch (setup) {
    case PIPE_READ_DATA:
        put_byte(p[1]);
        /* fall through */
    case PIPE_READ_EMPTY:
        *other = p[1];
        return p[0];
    case PIPE_READ_HUP:
        close_fd(&p[1]);
        *other = -1;
        return p[0];
    case PIPE_WRITE_ERR:
        close_fd(&p[0]);
        *other = -1;
        return p[1];
    default:
        *other = p[0];
        return p[1];
    }
}

START_TEST(io_events)
{
    const struct io_vec *v = &io_vecs[_i];
    struct net_loop *loop = new_loop(MAX_FDS);
    struct io_rec rec = {0};
    int other;
    int fd = setup_io(v->setup, &other);

    ck_assert_int_eq(net_loop_watch(loop, fd, v->interest, record_io, &rec), 0);
    /* Level-triggered: a condition that stays is reported on every pass. */
    for (int pass = 1; pass <= 2; pass++) {
        int rc = net_loop_run_once(loop, v->want != 0 ? 1000 : 20);
        if (v->want == 0) {
            ck_assert_msg(rc == 0 && rec.calls == 0, "%s: %d callbacks, events %u", v->name,
                          rec.calls, rec.events);
            continue;
        }
        ck_assert_msg(rc == 1 && rec.calls == pass, "%s: run_once %d, calls %d", v->name, rc,
                      rec.calls);
        ck_assert_int_eq(rec.fd, fd);
        ck_assert_msg(rec.events == v->want, "%s: events %u, want %u", v->name, rec.events,
                      v->want);
    }
    net_loop_forget(loop, fd);
    close_fd(&fd);
    close_fd(&other);
    net_loop_destroy(loop);
}
END_TEST

/* net_loop_dispatching(): what each kind of callback sees, and a 0-delay timer armed from an
 * I/O callback runs in the same pass. */
struct dispatch_rec {
    int io_calls, timer_calls;
    bool in_io, in_timer;
    struct net_timer later;
};

static void dispatch_timer(struct net_loop *loop, struct net_timer *t)
{
    struct dispatch_rec *r = t->arg;
    r->timer_calls++;
    r->in_timer = net_loop_dispatching(loop);
}

static void dispatch_io_cb(struct net_loop *loop, int fd, unsigned events, void *arg)
{
    (void)events;
    struct dispatch_rec *r = arg;
    char c;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    r->io_calls++;
    r->in_io = net_loop_dispatching(loop);
    net_timer_start(loop, &r->later, 0);
}

START_TEST(io_dispatching_flag)
{
    struct net_loop *loop = new_loop(MAX_FDS);
    struct dispatch_rec rec = {0};
    rec.later.fn = dispatch_timer;
    rec.later.arg = &rec;
    int p[2];
    make_pipe(p);
    ck_assert(!net_loop_dispatching(loop));
    ck_assert_int_eq(net_loop_watch(loop, p[0], NET_READABLE, dispatch_io_cb, &rec), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(net_loop_run_once(loop, 1000), 2); /* the read and its timer, one pass */
    ck_assert_int_eq(rec.io_calls, 1);
    ck_assert_int_eq(rec.timer_calls, 1);
    ck_assert(rec.in_io);
    ck_assert(!rec.in_timer);
    ck_assert(!net_loop_dispatching(loop));
    net_loop_forget(loop, p[0]);
    close_fd(&p[0]);
    close_fd(&p[1]);
    net_loop_destroy(loop);
}
END_TEST

/*
 * A timer due when the wait returns fires before the pass's I/O callbacks; one that its
 * callback arms with delay 0 waits for the next pass, though I/O ran in between; one that an
 * I/O callback arms fires in the same pass, after it.
 */
struct order_rec {
    char log[16];
    int n;
    bool rearm;
    int later_does; /* to first, which the pass holds aside: 0 nothing, 1 stop, 2 re-arm,
                     * 3 stop and free (poisoned here: the loop must not read it again) */
    struct net_timer first, later;
};

static void order_first(struct net_loop *loop, struct net_timer *t)
{
    struct order_rec *r = t->arg;
    r->log[r->n++] = 'T';
    if (r->rearm) {
        r->rearm = false;
        net_timer_start(loop, t, 0);
    }
}

static void order_later(struct net_loop *loop, struct net_timer *t)
{
    struct order_rec *r = t->arg;
    r->log[r->n++] = 'L';
    ck_assert(net_timer_armed(&r->first)); /* held aside, still armed */
    if (r->later_does == 1)
        net_timer_stop(loop, &r->first);
    else if (r->later_does == 2)
        net_timer_start(loop, &r->first, 0);
    else if (r->later_does == 3) {
        net_timer_stop(loop, &r->first);
        memset(&r->first, 0xff, sizeof(r->first)); /* what an owner's free() may leave */
    }
}

static void order_io(struct net_loop *loop, int fd, unsigned events, void *arg)
{
    (void)events;
    struct order_rec *r = arg;
    char c;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    r->log[r->n++] = 'I';
    net_timer_start(loop, &r->later, 0);
}

START_TEST(io_due_timers_fire_first)
{
    struct net_loop *loop = new_loop(MAX_FDS);
    struct order_rec rec = {.rearm = true, .later_does = _i};
    rec.first.fn = order_first;
    rec.first.arg = &rec;
    rec.later.fn = order_later;
    rec.later.arg = &rec;
    int p[2];
    make_pipe(p);
    ck_assert_int_eq(net_loop_watch(loop, p[0], NET_READABLE, order_io, &rec), 0);
    net_timer_start(loop, &rec.first, 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(net_loop_run_once(loop, 1000), 3);
    ck_assert_str_eq(rec.log, "TIL");
    if (_i == 1 || _i == 3) {
        /* stopped while held aside: not put back, and (3) not read again */
        if (_i == 1)
            ck_assert(!net_timer_armed(&rec.first));
        ck_assert_uint_eq(net_loop_timers(loop), 0);
    } else {
        /* re-armed by its own call (or again while held): next pass, once */
        ck_assert(net_timer_armed(&rec.first));
        ck_assert_uint_eq(net_loop_timers(loop), 1);
        ck_assert_int_eq(net_loop_run_once(loop, 1000), 1);
        ck_assert_str_eq(rec.log, "TILT");
    }
    ck_assert_int_eq(net_loop_run_once(loop, 0), 0);
    ck_assert_uint_eq(net_loop_timers(loop), 0);
    net_loop_forget(loop, p[0]);
    close_fd(&p[0]);
    close_fd(&p[1]);
    net_loop_destroy(loop);
}
END_TEST

/* Interest 0 silences an fd; watching again re-enables it. */
START_TEST(io_silence_and_resume)
{
    struct net_loop *loop = new_loop(MAX_FDS);
    struct io_rec rec = {0};
    int p[2];

    make_pipe(p);
    put_byte(p[1]);
    ck_assert_int_eq(net_loop_watch(loop, p[0], R, record_io, &rec), 0);
    ck_assert_int_eq(net_loop_run_once(loop, 1000), 1);
    ck_assert_int_eq(net_loop_watch(loop, p[0], 0, record_io, &rec), 0);
    ck_assert_int_eq(net_loop_run_once(loop, 20), 0);
    ck_assert_int_eq(net_loop_watch(loop, p[0], R, record_io, &rec), 0);
    ck_assert_int_eq(net_loop_run_once(loop, 1000), 1);
    ck_assert_int_eq(rec.calls, 2);

    /* Replacing the callback with the same interest takes effect at once. */
    struct io_rec rec2 = {0};
    ck_assert_int_eq(net_loop_watch(loop, p[0], R, record_io, &rec2), 0);
    ck_assert_int_eq(net_loop_run_once(loop, 1000), 1);
    ck_assert_int_eq(rec.calls, 2);
    ck_assert_int_eq(rec2.calls, 1);

    net_loop_forget(loop, p[0]);
    ck_assert_int_eq(net_loop_run_once(loop, 20), 0);
    net_loop_forget(loop, p[0]); /* twice: harmless */
    close_fd(&p[0]);
    close_fd(&p[1]);
    net_loop_destroy(loop);
}
END_TEST

/*
 * Closing an fd without forgetting it first breaks the contract: the kernel dropped the
 * registration, so changing the interest of the reused number fails, and forgetting it mends
 * the table.
 */
START_TEST(io_closed_without_forget)
{
    struct net_loop *loop = new_loop(MAX_FDS);
    struct io_rec rec = {0};
    int p[2], q[2];

    make_pipe(p);
    ck_assert_int_eq(net_loop_watch(loop, p[0], R, record_io, &rec), 0);
    close_fd(&p[1]);
    make_pipe(q);
    /* The old number now names another pipe's read end. */
    ck_assert_int_eq(dup3(q[0], p[0], O_CLOEXEC), p[0]);
    close_fd(&q[0]);
    put_byte(q[1]);
    ck_assert_int_eq(net_loop_watch(loop, p[0], R | W, record_io, &rec), ENOENT);
    net_loop_forget(loop, p[0]);
    ck_assert_int_eq(net_loop_watch(loop, p[0], R | W, record_io, &rec), 0);
    ck_assert_int_eq(net_loop_run_once(loop, 1000), 1);
    ck_assert_uint_eq(rec.events, R);
    net_loop_forget(loop, p[0]);
    close_fd(&p[0]);
    close_fd(&q[1]);
    net_loop_destroy(loop);
}
END_TEST

/*
 * The kernel reports a hang-up even to a registration with no interest. A silenced hung-up fd
 * must neither reach its callback nor keep waking the loop: the wait must really block.
 */
START_TEST(io_silenced_hangup_blocks)
{
    struct net_loop *loop = new_loop(MAX_FDS);
    struct io_rec rec = {0};
    int p[2];

    make_pipe(p);
    close_fd(&p[1]);
    ck_assert_int_eq(net_loop_watch(loop, p[0], R, record_io, &rec), 0);
    ck_assert_int_eq(net_loop_run_once(loop, 1000), 1);
    ck_assert_uint_eq(rec.events, R | W);
    ck_assert_int_eq(net_loop_watch(loop, p[0], 0, record_io, &rec), 0);
    /* At most one report of the hang-up is left over from the change; it is dropped. */
    ck_assert_int_eq(net_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(net_loop_run_once(loop, 0), 0);
    uint64_t t0 = net_now_ns();
    ck_assert_int_eq(net_loop_run_once(loop, 30), 0);
    ck_assert_msg(net_now_ns() - t0 >= 20 * MS, "the wait returned early: the loop spins");
    ck_assert_int_eq(rec.calls, 1);

    ck_assert_int_eq(net_loop_watch(loop, p[0], R, record_io, &rec), 0);
    ck_assert_int_eq(net_loop_run_once(loop, 1000), 1);
    ck_assert_int_eq(rec.calls, 2);
    net_loop_forget(loop, p[0]);
    close_fd(&p[0]);
    net_loop_destroy(loop);
}
END_TEST

/* What the first callback of an iteration does to the other fd, whose event is pending. */
enum pair_action {
    PAIR_FORGET,
    PAIR_FORGET_REWATCH, /* forget, then watch again with another callback */
    PAIR_CLOSE_REOPEN,   /* forget, close, and watch a new pipe, likely on the same number */
    PAIR_SILENCE,
    PAIR_NARROW,     /* interest changed to writable: a read end never is */
    PAIR_REPLACE_FN, /* same interest, another callback: that one gets the event */
};

static const struct pair_vec {
    const char *name;
    enum pair_action action;
    int first_ran;  /* callbacks in the iteration of the change */
    int second_ran; /* in the next iteration */
    int new_calls;  /* calls of the replacement callback after both */
} pair_vecs[] = {
    {"forget", PAIR_FORGET, 1, 1, 0},
    {"forget and watch again", PAIR_FORGET_REWATCH, 1, 2, 1},
    {"forget, close, watch a new fd", PAIR_CLOSE_REOPEN, 1, 2, 1},
    {"silence", PAIR_SILENCE, 1, 1, 0},
    {"narrow the interest", PAIR_NARROW, 1, 1, 0},
    {"replace the callback", PAIR_REPLACE_FN, 2, 2, 2},
};

struct pair_ctx {
    enum pair_action action;
    int rd[2]; /* read ends, watched */
    int wr[2]; /* write ends */
    int first; /* index of the fd whose callback ran first, or -1 */
    int old_calls[2];
    int new_calls;
    int new_fd;
};

static void pair_new_cb(struct net_loop *loop, int fd, unsigned events, void *arg)
{
    struct pair_ctx *c = arg;

    (void)loop;
    ck_assert_int_eq(fd, c->new_fd);
    ck_assert_uint_eq(events, R);
    c->new_calls++;
}

static void pair_old_cb(struct net_loop *loop, int fd, unsigned events, void *arg)
{
    struct pair_ctx *c = arg;
    int idx = fd == c->rd[0] ? 0 : 1;

    ck_assert_int_eq(fd, c->rd[idx]);
    ck_assert_uint_eq(events, R);
    c->old_calls[idx]++;
    if (c->first >= 0)
        return;
    c->first = idx;
    int o = 1 - idx;
    c->new_fd = c->rd[o];
    switch (c->action) {
    case PAIR_FORGET:
        net_loop_forget(loop, c->rd[o]);
        break;
    case PAIR_FORGET_REWATCH:
        net_loop_forget(loop, c->rd[o]);
        ck_assert_int_eq(net_loop_watch(loop, c->rd[o], R, pair_new_cb, c), 0);
        break;
    case PAIR_CLOSE_REOPEN: {
        int p[2];
        net_loop_forget(loop, c->rd[o]);
        close_fd(&c->rd[o]);
        close_fd(&c->wr[o]);
        make_pipe(p);
        put_byte(p[1]);
        c->rd[o] = p[0];
        c->wr[o] = p[1];
        c->new_fd = p[0];
        ck_assert_int_eq(net_loop_watch(loop, p[0], R, pair_new_cb, c), 0);
        break;
    }
    case PAIR_SILENCE:
        ck_assert_int_eq(net_loop_watch(loop, c->rd[o], 0, pair_old_cb, c), 0);
        break;
    case PAIR_NARROW:
        ck_assert_int_eq(net_loop_watch(loop, c->rd[o], W, pair_old_cb, c), 0);
        break;
    case PAIR_REPLACE_FN:
        ck_assert_int_eq(net_loop_watch(loop, c->rd[o], R, pair_new_cb, c), 0);
        break;
    }
}

/* A change made by one callback holds for the other fd's event of the same iteration. */
START_TEST(io_change_in_callback)
{
    const struct pair_vec *v = &pair_vecs[_i];
    struct net_loop *loop = new_loop(MAX_FDS);
    struct pair_ctx c = {.action = v->action, .first = -1, .new_fd = -1};

    for (int i = 0; i < 2; i++) {
        int p[2];
        make_pipe(p);
        put_byte(p[1]);
        c.rd[i] = p[0];
        c.wr[i] = p[1];
        ck_assert_int_eq(net_loop_watch(loop, p[0], R, pair_old_cb, &c), 0);
    }
    ck_assert_int_eq(net_loop_run_once(loop, 1000), v->first_ran);
    ck_assert_int_ge(c.first, 0);
    ck_assert_msg(c.old_calls[1 - c.first] == 0, "%s: the changed fd got its stale event", v->name);
    ck_assert_int_eq(net_loop_run_once(loop, 1000), v->second_ran);
    ck_assert_int_eq(c.old_calls[c.first], 2);
    ck_assert_int_eq(c.old_calls[1 - c.first], 0);
    ck_assert_int_eq(c.new_calls, v->new_calls);

    for (int i = 0; i < 2; i++) {
        net_loop_forget(loop, c.rd[i]);
        close_fd(&c.rd[i]);
        close_fd(&c.wr[i]);
    }
    net_loop_destroy(loop);
}
END_TEST

#define FD_PIPE (-100)   /* a pipe's read end */
#define FD_CLOSED (-101) /* the number of an fd just closed */
#define FD_MEMFD (-102)  /* a file epoll cannot poll */

static const struct watch_err_vec {
    const char *name;
    int fd; /* a number, or one of the FD_ kinds above */
    unsigned events;
    bool null_fn;
    int want;
} watch_err_vecs[] = {
    {"negative fd", -1, R, false, EBADF},
    {"fd at max_fds", 64, R, false, ERANGE},
    {"fd past max_fds", 1000, R, false, ERANGE},
    {"INT_MAX", INT_MAX, R, false, ERANGE},
    {"unknown event bits", FD_PIPE, 4, false, EINVAL},
    {"no callback", FD_PIPE, R, true, EINVAL},
    {"closed fd", FD_CLOSED, R, false, EBADF},
    {"regular file", FD_MEMFD, R, false, EPERM},
    {"valid", FD_PIPE, R | W, false, 0},
};

/* Watching fails cleanly outside the table and for fds epoll refuses. */
START_TEST(io_watch_errors)
{
    const struct watch_err_vec *v = &watch_err_vecs[_i];
    struct net_loop *loop = new_loop(64);
    struct io_rec rec = {0};
    int p[2] = {-1, -1};
    int fd = v->fd;

    if (fd == FD_PIPE || fd == FD_CLOSED) {
        make_pipe(p);
        fd = p[0];
        if (v->fd == FD_CLOSED)
            close_fd(&p[0]);
    } else if (fd == FD_MEMFD) {
        p[0] = memfd_create("check_loop", MFD_CLOEXEC);
        ck_assert_int_ge(p[0], 0);
        fd = p[0];
    }
    ck_assert_int_lt(p[0], 64);
    ck_assert_int_lt(p[1], 64);
    int rc = net_loop_watch(loop, fd, v->events, v->null_fn ? NULL : record_io, &rec);
    ck_assert_msg(rc == v->want, "%s: %s, want %s", v->name, strerror(rc), strerror(v->want));
    /* A failed watch leaves nothing behind, and forgetting anything is harmless. */
    ck_assert_int_eq(net_loop_run_once(loop, 0), 0);
    net_loop_forget(loop, fd);
    net_loop_forget(loop, -1);
    net_loop_forget(loop, 64);
    close_fd(&p[0]);
    close_fd(&p[1]);
    net_loop_destroy(loop);
}
END_TEST

START_TEST(io_create_limits)
{
    struct net_loop *loop = NULL;
    struct io_rec rec = {0};

    ck_assert_int_eq(net_loop_create(&loop, (size_t)INT_MAX + 1), EINVAL);
    ck_assert_int_eq(net_loop_create(&loop, 0), 0);
    ck_assert_int_eq(net_loop_watch(loop, 0, R, record_io, &rec), ERANGE);
    ck_assert_int_eq(net_loop_run_once(loop, 0), 0);
    net_loop_destroy(loop);
    net_loop_destroy(NULL);
}
END_TEST

/* ---- Wake ---- */

struct waker {
    struct net_loop *loop;
    long delay_ms;
    int wakes;
    bool stop;
    pthread_t target; /* signal instead of wake when signal is set */
    bool signal;
};

static void *waker_main(void *arg)
{
    struct waker *w = arg;

    sleep_ms(w->delay_ms);
    if (w->signal) {
        pthread_kill(w->target, SIGUSR1);
        return NULL;
    }
    if (w->stop)
        net_loop_stop(w->loop);
    for (int i = 0; i < w->wakes; i++)
        net_loop_wake(w->loop);
    return NULL;
}

static const struct wake_vec {
    long delay_ms;
    int wakes;
} wake_vecs[] = {
    {0, 1},  /* probably before the loop waits: the wake-up must stay pending */
    {20, 1}, /* while it waits */
    {100, 1},
    {20, 50}, /* many wake-ups coalesce */
};

/* Another thread wakes a loop blocked in an unbounded wait. */
START_TEST(wake_from_thread)
{
    struct net_loop *loop = new_loop(0);
    struct net_timer guard = {.fn = guard_fired};
    struct waker w = {
        .loop = loop, .delay_ms = wake_vecs[_i].delay_ms, .wakes = wake_vecs[_i].wakes};
    pthread_t th;

    net_timer_start(loop, &guard, GUARD_NS);
    ck_assert_int_eq(pthread_create(&th, NULL, waker_main, &w), 0);
    /* The wake-up runs no callback; the guard is still armed, so the wake ended the wait. */
    ck_assert_int_eq(net_loop_run_once(loop, -1), 0);
    ck_assert(net_timer_armed(&guard));
    ck_assert_int_eq(pthread_join(th, NULL), 0);

    /* Drained: the next wait blocks for its full time. */
    ck_assert_int_eq(net_loop_run_once(loop, 0), 0);
    uint64_t t0 = net_now_ns();
    ck_assert_int_eq(net_loop_run_once(loop, 20), 0);
    ck_assert_uint_ge(net_now_ns() - t0, 15 * MS);
    net_timer_stop(loop, &guard);
    net_loop_destroy(loop);
}
END_TEST

static void stop_timer_cb(struct net_loop *loop, struct net_timer *t)
{
    ++*(int *)t->arg;
    net_loop_stop(loop);
}

static void stop_io_cb(struct net_loop *loop, int fd, unsigned events, void *arg)
{
    (void)fd;
    (void)events;
    ++*(int *)arg;
    net_loop_stop(loop);
}

/* net_loop_stop() from a timer or an I/O callback ends net_loop_run(); it can run again. */
START_TEST(wake_stop_from_callback)
{
    struct net_loop *loop = new_loop(MAX_FDS);
    struct net_timer guard = {.fn = guard_fired};
    int fired = 0, io_calls = 0;
    struct net_timer t = {.fn = stop_timer_cb, .arg = &fired};
    int p[2];

    net_timer_start(loop, &guard, GUARD_NS);
    net_timer_start(loop, &t, 5 * MS);
    ck_assert_int_eq(net_loop_run(loop), 0);
    ck_assert_int_eq(fired, 1);

    make_pipe(p);
    ck_assert_int_eq(net_loop_watch(loop, p[0], R, stop_io_cb, &io_calls), 0);
    put_byte(p[1]);
    ck_assert_int_eq(net_loop_run(loop), 0);
    ck_assert_int_eq(io_calls, 1);
    net_loop_forget(loop, p[0]);

    /* A stop asked for before the run is not lost. */
    net_loop_stop(loop);
    ck_assert_int_eq(net_loop_run(loop), 0);

    net_timer_start(loop, &t, 1 * MS);
    ck_assert_int_eq(net_loop_run(loop), 0);
    ck_assert_int_eq(fired, 2);
    ck_assert(net_timer_armed(&guard));
    net_timer_stop(loop, &guard);
    close_fd(&p[0]);
    close_fd(&p[1]);
    net_loop_destroy(loop);
}
END_TEST

/* Another thread stops the loop and wakes it. */
START_TEST(wake_stop_from_thread)
{
    struct net_loop *loop = new_loop(0);
    struct net_timer guard = {.fn = guard_fired};
    struct waker w = {.loop = loop, .delay_ms = 20, .wakes = 1, .stop = true};
    pthread_t th;

    net_timer_start(loop, &guard, GUARD_NS);
    ck_assert_int_eq(pthread_create(&th, NULL, waker_main, &w), 0);
    ck_assert_int_eq(net_loop_run(loop), 0);
    ck_assert(net_timer_armed(&guard));
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    net_timer_stop(loop, &guard);
    net_loop_destroy(loop);
}
END_TEST

/* A signal handler has no other way to reach the loop than a file-scope pointer. */
static struct net_loop *signal_loop;

static void on_sigusr1(int sig)
{
    (void)sig;
    net_loop_stop(signal_loop);
    net_loop_wake(signal_loop);
}

/* A signal handler stops and wakes the loop; errno survives the handler. */
START_TEST(wake_from_signal)
{
    struct net_loop *loop = new_loop(0);
    struct net_timer guard = {.fn = guard_fired};
    struct sigaction sa, old;
    struct waker w = {.loop = loop, .delay_ms = 20, .signal = true, .target = pthread_self()};
    pthread_t th;

    signal_loop = loop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigusr1;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, &old), 0);

    errno = EDOM;
    on_sigusr1(SIGUSR1);
    ck_assert_int_eq(errno, EDOM);
    ck_assert_int_eq(net_loop_run(loop), 0); /* the direct call's stop */

    net_timer_start(loop, &guard, GUARD_NS);
    ck_assert_int_eq(pthread_create(&th, NULL, waker_main, &w), 0);
    ck_assert_int_eq(net_loop_run(loop), 0);
    ck_assert(net_timer_armed(&guard));
    ck_assert_int_eq(pthread_join(th, NULL), 0);

    ck_assert_int_eq(sigaction(SIGUSR1, &old, NULL), 0);
    signal_loop = NULL;
    net_timer_stop(loop, &guard);
    net_loop_destroy(loop);
}
END_TEST

/* ---- batching window ---- */

/* Reads the pipe empty, so the next pass sees only new bytes. */
static void drain_io(struct net_loop *loop, int fd, unsigned events, void *arg)
{
    char buf[64];
    struct io_rec *r = arg;

    (void)loop;
    (void)events;
    r->calls++;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

/* Each bound here is generous both ways: a window that was skipped, or slept when it must
 * not be, is off by its full 300 ms. */
#define WINDOW_MS 300

START_TEST(io_batch_window)
{
    struct net_loop *loop = new_loop(MAX_FDS);
    struct io_rec rec = {0};
    int p[2];

    make_pipe(p);
    ck_assert_int_eq(net_loop_watch(loop, p[0], R, drain_io, &rec), 0);
    net_loop_set_batch_window(loop, WINDOW_MS * MS);
    ck_assert_uint_eq(net_loop_batch_window(loop), WINDOW_MS * MS);

    /* The first event is handled at once: there was no pass with events before it. */
    uint64_t t0 = net_now_ns();
    put_byte(p[1]);
    ck_assert_int_eq(net_loop_run_once(loop, 2000), 1);
    ck_assert_uint_lt(net_now_ns() - t0, (WINDOW_MS - 100) * MS);

    /* One right behind it waits out the rest of the window; two that came meanwhile are
     * handled in one pass. */
    put_byte(p[1]);
    put_byte(p[1]);
    ck_assert_int_eq(net_loop_run_once(loop, 2000), 1);
    ck_assert_uint_ge(net_now_ns() - t0, WINDOW_MS * MS);
    ck_assert_int_eq(rec.calls, 2);

    /* An event further apart than the window is handled as soon as it comes. */
    sleep_ms(WINDOW_MS + 50);
    uint64_t t1 = net_now_ns();
    put_byte(p[1]);
    ck_assert_int_eq(net_loop_run_once(loop, 2000), 1);
    ck_assert_uint_lt(net_now_ns() - t1, (WINDOW_MS - 100) * MS);

    /* A poll (max_wait 0) never sleeps, even inside the window. */
    t1 = net_now_ns();
    put_byte(p[1]);
    ck_assert_int_eq(net_loop_run_once(loop, 0), 1);
    ck_assert_uint_lt(net_now_ns() - t1, (WINDOW_MS - 100) * MS);

    /* A bounded wait sleeps at most its bound. */
    t1 = net_now_ns();
    ck_assert_int_eq(net_loop_run_once(loop, 50), 0);
    ck_assert_uint_ge(net_now_ns() - t1, 50 * MS);
    ck_assert_uint_lt(net_now_ns() - t1, (WINDOW_MS - 100) * MS);

    /* Window 0: back to waking for every event. */
    put_byte(p[1]);
    ck_assert_int_eq(net_loop_run_once(loop, 2000), 1);
    net_loop_set_batch_window(loop, 0);
    t1 = net_now_ns();
    put_byte(p[1]);
    ck_assert_int_eq(net_loop_run_once(loop, 2000), 1);
    ck_assert_uint_lt(net_now_ns() - t1, (WINDOW_MS - 100) * MS);
    ck_assert_int_eq(rec.calls, 6);

    net_loop_forget(loop, p[0]);
    close_fd(&p[0]);
    close_fd(&p[1]);
    net_loop_destroy(loop);
}
END_TEST

Suite *make_loop_suite(void)
{
    Suite *s = suite_create("loop");

    TCase *tc = tcase_create("Timers");
    tcase_add_loop_test(tc, timer_order_random, 0, 4);
    tcase_add_test(tc, timer_many);
    tcase_add_test(tc, timer_equal_deadlines);
    tcase_add_test(tc, timer_rearm_moves);
    tcase_add_test(tc, timer_stop_unarmed);
    tcase_add_test(tc, timer_rearm_self_zero);
    tcase_add_test(tc, timer_stop_in_callback);
    tcase_add_loop_test(tc, timer_bounds_wait, 0, N_ELEMS(bound_delays));
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("Io");
    tcase_add_loop_test(tc, io_events, 0, N_ELEMS(io_vecs));
    tcase_add_test(tc, io_silence_and_resume);
    tcase_add_test(tc, io_dispatching_flag);
    tcase_add_loop_test(tc, io_due_timers_fire_first, 0, 4);
    tcase_add_test(tc, io_silenced_hangup_blocks);
    tcase_add_test(tc, io_closed_without_forget);
    tcase_add_loop_test(tc, io_change_in_callback, 0, N_ELEMS(pair_vecs));
    tcase_add_loop_test(tc, io_watch_errors, 0, N_ELEMS(watch_err_vecs));
    tcase_add_test(tc, io_create_limits);
    tcase_add_test(tc, io_batch_window);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("Wake");
    tcase_add_loop_test(tc, wake_from_thread, 0, N_ELEMS(wake_vecs));
    tcase_add_test(tc, wake_stop_from_callback);
    tcase_add_test(tc, wake_stop_from_thread);
    tcase_add_test(tc, wake_from_signal);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
