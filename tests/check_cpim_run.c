/*
 * check_cpim_run.c - send.cpim end to end (in the cpim suite): a run in the embedded topology
 * where every message asks for a positive-delivery notification and every one comes back
 * (messages.imdn, the imdn-delivery latency, merge reading them back); a run against `serve
 * --no-imdn`, a peer that never notifies, where each one counts missing and fails the run;
 * serve logging a malformed message/cpim body as a violation; and the scenario refusing CPIM
 * types the answering end does not list (RFC 4975 section 8.6).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "suites.h"
#include "testutil.h"

static int run_cmd(struct tmp *t, const char *args)
{
    char *cmd;
    ck_assert_int_ge(asprintf(&cmd, "timeout 60 %s %s >%s/out 2>%s/err", msrpload_binary(), args,
                              t->dir, t->dir),
                     0);
    int st = system(cmd);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    size_t len;
    char *data = read_file(path, &len);
    ck_assert_msg(data != NULL, "cannot read %s", path);
    data = realloc(data, len + 1);
    data[len] = '\0';
    return data;
}

static json_int_t jint(json_t *root, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(json_object_get(root, a), b);
    if (c != NULL)
        v = json_object_get(v, c);
    ck_assert_msg(json_is_integer(v), "%s.%s.%s is no integer", a, b, c != NULL ? c : "");
    return json_integer_value(v);
}

static json_t *summary(const char *dir)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", path, e.text);
    return j;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(embedded_round_trip)
{
    struct tmp t;
    tmp_make(&t);
    char args[512];
    snprintf(args, sizeof(args), "run scenarios/cpim-chat.json --threads 2 --out %s/r", t.dir);
    int rc = run_cmd(&t, args);
    char *out = slurp(t.dir, "out");
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "imdn:       1000 delivery notifications requested, 1000 "
                                      "received, 0 missing"));
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/r", t.dir);
    json_t *j = summary(dir);
    ck_assert_int_eq(jint(j, "messages", "imdn", "requested"), 1000);
    ck_assert_int_eq(jint(j, "messages", "imdn", "received"), 1000);
    ck_assert_int_eq(jint(j, "messages", "imdn", "missing"), 0);
    ck_assert_int_eq(jint(j, "latency_us", "imdn-delivery", "count"), 1000);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "expectations"),
                                                        "failures")),
                     0);
    json_decref(j);
    /* merge reads the counts and the histogram back and adds them */
    /* a copy stands for a second host's run */
    snprintf(args, sizeof(args), "cp -r %s/r %s/r2", t.dir, t.dir);
    ck_assert_int_eq(system(args), 0);
    snprintf(args, sizeof(args), "merge %s/r %s/r2 --out %s/m", t.dir, t.dir, t.dir);
    rc = run_cmd(&t, args);
    char *err = slurp(t.dir, "err");
    ck_assert_msg(rc == 0, "merge exit %d: %s", rc, err);
    snprintf(dir, sizeof(dir), "%s/m", t.dir);
    j = summary(dir);
    ck_assert_int_eq(jint(j, "messages", "imdn", "requested"), 2000);
    ck_assert_int_eq(jint(j, "messages", "imdn", "received"), 2000);
    ck_assert_int_eq(jint(j, "latency_us", "imdn-delivery", "count"), 2000);
    json_decref(j);
    free(out);
    free(err);
    tmp_remove(&t);
}
END_TEST

/* A target scenario against serve: n messages asking for notifications, then (malformed) a
 * raw SEND whose message/cpim body has no SP after "From:" (RFC 3862 section 2.2). */
static void target_scenario(const char *path, const char *uri, bool malformed)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "{ \"name\": \"t\", \"load\": { \"sessions\": 2, \"concurrency\": 1, "
             "\"duration\": 20 },\n"
             "  \"topology\": { \"kind\": \"target\", \"targets\": [\"%s\"] },\n"
             "  \"steps\": [ { \"send\": { \"count\": 5, \"cpim\": true } },\n"
             "    { \"expect\": { \"status\": 200, \"timeout\": 1 } }%s ] }\n",
             uri,
             malformed ? ",\n    { \"raw\": { \"template\": \"MSRP {tid} SEND\\r\\nTo-Path: "
                         "{to_path}\\r\\nFrom-Path: {from_path}\\r\\nMessage-ID: {message_id}"
                         "\\r\\nByte-Range: 1-16/16\\r\\nContent-Type: message/cpim\\r\\n\\r\\n"
                         "From:<im:a>\\r\\n\\r\\nx\\r\\n-------{tid}$\\r\\n\", \"status\": 200 } }"
                       : "");
    write_file(path, text);
}

/* Messages beyond the answering end's least body room (MSRP_CPIM_KEEP_MAX, 256 KiB) still get
 * their notification: the room follows the largest message the steps can send. With
 * answer.check_sha256 the plain messages beside them are compared by SHA-256, the CPIM ones
 * checked by their CPIM rules only. */
START_TEST(large_messages_are_notified)
{
    struct tmp t;
    tmp_make(&t);
    char path[160], args[512];
    snprintf(path, sizeof(path), "%s/big.json", t.dir);
    write_file(path, "{ \"name\": \"big\", \"load\": { \"sessions\": 2, \"duration\": 20 },\n"
                     "  \"steps\": [ { \"send\": { \"count\": 3, \"size\": 300000,\n"
                     "    \"chunk_size\": 8192, \"cpim\": true } },\n"
                     "    { \"expect\": { \"status\": 200, \"timeout\": 5 } },\n"
                     "    { \"send\": { \"count\": 2, \"size\": 5000 } } ],\n"
                     "  \"answer\": { \"check_sha256\": true,\n"
                     "    \"accept_types\": \"message/cpim text/plain\",\n"
                     "    \"accept_wrapped_types\": \"text/plain message/imdn+xml\" } }\n");
    snprintf(args, sizeof(args), "run %s --out %s/r", path, t.dir);
    int rc = run_cmd(&t, args);
    char *out = slurp(t.dir, "out");
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/r", t.dir);
    json_t *j = summary(dir);
    ck_assert_int_eq(jint(j, "messages", "imdn", "requested"), 6);
    ck_assert_int_eq(jint(j, "messages", "imdn", "received"), 6);
    ck_assert_int_eq(jint(j, "messages", "imdn", "missing"), 0);
    ck_assert_int_eq(jint(j, "messages", "delivered", NULL), 10);
    ck_assert_int_eq(jint(j, "messages", "checked", NULL), 4);
    json_decref(j);
    free(out);
    tmp_remove(&t);
}
END_TEST

/* The shipped RCS chat (sizes from chat-sizes.csv, up to an inline 300 kB picture): every
 * message gets its 200 and its delivery notification. */
START_TEST(rcs_chat_every_notification)
{
    struct tmp t;
    tmp_make(&t);
    char args[512];
    snprintf(args, sizeof(args),
             "run scenarios/rcs-chat.json --sessions 12 --concurrency 12 --out %s/r", t.dir);
    int rc = run_cmd(&t, args);
    char *out = slurp(t.dir, "out");
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/r", t.dir);
    json_t *j = summary(dir);
    ck_assert_int_eq(jint(j, "sessions", "completed", NULL), 12);
    ck_assert_int_eq(jint(j, "messages", "imdn", "requested"), 360);
    ck_assert_int_eq(jint(j, "messages", "imdn", "received"), 360);
    json_decref(j);
    free(out);
    tmp_remove(&t);
}
END_TEST

START_TEST(serve_logs_malformed_cpim)
{
    struct tmp t;
    tmp_make(&t);
    char log[160], opt_log[200], scn[160], args[512];
    snprintf(log, sizeof(log), "%s/serve.log", t.dir);
    snprintf(opt_log, sizeof(opt_log), "%s", log);
    const char *sargs[] = {"--session-id", "s1", "--log", opt_log, NULL};
    struct test_serve sv;
    test_serve_start(&sv, sargs);
    snprintf(scn, sizeof(scn), "%s/t.json", t.dir);
    target_scenario(scn, sv.uri, true);
    snprintf(args, sizeof(args), "run %s --out %s/r", scn, t.dir);
    int rc = run_cmd(&t, args);
    char *out = slurp(t.dir, "out");
    ck_assert_int_eq(test_serve_stop(&sv), 0);
    /* the well-formed ones were notified: the run itself is fine */
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "10 delivery notifications requested, 10 received"));
    char *lines = slurp(t.dir, "serve.log");
    const char *v = strstr(lines, "\"event\":\"violation\"");
    ck_assert_msg(v != NULL, "no violation logged: %s", lines);
    ck_assert_ptr_nonnull(strstr(v, "\"kind\":\"cpim\""));
    ck_assert_ptr_nonnull(strstr(v, "no single SP after the header name and colon (RFC 3862 "
                                    "section 2.2, MUST), at byte 5"));
    free(lines);
    free(out);
    tmp_remove(&t);
}
END_TEST

START_TEST(missing_notifications_fail_the_run)
{
    struct tmp t;
    tmp_make(&t);
    const char *sargs[] = {"--session-id", "s1", "--no-imdn", NULL};
    struct test_serve sv;
    test_serve_start(&sv, sargs);
    char scn[160], args[512], dir[160];
    snprintf(scn, sizeof(scn), "%s/t.json", t.dir);
    target_scenario(scn, sv.uri, false);
    snprintf(args, sizeof(args), "run %s --out %s/r", scn, t.dir);
    int rc = run_cmd(&t, args);
    char *out = slurp(t.dir, "out");
    ck_assert_int_eq(test_serve_stop(&sv), 0);
    /* missing notifications the scenario asked for are expectation failures, as missing
     * REPORTs are: the run does not exit 0 */
    ck_assert_msg(rc == 1, "exit %d: %s", rc, out);
    snprintf(dir, sizeof(dir), "%s/r", t.dir);
    json_t *j = summary(dir);
    ck_assert_int_eq(jint(j, "messages", "imdn", "requested"), 10);
    ck_assert_int_eq(jint(j, "messages", "imdn", "received"), 0);
    ck_assert_int_eq(jint(j, "messages", "imdn", "missing"), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "expectations"),
                                                        "failures")),
                     10);
    json_decref(j);
    free(out);
    tmp_remove(&t);
}
END_TEST

struct scn_case {
    const char *name, *json, *want;
};

static const struct scn_case scn_cases[] = {
    {"cpim-not-accepted",
     "{\"name\":\"e\",\"steps\":[{\"send\":{\"cpim\":true}}],"
     "\"answer\":{\"accept_types\":\"text/plain\"}}",
     "$.answer.accept_types: a send uses cpim but message/cpim is not listed"},
    {"inner-not-accepted",
     "{\"name\":\"e\",\"steps\":[{\"send\":{\"cpim\":true}}],"
     "\"answer\":{\"accept_types\":\"message/cpim\"}}",
     "$.answer.accept_wrapped_types: the inner type text/plain"},
    {"imdn-not-accepted",
     "{\"name\":\"e\",\"steps\":[{\"send\":{\"cpim\":true}}],"
     "\"answer\":{\"accept_types\":\"message/cpim\",\"accept_wrapped_types\":\"text/plain\"}}",
     "$.answer.accept_wrapped_types: positive-delivery notifications"},
    {"bad-imdn", "{\"name\":\"e\",\"steps\":[{\"send\":{\"cpim\":{\"imdn\":[\"processing\"]}}}]}",
     "$.steps[0].send.cpim.imdn[0]: expected \"positive-delivery\" or \"display\""},
    {"bad-uri", "{\"name\":\"e\",\"steps\":[{\"send\":{\"cpim\":{\"from\":\"a b\"}}}]}",
     "$.steps[0].send.cpim.from: expected an absolute URI"},
    {"two-types",
     "{\"name\":\"e\",\"steps\":[{\"send\":{\"content_type\":\"text/plain\","
     "\"cpim\":{\"content_type\":\"text/html\"}}}]}",
     "$.steps[0].send.cpim.content_type: not allowed together"},
    {"too-large", "{\"name\":\"e\",\"steps\":[{\"send\":{\"cpim\":true,"
                  "\"size\":{\"min\":10,\"max\":67108865}}}]}",
     "$.steps[0].send.size: at most 67108864 bytes with cpim"},
};

START_TEST(scenario_refuses)
{
    const struct scn_case *c = &scn_cases[_i];
    struct tmp t;
    tmp_make(&t);
    char path[160], args[256];
    snprintf(path, sizeof(path), "%s/s.json", t.dir);
    write_file(path, c->json);
    snprintf(args, sizeof(args), "run %s --out %s/r", path, t.dir);
    int rc = run_cmd(&t, args);
    char *err = slurp(t.dir, "err");
    ck_assert_msg(rc == 2, "%s: exit %d: %s", c->name, rc, err);
    ck_assert_msg(strstr(err, c->want) != NULL, "%s: %s", c->name, err);
    free(err);
    tmp_remove(&t);
}
END_TEST

TCase *make_cpim_run_tcase(void)
{
    TCase *tc = tcase_create("cpim_run");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, embedded_round_trip);
    tcase_add_test(tc, large_messages_are_notified);
    tcase_add_test(tc, rcs_chat_every_notification);
    tcase_add_test(tc, serve_logs_malformed_cpim);
    tcase_add_test(tc, missing_notifications_fail_the_run);
    tcase_add_loop_test(tc, scenario_refuses, 0, (int)(sizeof(scn_cases) / sizeof(scn_cases[0])));
    return tc;
}
