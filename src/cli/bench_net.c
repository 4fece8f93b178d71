/*
 * bench_net.c - network figures of `msrpload bench`: raw loopback TCP (the limit), MSRP end to
 * end with 64 KiB chunks over TCP and over TLS (beside the raw TLS loop of bench_tls.c, with
 * the same contexts), small transactions with their p99 latency, and the memory an idle
 * bound session costs. Both ends run in this process on their own threads and loops (the
 * answering side of the memory figure runs in a child process, so that only the calling
 * sessions are measured). Every figure runs for a fixed time and stops by itself.
 *
 * Owns: the network figures' set-up and timing. May not touch: msrp/ and net/ internals (it
 * drives sessions and loops through their public headers only).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/bench.h"
#include "msrp/server.h"
#include "msrp/session.h"
#include "net/loop.h"
#include "net/transport_ws.h"

static void figure(const char *name, double value, const char *unit)
{
    printf("bench %s %.0f %s\n", name, value, unit);
    fflush(stdout);
}

static void die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

/* ---- raw TCP ------------------------------------------------------------------------------ */

struct raw_writer {
    int fd;
    volatile int stop;
};

static void *raw_write_loop(void *arg)
{
    struct raw_writer *w = arg;
    /* Large writes and reads: the limit is what the kernel moves at its best. */
    static char buf[1 << 20];
    while (!w->stop)
        if (send(w->fd, buf, sizeof(buf), MSG_NOSIGNAL) < 0)
            break;
    return NULL;
}

void bench_loopback_pair(int *client, int *server)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, len) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) != 0)
        die("cannot listen on 127.0.0.1");
    *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*client < 0 || connect(*client, (struct sockaddr *)&sa, len) != 0)
        die("cannot connect to 127.0.0.1");
    *server = accept(l, NULL, NULL);
    close(l);
    if (*server < 0)
        die("cannot accept on 127.0.0.1");
    /* As conn.c sets on every connection it makes. */
    int one = 1;
    setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/*
 * Both throughput figures are the best of three windows: on a shared 2-core machine one slow
 * window says more about the neighbours than about the code, and the limit must not be
 * underestimated.
 */
#define WINDOWS 3

static double bench_tcp_raw(double seconds)
{
    int wfd, rfd;
    bench_loopback_pair(&wfd, &rfd);
    struct raw_writer w = {.fd = wfd};
    pthread_t t;
    pthread_create(&t, NULL, raw_write_loop, &w);
    static char buf[1 << 20];
    double best = 0;
    for (int k = 0; k < WINDOWS; k++) {
        uint64_t bytes = 0;
        double start = bench_now();
        while (bench_now() - start < seconds / WINDOWS) {
            ssize_t n = read(rfd, buf, sizeof(buf));
            if (n <= 0)
                die("raw read failed");
            bytes += (uint64_t)n;
        }
        double rate = (double)bytes / (bench_now() - start);
        best = rate > best ? rate : best;
    }
    w.stop = 1;
    shutdown(rfd, SHUT_RDWR);
    close(rfd);
    pthread_join(t, NULL);
    close(wfd);
    figure("tcp_raw_bytes_per_s", best, "bytes/s");
    return best;
}

/* ---- the answering side on its own thread ------------------------------------------------- */

struct answer_side {
    struct net_loop *loop;
    struct msrp_server *srv;
    uint16_t port;
    pthread_t thread;
    uint64_t received_bytes; /* written by the answering thread, read with atomics */
    uint64_t received_msgs;
};

static void answer_received(struct msrp_session *s, const struct msrp_received *m)
{
    struct answer_side *a = msrp_session_user(s);
    __atomic_add_fetch(&a->received_bytes, m->info->total, __ATOMIC_RELAXED);
    __atomic_add_fetch(&a->received_msgs, 1, __ATOMIC_RELAXED);
}

static const struct msrp_session_handlers answer_handlers = {.on_received = answer_received};

static void *answer_run(void *arg)
{
    struct answer_side *a = arg;
    net_loop_run(a->loop);
    msrp_session_abort_all(); /* this thread's answering sessions */
    return NULL;
}

/*
 * What the two ends talk over: tls NULL for plain TCP, else msrps with that context; ws: a
 * WebSocket (RFC 7977) on top, one chunk per message, the URIs' transport parameter "ws".
 */
struct bench_link {
    struct net_tls *tls;
    bool ws;
};

static const struct bench_link plain_tcp = {NULL, false};
static struct net_ws ws_answer, ws_call; /* the ws transports' makers (read only once made) */

/* The transport of one end of link: server true for the answering side's listener. */
static struct net_transport_setup link_transport(const struct bench_link *l, bool server)
{
    struct net_transport_setup below = l->tls ? net_transport_tls(l->tls) : net_transport_tcp();
    if (!l->ws)
        return below;
    struct net_ws_opts o = {.server = server, .boundary = msrp_ws_boundary};
    return net_transport_ws(server ? &ws_answer : &ws_call, &below, &o);
}

static void answer_start(struct answer_side *a, int sessions, const struct bench_link *l)
{
    memset(a, 0, sizeof(*a));
    char err[256];
    struct net_transport_setup ts = link_transport(l, true);
    if (net_loop_create(&a->loop, 65536) != 0 ||
        msrp_server_create_via(a->loop, "127.0.0.1", 0, &ts, &a->srv, err, sizeof(err)) != 0)
        die("cannot start the answering side");
    a->port = msrp_server_port(a->srv);
    for (int i = 0; i < sessions; i++) {
        char uri[96];
        snprintf(uri, sizeof(uri), "%s://127.0.0.1:%u/bench%05d;%s", l->tls ? "msrps" : "msrp",
                 a->port, i, l->ws ? "ws" : "tcp");
        struct msrp_session_config cfg;
        msrp_session_config_default(&cfg);
        cfg.local_uri = uri;
        cfg.reasm.no_digest = true; /* measure MSRP and the transport, not SHA-256 */
        if (msrp_server_expect(a->srv, &cfg, &answer_handlers, a, 0, NULL) != 0)
            die("cannot expect a session");
    }
    pthread_create(&a->thread, NULL, answer_run, a);
}

static void answer_stop(struct answer_side *a)
{
    net_loop_stop(a->loop);
    net_loop_wake(a->loop);
    pthread_join(a->thread, NULL);
    msrp_server_destroy(a->srv);
    net_loop_destroy(a->loop);
}

/* ---- the calling side --------------------------------------------------------------------- */

struct caller {
    struct msrp_session *s;
    int bound;
    int in_flight;
    bool ended;
};

struct calling_side {
    struct net_loop *loop;
    struct caller *callers;
    int n;
    int bound;
    const char *body;
    size_t body_len, chunk;
    enum msrp_report fr;
    int depth;            /* messages kept in flight per session */
    bool sending;
    uint64_t done_msgs;
    uint64_t *lat_ns;     /* chunk latencies, when collected */
    size_t lat_n, lat_cap;
};

static struct calling_side C;

static void top_up(struct caller *c)
{
    while (C.sending && !c->ended && c->in_flight < C.depth && !msrp_session_congested(c->s)) {
        struct msrp_send_opts o = {.content_type = "text/plain", .failure_report = C.fr,
                                   .chunk_size = C.chunk, .cookie = c};
        if (msrp_session_send(c->s, C.body, C.body_len, &o) != 0)
            return;
        c->in_flight++;
    }
}

static void caller_bound(struct msrp_session *s)
{
    struct caller *c = msrp_session_user(s);
    c->bound = 1;
    C.bound++;
}

static void caller_sent(struct msrp_session *s, const struct msrp_sent *m)
{
    struct caller *c = msrp_session_user(s);
    c->in_flight--;
    if (m->status == 200)
        C.done_msgs++;
    top_up(c);
}

static void caller_chunk(struct msrp_session *s, const struct msrp_chunk_result *r)
{
    (void)s;
    if (C.lat_ns != NULL && C.lat_n < C.lat_cap && r->status == 200)
        C.lat_ns[C.lat_n++] = r->done_ns - r->sent_ns;
}

static void caller_writable(struct msrp_session *s)
{
    top_up(msrp_session_user(s));
}

static void caller_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    struct caller *c = msrp_session_user(s);
    c->ended = true;
    if (why != MSRP_END_CLOSED && C.sending)
        fprintf(stderr, "bench: a session ended: %s %s\n", msrp_session_end_name(why), detail);
}

static const struct msrp_session_handlers caller_handlers = {
    .on_bound = caller_bound,
    .on_sent = caller_sent,
    .on_chunk_result = caller_chunk,
    .on_writable = caller_writable,
    .on_end = caller_end,
};

static void callers_connect(int n, uint16_t port, const struct bench_link *l, double timeout)
{
    const char *scheme = l->tls ? "msrps" : "msrp", *param = l->ws ? "ws" : "tcp";
    struct net_transport_setup ts = link_transport(l, false);
    C.callers = calloc((size_t)n, sizeof(*C.callers));
    C.n = n;
    C.bound = 0;
    struct sockaddr_storage ss;
    socklen_t len;
    net_addr_resolve("127.0.0.1", port, &ss, &len);
    for (int i = 0; i < n; i++) {
        char peer[96], local[96];
        snprintf(peer, sizeof(peer), "%s://127.0.0.1:%u/bench%05d;%s", scheme, port, i, param);
        snprintf(local, sizeof(local), "%s://127.0.0.1:9/caller%05d;%s", scheme, i, param);
        struct msrp_session_config cfg;
        msrp_session_config_default(&cfg);
        cfg.local_uri = local;
        cfg.peer_path = peer;
        cfg.reasm.no_digest = true;
        if (msrp_session_connect_via(C.loop, &cfg, (struct sockaddr *)&ss, len, &ts,
                                     &caller_handlers, &C.callers[i], &C.callers[i].s) != 0)
            die("cannot connect a session");
    }
    double start = bench_now();
    while (C.bound < n) {
        if (bench_now() - start > timeout)
            die("sessions did not bind in time");
        net_loop_run_once(C.loop, 50);
    }
}

static void callers_close(void)
{
    C.sending = false;
    for (int i = 0; i < C.n; i++)
        if (!C.callers[i].ended)
            msrp_session_close(C.callers[i].s);
    double start = bench_now();
    for (;;) {
        int open = 0;
        for (int i = 0; i < C.n; i++)
            open += !C.callers[i].ended;
        if (open == 0 || bench_now() - start > 10)
            break;
        net_loop_run_once(C.loop, 20);
    }
    free(C.callers);
    C.callers = NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Runs n sessions each keeping `depth` messages in flight for `seconds` after a short warm-up.
 * Returns the answering side's received payload bytes per second; messages per second and the
 * latencies are left in C.
 */
static double run_traffic(struct answer_side *a, int n, int depth, double seconds,
                          const struct bench_link *l, double *msgs_per_s)
{
    if (net_loop_create(&C.loop, 65536) != 0)
        die("cannot create a loop");
    callers_connect(n, a->port, l, 10);
    C.depth = depth;
    C.sending = true;
    for (int i = 0; i < n; i++)
        top_up(&C.callers[i]);
    double warm = bench_now() + seconds * 0.2;
    while (bench_now() < warm)
        net_loop_run_once(C.loop, 10);
    double best_bytes = 0, best_msgs = 0;
    C.lat_n = 0;
    for (int k = 0; k < WINDOWS; k++) {
        uint64_t b0 = __atomic_load_n(&a->received_bytes, __ATOMIC_RELAXED);
        uint64_t m0 = C.done_msgs;
        double start = bench_now();
        while (bench_now() - start < seconds / WINDOWS)
            net_loop_run_once(C.loop, 10);
        double elapsed = bench_now() - start;
        uint64_t b1 = __atomic_load_n(&a->received_bytes, __ATOMIC_RELAXED);
        double bytes = (double)(b1 - b0) / elapsed, msgs = (double)(C.done_msgs - m0) / elapsed;
        best_bytes = bytes > best_bytes ? bytes : best_bytes;
        best_msgs = msgs > best_msgs ? msgs : best_msgs;
    }
    *msgs_per_s = best_msgs;
    callers_close();
    msrp_session_abort_all(); /* any caller that did not close within the bound */
    net_loop_destroy(C.loop);
    return best_bytes;
}

/*
 * One connection, 64 KiB chunks of 4 MiB messages, 4 in flight: over TCP (tls NULL) or over
 * TLS with the bench's contexts, either under a WebSocket when ws. The name prefix says which
 * ("e2e_64k", "e2e_tls_64k", "e2e_ws_64k"). Returns the rate.
 */
static double bench_e2e_64k(double seconds, double raw, const struct bench_tls *tls, bool ws,
                          const char *name)
{
    struct bench_link answer_link = {tls ? tls->server : NULL, ws};
    struct bench_link call_link = {tls ? tls->client : NULL, ws};
    static char body[4 << 20];
    memset(body, 'x', sizeof(body));
    struct answer_side a;
    answer_start(&a, 1, &answer_link);
    memset(&C, 0, sizeof(C));
    C.body = body;
    C.body_len = sizeof(body);
    C.chunk = 64 * 1024;
    C.fr = MSRP_REPORT_NO;
    double msgs;
    double rate = run_traffic(&a, 1, 4, seconds, &call_link, &msgs);
    answer_stop(&a);
    char full[64];
    snprintf(full, sizeof(full), "%s_bytes_per_s", name);
    figure(full, rate, "bytes/s");
    snprintf(full, sizeof(full), "%s_percent_of_raw", name);
    if (raw > 0)
        figure(full, 100.0 * rate / raw, "%");
    return rate;
}

static void bench_e2e_small(double seconds)
{
    static char body[100];
    memset(body, 'y', sizeof(body));
    struct answer_side a;
    answer_start(&a, 100, &plain_tcp);
    memset(&C, 0, sizeof(C));
    C.body = body;
    C.body_len = sizeof(body);
    C.chunk = 2048;
    C.fr = MSRP_REPORT_YES;
    C.lat_cap = 20u << 20;
    C.lat_ns = malloc(C.lat_cap * sizeof(*C.lat_ns));
    double msgs;
    run_traffic(&a, 100, 8, seconds, &plain_tcp, &msgs);
    answer_stop(&a);
    figure("e2e_small_tx_per_s", msgs, "tx/s");
    if (C.lat_n > 0) {
        qsort(C.lat_ns, C.lat_n, sizeof(*C.lat_ns), cmp_u64);
        figure("e2e_small_p50_us", (double)C.lat_ns[C.lat_n / 2] / 1e3, "us");
        figure("e2e_small_p99_us", (double)C.lat_ns[C.lat_n * 99 / 100] / 1e3, "us");
    }
    free(C.lat_ns);
}

/* ---- memory per idle session ------------------------------------------------------------- */

static long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2)
        die("cannot read /proc/self/statm");
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void raise_fd_limit(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void bench_idle_rss(int n)
{
    raise_fd_limit((rlim_t)n + 256);
    int ready[2];
    if (pipe(ready) != 0)
        die("pipe");
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        /* The answering side, alone in its process. */
        close(ready[0]);
        struct answer_side a;
        answer_start(&a, n, &plain_tcp);
        ssize_t w = write(ready[1], &a.port, sizeof(a.port));
        (void)w;
        pause(); /* until the parent's SIGTERM */
        _exit(0);
    }
    close(ready[1]);
    uint16_t port = 0;
    if (read(ready[0], &port, sizeof(port)) != sizeof(port))
        die("the answering process did not start");
    close(ready[0]);
    memset(&C, 0, sizeof(C));
    if (net_loop_create(&C.loop, (size_t)n + 1024) != 0)
        die("cannot create a loop");
    long before = resident_bytes();
    callers_connect(n, port, &plain_tcp, 60);
    for (int i = 0; i < 20; i++)
        net_loop_run_once(C.loop, 5); /* let every binding settle */
    long after = resident_bytes();
    figure("idle_session_rss_bytes", (double)(after - before) / n, "bytes");
    callers_close();
    msrp_session_abort_all(); /* any caller that did not close within the bound */
    net_loop_destroy(C.loop);
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
}

void bench_net(double seconds, const char *only)
{
    double raw = 0;
    if (bench_selected("tcp_raw", only) || bench_selected("e2e_64k", only))
        raw = bench_tcp_raw(seconds);
    if (bench_selected("e2e_64k", only) || bench_selected("e2e_ws_64k", only))
        raw = raw > 0 ? raw : bench_tcp_raw(seconds);
    /* e2e_ws_64k is also given as a share of e2e_64k of the same run (issue 17's goal). */
    double e2e = 0;
    if (bench_selected("e2e_64k", only) || bench_selected("e2e_ws_64k", only))
        e2e = bench_e2e_64k(seconds, raw, NULL, false, "e2e_64k");
    /* The same over a WebSocket on TCP, beside the same raw TCP limit and MSRP over TCP. */
    if (bench_selected("e2e_ws_64k", only)) {
        double ws = bench_e2e_64k(seconds, raw, NULL, true, "e2e_ws_64k");
        if (e2e > 0)
            figure("e2e_ws_64k_percent_of_e2e", 100.0 * ws / e2e, "%");
    }
    if (bench_selected("tls_raw", only) || bench_selected("e2e_tls_64k", only)) {
        /* The TLS pair: its limit first, then MSRP over the same contexts. */
        struct bench_tls tls;
        bench_tls_open(&tls);
        double tls_raw = bench_tls_raw(seconds, &tls);
        if (bench_selected("e2e_tls_64k", only))
            (void)bench_e2e_64k(seconds, tls_raw, &tls, false, "e2e_tls_64k");
        bench_tls_close(&tls);
    }
    if (bench_selected("e2e_small", only))
        bench_e2e_small(seconds);
    if (bench_selected("idle_session", only))
        bench_idle_rss(10000);
}
