/*
 * delivery.c - how the conformance executor writes what a case sends (conform --delivery):
 * each request whole, one byte per write, cut between CR and LF and inside end-lines, or
 * pipelined (held until the case next waits, then one write). cx_send and cx_send_text are
 * the executor's only way to the wire.
 *
 * Owns: the cutting into writes and the bytes held for a pipelined write. May not touch: what
 * is sent (the steps build it) or the reading side (endpoints.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conform/cx.h"

static const char *const delivery_names[] = {"whole", "bytes", "split", "pipelined", "all"};

const char *conform_delivery_name(enum conform_delivery d)
{
    return (unsigned)d <= CONFORM_DELIVER_ALL ? delivery_names[d] : "?";
}

int conform_delivery_parse(const char *name)
{
    for (int i = 0; i <= CONFORM_DELIVER_ALL; i++)
        if (strcmp(name, delivery_names[i]) == 0)
            return i;
    return -1;
}

static bool ep_drained(struct cx *x, void *arg)
{
    (void)x;
    struct ep *e = arg;
    return e->conn == NULL || e->closed || net_conn_queued(e->conn) == 0;
}

enum piece { PIECE_FAILED, PIECE_PEER_GONE, PIECE_SENT };

/* The peer closed while a request was still being written in pieces. A peer may answer a
 * request from its head and close (a 481 to a first request names no session: RFC 4975
 * section 5.4 says nothing against closing then), so this is no verdict: the rest is not
 * written and the step checks what the peer answered. */
static enum piece peer_gone(struct cx *x, struct ep *e)
{
    cx_wire_note(x, "endpoint %c: the peer closed the connection before the request was written "
                    "whole (%s); what it answered is checked",
                 'a' + (int)e->idx, e->close_why[0] != '\0' ? e->close_why : "closed");
    return PIECE_PEER_GONE;
}

/* One write; in the bytes and split patterns it must have left before the next one is made,
 * or the connection would merge them. */
static enum piece write_piece(struct cx *x, struct ep *e, const char *b, size_t n, bool alone)
{
    if (e->conn == NULL || e->closed)
        return peer_gone(x, e);
    struct iovec iov = {(void *)b, n};
    int rc = net_conn_send(e->conn, &iov, 1);
    if (rc == EPIPE)
        return peer_gone(x, e);
    if (rc != 0) {
        cx_fail(x, "endpoint %c: the bytes could not be sent: %s", 'a' + (int)e->idx, strerror(rc));
        return PIECE_FAILED;
    }
    if (alone && net_conn_queued(e->conn) > 0) {
        uint64_t deadline = net_now_ns() + cx_scaled(x, 10ull * 1000000000ull);
        for (;;) { /* cx_pump would flush held bytes: none are held in these patterns */
            if (e->conn == NULL || e->closed)
                return peer_gone(x, e);
            if (ep_drained(x, e))
                break;
            if (net_now_ns() >= deadline) {
                cx_fail(x, "endpoint %c: the peer stopped reading (%zu bytes not taken in 10 s)",
                        'a' + (int)e->idx, net_conn_queued(e->conn));
                return PIECE_FAILED;
            }
            net_loop_run_once(x->loop, 100);
        }
    }
    return PIECE_SENT;
}

/* Where the split pattern cuts: after every CR (so its LF comes in the next write) and after
 * the third hyphen of anything that starts like an end-line. */
static bool split_after(const char *b, size_t i)
{
    return b[i] == '\r' || (i >= 3 && b[i] == '-' && memcmp(b + i - 3, "\n---", 4) == 0);
}

static bool hold(struct ep *e, const char *b, size_t n)
{
    if (e->held_len + n > e->held_cap) {
        size_t cap = e->held_cap ? e->held_cap : 4096;
        while (cap < e->held_len + n)
            cap *= 2;
        char *nb = realloc(e->held, cap);
        if (nb == NULL)
            return false;
        e->held = nb;
        e->held_cap = cap;
    }
    memcpy(e->held + e->held_len, b, n);
    e->held_len += n;
    return true;
}

/* Pipelined: what each endpoint holds leaves in one write. */
void cx_flush_held(struct cx *x)
{
    for (unsigned i = 0; i < 2; i++) {
        struct ep *e = &x->ep[i];
        if (e->held_len == 0)
            continue;
        size_t n = e->held_len;
        e->held_len = 0;
        write_piece(x, e, e->held, n, false);
    }
}

bool cx_send(struct cx *x, struct ep *e, const struct iovec *iov, int n)
{
    for (int i = 0; i < n; i++)
        cx_wire_bytes(x, e->idx, true, iov[i].iov_base, iov[i].iov_len);
    if (e->conn == NULL || e->closed) {
        cx_fail(x, "endpoint %c: the connection is closed (%s); nothing could be sent",
                'a' + (int)e->idx, e->close_why);
        return false;
    }
    if (x->delivery == CONFORM_DELIVER_WHOLE) {
        int rc = net_conn_send(e->conn, iov, n);
        if (rc != 0) {
            cx_fail(x, "endpoint %c: the bytes could not be sent: %s", 'a' + (int)e->idx,
                    strerror(rc));
            return false;
        }
        return true;
    }
    for (int i = 0; i < n; i++) {
        const char *b = iov[i].iov_base;
        size_t len = iov[i].iov_len, from = 0;
        if (x->delivery == CONFORM_DELIVER_PIPELINED) {
            if (!hold(e, b, len)) {
                cx_fail(x, "out of memory");
                return false;
            }
            continue;
        }
        for (size_t j = 0; j < len; j++) {
            if (x->delivery == CONFORM_DELIVER_BYTES || split_after(b, j)) {
                enum piece r = write_piece(x, e, b + from, j + 1 - from, true);
                if (r != PIECE_SENT)
                    return r == PIECE_PEER_GONE;
                from = j + 1;
            }
        }
        if (from < len) {
            enum piece r = write_piece(x, e, b + from, len - from, true);
            if (r != PIECE_SENT)
                return r == PIECE_PEER_GONE;
        }
    }
    return true;
}

bool cx_send_text(struct cx *x, struct ep *e, const char *b, size_t n)
{
    struct iovec iov = {(void *)b, n};
    return cx_send(x, e, &iov, 1);
}
