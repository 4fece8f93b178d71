/*
 * check_metrics.c - live metrics end to end, over real sockets: `msrpload run
 * --metrics-listen` scraped while it runs and after, its final counts equal to its
 * summary.json; `serve --metrics-listen`; bad values and ports in use; and a real Prometheus
 * (Debian's package) that scrapes a run and agrees with its summary (counts exactly, the rate
 * it computes within 5%), loading tools/prometheus/'s recording rules.
 *
 * Without /usr/bin/prometheus (or $PROMETHEUS_BIN) the Prometheus test is a visible skip with
 * its reason; under REQUIRE_PROMETHEUS=1 (CI, with tools/install-deps.sh --prometheus) it
 * fails instead.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "report/stats.h"
#include "suites.h"
#include "testutil.h"

/* The Prometheus binary: $PROMETHEUS_BIN (a missing one shows the skip), else Debian's. */
static const char *prometheus_bin(void)
{
    const char *env = getenv("PROMETHEUS_BIN");
    return env != NULL && *env != '\0' ? env : "/usr/bin/prometheus";
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

/*
 * One HTTP/1.0 request to 127.0.0.1:port over a plain socket (5 s timeouts). Returns the
 * status (0: no connection), the headers and body malloc'd in *head and *body (NULL-able).
 */
static int http(uint16_t port, const char *method, const char *path, char **head, char **body)
{
    if (head != NULL)
        *head = NULL;
    if (body != NULL)
        *body = NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        close(fd);
        return 0;
    }
    char req[2048];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\n\r\n", method,
                     path, port);
    ck_assert_int_lt(n, (int)sizeof(req));
    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (int rounds = 0; rounds < 100000; rounds++) {
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    int status = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || sep == NULL) {
        free(buf);
        return 0;
    }
    *sep = '\0';
    if (head != NULL)
        *head = strdup(buf);
    if (body != NULL)
        *body = strdup(sep + 4);
    free(buf);
    return status;
}

/* The sum of the samples whose line starts with prefix (a name and "{" or its labels); NAN
 * when there is none. */
static double metric(const char *text, const char *prefix)
{
    double sum = NAN;
    size_t n = strlen(prefix);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, prefix, n) == 0) {
            const char *sp = strchr(line, ' ');
            if (sp != NULL && (strchr(line, '\n') == NULL || sp < strchr(line, '\n')))
                sum = (isnan(sum) ? 0 : sum) + strtod(sp + 1, NULL);
        }
        const char *end = strchr(line, '\n');
        line = end != NULL ? end + 1 : NULL;
    }
    return sum;
}

/* argv run as a child with stdout and stderr in files; killed if the test dies. */
static pid_t spawn(const char *const *argv, const char *out, const char *err)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* The child's exit code; -1 if it had to be killed after limit_s (or died of a signal). */
static int wait_exit(pid_t pid, int limit_s)
{
    int st;
    for (int i = 0; i < limit_s * 20; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static bool exited(pid_t pid, int *code)
{
    int st;
    if (waitpid(pid, &st, WNOHANG) != pid)
        return false;
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return true;
}

static char *slurp(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    size_t len;
    char *data = read_file(path, &len);
    data = realloc(data, len + 1);
    data[len] = '\0';
    return data;
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static json_int_t jget(json_t *root, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(root, a), b);
    ck_assert_msg(json_is_integer(v), "summary %s.%s is not an integer", a, b);
    return json_integer_value(v);
}

#define RUN_SCENARIO                                                                           \
    "{\"name\": \"%s\", \"load\": {\"threads\": 2, \"sessions\": 6, \"concurrency\": 3, "       \
    "\"duration\": %s, \"warm_up\": 0%s}, \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": [" \
    "{\"send\": {\"size\": 300, \"chunk_size\": 200, \"failure_report\": \"yes\"}}, "          \
    "{\"expect\": {\"status\": 200}}]}}]}"

/* `msrpload run` with live metrics on a free port, linger long enough to be ended by a
 * signal. Retried on another port when the one chosen was taken meanwhile (exit 2). */
static pid_t start_run(const char *dir, const char *scenario, const char *linger, uint16_t *port)
{
    char sc[512], out[512], err[512], listen[64], report[512];
    snprintf(sc, sizeof(sc), "%s/%s", dir, scenario);
    snprintf(out, sizeof(out), "%s/run.out", dir);
    snprintf(err, sizeof(err), "%s/run.err", dir);
    snprintf(report, sizeof(report), "%s/report", dir);
    for (int attempt = 0; attempt < 3; attempt++) {
        *port = free_port();
        snprintf(listen, sizeof(listen), "127.0.0.1:%u", *port);
        const char *argv[] = {msrpload_binary(), "run", sc, "--quiet", "--out", report,
                              "--metrics-listen", listen, "--metrics-linger", linger, NULL};
        pid_t pid = spawn(argv, out, err);
        /* Up once it answers; an early exit 2 is the port taken (or a bad scenario). */
        for (int i = 0; i < 200; i++) {
            int code;
            if (exited(pid, &code)) {
                char *e = slurp(dir, "run.err");
                ck_assert_msg(code == 2 && strstr(e, "cannot listen") != NULL,
                              "run exited %d: %s", code, e);
                free(e);
                break;
            }
            if (http(*port, "GET", "/", NULL, NULL) == 200)
                return pid;
            usleep(50000);
        }
    }
    ck_abort_msg("msrpload run --metrics-listen never answered");
    return -1;
}

START_TEST(run_metrics_agree_with_summary)
{
    struct tmp t;
    tmp_make(&t);
    char text[1024];
    snprintf(text, sizeof(text), RUN_SCENARIO, "live", "2", "");
    write_text(t.dir, "s.json", text);
    uint16_t port;
    pid_t pid = start_run(t.dir, "s.json", "60", &port);
    const char *L = "{scenario=\"live\",shard=\"1/1\",topology=\"embedded\"";
    char fin[256], sent_key[256];
    snprintf(fin, sizeof(fin), "msrpload_run_finished%s}", L);
    snprintf(sent_key, sizeof(sent_key), "msrpload_messages_sent_total%s}", L);
    char *final = NULL, *head = NULL;
    double first_sent = NAN;
    int scrapes = 0;
    for (int i = 0; i < 600 && final == NULL; i++) {
        char *body = NULL;
        free(head);
        int st = http(port, "GET", "/metrics", &head, &body);
        ck_assert_int_eq(st, 200);
        scrapes++;
        if (isnan(first_sent))
            first_sent = metric(body, sent_key);
        if (metric(body, fin) == 1)
            final = body;
        else
            free(body);
        usleep(100000);
    }
    ck_assert_msg(final != NULL, "the run never showed its final counts");
    ck_assert_ptr_nonnull(strstr(head, "Content-Type: text/plain; version=0.0.4"));
    free(head);
    /* The linger ends at a signal; the exit code is the run's. */
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    int code = wait_exit(pid, 30);
    char *err = slurp(t.dir, "run.err");
    ck_assert_msg(code == 0, "exit %d: %s", code, err);
    free(err);

    char path[512];
    snprintf(path, sizeof(path), "%s/report/summary.json", t.dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", path, je.text);
    ck_assert_int_gt(jget(j, "messages", "sent"), 0);
    ck_assert_msg(first_sent <= (double)jget(j, "messages", "sent"), "a counter went down");
    ck_assert_int_gt(scrapes, 1);
    static const char *const msgs[] = {"sent", "ok", "failed", "lost", "unfinished",
                                       "delivered", "undelivered"};
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        char key[256];
        snprintf(key, sizeof(key), "msrpload_messages_%s_total%s}", msgs[i], L);
        ck_assert_msg(metric(final, key) == (double)jget(j, "messages", msgs[i]), "%s: %g vs %lld",
                      msgs[i], metric(final, key), (long long)jget(j, "messages", msgs[i]));
    }
    static const char *const sess[] = {"started", "bound", "completed", "failed", "unfinished"};
    for (size_t i = 0; i < sizeof(sess) / sizeof(sess[0]); i++) {
        char key[256];
        snprintf(key, sizeof(key), "msrpload_sessions_%s_total%s}", sess[i], L);
        ck_assert_msg(metric(final, key) == (double)jget(j, "sessions", sess[i]), "%s", sess[i]);
    }
    /* Every end reason adds up to the sessions started, as sessions.ends does. */
    char key[256];
    snprintf(key, sizeof(key), "msrpload_sessions_ended_total%s", L);
    ck_assert(metric(final, key) == (double)jget(j, "sessions", "started"));
    snprintf(key, sizeof(key), "msrpload_sessions_ended_total%s,reason=\"closed\"}", L);
    ck_assert(metric(final, key) ==
              (double)json_integer_value(json_object_get(
                  json_object_get(json_object_get(j, "sessions"), "ends"), "closed")));
    snprintf(key, sizeof(key), "msrpload_chunks_sent_total%s}", L);
    ck_assert(metric(final, key) == (double)jget(j, "throughput", "chunks"));
    snprintf(key, sizeof(key), "msrpload_payload_bytes_total%s}", L);
    ck_assert(metric(final, key) == (double)jget(j, "throughput", "payload_bytes"));
    snprintf(key, sizeof(key), "msrpload_wire_bytes_total%s,direction=\"out\"}", L);
    ck_assert(metric(final, key) == (double)jget(j, "throughput", "wire_bytes_out"));
    snprintf(key, sizeof(key), "msrpload_wire_bytes_total%s,direction=\"in\"}", L);
    ck_assert(metric(final, key) == (double)jget(j, "throughput", "wire_bytes_in"));
    snprintf(key, sizeof(key), "msrpload_messages_by_status_total%s,code=\"200\",class=\"2xx\"}",
             L);
    ck_assert(metric(final, key) == (double)json_integer_value(json_object_get(
                                        json_object_get(json_object_get(j, "messages"),
                                                        "by_status"), "200")));
    for (int k = 0; k < LAT__COUNT; k++) {
        const char *kind = lat_kind_name((enum lat_kind)k);
        snprintf(key, sizeof(key), "msrpload_latency_seconds_count%s,kind=\"%s\"}", L, kind);
        json_int_t want = json_integer_value(
            json_object_get(json_object_get(json_object_get(j, "latency_us"), kind), "count"));
        ck_assert_msg(metric(final, key) == (double)want, "latency %s: %g vs %lld", kind,
                      metric(final, key), (long long)want);
    }
    snprintf(key, sizeof(key), "msrpload_sessions_open%s}", L);
    ck_assert(metric(final, key) == 0);
    json_decref(j);
    free(final);
    tmp_remove(&t);
}
END_TEST

/* Runs msrpload (through the shell, bounded) with args; returns the exit code, stderr in err. */
static int msrpload_cmd(struct tmp *t, const char *args, char **err)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "timeout 30 %s %s >%s/o 2>%s/e", msrpload_binary(), args, t->dir,
             t->dir);
    int st = system(cmd);
    *err = slurp(t->dir, "e");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(bad_metrics_listen_is_a_usage_error)
{
    struct tmp t;
    tmp_make(&t);
    char text[1024];
    snprintf(text, sizeof(text), RUN_SCENARIO, "bad", "1", "");
    write_text(t.dir, "s.json", text);
    static const char *const bad[] = {"nonsense", "127.0.0.1", "127.0.0.1:99999", "[::1",
                                      ":9100", "127.0.0.1:abc", "no.such.host.invalid:9100"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char args[1024], *err;
        snprintf(args, sizeof(args), "run %s/s.json --quiet --out %s/r%zu --metrics-listen '%s'",
                 t.dir, t.dir, i, bad[i]);
        int code = msrpload_cmd(&t, args, &err);
        ck_assert_msg(code == 2 && strstr(err, "--metrics-listen") != NULL &&
                          strstr(err, bad[i]) != NULL,
                      "run %s: exit %d: %s", bad[i], code, err);
        free(err);
        snprintf(args, sizeof(args), "serve --listen 127.0.0.1:0 --metrics-listen '%s'", bad[i]);
        code = msrpload_cmd(&t, args, &err);
        ck_assert_msg(code == 2 && strstr(err, "--metrics-listen") != NULL, "serve %s: exit %d: %s",
                      bad[i], code, err);
        free(err);
        /* Nothing ran: no report directory was left behind. */
        char dir[600];
        snprintf(dir, sizeof(dir), "%s/r%zu", t.dir, i);
        ck_assert_int_ne(access(dir, F_OK), 0);
    }
    char args[1024], *err;
    snprintf(args, sizeof(args), "run %s/s.json --quiet --metrics-linger 5", t.dir);
    ck_assert_int_eq(msrpload_cmd(&t, args, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--metrics-linger needs --metrics-listen"));
    free(err);
    snprintf(args, sizeof(args), "run %s/s.json --quiet --metrics-listen 127.0.0.1:0 "
                                 "--metrics-linger -1", t.dir);
    ck_assert_int_eq(msrpload_cmd(&t, args, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--metrics-linger"));
    free(err);
    tmp_remove(&t);
}
END_TEST

START_TEST(metrics_port_in_use)
{
    struct tmp t;
    tmp_make(&t);
    char text[1024];
    snprintf(text, sizeof(text), RUN_SCENARIO, "busy", "1", "");
    write_text(t.dir, "s.json", text);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    unsigned port = ntohs(sin.sin_port);
    char args[1024], *err;
    snprintf(args, sizeof(args), "run %s/s.json --quiet --metrics-listen 127.0.0.1:%u", t.dir,
             port);
    int code = msrpload_cmd(&t, args, &err);
    ck_assert_msg(code == 2 && strstr(err, "--metrics-listen 127.0.0.1:") != NULL &&
                      strstr(err, "in use") != NULL,
                  "exit %d: %s", code, err);
    free(err);
    /* serve: an address it cannot listen on is exit 3, as for --listen */
    snprintf(args, sizeof(args), "serve --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:%u", port);
    code = msrpload_cmd(&t, args, &err);
    ck_assert_msg(code == 3 && strstr(err, "--metrics-listen") != NULL, "exit %d: %s", code, err);
    free(err);
    close(fd);
    tmp_remove(&t);
}
END_TEST

START_TEST(serve_metrics_endpoint)
{
    struct tmp t;
    tmp_make(&t);
    char out[512], err[512], listen[64];
    snprintf(out, sizeof(out), "%s/serve.out", t.dir);
    snprintf(err, sizeof(err), "%s/serve.err", t.dir);
    uint16_t port = free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    const char *argv[] = {msrpload_binary(), "serve", "--listen", "127.0.0.1:0", "--sessions",
                          "2", "--metrics-listen", listen, NULL};
    pid_t pid = spawn(argv, out, err);
    char *body = NULL;
    int st = 0;
    for (int i = 0; i < 200 && st != 200; i++) {
        free(body);
        st = http(port, "GET", "/metrics", NULL, &body);
        if (st != 200)
            usleep(50000);
    }
    ck_assert_int_eq(st, 200);
    ck_assert_msg(metric(body, "msrpload_serve_sessions_expected{") == 2, "%s", body);
    ck_assert(metric(body, "msrpload_serve_sessions_bound_total{") == 0);
    ck_assert(metric(body, "msrpload_serve_sessions_open{") == 0);
    free(body);
    ck_assert_int_eq(http(port, "GET", "/nothing-here", NULL, NULL), 404);
    char *head;
    ck_assert_int_eq(http(port, "POST", "/metrics", &head, NULL), 405);
    ck_assert_ptr_nonnull(strstr(head, "Allow: GET, HEAD"));
    free(head);
    kill(pid, SIGTERM);
    ck_assert_int_eq(wait_exit(pid, 20), 0);
    tmp_remove(&t);
}
END_TEST

/* serve's counters follow what a run sends it: every message the run had answered 200 is a
 * message serve received, with its bytes, on the one session it bound. */
START_TEST(serve_metrics_count_a_run)
{
    struct tmp t;
    tmp_make(&t);
    char out[512], err[512], listen[64];
    snprintf(out, sizeof(out), "%s/serve.out", t.dir);
    snprintf(err, sizeof(err), "%s/serve.err", t.dir);
    uint16_t port = free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    const char *argv[] = {msrpload_binary(), "serve", "--listen", "127.0.0.1:0", "--session-id",
                          "m1", "--log-level", "problems", "--metrics-listen", listen, NULL};
    pid_t pid = spawn(argv, out, err);
    char uri[256] = "";
    for (int i = 0; i < 200 && uri[0] == '\0'; i++) {
        if (access(out, R_OK) != 0) { /* the child has not opened it yet */
            usleep(50000);
            continue;
        }
        char *text = slurp(t.dir, "serve.out");
        if (strchr(text, '\n') != NULL)
            snprintf(uri, sizeof(uri), "%.*s", (int)strcspn(text, "\n"), text);
        free(text);
        if (uri[0] == '\0')
            usleep(50000);
    }
    ck_assert_msg(uri[0] != '\0', "serve printed no URI");
    char text[1024];
    snprintf(text, sizeof(text), RUN_SCENARIO, "to-serve", "1", "");
    write_text(t.dir, "s.json", text);
    char args[1024], *run_err;
    snprintf(args, sizeof(args), "run %s/s.json --quiet --out %s/report --threads 1 --sessions 1 "
                                 "--concurrency 1 --target '%s'", t.dir, t.dir, uri);
    int code = msrpload_cmd(&t, args, &run_err);
    ck_assert_msg(code == 0, "run exit %d: %s", code, run_err);
    free(run_err);
    char path[512];
    snprintf(path, sizeof(path), "%s/report/summary.json", t.dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    ck_assert_msg(j != NULL, "%s", je.text);
    double ok = (double)jget(j, "messages", "ok");
    ck_assert(ok > 0);
    /* The session's end reaches serve's loop a moment after the run exits: polled, bounded. */
    char *body = NULL;
    for (int i = 0; i < 100; i++) {
        free(body);
        ck_assert_int_eq(http(port, "GET", "/metrics", NULL, &body), 200);
        if (metric(body, "msrpload_serve_sessions_ended_total{") == 1)
            break;
        usleep(50000);
    }
    ck_assert_msg(metric(body, "msrpload_serve_sessions_ended_total{") == 1, "%s", body);
    ck_assert(metric(body, "msrpload_serve_sessions_bound_total{") == 1);
    ck_assert_msg(metric(body, "msrpload_serve_messages_received_total{") == ok, "%g vs %g",
                  metric(body, "msrpload_serve_messages_received_total{"), ok);
    ck_assert(metric(body, "msrpload_serve_payload_bytes_received_total{") ==
              (double)jget(j, "throughput", "payload_bytes"));
    ck_assert(metric(body, "msrpload_serve_violations_total{") == 0);
    ck_assert(metric(body, "msrpload_serve_sessions_open{") == 0);
    free(body);
    json_decref(j);
    kill(pid, SIGTERM);
    ck_assert_int_eq(wait_exit(pid, 20), 0);
    tmp_remove(&t);
}
END_TEST

/* ---- a real Prometheus ------------------------------------------------------------------- */

static void urlencode(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p != '\0' && n + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '_' || *p == '.' || *p == '-')
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
    }
    out[n] = '\0';
}

/* Prometheus' instant query at time `at` (unix seconds): the first result's value, NAN when
 * the result is empty. */
static double prom_query(uint16_t port, const char *query, double at)
{
    char enc[1024], path[1400];
    urlencode(query, enc, sizeof(enc));
    snprintf(path, sizeof(path), "/api/v1/query?query=%s&time=%.3f", enc, at);
    char *body = NULL;
    int st = http(port, "GET", path, NULL, &body);
    ck_assert_msg(st == 200, "query %s: HTTP %d: %s", query, st, body ? body : "");
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    ck_assert_msg(j != NULL, "query %s: %s", query, body);
    json_t *res = json_object_get(json_object_get(j, "data"), "result");
    double v = NAN;
    if (json_array_size(res) > 0)
        v = strtod(json_string_value(json_array_get(json_object_get(json_array_get(res, 0),
                                                                    "value"), 1)),
                   NULL);
    json_decref(j);
    free(body);
    return v;
}

/* A range selector's raw samples at time at: how many, and the first one's time. */
static int prom_samples(uint16_t port, const char *selector, double at, double *first)
{
    char enc[1024], path[1400];
    urlencode(selector, enc, sizeof(enc));
    snprintf(path, sizeof(path), "/api/v1/query?query=%s&time=%.3f", enc, at);
    char *body = NULL;
    ck_assert_int_eq(http(port, "GET", path, NULL, &body), 200);
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    ck_assert_msg(j != NULL, "%s", body);
    json_t *res = json_object_get(json_object_get(j, "data"), "result");
    json_t *values = json_object_get(json_array_get(res, 0), "values");
    int n = (int)json_array_size(values);
    if (n > 0)
        *first = json_number_value(json_array_get(json_array_get(values, 0), 0));
    json_decref(j);
    free(body);
    return n;
}

static bool env_on(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

START_TEST(prometheus_scrapes_a_run)
{
    if (access(prometheus_bin(), X_OK) != 0) {
        char why[600];
        snprintf(why, sizeof(why), "%s is not installed (tools/install-deps.sh --prometheus)",
                 prometheus_bin());
        if (env_on("REQUIRE_PROMETHEUS"))
            ck_abort_msg("prometheus_scrapes_a_run must run here (REQUIRE_PROMETHEUS=1), but %s",
                         why);
        test_skip("prometheus_scrapes_a_run", "%s", why);
        return;
    }
    struct tmp t;
    tmp_make(&t);
    char rules[4096];
    ck_assert_ptr_nonnull(realpath("tools/prometheus/msrpload-rules.yml", rules));
    uint16_t prom_port = free_port(), port = free_port();
    /* The run's port is chosen first and handed to Prometheus' configuration. */
    char cfg[8192];
    snprintf(cfg, sizeof(cfg),
             "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
             "rule_files:\n  - %s\n"
             "scrape_configs:\n  - job_name: msrpload\n    static_configs:\n"
             "      - targets: ['127.0.0.1:%u']\n",
             rules, port);
    write_text(t.dir, "prometheus.yml", cfg);
    char a_cfg[600], a_db[600], a_web[64], out[600], err[600];
    snprintf(a_cfg, sizeof(a_cfg), "--config.file=%s/prometheus.yml", t.dir);
    snprintf(a_db, sizeof(a_db), "--storage.tsdb.path=%s/data", t.dir);
    snprintf(a_web, sizeof(a_web), "--web.listen-address=127.0.0.1:%u", prom_port);
    snprintf(out, sizeof(out), "%s/prom.out", t.dir);
    snprintf(err, sizeof(err), "%s/prom.err", t.dir);
    const char *pargv[] = {prometheus_bin(), a_cfg, a_db, a_web, "--log.level=warn", NULL};
    pid_t prom = spawn(pargv, out, err);
    int st = 0, code;
    for (int i = 0; i < 600 && st != 200; i++) {
        ck_assert_msg(!exited(prom, &code), "prometheus exited %d", code);
        st = http(prom_port, "GET", "/-/ready", NULL, NULL);
        if (st != 200)
            usleep(50000);
    }
    ck_assert_msg(st == 200, "prometheus never got ready");

    /* Open loop at a steady 400 messages/s for 8 s, so a rate over 4 s of it is that rate. */
    char text[1024];
    snprintf(text, sizeof(text), RUN_SCENARIO, "prom", "8",
             ", \"mode\": \"open\", \"rate\": 400");
    write_text(t.dir, "s.json", text);
    char sc[600], report[600], listen[64];
    snprintf(sc, sizeof(sc), "%s/s.json", t.dir);
    snprintf(report, sizeof(report), "%s/report", t.dir);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    snprintf(out, sizeof(out), "%s/run.out", t.dir);
    snprintf(err, sizeof(err), "%s/run.err", t.dir);
    /* Linger 4 s: at a 1 s scrape interval, the final counts are scraped more than once. */
    const char *rargv[] = {msrpload_binary(), "run", sc, "--quiet", "--out", report,
                           "--metrics-listen", listen, "--metrics-linger", "4", NULL};
    pid_t run = spawn(rargv, out, err);
    code = wait_exit(run, 90);
    char *run_err = slurp(t.dir, "run.err");
    ck_assert_msg(code == 0, "run exit %d: %s", code, run_err);
    free(run_err);

    char path[600];
    snprintf(path, sizeof(path), "%s/report/summary.json", t.dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", path, je.text);
    double started = json_real_value(json_object_get(json_object_get(j, "run"), "started_unix"));
    double per_s = json_real_value(json_object_get(json_object_get(j, "throughput"),
                                                   "messages_per_s"));
    struct timeval now;
    gettimeofday(&now, NULL);
    double t_now = (double)now.tv_sec + now.tv_usec / 1e6;

    /* The final counts, scraped during the linger (the target is gone now, so its series are
     * marked stale: a range over them still holds every sample). */
    double sent = prom_query(prom_port, "max_over_time(msrpload_messages_sent_total{job=\"msrpload\"}[10m])", t_now);
    ck_assert_msg(sent == (double)jget(j, "messages", "sent"), "prometheus %g, summary %lld",
                  sent, (long long)jget(j, "messages", "sent"));
    double ok = prom_query(prom_port, "max_over_time(msrpload_messages_ok_total[10m])", t_now);
    ck_assert(ok == (double)jget(j, "messages", "ok"));
    double lat = prom_query(prom_port, "max_over_time(msrpload_latency_seconds_count{kind=\"message\"}[10m])", t_now);
    ck_assert(lat == (double)json_integer_value(json_object_get(
                         json_object_get(json_object_get(j, "latency_us"), "message"), "count")));
    /* The rate Prometheus computes over the run's steady part, against the summary's. Its
     * first scrapes of a new target come when they come: the window starts at the first
     * sample after the run's first second, and ends just before the run's end (8 s). */
    double at = started + 7.95, first = NAN;
    int samples = prom_samples(prom_port, "msrpload_messages_ok_total[7s]", at, &first);
    ck_assert_msg(samples >= 3 && !isnan(first), "%d samples in the run's steady part",
                  samples);
    char query[256];
    snprintf(query, sizeof(query), "rate(msrpload_messages_ok_total[%lldms])",
             (long long)((at - first) * 1000) + 1);
    double rate = prom_query(prom_port, query, at);
    fprintf(stderr, "prometheus_scrapes_a_run: prometheus rate %.1f/s, summary %.1f/s, "
                    "sent %g\n", rate, per_s, sent);
    ck_assert_msg(per_s > 300 && fabs(rate - per_s) <= 0.05 * per_s,
                  "prometheus rate %g/s vs summary %g/s", rate, per_s);
    /* The shipped recording rules loaded, and healthy. */
    char *rules_body = NULL;
    ck_assert_int_eq(http(prom_port, "GET", "/api/v1/rules", NULL, &rules_body), 200);
    ck_assert_ptr_nonnull(strstr(rules_body, "\"name\":\"msrpload\""));
    ck_assert_ptr_null(strstr(rules_body, "\"health\":\"err"));
    free(rules_body);
    json_decref(j);

    kill(prom, SIGTERM);
    ck_assert_int_ne(wait_exit(prom, 30), -1);
    tmp_remove(&t);
}
END_TEST

Suite *make_metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, run_metrics_agree_with_summary);
    tcase_add_test(tc, bad_metrics_listen_is_a_usage_error);
    tcase_add_test(tc, metrics_port_in_use);
    tcase_add_test(tc, serve_metrics_endpoint);
    tcase_add_test(tc, serve_metrics_count_a_run);
    tcase_add_test(tc, prometheus_scrapes_a_run);
    suite_add_tcase(s, tc);
    return s;
}
