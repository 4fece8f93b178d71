/*
 * check_sip_interop.c - msrpload's SIP both ways against real peers, with no proxy of ours in
 * between (issue 20: "the SIPp interop tests pass both ways, and the negative cases give the
 * documented outcomes and exit codes"; README "Through SIP", its outcomes table).
 *
 *  - msrpload calling msrpload: `run scenarios/sip-chat.json --sip-target` straight to
 *    `serve --sip`, over UDP and over TCP: every call set up, every message in serve's JSON
 *    lines, every call ended by BYE (serve's own BYE may cross ours: sip/ua.c answers it 200);
 *  - SIPp answering run's offers (tests/sip/uas-target-answer.xml) with an a=path on a
 *    running `serve --session-id 's%d'`: signalling by SIPp, media by serve, as a B2BUA or SBC
 *    anchoring the media elsewhere would;
 *  - negative cases of run --sip-target against SIPp: 486, 488, a callee that rings and is
 *    cancelled by the run's end, one whose 200 crosses that CANCEL (cut off, not set up), one that hangs up first
 *    (its BYE ends the MSRP session as the peer's close), one that never answers (cut off by the run's end, or Timer B:
 *    408), a proxy and a registrar that swallow everything; and serve --sip facing a SIPp
 *    caller that never ACKs (serve BYEs after 64*T1 and logs no_ack).
 *
 * Every run is under `timeout`, every wait bounded; times (Timer B, 64*T1) are printed, not
 * asserted: the statuses say which timer ended what. Without SIPp a SIPp test is a visible skip
 * (a failure under REQUIRE_SIP=1).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sip_testutil.h"
#include "suites.h"
#include "testutil.h"

#define SCENARIO "scenarios/sip-chat.json"

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- msrpload run ------------------------------------------------------------------------- */

struct run_out {
    int code;
    uint64_t ms; /* how long it took */
    char *err;
    json_t *summary;
};

/* `timeout 90 msrpload run sip-chat.json ARGS --out DIR --quiet` (the SIP password from the
 * environment: a target needs none, and run asks for it all the same). */
static void run_sip(const struct tmp *t, const char *tag, const char *args, struct run_out *r)
{
    memset(r, 0, sizeof(*r));
    char cmd[4096], dir[400], errpath[512];
    snprintf(dir, sizeof(dir), "%s/%s", t->dir, tag);
    snprintf(errpath, sizeof(errpath), "%s/%s.stderr", t->dir, tag);
    snprintf(cmd, sizeof(cmd),
             "MSRPLOAD_SIP_PASSWORD=unused timeout 90 %s run " SCENARIO " %s --out '%s' --quiet "
             ">/dev/null 2>'%s'",
             msrpload_binary(), args, dir, errpath);
    uint64_t t0 = test_now_ms();
    int st = system(cmd);
    r->ms = test_now_ms() - t0;
    ck_assert_msg(WIFEXITED(st), "%s: not exited (status %d)", cmd, st);
    r->code = WEXITSTATUS(st);
    r->err = test_read_text(errpath);
    ck_assert_msg(r->code != 124, "%s: msrpload did not finish within 90 s; stderr: %s", tag,
                  r->err);
    char path[512];
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    json_error_t jerr;
    r->summary = json_load_file(path, 0, &jerr);
    ck_assert_msg(r->summary != NULL, "%s: %s; stderr: %s", path, jerr.text, r->err);
    char *sip = json_dumps(json_object_get(r->summary, "sip"), JSON_COMPACT);
    fprintf(stderr, "sip_interop: %s: exit %d in %llu ms, sip %s\n", tag, r->code,
            (unsigned long long)r->ms, sip ? sip : "(none)");
    free(sip);
}

static void run_free(struct run_out *r)
{
    free(r->err);
    json_decref(r->summary);
}

/* An integer at a dotted path of summary.json; absent fails the test. */
static long long jint(const struct run_out *r, const char *path)
{
    return test_summary_int(r->summary, path);
}

static void first_error_has(const struct run_out *r, const char *a, const char *b)
{
    const char *fe = json_string_value(json_object_get(r->summary, "first_error"));
    ck_assert_msg(fe != NULL && strstr(fe, a) != NULL && (b == NULL || strstr(fe, b) != NULL),
                  "first_error: %s (expected %s %s)", fe ? fe : "(none)", a, b ? b : "");
}

/* ---- msrpload serve as a child, its JSON lines in a file -------------------------------- */

struct srv {
    pid_t pid;
    char out[400], err[400];
    char first[512]; /* its first line: the Contact, or the first session URI */
    unsigned port;   /* the port in that line */
};

static void srv_start(struct srv *p, const struct tmp *t, const char *tag,
                      const char *const *args)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->out, sizeof(p->out), "%s/%s.out", t->dir, tag);
    snprintf(p->err, sizeof(p->err), "%s/%s.err", t->dir, tag);
    const char *argv[32] = {msrpload_binary(), "serve", "--listen", "127.0.0.1:0"};
    int argc = 4;
    for (size_t i = 0; args[i] != NULL && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    p->pid = test_spawn(argv, p->out, p->err, NULL);
    /* its first line, within 20 s */
    for (int i = 0; i < 400 && p->port == 0; i++) {
        char *text = test_slurp(p->out);
        char *nl = strchr(text, '\n');
        if (nl != NULL) {
            *nl = '\0';
            snprintf(p->first, sizeof(p->first), "%s", text);
            const char *colon = strrchr(text, ':');
            const char *host = strstr(text, "127.0.0.1:");
            if (strncmp(text, "sip:", 4) == 0 && colon != NULL)
                sscanf(colon + 1, "%u", &p->port);
            else if (host != NULL)
                sscanf(host + 10, "%u", &p->port);
        }
        free(text);
        if (p->port == 0)
            sleep_ms(50);
    }
    if (p->port == 0 || p->port > 65535) {
        char *err = test_slurp(p->err);
        ck_abort_msg("serve printed no first line with a port (\"%s\"); stderr: %s", p->first,
                     err);
    }
}

/* SIGTERM, bounded wait (10 s, then SIGKILL); its exit code or -1. */
static int srv_stop(struct srv *p)
{
    return test_child_stop(&p->pid);
}

/* How many of serve's JSON lines have "event": event, and (when key is not NULL) key's value
 * (a string or a number, as text) equal to value. */
static int srv_count(const struct srv *p, const char *event, const char *key, const char *value)
{
    char *text = test_slurp(p->out);
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] != '{')
            continue;
        json_t *o = json_loads(line, 0, NULL);
        ck_assert_msg(o != NULL, "serve wrote a line that is not JSON: %s", line);
        const char *ev = json_string_value(json_object_get(o, "event"));
        bool match = ev != NULL && strcmp(ev, event) == 0;
        if (match && key != NULL) {
            json_t *v = json_object_get(o, key);
            char num[32];
            const char *s = json_string_value(v);
            if (json_is_integer(v)) {
                snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
                s = num;
            }
            match = s != NULL && strcmp(s, value) == 0;
        }
        n += match;
        json_decref(o);
    }
    free(text);
    return n;
}

/* Waits (bounded: seconds) until serve has written count lines of event. */
static bool srv_wait(const struct srv *p, const char *event, int count, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        if (srv_count(p, event, NULL, NULL) >= count)
            return true;
        sleep_ms(100);
    }
    return false;
}

/* ---- SIPp ---------------------------------------------------------------------------------- */

struct sipp {
    struct test_sipp proc;
    uint16_t port;
    char port_s[16], log[400], scen[700];
};

/* SIPp as a UAS running tests/sip/NAME on a free port (UDP, or TCP with tcp), for at most
 * calls calls; extra: more arguments (NULL-terminated) or NULL. */
static void sipp_uas(struct sipp *s, const struct tmp *t, const char *name, const char *calls,
                     bool tcp, const char *const *extra)
{
    memset(s, 0, sizeof(*s));
    char cwd[256];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    snprintf(s->scen, sizeof(s->scen), "%s/tests/sip/%s", cwd, name);
    snprintf(s->log, sizeof(s->log), "%s/%s.log", t->dir, name);
    s->port = test_sip_free_port();
    ck_assert_uint_ne(s->port, 0);
    snprintf(s->port_s, sizeof(s->port_s), "%u", (unsigned)s->port);
    const char *args[48] = {"-sf", s->scen, "-m", calls, "-i", "127.0.0.1", "-p", s->port_s,
                            "-t", tcp ? "t1" : "u1", "-timeout", "60s", "-nostdin",
                            "-trace_logs", "-log_file", s->log};
    size_t n = 16;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 47; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    test_sipp_start(&s->proc, t->dir, args);
    ck_assert_msg(test_sipp_wait_bound(s->port, tcp), "SIPp did not bind 127.0.0.1:%u",
                  (unsigned)s->port);
}

/* How many times needle occurs in SIPp's log. */
static int log_count(const char *log_path, const char *needle)
{
    char *log = test_slurp(log_path);
    int n = 0;
    for (const char *p = strstr(log, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    free(log);
    return n;
}

/* ---- msrpload calling msrpload ------------------------------------------------------------- */

/* scenarios/sip-chat.json: 20 sessions of 5 messages of 500 bytes. */
#define SESSIONS 20
#define MESSAGES 100

static void run_calls_serve(bool tcp)
{
    struct tmp t;
    tmp_make(&t);
    struct srv sv;
    const char *args[] = {"--sip", tcp ? "sip:127.0.0.1:0;transport=tcp" : "sip:127.0.0.1:0",
                          NULL};
    srv_start(&sv, &t, "serve", args);
    char run_args[600];
    snprintf(run_args, sizeof(run_args), "--sip-target 'sip:alice@127.0.0.1:%u%s'", sv.port,
             tcp ? ";transport=tcp" : "");
    struct run_out r;
    run_sip(&t, tcp ? "tcp" : "udp", run_args, &r);
    ck_assert_msg(r.code == 0, "exit %d; stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sessions.bound"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sessions.completed"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.register_ok") + jint(&r, "sip.register_failed"), 0);
    ck_assert_int_eq(jint(&r, "sip.calls"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.calls_established"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.invite_final.200"), SESSIONS);
    /* Every BYE answered: 200, or over TCP possibly 481 (below: serve's BYE ended the call
     * first, counted as the peer's) */
    ck_assert_int_eq(jint(&r, "sip.bye_ok") + jint(&r, "sip.bye_remote"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.bye_failed"), 0);
    if (!tcp)
        ck_assert_int_eq(jint(&r, "sip.bye_ok"), SESSIONS);
    ck_assert_int_eq(jint(&r, "messages.ok"), MESSAGES);
    ck_assert_int_eq(jint(&r, "latency_us.sip-setup-bind.count"), SESSIONS);
    /* serve's side: every call answered and ACKed, every session bound with its 5 messages */
    ck_assert_msg(srv_wait(&sv, "call-ended", SESSIONS, 10), "serve ended %d calls of %d",
                  srv_count(&sv, "call-ended", NULL, NULL), SESSIONS);
    ck_assert_int_eq(srv_stop(&sv), 0);
    ck_assert_int_eq(srv_count(&sv, "call-incoming", NULL, NULL), SESSIONS);
    ck_assert_int_eq(srv_count(&sv, "call-answered", NULL, NULL), SESSIONS);
    ck_assert_int_eq(srv_count(&sv, "call-established", NULL, NULL), SESSIONS);
    ck_assert_int_eq(srv_count(&sv, "bound", NULL, NULL), SESSIONS);
    ck_assert_int_eq(srv_count(&sv, "message", NULL, NULL), MESSAGES);
    ck_assert_int_eq(srv_count(&sv, "message", "size", "500"), MESSAGES);
    ck_assert_int_eq(srv_count(&sv, "violation", NULL, NULL), 0);
    /* Each call ended by run's BYE (remote_bye), or by serve's own BYE as the MSRP connection
     * closed: crossing run's over UDP, both are answered 200 (sip/ua.c). Over TCP the two BYEs
     * travel on two connections (run's to serve, serve's to run's Contact) with no order
     * between them: one side's BYE may be read after the other's has ended the dialog, and
     * 481 is then the right answer, on either side. */
    int remote = srv_count(&sv, "call-ended", "why", "remote_bye");
    int local = srv_count(&sv, "call-ended", "why", "local_bye");
    ck_assert_int_eq(remote + local, SESSIONS);
    ck_assert_int_eq(srv_count(&sv, "call-ended", "status", "200") +
                         srv_count(&sv, "call-ended", "status", "481"),
                     SESSIONS);
    if (!tcp)
        ck_assert_int_eq(srv_count(&sv, "call-ended", "status", "200"), SESSIONS);
    run_free(&r);
    tmp_remove(&t);
}

START_TEST(run_calls_serve_udp)
{
    run_calls_serve(false);
}
END_TEST

START_TEST(run_calls_serve_tcp)
{
    run_calls_serve(true);
}
END_TEST

/* ---- SIPp answering, serve carrying the media ----------------------------------------------- */

static void sipp_anchors_media(bool tcp)
{
    if (test_sipp_skip(tcp ? "sipp_anchors_media_tcp" : "sipp_anchors_media_udp"))
        return;
    struct tmp t;
    tmp_make(&t);
    struct srv sv; /* s0..s49: SIPp's answer names s<call number> */
    const char *sargs[] = {"--session-id", "s%d", "--sessions", "50", NULL};
    srv_start(&sv, &t, "media", sargs);
    char msrp_port[16];
    snprintf(msrp_port, sizeof(msrp_port), "%u", sv.port);
    const char *extra[] = {"-key", "msrp_port", msrp_port, "-key", "session", "s", NULL};
    struct sipp uas;
    sipp_uas(&uas, &t, "uas-target-answer.xml", "20", tcp, extra);
    char run_args[600];
    snprintf(run_args, sizeof(run_args), "--sip-target 'sip:service@127.0.0.1:%u%s'",
             (unsigned)uas.port, tcp ? ";transport=tcp" : "");
    struct run_out r;
    run_sip(&t, "anchored", run_args, &r);
    int rc = test_sipp_wait(&uas.proc, 20);
    ck_assert_msg(r.code == 0, "exit %d; stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sip.calls_established"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.invite_final.200"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sip.bye_ok"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sessions.bound"), SESSIONS);
    ck_assert_int_eq(jint(&r, "sessions.completed"), SESSIONS);
    ck_assert_int_eq(jint(&r, "messages.ok"), MESSAGES);
    ck_assert_int_eq(jint(&r, "latency_us.sip-invite-1xx.count"), SESSIONS); /* the 180 */
    /* SIPp: every call ACKed and ended by run's BYE */
    ck_assert_msg(rc == 0, "SIPp exit %d", rc);
    ck_assert_int_eq(log_count(uas.log, "ack=received"), SESSIONS);
    ck_assert_int_eq(log_count(uas.log, "bye=received"), SESSIONS);
    /* serve: the MSRP leg, at the paths SIPp answered with */
    ck_assert_msg(srv_wait(&sv, "end", SESSIONS, 10), "serve saw %d sessions end",
                  srv_count(&sv, "end", NULL, NULL));
    ck_assert_int_eq(srv_stop(&sv), 0);
    ck_assert_int_eq(srv_count(&sv, "bound", NULL, NULL), SESSIONS);
    ck_assert_int_eq(srv_count(&sv, "message", "size", "500"), MESSAGES);
    ck_assert_int_eq(srv_count(&sv, "violation", NULL, NULL), 0);
    run_free(&r);
    tmp_remove(&t);
}

START_TEST(sipp_anchors_media_udp)
{
    sipp_anchors_media(false);
}
END_TEST

START_TEST(sipp_anchors_media_tcp)
{
    sipp_anchors_media(true);
}
END_TEST

/* ---- negative cases: run --sip-target against SIPp ------------------------------------------ */

/* 4 sessions, 2 at once, one thread. */
#define SMALL "--threads 1 --sessions 4 --concurrency 2"

/* A test's temporary directory t and SIPp running tests/sip/scen as the target (UDP, at most
 * calls calls, extra arguments or NULL); then `msrpload run` (tag) with
 * "HEAD --sip-target sip:service@127.0.0.1:PORT", into r. */
static void run_to_uas(struct tmp *t, struct sipp *uas, const char *scen, const char *calls,
                       const char *const *extra, const char *tag, const char *head,
                       struct run_out *r)
{
    tmp_make(t);
    sipp_uas(uas, t, scen, calls, false, extra);
    char args[600];
    snprintf(args, sizeof(args), "%s --sip-target sip:service@127.0.0.1:%u", head,
             (unsigned)uas->port);
    run_sip(t, tag, args, r);
}

static void refused(const char *test, const char *scen, const char *code)
{
    if (test_sipp_skip(test))
        return;
    struct tmp t;
    struct sipp uas;
    struct run_out r;
    char key[64];
    run_to_uas(&t, &uas, scen, "4", NULL, code, SMALL, &r);
    int rc = test_sipp_wait(&uas.proc, 20);
    /* README "Through SIP", outcomes: every session failed, none bound: exit 3 */
    ck_assert_msg(r.code == 3, "exit %d (expected 3); stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sip.calls"), 4);
    ck_assert_int_eq(jint(&r, "sip.calls_failed"), 4);
    snprintf(key, sizeof(key), "sip.invite_final.%s", code);
    ck_assert_int_eq(jint(&r, key), 4);
    ck_assert_int_eq(jint(&r, "sessions.failed"), 4);
    ck_assert_int_eq(jint(&r, "sessions.bound"), 0);
    ck_assert_int_eq(jint(&r, "sessions.ends.connect-failed"), 4);
    first_error_has(&r, "INVITE", code);
    /* each final response ACKed (RFC 3261 section 17.1.1.3, from memory) */
    ck_assert_msg(rc == 0, "SIPp exit %d", rc);
    ck_assert_int_eq(log_count(uas.log, "ack=received"), 4);
    run_free(&r);
    tmp_remove(&t);
}

START_TEST(target_busy_486)
{
    refused("target_busy_486", "uas-target-busy.xml", "486");
}
END_TEST

START_TEST(target_reject_488)
{
    refused("target_reject_488", "uas-target-reject-488.xml", "488");
}
END_TEST

/* A callee that rings (180) and never answers: the run's end cancels its INVITEs. */
START_TEST(target_ringing_cancelled)
{
    if (test_sipp_skip("target_ringing_cancelled"))
        return;
    struct tmp t;
    struct sipp uas;
    struct run_out r;
    run_to_uas(&t, &uas, "uas-target-ring.xml", "2", NULL, "ring", SMALL " --duration 2", &r);
    int rc = test_sipp_wait(&uas.proc, 20);
    ck_assert_msg(r.code == 3, "exit %d (expected 3); stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sip.calls"), 2);
    ck_assert_int_eq(jint(&r, "sip.calls_unfinished"), 2);
    ck_assert_int_eq(jint(&r, "sip.calls_failed"), 0);
    ck_assert_int_eq(jint(&r, "sessions.unfinished"), 2);
    ck_assert_int_eq(jint(&r, "sessions.failed"), 0);
    first_error_has(&r, "still being set up by SIP", NULL);
    /* the CANCEL went out at the end, and the 487 was ACKed, before run exited */
    ck_assert_msg(rc == 0, "SIPp exit %d", rc);
    ck_assert_int_eq(log_count(uas.log, "cancel=received"), 2);
    ck_assert_int_eq(log_count(uas.log, "ack=received"), 2);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* A callee whose 200 crosses the CANCEL of the run's end: the call is cut off (README
 * "Reports": answered only after the session gave up), not set up; it is ACKed and BYEd. */
START_TEST(target_answers_after_cancel)
{
    if (test_sipp_skip("target_answers_after_cancel"))
        return;
    struct tmp t;
    tmp_make(&t);
    struct sipp uas;
    sipp_uas(&uas, &t, "uas-target-late-answer.xml", "2", false, NULL);
    char args[600];
    snprintf(args, sizeof(args), SMALL " --duration 2 --sip-target sip:service@127.0.0.1:%u",
             (unsigned)uas.port);
    struct run_out r;
    run_sip(&t, "late-answer", args, &r);
    int rc = test_sipp_wait(&uas.proc, 20);
    ck_assert_int_eq(jint(&r, "sip.calls"), 2);
    ck_assert_int_eq(jint(&r, "sip.calls_unfinished"), 2);
    ck_assert_int_eq(jint(&r, "sip.calls_established"), 0);
    ck_assert_msg(json_object_get(json_object_get(json_object_get(r.summary, "sip"),
                                                  "invite_final"), "200") == NULL ||
                      jint(&r, "sip.invite_final.200") == 0,
                  "a 2xx after the session gave up has its status counted");
    ck_assert_int_eq(jint(&r, "sessions.unfinished"), 2);
    ck_assert_msg(rc == 0, "SIPp exit %d", rc);
    ck_assert_int_eq(log_count(uas.log, "bye=received"), 2);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* A callee that hangs up first (its BYE after the ACK) while the MSRP session is still
 * binding (its MSRP end, a listener of the test's, never reads): the BYE is counted
 * (bye_remote) and ends the session as the peer closing it, at once. */
START_TEST(target_hangs_up_first)
{
    if (test_sipp_skip("target_hangs_up_first"))
        return;
    struct tmp t;
    tmp_make(&t);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(lfd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(lfd, 16), 0); /* connections complete in the backlog, unread */
    socklen_t al = sizeof(a);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
    char msrp_port[16];
    snprintf(msrp_port, sizeof(msrp_port), "%u", (unsigned)ntohs(a.sin_port));
    const char *extra[] = {"-key", "msrp_port", msrp_port, NULL};
    struct sipp uas;
    sipp_uas(&uas, &t, "uas-target-bye-first.xml", "2", false, extra);
    char args[600];
    snprintf(args, sizeof(args),
             "--threads 1 --sessions 2 --concurrency 2 --duration 20 "
             "--sip-target sip:service@127.0.0.1:%u", (unsigned)uas.port);
    struct run_out r;
    run_sip(&t, "bye-first", args, &r);
    int rc = test_sipp_wait(&uas.proc, 20);
    close(lfd);
    ck_assert_msg(r.code == 3, "exit %d (expected 3); stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sip.calls_established"), 2);
    ck_assert_int_eq(jint(&r, "sip.bye_remote"), 2);
    ck_assert_int_eq(jint(&r, "sip.bye_failed"), 0);
    ck_assert_int_eq(jint(&r, "sessions.failed"), 2);
    ck_assert_int_eq(jint(&r, "sessions.ends.peer-closed"), 2);
    first_error_has(&r, "peer ended the call", NULL);
    ck_assert_msg(rc == 0, "SIPp exit %d", rc);
    ck_assert_int_eq(log_count(uas.log, "bye-answered"), 2);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* A callee that never answers at all: no 1xx, so no CANCEL (RFC 3261 section 9.1, from
 * memory); the run's end cuts the calls off, bounded. */
START_TEST(target_silent_cut_off)
{
    if (test_sipp_skip("target_silent_cut_off"))
        return;
    const char *extra[] = {"-d", "20000", NULL};
    struct tmp t;
    struct sipp uas;
    struct run_out r;
    run_to_uas(&t, &uas, "uas-target-silent.xml", "2", extra, "silent", SMALL " --duration 2", &r);
    kill(uas.proc.pid, SIGKILL);
    test_sipp_wait(&uas.proc, 5);
    ck_assert_msg(r.code == 3, "exit %d (expected 3); stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sip.calls"), 2);
    ck_assert_int_eq(jint(&r, "sip.calls_unfinished"), 2);
    ck_assert_int_eq(jint(&r, "sessions.unfinished"), 2);
    ck_assert_int_eq(log_count(uas.log, "offer-path="), 2);
    /* RFC 4975 section 8.2: our a=path names our own listener (not the discard port 9 of a
     * made-up address) and a session id with random characters, one per session */
    char *log = test_slurp(uas.log), ids[2][80] = {"", ""};
    const char *p = log;
    for (int i = 0; i < 2 && (p = strstr(p, "offer-path=msrp://127.0.0.1:")) != NULL; i++) {
        p += strlen("offer-path=msrp://127.0.0.1:");
        unsigned port = (unsigned)strtoul(p, NULL, 10);
        ck_assert_msg(port != 9 && port != 0, "offer path port %u: %.80s", port, p);
        const char *slash = strchr(p, '/'), *dash = slash ? strchr(slash, '-') : NULL;
        ck_assert_msg(dash != NULL && strcspn(dash + 1, ";") == 12, "offer path id: %.80s", p);
        snprintf(ids[i], sizeof(ids[i]), "%.*s", (int)strcspn(dash + 1, ";"), dash + 1);
    }
    ck_assert_msg(ids[0][0] != '\0' && ids[1][0] != '\0' && strcmp(ids[0], ids[1]) != 0,
                  "offer paths: %s / %s", ids[0], ids[1]);
    free(log);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* The same callee, and a run long enough for Timer B: the INVITE fails with a local 408. */
START_TEST(target_silent_timer_b)
{
    if (test_sipp_skip("target_silent_timer_b"))
        return;
    const char *extra[] = {"-d", "50000", NULL};
    struct tmp t;
    struct sipp uas;
    struct run_out r;
    run_to_uas(&t, &uas, "uas-target-silent.xml", "1", extra, "timer-b",
               "--threads 1 --sessions 1 --concurrency 1 --duration 60", &r);
    kill(uas.proc.pid, SIGKILL);
    test_sipp_wait(&uas.proc, 5);
    ck_assert_msg(r.code == 3, "exit %d (expected 3); stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sip.calls_failed"), 1);
    ck_assert_int_eq(jint(&r, "sip.invite_final.408"), 1);
    ck_assert_int_eq(jint(&r, "sessions.failed"), 1);
    first_error_has(&r, "INVITE", "408");
    /* (Timer B is 64*T1 = 32 s: the run ends then, with its one session, not after 60 s; the
     * time is printed, not asserted) */
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* ---- a proxy / registrar that swallows everything ------------------------------------------ */

/* A UDP socket on 127.0.0.1 that reads and never answers, in a child that lives at most 90 s. */
static pid_t black_hole(uint16_t *port)
{
    *port = test_sip_free_port();
    ck_assert_uint_ne(*port, 0);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(*port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct timeval tv = {.tv_sec = 1};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char buf[65536];
        for (int i = 0; i < 90; i++)
            while (recv(fd, buf, sizeof(buf), 0) > 0)
                ;
        _exit(0);
    }
    close(fd);
    return pid;
}

static void black_hole_end(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Our answering agents REGISTER with it: no answer, no call, every session cut off. */
START_TEST(registrar_never_answers)
{
    struct tmp t;
    tmp_make(&t);
    uint16_t port;
    pid_t bh = black_hole(&port);
    char args[600];
    snprintf(args, sizeof(args), SMALL " --duration 2 --sip-users 2 --sip-proxy sip:127.0.0.1:%u",
             (unsigned)port);
    struct run_out r;
    run_sip(&t, "registrar", args, &r);
    black_hole_end(bh);
    ck_assert_msg(r.code == 3, "exit %d (expected 3); stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sip.register_ok"), 0);
    /* none by the end: unanswered, not failed (the sip object is there all the same) */
    ck_assert_int_eq(jint(&r, "sip.register_unfinished"), 2);
    ck_assert_int_eq(jint(&r, "sip.register_failed"), 0);
    ck_assert_int_eq(jint(&r, "sip.calls"), 0);
    ck_assert_int_eq(jint(&r, "sessions.unfinished"), 2);
    ck_assert_int_eq(jint(&r, "sessions.bound"), 0);
    first_error_has(&r, "waiting for the REGISTER", NULL);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* INVITEs through it to a target: no 100 from the proxy, so no CANCEL; cut off at the end. */
START_TEST(proxy_never_answers)
{
    struct tmp t;
    tmp_make(&t);
    uint16_t port;
    pid_t bh = black_hole(&port);
    char args[600];
    snprintf(args, sizeof(args),
             SMALL " --duration 2 --sip-proxy sip:127.0.0.1:%u --sip-target sip:svc@msrpload.test",
             (unsigned)port);
    struct run_out r;
    run_sip(&t, "proxy", args, &r);
    black_hole_end(bh);
    ck_assert_msg(r.code == 3, "exit %d (expected 3); stderr: %s", r.code, r.err);
    ck_assert_int_eq(jint(&r, "sip.calls"), 2);
    ck_assert_int_eq(jint(&r, "sip.calls_unfinished"), 2);
    ck_assert_int_eq(jint(&r, "sessions.unfinished"), 2);
    first_error_has(&r, "still being set up by SIP", NULL);
    run_free(&r);
    tmp_remove(&t);
}
END_TEST

/* ---- serve --sip facing a caller that never ACKs --------------------------------------------- */

START_TEST(serve_no_ack_bye)
{
    if (test_sipp_skip("serve_no_ack_bye"))
        return;
    struct tmp t;
    tmp_make(&t);
    struct srv sv;
    const char *sargs[] = {"--sip", "sip:127.0.0.1:0", "--sip-bind-timeout", "120", NULL};
    srv_start(&sv, &t, "serve", sargs);
    char cwd[256], scen[700], port_s[16], log[400], target[64];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    snprintf(scen, sizeof(scen), "%s/tests/sip/uac-noack.xml", cwd);
    snprintf(log, sizeof(log), "%s/uac.log", t.dir);
    snprintf(target, sizeof(target), "127.0.0.1:%u", sv.port);
    uint16_t port = test_sip_free_port();
    ck_assert_uint_ne(port, 0);
    snprintf(port_s, sizeof(port_s), "%u", (unsigned)port);
    const char *args[] = {"-sf", scen, "-m", "1", "-s", "msrpload",
                          "-key", "path", "msrp://127.0.0.1:7001/noAckCaller;tcp",
                          "-i", "127.0.0.1", "-p", port_s, "-t", "u1", "-timeout", "60s",
                          "-nostdin", "-trace_logs", "-log_file", log, target, NULL};
    struct test_sipp uac;
    uint64_t t0 = test_now_ms();
    test_sipp_start(&uac, t.dir, args);
    int rc = test_sipp_wait(&uac, 60);
    uint64_t took = test_now_ms() - t0;
    ck_assert_msg(srv_wait(&sv, "call-ended", 1, 5), "serve wrote no call-ended");
    ck_assert_int_eq(srv_stop(&sv), 0);
    ck_assert_msg(rc == 0, "SIPp exit %d", rc);
    ck_assert_int_eq(log_count(log, "final=200"), 1);
    ck_assert_int_eq(log_count(log, "bye-from-peer"), 1);
    /* serve: answered, never established, ended for want of the ACK after 64*T1 (32 s) */
    ck_assert_int_eq(srv_count(&sv, "call-answered", NULL, NULL), 1);
    ck_assert_int_eq(srv_count(&sv, "call-established", NULL, NULL), 0);
    ck_assert_int_eq(srv_count(&sv, "call-ended", "why", "no_ack"), 1);
    ck_assert_int_eq(srv_count(&sv, "call-ended", "status", "408"), 1);
    fprintf(stderr, "sip_interop: serve_no_ack_bye: the BYE came after %llu ms\n",
            (unsigned long long)took);
    tmp_remove(&t);
}
END_TEST

Suite *make_sip_interop_suite(void)
{
    Suite *s = suite_create("sip_interop");
    TCase *tc = tcase_create("both_ways");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, run_calls_serve_udp);
    tcase_add_test(tc, run_calls_serve_tcp);
    tcase_add_test(tc, sipp_anchors_media_udp);
    tcase_add_test(tc, sipp_anchors_media_tcp);
    suite_add_tcase(s, tc);
    TCase *neg = tcase_create("negative");
    tcase_set_timeout(neg, 120);
    tcase_add_test(neg, target_busy_486);
    tcase_add_test(neg, target_reject_488);
    tcase_add_test(neg, target_ringing_cancelled);
    tcase_add_test(neg, target_answers_after_cancel);
    tcase_add_test(neg, target_hangs_up_first);
    tcase_add_test(neg, target_silent_cut_off);
    tcase_add_test(neg, target_silent_timer_b);
    tcase_add_test(neg, registrar_never_answers);
    tcase_add_test(neg, proxy_never_answers);
    tcase_add_test(neg, serve_no_ack_bye);
    suite_add_tcase(s, neg);
    return s;
}
