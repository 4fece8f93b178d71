/*
 * check_serve_limits.c - `msrpload serve` against hostile or careless peers (issue 14, points
 * 8-11): descriptors that run out, peers that never read, a log that must not grow without
 * bound, bytes that conflict with what was received, and closes that used to leave no line.
 *
 * serve runs as a child process (the binary under test, msrpload_binary()) writing its JSON
 * lines to a file in a temporary directory; a raw client written here talks to it over
 * loopback on the port serve picked itself (port 0). Every wait is bounded, and every child
 * is killed by pid (and by the kernel, PR_SET_PDEATHSIG, should the test process die first).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "msrp/server.h"
#include "net/loop.h"
#include "suites.h"
#include "testutil.h"

#define WAIT_MS 5000

struct serve_child {
    pid_t pid;
    int out_fd;
    char uri[256];
    uint16_t port;
    struct tmp tmp;
    char log[128];
};

static pid_t child_pid; /* the one serve a test runs, for the teardown */

static void kill_child(void)
{
    if (child_pid > 0) {
        kill(child_pid, SIGKILL);
        while (waitpid(child_pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    child_pid = 0;
}

/* Reads one line from fd within timeout_ms; false on EOF or timeout. */
static bool read_line(int fd, char *line, size_t cap, int timeout_ms)
{
    size_t n = 0;
    uint64_t deadline = net_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (n + 1 < cap) {
        uint64_t now = net_now_ns();
        if (now >= deadline)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1) <= 0)
            continue;
        char ch;
        if (read(fd, &ch, 1) != 1)
            return false;
        if (ch == '\n')
            break;
        line[n++] = ch;
    }
    line[n] = '\0';
    return true;
}

/*
 * Starts `msrpload serve --listen 127.0.0.1:0 --log DIR/serve.log --session-id s1 ARGS`
 * (ARGS split at spaces), with RLIMIT_NOFILE lowered to nofile when it is not 0.
 */
static void serve_start(struct serve_child *c, const char *args, rlim_t nofile)
{
    memset(c, 0, sizeof(*c));
    tmp_make(&c->tmp);
    snprintf(c->log, sizeof(c->log), "%s/serve.log", c->tmp.dir);
    char *copy = strdup(args);
    char *argv[40];
    int argc = 0;
    argv[argc++] = (char *)msrpload_binary();
    argv[argc++] = "serve";
    argv[argc++] = "--listen";
    argv[argc++] = "127.0.0.1:0";
    argv[argc++] = "--log";
    argv[argc++] = c->log;
    argv[argc++] = "--session-id";
    argv[argc++] = "s1";
    for (char *tok = strtok(copy, " "); tok != NULL && argc < 39; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    int out[2];
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (nofile != 0) {
            struct rlimit rl = {nofile, nofile};
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                _exit(126);
        }
        dup2(out[1], STDOUT_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    child_pid = pid;
    free(copy);
    close(out[1]);
    c->pid = pid;
    c->out_fd = out[0];
    ck_assert_msg(read_line(c->out_fd, c->uri, sizeof(c->uri), 10000), "serve printed no URI");
    const char *colon = strrchr(c->uri, ':');
    ck_assert_ptr_nonnull(colon);
    c->port = (uint16_t)atoi(colon + 1);
    ck_assert_uint_ne(c->port, 0);
}

static void serve_stop(struct serve_child *c)
{
    kill_child();
    close(c->out_fd);
    tmp_remove(&c->tmp);
}

/* The first log line holding every one of the NULL-terminated needles, waiting at most
 * timeout_ms for it (malloc'd; NULL when none came). */
static char *log_wait(const struct serve_child *c, int timeout_ms, ...)
{
    uint64_t deadline = net_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        FILE *f = fopen(c->log, "r");
        char line[4096];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            va_list ap;
            va_start(ap, timeout_ms);
            bool all = true;
            for (const char *n = va_arg(ap, const char *); n != NULL; n = va_arg(ap, const char *))
                all = all && strstr(line, n) != NULL;
            va_end(ap);
            if (all) {
                fclose(f);
                return strdup(line);
            }
        }
        if (f != NULL)
            fclose(f);
        if (net_now_ns() >= deadline)
            return NULL;
        usleep(50000);
    }
}

/* ---- a raw client ------------------------------------------------------------------------- */

struct client {
    int fd;
    char buf[1 << 16];
    size_t len;
};

static void client_connect(struct client *cl, uint16_t port, int rcvbuf)
{
    memset(cl, 0, sizeof(*cl));
    cl->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(cl->fd, 0);
    if (rcvbuf > 0)
        setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct timeval tv = {.tv_sec = 3};
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void client_write(struct client *cl, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(cl->fd, data, len, MSG_NOSIGNAL);
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

/* Formats one SEND chunk to serve's session s1 into out; returns its length. */
static size_t format_send(char *out, size_t cap, const struct serve_child *c, const char *tid,
                          const char *mid, const char *range, const char *body, char flag)
{
    int n = snprintf(out, cap,
                     "MSRP %s SEND\r\nTo-Path: %s\r\nFrom-Path: msrp://127.0.0.1:9/c1;tcp\r\n"
                     "Message-ID: %s\r\nByte-Range: %s\r\nContent-Type: text/plain\r\n\r\n"
                     "%s\r\n-------%s%c\r\n",
                     tid, c->uri, mid, range, body, tid, flag);
    ck_assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

static void send_chunk(struct client *cl, const struct serve_child *c, const char *tid,
                       const char *mid, const char *range, const char *body, char flag)
{
    char req[4096];
    client_write(cl, req, format_send(req, sizeof(req), c, tid, mid, range, body, flag));
}

/* The status of serve's response to transaction tid (skipping anything before it). */
static int response_status(struct client *cl, const char *tid)
{
    char start[64];
    snprintf(start, sizeof(start), "MSRP %s ", tid);
    uint64_t deadline = net_now_ns() + (uint64_t)WAIT_MS * 1000000ull;
    for (;;) {
        cl->buf[cl->len] = '\0';
        char *at = strstr(cl->buf, start);
        if (at != NULL && strlen(at) >= strlen(start) + 3) {
            int status = atoi(at + strlen(start));
            size_t used = (size_t)(at - cl->buf) + strlen(start);
            memmove(cl->buf, cl->buf + used, cl->len - used);
            cl->len -= used;
            return status;
        }
        ck_assert_msg(net_now_ns() < deadline, "no response to %s", tid);
        ck_assert_msg(cl->len + 1 < sizeof(cl->buf), "response buffer full");
        ssize_t n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len, 0);
        ck_assert_msg(n > 0, "no response to %s: %s", tid, n == 0 ? "EOF" : strerror(errno));
        cl->len += (size_t)n;
    }
}

/* CPU seconds (user + system) the process has used. */
static double cpu_seconds(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    char *p = strrchr(text, ')');
    ck_assert_ptr_nonnull(p);
    unsigned long utime = 0, stime = 0;
    /* Fields 3.. after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime. */
    ck_assert_int_eq(
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime), 2);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- 8: descriptors run out ---------------------------------------------------------------- */

/*
 * With RLIMIT_NOFILE at 32 and 60 connections, accept fails with EMFILE. serve must not spin
 * (the listener stays readable while connections wait), must close what it cannot serve so
 * that a late client hears of it at once, and must say so in the log.
 */
START_TEST(descriptors_run_out)
{
    struct serve_child c;
    serve_start(&c, "", 32);
    int fds[60];
    for (int i = 0; i < 60; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(fds[i], 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons(c.port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        connect(fds[i], (struct sockaddr *)&sa, sizeof(sa));
    }
    char *line =
        log_wait(&c, WAIT_MS, "\"refused\"", "\"descriptors\"", "Too many open files", NULL);
    ck_assert_msg(line != NULL, "no refused line of kind descriptors");
    free(line);
    /* Not spinning: well under half a CPU over 1.5 s (a spinning loop takes all it gets). */
    double before = cpu_seconds(c.pid);
    usleep(1500000);
    double used = cpu_seconds(c.pid) - before;
    ck_assert_msg(used < 0.75, "serve used %.2f s of CPU in 1.5 s while out of descriptors", used);
    /* A late client is closed at once rather than left waiting in the backlog. */
    struct client late;
    client_connect(&late, c.port, 0);
    char b;
    ssize_t n = recv(late.fd, &b, 1, 0);
    ck_assert_msg(n == 0 || (n < 0 && errno == ECONNRESET),
                  "a client beyond the descriptor limit was not closed (recv: %zd, %s)", n,
                  n < 0 ? strerror(errno) : "data");
    close(late.fd);
    for (int i = 0; i < 60; i++)
        close(fds[i]);
    serve_stop(&c);
}
END_TEST

/* ---- 9: peers that never read, and the log ------------------------------------------------ */

/*
 * A peer pipelines requests and never reads the responses. serve stops reading from it once
 * its responses back up (so the peer's writes block), and closes it with a logged reason when
 * it stays stuck for --stall-timeout. Before, serve read on and queued responses up to 64 MiB.
 */
START_TEST(non_reading_peer_is_closed)
{
    struct serve_child c;
    serve_start(&c, "--stall-timeout 1 --log-level sessions", 0);
    struct client cl;
    client_connect(&cl, c.port, 4096);
    int fl = fcntl(cl.fd, F_GETFL);
    fcntl(cl.fd, F_SETFL, fl | O_NONBLOCK);
    /* 2,000 requests per batch, sent again and again: at most 12 s or until serve closes. */
    size_t cap = 2000 * 400, len = 0;
    char *batch = malloc(cap);
    for (int i = 0; i < 2000; i++) {
        char tid[16], mid[16];
        snprintf(tid, sizeof(tid), "t%07d", i);
        snprintf(mid, sizeof(mid), "m%07d", i);
        len += format_send(batch + len, cap - len, &c, tid, mid, "1-4/4", "abcd", '$');
    }
    uint64_t written = 0, deadline = net_now_ns() + 12000000000ull;
    size_t off = 0;
    bool closed = false;
    while (!closed && net_now_ns() < deadline) {
        struct pollfd pfd = {.fd = cl.fd, .events = POLLOUT};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = send(cl.fd, batch + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            closed = true;
        if (n <= 0)
            continue;
        written += (uint64_t)n;
        off = (off + (size_t)n) % len;
    }
    free(batch);
    ck_assert_msg(closed, "serve kept a peer that never reads (%llu bytes taken in 12 s)",
                  (unsigned long long)written);
    ck_assert_msg(written < 64ull << 20, "serve read %llu bytes from a peer that never reads",
                  (unsigned long long)written);
    char *line =
        log_wait(&c, WAIT_MS, "\"end\"", "\"write-overflow\"", "has not read our responses", NULL);
    ck_assert_msg(line != NULL, "no end line saying why the peer was closed");
    free(line);
    /* --log-level sessions: no line per message. */
    line = log_wait(&c, 0, "\"message\"", NULL);
    ck_assert_msg(line == NULL, "a message line at --log-level sessions: %s", line);
    close(cl.fd);
    serve_stop(&c);
}
END_TEST

/* The same in process, for the answering ends `msrpload run` embeds (msrp_server, session.c). */
static struct {
    bool ended;
    enum msrp_session_end why;
    char detail[256];
} stalled_end;

static void record_end(struct msrp_session *s, enum msrp_session_end why, const char *detail)
{
    (void)s;
    stalled_end.ended = true;
    stalled_end.why = why;
    snprintf(stalled_end.detail, sizeof(stalled_end.detail), "%s", detail);
}

START_TEST(answering_session_stops_reading_a_peer_that_does_not_read)
{
    memset(&stalled_end, 0, sizeof(stalled_end));
    struct net_loop *loop;
    ck_assert_int_eq(net_loop_create(&loop, 1024), 0);
    struct msrp_server *srv;
    char err[256];
    ck_assert_int_eq(msrp_server_create(loop, "127.0.0.1", 0, NULL, &srv, err, sizeof(err)), 0);
    struct msrp_session_config cfg;
    msrp_session_config_default(&cfg);
    cfg.stall_timeout_ns = 300ull * 1000000ull;
    static const struct msrp_session_handlers h = {.on_end = record_end};
    msrp_server_expect_any(srv, &cfg, &h, NULL);
    struct serve_child fake = {.port = msrp_server_port(srv)};
    snprintf(fake.uri, sizeof(fake.uri), "msrp://127.0.0.1:%u/any1;tcp", fake.port);
    struct client cl;
    client_connect(&cl, fake.port, 4096);
    fcntl(cl.fd, F_SETFL, fcntl(cl.fd, F_GETFL) | O_NONBLOCK);
    char batch[64 * 1024];
    size_t len = 0;
    for (int i = 0; len + 400 < sizeof(batch); i++) {
        char tid[16], mid[16];
        snprintf(tid, sizeof(tid), "t%07d", i);
        snprintf(mid, sizeof(mid), "m%07d", i);
        len += format_send(batch + len, sizeof(batch) - len, &fake, tid, mid, "1-4/4", "abcd", '$');
    }
    uint64_t written = 0, deadline = net_now_ns() + 10000000000ull;
    size_t off = 0;
    while (!stalled_end.ended && net_now_ns() < deadline) {
        ssize_t n = send(cl.fd, batch + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            written += (uint64_t)n;
            off = (off + (size_t)n) % len;
        }
        net_loop_run_once(loop, 5);
    }
    ck_assert_msg(stalled_end.ended,
                  "the session kept reading a peer that never reads (%llu bytes)",
                  (unsigned long long)written);
    ck_assert_int_eq(stalled_end.why, MSRP_END_WRITE_OVERFLOW);
    ck_assert_ptr_nonnull(strstr(stalled_end.detail, "has not read our responses"));
    ck_assert_uint_lt(written, 64ull << 20);
    close(cl.fd);
    msrp_server_destroy(srv);
    msrp_session_abort_all();
    net_loop_destroy(loop);
}
END_TEST

/* A forked process running an expect_any sink (shared or not) until killed; its port. */
static uint16_t sink_start(bool shared)
{
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    child_pid = fork();
    ck_assert_int_ge(child_pid, 0);
    if (child_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct net_loop *loop;
        struct msrp_server *srv;
        char err[256];
        if (net_loop_create(&loop, 64) != 0 ||
            msrp_server_create(loop, "127.0.0.1", 0, NULL, &srv, err, sizeof(err)) != 0)
            _exit(1);
        static const struct msrp_session_handlers none = {0};
        static struct msrp_session_config cfg;
        msrp_session_config_default(&cfg);
        msrp_server_expect_any(srv, &cfg, &none, NULL);
        msrp_server_any_shared(srv, shared);
        uint16_t p = msrp_server_port(srv);
        if (write(ready[1], &p, sizeof(p)) != sizeof(p))
            _exit(1);
        for (;;)
            net_loop_run_once(loop, 1000);
    }
    close(ready[1]);
    uint16_t port = 0;
    ck_assert_int_eq(read(ready[0], &port, sizeof(port)), (ssize_t)sizeof(port));
    close(ready[0]);
    return port;
}

/* RFC 4975 section 5.4: a second connection for a session already bound gets 506 (MUST), from
 * the sink too; a sink made shared (bench: 10,000 sessions naming one target URI) gives each
 * connection its own session instead. */
START_TEST(sink_second_connection_506_unless_shared)
{
    for (int shared = 0; shared <= 1; shared++) {
        struct serve_child fake = {.port = sink_start(shared)};
        snprintf(fake.uri, sizeof(fake.uri), "msrp://127.0.0.1:%u/one;tcp", fake.port);
        struct client a, b;
        client_connect(&a, fake.port, 0);
        send_chunk(&a, &fake, "tida1", "msgida1", "1-4/4", "abcd", '$');
        ck_assert_int_eq(response_status(&a, "tida1"), 200);
        client_connect(&b, fake.port, 0);
        send_chunk(&b, &fake, "tidb1", "msgidb1", "1-4/4", "abcd", '$');
        ck_assert_int_eq(response_status(&b, "tidb1"), shared ? 200 : 506);
        send_chunk(&a, &fake, "tida2", "msgida2", "1-4/4", "abcd", '$');
        ck_assert_int_eq(response_status(&a, "tida2"), 200);
        close(a.fd);
        close(b.fd);
        kill_child();
    }
}
END_TEST

/* --log-max-bytes: the log is rotated to FILE.1 and never grows far beyond the cap. */
START_TEST(log_rotates_at_its_cap)
{
    struct serve_child c;
    serve_start(&c, "--log-max-bytes 2048", 0);
    struct client cl;
    client_connect(&cl, c.port, 0);
    for (int i = 0; i < 40; i++) {
        char tid[16], mid[16];
        snprintf(tid, sizeof(tid), "tid%05d", i);
        snprintf(mid, sizeof(mid), "mid%05d", i);
        send_chunk(&cl, &c, tid, mid, "1-4/4", "abcd", '$');
        ck_assert_int_eq(response_status(&cl, tid), 200);
    }
    char *line = log_wait(&c, WAIT_MS, "mid00039", NULL);
    ck_assert_msg(line != NULL, "the last message has no line");
    free(line);
    char old[160];
    snprintf(old, sizeof(old), "%s.1", c.log);
    struct stat st_now, st_old;
    ck_assert_int_eq(stat(c.log, &st_now), 0);
    ck_assert_msg(stat(old, &st_old) == 0, "no %s after 40 message lines", old);
    /* Rotation happens after the line that reaches the cap: at most one line beyond it. */
    ck_assert_int_lt(st_now.st_size, 2048 + 1024);
    ck_assert_int_lt(st_old.st_size, 2048 + 1024);
    ck_assert_int_ge(st_old.st_size, 2048);
    close(cl.fd);
    serve_stop(&c);
}
END_TEST

/* ---- 10: conflicting bytes ------------------------------------------------------------------ */

/* The reproducer: 1-6/12 AAAAAA then 1-12/12 BBBBBBBBBBBB. */
START_TEST(conflicting_overlap_is_refused)
{
    struct serve_child c;
    serve_start(&c, "", 0);
    struct client cl;
    client_connect(&cl, c.port, 0);
    send_chunk(&cl, &c, "tid00001", "msg00001", "1-6/12", "AAAAAA", '+');
    ck_assert_int_eq(response_status(&cl, "tid00001"), 200);
    send_chunk(&cl, &c, "tid00002", "msg00001", "1-12/12", "BBBBBBBBBBBB", '$');
    ck_assert_int_eq(response_status(&cl, "tid00002"), 413);
    /* The rest of the refused message does not start a new one. */
    send_chunk(&cl, &c, "tid00003", "msg00001", "7-12/12", "AAAAAA", '$');
    ck_assert_int_eq(response_status(&cl, "tid00003"), 413);
    char *line = log_wait(&c, WAIT_MS, "\"violation\"", "\"overlap-conflict\"", "msg00001",
                          "bytes 1-6", NULL);
    ck_assert_msg(line != NULL, "no overlap-conflict violation");
    free(line);
    /* The same repeat with equal bytes is fine. */
    send_chunk(&cl, &c, "tid00004", "msg00002", "1-6/12", "AAAAAA", '+');
    ck_assert_int_eq(response_status(&cl, "tid00004"), 200);
    send_chunk(&cl, &c, "tid00005", "msg00002", "1-12/12", "AAAAAABBBBBB", '$');
    ck_assert_int_eq(response_status(&cl, "tid00005"), 200);
    line = log_wait(&c, WAIT_MS, "\"message\"", "msg00002", NULL);
    ck_assert_ptr_nonnull(line);
    free(line);
    line = log_wait(&c, 0, "\"message\"", "msg00001", NULL);
    ck_assert_msg(line == NULL, "a message line for the refused message: %s", line);
    close(cl.fd);
    serve_stop(&c);
}
END_TEST

/* ---- 11: closes that leave a line ------------------------------------------------------------ */

START_TEST(closes_before_binding_are_logged)
{
    struct serve_child c;
    serve_start(&c, "--first-request-timeout 1", 0);
    struct client bad, slow;
    client_connect(&bad, c.port, 0);
    client_write(&bad, "HELLO\r\n\r\n", 9);
    char *line = log_wait(&c, WAIT_MS, "\"violation\"", "\"session\":null",
                          "\"malformed-first-request\"", "byte 0", NULL);
    ck_assert_msg(line != NULL, "no line for a malformed first request");
    free(line);
    /* slowloris: the head never completes. */
    client_connect(&slow, c.port, 0);
    client_write(&slow, "MSRP abcd SE", 12);
    line = log_wait(&c, WAIT_MS, "\"refused\"", "\"first-request-timeout\"", "12 bytes", NULL);
    ck_assert_msg(line != NULL, "no line for a connection closed by the first-request timer");
    free(line);
    close(bad.fd);
    close(slow.fd);
    serve_stop(&c);
}
END_TEST

/* A bound session that goes quiet, and one whose body never ends, are closed with a reason. */
START_TEST(idle_and_endless_sessions_time_out)
{
    struct serve_child c;
    serve_start(&c, "--idle-timeout 1 --sessions 2", 0);
    char second[256];
    ck_assert(read_line(c.out_fd, second, sizeof(second), WAIT_MS));
    struct client idle, endless;
    client_connect(&idle, c.port, 0);
    send_chunk(&idle, &c, "tid00001", "msg00001", "1-4/4", "abcd", '$');
    ck_assert_int_eq(response_status(&idle, "tid00001"), 200);
    char *line = log_wait(&c, WAIT_MS, "\"end\"", "\"idle-timeout\"", "s1;tcp", NULL);
    ck_assert_msg(line != NULL, "an idle bound session was not closed");
    free(line);

    /* A body that trickles forever: bytes arrive, a chunk never completes. */
    client_connect(&endless, c.port, 0);
    char head[1024];
    int n =
        snprintf(head, sizeof(head),
                 "MSRP tid00002 SEND\r\nTo-Path: %s\r\nFrom-Path: msrp://127.0.0.1:9/c2;tcp\r\n"
                 "Message-ID: msg00002\r\nByte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\n",
                 second);
    client_write(&endless, head, (size_t)n);
    const char *sid = strrchr(second, '/') + 1;
    bool ended = false;
    for (int i = 0; i < 30 && !ended; i++) {
        if (send(endless.fd, "x", 1, MSG_NOSIGNAL) != 1)
            break;
        usleep(150000);
        line = log_wait(&c, 0, "\"end\"", "\"idle-timeout\"", sid, NULL);
        ended = line != NULL;
        free(line);
    }
    ck_assert_msg(ended, "a body that never ends kept its session for 4.5 s (--idle-timeout 1)");
    close(idle.fd);
    close(endless.fd);
    serve_stop(&c);
}
END_TEST

/*
 * More out-of-order ranges than --max-extents: 413 with a refused line naming the limit, and
 * the rest of the message is refused too instead of starting a new message.
 */
START_TEST(too_many_extents_refused_and_logged)
{
    struct serve_child c;
    serve_start(&c, "--max-extents 4", 0);
    struct client cl;
    client_connect(&cl, c.port, 0);
    /* Bytes 20, 18, 16, 14 are four holes; 12 is the fifth. */
    const uint64_t pos[] = {20, 18, 16, 14, 12};
    for (size_t i = 0; i < 5; i++) {
        char tid[16], range[32];
        snprintf(tid, sizeof(tid), "tid%05zu", i);
        snprintf(range, sizeof(range), "%llu-%llu/20", (unsigned long long)pos[i],
                 (unsigned long long)pos[i]);
        send_chunk(&cl, &c, tid, "msg00001", range, "z", '+');
        ck_assert_int_eq(response_status(&cl, tid), i < 4 ? 200 : 413);
    }
    char *line = log_wait(&c, WAIT_MS, "\"refused\"", "\"reassembly-limit\"", "msg00001",
                          "max_extents", "\"status\":413", NULL);
    ck_assert_msg(line != NULL, "no refused line naming max_extents");
    free(line);
    send_chunk(&cl, &c, "tid00009", "msg00001", "1-20/20", "zzzzzzzzzzzzzzzzzzzz", '$');
    ck_assert_int_eq(response_status(&cl, "tid00009"), 413);
    line = log_wait(&c, 500, "\"message\"", "msg00001", NULL);
    ck_assert_msg(line == NULL, "the refused message started again: %s", line);
    close(cl.fd);
    serve_stop(&c);
}
END_TEST

Suite *make_serve_limits_suite(void)
{
    Suite *s = suite_create("serve_limits");
    TCase *tc = tcase_create("Hostile");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, NULL, kill_child);
    tcase_add_test(tc, descriptors_run_out);
    tcase_add_test(tc, non_reading_peer_is_closed);
    tcase_add_test(tc, answering_session_stops_reading_a_peer_that_does_not_read);
    tcase_add_test(tc, log_rotates_at_its_cap);
    tcase_add_test(tc, sink_second_connection_506_unless_shared);
    tcase_add_test(tc, conflicting_overlap_is_refused);
    tcase_add_test(tc, closes_before_binding_are_logged);
    tcase_add_test(tc, idle_and_endless_sessions_time_out);
    tcase_add_test(tc, too_many_extents_refused_and_logged);
    suite_add_tcase(s, tc);
    return s;
}
