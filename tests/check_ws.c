/*
 * check_ws.c - the WebSocket transport (src/net/transport_ws.c) and the chunk end finder it is
 * given (src/wire/chunk_end.c): the finder on its own, our client against our server over
 * loopback TCP and TLS with the frames each side wrote read back by a tiny frame reader of
 * the test's own, and each side against a raw socket that plays the other side by hand
 * (ping, close, text frames, bad 101s, a request that is no upgrade).
 *
 * Every wait is a loop around net_loop_run_once() with a deadline, as in check_conn.c.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "msrp/server.h"
#include "msrp/session.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/tls.h"
#include "net/transport.h"
#include "net/transport_ws.h"
#include "suites.h"
#include "testutil.h"
#include "ws_testutil.h"
#include "wire/chunk_end.h"

#define N_ELEMS(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MS (1000ull * 1000ull)
#define KIB ((size_t)1024)
#define WAIT_NS (10000 * MS)

/* ---- MSRP chunks to send ------------------------------------------------------------------ */

/* A SEND chunk with a body of n bytes (n 0: bodiless) and transaction id "t<i>x". */
static void make_chunk(struct bytes *b, int i, size_t n)
{
    char head[256];
    int h = snprintf(head, sizeof(head),
                     "MSRP t%dx SEND\r\nTo-Path: msrp://a.invalid:1/s;ws\r\n"
                     "From-Path: msrp://b.invalid:1/s;ws\r\nMessage-ID: m%d\r\n%s",
                     i, i, n ? "Content-Type: application/octet-stream\r\n\r\n" : "");
    bytes_add(b, head, (size_t)h);
    for (size_t k = 0; k < n; k++) {
        /* Bodies hold CRLFs and dashes, so the finder meets near-misses all the time. */
        unsigned char c = (unsigned char)("\r\n-------tx$"[(k * 7 + (size_t)i) % 11]);
        if (k % 97 == 96)
            c = (unsigned char)(k >> 3);
        bytes_add(b, &c, 1);
    }
    char end[64];
    int e = snprintf(end, sizeof(end), "%s-------t%dx$\r\n", n ? "\r\n" : "", i);
    bytes_add(b, end, (size_t)e);
}

/* ---- the chunk end finder alone ----------------------------------------------------------- */

START_TEST(chunk_end_finds_each_chunk)
{
    static const size_t sizes[] = {0, 1, 2, 100, 4096, 70000};
    struct bytes all = {0};
    size_t ends[N_ELEMS(sizes)];
    for (int i = 0; i < N_ELEMS(sizes); i++) {
        make_chunk(&all, i + 1, sizes[i]);
        ends[i] = all.len;
    }
    /* Whole (_i 0), one byte at a time (_i 1), in 13-byte steps (_i 2). */
    size_t step = _i == 0 ? all.len : _i == 1 ? 1 : 13;
    struct msrp_chunk_end_scan s = {0};
    int found = 0;
    size_t off = 0;
    while (off < all.len) {
        size_t n = all.len - off < step ? all.len - off : step;
        size_t k = msrp_chunk_end_scan(&s, (const char *)all.p + off, n);
        if (k == 0) {
            off += n;
            continue;
        }
        ck_assert_int_lt(found, N_ELEMS(sizes));
        ck_assert_uint_eq(off + k, ends[found]);
        found++;
        off += k;
    }
    ck_assert_int_eq(found, N_ELEMS(sizes));
    bytes_free(&all);
}
END_TEST

START_TEST(chunk_end_ignores_other_ids_and_non_chunks)
{
    /* Another transaction's end-line in the body, and a flag that is not one of $+#. */
    static const char c1[] = "MSRP abc SEND\r\nContent-Type: text/plain\r\n\r\n"
                             "x\r\n-------abd$\r\n-------abc!\r\n-------abc+\r\nMSRP";
    struct msrp_chunk_end_scan s = {0};
    size_t k = msrp_chunk_end_scan(&s, c1, sizeof(c1) - 1);
    ck_assert_uint_eq(k, sizeof(c1) - 1 - 4);
    /* Bytes that are no chunk are one long message: never split. */
    struct msrp_chunk_end_scan s2 = {0};
    static const char junk[] = "GET / HTTP/1.1\r\n\r\n-------abc$\r\n";
    ck_assert_uint_eq(msrp_chunk_end_scan(&s2, junk, sizeof(junk) - 1), 0);
    /* ... and the finder says it has given up, so a transport sends them as offered. */
    ck_assert(msrp_chunk_end_lost(&s2));
    ck_assert(!msrp_chunk_end_lost(&s));
}
END_TEST

/* RFC 7977 4.1's example handshake: this key gives this accept value. */
START_TEST(accept_key_of_rfc7977_example)
{
    char out[32];
    net_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

/* ---- one chunk per message, checked -------------------------------------------------------- */

/*
 * Splits the frames in b into messages and checks them against want, the chunks sent in
 * order: message i is exactly chunk i (so never two in one, never one across two). Checks
 * that every frame is masked (client) or not (server). Returns the count of data frames.
 */
static int check_messages(const struct bytes *b, const struct bytes *chunks, int nchunks,
                          bool masked)
{
    size_t off = after_handshake(b);
    struct bytes msg = {0};
    int got = 0, frames = 0;
    struct frame f;
    size_t chunk_off = 0;
    while (read_frame(b, &off, &f)) {
        ck_assert_int_eq(f.masked, masked);
        if (f.opcode & 0x8)
            continue; /* control frames may come between fragments */
        frames++;
        ck_assert_msg(msg.len == 0 ? f.opcode == 0x2 : f.opcode == 0x0, "opcode %u at message %d",
                      f.opcode, got);
        for (size_t i = 0; i < f.len; i++) {
            unsigned char c = f.payload[i] ^ (masked ? f.key[i % 4] : 0);
            bytes_add(&msg, &c, 1);
        }
        if (!f.fin)
            continue;
        ck_assert_int_lt(got, nchunks);
        struct msrp_chunk_end_scan s = {0};
        size_t k =
            msrp_chunk_end_scan(&s, (const char *)chunks->p + chunk_off, chunks->len - chunk_off);
        ck_assert_msg(k == msg.len, "message %d holds %zu bytes, its chunk %zu", got, msg.len, k);
        ck_assert(memcmp(msg.p, chunks->p + chunk_off, k) == 0);
        chunk_off += k;
        msg.len = 0;
        got++;
    }
    ck_assert_int_eq(got, nchunks);
    bytes_free(&msg);
    return frames;
}

/* ---- the world: a loop, TLS contexts, two ends -------------------------------------------- */

struct end {
    struct net_conn *c;
    int opened, closed, close_err;
    unsigned close_code; /* net_conn_peer_close_code() at on_close */
    char why[256];
    bool echo;
    struct bytes rx;
};

static struct {
    struct net_loop *loop;
    struct net_tls *stls, *ctls;
    struct net_listener *lst;
    struct end cli, srv;
    char dir[64];
} W;

#define RUN_UNTIL(cond)                                                                            \
    do {                                                                                           \
        uint64_t dl_ = net_now_ns() + WAIT_NS;                                                     \
        while (!(cond)) {                                                                          \
            ck_assert_msg(net_now_ns() < dl_, "timed out waiting for: %s", #cond);                 \
            ck_assert_int_ge(net_loop_run_once(W.loop, 5), 0);                                     \
        }                                                                                          \
    } while (0)

static void on_open(struct net_conn *c)
{
    struct end *e = net_conn_user(c);
    e->opened++;
}

static size_t on_data(struct net_conn *c, const char *buf, size_t len)
{
    struct end *e = net_conn_user(c);
    bytes_add(&e->rx, buf, len);
    if (e->echo) {
        struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
        ck_assert_int_eq(net_conn_send(c, &v, 1), 0);
    }
    return len;
}

static void on_close(struct net_conn *c, int err, const char *why)
{
    struct end *e = net_conn_user(c);
    e->closed++;
    e->close_err = err;
    e->close_code = net_conn_peer_close_code(c);
    snprintf(e->why, sizeof(e->why), "%s", why ? why : "");
    e->c = NULL;
}

static const struct net_conn_handlers handlers = {
    .on_open = on_open, .on_data = on_data, .on_close = on_close};

static void on_accept(struct net_listener *l, struct net_conn *c)
{
    (void)l;
    W.srv.c = c;
    net_conn_set_user(c, &W.srv);
    net_conn_set_handlers(c, &handlers);
}

static void world_setup(void)
{
    memset(&W, 0, sizeof(W));
    ck_assert_int_eq(net_loop_create(&W.loop, 65536), 0);
    char err[256] = "", cert[128], key[128];
    snprintf(W.dir, sizeof(W.dir), "/tmp/msrpload-ws-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(W.dir));
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
    net_loop_destroy(W.loop);
    net_tls_destroy(W.stls);
    net_tls_destroy(W.ctls);
    bytes_free(&W.cli.rx);
    bytes_free(&W.srv.rx);
}


static uint16_t listen_via(const struct net_transport_setup *ts)
{
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", 0, &ss, &len), 0);
    char err[256] = "";
    int rc = net_listener_open_via(W.loop, (struct sockaddr *)&ss, len, ts, on_accept, &W, NULL,
                                   &W.lst, err, sizeof(err));
    ck_assert_msg(rc == 0, "listen: %s", err);
    return net_listener_port(W.lst);
}

static void connect_via(const struct net_transport_setup *ts, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", port, &ss, &len), 0);
    ck_assert_int_eq(net_conn_connect_via(W.loop, (struct sockaddr *)&ss, len, ts, "localhost",
                                          &handlers, &W.cli, NULL, &W.cli.c),
                     0);
}

/* ---- our client and our server ------------------------------------------------------------ */

/*
 * _i bit 0: over TLS; bit 1: frame_max 16 KiB, so large chunks go as several fragments.
 * Chunks of 0 (bodiless) .. 300 KiB bodies go out in pieces, the last two in one send, and
 * come back echoed; the frames each side wrote hold one chunk per message.
 */
START_TEST(echo_one_chunk_per_message)
{
    bool tls = _i & 1;
    size_t frame_max = (_i & 2) ? 16 * KIB : 0;
    static struct tap_setup stap, ctap;
    static struct net_ws sws, cws;
    memset(&stap, 0, sizeof(stap));
    memset(&ctap, 0, sizeof(ctap));
    struct net_transport_setup slow =
        tap_over(&stap, tls ? net_transport_tls(W.stls) : net_transport_tcp());
    struct net_transport_setup clow =
        tap_over(&ctap, tls ? net_transport_tls(W.ctls) : net_transport_tcp());
    struct net_ws_opts so = {.server = true, .frame_max = frame_max, .boundary = msrp_ws_boundary};
    struct net_ws_opts co = {.path = "/msrp", .frame_max = frame_max, .boundary = msrp_ws_boundary};
    struct net_transport_setup sts = net_transport_ws(&sws, &slow, &so);
    struct net_transport_setup cts = net_transport_ws(&cws, &clow, &co);
    W.srv.echo = true;
    connect_via(&cts, listen_via(&sts));
    RUN_UNTIL(W.cli.opened == 1 && W.srv.opened == 1);
    ck_assert_int_eq(net_conn_is_tls(W.cli.c), tls);
    /* The TLS part and the upgrade are timed apart: connected <= secured <= open. */
    uint64_t conn_ns = net_conn_connected_ns(W.cli.c), sec_ns = net_conn_secured_ns(W.cli.c);
    ck_assert_uint_ne(conn_ns, 0);
    ck_assert_uint_ge(sec_ns, conn_ns);
    ck_assert_uint_ge(net_conn_open_ns(W.cli.c), sec_ns);
    ck_assert_uint_eq(net_conn_peer_close_code(W.cli.c), 0);

    static const size_t sizes[] = {0, 1, 100, 4096, 65536, 70000, 300 * KIB, 5, 0};
    struct bytes chunks = {0};
    size_t starts[N_ELEMS(sizes) + 1];
    for (int i = 0; i < N_ELEMS(sizes); i++) {
        starts[i] = chunks.len;
        make_chunk(&chunks, i + 1, sizes[i]);
    }
    starts[N_ELEMS(sizes)] = chunks.len;
    for (int i = 0; i < N_ELEMS(sizes) - 1; i++) {
        /* Each chunk in three iovecs cut at odd places; the last two chunks in one send. */
        size_t a = starts[i], z = i == N_ELEMS(sizes) - 2 ? starts[i + 2] : starts[i + 1];
        size_t third = (z - a) / 3;
        struct iovec v[3] = {{chunks.p + a, third},
                             {chunks.p + a + third, third},
                             {chunks.p + a + 2 * third, z - a - 2 * third}};
        ck_assert_int_eq(net_conn_send(W.cli.c, v, 3), 0);
        if (z == chunks.len)
            break;
    }
    RUN_UNTIL(W.cli.rx.len == chunks.len);
    ck_assert(memcmp(W.cli.rx.p, chunks.p, chunks.len) == 0);
    ck_assert_uint_eq(W.srv.rx.len, chunks.len);

    int cframes = check_messages(&ctap.out, &chunks, N_ELEMS(sizes), true);
    int sframes = check_messages(&stap.out, &chunks, N_ELEMS(sizes), false);
    if (frame_max) /* a 300 KiB body cannot go in one 16 KiB frame */
        ck_assert_int_ge(cframes, N_ELEMS(sizes) + (int)(300 * KIB / frame_max) - 1);
    ck_assert_int_ge(sframes, N_ELEMS(sizes));

    /* A local close sends a close frame (1000); the peer ends in order, naming the code. */
    net_conn_close(W.cli.c, true);
    RUN_UNTIL(W.cli.closed == 1 && W.srv.closed == 1);
    ck_assert_int_eq(W.srv.close_err, 0);
    ck_assert_msg(strstr(W.srv.why, "close code 1000") != NULL, "why: %s", W.srv.why);
    ck_assert_uint_eq(W.srv.close_code, 1000);
    bytes_free(&chunks);
    bytes_free(&stap.out);
    bytes_free(&ctap.out);
}
END_TEST

/* ---- a raw socket playing the other side -------------------------------------------------- */

static int raw_accept(int lfd)
{
    int fd = -1;
    RUN_UNTIL((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0);
    return fd;
}

/* Runs the loop and reads fd into b until b holds at least want bytes or text (if given). */
static void raw_recv_until(int fd, struct bytes *b, size_t want, const char *text)
{
    uint64_t dl = net_now_ns() + WAIT_NS;
    for (;;) {
        if (b->len >= want &&
            (text == NULL || (b->len > 0 && memmem(b->p, b->len, text, strlen(text)))))
            return;
        ck_assert_msg(net_now_ns() < dl, "timed out waiting for %zu bytes / %s", want,
                      text ? text : "-");
        ck_assert_int_ge(net_loop_run_once(W.loop, 5), 0);
        static char buf[64 * 1024];
        ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r > 0)
            bytes_add(b, buf, (size_t)r);
        else if (r == 0)
            ck_assert_msg(b->len >= want, "peer closed after %zu bytes", b->len);
    }
}

enum answer { ANSWER_GOOD, ANSWER_WRONG_ACCEPT, ANSWER_NO_PROTOCOL, ANSWER_400, ANSWER_WITH_FRAME };

/* A WS client (over TCP) to a raw server that reads its request and answers as told. */
static int raw_server_for_client(enum answer how, int *lfd)
{
    uint16_t port;
    *lfd = raw_listen(&port);
    static struct net_ws cws;
    struct net_transport_setup tcp = net_transport_tcp();
    struct net_ws_opts co = {.path = "/chat", .boundary = msrp_ws_boundary};
    struct net_transport_setup cts = net_transport_ws(&cws, &tcp, &co);
    connect_via(&cts, port);
    int fd = raw_accept(*lfd);
    struct bytes req = {0};
    raw_recv_until(fd, &req, 0, "\r\n\r\n");
    ck_assert_ptr_nonnull(memmem(req.p, req.len, "GET /chat HTTP/1.1\r\n", 20));
    ck_assert_ptr_nonnull(memmem(req.p, req.len, "\r\nHost: localhost\r\n", 19));
    ck_assert_ptr_nonnull(memmem(req.p, req.len, "\r\nUpgrade: websocket\r\n", 22));
    ck_assert_ptr_nonnull(memmem(req.p, req.len, "\r\nSec-WebSocket-Version: 13\r\n", 29));
    ck_assert_ptr_nonnull(memmem(req.p, req.len, "\r\nSec-WebSocket-Protocol: msrp\r\n", 32));
    char key[64], accept[32], resp[512];
    header_value(&req, "Sec-WebSocket-Key: ", key, sizeof(key));
    ck_assert_uint_eq(strlen(key), 24);
    net_ws_accept_key(key, accept);
    if (how == ANSWER_WRONG_ACCEPT)
        accept[3] ^= 1;
    if (how == ANSWER_400)
        snprintf(resp, sizeof(resp), "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    else
        snprintf(resp, sizeof(resp),
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
                 "Connection: upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                 accept, how == ANSWER_NO_PROTOCOL ? "" : "Sec-WebSocket-Protocol: msrp\r\n");
    size_t n = strlen(resp);
    if (how == ANSWER_WITH_FRAME) { /* a binary frame "early" in the same segment */
        memcpy(resp + n,
               "\x82\x05"
               "early",
               7);
        n += 7;
    }
    raw_send(fd, resp, n);
    bytes_free(&req);
    return fd;
}

static const char *const refusals[] = {
    [ANSWER_WRONG_ACCEPT] = "wrong Sec-WebSocket-Accept",
    [ANSWER_NO_PROTOCOL] = "no Sec-WebSocket-Protocol: msrp",
    [ANSWER_400] = "no 101 status",
};

/* A 101 that is wrong in one way is refused, with an error naming the server and the fault. */
START_TEST(client_refuses_bad_101)
{
    enum answer how = (enum answer)(_i + 1);
    int lfd, fd = raw_server_for_client(how, &lfd);
    RUN_UNTIL(W.cli.closed == 1);
    ck_assert_int_eq(W.cli.opened, 0);
    ck_assert_int_ne(W.cli.close_err, 0);
    ck_assert_msg(strstr(W.cli.why, "WebSocket upgrade refused by localhost") != NULL, "why: %s",
                  W.cli.why);
    ck_assert_msg(strstr(W.cli.why, refusals[how]) != NULL, "why: %s", W.cli.why);
    close(fd);
    close(lfd);
}
END_TEST

/*
 * After a good 101: text and binary frames are read as bytes, a ping gets a masked pong with
 * its payload, and a close frame from the server is answered with a masked close frame and
 * ends the connection in order, naming the close code.
 */
START_TEST(client_ping_text_and_close)
{
    int lfd, fd = raw_server_for_client(ANSWER_GOOD, &lfd);
    RUN_UNTIL(W.cli.opened == 1);
    raw_frame(fd, 0x89, "hi", 2, false);  /* ping */
    raw_frame(fd, 0x81, "abc", 3, false); /* text */
    raw_frame(fd, 0x02, "de", 2, false);  /* binary, no FIN */
    raw_frame(fd, 0x80, "f", 1, false);   /* continuation, FIN */
    RUN_UNTIL(W.cli.rx.len == 6);
    ck_assert(memcmp(W.cli.rx.p, "abcdef", 6) == 0);

    struct bytes in = {0};
    struct frame f;
    size_t off = 0;
    raw_recv_until(fd, &in, 8, NULL);
    ck_assert(read_frame(&in, &off, &f));
    ck_assert_uint_eq(f.opcode, 0xa);
    ck_assert(f.fin && f.masked);
    ck_assert_uint_eq(f.len, 2);
    ck_assert_int_eq(f.payload[0] ^ f.key[0], 'h');
    ck_assert_int_eq(f.payload[1] ^ f.key[1], 'i');

    static const unsigned char going_away[] = {0x03, 0xe9, 'b', 'y', 'e'}; /* 1001 */
    raw_frame(fd, 0x88, going_away, sizeof(going_away), false);
    RUN_UNTIL(W.cli.closed == 1);
    ck_assert_int_eq(W.cli.close_err, 0);
    ck_assert_msg(strstr(W.cli.why, "close code 1001") != NULL, "why: %s", W.cli.why);
    ck_assert_uint_eq(W.cli.close_code, 1001);
    raw_recv_until(fd, &in, off + 8, NULL);
    ck_assert(read_frame(&in, &off, &f));
    ck_assert_uint_eq(f.opcode, 0x8);
    ck_assert(f.masked);
    ck_assert_uint_eq(f.len, 2);
    ck_assert_int_eq((f.payload[0] ^ f.key[0]) << 8 | (f.payload[1] ^ f.key[1]), 1001);
    bytes_free(&in);
    close(fd);
    close(lfd);
}
END_TEST

/*
 * 2000 tiny frames in one send: one read takes them all (more than conn.c reads per wake-up)
 * and every frame's payload must come out of it, moved down over the headers between them.
 */
START_TEST(client_reads_frames_held_in_buffer)
{
    int lfd, fd = raw_server_for_client(ANSWER_GOOD, &lfd);
    RUN_UNTIL(W.cli.opened == 1);
    static unsigned char burst[2000 * 5];
    for (int i = 0; i < 2000; i++) {
        unsigned char *f = burst + 5 * i;
        f[0] = 0x82;
        f[1] = 3;
        f[2] = (unsigned char)i;
        f[3] = 'a';
        f[4] = 'b';
    }
    raw_send(fd, burst, sizeof(burst));
    RUN_UNTIL(W.cli.rx.len == 6000);
    for (int i = 0; i < 2000; i++)
        ck_assert_int_eq(W.cli.rx.p[3 * i], (unsigned char)i);
    close(fd);
    close(lfd);
}
END_TEST

/*
 * Runs the loop n times, 5 ms each at most, and returns how many callbacks ran: a connection
 * that watched a writable socket it could not write to would run one in every pass.
 */
static int run_passes(int n)
{
    int callbacks = 0;
    for (int i = 0; i < n; i++) {
        int r = net_loop_run_once(W.loop, 5);
        ck_assert_int_ge(r, 0);
        callbacks += r;
    }
    return callbacks;
}

/*
 * A chunk whose second half is sent later: nothing leaves until its end is offered (the frame
 * header needs the whole length; transport.h NET_IO_WANT_MORE), and nothing spins meanwhile;
 * then the chunk leaves as one frame with FIN.
 */
START_TEST(chunk_across_two_sends_is_one_message)
{
    static struct tap_setup ctap;
    static struct net_ws sws, cws;
    memset(&ctap, 0, sizeof(ctap));
    struct net_transport_setup tcp = net_transport_tcp();
    struct net_transport_setup clow = tap_over(&ctap, net_transport_tcp());
    struct net_ws_opts so = {.server = true, .boundary = msrp_ws_boundary};
    struct net_ws_opts co = {.boundary = msrp_ws_boundary};
    struct net_transport_setup sts = net_transport_ws(&sws, &tcp, &so);
    struct net_transport_setup cts = net_transport_ws(&cws, &clow, &co);
    connect_via(&cts, listen_via(&sts));
    RUN_UNTIL(W.cli.opened == 1 && W.srv.opened == 1);
    struct bytes chunk = {0};
    make_chunk(&chunk, 7, 1000);
    size_t upgrade = ctap.out.len;
    struct iovec v = {chunk.p, 600};
    ck_assert_int_eq(net_conn_send(W.cli.c, &v, 1), 0);
    ck_assert_int_le(run_passes(20), 3);
    ck_assert_uint_eq(ctap.out.len, upgrade); /* not a byte of a frame */
    ck_assert_uint_eq(W.srv.rx.len, 0);
    ck_assert_uint_eq(net_conn_queued(W.cli.c), 600);
    v = (struct iovec){chunk.p + 600, chunk.len - 600};
    ck_assert_int_eq(net_conn_send(W.cli.c, &v, 1), 0);
    RUN_UNTIL(W.srv.rx.len == chunk.len);
    ck_assert(memcmp(W.srv.rx.p, chunk.p, chunk.len) == 0);
    ck_assert_int_eq(check_messages(&ctap.out, &chunk, 1, true), 1);
    ck_assert_uint_eq(net_conn_queued(W.cli.c), 0);
    bytes_free(&chunk);
    bytes_free(&ctap.out);
}
END_TEST

/*
 * Seen by a raw WebSocket server: _i 0, a 70,000-byte chunk (64-bit length) sent in four
 * pieces, the end-line itself cut, then a second chunk in the same send as the last piece; _i
 * 1, a 3 MiB chunk in seven pieces while the peer reads nothing (the socket fills: the frame
 * leaves over many writes). Each chunk arrives as exactly one masked binary frame with FIN,
 * nothing leaves before a chunk's end is offered, and no pass spins while waiting.
 */
START_TEST(chunk_in_pieces_is_one_frame_to_raw_peer)
{
    int lfd, fd = raw_server_for_client(ANSWER_GOOD, &lfd);
    RUN_UNTIL(W.cli.opened == 1);
    struct bytes chunks = {0};
    make_chunk(&chunks, 1, _i == 0 ? 70000 : 3 * 1024 * KIB);
    size_t first = chunks.len;
    make_chunk(&chunks, 2, 10);
    int pieces = _i == 0 ? 4 : 7;
    size_t cuts[8];
    for (int k = 0; k < pieces; k++)
        cuts[k] = first / (size_t)pieces * (size_t)k;
    if (_i == 0)
        cuts[3] = first - 5; /* inside "$\r\n" of the end-line: "-------t1x$\r\n" */
    cuts[pieces] = chunks.len;
    struct bytes in = {0};
    for (int k = 0; k < pieces; k++) {
        struct iovec v = {chunks.p + cuts[k], cuts[k + 1] - cuts[k]};
        ck_assert_int_eq(net_conn_send(W.cli.c, &v, 1), 0);
        if (k == pieces - 1)
            break;
        ck_assert_int_le(run_passes(10), 3);
        char b[64];
        ck_assert_int_lt(recv(fd, b, sizeof(b), MSG_DONTWAIT), 0); /* nothing left yet */
    }
    raw_recv_until(fd, &in, chunks.len + 14 + 6, NULL); /* two headers: 64-bit and 7-bit length */
    size_t off = 0, at = 0;
    for (int m = 0; m < 2; m++) {
        struct frame f;
        ck_assert(read_frame(&in, &off, &f));
        ck_assert(f.fin && f.masked);
        ck_assert_uint_eq(f.opcode, 0x2);
        size_t want = m == 0 ? first : chunks.len - first;
        ck_assert_uint_eq(f.len, want);
        unsigned char *plain = malloc(f.len);
        ck_assert_ptr_nonnull(plain);
        for (size_t i = 0; i < f.len; i++)
            plain[i] = f.payload[i] ^ f.key[i % 4];
        ck_assert(memcmp(plain, chunks.p + at, f.len) == 0);
        free(plain);
        at += f.len;
    }
    ck_assert_uint_eq(off, in.len);
    ck_assert_uint_eq(net_conn_queued(W.cli.c), 0);
    bytes_free(&in);
    bytes_free(&chunks);
    close(fd);
    close(lfd);
}
END_TEST

/*
 * Bytes that are no MSRP chunk (a conformance case's garbage) have no end to wait for: they
 * leave as offered, one message per send, instead of waiting in the queue for good.
 */
START_TEST(non_chunk_bytes_leave_as_offered)
{
    int lfd, fd = raw_server_for_client(ANSWER_GOOD, &lfd);
    RUN_UNTIL(W.cli.opened == 1);
    static const char junk[] = "GET / HTTP/1.1\r\nHost: relay\r\n\r\n";
    struct iovec v = {(void *)junk, sizeof(junk) - 1};
    ck_assert_int_eq(net_conn_send(W.cli.c, &v, 1), 0);
    struct bytes in = {0};
    raw_recv_until(fd, &in, 6 + sizeof(junk) - 1, NULL);
    struct frame f;
    size_t off = 0;
    ck_assert(read_frame(&in, &off, &f));
    ck_assert(f.fin && f.masked);
    ck_assert_uint_eq(f.len, sizeof(junk) - 1);
    for (size_t i = 0; i < f.len; i++)
        ck_assert_int_eq(f.payload[i] ^ f.key[i % 4], junk[i]);
    ck_assert_uint_eq(net_conn_queued(W.cli.c), 0);
    /* Chunks after the garbage are framed one by one again (two in one send: two frames). */
    struct bytes chunks = {0};
    make_chunk(&chunks, 1, 100);
    size_t first = chunks.len;
    make_chunk(&chunks, 2, 200);
    struct iovec cv = {chunks.p, chunks.len};
    ck_assert_int_eq(net_conn_send(W.cli.c, &cv, 1), 0);
    raw_recv_until(fd, &in, off + 2 * 6 + chunks.len, NULL);
    ck_assert(read_frame(&in, &off, &f));
    ck_assert_uint_eq(f.len, first);
    ck_assert(read_frame(&in, &off, &f));
    ck_assert_uint_eq(f.len, chunks.len - first);
    bytes_free(&chunks);
    bytes_free(&in);
    close(fd);
    close(lfd);
}
END_TEST

/*
 * A frame that arrives with the 101, in the same segment, is read during the handshake: it
 * must reach on_data after on_open although no socket event will announce it.
 */
START_TEST(client_reads_frame_sent_with_101)
{
    int lfd, fd = raw_server_for_client(ANSWER_WITH_FRAME, &lfd);
    RUN_UNTIL(W.cli.opened == 1);
    RUN_UNTIL(W.cli.rx.len == 5);
    ck_assert(memcmp(W.cli.rx.p, "early", 5) == 0);
    close(fd);
    close(lfd);
}
END_TEST

/* A server frame that is masked is a protocol error for the client. */
START_TEST(client_refuses_masked_server_frame)
{
    int lfd, fd = raw_server_for_client(ANSWER_GOOD, &lfd);
    RUN_UNTIL(W.cli.opened == 1);
    raw_frame(fd, 0x82, "abc", 3, true);
    RUN_UNTIL(W.cli.closed == 1);
    ck_assert_int_eq(W.cli.close_err, EPROTO);
    ck_assert_msg(strstr(W.cli.why, "masked") != NULL, "why: %s", W.cli.why);
    /* It said why before closing: a masked close frame with 1002 (protocol error). */
    struct bytes in = {0};
    struct frame f;
    size_t off = 0;
    raw_recv_until(fd, &in, 8, NULL);
    ck_assert(read_frame(&in, &off, &f));
    ck_assert_uint_eq(f.opcode, 0x8);
    ck_assert(f.masked);
    ck_assert_uint_eq(f.len, 2);
    ck_assert_int_eq((f.payload[0] ^ f.key[0]) << 8 | (f.payload[1] ^ f.key[1]), 1002);
    bytes_free(&in);
    close(fd);
    close(lfd);
}
END_TEST

/*
 * A data frame and a frame with a reserved opcode in one segment (read in place by one read):
 * the data is handed up first, then the connection ends with EPROTO naming the fault.
 */
START_TEST(client_reads_data_before_bad_frame)
{
    int lfd, fd = raw_server_for_client(ANSWER_GOOD, &lfd);
    RUN_UNTIL(W.cli.opened == 1);
    raw_send(fd, "\x82\x03" "abc" "\x83\x01" "d", 8);
    RUN_UNTIL(W.cli.closed == 1);
    ck_assert_uint_eq(W.cli.rx.len, 3);
    ck_assert(memcmp(W.cli.rx.p, "abc", 3) == 0);
    ck_assert_int_eq(W.cli.close_err, EPROTO);
    ck_assert_msg(strstr(W.cli.why, "unknown opcode") != NULL, "why: %s", W.cli.why);
    close(fd);
    close(lfd);
}
END_TEST

/* ---- our server against a raw client ------------------------------------------------------ */

static uint16_t ws_server(void)
{
    static struct net_ws sws;
    struct net_transport_setup tcp = net_transport_tcp();
    struct net_ws_opts so = {.server = true, .boundary = msrp_ws_boundary};
    struct net_transport_setup sts = net_transport_ws(&sws, &tcp, &so);
    return listen_via(&sts);
}

static const char *const bad_requests[] = {
    "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
    "Sec-WebSocket-Protocol: msrp\r\n\r\n",
};
static const char *const bad_reasons[] = {"no Upgrade: websocket",
                                          "no msrp in Sec-WebSocket-Protocol",
                                          "Sec-WebSocket-Version is not 13"};

/* A request that is no msrp upgrade gets a 400 and never opens. */
START_TEST(server_refuses_non_upgrade)
{
    int fd = raw_connect(ws_server());
    raw_send(fd, bad_requests[_i], strlen(bad_requests[_i]));
    struct bytes in = {0};
    raw_recv_until(fd, &in, 0, "\r\n\r\n");
    ck_assert(in.len > 12 && memcmp(in.p, "HTTP/1.1 400", 12) == 0);
    RUN_UNTIL(W.srv.closed == 1);
    ck_assert_int_eq(W.srv.opened, 0);
    ck_assert_msg(strstr(W.srv.why, bad_reasons[_i]) != NULL, "why: %s", W.srv.why);
    bytes_free(&in);
    close(fd);
}
END_TEST

/* RFC 7977 4.1's example request gets its example 101; masked frames are read, unmasked not. */
START_TEST(server_answers_rfc7977_example)
{
    int fd = raw_connect(ws_server());
    static const char req[] = "GET / HTTP/1.1\r\nHost: a.example.com\r\nUpgrade: websocket\r\n"
                              "Connection: keep-alive, Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Origin: http://www.example.com\r\n"
                              "Sec-WebSocket-Protocol: msrp\r\nSec-WebSocket-Version: 13\r\n\r\n";
    raw_send(fd, req, sizeof(req) - 1);
    struct bytes in = {0};
    raw_recv_until(fd, &in, 0, "\r\n\r\n");
    ck_assert(memcmp(in.p, "HTTP/1.1 101", 12) == 0);
    ck_assert_ptr_nonnull(
        memmem(in.p, in.len, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", 54));
    ck_assert_ptr_nonnull(memmem(in.p, in.len, "\r\nSec-WebSocket-Protocol: msrp\r\n", 32));
    RUN_UNTIL(W.srv.opened == 1);
    raw_frame(fd, 0x81, "MSRP", 4, true);
    RUN_UNTIL(W.srv.rx.len == 4);
    ck_assert(memcmp(W.srv.rx.p, "MSRP", 4) == 0);
    raw_frame(fd, 0x82, "x", 1, false);
    RUN_UNTIL(W.srv.closed == 1);
    ck_assert_int_eq(W.srv.close_err, EPROTO);
    ck_assert_msg(strstr(W.srv.why, "unmasked") != NULL, "why: %s", W.srv.why);
    bytes_free(&in);
    close(fd);
}
END_TEST

/* ---- msrpload serve --ws ------------------------------------------------------------------ */

/* A SEND of "hello" to uri, with transaction id tid1. */
static size_t send_to(char *buf, size_t cap, const char *uri)
{
    int n = snprintf(buf, cap,
                     "MSRP tid1 SEND\r\nTo-Path: %s\r\nFrom-Path: msrp://c.invalid:9/me;ws\r\n"
                     "Message-ID: msg1\r\nByte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\n"
                     "hello\r\n-------tid1$\r\n",
                     uri);
    ck_assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* serve --ws over a raw socket: the upgrade, then a SEND in one masked frame gets its 200 in
 * one unmasked message holding exactly that response. */
START_TEST(serve_ws_answers_in_one_message)
{
    struct test_serve sv;
    const char *const args[] = {"--ws", NULL};
    test_serve_start(&sv, args);
    ck_assert_msg(strstr(sv.uri, ";ws") != NULL, "uri: %s", sv.uri);
    int fd = raw_connect(sv.port);
    static const char req[] =
        "GET /msrp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Protocol: msrp\r\nSec-WebSocket-Version: 13\r\n\r\n";
    raw_send(fd, req, sizeof(req) - 1);
    struct bytes in = {0};
    raw_recv_until(fd, &in, 0, "\r\n\r\n");
    ck_assert(memcmp(in.p, "HTTP/1.1 101", 12) == 0);
    ck_assert_ptr_nonnull(memmem(in.p, in.len, "\r\nSec-WebSocket-Protocol: msrp\r\n", 32));
    size_t off = after_handshake(&in);

    char chunk[1024];
    size_t n = send_to(chunk, sizeof(chunk), sv.uri);
    unsigned char frame[1100];
    static const unsigned char key[4] = {9, 8, 7, 6};
    frame[0] = 0x82;
    frame[1] = 0x80 | 126;
    frame[2] = (unsigned char)(n >> 8);
    frame[3] = (unsigned char)n;
    memcpy(frame + 4, key, 4);
    for (size_t i = 0; i < n; i++)
        frame[8 + i] = (unsigned char)chunk[i] ^ key[i % 4];
    raw_send(fd, frame, 8 + n);

    struct frame f;
    uint64_t dl = net_now_ns() + WAIT_NS;
    size_t at = off;
    while (!read_frame(&in, &at, &f)) {
        at = off;
        ck_assert_msg(net_now_ns() < dl, "no frame from serve");
        raw_recv_until(fd, &in, in.len + 1, NULL);
    }
    ck_assert(f.fin && !f.masked);
    ck_assert_uint_eq(f.opcode, 0x2);
    ck_assert_msg(f.len > 18 && memcmp(f.payload, "MSRP tid1 200 OK\r\n", 18) == 0, "%.*s",
                  (int)f.len, f.payload);
    struct msrp_chunk_end_scan s = {0};
    ck_assert_uint_eq(msrp_chunk_end_scan(&s, (const char *)f.payload, f.len), f.len);
    bytes_free(&in);
    close(fd);
    ck_assert_int_eq(test_serve_stop(&sv), 0);
}
END_TEST

/* serve --ws --tls (wss) with our client over TLS: the SEND is answered 200. */
START_TEST(serve_wss_answers_our_client)
{
    struct test_serve sv;
    const char *const args[] = {"--ws", "--tls", NULL};
    test_serve_start(&sv, args);
    ck_assert_msg(strncmp(sv.uri, "msrps://", 8) == 0 && strstr(sv.uri, ";ws") != NULL, "uri: %s",
                  sv.uri);
    struct net_tls *any = NULL; /* serve's certificate is a fresh self-signed one */
    char err[256];
    ck_assert_int_eq(net_tls_client_create(&any, NULL, NULL, NULL, err, sizeof(err)), 0);
    static struct net_ws cws;
    struct net_transport_setup tls = net_transport_tls(any);
    struct net_ws_opts co = {.path = "/", .boundary = msrp_ws_boundary};
    struct net_transport_setup cts = net_transport_ws(&cws, &tls, &co);
    connect_via(&cts, sv.port);
    RUN_UNTIL(W.cli.opened == 1 || W.cli.closed == 1);
    ck_assert_msg(W.cli.opened == 1, "closed: %s", W.cli.why);
    char chunk[1024];
    size_t n = send_to(chunk, sizeof(chunk), sv.uri);
    struct iovec v = {chunk, n};
    ck_assert_int_eq(net_conn_send(W.cli.c, &v, 1), 0);
    RUN_UNTIL(W.cli.rx.len > 0 && memmem(W.cli.rx.p, W.cli.rx.len, "-------tid1$\r\n", 14));
    ck_assert_msg(memcmp(W.cli.rx.p, "MSRP tid1 200 OK\r\n", 18) == 0, "%.*s", (int)W.cli.rx.len,
                  W.cli.rx.p);
    net_conn_close(W.cli.c, false);
    W.cli.c = NULL;
    net_tls_destroy(any);
    ck_assert_int_eq(test_serve_stop(&sv), 0);
}
END_TEST

/* ---- MSRP sessions over WebSocket --------------------------------------------------------- */

static struct {
    int bound_client, bound_server, sent, received, ended, client_violations;
    int status;
    uint64_t total, chunks_sent, chunks_received;
    unsigned char sha[32];
} S;

static void s_bound_client(struct msrp_session *s)
{
    (void)s;
    S.bound_client++;
}

static void s_bound_server(struct msrp_session *s)
{
    (void)s;
    S.bound_server++;
}

static void s_sent(struct msrp_session *s, const struct msrp_sent *m)
{
    (void)s;
    S.sent++;
    S.status = m->status;
    S.chunks_sent = m->chunks;
}

static void s_received(struct msrp_session *s, const struct msrp_received *m)
{
    (void)s;
    S.received++;
    S.total = m->info->total;
    S.chunks_received = m->info->chunks;
    memcpy(S.sha, m->info->sha256, 32);
}

static void s_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    (void)s, (void)why, (void)detail;
    S.ended++;
}

static void s_violation(struct msrp_session *s, const struct msrp_peer_violation *v)
{
    (void)s, (void)v;
    S.client_violations++;
}

/*
 * A calling session (msrp_session_connect_via) and an answering one (msrp_server_create_via),
 * both over WebSocket on TCP (_i 0) or TLS (_i 1): a 1 MiB message in 64 KiB chunks arrives
 * whole (SHA-256 checked) and is answered 200 chunk by chunk.
 */
START_TEST(sessions_over_ws)
{
    bool tls = _i;
    memset(&S, 0, sizeof(S));
    static struct net_ws sws, cws;
    struct net_transport_setup slow = tls ? net_transport_tls(W.stls) : net_transport_tcp();
    struct net_transport_setup clow = tls ? net_transport_tls(W.ctls) : net_transport_tcp();
    struct net_ws_opts so = {.server = true, .boundary = msrp_ws_boundary};
    struct net_ws_opts co = {.path = "/msrp", .boundary = msrp_ws_boundary};
    struct net_transport_setup sts = net_transport_ws(&sws, &slow, &so);
    struct net_transport_setup cts = net_transport_ws(&cws, &clow, &co);
    struct msrp_server *srv = NULL;
    char err[256];
    ck_assert_msg(msrp_server_create_via(W.loop, "127.0.0.1", 0, &sts, &srv, err, sizeof(err)) == 0,
                  "%s", err);
    char uri[128], local[128];
    snprintf(uri, sizeof(uri), "%s://%s:%u/srv1;ws", tls ? "msrps" : "msrp",
             tls ? "localhost" : "127.0.0.1", msrp_server_port(srv));
    snprintf(local, sizeof(local), "%s://cli4abcd.invalid/cli1;ws", tls ? "msrps" : "msrp");
    struct msrp_session_config cfg;
    msrp_session_config_default(&cfg);
    cfg.local_uri = uri;
    cfg.accept_types = "*";
    static const struct msrp_session_handlers sh = {
        .on_bound = s_bound_server, .on_received = s_received, .on_end = s_end};
    ck_assert_int_eq(msrp_server_expect(srv, &cfg, &sh, NULL, 0, NULL), 0);

    msrp_session_config_default(&cfg);
    cfg.local_uri = local;
    cfg.peer_path = uri;
    cfg.chunk_size = 65536;
    static const struct msrp_session_handlers ch = {.on_bound = s_bound_client,
                                                    .on_sent = s_sent,
                                                    .on_end = s_end,
                                                    .on_violation = s_violation};
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", msrp_server_port(srv), &ss, &len), 0);
    struct msrp_session *cli;
    ck_assert_int_eq(
        msrp_session_connect_via(W.loop, &cfg, (struct sockaddr *)&ss, len, &cts, &ch, NULL, &cli),
        0);
    RUN_UNTIL(S.bound_client == 1 || S.ended > 0);
    ck_assert_int_eq(S.bound_client, 1);

    size_t size = 1u << 20;
    char *body = malloc(size);
    uint64_t x = 42;
    for (size_t i = 0; i < size; i++)
        body[i] = (char)(test_rand(&x) >> 56);
    unsigned char want[32];
    unsigned n;
    EVP_Digest(body, size, want, &n, EVP_sha256(), NULL);
    struct msrp_send_opts o = {.content_type = "application/octet-stream"};
    ck_assert_int_eq(msrp_session_send(cli, body, size, &o), 0);
    RUN_UNTIL(S.sent == 1 && S.received == 1);
    ck_assert_int_eq(S.status, 200);
    ck_assert_uint_eq(S.total, size);
    ck_assert_uint_eq(S.chunks_sent, 16);
    ck_assert_uint_eq(S.chunks_received, 16);
    ck_assert(memcmp(S.sha, want, 32) == 0);
    msrp_session_close(cli);
    RUN_UNTIL(S.ended == 2);
    free(body);
    msrp_server_destroy(srv);
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

Suite *make_ws_suite(void)
{
    Suite *s = suite_create("ws");
    TCase *tc = tcase_create("Boundaries");
    tcase_add_loop_test(tc, chunk_end_finds_each_chunk, 0, 3);
    tcase_add_test(tc, chunk_end_ignores_other_ids_and_non_chunks);
    tcase_add_test(tc, accept_key_of_rfc7977_example);
    suite_add_tcase(s, tc);

    tc = new_tcase(s, "Echo", 60);
    tcase_add_loop_test(tc, echo_one_chunk_per_message, 0, 4);

    tc = new_tcase(s, "Client", 30);
    tcase_add_loop_test(tc, client_refuses_bad_101, 0, 3);
    tcase_add_test(tc, client_ping_text_and_close);
    tcase_add_test(tc, client_refuses_masked_server_frame);
    tcase_add_test(tc, client_reads_data_before_bad_frame);
    tcase_add_test(tc, client_reads_frames_held_in_buffer);
    tcase_add_test(tc, client_reads_frame_sent_with_101);
    tcase_add_test(tc, chunk_across_two_sends_is_one_message);
    tcase_add_loop_test(tc, chunk_in_pieces_is_one_frame_to_raw_peer, 0, 2);
    tcase_add_test(tc, non_chunk_bytes_leave_as_offered);

    tc = new_tcase(s, "Server", 30);
    tcase_add_loop_test(tc, server_refuses_non_upgrade, 0, N_ELEMS(bad_requests));
    tcase_add_test(tc, server_answers_rfc7977_example);

    tc = new_tcase(s, "Sessions", 60);
    tcase_add_loop_test(tc, sessions_over_ws, 0, 2);

    tc = new_tcase(s, "Serve", 60);
    tcase_add_test(tc, serve_ws_answers_in_one_message);
    tcase_add_test(tc, serve_wss_answers_our_client);
    return s;
}
