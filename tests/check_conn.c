/*
 * check_conn.c - the connection layer (src/net/conn.c) on real loopback sockets: connect and
 * accept, echo, write-through, backpressure (congestion, ENOBUFS at the cap, one on_drain),
 * bounded reads per wake-up, a handler that cannot make progress, flushing close, on_close
 * exactly once from every kind of place, connect failures and timeouts, TLS, IPv6 and address
 * resolution, and a third transport stacked on TCP or TLS through transport.h alone.
 *
 * Every test drives one net_loop from this thread. Every wait is a loop around
 * net_loop_run_once() with a deadline, so a stuck connection fails its test instead of hanging
 * the run. Payloads are a counter pattern (the little-endian 32-bit index of each 4-byte word),
 * so a byte lost, duplicated or reordered anywhere in a transfer shows at its offset.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/conn.h"
#include "net/loop.h"
#include "net/tls.h"
#include "net/transport.h"
#include "suites.h"
#include "testutil.h"

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MS (1000ull * 1000ull)
#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)

/* How long any single wait may take before the test fails. */
#define WAIT_NS (10000 * MS)

/* ---- the counter pattern ------------------------------------------------------------------ */

static unsigned char pattern_byte(uint64_t off)
{
    uint32_t word = (uint32_t)(off >> 2);
    return (unsigned char)(word >> (8 * (off & 3)));
}

static void pattern_fill(char *buf, uint64_t off, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)pattern_byte(off + i);
}

/* ---- one end of a connection and its handlers --------------------------------------------- */

enum rx_mode {
    RX_VERIFY, /* check the pattern, consume everything */
    RX_WORDS,  /* check the pattern, consume whole 4-byte words only */
    RX_ECHO,   /* send everything back, consume everything */
    RX_NONE,   /* consume nothing */
};

enum close_action { ACT_NONE, ACT_CLOSE, ACT_FLUSH_CLOSE };

struct end {
    struct net_conn *c; /* NULL once on_close ran */
    enum rx_mode mode;
    /* what happened */
    int opened, closed, drained, data_calls;
    int late; /* callbacks after on_close */
    int close_err;
    char why[256];
    bool open_in_close; /* net_conn_is_open() inside on_close */
    int send_in_close;  /* net_conn_send() inside on_close */
    int send_after_flush_close;
    int echo_err;
    size_t queued_at_drain;
    bool congested_at_drain;
    uint64_t rx;    /* pattern bytes received */
    int64_t bad_at; /* first offset that broke the pattern, -1: none */
    uint64_t tx;    /* pattern bytes queued */
    uint64_t in_at_close, out_at_close;
    /* what to do */
    bool stop_reading_on_open;
    bool pause_on_data;            /* stop reading after each on_data */
    const char *greeting;          /* sent in on_open */
    size_t send_on_open;           /* pattern bytes queued in on_open */
    enum close_action on_open_act; /* after the above */
    enum close_action on_data_act;
};

static struct {
    struct net_loop *loop;
    struct net_listener *lst;
    uint16_t port;
    struct net_tls *stls, *ctls;
    char dir[64];
    struct net_conn_opts sopts, copts;
    struct end srv, cli;
    int accepts;
    bool refuse;          /* on_accept leaves the handlers unset */
    bool close_in_accept; /* on_accept sets the handlers, then closes */
} W;

static struct end *end_of(struct net_conn *c)
{
    return net_conn_user(c);
}

static void note_late(struct end *e)
{
    if (e->closed > 0)
        e->late++;
}

static int send_bytes(struct net_conn *c, const void *buf, size_t len)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    return net_conn_send(c, &iov, 1);
}

/*
 * Queues len pattern bytes from e->tx on, split over three iovecs of uneven sizes so that a
 * partial write-through ending inside any of them is exercised. Advances e->tx on success.
 */
static int send_pattern(struct end *e, size_t len)
{
    char *buf = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(buf);
    pattern_fill(buf, e->tx, len);
    size_t a = len / 3, b = len / 2;
    struct iovec iov[3] = {
        {.iov_base = buf, .iov_len = a},
        {.iov_base = buf + a, .iov_len = b - a},
        {.iov_base = buf + b, .iov_len = len - b},
    };
    int rc = net_conn_send(e->c, iov, 3);
    free(buf);
    if (rc == 0)
        e->tx += len;
    return rc;
}

static void check_pattern(struct end *e, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)buf[i] != pattern_byte(e->rx + i) && e->bad_at < 0)
            e->bad_at = (int64_t)(e->rx + i);
    }
    e->rx += len;
}

static void act(struct end *e, struct net_conn *c, enum close_action a)
{
    if (a == ACT_CLOSE) {
        net_conn_close(c, false);
    } else if (a == ACT_FLUSH_CLOSE) {
        net_conn_close(c, true);
        e->send_after_flush_close = send_bytes(c, "x", 1);
    }
}

static void h_open(struct net_conn *c)
{
    struct end *e = end_of(c);
    ck_assert_ptr_eq(c, e->c);
    note_late(e);
    e->opened++;
    if (e->stop_reading_on_open)
        net_conn_set_reading(c, false);
    if (e->greeting != NULL)
        ck_assert_int_eq(send_bytes(c, e->greeting, strlen(e->greeting)), 0);
    if (e->send_on_open > 0)
        ck_assert_int_eq(send_pattern(e, e->send_on_open), 0);
    act(e, c, e->on_open_act);
}

static size_t h_data(struct net_conn *c, const char *buf, size_t len)
{
    struct end *e = end_of(c);
    ck_assert_ptr_eq(c, e->c);
    note_late(e);
    e->data_calls++;
    size_t used = 0;
    switch (e->mode) {
    case RX_VERIFY:
        check_pattern(e, buf, len);
        used = len;
        break;
    case RX_WORDS:
        used = len & ~(size_t)3;
        check_pattern(e, buf, used);
        break;
    case RX_ECHO: {
        int rc = send_bytes(c, buf, len);
        if (rc != 0 && e->echo_err == 0)
            e->echo_err = rc;
        e->rx += len;
        used = len;
        break;
    }
    case RX_NONE:
        break;
    }
    if (e->pause_on_data)
        net_conn_set_reading(c, false);
    act(e, c, e->on_data_act);
    return used;
}

static void h_drain(struct net_conn *c)
{
    struct end *e = end_of(c);
    note_late(e);
    e->drained++;
    e->queued_at_drain = net_conn_queued(c);
    e->congested_at_drain = net_conn_congested(c);
}

static void h_close(struct net_conn *c, int err, const char *why)
{
    struct end *e = end_of(c);
    ck_assert_ptr_eq(c, e->c);
    note_late(e);
    e->closed++;
    e->close_err = err;
    snprintf(e->why, sizeof(e->why), "%s", why ? why : "(null)");
    e->open_in_close = net_conn_is_open(c);
    e->send_in_close = send_bytes(c, "x", 1);
    e->in_at_close = net_conn_bytes_in(c);
    e->out_at_close = net_conn_bytes_out(c);
    net_conn_close(c, false); /* closing again from on_close must be harmless */
    e->c = NULL;
}

static const struct net_conn_handlers handlers = {
    .on_open = h_open, .on_data = h_data, .on_drain = h_drain, .on_close = h_close};

static void on_accept(struct net_listener *l, struct net_conn *c)
{
    ck_assert_ptr_eq(net_listener_user(l), &W);
    W.accepts++;
    if (W.refuse)
        return;
    ck_assert_ptr_null(W.srv.c);
    W.srv.c = c;
    net_conn_set_user(c, &W.srv);
    net_conn_set_handlers(c, &handlers);
    if (W.close_in_accept)
        net_conn_close(c, false);
}

/* ---- the world: a loop, a listener, one client ------------------------------------------- */

static void end_init(struct end *e)
{
    memset(e, 0, sizeof(*e));
    e->bad_at = -1;
}

/*
 * Every test gets a loop and both TLS contexts: a fresh self-signed certificate for
 * "localhost" (made in a mkdtemp folder, removed at once), and a client that verifies the
 * server against it.
 */
static void world_setup(void)
{
    memset(&W, 0, sizeof(W));
    end_init(&W.srv);
    end_init(&W.cli);
    net_conn_opts_default(&W.sopts);
    net_conn_opts_default(&W.copts);
    ck_assert_int_eq(net_loop_create(&W.loop, 65536), 0);

    char err[256] = "";
    snprintf(W.dir, sizeof(W.dir), "/tmp/msrpload-conn-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(W.dir));
    char cert[128], key[128];
    snprintf(cert, sizeof(cert), "%s/cert.pem", W.dir);
    snprintf(key, sizeof(key), "%s/key.pem", W.dir);
    int rc = net_tls_make_self_signed(cert, key, "localhost", err, sizeof(err));
    if (rc == 0)
        rc = net_tls_server_create(&W.stls, cert, key, NULL, err, sizeof(err));
    if (rc == 0)
        rc = net_tls_client_create(&W.ctls, cert, NULL, NULL, err, sizeof(err));
    unlink(cert);
    unlink(key);
    rmdir(W.dir);
    ck_assert_msg(rc == 0, "TLS set-up: %s", err);
}

static void world_teardown(void)
{
    if (W.cli.c != NULL)
        net_conn_close(W.cli.c, false);
    if (W.srv.c != NULL)
        net_conn_close(W.srv.c, false);
    net_listener_close(W.lst);
    W.lst = NULL;
    net_loop_destroy(W.loop);
    W.loop = NULL;
    net_tls_destroy(W.stls);
    net_tls_destroy(W.ctls);
    W.stls = W.ctls = NULL;
}

/* Runs the loop until cond holds; fails the test after WAIT_NS. */
#define RUN_UNTIL(cond)                                                                            \
    do {                                                                                           \
        uint64_t dl_ = net_now_ns() + WAIT_NS;                                                     \
        while (!(cond)) {                                                                          \
            ck_assert_msg(net_now_ns() < dl_, "timed out waiting for: %s", #cond);                 \
            ck_assert_int_ge(net_loop_run_once(W.loop, 20), 0);                                    \
        }                                                                                          \
    } while (0)

/* Runs the loop for about ms milliseconds; returns how many callbacks ran. */
static int run_for(int ms)
{
    int ran = 0;
    uint64_t end = net_now_ns() + (uint64_t)ms * MS;
    while (net_now_ns() < end) {
        int n = net_loop_run_once(W.loop, 5);
        ck_assert_int_ge(n, 0);
        ran += n;
    }
    return ran;
}

static void listen_at(const char *host, struct net_tls *tls)
{
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve(host, 0, &ss, &len), 0);
    char err[256] = "";
    int rc = net_listener_open(W.loop, (struct sockaddr *)&ss, len, tls, on_accept, &W, &W.sopts,
                               &W.lst, err, sizeof(err));
    ck_assert_msg(rc == 0, "listen: %s", err);
    W.port = net_listener_port(W.lst);
    ck_assert_uint_ne(W.port, 0);
}

static int connect_to(const char *host, uint16_t port, struct net_tls *tls)
{
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve(host, port, &ss, &len), 0);
    return net_conn_connect(W.loop, (struct sockaddr *)&ss, len, tls, "localhost", &handlers,
                            &W.cli, &W.copts, &W.cli.c);
}

/* Listens on 127.0.0.1, connects a client, and waits until both ends are open. */
static void pair_up(bool tls)
{
    listen_at("127.0.0.1", tls ? W.stls : NULL);
    ck_assert_int_eq(connect_to("127.0.0.1", W.port, tls ? W.ctls : NULL), 0);
    RUN_UNTIL(W.cli.opened == 1 && W.srv.opened == 1);
    ck_assert_int_eq(W.accepts, 1);
    ck_assert_int_eq(net_conn_is_tls(W.cli.c), tls);
    ck_assert_int_eq(net_conn_is_tls(W.srv.c), tls);
    ck_assert(net_conn_is_open(W.cli.c));
    ck_assert(net_conn_is_open(W.srv.c));
}

/* A port on 127.0.0.1 that nothing listens on (bound once, then released). */
static uint16_t unused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

/* A plain listening socket outside the loop: it never accepts, never answers. */
static int raw_listener(int backlog, uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Loop tests over transports pass _i: 0 plain TCP, 1 TLS. */
static struct net_tls *server_tls(bool tls)
{
    return tls ? W.stls : NULL;
}

/* ---- Core --------------------------------------------------------------------------------- */

/* How the peer sees each way of closing (the churn endings): _i / 2 picks close without flush,
 * drop or reset; _i % 2 TLS. */
START_TEST(peer_sees_close_drop_reset)
{
    int how = _i / 2;
    bool tls = _i % 2;
    pair_up(tls);
    struct net_conn *c = W.cli.c;
    if (how == 0)
        net_conn_close(c, false);
    else if (how == 1)
        net_conn_drop(c);
    else
        net_conn_reset(c);
    ck_assert_int_eq(W.cli.closed, 1);
    ck_assert_int_eq(W.cli.close_err, how == 0 ? 0 : ECONNABORTED);
    RUN_UNTIL(W.srv.closed == 1);
    if (how == 2 && !tls)
        ck_assert_int_eq(W.srv.close_err, ECONNRESET); /* the RST */
    else if (how == 2) /* TLS reads a reset as a bare end (transport_tls.c) */
        ck_assert_str_eq(W.srv.why, "peer closed without TLS close_notify");
    else if (tls && how == 1)
        /* no close_notify: OpenSSL 3 reads the bare EOF as an error (EPROTO), older ones as
         * SSL_ERROR_SYSCALL (transport_tls.c) */
        ck_assert_msg(W.srv.close_err == EPROTO ||
                          strcmp(W.srv.why, "peer closed without TLS close_notify") == 0,
                      "%d %s", W.srv.close_err, W.srv.why);
    else
        ck_assert_int_eq(W.srv.close_err, 0);
    if (tls && how == 0)
        ck_assert_str_eq(W.srv.why, "peer closed the TLS session"); /* close_notify came */
    else if (tls)
        ck_assert_str_ne(W.srv.why, "peer closed the TLS session");
}
END_TEST

START_TEST(open_and_echo)
{
    bool tls = _i;
    W.srv.mode = RX_ECHO;
    pair_up(tls);

    char want[32];
    snprintf(want, sizeof(want), "127.0.0.1:%u", W.port);
    ck_assert_str_eq(net_conn_peer(W.cli.c), want);
    const char *sp = net_conn_peer(W.srv.c);
    ck_assert_msg(strncmp(sp, "127.0.0.1:", 10) == 0 && atoi(sp + 10) > 0, "server peer %s", sp);
    ck_assert_ptr_eq(net_conn_loop(W.cli.c), W.loop);
    ck_assert_ptr_eq(net_conn_user(W.srv.c), &W.srv);

    /* Pieces of awkward sizes, 200 KiB in all, echoed back and checked byte by byte. */
    static const size_t pieces[] = {1, 3, 7, 4096, 65536, 100, 65535, 1, 70000};
    uint64_t total = 0;
    for (int i = 0; i < N_ELEMS(pieces); i++) {
        ck_assert_int_eq(send_pattern(&W.cli, pieces[i]), 0);
        total += pieces[i];
    }
    RUN_UNTIL(W.cli.rx == total);
    run_for(20);
    ck_assert_int_eq(W.cli.bad_at, -1);
    ck_assert_uint_eq(W.cli.rx, total);
    ck_assert_uint_eq(W.srv.rx, total);
    ck_assert_int_eq(W.srv.echo_err, 0);
    /* The counters add up on both ends (plaintext bytes under TLS). */
    ck_assert_uint_eq(net_conn_bytes_out(W.cli.c), total);
    ck_assert_uint_eq(net_conn_bytes_in(W.srv.c), total);
    ck_assert_uint_eq(net_conn_bytes_out(W.srv.c), total);
    ck_assert_uint_eq(net_conn_bytes_in(W.cli.c), total);
    ck_assert_int_eq(W.cli.closed + W.srv.closed, 0);
    ck_assert_int_eq(W.cli.drained + W.srv.drained, 0);
}
END_TEST

START_TEST(small_send_writes_through)
{
    bool tls = _i;
    pair_up(tls);
    /* Nothing queued and room in the socket: the bytes leave inside the call. */
    ck_assert_int_eq(send_pattern(&W.cli, 100), 0);
    ck_assert_uint_eq(net_conn_queued(W.cli.c), 0);
    ck_assert_uint_eq(net_conn_bytes_out(W.cli.c), 100);
    ck_assert(!net_conn_congested(W.cli.c));
    ck_assert_int_eq(send_pattern(&W.srv, 100), 0);
    ck_assert_uint_eq(net_conn_queued(W.srv.c), 0);
    RUN_UNTIL(W.srv.rx == 100 && W.cli.rx == 100);
    ck_assert_int_eq(W.srv.bad_at, -1);
    ck_assert_int_eq(W.cli.bad_at, -1);
}
END_TEST

/*
 * Sends made from another fd's callback (here a pipe's) are queued, not written: they leave
 * together once the pass's callbacks are done, before the loop waits again.
 */
static struct {
    size_t queued_inside;
    uint64_t out_inside;
    int calls;
} Foreign;

static void foreign_ready(struct net_loop *loop, int fd, unsigned events, void *arg)
{
    (void)loop;
    (void)events;
    (void)arg;
    char c;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    ck_assert_int_eq(send_pattern(&W.cli, 100), 0);
    ck_assert_int_eq(send_pattern(&W.cli, 100), 0);
    Foreign.queued_inside = net_conn_queued(W.cli.c);
    Foreign.out_inside = net_conn_bytes_out(W.cli.c);
    Foreign.calls++;
}

START_TEST(sends_from_other_callbacks_leave_at_pass_end)
{
    bool tls = _i;
    pair_up(tls);
    memset(&Foreign, 0, sizeof(Foreign));
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(net_loop_watch(W.loop, p[0], NET_READABLE, foreign_ready, NULL), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    while (Foreign.calls == 0)
        ck_assert_int_ge(net_loop_run_once(W.loop, 1000), 0);
    ck_assert_uint_eq(Foreign.queued_inside, 200);
    ck_assert_uint_eq(Foreign.out_inside, 0);
    /* the same pass flushed both */
    ck_assert_uint_eq(net_conn_queued(W.cli.c), 0);
    ck_assert_uint_eq(net_conn_bytes_out(W.cli.c), 200);
    RUN_UNTIL(W.srv.rx == 200);
    ck_assert_int_eq(W.srv.bad_at, -1);
    net_loop_forget(W.loop, p[0]);
    close(p[0]);
    close(p[1]);
}
END_TEST

/*
 * While held, sends from outside the connection's callbacks are only queued; the release
 * writes them all at once, and holds nest (only the outermost release writes).
 */
START_TEST(held_sends_leave_at_release)
{
    bool tls = _i;
    pair_up(tls);
    net_conn_hold(W.cli.c);
    net_conn_hold(W.cli.c);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(send_pattern(&W.cli, 100), 0);
    ck_assert_uint_eq(net_conn_queued(W.cli.c), 300);
    ck_assert_uint_eq(net_conn_bytes_out(W.cli.c), 0);
    net_conn_release(W.cli.c); /* the inner one: still held */
    ck_assert_uint_eq(net_conn_queued(W.cli.c), 300);
    ck_assert_uint_eq(net_conn_bytes_out(W.cli.c), 0);
    net_conn_release(W.cli.c);
    ck_assert_uint_eq(net_conn_queued(W.cli.c), 0);
    ck_assert_uint_eq(net_conn_bytes_out(W.cli.c), 300);
    RUN_UNTIL(W.srv.rx == 300);
    ck_assert_int_eq(W.srv.bad_at, -1);
    /* Unheld again: a send writes through at once. */
    ck_assert_int_eq(send_pattern(&W.cli, 100), 0);
    ck_assert_uint_eq(net_conn_queued(W.cli.c), 0);
    RUN_UNTIL(W.srv.rx == 400);
    ck_assert_int_eq(W.srv.bad_at, -1);
}
END_TEST

/*
 * A held connection that closes tells its owner at once (on_close, exactly once) and stays
 * allocated until the release, which frees it (ASan and valgrind see a use after free or a
 * leak otherwise). With a flushing close what was queued under the hold still arrives.
 */
START_TEST(close_while_held)
{
    bool flush = _i;
    W.srv.mode = RX_VERIFY;
    pair_up(false);
    struct net_conn *c = W.cli.c;
    net_conn_hold(c);
    ck_assert_int_eq(send_pattern(&W.cli, 1000), 0);
    net_conn_close(c, flush);
    if (!flush)
        ck_assert_int_eq(W.cli.closed, 1); /* told at once, though held */
    ck_assert_int_eq(send_bytes(c, "x", 1), EPIPE);
    net_conn_release(c);
    if (flush) {
        RUN_UNTIL(W.cli.closed == 1 && W.srv.rx == 1000);
        ck_assert_int_eq(W.srv.bad_at, -1);
    }
    RUN_UNTIL(W.srv.closed == 1);
    run_for(20);
    ck_assert_int_eq(W.cli.closed, 1);
    ck_assert_int_eq(W.cli.late, 0);
}
END_TEST

/*
 * Sends made while the connection is still being set up are queued, go out once it is open, and
 * a queue that was congested then drains with one on_drain.
 */
START_TEST(sends_before_open_are_delivered)
{
    bool tls = _i;
    W.copts.write_high = 1024;
    W.copts.write_low = 512;
    listen_at("127.0.0.1", server_tls(tls));
    ck_assert_int_eq(connect_to("127.0.0.1", W.port, tls ? W.ctls : NULL), 0);
    ck_assert(!net_conn_is_open(W.cli.c));
    ck_assert_int_eq(send_pattern(&W.cli, 4096), 0);
    ck_assert_uint_eq(net_conn_queued(W.cli.c), 4096);
    ck_assert(net_conn_congested(W.cli.c));
    RUN_UNTIL(W.srv.rx == 4096 && W.cli.drained == 1);
    ck_assert_int_eq(W.srv.bad_at, -1);
    ck_assert(!net_conn_congested(W.cli.c));
    ck_assert_uint_le(W.cli.queued_at_drain, 512);
    run_for(20);
    ck_assert_int_eq(W.cli.drained, 1);
}
END_TEST

/* ---- Backpressure ------------------------------------------------------------------------- */

START_TEST(backpressure_cap_and_drain)
{
    bool tls = _i;
    const size_t high = 256 * KIB, low = 64 * KIB, cap = MIB;
    W.copts.write_high = high;
    W.copts.write_low = low;
    W.copts.write_cap = cap;
    W.srv.stop_reading_on_open = true;
    pair_up(tls);
    struct net_conn *c = W.cli.c;

    /* The receiver does not read: socket buffers fill, then our queue grows past write_high. */
    while (!net_conn_congested(c)) {
        ck_assert_msg(W.cli.tx < 512 * MIB, "never congested after %llu bytes",
                      (unsigned long long)W.cli.tx);
        ck_assert_int_eq(send_pattern(&W.cli, 64 * KIB), 0);
        ck_assert_int_ge(net_loop_run_once(W.loop, 0), 0);
    }
    /* Congested means the queue went past write_high and has not drained to write_low since:
     * the loop pass after the send may have handed some of it to a socket that grew. */
    size_t q = net_conn_queued(c);
    ck_assert_uint_gt(q, low);
    ck_assert_uint_le(q, cap);
    ck_assert_int_eq(W.srv.data_calls, 0);
    ck_assert_int_eq(W.cli.drained, 0);

    /* One byte beyond the cap is refused, and nothing of it is queued. */
    uint64_t tx = W.cli.tx;
    ck_assert_int_eq(send_pattern(&W.cli, cap - q + 1), ENOBUFS);
    ck_assert_uint_eq(net_conn_queued(c), q);
    ck_assert_uint_eq(W.cli.tx, tx);
    /* Up to the cap exactly is accepted; then even one more byte is refused. */
    ck_assert_int_eq(send_pattern(&W.cli, cap - q), 0);
    q = net_conn_queued(c);
    ck_assert_uint_le(q, cap);
    ck_assert_int_eq(send_pattern(&W.cli, cap - q + 1), ENOBUFS);
    ck_assert_uint_eq(net_conn_queued(c), q);
    ck_assert(net_conn_congested(c));

    /* The receiver resumes: everything arrives in order, and on_drain comes once. */
    net_conn_set_reading(W.srv.c, true);
    RUN_UNTIL(W.srv.rx == W.cli.tx && net_conn_queued(c) == 0);
    run_for(30);
    ck_assert_int_eq(W.srv.bad_at, -1);
    ck_assert_uint_eq(W.srv.rx, W.cli.tx);
    ck_assert_int_eq(W.cli.drained, 1);
    ck_assert_uint_le(W.cli.queued_at_drain, low);
    ck_assert(!W.cli.congested_at_drain);
    ck_assert(!net_conn_congested(c));
    ck_assert_uint_eq(net_conn_bytes_out(c), W.cli.tx);
    ck_assert_uint_eq(net_conn_bytes_in(W.srv.c), W.cli.tx);
    ck_assert_int_eq(W.cli.closed + W.srv.closed, 0);
}
END_TEST

/*
 * A send bigger than write_high that the socket nevertheless takes at once must not leave the
 * connection congested with nothing queued (no on_drain would ever come to clear it).
 */
START_TEST(congestion_clears_after_immediate_flush)
{
    bool tls = _i;
    W.copts.write_high = 1024;
    W.copts.write_low = 512;
    pair_up(tls);
    ck_assert_int_eq(send_pattern(&W.cli, 4096), 0);
    RUN_UNTIL(W.srv.rx == 4096 && net_conn_queued(W.cli.c) == 0);
    run_for(30);
    ck_assert_int_eq(W.srv.bad_at, -1);
    ck_assert_msg(!net_conn_congested(W.cli.c), "congested with an empty queue (%d drains)",
                  W.cli.drained);
    ck_assert_int_le(W.cli.drained, 1);
}
END_TEST

/* ---- Reads -------------------------------------------------------------------------------- */

struct reads_case {
    unsigned per_wakeup;
    bool tls;
};

static const struct reads_case reads_cases[] = {{1, false}, {4, false}, {1, true}, {4, true}};

START_TEST(reads_per_wakeup_bounded)
{
    const struct reads_case *rc = &reads_cases[_i];
    const size_t total = 10 * KIB;
    W.sopts.reads_per_wakeup = rc->per_wakeup;
    W.sopts.read_buffer = 16;
    pair_up(rc->tls);
    ck_assert_int_eq(send_pattern(&W.cli, total), 0);

    int most = 0;
    uint64_t dl = net_now_ns() + WAIT_NS;
    while (W.srv.rx < total) {
        ck_assert_msg(net_now_ns() < dl, "only %llu of %zu bytes", (unsigned long long)W.srv.rx,
                      total);
        int before = W.srv.data_calls;
        ck_assert_int_ge(net_loop_run_once(W.loop, 20), 0);
        int calls = W.srv.data_calls - before;
        if (calls > most)
            most = calls;
    }
    ck_assert_int_eq(W.srv.bad_at, -1);
    ck_assert_uint_eq(W.srv.rx, total);
    ck_assert_int_ge(W.srv.data_calls, (int)(total / 16));
    /*
     * Plain TCP: at most reads_per_wakeup reads (each one on_data) per wake-up, and the bound
     * is reached. TLS drains what OpenSSL already decrypted, so one record may take more.
     */
    if (!rc->tls) {
        ck_assert_int_le(most, (int)rc->per_wakeup);
        ck_assert_int_eq(most, (int)rc->per_wakeup);
    }
}
END_TEST

/* A handler that takes whole words only is offered the rest again, with more. */
START_TEST(partial_consumption_reoffered)
{
    bool tls = _i;
    W.sopts.read_buffer = 10;
    W.srv.mode = RX_WORDS;
    pair_up(tls);
    static const size_t pieces[] = {1, 2, 3, 5, 4093, 6000, 11, 1};
    uint64_t total = 0;
    for (int i = 0; i < N_ELEMS(pieces); i++) {
        ck_assert_int_eq(send_pattern(&W.cli, pieces[i]), 0);
        total += pieces[i];
        ck_assert_int_ge(net_loop_run_once(W.loop, 0), 0);
    }
    ck_assert_uint_eq(total % 4, 0);
    RUN_UNTIL(W.srv.rx == total);
    ck_assert_int_eq(W.srv.bad_at, -1);
    ck_assert_int_eq(W.srv.closed, 0);
}
END_TEST

struct stuck_case {
    size_t len;
    unsigned per_wakeup;
    bool tls;
};

/* A handler that consumes nothing of a full read buffer (16 bytes) gets EMSGSIZE. */
static const struct stuck_case stuck_cases[] = {
    {100, 16, false}, {16, 16, false}, {100, 1, false},
    {16, 1, false},   {100, 16, true}, {16, 16, true},
};

START_TEST(stuck_handler_gets_emsgsize)
{
    const struct stuck_case *sc = &stuck_cases[_i];
    W.sopts.read_buffer = 16;
    W.sopts.reads_per_wakeup = sc->per_wakeup;
    W.srv.mode = RX_NONE;
    pair_up(sc->tls);
    /* Exactly a buffer's worth must close too: no more bytes may ever come to prompt it. */
    ck_assert_int_eq(send_pattern(&W.cli, sc->len), 0);
    RUN_UNTIL(W.srv.closed == 1);
    ck_assert_int_eq(W.srv.close_err, EMSGSIZE);
    ck_assert_int_eq(W.srv.data_calls, 1);
    RUN_UNTIL(W.cli.closed == 1);
    run_for(20);
    ck_assert_int_eq(W.srv.closed, 1);
    ck_assert_int_eq(W.srv.late + W.cli.late, 0);
}
END_TEST

/*
 * A receiver that stops reading from on_data and resumes later gets the rest, even when it is
 * already out of the socket (decrypted and waiting in OpenSSL) so no readiness event will come.
 */
START_TEST(pause_and_resume_each_read)
{
    bool tls = _i;
    const size_t total = 1000;
    W.sopts.read_buffer = 16;
    W.sopts.reads_per_wakeup = 1;
    W.srv.pause_on_data = true;
    pair_up(tls);
    ck_assert_int_eq(send_pattern(&W.cli, total), 0);
    uint64_t dl = net_now_ns() + WAIT_NS;
    while (W.srv.rx < total) {
        ck_assert_msg(net_now_ns() < dl, "stalled at %llu of %zu bytes",
                      (unsigned long long)W.srv.rx, total);
        net_conn_set_reading(W.srv.c, true);
        ck_assert_int_ge(net_loop_run_once(W.loop, 20), 0);
    }
    ck_assert_int_eq(W.srv.bad_at, -1);
}
END_TEST

/* A connection that does not read must not keep waking the loop while input waits. */
START_TEST(not_reading_does_not_spin)
{
    bool tls = _i;
    W.srv.stop_reading_on_open = true;
    pair_up(tls);
    ck_assert_int_eq(send_pattern(&W.cli, 100), 0);
    run_for(50);
    int ran = run_for(100);
    ck_assert_msg(ran <= 2, "%d callbacks in 100 ms with nothing to do", ran);
    ck_assert_int_eq(W.srv.data_calls, 0);
    net_conn_set_reading(W.srv.c, true);
    RUN_UNTIL(W.srv.rx == 100);
    ck_assert_int_eq(W.srv.bad_at, -1);
}
END_TEST

/* ---- Close -------------------------------------------------------------------------------- */

struct flush_case {
    bool tls;
    bool client_closes;
};

static const struct flush_case flush_cases[] = {
    {false, true}, {false, false}, {true, false}, {true, true}};

/*
 * The closer queues 1 MiB in on_open and closes with flush while the receiver does not read
 * yet: the close completes once the bytes are with the kernel; the receiver, resuming only
 * after that, still gets every byte and then an orderly end.
 */
START_TEST(flush_close_delivers_everything)
{
    const struct flush_case *fc = &flush_cases[_i];
    struct end *closer = fc->client_closes ? &W.cli : &W.srv;
    struct end *receiver = fc->client_closes ? &W.srv : &W.cli;
    const size_t total = MIB;
    receiver->stop_reading_on_open = true;
    closer->send_on_open = total;
    closer->on_open_act = ACT_FLUSH_CLOSE;
    listen_at("127.0.0.1", server_tls(fc->tls));
    ck_assert_int_eq(connect_to("127.0.0.1", W.port, fc->tls ? W.ctls : NULL), 0);
    RUN_UNTIL(closer->closed == 1 && receiver->opened == 1);
    ck_assert_int_eq(closer->close_err, 0);
    ck_assert_int_eq(closer->send_after_flush_close, EPIPE);
    ck_assert_int_eq(closer->send_in_close, EPIPE);
    ck_assert(!closer->open_in_close);
    ck_assert_uint_eq(closer->out_at_close, total);
    ck_assert_int_eq(receiver->data_calls, 0);

    net_conn_set_reading(receiver->c, true);
    RUN_UNTIL(receiver->closed == 1);
    ck_assert_msg(receiver->close_err == 0, "receiver: %s (%d) after %llu of %zu bytes",
                  receiver->why, receiver->close_err, (unsigned long long)receiver->rx, total);
    ck_assert_uint_eq(receiver->rx, total);
    ck_assert_int_eq(receiver->bad_at, -1);
    ck_assert_uint_eq(receiver->in_at_close, total);
    ck_assert_ptr_nonnull(strstr(receiver->why, "peer"));
    run_for(20);
    ck_assert_int_eq(closer->closed, 1);
    ck_assert_int_eq(closer->late + receiver->late, 0);
}
END_TEST

enum close_place {
    CLOSE_CLIENT_IN_OPEN,
    CLOSE_SERVER_IN_OPEN,
    CLOSE_SERVER_IN_DATA,
    CLOSE_CLIENT_IN_DATA,
    CLOSE_SERVER_FLUSH_IN_DATA,
    CLOSE_CLIENT_FROM_TIMER,
    CLOSE_SERVER_FROM_TIMER,
    CLOSE_IN_ACCEPT,
    CLOSE_NOT_ACCEPTED,
    CLOSE_PLACES
};

static void close_from_timer(struct net_loop *loop, struct net_timer *t)
{
    (void)loop;
    struct end *e = t->arg;
    if (e->c != NULL)
        net_conn_close(e->c, false);
}

/* _i: place + CLOSE_PLACES * tls. Both ends see on_close exactly once, and nothing after it. */
START_TEST(on_close_exactly_once)
{
    enum close_place place = (enum close_place)(_i % CLOSE_PLACES);
    bool tls = _i >= CLOSE_PLACES;
    struct end *closer = NULL;
    switch (place) {
    case CLOSE_CLIENT_IN_OPEN:
        closer = &W.cli;
        W.cli.on_open_act = ACT_CLOSE;
        break;
    case CLOSE_SERVER_IN_OPEN:
        closer = &W.srv;
        W.srv.on_open_act = ACT_CLOSE;
        break;
    case CLOSE_SERVER_IN_DATA:
        closer = &W.srv;
        W.srv.on_data_act = ACT_CLOSE;
        W.cli.greeting = "hello";
        break;
    case CLOSE_CLIENT_IN_DATA:
        closer = &W.cli;
        W.cli.on_data_act = ACT_CLOSE;
        W.srv.greeting = "hello";
        break;
    case CLOSE_SERVER_FLUSH_IN_DATA:
        /* Replies, then closes with flush from inside on_data. */
        closer = &W.srv;
        W.srv.mode = RX_ECHO;
        W.srv.on_data_act = ACT_FLUSH_CLOSE;
        W.cli.send_on_open = 64;
        break;
    case CLOSE_CLIENT_FROM_TIMER:
    case CLOSE_SERVER_FROM_TIMER:
        closer = place == CLOSE_CLIENT_FROM_TIMER ? &W.cli : &W.srv;
        break;
    case CLOSE_IN_ACCEPT:
        closer = &W.srv;
        W.close_in_accept = true;
        break;
    case CLOSE_NOT_ACCEPTED:
        W.refuse = true;
        break;
    case CLOSE_PLACES:
        break;
    }
    listen_at("127.0.0.1", server_tls(tls));
    ck_assert_int_eq(connect_to("127.0.0.1", W.port, tls ? W.ctls : NULL), 0);

    if (place == CLOSE_CLIENT_FROM_TIMER || place == CLOSE_SERVER_FROM_TIMER) {
        RUN_UNTIL(W.cli.opened == 1 && W.srv.opened == 1);
        struct net_timer t = {.fn = close_from_timer, .arg = closer};
        net_timer_start(W.loop, &t, 1 * MS);
        RUN_UNTIL(closer->closed == 1);
        ck_assert(!net_timer_armed(&t));
    }
    if (place == CLOSE_NOT_ACCEPTED) {
        RUN_UNTIL(W.cli.closed == 1);
        ck_assert_int_eq(W.accepts, 1);
        ck_assert_int_eq(W.srv.opened + W.srv.closed, 0);
    } else {
        RUN_UNTIL(W.cli.closed == 1 && W.srv.closed == 1);
    }
    run_for(50);
    ck_assert_int_le(W.cli.closed, 1);
    ck_assert_int_le(W.srv.closed, 1);
    ck_assert_int_eq(W.cli.late + W.srv.late, 0);
    ck_assert_int_le(W.accepts, 1);
    if (closer != NULL) {
        ck_assert_msg(closer->close_err == 0, "closer: %s (%d)", closer->why, closer->close_err);
        ck_assert_str_eq(closer->why, "closed");
        ck_assert_int_eq(closer->send_in_close, EPIPE);
        ck_assert(!closer->open_in_close);
    }
    if (place == CLOSE_IN_ACCEPT)
        ck_assert_int_eq(W.srv.opened, 0);
    if (place == CLOSE_SERVER_FLUSH_IN_DATA) {
        ck_assert_uint_eq(W.cli.rx, 64); /* the echo went out before the close */
        ck_assert_int_eq(W.srv.send_after_flush_close, EPIPE);
    }
}
END_TEST

struct peer_case {
    bool tls;
    bool server_closes;
};

static const struct peer_case peer_cases[] = {
    {false, true}, {false, false}, {true, true}, {true, false}};

START_TEST(peer_close_is_orderly)
{
    const struct peer_case *pc = &peer_cases[_i];
    pair_up(pc->tls);
    struct end *closer = pc->server_closes ? &W.srv : &W.cli;
    struct end *other = pc->server_closes ? &W.cli : &W.srv;
    ck_assert_int_eq(send_pattern(closer, 1000), 0);
    net_conn_close(closer->c, true);
    RUN_UNTIL(other->closed == 1);
    ck_assert_int_eq(closer->closed, 1);
    ck_assert_int_eq(closer->close_err, 0);
    ck_assert_int_eq(other->close_err, 0);
    ck_assert_msg(strstr(other->why, "peer") != NULL, "why: %s", other->why);
    ck_assert_uint_eq(other->rx, 1000);
    ck_assert_int_eq(other->bad_at, -1);
}
END_TEST

/*
 * A peer that answers and then resets the connection (a server refusing a request from its
 * head closes while the rest is still coming): what it sent before the reset is delivered
 * before on_close, even when our write fails first in the same wake-up. Before, the failed
 * write finished the connection and the answer, already in the socket, was never read.
 */
START_TEST(peer_answer_before_reset_is_read)
{
    uint16_t port;
    int lfd = raw_listener(4, &port);
    ck_assert_int_eq(connect_to("127.0.0.1", port, NULL), 0);
    RUN_UNTIL(W.cli.opened == 1);
    int sfd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(sfd, 0);
    char answer[1000];
    pattern_fill(answer, 0, sizeof(answer));
    ck_assert_int_eq(write(sfd, answer, sizeof(answer)), (ssize_t)sizeof(answer));
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    ck_assert_int_eq(setsockopt(sfd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
    close(sfd);
    /* The reset reaches our socket while the loop is not running: our next write fails, and
     * the wake-up that reports it reports the answer as readable too. */
    usleep(50 * 1000);
    ck_assert_int_eq(send_pattern(&W.cli, 100), 0);
    RUN_UNTIL(W.cli.closed == 1);
    ck_assert_uint_eq(W.cli.rx, sizeof(answer));
    ck_assert_int_eq(W.cli.bad_at, -1);
    close(lfd);
}
END_TEST

/* ---- Connect ------------------------------------------------------------------------------ */

START_TEST(connect_refused)
{
    bool tls = _i;
    uint16_t port = unused_port();
    int rc = connect_to("127.0.0.1", port, tls ? W.ctls : NULL);
    /* Loopback may refuse inside connect(2) itself; otherwise on_close says so. */
    if (rc == 0) {
        RUN_UNTIL(W.cli.closed == 1);
        ck_assert_int_eq(W.cli.close_err, ECONNREFUSED);
        ck_assert_ptr_null(W.cli.c);
    } else {
        ck_assert_int_eq(rc, ECONNREFUSED);
        W.cli.c = NULL;
    }
    run_for(20);
    ck_assert_int_eq(W.cli.opened, 0);
    ck_assert_int_le(W.cli.closed, 1);
}
END_TEST

/*
 * A listener with backlog 0 whose queue is full drops new SYNs (Linux), so a connect to it
 * stays pending: the only reliable way to make a loopback connect time out. Probe first; if
 * the kernel completes connects regardless, the case cannot be made here and is skipped.
 */
START_TEST(connect_times_out)
{
    uint16_t port;
    int lfd = raw_listener(0, &port);
    int fill[16];
    int nfill = 0;
    bool hangs = false;
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    while (nfill < N_ELEMS(fill) && !hangs) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        fill[nfill++] = fd;
        int r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
        ck_assert(r == 0 || errno == EINPROGRESS);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        hangs = r != 0 && poll(&p, 1, 100) == 0;
    }
    if (!hangs) {
        test_skip("conn connect_times_out", "the kernel completes every connect");
    } else {
        W.copts.connect_timeout_ns = 100 * MS;
        uint64_t start = net_now_ns();
        ck_assert_int_eq(connect_to("127.0.0.1", port, NULL), 0);
        RUN_UNTIL(W.cli.closed == 1);
        ck_assert_int_eq(W.cli.close_err, ETIMEDOUT);
        ck_assert_int_eq(W.cli.opened, 0);
        ck_assert_msg(strstr(W.cli.why, "timed out") != NULL, "why: %s", W.cli.why);
        ck_assert_uint_ge(net_now_ns() - start, 90 * MS);
    }
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    close(lfd);
}
END_TEST

/* A TCP peer that never answers the ClientHello: the handshake times out. */
START_TEST(tls_handshake_times_out)
{
    uint16_t port;
    int lfd = raw_listener(16, &port);
    W.copts.connect_timeout_ns = 150 * MS;
    uint64_t start = net_now_ns();
    ck_assert_int_eq(connect_to("127.0.0.1", port, W.ctls), 0);
    RUN_UNTIL(W.cli.closed == 1);
    ck_assert_int_eq(W.cli.close_err, ETIMEDOUT);
    ck_assert_int_eq(W.cli.opened, 0);
    ck_assert_msg(strstr(W.cli.why, "TLS handshake") != NULL, "why: %s", W.cli.why);
    ck_assert_uint_ge(net_now_ns() - start, 140 * MS);
    close(lfd);
}
END_TEST

/* An accepted TLS connection whose client never sends a ClientHello times out too. */
START_TEST(accepted_handshake_times_out)
{
    W.sopts.connect_timeout_ns = 150 * MS;
    listen_at("127.0.0.1", W.stls);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(W.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    RUN_UNTIL(W.srv.closed == 1);
    ck_assert_int_eq(W.accepts, 1);
    ck_assert_int_eq(W.srv.close_err, ETIMEDOUT);
    ck_assert_int_eq(W.srv.opened, 0);
    close(fd);
}
END_TEST

START_TEST(tls_client_plain_server)
{
    W.srv.greeting = "MSRP this is plain text, not a TLS record\r\n";
    listen_at("127.0.0.1", NULL);
    ck_assert_int_eq(connect_to("127.0.0.1", W.port, W.ctls), 0);
    RUN_UNTIL(W.cli.closed == 1);
    ck_assert_int_eq(W.cli.close_err, EPROTO);
    ck_assert_int_eq(W.cli.opened, 0);
    ck_assert_msg(strstr(W.cli.why, "TLS handshake failed") != NULL, "why: %s", W.cli.why);
}
END_TEST

START_TEST(plain_client_tls_server)
{
    W.cli.greeting = "MSRP this is plain text, not a TLS record\r\n";
    listen_at("127.0.0.1", W.stls);
    ck_assert_int_eq(connect_to("127.0.0.1", W.port, NULL), 0);
    RUN_UNTIL(W.srv.closed == 1 && W.cli.closed == 1);
    ck_assert_int_eq(W.srv.close_err, EPROTO);
    ck_assert_int_eq(W.srv.opened, 0);
}
END_TEST

/* ---- Addresses ---------------------------------------------------------------------------- */

START_TEST(ipv6_loopback)
{
    bool tls = _i;
    int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        test_skip("conn ipv6_loopback", "no IPv6 sockets (%s)", strerror(errno));
        return;
    }
    close(probe);
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve("::1", 0, &ss, &len), 0);
    char err[256] = "";
    int rc = net_listener_open(W.loop, (struct sockaddr *)&ss, len, server_tls(tls), on_accept, &W,
                               &W.sopts, &W.lst, err, sizeof(err));
    if (rc == EADDRNOTAVAIL || rc == EAFNOSUPPORT) {
        test_skip("conn ipv6_loopback", "%s", err);
        return;
    }
    ck_assert_msg(rc == 0, "listen on ::1: %s", err);
    W.port = net_listener_port(W.lst);
    W.srv.mode = RX_ECHO;
    ck_assert_int_eq(connect_to("::1", W.port, tls ? W.ctls : NULL), 0);
    RUN_UNTIL(W.cli.opened == 1 && W.srv.opened == 1);
    char want[32];
    snprintf(want, sizeof(want), "[::1]:%u", W.port);
    ck_assert_str_eq(net_conn_peer(W.cli.c), want);
    ck_assert_msg(strncmp(net_conn_peer(W.srv.c), "[::1]:", 6) == 0, "server peer %s",
                  net_conn_peer(W.srv.c));
    ck_assert_int_eq(send_pattern(&W.cli, 5000), 0);
    RUN_UNTIL(W.cli.rx == 5000);
    ck_assert_int_eq(W.cli.bad_at, -1);
}
END_TEST

START_TEST(resolve_addresses)
{
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", 4711, &ss, &len), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    ck_assert_uint_eq(ntohs(in->sin_port), 4711);
    ck_assert_uint_eq(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);

    ck_assert_int_eq(net_addr_resolve("::1", 2855, &ss, &len), 0);
    ck_assert_int_eq(ss.ss_family, AF_INET6);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    ck_assert_uint_eq(ntohs(in6->sin6_port), 2855);
    ck_assert(memcmp(&in6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback)) == 0);

    /* localhost may come back as either family, but always with the port filled in. */
    ck_assert_int_eq(net_addr_resolve("localhost", 2856, &ss, &len), 0);
    if (ss.ss_family == AF_INET) {
        ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
        ck_assert_uint_eq(ntohs(in->sin_port), 2856);
    } else {
        ck_assert_int_eq(ss.ss_family, AF_INET6);
        ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
        ck_assert_uint_eq(ntohs(in6->sin6_port), 2856);
    }

    /* .invalid never resolves (RFC 6761 section 6.4). */
    ck_assert_int_eq(net_addr_resolve("no-such-host.invalid", 1, &ss, &len), ENOENT);
}
END_TEST

START_TEST(listener_port_in_use)
{
    listen_at("127.0.0.1", NULL);
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", W.port, &ss, &len), 0);
    struct net_listener *l2 = NULL;
    char err[256] = "";
    int rc = net_listener_open(W.loop, (struct sockaddr *)&ss, len, NULL, on_accept, &W, NULL, &l2,
                               err, sizeof(err));
    ck_assert_int_eq(rc, EADDRINUSE);
    char where[32];
    snprintf(where, sizeof(where), "127.0.0.1:%u", W.port);
    ck_assert_msg(strstr(err, where) != NULL, "err: %s", err);
}
END_TEST

/* ---- a third transport ---------------------------------------------------------------------- */

/*
 * A framing layer in miniature, written against transport.h alone, as a WebSocket layer would
 * be: it stacks on the transport below (TCP or TLS), XORs every byte with XOR_KEY on the way
 * out and back on the way in, and takes at most XOR_SCRATCH bytes per writev, so conn.c's
 * queue has to offer the rest again.
 */
#define XOR_KEY 0x5a
#define XOR_SCRATCH 4096

struct xor_counts {
    int attaches, handshakes, reads, writevs, shutdowns, releases;
};

struct xor_setup {
    struct net_transport_setup lower;
    struct xor_counts n;
};

struct xor_impl {
    struct net_transport lower;
    struct xor_counts *n;
    char scratch[XOR_SCRATCH];
};

static int xor_handshake(struct net_transport *t, struct net_io_end *end)
{
    struct xor_impl *x = t->impl;
    x->n->handshakes++;
    if (x->lower.ops->handshake == NULL)
        return 0;
    return x->lower.ops->handshake(&x->lower, end);
}

static ssize_t xor_read(struct net_transport *t, char *buf, size_t len, struct net_io_end *end)
{
    struct xor_impl *x = t->impl;
    x->n->reads++;
    ssize_t n = x->lower.ops->read(&x->lower, buf, len, end);
    for (ssize_t i = 0; i < n; i++)
        buf[i] ^= XOR_KEY;
    return n;
}

static ssize_t xor_writev(struct net_transport *t, const struct iovec *iov, int iovcnt,
                          struct net_io_end *end)
{
    struct xor_impl *x = t->impl;
    x->n->writevs++;
    size_t len = 0;
    for (int i = 0; i < iovcnt && len < XOR_SCRATCH; i++) {
        const char *p = iov[i].iov_base;
        for (size_t j = 0; j < iov[i].iov_len && len < XOR_SCRATCH; j++)
            x->scratch[len++] = (char)(p[j] ^ XOR_KEY);
    }
    /* What the lower one did not take is offered to us again, and encoded again, next time. */
    struct iovec out = {.iov_base = x->scratch, .iov_len = len};
    return x->lower.ops->writev(&x->lower, &out, 1, end);
}

static size_t xor_pending(const struct net_transport *t)
{
    const struct xor_impl *x = t->impl;
    return x->lower.ops->pending != NULL ? x->lower.ops->pending(&x->lower) : 0;
}

static void xor_shutdown(struct net_transport *t)
{
    struct xor_impl *x = t->impl;
    x->n->shutdowns++;
    if (x->lower.ops->shutdown != NULL)
        x->lower.ops->shutdown(&x->lower);
}

static void xor_release(struct net_transport *t)
{
    struct xor_impl *x = t->impl;
    x->n->releases++;
    if (x->lower.ops->release != NULL)
        x->lower.ops->release(&x->lower);
    free(x);
    t->impl = NULL;
}

static const struct net_transport_ops xor_ops = {
    .name = "XOR",
    .handshake = xor_handshake,
    .read = xor_read,
    .writev = xor_writev,
    .pending = xor_pending,
    .shutdown = xor_shutdown,
    .release = xor_release,
};

static int xor_attach(struct net_transport *t, const struct net_transport_setup *s, int fd,
                      const char *server_name)
{
    struct xor_setup *xs = s->arg;
    struct xor_impl *x = calloc(1, sizeof(*x));
    if (x == NULL)
        return ENOMEM;
    int rc = xs->lower.attach(&x->lower, &xs->lower, fd, server_name);
    if (rc != 0) {
        free(x);
        return rc;
    }
    x->n = &xs->n;
    xs->n.attaches++;
    t->ops = &xor_ops;
    t->fd = fd;
    t->flags = NET_TRANSPORT_GATHERS |
               (x->lower.flags & (NET_TRANSPORT_SHORT_READ_DRAINS |
                                  NET_TRANSPORT_READ_AFTER_WRITE_FAIL | NET_TRANSPORT_ENCRYPTED));
    t->impl = x;
    return 0;
}

static struct net_transport_setup xor_over(struct xor_setup *xs, struct net_transport_setup lower)
{
    memset(xs, 0, sizeof(*xs));
    xs->lower = lower;
    return (struct net_transport_setup){.attach = xor_attach, .arg = xs};
}

/* Both ends XOR over TCP (_i 0) or TLS (_i 1): a pattern echoed through goes through intact. */
START_TEST(third_transport_plugs_in)
{
    bool tls = _i;
    static struct xor_setup sx, cx;
    struct net_transport_setup sts = xor_over(&sx, tls ? net_transport_tls(W.stls)
                                                       : net_transport_tcp());
    struct net_transport_setup cts = xor_over(&cx, tls ? net_transport_tls(W.ctls)
                                                       : net_transport_tcp());
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", 0, &ss, &len), 0);
    char err[256] = "";
    int rc = net_listener_open_via(W.loop, (struct sockaddr *)&ss, len, &sts, on_accept, &W,
                                   &W.sopts, &W.lst, err, sizeof(err));
    ck_assert_msg(rc == 0, "listen: %s", err);
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", net_listener_port(W.lst), &ss, &len), 0);
    W.srv.mode = RX_ECHO;
    ck_assert_int_eq(net_conn_connect_via(W.loop, (struct sockaddr *)&ss, len, &cts, "localhost",
                                          &handlers, &W.cli, &W.copts, &W.cli.c),
                     0);
    RUN_UNTIL(W.cli.opened == 1 && W.srv.opened == 1);
    ck_assert_int_eq(net_conn_is_tls(W.cli.c), tls);
    ck_assert_int_eq(net_conn_is_tls(W.srv.c), tls);

    /* 300 KiB, more than a scratch buffer and the socket take at once, echoed and checked. */
    static const size_t pieces[] = {1, 3, 7, 4096, 65536, 100, 65535, 1, 70000, 100000};
    uint64_t total = 0;
    for (int i = 0; i < N_ELEMS(pieces); i++) {
        ck_assert_int_eq(send_pattern(&W.cli, pieces[i]), 0);
        total += pieces[i];
    }
    RUN_UNTIL(W.cli.rx == total);
    ck_assert_int_eq(W.cli.bad_at, -1);
    ck_assert_uint_eq(W.srv.rx, total);
    ck_assert_int_ge(cx.n.writevs, (int)(total / XOR_SCRATCH));
    ck_assert_int_gt(sx.n.reads, 0);

    net_conn_close(W.cli.c, true);
    RUN_UNTIL(W.cli.closed == 1 && W.srv.closed == 1);
    ck_assert_int_eq(W.srv.close_err, 0);
    ck_assert_int_eq(sx.n.attaches, 1);
    ck_assert_int_eq(cx.n.attaches, 1);
    /* Over TCP the handshake is done at its first step; TLS takes a few. */
    ck_assert_int_ge(sx.n.handshakes, 1);
    ck_assert_int_ge(cx.n.handshakes, 1);
    if (!tls)
        ck_assert_int_eq(sx.n.handshakes + cx.n.handshakes, 2);
    /* Both ends ended in order, so each had its one try at saying so, and released once. */
    ck_assert_int_eq(sx.n.shutdowns, 1);
    ck_assert_int_eq(cx.n.shutdowns, 1);
    ck_assert_int_eq(sx.n.releases, 1);
    ck_assert_int_eq(cx.n.releases, 1);
}
END_TEST

/* The stacked transport really is in the path: plain bytes sent to it arrive transformed. */
START_TEST(third_transport_is_on_the_wire)
{
    static struct xor_setup sx;
    struct net_transport_setup sts = xor_over(&sx, net_transport_tcp());
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", 0, &ss, &len), 0);
    char err[256] = "";
    int rc = net_listener_open_via(W.loop, (struct sockaddr *)&ss, len, &sts, on_accept, &W,
                                   &W.sopts, &W.lst, err, sizeof(err));
    ck_assert_msg(rc == 0, "listen: %s", err);
    W.srv.mode = RX_VERIFY;
    ck_assert_int_eq(connect_to("127.0.0.1", net_listener_port(W.lst), NULL), 0);
    RUN_UNTIL(W.cli.opened == 1 && W.srv.opened == 1);
    ck_assert_int_eq(send_pattern(&W.cli, 1000), 0);
    RUN_UNTIL(W.srv.rx == 1000);
    ck_assert_int_eq(W.srv.bad_at, 0); /* the pattern's first byte is 0, received as XOR_KEY */
}
END_TEST

/* ---- the suite ---------------------------------------------------------------------------- */

static TCase *new_tcase(Suite *s, const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, world_setup, world_teardown);
    tcase_set_timeout(tc, timeout);
    suite_add_tcase(s, tc);
    return tc;
}

Suite *make_conn_suite(void)
{
    Suite *s = suite_create("conn");

    TCase *tc = new_tcase(s, "Core", 30);
    tcase_add_loop_test(tc, open_and_echo, 0, 2);
    tcase_add_loop_test(tc, peer_sees_close_drop_reset, 0, 6);
    tcase_add_loop_test(tc, small_send_writes_through, 0, 2);
    tcase_add_loop_test(tc, sends_from_other_callbacks_leave_at_pass_end, 0, 2);
    tcase_add_loop_test(tc, sends_before_open_are_delivered, 0, 2);
    tcase_add_loop_test(tc, held_sends_leave_at_release, 0, 2);
    tcase_add_loop_test(tc, close_while_held, 0, 2);

    tc = new_tcase(s, "Backpressure", 60);
    tcase_add_loop_test(tc, backpressure_cap_and_drain, 0, 2);
    tcase_add_loop_test(tc, congestion_clears_after_immediate_flush, 0, 2);

    tc = new_tcase(s, "Reads", 30);
    tcase_add_loop_test(tc, reads_per_wakeup_bounded, 0, N_ELEMS(reads_cases));
    tcase_add_loop_test(tc, partial_consumption_reoffered, 0, 2);
    tcase_add_loop_test(tc, stuck_handler_gets_emsgsize, 0, N_ELEMS(stuck_cases));
    tcase_add_loop_test(tc, pause_and_resume_each_read, 0, 2);
    tcase_add_loop_test(tc, not_reading_does_not_spin, 0, 2);

    tc = new_tcase(s, "Close", 30);
    tcase_add_loop_test(tc, flush_close_delivers_everything, 0, N_ELEMS(flush_cases));
    tcase_add_loop_test(tc, on_close_exactly_once, 0, 2 * CLOSE_PLACES);
    tcase_add_loop_test(tc, peer_close_is_orderly, 0, N_ELEMS(peer_cases));
    tcase_add_test(tc, peer_answer_before_reset_is_read);

    tc = new_tcase(s, "Connect", 30);
    tcase_add_loop_test(tc, connect_refused, 0, 2);
    tcase_add_test(tc, connect_times_out);
    tcase_add_test(tc, tls_handshake_times_out);
    tcase_add_test(tc, accepted_handshake_times_out);
    tcase_add_test(tc, tls_client_plain_server);
    tcase_add_test(tc, plain_client_tls_server);

    tc = new_tcase(s, "Addresses", 30);
    tcase_add_loop_test(tc, ipv6_loopback, 0, 2);
    tcase_add_test(tc, resolve_addresses);
    tcase_add_test(tc, listener_port_in_use);

    tc = new_tcase(s, "Transport", 30);
    tcase_add_loop_test(tc, third_transport_plugs_in, 0, 2);
    tcase_add_test(tc, third_transport_is_on_the_wire);
    return s;
}
