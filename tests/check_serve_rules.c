/*
 * check_serve_rules.c - `msrpload serve` as the reference checker of its clients (issue 13
 * point 5): for each rule of RFC 4975 a client can break where serve sees it, a raw client
 * breaks just that rule and serve's log must hold a "violation" line naming the rule's
 * requirement id (scenarios/conformance/requirements.json); and a conforming client's traffic
 * must leave no violation line at all.
 *
 * serve runs as a child process (test_serve_start, port 0) logging to a file in a temporary
 * directory; the client writes its frames byte for byte over loopback. Every wait is bounded.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/loop.h"
#include "suites.h"
#include "testutil.h"

#define WAIT_MS 5000
#define CLIENT "msrp://127.0.0.1:9/c1;tcp"

struct rig {
    struct test_serve serve;
    struct tmp tmp;
    char log[160];
    int fd;
};

static void rig_start(struct rig *r)
{
    memset(r, 0, sizeof(*r));
    tmp_make(&r->tmp);
    snprintf(r->log, sizeof r->log, "%s/serve.log", r->tmp.dir);
    const char *args[] = {"--session-id", "s1", "--log", r->log, NULL};
    test_serve_start(&r->serve, args);
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(r->fd, 0);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(r->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(r->serve.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void rig_stop(struct rig *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    /* 0: a clean stop on SIGTERM (under ASan, no leak and no error either). */
    ck_assert_int_eq(test_serve_stop(&r->serve), 0);
    unlink(r->log);
    tmp_remove(&r->tmp);
}

/* text with {S} (serve's session URI), {C} (the client's URI, or from), {B} (3000 octets) and
 * {L} (10241 octets) filled in; malloc'd. */
static char *fill(const struct rig *r, const char *text, const char *from)
{
    size_t cap = strlen(text) + 16 * 1024, n = 0;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    for (const char *p = text; *p != '\0';) {
        const char *add = NULL;
        size_t fill_len = 0;
        char filler = 0;
        if (strncmp(p, "{S}", 3) == 0)
            add = r->serve.uri;
        else if (strncmp(p, "{C}", 3) == 0)
            add = from != NULL ? from : CLIENT;
        else if (strncmp(p, "{B}", 3) == 0)
            filler = 'x', fill_len = 3000;
        else if (strncmp(p, "{L}", 3) == 0)
            filler = 'y', fill_len = 10241;
        if (add != NULL || filler != 0) {
            size_t k = add != NULL ? strlen(add) : fill_len;
            ck_assert(n + k < cap);
            if (add != NULL)
                memcpy(out + n, add, k);
            else
                memset(out + n, filler, k);
            n += k;
            p += 3;
        } else {
            ck_assert(n + 1 < cap);
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

static void rig_write(struct rig *r, const char *text, const char *from)
{
    char *bytes = fill(r, text, from);
    size_t len = strlen(bytes);
    for (size_t done = 0; done < len;) {
        ssize_t w = send(r->fd, bytes + done, len - done, MSG_NOSIGNAL);
        ck_assert_msg(w > 0, "send: %s", strerror(errno));
        done += (size_t)w;
    }
    free(bytes);
}

/* Reads from serve until needle has arrived; what arrived, malloc'd (NULL: not within
 * WAIT_MS). */
static char *rig_read_until(struct rig *r, const char *needle)
{
    size_t cap = 1 << 16, n = 0;
    char *in = malloc(cap + 1);
    ck_assert_ptr_nonnull(in);
    uint64_t deadline = net_now_ns() + (uint64_t)WAIT_MS * 1000000ull;
    while (net_now_ns() < deadline && n < cap) {
        ssize_t got = recv(r->fd, in + n, cap - n, 0);
        if (got <= 0)
            break;
        n += (size_t)got;
        in[n] = '\0';
        if (strstr(in, needle) != NULL)
            return in;
    }
    free(in);
    return NULL;
}

/* The first log line holding every NULL-terminated needle, within WAIT_MS (malloc'd). */
static char *log_wait(const struct rig *r, ...)
{
    uint64_t deadline = net_now_ns() + (uint64_t)WAIT_MS * 1000000ull;
    for (;;) {
        FILE *f = fopen(r->log, "r");
        char line[8192];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            va_list ap;
            va_start(ap, r);
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
        usleep(20000);
    }
}

/* Every violation line of the log that names a requirement names this one; NULL: none may
 * name one, nor may there be any violation line at all. */
static void log_only(const struct rig *r, const char *requirement)
{
    FILE *f = fopen(r->log, "r");
    ck_assert_ptr_nonnull(f);
    char line[8192], want[160] = "";
    if (requirement != NULL)
        snprintf(want, sizeof want, "\"requirement\":\"%s\"", requirement);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "\"event\":\"violation\"") == NULL)
            continue;
        ck_assert_msg(requirement != NULL, "a violation for conforming traffic: %s", line);
        ck_assert_msg(strstr(line, "\"requirement\"") == NULL || strstr(line, want) != NULL,
                      "another rule broken than %s: %s", requirement, line);
    }
    fclose(f);
}

#define BIND                                                                                   \
    "MSRP bind0001 SEND\r\nTo-Path: {S}\r\nFrom-Path: {C}\r\nMessage-ID: bind0001\r\n"          \
    "Byte-Range: 1-0/0\r\n-------bind0001$\r\n"
#define HEAD(tid, method) "MSRP " tid " " method "\r\nTo-Path: {S}\r\nFrom-Path: {C}\r\n"
#define END(tid, flag) "\r\n-------" tid flag "\r\n"

/* One rule each: the client's From-Path (NULL: CLIENT) and what it writes after binding. */
static const struct rule_case {
    const char *requirement, *kind, *from, *frames;
} rule_cases[] = {
    {"4975-6/tcp-transport-parameter", "tcp-transport-parameter", "msrp://127.0.0.1:9/c1",
     ""},
    {"4975-6/ip-needs-port", "ip-needs-port", "msrp://127.0.0.1/c1;tcp", ""},
    {"4975-6/no-password-in-uri", "no-password-in-uri", "msrp://al:secret@127.0.0.1:9/c1;tcp",
     ""},
    /* Content-Type is not the last header (RFC 4975 section 7.1). */
    {"4975-7.1/body-has-content-type", "body-has-content-type", NULL,
     HEAD("ctl00001", "SEND") "Message-ID: mmsg0001\r\nContent-Type: text/plain\r\nByte-Range: "
                              "1-5/5\r\n\r\nhello" END("ctl00001", "$")},
    /* No Content-Type at all: the parser's own error, named by the same requirement. */
    {"4975-7.1/body-has-content-type", "body-without-content-type", NULL,
     HEAD("ctn00001", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 1-5/5\r\n\r\nhello" END(
         "ctn00001", "$")},
    {"4975-7.1/no-body-no-mime-headers", "no-body-no-mime-headers", NULL,
     HEAD("mim00001", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 1-0/0\r\nContent-Type: "
                              "text/plain\r\n-------mim00001$\r\n"},
    {"4975-7.1/non-send-body-limit", "non-send-body-limit", NULL,
     HEAD("big00001", "REPORT") "Message-ID: mmsg0001\r\nByte-Range: 1-5/5\r\nStatus: 000 200 "
                                "OK\r\nContent-Type: text/plain\r\n\r\n{L}" END("big00001", "$")},
    /* An end-line with another transaction id, and one with a space after its flag
     * (section 7.1); both lose the framing, and serve closes the connection. */
    {"4975-7.1/end-line-format", "end-line", NULL,
     HEAD("eln00001", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 1-0/0\r\n"
                              "-------wrong001$\r\n"},
    {"4975-7.1/end-line-format", "flag", NULL,
     HEAD("elf00001", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 1-0/0\r\n"
                              "-------elf00001$ \r\n"},
    {"4975-7.1/transaction-id-unique", "reused-tid", NULL,
     HEAD("dup00001", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 1-5/5\r\nContent-Type: "
                              "text/plain\r\n\r\nhello" END("dup00001", "$")
         HEAD("dup00001", "SEND") "Message-ID: mmsg0002\r\nByte-Range: 1-5/5\r\nContent-Type: "
                                  "text/plain\r\n\r\nhello" END("dup00001", "$")},
    /* "$" on a chunk that does not end its message (section 7.1). */
    {"4975-7.1/continuation-flags", "dollar-not-at-end", NULL,
     HEAD("dol00001", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 1-5/10\r\nContent-Type: "
                              "text/plain\r\n\r\nhello" END("dol00001", "$")},
    {"4975-7.1.1/message-id-in-every-chunk", "message-id-in-every-chunk", NULL,
     HEAD("mid00001", "SEND") "Byte-Range: 1-5/5\r\nContent-Type: text/plain\r\n\r\nhello" END(
         "mid00001", "$")},
    {"4975-7.1.1/byte-range-present", "byte-range-present", NULL,
     HEAD("brp00001", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 1-5/10\r\nContent-Type: "
                              "text/plain\r\n\r\nhello" END("brp00001", "+")
         HEAD("brp00002", "SEND") "Message-ID: mmsg0001\r\nContent-Type: text/plain\r\n\r\nworld" END(
             "brp00002", "$")},
    {"4975-7.1.1/same-report-headers-on-all-chunks", "same-report-headers-on-all-chunks", NULL,
     HEAD("srh00001", "SEND") "Message-ID: mmsg0001\r\nSuccess-Report: yes\r\nByte-Range: "
                              "1-5/10\r\nContent-Type: text/plain\r\n\r\nhello" END("srh00001",
                                                                                    "+")
         HEAD("srh00002", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 6-10/10\r\nContent-Type: "
                                  "text/plain\r\n\r\nworld" END("srh00002", "$")},
    /* Bytes 5-8 sent before bytes 1-4; "$" still on the chunk that ends the message. */
    {"4975-7.1.1/chunks-in-order", "chunks-in-order", NULL,
     HEAD("ord00001", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 5-8/12\r\nContent-Type: "
                              "text/plain\r\n\r\nabcd" END("ord00001", "+")
         HEAD("ord00002", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 1-4/12\r\nContent-Type: "
                                  "text/plain\r\n\r\nefgh" END("ord00002", "+")
             HEAD("ord00003", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 9-12/12\r\n"
                                      "Content-Type: text/plain\r\n\r\nijkl" END("ord00003",
                                                                                  "$")},
    /* The chunk ending the message sent first (as 4975-7.3.1/out-of-order-chunks does). */
    {"4975-7.1.1/chunks-in-order", "chunks-in-order", NULL,
     HEAD("ore00001", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 11-20/20\r\nContent-Type: "
                              "text/plain\r\n\r\nklmnopqrst" END("ore00001", "$")
         HEAD("ore00002", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 1-10/20\r\n"
                                  "Content-Type: text/plain\r\n\r\nabcdefghij" END("ore00002",
                                                                                     "+")},
    /* A 3000-octet body with a numeric range end (section 7.1.1). */
    {"4975-7.1.1/over-2048-star-end", "range-end-not-star", NULL,
     HEAD("str00001", "SEND") "Message-ID: mmsg0001\r\nByte-Range: 1-3000/3000\r\nContent-Type: "
                              "text/plain\r\n\r\n{B}" END("str00001", "$")},
    {"4975-7.1.2/report-no-report-headers", "report-no-report-headers", NULL,
     HEAD("rrh00001", "REPORT") "Message-ID: mmsg0001\r\nByte-Range: 1-5/5\r\nStatus: 000 200 "
                                "OK\r\nSuccess-Report: yes\r\n-------rrh00001$\r\n"},
    {"4975-7.1.2/report-has-status", "report-has-status", NULL,
     HEAD("rst00001", "REPORT") "Message-ID: mmsg0001\r\nByte-Range: 1-5/5\r\n-------rst00001$\r\n"},
    /* A Status that is not "000 200": the parser's error, named by the same requirement. */
    {"4975-7.1.2/report-has-status", "status-header", NULL,
     HEAD("rsf00001", "REPORT") "Message-ID: mmsg0001\r\nByte-Range: 1-5/5\r\nStatus: "
                                "200\r\n-------rsf00001$\r\n"},
    {"4975-7.1.2/report-message-id", "report-message-id", NULL,
     HEAD("rmi00001", "REPORT") "Byte-Range: 1-5/5\r\nStatus: 000 200 OK\r\n-------rmi00001$\r\n"},
};

START_TEST(client_breaks_one_rule)
{
    const struct rule_case *k = &rule_cases[_i];
    struct rig r;
    rig_start(&r);
    rig_write(&r, BIND, k->from);
    rig_write(&r, k->frames, k->from);
    char kind[160], req[160];
    snprintf(kind, sizeof kind, "\"kind\":\"%s\"", k->kind);
    snprintf(req, sizeof req, "\"requirement\":\"%s\"", k->requirement);
    char *line = log_wait(&r, "\"event\":\"violation\"", kind, req, NULL);
    ck_assert_msg(line != NULL, "%s: no violation line with %s and %s", k->requirement, kind,
                  req);
    free(line);
    log_only(&r, k->requirement);
    rig_stop(&r);
}
END_TEST

/* RFC 4975 section 7.1.2: "MSRP nodes MUST NOT send MSRP responses to REPORT requests". serve
 * sends no request but REPORTs, so a response to its success REPORT is one. */
START_TEST(client_answers_a_report)
{
    struct rig r;
    rig_start(&r);
    rig_write(&r, BIND, NULL);
    rig_write(&r,
              HEAD("ask00001", "SEND") "Message-ID: mmsg0001\r\nSuccess-Report: yes\r\nByte-Range: "
                                       "1-5/5\r\nContent-Type: text/plain\r\n\r\nhello" END(
                                           "ask00001", "$"),
              NULL);
    char *in = rig_read_until(&r, " REPORT\r\n");
    ck_assert_msg(in != NULL, "serve sent no success REPORT");
    char *start = strstr(in, " REPORT\r\n");
    while (start > in && start[-1] != '\n')
        start--;
    char tid[40];
    ck_assert_int_eq(sscanf(start, "MSRP %39s REPORT", tid), 1);
    free(in);
    char resp[512];
    snprintf(resp, sizeof resp,
             "MSRP %s 200 OK\r\nTo-Path: {C}\r\nFrom-Path: {S}\r\n-------%s$\r\n", tid, tid);
    rig_write(&r, resp, NULL);
    char *line = log_wait(&r, "\"event\":\"violation\"", "\"kind\":\"unknown-response\"",
                          "\"requirement\":\"4975-7.1.2/no-response-to-report\"", NULL);
    ck_assert_msg(line != NULL, "no violation line for a response to a REPORT");
    free(line);
    log_only(&r, "4975-7.1.2/no-response-to-report");
    rig_stop(&r);
}
END_TEST

/* What a conforming client may do leaves no violation line: a first SEND with a body, a
 * message in two chunks in order with the same report headers, a body over 2048 octets with
 * range end "*", an empty keep-alive SEND, header names in another letter case, a REPORT
 * asked for and not answered. */
START_TEST(conforming_client_no_violation)
{
    struct rig r;
    rig_start(&r);
    rig_write(&r,
              HEAD("fst00001", "SEND") "Message-ID: fmsg0001\r\nByte-Range: 1-5/5\r\nContent-Type: "
                                       "text/plain\r\n\r\nhello" END("fst00001", "$")
                  HEAD("two00001", "SEND") "Message-ID: tmsg0001\r\nSuccess-Report: yes\r\n"
                                           "Failure-Report: yes\r\nByte-Range: 1-5/10\r\n"
                                           "Content-Type: text/plain\r\n\r\nhello" END(
                                               "two00001", "+")
                      HEAD("two00002", "SEND") "Message-ID: tmsg0001\r\nSuccess-Report: yes\r\n"
                                               "Byte-Range: 6-10/10\r\nContent-Type: "
                                               "text/plain\r\n\r\nworld" END("two00002", "$")
                          HEAD("big00001", "SEND") "Message-ID: bmsg0001\r\nByte-Range: 1-*/3000\r\n"
                                                   "Content-Type: text/plain\r\n\r\n{B}" END(
                                                       "big00001", "$")
                              HEAD("kee00001", "SEND") "Message-ID: kmsg0001\r\nByte-Range: "
                                                       "1-0/0\r\n-------kee00001$\r\n"
                                  "MSRP low00001 SEND\r\nto-path: {S}\r\nfrom-path: {C}\r\n"
                                  "message-id: lmsg0001\r\nbyte-range: 1-5/5\r\ncontent-type: "
                                  "text/plain\r\n\r\nhello" END("low00001", "$"),
              NULL);
    char *in = rig_read_until(&r, "MSRP low00001 200");
    ck_assert_msg(in != NULL, "serve did not answer the last SEND");
    ck_assert_ptr_nonnull(strstr(in, " REPORT\r\n"));
    free(in);
    /* The lines of every chunk are written before its response goes out. */
    char *line = log_wait(&r, "\"event\":\"message\"", "\"message_id\":\"lmsg0001\"", NULL);
    ck_assert_ptr_nonnull(line);
    free(line);
    log_only(&r, NULL);
    rig_stop(&r);
}
END_TEST

/* RFC 7977 5.2.1: "ws" is a transport parameter too, and RFC 4975 6's MUST is about URIs of
 * MSRP over TCP: a WebSocket client's URI in a path through a relay is no violation. */
START_TEST(ws_uri_in_path_no_violation)
{
    struct rig r;
    rig_start(&r);
    rig_write(&r,
              HEAD("wsp00001", "SEND") "Message-ID: wmsg0001\r\nByte-Range: 1-5/5\r\n"
                                       "Content-Type: text/plain\r\n\r\nhello" END("wsp00001", "$"),
              "msrp://127.0.0.1:9/relay1;tcp msrp://df7jal23ls0d.invalid:2855/c1;ws");
    char *in = rig_read_until(&r, "MSRP wsp00001 200");
    ck_assert_msg(in != NULL, "serve did not answer the SEND");
    free(in);
    char *line = log_wait(&r, "\"event\":\"message\"", "\"message_id\":\"wmsg0001\"", NULL);
    ck_assert_ptr_nonnull(line);
    free(line);
    log_only(&r, NULL);
    rig_stop(&r);
}
END_TEST

/* msrpload's own sending keeps the rules serve checks (issue 13 point 5): a run of messages
 * up to 200 kB in chunks, interrupted and aborted ones too, leaves no violation line. */
START_TEST(msrpload_run_no_violation)
{
    struct rig r;
    rig_start(&r);
    close(r.fd); /* this test's client is msrpload run */
    r.fd = -1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s run scenarios/chunking.json --quiet --target '%s' --sessions 1 --concurrency 1 "
             "--duration 20 --out %s/run >/dev/null 2>&1",
             msrpload_binary(), r.serve.uri, r.tmp.dir);
    int st = system(cmd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "msrpload run: status %d", st);
    char *line = log_wait(&r, "\"event\":\"end\"", NULL);
    ck_assert_msg(line != NULL, "serve logged no end of the session");
    free(line);
    line = log_wait(&r, "\"event\":\"message\"", "\"aborted\":true", NULL);
    ck_assert_msg(line != NULL, "the run sent no aborted message: did it run at all?");
    free(line);
    log_only(&r, NULL);
    rig_stop(&r);
}
END_TEST

Suite *make_serve_rules_suite(void)
{
    Suite *s = suite_create("serve_rules");
    TCase *tc = tcase_create("Rules");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, client_breaks_one_rule, 0,
                        (int)(sizeof rule_cases / sizeof rule_cases[0]));
    tcase_add_test(tc, client_answers_a_report);
    tcase_add_test(tc, conforming_client_no_violation);
    tcase_add_test(tc, ws_uri_in_path_no_violation);
    tcase_add_test(tc, msrpload_run_no_violation);
    suite_add_tcase(s, tc);
    return s;
}
