/*
 * check_relay_run.c - sessions and whole runs through a real Kamailio 5.6 MSRP relay
 * (tools/relay/, RFC 4976), at two levels:
 *
 *  - session level: alice and bob each AUTH with the relay (msrp/relay.h), their connections
 *    are adopted by sessions (msrp_session_adopt) with the RFC 4976 paths the runner uses
 *    (alice calls with To-Path "UA UB bobURI", bob answers expecting From-Path
 *    "UB UA aliceURI"), and chunked messages go both ways; the SHA-256 that bob's reassembly
 *    reports is checked against a hash computed here with EVP over exactly the bytes sent.
 *  - binary level: `msrpload run --relay ...` as a user runs it, with summary.json read back
 *    with jansson.
 *
 * One relay per tcase (unchecked fixtures): TCP with RELAY_EXPIRES_MIN=2 (so that refreshes
 * can be seen within seconds), and one with TLS. Every wait is bounded, every msrpload run is
 * under `timeout 60`. Without Kamailio every test prints why it is skipped and returns (a
 * counted skip; a failure under REQUIRE_RELAY=1, see tests/testutil.h).
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "msrp/relay.h"
#include "msrp/session.h"
#include "net/conn.h"
#include "net/loop.h"
#include "net/tls.h"
#include "suites.h"
#include "testutil.h"

static struct test_relay K;

/* ---- session level ------------------------------------------------------------------------- */

#define NMSG 3
#define MSG_SIZE 40000
#define BACK_SIZE 20000
#define CHUNK 4096
#define MAXRX 8

struct side {
    const char *name;
    char local_uri[128];
    struct msrp_relay_auth_config cfg;
    /* AUTH outcome */
    int done;
    bool ok;
    int status;
    uint32_t expires;
    char use_path[MSRP_RELAY_USE_PATH_MAX];
    char error[256];
    struct net_conn *held;
    int held_closed;
    /* the session */
    struct msrp_session *s;
    int bound, ended, violations;
    enum msrp_session_end why;
    char end_detail[256];
    int received;
    struct {
        unsigned char sha[32];
        uint64_t total, chunks;
        bool out_of_order, aborted;
    } rx[MAXRX];
    int sent;
    struct {
        int status;
        bool local;
        uint64_t bytes, chunks;
    } tx[MAXRX];
    int reports;
    struct {
        int status;
        struct msrp_byte_range range;
    } rep[MAXRX];
};

static struct {
    struct net_loop *loop;
    struct net_tls *tls;
    struct side a, b;
    char path_a[4 * MSRP_RELAY_USE_PATH_MAX], path_b[4 * MSRP_RELAY_USE_PATH_MAX];
    int adopt_err;
} S;

static char bodies[NMSG][MSG_SIZE];
static char back_body[BACK_SIZE];

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    ck_assert_int_eq(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL), 1);
    ck_assert_uint_eq(n, 32);
}

static void fill(char *p, size_t len, uint64_t seed)
{
    uint64_t st = seed;
    for (size_t i = 0; i < len; i++)
        p[i] = (char)(test_rand(&st) >> 56);
}

/* hold: an authenticated connection waiting for the other side (bytes wait in its buffer) */
static size_t hold_data(struct net_conn *c, const char *buf, size_t len)
{
    (void)c;
    (void)buf;
    (void)len;
    return 0;
}

static void hold_close(struct net_conn *c, int err, const char *why)
{
    (void)err;
    struct side *sd = net_conn_user(c);
    if (sd == NULL)
        return;
    fprintf(stderr, "relay_run: %s's held connection closed (%s)\n", sd->name,
            why != NULL ? why : "?");
    sd->held = NULL;
    sd->held_closed++;
}

static const struct net_conn_handlers hold_handlers = {.on_data = hold_data,
                                                       .on_close = hold_close};

static void s_bound(struct msrp_session *s)
{
    struct side *sd = msrp_session_user(s);
    sd->bound++;
}

static void s_sent(struct msrp_session *s, const struct msrp_sent *m)
{
    struct side *sd = msrp_session_user(s);
    ck_assert_int_lt(sd->sent, MAXRX);
    sd->tx[sd->sent].status = m->status;
    sd->tx[sd->sent].local = m->local;
    sd->tx[sd->sent].bytes = m->bytes;
    sd->tx[sd->sent].chunks = m->chunks;
    sd->sent++;
}

static void s_received(struct msrp_session *s, const struct msrp_received *m)
{
    struct side *sd = msrp_session_user(s);
    ck_assert_int_lt(sd->received, MAXRX);
    memcpy(sd->rx[sd->received].sha, m->info->sha256, 32);
    sd->rx[sd->received].total = m->info->total;
    sd->rx[sd->received].chunks = m->info->chunks;
    sd->rx[sd->received].out_of_order = m->info->out_of_order;
    sd->rx[sd->received].aborted = m->aborted;
    sd->received++;
}

static void s_report(struct msrp_session *s, const struct msrp_report_in *r)
{
    struct side *sd = msrp_session_user(s);
    ck_assert_int_lt(sd->reports, MAXRX);
    sd->rep[sd->reports].status = r->status;
    sd->rep[sd->reports].range = r->range;
    sd->reports++;
}

static void s_violation(struct msrp_session *s, const struct msrp_peer_violation *v)
{
    struct side *sd = msrp_session_user(s);
    fprintf(stderr, "relay_run: %s saw a violation: %s: %s\n", sd->name, v->kind, v->detail);
    sd->violations++;
}

static void s_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    struct side *sd = msrp_session_user(s);
    sd->ended++;
    sd->why = why;
    snprintf(sd->end_detail, sizeof(sd->end_detail), "%s", detail != NULL ? detail : "");
    sd->s = NULL;
}

static const struct msrp_session_handlers session_handlers = {
    .on_bound = s_bound,
    .on_sent = s_sent,
    .on_received = s_received,
    .on_report = s_report,
    .on_violation = s_violation,
    .on_end = s_end,
};

static void session_config(struct msrp_session_config *c, const char *local, const char *peer)
{
    msrp_session_config_default(c);
    c->local_uri = local;
    c->peer_path = peer;
    c->chunk_size = CHUNK;
    c->reasm.no_digest = false;
    c->response_timeout_ns = 10000000000ull;
    c->bind_timeout_ns = 10000000000ull;
}

/* Both AUTHs are over: bob answers (adopted first), alice calls. */
static void adopt_both(void)
{
    if (!S.a.ok || !S.b.ok) {
        struct side *sides[2] = {&S.a, &S.b};
        for (int i = 0; i < 2; i++)
            if (sides[i]->held != NULL) {
                struct net_conn *c = sides[i]->held;
                sides[i]->held = NULL;
                net_conn_set_user(c, NULL);
                net_conn_close(c, false);
            }
        return;
    }
    snprintf(S.path_a, sizeof(S.path_a), "%s %s %s", S.a.use_path, S.b.use_path, S.b.local_uri);
    snprintf(S.path_b, sizeof(S.path_b), "%s %s %s", S.b.use_path, S.a.use_path, S.a.local_uri);
    struct msrp_session_config cb, ca;
    session_config(&cb, S.b.local_uri, S.path_b);
    struct net_conn *c = S.b.held;
    S.b.held = NULL;
    int e = msrp_session_adopt(c, &cb, false, &session_handlers, &S.b, &S.b.s);
    if (e != 0) {
        S.adopt_err = e;
        return;
    }
    session_config(&ca, S.a.local_uri, S.path_a);
    c = S.a.held;
    S.a.held = NULL;
    e = msrp_session_adopt(c, &ca, true, &session_handlers, &S.a, &S.a.s);
    if (e != 0)
        S.adopt_err = e;
}

static void auth_done(struct msrp_relay_auth *auth, const struct msrp_relay_auth_result *r,
                      void *user)
{
    (void)auth;
    struct side *sd = user;
    sd->done++;
    sd->ok = r->ok;
    sd->status = r->status;
    sd->expires = r->expires;
    snprintf(sd->use_path, sizeof(sd->use_path), "%s", r->use_path);
    snprintf(sd->error, sizeof(sd->error), "%s", r->error);
    if (r->ok) {
        ck_assert_ptr_nonnull(r->conn);
        sd->held = r->conn;
        net_conn_set_user(r->conn, sd);
        net_conn_set_handlers(r->conn, &hold_handlers);
    } else {
        ck_assert_ptr_null(r->conn);
    }
    if (S.a.done && S.b.done)
        adopt_both();
}

static void side_init(struct side *sd, const char *name, const char *user, const char *pass,
                      const char *relay_uri, uint16_t port, const char *scheme, const char *tag)
{
    memset(sd, 0, sizeof(*sd));
    sd->name = name;
    snprintf(sd->local_uri, sizeof(sd->local_uri), "%s://127.0.0.1:9/%s-%s-%d;tcp", scheme, name,
             tag, (int)getpid());
    struct msrp_relay_auth_config *c = &sd->cfg;
    c->relay_uri = relay_uri;
    ck_assert_int_eq(net_addr_resolve("127.0.0.1", port, &c->addr, &c->addr_len), 0);
    c->tls = S.tls;
    c->sni = S.tls != NULL ? "localhost" : NULL;
    c->username = user;
    c->password = pass;
    c->local_uri = sd->local_uri;
    c->timeout_ns = 10000000000ull;
    c->read_buffer = msrp_session_read_buffer();
}

static void dump(const char *what)
{
    const struct side *sides[2] = {&S.a, &S.b};
    for (int i = 0; i < 2; i++) {
        const struct side *d = sides[i];
        fprintf(stderr,
                "relay_run: [%s] %s: done %d ok %d status %d error '%s' bound %d ended %d (%s: %s) "
                "sent %d received %d reports %d violations %d\n",
                what, d->name, d->done, d->ok, d->status, d->error, d->bound, d->ended,
                d->ended ? msrp_session_end_name(d->why) : "-", d->end_detail, d->sent,
                d->received, d->reports, d->violations);
    }
}

typedef bool (*pred_fn)(void);

static void wait_for(pred_fn pred, double seconds, const char *what)
{
    uint64_t deadline = net_now_ns() + (uint64_t)(seconds * 1e9);
    while (!pred()) {
        if (net_now_ns() >= deadline) {
            dump(what);
            ck_abort_msg("timed out after %.0f s waiting for %s", seconds, what);
        }
        if (S.a.ended || S.b.ended || S.a.held_closed || S.b.held_closed || S.adopt_err) {
            dump(what);
            ck_abort_msg("a session or connection ended while waiting for %s (adopt error %d)",
                         what, S.adopt_err);
        }
        net_loop_run_once(S.loop, 20);
    }
}

static bool both_authed(void) { return S.a.done && S.b.done; }
static bool both_bound(void) { return S.a.bound && S.b.bound; }

static void world_up(const char *relay_uri, uint16_t port, bool tls, const char *tag)
{
    memset(&S, 0, sizeof(S));
    ck_assert_int_eq(net_loop_create(&S.loop, 4096), 0);
    if (tls) {
        char err[256];
        int e = net_tls_client_create(&S.tls, K.cert, NULL, NULL, err, sizeof(err));
        ck_assert_msg(e == 0, "TLS client with CA %s: %s", K.cert, err);
    }
    const char *scheme = tls ? "msrps" : "msrp";
    side_init(&S.a, "alice", "alice", "alice-secret", relay_uri, port, scheme, tag);
    side_init(&S.b, "bob", "bob", "bob-secret", relay_uri, port, scheme, tag);
    /* Bob first, as the answering side; the pair is adopted once both are done. */
    ck_assert_int_eq(msrp_relay_auth_start(S.loop, &S.b.cfg, auth_done, &S.b, NULL), 0);
    ck_assert_int_eq(msrp_relay_auth_start(S.loop, &S.a.cfg, auth_done, &S.a, NULL), 0);
    wait_for(both_authed, 15, "both AUTHs");
    ck_assert_msg(S.a.ok, "alice: %s", S.a.error);
    ck_assert_msg(S.b.ok, "bob: %s", S.b.error);
    ck_assert_int_eq(S.a.status, 200);
    ck_assert_int_eq(S.b.status, 200);
    ck_assert_uint_eq(S.a.expires, 600);
    ck_assert_uint_eq(S.b.expires, 600);
    char prefix[160];
    snprintf(prefix, sizeof(prefix), "%s://127.0.0.1:%u/", scheme,
             (unsigned)(tls ? K.tls_port : K.port));
    ck_assert_msg(strncmp(S.a.use_path, prefix, strlen(prefix)) == 0, "UA %s", S.a.use_path);
    ck_assert_msg(strncmp(S.b.use_path, prefix, strlen(prefix)) == 0, "UB %s", S.b.use_path);
    ck_assert_str_ne(S.a.use_path, S.b.use_path);
    ck_assert_int_eq(S.adopt_err, 0);
    ck_assert_ptr_nonnull(S.a.s);
    ck_assert_ptr_nonnull(S.b.s);
    wait_for(both_bound, 10, "both sessions bound");

    /* Bob bound to the From-Path the relay delivers: UB UA aliceURI. */
    char want[sizeof(S.path_b)];
    snprintf(want, sizeof(want), "%s %s %s", S.b.use_path, S.a.use_path, S.a.local_uri);
    ck_assert_str_eq(msrp_session_peer_path(S.b.s), want);
    snprintf(want, sizeof(want), "%s %s %s", S.a.use_path, S.b.use_path, S.b.local_uri);
    ck_assert_str_eq(msrp_session_peer_path(S.a.s), want);
    fprintf(stderr, "relay_run: %s: UA %s, UB %s; bob bound to From-Path %s\n", tag, S.a.use_path,
            S.b.use_path, msrp_session_peer_path(S.b.s));
}

static bool both_ended(void) { return S.a.s == NULL && S.b.s == NULL; }

static void world_down(void)
{
    if (S.a.s != NULL)
        msrp_session_close(S.a.s);
    if (S.b.s != NULL)
        msrp_session_close(S.b.s);
    uint64_t deadline = net_now_ns() + 5000000000ull;
    while (!both_ended() && net_now_ns() < deadline)
        net_loop_run_once(S.loop, 20);
    ck_assert_msg(both_ended(), "sessions still open 5 s after close");
    ck_assert_int_eq(S.a.violations, 0);
    ck_assert_int_eq(S.b.violations, 0);
    for (int i = 0; i < 5; i++)
        net_loop_run_once(S.loop, 5);
    net_loop_destroy(S.loop);
    net_tls_destroy(S.tls);
    S.loop = NULL;
    S.tls = NULL;
}

static int want_a_sent, want_a_reports, want_b_received, want_b_sent, want_a_received;

static bool progress_done(void)
{
    return S.a.sent >= want_a_sent && S.a.reports >= want_a_reports &&
           S.b.received >= want_b_received && S.b.sent >= want_b_sent &&
           S.a.received >= want_a_received;
}

/* Each expected hash matched by exactly one received message. */
static void assert_hashes(const struct side *rcv, int n, unsigned char want[][32],
                          const size_t *sizes)
{
    ck_assert_int_eq(rcv->received, n);
    int matched[MAXRX] = {0};
    for (int r = 0; r < n; r++) {
        ck_assert(!rcv->rx[r].aborted);
        int hit = -1;
        for (int i = 0; i < n; i++)
            if (memcmp(rcv->rx[r].sha, want[i], 32) == 0)
                hit = i;
        ck_assert_msg(hit >= 0, "%s: message %d (%llu bytes) has a SHA-256 matching nothing sent",
                      rcv->name, r, (unsigned long long)rcv->rx[r].total);
        matched[hit]++;
        ck_assert_uint_eq(rcv->rx[r].total, sizes[hit]);
        ck_assert_uint_eq(rcv->rx[r].chunks, (sizes[hit] + CHUNK - 1) / CHUNK);
        if (rcv->rx[r].out_of_order)
            fprintf(stderr, "relay_run: %s: message %d arrived out of order\n", rcv->name, r);
    }
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(matched[i], 1);
}

static void exchange(bool three)
{
    int n = three ? NMSG : 1;
    unsigned char want[NMSG][32];
    size_t sizes[NMSG];
    for (int i = 0; i < n; i++) {
        fill(bodies[i], MSG_SIZE, 0x9e3779b97f4a7c15ull + (uint64_t)i);
        sha256(bodies[i], MSG_SIZE, want[i]);
        sizes[i] = MSG_SIZE;
        struct msrp_send_opts o = {.content_type = "application/octet-stream",
                                   .failure_report = MSRP_REPORT_YES,
                                   .success_report = MSRP_REPORT_YES,
                                   .chunk_size = CHUNK};
        ck_assert_int_eq(msrp_session_send(S.a.s, bodies[i], MSG_SIZE, &o), 0);
    }
    want_a_sent = n;
    want_a_reports = n;
    want_b_received = n;
    want_b_sent = 0;
    want_a_received = 0;
    wait_for(progress_done, 20, "alice's messages, their 200s and REPORTs");
    assert_hashes(&S.b, n, want, sizes);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(S.a.tx[i].status, 200);
        ck_assert(!S.a.tx[i].local);
        ck_assert_uint_eq(S.a.tx[i].bytes, MSG_SIZE);
        ck_assert_uint_eq(S.a.tx[i].chunks, (MSG_SIZE + CHUNK - 1) / CHUNK);
        ck_assert_int_eq(S.a.rep[i].status, 200);
        ck_assert_uint_eq(S.a.rep[i].range.start, 1);
        ck_assert_uint_eq(S.a.rep[i].range.end, MSG_SIZE);
        ck_assert_uint_eq(S.a.rep[i].range.total, MSG_SIZE);
    }

    /* And back: bob to alice, chunked, without a success report. */
    fill(back_body, BACK_SIZE, 42);
    unsigned char back_want[1][32];
    size_t back_size[1] = {BACK_SIZE};
    sha256(back_body, BACK_SIZE, back_want[0]);
    struct msrp_send_opts o = {.failure_report = MSRP_REPORT_YES, .chunk_size = CHUNK};
    ck_assert_int_eq(msrp_session_send(S.b.s, back_body, BACK_SIZE, &o), 0);
    want_b_sent = 1;
    want_a_received = 1;
    wait_for(progress_done, 20, "bob's message to alice");
    ck_assert_int_eq(S.b.tx[0].status, 200);
    ck_assert(!S.b.tx[0].local);
    ck_assert_uint_eq(S.b.tx[0].chunks, (BACK_SIZE + CHUNK - 1) / CHUNK);
    assert_hashes(&S.a, 1, back_want, back_size);
    ck_assert_int_eq(S.b.reports, 0); /* alice was not asked for a success REPORT */
    ck_assert_int_eq(S.a.reports, n); /* and nothing more came */
    fprintf(stderr, "relay_run: %d x %d bytes alice->bob (200 + success REPORT each, SHA-256 ok), "
                    "%d bytes bob->alice (SHA-256 ok)\n", n, MSG_SIZE, BACK_SIZE);
}

START_TEST(test_session_tcp)
{
    if (test_relay_skip(&K, "relay_run session_tcp"))
        return;
    world_up(K.uri, K.port, false, "tcp");
    exchange(true);
    world_down();
}
END_TEST

START_TEST(test_session_tls)
{
    if (test_relay_skip(&K, "relay_run session_tls"))
        return;
    world_up(K.tls_uri, K.tls_port, true, "tls");
    exchange(false);
    world_down();
}
END_TEST

/* ---- binary level -------------------------------------------------------------------------- */

struct run_out {
    int code;
    double seconds;
    char dir[160];
    char *out, *err;
    size_t out_len, err_len;
    json_t *summary;
};

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

/* read_file() does not NUL-terminate; its buffer always has a spare byte (it grows when full). */
static char *read_text(const char *path, size_t *len)
{
    char *p = read_file(path, len);
    p[*len] = '\0';
    return p;
}

/* `timeout 60 msrpload run ARGS --out DIR --quiet`, its exit code, output and summary.json. */
static void run_msrpload(const struct tmp *t, const char *tag, const char *args,
                         struct run_out *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "%s/%s", t->dir, tag);
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "env -u MSRPLOAD_RELAY_PASSWORD timeout 60 %s run %s --out '%s' --quiet "
             ">'%s/%s.stdout' 2>'%s/%s.stderr'",
             msrpload_binary(), args, r->dir, t->dir, tag, t->dir, tag);
    uint64_t t0 = net_now_ns();
    int st = system(cmd);
    r->seconds = (double)(net_now_ns() - t0) / 1e9;
    ck_assert_msg(WIFEXITED(st), "%s: not exited (status %d)", cmd, st);
    r->code = WEXITSTATUS(st);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.stdout", t->dir, tag);
    r->out = read_text(path, &r->out_len);
    snprintf(path, sizeof(path), "%s/%s.stderr", t->dir, tag);
    r->err = read_text(path, &r->err_len);
    snprintf(path, sizeof(path), "%s/summary.json", r->dir);
    json_error_t jerr;
    if (access(path, F_OK) == 0) {
        r->summary = json_load_file(path, 0, &jerr);
        ck_assert_msg(r->summary != NULL, "%s: %s", path, jerr.text);
    }
    fprintf(stderr, "relay_run: %s: exit %d after %.1f s\n", tag, r->code, r->seconds);
    ck_assert_msg(r->code != 124, "%s: msrpload did not finish within 60 s; stderr: %s", tag,
                  r->err);
}

static void run_free(struct run_out *r)
{
    free(r->out);
    free(r->err);
    json_decref(r->summary);
}

/* An integer at a dotted path of summary.json; the test fails when it is missing. */
static long long jint(const struct run_out *r, const char *path)
{
    ck_assert_msg(r->summary != NULL, "no summary.json in %s; stderr: %s", r->dir, r->err);
    return test_summary_int(r->summary, path);
}

static json_t *jobj(const struct run_out *r, const char *a, const char *b)
{
    ck_assert_ptr_nonnull(r->summary);
    json_t *v = json_object_get(json_object_get(r->summary, a), b);
    ck_assert_msg(v != NULL, "summary.json: %s.%s missing", a, b);
    return v;
}

static void print_outcome(const char *tag, const struct run_out *r)
{
    if (r->summary == NULL) {
        fprintf(stderr, "relay_run: %s: no summary.json; stderr: %s\n", tag, r->err);
        return;
    }
    char *ends = json_dumps(jobj(r, "sessions", "ends"), JSON_COMPACT);
    char *by = json_dumps(jobj(r, "messages", "by_status"), JSON_COMPACT);
    char *rel = json_dumps(json_object_get(r->summary, "relay"), JSON_COMPACT);
    json_t *fe = json_object_get(r->summary, "first_error");
    fprintf(stderr,
            "relay_run: %s: sessions completed %lld failed %lld ends %s; messages sent %lld ok "
            "%lld failed %lld lost %lld unfinished %lld by_status %s; relay %s; first_error %s\n",
            tag, jint(r, "sessions.completed"), jint(r, "sessions.failed"), ends,
            jint(r, "messages.sent"), jint(r, "messages.ok"), jint(r, "messages.failed"),
            jint(r, "messages.lost"), jint(r, "messages.unfinished"), by, rel,
            json_is_string(fe) ? json_string_value(fe) : "(none)");
    free(ends);
    free(by);
    free(rel);
}

static void password_file(const struct tmp *t, const char *pass, char *path, size_t cap)
{
    snprintf(path, cap, "%s/password", t->dir);
    char text[128];
    snprintf(text, sizeof(text), "%s\n", pass);
    write_text(path, text);
}

START_TEST(test_run_relay_auth)
{
    if (test_relay_skip(&K, "relay_run run_relay_auth"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[256], args[1024];
    password_file(&t, "loadpass", pw, sizeof(pw));
    snprintf(args, sizeof(args), "scenarios/relay-auth.json --relay '%s' --relay-password-file '%s'",
             K.uri, pw);
    struct run_out r;
    run_msrpload(&t, "auth", args, &r);
    print_outcome("relay-auth.json", &r);
    ck_assert_msg(r.code == 0, "exit %d; stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sessions.started"), 20);
    ck_assert_int_eq(jint(&r, "sessions.completed"), 20);
    ck_assert_int_eq(jint(&r, "sessions.failed"), 0);
    ck_assert_int_eq(jint(&r, "messages.sent"), 100);
    ck_assert_int_eq(jint(&r, "messages.ok"), 100);
    ck_assert_int_eq(jint(&r, "messages.failed"), 0);
    ck_assert_int_eq(jint(&r, "messages.by_status.200"), 100);
    /* a relay's 200 is hop-by-hop: each message also arrived at the answering end */
    ck_assert_int_eq(jint(&r, "messages.delivered"), 100);
    ck_assert_int_eq(jint(&r, "messages.undelivered"), 0);
    ck_assert_int_eq(jint(&r, "expectations.failures"), 0);
    ck_assert_int_eq(jint(&r, "expectations.reports_ok"), 100);
    ck_assert_int_eq(jint(&r, "expectations.reports_missing"), 0);
    ck_assert_int_eq(jint(&r, "relay.auth_ok"), 40);
    ck_assert_int_eq(jint(&r, "relay.auth_failed"), 0);
    ck_assert_int_eq(jint(&r, "relay.refresh_failed"), 0);
    ck_assert_int_eq(jint(&r, "latency_us.auth.count"), 40);
    ck_assert_int_gt(jint(&r, "latency_us.auth.max"), 0);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* 0 when needle is nowhere in the report directory (grep -r), 1 when it is. */
static int found_in_dir(const char *dir, const char *needle)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "grep -r -F -q -a -- '%s' '%s'", needle, dir);
    int st = system(cmd);
    ck_assert(WIFEXITED(st));
    ck_assert_msg(WEXITSTATUS(st) <= 1, "grep failed on %s", dir);
    return WEXITSTATUS(st) == 0;
}

START_TEST(test_run_wrong_password)
{
    if (test_relay_skip(&K, "relay_run run_wrong_password"))
        return;
    const char *secret = "Wr0ngPassw0rd-7f3e";
    struct tmp t;
    tmp_make(&t);
    char pw[256], args[1024];
    password_file(&t, secret, pw, sizeof(pw));
    snprintf(args, sizeof(args),
             "scenarios/relay-auth.json --sessions 2 --relay '%s' --relay-password-file '%s'",
             K.uri, pw);
    struct run_out r;
    run_msrpload(&t, "wrong", args, &r);
    fprintf(stderr, "relay_run: wrong password: stderr:\n%s", r.err);
    print_outcome("wrong password", &r);
    /* No session bound: every AUTH refused is the relay unreachable for this run (exit 3). */
    ck_assert_msg(r.code == 3, "exit %d; stderr: %s", r.code, r.err);
    ck_assert_msg(strstr(r.err, "the relay accepted no AUTH") != NULL, "stderr: %s", r.err);
    ck_assert_msg(strstr(r.err, K.uri) != NULL, "relay URI not in stderr: %s", r.err);
    ck_assert_msg(strstr(r.err, "user load00") != NULL, "user not in stderr: %s", r.err);
    ck_assert_msg(strstr(r.err, "forbidden") != NULL || strstr(r.err, "403") != NULL,
                  "no 403/forbidden in stderr: %s", r.err);
    ck_assert_msg(memmem(r.out, r.out_len, secret, strlen(secret)) == NULL, "password in stdout");
    ck_assert_msg(memmem(r.err, r.err_len, secret, strlen(secret)) == NULL, "password in stderr");
    struct stat sb;
    ck_assert_msg(stat(r.dir, &sb) == 0 && S_ISDIR(sb.st_mode), "no report directory %s", r.dir);
    /* the check itself works: the password is found where it is */
    ck_assert_int_eq(found_in_dir(t.dir, secret), 1);
    ck_assert_msg(!found_in_dir(r.dir, secret), "the password is in a file under %s", r.dir);
    ck_assert_int_eq(jint(&r, "relay.auth_ok"), 0);
    ck_assert_int_eq(jint(&r, "relay.auth_failed"), 4);
    ck_assert_int_eq(jint(&r, "sessions.failed"), 2);
    ck_assert_int_eq(jint(&r, "messages.sent"), 0);
    ck_assert_int_eq(jint(&r, "sessions.ends.auth-failed"), 2);
    /* Forensics: the AUTH exchange's frames, its digest answer left out, the relay's 403 in. */
    char path[600];
    snprintf(path, sizeof(path), "%s/errors.jsonl", r.dir);
    size_t len;
    char *errors = read_file(path, &len);
    const char *has[] = {"\"kind\":\"auth-failed\",\"count\":2", " AUTH\\r\\n", " 403 "};
    for (size_t i = 0; i < sizeof(has) / sizeof(has[0]); i++)
        ck_assert_msg(memmem(errors, len, has[i], strlen(has[i])) != NULL,
                      "no %s in errors.jsonl: %.*s", has[i], (int)len, errors);
    ck_assert_msg(memmem(errors, len, "Authorization", 13) == NULL, "errors.jsonl: %.*s",
                  (int)len, errors);
    free(errors);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

#define REFRESH_SCENARIO                                                                          \
    "{\"name\": \"relay-refresh\",\n"                                                             \
    " \"load\": {\"sessions\": 2, \"concurrency\": 2, \"duration\": 30, \"mode\": \"closed\",\n"  \
    "          \"outstanding\": 1},\n"                                                            \
    " \"topology\": {\"kind\": \"relay\", \"transport\": \"tcp\",\n"                              \
    "              \"relay\": {\"user\": \"load%04d\", \"users\": 100}},\n"                       \
    " \"steps\": [{\"repeat\": {\"times\": 10, \"steps\": [\n"                                    \
    "   {\"send\": {\"size\": 100, \"failure_report\": \"yes\"}},\n"                              \
    "   {\"expect\": {\"status\": 200}},\n"                                                       \
    "   {\"pause\": 0.5}]}}],\n"                                                                  \
    " \"answer\": {\"status\": 200}}\n"

static void refresh_run(const struct tmp *t, const char *scen, const char *pw, unsigned expires,
                        const char *tag)
{
    char args[1024];
    snprintf(args, sizeof(args), "'%s' --relay '%s' --relay-password-file '%s' --relay-expires %u",
             scen, K.uri, pw, expires);
    struct run_out r;
    run_msrpload(t, tag, args, &r);
    print_outcome(tag, &r);
    ck_assert_msg(r.code == 0, "exit %d; stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sessions.completed"), 2);
    ck_assert_int_eq(jint(&r, "sessions.failed"), 0);
    ck_assert_int_eq(jint(&r, "messages.sent"), 20);
    ck_assert_int_eq(jint(&r, "messages.ok"), 20);
    ck_assert_int_eq(jint(&r, "messages.failed"), 0);
    ck_assert_int_eq(jint(&r, "relay.auth_ok"), 4);
    ck_assert_int_eq(jint(&r, "relay.auth_failed"), 0);
    ck_assert_int_eq(jint(&r, "relay.refresh_failed"), 0);
    ck_assert_msg(r.seconds >= 5.0, "the sessions should last > 5 s, the run took %.1f s",
                  r.seconds);
    /* The runner re-AUTHs every 2/3 of the granted lifetime (granted: max(asked, 2), the
     * relay's minimum). Each of the 4 ends lives > 5 s after its AUTH, so it refreshes at
     * least floor(4.5 s / period) times (1 s of slack for the timers), and at most
     * floor(run time / period) times. With a lifetime of 1 granted (no 423 retry) instead of 2
     * the upper bound would be exceeded. */
    double period = (expires < 2 ? 2 : expires) * 2.0 / 3.0;
    long long lo = 4 * (long long)(4.5 / period), hi = 4 * (long long)(r.seconds / period);
    long long got = jint(&r, "relay.refresh_ok");
    fprintf(stderr, "relay_run: %s: refresh_ok %lld, expected %lld..%lld\n", tag, got, lo, hi);
    ck_assert_int_ge(got, 2);
    ck_assert_int_ge(got, lo);
    ck_assert_int_le(got, hi);
    run_free(&r);
}

START_TEST(test_run_refresh)
{
    if (test_relay_skip(&K, "relay_run run_refresh"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[256], scen[256];
    password_file(&t, "loadpass", pw, sizeof(pw));
    snprintf(scen, sizeof(scen), "%s/refresh.json", t.dir);
    write_text(scen, REFRESH_SCENARIO);
    refresh_run(&t, scen, pw, 3, "expires3");
    refresh_run(&t, scen, pw, 1, "expires1"); /* below the relay's minimum of 2: 423, retried */
    tmp_remove(&t);
}
END_TEST

static void big_chunk_scenario(const char *path, unsigned size)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"name\": \"relay-big-chunk\",\n"
             " \"load\": {\"sessions\": 1, \"concurrency\": 1, \"duration\": 20},\n"
             " \"topology\": {\"kind\": \"relay\", \"transport\": \"tcp\",\n"
             "              \"relay\": {\"user\": \"load%%04d\", \"users\": 100}},\n"
             " \"steps\": [{\"send\": {\"size\": %u, \"chunk_size\": %u, "
             "\"failure_report\": \"yes\"}},\n"
             "             {\"expect\": {\"status\": 200}}],\n"
             " \"answer\": {\"status\": 200}}\n",
             size, size);
    write_text(path, text);
}

START_TEST(test_run_chunk_too_large)
{
    if (test_relay_skip(&K, "relay_run run_chunk_too_large"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[256], scen[256], args[1024];
    password_file(&t, "loadpass", pw, sizeof(pw));

    /* 20000-byte body: beyond Kamailio's 16384-byte TCP read buffer. */
    snprintf(scen, sizeof(scen), "%s/big20000.json", t.dir);
    big_chunk_scenario(scen, 20000);
    snprintf(args, sizeof(args), "'%s' --relay '%s' --relay-password-file '%s'", scen, K.uri, pw);
    struct run_out r;
    run_msrpload(&t, "big20000", args, &r);
    print_outcome("chunk 20000", &r);
    fprintf(stderr, "relay_run: chunk 20000: stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
    ck_assert_msg(r.code == 1, "exit %d; stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "relay.auth_ok"), 2);
    ck_assert_int_eq(jint(&r, "messages.ok"), 0);
    json_t *by = jobj(&r, "messages", "by_status");
    json_t *ends = jobj(&r, "sessions", "ends");
    bool got413 = json_object_get(by, "413") != NULL;
    bool closed = json_object_get(ends, "peer-closed") != NULL;
    ck_assert_msg(got413 || closed, "neither a 413 nor a peer-closed session end");
    fprintf(stderr, "relay_run: chunk 20000: the relay %s\n",
            got413 ? "answered 413" : "closed the connection (no answer)");
    /* Kamailio drops a frame beyond its 16384-byte read buffer and closes (tools/relay/README) */
    ck_assert_int_eq(jint(&r, "sessions.ends.peer-closed"), 1);
    ck_assert_int_eq(json_object_size(by), 0);
    ck_assert_int_eq(jint(&r, "sessions.completed"), 0);
    ck_assert_int_eq(jint(&r, "sessions.failed"), 1);
    ck_assert_int_eq(jint(&r, "messages.sent"), 1);
    /* lost with its connection: counted as lost, not also as failed */
    ck_assert_int_eq(jint(&r, "messages.lost"), 1);
    ck_assert_int_eq(jint(&r, "messages.failed"), 0);
    ck_assert_msg(r.seconds < 30, "took %.1f s", r.seconds);
    run_free(&r);

    /* 12000-byte body: read whole by Kamailio, but above its 11238-byte frame limit: 413. */
    snprintf(scen, sizeof(scen), "%s/big12000.json", t.dir);
    big_chunk_scenario(scen, 12000);
    snprintf(args, sizeof(args), "'%s' --relay '%s' --relay-password-file '%s'", scen, K.uri, pw);
    run_msrpload(&t, "big12000", args, &r);
    print_outcome("chunk 12000", &r);
    ck_assert_msg(r.code == 1, "exit %d; stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "messages.sent"), 1);
    ck_assert_int_eq(jint(&r, "messages.ok"), 0);
    ck_assert_int_eq(jint(&r, "messages.failed"), 1);
    ck_assert_int_eq(jint(&r, "messages.by_status.413"), 1);
    ck_assert_int_eq(jint(&r, "expectations.failures"), 1);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_run_shard)
{
    if (test_relay_skip(&K, "relay_run run_shard"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[256], args[1024];
    password_file(&t, "loadpass", pw, sizeof(pw));
    for (int i = 1; i <= 2; i++) {
        snprintf(args, sizeof(args),
                 "scenarios/relay-auth.json --relay '%s' --relay-password-file '%s' --shard %d/2 "
                 "--relay-user 'load%%04d' --relay-users 10",
                 K.uri, pw, i);
        char tag[32];
        snprintf(tag, sizeof(tag), "shard%d", i);
        struct run_out r;
        run_msrpload(&t, tag, args, &r);
        print_outcome(tag, &r);
        ck_assert_msg(r.code == 0, "exit %d; stderr: %s", r.code, r.err);
        ck_assert_int_eq(jint(&r, "sessions.completed"), 10);
        ck_assert_int_eq(jint(&r, "sessions.failed"), 0);
        ck_assert_int_eq(jint(&r, "messages.ok"), 50);
        ck_assert_int_eq(jint(&r, "relay.auth_ok"), 20);
        ck_assert_int_eq(jint(&r, "relay.auth_failed"), 0);
        run_free(&r);
    }
    tmp_remove(&t);
}
END_TEST

/*
 * The answering ends refuse every message (413, max_message 50 < 100 bytes). The relay has
 * answered each SEND 200 itself and swallows the 413, so only the missing delivery tells:
 * every message must fail as undelivered once its 0.5 s timeout has run out.
 */
START_TEST(test_run_undelivered)
{
    if (test_relay_skip(&K, "relay_run run_undelivered"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[256], scen[256], args[1024];
    password_file(&t, "loadpass", pw, sizeof(pw));
    snprintf(scen, sizeof(scen), "%s/refused.json", t.dir);
    write_text(scen,
               "{\"name\": \"relay-refused\",\n"
               " \"load\": {\"sessions\": 4, \"concurrency\": 4, \"duration\": 20, "
               "\"outstanding\": 2},\n"
               " \"topology\": {\"kind\": \"relay\", \"transport\": \"tcp\",\n"
               "              \"relay\": {\"user\": \"load%04d\", \"users\": 100}},\n"
               " \"steps\": [{\"send\": {\"size\": 100, \"count\": 3}},\n"
               "             {\"expect\": {\"status\": 200, \"timeout\": 0.5}}],\n"
               " \"answer\": {\"max_message\": 50}}\n");
    snprintf(args, sizeof(args), "'%s' --relay '%s' --relay-password-file '%s'", scen, K.uri, pw);
    struct run_out r;
    run_msrpload(&t, "refused", args, &r);
    print_outcome("refused", &r);
    ck_assert_msg(r.code == 1, "exit %d; stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "messages.sent"), 12);
    ck_assert_int_eq(jint(&r, "messages.ok"), 0);
    ck_assert_int_eq(jint(&r, "messages.failed"), 12);
    ck_assert_int_eq(jint(&r, "messages.undelivered"), 12);
    ck_assert_int_eq(jint(&r, "messages.delivered"), 0);
    ck_assert_int_eq(jint(&r, "messages.lost"), 0);
    ck_assert_int_eq(json_object_size(jobj(&r, "messages", "by_status")), 0);
    ck_assert_int_eq(jint(&r, "expectations.failures"), 12);
    ck_assert_int_eq(jint(&r, "sessions.completed"), 4);
    json_t *fe = json_object_get(r.summary, "first_error");
    ck_assert_msg(json_is_string(fe) &&
                      strstr(json_string_value(fe), "never reached the other end within 0.5 s"),
                  "first_error: %s", json_is_string(fe) ? json_string_value(fe) : "(none)");
    ck_assert_msg(strstr(r.out, "12 the relay accepted never did") != NULL, "stdout: %s", r.out);
    /* two rounds of 0.5 s per session (3 messages, 2 in flight), not the 30 s default */
    ck_assert_msg(r.seconds < 15, "took %.1f s", r.seconds);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/*
 * send.cpim through the relay: each message asks for positive-delivery, our answering end
 * sends the notification back in a SEND, and it travels back through the relay like any SEND
 * to the calling end, which matches every one.
 */
START_TEST(test_run_cpim)
{
    if (test_relay_skip(&K, "relay_run run_cpim"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[256], scen[256], args[1024];
    password_file(&t, "loadpass", pw, sizeof(pw));
    snprintf(scen, sizeof(scen), "%s/cpim.json", t.dir);
    write_text(scen,
               "{\"name\": \"relay-cpim\",\n"
               " \"load\": {\"sessions\": 4, \"concurrency\": 4, \"duration\": 20, "
               "\"outstanding\": 2},\n"
               " \"topology\": {\"kind\": \"relay\", \"transport\": \"tcp\",\n"
               "              \"relay\": {\"user\": \"load%04d\", \"users\": 100}},\n"
               " \"steps\": [{\"send\": {\"size\": 200, \"count\": 10, \"cpim\": true}},\n"
               "             {\"expect\": {\"status\": 200, \"timeout\": 5}}]}\n");
    snprintf(args, sizeof(args), "'%s' --relay '%s' --relay-password-file '%s'", scen, K.uri, pw);
    struct run_out r;
    run_msrpload(&t, "cpim", args, &r);
    print_outcome("cpim", &r);
    ck_assert_msg(r.code == 0, "exit %d; stdout: %s; stderr: %s", r.code, r.out, r.err);
    ck_assert_int_eq(jint(&r, "messages.ok"), 40);
    ck_assert_int_eq(jint(&r, "messages.imdn.requested"), 40);
    ck_assert_int_eq(jint(&r, "messages.imdn.received"), 40);
    ck_assert_int_eq(jint(&r, "messages.imdn.missing"), 0);
    ck_assert_int_eq(jint(&r, "latency_us.imdn-delivery.count"), 40);
    ck_assert_int_eq(jint(&r, "expectations.failures"), 0);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/*
 * 100 sessions with 4 messages each in flight for 3 s, as `make bench` drives the relay.
 * Counting a message as in flight until it arrives keeps this within what the relay carries:
 * when the relay's hop-by-hop 200 freed the room, the relay took frames faster than it could
 * pass them on, filled its write queue to itself and dropped it (481s and lost messages).
 */
START_TEST(test_run_saturated)
{
    if (test_relay_skip(&K, "relay_run run_saturated"))
        return;
    struct tmp t;
    tmp_make(&t);
    char pw[256], scen[256], args[1024];
    password_file(&t, "loadpass", pw, sizeof(pw));
    snprintf(scen, sizeof(scen), "%s/saturated.json", t.dir);
    write_text(scen,
               "{\"name\": \"relay-saturated\",\n"
               " \"load\": {\"sessions\": 100, \"concurrency\": 100, \"duration\": 3, "
               "\"outstanding\": 4},\n"
               " \"topology\": {\"kind\": \"relay\", \"transport\": \"tcp\",\n"
               "              \"relay\": {\"user\": \"load%04d\", \"users\": 100}},\n"
               " \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": [\n"
               "    {\"send\": {\"size\": 100, \"failure_report\": \"yes\"}},\n"
               "    {\"expect\": {\"status\": 200}}]}}]}\n");
    snprintf(args, sizeof(args), "'%s' --relay '%s' --relay-password-file '%s'", scen, K.uri, pw);
    struct run_out r;
    run_msrpload(&t, "saturated", args, &r);
    print_outcome("saturated", &r);
    long long ok = jint(&r, "messages.ok"), delivered = jint(&r, "messages.delivered");
    fprintf(stderr, "relay_run: saturated: %lld ok, %lld delivered\n", ok, delivered);
    ck_assert_msg(r.code == 0, "exit %d; stdout: %s", r.code, r.out);
    ck_assert_int_gt(ok, 1000);
    ck_assert_int_eq(jint(&r, "messages.failed"), 0);
    ck_assert_int_eq(jint(&r, "messages.undelivered"), 0);
    ck_assert_int_eq(jint(&r, "messages.lost"), 0);
    /* every success arrived; what arrived but was cut off before the relay's 200 came back
     * is unfinished */
    ck_assert_int_ge(delivered, ok);
    ck_assert_int_le(delivered, ok + jint(&r, "messages.unfinished"));
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* ---- fixtures ------------------------------------------------------------------------------ */

static void tcp_setup(void)
{
    test_relay_start(&K, false, "RELAY_EXPIRES_MIN=2");
}

static void tls_setup(void)
{
    test_relay_start(&K, true, "");
}

static void relay_teardown(void)
{
    test_relay_stop(&K);
}

Suite *make_relay_run_suite(void)
{
    Suite *s = suite_create("relay_run");
    TCase *tc = tcase_create("TCP");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, tcp_setup, relay_teardown);
    tcase_add_test(tc, test_session_tcp);
    tcase_add_test(tc, test_run_relay_auth);
    tcase_add_test(tc, test_run_wrong_password);
    tcase_add_test(tc, test_run_refresh);
    tcase_add_test(tc, test_run_chunk_too_large);
    tcase_add_test(tc, test_run_shard);
    tcase_add_test(tc, test_run_undelivered);
    tcase_add_test(tc, test_run_cpim);
    tcase_add_test(tc, test_run_saturated);
    suite_add_tcase(s, tc);

    TCase *tt = tcase_create("TLS");
    tcase_set_timeout(tt, 60);
    tcase_add_unchecked_fixture(tt, tls_setup, relay_teardown);
    tcase_add_test(tt, test_session_tls);
    suite_add_tcase(s, tt);
    return s;
}
