/*
 * check_churn.c - churn (load.session_lifetime, load.endings; src/load/runner_churn.c): a run
 * against the embedded answering ends with lifetimes of a few milliseconds starts many more
 * sessions than its concurrency, ends each once (the endings add up to the sessions ended)
 * and draws the endings by their weights; each way of ending as the peer's socket sees it
 * (msrp_session_leave: an RST, an EOF, a connection left open, one left open and still read);
 * no_reauth through the scripted Kamailio, and refused without a relay; the loader's errors
 * name the JSON path. Every wait is bounded.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "msrp/session.h"
#include "net/conn.h"
#include "net/loop.h"
#include "scenario/scenario.h"
#include "suites.h"
#include "testutil.h"

#define WAIT_NS (10ull * 1000000000ull)

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static json_int_t jget(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b != NULL)
        v = json_object_get(v, b);
    ck_assert_msg(json_is_integer(v), "%s.%s is no integer", a, b != NULL ? b : "");
    return json_integer_value(v);
}

/* ---- a run -------------------------------------------------------------------------------- */

START_TEST(churn_run_endings_add_up_and_follow_weights)
{
    struct tmp t;
    tmp_make(&t);
    char scn[160], cmd[1024];
    snprintf(scn, sizeof(scn), "%s/churn.json", t.dir);
    write_text(scn,
               "{ \"name\": \"churn\",\n"
               "  \"load\": { \"sessions\": 1000000, \"concurrency\": 8, \"duration\": 2,\n"
               "    \"threads\": 1, \"seed\": 7, \"mode\": \"closed\", \"outstanding\": 2,\n"
               "    \"session_lifetime\": {\"min\": 0.002, \"max\": 0.01},\n"
               "    \"endings\": {\"clean\": 60, \"abrupt\": 10, \"reset\": 10, \"silent\": 10,"
               " \"no_close_notify\": 10} },\n"
               "  \"topology\": { \"kind\": \"embedded\", \"transport\": \"tcp\" },\n"
               "  \"steps\": [ { \"repeat\": { \"times\": 0, \"steps\": [\n"
               "    { \"send\": { \"size\": 100 } }, { \"expect\": { \"status\": 200 } } ] } } ],\n"
               "  \"answer\": { \"status\": 200 } }\n");
    snprintf(cmd, sizeof(cmd), "timeout 60 %s run %s --out %s/r >%s/out 2>&1",
             msrpload_binary(), scn, t.dir, t.dir);
    int st = system(cmd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "run failed: %d", st);
    char path[200];
    snprintf(path, sizeof(path), "%s/out", t.dir);
    size_t out_len;
    char *out = read_file(path, &out_len);
    ck_assert_ptr_nonnull(out);
    out = realloc(out, out_len + 1);
    out[out_len] = '\0';
    ck_assert_msg(strstr(out, "churn:") != NULL && strstr(out, "ended by lifetime:") != NULL,
                  "%s", out);
    free(out);
    snprintf(path, sizeof(path), "%s/r/summary.json", t.dir);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", path, e.text);
    json_t *sess = json_object_get(j, "sessions");
    json_int_t started = jget(j, "sessions", "started"), ended = jget(j, "sessions", "ended");
    /* lifetimes of at most 10 ms over a 2 s run: many generations per slot */
    ck_assert_msg(started > 10 * 8, "only %lld sessions started", (long long)started);
    ck_assert_int_eq(ended, started); /* every one ended by the report */
    ck_assert_int_eq(jget(j, "sessions", "failed"), 0);
    ck_assert_int_eq(jget(j, "messages", "lost"), 0);
    ck_assert_int_eq(jget(j, "messages", "failed"), 0);
    json_t *endings = json_object_get(sess, "endings");
    static const char *const kinds[] = {"clean", "abrupt", "reset", "silent",
                                        "no_close_notify"};
    static const double weights[] = {0.6, 0.1, 0.1, 0.1, 0.1};
    json_int_t by_life = 0, n[5];
    for (int k = 0; k < 5; k++) {
        n[k] = json_integer_value(json_object_get(endings, kinds[k]));
        by_life += n[k];
    }
    json_int_t other = json_integer_value(json_object_get(endings, "other"));
    ck_assert_int_eq(by_life + other, ended);
    /* the steps repeat for ever: only a lifetime completes a session; the rest were cut off
     * by the run's end */
    ck_assert_int_eq(by_life, jget(j, "sessions", "completed"));
    ck_assert_int_eq(other, jget(j, "sessions", "unfinished"));
    /* each kind within 5 standard deviations of its binomial mean */
    for (int k = 0; k < 5; k++) {
        double mean = (double)by_life * weights[k];
        double sd = sqrt((double)by_life * weights[k] * (1 - weights[k]));
        ck_assert_msg(fabs((double)n[k] - mean) <= 5 * sd + 1, "%s: %lld of %lld", kinds[k],
                      (long long)n[k], (long long)by_life);
    }
    ck_assert(json_real_value(json_object_get(sess, "started_per_s")) > 0);
    ck_assert(json_real_value(json_object_get(sess, "ended_per_s")) > 0);
    json_decref(j);
    /* merge reads the endings back and adds them (a copy stands for a second host, written by
     * an msrpload from before the no_reauth ending: the key is missing there) */
    snprintf(cmd, sizeof(cmd), "cp -r %s/r %s/r2", t.dir, t.dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/r2/summary.json", t.dir);
    j = json_load_file(path, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", path, e.text);
    ck_assert_int_eq(json_object_del(json_object_get(json_object_get(j, "sessions"), "endings"),
                                     "no_reauth"),
                     0);
    ck_assert_int_eq(json_dump_file(j, path, 0), 0);
    json_decref(j);
    snprintf(cmd, sizeof(cmd), "timeout 60 %s merge %s/r %s/r2 --out %s/m >%s/out 2>&1",
             msrpload_binary(), t.dir, t.dir, t.dir, t.dir);
    st = system(cmd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "merge failed: %d", st);
    snprintf(path, sizeof(path), "%s/m/summary.json", t.dir);
    j = json_load_file(path, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", path, e.text);
    endings = json_object_get(json_object_get(j, "sessions"), "endings");
    for (int k = 0; k < 5; k++)
        ck_assert_int_eq(json_integer_value(json_object_get(endings, kinds[k])), 2 * n[k]);
    ck_assert_int_eq(jget(j, "sessions", "ended"), 2 * ended);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

/* ---- each ending as the peer sees it ------------------------------------------------------ */

static int ends_seen;
static enum msrp_session_end end_why;

static void on_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    (void)s;
    (void)detail;
    ends_seen++;
    end_why = why;
}

static const struct msrp_session_handlers handlers = {.on_end = on_end};

/* A calling session connected to a plain listening socket; *peer: the accepted end, after
 * the session's binding SEND arrived on it. */
static struct msrp_session *connect_session(struct net_loop *loop, int *peer)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(l, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(l, 4), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
    char peer_uri[96];
    snprintf(peer_uri, sizeof(peer_uri), "msrp://127.0.0.1:%u/a1;tcp", ntohs(sa.sin_port));
    struct msrp_session_config cfg;
    msrp_session_config_default(&cfg);
    cfg.local_uri = "msrp://127.0.0.1:9/c1;tcp";
    cfg.peer_path = peer_uri;
    struct msrp_session *s = NULL;
    ck_assert_int_eq(msrp_session_connect(loop, &cfg, (struct sockaddr *)&sa, sizeof(sa), NULL,
                                          &handlers, NULL, &s),
                     0);
    *peer = -1;
    char buf[4096];
    ssize_t got = 0;
    uint64_t deadline = net_now_ns() + WAIT_NS;
    while (got <= 0 && net_now_ns() < deadline) {
        net_loop_run_once(loop, 10);
        if (*peer < 0)
            *peer = accept(l, NULL, NULL);
        if (*peer >= 0)
            got = recv(*peer, buf, sizeof(buf), MSG_DONTWAIT);
    }
    close(l);
    ck_assert_msg(got > 0, "the binding SEND never came");
    return s;
}

/* What the peer reads next: 0 at EOF, -errno on error; bounded by WAIT_NS. */
static int peer_reads(int fd)
{
    char buf[4096];
    uint64_t deadline = net_now_ns() + WAIT_NS;
    while (net_now_ns() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0)
            return 0;
        if (n < 0 && errno != EAGAIN)
            return -errno;
    }
    return 1; /* still open */
}

static const enum msrp_leave leave_kinds[] = {MSRP_LEAVE_ABRUPT, MSRP_LEAVE_RESET,
                                              MSRP_LEAVE_SILENT, MSRP_LEAVE_DROP,
                                              MSRP_LEAVE_IDLE};

START_TEST(peer_sees_each_ending)
{
    enum msrp_leave how = leave_kinds[_i];
    struct net_loop *loop;
    ck_assert_int_eq(net_loop_create(&loop, 64), 0);
    int peer;
    struct msrp_session *s = connect_session(loop, &peer);
    ends_seen = 0;
    struct net_conn *c = msrp_session_leave(s, how);
    /* the session is over at once, as an orderly end of ours */
    ck_assert_int_eq(ends_seen, 1);
    ck_assert_int_eq(end_why, MSRP_END_CLOSED);
    if (how == MSRP_LEAVE_RESET) {
        ck_assert_ptr_null(c);
        ck_assert_int_eq(peer_reads(peer), -ECONNRESET);
    } else if (how == MSRP_LEAVE_ABRUPT || how == MSRP_LEAVE_DROP) {
        /* over plain TCP a drop is an abrupt close too (TLS: check_conn.c) */
        ck_assert_ptr_null(c);
        ck_assert_int_eq(peer_reads(peer), 0); /* a FIN, not a reset */
    } else {
        /* silent: still open, and what the peer sends is not read; idle (no_reauth): still
         * open and still read (by the caller's handlers: here none, which drop it) */
        ck_assert_ptr_nonnull(c);
        ck_assert(net_conn_is_open(c));
        ck_assert_int_eq(send(peer, "hello", 5, 0), 5);
        for (int i = 0; i < 5; i++)
            net_loop_run_once(loop, 10);
        ck_assert_int_eq(net_conn_bytes_in(c), how == MSRP_LEAVE_IDLE ? 5 : 0);
        char b;
        ck_assert_int_eq(recv(peer, &b, 1, MSG_DONTWAIT), -1); /* no EOF: open */
        ck_assert_int_eq(errno, EAGAIN);
        net_conn_close(c, false); /* as the worker does at the run's end */
        int r = peer_reads(peer);
        ck_assert_msg(r == 0 || r == -ECONNRESET, "peer read %d after the close", r);
    }
    close(peer);
    for (int i = 0; i < 3; i++)
        net_loop_run_once(loop, 0);
    net_loop_destroy(loop);
}
END_TEST

/* Through the scripted Kamailio, CPIM chat asking for delivery notifications: sessions whose
 * lifetime ends no_reauth leave their AUTH to the relay's Expires, abrupt ones close at once,
 * clean ones close after their answers; every ending is counted, the run has no failures, and
 * the notifications owed to sessions cut off by their ending count as unfinished, not missing
 * (a relay's notification takes long enough to be owed when an ending comes), and so do the
 * file transfers an ending cuts. */
START_TEST(churn_through_relay)
{
    struct test_relay k;
    test_relay_start(&k, false, "RELAY_EXPIRES_MIN=2");
    if (test_relay_skip(&k, "churn churn_through_relay")) {
        test_relay_stop(&k);
        return;
    }
    struct tmp t;
    tmp_make(&t);
    char scn[160], pw[160], cmd[1400];
    snprintf(scn, sizeof(scn), "%s/churn.json", t.dir);
    snprintf(pw, sizeof(pw), "%s/pw", t.dir);
    write_text(pw, "loadpass\n");
    write_text(scn,
               "{ \"name\": \"churn-relay\",\n"
               "  \"load\": { \"sessions\": 1000000, \"concurrency\": 6, \"duration\": 3,\n"
               "    \"threads\": 1, \"seed\": 11, \"mode\": \"closed\", \"outstanding\": 4,\n"
               "    \"session_lifetime\": {\"min\": 0.05, \"max\": 0.15},\n"
               "    \"endings\": {\"clean\": 1, \"no_reauth\": 1, \"abrupt\": 1} },\n"
               "  \"topology\": { \"kind\": \"relay\", \"transport\": \"tcp\",\n"
               "    \"relay\": { \"user\": \"load%04d\", \"users\": 100, \"expires\": 2 } },\n"
               "  \"steps\": [ { \"repeat\": { \"times\": 0, \"steps\": [\n"
               "    { \"send\": { \"size\": 100, \"cpim\": true } },\n"
               "    { \"expect\": { \"status\": 200 } },\n"
               "    { \"send\": { \"chunk_size\": 4096, \"file\": { \"size\": 30000,\n"
               "      \"interrupt_at\": 0.5 } } },\n"
               "    { \"expect\": { \"status\": 200 } } ] } } ],\n"
               "  \"answer\": { \"status\": 200, \"check_sha256\": true,\n"
               "    \"accept_types\": \"message/cpim application/octet-stream\",\n"
               "    \"accept_wrapped_types\": \"text/plain message/imdn+xml\" } }\n");
    snprintf(cmd, sizeof(cmd),
             "timeout 60 %s run %s --relay '%s' --relay-password-file %s --out %s/r >%s/out 2>&1",
             msrpload_binary(), scn, k.uri, pw, t.dir, t.dir);
    int st = system(cmd);
    test_relay_stop(&k);
    char path[200];
    snprintf(path, sizeof(path), "%s/out", t.dir);
    size_t out_len;
    char *out = read_file(path, &out_len);
    ck_assert_ptr_nonnull(out);
    out = realloc(out, out_len + 1);
    out[out_len] = '\0';
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "run failed: %d\n%s", st, out);
    ck_assert_msg(strstr(out, " no_reauth") != NULL, "%s", out);
    free(out);
    snprintf(path, sizeof(path), "%s/r/summary.json", t.dir);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", path, e.text);
    json_t *endings = json_object_get(json_object_get(j, "sessions"), "endings");
    json_int_t clean = json_integer_value(json_object_get(endings, "clean"));
    json_int_t idle = json_integer_value(json_object_get(endings, "no_reauth"));
    json_int_t abrupt = json_integer_value(json_object_get(endings, "abrupt"));
    json_int_t other = json_integer_value(json_object_get(endings, "other"));
    json_int_t started = jget(j, "sessions", "started");
    /* lifetimes of 50-150 ms over 3 s on 6 slots: dozens of each */
    ck_assert_msg(clean >= 10 && idle >= 10 && abrupt >= 10, "clean %lld, no_reauth %lld, "
                  "abrupt %lld", (long long)clean, (long long)idle, (long long)abrupt);
    ck_assert_int_eq(clean + idle + abrupt + other, started);
    json_t *imdn = json_object_get(json_object_get(j, "messages"), "imdn");
    json_int_t requested = jget(imdn, "requested", NULL), received = jget(imdn, "received", NULL);
    json_int_t cut = jget(imdn, "unfinished", NULL);
    ck_assert_int_eq(jget(imdn, "missing", NULL), 0);
    ck_assert_int_eq(requested, received + cut);
    ck_assert_int_gt(received, 0);
    /* file transfers cut by an ending are unfinished too; none failed, none mis-hashed */
    json_t *files = json_object_get(j, "files");
    ck_assert_int_eq(jget(files, "failed", NULL), 0);
    ck_assert_int_eq(jget(files, "abandoned", NULL), 0);
    ck_assert_int_eq(jget(files, "transfers", NULL),
                     jget(files, "completed", NULL) + jget(files, "unfinished", NULL));
    ck_assert_int_gt(jget(files, "completed", NULL), 0);
    ck_assert_int_eq(jget(json_object_get(files, "hash_checked"), "failed", NULL), 0);
    ck_assert_int_eq(jget(j, "sessions", "ended"), started);
    ck_assert_int_eq(jget(j, "sessions", "failed"), 0);
    ck_assert_int_eq(jget(j, "messages", "failed"), 0);
    ck_assert_int_eq(jget(j, "messages", "lost"), 0);
    /* every session, both of its ends, authenticated afresh; none lived to refresh */
    ck_assert_int_eq(jget(j, "relay", "auth_failed"), 0);
    ck_assert_int_eq(jget(j, "relay", "refresh_ok"), 0);
    json_decref(j);
    tmp_remove(&t);
}
END_TEST

START_TEST(no_reauth_needs_a_relay)
{
    struct tmp t;
    tmp_make(&t);
    char scn[160], cmd[1024];
    snprintf(scn, sizeof(scn), "%s/churn.json", t.dir);
    write_text(scn, "{ \"name\": \"c\", \"load\": { \"sessions\": 2, \"duration\": 1,\n"
                    "  \"session_lifetime\": 0.1, \"endings\": {\"no_reauth\": 1} },\n"
                    "  \"steps\": [ { \"send\": {} } ] }\n");
    snprintf(cmd, sizeof(cmd), "timeout 60 %s run %s --out %s/r >%s/out 2>&1",
             msrpload_binary(), scn, t.dir, t.dir);
    int st = system(cmd);
    char path[200];
    snprintf(path, sizeof(path), "%s/out", t.dir);
    size_t out_len;
    char *out = read_file(path, &out_len);
    ck_assert_ptr_nonnull(out);
    out = realloc(out, out_len + 1);
    out[out_len] = '\0';
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit %d: %s", st, out);
    ck_assert_msg(strstr(out, "load.endings.no_reauth") != NULL && strstr(out, "relay") != NULL,
                  "%s", out);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* ---- the loader --------------------------------------------------------------------------- */

static void load_err(const char *load, char *err, size_t cap)
{
    char text[1024];
    snprintf(text, sizeof(text), "{\"name\":\"d\",\"load\":{%s},\"steps\":[{\"send\":{}}]}",
             load);
    struct scenario sc;
    err[0] = '\0';
    if (scenario_parse("d.json", text, strlen(text), &sc, err, cap) == 0) {
        err[0] = '\0';
        scenario_free(&sc);
    }
}

START_TEST(loader_reads_and_names_paths)
{
    char err[1024];
    struct scenario sc;
    const char *ok = "{\"name\":\"d\",\"load\":{\"session_lifetime\":{\"dist\":\"exponential\","
                     "\"mean\":2},\"endings\":{\"reset\":3,\"silent\":1}},"
                     "\"steps\":[{\"send\":{}}]}";
    ck_assert_int_eq(scenario_parse("d.json", ok, strlen(ok), &sc, err, sizeof(err)), 0);
    ck_assert(sc.has_lifetime);
    ck_assert_int_eq(sc.session_lifetime.kind, DISTRIB_EXPONENTIAL);
    ck_assert(sc.endings[SCENARIO_ENDING_CLEAN] == 0 && sc.endings[SCENARIO_ENDING_ABRUPT] == 0);
    ck_assert(sc.endings[SCENARIO_ENDING_RESET] == 3 && sc.endings[SCENARIO_ENDING_SILENT] == 1);
    scenario_free(&sc);
    /* no lifetime: none, and clean by default when one is given */
    const char *plain = "{\"name\":\"d\",\"load\":{\"session_lifetime\":5},"
                        "\"steps\":[{\"send\":{}}]}";
    ck_assert_int_eq(scenario_parse("d.json", plain, strlen(plain), &sc, err, sizeof(err)), 0);
    ck_assert(sc.has_lifetime && sc.session_lifetime.kind == DISTRIB_FIXED);
    ck_assert(sc.endings[SCENARIO_ENDING_CLEAN] > 0 && sc.endings[SCENARIO_ENDING_RESET] == 0);
    scenario_free(&sc);

    load_err("\"session_lifetime\":0", err, sizeof(err));
    ck_assert_msg(strstr(err, "$.load.session_lifetime") != NULL, "%s", err);
    load_err("\"session_lifetime\":\"x\"", err, sizeof(err));
    ck_assert_msg(strstr(err, "$.load.session_lifetime") != NULL, "%s", err);
    load_err("\"session_lifetime\":1,\"endings\":{\"rude\":1}", err, sizeof(err));
    ck_assert_msg(strstr(err, "$.load.endings.rude") != NULL, "%s", err);
    load_err("\"session_lifetime\":1,\"endings\":{\"reset\":-1}", err, sizeof(err));
    ck_assert_msg(strstr(err, "$.load.endings.reset") != NULL, "%s", err);
    load_err("\"session_lifetime\":1,\"endings\":{\"reset\":0}", err, sizeof(err));
    ck_assert_msg(strstr(err, "$.load.endings") != NULL && strstr(err, "above 0") != NULL, "%s",
                  err);
    load_err("\"endings\":{\"reset\":1}", err, sizeof(err));
    ck_assert_msg(strstr(err, "$.load.endings") != NULL &&
                      strstr(err, "session_lifetime") != NULL,
                  "%s", err);
}
END_TEST

Suite *make_churn_suite(void)
{
    Suite *s = suite_create("churn");
    TCase *tc = tcase_create("churn");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, loader_reads_and_names_paths);
    tcase_add_loop_test(tc, peer_sees_each_ending, 0, 5);
    tcase_add_test(tc, churn_run_endings_add_up_and_follow_weights);
    tcase_add_test(tc, no_reauth_needs_a_relay);
    tcase_add_test(tc, churn_through_relay);
    suite_add_tcase(s, tc);
    return s;
}
