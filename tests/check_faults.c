/*
 * check_faults.c - the fault matrix: `msrpload run` against peers that die, go silent or talk
 * garbage, interrupted by signals, writing into a full disk. Every row asserts the exit code,
 * that the report exists (and says incomplete where it is), and that its counts add up.
 *
 * The binary under test is $MSRPLOAD_BIN, or ./msrpload from the top of the tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "suites.h"
#include "testutil.h"

/* One msrpload process in the background, its output in files of its own test directory. */
struct fault_run {
    struct tmp t;
    pid_t pid;
};

static void fault_write(struct fault_run *f, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", f->t.dir, name);
    FILE *fp = fopen(path, "w");
    ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
    fputs(text, fp);
    fclose(fp);
}

/*
 * Starts `msrpload ARGS` (ARGS may use {dir} for the test directory) with stdout and stderr
 * in {dir}/out and {dir}/err. With nofile > 0 the process gets that RLIMIT_NOFILE and holds
 * `hold` descriptors besides (open on /dev/null, inherited), leaving it fewer free than the
 * limit says.
 */
static void fault_start_limited(struct fault_run *f, const char *args, rlim_t nofile, int hold)
{
    char expanded[8192] = "";
    for (const char *p = args; *p != '\0';) {
        if (strncmp(p, "{dir}", 5) == 0) {
            strncat(expanded, f->t.dir, sizeof(expanded) - strlen(expanded) - 1);
            p += 5;
        } else {
            size_t n = strlen(expanded);
            if (n + 1 < sizeof(expanded)) {
                expanded[n] = *p;
                expanded[n + 1] = '\0';
            }
            p++;
        }
    }
    char *cmd;
    ck_assert_int_ge(asprintf(&cmd, "exec %s %s >%s/out 2>%s/err", msrpload_binary(), expanded,
                              f->t.dir, f->t.dir),
                     0);
    f->pid = fork();
    ck_assert_int_ge(f->pid, 0);
    if (f->pid == 0) {
        if (hold > 0)
            for (int fd = 3; fd < 4096; fd++)
                close(fd);
        for (int i = 0; i < hold; i++)
            if (open("/dev/null", O_RDONLY) < 0)
                _exit(126);
        struct rlimit rl = {nofile, nofile};
        if (nofile > 0 && setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(126);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    free(cmd);
}

static void fault_start(struct fault_run *f, const char *args)
{
    fault_start_limited(f, args, 0, 0);
}

/* Waits up to limit_s for the run to end; kills it and fails the test past that. Returns its
 * exit code, or 128 + the signal that ended it. */
static int fault_wait(struct fault_run *f, double limit_s)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int st;
        pid_t got = waitpid(f->pid, &st, WNOHANG);
        if (got == f->pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        clock_gettime(CLOCK_MONOTONIC, &now);
        double spent = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
        if (spent > limit_s) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, &st, 0);
            ck_abort_msg("msrpload still running after %.0f s", limit_s);
        }
        usleep(20 * 1000);
    }
}

static char *fault_read(struct fault_run *f, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", f->t.dir, name);
    size_t len;
    char *data = read_file(path, &len);
    data = realloc(data, len + 1);
    data[len] = '\0';
    return data;
}

static json_t *fault_summary(struct fault_run *f, const char *out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/summary.json", f->t.dir, out);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", path, e.text);
    return j;
}

static json_int_t count(json_t *root, const char *obj, const char *key)
{
    json_t *v = json_object_get(json_object_get(root, obj), key);
    ck_assert_msg(json_is_integer(v), "%s.%s is not an integer", obj, key);
    return json_integer_value(v);
}

/* The identities the README promises for every ending of a run. */
static void assert_counts_add_up(json_t *s)
{
    json_int_t sent = count(s, "messages", "sent"), ok = count(s, "messages", "ok"),
               failed = count(s, "messages", "failed"), lost = count(s, "messages", "lost"),
               unfinished = count(s, "messages", "unfinished");
    ck_assert_msg(sent == ok + failed + lost + unfinished,
                  "sent %lld != ok %lld + failed %lld + lost %lld + unfinished %lld",
                  (long long)sent, (long long)ok, (long long)failed, (long long)lost,
                  (long long)unfinished);
    json_int_t started = count(s, "sessions", "started"), bound = count(s, "sessions", "bound"),
               completed = count(s, "sessions", "completed"),
               sfailed = count(s, "sessions", "failed"),
               sunfinished = count(s, "sessions", "unfinished");
    ck_assert_msg(bound <= started && started == completed + sfailed + sunfinished,
                  "sessions: %lld started, %lld bound, %lld completed, %lld failed, %lld "
                  "unfinished", (long long)started, (long long)bound, (long long)completed,
                  (long long)sfailed, (long long)sunfinished);
    json_t *ends = json_object_get(json_object_get(s, "sessions"), "ends");
    ck_assert_msg(json_is_object(ends), "sessions.ends is not an object");
    json_int_t ended = 0;
    const char *kind;
    json_t *n;
    json_object_foreach(ends, kind, n) {
        ck_assert_msg(json_is_integer(n), "sessions.ends.%s is not an integer", kind);
        ended += json_integer_value(n);
    }
    ck_assert_msg(ended == started, "sessions.ends add up to %lld, %lld started",
                  (long long)ended, (long long)started);
}

static json_int_t session_end_count(json_t *s, const char *kind)
{
    json_t *n = json_object_get(json_object_get(json_object_get(s, "sessions"), "ends"), kind);
    return json_is_integer(n) ? json_integer_value(n) : 0;
}

/*
 * errors.jsonl's line for kind (failure forensics), checked for its shape: a count, and at
 * most 3 examples with a session, a peer, a time and at most 8 frames of at most 128 head
 * bytes. Fails the test when the kind has no line.
 */
static json_t *errors_line(struct fault_run *f, const char *kind)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/report/errors.jsonl", f->t.dir);
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
    char line[65536];
    json_t *found = NULL;
    while (found == NULL && fgets(line, sizeof(line), fp) != NULL) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        ck_assert_msg(j != NULL, "%s: %s", path, e.text);
        if (strcmp(json_string_value(json_object_get(j, "kind")), kind) == 0)
            found = j;
        else
            json_decref(j);
    }
    fclose(fp);
    ck_assert_msg(found != NULL, "%s: no line of kind %s", path, kind);
    json_t *examples = json_object_get(found, "examples");
    ck_assert(json_is_integer(json_object_get(found, "count")));
    ck_assert(json_array_size(examples) >= 1 && json_array_size(examples) <= 3);
    size_t i;
    json_t *ex;
    json_array_foreach(examples, i, ex) {
        ck_assert(json_is_string(json_object_get(ex, "session")));
        ck_assert(json_is_string(json_object_get(ex, "peer")));
        ck_assert(json_is_string(json_object_get(ex, "detail")));
        ck_assert(json_is_string(json_object_get(ex, "time")));
        ck_assert(json_is_number(json_object_get(ex, "t_s")));
        json_t *frames = json_object_get(ex, "frames");
        ck_assert(json_array_size(frames) <= 8);
        size_t k;
        json_t *fr;
        json_array_foreach(frames, k, fr)
            ck_assert(strlen(json_string_value(json_object_get(fr, "head"))) <= 128 * 4);
    }
    return found;
}

/* The first example's frame number i (negative: from the end) as "dir head". */
static void example_frame(json_t *line, int i, char *out, size_t cap)
{
    json_t *frames = json_object_get(json_array_get(json_object_get(line, "examples"), 0),
                                     "frames");
    size_t n = json_array_size(frames);
    ck_assert_msg(n > 0, "no frames in the first example");
    json_t *fr = json_array_get(frames, i >= 0 ? (size_t)i : n - (size_t)-i);
    ck_assert_ptr_nonnull(fr);
    snprintf(out, cap, "%s %s", json_string_value(json_object_get(fr, "dir")),
             json_string_value(json_object_get(fr, "head")));
}

/* ---- peers that misbehave on purpose ------------------------------------------------------ */

enum peer_kind {
    PEER_SILENT,           /* accepts TCP, reads, never answers */
    PEER_BIND_THEN_SILENT, /* answers the first request on each connection 200, then nothing */
    PEER_GARBAGE,          /* answers whatever comes with bytes that are not MSRP */
};

struct peer {
    pid_t pid;
    uint16_t port;
};

struct peer_conn {
    int fd;
    bool answered;
    size_t len;
    char buf[8192];
};

/* The first request's header value `name` (up to CRLF), or "" when it has none. */
static void header_value(const char *req, const char *name, char *out, size_t cap)
{
    const char *p = strstr(req, name);
    out[0] = '\0';
    if (p == NULL)
        return;
    p += strlen(name);
    size_t n = strcspn(p, "\r\n");
    snprintf(out, cap, "%.*s", (int)n, p);
}

/* Answers the request in c->buf 200 once it is whole (its end line seen). */
static void peer_answer_bind(struct peer_conn *c)
{
    c->buf[c->len] = '\0';
    char tid[128], end[160];
    if (sscanf(c->buf, "MSRP %127s SEND", tid) != 1)
        return;
    snprintf(end, sizeof(end), "\r\n-------%s", tid);
    if (strstr(c->buf, end) == NULL)
        return;
    char to[512], from[512], resp[1400];
    header_value(c->buf, "\r\nTo-Path: ", to, sizeof(to));
    header_value(c->buf, "\r\nFrom-Path: ", from, sizeof(from));
    int n = snprintf(resp, sizeof(resp),
                     "MSRP %s 200 OK\r\nTo-Path: %s\r\nFrom-Path: %s\r\n-------%s$\r\n", tid,
                     from, to, tid);
    if (write(c->fd, resp, (size_t)n) != n)
        return;
    c->answered = true;
}

/* The child: serves connections on ls for at most a minute. */
static void peer_main(int ls, enum peer_kind kind)
{
    static struct peer_conn conns[128];
    struct pollfd pf[129];
    size_t n = 0;
    time_t end = time(NULL) + 60;
    while (time(NULL) < end) {
        pf[0] = (struct pollfd){.fd = ls, .events = POLLIN};
        for (size_t i = 0; i < n; i++)
            pf[1 + i] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        if (poll(pf, 1 + n, 200) <= 0)
            continue;
        if ((pf[0].revents & POLLIN) && n < 128) {
            int fd = accept(ls, NULL, NULL);
            if (fd >= 0)
                conns[n++] = (struct peer_conn){.fd = fd};
        }
        for (size_t i = 0; i < n; i++) {
            if (!(pf[1 + i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            struct peer_conn *c = &conns[i];
            char tmp[4096];
            ssize_t got = read(c->fd, tmp, sizeof(tmp));
            if (got <= 0) {
                close(c->fd);
                c->fd = -1; /* poll ignores it from now on */
                continue;
            }
            if (kind == PEER_GARBAGE && !c->answered) {
                static const char junk[] =
                    "HTTP/1.1 400 Bad Request\r\nConnection: keep-alive\r\n\r\n"
                    "\x16\x03\x01 this is not MSRP\r\n";
                c->answered = write(c->fd, junk, sizeof(junk) - 1) > 0;
            } else if (kind == PEER_BIND_THEN_SILENT && !c->answered) {
                size_t room = sizeof(c->buf) - 1 - c->len;
                size_t take = (size_t)got < room ? (size_t)got : room;
                memcpy(c->buf + c->len, tmp, take);
                c->len += take;
                peer_answer_bind(c);
            }
        }
    }
}

static void peer_start(struct peer *p, enum peer_kind kind)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(ls, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(ls, 128), 0);
    ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
    p->port = ntohs(sa.sin_port);
    p->pid = fork();
    ck_assert_int_ge(p->pid, 0);
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        peer_main(ls, kind);
        _exit(0);
    }
    close(ls); /* listening already: connects queue in its backlog until the child accepts */
}

static void peer_stop(struct peer *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
}

/* A `msrpload serve` answering nuris sessions, its URIs read from its standard output. */
struct serve {
    pid_t pid;
    char targets[4096]; /* "--target URI" for each */
};

static void serve_start(struct fault_run *f, struct serve *sv, int nuris)
{
    char path[512], cmd[1024];
    snprintf(path, sizeof(path), "%s/serve.out", f->t.dir);
    snprintf(cmd, sizeof(cmd), "exec %s serve --listen 127.0.0.1:0 --sessions %d >%s 2>&1",
             msrpload_binary(), nuris, path);
    sv->pid = fork();
    ck_assert_int_ge(sv->pid, 0);
    if (sv->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* Its URIs come first, one a line: wait (bounded) until all are there. */
    sv->targets[0] = '\0';
    for (int tries = 0; tries < 500; tries++) {
        usleep(20 * 1000);
        FILE *fp = fopen(path, "r");
        if (fp == NULL)
            continue;
        char line[512];
        int got = 0;
        size_t o = 0;
        while (got < nuris && fgets(line, sizeof(line), fp) != NULL &&
               strncmp(line, "msrp://", 7) == 0 && strchr(line, '\n') != NULL) {
            line[strcspn(line, "\n")] = '\0';
            o += (size_t)snprintf(sv->targets + o, sizeof(sv->targets) - o, " --target '%s'",
                                  line);
            got++;
        }
        fclose(fp);
        if (got == nuris)
            return;
    }
    kill(sv->pid, SIGKILL);
    waitpid(sv->pid, NULL, 0);
    ck_abort_msg("msrpload serve printed no %d URIs within 10 s", nuris);
}

static void serve_kill(struct serve *sv)
{
    if (sv->pid > 0) {
        kill(sv->pid, SIGKILL);
        waitpid(sv->pid, NULL, 0);
        sv->pid = 0;
    }
}

/* The exit code, the report, and its counts: what every row checks. Returns the summary. */
static json_t *fault_check(struct fault_run *f, int code, int want, const char *row)
{
    char *out = fault_read(f, "out"), *err = fault_read(f, "err");
    fprintf(stderr, "faults: %s: exit %d\n", row, code);
    ck_assert_msg(code == want, "%s: exit %d, want %d\nstdout: %s\nstderr: %s", row, code, want,
                  out, err);
    if (want != 0)
        ck_assert_msg(strstr(out, "expectations: all met") == NULL, "%s: all met printed:\n%s",
                      row, out);
    free(out);
    free(err);
    json_t *s = fault_summary(f, "report");
    assert_counts_add_up(s);
    /* Every failed session is in errors.jsonl: each end kind but an orderly close has a line
     * there with the same count. */
    const char *kind;
    json_t *n;
    json_object_foreach(json_object_get(json_object_get(s, "sessions"), "ends"), kind, n) {
        if (strcmp(kind, "closed") == 0)
            continue;
        json_t *line = errors_line(f, kind);
        ck_assert_msg(json_integer_value(json_object_get(line, "count")) == json_integer_value(n),
                      "%s: errors.jsonl counts %lld %s, sessions.ends %lld", row,
                      (long long)json_integer_value(json_object_get(line, "count")), kind,
                      (long long)json_integer_value(n));
        json_decref(line);
    }
    return s;
}

static const char *const target_scenario =
    "{\"name\": \"faults\", \"load\": {\"threads\": 1, \"sessions\": 4, \"concurrency\": 4,"
    " \"duration\": %g, \"outstanding\": 4},"
    " \"topology\": {\"kind\": \"target\", \"transport\": \"tcp\","
    " \"targets\": [\"msrp://127.0.0.1:%u/s1;tcp\"]},"
    " \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": ["
    " {\"send\": {\"size\": 100}}, {\"expect\": {\"status\": 200, \"timeout\": %g}}]}}]}";

/* 4 sessions of 1 thread sending 100-byte messages, 4 in flight, until the run ends. */
static void write_target_scenario(struct fault_run *f, double duration, unsigned port,
                                  double timeout)
{
    char text[1024];
    snprintf(text, sizeof(text), target_scenario, duration, port, timeout);
    fault_write(f, "scenario.json", text);
}

/* Rows: peers that die, go silent or talk garbage. */

/* Accepts TCP, never answers the binding SEND: nothing bound, exit 3 (it was 0, "all met"). */
START_TEST(row_silent_target)
{
    struct fault_run f;
    tmp_make(&f.t);
    struct peer p;
    peer_start(&p, PEER_SILENT);
    write_target_scenario(&f, 1.5, p.port, 0.5);
    fault_start(&f, "run {dir}/scenario.json --quiet --out {dir}/report");
    int code = fault_wait(&f, 60);
    peer_stop(&p);
    json_t *s = fault_check(&f, code, 3, "silent target");
    ck_assert_int_eq(count(s, "sessions", "started"), 4);
    ck_assert_int_eq(count(s, "sessions", "bound"), 0);
    ck_assert_int_eq(count(s, "sessions", "unfinished"), 4);
    char *err = fault_read(&f, "err");
    ck_assert_msg(strstr(err, "no session could reach its endpoint") != NULL &&
                      strstr(err, "not bound when the run ended") != NULL,
                  "stderr: %s", err);
    free(err);
    /* Forensics: the sessions cut off unbound, with their binding SEND the last frame. */
    json_t *line = errors_line(&f, "unbound-at-end");
    ck_assert_int_eq(json_integer_value(json_object_get(line, "count")), 4);
    char frame[1024];
    example_frame(line, -1, frame, sizeof(frame));
    ck_assert_msg(strncmp(frame, "out MSRP ", 9) == 0 && strstr(frame, " SEND\r\n") != NULL,
                  "last frame: %s", frame);
    json_decref(line);
    json_decref(s);
    tmp_remove(&f.t);
}
END_TEST

/*
 * Answers the binding SEND, then nothing: the messages never get an answer before the run
 * ends (30 s timeout), so not one met its expectation: exit 1 (it was 0, "all met").
 */
START_TEST(row_target_silent_after_bind)
{
    struct fault_run f;
    tmp_make(&f.t);
    struct peer p;
    peer_start(&p, PEER_BIND_THEN_SILENT);
    write_target_scenario(&f, 1.5, p.port, 30);
    fault_start(&f, "run {dir}/scenario.json --quiet --out {dir}/report");
    int code = fault_wait(&f, 60);
    peer_stop(&p);
    json_t *s = fault_check(&f, code, 1, "target silent after the bind");
    ck_assert_int_eq(count(s, "sessions", "bound"), 4);
    ck_assert_int_eq(count(s, "messages", "ok"), 0);
    ck_assert_int_eq(count(s, "messages", "unfinished"), 16); /* 4 sessions, 4 in flight */
    char *out = fault_read(&f, "out"), *err = fault_read(&f, "err");
    ck_assert_msg(strstr(out, "expectations: NOT MET: no message met its expectation") != NULL,
                  "stdout: %s", out);
    ck_assert_msg(strstr(err, "no message met its expectation") != NULL, "stderr: %s", err);
    free(out);
    free(err);
    json_decref(s);
    tmp_remove(&f.t);
}
END_TEST

/* Answers with bytes that are not MSRP: every session ends in a protocol error, none bound. */
START_TEST(row_garbage_target)
{
    struct fault_run f;
    tmp_make(&f.t);
    struct peer p;
    peer_start(&p, PEER_GARBAGE);
    write_target_scenario(&f, 3, p.port, 0.5);
    fault_start(&f, "run {dir}/scenario.json --quiet --out {dir}/report");
    int code = fault_wait(&f, 60);
    peer_stop(&p);
    json_t *s = fault_check(&f, code, 3, "garbage target");
    ck_assert_int_eq(count(s, "sessions", "failed"), 4);
    ck_assert_int_eq(session_end_count(s, "protocol-error"), 4);
    /* Forensics: what the peer sent, as it came, after our binding SEND. */
    json_t *line = errors_line(&f, "protocol-error");
    ck_assert_int_eq(json_integer_value(json_object_get(line, "count")), 4);
    char frame[1024];
    example_frame(line, -1, frame, sizeof(frame));
    ck_assert_msg(strncmp(frame, "in HTTP/1.1 400 Bad Request", 27) == 0, "last frame: %s", frame);
    example_frame(line, 0, frame, sizeof(frame));
    ck_assert_msg(strncmp(frame, "out MSRP ", 9) == 0, "first frame: %s", frame);
    char *out = fault_read(&f, "out");
    ck_assert_msg(strstr(out, "failures:") != NULL && strstr(out, "  protocol-error x4: at ") &&
                      strstr(out, "last frames:") != NULL && strstr(out, "< HTTP/1.1 400") != NULL,
                  "stdout: %s", out);
    free(out);
    json_decref(line);
    json_decref(s);
    tmp_remove(&f.t);
}
END_TEST

/*
 * The answering process (msrpload serve) is killed mid-run: every session fails (the peer
 * closed), the messages in flight are lost, counted once (they were in failed too).
 */
START_TEST(row_answering_process_killed)
{
    struct fault_run f;
    tmp_make(&f.t);
    struct serve sv;
    serve_start(&f, &sv, 4);
    write_target_scenario(&f, 10, 9, 0.5);
    char args[8192];
    snprintf(args, sizeof(args), "run {dir}/scenario.json --quiet --out {dir}/report%s",
             sv.targets);
    fault_start(&f, args);
    usleep(1500 * 1000);
    serve_kill(&sv);
    int code = fault_wait(&f, 60);
    json_t *s = fault_check(&f, code, 1, "answering process killed");
    ck_assert_int_eq(count(s, "sessions", "bound"), 4);
    ck_assert_int_eq(count(s, "sessions", "failed"), 4);
    ck_assert_int_eq(session_end_count(s, "peer-closed"), 4);
    ck_assert_int_gt(count(s, "messages", "ok"), 0);
    ck_assert_int_gt(count(s, "messages", "lost"), 0);
    /* Forensics: who closed, with the last exchanges (our SENDs, its 200s) before it did. */
    json_t *line = errors_line(&f, "peer-closed");
    ck_assert_int_eq(json_integer_value(json_object_get(line, "count")), 4);
    json_t *ex = json_array_get(json_object_get(line, "examples"), 0);
    const char *detail = json_string_value(json_object_get(ex, "detail"));
    ck_assert_msg(strstr(detail, "closed") != NULL || strstr(detail, "reset by peer") != NULL,
                  "detail: %s", json_string_value(json_object_get(ex, "detail")));
    ck_assert_uint_eq(json_array_size(json_object_get(ex, "frames")), 8);
    bool sent = false, answered = false;
    for (int i = 0; i < 8; i++) {
        char frame[1024];
        example_frame(line, i, frame, sizeof(frame));
        sent = sent || (strncmp(frame, "out MSRP ", 9) == 0 && strstr(frame, " SEND\r\n"));
        answered = answered || (strncmp(frame, "in MSRP ", 8) == 0 && strstr(frame, " 200 OK\r\n"));
    }
    ck_assert_msg(sent && answered, "no SEND out or 200 in among the last frames");
    json_decref(line);
    json_decref(s);
    tmp_remove(&f.t);
}
END_TEST

/*
 * More sessions than free descriptors: the ones that cannot connect (EMFILE) are started and
 * failed as local errors, not more failed than started, and not "unreachable" (exit 1, not 3).
 * RLIMIT_NOFILE 256 fits 40 sessions, but 230 of the descriptors are held already.
 */
START_TEST(row_descriptors_run_out)
{
    struct fault_run f;
    tmp_make(&f.t);
    struct serve sv;
    serve_start(&f, &sv, 40);
    fault_write(&f, "scenario.json",
                "{\"name\": \"faults\", \"load\": {\"threads\": 1, \"sessions\": 40,"
                " \"concurrency\": 40, \"duration\": 4, \"outstanding\": 1},"
                " \"topology\": {\"kind\": \"target\", \"transport\": \"tcp\","
                " \"targets\": [\"msrp://127.0.0.1:9/s1;tcp\"]},"
                " \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": ["
                " {\"send\": {\"size\": 100}}, {\"expect\": {\"status\": 200}}]}}]}");
    char args[8192];
    snprintf(args, sizeof(args), "run {dir}/scenario.json --quiet --out {dir}/report%s",
             sv.targets);
    fault_start_limited(&f, args, 256, 230);
    int code = fault_wait(&f, 60);
    serve_kill(&sv);
    json_t *s = fault_check(&f, code, 1, "descriptors run out");
    ck_assert_int_eq(count(s, "sessions", "started"), 40);
    ck_assert_int_gt(count(s, "sessions", "bound"), 0);
    ck_assert_int_gt(session_end_count(s, "local-error"), 0);
    ck_assert_int_eq(session_end_count(s, "local-error"), count(s, "sessions", "failed"));
    char *err = fault_read(&f, "err");
    ck_assert_msg(strstr(err, "no session could reach") == NULL, "stderr: %s", err);
    free(err);
    json_decref(s);
    tmp_remove(&f.t);
}
END_TEST

/* The relay topology against a peer of ours in place of the relay (relay-auth.json's users). */
static void relay_run_start(struct fault_run *f, const char *relay_uri, double duration)
{
    fault_write(f, "password", "loadpass\n");
    char args[1024];
    snprintf(args, sizeof(args),
             "run scenarios/relay-auth.json --sessions 4 --duration %g --relay '%s' "
             "--relay-password-file {dir}/password --quiet --out {dir}/report",
             duration, relay_uri);
    fault_start(f, args);
}

/* The relay accepts TCP and never answers AUTH: nothing bound, exit 3. */
START_TEST(row_silent_relay)
{
    struct fault_run f;
    tmp_make(&f.t);
    struct peer p;
    peer_start(&p, PEER_SILENT);
    char uri[64];
    snprintf(uri, sizeof(uri), "msrp://127.0.0.1:%u;tcp", p.port);
    relay_run_start(&f, uri, 1.5);
    int code = fault_wait(&f, 60);
    peer_stop(&p);
    json_t *s = fault_check(&f, code, 3, "silent relay");
    ck_assert_int_eq(count(s, "sessions", "started"), 4);
    ck_assert_int_eq(count(s, "sessions", "bound"), 0);
    ck_assert_int_eq(count(s, "relay", "auth_ok"), 0);
    /* Forensics: the AUTH went out (without its Authorization header) and nothing came. */
    json_t *line = errors_line(&f, "unbound-at-end");
    ck_assert_int_eq(json_integer_value(json_object_get(line, "count")), 4);
    char frame[1024];
    example_frame(line, -1, frame, sizeof(frame));
    ck_assert_msg(strncmp(frame, "out MSRP ", 9) == 0 && strstr(frame, " AUTH\r\n") != NULL &&
                      strstr(frame, "Authorization") == NULL,
                  "last frame: %s", frame);
    json_decref(line);
    json_decref(s);
    tmp_remove(&f.t);
}
END_TEST

/* An msrps:// relay URI pointed at a plain TCP port: the TLS handshake fails, exit 3. */
START_TEST(row_tls_relay_on_plain_port)
{
    struct fault_run f;
    tmp_make(&f.t);
    struct peer p;
    peer_start(&p, PEER_GARBAGE);
    char uri[64];
    snprintf(uri, sizeof(uri), "msrps://127.0.0.1:%u;tcp", p.port);
    relay_run_start(&f, uri, 3);
    int code = fault_wait(&f, 60);
    peer_stop(&p);
    json_t *s = fault_check(&f, code, 3, "msrps relay on a plain port");
    ck_assert_int_eq(count(s, "sessions", "bound"), 0);
    ck_assert_int_eq(count(s, "sessions", "failed"), count(s, "sessions", "started"));
    json_decref(s);
    tmp_remove(&f.t);
}
END_TEST

/* A real Kamailio relay killed mid-run (every process of it, SIGKILL). */
START_TEST(row_relay_killed)
{
    struct test_relay r;
    test_relay_start(&r, false, "");
    if (test_relay_skip(&r, "faults relay_killed"))
        return;
    struct fault_run f;
    tmp_make(&f.t);
    fault_write(&f, "password", "loadpass\n");
    fault_write(&f, "scenario.json",
                "{\"name\": \"faults-relay\", \"load\": {\"sessions\": 4, \"concurrency\": 4,"
                " \"duration\": 10, \"outstanding\": 2},"
                " \"topology\": {\"kind\": \"relay\", \"transport\": \"tcp\","
                " \"relay\": {\"user\": \"load%04d\", \"users\": 100}},"
                " \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": ["
                " {\"send\": {\"size\": 100}}, {\"expect\": {\"status\": 200, \"timeout\": 0.5}}"
                "]}}]}");
    char args[1024];
    snprintf(args, sizeof(args),
             "run {dir}/scenario.json --relay '%s' --relay-password-file {dir}/password --quiet "
             "--out {dir}/report",
             r.uri);
    fault_start(&f, args);
    usleep(2000 * 1000);
    /* Kill it where it stands: its main process and every worker of its process group. */
    char *pidtext = NULL;
    size_t len = 0;
    pidtext = read_file(r.pidfile, &len);
    pid_t pid = (pid_t)strtol(pidtext, NULL, 10);
    free(pidtext);
    ck_assert_int_gt(pid, 1);
    pid_t group = getpgid(pid);
    if (group > 1 && group != getpgrp())
        kill(-group, SIGKILL);
    else
        kill(pid, SIGKILL);
    int code = fault_wait(&f, 60);
    test_relay_stop(&r);
    json_t *s = fault_check(&f, code, 1, "relay killed");
    ck_assert_int_eq(count(s, "sessions", "bound"), 4);
    ck_assert_int_eq(count(s, "sessions", "failed"), 4);
    ck_assert_int_gt(count(s, "messages", "ok"), 0);
    json_decref(s);
    tmp_remove(&f.t);
}
END_TEST

/* Rows: signals and a full disk. */

/* Sends forever, 4 sessions on one thread; stuck: every answer is dropped, so nothing settles
 * and the drain after a first signal would last its whole bound. */
#define ENDLESS_SCENARIO(answer)                                                                   \
    "{\"name\": \"endless\", \"load\": {\"threads\": 1, \"sessions\": 4, \"duration\": 30},"       \
    " \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": [{\"send\": {\"failure_report\":"         \
    " \"yes\"}}]}}]" answer "}"

static bool fault_exists(struct fault_run *f, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", f->t.dir, name);
    return access(path, F_OK) == 0;
}

/* Waits (at most 10 s) until the run has made its report directory, i.e. the load is about to
 * start, then lets it run for settle_ms. */
static void fault_wait_started(struct fault_run *f, const char *name, int settle_ms)
{
    for (int i = 0; i < 500 && !fault_exists(f, name); i++)
        usleep(20 * 1000);
    ck_assert_msg(fault_exists(f, name), "%s/%s never appeared", f->t.dir, name);
    usleep((useconds_t)settle_ms * 1000);
}

/* One or two signals mid-run: the signal's exit code (128 + its number), a whole report that
 * says incomplete (no PARTIAL left), counts that add up. */
static const struct {
    const char *answer; /* the scenario's answer section, "" for the default */
    int signals[2];     /* the second 0: one signal */
    int code;
} interrupts[] = {
    {"", {SIGINT, 0}, 130},
    {", \"answer\": {\"drop\": 1}", {SIGINT, SIGINT}, 130},
    {"", {SIGTERM, 0}, 143},
};

START_TEST(interrupted_run)
{
    struct fault_run f;
    tmp_make(&f.t);
    char json[512];
    snprintf(json, sizeof(json), ENDLESS_SCENARIO("%s"), interrupts[_i].answer);
    fault_write(&f, "s.json", json);
    fault_start(&f, "run {dir}/s.json --quiet --out {dir}/r");
    fault_wait_started(&f, "r", 700);
    kill(f.pid, interrupts[_i].signals[0]);
    if (interrupts[_i].signals[1] != 0) {
        usleep(200 * 1000);
        kill(f.pid, interrupts[_i].signals[1]);
    }
    /* Bounded: the drain lasts at most 2 s after the first signal. */
    int code = fault_wait(&f, 20);
    char *err = fault_read(&f, "err");
    ck_assert_msg(code == interrupts[_i].code, "signal %d: exit %d, expected %d: %s",
                  interrupts[_i].signals[0], code, interrupts[_i].code, err);
    ck_assert_msg(!fault_exists(&f, "r/PARTIAL"), "the report is marked partial: %s", err);
    json_t *s = fault_summary(&f, "r");
    ck_assert(json_is_true(json_object_get(json_object_get(s, "run"), "incomplete")));
    assert_counts_add_up(s);
    json_decref(s);
    free(err);
    tmp_remove(&f.t);
}
END_TEST

/*
 * The report's directory on a tmpfs that fills up during the run, all of it or all but 8 KiB
 * (room for summary.json and timeseries.csv, a page each, not for the histograms): exit 1,
 * stderr names the file and the error, and PARTIAL stays, saying the same. The tmpfs lives in a
 * mount namespace of its own (unshare -m as root, unshare -rm otherwise), so the script below
 * runs the whole row there and copies out what the test looks at; the mount goes with the
 * namespace, and is unmounted before that.
 */
static const struct {
    int leave_kib;       /* left free once the run has made its directory */
    const char *failing; /* the file named in the error */
    bool has_summary;
} disks[] = {
    {0, "/disk/r/summary.json: No space left on device", false},
    {8, "/disk/r/latency-", true},
};

static const char disk_full_script[] =
    "d=$1; bin=$2; leave=$3\n"
    "mkdir -p \"$d/disk\"\n"
    "mount -t tmpfs -o size=1m msrpload-full \"$d/disk\" || exit 90\n"
    "\"$bin\" run \"$d/s.json\" --quiet --out \"$d/disk/r\" >\"$d/out\" 2>\"$d/err\" &\n"
    "pid=$!\n"
    "i=0\n"
    "while [ ! -e \"$d/disk/r/PARTIAL\" ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done\n"
    "dd if=/dev/zero of=\"$d/disk/filler\" bs=4096 2>/dev/null\n"
    "[ \"$leave\" -eq 0 ] || truncate -s -\"$leave\"K \"$d/disk/filler\"\n"
    "wait $pid; code=$?\n"
    "ls -A \"$d/disk/r\" >\"$d/listing\"\n"
    "mkdir \"$d/copy\" && cp \"$d/disk/r/summary.json\" \"$d/copy/\" 2>/dev/null\n"
    "cat \"$d/disk/r/PARTIAL\" >\"$d/partial\" 2>/dev/null\n"
    "umount \"$d/disk\"\n"
    "exit $code\n";

START_TEST(disk_full)
{
    const char *unshare = geteuid() == 0 ? "unshare -m true" : "unshare -rm true";
    if (system("unshare -m true >/dev/null 2>&1") != 0 &&
        system("unshare -rm true >/dev/null 2>&1") != 0) {
        printf("faults: disk_full: skipped: '%s' fails here (no mount namespace for a small "
               "tmpfs)\n", unshare);
        return;
    }
    struct fault_run f;
    tmp_make(&f.t);
    fault_write(&f, "s.json",
                "{\"name\": \"full\", \"load\": {\"threads\": 1, \"sessions\": 2, \"duration\":"
                " 1.5}, \"steps\": [{\"repeat\": {\"times\": 0, \"steps\": [{\"send\": {}}]}}]}");
    fault_write(&f, "disk.sh", disk_full_script);
    char script[256];
    snprintf(script, sizeof(script), "%s/disk.sh", f.t.dir);
    char leave[16];
    snprintf(leave, sizeof(leave), "%d", disks[_i].leave_kib);
    bool root = system("unshare -m true >/dev/null 2>&1") == 0;
    f.pid = fork();
    ck_assert_int_ge(f.pid, 0);
    if (f.pid == 0) {
        execlp("unshare", "unshare", root ? "-m" : "-rm", "sh", script, f.t.dir,
               msrpload_binary(), leave, (char *)NULL);
        _exit(127);
    }
    int code = fault_wait(&f, 30);
    if (code == 90) {
        printf("faults: disk_full: skipped: cannot mount a tmpfs in a mount namespace\n");
        tmp_remove(&f.t);
        return;
    }
    char *err = fault_read(&f, "err"), *out = fault_read(&f, "out");
    char *listing = fault_read(&f, "listing"), *partial = fault_read(&f, "partial");
    ck_assert_msg(code == 1, "exit %d\nstdout: %s\nstderr: %s", code, out, err);
    ck_assert_msg(strstr(err, disks[_i].failing) != NULL &&
                      strstr(err, "No space left on device") != NULL &&
                      strstr(err, "PARTIAL") != NULL,
                  "stderr: %s", err);
    ck_assert_msg(strstr(listing, "PARTIAL\n") != NULL, "the directory holds: %s", listing);
    ck_assert_msg(strstr(partial, disks[_i].failing + strlen("/disk/r/")) != NULL &&
                      strstr(partial, "No space left on device") != NULL,
                  "PARTIAL says: %s", partial);
    /* The measurement itself is not lost: the terminal summary has it, and summary.json when
     * there was room for it. */
    ck_assert_msg(strstr(out, "sessions:   2 started") != NULL, "stdout: %s", out);
    ck_assert_msg((strstr(listing, "summary.json\n") != NULL) == disks[_i].has_summary,
                  "the directory holds: %s", listing);
    if (disks[_i].has_summary) {
        json_t *s = fault_summary(&f, "copy");
        ck_assert(json_is_false(json_object_get(json_object_get(s, "run"), "incomplete")));
        assert_counts_add_up(s);
        json_decref(s);
    }
    free(err);
    free(out);
    free(listing);
    free(partial);
    tmp_remove(&f.t);
}
END_TEST

Suite *make_faults_suite(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("matrix");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, interrupted_run, 0, (int)(sizeof(interrupts) / sizeof(interrupts[0])));
    tcase_add_loop_test(tc, disk_full, 0, (int)(sizeof(disks) / sizeof(disks[0])));
    tcase_add_test(tc, row_silent_target);
    tcase_add_test(tc, row_target_silent_after_bind);
    tcase_add_test(tc, row_garbage_target);
    tcase_add_test(tc, row_answering_process_killed);
    tcase_add_test(tc, row_descriptors_run_out);
    tcase_add_test(tc, row_silent_relay);
    tcase_add_test(tc, row_tls_relay_on_plain_port);
    tcase_add_test(tc, row_relay_killed);
    suite_add_tcase(s, tc);
    return s;
}
