/*
 * loop.c - the epoll event loop and its timer heap (contract in loop.h).
 *
 * Owns the epoll set, the fd table and the timer heap. It may not know what is behind an fd
 * (connections and listeners are conn.c's), nor read, write or close one it did not make.
 *
 * I/O: level-triggered epoll over an fd-indexed table of (fn, arg, interest). Each epoll
 * registration carries the fd and the slot's generation in epoll_event.data, so an event that
 * epoll_wait() returned for a registration that a callback has since forgotten (and perhaps
 * replaced) in the same iteration is recognised as stale and dropped.
 *
 * Timers: a binary min-heap of the callers' struct net_timer, ordered by (_deadline, _seq),
 * each entry holding a copy of its timer's key. Each timer records its heap index + 1 in
 * _slot, so cancelling and re-arming find it without a search: every operation is O(log n).
 *
 * Wake-ups from other threads or signal handlers go through an eventfd that sits in the epoll
 * set under a tag no fd can produce, so it never shows in the user's fd table.
 */
#include "net/loop.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* One epoll_wait() returns at most this many events; the rest wait for the next iteration. */
#define NET_LOOP_MAX_EVENTS 256
#define NET_LOOP_HEAP_MIN 64

/* How many timers fire_timers() holds out of the heap at most, and their _slot while held:
 * HELD_BASE + their index in loop->held (armed, but in no heap slot). The index lets
 * net_timer_stop/start take a held timer back out of loop->held, so that fire_timers never
 * looks at a timer again once its owner stopped it (and may have freed it). */
#define NET_LOOP_HELD_MAX 32
#define HELD_BASE (SIZE_MAX - NET_LOOP_HELD_MAX)
#define IS_HELD(slot) ((slot) > HELD_BASE)

/*
 * epoll_event.data of the wake-up eventfd. Regular registrations put the fd in the low 32
 * bits, and fds are below INT_MAX, so their low half can never be all ones.
 */
#define NET_LOOP_WAKE_TAG UINT64_MAX

#define NS_PER_MS 1000000u

struct net_fd_slot {
    net_io_fn fn;
    void *arg;
    unsigned events; /* NET_READABLE | NET_WRITABLE; 0 while silenced */
    uint32_t gen;    /* bumped on forget, so stale pending events no longer match */
    bool registered; /* in the epoll set (possibly with no interest) */
};

/* A timer's key is kept beside its pointer, so sifting compares within the array instead of
 * reading a timer from wherever its owner lives. */
struct heap_entry {
    uint64_t deadline, seq; /* copies of the timer's _deadline and _seq */
    struct net_timer *timer;
};

struct net_loop {
    int epfd;
    int wakefd;
    /* Atomic because a signal handler or (followed by a wake) another thread may set it. */
    atomic_bool stop;
    /* ENOMEM once the timer heap failed to grow; run_once reports it from then on. */
    int timer_err;

    size_t max_fds;
    struct net_fd_slot *fds;

    struct heap_entry *heap;
    size_t nheap;
    size_t heap_cap;
    uint64_t next_seq;
    /* the timers fire_timers() holds out of the heap during its call (entries NULLed when
     * their timer is stopped or re-armed meanwhile) */
    struct heap_entry held[NET_LOOP_HELD_MAX];
    size_t nheld;

    /* net_loop_set_batch_window(): 0 wakes for every event */
    uint64_t batch_ns;
    uint64_t last_wake_ns; /* when epoll_wait() last returned events */
    bool dispatching;      /* running I/O callbacks (net_loop_dispatching()) */

    struct epoll_event events[NET_LOOP_MAX_EVENTS];
};

uint64_t net_now_ns(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail with a valid pointer; it never steps with the wall clock. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- loop life cycle ---- */

int net_loop_create(struct net_loop **out, size_t max_fds)
{
    struct net_loop *loop;
    int rc;

    /* fds are ints: a larger table could never be indexed, so the caller mixed up a limit. */
    if (max_fds > (size_t)INT_MAX)
        return EINVAL;
    loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return ENOMEM;
    loop->epfd = -1;
    loop->wakefd = -1;
    atomic_init(&loop->stop, false);
    loop->max_fds = max_fds;
    /* calloc(0) may return NULL; one spare slot keeps "NULL means no memory" unambiguous. */
    loop->fds = calloc(max_fds > 0 ? max_fds : 1, sizeof(*loop->fds));
    if (loop->fds == NULL) {
        rc = ENOMEM;
        goto err;
    }
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        rc = errno;
        goto err;
    }
    /* Non-blocking, so that a wake-up with a saturated counter cannot block a signal handler. */
    loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wakefd < 0) {
        rc = errno;
        goto err;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = NET_LOOP_WAKE_TAG};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) != 0) {
        rc = errno;
        goto err;
    }
    *out = loop;
    return 0;

err:
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    if (loop->epfd >= 0)
        close(loop->epfd);
    free(loop->fds);
    free(loop);
    return rc;
}

/*
 * Armed timers are left as they are: their owners may already be gone, so writing to them
 * here could touch freed memory.
 */
void net_loop_destroy(struct net_loop *loop)
{
    if (loop == NULL)
        return;
    close(loop->wakefd);
    close(loop->epfd);
    free(loop->heap);
    free(loop->fds);
    free(loop);
}

/* ---- I/O registrations ---- */

static uint64_t fd_tag(int fd, uint32_t gen)
{
    return (uint64_t)gen << 32 | (uint32_t)fd;
}

/*
 * A silenced registration cannot ask for nothing: the kernel always adds EPOLLERR and
 * EPOLLHUP, and level-triggered, a hung-up fd would then wake every epoll_wait() at once and
 * spin the loop. Edge-triggered, it reports the condition at most once per change, and
 * dispatch drops that report because the slot has no interest.
 */
static uint32_t epoll_mask(unsigned events)
{
    uint32_t m = 0;

    if (events & NET_READABLE)
        m |= EPOLLIN;
    if (events & NET_WRITABLE)
        m |= EPOLLOUT;
    return m != 0 ? m : (uint32_t)EPOLLET;
}

static int epoll_update(struct net_loop *loop, int fd, const struct net_fd_slot *s, unsigned events)
{
    struct epoll_event ev = {.events = epoll_mask(events), .data.u64 = fd_tag(fd, s->gen)};

    /* Re-enabling a silenced fd is a MOD: the registration stayed in the set. */
    if (epoll_ctl(loop->epfd, s->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0)
        return errno;
    return 0;
}

int net_loop_watch(struct net_loop *loop, int fd, unsigned events, net_io_fn fn, void *arg)
{
    if (fd < 0)
        return EBADF;
    if ((size_t)fd >= loop->max_fds)
        return ERANGE;
    if (fn == NULL || (events & ~(NET_READABLE | NET_WRITABLE)) != 0)
        return EINVAL;

    struct net_fd_slot *s = &loop->fds[fd];
    /*
     * Writers toggle NET_WRITABLE often (only while output is queued), and callers need not
     * track what they asked for last: an unchanged interest costs no system call.
     */
    if (!s->registered || s->events != events) {
        int rc = epoll_update(loop, fd, s, events);
        if (rc != 0)
            return rc;
    }
    s->fn = fn;
    s->arg = arg;
    s->events = events;
    s->registered = true;
    return 0;
}

void net_loop_forget(struct net_loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->max_fds)
        return;
    struct net_fd_slot *s = &loop->fds[fd];
    if (!s->registered)
        return;
    /* A failure means the fd was already closed, which removed it from the set anyway. */
    (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    uint32_t gen = s->gen + 1;
    *s = (struct net_fd_slot){.gen = gen};
}

/* ---- timer heap ---- */

static bool entry_before(const struct heap_entry *a, const struct heap_entry *b)
{
    if (a->deadline != b->deadline)
        return a->deadline < b->deadline;
    return a->seq < b->seq;
}

static void heap_put(struct net_loop *loop, size_t i, struct heap_entry e)
{
    loop->heap[i] = e;
    e.timer->_slot = i + 1;
}

static void heap_sift_up(struct net_loop *loop, size_t i)
{
    struct heap_entry e = loop->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!entry_before(&e, &loop->heap[parent]))
            break;
        heap_put(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_put(loop, i, e);
}

static void heap_sift_down(struct net_loop *loop, size_t i)
{
    struct heap_entry e = loop->heap[i];
    size_t n = loop->nheap;

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && entry_before(&loop->heap[child + 1], &loop->heap[child]))
            child++;
        if (!entry_before(&loop->heap[child], &e))
            break;
        heap_put(loop, i, loop->heap[child]);
        i = child;
    }
    heap_put(loop, i, e);
}

/* Restores the heap order around index i after its timer's key changed either way. */
static void heap_fix(struct net_loop *loop, size_t i)
{
    if (i > 0 && entry_before(&loop->heap[i], &loop->heap[(i - 1) / 2]))
        heap_sift_up(loop, i);
    else
        heap_sift_down(loop, i);
}

/* Takes the timer at index i out of the heap and marks it disarmed. */
static void heap_remove(struct net_loop *loop, size_t i)
{
    struct net_timer *t = loop->heap[i].timer;
    struct heap_entry last = loop->heap[--loop->nheap];

    if (i < loop->nheap) {
        heap_put(loop, i, last);
        heap_fix(loop, i);
    }
    t->_slot = 0;
}

static int heap_grow(struct net_loop *loop)
{
    size_t cap = loop->heap_cap > 0 ? loop->heap_cap * 2 : NET_LOOP_HEAP_MIN;

    if (cap > SIZE_MAX / sizeof(*loop->heap))
        return ENOMEM;
    struct heap_entry *heap = realloc(loop->heap, cap * sizeof(*heap));
    if (heap == NULL)
        return ENOMEM;
    loop->heap = heap;
    loop->heap_cap = cap;
    return 0;
}

void net_timer_start(struct net_loop *loop, struct net_timer *t, uint64_t delay_ns)
{
    uint64_t now = net_now_ns();

    /* A huge delay means "practically never": saturate rather than wrap into the past. */
    t->_deadline = delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
    /*
     * A fresh sequence number on every arming keeps equal deadlines in arming order, and lets
     * the firing pass tell timers armed by its own callbacks (see fire_timers).
     */
    t->_seq = loop->next_seq++;
    struct heap_entry e = {t->_deadline, t->_seq, t};
    if (IS_HELD(t->_slot)) {
        /* set aside by fire_timers: no longer its to put back */
        loop->held[t->_slot - HELD_BASE - 1].timer = NULL;
        t->_slot = 0;
    }
    if (t->_slot != 0) {
        assert(t->_slot <= loop->nheap && loop->heap[t->_slot - 1].timer == t);
        loop->heap[t->_slot - 1] = e;
        heap_fix(loop, t->_slot - 1);
        return;
    }
    if (loop->nheap == loop->heap_cap && heap_grow(loop) != 0) {
        /* No way to return an error here: leave the timer disarmed and fail the loop. */
        loop->timer_err = ENOMEM;
        return;
    }
    size_t i = loop->nheap++;
    heap_put(loop, i, e);
    heap_sift_up(loop, i);
}

void net_timer_stop(struct net_loop *loop, struct net_timer *t)
{
    if (t->_slot == 0)
        return;
    if (IS_HELD(t->_slot)) {
        /* set aside by fire_timers, which now leaves it out (and never reads it again) */
        loop->held[t->_slot - HELD_BASE - 1].timer = NULL;
        t->_slot = 0;
        return;
    }
    assert(t->_slot <= loop->nheap && loop->heap[t->_slot - 1].timer == t);
    heap_remove(loop, t->_slot - 1);
}

size_t net_loop_timers(const struct net_loop *loop)
{
    return loop->nheap;
}

/*
 * Fires the timers due now, earliest first. `now` is read once and only timers armed before
 * this call (sequence below `first_new`) qualify: a callback that re-arms a timer with delay 0
 * would otherwise keep this loop running forever. A pass fires twice (see run_once); the
 * second firing also leaves the timers armed by the first one's callbacks, [skip_lo, skip_hi),
 * to the next pass: they are set aside (up to NET_LOOP_HELD_MAX; past that the firing stops
 * there, and the rest fires in the next pass) and put back after it, unless a callback
 * stopped or re-armed them meanwhile.
 */
static int fire_timers(struct net_loop *loop, uint64_t skip_lo, uint64_t skip_hi)
{
    if (loop->nheap == 0)
        return 0;

    uint64_t now = net_now_ns();
    uint64_t first_new = loop->next_seq;
    int ran = 0;

    /*
     * The root is the least (deadline, seq). A timer armed during the pass has a deadline of
     * at least `now`, so if the root is new or not due, no older due timer can sort after it.
     */
    loop->nheld = 0;
    while (loop->nheap > 0) {
        struct net_timer *t = loop->heap[0].timer;
        if (t->_deadline > now || t->_seq >= first_new)
            break;
        if (t->_seq >= skip_lo && t->_seq < skip_hi) {
            if (loop->nheld == NET_LOOP_HELD_MAX)
                break;
            loop->held[loop->nheld++] = loop->heap[0];
            heap_remove(loop, 0);
            t->_slot = HELD_BASE + loop->nheld; /* index nheld - 1 */
            continue;
        }
        /* Disarmed before the call, so that the callback may arm it again. */
        heap_remove(loop, 0);
        t->fn(loop, t);
        ran++;
    }
    size_t nheld = loop->nheld;
    loop->nheld = 0;
    for (size_t i = 0; i < nheld; i++) {
        struct net_timer *t = loop->held[i].timer;
        if (t == NULL)
            continue; /* stopped or re-armed by a callback meanwhile */
        if (loop->nheap == loop->heap_cap && heap_grow(loop) != 0) {
            t->_slot = 0;
            loop->timer_err = ENOMEM; /* as net_timer_start: the loop fails from now on */
            continue;
        }
        size_t j = loop->nheap++;
        heap_put(loop, j, loop->held[i]);
        heap_sift_up(loop, j);
    }
    return ran;
}

/* ---- the loop ---- */

/* The epoll_wait() timeout: max_wait_ms, cut to the next deadline rounded up to a whole ms. */
static int wait_timeout(const struct net_loop *loop, int max_wait_ms)
{
    int timeout = max_wait_ms < 0 ? -1 : max_wait_ms;

    if (loop->nheap == 0)
        return timeout;
    uint64_t deadline = loop->heap[0].deadline;
    uint64_t now = net_now_ns();
    uint64_t ms = 0;
    /* Rounding down would wake just before the deadline and spin through empty passes. */
    if (deadline > now)
        ms = (deadline - now) / NS_PER_MS + ((deadline - now) % NS_PER_MS != 0);
    if (ms > INT_MAX)
        ms = INT_MAX;
    if (timeout < 0 || (int)ms < timeout)
        timeout = (int)ms;
    return timeout;
}

/*
 * The wait itself. A timer's deadline in whole milliseconds would make every timer up to 1 ms
 * late (the open loop's send times measured it: p50 0.5 ms); epoll_pwait2 (Linux 5.11) takes
 * the wait in nanoseconds. Where the kernel lacks it (ENOSYS), epoll_wait's milliseconds.
 */
static int wait_events(struct net_loop *loop, int max_wait_ms)
{
    static atomic_bool no_pwait2;
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        uint64_t ns = max_wait_ms < 0 ? UINT64_MAX : (uint64_t)max_wait_ms * NS_PER_MS;
        if (loop->nheap > 0) {
            uint64_t deadline = loop->heap[0].deadline, now = net_now_ns();
            uint64_t left = deadline > now ? deadline - now : 0;
            if (left < ns)
                ns = left;
        }
        struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                              .tv_nsec = (long)(ns % 1000000000u)};
        int n = epoll_pwait2(loop->epfd, loop->events, NET_LOOP_MAX_EVENTS,
                             ns == UINT64_MAX ? NULL : &ts, NULL);
        /* ENOSYS: a kernel before 5.11; EPERM: a seccomp filter that refuses syscalls it
         * does not know (older container runtimes). Either way epoll_wait does the job. */
        if (n >= 0 || (errno != ENOSYS && errno != EPERM))
            return n;
        atomic_store_explicit(&no_pwait2, true, memory_order_relaxed);
    }
    return epoll_wait(loop->epfd, loop->events, NET_LOOP_MAX_EVENTS,
                      wait_timeout(loop, max_wait_ms));
}

static void drain_wake(struct net_loop *loop)
{
    uint64_t count;

    /*
     * One read resets the counter however many wake-ups it holds. It cannot fail but with
     * EAGAIN (nothing to reset), so the result is of no interest.
     */
    ssize_t rc = read(loop->wakefd, &count, sizeof(count));
    (void)rc;
}

static int dispatch_io(struct net_loop *loop, int n)
{
    int ran = 0;

    for (int i = 0; i < n; i++) {
        uint64_t tag = loop->events[i].data.u64;
        uint32_t ev = loop->events[i].events;

        if (tag == NET_LOOP_WAKE_TAG) {
            drain_wake(loop);
            continue;
        }
        uint32_t fd = (uint32_t)tag;
        if (fd >= loop->max_fds)
            continue;
        struct net_fd_slot *s = &loop->fds[fd];
        /*
         * An earlier callback of this iteration may have forgotten the fd (the generation
         * moved on, even if it watched the fd again since) or silenced it.
         */
        if (!s->registered || s->gen != (uint32_t)(tag >> 32) || s->events == 0)
            continue;

        unsigned events;
        if (ev & (EPOLLERR | EPOLLHUP)) {
            /* As in ae: whichever way the callback looks next, it meets the error. */
            events = NET_READABLE | NET_WRITABLE;
        } else {
            events = 0;
            if (ev & EPOLLIN)
                events |= NET_READABLE;
            if (ev & EPOLLOUT)
                events |= NET_WRITABLE;
            /* An earlier callback may have narrowed the interest since epoll_wait(). */
            events &= s->events;
            if (events == 0)
                continue;
        }
        s->fn(loop, (int)fd, events, s->arg);
        ran++;
    }
    return ran;
}

void net_loop_set_batch_window(struct net_loop *loop, uint64_t ns)
{
    loop->batch_ns = ns;
}

uint64_t net_loop_batch_window(const struct net_loop *loop)
{
    return loop->batch_ns;
}

bool net_loop_dispatching(const struct net_loop *loop)
{
    return loop->dispatching;
}

/*
 * While events come faster than one per window, waking for each costs a context switch and
 * a pass over one event, and each of our writes wakes the peer again for one frame. Sleeping
 * out the rest of the window lets them pile up: one pass then reads several frames from each
 * socket and answers them in one write.
 */
static void wait_out_window(struct net_loop *loop, int max_wait_ms)
{
    if (loop->batch_ns == 0 || loop->last_wake_ns == 0 || max_wait_ms == 0 ||
        atomic_load(&loop->stop))
        return;
    uint64_t due = loop->last_wake_ns + loop->batch_ns;
    /* A timer due sooner ends the wait: batching gathers events, it does not delay timers
     * (an open loop's send times, measured as schedule-lag). */
    if (loop->nheap > 0 && loop->heap[0].deadline < due)
        due = loop->heap[0].deadline;
    uint64_t now = net_now_ns();
    if (now >= due)
        return;
    if (max_wait_ms > 0 && due - now > (uint64_t)max_wait_ms * NS_PER_MS)
        due = now + (uint64_t)max_wait_ms * NS_PER_MS;
    struct timespec ts = {.tv_sec = (time_t)(due / 1000000000u),
                          .tv_nsec = (long)(due % 1000000000u)};
    /* EINTR: a signal may want the loop stopped, so it ends the wait early. */
    (void)clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

int net_loop_run_once(struct net_loop *loop, int max_wait_ms)
{
    if (loop->timer_err != 0) {
        errno = loop->timer_err;
        return -1;
    }
    wait_out_window(loop, max_wait_ms);
    int n = wait_events(loop, max_wait_ms);
    if (n > 0 && loop->batch_ns != 0)
        loop->last_wake_ns = net_now_ns(); /* only batching reads it: no clock read otherwise */
    if (n < 0) {
        if (errno != EINTR)
            return -1;
        /* A signal cut the wait short: nothing is ready, but timers may be due. */
        n = 0;
    }
    /*
     * Timers that were due when the wait returned fire first: what they do (an open loop's
     * sends on schedule) should not wait behind up to NET_LOOP_MAX_EVENTS I/O callbacks; the
     * schedule's lag measured about half of itself there. Then the I/O, then the timers due
     * by now that I/O callbacks armed (a flush at the pass's end) or that came due meanwhile;
     * never, in the same pass, one that the first firing's callbacks armed.
     */
    uint64_t skip_lo = loop->next_seq;
    int ran = fire_timers(loop, 0, 0);
    uint64_t skip_hi = loop->next_seq;
    loop->dispatching = true;
    ran += dispatch_io(loop, n);
    loop->dispatching = false;
    return ran + fire_timers(loop, skip_lo, skip_hi);
}

/*
 * The flag is consumed here, so a stop requested before the call (say, by another thread
 * that then woke the loop) is not lost, and the loop can be run again afterwards.
 */
int net_loop_run(struct net_loop *loop)
{
    while (!atomic_exchange(&loop->stop, false)) {
        if (net_loop_run_once(loop, -1) < 0)
            return -1;
    }
    return 0;
}

void net_loop_stop(struct net_loop *loop)
{
    atomic_store(&loop->stop, true);
}

void net_loop_wake(struct net_loop *loop)
{
    /* A signal handler may call this: write(2) is async-signal-safe but may change errno. */
    int saved_errno = errno;
    uint64_t one = 1;
    ssize_t rc;

    /* EAGAIN means the counter is near its limit, so a wake-up is pending already. */
    do
        rc = write(loop->wakefd, &one, sizeof(one));
    while (rc < 0 && errno == EINTR);
    errno = saved_errno;
}
