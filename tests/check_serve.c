/*
 * check_serve.c - `msrpload serve` run as a user would: the binary ($MSRPLOAD_BIN or
 * ./msrpload) is started as a child process and driven over loopback by a raw MSRP client
 * written here with blocking sockets, its requests spelled out byte for byte, its responses
 * read with the wire parser. Its JSON lines are read from its standard output.
 *
 * Every wait is bounded (poll with a timeout, SO_RCVTIMEO as a second guard), and every child
 * is killed by pid: at the end of each test, in the checked teardown, and, should the test
 * process die on a failed assertion first, by the kernel (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/loop.h"
#include "suites.h"
#include "testutil.h"
#include "wire/parser.h"
#include "wire/uri.h"

#define IO_TIMEOUT_MS 3000
#define CLIENT_FROM "msrp://127.0.0.1:9/c1;tcp"

/* ---- the serve child ------------------------------------------------------------------- */

struct serve_proc {
    pid_t pid;
    int out_fd, err_fd;
    char out[1 << 16]; /* stdout bytes not yet handed out as lines */
    size_t out_len;
    char uri[4][256];
    uint16_t port;
};

static pid_t children[16];

static void remember_child(pid_t pid)
{
    for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++) {
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
    }
}

static void forget_child(pid_t pid)
{
    for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
        if (children[i] == pid)
            children[i] = 0;
}

/* Kills and reaps one child by pid. */
static void kill_child(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    forget_child(pid);
}

/* Teardown: whatever a failed test left running. */
static void kill_leftovers(void)
{
    for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
        if (children[i] != 0)
            kill_child(children[i]);
}


/* Starts `msrpload serve ARGS` (ARGS split at spaces) with stdout and stderr on pipes. */
static void serve_spawn(struct serve_proc *p, const char *args)
{
    memset(p, 0, sizeof(*p));
    char *copy = strdup(args);
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)msrpload_binary();
    argv[argc++] = "serve";
    for (char *tok = strtok(copy, " "); tok != NULL && argc < 31; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    int out[2], err[2];
    ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Dies with the test process, whatever way that goes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        execv(argv[0], argv);
        _exit(127);
    }
    remember_child(pid);
    free(copy);
    close(out[1]);
    close(err[1]);
    p->pid = pid;
    p->out_fd = out[0];
    p->err_fd = err[0];
}

/*
 * Next line of fd into line (without its newline), buffering in buf/len. Returns false on
 * EOF or when timeout_ms pass without a complete line.
 */
static bool read_line_fd(int fd, char *buf, size_t cap, size_t *len, char *line, size_t linecap,
                         int timeout_ms)
{
    uint64_t deadline = net_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        char *nl = memchr(buf, '\n', *len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - buf);
            size_t copy = n < linecap - 1 ? n : linecap - 1;
            memcpy(line, buf, copy);
            line[copy] = '\0';
            memmove(buf, nl + 1, *len - n - 1);
            *len -= n + 1;
            return true;
        }
        uint64_t now = net_now_ns();
        if (now >= deadline || *len == cap)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        ssize_t n = read(fd, buf + *len, cap - *len);
        if (n <= 0)
            return false;
        *len += (size_t)n;
    }
}

static bool serve_line(struct serve_proc *p, char *line, size_t cap, int timeout_ms)
{
    return read_line_fd(p->out_fd, p->out, sizeof(p->out), &p->out_len, line, cap, timeout_ms);
}

/* Starts serve and reads the nuris URIs it prints first; learns the port from the first. */
static void serve_start(struct serve_proc *p, const char *args, int nuris)
{
    serve_spawn(p, args);
    for (int i = 0; i < nuris; i++)
        ck_assert_msg(serve_line(p, p->uri[i], sizeof(p->uri[i]), 10000),
                      "serve printed no URI (args: %s)", args);
    struct msrp_uri u;
    ck_assert_int_eq(msrp_uri_parse(p->uri[0], strlen(p->uri[0]), &u), MSRP_URI_OK);
    ck_assert(u.has_port && u.port != 0);
    p->port = u.port;
}

static void serve_stop(struct serve_proc *p)
{
    kill_child(p->pid);
    p->pid = 0;
    close(p->out_fd);
    close(p->err_fd);
}

/* Waits at most timeout_ms for the child to exit; returns its exit code, -1 if killed. */
static int serve_wait(struct serve_proc *p, int timeout_ms)
{
    uint64_t deadline = net_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    int st;
    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid)
            break;
        ck_assert_msg(net_now_ns() < deadline, "serve did not exit within %d ms", timeout_ms);
        usleep(10000);
    }
    forget_child(p->pid);
    p->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Everything left on fd until EOF (the child has exited) or the timeout. */
static char *drain_fd(int fd, int timeout_ms)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    uint64_t deadline = net_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (len < cap && net_now_ns() < deadline) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

/* Reads JSON lines until one has "event": event; returns it (caller decrefs). */
static json_t *next_event(struct serve_proc *p, const char *event)
{
    char line[8192];
    for (;;) {
        ck_assert_msg(serve_line(p, line, sizeof(line), IO_TIMEOUT_MS), "no \"%s\" event", event);
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        ck_assert_msg(o != NULL && json_is_object(o), "not a JSON object: %s", line);
        /* Every line has an event and a UTC time with milliseconds. */
        const char *ev = json_string_value(json_object_get(o, "event"));
        const char *t = json_string_value(json_object_get(o, "time"));
        ck_assert_ptr_nonnull(ev);
        ck_assert_msg(t != NULL && strlen(t) == 24 && t[10] == 'T' && t[19] == '.' && t[23] == 'Z',
                      "bad time in %s", line);
        if (strcmp(ev, event) == 0)
            return o;
        json_decref(o);
    }
}

static const char *jstr(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    ck_assert_msg(v != NULL, "no string %s", key);
    return v;
}

/* ---- the raw client -------------------------------------------------------------------- */

struct client {
    int fd;
    struct msrp_parser parser;
    char buf[1 << 16];
    size_t len;
};

/* What the tests look at in a chunk serve sent. */
struct rx {
    enum msrp_kind kind;
    char tid[MSRP_TID_MAX + 1];
    char method[16];
    int status;
    char to[512], from[512], message_id[64], byte_range[64], status_hdr[64];
};

static void client_connect(struct client *c, uint16_t port)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(c->fd, 0);
    struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    msrp_parser_init(&c->parser, NULL);
}

static void client_close(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static void client_write(struct client *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        data += n;
        len -= (size_t)n;
    }
}

static void copy_header(const struct msrp_chunk *ch, enum msrp_header_id id, char *out,
                        size_t cap)
{
    const struct msrp_header *h = msrp_chunk_header(ch, id);
    size_t n = h == NULL ? 0 : h->value.len < cap - 1 ? h->value.len : cap - 1;
    if (n > 0)
        memcpy(out, h->value.ptr, n);
    out[n] = '\0';
}

/* Next chunk from serve. Returns 1, 0 on EOF, -1 when nothing came within timeout_ms. */
static int client_recv(struct client *c, struct rx *out, int timeout_ms)
{
    uint64_t deadline = net_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        struct msrp_header headers[32];
        struct msrp_chunk ch = {.headers = headers, .headers_cap = 32};
        ssize_t r = c->len > 0 ? msrp_parse(&c->parser, c->buf, c->len, &ch) : MSRP_INCOMPLETE;
        ck_assert_msg(r != MSRP_MALFORMED, "serve sent something malformed: %s",
                      msrp_error_name(c->parser.error));
        if (r > 0) {
            ck_assert_msg(ch.flag != 0, "a chunk in pieces");
            memset(out, 0, sizeof(*out));
            out->kind = ch.kind;
            memcpy(out->tid, ch.tid.ptr, ch.tid.len);
            if (ch.kind == MSRP_REQUEST) {
                size_t n = ch.method.len < sizeof(out->method) ? ch.method.len : 15;
                memcpy(out->method, ch.method.ptr, n);
            }
            out->status = ch.status;
            copy_header(&ch, MSRP_H_TO_PATH, out->to, sizeof(out->to));
            copy_header(&ch, MSRP_H_FROM_PATH, out->from, sizeof(out->from));
            copy_header(&ch, MSRP_H_MESSAGE_ID, out->message_id, sizeof(out->message_id));
            copy_header(&ch, MSRP_H_BYTE_RANGE, out->byte_range, sizeof(out->byte_range));
            copy_header(&ch, MSRP_H_STATUS, out->status_hdr, sizeof(out->status_hdr));
            memmove(c->buf, c->buf + r, c->len - (size_t)r);
            c->len -= (size_t)r;
            return 1;
        }
        uint64_t now = net_now_ns();
        if (now >= deadline)
            return -1;
        ck_assert_uint_lt(c->len, sizeof(c->buf));
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return -1;
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return 0;
        ck_assert_msg(n > 0, "recv: %s", strerror(errno));
        c->len += (size_t)n;
    }
}

static void expect_chunk(struct client *c, struct rx *out)
{
    int r = client_recv(c, out, IO_TIMEOUT_MS);
    ck_assert_msg(r == 1, r == 0 ? "serve closed the connection" : "nothing from serve in time");
}

/* Expects the response to tid with status. */
static void expect_response(struct client *c, const char *tid, int status)
{
    struct rx r;
    expect_chunk(c, &r);
    ck_assert_msg(r.kind == MSRP_RESPONSE, "a %s request instead of a response to %s", r.method,
                  tid);
    ck_assert_str_eq(r.tid, tid);
    ck_assert_int_eq(r.status, status);
}

/*
 * A SEND spelled out. extra: header lines, each with its CRLF, after Byte-Range. ctype NULL:
 * no body section at all (an empty SEND). flag: '$', '+' or '#'.
 */
static void send_request(struct client *c, const char *method, const char *tid, const char *to,
                         const char *from, const char *mid, const char *range, const char *extra,
                         const char *ctype, const char *body, char flag)
{
    char *req;
    int n;
    char mid_line[128] = "", range_line[128] = "";
    if (mid != NULL)
        snprintf(mid_line, sizeof(mid_line), "Message-ID: %s\r\n", mid);
    if (range != NULL)
        snprintf(range_line, sizeof(range_line), "Byte-Range: %s\r\n", range);
    if (ctype != NULL)
        n = asprintf(&req,
                     "MSRP %s %s\r\nTo-Path: %s\r\nFrom-Path: %s\r\n%s%s%sContent-Type: %s\r\n"
                     "\r\n%s\r\n-------%s%c\r\n",
                     tid, method, to, from, mid_line, range_line, extra != NULL ? extra : "",
                     ctype, body, tid, flag);
    else
        n = asprintf(&req, "MSRP %s %s\r\nTo-Path: %s\r\nFrom-Path: %s\r\n%s%s%s-------%s%c\r\n",
                     tid, method, to, from, mid_line, range_line, extra != NULL ? extra : "", tid,
                     flag);
    ck_assert_int_gt(n, 0);
    client_write(c, req, (size_t)n);
    free(req);
}

static void send_text(struct client *c, const char *tid, const char *to, const char *mid,
                      const char *extra, const char *body)
{
    char range[64];
    size_t len = strlen(body);
    snprintf(range, sizeof(range), "1-%zu/%zu", len, len);
    send_request(c, "SEND", tid, to, CLIENT_FROM, mid, range, extra, "text/plain", body, '$');
}

/* Connects and binds with an empty SEND; checks the 200 and its paths. */
static void bind_client(struct client *c, struct serve_proc *p)
{
    client_connect(c, p->port);
    send_request(c, "SEND", "bind0001", p->uri[0], CLIENT_FROM, "bindm1", "1-0/0", NULL, NULL,
                 NULL, '$');
    struct rx r;
    expect_chunk(c, &r);
    ck_assert_int_eq(r.kind, MSRP_RESPONSE);
    ck_assert_str_eq(r.tid, "bind0001");
    ck_assert_int_eq(r.status, 200);
    /* RFC 4975 section 7.2: the response goes back along the request's From-Path. */
    ck_assert_str_eq(r.to, CLIENT_FROM);
    ck_assert_str_eq(r.from, p->uri[0]);
}

static void other_uri(const struct serve_proc *p, const char *sid, char *out, size_t cap)
{
    snprintf(out, cap, "msrp://127.0.0.1:%u/%s;tcp", p->port, sid);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n;
    ck_assert_int_eq(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", md[i]);
}

/* ---- binding and routing --------------------------------------------------------------- */

START_TEST(bind_with_empty_send)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    char want[128];
    other_uri(&p, "s1", want, sizeof(want));
    ck_assert_str_eq(p.uri[0], want);
    struct client c;
    bind_client(&c, &p);
    json_t *o = next_event(&p, "bound");
    ck_assert_str_eq(jstr(o, "session"), p.uri[0]);
    ck_assert(strncmp(jstr(o, "peer"), "127.0.0.1:", 10) == 0);
    json_decref(o);
    client_close(&c);
    serve_stop(&p);
}
END_TEST

START_TEST(unknown_session_gets_481)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    struct client c;
    client_connect(&c, p.port);
    char nobody[128];
    other_uri(&p, "nobody", nobody, sizeof(nobody));
    send_request(&c, "SEND", "unkn0001", nobody, CLIENT_FROM, "msg00001", "1-0/0", NULL, NULL, NULL,
                 '$');
    struct rx r;
    expect_chunk(&c, &r);
    ck_assert_int_eq(r.kind, MSRP_RESPONSE);
    ck_assert_str_eq(r.tid, "unkn0001");
    ck_assert_int_eq(r.status, 481);
    ck_assert_str_eq(r.to, CLIENT_FROM);
    /* Then serve hangs up: the connection belongs to no session. */
    ck_assert_int_eq(client_recv(&c, &r, IO_TIMEOUT_MS), 0);
    client_close(&c);
    /* The session itself is still there for the right URI. */
    bind_client(&c, &p);
    client_close(&c);
    serve_stop(&p);
}
END_TEST

/* RFC 4975 section 5.4: a request for a session already in use on another connection MUST
 * get 506; serve answered 481 and closed. */
START_TEST(second_connection_gets_506)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    struct client c;
    bind_client(&c, &p);
    struct client c2;
    client_connect(&c2, p.port);
    send_request(&c2, "SEND", "twice001", p.uri[0], CLIENT_FROM, "msg00001", "1-0/0", NULL, NULL,
                 NULL, '$');
    struct rx r;
    expect_chunk(&c2, &r);
    ck_assert_str_eq(r.tid, "twice001");
    ck_assert_int_eq(r.status, 506);
    ck_assert_str_eq(r.to, CLIENT_FROM);
    /* The refused connection is closed; the bound one goes on. */
    ck_assert_int_eq(client_recv(&c2, &r, IO_TIMEOUT_MS), 0);
    client_close(&c2);
    send_text(&c, "good0001", p.uri[0], "msg00002", NULL, "hello");
    expect_response(&c, "good0001", 200);
    client_close(&c);
    serve_stop(&p);
}
END_TEST

START_TEST(wrong_paths_after_binding_get_481)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1 --session-id s2", 2);
    struct client c;
    bind_client(&c, &p);
    /* To-Path names another session of the same server: not this connection's. */
    send_text(&c, "wrto0001", p.uri[1], "msg00001", NULL, "hello");
    struct rx r;
    expect_chunk(&c, &r);
    ck_assert_str_eq(r.tid, "wrto0001");
    ck_assert_int_eq(r.status, 481);
    /* A From-Path other than the bound peer's. */
    send_request(&c, "SEND", "wrfr0001", p.uri[0], "msrp://127.0.0.1:9/intruder;tcp", "msg00002",
                 "1-5/5", NULL, "text/plain", "hello", '$');
    expect_chunk(&c, &r);
    ck_assert_str_eq(r.tid, "wrfr0001");
    ck_assert_int_eq(r.status, 481);
    ck_assert_str_eq(r.to, "msrp://127.0.0.1:9/intruder;tcp");
    /* The session goes on for its peer. */
    send_text(&c, "good0001", p.uri[0], "msg00003", NULL, "hello");
    expect_response(&c, "good0001", 200);
    client_close(&c);
    serve_stop(&p);
}
END_TEST

START_TEST(unknown_method_gets_501)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    struct client c;
    bind_client(&c, &p);
    send_request(&c, "FOO", "abcd1234", p.uri[0], CLIENT_FROM, NULL, NULL, NULL, NULL, NULL,
                 '$');
    expect_response(&c, "abcd1234", 501);
    client_close(&c);
    serve_stop(&p);
}
END_TEST

START_TEST(malformed_request_gets_400)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    struct client c;
    bind_client(&c, &p);
    send_request(&c, "SEND", "badr0001", p.uri[0], CLIENT_FROM, "msg00001", "1-x", NULL,
                 "text/plain", "hello", '$');
    expect_response(&c, "badr0001", 400);
    json_t *o = next_event(&p, "violation");
    ck_assert_str_eq(jstr(o, "kind"), "byte-range");
    json_decref(o);
    /* The framing held, so the connection goes on. */
    send_text(&c, "good0001", p.uri[0], "msg00002", NULL, "hello");
    expect_response(&c, "good0001", 200);
    client_close(&c);
    serve_stop(&p);
}
END_TEST

/* ---- Failure-Report rules (RFC 4975 section 7.1.2) -------------------------------------- */

struct fr_case {
    const char *header; /* NULL: absent */
    bool bad;           /* To-Path of another session: 481 */
    int want;           /* expected response status, 0: none */
};

static const struct fr_case fr_cases[] = {
    {NULL, false, 200},      {NULL, true, 481},
    {"yes", false, 200},     {"yes", true, 481},
    {"partial", false, 0},   {"partial", true, 481},
    {"no", false, 0},        {"no", true, 0},
};

START_TEST(failure_report_rules)
{
    const struct fr_case *tc = &fr_cases[_i];
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    struct client c;
    bind_client(&c, &p);
    char extra[64] = "", to[256];
    if (tc->header != NULL)
        snprintf(extra, sizeof(extra), "Failure-Report: %s\r\n", tc->header);
    if (tc->bad)
        other_uri(&p, "s9", to, sizeof(to));
    else
        snprintf(to, sizeof(to), "%s", p.uri[0]);
    send_text(&c, "frtest01", to, "msg00001", extra, "hello");
    /* A request that is always answered tells whether anything came for the first one. */
    send_text(&c, "probe001", p.uri[0], "msg00002", "Failure-Report: yes\r\n", "probe");
    if (tc->want != 0)
        expect_response(&c, "frtest01", tc->want);
    expect_response(&c, "probe001", 200);
    client_close(&c);
    serve_stop(&p);
}
END_TEST

/* ---- Success-Report and REPORTs --------------------------------------------------------- */

START_TEST(success_report_after_out_of_order_chunks)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    struct client c;
    bind_client(&c, &p);
    /* The second chunk first, then the first one (RFC 4975 section 7.3.1: any order). */
    send_request(&c, "SEND", "chunk002", p.uri[0], CLIENT_FROM, "msg7", "6-10/10",
                 "Success-Report: yes\r\n", "text/plain", "world", '$');
    send_request(&c, "SEND", "chunk001", p.uri[0], CLIENT_FROM, "msg7", "1-5/10",
                 "Success-Report: yes\r\n", "text/plain", "hello", '+');
    expect_response(&c, "chunk002", 200);
    expect_response(&c, "chunk001", 200);
    struct rx r;
    expect_chunk(&c, &r);
    ck_assert_int_eq(r.kind, MSRP_REQUEST);
    ck_assert_str_eq(r.method, "REPORT");
    ck_assert_str_eq(r.to, CLIENT_FROM);
    ck_assert_str_eq(r.from, p.uri[0]);
    ck_assert_str_eq(r.message_id, "msg7");
    ck_assert_str_eq(r.byte_range, "1-10/10");
    ck_assert(strncmp(r.status_hdr, "000 200", 7) == 0);
    json_t *o = next_event(&p, "message");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "chunks")), 2);
    ck_assert(json_is_true(json_object_get(o, "out_of_order")));
    json_decref(o);

    /* Without Success-Report: no REPORT; the next thing to arrive is the probe's response. */
    send_text(&c, "nosr0001", p.uri[0], "msg8", NULL, "hello");
    expect_response(&c, "nosr0001", 200);
    send_text(&c, "probe001", p.uri[0], "msg9", NULL, "probe");
    expect_response(&c, "probe001", 200);

    /* REPORTs are never answered (section 7.1.2). */
    send_request(&c, "REPORT", "rept0001", p.uri[0], CLIENT_FROM, "somemsg", "1-5/5",
                 "Status: 000 200 OK\r\n", NULL, NULL, '$');
    send_text(&c, "probe002", p.uri[0], "msg10", NULL, "probe");
    expect_response(&c, "probe002", 200);
    o = next_event(&p, "report");
    ck_assert_str_eq(jstr(o, "message_id"), "somemsg");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "status")), 200);
    json_decref(o);
    client_close(&c);
    serve_stop(&p);
}
END_TEST

/* ---- the JSON lines --------------------------------------------------------------------- */

START_TEST(message_line_has_size_hash_chunks)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    struct client c;
    bind_client(&c, &p);
    const char *parts[3] = {"The quick brown ", "fox jumps over ", "the lazy dog"};
    char whole[128] = "";
    for (int i = 0; i < 3; i++)
        strcat(whole, parts[i]);
    size_t total = strlen(whole), at = 1;
    for (int i = 0; i < 3; i++) {
        char tid[16], range[64];
        snprintf(tid, sizeof(tid), "part%04d", i);
        snprintf(range, sizeof(range), "%zu-%zu/%zu", at, at + strlen(parts[i]) - 1, total);
        at += strlen(parts[i]);
        send_request(&c, "SEND", tid, p.uri[0], CLIENT_FROM, "fox1", range, NULL,
                     "text/plain; charset=utf-8", parts[i], i == 2 ? '$' : '+');
        expect_response(&c, tid, 200);
    }
    json_t *o = next_event(&p, "message");
    char want[65];
    sha256_hex(whole, total, want);
    ck_assert_str_eq(jstr(o, "session"), p.uri[0]);
    ck_assert_str_eq(jstr(o, "message_id"), "fox1");
    ck_assert_str_eq(jstr(o, "content_type"), "text/plain; charset=utf-8");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "size")), (json_int_t)total);
    ck_assert_str_eq(jstr(o, "sha256"), want);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "chunks")), 3);
    ck_assert(json_is_false(json_object_get(o, "aborted")));
    json_decref(o);

    /* An aborted message: "#" ends it (RFC 4975 section 7.1.1). */
    send_request(&c, "SEND", "abrt0001", p.uri[0], CLIENT_FROM, "gone1", "1-5/10", NULL,
                 "text/plain", "hello", '#');
    expect_response(&c, "abrt0001", 200);
    o = next_event(&p, "message");
    ck_assert_str_eq(jstr(o, "message_id"), "gone1");
    ck_assert(json_is_true(json_object_get(o, "aborted")));
    ck_assert(json_is_null(json_object_get(o, "sha256")));
    json_decref(o);
    client_close(&c);
    serve_stop(&p);
}
END_TEST

START_TEST(violation_line_for_byte_range)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    struct client c;
    bind_client(&c, &p);
    /* Byte-Range says ten bytes, the body has five. */
    send_request(&c, "SEND", "viol0001", p.uri[0], CLIENT_FROM, "msg00001", "1-10/10", NULL,
                 "text/plain", "hello", '$');
    expect_response(&c, "viol0001", 400);
    json_t *o = next_event(&p, "violation");
    ck_assert_str_eq(jstr(o, "session"), p.uri[0]);
    ck_assert_str_eq(jstr(o, "kind"), "byte-range");
    ck_assert_ptr_nonnull(strstr(jstr(o, "detail"), "body length"));
    json_decref(o);
    client_close(&c);
    serve_stop(&p);
}
END_TEST

/* serve checks what RFC 4975 makes a sender do: range end "*" on a body over 2048 octets
 * (7.1.1, MUST) and "$" only on the chunk that ends the message (7.1, MUST). */
START_TEST(violation_lines_for_sender_rules)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    struct client c;
    bind_client(&c, &p);
    char *big = malloc(3001);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 3000);
    big[3000] = '\0';
    /* Right: "*" as the range end of a 3000-octet body; no violation. */
    send_request(&c, "SEND", "star0001", p.uri[0], CLIENT_FROM, "msg00001", "1-*/3000", NULL,
                 "text/plain", big, '$');
    expect_response(&c, "star0001", 200);
    send_request(&c, "SEND", "numr0001", p.uri[0], CLIENT_FROM, "msg00002", "1-3000/3000", NULL,
                 "text/plain", big, '$');
    expect_response(&c, "numr0001", 200);
    send_request(&c, "SEND", "dolr0001", p.uri[0], CLIENT_FROM, "msg00003", "1-5/10", NULL,
                 "text/plain", "hello", '$');
    expect_response(&c, "dolr0001", 200);
    json_t *o = next_event(&p, "violation");
    ck_assert_str_eq(jstr(o, "kind"), "range-end-not-star");
    json_decref(o);
    o = next_event(&p, "violation");
    ck_assert_str_eq(jstr(o, "kind"), "dollar-not-at-end");
    json_decref(o);
    free(big);
    client_close(&c);
    serve_stop(&p);
}
END_TEST

START_TEST(session_expected_again_after_end)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    struct client c;
    bind_client(&c, &p);
    json_decref(next_event(&p, "bound"));
    client_close(&c);
    json_t *o = next_event(&p, "end");
    ck_assert_str_eq(jstr(o, "reason"), "peer-closed");
    json_decref(o);
    /* The client comes back, even from another From-Path: a new binding. */
    bind_client(&c, &p);
    json_decref(next_event(&p, "bound"));
    client_close(&c);
    serve_stop(&p);
}
END_TEST

START_TEST(log_file_gets_the_lines)
{
    char dir[] = "/tmp/msrpload-serve-log-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128], args[256];
    snprintf(path, sizeof(path), "%s/events.jsonl", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"event\":\"earlier\"}\n", f);
    fclose(f);
    snprintf(args, sizeof(args), "--listen 127.0.0.1:0 --session-id s1 --log %s", path);
    struct serve_proc p;
    serve_start(&p, args, 1);
    struct client c;
    bind_client(&c, &p);
    send_text(&c, "logm0001", p.uri[0], "msg00001", NULL, "hello");
    expect_response(&c, "logm0001", 200);
    /* The message line is written before the response goes out. */
    FILE *in = fopen(path, "r");
    ck_assert_ptr_nonnull(in);
    char line[4096];
    int lines = 0;
    bool message = false;
    while (fgets(line, sizeof(line), in) != NULL) {
        lines++;
        message = message || strstr(line, "\"event\":\"message\"") != NULL;
    }
    fclose(in);
    ck_assert_msg(lines >= 3 && message, "%d lines in the log", lines);
    client_close(&c);
    serve_stop(&p);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ---- process behaviour ------------------------------------------------------------------ */

START_TEST(sigint_stops_cleanly)
{
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0 --session-id s1", 1);
    struct client c;
    bind_client(&c, &p);
    send_text(&c, "sigm0001", p.uri[0], "msg00001", NULL, "hello");
    expect_response(&c, "sigm0001", 200);
    ck_assert_int_eq(kill(p.pid, SIGINT), 0);
    ck_assert_int_eq(serve_wait(&p, 2000), 0);
    json_t *o = next_event(&p, "end");
    ck_assert_str_eq(jstr(o, "reason"), "closed");
    json_decref(o);
    char *err = drain_fd(p.err_fd, 1000);
    ck_assert_msg(strstr(err, "1 sessions bound, 1 messages received, 0 violations") != NULL,
                  "stderr: %s", err);
    free(err);
    /* The session's connection was closed. */
    struct rx r;
    ck_assert_int_eq(client_recv(&c, &r, IO_TIMEOUT_MS), 0);
    client_close(&c);
    close(p.out_fd);
    close(p.err_fd);
}
END_TEST

/* Runs serve to its end; returns the exit code and its stderr (caller frees). */
static int run_serve(const char *args, char **err)
{
    struct serve_proc p;
    serve_spawn(&p, args);
    int rc = serve_wait(&p, 10000);
    *err = drain_fd(p.err_fd, 1000);
    char *out = drain_fd(p.out_fd, 1000);
    if (strstr(args, "--help") != NULL) {
        free(*err);
        *err = out;
    } else {
        free(out);
    }
    close(p.out_fd);
    close(p.err_fd);
    return rc;
}

START_TEST(command_line_errors)
{
    char *text;
    ck_assert_int_eq(run_serve("--help", &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "usage: msrpload serve"));
    ck_assert_ptr_nonnull(strstr(text, "--listen"));
    free(text);

    static const char *usage_errors[] = {
        "--bogus",
        "",
        "--listen 127.0.0.1",
        "--listen ::1:5",
        "--listen 127.0.0.1:70000",
        "--listen 127.0.0.1:0 --sessions 0",
        "--listen 127.0.0.1:0 --session-id a --session-id a",
        "--listen 127.0.0.1:0 --session-id bad;id",
        "--listen 127.0.0.1:0 --cert x.pem",
        "--listen 127.0.0.1:0 --bind-timeout soon",
        "--listen 127.0.0.1:0 --session-id",
    };
    for (size_t i = 0; i < sizeof(usage_errors) / sizeof(usage_errors[0]); i++) {
        int rc = run_serve(usage_errors[i], &text);
        ck_assert_msg(rc == 2, "'%s' exited %d: %s", usage_errors[i], rc, text);
        free(text);
    }

    /* An address in use: exit 3, naming the address. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    socklen_t sl = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    char args[128], addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
    snprintf(args, sizeof(args), "--listen %s", addr);
    ck_assert_int_eq(run_serve(args, &text), 3);
    ck_assert_msg(strstr(text, addr) != NULL, "stderr: %s", text);
    free(text);
    close(fd);
}
END_TEST

START_TEST(defaults_tls_and_bind_timeout)
{
    /* One random session by default; --sessions N makes N. */
    struct serve_proc p;
    serve_start(&p, "--listen 127.0.0.1:0", 1);
    struct msrp_uri u;
    ck_assert_int_eq(msrp_uri_parse(p.uri[0], strlen(p.uri[0]), &u), MSRP_URI_OK);
    ck_assert_uint_ge(u.session_id.len, 8);
    serve_stop(&p);

    serve_start(&p, "--listen 127.0.0.1:0 --session-id fixed --sessions 3", 3);
    ck_assert(strstr(p.uri[0], "/fixed;tcp") != NULL);
    ck_assert_str_ne(p.uri[1], p.uri[2]);
    serve_stop(&p);

    /* --tls without files: msrps URIs and a word on stderr about the certificate. */
    serve_start(&p, "--listen 127.0.0.1:0 --session-id t1 --tls", 1);
    ck_assert(strncmp(p.uri[0], "msrps://127.0.0.1:", 18) == 0);
    char line[512], buf[4096];
    size_t len = 0;
    ck_assert(read_line_fd(p.err_fd, buf, sizeof(buf), &len, line, sizeof(line), IO_TIMEOUT_MS));
    ck_assert_msg(strstr(line, "self-signed") != NULL, "stderr: %s", line);
    /* The certificate goes with a clean stop. */
    char *cert = strstr(line, "/tmp/"), *end = cert != NULL ? strstr(cert, "/cert.pem") : NULL;
    ck_assert_msg(end != NULL, "no certificate path in: %s", line);
    *end = '\0';
    ck_assert_int_eq(access(cert, F_OK), 0);
    ck_assert_int_eq(kill(p.pid, SIGTERM), 0);
    ck_assert_int_eq(serve_wait(&p, 2000), 0);
    ck_assert_int_ne(access(cert, F_OK), 0);
    close(p.out_fd);
    close(p.err_fd);

    /* Nobody binds within --bind-timeout: a bind-timeout line, then exit 1. */
    serve_start(&p, "--listen 127.0.0.1:0 --session-id late --bind-timeout 0.2", 1);
    json_t *o = next_event(&p, "bind-timeout");
    ck_assert_str_eq(jstr(o, "session"), p.uri[0]);
    json_decref(o);
    ck_assert_int_eq(serve_wait(&p, 3000), 1);
    close(p.out_fd);
    close(p.err_fd);
}
END_TEST

Suite *make_serve_suite(void)
{
    Suite *s = suite_create("serve");
    TCase *tc = tcase_create("Binding");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, NULL, kill_leftovers);
    tcase_add_test(tc, bind_with_empty_send);
    tcase_add_test(tc, unknown_session_gets_481);
    tcase_add_test(tc, wrong_paths_after_binding_get_481);
    tcase_add_test(tc, second_connection_gets_506);
    tcase_add_test(tc, session_expected_again_after_end);
    suite_add_tcase(s, tc);

    tc = tcase_create("Answers");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, NULL, kill_leftovers);
    tcase_add_test(tc, unknown_method_gets_501);
    tcase_add_test(tc, malformed_request_gets_400);
    tcase_add_loop_test(tc, failure_report_rules, 0,
                        (int)(sizeof(fr_cases) / sizeof(fr_cases[0])));
    tcase_add_test(tc, success_report_after_out_of_order_chunks);
    suite_add_tcase(s, tc);

    tc = tcase_create("Log");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, NULL, kill_leftovers);
    tcase_add_test(tc, message_line_has_size_hash_chunks);
    tcase_add_test(tc, violation_line_for_byte_range);
    tcase_add_test(tc, violation_lines_for_sender_rules);
    tcase_add_test(tc, log_file_gets_the_lines);
    suite_add_tcase(s, tc);

    tc = tcase_create("Process");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, NULL, kill_leftovers);
    tcase_add_test(tc, sigint_stops_cleanly);
    tcase_add_test(tc, command_line_errors);
    tcase_add_test(tc, defaults_tls_and_bind_timeout);
    suite_add_tcase(s, tc);
    return s;
}
