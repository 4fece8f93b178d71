/*
 * conn.c - non-blocking connections: connect, take over an accepted socket (listener.c accepts),
 * the transport's handshake, a read buffer feeding the protocol above, a write queue with backpressure, and an
 * orderly close.
 *
 * Owns the socket (created, tuned, watched, closed here), the connection's state, buffers,
 * timers and lifetime, and every call of the handlers above. How bytes get on and off the
 * socket belongs to the connection's transport (transport.h: TCP, TLS): this file calls its
 * ops and may not look inside it (no OpenSSL here), nor know what the bytes mean (no MSRP).
 *
 * Output is written through with one writev while nothing is queued (the common case on a
 * fast loopback), and whatever the socket does not take is copied into one contiguous queue.
 * A transport that cannot gather (TLS) always goes through the queue: SSL_write takes one
 * buffer, and writing each iovec as its own record would multiply TLS overhead for small
 * chunks.
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/conn_int.h"
#include "net/transport.h"

/* A connection's read buffer to start with (it grows when a frame needs more). */
#define RBUF_START (16u * 1024u)

enum conn_state { CONN_CONNECTING, CONN_HANDSHAKE, CONN_OPEN, CONN_CLOSING, CONN_CLOSED };

struct net_conn {
    struct net_loop *loop;
    struct net_transport tp; /* tp.fd: the socket, ours to watch and close */
    enum conn_state state;
    const struct net_conn_handlers *h;
    void *user;
    struct net_conn_opts opts;

    char *rbuf;        /* NULL while idle: see read_input */
    size_t rlen, rcap; /* rcap grows towards opts.read_buffer only when the protocol needs it */
    uint64_t drained_ns; /* when a read last emptied the socket and the buffer */

    char *wbuf; /* queued output is wbuf[whead .. whead + wlen) */
    size_t whead, wlen, wcap;

    bool congested;
    bool reading;
    bool write_wants_read; /* the transport's writev wants read: retry when readable */
    bool write_wants_more; /* writev took nothing until more is queued: do not watch writable */
    unsigned watched;      /* events currently asked of the loop */
    unsigned busy;         /* depth of our own callbacks on the stack */
    bool dead;             /* closed while busy: free when the stack unwinds */
    struct net_timer connect_timer;
    struct net_timer resume_timer; /* reading resumed with bytes pending in the transport */
    struct net_timer flush_timer;  /* a send from another connection's callback: see below */
    uint64_t bytes_in, bytes_out;
    uint64_t connected_ns, open_ns; /* TCP established; usable (handshake done) */
    char peer[64];
};

void net_conn_opts_default(struct net_conn_opts *o)
{
    o->read_buffer = 256 * 1024;
    o->write_high = 1024 * 1024;
    o->write_low = 256 * 1024;
    o->write_cap = 64 * 1024 * 1024;
    o->reads_per_wakeup = 16;
    o->connect_timeout_ns = 10ull * 1000 * 1000 * 1000;
}

static void io_ready(struct net_loop *loop, int fd, unsigned events, void *arg);

/* What other connections' callbacks queued in this pass leaves in one write, as it would if
 * the connection had become writable. */
static void flush_at_pass_end(struct net_loop *loop, struct net_timer *t)
{
    struct net_conn *c = t->arg;
    io_ready(loop, c->tp.fd, NET_WRITABLE, c);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void format_peer(const struct sockaddr *sa, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(out, len, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(out, len, "[%s]:%u", host, port);
    } else {
        snprintf(out, len, "?");
    }
}

/* Asks the loop for exactly the events the state needs. */
static void update_interest(struct net_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    unsigned want = 0;
    if (c->state == CONN_HANDSHAKE)
        return; /* handshake_step() asks for what the transport wants */
    if (c->state == CONN_CONNECTING) {
        want = NET_WRITABLE;
    } else {
        if ((c->reading && c->state == CONN_OPEN) || c->write_wants_read)
            want |= NET_READABLE;
        /*
         * Congested with a short queue: net_conn_send() flushed a queue-only transport's
         * output (TLS) itself, so no after_output() ran. The socket is writable, so the loop
         * delivers on_drain at once.
         */
        if ((c->wlen > 0 || c->congested) && !c->write_wants_more)
            want |= NET_WRITABLE;
    }
    if (want != c->watched) {
        if (net_loop_watch(c->loop, c->tp.fd, want, io_ready, c) == 0)
            c->watched = want;
    }
}

static void conn_free(struct net_conn *c)
{
    free(c->rbuf);
    free(c->wbuf);
    free(c);
}

/* Ends the connection: releases the socket, tells the owner once, frees when safe. */
static void finish(struct net_conn *c, int err, const char *why)
{
    if (c->state == CONN_CLOSED)
        return;
    c->state = CONN_CLOSED;
    net_timer_stop(c->loop, &c->connect_timer);
    net_timer_stop(c->loop, &c->resume_timer);
    net_timer_stop(c->loop, &c->flush_timer);
    net_loop_forget(c->loop, c->tp.fd);
    if (err == 0 && c->tp.ops->shutdown != NULL)
        c->tp.ops->shutdown(&c->tp);
    if (c->tp.ops->release != NULL)
        c->tp.ops->release(&c->tp);
    close(c->tp.fd);
    c->tp.fd = -1;
    c->busy++;
    if (c->h != NULL && c->h->on_close != NULL)
        c->h->on_close(c, err, why);
    c->busy--;
    if (c->busy == 0)
        conn_free(c);
    else
        c->dead = true;
}

/* ---- output ------------------------------------------------------------------------------- */

/* Makes room for n more queued bytes; returns false when out of memory. */
static bool queue_reserve(struct net_conn *c, size_t n)
{
    if (c->whead > 0 && (c->whead + c->wlen + n > c->wcap || c->whead > c->wcap / 2)) {
        memmove(c->wbuf, c->wbuf + c->whead, c->wlen);
        c->whead = 0;
    }
    if (c->wlen + n <= c->wcap)
        return true;
    size_t cap = c->wcap ? c->wcap : 4096;
    while (cap < c->wlen + n)
        cap *= 2;
    char *p = realloc(c->wbuf, cap);
    if (p == NULL)
        return false;
    c->wbuf = p;
    c->wcap = cap;
    return true;
}

static void queue_iov(struct net_conn *c, const struct iovec *iov, int iovcnt, size_t skip)
{
    for (int i = 0; i < iovcnt; i++) {
        size_t len = iov[i].iov_len;
        const char *base = iov[i].iov_base;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        base += skip;
        len -= skip;
        skip = 0;
        memcpy(c->wbuf + c->whead + c->wlen, base, len);
        c->wlen += len;
    }
}

static void note_queue_level(struct net_conn *c)
{
    if (!c->congested && c->wlen > c->opts.write_high)
        c->congested = true;
}

/*
 * Writes queued bytes until the queue is empty or the transport would block. Returns 0, or an
 * errno value after which the connection must be finished with end->why.
 */
static int flush_queue(struct net_conn *c, struct net_io_end *end)
{
    while (c->wlen > 0) {
        struct iovec queued = {.iov_base = c->wbuf + c->whead, .iov_len = c->wlen};
        ssize_t n = c->tp.ops->writev(&c->tp, &queued, 1, end);
        if (n < 0) {
            if (n == NET_IO_WANT_READ)
                c->write_wants_read = true;
            else if (n == NET_IO_WANT_MORE)
                c->write_wants_more = true;
            else if (n == NET_IO_END)
                return end->err != 0 ? end->err : EPIPE;
            return 0;
        }
        c->write_wants_read = false;
        c->whead += (size_t)n;
        c->wlen -= (size_t)n;
        c->bytes_out += (uint64_t)n;
    }
    c->whead = 0;
    /* An idle connection keeps no small queue buffer; a streaming one keeps its large one. */
    if (c->wcap <= 64 * 1024) {
        free(c->wbuf);
        c->wbuf = NULL;
        c->wcap = 0;
    }
    return 0;
}

/* After output progress: drain notification, finishing a flushing close, interest. */
static void after_output(struct net_conn *c)
{
    /* What waits for more (an unfinished WebSocket message) cannot leave whole: drop it. */
    if (c->state == CONN_CLOSING && (c->wlen == 0 || c->write_wants_more)) {
        finish(c, 0, "closed");
        return;
    }
    if (c->congested && c->wlen <= c->opts.write_low) {
        c->congested = false;
        if (c->h->on_drain != NULL && c->state == CONN_OPEN)
            c->h->on_drain(c);
        if (c->state == CONN_CLOSED)
            return;
    }
    update_interest(c);
}

int net_conn_send(struct net_conn *c, const struct iovec *iov, int iovcnt)
{
    if (c->state == CONN_CLOSING || c->state == CONN_CLOSED)
        return EPIPE;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (c->wlen + total > c->opts.write_cap)
        return ENOBUFS;

    /*
     * A failed write is not reported here: the bytes stay queued, the socket stays writable,
     * and the next loop pass fails again and closes from the loop. So on_close never runs
     * inside net_conn_send(), whose caller may be in the middle of another connection's work.
     */
    /*
     * Inside one of this connection's own callbacks (busy), only queue: io_ready flushes the
     * whole queue in one write when the callback returns, so every response to one read
     * leaves in one segment instead of one system call each. From another connection's
     * callback (a relay's delivery on one connection frees room for a message on another),
     * only queue too: a timer of delay 0 flushes after this pass's callbacks, so what several
     * of them send here leaves in one write.
     */
    bool at_pass_end = c->state == CONN_OPEN && c->busy == 0 && net_loop_dispatching(c->loop);
    size_t written = 0;
    c->write_wants_more = false; /* new bytes: a transport waiting for more may go on */
    if (c->state == CONN_OPEN && c->wlen == 0 && (c->tp.flags & NET_TRANSPORT_GATHERS) &&
        c->busy == 0 && !at_pass_end) {
        if (total == 0)
            return 0; /* transports are never asked to write nothing */
        struct net_io_end end;
        ssize_t n = c->tp.ops->writev(&c->tp, iov, iovcnt, &end);
        if (n > 0) {
            written = (size_t)n;
            c->bytes_out += (uint64_t)n;
        } else if (n == NET_IO_WANT_MORE) {
            c->write_wants_more = true;
        }
        if (written == total)
            return 0;
    }
    if (!queue_reserve(c, total - written))
        return ENOMEM;
    queue_iov(c, iov, iovcnt, written);
    if (at_pass_end) {
        note_queue_level(c);
        if (!net_timer_armed(&c->flush_timer))
            net_timer_start(c->loop, &c->flush_timer, 0);
        return 0;
    }
    if (c->state == CONN_OPEN && !(c->tp.flags & NET_TRANSPORT_GATHERS) && c->busy == 0) {
        /* Outside our own callbacks, write a queue-only transport's (TLS) output at once;
         * inside, io_ready flushes on return. */
        struct net_io_end end;
        (void)flush_queue(c, &end); /* an error shows again, and closes, from the loop */
    }
    /* Congested by what is left queued: a queue the immediate write emptied would otherwise
     * stay congested with nothing left to drain it, and on_drain would never come. */
    note_queue_level(c);
    /* Inside our own callbacks io_ready settles the interest once, after its flush. */
    if (c->state == CONN_OPEN && c->busy == 0)
        update_interest(c);
    return 0;
}

/* ---- input -------------------------------------------------------------------------------- */

/*
 * Reads what is there (bounded per wake-up) and hands it to on_data. Returns 0, or an errno
 * value / -1 for the peer's orderly end, after which the connection must be finished with
 * end->why.
 */
static int read_input(struct net_conn *c, struct net_io_end *end)
{
    unsigned reads = 0;
    /* A connection without a buffer of its own reads into this one: the bytes the protocol
     * layer takes need no buffer, and only a partial frame left over gets one (of rcap). Held
     * open by the hundred thousand, idle sessions then cost their state and not a buffer
     * each, nor the heap holes that buffers made and let go would leave between them. */
    char stack_buf[RBUF_START];
    for (;;) {
        if (c->state != CONN_OPEN || !c->reading)
            return 0;
        /* Bytes the transport already holds (decrypted TLS) wake no one: take them now. */
        if (reads >= c->opts.reads_per_wakeup &&
            (c->tp.ops->pending == NULL || c->tp.ops->pending(&c->tp) == 0))
            return 0;
        bool on_stack = c->rbuf == NULL; /* then rlen is 0 and rcap at most RBUF_START */
        if (!on_stack && c->rlen == c->rcap) {
            /* The protocol layer needs more bytes than it has room for: grow, up to the cap. */
            if (c->rcap >= c->opts.read_buffer) {
                end->why = "peer sent more than the protocol layer can buffer";
                return EMSGSIZE;
            }
            size_t cap = c->rcap * 4 < c->opts.read_buffer ? c->rcap * 4 : c->opts.read_buffer;
            char *p = realloc(c->rbuf, cap);
            if (p == NULL) {
                end->why = "out of memory";
                return ENOMEM;
            }
            c->rbuf = p;
            c->rcap = cap;
        }
        char *buf = on_stack ? stack_buf : c->rbuf;
        size_t cap = on_stack && c->rcap > sizeof(stack_buf) ? sizeof(stack_buf) : c->rcap;
        size_t room = cap - c->rlen;
        ssize_t n = c->tp.ops->read(&c->tp, buf + c->rlen, room, end);
        if (n < 0) {
            /* A read that wants write is retried on the next readable event. A transport
             * that stopped early (WebSocket: a run of frames without payload) may still hold
             * bytes no socket event will announce: come back for them. */
            if (n != NET_IO_END) {
                if (c->tp.ops->pending != NULL && c->tp.ops->pending(&c->tp) > 0)
                    net_timer_start(c->loop, &c->resume_timer, 0);
                return 0;
            }
            return end->err != 0 ? end->err : -1;
        }
        reads++;
        /* A short plain read emptied the socket: with level-triggered epoll the next bytes
         * wake us again, so asking once more would only cost a read that says EAGAIN. */
        bool drained = (c->tp.flags & NET_TRANSPORT_SHORT_READ_DRAINS) && (size_t)n < room;
        c->rlen += (size_t)n;
        c->bytes_in += (uint64_t)n;
        size_t used = c->h->on_data(c, buf, c->rlen);
        if (c->state == CONN_CLOSED)
            return 0;
        if (used > c->rlen)
            used = c->rlen;
        size_t left = c->rlen - used;
        if (on_stack && left > 0) {
            if ((c->rbuf = malloc(c->rcap)) == NULL) {
                end->why = "out of memory";
                return ENOMEM;
            }
            memcpy(c->rbuf, buf + used, left);
        } else if (!on_stack) {
            memmove(c->rbuf, c->rbuf + used, left);
        }
        c->rlen = left;
        /* Waiting for more input could wait forever: there is no room to read it into. */
        if (c->rlen == c->opts.read_buffer) {
            end->why = "peer sent more than the protocol layer can buffer";
            return EMSGSIZE;
        }
        if (drained) {
            /* A connection whose input comes seldom (the last time it emptied was 50 ms
             * ago or more) keeps no empty read buffer between reads, as it keeps no empty
             * write queue. A busy one keeps its buffer rather than allocate one again for
             * the next partial frame. */
            uint64_t now = net_now_ns();
            if (c->rbuf != NULL && c->rlen == 0 && c->rcap <= RBUF_START &&
                now - c->drained_ns >= 50000000ull) {
                free(c->rbuf);
                c->rbuf = NULL;
            }
            c->drained_ns = now;
            return 0;
        }
    }
}

/* ---- connection set-up -------------------------------------------------------------------- */

static void become_open(struct net_conn *c)
{
    c->state = CONN_OPEN;
    c->open_ns = net_now_ns();
    if (c->connected_ns == 0)
        c->connected_ns = c->open_ns;
    net_timer_stop(c->loop, &c->connect_timer);
    if (c->h->on_open != NULL)
        c->h->on_open(c);
    if (c->state != CONN_OPEN)
        return;
    /* Bytes the handshake read past its own end (a WebSocket frame right behind the 101)
     * wait in the transport, and no socket event will announce them. */
    if (c->reading && c->tp.ops->pending != NULL && c->tp.ops->pending(&c->tp) > 0)
        net_timer_start(c->loop, &c->resume_timer, 0);
    struct net_io_end end;
    int e = flush_queue(c, &end);
    if (e != 0) {
        finish(c, e, end.why);
        return;
    }
    after_output(c);
}

/* One step of the transport's handshake; the loop watches for exactly what it wants next. */
static void handshake_step(struct net_conn *c)
{
    struct net_io_end end;
    int r = c->tp.ops->handshake(&c->tp, &end);
    if (r == 0) {
        /* c->watched still says what the loop watches: update_interest() corrects it. */
        become_open(c);
        return;
    }
    if (r == NET_IO_WANT_READ || r == NET_IO_WANT_WRITE) {
        unsigned want = r == NET_IO_WANT_READ ? NET_READABLE : NET_WRITABLE;
        if (net_loop_watch(c->loop, c->tp.fd, want, io_ready, c) == 0)
            c->watched = want;
        return;
    }
    /* A handshake cut short is a failure, even when the peer's end was orderly. */
    finish(c, end.err != 0 ? end.err : EPROTO, end.why);
}

static void connected(struct net_conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->tp.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        finish(c, err, err == ECONNREFUSED ? "connection refused" : "connect failed");
        return;
    }
    c->connected_ns = net_now_ns();
    if (c->tp.ops->handshake != NULL) {
        c->state = CONN_HANDSHAKE;
        c->watched = 0;
        handshake_step(c);
    } else {
        become_open(c);
    }
}

static void connect_timeout(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct net_conn *c = t->arg;
    if (c->state != CONN_HANDSHAKE) {
        finish(c, ETIMEDOUT, "connect timed out");
        return;
    }
    char why[64];
    snprintf(why, sizeof(why), "%s handshake timed out", c->tp.ops->name);
    finish(c, ETIMEDOUT, why);
}

/* Bytes the transport took in before reading stopped (decrypted TLS): no socket event will
 * announce them. */
static void resume_reading(struct net_loop *loop, struct net_timer *t)
{
    struct net_conn *c = t->arg;
    io_ready(loop, c->tp.fd, NET_READABLE, c);
}

static void io_ready(struct net_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)fd;
    struct net_conn *c = arg;
    c->busy++;
    struct net_io_end end;
    end.why = NULL;
    int e = 0;
    switch (c->state) {
    case CONN_CONNECTING:
        connected(c);
        break;
    case CONN_HANDSHAKE:
        handshake_step(c);
        break;
    case CONN_OPEN:
    case CONN_CLOSING:
        if ((events & NET_WRITABLE) || (c->write_wants_read && (events & NET_READABLE))) {
            e = flush_queue(c, &end);
            if (e != 0) {
                /* A peer that answered and then reset the connection (a refusal sent from a
                 * request's head) left its answer in the socket: hand it up before finishing.
                 * Plain TCP only: after a failed TLS write the session allows no more reads. */
                struct net_io_end read_end;
                if ((c->tp.flags & NET_TRANSPORT_READ_AFTER_WRITE_FAIL) &&
                    (events & NET_READABLE))
                    (void)read_input(c, &read_end);
                break;
            }
        }
        if (events & NET_READABLE) {
            e = read_input(c, &end);
            if (e != 0)
                break;
        }
        /* Handlers may have queued responses: send them before sleeping again. */
        if (c->state != CONN_CLOSED && c->wlen > 0 && !c->write_wants_more)
            e = flush_queue(c, &end);
        break;
    case CONN_CLOSED:
        break;
    }
    if (e != 0)
        finish(c, e < 0 ? 0 : e, end.why);
    else if (c->state == CONN_OPEN || c->state == CONN_CLOSING)
        after_output(c);
    c->busy--;
    if (c->dead && c->busy == 0)
        conn_free(c);
}

/* A connection on fd with its transport attached, or NULL (out of memory). */
static struct net_conn *conn_new(struct net_loop *loop, int fd,
                                 const struct net_transport_setup *ts, const char *server_name,
                                 const struct net_conn_opts *opts)
{
    struct net_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    if (opts != NULL)
        c->opts = *opts;
    else
        net_conn_opts_default(&c->opts);
    /* Most connections never need the whole read buffer: start small, grow on demand. It
     * is made only when a read leaves a partial frame (read_input). */
    c->rcap = c->opts.read_buffer < RBUF_START ? c->opts.read_buffer : RBUF_START;
    if (ts->attach(&c->tp, ts, fd, server_name) != 0)
        goto err;
    c->loop = loop;
    c->reading = true;
    c->connect_timer.fn = connect_timeout;
    c->connect_timer.arg = c;
    c->resume_timer.fn = resume_reading;
    c->resume_timer.arg = c;
    c->flush_timer.fn = flush_at_pass_end;
    c->flush_timer.arg = c;
    return c;
err:
    free(c->rbuf);
    free(c);
    return NULL;
}

static void tune_socket(int fd)
{
    int one = 1;
    /* MSRP chunks are messages: send each at once rather than waiting for Nagle. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The transport set-up the older entry points' tls argument stands for. */
static struct net_transport_setup setup_for(struct net_tls *tls)
{
    return tls != NULL ? net_transport_tls(tls) : net_transport_tcp();
}

int net_conn_connect(struct net_loop *loop, const struct sockaddr *sa, socklen_t salen,
                     struct net_tls *tls, const char *sni, const struct net_conn_handlers *h,
                     void *user, const struct net_conn_opts *opts, struct net_conn **out)
{
    struct net_transport_setup ts = setup_for(tls);
    return net_conn_connect_via(loop, sa, salen, &ts, sni, h, user, opts, out);
}

int net_conn_connect_via(struct net_loop *loop, const struct sockaddr *sa, socklen_t salen,
                         const struct net_transport_setup *ts, const char *server_name,
                         const struct net_conn_handlers *h, void *user,
                         const struct net_conn_opts *opts, struct net_conn **out)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    tune_socket(fd);
    struct net_conn *c = conn_new(loop, fd, ts, server_name, opts);
    int e = 0;
    if (c == NULL) {
        e = ENOMEM;
        goto err;
    }
    c->h = h;
    c->user = user;
    format_peer(sa, c->peer, sizeof(c->peer));
    if (connect(fd, sa, salen) != 0 && errno != EINPROGRESS) {
        e = errno;
        goto err;
    }
    c->state = CONN_CONNECTING;
    c->watched = 0;
    if ((e = net_loop_watch(loop, fd, NET_WRITABLE, io_ready, c)) != 0)
        goto err;
    c->watched = NET_WRITABLE;
    if (c->opts.connect_timeout_ns > 0)
        net_timer_start(loop, &c->connect_timer, c->opts.connect_timeout_ns);
    *out = c;
    return 0;
err:
    if (c != NULL) {
        if (c->tp.ops->release != NULL)
            c->tp.ops->release(&c->tp);
        conn_free(c);
    }
    close(fd);
    return e;
}

void net_conn_close(struct net_conn *c, bool flush)
{
    /* A flushing close can be made immediate, never the other way round. */
    if (c->state == CONN_CLOSED || (c->state == CONN_CLOSING && flush))
        return;
    if (flush && c->state == CONN_OPEN && c->wlen > 0 && !c->write_wants_more) {
        c->state = CONN_CLOSING;
        c->reading = false;
        update_interest(c);
        return;
    }
    finish(c, 0, "closed");
}

/* SO_LINGER with a zero timeout makes close() drop what is unsent and send an RST (socket(7));
 * the TLS close_notify is skipped too: a reset says nothing more. */
void net_conn_reset(struct net_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    (void)setsockopt(c->tp.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    finish(c, ECONNABORTED, "reset by us");
}

/* An error end skips the transport's shutdown: no close_notify, no WebSocket close frame. */
void net_conn_drop(struct net_conn *c)
{
    finish(c, ECONNABORTED, "dropped by us");
}

void net_conn_hold(struct net_conn *c)
{
    c->busy++; /* as inside our own callbacks: net_conn_send() only queues */
}

void net_conn_release(struct net_conn *c)
{
    /* The outermost hold flushes, as io_ready does after its callbacks (a hold taken inside
     * one of them leaves the flush to io_ready). */
    if (c->busy == 1 && (c->state == CONN_OPEN || c->state == CONN_CLOSING)) {
        struct net_io_end end;
        end.why = NULL;
        int e = c->wlen > 0 && !c->write_wants_more ? flush_queue(c, &end) : 0;
        if (e != 0)
            finish(c, e < 0 ? 0 : e, end.why);
        else
            after_output(c);
    }
    c->busy--;
    if (c->dead && c->busy == 0)
        conn_free(c);
}

void net_conn_set_reading(struct net_conn *c, bool on)
{
    if (c->reading == on)
        return;
    c->reading = on;
    if (c->state != CONN_OPEN)
        return;
    update_interest(c);
    if (on && c->tp.ops->pending != NULL && c->tp.ops->pending(&c->tp) > 0)
        net_timer_start(c->loop, &c->resume_timer, 0);
}

bool net_conn_congested(const struct net_conn *c)
{
    return c->congested;
}

size_t net_conn_queued(const struct net_conn *c)
{
    return c->wlen;
}

bool net_conn_is_open(const struct net_conn *c)
{
    return c->state == CONN_OPEN;
}

bool net_conn_is_tls(const struct net_conn *c)
{
    return (c->tp.flags & NET_TRANSPORT_ENCRYPTED) != 0;
}

void *net_conn_user(const struct net_conn *c)
{
    return c->user;
}

void net_conn_set_user(struct net_conn *c, void *user)
{
    c->user = user;
}

void net_conn_set_handlers(struct net_conn *c, const struct net_conn_handlers *h)
{
    c->h = h;
}

struct net_loop *net_conn_loop(const struct net_conn *c)
{
    return c->loop;
}

const char *net_conn_peer(const struct net_conn *c)
{
    return c->peer;
}

uint64_t net_conn_bytes_in(const struct net_conn *c)
{
    return c->bytes_in;
}

uint64_t net_conn_bytes_out(const struct net_conn *c)
{
    return c->bytes_out;
}

uint64_t net_conn_connected_ns(const struct net_conn *c)
{
    return c->connected_ns;
}

uint64_t net_conn_open_ns(const struct net_conn *c)
{
    return c->open_ns;
}

uint64_t net_conn_secured_ns(const struct net_conn *c)
{
    if (c->tp.lower_ready_ns != 0 && c->open_ns != 0)
        return c->tp.lower_ready_ns;
    return c->open_ns;
}

unsigned net_conn_peer_close_code(const struct net_conn *c)
{
    return c->tp.peer_close_code;
}

/* ---- accepted connections (listener.c accepts) ------------------------------------------ */

static const struct net_conn_handlers no_handlers;

void net_conn_accepted(struct net_listener *l, struct net_loop *loop, int cfd,
                       const struct sockaddr *peer, const struct net_transport_setup *ts,
                       const struct net_conn_opts *opts, net_accept_fn on_accept)
{
    tune_socket(cfd);
    struct net_conn *c = conn_new(loop, cfd, ts, NULL, opts);
    if (c == NULL) {
        close(cfd);
        return;
    }
    format_peer(peer, c->peer, sizeof(c->peer));
    c->state = c->tp.ops->handshake != NULL ? CONN_HANDSHAKE : CONN_CONNECTING;
    c->connected_ns = net_now_ns();
    c->busy++; /* on_accept may close it: free only once we are done with it here */
    on_accept(l, c);
    if (c->state != CONN_CLOSED && c->h == NULL) {
        /* The owner did not take it: refuse politely. */
        c->h = &no_handlers;
        finish(c, 0, "not accepted");
    }
    if (c->state != CONN_CLOSED) {
        if (c->opts.connect_timeout_ns > 0)
            net_timer_start(loop, &c->connect_timer, c->opts.connect_timeout_ns);
        if (c->tp.ops->handshake != NULL)
            handshake_step(c);
        else
            become_open(c);
    }
    c->busy--;
    if (c->dead && c->busy == 0)
        conn_free(c);
}

void net_conn_format_peer(const struct sockaddr *sa, char *out, size_t len)
{
    format_peer(sa, out, len);
}
