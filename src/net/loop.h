/*
 * loop.h - one epoll event loop per worker thread, with timers on CLOCK_MONOTONIC.
 *
 * After redis ae: callbacks are typed function pointers and the fd table is sized up front.
 * Unlike ae, timers live in an intrusive binary min-heap (as libuv's), so arming, cancelling
 * and firing each cost O(log n) even with 100,000+ pending transaction timeouts, and a timer
 * is embedded in its owner (no allocation per timeout).
 *
 * Thread safety: a loop and everything registered with it belong to one thread. Only
 * net_loop_wake() may be called from another thread.
 */
#ifndef MSRPLOAD_NET_LOOP_H
#define MSRPLOAD_NET_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_READABLE 1u
#define NET_WRITABLE 2u

struct net_loop;
struct net_timer;

/* events: NET_READABLE and/or NET_WRITABLE; an error or hang-up is reported as both (ae). */
typedef void (*net_io_fn)(struct net_loop *loop, int fd, unsigned events, void *arg);
typedef void (*net_timer_fn)(struct net_loop *loop, struct net_timer *timer);

struct net_timer {
    net_timer_fn fn;
    void *arg;
    /* private */
    uint64_t _deadline; /* ns on CLOCK_MONOTONIC */
    uint64_t _seq;      /* tie-break: timers with equal deadlines fire in arming order */
    size_t _slot;       /* index in the heap + 1; 0 when not armed */
};

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t net_now_ns(void);

/* Returns 0 or an errno value. max_fds bounds the fd numbers the loop can watch. */
int net_loop_create(struct net_loop **out, size_t max_fds);
void net_loop_destroy(struct net_loop *loop);

/*
 * Watches fd for events (a replacement of earlier interest; 0 stops watching but keeps the
 * registration cheap to re-enable). Returns 0 or an errno value: EBADF for a negative fd,
 * ERANGE for one at or above max_fds, EINVAL for a NULL fn or unknown event bits, or what
 * epoll_ctl(2) said (EPERM: a file that cannot be polled). A change made in a callback holds
 * for events already collected in the same iteration: a forgotten, silenced or narrowed fd
 * gets none of them.
 */
int net_loop_watch(struct net_loop *loop, int fd, unsigned events, net_io_fn fn, void *arg);
/* Forgets fd; call before closing it. */
void net_loop_forget(struct net_loop *loop, int fd);

/*
 * Arms (or re-arms) a timer to fire once after delay_ns. A timer must be zeroed before its
 * first use. A timer armed by a callback during the firing of timers fires at the earliest in
 * the next net_loop_run_once(). If the heap cannot grow, the timer stays disarmed and every
 * later net_loop_run_once() fails with ENOMEM.
 */
void net_timer_start(struct net_loop *loop, struct net_timer *t, uint64_t delay_ns);
/* Disarms a timer; harmless when it is not armed. */
void net_timer_stop(struct net_loop *loop, struct net_timer *t);
static inline bool net_timer_armed(const struct net_timer *t)
{
    return t->_slot != 0;
}
size_t net_loop_timers(const struct net_loop *loop);

/*
 * Batching window: after a pass that had events, the next wait first sleeps until ns have
 * passed since that pass began, so events arriving closer together than ns are handled
 * together (fewer wake-ups, fewer and larger reads and writes) at the price of up to ns of
 * added delay each; events further apart than ns are handled as soon as they come. A timer
 * due sooner ends the wait (timers are not delayed by it). A wait with max_wait_ms 0 never sleeps, and one with max_wait_ms > 0
 * sleeps at most that long. 0 (the default) turns batching off.
 */
void net_loop_set_batch_window(struct net_loop *loop, uint64_t ns);
uint64_t net_loop_batch_window(const struct net_loop *loop);

/*
 * True while the loop runs I/O callbacks; timers due in the same pass run after them, so work
 * a callback defers with a timer of delay 0 is done before the loop waits again.
 */
bool net_loop_dispatching(const struct net_loop *loop);

/*
 * Waits at most max_wait_ms (-1: until something happens, bounded by the next timer) and
 * dispatches what is ready: the timers due when the wait returned, then I/O callbacks, then
 * the timers due by then (those the I/O callbacks armed with delay 0 among them; not those
 * the first firing's callbacks armed, which wait for the next pass). Returns the number of
 * callbacks run, or -1 with errno set when epoll_wait failed for a reason other than EINTR
 * (or ENOMEM, see net_timer_start). Not to be called from a callback: the loop is not reentrant.
 */
int net_loop_run_once(struct net_loop *loop, int max_wait_ms);

/*
 * Runs until net_loop_stop() is called from a callback or from net_loop_wake()'s thread.
 * Returns 0 once stopped (consuming the stop, so a later call runs again), or -1 as
 * net_loop_run_once() does.
 */
int net_loop_run(struct net_loop *loop);
/*
 * Also safe from a signal handler or another thread; from there, follow it with
 * net_loop_wake() so that a blocked wait notices.
 */
void net_loop_stop(struct net_loop *loop);

/* Interrupts a blocked net_loop_run_once() from another thread or a signal handler. */
void net_loop_wake(struct net_loop *loop);

#endif
