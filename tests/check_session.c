/*
 * check_session.c - MSRP endpoints talking over real loopback sockets: binding, chunked
 * transfers checked by SHA-256 (TCP and TLS), response timeouts per Failure-Report, a peer that
 * closes mid-chunk, 481 for unknown sessions, bind timeouts, 1,000 sessions on one thread.
 * Every wait is bounded: a stuck test fails on its deadline instead of hanging.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "msrp/server.h"
#include "msrp/session.h"
#include "net/conn.h"
#include "net/tls.h"
#include "suites.h"
#include "testutil.h"
#include "wire/writer.h"

struct world {
    struct net_loop *loop;
    struct msrp_server *srv;
    struct net_tls *server_tls, *client_tls;
    uint16_t port;
    char dir[64];
    /* outcomes */
    int bound_server, bound_client, received, sent, ended, bind_timeouts;
    int last_status;
    bool last_local;
    enum msrp_session_end last_end;
    unsigned char last_sha[32];
    uint64_t last_total, last_chunks_received, last_chunks_sent;
    int reports;
    int report_status;
    bool last_received_aborted, last_sent_aborted;
};

static struct world W;
static struct msrp_session *last_client; /* the session connect_client() made last */

static void on_bound_server(struct msrp_session *s)
{
    (void)s;
    W.bound_server++;
}

static void on_bound_client(struct msrp_session *s)
{
    (void)s;
    W.bound_client++;
}

static void on_received(struct msrp_session *s, const struct msrp_received *m)
{
    (void)s;
    W.received++;
    W.last_received_aborted = m->aborted;
    memcpy(W.last_sha, m->info->sha256, 32);
    W.last_total = m->info->total;
    W.last_chunks_received = m->info->chunks;
}

static void on_sent(struct msrp_session *s, const struct msrp_sent *m)
{
    (void)s;
    W.sent++;
    W.last_status = m->status;
    W.last_local = m->local;
    W.last_sent_aborted = m->aborted;
    W.last_chunks_sent = m->chunks;
}

static void on_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    (void)s;
    (void)detail;
    W.ended++;
    W.last_end = why;
}

static void on_report(struct msrp_session *s, const struct msrp_report_in *r)
{
    (void)s;
    W.reports++;
    W.report_status = r->status;
}

static const struct msrp_session_handlers server_handlers = {
    .on_bound = on_bound_server, .on_received = on_received, .on_end = on_end};
static const struct msrp_session_handlers client_handlers = {
    .on_bound = on_bound_client, .on_sent = on_sent, .on_end = on_end, .on_report = on_report};

/* Runs the loop until *counter reaches want, or fails after seconds. */
static void run_until(int *counter, int want, double seconds)
{
    uint64_t deadline = net_now_ns() + (uint64_t)(seconds * 1e9);
    while (*counter < want) {
        ck_assert_msg(net_now_ns() < deadline, "timed out waiting (%d of %d)", *counter, want);
        net_loop_run_once(W.loop, 50);
    }
}

static void world_up(bool tls)
{
    memset(&W, 0, sizeof(W));
    ck_assert_int_eq(net_loop_create(&W.loop, 65536), 0);
    char err[256];
    if (tls) {
        snprintf(W.dir, sizeof(W.dir), "/tmp/msrpload-tls-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(W.dir));
        char cert[128], key[128];
        snprintf(cert, sizeof(cert), "%s/cert.pem", W.dir);
        snprintf(key, sizeof(key), "%s/key.pem", W.dir);
        ck_assert_int_eq(net_tls_make_self_signed(cert, key, "localhost", err, sizeof(err)), 0);
        ck_assert_int_eq(net_tls_server_create(&W.server_tls, cert, key, NULL, err, sizeof(err)), 0);
        /* The client verifies the server against the self-signed certificate. */
        ck_assert_int_eq(net_tls_client_create(&W.client_tls, cert, NULL, NULL, err, sizeof(err)), 0);
        unlink(cert);
        unlink(key);
        rmdir(W.dir);
    }
    ck_assert_msg(msrp_server_create(W.loop, "127.0.0.1", 0, W.server_tls, &W.srv, err,
                                     sizeof(err)) == 0, "%s", err);
    W.port = msrp_server_port(W.srv);
}

static void world_down(void)
{
    msrp_server_destroy(W.srv);
    /* Let closing connections finish before the loop goes. */
    for (int i = 0; i < 5; i++)
        net_loop_run_once(W.loop, 10);
    net_loop_destroy(W.loop);
    net_tls_destroy(W.server_tls);
    net_tls_destroy(W.client_tls);
}

static void server_uri(char *out, size_t len, const char *sid, bool tls)
{
    snprintf(out, len, "%s://%s:%u/%s;tcp", tls ? "msrps" : "msrp", tls ? "localhost" : "127.0.0.1",
             W.port, sid);
}

static struct msrp_session *connect_client(const char *peer, const char *sid, bool tls,
                                           uint64_t timeout_ns, size_t chunk)
{
    struct msrp_session_config cfg;
    msrp_session_config_default(&cfg);
    char local[128];
    snprintf(local, sizeof(local), "%s://127.0.0.1:9/%s;tcp", tls ? "msrps" : "msrp", sid);
    cfg.local_uri = local;
    cfg.peer_path = peer;
    if (timeout_ns)
        cfg.response_timeout_ns = timeout_ns;
    if (chunk)
        cfg.chunk_size = chunk;
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", W.port, &ss, &len), 0);
    struct msrp_session *s;
    ck_assert_int_eq(msrp_session_connect(W.loop, &cfg, (struct sockaddr *)&ss, len,
                                          tls ? W.client_tls : NULL, &client_handlers, NULL, &s),
                     0);
    last_client = s;
    return s;
}

static const char *server_accept_types = "*";

static void expect_server(const char *uri, uint64_t bind_timeout, void (*on_timeout)(void *))
{
    struct msrp_session_config cfg;
    msrp_session_config_default(&cfg);
    cfg.local_uri = uri;
    cfg.accept_types = server_accept_types;
    ck_assert_int_eq(msrp_server_expect(W.srv, &cfg, &server_handlers, NULL, bind_timeout,
                                        on_timeout),
                     0);
}

static char *pattern_body(size_t len)
{
    char *b = malloc(len ? len : 1);
    uint64_t x = len * 2654435761u + 1;
    for (size_t i = 0; i < len; i++)
        b[i] = (char)(test_rand(&x) >> 56);
    return b;
}

/* ---- transfers ---------------------------------------------------------------------------- */

struct transfer_case {
    size_t size, chunk;
    bool tls;
};

static const struct transfer_case transfers[] = {
    {0, 2048, false},        {1, 1, false},           {100, 1, false},
    {3000, 1, false},        {2048, 2048, false},     {2049, 2048, false},
    {100000, 2048, false},   {1 << 20, 65536, false}, {5 << 20, 4096, false},
    {64 << 20, 1 << 20, false}, {100000, 2048, true}, {8 << 20, 65536, true},
};

START_TEST(transfer_sizes)
{
    const struct transfer_case *tc = &transfers[_i];
    world_up(tc->tls);
    char uri[128];
    server_uri(uri, sizeof(uri), "srv1", tc->tls);
    expect_server(uri, 0, NULL);
    connect_client(uri, "cli1", tc->tls, 0, tc->chunk);
    run_until(&W.bound_client, 1, 10);
    ck_assert_int_eq(W.bound_server, 1);

    char *body = pattern_body(tc->size);
    unsigned char want[32];
    unsigned n;
    EVP_Digest(body, tc->size, want, &n, EVP_sha256(), NULL);
    struct msrp_send_opts o = {.content_type = "application/octet-stream"};
    ck_assert_int_eq(msrp_session_send(last_client, body, tc->size, &o), 0);
    run_until(&W.sent, 1, 60);
    run_until(&W.received, 1, 10);
    ck_assert_int_eq(W.last_status, 200);
    ck_assert(!W.last_local);
    ck_assert_uint_eq(W.last_total, tc->size);
    ck_assert(memcmp(W.last_sha, want, 32) == 0);
    uint64_t chunks = tc->size == 0 ? 1 : (tc->size + tc->chunk - 1) / tc->chunk;
    ck_assert_uint_eq(W.last_chunks_sent, chunks);
    ck_assert_uint_eq(W.last_chunks_received, chunks);
    msrp_session_close(last_client);
    run_until(&W.ended, 2, 10);
    free(body);
    world_down();
}
END_TEST

START_TEST(unknown_session_gets_481)
{
    world_up(false);
    char uri[128];
    server_uri(uri, sizeof(uri), "nobody-expects-this", false);
    connect_client(uri, "cli2", false, 0, 0);
    run_until(&W.ended, 1, 10);
    ck_assert_int_eq(W.last_end, MSRP_END_BIND_REJECTED);
    ck_assert_uint_eq(msrp_server_refused(W.srv), 1);
    ck_assert_int_eq(W.bound_client, 0);
    world_down();
}
END_TEST

static void count_bind_timeout(void *user)
{
    (void)user;
    W.bind_timeouts++;
}

START_TEST(bind_timeout_reported)
{
    world_up(false);
    char uri[128];
    server_uri(uri, sizeof(uri), "late", false);
    expect_server(uri, 100 * 1000000ull, count_bind_timeout);
    run_until(&W.bind_timeouts, 1, 5);
    /* Once timed out, the session is no longer expected: a late peer gets 481. */
    connect_client(uri, "cli3", false, 0, 0);
    run_until(&W.ended, 1, 10);
    ck_assert_int_eq(W.last_end, MSRP_END_BIND_REJECTED);
    world_down();
}
END_TEST

/* ---- a raw peer that misbehaves on purpose ------------------------------------------------ */

enum raw_mode { RAW_SILENT_AFTER_BIND, RAW_CLOSE_MID_CHUNK };

struct raw_peer {
    enum raw_mode mode;
    struct msrp_parser parser;
    int requests;
    uint64_t bytes;
};

static struct raw_peer RAW;

static size_t raw_data(struct net_conn *c, const char *buf, size_t len)
{
    RAW.bytes += len;
    size_t used = 0;
    while (used < len) {
        struct msrp_header h[32];
        struct msrp_chunk ch = {.headers = h, .headers_cap = 32};
        ssize_t r = msrp_parse(&RAW.parser, buf + used, len - used, &ch);
        if (r <= 0)
            break;
        used += (size_t)r;
        if (ch.has_head && RAW.mode == RAW_CLOSE_MID_CHUNK && RAW.requests == 1) {
            net_conn_close(c, false); /* the second request's head: hang up mid-chunk */
            return len;
        }
        if (ch.flag == 0)
            continue;
        if (RAW.requests++ == 0) {
            /* Answer only the binding SEND. */
            const struct msrp_header *from = msrp_chunk_header(&ch, MSRP_H_FROM_PATH);
            const struct msrp_header *to = msrp_chunk_header(&ch, MSRP_H_TO_PATH);
            struct msrp_out out = {.kind = MSRP_RESPONSE, .tid = ch.tid, .status = 200,
                                   .comment = MSRP_SPAN_LIT("OK"), .to_path = from->value,
                                   .from_path = to->value};
            char head[2048];
            struct msrp_wire_chunk w;
            ck_assert_int_eq(msrp_write(&out, NULL, head, sizeof(head), &w), 0);
            net_conn_send(c, w.iov, w.iovcnt);
        }
    }
    return used;
}

static const struct net_conn_handlers raw_handlers = {.on_data = raw_data};

static void raw_accept(struct net_listener *l, struct net_conn *c)
{
    (void)l;
    struct msrp_limits lim;
    msrp_limits_default(&lim);
    lim.segment_cap = 0;
    msrp_parser_init(&RAW.parser, &lim);
    net_conn_set_handlers(c, &raw_handlers);
}

static struct net_listener *raw_listen(enum raw_mode mode, uint16_t *port)
{
    memset(&RAW, 0, sizeof(RAW));
    RAW.mode = mode;
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", 0, &ss, &len), 0);
    struct net_listener *l;
    char err[128];
    ck_assert_int_eq(net_listener_open(W.loop, (struct sockaddr *)&ss, len, NULL, raw_accept, NULL,
                                       NULL, &l, err, sizeof(err)),
                     0);
    *port = net_listener_port(l);
    return l;
}

struct timeout_case {
    enum msrp_report fr;
    int status;
    bool local;
};

static const struct timeout_case timeouts[] = {
    {MSRP_REPORT_ABSENT, 408, true},
    {MSRP_REPORT_YES, 408, true},
    {MSRP_REPORT_PARTIAL, 200, true},
    {MSRP_REPORT_NO, 200, true},
};

START_TEST(silent_peer_timeouts)
{
    const struct timeout_case *tc = &timeouts[_i];
    world_up(false);
    uint16_t port;
    struct net_listener *l = raw_listen(RAW_SILENT_AFTER_BIND, &port);
    W.port = port;
    char uri[128];
    server_uri(uri, sizeof(uri), "silent", false);
    connect_client(uri, "cli4", false, 150 * 1000000ull, 0);
    run_until(&W.bound_client, 1, 10);
    struct msrp_send_opts o = {.failure_report = tc->fr};
    uint64_t start = net_now_ns();
    ck_assert_int_eq(msrp_session_send(last_client, "hello", 5, &o), 0);
    run_until(&W.sent, 1, 10);
    ck_assert_int_eq(W.last_status, tc->status);
    ck_assert_int_eq(W.last_local, tc->local);
    /* Only Failure-Report: no settles without waiting for the timer. */
    uint64_t waited = net_now_ns() - start;
    if (tc->fr == MSRP_REPORT_NO)
        ck_assert_uint_lt(waited, 150 * 1000000ull);
    else
        ck_assert_uint_ge(waited, 150 * 1000000ull);
    run_until(&RAW.requests, 2, 5); /* with Failure-Report: no it may still be on its way */
    msrp_session_close(last_client);
    run_until(&W.ended, 1, 5);
    net_listener_close(l);
    world_down();
}
END_TEST

START_TEST(peer_closes_mid_chunk)
{
    world_up(false);
    uint16_t port;
    struct net_listener *l = raw_listen(RAW_CLOSE_MID_CHUNK, &port);
    W.port = port;
    char uri[128];
    server_uri(uri, sizeof(uri), "closer", false);
    connect_client(uri, "cli5", false, 0, 1 << 20);
    run_until(&W.bound_client, 1, 10);
    char *body = pattern_body(4 << 20);
    ck_assert_int_eq(msrp_session_send(last_client, body, 4 << 20, NULL), 0);
    run_until(&W.ended, 1, 10);
    ck_assert_int_eq(W.last_end, MSRP_END_PEER_CLOSED);
    ck_assert_int_eq(W.sent, 1);
    ck_assert_int_eq(W.last_status, 0); /* lost with the connection */
    free(body);
    net_listener_close(l);
    world_down();
}
END_TEST

/* ---- many sessions ------------------------------------------------------------------------ */

START_TEST(thousand_sessions_one_thread)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 4200 && rl.rlim_max >= 4200) {
        rl.rlim_cur = 4200;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    world_up(false);
    enum { N = 1000 };
    static struct msrp_session *clients[N];
    for (int i = 0; i < N; i++) {
        char uri[128], sid[32];
        snprintf(sid, sizeof(sid), "s%04d", i);
        server_uri(uri, sizeof(uri), sid, false);
        expect_server(uri, 0, NULL);
        char csid[32];
        snprintf(csid, sizeof(csid), "c%04d", i);
        clients[i] = connect_client(uri, csid, false, 0, 0);
    }
    run_until(&W.bound_client, N, 30);
    ck_assert_int_eq(W.bound_server, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(msrp_session_send(clients[i], "0123456789", 10, NULL), 0);
    run_until(&W.sent, N, 30);
    run_until(&W.received, N, 10);
    ck_assert_int_eq(W.last_status, 200);
    for (int i = 0; i < N; i++)
        msrp_session_close(clients[i]);
    run_until(&W.ended, 2 * N, 30);
    world_down();
}
END_TEST

START_TEST(success_report_arrives)
{
    world_up(false);
    char uri[128];
    server_uri(uri, sizeof(uri), "reporter", false);
    expect_server(uri, 0, NULL);
    connect_client(uri, "cli6", false, 0, 1000);
    run_until(&W.bound_client, 1, 10);
    char *body = pattern_body(5000);
    struct msrp_send_opts o = {.success_report = MSRP_REPORT_YES};
    ck_assert_int_eq(msrp_session_send(last_client, body, 5000, &o), 0);
    run_until(&W.reports, 1, 10);
    ck_assert_int_eq(W.report_status, 200);
    run_until(&W.sent, 1, 10);
    msrp_session_close(last_client);
    run_until(&W.ended, 2, 10);
    free(body);
    world_down();
}
END_TEST

/* ---- sending variants: unknown totals, interruption, abort (RFC 4975 section 7.1.1) ------ */

struct variant_case {
    bool unknown_total;
    uint64_t interrupt_after, abort_after;
    uint64_t chunks;   /* chunks the sender writes */
    bool aborted;
};

static const struct variant_case variants[] = {
    {true, 0, 0, 3, false},    /* 3000 bytes in 1000-byte chunks, total "*" */
    {false, 1500, 0, 4, false}, /* 1000, 500 (interrupted, end "*"), 1000, 500 */
    {true, 1500, 0, 4, false},
    {false, 0, 1500, 2, true},  /* 1000, then 500 ending in "#" */
    {false, 0, 3000, 3, true},  /* the last chunk itself ends in "#" */
};

START_TEST(send_variants)
{
    const struct variant_case *vc = &variants[_i];
    world_up(false);
    char uri[128];
    server_uri(uri, sizeof(uri), "variants", false);
    expect_server(uri, 0, NULL);
    connect_client(uri, "cli7", false, 0, 1000);
    run_until(&W.bound_client, 1, 10);
    char *body = pattern_body(3000);
    unsigned char want[32];
    unsigned n;
    EVP_Digest(body, 3000, want, &n, EVP_sha256(), NULL);
    struct msrp_send_opts o = {.unknown_total = vc->unknown_total,
                               .interrupt_after = vc->interrupt_after,
                               .abort_after = vc->abort_after};
    ck_assert_int_eq(msrp_session_send(last_client, body, 3000, &o), 0);
    run_until(&W.sent, 1, 10);
    run_until(&W.received, 1, 10);
    ck_assert_int_eq(W.last_status, 200);
    ck_assert_uint_eq(W.last_chunks_sent, vc->chunks);
    ck_assert_int_eq(W.last_sent_aborted, vc->aborted);
    ck_assert_int_eq(W.last_received_aborted, vc->aborted);
    if (!vc->aborted) {
        ck_assert_uint_eq(W.last_total, 3000);
        ck_assert(memcmp(W.last_sha, want, 32) == 0);
    }
    msrp_session_close(last_client);
    run_until(&W.ended, 2, 10);
    free(body);
    world_down();
}
END_TEST

/* ---- Failure-Report x Success-Report x outcome -------------------------------------------- */

struct report_case {
    enum msrp_report fr, sr;
    bool refused;      /* the receiver refuses the Content-Type (415) */
    int status;        /* the sender's outcome */
    bool local;        /* made up by the sender, not answered by the peer */
    int reports;       /* success REPORTs that arrive */
};

static const struct report_case report_cases[] = {
    {MSRP_REPORT_ABSENT, MSRP_REPORT_ABSENT, false, 200, false, 0},
    {MSRP_REPORT_ABSENT, MSRP_REPORT_YES, false, 200, false, 1},
    {MSRP_REPORT_ABSENT, MSRP_REPORT_NO, false, 200, false, 0},
    {MSRP_REPORT_YES, MSRP_REPORT_ABSENT, false, 200, false, 0},
    {MSRP_REPORT_YES, MSRP_REPORT_YES, false, 200, false, 1},
    {MSRP_REPORT_YES, MSRP_REPORT_NO, false, 200, false, 0},
    {MSRP_REPORT_PARTIAL, MSRP_REPORT_ABSENT, false, 200, true, 0},
    {MSRP_REPORT_PARTIAL, MSRP_REPORT_YES, false, 200, true, 1},
    {MSRP_REPORT_PARTIAL, MSRP_REPORT_NO, false, 200, true, 0},
    {MSRP_REPORT_NO, MSRP_REPORT_ABSENT, false, 200, true, 0},
    {MSRP_REPORT_NO, MSRP_REPORT_YES, false, 200, true, 1},
    {MSRP_REPORT_NO, MSRP_REPORT_NO, false, 200, true, 0},
    {MSRP_REPORT_ABSENT, MSRP_REPORT_ABSENT, true, 415, false, 0},
    {MSRP_REPORT_ABSENT, MSRP_REPORT_YES, true, 415, false, 0},
    {MSRP_REPORT_YES, MSRP_REPORT_ABSENT, true, 415, false, 0},
    {MSRP_REPORT_YES, MSRP_REPORT_YES, true, 415, false, 0},
    {MSRP_REPORT_PARTIAL, MSRP_REPORT_ABSENT, true, 415, false, 0},
    {MSRP_REPORT_PARTIAL, MSRP_REPORT_YES, true, 415, false, 0},
    {MSRP_REPORT_NO, MSRP_REPORT_ABSENT, true, 200, true, 0},
    {MSRP_REPORT_NO, MSRP_REPORT_YES, true, 200, true, 0},
};

START_TEST(report_table)
{
    const struct report_case *rc = &report_cases[_i];
    world_up(false);
    server_accept_types = "text/plain";
    char uri[128];
    server_uri(uri, sizeof(uri), "table", false);
    expect_server(uri, 0, NULL);
    server_accept_types = "*";
    connect_client(uri, "cli8", false, 100 * 1000000ull, 0);
    run_until(&W.bound_client, 1, 10);
    struct msrp_send_opts o = {.content_type = rc->refused ? "image/png" : "text/plain",
                               .failure_report = rc->fr,
                               .success_report = rc->sr};
    ck_assert_int_eq(msrp_session_send(last_client, "hello", 5, &o), 0);
    run_until(&W.sent, 1, 10);
    ck_assert_int_eq(W.last_status, rc->status);
    ck_assert_int_eq(W.last_local, rc->local);
    if (rc->reports > 0)
        run_until(&W.reports, rc->reports, 5);
    /* Give a REPORT that should not come the time to arrive, then check it did not. */
    for (int k = 0; k < 5; k++)
        net_loop_run_once(W.loop, 20);
    ck_assert_int_eq(W.reports, rc->reports);
    if (rc->reports > 0)
        ck_assert_int_eq(W.report_status, 200);
    ck_assert_int_eq(W.received, rc->refused ? 0 : 1);
    msrp_session_close(last_client);
    run_until(&W.ended, 2, 10);
    world_down();
}
END_TEST

Suite *make_session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("Transfer");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, transfer_sizes, 0, (int)(sizeof(transfers) / sizeof(transfers[0])));
    tcase_add_test(tc, success_report_arrives);
    tcase_add_loop_test(tc, send_variants, 0, (int)(sizeof(variants) / sizeof(variants[0])));
    tcase_add_loop_test(tc, report_table, 0,
                        (int)(sizeof(report_cases) / sizeof(report_cases[0])));
    suite_add_tcase(s, tc);
    tc = tcase_create("Binding");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, unknown_session_gets_481);
    tcase_add_test(tc, bind_timeout_reported);
    suite_add_tcase(s, tc);
    tc = tcase_create("Peers");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, silent_peer_timeouts, 0, (int)(sizeof(timeouts) / sizeof(timeouts[0])));
    tcase_add_test(tc, peer_closes_mid_chunk);
    suite_add_tcase(s, tc);
    tc = tcase_create("Scale");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, thousand_sessions_one_thread);
    suite_add_tcase(s, tc);
    return s;
}
