/*
 * listen.c - conform --listen (contract in conform.h): the checker as the answering endpoint
 * of one session. Owns the listening socket, the client command (its placeholders, its
 * process group, its output), the one connection a case accepts, the chunks read from it (fed
 * to the answering side's own rule checks, msrp/peerrules.c and wire/rules.c, and kept for
 * the judges of listen_judge.c), and what the checker writes back: a response to every
 * request that wants one (a 413 where the case says), a REPORT for the client's message, a
 * SEND of its own. May not touch: the verdicts (listen_judge.c) or how results are written
 * (results.c).
 *
 * The passive side of RFC 4975 section 5.4 "MUST wait until it receives a request on the
 * connection": the checker writes nothing before the client's first request.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conform/listen_int.h"
#include "msrp/peerrules.h"
#include "wire/idgen.h"

#define READ_BUF (1u << 20)
#define SEGMENT (64u << 10)
#define PASSIVE_DEFAULT_S 30.0
/* RFC 4975 section 5.4: "the active endpoint MUST immediately issue a SEND request": the
 * checker waits this long (times the scale) for the first request before it calls it missing. */
#define FIRST_REQUEST_S 5.0
/* Quiet after the case's exchange is over before the capture ends: room for a late response
 * to the checker's REPORT (which must never come) or for chunks sent after a 413. */
#define QUIET_S 1.0

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the listening socket ----------------------------------------------------------------- */

static void session_uri(const struct conform_listener *l, const char *sid, char *out, size_t cap);

int conform_listen_open(struct conform_listener *l, const char *hostport, char *err,
                        size_t errlen)
{
    l->fd = -1;
    const char *colon = strrchr(hostport, ':');
    const char *h = hostport;
    size_t hlen = colon != NULL ? (size_t)(colon - hostport) : 0;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    char *end = NULL;
    long port = colon != NULL ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || hlen == 0 || hlen >= sizeof l->host || end == colon + 1 ||
        *end != '\0' || port < 0 || port > 65535) {
        snprintf(err, errlen, "--listen: expected HOST:PORT (e.g. 127.0.0.1:2855; port 0 picks "
                              "a free one), got '%s'", hostport);
        return -1;
    }
    memcpy(l->host, h, hlen);
    l->host[hlen] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char ports[8];
    snprintf(ports, sizeof ports, "%ld", port);
    int e = getaddrinfo(l->host, ports, &hints, &ai);
    if (e != 0) {
        snprintf(err, errlen, "--listen %s: %s (give a numeric address)", hostport,
                 gai_strerror(e));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 8) != 0) {
        snprintf(err, errlen, "--listen %s: %s", hostport, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    snprintf(l->dir, sizeof l->dir, "%s/msrpload-listen-XXXXXX",
             getenv("TMPDIR") != NULL && strlen(getenv("TMPDIR")) < 80 ? getenv("TMPDIR")
                                                                     : "/tmp");
    if (mkdtemp(l->dir) == NULL) {
        snprintf(err, errlen, "--listen: cannot make a temporary folder: %s", strerror(errno));
        close(fd);
        return -1;
    }
    l->fd = fd;
    struct msrp_idgen ids;
    char sid[33];
    if (l->session_id != NULL)
        snprintf(sid, sizeof sid, "%s", l->session_id);
    else if (msrp_idgen_init(&ids) == 0 && msrp_idgen_ident(&ids, sid, 16) == 0)
        sid[16] = '\0';
    else
        snprintf(sid, sizeof sid, "conform%ld", (long)getpid());
    session_uri(l, sid, l->passive_uri, sizeof l->passive_uri);
    return 0;
}

void conform_listen_close(struct conform_listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    if (l->dir[0] != '\0') {
        static const char *const files[] = {"body", "client.out", "password", NULL};
        char p[256];
        for (int i = 0; files[i] != NULL; i++) {
            snprintf(p, sizeof p, "%s/%s", l->dir, files[i]);
            unlink(p);
        }
        rmdir(l->dir);
        l->dir[0] = '\0';
    }
}

/* ---- the wire record ---------------------------------------------------------------------- */

void listen_wire_add(struct lcapture *c, const char *fmt, ...)
{
    if (c->wire_full)
        return;
    if (c->wire == NULL && (c->wire = malloc(LISTEN_WIRE_CAP + 1)) == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    size_t room = LISTEN_WIRE_CAP - c->wire_len;
    int n = vsnprintf(c->wire + c->wire_len, room + 1, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n > room - 64 || room < 128) {
        c->wire_len += n < 0 ? 0 : ((size_t)n > room ? room : (size_t)n);
        c->wire_len = c->wire_len > LISTEN_WIRE_CAP - 60 ? LISTEN_WIRE_CAP - 60 : c->wire_len;
        c->wire_len += (size_t)snprintf(c->wire + c->wire_len, 60,
                                        "\n# (the rest of the exchange is not shown)\n");
        c->wire_full = true;
        return;
    }
    c->wire_len += (size_t)n;
}

/* Bytes as one record line: CR and LF written as \r \n, other control bytes as \xHH. */
void listen_wire_bytes(struct lcapture *c, const char *dir, const char *b, size_t n)
{
    char line[1200];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < sizeof line; i++) {
        unsigned char ch = (unsigned char)b[i];
        if (ch == '\r')
            o += (size_t)snprintf(line + o, 3, "\\r");
        else if (ch == '\n')
            o += (size_t)snprintf(line + o, 3, "\\n");
        else if (ch < 32 || ch > 126)
            o += (size_t)snprintf(line + o, 5, "\\x%02x", ch);
        else
            line[o++] = (char)ch;
    }
    line[o] = '\0';
    listen_wire_add(c, "%s %s%s\n", dir, line, o + 8 >= sizeof line ? "..." : "");
}

/* ---- one connection ----------------------------------------------------------------------- */

struct lrun {
    struct conform_listener *l;
    const struct scenario_case *k; /* NULL: passive */
    struct lcapture *c;
    int fd;
    double deadline, accepted_at, last_byte_at;
    char my_uri[320];
    char client_path[1024];        /* the From-Path of the client's first request */
    struct msrp_idgen ids;
    struct msrp_peer_rules rules;
    struct msrp_header hdrs[64];
    struct lchunk cur;             /* the chunk being read */
    bool in_chunk;
    char cur_from[1024];           /* its From-Path, for the client's path */
    char cur_to[320];              /* its To-Path */
    /* the client's message (its first SEND with a body) */
    char mid[LISTEN_MID_MAX];
    uint64_t total, received;
    bool message_done;
    bool report_got;               /* the client's REPORT for the checker's SEND */
    bool write_failed;
};

static _Thread_local struct lrun *rule_run; /* the capture peerrules' handler writes to */

static void add_breach(struct lcapture *c, const char *requirement, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_breach(struct lcapture *c, const char *requirement, const char *fmt, ...)
{
    if (requirement == NULL || c->nbreaches == LISTEN_MAX_BREACHES)
        return;
    struct lbreach *b = &c->breaches[c->nbreaches++];
    b->requirement = requirement;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->detail, sizeof b->detail, fmt, ap);
    va_end(ap);
}

static void on_rule(struct msrp_session *s, const struct msrp_peer_violation *v)
{
    (void)s;
    struct lrun *r = rule_run;
    if (msrp_peer_rules_allows(v->kind))
        return;
    add_breach(r->c, msrp_peer_rules_requirement(v->kind), "chunk %zu (tid %s): %s",
               r->c->nchunks + 1, r->cur.tid, v->detail);
}

/* Writes all of b, waiting (bounded by the run's deadline) while the socket is full. */
static void put(struct lrun *r, const char *b, size_t n)
{
    listen_wire_bytes(r->c, "a>", b, n);
    while (n > 0 && !r->write_failed) {
        ssize_t w = send(r->fd, b, n, MSG_NOSIGNAL);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            r->write_failed = true;
            break;
        }
        double left = r->deadline - now_s();
        struct pollfd p = {r->fd, POLLOUT, 0};
        if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            r->write_failed = true;
    }
}

static void respond(struct lrun *r, const struct lchunk *ch, int status, const char *comment)
{
    char out[2048];
    int n = snprintf(out, sizeof out, "MSRP %s %d %s\r\nTo-Path: %s\r\nFrom-Path: %s\r\n-------%s$\r\n",
                     ch->tid, status, comment, r->client_path, r->my_uri, ch->tid);
    if (n > 0 && (size_t)n < sizeof out)
        put(r, out, (size_t)n);
}

/* The checker's own requests: a REPORT for the client's message (report_back) and a SEND
 * asking for a success REPORT (send_to_client). */
static void send_report_status(struct lrun *r, const char *status)
{
    char tid[13], out[2048];
    if (msrp_idgen_ident(&r->ids, tid, 12) != 0)
        return;
    tid[12] = '\0';
    int n = snprintf(out, sizeof out,
                     "MSRP %s REPORT\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: %s\r\n"
                     "Byte-Range: 1-%llu/%llu\r\nStatus: %s\r\n-------%s$\r\n",
                     tid, r->client_path, r->my_uri, r->mid, (unsigned long long)r->received,
                     (unsigned long long)(r->total > 0 ? r->total : r->received), status, tid);
    if (n <= 0 || (size_t)n >= sizeof out)
        return;
    memcpy(r->c->report_tid, tid, sizeof tid);
    r->c->report_sent = true;
    put(r, out, (size_t)n);
}

static void send_report(struct lrun *r)
{
    send_report_status(r, "000 200 OK");
}

static void send_message(struct lrun *r)
{
    char tid[13], mid[17], out[2048];
    if (msrp_idgen_ident(&r->ids, tid, 12) != 0 || msrp_idgen_ident(&r->ids, mid, 16) != 0)
        return;
    tid[12] = '\0';
    mid[16] = '\0';
    int n = snprintf(out, sizeof out,
                     "MSRP %s SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: %s\r\n"
                     "Byte-Range: 1-5/5\r\nSuccess-Report: yes\r\nFailure-Report: yes\r\n"
                     "Content-Type: text/plain\r\n"
                     "\r\nhello\r\n-------%s$\r\n",
                     tid, r->client_path, r->my_uri, mid, tid);
    if (n <= 0 || (size_t)n >= sizeof out)
        return;
    memcpy(r->c->send_mid, mid, sizeof mid);
    memcpy(r->c->send_tid, tid, sizeof tid);
    snprintf(r->c->my_uri, sizeof r->c->my_uri, "%s", r->my_uri);
    snprintf(r->c->client_uri, sizeof r->c->client_uri, "%.*s",
             (int)strcspn(r->client_path, " "), r->client_path);
    r->c->send_sent = true;
    put(r, out, (size_t)n);
}

static void copy_span(char *dst, size_t cap, struct msrp_span s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

/* The head of a chunk: what the judges keep, and its line in the wire record. */
static void chunk_head(struct lrun *r, const struct msrp_chunk *ev)
{
    struct lchunk *ch = &r->cur;
    memset(ch, 0, sizeof *ch);
    ch->kind = ev->kind;
    ch->method = ev->method_id;
    ch->status = ev->status;
    copy_span(ch->tid, sizeof ch->tid, ev->tid);
    ch->has_range = ev->has_byte_range;
    ch->start = ev->byte_range.start;
    ch->end = ev->byte_range.end;
    ch->total = ev->byte_range.total;
    ch->has_body = ev->has_body;
    ch->error = ev->error;
    ch->sr = ev->success_report;
    ch->fr = ev->failure_report;
    ch->range_start_text = -1;
    r->cur_from[0] = '\0';
    r->cur_to[0] = '\0';
    char line[1400];
    size_t o;
    if (ev->kind == MSRP_REQUEST)
        o = (size_t)snprintf(line, sizeof line, "MSRP %s %.*s", ch->tid,
                             (int)(ev->method.len > 64 ? 64 : ev->method.len), ev->method.ptr);
    else
        o = (size_t)snprintf(line, sizeof line, "MSRP %s %d", ch->tid, ev->status);
    o += (size_t)snprintf(line + o, sizeof line - o, "\\r\\n");
    for (size_t i = 0; i < ev->num_headers && o < sizeof line - 10; i++) {
        const struct msrp_header *h = &ev->headers[i];
        o += (size_t)snprintf(line + o, sizeof line - o, "%.*s: %.*s\\r\\n", (int)h->name.len,
                              h->name.ptr, (int)(h->value.len > 300 ? 300 : h->value.len),
                              h->value.ptr);
        if (h->id == MSRP_H_MESSAGE_ID)
            copy_span(ch->mid, sizeof ch->mid, h->value);
        else if (msrp_span_eq_nocase(h->name, MSRP_SPAN_LIT("Content-Transfer-Encoding")))
            ch->transfer_encoding = true;
        else if (h->id == MSRP_H_FROM_PATH)
            copy_span(r->cur_from, sizeof r->cur_from, h->value);
        else if (h->id == MSRP_H_TO_PATH)
            copy_span(r->cur_to, sizeof r->cur_to, h->value);
        else if (h->id == MSRP_H_BYTE_RANGE && h->value.len > 0 && h->value.ptr[0] >= '0' &&
                 h->value.ptr[0] <= '9') {
            /* The range-start as written, even when the whole value does not parse. */
            long long v = 0;
            for (size_t j = 0; j < h->value.len && j < 18 && h->value.ptr[j] >= '0' &&
                               h->value.ptr[j] <= '9'; j++)
                v = v * 10 + (h->value.ptr[j] - '0');
            ch->range_start_text = v;
        }
    }
    if (o >= sizeof line)
        o = sizeof line - 1;
    line[o] = '\0';
    listen_wire_add(r->c, "a< %s%s\n", line, ev->error != MSRP_OK ? "   # a chunk error" : "");
    r->in_chunk = true;
}

/* A chunk read whole: kept, answered, and the case's exchange moved on. */
static void chunk_end(struct lrun *r, char flag)
{
    struct lcapture *c = r->c;
    struct lchunk *ch = &r->cur;
    ch->flag = flag;
    r->in_chunk = false;
    if (ch->body_len > 0 || ch->has_body)
        listen_wire_add(c, "a< [%llu body bytes]\\r\\n-------%s%c\\r\\n\n",
                 (unsigned long long)ch->body_len, ch->tid, flag);
    else
        listen_wire_add(c, "a< -------%s%c\\r\\n\n", ch->tid, flag);
    if (ch->kind == MSRP_REQUEST && c->first_request_s < 0)
        c->first_request_s = now_s() - r->accepted_at;
    if (ch->kind == MSRP_REQUEST && r->client_path[0] == '\0')
        memcpy(r->client_path, r->cur_from, sizeof r->client_path);
    /* the client's message: its first SEND with a body */
    bool is_send = ch->kind == MSRP_REQUEST && ch->method == MSRP_METHOD_SEND;
    if (is_send && ch->body_len > 0 && r->mid[0] == '\0' && ch->mid[0] != '\0')
        memcpy(r->mid, ch->mid, sizeof r->mid);
    bool ours = is_send && r->mid[0] != '\0' && strcmp(ch->mid, r->mid) == 0;
    if (ours) {
        ch->after_413 = c->sent_413;
        r->received += ch->body_len;
        if (ch->has_range && ch->total != MSRP_RANGE_UNKNOWN)
            r->total = ch->total;
        if (flag == '#' || (r->total > 0 && r->received >= r->total) ||
            (flag == '$' && r->total == 0))
            r->message_done = true;
    }
    if (ch->kind == MSRP_RESPONSE && c->report_sent && strcmp(ch->tid, c->report_tid) == 0) {
        c->report_answered = true;
    } else if (ch->kind == MSRP_RESPONSE && c->send_sent && strcmp(ch->tid, c->send_tid) == 0) {
        if (!c->send_answered) {
            c->send_answered = true;
            c->send_status = ch->status;
            snprintf(c->send_resp_to, sizeof c->send_resp_to, "%s", r->cur_to);
            snprintf(c->send_resp_from, sizeof c->send_resp_from, "%.*s",
                     (int)(sizeof c->send_resp_from - 1), r->cur_from);
        }
    } else if (ch->kind == MSRP_RESPONSE) {
        if (c->stray_responses++ == 0)
            memcpy(c->stray_tid, ch->tid, sizeof c->stray_tid);
    }
    if (ch->kind == MSRP_REQUEST && ch->method == MSRP_METHOD_REPORT && c->send_sent &&
        strcmp(ch->mid, c->send_mid) == 0)
        r->report_got = true;
    if (c->nchunks < LISTEN_MAX_CHUNKS) {
        if (c->nchunks == c->cap) {
            size_t ncap = c->cap == 0 ? 256 : c->cap * 2;
            struct lchunk *n = realloc(c->chunks, ncap * sizeof *n);
            if (n != NULL) {
                c->chunks = n;
                c->cap = ncap;
            }
        }
        if (c->nchunks < c->cap)
            c->chunks[c->nchunks++] = *ch;
    } else {
        c->chunks_dropped = true;
    }
    /* The answer: a REPORT never gets one (RFC 4975 section 7.1.2); a chunk error 400; other
     * methods than SEND 501 (section 12); a SEND 200 unless the case answers 413, and none at
     * all when its Failure-Report says no or partial (7.1.4: partial wants errors only). */
    if (ch->kind != MSRP_REQUEST || ch->method == MSRP_METHOD_REPORT || r->client_path[0] == '\0')
        return;
    if (ch->error != MSRP_OK) {
        respond(r, ch, 400, "Bad Request");
        return;
    }
    if (ch->method != MSRP_METHOD_SEND) {
        respond(r, ch, 501, "Not Implemented");
        return;
    }
    if (ours && r->k != NULL && r->k->client.answer == CASE_ANSWER_REPORT_413) {
        /* 200 to the chunk, then a REPORT of 413 for the message (RFC 4975 10.5: a 413 in a
         * REPORT stops the message as one in a response does). */
        if (ch->fr != MSRP_REPORT_NO && ch->fr != MSRP_REPORT_PARTIAL)
            respond(r, ch, 200, "OK");
        if (!c->sent_413) {
            memcpy(c->mid_413, r->mid, sizeof c->mid_413);
            send_report_status(r, "000 413 Stop");
            c->sent_413 = true;
        }
        return;
    }
    bool refuse = ours && r->k != NULL && r->k->client.answer == CASE_ANSWER_413;
    if (refuse) {
        if (!c->sent_413) {
            memcpy(c->mid_413, r->mid, sizeof c->mid_413);
            c->sent_413 = true;
        }
        respond(r, ch, 413, "Stop");
        return;
    }
    if (ch->fr == MSRP_REPORT_NO || ch->fr == MSRP_REPORT_PARTIAL)
        return; /* section 7.1.4: no 200 for Failure-Report no or partial */
    respond(r, ch, 200, "OK");
}

/* Parses what buf holds; each chunk event goes to the rule checks, each whole chunk to
 * chunk_end. What is left (an incomplete chunk) moves to the front of buf. */
static void feed(struct lrun *r, struct msrp_parser *p, char *buf, size_t *len)
{
    size_t used = 0;
    while (used < *len) {
        struct msrp_chunk ev;
        ev.headers = r->hdrs;
        ev.headers_cap = sizeof r->hdrs / sizeof r->hdrs[0];
        ssize_t n = msrp_parse(p, buf + used, *len - used, &ev);
        if (n == MSRP_INCOMPLETE)
            break;
        if (n == MSRP_MALFORMED) {
            snprintf(r->c->end_why, sizeof r->c->end_why,
                     "the client's bytes could not be framed at stream offset %llu: %s",
                     (unsigned long long)(p->stream_offset + p->error_offset),
                     msrp_error_text(p->error));
            add_breach(r->c, "4975-9/grammar", "%s", r->c->end_why);
            listen_wire_bytes(r->c, "a<", buf + used, *len - used > 300 ? 300 : *len - used);
            *len = 0;
            r->write_failed = true; /* nothing more can be read: the capture ends */
            return;
        }
        used += (size_t)n;
        rule_run = r;
        msrp_peer_rules_check(&r->rules, &ev, NULL, on_rule);
        if (ev.has_head)
            chunk_head(r, &ev);
        if (r->in_chunk)
            r->cur.body_len += ev.body.len;
        if (ev.flag != 0 && r->in_chunk)
            chunk_end(r, ev.flag);
    }
    memmove(buf, buf + used, *len - used);
    *len -= used;
}

/* Whether the case's exchange is over (the capture may end once the line is quiet). */
static bool exchange_over(const struct lrun *r)
{
    const struct lcapture *c = r->c;
    if (c->first_request_s < 0)
        return false;
    if (r->k == NULL)
        return r->mid[0] == '\0' || r->message_done;
    const struct case_client *cl = &r->k->client;
    if (cl->size > 0 && !r->message_done && !(cl->answer != CASE_ANSWER_200 && c->sent_413))
        return false;
    if (cl->report_back && !c->report_sent)
        return false;
    if (cl->send_to_client && !r->report_got)
        return false;
    return true;
}

/* Accepts the case's connection and reads it until the exchange is over and the line quiet,
 * the client closes, or the deadline. */
static void capture(struct lrun *r, pid_t child)
{
    struct lcapture *c = r->c;
    double scale = r->l->timeout_scale > 0 ? r->l->timeout_scale : 1;
    c->first_request_s = -1;
    r->fd = -1;
    while (r->fd < 0) {
        double left = r->deadline - now_s();
        if (left <= 0) {
            snprintf(c->end_why, sizeof c->end_why, "no connection within the case's time");
            return;
        }
        struct pollfd p = {r->l->fd, POLLIN, 0};
        int pr = poll(&p, 1, left > 0.2 ? 200 : (int)(left * 1000) + 1);
        if (pr > 0) {
            r->fd = accept4(r->l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            continue;
        }
        int st;
        if (child > 0 && waitpid(child, &st, WNOHANG) == child) {
            /* The command ended without connecting: one more look, then give up. */
            p.revents = 0;
            if (poll(&p, 1, 100) > 0) {
                r->fd = accept4(r->l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                continue;
            }
            snprintf(c->end_why, sizeof c->end_why,
                     "the client command ended (%s %d) without connecting",
                     WIFEXITED(st) ? "exit code" : "signal",
                     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            return;
        }
    }
    c->connected = true;
    r->accepted_at = r->last_byte_at = now_s();
    listen_wire_add(c, "# the client connected to %s\n", r->my_uri);
    struct msrp_parser parser;
    struct msrp_limits lim;
    msrp_limits_default(&lim);
    lim.segment_cap = SEGMENT;
    msrp_parser_init(&parser, &lim);
    size_t cap = READ_BUF > msrp_parser_buffer_size(&parser) ? READ_BUF
                                                             : msrp_parser_buffer_size(&parser);
    char *buf = malloc(cap);
    size_t len = 0;
    if (buf == NULL)
        return;
    double quiet = QUIET_S * scale, first_wait = FIRST_REQUEST_S * scale;
    for (;;) {
        double t = now_s();
        if (t >= r->deadline) {
            snprintf(c->end_why, sizeof c->end_why, "the case's time ran out");
            break;
        }
        if (c->first_request_s < 0 && t - r->accepted_at >= first_wait && r->k != NULL) {
            snprintf(c->end_why, sizeof c->end_why,
                     "no request within %.1f s of the connection", first_wait);
            break;
        }
        if (r->write_failed) {
            if (c->end_why[0] == '\0')
                snprintf(c->end_why, sizeof c->end_why, "the connection broke");
            break;
        }
        if (r->fd >= 0 && c->first_request_s >= 0 && r->client_path[0] != '\0') {
            /* the checker's own requests, once the client has spoken (5.4) */
            if (r->k != NULL && r->k->client.send_to_client && !c->send_sent)
                send_message(r);
            if (r->k != NULL && r->k->client.report_back && r->message_done && !c->report_sent)
                send_report(r);
        }
        double idle_limit = r->k == NULL ? 5 * quiet : quiet;
        if (exchange_over(r) && t - r->last_byte_at >= idle_limit) {
            snprintf(c->end_why, sizeof c->end_why, "the exchange was over and the line quiet");
            break;
        }
        double wait = r->deadline - t;
        if (wait > 0.1)
            wait = 0.1;
        struct pollfd p = {r->fd, POLLIN, 0};
        int pr = poll(&p, 1, (int)(wait * 1000) + 1);
        if (pr <= 0)
            continue;
        if (cap - len < 4096) {
            /* a chunk head longer than the buffer: the parser's limits stop it before this */
            snprintf(c->end_why, sizeof c->end_why, "the client's head did not fit the buffer");
            break;
        }
        ssize_t n = recv(r->fd, buf + len, cap - len, 0);
        if (n == 0) {
            c->peer_closed = true;
            snprintf(c->end_why, sizeof c->end_why, "the client closed the connection");
            break;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            snprintf(c->end_why, sizeof c->end_why, "reading failed: %s", strerror(errno));
            break;
        }
        r->last_byte_at = now_s();
        len += (size_t)n;
        feed(r, &parser, buf, &len);
    }
    listen_wire_add(c, "# %s\n", c->end_why);
    free(buf);
    close(r->fd);
    r->fd = -1;
}

/* ---- the client command ------------------------------------------------------------------- */

struct placeholder {
    const char *name;
    char value[400];
};

/* The command line with each {name} replaced by its value in single quotes. Returns 0, or -1
 * when it does not fit. */
static int expand(const char *tmpl, const struct placeholder *ph, size_t nph, char *out,
                  size_t cap)
{
    size_t o = 0;
    for (const char *p = tmpl; *p != '\0';) {
        size_t i = 0;
        if (*p == '{')
            for (; i < nph; i++) {
                size_t n = strlen(ph[i].name);
                if (strncmp(p + 1, ph[i].name, n) == 0 && p[1 + n] == '}')
                    break;
            }
        if (*p == '{' && i < nph) {
            if (o + 1 >= cap)
                return -1;
            out[o++] = '\'';
            for (const char *v = ph[i].value; *v != '\0'; v++) {
                if (*v == '\'') {
                    if (o + 4 >= cap)
                        return -1;
                    memcpy(out + o, "'\\''", 4);
                    o += 4;
                } else if (o + 1 < cap) {
                    out[o++] = *v;
                } else {
                    return -1;
                }
            }
            if (o + 1 >= cap)
                return -1;
            out[o++] = '\'';
            p += strlen(ph[i].name) + 2;
        } else {
            if (o + 1 >= cap)
                return -1;
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return 0;
}

static pid_t spawn(const char *cmd, const char *out_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0); /* its own group: the checker ends the command and whatever it started */
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) {
        dup2(nul, 0);
        close(nul);
    }
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
}

/* Ends the command's process group (SIGTERM, then SIGKILL after 2 s) and reaps it. */
static void reap(pid_t pid)
{
    int st;
    pid_t w = waitpid(pid, &st, WNOHANG);
    /* ECHILD: capture() reaped it already (it ended without connecting) */
    if (w == pid || (w < 0 && errno == ECHILD)) {
        kill(-pid, SIGKILL); /* anything it left running in its group */
        return;
    }
    kill(-pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, &st, 0);
}

/* The last line the command printed, for a skip's reason. */
static void output_tail(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL)
        if (strspn(line, " \t\r\n") != strlen(line)) {
            line[strcspn(line, "\r\n")] = '\0';
            snprintf(out, cap, "%.280s", line);
        }
    fclose(f);
}

static int write_body(const char *path, uint64_t size)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    /* printable lines, so that a body is easy to read in a trace */
    static const char pattern[] = "The quick brown fox jumps over the lazy dog 0123456789.\n";
    for (uint64_t i = 0; i < size; i++)
        fputc(pattern[i % (sizeof pattern - 1)], f);
    return fclose(f);
}

/* The account's password for {password_file}: owner-only, removed with the folder. */
static int write_secret(const char *path, const char *secret)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    size_t n = strlen(secret);
    bool ok = write(fd, secret, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
    return close(fd) == 0 && ok ? 0 : -1;
}

static void session_uri(const struct conform_listener *l, const char *sid, char *out, size_t cap)
{
    bool v6 = strchr(l->host, ':') != NULL;
    snprintf(out, cap, "msrp://%s%s%s:%u/%s;tcp", v6 ? "[" : "", l->host, v6 ? "]" : "",
             (unsigned)l->port, sid);
}

static void set_session(struct lrun *r, struct conform_listener *l)
{
    char sid[33] = "";
    if (l->session_id != NULL) {
        snprintf(sid, sizeof sid, "%s", l->session_id);
    } else if (msrp_idgen_ident(&r->ids, sid, 16) == 0) {
        sid[16] = '\0';
    } else {
        snprintf(sid, sizeof sid, "conform%ld", (long)getpid());
    }
    session_uri(l, sid, r->my_uri, sizeof r->my_uri);
}

static void result_from(struct lcapture *c, struct conform_result *r)
{
    r->wire = c->wire;
    c->wire = NULL;
    if (r->wire != NULL)
        r->wire[c->wire_len] = '\0';
}

void conform_listen_run_case(struct conform_listener *l, const struct scenario *sc,
                             struct conform_result *res)
{
    const struct scenario_case *k = sc->kase;
    const struct case_client *cl = &k->client;
    memset(res, 0, sizeof *res);
    double t0 = now_s();
    struct lrun *r = calloc(1, sizeof *r);
    struct lcapture *c = calloc(1, sizeof *c);
    if (r == NULL || c == NULL || msrp_idgen_init(&r->ids) != 0) {
        res->verdict = CONFORM_SKIP;
        snprintf(res->observed, sizeof res->observed, "out of memory or no CSPRNG");
        free(r);
        free(c);
        return;
    }
    r->l = l;
    r->k = k;
    r->c = c;
    set_session(r, l);
    char sid[64];
    const char *slash = strrchr(r->my_uri, '/');
    snprintf(sid, sizeof sid, "%.*s", (int)strcspn(slash + 1, ";"), slash + 1);
    char file[256], out_path[256];
    snprintf(file, sizeof file, "%s/body", l->dir);
    snprintf(out_path, sizeof out_path, "%s/client.out", l->dir);
    struct placeholder ph[] = {
        {"uri", ""}, {"file", ""}, {"size", ""}, {"chunk_size", ""}, {"success_report", ""},
        {"session_id", ""}, {"host", ""}, {"port", ""}, {"case", ""},
        {"user", ""}, {"password_file", ""},
    };
    snprintf(ph[0].value, sizeof ph[0].value, "%s", r->my_uri);
    snprintf(ph[1].value, sizeof ph[1].value, "%s", file);
    snprintf(ph[2].value, sizeof ph[2].value, "%llu", (unsigned long long)cl->size);
    snprintf(ph[3].value, sizeof ph[3].value, "%llu",
             (unsigned long long)(cl->chunk_size > 0 ? cl->chunk_size : 2048));
    snprintf(ph[4].value, sizeof ph[4].value, "%s",
             cl->success_report == 1 ? "yes" : cl->success_report == 2 ? "no" : "absent");
    snprintf(ph[5].value, sizeof ph[5].value, "%s", sid);
    snprintf(ph[6].value, sizeof ph[6].value, "%s", l->host);
    snprintf(ph[7].value, sizeof ph[7].value, "%u", (unsigned)l->port);
    snprintf(ph[8].value, sizeof ph[8].value, "%s", k->id);
    char pwfile[256];
    snprintf(pwfile, sizeof pwfile, "%s/password", l->dir);
    if (cl->relay != 0) {
        /* a relay-client case: {uri} is the relay's URI, and the account is the checker's */
        bool v6 = strchr(l->host, ':') != NULL;
        snprintf(ph[0].value, sizeof ph[0].value, "msrp://%s%s%s:%u;tcp", v6 ? "[" : "", l->host,
                 v6 ? "]" : "", (unsigned)l->port);
        snprintf(ph[9].value, sizeof ph[9].value, "%s", l->relay_user);
        snprintf(ph[10].value, sizeof ph[10].value, "%s", pwfile);
    }
    /* A case whose action the template cannot say is skipped, naming what is missing. */
    const char *missing = strstr(l->client_cmd, "{uri}") == NULL ? "{uri}"
                          : cl->size > 0 && strstr(l->client_cmd, "{file}") == NULL &&
                                    strstr(l->client_cmd, "{size}") == NULL
                              ? "{file} or {size}"
                          : cl->chunk_size > 0 && strstr(l->client_cmd, "{chunk_size}") == NULL
                              ? "{chunk_size}"
                          : cl->success_report != 0 &&
                                    strstr(l->client_cmd, "{success_report}") == NULL
                              ? "{success_report}"
                          : cl->relay != 0 && strstr(l->client_cmd, "{user}") == NULL
                              ? "{user}"
                          : cl->relay != 0 && strstr(l->client_cmd, "{password_file}") == NULL
                              ? "{password_file}"
                              : NULL;
    char cmd[4096];
    if (missing != NULL) {
        res->verdict = CONFORM_SKIP;
        snprintf(res->observed, sizeof res->observed,
                 "the --client-cmd template has no %s, which this case needs to tell the "
                 "client what to do (scenarios/conformance/README.md lists the placeholders)",
                 missing);
    } else if (expand(l->client_cmd, ph, sizeof ph / sizeof ph[0], cmd, sizeof cmd) != 0) {
        res->verdict = CONFORM_SKIP;
        snprintf(res->observed, sizeof res->observed,
                 "the --client-cmd line is over %zu bytes once filled in", sizeof cmd);
    } else if (cl->relay != 0 && !l->as_relay) {
        res->verdict = CONFORM_SKIP;
        snprintf(res->observed, sizeof res->observed,
                 "a relay-client case: it runs with --as-relay");
    } else if (cl->relay != 0 && write_secret(pwfile, l->relay_password) != 0) {
        res->verdict = CONFORM_SKIP;
        snprintf(res->observed, sizeof res->observed, "%s: %s", pwfile, strerror(errno));
    } else if (write_body(file, cl->size) != 0) {
        res->verdict = CONFORM_SKIP;
        snprintf(res->observed, sizeof res->observed, "%s: %s", file, strerror(errno));
    }
    if (res->verdict == CONFORM_SKIP) {
        res->seconds = now_s() - t0;
        free(r);
        free(c);
        return;
    }
    double scale = l->timeout_scale > 0 ? l->timeout_scale : 1;
    r->deadline = now_s() + (l->timeout > 0 ? l->timeout : cl->timeout) * scale;
    listen_wire_add(c, "# the client command: %s\n", cmd);
    /* A connection left in the backlog by an earlier case's client (ended since) is not this
     * case's: closed unread. */
    for (int i = 0; i < 64; i++) {
        int stale = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (stale < 0)
            break;
        close(stale);
    }
    fflush(NULL);
    pid_t pid = spawn(cmd, out_path);
    if (pid < 0) {
        res->verdict = CONFORM_SKIP;
        snprintf(res->observed, sizeof res->observed, "cannot start the client command: %s",
                 strerror(errno));
    } else {
        if (cl->relay != 0)
            c->connected = listen_relay_case(l, k, pid, r->deadline, c, res);
        else
            capture(r, pid);
        reap(pid);
        if (!c->connected) {
            char tail[300];
            output_tail(out_path, tail, sizeof tail);
            res->verdict = CONFORM_SKIP;
            snprintf(res->observed, sizeof res->observed,
                     "the client did not connect: %s%s%s", c->end_why,
                     tail[0] != '\0' ? "; its last line: " : "", tail);
        } else if (cl->relay == 0) {
            listen_judge(c, k, false, res);
        }
    }
    result_from(c, res);
    res->seconds = now_s() - t0;
    free(c->chunks);
    free(c->wire);
    free(c);
    free(r);
}

void conform_listen_passive(struct conform_listener *l, const struct scenario *const *cases,
                            size_t n, struct conform_result *results)
{
    double t0 = now_s();
    struct lrun *r = calloc(1, sizeof *r);
    struct lcapture *c = calloc(1, sizeof *c);
    bool ok = r != NULL && c != NULL && msrp_idgen_init(&r->ids) == 0;
    if (ok) {
        r->l = l;
        r->c = c;
        snprintf(r->my_uri, sizeof r->my_uri, "%s", l->passive_uri);
        double scale = l->timeout_scale > 0 ? l->timeout_scale : 1;
        r->deadline = now_s() + (l->timeout > 0 ? l->timeout : PASSIVE_DEFAULT_S) * scale;
        capture(r, -1);
    }
    for (size_t i = 0; i < n; i++) {
        struct conform_result *res = &results[i];
        memset(res, 0, sizeof *res);
        if (!ok || !c->connected) {
            /* Nothing to judge at all: the run says so in its exit code, as for a target
             * that cannot be reached. */
            res->verdict = CONFORM_UNREACHABLE;
            snprintf(res->observed, sizeof res->observed, "no client connected: %s",
                     ok ? c->end_why : "out of memory");
        } else {
            listen_judge(c, cases[i]->kase, true, res);
        }
        if (i == 0 && ok)
            result_from(c, res); /* the one exchange, shown with the first case */
        else if (ok && c->wire_len > 0)
            res->wire = strdup("# the exchange is shown with the first case of this run\n");
        res->seconds = now_s() - t0;
    }
    if (c != NULL) {
        free(c->chunks);
        free(c->wire);
    }
    free(c);
    free(r);
}
