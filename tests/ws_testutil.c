/*
 * ws_testutil.c - helpers of the WebSocket tests (check_ws.c): a growing byte buffer, a tap
 * transport that records what the transport above it writes, and a frame reader of the
 * tests' own, written from the frame layout alone so that it checks our frames from outside,
 * and the raw sockets that play the other side by hand.
 */
#include "ws_testutil.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- a growing byte buffer ---------------------------------------------------------------- */

void bytes_add(struct bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        ck_assert_ptr_nonnull(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void bytes_free(struct bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- a tap: records the bytes a transport above it writes --------------------------------- */

struct tap_impl {
    struct net_transport lower;
    struct tap_setup *ts;
};

static int tap_handshake(struct net_transport *t, struct net_io_end *end)
{
    struct tap_impl *x = t->impl;
    return x->lower.ops->handshake ? x->lower.ops->handshake(&x->lower, end) : 0;
}

static ssize_t tap_read(struct net_transport *t, char *buf, size_t len, struct net_io_end *end)
{
    struct tap_impl *x = t->impl;
    return x->lower.ops->read(&x->lower, buf, len, end);
}

static ssize_t tap_writev(struct net_transport *t, const struct iovec *iov, int iovcnt,
                          struct net_io_end *end)
{
    struct tap_impl *x = t->impl;
    /* The lower one may take only the first iovec (TLS): offer it one at a time. */
    ssize_t r = x->lower.ops->writev(&x->lower, iov, 1, end);
    (void)iovcnt;
    if (r > 0)
        bytes_add(&x->ts->out, iov[0].iov_base, (size_t)r);
    return r;
}

static size_t tap_pending(const struct net_transport *t)
{
    const struct tap_impl *x = t->impl;
    return x->lower.ops->pending ? x->lower.ops->pending(&x->lower) : 0;
}

static void tap_shutdown(struct net_transport *t)
{
    struct tap_impl *x = t->impl;
    if (x->lower.ops->shutdown)
        x->lower.ops->shutdown(&x->lower);
}

static void tap_release(struct net_transport *t)
{
    struct tap_impl *x = t->impl;
    if (x->lower.ops->release)
        x->lower.ops->release(&x->lower);
    free(x);
    t->impl = NULL;
}

static const struct net_transport_ops tap_ops = {
    .name = "tap",
    .handshake = tap_handshake,
    .read = tap_read,
    .writev = tap_writev,
    .pending = tap_pending,
    .shutdown = tap_shutdown,
    .release = tap_release,
};

static int tap_attach(struct net_transport *t, const struct net_transport_setup *s, int fd,
                      const char *server_name)
{
    struct tap_setup *ts = s->arg;
    struct tap_impl *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return ENOMEM;
    int rc = ts->lower.attach(&x->lower, &ts->lower, fd, server_name);
    if (rc != 0) {
        free(x);
        return rc;
    }
    x->ts = ts;
    t->ops = &tap_ops;
    t->fd = fd;
    t->flags = x->lower.flags & NET_TRANSPORT_ENCRYPTED;
    t->impl = x;
    return 0;
}

struct net_transport_setup tap_over(struct tap_setup *ts, struct net_transport_setup lower)
{
    ts->lower = lower;
    return (struct net_transport_setup){.attach = tap_attach, .arg = ts};
}

/* ---- the test's own frame reader ---------------------------------------------------------- */

/* Reads the frame at b[*off]; returns false when no whole frame is there. */
bool read_frame(const struct bytes *b, size_t *off, struct frame *f)
{
    size_t o = *off;
    if (b->len - o < 2)
        return false;
    const unsigned char *p = b->p + o;
    f->fin = p[0] & 0x80;
    f->opcode = p[0] & 0xf;
    f->masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
        len = (uint64_t)p[2] << 8 | p[3];
        h = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        h = 10;
    }
    if (f->masked) {
        memcpy(f->key, p + h, 4);
        h += 4;
    }
    if (b->len - o < h + len)
        return false;
    f->len = (size_t)len;
    f->payload = p + h;
    *off = o + h + (size_t)len;
    return true;
}

/* Past the HTTP handshake's blank line. */
size_t after_handshake(const struct bytes *b)
{
    unsigned char *blank = memmem(b->p, b->len, "\r\n\r\n", 4);
    ck_assert_ptr_nonnull(blank);
    return (size_t)(blank - b->p) + 4;
}

/* ---- a raw socket playing the other side -------------------------------------------------- */

int raw_listen(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    socklen_t l = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &l), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

void raw_send(int fd, const void *p, size_t n)
{
    ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* A frame as a peer writes it: masked (a client) with a fixed key, or not. */
void raw_frame(int fd, unsigned first, const void *payload, size_t n, bool mask)
{
    unsigned char f[256];
    ck_assert_uint_lt(n, 126);
    size_t h = 0;
    f[h++] = (unsigned char)first;
    f[h++] = (unsigned char)((mask ? 0x80 : 0) | n);
    static const unsigned char key[4] = {0x11, 0x22, 0x33, 0x44};
    if (mask) {
        memcpy(f + h, key, 4);
        h += 4;
    }
    for (size_t i = 0; i < n; i++)
        f[h + i] = ((const unsigned char *)payload)[i] ^ (mask ? key[i % 4] : 0);
    raw_send(fd, f, h + n);
}

/* The value of header name in the handshake text b (NUL-terminated copy in out). */
void header_value(const struct bytes *b, const char *name, char *out, size_t outlen)
{
    char *p = memmem(b->p, b->len, name, strlen(name));
    ck_assert_msg(p != NULL, "no %s", name);
    p += strlen(name);
    char *eol = memmem(p, b->len - (size_t)(p - (char *)b->p), "\r\n", 2);
    ck_assert_ptr_nonnull(eol);
    snprintf(out, outlen, "%.*s", (int)(eol - p), p);
}
